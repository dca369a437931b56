/**
 * One reusable index buffer for the internal candidate lists of `makeBitMap` and
 * `heteroBinarize`. Allocating (and first touching) a fresh multi-megabyte list on every
 * call costs more than the work done in it, and training recomputes bit maps every step.
 * The buffer grows to the largest tensor seen; `releaseScratch` lets it go. The functions
 * that use it are synchronous and never nested, so one buffer is enough.
 */
let indexBuffer = new Uint32Array(0);

/** A Uint32Array of at least n entries with unspecified contents, valid until the next call. */
export function scratchIndices(n: number): Uint32Array {
  if (indexBuffer.length < n) indexBuffer = new Uint32Array(n);
  return indexBuffer;
}

/** Frees the internal scratch buffer (it is reallocated on demand). */
export function releaseScratch(): void {
  indexBuffer = new Uint32Array(0);
}
