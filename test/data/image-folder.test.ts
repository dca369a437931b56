import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FMNIST_NORMALIZATION,
  IMAGE_PRESETS,
  encodeCifar,
  formatDataSpec,
  listImageFolder,
  loadDataset,
  parseDataSpec,
  parseImagePreprocessing,
  resizeBilinear,
  convertColor,
  decodeImage,
  shortSideSize,
  writeCifar,
} from '../../src/data/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectError, tempDir } from './helpers.js';
import { REPO_ROOT } from '../helpers/build.js';
import { bytes, jpegBytes, pngBytes, smoothRgb, writeFile, writeFmnistPngs } from './images.js';

const root = tempDir('hbnn-images-');
/** Byte equality of two float arrays (fast, unlike a deep toEqual). */
const same = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = path.join(root, `t${n++}`);
  fs.mkdirSync(d);
  return d;
};

describe('folder: specs', () => {
  it('parses presets and explicit preprocessing, and formats them back', () => {
    const a = parseDataSpec('folder:/data/val:imagenet');
    expect(a).toEqual({ kind: 'folder', dir: '/data/val', prep: { ...IMAGE_PRESETS.imagenet } });
    const b = parseDataSpec('folder:imgs:resize=256,crop=224,mean=0.5,0.4,0.3,std=0.2,0.2,0.25,bgr');
    expect(b).toEqual({
      kind: 'folder',
      dir: 'imgs',
      prep: { color: 'bgr', resize: { short: 256 }, crop: { height: 224, width: 224 }, normalize: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.25] } },
    });
    expect(parseDataSpec(formatDataSpec(b))).toEqual(b);
    expect(parseDataSpec('folder:imgs')).toEqual({ kind: 'folder', dir: 'imgs', prep: { color: 'rgb' } });
    expect(formatDataSpec(parseDataSpec('folder:imgs'))).toBe('folder:imgs');
    // a path whose last ':' part is not preprocessing stays a path
    expect(parseDataSpec('folder:a:b')).toEqual({ kind: 'folder', dir: 'a:b', prep: { color: 'rgb' } });
    expect(parseImagePreprocessing('fmnist,resize=28x30').resize).toEqual({ height: 28, width: 30 });
    expect(parseImagePreprocessing('cifar10').normalize).toEqual(IMAGE_PRESETS.cifar10.normalize);
    expect(parseImagePreprocessing('fmnist').normalize).toEqual(FMNIST_NORMALIZATION);
    expect(parseDataSpec('cifar10:/d/cifar:train')).toEqual({ kind: 'cifar', variant: 10, dir: '/d/cifar', split: 'train', label: 'fine' });
    expect(parseDataSpec('cifar100:d:test:coarse')).toEqual({ kind: 'cifar', variant: 100, dir: 'd', split: 'test', label: 'coarse' });
  });

  it('refuses bad preprocessing and CIFAR specs with invalid-option', () => {
    for (const bad of [
      'folder:d:resize=0',
      'folder:d:crop=ax3',
      'folder:d:mean=0.5',
      'folder:d:mean=0.5,0.5,std=0.1,0.2,0.3',
      'folder:d:rgb,imagenet',
      'folder:d:std=0,0,0,mean=1,1,1',
      'folder:d:resize=9,bogus=1',
      'folder:d:gray,mean=0.1,0.2,0.3,std=1,1,1',
      'cifar10:d',
      'cifar10:d:val',
      'cifar100::test',
    ]) {
      expectError(() => parseDataSpec(bad), ErrorCodes.INVALID_OPTION);
    }
  });
});

