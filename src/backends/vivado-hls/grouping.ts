/**
 * Row grouping: the order in which a unit's PEs compute its output rows.
 *
 * A unit with PE processing elements gives PE p the rows p, p + PE, p + 2·PE, … (FINN's
 * order). A lane of weight plane k in PE p is needed when one of those rows has a weight with
 * k bits or more; when none has, the lane's weight bits are constant 0 and synthesis removes
 * it. Grouping sorts the rows by their widest weight (stable: ties keep their order) and gives
 * PE p the p-th block of NF = MH/PE sorted rows, so that PEs whose rows all stop at fewer
 * bits drop the wider planes. With row-granular bit maps (`quantize --granularity row`, every
 * row one bitwidth) the lanes then follow the bits; with per-weight bit maps almost every row
 * has a weight of every width, the order stays nearly as it was and little changes.
 *
 * The new order is applied to the bit-level program (`permuteRows`: the unit's rows, its
 * thresholds, and the next unit's weight columns), so the design, the testbench vectors and
 * the C simulation all see the same program; the logits and classes do not change. Units
 * whose rows reach the logits directly (the output layer) keep FINN's order.
 */
import { permuteRows, permuteWeightRows, rowsPermutable } from '../../bitir/permute.js';
import type { BitProgram, WeightTensor } from '../../bitir/types.js';
import type { FoldingSpec, UnitStage } from './types.js';

/** Widest weight (planes used) of each row of a binary weight; undefined for fixed-point weights. */
export function rowWidths(w: WeightTensor): Uint8Array | undefined {
  if (w.kind !== 'binary') return undefined;
  const out = new Uint8Array(w.rows);
  const wpr = w.wordsPerRow;
  for (let r = 0; r < w.rows; r++) {
    let width = 0;
    w.planes.forEach((pl, i) => {
      for (let k = 0; k < wpr; k++) {
        if (pl.mask[r * wpr + k] !== 0) {
          width = i + 1;
          break;
        }
      }
    });
    out[r] = width;
  }
  return out;
}

/**
 * The grouped row order of weight `w` folded over `pe` PEs: unit row nf·PE + p computes
 * weight row order[nf·PE + p]. Undefined when it is FINN's order (fixed-point weights, every
 * row of one width, or rows already grouped).
 */
export function groupedRowOrder(w: WeightTensor, pe: number): Int32Array | undefined {
  const widths = rowWidths(w);
  if (!widths || w.rows % pe !== 0) return undefined;
  const rows = w.rows;
  const sorted = Array.from({ length: rows }, (_, r) => r).sort((a, b) => widths[a]! - widths[b]! || a - b);
  const nf = rows / pe;
  const order = new Int32Array(rows);
  for (let p = 0; p < pe; p++) for (let f = 0; f < nf; f++) order[f * pe + p] = sorted[p * nf + f]!;
  // Only when it changes what a PE sees: the widest row of each PE, FINN's order against this one.
  const perPe = (o: (i: number) => number): string => {
    const max = new Uint8Array(pe);
    for (let i = 0; i < rows; i++) max[i % pe] = Math.max(max[i % pe]!, widths[o(i)]!);
    return Array.from(max).sort().join(',');
  };
  if (perPe((i) => i) === perPe((i) => order[i]!)) return undefined;
  return order;
}

const groupedCache = new WeakMap<WeightTensor, Map<number, WeightTensor>>();

/** `w` with its rows in the grouped order for `pe` PEs (`w` itself when that is FINN's order); cached. */
export function groupedWeight(w: WeightTensor, pe: number): WeightTensor {
  let byPe = groupedCache.get(w);
  if (!byPe) groupedCache.set(w, (byPe = new Map()));
  let g = byPe.get(pe);
  if (!g) {
    const order = groupedRowOrder(w, pe);
    g = order ? permuteWeightRows(w, order) : w;
    byPe.set(pe, g);
  }
  return g;
}

/** Whether unit `u`'s rows may be reordered (its rows feed another conv/matvec, not the logits). */
export function groupable(program: BitProgram, u: Pick<UnitStage, 'unitOp'>): boolean {
  return rowsPermutable(program, u.unitOp) === true;
}

/**
 * `program` with every groupable unit's rows in the grouped order for its folding, and the
 * orders applied (by layer name: unit row i computes original weight row order[i]).
 */
export function groupProgramRows(program: BitProgram, units: readonly UnitStage[], folding: FoldingSpec): { program: BitProgram; orders: Map<string, Int32Array> } {
  let p = program;
  const orders = new Map<string, Int32Array>();
  for (const u of units) {
    const f = folding.layers[u.layer];
    if (!f || !groupable(program, u)) continue;
    const order = groupedRowOrder(u.weight, f.pe);
    if (!order) continue;
    p = permuteRows(p, u.unitOp, order);
    orders.set(u.layer, order);
  }
  return { program: p, orders };
}
