/** Number formatting shared by the Markdown and HTML renderers. */
import { formatFixed } from '../../util/numbers.js';

/** Fixed decimals, with thousands separators (the toolkit's one number formatter). */
export const fixed = formatFixed;

export const mm2 = (x: number): string => fixed(x, x >= 100 ? 1 : 3);
export const watts = (x: number): string => fixed(x, x >= 10 ? 2 : 3);
export const kfps = (fps: number): string => fixed(fps / 1000, 2);
export const bits = (x: number): string => fixed(x, 3);
export const int = (x: number): string => fixed(Math.round(x), 0);
export const millions = (x: number): string => fixed(x / 1e6, 2);

/** Signed relative difference in percent: (a - b) / b. */
export function pctDiff(a: number, b: number): string {
  if (b === 0) return 'n/a';
  const d = ((a - b) / b) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%`;
}

/** "W1.40A1.40"-style label. */
export function bitsLabel(weightBits: number, activationBits: number): string {
  const f = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));
  return `W${f(weightBits)}A${f(activationBits)}`;
}
