/**
 * Row permutations of the bit-level IR (src/bitir/permute.ts): the reordered program computes
 * the same logits and classes, the reordered unit the same accumulators in the new row order,
 * and the unit that absorbs the order the same accumulators as before.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../src/bitir/lower.js';
import { interpret } from '../../src/bitir/interpret.js';
import { permuteRows, permuteWeightRows, rowsPermutable } from '../../src/bitir/permute.js';
import { bitProgramFromJson, bitProgramToJson } from '../../src/bitir/serialize.js';
import type { BinaryWeight, BitProgram, ConvOp, MatVecOp } from '../../src/bitir/types.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../src/data/index.js';
import { mulberry32 } from '../../src/hbnn/prng.js';
import { HbnnError } from '../../src/errors.js';
import { FMNIST_CNN } from '../helpers/build.js';

const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION });
const N = 48;
const images = ds.images.subarray(0, N * 28 * 28);

function shuffled(n: number, seed: number): Int32Array {
  const rng = mulberry32(seed);
  const a = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const units = (p: BitProgram): (ConvOp | MatVecOp)[] => p.ops.filter((o): o is ConvOp | MatVecOp => o.op === 'conv' || o.op === 'matvec');
const rowsOf = (p: BitProgram, u: ConvOp | MatVecOp): number => p.weights.find((w) => w.id === u.weight)!.rows;

for (const config of [
  { name: 'W1.4', opts: { avgBits: 1.4, heuristic: 'middle-out' as const, normalize: 'fmnist' } },
  { name: 'W1.4A1.4', opts: { avgBits: 1.4, actBits: 1.4, heuristic: 'middle-out' as const, actHeuristic: 'middle-out' as const, normalize: 'fmnist' } },
]) {
  describe(`permuteRows on fmnist-cnn ${config.name}`, () => {
    let program: BitProgram;
    beforeAll(async () => {
      const m = loadModel(FMNIST_CNN());
      await quantize(m, config.opts);
      program = lowerToBitIR(m);
    }, 120_000);

    it('every unit but the last can be reordered; the last reaches the logits', () => {
      const us = units(program);
      expect(us.length).toBeGreaterThanOrEqual(3);
      for (const u of us.slice(0, -1)) expect(rowsPermutable(program, u.id)).toBe(true);
      const last = rowsPermutable(program, us[us.length - 1]!.id);
      expect(last).toMatch(/program output/);
      expect(() => permuteRows(program, us[us.length - 1]!.id, shuffled(rowsOf(program, us[us.length - 1]!), 1))).toThrow(HbnnError);
    });

    it('a reordered unit: same logits and classes, its accumulators in the new row order, the next unit unchanged', () => {
      const base = interpret(program, images);
      const us = units(program);
      for (const [k, u] of us.slice(0, -1).entries()) {
        const rows = rowsOf(program, u);
        const order = shuffled(rows, 11 + k);
        const before = bitProgramToJson(program);
        const q = permuteRows(program, u.id, order);
        // The input program is not changed.
        expect(bitProgramToJson(program)).toBe(before);
        const run = interpret(q, images);
        expect(Array.from(run.classes)).toEqual(Array.from(base.classes));
        expect(Array.from(run.logitsQ)).toEqual(Array.from(base.logitsQ));

        const a0 = interpret(program, images, { limit: 2, captureAccumulators: u.id }).captured[u.id]!;
        const a1 = interpret(q, images, { limit: 2, captureAccumulators: u.id }).captured[u.id]!;
        const per = a0.length / 2;
        const terms = (q.tensors.find((t) => t.id === u.output)!.type as { terms: unknown[] }).terms.length;
        const pixels = per / (terms * rows);
        let moved = 0;
        for (let s = 0; s < 2; s++) {
          for (let t = 0; t < terms; t++) {
            for (let i = 0; i < rows; i++) {
              for (let x = 0; x < pixels; x++) {
                const got = a1[s * per + (t * rows + i) * pixels + x];
                const want = a0[s * per + (t * rows + order[i]!) * pixels + x];
                if (got !== want) moved++;
              }
            }
          }
        }
        expect(moved).toBe(0);
        const sink = us[k + 1]!;
        const s0 = interpret(program, images, { limit: 2, captureAccumulators: sink.id }).captured[sink.id]!;
        const s1 = interpret(q, images, { limit: 2, captureAccumulators: sink.id }).captured[sink.id]!;
        expect(Array.from(s1)).toEqual(Array.from(s0));
        // Survives serialization.
        const back = bitProgramFromJson(bitProgramToJson(q));
        expect(Array.from(interpret(back, images, { limit: 8 }).logitsQ)).toEqual(Array.from(base.logitsQ.subarray(0, 8 * 10)));
      }
    });

    it('two units reordered one after the other still compute the same function', () => {
      const us = units(program);
      let q = program;
      for (const [k, u] of us.slice(0, -1).entries()) q = permuteRows(q, u.id, shuffled(rowsOf(q, u), 100 + k));
      expect(Array.from(interpret(q, images).logitsQ)).toEqual(Array.from(interpret(program, images).logitsQ));
    });

    it('the identity returns the program itself; a non-permutation is an error', () => {
      const u = units(program)[0]!;
      const rows = rowsOf(program, u);
      expect(permuteRows(program, u.id, Int32Array.from({ length: rows }, (_, i) => i))).toBe(program);
      const dup = Int32Array.from({ length: rows }, (_, i) => i);
      dup[1] = 0;
      expect(() => permuteRows(program, u.id, dup)).toThrow(/not a permutation/);
      expect(() => permuteRows(program, u.id, [0, 1])).toThrow(/rows/);
      expect(() => permuteRows(program, 'no-such-op', [0])).toThrow(/not a conv or matvec/);
    });
  });
}

describe('permuteWeightRows', () => {
  it('moves sign and mask words and per-row scales together', () => {
    const rows = 5;
    const cols = 40;
    const wpr = 2;
    const rng = mulberry32(3);
    const words = (): Uint32Array => Uint32Array.from({ length: rows * wpr }, (_, i) => (i % wpr === 1 ? (rng.next() * 256) >>> 0 : (rng.next() * 2 ** 32) >>> 0));
    const w: BinaryWeight = {
      kind: 'binary',
      id: 'w',
      source: [],
      rows,
      cols,
      wordsPerRow: wpr,
      planes: [{ scales: [1, 2, 3, 4, 5], signs: words(), mask: words() }],
    };
    const order = [3, 0, 4, 1, 2];
    const p = permuteWeightRows(w, order);
    for (let i = 0; i < rows; i++) {
      expect(p.planes[0]!.scales[i]).toBe(w.planes[0]!.scales[order[i]!]);
      for (let k = 0; k < wpr; k++) {
        expect(p.planes[0]!.signs[i * wpr + k]).toBe(w.planes[0]!.signs[order[i]! * wpr + k]);
        expect(p.planes[0]!.mask[i * wpr + k]).toBe(w.planes[0]!.mask[order[i]! * wpr + k]);
      }
    }
  });
});
