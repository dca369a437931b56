/**
 * Image decoding and preprocessing for image-folder datasets (docs/data.md, "Image folders").
 *
 * PNG is decoded by pngjs (MIT, JavaScript) and JPEG by mozjpeg compiled to WebAssembly
 * (@jsquash/jpeg, Apache-2.0; libjpeg-turbo's decoder, so the pixels are PIL's): no native
 * binary, the same pixels on every machine, and synchronous calls that run on the main thread
 * or on worker threads (stream.ts). Both are loaded on first use.
 *
 * The pipeline is integer up to the last step, as torchvision's on PIL images:
 *   decode (8-bit) → colour (rgb | bgr | gray: ITU-R 601 luma as PIL's convert('L'))
 *   → resize (PIL's bilinear filter with antialiasing, 8-bit fixed point, as Image.resize)
 *   → center crop (torchvision's offsets) → CHW or HWC uint8.
 * Scaling (pixel / 255) and per-channel normalization are the data layer's, applied to the
 * uint8 samples exactly as for uint8 IDX/.npy data.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fail, ErrorCodes, isHbnnError } from '../errors.js';
import { NAMED_NORMALIZATIONS, type Normalization, validateNormalization } from './dataset.js';

export type ColorMode = 'rgb' | 'bgr' | 'gray';

export interface Size2 {
  height: number;
  width: number;
}

/** How images of a folder become samples. */
export interface ImagePreprocessing {
  /** Channel order, or one luma channel. Default rgb (torchvision's loader converts to RGB). */
  color: ColorMode;
  /** Resize: the short side to `short` (aspect kept, torchvision Resize(int)), or to exactly height × width. */
  resize?: { short: number } | Size2;
  /** Center crop to height × width (after the resize). */
  crop?: Size2;
  /** Per-channel (x/255 − mean) / std. */
  normalize?: Normalization;
  /** A text file naming the classes, one per line: line k is label k. Default: subfolders sorted by name. */
  classesFile?: string;
}

function copyNorm(n: Readonly<Normalization>): Normalization {
  return { mean: [...n.mean], std: [...n.std] };
}

/** The named presets: `folder:DIR:imagenet` and so on. */
export const IMAGE_PRESETS: Readonly<Record<'imagenet' | 'cifar10' | 'fmnist', Readonly<ImagePreprocessing>>> = Object.freeze({
  /** torchvision's ImageNet evaluation transform: Resize(256), CenterCrop(224), ImageNet mean/std. */
  imagenet: {
    color: 'rgb',
    resize: { short: 256 },
    crop: { height: 224, width: 224 },
    normalize: copyNorm(NAMED_NORMALIZATIONS.imagenet),
  },
  /** CIFAR-10 32×32 RGB with the training set's per-channel mean/std. */
  cifar10: {
    color: 'rgb',
    normalize: copyNorm(NAMED_NORMALIZATIONS.cifar10),
  },
  /** Fashion-MNIST 28×28 grayscale with the bundled models' normalization (FMNIST_NORMALIZATION). */
  fmnist: {
    color: 'gray',
    normalize: copyNorm(NAMED_NORMALIZATIONS.fmnist),
  },
});

export type ImagePresetName = keyof typeof IMAGE_PRESETS;

/** File extensions read as images (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;
/** Image extensions recognised but not decoded: a file with one is an error rather than skipped. */
export const UNSUPPORTED_IMAGE_EXTENSIONS = ['.bmp', '.gif', '.webp', '.tif', '.tiff', '.ppm', '.pgm', '.pbm', '.heic', '.avif'] as const;

function prepError(text: string, why: string): never {
  return fail(
    ErrorCodes.INVALID_OPTION,
    `bad image preprocessing '${text}': ${why} (a preset imagenet, cifar10, fmnist, and/or key=value items: ` +
      `resize=N or HxW, crop=N or HxW, mean=a,b,c, std=a,b,c, rgb | bgr | gray, classes=FILE)`,
    { option: 'data' },
  );
}

