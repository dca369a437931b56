#!/usr/bin/env node
/**
 * Rebuilds fixtures/models/fmnist-resnet.onnx: a ResNet-8-style network for Fashion-MNIST,
 * built by the project's own code (`buildResNet20`, zoo/topologies.ts) and trained in
 * float with `hbnn-onnx train` on the full Fashion-MNIST training set.
 *
 *   npx tsc -p tsconfig.json && node scripts/make-fmnist-resnet.mjs [--epochs 2] [--out FILE]
 *
 * Topology (RESNET below): input 1×28×28; 3×3 conv (8) + BatchNorm + ReLU; three stages of
 * one basic block each (conv-BN-ReLU-conv-BN + shortcut, ReLU) at 8, 16, 32 channels, the
 * first block of stages 2 and 3 with stride 2 and a 1×1 projection shortcut (conv + BN);
 * GlobalAveragePool, Flatten, Gemm 32→10. 8 weight layers on the main path (ResNet-8),
 * 19,810 trained parameters (85 KB file), seeded random initial weights (seed 1).
 *
 * Training (TRAIN below): `hbnn-onnx train` on `fmnist:train` (60,000 images, Debian package
 * dataset-fashion-mnist), evaluated on `fmnist:test`, normalization `fmnist` (recorded in the
 * output), 2 epochs, SGD lr 0.05, momentum 0.9, weight decay 1e-4, cosine schedule, batch 128,
 * seed 0, 2 onnxruntime threads; the best epoch is kept (87.65% test top-1 after epoch 2; 85.03%
 * after epoch 1). Budget: 32.5 minutes of wall time on the shared 2-core machine at a load
 * average of 15-20 (about 5 minutes of CPU time); width 8 and 2 epochs were chosen for it
 * (width 16 measured about twice the time per step). The training log goes beside the model
 * (fixtures/models/fmnist-resnet.train-log.json).
 *
 * Then (or alone, with --quantized-only; one of them with --only FILE) the two fine-tuned quantized versions the bit-level
 * IR agreement test reads (test/bitir/resnet-trained.test.ts, QUANTIZED below):
 * fixtures/models/fmnist-resnet.w1.4.hbnn.onnx and fmnist-resnet.w1.4a1.4.hbnn.onnx, made by
 * `hbnn-onnx quantize --avg-bits 1.4 [--act-bits 1.4] --fine-tune` (Middle-Out; activations
 * calibrated on 1,000 training images) with one short fine-tuning epoch on the first 10,000
 * training images (SGD lr 0.01, batch 128, seed 0), latent weights from the float model.
 *
 * onnxruntime with 2 threads does not sum in a fixed order, so a rerun gives a model with
 * the same recipe and nearly the same accuracy, not the same bytes (`--threads 1` would).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.resolve(process.env.HBNN_DIST ?? path.join(ROOT, 'dist'));
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);

export const RESNET = { inputShape: [1, 28, 28], width: 8, blocks: 1, seed: 1, classes: 10 };
export const TRAIN = { epochs: 2, lr: 0.05, batchSize: 128, seed: 0, threads: 2 };
export const QUANTIZED = [
  { file: 'fmnist-resnet.w1.4.hbnn.onnx', args: ['--avg-bits', '1.4', '--heuristic', 'middle-out'] },
  { file: 'fmnist-resnet.w1.4a1.4.hbnn.onnx', args: ['--avg-bits', '1.4', '--heuristic', 'middle-out', '--act-bits', '1.4', '--act-heuristic', 'middle-out', '--calib-data', 'fmnist:train', '--calib-limit', '1000'] },
];
const FINE_TUNE = ['--fine-tune', '--train-data', 'fmnist:train', '--train-limit', '10000', '--eval-data', 'fmnist:test', '--epochs', '1', '--lr', '0.01', '--batch-size', '128', '--seed', '0', '--threads', '2'];

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const epochs = Number(opt('--epochs', String(TRAIN.epochs)));
const out = path.resolve(opt('--out', path.join(ROOT, 'fixtures/models/fmnist-resnet.onnx')));
const trainLimit = opt('--train-limit', undefined);
const maxSteps = opt('--max-steps', undefined);

const quantizedOnly = argv.includes('--quantized-only');
const run = (args) => {
  console.log(`node ${args.join(' ')}`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

if (!quantizedOnly) {
  const { buildResNet20 } = await load('zoo/topologies.js');
  const { saveModel } = await load('src/onnx/io.js');
  const model = buildResNet20(RESNET);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-resnet-'));
  const init = path.join(tmp, 'fmnist-resnet.init.onnx');
  saveModel(model, init);
  try {
    run([
      path.join(ROOT, 'bin/hbnn-onnx.js'), 'train', init,
      '--train-data', 'fmnist:train', '--eval-data', 'fmnist:test', '--normalize', 'fmnist',
      '--epochs', String(epochs), '--lr', String(TRAIN.lr), '--batch-size', String(TRAIN.batchSize),
      '--seed', String(TRAIN.seed), '--threads', String(TRAIN.threads),
      '-o', out, '--log', out.replace(/\.onnx$/, '.train-log.json'),
      ...(trainLimit ? ['--train-limit', trainLimit] : []),
      ...(maxSteps ? ['--max-steps', maxSteps] : []),
    ]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
const only = opt('--only', undefined);
for (const q of QUANTIZED.filter((x) => !only || x.file === only)) {
  run([path.join(ROOT, 'bin/hbnn-onnx.js'), 'quantize', out, ...q.args, ...FINE_TUNE, '-o', path.join(path.dirname(out), q.file)]);
}
