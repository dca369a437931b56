/** ONNX tensor element types (TensorProto.DataType), including the recent small types. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;

export type DataTypeId = number;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

export function dtypeName(t: number): string {
  return NAMES[t] ?? `dtype${t}`;
}

/** Bits per element for raw_data layout (strings: 0, unknown: undefined). */
export function dtypeBits(t: number): number | undefined {
  switch (t) {
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 32;
    case DataType.UINT8:
    case DataType.INT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      return 8;
    case DataType.UINT16:
    case DataType.INT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 16;
    case DataType.INT64:
    case DataType.UINT64:
    case DataType.DOUBLE:
    case DataType.COMPLEX64:
      return 64;
    case DataType.COMPLEX128:
      return 128;
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1:
      return 4;
    case DataType.UINT2:
    case DataType.INT2:
      return 2;
    case DataType.STRING:
      return 0;
    default:
      return undefined;
  }
}

/** The onnxruntime-node tensor type name for a data type, when ORT's JS API has one. */
export function ortTypeName(t: number): string | undefined {
  switch (t) {
    case DataType.FLOAT: return 'float32';
    case DataType.UINT8: return 'uint8';
    case DataType.INT8: return 'int8';
    case DataType.UINT16: return 'uint16';
    case DataType.INT16: return 'int16';
    case DataType.INT32: return 'int32';
    case DataType.INT64: return 'int64';
    case DataType.STRING: return 'string';
    case DataType.BOOL: return 'bool';
    case DataType.FLOAT16: return 'float16';
    case DataType.DOUBLE: return 'float64';
    case DataType.UINT32: return 'uint32';
    case DataType.UINT64: return 'uint64';
    case DataType.INT4: return 'int4';
    case DataType.UINT4: return 'uint4';
    default: return undefined;
  }
}
