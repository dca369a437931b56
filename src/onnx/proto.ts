/**
 * protobufjs bindings for the ONNX schema, plus a wire-format walker that finds fields the
 * schema does not know (so that nothing is ever dropped silently on decode).
 */
import protobuf from 'protobufjs';
import Long from 'long';
import { ONNX_SCHEMA } from './schema.js';
import { fail, ErrorCodes } from '../errors.js';

// int64 fields decode as Long; the IR converts them to bigint.
protobuf.util.Long = Long;
protobuf.configure();

const root = protobuf.parse(ONNX_SCHEMA, { keepCase: true }).root;
root.resolveAll();

export const ModelProtoType = root.lookupType('onnx.ModelProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');
export const GraphProtoType = root.lookupType('onnx.GraphProto');

/* Plain object views of the decoded messages (fields named as in onnx.proto). */
export type Int64 = Long | number;

export interface StringStringEntryPb { key?: string; value?: string }
export interface OperatorSetIdPb { domain?: string; version?: Int64 }
export interface TensorShapeDimPb { dim_value?: Int64; dim_param?: string; denotation?: string }
export interface TensorShapePb { dim: TensorShapeDimPb[] }
export interface TypePb {
  tensor_type?: { elem_type?: number; shape?: TensorShapePb };
  sequence_type?: { elem_type?: TypePb };
  map_type?: { key_type?: number; value_type?: TypePb };
  optional_type?: { elem_type?: TypePb };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapePb };
  opaque_type?: { domain?: string; name?: string };
  denotation?: string;
}
export interface TensorPb {
  dims: Int64[];
  data_type?: number;
  segment?: { begin?: Int64; end?: Int64 };
  float_data: number[];
  int32_data: number[];
  string_data: Uint8Array[];
  int64_data: Int64[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data: StringStringEntryPb[];
  data_location?: number;
  double_data: number[];
  uint64_data: Int64[];
  metadata_props: StringStringEntryPb[];
}
export interface SparseTensorPb { values?: TensorPb; indices?: TensorPb; dims: Int64[] }
export interface AttributePb {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorPb;
  g?: GraphPb;
  sparse_tensor?: SparseTensorPb;
  tp?: TypePb;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorPb[];
  graphs: GraphPb[];
  sparse_tensors: SparseTensorPb[];
  type_protos: TypePb[];
}
export interface ValueInfoPb { name?: string; type?: TypePb; doc_string?: string; metadata_props: StringStringEntryPb[] }
export interface NodePb {
  input: string[];
  output: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute: AttributePb[];
  doc_string?: string;
  metadata_props: StringStringEntryPb[];
  device_configurations: unknown[];
}
export interface TensorAnnotationPb { tensor_name?: string; quant_parameter_tensor_names: StringStringEntryPb[] }
export interface GraphPb {
  node: NodePb[];
  name?: string;
  initializer: TensorPb[];
  sparse_initializer: SparseTensorPb[];
  doc_string?: string;
  input: ValueInfoPb[];
  output: ValueInfoPb[];
  value_info: ValueInfoPb[];
  quantization_annotation: TensorAnnotationPb[];
  metadata_props: StringStringEntryPb[];
}
export interface FunctionPb {
  name?: string;
  input: string[];
  output: string[];
  attribute: string[];
  attribute_proto: AttributePb[];
  node: NodePb[];
  doc_string?: string;
  opset_import: OperatorSetIdPb[];
  domain?: string;
  overload?: string;
  value_info: ValueInfoPb[];
  metadata_props: StringStringEntryPb[];
}
export interface ModelPb {
  ir_version?: Int64;
  opset_import: OperatorSetIdPb[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: GraphPb;
  metadata_props: StringStringEntryPb[];
  training_info: unknown[];
  functions: FunctionPb[];
  configuration: unknown[];
}

/** True when a proto2 optional field was present on the wire. */
export function has(msg: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, field);
}

export function toBigInt(v: Int64 | undefined | null): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  return BigInt(v.toString());
}

export function toLong(v: bigint | number): Long {
  return Long.fromString(typeof v === 'bigint' ? v.toString() : String(Math.trunc(v)), false);
}

/** A safe JS number from an int64, or a typed error when it does not fit exactly. */
export function int64ToNumber(v: Int64 | undefined | null, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const n = v.toNumber();
  if (!Number.isSafeInteger(n)) fail(ErrorCodes.ONNX_INVALID, `${what} ${v.toString()} does not fit a safe integer`);
  return n;
}

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

/**
 * Walks `bytes` as an encoded message of `type` and throws ONNX_UNKNOWN_FIELD for any field
 * number the schema does not declare, ONNX_DECODE for malformed wire data. Cost: one pass
 * over the bytes; large byte fields are skipped, not copied.
 */
export function checkWire(bytes: Uint8Array, type: protobuf.Type, path: string, file?: string): void {
  const reader = protobuf.Reader.create(bytes);
  walk(reader, bytes.length, type, path, file, 0);
}

function walk(reader: protobuf.Reader, end: number, type: protobuf.Type, path: string, file: string | undefined, depth: number): void {
  if (depth > 64) fail(ErrorCodes.ONNX_DECODE, `message nesting deeper than 64 levels at ${path}`, { file });
  while (reader.pos < end) {
    const tag = reader.uint32();
    const fieldNo = tag >>> 3;
    const wireType = tag & 7;
    if (fieldNo === 0) fail(ErrorCodes.ONNX_DECODE, `invalid field number 0 at ${path} (byte ${reader.pos})`, { file });
    const field = type.fieldsById[fieldNo];
    if (!field) {
      fail(
        ErrorCodes.ONNX_UNKNOWN_FIELD,
        `${path} has field number ${fieldNo} (${WIRE_NAMES[wireType] ?? 'wire type ' + wireType}), which this version's ONNX schema does not know; ` +
          `refusing to load rather than drop it silently`,
        { file, field: fieldNo, message: type.name },
      );
    }
    const sub = field.resolvedType;
    if (sub instanceof protobuf.Type && wireType === 2) {
      const len = reader.uint32();
      const subEnd = reader.pos + len;
      if (subEnd > end) fail(ErrorCodes.ONNX_DECODE, `truncated message in ${path}.${field.name}`, { file });
      walk(reader, subEnd, sub, `${path}.${field.name}`, file, depth + 1);
      if (reader.pos !== subEnd) fail(ErrorCodes.ONNX_DECODE, `malformed message in ${path}.${field.name}`, { file });
    } else {
      if (wireType === 3 || wireType === 4 || wireType > 5) {
        fail(ErrorCodes.ONNX_DECODE, `unsupported wire type ${wireType} for ${path}.${field.name}`, { file });
      }
      reader.skipType(wireType);
      if (reader.pos > end) fail(ErrorCodes.ONNX_DECODE, `truncated field ${path}.${field.name}`, { file });
    }
  }
}

/** Decodes an ONNX message, mapping protobufjs errors to typed ones. */
export function decodeMessage<T>(type: protobuf.Type, bytes: Uint8Array, what: string, file?: string): T {
  try {
    checkWire(bytes, type, what, file);
    return type.decode(bytes) as unknown as T;
  } catch (e) {
    if (e instanceof Error && e.name === 'HbnnError') throw e;
    return fail(ErrorCodes.ONNX_DECODE, `${file ?? what} is not a valid ONNX ${type.name}: ${(e as Error).message}`, { file }, e);
  }
}

export function encodeMessage(type: protobuf.Type, msg: object): Uint8Array {
  return type.encode(msg as protobuf.Message).finish();
}
