/**
 * Data SPEC strings and `loadDataset`.
 *
 * Grammar (see DATA_SPEC_HELP and docs/data.md):
 *   fmnist:test | fmnist:train              full Fashion-MNIST (Debian dataset-fashion-mnist)
 *   fmnist-mini:test | fmnist-mini:train    the bundled slice (2000 test / 4000 train)
 *   idx:IMAGES[,LABELS]                     IDX files, gzipped or not
 *   npy:X.npy[,Y.npy]                       NumPy arrays
 *   pb:DIR                                  an ONNX test_data_set folder (inputs only)
 *   folder:DIR[:PREPROCESSING]              an image folder (ImageFolder layout), PNG/JPEG
 *   cifar10:DIR:train|test                  CIFAR-10 binary batches
 *   cifar100:DIR:train|test[:fine|coarse]   CIFAR-100 binary batches
 *   PATH                                    a folder of IDX files, a test_data_set folder,
 *                                           a .npy file or an IDX file
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../errors.js';
import {
  type Dataset,
  type Layout,
  type Normalization,
  channelAxis,
  checkLabelRange,
  normalizeInPlace,
  reshapeDataset,
  validateNormalization,
} from './dataset.js';
import { readIdx } from './idx.js';
import { type NdArray, formatShape, shapeSize, sliceFirst } from './ndarray.js';
import { readNpy } from './npy.js';
import { FMNIST_DIR_ENV, FMNIST_FILES, bundledFmnistDir, findIdxFile, fmnistDir } from './paths.js';
import { type TensorData, type TensorDecoder, looksLikeTestDataSet, readTestDataSet } from './test-data-set.js';
import { CIFAR_PIXELS, CIFAR_SAMPLE_SHAPE, type CifarLabel, type CifarSplit, type CifarVariant, openCifar, readCifarRange } from './cifar.js';
import { decodeImagesInto, imageGeometry, listImageFolder } from './folder.js';
import { type ImagePreprocessing, formatImagePreprocessing, looksLikeImagePreprocessing, parseImagePreprocessing } from './image.js';

export type DataSpec =
  | { kind: 'fmnist'; split: 'train' | 'test'; bundled: boolean }
  | { kind: 'idx'; images: string; labels?: string }
  | { kind: 'npy'; x: string; y?: string }
  | { kind: 'pb'; dir: string }
  | { kind: 'folder'; dir: string; prep: ImagePreprocessing }
  | { kind: 'cifar'; variant: CifarVariant; dir: string; split: CifarSplit; label: CifarLabel }
  | { kind: 'path'; path: string };

export const DATA_SPEC_HELP = `Data SPEC forms:
  fmnist:test, fmnist:train
      Fashion-MNIST from the Debian package dataset-fashion-mnist
      (/usr/share/datasets/fashion-mnist; override with $${FMNIST_DIR_ENV}).
  fmnist-mini:test, fmnist-mini:train
      The slice bundled with hbnn-onnx: the first 2000 test / 4000 training images.
  idx:IMAGES[,LABELS]
      IDX files (MNIST layout), gzipped or not, e.g. idx:imgs.idx3-ubyte.gz,labels.idx1-ubyte.gz
  npy:X.npy[,Y.npy]
      NumPy arrays: X is [N,...sample], Y is [N] integer class labels.
  pb:DIR
      An ONNX test_data_set folder (input_K.pb); inputs only, no labels.
  folder:DIR[:PREPROCESSING]
      Images (PNG, JPEG) in one subfolder per class (torchvision's ImageFolder layout;
      classes sorted by name, or classes=FILE). PREPROCESSING: a preset imagenet, cifar10
      or fmnist, and/or items resize=N|HxW, crop=N|HxW, mean=a,b,c, std=a,b,c, rgb|bgr|gray,
      e.g. folder:val:imagenet, folder:imgs:resize=256,crop=224,mean=0.5,std=0.25,bgr
  cifar10:DIR:train|test, cifar100:DIR:train|test[:fine|coarse]
      CIFAR binary batches (data_batch_N.bin / test_batch.bin; train.bin / test.bin).
  PATH
      A folder with one *-images-idx3-ubyte[.gz] (and its *-labels-idx1-ubyte[.gz]),
      a test_data_set folder, a .npy file, or an IDX file.
uint8 data is scaled by 1/255, float data is left as is. Then the input normalization:
--normalize, else the model's hbnn.input_normalization record (the bundled models record
0.286:0.353, the same as 'fmnist'), else none (said in one line).`;

const SCHEMES = ['fmnist', 'fmnist-mini', 'idx', 'npy', 'pb', 'folder', 'cifar10', 'cifar100'] as const;

function specError(spec: string, why: string): never {
  return fail(ErrorCodes.INVALID_OPTION, `bad data spec '${spec}': ${why}\n${DATA_SPEC_HELP}`, { option: 'data', spec });
}

/** Parses a SPEC string. Pure: does not touch the file system. INVALID_OPTION on bad syntax. */
export function parseDataSpec(spec: string): DataSpec {
  const s = spec.trim();
  if (s === '') specError(spec, 'it is empty');
  if ((SCHEMES as readonly string[]).includes(s)) {
    specError(spec, s.startsWith('fmnist') ? `name the split: ${s}:test or ${s}:train` : `${s}: needs a path`);
  }
  const colon = s.indexOf(':');
  const scheme = colon > 0 ? s.slice(0, colon) : '';
  const rest = colon > 0 ? s.slice(colon + 1) : '';
  if ((SCHEMES as readonly string[]).includes(scheme)) {
    if (scheme === 'fmnist' || scheme === 'fmnist-mini') {
      if (rest !== 'test' && rest !== 'train') specError(spec, `the split must be 'test' or 'train', got '${rest}'`);
      return { kind: 'fmnist', split: rest as 'test' | 'train', bundled: scheme === 'fmnist-mini' };
    }
    if (rest === '') specError(spec, `${scheme}: needs a path`);
    if (scheme === 'pb') return { kind: 'pb', dir: rest };
    if (scheme === 'folder') {
      // folder:DIR[:PREPROCESSING]: the text after the last ':' is preprocessing when it reads as such.
      const last = rest.lastIndexOf(':');
      if (last > 0 && looksLikeImagePreprocessing(rest.slice(last + 1))) {
        return { kind: 'folder', dir: rest.slice(0, last), prep: parseImagePreprocessing(rest.slice(last + 1)) };
      }
      return { kind: 'folder', dir: rest, prep: parseImagePreprocessing('') };
    }
    if (scheme === 'cifar10' || scheme === 'cifar100') {
      const variant: CifarVariant = scheme === 'cifar10' ? 10 : 100;
      const parts = rest.split(':');
      let label: CifarLabel = 'fine';
      if (variant === 100 && (parts[parts.length - 1] === 'fine' || parts[parts.length - 1] === 'coarse') && parts.length >= 3) {
        label = parts.pop() as CifarLabel;
      }
      const split = parts.pop();
      const dir = parts.join(':');
      if (parts.length === 0 || dir === '' || (split !== 'train' && split !== 'test')) {
        specError(spec, `${scheme}: takes DIR:train or DIR:test${variant === 100 ? ' (optionally :fine or :coarse)' : ''}`);
      }
      return { kind: 'cifar', variant, dir, split: split as CifarSplit, label };
    }
    const parts = rest.split(',');
    if (parts.length > 2 || parts.some((p) => p === '')) {
      specError(spec, `${scheme}: takes one or two comma-separated paths (data[,labels])`);
    }
    if (scheme === 'idx') return parts[1] === undefined ? { kind: 'idx', images: parts[0]! } : { kind: 'idx', images: parts[0]!, labels: parts[1] };
    return parts[1] === undefined ? { kind: 'npy', x: parts[0]! } : { kind: 'npy', x: parts[0]!, y: parts[1] };
  }
  // An unknown word before ':' (not a drive letter, no path separators) is a misspelt scheme.
  if (colon > 1 && /^[A-Za-z][A-Za-z0-9_-]*$/.test(scheme)) {
    specError(spec, `unknown source '${scheme}:' (known: ${SCHEMES.map((x) => `${x}:`).join(' ')}); write ./${s} for a path`);
  }
  return { kind: 'path', path: s };
}

