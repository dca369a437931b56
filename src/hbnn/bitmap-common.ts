/**
 * What the per-entry bit maps (bitmap.ts) and the row-granular ones (row-bitmap.ts) share:
 * the heuristics, the options and result, option checks, the residual of
 * middle-out-residual and the rounds of Algorithm 1.
 */
import { fail, ErrorCodes } from '../errors.js';
import type { DistributionSpec } from './distribution.js';
import { depthZero, isNegative, nextDepth, scaleOf } from './partial-sums.js';
import type { Selector } from './select.js';

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
  /**
   * Row-granular bit maps (row-bitmap.ts): the tensor is `rows` contiguous rows (channel-major:
   * the output channels) and every row gets one bitwidth, with exact row counts per bitwidth;
   * omitted = a bitwidth per entry. Not with `channels`; `scaleChannels` must then be 1 or `rows`.
   */
  rows?: number;
  /** Tensor name for error messages. */
  name?: string;
  /** Buffer (length N) to receive the bit map; allocated when omitted. */
  out?: Uint8Array;
  /** Selection algorithm; 'auto' (default) picks by size. All give the same bit map; for tests and benchmarks. */
  selector?: Selector;
  /**
   * Bounds remembered from an earlier call on a similar tensor (the same layer one training
   * step before): the sampled selections try them first, and fall back to sampling when the
   * exact counts reject them. The bit map is the same with or without (any bounds that pass
   * the count check give the same selection); only the work differs. Updated in place.
   */
  warm?: WarmBounds;
}

/**
 * Per (round, group) key bounds [lo, hi] for the next sampled-style selection (the last
 * successful one's band, recentred on its c-th smallest key) and how many keys fell inside
 * the last one's bounds; see `BitMapOptions.warm`.
 */
export class WarmBounds {
  /** Per selection slot: the band, the boundary count it held, and (bands of `rememberBounds`) the pivot key and the band's base half-width. */
  readonly slots = new Map<number, [lo: number, hi: number, inside: number, pivot?: number, half?: number]>();
  /** Counters: warm bounds that held, and those the counts rejected. */
  hits = 0;
  misses = 0;
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

export function checkHeuristic(h: unknown): Heuristic {
  if (typeof h !== 'string' || !(HEURISTICS as readonly string[]).includes(h)) {
    fail(ErrorCodes.INVALID_OPTION, `unknown heuristic ${JSON.stringify(h)}; expected one of ${HEURISTICS.join(', ')}`, {
      option: 'heuristic',
    });
  }
  return h as Heuristic;
}

export function checkSelector(selector: unknown): Selector {
  if (selector === undefined) return 'auto';
  if (selector !== 'auto' && selector !== 'sample' && selector !== 'radix' && selector !== 'quickselect') {
    fail(ErrorCodes.INVALID_OPTION, `selector must be auto, sample, radix or quickselect, got ${String(selector)}`, {
      option: 'selector',
    });
  }
  return selector;
}

export function checkSeed(seed: unknown): number {
  if (seed === undefined) return 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    fail(ErrorCodes.INVALID_OPTION, `seed must be an integer, got ${String(seed)}`, { option: 'seed' });
  }
  return seed;
}

/**
 * First position p in [from, to) with idx[p] >= j (idx ascending), or `to`; with idx null,
 * position p is entry p.
 */
export function lowerBound(idx: Uint32Array | null, from: number, to: number, j: number): number {
  if (idx === null) return Math.max(from, Math.min(j, to));
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (idx[mid] < j) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The residual of middle-out-residual, exactly as `heteroBinarize` computes it (see
 * residual.ts and partial-sums.ts): a sign path per entry, float32 scales per scale group,
 * the float32 partial sums of the current depth.
 */
export class ResidualTrack {
  readonly signs: Uint8Array;
  /** Partial sums of the current depth (rounds taken so far), group g's at g << depth. */
  sums: Float64Array;
  depth = 0;

  constructor(
    readonly t: Float32Array,
    readonly groups: number,
    readonly size: number,
  ) {
    this.signs = new Uint8Array(t.length);
    this.sums = depthZero(groups);
  }

  /** Round b of the binarization over the candidates (all have >= b bits): signs B_b and mu_b. */
  step(idx: Uint32Array | null, count: number, b: number): void {
    const { t, signs, sums } = this;
    const mus = new Float64Array(this.groups);
    for (let g = 0; g < this.groups; g++) {
      const ps = lowerBound(idx, 0, count, g * this.size);
      const pe = lowerBound(idx, ps, count, (g + 1) * this.size);
      const at = g << (b - 1);
      let sum = 0;
      for (let p = ps; p < pe; p++) {
        const j = idx === null ? p : idx[p];
        const s = signs[j];
        const e = t[j] - sums[at + s];
        signs[j] = s | (isNegative(e) << (b - 1));
        sum += Math.abs(e);
      }
      mus[g] = scaleOf(sum, pe - ps);
    }
    this.sums = nextDepth(sums, b - 1, mus);
    this.depth = b;
  }
}

/**
 * The rounds Algorithm 1 runs for `counts` (counts[b - 1] per bitwidth b, some nonzero):
 * `last` is the widest bitwidth used, which takes all that remain; `lastSelection` the last
 * round that selects (0: every entry gets `last`, no selection at all).
 */
export function selectionRounds(counts: readonly number[]): { last: number; lastSelection: number } {
  let last = counts.length;
  while (counts[last - 1] === 0) last--;
  let lastSelection = last - 1;
  while (lastSelection > 0 && counts[lastSelection - 1] === 0) lastSelection--;
  return { last, lastSelection };
}
