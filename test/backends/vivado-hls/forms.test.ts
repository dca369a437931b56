/**
 * The accumulator forms and shared combiners (arith.ts) in C simulation: a small network
 * whose second convolution reads 1-bit activations without a ReLU before them ({−s, +s}:
 * the `bipolar` form), whose third reads ReLU'd activations with zero padding ({0, +s}:
 * `unipolar`), with 1.4-bit Middle-Out weights (three nested planes: the 4-word
 * compact storage) and a folding that puts shared combiners (C < PE) and per-PE combination
 * in the same design, for threshold and requantize units. The generated C++ must agree with
 * the bit-level IR interpreter on every class, logit and accumulator.
 */
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lowerVivadoHls, runCsim, type VivadoHlsResult } from '../../../src/backends/vivado-hls/index.js';
import { compactPlanes, unitCombiners } from '../../../src/backends/vivado-hls/emit/weights.js';
import { keptLanesPerPe, planeStats, unitCost } from '../../../src/backends/vivado-hls/estimate.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { writeNpy } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import type { Model } from '../../../src/ir/graph.js';
import { A, addFloatInit, addInput, addNode, newModel } from '../../helpers/build.js';
import { setTensorType } from '../../../src/ir/types.js';
import { DataType } from '../../../src/ir/dtype.js';
import { tempDir } from './helpers.js';
import { uniform } from '../../helpers/grouped.js';

const SHAPE = [3, 10, 10] as const;


/** conv(3→16) → BN → conv(16→32) → BN → ReLU → conv(32→16, pad 1) → BN → ReLU → flatten → Gemm(576→10). */
function buildNet(): Model {
  const m = newModel();
  const g = m.graph;
  let x = addInput(g, 'input', ['N', ...SHAPE]);
  let n = 0;
  const conv = (cin: number, cout: number, pad: number): void => {
    const w = addFloatInit(g, `w${n}`, [cout, cin, 3, 3], uniform(cout * cin * 9, 11 + n));
    x = addNode(g, 'Conv', [x, w], [`conv${n}`], { kernel_shape: A.ints([3, 3]), pads: A.ints([pad, pad, pad, pad]) }, { name: `conv${n}` }).outputs[0]!;
    const c = (name: string, base: number, spread: number): ReturnType<typeof addFloatInit> =>
      addFloatInit(g, `${name}${n}`, [cout], Array.from({ length: cout }, (_, i) => base + spread * Math.sin(i * 1.3 + n)));
    x = addNode(g, 'BatchNormalization', [x, c('gamma', 1, 0.2), c('beta', 0, 0.3), c('mean', 0, 0.2), c('var', 1.5, 0.3)], [`bn${n}`], { epsilon: A.float(1e-5) }, { name: `bn${n}` }).outputs[0]!;
    n++;
  };
  conv(3, 16, 0);
  conv(16, 32, 0);
  x = addNode(g, 'Relu', [x], ['relu1']).outputs[0]!;
  conv(32, 16, 1);
  x = addNode(g, 'Relu', [x], ['relu2']).outputs[0]!;
  x = addNode(g, 'Flatten', [x], ['flat'], { axis: A.int(1) }).outputs[0]!;
  const w = addFloatInit(g, 'wfc', [10, 576], uniform(5760, 99));
  const y = addNode(g, 'Gemm', [x, w], ['logits'], { transB: A.int(1) }, { name: 'fc' }).outputs[0]!;
  setTensorType(y, DataType.FLOAT, ['N', 10]);
  g.outputs.push(y);
  return m;
}

// conv0: SF 3, PE 4 → 2 shared combiners; conv1: SF 9, PE 8 → 1; conv2: SF 1 → per PE; fc: SF 9, PE 2 → 1 (requantize).
const FOLD = { layers: { conv0: { pe: 4, simd: 9 }, conv1: { pe: 8, simd: 16 }, conv2: { pe: 16, simd: 288 }, fc: { pe: 2, simd: 64 } } };
const SAMPLES = 40;
let result: VivadoHlsResult;
let dir: string;

beforeAll(async () => {
  const root = tempDir('hbnn-hls-forms-');
  const calib = path.join(root, 'calib.npy');
  writeNpy(calib, { dtype: 'float32', shape: [32, ...SHAPE], data: uniform(32 * 300, 5) });
  const m = buildNet();
  await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', actBits: 1, calibData: `npy:${calib}`, calibLimit: 32 });
  result = lowerVivadoHls(m, { folding: FOLD, testData: uniform(SAMPLES * 300, 21), testSamples: SAMPLES, accSamples: 4 });
  dir = path.join(root, 'project');
  writeFilesAtomic(dir, result.files);
}, 120_000);

describe('accumulator forms and shared combiners', () => {
  it('picks the form each input allows, stores three nested planes in 4 words, and shares combiners', () => {
    const [c0, c1, c2, fc] = result.design.units;
    expect(c0!.arith.forms.map((f) => f.kind)).toEqual(['direct', 'direct', 'direct']);
    expect(c1!.arith.forms.map((f) => f.kind)).toEqual(['bipolar', 'bipolar', 'bipolar']);
    expect(c2!.arith.forms.map((f) => f.kind)).toEqual(['unipolar', 'unipolar', 'unipolar']);
    // The last layer reads the fixed-point output of a requantize: ±x sums.
    expect(fc!.arith.forms.map((f) => f.kind)).toEqual(['direct', 'direct', 'direct']);
    for (const u of result.design.units) expect(compactPlanes(u)).toBe(true);
    expect(result.design.units.map((u) => unitCombiners(u).c)).toEqual([2, 1, 16, 1]);
    const top = result.files.get('hbnn_top.cpp')!;
    expect(top).toContain('hold[');
    expect(top).toContain('u1_wc2[pe][tile] | u1_wm3[pe][tile]');
    expect(top).not.toContain('u1_wm2');
  });

  it('C simulation is bit-exact with the interpreter: classes, logits and every accumulator', async () => {
    const r = await runCsim(dir, { timeoutMs: 300_000, optLevel: 'O1' });
    expect(r.stdout).toContain('hbnn-tb: PASS');
    expect(r.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
  }, 300_000);

  it('keeps SIMD × density lanes of a partial plane when the unit is one tile, all of them when folded deeply', () => {
    const fc = result.design.units[3]!;
    const d = planeStats(fc.weight).density;
    const one = { ...fc, pe: fc.mh, simd: fc.mw };
    for (const plane of [2, 3]) expect(keptLanesPerPe(one, plane)).toBeCloseTo(fc.mw * d[plane - 1]!, 6);
    const folded = { ...fc, pe: 1, simd: 4 };
    for (const plane of [2, 3]) expect(keptLanesPerPe(folded, plane)).toBe(4);
    expect(unitCost(one).lutsIdeal).toBeLessThanOrEqual(unitCost(one).luts + 1);
  });
});
