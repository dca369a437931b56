/**
 * Folding: parsing folding.json, checking it against the units (errors name the layer),
 * solving PE/SIMD for a throughput target (every unit meets it, at the fewest estimated LUTs
 * among the divisor pairs that do), and unreachable targets.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { planVivadoHls, parseFolding, lowerVivadoHls } from '../../../src/backends/vivado-hls/index.js';
import { divisors, solveUnit } from '../../../src/backends/vivado-hls/folding.js';
import { stageEstimate, unitCost } from '../../../src/backends/vivado-hls/estimate.js';
import type { WindowStage } from '../../../src/backends/vivado-hls/types.js';
import { ErrorCodes } from '../../../src/errors.js';
import type { BitProgram } from '../../../src/bitir/types.js';
import { expectHbnnError } from '../../helpers/build.js';
import { fmnistProgram } from './helpers.js';

let program: BitProgram;
beforeAll(async () => {
  program = await fmnistProgram('W1.4');
});

describe('folding.json', () => {
  it('reads the object and the list form', () => {
    expect(parseFolding({ layers: { a: { pe: 2, simd: 4 } } })).toEqual({ layers: { a: { pe: 2, simd: 4 } } });
    expect(parseFolding({ format: 'hbnn-folding/1', layers: [{ layer: 'a', pe: 2, simd: 4, cycles: 9 }] })).toEqual({ layers: { a: { pe: 2, simd: 4 } } });
  });

  it('refuses malformed entries with INVALID_OPTION', async () => {
    for (const bad of [null, 3, {}, { layers: 5 }, { layers: { a: { pe: 0, simd: 1 } } }, { layers: { a: { pe: 1.5, simd: 1 } } }, { layers: { a: { pe: 1 } } }, { layers: [{ pe: 1, simd: 1 }] }, { layers: [{ layer: 'a', pe: 1, simd: 1 }, { layer: 'a', pe: 2, simd: 1 }] }]) {
      const e = await expectHbnnError(() => parseFolding(bad), ErrorCodes.INVALID_OPTION);
      expect(e.message).toMatch(/^folding: /);
    }
  });
});

describe('impossible folding', () => {
  it('PE not dividing the rows names the layer and its divisors', async () => {
    const e = await expectHbnnError(() => planVivadoHls(program, { folding: { layers: { '/c2/Conv': { pe: 5, simd: 32 } } } }), ErrorCodes.INVALID_OPTION);
    expect(e.message).toContain('/c2/Conv');
    expect(e.message).toContain('PE 5 does not divide its 64 output rows');
    expect(e.context['layer']).toBe('/c2/Conv');
  });

  it('SIMD not dividing the columns names the layer', async () => {
    const e = await expectHbnnError(() => planVivadoHls(program, { folding: { layers: { '/fc/Gemm': { pe: 1, simd: 7 } } } }), ErrorCodes.INVALID_OPTION);
    expect(e.message).toContain('/fc/Gemm');
    expect(e.message).toContain('SIMD 7 does not divide its 1152 input columns');
  });

  it('an unknown layer name is refused, listing the units', async () => {
    const e = await expectHbnnError(() => lowerVivadoHls(program, { folding: { layers: { conv9: { pe: 1, simd: 1 } } } }), ErrorCodes.INVALID_OPTION);
    expect(e.message).toContain('"conv9"');
    expect(e.message).toContain('/c1/Conv, /c2/Conv, /c3/Conv, /fc/Gemm');
  });

  it('a bad target or clock is refused', async () => {
    await expectHbnnError(() => planVivadoHls(program, { targetFps: -5 }), ErrorCodes.INVALID_OPTION);
    await expectHbnnError(() => planVivadoHls(program, { clockMhz: 0 }), ErrorCodes.INVALID_OPTION);
    await expectHbnnError(() => planVivadoHls(program, { part: 'xc9z999' }), ErrorCodes.INVALID_OPTION);
  });
});

describe('solving for a throughput target', () => {
  it('divisors are complete and sorted', () => {
    expect(divisors(288)).toEqual([1, 2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 32, 36, 48, 72, 96, 144, 288]);
    expect(divisors(1)).toEqual([1]);
  });

  for (const target of [500, 5_000, 20_000]) {
    it(`meets ${target} FPS at 200 MHz in every unit, with the fewest estimated LUTs (unit and its sliding window) among the pairs that do`, () => {
      const plan = planVivadoHls(program, { targetFps: target });
      const maxCycles = Math.floor(200e6 / target);
      for (const u of plan.design.units) {
        const cycles = u.reps * (u.mh / u.pe) * (u.mw / u.simd);
        expect(cycles, u.layer).toBeLessThanOrEqual(maxCycles);
        // Brute force over every divisor pair; a convolution's window stage streams SIMD entries per beat.
        const win = plan.design.stages.find((s): s is WindowStage => s.kind === 'window' && s.out === u.in);
        const winLuts = (simd: number): number => (win ? stageEstimate({ ...win, out: { ...win.out, beat: simd } }).luts : 0);
        let best = Infinity;
        for (const pe of divisors(u.mh)) {
          for (const simd of divisors(u.mw)) {
            if (u.reps * (u.mh / pe) * (u.mw / simd) <= maxCycles) best = Math.min(best, unitCost({ ...u, pe, simd }).luts + winLuts(simd));
          }
        }
        expect(unitCost(u).luts + winLuts(u.simd), u.layer).toBe(best);
      }
      // The input stage reads one entry per cycle (784), the only fixed-rate stage here.
      expect(plan.estimates.total.fps).toBeGreaterThanOrEqual(Math.min(target, 200e6 / 784));
    });
  }

  it('faster targets cost more LUTs', () => {
    const luts = [500, 5_000, 50_000].map((t) => planVivadoHls(program, { targetFps: t }).estimates.total.luts);
    expect(luts[0]).toBeLessThan(luts[1]!);
    expect(luts[1]).toBeLessThan(luts[2]!);
  });

  it('an unreachable target takes the fastest folding and says so', () => {
    const plan = planVivadoHls(program, { targetFps: 1e9 });
    for (const u of plan.design.units) expect([u.pe, u.simd]).toEqual([u.mh, u.mw]);
    // The fit note comes first when the fully unrolled design does not fit the part, then the target note.
    const first = plan.estimates.fit.verdict === 'fits' ? 0 : 1;
    expect(plan.estimates.notes[first]).toMatch(/^target 1000000000 FPS not reached/);
    const one = plan.design.units[0]!;
    expect(solveUnit(one, 1)).toEqual({ pe: one.mh, simd: one.mw });
  });

  it('explicit entries are kept and the rest solved', () => {
    const plan = planVivadoHls(program, { targetFps: 5_000, folding: { layers: { '/c1/Conv': { pe: 1, simd: 1 } } } });
    expect(plan.folding.layers['/c1/Conv']).toEqual({ pe: 1, simd: 1 });
    expect(plan.estimates.total.bottleneck).toBe('mvtu_c1_Conv');
    expect(plan.estimates.total.cycles).toBe(784 * 32 * 9);
    for (const u of plan.design.units.slice(1)) expect(u.reps * (u.mh / u.pe) * (u.mw / u.simd)).toBeLessThanOrEqual(40_000);
  });
});
