/**
 * The one number formatter for text meant for people (CLI output, Markdown and HTML
 * reports, generated READMEs): ',' between thousands, '.' before decimals, independent of
 * the locale so the text is the same on every machine. JSON keeps plain numbers.
 */

/** 1234567 → "1,234,567"; 1234.5 → "1,234.5" (the digits `String(n)` gives, grouped). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const text = Math.abs(n).toString();
  if (text.includes('e')) return (n < 0 ? '-' : '') + text; // beyond 1e21: no grouping to do
  return (n < 0 ? '-' : '') + group(text);
}

/** `x` with exactly `digits` decimals, grouped: formatFixed(2660.04, 1) → "2,660.0". */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  const text = Math.abs(x).toFixed(digits);
  const negative = x < 0 && /[1-9]/.test(text);
  return (negative ? '-' : '') + group(text);
}

function group(unsigned: string): string {
  const [int, frac] = unsigned.split('.');
  return int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac !== undefined ? `.${frac}` : '');
}
