import { describe, expect, it } from 'vitest';
import { binarizeActivation, binarizerPieces, codeValue, levelsOf, type BinarizerConstants } from '../../src/bitir/binarizer.js';
import { chooseShift, roundHalfUp, signedBitsFor } from '../../src/bitir/fixed.js';
import { normalizeBands } from '../../src/bitir/lower.js';
import { randomFloats } from '../helpers/build.js';

const CASES: [string, BinarizerConstants][] = [
  ['middle-out 3 bits', { scales: [0.77, 0.94, 0.47], center: 0.75, sign: 1, t1: 0.4, t2: 0.9 }],
  ['bottom-up 2 bits', { scales: [0.6, 0.3, 0], center: 0, sign: 1, t1: 0.5, t2: 3e38 }],
  ['top-down 3 bits', { scales: [1.1, 0.5, 0.2], center: 0, sign: -1, t1: -1.5, t2: -0.7 }],
  ['homogeneous 1 bit', { scales: [0.8, 0, 0], center: 0.8, sign: 1, t1: 3e38, t2: 3e38 }],
  ['homogeneous 2 bits', { scales: [0.8, 0.4, 0], center: 0.8, sign: 1, t1: -3e38, t2: 3e38 }],
];

describe('binarizerPieces', () => {
  for (const [name, c] of CASES) {
    it(`${name}: the breakpoints and codes reproduce the ONNX function body everywhere but at the breakpoints`, () => {
      const pieces = binarizerPieces(c);
      expect(pieces.codes.length).toBe(pieces.breakpoints.length + 1);
      const xs = randomFloats(4000, 9).map((v) => v * 4);
      let checked = 0;
      for (const x of xs) {
        if (pieces.breakpoints.some((p) => Math.abs(p - x) < 1e-5)) continue;
        let b = 0;
        while (b < pieces.breakpoints.length && x >= pieces.breakpoints[b]!) b++;
        const direct = binarizeActivation(x, c);
        expect(pieces.codes[b]).toEqual(direct.code);
        // the code's value is the function's output
        expect(codeValue(direct.code, c.scales)).toBe(direct.y);
        checked++;
      }
      expect(checked).toBeGreaterThan(3900);
      // neighbours differ (merged)
      for (let i = 1; i < pieces.codes.length; i++) expect(pieces.codes[i]).not.toEqual(pieces.codes[i - 1]);
    });
  }

  it('the number of planes follows the bands: 1 bit everywhere gives one plane, 2 levels', () => {
    const p = binarizerPieces(CASES[3]![1]);
    expect(p.breakpoints).toEqual([0]);
    const levels = levelsOf(p.codes, [0.8, 0, 0]);
    expect(levels.map((l) => l.value)).toEqual([-Math.fround(0.8), Math.fround(0.8)]);
    expect(levels.map((l) => l.mask)).toEqual([1, 1]);
  });

  it('sign(0) = +1 and a zero residual keeps the + sign', () => {
    const c = CASES[0]![1];
    expect(binarizeActivation(0, c).code.signs & 1).toBe(1);
    expect(binarizeActivation(-1e-9, c).code.signs & 1).toBe(0);
  });
});

describe('fixed-point helpers', () => {
  it('roundHalfUp, signedBitsFor, chooseShift', () => {
    expect([roundHalfUp(2.5), roundHalfUp(-2.5), roundHalfUp(-2.6), roundHalfUp(0.49)]).toEqual([3, -2, -3, 0]);
    expect([signedBitsFor(0), signedBitsFor(1), signedBitsFor(127), signedBitsFor(128)]).toEqual([1, 2, 8, 9]);
    const r = chooseShift(0.3, 16);
    expect(roundHalfUp(0.3 * 2 ** r)).toBeLessThan(2 ** 15);
    expect(roundHalfUp(0.3 * 2 ** (r + 1))).toBeGreaterThanOrEqual(2 ** 15);
  });

  it('normalizeBands drops empty bands and merges equal neighbours', () => {
    expect(normalizeBands([1, 1, 5], [0, 1, 2, 3])).toEqual({ thresholds: [1, 5], codes: [0, 2, 3] });
    expect(normalizeBands([1, 4], [0, 0, 2])).toEqual({ thresholds: [4], codes: [0, 2] });
    expect(normalizeBands([2, 2], [7, 3, 7])).toEqual({ thresholds: [], codes: [7] });
  });
});
