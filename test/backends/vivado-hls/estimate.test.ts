/**
 * FPGA estimates on FINN's CNV (1-bit activations; 1, 1.2, 1.4 and 1.6 average weight bits):
 * the cycle model against BNN-PYNQ's folding, the LUT model against BNN-PYNQ's measured
 * utilization and FINN's published ZC706 throughput, how LUTs grow with the average bits,
 * and the building blocks (parts, BRAM buckets, DSP counts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { planVivadoHls, bnnPynqCnvFolding, REFERENCES, FPGA_PARTS, resolvePart, type VivadoHlsPlan } from '../../../src/backends/vivado-hls/index.js';
import { bram18For, dspPerMultiplier, planeStats } from '../../../src/backends/vivado-hls/estimate.js';
import type { Model } from '../../../src/ir/graph.js';
import { CNV_LOWERING, quantizedCnv, quantizedFmnist, randomCifar, tempDir } from './helpers.js';

const BITS = [1, 1.2, 1.4, 1.6] as const;
const models = new Map<number, Model>();
const bnnPynq = new Map<number, VivadoHlsPlan>();
/** Row-granular bit maps (one bitwidth per output row) at 1.2 and 1.4 bits. */
const rowModels = new Map<number, Model>();

beforeAll(async () => {
  const calib = randomCifar(tempDir('hbnn-hls-est-'));
  for (const b of BITS) {
    const m = await quantizedCnv(b, calib);
    models.set(b, m);
    const units = planVivadoHls(m, { lowering: CNV_LOWERING }).design.units;
    bnnPynq.set(b, planVivadoHls(m, { lowering: CNV_LOWERING, folding: bnnPynqCnvFolding(units) }));
  }
  for (const b of [1.2, 1.4]) rowModels.set(b, await quantizedCnv(b, calib, 'row'));
}, 180_000);

const lanes = (p: VivadoHlsPlan): number => p.estimates.stages.reduce((a, s) => a + (s.breakdown?.lanes ?? 0), 0);

describe('parts and building blocks', () => {
  it('knows the ZC706 and PYNQ-Z1 devices', () => {
    expect(FPGA_PARTS['xc7z045']).toMatchObject({ luts: 218_600, bram18: 1_090, dsp: 900 });
    expect(FPGA_PARTS['xc7z020']).toMatchObject({ luts: 53_200, bram18: 280, dsp: 220 });
    expect(resolvePart('xc7z045ffg900-2').name).toBe('xc7z045');
    expect(resolvePart().name).toBe('xc7z045');
    for (const p of Object.values(FPGA_PARTS)) expect(p.luts).toBeGreaterThan(50_000);
  });

  it('counts BRAM18 by FINN aspect-ratio buckets and DSP48 by 25×18 tiles', () => {
    expect(bram18For(16384, 1)).toBe(1);
    expect(bram18For(16385, 1)).toBe(2);
    expect(bram18For(1024, 18)).toBe(1);
    expect(bram18For(512, 36)).toBe(1);
    expect(bram18For(512, 72)).toBe(2);
    expect(bram18For(36, 1024)).toBe(Math.ceil(1024 / 36));
    expect(dspPerMultiplier(12, 24)).toBe(1);
    expect(dspPerMultiplier(32, 24)).toBe(4);
  });
});

describe('CNV at 1 bit', () => {
  it('BNN-PYNQ folding: the slowest units take 32,768 cycles (its config.h), 3.05 kFPS at 100 MHz', () => {
    const e = bnnPynq.get(1)!.estimates;
    expect(e.total.cycles).toBe(32_768);
    const fc = e.stages.filter((s) => s.kind === 'unit').map((s) => s.cycles);
    expect(fc).toEqual([32_400, 28_224, 20_736, 28_800, 20_736, 18_432, 32_768, 32_768, 2_560]);
    expect((100e6 / e.total.cycles) / 1000).toBeCloseTo(3.05, 2);
  });

  it('BNN-PYNQ folding: LUTs within 25% of BNN-PYNQ’s measured 26,072 (PYNQ-Z1, incl. its DMA)', () => {
    const luts = bnnPynq.get(1)!.estimates.total.luts;
    const ref = REFERENCES.bnnPynqCnvW1A1.luts;
    expect(Math.abs(luts - ref) / ref).toBeLessThan(0.25);
  });

  it('folded for FINN’s 21,906 FPS on the ZC706: throughput within 15% of FINN’s', () => {
    const p = planVivadoHls(models.get(1)!, { lowering: CNV_LOWERING, targetFps: REFERENCES.finnCnvZc706.fps });
    const fps = p.estimates.total.fps;
    expect(fps).toBeGreaterThanOrEqual(REFERENCES.finnCnvZc706.fps);
    expect(Math.abs(fps - REFERENCES.finnCnvZc706.fps) / REFERENCES.finnCnvZc706.fps).toBeLessThan(0.15);
  });

  it('folded for FINN’s 21,906 FPS on the ZC706: LUT share within 25% of FINN’s 21.2%', () => {
    // Binary lanes at 2.2 LUTs (their adder tree counted by width, not fitted): 23.2%, 10%
    // above FINN's published 46,253 LUTs (docs/fpga-results.md).
    const p = planVivadoHls(models.get(1)!, { lowering: CNV_LOWERING, targetFps: REFERENCES.finnCnvZc706.fps });
    const ref = REFERENCES.finnCnvZc706.lutPercent;
    expect(Math.abs(p.estimates.total.lutPercent - ref) / ref).toBeLessThan(0.25);
    expect(p.estimates.total.lutPercent).toBeGreaterThan(ref);
  });
});

