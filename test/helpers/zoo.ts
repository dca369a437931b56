/**
 * The issue-16 fixture topologies at test size, and Fashion-MNIST-derived inputs of any
 * sample shape (for calibration and agreement tests): each 28×28 image is zero-padded (or
 * center-cropped) to H×W and replicated over the C channels, after the 'fmnist' normalization.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDataset, FMNIST_NORMALIZATION } from '../../src/data/index.js';
import { writeNpy } from '../../src/data/npy.js';
import { padImagesTo } from '../../zoo/fixtures.js';

export { ZOO_FIXTURES, type ZooFixture } from '../../zoo/fixtures.js';

/** `count` Fashion-MNIST test images (normalized) laid out as [count, C, H, W] (`padImagesTo`; noise seed 16 for test, 61 for train). */
export function fmnistAs(shape: readonly [number, number, number], count: number, split: 'test' | 'train' = 'test', noise = 0): Float32Array {
  const ds = loadDataset(`fmnist-mini:${split}`, { normalize: FMNIST_NORMALIZATION, limit: count });
  return padImagesTo(ds.images, count, shape, noise, split === 'test' ? 16 : 61);
}

/** A calibration data SPEC (`npy:FILE`) of `count` such training images, written to a new temp folder. */
export function fmnistSpecAs(shape: readonly [number, number, number], count = 256, noise = 0): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-zoo-'));
  const file = path.join(dir, `fmnist-${shape.join('x')}.npy`);
  writeNpy(file, { dtype: 'float32', shape: [count, ...shape], data: fmnistAs(shape, count, 'train', noise) });
  return `npy:${file}`;
}
