/**
 * The phase layout (src/train/grad/phase-layout.ts): Conv -> BatchNormalization -> MaxPool
 * 2x2 chains trained with the pool as a reduction over window phases instead of MaxPool with
 * indices. Checked three ways: against float64 finite differences, against the canonical
 * training graph (phaseLayout: false) on inputs full of tied window maxima, and on the
 * structure of fmnist-cnn's training graph.
 */
import { describe, expect, it } from 'vitest';
import { A, Net, gradCheck, ortGradients, rand, relError } from './helpers/gradcheck.js';
import type { Model, Value } from '../../src/ir/graph.js';
import { quantize } from '../../src/drivers/quantize.js';
import { buildTrainingGraph } from '../../src/train/grad/builder.js';
import { phaseRowOrder, planPhaseBlocks, type PhaseBlock } from '../../src/train/grad/phase-layout.js';
import { forwardShapes } from '../../src/train/grad/shapes.js';
import { prepareForTraining } from '../../src/train/grad/prepare.js';
import { loadCnn } from './helpers/data.js';

const TOL = 1e-4;
const pool2 = { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) };

/** Conv (k x k, pad (k-1)/2 unless `attrs` say otherwise) -> BatchNormalization -> Relu -> MaxPool 2x2. */
function block(net: Net, x: Value, name: string, cin: number, cout: number, attrs = {}, reluFirst = true, k = 3, bias = true): Value {
  const p = (k - 1) / 2;
  const c = net.node('Conv', [x, net.param(`${name}.w`, [cout, cin, k, k], 0.4), bias ? net.param(`${name}.b`, [cout], 0.1) : null], { pads: A.ints([p, p, p, p]), ...attrs });
  const bn = net.node('BatchNormalization', [c, net.param(`${name}.gamma`, [cout], 0.3, 1), net.param(`${name}.beta`, [cout], 0.2), net.param(`${name}.mean`, [cout]), net.param(`${name}.var`, [cout], 0.1, 1)]);
  if (reluFirst) return net.node('MaxPool', [net.node('Relu', [bn])], pool2);
  return net.node('Relu', [net.node('MaxPool', [bn], pool2)]);
}

/**
 * Input [N, 2, 12, 12]:
 *   a: Conv 2->16 3x3 on the data (phase-planes), 12x12 -> 6x6
 *   b: Conv 16->16 1x1 (phase-rows, input in the model's layout), 6x6 -> 3x3, kept channels-last
 *   c: Conv 16->2 3x3 on b (phase-rows, channels-last input), 3x3 -> 1x1 (5 positions no window reads)
 *   d: Conv 16->2 3x3 stride 2 on b (phase-rows; input gradient through the general form), 2x2 -> 1x1
 *   head: Flatten(c), Flatten(d) and GlobalAveragePool(b) (b in the model's layout) -> Gemm
 */
function phaseNet(): Model {
  const net = new Net(['N', 2, 12, 12]);
  const a = block(net, net.x, 'a', 2, 16);
  const b = block(net, a, 'b', 16, 16, {}, false, 1);
  const c = block(net, b, 'c', 16, 2);
  const d = block(net, b, 'd', 16, 2, { strides: A.ints([2, 2]) });
  const flat = (v: Value): Value => net.node('Flatten', [v], { axis: A.int(1) });
  const cat = net.node('Concat', [flat(c), flat(d), flat(net.node('GlobalAveragePool', [b]))], { axis: A.int(1) });
  return net.output(net.node('Gemm', [cat, net.param('head.w', [4, 2 + 2 + 16], 0.3)], { transB: A.int(1) }));
}