describe('CNV at heterogeneous bits (BNN-PYNQ folding)', () => {
  it('quantized as asked: plane densities sum to the average bits', () => {
    for (const b of BITS) {
      const units = bnnPynq.get(b)!.design.units;
      let bits = 0;
      let n = 0;
      for (const u of units) {
        bits += planeStats(u.weight).avgBits * u.mh * u.mw;
        n += u.mh * u.mw;
      }
      expect(bits / n).toBeCloseTo(b, 2);
    }
  });

  it('the same folding keeps the cycles: planes are evaluated in parallel', () => {
    for (const b of BITS) expect(bnnPynq.get(b)!.estimates.total.cycles).toBe(32_768);
  });

  it('CNV reads ReLU’d 1-bit activations ({0, +s}): every binary term takes one popcount per lane', () => {
    for (const b of BITS) {
      for (const u of bnnPynq.get(b)!.design.units.slice(1, 8)) expect(u.arith.forms.every((f) => f.kind === 'unipolar'), u.layer).toBe(true);
    }
  });

  it('lanes: three dense planes once folded (the planes’ lanes are kept); the sum-of-bits lanes are linear in the bits', () => {
    const kept = BITS.map((b) => lanes(bnnPynq.get(b)!));
    // Every folded lane of planes 2 and 3 sees some weight that has the plane: about 3× the
    // 1-bit lanes at every average above 1 (the first layer's 8-bit lanes and the
    // accumulators keep it below 3×).
    for (const i of [1, 2, 3]) {
      expect(kept[i]! / kept[0]!).toBeGreaterThan(2.5);
      expect(kept[i]! / kept[0]!).toBeLessThan(3.2);
    }
    expect(Math.abs(kept[3]! - kept[1]!) / kept[1]!).toBeLessThan(0.05);
    // If lanes followed the bits (the paper's idealization): linear in the average bits.
    const ideal = BITS.map((b) => bnnPynq.get(b)!.estimates.total.lutsIdeal);
    const d1 = ideal[2]! - ideal[1]!;
    const d2 = ideal[3]! - ideal[2]!;
    expect(Math.abs(d1 - d2) / d2).toBeLessThan(0.2);
  });

  it('combining planes is shared: per-PE and combiner logic stays within 1.25× of the 1-bit thresholds', () => {
    // Before sharing (one combiner per PE): 4.6k → 22.7k LUTs. Now ceil-divisor(PE/SF) combiners per layer.
    const part = (b: number): number => bnnPynq.get(b)!.estimates.stages.reduce((a, s) => a + (s.breakdown ? s.breakdown.perPe + s.breakdown.combine : 0), 0);
    for (const b of [1.2, 1.4, 1.6]) expect(part(b) / part(1)).toBeLessThan(1.25);
    const combiners = bnnPynq.get(1.4)!.estimates.stages.filter((s) => s.kind === 'unit').map((s) => s.combiners);
    expect(combiners).toEqual([2, 2, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('weight memory: 4 stored bits per lane for three nested planes (5 without the compact words)', () => {
    const mem = (b: number): number => bnnPynq.get(b)!.estimates.stages.reduce((a, s) => a + (s.breakdown?.memory ?? 0), 0);
    for (const b of [1.2, 1.4]) {
      expect(mem(b) / mem(1)).toBeGreaterThan(3.5);
      expect(mem(b) / mem(1)).toBeLessThanOrEqual(4);
    }
  });

  it('LUTs at 1.2 and 1.4 bits vs 1 bit: 1.83× and 1.87× (paper 1.2× and 1.4×); sum-of-bits lanes would give 1.32× and 1.39×', () => {
    // docs/fpga-results.md: the combination and the mask popcounts now cost what they must;
    // the gap to the paper is the planes' folded lanes (kept whole) and 4 stored bits per lane.
    // Pinned within ±10% of the documented ratios so that the page stays true.
    const t = BITS.map((b) => bnnPynq.get(b)!.estimates.total.luts);
    const paper = REFERENCES.paperTable2.map((p) => p.lutPercent / REFERENCES.paperTable2[0].lutPercent);
    const r12 = t[1]! / t[0]!;
    const r14 = t[2]! / t[0]!;
    expect(Math.abs(r12 - 1.83) / 1.83).toBeLessThan(0.1);
    expect(Math.abs(r14 - 1.87) / 1.87).toBeLessThan(0.1);
    // Better than the per-PE-combination design (2.11×, 2.22×), still above the paper.
    expect(r12).toBeLessThan(2.0);
    expect(r14).toBeLessThan(2.0);
    expect(r12).toBeGreaterThan(paper[1]!);
    expect(r14).toBeGreaterThan(paper[2]!);
    // With lanes that follow the bits the rest of the design would meet the paper within 0.15.
    const ideal = BITS.map((b) => bnnPynq.get(b)!.estimates.total.lutsIdeal);
    expect(Math.abs(ideal[1]! / ideal[0]! - paper[1]!)).toBeLessThan(0.15);
    expect(Math.abs(ideal[2]! / ideal[0]! - paper[2]!)).toBeLessThan(0.15);
  });

  it('folded for 21,906 FPS: 2.15× and 2.36× the 1-bit LUTs, nearly all from the planes’ lanes and LUTRAM words', () => {
    const plan = (b: number): VivadoHlsPlan => planVivadoHls(models.get(b)!, { lowering: CNV_LOWERING, targetFps: REFERENCES.finnCnvZc706.fps });
    const [p1, p12, p14] = [plan(1), plan(1.2), plan(1.4)];
    const r12 = p12.estimates.total.luts / p1.estimates.total.luts;
    const r14 = p14.estimates.total.luts / p1.estimates.total.luts;
    expect(Math.abs(r12 - 2.15) / 2.15).toBeLessThan(0.1);
    expect(Math.abs(r14 - 2.36) / 2.36).toBeLessThan(0.1);
    const sum = (p: VivadoHlsPlan, k: 'lanes' | 'memory' | 'perPe' | 'combine'): number => p.estimates.stages.reduce((a, s) => a + (s.breakdown?.[k] ?? 0), 0);
    const added = p14.estimates.total.luts - p1.estimates.total.luts;
    expect((sum(p14, 'lanes') - sum(p1, 'lanes') + sum(p14, 'memory') - sum(p1, 'memory')) / added).toBeGreaterThan(0.9);
  });

  it('at the paper’s throughputs (18.25 and 15.6 kFPS) the LUT share is 42% and 39% (paper 25.4% and 29.7%)', () => {
    const share = (b: 1.2 | 1.4): number => {
      const p = REFERENCES.paperTable2.find((r) => r.bits === b)!;
      const e = planVivadoHls(models.get(b)!, { lowering: CNV_LOWERING, targetFps: p.kfps * 1000 }).estimates;
      expect(e.total.fps).toBeGreaterThanOrEqual(p.kfps * 1000);
      return e.total.lutPercent;
    };
    const s12 = share(1.2);
    const s14 = share(1.4);
    expect(Math.abs(s12 - 42.15) / 42.15).toBeLessThan(0.1);
    expect(Math.abs(s14 - 39.15) / 39.15).toBeLessThan(0.1);
    // Planes, not bits, set the lanes: the slower 1.4-bit design is the cheaper one.
    expect(s14).toBeLessThan(s12);
  });

  it('plane combination multipliers are DSP48 slices and fit the ZC706', () => {
    for (const b of BITS) {
      const e = bnnPynq.get(b)!.estimates;
      expect(e.total.dsp).toBeLessThanOrEqual(FPGA_PARTS['xc7z045']!.dsp);
      expect(e.notes.some((n) => n.includes('counted as LUT multipliers'))).toBe(false);
    }
    expect(bnnPynq.get(1.2)!.estimates.total.dsp).toBeGreaterThan(bnnPynq.get(1)!.estimates.total.dsp);
  });
});

describe('CNV with row-granular bit maps (one bitwidth per output row), rows grouped on the PEs', () => {
  const plans = new Map<string, VivadoHlsPlan>();
  const plan = (b: number, o: { grouped?: boolean; targetFps?: number } = {}): VivadoHlsPlan => {
    const key = `${b}/${o.grouped ?? true}/${o.targetFps ?? 'bnn-pynq'}`;
    let p = plans.get(key);
    if (!p) {
      const m = rowModels.get(b)!;
      const folding = o.targetFps === undefined ? { folding: bnnPynqCnvFolding(bnnPynq.get(1)!.design.units) } : { targetFps: o.targetFps };
      plans.set(key, (p = planVivadoHls(m, { lowering: CNV_LOWERING, ...folding, groupRows: o.grouped ?? true })));
    }
    return p;
  };

  it('the lanes follow the bits: lane LUTs within 0.1 of b × the 1-bit lanes (BNN-PYNQ folding, same cycles)', () => {
    for (const b of [1.2, 1.4]) {
      const p = plan(b);
      expect(p.estimates.total.cycles).toBe(32_768);
      // Every unit with several PEs is grouped, but the output layer (its rows are the logits).
      expect(p.design.units.filter((u) => u.rowOrder).map((u) => u.layer)).toEqual(p.design.units.slice(0, -1).filter((u) => u.pe > 1).map((u) => u.layer));
      const r = lanes(p) / lanes(bnnPynq.get(1)!);
      expect(r).toBeGreaterThanOrEqual(b - 0.02);
      expect(r).toBeLessThan(b + 0.1);
    }
  });

  it('LUTs at 1.2 and 1.4 bits: at most the paper’s 1.2× and 1.4× of the 1-bit design, at the 1-bit throughput', () => {
    const one = bnnPynq.get(1)!.estimates.total.luts;
    const paper = REFERENCES.paperTable2.map((p) => p.lutPercent / REFERENCES.paperTable2[0].lutPercent);
    const r12 = plan(1.2).estimates.total.luts / one;
    const r14 = plan(1.4).estimates.total.luts / one;
    // docs/fpga-results.md: 1.13× and 1.22× (the control, thresholds and other stages do not grow with the bits).
    expect(r12).toBeGreaterThan(1.05);
    expect(r12).toBeLessThanOrEqual(paper[1]!);
    expect(r14).toBeGreaterThan(r12 + 0.05);
    expect(r14).toBeLessThanOrEqual(paper[2]!);
    // Without grouping, FINN's row order gives most PEs a row of every width.
    expect(plan(1.2, { grouped: false }).estimates.total.luts / one).toBeGreaterThan(r12 + 0.1);
    expect(plan(1.4, { grouped: false }).estimates.total.luts / one).toBeGreaterThan(r14 + 0.1);
  });

  it('folded for 21,906 FPS: below the paper’s ratios too, at 24.4 kFPS instead of the paper’s 18.25 and 15.6', () => {
    const one = planVivadoHls(models.get(1)!, { lowering: CNV_LOWERING, targetFps: REFERENCES.finnCnvZc706.fps }).estimates.total.luts;
    for (const [b, paper] of [
      [1.2, 25.4 / 21.2],
      [1.4, 29.7 / 21.2],
    ] as const) {
      const e = plan(b, { targetFps: REFERENCES.finnCnvZc706.fps }).estimates.total;
      expect(e.fps).toBeGreaterThanOrEqual(REFERENCES.finnCnvZc706.fps);
      expect(e.luts / one).toBeGreaterThan(1.05);
      expect(e.luts / one).toBeLessThan(paper);
    }
  });
});

describe('DSP budget', () => {
  it('counts the multipliers beyond the part’s DSP48 slices as LUTs, and says so', async () => {
    const m = await quantizedFmnist('W1.4');
    const big = planVivadoHls(m, { targetFps: 100_000 }).estimates;
    const small = planVivadoHls(m, { targetFps: 100_000, part: 'xc7z020' }).estimates;
    expect(big.total.dsp).toBeGreaterThan(FPGA_PARTS['xc7z020']!.dsp);
    expect(small.total.dsp).toBe(FPGA_PARTS['xc7z020']!.dsp);
    expect(small.total.luts).toBeGreaterThan(big.total.luts);
    // First the fit note when the design does not fit the small part, then the DSP note.
    const first = small.fit.verdict === 'fits' ? 0 : 1;
    if (first) expect(small.notes[0]).toMatch(/^DOES NOT FIT the xc7z020/);
    expect(small.notes[first]).toMatch(/DSP48 slices needed, 220 on the xc7z020/);
  });
});
