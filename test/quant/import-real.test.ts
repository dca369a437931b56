/**
 * Real-model shapes that quantize prepares (src/drivers/prepare.ts), each on a small model
 * built here: initializers also listed as graph inputs, an old opset, weights computed by
 * Constant / ConstantOfShape / DequantizeLinear nodes, nodes out of topological order, and
 * layers inside an If subgraph. Each quantizes, says what it did, and the result runs in
 * onnxruntime with outputs of the original's shape (and, where the preparation keeps the
 * function, the prepared float model gives the original's outputs exactly).
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, type Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import * as fs from 'node:fs';
import { decodeModel, decodeTensor, encodeModel, loadModel } from '../../src/onnx/io.js';
import { toOrtTensor } from '../../src/runtime/ort.js';
import { prepareForQuantize, quantize } from '../../src/drivers/quantize.js';
import { ErrorCodes } from '../../src/errors.js';
import { A, REPO_ROOT, addFloatInit, addInput, addNode, cloneModel, expectHbnnError, floatFeed, newModel, randomFloats, runModel } from '../helpers/build.js';
import { setTensorType } from '../../src/ir/types.js';

/** x[N,1,8,8] → Conv 4×1×3×3 → Relu → Flatten → Gemm 256→10: the weights given by `w`. */
function smallCnn(opset = 13, irVersion = 8n): Model {
  const m = newModel(opset, irVersion);
  const g = m.graph;
  const x = addInput(g, 'x', ['N', 1, 8, 8]);
  const c = addNode(g, 'Conv', [x, addFloatInit(g, 'conv.w', [4, 1, 3, 3], randomFloats(36, 3)), addFloatInit(g, 'conv.b', [4])], ['c'], { pads: A.ints([1, 1, 1, 1]) }, { name: 'conv' });
  const r = addNode(g, 'Relu', [c.outputs[0]!], ['r'], {}, { name: 'relu' });
  const f = addNode(g, 'Flatten', [r.outputs[0]!], ['f'], {}, { name: 'flatten' });
  const y = addNode(g, 'Gemm', [f.outputs[0]!, addFloatInit(g, 'fc.w', [10, 256], randomFloats(2560, 5)), addFloatInit(g, 'fc.b', [10])], ['y'], { transB: A.int(1) }, { name: 'fc' });
  g.outputs.push(y.outputs[0]!);
  setTensorType(y.outputs[0]!, DataType.FLOAT, ['N', 10]);
  return m;
}

const N = 3;
const xs = randomFloats(N * 64, 11);

async function run(m: Model): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const out = m.graph.outputs[0]!.name;
  const r = await runModel(m, { x: floatFeed(xs, [N, 1, 8, 8]) });
  return { data: r[out]!.data as Float32Array, dims: r[out]!.dims };
}

/** Prepares a copy (same function expected), then quantizes; returns the notes and pipeline. */
async function prepareAndQuantize(m: Model, expectSameFunction = true): Promise<{ notes: string[]; pipeline: string; layers: number }> {
  const before = await run(m);
  const p = cloneModel(m);
  const prep = await prepareForQuantize(p);
  if (expectSameFunction) expect(Array.from((await run(p)).data)).toEqual(Array.from(before.data));
  const r = await quantize(p, { avgBits: 1.4 }, prep);
  const after = await run(p);
  expect(after.dims).toEqual(before.dims);
  expect(after.data.every(Number.isFinite)).toBe(true);
  return { notes: r.preparation, pipeline: r.pipeline, layers: r.record.weights.length };
}

