import { describe, expect, it } from 'vitest';
import { constantInitializerInputs } from '../../passes/constant-initializer-inputs.js';
import { foldConstants } from '../../passes/fold-constants.js';
import { Pipeline, PassRegistry } from '../../src/pass/manager.js';
import { DataType } from '../../src/ir/dtype.js';
import { setTensorType } from '../../src/ir/types.js';
import { addFloatInit, addInput, addNode, cloneModel, floatFeed, newModel, runModel } from '../helpers/build.js';

const registry = new PassRegistry().register(constantInitializerInputs).register(foldConstants);

/** y = x + (a * b), with a and b initializers also listed as graph inputs (IR 3 style). */
function ir3Model() {
  const m = newModel(11, 3n);
  const g = m.graph;
  const x = addInput(g, 'x', [2]);
  const a = addFloatInit(g, 'a', [2], [1.5, -2]);
  const b = addFloatInit(g, 'b', [2], [4, 0.25]);
  for (const v of [a, b]) {
    g.inputs.push(v);
    setTensorType(v, DataType.FLOAT, [2]);
  }
  const ab = addNode(g, 'Mul', [a, b], ['ab']);
  const y = addNode(g, 'Add', [x, ab.outputs[0]!], ['y']);
  g.outputs.push(y.outputs[0]!);
  return m;
}

describe('constant-initializer-inputs', () => {
  it('drops initializers from the graph inputs: same outputs without feeds, and fold-constants can fold through them', async () => {
    const m = ir3Model();
    const feeds = { x: floatFeed(Float32Array.of(1, 2), [2]) };
    const before = Array.from((await runModel(m, feeds))['y']!.data as Float32Array);
    const unchanged = cloneModel(m);
    const r0 = await Pipeline.parse('fold-constants', registry).run(unchanged);
    expect(r0.passes[0]!.changed).toBe(false);
    expect(r0.passes[0]!.notes.join(' ')).toContain('2 initializers are also graph inputs (overridable)');

    const r = await Pipeline.parse('constant-initializer-inputs,fold-constants', registry).run(m);
    expect(r.passes[0]!.stats).toEqual({ 'initializers-made-constant': 2 });
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['x']);
    expect(m.irVersion).toBe(4n);
    expect(r.passes[1]!.changed).toBe(true);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Add']);
    expect(Array.from((await runModel(m, feeds))['y']!.data as Float32Array)).toEqual(before);
  });

  it('keep: matching initializers stay overridable inputs', async () => {
    const m = ir3Model();
    const r = await Pipeline.parse('constant-initializer-inputs{keep=b*}', registry).run(m);
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['x', 'b']);
    expect(r.passes[0]!.changed).toBe(true);
    const again = await Pipeline.parse('constant-initializer-inputs{keep=a|b}', registry).run(ir3Model());
    expect(again.passes[0]!.changed).toBe(false);
  });
});
