/**
 * `weights_<layer>.h`: a unit's constants, laid out for its folding.
 *
 * Weights of PE `pe`, tile `t = nf·SF + sf` cover rows `nf·PE + pe` and stream columns
 * `sf·SIMD .. sf·SIMD + SIMD - 1` (IR columns through the unit's column order):
 * - binary weights, per plane i: `u<k>_ws<i>[PE][TILES]` sign words (bit s = lane s) and,
 *   for a plane that not every weight has, `u<k>_wm<i>[PE][TILES]` mask words. A 1-bit
 *   weight appears only in plane 1, so the planes after it hold only multi-bit weights;
 * - fixed-point weights: `u<k>_wv[PE][TILES][SIMD]`.
 * Activation constants per row, as [PE][NF]: multipliers per term, then thresholds and output
 * codes (threshold) or bias (requantize).
 */
import type { BinaryWeight, FixedWeight } from '../../../bitir/types.js';
import { planeStats } from '../estimate.js';
import type { UnitStage } from '../types.js';
import { comment, constArray, intLit, signedBits, wordLit } from './cpp.js';

export function weightsFileName(u: UnitStage): string {
  return `weights_${u.name.replace(/^mvtu_/, '')}.h`;
}

/** Prefix of the unit's constant names. */
export function unitPrefix(u: UnitStage): string {
  return `u${u.index}`;
}

/** Per (pe, tile) the lane bits of one packed weight plane (signs or mask). */
function planeWords(u: UnitStage, words: Uint32Array, wpr: number): string[] {
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  const out: string[] = [];
  const bits = new Uint8Array(u.simd);
  for (let pe = 0; pe < u.pe; pe++) {
    for (let t = 0; t < nf * sf; t++) {
      const row = Math.floor(t / sf) * u.pe + pe;
      const col0 = (t % sf) * u.simd;
      for (let s = 0; s < u.simd; s++) {
        const c = u.columnOrder[col0 + s]!;
        bits[s] = (words[row * wpr + (c >>> 5)]! >>> (c & 31)) & 1;
      }
      out.push(wordLit(bits, u.simd));
    }
  }
  return out;
}

function binaryPlanes(u: UnitStage, w: BinaryWeight): string {
  const p = unitPrefix(u);
  const tiles = (u.mh / u.pe) * (u.mw / u.simd);
  const stats = planeStats(w);
  let text = '';
  w.planes.forEach((plane, i) => {
    const k = i + 1;
    const share = (stats.density[i]! * 100).toFixed(1);
    text += `${comment(`plane ${k}: ${share}% of the weights have it${stats.full[i] ? ' (all: no mask stored)' : ''}`)}\n`;
    text += constArray(`ap_uint<${u.simd}>`, `${p}_ws${k}`, [u.pe, tiles], planeWords(u, plane.signs, w.wordsPerRow), 4);
    if (!stats.full[i]) text += constArray(`ap_uint<${u.simd}>`, `${p}_wm${k}`, [u.pe, tiles], planeWords(u, plane.mask, w.wordsPerRow), 4);
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

/** Width of the threshold constants and the sentinel that pads a channel's list (never reached). */
export function thresholdLayout(u: UnitStage | { activation: { kind: 'threshold'; thresholds: number[][]; sumBits: number } }): { bits: number; count: number; sentinel: number } {
  const a = u.activation;
  if (a.kind !== 'threshold') throw new Error('not a threshold unit');
  const count = Math.max(0, ...a.thresholds.map((t) => t.length));
  const bits = Math.max(signedBits(a.thresholds.flat()), a.sumBits) + 1;
  return { bits, count, sentinel: 2 ** (bits - 1) - 1 };
}

/** Widths of the multipliers of each term. */
export function multiplierBits(u: UnitStage): number {
  return signedBits(u.activation.multipliers.flat());
}

/** Whether the unit's sum is its single accumulator (one term, every multiplier 1). */
export function trivialSum(u: UnitStage): boolean {
  const m = u.activation.multipliers;
  return m.length === 1 && m[0]!.every((v) => v === 1);
}

function activationConstants(u: UnitStage): string {
  const p = unitPrefix(u);
  const a = u.activation;
  const nf = u.mh / u.pe;
  let text = '';
  if (!trivialSum(u)) {
    const mb = multiplierBits(u);
    const values: string[] = [];
    a.multipliers.forEach((m) => values.push(...byPeNf(u, (r) => [intLit(m[r]!)])));
    text += `${comment('S = Σ_t multiplier_t · acc_t, per term t and row')}\n`;
    text += constArray(`ap_int<${mb}>`, `${p}_mul`, [a.multipliers.length, u.pe, nf], values, 8);
  }
  if (a.kind === 'threshold') {
    const { bits, count, sentinel } = thresholdLayout(u as UnitStage & { activation: typeof a });
    const th = byPeNf(u, (r) => {
      const t = a.thresholds[r]!;
      return Array.from({ length: count }, (_, i) => intLit(i < t.length ? t[i]! : sentinel));
    });
    const codes = byPeNf(u, (r) => {
      const c = a.codes[r]!;
      return Array.from({ length: count + 1 }, (_, i) => String(c[Math.min(i, c.length - 1)]!));
    });
    text += `${comment(`thresholds per row (non-decreasing; padded with ${sentinel}, never reached) and the output code of each band`)}\n`;
    if (count > 0) text += constArray(`ap_int<${bits}>`, `${p}_thr`, [u.pe, nf, count], th, 8);
    text += constArray(`ap_uint<${u.out.entry.kind === 'binary' ? 2 * u.out.entry.planes : 1}>`, `${p}_code`, [u.pe, nf, count + 1], codes, 16);
  } else {
    const bias = byPeNf(u, (r) => [intLit(a.bias[r]!)]);
    text += `${comment(`bias per row (rounding constant 2^${a.shift - 1} included)`)}\n`;
    text += constArray(`ap_int<${Math.max(signedBits(a.bias), 2)}>`, `${p}_bias`, [u.pe, nf], bias, 8);
  }
  return text;
}

export function weightsHeader(u: UnitStage): string {
  const guard = weightsFileName(u).replace(/[^A-Za-z0-9]/g, '_').toUpperCase();
  const w = u.weight;
  return `// ${weightsFileName(u)} — generated by hbnn-onnx (vivado-hls backend).
${comment(`layer ${u.layer}: MH=${u.mh} MW=${u.mw} PE=${u.pe} SIMD=${u.simd} NF=${u.mh / u.pe} SF=${u.mw / u.simd} reps=${u.reps}`)}
${comment(`weight columns are in stream order (${u.source === 'conv' ? 'window (kh, kw, c)' : 'input arrival order'})`)}
#ifndef ${guard}
#define ${guard}

#include "hbnn_hls_lib.h"

${w.kind === 'binary' ? binaryPlanes(u, w) : fixedValues(u, w)}
${activationConstants(u)}
#endif  // ${guard}
`;
}
