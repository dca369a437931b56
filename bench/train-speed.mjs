#!/usr/bin/env node
/**
 * Training speed and memory of STE fine-tuning on onnxruntime-node: fmnist-cnn quantized to
 * W1.4 (Middle-Out), batches of 128, 2 onnxruntime threads (defaults), a few epochs on a
 * slice of Fashion-MNIST. Reports samples/s (training steps only, no evaluation), the split
 * between onnxruntime (forward + backward) and TypeScript (batching, re-binarization, STE,
 * optimizer), the resident and heap memory after every epoch (no growth = no leak) and the
 * peak resident memory. A benchmark, not a test.
 *
 *   npx tsc && node bench/train-speed.mjs [--epochs 3] [--limit 12800] [--batch 128] [--threads 2] [--float] [--torch]
 *
 * --float   also time float training (trainFloat) of the same model
 * --canonical  also time the same fine-tuning with phaseLayout: false (every value in the
 *           model's own layout, MaxPool with indices + MaxUnpool), before and after the default
 *           run: the phase layout's gain measured on the same machine in the same run
 * --torch   also time the same network and optimizer in PyTorch on CPU, when /usr/bin/python3
 *           can import torch (Debian: apt install python3-torch; not a dependency): float
 *           training and W1.4 Middle-Out STE fine-tuning written in torch ops
 *           (bench/train_speed_torch.py), same batch and thread count, before and after our runs
 * --pairs N alternate N times: PyTorch's W1.4 fine-tuning (as --torch), then ours, each a
 *           warm-up epoch and a timed epoch of --limit samples (default 6400 = 50 steps), and report each adjacent
 *           pair's ratio. This VM's speed changes in phases of minutes; adjacent runs mostly
 *           share one, so the pairs compare like with like (needs PyTorch, see --torch);
 *           with --float also float-training pairs
 * --suite   instead: the architecture suite (bench/train-speed-suite.mjs): fmnist-cnn, ResNet-20-style
 *           and MobileNetV2-style models (zoo/), float and W1.4 (fmnist-cnn also W1.4A1.4),
 *           each against onnxruntime inference of the same model in the same run and against its
 *           bare training graph; --models a,b (default fmnist-cnn,resnet20,mobilenetv2),
 *           --steps N per epoch (default 8), --epochs (default 2 with --suite), --infer-reps N (default 8),
 *           --bare-steps N (default 6), --no-nchwc (train and build the bare graph without onnxruntime's NCHWc
 *           Conv kernels, for the A/B against the default), --bit-map-every N (the fine-tunes recompute
 *           bit maps every N steps: `bitMapEvery`), --freeze-bn-stats (every run and the bare graph with
 *           `freezeBatchNormStats`: BatchNorm on its running statistics), --workers LIST (e.g. 1,2: each run with
 *           these data-parallel worker counts, `workers`; default 1) and --rounds R (default 1:
 *           the worker counts alternate R times, inference timed between rounds), --variants
 *           LIST (e.g. W1.4: only these of float, W1.4, W1.4A1.4)
 * --json F  write the results as JSON (default bench/out/train-speed.json)
 *
 * Imports the compiled package from dist/ (or from the folder named by HBNN_DIST).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { ROOT, DIST, lib } from './lib.mjs';

const { loadModel, quantize, loadDataset, FMNIST_NORMALIZATION, fineTune, trainFloat } = lib;

function parseArgs(argv) {
  const a = { epochs: undefined, limit: undefined, batch: 128, threads: 2, float: false, torch: false, canonical: false, pairs: 0, json: 'bench/out/train-speed.json', suite: false, models: ['fmnist-cnn', 'resnet20', 'mobilenetv2'], steps: 8, inferReps: 8, bareSteps: 6 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--epochs') a.epochs = Number(v());
    else if (k === '--limit') a.limit = Number(v());
    else if (k === '--batch') a.batch = Number(v());
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '--float') a.float = true;
    else if (k === '--torch') a.torch = true;
    else if (k === '--canonical') a.canonical = true;
    else if (k === '--pairs') a.pairs = Number(v());
    else if (k === '--json') a.json = v();
    else if (k === '--suite') a.suite = true;
    else if (k === '--models') a.models = v().split(',');
    else if (k === '--steps') a.steps = Number(v());
    else if (k === '--infer-reps') a.inferReps = Number(v());
    else if (k === '--bare-steps') a.bareSteps = Number(v());
    else if (k === '--no-nchwc') a.nchwc = false;
    else if (k === '--bit-map-every') a.bitMapEvery = Number(v());
    else if (k === '--freeze-bn-stats') a.freezeBn = true;
    else if (k === '--workers') a.workers = v().split(',').map(Number);
    else if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--variants') a.variants = v().split(',');
    else throw new Error(`unknown argument ${k} (see the comment at the top of bench/train-speed.mjs)`);
  }
  a.limit ??= a.pairs > 0 ? 50 * a.batch : 12800;
  a.epochs ??= a.suite ? 2 : 3;
  return a;
}

const mb = (b) => Math.round((b / 2 ** 20) * 10) / 10;
const args = parseArgs(process.argv.slice(2));
if (args.suite) {
  const { runSuite } = await import('./train-speed-suite.mjs');
  const loadStart = os.loadavg().map((v) => Math.round(v * 100) / 100);
  const runs = await runSuite({ dist: DIST, root: ROOT, args, loadModel, quantize, fineTune, trainFloat, loadDataset, FMNIST_NORMALIZATION });
  const out = { date: new Date().toISOString(), node: process.version, args, runs, peakRssMiB: mb(process.resourceUsage().maxRSS * 1024), loadAverage: { start: loadStart, end: os.loadavg().map((v) => Math.round(v * 100) / 100) } };
  console.log(`load average (1/5/15 min) at start ${out.loadAverage.start.join(' ')}, at end ${out.loadAverage.end.join(' ')}; peak resident memory ${out.peakRssMiB} MiB`);
  fs.mkdirSync(path.dirname(path.resolve(ROOT, args.json)), { recursive: true });
  fs.writeFileSync(path.resolve(ROOT, args.json), JSON.stringify(out, null, 1) + '\n');
  process.exit(0);
}
const modelPath = path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx');
const train = loadDataset('fmnist:train', { normalize: FMNIST_NORMALIZATION, limit: args.limit });

async function timed(label, fn) {
  const memory = [];
  const onProgress = (e) => {
    if (e.type !== 'epoch') return;
    global.gc?.();
    const m = process.memoryUsage();
    const r = e.record;
    const sps = r.samples / ((r.ortMs + r.jsMs) / 1000);
    memory.push({ epoch: r.epoch, rssMiB: mb(m.rss), heapUsedMiB: mb(m.heapUsed), externalMiB: mb(m.external + m.arrayBuffers) });
    console.log(
      `${label} epoch ${r.epoch}: ${r.steps} steps, ${sps.toFixed(0)} samples/s (onnxruntime ${(r.ortMs / r.steps).toFixed(1)} ms/step, TypeScript ${(r.jsMs / r.steps).toFixed(1)} ms/step = ${((100 * r.jsMs) / (r.ortMs + r.jsMs)).toFixed(1)}%), loss ${r.trainLoss.toFixed(4)}, rss ${mb(m.rss)} MiB, heap ${mb(m.heapUsed)} MiB`,
    );
  };
  const t0 = performance.now();
  const res = await fn(onProgress);
  const wall = performance.now() - t0;
  const eps = res.log.epochs;
  const samples = eps.reduce((s, r) => s + r.samples, 0);
  const ort = eps.reduce((s, r) => s + r.ortMs, 0);
  const js = eps.reduce((s, r) => s + r.jsMs, 0);
  // first epoch includes session warm-up; report the steady state from the later epochs too
  const later = eps.slice(1);
  const laterSps = later.length ? later.reduce((s, r) => s + r.samples, 0) / (later.reduce((s, r) => s + r.ortMs + r.jsMs, 0) / 1000) : undefined;
  return {
    label,
    epochs: eps.length,
    samples,
    samplesPerSec: Math.round(samples / ((ort + js) / 1000)),
    steadySamplesPerSec: laterSps ? Math.round(laterSps) : undefined,
    ortMsPerStep: Math.round((ort / eps.reduce((s, r) => s + r.steps, 0)) * 10) / 10,
    jsMsPerStep: Math.round((js / eps.reduce((s, r) => s + r.steps, 0)) * 10) / 10,
    jsShare: Math.round((1000 * js) / (ort + js)) / 10,
    wallMs: Math.round(wall),
    memory,
  };
}

const loadStart = os.loadavg().map((v) => Math.round(v * 100) / 100);
const results = { date: new Date().toISOString(), node: process.version, args, runs: [] };
/** PyTorch float and W1.4 runs, labelled `when` (before/after ours: the machine's load drifts). */
/** One PyTorch run of `mode` (float or w14); null when /usr/bin/python3 cannot import torch. */
function torchRun(mode) {
  const py = spawnSync('/usr/bin/python3', [path.join(ROOT, 'bench/train_speed_torch.py'), mode, String(args.batch), String(args.threads), String(Math.min(args.limit, 50 * args.batch))], { encoding: 'utf8' });
  if (py.status !== 0) {
    console.log(`PyTorch comparison skipped: /usr/bin/python3 cannot run it (${(py.stderr || '').trim().split('\n').pop()})`);
    return null;
  }
  return JSON.parse(py.stdout.trim().split('\n').pop());
}
function runTorch(when) {
  for (const [mode, label] of [['float', 'PyTorch CPU float training (same network)'], ['w14', 'PyTorch CPU W1.4 Middle-Out STE fine-tuning (same network)']]) {
    const r = torchRun(mode);
    if (!r) return;
    results.runs.push({ label: `${label}, ${when} ours`, ...r });
    console.log(`PyTorch ${r.torch} ${mode} (${when} ours): ${r.samplesPerSec} samples/s (${r.msPerStep} ms/step), ${args.threads} threads`);
  }
}
if (args.torch) runTorch('before');

