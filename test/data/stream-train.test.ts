/**
 * Streamed training data (openDataSource + gather): a shuffled epoch read from an image folder
 * (decoded on worker threads, a few batches ahead) or from CIFAR binaries gives the bytes of
 * the in-memory path (loadDataset + gatherBatch); training from a streamed folder gives the
 * same model byte for byte as training from the loaded folder; the loader never holds more
 * than `prefetch` decoded batches. The workers run the compiled module: build first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gatherBatch, loadDataset, openDataSource, shuffledIndices, writeCifar, type Batch } from '../../src/data/index.js';
import { encodeModel } from '../../src/onnx/io.js';
import { trainFloat } from '../../src/train/index.js';
import { DataType } from '../../src/ir/dtype.js';
import { setTensorType } from '../../src/ir/types.js';
import { A, addFloatInit, addInput, addNode, newModel } from '../helpers/build.js';
import { tempDir } from './helpers.js';
import { bytes, pngBytes, writeFile } from './images.js';

const root = tempDir('hbnn-stream-train-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// 45 gray 8x8 PNGs in 3 classes (class c brighter on average), written here.
const folder = path.join(root, 'imgs');
for (let i = 0; i < 45; i++) {
  const c = i % 3;
  const px = bytes(64, i + 1).map((v) => Math.min(255, (v >> 2) + c * 60));
  writeFile(path.join(folder, `c${c}`, `${String(i).padStart(2, '0')}.png`), pngBytes(8, 8, 1, px));
}
const SPEC = `folder:${folder}:gray,mean=0.4,std=0.3`;

const bytesOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function drain(it: AsyncGenerator<Batch>, slow = false): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) {
    out.push(b);
    // A slow consumer lets the decoding run as far ahead as it may.
    if (slow) await new Promise((r) => setTimeout(r, 30));
  }
  return out;
}

/** x [N,1,8,8] → Flatten → Gemm(3) logits: a tiny classifier for the folder above. */
function tinyModel() {
  const m = newModel(13);
  const g = m.graph;
  const x = addInput(g, 'x', ['N', 1, 8, 8]);
  const f = addNode(g, 'Flatten', [x], ['f'], { axis: A.int(1) });
  const w = Float32Array.from(bytes(192, 99), (v) => (v - 128) / 1024);
  const y = addNode(g, 'Gemm', [f.outputs[0]!, addFloatInit(g, 'fc.w', [3, 64], w), addFloatInit(g, 'fc.b', [3])], ['logits'], { transB: A.int(1) }, { name: 'fc' });
  g.outputs.push(y.outputs[0]!);
  setTensorType(y.outputs[0]!, DataType.FLOAT, ['N', 3]);
  return m;
}

describe('streamed training data', () => {
  const ref = loadDataset(SPEC);

  it('a shuffled epoch from a folder (2 workers, prefetch 2) is gatherBatch of the loaded folder byte for byte; at most 2 batches are held ahead', async () => {
    const order = shuffledIndices(ref.count, 1234);
    const src = await openDataSource(SPEC, { decodeWorkers: 2, prefetch: 2 });
    try {
      const got = await drain(src.gather(order, 8), true);
      expect(got.map((b) => b.count)).toEqual([8, 8, 8, 8, 8, 5]);
      got.forEach((b, k) => {
        const want = gatherBatch(ref, order.subarray(k * 8, k * 8 + b.count));
        expect(b.start).toBe(-1);
        expect(bytesOf(b.images).equals(bytesOf(want.images)), `batch ${k}`).toBe(true);
        expect(Array.from(b.labels!)).toEqual(Array.from(want.labels!));
      });
      // Bounded memory: 6 batches were read, never more than `prefetch` decoded ahead.
      expect(src.stats.batches).toBe(6);
      expect(src.stats.peakBuffered).toBe(2);
      // A walk broken off after one batch stops there (its workers end with it).
      for await (const b of src.gather(order, 8)) {
        expect(b.count).toBe(8);
        break;
      }
      expect(src.stats.batches).toBe(7);
      expect(src.stats.peakBuffered).toBe(2);
      expect(() => src.gather([0, 45], 8)).toThrow(/sample index 45 is outside/);
    } finally {
      await src.close();
    }
  });

  it('a shuffled epoch from CIFAR binaries equals gatherBatch of loadDataset', async () => {
    const dir = path.join(root, 'cifar');
    fs.mkdirSync(dir);
    const n = 12;
    const labels = Array.from({ length: n }, (_, i) => (i * 7) % 10);
    writeCifar(path.join(dir, 'test_batch.bin'), 10, bytes(n * 3072, 5), labels);
    const spec = `cifar10:${dir}:test`;
    const all = loadDataset(spec);
    const order = shuffledIndices(n, 3);
    const src = await openDataSource(spec);
    const got = await drain(src.gather(order, 5));
    expect(got.map((b) => b.count)).toEqual([5, 5, 2]);
    got.forEach((b, k) => {
      const want = gatherBatch(all, order.subarray(k * 5, k * 5 + b.count));
      expect(bytesOf(b.images).equals(bytesOf(want.images))).toBe(true);
      expect(Array.from(b.labels!)).toEqual(Array.from(want.labels!));
    });
  });

  it('training from the streamed folder gives the model trained from the loaded folder, byte for byte (same seed, 2 epochs, shuffled)', async () => {
    const opts = { epochs: 2, batchSize: 8, lr: 0.05, seed: 11, threads: 1, limit: 40 };
    const a = await trainFloat(tinyModel(), ref, opts);
    const src = await openDataSource(SPEC, { decodeWorkers: 2, prefetch: 3 });
    const b = await trainFloat(tinyModel(), src, { ...opts, evalData: src, evalLimit: 20, keep: 'last' });
    await src.close();
    expect(b.log.epochs.map((e) => e.trainLoss)).toEqual(a.log.epochs.map((e) => e.trainLoss));
    expect(b.log.epochs.map((e) => e.steps)).toEqual([5, 5]);
    expect(Buffer.from(encodeModel(b.model)).equals(Buffer.from(encodeModel(a.model)))).toBe(true);
    // It learned something (not a no-op that would make the comparison empty).
    expect(a.log.epochs[1]!.trainLoss).toBeLessThan(a.log.epochs[0]!.trainLoss);
    expect(b.log.epochs[1]!.evalTop1).toBeGreaterThan(0);
    expect(src.stats.peakBuffered).toBeLessThanOrEqual(3);
  });
});
