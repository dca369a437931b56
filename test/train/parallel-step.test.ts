/**
 * Data-parallel training steps (src/train/parallel-step.ts): the batch split, the combination
 * of the workers' results against one session on the whole batch (equal without BatchNorm;
 * BatchNorm's combined statistics equal the full batch's), reproducibility of fineTune with
 * workers, and the error paths (bad option values, a failing or crashing worker: typed errors,
 * no worker left running, the process exits).
 *
 * The workers run the compiled module (dist/src/train/step-worker.js), built by `npm ci`
 * (prepare) or `npx tsc -p .`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { A, Net, rand } from './helpers/gradcheck.js';
import { loadCnn, mini, tmpDir } from './helpers/data.js';
import { buildTrainingGraph, type BuildOptions, type TrainingGraph } from '../../src/train/grad/builder.js';
import { collectBatchNorms, collectParams, updateRunningStats, WEIGHT_STE_CLIP } from '../../src/train/params.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { StepRunner, type StepOutput } from '../../src/train/step.js';
import { DataParallelStepRunner, combineBatchNormStats, weightedMean } from '../../src/train/parallel-step.js';
import { shardByCost, splitBatch } from '../../src/train/step-protocol.js';
import { TrainRng } from '../../src/train/rng.js';
import { fineTune, trainFloat } from '../../src/train/index.js';
import { quantize } from '../../src/drivers/quantize.js';
import { encodeModel } from '../../src/onnx/io.js';
import { HbnnError } from '../../src/errors.js';
import { cli } from '../cli/helpers.js';
import { REPO_ROOT } from '../helpers/build.js';
import type { Model } from '../../src/ir/graph.js';

/** Conv → Relu → Flatten → Dropout → Gemm: no BatchNorm, a dropout mask to slice. */
function noBatchNormNet(): Model {
  const n = new Net(['N', 2, 6, 6]);
  const c = n.node('Conv', [n.x, n.param('cw', [4, 2, 3, 3]), n.param('cb', [4], 0.1)], { pads: A.ints([1, 1, 1, 1]) });
  const f = n.node('Flatten', [n.node('Relu', [c])]);
  const d = n.node('Dropout', [f, n.scalarConst('ratio', 0.25)]);
  return n.output(n.node('Gemm', [d, n.param('fw', [5, 144], 0.2), n.param('fb', [5], 0.1)], { transB: A.int(1) }));
}

/** Conv → BatchNorm → Relu → Conv → BatchNorm → GlobalAveragePool → Flatten → Gemm. */
function batchNormNet(): Model {
  const n = new Net(['N', 2, 6, 6]);
  const bn = (x: ReturnType<Net['node']>, c: number, name: string) =>
    n.node('BatchNormalization', [x, n.param(`${name}.g`, [c], 0.2, 1), n.param(`${name}.b`, [c], 0.1), n.param(`${name}.m`, [c], 0), n.param(`${name}.v`, [c], 0, 1)], { momentum: A.float(0.9) });
  const h = n.node('Relu', [bn(n.node('Conv', [n.x, n.param('c1', [3, 2, 3, 3])], { pads: A.ints([1, 1, 1, 1]) }), 3, 'bn1')]);
  const h2 = bn(n.node('Conv', [h, n.param('c2', [4, 3, 3, 3])], { pads: A.ints([1, 1, 1, 1]) }), 4, 'bn2');
  const p = n.node('Flatten', [n.node('GlobalAveragePool', [h2])]);
  return n.output(n.node('Gemm', [p, n.param('fw', [5, 4], 0.5), n.param('fb', [5], 0.1)], { transB: A.int(1) }));
}

interface Runners {
  tg: TrainingGraph;
  one: StepRunner;
  many: DataParallelStepRunner;
}

async function runners(m: Model, workers: number, maxBatch: number, build: BuildOptions = {}): Promise<Runners> {
  const tg = buildTrainingGraph(m, build);
  const params = collectParams(m, tg);
  const bns = collectBatchNorms(m, tg);
  const one = await StepRunner.create(tg, params, bns, [2, 6, 6], 1);
  const many = await DataParallelStepRunner.create(tg, params, bns, [2, 6, 6], { workers, maxBatch });
  return { tg, one, many };
}

