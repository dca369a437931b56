import { describe, expect, it } from 'vitest';
import {
  binarizeWithBitMap,
  bitHistogram,
  countsFromDistribution,
  heteroBinarize,
  HEURISTICS,
  makeBitMap,
  meanSquaredError,
  mulberry32,
  quickSelectPairs,
  type Heuristic,
} from '../../src/hbnn/index.js';
import { selectionStats } from '../../src/hbnn/bitmap.js';
import { selectPairs } from '../../src/hbnn/select.js';
import { gaussian, refBitMap, thrown } from './reference.js';

// |T| = [0.1, 0.5, 0.9, 0.3, 0.2, 0.7, 0.05, 0.8, 0.4, 0.6], sum 4.55; 70/20/10 of 10 = 7/2/1.
const T = new Float32Array([0.1, -0.5, 0.9, 0.3, -0.2, 0.7, 0.05, -0.8, 0.4, 0.6]);
const map = (h: Heuristic, t = T, extra: Partial<Parameters<typeof makeBitMap>[1]> = {}) =>
  Array.from(makeBitMap(t, { heuristic: h, avgBits: 1.4, ...extra }).bitMap);

describe('makeBitMap heuristics on a hand-computed tensor', () => {
  it('middle-out: closest to the mean magnitude of the entries still unassigned', () => {
    // round 1: mean = 0.455; keys ||T| - 0.455| = [.355, .045, .445, .155, .255, .245, .405, .345, .055, .145]
    //   7 smallest -> entries 1, 8, 9, 3, 5, 4, 7 get 1 bit
    // round 2: left {0, 2, 6} with |T| = 0.1, 0.9, 0.05, mean 0.35; keys 0.25, 0.55, 0.3
    //   2 smallest -> entries 0 and 6 get 2 bits; entry 2 gets 3 bits
    expect(map('middle-out')).toEqual([2, 1, 3, 1, 1, 1, 2, 1, 1, 1]);
  });

  it('middle-out-residual: round b ranks by |E_b|, the error an entry keeps if it stops at b bits', () => {
    // round 1 as middle-out (mu_1 = 0.455): entries 1, 8, 9, 3, 5, 4, 7 get 1 bit
    // round 2 over {0, 2, 6}: E_1 = T - 0.455 sign(T) = [-0.355, 0.445, -0.405]
    //   mu_2 = (0.355 + 0.445 + 0.405) / 3 = 0.401667; |E_2| = ||E_1| - mu_2| = [0.0467, 0.0433, 0.0033]
    //   2 smallest -> entries 6 and 2 get 2 bits; entry 0 gets 3 bits
    expect(map('middle-out-residual')).toEqual([3, 1, 2, 1, 1, 1, 2, 1, 1, 1]);
  });

  it('top-down: largest magnitudes first', () => {
    // descending |T|: 2, 7, 5, 9, 1, 8, 3 | 4, 0 | 6
    expect(map('top-down')).toEqual([2, 1, 1, 1, 2, 1, 3, 1, 1, 1]);
  });

  it('bottom-up: smallest magnitudes first', () => {
    // ascending |T|: 6, 0, 4, 3, 8, 1, 9 | 5, 7 | 2
    expect(map('bottom-up')).toEqual([1, 1, 3, 1, 1, 2, 1, 2, 1, 1]);
  });

  it('random: a seeded permutation, independent of the values', () => {
    const t = gaussian(1000, 1);
    const a = makeBitMap(t, { heuristic: 'random', avgBits: 1.4, seed: 42 }).bitMap;
    const again = makeBitMap(t, { heuristic: 'random', avgBits: 1.4, seed: 42 }).bitMap;
    const other = makeBitMap(t, { heuristic: 'random', avgBits: 1.4, seed: 43 }).bitMap;
    const otherValues = makeBitMap(gaussian(1000, 2), { heuristic: 'random', avgBits: 1.4, seed: 42 }).bitMap;
    expect(again).toEqual(a);
    expect(otherValues).toEqual(a);
    const differ = a.reduce((s, m, j) => s + (m !== other[j] ? 1 : 0), 0);
    expect(differ).toBeGreaterThan(200); // independent maps at 70/20/10 differ in ~46% of entries
    expect(bitHistogram(a).counts).toEqual([700, 200, 100]);
    // spread over the tensor, not clustered: each half holds 350 +- 60 one-bit entries
    const ones = a.subarray(0, 500).filter((m) => m === 1).length;
    expect(Math.abs(ones - 350)).toBeLessThan(60);
  });

  it('breaks ties by index: equal keys go to the lower index first', () => {
    const t = new Float32Array([0.5, -0.5, 0.5, 0.5, -0.5, 0.5]);
    for (const h of ['middle-out', 'middle-out-residual', 'top-down', 'bottom-up'] as const) {
      expect(Array.from(makeBitMap(t, { heuristic: h, dist: [0.5, 0.5] }).bitMap)).toEqual([1, 1, 1, 2, 2, 2]);
    }
    // partial ties: |T| = [2, 1, 1, 3, 1], bottom-up 60/40 -> the three 1s (indices 1, 2, 4) take 1 bit
    const p = new Float32Array([2, 1, -1, 3, 1]);
    expect(Array.from(makeBitMap(p, { heuristic: 'bottom-up', dist: [0.6, 0.4] }).bitMap)).toEqual([2, 1, 1, 2, 1]);
    // and with only two 1-bit slots, indices 1 and 2 win over 4
    expect(Array.from(makeBitMap(p, { heuristic: 'bottom-up', dist: [0.4, 0.6] }).bitMap)).toEqual([2, 1, 1, 2, 2]);
  });
});

