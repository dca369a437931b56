/**
 * The training run's random numbers: one 32-bit state (mulberry32), so a checkpoint stores
 * it as a single integer and a resumed run draws exactly what the uninterrupted run would.
 * Used for Dropout masks; batch order comes from `shuffledIndices(count, epochSeed(seed, e))`.
 */
import { mulberry32, type StatefulRng } from '../hbnn/prng.js';

export class TrainRng {
  private rng: StatefulRng;

  constructor(state: number) {
    this.rng = mulberry32(state);
  }

  /** The generator's 32-bit state (what a checkpoint stores); setting it resumes from there. */
  get state(): number {
    return this.rng.state;
  }

  set state(s: number) {
    this.rng = mulberry32(s);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.rng.next();
  }
}

/** The shuffle seed of epoch `epoch` of a run seeded with `seed`. */
export function epochSeed(seed: number, epoch: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  return h >>> 0;
}
