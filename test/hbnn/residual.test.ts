import { describe, expect, it } from 'vitest';
import { heteroBinarize, meanSquaredError, reconstruct, residualBinarize } from '../../src/hbnn/index.js';
import { isHbnnError } from '../../src/errors.js';
import { gaussian, refHetero, thrown } from './reference.js';
import { mulberry32 } from '../../src/hbnn/index.js';

// T = [0.5, -1.5, 2, -0.25]; every number below is a multiple of 1/16, exact in float32.
const T = new Float32Array([0.5, -1.5, 2, -0.25]);

describe('residualBinarize (homogeneous, METHOD §1)', () => {
  it('1 bit: mu_1 = mean|T| and T_hat = mu_1 * sign(T)', () => {
    // mu_1 = (0.5 + 1.5 + 2 + 0.25) / 4 = 4.25 / 4 = 1.0625; B_1 = [+, -, +, -]
    const r = residualBinarize(T, 1);
    expect(r.nBits).toBe(1);
    expect(Array.from(r.scales)).toEqual([1.0625]);
    expect(Array.from(r.dequantized)).toEqual([1.0625, -1.0625, 1.0625, -1.0625]);
    expect(Array.from(r.signs)).toEqual([0, 1, 0, 1]);
    expect(Array.from(r.activeCounts)).toEqual([4]);
  });

  it('2 bits: the second bit binarizes the residual E_1', () => {
    // E_1 = T - 1.0625 * B_1 = [-0.5625, -0.4375, 0.9375, 0.8125]
    // mu_2 = (0.5625 + 0.4375 + 0.9375 + 0.8125) / 4 = 2.75 / 4 = 0.6875; B_2 = [-, -, +, +]
    // T_hat = [1.0625 - 0.6875, -1.0625 - 0.6875, 1.0625 + 0.6875, -1.0625 + 0.6875]
    const r = residualBinarize(T, 2);
    expect(Array.from(r.scales)).toEqual([1.0625, 0.6875]);
    expect(Array.from(r.dequantized)).toEqual([0.375, -1.75, 1.75, -0.375]);
    // sign paths: bit 0 = B_1 negative, bit 1 = B_2 negative
    expect(Array.from(r.signs)).toEqual([0b10, 0b11, 0b00, 0b01]);
  });

  it('takes sign(0) = +1, also for -0', () => {
    // mu_1 = (0 + 0 + 1 + 1) / 4 = 0.5; B_1 = [+, +, +, -]
    const r = residualBinarize(new Float32Array([0, -0, 1, -1]), 1);
    expect(Array.from(r.dequantized)).toEqual([0.5, 0.5, 0.5, -0.5]);
    expect(Array.from(r.signs)).toEqual([0, 0, 0, 1]);
  });

  it('per-channel scales: channel c is the contiguous block c, scales laid out [bit][channel]', () => {
    // channel 0 = [1, -3]: mu_1 = 2, E_1 = [-1, -1], mu_2 = 1, B_2 = [-, -] -> T_hat = [1, -3]
    // channel 1 = [0.5, 0.5]: mu_1 = 0.5, E_1 = [0, 0], mu_2 = 0 -> T_hat = [0.5, 0.5]
    const t = new Float32Array([1, -3, 0.5, 0.5]);
    const r = residualBinarize(t, 2, { channels: 2 });
    expect(r.channels).toBe(2);
    expect(Array.from(r.scales)).toEqual([2, 0.5, 1, 0]);
    expect(Array.from(r.dequantized)).toEqual([1, -3, 0.5, 0.5]);
    // per tensor instead: mu_1 = 5 / 4 = 1.25
    expect(residualBinarize(t, 1).scales[0]).toBe(1.25);
  });

  it('error shrinks with every bit on Gaussian data', () => {
    const t = gaussian(5000, 11);
    const errors = [1, 2, 3, 4].map((b) => meanSquaredError(t, residualBinarize(t, b).dequantized));
    for (let b = 1; b < errors.length; b++) expect(errors[b]).toBeLessThan(errors[b - 1] * 0.6);
  });

  it('rejects nBits outside 1..8', () => {
    for (const bad of [0, 9, 1.5, NaN]) expect(thrown(() => residualBinarize(T, bad)).code).toBe('invalid-option');
  });
});

