/**
 * Conformance of the ONNX I/O layer against the ONNX backend node-test corpus (an opt-in:
 * the folder named by the environment variable HBNN_ONNX_NODE_CORPUS; a few cases are
 * vendored in fixtures/onnx-node for the default suite): every model is loaded, re-saved, reloaded, compared, and
 * the re-saved bytes are run in onnxruntime-node against the case's reference outputs.
 *
 * Every case ends in exactly one bucket:
 *  - 'matched': ORT ran the re-saved model and every output matched the reference;
 *  - 'not-runnable': ORT (or ORT's JS API) cannot run the case; the reason comes from the
 *    actual ORT error message at session create / run, or a known JS API limitation
 *    (sequence/optional/map values, element types without a JS tensor);
 *  - 'ort-disagrees': ORT runs the model but its numbers differ from the reference, and the
 *    *original* file (loaded by ORT from disk, not by us) gives the same difference;
 *  - 'failure': anything that is our fault: the round trip changed something, decode failed,
 *    or the re-saved model mismatches while the original does not.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel, encodeModelChunks, decodeTensor } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import type { Model, Value } from '../../src/ir/graph.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { halfToFloat } from '../../src/ir/tensor.js';
import { DataType, dtypeName, ortTypeName } from '../../src/ir/dtype.js';
import type { TypePb } from '../../src/onnx/proto.js';
import { toOrtTensor } from '../../src/runtime/ort.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The environment variable that names the full node-test corpus folder (opt-in). */
export const CORPUS_ENV = 'HBNN_ONNX_NODE_CORPUS';

/**
 * The full corpus folder, or undefined when HBNN_ONNX_NODE_CORPUS is unset or empty. A
 * relative path is taken from the repository root (where `npm test` runs).
 */
export const CORPUS: string | undefined = process.env[CORPUS_ENV] ? path.resolve(REPO_ROOT, process.env[CORPUS_ENV]!) : undefined;

/** The cases vendored in the repository (fixtures/onnx-node), same layout as the corpus. */
export const VENDORED = path.join(REPO_ROOT, 'fixtures', 'onnx-node');
export const RTOL = 1e-3;
export const ATOL = 1e-7;

export type Outcome =
  | { bucket: 'matched' }
  | { bucket: 'not-runnable'; reason: string; detail: string }
  | { bucket: 'ort-disagrees'; detail: string }
  | { bucket: 'failure'; reason: string; detail: string };

export function listCases(corpus: string): string[] {
  if (!fs.existsSync(corpus)) throw new Error(`${CORPUS_ENV}=${process.env[CORPUS_ENV]}: no folder ${corpus}`);
  return fs
    .readdirSync(corpus, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(corpus, d.name, 'model.onnx')))
    .map((d) => d.name)
    .sort();
}

/** A deterministic quarter (or any fraction) of the cases. */
export function shard(cases: string[], index: number, count: number): string[] {
  return cases.filter((_, i) => i % count === index);
}

// ------------------------------------------------------------------------------------------
// Round trip
// ------------------------------------------------------------------------------------------

export interface RoundTrip {
  original: Uint8Array;
  saved: Uint8Array;
  model: Model;
  /** Problems found; empty when the round trip is exact. */
  problems: string[];
}

