/**
 * In-memory datasets: float32 samples (already scaled and normalized), optional int32 labels,
 * batching, normalization and the checks that a dataset fits a model's input and output.
 */
import { fail, ErrorCodes } from '../errors.js';
import { formatShape, shapeSize } from './ndarray.js';
import { mulberry32 } from '../hbnn/prng.js';

/** Per-channel normalization `(x - mean[c]) / std[c]`; one value applies to every channel. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/**
 * How image samples are laid out. `NCHW` (default): channels first, a 2-d sample [H,W] gets
 * a channel axis in front ([1,H,W]). `NHWC`: channels last ([H,W,1]). `raw`: samples are
 * kept exactly as stored; normalization treats axis 0 as the channel axis.
 */
export type Layout = 'NCHW' | 'NHWC' | 'raw';

export interface Dataset {
  /** The SPEC it was loaded from, e.g. `fmnist:test`. */
  name: string;
  count: number;
  /** Shape of one sample, without the batch dim, e.g. [1,28,28]. */
  sampleShape: number[];
  /** count × prod(sampleShape) values, C order, scaled and normalized. */
  images: Float32Array;
  labels?: Int32Array;
  numClasses?: number;
  layout?: Layout;
  /** What was applied to the stored values: `x * scale`, then normalization if any. */
  preprocessing?: { scale: number; normalize?: Normalization };
  /** The files the data came from. */
  files?: string[];
  /** Class names by label, when the source has them (image folders, CIFAR). */
  classNames?: string[];
  /** The file of each sample, when samples are files (image folders). */
  sampleFiles?: string[];
}

export interface Batch {
  /** Index of the first sample in the dataset (for gathered batches, -1). */
  start: number;
  count: number;
  /** [count, ...sampleShape]: the tensor shape to feed. */
  shape: number[];
  images: Float32Array;
  labels?: Int32Array;
}

/** Preprocessing the bundled Fashion-MNIST models were trained with (after pixel/255). */
export const FMNIST_NORMALIZATION: Readonly<Normalization> = Object.freeze({
  mean: Object.freeze([0.286]) as number[],
  std: Object.freeze([0.353]) as number[],
});

/** torchvision's ImageNet per-channel mean/std (RGB, after pixel/255). */
export const IMAGENET_NORMALIZATION: Readonly<Normalization> = Object.freeze({
  mean: Object.freeze([0.485, 0.456, 0.406]) as number[],
  std: Object.freeze([0.229, 0.224, 0.225]) as number[],
});

/** CIFAR-10 training-set per-channel mean/std (RGB, after pixel/255), as commonly used with torchvision. */
export const CIFAR10_NORMALIZATION: Readonly<Normalization> = Object.freeze({
  mean: Object.freeze([0.4914, 0.4822, 0.4465]) as number[],
  std: Object.freeze([0.247, 0.2435, 0.2616]) as number[],
});

/** Named normalizations accepted by parseNormalization (and the image presets of the same names). */
export const NAMED_NORMALIZATIONS: Readonly<Record<'fmnist' | 'imagenet' | 'cifar10', Readonly<Normalization>>> = Object.freeze({
  fmnist: FMNIST_NORMALIZATION,
  imagenet: IMAGENET_NORMALIZATION,
  cifar10: CIFAR10_NORMALIZATION,
});

/** Fashion-MNIST class names, by label. */
export const FMNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

/**
 * Samples [start, start + size) as views on the dataset's arrays (no copy: writing to a
 * batch writes to the dataset). The last batch may be shorter than `size`.
 */
export function batch(dataset: Dataset, start: number, size: number): Batch {
  if (!Number.isInteger(start) || start < 0 || start >= dataset.count) {
    fail(ErrorCodes.INVALID_OPTION, `batch start ${start} is outside the dataset (${dataset.count} samples)`, {
      option: 'start',
    });
  }
  checkBatchSize(size);
  const count = Math.min(size, dataset.count - start);
  const per = shapeSize(dataset.sampleShape);
  const out: Batch = {
    start,
    count,
    shape: [count, ...dataset.sampleShape],
    images: dataset.images.subarray(start * per, (start + count) * per),
  };
  if (dataset.labels) out.labels = dataset.labels.subarray(start, start + count);
  return out;
}

