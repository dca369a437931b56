/**
 * Calibration helpers: the non-negative least-squares fit, the asic model's view of a unit
 * configuration, and a generated unit synthesized beside its estimates (asic, small).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import {
  calibrationRow,
  fitCalibration,
  CALIBRATION_DATA,
  type CalibrationData,
  asicUnitTally,
  asicUnitWork,
  fitNonNegative,
  fittedLuts,
  lutFeatures,
  meanAbsRelError,
  nodeScaledTech,
  tallyArea,
  weightMemoryDepth,
  OSU018_AREA_FIT,
  YOSYS_LUT_FIT,
} from '../../../src/backends/synth/calibrate.js';
import { synthesizeVerilog } from '../../../src/backends/synth/design.js';
import { DEFAULT_TECH } from '../../../src/backends/asic/index.js';
import { emitUnitDesign } from '../../../src/backends/verilog/index.js';
import { BLOCK_ROM_MIN_DEPTH } from '../../../src/backends/verilog/memories.js';
import type { FpgaEstimate } from '../../../src/backends/vivado-hls/types.js';

describe('fitNonNegative', () => {
  it('recovers exact non-negative coefficients and clamps a negative one to 0', () => {
    const x = [[1, 2, 0], [1, 5, 1], [1, 9, 3], [1, 1, 7], [1, 4, 4]];
    const y = x.map((r) => 10 * r[0]! + 3 * r[1]! + 0.5 * r[2]!);
    const c = fitNonNegative(x, y);
    expect(c[0]).toBeCloseTo(10, 6);
    expect(c[1]).toBeCloseTo(3, 6);
    expect(c[2]).toBeCloseTo(0.5, 6);
    // y decreasing in column 1: the best non-negative fit drops it
    const y2 = x.map((r) => 100 - 2 * r[1]!);
    const c2 = fitNonNegative(x, y2);
    expect(c2.every((v) => v >= 0)).toBe(true);
    expect(c2[1]).toBe(0);
    expect(meanAbsRelError([110, 90], [100, 100])).toBeCloseTo(0.1, 12);
  });
});

describe('the committed calibration', () => {
  it('the constants in calibrate.ts are what the fit gives on the committed synthesis results (bench/synth-fit.mjs prints them)', () => {
    const data = JSON.parse(fs.readFileSync(new URL(`../../../${CALIBRATION_DATA}`, import.meta.url), 'utf8')) as CalibrationData;
    expect(data.format).toBe('hbnn-calibration/1');
    expect(data.entries.length).toBeGreaterThanOrEqual(20);
    expect(new Set(data.entries.map((e) => e.config.kind))).toEqual(new Set(['conv', 'matvec']));
    const rows = data.entries.map(calibrationRow);
    const fit = fitCalibration(rows);
    expect(fit.heldOut.length).toBeGreaterThanOrEqual(5);
    expect(fit.lut).toEqual({ ...YOSYS_LUT_FIT });
    expect(fit.area).toEqual({ ...OSU018_AREA_FIT });
    // the targets, on the configurations the fit never saw
    expect(fit.mae.lutHeldOut).toBeLessThanOrEqual(0.15);
    expect(fit.mae.areaHeldOut).toBeLessThanOrEqual(0.2);
    // a fit on other data gives other constants (the check can fail)
    const shifted = fitCalibration(rows.map((r) => ({ ...r, xilinx: { ...r.xilinx, luts: r.xilinx.luts * 1.5 } })));
    expect(shifted.lut).not.toEqual({ ...YOSYS_LUT_FIT });
  });
});

describe('the estimators on a unit configuration', () => {
  const d = emitUnitDesign({ kind: 'matvec', inputs: 32, outputs: 8, pe: 2, simd: 8, weightPlanes: 2, avgBits: 1.5, bitMap: 'row', activationPlanes: 1, seed: 3 });

  it('the asic work item has the unit\'s parameters, bits, terms and output', () => {
    const w = asicUnitWork(d.unit);
    expect(w.weightBits.reduce((a, b) => a + b, 0)).toBe(8 * 32);
    expect(w.weightBits.length).toBe(2);
    expect(w.rows).toBe(8);
    expect(w.cols).toBe(32);
    expect(w.accumulatorsPerOutput).toBe(d.unit.terms.length);
    expect(w.output).toEqual({ kind: 'thresholds', count: 2 }); // one output plane with the zero level: 3 levels
    const t = asicUnitTally(d.unit);
    expect(t.xnorPopcountLane).toBeGreaterThan(0);
    expect(t.sramBit).toBeGreaterThanOrEqual(w.weightBits[0]! + 2 * w.weightBits[1]!);
    // scaling to 180 nm multiplies every area by (180/28)²
    const s = nodeScaledTech(180);
    expect(tallyArea(t, s.area)).toBeCloseTo(tallyArea(t, DEFAULT_TECH.area) * (180 / 28) ** 2, 6);
  });

  it('fitted LUTs weigh the estimate\'s parts', () => {
    const f = lutFeatures(d.estimate);
    expect(f.base).toBe(1);
    expect(fittedLuts(d.estimate, { base: 1, lanes: 0, combine: 0, memory: 0 })).toBe(1);
    expect(fittedLuts(d.estimate, { base: 0, lanes: 1, combine: 0, memory: 0 })).toBe(d.estimate.breakdown!.lanes);
    expect(Object.values(YOSYS_LUT_FIT).some((v) => v > 0)).toBe(true);
    expect(Object.values(OSU018_AREA_FIT).some((v) => v > 0)).toBe(true);
  });

  it('the memory part counts only where the Verilog builds the weight ROMs from LUTs (not block RAM)', () => {
    // 16 rows / PE 2 × 64 columns / SIMD 8 = 64 words (LUT ROM); at PE 1, 128 words (block RAM in the Verilog, LUTRAM for FINN)
    for (const pe of [2, 1]) {
      const u = emitUnitDesign({ kind: 'matvec', inputs: 64, outputs: 16, pe, simd: 8, weightPlanes: 2, avgBits: 1.4, activationPlanes: 1, seed: 5 });
      const depth = weightMemoryDepth(u.estimate);
      expect(depth).toBe((16 / pe) * (64 / 8));
      expect(u.estimate.breakdown!.memory).toBeGreaterThan(0);
      const block = depth >= BLOCK_ROM_MIN_DEPTH;
      const v = expect(u.files.get(`${u.top}.v`)!);
      // the weight ROMs are the only ones that deep (thresholds: 16 / PE words)
      if (block) v.toMatch(/\.BLOCK\(1\)/);
      else v.not.toMatch(/\.BLOCK\(1\)/);
      expect(lutFeatures(u.estimate).memory).toBe(block ? 0 : u.estimate.breakdown!.memory);
    }
    expect(() => lutFeatures({ breakdown: d.estimate.breakdown })).toThrow(/folding/);
  });

  it('a generated unit synthesized (asic, the testbench left out) beside its estimates', async () => {
    const estimates = { stages: [d.estimate], total: { luts: d.estimate.luts } } as unknown as FpgaEstimate;
    const files = new Map([...d.files, ['tb.v', 'this is not Verilog and must not be read']]);
    const r = await synthesizeVerilog({ files, top: d.top, sources: [`${d.top}.v`], units: [{ module: d.top, layer: 'fc0', stage: d.unit }], estimates }, { target: 'asic', whole: false, depth: false });
    const unit = r.report.units[0]!;
    expect(unit.name).toBe('fc0');
    expect(unit.asic!.areaUm2).toBeGreaterThan(0);
    expect(r.report.total).toBeUndefined();
    const e = r.estimates.find((x) => x.name === 'fc0')!;
    expect(e.luts).toBe(d.estimate.luts);
    expect(e.areaUm2).toBeCloseTo(tallyArea(asicUnitTally(d.unit), nodeScaledTech(180).area), 6);
    expect(e.areaFittedUm2).toBeGreaterThan(0);
    expect(r.markdown).toContain('| fc0 |');
  }, 120_000);
});
