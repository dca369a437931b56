/** Shared fixtures of the Verilog backend tests and bench: the quantized Fashion-MNIST CNN and the folding the RTL runs use. */
import { loadModel } from '../../../src/onnx/io.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import type { BitProgram } from '../../../src/bitir/types.js';
import { FMNIST_CNN } from '../../helpers/build.js';

export type RtlConfig = { acts: boolean; granularity: 'entry' | 'row' };

/** The bundled Fashion-MNIST CNN at W1.4 (acts false) or W1.4A1.4, per-weight or per-row bit maps (Middle-Out). */
export async function fmnistRtlProgram(c: RtlConfig): Promise<BitProgram> {
  const m = loadModel(FMNIST_CNN());
  await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', normalize: 'fmnist', granularity: c.granularity, ...(c.acts ? { actBits: 1.4, actHeuristic: 'middle-out' as const } : {}) });
  return lowerToBitIR(m);
}

/**
 * A folding of about 7,000 cycles per image (c2 and c3 are the bottleneck), with both ±1 ×
 * fixed-point paths (lane by lane at SIMD 9, bit planes at 32/64/72) and a width converter
 * of no integer ratio (128 → 72).
 */
export const RTL_FOLDING = { layers: { '/c1/Conv': { pe: 8, simd: 9 }, '/c2/Conv': { pe: 16, simd: 32 }, '/c3/Conv': { pe: 8, simd: 64 }, '/fc/Gemm': { pe: 2, simd: 72 } } };
