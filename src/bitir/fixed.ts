/**
 * Fixed-point helpers shared by the lowering, the interpreter and the error analysis.
 * Every rounding in the IR is `roundHalfUp`; every width is a two's complement width.
 */

/** round(v) = floor(v + 1/2): the IR's one rounding rule. */
export function roundHalfUp(v: number): number {
  return Math.floor(v + 0.5);
}

/** The smallest two's complement width holding every integer in [-bound, bound]. */
export function signedBitsFor(bound: number): number {
  let bits = 1;
  while (2 ** (bits - 1) - 1 < bound) bits++;
  return bits;
}

/** The smallest two's complement width holding every value. */
export function signedBits(values: Iterable<number>): number {
  let m = 0;
  for (const v of values) m = Math.max(m, v < 0 ? -v - 1 : v);
  return signedBitsFor(m);
}

/** Saturates q to `bits` (two's complement). */
export function saturate(q: number, bits: number): number {
  const hi = 2 ** (bits - 1) - 1;
  const lo = -(2 ** (bits - 1));
  return q > hi ? hi : q < lo ? lo : q;
}

/**
 * The largest shift R in [min, max] such that round(maxAbs · 2^R) < 2^(multiplierBits-1):
 * the multiplier of the largest real scale then uses the full multiplier width.
 */
export function chooseShift(maxAbs: number, multiplierBits: number, min = 1, max = 62): number {
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return min;
  const limit = 2 ** (multiplierBits - 1);
  let r = Math.floor(Math.log2((limit - 0.5) / maxAbs));
  while (r > min && roundHalfUp(maxAbs * 2 ** r) >= limit) r--;
  while (r < max && roundHalfUp(maxAbs * 2 ** (r + 1)) < limit) r++;
  return Math.max(min, Math.min(max, r));
}

/** Largest integer magnitude JavaScript numbers hold exactly (2^53). */
export const EXACT_LIMIT = 2 ** 53;

/** Number of set bits of a 32-bit word. */
export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
