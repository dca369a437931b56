#!/usr/bin/env node
/**
 * RTL simulation (Verilator) of the Verilog designs of the quantized Fashion-MNIST CNN
 * (W1.4 and W1.4A1.4, Middle-Out per weight and per row, normalize 'fmnist') on the first N
 * test images (default 1,000): every class, every logit and (for the first --acc images)
 * every unit's accumulators compared with the bit-level IR interpreter. The test
 * (test/backends/verilog/rtl-sim.test.ts) runs 100 images of two of the configurations with
 * the same folding; this runs all four on 1,000.
 *
 *   npx tsc && node bench/rtl-sim.mjs [--limit 1000] [--acc 4] [--opt O1] [--config W1.4A1.4-row] [--timeout 3600]
 *   node bench/rtl-sim.mjs --cnv [--only 1,1.2,1.4,2] [--limit 16] [--acc 4]
 *   node bench/rtl-sim.mjs --zoo [--only resnet20,squeezenet] [--limit 100] [--acc 4] [--target-fps 5000] [--calibrated]
 *   (--calibrated: each stream's fraction bits from its range on the calibration images,
 *   docs/bit-ir.md §3; default the fixed fractions)
 *
 * --zoo: instead, every issue-16 fixture topology at test size (zoo/fixtures.ts: ResNet-20-,
 * MobileNetV2-, SqueezeNet-style, MobileNet-V1, the pooling net, the PyTorch-style export),
 * W1.4 and W1.4A1.4 (Middle-Out, activations calibrated on 64 Fashion-MNIST training images
 * padded to the input shape, as bench/hls-csim.mjs --zoo), folding solved for --target-fps, on
 * the first N Fashion-MNIST test images padded and replicated to the input shape (default 100):
 * residual adds (duplicate-stream, FIFO and add-streams units), depthwise vector-vector units,
 * concat, global and windowed average pools, Clip, LeakyRelu, standalone thresholds.
 * Results in bench/out/rtl-sim-zoo.json (the projects in bench/out/rtl-sim-zoo/<topology>-<config>/).
 *
 * --cnv: instead, the zoo's CNV (random weights, seed 1) row-grouped at W1, W1.2, W1.4 and W2
 * with 1-bit activations (bench/lib.mjs cnvRowA1, the designs of bench/synth-designs.mjs), at
 * FINN's cnv_w1a1 folding (CNV_FINN_FOLDING), on the backend's deterministic synthetic inputs
 * (uniform in [-2, 2), mulberry32 seed 1; default 16 images, `--only 1.4,2` picks bitwidths).
 * Results in bench/out/rtl-sim-cnv.json (the projects in bench/out/rtl-sim-cnv/W<b>A1-row/).
 *
 * --timeout: seconds each Verilator build and each simulation run may take (default 3600; a
 * loaded machine runs the 1,000 images of W1.4 past the library's default of 600).
 *
 * HBNN_DIST=path/to/dist selects another build of the package (default ./dist). Projects go to
 * bench/out/rtl-sim/<config>/, the summary to bench/out/rtl-sim.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, parseArgs, zooQuantized, FMNIST_CNN, FMNIST_CNN_CONFIGS, FMNIST_RTL_FOLDING, CNV_FINN_FOLDING, CNV_LOWERING, cnvRowA1, fmnistImages, writeJson } from './lib.mjs';

const { loadModel, quantize, lowerToVerilog, runVerilatorSim, writeFilesAtomic } = lib;

// The folding of the tests (test/backends/verilog/helpers.ts): about 7,000 cycles per image.
const FOLDING = FMNIST_RTL_FOLDING;

/** Every zoo fixture × W1.4 / W1.4A1.4 through RTL simulation. */
async function zooMain(args) {
  const limit = args.limit ?? 100;
  const results = [];
  for await (const { fixture: f, config, model: m, test, data, calibImages } of zooQuantized({ ...args, limit }, 'rtl-sim-zoo')) {
    const t0 = performance.now();
    // --calibrated: each stream's fraction bits from its range on the 64 calibration images (bit-ir.md §3)
    const lowering = args.calibrated ? { streamRanges: lib.measureStreamRanges(m, calibImages) } : {};
    const r = lowerToVerilog(m, { lowering, targetFps: args.targetFps, testData: data, testSamples: test.count, accSamples: args.acc });
    const lowerMs = performance.now() - t0;
    const dir = path.join(ROOT, 'bench/out/rtl-sim-zoo', `${f.name}-${config}`);
    fs.rmSync(dir, { recursive: true, force: true });
    writeFilesAtomic(dir, r.files);
    const sim = await runVerilatorSim(dir, { optLevel: args.opt, timeoutMs: args.timeout * 1000 });
    const cycles = Number(/in (\d+) cycles/.exec(sim.stdout)?.[1] ?? 0);
    const kinds = [...new Set(r.design.stages.map((s) => (s.kind === 'unit' && s.groups > 1 ? 'vvu' : s.kind === 'avgpool' ? (s.global ? 'gap' : 'avgpool') : s.kind)))];
    const res = {
      topology: f.name,
      config,
      fractions: args.calibrated ? 'calibrated' : 'fixed',
      images: test.count,
      accImages: Math.min(args.acc, test.count),
      stages: r.design.stages.length,
      kinds,
      ok: sim.ok,
      ...sim.summary,
      cycles,
      cyclesPerImage: Math.round(cycles / test.count),
      lowerMs: Math.round(lowerMs),
      buildMs: Math.round(sim.buildMs),
      runMs: Math.round(sim.runMs),
      opt: args.opt,
    };
    results.push(res);
    console.log(
      `${f.name} ${config}: ${sim.ok ? 'PASS' : 'FAIL'} — ${test.count} images, class mismatches ${res.classMismatches}, logit mismatches ${res.logitMismatches}, accumulator mismatches ${res.accumulatorMismatches} (${res.accImages} images × ${r.units.length} units); ` +
        `${res.stages} stages (${kinds.join(', ')}); ${res.cyclesPerImage} cycles/image; lower ${(lowerMs / 1000).toFixed(1)} s, build ${(sim.buildMs / 1000).toFixed(1)} s, run ${(sim.runMs / 1000).toFixed(1)} s`,
    );
    if (!sim.ok) console.log(sim.stdout);
  }
  writeJson('bench/out/rtl-sim-zoo.json', results);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

/** CNV row-grouped W1 … W2, A1, at FINN's folding, through RTL simulation on synthetic inputs. */
async function cnvMain(args) {
  const limit = args.limit ?? 16;
  const results = [];
  for (const bits of (args.only ?? ['1', '1.2', '1.4', '2']).map(Number)) {
    const config = `W${bits}A1-row`;
    const m = await cnvRowA1(bits);
    const t0 = performance.now();
    const r = lowerToVerilog(m, { folding: CNV_FINN_FOLDING, lowering: CNV_LOWERING, testSamples: limit, accSamples: args.acc });
    const lowerMs = performance.now() - t0;
    const dir = path.join(ROOT, 'bench/out/rtl-sim-cnv', config);
    fs.rmSync(dir, { recursive: true, force: true });
    writeFilesAtomic(dir, r.files);
    const sim = await runVerilatorSim(dir, { optLevel: args.opt, timeoutMs: args.timeout * 1000 });
    const cycles = Number(/in (\d+) cycles/.exec(sim.stdout)?.[1] ?? 0);
    const accImages = Math.min(args.acc, limit);
    const res = { topology: 'cnv', config, images: limit, accImages, folding: r.folding.layers, ok: sim.ok, ...sim.summary, cycles, cyclesPerImage: Math.round(cycles / limit), lowerMs: Math.round(lowerMs), buildMs: Math.round(sim.buildMs), runMs: Math.round(sim.runMs), opt: args.opt };
    results.push(res);
    console.log(
      `CNV ${config}: ${sim.ok ? 'PASS' : 'FAIL'} — ${limit} images, class mismatches ${res.classMismatches}, logit mismatches ${res.logitMismatches}, accumulator mismatches ${res.accumulatorMismatches} (${accImages} images × ${r.units.length} units); ` +
        `${res.cyclesPerImage} cycles/image; lower ${(lowerMs / 1000).toFixed(1)} s, build ${(sim.buildMs / 1000).toFixed(1)} s, run ${(sim.runMs / 1000).toFixed(1)} s`,
    );
    if (!sim.ok) console.log(sim.stdout);
  }
  writeJson('bench/out/rtl-sim-cnv.json', results);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { limit: Number, acc: 4, opt: 'O1', config: undefined, timeout: 3600, zoo: false, cnv: false, calibrated: false, only: (s) => s.split(','), targetFps: 5000 });
  if (args.zoo) return zooMain(args);
  if (args.cnv) return cnvMain(args);
  args.limit ??= 1000;
  const ds = fmnistImages(args.limit);
  const results = [];
  for (const c of FMNIST_CNN_CONFIGS.filter((x) => !args.config || x.name === args.config)) {
    const m = loadModel(FMNIST_CNN);
    await quantize(m, c.opts);
    const t0 = performance.now();
    const r = lowerToVerilog(m, { folding: FOLDING, testData: ds.images, testSamples: ds.count, accSamples: args.acc });
    const lowerMs = performance.now() - t0;
    const dir = path.join(ROOT, 'bench/out/rtl-sim', c.name);
    fs.rmSync(dir, { recursive: true, force: true });
    writeFilesAtomic(dir, r.files);
    const sim = await runVerilatorSim(dir, { optLevel: args.opt, timeoutMs: args.timeout * 1000 });
    const classes = r.files.get('tb_class.hex').trim().split('\n').map((h) => parseInt(h, 16));
    const correct = classes.filter((cls, i) => cls === ds.labels[i]).length;
    const cycles = Number(/in (\d+) cycles/.exec(sim.stdout)?.[1] ?? 0);
    const res = {
      config: c.name,
      images: ds.count,
      accImages: Math.min(args.acc, ds.count),
      folding: r.folding.layers,
      ok: sim.ok,
      ...sim.summary,
      accuracy: correct / ds.count,
      cycles,
      cyclesPerImage: Math.round(cycles / ds.count),
      lowerMs: Math.round(lowerMs),
      buildMs: Math.round(sim.buildMs),
      runMs: Math.round(sim.runMs),
      opt: args.opt,
    };
    results.push(res);
    console.log(
      `${c.name}: ${sim.ok ? 'PASS' : 'FAIL'} — ${ds.count} images, class mismatches ${res.classMismatches}, logit mismatches ${res.logitMismatches}, accumulator mismatches ${res.accumulatorMismatches} (${res.accImages} images × ${r.units.length} units); ` +
        `accuracy ${(100 * res.accuracy).toFixed(2)}%; ${res.cyclesPerImage} cycles/image; lower ${(lowerMs / 1000).toFixed(1)} s, build ${(sim.buildMs / 1000).toFixed(1)} s, run ${(sim.runMs / 1000).toFixed(1)} s`,
    );
    if (!sim.ok) console.log(sim.stdout);
  }
  writeJson('bench/out/rtl-sim.json', results);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

await main();
