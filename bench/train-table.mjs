#!/usr/bin/env node
/**
 * STE fine-tuning of the Fashion-MNIST CNN for the paper's configurations: W1, W1.4
 * (Middle-Out), W2, W1A1, W1.4A1.4 (Middle-Out), W2A2, plus the float model trained for the
 * same number of epochs as a control. Writes the table to docs/training-results.md.
 *
 *   npx tsc && node bench/train-table.mjs [--epochs 3] [--configs W1,W1.4,...] [--threads 2]
 *   npx tsc && node bench/train-table.mjs --model resnet [--epochs 1]   (npm run bench:train-resnet)
 *
 * Options:
 *   --model NAME    cnn (fixtures/models/fmnist-cnn.onnx, the whole file) or resnet (the trained
 *                   ResNet-8 fixtures/models/fmnist-resnet.onnx, scripts/make-fmnist-resnet.mjs;
 *                   rows float, W1, W1.4, W2, W1A1, W1.4A1.4, written to the section between the
 *                   RESNET markers of the output file, JSON bench/out/train-table-resnet.json)
 *   --epochs N      fine-tuning epochs per configuration (default 3)
 *   --configs LIST  run only these rows (others are kept from the JSON of earlier runs)
 *   --threads N     onnxruntime intra-op threads (default 2)
 *   --limit N       train on the first N training images only (quick runs; default all 60,000)
 *   --eval-limit N  evaluate on the first N test images only (default all 10,000)
 *   --out FILE      Markdown output (default docs/training-results.md)
 *   --json FILE     results as JSON, merged across runs (default bench/out/train-table.json)
 *   --render-only   rewrite the Markdown from the JSON, without training
 *   --workers N     data-parallel fine-tuning (`workers`, docs/training.md *Data-parallel steps*):
 *                   each config (default W1.4) is run with N workers and with 1, in that order,
 *                   on the same recipe; the rows go to their own section (between the WORKERS
 *                   markers of the output file; JSON bench/out/train-table-<model>-workers.json),
 *                   the main table is left as it is
 *   --seeds LIST    with --workers: run each config with these seeds (default 0; rows of other
 *                   seeds already in the JSON are kept)
 *
 * Recipe (METHOD §5): SGD, lr 0.01 with a cosine schedule over the run, momentum 0.9, weight
 * decay 1e-4, batch 128, seed 0; latent weights start from the float model; bit maps are
 * recomputed from the latent weights every step; the best epoch by test top-1 is kept.
 * Quantization as in bench/ptq-table.mjs: every Conv/Gemm weight binarized, per-tensor
 * scales, activations binarized at the inputs of the 2nd and 3rd convolutions with bands
 * and scales calibrated on the first 1,000 training images. Data: `fmnist:train` and
 * `fmnist:test` (Debian package dataset-fashion-mnist), normalized as the model was trained.
 *
 * Imports the compiled package from dist/ (or from the folder named by HBNN_DIST).
 * A hand-written commentary between the COMMENTARY markers of an existing output file is
 * carried over when the file is regenerated, and so is the bit map granularity table between
 * the GRANULARITY markers (written by bench/train-granularity.mjs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, lib } from './lib.mjs';

const { loadModel, quantize, loadDataset, FMNIST_NORMALIZATION, fineTune, trainFloat, evaluate } = lib;

const CALIB = { calibData: 'fmnist:train', calibLimit: 1000, normalize: 'fmnist' };
const CONFIGS = [
  { name: 'float', float: true },
  { name: 'W1', quant: { avgBits: 1 } },
  { name: 'W1.4', quant: { avgBits: 1.4, heuristic: 'middle-out' } },
  { name: 'W2', quant: { avgBits: 2 } },
  { name: 'W1A1', quant: { avgBits: 1, actBits: 1, ...CALIB } },
  { name: 'W1.4A1.4', quant: { avgBits: 1.4, heuristic: 'middle-out', actBits: 1.4, actHeuristic: 'middle-out', ...CALIB } },
  { name: 'W2A2', quant: { avgBits: 2, actBits: 2, ...CALIB } },
];
const COMMENTARY = ['<!-- COMMENTARY:START -->', '<!-- COMMENTARY:END -->'];
const RESNET = ['<!-- RESNET:START -->', '<!-- RESNET:END -->'];
const WORKERS = ['<!-- WORKERS:START -->', '<!-- WORKERS:END -->'];
/** The ResNet table's rows (the configurations the issue names; W2A2 on request with --configs). */
const RESNET_CONFIGS = ['float', 'W1', 'W1.4', 'W2', 'W1A1', 'W1.4A1.4'];
const GRANULARITY = ['<!-- GRANULARITY:START -->', '<!-- GRANULARITY:END -->'];

