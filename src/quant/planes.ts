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
 * - `packed` (formats `hbnn-onnx/3` and `/2`, the default, for K ≤ 3): `ai.hbnn::PackedBinarizedWeight<K>`
 *   (per tensor scales) or `…<K>PerChannel` with inputs
 *     `codes` uint8: every entry's bit count and signs as one code, in the weight's layout:
 *       K = 1: one bit per entry, 8 per byte (bit b of byte m is entry 8m + b; 1 = −1);
 *       K = 2, 3: four bits per entry, 2 per byte (low nibble first), the code of an entry with
 *         M bits and sign bits s_i (1 = B_i = −1) being s_1 (M = 1), 2 + s_1 + 2·s_2 (M = 2) or
 *         6 + s_1 + 2·s_2 + 4·s_3 (M = 3); codes 14 and 15 are unused;
 *     `scales` float32: as in `int8`;
 *     `shape` int64 [r]: S;
 *     `chan` int64 [2] (per channel only): [C, stride], the scale channel count and the number
 *       of consecutive entries sharing a channel (entry j has channel ⌊j/stride⌋ mod C).
 *   The body (standard ONNX operators) computes the value of each code in float32 in plane
 *   order, ((mu_1·b_1 + mu_2·b_2) + mu_3·b_3) with b_i ∈ {−1, 0, +1}, exactly the sum
 *   `BinarizedWeight`'s ReduceSum forms, then looks every byte up in a 256-row table of its
 *   entries' values (per channel: every code in its channel's table): onnxruntime gives the
 *   same Ŵ bit for bit from both encodings (test/quant/planes.test.ts). The largest
 *   intermediate is Ŵ itself (4 bytes per weight), so onnxruntime's constant folding (1 GiB
 *   per node by default) computes Ŵ once, at session creation, for tensors up to 268 M
 *   weights, in a handful of passes over the weight.
 *   Weights with K ≥ 4 planes are written as `int8`.
 */
import { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/dtype.js';
import type { Graph, Model, Node, Value } from '../ir/graph.js';
import type { FunctionPb, NodePb, TensorPb } from '../ir/messages.js';
import { fail, ErrorCodes } from '../errors.js';
import { FN_WEIGHT, HBNN_DOMAIN, attr, ensureHbnnFunctions, hbnnFunction, isWeightCall, node, packedWeightFunctionName, parsePackedWeightFunctionName } from './format.js';

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
  /**
   * Optional, for builders: the same planes as each entry's bit count M_j and sign path (bit
   * i − 1 set when B_i = −1), the weight's own layout. When given, packed codes are written
   * from them in one pass and `planes` is never read (it may be a getter that builds them).
   */
  paths?: { bitMap: Uint8Array; signs: Uint8Array };
}

