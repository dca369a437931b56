/**
 * Row-granular bit maps (docs/method.md §5, "Row-granular bit maps"): every row of the
 * tensor gets one bitwidth. The tensor is channel-major, `rows` contiguous blocks of
 * S = N / rows entries (for a layer's weight: its output channels), so hardware that folds a
 * layer's rows over processing elements can group the rows by bitwidth.
 *
 * Algorithm 1 over rows, with exact row counts from `countsFromDistribution(dist, rows)`: for
 * each bitwidth b from fewest bits up, among the rows not yet assigned (R), the count_b rows
 * with the smallest key get b bits; ties go to the lower row index; the widest bitwidth used
 * takes all rows that remain. Keys are float64, each a sum over the row's entries in index
 * order; R's entries are the entries of the rows in R:
 *
 * - middle-out:          sum_j | |T_j| - m |, m = fround(mean_{k in R's entries} |T_k|)
 *                        (the sum for the mean in index order, recomputed every round);
 * - middle-out-residual: sum_j |E_{b,j}|, the error entry j keeps if its row stops at b bits:
 *                        the residual of `heteroBinarize` with the rows assigned so far (every
 *                        row of R has at least b bits, so mu_1 .. mu_b are fixed: mean |E_{i-1}|
 *                        over R's entries, or over the row with per-row scales, float32 scales
 *                        and partial sums exactly as residual.ts, sign(0) = +1);
 * - top-down:            -sum_j |T_j|;
 * - bottom-up:           sum_j |T_j|;
 * - random:              randomKey(row, seed words): a fixed random permutation of the rows.
 *
 * Rows are at most a few thousand, so every round sorts R's keys.
 */
import { fail, ErrorCodes } from '../errors.js';
import { checkHeuristic, checkSeed, checkSelector, ResidualTrack, selectionRounds, type BitMapOptions, type BitMapResult } from './bitmap-common.js';
import { countsFromDistribution, resolveDistribution } from './distribution.js';
import { randomKey, seedWords } from './prng.js';
import { checkOut, groupSize, sumAbsChecked } from './validate.js';

/**
 * The scale groups of middle-out-residual's residual for a row-granular map: per tensor
 * (scaleChannels omitted or 1) or per row (scaleChannels = rows); INVALID_OPTION otherwise.
 */
function rowScaleGroups(scaleChannels: number | undefined, rows: number): number {
  if (scaleChannels === undefined || scaleChannels === 1 || scaleChannels === rows) return scaleChannels ?? 1;
  fail(
    ErrorCodes.INVALID_OPTION,
    `scaleChannels = ${String(scaleChannels)} with rows = ${rows}: a row-granular bit map supports per-tensor scales ` +
      `(scaleChannels omitted or 1) or one scale group per row (scaleChannels = rows)`,
    { option: 'scaleChannels' },
  );
}

/**
 * `makeBitMap` with `opts.rows` set: one bitwidth per row (see the file comment). The result's
 * `counts` are entries per bitwidth (row counts times the row length); `avgBits` is the
 * achieved average. NUMERIC on NaN/Inf weights; INVALID_OPTION for `rows` that does not divide
 * the tensor, `rows` together with `channels`, or an unsupported `scaleChannels`.
 */
export function makeRowBitMap(t: Float32Array, opts: BitMapOptions): BitMapResult {
  const heuristic = checkHeuristic(opts.heuristic);
  const seed = checkSeed(opts.seed);
  const resolved = resolveDistribution(opts);
  checkSelector(opts.selector); // no selection algorithm here, but a bad value is still an error
  if (opts.channels !== undefined) {
    fail(
      ErrorCodes.INVALID_OPTION,
      `rows (one bitwidth per row) and channels (a bit map per channel) cannot be combined; give one of them`,
      { option: 'rows' },
    );
  }
  const n = t.length;
  const rows = opts.rows!;
  const size = groupSize(n, rows, 'rows');
  const scaleGroups = rowScaleGroups(opts.scaleChannels, rows);
  const map = checkOut(opts.out, n, 'out') ?? new Uint8Array(n);

  const perRow = countsFromDistribution(resolved.dist, rows);
  const result: BitMapResult = {
    bitMap: map,
    counts: perRow.counts.map((c) => c * size),
    avgBits: n === 0 ? 0 : perRow.avgBits,
    targetAvgBits: resolved.avgBits,
    dist: resolved.dist,
  };
  // Validation (NaN/Inf), and each row's sum |T| in index order.
  const rowAbs = new Float64Array(rows);
  for (let r = 0; r < rows; r++) rowAbs[r] = sumAbsChecked(t, opts.name, r * size, (r + 1) * size);
  if (n === 0) return result;

  const counts = perRow.counts;
  const { last, lastSelection } = selectionRounds(counts); // `last` takes all rows that remain
  if (lastSelection === 0) {
    map.fill(last);
    return result;
  }

  const residual = heuristic === 'middle-out-residual' ? new ResidualTrack(t, scaleGroups, n / scaleGroups) : undefined;
  const [seedA, seedB] = seedWords(seed);
  const keys = new Float64Array(rows);
  let remaining: number[] = Array.from({ length: rows }, (_, r) => r); // R, ascending
  for (let b = 1; b <= lastSelection; b++) {
    if (residual !== undefined) {
      // Round b of the binarization over R's entries (in index order): signs B_b and mu_b.
      const list = new Uint32Array(remaining.length * size);
      let w = 0;
      for (const r of remaining) for (let j = r * size; j < (r + 1) * size; j++) list[w++] = j;
      residual.step(list, w, b);
    }
    const c = counts[b - 1]!;
    if (c === 0) continue;
    switch (heuristic) {
      case 'middle-out': {
        let sum = 0;
        for (const r of remaining) for (let j = r * size; j < (r + 1) * size; j++) sum += Math.abs(t[j]!);
        const m = Math.fround(sum / (remaining.length * size));
        for (const r of remaining) {
          let k = 0;
          for (let j = r * size; j < (r + 1) * size; j++) k += Math.abs(Math.abs(t[j]!) - m);
          keys[r] = k;
        }
        break;
      }
      case 'middle-out-residual': {
        const { signs, sums, size: scaleSize } = residual!;
        for (const r of remaining) {
          let k = 0;
          for (let j = r * size; j < (r + 1) * size; j++) k += Math.abs(t[j]! - sums[(Math.floor(j / scaleSize) << b) + signs[j]!]!);
          keys[r] = k;
        }
        break;
      }
      case 'top-down':
        for (const r of remaining) keys[r] = -rowAbs[r]!;
        break;
      case 'bottom-up':
        for (const r of remaining) keys[r] = rowAbs[r]!;
        break;
      case 'random':
        for (const r of remaining) keys[r] = randomKey(r, seedA, seedB);
        break;
    }
    const order = remaining.slice().sort((x, y) => (keys[x]! < keys[y]! ? -1 : keys[x]! > keys[y]! ? 1 : x - y));
    const taken = new Uint8Array(rows);
    for (let q = 0; q < c; q++) {
      const r = order[q]!;
      taken[r] = 1;
      map.fill(b, r * size, (r + 1) * size);
    }
    remaining = remaining.filter((r) => taken[r] === 0);
  }
  for (const r of remaining) map.fill(last, r * size, (r + 1) * size);
  return result;
}
