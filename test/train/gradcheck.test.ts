/**
 * Every gradient rule against float64 central differences (see helpers/gradcheck.ts for the
 * error measure). Each network puts a parameter upstream of the operator under test, so both
 * its input gradient and (where it has them) its parameter gradients are checked.
 */
import { describe, expect, it } from 'vitest';
import { A, Net, gradCheck, ortGradients, rand, relError, type CheckOptions } from './helpers/gradcheck.js';
import { evaluate64, loss64, t64, type T64 } from './helpers/ref64.js';
import { mini } from './helpers/data.js';
import type { Model, Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { isActivationCall } from '../../src/quant/format.js';
import { buildTrainingGraph } from '../../src/train/grad/builder.js';
import { collectBatchNorms, collectParams } from '../../src/train/params.js';
import { StepRunner } from '../../src/train/step.js';
import { TrainRng } from '../../src/train/rng.js';
import { probeNchwcBlock } from '../../src/train/nchwc-probe.js';
import { NCHWC_DOMAIN } from '../../src/train/grad/nchwc.js';
import { phaseAxis } from '../../src/train/grad/rules/conv.js';

/** Relative error threshold (per parameter tensor); see docs/training.md. */
const TOL = 1e-4;

/** Flatten + Gemm to `classes` logits. */
function head(net: Net, v: Value, features: number, classes: number): Model {
  const flat = net.node('Flatten', [v], { axis: A.int(1) });
  const w = net.param('head.w', [classes, features], 0.3);
  const b = net.param('head.b', [classes], 0.1);
  return net.output(net.node('Gemm', [flat, w, b], { transB: A.int(1) }));
}

async function check(model: Model, xDims: number[], classes: number, opts: CheckOptions = {}): Promise<Record<string, number>> {
  const r = await gradCheck(model, xDims, classes, opts);
  if (process.env.GRADCHECK_REPORT) console.log(JSON.stringify(r.errors));
  expect(Math.abs(r.loss - r.lossRef) / Math.abs(r.lossRef)).toBeLessThan(1e-5);
  for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: relative error ${err}`).toBeLessThan(TOL);
  expect(Object.keys(r.errors).length).toBeGreaterThan(0);
  return r.errors;
}

describe('gradcheck: convolution', () => {
  it('Conv 3x3 pad 1 with bias, Relu, GlobalAveragePool, Gemm transB', async () => {
    const net = new Net(['N', 3, 6, 6]);
    const c = net.node('Conv', [net.x, net.param('w', [4, 3, 3, 3]), net.param('b', [4], 0.1)], { pads: A.ints([1, 1, 1, 1]) });
    const r = net.node('Relu', [c]);
    const errs = await check(head(net, net.node('GlobalAveragePool', [r]), 4, 5), [2, 3, 6, 6], 5);
    expect(Object.keys(errs)).toEqual(['w', 'b', 'head.w', 'head.b']);
  });

  it('GlobalAveragePool on static planes (the constant 1/P) and on 1x1 planes (dX = dY)', async () => {
    for (const [side, p] of [[5, 9], [3, 1]] as const) {
      const net = new Net(['N', 3, side, side]);
      const c = net.node('Conv', [net.x, net.param('w', [4, 3, 3, 3]), net.param('b', [4], 0.1)]);
      const r = net.node('Relu', [c]);
      const gap = net.node('GlobalAveragePool', [r]);
      const res = await gradCheck(head(net, gap, 4, 5), [2, 3, side, side], 5);
      for (const [name, err] of Object.entries(res.errors)) expect(err, `${name} (P = ${p})`).toBeLessThan(TOL);
      const gapGrad = res.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${gap.producer!.name}/grad/`)).map((n) => n.opType);
      // no run-time Size/Cast/Div for the factor; nothing at all on 1x1 planes
      expect(gapGrad).toEqual(p === 1 ? [] : ['Mul', 'Shape', 'Expand']);
    }
  });

  it('Conv with stride 2, asymmetric pads and dilation 2 (input gradient through a per-channel Mul)', async () => {
    const net = new Net(['N', 3, 9, 8]);
    const scaled = net.node('Mul', [net.x, net.param('a', [1, 3, 1, 1], 0.5, 1)]);
    const c = net.node('Conv', [scaled, net.param('w', [4, 3, 3, 3])], {
      strides: A.ints([2, 2]),
      pads: A.ints([1, 0, 2, 1]),
      dilations: A.ints([2, 2]),
    });
    // out: H = floor((9+3-5)/2)+1 = 4, W = floor((8+1-5)/2)+1 = 3
    await check(head(net, c, 4 * 4 * 3, 3), [2, 3, 9, 8], 3);
  });

  it('Conv with stride 3 whose windows leave trailing rows unread (output_padding)', async () => {
    const net = new Net(['N', 2, 10, 11]);
    const pre = net.node('Conv', [net.x, net.param('w0', [3, 2, 1, 1])]);
    const c = net.node('Conv', [pre, net.param('w', [2, 3, 2, 3])], { strides: A.ints([3, 3]) });
    // H: floor((10-2)/3)+1 = 3 (reads rows 0..7 of 10), W: floor((11-3)/3)+1 = 3 (reads 0..8 of 11)
    await check(head(net, c, 2 * 3 * 3, 4), [2, 2, 10, 11], 4);
  });

  it('grouped Conv (group 2) and depthwise Conv with stride, after a 1x1 Conv (Gemm weight path)', async () => {
    const net = new Net(['N', 4, 7, 7]);
    const pw = net.node('Conv', [net.x, net.param('pw', [6, 4, 1, 1]), net.param('pb', [6], 0.1)]);
    const grouped = net.node('Conv', [pw, net.param('gw', [4, 3, 3, 3]), net.param('gb', [4], 0.1)], { group: A.int(2), pads: A.ints([1, 1, 1, 1]) });
    const dw = net.node('Conv', [grouped, net.param('dw', [4, 1, 3, 3])], { group: A.int(4), strides: A.ints([2, 2]), pads: A.ints([0, 1, 1, 0]) });
    // dw out: H = floor((7+1-3)/2)+1 = 3, W = floor((7+1-3)/2)+1 = 3
    await check(head(net, dw, 4 * 3 * 3, 3), [2, 4, 7, 7], 3);
  });

  it('depthwise Conv with channel multiplier 2 and dilation', async () => {
    const net = new Net(['N', 3, 8, 8]);
    const pre = net.node('Mul', [net.x, net.param('a', [3, 1, 1], 0.5, 1)]);
    const dw = net.node('Conv', [pre, net.param('dw', [6, 1, 3, 3])], { group: A.int(3), dilations: A.ints([2, 1]), pads: A.ints([1, 1, 1, 1]) });
    await check(head(net, dw, 6 * 6 * 8, 3), [2, 3, 8, 8], 3);
  });

  it('1-D Conv with auto_pad SAME_UPPER and stride 2, and a 3-D Conv', async () => {
    const net1 = new Net(['N', 2, 9]);
    const pre = net1.node('Mul', [net1.x, net1.param('a', [2, 1], 0.5, 1)]);
    const c1 = net1.node('Conv', [pre, net1.param('w', [3, 2, 4])], { auto_pad: A.str('SAME_UPPER'), strides: A.ints([2]) });
    await check(head(net1, c1, 3 * 5, 3), [3, 2, 9], 3);

    const net3 = new Net(['N', 2, 4, 5, 4]);
    const pre3 = net3.node('Mul', [net3.x, net3.param('a', [2, 1, 1, 1], 0.5, 1)]);
    const c3 = net3.node('Conv', [pre3, net3.param('w', [2, 2, 2, 3, 2])], { strides: A.ints([1, 2, 2]), pads: A.ints([1, 1, 0, 0, 1, 1]) });
    // out: D = (4+1-2)+1 = 4, H = floor((5+2-3)/2)+1 = 3, W = floor((4+1-2)/2)+1 = 2
    await check(head(net3, c3, 2 * 4 * 3 * 2, 2), [2, 2, 4, 5, 4], 2);
  });

  it('Conv on 16 channels: onnxruntime Conv forward, input gradient as a Conv with the flipped kernel, weight gradient from the kernel rows (dY row-shifted, X horizontal patches)', async () => {
    const net = new Net(['N', 2, 6, 6]);
    const pw = net.node('Conv', [net.x, net.param('pw', [16, 2, 1, 1]), net.param('pb', [16], 0.1)]); // C·K = 2: per-sample products
    const c = net.node('Conv', [pw, net.param('w', [4, 16, 3, 3], 0.3), net.param('b', [4], 0.1)], { pads: A.ints([1, 1, 1, 1]) });
    const r = await gradCheck(head(net, c, 4 * 6 * 6, 3), [2, 2, 6, 6], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const ops = r.tg.model.graph.nodes.filter((n) => !n.name.startsWith('loss')).map((n) => n.opType);
    expect(ops.filter((o) => o === 'Gather').length).toBe(2); // dW: dY's rows per kernel row, X's horizontal patches
    expect(ops.filter((o) => o === 'Conv').length).toBe(3); // the two forwards and c's input gradient
    expect(ops).not.toContain('ConvTranspose');
  });

  it('stride-1 Conv: input gradient as a Conv of dY with the flipped, channel-swapped kernel, asymmetric pads, 2x3 kernel, 1-D', async () => {
    const net = new Net(['N', 2, 6, 5]);
    const pw = net.node('Conv', [net.x, net.param('pw', [16, 2, 1, 1])]);
    const c = net.node('Conv', [pw, net.param('w', [16, 16, 2, 3], 0.3), net.param('b', [16], 0.1)], { pads: A.ints([1, 0, 0, 2]) }); // 6x5
    const c2 = net.node('Conv', [c, net.param('w2', [2, 16, 3, 3], 0.3)]); // 4x3
    const r = await gradCheck(head(net, c2, 2 * 4 * 3, 3), [2, 2, 6, 5], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const nodes = r.tg.model.graph.nodes;
    // both input gradients are Convs (stride 1); c's weight gradient is one batched MatMul of patches
    // (its bias gradient, the per-channel sum of dY, is the ones-row MatMul beside it)
    expect(nodes.filter((n) => n.opType === 'ConvTranspose').length).toBe(0);
    expect(nodes.filter((n) => n.opType === 'Conv' && n.name.startsWith(`${c.producer!.name}/grad/`)).length).toBe(1);
    expect(nodes.filter((n) => n.opType === 'MatMul' && n.name.startsWith(`${c.producer!.name}/grad/dW/`)).length).toBe(1);
    expect(nodes.filter((n) => n.opType === 'MatMul' && n.name.startsWith(`${c.producer!.name}/grad/`)).length).toBe(2);

    const net1 = new Net(['N', 3, 9]);
    const p1 = net1.node('Conv', [net1.x, net1.param('pw', [16, 3, 1])]);
    const c1 = net1.node('Conv', [p1, net1.param('w', [16, 16, 4], 0.3)], { pads: A.ints([3, 1]) }); // 9 + 4 - 3 = 10
    const r1 = await gradCheck(head(net1, c1, 16 * 10, 3), [3, 3, 9], 3);
    for (const [name, err] of Object.entries(r1.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(r1.tg.model.graph.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
  });

  it('Conv on 16 channels with stride 2, asymmetric pads and dilation 2, Conv on 8 channels (im2col Gemm), and 1-D', async () => {
    const net = new Net(['N', 2, 7, 6]);
    const pw = net.node('Conv', [net.x, net.param('pw', [16, 2, 1, 1])]);
    const big = net.node('Conv', [pw, net.param('wb', [8, 16, 3, 3], 0.3)], { pads: A.ints([1, 1, 1, 1]) }); // 7x6
    const c = net.node('Conv', [pw, net.param('w', [3, 16, 3, 3], 0.3)], { strides: A.ints([2, 2]), pads: A.ints([1, 0, 2, 1]), dilations: A.ints([2, 2]) });
    // c: H = floor((7+3-5)/2)+1 = 3, W = floor((6+1-5)/2)+1 = 2
    const c8 = net.node('Conv', [big, net.param('w8', [2, 8, 3, 3], 0.3)], { strides: A.ints([3, 3]) }); // C·K = 72: one Gemm; 2x2
    const f1 = net.node('Flatten', [c], { axis: A.int(1) });
    const f2 = net.node('Flatten', [c8], { axis: A.int(1) });
    const cat = net.node('Concat', [f1, f2], { axis: A.int(1) });
    const r = await gradCheck(net.output(net.node('Gemm', [cat, net.param('hw', [3, 18 + 8], 0.3)], { transB: A.int(1) })), [2, 2, 7, 6], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const ops = r.tg.model.graph.nodes.filter((n) => !n.name.startsWith('loss')).map((n) => n.opType);
    // c (stride 2): one patch Gather; big (stride 1): the row split's two; c8 (a 2x2 output plane): the small-plane form's patches
    expect(ops.filter((o) => o === 'Gather').length).toBe(4);

    const net1 = new Net(['N', 16, 9]);
    const c1 = net1.node('Conv', [net1.x, net1.param('w', [3, 16, 4], 0.3)], { auto_pad: A.str('SAME_UPPER'), strides: A.ints([2]) });
    await check(head(net1, c1, 3 * 5, 3), [3, 16, 9], 3);
  });
});

describe('gradcheck: Convs on planes of at most 4 output positions as one Gemm over the batch', () => {
  it('3x3 pad 1 on a 2x2 plane with a bias, strided onto a 1x1 plane, a dilated 2x3 kernel with asymmetric pads: forward and input gradient by patches, no Conv', async () => {
    const net = new Net(['N', 8, 2, 2]);
    const a = net.node('Conv', [net.x, net.param('w1', [16, 8, 3, 3], 0.3), net.param('b1', [16], 0.1)], { pads: A.ints([1, 1, 1, 1]) }); // 2x2
    const r = net.node('Relu', [a]);
    const s2 = net.node('Conv', [r, net.param('w2', [16, 16, 3, 3], 0.3)], { pads: A.ints([1, 1, 1, 1]), strides: A.ints([2, 2]) }); // 1x1
    const d = net.node('Conv', [a, net.param('w3', [8, 16, 2, 3], 0.3)], { pads: A.ints([1, 2, 0, 1]), dilations: A.ints([1, 2]) }); // 2x1
    const feats = net.node('Concat', [net.node('Flatten', [s2], { axis: A.int(1) }), net.node('Flatten', [d], { axis: A.int(1) })], { axis: A.int(1) });
    const r1 = await gradCheck(net.output(net.node('Gemm', [feats, net.param('hw', [16 + 8 * 2, 3])])), [3, 8, 2, 2], 3);
    for (const [name, err] of Object.entries(r1.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const nodes = r1.tg.model.graph.nodes;
    for (const c of [a, s2, d]) {
      const name = c.producer!.name;
      expect(nodes.filter((n) => n.name.startsWith(`${name}/`) && (n.opType === 'Conv' || n.opType === 'ConvTranspose') && !n.name.includes('/grad/dW/')).length, name).toBe(0);
      expect(nodes.some((n) => n.name.startsWith(`${name}/`) && n.opType === 'Gemm'), name).toBe(true);
    }
  });
});

describe('gradcheck: weight gradients of stride-1 Convs split by kernel rows', () => {
  it('per-sample products (dilation 2, asymmetric pads, 2x3 kernel) and one MatMul with the batch in the reduction (a 3x3 kernel on a 3x3 plane)', async () => {
    // small on purpose: every parameter entry costs two float64 forward passes
    const net = new Net(['N', 16, 5, 6]);
    // H = 5+1+2 - 2 = 6 (2 rows, dilation 2), W = 6+0+1 - 4 = 3 (3 columns, dilation 2)
    const c = net.node('Conv', [net.x, net.param('w', [2, 16, 2, 3], 0.3), net.param('b', [2], 0.1)], { pads: A.ints([1, 0, 2, 1]), dilations: A.ints([2, 2]) });
    const r = await gradCheck(head(net, c, 2 * 6 * 3, 3), [2, 16, 5, 6], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const dw = r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${c.producer!.name}/grad/dW/`)).map((n) => n.opType);
    expect(dw.filter((o) => o === 'Gather').length).toBe(2);
    expect(dw).toContain('ReduceSum'); // per-sample products summed over the batch

    // 8 output channels on a 1x1 output: partials [24, 48] per sample, 5x the inputs 3·(24 + 48)
    const net2 = new Net(['N', 16, 3, 3]);
    const c2 = net2.node('Conv', [net2.x, net2.param('w', [8, 16, 3, 3], 0.3)]); // 1x1 output
    const r2 = await gradCheck(head(net2, c2, 8, 3), [3, 16, 3, 3], 3);
    for (const [name, err] of Object.entries(r2.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const ops = r2.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${c2.producer!.name}/grad/dW/`)).map((n) => n.opType);
    expect(ops.filter((o) => o === 'Gather').length).toBe(2);
    expect(ops).not.toContain('ReduceSum'); // one MatMul over (batch, rows, columns)
  });

  it('one MatMul with the batch in the reduction: dilation 2, asymmetric pads, 2x3 kernel; the row table built at run time (symbolic batch) and constant (static batch)', async () => {
    for (const batch of ['N', 3] as const) {
      const net = new Net([batch, 16, 5, 6]);
      const c = net.node('Conv', [net.x, net.param('w', [3, 16, 2, 3], 0.3), net.param('b', [3], 0.1)], { pads: A.ints([1, 0, 2, 1]), dilations: A.ints([2, 2]) });
      const r = await gradCheck(head(net, c, 3 * 6 * 3, 3), [3, 16, 5, 6], 3, { convRules: { products: 'one' } });
      for (const [name, err] of Object.entries(r.errors)) expect(err, `${batch}: ${name}: ${err}`).toBeLessThan(TOL);
      const dw = r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${c.producer!.name}/grad/dW/`)).map((n) => n.opType);
      expect(dw.filter((o) => o === 'Gather').length).toBe(2);
      expect(dw.filter((o) => o === 'MatMul').length).toBe(1);
      expect(dw).not.toContain('ReduceSum');
      expect(dw.includes('Range')).toBe(batch === 'N'); // the run-time row table
    }
  });

  it('per-sample products in batch chunks: a partial chunk and empty chunks (batch below the hint), an open-ended last chunk (batch above it)', async () => {
    const make = (): { model: Model; conv: Value } => {
      const net = new Net(['N', 16, 5, 6]);
      const c = net.node('Conv', [net.x, net.param('w', [2, 16, 2, 3], 0.3), net.param('b', [2], 0.1)], { pads: A.ints([1, 0, 2, 1]), dilations: A.ints([2, 2]) });
      return { model: head(net, c, 2 * 6 * 3, 3), conv: c };
    };
    // hint 8, chunks of 2: [0,2) [2,4) [4,6) [6,...); a batch of 3 fills one chunk and a half, two are empty
    const { model, conv } = make();
    const chunked: CheckOptions = { convRules: { products: 'per-sample', chunk: 2 }, batchHint: 8 };
    const r = await gradCheck(model, [3, 16, 5, 6], 3, chunked);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const dw = r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${conv.producer!.name}/grad/dW/`)).map((n) => n.opType);
    expect(dw.filter((o) => o === 'MatMul').length).toBe(4);
    expect(dw).toContain('Concat'); // the chunks' partials joined, then one ReduceSum
    // a batch of 7 with hint 4: the last chunk [2, ...) takes 5 samples; same gradients as the unchunked graph
    const m2 = make().model;
    const x = rand(7 * 16 * 5 * 6, 3);
    const labels = [0, 1, 2, 0, 1, 2, 0];
    const grads = async (opts: CheckOptions): Promise<Record<string, Float32Array>> => {
      const tg = buildTrainingGraph(m2, opts);
      const values: Record<string, Float32Array> = {};
      for (const p of tg.params) values[p.input] = m2.graph.get(p.source)!.constValue!.toFloat32().slice();
      return (await ortGradients(tg, x, [7, 16, 5, 6], labels, values)).grads;
    };
    const a = await grads({ convRules: { products: 'per-sample', chunk: 2 }, batchHint: 4 });
    const b = await grads({ convRules: { products: 'per-sample', chunk: 0 } });
    for (const k of Object.keys(b)) expect(relError(a[k]!, b[k]!), k).toBeLessThan(1e-6);
  });

  it('chunks by default where the per-sample operands are large: 16 channels on 64x64 (1.6 MB per sample, hint 8: chunks of 3), same gradients as no chunks', async () => {
    const net = new Net(['N', 16, 64, 64]);
    const c = net.node('Conv', [net.x, net.param('w', [16, 16, 3, 3], 0.3)], { pads: A.ints([1, 1, 1, 1]) });
    const model = head(net, net.node('GlobalAveragePool', [c]), 16, 3);
    const x = rand(7 * 16 * 64 * 64, 5);
    const labels = [0, 1, 2, 0, 1, 2, 0];
    const run = async (opts: CheckOptions): Promise<{ grads: Record<string, Float32Array>; dw: string[] }> => {
      const tg = buildTrainingGraph(model, opts);
      const values: Record<string, Float32Array> = {};
      for (const p of tg.params) values[p.input] = model.graph.get(p.source)!.constValue!.toFloat32().slice();
      const dw = tg.model.graph.nodes.filter((n) => n.name.startsWith(`${c.producer!.name}/grad/dW/`)).map((n) => n.opType);
      return { grads: (await ortGradients(tg, x, [7, 16, 64, 64], labels, values)).grads, dw };
    };
    const a = await run({ batchHint: 8 });
    const b = await run({ batchHint: 8, convRules: { chunk: 0 } });
    expect(a.dw.filter((o) => o === 'MatMul').length).toBe(3); // chunks [0,3) [3,6) [6,...)
    expect(b.dw.filter((o) => o === 'MatMul').length).toBe(1);
    for (const k of Object.keys(b.grads)) expect(relError(a.grads[k]!, b.grads[k]!), k).toBeLessThan(1e-6);
  });
});

describe('gradcheck: strided depthwise input gradient from the tap table', () => {
  it('depthwise 3x3 stride 2 with asymmetric pads and a dilated 2x3 stride-3 one: no ConvTranspose', async () => {
    const net = new Net(['N', 2, 5, 6]);
    const pw = net.node('Conv', [net.x, net.param('pw', [4, 2, 1, 1], 0.4)]);
    // H = floor((5+1+0-3)/2)+1 = 2, W = floor((6+0+1-3)/2)+1 = 3
    const d = net.node('Conv', [pw, net.param('dw', [4, 1, 3, 3], 0.4), net.param('db', [4], 0.1)], { group: A.int(4), strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]) });
    // H = floor((5+1+1-3)/3)+1 = 2, W = floor((6+2+0-5)/3)+1 = 2
    const e = net.node('Conv', [pw, net.param('ew', [4, 1, 2, 3], 0.4)], { group: A.int(4), strides: A.ints([3, 3]), pads: A.ints([1, 2, 1, 0]), dilations: A.ints([2, 2]) });
    const cat = net.node('Concat', [net.node('Flatten', [d], { axis: A.int(1) }), net.node('Flatten', [e], { axis: A.int(1) })], { axis: A.int(1) });
    const r = await gradCheck(net.output(net.node('Gemm', [cat, net.param('hw', [3, 24 + 16], 0.3)], { transB: A.int(1) })), [2, 2, 5, 6], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toContain('pw');
    expect(r.tg.model.graph.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
  });
});

describe('gradcheck: strided depthwise gradients on 16x16 planes by bands', () => {
  it('stride 2 with pads 1, stride 2 with asymmetric pads and a bias, a dilated 2x3 kernel: no ConvTranspose, input gradients by bands of input rows', async () => {
    const net = new Net(['N', 2, 16, 16]);
    const pre = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
    // outputs 8x8; floor((16+1+0-3)/2)+1 = 8 x floor((16+0+1-3)/2)+1 = 8; floor((16+4-3)/2)+1 = 9 x floor((16+2-5)/2)+1 = 7
    const d1 = net.node('Conv', [pre, net.param('d1', [2, 1, 3, 3], 0.4)], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) });
    const d2 = net.node('Conv', [pre, net.param('d2', [2, 1, 3, 3], 0.4), net.param('d2.b', [2], 0.1)], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]) });
    const d3 = net.node('Conv', [pre, net.param('d3', [2, 1, 2, 3], 0.4)], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([2, 1, 2, 1]), dilations: A.ints([2, 2]) });
    const pooled = [d1, d2, d3].map((d) => net.node('Flatten', [net.node('GlobalAveragePool', [net.node('Mul', [d, d])])], { axis: A.int(1) }));
    const cat = net.node('Concat', pooled, { axis: A.int(1) });
    const r = await gradCheck(net.output(net.node('Gemm', [cat, net.param('hw', [3, 6], 0.3)], { transB: A.int(1) })), [2, 2, 16, 16], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['a', 'd1', 'd2', 'd2.b', 'd3']));
    expect(r.tg.model.graph.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
    for (const d of [d1, d2, d3]) {
      const dx = r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${d.producer!.name}/grad/dX/`));
      expect(dx.filter((n) => n.opType === 'Gather' && n.attrInt('axis', 0) === 2).length, d.producer!.name).toBe(1);
    }
  });
});

describe('gradcheck: residual and inverted-residual blocks (the generic convolution path)', () => {
  const bnOf = (net: Net, v: Value, c: number, name: string): Value =>
    net.node('BatchNormalization', [v, net.param(`${name}.g`, [c], 0.2, 1), net.param(`${name}.b`, [c], 0.2), net.param(`${name}.m`, [c], 0.1), net.param(`${name}.v`, [c], 0.1, 1)]);

  it('ResNet basic block with a strided 1x1 projection shortcut: Conv-BN-Relu-Conv-BN + Conv-BN, Add, Relu, GlobalAveragePool', async () => {
    const net = new Net(['N', 2, 6, 6]);
    const stem = net.node('Conv', [net.x, net.param('stem', [6, 2, 1, 1])]); // 1x1 weight gradient as one batched MatMul
    let y = net.node('Conv', [stem, net.param('a', [6, 6, 3, 3], 0.3)], { strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) }); // 3x3: input gradient by ConvTranspose
    y = net.node('Relu', [bnOf(net, y, 6, 'bna')]);
    y = bnOf(net, net.node('Conv', [y, net.param('b', [6, 6, 3, 3], 0.3)], { pads: A.ints([1, 1, 1, 1]) }), 6, 'bnb'); // input gradient as a flipped Conv
    const sc = bnOf(net, net.node('Conv', [stem, net.param('p', [6, 6, 1, 1], 0.4)], { strides: A.ints([2, 2]) }), 6, 'bnp');
    const out = net.node('Relu', [net.node('Add', [y, sc])]);
    const gap = net.node('GlobalAveragePool', [out]);
    const r = await gradCheck(head(net, gap, 6, 3), [3, 2, 6, 6], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['stem', 'a', 'b', 'p', 'bna.g', 'bnp.b']));
    const convs = r.tg.model.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'ConvTranspose');
    // b's input gradient is a Conv under b's scope; a's (stride 2) a ConvTranspose
    expect(convs.some((n) => n.opType === 'Conv' && n.name.startsWith(`${y.producer!.inputs[0]!.producer!.name}/grad/`))).toBe(true);
    expect(convs.filter((n) => n.opType === 'ConvTranspose').length).toBeGreaterThan(0);
  });

  it('MobileNetV2 inverted residual: 1x1 expand, ReLU6 (Clip), depthwise 3x3, 1x1 project, Add; a strided depthwise Conv with multiplier 2', async () => {
    const net = new Net(['N', 2, 6, 6]);
    const lo = net.scalarConst('clip.lo', 0);
    const hi = net.scalarConst('clip.hi', 0.6); // low enough that both bounds clip
    const relu6 = (v: Value): Value => net.node('Clip', [v, lo, hi]);
    const stem = net.node('Conv', [net.x, net.param('stem', [4, 2, 1, 1])]);
    let y = relu6(bnOf(net, net.node('Conv', [stem, net.param('expand', [12, 4, 1, 1], 0.4)]), 12, 'bne')); // 1x1 with input gradient
    y = relu6(bnOf(net, net.node('Conv', [y, net.param('dw', [12, 1, 3, 3], 0.4)], { group: A.int(12), pads: A.ints([1, 1, 1, 1]) }), 12, 'bnd'));
    y = bnOf(net, net.node('Conv', [y, net.param('project', [4, 12, 1, 1], 0.4)]), 4, 'bnp');
    const sum = net.node('Add', [y, stem]);
    const down = net.node('Conv', [sum, net.param('dw2', [8, 1, 3, 3], 0.4)], { group: A.int(4), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) }); // 3x3
    const gap = net.node('GlobalAveragePool', [down]);
    const r = await gradCheck(head(net, gap, 8, 3), [3, 2, 6, 6], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['stem', 'expand', 'dw', 'project', 'dw2', 'bnd.g']));
    // the 6x6 depthwise Conv (multiplier 1) is shifted multiply-adds forward and for its input gradient, its weight
    // gradient two MatMuls (per-channel outer products, then the tap table); dw2 (multiplier 2) stays a Conv
    const dwName = net.g.nodes.find((n) => n.opType === 'Conv' && n.attrInt('group', 1) === 12)!.name;
    expect(r.tg.model.graph.nodes.some((n) => n.opType === 'Conv' && n.name.startsWith(dwName))).toBe(false);
    expect(r.tg.model.graph.nodes.filter((n) => n.opType === 'Slice' && n.name.startsWith(`${dwName}/grad/`)).length).toBeGreaterThan(9);
    expect(r.tg.model.graph.nodes.filter((n) => n.opType === 'MatMul' && n.name.startsWith(`${dwName}/grad/`)).length).toBe(2);
  });

  it('1x1 Convs on a 4x4 and a 1x1 plane (with bias) as Gemms over the batch: forward, input and weight gradients', async () => {
    const net = new Net(['N', 3, 4, 4]);
    const a = net.node('Conv', [net.x, net.param('a', [5, 3, 1, 1], 0.4), net.param('a.b', [5], 0.1)]);
    const pre = net.node('Relu', [net.node('Conv', [a, net.param('b', [6, 5, 1, 1], 0.4)])]);
    const gap = net.node('GlobalAveragePool', [pre]);
    const c = net.node('Conv', [gap, net.param('c', [4, 6, 1, 1], 0.4), net.param('c.b', [4], 0.1)]);
    const r = await gradCheck(head(net, c, 4, 3), [3, 3, 4, 4], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['a', 'a.b', 'b', 'c', 'c.b']));
    expect(r.tg.model.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'ConvTranspose').length).toBe(0);
  });

  it('depthwise weight gradients on 16x16 planes by bands of output rows: stride 1, stride 2 with asymmetric pads, a dilated 2x3 kernel', async () => {
    const net = new Net(['N', 2, 16, 16]);
    const pre = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
    // outputs: 16x16; floor((16+1+0-3)/2)+1 = 8 x floor((16+0+1-3)/2)+1 = 8; (16+2+2-3)+1 = 18 rows, (16+1+1-5)+1 = 14 columns
    const d1 = net.node('Conv', [pre, net.param('d1', [2, 1, 3, 3], 0.4)], { group: A.int(2), pads: A.ints([1, 1, 1, 1]) });
    const d2 = net.node('Conv', [pre, net.param('d2', [2, 1, 3, 3], 0.4), net.param('d2.b', [2], 0.1)], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]) });
    const d3 = net.node('Conv', [pre, net.param('d3', [2, 1, 2, 3], 0.4)], { group: A.int(2), pads: A.ints([2, 1, 2, 1]), dilations: A.ints([2, 2]) });
    const pooled = [d1, d2, d3].map((d) => net.node('Flatten', [net.node('GlobalAveragePool', [net.node('Mul', [d, d])])], { axis: A.int(1) }));
    const cat = net.node('Concat', pooled, { axis: A.int(1) });
    const r = await gradCheck(net.output(net.node('Gemm', [cat, net.param('hw', [3, 6], 0.3)], { transB: A.int(1) })), [2, 2, 16, 16], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['a', 'd1', 'd2', 'd2.b', 'd3']));
    // each weight gradient Gathers its input rows by bands (axis 2) for one batched MatMul and the tap table
    for (const d of [d1, d2, d3]) {
      const grad = r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${d.producer!.name}/grad/dW/`));
      expect(grad.filter((n) => n.opType === 'Gather' && n.attrInt('axis', 0) === 2).length, d.producer!.name).toBe(1);
      expect(grad.filter((n) => n.opType === 'MatMul').length).toBe(2);
    }
  });

  it('depthwise Conv on a 17x17 plane: onnxruntime Conv forward and input gradient, weight gradient as one batched MatMul over (n, c)', async () => {
    const net = new Net(['N', 2, 17, 17]);
    const pre = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
    const dw = net.node('Conv', [pre, net.param('dw', [2, 1, 3, 3], 0.4), net.param('db', [2], 0.1)], { group: A.int(2), pads: A.ints([1, 1, 1, 1]) });
    const sq = net.node('Mul', [dw, dw]); // so the pooled loss depends on every tap
    const r = await gradCheck(head(net, net.node('GlobalAveragePool', [sq]), 2, 3), [2, 2, 17, 17], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(r.tg.model.graph.nodes.filter((n) => n.opType === 'Conv').length).toBe(3); // forward, dX, im2col (planes over 256 positions)
  });
});

