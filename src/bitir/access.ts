/**
 * Reading single entries of packed BitIR data: a weight plane entry, an activation level's
 * plane value. Used by the op-by-op simulator and the error analysis (not the fast path).
 */
import type { BinaryType, WeightTensor } from './types.js';

/** Weight (row, col) on weight plane `plane` (1-based): +1, -1 or 0; fixed weights (plane 0): the integer. */
export function weightFactor(w: WeightTensor, plane: number, row: number, col: number): number {
  if (w.kind === 'fixed') return w.values[row * w.cols + col]!;
  const p = w.planes[plane - 1]!;
  const word = row * w.wordsPerRow + (col >>> 5);
  const bit = 1 << (col & 31);
  return p.mask[word]! & bit ? (p.signs[word]! & bit ? 1 : -1) : 0;
}

/** Level `level` of a binary type on activation plane `plane` (1-based): +1, -1 or 0 (absent). */
export function planeFactor(t: BinaryType, level: number, plane: number): number {
  const l = t.levels[level]!;
  const bit = 1 << (plane - 1);
  return l.mask & bit ? (l.signs & bit ? 1 : -1) : 0;
}

/** The weight planes of a weight tensor: [1..K] for binary weights, [0] for fixed weights. */
export function weightPlanes(w: WeightTensor): number[] {
  return w.kind === 'fixed' ? [0] : w.planes.map((_, i) => i + 1);
}
