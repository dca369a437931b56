#!/usr/bin/env node
/**
 * What recomputing the bit maps less often costs in accuracy (`FineTuneOptions.bitMapEvery`,
 * `--bit-map-every`): W1.4 Middle-Out fmnist-cnn fine-tuned with the recipe of
 * bench/train-table.mjs, bit maps recomputed every step (the default), every 4 and every 16
 * steps (held in between), and frozen from the start (`freezeBitMapsAfter: 0`), with each run's
 * TypeScript milliseconds per step from the training log beside its accuracy.
 *
 *   npx tsc && node bench/train-bitmap-every.mjs [--epochs 2] [--configs every1,every4,every16,frozen] [--threads 2] [--limit N] [--eval-limit N]
 *
 * Prints a Markdown table and merges the runs into bench/out/train-bitmap-every.json (runs with
 * another recipe or data start a new store). docs/training.md (*Bit maps*) quotes the table.
 * Recipe: SGD, lr 0.01 cosine over the run, momentum 0.9, weight decay 1e-4, batch 128, seed 0;
 * latent weights from the float model; every Conv/Gemm weight at 1.4 bits, per-tensor scales,
 * activations float; best epoch by test top-1 kept. Data: `fmnist:train`, `fmnist:test`.
 *
 * Imports the compiled package from dist/ (or from the folder named by HBNN_DIST).
 */
import * as path from 'node:path';
import { ROOT, lib, parseArgs, fmnistFineTuneRuns } from './lib.mjs';

const { loadModel, quantize, fineTune, evaluate } = lib;

const CONFIGS = [
  { name: 'every1', label: 'recomputed every step (default)', opts: {} },
  { name: 'every4', label: 'recomputed every 4 steps', opts: { bitMapEvery: 4 } },
  { name: 'every16', label: 'recomputed every 16 steps', opts: { bitMapEvery: 16 } },
  { name: 'frozen', label: "frozen from the start (the quantizer's)", opts: { freezeBitMapsAfter: 0 } },
];

const args = parseArgs(process.argv.slice(2), { epochs: 2, threads: 2, json: 'bench/out/train-bitmap-every.json', configs: (v) => v.split(','), limit: Number, evalLimit: Number });
for (const c of args.configs ?? []) if (!CONFIGS.some((x) => x.name === c)) throw new Error(`unknown config ${c}; known: ${CONFIGS.map((x) => x.name).join(', ')}`);

const modelPath = path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx');
const { train, test, recipe, store, startRun } = fmnistFineTuneRuns(args);

for (const cfg of CONFIGS) {
  if (args.configs && !args.configs.includes(cfg.name)) continue;
  const saveRun = startRun();
  const q = loadModel(modelPath);
  await quantize(q, { avgBits: 1.4, heuristic: 'middle-out' });
  const res = await fineTune(q, train, {
    ...recipe,
    ...cfg.opts,
    evalData: test,
    latentFrom: loadModel(modelPath),
    onProgress: (e) => e.type === 'epoch' && console.log(`${cfg.name} epoch ${e.record.epoch}: test top-1 ${(100 * e.record.evalTop1).toFixed(2)}%, TypeScript ${(e.record.jsMs / e.record.steps).toFixed(2)} ms/step`),
  });
  const final = await evaluate(res.model, test, { threads: args.threads });
  saveRun(cfg.name, {
    config: cfg.name,
    options: cfg.opts,
    before: res.log.before,
    epochs: res.log.epochs.map((e) => ({ epoch: e.epoch, evalTop1: e.evalTop1, trainLoss: e.trainLoss, jsMsPerStep: e.jsMs / e.steps, ortMsPerStep: e.ortMs / e.steps })),
    final: { top1: final.top1, top5: final.top5 },
  });
}

const pct = (x) => (x === undefined || x === null ? '—' : `${(100 * x).toFixed(2)}%`);
const rows = CONFIGS.map((c) => [c, store.runs[c.name]]).filter(([, r]) => r);
const n = Math.max(0, ...rows.map(([, r]) => r.epochs.length));
const head = ['bit maps', 'before', ...Array.from({ length: n }, (_, i) => `epoch ${i + 1}`), 'kept model', 'TypeScript ms/step', 'onnxruntime ms/step', 'load'];
console.log(`| ${head.join(' | ')} |\n| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
for (const [c, r] of rows) {
  const mean = (k) => r.epochs.reduce((a, e) => a + e[k], 0) / r.epochs.length;
  console.log(`| ${c.label} | ${pct(r.before?.evalTop1)} | ${Array.from({ length: n }, (_, i) => pct(r.epochs[i]?.evalTop1)).join(' | ')} | **${pct(r.final.top1)}** | ${mean('jsMsPerStep').toFixed(2)} | ${mean('ortMsPerStep').toFixed(1)} | ${r.loadAverage} |`);
}
