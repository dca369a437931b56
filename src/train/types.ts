/**
 * Public types of the trainer: options (each with a one-line doc, the source of the CLI's
 * help text), progress events and the JSON training log.
 */
import type { Model } from '../ir/graph.js';
import type { Dataset, DataSource } from '../data/index.js';
import type { LossKind } from './grad/loss.js';
import type { OptimizerKind, ScheduleKind } from './optimizer.js';

export { DEFAULT_BATCH_SIZE } from './defaults.js';

export interface TrainOptions {
  /** Epochs to train (default 1). */
  epochs?: number;
  /** Samples per step (default 128). */
  batchSize?: number;
  /** Peak learning rate (default 0.01 for SGD, 0.001 for Adam). */
  lr?: number;
  /** sgd (default, the paper's recipe) or adam. */
  optimizer?: OptimizerKind;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** Nesterov momentum for SGD (default false). */
  nesterov?: boolean;
  /** L2 weight decay added to the gradient (default 1e-4). */
  weightDecay?: number;
  /** Learning-rate schedule: cosine (default), step or constant. */
  schedule?: ScheduleKind;
  /** Step schedule: epochs between decays (default 1). */
  stepEpochs?: number;
  /** Step schedule: decay factor (default 0.1). */
  gamma?: number;
  /** Loss on the logits: cross-entropy (default) or mse (against one-hot labels). */
  loss?: LossKind;
  /** Seed of batch order and dropout masks (default 0). Same seed, same data, 1 thread: identical results. */
  seed?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice; with workers > 1, split among the workers). */
  threads?: number;
  /**
   * Data-parallel steps: N worker threads, each with its own onnxruntime session (threads/N
   * intra-op threads, default 1) on a contiguous slice of every batch; gradients weighted by
   * slice size (default 1: one session). BatchNormalization normalizes with each slice's own
   * statistics ("ghost batch norm"), so with it the gradients differ from one session's;
   * without, they are equal up to float rounding. 1 to the batch size; needs a model whose batch
   * dimension is not fixed. docs/training.md, *Data-parallel steps*.
   */
  workers?: number;
  /**
   * Train Conv -> BatchNormalization -> MaxPool 2x2 chains in the phase layout (default true;
   * docs/training.md "Phase layout"). false keeps every value in the model's own layout: the
   * same gradients up to float rounding, slower; for comparisons and debugging.
   */
  phaseLayout?: boolean;
  /**
   * Freeze BatchNormalization statistics: normalize with the model's running mean and variance
   * (as inference does) instead of each batch's, and leave them unchanged; gamma and beta are
   * still trained (default false: training mode, batch statistics, running statistics updated).
   * Cheaper steps, gradients that do not depend on the batch split (`workers`) or size; see
   * docs/training.md, *Frozen BatchNorm statistics*.
   */
  freezeBatchNormStats?: boolean;
  /**
   * Freeze BatchNormalization statistics from this epoch on (0 = from the start, the same as
   * `freezeBatchNormStats`): epochs before it train in training mode (batch statistics, running
   * statistics updated), then the training graph is rebuilt with the running statistics reached
   * so far as constants (PyTorch QAT's `freeze_bn_stats` late in a run). Not together with
   * `freezeBatchNormStats`. Each epoch's record says `bnStatsFrozen`.
   */
  freezeBatchNormStatsAfter?: number;
  /**
   * Run 2-D Convs in onnxruntime's NCHWc kernels with the fed weights reordered in the graph
   * (default true where this machine's onnxruntime has them; docs/training.md "NCHWc
   * convolutions"). false: plain ONNX Convs only, the same gradients up to float rounding, slower.
   */
  nchwc?: boolean;
  /** Use only the first N training samples. */
  limit?: number;
  /** Stop after this many optimizer steps in total (for tests and benchmarks; the log records it). */
  maxSteps?: number;
  /** Labelled data evaluated after every epoch (top-1 picks the best epoch); in memory or streamed (a DataSource, read anew at every evaluation). */
  evalData?: Dataset | DataSource;
  /** Evaluate on the first N evaluation samples only. */
  evalLimit?: number;
  /** Also evaluate before training (default true when evalData is given). */
  evalBefore?: boolean;
  /** Which parameters the returned model gets: best (by evaluation top-1; default with evalData) or last. */
  keep?: 'best' | 'last';
  /** Folder for checkpoints (last.json, best.json and their .bin files). */
  checkpointDir?: string;
  /** Resume from a checkpoint JSON file, or from `<checkpointDir>/last.json` with true. */
  resume?: string | boolean;
  /** Save a checkpoint and return on SIGINT (default true when checkpointDir is set). */
  handleSigint?: boolean;
  /** Stop like SIGINT when this signal aborts (checkpoint saved when checkpointDir is set). */
  signal?: AbortSignal;
  /** Progress callback (the CLI draws its bar from it). */
  onProgress?: (event: TrainEvent) => void;
  /** Parameters not to train: globs on initializer / weight names. */
  freeze?: string[];
  /** Model output holding the logits (default: the first output; a final Softmax is skipped). */
  output?: string;
}

