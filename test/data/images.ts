/** Writing small PNG / JPEG image folders and CIFAR files for tests (with the same libraries the loader reads them with). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { bundledFmnistDir, readIdx } from '../../src/data/index.js';

const require_ = createRequire(import.meta.url);
const { PNG } = require_('pngjs') as {
  PNG: { sync: { write(png: unknown, opts?: Record<string, unknown>): Buffer } } & (new (o: Record<string, unknown>) => { data: Buffer });
};
const jpeg = require_('jpeg-js') as { encode(img: { data: Uint8Array; width: number; height: number }, quality: number): { data: Buffer } };

/** PNG bytes of an 8-bit image: `channels` 1 (gray) or 3 (RGB), interleaved. */
export function pngBytes(width: number, height: number, channels: 1 | 3, pixels: Uint8Array): Buffer {
  const png = new PNG({ width, height });
  const n = width * height;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) png.data[4 * i + c] = pixels[channels === 1 ? i : 3 * i + c]!;
    png.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(png, channels === 1 ? { colorType: 0 } : { colorType: 2 });
}

/** JPEG bytes of an 8-bit RGB image (interleaved). */
export function jpegBytes(width: number, height: number, rgb: Uint8Array, quality = 95): Buffer {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[4 * i] = rgb[3 * i]!;
    rgba[4 * i + 1] = rgb[3 * i + 1]!;
    rgba[4 * i + 2] = rgb[3 * i + 2]!;
    rgba[4 * i + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width, height }, quality).data;
}

export function writeFile(file: string, bytes: Uint8Array): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

/** A deterministic pseudo-random byte source. */
export function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}

/** A smooth RGB test pattern (JPEG keeps smooth images close to the source). */
export function smoothRgb(width: number, height: number, seed: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      out[i] = (seed * 37 + x * 4) & 255;
      out[i + 1] = (seed * 91 + y * 3) & 255;
      out[i + 2] = (seed * 53 + (x + y) * 2) & 255;
    }
  }
  return out;
}

/** The first `count` bundled Fashion-MNIST test images as gray PNGs in DIR/<label>/<index>.png. */
export function writeFmnistPngs(dir: string, count: number): { pixels: Uint8Array; labels: Uint8Array } {
  const imgs = readIdx(path.join(bundledFmnistDir(), 't10k-images-idx3-ubyte.gz'));
  const labs = readIdx(path.join(bundledFmnistDir(), 't10k-labels-idx1-ubyte.gz'));
  const px = imgs.data as Uint8Array;
  for (let i = 0; i < count; i++) {
    writeFile(path.join(dir, String(labs.data[i]), `${String(i).padStart(5, '0')}.png`), pngBytes(28, 28, 1, px.subarray(i * 784, (i + 1) * 784)));
  }
  return { pixels: px.subarray(0, count * 784), labels: (labs.data as Uint8Array).subarray(0, count) };
}

