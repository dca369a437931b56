/**
 * Partial sums shared by `heteroBinarize` and the middle-out-residual heuristic.
 *
 * After rounds 1..d an entry's approximation is the sum of mu_i * B_i over i <= d, and with
 * B_i in {+1, -1} it can take only 2^d values per scale group. So each entry keeps a one-byte
 * sign path (bit i-1 set when B_i = -1) and each depth d a small table with 2^d sums per
 * group, group g's at [g << d, (g + 1) << d):
 *
 *     depth_d[(g << d) + p] = the partial sum of depth d for sign path p   (0 <= p < 2^d)
 *
 * The sums are float32, accumulated in order i = 1, 2, ...: T_hat is the float32 sequential
 * sum mu_1*B_1 + mu_2*B_2 + ..., exactly what a float32 runtime (e.g. ONNX Runtime) computes
 * from the stored sign planes and scales. Residuals E = T - depth_d[...] are taken in float64.
 */

/** The depth-0 table: one zero per group. */
export function depthZero(groups: number): Float64Array {
  return new Float64Array(groups);
}

/**
 * The table of depth d + 1 from that of depth d and each group's scale mu_{d+1}: path p
 * splits into p (B = +1: + mu) and p | 2^d (B = -1: - mu).
 */
export function nextDepth(prev: Float64Array, depth: number, mus: ArrayLike<number>): Float64Array {
  const groups = mus.length;
  const width = 1 << depth;
  const next = new Float64Array(groups << (depth + 1));
  for (let g = 0; g < groups; g++) {
    const from = g << depth;
    const to = g << (depth + 1);
    const mu = mus[g];
    for (let p = 0; p < width; p++) {
      next[to + p] = Math.fround(prev[from + p] + mu);
      next[to + width + p] = Math.fround(prev[from + p] - mu);
    }
  }
  return next;
}

/** mean = sum / count rounded to float32, 0 for an empty set. */
export function scaleOf(sum: number, count: number): number {
  return count > 0 ? Math.fround(sum / count) : 0;
}

/** 1 when x < 0, else 0, so sign(0) = sign(-0) = +1; a branch-free compare in the hot loops. */
export function isNegative(x: number): number {
  return ((x < 0) as unknown as number) | 0;
}