/** The canonical SPEC string of a parsed spec. */
export function formatDataSpec(spec: DataSpec): string {
  switch (spec.kind) {
    case 'fmnist':
      return `${spec.bundled ? 'fmnist-mini' : 'fmnist'}:${spec.split}`;
    case 'idx':
      return `idx:${spec.images}${spec.labels ? `,${spec.labels}` : ''}`;
    case 'npy':
      return `npy:${spec.x}${spec.y ? `,${spec.y}` : ''}`;
    case 'pb':
      return `pb:${spec.dir}`;
    case 'folder': {
      const prep = formatImagePreprocessing(spec.prep);
      return prep === 'rgb' ? `folder:${spec.dir}` : `folder:${spec.dir}:${prep}`;
    }
    case 'cifar':
      return `cifar${spec.variant}:${spec.dir}:${spec.split}${spec.variant === 100 && spec.label === 'coarse' ? ':coarse' : ''}`;
    case 'path':
      return spec.path;
  }
}

export interface LoadDatasetOptions {
  /** Keep only the first N samples (N > count keeps all). */
  limit?: number;
  /** Multiplier applied to the stored values. Default: 1/255 for uint8 data, 1 otherwise. */
  scale?: number;
  /** Per-channel `(x - mean) / std`, applied after `scale`. Default: none. */
  normalize?: Normalization;
  /** Sample layout; default NCHW (a [H,W] sample becomes [1,H,W]). */
  layout?: Layout;
  /** Explicit per-sample shape to reshape to (after normalization), e.g. [784]. */
  reshape?: number[];
  /** Number of classes; labels outside 0..numClasses-1 are DATA_MISMATCH. Default: 10 for fmnist, else max label + 1. */
  numClasses?: number;
  /** Folder of the full Fashion-MNIST (overrides $HBNN_FMNIST_DIR). */
  fmnistDir?: string;
  /** TensorProto decoder for pb: specs (the ONNX layer's decodeTensorProtoBytes). */
  decodeTensor?: TensorDecoder;
  /** For a test_data_set with several inputs: which one (name or index). Default: the only one. */
  pbInput?: string | number;
}

