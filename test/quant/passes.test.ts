/**
 * Per-pass tests of the quantization passes: insert-weight-binarization,
 * insert-activation-binarization, calibrate and insert-scaling-layer.
 */
import { describe, expect, it } from 'vitest';
import { Pipeline, type RunReport } from '../../src/pass/manager.js';
import { builtinPasses } from '../../passes/registry.js';
import { encodeModel, loadModel } from '../../src/onnx/io.js';
import type { Model, Value } from '../../src/ir/graph.js';
import { DataType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { heteroBinarize, makeBitMap, resolveDistribution } from '../../src/hbnn/index.js';
import { readQuantRecord, isActivationCall, isWeightCall, weightCallOf, type WeightRecord } from '../../src/quant/format.js';
import { findWeightCall, readWeightCall } from '../../src/quant/planes.js';
import { toChannelMajor, fromChannelMajor } from '../../src/quant/targets.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../src/data/index.js';
import { evaluate } from '../../src/runtime/infer.js';
import { clearOfMassPoints, EDGE_CLEARANCE } from '../../passes/calibrate.js';
import { buildResNet20 } from '../../zoo/topologies.js';
import { A, FMNIST_CNN, FMNIST_MLP, addFloatInit, addInput, addNode, cloneModel, expectHbnnError, floatFeed, maxAbsDiff, newModel, randomFloats, runModel } from '../helpers/build.js';

const registry = builtinPasses();
const run = (m: Model, text: string): Promise<RunReport> => Pipeline.parse(text, registry).run(m);

/**
 * Every binarizable layout in one small network (input [N,4,6,6]):
 * conv (dense 3×3) → grouped (group 2) → depthwise (group 8) → Flatten → fc0 (Gemm transB=0,
 * W [288,16]) → Relu → fc1 (Gemm transB=1, W [12,16]) → proj (MatMul, W [12,5]).
 */
function zoo(): Model {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', ['N', 4, 6, 6]);
  const pads = { pads: A.ints([1, 1, 1, 1]), kernel_shape: A.ints([3, 3]) };
  const conv = addNode(g, 'Conv', [x, addFloatInit(g, 'conv.w', [8, 4, 3, 3], randomFloats(288, 1))], ['c1'], pads, { name: 'conv' });
  const grouped = addNode(g, 'Conv', [conv.outputs[0]!, addFloatInit(g, 'grouped.w', [8, 4, 3, 3], randomFloats(288, 2))], ['c2'], { ...pads, group: A.int(2) }, { name: 'grouped' });
  const dw = addNode(g, 'Conv', [grouped.outputs[0]!, addFloatInit(g, 'depthwise.w', [8, 1, 3, 3], randomFloats(72, 3)), addFloatInit(g, 'depthwise.b', [8])], ['c3'], { ...pads, group: A.int(8) }, { name: 'depthwise' });
  const flat = addNode(g, 'Flatten', [dw.outputs[0]!], ['flat'], { axis: A.int(1) }, { name: 'flatten' });
  const fc0 = addNode(g, 'Gemm', [flat.outputs[0]!, addFloatInit(g, 'fc0.w', [288, 16], randomFloats(288 * 16, 4))], ['h0'], { transB: A.int(0) }, { name: 'fc0' });
  const relu = addNode(g, 'Relu', [fc0.outputs[0]!], ['r0'], {}, { name: 'relu' });
  const fc1 = addNode(g, 'Gemm', [relu.outputs[0]!, addFloatInit(g, 'fc1.w', [12, 16], randomFloats(192, 5)), addFloatInit(g, 'fc1.b', [12])], ['h1'], { transB: A.int(1) }, { name: 'fc1' });
  const proj = addNode(g, 'MatMul', [fc1.outputs[0]!, addFloatInit(g, 'proj.w', [12, 5], randomFloats(60, 6))], ['y'], {}, { name: 'proj' });
  g.setOutput(0, proj.outputs[0]!);
  return m;
}

const ZOO_LAYERS = ['conv', 'grouped', 'depthwise', 'fc0', 'fc1', 'proj'];
/** Output-channel axis of each zoo weight: Conv 0, Gemm transB=0 1, Gemm transB=1 0, MatMul 1. */
const CHANNEL_AXIS: Record<string, number> = { conv: 0, grouped: 0, depthwise: 0, fc0: 1, fc1: 0, proj: 1 };
const xFeed = (n = 3): ReturnType<typeof floatFeed> => floatFeed(randomFloats(n * 4 * 36, 9), [n, 4, 6, 6]);

/** The decoded planes of a recorded weight (either encoding), as int8 [K, ...S]. */
function planesOf(q: Model, w: WeightRecord): { dims: number[]; planes: Int8Array; scaleDims: number[]; scales: Float32Array } {
  const wc = readWeightCall(findWeightCall(q.graph, w.planes)!);
  return { dims: [wc.k, ...wc.dims], planes: wc.planes, scaleDims: [...wc.scaleDims], scales: wc.scaleData };
}

/** Ŵ from planes and scales exactly as the format defines it: float32, ((mu1·B1) + mu2·B2) + mu3·B3. */
function dequantizeFromPlanes(planes: Int8Array, scales: Float32Array, scaleDims: number[], shape: number[]): Float32Array {
  const k = scaleDims[0]!;
  const n = shape.reduce((a, b) => a * b, 1);
  // broadcast index of an entry into the per-bit scale block
  const sDims = scaleDims.slice(1);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const sStrides = sDims.map((_, i) => sDims.slice(i + 1).reduce((a, b) => a * b, 1));
  const block = sDims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let si = 0;
    for (let d = 0; d < shape.length; d++) if (sDims[d] !== 1) si += (Math.floor(j / strides[d]!) % shape[d]!) * sStrides[d]!;
    let acc = 0;
    for (let i = 0; i < k; i++) acc = Math.fround(acc + Math.fround(planes[i * n + j]! * scales[i * block + si]!));
    out[j] = acc;
  }
  return out;
}

