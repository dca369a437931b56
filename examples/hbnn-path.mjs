#!/usr/bin/env node
/**
 * The whole HBNN path through the programmatic API (docs/api.md, "The whole HBNN path"):
 * quantize the bundled CNN to 1.4 bits, evaluate, fine-tune briefly, save, lower to the
 * bit-level IR, check the interpreter against onnxruntime, and build the HLS and ASIC outputs.
 *
 *   node examples/hbnn-path.mjs OUTPUT_FOLDER
 *
 * Needs `npm run build` (or `npm ci`) first.
 */
import * as path from 'node:path';
import {
  loadModel, saveModel, quantize, evaluate, fineTune, loadDataset, FMNIST_NORMALIZATION,
  bundledModelPath, lowerToBitIR, interpret, lowerVivadoHls, lowerAsic,
} from 'hbnn-onnx';

const out = process.argv[2];
if (!out) {
  console.error('usage: node examples/hbnn-path.mjs OUTPUT_FOLDER');
  process.exit(2);
}

const model = loadModel(bundledModelPath('fmnist-cnn'));
const { record, pipeline } = await quantize(model, { avgBits: 1.4, heuristic: 'middle-out' });
console.log(`quantized: ${record.avgWeightBits.toFixed(3)} average weight bits; pipeline ${pipeline}`);

const test = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION, limit: 500 });
const before = await evaluate(model, test);
const train = loadDataset('fmnist-mini:train', { normalize: FMNIST_NORMALIZATION, limit: 1024 });
const tuned = await fineTune(model, train, { epochs: 1, batchSize: 64, evalData: test, seed: 1 });
const after = await evaluate(tuned.model, test);
console.log(`top-1 on 500 images: ${(before.top1 * 100).toFixed(1)}% -> ${(after.top1 * 100).toFixed(1)}% after fine-tuning`);
saveModel(tuned.model, path.join(out, 'fmnist-cnn.hbnn.onnx'));

const program = lowerToBitIR(tuned.model);
const ir = interpret(program, test.images, { limit: 100 });
let same = 0;
for (let i = 0; i < 100; i++) if (ir.classes[i] === after.predictions[i]) same++;
console.log(`bit-level IR agrees with onnxruntime on ${same}/100 images`);

const hls = lowerVivadoHls(program, { targetFps: 1000, testData: test.images, testSamples: 10 });
const asic = lowerAsic(tuned.model);
console.log(`vivado-hls: ${hls.files.size} files, ${Math.round(hls.estimates.total.fps)} frames/s; asic: ${asic.report.summary.areaMm2.toFixed(3)} mm²`);
