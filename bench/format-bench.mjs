#!/usr/bin/env node
/**
 * The quantized model file (docs/format.md) against the float model, at 1.4 bits, for
 * fmnist-cnn and AlexNet-, VGG11-BN- and ResNet-18-sized models (zoo/topologies.ts,
 * seeded random weights):
 *
 * - file size of the quantized model (packed planes, the default) relative to the float file;
 * - onnxruntime session creation and per-run time at batch 1 and batch 32, relative to the
 *   float model measured in the same child process (alternating float and quantized);
 * - `hbnn-onnx quantize` wall time and peak memory against a plain `hbnn-onnx opt` re-save of
 *   the same float file, each CLI run in its own child process.
 *
 *   npx tsc -p tsconfig.json && node bench/format-bench.mjs [--models fmnist-cnn,alexnet,vgg11-bn,resnet18]
 *        [--reps 3] [--run-reps 5] [--threads 2] [--dir /tmp/x] [--keep]
 *
 * Times are medians over the repetitions; the quantize/opt ratio is the median over pairs of
 * runs (opt, then quantize, alternating), and the quantize phases (load, passes, save) come
 * from its --report timing. Peak memory is the child's VmHWM (Linux) at exit: the whole
 * process, library included (independent of the machine's load). The load average is printed
 * at the start and the end: the machine is shared, so compare ratios, not absolute times.
 * Targets (issue 17): size ≤ 15% of float; per-run ≤ 1.2× float; session creation ≤ 3× float;
 * quantize ≤ 2× the opt re-save and peak ≤ 2.5× the float file (AlexNet, VGG11-BN). The
 * script prints them beside the figures and never fails on them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const DIST = path.join(ROOT, 'dist', 'src');
const MODELS = ['fmnist-cnn', 'alexnet', 'vgg11-bn', 'resnet18'];

function hwmMiB() {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// ------------------------------------------------------------------------------------------
// children
// ------------------------------------------------------------------------------------------

async function child(mode, args) {
  const lib = await import(pathToFileURL(path.join(DIST, 'index.js')).href);
  if (mode === 'generate') {
    const [name, file] = args;
    if (name === 'fmnist-cnn') {
      fs.copyFileSync(lib.bundledModelPath('fmnist-cnn'), file);
    } else {
      const zoo = await import(pathToFileURL(path.join(ROOT, 'dist', 'zoo', 'topologies.js')).href);
      const build = { alexnet: zoo.buildAlexNet, 'vgg11-bn': zoo.buildVgg11Bn, resnet18: zoo.buildResNet18 }[name];
      const m = build();
      lib.saveModel(m, file);
    }
    return { size: fs.statSync(file).size };
  }
  if (mode === 'ort') return ortChild(lib, args);
  throw new Error(`unknown child mode ${mode}`);
}

/** Session creation and per-run times of two model files, alternating, in this one process. */
async function ortChild(_lib, [floatFile, quantFile, shapeJson, reps, runReps, threads, same]) {
  const ort = await import('onnxruntime-node');
  const shape = JSON.parse(shapeJson);
  const so = { graphOptimizationLevel: 'all', intraOpNumThreads: Number(threads), interOpNumThreads: 1, logSeverityLevel: 3 };
  const files = { float: floatFile, quant: quantFile };
  const create = { float: [], quant: [] };
  const createCpu = { float: [], quant: [] };
  const sessions = {};
  // Small models (float session creation under 0.5 s after the first reps) get 10 pairs: a
  // short measurement on a shared machine needs more of them for a steady median.
  for (let r = 0; r < Number(reps) || (r < 10 && median(create.float) < 500); r++) {
    for (const k of ['float', 'quant']) {
      const bytes = fs.readFileSync(files[k]);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const s = await ort.InferenceSession.create(bytes, so);
      const c = process.cpuUsage(c0);
      create[k].push(performance.now() - t0);
      createCpu[k].push((c.user + c.system) / 1000);
      if (sessions[k]) await sessions[k].release();
      sessions[k] = s;
    }
  }
  const run = {};
  const outputs = {};
  for (const batch of [1, 32]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(batch * n);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
    const feeds = (s) => ({ [s.inputNames[0]]: new ort.Tensor('float32', x, [batch, ...shape]) });
    const times = { float: [], quant: [] };
    // Batch 32: half the batch-1 count (at least 3); runs under 50 ms at batch 1 (fmnist-cnn) get 4× the batch-1 count.
    const small = batch === 32 && run[1].float < 50;
    const count = batch === 1 ? Number(runReps) : small ? 4 * Number(runReps) : Math.max(3, Math.ceil(Number(runReps) / 2));
    for (const k of ['float', 'quant']) await sessions[k].run(feeds(sessions[k])); // warm-up
    for (let r = 0; r < count; r++) {
      for (const k of ['float', 'quant']) {
        const t0 = performance.now();
        const o = await sessions[k].run(feeds(sessions[k]));
        times[k].push(performance.now() - t0);
        if (batch === 1) outputs[k] = Object.values(o)[0].data;
      }
    }
    // The ratio: median over the alternating pairs (each quantized run against the float run just before it).
    run[batch] = { float: median(times.float), quant: median(times.quant), ratio: median(times.quant.map((q, i) => q / times.float[i])), n: count };
  }
  let equal;
  if (same) {
    // The int8-plane file of the same quantization: the same logits bit for bit?
    const s = await ort.InferenceSession.create(fs.readFileSync(same), so);
    const n = shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
    const o = Object.values(await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, ...shape]) }))[0].data;
    equal = Buffer.from(o.buffer, o.byteOffset, o.byteLength).equals(Buffer.from(outputs.quant.buffer, outputs.quant.byteOffset, outputs.quant.byteLength));
  }
  return {
    create: {
      float: median(create.float),
      quant: median(create.quant),
      ratio: median(create.quant.map((q, i) => q / create.float[i])),
      // By CPU time (this process, onnxruntime's threads included): less dependent on the load.
      cpuFloat: median(createCpu.float),
      cpuRatio: median(createCpu.quant.map((q, i) => q / createCpu.float[i])),
      pairRatios: create.quant.map((q, i) => Number((q / create.float[i]).toFixed(2))),
    },
    run,
    equal,
  };
}

