import { describe, expect, it } from 'vitest';
import { binarizeWithBitMap, heteroBinarize, makeBitMap, residualBinarize, type Heuristic } from '../../src/hbnn/index.js';
import { selectionStats } from '../../src/hbnn/bitmap.js';
import { gaussian } from './reference.js';

const bytes = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

describe('binarizeWithBitMap equals makeBitMap + heteroBinarize bit for bit', () => {
  const cases: [number, number | undefined][] = [
    [0, undefined],
    [7, undefined],
    [1000, undefined],
    [1000, 10],
    [40000, undefined],
    [40000, 4],
    [100000, undefined],
    [100000, 2],
  ];
  const heuristics: Heuristic[] = ['middle-out', 'middle-out-residual', 'top-down'];
  for (const [n, channels] of cases) {
    for (const heuristic of heuristics) {
      it(`${heuristic}, n = ${n}, ${channels === undefined ? 'per tensor' : `${channels} channels`}`, () => {
        const t = gaussian(n, 17 + n, 0.05);
        const ch = channels === undefined ? {} : { channels };
        const mapOpts = { heuristic, avgBits: 1.4, ...ch, ...(channels === undefined ? {} : { scaleChannels: channels }) };
        const map = makeBitMap(t, mapOpts);
        const bin = heteroBinarize(t, map.bitMap, ch);
        const f = binarizeWithBitMap(t, mapOpts, ch);
        expect(Array.from(f.map.bitMap)).toEqual(Array.from(map.bitMap));
        expect(f.map.counts).toEqual(map.counts);
        expect(f.bin.nBits).toBe(bin.nBits);
        expect(bytes(f.bin.scales)).toEqual(bytes(bin.scales));
        expect(Array.from(f.bin.activeCounts)).toEqual(Array.from(bin.activeCounts));
        expect(Array.from(f.bin.signs)).toEqual(Array.from(bin.signs));
        expect(bytes(f.bin.dequantized)).toEqual(bytes(bin.dequantized));
        // dequantize: false writes no values; the same signs and scales, and Ŵ rebuilt on read.
        const lean = binarizeWithBitMap(t, mapOpts, { ...ch, dequantize: false });
        expect(Array.from(lean.map.bitMap)).toEqual(Array.from(map.bitMap));
        expect(Array.from(lean.bin.signs)).toEqual(Array.from(bin.signs));
        expect(bytes(lean.bin.scales)).toEqual(bytes(bin.scales));
        expect(Array.from(lean.bin.activeCounts)).toEqual(Array.from(bin.activeCounts));
        expect(bytes(lean.bin.dequantized)).toEqual(bytes(bin.dequantized));
      });
    }
  }

  it('dequantize: false in the homogeneous and heterogeneous binarizations: the same signs and scales, Ŵ rebuilt bit for bit', () => {
    const t = gaussian(30000, 5, 0.05);
    for (const channels of [undefined, 6]) {
      const ch = channels === undefined ? {} : { channels };
      for (const nBits of [1, 2, 3]) {
        const full = residualBinarize(t, nBits, ch);
        const lean = residualBinarize(t, nBits, { ...ch, dequantize: false });
        expect(Array.from(lean.signs)).toEqual(Array.from(full.signs));
        expect(bytes(lean.scales)).toEqual(bytes(full.scales));
        expect(bytes(lean.dequantized)).toEqual(bytes(full.dequantized));
      }
      const map = makeBitMap(t, { heuristic: 'bottom-up', avgBits: 1.7 }).bitMap;
      const full = heteroBinarize(t, map, ch);
      const lean = heteroBinarize(t, map, { ...ch, dequantize: false });
      expect(Array.from(lean.signs)).toEqual(Array.from(full.signs));
      expect(bytes(lean.dequantized)).toEqual(bytes(full.dequantized));
    }
  });

  it('per-channel bit map with per-tensor scales (groups differ) and reused buffers', () => {
    const t = gaussian(4096, 3, 0.1);
    const map = makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.6, channels: 8 });
    const bin = heteroBinarize(t, map.bitMap);
    const out = new Float32Array(t.length).fill(9);
    const signsOut = new Uint8Array(t.length).fill(255);
    const mapOut = new Uint8Array(t.length).fill(7);
    const f = binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.6, channels: 8, out: mapOut }, { out, signsOut });
    expect(f.map.bitMap).toBe(mapOut);
    expect(f.bin.dequantized).toBe(out);
    expect(Array.from(mapOut)).toEqual(Array.from(map.bitMap));
    expect(bytes(f.bin.scales)).toEqual(bytes(bin.scales));
    expect(Array.from(signsOut)).toEqual(Array.from(bin.signs));
    expect(bytes(out)).toEqual(bytes(bin.dequantized));
    // Reused buffers, per tensor: the same again.
    const g = binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.6, out: mapOut }, { out, signsOut });
    const map2 = makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.6 });
    const bin2 = heteroBinarize(t, map2.bitMap);
    expect(Array.from(g.map.bitMap)).toEqual(Array.from(map2.bitMap));
    expect(Array.from(g.bin.signs)).toEqual(Array.from(bin2.signs));
    expect(bytes(g.bin.dequantized)).toEqual(bytes(bin2.dequantized));
  });

  // The middle-out fast path shares its first round (round-1 values, signs, the list A_2) and
  // its second round (the binarization's round-2 residual) with the binarization; every
  // distribution shape and selection path must still give the separate calls' bytes.
  const same = (t: Float32Array, mapOpts: Parameters<typeof makeBitMap>[1], ch: { channels?: number } = {}) => {
    const map = makeBitMap(t, mapOpts);
    const bin = heteroBinarize(t, map.bitMap, ch);
    // Reused output buffers full of garbage must not leak into the result.
    const out = new Float32Array(t.length).fill(-3);
    const signsOut = new Uint8Array(t.length).fill(0xff);
    const f = binarizeWithBitMap(t, mapOpts, { ...ch, out, signsOut });
    expect(Array.from(f.map.bitMap)).toEqual(Array.from(map.bitMap));
    expect(bytes(f.bin.scales)).toEqual(bytes(bin.scales));
    expect(Array.from(f.bin.activeCounts)).toEqual(Array.from(bin.activeCounts));
    expect(Array.from(f.bin.signs)).toEqual(Array.from(bin.signs));
    expect(bytes(f.bin.dequantized)).toEqual(bytes(bin.dequantized));
    // Without values (as quantize runs it): the last selection round also shortens A_2 to a
    // superset of A_3 for the binarization (rebuilt after a rejected sample): the same bytes.
    const lean = binarizeWithBitMap(t, mapOpts, { ...ch, dequantize: false, signsOut: new Uint8Array(t.length).fill(0xff) });
    expect(Array.from(lean.map.bitMap)).toEqual(Array.from(map.bitMap));
    expect(bytes(lean.bin.scales)).toEqual(bytes(bin.scales));
    expect(Array.from(lean.bin.activeCounts)).toEqual(Array.from(bin.activeCounts));
    expect(Array.from(lean.bin.signs)).toEqual(Array.from(bin.signs));
  };
  const dists: [string, number[]][] = [
    ['1 and 2 bits only (one selection round)', [0.8, 0.2]],
    ['four bitwidths (round 2 not the last)', [0.5, 0.2, 0.2, 0.1]],
    ['no 1-bit entries (round 1 selects nothing)', [0, 0.6, 0.4]],
    ['no 2-bit entries (round 2 selects nothing)', [0.7, 0, 0.3]],
    ['all at 3 bits', [0, 0, 1]],
  ];
  for (const [what, dist] of dists) {
    it(`middle-out, ${what}`, () => {
      const t = gaussian(50000, 5, 0.05);
      same(t, { heuristic: 'middle-out', dist });
      same(t, { heuristic: 'middle-out', dist, channels: 5, scaleChannels: 5 }, { channels: 5 });
    });
  }

  for (const selector of ['quickselect', 'radix', 'sample'] as const) {
    it(`middle-out with the ${selector} selector`, () => same(gaussian(70000, 9, 0.05), { heuristic: 'middle-out', avgBits: 1.4, selector }));
  }

  it('middle-out when every sampled pass is rejected (rounds 1 and 2 rerun)', () => {
    selectionStats.rejectSamples = true;
    try {
      const before = selectionStats.fallbacks;
      // Large enough that round 2 (30% of the entries) samples too under 'auto'.
      same(gaussian(200000, 11, 0.05), { heuristic: 'middle-out', avgBits: 1.4 });
      same(gaussian(20000, 13, 0.05), { heuristic: 'middle-out', avgBits: 1.4, selector: 'sample' });
      same(gaussian(70000, 12, 0.05), { heuristic: 'middle-out', dist: [0.5, 0.2, 0.2, 0.1], channels: 2, scaleChannels: 2, selector: 'sample' }, { channels: 2 });
      expect(selectionStats.fallbacks - before).toBeGreaterThanOrEqual(2 + 3 + 6);
    } finally {
      selectionStats.rejectSamples = false;
    }
  });

  it('middle-out with zeros, negative zeros and ties', () => {
    const t = new Float32Array(30000);
    for (let j = 0; j < t.length; j++) t[j] = [0, -0, 0.5, -0.5, 0.25, -1][j % 6]!;
    same(t, { heuristic: 'middle-out', avgBits: 1.4 });
    same(new Float32Array(30000).fill(-0.125), { heuristic: 'middle-out', avgBits: 1.4 });
  });

  it('sumAbs (the caller\'s sum |T|) replaces the first pass: same bytes; used only per tensor, re-checked when not finite', () => {
    const t = gaussian(50000, 3, 0.05);
    let sum = 0;
    for (let j = 0; j < t.length; j++) sum += Math.abs(t[j]!);
    const mapOpts = { heuristic: 'middle-out' as const, avgBits: 1.4, name: 'w' };
    const ref = binarizeWithBitMap(t, mapOpts);
    const given = binarizeWithBitMap(t, mapOpts, { sumAbs: sum });
    expect(bytes(given.bin.dequantized)).toEqual(bytes(ref.bin.dequantized));
    expect(Array.from(given.map.bitMap)).toEqual(Array.from(ref.map.bitMap));
    expect(bytes(given.bin.scales)).toEqual(bytes(ref.bin.scales));
    // it is really taken: a different sum gives a different round-1 scale
    const off = binarizeWithBitMap(t, mapOpts, { sumAbs: sum * 1.01 });
    expect(off.bin.scales[0]).not.toBe(ref.bin.scales[0]);
    // per-channel scales (groups of the map and the scales differ): ignored
    const ch = binarizeWithBitMap(t, mapOpts, { channels: 5, sumAbs: sum * 1.01 });
    expect(bytes(ch.bin.dequantized)).toEqual(bytes(binarizeWithBitMap(t, mapOpts, { channels: 5 }).bin.dequantized));
    // a non-finite sum is not trusted: the pass runs and names the bad entry
    const bad = t.slice();
    bad[7] = Infinity;
    expect(() => binarizeWithBitMap(bad, mapOpts, { sumAbs: Infinity })).toThrow(/"w" contains Infinity at index 7/);
    expect(bytes(binarizeWithBitMap(t, mapOpts, { sumAbs: NaN }).bin.dequantized)).toEqual(bytes(ref.bin.dequantized));
  });

  it('rejects NaN with the same error as makeBitMap', () => {
    const t = gaussian(100, 1);
    t[42] = NaN;
    expect(() => binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, name: 'w' })).toThrow(/"w" contains NaN at index 42/);
  });
});