function batch(count: number, seed: number): { images: Float32Array; labels: Int32Array } {
  return { images: rand(count * 72, seed), labels: Int32Array.from({ length: count }, (_, i) => (i * 3 + seed) % 5) };
}

/** max |a - b| / max(max |b|, 1e-3) */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / Math.max(s, 1e-3);
}

describe('splitBatch', () => {
  it('contiguous slices in worker order, sizes differing by at most 1, the larger first', () => {
    expect(splitBatch(7, 2)).toEqual([4, 3]);
    expect(splitBatch(128, 2)).toEqual([64, 64]);
    expect(splitBatch(10, 4)).toEqual([3, 3, 2, 2]);
    expect(splitBatch(2, 4)).toEqual([1, 1, 0, 0]);
    expect(splitBatch(5, 1)).toEqual([5]);
  });
});

describe('shardByCost', () => {
  it('deals the largest first to the least loaded worker (each tensor once, indices ascending)', () => {
    // costs (size + 10,000): 410,000, 110,000, 110,000, 15,000, 10,100
    expect(shardByCost([100_000, 400_000, 5_000, 100, 100_000], 2)).toEqual([[1], [0, 2, 3, 4]]);
    expect(shardByCost([10, 10, 10], 2)).toEqual([[0, 2], [1]]);
    expect(shardByCost([], 3)).toEqual([[], [], []]);
    expect(shardByCost([5], 3)).toEqual([[0], [], []]);
  });
});

describe('combining the slices', () => {
  it('weightedMean is Σ n_k x_k / N; with one part, that part exactly', () => {
    const a = rand(50, 1);
    const b = rand(50, 2);
    const w = weightedMean([a, b], [4, 3]);
    for (let i = 0; i < 50; i++) expect(w[i]).toBe(Math.fround((4 * a[i]! + 3 * b[i]!) / 7));
    expect(Array.from(weightedMean([a], [7]))).toEqual(Array.from(a));
  });

  it('combineBatchNormStats gives the full batch mean and unbiased variance', () => {
    // slices of 3, 2 and 1 samples, 5 entries per channel per sample, 2 channels
    const P = 5;
    const counts = [3, 2, 1];
    const x = [rand(3 * P * 2, 3), rand(2 * P * 2, 4).map((v) => v * 2 + 1), rand(1 * P * 2, 5)];
    const at = (s: Float32Array, n: number, c: number) => Array.from({ length: n * P }, (_, j) => s[Math.floor(j / P) * 2 * P + c * P + (j % P)]!);
    const stats = (v: number[]) => {
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      const q = v.reduce((a, b) => a + (b - m) ** 2, 0);
      return { m, u: v.length > 1 ? q / (v.length - 1) : 0 };
    };
    const means = counts.map((n, k) => Float32Array.from([0, 1], (c) => stats(at(x[k]!, n, c)).m));
    const vars = counts.map((n, k) => Float32Array.from([0, 1], (c) => stats(at(x[k]!, n, c)).u));
    const got = combineBatchNormStats(means, vars, counts, P);
    for (const c of [0, 1]) {
      const all = stats(counts.flatMap((n, k) => at(x[k]!, n, c)));
      expect(got.mean[c]).toBeCloseTo(all.m, 6);
      expect(got.variance[c]! / all.u).toBeCloseTo(1, 6);
    }
  });
});