function bitMapFromPlanes(planes: Int8Array, k: number, n: number): Uint8Array {
  const m = new Uint8Array(n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) if (planes[i * n + j] !== 0) m[j]++;
  return m;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * For every weight record: the planes/scales in the model, the numerics module's
 * heteroBinarize of the original tensor with the bit map the planes encode, and onnxruntime's
 * evaluation of the BinarizedWeight call must all give the same float32 tensor.
 */
async function checkWeights(original: Model, q: Model, perChannel: boolean): Promise<WeightRecord[]> {
  const rec = readQuantRecord(q)!;
  const probe = cloneModel(q);
  const calls = rec.weights.map((w) => weightCallOf(probe.graph.nodes.find((n) => n.name === w.node)!.inputs[1]!)!.outputs[0]!);
  calls.forEach((v) => probe.graph.setOutput(probe.graph.outputs.length, v));
  const ort = await runModel(probe, { x: xFeed(1) }, calls.map((v) => v.name));
  rec.weights.forEach((w, idx) => {
    const t = original.graph.get(w.tensor)!.constValue!;
    const shape = [...t.dims];
    const n = t.size;
    const planesT = planesOf(q, w);
    const scalesT = q.graph.get(w.scales)!.constValue!;
    const k = planesT.dims[0]!;
    expect(planesT.dims).toEqual([k, ...shape]);
    expect(Array.from(planesT.scales)).toEqual(Array.from(scalesT.toFloat32()));
    const axis = CHANNEL_AXIS[w.node]!;
    const channels = shape[axis]!;
    const wantScaleDims = [k, ...shape.map(() => 1)];
    if (perChannel) wantScaleDims[1 + axis] = channels;
    expect(scalesT.dims, w.node).toEqual(wantScaleDims);
    expect(w.perChannel).toBe(perChannel);
    const planes = planesT.planes;
    expect(planes.every((p) => p === 0 || p === 1 || p === -1)).toBe(true);
    const bitMap = bitMapFromPlanes(planes, k, n);
    // Planes are "prefix" planes: an entry with M bits has nonzero planes 1..M exactly.
    for (let j = 0; j < n; j++) for (let i = 0; i < k; i++) expect(planes[i * n + j] !== 0).toBe(i < bitMap[j]!);
    const hist = Array.from({ length: k }, (_, b) => bitMap.filter((m) => m === b + 1).length);
    expect(hist).toEqual(w.histogram);
    // The numerics module on the same tensor, channel-major, with the same bit map.
    const cm = toChannelMajor(t.toFloat32(), shape, axis);
    const bmCm = toChannelMajor(Float32Array.from(bitMap), shape, axis);
    const bin = heteroBinarize(cm, Uint8Array.from(bmCm), perChannel ? { channels } : {});
    const ref = fromChannelMajor(bin.dequantized, shape, axis, (len) => new Float32Array(len));
    const fromPlanes = dequantizeFromPlanes(planes, scalesT.toFloat32(), scalesT.dims as number[], shape);
    expect(sameBits(fromPlanes, ref), `${w.node}: planes/scales vs heteroBinarize`).toBe(true);
    expect(sameBits(ort[calls[idx]!.name]!.data as Float32Array, ref), `${w.node}: onnxruntime vs heteroBinarize`).toBe(true);
    // The scales are the numerics module's mu_i (per channel: [bit][channel]).
    expect(Array.from(scalesT.toFloat32())).toEqual(Array.from(bin.scales));
    // and the binarized tensor is not the float one
    expect(maxAbsDiff(ref, t.toFloat32())).toBeGreaterThan(1e-3);
  });
  return rec.weights;
}

/** The float model with each binarized weight replaced by its Ŵ (fed as a graph input, like the quantized model computes it). */
async function referenceLogits(original: Model, q: Model, x: ReturnType<typeof floatFeed>): Promise<Float32Array> {
  const ref = cloneModel(original);
  const rec = readQuantRecord(q)!;
  const probe = cloneModel(q);
  const vals = rec.weights.map((w) => weightCallOf(probe.graph.nodes.find((n) => n.name === w.node)!.inputs[1]!)!.outputs[0]!);
  vals.forEach((v) => probe.graph.setOutput(probe.graph.outputs.length, v));
  const what = await runModel(probe, { x }, vals.map((v) => v.name));
  const feeds: Record<string, ReturnType<typeof floatFeed>> = { x };
  rec.weights.forEach((w, i) => {
    const v = ref.graph.get(w.tensor)!;
    const data = what[vals[i]!.name]!.data as Float32Array;
    v.constValue = Tensor.fromFloat32(w.tensor, w.shape, data);
    ref.graph.inputs.push(v);
    feeds[w.tensor] = floatFeed(data, w.shape);
  });
  return (await runModel(ref, feeds))[ref.graph.outputs[0]!.name]!.data as Float32Array;
}

describe('insert-weight-binarization', () => {
  it('binarizes dense, grouped and depthwise Conv, Gemm transB=0/1 and MatMul; per-tensor planes and scales equal heteroBinarize', async () => {
    const q = zoo();
    const r = await run(q, 'insert-weight-binarization{avg-bits=1.4,heuristic=middle-out}');
    const ws = await checkWeights(zoo(), q, false);
    expect(ws.map((w) => w.node)).toEqual(ZOO_LAYERS);
    expect(r.passes[0]!.stats).toEqual({ 'binarized-layers': 6, 'binarized-parameters': 288 + 288 + 72 + 288 * 16 + 192 + 60 });
    // The original float weights are gone; every layer reads a BinarizedWeight call.
    for (const name of ZOO_LAYERS) {
      expect(q.graph.get(`${name}.w`)?.isInitializer ?? false).toBe(false);
      expect(isWeightCall(q.graph.nodes.find((n) => n.name === name)!.inputs[1]!.producer!)).toBe(true);
    }
    // The bit map is Algorithm 1 with Middle-Out on the channel-major tensor (seed = idx).
    const dist = resolveDistribution({ avgBits: 1.4, maxBits: 3 }).dist;
    ws.forEach((w, idx) => {
      const t = zoo().graph.get(w.tensor)!.constValue!;
      const bm = makeBitMap(toChannelMajor(t.toFloat32(), t.dims, CHANNEL_AXIS[w.node]!), { heuristic: 'middle-out', dist, maxBits: 3, seed: idx });
      expect(bm.counts).toEqual(w.histogram);
      const planes = planesOf(q, w).planes;
      const mine = toChannelMajor(Float32Array.from(bitMapFromPlanes(planes, 3, t.size)), t.dims, CHANNEL_AXIS[w.node]!);
      expect(Array.from(mine)).toEqual(Array.from(bm.bitMap));
    });
    expect(readQuantRecord(q)!.avgWeightBits).toBeCloseTo(1.4, 2);
    // Format: IR >= 8, ai.hbnn opset import, both functions.
    expect(q.irVersion >= 8n).toBe(true);
    expect(q.opsetVersion('ai.hbnn')).toBe(1);
    // The quantized model runs in onnxruntime and computes the float network with Ŵ.
    const x = xFeed(4);
    const got = (await runModel(q, { x }))['y']!.data as Float32Array;
    const want = await referenceLogits(zoo(), q, x);
    const scale = Math.max(...Array.from(want, Math.abs));
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5 * scale);
    const float = (await runModel(zoo(), { x }))['y']!.data as Float32Array;
    expect(maxAbsDiff(got, float)).toBeGreaterThan(1e-3 * scale);
  });

  it('per-channel scales have shape [K, C, 1, ...] on the output-channel axis of each layout', async () => {
    const q = zoo();
    await run(q, 'insert-weight-binarization{avg-bits=1.6,per-channel=true,heuristic=top-down}');
    const ws = await checkWeights(zoo(), q, true);
    const dims = Object.fromEntries(ws.map((w) => [w.node, q.graph.get(w.scales)!.constValue!.dims]));
    expect(dims).toEqual({
      conv: [3, 8, 1, 1, 1],
      grouped: [3, 8, 1, 1, 1],
      depthwise: [3, 8, 1, 1, 1],
      fc0: [3, 1, 16],
      fc1: [3, 12, 1],
      proj: [3, 1, 5],
    });
    // record: [bit][channel]
    expect((ws[0]!.scaleValues as number[][]).map((r) => r.length)).toEqual([8, 8, 8]);
    const x = xFeed(2);
    const got = (await runModel(q, { x }))['y']!.data as Float32Array;
    const want = await referenceLogits(zoo(), q, x);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5 * Math.max(...Array.from(want, Math.abs)));
  });

  it('include/exclude globs on node or weight names; first/last layer kept on request', async () => {
    const nodes = async (opts: string): Promise<string[]> => {
      const m = zoo();
      await run(m, `insert-weight-binarization{avg-bits=1.2${opts}}`);
      const rec = readQuantRecord(m)!;
      // layers not in the record still read their float initializer
      for (const name of ZOO_LAYERS.filter((n) => !rec.weights.some((w) => w.node === n))) {
        expect(m.graph.nodes.find((n) => n.name === name)!.inputs[1]!.isInitializer).toBe(true);
      }
      return rec.weights.map((w) => w.node);
    };
    expect(await nodes(',include=conv|fc*')).toEqual(['conv', 'fc0', 'fc1']);
    expect(await nodes(',include=*.w,exclude=grouped|depth*')).toEqual(['conv', 'fc0', 'fc1', 'proj']);
    expect(await nodes(',include=proj.w')).toEqual(['proj']);
    expect(await nodes(',exclude=fc?')).toEqual(['conv', 'grouped', 'depthwise', 'proj']);
    expect(await nodes(',first-layer=keep,last-layer=keep')).toEqual(['grouped', 'depthwise', 'fc0', 'fc1']);
    const m = zoo();
    const err = await expectHbnnError(() => run(m, 'insert-weight-binarization{exclude=*}'), 'nothing-to-quantize');
    expect(err.message).toMatch(/all 6 binarizable layers were excluded/);
  });

  it('integer averages are homogeneous for every heuristic; layer mixing gives each layer one width', async () => {
    const at2 = async (h: string): Promise<WeightRecord[]> => {
      const m = zoo();
      await run(m, `insert-weight-binarization{avg-bits=2,heuristic=${h}}`);
      return readQuantRecord(m)!.weights;
    };
    const base = await at2('middle-out');
    for (const w of base) expect(w.histogram).toEqual([0, w.shape.reduce((a, b) => a * b, 1)]);
    for (const h of ['top-down', 'random', 'layer']) {
      expect((await at2(h)).map((w) => w.scaleValues)).toEqual(base.map((w) => w.scaleValues));
    }
    const m = zoo();
    await run(m, 'insert-weight-binarization{avg-bits=1.4,heuristic=layer}');
    const rec = readQuantRecord(m)!;
    for (const w of rec.weights) expect(w.histogram.filter((c) => c > 0)).toHaveLength(1);
    expect(new Set(rec.weights.map((w) => w.histogram.findIndex((c) => c > 0))).size).toBeGreaterThan(1);
    expect(rec.avgWeightBits).toBeGreaterThan(1);
    expect(rec.avgWeightBits).toBeLessThan(2);
  });
});

