/**
 * Constant tensors (initializers, Constant node values, tensor attributes).
 *
 * A Tensor keeps its data in the same storage form the file used (raw bytes or one of the
 * typed repeated fields), so a load → save round trip writes the same bytes back. Raw data
 * is held as a view into the loaded file's buffer, not a copy; typed views are made on
 * demand (copied only when the bytes are not aligned for the element type).
 */
import { DataType, dtypeBits, dtypeName } from './dtype.js';
import { fail, ErrorCodes } from '../errors.js';

export type TensorStorage =
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'float'; values: Float32Array } // float_data (float, complex64)
  | { kind: 'int32'; values: Int32Array } // int32_data (small ints, bool, float16 bits, float8, int4 pairs)
  | { kind: 'int64'; values: BigInt64Array } // int64_data
  | { kind: 'double'; values: Float64Array } // double_data (double, complex128)
  | { kind: 'uint64'; values: BigUint64Array } // uint64_data (uint32, uint64)
  | { kind: 'string'; values: Uint8Array[] } // string_data
  | { kind: 'empty' };

/** Where a tensor's bytes came from when they were stored outside the model file. */
export interface ExternalInfo {
  location: string;
  offset?: number;
  length?: number;
  /** Other external_data entries (checksum, custom keys), kept in order. */
  extra: [string, string][];
}

export type StringPairs = [string, string][];

export class Tensor {
  name: string;
  readonly dtype: number;
  readonly dims: readonly number[];
  storage: TensorStorage;
  docString?: string;
  metadataProps?: StringPairs;
  /** Set when the data was loaded from external data; used to decide how to save it. */
  external?: ExternalInfo;
  /** TensorProto.segment, kept as-is (bigint begin/end). */
  segment?: { begin?: bigint; end?: bigint };
  /** True when TensorProto.name was present on the wire but empty. */
  emptyNamePresent?: boolean;
  /** TensorProto.data_location when it was explicitly present on the wire. */
  dataLocation?: number;

  constructor(name: string, dtype: number, dims: readonly number[], storage: TensorStorage) {
    this.name = name;
    this.dtype = dtype;
    this.dims = dims;
    this.storage = storage;
  }

  get size(): number {
    let n = 1;
    for (const d of this.dims) n *= d;
    return n;
  }

  /** Bytes of payload as stored in raw form (for reports). */
  get byteLength(): number {
    const bits = dtypeBits(this.dtype);
    if (this.storage.kind === 'raw') return this.storage.bytes.byteLength;
    if (this.storage.kind === 'string') return this.storage.values.reduce((s, v) => s + v.byteLength, 0);
    return bits ? Math.ceil((this.size * bits) / 8) : 0;
  }

