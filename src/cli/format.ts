/**
 * Text formatting for CLI output. Locale-independent, so output is the same on every machine.
 */

// The number formatter of every text output (src/util/numbers.ts).
export { formatCount, formatFixed } from '../util/numbers.js';

/** Byte sizes in binary units: "812 B", "412.3 KiB", "1.6 MiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** Milliseconds for people: "840 ms", "12.4 s", "3 min 05 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** A shape as "[N,1,28,28]"; null dims print as "?". */
export function formatShape(shape: readonly (number | string | null)[] | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

export type Align = 'left' | 'right';

/**
 * An aligned text table. `align` gives each column's alignment (default left); the header
 * row is underlined with dashes. Trailing spaces are trimmed.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = [], indent = '  '): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    (
      indent +
      widths
        .map((w, i) => {
          const c = cells[i] ?? '';
          return align[i] === 'right' ? c.padStart(w) : c.padEnd(w);
        })
        .join('  ')
    ).trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
