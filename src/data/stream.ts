/**
 * Streamed datasets: `openDataSource(spec, options)` gives the samples batch by batch, in
 * order (`batches`) or in any order of sample indices (`gather`, e.g. a training epoch's
 * seeded permutation), without holding the dataset in memory: at most `prefetch` batches are
 * decoded ahead of the consumer (`stats.peakBuffered` records the most ever held).
 *
 * - `folder:` images are decoded on worker threads (node:worker_threads), several batches
 *   ahead of the consumer; each batch is split into contiguous runs of files, one per
 *   worker, and put back together in order, so the samples are byte for byte those of
 *   `loadDataset` whatever the worker count. When several files fail, the error is that of the
 *   first failing file in sample order.
 * - `cifar10:` / `cifar100:` records are read from their file offsets, batch by batch.
 * - Each `batches` / `gather` walk starts its own decoding workers and ends them when it
 *   ends (finished, broken off or failed), so an open source holds no thread between walks.
 * - every other SPEC is loaded with `loadDataset` and served from memory (`dataSourceOf`).
 *
 * Labels of folders are known before any image is decoded (from the listing), so label checks
 * run before the work; CIFAR labels arrive with their batch.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fail, ErrorCodes, HbnnError, type ErrorCode } from '../errors.js';
import { workerScript } from '../util/worker-file.js';
import { CIFAR_PIXELS, CIFAR_SAMPLE_SHAPE, openCifar, readCifarRange } from './cifar.js';
import { type Batch, type Dataset, type Layout, type Normalization, channelAxis, checkLabelRange, gatherBatch, normalizeInPlace, batch as batchOf } from './dataset.js';
import type { DecodeReply, DecodeRequest } from './decode-worker.js';
import { type ImageGeometry, decodeImagesInto, imageGeometry, listImageFolder } from './folder.js';
import type { ImagePreprocessing } from './image.js';
import { type DataSpec, type LoadDatasetOptions, checkLoadOptions, formatDataSpec, loadDataset, parseDataSpec, sourceNormalization, uint8ToFloat32 } from './load.js';
import { formatShape, shapeSize } from './ndarray.js';

/** A dataset read batch by batch. Close it when done (ends its worker threads). */
export interface DataSource {
  readonly streamed: true;
  name: string;
  count: number;
  sampleShape: number[];
  /** All labels, when known up front (folders, in-memory datasets); otherwise each batch carries its own. */
  labels?: Int32Array;
  /** Whether the samples have labels (in `labels` or in each batch). */
  labelled: boolean;
  numClasses?: number;
  classNames?: string[];
  sampleFiles?: string[];
  layout: Layout;
  preprocessing: { scale: number; normalize?: Normalization };
  files: string[];
  /** Worker threads decoding (0: this thread or no decoding). */
  decodeWorkers: number;
  /** @deprecated The same as `decodeWorkers` (its earlier name; docs/data.md). */
  workers: number;
  /** The samples [0, limit) in batches of `size` (the last may be short), in order. */
  batches(size: number, limit?: number): AsyncGenerator<Batch>;
  /**
   * The samples `order[0], order[1], ...` in batches of `size` (the last may be short), each
   * batch a copy with `start` -1: byte for byte `gatherBatch` of the loaded dataset.
   */
  gather(order: ArrayLike<number>, size: number): AsyncGenerator<Batch>;
  /** What the walks so far held: batches yielded, and the most batches decoded (or decoding) ahead of the consumer at once. */
  readonly stats: SourceStats;
  close(): Promise<void>;
}

export interface SourceStats {
  batches: number;
  peakBuffered: number;
}

export interface OpenDataOptions extends LoadDatasetOptions {
  /**
   * Decoding worker threads for folder: data, 0 to MAX_DECODE_WORKERS; 0 decodes on this
   * thread. Default: defaultDecodeWorkers(), at most one per 64 images. The samples are the
   * same for any count. (Not the data-parallel training workers of FineTuneOptions.workers.)
   */
  decodeWorkers?: number;
  /** @deprecated Use `decodeWorkers` (the same meaning; both given must agree). Kept working; docs/data.md. */
  workers?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
}

