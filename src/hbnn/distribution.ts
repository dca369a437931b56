/**
 * Bitwidth distributions: the default rule DistFromAvg, explicit distributions, and exact
 * integer counts for a tensor of N entries.
 *
 * A distribution is an array `dist` where dist[b - 1] is the fraction of entries with b bits
 * (b = 1..maxBits). Its mean sum_b b * dist[b - 1] is the average bitwidth.
 */
import { fail, ErrorCodes } from '../errors.js';
import { checkAvgBits, checkMaxBits, MAX_SUPPORTED_BITS } from './validate.js';

/** The bitwidth bound used when none is given (the paper searches 1, 2 and 3 bits). */
export const DEFAULT_MAX_BITS = 3;

/** How far an explicit distribution's sum (from 1) and mean (from avgBits) may be off. */
export const DIST_TOLERANCE = 1e-6;

/** A float for a message: 12 significant digits, so 0.7 + 0.2 + 0.2 reads 1.1. */
function tidy(x: number): number {
  return Number(x.toPrecision(12));
}

/** Average bitwidth of a distribution: sum_b b * dist[b - 1]. */
export function distributionMean(dist: ArrayLike<number>): number {
  let m = 0;
  for (let b = 1; b <= dist.length; b++) m += b * dist[b - 1];
  return m;
}

/**
 * The default distribution for an average bitwidth (see docs/method.md, "DistFromAvg").
 *
 * Write avgBits = k + x with k = floor(avgBits) and 0 <= x < 1. The result is the two-width
 * mix (1 - x) at k bits and x at k + 1 bits, plus a "spread" s = min(x, 1 - x) / 4 that moves
 * s of the entries from k + 1 down to k and s from k + 1 up to k + 2 (which keeps the mean):
 *
 *     p_k = 1 - x + s,   p_{k+1} = x - 2s,   p_{k+2} = s
 *
 * This gives the paper's examples exactly (1.4 -> 70/20/10, 1.2 -> 85/10/5), integer averages
 * are homogeneous, the fractions are continuous in avgBits and never negative. When k + 2
 * would exceed maxBits there is no room to spread and the plain two-width mix is used.
 */
export function distFromAvg(avgBits: number, maxBits: number = DEFAULT_MAX_BITS): number[] {
  checkMaxBits(maxBits);
  const avg = checkAvgBits(avgBits, maxBits);
  const dist = new Array<number>(maxBits).fill(0);
  const k = Math.floor(avg);
  const x = avg - k;
  if (k >= maxBits || x === 0) {
    dist[Math.min(k, maxBits) - 1] = 1;
  } else if (k + 2 <= maxBits) {
    const s = Math.min(x, 1 - x) / 4;
    dist[k - 1] = 1 - x + s;
    dist[k] = x - 2 * s;
    dist[k + 1] = s;
  } else {
    dist[k - 1] = 1 - x;
    dist[k] = x;
  }
  return dist;
}

/**
 * Validates an explicit distribution (finite, non-negative fractions summing to 1 within
 * DIST_TOLERANCE, at most 8 widths) and returns it normalized to sum exactly 1 in float64.
 */
export function validateDistribution(dist: ArrayLike<number>, option = 'dist'): number[] {
  if (dist === null || typeof dist !== 'object' || typeof dist.length !== 'number') {
    fail(ErrorCodes.INVALID_OPTION, `${option} must be an array of fractions for 1, 2, ... bits`, { option });
  }
  if (dist.length < 1 || dist.length > MAX_SUPPORTED_BITS) {
    fail(ErrorCodes.INVALID_OPTION, `${option} must list fractions for 1 to ${MAX_SUPPORTED_BITS} bitwidths, got ${dist.length}`, {
      option,
    });
  }
  let sum = 0;
  for (let i = 0; i < dist.length; i++) {
    const p = dist[i];
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) {
      fail(ErrorCodes.INVALID_OPTION, `${option}[${i}] (the ${i + 1}-bit fraction) must be a finite non-negative number, got ${String(p)}`, {
        option,
      });
    }
    sum += p;
  }
  if (Math.abs(sum - 1) > DIST_TOLERANCE) {
    fail(ErrorCodes.INVALID_OPTION, `${option} sums to ${tidy(sum)}, expected 1 (within ${DIST_TOLERANCE})`, { option });
  }
  return Array.from(dist, (p) => p / sum);
}

/** What `resolveDistribution` accepts: an average, an explicit distribution, or both (they must agree). */
export interface DistributionSpec {
  /** Target average bitwidth in [1, maxBits]. */
  avgBits?: number;
  /** Explicit fractions for 1, 2, ... bits; must sum to 1 and, with avgBits, have mean avgBits. */
  dist?: ArrayLike<number>;
  /** Largest bitwidth (1..8); default 3, or dist.length when only dist is given. */
  maxBits?: number;
}

/** A validated distribution. */
export interface ResolvedDistribution {
  /** dist[b - 1] = fraction of entries at b bits; length maxBits; sums to 1. */
  dist: number[];
  /** The distribution's mean bitwidth. */
  avgBits: number;
  /** Largest bitwidth the distribution may use. */
  maxBits: number;
}

/**
 * Turns `{ avgBits }` (via distFromAvg), `{ dist }` or both into a validated distribution;
 * INVALID_OPTION on a bad or inconsistent spec.
 */
