/**
 * ONNX `test_data_set_N` folders: `input_K.pb` and `output_K.pb`, each one serialized
 * onnx.TensorProto.
 *
 * This module does not decode protobuf itself: the caller injects a decoder (the ONNX layer's
 * `decodeTensorProtoBytes` in the CLI). Files are ordered by their numeric index K, so
 * `input_10.pb` comes after `input_9.pb`; indices must run 0..n-1 without gaps.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HbnnError, fail, ErrorCodes, isHbnnError } from '../errors.js';
import { readFileChecked } from '../util/fs.js';
import { formatShape, shapeSize } from './ndarray.js';

/** Element arrays a decoded TensorProto may carry. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** What the injected decoder returns for one TensorProto. */
export interface DecodedTensor {
  name: string;
  dims: number[];
  data: TensorData;
}

/** Decodes one serialized onnx.TensorProto. */
export type TensorDecoder = (bytes: Uint8Array) => DecodedTensor;

export interface TestDataTensor extends DecodedTensor {
  /** The file it came from. */
  file: string;
  /** K in `input_K.pb` / `output_K.pb`. */
  index: number;
}

export interface TestDataSet {
  dir: string;
  inputs: TestDataTensor[];
  outputs: TestDataTensor[];
}

/** Reads a `test_data_set_N` folder. Inputs are required; outputs may be absent. */
export function readTestDataSet(dir: string, decode: TensorDecoder): TestDataSet {
  const entries = listDir(dir);
  const inputs = collect(dir, entries, 'input').map((f) => decodeFile(f, decode));
  if (inputs.length === 0) {
    fail(ErrorCodes.DATA_FORMAT, `${dir}: no input_K.pb files; not an ONNX test_data_set folder`, { file: dir });
  }
  const outputs = collect(dir, entries, 'output').map((f) => decodeFile(f, decode));
  return { dir, inputs, outputs };
}

/**
 * The `test_data_set_N` subfolders of a model folder, ordered by N numerically.
 * Returns an empty list when there are none.
 */
export function listTestDataSets(modelDir: string): string[] {
  const found: { n: number; dir: string }[] = [];
  for (const e of listDir(modelDir)) {
    const m = /^test_data_set_(\d+)$/.exec(e.name);
    if (m && e.isDirectory()) found.push({ n: Number(m[1]), dir: path.join(modelDir, e.name) });
  }
  return found.sort((a, b) => a.n - b.n).map((f) => f.dir);
}

/** True when `dir` holds at least one `input_K.pb`. */
export function looksLikeTestDataSet(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((n) => /^input_\d+\.pb$/.test(n));
  } catch {
    return false;
  }
}

function listDir(dir: string): fs.Dirent[] {
  if (!fs.existsSync(dir)) fail(ErrorCodes.FILE_NOT_FOUND, `no such folder: ${dir}`, { file: dir });
  if (!fs.statSync(dir).isDirectory()) fail(ErrorCodes.DATA_FORMAT, `${dir} is not a folder`, { file: dir });
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    return fail(ErrorCodes.FILE_READ, `cannot list ${dir}: ${(e as Error).message}`, { file: dir });
  }
}

interface PbFile {
  file: string;
  index: number;
}

function collect(dir: string, entries: fs.Dirent[], kind: 'input' | 'output'): PbFile[] {
  const re = new RegExp(`^${kind}_(\\d+)\\.pb$`);
  const byIndex = new Map<number, string>();
  for (const e of entries) {
    const m = re.exec(e.name);
    if (!m || !e.isFile()) continue;
    const index = Number(m[1]);
    const prior = byIndex.get(index);
    if (prior !== undefined) {
      fail(ErrorCodes.DATA_FORMAT, `${dir}: both ${prior} and ${e.name} claim ${kind} index ${index}`, { file: dir });
    }
    byIndex.set(index, e.name);
  }
  const indices = [...byIndex.keys()].sort((a, b) => a - b);
  indices.forEach((k, i) => {
    if (k !== i) {
      fail(ErrorCodes.DATA_FORMAT, `${dir}: ${kind}_${i}.pb is missing (found ${indices.map((j) => `${kind}_${j}.pb`).join(', ')})`, {
        file: dir,
      });
    }
  });
  return indices.map((index) => ({ file: path.join(dir, byIndex.get(index)!), index }));
}

function decodeFile({ file, index }: PbFile, decode: TensorDecoder): TestDataTensor {
  const bytes = readFileChecked(file);
  let t: DecodedTensor;
  try {
    t = decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    if (isHbnnError(e)) throw new HbnnError(e.code, `${file}: ${e.message}`, { ...e.context, file }, { cause: e });
    return fail(ErrorCodes.DATA_FORMAT, `${file}: cannot decode the TensorProto: ${(e as Error).message}`, { file }, e);
  }
  if (!Array.isArray(t.dims) || t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    fail(ErrorCodes.DATA_FORMAT, `${file}: tensor has invalid dims ${JSON.stringify(t.dims)}`, { file });
  }
  if (shapeSize(t.dims) !== t.data.length) {
    fail(
      ErrorCodes.DATA_FORMAT,
      `${file}: tensor '${t.name}' has dims ${formatShape(t.dims)} (${shapeSize(t.dims)} elements) but ${t.data.length} values`,
      { file },
    );
  }
  return { name: t.name, dims: [...t.dims], data: t.data, file, index };
}
