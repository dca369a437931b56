/**
 * Real Fashion-MNIST: the Debian package dataset-fashion-mnist must be installed (CI installs
 * it). These tests fail, loudly, when it is missing; they never skip.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  FMNIST_CLASSES,
  FMNIST_FILES,
  FMNIST_MINI_COUNTS,
  FMNIST_NORMALIZATION,
  batches,
  bundledFmnistDir,
  bundledModelPath,
  checkFitsModelInput,
  fmnistDir,
  loadDataset,
  packageRoot,
  readIdx,
  type Dataset,
} from '../../src/data/index.js';

const fullDir = fmnistDir();
const split = (s: 'train' | 'test'): { images: string; labels: string } => ({
  images: path.join(fullDir, `${FMNIST_FILES[s].images}.gz`),
  labels: path.join(fullDir, `${FMNIST_FILES[s].labels}.gz`),
});

describe('full Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('is installed', () => {
    for (const s of ['train', 'test'] as const) {
      for (const f of Object.values(split(s))) {
        expect(fs.existsSync(f), `${f} is missing: run apt-get install dataset-fashion-mnist (or set HBNN_FMNIST_DIR)`).toBe(true);
      }
    }
  });

  it('fmnist:test has 10000 [1,28,28] images in [0,1] and labels 0..9; the first is 9 (Ankle boot)', () => {
    const ds = loadDataset('fmnist:test');
    expect([ds.count, ds.sampleShape, ds.numClasses, ds.images.length]).toEqual([10000, [1, 28, 28], 10, 10000 * 784]);
    const labels = ds.labels!;
    expect(labels.length).toBe(10000);
    // The first label as stored in the file: byte 8 of the decompressed idx1 file.
    const rawLabels = readIdx(split('test').labels);
    expect(rawLabels.data[0]).toBe(9);
    expect(labels[0]).toBe(9);
    expect(FMNIST_CLASSES[labels[0]!]).toBe('Ankle boot');
    expect(new Set(labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const counts = new Array<number>(10).fill(0);
    for (const l of labels) counts[l]!++;
    expect(counts).toEqual(new Array<number>(10).fill(1000));
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect([min, max]).toEqual([0, 1]);
  });

  it('fmnist:train has 60000 samples; limit keeps the first N', () => {
    const ds = loadDataset('fmnist:train', { limit: 100 });
    expect([ds.count, ds.labels!.length]).toEqual([100, 100]);
    const rawLabels = readIdx(split('train').labels);
    expect(rawLabels.shape).toEqual([60000]);
    expect(Array.from(ds.labels!)).toEqual(Array.from(rawLabels.data.subarray(0, 100) as Uint8Array));
  });
});

describe('bundled slice fixtures/fmnist', () => {
  for (const s of ['train', 'test'] as const) {
    const n = FMNIST_MINI_COUNTS[s];
    it(`${s}: the first ${n} samples of the full dataset, byte for byte`, () => {
      const full = split(s);
      for (const kind of ['images', 'labels'] as const) {
        const mine = readIdx(path.join(bundledFmnistDir(), `${FMNIST_FILES[s][kind]}.gz`));
        const theirs = readIdx(full[kind]);
        expect(mine.dtype).toBe('uint8');
        expect(mine.shape).toEqual([n, ...theirs.shape.slice(1)]);
        const per = mine.data.length / n;
        const a = Buffer.from(mine.data.buffer, mine.data.byteOffset, mine.data.byteLength);
        const b = Buffer.from(theirs.data.buffer, theirs.data.byteOffset, n * per);
        expect(a.equals(b), `${kind} differ from the first ${n} of ${full[kind]}`).toBe(true);
      }
    });

    it(`fmnist-mini:${s} loads ${n} samples equal to the first ${n} of fmnist:${s}`, () => {
      const mini = loadDataset(`fmnist-mini:${s}`);
      const full = loadDataset(`fmnist:${s}`, { limit: n });
      expect([mini.name, mini.count, mini.sampleShape, mini.numClasses]).toEqual([`fmnist-mini:${s}`, n, [1, 28, 28], 10]);
      expect(Buffer.from(mini.images.buffer).equals(Buffer.from(full.images.buffer))).toBe(true);
      expect(Array.from(mini.labels!)).toEqual(Array.from(full.labels!));
    });
  }

  it('ships deterministic gzip files (mtime 0, no file name, OS byte 255)', () => {
    for (const f of fs.readdirSync(bundledFmnistDir()).filter((x) => x.endsWith('.gz'))) {
      const head = fs.readFileSync(path.join(bundledFmnistDir(), f)).subarray(0, 10);
      expect(Array.from(head), f).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff]);
    }
  });

  it('finds the package root by its package.json', () => {
    const pj = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { name: string };
    expect(pj.name).toBe('hbnn-onnx');
  });
});

async function accuracy(modelFile: string, ds: Dataset): Promise<number> {
  const session = await ort.InferenceSession.create(modelFile);
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!;
  let correct = 0;
  for (const b of batches(ds, 500)) {
    const out = await session.run({ [input]: new ort.Tensor('float32', b.images, b.shape) });
    const logits = out[output]!.data as Float32Array;
    for (let i = 0; i < b.count; i++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (logits[i * 10 + c]! > logits[i * 10 + best]!) best = c;
      if (best === b.labels![i]) correct++;
    }
  }
  await session.release();
  return correct / ds.count;
}

describe('bundled models with the documented preprocessing', () => {
  // README: float test accuracy 91.1% (cnn) and 88.6% (mlp) on the 10000 test images.
  const cases = [
    { model: 'fmnist-cnn', expected: 0.911 },
    { model: 'fmnist-mlp', expected: 0.886 },
  ] as const;
  for (const { model, expected } of cases) {
    it(`${model} reaches its documented accuracy on fmnist:test with FMNIST_NORMALIZATION, and not without it`, async () => {
      const file = bundledModelPath(model);
      const ds = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION });
      checkFitsModelInput(ds, ['N', 1, 28, 28]);
      expect(Math.abs((await accuracy(file, ds)) - expected)).toBeLessThan(0.003);
      expect(await accuracy(file, loadDataset('fmnist-mini:test'))).toBeLessThan(0.5);
    });
  }
});
