/**
 * Non-negative weighted least squares for the synthesis fits (calibrate.ts, stage-area.ts):
 * the fit of a linear cost model's coefficients (≥ 0) to synthesized figures, weighted by 1/y²
 * so that it minimizes the relative error, and that error.
 */
import { fail, ErrorCodes } from '../../errors.js';

/** Solves the normal equations A x = b (Gaussian elimination with pivoting); undefined if singular. */
function solve(a: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (Math.abs(m[p]![c]!) < 1e-12) return undefined;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

/**
 * Non-negative least squares min Σ_i w_i (X_i·c − y_i)², c ≥ 0, with weights w_i = 1/y_i²
 * (relative error): the best of the unconstrained solutions over every subset of columns
 * whose solution is non-negative. Columns at most ~10.
 */
export function fitNonNegative(x: readonly (readonly number[])[], y: readonly number[]): number[] {
  const n = x[0]?.length ?? 0;
  if (n === 0 || x.length !== y.length) fail(ErrorCodes.INTERNAL, 'fitNonNegative: empty or mismatched data');
  const w = y.map((v) => (v !== 0 ? 1 / (v * v) : 0));
  let best: { c: number[]; err: number } | undefined;
  for (let mask = 1; mask < 1 << n; mask++) {
    const cols = [...Array(n).keys()].filter((j) => (mask >> j) & 1);
    const ata = cols.map((j) => cols.map((k) => x.reduce((s, row, i) => s + w[i]! * row[j]! * row[k]!, 0)));
    const atb = cols.map((j) => x.reduce((s, row, i) => s + w[i]! * row[j]! * y[i]!, 0));
    const sol = solve(ata, atb);
    if (!sol || sol.some((v) => v < 0 || !Number.isFinite(v))) continue;
    const c = new Array<number>(n).fill(0);
    cols.forEach((j, i) => (c[j] = sol[i]!));
    const err = x.reduce((s, row, i) => s + w[i]! * (row.reduce((t, v, j) => t + v * c[j]!, 0) - y[i]!) ** 2, 0);
    if (!best || err < best.err - 1e-15) best = { c, err };
  }
  return best ? best.c : new Array<number>(n).fill(0);
}

/** Mean absolute relative error |pred − actual| / actual over pairs (a fraction). */
export function meanAbsRelError(pred: readonly number[], actual: readonly number[]): number {
  if (pred.length === 0) return 0;
  return pred.reduce((s, p, i) => s + Math.abs(p - actual[i]!) / actual[i]!, 0) / pred.length;
}
