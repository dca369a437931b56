import { describe, expect, it } from 'vitest';
import { Value, type Model } from '../../src/ir/graph.js';
import { assertValid, verifyModel } from '../../src/ir/verifier.js';
import { ErrorCodes } from '../../src/errors.js';
import { loadModel } from '../../src/onnx/io.js';
import { FMNIST_CNN, MNIST_CONV, addFloatInit, addInput, addNode, expectHbnnError, newModel } from '../helpers/build.js';

function valid() {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', [2]);
  const w = addFloatInit(g, 'w', [2]);
  const a = addNode(g, 'Add', [x, w], ['a'], {}, { name: 'add' });
  const r = addNode(g, 'Relu', [a.outputs[0]!], ['r'], {}, { name: 'relu' });
  g.setOutput(0, r.outputs[0]!);
  return { m, g, x, w, a, r };
}

const errors = (m: Model, opts = {}) => verifyModel(m, opts).filter((i) => i.severity === 'error').map((i) => i.message);

describe('verifier', () => {
  it('accepts valid hand-built and real models', () => {
    expect(errors(valid().m)).toEqual([]);
    expect(errors(loadModel(FMNIST_CNN()))).toEqual([]);
    expect(errors(loadModel(MNIST_CONV()))).toEqual([]);
    expect(assertValid(valid().m)).toEqual([]);
  });

  it('catches an input that is not defined in scope', async () => {
    const { m, g, r } = valid();
    r.setInput(0, new Value(g, 'ghost')); // never registered in the graph
    expect(errors(m)).toEqual([expect.stringMatching(/input 0 "ghost" is not defined in scope/)]);
    const err = await expectHbnnError(() => assertValid(m, { pass: 'p' }), ErrorCodes.VERIFY);
    expect(err.context.pass).toBe('p');
  });

  it('catches a non-topological order, unless told to allow it', () => {
    const { m, g, a, r } = valid();
    g.nodes.length = 0;
    g.nodes.push(r, a);
    expect(errors(m)).toEqual([expect.stringMatching(/"relu".*uses "a" before it is defined \(not topologically sorted\)/)]);
    expect(errors(m, { allowUnsorted: true })).toEqual([]);
  });

  it('catches duplicate value names', () => {
    const { m, g, r } = valid();
    const dup = new Value(g, 'a'); // same name as Add's output, bypassing createValue
    dup.producer = r;
    dup.producerIndex = 1;
    (r.outputs as Value[]).push(dup);
    expect(errors(m).join('\n')).toMatch(/value name "a" .* is defined twice/);
  });

  it('catches a missing or unproduced graph output', () => {
    const a = valid();
    (a.g.outputs as (Value | undefined)[]).push(undefined);
    expect(errors(a.m)).toEqual([expect.stringMatching(/output 1 is missing/)]);
    const b = valid();
    b.g.setOutput(0, new Value(b.g, 'nowhere'));
    expect(errors(b.m)).toEqual([expect.stringMatching(/output "nowhere" is not produced/)]);
  });

  it('catches stale and missing uses, and a wrong producer', () => {
    const a = valid();
    a.x.uses.push({ node: a.r, index: 3 });
    expect(errors(a.m)).toEqual([expect.stringMatching(/"x" lists a stale use by "relu" \(Relu\) input 3/)]);
    const b = valid();
    b.w.uses.length = 0;
    expect(errors(b.m)).toEqual([expect.stringMatching(/input 1 "w" is missing from the value's use list/)]);
    const c = valid();
    c.a.outputs[0]!.producer = c.r;
    expect(errors(c.m)).toEqual([expect.stringMatching(/output 0 "a" does not name it as producer/)]);
  });

  it('catches uses by removed nodes', () => {
    const { m, g, a, r } = valid();
    g.nodes.splice(g.nodes.indexOf(r), 1); // removed without going through removeNode
    g.setOutput(0, a.outputs[0]!);
    expect(errors(m)).toEqual([expect.stringMatching(/"a" is used by removed node "relu"/)]);
  });

  it('reports duplicate node names as warnings only', () => {
    const { m, a, r } = valid();
    r.name = a.name;
    const issues = verifyModel(m);
    expect(issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(issues.filter((i) => i.severity === 'warning').map((i) => i.message)).toEqual([expect.stringMatching(/node name "add" is used more than once/)]);
  });
});
