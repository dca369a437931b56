import { describe, expect, it } from 'vitest';
import { topologicalSort } from '../../passes/topological-sort.js';
import { Pipeline, PassRegistry } from '../../src/pass/manager.js';
import { decodeModel, encodeModel, loadModel } from '../../src/onnx/io.js';
import { verifyModel } from '../../src/ir/verifier.js';
import { Graph, type Model } from '../../src/ir/graph.js';
import { ErrorCodes } from '../../src/errors.js';
import { DataType } from '../../src/ir/dtype.js';
import { A, FMNIST_CNN, addInput, addNode, expectHbnnError, floatFeed, maxAbsDiff, newModel, randomFloats, runModel } from '../helpers/build.js';

const registry = new PassRegistry().register(topologicalSort);
const ctx = () => ({ options: {}, stat: () => {}, note: () => {}, properties: new Set<never>(), artifacts: new Map() });

/** Reverses the node order and round-trips through bytes (the loader accepts any order). */
function shuffled(m: Model, order: (n: number) => number[]): Model {
  const nodes = [...m.graph.nodes];
  const idx = order(nodes.length);
  m.graph.nodes.length = 0;
  m.graph.nodes.push(...idx.map((i) => nodes[i]!));
  return decodeModel(encodeModel(m));
}

function permutation(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const sortedErrors = (m: Model) => verifyModel(m).filter((i) => i.severity === 'error' && i.message.includes('topologically'));

describe('topological-sort', () => {
  it('restores a valid order for a shuffled fmnist-cnn, through a pipeline, same outputs in ORT', async () => {
    const original = loadModel(FMNIST_CNN());
    const names = original.graph.nodes.map((n) => n.name);
    const m = shuffled(loadModel(FMNIST_CNN()), (n) => permutation(n, 7));
    expect(sortedErrors(m).length).toBeGreaterThan(0);
    const report = await Pipeline.parse('topological-sort', registry).run(m); // verifies before and after
    expect(report.passes[0]!.changed).toBe(true);
    expect(report.properties).toContain('topologically-sorted');
    expect(sortedErrors(m)).toEqual([]);
    // the CNN is a chain: exactly one topological order, the original one
    expect(m.graph.nodes.map((n) => n.name)).toEqual(names);
    const x = randomFloats(2 * 784, 5);
    const a = await runModel(original, { input: floatFeed(x, [2, 1, 28, 28]) });
    const b = await runModel(m, { input: floatFeed(x, [2, 1, 28, 28]) });
    expect(maxAbsDiff(a.logits!.data as Float32Array, b.logits!.data as Float32Array)).toBe(0);
  });

  it('is stable: independent nodes keep their relative order, a sorted graph is unchanged', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const a = addNode(g, 'Relu', [x], ['a'], {}, { name: 'a' });
    const b = addNode(g, 'Sigmoid', [x], ['b'], {}, { name: 'b' });
    const c = addNode(g, 'Tanh', [x], ['c'], {}, { name: 'c' });
    const d = addNode(g, 'Add', [a.outputs[0]!, c.outputs[0]!], ['d'], {}, { name: 'd' });
    g.setOutput(0, d.outputs[0]!);
    g.setOutput(1, b.outputs[0]!);
    const r0 = await topologicalSort.run(m, ctx());
    expect(r0.changed).toBe(false);
    // put d first: d must move after a and c, b keeps its place between them
    g.nodes.length = 0;
    g.nodes.push(d, c, b, a);
    const r1 = await topologicalSort.run(m, ctx());
    expect(r1.changed).toBe(true);
    expect(g.nodes.map((n) => n.name)).toEqual(['c', 'b', 'a', 'd']);
  });

  it('is subgraph-aware: a node whose body reads an outer value comes after its producer', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const p = addNode(g, 'Relu', [x], ['p'], {}, { name: 'producer' });
    const thenG = new Graph('then', g);
    thenG.setOutput(0, thenG.append(thenG.createNode('Neg', [p.outputs[0]!], ['t'], { name: 'inner' })).outputs[0]!);
    const elseG = new Graph('else', g);
    elseG.setOutput(0, x); // an outer value returned directly
    const ifn = addNode(g, 'If', [cond], ['y'], { then_branch: A.graph(thenG), else_branch: A.graph(elseG) }, { name: 'if' });
    g.setOutput(0, ifn.outputs[0]!);
    g.nodes.length = 0;
    g.nodes.push(ifn, p);
    expect(sortedErrors(m).length).toBeGreaterThan(0);
    const r = await topologicalSort.run(m, ctx());
    expect(r.changed).toBe(true);
    expect(g.nodes.map((n) => n.name)).toEqual(['producer', 'if']);
    expect(verifyModel(m).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('sorts inside subgraphs too', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const body = new Graph('then', g);
    const i1 = body.append(body.createNode('Relu', [x], ['i1'], { name: 'i1' }));
    const i2 = body.append(body.createNode('Neg', [i1.outputs[0]!], ['i2'], { name: 'i2' }));
    body.setOutput(0, i2.outputs[0]!);
    body.nodes.reverse();
    const elseG = new Graph('else', g);
    elseG.setOutput(0, x);
    g.setOutput(0, addNode(g, 'If', [cond], ['y'], { then_branch: A.graph(body), else_branch: A.graph(elseG) }).outputs[0]!);
    expect((await topologicalSort.run(m, ctx())).changed).toBe(true);
    expect(body.nodes.map((n) => n.name)).toEqual(['i1', 'i2']);
  });

  it('a cycle is a VERIFY error naming a node on it', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const a = addNode(g, 'Add', [x, null], ['a'], {}, { name: 'cyc_a' });
    const b = addNode(g, 'Relu', [a.outputs[0]!], ['b'], {}, { name: 'cyc_b' });
    a.setInput(1, b.outputs[0]!); // a <- b <- a
    const c = addNode(g, 'Relu', [x], ['c'], {}, { name: 'free' });
    g.setOutput(0, b.outputs[0]!);
    g.setOutput(1, c.outputs[0]!);
    const err = await expectHbnnError(() => topologicalSort.run(m, ctx()), ErrorCodes.VERIFY);
    expect(err.message).toMatch(/cycle/);
    expect(err.message).toMatch(/cyc_a|cyc_b/);
    expect(err.message).not.toContain('free');
    expect(['cyc_a', 'cyc_b']).toContain(err.context.node);
  });

  it('without the sort first, a pipeline rejects an unsorted input', async () => {
    const m = shuffled(loadModel(FMNIST_CNN()), (n) => Array.from({ length: n }, (_, i) => n - 1 - i));
    const r = new PassRegistry().register(topologicalSort, { ...topologicalSort, name: 'noop', establishes: [], run: () => ({ changed: false }) });
    const err = await expectHbnnError(() => Pipeline.parse('noop,topological-sort', r).run(m), ErrorCodes.VERIFY);
    expect(err.message).toContain('not topologically sorted');
  });
});