/** The most decoding workers `decodeWorkers` accepts. */
export const MAX_DECODE_WORKERS = 256;
/** The most decoding workers the default takes (defaultDecodeWorkers). */
export const MAX_DEFAULT_DECODE_WORKERS = 8;
/** How the default decoding worker count is chosen, in words (CLI help and docs). */
export const DEFAULT_DECODE_WORKERS_TEXT = `CPU count - 1, from 1 to ${MAX_DEFAULT_DECODE_WORKERS}, at most one per 64 images`;

/** Default decoding workers: the CPU count minus one (onnxruntime needs a core), 1 to MAX_DEFAULT_DECODE_WORKERS. */
export function defaultDecodeWorkers(): number {
  return Math.max(1, Math.min(MAX_DEFAULT_DECODE_WORKERS, availableParallelism() - 1));
}

/**
 * The decoding worker count asked for in `options` (`decodeWorkers`, or the deprecated
 * `workers`), checked: an integer from 0 to MAX_DECODE_WORKERS; INVALID_OPTION when it is not
 * or when both are given with different values. Undefined when neither is given.
 */
export function requestedDecodeWorkers(options: Pick<OpenDataOptions, 'decodeWorkers' | 'workers'>): number | undefined {
  checkCount(options.decodeWorkers, 'decodeWorkers', 0, MAX_DECODE_WORKERS);
  checkCount(options.workers, 'workers', 0, MAX_DECODE_WORKERS);
  if (options.decodeWorkers !== undefined && options.workers !== undefined && options.decodeWorkers !== options.workers) {
    fail(ErrorCodes.INVALID_OPTION, `decodeWorkers (${options.decodeWorkers}) and its deprecated name workers (${options.workers}) disagree; give decodeWorkers only`, { option: 'decodeWorkers' });
  }
  return options.decodeWorkers ?? options.workers;
}

export function isDataSource(x: Dataset | DataSource): x is DataSource {
  return (x as DataSource).streamed === true;
}

/** An in-memory dataset as a source (batches are views, as `batch()`). */
export function dataSourceOf(ds: Dataset): DataSource {
  const src: DataSource = {
    streamed: true,
    name: ds.name,
    count: ds.count,
    sampleShape: ds.sampleShape,
    labelled: ds.labels !== undefined,
    layout: ds.layout ?? 'NCHW',
    preprocessing: ds.preprocessing ?? { scale: 1 },
    files: ds.files ?? [],
    decodeWorkers: 0,
    workers: 0,
    stats: { batches: 0, peakBuffered: 0 },
    async *batches(size: number, limit?: number) {
      const total = Math.min(ds.count, limit ?? ds.count);
      for (let s = 0; s < total; s += size) {
        src.stats.batches++;
        yield batchOf(ds, s, Math.min(size, total - s));
      }
    },
    async *gather(order: ArrayLike<number>, size: number) {
      checkBatchSize(size);
      for (let s = 0; s < order.length; s += size) {
        src.stats.batches++;
        yield gatherBatch(ds, indexRange(order, s, Math.min(s + size, order.length)));
      }
    },
    close: async () => {},
  };
  if (ds.labels) src.labels = ds.labels;
  if (ds.numClasses !== undefined) src.numClasses = ds.numClasses;
  if (ds.classNames) src.classNames = ds.classNames;
  if (ds.sampleFiles) src.sampleFiles = ds.sampleFiles;
  return src;
}

function checkCount(v: number | undefined, option: string, min: number, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
    fail(ErrorCodes.INVALID_OPTION, `${option} must be an integer from ${min} to ${max}, got ${String(v)}`, { option });
  }
}

/** Opens a SPEC for streamed reading (see the file comment); other SPECs load into memory. */
export async function openDataSource(spec: string | DataSpec, options: OpenDataOptions = {}): Promise<DataSource> {
  return openDataSourceSync(spec, options);
}

/** `openDataSource` without the promise: opening lists files and reads one image at most; decoding happens in the walks. */
export function openDataSourceSync(spec: string | DataSpec, options: OpenDataOptions = {}): DataSource {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  const name = typeof spec === 'string' ? spec.trim() : formatDataSpec(spec);
  checkLoadOptions(options);
  requestedDecodeWorkers(options);
  checkCount(options.prefetch, 'prefetch', 1, 64);
  if (parsed.kind === 'folder') return openFolder(name, parsed.dir, parsed.prep, options);
  if (parsed.kind === 'cifar') return openCifarSource(name, parsed, options);
  return dataSourceOf(loadDataset(parsed, options));
}