describe('folder: loading', () => {
  it('loads a PNG folder: classes sorted by name, files in order, pixels exact', () => {
    const dir = fresh();
    const imgs: Uint8Array[] = [];
    // classes 'b' and 'a' (sorted: a=0, b=1); b has a nested folder, a has a non-image file that is skipped.
    const layout = [
      ['b', 'x2.png'],
      ['a', 'z.png'],
      ['b', 'x1.png'],
      ['b', 'sub/y.png'],
      ['a', 'm.png'],
    ];
    layout.forEach(([c, f], i) => {
      const px = bytes(4 * 3 * 3, i + 1);
      imgs.push(px);
      writeFile(path.join(dir, c!, f!), pngBytes(4, 3, 3, px));
    });
    fs.writeFileSync(path.join(dir, 'a', 'notes.txt'), 'not an image');
    const ds = loadDataset(`folder:${dir}`);
    expect(ds.classNames).toEqual(['a', 'b']);
    expect(ds.sampleShape).toEqual([3, 3, 4]);
    expect(ds.count).toBe(5);
    const order = [4, 1, 2, 0, 3]; // a/m, a/z, b/x1, b/x2, b/sub/y
    expect(ds.sampleFiles).toEqual(order.map((i) => path.join(dir, layout[i]![0]!, layout[i]![1]!)));
    expect(Array.from(ds.labels!)).toEqual([0, 0, 1, 1, 1]);
    expect(ds.numClasses).toBe(2);
    order.forEach((src, k) => {
      const px = imgs[src]!;
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < 12; p++) expect(ds.images[k * 36 + c * 12 + p]).toBe(Math.fround(px[3 * p + c]! / 255));
      }
    });
    // NHWC keeps the interleaved order; bgr swaps the channels
    const nhwc = loadDataset(`folder:${dir}:bgr`, { layout: 'NHWC' });
    expect(nhwc.sampleShape).toEqual([3, 4, 3]);
    const first = imgs[order[0]!]!;
    expect(Array.from(nhwc.images.subarray(0, 3)).map((v) => Math.round(v * 255))).toEqual([first[2], first[1], first[0]]);
  });

  it('loads a JPEG folder (RGB and grayscale), a classes file sets the labels', () => {
    const dir = fresh();
    const cls = ['cat', 'dog', 'eel'];
    for (let i = 0; i < 6; i++) writeFile(path.join(dir, cls[i % 3]!, `${i}.JPG`), jpegBytes(16, 12, smoothRgb(16, 12, i), 95));
    const classes = writeFile(path.join(dir, 'classes.txt'), Buffer.from('eel\ndog\ncat\nfox\n'));
    const ds = loadDataset(`folder:${dir}:classes=${classes}`);
    expect(ds.sampleShape).toEqual([3, 12, 16]);
    expect(ds.classNames).toEqual(['eel', 'dog', 'cat', 'fox']);
    expect(ds.numClasses).toBe(4);
    expect(Array.from(ds.labels!)).toEqual([0, 0, 1, 1, 2, 2]);
    // the decoded pixels are within JPEG error of the source
    const src = smoothRgb(16, 12, 2); // eel/2.JPG is the first sample
    let maxErr = 0;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 192; p++) maxErr = Math.max(maxErr, Math.abs(ds.images[c * 192 + p]! * 255 - src[3 * p + c]!));
    expect(maxErr).toBeLessThan(24);
    expect(maxErr).toBeGreaterThan(0); // lossy, so not the PNG path
    const gray = loadDataset(`folder:${dir}:gray`);
    expect(gray.sampleShape).toEqual([1, 12, 16]);
    const [r, g, b] = [0, 192, 384].map((i) => Math.round(ds.images[4 * 576 + i]! * 255)) as [number, number, number];
    expect(Math.round(gray.images[0]! * 255)).toBe((r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16);
  });

  it('resizes the short side and center-crops (imagenet geometry), as PIL bilinear', () => {
    expect(shortSideSize(500, 375, 256)).toEqual({ width: 341, height: 256 });
    expect(shortSideSize(375, 500, 256)).toEqual({ width: 256, height: 341 });
    // halving: the antialiased triangle filter weights 1/8, 3/8, 3/8, 1/8 (edges renormalized)
    const w = 8;
    const row = Uint8Array.from([0, 16, 32, 48, 64, 80, 96, 112]);
    const half = resizeBilinear({ width: w, height: 1, channels: 1, data: row }, 4, 1);
    const expected = [0, 1, 2, 3].map((o) => {
      const taps = [2 * o - 1, 2 * o, 2 * o + 1, 2 * o + 2];
      const wts = [1, 3, 3, 1];
      let s = 0, ws = 0;
      taps.forEach((t, k) => {
        if (t >= 0 && t < w) {
          s += row[t]! * wts[k]!;
          ws += wts[k]!;
        }
      });
      return Math.round(s / ws);
    });
    expect(Array.from(half.data)).toEqual(expected);
    const dir = fresh();
    writeFile(path.join(dir, 'k', 'wide.png'), pngBytes(60, 40, 3, smoothRgb(60, 40, 1)));
    writeFile(path.join(dir, 'k', 'tall.jpg'), jpegBytes(30, 50, smoothRgb(30, 50, 2)));
    const ds = loadDataset(`folder:${dir}:resize=20,crop=16,mean=0.5,std=0.25`);
    expect(ds.sampleShape).toEqual([3, 16, 16]);
    expect(ds.preprocessing).toEqual({ scale: 1 / 255, normalize: { mean: [0.5], std: [0.25] } });
    const exact = loadDataset(`folder:${dir}:resize=16x16`);
    expect(exact.sampleShape).toEqual([3, 16, 16]);
  });

  it('is the same data as fmnist-mini:test when the test images are written as PNGs', () => {
    const dir = fresh();
    const count = 300;
    const { labels } = writeFmnistPngs(dir, count);
    const folder = loadDataset(`folder:${dir}:fmnist`);
    const ref = loadDataset('fmnist-mini:test', { limit: count, normalize: FMNIST_NORMALIZATION });
    expect(folder.sampleShape).toEqual([1, 28, 28]);
    expect(folder.count).toBe(count);
    // folder order: by class, then by file name (the index)
    const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => labels[a]! - labels[b]! || a - b);
    order.forEach((src, k) => {
      expect(folder.labels![k]).toBe(labels[src]);
      expect(same(folder.images.subarray(k * 784, (k + 1) * 784), ref.images.subarray(src * 784, (src + 1) * 784)), `sample ${k}`).toBe(true);
    });
    // the explicit form of the preset and --normalize give the same bytes
    const explicit = loadDataset(`folder:${dir}:gray`, { normalize: FMNIST_NORMALIZATION });
    expect(same(explicit.images, folder.images)).toBe(true);
    expectError(() => loadDataset(`folder:${dir}:fmnist`, { normalize: { mean: [0.5], std: [0.5] } }), ErrorCodes.INVALID_OPTION);
  });
});

