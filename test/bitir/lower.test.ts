import { describe, expect, it } from 'vitest';
import { lowerToBitIR } from '../../src/bitir/lower.js';
import { interpret } from '../../src/bitir/interpret.js';
import { summarizeProgram, weightBitHistogram } from '../../src/bitir/summary.js';
import type { BinaryType, BitProgram, ThresholdOp } from '../../src/bitir/types.js';
import { ErrorCodes } from '../../src/errors.js';
import { loadModel } from '../../src/onnx/io.js';
import { Pipeline } from '../../src/pass/manager.js';
import { builtinPasses } from '../../passes/registry.js';
import { emptyRecord, writeQuantRecord } from '../../src/quant/format.js';
import { A, FMNIST_CNN, addNode, expectHbnnError } from '../helpers/build.js';
import { modelA, modelB } from './helpers.js';

describe('lowerToBitIR on hand-made quantized models', () => {
  it('model A: conv unit → threshold → relu → maxpool → reshape → matvec → requantize → scale → argmax', () => {
    const p = lowerToBitIR(modelA());
    expect(p.ops.map((o) => o.op)).toEqual(['input', 'conv', 'threshold', 'relu', 'maxpool', 'reshape', 'matvec', 'requantize', 'scale', 'argmax']);
    const th = p.ops[2] as ThresholdOp;
    // Conv, BatchNorm and the binarizer are one threshold unit.
    expect(th.nodes).toEqual(['c1', 'bn1', 'act1/BinarizeActivation']);
    // 3 weight planes × fixed input = 3 terms, so a fixed-point combination, not exact.
    expect(th.multipliers.length).toBe(3);
    expect(th.exact).toBe(false);
    const act = p.tensors.find((t) => t.id === th.output)!.type as BinaryType;
    expect(act.planes).toBe(2); // t2 = 3e38: plane 3 never present
    // levels ascending by value, and every band code is a level index
    for (let i = 1; i < act.levels.length; i++) expect(act.levels[i]!.value).toBeGreaterThanOrEqual(act.levels[i - 1]!.value);
    for (const b of th.bands) {
      expect(b.codes.length).toBe(b.thresholds.length + 1);
      for (let u = 1; u < b.thresholds.length; u++) expect(b.thresholds[u]!).toBeGreaterThan(b.thresholds[u - 1]!);
      for (const c of b.codes) expect(c).toBeLessThan(act.levels.length);
    }
    // BatchNorm gamma of channel 1 is negative: its bands run in the opposite order.
    const up = (b: { codes: number[] }): number => act.levels[b.codes[b.codes.length - 1]!]!.value - act.levels[b.codes[0]!]!.value;
    expect(up(th.bands[0]!)).toBeGreaterThan(0);
    expect(up(th.bands[1]!)).toBeLessThan(0);
    // Relu maps negative levels to the zero level (all masks 0).
    const relu = p.ops[3];
    const reluType = p.tensors.find((t) => t.id === relu!.id)!.type as BinaryType;
    expect(reluType.levels[0]).toEqual({ signs: 0, mask: 0, value: 0 });
    expect(reluType.levels.every((l) => l.value >= 0)).toBe(true);
  });

  it('packs weight planes with the documented bit order (row = output channel, LSB first)', () => {
    const m = modelA();
    const p = lowerToBitIR(m);
    const w = p.weights.find((x) => x.id === 'c1.weight')!;
    expect(w.kind).toBe('binary');
    if (w.kind !== 'binary') return;
    const planes = m.graph.get('c1.weight.hbnn_planes')!.constValue!;
    const raw = planes.toRawBytes();
    const onnx = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    expect([w.rows, w.cols, w.wordsPerRow]).toEqual([3, 18, 1]);
    for (let i = 0; i < 3; i++) {
      for (let o = 0; o < 3; o++) {
        for (let j = 0; j < 18; j++) {
          const v = onnx[i * 54 + o * 18 + j]!;
          const word = o * w.wordsPerRow + (j >>> 5);
          expect((w.planes[i]!.mask[word]! >>> (j & 31)) & 1).toBe(v !== 0 ? 1 : 0);
          expect((w.planes[i]!.signs[word]! >>> (j & 31)) & 1).toBe(v > 0 ? 1 : 0);
        }
      }
    }
    expect(w.planes.map((pl) => pl.scales[0])).toEqual([0.5, 0.3, 0.12].map(Math.fround));
    // Gemm transB=1 with per-channel scales: one scale per row and plane.
    const fc = p.weights.find((x) => x.id === 'fc.weight')!;
    if (fc.kind !== 'binary') throw new Error('fc.weight should be binary');
    expect(fc.planes[0]!.scales).toEqual([0.4, 0.46, 0.52, 0.58].map(Math.fround));
  });

  it('bit-operation counts equal Σ weight bits × activation bits × uses (hand-counted)', () => {
    const p = lowerToBitIR(modelA(), { inputBits: 8, inputFrac: 4 });
    const s = summarizeProgram(p);
    const [conv, fc] = s.layers;
    // conv: 54 weights = 6 at 3 bits + 10 at 2 + 38 at 1 → 18 + 20 + 38 = 76 weight bits;
    // input is fixed point, 8 bits wide; 5×5 = 25 output positions (pad 1).
    expect(conv!.bitHistogram).toEqual([38, 10, 6]);
    expect(conv!.activationBits).toBe(8);
    expect(conv!.uses).toBe(25);
    expect(conv!.bitOps).toBe(76 * 8 * 25); // 15,200
    expect(conv!.macs).toBe(54 * 25);
    // fc: 48 weights = 2 at 3 bits + 4 at 2 + 42 at 1 → 6 + 8 + 42 = 56 weight bits;
    // input: binarized activations with 2 planes; used once per input vector.
    expect(fc!.bitHistogram).toEqual([42, 4, 2]);
    expect(fc!.activationBits).toBe(2);
    expect(fc!.uses).toBe(1);
    expect(fc!.bitOps).toBe(56 * 2 * 1); // 112
    expect(s.totals.bitOps).toBe(15200 + 112);
    // memory: sign bits = Σ M_j; bit map = 2 bits per weight (3 planes)
    expect(conv!.weightSignBits).toBe(76);
    expect(conv!.bitMapBits).toBe(54 * 2);
    expect(fc!.terms).toBe(3 * 2);
    // the histogram from the packed masks agrees with the ONNX planes
    expect(weightBitHistogram(p.weights[0]!)).toEqual([38, 10, 6]);
  });

  it('model B: groups, strides, dilations, asymmetric pads, MatMul + Add, no scaling layer', () => {
    const p = lowerToBitIR(modelB());
    expect(p.ops.map((o) => o.op)).toEqual(['input', 'conv', 'threshold', 'relu', 'conv', 'requantize', 'relu', 'reshape', 'matvec', 'requantize', 'argmax']);
    const conv = p.ops[1];
    if (conv?.op !== 'conv') throw new Error('expected conv');
    expect([conv.group, conv.strides, conv.dilations, conv.pads]).toEqual([2, [2, 1], [1, 2], [1, 0, 2, 1]]);
    expect(p.tensors.find((t) => t.id === conv.output)!.type.shape).toEqual([4, 4, 4]);
    const c2 = p.ops[5];
    expect(c2?.nodes).toEqual(['c2', 'c2/Add']);
    const rq = p.ops[9];
    expect(rq?.nodes).toEqual(['fc', 'fc/Add']);
    expect(p.tensors.find((t) => t.id === p.outputs.logits)!.type).toMatchObject({ kind: 'fixed', frac: p.options.logitFrac });
  });
});

