/**
 * Residual error binarization (METHOD §1, paper Eq. 4) and its heterogeneous form with a
 * bit map (METHOD §2, paper Eq. 5).
 *
 * State per entry is a one-byte sign path, and per scale group a small table of the 2^d
 * possible partial sums at each depth d (see partial-sums.ts): the residual of entry j after
 * d rounds is E_{d,j} = T_j - table[(1 << d) + path_j], computed in float64 from the exact
 * float32 input, and T_hat_j = table[(1 << M_j) + path_j].
 *
 * Precision: each mean is a plain float64 accumulation of |E| in index order (relative error
 * below N * 2^-53, under 1e-8 for N < 10^8, far below float32 resolution). Each mu_i is
 * rounded to float32 as soon as it is computed and that float32 value is used for the later
 * residuals and for T_hat. T_hat is the float32 sequential sum mu_1*B_1 + mu_2*B_2 + ...,
 * so the reported scales and signs reproduce it bit for bit (see `reconstruct`), in this
 * module or in any float32 runtime. Results are deterministic: the order of every operation
 * is fixed.
 */
import { fail, ErrorCodes } from '../errors.js';
import { scratchIndices } from './scratch.js';
import { advanceListWasm, residualListWasm } from './wasm-kernels.js';
import { depthZero, isNegative, nextDepth, scaleOf } from './partial-sums.js';
import { checkMaxBits, checkOut, failBitMapEntry, failNonFinite, groupSize } from './validate.js';

/** Options shared by `residualBinarize` and `heteroBinarize`. */
export interface BinarizeOptions {
  /** Per-output-channel scales: the tensor is [C, ...rest] and channel c is the contiguous block c; omitted = one scale per bit for the whole tensor (the paper). */
  channels?: number;
  /** Tensor name for error messages. */
  name?: string;
  /** Buffer (length N) to receive the dequantized tensor; allocated when omitted. */
  out?: Float32Array;
  /**
   * false: do not write the dequantized tensor during the rounds (no `out` buffer; `out` is
   * ignored): the result's `dequantized` is rebuilt by `reconstruct` on first read from the bit
   * map and signs as they are then (so do not reuse those buffers before reading it), bit for bit
   * the same. For callers that keep only the signs and scales (quantization): 4 bytes per entry less.
   */
  dequantize?: boolean;
  /** Buffer (length N) to receive the sign paths; allocated when omitted. */
  signsOut?: Uint8Array;
  /**
   * The float64 sum of |T| over the whole tensor in index order, exactly as `sumAbsChecked`
   * computes it, from a caller that has just made a pass over T anyway (training: the
   * optimizer's update). `binarizeWithBitMap` takes it instead of the bit map's validating
   * first pass when the bit map and the scales have one group per tensor; `heteroBinarize`
   * with one scale per tensor knows mu_1 from it before its first pass, which then writes
   * round 1's signs and values and the list A_2 at once (one full pass instead of two).
   * Ignored otherwise, and when not finite (the passes then run and name the bad entry). A
   * wrong value gives wrong results: pass it only from such a pass over this very T.
   */
  sumAbs?: number;
}

/** The result of a (heterogeneous) residual binarization. */
export interface Binarization {
  /** Number of rounds: n for homogeneous binarization, max(M) for a bit map (0 for an empty map). */
  nBits: number;
  /** Number of scale groups: 1 per tensor, C per channel. */
  channels: number;
  /** mu_i per group, float32, laid out [bit][channel]: scales[(i - 1) * channels + c]. */
  scales: Float32Array;
  /** |A_i| per group, same layout as `scales` (how many entries took round i). */
  activeCounts: Float64Array;
  /** Sign path per entry: bit (i - 1) of signs[j] is 1 when B_{i,j} = -1 (only bits i <= M_j are meaningful, the others are 0). */
  signs: Uint8Array;
  /** T_hat as float32 (with `dequantize: false`, rebuilt on first read). */
  readonly dequantized: Float32Array;
}

