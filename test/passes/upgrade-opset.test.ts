import { describe, expect, it } from 'vitest';
import { upgradeOpset } from '../../passes/upgrade-opset.js';
import { Pipeline, PassRegistry } from '../../src/pass/manager.js';
import type { Model } from '../../src/ir/graph.js';
import { DataType } from '../../src/ir/dtype.js';
import { ErrorCodes } from '../../src/errors.js';
import { setTensorType } from '../../src/ir/types.js';
import { A, addFloatInit, addInput, addNode, cloneModel, expectHbnnError, floatFeed, newModel, randomFloats, runModel } from '../helpers/build.js';

const registry = new PassRegistry().register(upgradeOpset);
const upgrade = (m: Model, to: number) => Pipeline.parse(`upgrade-opset{to=${to}}`, registry).run(m);

/** Operators of an opset-8 CNN whose signatures change on the way to 11. */
function opset8Cnn(): Model {
  const m = newModel(8, 3n);
  const g = m.graph;
  const x = addInput(g, 'x', [2, 2, 6, 6]);
  const bn = addNode(g, 'BatchNormalization', [x, addFloatInit(g, 'g', [2], [1.5, 0.5]), addFloatInit(g, 'b', [2], [0.1, -0.2]), addFloatInit(g, 'm', [2], [0.2, 0.1]), addFloatInit(g, 'v', [2], [2, 0.5])], ['bn'], {
    spatial: A.int(1),
    epsilon: A.float(1e-5),
  });
  const up = addNode(g, 'Upsample', [bn.outputs[0]!], ['up'], { mode: A.str('nearest'), scales: A.floats([1, 1, 2, 2]) });
  const clip = addNode(g, 'Clip', [up.outputs[0]!], ['clip'], { min: A.float(-0.5), max: A.float(0.75) });
  const pad = addNode(g, 'Pad', [clip.outputs[0]!], ['pad'], { pads: A.ints([0, 0, 1, 2, 0, 0, 2, 1]), value: A.float(0.25) });
  const slice = addNode(g, 'Slice', [pad.outputs[0]!], ['slice'], { starts: A.ints([1, 0]), ends: A.ints([14, 13]), axes: A.ints([2, 3]) });
  const drop = addNode(g, 'Dropout', [slice.outputs[0]!], ['drop'], { ratio: A.float(0.3) });
  const pool = addNode(g, 'MaxPool', [drop.outputs[0]!], ['pool'], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
  const lin = addNode(g, 'Upsample', [pool.outputs[0]!], ['lin'], { mode: A.str('linear'), scales: A.floats([1, 1, 2, 3]) });
  g.outputs.push(lin.outputs[0]!);
  setTensorType(lin.outputs[0]!, DataType.FLOAT, [2, 2, 12, 18]);
  return m;
}

async function out(m: Model, shape: number[], seed = 4): Promise<{ data: number[]; dims: readonly number[] }> {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = await runModel(m, { x: floatFeed(randomFloats(n, seed), shape) });
  const o = r[m.graph.outputs[0]!.name]!;
  return { data: Array.from(o.data as Float32Array), dims: o.dims };
}

describe('upgrade-opset', () => {
  it('opset 8 → 11: BatchNormalization, Upsample → Resize, Clip, Pad, Slice, Dropout, MaxPool give the same outputs in onnxruntime', async () => {
    const m = opset8Cnn();
    const before = await out(m, [2, 2, 6, 6]);
    const up = cloneModel(m);
    const r = await upgrade(up, 11);
    expect(up.opsetVersion('')).toBe(11);
    expect(up.graph.nodes.map((n) => n.opType)).toEqual(['BatchNormalization', 'Resize', 'Clip', 'Pad', 'Slice', 'Dropout', 'MaxPool', 'Resize']);
    expect(up.graph.nodes.every((n) => !n.attributes.has('spatial') && !n.attributes.has('pads') && !n.attributes.has('starts') && !n.attributes.has('min'))).toBe(true);
    expect(r.passes[0]!.stats).toMatchObject({ 'adapted-Upsample': 2, 'adapted-Clip': 1, 'adapted-Pad': 1, 'adapted-Slice': 1, 'adapted-BatchNormalization': 1 });
    const after = await out(up, [2, 2, 6, 6]);
    expect(after.dims).toEqual(before.dims);
    expect(after.data).toEqual(before.data);
  });

  it('opset 7 Upsample with a scales attribute, → 10 (Resize-10) and → 11: the same values', async () => {
    const m = newModel(7, 3n);
    const x = addInput(m.graph, 'x', [1, 1, 3, 4]);
    const u = addNode(m.graph, 'Upsample', [x], ['y'], { scales: A.floats([1, 1, 3, 2]), mode: A.str('nearest') });
    m.graph.outputs.push(u.outputs[0]!);
    const before = await out(m, [1, 1, 3, 4]);
    for (const to of [10, 11]) {
      const c = cloneModel(m);
      await upgrade(c, to);
      expect(c.graph.nodes[0]!.opType).toBe('Resize');
      expect(c.graph.nodes[0]!.inputs.length).toBe(to === 10 ? 2 : 3);
      expect((await out(c, [1, 1, 3, 4])).data).toEqual(before.data);
    }
  });

  it('→ 13: Squeeze, Unsqueeze, ReduceSum and Split take axes/split as inputs; Softmax on the last axis stays', async () => {
    const m = newModel(11);
    const g = m.graph;
    const x = addInput(g, 'x', [2, 1, 6]);
    const sq = addNode(g, 'Squeeze', [x], ['sq'], { axes: A.ints([1]) });
    const us = addNode(g, 'Unsqueeze', [sq.outputs[0]!], ['us'], { axes: A.ints([0]) });
    const rs = addNode(g, 'ReduceSum', [us.outputs[0]!], ['rs'], { axes: A.ints([0]), keepdims: A.int(0) });
    const sp = addNode(g, 'Split', [rs.outputs[0]!], ['s1', 's2'], { axis: A.int(1), split: A.ints([2, 4]) });
    const sm = addNode(g, 'Softmax', [sp.outputs[1]!], ['sm'], { axis: A.int(-1) });
    g.outputs.push(sm.outputs[0]!);
    const before = await out(m, [2, 1, 6]);
    const c = cloneModel(m);
    await upgrade(c, 13);
    expect(c.graph.nodes.every((n) => !n.attributes.has('axes') && !n.attributes.has('split'))).toBe(true);
    expect((await out(c, [2, 1, 6])).data).toEqual(before.data);
  });

  it('refuses breaking changes it has no adapter for, before changing anything; a model at the target is unchanged', async () => {
    const bn0 = opset8Cnn();
    bn0.graph.nodes[0]!.setInt('spatial', 0);
    const e = await expectHbnnError(() => upgrade(bn0, 11), ErrorCodes.UNSUPPORTED_OP);
    expect(e.message).toContain('spatial=0');
    expect(bn0.opsetVersion('')).toBe(8);
    expect(bn0.graph.nodes[1]!.opType).toBe('Upsample');

    const sm = newModel(11);
    const x = addInput(sm.graph, 'x', [2, 3, 4]);
    sm.graph.outputs.push(addNode(sm.graph, 'Softmax', [x], ['y'], { axis: A.int(1) }).outputs[0]!);
    expect((await expectHbnnError(() => upgrade(sm, 13), ErrorCodes.UNSUPPORTED_OP)).message).toContain('axis=1 changes meaning at opset 13');

    const old = newModel(6);
    old.graph.outputs.push(addNode(old.graph, 'Relu', [addInput(old.graph, 'x', [1])], ['y']).outputs[0]!);
    expect((await expectHbnnError(() => upgrade(old, 11), ErrorCodes.UNSUPPORTED_OP)).message).toContain('starts from opset 7');

    const same = opset8Cnn();
    const r = await upgrade(same, 8);
    expect(r.passes[0]!.changed).toBe(false);
    expect(same.graph.nodes[1]!.opType).toBe('Upsample');
  });
});
