/**
 * `binarizeWithBitMap` over many tensors (the layers of a model) on several threads.
 *
 * Each tensor is done whole by one thread with the same single-threaded code, so the results
 * are byte for byte those of calling `binarizeWithBitMap` on each tensor in turn, whatever
 * the thread count. Tensors are spread over the threads by size, largest first, each to the
 * thread with the least work so far (this thread is one of them). A worker gets a copy of its
 * tensors in shared memory and writes its results to shared memory, so nothing is copied
 * back. When several tensors fail, the error thrown is that of the first failing tensor in
 * job order, as in a sequential loop.
 *
 * Workers run `binarize-worker.js`, the compiled sibling of this file; when running from the
 * TypeScript sources (tests), the package's `dist/` copy. Workers are kept for later calls
 * (unref'ed: they never keep the process alive); `releaseBinarizeWorkers()` ends them.
 */
import { Worker } from 'node:worker_threads';
import { workerScript } from '../util/worker-file.js';
import { fail, ErrorCodes, HbnnError, type ErrorCode } from '../errors.js';
import type { BitMapOptions } from './bitmap.js';
import { binarizeWithBitMap, type BitMapBinarization } from './fused.js';
import type { BinarizeOptions } from './residual.js';

/** One tensor to binarize: `binarizeWithBitMap(t, mapOpts, binOpts)` (output buffers are allocated). */
export interface BinarizeJob {
  t: Float32Array;
  mapOpts: Omit<BitMapOptions, 'out'>;
  binOpts?: Omit<BinarizeOptions, 'out' | 'signsOut'>;
}

export interface ParallelOptions {
  /** Threads in all, this one included (default 1: no workers). At most the CPU count is useful. */
  threads?: number;
}

/** What a worker posts back for one job. */
export type WorkerReply =
  | {
      id: number;
      ok: true;
      map: Omit<BitMapBinarization['map'], 'bitMap'> & { bitMap: Uint8Array };
      bin: BitMapBinarization['bin'];
    }
  | { id: number; ok: false; code?: ErrorCode; message: string; context?: Record<string, unknown> };

/** What a worker is sent for one job. */
export interface WorkerRequest {
  id: number;
  t: Float32Array;
  mapOpts: BitMapOptions;
  binOpts: BinarizeOptions;
}

/** Counters for tests and benchmarks: jobs done in workers and in the calling thread. */
export const parallelStats = { workerJobs: 0, localJobs: 0 };

let pool: Worker[] = [];
/** Calls in flight per worker: a worker keeps the process alive only while it has work. */
const busy = new Map<Worker, number>();
/** Request ids, unique across calls (concurrent calls may share a worker). */
let nextId = 0;

function hold(w: Worker): void {
  const n = busy.get(w) ?? 0;
  if (n === 0) w.ref();
  busy.set(w, n + 1);
}

function letGo(w: Worker): void {
  const n = (busy.get(w) ?? 1) - 1;
  if (n <= 0) {
    busy.delete(w);
    w.unref();
  } else busy.set(w, n);
}

function workerFile(): string {
  return workerScript(import.meta.url, 'hbnn', 'binarize-worker.js', 'binarization');
}

function workers(count: number): Worker[] {
  while (pool.length < count) {
    const w = new Worker(workerFile());
    w.unref();
    // A worker that dies leaves the pool (its pending calls fail, see runOn).
    const drop = () => {
      pool = pool.filter((x) => x !== w);
      busy.delete(w);
    };
    w.once('error', drop);
    w.once('exit', drop);
    pool.push(w);
  }
  return pool.slice(0, count);
}

/** Ends the worker threads kept by `binarizeWithBitMaps` (they are restarted on demand). */
export async function releaseBinarizeWorkers(): Promise<void> {
  const ending = pool;
  pool = [];
  await Promise.all(ending.map((w) => w.terminate()));
}

