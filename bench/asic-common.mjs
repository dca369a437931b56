/**
 * Shared by bench/asic-*.mjs: the reference fixtures quantized as the ASIC tests quantize
 * them. Imports the compiled package through bench/lib.mjs: dist/ (run `npx tsc` first), or
 * the folder named by HBNN_DIST (e.g. a private `npx tsc --outDir /tmp/hbnn-dist`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DIST, internal, lib, zoo } from './lib.mjs';

// the calibration inputs are shared with the other benches (bench/lib.mjs)
export { randomCalibration } from './lib.mjs';

export const { buildCnv, buildMobileNetV1 } = zoo;
export const { quantize, writeNpy } = lib;
export const asic = await internal('src/backends/asic/index.js');

/** A compiled module that may not exist in this build (undefined then). */
export async function loadOptional(rel) {
  return fs.existsSync(path.join(DIST, rel)) ? internal(rel) : undefined;
}

/** CNV quantized at W{bits}A{bits} with Middle-Out, activations calibrated on random inputs. */
export async function quantizedCnv(bits, calibSpec) {
  const m = buildCnv();
  await quantize(m, { avgBits: bits, actBits: bits, heuristic: 'middle-out', calibData: calibSpec, calibLimit: 8 });
  return m;
}

/** MobileNet-V1 with weights quantized at {bits} (Middle-Out); activation bits are stated separately. */
export async function quantizedMobileNet(bits) {
  const m = buildMobileNetV1();
  await quantize(m, { avgBits: bits, heuristic: 'middle-out' });
  return m;
}
