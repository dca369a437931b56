/**
 * Fine-tuning architectures as PyTorch exports them (torchvision's own classes at test width:
 * scripts/make-torchvision-fixtures.py, fixtures/models/torchvision/): MobileNetV3 (HardSigmoid
 * and HardSwish, squeeze-excitation), EfficientNet (SiLU, squeeze-excitation), ShuffleNetV2
 * (channel split by Slice with bounds from shape arithmetic, channel shuffle, x.mean([2, 3])),
 * ConvNeXt (LayerNorm between Transposes, GELU by Erf; at opset 13 LayerNorm as ReduceMean, Pow,
 * Sqrt), a vision transformer (class token Expand and Concat, Gather of the class token,
 * attention), a Swin transformer (shifted windows: padding to the window by Mod arithmetic,
 * roll as Slices and Concat, the attention mask built with Range and ScatterND), PyTorch layers (PReLU, ELU, reflect and replicate padding, x[..., ::2], GELU,
 * torch.maximum), DenseNet (concatenation; its BatchNorms share running statistics through
 * Identity nodes until fold-constants). Each is quantized to W1.4 and fine-tuned for a few steps: the
 * loss is finite and falls on a repeated batch, every binarized weight moves, and the exported
 * model runs in onnxruntime.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { fineTune } from '../../src/train/loop.js';
import { Pipeline } from '../../src/pass/manager.js';
import { builtinPasses } from '../../passes/registry.js';
import { createSession, ort } from '../../src/runtime/ort.js';
import { ErrorCodes, HbnnError } from '../../src/errors.js';
import type { Dataset } from '../../src/data/dataset.js';
import type { Model } from '../../src/ir/graph.js';

const DIR = path.join(__dirname, '../../fixtures/models/torchvision');

/** 16 seeded random CIFAR-shaped images, 10 classes. */
function randomData(count = 16): Dataset {
  const per = 3 * 32 * 32;
  const images = new Float32Array(count * per);
  let s = 7;
  for (let i = 0; i < images.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    images[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { name: 'random', count, sampleShape: [3, 32, 32], images, labels: Int32Array.from({ length: count }, (_, i) => i % 10), numClasses: 10 };
}

async function fineTuneFew(model: Model): Promise<void> {
  const q = model;
  await quantize(q, { avgBits: 1.4 });
  const data = randomData();
  const before = new Map([...q.graph.initializers.values()].map((v) => [v.name, v.constValue!.toRawBytes().slice()]));
  const res = await fineTune(q, data, { epochs: 8, batchSize: 16, lr: 0.05, seed: 0, threads: 1, evalBefore: false });
  const losses = res.log.epochs.map((e) => e.trainLoss);
  for (const l of losses) expect(Number.isFinite(l)).toBe(true);
  // one batch repeated: the loss falls (from the second epoch: the first runs on the quantized
  // model's own Ŵ, the next on Ŵ re-binarized from the latent weights, which may sit higher)
  expect(losses.at(-1)!, `losses ${losses.join(' ')}`).toBeLessThan(losses[1]!);
  // the binarized weights' codes changed (most of them; a layer may keep its bits over 8 small steps)
  const trained = res.model;
  const moved = [...trained.graph.initializers.values()].filter((v) => /\.hbnn_(codes|planes)$/.test(v.name));
  expect(moved.length).toBeGreaterThan(0);
  const changed = moved.filter((v) => {
    const b = before.get(v.name);
    const a = v.constValue!.toRawBytes();
    return !b || b.length !== a.length || b.some((x, i) => x !== a[i]);
  });
  expect(changed.length, `${changed.length} of ${moved.length} binarized weights changed`).toBeGreaterThan(moved.length / 4);
  // the trained model runs
  const session = await createSession(trained, { threads: 1 });
  const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', data.images.subarray(0, 2 * 3 * 32 * 32), [2, 3, 32, 32]) });
  const logits = out[session.outputNames[0]!]!.data as Float32Array;
  expect(logits.length).toBe(20);
  expect([...logits].every(Number.isFinite)).toBe(true);
  await session.release();
}

describe('fine-tuning torchvision architectures as PyTorch exports them', () => {
  for (const file of ['mobilenet-v3-small.op13', 'mobilenet-v3-small.op17', 'efficientnet-b0.op13', 'shufflenet-v2.op13', 'convnext.op13', 'convnext.op17', 'vit.op13', 'vit.op17', 'swin.op13', 'layers.op13']) {
    it(`${file}: W1.4 fine-tuning runs, the loss falls, the weights move`, async () => {
      await fineTuneFew(await loadModel(path.join(DIR, `${file}.onnx`)));
    });
  }

  it('densenet: refused with the fix named while its BatchNorms read shared Identity statistics; trains after fold-constants', async () => {
    const raw = await loadModel(path.join(DIR, 'densenet.op13.onnx'));
    await quantize(raw, { avgBits: 1.4 });
    const err = await fineTune(raw, randomData(), { epochs: 1, batchSize: 16, threads: 1, evalBefore: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HbnnError);
    expect((err as HbnnError).code).toBe(ErrorCodes.UNSUPPORTED_OP);
    expect((err as HbnnError).message).toContain('fold-constants');
    const m = await loadModel(path.join(DIR, 'densenet.op13.onnx'));
    await Pipeline.parse('fold-constants', builtinPasses()).run(m);
    await fineTuneFew(m);
  });
});