const FLAG_WORDS = new Set(['rgb', 'bgr', 'gray', 'grey', 'grayscale']);
const KEYS = new Set(['resize', 'crop', 'mean', 'std', 'color', 'classes']);

/** True when `text` reads as a preprocessing string (a preset, a colour word, or key=value items) rather than a path. */
export function looksLikeImagePreprocessing(text: string): boolean {
  const first = text.split(',')[0]!.trim().toLowerCase();
  if (first in IMAGE_PRESETS || FLAG_WORDS.has(first)) return true;
  const eq = first.indexOf('=');
  return eq > 0 && KEYS.has(first.slice(0, eq));
}

/**
 * Parses a preprocessing string: items separated by commas, each a preset name (imagenet,
 * cifar10, fmnist: its settings, later items override), a colour word (rgb, bgr, gray) or
 * key=value (resize=256, resize=224x224, crop=224, mean=0.485,0.456,0.406, std=...,
 * color=bgr, classes=labels.txt). A bare number continues the list of the mean or std before it.
 * An empty string is the default: rgb, no resize, no crop, no normalization.
 */
export function parseImagePreprocessing(text: string): ImagePreprocessing {
  const out: ImagePreprocessing = { color: 'rgb' };
  const t = text.trim();
  if (t === '') return out;
  let list: number[] | undefined;
  let listKey = '';
  const finishList = (): void => {
    if (list === undefined) return;
    const prev = out.normalize ?? { mean: [], std: [] };
    out.normalize = listKey === 'mean' ? { mean: list, std: prev.std } : { mean: prev.mean, std: list };
    list = undefined;
  };
  const size = (key: string, v: string): Size2 => {
    const m = /^(\d+)(?:x(\d+))?$/i.exec(v);
    if (!m) prepError(text, `${key}= needs N or HxW with positive integers, got '${v}'`);
    const h = Number(m[1]);
    const w = m[2] === undefined ? h : Number(m[2]);
    if (h <= 0 || w <= 0 || h > 65535 || w > 65535) prepError(text, `${key}= sizes must be 1..65535, got '${v}'`);
    return { height: h, width: w };
  };
  const num = (v: string): number => {
    const x = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(x)) prepError(text, `'${v}' is not a number`);
    return x;
  };
  const items = t.split(',').map((s) => s.trim());
  items.forEach((item, i) => {
    if (item === '') prepError(text, 'an empty item');
    const eq = item.indexOf('=');
    if (eq < 0) {
      const word = item.toLowerCase();
      if (list !== undefined && /^[-+.\d]/.test(item)) {
        list.push(num(item));
        return;
      }
      finishList();
      if (word in IMAGE_PRESETS) {
        if (i !== 0) prepError(text, `the preset ${word} must come first (later items override it)`);
        const p = IMAGE_PRESETS[word as ImagePresetName];
        out.color = p.color;
        if (p.resize) out.resize = { ...p.resize };
        if (p.crop) out.crop = { ...p.crop };
        if (p.normalize) out.normalize = { mean: [...p.normalize.mean], std: [...p.normalize.std] };
        return;
      }
      if (FLAG_WORDS.has(word)) {
        out.color = word === 'rgb' || word === 'bgr' ? word : 'gray';
        return;
      }
      prepError(text, `unknown item '${item}'`);
    }
    finishList();
    const key = item.slice(0, eq).trim().toLowerCase();
    const value = item.slice(eq + 1).trim();
    switch (key) {
      case 'resize': {
        if (/^\d+$/.test(value)) {
          const n = Number(value);
          if (n <= 0 || n > 65535) prepError(text, `resize= must be 1..65535, got '${value}'`);
          out.resize = { short: n };
        } else out.resize = size('resize', value);
        return;
      }
      case 'crop':
        out.crop = size('crop', value);
        return;
      case 'mean':
      case 'std':
        list = [num(value)];
        listKey = key;
        return;
      case 'color': {
        const w = value.toLowerCase();
        if (!FLAG_WORDS.has(w)) prepError(text, `color= must be rgb, bgr or gray, got '${value}'`);
        out.color = w === 'rgb' || w === 'bgr' ? w : 'gray';
        return;
      }
      case 'classes':
        if (value === '') prepError(text, 'classes= needs a file');
        out.classesFile = value;
        return;
      default:
        prepError(text, `unknown key '${key}='`);
    }
  });
  finishList();
  if (out.normalize) {
    if (out.normalize.mean.length === 0 || out.normalize.std.length === 0) prepError(text, 'mean= and std= must be given together');
    const channels = out.color === 'gray' ? 1 : 3;
    if (out.normalize.mean.length !== out.normalize.std.length) prepError(text, `mean= has ${out.normalize.mean.length} values but std= has ${out.normalize.std.length}`);
    if (out.normalize.mean.length !== 1 && out.normalize.mean.length !== channels) {
      prepError(text, `mean= and std= need 1 or ${channels} values for ${out.color} images, got ${out.normalize.mean.length}`);
    }
    validateNormalization(out.normalize, channels);
  }
  return out;
}

