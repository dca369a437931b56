#!/usr/bin/env node
/**
 * Data-parallel training steps (`workers`, src/train/parallel-step.ts) measured step by step:
 * the zoo model quantized W1.4 Middle-Out, batch 128, SGD with momentum as `fineTune` runs it
 * (the update's sum |w| handed to the next re-binarization), fixed random data. Per step: wall
 * and process CPU ms (the workers' threads included), the main thread's part (everything but
 * the workers' session.run: with this build, waiting for the workers' re-binarization and
 * combination too), and, where the build reports them, the slowest worker's re-binarization,
 * combination, input copy and session.run. With `--base DIST` the same for another compiled
 * checkout (e.g. main's dist/), the two runners alternated step by step in this process (each
 * with its own workers), per-pair ratios new / base, and the latent weights, losses and
 * BatchNorm running statistics of both compared byte for byte at the end (exit 1 on a
 * difference).
 *
 *   node --expose-gc bench/train-parallel-step.mjs [--model mobilenetv2|resnet20] [--steps 16] [--workers 2] [--base DIST]
 *
 * --workers 1: one session with 2 intra-op threads (StepRunner) instead: the one-session
 * step A/B. --update: this build's runner updates the binarized weights in the workers
 * (`DataParallelOptions.update`, what fineTune does with SGD and momentum) instead of the
 * main thread; against a --base without it the bytes must still be identical.
 *
 * With --expose-gc, garbage is collected before each step (not timed). The first two steps of
 * each side (warm-up) are left out of the medians. Imports the compiled package from dist/
 * (or HBNN_DIST).
 */
import * as path from 'node:path';
import * as os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const modelName = arg('model', 'mobilenetv2');
const steps = Number(arg('steps', '16'));
const workers = Number(arg('workers', '2'));
const inWorkers = process.argv.includes('--update');
const dists = [path.resolve(process.env.HBNN_DIST ?? path.join(ROOT, 'dist'))];
if (arg('base', null)) dists.push(path.resolve(arg('base')));
const batch = 128;
const images = new Float32Array(batch * 3 * 32 * 32);
let s = 1;
for (let i = 0; i < images.length; i++) {
  s = (s * 1103515245 + 12345) >>> 0;
  images[i] = (s / 2 ** 32) * 2 - 1;
}
const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const median = (a) => {
  const b = [...a].sort((x, y) => x - y);
  const h = b.length >> 1;
  return b.length % 2 ? b[h] : (b[h - 1] + b[h]) / 2;
};

const sides = [];
for (const [k, dist] of dists.entries()) {
  const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
  const { buildMobileNetV2, buildResNet20 } = await load('zoo/topologies.js');
  const { quantize } = await load('src/index.js');
  const { buildTrainingGraph } = await load('src/train/grad/builder.js');
  const { probeNchwcBlock } = await load('src/train/nchwc-probe.js');
  const { collectParams, collectBatchNorms, updateRunningStats, WEIGHT_STE_CLIP } = await load('src/train/params.js');
  const { Optimizer } = await load('src/train/optimizer.js');
  const { TrainRng } = await load('src/train/rng.js');
  const { DataParallelStepRunner } = await load('src/train/parallel-step.js');
  const { StepRunner } = await load('src/train/step.js');
  const m = modelName === 'resnet20' ? buildResNet20() : buildMobileNetV2();
  await quantize(m, { avgBits: 1.4, heuristic: 'middle-out' });
  const tg = buildTrainingGraph(m, { nchwcBlock: await probeNchwcBlock() });
  const params = collectParams(m, tg);
  const bns = collectBatchNorms(m, tg);
  // --workers 1: one session with 2 threads
  const optimizer = new Optimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 1e-4, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const update = inWorkers && k === 0 && workers > 1;
  const runner = workers > 1 ? await DataParallelStepRunner.create(tg, params, bns, [3, 32, 32], { workers, maxBatch: batch, ...(update ? { update: { optimizer, clip: WEIGHT_STE_CLIP } } : {}) }) : await StepRunner.create(tg, params, bns, [3, 32, 32], 2);
  sides.push({ name: k === 0 ? 'this build' : 'base', update, params, bns, runner, optimizer, updateRunningStats, WEIGHT_STE_CLIP, rng: new TrainRng(1), sums: [], losses: [], t: { wall: [], cpu: [], main: [], rebinarize: [], combine: [], copy: [], run: [] } });
}