function parseArgs(argv) {
  const a = { model: 'cnn', threads: 2, out: 'docs/training-results.md' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--epochs') a.epochs = Number(v());
    else if (k === '--model') a.model = v();
    else if (k === '--configs') a.configs = v().split(',');
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '--limit') a.limit = Number(v());
    else if (k === '--eval-limit') a.evalLimit = Number(v());
    else if (k === '--out') a.out = v();
    else if (k === '--json') a.json = v();
    else if (k === '--render-only') a.renderOnly = true;
    else if (k === '--workers') a.workers = Number(v());
    else if (k === '--seeds') a.seeds = v().split(',').map(Number);
    else throw new Error(`unknown argument ${k} (see the comment at the top of bench/train-table.mjs)`);
  }
  if (a.model !== 'cnn' && a.model !== 'resnet') throw new Error(`unknown model ${a.model}; known: cnn, resnet`);
  a.epochs ??= a.model === 'resnet' ? 1 : 3;
  if (a.workers !== undefined && !(Number.isInteger(a.workers) && a.workers > 1)) throw new Error('--workers must be an integer > 1 (each config also runs with 1 worker)');
  if (a.seeds && !a.workers) throw new Error('--seeds goes with --workers');
  a.seeds ??= [0];
  a.json ??= `bench/out/train-table${a.model === 'resnet' ? '-resnet' : ''}${a.workers ? '-workers' : ''}.json`;
  for (const c of a.configs ?? []) if (!CONFIGS.some((x) => x.name === c)) throw new Error(`unknown config ${c}; known: ${CONFIGS.map((x) => x.name).join(', ')}`);
  return a;
}

const args = parseArgs(process.argv.slice(2));
const resnet = args.model === 'resnet';
const modelPath = path.join(ROOT, resnet ? 'fixtures/models/fmnist-resnet.onnx' : 'fixtures/models/fmnist-cnn.onnx');
const configs = resnet ? CONFIGS.filter((c) => RESNET_CONFIGS.includes(c.name) || args.configs?.includes(c.name)) : CONFIGS;
const jsonPath = path.resolve(ROOT, args.json);
const store = fs.existsSync(jsonPath) ? JSON.parse(fs.readFileSync(jsonPath, 'utf8')) : { runs: {} };
const train = loadDataset('fmnist:train', { normalize: FMNIST_NORMALIZATION, ...(args.limit ? { limit: args.limit } : {}) });
const test = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, ...(args.evalLimit ? { limit: args.evalLimit } : {}) });
const command = (names, seeds) =>
  `npx tsc && node bench/train-table.mjs${resnet ? ' --model resnet' : ''} --epochs ${args.epochs}${args.threads !== 2 ? ` --threads ${args.threads}` : ''}${args.limit ? ` --limit ${args.limit}` : ''}${args.evalLimit ? ` --eval-limit ${args.evalLimit}` : ''}${names ? ` --configs ${names.join(',')}` : ''}${args.workers ? ` --workers ${args.workers}` : ''}${seeds && seeds.join(',') !== '0' ? ` --seeds ${seeds.join(',')}` : ''}`;