describe('lowering errors', () => {
  it('a float (non-quantized) model is NOT_QUANTIZED', async () => {
    const err = await expectHbnnError(() => lowerToBitIR(loadModel(FMNIST_CNN())), ErrorCodes.NOT_QUANTIZED);
    expect(err.message).toContain('quantize');
  });

  it('a record without any BinarizedWeight call is NOT_QUANTIZED', async () => {
    const m = loadModel(FMNIST_CNN());
    writeQuantRecord(m, emptyRecord());
    await expectHbnnError(() => lowerToBitIR(m), ErrorCodes.NOT_QUANTIZED);
  });

  it('an unsupported op in the path (Sigmoid) is a LOWERING error naming the node', async () => {
    const m = modelA();
    const relu = m.graph.nodes.find((n) => n.name === 'relu1')!;
    relu.opType = 'Sigmoid';
    relu.name = 'the-sigmoid';
    const err = await expectHbnnError(() => lowerToBitIR(m), ErrorCodes.LOWERING);
    expect(err.context.node).toBe('the-sigmoid');
    expect(err.message).toContain('the-sigmoid');
    expect(err.message).toContain('Sigmoid');
  });

  it('a second data path (residual Add of a stream with itself) lowers to an add whose integers are the aligned sum', async () => {
    const m = modelB();
    const g = m.graph;
    const add = g.nodes.find((n) => n.name === 'c2/Add')!;
    // Add the conv output to itself instead of a constant bias.
    add.setInput(1, add.inputs[0]!);
    const p = lowerToBitIR(m);
    const op = p.ops.find((o) => o.op === 'add')!;
    expect(op.nodes).toEqual(['c2/Add']);
    expect(op.inputs[0]).toBe(op.inputs[1]);
    const x = new Float32Array(p.input.shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i));
    const r = interpret(p, x, { capture: [op.inputs[0]!, op.output] });
    const a = r.captured[op.inputs[0]!]!;
    const b = r.captured[op.output]!;
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBe(2 * a[i]!);
  });

  it('a Conv whose weight is neither binarized nor constant is a LOWERING error', async () => {
    const m = modelA();
    const g = m.graph;
    const conv = g.nodes.find((n) => n.name === 'c1')!;
    const relu = addNode(g, 'Relu', [conv.inputs[1]!], ['w.relu'], {}, { name: 'weird' });
    g.nodes.splice(g.nodes.indexOf(conv), 0, g.nodes.pop()!);
    conv.setInput(1, relu.outputs[0]!);
    const err = await expectHbnnError(() => lowerToBitIR(m), ErrorCodes.LOWERING);
    expect(err.message).toMatch(/"weird"|"c1"/);
    void A;
  });
});

