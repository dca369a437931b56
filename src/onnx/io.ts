/**
 * Loading and saving ONNX models: bytes ↔ IR, files with external data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelProtoType, TensorProtoType, decodeMessage, encodeMessage, encodeMessageChunks, type ModelPb, type TensorPb } from './proto.js';
import { modelFromPb, modelToPb, tensorFromPb, tensorToPb, type TensorPbOptions } from './serde.js';
import { assertLooksLikeModel } from './sniff.js';
import { readLargeFields, readSkeleton, type Skeleton } from './stream-read.js';
import { Model, walkGraphs } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { dtypeBits, dtypeName } from '../ir/dtype.js';
import { fail, ErrorCodes, isHbnnError } from '../errors.js';
import { assertNotInput, readFileChecked, writeFileAtomic } from '../util/fs.js';

export interface LoadOptions {
  /** Folder that external data locations are relative to (default: the model file's folder). */
  baseDir?: string;
  /** Load external data into memory (default true). When false, external tensors stay unloaded. */
  loadExternalData?: boolean;
}

/** Decodes a model from bytes. External data is resolved against `opts.baseDir` when given. */
export function decodeModel(bytes: Uint8Array, opts: LoadOptions & { file?: string } = {}): Model {
  return typed(opts.file ?? 'model', () => {
    assertLooksLikeModel(bytes, opts.file);
    const pb = decodeMessage<ModelPb>(ModelProtoType, bytes, 'ModelProto', opts.file);
    const model = modelFromPb(pb, opts.file);
    if (opts.loadExternalData !== false) resolveExternalData(model, opts.baseDir, opts.file);
    return model;
  });
}

/**
 * Runs a decoding step so that whatever goes wrong surfaces as an HbnnError: errors that
 * are not (a bug, or an input this code did not foresee) become ONNX_DECODE, cause kept and
 * `context.unexpected` set (the robustness tests assert that this never happens).
 */
function typed<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isHbnnError(e)) throw e;
    const err = e as Error;
    return fail(ErrorCodes.ONNX_DECODE, `${what} could not be decoded: ${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`, { file: what, unexpected: true }, e);
  }
}

/**
 * Loads a model file (and its external data). Main-graph initializers with at least
 * `LARGE_RAW_BYTES` of raw data are read straight into buffers of their own (stream-read.ts):
 * the file's bytes are not held twice, a float32 weight is never copied to be aligned, and a
 * weight's memory goes when nothing uses it. The model is the one `decodeModel` gives from
 * the whole file (which any file the scan does not handle, or that fails to decode, goes to).
 */
export function loadModel(file: string, opts: LoadOptions = {}): Model {
  const decodeOpts = { ...opts, baseDir: opts.baseDir ?? path.dirname(path.resolve(file)), file };
  const model = loadLarge(file, decodeOpts) ?? decodeModel(readFileChecked(file), decodeOpts);
  model.sourcePath = path.resolve(file);
  return model;
}

/** raw_data of at least this many bytes is read into a buffer of its own by `loadModel`. */
export const LARGE_RAW_BYTES = 1 << 20;

/** `loadModel` through the skeleton of the file, or undefined (then the whole file is decoded, errors included). */
function loadLarge(file: string, opts: LoadOptions & { file: string }): Model | undefined {
  let sk: Skeleton | undefined;
  try {
    sk = readSkeleton(file, LARGE_RAW_BYTES);
  } catch {
    return undefined; // unreadable: the whole-file read reports it
  }
  if (!sk) return undefined;
  const skeleton = sk;
  try {
    return typed(file, () => {
      assertLooksLikeModel(skeleton.bytes, file);
      const pb = decodeMessage<ModelPb>(ModelProtoType, skeleton.bytes, 'ModelProto', file);
      const inits = (pb as { graph?: { initializer?: TensorPb[] } }).graph?.initializer ?? [];
      const data = readLargeFields(file, skeleton.large);
      skeleton.large.forEach((l, i) => {
        const t = inits[l.initializer];
        if (!t) throw new Error(`initializer ${l.initializer} missing from the decoded graph`);
        t.raw_data = data[i]!;
      });
      const model = modelFromPb(pb, file);
      if (opts.loadExternalData !== false) resolveExternalData(model, opts.baseDir, file);
      return model;
    });
  } catch {
    return undefined;
  }
}