export function roundTrip(file: string): RoundTrip {
  const original = fs.readFileSync(file);
  const problems: string[] = [];
  const m1 = decodeModel(original, { file });
  const text1 = printModel(m1, { tensorValues: 1e9 });
  const saved = encodeModel(m1);
  const m2 = decodeModel(saved, { file: `${file} (re-saved)` });
  const text2 = printModel(m2, { tensorValues: 1e9 });
  const saved2 = encodeModel(m2);
  if (text1 !== text2) problems.push(`IR differs after load → save → load:\n${firstDiff(text1, text2)}`);
  if (!bytesEqual(saved, saved2)) problems.push('the second save differs from the first');
  // The chunked form saveModel writes, with every bytes field as its own chunk.
  if (!bytesEqual(Buffer.concat(encodeModelChunks(m1, 1)), saved)) problems.push('chunked encoding differs from encodeModel');
  if (!bytesEqual(saved, original)) problems.push(`re-saved bytes differ from the original file (${saved.length} vs ${original.length} bytes, first difference at ${firstByteDiff(saved, original)})`);
  return { original, saved, model: m1, problems };
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function firstByteDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function firstDiff(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}:\n- ${(la[i] ?? '').slice(0, 300)}\n+ ${(lb[i] ?? '').slice(0, 300)}`;
  }
  return '(no line differs)';
}

// ------------------------------------------------------------------------------------------
// Running in ORT
// ------------------------------------------------------------------------------------------

/** Why ORT's JS API cannot carry a value of this declared type, or undefined when it can. */
export function jsApiLimit(t: TypePb | undefined): string | undefined {
  if (!t) return undefined;
  if (t.sequence_type) return 'sequence';
  if (t.optional_type) return 'optional';
  if (t.map_type) return 'map';
  if (t.sparse_tensor_type) return 'sparse tensor';
  if (t.opaque_type) return 'opaque';
  const et = t.tensor_type?.elem_type;
  if (et !== undefined && ortType(et) === undefined) return `type ${dtypeName(et)} has no JS tensor`;
  return undefined;
}

/** onnxruntime-common's tensor type name for an ONNX element type (the library's own table). */
export const ortType = ortTypeName;

/** Raw little-endian payload of a tensor in a fresh, aligned buffer. */
function rawOf(t: Tensor): Uint8Array {
  const raw = t.toRawBytes();
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return copy;
}

/** An ORT tensor for a reference input: the library's own conversion (checked by the outputs). */
export function feedTensor(t: Tensor): ort.Tensor {
  if (!ortType(t.dtype)) throw new JsLimit(`type ${dtypeName(t.dtype)} has no JS tensor`);
  return toOrtTensor(t);
}

export class JsLimit extends Error {}

/** Compares one ORT output with its reference; returns a description of the first difference. */
export function compareOutput(name: string, got: ort.Tensor, want: Tensor): string | undefined {
  const wantType = ortType(want.dtype);
  if (got.type !== wantType) return `${name}: type ${got.type}, expected ${wantType ?? dtypeName(want.dtype)}`;
  const gd = [...got.dims].map(Number);
  if (gd.length !== want.dims.length || gd.some((d, i) => d !== want.dims[i])) {
    return `${name}: shape [${gd.join(',')}], expected [${want.dims.join(',')}]`;
  }
  if (got.type === 'string') {
    const dec = new TextDecoder();
    const w = want.storage.kind === 'string' ? want.storage.values.map((b) => dec.decode(b)) : [];
    const g = got.data as string[];
    if (g.length !== w.length) return `${name}: ${g.length} strings, expected ${w.length}`;
    for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) return `${name}[${i}]: ${JSON.stringify(g[i])}, expected ${JSON.stringify(w[i])}`;
    return undefined;
  }
  const raw = rawOf(want);
  const data = got.data as ArrayBufferView;
  const gotBytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (got.type === 'float32' || got.type === 'float64' || got.type === 'float16') {
    const g = floatsOf(got.type, gotBytes);
    const w = floatsOf(got.type, raw);
    if (g.length !== w.length) return `${name}: ${g.length} values, expected ${w.length}`;
    for (let i = 0; i < g.length; i++) {
      const a = g[i]!;
      const b = w[i]!;
      if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
      // Infinities match only the same infinity (|inf - x| <= inf would accept anything).
      if (!Number.isFinite(a) || !Number.isFinite(b) || !(Math.abs(a - b) <= ATOL + RTOL * Math.abs(b))) return `${name}[${i}]: ${a}, expected ${b} (rtol ${RTOL}, atol ${ATOL})`;
    }
    return undefined;
  }
  // Integers and bool: exact, bytewise.
  if (gotBytes.byteLength !== raw.byteLength) return `${name}: ${gotBytes.byteLength} payload bytes, expected ${raw.byteLength}`;
  for (let i = 0; i < raw.byteLength; i++) {
    if (gotBytes[i] !== raw[i]) return `${name}: byte ${i} is ${gotBytes[i]}, expected ${raw[i]} (${got.type}, exact)`;
  }
  return undefined;
}

function floatsOf(type: string, bytes: Uint8Array): ArrayLike<number> {
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  if (type === 'float32') return new Float32Array(aligned.buffer);
  if (type === 'float64') return new Float64Array(aligned.buffer);
  return Array.from(new Uint16Array(aligned.buffer), halfToFloat);
}

/**
 * Groups an ORT error message into a stable reason. Every reason names what failed; an
 * unrecognised message is kept (shortened) rather than hidden.
 */
export function classifyOrtError(stage: 'create' | 'run', msg: string): string {
  let m: RegExpMatchArray | null;
  if ((m = msg.match(/Could not find an implementation for (\w+)\((\d+)\)/))) return `ORT: no CPU kernel for ${m[1]}(${m[2]})`;
  if ((m = msg.match(/([\w.]*):(\w+)\((-?\d+)\) is not a registered function\/op/))) return `ORT: unregistered op ${m[1] || 'ai.onnx'}:${m[2]}`;
  if ((m = msg.match(/Opset (\d+) is under development/))) return `ORT: opset ${m[1]} is under development (refused at load)`;
  if (/Unsupported model IR version/.test(msg)) return 'ORT: unsupported IR version';
  if ((m = msg.match(/Tensor\.type is not supported: (\w+)/))) return `ORT-JS: ${m[1]} input tensors are not accepted by the binding`;
  if (/Batchwise recurrent operations \(layout == 1\) are not supported/.test(msg)) return 'ORT: batchwise (layout=1) RNN/GRU/LSTM not supported';
  if (/Failed to construct locale/.test(msg)) return 'ORT: StringNormalizer locale not installed';
  if ((m = msg.match(/while running (\w+) node/))) {
    const status = msg.replace(/^[\s\S]*Status Message: /, '').replace(/\/onnxruntime_src\/\S+ /, '');
    const tail = status.trim().split(/ was false\. |\n/).pop()!.trim();
    return `ORT: ${m[1]} failed at run (${tail.slice(0, 80)})`;
  }
  if ((m = msg.match(/Type \(tensor\((\w+)\)\)/))) return `ORT: type error on tensor(${m[1]})`;
  if (/ShapeInferenceError/.test(msg)) return 'ORT: shape inference error';
  return `ORT ${stage}: ${msg.split('\n')[0]!.replace(/\/onnxruntime_src\/\S+/g, '').trim().slice(0, 120)}`;
}

export interface RunResult {
  kind: 'ok' | 'limit' | 'ort-error' | 'diff';
  reason?: string;
  detail?: string;
}

export async function runCase(dir: string, modelInput: Uint8Array | string, model: Model, optimization: 'disabled' | 'basic' | 'all'): Promise<RunResult> {
  const g = model.graph;
  const feedsValues = g.inputs.filter((v) => !v.isInitializer);
  const dataDir = path.join(dir, 'test_data_set_0');
  const files = fs.existsSync(dataDir) ? fs.readdirSync(dataDir) : [];
  const inputFiles = files.filter((f) => /^input_\d+\.pb$/.test(f)).sort((a, b) => num(a) - num(b));
  const outputFiles = files.filter((f) => /^output_\d+\.pb$/.test(f)).sort((a, b) => num(a) - num(b));
  // Known JS API limits, from the declared types.
  const limits = (vs: Value[], what: string): string | undefined => {
    for (const v of vs) {
      const l = jsApiLimit(v.type);
      if (l) return `ORT-JS: ${l} ${what}`;
    }
    return undefined;
  };
  const limit = limits(feedsValues.slice(0, inputFiles.length), 'input') ?? limits(g.outputs, 'output');
  if (limit) return { kind: 'limit', reason: limit.replace(/type (\S+) has no JS tensor (input|output)/, 'type $1 has no JS tensor'), detail: '' };
  for (const o of g.outputs) {
    const et = o.type?.tensor_type?.elem_type;
    if (et === DataType.INT4 || et === DataType.UINT4) {
      // onnxruntime-node 1.30 aborts the whole process (V8 "ArrayBuffer::New Allocation failed")
      // when it converts a 4-bit output to JS; see the 'int4 outputs abort' test.
      return { kind: 'limit', reason: 'ORT-JS: 4-bit (int4/uint4) outputs abort the process', detail: o.name };
    }
  }
  if (inputFiles.length > feedsValues.length) return { kind: 'diff', detail: `${inputFiles.length} input files for ${feedsValues.length} graph inputs` };
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < inputFiles.length; i++) {
    const t = decodeTensor(fs.readFileSync(path.join(dataDir, inputFiles[i]!)), inputFiles[i]);
    const v = feedsValues[i]!;
    if (t.name !== '' && t.name !== v.name) return { kind: 'diff', detail: `${inputFiles[i]} is named "${t.name}" but graph input ${i} is "${v.name}"` };
    try {
      feeds[v.name] = feedTensor(t);
    } catch (e) {
      if (e instanceof JsLimit) return { kind: 'limit', reason: `ORT-JS: ${e.message}`, detail: v.name };
      throw e;
    }
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelInput as Uint8Array, {
      graphOptimizationLevel: optimization,
      logSeverityLevel: 4,
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
  } catch (e) {
    const msg = (e as Error).message;
    return { kind: 'ort-error', reason: classifyOrtError('create', msg), detail: msg.slice(0, 400) };
  }
  try {
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await session.run(feeds);
    } catch (e) {
      const msg = (e as Error).message;
      return { kind: 'ort-error', reason: classifyOrtError('run', msg), detail: msg.slice(0, 400) };
    }
    const outNames = session.outputNames;
    if (outputFiles.length !== outNames.length) return { kind: 'diff', detail: `${outputFiles.length} output files for ${outNames.length} outputs` };
    for (let i = 0; i < outputFiles.length; i++) {
      const want = decodeTensor(fs.readFileSync(path.join(dataDir, outputFiles[i]!)), outputFiles[i]);
      const name = outNames[i]!;
      if (want.name !== '' && want.name !== name) return { kind: 'diff', detail: `${outputFiles[i]} is named "${want.name}" but output ${i} is "${name}"` };
      const got = out[name] as ort.Tensor | undefined;
      if (!got) return { kind: 'diff', detail: `ORT returned no output "${name}"` };
      const d = compareOutput(name, got, want);
      if (d) return { kind: 'diff', detail: d };
    }
    return { kind: 'ok' };
  } finally {
    await session.release();
  }
}

function num(f: string): number {
  return Number(f.match(/\d+/)![0]);
}

/** Everything for one corpus case. */
export async function checkCase(corpus: string, name: string, optimization: 'disabled' | 'basic' | 'all' = 'disabled'): Promise<Outcome> {
  const dir = path.join(corpus, name);
  const file = path.join(dir, 'model.onnx');
  let rt: RoundTrip;
  try {
    rt = roundTrip(file);
  } catch (e) {
    return { bucket: 'failure', reason: 'load/save threw', detail: `${(e as Error).name}: ${(e as Error).message}` };
  }
  if (rt.problems.length) return { bucket: 'failure', reason: 'round trip not exact', detail: rt.problems.join('\n') };
  const r = await runCase(dir, rt.saved, rt.model, optimization);
  if (r.kind === 'ok') return { bucket: 'matched' };
  if (r.kind === 'limit' || r.kind === 'ort-error') return { bucket: 'not-runnable', reason: r.reason!, detail: r.detail ?? '' };
  // A difference: does ORT give the same on the original file, loaded by ORT itself?
  const r0 = await runCase(dir, file, rt.model, optimization);
  if (r0.kind === 'diff' && r0.detail === r.detail) return { bucket: 'ort-disagrees', detail: r.detail! };
  return { bucket: 'failure', reason: 'mismatch on the re-saved model only', detail: `re-saved: ${r.detail}; original: ${r0.kind} ${r0.detail ?? ''}` };
}