  static fromFloat32(name: string, dims: readonly number[], data: Float32Array): Tensor {
    checkSize(name, dims, data.length);
    return new Tensor(name, DataType.FLOAT, dims, { kind: 'raw', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }

  static fromInt64(name: string, dims: readonly number[], data: BigInt64Array | readonly (number | bigint)[]): Tensor {
    const arr = data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v));
    checkSize(name, dims, arr.length);
    return new Tensor(name, DataType.INT64, dims, { kind: 'raw', bytes: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength) });
  }

  static fromInt32(name: string, dims: readonly number[], data: Int32Array): Tensor {
    checkSize(name, dims, data.length);
    return new Tensor(name, DataType.INT32, dims, { kind: 'raw', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }

  static fromUint8(name: string, dims: readonly number[], data: Uint8Array, dtype: number = DataType.UINT8): Tensor {
    checkSize(name, dims, data.length);
    return new Tensor(name, dtype, dims, { kind: 'raw', bytes: data });
  }

  /** A new tensor with the same data and another name or shape (data shared). */
  withNameAndDims(name: string, dims: readonly number[] = this.dims): Tensor {
    const t = new Tensor(name, this.dtype, dims, this.storage);
    t.docString = this.docString;
    t.metadataProps = this.metadataProps;
    return t;
  }

  /**
   * The data as a Float32Array (float tensors: a view when aligned; other numeric types
   * are converted). Throws for strings and types without a float conversion.
   */
  toFloat32(): Float32Array {
    this.assertHasData();
    const s = this.storage;
    if (this.dtype === DataType.FLOAT) {
      if (s.kind === 'raw') return viewOrCopy(s.bytes, Float32Array, 4);
      if (s.kind === 'float') return s.values;
      if (s.kind === 'empty') return new Float32Array(this.size);
    }
    const n = this.size;
    const out = new Float32Array(n);
    switch (this.dtype) {
      case DataType.DOUBLE: {
        const v = s.kind === 'double' ? s.values : s.kind === 'raw' ? viewOrCopy(s.bytes, Float64Array, 8) : new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = v[i]!;
        return out;
      }
      case DataType.INT64:
      case DataType.UINT64:
      case DataType.INT32:
      case DataType.UINT32:
      case DataType.INT16:
      case DataType.UINT16:
      case DataType.INT8:
      case DataType.UINT8:
      case DataType.BOOL: {
        const v = this.toNumberArray();
        for (let i = 0; i < n; i++) out[i] = v[i]!;
        return out;
      }
      case DataType.FLOAT16: {
        const bits = this.toUint16Bits();
        for (let i = 0; i < n; i++) out[i] = halfToFloat(bits[i]!);
        return out;
      }
      default:
        return fail(ErrorCodes.UNSUPPORTED_OP, `tensor "${this.name}" of type ${dtypeName(this.dtype)} cannot be read as float32`, {
          node: this.name,
        });
    }
  }

  /**
   * Integer-valued tensors as JS numbers; 64-bit integers beyond ±(2^53 - 1) are an error, or
   * with `saturate` become ±Number.MAX_SAFE_INTEGER (the "to the end" bounds of Slice, INT64_MAX,
   * read so).
   */
  toNumberArray(saturate = false): number[] {
    this.assertHasData();
    const s = this.storage;
    const n = this.size;
    const out = new Array<number>(n);
    const fromBig = (v: bigint): number => {
      const x = Number(v);
      if (!Number.isSafeInteger(x)) {
        if (saturate) return x > 0 ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
        fail(ErrorCodes.ONNX_INVALID, `tensor "${this.name}" holds ${v}, beyond a safe integer`);
      }
      return x;
    };
    switch (this.dtype) {
      case DataType.INT64: {
        const v = s.kind === 'int64' ? s.values : s.kind === 'raw' ? viewOrCopy(s.bytes, BigInt64Array, 8) : new BigInt64Array(n);
        for (let i = 0; i < n; i++) out[i] = fromBig(v[i]!);
        return out;
      }
      case DataType.UINT64: {
        const v = s.kind === 'uint64' ? s.values : s.kind === 'raw' ? viewOrCopy(s.bytes, BigUint64Array, 8) : new BigUint64Array(n);
        for (let i = 0; i < n; i++) out[i] = fromBig(v[i]!);
        return out;
      }
      case DataType.UINT32: {
        if (s.kind === 'uint64') for (let i = 0; i < n; i++) out[i] = Number(s.values[i]!);
        else if (s.kind === 'raw') {
          const v = viewOrCopy(s.bytes, Uint32Array, 4);
          for (let i = 0; i < n; i++) out[i] = v[i]!;
        } else out.fill(0);
        return out;
      }
      case DataType.INT32:
      case DataType.INT16:
      case DataType.UINT16:
      case DataType.INT8:
      case DataType.UINT8:
      case DataType.BOOL: {
        if (s.kind === 'int32') {
          for (let i = 0; i < n; i++) out[i] = s.values[i]!;
          return out;
        }
        if (s.kind === 'raw') {
          const v: ArrayLike<number> =
            this.dtype === DataType.INT32 ? viewOrCopy(s.bytes, Int32Array, 4)
            : this.dtype === DataType.INT16 ? viewOrCopy(s.bytes, Int16Array, 2)
            : this.dtype === DataType.UINT16 ? viewOrCopy(s.bytes, Uint16Array, 2)
            : this.dtype === DataType.INT8 ? new Int8Array(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength)
            : s.bytes;
          for (let i = 0; i < n; i++) out[i] = v[i]!;
          return out;
        }
        return out.fill(0);
      }
      case DataType.FLOAT:
      case DataType.DOUBLE: {
        const f = this.toFloat32();
        for (let i = 0; i < n; i++) out[i] = f[i]!;
        return out;
      }
      default:
        return fail(ErrorCodes.UNSUPPORTED_OP, `tensor "${this.name}" of type ${dtypeName(this.dtype)} has no integer view`);
    }
  }

  /**
   * A tensor loaded without any data field (and no external data) is kept as written, but
   * its values cannot be read: ONNX and onnxruntime both reject such a tensor when it has
   * elements, and reading zeros in their place would hide that. Zero-size tensors are fine.
   */
  assertHasData(): void {
    if (this.storage.kind === 'empty' && this.size !== 0) {
      fail(ErrorCodes.ONNX_INVALID, `tensor "${this.name}" (${dtypeName(this.dtype)}[${this.dims.join(',')}]) has no data: no data field and no external data`, {
        tensor: this.name,
      });
    }
  }

  private toUint16Bits(): Uint16Array {
    const s = this.storage;
    if (s.kind === 'raw') return viewOrCopy(s.bytes, Uint16Array, 2);
    if (s.kind === 'int32') return Uint16Array.from(s.values);
    return new Uint16Array(this.size);
  }

  /** The payload in raw little-endian bytes (the layout ORT and raw_data use). */
  toRawBytes(): Uint8Array {
    this.assertHasData();
    const s = this.storage;
    switch (s.kind) {
      case 'raw':
        return s.bytes;
      case 'float':
        return new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength);
      case 'double':
        return new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength);
      case 'int64':
        return new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength);
      case 'uint64': {
        if (this.dtype === DataType.UINT32) {
          const u = Uint32Array.from(s.values, (v) => Number(v));
          return new Uint8Array(u.buffer);
        }
        return new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength);
      }
      case 'int32': {
        const bits = dtypeBits(this.dtype);
        if (bits === 32) return new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength);
        if (bits === 16) return new Uint8Array(Uint16Array.from(s.values).buffer);
        if (bits === 8) return Uint8Array.from(s.values);
        if (bits === 4 || bits === 2) return Uint8Array.from(s.values); // already packed per spec
        return fail(ErrorCodes.UNSUPPORTED_OP, `tensor "${this.name}": int32_data for ${dtypeName(this.dtype)}`);
      }
      case 'string':
        return fail(ErrorCodes.UNSUPPORTED_OP, `tensor "${this.name}" holds strings, which have no raw form`);
      case 'empty':
        return new Uint8Array(Math.ceil((this.size * (dtypeBits(this.dtype) ?? 8)) / 8));
    }
  }
}