/** Decodes a serialized TensorProto (e.g. a test_data_set .pb file). */
export function decodeTensor(bytes: Uint8Array, file?: string): Tensor {
  return typed(file ?? 'tensor', () => tensorFromPb(decodeMessage<TensorPb>(TensorProtoType, bytes, 'TensorProto', file)));
}

export function loadTensorFile(file: string): Tensor {
  return decodeTensor(readFileChecked(file), file);
}

function* allTensors(model: Model): Generator<Tensor> {
  for (const g of walkGraphs(model.graph)) {
    for (const v of g.initializers.values()) yield v.constValue!;
    for (const n of g.nodes) {
      for (const a of n.attributes.values()) {
        if (a.type === 'tensor') yield a.value;
        else if (a.type === 'tensors') yield* a.value;
      }
    }
  }
}

/** Resolves a location inside `baseDir`; rejects absolute paths and paths that escape it. */
export function resolveExternalLocation(baseDir: string, location: string, tensor: string): string {
  if (location === '') fail(ErrorCodes.EXTERNAL_DATA, `tensor "${tensor}" has external data without a location`);
  if (path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location)) {
    fail(ErrorCodes.EXTERNAL_DATA, `tensor "${tensor}": external data location "${location}" is absolute; it must be relative to the model's folder`);
  }
  const base = path.resolve(baseDir);
  const full = path.resolve(base, location);
  if (full !== base && !full.startsWith(base + path.sep)) {
    fail(ErrorCodes.EXTERNAL_DATA, `tensor "${tensor}": external data location "${location}" escapes the model's folder`);
  }
  // Symlinks pointing outside the folder are rejected as well.
  if (fs.existsSync(full)) {
    const real = fs.realpathSync(full);
    const realBase = fs.realpathSync(base);
    if (!real.startsWith(realBase + path.sep)) {
      fail(ErrorCodes.EXTERNAL_DATA, `tensor "${tensor}": external data location "${location}" resolves outside the model's folder`);
    }
  }
  return full;
}

/** External data files each loaded model was read from (protected when saving). */
const externalFilesRead = new WeakMap<Model, string[]>();

function resolveExternalData(model: Model, baseDir: string | undefined, file?: string): void {
  const cache = new Map<string, Buffer>();
  const read: string[] = [];
  externalFilesRead.set(model, read);
  for (const t of allTensors(model)) {
    if (!t.external) continue;
    if (baseDir === undefined) {
      fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}" uses external data but the model was loaded from bytes without a base folder`, { file });
    }
    const full = resolveExternalLocation(baseDir, t.external.location, t.name);
    let buf = cache.get(full);
    if (!buf) {
      read.push(full);
      if (!fs.existsSync(full)) fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}": external data file ${t.external.location} not found next to the model`, { file: full });
      buf = fs.readFileSync(full);
      cache.set(full, buf);
    }
    const offset = t.external.offset ?? 0;
    const length = t.external.length ?? Math.max(0, buf.byteLength - offset);
    if (offset + length > buf.byteLength) {
      fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}": external data [${offset}, ${offset + length}) lies beyond the end of ${t.external.location} (${buf.byteLength} bytes)`, { file: full });
    }
    const bits = dtypeBits(t.dtype);
    if (bits !== undefined && bits > 0 && !t.segment) {
      const want = Math.ceil((t.size * bits) / 8);
      if (length !== want) {
        fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}" (${dtypeName(t.dtype)}[${t.dims.join(',')}]) has ${length} bytes of external data, expected ${want}`, { file: full });
      }
    }
    t.storage = { kind: 'raw', bytes: buf.subarray(offset, offset + length) };
  }
}

export interface SaveOptions {
  /**
   * External data policy:
   * - 'keep' (default): tensors that were external stay external, others inline;
   * - 'none': everything inline;
   * - { threshold }: every tensor of at least `threshold` bytes goes external.
   * External tensors are written to `<output name>.data` beside the model (4096-aligned offsets).
   */
  externalData?: 'keep' | 'none' | { threshold: number; location?: string };
  /** Files the output must never replace (the CLI passes its inputs). */
  protect?: readonly string[];
}

/**
 * Encodes a model (inline data only; fails if it would need external data). `constants`
 * (main graph value name → tensor) replaces the nodes that produce those values by
 * initializers, without changing `model` (the runtime feeds precomputed weights this way).
 */