describe('heteroBinarize (bit map, METHOD §2)', () => {
  it('with sumAbs (round 1 and the pass building A_2 in one): the same bytes for every map; bad maps and non-finite sums as without', () => {
    const bytes = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    const t = gaussian(5003, 9, 0.05);
    t[5] = 0;
    t[6] = -0;
    const sum = t.reduce((a, v) => a + Math.abs(v), 0);
    const rnd = mulberry32(4);
    const maps = [1, 2, 3, 4].map((max) => Uint8Array.from(t, () => 1 + Math.floor(rnd.next() * max)));
    maps.push(new Uint8Array(t.length).fill(2));
    for (const map of maps) {
      for (const dequantize of [true, false]) {
        const ref = heteroBinarize(t, map, { dequantize });
        const got = heteroBinarize(t, map, { dequantize, sumAbs: sum });
        expect(got.nBits).toBe(ref.nBits);
        expect(bytes(got.scales)).toEqual(bytes(ref.scales));
        expect(Array.from(got.activeCounts)).toEqual(Array.from(ref.activeCounts));
        expect(Array.from(got.signs)).toEqual(Array.from(ref.signs));
        expect(bytes(got.dequantized)).toEqual(bytes(ref.dequantized));
      }
    }
    // it is taken: another sum, another mu_1
    expect(heteroBinarize(t, maps[2]!, { sumAbs: sum * 2 }).scales[0]).not.toBe(heteroBinarize(t, maps[2]!).scales[0]);
    // per-channel scales: ignored
    expect(bytes(heteroBinarize(t.subarray(0, 5000), maps[2]!.subarray(0, 5000), { channels: 10, sumAbs: 1 }).dequantized)).toEqual(bytes(heteroBinarize(t.subarray(0, 5000), maps[2]!.subarray(0, 5000), { channels: 10 }).dequantized));
    const bad = maps[1]!.slice();
    bad[77] = 9;
    expect(() => heteroBinarize(t, bad, { sumAbs: sum })).toThrow(/bitMap/);
    const nan = t.slice();
    nan[3] = NaN;
    expect(() => heteroBinarize(nan, maps[1]!, { sumAbs: NaN, name: 'w' })).toThrow(/"w" contains NaN at index 3/);
  });

  it('only entries with M_j >= i take round i', () => {
    // M = [1, 2, 3, 1]
    // round 1 (all): mu_1 = 1.0625, E_1 = [-0.5625, -0.4375, 0.9375, 0.8125]
    // round 2, A_2 = {1, 2}: mu_2 = (0.4375 + 0.9375) / 2 = 0.6875, B_2 = [-, +]
    //   E_2[1] = -0.4375 + 0.6875 = 0.25, E_2[2] = 0.9375 - 0.6875 = 0.25
    // round 3, A_3 = {2}: mu_3 = 0.25, B_3 = + -> entry 2 becomes exact
    // T_hat = [1.0625, -1.0625 - 0.6875, 1.0625 + 0.6875 + 0.25, -1.0625]
    const r = heteroBinarize(T, new Uint8Array([1, 2, 3, 1]));
    expect(r.nBits).toBe(3);
    expect(Array.from(r.scales)).toEqual([1.0625, 0.6875, 0.25]);
    expect(Array.from(r.activeCounts)).toEqual([4, 2, 1]);
    expect(Array.from(r.dequantized)).toEqual([1.0625, -1.75, 2, -1.0625]);
    expect(Array.from(r.signs)).toEqual([0b000, 0b011, 0b000, 0b001]); // entry 1: B_1 = B_2 = -
  });

  it('an empty A_i gives mu_i = 0 in that channel', () => {
    // channel 0 = [1, 2] with M = [2, 2]; channel 1 = [3, 4] with M = [1, 1]
    const r = heteroBinarize(new Float32Array([1, 2, 3, 4]), new Uint8Array([2, 2, 1, 1]), { channels: 2 });
    // channel 0: mu_1 = 1.5, E_1 = [-0.5, 0.5], mu_2 = 0.5 -> [1, 2]; channel 1: mu_1 = 3.5, A_2 empty
    expect(Array.from(r.scales)).toEqual([1.5, 3.5, 0.5, 0]);
    expect(Array.from(r.activeCounts)).toEqual([2, 2, 2, 0]);
    expect(Array.from(r.dequantized)).toEqual([1, 2, 3.5, 3.5]);
  });

  it('equals the straightforward reference on random tensors, maps and channel counts', () => {
    const rng = mulberry32(3);
    for (let trial = 0; trial < 300; trial++) {
      const channels = [1, 2, 5][trial % 3];
      const size = 1 + Math.floor(rng.next() * 40);
      const n = channels * size;
      const quantized = trial % 4 === 0; // many ties and exact zeros
      const t = new Float32Array(n).map(() => (quantized ? Math.round(rng.next() * 4 - 2) : rng.next() * 2 - 1));
      const maxBits = 1 + (trial % 5);
      const map = new Uint8Array(n).map(() => 1 + Math.floor(rng.next() * maxBits));
      for (const c of [1, channels]) {
        const got = heteroBinarize(t, map, { channels: c });
        const want = refHetero(t, map, c);
        expect(got.dequantized).toEqual(want.dequantized);
        expect(got.scales).toEqual(want.scales);
        expect(got.signs).toEqual(want.signs);
        const homogeneous = residualBinarize(t, maxBits, { channels: c });
        expect(homogeneous.dequantized).toEqual(refHetero(t, new Uint8Array(n).fill(maxBits), c).dequantized);
      }
    }
  });

  it('reconstruct() rebuilds T_hat bit for bit from map, signs and scales', () => {
    const t = gaussian(4000, 5);
    const rng = mulberry32(9);
    const map = new Uint8Array(t.length).map(() => 1 + Math.floor(rng.next() * 3));
    for (const channels of [1, 8]) {
      const r = heteroBinarize(t, map, { channels });
      const again = reconstruct(map, r);
      expect(again).toEqual(r.dequantized);
      expect(again).not.toBe(r.dequantized);
    }
  });

  it('writes into caller buffers when given', () => {
    const out = new Float32Array(4);
    const signsOut = new Uint8Array(4).fill(255);
    const r = heteroBinarize(T, new Uint8Array([1, 2, 3, 1]), { out, signsOut });
    expect(r.dequantized).toBe(out);
    expect(r.signs).toBe(signsOut);
    expect(Array.from(signsOut)).toEqual([0b000, 0b011, 0b000, 0b001]);
    expect(thrown(() => heteroBinarize(T, new Uint8Array([1, 1, 1, 1]), { out: new Float32Array(3) })).code).toBe('invalid-option');
  });

  it('rejects bit maps of the wrong length or with widths outside 1..8', () => {
    expect(thrown(() => heteroBinarize(T, new Uint8Array([1, 2, 3]))).code).toBe('invalid-option');
    const zero = thrown(() => heteroBinarize(T, new Uint8Array([1, 0, 3, 1])));
    expect(zero.code).toBe('invalid-option');
    expect(zero.message).toContain('bitMap[1] = 0');
    expect(thrown(() => heteroBinarize(T, new Uint8Array([1, 9, 3, 1]))).message).toContain('bitMap[1] = 9');
  });

  it('rejects a channel count that does not divide the tensor', () => {
    const e = thrown(() => residualBinarize(T, 1, { channels: 3 }));
    expect(e.code).toBe('invalid-option');
    expect(thrown(() => residualBinarize(T, 1, { channels: 0 })).code).toBe('invalid-option');
  });
});

