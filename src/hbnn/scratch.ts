/**
 * Reusable buffers for the internal lists of `makeBitMap` and `heteroBinarize`. Allocating
 * (and first touching) fresh multi-megabyte lists on every call costs more than the work done
 * in them, and training recomputes bit maps every step. Each buffer grows to the largest size
 * asked for; `releaseScratch` lets them go. The functions that use them are synchronous and
 * never nested, and each buffer has one user at a time, so one of each is enough.
 */
let indexBuffer = new Uint32Array(0);
let indexBufferB = new Uint32Array(0);
let pairKeys = new Uint32Array(0);
let pairIndices = new Uint32Array(0);
let histogram: Uint32Array | undefined;

/** Buffers that replace the four above while a WebAssembly workspace is bound (wasm-kernels.ts). */
export interface ScratchOverride {
  indices: Uint32Array;
  indicesB: Uint32Array;
  keys: Uint32Array;
  pairIndices: Uint32Array;
}
let override: ScratchOverride | null = null;

/**
 * Makes the scratch functions hand out `o`'s buffers (views of the kernels' memory, so that the
 * kernels work on the lists in place) for requests they hold, until called with null.
 */
export function setScratchOverride(o: ScratchOverride | null): void {
  override = o;
}

/** A Uint32Array of at least n entries with unspecified contents, valid until the next call. */
export function scratchIndices(n: number): Uint32Array {
  if (override !== null && override.indices.length >= n) return override.indices;
  if (indexBuffer.length < n) indexBuffer = new Uint32Array(n);
  return indexBuffer;
}

/**
 * A second index buffer (same contract as `scratchIndices`): `binarizeWithBitMap` hands the
 * bit map's list after round 1 (the entries with M >= 2) to the binarization in it.
 */
export function scratchIndicesB(n: number): Uint32Array {
  if (override !== null && override.indicesB.length >= n) return override.indicesB;
  if (indexBufferB.length < n) indexBufferB = new Uint32Array(n);
  return indexBufferB;
}

/** Parallel key and index arrays of at least n entries (unspecified contents). */
export function scratchPairs(n: number): [Uint32Array, Uint32Array] {
  if (override !== null && override.keys.length >= n) return [override.keys, override.pairIndices];
  if (pairKeys.length < n) {
    const size = Math.max(n, Math.ceil(pairKeys.length * 1.5));
    pairKeys = new Uint32Array(size);
    pairIndices = new Uint32Array(size);
  }
  return [pairKeys, pairIndices];
}

/** 65,536 counters for the high 16 bits of a key (unspecified contents). */
export function scratchHistogram(): Uint32Array {
  histogram ??= new Uint32Array(65536);
  return histogram;
}

/** Frees the internal scratch buffers (they are reallocated on demand). */
export function releaseScratch(): void {
  indexBuffer = new Uint32Array(0);
  indexBufferB = new Uint32Array(0);
  pairKeys = new Uint32Array(0);
  pairIndices = new Uint32Array(0);
  histogram = undefined;
}