interface RawData {
  images: NdArray;
  imagesFile: string;
  labels?: NdArray;
  labelsFile?: string;
  numClasses?: number;
  files: string[];
  /** Normalization the source itself asks for (a folder's preprocessing). */
  normalize?: Normalization;
  classNames?: string[];
  sampleFiles?: string[];
}

/** Loads a dataset from a SPEC string (or a parsed DataSpec). */
export function loadDataset(spec: string | DataSpec, options: LoadDatasetOptions = {}): Dataset {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  const name = typeof spec === 'string' ? spec.trim() : formatDataSpec(spec);
  checkLoadOptions(options);
  const raw = loadRaw(parsed, options);
  return buildDataset(name, raw, { ...options, ...sourceNormalization(raw.normalize, options.normalize, name) });
}

/** The normalization to apply: the source's (a folder preset) or the option; both only when equal. */
export function sourceNormalization(fromSource: Normalization | undefined, fromOption: Normalization | undefined, name: string): { normalize?: Normalization } {
  if (fromSource && fromOption) {
    const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
    if (!same(fromSource.mean, fromOption.mean) || !same(fromSource.std, fromOption.std)) {
      fail(
        ErrorCodes.INVALID_OPTION,
        `${name} sets its own normalization (mean ${fromSource.mean.join(',')}, std ${fromSource.std.join(',')}); ` +
          `drop the separate normalization (--normalize) or make them the same`,
        { option: 'normalize' },
      );
    }
  }
  const n = fromSource ?? fromOption;
  return n ? { normalize: n } : {};
}

