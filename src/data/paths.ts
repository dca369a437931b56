/**
 * Where bundled and system data live.
 *
 * The package root is found by walking up from this module's own location to the nearest
 * package.json named `hbnn-onnx`, so it works both from the sources (src/data/) and from the
 * compiled output (dist/src/data/).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, ErrorCodes } from '../errors.js';

/** Folder of the Debian package `dataset-fashion-mnist`. */
export const DEFAULT_FMNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Environment variable that overrides DEFAULT_FMNIST_DIR. */
export const FMNIST_DIR_ENV = 'HBNN_FMNIST_DIR';

/** File stems of the Fashion-MNIST IDX files (each stored as `<stem>.gz`, or plain). */
export const FMNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

/** Number of samples in the bundled slice, per split (the first N of the full split). */
export const FMNIST_MINI_COUNTS = { train: 4000, test: 2000 } as const;

/** The bundled default models under fixtures/models/. */
export const BUNDLED_MODELS = ['fmnist-cnn', 'fmnist-mlp'] as const;
export type BundledModel = (typeof BUNDLED_MODELS)[number];

let cachedRoot: string | undefined;

/** The hbnn-onnx package root (the folder holding its package.json). */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const start = path.dirname(fileURLToPath(import.meta.url));
  let firstFound: string | undefined;
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      firstFound ??= dir;
      try {
        const name = (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: unknown }).name;
        if (name === 'hbnn-onnx') return (cachedRoot = dir);
      } catch {
        /* unreadable package.json: keep looking */
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  if (firstFound !== undefined) return (cachedRoot = firstFound);
  return fail(ErrorCodes.INTERNAL, `cannot find the hbnn-onnx package root above ${start}`);
}

/** fixtures/fmnist/ inside the package (the bundled Fashion-MNIST slice). */
export function bundledFmnistDir(): string {
  return path.join(packageRoot(), 'fixtures', 'fmnist');
}

/** Path of a bundled model, e.g. `bundledModelPath('fmnist-cnn')`. FILE_NOT_FOUND when missing. */
export function bundledModelPath(name: BundledModel): string {
  const file = path.join(packageRoot(), 'fixtures', 'models', `${name}.onnx`);
  if (!fs.existsSync(file)) {
    fail(ErrorCodes.FILE_NOT_FOUND, `the bundled model ${name}.onnx is missing from this installation (${file})`, { file });
  }
  return file;
}

/** The full Fashion-MNIST folder: `override`, else $HBNN_FMNIST_DIR, else the Debian location. */
export function fmnistDir(override?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (override !== undefined && override !== '') return override;
  const fromEnv = env[FMNIST_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return DEFAULT_FMNIST_DIR;
}

/** `<dir>/<stem>.gz` if present, else `<dir>/<stem>`, else undefined. */
export function findIdxFile(dir: string, stem: string): string | undefined {
  for (const name of [`${stem}.gz`, stem]) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}
