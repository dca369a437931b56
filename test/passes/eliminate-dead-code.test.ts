import { describe, expect, it } from 'vitest';
import { eliminateDeadCode } from '../../passes/eliminate-dead-code.js';
import { Pipeline, PassRegistry, type RunReport } from '../../src/pass/manager.js';
import { loadModel } from '../../src/onnx/io.js';
import { Graph, type Model } from '../../src/ir/graph.js';
import { DataType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { A, FMNIST_MLP, addFloatInit, addInput, addNode, newModel } from '../helpers/build.js';

const registry = new PassRegistry().register(eliminateDeadCode);
const run = (m: Model, opts = ''): Promise<RunReport> => Pipeline.parse(`eliminate-dead-code${opts}`, registry).run(m);

/** x -> Relu -> out, plus a dead chain Sigmoid -> Tanh -> Neg hanging off x, plus a dead weight. */
function withDeadChain(): Model {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', [2]);
  const w = addFloatInit(g, 'w', [2]);
  addFloatInit(g, 'unused_w', [3]);
  const live = addNode(g, 'Relu', [x], ['live'], {}, { name: 'live' });
  const d1 = addNode(g, 'Add', [x, w], ['d1'], {}, { name: 'd1' });
  const d2 = addNode(g, 'Tanh', [d1.outputs[0]!], ['d2'], {}, { name: 'd2' });
  addNode(g, 'Neg', [d2.outputs[0]!], ['d3'], {}, { name: 'd3' });
  g.setOutput(0, live.outputs[0]!);
  return m;
}

describe('eliminate-dead-code', () => {
  it('removes a dead chain in one run (reverse order) and unused initializers', async () => {
    const m = withDeadChain();
    const r = await run(m);
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['live']);
    expect([...m.graph.initializers.keys()]).toEqual([]);
    expect(r.passes[0]!.stats).toEqual({ 'removed-nodes': 3, 'removed-initializers': 2 });
    expect(r.passes[0]!.changed).toBe(true);
    expect(r.properties).toContain('no-dead-code');
    const again = await run(m);
    expect(again.passes[0]!.changed).toBe(false);
  });

  it('keep-initializers keeps unused initializers', async () => {
    const m = withDeadChain();
    await run(m, '{keep-initializers=true}');
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['live']);
    expect([...m.graph.initializers.keys()].sort()).toEqual(['unused_w', 'w']);
  });

  it('never removes graph inputs, even with initializers (IR 3 style), nor graph outputs', async () => {
    const m = newModel(8, 3n);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    // an initializer that is also a graph input, as IR 3 files have them (and as the loader builds them)
    const w = g.addInput('w_in');
    w.constValue = Tensor.fromFloat32('w_in', [2], Float32Array.of(1, 2));
    g.initializers.set('w_in', w);
    const out = addNode(g, 'Relu', [x], ['out']).outputs[0]!;
    g.setOutput(0, out);
    g.setOutput(1, x); // a pass-through output
    await run(m);
    expect(g.inputs.map((v) => v.name)).toEqual(['x', 'w_in']);
    expect(g.initializers.has('w_in')).toBe(true);
    expect(w.isGraphInput).toBe(true);
    expect(g.nodes).toHaveLength(1);
  });

  it('keeps custom-domain nodes unless remove-custom', async () => {
    const build = () => {
      const m = newModel(13);
      m.opsetImports.push({ domain: 'com.example', version: 1 });
      const x = addInput(m.graph, 'x', [2]);
      addNode(m.graph, 'Log', [x], ['side'], {}, { domain: 'com.example', name: 'custom' });
      m.graph.setOutput(0, addNode(m.graph, 'Relu', [x], ['y']).outputs[0]!);
      return m;
    };
    const a = build();
    const r = await run(a);
    expect(a.graph.nodes.map((n) => n.name)).toContain('custom');
    expect(r.passes[0]!.stats['kept-custom']).toBe(1);
    expect(r.passes[0]!.changed).toBe(false);
    const b = build();
    await run(b, '{remove-custom=true}');
    expect(b.graph.nodes.map((n) => n.name)).not.toContain('custom');
  });

  it('is subgraph-aware: values used inside If bodies are live, dead body nodes go', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const usedInBody = addNode(g, 'Relu', [x], ['used_in_body'], {}, { name: 'used_in_body' }).outputs[0]!;
    const returnedByBody = addNode(g, 'Sigmoid', [x], ['returned'], {}, { name: 'returned' }).outputs[0]!;
    const onlyDeadBody = addNode(g, 'Tanh', [x], ['only_dead'], {}, { name: 'only_dead' }).outputs[0]!;
    const thenG = new Graph('then', g);
    thenG.setOutput(0, thenG.append(thenG.createNode('Neg', [usedInBody], ['t'], { name: 'inner_live' })).outputs[0]!);
    thenG.append(thenG.createNode('Abs', [onlyDeadBody], ['t_dead'], { name: 'inner_dead' }));
    const elseG = new Graph('else', g);
    elseG.setOutput(0, returnedByBody); // outer value returned directly: not in any use list
    g.setOutput(0, addNode(g, 'If', [cond], ['y'], { then_branch: A.graph(thenG), else_branch: A.graph(elseG) }, { name: 'if' }).outputs[0]!);
    const r = await run(m); // the manager verifies the result
    expect(g.nodes.map((n) => n.name)).toEqual(['used_in_body', 'returned', 'if']);
    expect(thenG.nodes.map((n) => n.name)).toEqual(['inner_live']);
    expect(r.passes[0]!.stats['removed-nodes']).toBe(2);
    expect(onlyDeadBody.uses).toEqual([]);
  });

  it('removing a dead If drops its bodies\' uses of outer values, freeing their producers', async () => {
    const m = newModel(13);
    const g = m.graph;
    const x = addInput(g, 'x', [2]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const feeder = addNode(g, 'Relu', [x], ['feeder'], {}, { name: 'feeder' }).outputs[0]!;
    const thenG = new Graph('then', g);
    thenG.setOutput(0, thenG.append(thenG.createNode('Neg', [feeder], ['t'])).outputs[0]!);
    const elseG = new Graph('else', g);
    elseG.setOutput(0, elseG.append(elseG.createNode('Abs', [feeder], ['e'])).outputs[0]!);
    addNode(g, 'If', [cond], ['dead_if'], { then_branch: A.graph(thenG), else_branch: A.graph(elseG) }, { name: 'if' });
    g.setOutput(0, addNode(g, 'Sigmoid', [x], ['y'], {}, { name: 'live' }).outputs[0]!);
    await run(m);
    expect(g.nodes.map((n) => n.name)).toEqual(['live']);
    expect(feeder.uses).toEqual([]);
  });

  it('leaves fmnist-mlp unchanged', async () => {
    const m = loadModel(FMNIST_MLP());
    const before = m.graph.nodes.length;
    const r = await run(m);
    expect(r.passes[0]!.changed).toBe(false);
    expect(m.graph.nodes.length).toBe(before);
    expect(m.graph.initializers.size).toBe(14);
  });
});