/** Float samples from uint8 ones: scale, normalization, as loadDataset does. */
function toFloat(u8: Uint8Array, sampleShape: number[], layout: Layout, scale: number, norm: Normalization | undefined): Float32Array {
  const data = uint8ToFloat32(u8, scale);
  if (norm) normalizeInPlace(data, sampleShape, norm, channelAxis(layout, sampleShape));
  return data;
}

function reshaped(shape: number[], reshape: number[] | undefined): number[] {
  if (!reshape) return shape;
  if (shapeSize(reshape) !== shapeSize(shape)) {
    fail(ErrorCodes.DATA_MISMATCH, `cannot reshape samples of ${formatShape(shape)} (${shapeSize(shape)} values) to ${formatShape(reshape)} (${shapeSize(reshape)} values)`, {
      option: 'reshape',
    });
  }
  return [...reshape];
}

function checkBatchSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0) fail(ErrorCodes.INVALID_OPTION, `batch size must be a positive integer, got ${size}`, { option: 'batchSize' });
}

/** order[a..b) as an array of sample indices. */
function indexRange(order: ArrayLike<number>, a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i < b; i++) out.push(order[i]!);
  return out;
}

/**
 * Runs `decode(k)` for batches k = 0..jobs-1 at most `ahead` batches ahead of the consumer,
 * yielding `make(k, decoded)` in order.
 */
async function* prefetched<T>(
  jobs: number,
  ahead: number,
  stats: SourceStats,
  decode: (k: number) => Promise<T>,
  make: (k: number, decoded: T) => Batch,
): AsyncGenerator<Batch> {
  const queue: { k: number; p: Promise<T> }[] = [];
  let next = 0;
  const launch = (): void => {
    const p = decode(next);
    p.catch(() => undefined); // handled when its turn comes
    queue.push({ k: next, p });
    next++;
    if (queue.length > stats.peakBuffered) stats.peakBuffered = queue.length;
  };
  while (queue.length < ahead && next < jobs) launch();
  while (queue.length > 0) {
    const head = queue.shift()!;
    const decoded = await head.p;
    if (next < jobs) launch();
    stats.batches++;
    yield make(head.k, decoded);
  }
}

