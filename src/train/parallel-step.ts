/**
 * Data-parallel training steps: N worker threads (step-worker.ts), each with its own
 * onnxruntime session of the same training graph (1 intra-op thread by default), each running
 * the forward and backward of a contiguous slice of the batch; the same contract as
 * StepRunner (step.ts), so the loop only chooses which one to create.
 *
 * Why: a training step parallelizes badly over onnxruntime's intra-op threads (single-threaded
 * BatchNormalization, Pad, Transpose and ConvTranspose kernels, many small nodes), while
 * one-thread sessions on half batches are far more CPU-efficient and run concurrently on worker
 * threads (two sessions on the main thread do not overlap). Measurements: docs/training.md,
 * *Data-parallel steps*.
 *
 * Per step the main thread re-binarizes the weights and draws the dropout masks for the whole
 * batch (the same draws as StepRunner), writes them and the batch into shared buffers, and
 * posts each worker its slice (splitBatch: sizes differing by at most 1, worker 0 first;
 * workers with an empty slice sit the step out). The results are combined in worker order:
 *   1. loss and gradients weighted by slice size, g = Σ n_k g_k / N (the graph's loss is a
 *      mean over its batch), in float64, rounded once to float32; so the result is the same
 *      bytes run to run, and with one active worker exactly that worker's. The gradients are
 *      combined by the workers themselves, each active one a contiguous range of all entries
 *      (`combine`: every entry's value is independent of the range it lies in), into one of two
 *      shared buffers used in turn: `run`'s gradients stay valid until the step after next;
 *   2. `correct` summed;
 *   3. BatchNormalization's batch mean and unbiased variance as the full batch's
 *      (combineBatchNormStats: the within-slice variances plus the between-slice term), for
 *      the running statistics. The normalization inside each worker uses its own slice's
 *      statistics ("ghost batch norm", as PyTorch DDP without SyncBatchNorm): with
 *      BatchNormalization the gradients differ from a single session's; without, they are
 *      equal up to float rounding.
 * The re-binarization (Ŵ from the updated latent weights) runs in the workers, each on its
 * shard of the binarized weights (shardByCost), before the step: the main thread writes the
 * latent weights into a shared buffer, asks every worker to re-binarize its shard into the
 * shared parameter feeds, and posts the step when all have answered. Each worker's binarizer is
 * made from the same record and runs the same code, so Ŵ is the same bytes as the main
 * thread's (tested). While a binarizer's bit map is frozen (`freezeBitMapsAfter`, `bitMapEvery`)
 * or with `rebinarizeInWorkers: false`, the main thread re-binarizes, as before.
 * With `update` (fineTune with SGD and momentum) the workers also keep their shard's latent
 * weights and momentum: after each step one request per worker combines the gradients of its
 * shard (and of its share of the float parameters), updates the shard with the same Optimizer
 * code as the main thread's (the same bytes), copies its latent weights and momentum into
 * shared buffers (the main thread's `value` and momentum slot are views of them) and
 * re-binarizes the shard for the next step. The main thread keeps the float parameters'
 * update, the bit maps' freezing, checkpoints and everything else.
 *
 * A worker that fails (an error it reports, an uncaught exception, an exit) fails the step
 * with WORKER_FAILED (RUNTIME for an onnxruntime error), and all workers are ended: the
 * runner is unusable afterwards. Workers keep the process alive only while a step or the
 * start is in flight; `release()` ends them (the loop calls it on every exit path).
 */
import { Worker } from 'node:worker_threads';
import { workerScript } from '../util/worker-file.js';
import { fail, ErrorCodes, HbnnError, optionName } from '../errors.js';
import { sessionModelBytes } from '../runtime/ort.js';
import type { TrainingGraph } from './grad/builder.js';
import { applyWeightSte, type BatchNormState, type LatentParam } from './params.js';
import type { TrainRng } from './rng.js';
import { fillDropoutMask, parameterFeeds, trainingSessionOptions, type StepOutput, type TrainingStepRunner } from './step.js';
import { shardByCost, splitBatch, weightedMeanInto, type ShardWeight, type StepReply, type StepRequest, type StepWorkerData, type StepWorkerLayout, type WorkerUpdateSpec } from './step-protocol.js';
import type { Optimizer, OptimizerOptions } from './optimizer.js';

