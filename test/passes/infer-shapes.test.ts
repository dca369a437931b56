import { describe, expect, it } from 'vitest';
import { inferShapes } from '../../passes/infer-shapes.js';
import { Pipeline, PassRegistry, type RunReport } from '../../src/pass/manager.js';
import { loadModel } from '../../src/onnx/io.js';
import { tensorTypeOf, setTensorType, type Dim } from '../../src/ir/types.js';
import { DataType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { ErrorCodes } from '../../src/errors.js';
import type { Model, Value } from '../../src/ir/graph.js';
import {
  A,
  FMNIST_CNN,
  FMNIST_MLP,
  MNIST_CONV,
  addFloatInit,
  addInput,
  addInt64Init,
  addNode,
  cloneModel,
  expectHbnnError,
  floatFeed,
  newModel,
  randomFloats,
  runModel,
} from '../helpers/build.js';

const registry = new PassRegistry().register(inferShapes);

async function infer(m: Model, options = ''): Promise<RunReport> {
  return Pipeline.parse(`infer-shapes${options}`, registry).run(m);
}

function shapeOf(v: Value): Dim[] | undefined {
  return tensorTypeOf(v)?.shape;
}

/** Removes every type that is not on a graph input or output (value_info from the file). */
function stripIntermediateTypes(m: Model): void {
  for (const n of m.graph.nodes) for (const o of n.outputs) if (!o.isGraphOutput) o.type = undefined;
}

/**
 * Infers shapes, then runs the original model in onnxruntime with every intermediate as an
 * extra output and checks each inferred dim against the real one (symbolic `N` = batch).
 */
async function checkAgainstOrt(file: string, inputDims: number[], batchSymbol?: string): Promise<number> {
  const m = loadModel(file);
  stripIntermediateTypes(m);
  const report = await infer(m);
  expect(report.passes[0]!.stats['unknown-op'] ?? 0).toBe(0);
  const probe = loadModel(file);
  stripIntermediateTypes(probe);
  for (const n of probe.graph.nodes) for (const o of n.outputs) if (o.name && !o.isGraphOutput) probe.graph.setOutput(probe.graph.outputs.length, o);
  const inputName = probe.graph.inputs.find((v) => !v.isInitializer)!.name;
  const size = inputDims.reduce((a, b) => a * b, 1);
  const real = await runModel(probe, { [inputName]: floatFeed(randomFloats(size, 3), inputDims) });
  let checked = 0;
  for (const n of m.graph.nodes) {
    for (const o of n.outputs) {
      if (!o.name) continue;
      const t = tensorTypeOf(o);
      expect(t, `type of ${o.name}`).toBeDefined();
      expect(t!.elemType, `elem type of ${o.name}`).toBe(real[o.name]!.type === 'float32' ? DataType.FLOAT : DataType.INT64);
      const dims = t!.shape!;
      expect(dims, `shape of ${o.name}`).toBeDefined();
      const concrete = dims.map((d) => (d === batchSymbol ? inputDims[0] : d));
      expect(concrete, `dims of ${o.name}`).toEqual([...real[o.name]!.dims]);
      checked++;
    }
  }
  return checked;
}

describe('infer-shapes on real models, checked against onnxruntime', () => {
  it('fmnist-cnn: every intermediate is typed, N propagates, dims equal ORT', async () => {
    expect(await checkAgainstOrt(FMNIST_CNN(), [3, 1, 28, 28], 'N')).toBe(15);
    const m = loadModel(FMNIST_CNN());
    await infer(m);
    expect(shapeOf(m.graph.get('/Flatten_output_0')!)).toEqual(['N', 1152]);
  });

  it('fmnist-mlp: every intermediate is typed, dims equal ORT', async () => {
    expect(await checkAgainstOrt(FMNIST_MLP(), [2, 1, 28, 28], 'N')).toBe(8);
  });

  it('qonnx mnist-conv (opset 8, SAME_UPPER convs, Reshape from initializers): dims equal ORT', async () => {
    expect(await checkAgainstOrt(MNIST_CONV(), [1, 1, 28, 28])).toBe(12);
  });

  it('a second run changes nothing', async () => {
    const m = loadModel(FMNIST_CNN());
    expect((await infer(m)).passes[0]!.changed).toBe(true);
    const r = await infer(m);
    expect(r.passes[0]!.changed).toBe(false);
    expect(r.properties).toContain('shapes-inferred');
  });
});

/** One-node model over a typed input; returns the output's inferred shape. */
async function inferOne(
  op: string,
  inShape: Dim[],
  attrs: Parameters<typeof addNode>[4] = {},
  more: (m: Model) => (Value | null)[] = () => [],
  opset = 13,
  nOut = 1,
): Promise<(Dim[] | undefined)[]> {
  const m = newModel(opset);
  const x = addInput(m.graph, 'x', inShape);
  const n = addNode(m.graph, op, [x, ...more(m)], Array.from({ length: nOut }, (_, i) => `y${i}`), attrs);
  m.graph.setOutput(0, n.outputs[0]!);
  await infer(m);
  return n.outputs.map(shapeOf);
}

/** Runs a single-node model in ORT on zeros and returns the real output dims. */
async function ortDims(op: string, inShape: number[], attrs: Parameters<typeof addNode>[4], opset = 19): Promise<number[]> {
  const m = newModel(opset);
  const x = addInput(m.graph, 'x', inShape);
  const n = addNode(m.graph, op, [x], ['y'], attrs);
  m.graph.setOutput(0, n.outputs[0]!);
  const r = await runModel(m, { x: floatFeed(new Float32Array(inShape.reduce((a, b) => a * b, 1)), inShape) });
  return [...r.y!.dims];
}

describe('infer-shapes per-operator cases', () => {
  it('Conv: auto_pad SAME_UPPER / SAME_LOWER / VALID, strides, dilations, group', async () => {
    const w = (dims: number[]) => (m: Model) => [addFloatInit(m.graph, 'w', dims)];
    expect((await inferOne('Conv', ['N', 4, 11, 11], { auto_pad: A.str('SAME_UPPER'), strides: A.ints([2, 2]) }, w([8, 4, 3, 3])))[0]).toEqual(['N', 8, 6, 6]);
    expect((await inferOne('Conv', [1, 4, 11, 10], { auto_pad: A.str('SAME_LOWER'), strides: A.ints([3, 3]) }, w([8, 4, 3, 3])))[0]).toEqual([1, 8, 4, 4]);
    expect((await inferOne('Conv', [1, 4, 11, 10], { auto_pad: A.str('VALID'), strides: A.ints([2, 1]) }, w([8, 4, 3, 3])))[0]).toEqual([1, 8, 5, 8]);
    expect((await inferOne('Conv', [1, 4, 11, 11], { dilations: A.ints([2, 3]), pads: A.ints([1, 0, 1, 0]) }, w([8, 4, 3, 3])))[0]).toEqual([1, 8, 9, 5]);
    expect((await inferOne('Conv', [2, 6, 8, 8], { group: A.int(3) }, w([9, 2, 1, 1])))[0]).toEqual([2, 9, 8, 8]);
    // spatial symbolic dims survive a 1x1 stride-1 convolution and become unknown otherwise
    expect((await inferOne('Conv', ['N', 4, 'H', 'W'], {}, w([8, 4, 1, 1])))[0]).toEqual(['N', 8, 'H', 'W']);
    expect((await inferOne('Conv', ['N', 4, 'H', 'W'], {}, w([8, 4, 3, 3])))[0]).toEqual(['N', 8, null, null]);
  });

  it('Conv shapes agree with onnxruntime for auto_pad modes', async () => {
    for (const [mode, s] of [['SAME_UPPER', 2], ['SAME_LOWER', 3], ['VALID', 2], ['NOTSET', 2]] as const) {
      const m = newModel(13);
      const x = addInput(m.graph, 'x', [1, 2, 13, 9]);
      const n = addNode(m.graph, 'Conv', [x, addFloatInit(m.graph, 'w', [3, 2, 3, 2])], ['y'], { auto_pad: A.str(mode), strides: A.ints([s, s]) });
      m.graph.setOutput(0, n.outputs[0]!);
      const real = await runModel(cloneModel(m), { x: floatFeed(new Float32Array(2 * 13 * 9), [1, 2, 13, 9]) });
      await infer(m);
      expect(shapeOf(n.outputs[0]!), mode).toEqual([...real.y!.dims]);
    }
  });

  it('MaxPool / AveragePool with ceil_mode, pads and dilations match onnxruntime', async () => {
    const cases: [number, number, number, [number, number], number][] = [
      [8, 3, 3, [1, 1], 1], // last window would start in the end padding: dropped
      [7, 2, 2, [0, 0], 1],
      [7, 3, 2, [1, 1], 2],
      [5, 3, 2, [1, 1], 1],
      [10, 3, 4, [0, 1], 1],
    ];
    for (const op of ['MaxPool', 'AveragePool']) {
      for (const [len, k, s, pads, dil] of cases) {
        for (const ceil of [0, 1]) {
          const attrs = { kernel_shape: A.ints([k]), strides: A.ints([s]), pads: A.ints(pads), ceil_mode: A.int(ceil), dilations: A.ints([dil]) };
          const real = await ortDims(op, [1, 2, len], attrs);
          const got = (await inferOne(op, [1, 2, len], attrs, () => [], 19))[0];
          expect(got, `${op} len=${len} k=${k} s=${s} pads=${pads} ceil=${ceil} dil=${dil}`).toEqual(real);
        }
      }
    }
  });

  it('Reshape with 0 and -1, from an initializer and from a Shape/Gather/Concat chain', async () => {
    const shape = (vals: number[]) => (m: Model) => [addInt64Init(m.graph, 's', [vals.length], vals)];
    expect((await inferOne('Reshape', [2, 3, 4], {}, shape([0, -1])))[0]).toEqual([2, 12]);
    expect((await inferOne('Reshape', ['N', 3, 4], {}, shape([0, 2, -1])))[0]).toEqual(['N', 2, 6]);
    expect((await inferOne('Reshape', ['N', 3, 4], {}, shape([-1, 12])))[0]).toEqual(['N', 12]);
    expect((await inferOne('Reshape', ['N', 3, 4], {}, shape([-1, 6])))[0]).toEqual([null, 6]);
    expect((await inferOne('Reshape', [2, 3, 4], {}, shape([4, 0, 2])))[0]).toEqual([4, 3, 2]);
    // allowzero=1 (opset 14): 0 is a real zero-sized dim
    expect((await inferOne('Reshape', [0, 3], { allowzero: A.int(1) }, shape([3, 0]), 14))[0]).toEqual([3, 0]);
    // the PyTorch flatten idiom: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', ['N', 8, 2, 2]);
    const s = addNode(g, 'Shape', [x], ['s']).outputs[0]!;
    const n0 = addNode(g, 'Gather', [s, addInt64Init(g, 'zero', [], [0])], ['n0'], { axis: A.int(0) }).outputs[0]!;
    const u = addNode(g, 'Unsqueeze', [n0, addInt64Init(g, 'ax0', [1], [0])], ['u']).outputs[0]!;
    const c = addNode(g, 'Concat', [u, addInt64Init(g, 'minus1', [1], [-1])], ['c'], { axis: A.int(0) }).outputs[0]!;
    const y = addNode(g, 'Reshape', [x, c], ['y']).outputs[0]!;
    g.setOutput(0, y);
    await infer(m);
    expect(shapeOf(s)).toEqual([4]);
    expect(shapeOf(n0)).toEqual([]);
    expect(shapeOf(u)).toEqual([1]);
    expect(shapeOf(c)).toEqual([2]);
    expect(shapeOf(y)).toEqual(['N', 32]);
  });

  it('Reshape whose sizes do not match is a contradiction (error only with strict)', async () => {
    const build = () => {
      const m = newModel(13);
      const x = addInput(m.graph, 'x', [2, 3]);
      const n = addNode(m.graph, 'Reshape', [x, addInt64Init(m.graph, 's', [1], [7])], ['y'], {}, { name: 'bad_reshape' });
      m.graph.setOutput(0, n.outputs[0]!);
      return { m, n };
    };
    const a = build();
    const r = await infer(a.m);
    expect(r.passes[0]!.stats.contradiction).toBe(1);
    expect(tensorTypeOf(a.n.outputs[0]!)).toBeUndefined();
    const b = build();
    const err = await expectHbnnError(() => infer(b.m, '{strict=true}'), ErrorCodes.SHAPE_INFERENCE);
    expect(err.message).toContain('bad_reshape');
  });

  it('Gemm with transA / transB and bias broadcasting', async () => {
    const b = (dims: number[]) => (m: Model) => [addFloatInit(m.graph, 'b', dims)];
    expect((await inferOne('Gemm', ['N', 5], { transB: A.int(1) }, b([7, 5])))[0]).toEqual(['N', 7]);
    expect((await inferOne('Gemm', [5, 'N'], { transA: A.int(1) }, b([5, 7])))[0]).toEqual(['N', 7]);
    expect((await inferOne('Gemm', [5, 3], { transA: A.int(1), transB: A.int(1) }, b([7, 5])))[0]).toEqual([3, 7]);
    const m = newModel(13);
    const x = addInput(m.graph, 'x', [4, 5]);
    m.graph.setOutput(0, addNode(m.graph, 'Gemm', [x, addFloatInit(m.graph, 'b', [7, 5])], ['y'], {}, { name: 'g1' }).outputs[0]!);
    const err = await expectHbnnError(() => infer(m, '{strict=1}'), ErrorCodes.SHAPE_INFERENCE);
    expect(err.message).toMatch(/g1.*inner dimension K/);
  });

  it('MatMul: batch broadcasting and rank-1 operands', async () => {
    const b = (dims: number[]) => (m: Model) => [addFloatInit(m.graph, 'b', dims)];
    expect((await inferOne('MatMul', ['N', 1, 4, 5], {}, b([3, 5, 6])))[0]).toEqual(['N', 3, 4, 6]);
    expect((await inferOne('MatMul', [5], {}, b([5, 6])))[0]).toEqual([6]);
    expect((await inferOne('MatMul', [2, 4, 5], {}, b([5])))[0]).toEqual([2, 4]);
  });

  it('Add / Mul broadcasting: numpy rules, symbolic dims, contradictions', async () => {
    const c = (dims: number[]) => (m: Model) => [addFloatInit(m.graph, 'c', dims)];
    expect((await inferOne('Add', ['N', 8, 5, 5], {}, c([8, 1, 1])))[0]).toEqual(['N', 8, 5, 5]);
    expect((await inferOne('Mul', [3, 1], {}, c([1, 4])))[0]).toEqual([3, 4]);
    expect((await inferOne('Sub', ['N', 1], {}, c([6])))[0]).toEqual(['N', 6]);
    expect((await inferOne('Div', [], {}, c([2, 3])))[0]).toEqual([2, 3]);
    const m = newModel(13);
    const x = addInput(m.graph, 'x', ['N', 'C']);
    const y = addInput(m.graph, 'y', ['N', 'D']);
    const z = addNode(m.graph, 'Add', [x, y], ['z']).outputs[0]!;
    m.graph.setOutput(0, z);
    await infer(m);
    expect(shapeOf(z)).toEqual(['N', null]);
    expect((await inferOne('Add', [3, 4], {}, c([5])))[0]).toBeUndefined();
  });

  it('Squeeze / Unsqueeze: axes as attribute (opset 11) and as input (opset 13)', async () => {
    expect((await inferOne('Squeeze', ['N', 1, 4, 1], { axes: A.ints([1, -1]) }, () => [], 11))[0]).toEqual(['N', 4]);
    expect((await inferOne('Squeeze', ['N', 1, 4, 1], {}, (m) => [addInt64Init(m.graph, 'axes', [2], [1, -1])], 13))[0]).toEqual(['N', 4]);
    expect((await inferOne('Squeeze', [1, 3, 1], {}, () => [], 13))[0]).toEqual([3]);
    expect((await inferOne('Squeeze', ['N', 3, 1], {}, () => [], 13))[0]).toBeUndefined(); // which dims are 1 is unknown
    // opset 13: axes from a Constant node
    const m = newModel(13);
    const x = addInput(m.graph, 'x', [2, 1, 3]);
    const ax = addNode(m.graph, 'Constant', [], ['axes'], { value: A.tensor(Tensor.fromInt64('', [1], [1])) }).outputs[0]!;
    const y = addNode(m.graph, 'Squeeze', [x, ax], ['y']).outputs[0]!;
    m.graph.setOutput(0, y);
    await infer(m);
    expect(shapeOf(y)).toEqual([2, 3]);
    expect((await inferOne('Unsqueeze', ['N', 4], { axes: A.ints([0, 3]) }, () => [], 11))[0]).toEqual([1, 'N', 4, 1]);
    expect((await inferOne('Unsqueeze', ['N', 4], {}, (mm) => [addInt64Init(mm.graph, 'axes', [2], [-1, 1])], 13))[0]).toEqual(['N', 1, 4, 1]);
    // axes input not constant: the rank is still known
    const m2 = newModel(13);
    const x2 = addInput(m2.graph, 'x', [2, 3]);
    const axes = addInput(m2.graph, 'axes', [2], DataType.INT64);
    const y2 = addNode(m2.graph, 'Unsqueeze', [x2, axes], ['y']).outputs[0]!;
    m2.graph.setOutput(0, y2);
    await infer(m2);
    expect(shapeOf(y2)).toEqual([null, null, null, null]);
  });

  it('Pad (attribute before 11, input after, axes in 18), Split (attribute vs input, num_outputs)', async () => {
    expect((await inferOne('Pad', ['N', 3, 4, 4], { pads: A.ints([0, 0, 1, 2, 0, 0, 1, 2]) }, () => [], 10))[0]).toEqual(['N', 3, 6, 8]);
    expect((await inferOne('Pad', ['N', 3, 4, 4], {}, (m) => [addInt64Init(m.graph, 'p', [8], [0, 0, 1, 2, 0, 0, 3, 0])], 13))[0]).toEqual(['N', 3, 8, 6]);
    expect((await inferOne('Pad', [1, 3, 4, 4], {}, (m) => [addInt64Init(m.graph, 'p', [4], [1, 1, 2, 2]), null, addInt64Init(m.graph, 'a', [2], [-2, -1])], 18))[0]).toEqual([1, 3, 7, 7]);
    expect(await inferOne('Split', [6, 'N'], { split: A.ints([2, 4]) }, () => [], 11, 2)).toEqual([[2, 'N'], [4, 'N']]);
    expect(await inferOne('Split', [6, 'N'], {}, (m) => [addInt64Init(m.graph, 'sp', [2], [1, 5])], 13, 2)).toEqual([[1, 'N'], [5, 'N']]);
    expect(await inferOne('Split', [2, 9], { axis: A.int(-1) }, () => [], 13, 3)).toEqual([[2, 3], [2, 3], [2, 3]]);
    expect(await inferOne('Split', [10], { num_outputs: A.int(3) }, () => [], 18, 3)).toEqual([[4], [4], [2]]);
  });

  it('Flatten, Transpose, Concat, GlobalAveragePool, Gather, Shape(start,end), ConvTranspose', async () => {
    expect((await inferOne('Flatten', ['N', 2, 3, 4], { axis: A.int(2) }))[0]).toEqual([null, 12]);
    expect((await inferOne('Flatten', ['N', 2, 3, 4], { axis: A.int(-3) }))[0]).toEqual(['N', 24]);
    expect((await inferOne('Flatten', [2, 3], { axis: A.int(0) }))[0]).toEqual([1, 6]);
    expect((await inferOne('Transpose', ['N', 2, 3], { perm: A.ints([2, 0, 1]) }))[0]).toEqual([3, 'N', 2]);
    expect((await inferOne('Transpose', ['N', 2, 3]))[0]).toEqual([3, 2, 'N']);
    expect((await inferOne('Concat', ['N', 2, 3], { axis: A.int(-2) }, (m) => [addInput(m.graph, 'c', ['N', 5, 3])]))[0]).toEqual(['N', 7, 3]);
    // a static dim on one input pins the symbolic one on the other
    expect((await inferOne('Concat', ['N', 2, 3], { axis: A.int(1) }, (m) => [addFloatInit(m.graph, 'c', [1, 5, 3])]))[0]).toEqual([1, 7, 3]);
    expect((await inferOne('GlobalAveragePool', ['N', 16, 7, 7]))[0]).toEqual(['N', 16, 1, 1]);
    expect((await inferOne('Gather', [5, 'N', 3], { axis: A.int(1) }, (m) => [addInt64Init(m.graph, 'i', [2, 2], [0, 1, 1, 0])]))[0]).toEqual([5, 2, 2, 3]);
    expect((await inferOne('Shape', ['N', 2, 3, 4], { start: A.int(1), end: A.int(-1) }, () => [], 15))[0]).toEqual([2]);
    expect((await inferOne('ConvTranspose', ['N', 4, 5, 5], { strides: A.ints([2, 2]), pads: A.ints([1, 1, 1, 1]), output_padding: A.ints([1, 1]) }, (m) => [addFloatInit(m.graph, 'w', [4, 3, 3, 3])]))[0]).toEqual(['N', 3, 10, 10]);
    expect((await inferOne('ConvTranspose', [1, 4, 5, 5], { strides: A.ints([2, 2]), auto_pad: A.str('SAME_UPPER'), group: A.int(2) }, (m) => [addFloatInit(m.graph, 'w', [4, 3, 3, 3])]))[0]).toEqual([1, 6, 10, 10]);
  });

  it('Dropout mask is bool from opset 10, Constant forms, Cast, BatchNormalization, unary ops keep shape', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', ['N', 4]);
    const d = addNode(g, 'Dropout', [x], ['d', 'mask']);
    const c = addNode(g, 'Constant', [], ['c'], { value_floats: A.floats([1, 2, 3]) }).outputs[0]!;
    const ci = addNode(g, 'Constant', [], ['ci'], { value_int: A.int(3) }).outputs[0]!;
    const cast = addNode(g, 'Cast', [x], ['xi'], { to: A.int(DataType.INT32) }).outputs[0]!;
    const bn = addNode(g, 'BatchNormalization', [x, ...['s', 'b', 'mu', 'var'].map((n) => addFloatInit(g, n, [4]))], ['bn']).outputs[0]!;
    const chain = ['Relu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'LeakyRelu', 'Softmax', 'LogSoftmax', 'Identity', 'Clip'].reduce((v, op, i) => addNode(g, op, [v], [`u${i}`]).outputs[0]!, bn);
    g.setOutput(0, chain);
    await infer(m);
    expect(tensorTypeOf(d.outputs[1]!)).toEqual({ elemType: DataType.BOOL, shape: ['N', 4] });
    expect(tensorTypeOf(c)).toEqual({ elemType: DataType.FLOAT, shape: [3] });
    expect(tensorTypeOf(ci)).toEqual({ elemType: DataType.INT64, shape: [] });
    expect(tensorTypeOf(cast)).toEqual({ elemType: DataType.INT32, shape: ['N', 4] });
    expect(tensorTypeOf(chain)).toEqual({ elemType: DataType.FLOAT, shape: ['N', 4] });
  });

  it('unknown operators: outputs untyped with a statistic; strict names the node', async () => {
    const build = () => {
      const m = newModel(13);
      const x = addInput(m.graph, 'x', [2, 3]);
      const n = addNode(m.graph, 'Frobnicate', [x], ['y'], {}, { domain: 'com.example', name: 'frob' });
      const r = addNode(m.graph, 'Relu', [n.outputs[0]!], ['z']);
      m.graph.setOutput(0, r.outputs[0]!);
      m.opsetImports.push({ domain: 'com.example', version: 1 });
      return { m, n, r };
    };
    const a = build();
    const rep = await infer(a.m);
    expect(rep.passes[0]!.stats['unknown-op']).toBe(1);
    expect(a.n.outputs[0]!.type).toBeUndefined();
    expect(a.r.outputs[0]!.type).toBeUndefined();
    const err = await expectHbnnError(() => infer(build().m, '{strict=true}'), ErrorCodes.SHAPE_INFERENCE);
    expect(err.message).toContain('frob');
  });

  it('declared types: kept when more specific, a static contradiction names the node', async () => {
    const m = newModel(13);
    const x = addInput(m.graph, 'x', ['N', 4]);
    const y = addNode(m.graph, 'Relu', [x], ['y'], {}, { name: 'r' }).outputs[0]!;
    m.graph.setOutput(0, y);
    setTensorType(y, DataType.FLOAT, [8, 4]); // more specific than ['N', 4]
    await infer(m);
    expect(shapeOf(y)).toEqual([8, 4]);
    const m2 = newModel(13);
    const x2 = addInput(m2.graph, 'x', [2, 4]);
    const y2 = addNode(m2.graph, 'Relu', [x2], ['y'], {}, { name: 'relu_out' }).outputs[0]!;
    m2.graph.setOutput(0, y2);
    setTensorType(y2, DataType.FLOAT, [3, 'M']);
    const err = await expectHbnnError(() => infer(m2), ErrorCodes.SHAPE_INFERENCE);
    expect(err.message).toContain('relu_out');
    // the declared symbolic name survives; the static dim fills in the unknown one
    const m3 = newModel(13);
    const x3 = addInput(m3.graph, 'x', ['N', 4]);
    const y3 = addNode(m3.graph, 'Relu', [x3], ['y']).outputs[0]!;
    m3.graph.setOutput(0, y3);
    setTensorType(y3, DataType.FLOAT, ['batch', null]);
    await infer(m3);
    expect(shapeOf(y3)).toEqual(['batch', 4]);
  });

  it('infers inside subgraphs, using outer values', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2, 3]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const { Graph } = await import('../../src/ir/graph.js');
    const thenG = new Graph('then', g);
    const t = thenG.append(thenG.createNode('Relu', [x], ['t_out'])).outputs[0]!;
    thenG.setOutput(0, t);
    const elseG = new Graph('else', g);
    const e = elseG.append(elseG.createNode('Sigmoid', [x], ['e_out'])).outputs[0]!;
    elseG.setOutput(0, e);
    const ifn = addNode(g, 'If', [cond], ['y'], { then_branch: A.graph(thenG), else_branch: A.graph(elseG) });
    g.setOutput(0, ifn.outputs[0]!);
    const r = await infer(m);
    expect(shapeOf(t)).toEqual([2, 3]);
    expect(shapeOf(e)).toEqual([2, 3]);
    expect(r.passes[0]!.stats['unknown-op']).toBe(1); // If itself
  });
});
