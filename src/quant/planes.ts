/**
 * The bit planes of binarized weights: the one reader and the one builder of how a quantized
 * model stores them (docs/format.md §2). Every consumer (bit-level lowering, the trainer,
 * inspect, the ASIC geometry, the runtime) reads planes through `readWeightCall` /
 * `weightCallDims`, and every producer (quantization, fine-tuning, importers) writes them
 * through `addWeightCall` / `rewriteWeightCall`, so a new encoding changes this file only.
 *
 * Two encodings, both read everywhere:
 *
 * - `int8` (format `hbnn-onnx/1`): `ai.hbnn::BinarizedWeight(planes, scales)` with
 *   `planes` int8 [K, ...S] (plane i holds B_{i+1} ∈ {−1, +1} where M_j > i, 0 elsewhere).
 * - `packed` (format `hbnn-onnx/2`, the default): `ai.hbnn::PackedBinarizedWeight<K>` (per
 *   tensor scales) or `…<K>PerChannel` with inputs
 *     `signs1` uint8: B_1 of every entry, 8 per byte (bit b of byte m is entry 8m + b, 1 = −1);
 *     `scales` float32: as in `int8`;
 *     `shape` int64 [r]: S;
 *     `chan` int64 [2] (per channel only): [C, stride], the scale channel count and the
 *       number of consecutive entries sharing a channel (entry j has channel ⌊j/stride⌋ mod C);
 *   and for each plane i = 2..K, the entries A_i that have it as a subset of A_{i−1} (A_1 =
 *   every entry), as positions p in A_{i−1}'s list (ascending entry order):
 *     `signs<i>` uint8: B_i of the entries of A_i in order, 8 per byte;
 *     `mask<i>` uint8: a bitmap over A_{i−1}'s list (bit p set: position p is in A_i), or empty;
 *     `index<i>` int32: the positions as a list, or empty;
 *   exactly one of `mask<i>` and `index<i>` is non-empty when A_i is (the smaller one is
 *   written: a list when 4·|A_i| < ⌈|A_{i−1}|/8⌉ bytes).
 *   The body (standard ONNX operators) rebuilds Ŵ = ((mu_1·B_1 + mu_2·B_2) + mu_3·B_3) … in
 *   float32 in plane order, each term added only where the entry has the plane, exactly as
 *   `BinarizedWeight`'s ReduceSum does: onnxruntime gives bit-identical weights for both
 *   (test/quant/planes.test.ts). Each intermediate is at most 4 bytes per weight, so
 *   onnxruntime's constant folding (1 GiB per node by default) computes Ŵ once, at session
 *   creation, for tensors up to 268 M weights.
 */
import { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/dtype.js';
import type { Graph, Model, Node, Value } from '../ir/graph.js';
import type { FunctionPb, NodePb, TensorPb } from '../onnx/proto.js';
import { fail, ErrorCodes } from '../errors.js';
import { FN_WEIGHT, HBNN_DOMAIN, attr, ensureHbnnFunctions, isWeightCall, node, packedWeightFunctionName, parsePackedWeightFunctionName } from './format.js';

export type PlaneEncoding = 'packed' | 'int8';
export const PLANE_ENCODINGS: readonly PlaneEncoding[] = ['packed', 'int8'];

/** A binarized weight's planes and scales, decoded (the `int8` layout, whatever the encoding). */
export interface PlaneData {
  /** The weight's shape S. */
  dims: readonly number[];
  /** Number of planes K. */
  k: number;
  /** int8 [K, n]: plane i holds B_{i+1} (±1) where the entry has more than i bits, 0 elsewhere; the weight's own layout. */
  planes: Int8Array;
  /** Scales shape: [K, 1, …, 1] per tensor, or with C on the output-channel axis (shifted by one). */
  scaleDims: readonly number[];
  scaleData: Float32Array;
}

/** A binarized weight call as stored. */
export interface WeightCall extends PlaneData {
  call: Node;
  encoding: PlaneEncoding;
  /** Input 0: the initializer the record's `planes` field names. */
  key: Value;
  /** Input 1: the scales initializer. */
  scales: Value;
  /** Bytes of the call's initializers (planes, masks, indices, scales, shape). */
  storedBytes: number;
}

/** The constant tensor behind a value: an initializer or a Constant node's `value`. */
function constOf(v: Value | null | undefined): Tensor | undefined {
  if (!v) return undefined;
  if (v.constValue && !v.isGraphInput) return v.constValue;
  const p = v.producer;
  if (p && p.isOnnx('Constant')) return p.attrTensor('value');
  return undefined;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

const rawTensor = (name: string, t: { dims: number[]; dtype: number; bytes: Uint8Array }): Tensor => new Tensor(name, t.dtype, t.dims, { kind: 'raw', bytes: t.bytes });

function bytesOf(t: Tensor): Uint8Array {
  return t.toRawBytes();
}

/** The weight shape S of a weight call, without decoding its planes (undefined when its inputs are not constant). */
export function weightCallDims(call: Node): number[] | undefined {
  if (call.opType === FN_WEIGHT) {
    const p = constOf(call.inputs[0]);
    return p ? [...p.dims.slice(1)] : undefined;
  }
  const s = constOf(call.inputs[2]);
  return s ? s.toNumberArray() : undefined;
}

/** Reads (and decodes) a weight call; a malformed call is NOT_QUANTIZED. */
export function readWeightCall(call: Node): WeightCall {
  if (!isWeightCall(call)) fail(ErrorCodes.INTERNAL, `node ${call.label} is not a binarized weight call`);
  const bad = (msg: string): never => fail(ErrorCodes.NOT_QUANTIZED, `${call.opType} call ${call.label}: ${msg}`, { node: call.name });
  const key = call.inputs[0];
  const scales = call.inputs[1];
  const st = constOf(scales);
  if (!key || !scales || !st || st.dtype !== DataType.FLOAT) return bad('needs constant float32 scales');
  const consts = call.inputs.map((v) => constOf(v));
  const storedBytes = consts.reduce((s, t) => s + (t ? t.byteLength : 0), 0);
  const scaleData = st.toFloat32();
  if (call.opType === FN_WEIGHT) {
    const pt = consts[0];
    if (!pt || pt.dtype !== DataType.INT8) return bad('needs constant int8 planes');
    const raw = bytesOf(pt);
    const planes = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    return { call, encoding: 'int8', key, scales, dims: pt.dims.slice(1), k: pt.dims[0]!, planes, scaleDims: st.dims, scaleData, storedBytes };
  }
  const fn = parsePackedWeightFunctionName(call.opType)!;
  const k = fn.k;
  const base = fn.perChannel ? 5 : 4;
  const expected = base + 2 * (k - 1);
  if (call.inputs.length !== expected || consts.some((t) => !t)) return bad(`needs ${expected} constant inputs`);
  const dims = consts[2]!.toNumberArray();
  const counts = consts[3]!.toNumberArray();
  const n = prod(dims);
  if (st.size !== k && !fn.perChannel) return bad(`per-tensor scales must hold ${k} values`);
  if (counts.length !== k || counts[0] !== n) return bad(`counts [${counts.join(',')}] do not start with the ${n} weights`);
  const planes = new Int8Array(k * n);
  const s1 = bytesOf(consts[0]!);
  if (s1.length !== Math.ceil(n / 8)) return bad(`signs1 holds ${s1.length} bytes for ${n} weights`);
  for (let j = 0; j < n; j++) planes[j] = (s1[j >>> 3]! >>> (j & 7)) & 1 ? -1 : 1;
  let prev: Int32Array | null = null; // A_{i-1} as entry indices (null: every entry)
  let prevLen = n;
  for (let i = 2; i <= k; i++) {
    const signs = bytesOf(consts[base + 2 * (i - 2)]!);
    const mask = bytesOf(consts[base + 2 * (i - 2) + 1]!);
    if (mask.length !== Math.ceil(prevLen / 8) || signs.length !== Math.ceil(counts[i - 1]! / 8)) return bad(`plane ${i}: mask or signs have the wrong size`);
    const cur = new Int32Array(counts[i - 1]!);
    let q = 0;
    for (let p = 0; p < prevLen; p++) {
      if (!((mask[p >>> 3]! >>> (p & 7)) & 1)) continue;
      if (q >= cur.length) return bad(`plane ${i}: the mask has more than counts[${i - 1}] = ${cur.length} bits set`);
      const j = prev ? prev[p]! : p;
      cur[q] = j;
      planes[(i - 1) * n + j] = (signs[q >>> 3]! >>> (q & 7)) & 1 ? -1 : 1;
      q++;
    }
    if (q !== cur.length) return bad(`plane ${i}: the mask has ${q} bits set, counts says ${cur.length}`);
    prev = cur;
    prevLen = cur.length;
  }
  return { call, encoding: 'packed', key, scales, dims, k, planes, scaleDims: st.dims, scaleData, storedBytes };
}

/** The output-channel axis of the scales (their only axis after the first with more than one entry), or -1 per tensor. */
function scaleChannel(dims: readonly number[], scaleDims: readonly number[]): { channels: number; stride: number } {
  for (let a = 1; a < scaleDims.length; a++) {
    if (scaleDims[a]! > 1) return { channels: scaleDims[a]!, stride: prod(dims.slice(a)) };
  }
  return { channels: 1, stride: prod(dims) };
}

/** Ŵ from decoded planes: the float32 sum over planes in plane order, as onnxruntime computes it. */
export function dequantizePlanes(d: PlaneData): Float32Array {
  const n = prod(d.dims);
  const { channels, stride } = scaleChannel(d.dims, d.scaleDims);
  const out = new Float32Array(n);
  for (let i = 0; i < d.k; i++) {
    const off = i * n;
    for (let j = 0; j < n; j++) {
      const p = d.planes[off + j]!;
      if (p === 0) continue;
      const c = channels === 1 ? 0 : Math.floor(j / stride) % channels;
      out[j] = Math.fround(out[j]! + p * d.scaleData[i * channels + c]!);
    }
  }
  return out;
}

const dequantCache = new WeakMap<Tensor, { scales: Tensor; w: Float32Array }>();

/** Ŵ of a weight call (cached while its key and scales tensors are unchanged). */
export function dequantizeWeightCall(call: Node): Float32Array {
  const kt = constOf(call.inputs[0]);
  const st = constOf(call.inputs[1]);
  const hit = kt ? dequantCache.get(kt) : undefined;
  if (hit && hit.scales === st) return hit.w;
  const w = dequantizePlanes(readWeightCall(call));
  if (kt && st) dequantCache.set(kt, { scales: st, w });
  return w;
}

// ------------------------------------------------------------------------------------------
// Building
// ------------------------------------------------------------------------------------------

/** Names of the initializers of a packed call, from the weight's base name. */
function packedInitNames(g: Graph, base: string, k: number, perChannel: boolean): string[] {
  const names = [`${base}.hbnn_signs1`, `${base}.hbnn_scales`, `${base}.hbnn_shape`];
  names.push(`${base}.hbnn_counts`);
  if (perChannel) names.push(`${base}.hbnn_chan`);
  for (let i = 2; i <= k; i++) names.push(`${base}.hbnn_signs${i}`, `${base}.hbnn_mask${i}`);
  return names.map((n) => g.uniqueName(n));
}

/** Whether planes can be packed: plane 1 full, each plane's entries a subset of the previous plane's. */
function packable(d: PlaneData): boolean {
  const n = prod(d.dims);
  for (let j = 0; j < n; j++) {
    if (d.planes[j] === 0) return false;
    for (let i = 1; i < d.k; i++) if (d.planes[i * n + j] !== 0 && d.planes[(i - 1) * n + j] === 0) return false;
  }
  return true;
}

/** The packed tensors (in call input order, without names) of decoded planes. */
function packTensors(d: PlaneData, perChannel: boolean): { dims: number[]; dtype: number; bytes: Uint8Array }[] {
  const n = prod(d.dims);
  const bits = (count: number, get: (q: number) => boolean): Uint8Array => {
    const b = new Uint8Array(Math.ceil(count / 8));
    for (let q = 0; q < count; q++) if (get(q)) b[q >>> 3]! |= 1 << (q & 7);
    return b;
  };
  const i64 = (xs: readonly number[]): Uint8Array => new Uint8Array(BigInt64Array.from(xs, (x) => BigInt(x)).buffer);
  const s1 = bits(n, (j) => d.planes[j]! < 0);
  const planes: { dims: number[]; dtype: number; bytes: Uint8Array }[] = [];
  const counts = [n];
  let prev: Int32Array | null = null;
  let prevLen = n;
  for (let i = 1; i < d.k; i++) {
    const off = i * n;
    const set = new Uint8Array(prevLen);
    const entries: number[] = [];
    for (let p = 0; p < prevLen; p++) {
      const j = prev ? prev[p]! : p;
      if (d.planes[off + j] !== 0) {
        set[p] = 1;
        entries.push(j);
      }
    }
    const signs = bits(entries.length, (q) => d.planes[off + entries[q]!]! < 0);
    const mask = bits(prevLen, (p) => set[p] === 1);
    planes.push({ dims: [signs.length], dtype: DataType.UINT8, bytes: signs }, { dims: [mask.length], dtype: DataType.UINT8, bytes: mask });
    counts.push(entries.length);
    prev = Int32Array.from(entries);
    prevLen = entries.length;
  }
  const out = [
    { dims: [s1.length], dtype: DataType.UINT8, bytes: s1 },
    { dims: [...d.scaleDims], dtype: DataType.FLOAT, bytes: new Uint8Array(Float32Array.from(d.scaleData).buffer) },
    { dims: [d.dims.length], dtype: DataType.INT64, bytes: i64(d.dims) },
    { dims: [d.k], dtype: DataType.INT64, bytes: i64(counts) },
  ];
  if (perChannel) {
    const { channels, stride } = scaleChannel(d.dims, d.scaleDims);
    out.push({ dims: [2], dtype: DataType.INT64, bytes: i64([channels, stride]) });
  }
  return [...out, ...planes];
}

/** Whether scales have one value per plane (per tensor). */
function perTensor(d: PlaneData): boolean {
  return d.scaleData.length === d.k;
}

/**
 * Adds a weight call for `d` to the model's main graph (not yet placed: the caller inserts it
 * before its consumer) with its initializers named after `base`, in `encoding` (planes that
 * cannot be packed, e.g. hand-made ones with a plane-1 zero, are written as int8). Adds the
 * function it calls.
 */
export function addWeightCall(model: Model, base: string, nodeName: string, d: PlaneData, encoding: PlaneEncoding = 'packed'): { call: Node; key: Value; scales: Value } {
  const g = model.graph;
  ensureHbnnFunctions(model);
  if (encoding === 'packed' && packable(d)) {
    const pc = !perTensor(d);
    const names = packedInitNames(g, base, d.k, pc);
    const inputs = packTensors(d, pc).map((t, i) => g.addInitializer(rawTensor(names[i]!, t)));
    ensurePackedFunction(model, d.k, pc);
    const call = g.createNode(packedWeightFunctionName(d.k, pc), inputs, [g.uniqueName(`${base}.hbnn`)], { domain: HBNN_DOMAIN, name: g.uniqueName(nodeName) });
    return { call, key: inputs[0]!, scales: inputs[1]! };
  }
  const planes = g.addInitializer(Tensor.fromUint8(g.uniqueName(`${base}.hbnn_planes`), [d.k, ...d.dims], new Uint8Array(d.planes.buffer, d.planes.byteOffset, d.planes.byteLength), DataType.INT8));
  const scales = g.addInitializer(Tensor.fromFloat32(g.uniqueName(`${base}.hbnn_scales`), d.scaleDims, d.scaleData));
  const call = g.createNode(FN_WEIGHT, [planes, scales], [g.uniqueName(`${base}.hbnn`)], { domain: HBNN_DOMAIN, name: g.uniqueName(nodeName) });
  return { call, key: planes, scales };
}

/**
 * Replaces the planes and scales of an existing call by `d` (same weight shape), keeping its
 * encoding and the names of its key and scales initializers (the record refers to them). When
 * the function changes (another K, or per-tensor ↔ per-channel scales) a new call replaces the
 * old one; the result is the call that now produces the weight.
 */
export function rewriteWeightCall(model: Model, call: Node, d: PlaneData): Node {
  const g = model.graph;
  const old = readWeightCall(call);
  if (old.dims.join(',') !== d.dims.join(',')) fail(ErrorCodes.INTERNAL, `rewriting ${call.label}: shape [${d.dims.join(',')}] is not [${old.dims.join(',')}]`);
  const pack = old.encoding === 'packed' && packable(d);
  const same = pack ? call.opType === packedWeightFunctionName(d.k, !perTensor(d)) : old.encoding === 'int8';
  if (same) {
    const tensors = pack
      ? packTensors(d, !perTensor(d))
      : [
          { dims: [d.k, ...d.dims], dtype: DataType.INT8, bytes: new Uint8Array(d.planes.buffer.slice(d.planes.byteOffset, d.planes.byteOffset + d.planes.byteLength)) },
          { dims: [...d.scaleDims], dtype: DataType.FLOAT, bytes: new Uint8Array(Float32Array.from(d.scaleData).buffer) },
        ];
    call.inputs.forEach((v, i) => {
      const t = tensors[i]!;
      v!.constValue = rawTensor(v!.name, t);
    });
    return call;
  }
  const keyName = old.key.name;
  const scalesName = old.scales.name;
  const base = keyName.replace(/\.hbnn_(planes|signs1)(_\d+)?$/, '');
  const { call: fresh, key, scales } = addWeightCall(model, base, call.name, d, old.encoding);
  g.insertBefore(call, fresh);
  call.outputs[0]!.replaceAllUsesWith(fresh.outputs[0]!);
  const inputs = call.inputs.filter((v): v is Value => !!v);
  g.removeNode(call);
  for (const v of inputs) if (v.isInitializer && v.uses.length === 0) g.removeInitializer(v);
  g.renameValue(key, keyName);
  g.renameValue(scales, scalesName);
  pruneWeightFunctions(model);
  return fresh;
}

/** The weight call whose key initializer is `keyName` (the record's `planes`). */
export function findWeightCall(g: Graph, keyName: string): Node | undefined {
  return g.get(keyName)?.uses.map((u) => u.node).find(isWeightCall);
}

// ------------------------------------------------------------------------------------------
// The packed functions
// ------------------------------------------------------------------------------------------

const tensorPb = (dims: number[], dataType: number, raw: Uint8Array): TensorPb =>
  ({ dims: dims as never, data_type: dataType, raw_data: raw, float_data: [], int32_data: [], string_data: [], int64_data: [], external_data: [], double_data: [], uint64_data: [], metadata_props: [] }) as TensorPb;

const constant = (out: string, t: TensorPb): NodePb => node('Constant', [], [out], [attr('value', { type: 4, t })]);
const i64c = (out: string, xs: number[], scalar = false): NodePb => constant(out, tensorPb(scalar ? [] : [xs.length], DataType.INT64, new Uint8Array(BigInt64Array.from(xs, (x) => BigInt(x)).buffer)));
const castTo = (x: string, out: string, to: number): NodePb => node('Cast', [x], [out], [attr('to', { type: 2, i: to as never })]);

/**
 * The body of `PackedBinarizedWeight<K>[PerChannel]` (valid at ai.onnx opset 11 and later).
 * Every intermediate has a static shape (onnxruntime does not constant-fold NonZero or
 * Compress): the positions of a bitmap's set bits come from a CumSum rank and a
 * ScatterElements into a list one longer than the count, whose last slot collects the unset
 * positions and is dropped.
 */
export function packedWeightFunction(k: number, perChannel: boolean, opset: number): FunctionPb {
  const ax0 = attr('axis', { type: 2, i: 0 as never });
  const i32 = (out: string, xs: number[], dims: number[] = [xs.length]): NodePb => constant(out, tensorPb(dims, DataType.INT32, new Uint8Array(Int32Array.from(xs).buffer)));
  const n: NodePb[] = [
    // The byte → 8 bits tables (bit b of byte v at [v, b]), computed rather than stored:
    // TI int32 0/1, TB bool, TS float +1 (bit clear) / −1 (bit set).
    i32('zero_i', [0], []),
    i32('one_i', [1], []),
    i32('two_i', [2], []),
    i32('n256', [256], []),
    i32('pow2', [1, 2, 4, 8, 16, 32, 64, 128]),
    i64c('col', [256, 1]),
    node('Range', ['zero_i', 'n256', 'one_i'], ['v256']),
    node('Reshape', ['v256', 'col'], ['vcol']),
    node('Div', ['vcol', 'pow2'], ['vsh']),
    node('Mod', ['vsh', 'two_i'], ['TI']),
    castTo('TI', 'TB', DataType.BOOL),
    node('Mul', ['TI', 'two_i'], ['TI2']),
    node('Sub', ['one_i', 'TI2'], ['TSi']),
    castTo('TSi', 'TS', DataType.FLOAT),
    i64c('neg1', [-1]),
    i64c('zero1', [0]),
    i64c('zero', [0], true),
  ];
  for (let i = 1; i <= k; i++) {
    n.push(i64c(`i${i}`, [i - 1], true), i64c(`j${i}`, [i - 1]));
    n.push(node('Gather', ['counts', `j${i}`], [`c${i}`], [ax0]), node('Gather', ['counts', `i${i}`], [`c${i}s`], [ax0]));
  }
  // mu_i: per tensor a scalar, per channel [C]
  if (perChannel) n.push(i64c('kc', [k, -1]), node('Reshape', ['scales', 'kc'], ['sk']));
  else n.push(node('Reshape', ['scales', 'neg1'], ['sk']));
  for (let i = 1; i <= k; i++) n.push(node('Gather', ['sk', `i${i}`], [`mu${i}`], [ax0]));
  const unpack = (table: string, bytes: string, out: string): void => {
    n.push(castTo(bytes, `${out}_b`, DataType.INT32), node('Gather', [table, `${out}_b`], [`${out}_g`], [ax0]), node('Reshape', [`${out}_g`, 'neg1'], [out]));
  };
  // Plane 1: every entry.
  if (perChannel) {
    n.push(i64c('one1', [1]), i64c('two1', [2]));
    n.push(node('Slice', ['chan', 'zero1', 'one1'], ['C64']), node('Slice', ['chan', 'one1', 'two1'], ['stride64']));
    n.push(castTo('C64', 'C', DataType.INT32), castTo('stride64', 'stride', DataType.INT32));
    n.push(node('Concat', ['neg1', 'chan'], ['shp3'], [ax0]));
    unpack('TS', 'signs1', 'p1');
    n.push(node('Slice', ['p1', 'zero1', 'c1'], ['p1n']), node('Reshape', ['p1n', 'shp3'], ['p13']));
    n.push(i64c('c1shape', [-1, 1]), node('Reshape', ['mu1', 'c1shape'], ['mu1c']), node('Mul', ['p13', 'mu1c'], ['w13']), node('Reshape', ['w13', 'neg1'], ['w1']));
  } else {
    n.push(node('Mul', ['TS', 'mu1'], ['T1']), castTo('signs1', 'p1_b', DataType.INT32), node('Gather', ['T1', 'p1_b'], ['p1_g'], [ax0]), node('Reshape', ['p1_g', 'neg1'], ['w1']));
  }
  // Planes 2..K: scatter w_{i-1} + mu_i·B_i into the entries that have plane i.
  for (let i = 2; i <= k; i++) {
    const prev = `c${i - 1}`;
    unpack('TI', `mask${i}`, `m${i}_all`);
    unpack('TB', `mask${i}`, `b${i}_all`);
    n.push(node('Slice', [`m${i}_all`, 'zero1', prev], [`m${i}`]), node('Slice', [`b${i}_all`, 'zero1', prev], [`b${i}`]));
    n.push(node('CumSum', [`m${i}`, 'zero'], [`r${i}`]), node('Sub', [`r${i}`, 'one_i'], [`r${i}m`]));
    n.push(castTo(`c${i}s`, `c${i}i`, DataType.INT32), castTo(`${prev}s`, `${prev}i_`, DataType.INT32));
    n.push(node('Where', [`b${i}`, `r${i}m`, `c${i}i`], [`slot${i}`]));
    n.push(node('Range', ['zero_i', `${prev}i_`, 'one_i'], [`iota${i}`]));
    n.push(node('Add', [`c${i}`, 'one1_64'], [`c${i}p`]));
    n.push(node('ConstantOfShape', [`c${i}p`], [`z${i}`], [attr('value', { type: 4, t: tensorPb([1], DataType.INT32, new Uint8Array(4)) })]));
    n.push(node('ScatterElements', [`z${i}`, `slot${i}`, `iota${i}`], [`pos${i}_all`], [ax0]), node('Slice', [`pos${i}_all`, 'zero1', `c${i}`], [`loc${i}`]));
    if (i === 2) n.push(node('Identity', [`loc${i}`], [`idx${i}`]));
    else n.push(node('Gather', [`idx${i - 1}`, `loc${i}`], [`idx${i}`], [ax0]));
    unpack('TS', `signs${i}`, `s${i}_all`);
    n.push(node('Slice', [`s${i}_all`, 'zero1', `c${i}`], [`s${i}`]));
    if (perChannel) {
      n.push(node('Div', [`idx${i}`, 'stride'], [`ch${i}_q`]), node('Mod', [`ch${i}_q`, 'C'], [`ch${i}`]));
      n.push(node('Gather', [`mu${i}`, `ch${i}`], [`mu${i}_e`], [ax0]), node('Mul', [`s${i}`, `mu${i}_e`], [`t${i}`]));
    } else {
      n.push(node('Mul', [`s${i}`, `mu${i}`], [`t${i}`]));
    }
    n.push(node('Gather', [`w${i - 1}`, `idx${i}`], [`o${i}`], [ax0]), node('Add', [`o${i}`, `t${i}`], [`u${i}`]));
    n.push(node('ScatterElements', [`w${i - 1}`, `idx${i}`, `u${i}`], [`w${i}`], [ax0]));
  }
  if (k >= 2) n.splice(0, 0, i64c('one1_64', [1]));
  if (perChannel) n.push(node('Reshape', [`w${k}`, 'shape'], ['w']));
  else n.push(node('Slice', [`w${k}`, 'zero1', 'c1'], ['wn']), node('Reshape', ['wn', 'shape'], ['w']));
  const inputs = ['signs1', 'scales', 'shape', 'counts', ...(perChannel ? ['chan'] : [])];
  for (let i = 2; i <= k; i++) inputs.push(`signs${i}`, `mask${i}`);
  return {
    name: packedWeightFunctionName(k, perChannel),
    domain: HBNN_DOMAIN,
    doc_string:
      `HBNN binarized weight from packed bit planes (${k} planes, ${perChannel ? 'per-channel' : 'per-tensor'} scales): ` +
      'sign bits 8 per byte, plane i>=2 on a bitmap over plane i-1; float32 sum in plane order (docs/format.md).',
    input: inputs,
    output: ['w'],
    attribute: [],
    attribute_proto: [],
    node: n,
    opset_import: [{ domain: '', version: opset as never }],
    value_info: [],
    metadata_props: [],
  } as FunctionPb;
}

/** Adds the packed function for K planes to the model (idempotent). */
export function ensurePackedFunction(model: Model, k: number, perChannel: boolean): void {
  const name = packedWeightFunctionName(k, perChannel);
  const fns = model.functions as FunctionPb[];
  if (fns.some((f) => f.domain === HBNN_DOMAIN && f.name === name)) return;
  fns.push(packedWeightFunction(k, perChannel, model.opsetVersion('')!));
}

/** Drops the ai.hbnn weight functions no node calls any more (after rewrites). */
export function pruneWeightFunctions(model: Model): void {
  const used = new Set(model.graph.nodes.filter((x) => x.domain === HBNN_DOMAIN).map((x) => x.opType));
  model.functions = (model.functions as FunctionPb[]).filter((f) => f.domain !== HBNN_DOMAIN || !parsePackedWeightFunctionName(f.name ?? '') || used.has(f.name ?? ''));
}

/**
 * The value name → Ŵ of every weight call of the model (for a runtime that should not rebuild
 * the weights: `createSession` replaces each call by its Ŵ as an initializer).
 */
export function dequantizedWeights(model: Model): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const c of model.graph.nodes) {
    if (!isWeightCall(c)) continue;
    const dims = weightCallDims(c);
    const o = c.outputs[0];
    if (!dims || !o) continue;
    out.set(o.name, Tensor.fromFloat32(o.name, dims, dequantizeWeightCall(c)));
  }
  return out;
}