describe('DataParallelStepRunner against one session', () => {
  it('without BatchNorm: loss, correct and gradients equal StepRunner on an odd batch (7 over 2 workers; 2 over 3)', async () => {
    const { tg, one, many } = await runners(noBatchNormNet(), 2, 8);
    const many3 = await DataParallelStepRunner.create(tg, one.params, one.bns, [2, 6, 6], { workers: 3, maxBatch: 8 });
    try {
      expect(tg.dropouts).toHaveLength(1);
      for (const count of [7, 2]) {
        const { images, labels } = batch(count, count);
        // the same seed: the same dropout masks over the whole batch
        const a = await one.run(images, labels, count, new TrainRng(11));
        for (const r of [many, many3]) {
          const rngB = new TrainRng(11);
          const b = await r.run(images, labels, count, rngB);
          expect(rngB.state).toBe((() => {
            const t = new TrainRng(11);
            for (let i = 0; i < count * 144; i++) t.next();
            return t.state;
          })());
          expect(b.loss).toBeCloseTo(a.loss, 5);
          expect(b.correct).toBe(a.correct);
          expect(b.grads).toHaveLength(a.grads.length);
          b.grads.forEach((g, i) => expect(relDiff(g, a.grads[i]!)).toBeLessThan(1e-5));
        }
      }
      // Reproducible to the byte: the same step again
      const { images, labels } = batch(7, 7);
      const x = await many.run(images, labels, 7, new TrainRng(5));
      const y = await many.run(images, labels, 7, new TrainRng(5));
      expect(y.loss).toBe(x.loss);
      x.grads.forEach((g, i) => expect(Buffer.from(y.grads[i]!.buffer).equals(Buffer.from(g.buffer))).toBe(true));
    } finally {
      await Promise.all([one.release(), many.release(), many3.release()]);
    }
  });

  it('with BatchNorm: the first BatchNorm\'s combined batch mean and variance equal the full batch statistics; later ones are per slice', async () => {
    const { tg, one, many } = await runners(batchNormNet(), 2, 9);
    try {
      expect(tg.batchNorms.map((b) => b.perSample)).toEqual([36, 36]);
      const { images, labels } = batch(9, 2);
      const a: StepOutput = await one.run(images, labels, 9, new TrainRng(1));
      const b: StepOutput = await many.run(images, labels, 9, new TrainRng(1));
      // bn1 normalizes conv(x), the same values however the batch is split
      expect(relDiff(b.batchMean[0]!, a.batchMean[0]!)).toBeLessThan(1e-5);
      expect(relDiff(b.batchVar[0]!, a.batchVar[0]!)).toBeLessThan(1e-5);
      // bn2's input went through bn1 with each slice's own statistics: ghost batch norm
      expect(relDiff(b.batchVar[1]!, a.batchVar[1]!)).toBeGreaterThan(1e-4);
    } finally {
      await Promise.all([one.release(), many.release()]);
    }
  });

  it('with frozen BatchNorm statistics: loss and gradients equal one session\'s (no ghost batch norm; 9 samples over 2 workers), and differ in training mode', async () => {
    const m = batchNormNet();
    const { images, labels } = batch(9, 4);
    const grads = async (build: BuildOptions): Promise<{ a: StepOutput; b: StepOutput }> => {
      const { one, many } = await runners(m, 2, 9, build);
      try {
        return { a: await one.run(images, labels, 9, new TrainRng(1)), b: await many.run(images, labels, 9, new TrainRng(1)) };
      } finally {
        await Promise.all([one.release(), many.release()]);
      }
    };
    const frozen = await grads({ freezeBatchNormStats: true });
    expect(frozen.a.batchMean).toEqual([]);
    expect(frozen.b.loss).toBeCloseTo(frozen.a.loss, 5);
    expect(frozen.b.grads).toHaveLength(frozen.a.grads.length);
    frozen.b.grads.forEach((g, i) => expect(relDiff(g, frozen.a.grads[i]!)).toBeLessThan(1e-5));
    const trainMode = await grads({});
    expect(Math.max(...trainMode.b.grads.map((g, i) => relDiff(g, trainMode.a.grads[i]!)))).toBeGreaterThan(1e-3);
  });

  it('with BatchNorm in the phase layout (fmnist-cnn): the first BatchNorm\'s combined statistics equal the full batch\'s', async () => {
    const m = loadCnn();
    const tg = buildTrainingGraph(m);
    const params = collectParams(m, tg);
    const bns = collectBatchNorms(m, tg);
    expect(bns.map((b) => b.perSample)).toEqual([28 * 28, 14 * 14, 7 * 7]);
    const one = await StepRunner.create(tg, params, bns, [1, 28, 28], 1);
    const many = await DataParallelStepRunner.create(tg, params, bns, [1, 28, 28], { workers: 2, maxBatch: 9 });
    try {
      const d = mini('train', 9);
      const a = await one.run(d.images, d.labels!, 9, new TrainRng(1));
      const b = await many.run(d.images, d.labels!, 9, new TrainRng(1));
      expect(relDiff(b.batchMean[0]!, a.batchMean[0]!)).toBeLessThan(1e-5);
      expect(relDiff(b.batchVar[0]!, a.batchVar[0]!)).toBeLessThan(1e-5);
    } finally {
      await Promise.all([one.release(), many.release()]);
    }
  });
});