export interface DataParallelOptions {
  /** Worker threads (each one session). */
  workers: number;
  /** The largest batch `run` will be given (sizes the shared buffers). */
  maxBatch: number;
  /** onnxruntime intra-op threads of each worker's session (default 1). */
  threadsPerWorker?: number;
  /**
   * Whether the workers re-binarize the binarized weights (each its shard) before each step
   * (default true); false: the main thread does, as StepRunner. The loop passes false with
   * `bitMapEvery`, whose steps read the bit map of the main thread's last re-binarization.
   */
  rebinarizeInWorkers?: boolean;
  /**
   * The update in the workers: each worker keeps the latent weights and momentum of its shard
   * of the binarized weights and, after each step, combines their gradients, updates them (SGD
   * with momentum: `optimizer`'s options, which must say so) and re-binarizes them for the next
   * step, in one request; `run` then takes the step's learning rate (`RunUpdate`). The main
   * thread keeps the float parameters' update. The binarized parameters' `value` becomes a view
   * of the shared latent weights (and their momentum slot in `optimizer.state`, once it exists,
   * one of the shared momentum), current after every step. Needs `rebinarizeInWorkers`.
   */
  update?: { optimizer: Optimizer; clip: number };
}

/**
 * Whether the workers can update the binarized weights with `opts` (`DataParallelOptions.update`):
 * SGD with momentum, not Nesterov (the update they run; others stay on the main thread).
 */
export function canUpdateInWorkers(opts: OptimizerOptions): boolean {
  return opts.kind === 'sgd' && opts.momentum > 0 && !opts.nesterov;
}

/** `run`'s learning rate when the workers update the binarized weights (`DataParallelOptions.update`). */
export interface RunUpdate {
  lr: number;
}

/**
 * Σ n_k·x_k / Σ n_k per element, in float64 and in part order ((n_0·x_0 + n_1·x_1) + ...),
 * rounded once to float32 (`weightedMeanInto` over all entries: what the workers' `combine`
 * computes range by range).
 */
export function weightedMean(parts: readonly Float32Array[], counts: readonly number[]): Float32Array {
  const out = new Float32Array(parts[0]!.length);
  weightedMeanInto(out, parts, counts, 0, out.length);
  return out;
}

/**
 * The batch mean and unbiased variance of the whole batch from those of its slices: slice k
 * has counts[k] samples, i.e. M_k = counts[k]·perSample entries per channel, with mean m_k and
 * unbiased variance u_k (as the training graph outputs them: biased·M_k/(M_k - 1), or the biased
 * one, 0, for M_k = 1). With M = Σ M_k, m = Σ M_k·m_k / M and the biased variance
 * v = Σ M_k·(v_k + (m_k - m)²) / M, the result is (m, v·M/(M - 1)). In float64, rounded to
 * float32 once.
 */
export function combineBatchNormStats(means: readonly Float32Array[], vars: readonly Float32Array[], counts: readonly number[], perSample: number): { mean: Float32Array; variance: Float32Array } {
  const Ms = counts.map((c) => c * perSample);
  const M = Ms.reduce((a, b) => a + b, 0);
  const channels = means[0]!.length;
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let k = 0; k < Ms.length; k++) m += Ms[k]! * means[k]![c]!;
    m /= M;
    let v = 0;
    for (let k = 0; k < Ms.length; k++) {
      const Mk = Ms[k]!;
      const biased = (vars[k]![c]! * Math.max(Mk - 1, 1)) / Mk;
      const d = means[k]![c]! - m;
      v += Mk * (biased + d * d);
    }
    mean[c] = m;
    variance[c] = v / Math.max(M - 1, 1);
  }
  return { mean, variance };
}

/** A worker's reply to a step request: its slice's StepResult and timings. */
type WorkerStepReply = Extract<StepReply, { kind: 'step' }>;
/** A worker's reply to a request: to a step, or to a re-binarization. */
type WorkerReply = Extract<StepReply, { kind: 'step' | 'rebinarized' | 'combined' | 'updated' }>;
/** A request without its id (`call` gives it one). */
type Request<K extends StepRequest['kind']> = StepRequest extends infer R ? (R extends { kind: K } ? Omit<R, 'id'> : never) : never;

