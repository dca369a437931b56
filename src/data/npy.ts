/**
 * NumPy `.npy` files, format versions 1.0, 2.0 and 3.0.
 *
 * Layout: magic `\x93NUMPY`, major and minor version bytes, a little-endian header length
 * (uint16 for 1.0, uint32 for 2.0 and 3.0), then the header: a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` (latin-1 for 1.0/2.0,
 * UTF-8 for 3.0), padded with spaces and ended by a newline; then the raw elements.
 *
 * Supported dtypes: <f4 <f8 <i8 <i4 <i2 <u8 <u4 <u2 |u1 |i1 |b1 (and their `>` forms).
 * Decisions (documented in docs/data.md):
 * - big-endian data (`>f4` ...) is converted to native byte order on read;
 * - `fortran_order: True` data is transposed into C order on read, so callers always see
 *   C-order arrays with the shape the header states;
 * - the data must be exactly `prod(shape) × itemsize` bytes: short files and trailing bytes
 *   are DATA_FORMAT errors.
 * The parser reads the header literal itself (no eval).
 */
import { fail, ErrorCodes } from '../errors.js';
import { readFileChecked, writeFileAtomic } from '../util/fs.js';
import {
  DTYPE_BYTES,
  type DType,
  type NdArray,
  type TypedArray,
  allocate,
  bytesOf,
  formatShape,
  fortranToC,
  shapeSize,
  typedFromBytes,
} from './ndarray.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** numpy's type character + item size → our dtype. */
const DESCR_KIND: ReadonlyMap<string, DType> = new Map([
  ['f4', 'float32'],
  ['f8', 'float64'],
  ['i1', 'int8'],
  ['i2', 'int16'],
  ['i4', 'int32'],
  ['i8', 'int64'],
  ['u1', 'uint8'],
  ['u2', 'uint16'],
  ['u4', 'uint32'],
  ['u8', 'uint64'],
  ['b1', 'bool'],
]);

const DTYPE_DESCR: Readonly<Record<DType, string>> = {
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  uint16: '<u2',
  uint32: '<u4',
  uint64: '<u8',
  bool: '|b1',
};

export interface NpyHeader {
  version: 1 | 2 | 3;
  descr: string;
  dtype: DType;
  bigEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
}

/** Parses and validates a .npy header, including the data length against the file length. */
export function parseNpyHeader(bytes: Uint8Array, source = '<bytes>'): NpyHeader {
  const where = { file: source };
  const bad = (why: string): never => fail(ErrorCodes.DATA_FORMAT, `${source}: ${why}`, where);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    bad('not a .npy file (missing the \\x93NUMPY magic)');
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if ((major !== 1 && major !== 2 && major !== 3) || minor !== 0) {
    bad(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else {
    if (bytes.length < 12) bad('truncated .npy header');
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  }
  const dataOffset = headerStart + headerLength;
  if (bytes.length < dataOffset) {
    bad(`truncated .npy header (declared ${headerLength} header bytes, the file has ${bytes.length - headerStart} after the preamble)`);
  }
  const headerBytes = bytes.subarray(headerStart, dataOffset);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  let dict: Map<string, PyValue>;
  try {
    dict = parsePyDict(text);
  } catch (e) {
    return bad(`malformed .npy header ${JSON.stringify(text.trim())}: ${(e as Error).message}`);
  }
  const keys = [...dict.keys()].sort().join(',');
  if (keys !== 'descr,fortran_order,shape') {
    bad(`.npy header must have exactly the keys descr, fortran_order, shape; found ${keys || 'none'}`);
  }
  const descr = dict.get('descr');
  if (typeof descr !== 'string') {
    bad(`unsupported dtype ${pyRepr(descr)}: structured and other non-scalar dtypes cannot be read`);
  }
  const d = descr as string;
  const order = d[0];
  const dtype = DESCR_KIND.get(d.slice(1));
  if (dtype === undefined || (order !== '<' && order !== '>' && order !== '|')) {
    bad(`unsupported dtype '${d}' (supported: <f4 <f8 <i8 <i4 <i2 <u8 <u4 <u2 |u1 |i1 |b1, also big-endian '>')`);
  }
  const dt = dtype as DType;
  const itemSize = DTYPE_BYTES[dt];
  if (order === '|' && itemSize > 1) bad(`dtype '${d}' has no byte order; multi-byte types need '<' or '>'`);
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') bad(`fortran_order must be True or False, got ${pyRepr(fortran)}`);
  const shapeValue = dict.get('shape');
  if (!Array.isArray(shapeValue) || shapeValue.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)) {
    bad(`shape must be a tuple of non-negative integers, got ${pyRepr(shapeValue)}`);
  }
  const shape = shapeValue as number[];
  const expected = dataOffset + shapeSize(shape) * itemSize;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'has trailing bytes';
    fail(
      ErrorCodes.DATA_FORMAT,
      `${source}: .npy file ${what}: header says '${d}' ${formatShape(shape)} (${expected} bytes in all), the file is ${bytes.length} bytes`,
      { ...where, expectedBytes: expected, actualBytes: bytes.length },
    );
  }
  return {
    version: major as 1 | 2 | 3,
    descr: d,
    dtype: dt,
    bigEndian: order === '>' && itemSize > 1,
    fortranOrder: fortran as boolean,
    shape,
    dataOffset,
  };
}

