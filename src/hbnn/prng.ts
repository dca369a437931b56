/**
 * Small seeded pseudo-random generators, written for this module (no dependency):
 * `mulberry32` is a sequential generator for tests and benchmarks; `mix32` is a bijective
 * 32-bit integer hash used to give every tensor index its own random key, so the `random`
 * heuristic needs no sequential state and no shuffle.
 */

/**
 * A bijective mixer on uint32 (xor-shift / multiply rounds; constants from the public
 * "lowbias32" search by C. Wellons). Equal outputs imply equal inputs.
 */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** Two independent 32-bit words derived from a seed, used by `randomKey`. */
export function seedWords(seed: number): [number, number] {
  const s = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return [mix32((s ^ 0x9e3779b9) >>> 0) ^ hi, mix32((s + 0x632be5ab) >>> 0)];
}

/**
 * The random key of index j for a seed's words: mix32(mix32(j ^ a) + b). It is a bijection
 * of j, so keys of distinct indices (j < 2^32) never tie.
 */
export function randomKey(j: number, a: number, b: number): number {
  return mix32((mix32((j ^ a) >>> 0) + b) >>> 0);
}

/** A seeded generator: `next()` returns a float in [0, 1), `nextUint32()` an integer in [0, 2^32). */
export interface Rng {
  next(): number;
  nextUint32(): number;
}

/** A generator whose whole state is one 32-bit integer (a checkpoint stores it; `mulberry32(state)` resumes it). */
export interface StatefulRng extends Rng {
  readonly state: number;
}

/**
 * mulberry32: a 32-bit state generator, fast and good enough for test data. The one
 * definition of it: datasets' shuffles, the trainer's Dropout masks, zoo weights and
 * synthetic test vectors all draw from it.
 */
export function mulberry32(seed: number): StatefulRng {
  let state = seed >>> 0;
  const nextUint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  };
  return {
    nextUint32,
    next: () => nextUint32() / 4294967296,
    get state(): number {
      return state;
    },
  };
}