function runChild(mode, args) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child ${mode} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** One CLI command in a fresh process: wall time and peak memory (VmHWM at exit). */
function runCli(argv) {
  const code = `
    const t0 = performance.now();
    const { main } = await import(${JSON.stringify(pathToFileURL(path.join(DIST, 'cli', 'main.js')).href)});
    const rc = await main(['node', 'hbnn-onnx', ...${JSON.stringify(argv)}], { stdout: () => {}, stderr: (s) => process.stderr.write(s) });
    const ms = performance.now() - t0;
    const m = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+) kB/);
    const cpu = process.cpuUsage();
    console.log(JSON.stringify({ rc, ms, cpuMs: (cpu.user + cpu.system) / 1000, hwm: m ? Number(m[1]) / 1024 : undefined }));
  `;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', maxBuffer: 1 << 24, cwd: ROOT });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`hbnn-onnx ${argv.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  if (out.rc !== 0) throw new Error(`hbnn-onnx ${argv.join(' ')} exited ${out.rc}:\n${r.stderr}`);
  return { wall, cpu: out.cpuMs, hwm: out.hwm };
}

// ------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------

const MiB = 2 ** 20;
const fmt = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    console.log(JSON.stringify(await child(args[1], args.slice(2))));
    return;
  }
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const models = opt('--models', MODELS.join(',')).split(',');
  const reps = Number(opt('--reps', '3'));
  const runReps = opt('--run-reps', '5');
  const threads = opt('--threads', '2');
  const dir = opt('--dir', undefined) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-format-bench-'));
  const keep = args.includes('--keep');
  fs.mkdirSync(dir, { recursive: true });
  console.log(`load average (1, 5, 15 min) at the start: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`);
  console.log(`format benchmark: 1.4 bits (default quantize), packed planes; onnxruntime ${threads} threads; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); node ${process.version}`);
  const rows = [];
  for (const name of models) {
    const float = path.join(dir, `${name}.onnx`);
    const quant = path.join(dir, `${name}.hbnn.onnx`);
    const int8 = path.join(dir, `${name}.int8.hbnn.onnx`);
    const resave = path.join(dir, `${name}.opt.onnx`);
    const { size } = runChild('generate', [name, float]);
    const optRuns = [];
    const qRuns = [];
    const report = path.join(dir, `${name}.quantize.json`);
    for (let r = 0; r < reps; r++) {
      optRuns.push(runCli(['opt', float, '-o', resave]));
      qRuns.push({ ...runCli(['quantize', float, '-o', quant, '--report', report]), timing: JSON.parse(fs.readFileSync(report, 'utf8')).timing });
    }
    const qsize = fs.statSync(quant).size;
    const small = name === 'fmnist-cnn';
    if (small) runCli(['quantize', float, '--planes', 'int8', '-o', int8]);
    const shape = name === 'fmnist-cnn' ? [1, 28, 28] : [3, 224, 224];
    const ortRes = runChild('ort', [float, quant, JSON.stringify(shape), String(reps), runReps, threads, small ? int8 : '']);
    const row = {
      model: name,
      floatMiB: size / MiB,
      sizeRatio: qsize / size,
      createFloatMs: ortRes.create.float,
      createRatio: ortRes.create.ratio,
      createCpuFloatMs: ortRes.create.cpuFloat,
      createCpuRatio: ortRes.create.cpuRatio,
      createPairRatios: ortRes.create.pairRatios,
      run1FloatMs: ortRes.run[1].float,
      run1Ratio: ortRes.run[1].ratio,
      run32FloatMs: ortRes.run[32].float,
      run32Ratio: ortRes.run[32].ratio,
      runs: { b1: ortRes.run[1].n, b32: ortRes.run[32].n },
      optMs: median(optRuns.map((x) => x.wall)),
      quantizeMs: median(qRuns.map((x) => x.wall)),
      // Each quantize run against the opt re-save just before it: the median of the pairs' ratios.
      quantizeRatio: median(qRuns.map((x, i) => x.wall / optRuns[i].wall)),
      // The same pairs by CPU time (user + system of the whole process): less dependent on the machine's load.
      quantizeCpuRatio: median(qRuns.map((x, i) => x.cpu / optRuns[i].cpu)),
      optCpuMs: median(optRuns.map((x) => x.cpu)),
      quantizeCpuMs: median(qRuns.map((x) => x.cpu)),
      pairRatios: qRuns.map((x, i) => Number((x.wall / optRuns[i].wall).toFixed(2))),
      // Inside quantize (its --report timing): loading, the passes, writing.
      phases: {
        loadMs: median(qRuns.map((x) => x.timing.loadMs)),
        passesMs: median(qRuns.map((x) => x.timing.quantizeMs)),
        saveMs: median(qRuns.map((x) => x.timing.saveMs)),
        binarizeMs: median(qRuns.map((x) => x.timing.passes.find((p) => p.pass === 'insert-weight-binarization')?.ms ?? 0)),
      },
      optPeakMiB: Math.max(...optRuns.map((x) => x.hwm)),
      quantizePeakMiB: Math.max(...qRuns.map((x) => x.hwm)),
      int8Equal: ortRes.equal,
      loadAvg: os.loadavg().map((x) => Number(x.toFixed(2))),
    };
    row.peakRatio = row.quantizePeakMiB / row.floatMiB;
    rows.push(row);
    console.log(JSON.stringify(row));
    if (!keep) for (const f of [float, quant, int8, resave, report]) fs.rmSync(f, { force: true });
  }
  console.log('');
  console.log('| model | float file | size vs float | session creation (float) | per run b1 (float) | per run b32 (float) | quantize vs opt re-save | quantize peak vs float file |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.model} | ${fmt(r.floatMiB, 1)} MiB | ${fmt(100 * r.sizeRatio, 1)}% | ${fmt(r.createRatio)}× (${fmt(r.createFloatMs, 0)} ms) | ${fmt(r.run1Ratio)}× (${fmt(r.run1FloatMs, 1)} ms) | ${fmt(r.run32Ratio)}× (${fmt(r.run32FloatMs, 0)} ms) | ${fmt(r.quantizeRatio)}× (${fmt(r.quantizeMs / 1000)} s vs ${fmt(r.optMs / 1000)} s) | ${fmt(r.peakRatio)}× (${fmt(r.quantizePeakMiB, 0)} MiB; opt ${fmt(r.optPeakMiB, 0)} MiB) |`,
    );
  }
  console.log('');
  console.log('| model | quantize: load | passes (binarization) | save | opt re-save | quantize vs opt by CPU time (quantize, opt) | wall ratio of each pair |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const p = r.phases;
    console.log(
      `| ${r.model} | ${fmt(p.loadMs / 1000)} s | ${fmt(p.passesMs / 1000)} s (${fmt(p.binarizeMs / 1000)} s) | ${fmt(p.saveMs / 1000)} s | ${fmt(r.optMs / 1000)} s | ${fmt(r.quantizeCpuRatio)}× (${fmt(r.quantizeCpuMs / 1000)} s, ${fmt(r.optCpuMs / 1000)} s) | ${r.pairRatios.map((x) => fmt(x)).join(', ')} |`,
    );
  }
  console.log('');
  console.log('| model | session creation by CPU time (float) | wall ratio of each creation pair |');
  console.log('| --- | ---: | --- |');
  for (const r of rows) console.log(`| ${r.model} | ${fmt(r.createCpuRatio)}× (${fmt(r.createCpuFloatMs, 0)} ms) | ${r.createPairRatios.map((x) => fmt(x)).join(', ')} |`);
  console.log(`load average (1, 5, 15 min) at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`);
  console.log('');
  const big = rows.filter((r) => /alexnet|vgg/.test(r.model));
  const checks = [
    ['file size ≤ 15% of float', rows.every((r) => r.sizeRatio <= 0.15)],
    ['per run ≤ 1.2× float (batch 1 and 32)', rows.every((r) => r.run1Ratio <= 1.2 && r.run32Ratio <= 1.2)],
    ['session creation ≤ 3× float', rows.every((r) => r.createRatio <= 3)],
    ['quantize ≤ 2× opt re-save (AlexNet, VGG11-BN)', big.length === 0 ? undefined : big.every((r) => r.quantizeRatio <= 2)],
    ['quantize peak ≤ 2.5× float file (AlexNet, VGG11-BN)', big.length === 0 ? undefined : big.every((r) => r.peakRatio <= 2.5)],
  ];
  for (const [what, ok] of checks) console.log(`${ok === undefined ? 'not measured' : ok ? 'meets' : 'MISSES'}: ${what}`);
  const eq = rows.filter((r) => r.int8Equal !== undefined);
  for (const r of eq) console.log(`${r.model}: packed and int8 planes give ${r.int8Equal ? 'the same' : 'DIFFERENT'} onnxruntime logits (bit for bit)`);
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
