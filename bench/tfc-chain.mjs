#!/usr/bin/env node
/**
 * The Brevitas TFC chain of issue 15 (fixtures/qonnx, FINN's MNIST MLP exported by Brevitas),
 * end to end on Fashion-MNIST (standing in for MNIST):
 *
 * - TFC 2W2A: imported (QONNX quantizers folded), re-quantized at W1.4 A1.4 (activations
 *   calibrated on 512 training images), fine-tuned (latent weights from the imported float
 *   weights), lowered to the bit-level IR (its classes compared with onnxruntime's on the
 *   test images) and to a Vivado HLS project whose C simulation is compared with the
 *   interpreter (classes, logits, accumulators of the first images);
 * - TFC 1W1A with --keep-imported: the same function as the QONNX model, lowered and
 *   C-simulated the same way.
 *
 *   npx tsc && node bench/tfc-chain.mjs [--epochs 1] [--train-limit 4000] [--eval-limit 2000] [--csim 200] [--opt O2] [--seed 0]
 *
 * The test (test/quant/import-qonnx-tfc.test.ts) runs the same chain on 512 training images,
 * one epoch, and C-simulates 4 images. Projects go to bench/out/tfc-chain/<model>/, the
 * summary to bench/out/tfc-chain.json. Exit code 1 when a C simulation mismatches.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib } from './lib.mjs';

const { loadModel, prepareForQuantize, quantize, loadDataset, fineTune, evaluate, forEachBatch, lowerToBitIR, interpret, lowerVivadoHls, runCsim } = lib;
const { writeFilesAtomic, writeFileAtomic } = lib;

function parseArgs(argv) {
  const a = { epochs: 1, trainLimit: 4000, evalLimit: 2000, csim: 200, opt: 'O2', seed: 0 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => Number(argv[++i]);
    if (k === '--epochs') a.epochs = v();
    else if (k === '--train-limit') a.trainLimit = v();
    else if (k === '--eval-limit') a.evalLimit = v();
    else if (k === '--csim') a.csim = v();
    else if (k === '--opt') a.opt = argv[++i];
    else if (k === '--seed') a.seed = v();
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const TFC = (v) => path.join(ROOT, 'fixtures/qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC', `TFC_${v}.onnx`);
const OUT = path.join(ROOT, 'bench/out/tfc-chain');

/** Classes of the bit-level IR on the test images, their accuracy and agreement with onnxruntime's outputs. */
async function bitIrCheck(model, test) {
  const program = lowerToBitIR(model);
  const bit = interpret(program, test.images);
  const ev = await evaluate(model, test, { batchSize: 256 });
  let correct = 0;
  for (let s = 0; s < test.count; s++) if (bit.classes[s] === test.labels[s]) correct++;
  // onnxruntime's classes, from a second pass collecting the logits
  const out = model.graph.outputs[0].name;
  let agree = 0;
  await forEachBatch(model, test, [out], { batchSize: 256 }, (start, n, o) => {
    const logits = o[out];
    const k = logits.length / n;
    for (let i = 0; i < n; i++) {
      let a = 0;
      for (let c = 1; c < k; c++) if (logits[i * k + c] > logits[i * k + a]) a = c;
      if (a === bit.classes[start + i]) agree++;
    }
  });
  return { program, ortTop1: ev.top1, bitIrTop1: correct / test.count, agreement: agree / test.count };
}

