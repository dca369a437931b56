/** Shared fixtures of the training tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../../src/onnx/io.js';
import { loadDataset, FMNIST_NORMALIZATION, type Dataset } from '../../../src/data/index.js';
import type { Model } from '../../../src/ir/graph.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The bundled Fashion-MNIST CNN (fixtures/models). */
export function cnnPath(): string {
  return path.resolve(HERE, '../../../fixtures/models/fmnist-cnn.onnx');
}

export function loadCnn(): Model {
  return loadModel(cnnPath());
}

const cache = new Map<string, Dataset>();
export function mini(split: 'train' | 'test', limit?: number): Dataset {
  const key = `${split}:${limit ?? ''}`;
  let d = cache.get(key);
  if (!d) {
    d = loadDataset(`fmnist-mini:${split}`, { normalize: FMNIST_NORMALIZATION, ...(limit ? { limit } : {}) });
    cache.set(key, d);
  }
  return d;
}

export function tmpDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `hbnn-train-${name}-`));
}