const load0 = os.loadavg();
for (let st = 0; st < steps; st++) {
  for (const sd of st % 2 ? sides : [...sides].reverse()) {
    globalThis.gc?.();
    const t0 = performance.now();
    const c0 = cpuNow();
    const out = await sd.runner.run(images, labels, batch, sd.rng, false, sd.sums, sd.update ? { lr: 0.05 } : undefined);
    const t1 = performance.now();
    sd.optimizer.beginStep();
    sd.params.forEach((p, i) => {
      if (out.updated?.[i] !== undefined) {
        sd.sums[i] = out.updated[i];
        return;
      }
      sd.optimizer.update(p.name, p.value, out.grads[i], 0.05, p.kind === 'binarized' ? sd.WEIGHT_STE_CLIP : Infinity);
      sd.sums[i] = sd.optimizer.lastSumAbs;
    });
    sd.bns.forEach((bn, i) => sd.updateRunningStats(bn, out.batchMean[i], out.batchVar[i]));
    const t2 = performance.now();
    sd.losses.push(out.loss);
    if (st < 2) continue;
    const t = sd.t;
    t.wall.push(t2 - t0);
    t.cpu.push(cpuNow() - c0);
    t.main.push(out.jsMs + (t2 - t1));
    t.rebinarize.push(out.workers?.rebinarizeMs ?? NaN);
    t.combine.push(out.workers?.combineMs ?? NaN);
    t.copy.push(out.workers?.copyMs ?? NaN);
    t.run.push(out.workers?.runMs ?? out.ortMs);
  }
}
const load1 = os.loadavg();
const f = (v) => (Number.isNaN(v) ? '-' : v.toFixed(1));
console.log(`${modelName} W1.4 Middle-Out, batch ${batch}, ${workers} workers${sides[0].update ? ' (this build: the update in the workers)' : ''}, ${steps} steps${sides.length > 1 ? ' alternated' : ''} (first 2 of each left out); load average ${load0[0].toFixed(2)} -> ${load1[0].toFixed(2)}`);
console.log('side        step wall  step CPU  main thread  workers: re-binarize  combine  copy-in  session.run   (ms, medians)');
for (const sd of sides) {
  const t = sd.t;
  console.log(`${sd.name.padEnd(10)}  ${f(median(t.wall)).padStart(9)}  ${f(median(t.cpu)).padStart(8)}  ${f(median(t.main)).padStart(11)}  ${f(median(t.rebinarize)).padStart(20)}  ${f(median(t.combine)).padStart(7)}  ${f(median(t.copy)).padStart(7)}  ${f(median(t.run)).padStart(11)}`);
}
let exit = 0;
if (sides.length > 1) {
  const [a, b] = sides;
  const pair = (key) => median(a.t[key].map((x, i) => x / b.t[key][i])).toFixed(3);
  console.log(`per-pair this build / base: step wall ${pair('wall')}, step CPU ${pair('cpu')}, main thread ${pair('main')}`);
  const bytes = (x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const latent = a.params.every((p, i) => bytes(p.value).equals(bytes(b.params[i].value)));
  const losses = a.losses.every((l, i) => Object.is(l, b.losses[i]));
  const running = a.bns.every((bn, i) => bytes(bn.mean).equals(bytes(b.bns[i].mean)) && bytes(bn.variance).equals(bytes(b.bns[i].variance)));
  const momentum = a.params.every((p) => {
    const x = a.optimizer.state.get(p.name)?.get('momentum');
    const y = b.optimizer.state.get(p.name)?.get('momentum');
    return x && y ? bytes(x).equals(bytes(y)) : x === y;
  });
  console.log(`byte-identical: latent weights ${latent}, momentum ${momentum}, losses ${losses}, BatchNorm running statistics ${running}`);
  if (!(latent && momentum && losses && running)) exit = 1;
}
for (const sd of sides) await sd.runner.release();
process.exitCode = exit;
