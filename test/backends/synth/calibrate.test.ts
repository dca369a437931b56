/**
 * Calibration helpers: the non-negative least-squares fit, the committed calibration (current
 * entries, constants = the fit, the issue's held-out targets), the estimators' view of a unit
 * configuration (LUT parts, the ASIC structural features, the asic model's unit counts), and a
 * generated unit synthesized beside its estimates (asic, small).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import {
  calibrationRow,
  designHash,
  featureArea,
  featureLuts,
  fitCalibration,
  CALIBRATION_DATA,
  type CalibrationData,
  asicUnitTally,
  asicUnitWork,
  fittedLuts,
  lutFeatures,
  nodeScaledTech,
  tallyArea,
  unitAreaFeatures,
  weightMemoryDepth,
  OSU018_AREA_FIT,
  YOSYS_LUT_FIT,
} from '../../../src/backends/synth/calibrate.js';
import { fitNonNegative, meanAbsRelError } from '../../../src/backends/synth/least-squares.js';
import { OSU018_UNIT_LOGIC_FIT, unitLogicArea, unitLogicFeatures } from '../../../src/backends/synth/stage-area.js';
import { unitModule } from '../../../src/backends/verilog/unit.js';
import { memoryBits } from '../../../src/backends/verilog/memories.js';
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
  const data = JSON.parse(fs.readFileSync(new URL(`../../../${CALIBRATION_DATA}`, import.meta.url), 'utf8')) as CalibrationData;

  it('every entry was synthesized from the Verilog the emitter makes for its configuration today (none stale)', () => {
    const stale = data.entries.filter((e) => designHash(emitUnitDesign(e.config).files) !== e.design).map((e) => e.id);
    expect(stale).toEqual([]);
  });

  it('the committed constants meet the issue\'s targets on the held-out entries, every fourth configuration of the sweep', () => {
    const rows = data.entries.map(calibrationRow);
    const held = rows.filter((r) => r.holdout);
    expect(held.map((r) => r.id)).toEqual(rows.filter((_, i) => i % 4 === 3).map((r) => r.id));
    const lutErr = meanAbsRelError(held.map((r) => featureLuts(r.features, YOSYS_LUT_FIT)), held.map((r) => r.xilinx.luts));
    const areaErr = meanAbsRelError(held.map((r) => featureArea(r.areaFeatures, OSU018_AREA_FIT)), held.map((r) => r.asic.areaUm2));
    expect(lutErr).toBeLessThanOrEqual(0.15);
    expect(areaErr).toBeLessThanOrEqual(0.2);
    // the asic backend's unit counts under the scaled default technology are far off (paper-anchored, not fitted): the fit is what meets the target
    const scaled = nodeScaledTech(180).area;
    expect(meanAbsRelError(held.map((r) => tallyArea(r.tally, scaled)), held.map((r) => r.asic.areaUm2))).toBeGreaterThan(0.2);
  });

  it('the constants in calibrate.ts are what the fit gives on the committed synthesis results (bench/synth-fit.mjs prints them)', () => {
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
    const shiftedArea = fitCalibration(rows.map((r) => ({ ...r, asic: { ...r.asic, areaUm2: r.asic.areaUm2 * (r.areaFeatures.romBit > 4000 ? 1.5 : 1) } })));
    expect(shiftedArea.area).not.toEqual({ ...OSU018_AREA_FIT });
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

  it('the ASIC fit features: the unit\'s logic under the whole-design unit model, its ROM and RAM bits', () => {
    const f = unitAreaFeatures(d.unit);
    expect(f.logic).toBeCloseTo(unitLogicArea(unitLogicFeatures(d.unit), OSU018_UNIT_LOGIC_FIT), 6);
    const mem = unitModule(d.unit).memories;
    expect(f.romBit).toBe(memoryBits(mem, 'rom'));
    expect(f.ramBit).toBe(memoryBits(mem, 'ram'));
    expect(f.romBit).toBeGreaterThanOrEqual(8 * 32); // at least the first plane's bits
    expect(f.ramBit).toBe(32 * 2); // the input buffer: MW = 32 entries of an activation plane's sign and mask bit
    expect(featureArea(f, { logic: 1, romBit: 0, ramBit: 0 })).toBeCloseTo(f.logic, 6);
    expect(featureArea(f, { logic: 0, romBit: 2, ramBit: 3 })).toBe(2 * f.romBit + 3 * f.ramBit);
    // memories given (a design's, under the unit's instance) replace the module's
    expect(unitAreaFeatures(d.unit, [{ kind: 'rom', width: 4, depth: 10 }])).toEqual({ logic: f.logic, romBit: 40, ramBit: 0 });
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
    expect(e.areaFittedUm2).toBeCloseTo(featureArea(unitAreaFeatures(d.unit), OSU018_AREA_FIT), 6);
    expect(r.markdown).toContain('| fc0 |');
  }, 120_000);
});
