/**
 * Grouped and depthwise convolutions: the vector-vector unit (each PE reads its own group's
 * window; FINN's VVAU) beside matrix-vector units, in C simulation. A small network with a
 * depthwise convolution with channel multiplier 2 on the fixed-point input (lanes summed one
 * by one), a pointwise convolution, a grouped convolution (group 4, 4 output channels per
 * group, PE 8 spanning two groups, SIMD 36 on the input's bit planes in W1.4) and a depthwise
 * convolution with padding, at W1.4 and W1.4A1.4 (Middle-Out). The generated C++ must agree
 * with the bit-level IR interpreter on every class, logit and accumulator of 100 inputs.
 */
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lowerVivadoHls, planVivadoHls, runCsim, type VivadoHlsResult } from '../../../src/backends/vivado-hls/index.js';
import { unitCost } from '../../../src/backends/vivado-hls/estimate.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import { writeNpy } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { buildGroupedNet as buildNet, GROUPED_FOLDING as FOLD, GROUPED_SHAPE as SHAPE, uniform } from '../../helpers/grouped.js';
import { tempDir } from './helpers.js';

const PER = SHAPE[0] * SHAPE[1] * SHAPE[2];

const SAMPLES = 100;
const CONFIGS = ['W1.4', 'W1.4A1.4'] as const;
const results = new Map<string, VivadoHlsResult>();
const dirs = new Map<string, string>();

beforeAll(async () => {
  const root = tempDir('hbnn-hls-grouped-');
  const calib = path.join(root, 'calib.npy');
  writeNpy(calib, { dtype: 'float32', shape: [32, ...SHAPE], data: uniform(32 * PER, 5) });
  for (const config of CONFIGS) {
    const m = buildNet();
    const acts = config === 'W1.4A1.4' ? { actBits: 1.4, actHeuristic: 'middle-out' as const, calibData: `npy:${calib}`, calibLimit: 32 } : {};
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', ...acts });
    // W1.4A1.4 puts its weight planes in data files (what large designs do by default), read at run time by the C simulation.
    const storage = config === 'W1.4A1.4' ? ('files' as const) : ('inline' as const);
    const r = lowerVivadoHls(lowerToBitIR(m), { folding: FOLD, testData: uniform(SAMPLES * PER, 21), testSamples: SAMPLES, accSamples: 4, weightStorage: storage });
    const dir = path.join(root, config);
    writeFilesAtomic(dir, r.files);
    results.set(config, r);
    dirs.set(config, dir);
  }
}, 120_000);

describe('grouped and depthwise convolutions (vector-vector units)', () => {
  it('maps each grouped convolution to a vector-vector unit fed by a grouped window of PE·SIMD entries', () => {
    const r = results.get('W1.4')!;
    const units = r.design.units;
    expect(units.map((u) => [u.layer, u.groups, u.name.split('_')[0]])).toEqual([
      ['dw0', 4, 'vvu'],
      ['pw1', 1, 'mvtu'],
      ['grp2', 4, 'vvu'],
      ['dw3', 16, 'vvu'],
      ['fc', 1, 'mvtu'],
    ]);
    const grp = units[2]!;
    expect([grp.mh, grp.mw, grp.reps, grp.in.beat]).toEqual([16, 36, 16, 8 * 36]);
    const win = r.design.stages.find((s) => s.kind === 'window' && s.out === grp.in);
    expect(win?.kind === 'window' && win.grouped).toMatchObject({ groups: 4, rowsPerGroup: 4, channelsPerGroup: 4, pe: 8, simd: 36 });
    const top = r.files.get('hbnn_top.cpp')!;
    expect(top).toContain('vector-vector unit (4 groups');
    // W1.4: fixed-point input; lane by lane at SIMD 9, on bit planes per PE at SIMD 36.
    expect(top).toContain('in_raw.v[pe * 9 + s]');
    expect(top).toContain('in_bits[pe]');
    expect(r.files.has('weights_grp2.h')).toBe(true);
    // Same cycles formula as a dense unit: reps · (MH/PE) · (MW/SIMD).
    const est = r.estimates.stages.find((s) => s.layer === 'grp2')!;
    expect(est.cycles).toBe(16 * 2 * 1);
  });

  it('weights in data files: no initializers in the C-simulation build, one .dat file per array of 0x… words (the C simulation below reads them)', () => {
    const inline = results.get('W1.4')!;
    const files = results.get('W1.4A1.4')!;
    expect(inline.files.get('weights_grp2.h')).toMatch(/static const ap_uint<36> u2_ws1\[8\]\[2\] = \{/);
    const header = files.files.get('weights_grp2.h')!;
    expect(header).toContain('#include "u2_ws1.dat"');
    expect(header).toContain('static ap_uint<36> u2_ws1[8][2];  // read from u2_ws1.dat');
    expect(files.files.get('hbnn_top.cpp')).toContain('hbnn::load_words("u2_ws1.dat", &u2_ws1[0][0], 16);');
    const words = files.files.get('u2_ws1.dat')!.trim().split(',\n');
    expect(words).toHaveLength(16);
    for (const w of words) expect(w).toMatch(/^0x[0-9a-f]+ULL$/);
  });

  it('a vector-vector unit pays per PE what a dense unit shares (the bit-plane input sum)', () => {
    const grp = results.get('W1.4')!.design.units[2]!;
    const asVv = unitCost(grp);
    const asDense = unitCost({ ...grp, groups: 1 });
    expect(asVv.luts).toBeGreaterThan(asDense.luts);
    expect(asVv.cycles).toBe(asDense.cycles);
  });

  it('the solver folds vector-vector units for a target, PE over channels and SIMD over a group\'s columns', () => {
    const m = results.get('W1.4A1.4')!.program;
    for (const target of [2_000, 200_000]) {
      const plan = planVivadoHls(m, { targetFps: target });
      for (const u of plan.design.units) {
        expect(u.mh % u.pe).toBe(0);
        expect(u.mw % u.simd).toBe(0);
      }
      expect(plan.estimates.total.fps).toBeGreaterThanOrEqual(Math.min(target, 200e6 / PER) * (1 - 1e-9));
    }
  });

  for (const config of CONFIGS) {
    it(`${config}: C simulation is bit-exact with the interpreter on ${SAMPLES} inputs (classes, logits, every accumulator of 4)`, async () => {
      const r = await runCsim(dirs.get(config)!, { timeoutMs: 300_000, optLevel: 'O1' });
      expect(r.stdout).toContain('hbnn-tb: PASS');
      expect(r.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    }, 300_000);
  }
});
