#!/usr/bin/env node
/**
 * Bit-level IR vs onnxruntime on the full Fashion-MNIST test set (docs/bit-ir.md §6).
 *
 *   npx tsc -p tsconfig.json && node bench/bitir-agreement.mjs
 *
 * For the bundled CNN quantized as W1.4 (weights only) and W1.4A1.4 (weights and
 * activations), Middle-Out, normalize 'fmnist', default calibration: lowers to the BitIR,
 * runs the reference interpreter on every image (split over worker threads) and onnxruntime
 * on the quantized ONNX model, and prints the agreement of the predicted classes, the
 * explanation of every differing image (see src/bitir/bounds.ts), the largest logit
 * difference and the timings (wall clock, and CPU time per image of the interpreter).
 *
 * Options:
 *   --data SPEC     test data (default fmnist:test, the Debian package dataset-fashion-mnist)
 *   --limit N       first N images only
 *   --workers N     interpreter worker threads (default 2; 1 = run in the main thread)
 *   --config NAME   W1.4, W1.4A1.4 or both (default both)
 *   --json FILE     raw results (default bench/out/bitir-agreement.json)
 *   --build DIR     compiled package to import (default dist/)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};

if (!isMainThread) {
  // Worker: interpret a slice of the images with the program it was given.
  const { build, programJson, images } = workerData;
  const { bitProgramFromJson, interpret } = await import(pathToFileURL(path.join(build, 'src/bitir/index.js')).href);
  const program = bitProgramFromJson(programJson);
  const r = interpret(program, images);
  parentPort.postMessage({ classes: r.classes, logits: r.logits, saturated: r.saturated, ms: r.ms });
} else {
  await main();
}

async function main() {
  const build = path.resolve(option('--build', path.join(HERE, '..', 'dist')));
  const imp = async (rel) => {
    try {
      return await import(pathToFileURL(path.join(build, rel)).href);
    } catch (e) {
      console.error(`cannot import ${path.join(build, rel)}: ${e.message}\nBuild first: npx tsc -p tsconfig.json (or pass --build DIR)`);
      process.exit(2);
    }
  };
  const { loadModel } = await imp('src/onnx/io.js');
  const { quantize } = await imp('src/drivers/quantize.js');
  const { loadDataset, FMNIST_NORMALIZATION } = await imp('src/data/index.js');
  const { forEachBatch } = await imp('src/runtime/infer.js');
  const bitir = await imp('src/bitir/index.js');
  const { sampleExplainer } = await imp('src/bitir/bounds.js');

  const spec = option('--data', 'fmnist:test');
  const limit = option('--limit', undefined);
  const workers = Math.max(1, Number(option('--workers', '2')));
  const which = option('--config', 'both');
  const jsonOut = option('--json', path.join(HERE, 'out', 'bitir-agreement.json'));
  const ds = loadDataset(spec, { normalize: FMNIST_NORMALIZATION, ...(limit ? { limit: Number(limit) } : {}) });
  const n = ds.count;
  const per = 28 * 28;
  const modelPath = path.join(HERE, '..', 'fixtures', 'models', 'fmnist-cnn.onnx');
  const configs = [
    { name: 'W1.4', opts: { avgBits: 1.4, heuristic: 'middle-out', normalize: 'fmnist' } },
    { name: 'W1.4A1.4', opts: { avgBits: 1.4, actBits: 1.4, heuristic: 'middle-out', actHeuristic: 'middle-out', normalize: 'fmnist' } },
  ].filter((c) => which === 'both' || c.name === which);

  console.log(`bit-level IR vs onnxruntime: ${spec}, ${n} images, ${workers} interpreter worker${workers > 1 ? 's' : ''}, ${process.platform} node ${process.version}`);
  const results = [];
  for (const config of configs) {
    const model = loadModel(modelPath);
    const tq = performance.now();
    await quantize(model, config.opts);
    const quantizeMs = performance.now() - tq;
    const program = bitir.lowerToBitIR(model);
    const programJson = bitir.bitProgramToJson(program);
    // onnxruntime on the quantized ONNX model
    const out = model.graph.outputs[0].name;
    const ort = new Float32Array(n * 10);
    const to = performance.now();
    await forEachBatch(model, ds, [out], { batchSize: 500 }, (s, k, o) => ort.set(o[out].subarray(0, k * 10), s * 10));
    const ortMs = performance.now() - to;
    // single-thread speed of the interpreter (CPU time, main thread, first images)
    const timed = Math.min(n, 1000);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    bitir.interpret(bitir.bitProgramFromJson(programJson), ds.images.subarray(0, timed * per));
    const cpuPerImage = process.cpuUsage(c0).user / 1000 / timed;
    const wallPerImage = (performance.now() - t0) / timed;
    // the interpreter on every image, split over workers
    const ti = performance.now();
    const parts = await runInterpreter(build, programJson, ds.images, n, per, workers, bitir);
    const interpMs = performance.now() - ti;
    const classes = new Int32Array(n);
    const logits = new Float64Array(n * 10);
    const saturated = {};
    for (const p of parts) {
      classes.set(p.classes, p.start);
      logits.set(p.logits, p.start * 10);
      for (const [k, v] of Object.entries(p.saturated)) saturated[k] = (saturated[k] ?? 0) + v;
    }
    // compare
    const explain = sampleExplainer(program);
    const differing = [];
    let maxDiff = 0;
    for (let s = 0; s < n; s++) {
      let a = 0;
      for (let c = 1; c < 10; c++) if (ort[s * 10 + c] > ort[s * 10 + a]) a = c;
      for (let c = 0; c < 10; c++) maxDiff = Math.max(maxDiff, Math.abs(ort[s * 10 + c] - logits[s * 10 + c]));
      const b = classes[s];
      if (a === b) continue;
      const row = Array.from(ort.subarray(s * 10, s * 10 + 10)).sort((x, y) => y - x);
      const e = explain(ds.images.subarray(s * per, (s + 1) * per));
      const margin = ort[s * 10 + a] - ort[s * 10 + b];
      const rounding = e.deviation[a] + e.deviation[b];
      const allowance = e.ortAllowance[a] + e.ortAllowance[b];
      const ortDev = Math.abs(ort[s * 10 + a] - e.real[a]) + Math.abs(ort[s * 10 + b] - e.real[b]);
      differing.push({
        image: s,
        ortClass: a,
        irClass: b,
        label: ds.labels?.[s],
        ortTop2Margin: row[0] - row[1],
        ortMarginToIrClass: margin,
        fixedPointRounding: rounding,
        float32Allowance: allowance,
        explained: margin <= rounding + allowance,
        realMargin: e.real[a] - e.real[b],
        irFromReal: rounding,
        ortFromReal: ortDev,
        irFlips: e.irFlips,
        ortPossibleFlips: e.ortPossibleFlips,
      });
    }
    const agree = (n - differing.length) / n;
    const r = {
      config: config.name,
      images: n,
      agree: n - differing.length,
      agreement: agree,
      maxLogitDifference: maxDiff,
      saturated,
      quantizeMs,
      ortMs,
      interpreterWallMs: interpMs,
      singleThread: { images: timed, cpuMsPerImage: cpuPerImage, wallMsPerImage: wallPerImage },
      workers,
      differing,
    };
    results.push(r);
    console.log(`\n${config.name}: ${r.agree}/${n} images with the same class (${(100 * agree).toFixed(3)}%), max |logit difference| ${maxDiff.toExponential(3)}, saturated entries ${JSON.stringify(saturated)}`);
    console.log(
      `  interpreter: ${(interpMs / 1000).toFixed(1)} s wall for ${n} images on ${workers} worker(s); single thread ${cpuPerImage.toFixed(2)} ms CPU ` +
        `(${wallPerImage.toFixed(2)} ms wall) per image over ${timed} images, i.e. ${((cpuPerImage * n) / 1000).toFixed(1)} s CPU for all ${n}; ` +
        `onnxruntime ${(ortMs / 1000).toFixed(1)} s; quantize ${(quantizeMs / 1000).toFixed(1)} s; load average ${osLoad()}`,
    );
    for (const d of differing) {
      console.log(
        `  image ${d.image} (label ${d.label}): ORT class ${d.ortClass}, IR class ${d.irClass}; ORT top-2 margin ${d.ortTop2Margin.toExponential(3)}; ` +
          `ORT margin to the IR's class ${d.ortMarginToIrClass.toExponential(3)} <= fixed-point rounding ${d.fixedPointRounding.toExponential(3)} (${d.irFlips} codes flipped) + float32 allowance ${d.float32Allowance.toExponential(3)} (${d.ortPossibleFlips} inputs near a band edge): ${d.explained ? 'explained' : 'NOT EXPLAINED'}; ` +
          `real-valued network prefers class ${d.realMargin >= 0 ? d.ortClass : d.irClass} by ${Math.abs(d.realMargin).toExponential(3)} (IR ${d.irFromReal.toExponential(3)} from it, ORT ${d.ortFromReal.toExponential(3)})`,
      );
    }
  }
  fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
  fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nraw results: ${path.relative(process.cwd(), jsonOut)}`);
  const bad = results.filter((r) => r.agreement < 0.999 || r.differing.some((d) => !d.explained));
  if (bad.length) {
    console.log(`FAILED: ${bad.map((r) => r.config).join(', ')} below 99.9% agreement or with an unexplained difference`);
    process.exitCode = 1;
  }
}

async function runInterpreter(build, programJson, images, n, per, workers, bitir) {
  if (workers === 1) {
    const program = bitir.bitProgramFromJson(programJson);
    const c0 = process.cpuUsage();
    const r = bitir.interpret(program, images.subarray(0, n * per));
    return [{ start: 0, classes: r.classes, logits: r.logits, saturated: r.saturated, ms: process.cpuUsage(c0).user / 1000 }];
  }
  const chunk = Math.ceil(n / workers);
  const jobs = [];
  for (let w = 0; w < workers; w++) {
    const start = w * chunk;
    const end = Math.min(n, start + chunk);
    if (start >= end) break;
    const slice = images.slice(start * per, end * per);
    jobs.push(
      new Promise((resolve, reject) => {
        const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { build, programJson, images: slice } });
        worker.once('message', (m) => resolve({ start, ...m }));
        worker.once('error', reject);
      }),
    );
  }
  return Promise.all(jobs);
}

function osLoad() {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}