// --workers N: each config with N workers, then with 1 (the control), as rows "<config>, N workers"
const runList = args.workers
  ? args.seeds.flatMap((seed) => CONFIGS.filter((c) => (args.configs ?? ['W1.4']).includes(c.name)).flatMap((c) => [args.workers, 1].map((w) => ({ ...c, key: `${c.name}, ${w} worker${w > 1 ? 's' : ''}${seed ? `, seed ${seed}` : ''}`, workers: w, seed }))))
  : configs.map((c) => ({ ...c, key: c.name }));
for (const cfg of runList) {
  if (args.renderOnly || (!args.workers && args.configs && !args.configs.includes(cfg.name))) continue;
  const t0 = performance.now();
  const load0 = os.loadavg()[0];
  const recipe = { epochs: args.epochs, batchSize: 128, lr: 0.01, momentum: 0.9, weightDecay: 1e-4, schedule: 'cosine', seed: cfg.seed ?? 0, threads: args.threads, evalData: test, ...(cfg.workers ? { workers: cfg.workers } : {}) };
  const progress = (e) => {
    if (e.type === 'epoch') console.log(`${cfg.key} epoch ${e.record.epoch}: loss ${e.record.trainLoss.toFixed(4)}, test top-1 ${(100 * e.record.evalTop1).toFixed(2)}%, ${(e.record.ms / 1000).toFixed(0)} s`);
    else if (e.type === 'eval' && e.epoch === 0) console.log(`${cfg.key} before: test top-1 ${(100 * e.top1).toFixed(2)}%`);
  };
  let res;
  let record;
  if (cfg.float) {
    res = await trainFloat(loadModel(modelPath), train, { ...recipe, onProgress: progress });
  } else {
    const q = loadModel(modelPath);
    await quantize(q, cfg.quant);
    res = await fineTune(q, train, { ...recipe, latentFrom: loadModel(modelPath), onProgress: progress });
    record = JSON.parse(res.model.getMetadata('hbnn.quantization'));
  }
  // the kept model, scored again from scratch (what a user of the returned model gets)
  const final = await evaluate(res.model, test, { threads: args.threads });
  store.runs[cfg.key] = {
    config: cfg.key,
    ...(cfg.workers ? { workers: cfg.workers, base: cfg.name } : {}),
    quantize: cfg.quant ?? null,
    weightBits: record ? record.avgWeightBits : 32,
    actBits: record?.avgActivationBits ?? null,
    before: res.log.before,
    epochs: res.log.epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, trainTop1: e.trainTop1, evalTop1: e.evalTop1, evalTop5: e.evalTop5, ms: e.ms })),
    best: res.log.best,
    final: { top1: final.top1, top5: final.top5 },
    seconds: Math.round((performance.now() - t0) / 1000),
    loadAverage: Math.round(load0 * 10) / 10,
    recipe: { ...recipe, evalData: test.name, train: train.name, trainSamples: train.count },
    date: new Date().toISOString(),
  };
  // rows of other runs writing the same JSON meanwhile (e.g. --configs subsets in parallel) are kept
  const latest = fs.existsSync(jsonPath) ? JSON.parse(fs.readFileSync(jsonPath, 'utf8')) : { runs: {} };
  for (const [k, v] of Object.entries(latest.runs)) if (k !== cfg.key) store.runs[k] = v;
  fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
  fs.writeFileSync(jsonPath, JSON.stringify(store, null, 1) + '\n');
  writeMarkdown();
}
writeMarkdown();

