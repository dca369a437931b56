/**
 * What the data-parallel training steps (parallel-step.ts) and their worker threads
 * (step-worker.ts) share: the messages, the batch split, and the step's small pure helpers.
 * A leaf module (type imports only), so a worker loads nothing else of the trainer.
 */
import type { ErrorCode } from '../errors.js';
import type { SessionOptions } from '../runtime/session-options.js';
import type { WeightRecord } from '../quant/format.js';
import type { ChannelLayout } from './params.js';
import type { OptimizerOptions } from './optimizer.js';

/**
 * Slice sizes of a batch of `count` samples over `workers` workers: contiguous, in worker
 * order, sizes differing by at most 1, the larger ones first (7 over 2: [4, 3]). A slice may
 * be 0 when the batch is smaller than the worker count (a short last batch).
 */
export function splitBatch(count: number, workers: number): number[] {
  const base = Math.floor(count / workers);
  const extra = count % workers;
  return Array.from({ length: workers }, (_, k) => base + (k < extra ? 1 : 0));
}

/** Samples of `count` whose argmax logit (first on ties) is the label; logits [count, classes]. */
export function countCorrect(logits: Float32Array, labels: ArrayLike<number>, count: number, classes: number): number {
  let correct = 0;
  for (let s = 0; s < count; s++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[s * classes + c]! > logits[s * classes + best]!) best = c;
    if (best === labels[s]) correct++;
  }
  return correct;
}

/**
 * What one re-binarization call costs beyond its weights, in weights: ~60-130 µs a call
 * against 7-12 ns a weight for the large layers (docs/training.md, *Where the TypeScript side
 * goes now*).
 */
export const REBINARIZE_CALL_COST = 10_000;

/**
 * The binarized weights (their sizes) dealt to `workers` workers for re-binarization: the
 * largest first, each to the worker with the least estimated cost so far (the lowest index on
 * ties), cost = size + REBINARIZE_CALL_COST. Returns each worker's indices into `sizes`,
 * ascending. Deterministic; the results do not depend on the split (each tensor is
 * re-binarized alone), only the time does.
 */
export function shardByCost(sizes: readonly number[], workers: number): number[][] {
  const load = new Array<number>(workers).fill(0);
  const shards = Array.from({ length: workers }, () => [] as number[]);
  const order = sizes.map((_, i) => i).sort((a, b) => sizes[b]! - sizes[a]! || a - b);
  for (const i of order) {
    let k = 0;
    for (let j = 1; j < workers; j++) if (load[j]! < load[k]!) k = j;
    load[k]! += sizes[i]! + REBINARIZE_CALL_COST;
    shards[k]!.push(i);
  }
  return shards.map((s) => s.sort((a, b) => a - b));
}

/** A binarized weight a worker re-binarizes (`StepWorkerData.shard`). */
export interface ShardWeight {
  /** Index into `StepWorkerLayout.params` (its offset into the shared buffers). */
  param: number;
  /** The weight's quantization record and channel layout (what `WeightBinarizer` is made from). */
  record: WeightRecord;
  layout: ChannelLayout;
}

/**
 * out[i] = Σ_k counts[k]·parts[k][i] / Σ counts for i in [from, to): in float64, in part
 * order ((n_0·x_0 + n_1·x_1) + ...), rounded once to float32. The value of each entry does not
 * depend on the range it is computed in, so workers combining disjoint ranges give the bytes of
 * one pass over all (`weightedMean`). Tight loops: it runs over every gradient value each step
 * (2.2 M for the MobileNetV2-style model).
 */
export function weightedMeanInto(out: Float32Array, parts: readonly Float32Array[], counts: readonly number[], from: number, to: number): void {
  const total = counts.reduce((a, b) => a + b, 0);
  if (parts.length === 2) {
    const a = parts[0]!;
    const b = parts[1]!;
    const ca = counts[0]!;
    const cb = counts[1]!;
    for (let i = from; i < to; i++) out[i] = (ca * a[i]! + cb * b[i]!) / total;
    return;
  }
  for (let i = from; i < to; i++) {
    let acc = 0;
    for (let k = 0; k < parts.length; k++) acc += counts[k]! * parts[k]![i]!;
    out[i] = acc / total;
  }
}

/** The training graph's names and sizes a worker feeds and reads. */
export interface StepWorkerLayout {
  dataInput: string;
  labelsInput: string;
  lossOutput: string;
  logitsOutput: string;
  classes: number;
  /** Dims of one sample (the data input without its batch dim). */
  sampleShape: number[];
  /** Parameter feeds, in order; `offset` (in floats) into the shared parameter buffer. */
  params: { input: string; grad: string; dims: number[]; offset: number; size: number }[];
  /** Batch mean and (unbiased) variance outputs of each BatchNormalization, in order. */
  batchNorms: { meanOutput: string; varOutput: string }[];
  /** Dropout mask inputs: dims without the batch dim. */
  dropouts: { input: string; tail: number[] }[];
}