describe('gradcheck: strided input gradients by phase decomposition (convRules.inputGrad = phase)', () => {
  const phase = { convRules: { inputGrad: 'phase' as const } };
  const dxOps = (r: { tg: { model: Model } }, v: Value): string[] =>
    r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${v.producer!.name}/grad/dX/`)).map((n) => n.opType);

  it('phaseAxis: every input position gets exactly the taps of the strided correlation (n, k, s, pads, output sizes swept)', () => {
    for (let s = 2; s <= 3; s++) {
      for (let k = s; k <= 5; k++) {
        for (let n = 1; n <= 9; n++) {
          for (let pb = 0; pb < k; pb++) {
            for (let pe = 0; pe < k; pe++) {
              const no = Math.floor((n + pb + pe - k) / s) + 1;
              if (no < 1) continue;
              const ax = phaseAxis(n, no, k, s, pb, 1);
              if (!ax) continue;
              // brute force: input x receives dY[o] · W[j] where s·o + j - pb = x
              for (let x = 0; x < n; x++) {
                const want = [];
                for (let o = 0; o < no; o++) for (let j = 0; j < k; j++) if (s * o + j - pb === x) want.push(`${o}:${j}`);
                const [q, a] = [Math.floor(x / s), x % s];
                const got = [];
                for (let u = 0; u < ax.kc; u++) {
                  const o = q - ax.begin + u;
                  if (ax.tap[a]![u]! >= 0 && o >= 0 && o < no) got.push(`${o}:${ax.tap[a]![u]}`);
                }
                expect(got.sort(), `n ${n} k ${k} s ${s} pads ${pb},${pe} x ${x}`).toEqual(want.sort());
              }
              expect(no + ax.begin + ax.end - ax.kc + 1).toBe(Math.ceil(n / s)); // the phase Conv's output: ceil(n / s) positions
            }
          }
        }
      }
    }
    expect(phaseAxis(8, 4, 1, 2, 0, 1)).toBeNull(); // a strided 1x1 Conv: odd phases receive nothing
    expect(phaseAxis(8, 3, 3, 2, 1, 2)).toBeNull(); // dilated
  });

  it('group 1: 3x3 stride 2 pads 1 on even (6x6) and odd (7x7) planes, asymmetric pads with a 2x3 kernel, stride 3; a strided 1x1 keeps ConvTranspose', async () => {
    for (const [hw, kernel, strides, pads] of [
      [[6, 6], [3, 3], [2, 2], [1, 1, 1, 1]],
      [[7, 7], [3, 3], [2, 2], [1, 1, 1, 1]],
      [[5, 6], [2, 3], [2, 2], [1, 0, 0, 1]],
      [[7, 8], [3, 3], [3, 3], [1, 1, 1, 0]],
    ] as const) {
      const net = new Net(['N', 2, ...hw]);
      const pre = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
      const y = net.node('Conv', [pre, net.param('w', [3, 2, ...kernel], 0.4), net.param('b', [3], 0.1)], { strides: A.ints([...strides]), pads: A.ints([...pads]) });
      const p = net.node('Conv', [pre, net.param('p', [3, 2, 1, 1], 0.4)], { strides: A.ints([...strides]) });
      // the 1x1 projection has the same output size as the strided Conv in every case
      const gap = net.node('GlobalAveragePool', [net.node('Mul', [net.node('Add', [y, p]), y])]);
      const r = await gradCheck(head(net, gap, 3, 3), [3, 2, ...hw], 3, phase);
      for (const [name, err] of Object.entries(r.errors)) expect(err, `${hw} ${kernel} ${name}: ${err}`).toBeLessThan(TOL);
      expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['a', 'w', 'b', 'p']));
      expect(dxOps(r, y)).toContain('DepthToSpace');
      expect(dxOps(r, y)).not.toContain('ConvTranspose');
      expect(dxOps(r, p)).toContain('ConvTranspose');
      expect(dxOps(r, y).includes('Slice')).toBe(hw[0] % strides[0] !== 0 || hw[1] % strides[1] !== 0);
    }
  });

  it('depthwise 3x3 stride 2 on 16x16 (bands by default) and 7x7 (tap table by default) planes, with a bias', async () => {
    const net = new Net(['N', 2, 16, 16]);
    const pre = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
    const d1 = net.node('Conv', [pre, net.param('d1', [2, 1, 3, 3], 0.4), net.param('d1.b', [2], 0.1)], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) });
    const small = net.node('AveragePool', [pre], { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]) }); // 7x7
    const d2 = net.node('Conv', [small, net.param('d2', [2, 1, 3, 3], 0.4)], { group: A.int(2), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) });
    const pooled = [d1, d2].map((d) => net.node('Flatten', [net.node('GlobalAveragePool', [net.node('Mul', [d, d])])], { axis: A.int(1) }));
    const r = await gradCheck(net.output(net.node('Gemm', [net.node('Concat', pooled, { axis: A.int(1) }), net.param('hw', [3, 4], 0.3)], { transB: A.int(1) })), [2, 2, 16, 16], 3, phase);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['a', 'd1', 'd1.b', 'd2']));
    for (const d of [d1, d2]) {
      expect(dxOps(r, d).filter((o) => o === 'Conv').length, d.producer!.name).toBe(4);
      expect(dxOps(r, d)).toContain('DepthToSpace');
    }
  });

  it('in the NCHWc kernels: 16 -> 16 channels 3x3 stride 2 on a 7x6 plane, batch 2; depthwise on 16 channels', async () => {
    const block = await probeNchwcBlock();
    const net = new Net(['N', 16, 7, 6]);
    const pre = net.node('Mul', [net.x, net.param('a', [16, 1, 1], 0.5, 1)]);
    const y = net.node('Conv', [pre, net.param('w', [16, 16, 3, 3], 0.3)], { strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) });
    const d = net.node('Conv', [y, net.param('dw', [16, 1, 3, 3], 0.4)], { group: A.int(16), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) });
    const gap = net.node('GlobalAveragePool', [net.node('Mul', [d, d])]);
    const r = await gradCheck(head(net, gap, 16, 3), [2, 16, 7, 6], 3, { nchwcBlock: block, ...phase });
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['a', 'w', 'dw']));
    const nchwc = (v: Value): number => r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${v.producer!.name}/grad/dX/`) && n.domain === NCHWC_DOMAIN && n.opType === 'Conv').length;
    // where this onnxruntime has the kernels: the group-1 phase Conv (64 outputs) and the 4 depthwise phase Convs
    expect(nchwc(y)).toBe(block ? 1 : 0);
    expect(nchwc(d)).toBe(block ? 4 : 0);
    expect(r.tg.model.graph.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
  });
});

