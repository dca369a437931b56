/**
 * Fine-tuning and float training on the bundled Fashion-MNIST slice: the loss falls, the
 * returned model is a quantized-format model that stock onnxruntime runs, it beats the model
 * before fine-tuning, and runs are reproducible (same seed) and resumable (same result).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { quantize } from '../../src/drivers/quantize.js';
import { readQuantRecord, isWeightCall } from '../../src/quant/format.js';
import { encodeModel, decodeModel } from '../../src/onnx/io.js';
import { evaluate } from '../../src/runtime/infer.js';
import { fineTune, trainFloat, loadCheckpoint, type TrainEvent } from '../../src/train/index.js';
import { loadCnn, mini, tmpDir } from './helpers/data.js';
import type { Model } from '../../src/ir/graph.js';
import { findWeightCall, readWeightCall } from '../../src/quant/planes.js';


async function quantized(opts: Parameters<typeof quantize>[1]): Promise<Model> {
  const q = loadCnn();
  await quantize(q, { normalize: 'fmnist', calibLimit: 256, ...opts });
  return q;
}

/** The decoded planes (int8 [K, n], either encoding) of the weight call whose key initializer is `name`. */
function planesOf(m: Model, name: string): Int8Array {
  return readWeightCall(findWeightCall(m.graph, name)!).planes;
}

describe('fineTune', () => {
  it('W1.4A1.4 on fmnist-mini: the loss falls and the quantized model beats the one before fine-tuning', async () => {
    const q = await quantized({ avgBits: 1.4, actBits: 1.4 });
    const losses: number[] = [];
    const r = await fineTune(q, mini('train'), {
      latentFrom: loadCnn(),
      evalData: mini('test'),
      batchSize: 64,
      maxSteps: 30,
      threads: 2,
      onProgress: (e: TrainEvent) => {
        if (e.type === 'step') losses.push(e.loss);
      },
    });
    expect(losses.length).toBe(30);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
    const before = r.log.before!.evalTop1;
    const after = r.log.epochs[0]!.evalTop1!;
    expect(after).toBeGreaterThan(before + 0.05);
    expect(r.log.stopped).toBe('max-steps');

    // The returned model: quantized format, no float copies of binarized weights, and stock
    // onnxruntime (fresh from its bytes) scores exactly what the log says.
    const m = decodeModel(encodeModel(r.model));
    const rec = readQuantRecord(m)!;
    expect(rec.weights.length).toBe(4);
    expect(rec.activations.length).toBe(2);
    expect(m.graph.nodes.filter(isWeightCall).length).toBe(4);
    for (const w of rec.weights) {
      expect(m.graph.get(w.tensor)).toBeUndefined();
      const p = planesOf(m, w.planes);
      expect(p.every((v) => v === -1 || v === 0 || v === 1)).toBe(true);
      expect(w.histogram.reduce((a, b) => a + b, 0)).toBe(w.shape.reduce((a, b) => a * b, 1));
    }
    expect(rec.avgWeightBits).toBeCloseTo(1.4, 2);
    const ev = await evaluate(m, mini('test'));
    expect(ev.top1).toBe(after);
    // the input model is not modified
    expect(encodeModel(q)).toEqual(encodeModel(await quantized({ avgBits: 1.4, actBits: 1.4 })));
  });

  it('is reproducible: same seed, same bytes; another seed, other bytes', async () => {
    const q = await quantized({ avgBits: 1.4 });
    const opts = { latentFrom: loadCnn(), batchSize: 64, limit: 384, threads: 1, seed: 3 } as const;
    const a = await fineTune(q, mini('train'), opts);
    const b = await fineTune(q, mini('train'), opts);
    const c = await fineTune(q, mini('train'), { ...opts, seed: 4 });
    expect(Buffer.from(encodeModel(a.model)).equals(Buffer.from(encodeModel(b.model)))).toBe(true);
    expect(a.log.epochs[0]!.trainLoss).toBe(b.log.epochs[0]!.trainLoss);
    expect(Buffer.from(encodeModel(a.model)).equals(Buffer.from(encodeModel(c.model)))).toBe(false);
  });

  it('resumes from a checkpoint written on interruption and ends with the same model', async () => {
    const q = await quantized({ avgBits: 1.4, actBits: 1.4 });
    const opts = { latentFrom: loadCnn(), batchSize: 64, limit: 256, epochs: 2, threads: 1, seed: 1, evalData: mini('test', 256) } as const;
    const full = await fineTune(q, mini('train'), opts);
    expect(full.log.epochs.length).toBe(2);
    // the returned model is the best epoch's
    expect(full.log.kept).toBe('best');
    expect(full.log.best!.evalTop1).toBe(Math.max(...full.log.epochs.map((e) => e.evalTop1!)));
    expect((await evaluate(full.model, mini('test', 256))).top1).toBe(full.log.best!.evalTop1);

    const dir = tmpDir('resume');
    const ac = new AbortController();
    const part = await fineTune(q, mini('train'), {
      ...opts,
      checkpointDir: dir,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'step' && e.globalStep === 6) ac.abort();
      },
    });
    expect(part.interrupted).toBe(true);
    expect(part.log.stopped).toBe('interrupted');
    const ck = loadCheckpoint(dir);
    expect([ck.meta.epoch, ck.meta.stepInEpoch, ck.meta.globalStep]).toEqual([1, 2, 6]);

    const resumed = await fineTune(q, mini('train'), { ...opts, checkpointDir: dir, resume: true });
    expect(resumed.log.resumedFrom).toBe(`${dir}/last.json`);
    expect(resumed.log.before).toEqual(full.log.before);
    expect(resumed.log.best).toEqual(full.log.best);
    expect(resumed.log.epochs.map((e) => e.trainLoss)).toEqual(full.log.epochs.map((e) => e.trainLoss));
    expect(Buffer.from(encodeModel(resumed.model)).equals(Buffer.from(encodeModel(full.model)))).toBe(true);
    // only the current binaries remain beside the JSON files
    expect(fs.readdirSync(dir).sort()).toEqual(['best.8.bin', 'best.json', 'last.8.bin', 'last.json']);
  });

  it('keeps bit maps fixed with freezeBitMapsAfter: 0, recomputes them by default', async () => {
    const q = await quantized({ avgBits: 1.4 });
    const rec0 = readQuantRecord(q)!;
    const opts = { latentFrom: loadCnn(), batchSize: 64, maxSteps: 8, threads: 2, lr: 0.05 } as const;
    const frozen = await fineTune(q, mini('train'), { ...opts, freezeBitMapsAfter: 0 });
    const moving = await fineTune(q, mini('train'), opts);
    const zeros = (m: Model, name: string): string => Array.from(planesOf(m, name), (v) => (v === 0 ? '0' : '1')).join('');
    let changed = 0;
    for (const w of rec0.weights) {
      expect(zeros(frozen.model, w.planes)).toBe(zeros(q, w.planes));
      if (zeros(moving.model, w.planes) !== zeros(q, w.planes)) changed++;
    }
    expect(changed).toBeGreaterThan(0);
    expect(frozen.log.epochs[0]!.bitMapsFrozen).toBe(true);
  });
});

