import { describe, expect, it } from 'vitest';
import { bitPlanes, heteroBinarize, makeBitMap, mulberry32 } from '../../src/hbnn/index.js';
import { gaussian, thrown } from './reference.js';

describe('bitPlanes', () => {
  it('packs the hand-computed example LSB first: mask of A_i and signs (1 = +1)', () => {
    // T = [0.5, -1.5, 2, -0.25], M = [1, 2, 3, 1]: B_1 = [+, -, +, -], B_2 = [-, +] on {1, 2}, B_3 = [+] on {2}
    const map = new Uint8Array([1, 2, 3, 1]);
    const b = heteroBinarize(new Float32Array([0.5, -1.5, 2, -0.25]), map);
    const planes = bitPlanes(map, b);
    expect(planes.map((p) => p.bit)).toEqual([1, 2, 3]);
    expect(planes.map((p) => Array.from(p.scales))).toEqual([[1.0625], [0.6875], [0.25]]);
    expect(planes.map((p) => p.count)).toEqual([4, 2, 1]);
    expect(planes.map((p) => Array.from(p.mask))).toEqual([[0b1111], [0b0110], [0b0100]]);
    expect(planes.map((p) => Array.from(p.sign))).toEqual([[0b0101], [0b0100], [0b0100]]);
  });

  it('decodes back to the dequantized tensor bit for bit (float32 sequential sum over planes)', () => {
    const n = 1003; // not a multiple of 8
    const channels = 17;
    const t = gaussian(n * channels, 4);
    const rng = mulberry32(4);
    for (const perChannel of [false, true]) {
      const map = makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4 + rng.next() * 0.5 }).bitMap;
      const b = heteroBinarize(t, map, perChannel ? { channels } : {});
      const planes = bitPlanes(map, b);
      const size = t.length / b.channels;
      const decoded = new Float32Array(t.length);
      for (const p of planes) {
        for (let j = 0; j < t.length; j++) {
          if ((p.mask[j >> 3] >> (j & 7)) & 1) {
            const sign = (p.sign[j >> 3] >> (j & 7)) & 1 ? 1 : -1;
            decoded[j] = Math.fround(decoded[j] + sign * p.scales[Math.floor(j / size)]);
          } else {
            expect((p.sign[j >> 3] >> (j & 7)) & 1).toBe(0);
          }
        }
      }
      expect(decoded).toEqual(b.dequantized);
    }
  });

  it('rejects a bit map that does not belong to the binarization', () => {
    const map = new Uint8Array([1, 2, 3, 1]);
    const b = heteroBinarize(new Float32Array([0.5, -1.5, 2, -0.25]), map);
    expect(thrown(() => bitPlanes(new Uint8Array([1, 2, 4, 1]), b)).code).toBe('invalid-option');
    expect(thrown(() => bitPlanes(new Uint8Array([1, 2, 3]), b)).code).toBe('invalid-option');
  });
});

describe('mulberry32', () => {
  it('is deterministic per seed and roughly uniform', () => {
    const a = mulberry32(5);
    const b = mulberry32(5);
    const c = mulberry32(6);
    const xs = Array.from({ length: 10000 }, () => a.next());
    expect(Array.from({ length: 10000 }, () => b.next())).toEqual(xs);
    expect(c.next()).not.toBe(xs[0]);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(xs.filter((x) => x < 0.1).length).toBeGreaterThan(900);
    expect(xs.filter((x) => x < 0.1).length).toBeLessThan(1100);
  });
});
