/**
 * The registry of built-in passes. Registration is explicit: each pass file in passes/
 * exports one Pass object, imported and listed here (one line each, kept sorted).
 */
import { PassRegistry } from '../src/pass/manager.js';
import { calibrate } from './calibrate.js';
import { constantInitializerInputs } from './constant-initializer-inputs.js';
import { eliminateDeadCode } from './eliminate-dead-code.js';
import { eliminateIdentity } from './eliminate-identity.js';
import { foldBatchnorm } from './fold-batchnorm.js';
import { foldConstants } from './fold-constants.js';
import { importQonnx } from './import-qonnx.js';
import { inferShapes } from './infer-shapes.js';
import { insertActivationBinarization } from './insert-activation-binarization.js';
import { insertScalingLayer } from './insert-scaling-layer.js';
import { insertWeightBinarization } from './insert-weight-binarization.js';
import { lowerToBitir } from './lower-to-bitir.js';
import { recalibrateBatchnorm } from './recalibrate-batchnorm.js';
import { topologicalSort } from './topological-sort.js';
import { upgradeOpset } from './upgrade-opset.js';

export function builtinPasses(): PassRegistry {
  const r = new PassRegistry();
  // -- pass registrations (one line each) --
  r.register(calibrate);
  r.register(constantInitializerInputs);
  r.register(eliminateDeadCode);
  r.register(eliminateIdentity);
  r.register(foldBatchnorm);
  r.register(foldConstants);
  r.register(importQonnx);
  r.register(inferShapes);
  r.register(insertActivationBinarization);
  r.register(insertScalingLayer);
  r.register(insertWeightBinarization);
  r.register(lowerToBitir);
  r.register(recalibrateBatchnorm);
  r.register(topologicalSort);
  r.register(upgradeOpset);
  return r;
}
