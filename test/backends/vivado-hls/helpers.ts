/** Shared fixtures of the Vivado HLS backend tests: quantized models and programs, temp folders. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../../src/onnx/io.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import type { BitProgram } from '../../../src/bitir/types.js';
import type { Model } from '../../../src/ir/graph.js';
import { buildCnv } from '../../../zoo/topologies.js';
import { writeNpy } from '../../../src/data/index.js';
import { FMNIST_CNN } from '../../helpers/build.js';

/** A temporary folder removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export type FmnistConfig = 'W1.4' | 'W1.4A1.4';

/** The bundled Fashion-MNIST CNN quantized with Middle-Out (inputs normalized as trained). */
export async function quantizedFmnist(config: FmnistConfig): Promise<Model> {
  const m = loadModel(FMNIST_CNN());
  const acts = config === 'W1.4A1.4' ? { actBits: 1.4, actHeuristic: 'middle-out' as const } : {};
  await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', normalize: 'fmnist', ...acts });
  return m;
}

export async function fmnistProgram(config: FmnistConfig): Promise<BitProgram> {
  return lowerToBitIR(await quantizedFmnist(config));
}

/** Deterministic uniform [-1, 1) CIFAR-shaped samples as .npy; returns the data SPEC. */
export function randomCifar(dir: string, count = 16, seed = 7): string {
  const n = count * 3 * 32 * 32;
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  const file = path.join(dir, 'cifar-random.npy');
  writeNpy(file, { dtype: 'float32', shape: [count, 3, 32, 32], data });
  return `npy:${file}`;
}

/**
 * FINN's CNV with `bits` average weight bits (Middle-Out, per weight or one bitwidth per row) and 1-bit activations (the BNN
 * setting), calibrated on random CIFAR-shaped data; the estimates depend on the topology and
 * the bit widths, not on trained values.
 */
export async function quantizedCnv(bits: number, calibSpec: string, granularity: 'entry' | 'row' = 'entry'): Promise<Model> {
  const m = buildCnv();
  await quantize(m, { avgBits: bits, heuristic: 'middle-out', granularity, actBits: 1, calibData: calibSpec, calibLimit: 16 });
  return m;
}

/** Lowering precisions for CNV as FINN builds it: 8-bit input pixels. */
export const CNV_LOWERING = { inputBits: 8, inputFrac: 5 } as const;