const common0 = { batchSize: args.batch, threads: args.threads, seed: 0, evalBefore: false };
if (args.pairs > 0) {
  const qp = loadModel(modelPath);
  await quantize(qp, { avgBits: 1.4, heuristic: 'middle-out' });
  // W1.4 fine-tuning pairs; with --float also float-training pairs (PyTorch float vs trainFloat)
  const kinds = [['w14', 'W1.4 middle-out fine-tune', (onProgress) => fineTune(qp, train, { ...common0, epochs: 2, latentFrom: loadModel(modelPath), onProgress })]];
  if (args.float) kinds.push(['float', 'float train', (onProgress) => trainFloat(loadModel(modelPath), train, { ...common0, epochs: 2, onProgress })]);
  results.pairs = {};
  for (const [mode, label, run] of kinds) {
    const pairs = [];
    for (let i = 0; i < args.pairs; i++) {
      const t = torchRun(mode);
      if (!t) break;
      // like the PyTorch script: one warm-up epoch, then one timed epoch
      const ours = await timed(`${label}, pair ${i + 1}`, run);
      const pair = { torch: t.samplesPerSec, ours: ours.steadySamplesPerSec, ratio: Math.round((ours.steadySamplesPerSec / t.samplesPerSec) * 1000) / 1000 };
      pairs.push(pair);
      console.log(`${mode} pair ${i + 1}: PyTorch ${t.samplesPerSec} samples/s, ours ${ours.steadySamplesPerSec} samples/s: ours/PyTorch ${pair.ratio.toFixed(3)}`);
    }
    const ratios = pairs.map((p) => p.ratio).sort((x, y) => x - y);
    if (!ratios.length) continue;
    const h = ratios.length >> 1;
    const median = ratios.length % 2 ? ratios[h] : Math.round(((ratios[h - 1] + ratios[h]) / 2) * 1000) / 1000;
    results.pairs[mode] = { pairs, medianRatio: median, oursFaster: ratios.filter((r) => r > 1).length, of: ratios.length };
    console.log(`${mode} pairs: ours faster in ${results.pairs[mode].oursFaster} of ${ratios.length}; ratio ours/PyTorch min ${ratios[0]}, median ${median}, max ${ratios[ratios.length - 1]}`);
  }
}

