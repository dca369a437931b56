import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  countsFromDistribution,
  distFromAvg,
  distributionMean,
  mulberry32,
  resolveDistribution,
} from '../../src/hbnn/index.js';
import { thrown } from './reference.js';

function close(actual: number[], expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
}

describe('distFromAvg (the default rule)', () => {
  it("reproduces the paper's examples: 1.4 -> 70/20/10 and 1.2 -> 85/10/5", () => {
    close(distFromAvg(1.4), [0.7, 0.2, 0.1]);
    close(distFromAvg(1.2, 3), [0.85, 0.1, 0.05]);
  });

  it('makes integer averages homogeneous', () => {
    expect(distFromAvg(1)).toEqual([1, 0, 0]);
    expect(distFromAvg(2)).toEqual([0, 1, 0]);
    expect(distFromAvg(3)).toEqual([0, 0, 1]);
    expect(distFromAvg(4, 8)).toEqual([0, 0, 0, 1, 0, 0, 0, 0]);
    expect(distFromAvg(1, 1)).toEqual([1]);
  });

  it('matches the table in docs/method.md', () => {
    // avg = k + x, s = min(x, 1 - x) / 4: p_k = 1 - x + s, p_{k+1} = x - 2s, p_{k+2} = s;
    // on the top interval (k + 1 = maxBits) p_k = 1 - x, p_{k+1} = x.
    const table: Array<[number, number[]]> = [
      [1.0, [1, 0, 0]],
      [1.2, [0.85, 0.1, 0.05]],
      [1.4, [0.7, 0.2, 0.1]],
      [1.6, [0.5, 0.4, 0.1]],
      [1.8, [0.25, 0.7, 0.05]],
      [2.0, [0, 1, 0]],
      [2.5, [0, 0.5, 0.5]],
      [3.0, [0, 0, 1]],
    ];
    for (const [avg, dist] of table) close(distFromAvg(avg, 3), dist);
    close(distFromAvg(1.5, 2), [0.5, 0.5]);
    close(distFromAvg(2.5, 4), [0, 0.625, 0.25, 0.125]); // k = 2 has room to spread up to 4 bits
  });

  it('agrees with the table printed in docs/method.md', () => {
    const doc = fs.readFileSync(new URL('../../docs/method.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| (\d\.\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$/gm)];
    expect(rows.length).toBe(9);
    for (const row of rows) close(distFromAvg(Number(row[1]), 3), [Number(row[2]), Number(row[3]), Number(row[4])]);
  });

  it('has mean exactly avgBits, non-negative fractions and no jumps, for every maxBits', () => {
    for (let maxBits = 1; maxBits <= 8; maxBits++) {
      let previous: number[] | undefined;
      for (let step = 0; step <= 700; step++) {
        const avg = 1 + ((maxBits - 1) * step) / 700;
        const d = distFromAvg(avg, maxBits);
        expect(d.length).toBe(maxBits);
        expect(d.every((p) => p >= 0)).toBe(true);
        expect(d.reduce((a, p) => a + p, 0)).toBeCloseTo(1, 12);
        expect(distributionMean(d)).toBeCloseTo(avg, 12);
        if (previous !== undefined) {
          // continuous in avg: the fractions have slopes of at most 1.5 (p_{k+1} = x - 2s with
          // s' = -1/4), so a step of (maxBits - 1) / 700 moves each by at most 1.5 times that
          const moved = Math.max(...d.map((p, i) => Math.abs(p - previous![i])));
          expect(moved).toBeLessThanOrEqual((1.5 * (maxBits - 1)) / 700 + 1e-12);
        }
        previous = d;
      }
    }
  });

  it('rejects averages outside [1, maxBits] and bad maxBits with invalid-option', () => {
    for (const [avg, maxBits] of [
      [0.9, 3],
      [3.1, 3],
      [NaN, 3],
      [2.5, 2],
      [1.4, 0],
      [1.4, 9],
      [1.4, 2.5],
    ]) {
      expect(thrown(() => distFromAvg(avg, maxBits)).code).toBe('invalid-option');
    }
  });
});

describe('resolveDistribution', () => {
  it('uses distFromAvg for an average (maxBits defaults to 3)', () => {
    const r = resolveDistribution({ avgBits: 1.4 });
    expect(r.maxBits).toBe(3);
    close(r.dist, [0.7, 0.2, 0.1]);
    expect(r.avgBits).toBeCloseTo(1.4, 12);
  });

  it('accepts an explicit distribution, alone or with a matching average', () => {
    const r = resolveDistribution({ dist: [0.8, 0, 0.2] });
    expect(r.dist).toEqual([0.8, 0, 0.2]);
    expect(r.maxBits).toBe(3);
    expect(r.avgBits).toBeCloseTo(1.4, 12);
    expect(resolveDistribution({ dist: [0.8, 0, 0.2], avgBits: 1.4 }).avgBits).toBeCloseTo(1.4, 12);
    // padded to maxBits; trailing zeros beyond maxBits are fine
    expect(resolveDistribution({ dist: [0.5, 0.5], maxBits: 3 }).dist).toEqual([0.5, 0.5, 0]);
    expect(resolveDistribution({ dist: [0.5, 0.5, 0, 0], maxBits: 2 }).dist).toEqual([0.5, 0.5]);
    // normalized within the tolerance
    const n = resolveDistribution({ dist: [0.7000004, 0.2, 0.1] });
    expect(n.dist.reduce((a, p) => a + p, 0)).toBeCloseTo(1, 15);
  });

  it('rejects bad distributions with invalid-option and a clear message', () => {
    const cases: Array<[Parameters<typeof resolveDistribution>[0], string]> = [
      [{ dist: [0.7, 0.2, 0.2] }, 'sums to 1.1'],
      [{ dist: [0.7, 0.4, -0.1] }, 'dist[2] (the 3-bit fraction) must be a finite non-negative number'],
      [{ dist: [0.5, NaN, 0.5] }, 'dist[1]'],
      [{ dist: [] }, 'fractions for 1 to 8 bitwidths'],
      [{ dist: new Array(9).fill(1 / 9) }, 'fractions for 1 to 8 bitwidths'],
      [{ dist: [0.7, 0.2, 0.1], avgBits: 1.5 }, 'has a mean of 1.4'],
      [{ dist: [0.5, 0.25, 0.25], maxBits: 2 }, 'dist gives 3-bit entries a fraction of 0.25 but maxBits is 2'],
      [{}, 'give an average bitwidth (avgBits) or an explicit distribution (dist)'],
      [{ avgBits: 3.5 }, 'avgBits must be a number from 1 to maxBits = 3'],
    ];
    for (const [spec, message] of cases) {
      const e = thrown(() => resolveDistribution(spec));
      expect(e.code).toBe('invalid-option');
      expect(e.message).toContain(message);
    }
  });
});

describe('countsFromDistribution (exact counts)', () => {
  it('gives the hand-computed counts', () => {
    // 70/20/10 of 10 = 7/2/1 exactly (despite float noise in 0.1 * 10)
    expect(countsFromDistribution(distFromAvg(1.4), 10)).toEqual({ counts: [7, 2, 1], n: 10, totalBits: 14, avgBits: 1.4 });
    // of 3: quotas 2.1/0.6/0.3 -> floors 2/0/0, the one left goes to the largest remainder (0.6)
    expect(countsFromDistribution([0.7, 0.2, 0.1], 3).counts).toEqual([2, 1, 0]);
    // of 1: 1.4 bits rounds to a 1-bit total
    expect(countsFromDistribution([0.7, 0.2, 0.1], 1).counts).toEqual([1, 0, 0]);
    // of 5: quotas 3.5/1/0.5 -> floors 3/1/0, remainders 0.5 = 0.5 tie -> fewer bits: 4/1/0 = 6 bits;
    // the target is 1.4 * 5 = 7 bits, so one entry moves up: 1 -> 2 and 2 -> 3 cost the same
    // (least squares), the first in (from, to) order wins: 3/2/0 = 7 bits
    expect(countsFromDistribution([0.7, 0.2, 0.1], 5)).toEqual({ counts: [3, 2, 0], n: 5, totalBits: 7, avgBits: 1.4 });
    // a half-bit total rounds down: 1.5 bits of 1 entry -> 1 bit
    expect(countsFromDistribution([0.5, 0.5], 1).counts).toEqual([1, 0]);
    expect(countsFromDistribution([0.25, 0.5, 0.25], 0)).toEqual({ counts: [0, 0, 0], n: 0, totalBits: 0, avgBits: 0 });
  });

  it('fixes the total when largest remainder alone misses the average', () => {
    // quotas 0.5/1/0.5 -> floors 0/1/0, the remainder tie goes to 1 bit: 1/1/0 = 3 bits,
    // but the target is 2 * 2 = 4 bits: one entry moves 1 -> 2 (cheapest) -> 0/2/0
    expect(countsFromDistribution([0.25, 0.5, 0.25], 2).counts).toEqual([0, 2, 0]);
  });

  it('sums to N, uses only widths in the distribution and rounds the total to the nearest bit', () => {
    const rng = mulberry32(2024);
    for (let trial = 0; trial < 400; trial++) {
      const k = 1 + Math.floor(rng.next() * 8);
      // a contiguous support of random width, some zero fractions outside it
      const lo = Math.floor(rng.next() * k);
      const hi = lo + Math.floor(rng.next() * (k - lo));
      const raw = Array.from({ length: k }, (_, b) => (b >= lo && b <= hi ? 0.05 + rng.next() : 0));
      const sum = raw.reduce((a, p) => a + p, 0);
      const dist = raw.map((p) => p / sum);
      const mean = distributionMean(dist);
      for (const n of [0, 1, 2, 3, 7, 10, 99, 1000, 12345, 1 + Math.floor(rng.next() * 1e6)]) {
        const r = countsFromDistribution(dist, n);
        expect(r.counts.reduce((a, c) => a + c, 0)).toBe(n);
        r.counts.forEach((c, b) => {
          expect(Number.isInteger(c) && c >= 0).toBe(true);
          if (dist[b] === 0) expect(c).toBe(0);
        });
        expect(r.totalBits).toBe(r.counts.reduce((a, c, b) => a + c * (b + 1), 0));
        expect(Math.abs(r.totalBits - mean * n)).toBeLessThanOrEqual(0.5 + 1e-9);
        if (n > 0) expect(r.avgBits).toBe(r.totalBits / n);
      }
    }
  });

  it('reaches the closest achievable total (brute force over all count vectors, 3 widths)', () => {
    const rng = mulberry32(77);
    for (let trial = 0; trial < 300; trial++) {
      const raw = [rng.next(), rng.next(), rng.next()].map((p, b) => (trial % 3 === b ? 0 : p));
      const dist = raw.map((p) => p / raw.reduce((a, q) => a + q, 0));
      const target = distributionMean(dist);
      const support = [1, 2, 3].filter((b) => dist[b - 1] > 0);
      for (let n = 1; n <= 12; n++) {
        let best = Infinity;
        for (let c1 = 0; c1 <= n; c1++) {
          for (let c2 = 0; c1 + c2 <= n; c2++) {
            const c = [c1, c2, n - c1 - c2];
            if (c.some((x, b) => x > 0 && !support.includes(b + 1))) continue;
            best = Math.min(best, Math.abs(c1 + 2 * c2 + 3 * (n - c1 - c2) - target * n));
          }
        }
        const r = countsFromDistribution(dist, n);
        expect(Math.abs(r.totalBits - target * n)).toBeCloseTo(best, 9);
      }
    }
  });

  it('rejects bad inputs', () => {
    expect(thrown(() => countsFromDistribution([0.5, 0.5], -1)).code).toBe('invalid-option');
    expect(thrown(() => countsFromDistribution([0.5, 0.5], 2.5)).code).toBe('invalid-option');
    expect(thrown(() => countsFromDistribution([0.5, 0.6], 10)).code).toBe('invalid-option');
  });
});
