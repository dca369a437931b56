/**
 * The issue-16 fixture topologies at test size (a few thousand weights each, seeded random
 * weights), shared by the tests (test/helpers/zoo.ts) and the benchmarks (bench/bitir-zoo.mjs),
 * and the preparation of Fashion-MNIST images for their input shapes. Not part of
 * the public API (src/index.ts).
 */
import { mulberry32 } from '../src/hbnn/prng.js';
import type { Model } from '../src/ir/graph.js';
import { buildMobileNetV1, buildMobileNetV2, buildPoolNet, buildResNet20, buildSqueezeNet, buildTorchExport } from './topologies.js';

export interface ZooFixture {
  name: string;
  build: () => Model;
  /** Sample shape [C, H, W]. */
  shape: [number, number, number];
}

/** Every fixture topology of issue 16, small enough for a test (a few thousand weights). */
export const ZOO_FIXTURES: readonly ZooFixture[] = [
  { name: 'resnet20', shape: [3, 32, 32], build: () => buildResNet20({ width: 4, blocks: 1 }) },
  {
    name: 'mobilenet-v2',
    shape: [3, 32, 32],
    build: () => buildMobileNetV2({ alpha: 0.25, settings: [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2]], lastChannels: 64 }),
  },
  {
    name: 'mobilenet-v1',
    shape: [3, 32, 32],
    build: () => buildMobileNetV1({ inputShape: [3, 32, 32], alpha: 0.125, blocks: 5, classes: 10 }),
  },
  { name: 'squeezenet', shape: [3, 32, 32], build: () => buildSqueezeNet({ width: 4, fires: [1, 1, 2] }) },
  { name: 'poolnet-softmax', shape: [1, 28, 28], build: () => buildPoolNet({ width: 4, hidden: 16, softmax: true }) },
  { name: 'torch-export', shape: [1, 28, 28], build: () => buildTorchExport({ width: 4 }) },
];

/**
 * `count` 28×28 images (row-major, already normalized) laid out as [count, C, H, W]: each
 * zero-padded (or center-cropped) to H×W and replicated over the C channels, plus seeded
 * uniform noise of ±noise (the project's PRNG, `seed`) when noise > 0.
 */
export function padImagesTo(images: Float32Array, count: number, shape: readonly [number, number, number], noise = 0, seed = 16): Float32Array {
  const [c, h, w] = shape;
  const out = new Float32Array(count * c * h * w);
  const dy = Math.floor((h - 28) / 2);
  const dx = Math.floor((w - 28) / 2);
  for (let s = 0; s < count; s++) {
    const img = images.subarray(s * 784, (s + 1) * 784);
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= 28) continue;
      for (let x = 0; x < w; x++) {
        const sx = x - dx;
        if (sx < 0 || sx >= 28) continue;
        for (let k = 0; k < c; k++) out[((s * c + k) * h + y) * w + x] = img[sy * 28 + sx]!;
      }
    }
  }
  if (noise > 0) {
    const r = mulberry32(seed);
    for (let i = 0; i < out.length; i++) out[i]! += (r.next() * 2 - 1) * noise;
  }
  return out;
}
