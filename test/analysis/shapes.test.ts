/**
 * The shape analysis is one analysis, computed once per model state and shared: the
 * infer-shapes pass, the bit-level lowering, the ASIC layer geometry and the trainer's shape
 * map all read the same cached result; an edit of the model (through the IR, or by a pass
 * that reports a change) makes the next request compute it again.
 */
import { describe, expect, it } from 'vitest';
import { modelA, modelB } from '../bitir/helpers.js';
import { Pipeline, passInstance } from '../../src/pass/manager.js';
import { definePass } from '../../src/pass/pass.js';
import { builtinPasses } from '../../passes/registry.js';
import { LOWERING_CANONICALIZATION, lowerToBitIR } from '../../src/bitir/lower.js';
import { layerGeometry } from '../../src/backends/asic/geometry.js';
import { forwardShapes } from '../../src/train/grad/shapes.js';
import { shapeAnalysis, shapeAnalysisRuns } from '../../src/analysis/shapes.js';
import { setTensorType, tensorTypeOf } from '../../src/ir/types.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';

const value = (m: Model, name: string) => m.graph.get(name)!;

describe('the shape analysis', () => {
  it('is computed once for infer-shapes, the bit-level lowering, the ASIC geometry and the trainer', async () => {
    const m = modelA();
    const runs0 = shapeAnalysisRuns;
    const rep = await Pipeline.parse(LOWERING_CANONICALIZATION, builtinPasses()).run(m);
    expect(rep.passes.at(-1)!.pass).toBe('infer-shapes');
    expect(shapeAnalysisRuns).toBe(runs0 + 1);
    // infer-shapes wrote the analysis's result, the ai.hbnn weight call's included.
    expect(tensorTypeOf(value(m, 'c1.out'))?.shape).toEqual(['N', 3, 5, 5]);
    expect(tensorTypeOf(m.graph.nodes.find((n) => n.name === 'fc')!.inputs[1]!)?.shape).toEqual([4, 12]);

    const program = lowerToBitIR(m);
    const geometry = layerGeometry(m);
    const train = forwardShapes(m);
    expect(shapeAnalysisRuns).toBe(runs0 + 1);

    // The consumers read the same shapes: MaxPool 2×2/2 of 5×5 is 2×2 (floor).
    expect(shapeAnalysis(m).shapeOf(value(m, 'pool1.out'))).toEqual(['N', 3, 2, 2]);
    expect(program.tensors.find((t) => t.id === 'pool1.out')!.type.shape).toEqual([3, 2, 2]);
    expect(geometry.map((l) => [l.node.name, l.rows, l.cols, l.outputPositions])).toEqual([
      ['c1', 3, 18, 25],
      ['fc', 4, 12, 1],
    ]);
    expect(train.get(value(m, 'flat.out'))).toEqual(['N', 12]);
    expect(shapeAnalysisRuns).toBe(runs0 + 1);
  });

  it('is computed again after an edit through the IR, and sees it', () => {
    const m = modelB();
    const runs0 = shapeAnalysisRuns;
    const a = shapeAnalysis(m);
    expect(shapeAnalysis(m)).toBe(a);
    expect(shapeAnalysisRuns).toBe(runs0 + 1);
    const x = m.graph.inputs[0]!;
    const before = a.shapeOf(m.graph.nodes.find((n) => n.opType === 'Conv')!.outputs[0]);
    setTensorType(x, DataType.FLOAT, ['N', 4, 9, 9]);
    const b = shapeAnalysis(m);
    expect(b).not.toBe(a);
    expect(shapeAnalysisRuns).toBe(runs0 + 2);
    const after = b.shapeOf(m.graph.nodes.find((n) => n.opType === 'Conv')!.outputs[0]);
    expect(after).not.toEqual(before);
    // strides [2,1], dilations [1,2], pads [1,0,2,1], kernel 3×3 on 9×9: H (9+3-3)/2+1 = 5, W (9+1-5)/1+1 = 6
    expect(after).toEqual(['N', 4, 5, 6]);
    expect(shapeAnalysis(m)).toBe(b);
  });

  it('is dropped by the pass manager after a pass that reports a change, even one that edits fields directly', async () => {
    const m = modelA();
    const pool = m.graph.nodes.find((n) => n.opType === 'MaxPool')!;
    const direct = definePass({
      name: 'widen-pool-directly',
      summary: 'test: a kernel edit that bypasses the IR methods',
      options: [],
      run(model) {
        const p = model.graph.nodes.find((n) => n.opType === 'MaxPool')!;
        p.attributes.set('kernel_shape', { type: 'ints', value: [1n, 1n] });
        p.attributes.set('strides', { type: 'ints', value: [1n, 1n] });
        return { changed: true };
      },
    });
    const runs0 = shapeAnalysisRuns;
    expect(shapeAnalysis(m).shapeOf(pool.outputs[0])).toEqual(['N', 3, 2, 2]);
    await Pipeline.of([passInstance(direct)]).run(m);
    expect(shapeAnalysis(m).shapeOf(pool.outputs[0])).toEqual(['N', 3, 5, 5]);
    expect(shapeAnalysisRuns).toBe(runs0 + 2);
  });

  it('ceil mode: a window over the end by less than a stride gives one output (as onnxruntime); floor mode: a contradiction', () => {
    for (const ceil of [1, 0]) {
      const m = modelA();
      const pool = m.graph.nodes.find((n) => n.opType === 'MaxPool')!;
      // 6×6 window, stride 2, on the 5×5 map: one row short of the window.
      pool.attributes.set('kernel_shape', { type: 'ints', value: [6n, 6n] });
      pool.attributes.set('ceil_mode', { type: 'int', value: BigInt(ceil) });
      const a = shapeAnalysis(m);
      const record = a.nodes.find((r) => r.node === pool)!;
      if (ceil) expect(a.shapeOf(pool.outputs[0])).toEqual(['N', 3, 1, 1]);
      else expect(record.message).toMatch(/padded input size 5 is smaller than the window 6/);
    }
  });
});