/**
 * Conv 2→32 → BatchNorm → Relu → Conv 32→16 (4,608 weights: a KernelArena's in-place
 * re-binarization) → BatchNorm → GlobalAveragePool → Flatten → Gemm with transB 0 (its
 * weight's channels on axis 1: re-binarized through a transpose), quantized W1.4 Middle-Out.
 */
async function quantizedBatchNormNet(): Promise<Model> {
  const n = new Net(['N', 2, 6, 6]);
  const bn = (x: ReturnType<Net['node']>, c: number, name: string) =>
    n.node('BatchNormalization', [x, n.param(`${name}.g`, [c], 0.2, 1), n.param(`${name}.b`, [c], 0.1), n.param(`${name}.m`, [c], 0), n.param(`${name}.v`, [c], 0, 1)], { momentum: A.float(0.9) });
  const h = n.node('Relu', [bn(n.node('Conv', [n.x, n.param('c1', [32, 2, 3, 3])], { pads: A.ints([1, 1, 1, 1]) }), 32, 'bn1')]);
  const h2 = bn(n.node('Conv', [h, n.param('c2', [16, 32, 3, 3], 0.2)], { pads: A.ints([1, 1, 1, 1]) }), 16, 'bn2');
  const p = n.node('Flatten', [n.node('GlobalAveragePool', [h2])]);
  const m = n.output(n.node('Gemm', [p, n.param('fw', [16, 5], 0.5), n.param('fb', [5], 0.1)], { transB: A.int(0) }));
  await quantize(m, { avgBits: 1.4, heuristic: 'middle-out' });
  return m;
}

/**
 * `steps` steps of runner `r` with SGD updates as the loop makes them (sum |w| handed to the
 * next re-binarization; at step `freezeAt` the first binarized weight's bit map frozen, which
 * puts the re-binarization back on the main thread), step s on `countAt(s)` samples; releases
 * `r`. The latent weights, losses, running statistics and gradients as bytes.
 */
async function runBytes(r: DataParallelStepRunner, steps: number, freezeAt: number, countAt: (s: number) => number, opt = sgd(), inWorkers = false): Promise<Buffer> {
  const { params, bns } = r;
  const rng = new TrainRng(4);
  const sums: (number | undefined)[] = [];
  const out: Buffer[] = [];
  const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  try {
    for (let s = 0; s < steps; s++) {
      if (s === freezeAt) params.find((p) => p.binarizer)!.binarizer!.freeze(params.find((p) => p.binarizer)!.value);
      const count = countAt(s);
      const { images, labels } = batch(count, s);
      const o = await r.run(images, labels, count, rng, false, sums, inWorkers ? { lr: 0.5 } : undefined);
      out.push(Buffer.from(Float64Array.of(o.loss).buffer), ...o.grads.map(bytes));
      opt.beginStep();
      params.forEach((p, i) => {
        // the update in the workers: the binarized weights are updated already
        if (inWorkers && p.kind === 'binarized') {
          expect(o.updated?.[i]).toBeTypeOf('number');
          sums[i] = o.updated![i];
          return;
        }
        opt.update(p.name, p.value, o.grads[i]!, 0.5, p.kind === 'binarized' ? WEIGHT_STE_CLIP : Infinity);
        sums[i] = opt.lastSumAbs;
      });
      bns.forEach((b, i) => updateRunningStats(b, o.batchMean[i]!, o.batchVar[i]!));
    }
  } finally {
    await r.release();
  }
  const momentum = params.map((p) => opt.state.get(p.name)?.get('momentum') ?? new Float32Array(0));
  return Buffer.concat([...out, ...params.map((p) => bytes(p.value)), ...momentum.map(bytes), ...bns.flatMap((b) => [bytes(b.mean), bytes(b.variance)])]);
}