describe('gradcheck: Convs in onnxruntime\'s NCHWc kernels (weights reordered in the graph)', () => {
  const bnOf = (net: Net, v: Value, c: number, name: string): Value =>
    net.node('BatchNormalization', [v, net.param(`${name}.g`, [c], 0.2, 1), net.param(`${name}.b`, [c], 0.2), net.param(`${name}.m`, [c], 0.1), net.param(`${name}.v`, [c], 0.1, 1)]);

  it('first layer on 3 channels (OIHWBo, NCHW input), 3x3 on 8 channels (OIHWBiBo, flipped-Conv input gradient), strided 3x3, depthwise 3x3 with bias, dilated depthwise with asymmetric pads', async () => {
    const block = await probeNchwcBlock();
    const net = new Net(['N', 3, 6, 6]);
    let y = net.node('Relu', [bnOf(net, net.node('Conv', [net.x, net.param('c0', [8, 3, 3, 3], 0.4)], { pads: A.ints([1, 1, 1, 1]) }), 8, 'bn0')]);
    const c1 = net.node('Conv', [y, net.param('c1', [8, 8, 3, 3], 0.3), net.param('c1.b', [8], 0.1)], { pads: A.ints([1, 1, 1, 1]) });
    y = net.node('Relu', [net.node('Add', [c1, y])]);
    y = net.node('Conv', [y, net.param('c2', [8, 8, 3, 3], 0.3)], { strides: A.ints([2, 2]), pads: A.ints([1, 0, 1, 1]) });
    y = net.node('Conv', [y, net.param('dw', [8, 1, 3, 3], 0.4), net.param('dw.b', [8], 0.1)], { group: A.int(8), pads: A.ints([1, 1, 1, 1]) });
    y = net.node('Conv', [y, net.param('dw2', [8, 1, 3, 3], 0.4)], { group: A.int(8), dilations: A.ints([2, 2]), pads: A.ints([2, 1, 2, 3]) });
    const gap = net.node('GlobalAveragePool', [y]);
    const r = await gradCheck(head(net, gap, 8, 3), [2, 3, 6, 6], 3, { nchwcBlock: block });
    if (process.env.GRADCHECK_REPORT) console.log(block, JSON.stringify(r.errors), r.tg.model.graph.nodes.filter((n) => /Conv/.test(n.opType)).map((n) => n.domain + ':' + n.opType + ' ' + n.name).join('; '));
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['c0', 'c1', 'c1.b', 'c2', 'dw', 'dw.b', 'dw2', 'bn0.g']));
    const nchwc = r.tg.model.graph.nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv');
    // where this onnxruntime has the kernels (x86-64): forward of all five, input gradients of c1, dw and dw2 (stride 1)
    expect(nchwc.length).toBe(block === 8 ? 8 : 0); // with 16-channel blocks (AVX-512) these 8-channel Convs stay plain
    if (block === 8) expect(r.tg.model.graph.nodes.filter((n) => n.opType === 'ConvTranspose').length).toBe(1); // c2 (stride 2)
  });

  it('3x3 on 16 channels: with 16-channel blocks the kernel-row weight gradient reads X channels-last from the forward kernel\'s reordered input', async () => {
    const block = await probeNchwcBlock();
    const net = new Net(['N', 2, 5, 6]);
    const pw = net.node('Relu', [bnOf(net, net.node('Conv', [net.x, net.param('pw', [16, 2, 1, 1], 0.5)]), 16, 'bn0')]);
    const c = net.node('Conv', [pw, net.param('w', [16, 16, 3, 3], 0.3), net.param('b', [16], 0.1)], { pads: A.ints([1, 0, 1, 2]) }); // 5x7
    const y = net.node('Relu', [bnOf(net, c, 16, 'bn1')]);
    const r = await gradCheck(head(net, net.node('GlobalAveragePool', [y]), 16, 3), [2, 2, 5, 6], 3, { nchwcBlock: block });
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['pw', 'w', 'bn0.g', 'bn1.g']));
    const dw = r.tg.model.graph.nodes.filter((n) => n.name.startsWith(`${c.producer!.name}/grad/dW/`)).map((n) => n.opType);
    // X to channels-last and dW [M, kh, kw, C] to [M, C, kh, kw]; only the second with the reordered input
    expect(dw.filter((o) => o === 'Transpose').length).toBe(block === 16 ? 1 : 2);
  });
});

