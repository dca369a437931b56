/**
 * The activation binarizer `ai.hbnn::BinarizeActivation` as a piecewise-constant function
 * of its input, for the threshold units of the BitIR.
 *
 * `binarizeActivation` evaluates the ONNX function body in float32, op for op (so its
 * decisions and its output equal onnxruntime's); `binarizerPieces` finds the breakpoints
 * where any decision can change and the code on each interval between them.
 */
import type { Level } from './types.js';

export interface BinarizerConstants {
  /** s_1, s_2, s_3 (0 for unused planes). */
  scales: [number, number, number];
  center: number;
  sign: number;
  t1: number;
  t2: number;
}

/** Plane bits of one binarized value: bit k-1 of `signs` = plane k is +1; of `mask` = plane k present. */
export interface BinCode {
  signs: number;
  mask: number;
}

const f32 = Math.fround;

/** The float32 value of a code, summed as the function body does: (y1 + y2) + y3. */
export function codeValue(code: BinCode, scales: readonly number[]): number {
  const term = (k: number): number => {
    const bit = 1 << k;
    if (!(code.mask & bit)) return 0;
    return code.signs & bit ? f32(scales[k]!) : -f32(scales[k]!);
  };
  return f32(f32(term(0) + term(1)) + term(2));
}

/** The ONNX function body in float32: the code and the output y for input x. */
export function binarizeActivation(xIn: number, c: BinarizerConstants): { code: BinCode; y: number } {
  const x = f32(xIn);
  const [s1, s2, s3] = [f32(c.scales[0]), f32(c.scales[1]), f32(c.scales[2])];
  const k = f32(Math.abs(f32(Math.abs(x) - f32(c.center))) * f32(c.sign));
  const g1 = k >= f32(c.t1);
  const g2 = k >= f32(c.t2);
  const b1 = x >= 0 ? 1 : -1;
  const y1 = f32(b1 * s1);
  const e1 = f32(x - y1);
  const b2 = e1 >= 0 ? 1 : -1;
  const y2 = g1 ? f32(b2 * s2) : 0;
  const e2 = f32(e1 - y2);
  const b3 = e2 >= 0 ? 1 : -1;
  const y3 = g2 ? f32(b3 * s3) : 0;
  const y = f32(f32(y1 + y2) + y3);
  let signs = 0;
  let mask = 0;
  const put = (present: boolean, scale: number, b: number, k: number): void => {
    if (!present || scale === 0) return;
    mask |= 1 << k;
    if (b > 0) signs |= 1 << k;
  };
  put(true, s1, b1, 0);
  put(g1, s2, b2, 1);
  put(g2, s3, b3, 2);
  return { code: { signs, mask }, y };
}

export interface BinarizerPieces {
  /** Ascending; interval i is [breakpoints[i-1], breakpoints[i]) (unbounded at the ends). */
  breakpoints: number[];
  /** Code per interval (length breakpoints + 1); neighbours differ. */
  codes: BinCode[];
}

/** Magnitude beyond which a candidate breakpoint is "never reached" (BIG thresholds are 3e38). */
const FAR = 1e37;

/**
 * The binarizer as breakpoints and codes. Every decision of the function body changes only
 * where x crosses 0, ±s1, ±s1 ± s2 (the residual signs) or ±(center ± t1), ±(center ± t2)
 * (the bit-count bands); the code is evaluated in float32 at a point inside each interval
 * and at each candidate itself (a code that holds at the candidate only becomes the
 * one-point interval [p, nextUp(p))), and equal neighbours are merged.
 */
export function binarizerPieces(c: BinarizerConstants): BinarizerPieces {
  const [s1, s2] = c.scales;
  const raw = [0, s1, -s1, s1 + s2, s1 - s2, -s1 + s2, -s1 - s2];
  for (const t of [c.t1, c.t2]) raw.push(c.center + t, c.center - t, -(c.center + t), -(c.center - t));
  const cands = [...new Set(raw.filter((v) => Number.isFinite(v) && Math.abs(v) < FAR))].sort((a, b) => a - b);
  const reps: number[] = [cands[0]! - Math.max(1, Math.abs(cands[0]!))];
  for (let i = 0; i + 1 < cands.length; i++) reps.push((cands[i]! + cands[i + 1]!) / 2);
  const last = cands[cands.length - 1]!;
  reps.push(last + Math.max(1, Math.abs(last)));
  const codes: BinCode[] = [];
  const breakpoints: number[] = [];
  const push = (start: number | undefined, code: BinCode): void => {
    const prev = codes[codes.length - 1];
    if (prev && prev.signs === code.signs && prev.mask === code.mask) return;
    if (start !== undefined) breakpoints.push(start);
    codes.push(code);
  };
  // Interior points and the candidates themselves: a decision may differ exactly at a
  // candidate (e.g. k = center at x = 0 when center = t1), a one-point interval [p, p⁺)
  // with p⁺ the next float64 above p (an integer S can land on it: ReLU's zeros do).
  reps.forEach((r, i) => {
    if (i > 0) {
      const p = cands[i - 1]!;
      push(p, binarizeActivation(p, c).code);
      push(nextUp(p), binarizeActivation(r, c).code);
    } else push(undefined, binarizeActivation(r, c).code);
  });
  return { breakpoints, codes };
}

/** Levels for a set of codes: unique, ascending by value (ties by mask, then signs). */
export function levelsOf(codes: readonly BinCode[], scales: readonly number[]): Level[] {
  const seen = new Map<string, Level>();
  for (const c of codes) {
    const key = `${c.mask}:${c.signs}`;
    if (!seen.has(key)) seen.set(key, { signs: c.signs, mask: c.mask, value: codeValue(c, scales) });
  }
  return [...seen.values()].sort((a, b) => a.value - b.value || a.mask - b.mask || a.signs - b.signs);
}

export function levelIndex(levels: readonly Level[], c: BinCode): number {
  const i = levels.findIndex((l) => l.mask === c.mask && l.signs === c.signs);
  if (i < 0) throw new Error(`code ${c.mask}:${c.signs} is not a level`);
  return i;
}

/** Number of planes a set of levels uses (highest present plane). */
export function planesUsed(levels: readonly Level[]): number {
  let m = 0;
  for (const l of levels) m |= l.mask;
  return m === 0 ? 0 : 32 - Math.clz32(m);
}

/** The smallest float64 above x (x finite). */
export function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const b = new Float64Array([x]);
  const u = new BigInt64Array(b.buffer);
  u[0] = u[0]! + (x > 0 ? 1n : -1n);
  return b[0]!;
}