describe('makeBitMap counts, options and degenerate tensors', () => {
  it('assigns exactly the counts of countsFromDistribution and reports the achieved average', () => {
    const t = gaussian(12345, 3);
    for (const h of HEURISTICS) {
      const r = makeBitMap(t, { heuristic: h, avgBits: 1.37 });
      const expected = countsFromDistribution(r.dist, t.length);
      expect(bitHistogram(r.bitMap).counts).toEqual(expected.counts);
      expect(r.counts).toEqual(expected.counts);
      expect(r.avgBits).toBe(expected.avgBits);
      expect(r.targetAvgBits).toBeCloseTo(1.37, 12);
      expect(Math.abs(r.avgBits - 1.37)).toBeLessThanOrEqual(0.5 / t.length + 1e-12);
    }
  });

  it('per-channel bit maps: each channel gets the exact counts and its own ranking', () => {
    // channel 1 is channel 0 times 10: middle-out ranks it the same way
    const t = new Float32Array(20);
    t.set(T, 0);
    t.set(T.map((v) => v * 10), 10);
    const r = makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, channels: 2 });
    const one = [2, 1, 3, 1, 1, 1, 2, 1, 1, 1];
    expect(Array.from(r.bitMap)).toEqual([...one, ...one]);
    expect(r.counts).toEqual([14, 4, 2]);
    // per tensor, the large channel dominates the mean and the maps differ
    expect(Array.from(makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4 }).bitMap)).not.toEqual([...one, ...one]);
  });

  it('handles constant and all-zero tensors (ties by index) and binarizes them without NaN', () => {
    for (const value of [0, 0.25, -3]) {
      const t = new Float32Array(10).fill(value);
      for (const h of HEURISTICS) {
        const r = makeBitMap(t, { heuristic: h, avgBits: 1.4 });
        if (h !== 'random') expect(Array.from(r.bitMap)).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 2, 3]);
        const b = heteroBinarize(t, r.bitMap);
        expect(Array.from(b.dequantized)).toEqual(Array.from(t));
      }
    }
  });

  it('handles empty tensors and homogeneous distributions', () => {
    const empty = makeBitMap(new Float32Array(0), { heuristic: 'middle-out', avgBits: 1.4 });
    expect(empty.bitMap.length).toBe(0);
    expect(empty.counts).toEqual([0, 0, 0]);
    expect(Array.from(makeBitMap(T, { heuristic: 'middle-out', avgBits: 2 }).bitMap)).toEqual(new Array(10).fill(2));
    expect(Array.from(makeBitMap(T, { heuristic: 'top-down', dist: [0, 0, 1] }).bitMap)).toEqual(new Array(10).fill(3));
  });

  it('writes into a caller buffer when given', () => {
    const out = new Uint8Array(10).fill(7);
    expect(makeBitMap(T, { heuristic: 'middle-out', avgBits: 1.4, out }).bitMap).toBe(out);
    expect(Array.from(out)).toEqual([2, 1, 3, 1, 1, 1, 2, 1, 1, 1]);
  });

  it('rejects NaN and Inf with code numeric, for every heuristic', () => {
    const t = T.slice();
    t[4] = NaN;
    for (const h of HEURISTICS) {
      const e = thrown(() => makeBitMap(t, { heuristic: h, avgBits: 1.4, name: 'fc.weight' }));
      expect(e.code).toBe('numeric');
      expect(e.message).toBe('weight tensor "fc.weight" contains NaN at index 4');
    }
    t[4] = Infinity;
    expect(thrown(() => makeBitMap(t, { heuristic: 'random', avgBits: 1.4 })).code).toBe('numeric');
  });

  it('rejects bad options with invalid-option', () => {
    const bad: Array<Parameters<typeof makeBitMap>[1]> = [
      { heuristic: 'middle' as Heuristic, avgBits: 1.4 },
      { heuristic: 'random', avgBits: 1.4, seed: 1.5 },
      { heuristic: 'middle-out', avgBits: 1.4, channels: 3 },
      { heuristic: 'middle-out-residual', avgBits: 1.4, scaleChannels: 4 },
      { heuristic: 'middle-out', avgBits: 0.5 },
      { heuristic: 'middle-out', dist: [0.5, 0.6] },
      { heuristic: 'middle-out', avgBits: 1.4, out: new Uint8Array(3) },
      { heuristic: 'middle-out', avgBits: 1.4, selector: 'sort' as 'auto' },
    ];
    for (const opts of bad) expect(thrown(() => makeBitMap(T, opts)).code).toBe('invalid-option');
  });
});