describe('the shape analysis: Slice and LayerNormalization', () => {
  it('slices static axes as the spec clamps them (negative, out-of-range and negative-step bounds), follows sliced shape vectors, and gives LayerNormalization its statistics shapes', async () => {
    const { Net, A } = await import('../train/helpers/gradcheck.js');
    const net = new Net(['N', 8, 4, 5], 17);
    const shape = net.node('Shape', [net.x]);
    // a channel split whose end is computed from the shape (as PyTorch exports x.chunk(2, 1))
    const half = net.node('Div', [net.node('Slice', [shape, net.ints('b1', [1]), net.ints('e1', [2])]), net.ints('two', [2])]);
    const left = net.node('Slice', [net.x, net.ints('z', [0]), half, net.ints('ax1', [1])]);
    // x[..., -2:] as PyTorch exports it: the end is INT64_MAX
    const int64Max = net.model.graph.addInitializer(Tensor.fromInt64('int64max', [1], [2n ** 63n - 1n]));
    const tail = net.node('Slice', [net.x, net.ints('m2', [-2]), int64Max, net.ints('ax3', [3])]);
    const back = net.node('Slice', [net.x, net.ints('m1', [-1]), net.ints('far', [-1000]), net.ints('ax2', [2]), net.ints('st', [-2])]);
    const dims = net.node('Slice', [shape, net.ints('b2', [1]), net.ints('e2', [3])]);
    const ln = net.node('LayerNormalization', [net.x, net.param('g', [4, 5])], { axis: A.int(2) }, 3);
    const info = shapeAnalysis(net.output(left));
    expect(info.shapeOf(left)).toEqual(['N', 4, 4, 5]);
    expect(info.knownInts(half)).toEqual([4]);
    expect(info.shapeOf(tail)).toEqual(['N', 8, 4, 2]);
    expect(info.shapeOf(back)).toEqual(['N', 8, 2, 5]);
    expect(info.knownInts(dims)).toEqual([8, 4]);
    const [y, mean, invstd] = ln.producer!.outputs;
    expect([info.shapeOf(y), info.shapeOf(mean), info.shapeOf(invstd)]).toEqual([['N', 8, 4, 5], ['N', 8, 1, 1], ['N', 8, 1, 1]]);
  });
});

describe('the shape analysis: shape arithmetic as PyTorch exports it', () => {
  it('follows the pads table of a reflect padding (ConstantOfShape, Concat, Reshape, a reversing Slice, Transpose), Mod and Range, and the class-token Expand of a vision transformer', async () => {
    const { Net, A } = await import('../train/helpers/gradcheck.js');
    const net = new Net(['N', 8, 32, 32], 13);
    const zeros = net.node('ConstantOfShape', [net.ints('four', [4])], { value: { type: 'tensor', value: Tensor.fromInt64('', [1], [0]) } });
    const table = net.node('Reshape', [net.node('Concat', [net.ints('ones', [1, 1, 1, 1]), zeros], { axis: A.int(0) }), net.ints('pairs', [-1, 2])]);
    const reversed = net.node('Slice', [table, net.ints('r0', [-1]), net.ints('r1', [-Number.MAX_SAFE_INTEGER]), net.ints('r2', [0]), net.ints('r3', [-1])]);
    const pads = net.node('Reshape', [net.node('Transpose', [reversed], { perm: A.ints([1, 0]) }), net.ints('flat', [-1])]);
    const padded = net.node('Pad', [net.x, pads], { mode: A.str('reflect') });
    // torch's expand(n, -1, -1) of a [1, 1, 8] token: the shape's entries are computed, its length is known
    const n = net.node('Slice', [net.node('Shape', [net.x]), net.ints('a0', [0]), net.ints('a1', [1])]);
    const token = net.param('cls', [1, 1, 8]);
    const known = net.node('Expand', [token, net.node('Concat', [n, net.ints('rest', [1, 8])], { axis: A.int(0) })]);
    const opaque = net.node('Expand', [token, net.node('Abs', [net.node('Concat', [n, net.ints('rest2', [1, 8])], { axis: A.int(0) })])]);
    // Swin's pad-to-window arithmetic and its mask's coordinates
    const rem = net.node('Mod', [net.node('Sub', [net.ints('win', [4]), net.ints('w', [10])]), net.ints('win2', [4])]);
    const coords = net.node('Range', [net.g.addInitializer(Tensor.fromInt64('rs', [], [1])), net.g.addInitializer(Tensor.fromInt64('rl', [], [8])), net.g.addInitializer(Tensor.fromInt64('rd', [], [3]))]);
    const info = shapeAnalysis(net.output(padded));
    expect(info.knownInts(rem)).toEqual([2]);
    expect(info.knownInts(coords)).toEqual([1, 4, 7]);
    expect(info.knownInts(zeros)).toEqual([0, 0, 0, 0]);
    expect(info.knownInts(reversed)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(info.knownInts(pads)).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    expect(info.shapeOf(padded)).toEqual(['N', 8, 34, 34]);
    expect(info.shapeOf(known)).toEqual(['N', 1, 8]);
    expect(info.shapeOf(opaque)).toEqual([null, null, 8]);
  });
});
