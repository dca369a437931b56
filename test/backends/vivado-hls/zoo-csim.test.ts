/**
 * Every issue-16 fixture topology through the Vivado HLS backend and C simulation, at W1.4
 * (weights) and W1.4A1.4 (weights and activations), Middle-Out: ResNet-20-style (residual
 * adds, 1×1 projection shortcuts: duplicate-stream and add-streams stages), MobileNetV2-style
 * (inverted residuals, depthwise vector-vector units, ReLU6), SqueezeNet-style (fire modules:
 * concat stages), MobileNet-V1 (depthwise, global average pool), the pooling net (AveragePool,
 * LeakyRelu, a final Softmax) and the PyTorch-style export (Identity on a shared weight,
 * literal batch). On 100 Fashion-MNIST images cropped/padded and replicated to the input
 * shape, the g++ build (-O1, one per design) matches the bit-level IR interpreter exactly:
 * every class, every logit and every unit's accumulators. The fixtures are built at a small
 * input size (16×16 or 12×12) to keep the compiles and runs short; bench/hls-csim.mjs --zoo
 * runs the test-size fixtures (32×32 / 28×28) on 1,000 inputs. The W1.4 designs (every stream
 * fixed point) are lowered with calibrated stream fractions (`streamRanges` measured on the
 * calibration images, docs/bit-ir.md §3: fractions above the width, concat and add inputs at
 * different fractions), the W1.4A1.4 designs with the fixed fractions.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lowerVivadoHls, runCsim } from '../../../src/backends/vivado-hls/index.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { measureStreamRanges } from '../../../src/bitir/ranges.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import { writeNpy } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import type { Model } from '../../../src/ir/graph.js';
import { buildMobileNetV1, buildMobileNetV2, buildPoolNet, buildResNet20, buildSqueezeNet, buildTorchExport } from '../../../zoo/topologies.js';
import { fmnistAs } from '../../helpers/zoo.js';
import { tempDir } from './helpers.js';

const SAMPLES = 100;
const root = tempDir('hbnn-hls-zoo-csim-');

interface Case {
  name: string;
  shape: [number, number, number];
  build: (shape: [number, number, number]) => Model;
  /** Stage kinds the design must contain (the units this topology exercises). */
  kinds: string[];
}

const CASES: Case[] = [
  { name: 'resnet20', shape: [3, 16, 16], build: (s) => buildResNet20({ inputShape: s, width: 4, blocks: 1 }), kinds: ['dup', 'add', 'avgpool'] },
  {
    name: 'mobilenet-v2',
    shape: [3, 16, 16],
    build: (s) => buildMobileNetV2({ inputShape: s, alpha: 0.25, settings: [[1, 16, 1, 1], [6, 24, 2, 2]], lastChannels: 32 }),
    kinds: ['dup', 'add', 'avgpool'],
  },
  { name: 'squeezenet', shape: [3, 24, 24], build: (s) => buildSqueezeNet({ inputShape: s, width: 4, fires: [1, 1, 1] }), kinds: ['dup', 'concat', 'maxpool', 'avgpool'] },
  { name: 'mobilenet-v1', shape: [3, 16, 16], build: (s) => buildMobileNetV1({ inputShape: s, alpha: 0.125, blocks: 3, classes: 10 }), kinds: ['avgpool'] },
  { name: 'poolnet-softmax', shape: [1, 12, 12], build: (s) => buildPoolNet({ inputShape: s, width: 4, hidden: 16, softmax: true }), kinds: ['avgpool', 'leakyrelu'] },
  { name: 'torch-export', shape: [1, 12, 12], build: (s) => buildTorchExport({ inputShape: s, width: 4 }), kinds: ['maxpool'] },
];

async function quantized(c: Case, acts: boolean): Promise<Model> {
  const calib = path.join(root, `${c.name}-calib.npy`);
  writeNpy(calib, { dtype: 'float32', shape: [16, ...c.shape], data: calibImages(c) });
  const m = c.build(c.shape);
  await quantize(m, {
    avgBits: 1.4,
    heuristic: 'middle-out',
    ...(acts ? { actBits: 1.4, actHeuristic: 'middle-out' as const } : {}),
    calibData: `npy:${calib}`,
    calibLimit: 16,
  });
  return m;
}

