import { describe, expect, it } from 'vitest';
import { Graph, Value, type Node } from '../../src/ir/graph.js';
import { verifyModel } from '../../src/ir/verifier.js';
import { ErrorCodes } from '../../src/errors.js';
import { DataType } from '../../src/ir/dtype.js';
import { A, addFloatInit, addInput, addNode, expectHbnnError, newModel } from '../helpers/build.js';

const usesOf = (v: Value) => v.uses.map((u) => [u.node.name, u.index]);
const errorsOf = (m: Parameters<typeof verifyModel>[0]) => verifyModel(m).filter((i) => i.severity === 'error');

function chain() {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', [2]);
  const w = addFloatInit(g, 'w', [2]);
  const a = addNode(g, 'Add', [x, w], ['a'], {}, { name: 'add' });
  const r = addNode(g, 'Relu', [a.outputs[0]!], ['r'], {}, { name: 'relu' });
  const s = addNode(g, 'Mul', [r.outputs[0]!, r.outputs[0]!], ['s'], {}, { name: 'mul' });
  g.setOutput(0, s.outputs[0]!);
  return { m, g, x, w, a, r, s };
}

describe('use-def lists', () => {
  it('createNode/addInput record uses, including a value used twice by one node', () => {
    const { x, w, a, r } = chain();
    expect(usesOf(x)).toEqual([['add', 0]]);
    expect(usesOf(w)).toEqual([['add', 1]]);
    expect(usesOf(r.outputs[0]!)).toEqual([['mul', 0], ['mul', 1]]);
    expect(a.outputs[0]!.producer).toBe(a);
    expect(a.outputs[0]!.producerIndex).toBe(0);
  });

  it('setInput moves the use from the old value to the new one', () => {
    const { m, x, w, a, r, s } = chain();
    s.setInput(1, x);
    expect(usesOf(r.outputs[0]!)).toEqual([['mul', 0]]);
    expect(usesOf(x)).toEqual([['add', 0], ['mul', 1]]);
    s.setInput(1, null);
    expect(usesOf(x)).toEqual([['add', 0]]);
    expect(s.inputs[1]).toBeNull();
    a.setInput(1, w); // same value: no duplicate use
    expect(usesOf(w)).toEqual([['add', 1]]);
    expect(errorsOf(m)).toEqual([]);
  });

  it('replaceAllUsesWith moves node uses and graph outputs', () => {
    const { m, g, x, r, s } = chain();
    g.setOutput(1, r.outputs[0]!);
    r.outputs[0]!.replaceAllUsesWith(x);
    expect(r.outputs[0]!.uses).toEqual([]);
    expect(s.inputs).toEqual([x, x]);
    expect(g.outputs[1]).toBe(x);
    expect(usesOf(x)).toEqual([['add', 0], ['mul', 0], ['mul', 1]]);
    g.removeNode(r);
    expect(errorsOf(m)).toEqual([]);
  });

  it('removeNode drops the node\'s uses and frees its output names', () => {
    const { m, g, a, r, s } = chain();
    s.outputs[0]!.replaceAllUsesWith(a.outputs[0]!);
    g.removeNode(s);
    g.removeNode(r);
    expect(usesOf(a.outputs[0]!)).toEqual([]);
    expect(g.get('r')).toBeUndefined();
    expect(g.nodes.map((n) => n.name)).toEqual(['add']);
    expect(errorsOf(m)).toEqual([]);
    g.append(g.createNode('Relu', [a.outputs[0]!], ['r'])); // the name is free again
  });

  it('removing a node whose output is still used (or is a graph output) throws', async () => {
    const { g, a, r, s } = chain();
    const e1 = await expectHbnnError(() => g.removeNode(a), ErrorCodes.INTERNAL);
    expect(e1.message).toContain('"a" is still used');
    await expectHbnnError(() => g.removeNode(s), ErrorCodes.INTERNAL);
    expect(g.nodes).toContain(a);
    expect(usesOf(a.outputs[0]!)).toEqual([['relu', 0]]);
    void r;
  });

  it('removeNode with force leaves uses dangling, which the verifier reports', () => {
    const { m, g, a } = chain();
    g.removeNode(a, { force: true });
    expect(errorsOf(m).map((e) => e.message).join('\n')).toMatch(/"a"/);
  });

  it('removing a node with subgraphs drops the uses its bodies made of outer values', () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const body = new Graph('then', g);
    const inner = body.append(body.createNode('Neg', [x], ['t'], { name: 'inner' }));
    const deeper = new Graph('deeper', body);
    deeper.setOutput(0, deeper.append(deeper.createNode('Abs', [x], ['d'], { name: 'deepest' })).outputs[0]!);
    body.append(body.createNode('If', [cond], ['t2'], { attributes: { then_branch: A.graph(deeper), else_branch: A.graph(deeper) } }));
    body.setOutput(0, inner.outputs[0]!);
    const ifn = addNode(g, 'If', [cond], ['y'], { then_branch: A.graph(body), else_branch: A.graph(body) });
    g.setOutput(0, x);
    expect(x.uses.map((u) => u.node.name).sort()).toEqual(['deepest', 'inner']);
    g.removeNode(ifn);
    expect(x.uses).toEqual([]);
    expect(cond.uses).toEqual([]);
    expect(errorsOf(m)).toEqual([]);
  });

  it('value names are unique per graph; renameValue and uniqueName respect that', async () => {
    const { g, a, r } = chain();
    await expectHbnnError(() => g.createValue('a'), ErrorCodes.VERIFY);
    await expectHbnnError(() => g.renameValue(r.outputs[0]!, 'a'), ErrorCodes.VERIFY);
    expect(g.uniqueName('a')).not.toBe('a');
    expect(g.uniqueName('fresh')).toBe('fresh');
    g.renameValue(a.outputs[0]!, 'sum');
    expect(g.get('sum')).toBe(a.outputs[0]);
    expect(g.get('a')).toBeUndefined();
  });

  it('a subgraph sees outer values by lookup but not by get', () => {
    const { g, x } = chain();
    const sub = new Graph('sub', g);
    expect(sub.lookup('x')).toBe(x);
    expect(sub.get('x')).toBeUndefined();
  });

  it('consumers lists each node once', () => {
    const { r } = chain();
    expect(r.outputs[0]!.consumers.map((n: Node) => n.name)).toEqual(['mul']);
  });
});