describe('gradcheck: pooling', () => {
  it('MaxPool 2x2 stride 2 on odd sizes (last row dropped) and overlapping 3x3 stride 2 pad 1', async () => {
    const net = new Net(['N', 2, 7, 7]);
    const c = net.node('Conv', [net.x, net.param('w', [3, 2, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const p1 = net.node('MaxPool', [c], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
    const c2 = net.node('Conv', [net.x, net.param('w2', [3, 2, 1, 1])]);
    const p2 = net.node('MaxPool', [c2], { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) });
    // p1: 3x3, p2: 4x4
    const f1 = net.node('Flatten', [p1], { axis: A.int(1) });
    const f2 = net.node('Flatten', [p2], { axis: A.int(1) });
    const cat = net.node('Concat', [f1, f2], { axis: A.int(1) });
    const logits = net.node('Gemm', [cat, net.param('hw', [4, 27 + 48], 0.3)], { transB: A.int(1) });
    await check(net.output(logits), [2, 2, 7, 7], 4);
  });

  it('Relu -> MaxPool is trained as MaxPool -> Relu: same loss and gradients bit for bit, ties and all-negative windows included', async () => {
    const build = (blockSwap: boolean): Model => {
      const net = new Net(['N', 2, 6, 6]);
      const m = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.25, 1)]);
      const r = net.node('Relu', [m]);
      if (blockSwap) net.node('Identity', [r]); // a second (dead) use keeps Relu first
      const p = net.node('MaxPool', [r], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
      return head(net, p, 2 * 3 * 3, 3);
    };
    // inputs on a coarse grid: many windows with tied maxima, some entirely <= 0
    const xDims = [3, 2, 6, 6];
    const x = rand(3 * 72, 5).map((v) => Math.round(v * 2) / 2);
    const run = async (blockSwap: boolean) => {
      const model = build(blockSwap);
      const tg = buildTrainingGraph(model);
      const values: Record<string, Float32Array> = {};
      for (const p of tg.params) values[p.input] = model.graph.get(p.source)!.constValue!.toFloat32().slice();
      const order = tg.model.graph.nodes.map((n) => n.opType).filter((o) => o === 'Relu' || o === 'MaxPool');
      return { order, ...(await ortGradients(tg, x, xDims, [0, 1, 2], values)) };
    };
    const swapped = await run(false);
    const plain = await run(true);
    expect(swapped.order).toEqual(['MaxPool', 'Relu']);
    expect(plain.order).toEqual(['Relu', 'MaxPool']);
    expect(swapped.loss).toBe(plain.loss);
    for (const k of Object.keys(plain.grads)) expect(Array.from(swapped.grads[k]!), k).toEqual(Array.from(plain.grads[k]!));
    expect(Array.from(swapped.grads['a']!).some((g) => g !== 0)).toBe(true);
  });

  it('non-overlapping MaxPools (MaxUnpool backward): pads with ceil_mode on odd sizes, and dilation 2 within stride 3', async () => {
    const net = new Net(['N', 2, 7, 7]);
    const c = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
    const p1 = net.node('MaxPool', [c], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]), ceil_mode: A.int(1) });
    const p2 = net.node('MaxPool', [c], { kernel_shape: A.ints([2, 2]), strides: A.ints([3, 2]), dilations: A.ints([2, 1]) });
    // p1: H = ceil((7+1-2)/2)+1 = 4, W = 4; p2: H = floor((7-3)/3)+1 = 2, W = floor((7-2)/2)+1 = 3
    const f1 = net.node('Flatten', [p1], { axis: A.int(1) });
    const f2 = net.node('Flatten', [p2], { axis: A.int(1) });
    const cat = net.node('Concat', [f1, f2], { axis: A.int(1) });
    const r = await gradCheck(net.output(net.node('Gemm', [cat, net.param('hw', [3, 32 + 12], 0.3)], { transB: A.int(1) })), [2, 2, 7, 7], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    const ops = r.tg.model.graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'MaxUnpool').length).toBe(2);
    expect(ops).not.toContain('ScatterElements');
  });

  it('MaxPool with dilation and ceil_mode', async () => {
    const net = new Net(['N', 2, 8, 8]);
    const c = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
    const p = net.node('MaxPool', [c], { kernel_shape: A.ints([2, 3]), strides: A.ints([2, 2]), dilations: A.ints([2, 1]), ceil_mode: A.int(1) });
    // H: ceil((8-3)/2)+1 = 4, W: ceil((8-3)/2)+1 = 4
    await check(head(net, p, 2 * 4 * 4, 3), [2, 2, 8, 8], 3);
  });

  it('AveragePool without pads, with pads (count_include_pad 0 and 1) and with a trailing remainder', async () => {
    for (const cip of [0, 1]) {
      const net = new Net(['N', 2, 7, 6]);
      const c = net.node('Conv', [net.x, net.param('w', [2, 2, 1, 1], 0.5, 0.2)]);
      const p1 = net.node('AveragePool', [c], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
      const p2 = net.node('AveragePool', [c], { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]), count_include_pad: A.int(cip) });
      // p1: 3x3, p2: H = floor((7+2-3)/2)+1 = 4, W = floor((6+2-3)/2)+1 = 3
      const f1 = net.node('Flatten', [p1], { axis: A.int(1) });
      const f2 = net.node('Flatten', [p2], { axis: A.int(1) });
      const cat = net.node('Concat', [f1, f2], { axis: A.int(1) });
      const logits = net.node('Gemm', [cat, net.param('hw', [3, 18 + 24], 0.3)], { transB: A.int(1) });
      await check(net.output(logits), [2, 2, 7, 6], 3);
    }
  });
});

