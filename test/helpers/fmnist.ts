/**
 * The Fashion-MNIST test split, preprocessed as the bundled models expect:
 * pixel / 255, then (x - 0.2860) / 0.3530; images [N,1,28,28] float32, labels uint8.
 */
import * as path from 'node:path';
import { readIdx, fmnistDir, findIdxFile, FMNIST_FILES } from '../../src/data/index.js';

export interface FmnistTest {
  count: number;
  images: Float32Array;
  labels: Uint8Array;
}

let cached: FmnistTest | undefined;

export function loadFmnistTest(): FmnistTest {
  if (cached) return cached;
  const dir = fmnistDir();
  const find = (stem: string): string => {
    const f = findIdxFile(dir, stem);
    if (!f) throw new Error(`Fashion-MNIST file ${stem} not found in ${dir} (install the Debian package dataset-fashion-mnist or set HBNN_FMNIST_DIR)`);
    return f;
  };
  const img = readIdx(find(FMNIST_FILES.test.images));
  const lab = readIdx(find(FMNIST_FILES.test.labels));
  if (img.dtype !== 'uint8' || lab.dtype !== 'uint8') throw new Error(`unexpected IDX types in ${path.resolve(dir)}`);
  const count = img.shape[0]!;
  const pixels = img.data as Uint8Array;
  const images = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) images[i] = (pixels[i]! / 255 - 0.286) / 0.353;
  cached = { count, images, labels: lab.data as Uint8Array };
  return cached;
}
