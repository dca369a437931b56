/**
 * Test helpers: ONNX messages built as plain protobuf objects and encoded with the project's
 * schema, plus raw wire-format pieces for hand-made (malformed or unusual) files.
 */
import Long from 'long';
import { ModelProtoType, TensorProtoType, encodeMessage } from '../../src/onnx/proto.js';
import { encodeVarint } from './mutate.js';

export const NodeProtoType = ModelProtoType.root.lookupType('onnx.NodeProto');
export const GraphProtoType = ModelProtoType.root.lookupType('onnx.GraphProto');

export const FLOAT = 1;
export const INT64 = 7;
export const UINT64 = 13;

export function long(v: bigint): Long {
  return Long.fromString(v.toString(), v > 0x7fffffffffffffffn);
}

export function tensorType(elemType: number, dims: number[]): object {
  return { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => ({ dim_value: d })) } } };
}

export function valueInfo(name: string, elemType: number, dims: number[]): object {
  return { name, type: tensorType(elemType, dims) };
}

export function floatTensorPb(name: string, dims: number[], values: Float32Array): object {
  return { name, dims, data_type: FLOAT, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** A model: Identity-free graph built from the given pieces; opset 13 unless given. */
export function modelPb(graph: object, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ir_version: 8,
    opset_import: [{ domain: '', version: 13 }],
    producer_name: 'hbnn-onnx tests',
    graph,
    ...extra,
  };
}

export function encodeModelPb(pb: object): Uint8Array {
  return encodeMessage(ModelProtoType, pb);
}

export function encodeTensorPb(pb: object): Uint8Array {
  return encodeMessage(TensorProtoType, pb);
}

/** A length-delimited field: tag (field, wire type 2), length, bytes. */
export function lenField(field: number, bytes: Uint8Array): Uint8Array {
  return concat(Uint8Array.from([...encodeVarint((field << 3) | 2), ...encodeVarint(bytes.length)]), bytes);
}

/** A varint field. */
export function varintField(field: number, value: number): Uint8Array {
  return Uint8Array.from([...encodeVarint(field << 3), ...encodeVarint(value)]);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A float model y = x + w (w an initializer of n floats). */
export function addModelPb(n: number, w: Float32Array, wName = 'w'): Record<string, unknown> {
  return modelPb({
    name: 'add',
    node: [{ op_type: 'Add', input: ['x', wName], output: ['y'] }],
    initializer: [floatTensorPb(wName, [n], w)],
    input: [valueInfo('x', FLOAT, [n])],
    output: [valueInfo('y', FLOAT, [n])],
  });
}
