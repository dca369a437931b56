/**
 * Hand-made quantized models for the bit-level IR tests, written directly in the quantized
 * format (src/quant/format.ts): int8 bit planes + scales behind ai.hbnn::BinarizedWeight
 * calls, ai.hbnn::BinarizeActivation with fixed constants, a metadata record.
 */
import type { Graph, Model, Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { FN_ACT, FN_WEIGHT, HBNN_DOMAIN, emptyRecord, ensureHbnnFunctions, writeQuantRecord } from '../../src/quant/format.js';
import { A, addFloatInit, addInput, addNode, newModel, randomFloats } from '../helpers/build.js';

/** A weight given as bit counts M_j (1..3, 0 = never) and signs, with per-bit scales. */
export interface HandWeight {
  dims: number[];
  /** Bit count per entry (row-major over dims). */
  bits: number[];
  /** Sign seed: entry j plane i is +1 when the pseudo-random value is >= 0. */
  seed: number;
  /** Per-tensor scales [mu1, mu2, mu3] or per-channel [plane][channel] with `channelAxis`. */
  scales: number[] | number[][];
  channelAxis?: number;
  /** Number of planes K (default 3). */
  planes?: number;
}

/** Adds `planes`/`scales` initializers and a BinarizedWeight call; returns the call's output. */
export function addBinarizedWeight(g: Graph, name: string, w: HandWeight): Value {
  const n = w.dims.reduce((a, b) => a * b, 1);
  const k = w.planes ?? 3;
  const planes = new Int8Array(k * n);
  const r = randomFloats(k * n, w.seed);
  for (let j = 0; j < n; j++) for (let i = 0; i < w.bits[j]!; i++) planes[i * n + j] = r[i * n + j]! >= 0 ? 1 : -1;
  const pv = g.addInitializer(Tensor.fromUint8(`${name}.hbnn_planes`, [k, ...w.dims], new Uint8Array(planes.buffer), DataType.INT8));
  let sDims: number[];
  let sData: Float32Array;
  if (Array.isArray(w.scales[0])) {
    const per = w.scales as number[][];
    const c = per[0]!.length;
    sDims = [k, ...w.dims.map((d, i) => (i === (w.channelAxis ?? 0) ? c : 1))];
    sData = Float32Array.from(per.flat());
  } else {
    sDims = [k, ...w.dims.map(() => 1)];
    sData = Float32Array.from(w.scales as number[]);
  }
  const sv = g.addInitializer(Tensor.fromFloat32(`${name}.hbnn_scales`, sDims, sData));
  return addNode(g, FN_WEIGHT, [pv, sv], [`${name}.hbnn`], {}, { domain: HBNN_DOMAIN, name: `${name}/BinarizedWeight` }).outputs[0]!;
}

export interface ActConsts {
  scales: [number, number, number];
  center: number;
  sign: number;
  t1: number;
  t2: number;
}

export function addBinarizer(g: Graph, x: Value, name: string, c: ActConsts): Value {
  const f = (suffix: string, dims: number[], data: number[]): Value => addFloatInit(g, `${name}.${suffix}`, dims, data);
  const ins = [x, f('scales', [3], c.scales), f('center', [], [c.center]), f('sign', [], [c.sign]), f('t1', [], [c.t1]), f('t2', [], [c.t2])];
  return addNode(g, FN_ACT, ins, [`${name}.out`], {}, { domain: HBNN_DOMAIN, name: `${name}/BinarizeActivation` }).outputs[0]!;
}

function addBatchNorm(g: Graph, x: Value, name: string, c: number, seed: number): Value {
  const r = randomFloats(4 * c, seed);
  const gamma = addFloatInit(g, `${name}.gamma`, [c], Array.from({ length: c }, (_, i) => (i === 1 ? -0.8 : 0.6) + 0.3 * r[i]!));
  const beta = addFloatInit(g, `${name}.beta`, [c], Array.from({ length: c }, (_, i) => 0.2 * r[c + i]!));
  const mean = addFloatInit(g, `${name}.mean`, [c], Array.from({ length: c }, (_, i) => 0.3 * r[2 * c + i]!));
  const vr = addFloatInit(g, `${name}.var`, [c], Array.from({ length: c }, (_, i) => 1.5 + r[3 * c + i]!));
  return addNode(g, 'BatchNormalization', [x, gamma, beta, mean, vr], [`${name}.out`], { epsilon: A.float(1e-5) }, { name }).outputs[0]!;
}

/** Bits: the first `three` entries 3 bits, the next `two` 2 bits, the rest 1 bit. */
export function bitPattern(n: number, three: number, two: number): number[] {
  return Array.from({ length: n }, (_, j) => (j < three ? 3 : j < three + two ? 2 : 1));
}

export const ACT_2BIT: ActConsts = { scales: [0.8, 0.4, 0], center: 0.7, sign: 1, t1: 0.35, t2: 3e38 };
export const ACT_3BIT: ActConsts = { scales: [0.9, 0.5, 0.25], center: 0.8, sign: 1, t1: 0.3, t2: 0.6 };

/**
 * Model A (hand-counted bit operations):
 *   input [N,2,5,5] → Conv 3×2×3×3 pad 1 (54 weights: 6 at 3 bits, 10 at 2, 38 at 1; bias)
 *   → BatchNorm → BinarizeActivation (2 planes) → Relu → MaxPool 2×2/2 → Flatten (12)
 *   → Gemm 12→4 transB=1 (48 weights: 2 at 3 bits, 4 at 2, 42 at 1; per-channel scales; bias)
 *   → Mul 1.5 (scaling layer) → logits [N,4]
 */
export function modelA(opts: { convPlanes?: number; convFloat?: boolean } = {}): Model {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', ['N', 2, 5, 5]);
  // convFloat: the first layer kept in float (quantize's first-layer=keep) → fixed-point weights.
  const w1 = opts.convFloat ? addFloatInit(g, 'c1.weight', [3, 2, 3, 3], Array.from(randomFloats(54, 13), (v) => 0.6 * v)) : addBinarizedWeight(g, 'c1.weight', {
    dims: [3, 2, 3, 3],
    bits: opts.convPlanes === 1 ? bitPattern(54, 0, 0) : bitPattern(54, 6, 10),
    seed: 11,
    scales: [0.5, 0.3, 0.12].slice(0, opts.convPlanes ?? 3),
    planes: opts.convPlanes ?? 3,
  });
  const b1 = addFloatInit(g, 'c1.bias', [3], [0.1, -0.2, 0.05]);
  const c1 = addNode(g, 'Conv', [x, w1, b1], ['c1.out'], { kernel_shape: A.ints([3, 3]), pads: A.ints([1, 1, 1, 1]) }, { name: 'c1' }).outputs[0]!;
  const bn = addBatchNorm(g, c1, 'bn1', 3, 5);
  const act = addBinarizer(g, bn, 'act1', ACT_2BIT);
  const relu = addNode(g, 'Relu', [act], ['relu1.out'], {}, { name: 'relu1' }).outputs[0]!;
  const pool = addNode(g, 'MaxPool', [relu], ['pool1.out'], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) }, { name: 'pool1' }).outputs[0]!;
  const flat = addNode(g, 'Flatten', [pool], ['flat.out'], { axis: A.int(1) }, { name: 'flat' }).outputs[0]!;
  const fcScales = [0.4, 0.45, 0.5, 0.55].map((s, i) => [s, s / 2, s / 4].map((v) => v + 0.01 * i));
  const per = [0, 1, 2].map((p) => fcScales.map((c) => c[p]!));
  const w2 = addBinarizedWeight(g, 'fc.weight', { dims: [4, 12], bits: bitPattern(48, 2, 4), seed: 23, scales: per, channelAxis: 0 });
  const b2 = addFloatInit(g, 'fc.bias', [4], [0.3, -0.1, 0.2, 0]);
  const fc = addNode(g, 'Gemm', [flat, w2, b2], ['fc.out'], { transB: A.int(1) }, { name: 'fc' }).outputs[0]!;
  const s = addFloatInit(g, 'fc.scale', [1], [1.5]);
  const y = addNode(g, 'Mul', [fc, s], ['logits'], {}, { name: 'fc/Mul' }).outputs[0]!;
  g.outputs.push(y);
  finish(m, 'fc/Mul', 1.4, 1.5);
  return m;
}

