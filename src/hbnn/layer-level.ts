/**
 * The layer-level baseline of the paper's section 4.2: every parameter of a layer gets the
 * same integer bitwidth, and the mix of layer bitwidths sets the model's average.
 *
 * Given the layers' parameter counts n_l and a target average B, choose b_l in 1..maxBits
 * minimizing, in this order:
 *
 *   1. |S - B * P|, where S = sum n_l b_l and P = sum n_l (the distance to the target total);
 *   2. S itself (of two totals equally far from the target, the one with fewer bits);
 *   3. Q = sum n_l b_l^2 (the most uniform assignment, e.g. all layers at 2 bits for B = 2
 *      rather than a 1/3-bit mix);
 *   4. the bits listed in layer order, compared lexicographically (fewer bits earlier).
 *
 * The search is a depth-first branch and bound over the layers, largest first, started from
 * a greedy solution. A branch is cut when even the best completion of its remaining layers
 * cannot beat the best assignment found (an interval bound on S and a Cauchy-Schwarz bound on
 * Q). It visits at most `LAYER_SEARCH_BUDGET` nodes: models with a few dozen layers finish
 * well inside it and the result is then optimal (`exact: true`); otherwise the best
 * assignment found so far is returned (`exact: false`). Either way the result is deterministic.
 * Layers with no parameters do not affect the average; they get the bitwidth nearest B
 * (a half rounds down).
 */
import { fail, ErrorCodes } from '../errors.js';
import { DEFAULT_MAX_BITS } from './distribution.js';
import { checkMaxBits } from './validate.js';

/** How many search nodes `layerLevelBits` may visit before it returns its best so far. */
export const LAYER_SEARCH_BUDGET = 2_000_000;

/** Bits per layer and what they achieve. */
export interface LayerBits {
  /** bits[l] = bitwidth of layer l, in the order the counts were given. */
  bits: number[];
  /** Achieved parameter-weighted average bitwidth (0 when there are no parameters). */
  avgBits: number;
  /** sum_l n_l * bits[l]. */
  totalBits: number;
  /** The requested average. */
  targetAvgBits: number;
  /** Whether the search finished, so the result is optimal for the stated objective. */
  exact: boolean;
}

interface Candidate {
  dist: number;
  total: number;
  squares: number;
  bits: number[];
}

function better(a: Candidate, b: Candidate | undefined): boolean {
  if (b === undefined) return true;
  if (a.dist !== b.dist) return a.dist < b.dist;
  if (a.total !== b.total) return a.total < b.total;
  if (a.squares !== b.squares) return a.squares < b.squares;
  for (let l = 0; l < a.bits.length; l++) if (a.bits[l] !== b.bits[l]) return a.bits[l] < b.bits[l];
  return false;
}

/**
 * Integer bits per layer whose parameter-weighted average is as close as possible to
 * `avgBits` (see the module comment for the exact objective and search).
 */
export function layerLevelBits(paramCounts: readonly number[], avgBits: number, maxBits: number = DEFAULT_MAX_BITS): LayerBits {
  checkMaxBits(maxBits);
  if (!Array.isArray(paramCounts) || paramCounts.length === 0) {
    fail(ErrorCodes.INVALID_OPTION, 'layer-level bits need the parameter count of at least one layer', { option: 'paramCounts' });
  }
  paramCounts.forEach((c, l) => {
    if (!Number.isSafeInteger(c) || c < 0) {
      fail(ErrorCodes.INVALID_OPTION, `parameter count of layer ${l} must be a non-negative integer, got ${String(c)}`, {
        option: 'paramCounts',
      });
    }
  });
  if (typeof avgBits !== 'number' || !Number.isFinite(avgBits) || avgBits < 1 || avgBits > maxBits) {
    fail(ErrorCodes.INVALID_OPTION, `avgBits must be a number from 1 to maxBits = ${maxBits}, got ${String(avgBits)}`, {
      option: 'avgBits',
    });
  }
  const layers = paramCounts.length;
  const nearest = Math.min(maxBits, Math.max(1, Math.ceil(avgBits - 0.5)));
  const bits = new Array<number>(layers).fill(nearest);
  // Layers in search order: largest first, ties by index; empty layers are left at `nearest`.
  const order = paramCounts
    .map((_, l) => l)
    .filter((l) => paramCounts[l] > 0)
    .sort((a, b) => paramCounts[b] - paramCounts[a] || a - b);
  const params = paramCounts.reduce((a, c) => a + c, 0);
  const target = avgBits * params;

  // Suffix sums over the search order: the parameters of the layers not yet decided.
  const restParams = new Array<number>(order.length + 1).fill(0);
  for (let r = order.length - 1; r >= 0; r--) restParams[r] = restParams[r + 1] + paramCounts[order[r]];

  // Greedy start: everything at floor(B), then upgrade the largest layers that still fit.
  const floorBits = Math.min(maxBits, Math.floor(avgBits));
  for (const l of order) bits[l] = floorBits;
  let total = floorBits * params;
  if (floorBits < maxBits) {
    for (const l of order) {
      if (total + paramCounts[l] <= target) {
        bits[l]++;
        total += paramCounts[l];
      }
    }
  }
  const candidate = (b: number[]): Candidate => {
    let s = 0;
    let q = 0;
    for (let l = 0; l < layers; l++) {
      s += paramCounts[l] * b[l];
      q += paramCounts[l] * b[l] * b[l];
    }
    return { dist: Math.abs(s - target), total: s, squares: q, bits: b.slice() };
  };
  let best = candidate(bits);

  // Values to try for a layer: nearest to B first, so uniform solutions are found early.
  const tryOrder: number[] = [];
  for (let b = 1; b <= maxBits; b++) tryOrder.push(b);
  tryOrder.sort((a, b) => Math.abs(a - avgBits) - Math.abs(b - avgBits) || a - b);

  let nodes = 0;
  let exhausted = false;
  const current = bits.slice();
  const search = (r: number, s: number, q: number): void => {
    if (exhausted) return;
    if (++nodes > LAYER_SEARCH_BUDGET) {
      exhausted = true;
      return;
    }
    const rest = restParams[r];
    // Interval bound on the final total, and the distance it implies.
    const lo = s + rest;
    const hi = s + maxBits * rest;
    const minDist = target < lo ? lo - target : target > hi ? target - hi : 0;
    if (minDist > best.dist) return;
    if (rest > 0) {
      // Any total that could still win lies within best.dist of the target; for such a total
      // the remaining layers add at least (their share)^2 / rest to Q (Cauchy-Schwarz).
      const need = Math.max(rest, target - s - best.dist);
      if (minDist === best.dist && q + (need * need) / rest > best.squares) return;
    }
    if (r === order.length) {
      const c: Candidate = { dist: Math.abs(s - target), total: s, squares: q, bits: current };
      if (better(c, best)) best = { ...c, bits: current.slice() };
      return;
    }
    const l = order[r];
    const n = paramCounts[l];
    for (const b of tryOrder) {
      current[l] = b;
      search(r + 1, s + n * b, q + n * b * b);
    }
    current[l] = bits[l];
  };
  search(0, 0, 0);

  return {
    bits: best.bits,
    avgBits: params === 0 ? 0 : best.total / params,
    totalBits: best.total,
    targetAvgBits: avgBits,
    exact: !exhausted,
  };
}
