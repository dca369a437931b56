#!/usr/bin/env node
/**
 * FPGA estimates per topology (issue 16's table): each zoo/ topology quantized at W1A1,
 * W1.4A1.4 and W2A2 (Middle-Out weights and activations, activations calibrated on 8 random
 * samples of the input shape), planned for the Vivado HLS backend on the ZC706 at 200 MHz for
 * a target throughput; LUTs, BRAM18, DSPs, FPS and the fit verdict. A topology the bit-level
 * IR or the HLS backend cannot lower yet gets its LOWERING error instead of numbers. Each
 * quantized model is also priced by the ASIC backend (`lowerAsic`, default technology and
 * clock, units mode; shapes and weightless units from the bit-level IR). Writes the FPGA
 * table into docs/fpga-results.md and the ASIC table into docs/asic-results.md, between the
 * TOPOLOGIES markers, and the numbers to bench/out/hls-topologies.json.
 *
 *   npx tsc && node bench/hls-topologies.mjs [--target-fps 1000] [--only cnv,resnet20] [--out docs/fpga-results.md]
 *
 * Weights are random (estimates depend on the topology and the bit widths, not on trained
 * values). MobileNet-V1 is built at CIFAR size (its 224×224 calibration on onnxruntime takes
 * minutes on a shared 2-core machine). AlexNet's quantization takes most of the run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, lib, zoo, internal, writeJson, CNV_LOWERING } from './lib.mjs';

const { quantize, writeNpy, planVivadoHls, lowerAsic, writeFileAtomic } = lib;
const { formatCount } = await internal('src/util/numbers.js');

const MARKERS = ['<!-- TOPOLOGIES:START (bench/hls-topologies.mjs) -->', '<!-- TOPOLOGIES:END -->'];
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const targetFps = Number(opt('--target-fps', '1000'));
const only = opt('--only', undefined)?.split(',');
const out = opt('--out', 'docs/fpga-results.md');

const TOPOLOGIES = [
  { name: 'cnv', label: 'CNV (VGG-8), 32×32', build: () => zoo.buildCnv(), lowering: CNV_LOWERING },
  { name: 'resnet20', label: 'ResNet-20, 32×32', build: () => zoo.buildResNet20() },
  { name: 'mobilenet-v1', label: 'MobileNet-V1 (α 0.5), 32×32, 10 classes', build: () => zoo.buildMobileNetV1({ inputShape: [3, 32, 32], alpha: 0.5, classes: 10 }) },
  { name: 'mobilenet-v2', label: 'MobileNetV2-style, 32×32', build: () => zoo.buildMobileNetV2() },
  { name: 'squeezenet', label: 'SqueezeNet-style, 32×32', build: () => zoo.buildSqueezeNet() },
  { name: 'poolnet', label: 'pooling net (AveragePool, LeakyRelu), 28×28', build: () => zoo.buildPoolNet() },
  { name: 'alexnet', label: 'AlexNet, 224×224', build: () => zoo.buildAlexNet() },
].filter((t) => !only || only.includes(t.name));
const BITS = [1, 1.4, 2];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-topologies-'));
function calibFile(shape) {
  const n = 8 * shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 7;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  const file = path.join(tmp, `calib-${shape.join('x')}.npy`);
  writeNpy(file, { dtype: 'float32', shape: [8, ...shape], data });
  return `npy:${file}`;
}

const rows = [];
console.log(`FPGA estimates per topology: xc7z045 at 200 MHz, target ${formatCount(targetFps)} FPS, node ${process.version}\n`);
for (const t of TOPOLOGIES) {
  for (const bits of BITS) {
    const t0 = performance.now();
    const m = t.build();
    const shape = m.graph.inputs[0].type.tensor_type.shape.dim.slice(1).map((d) => Number(d.dim_value));
    const row = { topology: t.name, label: t.label, bits };
    try {
      await quantize(m, { avgBits: bits, heuristic: 'middle-out', actBits: bits, actHeuristic: 'middle-out', calibData: calibFile(shape), calibLimit: 8 });
      try {
        const a = lowerAsic(m, {}).report.units;
        Object.assign(row, { asicArea: a.areaMm2, asicPower: a.powerW, asicFps: a.fps, asicUnits: a.layers.length, asicStreamUnits: a.layers.filter((l) => !['conv', 'depthwise-conv', 'fully-connected'].includes(l.kind)).length });
      } catch (err) {
        row.asicError = `${err.code ?? 'error'}: ${String(err.message).split('\n')[0]}`;
      }
      const plan = planVivadoHls(m, { targetFps, ...(t.lowering ? { lowering: t.lowering } : {}) });
      const e = plan.estimates;
      Object.assign(row, {
        weights: plan.program.weights.reduce((a, w) => a + w.rows * w.cols, 0),
        units: plan.design.units.length,
        luts: e.total.luts,
        bram18: e.total.bram18,
        dsp: e.total.dsp,
        fps: e.total.fps,
        lutPercent: e.total.lutPercent,
        bramPercent: e.total.bramPercent,
        fit: e.fit.verdict,
        ...(e.fit.smallest ? { smallest: e.fit.smallest } : {}),
      });
    } catch (err) {
      row.error = `${err.code ?? 'error'}: ${String(err.message).split('\n')[0]}`;
    }
    row.seconds = (performance.now() - t0) / 1000;
    rows.push(row);
    console.log(`${t.name.padEnd(14)} W${bits}A${bits}`.padEnd(28) + (row.error ? `not lowered — ${row.error.slice(0, 150)}` : `${formatCount(row.luts)} LUTs (${row.lutPercent}%), ${formatCount(row.bram18)} BRAM18 (${row.bramPercent}%), ${row.dsp} DSP, ${formatCount(row.fps)} FPS, ${row.fit}`) + (row.asicError ? `; ASIC: ${row.asicError.slice(0, 100)}` : `; ASIC ${row.asicArea?.toFixed(3)} mm², ${row.asicPower?.toFixed(3)} W, ${((row.asicFps ?? 0) / 1000).toFixed(2)} kFPS`) + `  [${row.seconds.toFixed(1)} s]`);
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

const lines = [
  MARKERS[0],
  '',
  `### Per topology (issue 16): xc7z045 (ZC706), 200 MHz, folding solved for ${formatCount(targetFps)} FPS`,
  '',
  'Middle-Out weights and activations at the same average bits (W1A1, W1.4A1.4, W2A2), activations calibrated on random inputs; random weights. "fit": the fit report (backend-vivado-hls.md, "Does it fit?").',
  '',
  '| topology | bits | weights | units | LUTs | BRAM18 | DSP | FPS | fit |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) =>
    r.error
      ? `| ${r.label} | W${r.bits}A${r.bits} | | | not lowered: ${r.error.replace(/\|/g, '\\|').slice(0, 220)} | | | | |`
      : `| ${r.label} | W${r.bits}A${r.bits} | ${formatCount(r.weights)} | ${r.units} | ${formatCount(r.luts)} (${r.lutPercent}%) | ${formatCount(r.bram18)} (${r.bramPercent}%) | ${r.dsp} | ${formatCount(r.fps)} | ${r.fit} |`,
  ),
  '',
  MARKERS[1],
];
const asicLines = [
  MARKERS[0],
  '',
  '### Per topology (issue 16): ASIC unit counts, default technology',
  '',
  'The same quantized models as the FPGA table in fpga-results.md (Middle-Out weights and activations, random weights, activations calibrated on random inputs), priced by `lowerAsic` in units mode (default technology, its clock; shapes and the weightless units — add, concat, average pool, clip, LeakyRelu — from the bit-level IR). Throughput: the slowest layer at the technology\'s fold budget.',
  '',
  '| topology | bits | layers + weightless units | area mm² | power W | kFPS |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) =>
    r.asicArea === undefined
      ? `| ${r.label} | W${r.bits}A${r.bits} | not priced: ${(r.asicError ?? r.error ?? '').replace(/\|/g, '\\|').slice(0, 200)} | | | |`
      : `| ${r.label} | W${r.bits}A${r.bits} | ${r.asicUnits - r.asicStreamUnits} + ${r.asicStreamUnits} | ${r.asicArea.toFixed(3)} | ${r.asicPower.toFixed(3)} | ${(r.asicFps / 1000).toFixed(2)} |`,
  ),
  '',
  MARKERS[1],
];
function writeBetweenMarkers(file, block) {
  const doc = path.resolve(ROOT, file);
  let text = fs.readFileSync(doc, 'utf8');
  const a = text.indexOf(MARKERS[0]);
  const b = text.indexOf(MARKERS[1]);
  text = a >= 0 && b > a ? text.slice(0, a) + block.join('\n') + text.slice(b + MARKERS[1].length) : `${text.trimEnd()}\n\n${block.join('\n')}\n`;
  writeFileAtomic(doc, text);
}
if (!only) {
  writeBetweenMarkers(out, lines);
  writeBetweenMarkers(opt('--asic-out', 'docs/asic-results.md'), asicLines);
}
writeJson('bench/out/hls-topologies.json', { targetFps, part: 'xc7z045', rows });
console.log(only ? '\n(--only: the docs are not rewritten)' : `\nwrote ${out}, docs/asic-results.md and bench/out/hls-topologies.json`);
