import { describe, expect, it } from 'vitest';
import { foldBatchnorm } from '../../passes/fold-batchnorm.js';
import { Pipeline, PassRegistry, type RunReport } from '../../src/pass/manager.js';
import { loadModel } from '../../src/onnx/io.js';
import type { Model, Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { createSession, runSession, ort } from '../../src/runtime/ort.js';
import { A, FMNIST_CNN, FMNIST_MLP, addFloatInit, addInput, addNode, cloneModel, floatFeed, maxAbsDiff, newModel, randomFloats, runModel } from '../helpers/build.js';
import { loadFmnistTest } from '../helpers/fmnist.js';

const registry = new PassRegistry().register(foldBatchnorm);
const run = (m: Model): Promise<RunReport> => Pipeline.parse('fold-batchnorm', registry).run(m);

/** Logits for all test images, 1000 per onnxruntime run. */
async function allLogits(m: Model, images: Float32Array, count: number): Promise<Float32Array> {
  const session = await createSession(m, { optimization: 'disabled' });
  const out = new Float32Array(count * 10);
  try {
    for (let start = 0; start < count; start += 1000) {
      const n = Math.min(1000, count - start);
      const x = new ort.Tensor('float32', images.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28]);
      const r = await runSession(session, { input: x });
      out.set(r.logits!.data as Float32Array, start * 10);
    }
  } finally {
    await session.release();
  }
  return out;
}

function correct(logits: Float32Array, labels: Uint8Array): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (logits[i * 10 + k]! > logits[i * 10 + best]!) best = k;
    if (best === labels[i]) ok++;
  }
  return ok;
}

describe('fold-batchnorm on the fmnist models, full Fashion-MNIST test set', () => {
  for (const [name, file, bns, minAccuracy] of [
    ['fmnist-cnn', FMNIST_CNN, 3, 0.9],
    ['fmnist-mlp', FMNIST_MLP, 2, 0.87],
  ] as const) {
    it(`${name}: same logits within 1e-4 and the same accuracy`, async () => {
      const data = loadFmnistTest();
      expect(data.count).toBe(10000);
      const original = loadModel(file());
      const folded = loadModel(file());
      const rep = await run(folded);
      expect(rep.passes[0]!.stats.folded).toBe(bns);
      expect(folded.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(false);
      expect(folded.graph.outputs.map((o) => o.name)).toEqual(['logits']);
      const a = await allLogits(original, data.images, data.count);
      const b = await allLogits(folded, data.images, data.count);
      expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4);
      const accA = correct(a, data.labels);
      expect(correct(b, data.labels)).toBe(accA);
      expect(accA / data.count).toBeGreaterThan(minAccuracy);
    });
  }
});

function addBn(m: Model, x: Value, c: number, name = 'bn', seed = 1): Value {
  const g = m.graph;
  const pos = (n: number, s: number) => Array.from(randomFloats(n, s), (v) => 0.5 + Math.abs(v));
  const params = [
    addFloatInit(g, `${name}.gamma`, [c], pos(c, seed)),
    addFloatInit(g, `${name}.beta`, [c], randomFloats(c, seed + 1)),
    addFloatInit(g, `${name}.mean`, [c], randomFloats(c, seed + 2)),
    addFloatInit(g, `${name}.var`, [c], pos(c, seed + 3)),
  ];
  return addNode(g, 'BatchNormalization', [x, ...params], [name], { epsilon: A.float(1e-3) }, { name }).outputs[0]!;
}

/** Runs before and after folding on random inputs; returns the report and the max abs diff. */
async function foldAndCompare(m: Model, inputs: Record<string, number[]>): Promise<{ rep: RunReport; diff: number }> {
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, dims], i) => [k, floatFeed(randomFloats(dims.reduce((a, b) => a * b, 1), 11 + i), dims)]));
  const before = await runModel(cloneModel(m), feeds);
  const rep = await run(m);
  const after = await runModel(m, feeds);
  let diff = 0;
  for (const k of Object.keys(before)) diff = Math.max(diff, maxAbsDiff(before[k]!.data as Float32Array, after[k]!.data as Float32Array));
  return { rep, diff };
}