function checkThreads(threads: unknown): number {
  if (threads === undefined) return 1;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 256) {
    fail(ErrorCodes.INVALID_OPTION, `threads must be an integer from 1 to 256, got ${String(threads)}`, { option: 'threads' });
  }
  return threads;
}

/** A copy of `t` in shared memory (a worker reads it without another copy). */
function shared(t: Float32Array): Float32Array {
  const s = new Float32Array(new SharedArrayBuffer(t.byteLength));
  s.set(t);
  return s;
}

/** Runs one job on one worker; resolves with its reply (INTERNAL if the worker dies). */
function runOn(w: Worker, job: Omit<WorkerRequest, 'id'>): Promise<WorkerReply> {
  const req: WorkerRequest = { id: nextId++, ...job };
  return new Promise((resolve, reject) => {
    const done = () => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (reply: WorkerReply) => {
      if (reply.id !== req.id) return;
      done();
      resolve(reply);
    };
    const onError = (e: Error) => {
      done();
      reject(new HbnnError(ErrorCodes.INTERNAL, `binarization worker failed: ${e.message}`, {}, { cause: e }));
    };
    const onExit = (code: number) => {
      done();
      reject(new HbnnError(ErrorCodes.INTERNAL, `binarization worker exited (code ${code}) before finishing`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    w.postMessage(req);
  });
}

/**
 * `binarizeWithBitMap` for every job, on up to `threads` threads; results in job order,
 * identical to the sequential calls.
 */
export async function binarizeWithBitMaps(jobs: readonly BinarizeJob[], opts: ParallelOptions = {}): Promise<BitMapBinarization[]> {
  const threads = Math.min(checkThreads(opts.threads), Math.max(1, jobs.length));
  const results: (BitMapBinarization | undefined)[] = new Array(jobs.length);
  const errors: unknown[] = new Array(jobs.length);
  const local = (j: number) => {
    try {
      const job = jobs[j]!;
      results[j] = binarizeWithBitMap(job.t, job.mapOpts, job.binOpts ?? {});
    } catch (e) {
      errors[j] = e;
    }
    parallelStats.localJobs++;
  };
  if (threads === 1) {
    for (let j = 0; j < jobs.length; j++) local(j);
  } else {
    // Largest first, each to the least loaded thread (ties: the lower thread; 0 is this one).
    const order = jobs.map((_, j) => j).sort((a, b) => jobs[b]!.t.length - jobs[a]!.t.length || a - b);
    const load = new Array<number>(threads).fill(0);
    const lanes: number[][] = Array.from({ length: threads }, () => []);
    for (const j of order) {
      let best = 0;
      for (let k = 1; k < threads; k++) if (load[k]! < load[best]!) best = k;
      load[best]! += jobs[j]!.t.length + 1;
      lanes[best]!.push(j);
    }
    const crew = workers(threads - 1);
    // Every worker gets all its jobs now (a worker takes its messages in order), so it never
    // waits for this thread to reach the event loop between jobs.
    const remote = lanes.slice(1).map(async (lane, k) => {
      const w = crew[k]!;
      hold(w);
      try {
        const replies = lane.map((j) => {
          const job = jobs[j]!;
          return runOn(w, { t: shared(job.t), mapOpts: job.mapOpts, binOpts: job.binOpts ?? {} });
        });
        const got = await Promise.all(replies);
        got.forEach((reply, r) => {
          const j = lane[r]!;
          parallelStats.workerJobs++;
          if (reply.ok) results[j] = { map: reply.map, bin: reply.bin };
          else errors[j] = reply.code ? new HbnnError(reply.code, reply.message, reply.context ?? {}) : new Error(reply.message);
        });
      } finally {
        letGo(w);
      }
    });
    // This thread's share runs while the workers run theirs.
    for (const j of lanes[0]!) local(j);
    await Promise.all(remote);
  }
  for (let j = 0; j < jobs.length; j++) if (errors[j] !== undefined) throw errors[j];
  return results as BitMapBinarization[];
}
