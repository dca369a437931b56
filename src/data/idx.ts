/**
 * IDX files: the MNIST / Fashion-MNIST container.
 *
 * Layout: two zero bytes, a type byte, a dimension count byte, then one big-endian uint32
 * per dimension, then the elements in C order, big-endian. Type bytes:
 * 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
 *
 * Files may be gzipped (detected by the 1f 8b magic, not by the name). The reader checks
 * the header against the file length exactly: a short file and a file with trailing bytes
 * are both DATA_FORMAT errors naming the file.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { fail, ErrorCodes } from '../errors.js';
import { readFileChecked, writeFileAtomic } from '../util/fs.js';
import {
  DTYPE_BYTES,
  type DType,
  type NdArray,
  bytesOf,
  formatShape,
  shapeSize,
  swapBytesInPlace,
  typedFromBytes,
} from './ndarray.js';

/** The dtypes IDX can hold. */
export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

const TYPE_BYTE_TO_DTYPE: ReadonlyMap<number, IdxDType> = new Map([
  [0x08, 'uint8'],
  [0x09, 'int8'],
  [0x0b, 'int16'],
  [0x0c, 'int32'],
  [0x0d, 'float32'],
  [0x0e, 'float64'],
]);

const DTYPE_TO_TYPE_BYTE: Readonly<Partial<Record<DType, number>>> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

/** True when `bytes` starts with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes` when they carry the gzip magic; returns them unchanged otherwise. */
export function maybeGunzip(bytes: Uint8Array, source: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (e) {
    return fail(ErrorCodes.DATA_FORMAT, `${source}: corrupt or truncated gzip data (${(e as Error).message})`, { file: source }, e);
  }
}

export interface IdxHeader {
  dtype: IdxDType;
  shape: number[];
  /** Byte offset of the first element (4 + 4 × rank). */
  dataOffset: number;
}

/** Parses and validates an (uncompressed) IDX header against the buffer's length. */
export function parseIdxHeader(bytes: Uint8Array, source = '<bytes>'): IdxHeader {
  const where = { file: source };
  if (bytes.length < 4) {
    fail(ErrorCodes.DATA_FORMAT, `${source}: not an IDX file (only ${bytes.length} bytes, the header alone needs 4)`, where);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(
      ErrorCodes.DATA_FORMAT,
      `${source}: not an IDX file (magic starts ${hex(bytes[0]!)} ${hex(bytes[1]!)}, expected 00 00)`,
      where,
    );
  }
  const dtype = TYPE_BYTE_TO_DTYPE.get(bytes[2]!);
  if (dtype === undefined) {
    fail(
      ErrorCodes.DATA_FORMAT,
      `${source}: unknown IDX element type 0x${hex(bytes[2]!)} (expected 08, 09, 0B, 0C, 0D or 0E)`,
      where,
    );
  }
  const rank = bytes[3]!;
  const dataOffset = 4 + 4 * rank;
  if (bytes.length < dataOffset) {
    fail(
      ErrorCodes.DATA_FORMAT,
      `${source}: truncated IDX header (${rank} dimensions need ${dataOffset} header bytes, the file has ${bytes.length})`,
      where,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let k = 0; k < rank; k++) shape.push(view.getUint32(4 + 4 * k, false));
  const expected = dataOffset + shapeSize(shape) * DTYPE_BYTES[dtype];
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'has trailing bytes';
    fail(
      ErrorCodes.DATA_FORMAT,
      `${source}: IDX file ${what}: header says ${dtype} ${formatShape(shape)} (${expected} bytes), the data is ${bytes.length} bytes`,
      { ...where, expectedBytes: expected, actualBytes: bytes.length },
    );
  }
  return { dtype, shape, dataOffset };
}

/** Parses an IDX file's bytes (gzipped or not) into a native-order NdArray. */
export function parseIdx(bytes: Uint8Array, source = '<bytes>'): NdArray {
  const raw = maybeGunzip(bytes, source);
  const { dtype, shape, dataOffset } = parseIdxHeader(raw, source);
  const data = typedFromBytes(dtype, raw, dataOffset, shapeSize(shape), true);
  return { dtype, shape, data } as NdArray;
}

/** Reads an IDX file (gzipped or not). FILE_NOT_FOUND when it is missing. */
export function readIdx(file: string): NdArray {
  return parseIdx(readFileChecked(file), file);
}

export interface IdxWriteOptions {
  /** Gzip the output. `writeIdx` defaults to true for names ending in `.gz`. */
  gzip?: boolean;
}

/**
 * Encodes an array as IDX bytes. Gzipped output is deterministic: mtime 0, no file name,
 * OS byte 255 ("unknown"), compression level 9.
 */
export function encodeIdx(array: NdArray, options: IdxWriteOptions = {}): Uint8Array {
  const typeByte = DTYPE_TO_TYPE_BYTE[array.dtype];
  if (typeByte === undefined) {
    fail(
      ErrorCodes.INVALID_OPTION,
      `IDX cannot hold ${array.dtype} data (supported: uint8, int8, int16, int32, float32, float64)`,
    );
  }
  const rank = array.shape.length;
  if (rank > 255) fail(ErrorCodes.INVALID_OPTION, `IDX holds at most 255 dimensions, this array has ${rank}`);
  for (const d of array.shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      fail(ErrorCodes.INVALID_OPTION, `IDX dimensions must be uint32, got ${formatShape(array.shape)}`);
    }
  }
  if (array.data.length !== shapeSize(array.shape)) {
    fail(
      ErrorCodes.DATA_MISMATCH,
      `array of shape ${formatShape(array.shape)} needs ${shapeSize(array.shape)} elements but has ${array.data.length}`,
    );
  }
  const size = DTYPE_BYTES[array.dtype];
  const headerLength = 4 + 4 * rank;
  const out = new Uint8Array(headerLength + array.data.length * size);
  out[2] = typeByte;
  out[3] = rank;
  const view = new DataView(out.buffer);
  array.shape.forEach((d, k) => view.setUint32(4 + 4 * k, d, false));
  const body = out.subarray(headerLength);
  body.set(bytesOf(array.data));
  swapBytesInPlace(body, size);
  if (!options.gzip) return out;
  return deterministicGzip(out);
}

/** Writes an IDX file atomically; gzipped when `options.gzip` or, by default, when the name ends in `.gz`. */
export function writeIdx(file: string, array: NdArray, options: IdxWriteOptions = {}): void {
  const gzip = options.gzip ?? file.endsWith('.gz');
  writeFileAtomic(file, encodeIdx(array, { gzip }));
}

/** gzip with a fixed header (mtime 0, OS byte 255) so equal input gives equal bytes. */
export function deterministicGzip(bytes: Uint8Array): Uint8Array {
  const gz = new Uint8Array(gzipSync(bytes, { level: 9 }));
  // Bytes 4..7 are MTIME (zlib writes 0); byte 9 is the OS code, which zlib sets per platform.
  gz[4] = gz[5] = gz[6] = gz[7] = 0;
  gz[9] = 0xff;
  return gz;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0').toUpperCase();
}