describe('phase layout', () => {
  it('plans the Conv -> BatchNorm -> MaxPool 2x2 chains, and only those', () => {
    const plan = (m: Model): PhaseBlock[] => {
      const p = prepareForTraining(m);
      return [...planPhaseBlocks(p.graph.nodes, forwardShapes(p), () => true).values()];
    };
    expect(plan(phaseNet()).map((b) => [b.c, b.m, b.hc, b.wc, b.h2, b.w2])).toEqual([
      [2, 16, 12, 12, 6, 6],
      [16, 16, 6, 6, 3, 3],
      [16, 2, 3, 3, 1, 1],
      [16, 2, 2, 2, 1, 1],
    ]);
    // overlapping or padded pools, a Conv output read twice, a Conv without BatchNorm: not planned
    const net = new Net(['N', 16, 8, 8]);
    const conv = (x: Value, name: string): Value => net.node('Conv', [x, net.param(name, [16, 16, 1, 1])]);
    const bn = (x: Value, name: string): Value => net.node('BatchNormalization', [x, net.param(`${name}.g`, [16]), net.param(`${name}.b`, [16]), net.param(`${name}.m`, [16]), net.param(`${name}.v`, [16], 0, 1)]);
    const p1 = net.node('MaxPool', [bn(conv(net.x, 'w1'), 'n1')], { kernel_shape: A.ints([3, 3]), strides: A.ints([2, 2]) });
    const p2 = net.node('MaxPool', [bn(conv(net.x, 'w2'), 'n2')], { ...pool2, pads: A.ints([1, 1, 1, 1]) });
    const c3 = conv(net.x, 'w3');
    net.node('Relu', [c3]);
    const p3 = net.node('MaxPool', [bn(c3, 'n3')], pool2);
    const p4 = net.node('MaxPool', [conv(net.x, 'w4')], pool2);
    const flat = (v: Value): Value => net.node('Flatten', [v], { axis: A.int(1) });
    const none = net.output(net.node('Concat', [flat(p1), flat(p2), flat(p3), flat(p4)], { axis: A.int(1) }));
    expect(plan(none)).toHaveLength(0);
  });

  it('phase rows list each window phase by phase, then the positions no window reads', () => {
    const p = prepareForTraining(phaseNet());
    const g = p.graph;
    const blocks = [...planPhaseBlocks(g.nodes, forwardShapes(p), () => true).values()];
    expect(blocks).toHaveLength(4);
    for (const b of blocks) {
      const order = phaseRowOrder(b);
      expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: b.hc * b.wc }, (_, i) => i));
      const p = b.h2 * b.w2;
      for (let q = 0; q < p; q++) {
        // the four rows of pooled position q are the window's elements in row-major scan order
        const [i, j] = [Math.floor(q / b.w2), q % b.w2];
        const top = 2 * i * b.wc + 2 * j;
        expect([0, 1, 2, 3].map((ph) => order[ph * p + q])).toEqual([top, top + 1, top + b.wc, top + b.wc + 1]);
      }
    }
  });

  it('gradients of every parameter match float64 finite differences (both forms, channels-last hand-over, odd sizes, stride 2, a second consumer)', async () => {
    const r = await gradCheck(phaseNet(), [2, 2, 12, 12], 4);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: relative error ${err}`).toBeLessThan(TOL);
    expect(Math.abs(r.loss - r.lossRef) / Math.abs(r.lossRef)).toBeLessThan(1e-5);
    expect(Object.keys(r.errors)).toHaveLength(4 * 4 + 1);
    const ops = r.tg.model.graph.nodes.map((n) => n.opType);
    expect(ops).not.toContain('MaxPool');
    expect(ops).not.toContain('MaxUnpool');
    expect(ops.filter((o) => o === 'ArgMax')).toHaveLength(4);
  });

  it('Convs without bias, a 5x5 first layer on 3 channels, a 3x3 Conv on 16: float64 finite differences', async () => {
    const net = new Net(['N', 3, 8, 10]);
    const a = block(net, net.x, 'a', 3, 16, {}, true, 5, false); // phase-planes, 8x10 -> 4x5
    const b = block(net, a, 'b', 16, 2, {}, false, 3, false); // phase-rows, 4x5 -> 2x2 (one unread column)
    const model = net.output(net.node('Gemm', [net.node('Flatten', [b], { axis: A.int(1) }), net.param('head.w', [3, 8], 0.3)], { transB: A.int(1) }));
    const r = await gradCheck(model, [2, 3, 8, 10], 3);
    for (const [name, err] of Object.entries(r.errors)) expect(err, `${name}: relative error ${err}`).toBeLessThan(TOL);
    expect(Object.keys(r.errors)).toEqual(['a.w', 'a.gamma', 'a.beta', 'b.w', 'b.gamma', 'b.beta', 'head.w']);
    expect(r.tg.model.graph.nodes.map((n) => n.opType)).not.toContain('MaxPool');
  });

  it('routes each window to the same element as MaxPool indices on tied maxima: phase and canonical graphs agree', async () => {
    // data on a coarse grid with zero regions: many windows whose Conv outputs tie
    const net = new Net(['N', 16, 6, 6]);
    const scaled = net.node('Mul', [net.x, net.param('s', [16, 1, 1], 0.25, 1)]);
    const b1 = block(net, scaled, 'r', 16, 16); // phase-rows with an input gradient
    const net0 = net.node('Conv', [net.x, net.param('p.w', [2, 16, 1, 1], 0.5)]);
    const b2 = block(net, net0, 'q', 2, 3); // phase-planes: its input depends on p.w, so it is trained canonically
    const cat = net.node('Concat', [net.node('Flatten', [b1], { axis: A.int(1) }), net.node('Flatten', [b2], { axis: A.int(1) })], { axis: A.int(1) });
    const model = net.output(net.node('Gemm', [cat, net.param('head.w', [3, 16 * 9 + 3 * 9], 0.3)], { transB: A.int(1) }));
    const netP = new Net(['N', 2, 6, 6]);
    const b3 = block(netP, netP.x, 'e', 2, 4); // phase-planes on the data
    const modelP = netP.output(netP.node('Gemm', [netP.node('Flatten', [b3], { axis: A.int(1) }), netP.param('head.w', [3, 36], 0.3)], { transB: A.int(1) }));
    for (const [m, xDims] of [
      [model, [3, 16, 6, 6]],
      [modelP, [3, 2, 6, 6]],
    ] as const) {
      const n = xDims.reduce((a, b) => a * b, 1);
      const x = rand(n, 11).map((v, i) => (i % 36 < 12 ? 0 : Math.round(v * 2) / 2));
      const labels = [0, 1, 2];
      const run = async (phaseLayout: boolean) => {
        const tg = buildTrainingGraph(m, { phaseLayout });
        const values: Record<string, Float32Array> = {};
        for (const p of tg.params) values[p.input] = m.graph.get(p.source)!.constValue!.toFloat32().slice();
        // output channel 0 of each block's Conv all zeros: every window of that channel ties, and
        // its weight gradient depends on which element each window's gradient is routed to
        // (beta > 0 so that the Relu after the pool passes the gradient)
        for (const name of ['r', 'e']) {
          values[`${name}.w`]?.fill(0, 0, values[`${name}.w`]!.length / (name === 'r' ? 16 : 4));
          if (values[`${name}.beta`]) values[`${name}.beta`]![0] = 0.5;
        }
        return { ops: tg.model.graph.nodes.map((nd) => nd.opType), ...(await ortGradients(tg, x, [...xDims], labels, values)) };
      };
      const phase = await run(true);
      const canonical = await run(false);
      expect(canonical.ops).toContain('MaxPool');
      expect(phase.ops).toContain('ArgMax');
      expect(Math.abs(phase.loss - canonical.loss)).toBeLessThan(1e-6 * Math.abs(canonical.loss));
      for (const k of Object.keys(canonical.grads)) {
        const err = relError(phase.grads[k]!, canonical.grads[k]!);
        expect(err, `${k}: ${err}`).toBeLessThan(1e-5);
      }
    }
  });

  it('fmnist-cnn W1.4: three phase blocks, no MaxPool or MaxUnpool, the same loss and gradients as the canonical graph', async () => {
    const model = loadCnn();
    await quantize(model, { avgBits: 1.4, heuristic: 'middle-out' });
    const xDims = [8, 1, 28, 28];
    const x = rand(8 * 784, 3).map((v) => Math.max(0, v) * 2);
    const labels = [0, 1, 2, 3, 4, 5, 6, 7];
    const results = [];
    for (const phaseLayout of [true, false]) {
      const tg = buildTrainingGraph(model, { phaseLayout });
      const values: Record<string, Float32Array> = {};
      for (const p of tg.params) {
        const src = model.graph.get(p.source);
        values[p.input] = src?.constValue ? src.constValue.toFloat32().slice() : rand(p.dims.reduce((a, b) => a * b, 1), p.dims.length).map((v) => v * 0.1);
      }
      const ops = tg.model.graph.nodes.map((n) => n.opType);
      // what the forward patch Gathers read, through Reshape/Pad
      const patchSources = tg.model.graph.nodes
        .filter((n) => n.opType === 'Gather' && /^\/c[23]\/Conv\/Gather/.test(n.name))
        .map((n) => {
          let v = n.inputs[0]!;
          while (v.producer && (v.producer.opType === 'Reshape' || v.producer.opType === 'Pad')) v = v.producer.inputs[0]!;
          return v.producer?.opType ?? 'input';
        });
      const r = await ortGradients(tg, x, xDims, labels, values);
      const stats = tg.batchNorms.flatMap((b) => [b.meanOutput, b.varOutput]).map((name) => r.outputs[name]!.data as Float32Array);
      results.push({ ops, patchSources, stats, ...r });
    }
    const [phase, canonical] = results as [(typeof results)[0], (typeof results)[0]];
    expect(phase.ops.filter((o) => o === 'ArgMax')).toHaveLength(3);
    expect(phase.ops).not.toContain('MaxPool');
    expect(phase.ops).not.toContain('MaxUnpool');
    expect(canonical.ops.filter((o) => o === 'MaxPool')).toHaveLength(3);
    // the first block's BatchNormalization works on its Conv's factors, the others on rows (Mul/Add)
    expect(phase.ops).not.toContain('BatchNormalization');
    // no Transpose between layers: the second and third Convs' patch Gathers read the pooled channels-last values
    expect(phase.patchSources).toHaveLength(2);
    for (const op of phase.patchSources) expect(op).not.toBe('Transpose');
    expect(canonical.patchSources).toHaveLength(0);
    expect(Math.abs(phase.loss - canonical.loss)).toBeLessThan(1e-5 * Math.abs(canonical.loss));
    for (const k of Object.keys(canonical.grads)) expect(relError(phase.grads[k]!, canonical.grads[k]!), k).toBeLessThan(1e-4);
    // batch statistics for the running estimates (the first layer's bias rides in its MatMul)
    expect(phase.stats.length).toBe(6);
    phase.stats.forEach((s, i) => expect(relError(s, canonical.stats[i]!), `statistic ${i}`).toBeLessThan(1e-5));
  });
});