/** INVALID_OPTION for bad load option values (limit, numClasses, scale, layout, normalize, reshape). */
export function checkLoadOptions(o: LoadDatasetOptions): void {
  const positiveInt = (v: number | undefined, option: string): void => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) {
      fail(ErrorCodes.INVALID_OPTION, `${option} must be a positive integer, got ${v}`, { option });
    }
  };
  positiveInt(o.limit, 'limit');
  positiveInt(o.numClasses, 'numClasses');
  if (o.scale !== undefined && (!Number.isFinite(o.scale) || o.scale <= 0)) {
    fail(ErrorCodes.INVALID_OPTION, `scale must be a finite number > 0, got ${o.scale}`, { option: 'scale' });
  }
  if (o.layout !== undefined && o.layout !== 'NCHW' && o.layout !== 'NHWC' && o.layout !== 'raw') {
    fail(ErrorCodes.INVALID_OPTION, `layout must be NCHW, NHWC or raw, got '${String(o.layout)}'`, { option: 'layout' });
  }
  if (o.normalize !== undefined) validateNormalization(o.normalize);
  if (o.reshape !== undefined && (o.reshape.length === 0 || o.reshape.some((d) => !Number.isSafeInteger(d) || d <= 0))) {
    fail(ErrorCodes.INVALID_OPTION, `reshape needs positive integer dims, got ${formatShape(o.reshape)}`, { option: 'reshape' });
  }
}

function loadRaw(spec: DataSpec, options: LoadDatasetOptions): RawData {
  switch (spec.kind) {
    case 'fmnist':
      return loadFmnist(spec.split, spec.bundled, options);
    case 'idx':
      return withLabels(readIdx(spec.images), spec.images, spec.labels, readIdx);
    case 'npy':
      return withLabels(readNpy(spec.x), spec.x, spec.y, readNpy);
    case 'pb':
      return loadPb(spec.dir, options);
    case 'folder':
      return loadFolder(spec.dir, spec.prep, options);
    case 'cifar':
      return loadCifar(spec, options);
    case 'path':
      return loadPath(spec.path, options);
  }
}

/** Image layouts: NHWC gives [H,W,C] samples, anything else [C,H,W]. */
function imageLayout(options: LoadDatasetOptions): Layout {
  return options.layout === 'NHWC' ? 'NHWC' : 'NCHW';
}

function loadFolder(dir: string, prep: ImagePreprocessing, options: LoadDatasetOptions): RawData {
  const folder = listImageFolder(dir, prep.classesFile);
  const n = options.limit === undefined ? folder.files.length : Math.min(folder.files.length, options.limit);
  const files = folder.files.slice(0, n);
  const geom = imageGeometry(files[0]!, prep, imageLayout(options));
  const per = shapeSize(geom.sampleShape);
  const data = new Uint8Array(n * per);
  decodeImagesInto(files, prep, geom, data);
  const raw: RawData = {
    images: { dtype: 'uint8', shape: [n, ...geom.sampleShape], data },
    imagesFile: dir,
    labels: { dtype: 'int32', shape: [n], data: folder.labels.slice(0, n) },
    labelsFile: folder.classesFile ?? dir,
    numClasses: folder.classNames.length,
    files: folder.classesFile !== undefined ? [dir, folder.classesFile] : [dir],
    classNames: folder.classNames,
    sampleFiles: files,
  };
  if (prep.normalize) raw.normalize = prep.normalize;
  return raw;
}

function loadCifar(spec: Extract<DataSpec, { kind: 'cifar' }>, options: LoadDatasetOptions): RawData {
  const src = openCifar(spec.dir, spec.variant, spec.split, spec.label);
  const n = options.limit === undefined ? src.count : Math.min(src.count, options.limit);
  const data = new Uint8Array(n * CIFAR_PIXELS);
  const labels = new Int32Array(n);
  readCifarRange(src, 0, n, data, labels);
  const raw: RawData = {
    images: { dtype: 'uint8', shape: [n, ...CIFAR_SAMPLE_SHAPE], data },
    imagesFile: src.files[0]!,
    labels: { dtype: 'int32', shape: [n], data: labels },
    labelsFile: src.files[0]!,
    numClasses: src.numClasses,
    files: src.files,
  };
  if (src.classNames) raw.classNames = src.classNames;
  return raw;
}

