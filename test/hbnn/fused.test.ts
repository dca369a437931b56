import { describe, expect, it } from 'vitest';
import { binarizeWithBitMap, heteroBinarize, makeBitMap, type Heuristic } from '../../src/hbnn/index.js';
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
      });
    }
  }

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

  it('rejects NaN with the same error as makeBitMap', () => {
    const t = gaussian(100, 1);
    t[42] = NaN;
    expect(() => binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, name: 'w' })).toThrow(/"w" contains NaN at index 42/);
  });
});
