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
import { CNV_LOWERING, quantizedCnv, randomCifar, tempDir } from './helpers.js';

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
    // The LUT share is far above FINN's 21.2% (docs/fpga-results.md explains why): keep the
    // documented figure honest by pinning it here.
    expect(p.estimates.total.lutPercent).toBeGreaterThan(30);
    expect(p.estimates.total.lutPercent).toBeLessThan(45);
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
});