if (args.pairs === 0) {
  const common = { ...common0, epochs: args.epochs };
  const q = loadModel(modelPath);
  await quantize(q, { avgBits: 1.4, heuristic: 'middle-out' });
  const canonicalRun = async (when) =>
    results.runs.push(await timed(`W1.4 middle-out fine-tune, phaseLayout false (${when})`, (onProgress) => fineTune(q, train, { ...common, latentFrom: loadModel(modelPath), phaseLayout: false, onProgress })));
  if (args.canonical) await canonicalRun('before');
  results.runs.push(await timed('W1.4 middle-out fine-tune', (onProgress) => fineTune(q, train, { ...common, latentFrom: loadModel(modelPath), onProgress })));
  if (args.canonical) await canonicalRun('after');
  if (args.float) results.runs.push(await timed('float train', (onProgress) => trainFloat(loadModel(modelPath), train, { ...common, onProgress })));
}
results.peakRssMiB = mb(process.resourceUsage().maxRSS * 1024);

if (args.torch) runTorch('after');
results.loadAverage = { start: loadStart, end: os.loadavg().map((v) => Math.round(v * 100) / 100) };
console.log(`load average (1/5/15 min) at start ${loadStart.join(' ')}, at end ${results.loadAverage.end.join(' ')}`);

console.log(`peak resident memory ${results.peakRssMiB} MiB`);
for (const r of results.runs) console.log(JSON.stringify(r));
fs.mkdirSync(path.dirname(path.resolve(ROOT, args.json)), { recursive: true });
fs.writeFileSync(path.resolve(ROOT, args.json), JSON.stringify(results, null, 1) + '\n');

