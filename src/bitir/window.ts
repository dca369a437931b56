/**
 * Sliding windows of `conv` and `maxpool` as precomputed index tables (docs/bit-ir.md §2).
 */
import type { Window2d } from './types.js';

export interface WindowTable {
  /** Output rows and columns. */
  oh: number;
  ow: number;
  /** Kernel positions per window (KH·KW). */
  kk: number;
  /**
   * For output pixel p and kernel position k = kh·KW + kw: the input spatial index
   * iy·W + ix, or -1 where the window reads padding. Layout [p·kk + k].
   */
  spatial: Int32Array;
}

/** The window table of a 2-D window op over [C, H, W] with the given output size. */
export function windowTable(inShape: readonly number[], w: Window2d, oh: number, ow: number): WindowTable {
  const h = inShape[1]!;
  const wd = inShape[2]!;
  const [kh, kw] = w.kernel;
  const kk = kh * kw;
  const spatial = new Int32Array(oh * ow * kk);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const p = y * ow + x;
      for (let a = 0; a < kh; a++) {
        const iy = y * w.strides[0] - w.pads[0] + a * w.dilations[0];
        for (let b = 0; b < kw; b++) {
          const ix = x * w.strides[1] - w.pads[1] + b * w.dilations[1];
          spatial[p * kk + a * kw + b] = iy >= 0 && iy < h && ix >= 0 && ix < wd ? iy * wd + ix : -1;
        }
      }
    }
  }
  return { oh, ow, kk, spatial };
}