function withLabels(images: NdArray, imagesFile: string, labelsFile: string | undefined, read: (f: string) => NdArray): RawData {
  const raw: RawData = { images, imagesFile, files: [imagesFile] };
  if (labelsFile !== undefined) {
    raw.labels = read(labelsFile);
    raw.labelsFile = labelsFile;
    raw.files.push(labelsFile);
  }
  return raw;
}

function loadFmnist(split: 'train' | 'test', bundled: boolean, options: LoadDatasetOptions): RawData {
  const dir = bundled ? bundledFmnistDir() : fmnistDir(options.fmnistDir);
  const stems = FMNIST_FILES[split];
  const found = { images: findIdxFile(dir, stems.images), labels: findIdxFile(dir, stems.labels) };
  const missing = (['images', 'labels'] as const).filter((k) => found[k] === undefined).map((k) => `${stems[k]}.gz`);
  if (missing.length > 0) {
    const where = path.join(dir, missing[0]!);
    if (bundled) {
      fail(
        ErrorCodes.FILE_NOT_FOUND,
        `the bundled Fashion-MNIST slice is missing from this installation: no ${where}; use fmnist:${split} (Debian package dataset-fashion-mnist) instead`,
        { file: where },
      );
    }
    const source =
      options.fmnistDir !== undefined && options.fmnistDir !== ''
        ? 'the fmnistDir option'
        : process.env[FMNIST_DIR_ENV]
          ? `$${FMNIST_DIR_ENV}`
          : 'the default location';
    fail(
      ErrorCodes.FILE_NOT_FOUND,
      `Fashion-MNIST not found: no ${where} (folder from ${source}). Install it with \`apt-get install dataset-fashion-mnist\`, ` +
        `point $${FMNIST_DIR_ENV} at a folder holding ${missing.join(' and ')}, or use the bundled slice fmnist-mini:${split}`,
      { file: where },
    );
  }
  const raw = withLabels(readIdx(found.images!), found.images!, found.labels!, readIdx);
  raw.numClasses = 10;
  return raw;
}

function loadPb(dir: string, options: LoadDatasetOptions): RawData {
  if (!fs.existsSync(dir)) fail(ErrorCodes.FILE_NOT_FOUND, `no such folder: ${dir}`, { file: dir });
  if (!options.decodeTensor) {
    fail(
      ErrorCodes.INVALID_OPTION,
      `reading ${dir} (a test_data_set folder) needs a TensorProto decoder: pass options.decodeTensor (the ONNX layer's decodeTensorProtoBytes)`,
      { option: 'decodeTensor', file: dir },
    );
  }
  const set = readTestDataSet(dir, options.decodeTensor);
  let pick = set.inputs[0]!;
  if (options.pbInput !== undefined) {
    const want = options.pbInput;
    const hit = typeof want === 'number' ? set.inputs[want] : set.inputs.find((t) => t.name === want);
    if (!hit) {
      fail(
        ErrorCodes.INVALID_OPTION,
        `${dir} has no input ${typeof want === 'number' ? `#${want}` : `'${want}'`} (inputs: ${set.inputs.map((t) => `'${t.name}'`).join(', ')})`,
        { option: 'pbInput', file: dir },
      );
    }
    pick = hit;
  } else if (set.inputs.length > 1) {
    fail(
      ErrorCodes.INVALID_OPTION,
      `${dir} holds ${set.inputs.length} inputs (${set.inputs.map((t) => `'${t.name}'`).join(', ')}); a dataset carries one: choose it with pbInput`,
      { option: 'pbInput', file: dir },
    );
  }
  return { images: tensorToNdArray(pick.data, pick.dims), imagesFile: pick.file, files: [pick.file] };
}