/** All batches in order, or in the order of `order` (a permutation of sample indices, see `shuffledIndices`). */
export function* batches(dataset: Dataset, size: number, order?: ArrayLike<number>): Generator<Batch> {
  checkBatchSize(size);
  if (order === undefined) {
    for (let s = 0; s < dataset.count; s += size) yield batch(dataset, s, size);
    return;
  }
  for (let s = 0; s < order.length; s += size) {
    const idx: number[] = [];
    for (let i = s; i < Math.min(s + size, order.length); i++) idx.push(order[i]!);
    yield gatherBatch(dataset, idx);
  }
}

/** Copies the samples at `indices` into a new batch. */
export function gatherBatch(dataset: Dataset, indices: ArrayLike<number>): Batch {
  const per = shapeSize(dataset.sampleShape);
  const n = indices.length;
  const images = new Float32Array(n * per);
  const labels = dataset.labels ? new Int32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const j = indices[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= dataset.count) {
      fail(ErrorCodes.INVALID_OPTION, `sample index ${j} is outside the dataset (${dataset.count} samples)`, { option: 'indices' });
    }
    images.set(dataset.images.subarray(j * per, (j + 1) * per), i * per);
    if (labels) labels[i] = dataset.labels![j]!;
  }
  const out: Batch = { start: -1, count: n, shape: [n, ...dataset.sampleShape], images };
  if (labels) out.labels = labels;
  return out;
}

/** A deterministic permutation of 0..count-1 (Fisher–Yates driven by mulberry32(seed)). */
export function shuffledIndices(count: number, seed: number): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = i;
  const next = mulberry32(seed).next;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** The first `n` samples (views, no copy). */
export function takeDataset(dataset: Dataset, n: number): Dataset {
  if (n >= dataset.count) return dataset;
  const per = shapeSize(dataset.sampleShape);
  const out: Dataset = { ...dataset, count: n, images: dataset.images.subarray(0, n * per) };
  if (dataset.labels) out.labels = dataset.labels.subarray(0, n);
  return out;
}

/** The axis of a sample that holds channels under `layout`. */
export function channelAxis(layout: Layout, sampleShape: readonly number[]): number {
  return layout === 'NHWC' ? Math.max(0, sampleShape.length - 1) : 0;
}

/**
 * Checks a normalization record: equal-length mean/std, finite, std > 0, and either one value
 * or one per channel. INVALID_OPTION for bad values, DATA_MISMATCH for a channel-count mismatch.
 */
export function validateNormalization(norm: Normalization, channels?: number): void {
  const { mean, std } = norm;
  if (!Array.isArray(mean) || !Array.isArray(std) || mean.length === 0 || mean.length !== std.length) {
    fail(ErrorCodes.INVALID_OPTION, `normalize needs mean and std lists of the same non-zero length`, { option: 'normalize' });
  }
  if (mean.some((m) => !Number.isFinite(m))) {
    fail(ErrorCodes.INVALID_OPTION, `normalize mean must be finite numbers, got [${mean.join(', ')}]`, { option: 'normalize' });
  }
  if (std.some((s) => !Number.isFinite(s) || s <= 0)) {
    fail(ErrorCodes.INVALID_OPTION, `normalize std must be finite and > 0, got [${std.join(', ')}]`, { option: 'normalize' });
  }
  if (channels !== undefined && mean.length !== 1 && mean.length !== channels) {
    fail(
      ErrorCodes.DATA_MISMATCH,
      `normalize gives ${mean.length} per-channel values but the samples have ${channels} channel(s)`,
      { option: 'normalize' },
    );
  }
}