describe('makeBitMap against a full-sort reference', () => {
  it('agrees on random small tensors for every heuristic, channel layout and selector', () => {
    const rng = mulberry32(7);
    const dists = [[0.7, 0.2, 0.1], [0.5, 0.5], [0.2, 0.3, 0.5], [0.6, 0, 0.4], [0.1, 0.2, 0.3, 0.4]];
    for (let trial = 0; trial < 60; trial++) {
      const channels = [1, 2, 3, 4][trial % 4];
      const size = 1 + Math.floor(rng.next() * 50);
      const n = channels * size;
      const ties = trial % 3 === 0;
      const t = new Float32Array(n).map(() => (ties ? Math.round((rng.next() - 0.5) * 6) / 2 : rng.next() - 0.5));
      const dist = dists[trial % dists.length];
      for (const heuristic of HEURISTICS) {
        for (const perChannel of [false, true]) {
          for (const scaleChannels of [1, channels]) {
            const counts = countsFromDistribution(dist, perChannel ? size : n).counts;
            const want = refBitMap(t, { heuristic, counts, channels: perChannel ? channels : 1, scaleChannels, seed: trial });
            for (const selector of ['auto', 'sample', 'radix', 'quickselect'] as const) {
              const got = makeBitMap(t, { heuristic, dist, seed: trial, selector, scaleChannels, ...(perChannel ? { channels } : {}) });
              expect(got.bitMap).toEqual(want);
            }
          }
        }
      }
    }
  });

  it('middle-out: the first round takes its whole boundary (one key per radix bucket) or part of it', () => {
    // Evenly spaced magnitudes: near the 70% quantile every key has a radix bucket of its own,
    // so quickselect takes the whole boundary (the pivot is its largest pair).
    for (const n of [40, 41, 400, 4001]) {
      const t = new Float32Array(n).map((_, j) => ((((j * 7919) % n) + 1) / n) * (j % 3 === 0 ? -1 : 1));
      const counts = countsFromDistribution([0.7, 0.2, 0.1], n).counts;
      const want = refBitMap(t, { heuristic: 'middle-out', counts });
      for (const selector of ['radix', 'quickselect', 'sample'] as const) {
        const got = makeBitMap(t, { heuristic: 'middle-out', dist: [0.7, 0.2, 0.1], selector });
        expect(Array.from(got.bitMap)).toEqual(Array.from(want));
        const fused = binarizeWithBitMap(t, { heuristic: 'middle-out', dist: [0.7, 0.2, 0.1], selector }, { dequantize: false });
        const ref = heteroBinarize(t, want);
        expect(Array.from(fused.map.bitMap)).toEqual(Array.from(want));
        expect(Array.from(fused.bin.signs)).toEqual(Array.from(ref.signs));
        expect(Array.from(fused.bin.scales)).toEqual(Array.from(ref.scales));
      }
    }
  });

  it('falls back to the histogram, rebuilding the candidate list, when sampled bounds fail', () => {
    const rng = mulberry32(12);
    const before = selectionStats.fallbacks;
    selectionStats.rejectSamples = true;
    try {
      for (let trial = 0; trial < 12; trial++) {
        const channels = [1, 3][trial % 2];
        const size = 20 + Math.floor(rng.next() * 40);
        const t = new Float32Array(channels * size).map(() => rng.next() - 0.5);
        const dist = [0.4, 0.3, 0.2, 0.1];
        for (const heuristic of HEURISTICS) {
          for (const perChannel of [false, true]) {
            const counts = countsFromDistribution(dist, perChannel ? size : t.length).counts;
            const want = refBitMap(t, { heuristic, counts, channels: perChannel ? channels : 1, seed: trial });
            const got = makeBitMap(t, { heuristic, dist, seed: trial, selector: 'sample', ...(perChannel ? { channels } : {}) });
            expect(got.bitMap).toEqual(want);
          }
        }
      }
    } finally {
      selectionStats.rejectSamples = false;
    }
    expect(selectionStats.fallbacks - before).toBeGreaterThan(100);
  });

  it('falls back when ties at the sampled threshold overflow the room for the boundary', () => {
    // half the entries are exactly 0.5, the c-th smallest |T|: the sampled bounds collapse to
    // [0.5, 0.5] and the boundary (20,000 ties) is far larger than the sample predicts
    const rng = mulberry32(31);
    const t = new Float32Array(40_000).map((_, j) => (j % 2 ? 0.5 : rng.next()));
    const before = selectionStats.fallbacks;
    const got = makeBitMap(t, { heuristic: 'bottom-up', dist: [0.5, 0.5] }).bitMap;
    expect(selectionStats.fallbacks).toBe(before + 1);
    expect(got).toEqual(refBitMap(t, { heuristic: 'bottom-up', counts: [20_000, 20_000] }));
  });

  it('agrees on a tensor large enough for the sampled and radix paths', () => {
    const t = gaussian(70_000, 8, 0.05); // above RADIX_MIN_CANDIDATES (32768)
    for (const heuristic of HEURISTICS) {
      const counts = countsFromDistribution([0.7, 0.2, 0.1], t.length).counts;
      const want = refBitMap(t, { heuristic, counts, seed: 5 });
      const sampled = selectionStats.sampled;
      const auto = makeBitMap(t, { heuristic, avgBits: 1.4, seed: 5 }).bitMap;
      expect(selectionStats.sampled).toBeGreaterThan(sampled);
      expect(auto).toEqual(want);
      expect(makeBitMap(t, { heuristic, avgBits: 1.4, seed: 5, selector: 'radix' }).bitMap).toEqual(want);
      expect(makeBitMap(t, { heuristic, avgBits: 1.4, seed: 5, selector: 'quickselect' }).bitMap).toEqual(want);
    }
  });
});

