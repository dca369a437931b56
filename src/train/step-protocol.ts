/**
 * What the data-parallel training steps (parallel-step.ts) and their worker threads
 * (step-worker.ts) share: the messages, the batch split, and the step's small pure helpers.
 * A leaf module (type imports only), so a worker loads nothing else of the trainer.
 */
import type { ErrorCode } from '../errors.js';
import type { SessionOptions } from '../runtime/session-options.js';

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
}

/** Main → worker: run the step on samples [offset, offset + count) of the shared batch. */
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

export interface StepRequest {
  id: number;
  offset: number;
  count: number;
}

/** Worker → main: `ready` once its session exists, or one reply per request. */
export type StepReply =
  | { kind: 'ready' }
  | (StepResult & {
      kind: 'step';
      id: number;
      /** Wall time of the worker's session.run. */
      ortMs: number;
      /** Wall time of copying its inputs out of the shared buffers. */
      copyMs: number;
    })
  | { kind: 'error'; id?: number; code?: ErrorCode; message: string };
