/**
 * Output-channel permutations of a bit-level program: the same function, with one unit's
 * output rows (and everything that follows them channel by channel) in another order.
 *
 * A hardware array that folds a layer's rows over PEs gives PE p the rows p, p + PE, p + 2·PE, …
 * Reordering the rows so that rows with the same bit planes share a PE lets synthesis drop the
 * planes a PE never uses (backends/vivado-hls, "Row grouping"). `permuteRows` reorders unit
 * `op`'s rows so that new row i is old row `order[i]`, and carries the new channel order
 * forward until the next conv/matvec, whose weight columns it reorders to match:
 *
 * - the unit's weight rows (sign and mask words, per-row scales; fixed-point values), the
 *   per-channel coefficients of its accumulator terms;
 * - per-channel parameters of the ops on the way (threshold and requantize multipliers,
 *   bands, bias and their documentation fields; standalone thresholds);
 * - channel-wise ops (relu, maxpool, scale) need nothing; a reshape that flattens [C,H,W]
 *   turns the channel order into an order of its C·H·W entries;
 * - the next conv (group 1) reads input channel order[c'] where it read c'; a matvec reads
 *   entry order[j'] where it read j'.
 *
 * Every other tensor keeps its id, type and bounds: tensors between the unit and the next
 * conv/matvec hold the same values with their channels reordered; everything after it, the
 * logits and the class included, is unchanged. A chain that reaches the program's outputs, a
 * grouped convolution, or a tensor read by more than one op cannot be reordered: LOWERING
 * error (see `rowsPermutable`).
 */
import { fail, ErrorCodes } from '../errors.js';
import {
  opInputs,
  unreachable,
  type AccType,
  type BinaryWeight,
  type BitOp,
  type BitProgram,
  type BitTensor,
  type ConvOp,
  type MatVecOp,
  type WeightTensor,
} from './types.js';

/** The ops a row permutation of `unitOp` touches, or why it cannot be done. */
interface PermutePlan {
  unit: ConvOp | MatVecOp;
  /** Ops between the unit and the consuming conv/matvec, in order (the unit's threshold/requantize first). */
  chain: BitOp[];
  /** The conv/matvec whose weight columns absorb the new order. */
  sink: ConvOp | MatVecOp;
}

function planOf(p: BitProgram, unitOp: string): PermutePlan | string {
  const ops = new Map(p.ops.map((o) => [o.id, o]));
  const unit = ops.get(unitOp);
  if (!unit || (unit.op !== 'conv' && unit.op !== 'matvec')) return `"${unitOp}" is not a conv or matvec op`;
  if (unit.op === 'conv' && unit.group !== 1) return `its convolution is grouped (group ${unit.group})`;
  const readers = new Map<string, BitOp[]>();
  for (const o of p.ops) for (const i of opInputs(o)) readers.set(i, [...(readers.get(i) ?? []), o]);
  const outputs = new Set([p.outputs.logits, p.outputs.class]);
  const chain: BitOp[] = [];
  let tensor = unit.output;
  for (;;) {
    if (outputs.has(tensor)) return `its rows reach the program output "${tensor}" before another conv/matvec`;
    const rs = readers.get(tensor) ?? [];
    if (rs.length !== 1) return `tensor "${tensor}" has ${rs.length} readers (one is needed)`;
    const next = rs[0]!;
    switch (next.op) {
      case 'conv':
        if (next.group !== 1) return `the convolution reading its channels is grouped (group ${next.group})`;
        return { unit, chain, sink: next };
      case 'matvec':
        return { unit, chain, sink: next };
      case 'threshold':
      case 'requantize':
      case 'relu':
      case 'maxpool':
      case 'reshape':
      case 'scale':
        chain.push(next);
        tensor = next.output;
        break;
      case 'input':
      case 'argmax':
        return `its rows reach ${next.op} "${next.id}" before another conv/matvec`;
      case 'avgpool':
      case 'clip':
      case 'leakyrelu':
        // The same map on every channel: the channel order passes through.
        chain.push(next);
        tensor = next.output;
        break;
      case 'add':
      case 'concat':
        return `its rows reach ${next.op} "${next.id}", which joins it with another stream`;
      default:
        return unreachable(next, 'bit-level op');
    }
  }
}

/** Whether `permuteRows(p, unitOp, …)` can reorder unit `unitOp`'s rows (a reason when not). */
export function rowsPermutable(p: BitProgram, unitOp: string): true | string {
  const plan = planOf(p, unitOp);
  return typeof plan === 'string' ? plan : true;
}