const calibImages = (c: Case): Float32Array => fmnistAs(c.shape, 16, 'train');

describe('issue-16 topologies in C simulation (g++), bit-exact with the interpreter', () => {
  for (const c of CASES) {
    for (const config of ['W1.4', 'W1.4A1.4'] as const) {
      it(`${c.name} ${config}: ${SAMPLES} inputs, every class, logit and accumulator`, async () => {
        const m = await quantized(c, config === 'W1.4A1.4');
        const lowering = config === 'W1.4' ? { streamRanges: measureStreamRanges(m, calibImages(c)) } : {};
        const r = lowerVivadoHls(m, { lowering, testData: fmnistAs(c.shape, SAMPLES), testSamples: SAMPLES, accSamples: SAMPLES, targetFps: 5000, part: 'xc7z045' });
        if (config === 'W1.4') {
          // the calibrated fractions differ from the fixed ones somewhere, and some reach beyond the width
          const fixedFracs = lowerToBitIR(m).tensors.map((t) => (t.type.kind === 'fixed' ? t.type.frac : -1));
          const fracs = r.program.tensors.map((t) => (t.type.kind === 'fixed' ? t.type.frac : -1));
          expect(fracs).not.toEqual(fixedFracs);
          if (c.name === 'squeezenet') expect(r.program.tensors.some((t) => t.type.kind === 'fixed' && t.type.frac >= t.type.bits)).toBe(true);
        }
        const kinds = r.design.stages.map((s) => s.kind);
        for (const k of c.kinds) expect(kinds).toContain(k);
        if (c.name.startsWith('mobilenet')) expect(r.design.units.some((u) => u.groups > 1)).toBe(true);
        if (c.name === 'resnet20') {
          // The shortcut waits for the two 3×3 convolutions of its block: a FIFO deeper than the handshake.
          const add = r.design.stages.find((s) => s.kind === 'add')!;
          expect(add.kind === 'add' && Math.max(...add.ins.map((x) => x.depth ?? 2))).toBeGreaterThan(2);
          expect(r.files.get('hbnn_top.cpp')).toMatch(/#pragma HLS STREAM variable=s\d+ depth=([3-9]|\d\d+)/);
        }
        // An FPGA estimate on a named part (these small designs fit it), every stage estimated,
        // the new ones included (an average pool multiplies by 1/n in DSPs).
        expect(r.estimates.part.name).toBe('xc7z045');
        expect(r.estimates.fit.verdict).toBe('fits');
        expect(r.estimates.total.luts).toBeGreaterThan(0);
        expect(r.estimates.stages.map((s) => s.kind)).toEqual(kinds);
        expect(r.estimates.stages.find((s) => s.kind === 'avgpool')?.dsp ?? 1).toBeGreaterThan(0);
        // Average pools: the global one (the last pool of the GAP topologies) is a streaming
        // accumulator at its input's beat, with no line buffer and a multiplier per lane, not per
        // channel; a windowed one writes its averages in beats narrower than a pixel at this target.
        const top = r.files.get('hbnn_top.cpp')!;
        r.design.stages.forEach((p, i) => {
          if (p.kind !== 'avgpool') return;
          const body = top.slice(top.indexOf(`void ${p.name}(`), top.indexOf('\n}\n', top.indexOf(`void ${p.name}(`)));
          expect(p.global).toBe(c.name !== 'poolnet-softmax');
          if (p.global) {
            expect(p.in.beat).toBeLessThan(p.channels);
            expect(p.out.beat).toBe(p.in.beat);
            expect(body).not.toContain('line[');
            expect(body).toContain('acc[');
            expect(r.estimates.stages[i]!.dsp).toBeLessThan(p.channels);
          } else {
            expect(p.out.beat).toBeLessThan(p.channels);
            expect(body).toContain('line[');
          }
        });
        const dir = path.join(root, `${c.name}-${config}`);
        writeFilesAtomic(dir, r.files);
        const sim = await runCsim(dir, { timeoutMs: 300_000, optLevel: 'O1' });
        expect(sim.stdout).toContain('hbnn-tb: PASS');
        expect(sim.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
      }, 300_000);
    }
  }
});
