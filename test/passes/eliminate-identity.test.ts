import { describe, expect, it } from 'vitest';
import { eliminateIdentity } from '../../passes/eliminate-identity.js';
import { Pipeline, PassRegistry, type RunReport } from '../../src/pass/manager.js';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { Graph, type Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { setTensorType, tensorTypeOf } from '../../src/ir/types.js';
import { A, addInput, addNode, floatFeed, maxAbsDiff, newModel, randomFloats, runModel } from '../helpers/build.js';

const registry = new PassRegistry().register(eliminateIdentity);
const run = (m: Model): Promise<RunReport> => Pipeline.parse('eliminate-identity', registry).run(m);

describe('eliminate-identity', () => {
  it('rewires consumers of an Identity to its input (rule 1)', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const r = addNode(g, 'Relu', [x], ['r']);
    const id = addNode(g, 'Identity', [r.outputs[0]!], ['id']);
    const a = addNode(g, 'Neg', [id.outputs[0]!], ['a']);
    const b = addNode(g, 'Add', [id.outputs[0]!, id.outputs[0]!], ['b']);
    g.setOutput(0, a.outputs[0]!);
    g.setOutput(1, b.outputs[0]!);
    const rep = await run(m);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Relu', 'Neg', 'Add']);
    expect(a.inputs[0]).toBe(r.outputs[0]);
    expect(b.inputs).toEqual([r.outputs[0], r.outputs[0]]);
    expect(r.outputs[0]!.uses).toHaveLength(3);
    expect(rep.passes[0]!.stats['removed-identity']).toBe(1);
    expect(rep.properties).toContain('no-identity');
  });

  it('keeps graph output names: the source takes the name and declared type (rule 3)', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', ['N', 4]);
    const r = addNode(g, 'Relu', [x], ['relu_out']);
    g.valueInfoOrder.push('relu_out');
    setTensorType(r.outputs[0]!, DataType.FLOAT, [null, 4]);
    const id1 = addNode(g, 'Identity', [r.outputs[0]!], ['mid']);
    const id2 = addNode(g, 'Identity', [id1.outputs[0]!], ['logits']);
    setTensorType(id2.outputs[0]!, DataType.FLOAT, ['N', 4]);
    g.setOutput(0, id2.outputs[0]!);
    const before = await runModel(m, { x: floatFeed(randomFloats(8), [2, 4]) });
    await run(m);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect(g.outputs[0]).toBe(r.outputs[0]);
    expect(g.outputs[0]!.name).toBe('logits');
    expect(tensorTypeOf(g.outputs[0]!)).toEqual({ elemType: DataType.FLOAT, shape: ['N', 4] });
    expect(g.valueInfoOrder).not.toContain('logits');
    // the saved file has the same interface and computes the same thing
    const saved = decodeModel(encodeModel(m));
    expect(saved.graph.outputs.map((o) => o.name)).toEqual(['logits']);
    const after = await runModel(saved, { x: floatFeed(randomFloats(8), [2, 4]) });
    expect(maxAbsDiff(before.logits!.data as Float32Array, after.logits!.data as Float32Array)).toBe(0);
  });

  it('keeps an Identity between interface values (input, initializer, other output)', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const w = g.addInitializer(Tensor.fromFloat32('w', [2], Float32Array.of(1, 2)));
    const r = addNode(g, 'Relu', [x], ['r']);
    g.setOutput(0, addNode(g, 'Identity', [x], ['x_copy']).outputs[0]!);
    g.setOutput(1, addNode(g, 'Identity', [w], ['w_copy']).outputs[0]!);
    g.setOutput(2, r.outputs[0]!);
    g.setOutput(3, addNode(g, 'Identity', [r.outputs[0]!], ['r_copy']).outputs[0]!);
    const rep = await run(m);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Relu', 'Identity', 'Identity', 'Identity']);
    expect(rep.passes[0]!.stats['kept-interface']).toBe(3);
    expect(rep.passes[0]!.changed).toBe(false);
  });

  it('removes Dropout in inference mode and keeps it in training mode or with a used mask', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const tm = addInput(g, 'training', [], DataType.BOOL);
    const f = g.addInitializer(Tensor.fromUint8('f', [], Uint8Array.of(0), DataType.BOOL));
    const t = g.addInitializer(Tensor.fromUint8('t', [], Uint8Array.of(1), DataType.BOOL));
    const plain = addNode(g, 'Dropout', [x], ['d1', 'm1'], {}, { name: 'plain' });
    const constFalse = addNode(g, 'Dropout', [plain.outputs[0]!, null, f], ['d2'], {}, { name: 'const_false' });
    const constTrue = addNode(g, 'Dropout', [constFalse.outputs[0]!, null, t], ['d3'], {}, { name: 'const_true' });
    const dynamic = addNode(g, 'Dropout', [constTrue.outputs[0]!, null, tm], ['d4'], {}, { name: 'dynamic' });
    const masked = addNode(g, 'Dropout', [dynamic.outputs[0]!], ['d5', 'm5'], {}, { name: 'mask_used' });
    const cf = addNode(g, 'Constant', [], ['cf'], { value: A.tensor(Tensor.fromUint8('', [], Uint8Array.of(0), DataType.BOOL)) });
    const viaConstant = addNode(g, 'Dropout', [masked.outputs[0]!, null, cf.outputs[0]!], ['d6'], {}, { name: 'constant_node_false' });
    g.setOutput(0, addNode(g, 'Relu', [viaConstant.outputs[0]!], ['y']).outputs[0]!);
    g.setOutput(1, masked.outputs[1]!);
    const rep = await run(m);
    expect(g.nodes.filter((n) => n.opType === 'Dropout').map((n) => n.name)).toEqual(['const_true', 'dynamic', 'mask_used']);
    expect(constTrue.inputs[0]).toBe(x);
    expect(rep.passes[0]!.stats['removed-dropout']).toBe(3);
  });

  it('before opset 12, Dropout is removed unless is_test=0', async () => {
    const m = newModel(10);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const d1 = addNode(g, 'Dropout', [x], ['d1'], { ratio: A.float(0.5) });
    const d2 = addNode(g, 'Dropout', [d1.outputs[0]!], ['d2'], { is_test: A.int(0) }, { name: 'train' });
    g.setOutput(0, addNode(g, 'Relu', [d2.outputs[0]!], ['y']).outputs[0]!);
    await run(m);
    expect(g.nodes.map((n) => n.name || n.opType)).toEqual(['train', 'Relu']);
  });

  it('works inside subgraphs', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const body = new Graph('then', g);
    const id = body.append(body.createNode('Identity', [x], ['bid']));
    const neg = body.append(body.createNode('Neg', [id.outputs[0]!], ['bneg']));
    body.setOutput(0, neg.outputs[0]!);
    const elseG = new Graph('else', g);
    elseG.setOutput(0, x);
    g.setOutput(0, addNode(g, 'If', [cond], ['y'], { then_branch: A.graph(body), else_branch: A.graph(elseG) }).outputs[0]!);
    await run(m);
    expect(body.nodes.map((n) => n.opType)).toEqual(['Neg']);
    expect(neg.inputs[0]).toBe(x);
  });
});