/**
 * Model B (windows and groups): input [N,4,7,7] → Conv 4×2×3×3, group 2, strides [2,1],
 * dilations [1,2], pads [1,0,2,1] → BatchNorm → BinarizeActivation (3 planes) → Relu →
 * Conv 2×4×2×2 (binary input) → Add bias (per channel) → Relu → Flatten → MatMul + Add →
 * logits. No scaling layer.
 */
export function modelB(): Model {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', ['N', 4, 7, 7]);
  const n1 = 4 * 2 * 9;
  const w1 = addBinarizedWeight(g, 'c1.weight', { dims: [4, 2, 3, 3], bits: Array.from({ length: n1 }, (_, j) => 1 + (j % 3 === 0 ? 1 : 0) + (j % 7 === 0 ? 1 : 0)), seed: 3, scales: [0.6, 0.25, 0.1] });
  const c1 = addNode(g, 'Conv', [x, w1], ['c1.out'], { group: A.int(2), strides: A.ints([2, 1]), dilations: A.ints([1, 2]), pads: A.ints([1, 0, 2, 1]) }, { name: 'c1' }).outputs[0]!;
  // c1: H: (7+1+2-3)/2+1 = 4, W: (7+0+1-5)/1+1 = 4 → [4,4,4]
  const bn = addBatchNorm(g, c1, 'bn1', 4, 9);
  const act = addBinarizer(g, bn, 'act1', ACT_3BIT);
  const relu = addNode(g, 'Relu', [act], ['relu1.out'], {}, { name: 'relu1' }).outputs[0]!;
  const n2 = 2 * 4 * 4;
  const w2 = addBinarizedWeight(g, 'c2.weight', { dims: [2, 4, 2, 2], bits: Array.from({ length: n2 }, (_, j) => (j % 4 === 1 ? 3 : j % 4 === 2 ? 2 : 1)), seed: 5, scales: [[0.3, 0.35], [0.15, 0.1], [0.05, 0.04]], channelAxis: 0 });
  const c2 = addNode(g, 'Conv', [relu, w2], ['c2.out'], {}, { name: 'c2' }).outputs[0]!;
  // c2: [2,3,3]
  const bias = addFloatInit(g, 'c2.bias', [2, 1, 1], [0.05, -0.05]);
  const add = addNode(g, 'Add', [c2, bias], ['c2.biased'], {}, { name: 'c2/Add' }).outputs[0]!;
  const relu2 = addNode(g, 'Relu', [add], ['relu2.out'], {}, { name: 'relu2' }).outputs[0]!;
  const flat = addNode(g, 'Flatten', [relu2], ['flat.out'], {}, { name: 'flat' }).outputs[0]!;
  const w3 = addBinarizedWeight(g, 'fc.weight', { dims: [18, 3], bits: Array.from({ length: 54 }, (_, j) => 1 + (j % 5 === 0 ? 1 : 0)), seed: 8, scales: [0.2, 0.1, 0] });
  const mm = addNode(g, 'MatMul', [flat, w3], ['fc.out'], {}, { name: 'fc' }).outputs[0]!;
  const b3 = addFloatInit(g, 'fc.bias', [3], [0.01, 0.02, -0.03]);
  const y = addNode(g, 'Add', [mm, b3], ['logits'], {}, { name: 'fc/Add' }).outputs[0]!;
  g.outputs.push(y);
  finish(m, undefined, 1.5, 1.8);
  return m;
}

function finish(m: Model, scalingNode: string | undefined, avgW: number, avgA: number): void {
  ensureHbnnFunctions(m);
  const rec = emptyRecord();
  rec.avgWeightBits = avgW;
  rec.avgActivationBits = avgA;
  if (scalingNode) rec.scalingLayer = { node: scalingNode, scale: 'fc.scale', inserted: false };
  writeQuantRecord(m, rec);
  for (const v of m.graph.outputs) v.type = { tensor_type: { elem_type: DataType.FLOAT } };
}