export class DataParallelStepRunner implements TrainingStepRunner {
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private broken: HbnnError | undefined;
  private released = false;
  private readonly sampleSize: number;
  private readonly images: Float32Array;
  private readonly labels: Int32Array;
  private readonly paramBuffer: Float32Array;
  private readonly masks: Float32Array[];
  /** Floats of each Dropout mask per sample. */
  private readonly maskSizes: number[];
  private readonly perSample: number[];
  private readonly latent: Float32Array;
  private readonly combined: [Float32Array, Float32Array];
  /** Steps run (their parity picks the buffer of `combined`). */
  private steps = 0;
  /** Whether any worker has a shard to re-binarize. */
  private readonly remoteBinarize: boolean;
  /** The update in the workers (DataParallelOptions.update), with the shared momentum's view. */
  private readonly updating: { optimizer: Optimizer; momentum: Float32Array } | null;
  /** Whether the shared parameter feeds hold Ŵ of the current latent weights (re-binarized by the workers right after their update). */
  private feedsReady = false;
  /** sum |w| of each binarized weight from the workers' last update (for their next re-binarization request). */
  private readonly sums: (number | undefined)[] = [];

  private constructor(
    readonly tg: TrainingGraph,
    readonly params: readonly LatentParam[],
    readonly bns: readonly BatchNormState[],
    private readonly layout: StepWorkerLayout,
    private readonly shared: Omit<StepWorkerData, 'model' | 'session' | 'layout' | 'shard' | 'index' | 'update'>,
    private readonly workers: Worker[],
    private readonly maxBatch: number,
    shards: readonly ShardWeight[][],
    updating: DataParallelOptions['update'] | undefined,
  ) {
    this.sampleSize = layout.sampleShape.reduce((a, b) => a * b, 1);
    this.images = new Float32Array(shared.images);
    this.labels = new Int32Array(shared.labels);
    this.paramBuffer = new Float32Array(shared.params);
    this.masks = shared.dropouts.map((b) => new Float32Array(b));
    this.maskSizes = layout.dropouts.map((d) => d.tail.reduce((a, b) => a * b, 1));
    this.perSample = bns.map((b) => b.perSample!);
    this.latent = new Float32Array(shared.latent);
    this.combined = [new Float32Array(shared.combined[0]), new Float32Array(shared.combined[1])];
    this.remoteBinarize = shards.some((sh) => sh.length > 0);
    this.updating = updating ? { optimizer: updating.optimizer, momentum: new Float32Array(shared.momentum) } : null;
  }

