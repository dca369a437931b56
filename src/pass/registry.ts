/**
 * The registry of built-in passes. Registration is explicit: each pass file in passes/
 * exports one Pass object, imported and listed here (one line each, kept sorted).
 */
import { PassRegistry } from './manager.js';
import { calibrate } from '../../passes/calibrate.js';
import { constantInitializerInputs } from '../../passes/constant-initializer-inputs.js';
import { eliminateDeadCode } from '../../passes/eliminate-dead-code.js';
import { eliminateIdentity } from '../../passes/eliminate-identity.js';
import { foldBatchnorm } from '../../passes/fold-batchnorm.js';
import { foldConstants } from '../../passes/fold-constants.js';
import { importQonnx } from '../../passes/import-qonnx.js';
import { inferShapes } from '../../passes/infer-shapes.js';
import { insertActivationBinarization } from '../../passes/insert-activation-binarization.js';
import { insertScalingLayer } from '../../passes/insert-scaling-layer.js';
import { insertWeightBinarization } from '../../passes/insert-weight-binarization.js';
import { lowerToBitir } from '../../passes/lower-to-bitir.js';
import { recalibrateBatchnorm } from '../../passes/recalibrate-batchnorm.js';
import { topologicalSort } from '../../passes/topological-sort.js';
import { upgradeOpset } from '../../passes/upgrade-opset.js';

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
