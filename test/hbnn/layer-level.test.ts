import { describe, expect, it } from 'vitest';
import { layerLevelBits, mulberry32 } from '../../src/hbnn/index.js';
import { thrown } from './reference.js';

// AlexNet's weight counts: conv1..conv5, fc6..fc8 (61.1 M in all).
const ALEXNET = [64 * 3 * 121, 192 * 64 * 25, 384 * 192 * 9, 256 * 384 * 9, 256 * 256 * 9, 4096 * 9216, 4096 * 4096, 1000 * 4096];

/** Exhaustive search with the documented objective: distance, total, sum n b^2, bits lexicographic. */
function bruteForce(counts: number[], avg: number, maxBits: number): number[] {
  const params = counts.reduce((a, c) => a + c, 0);
  const target = avg * params;
  let best: { key: number[]; bits: number[] } | undefined;
  const bits = new Array<number>(counts.length).fill(1);
  const visit = (l: number): void => {
    if (l === counts.length) {
      let s = 0;
      let q = 0;
      counts.forEach((c, i) => {
        s += c * bits[i];
        q += c * bits[i] * bits[i];
      });
      const key = [Math.abs(s - target), s, q, ...bits];
      const at = best === undefined ? -1 : key.findIndex((v, i) => v !== best!.key[i]);
      if (best === undefined || (at >= 0 && key[at] < best.key[at])) best = { key, bits: bits.slice() };
      return;
    }
    for (let b = 1; b <= maxBits; b++) {
      bits[l] = b;
      visit(l + 1);
    }
  };
  visit(0);
  return best!.bits;
}

describe('layerLevelBits (layer-level baseline)', () => {
  it('integer averages give every layer that bitwidth', () => {
    for (const b of [1, 2, 3]) expect(layerLevelBits(ALEXNET, b, 3).bits).toEqual(new Array(8).fill(b));
  });

  it('hits fractional AlexNet targets as closely as any assignment can, and says so', () => {
    // closest reachable averages: 1.2 -> 1.20005, 1.4 -> 1.40001, 1.6 -> 1.59995, 2.5 -> 2.51046
    for (const [avg, within] of [
      [1.2, 1e-4],
      [1.4, 1e-4],
      [1.6, 1e-4],
      [2.5, 0.011],
    ]) {
      const r = layerLevelBits(ALEXNET, avg, 3);
      expect(r.exact).toBe(true);
      expect(Math.abs(r.avgBits - avg)).toBeLessThan(within);
      expect(r.bits).toEqual(bruteForce(ALEXNET, avg, 3));
      expect(r.totalBits).toBe(ALEXNET.reduce((a, c, l) => a + c * r.bits[l], 0));
    }
    // 1.4 bits: fc6 (62% of the weights) stays at 1 bit, fc7 and fc8 take 2
    expect(layerLevelBits(ALEXNET, 1.4, 3).bits).toEqual([1, 3, 1, 3, 3, 1, 2, 2]);
  });

  it('follows the documented tie-breaks on hand-sized cases', () => {
    // [100, 100] at 1.5: totals 300 from [1, 2] or [2, 1], same sum n b^2 = 500 -> lexicographic: [1, 2]
    expect(layerLevelBits([100, 100], 1.5, 3).bits).toEqual([1, 2]);
    // [300, 100] at 1.5: target 600 is reached only by [1, 3] (300 + 300)
    expect(layerLevelBits([300, 100], 1.5, 3)).toMatchObject({ bits: [1, 3], totalBits: 600, avgBits: 1.5 });
    // [10] at 1.5: 10 and 20 are equally far from 15 -> the smaller total
    expect(layerLevelBits([10], 1.5, 3).bits).toEqual([1]);
    // at 2, [2, 2] beats the equally exact but less uniform [1, 3] and [3, 1]
    expect(layerLevelBits([50, 50], 2, 3).bits).toEqual([2, 2]);
    // empty layers take the bitwidth nearest the average
    expect(layerLevelBits([0, 10], 1.4, 3).bits).toEqual([1, 1]);
    expect(layerLevelBits([0, 10], 1.6, 3).bits).toEqual([2, 2]);
  });

  it('is optimal on random small instances (brute force)', () => {
    const rng = mulberry32(1);
    for (let trial = 0; trial < 300; trial++) {
      const layers = 1 + Math.floor(rng.next() * 6);
      const counts = Array.from({ length: layers }, () => 1 + Math.floor(rng.next() * 50));
      const maxBits = 1 + Math.floor(rng.next() * 3);
      const avg = 1 + rng.next() * (maxBits - 1);
      expect(layerLevelBits(counts, avg, maxBits).bits).toEqual(bruteForce(counts, avg, maxBits));
    }
  });

  it('stays deterministic when the search budget runs out', () => {
    const counts = Array.from({ length: 54 }, (_, i) => 1000 + ((i * 7919) % 97) * 4096);
    const a = layerLevelBits(counts, 1.4, 3);
    expect(layerLevelBits(counts, 1.4, 3)).toEqual(a);
    expect(Math.abs(a.avgBits - 1.4)).toBeLessThan(1e-4);
  });

  it('rejects bad inputs with invalid-option', () => {
    expect(thrown(() => layerLevelBits([], 1.4)).code).toBe('invalid-option');
    expect(thrown(() => layerLevelBits([10, -1], 1.4)).code).toBe('invalid-option');
    expect(thrown(() => layerLevelBits([10, 1.5], 1.4)).code).toBe('invalid-option');
    expect(thrown(() => layerLevelBits([10], 3.5, 3)).code).toBe('invalid-option');
    expect(thrown(() => layerLevelBits([10], 0.5, 3)).code).toBe('invalid-option');
  });
});
