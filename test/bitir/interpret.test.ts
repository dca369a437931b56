import { describe, expect, it } from 'vitest';
import { lowerToBitIR } from '../../src/bitir/lower.js';
import { interpret } from '../../src/bitir/interpret.js';
import type { BinaryType, BitProgram, ConvOp, MatVecOp, ThresholdOp } from '../../src/bitir/types.js';
import type { Model } from '../../src/ir/graph.js';
import { floatFeed, randomFloats, runModel } from '../helpers/build.js';
import { modelA, modelB } from './helpers.js';
import { naiveAccumulators, onnxPlanes } from './naive.js';

async function ortOutputs(m: Model, x: Float32Array, shape: number[], names: string[]): Promise<Record<string, Float32Array>> {
  const g = m.graph;
  const added = names.filter((n) => !g.outputs.some((v) => v.name === n));
  for (const n of added) g.outputs.push(g.get(n)!);
  try {
    const r = await runModel(m, { x: floatFeed(x, shape) });
    return Object.fromEntries(names.map((n) => [n, r[n]!.data as Float32Array]));
  } finally {
    for (let i = 0; i < added.length; i++) g.outputs.pop();
  }
}

function unit(p: BitProgram, node: string): ConvOp | MatVecOp {
  const op = p.ops.find((o) => (o.op === 'conv' || o.op === 'matvec') && o.nodes[0] === node);
  if (!op || (op.op !== 'conv' && op.op !== 'matvec')) throw new Error(`no unit for ${node}`);
  return op;
}

describe('interpret: accumulators equal a plain-loop reference exactly', () => {
  for (const [name, make, shape] of [
    ['model A', modelA, [2, 5, 5]],
    ['model B (groups, strides, dilations, asymmetric pads)', modelB, [4, 7, 7]],
  ] as const) {
    it(name, () => {
      const m = make();
      const p = lowerToBitIR(m);
      const per = shape.reduce((a, b) => a * b, 1);
      const samples = 6;
      const x = randomFloats(samples * per, 7);
      for (const op of p.ops) {
        if (op.op !== 'conv' && op.op !== 'matvec') continue;
        const r = interpret(p, x, { captureAccumulators: op.id, capture: [op.input] });
        const acc = r.captured[op.id]!;
        const input = r.captured[op.input]!;
        const planes = onnxPlanes(m, op.nodes[0]!);
        const layout = m.graph.nodes.find((n) => n.name === op.nodes[0])!.opType === 'MatMul' ? 'IO' : 'OI';
        const len = acc.length / samples;
        const inLen = input.length / samples;
        let nonzero = 0;
        for (let s = 0; s < samples; s++) {
          const ref = naiveAccumulators(p, op, planes, input.subarray(s * inLen, (s + 1) * inLen), layout);
          expect(Array.from(acc.subarray(s * len, (s + 1) * len))).toEqual(ref);
          nonzero += ref.filter((v) => v !== 0).length;
        }
        expect(nonzero).toBeGreaterThan(0);
      }
    });
  }
});

describe('interpret: the fused path computes the same integers as the op-by-op path', () => {
  for (const [name, make, shape] of [
    ['model A', modelA, [2, 5, 5]],
    ['model B', modelB, [4, 7, 7]],
  ] as const) {
    it(name, () => {
      const p = lowerToBitIR(make());
      const per = shape.reduce((a, b) => a * b, 1);
      const x = randomFloats(40 * per, 3);
      const ids = p.tensors.filter((t) => t.type.kind === 'fixed' || t.type.kind === 'binary').map((t) => t.id);
      const fused = interpret(p, x, { capture: ids.filter((id) => !id.endsWith('.acc')) });
      const plain = interpret(p, x, { fuse: false, capture: ids });
      for (const id of Object.keys(fused.captured)) expect(Array.from(fused.captured[id]!), id).toEqual(Array.from(plain.captured[id]!));
      expect(Array.from(fused.logitsQ)).toEqual(Array.from(plain.logitsQ));
      expect(Array.from(fused.classes)).toEqual(Array.from(plain.classes));
    });
  }
});

