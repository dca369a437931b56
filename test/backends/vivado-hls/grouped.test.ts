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
import type { Model } from '../../../src/ir/graph.js';
import { A, addFloatInit, addInput, addNode, newModel } from '../../helpers/build.js';
import { setTensorType } from '../../../src/ir/types.js';
import { DataType } from '../../../src/ir/dtype.js';
import { tempDir } from './helpers.js';

const SHAPE = [4, 10, 10] as const;
const PER = SHAPE[0] * SHAPE[1] * SHAPE[2];

function uniform(n: number, seed: number): Float32Array {
  const d = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    d[i] = (s / 4294967296) * 2 - 1;
  }
  return d;
}

/**
 * dw0: depthwise 4→8 (multiplier 2), 3×3 pad 1 · pw1: 8→16 1×1 · grp2: 16→16 3×3 group 4
 * stride 2 (10→4) · dw3: depthwise 16, 3×3 pad 1 · Gemm 256→10; BN + ReLU after each conv.
 */
function buildNet(): Model {
  const m = newModel();
  const g = m.graph;
  let x = addInput(g, 'input', ['N', ...SHAPE]);
  let n = 0;
  const conv = (name: string, cin: number, cout: number, k: number, o: { group?: number; pad?: number; stride?: number } = {}): void => {
    const group = o.group ?? 1;
    const fan = (cin / group) * k * k;
    const w = addFloatInit(g, `${name}.w`, [cout, cin / group, k, k], uniform(cout * fan, 11 + n));
    const pad = o.pad ?? 0;
    x = addNode(
      g,
      'Conv',
      [x, w],
      [`${name}_out`],
      { kernel_shape: A.ints([k, k]), pads: A.ints([pad, pad, pad, pad]), strides: A.ints([o.stride ?? 1, o.stride ?? 1]), ...(group > 1 ? { group: A.int(group) } : {}) },
      { name },
    ).outputs[0]!;
    const c = (what: string, base: number, spread: number): ReturnType<typeof addFloatInit> =>
      addFloatInit(g, `${name}.${what}`, [cout], Array.from({ length: cout }, (_, i) => base + spread * Math.sin(i * 1.3 + n)));
    x = addNode(g, 'BatchNormalization', [x, c('gamma', 1, 0.2), c('beta', 0.1, 0.3), c('mean', 0, 0.2), c('var', 1.5, 0.3)], [`${name}_bn`], { epsilon: A.float(1e-5) }, { name: `${name}_bn` }).outputs[0]!;
    x = addNode(g, 'Relu', [x], [`${name}_relu`]).outputs[0]!;
    n++;
  };
  conv('dw0', 4, 8, 3, { group: 4, pad: 1 });
  conv('pw1', 8, 16, 1);
  conv('grp2', 16, 16, 3, { group: 4, stride: 2 });
  conv('dw3', 16, 16, 3, { group: 16, pad: 1 });
  x = addNode(g, 'Flatten', [x], ['flat'], { axis: A.int(1) }).outputs[0]!;
  const w = addFloatInit(g, 'fc.w', [10, 256], uniform(2560, 99));
  const y = addNode(g, 'Gemm', [x, w], ['logits'], { transB: A.int(1) }, { name: 'fc' }).outputs[0]!;
  setTensorType(y, DataType.FLOAT, ['N', 10]);
  g.outputs.push(y);
  return m;
}

// dw0: MH 8, MW 9 · pw1: MH 16, MW 8 · grp2: MH 16, MW 36 (PE 8 = two groups of 4 rows) · dw3: MH 16, MW 9 (SF 3, PE 4: shared combiners when several terms).
const FOLD = { layers: { dw0: { pe: 4, simd: 9 }, pw1: { pe: 4, simd: 8 }, grp2: { pe: 8, simd: 36 }, dw3: { pe: 4, simd: 3 }, fc: { pe: 2, simd: 64 } } };
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