describe('gradcheck: BatchNormalization in training mode', () => {
  it('Conv -> BatchNorm -> Relu -> MaxPool (the fmnist-cnn block), gamma and beta trained', async () => {
    const net = new Net(['N', 2, 6, 6]);
    const c = net.node('Conv', [net.x, net.param('w', [3, 2, 3, 3]), net.param('b', [3], 0.1)], { pads: A.ints([1, 1, 1, 1]) });
    const bn = net.node('BatchNormalization', [c, net.param('gamma', [3], 0.3, 1), net.param('beta', [3], 0.2), net.param('mean', [3]), net.param('var', [3], 0.1, 1)], {
      epsilon: A.float(1e-5),
    });
    const r = net.node('Relu', [bn]);
    const p = net.node('MaxPool', [r], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
    const errs = await check(head(net, p, 3 * 3 * 3, 4), [4, 2, 6, 6], 4);
    // running statistics are not parameters
    expect(Object.keys(errs)).not.toContain('mean');
    expect(Object.keys(errs)).not.toContain('var');
  });

  it('BatchNorm statistics by shape: planes through the ones-row MatMul (4-D and 3-D, inputs off-centre, ReLU6 after), [N, C, 1, 1] as rows', async () => {
    const net = new Net(['N', 3, 5, 4]);
    const bnOf = (v: Value, c: number, name: string): Value =>
      net.node('BatchNormalization', [v, net.param(`${name}.g`, [c], 0.3, 1), net.param(`${name}.b`, [c], 0.2), net.param(`${name}.m`, [c], 0.1), net.param(`${name}.v`, [c], 0.1, 1)], {
        epsilon: A.float(1e-3),
      });
    // conv outputs centred far from 0 (bias 3): the statistics must not cancel
    const c = net.node('Conv', [net.x, net.param('w', [4, 3, 3, 3], 0.4), net.param('cb', [4], 0.5, 3)], { pads: A.ints([1, 1, 1, 1]) });
    const bn1 = bnOf(c, 4, 'bn1');
    const y = net.node('Clip', [bn1, net.scalarConst('lo', 0), net.scalarConst('hi', 0.8)]);
    const flat3 = net.node('Reshape', [y, net.ints('s3', [0, 4, -1])]); // [N, 4, 20]
    const bn2 = bnOf(net.node('Mul', [flat3, flat3]), 4, 'bn2');
    const g = net.node('GlobalAveragePool', [net.node('Reshape', [bn2, net.ints('s4', [0, 4, 5, 4])])]); // [N, 4, 1, 1]
    const c1 = net.node('Conv', [g, net.param('w1', [6, 4, 1, 1], 0.5)]);
    const bn3 = bnOf(c1, 6, 'bn3');
    const y1 = net.node('Tanh', [bn3]);
    const r = await gradCheck(head(net, y1, 6, 3), [5, 3, 5, 4], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['w', 'cb', 'bn1.g', 'bn1.b', 'bn2.g', 'bn2.b', 'w1', 'bn3.g', 'bn3.b']));
    const nodes = r.tg.model.graph.nodes;
    const under = (v: Value, op: string): number => nodes.filter((n) => n.opType === op && n.name.startsWith(`${v.producer!.name}/`)).length;
    // bn1, bn2: the statistics and Y from onnxruntime's training-mode operator (one node), a
    // ones-row MatMul per backward sum (Σ dY, Σ dY·X); bn3 on [N, 6, 1, 1]: the rows form
    expect([under(bn1, 'MatMul'), under(bn2, 'MatMul'), under(bn3, 'MatMul')]).toEqual([2, 2, 0]);
    const trainingMode = (v: Value): number =>
      nodes.filter((n) => n.opType === 'BatchNormalization' && n.name.startsWith(`${v.producer!.name}/`) && n.attrInt('training_mode', 0) === 1).length;
    expect([trainingMode(bn1), trainingMode(bn2), trainingMode(bn3)]).toEqual([1, 1, 0]);
    expect(under(bn3, 'BatchNormalization')).toBe(0);
  });

  it('inputs far off-centre (mean/std ~ 40): the sums taken from X and the batch mean (Σ dY·X - mean·Σ dY) keep their precision, 4-D and 3-D, and with spatial dims unknown when the graph is built (the generic plan)', async () => {
    for (const rank of [4, 3, 0]) {
      // rank 0: 4-D with symbolic H and W (ReduceSum sums instead of the ones-row MatMul)
      const net = new Net(rank === 0 ? ['N', 3, 'H', 'W'] : ['N', 3, 5, 4]);
      // conv outputs plus 40: near 40 with a spread near 1 (the shift's gradient through the BatchNorm is exactly 0, so its relative error is not checked)
      const c = net.node('Add', [net.node('Conv', [net.x, net.param('w', [4, 3, 3, 3], 0.15)], { pads: A.ints([1, 1, 1, 1]) }), net.scalarConst('off', 40)]);
      const v = rank === 3 ? net.node('Reshape', [c, net.ints('s3', [0, 4, -1])]) : c;
      const bn = net.node('BatchNormalization', [v, net.param('g', [4], 0.3, 1), net.param('b', [4], 0.2), net.param('m', [4], 0.1), net.param('v', [4], 0.1, 1)], { epsilon: A.float(1e-5) });
      const r = await gradCheck(head(net, net.node('Tanh', [bn]), 4 * 20, 3), [6, 3, 5, 4], 3);
      if (rank === 0) expect(r.tg.model.graph.nodes.some((n) => n.opType === 'BatchNormalization' && n.attrInt('training_mode', 0) === 1)).toBe(true);
      if (process.env.GRADCHECK_REPORT) console.log(rank, JSON.stringify(r.errors));
      for (const [name, err] of Object.entries(r.errors)) if (name !== 'off') expect(err, `rank ${rank}, ${name}: ${err}`).toBeLessThan(TOL);
      expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['w', 'g', 'b', 'head.w']));
    }
  });

  it('frozen statistics (freezeBatchNormStats): the running mean and variance as constants on planes off-centre, [N, C, 1, 1], 3-D and [N, C]; gamma and beta trained, no batch statistics, no phase layout', async () => {
    const net = new Net(['N', 3, 5, 4]);
    const bnOf = (v: Value, c: number, name: string, meanOffset = 0): Value =>
      net.node('BatchNormalization', [v, net.param(`${name}.g`, [c], 0.3, 1), net.param(`${name}.b`, [c], 0.2), net.param(`${name}.m`, [c], 0.2, meanOffset), net.param(`${name}.v`, [c], 0.3, 1)], {
        epsilon: A.float(1e-3),
      });
    // conv outputs centred near 3 and running means near 3: Σ dY·X - mu·Σ dY must not lose dgamma
    const c = net.node('Conv', [net.x, net.param('w', [4, 3, 3, 3], 0.4), net.param('cb', [4], 0.5, 3)], { pads: A.ints([1, 1, 1, 1]) });
    const bn1 = bnOf(c, 4, 'bn1', 3);
    const y = net.node('Clip', [bn1, net.scalarConst('lo', 0), net.scalarConst('hi', 0.8)]);
    const pool = net.node('MaxPool', [net.node('Relu', [y])], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) }); // [N, 4, 2, 2]
    const flat3 = net.node('Reshape', [pool, net.ints('s3', [0, 4, -1])]); // [N, 4, 4]
    const bn2 = bnOf(net.node('Mul', [flat3, flat3]), 4, 'bn2');
    const g = net.node('GlobalAveragePool', [net.node('Reshape', [bn2, net.ints('s4', [0, 4, 2, 2])])]); // [N, 4, 1, 1]
    const c1 = net.node('Conv', [g, net.param('w1', [6, 4, 1, 1], 0.5)]);
    const bn3 = bnOf(c1, 6, 'bn3');
    const f = net.node('Flatten', [net.node('Tanh', [bn3])], { axis: A.int(1) });
    const h = net.node('Gemm', [f, net.param('hw', [5, 6], 0.4)], { transB: A.int(1) });
    const bn4 = bnOf(h, 5, 'bn4');
    const r = await gradCheck(net.output(net.node('Gemm', [net.node('Tanh', [bn4]), net.param('ow', [5, 3], 0.5)])), [5, 3, 5, 4], 3, { freezeBatchNormStats: true });
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(Math.abs(r.loss - r.lossRef) / Math.abs(r.lossRef)).toBeLessThan(1e-5);
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['w', 'cb', 'bn1.g', 'bn1.b', 'bn2.g', 'bn2.b', 'w1', 'bn3.g', 'bn3.b', 'hw', 'bn4.g', 'bn4.b']));
    expect(Object.keys(r.errors).filter((k) => k.endsWith('.m') || k.endsWith('.v'))).toEqual([]);
    expect(r.tg.batchNorms).toEqual([]);
    const nodes = r.tg.model.graph.nodes;
    // the Conv -> BatchNorm -> Relu -> MaxPool chain is not in the phase layout: the pool keeps its indices
    expect(nodes.some((n) => n.opType === 'MaxUnpool' || (n.opType === 'MaxPool' && n.outputs.length === 2))).toBe(true);
    // training mode's statistics (its Sqrt of the batch variance, the two-pass centring) are gone: one Sqrt per BatchNorm, of the running variance
    expect(nodes.filter((n) => n.opType === 'Sqrt').length).toBe(4);
    // and the same model in training mode gets other losses and gradients (the option is honoured)
    const t = await gradCheck(net.model, [5, 3, 5, 4], 3);
    expect(Math.abs(t.loss - r.loss)).toBeGreaterThan(1e-3);
  });

  it('BatchNorm on [N, C] features after a Gemm, at opset 13 and at opset 18 (ReduceMean axes as an input)', async () => {
    for (const opset of [13, 18]) {
      const net = new Net(['N', 6], opset);
      const g = net.node('Gemm', [net.x, net.param('w', [6, 4])]);
      const bn = net.node('BatchNormalization', [g, net.param('gamma', [4], 0.3, 1), net.param('beta', [4], 0.2), net.param('mean', [4]), net.param('var', [4], 0.1, 1)]);
      const t = net.node('Tanh', [bn]);
      await check(net.output(net.node('Gemm', [t, net.param('hw', [4, 3])])), [5, 6], 3);
    }
  });
});

