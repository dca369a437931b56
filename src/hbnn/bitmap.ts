/**
 * Bit map generation (METHOD §3-4, paper Algorithm 1): which entries get 1, 2, 3, ... bits.
 *
 * For each bitwidth b from fewest bits up, among the entries not yet assigned, the count_b
 * entries with the smallest heuristic key get b bits; the last width used takes all that
 * remain. Counts come from `countsFromDistribution`. Keys are rounded to float32 and ordered
 * by (key, index): equal keys go to the lower index first. Only the count_b smallest keys
 * are selected each round (quickselect or radix select, see select.ts), never a full sort.
 *
 * Keys, for an unassigned entry j in round b (R = the entries still unassigned in j's group):
 * - middle-out:          | |T_j| - fround(mean_{k in R} |T_k|) |
 * - middle-out-residual: | |E_{b-1,j}| - mu_b |  =  |E_{b,j}|, the error entry j keeps if it
 *                        stops at b bits; E and mu are those of `heteroBinarize` with the bit
 *                        map chosen so far (every entry of R has at least b bits, so mu_b is
 *                        already fixed by the rounds before).
 * - top-down:            -|T_j| (largest magnitudes first)
 * - bottom-up:           |T_j|
 * - random:              a seeded bijective hash of j (a fixed random permutation).
 */
import { fail, ErrorCodes } from '../errors.js';
import { countsFromDistribution, resolveDistribution, type DistributionSpec } from './distribution.js';
import { randomKey, seedWords } from './prng.js';
import { assignSmallest, SelectionWork, type Selector } from './select.js';
import { checkOut, groupSize, sumAbsChecked } from './validate.js';

/** The sort heuristics of the paper (Eq. 6) plus the residual variant of Middle-Out. */
export type Heuristic = 'middle-out' | 'middle-out-residual' | 'top-down' | 'bottom-up' | 'random';

/** All heuristic names, for option parsing and help text. */
export const HEURISTICS: readonly Heuristic[] = ['middle-out', 'middle-out-residual', 'top-down', 'bottom-up', 'random'];

/** Options of `makeBitMap`; the distribution comes from `avgBits`, `dist` or both (see `resolveDistribution`). */
export interface BitMapOptions extends DistributionSpec {
  /** How entries are ranked for fewer bits. */
  heuristic: Heuristic;
  /** Seed of the `random` heuristic (any integer; default 0). */
  seed?: number;
  /** Per-channel bit maps: each of C contiguous channel blocks gets the exact counts and its own ranking; omitted = one bit map over the whole tensor (the paper). */
  channels?: number;
  /** middle-out-residual only: the residual uses per-channel scales over this many channels; pass the `channels` you will give `heteroBinarize`. */
  scaleChannels?: number;
  /** Tensor name for error messages. */
  name?: string;
  /** Buffer (length N) to receive the bit map; allocated when omitted. */
  out?: Uint8Array;
  /** Selection algorithm; 'auto' (default) picks by size. All give the same bit map; for tests and benchmarks. */
  selector?: Selector;
}

/** A bit map and what it achieved. */
export interface BitMapResult {
  /** bitMap[j] = bitwidth of entry j (1..maxBits). */
  bitMap: Uint8Array;
  /** counts[b - 1] = entries at b bits over the whole tensor. */
  counts: number[];
  /** Achieved average bitwidth. */
  avgBits: number;
  /** The distribution's average (the target). */
  targetAvgBits: number;
  /** The distribution used, dist[b - 1] for b bits. */
  dist: number[];
}

function checkHeuristic(h: unknown): Heuristic {
  if (typeof h !== 'string' || !(HEURISTICS as readonly string[]).includes(h)) {
    fail(ErrorCodes.INVALID_OPTION, `unknown heuristic ${JSON.stringify(h)}; expected one of ${HEURISTICS.join(', ')}`, {
      option: 'heuristic',
    });
  }
  return h as Heuristic;
}

function checkSeed(seed: unknown): number {
  if (seed === undefined) return 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    fail(ErrorCodes.INVALID_OPTION, `seed must be an integer, got ${String(seed)}`, { option: 'seed' });
  }
  return seed;
}

/** Per-group state of the rounds. */
interface Groups {
  count: number;
  size: number;
  remaining: Float64Array;
}

/** Writes the static keys of the top-down, bottom-up and random heuristics. */
function staticKeys(t: Float32Array, heuristic: Heuristic, seed: number, keys: Uint32Array): void {
  const n = t.length;
  const keysF = new Float32Array(keys.buffer, keys.byteOffset, n);
  if (heuristic === 'random') {
    const [a, b] = seedWords(seed);
    for (let j = 0; j < n; j++) keys[j] = randomKey(j, a, b);
  } else if (heuristic === 'bottom-up') {
    for (let j = 0; j < n; j++) keysF[j] = Math.abs(t[j]);
  } else {
    for (let j = 0; j < n; j++) keysF[j] = Math.abs(t[j]);
    for (let j = 0; j < n; j++) keys[j] = ~keys[j]; // reverses the order; equal keys stay equal
  }
}

/** Sum of |T| over the unassigned entries of [start, end). */
function sumAbsUnassigned(t: Float32Array, map: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let j = start; j < end; j++) if (map[j] === 0) s += Math.abs(t[j]);
  return s;
}

/**
 * The residual state of middle-out-residual: sign paths and partial-sum tables exactly as in
 * `heteroBinarize` (see residual.ts), over the scale groups.
 */
class ResidualTrack {
  readonly signs: Uint8Array;
  readonly table: Float64Array;
  readonly stride: number;

  constructor(
    readonly t: Float32Array,
    readonly groups: number,
    readonly size: number,
    maxBits: number,
  ) {
    this.signs = new Uint8Array(t.length);
    this.stride = 1 << (maxBits + 1);
    this.table = new Float64Array(groups * this.stride);
  }