describe('folder: bad input names the file', () => {
  const good = (dir: string): void => {
    writeFile(path.join(dir, 'a', '1.png'), pngBytes(8, 8, 3, bytes(192, 1)));
    writeFile(path.join(dir, 'b', '1.jpg'), jpegBytes(8, 8, smoothRgb(8, 8, 3)));
  };

  it('corrupt JPEG and PNG files are data-format errors', () => {
    const cases: [string, Uint8Array][] = [
      ['cut.jpg', jpegBytes(32, 32, smoothRgb(32, 32, 5)).subarray(0, 300)],
      ['junk.jpg', bytes(500, 3)],
      ['cut.png', pngBytes(16, 16, 3, bytes(768, 4)).subarray(0, 60)],
      ['text.png', Buffer.from('hello, not a png')],
    ];
    // a PNG whose pixel data is damaged (a CRC failure)
    const png = Buffer.from(pngBytes(16, 16, 3, bytes(768, 4)));
    const idat = png.indexOf('IDAT');
    png[idat + 10] = png[idat + 10]! ^ 0xff;
    cases.push(['crc.png', png]);
    for (const [name, data] of cases) {
      const dir = fresh();
      good(dir);
      const file = writeFile(path.join(dir, 'b', name), data);
      const err = expectError(() => loadDataset(`folder:${dir}`), ErrorCodes.DATA_FORMAT);
      expect(err.message, name).toContain(file);
      expect(err.context.file).toBe(file);
    }
  });

  it('an empty class folder, a folder without classes, unsupported formats', () => {
    const dir = fresh();
    good(dir);
    fs.mkdirSync(path.join(dir, 'c', 'nested'), { recursive: true });
    const err = expectError(() => loadDataset(`folder:${dir}`), ErrorCodes.DATA_FORMAT);
    expect(err.context.file).toBe(path.join(dir, 'c'));
    expect(err.message).toContain(path.join(dir, 'c'));
    const flat = fresh();
    writeFile(path.join(flat, '1.png'), pngBytes(8, 8, 3, bytes(192, 1)));
    expect(expectError(() => loadDataset(`folder:${flat}`), ErrorCodes.DATA_FORMAT).message).toContain('no class subfolders');
    const bmp = fresh();
    good(bmp);
    const f = writeFile(path.join(bmp, 'a', 'x.bmp'), bytes(100, 1));
    expect(expectError(() => loadDataset(`folder:${bmp}`), ErrorCodes.DATA_FORMAT).context.file).toBe(f);
    expectError(() => loadDataset(`folder:${path.join(root, 'missing')}`), ErrorCodes.FILE_NOT_FOUND);
  });

  it('mixed image sizes without a resize are data-mismatch naming the odd file', () => {
    const dir = fresh();
    good(dir);
    const odd = writeFile(path.join(dir, 'b', '2.png'), pngBytes(9, 8, 3, bytes(216, 2)));
    const err = expectError(() => loadDataset(`folder:${dir}`), ErrorCodes.DATA_MISMATCH);
    expect(err.context.file).toBe(odd);
    expect(err.message).toContain('resize');
    // a resize and crop make them fit
    expect(loadDataset(`folder:${dir}:resize=8,crop=8`).count).toBe(3);
    // a crop larger than the image is refused too
    expect(expectError(() => loadDataset(`folder:${dir}:crop=10`), ErrorCodes.DATA_MISMATCH).context.file).toBe(path.join(dir, 'a', '1.png'));
  });

  it('a class folder missing from the classes file, and labels outside numClasses, name the file', () => {
    const dir = fresh();
    good(dir);
    const classes = writeFile(path.join(root, `classes${n}.txt`), Buffer.from('a\n'));
    const err = expectError(() => loadDataset(`folder:${dir}:classes=${classes}`), ErrorCodes.DATA_MISMATCH);
    expect(err.context.file).toBe(path.join(dir, 'b'));
    const err2 = expectError(() => loadDataset(`folder:${dir}`, { numClasses: 1 }), ErrorCodes.DATA_MISMATCH);
    expect(err2.context.file).toBe(path.join(dir, 'b', '1.jpg'));
    expect(err2.message).toContain(path.join(dir, 'b', '1.jpg'));
  });
});

