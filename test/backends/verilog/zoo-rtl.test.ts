/**
 * The issue-16 ops in RTL simulation: tiny versions of the zoo topologies (8×8 inputs) through
 * the Verilog backend, simulated with Icarus Verilog (no C++ build: the cheapest simulator for
 * designs this small), bit-exact with the bit-level IR interpreter on a few Fashion-MNIST
 * inputs — every class, every logit and every unit's accumulators:
 * - MobileNetV2-style at W1.4A1.4: depthwise vector-vector units and their grouped windows,
 *   ReLU6 (Clip on fixed-point entries), an inverted residual (duplicate stream, a FIFO of the
 *   design's depth, add-streams), standalone thresholds, global average pool;
 * - SqueezeNet-style at W1.4: fire modules (concat with a FIFO on the early branch), max pools;
 * - the pooling net at W1.4: windowed average pools (border windows of fewer entries), LeakyRelu;
 * - the vivado-hls grouped test's net at W1.4: grouped convolutions with 4 channels per group
 *   (PE spanning two groups), a depthwise convolution with channel multiplier 2.
 * bench/rtl-sim.mjs --zoo runs every test-size fixture (32×32 / 28×28) at W1.4 and W1.4A1.4 on
 * 100 inputs with Verilator. A design with a stage the backend does not map is a LOWERING error
 * naming the node, its op and the stages it maps, and nothing is written.
 * The testbench counts every expected accumulator check, also those of rows that no later stage
 * reads (a floor-mode pool's dropped row), computed after the last class is out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lowerToVerilog, runIcarusSim } from '../../../src/backends/verilog/index.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { writeNpy } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { ErrorCodes } from '../../../src/errors.js';
import type { Model } from '../../../src/ir/graph.js';
import { buildMobileNetV2, buildPoolNet, buildSqueezeNet, buildTorchExport } from '../../../zoo/topologies.js';
import { expectHbnnError } from '../../helpers/build.js';
import { fmnistAs } from '../../helpers/zoo.js';
import { buildGroupedNet, GROUPED_FOLDING, GROUPED_SHAPE, uniform } from '../../helpers/grouped.js';
import { tempDir } from '../vivado-hls/helpers.js';

const SAMPLES = 2;
const root = tempDir('hbnn-rtl-zoo-');

interface Case {
  name: string;
  config: 'W1.4' | 'W1.4A1.4';
  shape: [number, number, number];
  build: (shape: [number, number, number]) => Model;
  /** Verilog modules the design must instantiate (the units this topology exercises). */
  modules: string[];
}

const CASES: Case[] = [
  {
    name: 'mobilenet-v2',
    config: 'W1.4A1.4',
    shape: [3, 8, 8],
    build: (s) => buildMobileNetV2({ inputShape: s, alpha: 0.25, settings: [[1, 16, 1, 1], [6, 24, 2, 2]], lastChannels: 16 }),
    modules: ['hbnn_swu_grouped', 'hbnn_dup', 'hbnn_fifo', 'hbnn_add', 'hbnn_threshold', 'hbnn_gap'],
  },
  {
    name: 'squeezenet',
    config: 'W1.4',
    shape: [3, 24, 24],
    build: (s) => buildSqueezeNet({ inputShape: s, width: 2, fires: [1, 0, 0] }),
    modules: ['hbnn_dup', 'hbnn_fifo', 'hbnn_concat', 'hbnn_maxpool', 'hbnn_gap'],
  },
  { name: 'poolnet', config: 'W1.4', shape: [1, 8, 8], build: (s) => buildPoolNet({ inputShape: s, width: 2, hidden: 8 }), modules: ['hbnn_avgpool', 'hbnn_leakyrelu'] },
];

