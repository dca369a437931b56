/**
 * mulberry32 is defined once (src/hbnn/prng.ts): the trainer's checkpointed generator, the
 * datasets' shuffle and the synthetic HLS test vectors draw the same stream from it, and a
 * generator resumed from its `state` continues the stream exactly.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/hbnn/prng.js';
import { TrainRng } from '../../src/train/rng.js';
import { shuffledIndices } from '../../src/data/dataset.js';
import { syntheticSamples } from '../../src/backends/vivado-hls/vectors.js';

describe('one mulberry32', () => {
  it('resumes from its state: the continuation equals the uninterrupted stream', () => {
    const a = mulberry32(12345);
    const whole = Array.from({ length: 20 }, () => a.nextUint32());
    const b = mulberry32(12345);
    for (let i = 0; i < 7; i++) b.nextUint32();
    const c = mulberry32(b.state);
    expect(Array.from({ length: 13 }, () => c.nextUint32())).toEqual(whole.slice(7));
    expect(new Set(whole).size).toBe(20);
  });

  it('TrainRng is mulberry32 with a settable state (checkpoint resume)', () => {
    const t = new TrainRng(99);
    const m = mulberry32(99);
    const first = Array.from({ length: 5 }, () => t.next());
    expect(first).toEqual(Array.from({ length: 5 }, () => m.next()));
    const saved = t.state;
    const more = Array.from({ length: 5 }, () => t.next());
    t.state = saved;
    expect(Array.from({ length: 5 }, () => t.next())).toEqual(more);
  });

  it('shuffledIndices and syntheticSamples draw from the same stream', () => {
    const r = mulberry32(7);
    const ref = Int32Array.from({ length: 10 }, (_, i) => i);
    for (let i = 9; i > 0; i--) {
      const j = Math.floor(r.next() * (i + 1));
      [ref[i], ref[j]] = [ref[j]!, ref[i]!];
    }
    expect(shuffledIndices(10, 7)).toEqual(ref);
    const s = mulberry32(3);
    expect(syntheticSamples(4, 2, 3)).toEqual(Float32Array.from({ length: 8 }, () => s.next() * 4 - 2));
  });
});