export interface FineTuneOptions extends TrainOptions {
  /** The float model the quantized one came from: binarized weights start from its float weights (default: from the dequantized weights). */
  latentFrom?: Model;
  /** Freeze bit maps from this epoch on (0 = from the start); default: recomputed from the latent weights every step. */
  freezeBitMapsAfter?: number;
  /**
   * Recompute bit maps every N optimizer steps (at global steps 0, N, 2N, ...) and hold each
   * map in between, signs and scales following the latent weights every step (default 1:
   * recomputed every step). Fewer recomputations make a step's TypeScript side cheaper; the paper
   * leaves the choice open (docs/training.md, *Bit maps*, gives the accuracy effect measured).
   */
  bitMapEvery?: number;
}

export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  steps: number;
  samples: number;
  /** Mean training loss over the epoch's steps. */
  trainLoss: number;
  /** Training top-1 over the epoch (from the logits of each step, before its update). */
  trainTop1: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  evalTop1?: number;
  evalTop5?: number;
  bitMapsFrozen?: boolean;
  /** With `freezeBatchNormStatsAfter`: whether this epoch trained with the BatchNorm statistics frozen. */
  bnStatsFrozen?: boolean;
  /** Wall time of the epoch's training steps and evaluation. */
  ms: number;
  /** Of which onnxruntime's forward + backward runs. */
  ortMs: number;
  /** Of which TypeScript work (batching, re-binarization, STE, optimizer, statistics). */
  jsMs: number;
  evalMs?: number;
}

/**
 * Trainer events. `start`: `epoch` and `step` are where training starts, counted from 0
 * (non-zero on a resume). `step`: the step just done, `epoch` and `step` counted from 1
 * (step `step` of `stepsPerEpoch` in epoch `epoch`). `eval`: the 1-based epoch just
 * evaluated (0 before training).
 */
export type TrainEvent =
  | { type: 'start'; epochs: number; stepsPerEpoch: number; epoch: number; step: number; params: number; samples: number }
  | { type: 'step'; epoch: number; step: number; stepsPerEpoch: number; globalStep: number; loss: number; lr: number }
  | { type: 'eval'; epoch: number; top1: number }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'checkpoint'; path: string; reason: 'start' | 'epoch' | 'best' | 'interrupt' | 'max-steps' };

export const TRAIN_LOG_FORMAT = 'hbnn-onnx-train-log/1';

export interface TrainLog {
  format: string;
  mode: 'fine-tune' | 'float';
  /** Resolved options (datasets by name, callbacks left out). */
  options: Record<string, unknown>;
  data: { train: string; samples: number; eval?: string; evalSamples?: number };
  params: { tensors: number; values: number; binarized: number; names: string[] };
  /** Evaluation top-1 of the model as given. */
  before?: { evalTop1: number; evalTop5: number };
  epochs: EpochRecord[];
  best?: { epoch: number; evalTop1: number };
  /** Which parameters the returned model holds. */
  kept: 'best' | 'last';
  stopped: 'completed' | 'max-steps' | 'interrupted';
  /**
   * Where a run that did not complete stopped (max-steps or interrupted): in 1-based epoch
   * `epoch`, after `step` of its `stepsPerEpoch` steps. A resume continues from there.
   */
  stoppedAt?: { epoch: number; step: number; stepsPerEpoch: number };
  resumedFrom?: string;
  checkpoint?: string;
  threads?: number;
  /** Data-parallel workers (when given). */
  workers?: number;
  totalMs: number;
}

export interface TrainResult {
  /** The trained inference model (the quantized format for fineTune). */
  model: Model;
  log: TrainLog;
  /** True when SIGINT or the abort signal stopped training (a checkpoint was saved when checkpointDir is set). */
  interrupted: boolean;
}
