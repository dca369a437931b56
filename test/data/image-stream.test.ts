/**
 * Streamed loading (openDataSource): folder: images decoded on worker threads, in order and
 * byte for byte as loadDataset; CIFAR read batch by batch; eval and train on image folders.
 * The workers run the compiled module (dist/src/data/decode-worker.js): build first (`npx tsc -p .`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset, NORMALIZATION_KEY, openDataSource, writeCifar, writeNpy, type Batch, type DataSource } from '../../src/data/index.js';
import { loadModel } from '../../src/onnx/io.js';
import { ErrorCodes, HbnnError } from '../../src/errors.js';
import { cli, FMNIST_CNN } from '../cli/helpers.js';
import { loadTrainingData, trainingFromCli } from '../../src/cli/run/train.js';
import { openSweepData } from '../../src/cli/sweep.js';
import { tempDir } from './helpers.js';
import { bytes, jpegBytes, pngBytes, smoothRgb, writeFile, writeFmnistPngs } from './images.js';

const root = tempDir('hbnn-stream-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = path.join(root, `s${n++}`);
  fs.mkdirSync(d);
  return d;
};

async function collect(src: DataSource, size: number): Promise<Batch[]> {
  const out: Batch[] = [];
  try {
    for await (const b of src.batches(size)) out.push(b);
  } finally {
    await src.close();
  }
  return out;
}

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const joined = (bs: Batch[]): Buffer => Buffer.concat(bs.map((b) => bytesOf(b.images)));

async function rejection(p: Promise<unknown>): Promise<HbnnError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HbnnError);
    return e as HbnnError;
  }
  throw new Error('expected a rejection');
}

// 23 mixed PNG/JPEG images of different sizes in 3 classes: resize + crop make them fit.
const mixed = fresh();
for (let i = 0; i < 23; i++) {
  const w = 20 + (i % 5) * 3;
  const h = 18 + (i % 4) * 4;
  const f = path.join(mixed, `c${i % 3}`, `${String(i).padStart(2, '0')}.${i % 2 ? 'png' : 'jpg'}`);
  writeFile(f, i % 2 ? pngBytes(w, h, 3, bytes(w * h * 3, i)) : jpegBytes(w, h, smoothRgb(w, h, i)));
}
const SPEC = `folder:${mixed}:resize=18,crop=16,mean=0.5,0.4,0.3,std=0.2,0.25,0.3`;

describe('openDataSource: folder:', () => {
  const ref = loadDataset(SPEC);

  for (const workers of [0, 1, 3]) {
    it(`${workers} worker(s): the batches in order are loadDataset's samples, byte for byte`, async () => {
      const src = await openDataSource(SPEC, { decodeWorkers: workers, prefetch: 2 });
      expect(src.count).toBe(23);
      expect(src.sampleShape).toEqual([3, 16, 16]);
      expect(src.decodeWorkers).toBe(workers);
      expect(src.workers).toBe(workers);
      expect(Array.from(src.labels!)).toEqual(Array.from(ref.labels!));
      const bs = await collect(src, 5);
      expect(bs.map((b) => [b.start, b.count])).toEqual([[0, 5], [5, 5], [10, 5], [15, 5], [20, 3]]);
      expect(joined(bs).equals(bytesOf(ref.images))).toBe(true);
      expect(bs.flatMap((b) => Array.from(b.labels!))).toEqual(Array.from(ref.labels!));
    });
  }

  it('the deprecated option name `workers` still sets the decoding workers (same samples); disagreeing with decodeWorkers or out of range is invalid-option', async () => {
    const src = await openDataSource(SPEC, { workers: 2 });
    expect(src.decodeWorkers).toBe(2);
    expect(joined(await collect(src, 7)).equals(bytesOf(ref.images))).toBe(true);
    const same = await openDataSource(SPEC, { workers: 2, decodeWorkers: 2 });
    expect(same.decodeWorkers).toBe(2);
    await same.close();
    const both = await rejection(openDataSource(SPEC, { workers: 2, decodeWorkers: 3 }));
    expect(both.code).toBe(ErrorCodes.INVALID_OPTION);
    expect(both.message).toContain('decodeWorkers (3) and its deprecated name workers (2) disagree');
    for (const bad of [{ decodeWorkers: 257 }, { decodeWorkers: -1 }, { workers: 1.5 }]) {
      expect((await rejection(openDataSource(SPEC, bad))).code, JSON.stringify(bad)).toBe(ErrorCodes.INVALID_OPTION);
    }
  });

  it('a corrupt image fails the batch that holds it, naming the first bad file in sample order', async () => {
    const dir = fresh();
    for (let i = 0; i < 12; i++) writeFile(path.join(dir, 'a', `${String(i).padStart(2, '0')}.png`), pngBytes(8, 8, 1, bytes(64, i)));
    const bad1 = writeFile(path.join(dir, 'a', '07.png'), bytes(40, 1));
    writeFile(path.join(dir, 'a', '10.png'), bytes(40, 2));
    const src = await openDataSource(`folder:${dir}`, { decodeWorkers: 3 });
    const err = await rejection(collect(src, 6));
    expect(err.code).toBe(ErrorCodes.DATA_FORMAT);
    expect(err.context.file).toBe(bad1);
  });

  it('labels beyond numClasses are refused before any decoding, naming the file', async () => {
    const err = await rejection(openDataSource(SPEC, { numClasses: 2, decodeWorkers: 1 }));
    expect(err.code).toBe(ErrorCodes.DATA_MISMATCH);
    expect(err.context.file).toBe(path.join(mixed, 'c2', '02.jpg'));
  });
});

describe('openDataSource: cifar10:', () => {
  it('reads batches across the batch files, equal to loadDataset', async () => {
    const dir = fresh();
    for (let b = 1; b <= 5; b++) writeCifar(path.join(dir, `data_batch_${b}.bin`), 10, bytes(3 * 3072, b), [b, b + 1, b + 2].map((x) => x % 10));
    const ref = loadDataset(`cifar10:${dir}:train`, { normalize: { mean: [0.5], std: [0.5] } });
    const src = await openDataSource(`cifar10:${dir}:train`, { normalize: { mean: [0.5], std: [0.5] } });
    const bs = await collect(src, 4);
    expect(bs.map((b) => b.count)).toEqual([4, 4, 4, 3]);
    expect(joined(bs).equals(bytesOf(ref.images))).toBe(true);
    expect(bs.flatMap((b) => Array.from(b.labels!))).toEqual(Array.from(ref.labels!));
  });
});

describe('eval and train on image folders', () => {
  const pngs = fresh();
  writeFmnistPngs(pngs, 1000);

  it('eval on the Fashion-MNIST test images as PNGs gives the accuracy of fmnist-mini:test', async () => {
    const ref = await cli(['eval', FMNIST_CNN, '--data', 'fmnist-mini:test', '--limit', '1000', '--normalize', 'fmnist', '--json']);
    expect(ref.code, ref.stderr).toBe(0);
    const r = await cli(['eval', FMNIST_CNN, '--data', `folder:${pngs}:fmnist`, '--decode-workers', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const a = JSON.parse(ref.stdout) as { samples: number; top1: number; top5: number; perClass: { cls: number; samples: number; accuracy: number }[] };
    const b = JSON.parse(r.stdout) as typeof a;
    expect(b.samples).toBe(1000);
    expect(b.top1).toBe(a.top1);
    expect(b.top5).toBe(a.top5);
    expect(b.top1).toBeGreaterThan(0.85);
    expect(b.perClass.map(({ cls, samples, accuracy }) => ({ cls, samples, accuracy }))).toEqual(
      a.perClass.map(({ cls, samples, accuracy }) => ({ cls, samples, accuracy })),
    );
  });

  it('eval --workers, the deprecated name of --decode-workers: the same result, and one notice line on stderr; both disagreeing or out of range is invalid-option', async () => {
    const data = `folder:${pngs}:fmnist`;
    const withoutMs = (stdout: string): unknown => ({ ...(JSON.parse(stdout) as Record<string, unknown>), ms: 0 });
    const named = await cli(['eval', FMNIST_CNN, '--data', data, '--limit', '300', '--decode-workers', '2', '--json']);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stderr).toBe('');
    const old = await cli(['eval', FMNIST_CNN, '--data', data, '--limit', '300', '--workers', '2', '--json']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toBe('hbnn-onnx: warning: eval --workers is deprecated; use --decode-workers (the same meaning: threads decoding folder: images)\n');
    expect(withoutMs(old.stdout)).toEqual(withoutMs(named.stdout));
    expect((JSON.parse(named.stdout) as { samples: number }).samples).toBe(300);
    const both = await cli(['eval', FMNIST_CNN, '--data', data, '--decode-workers', '2', '--workers', '3']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^hbnn-onnx: error\[invalid-option\]: --decode-workers 2 and --workers 3 \(its deprecated name\) disagree/);
    for (const flag of ['--decode-workers', '--workers']) {
      const bad = await cli(['eval', FMNIST_CNN, '--data', data, flag, '257']);
      expect(bad.code, flag).toBe(2);
      expect(bad.stderr, flag).toContain(`${flag} must be an integer from 0 to 256, got '257'`);
    }
  });

  it('train --decode-workers: both data sources decode on that many threads; 0 and 2 train the same model byte for byte; out of range is invalid-option', async () => {
    const data = `folder:${pngs}:fmnist`;
    const spec = trainingFromCli({ trainData: data, evalData: data, decodeWorkers: '3' }, root, false);
    const opened = loadTrainingData(spec, loadModel(FMNIST_CNN), undefined, root);
    expect([opened.train.decodeWorkers, opened.eval!.decodeWorkers]).toEqual([3, 3]);
    await Promise.all([opened.train.close(), opened.eval!.close()]);
    const work = fresh();
    fs.copyFileSync(FMNIST_CNN, path.join(work, 'float.onnx'));
    const outs: Buffer[] = [];
    for (const n of ['0', '2']) {
      const t = await cli(['train', 'float.onnx', '--train-data', data, '--train-limit', '256', '--batch-size', '64', '--max-steps', '2', '--threads', '1', '--decode-workers', n, '-o', `out${n}.onnx`], { cwd: work });
      expect(t.code, t.stderr).toBe(0);
      outs.push(fs.readFileSync(path.join(work, `out${n}.onnx`)));
    }
    expect(outs[0]!.equals(outs[1]!)).toBe(true);
    const bad = await cli(['train', 'float.onnx', '--train-data', data, '--decode-workers', '300', '-o', 'bad.onnx'], { cwd: work });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--decode-workers must be an integer from 0 to 256, got '300'");
    expect(fs.existsSync(path.join(work, 'bad.onnx'))).toBe(false);
  });

  it('sweep --decode-workers: the source decodes on that many threads; 0 and 2 give the same points; out of range is invalid-option, nothing written', async () => {
    const data = `folder:${pngs}:fmnist`;
    const src = await openSweepData({ model: FMNIST_CNN, data, decodeWorkers: 3, options: { bits: [1.4], heuristics: ['middle-out'], float: false } }, root, undefined);
    expect(src.decodeWorkers).toBe(3);
    await src.close();
    const work = fresh();
    const points: unknown[] = [];
    for (const n of ['0', '2']) {
      const r = await cli(['sweep', FMNIST_CNN, '--data', data, '--limit', '200', '--bits', '1.4', '--heuristics', 'middle-out', '--no-float', '--decode-workers', n, '--json', '-o', path.join(work, `s${n}`)]);
      expect(r.code, r.stderr).toBe(0);
      points.push((JSON.parse(r.stdout) as { points: Record<string, unknown>[] }).points.map(({ heuristic, bits, avgWeightBits, top1, top5, samples }) => ({ heuristic, bits, avgWeightBits, top1, top5, samples })));
    }
    expect(points[1]).toEqual(points[0]);
    const bad = await cli(['sweep', FMNIST_CNN, '--data', data, '--decode-workers', '300', '-o', path.join(work, 'bad')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--decode-workers must be an integer from 0 to 256, got '300'");
    expect(fs.existsSync(path.join(work, 'bad'))).toBe(false);
  });

  it('a class beyond the model\'s 10: eval and train stop with data-mismatch naming the file; nothing is written', async () => {
    const dir = fresh();
    for (let c = 0; c <= 10; c++) writeFile(path.join(dir, `k${String(c).padStart(2, '0')}`, 'x.png'), pngBytes(28, 28, 1, bytes(784, c)));
    const odd = path.join(dir, 'k10', 'x.png');
    const e = await cli(['eval', FMNIST_CNN, '--data', `folder:${dir}:fmnist`]);
    expect(e.code).toBe(3);
    expect(e.stderr).toMatch(/^hbnn-onnx: error\[data-mismatch\]: /);
    expect(e.stderr).toContain(odd);
    const work = fresh();
    fs.copyFileSync(FMNIST_CNN, path.join(work, 'float.onnx'));
    const t = await cli(['train', 'float.onnx', '--train-data', `folder:${dir}:fmnist`, '--max-steps', '1', '-o', 'out.onnx'], { cwd: work });
    expect(t.code, t.stderr).toBe(3);
    expect(t.stderr).toMatch(/^hbnn-onnx: error\[data-mismatch\]: /);
    expect(t.stderr).toContain(odd);
    expect(fs.readdirSync(work)).toEqual(['float.onnx']);
  });

  it('quantize calibrates from folder: data exactly as from the same samples in .npy files', async () => {
    // The same pixels as uint8: the .npy path scales them by 1/255 and applies the model's
    // recorded normalization (fmnist), the folder path its preset's (the same values).
    const ds = loadDataset(`folder:${pngs}:gray`, { limit: 32, scale: 1 });
    const work = fresh();
    writeNpy(path.join(work, 'x.npy'), { dtype: 'uint8', shape: [32, 1, 28, 28], data: Uint8Array.from(ds.images) });
    writeNpy(path.join(work, 'y.npy'), { dtype: 'int32', shape: [32], data: ds.labels! });
    const q = (data: string, out: string) =>
      cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '--act-bits', '1.4', '--calib-data', data, '--calib-limit', '32', '-o', out], { cwd: work });
    const a = await q(`folder:${pngs}:fmnist`, 'a.onnx');
    expect(a.code, a.stderr).toBe(0);
    const b = await q('npy:x.npy,y.npy', 'b.onnx');
    expect(b.code, b.stderr).toBe(0);
    // the model records the normalization its calibration data had (the folder preset's)
    expect(loadModel(path.join(work, 'a.onnx')).getMetadata(NORMALIZATION_KEY)).toBe('0.286:0.353');
    expect(fs.readFileSync(path.join(work, 'a.onnx')).equals(fs.readFileSync(path.join(work, 'b.onnx')))).toBe(true);
  });

  it('train on bad image folders: each a typed error naming the file, and nothing is written', async () => {
    const fine = (dir: string): void => {
      for (let c = 0; c < 3; c++) writeFile(path.join(dir, `${c}`, 'a.png'), pngBytes(28, 28, 1, bytes(784, c)));
    };
    const cases: [string, (dir: string) => string, string][] = [
      ['a corrupt JPEG', (d) => writeFile(path.join(d, '1', 'b.jpg'), jpegBytes(28, 28, smoothRgb(28, 28, 1)).subarray(0, 200)), 'data-format'],
      ['a corrupt PNG', (d) => writeFile(path.join(d, '2', 'b.png'), Buffer.concat([pngBytes(28, 28, 1, bytes(784, 5)).subarray(0, 50), Buffer.alloc(30)])), 'data-format'],
      ['an empty class folder', (d) => (fs.mkdirSync(path.join(d, '3')), path.join(d, '3')), 'data-format'],
      ['a label outside the model\'s classes', (d) => {
        for (let c = 3; c <= 10; c++) writeFile(path.join(d, `c${c}`, 'x.png'), pngBytes(28, 28, 1, bytes(784, c)));
        return path.join(d, 'c9', 'x.png'); // sorted: 0 1 2 c10 c3 … c9, so c9 is label 10
      }, 'data-mismatch'],
      ['mixed image sizes without a resize', (d) => writeFile(path.join(d, '2', 'big.png'), pngBytes(30, 28, 1, bytes(840, 7))), 'data-mismatch'],
    ];
    for (const [what, spoil, code] of cases) {
      const dir = fresh();
      fine(dir);
      const named = spoil(dir);
      const work = fresh();
      fs.copyFileSync(FMNIST_CNN, path.join(work, 'float.onnx'));
      const t = await cli(['train', 'float.onnx', '--train-data', `folder:${dir}:fmnist`, '--max-steps', '1', '-o', 'out.onnx'], { cwd: work });
      expect(t.code, `${what}: ${t.stderr}`).toBe(3);
      expect(t.stderr, what).toMatch(new RegExp(`^hbnn-onnx: error\\[${code}\\]: `));
      expect(t.stderr, what).toContain(named);
      expect(fs.readdirSync(work), what).toEqual(['float.onnx']);
    }
  });

  it('a corrupt PNG in the calibration folder: quantize stops with data-format naming it; nothing is written', async () => {
    const dir = fresh();
    for (let c = 0; c < 2; c++) writeFile(path.join(dir, `${c}`, 'a.png'), pngBytes(28, 28, 1, bytes(784, c)));
    const bad = writeFile(path.join(dir, '1', 'b.png'), pngBytes(28, 28, 1, bytes(784, 9)).subarray(0, 100));
    const work = fresh();
    fs.copyFileSync(FMNIST_CNN, path.join(work, 'float.onnx'));
    const q = await cli(['quantize', 'float.onnx', '--act-bits', '1', '--calib-data', `folder:${dir}:fmnist`, '-o', 'q.onnx'], { cwd: work });
    expect(q.code, q.stderr).toBe(3);
    expect(q.stderr).toMatch(/^hbnn-onnx: error\[data-format\]: /);
    expect(q.stderr).toContain(bad);
    expect(fs.readdirSync(work)).toEqual(['float.onnx']);
  });
});
