import { describe, expect, it } from 'vitest';
import { binarizeWithBitMap, makeBitMap, WarmBounds, type Heuristic } from '../../src/hbnn/index.js';
import { gaussian } from './reference.js';

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Warm-started and cold bit map + binarization of `t` give the same bytes. */
function expectSame(t: Float32Array, mapOpts: Parameters<typeof makeBitMap>[1], warm: WarmBounds, channels?: number): void {
  const binOpts = channels === undefined ? {} : { channels };
  const cold = binarizeWithBitMap(t, mapOpts, binOpts);
  const hot = binarizeWithBitMap(t, { ...mapOpts, warm }, binOpts);
  expect(bytes(hot.map.bitMap).equals(bytes(cold.map.bitMap))).toBe(true);
  expect(bytes(hot.bin.dequantized).equals(bytes(cold.bin.dequantized))).toBe(true);
  expect(bytes(hot.bin.signs).equals(bytes(cold.bin.signs))).toBe(true);
  expect(Array.from(hot.bin.scales)).toEqual(Array.from(cold.bin.scales));
  // makeBitMap alone takes the same warm bounds
  expect(bytes(makeBitMap(t, { ...mapOpts, warm }).bitMap).equals(bytes(cold.map.bitMap))).toBe(true);
}

/** Moves every entry by ±step (seeded signs), as an optimizer step does. */
function perturb(t: Float32Array, step: number, seed: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < t.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    t[i] = Math.fround(t[i]! + (s & 0x10000 ? step : -step));
  }
}