function tensorToNdArray(data: TensorData, dims: number[]): NdArray {
  const shape = [...dims];
  if (data instanceof Float32Array) return { dtype: 'float32', shape, data };
  if (data instanceof Float64Array) return { dtype: 'float64', shape, data };
  if (data instanceof Uint8Array) return { dtype: 'uint8', shape, data };
  if (data instanceof Int8Array) return { dtype: 'int8', shape, data };
  if (data instanceof Uint16Array) return { dtype: 'uint16', shape, data };
  if (data instanceof Int16Array) return { dtype: 'int16', shape, data };
  if (data instanceof Uint32Array) return { dtype: 'uint32', shape, data };
  if (data instanceof Int32Array) return { dtype: 'int32', shape, data };
  if (data instanceof BigInt64Array) return { dtype: 'int64', shape, data };
  return { dtype: 'uint64', shape, data };
}

const IDX_NAME = /idx\d+-ubyte(\.gz)?$|\.idx\d*(\.gz)?$/;

function loadPath(p: string, options: LoadDatasetOptions): RawData {
  if (!fs.existsSync(p)) fail(ErrorCodes.FILE_NOT_FOUND, `no such file or folder: ${p}`, { file: p });
  const st = fs.statSync(p);
  if (st.isFile()) {
    if (p.endsWith('.npy')) return withLabels(readNpy(p), p, undefined, readNpy);
    if (IDX_NAME.test(path.basename(p))) return withLabels(readIdx(p), p, undefined, readIdx);
    fail(
      ErrorCodes.INVALID_OPTION,
      `cannot tell the format of ${p} from its name (expected .npy or an IDX name like *-idx3-ubyte[.gz]); use npy: or idx:`,
      { option: 'data', file: p },
    );
  }
  if (looksLikeTestDataSet(p)) return loadPb(p, options);
  const names = fs.readdirSync(p).sort();
  const idx = names.filter((n) => IDX_NAME.test(n));
  // Prefer the plain file when both NAME and NAME.gz exist.
  const dedup = idx.filter((n) => !(n.endsWith('.gz') && idx.includes(n.slice(0, -3))));
  const images = dedup.filter((n) => /images?/i.test(n));
  const labels = dedup.filter((n) => /labels?/i.test(n));
  if (images.length === 0) {
    const sets = names.filter((n) => /^test_data_set_\d+$/.test(n));
    const hint = sets.length > 0 ? `; it holds ${sets.join(', ')}: use pb:${path.join(p, sets[0]!)}` : '';
    fail(ErrorCodes.DATA_FORMAT, `${p}: no IDX image file (*-images-idx3-ubyte[.gz]) and no input_K.pb files${hint}`, { file: p });
  }
  if (images.length > 1) {
    fail(
      ErrorCodes.INVALID_OPTION,
      `${p} holds several IDX image files (${images.join(', ')}); name one with idx:IMAGES[,LABELS]` +
        (images.some((n) => n.startsWith('t10k')) ? ' (or use fmnist:test / fmnist:train with HBNN_FMNIST_DIR)' : ''),
      { option: 'data', file: p },
    );
  }
  const img = images[0]!;
  const stem = img.slice(0, img.search(/images?/i));
  const label = labels.length === 1 ? labels[0] : labels.find((n) => n.startsWith(stem));
  return withLabels(
    readIdx(path.join(p, img)),
    path.join(p, img),
    label === undefined ? undefined : path.join(p, label),
    readIdx,
  );
}