/** The canonical text of a preprocessing record (parseImagePreprocessing reads it back). */
export function formatImagePreprocessing(p: ImagePreprocessing): string {
  const items: string[] = [p.color];
  const sz = (s: Size2): string => (s.height === s.width ? `${s.height}` : `${s.height}x${s.width}`);
  if (p.resize) items.push(`resize=${'short' in p.resize ? p.resize.short : sz(p.resize)}`);
  if (p.crop) items.push(`crop=${sz(p.crop)}`);
  if (p.normalize) items.push(`mean=${p.normalize.mean.join(',')}`, `std=${p.normalize.std.join(',')}`);
  if (p.classesFile !== undefined) items.push(`classes=${p.classesFile}`);
  return items.join(',');
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** A decoded image: 8-bit, interleaved, `channels` per pixel (1 or 3). */
export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** The embind interface of @jsquash/jpeg's mozjpeg decoder (RGBA out; null when it cannot). */
interface MozJpeg {
  decode(data: Uint8Array, preserveOrientation: boolean): { width: number; height: number; data: Uint8ClampedArray } | null;
}
interface PngJs {
  PNG: { sync: { read(data: Buffer): { width: number; height: number; data: Buffer } } };
}

const require_ = createRequire(import.meta.url);
let pngJs: PngJs | undefined;
const JPEG_CODEC = '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
/** The compiled decoder (kept) and an instance with the messages libjpeg printed (replaced after a fatal error). */
/** The part of the WebAssembly API used here (the project's TypeScript lib has no DOM/WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
let jpegWasm: object | undefined;
let jpegInstance: { codec: MozJpeg; messages: string[] } | undefined;

/**
 * A mozjpeg instance, made synchronously: the WebAssembly module is compiled once and
 * instantiated with emscripten's instantiateWasm hook, so the embind functions exist as soon as
 * the factory returns. libjpeg's warnings and errors go to `messages` instead of stderr.
 */
function mozjpeg(): { codec: MozJpeg; messages: string[] } {
  if (jpegInstance) return jpegInstance;
  const factory = decoder<{ default: (arg: Record<string, unknown>) => Promise<unknown> }>(JPEG_CODEC).default;
  if (!jpegWasm) {
    const file = path.join(path.dirname(require_.resolve(JPEG_CODEC)), 'mozjpeg_dec.wasm');
    jpegWasm = new WA.Module(fs.readFileSync(file));
  }
  const wasm = jpegWasm;
  const messages: string[] = [];
  const arg: Record<string, unknown> = {
    noInitialRun: true,
    print: (m: string) => messages.push(m),
    printErr: (m: string) => messages.push(m),
    instantiateWasm: (imports: object, done: (i: { exports: object }) => void) => {
      const instance = new WA.Instance(wasm, imports);
      done(instance);
      return instance.exports;
    },
  };
  factory(arg).catch(() => undefined);
  const codec = arg as unknown as MozJpeg;
  if (typeof codec.decode !== 'function') fail(ErrorCodes.INTERNAL, `the JPEG decoder (${JPEG_CODEC}) did not start`);
  return (jpegInstance = { codec, messages });
}

/** libjpeg warnings that mean the data is damaged (the image would be partly invented), not merely odd. */
const JPEG_DAMAGE = /premature end|corrupt|bogus|invalid|unsupported|not a jpeg|wrong|bad /i;

function decodeJpeg(bytes: Uint8Array): RawImage {
  const dec = mozjpeg();
  dec.messages.length = 0;
  let out: ReturnType<MozJpeg['decode']>;
  try {
    out = dec.codec.decode(bytes, false);
  } catch (e) {
    // A fatal libjpeg error ends the emscripten program: start a fresh instance next time.
    jpegInstance = undefined;
    throw new Error(dec.messages.join('; ') || (e as Error).message || String(e));
  }
  const damage = dec.messages.find((m) => JPEG_DAMAGE.test(m));
  if (!out || damage !== undefined) throw new Error(damage ?? (dec.messages.join('; ') || 'the decoder returned nothing'));
  checkDecoded(out.width, out.height, out.data.length, 4);
  const n = out.width * out.height;
  const src = out.data;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    data[3 * i] = src[4 * i]!;
    data[3 * i + 1] = src[4 * i + 1]!;
    data[3 * i + 2] = src[4 * i + 2]!;
  }
  return { width: out.width, height: out.height, channels: 3, data };
}

