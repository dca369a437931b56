/**
 * All numeric execution goes through onnxruntime-node: sessions built from IR models,
 * typed inputs in, typed outputs out, errors mapped to RUNTIME.
 */
import * as ort from 'onnxruntime-node';
import type { Model } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { encodeModel } from '../onnx/io.js';
import { dequantizedWeights } from '../quant/planes.js';
import { ortTypeName, dtypeName } from '../ir/dtype.js';
import { fail, ErrorCodes, isHbnnError } from '../errors.js';
import { ortSessionOptions, type SessionOptions } from './session-options.js';

export type { SessionOptions };

export type OrtTensor = ort.Tensor;
export { ort };

/** The bytes `createSession` gives onnxruntime for `model` (binarized weights per `opts.weights`). */
export function sessionModelBytes(model: Model, opts: Pick<SessionOptions, 'weights'> = {}): Uint8Array {
  return encodeModel(model, opts.weights === 'as-written' ? {} : { constants: dequantizedWeights(model) });
}

/** Creates an InferenceSession from an IR model (serialized in memory). */
export async function createSession(model: Model | Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : sessionModelBytes(model, opts);
  const so = ortSessionOptions(opts);
  try {
    return await ort.InferenceSession.create(bytes, so);
  } catch (e) {
    return fail(ErrorCodes.RUNTIME, `onnxruntime could not load the model: ${firstLine(e)}`, {}, e);
  }
}

export async function runSession(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, outputs?: string[]): Promise<Record<string, ort.Tensor>> {
  try {
    return (await (outputs ? session.run(feeds, outputs) : session.run(feeds))) as Record<string, ort.Tensor>;
  } catch (e) {
    return fail(ErrorCodes.RUNTIME, `onnxruntime failed while running the model: ${firstLine(e)}`, {}, e);
  }
}

/** An ORT tensor from an IR tensor (copying bytes into a fresh, aligned buffer). */
export function toOrtTensor(t: Tensor): ort.Tensor {
  const type = ortTypeName(t.dtype);
  if (!type) fail(ErrorCodes.UNSUPPORTED_OP, `onnxruntime-node cannot take ${dtypeName(t.dtype)} tensors from JavaScript (tensor "${t.name}")`);
  const dims = [...t.dims];
  if (type === 'string') {
    const s = t.storage;
    const dec = new TextDecoder();
    return new ort.Tensor('string', s.kind === 'string' ? s.values.map((b) => dec.decode(b)) : [], dims);
  }
  const raw = t.toRawBytes();
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  const buf = copy.buffer;
  switch (type) {
    case 'float32': return new ort.Tensor('float32', new Float32Array(buf), dims);
    case 'float64': return new ort.Tensor('float64', new Float64Array(buf), dims);
    case 'int8': return new ort.Tensor('int8', new Int8Array(buf), dims);
    case 'uint8': return new ort.Tensor('uint8', copy, dims);
    case 'int16': return new ort.Tensor('int16', new Int16Array(buf), dims);
    case 'uint16': return new ort.Tensor('uint16', new Uint16Array(buf), dims);
    case 'float16': return new ort.Tensor('float16', new Uint16Array(buf), dims);
    case 'int32': return new ort.Tensor('int32', new Int32Array(buf), dims);
    case 'uint32': return new ort.Tensor('uint32', new Uint32Array(buf), dims);
    case 'int64': return new ort.Tensor('int64', new BigInt64Array(buf), dims);
    case 'uint64': return new ort.Tensor('uint64', new BigUint64Array(buf), dims);
    case 'bool': return new ort.Tensor('bool', copy, dims);
    // 4-bit types travel packed two per byte; onnxruntime-node takes them as Uint8Array.
    case 'int4': return new ort.Tensor('int4', copy, dims);
    case 'uint4': return new ort.Tensor('uint4', copy, dims);
    default: return fail(ErrorCodes.UNSUPPORTED_OP, `no ORT conversion for ${type}`);
  }
}

export function float32Tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, [...dims]);
}

function firstLine(e: unknown): string {
  if (isHbnnError(e)) return e.message;
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.slice(0, 500);
}
