#!/usr/bin/env node
/**
 * Bit map granularity after a brief fine-tune: W1.4 with per-entry bit maps (the default) vs
 * row-granular bit maps (`granularity: 'row'`, one bitwidth per output channel), the same
 * recipe as bench/train-table.mjs. Writes its table into docs/training-results.md between the
 * GRANULARITY markers (bench/train-table.mjs carries that block over when it regenerates
 * the file).
 *
 *   npx tsc && node bench/train-granularity.mjs [--epochs 2] [--configs entry,row,row-residual,w1,w2]
 *
 * Options:
 *   --epochs N      fine-tuning epochs per configuration (default 2)
 *   --configs LIST  run only these rows (others are kept from the JSON of earlier runs with
 *                   the same epochs, limits and recipe)
 *   --threads N     onnxruntime intra-op threads (default 2)
 *   --limit N       train on the first N training images only (quick runs; default all 60,000)
 *   --eval-limit N  evaluate on the first N test images only (default all 10,000)
 *   --out FILE      Markdown file to update (default docs/training-results.md)
 *   --json FILE     results as JSON, merged across runs (default bench/out/train-granularity.json)
 *
 * Recipe (as bench/train-table.mjs): SGD, lr 0.01 with a cosine schedule over the run,
 * momentum 0.9, weight decay 1e-4, batch 128, seed 0; latent weights start from the float
 * model; bit maps are recomputed from the latent weights every step with the recorded
 * heuristic and granularity; the best epoch by test top-1 is kept. Every Conv/Gemm weight
 * binarized at 1.4 bits, per-tensor scales, activations float. Data: `fmnist:train` and
 * `fmnist:test` (Debian package dataset-fashion-mnist), normalized as the model was trained.
 *
 * Imports the compiled package from dist/ (or from the folder named by HBNN_DIST).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, fmnistFineTuneRuns } from './lib.mjs';

const { loadModel, quantize, fineTune, evaluate } = lib;

const CONFIGS = [
  { name: 'entry', label: 'W1.4 Middle-Out, per entry', quant: { avgBits: 1.4, heuristic: 'middle-out' } },
  { name: 'row', label: 'W1.4 Middle-Out, per row', quant: { avgBits: 1.4, heuristic: 'middle-out', granularity: 'row' } },
  { name: 'row-residual', label: 'W1.4 Middle-Out residual, per row', quant: { avgBits: 1.4, heuristic: 'middle-out-residual', granularity: 'row' } },
  // References: homogeneous 1 and 2 bits (every entry, hence every row, the same width).
  { name: 'w1', label: 'W1', quant: { avgBits: 1 } },
  { name: 'w2', label: 'W2', quant: { avgBits: 2 } },
];
const MARKERS = ['<!-- GRANULARITY:START -->', '<!-- GRANULARITY:END -->'];

function parseArgs(argv) {
  const a = { epochs: 2, threads: 2, out: 'docs/training-results.md', json: 'bench/out/train-granularity.json' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--epochs') a.epochs = Number(v());
    else if (k === '--configs') a.configs = v().split(',');
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '--limit') a.limit = Number(v());
    else if (k === '--eval-limit') a.evalLimit = Number(v());
    else if (k === '--out') a.out = v();
    else if (k === '--json') a.json = v();
    else throw new Error(`unknown argument ${k} (see the comment at the top of bench/train-granularity.mjs)`);
  }
  for (const c of a.configs ?? []) if (!CONFIGS.some((x) => x.name === c)) throw new Error(`unknown config ${c}; known: ${CONFIGS.map((x) => x.name).join(', ')}`);
  return a;
}

const args = parseArgs(process.argv.slice(2));
const modelPath = path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx');
const { train, test, recipe, store, startRun } = fmnistFineTuneRuns(args);
const command = `npx tsc && node bench/train-granularity.mjs --epochs ${args.epochs}${args.threads !== 2 ? ` --threads ${args.threads}` : ''}${args.limit ? ` --limit ${args.limit}` : ''}${args.evalLimit ? ` --eval-limit ${args.evalLimit}` : ''}`;

for (const cfg of CONFIGS) {
  if (args.configs && !args.configs.includes(cfg.name)) continue;
  const saveRun = startRun();
  const progress = (e) => {
    if (e.type === 'epoch') console.log(`${cfg.name} epoch ${e.record.epoch}: loss ${e.record.trainLoss.toFixed(4)}, test top-1 ${(100 * e.record.evalTop1).toFixed(2)}%, ${(e.record.ms / 1000).toFixed(0)} s`);
    else if (e.type === 'eval' && e.epoch === 0) console.log(`${cfg.name} before: test top-1 ${(100 * e.top1).toFixed(2)}%`);
  };
  const q = loadModel(modelPath);
  const qr = await quantize(q, cfg.quant);
  const res = await fineTune(q, train, { ...recipe, evalData: test, latentFrom: loadModel(modelPath), onProgress: progress });
  const record = JSON.parse(res.model.getMetadata('hbnn.quantization'));
  const final = await evaluate(res.model, test, { threads: args.threads });
  saveRun(cfg.name, {
    config: cfg.name,
    quantize: cfg.quant,
    pipeline: qr.pipeline,
    weightBits: record.avgWeightBits,
    granularity: cfg.quant.granularity ?? (Number.isInteger(cfg.quant.avgBits) ? 'homogeneous' : 'entry'),
    before: res.log.before,
    epochs: res.log.epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, trainTop1: e.trainTop1, evalTop1: e.evalTop1, evalTop5: e.evalTop5, ms: e.ms })),
    best: res.log.best,
    final: { top1: final.top1, top5: final.top5 },
  });
  writeMarkdown();
}
writeMarkdown();

function writeMarkdown() {
  const pct = (x) => (x === undefined || x === null ? '—' : `${(100 * x).toFixed(2)}%`);
  const rows = CONFIGS.map((c) => [c, store.runs[c.name]]).filter(([, r]) => r);
  const maxEpochs = Math.max(0, ...rows.map(([, r]) => r.epochs.length));
  const head = ['config', 'granularity', 'avg weight bits', 'before (PTQ)', ...Array.from({ length: maxEpochs }, (_, i) => `epoch ${i + 1}`), 'kept model', 'Δ vs per entry', 'top-5', 'time'];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`];
  const entry = store.runs.entry;
  for (const [c, r] of rows) {
    const d = entry && c.name !== 'entry' ? 100 * (r.final.top1 - entry.final.top1) : null;
    lines.push(
      `| ${c.label} | ${r.granularity === 'row' ? 'per row' : r.granularity === 'entry' ? 'per entry' : r.granularity} | ${r.weightBits.toFixed(4)} | ${pct(r.before?.evalTop1)} | ` +
        `${Array.from({ length: maxEpochs }, (_, i) => pct(r.epochs[i]?.evalTop1)).join(' | ')} | **${pct(r.final.top1)}** | ${d === null ? '' : `${d >= 0 ? '+' : ''}${d.toFixed(2)}`} | ${pct(r.final.top5)} | ${r.seconds} s |`,
    );
  }
  const s = JSON.parse(store.setting);
  const block = `${MARKERS[0]}
## Bit map granularity: per entry vs per row, after a brief fine-tune

Generated by \`${command}\` (raw numbers: \`${args.json}\`); do not edit the table by hand.
W1.4 (every Conv/Gemm weight, per-tensor scales, activations float) quantized with per-entry
bit maps or with row-granular ones (\`quantize --granularity row\`: every output channel one
bitwidth, docs/method.md), with homogeneous W1 and W2 as references, then fine-tuned with the recipe above for ${s.epochs} epoch(s) on
\`${s.train}\` (${s.trainSamples.toLocaleString('en')} images), bit maps recomputed every step with the
recorded granularity; test top-1 on \`${s.evalData}\` (${s.evalSamples.toLocaleString('en')} images) after every
epoch, the kept model scored again. Times are wall-clock on the 2-core machine, ${s.threads}
onnxruntime thread(s), load average at the start of each row in the JSON.

${lines.join('\n')}
${MARKERS[1]}`;
  const file = path.resolve(ROOT, args.out);
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const i = text.indexOf(MARKERS[0]);
  const j = text.indexOf(MARKERS[1]);
  let out;
  if (i >= 0 && j > i) out = text.slice(0, i) + block + text.slice(j + MARKERS[1].length);
  else {
    // Before the commentary, if there is one; else at the end.
    const k = text.indexOf('<!-- COMMENTARY:START -->');
    out = k >= 0 ? `${text.slice(0, k)}${block}\n\n${text.slice(k)}` : `${text.trimEnd()}\n\n${block}\n`;
  }
  fs.writeFileSync(file, out);
}