describe('cifar10: and cifar100:', () => {
  it('round-trips CIFAR-10 batches: train is data_batch_1..5 in order, test is test_batch', () => {
    const dir = fresh();
    const per = 3072;
    const all: { px: Uint8Array; labels: number[] }[] = [];
    for (let b = 1; b <= 5; b++) {
      const k = b + 1; // batches of different lengths
      const px = bytes(k * per, b);
      const labels = Array.from({ length: k }, (_, i) => (i * 3 + b) % 10);
      writeCifar(path.join(dir, `data_batch_${b}.bin`), 10, px, labels);
      all.push({ px, labels });
    }
    writeCifar(path.join(dir, 'test_batch.bin'), 10, bytes(4 * per, 9), [9, 8, 7, 6]);
    fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
    const train = loadDataset(`cifar10:${dir}:train`);
    expect(train.count).toBe(2 + 3 + 4 + 5 + 6);
    expect(train.sampleShape).toEqual([3, 32, 32]);
    expect(train.numClasses).toBe(10);
    expect(train.classNames![9]).toBe('truck');
    expect(Array.from(train.labels!)).toEqual(all.flatMap((a) => a.labels));
    const px = new Uint8Array(train.count * per);
    all.reduce((off, a) => (px.set(a.px, off), off + a.px.length), 0);
    expect(Array.from(train.images, (v) => Math.round(v * 255))).toEqual(Array.from(px));
    expect(train.images[5]).toBe(Math.fround(px[5]! / 255));
    const test = loadDataset(`cifar10:${dir}:test`, { limit: 3 });
    expect(Array.from(test.labels!)).toEqual([9, 8, 7]);
    // the bytes written back are the files read
    const back = encodeCifar(10, Uint8Array.from(train.images.subarray(0, 2 * per), (v) => Math.round(v * 255)), train.labels!.subarray(0, 2));
    expect(Buffer.from(back).equals(fs.readFileSync(path.join(dir, 'data_batch_1.bin')))).toBe(true);
  });

  it('reads CIFAR-100 fine and coarse labels, from the extracted folder name too', () => {
    const dir = fresh();
    const sub = path.join(dir, 'cifar-100-binary');
    writeCifar(path.join(sub, 'test.bin'), 100, bytes(3 * 3072, 4), [99, 0, 42], [19, 0, 7]);
    expect(Array.from(loadDataset(`cifar100:${dir}:test`).labels!)).toEqual([99, 0, 42]);
    const coarse = loadDataset(`cifar100:${dir}:test:coarse`);
    expect(Array.from(coarse.labels!)).toEqual([19, 0, 7]);
    expect(coarse.numClasses).toBe(20);
  });

  it('bad CIFAR files: missing, wrong length, label outside the classes', () => {
    const dir = fresh();
    const e1 = expectError(() => loadDataset(`cifar10:${dir}:test`), ErrorCodes.FILE_NOT_FOUND);
    expect(e1.context.file).toBe(path.join(dir, 'test_batch.bin'));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), bytes(3074 * 2, 1));
    const e2 = expectError(() => loadDataset(`cifar10:${dir}:test`), ErrorCodes.DATA_FORMAT);
    expect(e2.message).toContain('cifar100:');
    const rec = new Uint8Array(3073);
    rec[0] = 12;
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), rec);
    const e3 = expectError(() => loadDataset(`cifar10:${dir}:test`), ErrorCodes.DATA_FORMAT);
    expect(e3.context.file).toBe(path.join(dir, 'test_batch.bin'));
    expect(e3.message).toContain('record 0');
  });
});