function checkOrder(order: ArrayLike<number>, n: number, what: string): void {
  if (order.length !== n) fail(ErrorCodes.INVALID_OPTION, `${what}: the order has ${order.length} entries, the unit ${n} rows`);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = order[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= n || seen[r]) fail(ErrorCodes.INVALID_OPTION, `${what}: the order is not a permutation of 0..${n - 1} (entry ${i} = ${r})`);
    seen[r] = 1;
  }
}

/** xs reordered (new i = old order[i]); a single value (shared by every channel) stays as it is. */
function pick<T>(xs: readonly T[], order: ArrayLike<number>): T[] {
  if (xs.length === 1 && order.length !== 1) return [...xs];
  if (xs.length !== order.length) fail(ErrorCodes.INTERNAL, `permuteRows: ${xs.length} per-channel values for ${order.length} channels`);
  return Array.from({ length: order.length }, (_, i) => xs[order[i]!]!);
}

/** Whether `order` maps every index to itself. */
export function isIdentity(order: ArrayLike<number>): boolean {
  for (let i = 0; i < order.length; i++) if (order[i] !== i) return false;
  return true;
}

/** Weight rows reordered: new row i = old row order[i]. */
export function permuteWeightRows<W extends WeightTensor>(w: W, order: ArrayLike<number>): W {
  if (w.kind === 'fixed') {
    const values = new Int32Array(w.values.length);
    for (let i = 0; i < w.rows; i++) values.set(w.values.subarray(order[i]! * w.cols, (order[i]! + 1) * w.cols), i * w.cols);
    return { ...w, values };
  }
  const wpr = w.wordsPerRow;
  const rows = (words: Uint32Array): Uint32Array => {
    const out = new Uint32Array(words.length);
    for (let i = 0; i < w.rows; i++) out.set(words.subarray(order[i]! * wpr, (order[i]! + 1) * wpr), i * wpr);
    return out;
  };
  return { ...w, planes: w.planes.map((pl) => ({ scales: pick(pl.scales, order), signs: rows(pl.signs), mask: rows(pl.mask) })) } as W;
}

/** Weight columns reordered: new column j = old column cols[j]. */
function permuteWeightColumns(w: WeightTensor, cols: ArrayLike<number>): WeightTensor {
  if (w.kind === 'fixed') {
    const values = new Int32Array(w.values.length);
    for (let r = 0; r < w.rows; r++) for (let j = 0; j < w.cols; j++) values[r * w.cols + j] = w.values[r * w.cols + cols[j]!]!;
    return { ...w, values };
  }
  const wpr = w.wordsPerRow;
  const bits = (words: Uint32Array): Uint32Array => {
    const out = new Uint32Array(words.length);
    for (let r = 0; r < w.rows; r++) {
      const base = r * wpr;
      for (let j = 0; j < w.cols; j++) {
        const c = cols[j]!;
        if ((words[base + (c >>> 5)]! >>> (c & 31)) & 1) out[base + (j >>> 5)]! |= 1 << (j & 31);
      }
    }
    return out;
  };
  return { ...w, planes: w.planes.map((pl) => ({ scales: pl.scales, signs: bits(pl.signs), mask: bits(pl.mask) })) } as BinaryWeight;
}

/**
 * `p` with unit `unitOp`'s output rows reordered (new row i = old row order[i]) and the
 * channel order carried to the next conv/matvec; a new program (`p` is not changed). The
 * logits and classes are those of `p` for every input.
 */
