import { describe, expect, it } from 'vitest';
import { recalibrateBatchnorm } from '../../passes/recalibrate-batchnorm.js';
import { calibrate } from '../../passes/calibrate.js';
import { Pipeline, type RunReport } from '../../src/pass/manager.js';
import { builtinPasses } from '../../passes/registry.js';
import { resolveOptions, type Pass, type PassContext } from '../../src/pass/pass.js';
import { loadModel } from '../../src/onnx/io.js';
import type { Model, Node } from '../../src/ir/graph.js';
import { ErrorCodes } from '../../src/errors.js';
import { quantize, quantizePipeline } from '../../src/drivers/quantize.js';
import { readQuantRecord } from '../../src/quant/format.js';
import { evaluate } from '../../src/runtime/infer.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../src/data/index.js';
import { quantizeOptionsFromCli } from '../../src/cli/run/quantize.js';
import { A, FMNIST_CNN, addFloatInit, addInput, addNode, cloneModel, expectHbnnError, floatFeed, newModel, randomFloats, runModel } from '../helpers/build.js';

const DATA = 'fmnist-mini:train';
const LIMIT = 300;

/**
 * input [N,1,28,28] → Conv(4, 3×3, pad 1) → BN1 → Relu → Conv(4, 3×3, pad 1, stride 2) → BN2
 * → Flatten → Gemm(784→6) → BN3 → out. BN1 and BN2 share their mean and variance
 * initializers; all statistics are made up (far from what the data gives).
 */
function convBnModel(): Model {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'input', ['N', 1, 28, 28]);
  const conv = (name: string, inp: typeof x, cin: number, stride: number, seed: number) =>
    addNode(g, 'Conv', [inp, addFloatInit(g, `${name}.weight`, [4, cin, 3, 3], randomFloats(4 * cin * 9, seed)), addFloatInit(g, `${name}.bias`, [4], randomFloats(4, seed + 1))], [name], {
      pads: A.ints([1, 1, 1, 1]),
      strides: A.ints([stride, stride]),
      kernel_shape: A.ints([3, 3]),
    }, { name }).outputs[0]!;
  const pos = (n: number, seed: number): number[] => Array.from(randomFloats(n, seed), (v) => 0.5 + Math.abs(v));
  const sharedMean = addFloatInit(g, 'stats.mean', [4], randomFloats(4, 31));
  const sharedVar = addFloatInit(g, 'stats.var', [4], pos(4, 32));
  const bn = (name: string, inp: typeof x, c: number, seed: number, mean = addFloatInit(g, `${name}.mean`, [c], randomFloats(c, seed + 2)), variance = addFloatInit(g, `${name}.var`, [c], pos(c, seed + 3))) =>
    addNode(g, 'BatchNormalization', [inp, addFloatInit(g, `${name}.gamma`, [c], pos(c, seed)), addFloatInit(g, `${name}.beta`, [c], randomFloats(c, seed + 1)), mean, variance], [`${name}.out`], {
      epsilon: A.float(1e-5),
    }, { name }).outputs[0]!;
  const c1 = conv('conv1', x, 1, 1, 1);
  const b1 = bn('bn1', c1, 4, 11, sharedMean, sharedVar);
  const r1 = addNode(g, 'Relu', [b1], ['relu1']).outputs[0]!;
  const c2 = conv('conv2', r1, 4, 2, 3);
  const b2 = bn('bn2', c2, 4, 21, sharedMean, sharedVar);
  const f = addNode(g, 'Flatten', [b2], ['flat'], { axis: A.int(1) }).outputs[0]!;
  const gm = addNode(g, 'Gemm', [f, addFloatInit(g, 'fc.weight', [784, 6], randomFloats(784 * 6, 5)), addFloatInit(g, 'fc.bias', [6], randomFloats(6, 6))], ['fc'], {}, { name: 'fc' }).outputs[0]!;
  const b3 = bn('bn3', gm, 6, 41);
  g.outputs.push(b3);
  return m;
}

const run = (m: Model, text: string): Promise<RunReport> => Pipeline.parse(text, builtinPasses()).run(m);
const recal = (extra = ''): string => `recalibrate-batchnorm{data=${DATA},limit=${LIMIT},batch-size=128${extra}}`;
const bnNode = (m: Model, name: string): Node => m.graph.nodes.find((n) => n.name === name)!;
const param = (m: Model, bn: string, i: number): Float32Array => bnNode(m, bn).inputs[i]!.constValue!.toFloat32();