describe('gradcheck: Gemm and MatMul', () => {
  it('Gemm with transA, alpha, beta and a broadcast C', async () => {
    const net = new Net(['N', 5]);
    const h = net.node('Gemm', [net.x, net.param('w1', [5, 4])], { alpha: A.float(0.7) });
    const t = net.node('Transpose', [h], { perm: A.ints([1, 0]) });
    const logits = net.node('Gemm', [t, net.param('w2', [3, 4]), net.param('c', [1, 3], 0.3)], {
      transA: A.int(1),
      transB: A.int(1),
      alpha: A.float(1.3),
      beta: A.float(0.5),
    });
    await check(net.output(logits), [4, 5], 3);
  });

  it('Gemm with a scalar C and transA only', async () => {
    const net = new Net(['N', 5]);
    const t = net.node('Transpose', [net.node('Mul', [net.x, net.param('a', [5], 0.5, 1)])], { perm: A.ints([1, 0]) });
    const logits = net.node('Gemm', [t, net.param('w', [5, 3]), net.param('c', [], 0.3)], { transA: A.int(1) });
    await check(net.output(logits), [4, 5], 3);
  });

  it('MatMul 2-D, batched 3-D with a broadcast 2-D weight, and a 1-D vector operand', async () => {
    const net = new Net(['N', 3, 4]);
    const a = net.node('MatMul', [net.x, net.param('w', [4, 5])]); // [N,3,5]
    const b = net.node('MatMul', [net.param('l', [2, 3], 0.5), a]); // [N,2,5] (left operand broadcast)
    const v = net.node('MatMul', [b, net.param('v', [5])]); // [N,2]
    const logits = net.node('MatMul', [v, net.param('w2', [2, 3])]); // [N,3]
    await check(net.output(logits), [3, 3, 4], 3);
  });
});

describe('gradcheck: elementwise and activations', () => {
  it('Add, Sub, Mul and Div with broadcast parameters', async () => {
    const net = new Net(['N', 3, 4]);
    const a = net.node('Add', [net.x, net.param('bias', [3, 1], 0.5)]);
    const s = net.node('Sub', [net.param('off', [4], 0.5), a]);
    const m = net.node('Mul', [s, net.param('scale', [1, 3, 4], 0.5, 1)]);
    const d = net.node('Div', [m, net.param('den', [], 0.2, 1.5)]);
    const d2 = net.node('Div', [net.param('num', [3, 4], 0.3, 1), net.node('Add', [net.node('Mul', [d, d]), net.scalarConst('one', 1)])]);
    await check(head(net, d2, 12, 3), [2, 3, 4], 3);
  });

  it('Relu, LeakyRelu, Clip, Sigmoid, Tanh, Neg and Identity', async () => {
    const net = new Net(['N', 8]);
    let v = net.node('Gemm', [net.x, net.param('w', [8, 8], 0.8)]);
    v = net.node('LeakyRelu', [v], { alpha: A.float(0.2) });
    v = net.node('Gemm', [v, net.param('w2', [8, 8], 0.8)]);
    v = net.node('Clip', [v, net.scalarConst('lo', -0.4), net.scalarConst('hi', 0.5)]);
    v = net.node('Sigmoid', [net.node('Gemm', [v, net.param('w3', [8, 8], 2)])]);
    v = net.node('Tanh', [net.node('Gemm', [v, net.param('w4', [8, 8], 2)])]);
    v = net.node('Relu', [net.node('Neg', [net.node('Identity', [v])])]);
    await check(net.output(net.node('Gemm', [v, net.param('w5', [8, 3])])), [6, 8], 3, { inputScale: 2 });
  });
});