describe('listImageFolder', () => {
  it('lists without decoding (a corrupt image is only found when read)', () => {
    const dir = fresh();
    writeFile(path.join(dir, 'x', 'bad.png'), bytes(10, 1));
    const l = listImageFolder(dir);
    expect(l.files).toEqual([path.join(dir, 'x', 'bad.png')]);
    expect(Array.from(l.labels)).toEqual([0]);
  });
});

describe('resize and grayscale agree with PIL bit for bit', () => {
  // fixtures/images/pil-bilinear.json: PIL's Image.resize(BILINEAR) and convert('L') results
  // (scripts/make-pil-resize-fixture.py, development only).
  const fx = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'fixtures', 'images', 'pil-bilinear.json'), 'utf8')) as {
    cases: { width: number; height: number; outWidth: number; outHeight: number; rgb: string; resized: string; gray: string }[];
    jpegs: { jpeg: string; width: number; height: number; rgb: string }[];
  };
  const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
  it(`${fx.cases.length} cases: down, up and mixed scaling`, () => {
    expect(fx.cases.length).toBeGreaterThanOrEqual(5);
    for (const c of fx.cases) {
      const img = { width: c.width, height: c.height, channels: 3 as const, data: b64(c.rgb) };
      const r = resizeBilinear(img, c.outWidth, c.outHeight);
      expect(Buffer.from(r.data).equals(Buffer.from(b64(c.resized))), `${c.width}x${c.height} -> ${c.outWidth}x${c.outHeight}`).toBe(true);
      expect(Buffer.from(convertColor(img, 'gray').data).equals(Buffer.from(b64(c.gray)))).toBe(true);
    }
  });

  it(`JPEG decoding gives PIL's pixels (${fx.jpegs.length} JPEGs written by PIL: 4:2:0, 4:4:4, grayscale)`, () => {
    expect(fx.jpegs.length).toBeGreaterThanOrEqual(3);
    for (const j of fx.jpegs) {
      const img = decodeImage(b64(j.jpeg), 'fixture.jpg');
      expect([img.width, img.height, img.channels]).toEqual([j.width, j.height, 3]);
      expect(Buffer.from(img.data).equals(Buffer.from(b64(j.rgb))), `${j.width}x${j.height}`).toBe(true);
    }
  });
});
