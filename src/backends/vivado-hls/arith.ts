/**
 * The integer arithmetic a matrix-vector-threshold unit implements, derived from the bit-level
 * IR's (docs/backend-vivado-hls.md, "Accumulator forms" and "Combining planes").
 *
 * 1. Accumulator forms. The IR defines, per term (weight plane w × activation plane a) and row,
 *    acc = Σ_j m_j·(sign_w[j] XNOR sign_a[j] ? +1 : −1), m_j = mask_w[j] ∧ mask_a[j]: on packed
 *    words 2·popcount(~(Ws ^ As) & Wm & Am) − popcount(Wm & Am), two popcounts per lane when
 *    the plane has a mask. Where the input type says more about activation plane a, one popcount
 *    X and a per-row constant suffice (exactly the same integer):
 *    - `bipolar`: every level of the input has plane a (and a convolution has no padding, which
 *      reads all-zero masks): Am = 1, so acc = 2·X − popcount(Wm_row),
 *      X = popcount(~(Ws ^ As) & Wm);
 *    - `unipolar`: a present plane a is always +1 (sign bit = mask bit in every level, e.g. a
 *      1-bit activation after ReLU: {0, +s}): with a_j ∈ {0, 1} and the ternary plane weight
 *      t_j, a_j·t_j = (t_j + (2a_j − 1)·t_j)/2, and Σ_j (2a_j − 1)·t_j is a masked xnor count,
 *      so acc = X + popcount(Ws_row) − popcount(Wm_row), X = popcount(~(Ws ^ Am) & Wm);
 *    - `direct`: the IR's formula (data-dependent masks, fixed-point inputs or weights).
 *    So acc_t = α_t·X_t + β_t[row] (α = 2, 1, 1; β = 0 for `direct`).
 * 2. The unit's sum S = Σ_t M_t[row]·acc_t (+ bias) becomes S' = Σ_t K_t[row]·X_t with
 *    K_t = M_t·α_t; the offset O[row] = Σ_t M_t[row]·β_t[row] moves into the thresholds
 *    (S ≥ θ ⇔ S' ≥ θ − O) or the requantize bias (bias + O). For thresholds a common factor g
 *    of every K is divided out (g·S'' ≥ θ' ⇔ S'' ≥ ⌈θ'/g⌉). Every decision and every output is
 *    the IR's, bit for bit; the C simulation also checks the accumulators, rebuilt as α·X + β.
 */
import type { BinaryType, BinaryWeight, ConvOp, FixedType, MatVecOp } from '../../bitir/types.js';
import { popcount32 } from '../../bitir/lower.js';
import type { TermForm, TermFormKind, UnitActivation, UnitArith, UnitTerm } from './types.js';
import { signedBits } from '../../bitir/fixed.js';

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

function rowCounts(words: Uint32Array, rows: number, wpr: number): number[] {
  const out = new Array<number>(rows).fill(0);
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (let i = 0; i < wpr; i++) c += popcount32(words[r * wpr + i]!);
    out[r] = c;
  }
  return out;
}

/** Which form term (w, a) takes: decided by the input type's levels and the convolution's padding. */
export function termFormKind(term: UnitTerm, input: FixedType | BinaryType, weightKind: 'binary' | 'fixed', padded: boolean): TermFormKind {
  if (term.w === 0 || term.a === 0 || weightKind !== 'binary' || input.kind !== 'binary') return 'direct';
  const bit = 1 << (term.a - 1);
  const levels = input.levels;
  if (levels.length > 0 && levels.every((l) => (l.signs & bit) === (l.mask & bit))) return 'unipolar';
  if (!padded && levels.length > 0 && levels.every((l) => (l.mask & bit) !== 0)) return 'bipolar';
  return 'direct';
}

