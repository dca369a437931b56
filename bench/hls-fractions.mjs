#!/usr/bin/env node
/**
 * What calibrated stream fractions (docs/bit-ir.md §3, "Fraction bits from calibrated ranges")
 * cost in hardware: each zoo topology (the test-size fixtures of zoo/fixtures.ts and the
 * full-size ResNet-20, MobileNetV2, SqueezeNet and pooling net of zoo/topologies.ts) quantized
 * at W1.4 and W1.4A1.4 (Middle-Out; 16 Fashion-MNIST training images padded to the input
 * shape, noise ±0.05, as the agreement bench), planned for the Vivado HLS backend (xc7z045,
 * 200 MHz, 1,000 FPS) and priced by the ASIC backend, lowered with the fixed fractions and with
 * the fractions from the stream ranges measured on the same 16 images. Widths do not change,
 * so BRAM, DSP, FPS and the ASIC figures should not either; the LUT estimate moves with the
 * requantization constants and the concat alignment shifts.
 *
 *   npx tsc -p tsconfig.json && node bench/hls-fractions.mjs [--only squeezenet,resnet20]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lib, zoo, zooFixtures, parseArgs, writeJson } from './lib.mjs';

const { quantize, writeNpy, planVivadoHls, lowerAsic, lowerToBitIR, loadDataset, FMNIST_NORMALIZATION, measureStreamRanges } = lib;
const { ZOO_FIXTURES, padImagesTo } = await zooFixtures();
const args = parseArgs(process.argv.slice(2), { only: (s) => s.split(',') });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-fractions-'));
const train = loadDataset('fmnist-mini:train', { normalize: FMNIST_NORMALIZATION, limit: 16 });
const list = [
  ...ZOO_FIXTURES.map((f) => ({ name: `${f.name} (test size)`, shape: f.shape, build: f.build })),
  { name: 'resnet20', shape: [3, 32, 32], build: () => zoo.buildResNet20() },
  { name: 'mobilenet-v2', shape: [3, 32, 32], build: () => zoo.buildMobileNetV2() },
  { name: 'squeezenet', shape: [3, 32, 32], build: () => zoo.buildSqueezeNet() },
  { name: 'poolnet', shape: [1, 28, 28], build: () => zoo.buildPoolNet() },
].filter((x) => !args.only || args.only.some((o) => x.name.startsWith(o)));
const rows = [];
for (const f of list) {
  const images = padImagesTo(train.images, 16, f.shape, 0.05, 61);
  const file = path.join(tmp, `${f.shape.join('x')}.npy`);
  writeNpy(file, { dtype: 'float32', shape: [16, ...f.shape], data: images });
  for (const config of ['W1.4', 'W1.4A1.4']) {
    const m = f.build();
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', ...(config === 'W1.4A1.4' ? { actBits: 1.4, actHeuristic: 'middle-out' } : {}), calibData: `npy:${file}`, calibLimit: 16 });
    const streamRanges = measureStreamRanges(m, images);
    const row = { topology: f.name, config };
    for (const [key, lowering] of [['fixed', {}], ['calibrated', { streamRanges }]]) {
      const e = planVivadoHls(m, { targetFps: 1000, lowering }).estimates.total;
      const a = lowerAsic(m, { program: lowerToBitIR(m, lowering) }).report.units;
      row[key] = { luts: e.luts, bram18: e.bram18, dsp: e.dsp, fps: e.fps, asicAreaMm2: a.areaMm2, asicPowerW: a.powerW };
    }
    row.lutDelta = row.calibrated.luts - row.fixed.luts;
    rows.push(row);
    const same = ['bram18', 'dsp', 'fps', 'asicAreaMm2', 'asicPowerW'].every((k) => row.fixed[k] === row.calibrated[k]);
    console.log(
      `${f.name} ${config}: LUTs ${row.fixed.luts} → ${row.calibrated.luts} (${row.lutDelta >= 0 ? '+' : ''}${row.lutDelta}, ${((100 * row.lutDelta) / row.fixed.luts).toFixed(2)}%); ` +
        `BRAM18 ${row.fixed.bram18}, DSP ${row.fixed.dsp}, ${Math.round(row.fixed.fps)} FPS, ASIC ${row.fixed.asicAreaMm2.toFixed(4)} mm² ${same ? '(all unchanged)' : `→ BRAM18 ${row.calibrated.bram18}, DSP ${row.calibrated.dsp}, ${Math.round(row.calibrated.fps)} FPS, ASIC ${row.calibrated.asicAreaMm2.toFixed(4)} mm²`}`,
    );
  }
}
fs.rmSync(tmp, { recursive: true, force: true });
writeJson('bench/out/hls-fractions.json', rows);