function writeMarkdown() {
  const pct = (x) => (x === undefined || x === null ? '—' : `${(100 * x).toFixed(2)}%`);
  const rows = args.workers ? Object.values(store.runs) : configs.map((c) => store.runs[c.name]).filter(Boolean);
  const maxEpochs = Math.max(0, ...rows.map((r) => r.epochs.length));
  const head = ['config', 'avg weight bits', 'act bits', 'before (PTQ)', ...Array.from({ length: maxEpochs }, (_, i) => `epoch ${i + 1}`), 'kept model', 'top-5', 'time'];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((h, i) => (i < 1 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) {
    const cells = [
      r.config,
      r.weightBits === 32 ? '32 (float)' : r.weightBits.toFixed(4),
      r.actBits ? r.actBits.toFixed(2) : 'float',
      pct(r.before?.evalTop1),
      ...Array.from({ length: maxEpochs }, (_, i) => pct(r.epochs[i]?.evalTop1)),
      `**${pct(r.final.top1)}**`,
      pct(r.final.top5),
      `${r.seconds} s`,
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  if (args.workers) {
    writeWorkersSection(lines, rows);
    return;
  }
  const get = (n) => store.runs[n]?.final.top1;
  const checks = [];
  if (get('W1.4') !== undefined && get('W2') !== undefined) {
    const d = 100 * (get('W1.4') - get('W2'));
    checks.push(`- W1.4 (Middle-Out) vs W2: ${d >= 0 ? '+' : ''}${d.toFixed(2)} points (paper: W1.4 ≈ W2, within 0.3 points) — ${Math.abs(d) <= 0.3 ? 'holds' : d > 0.3 ? 'W1.4 is above W2 by more than 0.3 points' : 'does not hold: W1.4 is below W2 by more than 0.3 points'}.`);
  }
  if (get('W1.4A1.4') !== undefined && get('W1A1') !== undefined) {
    const d = 100 * (get('W1.4A1.4') - get('W1A1'));
    checks.push(`- W1.4A1.4 vs W1A1: ${d >= 0 ? '+' : ''}${d.toFixed(2)} points (paper: clearly above) — ${d > 0.5 ? 'holds' : 'does not hold'}.`);
  }
  const old = fs.existsSync(path.resolve(ROOT, args.out)) ? fs.readFileSync(path.resolve(ROOT, args.out), 'utf8') : '';
  const s = old.indexOf(COMMENTARY[0]);
  const e = old.indexOf(COMMENTARY[1]);
  const commentary = s >= 0 && e > s ? old.slice(s, e + COMMENTARY[1].length) : `${COMMENTARY[0]}\n${COMMENTARY[1]}`;
  const gs = old.indexOf(GRANULARITY[0]);
  const ge = old.indexOf(GRANULARITY[1]);
  const granularity = gs >= 0 && ge > gs ? `${old.slice(gs, ge + GRANULARITY[1].length)}\n\n` : '';
  const rs = old.indexOf(RESNET[0]);
  const re = old.indexOf(RESNET[1]);
  const any = rows[0];
  if (resnet) {
    writeResnetSection(old, rs, re, lines, checks, any);
    return;
  }
  const resnetSection = rs >= 0 && re > rs ? `${old.slice(rs, re + RESNET[1].length)}\n\n` : '';
  // the --workers rows are carried over like the ResNet section (a run of the main table dropped them before)
  const ws = old.indexOf(WORKERS[0]);
  const we = old.indexOf(WORKERS[1]);
  const workersSection = ws >= 0 && we > ws ? `${old.slice(ws, we + WORKERS[1].length)}\n\n` : '';
  const md = `# Fine-tuning results on Fashion-MNIST

Generated by \`${command()}\`. Do not edit the table by hand; the commentary section is carried
over when the file is regenerated. Raw numbers: \`${args.json}\`.

- Model: \`fixtures/models/fmnist-cnn.onnx\` (3 × Conv-BN-ReLU-MaxPool, Gemm, learned output
  scale; 91.14% test top-1 in float after 3 epochs of training).
- Quantization as in [ptq-results.md](ptq-results.md) (every Conv/Gemm weight binarized,
  per-tensor scales; activations binarized at the inputs of the 2nd and 3rd convolutions,
  bands and scales calibrated on 1,000 training images). "before (PTQ)" is the accuracy right
  after quantization.
- Fine-tuning (\`fineTune\`, docs/training.md): straight-through estimator (clipped at |W| ≤ 1
  for weights, |x| ≤ Σ scales for activations), latent weights from the float model,
  re-binarized every step with the layer's heuristic; SGD lr 0.01, cosine schedule,
  momentum 0.9, weight decay 1e-4, batch 128, seed 0, ${any ? any.recipe.epochs : args.epochs} epoch(s) on
  ${any ? `\`${any.recipe.train}\` (${any.recipe.trainSamples.toLocaleString('en')} images)` : 'fmnist:train'}; test top-1 on ${any ? `\`${any.recipe.evalData}\`` : 'fmnist:test'}
  after every epoch; the kept model is the best epoch, scored again from the returned model.
- "float" is the control: the float model trained the same way for the same epochs (\`trainFloat\`).
- Times are wall-clock on a 2-core machine shared with other jobs (load average at the start
  of each row in the JSON), with ${args.threads} onnxruntime thread(s).

## Table

${lines.join('\n')}

## Paper orderings (METHOD §7)

${checks.join('\n') || '- (rows missing)'}

${resnetSection}${workersSection}${granularity}${commentary}
`;
  fs.writeFileSync(path.resolve(ROOT, args.out), md);
}

/** The ResNet table: its own section of the output file (between the RESNET markers), the rest kept. */
function writeResnetSection(old, rs, re, lines, checks, any) {
  const logPath = path.join(ROOT, 'fixtures/models/fmnist-resnet.train-log.json');
  const trainLog = fs.existsSync(logPath) ? JSON.parse(fs.readFileSync(logPath, 'utf8')) : undefined;
  const floatTop1 = trainLog?.best?.evalTop1;
  const section = `${RESNET[0]}
## ResNet-8 on Fashion-MNIST (residual network)

Generated by \`${command()}\` (\`npm run bench:train-resnet\`; raw numbers: \`${args.json}\`); do not edit the table by hand.

- Model: \`fixtures/models/fmnist-resnet.onnx\`, built by the project's own code
  (\`buildResNet20\`, zoo/topologies.ts: 3×3 conv 8 + BatchNorm + ReLU, three stages of one
  basic block at 8, 16, 32 channels, 1×1 projection shortcuts with BatchNorm at the stride-2
  stages, GlobalAveragePool, Gemm 32→10) and trained in float with \`hbnn-onnx train\` on
  \`fmnist:train\` by \`scripts/make-fmnist-resnet.mjs\`${floatTop1 !== undefined ? ` (${(100 * floatTop1).toFixed(2)}% test top-1 in float, ${trainLog.epochs.length} epochs)` : ''}.
- Quantization and fine-tuning as for the CNN above (every Conv/Gemm weight binarized, per-tensor
  scales; with activations, every binarized layer's input but the first layer's and the output
  layer's, calibrated on 1,000 training images; Middle-Out for W1.4 and W1.4A1.4), ${any ? any.recipe.epochs : args.epochs} epoch(s) of
  fine-tuning on ${any ? `\`${any.recipe.train}\` (${any.recipe.trainSamples.toLocaleString('en')} images)` : 'fmnist:train'}, test top-1 on ${any ? `\`${any.recipe.evalData}\`` : 'fmnist:test'}, best epoch kept.
- "float" is the control: the trained float model trained on with the same recipe for the same epochs.
- Times are wall-clock on the shared 2-core machine (load average at the start of each row in
  the JSON), ${args.threads} onnxruntime thread(s).

${lines.join('\n')}

Paper orderings (METHOD §7):

${checks.join('\n') || '- (rows missing)'}
${RESNET[1]}`;
  let md;
  if (rs >= 0 && re > rs) md = old.slice(0, rs) + section + old.slice(re + RESNET[1].length);
  else {
    const at = [old.indexOf('<!-- GRANULARITY:START -->'), old.indexOf(COMMENTARY[0])].filter((i) => i >= 0);
    const i = at.length ? Math.min(...at) : old.length;
    md = `${old.slice(0, i)}${section}\n\n${old.slice(i)}`;
  }
  fs.writeFileSync(path.resolve(ROOT, args.out), md);
}

/**
 * The data-parallel rows (--workers): their own section of the output file (between the
 * WORKERS markers, after the ResNet section or at the end), the rest kept.
 */
function writeWorkersSection(lines, rows) {
  const MARK = WORKERS;
  const old = fs.readFileSync(path.resolve(ROOT, args.out), 'utf8');
  const any = rows[0];
  // N workers against 1 per config and seed
  const deltas = [];
  for (const r of rows) {
    if (r.workers === 1) continue;
    const one = rows.find((x) => x.base === r.base && x.workers === 1 && x.recipe.seed === r.recipe.seed);
    if (!one) continue;
    const d = 100 * (r.final.top1 - one.final.top1);
    deltas.push(`- ${r.base}, seed ${r.recipe.seed}: ${r.workers} workers ${d >= 0 ? '+' : ''}${d.toFixed(2)} points against 1 worker (top-1); ${r.seconds} s against ${one.seconds} s (load average ${r.loadAverage} / ${one.loadAverage} at the start).`);
  }
  // the mean over seeds, per config and worker count, when a config has two seeds or more
  for (const base of [...new Set(rows.map((r) => r.base))]) {
    const mean = (w) => {
      const xs = rows.filter((r) => r.base === base && r.workers === w).map((r) => r.final.top1);
      return xs.length > 1 ? { m: xs.reduce((a, b) => a + b, 0) / xs.length, n: xs.length, lo: Math.min(...xs), hi: Math.max(...xs) } : undefined;
    };
    const many = mean(args.workers);
    const one = mean(1);
    if (many && one) {
      const f = (x) => `${(100 * x.m).toFixed(2)}% (${x.n} seeds, ${(100 * x.lo).toFixed(2)}-${(100 * x.hi).toFixed(2)}%)`;
      const d = 100 * (many.m - one.m);
      deltas.push(`- ${base}, mean over seeds: ${args.workers} workers ${f(many)}, 1 worker ${f(one)}: ${d >= 0 ? '+' : ''}${d.toFixed(2)} points.`);
    }
  }
  const section = `${MARK[0]}
## Data-parallel fine-tuning: workers N against 1 (${resnet ? 'ResNet-8' : 'CNN'})

Generated by \`${command(undefined, [...new Set(rows.map((r) => r.recipe.seed))].sort((a, b) => a - b))}\` (raw numbers: \`${args.json}\`); do not edit the table by hand.

- The recipe of the ${resnet ? 'ResNet-8 table above' : 'table above'} (${any ? `${any.recipe.epochs} epoch(s) on \`${any.recipe.train}\` (${any.recipe.trainSamples.toLocaleString('en')} images), ` : ''}batch 128, seed 0 unless the row says,
  ${args.threads} onnxruntime thread(s) per session), fine-tuned once with \`workers: N\` (each batch
  split over N worker threads, one session each) and once with 1 worker, in this order, in one
  process. With N workers every BatchNorm normalizes with the statistics of its worker's slice
  of the batch ("ghost batch norm", [training.md](training.md#data-parallel-steps-worker-threads)); the running
  statistics get the whole batch's. The 1-worker row is the ordinary path (it may differ from the
  row above in the last digits when the code changed since that table was made).
- Times are wall-clock on the shared 2-core machine, evaluations included (load average at the start of
  each row in the JSON; at loads of 6-13 they vary 2-4× from run to run, so they say little about speed).
  With ${args.threads} thread(s) per session, N workers use N× the threads of 1 worker: the times compare
  ${args.threads * args.workers} threads with ${args.threads}, not the workers' gain at equal threads ([training.md](training.md#data-parallel-steps-worker-threads) has that).

${lines.join('\n')}

${deltas.join('\n') || '- (no pair complete)'}
${MARK[1]}`;
  const s = old.indexOf(MARK[0]);
  const e = old.indexOf(MARK[1]);
  let md;
  if (s >= 0 && e > s) md = old.slice(0, s) + section + old.slice(e + MARK[1].length);
  else {
    const after = old.indexOf(RESNET[1]);
    const i = after >= 0 ? after + RESNET[1].length : old.length;
    md = `${old.slice(0, i)}\n\n${section}${old.slice(i)}`;
  }
  fs.writeFileSync(path.resolve(ROOT, args.out), md);
}