/** Per-channel mean, population and unbiased variance of `x` ([N, C, ...]), float64, two passes. */
function stats(x: Float32Array, dims: readonly number[]): { mean: number[]; pop: number[]; unbiased: number[] } {
  const [n, c] = [dims[0]!, dims[1]!];
  const inner = dims.slice(2).reduce((a, b) => a * b, 1);
  const mean: number[] = [];
  const pop: number[] = [];
  const unbiased: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    const vals: number[] = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < inner; j++) vals.push(x[(i * c + ch) * inner + j]!);
    const mu = vals.reduce((a, b) => a + b, 0) / vals.length;
    const ss = vals.reduce((a, b) => a + (b - mu) * (b - mu), 0);
    mean.push(mu);
    pop.push(ss / vals.length);
    unbiased.push(ss / (vals.length - 1));
  }
  return { mean, pop, unbiased };
}

/** The BatchNorm inputs (conv/gemm outputs) of a model, computed by onnxruntime on the calibration images. */
async function bnInputs(m: Model, names: string[]): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const ds = loadDataset(DATA, { limit: LIMIT });
  const probe = cloneModel(m);
  for (const n of names) probe.graph.outputs.push(probe.graph.get(n)!);
  const out = await runModel(probe, { input: floatFeed(ds.images, [ds.count, 1, 28, 28]) }, names);
  return Object.fromEntries(names.map((n) => [n, { data: out[n]!.data as Float32Array, dims: out[n]!.dims }]));
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], rel: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1e-3, Math.abs(expected[i]!));
    expect(Math.abs(actual[i]! - expected[i]!) / scale, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBeLessThan(rel);
  }
}

function snapshot(m: Model): Map<string, string> {
  return new Map([...m.graph.initializers.values()].map((v) => [v.name, Buffer.from(v.constValue!.toRawBytes()).toString('hex')]));
}

function ctxFor(p: Pass, raw: Record<string, string>): PassContext {
  return { options: resolveOptions(p, raw), stat: () => {}, note: () => {}, properties: new Set(), artifacts: new Map() };
}

describe('recalibrate-batchnorm on a hand-built Conv→BN network', () => {
  it('sets every mean and variance to the statistics of its input through the quantized network, in graph order', async () => {
    const m = convBnModel();
    const before = { mean1: param(m, 'bn1', 3), var3: param(m, 'bn3', 4) };
    const rep = await run(m, `insert-weight-binarization{avg-bits=1.4,seed=0},${recal()}`);
    const pass = rep.passes[1]!;
    expect(pass.stats).toEqual({ recalibrated: 3 });
    expect(pass.notes).toHaveLength(3);
    // BN1 and BN2 shared their statistics: BN1 (first) gets new initializers, BN2 then is the only user.
    expect(bnNode(m, 'bn1').inputs[3]!.name).toBe('stats.mean_recalibrated');
    expect(bnNode(m, 'bn1').inputs[4]!.name).toBe('stats.var_recalibrated');
    expect(bnNode(m, 'bn2').inputs[3]!.name).toBe('stats.mean');
    expect(bnNode(m, 'bn2').inputs[4]!.name).toBe('stats.var');
    expect(bnNode(m, 'bn3').inputs[3]!.name).toBe('bn3.mean');
    // Statistics of the final model's BN inputs: BN2's input depends on BN1's new values, so a
    // pass that did not go in graph order would not match here.
    const got = await bnInputs(m, ['conv1', 'conv2', 'fc']);
    for (const [bn, input] of [['bn1', 'conv1'], ['bn2', 'conv2'], ['bn3', 'fc']] as const) {
      const s = stats(got[input]!.data, got[input]!.dims);
      expectClose(param(m, bn, 3), s.mean, 2e-5, `${bn} mean`);
      expectClose(param(m, bn, 4), s.pop, 2e-5, `${bn} var`);
    }
    // The population variance, not the unbiased one: for BN3 each channel has 300 entries (factor 300/299).
    const s3 = stats(got['fc']!.data, got['fc']!.dims);
    for (let c = 0; c < 6; c++) expect(Math.abs(param(m, 'bn3', 4)[c]! / s3.unbiased[c]! - 1)).toBeGreaterThan(3e-3);
    // They really moved, and gamma/beta did not.
    expect(Math.abs(param(m, 'bn1', 3)[0]! - before.mean1[0]!)).toBeGreaterThan(0.05);
    expect(param(m, 'bn3', 4)).not.toEqual(before.var3);
    expect(param(m, 'bn2', 1)).toEqual(convBnModel().graph.get('bn2.gamma')!.constValue!.toFloat32());
  });

  it('leaves a BatchNorm that binarization does not reach (first layer kept float) as it was', async () => {
    const m = convBnModel();
    const mean1 = param(m, 'bn1', 3);
    const rep = await run(m, `insert-weight-binarization{avg-bits=1.4,seed=0,first-layer=keep},${recal()}`);
    expect(rep.passes[1]!.stats).toEqual({ 'skipped-not-downstream': 1, recalibrated: 2 });
    expect(bnNode(m, 'bn1').inputs[3]!.name).toBe('stats.mean');
    expect(param(m, 'bn1', 3)).toEqual(mean1);
    // BN2 now gets the new initializer (BN1 still uses the original).
    expect(bnNode(m, 'bn2').inputs[3]!.name).toBe('stats.mean_recalibrated');
  });

  it('re-calibrates the activation binarizer after a re-estimated BatchNorm: the result is a fixed point of calibrate and of itself', async () => {
    const m = convBnModel();
    const cal = `calibrate{data=${DATA},limit=${LIMIT},batch-size=128}`;
    const rep = await run(m, `insert-weight-binarization{avg-bits=1.4,seed=0},insert-activation-binarization{avg-bits=1.4},${cal},${recal()}`);
    expect(rep.passes[3]!.stats).toEqual({ recalibrated: 3, 'recalibrated-binarizers': 1 });
    expect(readQuantRecord(m)!.activations[0]!.calibrated).toBe(true);
    const after = snapshot(m);
    await calibrate.run(m, ctxFor(calibrate, { data: DATA, limit: String(LIMIT), 'batch-size': '128' }));
    expect(snapshot(m)).toEqual(after);
    await recalibrateBatchnorm.run(m, ctxFor(recalibrateBatchnorm, { data: DATA, limit: String(LIMIT), 'batch-size': '128' }));
    expect(snapshot(m)).toEqual(after);
  });

  it('refuses uncalibrated activation binarizers (not-quantized)', async () => {
    const m = convBnModel();
    await expectHbnnError(() => run(m, `insert-weight-binarization{avg-bits=1.4,seed=0},insert-activation-binarization{avg-bits=1.4},${recal()}`), ErrorCodes.NOT_QUANTIZED);
  });

  it('requires weights-binarized', async () => {
    await expectHbnnError(() => run(convBnModel(), recal()), ErrorCodes.PASS_FAILED);
  });
});