function checkSize(name: string, dims: readonly number[], length: number): void {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== length) fail(ErrorCodes.INTERNAL, `tensor "${name}": ${length} values do not fill shape [${dims.join(',')}]`);
}

type TypedCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; new (length: number): T };

/** A typed view of `bytes` without copying when aligned; an aligned copy otherwise. */
export function viewOrCopy<T extends { set(a: ArrayLike<unknown>): void }>(bytes: Uint8Array, ctor: TypedCtor<T>, size: number): T {
  const n = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % size === 0) return new ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(n * size);
  copy.set(bytes.subarray(0, n * size));
  return new ctor(copy.buffer, 0, n);
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

declare module './tensor.js' {
  interface Tensor {
    /** Numbers for any numeric tensor (floats as floats, ints as numbers, unsafe int64 as bigint). */
    toNumberArrayLoose(): (number | bigint)[];
  }
}

Tensor.prototype.toNumberArrayLoose = function (this: Tensor): (number | bigint)[] {
  this.assertHasData();
  const s = this.storage;
  if (s.kind === 'int64' || s.kind === 'uint64') return Array.from(s.values as ArrayLike<bigint>);
  if (this.dtype === DataType.INT64 && s.kind === 'raw') return Array.from(viewOrCopy(s.bytes, BigInt64Array, 8));
  if (this.dtype === DataType.UINT64 && s.kind === 'raw') return Array.from(viewOrCopy(s.bytes, BigUint64Array, 8));
  if (this.dtype === DataType.FLOAT || this.dtype === DataType.DOUBLE || this.dtype === DataType.FLOAT16) return Array.from(this.toFloat32());
  return this.toNumberArray();
};
