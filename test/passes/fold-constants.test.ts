import { describe, expect, it } from 'vitest';
import { foldConstants } from '../../passes/fold-constants.js';
import { Pipeline, PassRegistry, type RunReport } from '../../src/pass/manager.js';
import { loadModel } from '../../src/onnx/io.js';
import { Graph, type Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { setTensorType } from '../../src/ir/types.js';
import { printModel } from '../../src/ir/printer.js';
import {
  A,
  FMNIST_CNN,
  FMNIST_MLP,
  addFloatInit,
  addInput,
  addInt64Init,
  addNode,
  cloneModel,
  floatFeed,
  maxAbsDiff,
  newModel,
  randomFloats,
  runModel,
} from '../helpers/build.js';

const registry = new PassRegistry().register(foldConstants);
const run = (m: Model, opts = ''): Promise<RunReport> => Pipeline.parse(`fold-constants${opts}`, registry).run(m);

/**
 * y = Add(x, Reshape(W, Concat(Unsqueeze(Gather(Shape(W), 0)), [-1]))) + Add(c1, c2):
 * everything except the final Adds with x is constant.
 */
function shapeChainModel(): Model {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', [2, 12]);
  const w = addFloatInit(g, 'W', [2, 3, 4]);
  const s = addNode(g, 'Shape', [w], ['s']).outputs[0]!;
  const n0 = addNode(g, 'Gather', [s, addInt64Init(g, 'zero', [], [0])], ['n0'], { axis: A.int(0) }).outputs[0]!;
  const u = addNode(g, 'Unsqueeze', [n0, addInt64Init(g, 'axes', [1], [0])], ['u']).outputs[0]!;
  const minus1 = addNode(g, 'Constant', [], ['minus1'], { value_ints: A.ints([-1]) }).outputs[0]!;
  const c = addNode(g, 'Concat', [u, minus1], ['c'], { axis: A.int(0) }).outputs[0]!;
  const r = addNode(g, 'Reshape', [w, c], ['r']).outputs[0]!;
  const sum = addNode(g, 'Add', [addFloatInit(g, 'c1', [12]), addFloatInit(g, 'c2', [12])], ['sum']).outputs[0]!;
  const y1 = addNode(g, 'Add', [x, r], ['y1'], {}, { name: 'live1' }).outputs[0]!;
  const y = addNode(g, 'Add', [y1, sum], ['y'], {}, { name: 'live2' }).outputs[0]!;
  g.setOutput(0, y);
  return m;
}

describe('fold-constants', () => {
  it('folds a Shape→Gather→Unsqueeze→Concat→Reshape chain and an Add of constants', async () => {
    const m = shapeChainModel();
    const x = randomFloats(24, 2);
    const before = await runModel(cloneModel(m), { x: floatFeed(x, [2, 12]) });
    const rep = await run(m);
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['live1', 'live2']);
    expect(rep.passes[0]!.stats.folded).toBe(6);
    expect(rep.passes[0]!.stats['constant-nodes']).toBe(1);
    expect(rep.properties).toContain('constants-folded');
    const r = m.graph.get('r')!;
    expect(r.isInitializer).toBe(true);
    expect(r.constValue!.dims).toEqual([2, 12]);
    expect(m.graph.get('c')!.constValue!.toNumberArray()).toEqual([2, -1]);
    expect(m.graph.get('sum')!.constValue!.dims).toEqual([12]);
    const after = await runModel(m, { x: floatFeed(x, [2, 12]) });
    expect(maxAbsDiff(before.y!.data as Float32Array, after.y!.data as Float32Array)).toBe(0);
    // a second run finds nothing to do
    expect((await run(m)).passes[0]!.changed).toBe(false);
  });

  it('constant-nodes=false keeps Constant nodes but still folds what reads them', async () => {
    const m = shapeChainModel();
    await run(m, '{constant-nodes=false}');
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Constant', 'Add', 'Add']);
    expect(m.graph.get('r')!.isInitializer).toBe(true);
  });

  it('does not treat initializers that are graph inputs as constants', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [3]);
    const w = g.addInput('w');
    w.constValue = Tensor.fromFloat32('w', [3], Float32Array.of(1, 2, 3));
    g.initializers.set('w', w);
    setTensorType(w, DataType.FLOAT, [3]);
    const n = addNode(g, 'Neg', [w], ['negw']);
    g.setOutput(0, addNode(g, 'Add', [x, n.outputs[0]!], ['y']).outputs[0]!);
    const rep = await run(m);
    expect(rep.passes[0]!.changed).toBe(false);
    expect(g.nodes).toContain(n);
  });

  it('skips random ops, nodes with subgraphs, and outputs above max-elements', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [4]);
    const rnd = addNode(g, 'RandomNormal', [], ['rnd'], { shape: A.ints([4]) }, { name: 'random' });
    const cond = g.addInitializer(Tensor.fromUint8('cond', [], Uint8Array.of(1), DataType.BOOL));
    const thenG = new Graph('then', g);
    thenG.setOutput(0, thenG.append(thenG.createNode('Constant', [], ['t'], { attributes: { value_floats: A.floats([1, 1, 1, 1]) } })).outputs[0]!);
    const elseG = new Graph('else', g);
    elseG.setOutput(0, elseG.append(elseG.createNode('Constant', [], ['e'], { attributes: { value_floats: A.floats([2, 2, 2, 2]) } })).outputs[0]!);
    const ifn = addNode(g, 'If', [cond], ['branch'], { then_branch: A.graph(thenG), else_branch: A.graph(elseG) }, { name: 'if' });
    const big = addNode(g, 'ConstantOfShape', [addInt64Init(g, 'bigshape', [1], [100])], ['big'], {}, { name: 'big' });
    const small = addNode(g, 'ConstantOfShape', [addInt64Init(g, 'smallshape', [1], [4])], ['small'], {}, { name: 'small' });
    const sliceBig = addNode(g, 'Slice', [big.outputs[0]!, addInt64Init(g, 's0', [1], [0]), addInt64Init(g, 's1', [1], [4])], ['bigslice'], {}, { name: 'slice' });
    let acc = x;
    for (const v of [rnd.outputs[0]!, ifn.outputs[0]!, small.outputs[0]!, sliceBig.outputs[0]!]) acc = addNode(g, 'Add', [acc, v], [g.uniqueName('acc')]).outputs[0]!;
    g.setOutput(0, acc);
    const rep = await run(m, '{max-elements=50}');
    const left = g.nodes.map((n) => n.name).filter((n) => n);
    expect(left).toEqual(['random', 'if', 'big']); // slice read `big` before folding and is folded
    expect(g.get('small')!.isInitializer).toBe(true);
    expect(g.get('bigslice')!.isInitializer).toBe(true);
    expect(rep.passes[0]!.stats['skipped-random']).toBe(1);
    expect(rep.passes[0]!.stats['skipped-subgraph']).toBe(1);
    expect(rep.passes[0]!.stats['skipped-too-large']).toBe(1);
  });

  it('respects the model opset: Squeeze with an axes attribute folds at opset 11', async () => {
    const m = newModel(11, 6n);
    const g = m.graph;
    const x = addInput(g, 'x', [3]);
    const sq = addNode(g, 'Squeeze', [addFloatInit(g, 'w', [1, 3], [1, 2, 3])], ['sq'], { axes: A.ints([0]) });
    g.setOutput(0, addNode(g, 'Add', [x, sq.outputs[0]!], ['y']).outputs[0]!);
    await run(m);
    expect(g.get('sq')!.constValue!.dims).toEqual([3]);
    expect(Array.from(g.get('sq')!.constValue!.toFloat32())).toEqual([1, 2, 3]);
  });

  it('falls back to one node at a time when the whole constant subgraph cannot run', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const ok = addNode(g, 'Neg', [addFloatInit(g, 'a', [2], [1, 2])], ['ok'], {}, { name: 'ok' });
    // Cast to bfloat16: onnxruntime-node cannot hand bfloat16 back to JavaScript
    const bad = addNode(g, 'Cast', [addFloatInit(g, 'b', [2])], ['bad'], { to: A.int(DataType.BFLOAT16) }, { name: 'bad' });
    const back = addNode(g, 'Cast', [bad.outputs[0]!], ['back'], { to: A.int(DataType.FLOAT) }, { name: 'back' });
    const y = addNode(g, 'Add', [x, ok.outputs[0]!], ['y1']).outputs[0]!;
    g.setOutput(0, addNode(g, 'Add', [y, back.outputs[0]!], ['y']).outputs[0]!);
    const rep = await run(m);
    expect(g.get('ok')!.isInitializer).toBe(true);
    expect(g.nodes.map((n) => n.name).filter((n) => n)).toEqual(['bad', 'back']);
    expect(rep.passes[0]!.stats['not-evaluable']).toBeGreaterThanOrEqual(1);
    const out = await runModel(m, { x: floatFeed(Float32Array.of(10, 20), [2]) });
    expect(out.y!.dims).toEqual([2]);
  });

  it('a folded graph output keeps its name and type', async () => {
    const m = newModel(13);
    const g = m.graph;
    const n = addNode(g, 'Neg', [addFloatInit(g, 'a', [2], [1, 2])], ['out']);
    setTensorType(n.outputs[0]!, DataType.FLOAT, [2]);
    g.setOutput(0, n.outputs[0]!);
    await run(m);
    expect(g.nodes).toHaveLength(0);
    expect(g.outputs[0]!.name).toBe('out');
    expect(Array.from(g.outputs[0]!.constValue!.toFloat32())).toEqual([-1, -2]);
  });

  it('leaves fmnist models unchanged in structure and behaviour', async () => {
    for (const file of [FMNIST_CNN(), FMNIST_MLP()]) {
      const original = loadModel(file);
      const m = loadModel(file);
      const rep = await run(m);
      expect(rep.passes[0]!.changed).toBe(false);
      expect(printModel(m)).toBe(printModel(original));
      const x = randomFloats(3 * 784, 9);
      const a = await runModel(original, { input: floatFeed(x, [3, 1, 28, 28]) });
      const b = await runModel(m, { input: floatFeed(x, [3, 1, 28, 28]) });
      expect(maxAbsDiff(a.logits!.data as Float32Array, b.logits!.data as Float32Array)).toBe(0);
    }
  });
});
