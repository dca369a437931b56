/**
 * `weights_<layer>.h`: a unit's constants, laid out for its folding.
 *
 * Weights of PE `pe`, tile `t = nf·SF + sf` cover rows `nf·PE + pe` and stream columns
 * `sf·SIMD .. sf·SIMD + SIMD - 1` (IR columns through the unit's column order):
 * - binary weights, per plane i: `u<k>_ws<i>[PE][TILES]` sign words (bit s = lane s) and,
 *   for a plane that not every weight has, `u<k>_wm<i>[PE][TILES]` mask words. A 1-bit
 *   weight appears only in plane 1, so the planes after it hold only multi-bit weights.
 *   Three planes with nested masks (plane 1 full, mask 3 ⊂ mask 2: a weight has 1, 2 or 3
 *   bits, 2 + 4 + 8 = 14 states) are stored in 4 words instead of 5: ws1, ws2, `wc2` (mask 3 ?
 *   sign 3 : mask 2) and wm3; mask 2 = wc2 | wm3 and sign 3 = wc2 (only read under mask 3);
 * - fixed-point weights: `u<k>_wv[PE][TILES][SIMD]`.
 * Combination constants (arith.ts) as [C][NF·G] for C combiners of G = PE/C rows each (C = PE
 * when every PE combines its own row: [PE][NF]): the multiplier of each term whose multiplier
 * varies by row, then thresholds and output codes (threshold) or bias (requantize); and, for
 * the C-simulation trace only, the per-row offsets β of the accumulator forms as [PE][NF].
 */
import type { BinaryWeight, FixedWeight } from '../../../bitir/types.js';
import { combinerCount } from '../arith.js';
import { planeStats } from '../plane-stats.js';
import type { UnitStage } from '../types.js';
import { comment, constArray, intLit, signedBits, wordLit } from './cpp.js';

export function weightsFileName(u: UnitStage): string {
  return `weights_${u.name.replace(/^(mvtu|vvu)_/, '')}.h`;
}

/** Prefix of the unit's constant names. */
export function unitPrefix(u: UnitStage): string {
  return `u${u.index}`;
}

/**
 * Where a stored weight bit comes from: one IR bit plane (signs or mask words), or the compact
 * word of three nested planes, (mask 3 ? sign 3 : mask 2).
 */
type BitSource = Uint32Array | { pick: Uint32Array; ifSet: Uint32Array; ifClear: Uint32Array };

/** Per (pe, tile), [PE][TILES] order, the packed weight word of lanes 0..SIMD-1, read from the IR words (row-major, LSB first). */
function laneWords(u: UnitStage, src: BitSource, wpr: number): string[] {
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  const S = u.simd;
  const out = new Array<string>(u.mh * sf);
  const bits = new Uint8Array(S);
  const order = u.columnOrder;
  const plain = src instanceof Uint32Array ? src : undefined;
  const c2 = src instanceof Uint32Array ? undefined : src;
  for (let r = 0; r < u.mh; r++) {
    const pe = r % u.pe;
    const f = (r - pe) / u.pe;
    const rowWord = r * wpr;
    for (let t = 0; t < sf; t++) {
      const col0 = t * S;
      for (let s = 0; s < S; s++) {
        const c = order[col0 + s]!;
        const wi = rowWord + (c >>> 5);
        const sh = c & 31;
        bits[s] = plain ? (plain[wi]! >>> sh) & 1 : (c2!.pick[wi]! >>> sh) & 1 ? (c2!.ifSet[wi]! >>> sh) & 1 : (c2!.ifClear[wi]! >>> sh) & 1;
      }
      out[pe * nf * sf + f * sf + t] = wordLit(bits, S);
    }
  }
  return out;
}

/**
 * The data-file text of `laneWords` (each word as `wordLit` writes it, joined by ",\n", a final
 * newline), written as bytes: AlexNet's planes are 250 M lanes, too many for a string per word.
 */