describe('gradcheck: the operators of MobileNetV3, EfficientNet, ShuffleNet, MNASNet and ConvNeXt exports', () => {
  it('HardSigmoid (alpha, beta), HardSwish, Erf (GELU as PyTorch exports it), Exp, Log, Sqrt, Softplus and Pow', async () => {
    const net = new Net(['N', 8]);
    let v = net.node('Gemm', [net.x, net.param('w', [8, 8], 0.8)]);
    // MobileNetV3: x · HardSigmoid(x) (opset 13 exports) and HardSwish (opset 14+), inputs across ±3
    v = net.node('Mul', [v, net.node('HardSigmoid', [v], { alpha: A.float(1 / 6), beta: A.float(0.5) })]);
    v = net.node('HardSwish', [net.node('Gemm', [v, net.param('w2', [8, 8], 2.5)])]);
    v = net.node('HardSigmoid', [net.node('Gemm', [v, net.param('w2b', [8, 8], 1)])], { alpha: A.float(0.3), beta: A.float(0.4) });
    // GELU: x · (1 + erf(x / sqrt 2)) / 2
    const h = net.node('Gemm', [v, net.param('w3', [8, 8], 1.2)]);
    v = net.node('Mul', [h, net.node('Add', [net.node('Erf', [net.node('Div', [h, net.scalarConst('r2', Math.SQRT2)])]), net.scalarConst('one', 1)])]);
    // positive inputs for Log, Sqrt and the Pow base
    const p = net.node('Softplus', [net.node('Gemm', [v, net.param('w4', [8, 8], 1)])]);
    v = net.node('Add', [net.node('Log', [net.node('Add', [p, net.scalarConst('eps', 0.5)])]), net.node('Sqrt', [net.node('Add', [p, net.scalarConst('eps2', 0.3)])])]);
    v = net.node('Pow', [net.node('Add', [p, net.scalarConst('eps3', 0.2)]), net.param('e', [8], 0.5, 1.5)]);
    v = net.node('Exp', [net.node('Gemm', [v, net.param('w5', [8, 8], 0.3)])]);
    await check(net.output(net.node('Gemm', [v, net.param('w6', [8, 3])])), [6, 8], 3, { inputScale: 2 });
  });

  it('ReduceMean and ReduceSum (axes as attribute and as input, keepdims 0 and 1, all axes), a squeeze-excitation block', async () => {
    const net = new Net(['N', 4, 5, 5]);
    const c = net.node('Conv', [net.x, net.param('w', [6, 4, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    // squeeze-excitation as EfficientNet and MobileNetV3 export it: pool, 1×1 Convs, a gate, Mul
    const pooled = net.node('ReduceMean', [c], { axes: A.ints([2, 3]), keepdims: A.int(1) });
    const gate = net.node('Sigmoid', [net.node('Conv', [net.node('Relu', [net.node('Conv', [pooled, net.param('se1', [3, 6, 1, 1], 0.8)])]), net.param('se2', [6, 3, 1, 1], 0.8)])]);
    const se = net.node('Mul', [c, gate]);
    // the head of ShuffleNet and MNASNet: x.mean([2, 3]), keepdims 0
    const head1 = net.node('ReduceMean', [se], { axes: A.ints([-1, 2]), keepdims: A.int(0) });
    const sum = net.node('ReduceSum', [se, net.ints('ax', [1])], { keepdims: A.int(0) });
    const all = net.node('ReduceSum', [net.node('Mul', [sum, net.scalarConst('k', 0.01)])], { keepdims: A.int(1) });
    const feats = net.node('Add', [net.node('Gemm', [head1, net.param('hw', [6, 3])]), net.node('Gemm', [net.node('Flatten', [sum], { axis: A.int(1) }), net.param('hw2', [25, 3], 0.2)])]);
    await check(net.output(net.node('Add', [feats, net.node('Reshape', [all, net.ints('s1', [1, 1])])])), [2, 4, 5, 5], 3);
  });

  it('Slice (a channel split as ShuffleNet exports it, negative and clamped bounds), Split with an unused output, Pad with negative pads', async () => {
    const net = new Net(['N', 8, 4, 4]);
    const c = net.node('Conv', [net.x, net.param('w', [8, 8, 1, 1])]);
    const left = net.node('Slice', [c, net.ints('b0', [0]), net.ints('e0', [4]), net.ints('a0', [1])]);
    // ends INT64_MAX (PyTorch's "to the end") and 100 (clamped to the dim)
    const ends = net.g.addInitializer(Tensor.fromInt64('e1', [2], [2n ** 63n - 1n, 100n]));
    const right = net.node('Slice', [c, net.ints('b1', [4, -3]), ends, net.ints('a1', [1, -1])]); // [N, 4, 4, 3]
    const rp = net.node('Pad', [right, net.ints('p', [0, 0, 1, 0, 0, 0, -1, 1])]); // [N, 4, 4, 4]
    const mixed = net.node('Conv', [net.node('Add', [left, rp]), net.param('w2', [6, 4, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const split = net.node('Split', [mixed, net.ints('sz', [2, 3, 1])], { axis: A.int(1) }, 3);
    const parts = split.producer!.outputs;
    // the third output does not reach the loss; the second is cropped by a Pad with negative pads
    const cropped = net.node('Pad', [parts[1]!, net.ints('p2', [0, -1, 0, 0, 0, 0, 0, 0])]); // [N, 2, 4, 4]
    const joined = net.node('Add', [parts[0]!, cropped]);
    await check(head(net, joined, 32, 3), [2, 8, 4, 4], 3);
  });

  it('PRelu (per-channel slope trained), Elu, Max with a tie and Min of three, Where, and a strided Slice (x[..., ::2])', async () => {
    const net = new Net(['N', 4, 4, 6]);
    const c = net.node('Conv', [net.x, net.param('w', [4, 4, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const p = net.node('PRelu', [c, net.param('slope', [4, 1, 1], 0.2, 0.25)]);
    const e = net.node('Elu', [net.node('Conv', [p, net.param('w2', [4, 4, 1, 1], 0.8)])], { alpha: A.float(0.7) });
    // max(y, -y/2) as PyTorch exports torch.maximum; Max(e, e) ties everywhere (each gets half)
    const m = net.node('Max', [e, net.node('Mul', [e, net.scalarConst('mh', -0.5)]), net.node('Max', [e, e])]);
    const lo = net.node('Min', [m, net.node('Mul', [c, net.scalarConst('k', 0.9)]), net.param('cap', [6], 0.3, 0.5)]);
    const w = net.node('Where', [net.node('Greater', [c, net.scalarConst('z', 0)]), lo, net.node('Mul', [c, net.param('neg', [4, 1, 1], 0.3)])]);
    const strided = net.node('Slice', [w, net.ints('s0', [1]), net.ints('s1', [6]), net.ints('s2', [3]), net.ints('s3', [2])]); // [N, 4, 4, 3]
    const rows = net.node('Slice', [strided, net.ints('t0', [0]), net.ints('t1', [4]), net.ints('t2', [2]), net.ints('t3', [3])]); // [N, 4, 2, 3]
    await check(head(net, rows, 24, 3), [2, 4, 4, 6], 3);
  });

  it('Gather of one token (ViT\'s class token), of a repeated index list and of a scalar index on the batch-less axis; Expand of a trained token to the batch', async () => {
    const net = new Net(['N', 3, 4]);
    const h = net.node('MatMul', [net.x, net.param('w', [4, 4], 0.8)]); // [N, 3, 4]
    // a class token [1, 1, 4] expanded to [N, 1, 4] and put in front (ViT)
    const n = net.node('Slice', [net.node('Shape', [net.x]), net.ints('a0', [0]), net.ints('a1', [1])]);
    const shape = net.node('Concat', [n, net.ints('rest', [1, 4])], { axis: A.int(0) });
    const token = net.node('Expand', [net.param('cls', [1, 1, 4], 0.5), shape]);
    const seq = net.node('Concat', [token, h], { axis: A.int(1) }); // [N, 4, 4]
    const first = net.node('Gather', [seq, net.g.addInitializer(Tensor.fromInt64('i0', [], [0]))], { axis: A.int(1) }); // [N, 4]
    const picked = net.node('Gather', [seq, net.ints('list', [3, 1, 3, -1])], { axis: A.int(2) }); // [N, 4, 4]: index 3 three times
    const last = net.node('Gather', [seq, net.g.addInitializer(Tensor.fromInt64('i1', [], [-1]))], { axis: A.int(1) }); // [N, 4]
    const feats = net.node('Concat', [first, net.node('Flatten', [picked], { axis: A.int(1) }), last], { axis: A.int(1) }); // [N, 24]
    await check(net.output(net.node('Gemm', [feats, net.param('hw', [24, 3])])), [3, 3, 4], 3);
  });

  it('Pad in reflect and edge modes (Conv padding_mode reflect / replicate), on two axes, before a Conv', async () => {
    const net = new Net(['N', 2, 5, 6]);
    const c = net.node('Conv', [net.x, net.param('w', [3, 2, 1, 1], 0.8)]);
    const r = net.node('Pad', [c, net.ints('pr', [0, 0, 2, 1, 0, 0, 1, 3])], { mode: A.str('reflect') }); // [N, 3, 8, 10]
    const e = net.node('Pad', [c, net.ints('pe', [0, 0, 1, 2, 0, 0, 2, 2])], { mode: A.str('edge') }); // [N, 3, 8, 10]
    const sum = net.node('Add', [r, net.node('Mul', [e, net.param('m', [3, 1, 1], 0.5, 1)])]);
    const out = net.node('Conv', [sum, net.param('w2', [2, 3, 3, 3])], { strides: A.ints([2, 2]) }); // [N, 2, 3, 4]
    await check(head(net, out, 24, 3), [2, 2, 5, 6], 3);
  });

  it('GlobalMaxPool, ReduceMax and ReduceMin (Keras GlobalMaxPooling, TF reductions), Sum and Mean of broadcast inputs, Abs, Reciprocal; a Slice from a row to the end of an axis known only at run time', async () => {
    const net = new Net(['N', 3, 4, 4]);
    const c = net.node('Conv', [net.x, net.param('w', [4, 3, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const gmp = net.node('Flatten', [net.node('GlobalMaxPool', [c])], { axis: A.int(1) }); // [N, 4]
    const rmax = net.node('ReduceMax', [c], { axes: A.ints([1, 3]), keepdims: A.int(0) }); // [N, 4]
    const rmin = net.node('ReduceMin', [c], { axes: A.ints([2, -1]), keepdims: A.int(0) }); // [N, 4]
    const s = net.node('Sum', [gmp, rmax, net.param('b', [4], 0.3)]);
    const m = net.node('Mean', [s, rmin, net.node('Abs', [rmin])]);
    const r = net.node('Reciprocal', [net.node('Add', [net.node('Abs', [m]), net.scalarConst('one', 1)])]);
    await check(net.output(net.node('Gemm', [r, net.param('hw', [4, 3])])), [3, 3, 4, 4], 3);

    // x[:, :, 1:] on a plane whose height is known only at run time: the first row gets no gradient
    const net2 = new Net(['N', 3, 'H', 'W']);
    const c2 = net2.node('Conv', [net2.x, net2.param('w', [4, 3, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const tail = net2.node('Slice', [c2, net2.ints('b0', [1]), net2.g.addInitializer(Tensor.fromInt64('bend', [1], [2n ** 63n - 1n])), net2.ints('bax', [2])]);
    const pooled = net2.node('Flatten', [net2.node('GlobalMaxPool', [tail])], { axis: A.int(1) });
    await check(net2.output(net2.node('Gemm', [pooled, net2.param('hw', [4, 3])])), [2, 3, 5, 4], 3);
  });

  it('ties of GlobalMaxPool, ReduceMax and Max share the gradient equally (exact, where finite differences are undefined)', async () => {
    const net = new Net(['N', 2]);
    // a plane of four equal entries: each gets a quarter of the pooled gradient; a row of two equal maxima: half each
    const plane = net.g.addInitializer(Tensor.fromFloat32('plane', [1, 1, 2, 2], new Float32Array(4).fill(0.5)));
    const row = net.g.addInitializer(Tensor.fromFloat32('row', [1, 2], Float32Array.of(0.25, 0.25)));
    const pooled = net.node('Reshape', [net.node('GlobalMaxPool', [plane]), net.ints('s1', [1, 1])]);
    const rmax = net.node('ReduceMax', [row], { axes: A.ints([1]), keepdims: A.int(1) });
    const both = net.node('Max', [net.node('Mul', [net.x, net.scalarConst('z', 0)]), net.node('Add', [pooled, rmax])]); // [N, 2]: ties with 0 nowhere
    const model = net.output(net.node('Gemm', [both, net.param('hw', [2, 3])]));
    const tg = buildTrainingGraph(model);
    const values: Record<string, Float32Array> = {};
    for (const p of tg.params) values[p.input] = model.graph.get(p.source)!.constValue!.toFloat32().slice();
    const r = await ortGradients(tg, Float32Array.of(1, -1, 2, 0), [2, 2], [0, 1], values);
    const gPlane = r.grads['plane']!;
    const gRow = r.grads['row']!;
    // dL/d(pooled) = dL/d(rmax) = Σ over the batch and the two columns of dL/d(both) = g
    const g = gRow[0]! * 2;
    expect(Math.abs(g)).toBeGreaterThan(1e-4);
    for (const v of gPlane) expect(v).toBeCloseTo(g / 4, 6);
    expect(gRow[1]).toBeCloseTo(g / 2, 6);
  });

  it('LayerNormalization over the last axis (ConvNeXt: channels-last between Transposes) and over the last two, with Scale and B trained', async () => {
    const net = new Net(['N', 4, 3, 3], 17);
    const c = net.node('Conv', [net.x, net.param('w', [8, 4, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const t = net.node('Transpose', [c], { perm: A.ints([0, 2, 3, 1]) }); // [N, 3, 3, 8]
    const ln = net.node('LayerNormalization', [t, net.param('g', [8], 0.3, 1), net.param('b', [8], 0.2)], { axis: A.int(-1), epsilon: A.float(1e-6) });
    const back = net.node('Transpose', [ln], { perm: A.ints([0, 3, 1, 2]) });
    const ln2 = net.node('LayerNormalization', [back, net.param('g2', [3, 3], 0.3, 1)], { axis: A.int(2) });
    await check(head(net, ln2, 72, 3), [3, 4, 3, 3], 3);
  });
});

describe('gradcheck: data movement, dropout, softmax, shared values, MSE', () => {
  it('Reshape, Transpose, Concat, Squeeze/Unsqueeze', async () => {
    const net = new Net(['N', 2, 3]);
    const a = net.node('Mul', [net.x, net.param('a', [2, 3], 0.5, 1)]);
    const t = net.node('Transpose', [a], { perm: A.ints([0, 2, 1]) }); // [N,3,2]
    const u = net.node('Unsqueeze', [t, net.ints('ax', [1])]); // [N,1,3,2]
    const sq = net.node('Squeeze', [u, net.ints('ax2', [1])]); // [N,3,2]
    const r = net.node('Reshape', [sq, net.ints('shape', [0, -1])]); // [N,6]
    const other = net.node('Gemm', [r, net.param('w', [6, 4])]); // [N,4]
    const cat = net.node('Concat', [r, other, r], { axis: A.int(-1) }); // [N,16]
    await check(net.output(net.node('Gemm', [cat, net.param('hw', [16, 3])])), [3, 2, 3], 3);
  });

  it('Dropout (fed mask), Softmax and LogSoftmax inside the network', async () => {
    const net = new Net(['N', 6]);
    const h = net.node('Gemm', [net.x, net.param('w', [6, 5])]);
    const d = net.node('Dropout', [h, net.scalarConst('ratio', 0.5)]);
    const s = net.node('Softmax', [d], { axis: A.int(1) });
    const h2 = net.node('Gemm', [s, net.param('w2', [5, 4], 2)]);
    const ls = net.node('LogSoftmax', [h2], { axis: A.int(-1) });
    const logits = net.node('Gemm', [ls, net.param('w3', [4, 3])]);
    const mask = new Float32Array(4 * 5).map((_, i) => (rand(20, 99)[i]! > 0 ? 2 : 0));
    const r = await gradCheck(net.output(logits), [4, 6], 3, { masks: { Dropout_1: mask } });
    expect(r.tg.dropouts.map((x) => x.node)).toEqual(['Dropout_1']);
    for (const [name, err] of Object.entries(r.errors)) expect(err, name).toBeLessThan(TOL);
  });

  it('a value used several times (residual add) sums its gradients', async () => {
    const net = new Net(['N', 2, 5, 5]);
    const x1 = net.node('Conv', [net.x, net.param('w0', [3, 2, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const y = net.node('Conv', [x1, net.param('w1', [3, 3, 3, 3])], { pads: A.ints([1, 1, 1, 1]) });
    const sum = net.node('Add', [x1, net.node('Relu', [y])]);
    const prod = net.node('Mul', [sum, x1]);
    await check(head(net, prod, 75, 3), [2, 2, 5, 5], 3);
  });

  it('MSE loss on one-hot labels', async () => {
    const net = new Net(['N', 5]);
    const h = net.node('Tanh', [net.node('Gemm', [net.x, net.param('w', [5, 4]), net.param('b', [4], 0.1)])]);
    await check(net.output(net.node('Gemm', [h, net.param('w2', [4, 3])])), [4, 5], 3, { loss: 'mse' });
  });

  it('a final Softmax on the output is skipped (the loss sees logits)', async () => {
    const net = new Net(['N', 5]);
    const logits = net.node('Gemm', [net.x, net.param('w', [5, 3])]);
    const model = net.output(net.node('Softmax', [logits], { axis: A.int(1) }));
    const r = await gradCheck(model, [4, 5], 3);
    expect(r.tg.forwardLogits).toBe(logits.name);
    expect(r.worst).toBeLessThan(TOL);
  });
});

describe('gradcheck: end to end through binarizers (straight-through estimator)', () => {
  it('latent-weight and float gradients of a quantized W1.4A1.4 network equal the analytic STE gradient', async () => {
    // x[N,1,28,28] -> Conv s3 -> BN -> Relu -> Conv s2 -> BN -> Relu -> Conv s2 p1 -> Relu -> Flatten -> Gemm
    const net = new Net(['N', 1, 28, 28]);
    const bn = (v: Value, c: number, name: string): Value =>
      net.node('BatchNormalization', [v, net.param(`${name}.g`, [c], 0.2, 1), net.param(`${name}.b`, [c], 0.2), net.param(`${name}.m`, [c], 0.1), net.param(`${name}.v`, [c], 0.1, 1)]);
    let v = net.node('Conv', [net.x, net.param('c1.w', [3, 1, 3, 3], 0.6), net.param('c1.b', [3], 0.1)], { strides: A.ints([3, 3]) }); // 9x9
    v = net.node('Relu', [bn(v, 3, 'bn1')]);
    v = net.node('Conv', [v, net.param('c2.w', [4, 3, 3, 3], 0.4)], { strides: A.ints([2, 2]) }); // 4x4
    v = net.node('Relu', [bn(v, 4, 'bn2')]);
    v = net.node('Conv', [v, net.param('c3.w', [4, 4, 3, 3], 0.4)], { strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]) }); // 2x2
    v = net.node('Relu', [v]);
    const float = head(net, v, 16, 10);
    const q = decodeModel(encodeModel(float));
    await quantize(q, { avgBits: 1.4, actBits: 1.4, calibData: 'fmnist-mini:train', calibLimit: 64, normalize: 'fmnist' });
    expect(q.graph.nodes.filter(isActivationCall).length).toBe(2);

    const tg = buildTrainingGraph(q);
    const params = collectParams(q, tg, float);
    expect(params.filter((p) => p.kind === 'binarized').map((p) => p.name)).toEqual(['c1.w', 'c2.w', 'c3.w', 'head.w']);
    // latent weights beyond the clip, so that the weight STE's mask matters
    const c2 = params.find((p) => p.name === 'c2.w')!;
    c2.value[0] = 1.5;
    c2.value[7] = -2;
    const bns = collectBatchNorms(q, tg);
    const ds = mini('train', 6);
    const labels = ds.labels!;
    const runner = await StepRunner.create(tg, params, bns, [1, 28, 28], 1);
    const out = await runner.run(ds.images, labels, ds.count, new TrainRng(0));
    await runner.release();

    // float64 reference: Ŵ fed in place of the BinarizedWeight calls, binarizers linearized
    const feeds: Record<string, T64> = { x: t64([ds.count, 1, 28, 28], ds.images) };
    for (const p of params) feeds[p.kind === 'binarized' ? p.input : p.name] = t64(p.dims, p.kind === 'binarized' ? p.binarizer!.binarize(p.value) : p.value);
    const x0 = new Map<string, Float64Array>();
    const logitsOf = (m: Map<string, T64>): T64 => m.get(tg.forwardLogits)!;
    const exact = loss64(logitsOf(evaluate64(q, { feeds, record: x0 })), labels);
    expect(Math.abs(out.loss - exact) / exact).toBeLessThan(1e-5);
    const lossAt = (): number => loss64(logitsOf(evaluate64(q, { feeds, linearize: x0 })), labels);
    const h = 1e-6;
    const errors: Record<string, number> = {};
    params.forEach((p, k) => {
      const t = feeds[p.kind === 'binarized' ? p.input : p.name]!;
      const ref = new Float64Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) {
        const keep = t.data[i]!;
        t.data[i] = keep + h;
        const up = lossAt();
        t.data[i] = keep - h;
        const down = lossAt();
        t.data[i] = keep;
        // weights: dL/dW = dL/dŴ · [|W| <= 1]
        ref[i] = p.kind === 'binarized' && Math.abs(p.value[i]!) > 1 ? 0 : (up - down) / (2 * h);
      }
      errors[p.name] = relError(out.grads[k]!, ref);
    });
    if (process.env.GRADCHECK_REPORT) console.log(JSON.stringify(errors));
    for (const [name, err] of Object.entries(errors)) expect(err, `${name}: ${err}`).toBeLessThan(TOL);
    expect(out.grads[params.indexOf(c2)]![0]).toBe(0);
    expect(out.grads[params.indexOf(c2)]![7]).toBe(0);
    // the scaling layer's scalar is trained too
    expect(params.some((p) => p.name.endsWith('hbnn_scale'))).toBe(true);
  });
});

describe('gradcheck: shapes known only at run time', () => {
  it('Conv and grouped Conv on symbolic H, W (input gradient padded to Shape(X) at run time)', async () => {
    const net = new Net(['N', 2, 'H', 'W']);
    const pre = net.node('Mul', [net.x, net.param('a', [2, 1, 1], 0.5, 1)]);
    const c1 = net.node('Conv', [pre, net.param('w1', [4, 2, 3, 3])], { strides: A.ints([2, 2]), pads: A.ints([1, 0, 0, 1]) });
    const c2 = net.node('Conv', [c1, net.param('w2', [4, 2, 2, 2])], { group: A.int(2), strides: A.ints([2, 1]) });
    const r = await gradCheck(head(net, net.node('GlobalAveragePool', [c2]), 4, 3), [2, 2, 9, 8], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, name).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(['a', 'w1', 'w2', 'head.w', 'head.b']);
    expect(r.tg.model.graph.nodes.filter((n) => n.opType === 'Pad').length).toBe(2);
  });

  it('broadcast sums with axes computed at run time (a reshape to Shape(x)[0], -1)', async () => {
    const net = new Net(['N', 2, 3]);
    const a = net.node('Mul', [net.x, net.param('a', [2, 3], 0.5, 1)]);
    // N through a ReduceSum, whose contents the shape analysis does not follow (a Slice it would)
    const batch = net.node('ReduceSum', [net.node('Slice', [net.node('Shape', [a]), net.ints('s0', [0]), net.ints('s1', [1])]), net.ints('ax', [0])], { keepdims: A.int(1) });
    const shape = net.node('Concat', [batch, net.ints('m1', [-1])], { axis: A.int(0) });
    const flat = net.node('Reshape', [a, shape]); // [N, 6], not known statically
    const biased = net.node('Add', [flat, net.param('b', [6], 0.5)]);
    const r = await gradCheck(net.output(net.node('Gemm', [biased, net.param('w', [3, 6])], { transB: A.int(1) })), [3, 2, 3], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, name).toBeLessThan(TOL);
    expect(r.tg.model.graph.nodes.some((n) => n.opType === 'NonZero')).toBe(true);
  });
});