/**
 * A worker's start data. The buffers are shared with the main thread, which writes each
 * step's inputs into them before posting the step: the batch (images, labels as int32), the
 * parameter feeds (Ŵ of binarized weights, float parameters as they are) one after another,
 * and each Dropout's mask for the whole batch. A worker reads its slice of the batch.
 */
export interface StepWorkerData {
  /** The training model's bytes (as `createSession` would give them to onnxruntime). */
  model: Uint8Array;
  session: SessionOptions;
  layout: StepWorkerLayout;
  images: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  params: SharedArrayBuffer;
  dropouts: SharedArrayBuffer[];
  /**
   * Re-binarization in the workers: the latent weights of the binarized parameters (at the
   * parameters' offsets, as `params`), written by the main thread after its update; this
   * worker re-binarizes the weights of `shard` from them into `params` (a `rebinarize` request).
   */
  latent: SharedArrayBuffer;
  shard: ShardWeight[];
  /** This worker's index (its slice's place in the batch, its gradients' buffer in `gradParts`). */
  index: number;
  /** Each worker's gradients after its step, all parameters at their offsets (as `params`). */
  gradParts: SharedArrayBuffer[];
  /** The combined gradients (`combine` requests), two buffers used in turn (step parity). */
  combined: [SharedArrayBuffer, SharedArrayBuffer];
  /**
   * The update in the workers (`update` requests; null: the main thread updates): SGD with
   * momentum of this worker's shard, whose latent weights and momentum it keeps (in its
   * kernels' memory) and copies after every update into `latent` and `momentum` (at the
   * parameters' offsets), where the main thread reads them.
   */
  update: WorkerUpdateSpec | null;
  /** The binarized weights' momentum (update in the workers; empty otherwise). */
  momentum: SharedArrayBuffer;
}

/** What a worker needs to update its shard (`StepWorkerData.update`). */
export interface WorkerUpdateSpec {
  /** The main thread's optimizer options (SGD with momentum, `canUpdateInWorkers`). */
  optimizer: OptimizerOptions;
  /** The clipped STE's bound: g_i taken as 0 where |w_i| > clip (`Optimizer.update`). */
  clip: number;
  /** Parameters (of the shard) whose momentum already exists (a resumed run): read from `momentum` at the start. */
  started: number[];
  /** Float parameters whose gradients this worker combines (their update stays on the main thread). */
  floats: number[];
}

/** What a training step computes, for a batch (StepRunner) or a worker's slice of it (a `step` reply). */
export interface StepResult {
  /** The graph's loss (a mean over its samples). */
  loss: number;
  /** Samples whose argmax logit is the label. */
  correct: number;
  /** dLoss/dParam per parameter, in the runner's (layout) order. */
  grads: Float32Array[];
  batchMean: Float32Array[];
  batchVar: Float32Array[];
}

/**
 * Main → worker: `step`: run the step on samples [offset, offset + count) of the shared batch;
 * `rebinarize`: Ŵ of this worker's shard from the shared latent weights into the shared
 * parameter feeds (`sumsAbs[i]`: the float64 sum of |w| of parameter i in index order, when the
 * main thread's update has just computed it; see `WeightBinarizer.binarize`).
 */
export type StepRequest =
  | { kind: 'step'; id: number; offset: number; count: number }
  | { kind: 'rebinarize'; id: number; sumsAbs: (number | undefined)[] }
  /** entries [from, to) of `combined[into]`: weightedMeanInto of `gradParts[parts[k]]` with `counts[k]` samples each */
  | { kind: 'combine'; id: number; parts: number[]; counts: number[]; from: number; to: number; into: 0 | 1 }
  /**
   * the update in the workers: the gradients of this worker's shard and of its float parameters
   * combined into `combined[into]` (as `combine`), SGD on the shard at learning rate `lr`, its
   * latent weights and momentum copied out, then (`rebinarize`) Ŵ of the shard for the next step
   */
  | { kind: 'update'; id: number; parts: number[]; counts: number[]; into: 0 | 1; lr: number; rebinarize: boolean };

/** Worker → main: `ready` once its session exists, or one reply per request. */
export type StepReply =
  | { kind: 'ready' }
  | (Omit<StepResult, 'grads'> & {
      /** the gradients are in this worker's `gradParts` buffer */
      kind: 'step';
      id: number;
      /** Wall time of the worker's session.run. */
      ortMs: number;
      /** Wall time of copying its inputs out of the shared buffers. */
      copyMs: number;
    })
  | {
      kind: 'rebinarized';
      id: number;
      /** Wall time of the worker's re-binarization. */
      ms: number;
    }
  | {
      kind: 'combined';
      id: number;
      /** Wall time of the worker's combination. */
      ms: number;
    }
  | {
      kind: 'updated';
      id: number;
      /** [parameter, float64 sum of |w| after its update] for each weight of the shard (non-finite: it diverged). */
      sums: [number, number][];
      /** Wall time of the combination and update, and of the re-binarization after it. */
      ms: number;
      rebinarizeMs: number;
    }
  | { kind: 'error'; id?: number; code?: ErrorCode; message: string };