function checkMapLength(bitMap: Uint8Array, length: number, option: string): void {
  if (!(bitMap instanceof Uint8Array) || bitMap.length !== length) {
    const got = bitMap instanceof Uint8Array ? `length ${bitMap.length}` : 'not a Uint8Array';
    fail(ErrorCodes.INVALID_OPTION, `${option} has ${got}; expected a Uint8Array of length ${length} (one bitwidth per entry)`, {
      option,
    });
  }
}

// ---- Kernels: small loops without data-dependent branches, each its own function so that
// V8 optimizes them separately. `list` arrays hold entry indices in ascending order.

/** Round 1 on [start, end) (E_0 = T): the signs of T; returns sum |T|. */
export function signsAndSum(t: Float32Array, signs: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let j = start; j < end; j++) {
    const v = t[j];
    signs[j] = isNegative(v);
    sum += Math.abs(v);
  }
  return sum;
}

/** A round over [start, end): E = T - sums[at + path], sign bit `shift`; returns sum |E|. */
function residualRange(t: Float32Array, signs: Uint8Array, sums: Float64Array, at: number, shift: number, start: number, end: number): number {
  let sum = 0;
  for (let j = start; j < end; j++) {
    const s = signs[j];
    const e = t[j] - sums[at + s];
    signs[j] = s | (isNegative(e) << shift);
    sum += Math.abs(e);
  }
  return sum;
}

/** The same over the entries list[from .. to). */
function residualList(t: Float32Array, signs: Uint8Array, sums: Float64Array, at: number, shift: number, list: Uint32Array, from: number, to: number): number {
  const inWasm = residualListWasm(t, signs, sums, at, shift, list, from, to);
  if (inWasm !== undefined) return inWasm;
  let sum = 0;
  for (let r = from; r < to; r++) {
    const j = list[r];
    const s = signs[j];
    const e = t[j] - sums[at + s];
    signs[j] = s | (isNegative(e) << shift);
    sum += Math.abs(e);
  }
  return sum;
}

/** out[j] = sums[at + path] on [start, end). */
function valuesRange(out: Float32Array, signs: Uint8Array, sums: Float64Array, at: number, start: number, end: number): void {
  for (let j = start; j < end; j++) out[j] = sums[at + signs[j]];
}

/**
 * Over [start, end) (every entry is in A_1): writes the depth-1 values, mu_1 * B_1 (computed
 * as mu - 2 mu s, exact for s in {0, 1}), and appends the entries with M_j >= 2 to `list`
 * from position w (branch-free: every entry is written, only those kept advance w). Returns
 * the new end of the list and the OR of (M_j - 1) | (8 - M_j), negative when an entry is
 * outside 1..8.
 */
function advanceRange(
  out: Float32Array,
  signs: Uint8Array,
  mu: number,
  bitMap: Uint8Array,
  start: number,
  end: number,
  list: Uint32Array,
  w: number,
): [number, number] {
  const twoMu = 2 * mu;
  let bad = 0;
  for (let j = start; j < end; j++) {
    out[j] = mu - twoMu * signs[j];
    const m = bitMap[j];
    bad |= (m - 1) | (8 - m);
    list[w] = j;
    w += (1 - m) >>> 31; // 1 when m >= 2
  }
  return [w, bad];
}

/**
 * Round 1 and `advanceRange` in one pass, for a caller that knows mu_1 (`BinarizeOptions.sumAbs`):
 * signs of T, the depth-1 values, and the entries with M_j >= 2 appended to `list`. Returns
 * the end of the list and the bit map check of `advanceRange`.
 */
function signsAdvanceRange(t: Float32Array, out: Float32Array, signs: Uint8Array, mu: number, bitMap: Uint8Array, start: number, end: number, list: Uint32Array, w: number): [number, number] {
  const twoMu = 2 * mu;
  let bad = 0;
  for (let j = start; j < end; j++) {
    const s = isNegative(t[j]);
    signs[j] = s;
    out[j] = mu - twoMu * s;
    const m = bitMap[j];
    bad |= (m - 1) | (8 - m);
    list[w] = j;
    w += (1 - m) >>> 31; // 1 when m >= 2
  }
  return [w, bad];
}