describe('quantize prepares real models', () => {
  it('initializers also listed as graph inputs (IR 3) are constants by default; --keep-initializer-inputs keeps them overridable', async () => {
    const m = smallCnn(9, 3n);
    for (const name of ['conv.w', 'conv.b', 'fc.w', 'fc.b']) {
      const v = m.graph.get(name)!;
      m.graph.inputs.push(v);
      setTensorType(v, DataType.FLOAT, v.constValue!.dims);
    }
    const file = decodeModel(encodeModel(m));
    expect(file.graph.inputs.length).toBe(5);
    // Without preparation nothing is binarizable (the weights are overridable inputs).
    await expectHbnnError(() => quantize(cloneModel(file), {}, { items: [], notes: [] }), ErrorCodes.NOTHING_TO_QUANTIZE);
    const r = await prepareAndQuantize(file);
    expect(r.notes.join('\n')).toMatch(/4 initializers are also graph inputs \(IR 3 style\); treated as constants/);
    expect(r.pipeline.startsWith('constant-initializer-inputs,upgrade-opset{to=11},insert-weight-binarization')).toBe(true);
    expect(r.layers).toBe(2);

    const kept = cloneModel(file);
    const prep = await prepareForQuantize(kept, { keepInitializerInputs: true });
    expect(prep.notes.join('\n')).toMatch(/kept overridable \(--keep-initializer-inputs\)/);
    expect(kept.graph.inputs.length).toBe(5);
    const e = await expectHbnnError(() => quantize(kept, { keepInitializerInputs: true }, prep), ErrorCodes.NOTHING_TO_QUANTIZE);
    expect(e.message).toContain('2 layer weights are graph inputs, e.g. "conv.w"');
    expect(e.message).toContain('2 with an initializer: run constant-initializer-inputs first');
  });

  it('an opset-8 CNN (BatchNormalization spatial, Clip and Upsample attributes) is upgraded to 11, the same function, and quantized', async () => {
    const m = smallCnn(8, 3n);
    const g = m.graph;
    const relu = g.nodes.find((n) => n.name === 'relu')!;
    const c = relu.inputs[0]!;
    const bn = g.createNode('BatchNormalization', [c, addFloatInit(g, 'bn.g', [4]), addFloatInit(g, 'bn.b', [4]), addFloatInit(g, 'bn.m', [4]), addFloatInit(g, 'bn.v', [4], [1, 2, 0.5, 1.5])], ['bn'], {
      name: 'bn',
      attributes: { spatial: A.int(1) },
    });
    const clip = g.createNode('Clip', [bn.outputs[0]!], ['clip'], { name: 'clip', attributes: { min: A.float(-0.5), max: A.float(0.5) } });
    const up = g.createNode('Upsample', [clip.outputs[0]!], ['up'], { name: 'up', attributes: { scales: A.floats([1, 1, 2, 2]), mode: A.str('nearest') } });
    const pool = g.createNode('MaxPool', [up.outputs[0]!], ['pool'], { name: 'pool', attributes: { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) } });
    g.insertBefore(relu, bn, clip, up, pool);
    relu.setInput(0, pool.outputs[0]!);
    const r = await prepareAndQuantize(decodeModel(encodeModel(m)));
    expect(r.notes).toContain('ai.onnx opset 8 upgraded to 11 (upgrade-opset)');
    expect(r.pipeline.startsWith('upgrade-opset{to=11},insert-weight-binarization')).toBe(true);
    expect(r.layers).toBe(2);
  });

  it('weights from Constant, ConstantOfShape and DequantizeLinear of int8 initializers are folded inside quantize', async () => {
    const m = smallCnn();
    const g = m.graph;
    const conv = g.nodes.find((n) => n.name === 'conv')!;
    const fc = g.nodes.find((n) => n.name === 'fc')!;
    // Conv weight: DequantizeLinear(int8, scale, zero point)
    const q = new Uint8Array(36);
    for (let i = 0; i < 36; i++) q[i] = ((i * 37) % 255) - 127 + 256;
    const w8 = g.addInitializer(Tensor.fromUint8('conv.w8', [4, 1, 3, 3], q, DataType.INT8));
    const dq = g.createNode('DequantizeLinear', [w8, addFloatInit(g, 'conv.s', [], [0.01]), g.addInitializer(Tensor.fromUint8('conv.z', [], Uint8Array.of(0), DataType.INT8))], ['conv.wdq'], { name: 'dq' });
    g.insertBefore(conv, dq);
    conv.setInput(1, dq.outputs[0]!);
    // Gemm weight: Constant node + ConstantOfShape (an offset)
    const k = g.createNode('Constant', [], ['fc.wc'], { name: 'wconst', attributes: { value: A.tensor(Tensor.fromFloat32('fc.wc', [10, 256], randomFloats(2560, 9))) } });
    const shape = g.addInitializer(Tensor.fromInt64('fc.shape', [2], [10, 256]));
    const cos = g.createNode('ConstantOfShape', [shape], ['fc.off'], { name: 'cos', attributes: { value: A.tensor(Tensor.fromFloat32('v', [1], Float32Array.of(0.125))) } });
    const add = g.createNode('Add', [k.outputs[0]!, cos.outputs[0]!], ['fc.wsum'], { name: 'wadd' });
    g.insertBefore(fc, k, cos, add);
    fc.setInput(1, add.outputs[0]!);
    for (const name of ['conv.w', 'fc.w']) g.removeInitializer(g.get(name)!);
    const r = await prepareAndQuantize(m);
    expect(r.notes.join('\n')).toMatch(/2 layer weights are computed from constants \(DequantizeLinear, Add\); folded them \(fold-constants\)/);
    expect(r.pipeline.startsWith('fold-constants,insert-weight-binarization')).toBe(true);
    expect(r.layers).toBe(2);
  });

  it('nodes out of topological order are sorted, with a note', async () => {
    const m = smallCnn();
    m.graph.nodes.reverse();
    const file = decodeModel(encodeModel(m));
    const r = await prepareAndQuantize(file);
    expect(r.notes).toContain('the nodes were not in topological order; sorted them first (topological-sort)');
    expect(r.pipeline.startsWith('topological-sort,insert-weight-binarization')).toBe(true);
    expect(r.layers).toBe(2);
  });

  it('Conv inside an If subgraph stays float with a note; a model with layers only in subgraphs is nothing-to-quantize naming them', async () => {
    const m = smallCnn();
    const g = m.graph;
    const branch = (name: string, seed: number): Graph => {
      const b = new Graph(name, g);
      const w = b.addInitializer(Tensor.fromFloat32(`${name}.w`, [1, 1, 3, 3], randomFloats(9, seed)));
      const c = b.createNode('Conv', [g.get('x')!, w], [`${name}.y`], { name: `${name}/Conv`, attributes: { pads: A.ints([1, 1, 1, 1]) } });
      b.append(c);
      b.outputs.push(c.outputs[0]!);
      setTensorType(c.outputs[0]!, DataType.FLOAT, ['N', 1, 8, 8]);
      return b;
    };
    const cond = g.addInitializer(Tensor.fromUint8('cond', [], Uint8Array.of(1), DataType.BOOL));
    const iff = g.createNode('If', [cond], ['xi'], { name: 'if', attributes: { then_branch: A.graph(branch('then', 1)), else_branch: A.graph(branch('else', 2)) } });
    g.insertBefore(g.nodes[0]!, iff);
    g.nodes.find((n) => n.name === 'conv')!.setInput(0, iff.outputs[0]!);
    const file = decodeModel(encodeModel(m));
    const r = await prepareAndQuantize(file);
    expect(r.notes.join('\n')).toContain('2 Conv/Gemm/MatMul nodes inside If/Loop/Scan subgraphs (first: "then/Conv" (Conv)) stay float: weights inside subgraphs are not supported');
    expect(r.layers).toBe(2);

    // Only the If: nothing to quantize, and the error says why.
    const only = newModel(13);
    const x = addInput(only.graph, 'x', ['N', 1, 8, 8]);
    void x;
    const b2 = (name: string, seed: number): Graph => {
      const b = new Graph(name, only.graph);
      const w = b.addInitializer(Tensor.fromFloat32(`${name}.w`, [1, 1, 3, 3], randomFloats(9, seed)));
      const c = b.createNode('Conv', [only.graph.get('x')!, w], [`${name}.y`], { name: `${name}/Conv` });
      b.append(c);
      b.outputs.push(c.outputs[0]!);
      return b;
    };
    const c2 = only.graph.addInitializer(Tensor.fromUint8('cond', [], Uint8Array.of(1), DataType.BOOL));
    const i2 = addNode(only.graph, 'If', [c2], ['y'], { then_branch: A.graph(b2('then', 1)), else_branch: A.graph(b2('else', 2)) }, { name: 'if' });
    only.graph.outputs.push(i2.outputs[0]!);
    const e = await expectHbnnError(() => prepareForQuantize(decodeModel(encodeModel(only))), ErrorCodes.NOTHING_TO_QUANTIZE);
    expect(e.message).toContain('weights inside subgraphs are not supported by quantize');
  });

  it('the QONNX mnist-conv corpus model (CNTK export, IR 3, opset 8) quantizes and runs', async () => {
    const dir = path.join(REPO_ROOT, 'fixtures/qonnx/mnist-conv');
    const original = loadModel(path.join(dir, 'model.onnx'));
    const m = loadModel(path.join(dir, 'model.onnx'));
    const prep = await prepareForQuantize(m);
    // The prepared float model computes what the original does (up to onnxruntime's summation
    // order: constant weights are prepacked, inputs are not), and the reference output.
    const feed = decodeTensor(fs.readFileSync(path.join(dir, 'test_data_set_0/input_0.pb')));
    const expected = decodeTensor(fs.readFileSync(path.join(dir, 'test_data_set_0/output_0.pb'))).toFloat32();
    const inName = (x: Model) => x.graph.inputs.find((v) => !v.isInitializer)!.name;
    const outOf = async (x: Model) => Array.from((await runModel(x, { [inName(x)]: toOrtTensor(feed) }))[x.graph.outputs[0]!.name]!.data as Float32Array);
    const prepared = await outOf(m);
    const orig = await outOf(original);
    prepared.forEach((v, i) => expect(Math.abs(v - orig[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(orig[i]!))));
    prepared.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-3 + 1e-3 * Math.abs(expected[i]!)));
    expect(prep.notes.join('\n')).toMatch(/initializers are also graph inputs/);
    expect(prep.notes.join('\n')).toContain('ai.onnx opset 8 upgraded to 11');
    const r = await quantize(m, { avgBits: 1.4 }, prep);
    expect(r.record.weights.length).toBeGreaterThanOrEqual(3);
    const input = m.graph.inputs.find((v) => !v.isInitializer)!;
    const res = await runModel(m, { [input.name]: floatFeed(randomFloats(784, 2), [1, 1, 28, 28]) });
    expect(res[m.graph.outputs[0]!.name]!.dims).toEqual([1, 10]);
  });
});