describe('insert-weight-binarization granularity=row', () => {
  const bitMapCm = (q: Model, w: WeightRecord): { map: Uint8Array; rows: number } => {
    const axis = CHANNEL_AXIS[w.node]!;
    const n = w.shape.reduce((a, b) => a * b, 1);
    const planesT = planesOf(q, w);
    const map = Uint8Array.from(toChannelMajor(Float32Array.from(bitMapFromPlanes(planesT.planes, planesT.dims[0]!, n)), w.shape, axis));
    return { map, rows: w.shape[axis]! };
  };

  for (const [what, opts, perChannel] of [
    ['middle-out, per-tensor scales', 'avg-bits=1.4', false],
    ['middle-out-residual, per-channel scales', 'avg-bits=1.2,heuristic=middle-out-residual,per-channel=true', true],
    ['bottom-up, 0/70/30', 'dist=0|0.7|0.3,heuristic=bottom-up', false],
  ] as const) {
    it(`${what}: every output channel has one bitwidth, in each weight layout; planes equal the numerics module`, async () => {
      const q = zoo();
      await run(q, `insert-weight-binarization{${opts},granularity=row}`);
      const ws = await checkWeights(zoo(), q, perChannel);
      expect(ws.map((w) => w.node)).toEqual(ZOO_LAYERS);
      const heuristic = /heuristic=([a-z-]+)/.exec(opts)?.[1] ?? 'middle-out';
      const dist = /dist=([\d.|]+)/.exec(opts)?.[1]?.split('|').map(Number) ?? resolveDistribution({ avgBits: Number(/avg-bits=([\d.]+)/.exec(opts)![1]), maxBits: 3 }).dist;
      ws.forEach((w, idx) => {
        expect(w.granularity).toBe('row');
        const { map, rows } = bitMapCm(q, w);
        const size = map.length / rows;
        for (let r = 0; r < rows; r++) {
          const row = map.subarray(r * size, (r + 1) * size);
          expect(row.every((m) => m === row[0]), `${w.node} row ${r}`).toBe(true);
        }
        // The bit map is makeBitMap's with rows = the output channels, on the channel-major weight.
        const t = zoo().graph.get(w.tensor)!.constValue!;
        const cm = toChannelMajor(t.toFloat32(), t.dims, CHANNEL_AXIS[w.node]!);
        const want = makeBitMap(cm, { heuristic: heuristic as 'middle-out', dist, maxBits: dist.length, seed: idx, rows, ...(perChannel ? { scaleChannels: rows } : {}) });
        expect(Array.from(map), w.node).toEqual(Array.from(want.bitMap));
        // (the histogram stops at the widest bitwidth used)
        expect(w.histogram).toEqual(want.counts.slice(0, w.histogram.length));
        expect(want.counts.slice(w.histogram.length).every((c) => c === 0)).toBe(true);
      });
    });
  }

  it('gives the same model with worker threads; the default (entry) writes no granularity field', async () => {
    const a = zoo();
    const b = zoo();
    await run(a, 'insert-weight-binarization{avg-bits=1.4,granularity=row}');
    await Pipeline.parse('insert-weight-binarization{avg-bits=1.4,granularity=row}', registry).run(b, { threads: 2 });
    expect(Buffer.from(encodeModel(b)).equals(Buffer.from(encodeModel(a)))).toBe(true);
    const e = zoo();
    const d = zoo();
    await run(e, 'insert-weight-binarization{avg-bits=1.4,granularity=entry}');
    await run(d, 'insert-weight-binarization{avg-bits=1.4}');
    expect(Buffer.from(encodeModel(e)).equals(Buffer.from(encodeModel(d)))).toBe(true);
    for (const w of readQuantRecord(d)!.weights) expect('granularity' in w).toBe(false);
    // Row and entry maps differ.
    expect(Buffer.from(encodeModel(a)).equals(Buffer.from(encodeModel(d)))).toBe(false);
  });

  it('invalid: granularity=row with heuristic=layer, an unknown granularity; the model is left as it was', async () => {
    const m = zoo();
    const before = Buffer.from(encodeModel(m));
    const err = await expectHbnnError(() => run(m, 'insert-weight-binarization{avg-bits=1.4,heuristic=layer,granularity=row}'), 'invalid-option');
    expect(err.message).toMatch(/granularity=row needs a bit map heuristic/);
    await expectHbnnError(() => run(m, 'insert-weight-binarization{granularity=column}'), 'invalid-option');
    expect(Buffer.from(encodeModel(m)).equals(before)).toBe(true);
  });
});

