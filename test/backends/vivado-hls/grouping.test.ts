/**
 * Row grouping (src/backends/vivado-hls/grouping.ts): rows sorted by their widest weight and
 * given to the PEs in blocks, so that PEs whose rows stop at fewer bits drop the wider planes'
 * lanes and accumulators. Checked on the Fashion-MNIST CNN whose rows were narrowed to one
 * width per row (row r of every layer keeps planes 1..w(r), interleaved so that FINN's order
 * gives every PE every width): the planes each PE keeps, the estimate, the unchanged function
 * (interpreter) and the C simulation (g++), bit-exact.
 */
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileCsim, lowerVivadoHls, planVivadoHls, runTestbench } from '../../../src/backends/vivado-hls/index.js';
import { groupedRowOrder, rowWidths } from '../../../src/backends/vivado-hls/grouping.js';
import { keptPes } from '../../../src/backends/vivado-hls/estimate.js';
import { interpret } from '../../../src/bitir/interpret.js';
import type { BinaryWeight, BitProgram, ConvOp, MatVecOp } from '../../../src/bitir/types.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { fmnistProgram, tempDir } from './helpers.js';

const IMAGES = 60;
const data = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, limit: IMAGES }).images;
const FOLD = { layers: { '/c1/Conv': { pe: 8, simd: 9 }, '/c2/Conv': { pe: 4, simd: 32 }, '/c3/Conv': { pe: 8, simd: 64 }, '/fc/Gemm': { pe: 2, simd: 72 } } };

/** Row r's width: 1, 2 or 3 bits, interleaved (every PE of FINN's order sees every width). */
const widthOf = (r: number): number => (r % 5 === 4 ? 3 : r % 5 === 1 || r % 5 === 3 ? 2 : 1);

/** `p` with planes above widthOf(r) cleared in row r of every binary weight (masks and signs). */
function narrowRows(p: BitProgram): BitProgram {
  return {
    ...p,
    weights: p.weights.map((w) => {
      if (w.kind !== 'binary') return w;
      const wpr = w.wordsPerRow;
      const planes = w.planes.map((pl, i) => {
        const signs = pl.signs.slice();
        const mask = pl.mask.slice();
        if (i > 0) {
          for (let r = 0; r < w.rows; r++) {
            if (i + 1 > widthOf(r)) {
              signs.fill(0, r * wpr, (r + 1) * wpr);
              mask.fill(0, r * wpr, (r + 1) * wpr);
            }
          }
        }
        return { ...pl, signs, mask };
      });
      return { ...w, planes };
    }),
  };
}

/** Widest plane with a set mask bit in each row (written out here, independently of grouping.ts). */
function widths(w: BinaryWeight): number[] {
  return Array.from({ length: w.rows }, (_, r) => {
    let width = 0;
    for (let i = 0; i < w.planes.length; i++) {
      const m = w.planes[i]!.mask.subarray(r * w.wordsPerRow, (r + 1) * w.wordsPerRow);
      if (m.some((x) => x !== 0)) width = i + 1;
    }
    return width;
  });
}

function hand(rowsWidths: number[], cols = 7): BinaryWeight {
  const planes = [0, 1, 2].map((i) => {
    const mask = new Uint32Array(rowsWidths.length);
    rowsWidths.forEach((wd, r) => {
      if (wd > i) mask[r] = i === 0 ? (1 << cols) - 1 : 1 << (r % cols);
    });
    return { scales: rowsWidths.map(() => 1), signs: mask.slice(), mask };
  });
  return { kind: 'binary', id: 'w', source: [], rows: rowsWidths.length, cols, wordsPerRow: 1, planes };
}

describe('row grouping: the order', () => {
  it('sorts rows by width (stable) and gives PE p the p-th block', () => {
    const w = hand([3, 1, 2, 1, 1, 3, 2, 1]);
    expect(Array.from(rowWidths(w)!)).toEqual([3, 1, 2, 1, 1, 3, 2, 1]);
    // Sorted: 1,3,4,7 (width 1), 2,6 (width 2), 0,5 (width 3). PE 2: blocks of 4.
    const order = groupedRowOrder(w, 2)!;
    expect(Array.from(order)).toEqual([1, 2, 3, 6, 4, 0, 7, 5]);
    // PE 0 computes rows order[0], order[2], … = 1, 3, 4, 7: all one bit.
    const ws = widths(w);
    expect([0, 2, 4, 6].map((i) => ws[order[i]!])).toEqual([1, 1, 1, 1]);
  });

  it("is undefined when it would not change any PE's widest row", () => {
    expect(groupedRowOrder(hand([2, 2, 2, 2]), 2)).toBeUndefined();
    expect(groupedRowOrder(hand([1, 2, 1, 2]), 2)).toBeUndefined(); // already grouped: PE 0 rows 0,2; PE 1 rows 1,3
    expect(groupedRowOrder(hand([1, 2, 1, 2]), 1)).toBeUndefined(); // one PE sees every row
    expect(groupedRowOrder(hand([1, 2, 2, 1]), 2)).toBeDefined();
  });
});