describe('quality: middle-out beats uninformed placement (the paper\'s claim)', () => {
  it('has lower reconstruction error than random and top-down at 1.4 bits on Gaussian weights', () => {
    const t = gaussian(20_000, 21);
    const mse = (h: Heuristic) => meanSquaredError(t, heteroBinarize(t, makeBitMap(t, { heuristic: h, avgBits: 1.4 }).bitMap).dequantized);
    const mo = mse('middle-out');
    expect(mo).toBeLessThan(mse('random'));
    expect(mo).toBeLessThan(mse('top-down'));
    expect(mse('middle-out-residual')).toBeLessThan(mse('random'));
  });
});

describe.each([
  ['quickSelectPairs', quickSelectPairs],
  ['selectPairs', selectPairs],
] as const)('%s', (_, select) => {
  function check(keys: number[], c: number): void {
    const n = keys.length;
    const k = Uint32Array.from(keys);
    const idx = Uint32Array.from(keys, (_, i) => i);
    select(k, idx, n, c);
    // a permutation of the input
    const perm = Array.from(idx).sort((a, b) => a - b);
    for (let i = 0; i < n; i++) if (perm[i] !== i) expect(perm[i]).toBe(i);
    for (let p = 0; p < n; p++) if (k[p] !== keys[idx[p]!]) expect(k[p]).toBe(keys[idx[p]!]);
    // positions [0, c) hold exactly the c smallest (key, index) pairs of a full sort
    const sorted = keys.map((key, i) => [key, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const want = new Set(sorted.slice(0, Math.max(0, Math.min(c, n))).map(([, i]) => i));
    expect(new Set(Array.from(idx.subarray(0, Math.max(0, Math.min(c, n)))))).toEqual(want);
    // and for 0 < c < n, position c - 1 the c-th smallest (bitmap.ts reads it as the pivot)
    if (c > 0 && c < n) expect(idx[c - 1]).toBe(sorted[c - 1]![1]);
  }

  it('matches a full sort on many pairs (bucketed in selectPairs): bands, ties, the pivot as a bucket\'s largest', () => {
    const rng = mulberry32(7);
    for (let trial = 0; trial < 40; trial++) {
      const n = 4096 + Math.floor(rng.next() * 30000);
      const base = Math.floor(rng.next() * 2 ** 31);
      const range = [3, 5000, 2 ** 20, 2 ** 32 - 1 - base][trial % 4]!;
      const keys = Array.from({ length: n }, () => base + Math.floor(rng.next() * range));
      const c = trial % 5 === 0 ? n - 1 : 1 + Math.floor(rng.next() * (n - 1));
      check(keys, c);
    }
    // the c-th smallest alone at the top of its bucket
    const keys = Array.from({ length: 10000 }, (_, i) => (i < 5000 ? i : 2 ** 31 + i));
    check(keys, 5000);
    check(keys, 5001);
  });

  it('matches a full sort on random keys with many duplicates', () => {
    const rng = mulberry32(99);
    for (let trial = 0; trial < 300; trial++) {
      const n = Math.floor(rng.next() * 400);
      const range = [2, 10, 1000, 2 ** 32][trial % 4];
      const keys = Array.from({ length: n }, () => Math.floor(rng.next() * range));
      check(keys, Math.floor(rng.next() * (n + 2)));
    }
  });

  it('handles sorted, reversed, constant and organ-pipe inputs (worst cases for naive pivots)', () => {
    const n = 5000;
    const patterns = [
      Array.from({ length: n }, (_, i) => i),
      Array.from({ length: n }, (_, i) => n - i),
      new Array<number>(n).fill(7),
      Array.from({ length: n }, (_, i) => Math.min(i, n - i)),
      Array.from({ length: n }, (_, i) => (i % 2 ? i : n - i)),
    ];
    for (const keys of patterns) for (const c of [1, 2, n >> 1, n - 1]) check(keys, c);
  });
});

describe('bitHistogram', () => {
  it('counts entries per bitwidth and averages them', () => {
    expect(bitHistogram(new Uint8Array([1, 3, 1, 2, 1]))).toEqual({ counts: [3, 1, 1], n: 5, avgBits: 8 / 5 });
    expect(bitHistogram(new Uint8Array(0))).toEqual({ counts: [], n: 0, avgBits: 0 });
    expect(thrown(() => bitHistogram(new Uint8Array([1, 0]))).code).toBe('invalid-option');
    expect(thrown(() => bitHistogram(new Uint8Array([9]))).message).toContain('bitMap[0] = 9');
  });
});
