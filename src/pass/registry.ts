/**
 * The registry of built-in passes. Registration is explicit: each pass file in passes/
 * exports one Pass object, imported and listed here (one line each, kept sorted).
 */
import { PassRegistry } from './manager.js';
import { calibrate } from '../../passes/calibrate.js';
import { insertActivationBinarization } from '../../passes/insert-activation-binarization.js';
import { insertScalingLayer } from '../../passes/insert-scaling-layer.js';
import { insertWeightBinarization } from '../../passes/insert-weight-binarization.js';

export function builtinPasses(): PassRegistry {
  const r = new PassRegistry();
  // -- pass registrations (one line each) --
  r.register(calibrate);
  r.register(insertActivationBinarization);
  r.register(insertScalingLayer);
  r.register(insertWeightBinarization);
  return r;
}
