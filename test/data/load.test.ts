import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  DATA_SPEC_HELP,
  formatDataSpec,
  loadDataset,
  parseDataSpec,
  writeIdx,
  writeNpy,
  type DataSpec,
} from '../../src/data/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectError, tempDir } from './helpers.js';
import { decodeTestTensor, encodeTensorProto, floatTensor, UINT8 } from './tensor-proto.js';

const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** 6 images of 2×3, pixel value = 10*sample + position; labels 0..5 mod 3. */
function writeIdxPair(dir: string, prefix = 'toy', gzip = true): { images: string; labels: string } {
  fs.mkdirSync(dir, { recursive: true });
  const px = Uint8Array.from({ length: 36 }, (_, i) => Math.floor(i / 6) * 10 + (i % 6));
  const ext = gzip ? '.gz' : '';
  const images = path.join(dir, `${prefix}-images-idx3-ubyte${ext}`);
  const labels = path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`);
  writeIdx(images, { dtype: 'uint8', shape: [6, 2, 3], data: px });
  writeIdx(labels, { dtype: 'uint8', shape: [6], data: Uint8Array.from([0, 1, 2, 0, 1, 2]) });
  return { images, labels };
}

describe('parseDataSpec', () => {
  const good: [string, DataSpec][] = [
    ['fmnist:test', { kind: 'fmnist', split: 'test', bundled: false }],
    ['fmnist:train', { kind: 'fmnist', split: 'train', bundled: false }],
    ['fmnist-mini:test', { kind: 'fmnist', split: 'test', bundled: true }],
    ['fmnist-mini:train', { kind: 'fmnist', split: 'train', bundled: true }],
    ['idx:a.gz', { kind: 'idx', images: 'a.gz' }],
    ['idx:/d/a.gz,/d/b.gz', { kind: 'idx', images: '/d/a.gz', labels: '/d/b.gz' }],
    ['npy:x.npy', { kind: 'npy', x: 'x.npy' }],
    ['npy:x.npy,y.npy', { kind: 'npy', x: 'x.npy', y: 'y.npy' }],
    ['pb:models/m/test_data_set_0', { kind: 'pb', dir: 'models/m/test_data_set_0' }],
    ['./data', { kind: 'path', path: './data' }],
    ['/abs/x.npy', { kind: 'path', path: '/abs/x.npy' }],
    ['./odd:name', { kind: 'path', path: './odd:name' }],
    ['C:\\data\\x.npy', { kind: 'path', path: 'C:\\data\\x.npy' }],
  ];
  for (const [spec, want] of good) {
    it(`parses ${spec}`, () => {
      expect(parseDataSpec(spec)).toEqual(want);
      expect(formatDataSpec(want)).toBe(spec);
    });
  }

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['fmnist', /name the split: fmnist:test or fmnist:train/],
    ['npy', /needs a path/],
    ['fmnist:', /split must be 'test' or 'train'/],
    ['fmnist:validation', /split must be 'test' or 'train', got 'validation'/],
    ['fmnist-mini:t10k', /split/],
    ['fmnst:test', /unknown source 'fmnst:'/],
    ['idx:', /needs a path/],
    ['npy:a.npy,b.npy,c.npy', /one or two/],
    ['npy:a.npy,', /one or two/],
    ['pb:', /needs a path/],
  ];
  for (const [spec, re] of bad) {
    it(`rejects '${spec}' with INVALID_OPTION and the help`, () => {
      const e = expectError(() => parseDataSpec(spec), ErrorCodes.INVALID_OPTION);
      expect(e.message).toMatch(re);
      expect(e.message).toContain(DATA_SPEC_HELP);
    });
  }

  it('documents every form in DATA_SPEC_HELP', () => {
    for (const form of ['fmnist:test', 'fmnist:train', 'fmnist-mini:test', 'fmnist-mini:train', 'idx:', 'npy:', 'pb:', 'PATH', 'HBNN_FMNIST_DIR']) {
      expect(DATA_SPEC_HELP).toContain(form);
    }
  });
});

describe('loadDataset from files', () => {
  const idxDir = path.join(root, 'idx');
  const pair = writeIdxPair(idxDir);

  it('loads idx:IMAGES,LABELS with uint8 scaled by 1/255 and a channel axis', () => {
    const ds = loadDataset(`idx:${pair.images},${pair.labels}`);
    expect([ds.name, ds.count, ds.sampleShape, ds.numClasses, ds.layout]).toEqual([
      `idx:${pair.images},${pair.labels}`,
      6,
      [1, 2, 3],
      3,
      'NCHW',
    ]);
    expect(ds.images.length).toBe(36);
    expect(ds.images[7]).toBe(Math.fround(11 / 255));
    expect(Array.from(ds.labels!)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(ds.preprocessing).toEqual({ scale: 1 / 255 });
    expect(ds.files).toEqual([pair.images, pair.labels]);
  });

  it('loads a bare folder of IDX files and pairs the labels', () => {
    const ds = loadDataset(idxDir);
    expect([ds.count, ds.labels?.length]).toEqual([6, 6]);
  });

  it('applies limit, scale, normalize, layout and reshape', () => {
    const ds = loadDataset(`idx:${pair.images},${pair.labels}`, {
      limit: 2,
      scale: 1,
      normalize: { mean: [10], std: [2] },
      layout: 'NHWC',
      reshape: [6],
    });
    expect([ds.count, ds.sampleShape, ds.labels!.length]).toEqual([2, [6], 2]);
    expect(Array.from(ds.images)).toEqual([-5, -4.5, -4, -3.5, -3, -2.5, 0, 0.5, 1, 1.5, 2, 2.5]);
    expect(ds.preprocessing).toEqual({ scale: 1, normalize: { mean: [10], std: [2] } });
    expect(loadDataset(`idx:${pair.images}`, { layout: 'NHWC' }).sampleShape).toEqual([2, 3, 1]);
    expect(loadDataset(`idx:${pair.images}`, { layout: 'raw' }).sampleShape).toEqual([2, 3]);
    expect(loadDataset(`idx:${pair.images}`, { limit: 100 }).count).toBe(6);
  });

  it('rejects bad option values with INVALID_OPTION', () => {
    const spec = `idx:${pair.images}`;
    expectError(() => loadDataset(spec, { limit: 0 }), ErrorCodes.INVALID_OPTION);
    expectError(() => loadDataset(spec, { limit: 1.5 }), ErrorCodes.INVALID_OPTION);
    expectError(() => loadDataset(spec, { scale: 0 }), ErrorCodes.INVALID_OPTION);
    expectError(() => loadDataset(spec, { layout: 'CHW' as never }), ErrorCodes.INVALID_OPTION);
    expectError(() => loadDataset(spec, { normalize: { mean: [0], std: [0] } }), ErrorCodes.INVALID_OPTION);
    expectError(() => loadDataset(spec, { reshape: [] }), ErrorCodes.INVALID_OPTION);
    expectError(() => loadDataset(spec, { numClasses: -3 }), ErrorCodes.INVALID_OPTION);
    expectError(() => loadDataset(spec, { reshape: [7] }), ErrorCodes.DATA_MISMATCH);
    expectError(() => loadDataset(spec, { normalize: { mean: [0, 0], std: [1, 1] } }), ErrorCodes.DATA_MISMATCH);
  });

  it('rejects labels out of range for numClasses with DATA_MISMATCH', () => {
    const e = expectError(() => loadDataset(`idx:${pair.images},${pair.labels}`, { numClasses: 2 }), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toMatch(/label 2 of sample 2 is outside 0\.\.1/);
  });

  it('rejects a label count that differs from the image count', () => {
    const labels = path.join(root, 'five-labels-idx1-ubyte');
    writeIdx(labels, { dtype: 'uint8', shape: [5], data: new Uint8Array(5) });
    const e = expectError(() => loadDataset(`idx:${pair.images},${labels}`), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toContain('5 labels');
  });

  it('loads npy:X,Y with float data unscaled and int64 labels', () => {
    const x = path.join(root, 'x.npy');
    const y = path.join(root, 'y.npy');
    writeNpy(x, { dtype: 'float32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i * 0.5) });
    writeNpy(y, { dtype: 'int64', shape: [3], data: BigInt64Array.from([2n, 0n, 4n]) });
    const ds = loadDataset(`npy:${x},${y}`);
    expect([ds.count, ds.sampleShape, ds.numClasses]).toEqual([3, [4], 5]);
    expect(Array.from(ds.images)).toEqual(Array.from({ length: 12 }, (_, i) => i * 0.5));
    expect(Array.from(ds.labels!)).toEqual([2, 0, 4]);
    expect(loadDataset(x).labels).toBeUndefined();
  });

  it('rejects npy labels that are not class indices', () => {
    const x = path.join(root, 'x2.npy');
    writeNpy(x, { dtype: 'float32', shape: [2, 1], data: new Float32Array(2) });
    const frac = path.join(root, 'frac.npy');
    writeNpy(frac, { dtype: 'float32', shape: [2], data: Float32Array.from([0, 0.5]) });
    expect(expectError(() => loadDataset(`npy:${x},${frac}`), ErrorCodes.DATA_FORMAT).message).toMatch(/not an integer class index/);
    const onehot = path.join(root, 'onehot.npy');
    writeNpy(onehot, { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 0, 0, 1]) });
    expect(expectError(() => loadDataset(`npy:${x},${onehot}`), ErrorCodes.DATA_FORMAT).message).toMatch(/shape \[N\]/);
  });

  it('rejects data without a batch axis', () => {
    const v = path.join(root, 'vector.npy');
    writeNpy(v, { dtype: 'float32', shape: [3], data: new Float32Array(3) });
    expectError(() => loadDataset(v), ErrorCodes.DATA_FORMAT);
  });

  it('flags samples that look channels-last under NCHW (and the reverse)', () => {
    const hwc = path.join(root, 'hwc.npy');
    writeNpy(hwc, { dtype: 'uint8', shape: [2, 8, 8, 3], data: new Uint8Array(384) });
    const e = expectError(() => loadDataset(hwc), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toMatch(/looks like NHWC/);
    expect(loadDataset(hwc, { layout: 'NHWC' }).sampleShape).toEqual([8, 8, 3]);
    expect(loadDataset(hwc, { layout: 'raw' }).sampleShape).toEqual([8, 8, 3]);
    expectError(() => loadDataset(hwc.replace('hwc', 'hwc'), { layout: 'NCHW' }), ErrorCodes.DATA_MISMATCH);
  });

  it('normalizes per channel on the layout channel axis', () => {
    const f = path.join(root, 'chw.npy');
    // one sample [3,1,2]: channel c holds value c+1
    writeNpy(f, { dtype: 'float32', shape: [1, 3, 1, 2], data: Float32Array.from([1, 1, 2, 2, 3, 3]) });
    const ds = loadDataset(f, { normalize: { mean: [1, 2, 3], std: [1, 1, 0.5] } });
    expect(Array.from(ds.images)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('loads pb:DIR and a bare test_data_set folder with an injected decoder', () => {
    const dir = path.join(root, 'test_data_set_0');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'input_0.pb'), encodeTensorProto('input', [2, 1, 2, 2], UINT8, Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4])));
    fs.writeFileSync(path.join(dir, 'output_0.pb'), floatTensor('logits', [2, 1], [0, 1]));
    const ds = loadDataset(`pb:${dir}`, { decodeTensor: decodeTestTensor });
    expect([ds.count, ds.sampleShape, ds.labels]).toEqual([2, [1, 2, 2], undefined]);
    expect(Array.from(ds.images.subarray(0, 4))).toEqual([0, 1, 0.2, 0.4].map(Math.fround));
    expect(loadDataset(dir, { decodeTensor: decodeTestTensor }).count).toBe(2);
    const e = expectError(() => loadDataset(`pb:${dir}`), ErrorCodes.INVALID_OPTION);
    expect(e.message).toMatch(/decodeTensor/);
  });

  it('makes the caller choose among several pb inputs', () => {
    const dir = path.join(root, 'two-inputs');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'input_0.pb'), floatTensor('a', [1, 2], [1, 2]));
    fs.writeFileSync(path.join(dir, 'input_1.pb'), floatTensor('b', [1, 3], [3, 4, 5]));
    expectError(() => loadDataset(`pb:${dir}`, { decodeTensor: decodeTestTensor }), ErrorCodes.INVALID_OPTION);
    expect(loadDataset(`pb:${dir}`, { decodeTensor: decodeTestTensor, pbInput: 'b' }).sampleShape).toEqual([3]);
    expect(loadDataset(`pb:${dir}`, { decodeTensor: decodeTestTensor, pbInput: 0 }).sampleShape).toEqual([2]);
    expectError(() => loadDataset(`pb:${dir}`, { decodeTensor: decodeTestTensor, pbInput: 'c' }), ErrorCodes.INVALID_OPTION);
  });

  it('reports missing files and folders as FILE_NOT_FOUND naming the path', () => {
    const missing = path.join(root, 'nowhere');
    for (const spec of [missing, `pb:${missing}`, `idx:${missing}.gz`, `npy:${missing}.npy`, `idx:${pair.images},${missing}.gz`]) {
      const e = expectError(() => loadDataset(spec, { decodeTensor: decodeTestTensor }), ErrorCodes.FILE_NOT_FOUND);
      expect(e.message).toContain(missing);
    }
  });

  it('explains folders it cannot use', () => {
    const empty = path.join(root, 'empty-dir');
    fs.mkdirSync(empty);
    expectError(() => loadDataset(empty), ErrorCodes.DATA_FORMAT);
    const both = path.join(root, 'both');
    writeIdxPair(both, 'train');
    writeIdxPair(both, 't10k');
    expect(expectError(() => loadDataset(both), ErrorCodes.INVALID_OPTION).message).toMatch(/several IDX image files/);
    const odd = path.join(root, 'data.bin');
    fs.writeFileSync(odd, '');
    expectError(() => loadDataset(odd), ErrorCodes.INVALID_OPTION);
  });

  it('reads a bare IDX file and a raw (not gzipped) folder', () => {
    const raw = path.join(root, 'raw');
    const p = writeIdxPair(raw, 'x', false);
    expect(loadDataset(p.images).labels).toBeUndefined();
    expect(loadDataset(raw).labels?.length).toBe(6);
  });
});

describe('fmnist location', () => {
  const saved = process.env.HBNN_FMNIST_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.HBNN_FMNIST_DIR;
    else process.env.HBNN_FMNIST_DIR = saved;
  });

  it('says how to install the package when the files are missing', () => {
    const empty = path.join(root, 'no-fmnist');
    fs.mkdirSync(empty, { recursive: true });
    const e = expectError(() => loadDataset('fmnist:test', { fmnistDir: empty }), ErrorCodes.FILE_NOT_FOUND);
    expect(e.message).toContain('apt-get install dataset-fashion-mnist');
    expect(e.message).toContain('fmnist-mini:test');
    expect(e.message).toContain(path.join(empty, 't10k-images-idx3-ubyte.gz'));
  });

  it('honours HBNN_FMNIST_DIR, with plain or gzipped files', () => {
    const dir = path.join(root, 'env-fmnist');
    writeIdxPair(dir, 'train', false);
    process.env.HBNN_FMNIST_DIR = dir;
    const ds = loadDataset('fmnist:train');
    expect([ds.count, ds.numClasses, ds.name]).toEqual([6, 10, 'fmnist:train']);
    const e = expectError(() => loadDataset('fmnist:test'), ErrorCodes.FILE_NOT_FOUND);
    expect(e.message).toContain('$HBNN_FMNIST_DIR');
  });
});