  /** Starts the workers (each loads onnxruntime and creates its session); resolves when all are ready. */
  static async create(tg: TrainingGraph, params: readonly LatentParam[], bns: readonly BatchNormState[], sampleShape: readonly number[], opts: DataParallelOptions): Promise<DataParallelStepRunner> {
    const n = opts.workers;
    if (!Number.isSafeInteger(n) || n < 1) fail(ErrorCodes.INVALID_OPTION, `${optionName('workers')} must be a positive integer, got ${n}`, { option: 'workers' });
    for (const b of bns) {
      if (b.perSample === undefined) {
        fail(ErrorCodes.INVALID_OPTION, `${optionName('workers')} > 1 needs the spatial size of every BatchNormalization's input to be static; ${b.node} has a dynamic one`, { option: 'workers', node: b.node });
      }
    }
    const up = opts.update;
    if (up) {
      if (!canUpdateInWorkers(up.optimizer.opts) || opts.rebinarizeInWorkers === false) fail(ErrorCodes.INTERNAL, 'the update in the workers takes SGD with momentum (not Nesterov) and the re-binarization in the workers');
    }
    let offset = 0;
    const layout: StepWorkerLayout = {
      dataInput: tg.dataInput,
      labelsInput: tg.labelsInput,
      lossOutput: tg.lossOutput,
      logitsOutput: tg.logitsOutput,
      classes: tg.classes,
      sampleShape: [...sampleShape],
      params: params.map((p) => {
        const size = p.value.length;
        const entry = { input: p.input, grad: p.grad, dims: [...p.dims], offset, size };
        offset += size;
        return entry;
      }),
      batchNorms: bns.map((b) => ({ meanOutput: b.meanOutput, varOutput: b.varOutput })),
      dropouts: tg.dropouts.map((d) => {
        const tail = d.dims.slice(1);
        if (!tail.every((x): x is number => typeof x === 'number')) fail(ErrorCodes.UNSUPPORTED_OP, `Dropout ${d.node}: the mask's dims after the batch dim must be static`, { node: d.node });
        return { input: d.input, tail };
      }),
    };
    const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
    const sab = (floats: number): SharedArrayBuffer => new SharedArrayBuffer(4 * Math.max(1, floats));
    const shared = {
      images: sab(opts.maxBatch * sampleSize),
      labels: sab(opts.maxBatch),
      params: sab(offset),
      dropouts: layout.dropouts.map((d) => sab(opts.maxBatch * d.tail.reduce((a, b) => a * b, 1))),
      latent: sab(opts.rebinarizeInWorkers === false ? 0 : offset),
      gradParts: Array.from({ length: n }, () => sab(offset)),
      combined: [sab(offset), sab(offset)] as [SharedArrayBuffer, SharedArrayBuffer],
      momentum: sab(up ? offset : 0),
    };
    // the binarized weights dealt to the workers for re-binarization
    const binarized = opts.rebinarizeInWorkers === false ? [] : params.flatMap((p, i) => (p.kind === 'binarized' ? [i] : []));
    const shards: ShardWeight[][] = shardByCost(
      binarized.map((i) => params[i]!.value.length),
      n,
    ).map((sh) => sh.map((j) => ({ param: binarized[j]!, record: params[binarized[j]!]!.binarizer!.record, layout: params[binarized[j]!]!.binarizer!.layout })));
    // the update in the workers: the binarized weights' latent values (and any momentum so far) into
    // the shared buffers before the workers start; the float parameters' gradients dealt to them too
    let updates: (WorkerUpdateSpec | null)[] = Array.from({ length: n }, () => null);
    if (up) {
      const latent = new Float32Array(shared.latent);
      const momentum = new Float32Array(shared.momentum);
      const withMomentum: number[] = [];
      for (const i of binarized) {
        const at = layout.params[i]!;
        latent.set(params[i]!.value, at.offset);
        const m = up.optimizer.state.get(params[i]!.name)?.get('momentum');
        if (m) {
          momentum.set(m, at.offset);
          withMomentum.push(i);
        }
      }
      const floats = params.flatMap((p, i) => (p.kind === 'binarized' ? [] : [i]));
      const floatShards = shardByCost(floats.map((i) => params[i]!.value.length), n).map((sh) => sh.map((j) => floats[j]!));
      updates = floatShards.map((f) => ({ optimizer: up.optimizer.opts, clip: up.clip, started: withMomentum, floats: f }));
    }
    const data: Omit<StepWorkerData, 'shard' | 'index' | 'update'> = { model: sessionModelBytes(tg.model), session: trainingSessionOptions(opts.threadsPerWorker ?? 1), layout, ...shared };
    const file = workerScript(import.meta.url, 'train', 'step-worker.js', 'training step');
    const workers: Worker[] = [];
    const started = Array.from({ length: n }, (_, k) => {
      const w = new Worker(file, { workerData: { ...data, shard: shards[k]!, index: k, update: updates[k]! } satisfies StepWorkerData });
      workers.push(w);
      return new Promise<void>((resolve, reject) => {
        const onMessage = (r: StepReply): void => {
          done();
          if (r.kind === 'ready') resolve();
          else reject(new HbnnError(r.kind === 'error' ? (r.code ?? ErrorCodes.WORKER_FAILED) : ErrorCodes.WORKER_FAILED, `training worker ${k}: ${r.kind === 'error' ? r.message : 'unexpected reply at start'}`, { worker: k }));
        };
        const onError = (e: Error): void => {
          done();
          reject(new HbnnError(ErrorCodes.WORKER_FAILED, `training worker ${k} failed at start: ${e.message}`, { worker: k }, { cause: e }));
        };
        const onExit = (code: number): void => {
          done();
          reject(new HbnnError(ErrorCodes.WORKER_FAILED, `training worker ${k} exited (code ${code}) at start`, { worker: k }));
        };
        const done = (): void => {
          w.off('message', onMessage);
          w.off('error', onError);
          w.off('exit', onExit);
        };
        w.on('message', onMessage);
        w.on('error', onError);
        w.on('exit', onExit);
      });
    });
    try {
      await Promise.all(started);
    } catch (e) {
      await Promise.allSettled(started);
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    const runner = new DataParallelStepRunner(tg, params, bns, layout, shared, workers, opts.maxBatch, shards, up);
    runner.listen();
    if (up) runner.shareUpdatedState();
    return runner;
  }

  private live = 0;
  private allExited: Promise<void> = Promise.resolve();

  /** Workers not yet exited (0 after release or a failure, once `exited()` resolves). */
  get liveWorkers(): number {
    return this.live;
  }

  /** Resolves when every worker has exited. */
  exited(): Promise<void> {
    return this.allExited;
  }

  /** @internal For tests: ends worker k as a crash would (the runner was not released). */
  async crashWorkerForTest(k: number): Promise<void> {
    await this.workers[k]!.terminate();
  }

  private listen(): void {
    this.live = this.workers.length;
    this.allExited = new Promise((resolve) => {
      for (const w of this.workers) {
        w.once('exit', () => {
          if (--this.live === 0) resolve();
        });
      }
    });
    this.workers.forEach((w, k) => {
      w.unref();
      w.on('message', (r: StepReply) => {
        if (r.kind === 'ready') return;
        // every reply (a result or an error) ends one request in flight on this worker
        if (r.id !== undefined) this.idle(w);
        if (r.kind === 'step' || r.kind === 'rebinarized' || r.kind === 'combined' || r.kind === 'updated') {
          const p = this.pending.get(r.id);
          if (p) {
            this.pending.delete(r.id);
            p.resolve(r);
          }
        } else {
          this.breakDown(new HbnnError(r.code ?? ErrorCodes.WORKER_FAILED, `training worker ${k}: ${r.message}`, { worker: k }));
        }
        // after a failure or a release a worker is ended once nothing is in flight on it (breakDown, release)
        if ((this.broken || this.released) && !this.busy.has(w)) void w.terminate();
      });
      w.on('error', (e) => this.breakDown(new HbnnError(ErrorCodes.WORKER_FAILED, `training worker ${k} failed: ${e.message}`, { worker: k }, { cause: e })));
      w.on('exit', (code) => {
        if (!this.released) this.breakDown(new HbnnError(ErrorCodes.WORKER_FAILED, `training worker ${k} exited (code ${code}) during training`, { worker: k }));
      });
    });
  }

  /**
   * Fails every step in flight with `e`, and every later one; ends all workers: an idle one at
   * once, one with a request in flight when it replies (the message handler). Terminating a
   * worker inside onnxruntime's session.run aborted the whole process ("terminate called after
   * throwing an instance of 'Napi::Error'": the run's completion lands in a torn-down thread).
   */
  private breakDown(e: HbnnError): void {
    if (this.broken || this.released) return;
    this.broken = e;
    this.endAll(e);
  }

  /** Rejects every request in flight with `e` and ends the idle workers (the busy ones end on their reply: the message handler). */
  private endAll(e: HbnnError): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(e);
    }
    for (const w of this.workers) if (!this.busy.has(w)) void w.terminate();
  }

  private busy = new Map<Worker, number>();
  private hold(w: Worker): void {
    const n = this.busy.get(w) ?? 0;
    if (n === 0) w.ref();
    this.busy.set(w, n + 1);
  }
  private idle(w: Worker): void {
    const n = (this.busy.get(w) ?? 1) - 1;
    if (n <= 0) {
      this.busy.delete(w);
      w.unref();
    } else this.busy.set(w, n);
  }

  private call(k: number, request: Request<'step'>): Promise<WorkerStepReply>;
  private call(k: number, request: Request<'rebinarize' | 'combine'>): Promise<Extract<StepReply, { kind: 'rebinarized' | 'combined' }>>;
  private call(k: number, request: Request<'update'>): Promise<Extract<StepReply, { kind: 'updated' }>>;
  private call(k: number, request: Request<StepRequest['kind']>): Promise<WorkerReply> {
    // a step that goes on after a failure or a release (between its requests) posts nothing more
    if (this.broken) return Promise.reject(this.broken);
    if (this.released) return Promise.reject(releasedError());
    const w = this.workers[k]!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.hold(w);
      w.postMessage({ ...request, id } as StepRequest);
    });
  }

  /** Whether the workers re-binarize (each its shard): they have shards, and no bit map is frozen (a frozen map is the main thread's). */
  private rebinarizesRemotely(): boolean {
    return this.remoteBinarize && this.params.every((p) => !p.binarizer || p.binarizer.frozen === null);
  }

  /**
   * The parameter feeds into the shared buffer: float parameters as they are; Ŵ of binarized
   * ones re-binarized by the workers (each its shard, from the latent weights written here) or,
   * while a bit map is frozen or without shards, here. Resolves to the slowest worker's
   * re-binarization time (0 when done here).
   */
  private async writeParameterFeeds(sumsAbs?: readonly (number | undefined)[]): Promise<number> {
    if (!this.rebinarizesRemotely()) {
      parameterFeeds(this.params, sumsAbs).forEach((v, i) => this.paramBuffer.set(v, this.layout.params[i]!.offset));
      return 0;
    }
    if (this.updating) {
      // the binarized weights' values are views of the shared latent buffer already
      this.params.forEach((p, i) => p.kind !== 'binarized' && this.paramBuffer.set(p.value, this.layout.params[i]!.offset));
      // Ŵ re-binarized by the workers right after their last update
      if (this.feedsReady) return 0;
      sumsAbs = this.sums;
    } else this.params.forEach((p, i) => (p.kind === 'binarized' ? this.latent : this.paramBuffer).set(p.value, this.layout.params[i]!.offset));
    const sums = this.params.map((_, i) => sumsAbs?.[i]);
    const replies = await Promise.all(this.workers.map((_, k) => this.call(k, { kind: 'rebinarize', sumsAbs: sums })));
    return Math.max(...replies.map((r) => r.ms));
  }

  /**
   * With the update in the workers (`DataParallelOptions.update`), `update` gives the step's
   * learning rate: after the step the workers update the binarized weights (and re-binarize
   * them for the next step), and `StepOutput.updated[i]` is sum |w| of binarized parameter i
   * after its update (non-finite: it diverged; nothing is updated when the loss is not
   * finite). The float parameters stay the caller's to update.
   */
  async run(images: Float32Array, labels: Int32Array, count: number, rng: TrainRng, ste = true, sumsAbs?: readonly (number | undefined)[], update?: RunUpdate): Promise<StepOutput> {
    if (this.broken) throw this.broken;
    if (this.released) fail(ErrorCodes.INTERNAL, 'the data-parallel step runner was released');
    if ((update !== undefined) !== (this.updating !== null)) fail(ErrorCodes.INTERNAL, this.updating ? 'the workers update the weights: run needs the learning rate' : 'the workers do not update the weights (DataParallelOptions.update)');
    if (count < 1 || count > this.maxBatch) fail(ErrorCodes.INTERNAL, `a batch of ${count} samples; the runner takes 1 to ${this.maxBatch}`);
    const t0 = performance.now();
    const rebinarized = this.writeParameterFeeds(sumsAbs);
    this.images.set(images.subarray(0, count * this.sampleSize));
    this.labels.set(labels.subarray(0, count));
    this.tg.dropouts.forEach((d, i) => fillDropoutMask(this.masks[i]!.subarray(0, count * this.maskSizes[i]!), d.ratio, rng));
    const sizes = splitBatch(count, this.workers.length);
    const active: { k: number; offset: number; count: number }[] = [];
    let offset = 0;
    sizes.forEach((n, k) => {
      if (n > 0) active.push({ k, offset, count: n });
      offset += n;
    });
    const rebinarizeMs = await rebinarized;
    const t1 = performance.now();
    const replies = await Promise.all(active.map((a) => this.call(a.k, { kind: 'step', offset: a.offset, count: a.count })));
    const t2 = performance.now();
    const counts = active.map((a) => a.count);
    const into = (this.steps++ % 2) as 0 | 1;
    let loss = 0;
    let correct = 0;
    replies.forEach((r, j) => {
      loss += counts[j]! * r.loss;
      correct += r.correct;
    });
    loss /= count;
    const parts = active.map((a) => a.k);
    let combining: Promise<{ ms: number; rebinarizeMs?: number }[]>;
    let updated: (number | undefined)[] | undefined;
    if (update && Number.isFinite(loss)) {
      // every worker (also one without a slice this step) combines, updates and re-binarizes its shard
      const rebinarize = this.rebinarizesRemotely();
      const u: (number | undefined)[] = (updated = []);
      combining = Promise.all(this.workers.map((_, k) => this.call(k, { kind: 'update', parts, counts, into, lr: update.lr, rebinarize }))).then((rs) => {
        for (const r of rs) for (const [i, sum] of r.sums) u[i] = this.sums[i] = sum;
        this.feedsReady = rebinarize;
        return rs;
      });
    } else {
      this.feedsReady = false;
      // the gradients combined by the active workers, each a contiguous range of all entries
      const total = this.paramBuffer.length;
      let from = 0;
      combining = Promise.all(
        splitBatch(total, active.length).map((size, j) => {
          const range = { from, to: from + size };
          from += size;
          return this.call(active[j]!.k, { kind: 'combine', parts, counts, into, ...range });
        }),
      );
    }
    const batchMean: Float32Array[] = [];
    const batchVar: Float32Array[] = [];
    this.bns.forEach((_, i) => {
      const s = combineBatchNormStats(replies.map((r) => r.batchMean[i]!), replies.map((r) => r.batchVar[i]!), counts, this.perSample[i]!);
      batchMean.push(s.mean);
      batchVar.push(s.variance);
    });
    const combinedReplies = await combining;
    const combineMs = Math.max(...combinedReplies.map((r) => r.ms));
    const nextRebinarizeMs = Math.max(0, ...combinedReplies.map((r) => r.rebinarizeMs ?? 0));
    if (updated) this.shareUpdatedState();
    const out = this.combined[into];
    const grads = this.params.map((p, i) => {
      const at = this.layout.params[i]!;
      const g = out.subarray(at.offset, at.offset + at.size);
      if (ste && p.kind === 'binarized') applyWeightSte(g, p.value);
      return g;
    });
    const workers = { copyMs: Math.max(...replies.map((r) => r.copyMs)), runMs: Math.max(...replies.map((r) => r.ortMs)), rebinarizeMs: rebinarizeMs + nextRebinarizeMs, combineMs };
    return { loss, correct, grads, batchMean, batchVar, ortMs: t2 - t1, jsMs: t1 - t0 + (performance.now() - t2), workers, ...(updated ? { updated } : {}) };
  }

  /**
   * The update in the workers: the binarized parameters' values as views of the shared latent
   * weights (at creation), and their momentum slot in the optimizer's state as a view of the
   * shared momentum once the slot exists there or the workers have taken a first step (so that
   * checkpoints hold what the main thread's update would have left).
   */
  private shareUpdatedState(): void {
    const u = this.updating!;
    const latent = this.latent;
    this.params.forEach((p, i) => {
      if (p.kind !== 'binarized') return;
      const at = this.layout.params[i]!;
      if (p.value.buffer !== latent.buffer) p.value = latent.subarray(at.offset, at.offset + at.size);
      const slots = u.optimizer.state.get(p.name);
      const view = u.momentum.subarray(at.offset, at.offset + at.size);
      if (slots) slots.set('momentum', view);
      else if (this.sums[i] !== undefined) u.optimizer.state.set(p.name, new Map([['momentum', view]]));
    });
  }

  /**
   * Ends the workers (idempotent; resolves when every worker has exited). A step in flight
   * fails with WORKER_FAILED; a worker with a request in flight is ended when it replies (as
   * after a failure: terminating it inside session.run aborted the process), the others at once.
   */
  async release(): Promise<void> {
    if (!this.released) {
      this.released = true;
      this.endAll(releasedError());
    }
    await this.exited();
  }
}

function releasedError(): HbnnError {
  return new HbnnError(ErrorCodes.WORKER_FAILED, 'the data-parallel step runner was released during a step');
}