function openFolder(name: string, dir: string, prep: ImagePreprocessing, options: OpenDataOptions): DataSource {
  const folder = listImageFolder(dir, prep.classesFile);
  const count = options.limit === undefined ? folder.files.length : Math.min(folder.files.length, options.limit);
  const files = folder.files.slice(0, count);
  const labels = folder.labels.slice(0, count);
  const layout: Layout = options.layout === 'NHWC' ? 'NHWC' : 'NCHW';
  const geom = imageGeometry(files[0]!, prep, layout);
  const per = shapeSize(geom.sampleShape);
  const norm = sourceNormalization(prep.normalize, options.normalize, name).normalize;
  const scale = options.scale ?? 1 / 255;
  const sampleShape = reshaped(geom.sampleShape, options.reshape);
  const numClasses = options.numClasses ?? folder.classNames.length;
  const probe: Dataset = { name, count, sampleShape, images: new Float32Array(0), labels, classNames: folder.classNames, sampleFiles: files };
  checkLabelRange(probe, numClasses);
  // By default no more workers than the data can use (one per 64 images): starting one costs ~0.1 s of CPU.
  const workers = requestedDecodeWorkers(options) ?? Math.min(defaultDecodeWorkers(), Math.max(1, Math.ceil(count / 64)));
  const ahead = options.prefetch ?? 2;
  const pools = new Set<DecodePool>();
  const stats: SourceStats = { batches: 0, peakBuffered: 0 };
  /** One walk: `jobs` batches, batch k holding the samples `indices(k)`; its own pool of workers, started at the first batch asked for. */
  async function* walk(jobs: number, indices: (k: number) => number[], start: (k: number) => number): AsyncGenerator<Batch> {
    const pool = workers > 0 ? new DecodePool(workers) : undefined;
    if (pool) pools.add(pool);
    const decode = async (k: number): Promise<Uint8Array> => {
      const batchFiles = indices(k).map((i) => files[i]!);
      if (!pool) {
        const out = new Uint8Array(batchFiles.length * per);
        decodeImagesInto(batchFiles, prep, geom, out);
        return out;
      }
      return pool.decode(batchFiles, prep, geom, per);
    };
    const make = (k: number, u8: Uint8Array): Batch => {
      const idx = indices(k);
      const n = idx.length;
      const first = start(k);
      return {
        start: first,
        count: n,
        shape: [n, ...sampleShape],
        images: toFloat(u8, geom.sampleShape, layout, scale, norm),
        labels: first >= 0 ? labels.subarray(first, first + n) : Int32Array.from(idx, (i) => labels[i]!),
      };
    };
    try {
      yield* prefetched(jobs, ahead, stats, decode, make);
    } finally {
      if (pool) {
        pools.delete(pool);
        await pool.close();
      }
    }
  }
  return {
    streamed: true,
    name,
    count,
    sampleShape,
    labels,
    labelled: true,
    numClasses,
    classNames: folder.classNames,
    sampleFiles: files,
    layout,
    preprocessing: norm ? { scale, normalize: norm } : { scale },
    files: folder.classesFile !== undefined ? [dir, folder.classesFile] : [dir],
    decodeWorkers: workers,
    workers,
    stats,
    batches(size: number, limit?: number) {
      checkBatchSize(size);
      const total = Math.min(count, limit ?? count);
      const first = (k: number): number => k * size;
      const range = (k: number): number[] => Array.from({ length: Math.min(size, total - k * size) }, (_, i) => k * size + i);
      return walk(Math.ceil(total / size), range, first);
    },
    gather(order: ArrayLike<number>, size: number) {
      checkBatchSize(size);
      checkIndices(order, count, name);
      return walk(Math.ceil(order.length / size), (k) => indexRange(order, k * size, Math.min((k + 1) * size, order.length)), () => -1);
    },
    close: async () => {
      const open = [...pools];
      pools.clear();
      await Promise.all(open.map((p) => p.close()));
    },
  };
}

/** INVALID_OPTION for a sample index outside [0, count). */
function checkIndices(order: ArrayLike<number>, count: number, name: string): void {
  for (let i = 0; i < order.length; i++) {
    const j = order[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= count) fail(ErrorCodes.INVALID_OPTION, `sample index ${j} is outside ${name} (${count} samples)`, { option: 'indices' });
  }
}

function openCifarSource(name: string, spec: Extract<DataSpec, { kind: 'cifar' }>, options: OpenDataOptions): DataSource {
  const src = openCifar(spec.dir, spec.variant, spec.split, spec.label);
  const count = options.limit === undefined ? src.count : Math.min(src.count, options.limit);
  const layout: Layout = 'NCHW';
  if (options.layout === 'NHWC') fail(ErrorCodes.INVALID_OPTION, `CIFAR samples are stored [3,32,32] (NCHW); layout NHWC is not available for ${name}`, { option: 'layout' });
  const scale = options.scale ?? 1 / 255;
  const norm = options.normalize;
  const baseShape = [...CIFAR_SAMPLE_SHAPE];
  const sampleShape = reshaped(baseShape, options.reshape);
  const numClasses = options.numClasses ?? src.numClasses;
  const stats: SourceStats = { batches: 0, peakBuffered: 0 };
  /** Records `indices` (runs of consecutive ones read at once) as a batch. */
  const read = (indices: readonly number[], start: number): Batch => {
    const n = indices.length;
    const u8 = new Uint8Array(n * CIFAR_PIXELS);
    const labels = new Int32Array(n);
    for (let a = 0; a < n; ) {
      let b = a + 1;
      while (b < n && indices[b] === indices[b - 1]! + 1) b++;
      readCifarRange(src, indices[a]!, b - a, u8.subarray(a * CIFAR_PIXELS, b * CIFAR_PIXELS), labels.subarray(a, b));
      a = b;
    }
    const batch: Batch = { start, count: n, shape: [n, ...sampleShape], images: toFloat(u8, baseShape, layout, scale, norm), labels };
    checkLabelRange({ name, count: n, sampleShape, images: batch.images, labels }, numClasses);
    stats.batches++;
    if (stats.peakBuffered < 1) stats.peakBuffered = 1;
    return batch;
  };
  const out: DataSource = {
    streamed: true,
    name,
    count,
    sampleShape,
    labelled: true,
    numClasses,
    layout,
    preprocessing: norm ? { scale, normalize: norm } : { scale },
    files: src.files,
    decodeWorkers: 0,
    workers: 0,
    stats,
    async *batches(size: number, limit?: number) {
      checkBatchSize(size);
      const total = Math.min(count, limit ?? count);
      for (let s = 0; s < total; s += size) yield read(Array.from({ length: Math.min(size, total - s) }, (_, i) => s + i), s);
    },
    async *gather(order: ArrayLike<number>, size: number) {
      checkBatchSize(size);
      checkIndices(order, count, name);
      for (let s = 0; s < order.length; s += size) yield read(indexRange(order, s, Math.min(s + size, order.length)), -1);
    },
    close: async () => {},
  };
  if (src.classNames) out.classNames = src.classNames;
  return out;
}

