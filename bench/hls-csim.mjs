#!/usr/bin/env node
/**
 * C simulation of the Vivado HLS projects for the quantized Fashion-MNIST CNN (W1.4 and
 * W1.4A1.4, Middle-Out per weight and per row (`granularity: 'row'`, rows grouped on the PEs),
 * normalize 'fmnist') on the first N test images (default 1,000):
 * compiled with g++, every class, logit and (for the first --acc images) every unit's
 * accumulators compared with the bit-level IR interpreter. The test
 * (test/backends/vivado-hls/csim.test.ts) runs 200 images; this runs the full 1,000.
 *
 *   npx tsc && node bench/hls-csim.mjs [--limit 1000] [--acc 10] [--opt O2] [--target-fps 5000]
 *   node bench/hls-csim.mjs --zoo [--only resnet20,squeezenet] [--limit 1000] [--acc 10] [--calibrated]
 *   (--calibrated: each stream's fraction bits from its range on the calibration images,
 *   docs/bit-ir.md §3; default the fixed fractions)
 *
 * --zoo: instead, every issue-16 fixture topology at test size (zoo/fixtures.ts: ResNet-20-,
 * MobileNetV2-, SqueezeNet-style, MobileNet-V1, the pooling net, the PyTorch-style export),
 * W1.4 and W1.4A1.4 (Middle-Out, activations calibrated on 64 Fashion-MNIST training images
 * padded to the input shape), on the first N Fashion-MNIST test images padded and replicated
 * to the input shape (test/backends/vivado-hls/zoo-csim.test.ts runs smaller inputs on 100).
 *
 * HBNN_DIST=path/to/dist selects another build of the package (default ./dist). Projects go to
 * bench/out/hls-csim/<config>/, the summary to bench/out/hls-csim.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, parseArgs, zooQuantized, FMNIST_CNN, FMNIST_CNN_CONFIGS, fmnistImages, writeJson } from './lib.mjs';

const { loadModel, quantize, lowerVivadoHls, runCsim, writeFilesAtomic, writeFileAtomic } = lib;


/** Every zoo fixture × W1.4 / W1.4A1.4 through C simulation. */
async function zooMain(args) {
  const results = [];
  for await (const { fixture: f, config, model: m, test, data, calibImages } of zooQuantized(args, 'hls-csim-zoo')) {
    const t0 = performance.now();
    // --calibrated: each stream's fraction bits from its range on the 64 calibration images (bit-ir.md §3)
    const lowering = args.calibrated ? { streamRanges: lib.measureStreamRanges(m, calibImages) } : {};
    const r = lowerVivadoHls(m, { lowering, targetFps: args.targetFps, testData: data, testSamples: test.count, accSamples: args.acc });
    const lowerMs = performance.now() - t0;
    const dir = path.join(ROOT, 'bench/out/hls-csim-zoo', `${f.name}-${config}`);
    fs.rmSync(dir, { recursive: true, force: true });
    writeFilesAtomic(dir, r.files);
    const sim = await runCsim(dir, { optLevel: args.opt });
    const res = { topology: f.name, config, fractions: args.calibrated ? 'calibrated' : 'fixed', images: test.count, accImages: Math.min(args.acc, test.count), ok: sim.ok, ...sim.summary, lowerMs: Math.round(lowerMs), compileMs: Math.round(sim.compileMs), runMs: Math.round(sim.runMs), opt: args.opt };
    results.push(res);
    console.log(`${f.name} ${config}: ${sim.ok ? 'PASS' : 'FAIL'} — ${test.count} images, class mismatches ${res.classMismatches}, logit mismatches ${res.logitMismatches}, accumulator mismatches ${res.accumulatorMismatches} (${res.accImages} images × ${r.design.units.length} units); lower ${(lowerMs / 1000).toFixed(1)} s, compile ${(sim.compileMs / 1000).toFixed(1)} s, run ${(sim.runMs / 1000).toFixed(1)} s`);
    if (!sim.ok) console.log(sim.stdout);
  }
  writeJson('bench/out/hls-csim-zoo.json', results);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { limit: 1000, acc: 10, opt: 'O2', targetFps: 5000, zoo: false, calibrated: false, only: (s) => s.split(',') });
  if (args.zoo) return zooMain(args);
  const ds = fmnistImages(args.limit);
  const results = [];
  for (const c of FMNIST_CNN_CONFIGS) {
    const m = loadModel(FMNIST_CNN);
    await quantize(m, c.opts);
    const t0 = performance.now();
    const r = lowerVivadoHls(m, { targetFps: args.targetFps, testData: ds.images, testSamples: ds.count, accSamples: args.acc });
    const lowerMs = performance.now() - t0;
    const dir = path.join(ROOT, 'bench/out/hls-csim', c.name);
    fs.rmSync(dir, { recursive: true, force: true });
    writeFilesAtomic(dir, r.files);
    const sim = await runCsim(dir, { optLevel: args.opt });
    // Accuracy of the design (its classes equal the interpreter's when the run passes).
    const expected = r.files.get('tb_data.txt').split('\n');
    let correct = 0;
    let line = 2 + r.design.units.length;
    for (let i = 0; i < ds.count; i++) {
      const cls = Number(expected[line + 1]);
      if (cls === ds.labels[i]) correct++;
      line += 3 + (i < args.acc ? r.design.units.length : 0);
    }
    const res = {
      config: c.name,
      images: ds.count,
      accImages: Math.min(args.acc, ds.count),
      folding: r.folding.layers,
      ok: sim.ok,
      ...sim.summary,
      accuracy: correct / ds.count,
      lowerMs: Math.round(lowerMs),
      compileMs: Math.round(sim.compileMs),
      runMs: Math.round(sim.runMs),
      opt: args.opt,
    };
    results.push(res);
    console.log(`${c.name}: ${sim.ok ? 'PASS' : 'FAIL'} — ${ds.count} images, class mismatches ${res.classMismatches}, logit mismatches ${res.logitMismatches}, accumulator mismatches ${res.accumulatorMismatches} (${res.accImages} images × ${r.design.units.length} units); accuracy ${(100 * res.accuracy).toFixed(2)}%; lower ${(lowerMs / 1000).toFixed(1)} s, compile ${(sim.compileMs / 1000).toFixed(1)} s, run ${(sim.runMs / 1000).toFixed(1)} s`);
    if (!sim.ok) console.log(sim.stdout);
  }
  writeJson('bench/out/hls-csim.json', results);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

await main();
