/**
 * The ONNX messages as plain objects, fields named as in onnx.proto: what the IR keeps intact
 * for the parts of a model it does not model itself (value types, sparse tensors, functions,
 * training info), and the int64 helpers over them. No protobuf library here: src/onnx/proto.ts
 * binds these shapes to the wire format, src/onnx/serde.ts converts them to and from the IR.
 */
import Long from 'long';
import { fail, ErrorCodes } from '../errors.js';

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