describe('interpret: agreement with onnxruntime on the quantized ONNX model', () => {
  it('model A and model B: logits within the fixed-point error, same classes', async () => {
    for (const [make, shape] of [
      [modelA, [2, 5, 5]],
      [modelB, [4, 7, 7]],
    ] as const) {
      const m = make();
      const p = lowerToBitIR(m);
      const n = 64;
      const per = shape.reduce((a, b) => a * b, 1);
      const x = randomFloats(n * per, 21);
      const out = m.graph.outputs[0]!.name;
      const ort = (await ortOutputs(m, x, [n, ...shape], [out]))[out]!;
      const r = interpret(p, x);
      const k = r.classesPerSample;
      let agree = 0;
      let close = 0;
      for (let s = 0; s < n; s++) {
        let best = 0;
        let diff = 0;
        for (let c = 0; c < k; c++) {
          if (ort[s * k + c]! > ort[s * k + best]!) best = c;
          diff = Math.max(diff, Math.abs(ort[s * k + c]! - r.logits[s * k + c]!));
        }
        if (best === r.classes[s]) agree++;
        if (diff < 1e-3) close++;
      }
      // A binarizer input within the fixed-point error of a band edge can flip one code;
      // everything else agrees to the logit precision.
      expect(agree).toBeGreaterThanOrEqual(n - 1);
      expect(close).toBeGreaterThanOrEqual(n - 2);
    }
  });

  it('single-term threshold units are exact: every binarizer decision equals onnxruntime', async () => {
    // 1-bit conv weights × a fixed-point input that holds the test input exactly (multiples of
    // 1/16): S is the accumulator itself and the thresholds are exact integers.
    const m = modelA({ convPlanes: 1 });
    const p = lowerToBitIR(m, { inputFrac: 4, inputBits: 10 });
    const th = p.ops.find((o) => o.op === 'threshold') as ThresholdOp;
    expect(th.exact).toBe(true);
    expect(th.multipliers).toEqual([[1, 1, 1]]);
    const n = 200;
    const x = Float32Array.from(randomFloats(n * 50, 5), (v) => Math.round(v * 32) / 16);
    const r = interpret(p, x, { capture: [th.output] });
    const ort = (await ortOutputs(m, x, [n, 2, 5, 5], ['act1.out']))['act1.out']!;
    const levels = (p.tensors.find((t) => t.id === th.output)!.type as BinaryType).levels;
    const ir = r.captured[th.output]!;
    let same = 0;
    for (let i = 0; i < ort.length; i++) if (levels[ir[i]!]!.value === ort[i]) same++;
    expect(same).toBe(ort.length);
    // and the codes are not all the same (the test can fail)
    expect(new Set(ir).size).toBeGreaterThan(2);
  });

  it('layers kept in float become fixed-point weights (first-layer=keep): same classes, small logit error', async () => {
    const m = modelA({ convFloat: true });
    const p = lowerToBitIR(m);
    const w = p.weights.find((x) => x.id === 'c1.weight')!;
    expect(w.kind).toBe('fixed');
    if (w.kind !== 'fixed') return;
    expect(w.bits).toBe(p.options.weightBits);
    // the largest weight uses the full width
    expect(Math.max(...Array.from(w.values, Math.abs))).toBeGreaterThanOrEqual(2 ** (w.bits - 2));
    const th = p.ops.find((o) => o.op === 'threshold') as ThresholdOp;
    expect(th.multipliers.length).toBe(1); // fixed weights × fixed input: one term
    const n = 64;
    const x = randomFloats(n * 50, 17);
    const ort = (await ortOutputs(m, x, [n, 2, 5, 5], ['logits']))['logits']!;
    const r = interpret(p, x);
    const plain = interpret(p, x, { fuse: false });
    expect(Array.from(plain.logitsQ)).toEqual(Array.from(r.logitsQ));
    let agree = 0;
    for (let s = 0; s < n; s++) {
      let best = 0;
      for (let c = 1; c < 4; c++) if (ort[s * 4 + c]! > ort[s * 4 + best]!) best = c;
      if (best === r.classes[s]) agree++;
    }
    // fixed-point weights (12 bits) move the first binarizer's input by ~1e-3: a few codes flip
    expect(agree).toBeGreaterThanOrEqual(n - 3);
  });
});
