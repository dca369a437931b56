/**
 * Does the design fit its part? An MLP with 8.4 M one-bit weights (2048 → 4096 → 10): its
 * weights alone exceed the xc7z020's block RAM, so no folding fits there (`cannot-fit`, with
 * the factor and the parts that would hold it); on the xc7z045 a fast folding exceeds the LUTs
 * while the smallest folding fits (`fits-when-folded`); a slow one fits. The first note and
 * the CLI-facing JSON say so instead of a bare percentage.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { planVivadoHls } from '../../../src/backends/vivado-hls/index.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import type { BitProgram } from '../../../src/bitir/types.js';
import { interpret } from '../../../src/bitir/interpret.js';
import { A, addFloatInit, addInput, addNode, newModel } from '../../helpers/build.js';
import { setTensorType } from '../../../src/ir/types.js';
import { DataType } from '../../../src/ir/dtype.js';

let program: BitProgram;

beforeAll(async () => {
  const m = newModel();
  const g = m.graph;
  const x = addInput(g, 'input', ['N', 2048]);
  const w1 = addFloatInit(g, 'w1', [4096, 2048], Float32Array.from({ length: 4096 * 2048 }, (_, i) => Math.sin(i * 0.7)));
  const h = addNode(g, 'Gemm', [x, w1], ['h'], { transB: A.int(1) }, { name: 'fc1' }).outputs[0]!;
  const r = addNode(g, 'Relu', [h], ['r']).outputs[0]!;
  const w2 = addFloatInit(g, 'w2', [10, 4096], Float32Array.from({ length: 40960 }, (_, i) => Math.cos(i * 0.3)));
  const y = addNode(g, 'Gemm', [r, w2], ['logits'], { transB: A.int(1) }, { name: 'fc2' }).outputs[0]!;
  setTensorType(y, DataType.FLOAT, ['N', 10]);
  g.outputs.push(y);
  await quantize(m, { avgBits: 1 });
  program = lowerToBitIR(m);
}, 120_000);

describe('fit report', () => {
  it('cannot-fit: the weights exceed the part at any folding; says by how much and which parts would hold it', () => {
    const e = planVivadoHls(program, { part: 'xc7z020', targetFps: 100 }).estimates;
    expect(e.fit.verdict).toBe('cannot-fit');
    expect(e.fit.over).toContain('bram18');
    expect(e.fit.ratio.bram18).toBeGreaterThan(1);
    expect(e.fit.smallest!.ratio.bram18).toBeGreaterThan(1);
    // 8.4 M one-bit weights: 8,396,800 stored bits against 280 BRAM18 of 18 Kbit.
    expect(e.fit.weightBits).toBe(4096 * 2048 + 10 * 4096);
    expect(e.fit.bramBits).toBe(280 * 18 * 1024);
    expect(e.fit.partsThatFit).toEqual(['xc7z045', 'xczu9eg', 'xcu250']);
    expect(e.notes[0]).toMatch(/^DOES NOT FIT the xc7z020: .*cannot fit at any folding.*BRAM18 1\.\d\d× the part's/);
    expect(e.notes[0]).toContain('Parts it would fit (smallest folding): xc7z045, xczu9eg, xcu250');
  });

  it('fits-when-folded: a fast folding exceeds the LUTs, the smallest one fits; fits: a slow folding', () => {
    const fast = planVivadoHls(program, { part: 'xc7z045', targetFps: 2_000_000 }).estimates;
    expect(fast.fit.verdict).toBe('fits-when-folded');
    expect(fast.fit.over).toContain('luts');
    expect(fast.total.lutPercent).toBeGreaterThan(100);
    expect(fast.fit.smallest!.ratio.luts).toBeLessThan(1);
    expect(fast.notes[0]).toMatch(/^DOES NOT FIT the xc7z045: this folding needs [\d,]+% of its LUTs.*The smallest folding .* fits .*lower target FPS/);
    const slow = planVivadoHls(program, { part: 'xc7z045', targetFps: 100 }).estimates;
    expect(slow.fit).toMatchObject({ verdict: 'fits', over: [] });
    expect(slow.fit.smallest).toBeUndefined();
    expect(slow.notes[0]).not.toMatch(/FIT/);
  });

  it('the interpreter streams a unit over 4 M weights from its packed planes (no rows × cols array): the same integers as the unfused accumulators', () => {
    // fc1 (8.4 M weights, fixed-point input) takes the streamed path of the fused interpreter
    // (the testbench vectors of AlexNet-sized designs); the unfused run sums every term apart.
    const x = Float32Array.from({ length: 2 * 2048 }, (_, i) => Math.sin(i * 1.3));
    const fused = interpret(program, x);
    const plain = interpret(program, x, { fuse: false });
    expect(Array.from(fused.logitsQ)).toEqual(Array.from(plain.logitsQ));
    expect(new Set(fused.logitsQ).size).toBeGreaterThan(2);
  });
});
