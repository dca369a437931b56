/**
 * Training: STE fine-tuning of HBNN models and float training, on onnxruntime-node (forward
 * and backward as one ONNX training graph) with the optimizer in TypeScript. See
 * docs/training.md.
 */
export { fineTune, trainFloat, cloneModel } from './loop.js';
export type { FineTuneOptions, TrainOptions, TrainResult, TrainLog, TrainEvent, EpochRecord } from './types.js';
export { TRAIN_LOG_FORMAT } from './types.js';
export { buildTrainingGraph, TRAINING_MIN_OPSET } from './grad/builder.js';
export { probeNchwcBlock } from './nchwc-probe.js';
export type { BuildOptions, TrainingGraph, TrainingParam, TrainingBatchNorm, TrainingDropout } from './grad/builder.js';
export { builtinGradRules } from './grad/rules/index.js';
export { GradRuleSet, ruleKey } from './grad/registry.js';
export type { GradRule, GradRegistry, BackwardArgs, ForwardResult, TrainingHooks } from './grad/registry.js';
export { GradContext } from './grad/context.js';
export type { LossKind } from './grad/loss.js';
export { LOSSES } from './grad/loss.js';
export { Optimizer, learningRate } from './optimizer.js';
export type { OptimizerKind, ScheduleKind, OptimizerOptions, ScheduleOptions } from './optimizer.js';
export { loadCheckpoint, CHECKPOINT_FORMAT } from './checkpoint.js';
export type { CheckpointMeta, LoadedCheckpoint } from './checkpoint.js';