function laneWordsFile(u: UnitStage, src: BitSource, wpr: number): string {
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  const S = u.simd;
  const digits = Math.ceil(S / 4);
  const pre = Buffer.from(S <= 64 ? '0x' : `ap_uint<${S}>("0x`, 'latin1');
  const post = Buffer.from(S <= 64 ? 'ULL' : '", 16)', 'latin1');
  const words = u.mh * sf;
  const buf = Buffer.allocUnsafe(words * (pre.length + digits + post.length + 2));
  const nib = new Uint8Array(digits);
  const order = u.columnOrder;
  const plain = src instanceof Uint32Array ? src : undefined;
  const c2 = src instanceof Uint32Array ? undefined : src;
  let n = 0;
  for (let pe = 0; pe < u.pe; pe++) {
    for (let f = 0; f < nf; f++) {
      const rowWord = (f * u.pe + pe) * wpr;
      for (let t = 0; t < sf; t++) {
        nib.fill(0);
        const col0 = t * S;
        for (let s = 0; s < S; s++) {
          const c = order[col0 + s]!;
          const wi = rowWord + (c >>> 5);
          const sh = c & 31;
          const bit = plain ? (plain[wi]! >>> sh) & 1 : (c2!.pick[wi]! >>> sh) & 1 ? (c2!.ifSet[wi]! >>> sh) & 1 : (c2!.ifClear[wi]! >>> sh) & 1;
          nib[s >>> 2]! |= bit << (s & 3);
        }
        if (n > 0) {
          buf[n++] = 0x2c; // ','
          buf[n++] = 0x0a;
        }
        n += pre.copy(buf, n);
        let d = digits - 1;
        while (d > 0 && nib[d] === 0) d--;
        for (; d >= 0; d--) buf[n++] = HEX_CODES[nib[d]!]!;
        n += post.copy(buf, n);
      }
    }
  }
  buf[n++] = 0x0a;
  return buf.toString('latin1', 0, n);
}

const HEX_CODES = Uint8Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0));

/** Whether the unit stores its three nested planes in 4 words (see the header comment). */
export function compactPlanes(u: Pick<UnitStage, 'weight'>): boolean {
  const w = u.weight;
  if (w.kind !== 'binary' || w.planes.length !== 3) return false;
  const hit = compactCache.get(w);
  if (hit !== undefined) return hit;
  const stats = planeStats(w);
  let nested = stats.full[0]! && !stats.full[1] && !stats.full[2];
  const m2 = w.planes[1]!.mask;
  const m3 = w.planes[2]!.mask;
  for (let i = 0; nested && i < m3.length; i++) if ((m3[i]! & ~m2[i]!) !== 0) nested = false;
  compactCache.set(w, nested);
  return nested;
}

const compactCache = new WeakMap<BinaryWeight, boolean>();

/** Stored words per lane of a unit's binary weights (what the weight memory holds). */
export function storedWordsPerLane(u: Pick<UnitStage, 'weight'>): number {
  const w = u.weight;
  if (w.kind !== 'binary') return w.bits;
  if (compactPlanes(u)) return 4;
  const stats = planeStats(w);
  return stats.full.reduce((a, f) => a + (f ? 1 : 2), 0);
}

/** C++ expression of plane `i`'s sign word at [pe][tile] (only meaningful under its mask). */
export function signWord(u: UnitStage, i: number): string {
  const p = unitPrefix(u);
  return compactPlanes(u) && i === 3 ? `${p}_wc2[pe][tile]` : `${p}_ws${i}[pe][tile]`;
}

/** C++ expression of plane `i`'s mask word at [pe][tile]; undefined when every weight has the plane. */
export function maskWord(u: UnitStage, i: number): string | undefined {
  const p = unitPrefix(u);
  if (compactPlanes(u)) return i === 1 ? undefined : i === 2 ? `(${p}_wc2[pe][tile] | ${p}_wm3[pe][tile])` : `${p}_wm3[pe][tile]`;
  return planeStats(u.weight).full[i - 1] ? undefined : `${p}_wm${i}[pe][tile]`;
}

/** Names of the weight arrays of a unit (each partitioned by PE). */
export function weightArrays(u: UnitStage): string[] {
  const p = unitPrefix(u);
  const w = u.weight;
  if (w.kind !== 'binary') return [`${p}_wv`];
  if (compactPlanes(u)) return [`${p}_ws1`, `${p}_ws2`, `${p}_wc2`, `${p}_wm3`];
  const stats = planeStats(w);
  return w.planes.flatMap((_, i) => (stats.full[i] ? [`${p}_ws${i + 1}`] : [`${p}_ws${i + 1}`, `${p}_wm${i + 1}`]));
}

/**
 * A weight array: inline (`static const` with its initializer), or, when `files` is given, a
 * data file `<name>.dat` (one initializer element per line, `0x…` literals) that the
 * synthesis build #includes as the initializer and the C-simulation build reads at run time
 * (hbnn::load_words, called once by the top function), so that g++ never compiles megabytes
 * of initializers.
 */