export function resolveDistribution(spec: DistributionSpec): ResolvedDistribution {
  const { avgBits, dist } = spec;
  if (dist === undefined) {
    if (avgBits === undefined) {
      fail(ErrorCodes.INVALID_OPTION, 'give an average bitwidth (avgBits) or an explicit distribution (dist)', {
        option: 'avgBits',
      });
    }
    const maxBits = checkMaxBits(spec.maxBits ?? DEFAULT_MAX_BITS);
    const d = distFromAvg(avgBits, maxBits);
    return { dist: d, avgBits: distributionMean(d), maxBits };
  }
  const normalized = validateDistribution(dist);
  const maxBits = checkMaxBits(spec.maxBits ?? normalized.length);
  for (let b = maxBits + 1; b <= normalized.length; b++) {
    if (normalized[b - 1] > 0) {
      fail(ErrorCodes.INVALID_OPTION, `dist gives ${b}-bit entries a fraction of ${dist[b - 1]} but maxBits is ${maxBits}`, {
        option: 'dist',
      });
    }
  }
  const d = new Array<number>(maxBits).fill(0);
  for (let b = 1; b <= Math.min(maxBits, normalized.length); b++) d[b - 1] = normalized[b - 1];
  const mean = distributionMean(d);
  if (avgBits !== undefined) {
    if (typeof avgBits !== 'number' || !Number.isFinite(avgBits) || Math.abs(mean - avgBits) > DIST_TOLERANCE) {
      fail(ErrorCodes.INVALID_OPTION, `dist has a mean of ${tidy(mean)} bits but avgBits is ${String(avgBits)}`, {
        option: 'avgBits',
      });
    }
  }
  return { dist: d, avgBits: mean, maxBits };
}

/** Integer bitwidth counts for a tensor of n entries. */
export interface BitCounts {
  /** counts[b - 1] = number of entries at b bits; sums to n. */
  counts: number[];
  /** Number of entries. */
  n: number;
  /** sum_b b * counts[b - 1]. */
  totalBits: number;
  /** The achieved average, totalBits / n (0 for n = 0). */
  avgBits: number;
}

/**
 * Integer counts per bitwidth that sum to n exactly (see docs/method.md, "Exact counts"):
 *
 * 1. Largest remainder: each width gets floor(p_b * n); the entries left over go one each to
 *    the widths with the largest remainders, ties to fewer bits.
 * 2. Average fix-up: the target total is round(avg * n) bits (a half rounds down). While the
 *    total differs, move one entry between two widths the distribution uses, choosing the move
 *    that brings the total closest to the target, then the one that keeps the counts closest to
 *    p_b * n (least squares), then the first in (from, to) ascending order. With contiguous
 *    widths (always the case for distFromAvg) this reaches the target total exactly, so
 *    |achieved - target avg| <= 1 / (2n).
 *
 * Only widths with p_b > 0 ever get entries. Float noise below 1e-9 (+1e-12 * n) is ignored
 * when comparing remainders and totals, so 0.1 * 10 counts as exactly 1.
 */
export function countsFromDistribution(dist: ArrayLike<number>, n: number): BitCounts {
  if (!Number.isInteger(n) || n < 0) {
    fail(ErrorCodes.INVALID_OPTION, `the entry count must be a non-negative integer, got ${String(n)}`, { option: 'n' });
  }
  const p = validateDistribution(dist);
  const k = p.length;
  const eps = 1e-9 + n * 1e-12;
  const quota = p.map((pb) => pb * n);
  const counts = quota.map((q) => Math.floor(q + eps));
  const support: number[] = [];
  for (let b = 1; b <= k; b++) if (p[b - 1] > 0) support.push(b);

  // 1. Largest remainder, ties to fewer bits.
  let left = n - counts.reduce((a, c) => a + c, 0);
  const byRemainder = support.slice().sort((a, b) => {
    const ra = quota[a - 1] - counts[a - 1];
    const rb = quota[b - 1] - counts[b - 1];
    return Math.abs(ra - rb) <= eps ? a - b : rb - ra;
  });
  for (let r = 0; left > 0; r = (r + 1) % byRemainder.length, left--) counts[byRemainder[r] - 1]++;

  // 2. Bring the total number of bits to round(avg * n), a half rounding down.
  const exactTotal = distributionMean(p) * n;
  const floorTotal = Math.floor(exactTotal + eps);
  const lo = support[0] * n;
  const hi = support[support.length - 1] * n;
  const target = Math.min(hi, Math.max(lo, exactTotal - floorTotal > 0.5 + eps ? floorTotal + 1 : floorTotal));
  let total = 0;
  for (let b = 1; b <= k; b++) total += b * counts[b - 1];

  for (;;) {
    const miss = Math.abs(total - target);
    if (miss === 0) break;
    let best: { from: number; to: number; miss: number; cost: number } | undefined;
    for (const from of support) {
      if (counts[from - 1] === 0) continue;
      for (const to of support) {
        if (to === from) continue;
        const m = Math.abs(total + to - from - target);
        if (m >= miss) continue;
        // Change in sum_b (counts_b - quota_b)^2 when one entry moves from `from` to `to`.
        const cost = 2 * (counts[to - 1] - quota[to - 1]) - 2 * (counts[from - 1] - quota[from - 1]) + 2;
        if (best === undefined || m < best.miss || (m === best.miss && cost < best.cost - eps)) {
          best = { from, to, miss: m, cost };
        }
      }
    }
    if (best === undefined) break;
    counts[best.from - 1]--;
    counts[best.to - 1]++;
    total += best.to - best.from;
  }
  return { counts, n, totalBits: total, avgBits: n === 0 ? 0 : total / n };
}