describe('row grouping on the Fashion-MNIST CNN with one width per row', () => {
  let source: BitProgram;
  beforeAll(async () => {
    source = narrowRows(await fmnistProgram('W1.4'));
  }, 120_000);

  it('every PE keeps only the planes of its rows; the output layer keeps its order', () => {
    const grouped = planVivadoHls(source, { folding: FOLD });
    const plain = planVivadoHls(source, { folding: FOLD, groupRows: false });
    const byId = new Map(source.weights.map((w) => [w.id, w]));
    for (const [i, u] of grouped.design.units.entries()) {
      const p0 = plain.design.units[i]!;
      // The unit's weight in the source program (rows in the model's order).
      const op = source.ops.find((o): o is ConvOp | MatVecOp => o.id === u.unitOp && (o.op === 'conv' || o.op === 'matvec'))!;
      const ws = widths(byId.get(op.weight) as BinaryWeight);
      const nf = u.mh / u.pe;
      if (u.layer === '/fc/Gemm') {
        expect(u.rowOrder).toBeUndefined();
        continue;
      }
      expect(u.rowOrder).toBeDefined();
      // FINN's order: PE p has plane k when one of rows p, p + PE, … reaches k bits. Grouped:
      // only the blocks of the sorted rows that hold a row of k bits or more.
      for (const k of [2, 3]) {
        const wider = ws.filter((x) => x >= k).length;
        const finn = Array.from({ length: u.pe }, (_, pe) => ws.some((x, r) => r % u.pe === pe && x >= k)).filter(Boolean).length;
        expect(keptPes(p0, k)).toBe(finn);
        expect(keptPes(u, k)).toBe(wider === 0 ? 0 : u.pe - Math.floor((u.mh - wider) / nf));
        expect(keptPes(u, k)).toBeLessThanOrEqual(finn);
      }
      expect(keptPes(u, 3)).toBeLessThan(u.pe / 2);
      expect(grouped.estimates.stages.find((s) => s.layer === u.layer)!.luts).toBeLessThan(plain.estimates.stages.find((s) => s.layer === u.layer)!.luts);
    }
    expect(grouped.estimates.total.luts).toBeLessThan(plain.estimates.total.luts);
  });

  it('the grouped program computes the same logits', () => {
    const grouped = planVivadoHls(source, { folding: FOLD });
    expect(grouped.program).not.toBe(source);
    expect(Array.from(interpret(grouped.program, data).logitsQ)).toEqual(Array.from(interpret(source, data).logitsQ));
  });

  it(`C simulation of the grouped design is bit-exact on ${IMAGES} images (classes, logits, accumulators)`, async () => {
    const r = lowerVivadoHls(source, { folding: FOLD, testData: data, testSamples: IMAGES, accSamples: 2 });
    expect(r.design.units.filter((u) => u.rowOrder).length).toBe(3);
    expect(JSON.parse(r.files.get('folding.json')!).layers['/c2/Conv'].rowOrder).toHaveLength(64);
    // The code instantiates a plane's term only in the PEs that keep it (the estimate's count).
    const top = r.files.get('hbnn_top.cpp')!;
    for (const [i, u] of r.design.units.entries()) {
      for (const k of [2, 3]) {
        const m = new RegExp(`static const bool u${i}_has_w${k}\\[${u.pe}\\] = \\{([01, ]+)\\};`).exec(top);
        const pes = keptPes(u, k);
        if (pes === u.pe) expect(m, `${u.layer} plane ${k}`).toBeNull();
        else expect(m![1]!.split(', ').filter((x) => x === '1').length, `${u.layer} plane ${k}`).toBe(pes);
      }
    }
    expect(top).toContain('if (u1_has_w2[pe]) {');
    const dir = path.join(tempDir('hbnn-hls-group-'), 'p');
    writeFilesAtomic(dir, r.files);
    const build = await compileCsim(dir, { optLevel: 'O1' });
    try {
      const t = await runTestbench(build);
      expect(t.summary).toMatchObject({ samples: IMAGES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
      expect(t.ok).toBe(true);
    } finally {
      build.dispose();
    }
  }, 120_000);
});