describe('fineTune with bitMapEvery', () => {
  it('recomputes the bit maps every N steps and holds them in between; a resumed run holds the same maps', async () => {
    const q = await quantized({ avgBits: 1.4 });
    const rec0 = readQuantRecord(q)!;
    const zeros = (m: Model, name: string): string => Array.from(planesOf(m, name), (v) => (v === 0 ? '0' : '1')).join('');
    const base = { latentFrom: loadCnn(), batchSize: 64, threads: 1, lr: 0.05 } as const;
    // steps 0..3 all use (and the model keeps) the map of step 0: the quantizer's (latent = float weights)
    const held = await fineTune(q, mini('train'), { ...base, maxSteps: 4, bitMapEvery: 4 });
    expect(held.log.options['bitMapEvery']).toBe(4);
    for (const w of rec0.weights) expect(zeros(held.model, w.planes), w.planes).toBe(zeros(q, w.planes));
    // step 4 recomputes them
    const next = await fineTune(q, mini('train'), { ...base, maxSteps: 5, bitMapEvery: 4 });
    expect(rec0.weights.filter((w) => zeros(next.model, w.planes) !== zeros(q, w.planes)).length).toBeGreaterThan(0);
    // interrupted after step 6 (its maps from step 4, held through step 7) and resumed: the same model
    const opts = { ...base, limit: 256, epochs: 2, seed: 1, bitMapEvery: 4, evalData: mini('test', 256) } as const;
    const full = await fineTune(q, mini('train'), opts);
    const dir = tmpDir('bitmap-every');
    const ac = new AbortController();
    await fineTune(q, mini('train'), { ...opts, checkpointDir: dir, signal: ac.signal, onProgress: (e) => e.type === 'step' && e.globalStep === 6 && ac.abort() });
    expect(loadCheckpoint(dir).meta.globalStep).toBe(6);
    const resumed = await fineTune(q, mini('train'), { ...opts, checkpointDir: dir, resume: true });
    expect(resumed.log.epochs.map((e) => e.trainLoss)).toEqual(full.log.epochs.map((e) => e.trainLoss));
    expect(Buffer.from(encodeModel(resumed.model)).equals(Buffer.from(encodeModel(full.model)))).toBe(true);
    await expect(fineTune(q, mini('train'), { ...base, maxSteps: 1, bitMapEvery: 0 })).rejects.toThrow(/bitMapEvery/);
  });
});