/** int8 planes [K, n] from bit counts and sign paths (plane i holds B_{i+1} where M_j > i, 0 elsewhere). */
export function planesFromSigns(bitMap: Uint8Array, signs: Uint8Array, k: number): Int8Array {
  const n = bitMap.length;
  const planes = new Int8Array(k * n);
  for (let j = 0; j < n; j++) {
    const m = bitMap[j]!;
    const s = signs[j]!;
    for (let i = 0; i < m; i++) planes[i * n + j] = (s >> i) & 1 ? -1 : 1;
  }
  return planes;
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
  const expected = fn.perChannel ? 4 : 3;
  if (k > 3 || call.inputs.length !== expected || consts.some((t) => !t)) return bad(`needs ${expected} constant inputs and at most 3 planes`);
  const dims = consts[2]!.toNumberArray();
  const n = prod(dims);
  if (st.size !== k && !fn.perChannel) return bad(`per-tensor scales must hold ${k} values`);
  const codes = bytesOf(consts[0]!);
  if (codes.length !== Math.ceil((k === 1 ? n : 4 * n) / 8)) return bad(`codes hold ${codes.length} bytes for ${n} weights`);
  const planes = new Int8Array(k * n);
  for (let j = 0; j < n; j++) {
    if (k === 1) {
      planes[j] = (codes[j >>> 3]! >>> (j & 7)) & 1 ? -1 : 1;
      continue;
    }
    const c = (codes[j >>> 1]! >>> ((j & 1) * 4)) & 15;
    const m = c < 2 ? 1 : c < 6 ? 2 : c < 14 ? 3 : 0;
    if (m === 0 || m > k) return bad(`entry ${j} has code ${c}, not a code of ${k} planes`);
    const s = c - (m === 1 ? 0 : m === 2 ? 2 : 6);
    for (let i = 0; i < m; i++) planes[i * n + j] = (s >>> i) & 1 ? -1 : 1;
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
function packedInitNames(g: Graph, base: string, perChannel: boolean): string[] {
  const names = [`${base}.hbnn_codes`, `${base}.hbnn_scales`, `${base}.hbnn_shape`];
  if (perChannel) names.push(`${base}.hbnn_chan`);
  return names.map((n) => g.uniqueName(n));
}

/**
 * The codes of decoded planes (see the header), or null when they cannot be packed: K > 3, a
 * plane-1 zero, or an entry whose planes are not a prefix (the format's rule). One pass.
 */
function encodeCodes(d: PlaneData): Uint8Array | null {
  const n = prod(d.dims);
  const k = d.k;
  if (k > 3) return null;
  if (d.paths) return codesFromPaths(d.paths.bitMap, d.paths.signs, k, n);
  const p = d.planes;
  if (k === 1) {
    const codes = new Uint8Array(Math.ceil(n / 8));
    for (let j = 0; j < n; j++) {
      const v = p[j]!;
      if (v === 0) return null;
      if (v < 0) codes[j >>> 3]! |= 1 << (j & 7);
    }
    return codes;
  }
  const codes = new Uint8Array(Math.ceil(n / 2));
  const n2 = 2 * n;
  for (let j = 0; j < n; j++) {
    const a = p[j]!;
    if (a === 0) return null;
    const b = p[n + j]!;
    const c3 = k === 3 ? p[n2 + j]! : 0;
    let c: number;
    if (b === 0) {
      if (c3 !== 0) return null;
      c = a < 0 ? 1 : 0;
    } else if (c3 === 0) c = 2 + (a < 0 ? 1 : 0) + (b < 0 ? 2 : 0);
    else c = 6 + (a < 0 ? 1 : 0) + (b < 0 ? 2 : 0) + (c3 < 0 ? 4 : 0);
    codes[j >>> 1]! |= c << ((j & 1) << 2);
  }
  return codes;
}

/** The 4-bit code of an entry with M (1..3) bits and sign path s, at (M << 3) | (s & 7). */
const PATH_CODES = Uint8Array.from({ length: 32 }, (_, i) => {
  const m = i >>> 3;
  const s = i & 7;
  return m === 1 ? s & 1 : m === 2 ? 2 + (s & 3) : m === 3 ? 6 + s : 0;
});

/**
 * The codes of entries given as bit counts and sign paths (`PlaneData.paths`): the same bytes
 * `encodeCodes` writes from the int8 planes they stand for (code s_1 for M = 1, 2 + s_1 + 2·s_2
 * for M = 2, 6 + s_1 + 2·s_2 + 4·s_3 for M = 3), or null when an entry's M is outside 1..k.
 */
function codesFromPaths(bitMap: Uint8Array, signs: Uint8Array, k: number, n: number): Uint8Array | null {
  if (bitMap.length !== n || signs.length !== n) fail(ErrorCodes.INTERNAL, `bit map (${bitMap.length}) and signs (${signs.length}) must hold the ${n} weights`);
  if (k === 1) {
    const codes = new Uint8Array(Math.ceil(n / 8));
    const full = n >>> 3;
    let bad = 0;
    for (let m = 0; m < full; m++) {
      const j = m << 3;
      bad |= (bitMap[j]! ^ 1) | (bitMap[j + 1]! ^ 1) | (bitMap[j + 2]! ^ 1) | (bitMap[j + 3]! ^ 1) | (bitMap[j + 4]! ^ 1) | (bitMap[j + 5]! ^ 1) | (bitMap[j + 6]! ^ 1) | (bitMap[j + 7]! ^ 1);
      codes[m] =
        (signs[j]! & 1) | ((signs[j + 1]! & 1) << 1) | ((signs[j + 2]! & 1) << 2) | ((signs[j + 3]! & 1) << 3) |
        ((signs[j + 4]! & 1) << 4) | ((signs[j + 5]! & 1) << 5) | ((signs[j + 6]! & 1) << 6) | ((signs[j + 7]! & 1) << 7);
    }
    for (let j = full << 3; j < n; j++) {
      bad |= bitMap[j]! ^ 1;
      codes[j >>> 3]! |= (signs[j]! & 1) << (j & 7);
    }
    return bad === 0 ? codes : null;
  }
  // Code of (M, s): M = 1 → s & 1, 2 → 2 + (s & 3), 3 → 6 + (s & 7), looked up at (M << 3) | (s & 7).
  const codeOf = PATH_CODES;
  const codes = new Uint8Array(Math.ceil(n / 2));
  let bad = 0;
  let j0 = 0;
  if ((bitMap.byteOffset & 3) === 0 && (signs.byteOffset & 3) === 0 && n >= 4) {
    // Four entries at a time: one 32-bit read of their bit counts and of their sign paths, one
    // table lookup per pair of entries, one 16-bit write of their two code bytes (little-endian:
    // entry j is byte j & 3 of the word, as in the bytes). An entry is valid when its bit count
    // is 1 ..k: no byte above 3, no zero byte, and for k = 2 no 3 (for k = 1, see above).
    const words = n >>> 2;
    const m32 = new Uint32Array(bitMap.buffer, bitMap.byteOffset, words);
    const s32 = new Uint32Array(signs.buffer, signs.byteOffset, words);
    const c16 = new Uint16Array(codes.buffer, 0, words);
    const pair = PAIR_CODES;
    const three = k === 2 ? 0x01010101 : 0;
    for (let q = 0; q < words; q++) {
      const m = m32[q]!;
      const sg = s32[q]!;
      bad |= (m & 0xfcfcfcfc) | ((m - 0x01010101) & ~m & 0x80808080) | (m & (m >>> 1) & three);
      const lo = ((m & 3) << 3) | (sg & 7) | (m & 0x300) | ((sg & 0x700) >>> 3);
      const hi = ((m >>> 13) & 0x18) | ((sg >>> 16) & 7) | ((m >>> 16) & 0x300) | ((sg >>> 19) & 0xe0);
      c16[q] = pair[lo]! | (pair[hi]! << 8);
    }
    j0 = words << 2;
  }
  for (let j = j0; j < n; j++) {
    const a = bitMap[j]!;
    if (a < 1 || a > k) bad = 1;
    codes[j >>> 1]! |= codeOf[((a & 3) << 3) | (signs[j]! & 7)]! << ((j & 1) << 2);
  }
  return bad !== 0 ? null : codes;
}

/**
 * The code byte of two entries (see `codesFromPaths`) at ((M_a & 3) << 3) | (s_a & 7) |
 * ((M_b & 3) << 8) | ((s_b & 7) << 5): entry a in the low nibble.
 */
const PAIR_CODES = Uint8Array.from({ length: 1024 }, (_, i) => PATH_CODES[i & 31]! | (PATH_CODES[((i >>> 8) << 3) | ((i >>> 5) & 7)]! << 4));

/** The packed tensors (in call input order, without names) for `codes` of `d`. */
function packTensors(d: PlaneData, codes: Uint8Array, perChannel: boolean): { dims: number[]; dtype: number; bytes: Uint8Array }[] {
  const i64 = (xs: readonly number[]): Uint8Array => new Uint8Array(BigInt64Array.from(xs, (x) => BigInt(x)).buffer);
  const out = [
    { dims: [codes.length], dtype: DataType.UINT8, bytes: codes },
    { dims: [...d.scaleDims], dtype: DataType.FLOAT, bytes: new Uint8Array(Float32Array.from(d.scaleData).buffer) },
    { dims: [d.dims.length], dtype: DataType.INT64, bytes: i64(d.dims) },
  ];
  if (perChannel) {
    const { channels, stride } = scaleChannel(d.dims, d.scaleDims);
    out.push({ dims: [2], dtype: DataType.INT64, bytes: i64([channels, stride]) });
  }
  return out;
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
  const codes = encoding === 'packed' ? encodeCodes(d) : null;
  ensureHbnnFunctions(model, codes ? [] : ['weight']);
  if (codes) {
    const pc = !perTensor(d);
    const names = packedInitNames(g, base, pc);
    const inputs = packTensors(d, codes, pc).map((t, i) => g.addInitializer(rawTensor(names[i]!, t)));
    ensurePackedFunction(model, d.k, pc, prod(d.dims) % entriesPerByte(d.k) === 0);
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
  const codes = old.encoding === 'packed' ? encodeCodes(d) : null;
  const same = codes ? call.opType === packedWeightFunctionName(d.k, !perTensor(d)) : old.encoding === 'int8';
  if (same) {
    const tensors = codes
      ? packTensors(d, codes, !perTensor(d))
      : [
          { dims: [d.k, ...d.dims], dtype: DataType.INT8, bytes: new Uint8Array(d.planes.buffer.slice(d.planes.byteOffset, d.planes.byteOffset + d.planes.byteLength)) },
          { dims: [...d.scaleDims], dtype: DataType.FLOAT, bytes: new Uint8Array(Float32Array.from(d.scaleData).buffer) },
        ];
    call.inputs.forEach((v, i) => {
      const t = tensors[i]!;
      v!.graph.replaceInitializer(v!, rawTensor(v!.name, t));
    });
    return call;
  }
  const keyName = old.key.name;
  const scalesName = old.scales.name;
  const base = weightBaseName(keyName);
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

/** The original weight's name from a call's key initializer name (`<W>.hbnn_planes` or `<W>.hbnn_codes`, maybe with a `_N` suffix). */
export function weightBaseName(keyName: string): string {
  return keyName.replace(/\.hbnn_(planes|codes)(_\d+)?$/, '');
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

/** Code → (b_1, b_2, b_3) ∈ {−1, 0, +1} for the 4-bit codes (see the header); codes 14, 15 all 0. */
function codeColumns(): Float32Array[] {
  const cols = [new Float32Array(16), new Float32Array(16), new Float32Array(16)];
  for (let c = 0; c < 14; c++) {
    const m = c < 2 ? 1 : c < 6 ? 2 : 3;
    const s = c - (m === 1 ? 0 : m === 2 ? 2 : 6);
    for (let i = 0; i < m; i++) cols[i]![c] = (s >>> i) & 1 ? -1 : 1;
  }
  return cols;
}

/** Entries per code byte: 8 with one plane (a bit each), else 2 (a nibble each). */
const entriesPerByte = (k: number): number => (k === 1 ? 8 : 2);

/** `Split(x)` into equal parts along axis 0, one per output, valid at `opset` (opset 18 needs `num_outputs`). */
function split0(x: string, outs: string[], opset: number): NodePb {
  const attrs = [attr('axis', { type: 2, i: 0 as never })];
  if (opset >= 18) attrs.push(attr('num_outputs', { type: 2, i: outs.length as never }));
  return node('Split', [x], outs, attrs);
}

/**
 * The body of `PackedBinarizedWeight<K>[PerChannel]` (valid at ai.onnx opset 11 and later):
 * the value of every code (float32, plane order), a table from each byte to the values of its
 * entries, one Gather of the codes through it. Every shape is static, so onnxruntime folds the
 * whole body into Ŵ at session creation.
 *
 * `exact`: every call's weight count is a multiple of the entries per byte (8 for K = 1, else
 * 2), so the entries the codes give are exactly the weight's, and the body reshapes them
 * straight into Ŵ; otherwise it drops the padding entry first (a Slice: Ŵ once more at
 * session creation). Both bodies compute the same Ŵ for an exact call.
 */
export function packedWeightFunction(k: number, perChannel: boolean, opset: number, exact = false): FunctionPb {
  const ax0 = attr('axis', { type: 2, i: 0 as never });
  const i32 = (out: string, xs: ArrayLike<number>, dims: number[]): NodePb => constant(out, tensorPb(dims, DataType.INT32, new Uint8Array(Int32Array.from(xs as number[]).buffer)));
  const per = entriesPerByte(k);
  // Per tensor with nibble codes (K = 2, 3), the byte table is built from the code values by
  // moving them (no index table); otherwise the values are gathered through one.
  const tiled = !perChannel && k > 1;
  const n: NodePb[] = tiled && exact ? [] : [i64c('neg1', [-1])];
  if (!exact) n.push(i64c('zero1', [0]), node('ReduceProd', ['shape'], ['n'], [attr('keepdims', { type: 2, i: 1 as never })]));
  // Code values: lv[c] = ((mu_1·b_1[c] + mu_2·b_2[c]) + mu_3·b_3[c]), per tensor [codes] (K = 1: [2]),
  // per channel [C·codes]: the products mu_i·b_i[c] (exact: b ∈ {−1, 0, +1}) of all planes in one
  // Mul, [K, C, codes], split into the planes and added in plane order.
  const cols = k === 1 ? [Float32Array.of(1, -1)] : codeColumns().slice(0, k);
  const codes = cols[0]!.length;
  n.push(i64c('kc', [k, -1, 1]), node('Reshape', ['scales', 'kc'], ['sk'])); // [K, C, 1] (per tensor C = 1)
  // b_i[c] for every plane and code, float32 [K, 1, codes] (−1, 0, +1; stored as floats: a Cast
  // from int8 would be one more node for onnxruntime to inline and fold in every call).
  const bf = new Float32Array(k * codes);
  cols.forEach((col, i) => bf.set(col, i * codes));
  n.push(constant('bf', tensorPb([k, 1, codes], DataType.FLOAT, new Uint8Array(bf.buffer))));
  n.push(node('Mul', ['sk', 'bf'], ['pm'])); // [K, C, codes]
  if (k === 1) n.push(node('Reshape', ['pm', 'neg1'], ['lv']));
  else {
    const parts = Array.from({ length: k }, (_, i) => `p${i + 1}`);
    n.push(split0('pm', parts, opset)); // each [1, C, codes]
    for (let i = 2; i <= k; i++) n.push(node('Add', [i === 2 ? 'p1' : `s${i - 1}`, `p${i}`], [`s${i}`]));
    if (!tiled) n.push(node('Reshape', [`s${k}`, 'neg1'], ['lv'])); // [C·codes]
  }
  if (tiled) {
    // table[0, 0, 16·h + l] = (lv[l], lv[h]): the values as [1, 1, 16] gathered on their last
    // axis through the byte → (low, high) nibble table, stored as int8 [256, 2].
    const nibbles = Int8Array.from({ length: 512 }, (_, i) => ((i & 1) === 0 ? (i >>> 1) & 15 : i >>> 5));
    n.push(constant('nib8', tensorPb([256, 2], DataType.INT8, new Uint8Array(nibbles.buffer))), castTo('nib8', 'nib', DataType.INT32));
    n.push(node('Gather', [`s${k}`, 'nib'], ['table'], [attr('axis', { type: 2, i: 2 as never })]), castTo('codes', 'cb', DataType.INT32));
  } else {
    // Byte → the codes of its entries: [256, per] int32.
    // Computed rather than stored: ⌊v / step_e⌋ mod base, steps 1, 2, 4, … (bits) or 1, 16 (nibbles).
    const base = k === 1 ? 2 : 16;
    n.push(i32('zero_b', [0], []), i32('n256', [256], []), i32('one_b', [1], []), i32('base', [base], []), i32('steps', Array.from({ length: per }, (_, e) => base ** e), [per]));
    n.push(i64c('col', [256, 1]), node('Range', ['zero_b', 'n256', 'one_b'], ['v256']), node('Reshape', ['v256', 'col'], ['vcol']));
    n.push(node('Div', ['vcol', 'steps'], ['vq']), node('Mod', ['vq', 'base'], ['byte_codes']), castTo('codes', 'cb', DataType.INT32));
  }
  if (!perChannel) {
    // One table: byte → the values of its entries.
    if (!tiled) n.push(node('Gather', ['lv', 'byte_codes'], ['table'], [ax0]));
    // [N, per], or [1, 1, N, 2] from the tiled table (its byte axis is 2).
    n.push(node('Gather', ['table', 'cb'], ['wg'], [tiled ? attr('axis', { type: 2, i: 2 as never }) : ax0]));
    if (exact) n.push(node('Reshape', ['wg', 'shape'], ['w']));
    else n.push(node('Reshape', ['wg', 'neg1'], ['wf']), node('Slice', ['wf', 'zero1', 'n'], ['wn']), node('Reshape', ['wn', 'shape'], ['w']));
  } else {
    // Codes of every entry, offset by 'codes' per channel, looked up in the [C·codes] values.
    n.push(node('Gather', ['byte_codes', 'cb'], ['cg'], [ax0]), node('Concat', ['neg1', 'chan'], ['shp3'], [ax0]));
    if (exact) n.push(node('Reshape', ['cg', 'shp3'], ['c3']));
    else n.push(node('Reshape', ['cg', 'neg1'], ['cf']), node('Slice', ['cf', 'zero1', 'n'], ['cn']), node('Reshape', ['cn', 'shp3'], ['c3']));
    if (exact) n.push(i64c('zero1', [0]));
    n.push(i64c('one1', [1]), node('Slice', ['chan', 'zero1', 'one1'], ['C64']), castTo('C64', 'C', DataType.INT32));
    n.push(i32('zero_i', [0], []), i32('codes_i', [codes], []), i64c('c1s', []), node('Reshape', ['C', 'c1s'], ['Cs']));
    n.push(i32('one_i', [1], []), node('Range', ['zero_i', 'Cs', 'one_i'], ['chans']), node('Mul', ['chans', 'codes_i'], ['offs']));
    n.push(i64c('colshape', [-1, 1]), node('Reshape', ['offs', 'colshape'], ['off']), node('Add', ['c3', 'off'], ['ci']));
    n.push(node('Gather', ['lv', 'ci'], ['w3'], [ax0]), node('Reshape', ['w3', 'shape'], ['w']));
  }
  // Short names for the intermediates (the body is stored once per model, and small models notice).
  const io = new Set(['codes', 'scales', 'shape', 'chan', 'w']);
  const short = new Map<string, string>();
  const rename = (x: string): string => {
    if (x === '' || io.has(x)) return x;
    if (!short.has(x)) short.set(x, `t${short.size.toString(36)}`);
    return short.get(x)!;
  };
  for (const nd of n) {
    nd.input = nd.input.map(rename);
    nd.output = nd.output.map(rename);
  }
  return hbnnFunction({ name: packedWeightFunctionName(k, perChannel), input: ['codes', 'scales', 'shape', ...(perChannel ? ['chan'] : [])], output: ['w'], node: n }, opset);
}

/** Whether a packed function body is the `exact` one (no Slice dropping a padding entry). */
function isExactBody(f: FunctionPb): boolean {
  return !f.node.some((x) => x.op_type === 'Slice' && x.input[0] !== 'chan');
}

/**
 * Adds the packed function for K planes to the model. `exact`: the new call's weight count is a
 * multiple of the entries per byte. The function is shared by every call of its name, so it is
 * the exact body only while every call is exact: a first inexact call replaces an exact body.
 */
export function ensurePackedFunction(model: Model, k: number, perChannel: boolean, exact = false): void {
  const name = packedWeightFunctionName(k, perChannel);
  const fns = model.functions as FunctionPb[];
  const at = fns.findIndex((f) => f.domain === HBNN_DOMAIN && f.name === name);
  if (at >= 0) {
    if (!exact && isExactBody(fns[at]!)) fns[at] = packedWeightFunction(k, perChannel, model.opsetVersion('')!, false);
    return;
  }
  fns.push(packedWeightFunction(k, perChannel, model.opsetVersion('')!, exact));
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