/** `signsAdvanceRange` without the values (`dequantize: false`). */
function signsAdvanceRangeNoValues(t: Float32Array, signs: Uint8Array, bitMap: Uint8Array, start: number, end: number, list: Uint32Array, w: number): [number, number] {
  let bad = 0;
  for (let j = start; j < end; j++) {
    signs[j] = isNegative(t[j]);
    const m = bitMap[j];
    bad |= (m - 1) | (8 - m);
    list[w] = j;
    w += (1 - m) >>> 31; // 1 when m >= 2
  }
  return [w, bad];
}

/** `advanceRange` without the values (`dequantize: false`). */
function advanceRangeNoValues(bitMap: Uint8Array, start: number, end: number, list: Uint32Array, w: number): [number, number] {
  let bad = 0;
  for (let j = start; j < end; j++) {
    const m = bitMap[j];
    bad |= (m - 1) | (8 - m);
    list[w] = j;
    w += (1 - m) >>> 31; // 1 when m >= 2
  }
  return [w, bad];
}

/** `advanceList` without the values (`dequantize: false`). */
function advanceListNoValues(bitMap: Uint8Array, i: number, list: Uint32Array, from: number, to: number): number {
  let w = from;
  for (let r = from; r < to; r++) {
    const j = list[r];
    list[w] = j;
    w += (i - 1 - bitMap[j]) >>> 31; // 1 when M_j >= i
  }
  return w;
}

/**
 * `advanceListNoValues` and `residualList` in one pass, for a list that is a close superset of
 * A_i (`ListA2.keptEnds`): keeps the entries with M_j >= i (a branch, rarely not taken there)
 * and takes their residual E_{i-1} at once, in the same order. Returns the new end and sum |E|.
 */
function advanceResidualList(t: Float32Array, signs: Uint8Array, sums: Float64Array, at: number, bitMap: Uint8Array, i: number, list: Uint32Array, from: number, to: number): [number, number] {
  const shift = i - 1;
  let w = from;
  let sum = 0;
  for (let r = from; r < to; r++) {
    const j = list[r];
    if (bitMap[j] >= i) {
      list[w++] = j;
      const s = signs[j];
      const e = t[j] - sums[at + s];
      signs[j] = s | (isNegative(e) << shift);
      sum += Math.abs(e);
    }
  }
  return [w, sum];
}

/**
 * Over the entries list[from .. to) of A_{i-1}: writes their depth i-1 values and keeps those
 * with M_j >= i, compacting the list in place. Returns the new end.
 */
function advanceList(
  out: Float32Array,
  signs: Uint8Array,
  sums: Float64Array,
  at: number,
  bitMap: Uint8Array,
  i: number,
  list: Uint32Array,
  from: number,
  to: number,
): number {
  const inWasm = advanceListWasm(out, signs, sums, at, bitMap, i, list, from, to);
  if (inWasm >= 0) return inWasm;
  let w = from;
  for (let r = from; r < to; r++) {
    const j = list[r];
    out[j] = sums[at + signs[j]];
    list[w] = j;
    w += (i - 1 - bitMap[j]) >>> 31; // 1 when M_j >= i
  }
  return w;
}

/**
 * A_2 handed over by `binarizeWithBitMap` (from middle-out's first round): group g's entries
 * with M >= 2 in list[starts[g] .. ends[g]), in index order, round 1's values already written
 * for every entry; `sums2`, when set, each group's round-2 sum |E| (signs bit 1 written).
 */