/**
 * Applies `(x - mean[c]) / std[c]` in place to `count` samples of `sampleShape`, where c is
 * the index along `axis` of the sample.
 */
export function normalizeInPlace(images: Float32Array, sampleShape: readonly number[], norm: Normalization, axis = 0): void {
  const channels = sampleShape.length === 0 ? 1 : sampleShape[axis]!;
  validateNormalization(norm, channels);
  const per = shapeSize(sampleShape);
  if (per === 0) return;
  const inner = shapeSize(sampleShape.slice(axis + 1));
  const mean = norm.mean.length === 1 ? new Array<number>(channels).fill(norm.mean[0]!) : norm.mean;
  const std = norm.std.length === 1 ? new Array<number>(channels).fill(norm.std[0]!) : norm.std;
  if (channels === 1 || mean.every((m, c) => m === mean[0] && std[c] === std[0])) {
    const m0 = mean[0]!;
    const s0 = std[0]!;
    for (let i = 0; i < images.length; i++) images[i] = (images[i]! - m0) / s0;
    return;
  }
  // Contiguous runs of `inner` values share a channel: samples × outer axes × channels × inner.
  const block = channels * inner;
  for (let base = 0; base < images.length; base += block) {
    for (let c = 0; c < channels; c++) {
      const m = mean[c]!;
      const sd = std[c]!;
      const end = base + (c + 1) * inner;
      for (let i = base + c * inner; i < end; i++) images[i] = (images[i]! - m) / sd;
    }
  }
}

/**
 * Parses a CLI normalization string: `fmnist` (the bundled models' FMNIST_NORMALIZATION),
 * or `MEAN:STD` with comma-separated per-channel values, e.g. `0.2860:0.3530` or
 * `0.485,0.456,0.406:0.229,0.224,0.225`.
 */
export function parseNormalization(text: string): Normalization {
  const t = text.trim();
  const named = NAMED_NORMALIZATIONS[t.toLowerCase() as keyof typeof NAMED_NORMALIZATIONS];
  if (named && Object.prototype.hasOwnProperty.call(NAMED_NORMALIZATIONS, t.toLowerCase())) return { mean: [...named.mean], std: [...named.std] };
  const parts = t.split(':');
  const nums = (s: string): number[] => s.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (parts.length !== 2) {
    fail(ErrorCodes.INVALID_OPTION, `normalization '${text}' must be fmnist, imagenet, cifar10 or MEAN:STD (e.g. 0.2860:0.3530)`, {
      option: 'normalize',
    });
  }
  const norm = { mean: nums(parts[0]!), std: nums(parts[1]!) };
  validateNormalization(norm);
  return norm;
}

/** The same samples under another per-sample shape (same element count). */
export function reshapeDataset(dataset: Dataset, sampleShape: readonly number[]): Dataset {
  if (sampleShape.length === 0 || sampleShape.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
    fail(ErrorCodes.INVALID_OPTION, `reshape needs positive integer dims, got ${formatShape(sampleShape)}`, { option: 'reshape' });
  }
  const have = shapeSize(dataset.sampleShape);
  const want = shapeSize(sampleShape);
  if (have !== want) {
    fail(
      ErrorCodes.DATA_MISMATCH,
      `cannot reshape samples of ${formatShape(dataset.sampleShape)} (${have} values) to ${formatShape(sampleShape)} (${want} values)`,
      { option: 'reshape' },
    );
  }
  return { ...dataset, sampleShape: [...sampleShape] };
}

/** Model input dims as the ONNX layer reports them: numbers, symbolic names, or unknown. */
export type ModelDims = readonly (number | string | undefined)[];

export interface FitOptions {
  /** Input name for messages; default `input`. */
  inputName?: string;
  /**
   * Explicitly allow feeding each sample flattened when the model wants a flat vector
   * ([N,K] with K = prod(sampleShape)). Never done without this flag.
   */
  flatten?: boolean;
}