/** The accumulator forms, offsets and hardware constants of a unit. */
export function unitArith(
  op: ConvOp | MatVecOp,
  weight: BinaryWeight | { kind: 'fixed'; rows: number; cols: number },
  input: FixedType | BinaryType,
  terms: readonly UnitTerm[],
  accBits: number,
  activation: UnitActivation,
): UnitArith {
  const rows = weight.rows;
  const mw = weight.cols;
  const padded = op.op === 'conv' && op.pads.some((p) => p !== 0);
  const forms: TermForm[] = terms.map((t) => {
    const kind = termFormKind(t, input, weight.kind, padded);
    if (kind === 'direct' || weight.kind !== 'binary') return { kind: 'direct', alpha: 1 };
    const plane = weight.planes[t.w - 1]!;
    const m = rowCounts(plane.mask, rows, weight.wordsPerRow);
    if (kind === 'bipolar') return { kind, alpha: 2, beta: m.map((c) => -c) };
    const s = rowCounts(plane.signs, rows, weight.wordsPerRow);
    return { kind, alpha: 1, beta: s.map((c, r) => c - m[r]!) };
  });
  // Largest |X_t|: a count of at most MW lanes, or the IR's accumulator.
  const xMax = forms.map((f) => (f.kind === 'direct' ? 2 ** (accBits - 1) : mw));
  const xBits = Math.max(...forms.map((f, t) => (f.kind === 'direct' ? accBits : signedBits([xMax[t]!]))));
  const mult = activation.multipliers;
  let k = terms.map((_, t) => Array.from({ length: rows }, (_, r) => mult[t]![r]! * forms[t]!.alpha));
  const offset = Array.from({ length: rows }, (_, r) => forms.reduce((a, f, t) => a + (f.beta ? mult[t]![r]! * f.beta[r]! : 0), 0));
  let thresholds: number[][] | undefined;
  let bias: number[] | undefined;
  if (activation.kind === 'threshold') {
    let g = 0;
    for (const kt of k) for (const v of kt) g = gcd(g, v);
    if (g === 0) g = 1;
    k = k.map((kt) => kt.map((v) => v / g));
    thresholds = activation.thresholds.map((th, r) => th.map((v) => Math.ceil((v - offset[r]!) / g)));
  } else {
    bias = activation.bias.map((b, r) => b + offset[r]!);
  }
  let bound = 0;
  for (let r = 0; r < rows; r++) {
    let b = 0;
    for (let t = 0; t < terms.length; t++) b += Math.abs(k[t]![r]!) * xMax[t]!;
    bound = Math.max(bound, b);
  }
  const kConst = k.map((kt) => kt.every((v) => v === kt[0]));
  const kBits = k.map((kt) => signedBits(kt));
  const trivial = terms.length === 1 && k[0]!.every((v) => v === 1);
  const base: Omit<UnitArith, 'sumBits'> = { forms, xBits, k, kConst, kBits, trivial };
  if (thresholds) {
    const sumBits = signedBits([bound, -bound]);
    const thrBits = Math.max(signedBits(thresholds.flat()), sumBits) + 1;
    return { ...base, sumBits, thresholds, thrBits };
  }
  const bmax = Math.max(0, ...bias!.map((b) => Math.abs(b)));
  return { ...base, sumBits: signedBits([bound + bmax, -(bound + bmax)]), bias: bias! };
}

/**
 * Combiners of a unit: how many rows are combined (S', thresholds or requantization) per cycle.
 * One per PE when the sum is trivial or a row fold is one cycle; otherwise the plane
 * accumulators of a finished row fold are held and combined during the next row fold by C
 * shared combiners, C the smallest divisor of PE with PE/C ≤ SF (so they keep up at II=1).
 */
export function combinerCount(pe: number, sf: number, trivial: boolean): number {
  if (trivial || sf < 2) return pe;
  for (let c = 1; c <= pe; c++) if (pe % c === 0 && pe / c <= sf) return c;
  return pe;
}

/** Whether a constant multiplier is free in logic (0 or a power of two: a shift). */
export function isShift(v: number): boolean {
  return v === 0 || (v > 0 && Number.isInteger(Math.log2(v)));
}
