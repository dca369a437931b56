/**
 * Small C++ text helpers shared by the emitters: literals, packed words, array initializers.
 */
import type { EntryType, StreamInfo } from '../types.js';
import { entryBits } from '../design.js';

/** A signed 64-bit literal (values are integers below 2^53 in magnitude). */
export function intLit(v: number): string {
  if (!Number.isSafeInteger(v)) throw new Error(`not a safe integer: ${v}`);
  return `${v}LL`;
}

/** The smallest two's complement width holding every value (bitir/fixed.ts). */
export { signedBits } from '../../../bitir/fixed.js';

/** A packed word of `width` bits (bit i = bits[i]) as an `ap_uint<width>` initializer. */
export function wordLit(bits: ArrayLike<number>, width: number): string {
  let hex = '';
  for (let n = Math.ceil(width / 4) - 1; n >= 0; n--) {
    let v = 0;
    for (let b = 3; b >= 0; b--) {
      const i = n * 4 + b;
      v = (v << 1) | (i < width && bits[i] ? 1 : 0);
    }
    // Leading zero digits dropped (at least one digit kept).
    if (v !== 0 || hex !== '' || n === 0) hex += HEX_DIGITS[v]!;
  }
  return width <= 64 ? `0x${hex}ULL` : `ap_uint<${width}>("0x${hex}", 16)`;
}

const HEX_DIGITS = '0123456789abcdef';

/** Nested braces for an array initializer from a flat list and dimensions. */
export function arrayInit(values: readonly string[], dims: readonly number[], perLine = 8): string {
  if (dims.length === 0) return values[0] ?? '0';
  const inner = dims.slice(1).reduce((a, b) => a * b, 1);
  if (dims.length === 1) {
    const lines: string[] = [];
    for (let i = 0; i < values.length; i += perLine) lines.push(values.slice(i, i + perLine).join(', '));
    return lines.length <= 1 ? `{${lines[0] ?? ''}}` : `{\n  ${lines.join(',\n  ')}\n}`;
  }
  const parts: string[] = [];
  for (let i = 0; i < dims[0]!; i++) parts.push(arrayInit(values.slice(i * inner, (i + 1) * inner), dims.slice(1), perLine));
  return `{\n${parts.join(',\n')}\n}`;
}

/** `static const T name[d0][d1]... = {...};` */
export function constArray(type: string, name: string, dims: readonly number[], values: readonly string[], perLine = 8): string {
  return `static const ${type} ${name}${dims.map((d) => `[${d}]`).join('')} = ${arrayInit(values, dims, perLine)};\n`;
}

/** The C++ type of one stream entry. */
export function entryCppType(e: EntryType): string {
  return e.kind === 'fixed' ? `ap_int<${e.bits}>` : `ap_uint<${entryBits(e)}>`;
}

/** Typedef names of a stream: entry type and beat (chunk) type. */
export function entryT(s: StreamInfo): string {
  return `${s.name}_t`;
}

export function beatT(s: StreamInfo): string {
  return `${s.name}_beat`;
}

/** Indents every non-empty line by `n` spaces. */
export function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l.length ? pad + l : l))
    .join('\n');
}

/** A C++ comment line from arbitrary text (no comment terminators). */
export function comment(text: string): string {
  return `// ${text.replace(/\*\//g, '* /').replace(/\n/g, ' ')}`;
}