/** fineTune's default optimizer: SGD with momentum 0.9, weight decay 1e-4. */
function sgd(): Optimizer {
  return new Optimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 1e-4, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
}

/** runBytes over a data-parallel runner; the last step on a batch smaller than the worker count (a worker sits the step out). */
async function trainBytes(m: Model, workers: number, rebinarizeInWorkers: boolean, steps: number, freezeAt: number): Promise<Buffer> {
  const tg = buildTrainingGraph(m);
  const r = await DataParallelStepRunner.create(tg, collectParams(m, tg), collectBatchNorms(m, tg), [2, 6, 6], { workers, maxBatch: 9, rebinarizeInWorkers });
  return runBytes(r, steps, freezeAt, (s) => (s === steps - 1 ? 2 : 9));
}

describe('re-binarization in the workers', () => {
  it('gives the bytes of the main thread\'s re-binarization (W1.4 with BatchNorm, an arena-sized and a transposed weight; 2 and 3 workers; frozen bit maps)', async () => {
    const m = await quantizedBatchNormNet();
    const tg = buildTrainingGraph(m);
    const bin = collectParams(m, tg).filter((p) => p.kind === 'binarized');
    expect(bin.map((p) => p.value.length).sort((a, b) => a - b)).toEqual([80, 576, 4608]);
    for (const workers of [2, 3]) {
      const onMain = await trainBytes(m, workers, false, 6, 4);
      const inWorkers = await trainBytes(m, workers, true, 6, 4);
      expect(inWorkers.length).toBe(onMain.length);
      expect(inWorkers.equals(onMain)).toBe(true);
    }
    // without the frozen map: every step re-binarized in the workers; a different run
    const a = await trainBytes(m, 2, true, 5, -1);
    expect(a.equals(await trainBytes(m, 2, false, 5, -1))).toBe(true);
  });
});

describe('the update in the workers', () => {
  it("gives the bytes of the main thread's update: latent weights, momentum, gradients, losses, running statistics (2 and 3 workers; a worker without a slice; a frozen bit map from step 4)", async () => {
    const m = await quantizedBatchNormNet();
    const run = async (workers: number, inWorkers: boolean, freezeAt: number): Promise<Buffer> => {
      const tg = buildTrainingGraph(m);
      const opt = sgd();
      const r = await DataParallelStepRunner.create(tg, collectParams(m, tg), collectBatchNorms(m, tg), [2, 6, 6], { workers, maxBatch: 9, ...(inWorkers ? { update: { optimizer: opt, clip: WEIGHT_STE_CLIP } } : {}) });
      return runBytes(r, 6, freezeAt, (s) => (s === 5 ? 2 : 9), opt, inWorkers);
    };
    for (const workers of [2, 3]) {
      const main = await run(workers, false, 4);
      const inWorkers = await run(workers, true, 4);
      expect(inWorkers.length).toBe(main.length);
      expect(inWorkers.equals(main)).toBe(true);
    }
    expect((await run(2, true, -1)).equals(await run(2, false, -1))).toBe(true);
  });

  it('makes the binarized values and momentum views of what the workers hold; a non-finite update is reported, not thrown', async () => {
    const m = await quantizedBatchNormNet();
    const tg = buildTrainingGraph(m);
    const params = collectParams(m, tg);
    const opt = sgd();
    const r = await DataParallelStepRunner.create(tg, params, collectBatchNorms(m, tg), [2, 6, 6], { workers: 2, maxBatch: 4, update: { optimizer: opt, clip: WEIGHT_STE_CLIP } });
    try {
      const bin = params.filter((p) => p.kind === 'binarized');
      const before = bin.map((p) => p.value.slice());
      const { images, labels } = batch(4, 1);
      // the learning rate is required, and only here
      await expect(r.run(images, labels, 4, new TrainRng(1), false)).rejects.toThrow(/learning rate/);
      const o = await r.run(images, labels, 4, new TrainRng(1), false, undefined, { lr: 0.5 });
      bin.forEach((p, j) => {
        expect(p.value.buffer).toBeInstanceOf(SharedArrayBuffer);
        expect(Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength).equals(Buffer.from(before[j]!.buffer))).toBe(false);
        expect(opt.state.get(p.name)!.get('momentum')!.buffer).toBeInstanceOf(SharedArrayBuffer);
      });
      // the float parameters are the caller's: not updated, no momentum yet
      for (const p of params.filter((q) => q.kind === 'float')) expect(opt.state.has(p.name)).toBe(false);
      expect(params.map((p, i) => (o.updated![i] === undefined) === (p.kind === 'float'))).not.toContain(false);
      const bad = await r.run(images, labels, 4, new TrainRng(1), false, undefined, { lr: Infinity });
      expect(bin.some((p) => !Number.isFinite(bad.updated![params.indexOf(p)]!))).toBe(true);
    } finally {
      await r.release();
    }
  });
});