function decoder<T>(name: string): T {
  try {
    return require_(name) as T;
  } catch (e) {
    return fail(
      ErrorCodes.INTERNAL,
      `cannot load the image decoder '${name}' (${(e as Error).message.split('\n')[0]}); it is a dependency of hbnn-onnx (npm install), and the JPEG decoder, an ES module, needs Node 20.19 or later`,
      {},
      e,
    );
  }
}

/** Sniffs PNG / JPEG from the first bytes. */
export function imageKind(bytes: Uint8Array): 'png' | 'jpeg' | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/** Largest image decoded, in pixels. */
const MAX_PIXELS = 100_000_000;

/** Decodes a PNG or JPEG file's bytes (told apart by content, not by name). DATA_FORMAT naming `file` when it cannot. */
export function decodeImage(bytes: Uint8Array, file: string): RawImage {
  const kind = imageKind(bytes);
  if (kind === undefined) {
    fail(ErrorCodes.DATA_FORMAT, `${file}: not a PNG or JPEG image (the first bytes are neither 89 50 4E 47 nor FF D8 FF)`, { file });
  }
  try {
    if (kind === 'jpeg') return decodeJpeg(bytes);
    pngJs ??= decoder<PngJs>('pngjs');
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const img = pngJs.PNG.sync.read(buf);
    checkDecoded(img.width, img.height, img.data.length, 4);
    // pngjs returns 8-bit RGBA (gray replicated, 16-bit scaled down); alpha is dropped as PIL's convert('RGB') does.
    const n = img.width * img.height;
    const src = img.data;
    let gray = true;
    for (let i = 0; i < n && gray; i++) gray = src[4 * i] === src[4 * i + 1] && src[4 * i] === src[4 * i + 2];
    if (gray) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = src[4 * i]!;
      return { width: img.width, height: img.height, channels: 1, data };
    }
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) {
      data[3 * i] = src[4 * i]!;
      data[3 * i + 1] = src[4 * i + 1]!;
      data[3 * i + 2] = src[4 * i + 2]!;
    }
    return { width: img.width, height: img.height, channels: 3, data };
  } catch (e) {
    if (isHbnnError(e)) throw e;
    return fail(
      ErrorCodes.DATA_FORMAT,
      `${file}: corrupt or unsupported ${kind === 'png' ? 'PNG' : 'JPEG'} (${(e as Error).message ?? String(e)})`,
      { file },
      e,
    );
  }
}

/** Throws (turned into DATA_FORMAT naming the file by decodeImage) when a decoder returned an impossible image. */
function checkDecoded(width: number, height: number, length: number, channels: number): void {
  if (!(width > 0 && height > 0) || length !== width * height * channels) {
    throw new Error(`decoded ${width}x${height} with ${length} bytes`);
  }
  if (width * height > MAX_PIXELS) throw new Error(`${width}x${height} is larger than ${MAX_PIXELS / 1e6} megapixels`);
}

