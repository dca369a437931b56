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
import { extendTable, isNegative, tableStride } from './partial-sums.js';
import { checkMaxBits, checkOut, failNonFinite, groupSize } from './validate.js';

/** Options shared by `residualBinarize` and `heteroBinarize`. */
export interface BinarizeOptions {
  /** Per-output-channel scales: the tensor is [C, ...rest] and channel c is the contiguous block c; omitted = one scale per bit for the whole tensor (the paper). */
  channels?: number;
  /** Tensor name for error messages. */
  name?: string;
  /** Buffer (length N) to receive the dequantized tensor; allocated when omitted. */
  out?: Float32Array;
  /** Buffer (length N) to receive the sign paths; allocated when omitted. */
  signsOut?: Uint8Array;
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
  /** T_hat as float32. */
  dequantized: Float32Array;
}

/** A bit map with a bitwidth outside 1..8 at some index. */
function failBitMapEntry(bitMap: Uint8Array, option: string): never {
  const j = bitMap.findIndex((m) => m < 1 || m > 8);
  fail(ErrorCodes.INVALID_OPTION, `${option}[${j}] = ${bitMap[j]}; bitwidths must be 1 to 8`, { option, index: j });
}

function checkMapLength(bitMap: Uint8Array, length: number, option: string): void {
  if (!(bitMap instanceof Uint8Array) || bitMap.length !== length) {
    const got = bitMap instanceof Uint8Array ? `length ${bitMap.length}` : 'not a Uint8Array';
    fail(ErrorCodes.INVALID_OPTION, `${option} has ${got}; expected a Uint8Array of length ${length} (one bitwidth per entry)`, {
      option,
    });
  }
}

/**
 * Round 1 of a heterogeneous binarization, fused with the bit map's validation: every entry
 * takes round 1 (E_0 = T). Writes the signs and returns sum |T| per group, max(M) and how many
 * entries have M_j >= 2.
 */
function firstRound(
  t: Float32Array,
  bitMap: Uint8Array | null,
  signs: Uint8Array,
  channels: number,
  size: number,
  name: string | undefined,
): { sums: Float64Array; max: number; multiBit: number } {
  const sums = new Float64Array(channels);
  let min = 255;
  let max = 0;
  let multiBit = 0;
  for (let g = 0; g < channels; g++) {
    const start = g * size;
    const end = start + size;
    let sum = 0;
    if (bitMap === null) {
      for (let j = start; j < end; j++) {
        const v = t[j];
        signs[j] = isNegative(v);
        sum += Math.abs(v);
      }
    } else {
      for (let j = start; j < end; j++) {
        const v = t[j];
        const m = bitMap[j];
        signs[j] = isNegative(v);
        sum += Math.abs(v);
        multiBit += (1 - m) >>> 31; // 1 when m >= 2
        if (m > max) max = m;
        if (m < min) min = m;
      }
    }
    // A float32 tensor cannot overflow a float64 sum, so a non-finite sum means a NaN/Inf weight.
    if (!Number.isFinite(sum)) failNonFinite(t, name, start, end);
    sums[g] = sum;
  }
  if (bitMap !== null && bitMap.length > 0 && (min < 1 || max > 8)) failBitMapEntry(bitMap, 'bitMap');
  return { sums, max, multiBit };
}

/**
 * The binarization rounds. `bitMap` null means homogeneous (every entry takes all `nBits`
 * rounds; for a bit map the rounds are max(M)). No data-dependent branch sits in a hot loop:
 *
 * - round 1 visits every entry (E_0 = T): signs and sum |T| per group;
 * - each later round i is one pass over the entries of A_{i-1} that writes their value at
 *   depth i - 1 to the output (final for those with M_j = i - 1, overwritten for the others)
 *   and, for those in A_i, takes the residual E_{i-1}, its sign and |E_{i-1}|, appending
 *   them to the list of A_i (compacted in place, in index order);
 * - a last pass writes the full-depth values of A_n.
 */
