/** The unit-count model and its adapters, on hand-made work lists and a small bit-level IR program. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TECH,
  chooseFolding,
  estimateDesign,
  fromBitProgram,
  fromQuantRecord,
  lowerAsic,
  lowerAsicFromProgram,
  paramBitSum,
  popcountTreeBits,
  withHomogeneousBits,
  type AsicLayerWork,
  type AsicTech,
} from '../../../src/backends/asic/index.js';
import { BITIR_FORMAT, DEFAULT_LOWERING, type BitProgram } from '../../../src/bitir/types.js';
import type { Model } from '../../../src/ir/graph.js';
import { weightsOnlyCnv } from './fixtures.js';

const layer = (over: Partial<AsicLayerWork> = {}): AsicLayerWork => ({
  name: 'l',
  kind: 'conv',
  weightBits: [0, 1000],
  weightEncoding: 'planes',
  activation: { source: 'binarized', encoding: 'planes', avg: 2, max: 2 },
  outputPositions: 100,
  rows: 10,
  cols: 100,
  accumulatorBits: 8,
  accumulatorsPerOutput: 4,
  output: { kind: 'thresholds', count: 3 },
  ...over,
});

describe('unit counts', () => {
  it('lanes follow the sum of per-parameter bits, not the largest bitwidth', () => {
    const hetero = layer({ weightBits: [700, 200, 100], activation: { source: 'binarized', encoding: 'planes', avg: 1.4, max: 3 } });
    expect(paramBitSum(hetero)).toBe(700 + 400 + 300);
    const [h] = estimateDesign([hetero], DEFAULT_TECH).layers;
    const [w2] = estimateDesign([layer()], DEFAULT_TECH).layers;
    expect(h!.laneOpsPerFrame).toBeCloseTo(100 * 1400 * 1.4, 6);
    expect(w2!.laneOpsPerFrame).toBe(100 * 2000 * 2);
    // Sized by the maximum (3 bits × 3 activation bits) it would be 9 / 4 of W2A2, not 1.96 / 4.
    expect(h!.laneOpsPerFrame / w2!.laneOpsPerFrame).toBeCloseTo(0.49, 9);
    expect(h!.units.sramBit).toBeLessThan(w2!.units.sramBit);
  });

  it('popcount trees add ceil(n / 2^l) adders of width l per level', () => {
    expect([1, 2, 3, 4, 8].map(popcountTreeBits)).toEqual([0, 1, 4, 4, 4 + 4 + 3]);
  });

  it('chooses the least-area folding that meets the cycle budget (brute force agrees)', () => {
    const areaOf = (pe: number, simd: number, copies: number): number => pe * copies * (simd * 4.4 + popcountTreeBits(simd) * 11 + 100);
    for (const [positions, rows, dot, budget] of [
      [784, 64, 2304, 58824],
      [9, 256, 4608, 5000],
      [1, 10, 1024, 100],
      [50, 7, 33, 60],
    ] as const) {
      const f = chooseFolding(positions, rows, dot, budget, areaOf);
      expect(f.cycles).toBeLessThanOrEqual(budget);
      expect(f.cycles).toBe(Math.ceil(positions / f.copies) * Math.ceil(rows / f.pe) * Math.ceil(dot / f.simd));
      let best = Infinity;
      for (let pe = 1; pe <= rows; pe++) {
        for (let simd = 1; simd <= dot; simd++) {
          if (positions * Math.ceil(rows / pe) * Math.ceil(dot / simd) <= budget) best = Math.min(best, areaOf(pe, simd, 1));
        }
      }
      expect(areaOf(f.pe, f.simd, f.copies)).toBe(best);
    }
    // More positions than cycles: the unit is replicated over positions.
    const f = chooseFolding(1000, 2, 2, 300, (pe, simd, c) => pe * simd * c);
    expect(f.copies).toBe(4);
    expect(f.cycles).toBeLessThanOrEqual(300);
  });

  it('throughput and dynamic power follow the clock; area does not', () => {
    const works = [layer(), layer({ name: 'fc', kind: 'fully-connected', outputPositions: 1, output: { kind: 'none' } })];
    const a = estimateDesign(works, DEFAULT_TECH, 100);
    const b = estimateDesign(works, DEFAULT_TECH, 200);
    expect(b.fps / a.fps).toBeCloseTo(2, 12);
    expect(b.dynamicPowerW / a.dynamicPowerW).toBeCloseTo(2, 12);
    expect(b.areaMm2).toBe(a.areaMm2);
    expect(b.leakagePowerW).toBe(a.leakagePowerW);
  });

  it('prices with the technology: doubling one unit cost doubles exactly that share', () => {
    const tech: AsicTech = { ...DEFAULT_TECH, area: { ...DEFAULT_TECH.area, sramBit: 2 * DEFAULT_TECH.area.sramBit } };
    const a = estimateDesign([layer()], DEFAULT_TECH);
    const b = estimateDesign([layer()], tech);
    expect(b.areaBreakdownMm2.sramBit).toBeCloseTo(2 * a.areaBreakdownMm2.sramBit, 12);
    expect(b.areaMm2 - a.areaMm2).toBeCloseTo(a.areaBreakdownMm2.sramBit, 12);
  });

  it('homogeneous substitution keeps the network input and rewrites HBNN bits, accumulators and thresholds', () => {
    const works = [
      layer({ name: 'first', activation: { source: 'network-input', encoding: 'fixed', avg: 8, max: 8 }, accumulatorsPerOutput: 3 }),
      layer({ name: 'mid', weightBits: [700, 200, 100], activation: { source: 'binarized', encoding: 'planes', avg: 1.4, max: 3 }, output: { kind: 'thresholds', count: 13 } }),
    ];
    const w1 = withHomogeneousBits(works, 1);
    expect(w1[0]!.activation.avg).toBe(8);
    expect(w1[0]!.weightBits).toEqual([1000]);
    expect(w1[0]!.accumulatorsPerOutput).toBe(1);
    expect(w1[1]!.activation).toMatchObject({ avg: 1, max: 1 });
    expect(w1[1]!.output).toEqual({ kind: 'thresholds', count: 1 });
    expect(w1[1]!.accumulatorsPerOutput).toBe(1);
    const w2 = withHomogeneousBits(works, 2);
    expect(w2[1]!.weightBits).toEqual([0, 1000]);
    expect(w2[1]!.accumulatorsPerOutput).toBe(4);
    expect(w2[1]!.output).toEqual({ kind: 'thresholds', count: 3 });
  });
});

describe('fromQuantRecord on CNV (weights only)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await weightsOnlyCnv(1.4);
  });

  it("reads FINN's CNV geometry and the record's histograms", () => {
    const { works, record } = fromQuantRecord(model);
    expect(works.map((w) => w.outputPositions)).toEqual([900, 784, 144, 100, 9, 1, 1, 1, 1]);
    expect(works.map((w) => [w.rows, w.cols])).toEqual([[64, 27], [64, 576], [128, 576], [128, 1152], [256, 1152], [256, 2304], [512, 256], [512, 512], [10, 512]]);
    works.forEach((w, i) => expect(w.weightBits).toEqual(record.weights[i]!.histogram));
    expect(works[0]!.activation).toEqual({ source: 'network-input', encoding: 'fixed', avg: 8, max: 8 });
    // No activation binarizers: the rest are priced at the assumed width (8-bit fixed point by default) ...
    expect(works[1]!.activation).toEqual({ source: 'assumed', encoding: 'fixed', avg: 8, max: 8 });
    expect(works[0]!.output).toEqual({ kind: 'requantize', bits: 8 });
    expect(works[8]!.output).toEqual({ kind: 'none' });
    // ... or as HBNN activations at a stated average.
    const stated = fromQuantRecord(model, { activationBits: 1.4 }).works;
    expect(stated[1]!.activation).toEqual({ source: 'assumed', encoding: 'planes', avg: 1.4, max: 3 });
    expect(stated[0]!.output).toEqual({ kind: 'thresholds', count: 2 + 4 + 8 - 1 });
    expect(stated[1]!.accumulatorsPerOutput).toBe(9);
  });

  it('returns report.json, report.md and report.html in memory', () => {
    const { files, report } = lowerAsic(model, { activationBits: 1.4 });
    expect([...files.keys()]).toEqual(['report.json', 'report.md', 'report.html']);
    expect(JSON.parse(files.get('report.json')!)).toEqual(JSON.parse(JSON.stringify(report)));
    expect(files.get('report.md')).toMatch(/^# ASIC estimate: cnv/);
    expect(files.get('report.md')).toContain('quantization record (`lower` without `--from-bit-ir`)');
    expect(report.notes.join(' ')).toMatch(/priced at 1\.4 activation bits/);
    expect(report.variants.map((v) => v.variant)).toEqual(['homogeneous-1', 'model', 'homogeneous-2']);
  });
});

describe('fromBitProgram', () => {
  // A 2-layer program: conv over a fixed-point input (3 weight planes), then a matvec over
  // binary activations (1 plane); rows of 40 columns, so masks span two words per row.
  const words = (rows: number, bitsPerRow: (r: number) => number): Uint32Array => {
    const out = new Uint32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < bitsPerRow(r); j++) out[r * 2 + (j >>> 5)]! |= 1 << (j & 31);
    }
    return out;
  };
  const plane = (rows: number, n: (r: number) => number) => ({ scales: new Array<number>(rows).fill(0.5), signs: words(rows, n), mask: words(rows, n) });
  const program: BitProgram = {
    format: BITIR_FORMAT,
    source: { graph: 'tiny', avgWeightBits: 1.5, avgActivationBits: 1 },
    options: { ...DEFAULT_LOWERING },
    input: { name: 'x', shape: [4, 6, 6] },
    tensors: [
      { id: 'q', type: { kind: 'fixed', shape: [4, 6, 6], frac: 8, bits: 16 } },
      { id: 'acc1', type: { kind: 'acc', shape: [2, 4, 4], terms: [1, 2, 3].map((w) => ({ w, a: 0, coef: [1, 1] })), bits: 24 } },
      { id: 'b1', type: { kind: 'binary', shape: [2, 4, 4], planes: 1, scales: [1], levels: [] } },
      { id: 'acc2', type: { kind: 'acc', shape: [3], terms: [{ w: 1, a: 1, coef: [1, 1, 1] }], bits: 7 } },
    ],
    weights: [
      { kind: 'binary', id: 'w1', source: [], rows: 2, cols: 36, wordsPerRow: 2, planes: [plane(2, () => 36), plane(2, () => 20), plane(2, () => 5)] },
      { kind: 'binary', id: 'w2', source: [], rows: 3, cols: 32, wordsPerRow: 2, planes: [plane(3, () => 32)] },
    ],
    ops: [
      { op: 'input', id: 'in', nodes: [], source: 'x', output: 'q' },
      { op: 'conv', id: 'c1', nodes: ['conv0'], input: 'q', weight: 'w1', output: 'acc1', group: 1, kernel: [3, 3], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] },
      { op: 'threshold', id: 't1', nodes: ['bn0'], input: 'acc1', output: 'b1', multipliers: [], bands: [{ thresholds: [3], codes: [0, 1] }, { thresholds: [1], codes: [0, 1] }], unit: [1, 1], sumBits: 24, exact: true },
      { op: 'matvec', id: 'm2', nodes: ['fc1'], input: 'b1', weight: 'w2', output: 'acc2' },
    ],
    outputs: { logits: 'acc2', class: 'acc2' },
  };

  it('reads histograms from plane masks, geometry from accumulator shapes and quantizers from the ops after them', () => {
    const works = fromBitProgram(program);
    expect(works.map((w) => w.name)).toEqual(['conv0', 'fc1']);
    expect(works[0]!.weightBits).toEqual([2 * 16, 2 * 15, 2 * 5]);
    expect(works[0]).toMatchObject({ kind: 'conv', rows: 2, cols: 36, outputPositions: 16, accumulatorBits: 24, accumulatorsPerOutput: 3, output: { kind: 'thresholds', count: 1 } });
    expect(works[0]!.activation).toEqual({ source: 'network-input', encoding: 'fixed', avg: 16, max: 16 });
    expect(works[1]).toMatchObject({ kind: 'fully-connected', weightBits: [96], outputPositions: 1, accumulatorsPerOutput: 1, output: { kind: 'none' } });
    expect(works[1]!.activation).toEqual({ source: 'binarized', encoding: 'planes', avg: 1, max: 1 });
    const r = lowerAsicFromProgram(program).report;
    expect(r.source).toBe('bit-ir');
    expect(r.model).toBe('tiny');
    expect(r.notes[0]).toMatch(/bit-level IR/);
  });
});
