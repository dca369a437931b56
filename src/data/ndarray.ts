/**
 * A minimal n-dimensional array record shared by the IDX and .npy readers and writers.
 *
 * Data is always stored in C (row-major) order and in the machine's native byte order
 * (little-endian on every platform Node supports), whatever the file held.
 */
import { fail, ErrorCodes } from '../errors.js';

export type DType =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'uint64'
  | 'int64'
  | 'float32'
  | 'float64'
  | 'bool';

/** The typed array that holds each dtype's elements. `bool` is one byte per element (0 or 1). */
export interface DTypeArrays {
  uint8: Uint8Array;
  int8: Int8Array;
  uint16: Uint16Array;
  int16: Int16Array;
  uint32: Uint32Array;
  int32: Int32Array;
  uint64: BigUint64Array;
  int64: BigInt64Array;
  float32: Float32Array;
  float64: Float64Array;
  bool: Uint8Array;
}

export type TypedArray = DTypeArrays[DType];

export interface NdArrayOf<D extends DType> {
  dtype: D;
  shape: number[];
  data: DTypeArrays[D];
}

/** An n-d array: `data.length === product(shape)`, C order, native byte order. */
export type NdArray = { [D in DType]: NdArrayOf<D> }[DType];

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  uint64: 8,
  int64: 8,
  float32: 4,
  float64: 8,
  bool: 1,
};

/** Product of a shape's dims (1 for a scalar shape `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape the way messages print it: `[1,28,28]`; symbolic dims by name, unknown as `?`. */
export function formatShape(shape: readonly (number | string | undefined)[]): string {
  return `[${shape.map((d) => (d === undefined ? '?' : String(d))).join(',')}]`;
}

/** Allocates a zeroed typed array for `dtype`. */
export function allocate<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
  switch (dtype) {
    case 'uint8':
    case 'bool':
      return new Uint8Array(length) as DTypeArrays[D];
    case 'int8':
      return new Int8Array(length) as DTypeArrays[D];
    case 'uint16':
      return new Uint16Array(length) as DTypeArrays[D];
    case 'int16':
      return new Int16Array(length) as DTypeArrays[D];
    case 'uint32':
      return new Uint32Array(length) as DTypeArrays[D];
    case 'int32':
      return new Int32Array(length) as DTypeArrays[D];
    case 'uint64':
      return new BigUint64Array(length) as DTypeArrays[D];
    case 'int64':
      return new BigInt64Array(length) as DTypeArrays[D];
    case 'float32':
      return new Float32Array(length) as DTypeArrays[D];
    case 'float64':
      return new Float64Array(length) as DTypeArrays[D];
    default:
      return fail(ErrorCodes.INTERNAL, `unknown dtype ${String(dtype)}`);
  }
}

/** Builds an NdArray, checking that the data length matches the shape. */
export function ndarray<D extends DType>(dtype: D, shape: readonly number[], data: DTypeArrays[D]): NdArrayOf<D> {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      fail(ErrorCodes.INVALID_OPTION, `invalid dimension ${d} in shape ${formatShape(shape)}`);
    }
  }
  const n = shapeSize(shape);
  if (data.length !== n) {
    fail(ErrorCodes.DATA_MISMATCH, `array of shape ${formatShape(shape)} needs ${n} elements but has ${data.length}`);
  }
  return { dtype, shape: [...shape], data };
}

/**
 * Copies `byteLength` little-endian bytes at `offset` of `bytes` into a fresh, aligned typed
 * array of `dtype`. With `bigEndian`, every element is byte-swapped on the way.
 */
export function typedFromBytes<D extends DType>(
  dtype: D,
  bytes: Uint8Array,
  offset: number,
  count: number,
  bigEndian: boolean,
): DTypeArrays[D] {
  const size = DTYPE_BYTES[dtype];
  const out = allocate(dtype, count);
  const dst = new Uint8Array(out.buffer, out.byteOffset, count * size);
  dst.set(bytes.subarray(offset, offset + count * size));
  if (bigEndian && size > 1) swapBytesInPlace(dst, size);
  return out;
}

/** Reverses the byte order of each `size`-byte element of `bytes` in place. */
export function swapBytesInPlace(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** The bytes of a typed array in native (little-endian) order, as a view (no copy). */
export function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** True for the integer dtypes (and bool). */
export function isIntegerDType(dtype: DType): boolean {
  return dtype !== 'float32' && dtype !== 'float64';
}

/** Converts any array's elements to float32 (64-bit integers through Number). */
export function toFloat32(array: NdArray): Float32Array {
  const src = array.data;
  if (src instanceof Float32Array) return src;
  const out = new Float32Array(src.length);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
  } else {
    out.set(src);
  }
  return out;
}

/** Keeps the first `n` entries along axis 0 (a view on the same data). */
export function sliceFirst(array: NdArray, n: number): NdArray {
  if (array.shape.length === 0) return array;
  const count = array.shape[0]!;
  if (n >= count) return array;
  const per = shapeSize(array.shape.slice(1));
  const shape = [n, ...array.shape.slice(1)];
  return { dtype: array.dtype, shape, data: array.data.subarray(0, n * per) } as NdArray;
}

/**
 * Converts Fortran-order (column-major) data of `shape` into C order. Generic over the
 * element type; used by the .npy reader for `fortran_order: True` files.
 */
export function fortranToC<T extends TypedArray>(data: T, shape: readonly number[], make: (n: number) => T): T {
  const rank = shape.length;
  const n = data.length;
  if (rank < 2 || n === 0) return data;
  const out = make(n);
  // Fortran strides: axis 0 varies fastest.
  const fStride = new Array<number>(rank);
  let s = 1;
  for (let k = 0; k < rank; k++) {
    fStride[k] = s;
    s *= shape[k]!;
  }
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  // Walk the C-order destination; keep the matching Fortran offset incrementally.
  for (let i = 0; i < n; i++) {
    (out as unknown as { [k: number]: number | bigint })[i] = (data as unknown as { [k: number]: number | bigint })[src]!;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      src += fStride[k]!;
      if (idx[k]! < shape[k]!) break;
      src -= fStride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}
