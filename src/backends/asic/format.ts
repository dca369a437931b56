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

/** A bit count: "8" for an integer, "1.40" otherwise. */
export const bitCount = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));

/** "W1.40A1.40"-style label. */
export function bitsLabel(weightBits: number, activationBits: number): string {
  return `W${bitCount(weightBits)}A${bitCount(activationBits)}`;
}

/** How the homogeneous rows are built, said once for both renderers. */
export const VARIANTS_NOTE =
  'The homogeneous rows substitute the weight bit histograms (and HBNN activation histograms) by one width in the unit counts: same layers, same folding budget; the network was not re-quantized. ' +
  'Fixed-point activations (the network input, layer inputs priced at a fixed width) keep their width, so the labels and the bits column show the bits each design really has.';