function binarizeRounds(t: Float32Array, bitMap: Uint8Array | null, homogeneousBits: number, opts: BinarizeOptions): Binarization {
  const n = t.length;
  const channels = opts.channels ?? 1;
  const size = groupSize(n, opts.channels, 'channels');
  const out = checkOut(opts.out, n, 'out') ?? new Float32Array(n);
  const signs = checkOut(opts.signsOut, n, 'signsOut') ?? new Uint8Array(n);

  const first = firstRound(t, bitMap, signs, channels, size, opts.name);
  const nBits = bitMap === null ? homogeneousBits : first.max;
  const stride = tableStride(nBits);
  const table = new Float64Array(channels * stride);
  const scales = new Float32Array(nBits * channels);
  const activeCounts = new Float64Array(nBits * channels);
  const result: Binarization = { nBits, channels, scales, activeCounts, signs, dequantized: out };
  if (n === 0) return result;

  const record = (i: number, g: number, sum: number, count: number): void => {
    const mu = count > 0 ? Math.fround(sum / count) : 0;
    scales[(i - 1) * channels + g] = mu;
    activeCounts[(i - 1) * channels + g] = count;
    extendTable(table, g * stride, i - 1, mu);
  };
  for (let g = 0; g < channels; g++) record(1, g, first.sums[g], size);

  if (bitMap === null) {
    for (let i = 2; i <= nBits; i++) {
      const bit = 1 << (i - 1);
      for (let g = 0; g < channels; g++) {
        const from = g * stride + bit;
        const end = (g + 1) * size;
        let sum = 0;
        for (let j = g * size; j < end; j++) {
          const s = signs[j];
          const e = t[j] - table[from + s];
          signs[j] = s | (isNegative(e) << (i - 1));
          sum += Math.abs(e);
        }
        record(i, g, sum, size);
      }
    }
    for (let g = 0; g < channels; g++) {
      const at = g * stride + (1 << nBits);
      const end = (g + 1) * size;
      for (let j = g * size; j < end; j++) out[j] = table[at + signs[j]];
    }
    return result;
  }

  // Heterogeneous: `list` holds A_i in index order, group g at [listStart[g], listEnd[g]).
  // One spare slot: the branch-free append writes one entry past the last kept one.
  const list = scratchIndices(first.multiBit + 1);
  const listStart = new Float64Array(channels);
  const listEnd = new Float64Array(channels);
  // i = nBits + 1 only writes the values of depth nBits (for nBits = 1 the i = 2 pass does,
  // with A_2 empty).
  for (let i = 2; i <= nBits + 1; i++) {
    const bit = 1 << (i - 1);
    const last = i > nBits;
    for (let g = 0; g < channels; g++) {
      const from = g * stride + bit; // partial sums of depth i - 1
      let sum = 0;
      let count = 0;
      if (i === 2) {
        const end = (g + 1) * size;
        let w = g === 0 ? 0 : listEnd[g - 1];
        listStart[g] = w;
        for (let j = g * size; j < end; j++) {
          const s = signs[j];
          const v = table[from + s];
          out[j] = v;
          const a = (1 - bitMap[j]) >>> 31; // 1 when M_j >= 2
          const e = t[j] - v;
          signs[j] = s | ((isNegative(e) & a) << 1);
          sum += Math.abs(e) * a;
          count += a;
          list[w] = j;
          w += a;
        }
        listEnd[g] = w;
      } else if (last) {
        const end = listEnd[g];
        for (let p = listStart[g]; p < end; p++) {
          const j = list[p];
          out[j] = table[from + signs[j]];
        }
      } else {
        const end = listEnd[g];
        let w = listStart[g];
        for (let p = w; p < end; p++) {
          const j = list[p];
          const s = signs[j];
          const v = table[from + s];
          out[j] = v;
          const a = (i - 1 - bitMap[j]) >>> 31; // 1 when M_j >= i
          const e = t[j] - v;
          signs[j] = s | ((isNegative(e) & a) << (i - 1));
          sum += Math.abs(e) * a;
          count += a;
          list[w] = j;
          w += a;
        }
        listEnd[g] = w;
      }
      if (!last) record(i, g, sum, count);
    }
  }
  return result;
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
  groupSize(n, b.channels, 'channels');
  const target = checkOut(out, n, 'out') ?? new Float32Array(n);
  const stride = tableStride(b.nBits);
  const table = new Float64Array(b.channels * stride);
  for (let g = 0; g < b.channels; g++) {
    for (let i = 1; i <= b.nBits; i++) extendTable(table, g * stride, i - 1, b.scales[(i - 1) * b.channels + g]);
  }
  const size = n / b.channels;
  for (let g = 0; g < b.channels; g++) {
    const base = g * stride;
    const end = (g + 1) * size;
    for (let j = g * size; j < end; j++) target[j] = table[base + (1 << bitMap[j]) + b.signs[j]];
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