export function permuteRows(p: BitProgram, unitOp: string, order: ArrayLike<number>): BitProgram {
  const plan = planOf(p, unitOp);
  if (typeof plan === 'string') fail(ErrorCodes.LOWERING, `cannot reorder the rows of "${unitOp}": ${plan}`, { op: unitOp });
  const { unit, chain, sink } = plan;
  const weights = new Map(p.weights.map((w) => [w.id, w]));
  const tensors = new Map(p.tensors.map((t) => [t.id, t]));
  const w = weights.get(unit.weight);
  if (!w) fail(ErrorCodes.INTERNAL, `bit-level IR: no weight "${unit.weight}"`);
  checkOrder(order, w.rows, `rows of "${unitOp}"`);
  if (isIdentity(order)) return p;
  const sinkWeight = weights.get(sink.weight);
  if (!sinkWeight) fail(ErrorCodes.INTERNAL, `bit-level IR: no weight "${sink.weight}"`);
  if (sinkWeight === w || p.ops.some((o) => (o.op === 'conv' || o.op === 'matvec') && o !== unit && o !== sink && (o.weight === unit.weight || o.weight === sink.weight))) {
    fail(ErrorCodes.LOWERING, `cannot reorder the rows of "${unitOp}": its weights are shared with another unit`, { op: unitOp });
  }

  const newWeights = new Map<string, WeightTensor>();
  newWeights.set(w.id, permuteWeightRows(w, order));
  const newTensors = new Map<string, BitTensor>();
  const acc = tensors.get(unit.output)!;
  const accType = acc.type as AccType;
  newTensors.set(acc.id, { id: acc.id, type: { ...accType, terms: accType.terms.map((t) => ({ ...t, coef: pick(t.coef, order) })) } });

  // The order of the entries of the tensor being carried: channels, or all entries once flattened.
  let entryOrder: ArrayLike<number> = order;
  let channelShape = accType.shape; // shape of the tensor being carried
  const newOps = new Map<string, BitOp>();
  for (const op of chain) {
    switch (op.op) {
      case 'threshold':
        newOps.set(op.id, {
          ...op,
          multipliers: op.multipliers.map((m) => pick(m, entryOrder)),
          bands: pick(op.bands, entryOrder),
          unit: pick(op.unit, entryOrder),
          real: {
            scale: pick(op.real.scale, entryOrder),
            offset: pick(op.real.offset, entryOrder),
            breakpoints: op.real.breakpoints,
            codes: op.real.codes,
          },
        });
        break;
      case 'requantize':
        newOps.set(op.id, {
          ...op,
          multipliers: op.multipliers.map((m) => pick(m, entryOrder)),
          bias: pick(op.bias, entryOrder),
          real: { scale: pick(op.real.scale, entryOrder), offset: pick(op.real.offset, entryOrder) },
        });
        break;
      case 'reshape': {
        const from = channelShape;
        const to = (tensors.get(op.output)!.type as { shape: number[] }).shape;
        if (to[0] !== from[0] || to.length !== from.length) {
          // Flattening [C, ...] to entries: entry c'·S + s of the new order is old c·S + s.
          if (entryOrder.length !== from[0]) {
            fail(ErrorCodes.LOWERING, `cannot reorder the rows of "${unitOp}": reshape "${op.id}" reshapes an already flattened tensor`, { op: unitOp });
          }
          const size = from.reduce((a, b) => a * b, 1);
          const s = size / from[0]!;
          if (to.length !== 1) fail(ErrorCodes.LOWERING, `cannot reorder the rows of "${unitOp}": reshape "${op.id}" to [${to.join(',')}] splits its channels`, { op: unitOp });
          const flat = new Int32Array(size);
          for (let c = 0; c < from[0]!; c++) for (let k = 0; k < s; k++) flat[c * s + k] = entryOrder[c]! * s + k;
          entryOrder = flat;
        }
        break;
      }
      case 'relu':
      case 'maxpool':
      case 'scale':
      case 'avgpool':
      case 'clip':
      case 'leakyrelu':
        break;
      default:
        fail(ErrorCodes.INTERNAL, `permuteRows: unexpected ${op.op} in the channel chain`);
    }
    channelShape = (tensors.get(op.output)!.type as { shape: number[] }).shape;
  }

  // The sink reads the carried order: new column j reads what old column cols[j] read.
  const sw = sinkWeight;
  let cols: Int32Array;
  if (sink.op === 'conv') {
    const cin = entryOrder.length;
    const kk = sw.cols / cin;
    if (!Number.isInteger(kk)) fail(ErrorCodes.INTERNAL, `permuteRows: conv "${sink.id}" has ${sw.cols} columns for ${cin} channels`);
    cols = new Int32Array(sw.cols);
    for (let c = 0; c < cin; c++) for (let k = 0; k < kk; k++) cols[c * kk + k] = entryOrder[c]! * kk + k;
  } else {
    if (entryOrder.length !== sw.cols) fail(ErrorCodes.INTERNAL, `permuteRows: matvec "${sink.id}" has ${sw.cols} columns for ${entryOrder.length} entries`);
    cols = Int32Array.from(entryOrder);
  }
  // Weight column c' now holds the old column entryOrder-mapped: W'[o, j] = W[o, cols[j]].
  newWeights.set(sw.id, permuteWeightColumns(sw, cols));

  return {
    ...p,
    tensors: p.tensors.map((t) => newTensors.get(t.id) ?? t),
    weights: p.weights.map((x) => newWeights.get(x.id) ?? x),
    ops: p.ops.map((o) => newOps.get(o.id) ?? o),
  };
}