export interface ListA2 {
  list: Uint32Array;
  starts: Float64Array;
  ends: Float64Array;
  sums2?: Float64Array;
  /**
   * When set, list[starts[g] .. keptEnds[g]) is a superset of group g's A_3 in index order
   * (what is left of A_2 after middle-out's last round dropped the entries it took below its
   * bounds), so round 3 builds A_3 from it instead of from all of A_2.
   */
  keptEnds?: Float64Array;
}

/**
 * The binarization rounds. `bitMap` null means homogeneous: every entry takes `rounds`
 * rounds. With a bit map the rounds go on while A_i is not empty, so max(M) need not be known
 * in advance. Per round, for group g:
 *
 * - round 1 visits every entry (E_0 = T): signs and sum |T| (or takes `firstSums`, the sum
 *   per group of a round 1 already run into opts.signsOut);
 * - homogeneous round i: one pass, residual and sign of every entry;
 * - heterogeneous round i: a pass over A_{i-1} writes each entry's depth i-1 value (final for
 *   those with M_j = i - 1, overwritten later for the others) and compacts the list to A_i;
 *   a pass over A_i takes the residual E_{i-1}, its sign and sum |E_{i-1}|;
 * - with `a2` the round-2 pass over every entry is skipped (A_2 given), and with `a2.sums2`
 *   also round 2's residual pass;
 * - `widest`, when the caller knows max(M) (the bit map's exact counts): the rounds end after
 *   round `widest` without the pass over A_widest that would find A_{widest+1} empty (with
 *   values to write, that pass also writes them, so it is kept).
 */