describe('fold-batchnorm rules', () => {
  it('Conv with group=2 and no bias (rule 1): a bias is created', async () => {
    const m = newModel(13);
    const x = addInput(m.graph, 'x', [2, 4, 5, 5]);
    const conv = addNode(m.graph, 'Conv', [x, addFloatInit(m.graph, 'w', [6, 2, 3, 3])], ['conv'], { group: A.int(2), pads: A.ints([1, 1, 1, 1]) });
    m.graph.setOutput(0, addNode(m.graph, 'Relu', [addBn(m, conv.outputs[0]!, 6)], ['y']).outputs[0]!);
    const { rep, diff } = await foldAndCompare(m, { x: [2, 4, 5, 5] });
    expect(rep.passes[0]!.stats.folded).toBe(1);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu']);
    expect(m.graph.nodes[0]!.inputs[2]!.constValue!.dims).toEqual([6]);
    expect(diff).toBeLessThan(1e-5);
  });

  it('Gemm with transB=0 and C [1,N], with transB=1 and no C, with a full [M,N] C', async () => {
    for (const [transB, cDims] of [[0, [1, 5]], [1, null], [1, [3, 5]], [0, []]] as const) {
      const m = newModel(13);
      const x = addInput(m.graph, 'x', [3, 4]);
      const w = addFloatInit(m.graph, 'w', transB ? [5, 4] : [4, 5]);
      const inputs = [x, w, ...(cDims ? [addFloatInit(m.graph, 'c', [...cDims])] : [])];
      const gemm = addNode(m.graph, 'Gemm', inputs, ['gemm'], { transB: A.int(transB), alpha: A.float(0.5), beta: A.float(2) });
      m.graph.setOutput(0, addBn(m, gemm.outputs[0]!, 5));
      const { rep, diff } = await foldAndCompare(m, { x: [3, 4] });
      expect(rep.passes[0]!.stats.folded, `transB=${transB} C=${cDims}`).toBe(1);
      expect(diff, `transB=${transB} C=${cDims}`).toBeLessThan(1e-5);
      expect(m.graph.outputs[0]!.name).toBe('bn'); // rule 6: the graph output keeps its name
    }
  });

  it('MatMul + Add (bias on either side) and bare MatMul with a known 2-D input (rule 3)', async () => {
    for (const variant of ['add-right', 'add-left', 'bare']) {
      const m = newModel(13);
      const x = addInput(m.graph, 'x', ['N', 4]);
      const mm = addNode(m.graph, 'MatMul', [x, addFloatInit(m.graph, 'w', [4, 5])], ['mm']).outputs[0]!;
      let pre = mm;
      if (variant !== 'bare') {
        const b = addFloatInit(m.graph, 'b', [5]);
        pre = addNode(m.graph, 'Add', variant === 'add-right' ? [mm, b] : [b, mm], ['add']).outputs[0]!;
      }
      m.graph.setOutput(0, addNode(m.graph, 'Relu', [addBn(m, pre, 5)], ['y']).outputs[0]!);
      const { rep, diff } = await foldAndCompare(m, { x: [3, 4] });
      expect(rep.passes[0]!.stats.folded, variant).toBe(1);
      expect(m.graph.nodes.map((n) => n.opType), variant).toEqual(['MatMul', 'Add', 'Relu']);
      expect(diff, variant).toBeLessThan(1e-5);
    }
  });

  it('shared weights get a new initializer; the other user keeps the original', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [1, 2, 4, 4]);
    const w = addFloatInit(g, 'w', [3, 2, 1, 1]);
    const c1 = addNode(g, 'Conv', [x, w], ['c1']).outputs[0]!;
    const c2 = addNode(g, 'Conv', [x, w], ['c2']).outputs[0]!;
    g.setOutput(0, addBn(m, c1, 3));
    g.setOutput(1, c2);
    const original = Array.from(w.constValue!.toFloat32());
    const { diff } = await foldAndCompare(m, { x: [1, 2, 4, 4] });
    expect(diff).toBeLessThan(1e-5);
    expect(Array.from(w.constValue!.toFloat32())).toEqual(original);
    expect(g.nodes[0]!.inputs[1]!.name).toBe('w_bnfolded');
    expect(g.nodes[1]!.inputs[1]).toBe(w);
  });

  it('does not fold when it would be wrong or impossible (rule 4)', async () => {
    const cases: [string, (m: Model) => void][] = [
      ['conv output used elsewhere', (m) => {
        const x = addInput(m.graph, 'x', [1, 2, 3, 3]);
        const c = addNode(m.graph, 'Conv', [x, addFloatInit(m.graph, 'w', [2, 2, 1, 1])], ['c']).outputs[0]!;
        m.graph.setOutput(0, addBn(m, c, 2));
        m.graph.setOutput(1, addNode(m.graph, 'Relu', [c], ['other']).outputs[0]!);
      }],
      ['training outputs', (m) => {
        const x = addInput(m.graph, 'x', [1, 2, 3, 3]);
        const c = addNode(m.graph, 'Conv', [x, addFloatInit(m.graph, 'w', [2, 2, 1, 1])], ['c']).outputs[0]!;
        const bn = addBn(m, c, 2).producer!;
        bn.addOutput('running_mean');
        m.graph.setOutput(0, bn.outputs[0]!);
      }],
      ['weights are a graph input', (m) => {
        const x = addInput(m.graph, 'x', [1, 2, 3, 3]);
        const w = addInput(m.graph, 'w', [2, 2, 1, 1]);
        const c = addNode(m.graph, 'Conv', [x, w], ['c']).outputs[0]!;
        m.graph.setOutput(0, addBn(m, c, 2));
      }],
      ['matmul with unknown input rank', (m) => {
        const x = m.graph.addInput('x');
        const c = addNode(m.graph, 'MatMul', [x, addFloatInit(m.graph, 'w', [4, 2])], ['c']).outputs[0]!;
        m.graph.setOutput(0, addBn(m, c, 2));
      }],
      ['producer is not linear', (m) => {
        const x = addInput(m.graph, 'x', [1, 2, 3, 3]);
        m.graph.setOutput(0, addBn(m, addNode(m.graph, 'Relu', [x], ['r']).outputs[0]!, 2));
      }],
    ];
    for (const [what, build] of cases) {
      const m = newModel(13);
      build(m);
      const rep = await run(m);
      expect(rep.passes[0]!.changed, what).toBe(false);
      expect(m.graph.nodes.some((n) => n.opType === 'BatchNormalization'), what).toBe(true);
    }
  });

  it('updates a weight used only by the folded layer in place (rule 5)', async () => {
    const m = newModel(13);
    const x = addInput(m.graph, 'x', [1, 2, 3, 3]);
    const w = addFloatInit(m.graph, 'w', [2, 2, 1, 1], [1, 1, 1, 1]);
    const b = m.graph.addInitializer(Tensor.fromFloat32('b', [2], Float32Array.of(0, 0)));
    const c = addNode(m.graph, 'Conv', [x, w, b], ['c']).outputs[0]!;
    m.graph.setOutput(0, addBn(m, c, 2));
    await run(m);
    expect(m.graph.nodes[0]!.inputs[1]).toBe(w);
    expect(m.graph.nodes[0]!.inputs[2]).toBe(b);
    expect(Array.from(w.constValue!.toFloat32())).not.toEqual([1, 1, 1, 1]);
    expect([...m.graph.initializers.keys()].filter((k) => k.includes('bnfolded'))).toEqual([]);
  });
});