describe('Graph.replaceInitializer', () => {
  it('gives the value a new tensor in place (users see it), keeps a declared type that still fits, drops one that does not', async () => {
    const { Tensor } = await import('../../src/ir/tensor.js');
    const { setTensorType, tensorTypeOf } = await import('../../src/ir/types.js');
    const m = newModel();
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const w = addFloatInit(g, 'w', [2], [1, 2]);
    const n = addNode(g, 'Add', [x, w], ['y']);
    setTensorType(w, DataType.FLOAT, [2]);
    g.replaceInitializer(w, Tensor.fromFloat32('other', [2], new Float32Array([3, 4])));
    expect(n.inputs[1]).toBe(w);
    expect(w.constValue!.name).toBe('w');
    expect(Array.from(w.constValue!.toFloat32())).toEqual([3, 4]);
    expect(tensorTypeOf(w)).toEqual({ elemType: DataType.FLOAT, shape: [2] });
    g.replaceInitializer(w, Tensor.fromFloat32('w', [1, 2], new Float32Array([5, 6])));
    expect(w.type).toBeUndefined();
    expect(g.initializers.get('w')).toBe(w);
    expect(verifyModel(m)).toEqual([]);
    // A graph input becomes an initializer (its declared type fits and stays); a node output is refused.
    g.replaceInitializer(x, Tensor.fromFloat32('x', [2], new Float32Array([7, 8])));
    expect(x.isInitializer && x.isGraphInput).toBe(true);
    expect(tensorTypeOf(x)).toEqual({ elemType: DataType.FLOAT, shape: [2] });
    await expectHbnnError(() => g.replaceInitializer(n.outputs[0]!, Tensor.fromFloat32('y', [2], new Float32Array(2))), ErrorCodes.INTERNAL);
  });
});
