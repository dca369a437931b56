/**
 * Loading and saving ONNX models: bytes ↔ IR, files with external data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelProtoType, TensorProtoType, decodeMessage, encodeMessage, type ModelPb, type TensorPb } from './proto.js';
import { modelFromPb, modelToPb, tensorFromPb, type TensorPbOptions } from './serde.js';
import { Model, walkGraphs } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { fail, ErrorCodes } from '../errors.js';
import { assertNotInput, readFileChecked, writeFileAtomic } from '../util/fs.js';

export interface LoadOptions {
  /** Folder that external data locations are relative to (default: the model file's folder). */
  baseDir?: string;
  /** Load external data into memory (default true). When false, external tensors stay unloaded. */
  loadExternalData?: boolean;
}

/** Decodes a model from bytes. External data is resolved against `opts.baseDir` when given. */
export function decodeModel(bytes: Uint8Array, opts: LoadOptions & { file?: string } = {}): Model {
  const pb = decodeMessage<ModelPb>(ModelProtoType, bytes, 'ModelProto', opts.file);
  const model = modelFromPb(pb, opts.file);
  if (opts.loadExternalData !== false) resolveExternalData(model, opts.baseDir, opts.file);
  return model;
}

/** Loads a model file (and its external data). */
export function loadModel(file: string, opts: LoadOptions = {}): Model {
  const bytes = readFileChecked(file);
  const model = decodeModel(bytes, { ...opts, baseDir: opts.baseDir ?? path.dirname(path.resolve(file)), file });
  model.sourcePath = path.resolve(file);
  return model;
}

/** Decodes a serialized TensorProto (e.g. a test_data_set .pb file). */
export function decodeTensor(bytes: Uint8Array, file?: string): Tensor {
  return tensorFromPb(decodeMessage<TensorPb>(TensorProtoType, bytes, 'TensorProto', file));
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

function resolveExternalData(model: Model, baseDir: string | undefined, file?: string): void {
  const cache = new Map<string, Buffer>();
  for (const t of allTensors(model)) {
    if (!t.external) continue;
    if (baseDir === undefined) {
      fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}" uses external data but the model was loaded from bytes without a base folder`, { file });
    }
    const full = resolveExternalLocation(baseDir, t.external.location, t.name);
    let buf = cache.get(full);
    if (!buf) {
      if (!fs.existsSync(full)) fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}": external data file ${t.external.location} not found next to the model`, { file: full });
      buf = fs.readFileSync(full);
      cache.set(full, buf);
    }
    const offset = t.external.offset ?? 0;
    const length = t.external.length ?? buf.byteLength - offset;
    if (offset + length > buf.byteLength) {
      fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}": external data [${offset}, ${offset + length}) lies beyond the end of ${t.external.location} (${buf.byteLength} bytes)`, { file: full });
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

/** Encodes a model (inline data only; fails if it would need external data). */
export function encodeModel(model: Model): Uint8Array {
  for (const t of allTensors(model)) {
    if (t.external && t.storage.kind !== 'raw') fail(ErrorCodes.EXTERNAL_DATA, `tensor "${t.name}" has unloaded external data`);
  }
  return encodeMessage(ModelProtoType, modelToPb(model));
}

/** Saves a model atomically, with external data when the policy asks for it. */
export function saveModel(model: Model, file: string, opts: SaveOptions = {}): void {
  const protect = [...(opts.protect ?? [])];
  if (model.sourcePath) protect.push(model.sourcePath);
  assertNotInput(file, protect);
  const policy = opts.externalData ?? 'keep';
  const location = typeof policy === 'object' && policy.location ? policy.location : `${path.basename(file)}.data`;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const externalize: TensorPbOptions['externalize'] = (t) => {
    const wants = policy === 'keep' ? t.external !== undefined : policy === 'none' ? false : t.byteLength >= policy.threshold && t.storage.kind !== 'string';
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
  const bytes = encodeMessage(ModelProtoType, modelToPb(model, { externalize }));
  if (chunks.length > 0) {
    const dataFile = path.join(path.dirname(path.resolve(file)), location);
    assertNotInput(dataFile, [...protect, ...externalSources(model)]);
    const all = Buffer.concat(chunks);
    writeFileAtomic(dataFile, all);
  }
  writeFileAtomic(file, bytes);
}

function externalSources(model: Model): string[] {
  if (!model.sourcePath) return [];
  const base = path.dirname(model.sourcePath);
  const out: string[] = [];
  for (const t of allTensors(model)) if (t.external) out.push(path.resolve(base, t.external.location));
  return out;
}
