/**
 * One training step's forward and backward: feeds the batch, the parameters (Ŵ re-binarized
 * from the latent weights for binarized layers) and dropout masks to the training model in
 * onnxruntime, and returns the loss, the number of correct predictions and the gradients of
 * the latent parameters (the clipped STE applied to binarized weights).
 */
import type * as ortTypes from 'onnxruntime-node';
import { createSession, runSession, ort, type SessionOptions } from '../runtime/ort.js';
import type { TrainingGraph } from './grad/builder.js';
import { applyWeightSte, type BatchNormState, type LatentParam } from './params.js';
import type { TrainRng } from './rng.js';
import { countCorrect, type StepResult } from './step-protocol.js';

export interface StepOutput extends StepResult {
  ortMs: number;
  jsMs: number;
  /**
   * Data-parallel steps: the slowest worker's copy of its inputs out of shared memory (in
   * ortMs), its session.run, its re-binarization of its shard before the step (in jsMs; 0
   * when the main thread re-binarized) and its part of the gradients' combination (in jsMs).
   */
  workers?: { copyMs: number; runMs: number; rebinarizeMs: number; combineMs: number };
  /**
   * The update in the workers (parallel-step.ts, `DataParallelOptions.update`): for each binarized
   * parameter i the workers updated after this step, the float64 sum of |w| after the update
   * (non-finite: it diverged); the caller updates the others.
   */
  updated?: (number | undefined)[];
}

/**
 * Session options of the training graph (fineTune, trainFloat, and the benches' bare graphs):
 * no memory pattern. With it onnxruntime's second run allocates and faults in a second block
 * the size of the first run's arena (ResNet-20-style, batch 128: ~100k page faults, 0.4 s of
 * system time, 400 MiB more resident), for no measurable gain in the steady state
 * (docs/training.md, *Warm-up*). The intra-op threads stop spinning when a run returns: the
 * step's TypeScript work (re-binarization, optimizer) follows every run, and a spinning
 * worker burnt a core through it (docs/training.md, *Spinning after the run*).
 */
export function trainingSessionOptions(threads?: number): SessionOptions {
  return { ...(threads !== undefined ? { threads } : {}), memPattern: false, stopSpinningAfterRun: true };
}

/**
 * A training step's runner: one session (StepRunner) or one per worker thread on slices of
 * the batch (DataParallelStepRunner, parallel-step.ts), same contract.
 */
export interface TrainingStepRunner {
  /** `update`: the step's learning rate, for a runner whose workers update the binarized weights (`StepOutput.updated`). */
  run(images: Float32Array, labels: Int32Array, count: number, rng: TrainRng, ste?: boolean, sumsAbs?: readonly (number | undefined)[], update?: { lr: number }): Promise<StepOutput>;
  release(): Promise<void>;
}

/**
 * The parameter feeds of a step, in params order: Ŵ re-binarized from the latent weights for
 * binarized parameters (`sumsAbs[i]`: see StepRunner.run), the latent values for float ones.
 */
export function parameterFeeds(params: readonly LatentParam[], sumsAbs?: readonly (number | undefined)[]): Float32Array[] {
  return params.map((p, i) => (p.kind === 'binarized' ? p.binarizer!.binarize(p.value, true, sumsAbs?.[i]) : p.value));
}

/** Fills a Dropout mask (keep with probability 1 - ratio, kept entries scaled by 1/(1 - ratio)) from `rng`, in index order. */
export function fillDropoutMask(mask: Float32Array, ratio: number, rng: TrainRng): void {
  const keep = 1 - ratio;
  for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < keep ? 1 / keep : 0;
}

export class StepRunner implements TrainingStepRunner {
  private constructor(
    readonly tg: TrainingGraph,
    private readonly session: ortTypes.InferenceSession,
    readonly params: readonly LatentParam[],
    readonly bns: readonly BatchNormState[],
    private readonly sampleShape: readonly number[],
  ) {}

  static async create(tg: TrainingGraph, params: readonly LatentParam[], bns: readonly BatchNormState[], sampleShape: readonly number[], threads?: number): Promise<StepRunner> {
    const session = await createSession(tg.model, trainingSessionOptions(threads));
    return new StepRunner(tg, session, params, bns, sampleShape);
  }

  /**
   * Forward and backward on `count` samples. With `ste` (default) the binarized weights'
   * gradients come back with the clipped STE applied; without, as onnxruntime returned them
   * (dL/dŴ), for a caller that applies it itself (the loop: in the optimizer's pass).
   * `sumsAbs[i]`, when given: the float64 sum of |w| of parameter i in index order, computed by
   * the caller's last pass over it (the optimizer's update), which the re-binarization then
   * skips (`WeightBinarizer.binarize`).
   */
  async run(images: Float32Array, labels: Int32Array, count: number, rng: TrainRng, ste = true, sumsAbs?: readonly (number | undefined)[]): Promise<StepOutput> {
    const t0 = performance.now();
    const tg = this.tg;
    const feeds: Record<string, ortTypes.Tensor> = {
      [tg.dataInput]: new ort.Tensor('float32', images, [count, ...this.sampleShape]),
      [tg.labelsInput]: new ort.Tensor('int64', BigInt64Array.from(labels, (l) => BigInt(l)), [count]),
    };
    parameterFeeds(this.params, sumsAbs).forEach((value, i) => {
      const p = this.params[i]!;
      feeds[p.input] = new ort.Tensor('float32', value, p.dims);
    });
    for (const d of tg.dropouts) {
      const dims = [count, ...(d.dims.slice(1) as number[])];
      const mask = new Float32Array(dims.reduce((a, b) => a * b, 1));
      fillDropoutMask(mask, d.ratio, rng);
      feeds[d.input] = new ort.Tensor('float32', mask, dims);
    }
    const t1 = performance.now();
    const out = await runSession(this.session, feeds);
    const t2 = performance.now();
    const loss = (out[tg.lossOutput]!.data as Float32Array)[0]!;
    const correct = countCorrect(out[tg.logitsOutput]!.data as Float32Array, labels, count, tg.classes);
    const grads = this.params.map((p) => {
      const g = out[p.grad]!.data as Float32Array;
      if (ste && p.kind === 'binarized') applyWeightSte(g, p.value);
      return g;
    });
    const batchMean = this.bns.map((b) => out[b.meanOutput]!.data as Float32Array);
    const batchVar = this.bns.map((b) => out[b.varOutput]!.data as Float32Array);
    return { loss, correct, grads, batchMean, batchVar, ortMs: t2 - t1, jsMs: t1 - t0 + (performance.now() - t2) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