describe('warm-started bit map selections (WarmBounds) give the cold bytes', () => {
  const heuristics: Heuristic[] = ['middle-out', 'middle-out-residual', 'top-down', 'random'];
  const shapes: [string, number, number | undefined][] = [
    ['per tensor', 6000, undefined],
    ['4 channels', 8000, 4],
  ];
  for (const heuristic of heuristics) {
    for (const [label, n, channels] of shapes) {
      for (const dist of [{ avgBits: 1.4 }, { dist: [0.5, 0.3, 0.2] }]) {
        it(`${heuristic}, ${label}, ${JSON.stringify(dist)}: slowly moving weights over 6 steps`, () => {
          const t = gaussian(n, 5 + n, 0.05);
          const ch = channels === undefined ? {} : { channels, scaleChannels: channels };
          const mapOpts = { heuristic, ...dist, ...ch, selector: 'sample' as const };
          const warm = new WarmBounds();
          for (let step = 0; step < 6; step++) {
            if (step > 0) perturb(t, 1e-4, step);
            expectSame(t, mapOpts, warm, channels);
          }
          // the warm path ran (after the first step every sampled selection tries its bounds)
          expect(warm.hits + warm.misses).toBeGreaterThan(0);
          if (heuristic !== 'random') expect(warm.hits).toBeGreaterThan(0);
        });
      }
    }
  }

  // Groups below RADIX_MIN_CANDIDATES keys: 'auto' selects over every key on a cold call,
  // then keeps a rank band around the c-th key (rememberRankBand) for the next call.
  for (const heuristic of heuristics) {
    for (const [label, n, channels] of [['per tensor', 6000, undefined], ['3 channels', 2700, 3], ['tiny', 90, undefined]] as const) {
      it(`${heuristic}, ${label} (auto selector, small groups): rank bands over 6 steps`, () => {
        const t = gaussian(n, 11 + n, 0.05);
        const ch = channels === undefined ? {} : { channels, scaleChannels: channels };
        const mapOpts = { heuristic, avgBits: 1.4, ...ch };
        const warm = new WarmBounds();
        for (let step = 0; step < 6; step++) {
          if (step > 0) perturb(t, 1e-4, 40 + step);
          expectSame(t, mapOpts, warm, channels);
        }
        expect(warm.hits + warm.misses).toBeGreaterThan(0);
        if (heuristic !== 'random') expect(warm.hits).toBeGreaterThan(warm.misses);
      });
    }
  }

  it('small groups: a jump the rank band cannot hold falls back to the full selection, same bytes', () => {
    const t = gaussian(5000, 21, 0.05).map((v) => Math.round(v * 256) / 256); // ties
    const warm = new WarmBounds();
    const mapOpts = { heuristic: 'middle-out' as Heuristic, avgBits: 1.4 };
    expectSame(t, mapOpts, warm);
    expectSame(t, mapOpts, warm);
    const hits = warm.hits;
    expect(hits).toBeGreaterThan(0);
    const misses = warm.misses;
    expectSame(gaussian(5000, 8, 0.6), mapOpts, warm);
    expect(warm.misses).toBeGreaterThan(misses);
    expectSame(t, mapOpts, warm);
  });

  it('ties (many equal keys) and a large jump that the warm bounds cannot hold', () => {
    const t = gaussian(20000, 99, 0.05).map((v) => Math.round(v * 64) / 64);
    const warm = new WarmBounds();
    for (const heuristic of ['middle-out', 'middle-out-residual'] as Heuristic[]) {
      const mapOpts = { heuristic, avgBits: 1.4, selector: 'sample' as const };
      expectSame(t, mapOpts, warm);
      expectSame(t, mapOpts, warm); // the same tensor again: bounds hold
      const jumped = gaussian(20000, 7, 0.5).map((v) => Math.round(v * 8) / 8);
      const misses = warm.misses;
      expectSame(jumped, mapOpts, warm);
      expect(warm.misses).toBeGreaterThan(misses); // rejected, then sampled: the same bytes
      expectSame(t, mapOpts, warm);
    }
  });

  it('empty and whole bands in the memory are rejected or used, with the cold bytes', () => {
    const t = gaussian(30000, 3, 0.05);
    for (const heuristic of ['middle-out', 'middle-out-residual', 'bottom-up'] as Heuristic[]) {
      const mapOpts = { heuristic, dist: [0.6, 0.3, 0.1], selector: 'sample' as const };
      const cases: [string, [number, number, number]][] = [
        ['empty band below every key', [0, 0, 0]],
        ['empty band above every key', [0x7f000000, 0x7f000000, 0]],
        ['whole range', [0, 0xfffffffe, 30000]],
        ['narrow band, too little room', [0x3c000000, 0x3d000000, 0]],
      ];
      for (const [, slot] of cases) {
        const warm = new WarmBounds();
        for (let b = 1; b <= 2; b++) warm.slots.set(b, [...slot]);
        expectSame(t, mapOpts, warm);
        expect(warm.hits + warm.misses).toBeGreaterThan(0);
      }
    }
  });

  it('a steady drift (every weight shrinking by 2-4% a step) keeps the warm bounds hitting, with the cold bytes', () => {
    const u = gaussian(60000, 17, 0.05);
    const warm = new WarmBounds();
    const mapOpts = { heuristic: 'middle-out' as Heuristic, dist: [0.7, 0.2, 0.1], selector: 'sample' as const };
    for (let step = 0; step < 14; step++) {
      if (step > 0) for (let i = 0; i < u.length; i++) u[i] = Math.fround(u[i]! * (1 - 0.02 * (1 + (i % 7) / 7)));
      // one warm call a step, as the training step makes (expectSame makes two on the same tensor)
      const cold = binarizeWithBitMap(u, mapOpts);
      const hot = binarizeWithBitMap(u, { ...mapOpts, warm });
      expect(bytes(hot.map.bitMap).equals(bytes(cold.map.bitMap))).toBe(true);
      expect(bytes(hot.bin.dequantized).equals(bytes(cold.bin.dequantized))).toBe(true);
    }
    // bands that stayed centred on the last pivot missed one round's pivot at every step (13 misses)
    expect(warm.misses).toBeLessThanOrEqual(2);
    expect(warm.hits).toBeGreaterThanOrEqual(24);
  });
});