describe('lower-to-bitir pass', () => {
  it('establishes bit-ir-lowerable, leaves the model unchanged and hands over the program', async () => {
    const m = modelA();
    const before = m.graph.nodes.length;
    const report = await Pipeline.parse('lower-to-bitir{input-frac=12}', builtinPasses()).run(m);
    expect(report.properties).toContain('bit-ir-lowerable');
    expect(m.graph.nodes.length).toBe(before);
    const p = report.artifacts.get('bit-ir') as BitProgram;
    expect(p.options.inputFrac).toBe(12);
    expect(report.passes[0]!.stats['op-threshold']).toBe(1);
  });

  it('fails with NOT_QUANTIZED on a float model and LOWERING on an unsupported op', async () => {
    await expectHbnnError(() => Pipeline.parse('lower-to-bitir', builtinPasses()).run(loadModel(FMNIST_CNN())), ErrorCodes.NOT_QUANTIZED);
    const m = modelA();
    m.graph.nodes.find((n) => n.name === 'pool1')!.opType = 'LRN';
    const err = await expectHbnnError(() => Pipeline.parse('lower-to-bitir', builtinPasses()).run(m), ErrorCodes.LOWERING);
    expect(err.message).toContain('pool1');
    expect(err.message).toMatch(/operator LRN has no bit-level form; supported: Conv, Gemm, MatMul, BatchNormalization/);
    expect(err.context.op).toBe('LRN');
  });
});
