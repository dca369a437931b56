/**
 * Window geometry (src/ir/window.ts), the one definition that shape inference, the trainer,
 * the bit-level lowering and the ASIC model use: the output size equals a count of window
 * positions, and SAME_* padding gives ceil(in / stride) outputs whose windows cover the input.
 */
import { describe, expect, it } from 'vitest';
import { resolvePads, sameOutputSize, windowOutputSize } from '../../src/ir/window.js';
import { mulberry32 } from '../../src/hbnn/prng.js';

describe('window geometry', () => {
  it('output size = number of window positions (floor), and ceil mode adds at most the partial window that starts in the input', () => {
    const r = mulberry32(14);
    for (let t = 0; t < 2000; t++) {
      const k = 1 + Math.floor(r.next() * 5);
      const s = 1 + Math.floor(r.next() * 4);
      const d = 1 + Math.floor(r.next() * 3);
      const pb = Math.floor(r.next() * 3);
      const pe = Math.floor(r.next() * 3);
      const ek = (k - 1) * d + 1;
      const n = Math.max(ek - pb - pe, 1) + Math.floor(r.next() * 12);
      const floor = windowOutputSize(n, k, s, d, pb, pe, false);
      let brute = 0;
      for (let start = -pb; start + ek <= n + pe; start += s) brute++;
      expect(floor).toBe(brute);
      const ceil = windowOutputSize(n, k, s, d, pb, pe, true);
      // One more window exactly when the floor windows leave part of the padded input uncovered
      // and that extra window would start inside the input or the begin padding.
      const lastStart = -pb + (floor - 1) * s;
      const extra = lastStart + ek < n + pe && lastStart + s < n ? 1 : 0;
      // Pads smaller than the window, as exporters write them (a pad holding a whole window is not checked here).
      if (pb < ek && pe < ek) expect(ceil).toBe(floor + extra);
    }
  });

  it('SAME_UPPER / SAME_LOWER pad to ceil(in / stride) outputs, the odd pad at the end / the beginning', () => {
    for (const n of [1, 4, 5, 7, 28]) {
      for (const s of [1, 2, 3]) {
        for (const k of [1, 2, 3, 5]) {
          const up = resolvePads('SAME_UPPER', [9, 9], [n], [k], [s], [1]);
          const low = resolvePads('SAME_LOWER', [9, 9], [n], [k], [s], [1]);
          expect(windowOutputSize(n, k, s, 1, up[0]!, up[1]!, false)).toBe(sameOutputSize(n, s));
          expect(up[0]! + up[1]!).toBe(low[0]! + low[1]!);
          expect(up[1]! - up[0]!).toBeGreaterThanOrEqual(0);
          expect(up[1]! - up[0]!).toBeLessThanOrEqual(1);
          expect([low[1], low[0]]).toEqual(up);
        }
      }
    }
    expect(resolvePads('VALID', [1, 1], [5], [3], [1], [1])).toEqual([0, 0]);
    expect(resolvePads('NOTSET', [1, 2], [5], [3], [1], [1])).toEqual([1, 2]);
  });
});