function weightArray(type: string, name: string, dims: readonly number[], values: () => readonly string[], files: Map<string, string> | undefined, fileText?: () => string): string {
  if (!files) return constArray(type, name, dims, values(), 4);
  files.set(weightDataFile(name), fileText ? fileText() : `${values().join(',\n')}\n`);
  const d = dims.map((x) => `[${x}]`).join('');
  return `#ifdef __SYNTHESIS__
static const ${type} ${name}${d} = {
#include "${weightDataFile(name)}"
};
#else
static ${type} ${name}${d};  // read from ${weightDataFile(name)} at run time (hbnn::load_words)
#endif
`;
}

/** The data file of a weight array stored in files. */
export function weightDataFile(array: string): string {
  return `${array}.dat`;
}

function binaryPlanes(u: UnitStage, w: BinaryWeight, files?: Map<string, string>): string {
  const p = unitPrefix(u);
  const tiles = (u.mh / u.pe) * (u.mw / u.simd);
  const stats = planeStats(w);
  const wpr = w.wordsPerRow;
  const word = `ap_uint<${u.simd}>`;
  const planeArray = (name: string, src: BitSource): string =>
    weightArray(word, name, [u.pe, tiles], () => laneWords(u, src, wpr), files, () => laneWordsFile(u, src, wpr));
  let text = '';
  w.planes.forEach((_, i) => {
    text += `${comment(`plane ${i + 1}: ${(stats.density[i]! * 100).toFixed(1)}% of the weights have it${stats.full[i] ? ' (all: no mask stored)' : ''}`)}\n`;
  });
  if (compactPlanes(u)) {
    const [s1, s2, s3] = w.planes.map((pl) => pl.signs);
    const m2 = w.planes[1]!.mask;
    const m3 = w.planes[2]!.mask;
    text += `${comment('three nested planes in 4 words: ws1, ws2, wc2 = (mask 3 ? sign 3 : mask 2), wm3; mask 2 = wc2 | wm3, sign 3 = wc2')}\n`;
    text += planeArray(`${p}_ws1`, s1!);
    text += planeArray(`${p}_ws2`, s2!);
    text += planeArray(`${p}_wc2`, { pick: m3, ifSet: s3!, ifClear: m2 });
    text += planeArray(`${p}_wm3`, m3);
    return text;
  }
  w.planes.forEach((plane, i) => {
    const k = i + 1;
    text += planeArray(`${p}_ws${k}`, plane.signs);
    if (!stats.full[i]) text += planeArray(`${p}_wm${k}`, plane.mask);
  });
  return text;
}

function fixedValues(u: UnitStage, w: FixedWeight): string {
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  const values: string[] = [];
  for (let pe = 0; pe < u.pe; pe++) {
    for (let t = 0; t < nf * sf; t++) {
      const row = Math.floor(t / sf) * u.pe + pe;
      const col0 = (t % sf) * u.simd;
      for (let s = 0; s < u.simd; s++) values.push(String(w.values[row * w.cols + u.columnOrder[col0 + s]!]!));
    }
  }
  return `${comment(`fixed-point weights: value · 2^-${w.frac}`)}\n${constArray(`ap_int<${w.bits}>`, `${unitPrefix(u)}_wv`, [u.pe, nf * sf, u.simd], values, 16)}`;
}

/** Per-row values rearranged as [PE][NF] (row = nf·PE + pe). */
function byPeNf(u: UnitStage, perRow: (row: number) => string[]): string[] {
  const nf = u.mh / u.pe;
  const out: string[] = [];
  for (let pe = 0; pe < u.pe; pe++) for (let f = 0; f < nf; f++) out.push(...perRow(f * u.pe + pe));
  return out;
}

/** Combiners C and rows per combiner G = PE/C of a unit with its folding. */
export function unitCombiners(u: Pick<UnitStage, 'pe' | 'mw' | 'simd' | 'arith'>): { c: number; g: number } {
  const c = combinerCount(u.pe, u.mw / u.simd, u.arith.trivial);
  return { c, g: u.pe / c };
}

