import { describe, expect, it } from 'vitest';
import { encodeModel, loadModel } from '../../src/onnx/io.js';
import { parallelStats, releaseBinarizeWorkers } from '../../src/hbnn/parallel.js';
import { quantize } from '../../src/drivers/quantize.js';
import { readQuantRecord, isWeightCall, isActivationCall } from '../../src/quant/format.js';
import { findWeightCall, readWeightCall } from '../../src/quant/planes.js';
import { weightLayers } from '../../src/quant/targets.js';
import { makeBitMap, heteroBinarize, resolveDistribution } from '../../src/hbnn/index.js';
import { Tensor } from '../../src/ir/tensor.js';
import { createSession, float32Tensor } from '../../src/runtime/ort.js';
import { loadDataset, FMNIST_NORMALIZATION, bundledModelPath } from '../../src/data/index.js';
import { evaluate } from '../../src/runtime/infer.js';
import type { Model } from '../../src/ir/graph.js';

const CNN = bundledModelPath('fmnist-cnn');

async function logits(model: Model, x: Float32Array, n: number, extra: Record<string, ReturnType<typeof float32Tensor>> = {}): Promise<Float32Array> {
  const s = await createSession(model, { optimization: 'disabled', weights: 'as-written' });
  const r = await s.run({ input: float32Tensor(x, [n, 1, 28, 28]), ...extra });
  await s.release();
  return r[model.graph.outputs[0]!.name]!.data as Float32Array;
}

describe('quantize fmnist-cnn', () => {
  const ds = loadDataset('fmnist-mini:test', { limit: 64, normalize: FMNIST_NORMALIZATION });

  it('runs in stock onnxruntime and equals the network built from the numerics module (1e-5)', async () => {
    const q = loadModel(CNN);
    const res = await quantize(q, { avgBits: 1.4, heuristic: 'middle-out' });
    expect(res.record.weights.length).toBe(4);
    // Reference: the float model with each weight replaced by the numerics module's T_hat.
    const ref = loadModel(CNN);
    const dist = resolveDistribution({ avgBits: 1.4, maxBits: 3 }).dist;
    // The reference weights are fed at run time (as graph inputs), like the quantized model's
    // weights, which its BinarizedWeight calls compute at run time: both convolutions then
    // take the same arithmetic path in onnxruntime (no pre-packed constant weights).
    const feeds: Record<string, ReturnType<typeof float32Tensor>> = {};
    for (const layer of weightLayers(ref.graph)) {
      const t = layer.weight.constValue!;
      const w = t.toFloat32();
      // Conv weights and Gemm transB=1 weights are channel-major already.
      const bm = makeBitMap(w, { heuristic: 'middle-out', dist, maxBits: 3, seed: 0 });
      const deq = heteroBinarize(w, bm.bitMap).dequantized;
      layer.weight.constValue = Tensor.fromFloat32(t.name, t.dims, deq);
      ref.graph.inputs.push(layer.weight);
      feeds[t.name] = float32Tensor(deq, t.dims);
    }
    const a = await logits(q, ds.images, 64);
    const b = await logits(ref, ds.images, 64, feeds);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
    // and the quantized network differs from the float one (the test can fail)
    const f = await logits(loadModel(CNN), ds.images, 64);
    let fd = 0;
    for (let i = 0; i < a.length; i++) fd = Math.max(fd, Math.abs(a[i]! - f[i]!));
    expect(fd).toBeGreaterThan(1e-2);
  });

  it('gives the same model bytes with worker threads (each layer whole on one thread)', async () => {
    const encode = async (opts: Parameters<typeof quantize>[1]) => {
      const m = loadModel(CNN);
      await quantize(m, opts);
      return Buffer.from(encodeModel(m));
    };
    for (const opts of [{ avgBits: 1.4 }, { avgBits: 1.6, perChannel: true, heuristic: 'middle-out-residual' as const }, { avgBits: 1.4, heuristic: 'layer' as const }]) {
      const one = await encode(opts);
      const before = parallelStats.workerJobs;
      const two = await encode({ ...opts, threads: 2 });
      expect(two.equals(one)).toBe(true);
      // Layers with bit maps went to a worker (the layer-level baseline has none).
      if (opts.heuristic !== 'layer') expect(parallelStats.workerJobs).toBeGreaterThan(before);
    }
    await releaseBinarizeWorkers();
  });

  it('records bit maps, scales and distribution; 1.4 bits on average', async () => {
    const q = loadModel(CNN);
    await quantize(q, { avgBits: 1.4 });
    const r = readQuantRecord(q)!;
    expect(r.avgWeightBits).toBeCloseTo(1.4, 2);
    for (const w of r.weights) {
      const wc = readWeightCall(findWeightCall(q.graph, w.planes)!);
      const n = w.shape.reduce((x, y) => x * y, 1);
      expect([wc.k, ...wc.dims]).toEqual([3, ...w.shape]);
      const p = wc.planes;
      const hist = [0, 0, 0];
      for (let j = 0; j < n; j++) {
        let m = 0;
        for (let i = 0; i < 3; i++) if (p[i * n + j] !== 0) m++;
        hist[m - 1]++;
      }
      expect(hist).toEqual(w.histogram);
      expect(w.distribution).toEqual([0.7, 0.2, 0.1].map((x) => expect.closeTo(x, 9)));
    }
    expect(q.graph.nodes.filter(isWeightCall).length).toBe(4);
  });

  it('W1.4A1.4: activation binarizers calibrated to the target fractions', async () => {
    const q = loadModel(CNN);
    const res = await quantize(q, { avgBits: 1.4, actBits: 1.4, normalize: 'fmnist', calibLimit: 256 });
    const acts = res.record.activations;
    expect(acts.length).toBe(2);
    for (const a of acts) {
      expect(a.calibrated).toBe(true);
      expect(a.observed![0]).toBeCloseTo(0.7, 1);
    }
    expect(q.graph.nodes.filter(isActivationCall).length).toBe(2);
    const full = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION });
    const ev = await evaluate(q, full);
    expect(ev.top1).toBeGreaterThan(0.3);
  });
});