describe('fineTune with row-granular bit maps', () => {
  /** The bitwidth of each output channel (Conv, Gemm transB=1: axis 0); throws on a channel with mixed widths. */
  function channelWidths(m: Model, planes: string, shape: number[]): number[] {
    const p = planesOf(m, planes);
    const n = shape.reduce((a, b) => a * b, 1);
    const size = n / shape[0]!;
    const k = p.length / n;
    return Array.from({ length: shape[0]! }, (_, c) => {
      const bits = (j: number): number => {
        let b = 0;
        for (let i = 0; i < k; i++) if (p[i * n + j] !== 0) b++;
        return b;
      };
      const b0 = bits(c * size);
      for (let j = c * size; j < (c + 1) * size; j++) if (bits(j) !== b0) throw new Error(`${planes}: channel ${c} mixes bitwidths`);
      return b0;
    });
  }

  it('re-binarizes with one bitwidth per output channel every step; frozen maps stay the quantizer\'s', async () => {
    const q = await quantized({ avgBits: 1.4, granularity: 'row' });
    const rec0 = readQuantRecord(q)!;
    expect(rec0.weights.every((w) => w.granularity === 'row')).toBe(true);
    const opts = { latentFrom: loadCnn(), batchSize: 64, maxSteps: 8, threads: 2, lr: 0.05, evalData: mini('test', 256) } as const;
    const moving = await fineTune(q, mini('train'), opts);
    const frozen = await fineTune(q, mini('train'), { ...opts, freezeBitMapsAfter: 0 });
    const recM = readQuantRecord(moving.model)!;
    expect(recM.avgWeightBits).toBeCloseTo(rec0.avgWeightBits, 12);
    for (const [i, w] of recM.weights.entries()) {
      expect(w.granularity).toBe('row');
      const widths = channelWidths(moving.model, w.planes, w.shape);
      expect(new Set(widths).size, w.node).toBeGreaterThan(1);
      // Whole channels per width: the histogram (entries) is the row counts times the row length.
      expect(w.histogram).toEqual(rec0.weights[i]!.histogram);
      expect(channelWidths(frozen.model, w.planes, w.shape)).toEqual(channelWidths(q, w.planes, w.shape));
    }
    // The fine-tuned model is better than before and scores what the log says.
    expect(moving.log.epochs[0]!.evalTop1!).toBeGreaterThan(moving.log.before!.evalTop1);
    expect((await evaluate(moving.model, mini('test', 256))).top1).toBe(moving.log.best!.evalTop1);
  });
});

describe('trainFloat', () => {
  it('trains the float model: the loss on a fixed batch falls, the model stays a plain ONNX model', async () => {
    const losses: number[] = [];
    const model = loadCnn();
    // 64 samples, batches of 64: every step sees the same batch, so the loss must fall
    const r = await trainFloat(model, mini('train'), {
      batchSize: 64,
      limit: 64,
      epochs: 12,
      threads: 2,
      optimizer: 'adam',
      lr: 1e-3,
      onProgress: (e) => {
        if (e.type === 'step') losses.push(e.loss);
      },
    });
    expect(readQuantRecord(r.model)).toBeUndefined();
    expect(r.model.graph.get('c1.weight')!.constValue!.toFloat32()).not.toEqual(model.graph.get('c1.weight')!.constValue!.toFloat32());
    expect(losses.length).toBe(12);
    expect(losses[11]!).toBeLessThan(0.7 * losses[0]!);
    // running statistics were updated
    expect(r.model.graph.get('b1.running_mean')!.constValue!.toFloat32()).not.toEqual(model.graph.get('b1.running_mean')!.constValue!.toFloat32());
  });
});

describe('interruption', () => {
  it('SIGINT during training saves a mid-epoch checkpoint and returns interrupted', async () => {
    const q = await quantized({ avgBits: 1.4 });
    const dir = tmpDir('sigint');
    const before = process.listenerCount('SIGINT');
    const r = await fineTune(q, mini('train'), {
      latentFrom: loadCnn(),
      batchSize: 64,
      limit: 640,
      threads: 2,
      checkpointDir: dir,
      onProgress: (e) => {
        if (e.type === 'step' && e.globalStep === 3) process.emit('SIGINT');
      },
    });
    expect(r.interrupted).toBe(true);
    expect(loadCheckpoint(dir).meta.globalStep).toBe(3);
    expect(r.log.checkpoint).toBe(`${dir}/last.json`);
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