export interface ModelInputFit {
  /** Per-sample shape to feed (the dataset's, or [K] when flattened). */
  sampleShape: number[];
  flattened: boolean;
  /** The model's fixed batch size, or null when the batch dim is symbolic/unknown. */
  fixedBatch: number | null;
}

function isWildcard(d: number | string | undefined): boolean {
  return typeof d !== 'number' || d < 0;
}

/**
 * Checks that the dataset's samples fit a model input. The batch dim may be symbolic,
 * unknown or a number; any symbolic/unknown (or -1) dim matches any size. Throws
 * DATA_MISMATCH such as "data samples are [1,28,28] but model input 'input' expects
 * [N,3,32,32]", with a hint when a reshape or a layout change would fit.
 */
export function checkFitsModelInput(dataset: Pick<Dataset, 'sampleShape'>, inputDims: ModelDims, options: FitOptions = {}): ModelInputFit {
  const name = options.inputName ?? 'input';
  const sample = dataset.sampleShape;
  const head = `data samples are ${formatShape(sample)} but model input '${name}' expects ${formatShape(inputDims)}`;
  const mismatch = (hint?: string): never =>
    fail(ErrorCodes.DATA_MISMATCH, hint ? `${head}; ${hint}` : head, {
      input: name,
      dataShape: sample,
      modelDims: [...inputDims],
    });
  if (inputDims.length === 0) mismatch('the input is a scalar, not a batch of samples');
  const b = inputDims[0];
  const fixedBatch = isWildcard(b) ? null : (b as number);
  if (fixedBatch === 0) mismatch('the batch dimension is 0');
  const want = inputDims.slice(1);
  const per = shapeSize(sample);
  if (want.length === sample.length && want.every((d, i) => isWildcard(d) || d === sample[i])) {
    return { sampleShape: [...sample], flattened: false, fixedBatch };
  }
  if (want.length === 1 && sample.length > 1 && (isWildcard(want[0]) || want[0] === per)) {
    if (options.flatten) return { sampleShape: [per], flattened: true, fixedBatch };
    mismatch(`the model wants a flat vector of ${per} values per sample: flatten explicitly (reshape the data to [${per}])`);
  }
  if (want.every((d) => typeof d === 'number' && d > 0)) {
    const w = want as number[];
    if (shapeSize(w) === per) {
      const sorted = (a: readonly number[]): string => [...a].sort((x, y) => x - y).join(',');
      if (w.length === sample.length && sorted(w) === sorted(sample)) {
        mismatch(`the same dims in another order: the data may be in another layout (NCHW vs NHWC)`);
      }
      mismatch(`the element counts agree (${per}); reshape the data to ${formatShape(w)} explicitly if that is what you mean`);
    }
  }
  return mismatch();
}

/** DATA_MISMATCH when a label is negative or ≥ numClasses. */
export function checkLabelRange(dataset: Dataset, numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses <= 0) {
    fail(ErrorCodes.INVALID_OPTION, `the number of classes must be a positive integer, got ${numClasses}`, { option: 'numClasses' });
  }
  const labels = dataset.labels;
  if (!labels) return;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l < 0 || l >= numClasses) {
      const file = dataset.sampleFiles?.[i];
      const cls = dataset.classNames?.[l];
      fail(
        ErrorCodes.DATA_MISMATCH,
        file !== undefined
          ? `${file}: its class${cls !== undefined ? ` '${cls}'` : ''} has label ${l}, outside 0..${numClasses - 1} (${numClasses} classes)`
          : `${dataset.name}: label ${l} of sample ${i} is outside 0..${numClasses - 1} (${numClasses} classes)`,
        { sample: i, label: l, numClasses, ...(file !== undefined ? { file } : {}) },
      );
    }
  }
}

function checkBatchSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0) {
    fail(ErrorCodes.INVALID_OPTION, `batch size must be a positive integer, got ${size}`, { option: 'batchSize' });
  }
}