describe('insert-activation-binarization', () => {
  const actCalls = (m: Model) => m.graph.nodes.filter(isActivationCall);

  it('fmnist-cnn: between BatchNorm and ReLU; the first and last layers are kept by default', async () => {
    const m = loadModel(FMNIST_CNN());
    await run(m, 'insert-weight-binarization{avg-bits=1.4},insert-activation-binarization{avg-bits=1.4}');
    const calls = actCalls(m);
    expect(calls).toHaveLength(2);
    for (const c of calls) {
      expect(c.inputs[0]!.producer!.opType).toBe('BatchNormalization');
      expect(c.outputs[0]!.consumers.map((n) => n.opType)).toEqual(['Relu']);
    }
    const rec = readQuantRecord(m)!;
    expect(rec.activations.map((a) => a.feeds)).toEqual([['/c2/Conv'], ['/c3/Conv']]);
    expect(rec.activations.map((a) => a.input)).toEqual(['/b1/BatchNormalization_output_0', '/b2/BatchNormalization_output_0']);
    expect(rec.activations.every((a) => !a.calibrated)).toBe(true);
    expect(rec.avgActivationBits).toBeCloseTo(1.4, 9);
    // first conv still reads the network input; fc still reads the float path from b3
    expect(m.graph.nodes.find((n) => n.name === '/c1/Conv')!.inputs[0]!.name).toBe('input');
    expect(m.graph.get('/b3/BatchNormalization_output_0')!.consumers.map((n) => n.opType)).toEqual(['Relu']);
    const out = await runModel(m, { input: floatFeed(randomFloats(2 * 784, 3), [2, 1, 28, 28]) });
    expect(out['logits']!.dims).toEqual([2, 10]);
  });

  it('first-layer=binarize and last-layer=binarize add the input binarizer and the one before fc', async () => {
    const m = loadModel(FMNIST_CNN());
    await run(m, 'insert-weight-binarization{avg-bits=1.4},insert-activation-binarization{avg-bits=1.4,first-layer=binarize,last-layer=binarize}');
    const rec = readQuantRecord(m)!;
    expect(rec.activations.map((a) => a.input)).toEqual([
      'input',
      '/b1/BatchNormalization_output_0',
      '/b2/BatchNormalization_output_0',
      '/b3/BatchNormalization_output_0',
    ]);
    expect(rec.activations.map((a) => a.feeds[0])).toEqual(['/c1/Conv', '/c2/Conv', '/c3/Conv', '/fc/Gemm']);
  });

  it('fmnist-mlp: one binarizer, between the first BatchNorm and ReLU', async () => {
    const m = loadModel(FMNIST_MLP());
    await run(m, 'insert-weight-binarization{avg-bits=1.4},insert-activation-binarization{avg-bits=1.4}');
    const calls = actCalls(m);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.inputs[0]!.name).toBe('/2/BatchNormalization_output_0');
    expect(calls[0]!.outputs[0]!.consumers.map((n) => n.name)).toEqual(['/3/Relu']);
    expect(readQuantRecord(m)!.activations[0]!.feeds).toEqual(['/4/Gemm']);
  });

  it('residual network: a ReLU shared with the shortcut is copied for the convolution; one binarizer per value, shared by the layers reading it', async () => {
    const m = buildResNet20({ inputShape: [1, 8, 8], width: 4, blocks: 1 });
    const x = floatFeed(randomFloats(2 * 64, 7), [2, 1, 8, 8]);
    await run(m, 'insert-weight-binarization{avg-bits=1.4},insert-activation-binarization{avg-bits=1.4}');
    const calls = actCalls(m);
    const rec = readQuantRecord(m)!;
    // the binarizers read the BatchNorm or Add output before a ReLU, never a ReLU's output
    expect(calls.map((c) => c.inputs[0]!.producer!.opType).sort()).toEqual(['Add', 'Add', 'BatchNormalization', 'BatchNormalization', 'BatchNormalization', 'BatchNormalization']);
    for (const c of calls) expect(c.outputs[0]!.consumers.every((n) => n.opType === 'Relu')).toBe(true);
    // every binarized layer but the first and the output layer reads Relu(binarizer)
    const layers = m.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm');
    for (const l of layers.slice(1, -1)) expect(isActivationCall(l.inputs[0]!.producer!.inputs[0]!.producer!), l.name).toBe(true);
    // the identity shortcut and the ReLUs feeding the Adds stay on the real-valued path
    for (const add of m.graph.nodes.filter((n) => n.opType === 'Add' && n.inputs.every((v) => v!.producer))) {
      for (const v of add.inputs) {
        const p = v!.producer!;
        const src = p.opType === 'Relu' ? p.inputs[0]!.producer! : p;
        expect(isActivationCall(src), `${add.name} reads ${p.name}`).toBe(false);
      }
    }
    // copies: the ReLU after the stem and after each stage (each also feeds a shortcut); a
    // projection block's convolution and its 1×1 projection share one binarizer (feeds lists both)
    expect(m.graph.nodes.filter((n) => n.name.endsWith('/hbnn_branch'))).toHaveLength(3);
    expect(rec.activations.map((a) => a.feeds.length).sort()).toEqual([1, 1, 1, 1, 2, 2]);
    expect(new Set(rec.activations.map((a) => a.input)).size).toBe(rec.activations.length);
    const out = await runModel(m, { input: x });
    expect(Array.from(out[m.graph.outputs[0]!.name]!.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('needs binarized weights first (the pass manager checks the declared requirement)', async () => {
    const err = await expectHbnnError(() => run(loadModel(FMNIST_MLP()), 'insert-activation-binarization'), 'pass-failed');
    expect(err.message).toMatch(/requires weights-binarized/);
  });
});

describe('calibrate', () => {
  const calibSpec = 'fmnist-mini:train';

  /** The binarizer inputs of `m` on `ds` (float32, all samples concatenated). */
  async function binarizerInputs(m: Model, x: Float32Array, n: number): Promise<Record<string, Float32Array>> {
    const probe = cloneModel(m);
    const names = actCalls(probe).map((c) => c.inputs[0]!.name);
    names.forEach((nm) => probe.graph.setOutput(probe.graph.outputs.length, probe.graph.get(nm)!));
    const out = await runModel(probe, { input: floatFeed(x, [n, 1, 28, 28]) }, names);
    return Object.fromEntries(names.map((nm) => [nm, out[nm]!.data as Float32Array]));
  }
  const actCalls = (m: Model) => m.graph.nodes.filter(isActivationCall);

  it('middle-out: the observed band fractions on the calibration data are the target; thresholds ordered', async () => {
    const m = loadModel(FMNIST_CNN());
    await run(m, `insert-weight-binarization{avg-bits=1.4},insert-activation-binarization{avg-bits=1.4},calibrate{data=${calibSpec},limit=200,normalize=fmnist}`);
    const rec = readQuantRecord(m)!;
    expect(rec.activations).toHaveLength(2);
    const calib = loadDataset(calibSpec, { limit: 200, normalize: FMNIST_NORMALIZATION });
    const xs = await binarizerInputs(m, calib.images, 200);
    for (const a of rec.activations) {
      expect(a.calibrated).toBe(true);
      expect(a.sign).toBe(1);
      expect(a.center).toBeGreaterThan(0);
      expect(a.thresholds[0]).toBeLessThan(a.thresholds[1]);
      expect(a.scales.every((s) => s > 0)).toBe(true);
      // recount the bands independently from the binarizer's input on the same data
      const x = xs[a.input]!;
      const seen = [0, 0, 0];
      for (const v of x) {
        const k = Math.fround(Math.abs(Math.fround(Math.abs(v) - a.center)));
        seen[(k >= a.thresholds[0] ? 1 : 0) + (k >= a.thresholds[1] ? 1 : 0)]++;
      }
      const frac = seen.map((c) => c / x.length);
      frac.forEach((f, i) => expect(Math.abs(f - [0.7, 0.2, 0.1][i]!)).toBeLessThan(0.01));
      a.observed!.forEach((f, i) => expect(f).toBeCloseTo(frac[i]!, 2));
      // the installed constants are the recorded ones
      const call = actCalls(m).find((c) => c.name === a.node)!;
      expect(Array.from(call.inputs[1]!.constValue!.toFloat32())).toEqual(a.scales);
      expect(call.inputs[4]!.constValue!.toFloat32()[0]).toBe(a.thresholds[0]);
      expect(call.inputs[5]!.constValue!.toFloat32()[0]).toBe(a.thresholds[1]);
    }
    // the calibrated model is a working classifier
    const test = loadDataset('fmnist-mini:test', { limit: 500, normalize: FMNIST_NORMALIZATION });
    expect((await evaluate(m, test)).top1).toBeGreaterThan(0.5);
  });

  it('top-down uses sign -1 and ordered thresholds; 1-bit activations put everything in band 1', async () => {
    const td = loadModel(FMNIST_MLP());
    await run(td, `insert-weight-binarization{avg-bits=1.4},insert-activation-binarization{avg-bits=1.2,heuristic=top-down},calibrate{data=${calibSpec},limit=100,normalize=fmnist}`);
    const a = readQuantRecord(td)!.activations[0]!;
    expect(a.sign).toBe(-1);
    expect(a.center).toBe(0);
    expect(a.thresholds[0]).toBeLessThanOrEqual(a.thresholds[1]);
    expect(a.thresholds[1]).toBeLessThanOrEqual(0);
    a.observed!.forEach((f, i) => expect(Math.abs(f - a.distribution[i]!)).toBeLessThan(0.01));
    const one = loadModel(FMNIST_MLP());
    await run(one, `insert-weight-binarization{avg-bits=1},insert-activation-binarization{avg-bits=1},calibrate{data=${calibSpec},limit=50,normalize=fmnist}`);
    const b = readQuantRecord(one)!.activations[0]!;
    expect(b.observed).toEqual([1, 0, 0]);
    expect(b.scales[1]).toBe(0);
    expect(b.scales[2]).toBe(0);
  });
});

describe('calibrate: band edges clear of mass points', () => {
  it('a quantile on a value shared by many entries moves the edge off it, keeping its band; other thresholds stay', () => {
    // 1,000 distinct values in [0, 1) and a mass point of 300 entries at 0.5
    const v: number[] = [];
    for (let i = 0; i < 1000; i++) v.push(Math.fround(i / 1000 + 0.0003));
    for (let i = 0; i < 300; i++) v.push(0.5);
    const sorted = Float32Array.from(v).sort();
    const c = 0.01;
    const q = sorted[Math.round(0.5 * sorted.length)]!;
    expect(q).toBe(0.5); // the plain quantile lands on the mass point
    const t = clearOfMassPoints(q, sorted, c);
    expect(t).toBeCloseTo(0.5 - c, 6); // moved down: the mass point keeps k >= t (more bits)
    expect(sorted.filter((k) => k >= t).length - sorted.filter((k) => k >= q).length).toBe(10); // only the entries in [t, q) change band
    expect(clearOfMassPoints(0.25, sorted, c)).toBe(0.25); // no mass point within reach
    expect(clearOfMassPoints(0.505, sorted, c)).toBeCloseTo(0.51, 6); // above the mass point: moved up, it keeps fewer bits
    expect(clearOfMassPoints(3e38, sorted, c)).toBe(3e38);
    expect(EDGE_CLEARANCE).toBeGreaterThan(0);
  });
});

describe('insert-scaling-layer', () => {
  it('fmnist-cnn: records the existing Mul by fc.scale, adds nothing', async () => {
    const m = loadModel(FMNIST_CNN());
    const before = m.graph.nodes.length;
    await run(m, 'insert-weight-binarization{avg-bits=1.4},insert-scaling-layer');
    expect(m.graph.nodes.length).toBe(before + 4); // the four BinarizedWeight calls, no Mul
    expect(m.graph.nodes.filter((n) => n.opType === 'Mul').map((n) => n.name)).toEqual(['/fc/Mul']);
    expect(readQuantRecord(m)!.scalingLayer).toEqual({ node: '/fc/Mul', scale: 'fc.scale', inserted: false });
  });

  it('fmnist-mlp: inserts Mul after the output Gemm and keeps the output name logits', async () => {
    const plain = loadModel(FMNIST_MLP());
    await run(plain, 'insert-weight-binarization{avg-bits=1.4}');
    const x = floatFeed(randomFloats(3 * 784, 4), [3, 1, 28, 28]);
    const y0 = (await runModel(plain, { input: x }))['logits']!.data as Float32Array;
    const m = loadModel(FMNIST_MLP());
    const scaled = loadModel(FMNIST_MLP());
    await run(m, 'insert-weight-binarization{avg-bits=1.4},insert-scaling-layer');
    await run(scaled, 'insert-weight-binarization{avg-bits=1.4},insert-scaling-layer{init=2}');
    const rec = readQuantRecord(m)!.scalingLayer!;
    expect(rec.inserted).toBe(true);
    const mul = m.graph.nodes.find((n) => n.name === rec.node)!;
    expect(mul.opType).toBe('Mul');
    expect(m.graph.outputs.map((v: Value) => v.name)).toEqual(['logits']);
    expect(mul.outputs[0]!.name).toBe('logits');
    expect(mul.inputs[0]!.producer!.name).toBe('/7/Gemm');
    expect(m.graph.get(rec.scale)!.constValue!.toFloat32()[0]).toBe(1);
    const y1 = (await runModel(m, { input: x }))['logits']!.data as Float32Array;
    const y2 = (await runModel(scaled, { input: x }))['logits']!.data as Float32Array;
    expect(Array.from(y1)).toEqual(Array.from(y0));
    expect(Array.from(y2)).toEqual(Array.from(y0, (v) => Math.fround(v * 2)));
  });
});