// ---------------------------------------------------------------------------------------------
// Colour, resize, crop

/** The image in `mode`: gray is PIL's convert('L') luma (R·299 + G·587 + B·114)/1000 in 16-bit fixed point. */
export function convertColor(img: RawImage, mode: ColorMode): RawImage {
  const n = img.width * img.height;
  const src = img.data;
  if (mode === 'gray') {
    if (img.channels === 1) return img;
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = (src[3 * i]! * 19595 + src[3 * i + 1]! * 38470 + src[3 * i + 2]! * 7471 + 0x8000) >>> 16;
    return { ...img, channels: 1, data };
  }
  if (img.channels === 1) {
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = src[i]!;
    return { ...img, channels: 3, data };
  }
  if (mode === 'rgb') return img;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    data[3 * i] = src[3 * i + 2]!;
    data[3 * i + 1] = src[3 * i + 1]!;
    data[3 * i + 2] = src[3 * i]!;
  }
  return { ...img, channels: 3, data };
}

/** Output size of torchvision's Resize(short) for a width × height image: the long side is truncated. */
export function shortSideSize(width: number, height: number, short: number): Size2 {
  if (width <= height) return { width: short, height: Math.trunc((short * height) / width) };
  return { height: short, width: Math.trunc((short * width) / height) };
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** PIL's precompute_coeffs for the bilinear (triangle) filter, normalized to 8-bit fixed point. */
function coefficients(inSize: number, outSize: number): { bounds: Int32Array; ksize: number; k: Float64Array } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const k = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const ss = 1 / filterscale;
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let ww = 0;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const f = t < 1 ? 1 - t : 0;
      w[x] = f;
      ww += f;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      // normalize_coeffs_8bpc: round half away from zero to fixed point
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, ksize, k };
}