describe('recalibrate-batchnorm on fmnist-cnn', () => {
  const test = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION });
  const opts = { avgBits: 2, heuristic: 'middle-out', normalize: 'fmnist' } as const;

  it('W2 Middle-Out: top-1 on fmnist-mini:test rises by more than 20 points, and the pass is deterministic', async () => {
    // Measured: 57.20% without, 87.90% with (calibration: first 1,024 images of fmnist-mini:train).
    const plain = loadModel(FMNIST_CNN());
    await quantize(plain, opts);
    const a = loadModel(FMNIST_CNN());
    const b = loadModel(FMNIST_CNN());
    const ra = await quantize(a, { ...opts, recalibrateBatchNorm: true });
    await quantize(b, { ...opts, recalibrateBatchNorm: true });
    expect(ra.pipeline).toBe('insert-weight-binarization{avg-bits=2,heuristic=middle-out},recalibrate-batchnorm{normalize=fmnist},insert-scaling-layer');
    expect(ra.report.passes[1]!.stats).toEqual({ recalibrated: 3 });
    expect(snapshot(a)).toEqual(snapshot(b));
    const without = await evaluate(plain, test);
    const withPass = await evaluate(a, test);
    expect(without.top1).toBeLessThan(0.65);
    expect(withPass.top1 - without.top1).toBeGreaterThan(0.2);
    expect(withPass.top1).toBeGreaterThan(0.85);
  });
});

describe('recalibrate-batchnorm wiring', () => {
  it('quantize runs it after weight binarization, or after calibrate when activations are binarized', () => {
    const names = (o: Parameters<typeof quantizePipeline>[0]): string[] => quantizePipeline(o).map((i) => (i.kind === 'pass' ? i.name : 'fixpoint'));
    expect(names({ avgBits: 1.4 })).not.toContain('recalibrate-batchnorm');
    expect(names({ avgBits: 1.4, recalibrateBatchNorm: true })).toEqual(['insert-weight-binarization', 'recalibrate-batchnorm', 'insert-scaling-layer']);
    expect(names({ avgBits: 1.4, actBits: 1.4, recalibrateBatchNorm: true })).toEqual([
      'insert-weight-binarization',
      'insert-activation-binarization',
      'calibrate',
      'recalibrate-batchnorm',
      'insert-scaling-layer',
    ]);
    const items = quantizePipeline({ recalibrateBatchNorm: true, calibData: 'fmnist:train', calibLimit: 1000, normalize: 'fmnist' });
    expect(items[1]).toEqual({ kind: 'pass', name: 'recalibrate-batchnorm', options: { data: 'fmnist:train', limit: '1000', normalize: 'fmnist' } });
  });

  it('--bn-recalibrate turns it on and makes the calibration flags count', () => {
    const on = quantizeOptionsFromCli({ bnRecalibrate: true, calibLimit: '256', normalize: 'fmnist' });
    expect(on.options).toMatchObject({ recalibrateBatchNorm: true, calibLimit: 256, normalize: 'fmnist' });
    expect(on.warnings).toEqual([]);
    const off = quantizeOptionsFromCli({ calibLimit: '256' });
    expect(off.options.recalibrateBatchNorm).toBeUndefined();
    expect(off.warnings).toHaveLength(1);
  });
});