describe('degenerate tensors', () => {
  it('a constant tensor is reproduced exactly, later scales are 0, no NaN', () => {
    const c = Math.fround(0.3);
    const t = new Float32Array(5).fill(c);
    const r = residualBinarize(t, 3);
    expect(Array.from(r.scales)).toEqual([c, 0, 0]);
    expect(Array.from(r.dequantized)).toEqual([c, c, c, c, c]);
    const neg = residualBinarize(new Float32Array(3).fill(-2), 2);
    expect(Array.from(neg.dequantized)).toEqual([-2, -2, -2]);
  });

  it('an all-zero tensor gives zero scales and zeros', () => {
    const r = heteroBinarize(new Float32Array(6), new Uint8Array([1, 2, 3, 3, 2, 1]), { channels: 2 });
    expect(Array.from(r.scales)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(r.dequantized)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(r.signs)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('an empty tensor gives empty outputs (zero scales for homogeneous, none for a map)', () => {
    const h = residualBinarize(new Float32Array(0), 2);
    expect(h.dequantized.length).toBe(0);
    expect(Array.from(h.scales)).toEqual([0, 0]);
    const m = heteroBinarize(new Float32Array(0), new Uint8Array(0), { channels: 4 });
    expect(m.nBits).toBe(0);
    expect(m.scales.length).toBe(0);
  });
});

describe('NaN and infinities', () => {
  it('are rejected with code numeric, naming the tensor and the first bad index', () => {
    const t = new Float32Array([0.5, 1, NaN, Infinity]);
    const e = thrown(() => residualBinarize(t, 2, { name: 'conv1.weight' }));
    expect(isHbnnError(e)).toBe(true);
    expect(e.code).toBe('numeric');
    expect(e.message).toBe('weight tensor "conv1.weight" contains NaN at index 2');
    expect(e.context.index).toBe(2);
    const inf = thrown(() => heteroBinarize(new Float32Array([1, -Infinity]), new Uint8Array([1, 2])));
    expect(inf.code).toBe('numeric');
    expect(inf.message).toBe('weight tensor contains -Infinity at index 1');
    // in the second channel too
    const ch = thrown(() => residualBinarize(new Float32Array([1, 2, 3, Infinity]), 1, { channels: 2 }));
    expect(ch.message).toContain('Infinity at index 3');
  });
});