  /** Round b of the binarization over the unassigned entries (= A_b): signs and mu_b. */
  step(map: Uint8Array, b: number): void {
    const { t, signs, table, stride, size } = this;
    const bit = 1 << (b - 1);
    for (let g = 0; g < this.groups; g++) {
      const base = g * stride;
      const from = base + bit;
      let sum = 0;
      let count = 0;
      const end = (g + 1) * size;
      for (let j = g * size; j < end; j++) {
        if (map[j] === 0) {
          const e = t[j] - table[from + signs[j]];
          if (e < 0) {
            signs[j] |= bit;
            sum -= e;
          } else sum += e;
          count++;
        }
      }
      const mu = count > 0 ? Math.fround(sum / count) : 0;
      const to = base + 2 * bit;
      for (let p = 0; p < bit; p++) {
        const prev = table[from + p];
        table[to + p] = prev + mu;
        table[to + bit + p] = prev - mu;
      }
    }
  }

  /** keys = |E_b| for the unassigned entries. */
  keys(map: Uint8Array, b: number, keysF: Float32Array): void {
    const { t, signs, table, stride, size } = this;
    for (let g = 0; g < this.groups; g++) {
      const at = g * stride + (1 << b);
      const end = (g + 1) * size;
      for (let j = g * size; j < end; j++) if (map[j] === 0) keysF[j] = Math.abs(t[j] - table[at + signs[j]]);
    }
  }
}

/**
 * Builds a bit map for `t` with Algorithm 1 and the chosen heuristic, with exact counts per
 * bitwidth (per tensor, or per channel with `channels`). NUMERIC on NaN/Inf weights.
 */
export function makeBitMap(t: Float32Array, opts: BitMapOptions): BitMapResult {
  const heuristic = checkHeuristic(opts.heuristic);
  const seed = checkSeed(opts.seed);
  const resolved = resolveDistribution(opts);
  const n = t.length;
  const groupCount = opts.channels ?? 1;
  const size = groupSize(n, opts.channels, 'channels');
  const scaleGroups = opts.scaleChannels ?? 1;
  const scaleSize = groupSize(n, opts.scaleChannels, 'scaleChannels');
  const map = checkOut(opts.out, n, 'out') ?? new Uint8Array(n);
  map.fill(0);

  const perGroup = countsFromDistribution(resolved.dist, size);
  const counts = perGroup.counts.map((c) => c * groupCount);
  const result: BitMapResult = {
    bitMap: map,
    counts,
    avgBits: perGroup.avgBits,
    targetAvgBits: resolved.avgBits,
    dist: resolved.dist,
  };

  const sums = new Float64Array(groupCount);
  for (let g = 0; g < groupCount; g++) sums[g] = sumAbsChecked(t, opts.name, g * size, (g + 1) * size);
  if (n === 0) return result;

  let last = perGroup.counts.length;
  while (perGroup.counts[last - 1] === 0) last--;
  const groups: Groups = { count: groupCount, size, remaining: new Float64Array(groupCount).fill(size) };
  const keys = new Uint32Array(n);
  const keysF = new Float32Array(keys.buffer);
  const work = new SelectionWork(opts.selector ?? 'auto');
  const residual = heuristic === 'middle-out-residual' ? new ResidualTrack(t, scaleGroups, scaleSize, last) : undefined;
  if (heuristic === 'top-down' || heuristic === 'bottom-up' || heuristic === 'random') staticKeys(t, heuristic, seed, keys);

  for (let b = 1; b < last; b++) {
    residual?.step(map, b);
    const c = perGroup.counts[b - 1];
    if (c === 0) continue;
    if (residual !== undefined) residual.keys(map, b, keysF);
    for (let g = 0; g < groups.count; g++) {
      const start = g * size;
      const end = start + size;
      if (heuristic === 'middle-out') {
        const mean = Math.fround(sums[g] / groups.remaining[g]);
        for (let j = start; j < end; j++) if (map[j] === 0) keysF[j] = Math.abs(Math.abs(t[j]) - mean);
      }
      assignSmallest(map, keys, start, end, groups.remaining[g], c, b, work);
      groups.remaining[g] -= c;
      if (heuristic === 'middle-out') sums[g] = sumAbsUnassigned(t, map, start, end);
    }
  }
  for (let j = 0; j < n; j++) if (map[j] === 0) map[j] = last;
  return result;
}

/** Counts of a bit map per bitwidth and its average. */
export interface BitHistogram {
  /** counts[b - 1] = entries at b bits, b = 1..max. */
  counts: number[];
  /** Number of entries. */
  n: number;
  /** Average bitwidth (0 for an empty map). */
  avgBits: number;
}

/** Counts the entries of a bit map per bitwidth; INVALID_OPTION on an entry outside 1..8. */
export function bitHistogram(bitMap: Uint8Array): BitHistogram {
  const all = new Float64Array(256);
  for (let j = 0; j < bitMap.length; j++) all[bitMap[j]]++;
  if (all[0] > 0 || all.subarray(9).some((c) => c > 0)) {
    const j = bitMap.findIndex((m) => m < 1 || m > 8);
    fail(ErrorCodes.INVALID_OPTION, `bitMap[${j}] = ${bitMap[j]}; bitwidths must be 1 to 8`, { option: 'bitMap', index: j });
  }
  let max = 0;
  let total = 0;
  for (let b = 1; b <= 8; b++) {
    if (all[b] > 0) max = b;
    total += b * all[b];
  }
  return { counts: Array.from(all.subarray(1, max + 1)), n: bitMap.length, avgBits: bitMap.length === 0 ? 0 : total / bitMap.length };
}
