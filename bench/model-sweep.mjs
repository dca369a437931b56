#!/usr/bin/env node
/**
 * The command line on every real model the repository holds, stage by stage, as a user runs it
 * (docs/models.md): each stage is `node bin/hbnn-onnx.js ...` in a child process, and the
 * table records its exit code, its error code (`error[...]`) or its key line (top-1, C/RTL
 * simulation verdict), and its wall time.
 *
 * Models: fixtures/models (fmnist-cnn, fmnist-mlp, the trained ResNet-8), fixtures/qonnx (the
 * CNTK MNIST CNN, Brevitas TFC 1W1A / 1W2A / 2W2A, TFC 1W1A with --keep-imported) and the
 * issue-16 zoo fixtures at test size (zoo/fixtures.ts, seeded random weights: ResNet-20-,
 * MobileNetV1/V2-, SqueezeNet-style, the pooling net, the PyTorch-style export), written as ONNX
 * files with 256 Fashion-MNIST test images padded to their input shape as .npy data.
 *
 * Stages per model: inspect; quantize --avg-bits 1.4 (W1.4) and with --act-bits 1.4 (W1.4A1.4,
 * calibrated on 128 samples); eval of the float and both quantized models (first 500 samples);
 * then for each quantized model: lower --backend bit-ir, lower --backend vivado-hls --csim
 * (8 test samples), lower --backend verilog --sim (4 samples; models marked small, or all with
 * --sim-all), train --fine-tune --max-steps 3.
 *
 *   npx tsc -p tsconfig.json && node bench/model-sweep.mjs [--only fmnist-mlp,tfc-1w1a] [--simulator icarus|verilator]
 *     [--no-sim] [--sim-all] [--out bench/out/model-sweep]
 *
 * Results: bench/out/model-sweep.json and a Markdown table on stdout (the one in docs/models.md).
 * Exit 1 when a stage crashed (exit 70, or a stack trace on stderr) or a simulation mismatched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, lib, parseArgs, writeJson, zooFixtures } from './lib.mjs';

const args = parseArgs(process.argv.slice(2), { only: undefined, simulator: 'icarus', noSim: false, simAll: false, out: 'bench/out/model-sweep' });
const OUT = path.resolve(ROOT, args.out);
const CLI = path.join(ROOT, 'bin/hbnn-onnx.js');
const FM = { train: 'fmnist-mini:train', test: 'fmnist-mini:test' };
const TFC = (v) => `fixtures/qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC/TFC_${v}.onnx`;

/** The zoo fixtures as ONNX files, and their padded Fashion-MNIST data as .npy. */
async function zooModels() {
  const { ZOO_FIXTURES, padImagesTo } = await zooFixtures();
  const dir = path.join(OUT, 'zoo');
  fs.mkdirSync(dir, { recursive: true });
  const n = 256;
  const ds = lib.loadDataset('fmnist-mini:test', { normalize: lib.FMNIST_NORMALIZATION, limit: n });
  const y = path.join(dir, 'y.npy');
  lib.writeNpy(y, { dtype: 'int32', shape: [n], data: Int32Array.from(ds.labels) });
  return ZOO_FIXTURES.map((f) => {
    const file = path.join(dir, `${f.name}.onnx`);
    lib.saveModel(f.build(), file);
    const x = path.join(dir, `x-${f.shape.join('x')}.npy`);
    if (!fs.existsSync(x)) lib.writeNpy(x, { dtype: 'float32', shape: [n, ...f.shape], data: padImagesTo(ds.images, n, f.shape) });
    const spec = `npy:${x},${y}`;
    return { name: f.name, model: file, train: spec, test: spec, normalize: 'none', small: true, kind: 'zoo (random weights)' };
  });
}

const MODELS = [
  { name: 'fmnist-mlp', model: 'fixtures/models/fmnist-mlp.onnx', ...FM, normalize: 'fmnist', small: true, kind: 'PyTorch export, BatchNorm' },
  { name: 'fmnist-cnn', model: 'fixtures/models/fmnist-cnn.onnx', ...FM, normalize: 'fmnist', small: false, kind: 'PyTorch export, BatchNorm' },
  { name: 'fmnist-resnet', model: 'fixtures/models/fmnist-resnet.onnx', ...FM, normalize: 'fmnist', small: false, kind: 'residual, trained by hbnn-onnx' },
  { name: 'mnist-conv', model: 'fixtures/qonnx/mnist-conv/model.onnx', ...FM, normalize: '0:0.00392156862745098', small: true, kind: 'CNTK export, IR 3, opset 8' },
  { name: 'tfc-1w1a', model: TFC('1W1A'), ...FM, normalize: 'none', small: true, kind: 'Brevitas QONNX, opset 9' },
  { name: 'tfc-1w1a-keep', model: TFC('1W1A'), ...FM, normalize: 'none', small: false, kind: 'Brevitas QONNX, --keep-imported', quantize: ['--keep-imported'] },
  { name: 'tfc-1w2a', model: TFC('1W2A'), ...FM, normalize: 'none', small: false, kind: 'Brevitas QONNX, opset 9' },
  { name: 'tfc-2w2a', model: TFC('2W2A'), ...FM, normalize: 'none', small: false, kind: 'Brevitas QONNX, opset 9' },
];

