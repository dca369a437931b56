/**
 * The partial-sum tables shared by `heteroBinarize` and the middle-out-residual heuristic.
 *
 * After rounds 1..d an entry's approximation is the sum of mu_i * B_i over i <= d, and with
 * B_i in {+1, -1} it can take only 2^d values per scale group. So each entry keeps a one-byte
 * sign path (bit i-1 set when B_i = -1) and each scale group a small table:
 *
 *     table[base + (1 << d) + p] = partial sum of depth d for sign path p   (0 <= p < 2^d)
 *
 * The sums are float32, accumulated in order i = 1, 2, ...: T_hat is the float32 sequential
 * sum mu_1*B_1 + mu_2*B_2 + ..., exactly what a float32 runtime (e.g. ONNX Runtime) computes
 * from the stored sign planes and scales. Residuals E = T - table[...] are taken in float64.
 */

/** Table entries per scale group for up to nBits rounds (depths 0..nBits, index 0 unused). */
export function tableStride(nBits: number): number {
  return 1 << (nBits + 1);
}

/** Writes the sums of depth d + 1 from those of depth d: path p splits into p (+mu) and p | 2^d (-mu). */
export function extendTable(table: Float64Array, base: number, depth: number, mu: number): void {
  const width = 1 << depth;
  const from = base + width;
  const to = base + 2 * width;
  for (let p = 0; p < width; p++) {
    const prev = table[from + p];
    table[to + p] = Math.fround(prev + mu);
    table[to + width + p] = Math.fround(prev - mu);
  }
}

/** 1 when x < 0, else 0, so sign(0) = sign(-0) = +1; a branch-free compare in the hot loops. */
export function isNegative(x: number): number {
  return ((x < 0) as unknown as number) | 0;
}