async function csim(name, program, test, n, opt) {
  const hls = lowerVivadoHls(program, { testData: test.images.subarray(0, n * 784), testSamples: n, accSamples: Math.min(4, n) });
  const dir = path.join(OUT, name);
  fs.rmSync(dir, { recursive: true, force: true });
  writeFilesAtomic(dir, hls.files);
  const r = await runCsim(dir, { optLevel: opt });
  return { dir: path.relative(ROOT, dir), ok: r.ok, compileMs: Math.round(r.compileMs), runMs: Math.round(r.runMs), ...(r.summary ?? {}) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const train = loadDataset('fmnist-mini:train', { limit: args.trainLimit });
  const test = loadDataset('fmnist-mini:test', { limit: args.evalLimit });
  const results = { args, models: {} };

  // ---- TFC 2W2A: import, W1.4 A1.4, fine-tune, lower, C simulation -------------------
  {
    const t0 = performance.now();
    const m = loadModel(TFC('2W2A'));
    const opts = { avgBits: 1.4, actBits: 1.4, calibLimit: 512, seed: args.seed };
    const prep = await prepareForQuantize(m, opts, { minOpset: 13 });
    const latent = m.clone();
    const imported = await evaluate(m, test, { batchSize: 256 });
    const q = await quantize(m, opts, prep);
    const ft = await fineTune(m, train, { epochs: args.epochs, batchSize: 64, evalData: test, latentFrom: latent, seed: args.seed });
    const check = await bitIrCheck(ft.model, test);
    const sim = await csim('tfc-2w2a-w1.4a1.4-ft', check.program, test, args.csim, args.opt);
    results.models['TFC_2W2A'] = {
      pipeline: q.pipeline,
      avgWeightBits: q.record.avgWeightBits,
      importedTop1: imported.top1,
      quantizedTop1: ft.log.before?.evalTop1,
      fineTunedTop1: ft.log.epochs.at(-1)?.evalTop1,
      keptEpoch: ft.log.best?.epoch ?? null,
      ortTop1: check.ortTop1,
      bitIrTop1: check.bitIrTop1,
      bitIrOrtAgreement: check.agreement,
      csim: sim,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
    };
  }

  // ---- TFC 1W1A --keep-imported: the same function, lowered, C simulation ------------
  {
    const t0 = performance.now();
    const m = loadModel(TFC('1W1A'));
    const q = await quantize(m, { keepImported: true });
    const check = await bitIrCheck(m, test);
    const sim = await csim('tfc-1w1a-imported', check.program, test, args.csim, args.opt);
    results.models['TFC_1W1A'] = {
      pipeline: q.pipeline,
      avgWeightBits: q.record.avgWeightBits,
      ortTop1: check.ortTop1,
      bitIrTop1: check.bitIrTop1,
      bitIrOrtAgreement: check.agreement,
      csim: sim,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
    };
  }

  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileAtomic(path.join(ROOT, 'bench/out/tfc-chain.json'), JSON.stringify(results, null, 2) + '\n');
  const pct = (x) => (x === undefined || x === null ? '–' : `${(x * 100).toFixed(2)}%`);
  for (const [name, r] of Object.entries(results.models)) {
    console.log(`${name}: ${r.pipeline}`);
    if (r.importedTop1 !== undefined) console.log(`  imported top-1 ${pct(r.importedTop1)}, W1.4A1.4 before fine-tuning ${pct(r.quantizedTop1)}, fine-tuned ${pct(r.fineTunedTop1)}`);
    console.log(`  onnxruntime top-1 ${pct(r.ortTop1)}, bit-level IR top-1 ${pct(r.bitIrTop1)}, classes agree on ${pct(r.bitIrOrtAgreement)} of ${test.count} images`);
    const c = r.csim;
    console.log(
      `  C simulation (${args.opt}, ${c.samples ?? '?'} images): ${c.ok ? 'PASS' : 'FAIL'}; class/logit/accumulator mismatches ${c.classMismatches}/${c.logitMismatches}/${c.accumulatorMismatches}; compile ${(c.compileMs / 1000).toFixed(1)} s; total ${r.seconds} s`,
    );
  }
  const failed = Object.values(results.models).some((r) => !r.csim.ok || r.csim.classMismatches || r.csim.logitMismatches || r.csim.accumulatorMismatches);
  process.exitCode = failed ? 1 : 0;
}

await main();