describe('combination in the workers', () => {
  it('gives the bytes of weightedMean and combineBatchNormStats over one-thread sessions on each slice (5 + 4 samples; 3 + 3 + 3)', async () => {
    const m = await quantizedBatchNormNet();
    const tg = buildTrainingGraph(m);
    const params = collectParams(m, tg);
    const bns = collectBatchNorms(m, tg);
    const one = await StepRunner.create(tg, params, bns, [2, 6, 6], 1);
    try {
      for (const workers of [2, 3]) {
        const many = await DataParallelStepRunner.create(tg, params, bns, [2, 6, 6], { workers, maxBatch: 9 });
        try {
          const { images, labels } = batch(9, workers);
          const sizes = splitBatch(9, workers);
          const slices: StepOutput[] = [];
          let at = 0;
          for (const n of sizes) {
            const o = await one.run(images.subarray(at * 72, (at + n) * 72), labels.subarray(at, at + n), n, new TrainRng(1), false);
            slices.push({ ...o, grads: o.grads.map((g) => g.slice()), batchMean: o.batchMean.map((g) => g.slice()), batchVar: o.batchVar.map((g) => g.slice()) });
            at += n;
          }
          // two steps: the second combines into the other buffer; the first's gradients stay valid
          const first = await many.run(images, labels, 9, new TrainRng(1), false);
          const second = await many.run(images, labels, 9, new TrainRng(1), false);
          for (const got of [first, second]) {
            got.grads.forEach((g, i) => {
              const want = weightedMean(slices.map((s) => s.grads[i]!), sizes);
              expect(Buffer.from(g.buffer, g.byteOffset, g.byteLength).equals(Buffer.from(want.buffer))).toBe(true);
            });
            got.batchVar.forEach((v, i) => {
              const want = combineBatchNormStats(slices.map((s) => s.batchMean[i]!), slices.map((s) => s.batchVar[i]!), sizes, bns[i]!.perSample!);
              expect(Array.from(v)).toEqual(Array.from(want.variance));
              expect(Array.from(got.batchMean[i]!)).toEqual(Array.from(want.mean));
            });
          }
          expect(first.grads[0]!.buffer).not.toBe(second.grads[0]!.buffer);
          expect(first.workers!.combineMs).toBeGreaterThanOrEqual(0);
        } finally {
          await many.release();
        }
      }
    } finally {
      await one.release();
    }
  });
});

async function quantizedCnn(): Promise<Model> {
  const q = loadCnn();
  await quantize(q, { avgBits: 1.4, normalize: 'fmnist', calibLimit: 128 });
  return q;
}

