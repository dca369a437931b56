/** Quantized reference fixtures for the ASIC tests (same recipe as bench/asic-common.mjs). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildCnv, buildMobileNetV1 } from '../../../zoo/topologies.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { writeNpy } from '../../../src/data/index.js';
import type { Model } from '../../../src/ir/graph.js';

/** A temporary folder removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic uniform [-1, 1) CIFAR-shaped inputs as .npy; returns the data SPEC. */
export function randomCalibration(dir: string, shape: number[] = [8, 3, 32, 32], seed = 1): string {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  const file = path.join(dir, 'calib.npy');
  writeNpy(file, { dtype: 'float32', shape, data });
  return `npy:${file}`;
}

/** CNV with weights and activations at `bits` average (Middle-Out), activations calibrated. */
export async function quantizedCnv(bits: number, calibSpec: string): Promise<Model> {
  const m = buildCnv();
  await quantize(m, { avgBits: bits, actBits: bits, heuristic: 'middle-out', calibData: calibSpec, calibLimit: 8 });
  return m;
}

/** MobileNet-V1 with weights at `bits` average (Middle-Out); activation bits are stated separately. */
export async function quantizedMobileNet(bits: number): Promise<Model> {
  const m = buildMobileNetV1();
  await quantize(m, { avgBits: bits, heuristic: 'middle-out' });
  return m;
}

/** CNV with weights only quantized (fast; no calibration). */
export async function weightsOnlyCnv(bits: number): Promise<Model> {
  const m = buildCnv();
  await quantize(m, { avgBits: bits, heuristic: 'middle-out' });
  return m;
}
