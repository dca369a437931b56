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

/**
 * The divisor of every window of an average pool (ONNX / onnxruntime rule, dilation 1): the
 * window rows [y·sh − pt, y·sh − pt + KH) cut at H + pb (the padded end), and likewise for
 * columns; with `countIncludePad` the divisor is that cut window's size, otherwise only the
 * positions inside the input [0, H) × [0, W) count. Layout [p] for output pixel p.
 */
export function avgPoolDivisors(inShape: readonly number[], w: Window2d, oh: number, ow: number, countIncludePad: boolean): Int32Array {
  const h = inShape[1]!;
  const wd = inShape[2]!;
  const out = new Int32Array(oh * ow);
  const span = (start: number, k: number, size: number, padEnd: number): number => {
    let end = Math.min(start + k, size + padEnd);
    if (countIncludePad) return end - start;
    end = Math.min(end, size);
    return Math.max(0, end - Math.max(start, 0));
  };
  for (let y = 0; y < oh; y++) {
    const rows = span(y * w.strides[0] - w.pads[0], w.kernel[0], h, w.pads[2]);
    for (let x = 0; x < ow; x++) out[y * ow + x] = rows * span(x * w.strides[1] - w.pads[1], w.kernel[1], wd, w.pads[3]);
  }
  return out;
}

/**
 * Fraction of an [H, W] input a streaming window op reads (row by row) before its first output
 * row: the rows its first window needs, min(span − 1 − pad_top, H − 1) + 1, over H. Hardware
 * backends add these up along a branch to size the FIFO of the other branch (docs/backend-vivado-hls.md,
 * "Branches: beats and FIFO depths").
 */
export function windowLead(w: Pick<Window2d, 'kernel' | 'dilations' | 'pads'>, height: number): number {
  const span = (w.kernel[0] - 1) * w.dilations[0] + 1;
  const rows = Math.min(span - 1 - w.pads[0], height - 1) + 1;
  return Math.max(0, rows) / height;
}
