#!/usr/bin/env node
/**
 * Frozen BatchNorm statistics (`freezeBatchNormStats`, docs/training.md *Frozen BatchNorm
 * statistics*) against training mode, on two networks with BatchNorm: the trained ResNet-8
 * (fixtures/models/fmnist-resnet.onnx, W1.4 Middle-Out, Conv BatchNorms; one epoch on the first
 * 30,000 Fashion-MNIST training images, the 10,000 test images) and the Brevitas TFC_2W2A QONNX
 * import (fixtures/qonnx, W1.4A1.4 as bench/tfc-chain.mjs quantizes it, BatchNorms on [N, C]
 * after fully connected layers; one epoch on fmnist-mini's 4,000 training images, 2,000 test
 * images). Each with and without `recalibrateBatchNorm` at quantization, SGD as fineTune's
 * defaults (lr 0.01, cosine), seed 0; frozen runs also at a lower learning rate. Prints test
 * top-1 before and after, the last training loss, whether the BatchNorms' running means are
 * byte-identical to the quantized model's, and the time; a run that diverges is reported as such.
 *
 *   npx tsc && node bench/train-freeze-bn.mjs [--models resnet8,tfc] [--workers 2] [--frozen-lr 0.002]
 *   npx tsc && node bench/train-freeze-bn.mjs --freeze-after 1 [--epochs 2] [--models ...] [--workers 2]
 *
 * With `--freeze-after E`: the late form instead (`freezeBatchNormStatsAfter: E`), against
 * training mode throughout, `--epochs` epochs (default 2) at lr 0.01, as quantized and
 * recalibrated; test top-1 after every epoch.
 *
 * Imports the compiled package from dist/ (or HBNN_DIST). Needs the Debian package
 * dataset-fashion-mnist for the ResNet-8 rows.
 */
import * as path from 'node:path';
import { ROOT, lib } from './lib.mjs';

const { loadModel, prepareForQuantize, quantize, loadDataset, fineTune, FMNIST_NORMALIZATION } = lib;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const models = arg('models', 'resnet8,tfc').split(',');
const workers = Number(arg('workers', '2'));
const frozenLr = Number(arg('frozen-lr', '0.002'));
const freezeAfter = arg('freeze-after', undefined) === undefined ? undefined : Number(arg('freeze-after'));
const epochs = Number(arg('epochs', freezeAfter === undefined ? '1' : '2'));
// [label, lr, fineTune options] per row
const VARIANTS =
  freezeAfter === undefined
    ? [['training mode', 0.01, {}], ['frozen', 0.01, { freezeBatchNormStats: true }], ['frozen', frozenLr, { freezeBatchNormStats: true }]]
    : [['training mode', 0.01, {}], [`frozen after epoch ${freezeAfter}`, 0.01, { freezeBatchNormStatsAfter: freezeAfter }]];

const SPECS = {
  resnet8: {
    file: path.join(ROOT, 'fixtures/models/fmnist-resnet.onnx'),
    quant: { avgBits: 1.4, heuristic: 'middle-out' },
    calib: { calibData: 'fmnist:train', normalize: 'fmnist' },
    data: () => [loadDataset('fmnist:train', { normalize: FMNIST_NORMALIZATION, limit: 30000 }), loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION })],
    batchSize: 128,
  },
  tfc: {
    file: path.join(ROOT, 'fixtures/qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC/TFC_2W2A.onnx'),
    quant: { avgBits: 1.4, actBits: 1.4, calibLimit: 512, seed: 0 },
    calib: { calibData: 'fmnist-mini:train' },
    data: () => [loadDataset('fmnist-mini:train', { limit: 4000 }), loadDataset('fmnist-mini:test', { limit: 2000 })],
    batchSize: 64,
    // a QONNX import: its quantizers folded first, as bench/tfc-chain.mjs does
    prepare: true,
  },
};

const runningMeans = (m) => m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').map((n) => {
  const t = n.inputs[3].constValue.toFloat32();
  return Buffer.from(t.buffer, t.byteOffset, t.byteLength);
});
const pct = (x) => `${(100 * x).toFixed(2)}%`;

for (const name of models) {
  const spec = SPECS[name];
  if (!spec) throw new Error(`unknown model ${name} (resnet8, tfc)`);
  const [train, test] = spec.data();
  for (const recalibrate of [false, true]) {
    for (const [variant, lr, extra] of VARIANTS) {
      const m = loadModel(spec.file);
      const opts = { ...spec.quant, ...(recalibrate ? { recalibrateBatchNorm: true, ...spec.calib } : {}) };
      const prep = spec.prepare ? await prepareForQuantize(m, opts, { minOpset: 13 }) : undefined;
      const latent = m.clone();
      await quantize(m, opts, prep);
      const before = runningMeans(m);
      const label = `${name} ${recalibrate ? 'recalibrated' : 'as quantized'}, ${variant}, lr ${lr}${epochs > 1 ? `, ${epochs} epochs` : ''}`;
      const t0 = performance.now();
      try {
        const ft = await fineTune(m, train, { epochs, batchSize: spec.batchSize, lr, evalData: test, latentFrom: latent, seed: 0, workers, ...extra });
        const e = ft.log.epochs.at(-1);
        const after = runningMeans(ft.model);
        const kept = after.length === before.length && after.every((b, i) => b.equals(before[i]));
        const perEpoch = epochs > 1 ? ` (epochs ${ft.log.epochs.map((x) => pct(x.evalTop1)).join(', ')}; kept epoch ${ft.log.best?.epoch})` : '';
        console.log(`${label}: top-1 ${pct(ft.log.before.evalTop1)} -> ${pct(e.evalTop1)}${perEpoch}, loss ${e.trainLoss.toFixed(4)}, running means ${kept ? 'unchanged' : 'updated'}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        if (err?.code !== 'training-diverged') throw err;
        console.log(`${label}: diverged (${err.message.split('.')[0]})`);
      }
    }
  }
}