/** Worker threads decoding runs of image files; a batch is split into one contiguous run per worker. */
export class DecodePool {
  private readonly crew: Worker[] = [];
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: DecodeReply) => void; reject: (e: Error) => void; w: Worker }>();
  private readonly busy = new Map<Worker, number>();
  /** Workers that failed or exited: a job sent to one is refused at once instead of waiting forever. */
  private readonly dead = new Map<Worker, string>();

  constructor(readonly size: number) {
    const file = workerScript(import.meta.url, 'data', 'decode-worker.js', 'image decoding');
    for (let i = 0; i < size; i++) {
      const w = new Worker(file);
      w.unref();
      w.on('message', (r: DecodeReply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        this.release(w);
        p.resolve(r);
      });
      const die = (why: string): void => {
        this.dead.set(w, why);
        for (const [id, p] of this.pending) {
          if (p.w !== w) continue;
          this.pending.delete(id);
          p.reject(new HbnnError(ErrorCodes.INTERNAL, `image decoding worker ${why}`));
        }
      };
      w.on('error', (e) => die(`failed: ${e.message}`));
      w.on('exit', (code) => die(`exited (code ${code})`));
      this.crew.push(w);
    }
  }

  private hold(w: Worker): void {
    const n = this.busy.get(w) ?? 0;
    if (n === 0) w.ref();
    this.busy.set(w, n + 1);
  }

  private release(w: Worker): void {
    const n = (this.busy.get(w) ?? 1) - 1;
    if (n <= 0) {
      this.busy.delete(w);
      w.unref();
    } else this.busy.set(w, n);
  }

  private run(w: Worker, req: Omit<DecodeRequest, 'id'>): Promise<DecodeReply> {
    const id = this.nextId++;
    const why = this.dead.get(w);
    if (why !== undefined) return Promise.reject(new HbnnError(ErrorCodes.INTERNAL, `image decoding worker ${why}`));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, w });
      this.hold(w);
      w.postMessage({ id, ...req } satisfies DecodeRequest);
    });
  }

  /** Decodes `files` (in order) into one buffer of files.length × per bytes. */
  async decode(files: string[], prep: ImagePreprocessing, geom: ImageGeometry, per: number): Promise<Uint8Array> {
    const k = Math.min(this.crew.length, files.length);
    const runs: Promise<DecodeReply>[] = [];
    const bounds: number[] = [];
    for (let i = 0; i < k; i++) {
      const a = Math.floor((i * files.length) / k);
      const b = Math.floor(((i + 1) * files.length) / k);
      bounds.push(a);
      runs.push(this.run(this.crew[i]!, { files: files.slice(a, b), prep, geom, per }));
    }
    const replies = await Promise.allSettled(runs);
    const out = new Uint8Array(files.length * per);
    // The first failing run in file order decides the error (its worker stopped at its first bad file).
    for (let i = 0; i < k; i++) {
      const r = replies[i]!;
      if (r.status === 'rejected') throw r.reason;
      const reply = r.value;
      if (!reply.ok) throw reply.code ? new HbnnError(reply.code as ErrorCode, reply.message, reply.context ?? {}) : new Error(reply.message);
      out.set(reply.data, bounds[i]! * per);
    }
    return out;
  }

  async close(): Promise<void> {
    const ending = this.crew.splice(0);
    await Promise.all(ending.map((w) => w.terminate()));
  }
}
