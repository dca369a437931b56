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

beforeAll(async () => {
  const calib = randomCifar(tempDir('hbnn-hls-est-'));
  for (const b of BITS) {
    const m = await quantizedCnv(b, calib);
    models.set(b, m);
    const units = planVivadoHls(m, { lowering: CNV_LOWERING }).design.units;
    bnnPynq.set(b, planVivadoHls(m, { lowering: CNV_LOWERING, folding: bnnPynqCnvFolding(units) }));
  }
}, 120_000);

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
    // Binary lanes at 2.2 LUTs (their adder tree counted by width, not fitted): 24.5%, 16%
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

  it('lane LUTs follow the sum of per-parameter bits: linear in the average bits', () => {
    const l = BITS.map((b) => lanes(bnnPynq.get(b)!));
    const d1 = l[2]! - l[1]!;
    const d2 = l[3]! - l[2]!;
    expect(Math.abs(d1 - d2) / d2).toBeLessThan(0.1);
    // 0.2 extra bits cost about a fifth of the 1-bit lanes, plus the mask popcounts.
    expect(d1 / l[0]!).toBeGreaterThan(0.2);
    expect(d1 / l[0]!).toBeLessThan(0.4);
  });

  it('total LUTs rise linearly between 1.2, 1.4 and 1.6 bits, after a step for combining planes', () => {
    const t = BITS.map((b) => bnnPynq.get(b)!.estimates.total.luts);
    expect(t[0]).toBeLessThan(t[1]!);
    expect(t[1]).toBeLessThan(t[2]!);
    expect(t[2]).toBeLessThan(t[3]!);
    const d1 = t[2]! - t[1]!;
    const d2 = t[3]! - t[2]!;
    expect(Math.abs(d1 - d2) / d2).toBeLessThan(0.15);
    // The step from 1 to 1.2 bits is larger than a linear scaling of the 1-bit design (the
    // paper's Table 2 assumption): every PE combines its plane accumulators and compares a
    // wider sum. docs/fpga-results.md quantifies it.
    expect(t[1]! - t[0]!).toBeGreaterThan(t[0]! * 0.2);
  });

  it('LUTs at 1.2 and 1.4 bits vs 1 bit: about 2.1× and 2.2×, not the paper’s 1.2× and 1.4×', () => {
    // docs/fpga-results.md: lanes scale with the bits, but combining planes (per PE) and the
    // stored sign and mask words (LUTRAM) add a step that the paper's linear scaling leaves out.
    // Pinned within ±10% of the documented ratios so that the page stays true.
    const t = BITS.map((b) => bnnPynq.get(b)!.estimates.total.luts);
    const r12 = t[1]! / t[0]!;
    const r14 = t[2]! / t[0]!;
    expect(Math.abs(r12 - 2.11) / 2.11).toBeLessThan(0.1);
    expect(Math.abs(r14 - 2.22) / 2.22).toBeLessThan(0.1);
    expect(r12).toBeGreaterThan(REFERENCES.paperTable2[1].lutPercent / REFERENCES.paperTable2[0].lutPercent);
    expect(r14).toBeGreaterThan(REFERENCES.paperTable2[2].lutPercent / REFERENCES.paperTable2[0].lutPercent);
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

describe('DSP budget', () => {
  it('counts the multipliers beyond the part’s DSP48 slices as LUTs, and says so', async () => {
    const m = await quantizedFmnist('W1.4');
    const big = planVivadoHls(m, { targetFps: 50_000 }).estimates;
    const small = planVivadoHls(m, { targetFps: 50_000, part: 'xc7z020' }).estimates;
    expect(big.total.dsp).toBeGreaterThan(FPGA_PARTS['xc7z020']!.dsp);
    expect(small.total.dsp).toBe(FPGA_PARTS['xc7z020']!.dsp);
    expect(small.total.luts).toBeGreaterThan(big.total.luts);
    expect(small.notes[0]).toMatch(/DSP48 slices needed, 220 on the xc7z020/);
  });
});