function clip8(ss: number): number {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Resizes as PIL's Image.resize(size, BILINEAR) on an 8-bit image: horizontal pass, then vertical, each rounded to 8 bits. */
export function resizeBilinear(img: RawImage, width: number, height: number): RawImage {
  const c = img.channels;
  let cur = img;
  if (width !== cur.width) {
    const { bounds, ksize, k } = coefficients(cur.width, width);
    const out = new Uint8Array(width * cur.height * c);
    const src = cur.data;
    for (let y = 0; y < cur.height; y++) {
      const row = y * cur.width * c;
      for (let xx = 0; xx < width; xx++) {
        const xmin = bounds[2 * xx]!;
        const xmax = bounds[2 * xx + 1]!;
        const kb = xx * ksize;
        const o = (y * width + xx) * c;
        if (c === 3) {
          let s0 = HALF;
          let s1 = HALF;
          let s2 = HALF;
          for (let x = 0, p = row + xmin * 3; x < xmax; x++, p += 3) {
            const w = k[kb + x]!;
            s0 += src[p]! * w;
            s1 += src[p + 1]! * w;
            s2 += src[p + 2]! * w;
          }
          out[o] = clip8(s0);
          out[o + 1] = clip8(s1);
          out[o + 2] = clip8(s2);
          continue;
        }
        for (let ch = 0; ch < c; ch++) {
          let ss = HALF;
          for (let x = 0; x < xmax; x++) ss += src[row + (x + xmin) * c + ch]! * k[kb + x]!;
          out[o + ch] = clip8(ss);
        }
      }
    }
    cur = { width, height: cur.height, channels: c, data: out };
  }
  if (height !== cur.height) {
    const { bounds, ksize, k } = coefficients(cur.height, height);
    const out = new Uint8Array(cur.width * height * c);
    const src = cur.data;
    const stride = cur.width * c;
    const acc = new Float64Array(stride);
    for (let yy = 0; yy < height; yy++) {
      const ymin = bounds[2 * yy]!;
      const ymax = bounds[2 * yy + 1]!;
      const kb = yy * ksize;
      // Accumulate whole rows (contiguous) tap by tap.
      acc.fill(HALF);
      for (let y = 0; y < ymax; y++) {
        const w = k[kb + y]!;
        const r = (y + ymin) * stride;
        for (let i = 0; i < stride; i++) acc[i] += src[r + i]! * w;
      }
      const o = yy * stride;
      for (let i = 0; i < stride; i++) out[o + i] = clip8(acc[i]!);
    }
    cur = { width: cur.width, height, channels: c, data: out };
  }
  return cur;
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The sample shape (without batch) that `prep` gives for a `width × height` image, or undefined when it depends on nothing fixed. */
export function preprocessedSize(width: number, height: number, prep: ImagePreprocessing): Size2 {
  if (prep.crop) return { ...prep.crop };
  if (prep.resize) return 'short' in prep.resize ? shortSideSize(width, height, prep.resize.short) : { ...prep.resize };
  return { width, height };
}

/**
 * Decodes and preprocesses one image file's bytes into a uint8 sample, CHW (`chw` true) or HWC.
 * When `expect` is given, a sample of another size is DATA_MISMATCH naming the file.
 */
export function preprocessImage(
  bytes: Uint8Array,
  file: string,
  prep: ImagePreprocessing,
  chw: boolean,
  expect?: { size: Size2; from: string },
): { size: Size2; channels: number; data: Uint8Array } {
  let img = convertColor(decodeImage(bytes, file), prep.color);
  if (prep.resize) {
    const s = 'short' in prep.resize ? shortSideSize(img.width, img.height, prep.resize.short) : prep.resize;
    if (s.width !== img.width || s.height !== img.height) img = resizeBilinear(img, s.width, s.height);
  }
  if (prep.crop) {
    const { height: ch, width: cw } = prep.crop;
    if (ch > img.height || cw > img.width) {
      fail(
        ErrorCodes.DATA_MISMATCH,
        `${file}: the image is ${img.width}x${img.height}${prep.resize ? ' after the resize' : ''}, smaller than the crop ${cw}x${ch} (width x height); resize first (resize=N)`,
        { file },
      );
    }
    if (ch !== img.height || cw !== img.width) {
      const top = roundHalfEven((img.height - ch) / 2);
      const left = roundHalfEven((img.width - cw) / 2);
      const c = img.channels;
      const data = new Uint8Array(ch * cw * c);
      for (let y = 0; y < ch; y++) data.set(img.data.subarray(((y + top) * img.width + left) * c, ((y + top) * img.width + left + cw) * c), y * cw * c);
      img = { width: cw, height: ch, channels: c, data };
    }
  }
  if (expect && (img.width !== expect.size.width || img.height !== expect.size.height)) {
    // Only reachable without a crop: with a crop every sample has the crop's size.
    const how = prep.resize
      ? '; resize=N keeps the aspect ratio, so images of other shapes differ: add crop=N (or resize=HxW) for a fixed size'
      : '; images of different sizes need resize= and/or crop= (e.g. resize=32,crop=32)';
    fail(
      ErrorCodes.DATA_MISMATCH,
      `${file}: the image is ${img.width}x${img.height}${prep.resize ? ' after the resize' : ''} but ${expect.from} (the first image) gives ${expect.size.width}x${expect.size.height} (width x height)${how}`,
      { file },
    );
  }
  const c = img.channels;
  if (!chw || c === 1) return { size: { width: img.width, height: img.height }, channels: c, data: img.data };
  const plane = img.width * img.height;
  const data = new Uint8Array(plane * c);
  const src = img.data;
  for (let i = 0; i < plane; i++) for (let ch = 0; ch < c; ch++) data[ch * plane + i] = src[i * c + ch]!;
  return { size: { width: img.width, height: img.height }, channels: c, data };
}

/** Validates a preset-or-explicit normalization against the colour mode's channel count. */
export function imageChannels(prep: ImagePreprocessing): number {
  return prep.color === 'gray' ? 1 : 3;
}
