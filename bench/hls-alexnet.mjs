#!/usr/bin/env node
/**
 * Lowering an AlexNet-sized model (torchvision AlexNet, 61.1 M weights, zoo/ buildAlexNet)
 * to a Vivado HLS project: time and memory of each step, the size of the project, and whether
 * the design fits the part (it does not: the fit report says by how much).
 *
 *   npx tsc -p tsconfig.json && node bench/hls-alexnet.mjs [--target-fps 100] [--csim]
 *
 * Steps: build the float model and quantize it (W1.4, Middle-Out; not part of lowering, shown
 * for reference), lower it to the bit-level IR, then lowerVivadoHls (folding, design,
 * estimate, weight data files, testbench vector of one sample from the interpreter). --csim
 * also writes the project to a temporary folder, compiles its C simulation with g++ -O1 (weights
 * in data files, read at run time) and runs it on that sample. Wall-clock and process CPU times
 * in seconds; on a shared machine the CPU time is the steadier figure. Not a test: it never
 * fails on timing. The goal: lowering (bit-level IR + vivado-hls) under 60 s.
 *
 * Baseline in the same run, so a reader can judge the machine's speed and load: saving the
 * quantized model to a file and loading it back (what `hbnn-onnx opt` does to it), and the
 * quantization itself; the load average (1 min) is printed before and after. The last line
 * gives lowering's wall and CPU time beside the baseline's and as a ratio of it.
 * Results: stdout and bench/out/hls-alexnet.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, lib, zoo, internal, writeJson } from './lib.mjs';

const { buildAlexNet } = zoo;
const { quantize, lowerToBitIR } = lib;
const { lowerVivadoHls, compileCsim, runTestbench } = await internal('src/backends/vivado-hls/index.js');
const { writeFilesAtomic, writeFileAtomic, loadModel, saveModel } = lib;

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const targetFps = Number(opt('--target-fps', '100'));
const csim = argv.includes('--csim');

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const step = async (name, fn) => {
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const value = await fn();
  const wall = (performance.now() - w0) / 1000;
  const c = process.cpuUsage(c0);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const cpu = (c.user + c.system) / 1e6;
  console.log(`${name.padEnd(34)} ${wall.toFixed(1).padStart(7)} s wall ${cpu.toFixed(1).padStart(7)} s CPU   rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
  return { value, wall, cpu };
};

const loadAvg = () => os.loadavg().map((x) => x.toFixed(1)).join(' / ');
const loadBefore = os.loadavg()[0];
console.log(`hbnn vivado-hls at scale: AlexNet (torchvision), W1.4 Middle-Out, target ${targetFps} FPS, node ${process.version}, ${os.cpus().length} CPUs`);
console.log(`load average (1 / 5 / 15 min) before: ${loadAvg()}\n`);
const model = await step('build float model (not timed)', () => buildAlexNet());
const quant = await step('quantize W1.4 (not lowering)', () => quantize(model.value, { avgBits: 1.4, heuristic: 'middle-out' }));
// Baseline: re-save and reload the quantized model (hbnn-onnx opt's work on the same file).
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-alexnet-opt-'));
let modelBytes = 0;
const resave = await step('baseline: save + load (opt)', () => {
  const f = path.join(tmp, 'alexnet-w1.4.onnx');
  saveModel(model.value, f);
  modelBytes = fs.statSync(f).size;
  return loadModel(f);
});
fs.rmSync(tmp, { recursive: true, force: true });
resave.value = undefined;
const bitir = await step('lower to the bit-level IR', () => lowerToBitIR(model.value));
const hls = await step('lowerVivadoHls (files in memory)', () => lowerVivadoHls(bitir.value, { targetFps }));
const r = hls.value;
let bytes = 0;
for (const v of r.files.values()) bytes += Buffer.byteLength(v);
const params = bitir.value.weights.reduce((a, w) => a + w.rows * w.cols, 0);
const lowering = { wall: bitir.wall + hls.wall, cpu: bitir.cpu + hls.cpu };
const loadAfter = os.loadavg()[0];
console.log(`\nlowering total (bit-level IR + vivado-hls): ${lowering.wall.toFixed(1)} s wall, ${lowering.cpu.toFixed(1)} s CPU (goal: under 60 s)`);
console.log(`baseline, same run: save + load of the ${(modelBytes / 2 ** 20).toFixed(0)} MiB quantized model ${resave.wall.toFixed(1)} s wall, ${resave.cpu.toFixed(1)} s CPU; quantize ${quant.wall.toFixed(1)} s wall, ${quant.cpu.toFixed(1)} s CPU`);
console.log(`lowering / (save + load): ${(lowering.wall / resave.wall).toFixed(2)}× wall, ${(lowering.cpu / resave.cpu).toFixed(2)}× CPU; lowering / quantize: ${(lowering.wall / quant.wall).toFixed(2)}× wall, ${(lowering.cpu / quant.cpu).toFixed(2)}× CPU`);
console.log(`load average after: ${loadAvg()} (${os.cpus().length} CPUs; a load above the CPU count stretches wall times, not CPU times)`);
console.log(`${(params / 1e6).toFixed(1)} M weights, ${r.design.units.length} units, ${r.files.size} files, ${(bytes / 2 ** 20).toFixed(0)} MiB; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
const t = r.estimates.total;
console.log(`estimate on ${r.estimates.part.name}: ${t.luts.toLocaleString('en-US')} LUTs (${t.lutPercent}%), ${t.bram18.toLocaleString('en-US')} BRAM18 (${t.bramPercent}%), ${t.dsp} DSP, ${t.fps} FPS`);
console.log(`fit: ${r.estimates.fit.verdict}\n  ${r.estimates.notes[0]}`);

let csimResult;
if (csim) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-alexnet-'));
  try {
    const w = await step('write the project', () => writeFilesAtomic(dir, r.files));
    // The compiler's peak memory (g++ and its cc1plus), through GNU time when it is installed.
    const memFile = path.join(dir, 'gxx-peak-kib.txt');
    const wrapper = path.join(dir, 'gxx-timed.sh');
    const timed = fs.existsSync('/usr/bin/time');
    if (timed) fs.writeFileSync(wrapper, `#!/bin/sh\nexec /usr/bin/time -f %M -o '${memFile}' ${process.env.CXX ?? 'g++'} "$@"\n`, { mode: 0o755 });
    const build = await step('g++ -O1 (C simulation)', () => compileCsim(dir, { optLevel: 'O1', timeoutMs: 1_200_000, ...(timed ? { cxx: wrapper } : {}) }));
    const gxxPeakMiB = timed && fs.existsSync(memFile) ? Number(fs.readFileSync(memFile, 'utf8').trim().split('\n').pop()) / 1024 : undefined;
    if (gxxPeakMiB !== undefined) console.log(`g++ peak memory (GNU time, g++ and cc1plus): ${gxxPeakMiB.toFixed(0)} MiB`);
    try {
      const run = await step('testbench (1 sample)', () => runTestbench(build.value));
      console.log(run.value.stdout.trim().split('\n').slice(-3).join('\n'));
      csimResult = { writeS: w.wall, compileS: build.value.compileMs / 1000, ...(gxxPeakMiB !== undefined ? { gxxPeakMiB: Math.round(gxxPeakMiB) } : {}), runS: run.value.runMs / 1000, ok: run.value.ok, summary: run.value.summary };
    } finally {
      build.value.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
clearInterval(sampler);

const out = {
  model: 'alexnet (torchvision, 224×224)',
  weights: params,
  targetFps,
  node: process.version,
  cpus: os.cpus().length,
  loadAverage: { before: loadBefore, after: loadAfter },
  quantize: { wall: quant.wall, cpu: quant.cpu },
  baselineSaveLoad: { wall: resave.wall, cpu: resave.cpu, bytes: modelBytes },
  bitir: { wall: bitir.wall, cpu: bitir.cpu },
  vivadoHls: { wall: hls.wall, cpu: hls.cpu },
  lowering,
  files: r.files.size,
  bytes,
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  estimate: r.estimates.total,
  fit: r.estimates.fit,
  ...(csimResult ? { csim: csimResult } : {}),
};
writeJson('bench/out/hls-alexnet.json', out);
console.log('\nwrote bench/out/hls-alexnet.json');