export function encodeModel(model: Model, opts: { constants?: ReadonlyMap<string, Tensor> } = {}): Uint8Array {
  for (const t of allTensors(model)) {
    if (t.external && t.storage.kind !== 'raw') fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}" has unloaded external data`);
  }
  const pb = modelToPb(model) as { graph: { node: { output: string[] }[]; initializer: object[] } };
  const c = opts.constants;
  if (c && c.size > 0) {
    pb.graph.node = pb.graph.node.filter((n) => !(n.output.length > 0 && n.output.every((o) => c.has(o))));
    pb.graph.initializer = [...pb.graph.initializer, ...[...c.values()].map((t) => tensorToPb(t))];
  }
  return encodeMessage(ModelProtoType, pb);
}

/** Saves a model atomically, with external data when the policy asks for it. */
export function saveModel(model: Model, file: string, opts: SaveOptions = {}): void {
  // Inputs: the files the caller names, the model file it came from and the external data
  // files it was read from. Neither the model nor its data file may replace any of them.
  const protect = [...(opts.protect ?? [])];
  if (model.sourcePath) protect.push(model.sourcePath);
  protect.push(...externalSources(model));
  assertNotInput(file, protect);
  for (const t of allTensors(model)) {
    if (t.external && t.storage.kind !== 'raw') {
      fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}" has unloaded external data (the model was loaded with loadExternalData: false); it cannot be saved`, { file });
    }
  }
  const policy = opts.externalData ?? 'keep';
  const location = typeof policy === 'object' && policy.location ? policy.location : `${path.basename(file)}.data`;
  const outDir = path.dirname(path.resolve(file));
  const dataPath = path.resolve(outDir, location);
  if (path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || !dataPath.startsWith(outDir + path.sep)) {
    fail(ErrorCodes.EXTERNAL_DATA, `external data location "${location}" must be a relative path inside the output model's folder`, { file });
  }
  if (dataPath === path.resolve(file)) fail(ErrorCodes.EXTERNAL_DATA, `external data location "${location}" is the model file itself`, { file });
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const externalize: TensorPbOptions['externalize'] = (t) => {
    const wants =
      policy === 'keep' ? t.external !== undefined
      : policy === 'none' ? false
      : t.byteLength >= policy.threshold && t.storage.kind !== 'string' && t.storage.kind !== 'empty'; // data-less tensors stay as written
    if (!wants) return undefined;
    const bytes = t.toRawBytes();
    const pad = (4096 - (offset % 4096)) % 4096;
    if (pad) chunks.push(new Uint8Array(pad));
    offset += pad;
    const at = offset;
    chunks.push(bytes);
    offset += bytes.byteLength;
    return { location, offset: at, length: bytes.byteLength };
  };
  const pieces = encodeMessageChunks(ModelProtoType, modelToPb(model, { externalize }));
  const total = pieces.reduce((n, p) => n + p.byteLength, 0);
  if (total > MAX_PROTO_BYTES) {
    fail(ErrorCodes.EXTERNAL_DATA, `the model is ${total} bytes inline, beyond protobuf's 2 GiB limit; save it with externalData: { threshold }`, { file });
  }
  if (chunks.length > 0) {
    assertNotInput(dataPath, protect);
    writeFileAtomic(dataPath, chunks);
  }
  writeFileAtomic(file, pieces);
}

/** Protobuf messages (and so inline ONNX files) are limited to 2 GiB - 1. */
const MAX_PROTO_BYTES = 2 ** 31 - 1;

/**
 * The model encoded as chunks whose concatenation is `encodeModel(model)`; large tensor
 * data is not copied (see `encodeMessageChunks`). `minView`: smallest bytes field kept as
 * its own chunk.
 */
export function encodeModelChunks(model: Model, minView?: number): Uint8Array[] {
  for (const t of allTensors(model)) {
    if (t.external && t.storage.kind !== 'raw') fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}" has unloaded external data`);
  }
  return encodeMessageChunks(ModelProtoType, modelToPb(model), minView);
}

function externalSources(model: Model): string[] {
  const out = [...(externalFilesRead.get(model) ?? [])];
  if (model.sourcePath) {
    const base = path.dirname(model.sourcePath);
    for (const t of allTensors(model)) if (t.external && t.external.location) out.push(path.resolve(base, t.external.location));
  }
  return out;
}
