/**
 * import-qonnx on small QONNX graphs: activation quantizers executed as standard operators
 * (onnxruntime) give exactly the QONNX definitions (computed here in float32, by the
 * importer's weight folding and, for MultiThreshold and Trunc, by a direct transcription of
 * the qonnx reference code), for every rounding mode and on ties; BipolarQuant on
 * activations becomes a 1-bit BinarizeActivation with the same outputs; per-channel Quant
 * weights fold; unsupported operators are refused before anything changes.
 */
import { describe, expect, it } from 'vitest';
import { importQonnx, foldQuantizer, intRange, minifloatMax, roundBy, type ImportRecord } from '../../passes/import-qonnx.js';
import * as ort from 'onnxruntime-node';
import { prepareForQuantize, quantize } from '../../src/drivers/quantize.js';
import { Pipeline, PassRegistry } from '../../src/pass/manager.js';
import { Graph, type Model, type Node, type Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { ErrorCodes } from '../../src/errors.js';
import { setTensorType } from '../../src/ir/types.js';
import { readQuantRecord } from '../../src/quant/format.js';
import { A, addFloatInit, addInput, addNode, cloneModel, expectHbnnError, floatFeed, newModel, runModel } from '../helpers/build.js';

const registry = new PassRegistry().register(importQonnx);
const DOMAIN = 'qonnx.custom_op.general';
const f32 = Math.fround;

/** Inputs with ties at every half step of the scale 0.25 (x/s = k + 0.5), and some noise. */
const N = 64;
const XS = Float32Array.from({ length: N }, (_, i) => (i < 40 ? (i - 20) * 0.125 : Math.sin(i) * 3));

function model(build: (m: Model, x: Value) => Node, opset = 13): Model {
  const m = newModel(opset);
  m.opsetImports.push({ domain: DOMAIN, version: 1 });
  const x = addInput(m.graph, 'x', [1, 4, N / 4]);
  const n = build(m, x);
  m.graph.outputs.push(n.outputs[0]!);
  setTensorType(n.outputs[0]!, DataType.FLOAT, [1, 4, N / 4]);
  return m;
}

async function run(m: Model): Promise<number[]> {
  const r = await runModel(m, { x: floatFeed(XS, [1, 4, N / 4]) });
  return Array.from(r[m.graph.outputs[0]!.name]!.data as Float32Array);
}

const imported = async (m: Model, opts = ''): Promise<Model> => {
  const c = cloneModel(m);
  await Pipeline.parse(`import-qonnx${opts}`, registry).run(c);
  expect(c.graph.nodes.some((n) => n.domain === DOMAIN)).toBe(false);
  return c;
};

/** The Quant node's QONNX value on XS, by the importer's constant folding. */
function quantReference(scale: number, zero: number, bits: number, attrs: Record<string, ReturnType<typeof A.int>>): number[] {
  const m = newModel(13);
  const g = m.graph;
  const x = g.addInitializer(Tensor.fromFloat32('xc', [N], XS));
  const n = g.createNode('Quant', [x, addFloatInit(g, 's', [], [scale]), addFloatInit(g, 'z', [], [zero]), addFloatInit(g, 'b', [], [bits])], ['y'], { domain: DOMAIN, attributes: attrs });
  return Array.from(foldQuantizer(n).tensor.toFloat32());
}

describe('import-qonnx', () => {
  it('roundBy: the QONNX rounding table', () => {
    const table: [number, number[]][] = [
      [5.5, [6, 6, 5, 6, 5, 6, 5]],
      [2.5, [2, 3, 2, 3, 2, 3, 2]],
      [1.6, [2, 2, 1, 2, 1, 2, 2]],
      [1.1, [1, 2, 1, 2, 1, 1, 1]],
      [-1.1, [-1, -1, -2, -2, -1, -1, -1]],
      [-1.6, [-2, -1, -2, -2, -1, -2, -2]],
      [-2.5, [-2, -2, -3, -3, -2, -3, -2]],
      [-5.5, [-6, -5, -6, -6, -5, -6, -5]],
    ];
    const modes = ['ROUND', 'CEIL', 'FLOOR', 'UP', 'DOWN', 'HALF_UP', 'HALF_DOWN'];
    for (const [x, want] of table) expect(modes.map((m) => roundBy(m, f32(x))), String(x)).toEqual(want);
    expect(intRange(true, true, 2)).toEqual([-1, 1]);
    expect(intRange(true, false, 8)).toEqual([-128, 127]);
    expect(intRange(false, true, 8)).toEqual([0, 254]);
  });

  for (const mode of ['ROUND', 'CEIL', 'FLOOR', 'UP', 'DOWN', 'HALF_UP', 'HALF_DOWN']) {
    it(`Quant on activations (${mode}, signed 3-bit, zero point 1) runs as standard operators with the QONNX values exactly`, async () => {
      const attrs = { signed: A.int(1), narrow: A.int(0), rounding_mode: A.str(mode) };
      const m = model((mm, x) =>
        addNode(mm.graph, 'Quant', [x, addFloatInit(mm.graph, 's', [], [0.25]), addFloatInit(mm.graph, 'z', [], [1]), addFloatInit(mm.graph, 'b', [], [3])], ['y'], attrs, { domain: DOMAIN }),
      );
      const out = await run(await imported(m));
      expect(out).toEqual(quantReference(0.25, 1, 3, attrs));
      // The clamp matters on this input: the top and bottom of the 3-bit range are reached.
      expect(Math.max(...out)).toBe(f32((3 - 1) * 0.25));
      expect(Math.min(...out)).toBe(f32((-4 - 1) * 0.25));
    });
  }

  it('BipolarQuant on activations becomes a 1-bit BinarizeActivation with the same outputs, recorded', async () => {
    const m = model((mm, x) => addNode(mm.graph, 'BipolarQuant', [x, addFloatInit(mm.graph, 's', [], [0.75])], ['y'], {}, { domain: DOMAIN }));
    const c = await imported(m);
    expect(c.graph.nodes.map((n) => `${n.domain}::${n.opType}`)).toEqual(['ai.hbnn::BinarizeActivation']);
    expect(await run(c)).toEqual(Array.from(XS, (v) => (v >= 0 ? 0.75 : -0.75)));
    expect(readQuantRecord(c)!.activations[0]).toMatchObject({ distribution: [1, 0, 0], scales: [0.75, 0, 0], calibrated: true });
    // activations=drop: the quantizer is removed, its input passes through.
    const d = await imported(m, '{activations=drop}');
    expect(await run(d)).toEqual(Array.from(XS));
  });

  it('MultiThreshold (NCHW, per-channel thresholds, out_scale, out_bias) equals the qonnx reference', async () => {
    const th = Float32Array.from([-1, 0, 1, -0.5, 0.5, 2, 0, 0, 0, -2, -1, 0.25]); // [4 channels, 3 thresholds]
    const m = model((mm, x) =>
      addNode(mm.graph, 'MultiThreshold', [x, mm.graph.addInitializer(Tensor.fromFloat32('t', [4, 3], th))], ['y'], { out_scale: A.float(0.5), out_bias: A.float(-1), out_dtype: A.str('INT2') }, { domain: DOMAIN }),
    );
    const c = await imported(m);
    const want = Array.from(XS, (v, i) => {
      const ch = Math.floor(i / (N / 4));
      let k = 0;
      for (let t = 0; t < 3; t++) if (v >= th[ch * 3 + t]!) k++;
      return f32(f32(0.5 * k) + -1);
    });
    expect(await run(c)).toEqual(want);
  });

  it('Trunc (v1: scale, zero point, input and output bit widths) equals the qonnx reference', async () => {
    const m = model((mm, x) =>
      addNode(
        mm.graph,
        'Trunc',
        [x, addFloatInit(mm.graph, 's', [], [0.125]), addFloatInit(mm.graph, 'z', [], [0]), addFloatInit(mm.graph, 'ib', [], [8]), addFloatInit(mm.graph, 'ob', [], [4])],
        ['y'],
        { rounding_mode: A.str('FLOOR') },
        { domain: DOMAIN },
      ),
    );
    const want = Array.from(XS, (v) => f32(Math.floor(f32(roundBy('ROUND', f32(v / 0.125)) / 16)) * 0.125));
    expect(await run(await imported(m))).toEqual(want);
  });

  it('a Quant on a per-channel constant weight folds to the QONNX values; a transposed BipolarQuant weight becomes 1-bit planes', async () => {
    const m = newModel(13);
    m.opsetImports.push({ domain: DOMAIN, version: 1 });
    const g = m.graph;
    const x = addInput(g, 'x', [2, 3]);
    const wq = addNode(g, 'Quant', [addFloatInit(g, 'w', [3, 4]), addFloatInit(g, 'ws', [1, 4], [0.1, 0.2, 0.05, 0.3]), addFloatInit(g, 'wz', [], [0]), addFloatInit(g, 'wb', [], [2])], ['wq'], { narrow: A.int(1) }, { domain: DOMAIN });
    const mm = addNode(g, 'MatMul', [x, wq.outputs[0]!], ['h'], {}, { name: 'mm1' });
    const bq = addNode(g, 'BipolarQuant', [addFloatInit(g, 'v', [5, 4]), addFloatInit(g, 'vs', [], [0.5])], ['vq'], {}, { domain: DOMAIN });
    const tr = addNode(g, 'Transpose', [bq.outputs[0]!], ['vt'], { perm: A.ints([1, 0]) });
    const y = addNode(g, 'MatMul', [mm.outputs[0]!, tr.outputs[0]!], ['y'], {}, { name: 'mm2' });
    g.outputs.push(y.outputs[0]!);
    // The weight quantizer's scale from a Constant node (as some exporters write it).
    const sc = g.createNode('Constant', [], ['ws_c'], { attributes: { value: A.tensor(Tensor.fromFloat32('ws_c', [1, 4], Float32Array.of(0.1, 0.2, 0.05, 0.3))) } });
    g.insertBefore(wq, sc);
    wq.setInput(1, sc.outputs[0]!);
    const c = cloneModel(m);
    await Pipeline.parse('import-qonnx{bipolar-weights=planes}', registry).run(c);
    const w = c.graph.get('wq')!.constValue!.toFloat32();
    const src = m.graph.get('w')!.constValue!.toFloat32();
    const s = [0.1, 0.2, 0.05, 0.3];
    expect(Array.from(w)).toEqual(Array.from(src, (v, i) => f32(roundBy('ROUND', Math.max(-1, Math.min(1, f32(v / f32(s[i % 4]!))))) * f32(s[i % 4]!))));
    const rec = readQuantRecord(c)!;
    expect(rec.weights.map((r) => [r.node, r.histogram, r.scaleValues])).toEqual([['mm2', [20], [0.5]]]);
    const feeds = { x: floatFeed(Float32Array.from([1, -2, 0.5, 3, 0.25, -1]), [2, 3]) };
    const ref = cloneModel(m);
    // Reference: the folded float model without planes.
    await Pipeline.parse('import-qonnx', registry).run(ref);
    expect(Array.from((await runModel(c, feeds))['y']!.data as Float32Array)).toEqual(Array.from((await runModel(ref, feeds))['y']!.data as Float32Array));
  });

  it('a Conv weight behind a per-channel BipolarQuant becomes 1-bit planes with per-channel scales; the opset import of the domain is dropped', async () => {
    const m = newModel(13);
    m.opsetImports.push({ domain: DOMAIN, version: 1 });
    const g = m.graph;
    const x = addInput(g, 'x', [1, 2, 5, 5]);
    const scales = [0.5, 0.25, 2];
    const bq = addNode(g, 'BipolarQuant', [addFloatInit(g, 'w', [3, 2, 3, 3]), addFloatInit(g, 's', [3, 1, 1, 1], scales)], ['wq'], {}, { domain: DOMAIN });
    const conv = addNode(g, 'Conv', [x, bq.outputs[0]!], ['y'], {}, { name: 'conv' });
    g.outputs.push(conv.outputs[0]!);
    const planes = cloneModel(m);
    await Pipeline.parse('import-qonnx{bipolar-weights=planes}', registry).run(planes);
    const rec = readQuantRecord(planes)!;
    expect(rec.weights.map((w) => [w.perChannel, w.histogram, w.scaleValues])).toEqual([[true, [54], [scales]]]);
    expect(planes.opsetImports.map((o) => o.domain)).toEqual(['', 'ai.hbnn']);
    const float = cloneModel(m);
    await Pipeline.parse('import-qonnx', registry).run(float);
    const feeds = { x: floatFeed(Float32Array.from({ length: 50 }, (_, i) => Math.cos(i)), [1, 2, 5, 5]) };
    expect(Array.from((await runModel(planes, feeds))['y']!.data as Float32Array)).toEqual(Array.from((await runModel(float, feeds))['y']!.data as Float32Array));
  });

  /** A MatMul x · W[10,1] whose weight is FloatQuant(w, 0.5, 4, 3, 7, 448) (OCP E4M3's grid at scale 0.5). */
  function floatQuantModel(w: number[], attrs: Record<string, ReturnType<typeof A.int>> = {}): Model {
    const m = newModel(13);
    m.opsetImports.push({ domain: DOMAIN, version: 1 });
    const g = m.graph;
    const x = addInput(g, 'x', ['n', w.length]);
    const q = addNode(
      g,
      'FloatQuant',
      [addFloatInit(g, 'w', [w.length, 1], w), addFloatInit(g, 's', [], [0.5]), addFloatInit(g, 'eb', [], [4]), addFloatInit(g, 'mb', [], [3]), addFloatInit(g, 'bias', [], [7]), addFloatInit(g, 'maxv', [], [448])],
      ['wq'],
      attrs,
      { domain: DOMAIN },
    );
    const y = addNode(g, 'MatMul', [x, q.outputs[0]!], ['y'], {}, { name: 'mm' });
    g.outputs.push(y.outputs[0]!);
    setTensorType(y.outputs[0]!, DataType.FLOAT, ['n', 1]);
    return m;
  }

  /** Folded weight (read back) and the model's outputs on the identity (one row per weight entry). */
  async function foldedFloatQuant(m: Model): Promise<{ w: number[]; y: number[] }> {
    const c = await imported(m);
    const n = c.graph.get('wq')!.constValue!.size;
    const eye = new Float32Array(n * n);
    for (let i = 0; i < n; i++) eye[i * n + i] = 1;
    const y = (await runModel(c, { x: floatFeed(eye, [n, n]) }))['y']!.data as Float32Array;
    return { w: Array.from(c.graph.get('wq')!.constValue!.toFloat32()), y: Array.from(y) };
  }

  it('FloatQuant on a constant weight folds to the minifloat grid computed by hand (normal, subnormal, ties to even, saturation at max_val)', async () => {
    // x/s with s = 0.5; E4M3 with bias 7: 4 significant bits, smallest step 2^(1-7-3) = 2^-9, largest value min(480, 448).
    const cases: [number, number][] = [
      [0.15625, 0.15625], // 0.3125 = 1.25·2^-2: on the grid
      [0.1, 0.1015625], // 0.2 → 12.8 steps of 2^-6 → 13/64
      [1.3, 1.25], // 2.6 → 10.4 steps of 2^-2 → 10/4
      [300, 224], // 600 → 576 on the grid, above max_val 448: saturates
      [-300, -224],
      [-0.6875, -0.6875], // -1.375: on the grid
      [0.53125, 0.5], // 1.0625 = 8.5 steps of 2^-3: tie to even (8)
      [0.59375, 0.625], // 1.1875 = 9.5 steps: tie to even (10)
      [0.0005, 0.0009765625], // 0.001: subnormal, 0.512 steps of 2^-9 → 1 step
      [0.00045, 0], // 0.0009: 0.46 steps → 0
      [0, 0],
    ];
    const r = await foldedFloatQuant(floatQuantModel(cases.map((c) => c[0])));
    expect(r.w).toEqual(cases.map((c) => c[1]));
    expect(r.y).toEqual(cases.map((c) => c[1]));
    const rec = JSON.parse((await imported(floatQuantModel([1]))).getMetadata('hbnn.import')!) as ImportRecord;
    expect(rec.foldedWeights.map((f) => [f.op, f.bits])).toEqual([['FloatQuant', 8]]);
    expect(minifloatMax(4, 3, 7)).toBe(480);
    // QONNX counts the all-ones exponent as a normal one; E5M2's IEEE-style 57344 is given by max_val.
    expect(minifloatMax(5, 2, 15)).toBe(114688);
  });

  it('FloatQuant rounding_mode FLOOR, and saturation=0 with has_inf (values beyond max_val become ±Inf)', async () => {
    expect((await foldedFloatQuant(floatQuantModel([-1.3, 0.59375], { rounding_mode: A.str('FLOOR') }))).w).toEqual([-1.375, 0.5625]);
    const inf = await foldedFloatQuant(floatQuantModel([300, -300, 1.3], { saturation: A.int(0), has_inf: A.int(1) }));
    expect(inf.w).toEqual([Infinity, -Infinity, 1.25]);
    await expectHbnnError(() => imported(floatQuantModel([1], { saturation: A.int(0) })), ErrorCodes.UNSUPPORTED_OP);
  });

  it('FloatQuant on activations is unsupported-op (removed with activations=drop); other operators of those domains too, before any change', async () => {
    const fq = model((mm, x) =>
      addNode(mm.graph, 'FloatQuant', [x, ...['s', 'eb', 'mb', 'bias', 'maxv'].map((k, i) => addFloatInit(mm.graph, k, [], [[0.5, 4, 3, 7, 448][i]!]))], ['y'], {}, { domain: DOMAIN }),
    );
    const c = cloneModel(fq);
    const e = await expectHbnnError(() => Pipeline.parse('import-qonnx', registry).run(c), ErrorCodes.UNSUPPORTED_OP);
    expect(e.message).toContain('FloatQuant on activations');
    expect(c.graph.nodes.length).toBe(1);
    expect(await run(await imported(fq, '{activations=drop}'))).toEqual(Array.from(XS));
    const m = model((mm, x) => addNode(mm.graph, 'QuantAvgPool2d', [x], ['y'], {}, { domain: DOMAIN }));
    const d = cloneModel(m);
    const e2 = await expectHbnnError(() => Pipeline.parse('import-qonnx', registry).run(d), ErrorCodes.UNSUPPORTED_OP);
    expect(e2.message).toContain('qonnx.custom_op.general::QuantAvgPool2d');
    expect(d.graph.nodes.length).toBe(1);
  });

  /** If(cond) → then: x · wq, else: x · w (wq = BipolarQuant(w, 0.5) inside the then branch, or on x with `onActivation`). */
  function ifModel(onActivation = false, mainLayer = false): Model {
    const m = newModel(13);
    m.opsetImports.push({ domain: DOMAIN, version: 1 });
    const g = m.graph;
    const x = addInput(g, 'x', [2, 3]);
    const cond = addInput(g, 'cond', [], DataType.BOOL);
    const branch = (name: string, quant: boolean): Graph => {
      const b = new Graph(name, g);
      const w = b.addInitializer(Tensor.fromFloat32(`${name}.w`, [3, 2], Float32Array.from([1, -2, 0.5, 3, -1, 0.25])));
      let [lhs, rhs] = [x, w];
      if (quant) {
        const target = onActivation ? x : w;
        const q = b.createNode('BipolarQuant', [target, b.addInitializer(Tensor.fromFloat32(`${name}.s`, [], Float32Array.of(0.5)))], [`${name}.q`], { domain: DOMAIN, name: 'wquant' });
        b.append(q);
        if (onActivation) lhs = q.outputs[0]!;
        else rhs = q.outputs[0]!;
      }
      const mm = b.createNode('MatMul', [lhs, rhs], [`${name}.y`], { name: `${name}/MatMul` });
      b.append(mm);
      b.outputs.push(mm.outputs[0]!);
      setTensorType(mm.outputs[0]!, DataType.FLOAT, [2, 2]);
      return b;
    };
    const iff = addNode(g, 'If', [cond], [mainLayer ? 'h' : 'y'], { then_branch: A.graph(branch('then', true)), else_branch: A.graph(branch('else', false)) }, { name: 'gate' });
    const out = mainLayer ? addNode(g, 'MatMul', [iff.outputs[0]!, addFloatInit(g, 'w2', [2, 4], [1, -1, 0.5, 2, -0.25, 1, 3, -2])], ['y'], {}, { name: 'fc' }).outputs[0]! : iff.outputs[0]!;
    g.outputs.push(out);
    setTensorType(out, DataType.FLOAT, [2, mainLayer ? 4 : 2]);
    return m;
  }

  it('a BipolarQuant weight inside an If branch is folded there: the model runs with x · (±0.5); a quantizer on an activation in a branch is unsupported-op naming the If node and the subgraph', async () => {
    const c = await imported(ifModel());
    const then = c.graph.nodes[0]!.subgraphs()[0]!;
    expect(then.nodes.map((n) => n.opType)).toEqual(['MatMul']);
    expect(Array.from(then.get('then.q')!.constValue!.toFloat32())).toEqual([0.5, -0.5, 0.5, 0.5, -0.5, 0.5]);
    expect(JSON.parse(c.getMetadata('hbnn.import')!).foldedWeights).toEqual([{ node: 'wquant', op: 'BipolarQuant', bits: 1, subgraph: true }]);
    const xs = Float32Array.from([1, 2, 3, -1, 0.5, 2]);
    const run = async (cond: boolean): Promise<number[]> =>
      Array.from((await runModel(c, { x: floatFeed(xs, [2, 3]), cond: new ort.Tensor('bool', [cond], []) }))['y']!.data as Float32Array);
    // then: x · sign(w)·0.5 = x · [[.5,-.5],[.5,.5],[-.5,.5]]; else: x · w, w = [[1,-2],[0.5,3],[-1,0.25]]
    expect(await run(true)).toEqual([0, 2, -1.25, 1.75]);
    expect(await run(false)).toEqual([-1, 4.75, -2.75, 4]);
    // quantize: without a main-graph layer, nothing-to-quantize naming the subgraph layers; with
    // one, the branch's quantizer is folded, the main layer binarized, and it runs.
    const q = await expectHbnnError(() => quantize(cloneModel(ifModel()), { avgBits: 1.4 }), ErrorCodes.NOTHING_TO_QUANTIZE);
    expect(q.message).toContain('weights inside subgraphs are not supported');
    const withLayer = ifModel(false, true);
    const r = await quantize(withLayer, { avgBits: 1.4 });
    expect(r.record.weights.map((w) => w.node)).toEqual(['fc']);
    expect(r.preparation.join('\n')).toContain('stay float: weights inside subgraphs are not supported');
    const out = (await runModel(withLayer, { x: floatFeed(xs, [2, 3]), cond: new ort.Tensor('bool', [true], []) }))['y']!;
    expect(out.dims).toEqual([2, 4]);
    expect(withLayer.graph.nodes.some((n) => n.subgraphs().some((b) => b.nodes.some((k) => k.domain === DOMAIN)))).toBe(false);

    const act = ifModel(true);
    const e = await expectHbnnError(() => Pipeline.parse('import-qonnx', registry).run(cloneModel(act)), ErrorCodes.UNSUPPORTED_OP);
    expect(e.message).toContain(`${DOMAIN}::BipolarQuant node "wquant"`);
    expect(e.message).toContain(`inside the subgraph 'then_branch' of node "gate" (If)`);
    expect(e.context).toMatchObject({ subgraph: 'then_branch', owner: 'gate' });
    const e2 = await expectHbnnError(() => prepareForQuantize(cloneModel(act)), ErrorCodes.UNSUPPORTED_OP);
    expect(e2.message).toContain('then_branch');
  });
});