describe('fineTune with workers', () => {
  it('is reproducible: workers 2, same seed, same bytes; the log records the workers', async () => {
    const q = await quantizedCnn();
    const opts = { latentFrom: loadCnn(), batchSize: 32, limit: 96, workers: 2, seed: 3 } as const;
    const a = await fineTune(q, mini('train'), opts);
    const b = await fineTune(q, mini('train'), opts);
    expect(a.log.workers).toBe(2);
    expect(a.log.options.workers).toBe(2);
    expect(Buffer.from(encodeModel(a.model)).equals(Buffer.from(encodeModel(b.model)))).toBe(true);
    expect(a.log.epochs[0]!.trainLoss).toBe(b.log.epochs[0]!.trainLoss);
    // ghost batch norm: not the one-session result
    const c = await fineTune(q, mini('train'), { ...opts, workers: 1, threads: 1 });
    expect(c.log.workers).toBe(1);
    expect(Buffer.from(encodeModel(a.model)).equals(Buffer.from(encodeModel(c.model)))).toBe(false);
  });

  it('with the update in the workers, resumes from an interruption to the same model (momentum and latent weights through the checkpoint)', async () => {
    const q = await quantizedCnn();
    const opts = { latentFrom: loadCnn(), batchSize: 32, limit: 96, epochs: 2, workers: 2, seed: 2, evalData: mini('test', 64) } as const;
    const full = await fineTune(q, mini('train'), opts);
    const dir = tmpDir('resume-workers');
    const ac = new AbortController();
    const part = await fineTune(q, mini('train'), { ...opts, checkpointDir: dir, signal: ac.signal, onProgress: (e) => e.type === 'step' && e.globalStep === 4 && ac.abort() });
    expect(part.interrupted).toBe(true);
    const resumed = await fineTune(q, mini('train'), { ...opts, checkpointDir: dir, resume: true });
    expect(resumed.log.epochs.map((e) => e.trainLoss)).toEqual(full.log.epochs.map((e) => e.trainLoss));
    expect(Buffer.from(encodeModel(resumed.model)).equals(Buffer.from(encodeModel(full.model)))).toBe(true);
  });

  it('refuses workers < 1, non-integers and more workers than the batch size (invalid-option)', async () => {
    const m = loadCnn();
    for (const workers of [0, -1, 1.5, 33]) {
      const e = await trainFloat(m, mini('train', 64), { batchSize: 32, workers }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HbnnError);
      expect((e as HbnnError).code).toBe('invalid-option');
      expect((e as HbnnError).context.option).toBe('workers');
    }
  });
});

