/**
 * Streamed datasets: `openDataSource(spec, options)` gives the samples batch by batch, in
 * order, without holding the dataset in memory.
 *
 * - `folder:` images are decoded on worker threads (node:worker_threads), several batches
 *   ahead of the consumer; each batch is split into contiguous runs of files, one per
 *   worker, and put back together in order, so the samples are byte for byte those of
 *   `loadDataset` whatever the worker count. When several files fail, the error is that of the
 *   first failing file in sample order.
 * - `cifar10:` / `cifar100:` records are read from their file offsets, batch by batch.
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
import { type Batch, type Dataset, type Layout, type Normalization, channelAxis, checkLabelRange, normalizeInPlace, batch as batchOf } from './dataset.js';
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
  workers: number;
  /** The samples [0, limit) in batches of `size` (the last may be short), in order. */
  batches(size: number, limit?: number): AsyncGenerator<Batch>;
  close(): Promise<void>;
}

export interface OpenDataOptions extends LoadDatasetOptions {
  /** Decoding worker threads for folder: data; 0 decodes on this thread. Default: defaultDecodeWorkers(), at most one per 64 images. */
  workers?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
}

/** Default decoding workers: the CPU count minus one (onnxruntime needs a core), 1 to 8. */
export function defaultDecodeWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
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
    workers: 0,
    async *batches(size: number, limit?: number) {
      const total = Math.min(ds.count, limit ?? ds.count);
      for (let s = 0; s < total; s += size) yield batchOf(ds, s, Math.min(size, total - s));
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
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  const name = typeof spec === 'string' ? spec.trim() : formatDataSpec(spec);
  checkLoadOptions(options);
  checkCount(options.workers, 'workers', 0, 256);
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

/** Runs `decode(start, n)` for batches ahead of the consumer, yielding them in order. */
async function* prefetched(
  total: number,
  size: number,
  ahead: number,
  decode: (start: number, n: number) => Promise<Uint8Array>,
  make: (start: number, n: number, u8: Uint8Array) => Batch,
): AsyncGenerator<Batch> {
  if (!Number.isInteger(size) || size <= 0) fail(ErrorCodes.INVALID_OPTION, `batch size must be a positive integer, got ${size}`, { option: 'batchSize' });
  const queue: { start: number; n: number; p: Promise<Uint8Array> }[] = [];
  let next = 0;
  const launch = (): void => {
    const n = Math.min(size, total - next);
    const p = decode(next, n);
    p.catch(() => undefined); // handled when its turn comes
    queue.push({ start: next, n, p });
    next += n;
  };
  while (queue.length < ahead && next < total) launch();
  while (queue.length > 0) {
    const head = queue.shift()!;
    if (next < total) launch();
    yield make(head.start, head.n, await head.p);
  }
}

async function openFolder(name: string, dir: string, prep: ImagePreprocessing, options: OpenDataOptions): Promise<DataSource> {
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
  const workers = options.workers ?? Math.min(defaultDecodeWorkers(), Math.max(1, Math.ceil(count / 64)));
  const pool = workers > 0 ? new DecodePool(workers) : undefined;
  const decode = async (start: number, n: number): Promise<Uint8Array> => {
    const batchFiles = files.slice(start, start + n);
    if (!pool) {
      const out = new Uint8Array(n * per);
      decodeImagesInto(batchFiles, prep, geom, out);
      return out;
    }
    return pool.decode(batchFiles, prep, geom, per);
  };
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
    workers,
    batches(size: number, limit?: number) {
      const total = Math.min(count, limit ?? count);
      return prefetched(total, size, options.prefetch ?? 2, decode, (start, k, u8) => ({
        start,
        count: k,
        shape: [k, ...sampleShape],
        images: toFloat(u8, geom.sampleShape, layout, scale, norm),
        labels: labels.subarray(start, start + k),
      }));
    },
    close: async () => {
      await pool?.close();
    },
  };
}

async function openCifarSource(name: string, spec: Extract<DataSpec, { kind: 'cifar' }>, options: OpenDataOptions): Promise<DataSource> {
  const src = openCifar(spec.dir, spec.variant, spec.split, spec.label);
  const count = options.limit === undefined ? src.count : Math.min(src.count, options.limit);
  const layout: Layout = 'NCHW';
  if (options.layout === 'NHWC') fail(ErrorCodes.INVALID_OPTION, `CIFAR samples are stored [3,32,32] (NCHW); layout NHWC is not available for ${name}`, { option: 'layout' });
  const scale = options.scale ?? 1 / 255;
  const norm = options.normalize;
  const baseShape = [...CIFAR_SAMPLE_SHAPE];
  const sampleShape = reshaped(baseShape, options.reshape);
  const numClasses = options.numClasses ?? src.numClasses;
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
    workers: 0,
    async *batches(size: number, limit?: number) {
      const total = Math.min(count, limit ?? count);
      if (!Number.isInteger(size) || size <= 0) fail(ErrorCodes.INVALID_OPTION, `batch size must be a positive integer, got ${size}`, { option: 'batchSize' });
      for (let s = 0; s < total; s += size) {
        const n = Math.min(size, total - s);
        const u8 = new Uint8Array(n * CIFAR_PIXELS);
        const labels = new Int32Array(n);
        readCifarRange(src, s, n, u8, labels);
        const b: Batch = { start: s, count: n, shape: [n, ...sampleShape], images: toFloat(u8, baseShape, layout, scale, norm), labels };
        checkLabelRange({ name, count: n, sampleShape, images: b.images, labels }, numClasses);
        yield b;
      }
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
