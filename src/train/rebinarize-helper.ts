/**
 * The one-session training runner's re-binarization helper (`StepRunner.create(..., helper)`;
 * not enabled by `fineTune`, where no gain was measured: docs/training.md): one
 * worker thread (rebinarize-worker.ts) that re-binarizes a shard of the binarized weights (the
 * second of `shardByCost` over two) while the main thread re-binarizes the first, between two
 * `session.run` calls, when onnxruntime's intra-op threads are idle (they stop spinning after a
 * run). The main thread writes the shard's latent weights into a shared buffer and posts the
 * request; the helper writes Ŵ into another shared buffer, which the main thread copies into
 * arrays of its own (onnxruntime-node refuses tensors over a SharedArrayBuffer). The same code
 * on the same floats (`ShardRebinarizer`): the same Ŵ as the main thread's.
 *
 * A helper that fails (an error it reports, an uncaught exception, an exit) fails the step
 * with WORKER_FAILED and every later one; `release()` ends it. It keeps the process alive only
 * while a request is in flight.
 */
import { Worker } from 'node:worker_threads';
import { workerScript } from '../util/worker-file.js';
import { ErrorCodes, HbnnError } from '../errors.js';
import type { LatentParam } from './params.js';
import { shardByCost, type RebinarizeWorkerData, type StepReply, type StepRequest } from './step-protocol.js';

export class RebinarizeHelper {
  private pending: { id: number; resolve: () => void; reject: (e: Error) => void } | undefined;
  private nextId = 0;
  private broken: HbnnError | undefined;
  private released = false;
  private readonly latent: Float32Array;
  private readonly out: Float32Array;
  /** Ŵ of the helper's weights, copied out of shared memory for onnxruntime (by parameter index). */
  private readonly feeds = new Map<number, Float32Array>();

  private constructor(
    private readonly worker: Worker,
    /** Parameter indices the helper re-binarizes. */
    readonly indices: ReadonlySet<number>,
    private readonly slots: readonly { offset: number; size: number }[],
    data: RebinarizeWorkerData,
  ) {
    this.latent = new Float32Array(data.latent);
    this.out = new Float32Array(data.out);
    for (const i of indices) this.feeds.set(i, new Float32Array(slots[i]!.size));
    worker.unref();
    worker.on('message', (r: StepReply) => {
      const p = this.pending;
      if (r.kind === 'rebinarized' && p && r.id === p.id) {
        this.pending = undefined;
        worker.unref();
        p.resolve();
      } else if (r.kind === 'error') this.breakDown(new HbnnError(r.code ?? ErrorCodes.WORKER_FAILED, `re-binarization worker: ${r.message}`));
    });
    worker.on('error', (e) => this.breakDown(new HbnnError(ErrorCodes.WORKER_FAILED, `re-binarization worker failed: ${e.message}`, {}, { cause: e })));
    worker.on('exit', (code) => {
      this.gone = true;
      if (!this.released) this.breakDown(new HbnnError(ErrorCodes.WORKER_FAILED, `re-binarization worker exited (code ${code}) during training`));
    });
  }

  /**
   * A helper for the binarized weights of `params` (the second shard of two by cost), started
   * and ready; null when that shard would be empty.
   */
  static async create(params: readonly LatentParam[]): Promise<RebinarizeHelper | null> {
    const binarized = params.flatMap((p, i) => (p.kind === 'binarized' ? [i] : []));
    const mine = shardByCost(
      binarized.map((i) => params[i]!.value.length),
      2,
    )[1]!.map((j) => binarized[j]!);
    if (mine.length === 0) return null;
    let offset = 0;
    const slots = params.map((p, i) => {
      const slot = { offset, size: mine.includes(i) ? p.value.length : 0 };
      offset += slot.size;
      return slot;
    });
    const sab = (floats: number): SharedArrayBuffer => new SharedArrayBuffer(4 * Math.max(1, floats));
    const data: RebinarizeWorkerData = {
      slots,
      shard: mine.map((i) => ({ param: i, record: params[i]!.binarizer!.record, layout: params[i]!.binarizer!.layout })),
      latent: sab(offset),
      out: sab(offset),
    };
    const worker = new Worker(workerScript(import.meta.url, 'train', 'rebinarize-worker.js', 're-binarization'), { workerData: data });
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (r: StepReply): void => {
        done();
        if (r.kind === 'ready') resolve();
        else reject(new HbnnError(ErrorCodes.WORKER_FAILED, `re-binarization worker: ${r.kind === 'error' ? r.message : 'unexpected reply at start'}`));
      };
      const onError = (e: Error): void => {
        done();
        reject(new HbnnError(ErrorCodes.WORKER_FAILED, `re-binarization worker failed at start: ${e.message}`, {}, { cause: e }));
      };
      const onExit = (code: number): void => {
        done();
        reject(new HbnnError(ErrorCodes.WORKER_FAILED, `re-binarization worker exited (code ${code}) at start`));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    return new RebinarizeHelper(worker, new Set(mine), slots, data);
  }

  /**
   * Writes the shard's latent weights and starts its re-binarization (`sumsAbs[i]`: parameter
   * i's sum |w| from the update, when known); resolves when Ŵ is ready (`feed`).
   */
  start(params: readonly LatentParam[], sumsAbs?: readonly (number | undefined)[]): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.released || this.pending) return Promise.reject(new HbnnError(ErrorCodes.INTERNAL, 'the re-binarization helper is released or busy'));
    for (const i of this.indices) this.latent.set(params[i]!.value, this.slots[i]!.offset);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending = { id, resolve, reject };
      this.worker.ref();
      this.worker.postMessage({ kind: 'rebinarize', id, sumsAbs: params.map((_, i) => sumsAbs?.[i]) } satisfies StepRequest);
    });
  }

  /** Ŵ of parameter i (one of `indices`) after `start` resolved: an array of the helper's, overwritten by the next step. */
  feed(i: number): Float32Array {
    const f = this.feeds.get(i)!;
    const { offset, size } = this.slots[i]!;
    f.set(this.out.subarray(offset, offset + size));
    return f;
  }

  private breakDown(e: HbnnError): void {
    if (this.broken || this.released) return;
    this.broken = e;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
    void this.worker.terminate();
  }

  /** @internal For tests: ends the worker as a crash would (not released). */
  async crashForTest(): Promise<void> {
    await this.worker.terminate();
  }

  /** Whether the worker has exited (after a failure or `release`). */
  get exited(): boolean {
    return this.gone;
  }
  private gone = false;

  /** Ends the worker (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(new HbnnError(ErrorCodes.WORKER_FAILED, 'the re-binarization helper was released during a step'));
    await this.worker.terminate();
  }
}