/** Per-row values rearranged as [C][NF·G]: combiner c, index f·G + g holds row f·PE + g·C + c. */
function byCombiner(u: UnitStage, perRow: (row: number) => string[]): string[] {
  const nf = u.mh / u.pe;
  const { c: C, g: G } = unitCombiners(u);
  const out: string[] = [];
  for (let c = 0; c < C; c++) for (let f = 0; f < nf; f++) for (let g = 0; g < G; g++) out.push(...perRow(f * u.pe + g * C + c));
  return out;
}

/** Threshold count per row (padded) and the sentinel above every reachable S'. */
export function thresholdLayout(u: UnitStage): { bits: number; count: number; sentinel: number } {
  const a = u.arith;
  if (!a.thresholds || a.thrBits === undefined) throw new Error('not a threshold unit');
  const count = Math.max(0, ...a.thresholds.map((t) => t.length));
  return { bits: a.thrBits, count, sentinel: 2 ** (a.thrBits - 1) - 1 };
}

function activationConstants(u: UnitStage): string {
  const p = unitPrefix(u);
  const a = u.arith;
  const act = u.activation;
  const nf = u.mh / u.pe;
  const { c: C, g: G } = unitCombiners(u);
  const dims = [C, nf * G];
  let text = '';
  if (!a.trivial) {
    text += `${comment(`S' = Σ_t K_t · X_t per row (multipliers that are the same for every row are constants in the code)`)}\n`;
    a.k.forEach((kt, t) => {
      if (a.kConst[t]) return;
      text += constArray(`ap_int<${a.kBits[t]}>`, `${p}_k${t}`, dims, byCombiner(u, (r) => [intLit(kt[r]!)]), 8);
    });
  }
  if (act.kind === 'threshold') {
    const { bits, count, sentinel } = thresholdLayout(u);
    const th = byCombiner(u, (r) => {
      const t = a.thresholds![r]!;
      return Array.from({ length: count }, (_, i) => intLit(i < t.length ? t[i]! : sentinel));
    });
    const codes = byCombiner(u, (r) => {
      const c = act.codes[r]!;
      return Array.from({ length: count + 1 }, (_, i) => String(c[Math.min(i, c.length - 1)]!));
    });
    text += `${comment(`thresholds on S' per row (non-decreasing; padded with ${sentinel}, never reached) and the output code of each band`)}\n`;
    if (count > 0) text += constArray(`ap_int<${bits}>`, `${p}_thr`, [...dims, count], th, 8);
    text += constArray(`ap_uint<${u.out.entry.kind === 'binary' ? 2 * u.out.entry.planes : 1}>`, `${p}_code`, [...dims, count + 1], codes, 16);
  } else {
    const bias = byCombiner(u, (r) => [intLit(a.bias![r]!)]);
    text += `${comment(`bias per row (rounding constant 2^${act.kind === 'requantize' ? act.shift - 1 : 0} and the accumulator offsets included)`)}\n`;
    text += constArray(`ap_int<${Math.max(signedBits(a.bias!), 2)}>`, `${p}_bias`, dims, bias, 8);
  }
  a.forms.forEach((f, t) => {
    if (!f.beta) return;
    text += `${comment(`C-simulation trace only: term ${t} accumulator = ${f.alpha}·X + beta (${f.kind})`)}\n`;
    text += constArray(`ap_int<${Math.max(signedBits(f.beta), 2)}>`, `${p}_beta${t}`, [u.pe, nf], byPeNf(u, (r) => [intLit(f.beta![r]!)]), 8);
  });
  return text;
}

/**
 * The unit's weights header. With `files`, binary weight planes go to data files added to
 * `files` (see weightArray); fixed-point weights and the per-row constants stay inline.
 */
export function weightsHeader(u: UnitStage, files?: Map<string, string>): string {
  const guard = weightsFileName(u).replace(/[^A-Za-z0-9]/g, '_').toUpperCase();
  const w = u.weight;
  return `// ${weightsFileName(u)} — generated by hbnn-onnx (vivado-hls backend).
${comment(`layer ${u.layer}: MH=${u.mh} MW=${u.mw} PE=${u.pe} SIMD=${u.simd} NF=${u.mh / u.pe} SF=${u.mw / u.simd} reps=${u.reps}`)}
${comment(`weight columns are in stream order (${u.source === 'conv' ? 'window (kh, kw, c)' : 'input arrival order'})`)}
#ifndef ${guard}
#define ${guard}

#include "hbnn_hls_lib.h"

${w.kind === 'binary' ? binaryPlanes(u, w, files) : fixedValues(u, w)}
${activationConstants(u)}
#endif  // ${guard}
`;
}