async function quantized(c: Case, extra: { firstLayer?: 'keep' } = {}): Promise<Model> {
  const calib = path.join(root, `${c.name}-calib.npy`);
  writeNpy(calib, { dtype: 'float32', shape: [16, ...c.shape], data: fmnistAs(c.shape, 16, 'train') });
  const m = c.build(c.shape);
  await quantize(m, {
    avgBits: 1.4,
    heuristic: 'middle-out',
    ...(c.config === 'W1.4A1.4' ? { actBits: 1.4, actHeuristic: 'middle-out' as const } : {}),
    calibData: `npy:${calib}`,
    calibLimit: 16,
    ...extra,
  });
  return m;
}

describe('verilog RTL simulation of the issue-16 ops (Icarus), bit-exact with the interpreter', () => {
  for (const c of CASES) {
    it(`${c.name} ${c.config}: ${SAMPLES} inputs, every class, logit and accumulator`, async () => {
      const m = await quantized(c);
      const r = lowerToVerilog(m, { testData: fmnistAs(c.shape, SAMPLES), testSamples: SAMPLES, accSamples: SAMPLES, targetFps: 20_000 });
      const top = r.files.get('hbnn_top.v')!;
      for (const mod of c.modules) expect(top).toMatch(new RegExp(`^\\s*${mod} #\\(`, 'm'));
      if (c.name === 'mobilenet-v2') expect(r.units.some((u) => u.stage.groups > 1)).toBe(true);
      const dir = path.join(root, c.name);
      writeFilesAtomic(dir, r.files);
      const sim = await runIcarusSim(dir, { timeoutMs: 300_000 });
      expect(sim.stdout).toContain('hbnn-tb: PASS');
      expect(sim.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
      const checked = Number(/checked \d+ classes, \d+ logits, (\d+) accumulators/.exec(sim.stdout)?.[1]);
      expect(checked).toBe(SAMPLES * r.units.reduce((a, u) => a + u.stage.terms.length * u.stage.mh * u.stage.reps, 0));
    }, 300_000);
  }

  // Grouped convolutions beyond depthwise: group 4 with 4 input and 4 output channels per group
  // (PE 8 spans two groups; SIMD 36 on the input's bit planes per PE in W1.4), a depthwise
  // convolution with channel multiplier 2 (lane by lane at SIMD 9), depthwise with SF 3. W1.4
  // only (the fixed-point paths per PE); W1.4A1.4 of the same net passes too (docs/verilog.md).
  for (const config of ['W1.4'] as ('W1.4' | 'W1.4A1.4')[]) {
    it(`grouped and depthwise convolutions ${config} (the vivado-hls grouped test's net and folding): ${SAMPLES} inputs bit-exact`, async () => {
      const per = GROUPED_SHAPE[0] * GROUPED_SHAPE[1] * GROUPED_SHAPE[2];
      const calib = path.join(root, 'grouped-calib.npy');
      writeNpy(calib, { dtype: 'float32', shape: [32, ...GROUPED_SHAPE], data: uniform(32 * per, 5) });
      const m = buildGroupedNet();
      await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', ...(config === 'W1.4A1.4' ? { actBits: 1.4, actHeuristic: 'middle-out' as const, calibData: `npy:${calib}`, calibLimit: 32 } : {}) });
      const r = lowerToVerilog(m, { folding: GROUPED_FOLDING, testData: uniform(SAMPLES * per, 21), testSamples: SAMPLES, accSamples: SAMPLES });
      expect(r.units.map((u) => [u.layer, u.module.split('_')[0], u.stage.groups])).toEqual([
        ['dw0', 'vvu', 4],
        ['pw1', 'mvtu', 1],
        ['grp2', 'vvu', 4],
        ['dw3', 'vvu', 16],
        ['fc', 'mvtu', 1],
      ]);
      // grp2 (16 rows, 4 per group; 36 group-local columns, 4 channels per group): group bases 0, 4, 8, 12.
      expect(r.files.get('hbnn_top.v')).toMatch(/\.PE\(8\),\s*\.SIMD\(36\),\s*\.NF\(2\),\s*\.SF\(1\),\s*\.IB\(8\),\s*\.GROUP_BASE\(128'h0c0c0c0c080808080404040400000000\)/);
      const dir = path.join(root, `grouped-${config}`);
      writeFilesAtomic(dir, r.files);
      const sim = await runIcarusSim(dir, { timeoutMs: 300_000 });
      expect(sim.stdout).toContain('hbnn-tb: PASS');
      expect(sim.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    }, 300_000);
  }

  // The PyTorch-style export at 1×6×6: its last convolution (3×3 outputs, PE 1, SIMD 1) feeds a
  // 2×2 max pool that drops its last row and column, and fast classifier units (one row fold
  // each) give the last class while that convolution still computes the dropped pixels of the
  // last sample. Before the testbench waited for them it reported FAIL with no mismatch
  // (1,512 of 1,548 accumulators checked).
  it('the accumulators of rows a pool drops, computed after the last class, are all checked; a unit short of its checks fails and is named', async () => {
    const shape: [number, number, number] = [1, 6, 6];
    const m = buildTorchExport({ inputShape: shape, width: 4 });
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out' });
    const folding = { layers: { gemm9: { pe: 32, simd: 4 }, gemm11: { pe: 10, simd: 32 } } };
    const r = lowerToVerilog(m, { folding, testData: fmnistAs(shape, SAMPLES), testSamples: SAMPLES, accSamples: SAMPLES });
    expect(r.units.map((u) => [u.layer, u.stage.pe, u.stage.simd])).toEqual([['conv0', 1, 1], ['conv3', 1, 1], ['conv5', 1, 1], ['gemm9', 32, 4], ['gemm11', 10, 32]]);
    const perUnit = r.units.map((u) => SAMPLES * u.stage.terms.length * u.stage.mh * u.stage.reps);
    const dir = path.join(root, 'pool-drops');
    writeFilesAtomic(dir, r.files);
    const sim = await runIcarusSim(dir, { timeoutMs: 300_000 });
    expect(sim.stdout).toContain('hbnn-tb: PASS');
    expect(sim.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    expect(Number(/checked \d+ classes, \d+ logits, (\d+) accumulators/.exec(sim.stdout)?.[1])).toBe(perUnit.reduce((a, b) => a + b, 0));
    // The case this test is for: the last checks come after the last class.
    expect(Number(/last accumulator checks ended (\d+) cycles after the last class/.exec(sim.stdout)?.[1])).toBeGreaterThan(0);
    // The same design whose units check one sample where the testbench expects two: FAIL after the drain, each unit named.
    const tb = path.join(dir, 'tb.v');
    fs.writeFileSync(tb, fs.readFileSync(tb, 'utf8').replace(`localparam ACC_SAMPLES = ${SAMPLES};`, 'localparam ACC_SAMPLES = 1;'));
    const short = await runIcarusSim(dir, { timeoutMs: 300_000 });
    expect(short.ok).toBe(false);
    expect(short.stdout).toContain('hbnn-tb: FAIL');
    expect(short.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    r.units.forEach((u, i) => expect(short.stdout).toContain(`hbnn-tb: ${u.instance} checked ${perUnit[i]! / SAMPLES} of ${perUnit[i]} accumulators`));
  }, 300_000);

  it('a stage the backend does not map is a LOWERING error naming the node, the op and the mapped stages, before any file exists', async () => {
    // Fixed-point weights (the first layer kept at 8 bits) have no Verilog unit.
    const m = await quantized(CASES[2]!, { firstLayer: 'keep' });
    const e = await expectHbnnError(() => lowerToVerilog(m, { testSamples: 1 }), ErrorCodes.LOWERING);
    expect(e.message).toMatch(/^verilog cannot map node "conv\d+" \(unit\): its weights are fixed point \(\d+ bits/);
    expect(e.message).toContain('the verilog backend maps the stages input, dwc, window, unit, relu, clip, leakyrelu, threshold, maxpool, avgpool, scale, dup, add, concat, argmax');
    expect(e.context).toMatchObject({ op: 'unit' });
  });
});