describe('failures', () => {
  it('an onnxruntime error in a worker fails the step with a typed error and ends every worker', async () => {
    const m = noBatchNormNet();
    const tg = buildTrainingGraph(m);
    // a sample shape the model does not take: each worker's session.run fails
    const r = await DataParallelStepRunner.create(tg, collectParams(m, tg), collectBatchNorms(m, tg), [2, 6, 5], { workers: 2, maxBatch: 4 });
    const e = await r.run(rand(4 * 60, 1), Int32Array.of(0, 1, 2, 3), 4, new TrainRng(1)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HbnnError);
    expect((e as HbnnError).code).toBe('runtime');
    expect((e as HbnnError).message).toMatch(/training worker \d: onnxruntime failed while running the model/);
    await r.exited();
    expect(r.liveWorkers).toBe(0);
    // later steps fail at once with the same error; release is harmless
    expect(await r.run(rand(4 * 60, 1), Int32Array.of(0, 1, 2, 3), 4, new TrainRng(1)).catch((x: unknown) => x)).toBe(e);
    await r.release();
  });

  // the crash is under way before the step is posted: a worker already terminating cannot answer
  // it (crashing after posting raced the tiny step, which could finish first)
  it.each([
    { what: 'during training (no BatchNorm, float)', model: async () => noBatchNormNet(), crash: 1 },
    { what: 'before its re-binarization (W1.4, BatchNorm)', model: quantizedBatchNormNet, crash: 0 },
  ])('a worker that dies $what fails the step with worker-failed, every worker ended', async ({ model, crash }) => {
    const m = await model();
    const tg = buildTrainingGraph(m);
    const r = await DataParallelStepRunner.create(tg, collectParams(m, tg), collectBatchNorms(m, tg), [2, 6, 6], { workers: 2, maxBatch: 4 });
    const { images, labels } = batch(4, 1);
    await r.run(images, labels, 4, new TrainRng(1));
    const crashed = r.crashWorkerForTest(crash);
    const step = r.run(images, labels, 4, new TrainRng(1));
    await crashed;
    const e = await step.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HbnnError);
    expect((e as HbnnError).code).toBe('worker-failed');
    await r.exited();
    expect(r.liveWorkers).toBe(0);
    await r.release();
  });

  it('release() during a step fails the step with worker-failed and ends every worker, also one inside session.run (no abort)', async () => {
    const m = loadCnn();
    const tg = buildTrainingGraph(m);
    const d = mini('train', 64);
    for (const wait of [0, 2, 10]) {
      const r = await DataParallelStepRunner.create(tg, collectParams(m, tg), collectBatchNorms(m, tg), [1, 28, 28], { workers: 2, maxBatch: 64 });
      await r.run(d.images, d.labels!, 64, new TrainRng(1));
      // released before the step is posted (0 ms) or while the workers run it
      const step = r.run(d.images, d.labels!, 64, new TrainRng(1)).catch((x: unknown) => x);
      if (wait) await new Promise((ok) => setTimeout(ok, wait));
      await r.release();
      const e = await step;
      // released before the step was posted: it fails; later, a fast machine may finish it first
      if (wait === 0 || e instanceof HbnnError) {
        expect(e).toBeInstanceOf(HbnnError);
        expect((e as HbnnError).code).toBe('worker-failed');
        expect((e as HbnnError).message).toMatch(/released during a step/);
      } else expect(Number.isFinite((e as StepOutput).loss)).toBe(true);
      expect(r.liveWorkers).toBe(0);
      await r.release();
    }
  });

  it('a session that cannot be created fails create() with a typed error, no worker left', async () => {
    const m = noBatchNormNet();
    const tg = buildTrainingGraph(m);
    // an operator onnxruntime does not know
    tg.model.graph.nodes[0]!.opType = 'NoSuchOp';
    const e = await DataParallelStepRunner.create(tg, collectParams(m, tg), collectBatchNorms(m, tg), [2, 6, 6], { workers: 2, maxBatch: 4 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HbnnError);
    expect((e as HbnnError).code).toBe('runtime');
  });

  it('CLI: --workers 0, abc and > batch size are usage errors (exit 2, invalid-option)', async () => {
    for (const w of ['0', 'abc', '65']) {
      const r = await cli(['train', 'fixtures/models/fmnist-cnn.onnx', '--train-data', 'fmnist-mini:train', '--train-limit', '64', '--batch-size', '64', '--max-steps', '1', '--workers', w, '--json', '-o', path.join(tmpDir('w'), 'o.onnx')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--workers/);
      expect(r.stderr).toMatch(/invalid-option/);
    }
  });

  it('the CLI process exits after training with workers, and after a failure in training (diverged, exit 6)', () => {
    const d = tmpDir('exit');
    const bin = path.join(REPO_ROOT, 'bin', 'hbnn-onnx.js');
    const args = ['train', path.join(REPO_ROOT, 'fixtures/models/fmnist-cnn.onnx'), '--train-data', 'fmnist-mini:train', '--normalize', 'fmnist', '--train-limit', '64', '--batch-size', '32', '--workers', '2'];
    const ok = spawnSync(process.execPath, [bin, ...args, '--max-steps', '2', '-o', path.join(d, 'a.onnx')], { encoding: 'utf8', timeout: 120_000 });
    expect(ok.signal, 'the process did not exit by itself').toBeNull();
    expect(ok.status, ok.stderr).toBe(0);
    expect(fs.existsSync(path.join(d, 'a.onnx'))).toBe(true);
    const bad = spawnSync(process.execPath, [bin, ...args, '--lr', '1e30', '--momentum', '0', '-o', path.join(d, 'b.onnx')], { encoding: 'utf8', timeout: 120_000 });
    expect(bad.signal, 'the process did not exit by itself').toBeNull();
    expect(bad.status, bad.stderr).toBe(6);
    expect(bad.stderr).toMatch(/training-diverged|diverged/);
  });
});