export function binarizeRounds(
  t: Float32Array,
  bitMap: Uint8Array | null,
  rounds: number,
  opts: BinarizeOptions,
  firstSums?: Float64Array,
  a2?: ListA2,
  widest?: number,
): Binarization {
  const n = t.length;
  const channels = opts.channels ?? 1;
  const size = groupSize(n, opts.channels, 'channels');
  const out = opts.dequantize === false ? null : (checkOut(opts.out, n, 'out') ?? new Float32Array(n));
  const signs = checkOut(opts.signsOut, n, 'signsOut') ?? new Uint8Array(n);
  const allScales: number[] = []; // [round][group]
  const allCounts: number[] = [];
  const finish = (): Binarization => {
    const nBits = allScales.length / channels;
    const b = { nBits, channels, scales: Float32Array.from(allScales), activeCounts: Float64Array.from(allCounts), signs };
    if (out !== null) return { ...b, dequantized: out };
    // Not written during the rounds: rebuilt from the bit map, signs and scales when read.
    let rebuilt: Float32Array | undefined;
    return {
      ...b,
      get dequantized(): Float32Array {
        return (rebuilt ??= reconstruct(bitMap ?? new Uint8Array(n).fill(nBits), b));
      },
    };
  };
  if (n === 0) {
    for (let k = 0; k < rounds * channels; k++) {
      allScales.push(0);
      allCounts.push(0);
    }
    return finish();
  }

  // A bit map, one scale per tensor and sum |T| known (opts.sumAbs): mu_1 is known before any
  // pass, so round 1 (signs) and round 2's pass over every entry (values, A_2) are one pass.
  if (bitMap !== null && firstSums === undefined && a2 === undefined && channels === 1 && opts.sumAbs !== undefined && Number.isFinite(opts.sumAbs)) {
    const list = scratchIndices(n + 1);
    const [end, bad] = out === null ? signsAdvanceRangeNoValues(t, signs, bitMap, 0, n, list, 0) : signsAdvanceRange(t, out, signs, scaleOf(opts.sumAbs, n), bitMap, 0, n, list, 0);
    if (bad < 0) failBitMapEntry(bitMap, 'bitMap');
    firstSums = Float64Array.of(opts.sumAbs);
    a2 = { list, starts: Float64Array.of(0), ends: Float64Array.of(end) };
  }

  // Round 1.
  let mus = new Float64Array(channels);
  for (let g = 0; g < channels; g++) {
    const start = g * size;
    // firstSums: round 1 already done by the caller (`binarizeWithBitMap`), signs written.
    const sum = firstSums === undefined ? signsAndSum(t, signs, start, start + size) : firstSums[g];
    // A float32 tensor cannot overflow a float64 sum, so a non-finite sum means a NaN/Inf weight.
    if (!Number.isFinite(sum)) failNonFinite(t, opts.name, start, start + size);
    mus[g] = scaleOf(sum, size);
    allScales.push(mus[g]);
    allCounts.push(size);
  }
  let sums = nextDepth(depthZero(channels), 0, mus);

  if (bitMap === null) {
    for (let i = 2; i <= rounds; i++) {
      mus = new Float64Array(channels);
      for (let g = 0; g < channels; g++) {
        const sum = residualRange(t, signs, sums, g << (i - 1), i - 1, g * size, (g + 1) * size);
        mus[g] = scaleOf(sum, size);
        allScales.push(mus[g]);
        allCounts.push(size);
      }
      sums = nextDepth(sums, i - 1, mus);
    }
    if (out !== null) for (let g = 0; g < channels; g++) valuesRange(out, signs, sums, g << rounds, g * size, (g + 1) * size);
    return finish();
  }

  // Heterogeneous: group g's part of the list of A_i is list[listStart[g] .. listEnd[g]).
  // One spare slot: the branch-free append writes one entry past the last kept one.
  // a2 (from `binarizeWithBitMap`): round 1's values are written for every entry and A_2 is
  // given, exactly the list the round-2 pass below would build.
  const list = a2 === undefined ? scratchIndices(n + 1) : a2.list;
  const listStart = a2 === undefined ? new Float64Array(channels) : a2.starts;
  const listEnd = a2 === undefined ? new Float64Array(channels) : a2.ends;
  for (let i = 2; ; i++) {
    let active = 0;
    let bad = 0;
    // Round 3 over the close superset of A_3 that middle-out's last round left (no values to
    // write): the list and the residual in one pass.
    const fusedSums = i === 3 && out === null && a2?.keptEnds !== undefined ? new Float64Array(channels) : undefined;
    if (out === null && widest !== undefined && i > widest) return finish(); // A_i is empty
    for (let g = 0; g < channels; g++) {
      const at = g << (i - 1); // group g's sums of depth i - 1
      if (fusedSums !== undefined) {
        [listEnd[g], fusedSums[g]] = advanceResidualList(t, signs, sums, at, bitMap, i, list, listStart[g], a2!.keptEnds![g]);
      } else if (i === 2) {
        if (a2 === undefined) {
          listStart[g] = g === 0 ? 0 : listEnd[g - 1];
          const [end, groupBad] =
            out === null
              ? advanceRangeNoValues(bitMap, g * size, (g + 1) * size, list, listStart[g])
              : advanceRange(out, signs, sums[at], bitMap, g * size, (g + 1) * size, list, listStart[g]);
          listEnd[g] = end;
          bad |= groupBad;
        } // else: given (a2)
      } else {
        listEnd[g] =
          out === null
            ? advanceListNoValues(bitMap, i, list, listStart[g], listEnd[g])
            : advanceList(out, signs, sums, at, bitMap, i, list, listStart[g], listEnd[g]);
      }
      active += listEnd[g] - listStart[g];
    }
    if (bad < 0) failBitMapEntry(bitMap, 'bitMap');
    if (active === 0) return finish(); // A_i is empty: max(M) = i - 1 and every value is written
    mus = new Float64Array(channels);
    for (let g = 0; g < channels; g++) {
      const sum =
        fusedSums !== undefined
          ? fusedSums[g]
          : i === 2 && a2?.sums2 !== undefined
            ? a2.sums2[g]
            : residualList(t, signs, sums, g << (i - 1), i - 1, list, listStart[g], listEnd[g]);
      const count = listEnd[g] - listStart[g];
      mus[g] = scaleOf(sum, count);
      allScales.push(mus[g]);
      allCounts.push(count);
    }
    sums = nextDepth(sums, i - 1, mus);
  }
}

