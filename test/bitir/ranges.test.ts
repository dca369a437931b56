/**
 * Fraction bits from calibrated stream ranges (docs/bit-ir.md §3): `rangeFrac`, the ranges
 * `measureStreamRanges` takes from the interpreter, and the lowering with `streamRanges` on a
 * small ResNet-20-style network (requantize, residual add, global average pool): the widths
 * stay, each stream's fraction fills its word up to the headroom, nothing saturates on the
 * calibration samples, and a residual sum whose range exceeds its inputs' integer bits gets
 * fewer fraction bits than its inputs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { lowerToBitIR, rangeFrac } from '../../src/bitir/lower.js';
import { measureStreamRanges } from '../../src/bitir/ranges.js';
import { interpret } from '../../src/bitir/interpret.js';
import { DEFAULT_LOWERING, type BitProgram, type FixedType } from '../../src/bitir/types.js';
import { quantize } from '../../src/drivers/quantize.js';
import { ErrorCodes } from '../../src/errors.js';
import type { Model } from '../../src/ir/graph.js';
import { buildResNet20 } from '../../zoo/topologies.js';
import { fmnistAs } from '../helpers/zoo.js';

const SHAPE: [number, number, number] = [3, 12, 12];
const fixedOf = (p: BitProgram, id: string): FixedType => p.tensors.find((t) => t.id === id)!.type as FixedType;

describe('fraction bits from calibrated stream ranges', () => {
  it('rangeFrac: the most fraction bits with range · 2^F below 2^(bits − 1 − headroom)', () => {
    // 20 bits, 1 headroom bit: |q| < 2^18.
    expect(rangeFrac(1, 20, 1)).toBe(17); // 2^17 < 2^18, 2^18 is not
    expect(rangeFrac(0.99, 20, 1)).toBe(18);
    expect(rangeFrac(0.05, 20, 1)).toBe(22); // 0.05 · 2^22 ≈ 209,715 < 262,144
    expect(rangeFrac(300, 20, 1)).toBe(9); // more integer bits than the fixed 12 fraction bits leave
    expect(rangeFrac(1, 20, 0)).toBe(18);
    expect(rangeFrac(0, 20, 1)).toBeUndefined();
    expect(rangeFrac(Number.NaN, 20, 1)).toBeUndefined();
    expect(DEFAULT_LOWERING.rangeHeadroomBits).toBe(1);
  });

  describe('on a small residual network (W1.4, weights only: every stream fixed point)', () => {
    let m: Model;
    let calib: Float32Array;
    let ranges: Record<string, number>;
    let fixed: BitProgram;
    let ranged: BitProgram;
    beforeAll(async () => {
      m = buildResNet20({ inputShape: SHAPE, width: 4, blocks: 1 });
      await quantize(m, { avgBits: 1.4 });
      calib = fmnistAs(SHAPE, 16, 'train', 0.05);
      ranges = measureStreamRanges(m, calib);
      fixed = lowerToBitIR(m);
      ranged = lowerToBitIR(m, { streamRanges: ranges });
    });

    it('measures the input, every requantize, add and avgpool output as the interpreter computes them', () => {
      const kinds = new Set(['input', 'requantize', 'add', 'avgpool']);
      const ids = fixed.ops.filter((o) => kinds.has(o.op)).map((o) => o.output);
      expect(Object.keys(ranges)).toEqual(ids);
      expect(fixed.ops.some((o) => o.op === 'add')).toBe(true);
      const r = interpret(fixed, calib, { capture: ids });
      for (const id of ids) {
        const q = r.captured[id]!;
        let mx = 0;
        for (let i = 0; i < q.length; i++) mx = Math.max(mx, Math.abs(q[i]!));
        expect(ranges[id], id).toBe(mx * 2 ** -fixedOf(fixed, id).frac);
        expect(ranges[id]!, id).toBeGreaterThan(0);
      }
      // deterministic
      expect(measureStreamRanges(m, calib)).toEqual(ranges);
      // the ranges of streamRanges in the options are ignored (measured on the fixed fractions)
      expect(measureStreamRanges(m, calib, { streamRanges: { [ids[1]!]: 1e6 } })).toEqual(ranges);
    });

    it('keeps every width; each requantized stream fills its word up to the headroom bit; nothing saturates', () => {
      expect(ranged.tensors.map((t) => (t.type.kind === 'fixed' ? t.type.bits : t.type.kind))).toEqual(fixed.tensors.map((t) => (t.type.kind === 'fixed' ? t.type.bits : t.type.kind)));
      const reqs = ranged.ops.filter((o) => o.op === 'requantize').map((o) => o.output);
      const r = interpret(ranged, calib, { capture: reqs });
      expect(r.saturated).toEqual({});
      let moved = 0;
      for (const id of reqs) {
        const t = fixedOf(ranged, id);
        expect(t.frac, id).toBe(rangeFrac(ranges[id]!, t.bits, 1));
        if (t.frac !== fixedOf(fixed, id).frac) moved++;
        const q = r.captured[id]!;
        let mx = 0;
        for (let i = 0; i < q.length; i++) mx = Math.max(mx, Math.abs(q[i]!));
        // below 2^(bits−2) (one free integer bit), above a quarter of it (the range fills the word)
        expect(mx, id).toBeLessThan(2 ** (t.bits - 2));
        expect(mx, id).toBeGreaterThanOrEqual(2 ** (t.bits - 4));
      }
      expect(moved).toBeGreaterThan(0);
    });

    it('a residual sum whose range needs more integer bits than its inputs have gets fewer fraction bits, same width', () => {
      const add = ranged.ops.find((o) => o.op === 'add')!;
      if (add.op !== 'add') throw new Error('no add');
      const ins = add.inputs.map((id) => fixedOf(ranged, id));
      const common = Math.min(...ins.map((t) => t.frac));
      const bits = fixedOf(ranged, add.output).bits;
      expect(fixedOf(ranged, add.output).frac).toBe(Math.min(common, rangeFrac(ranges[add.output]!, bits, 1)!));
      // Pretend the sum reached 2^(bits − common): it needs 2 more integer bits (one for the headroom).
      const big = lowerToBitIR(m, { streamRanges: { ...ranges, [add.output]: 2 ** (bits - 1 - common) } });
      const bigAdd = big.ops.find((o) => o.op === 'add' && o.output === add.output)!;
      if (bigAdd.op !== 'add') throw new Error('no add');
      expect(fixedOf(big, add.output)).toMatchObject({ frac: common - 2, bits });
      expect(bigAdd.operands.map((o) => o.shift)).toEqual(ins.map((t) => t.frac - (common - 2)));
    });

    it('calibration samples that are not whole samples are a typed error', () => {
      expect(() => measureStreamRanges(m, calib.subarray(0, 100))).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    });
  });
});
