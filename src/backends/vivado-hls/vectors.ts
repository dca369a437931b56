/**
 * Testbench vectors from the bit-level IR interpreter: the quantized inputs in stream order,
 * the classes and logit integers of every sample, and every unit's accumulators for the
 * first samples.
 */
import { interpret } from '../../bitir/interpret.js';
import { mulberry32 } from '../../hbnn/prng.js';
import type { BitProgram } from '../../bitir/types.js';
import { arrivalOrder } from './design.js';
import type { TestVectors } from './emit/testbench.js';
import type { HlsDesign } from './types.js';

/** Deterministic pseudo-random samples in [-2, 2) (mulberry32) when no data is given. */
export function syntheticSamples(perSample: number, count: number, seed = 1): Float32Array {
  const next = mulberry32(seed).next;
  const out = new Float32Array(perSample * count);
  for (let i = 0; i < out.length; i++) out[i] = next() * 4 - 2;
  return out;
}

export function computeVectors(program: BitProgram, design: HlsDesign, images: Float32Array, count: number, accCount: number): TestVectors {
  const per = design.input.entries;
  const data = images.subarray(0, count * per);
  const run = interpret(program, data, { limit: count, capture: [design.input.tensor] });
  const q = run.captured[design.input.tensor]!;
  const order = arrivalOrder(design.input.layout);
  const inputs: Int32Array[] = [];
  const logits: number[][] = [];
  const k = run.classesPerSample;
  for (let s = 0; s < run.samples; s++) {
    const v = new Int32Array(per);
    for (let i = 0; i < per; i++) v[i] = q[s * per + order[i]!]!;
    inputs.push(v);
    logits.push(Array.from(run.logitsQ.subarray(s * k, (s + 1) * k)));
  }
  const m = Math.min(accCount, run.samples);
  const accumulators: number[][][] = Array.from({ length: m }, () => []);
  if (m > 0) {
    // Every unit's accumulators in one run (captured tensors are computed op by op, unfused).
    const accTensor = new Map(program.ops.map((op) => [op.id, op.output]));
    const ids = design.units.map((u) => accTensor.get(u.unitOp) ?? u.unitOp);
    const r = interpret(program, data, { limit: m, capture: ids });
    design.units.forEach((u, i) => {
      const acc = r.captured[ids[i]!]!;
      const n = u.terms.length * u.mh * u.reps;
      for (let s = 0; s < m; s++) accumulators[s]!.push(Array.from(acc.subarray(s * n, (s + 1) * n)));
    });
  }
  return { inputs, classes: Int32Array.from(run.classes), logits, accumulators };
}