/** Parses .npy bytes into a C-order, native-byte-order NdArray. */
export function parseNpy(bytes: Uint8Array, source = '<bytes>'): NdArray {
  const h = parseNpyHeader(bytes, source);
  const count = shapeSize(h.shape);
  let data: TypedArray = typedFromBytes(h.dtype, bytes, h.dataOffset, count, h.bigEndian);
  if (h.fortranOrder) data = fortranToC(data, h.shape, (n) => allocate(h.dtype, n));
  return { dtype: h.dtype, shape: h.shape, data } as NdArray;
}

/** Reads a .npy file. FILE_NOT_FOUND when missing, DATA_FORMAT when malformed. */
export function readNpy(file: string): NdArray {
  return parseNpy(readFileChecked(file), file);
}

export interface NpyWriteOptions {
  /** Format version; default 1 (2 when the header would not fit 1.0's 64 KiB). 3 writes a UTF-8 header. */
  version?: 1 | 2 | 3;
}

/** Encodes an array as .npy bytes (little-endian, C order, header padded to 64 bytes). */
export function encodeNpy(array: NdArray, options: NpyWriteOptions = {}): Uint8Array {
  if (array.data.length !== shapeSize(array.shape)) {
    fail(
      ErrorCodes.DATA_MISMATCH,
      `array of shape ${formatShape(array.shape)} needs ${shapeSize(array.shape)} elements but has ${array.data.length}`,
    );
  }
  const shapeText = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  const dict = `{'descr': '${DTYPE_DESCR[array.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const dictBytes = new TextEncoder().encode(dict); // ASCII only, so valid latin-1 too
  const fits1 = 10 + dictBytes.length + 1 <= 10 + 0xffff - 64;
  const version = options.version ?? (fits1 ? 1 : 2);
  if (version !== 1 && version !== 2 && version !== 3) {
    fail(ErrorCodes.INVALID_OPTION, `unsupported .npy version ${String(version)} (use 1, 2 or 3)`, { option: 'version' });
  }
  if (version === 1 && !fits1) {
    fail(ErrorCodes.INVALID_OPTION, `the .npy header for shape ${formatShape(array.shape)} is too long for version 1.0`, {
      option: 'version',
    });
  }
  const preamble = version === 1 ? 10 : 12;
  const unpadded = preamble + dictBytes.length + 1;
  const total = Math.ceil(unpadded / 64) * 64;
  const headerLength = total - preamble;
  const body = bytesOf(array.data);
  const out = new Uint8Array(total + body.length);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(dictBytes, preamble);
  out.fill(0x20, preamble + dictBytes.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(body, total);
  return out;
}

/** Writes a .npy file atomically. */
export function writeNpy(file: string, array: NdArray, options: NpyWriteOptions = {}): void {
  writeFileAtomic(file, encodeNpy(array, options));
}

// ---------------------------------------------------------------------------------------
// A small reader for the Python literal subset .npy headers use: a dict of string keys to
// strings, True/False, ints (with an optional Python 2 `L` suffix) and tuples/lists thereof.

type PyValue = string | number | boolean | null | PyValue[];

function parsePyDict(text: string): Map<string, PyValue> {
  let pos = 0;
  const ws = (): void => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };
  const expect = (ch: string): void => {
    ws();
    if (text[pos] !== ch) throw new Error(`expected '${ch}' at offset ${pos}`);
    pos++;
  };
  const value = (): PyValue => {
    ws();
    const c = text[pos];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, pos + 1);
      if (end < 0) throw new Error('unterminated string');
      const s = text.slice(pos + 1, end);
      if (s.includes('\\')) throw new Error('escapes in strings are not supported');
      pos = end + 1;
      return s;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      pos++;
      const items: PyValue[] = [];
      for (;;) {
        ws();
        if (text[pos] === close) {
          pos++;
          return items;
        }
        items.push(value());
        ws();
        if (text[pos] === ',') pos++;
        else if (text[pos] !== close) throw new Error(`expected ',' or '${close}' at offset ${pos}`);
      }
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(pos));
    if (!m) throw new Error(`unexpected text at offset ${pos}`);
    pos += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace(/L$/, ''));
  };
  const dict = new Map<string, PyValue>();
  expect('{');
  for (;;) {
    ws();
    if (text[pos] === '}') {
      pos++;
      break;
    }
    const key = value();
    if (typeof key !== 'string') throw new Error('dict keys must be strings');
    if (dict.has(key)) throw new Error(`duplicate key '${key}'`);
    expect(':');
    dict.set(key, value());
    ws();
    if (text[pos] === ',') pos++;
    else if (text[pos] !== '}') throw new Error(`expected ',' or '}' at offset ${pos}`);
  }
  ws();
  if (pos !== text.length) throw new Error(`unexpected text after the dict at offset ${pos}`);
  return dict;
}

function pyRepr(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `(${v.map(pyRepr).join(', ')})`;
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null) return 'None';
  return String(v);
}