/** Validates a bit map (a Uint8Array of the tensor's length, entries 1..8) and returns max(M), 0 when empty. */
export function bitMapMax(bitMap: Uint8Array, length: number, option = 'bitMap'): number {
  checkMapLength(bitMap, length, option);
  let min = 255;
  let max = 0;
  for (let j = 0; j < bitMap.length; j++) {
    const m = bitMap[j];
    if (m > max) max = m;
    if (m < min) min = m;
  }
  if (bitMap.length > 0 && (min < 1 || max > 8)) failBitMapEntry(bitMap, option);
  return max;
}

/**
 * Homogeneous residual binarization of `t` to `nBits` bits (METHOD §1). sign(0) = +1.
 * Scales are per tensor, or per output channel with `opts.channels`.
 */
export function residualBinarize(t: Float32Array, nBits: number, opts: BinarizeOptions = {}): Binarization {
  checkMaxBits(nBits, 'nBits');
  return binarizeRounds(t, null, nBits, opts);
}

/**
 * Heterogeneous residual binarization (METHOD §2): entry j takes rounds 1..bitMap[j];
 * mu_i = mean |E_{i-1}| over A_i = { j : M_j >= i } (0 when A_i is empty). sign(0) = +1.
 */
export function heteroBinarize(t: Float32Array, bitMap: Uint8Array, opts: BinarizeOptions = {}): Binarization {
  checkMapLength(bitMap, t.length, 'bitMap');
  return binarizeRounds(t, bitMap, 0, opts);
}

/**
 * Rebuilds T_hat from a bit map, the sign paths and the float32 scales of a `Binarization`;
 * bit-identical to its `dequantized` (the same float64 sums in the same order).
 */
export function reconstruct(
  bitMap: Uint8Array,
  b: Pick<Binarization, 'nBits' | 'channels' | 'scales' | 'signs'>,
  out?: Float32Array,
): Float32Array {
  const n = bitMap.length;
  const max = bitMapMax(bitMap, n);
  if (max > b.nBits) {
    fail(ErrorCodes.INVALID_OPTION, `bit map needs ${max} bits but the binarization has ${b.nBits}`, { option: 'bitMap' });
  }
  if (b.signs.length !== n) {
    fail(ErrorCodes.INVALID_OPTION, `signs has length ${b.signs.length}, expected ${n}`, { option: 'signs' });
  }
  if (b.scales.length !== b.nBits * b.channels) {
    fail(ErrorCodes.INVALID_OPTION, `scales has length ${b.scales.length}, expected ${b.nBits * b.channels}`, {
      option: 'scales',
    });
  }
  const size = groupSize(n, b.channels, 'channels');
  const target = checkOut(out, n, 'out') ?? new Float32Array(n);
  // The sums of every depth, built with the same float32 steps as the binarization.
  const depths = [depthZero(b.channels)];
  for (let i = 1; i <= b.nBits; i++) depths.push(nextDepth(depths[i - 1], i - 1, b.scales.subarray((i - 1) * b.channels, i * b.channels)));
  for (let g = 0; g < b.channels; g++) {
    const end = (g + 1) * size;
    for (let j = g * size; j < end; j++) {
      const m = bitMap[j];
      target[j] = depths[m][(g << m) + (b.signs[j] & ((1 << m) - 1))];
    }
  }
  return target;
}

/** Mean squared error between a tensor and its approximation, in float64. */
export function meanSquaredError(t: Float32Array, approx: Float32Array): number {
  if (approx.length !== t.length) {
    fail(ErrorCodes.INVALID_OPTION, `approximation has length ${approx.length}, expected ${t.length}`, { option: 'approx' });
  }
  let s = 0;
  for (let j = 0; j < t.length; j++) {
    const d = t[j] - approx[j];
    s += d * d;
  }
  return t.length === 0 ? 0 : s / t.length;
}