function buildDataset(name: string, raw: RawData, options: LoadDatasetOptions): Dataset {
  let images = raw.images;
  if (images.shape.length < 2) {
    fail(
      ErrorCodes.DATA_FORMAT,
      `${raw.imagesFile}: data of shape ${formatShape(images.shape)} is not a batch of samples (need [N, ...sample])`,
      { file: raw.imagesFile },
    );
  }
  const total = images.shape[0]!;
  let labels: Int32Array | undefined;
  if (raw.labels) labels = toLabels(raw.labels, raw.labelsFile ?? '<labels>', total, raw.imagesFile);
  const count = options.limit === undefined ? total : Math.min(total, options.limit);
  images = sliceFirst(images, count);
  if (labels) labels = labels.subarray(0, count);

  const layout = options.layout ?? 'NCHW';
  let sampleShape = images.shape.slice(1);
  if (sampleShape.length === 2 && layout !== 'raw') {
    sampleShape = layout === 'NCHW' ? [1, ...sampleShape] : [...sampleShape, 1];
  } else if (sampleShape.length === 3 && layout !== 'raw') {
    checkLayoutPlausible(sampleShape, layout, raw.imagesFile);
  }

  const scale = options.scale ?? (images.dtype === 'uint8' ? 1 / 255 : 1);
  const data = scaledFloat32(images, scale);
  if (options.normalize) normalizeInPlace(data, sampleShape, options.normalize, channelAxis(layout, sampleShape));

  let ds: Dataset = {
    name,
    count,
    sampleShape,
    images: data,
    layout,
    preprocessing: options.normalize
      ? { scale, normalize: { mean: [...options.normalize.mean], std: [...options.normalize.std] } }
      : { scale },
    files: raw.files,
  };
  if (labels) ds.labels = labels;
  if (raw.classNames) ds.classNames = raw.classNames;
  if (raw.sampleFiles) ds.sampleFiles = raw.sampleFiles.slice(0, count);
  if (options.reshape) ds = reshapeDataset(ds, options.reshape);

  let numClasses = options.numClasses ?? raw.numClasses;
  if (numClasses === undefined && labels && labels.length > 0) {
    let max = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i]! > max) max = labels[i]!;
    numClasses = max + 1;
  }
  if (numClasses !== undefined) {
    ds.numClasses = numClasses;
    checkLabelRange(ds, numClasses);
  }
  return ds;
}

/** uint8 samples as float32 times `scale`, exactly as loadDataset scales uint8 data (pixel / 255 by default). */
export function uint8ToFloat32(data: Uint8Array, scale: number): Float32Array {
  return scaledFloat32({ dtype: 'uint8', shape: [data.length], data }, scale);
}

/** A fresh float32 copy of the array's values times `scale` (the reader's array is never modified). */
function scaledFloat32(array: NdArray, scale: number): Float32Array {
  const src = array.data;
  const out = new Float32Array(src.length);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!) * scale;
  } else if (scale === 1) {
    out.set(src);
  } else if (Number.isInteger(1 / scale)) {
    // Divide by an integer divisor (255) exactly as pixel/255 would, rather than multiply by its rounded inverse.
    const div = 1 / scale;
    for (let i = 0; i < src.length; i++) out[i] = src[i]! / div;
  } else {
    for (let i = 0; i < src.length; i++) out[i] = src[i]! * scale;
  }
  return out;
}

function toLabels(arr: NdArray, file: string, expected: number, imagesFile: string): Int32Array {
  const shape = arr.shape;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    fail(
      ErrorCodes.DATA_FORMAT,
      `${file}: labels must be class indices of shape [N] (or [N,1]), got ${formatShape(shape)}`,
      { file },
    );
  }
  if (shape[0] !== expected) {
    fail(
      ErrorCodes.DATA_MISMATCH,
      `${file} has ${shape[0]} labels but ${imagesFile} has ${expected} samples`,
      { file, labels: shape[0], samples: expected },
    );
  }
  const n = shapeSize(shape);
  const out = new Int32Array(n);
  const src = arr.data;
  for (let i = 0; i < n; i++) {
    const v = Number(src[i]!);
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
      fail(ErrorCodes.DATA_FORMAT, `${file}: label ${i} is ${v}, not an integer class index`, { file, sample: i });
    }
    out[i] = v;
  }
  return out;
}

/** Rejects 3-d samples whose declared channel axis looks like a spatial one and vice versa. */
function checkLayoutPlausible(sample: number[], layout: 'NCHW' | 'NHWC', file: string): void {
  const first = sample[0]!;
  const last = sample[2]!;
  const declared = layout === 'NCHW' ? first : last;
  const other = layout === 'NCHW' ? last : first;
  if (declared > 4 && other <= 4) {
    const guess = layout === 'NCHW' ? 'NHWC' : 'NCHW';
    fail(
      ErrorCodes.DATA_MISMATCH,
      `${file}: samples are ${formatShape(sample)}, which looks like ${guess} (${other} channels), not ${layout} (${declared} channels); ` +
        `set layout ${guess}, or layout raw to skip this check`,
      { file, option: 'layout' },
    );
  }
}