/** One CLI stage: exit code, error code, the line that says how it went, seconds. */
function stage(dir, name, argv) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...argv], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (performance.now() - t0) / 1000;
  fs.writeFileSync(path.join(dir, `${name}.out`), r.stdout ?? '');
  fs.writeFileSync(path.join(dir, `${name}.err`), r.stderr ?? '');
  const text = `${r.stdout}\n${r.stderr}`;
  const error = /error\[([a-z-]+)\]: (.*)/.exec(r.stderr ?? '');
  const crashed = r.status === 70 || /\n\s+at .*\(.*:\d+:\d+\)/.test(r.stderr ?? '') || r.status === null;
  const key =
    /(C simulation passed.*?mismatches|RTL simulation passed.*?mismatches)/.exec(text)?.[1] ??
    /^top-1\s+(.*)$/m.exec(r.stdout ?? '')?.[1] ??
    /(kept the (best|last) [^;]*)/.exec(r.stdout ?? '')?.[1] ??
    /^average weight bits: (.*)$/m.exec(r.stdout ?? '')?.[1] ??
    '';
  const row = { stage: name, exit: r.status, seconds: Math.round(seconds * 10) / 10, ...(error ? { code: error[1], message: error[2].slice(0, 300) } : {}), ...(key ? { key } : {}), ...(crashed ? { crashed: true } : {}) };
  console.error(`  ${name.padEnd(12)} exit ${String(r.status).padStart(3)}  ${row.seconds.toFixed(1).padStart(6)} s  ${error ? `error[${error[1]}]` : key}`);
  return row;
}

function sweepModel(m) {
  const dir = path.join(OUT, m.name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  console.error(`${m.name} (${m.model})`);
  const norm = ['--normalize', m.normalize];
  const rows = [stage(dir, 'inspect', ['inspect', m.model])];
  const q = { W14: path.join(dir, 'w14.onnx'), W14A14: path.join(dir, 'w14a14.onnx') };
  rows.push(stage(dir, 'quantize-W1.4', ['quantize', m.model, '--avg-bits', '1.4', ...(m.quantize ?? []), ...norm, '-o', q.W14]));
  rows.push(stage(dir, 'quantize-W1.4A1.4', ['quantize', m.model, '--avg-bits', '1.4', '--act-bits', '1.4', '--calib-data', m.train, '--calib-limit', '128', ...(m.quantize ?? []), ...norm, '-o', q.W14A14]));
  rows.push(stage(dir, 'eval-float', ['eval', m.model, '--data', m.test, '--limit', '500', ...norm]));
  for (const [cfg, file] of Object.entries(q)) {
    if (!fs.existsSync(file)) continue;
    const c = cfg === 'W14' ? 'W1.4' : 'W1.4A1.4';
    rows.push(stage(dir, `eval-${c}`, ['eval', file, '--data', m.test, '--limit', '500']));
    rows.push(stage(dir, `bit-ir-${c}`, ['lower', file, '--backend', 'bit-ir', '-o', path.join(dir, `${cfg}.bitir`)]));
    rows.push(stage(dir, `hls-csim-${c}`, ['lower', file, '--backend', 'vivado-hls', '--test-data', m.test, '--test-samples', '8', '--csim', '-o', path.join(dir, `${cfg}.hls`)]));
    if (!args.noSim && (m.small || args.simAll)) {
      rows.push(stage(dir, `rtl-sim-${c}`, ['lower', file, '--backend', 'verilog', '--test-data', m.test, '--test-samples', '4', '--sim', '--simulator', args.simulator, '-o', path.join(dir, `${cfg}.v`)]));
    }
    rows.push(stage(dir, `fine-tune-${c}`, ['train', file, '--fine-tune', '--train-data', m.train, '--eval-data', m.test, '--eval-limit', '200', '--max-steps', '3', '--batch-size', '32', '-o', path.join(dir, `${cfg}.ft.onnx`)]));
  }
  return { name: m.name, model: m.model, kind: m.kind, stages: rows };
}

const only = args.only ? new Set(args.only.split(',')) : undefined;
const all = [...MODELS, ...(await zooModels())].filter((m) => !only || only.has(m.name));
const started = new Date().toISOString();
const results = [];
for (const m of all) results.push(sweepModel(m));
writeJson(path.join(OUT, '..', 'model-sweep.json'), { started, finished: new Date().toISOString(), simulator: args.simulator, results });

// the table: one row per model, one column per stage
const cols = [...new Set(results.flatMap((r) => r.stages.map((s) => s.stage)))];
/** A stage's key line, short: `PASS 8 (0 mismatches)`, a top-1, the kept epoch's evaluation. */
const short = (k) =>
  k
    .replace(/^(C|RTL) simulation passed \(([a-z+]+)\): (\d+) samples, 0 class \/ 0 logit \/ 0 accumulator mismatches$/, 'PASS $3')
    .replace(/^kept the (best|last) .*eval top-1 ([\d.]+%)\)?$/, '$2')
    .replace(/ over [\d,]+ binarized weights$/, ' bits')
    .replace(/\|/g, '/');
const cell = (s) => (!s ? '–' : s.exit === 0 ? (s.key ? short(s.key) : 'ok') : `exit ${s.exit}${s.code ? ` ${s.code}` : ''}${s.crashed ? ' CRASH' : ''}`);
console.log(`| model | ${cols.join(' | ')} |\n| --- | ${cols.map(() => '---').join(' | ')} |`);
for (const r of results) console.log(`| ${r.name} | ${cols.map((c) => cell(r.stages.find((s) => s.stage === c))).join(' | ')} |`);
const bad = results.flatMap((r) => r.stages.filter((s) => s.crashed || /mismatch/.test(s.message ?? '')).map((s) => `${r.name} ${s.stage}`));
if (bad.length) {
  console.error(`crashed or mismatched: ${bad.join(', ')}`);
  process.exit(1);
}
