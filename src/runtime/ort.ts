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

export interface SessionOptions {
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** Graph optimization level (default 'all'; 'disabled' keeps the graph as written). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Binarized weights of a quantized model: 'dequantized' (default) replaces each weight call
   * by its Ŵ, computed once in this process (src/quant/planes.ts, bit-identical to the
   * call's body) and cached, so a session never rebuilds them; 'as-written' runs the model
   * as saved (onnxruntime folds the calls at session creation).
   */
  weights?: 'dequantized' | 'as-written';
  /** Whether idle intra-op threads spin (default: onnxruntime's, which spins). */
  spinning?: boolean;
  /**
   * Stop the intra-op threads' spinning as soon as a run returns (onnxruntime's
   * `session.force_spinning_stop`; default off): they still spin between the nodes of a run,
   * but not through the caller's work between runs.
   */
  stopSpinningAfterRun?: boolean;
  /** onnxruntime's per-node profiler, writing `<prefix>_<date>.json` when the session ends profiling. */
  profilePrefix?: string;
  /**
   * onnxruntime's memory pattern (default on): the first run records every tensor's
   * allocation, the second allocates one block of the planned peak size (fresh pages, faulted
   * in during that run) and later runs reuse it. Off: every run allocates from the arena the
   * first run grew.
   */
  memPattern?: boolean;
}

export type OrtTensor = ort.Tensor;
export { ort };

/** Creates an InferenceSession from an IR model (serialized in memory). */
export async function createSession(model: Model | Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model, opts.weights === 'as-written' ? {} : { constants: dequantizedWeights(model) });
  const so: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.optimization ?? 'all',
    logSeverityLevel: 3,
  };
  if (opts.threads !== undefined) {
    so.intraOpNumThreads = opts.threads;
    so.interOpNumThreads = 1;
  }
  if (opts.memPattern !== undefined) so.enableMemPattern = opts.memPattern;
  const session: Record<string, unknown> = {};
  if (opts.spinning !== undefined) session.intra_op = { allow_spinning: opts.spinning ? '1' : '0' };
  if (opts.stopSpinningAfterRun) session.force_spinning_stop = '1';
  if (Object.keys(session).length > 0) so.extra = { session };
  if (opts.profilePrefix !== undefined) {
    so.enableProfiling = true;
    so.profileFilePrefix = opts.profilePrefix;
  }
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
