/**
 * Per-weight plane statistics (density and fullness of each residual plane, average bits),
 * computed once per weight and shared by the estimates (estimate.ts) and the weight emitter
 * (emit/weights.ts).
 */
import type { BinaryWeight, FixedWeight } from '../../bitir/types.js';
import { popcount32 } from '../../bitir/fixed.js';

export interface PlaneStats {
  /** Fraction of the weights present in each plane (plane 1 first). */
  density: number[];
  /** Whether every weight has the plane (its mask word need not be stored). */
  full: boolean[];
  /** Σ per-parameter bits / parameters. */
  avgBits: number;
  /** Bits per weight the fixed-point weights use (fixed weights only). */
  fixedBits?: number;
}

const statsCache = new WeakMap<BinaryWeight | FixedWeight, PlaneStats>();

export function planeStats(w: BinaryWeight | FixedWeight): PlaneStats {
  const hit = statsCache.get(w);
  if (hit) return hit;
  let s: PlaneStats;
  if (w.kind === 'fixed') {
    s = { density: [1], full: [true], avgBits: w.bits, fixedBits: w.bits };
  } else {
    const n = w.rows * w.cols;
    const density = w.planes.map((p) => {
      let c = 0;
      for (let i = 0; i < p.mask.length; i++) c += popcount32(p.mask[i]!);
      return n > 0 ? c / n : 0;
    });
    s = { density, full: density.map((d) => d === 1), avgBits: density.reduce((a, b) => a + b, 0) };
  }
  statsCache.set(w, s);
  return s;
}
