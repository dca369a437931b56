/**
 * One C++ function per stage (an exhaustive switch over the stage kinds). Every function
 * processes `reps` samples and reads/writes whole beats; the top function calls them in a
 * DATAFLOW region.
 */
import { unreachable } from '../../../bitir/types.js';
import { entryBits } from '../design.js';
import type {
  AddStage,
  ArgmaxStage,
  AvgPoolStage,
  ConcatStage,
  DupStage,
  StageOperand,
  ClipStage,
  LeakyReluStage,
  GroupedWindow,
  HlsStage,
  InputStage,
  MaxPoolStage,
  ReluStage,
  ScaleStage,
  StreamInfo,
  ThresholdStage,
  UnitStage,
  WidthConverterStage,
  WindowStage,
} from '../types.js';
import { beatT, comment, constArray, entryT, indent, intLit, signedBits } from './cpp.js';
import { maskWord, signWord, thresholdLayout, unitCombiners, unitPrefix, weightArrays } from './weights.js';
import { isShift } from '../arith.js';
import { rowWidths } from '../grouping.js';

export const IN_AXIS_T = 'hbnn_in_t';
/** Narrowest SIMD at which ±1 × fixed-point lanes are summed on bit planes (popcounts) rather than lane by lane. */
export const BIT_PLANE_MIN_SIMD = 32;
export const OUT_AXIS_T = 'hbnn_out_t';

const sig = (name: string, inType: string, outType: string): string =>
  `static void ${name}(hls::stream<${inType}>& in, hls::stream<${outType}>& out, unsigned reps)`;

/** The C++ function of a stage ('' for stages the top calls as a library template). */
export function stageFunction(s: HlsStage): string {
  switch (s.kind) {
    case 'input':
      return inputStage(s);
    case 'dwc':
      return '';
    case 'window':
      return windowStage(s);
    case 'unit':
      return unitStage(s);
    case 'relu':
      return reluStage(s);
    case 'threshold':
      return thresholdStage(s);
    case 'maxpool':
      return maxPoolStage(s);
    case 'avgpool':
      return avgPoolStage(s);
    case 'clip':
      return clipStage(s);
    case 'leakyrelu':
      return leakyReluStage(s);
    case 'scale':
      return scaleStage(s);
    case 'dup':
      return dupStage(s);
    case 'add':
      return addStage(s);
    case 'concat':
      return concatStage(s);
    case 'argmax':
      return argmaxStage(s);
    default:
      return unreachable(s, 'stage');
  }
}

/** The call of a stage inside the top function. */
export function stageCall(s: HlsStage): string {
  switch (s.kind) {
    case 'input':
      return `${s.name}(in, ${s.out.name}, reps);`;
    case 'dwc':
      return dwcCall(s);
    case 'argmax':
      return `${s.name}(${s.in.name}, out, reps);`;
    case 'window':
    case 'unit':
    case 'relu':
    case 'threshold':
    case 'maxpool':
    case 'avgpool':
    case 'clip':
    case 'leakyrelu':
    case 'scale':
      return `${s.name}(${s.in.name}, ${s.out.name}, reps);`;
    case 'dup':
      return `${s.name}(${[s.in, ...s.outs].map((x) => x.name).join(', ')}, reps);`;
    case 'add':
    case 'concat':
      return `${s.name}(${[...s.ins, s.out].map((x) => x.name).join(', ')}, reps);`;
    default:
      return unreachable(s, 'stage');
  }
}

function dwcCall(s: WidthConverterStage): string {
  return `hbnn::convert_width<${entryT(s.in)}, ${s.in.beat}, ${s.out.beat}, ${s.in.entries}>(${s.in.name}, ${s.out.name}, reps);`;
}

function header(s: HlsStage, what: string): string {
  const nodes = s.nodes.length ? ` (${s.nodes.join(', ')})` : '';
  return `${comment(`${what}${nodes}`)}\n`;
}

// ------------------------------------------------------------------------------------------

function inputStage(s: InputStage): string {
  const o = s.out;
  return `${header(s, `input: ${o.entries} entries per sample (${o.layout.kind === 'hwc' ? 'HWC order' : 'vector'}), one per AXI beat, packed by ${o.beat}`)}${sig(s.name, IN_AXIS_T, beatT(o))} {
  for (unsigned r = 0; r < reps; r++) {
    for (unsigned i = 0; i < ${o.entries / o.beat}; i++) {
      ${beatT(o)} b;
      for (unsigned k = 0; k < ${o.beat}; k++) {
#pragma HLS PIPELINE II=1
        b.v[k] = (${entryT(o)})in.read();
      }
      out.write(b);
    }
  }
}
`;
}

/** Shared line-buffer skeleton of the window and pooling stages: reads rows, emits output rows once their last input row is in. */
function lineBuffered(
  s: { height: number; width: number; channels: number; outHeight: number; kernel: [number, number]; strides: [number, number]; pads: number[]; dilations: [number, number]; in: StreamInfo },
  rows: number,
  emitRow: string,
): string {
  const span = (s.kernel[0] - 1) * s.dilations[0] + 1;
  return `  static ${entryT(s.in)} line[${rows}][${s.width}][${s.channels}];
#pragma HLS ARRAY_PARTITION variable=line complete dim=3
  for (unsigned r = 0; r < reps; r++) {
    int y = 0;
    for (int iy = 0; iy < ${s.height}; iy++) {
      for (int x = 0; x < ${s.width}; x++) {
#pragma HLS PIPELINE II=1
        const ${beatT(s.in)} px = in.read();
        for (int c = 0; c < ${s.channels}; c++) line[iy % ${rows}][x][c] = px.v[c];
      }
      // Output rows whose last input row (clipped to the image) has arrived.
      for (; y < ${s.outHeight}; y++) {
        int last = y * ${s.strides[0]} - ${s.pads[0]} + ${span - 1};
        if (last > ${s.height - 1}) last = ${s.height - 1};
        if (last > iy) break;
${indent(emitRow, 8)}
      }
    }
  }
`;
}

function windowStage(s: WindowStage): string {
  const mw = s.kernel[0] * s.kernel[1] * s.channels;
  const simd = s.grouped ? s.grouped.simd : s.out.beat;
  const span = (s.kernel[0] - 1) * s.dilations[0] + 1;
  const rows = span + s.strides[0];
  const emitRow = `for (int ox = 0; ox < ${s.outWidth}; ox++) {
  ${entryT(s.in)} win[${mw}];
#pragma HLS ARRAY_PARTITION variable=win complete
  int j = 0;
  for (int a = 0; a < ${s.kernel[0]}; a++) {
    for (int b = 0; b < ${s.kernel[1]}; b++) {
      const int wy = y * ${s.strides[0]} - ${s.pads[0]} + a * ${s.dilations[0]};
      const int wx = ox * ${s.strides[1]} - ${s.pads[1]} + b * ${s.dilations[1]};
      const bool inside = wy >= 0 && wy < ${s.height} && wx >= 0 && wx < ${s.width};
      for (int c = 0; c < ${s.channels}; c++) win[j++] = inside ? line[wy % ${rows}][wx][c] : (${entryT(s.in)})0;
    }
  }
${indent(s.grouped ? groupedWindowOut(s, s.grouped) : denseWindowOut(s, mw, simd), 2)}
}`;
  const order = s.grouped
    ? `${s.grouped.groups} groups; per row fold, each of the ${s.grouped.pe} PEs gets ${simd} entries of its group's (kh, kw, c) window per beat`
    : `(kh, kw, c) order in beats of ${simd}`;
  return `${header(s, `sliding window: [${s.channels},${s.height},${s.width}] → ${s.outHeight}×${s.outWidth} windows ${s.kernel.join('×')}, stride ${s.strides.join(',')}, pads ${s.pads.join(',')}, dilation ${s.dilations.join(',')}; ${order}`)}${sig(s.name, beatT(s.in), beatT(s.out))} {
${lineBuffered(s, rows, emitRow)}}
`;
}

function denseWindowOut(s: WindowStage, mw: number, simd: number): string {
  return `for (int k = 0; k < ${mw / simd}; k++) {
#pragma HLS PIPELINE II=1
  ${beatT(s.out)} o;
  for (int l = 0; l < ${simd}; l++) o.v[l] = win[k * ${simd} + l];
  out.write(o);
}`;
}

/**
 * A grouped window: per row fold nf and column fold k, PE p's SIMD entries are columns
 * k·SIMD.. of the window of the group of output channel nf·PE + p (group-local (kh, kw, c):
 * column j reads kernel position j / CG, channel g·CG + j % CG).
 */
function groupedWindowOut(s: WindowStage, g: GroupedWindow): string {
  const cg = g.channelsPerGroup;
  return `for (int nf = 0; nf < ${g.mh / g.pe}; nf++) {
  for (int k = 0; k < ${g.mw / g.simd}; k++) {
#pragma HLS PIPELINE II=1
    ${beatT(s.out)} o;
    for (int p = 0; p < ${g.pe}; p++) {
      const int grp = (nf * ${g.pe} + p) / ${g.rowsPerGroup};
      for (int l = 0; l < ${g.simd}; l++) {
        const int j = k * ${g.simd} + l;
        o.v[p * ${g.simd} + l] = win[(j / ${cg}) * ${s.channels} + grp * ${cg} + j % ${cg}];
      }
    }
    out.write(o);
  }
}`;
}

function maxPoolStage(s: MaxPoolStage): string {
  const span = (s.kernel[0] - 1) * s.dilations[0] + 1;
  const rows = span + s.strides[0];
  const binary = s.in.entry.kind === 'binary';
  const tables = binary
    ? constArray('unsigned char', `${s.name}_rank`, [s.rankOfCode!.length], s.rankOfCode!.map(String), 16) +
      constArray(`${entryT(s.out)}`, `${s.name}_code`, [s.codeOfRank!.length], s.codeOfRank!.map(String), 16)
    : '';
  const better = binary ? `${s.name}_rank[(unsigned)v] > ${s.name}_rank[(unsigned)best]` : '(long long)v > (long long)best';
  const emitRow = `for (int ox = 0; ox < ${s.outWidth}; ox++) {
#pragma HLS PIPELINE II=1
  ${beatT(s.out)} o;
  for (int c = 0; c < ${s.channels}; c++) {
    bool any = false;
    ${entryT(s.in)} best = 0;
    for (int a = 0; a < ${s.kernel[0]}; a++) {
      for (int b = 0; b < ${s.kernel[1]}; b++) {
        const int wy = y * ${s.strides[0]} - ${s.pads[0]} + a * ${s.dilations[0]};
        const int wx = ox * ${s.strides[1]} - ${s.pads[1]} + b * ${s.dilations[1]};
        if (wy < 0 || wy >= ${s.height} || wx < 0 || wx >= ${s.width}) continue;  // padding never wins
        const ${entryT(s.in)} v = line[wy % ${rows}][wx][c];
        if (!any || ${better}) best = v;
        any = true;
      }
    }
    o.v[c] = best;
  }
  out.write(o);
}`;
  return `${header(s, `max pool ${s.kernel.join('×')}, stride ${s.strides.join(',')}, pads ${s.pads.join(',')}: [${s.channels},${s.height},${s.width}] → [${s.channels},${s.outHeight},${s.outWidth}]${binary ? '; binary entries compare by level rank' : ''}`)}${tables}${sig(s.name, beatT(s.in), beatT(s.out))} {
${lineBuffered(s, rows, emitRow)}}
`;
}

function avgPoolStage(s: AvgPoolStage): string {
  const operand: StageOperand = { shift: s.alignShift, ...(s.table ? { table: s.table } : {}) };
  const rounding = s.shift > 0 ? ` + ${intLit(2 ** (s.shift - 1))}` : '';
  const average = (m: string, target: string): string => `long long q = (${m}${rounding}) >> ${s.shift};
${clampTo(s.outBits, 'q', target, entryT(s.out))}`;
  const what = `average pool ${s.kernel.join('×')}, stride ${s.strides.join(',')}, pads ${s.pads.join(',')}: [${s.channels},${s.height},${s.width}] → [${s.channels},${s.outHeight},${s.outWidth}]`;
  if (s.global) {
    // Streaming accumulator: one per channel, no line buffer; `beat` shared multipliers.
    const beat = s.in.beat;
    const folds = s.channels / beat;
    const align = alignExpr(operand, `${s.name}_value`, 'b.v[l]');
    return `${header(s, `${what}; global: Σ of each channel's aligned entries in one accumulator per channel (${folds} × ${beat}), then × ${s.mult[0]} >> ${s.shift} in beats of ${beat}`)}${operandTable(operand, `${s.name}_value`)}${sig(s.name, beatT(s.in), beatT(s.out))} {
  long long acc[${folds}][${beat}];
#pragma HLS ARRAY_PARTITION variable=acc complete dim=2
  for (unsigned r = 0; r < reps; r++) {
    for (int p = 0; p < ${s.height * s.width}; p++) {
      for (int cf = 0; cf < ${folds}; cf++) {
#pragma HLS PIPELINE II=1
        const ${beatT(s.in)} b = in.read();
        for (int l = 0; l < ${beat}; l++) acc[cf][l] = (p == 0 ? 0LL : acc[cf][l]) + ${align};
      }
    }
    for (int cf = 0; cf < ${folds}; cf++) {
#pragma HLS PIPELINE II=1
      ${beatT(s.out)} o;
      for (int l = 0; l < ${beat}; l++) {
${indent(average(`acc[cf][l] * ${intLit(s.mult[0]!)}`, 'o.v[l]'), 8)}
      }
      out.write(o);
    }
  }
}
`;
  }
  const span = (s.kernel[0] - 1) * s.dilations[0] + 1;
  const rows = span + s.strides[0];
  const beat = s.out.beat;
  const tables = operandTable(operand, `${s.name}_value`) + constArray('long long', `${s.name}_mult`, [s.mult.length], s.mult.map(intLit), 8);
  const align = alignExpr(operand, `${s.name}_value`, 'v');
  const emitRow = `for (int ox = 0; ox < ${s.outWidth}; ox++) {
  const long long m = ${s.name}_mult[y * ${s.outWidth} + ox];
  for (int cf = 0; cf < ${s.channels / beat}; cf++) {
#pragma HLS PIPELINE II=1
    ${beatT(s.out)} o;
    for (int l = 0; l < ${beat}; l++) {
      const int c = cf * ${beat} + l;
      long long sum = 0;
      for (int a = 0; a < ${s.kernel[0]}; a++) {
        for (int b = 0; b < ${s.kernel[1]}; b++) {
          const int wy = y * ${s.strides[0]} - ${s.pads[0]} + a * ${s.dilations[0]};
          const int wx = ox * ${s.strides[1]} - ${s.pads[1]} + b * ${s.dilations[1]};
          if (wy < 0 || wy >= ${s.height} || wx < 0 || wx >= ${s.width}) continue;  // padding adds 0
          const ${entryT(s.in)} v = line[wy % ${rows}][wx][c];
          sum += ${align};
        }
      }
${indent(average('sum * m', 'o.v[l]'), 6)}
    }
    out.write(o);
  }
}`;
  return `${header(s, `${what}; Σ aligned entries × multiplier of the divisor >> ${s.shift}, in beats of ${beat} channels`)}${tables}${sig(s.name, beatT(s.in), beatT(s.out))} {
${lineBuffered(s, rows, emitRow)}}
`;
}

function clipStage(s: ClipStage): string {
  if (s.table) {
    return `${header(s, 'clip on bit-plane codes: each level to the level of its clipped value')}${constArray(entryT(s.out), `${s.name}_map`, [s.table.length], s.table.map(String), 16)}${elementwise(s, `o.v[k] = ${s.name}_map[(unsigned)b.v[k]];`)}`;
  }
  const lo = s.lo === null ? '' : `if (v < ${intLit(s.lo)}) v = ${intLit(s.lo)};\n`;
  const hi = s.hi === null ? '' : `if (v > ${intLit(s.hi)}) v = ${intLit(s.hi)};\n`;
  return `${header(s, `clip to [${s.lo ?? '−∞'}, ${s.hi ?? '∞'}]`)}${elementwise(s, `long long v = (long long)b.v[k];\n${lo}${hi}o.v[k] = (${entryT(s.out)})v;`)}`;
}

function leakyReluStage(s: LeakyReluStage): string {
  return `${header(s, `LeakyRelu: q < 0 → (q · ${s.multiplier} + 2^${s.shift - 1}) >> ${s.shift}`)}${elementwise(
    s,
    `const long long v = (long long)b.v[k];
o.v[k] = (${entryT(s.out)})(v >= 0 ? v : (v * ${intLit(s.multiplier)}${s.shift > 0 ? ` + ${intLit(2 ** (s.shift - 1))}` : ''}) >> ${s.shift});`,
  )}`;
}

function elementwise(s: ReluStage | ScaleStage | ThresholdStage | ClipStage | LeakyReluStage, body: string, pre = ''): string {
  return `${sig(s.name, beatT(s.in), beatT(s.out))} {
${pre}  for (unsigned r = 0; r < reps; r++) {
    for (unsigned i = 0; i < ${s.in.entries / s.in.beat}; i++) {
#pragma HLS PIPELINE II=1
      const ${beatT(s.in)} b = in.read();
      ${beatT(s.out)} o;
      for (unsigned k = 0; k < ${s.in.beat}; k++) {
${indent(body, 8)}
      }
      out.write(o);
    }
  }
}
`;
}

function reluStage(s: ReluStage): string {
  if (s.table) {
    return `${header(s, 'relu on bit-plane codes: negative levels become the zero level')}${constArray(entryT(s.out), `${s.name}_map`, [s.table.length], s.table.map(String), 16)}${elementwise(s, `o.v[k] = ${s.name}_map[(unsigned)b.v[k]];`)}`;
  }
  return `${header(s, 'relu')}${elementwise(s, `const long long v = (long long)b.v[k];\no.v[k] = (${entryT(s.out)})(v < 0 ? 0 : v);`)}`;
}

function scaleStage(s: ScaleStage): string {
  const bits = entryBits(s.out.entry);
  const hi = 2 ** (bits - 1) - 1;
  const lo = -(2 ** (bits - 1));
  return `${header(s, `scaling layer: q' = clamp((q · ${s.multiplier} + 2^${s.shift - 1}) >> ${s.shift})`)}${elementwise(
    s,
    `long long v = ((long long)b.v[k] * ${intLit(s.multiplier)} + ${intLit(2 ** (s.shift - 1))}) >> ${s.shift};
if (v > ${intLit(hi)}) v = ${intLit(hi)};
if (v < ${intLit(lo)}) v = ${intLit(lo)};
o.v[k] = (${entryT(s.out)})v;`,
  )}`;
}

function thresholdStage(s: ThresholdStage): string {
  const count = Math.max(0, ...s.thresholds.map((t) => t.length));
  const bits = Math.max(signedBits(s.thresholds.flat()), s.sumBits) + 1;
  const sentinel = 2 ** (bits - 1) - 1;
  const th = s.thresholds.flatMap((t) => Array.from({ length: count }, (_, i) => intLit(i < t.length ? t[i]! : sentinel)));
  const codes = s.codes.flatMap((c) => Array.from({ length: count + 1 }, (_, i) => String(c[Math.min(i, c.length - 1)]!)));
  const tables = (count > 0 ? constArray(`ap_int<${bits}>`, `${s.name}_thr`, [s.channels, count], th, 8) : '') + constArray(entryT(s.out), `${s.name}_code`, [s.channels, count + 1], codes, 16);
  return `${header(s, 'threshold on the fixed-point input: band = #{u : q >= threshold_u}')}${tables}${elementwise(
    s,
    `const long long v = (long long)b.v[k];
unsigned band = 0;
${count > 0 ? `for (unsigned u = 0; u < ${count}; u++) band += v >= (long long)${s.name}_thr[ch][u] ? 1 : 0;\n` : ''}o.v[k] = ${s.name}_code[ch][band];
if (++ch == ${s.channels}) ch = 0;`,
    `  unsigned ch = 0;\n`,
  )}`;
}

// ------------------------------------------------------------------------------------------
// Branches: duplicate, add, concat
// ------------------------------------------------------------------------------------------

/** The decode table of a binary operand (aligned integer per entry code); '' for a fixed one. */
function operandTable(o: StageOperand, name: string): string {
  return o.table ? constArray('long long', name, [o.table.length], o.table.map(intLit), 8) : '';
}

/** An entry `x` aligned to the output's frac (docs/bit-ir.md, `Operand`), as a long long. */
function alignExpr(o: StageOperand, table: string, x: string): string {
  if (o.table) return `${table}[(unsigned)${x}]`;
  return o.shift > 0 ? `(((long long)${x} + ${intLit(2 ** (o.shift - 1))}) >> ${o.shift})` : `(long long)${x}`;
}

/** `v` clamped to `bits`-bit two's complement, written to `target`. */
function clampTo(bits: number, v: string, target: string, type: string): string {
  const hi = 2 ** (bits - 1) - 1;
  const lo = -(2 ** (bits - 1));
  return `if (${v} > ${intLit(hi)}) ${v} = ${intLit(hi)};
if (${v} < ${intLit(lo)}) ${v} = ${intLit(lo)};
${target} = (${type})${v};`;
}

function streamParams(ins: readonly StreamInfo[], outs: readonly StreamInfo[], inName: (i: number) => string, outName: (i: number) => string): string {
  return [...ins.map((x, i) => `hls::stream<${beatT(x)}>& ${inName(i)}`), ...outs.map((x, i) => `hls::stream<${beatT(x)}>& ${outName(i)}`), 'unsigned reps'].join(', ');
}

function dupStage(s: DupStage): string {
  const writes = s.outs.map((_, i) => `out${i}.write(b);`).join('\n      ');
  return `${comment(`duplicate stream: every beat of ${s.in.tensor} to ${s.outs.length} readers`)}
static void ${s.name}(${streamParams([s.in], s.outs, () => 'in', (i) => `out${i}`)}) {
  for (unsigned r = 0; r < reps; r++) {
    for (unsigned i = 0; i < ${s.in.entries / s.in.beat}; i++) {
#pragma HLS PIPELINE II=1
      const ${beatT(s.in)} b = in.read();
      ${writes}
    }
  }
}
`;
}

function operandNote(o: StageOperand): string {
  return o.table ? 'level table' : o.shift > 0 ? `>> ${o.shift} rounded` : 'as is';
}

function addStage(s: AddStage): string {
  const tables = s.operands.map((o, i) => operandTable(o, `${s.name}_value${i}`)).join('');
  const reads = s.ins.map((x, i) => `const ${beatT(x)} b${i} = in${i}.read();`).join('\n      ');
  const sum = s.ins.map((_, i) => alignExpr(s.operands[i]!, `${s.name}_value${i}`, `b${i}.v[k]`)).join(' + ');
  const depths = s.ins.map((x) => x.depth ?? 2).join(', ');
  return `${header(s, `add streams: ${s.ins.map((x, i) => `${x.tensor} (${operandNote(s.operands[i]!)})`).join(' + ')}, clamped to ${s.outBits} bits; input FIFO depths ${depths}`)}${tables}static void ${s.name}(${streamParams(s.ins, [s.out], (i) => `in${i}`, () => 'out')}) {
  for (unsigned r = 0; r < reps; r++) {
    for (unsigned i = 0; i < ${s.out.entries / s.out.beat}; i++) {
#pragma HLS PIPELINE II=1
      ${reads}
      ${beatT(s.out)} o;
      for (unsigned k = 0; k < ${s.out.beat}; k++) {
        long long v = ${sum};
${indent(clampTo(s.outBits, 'v', 'o.v[k]', entryT(s.out)), 8)}
      }
      out.write(o);
    }
  }
}
`;
}

function concatStage(s: ConcatStage): string {
  const tables = s.operands.map((o, i) => operandTable(o, `${s.name}_value${i}`)).join('');
  const note = `concat along channels: ${s.ins.map((x, i) => `${x.tensor} (${operandNote(s.operands[i]!)})`).join(', ')}, clamped to ${s.outBits} bits`;
  const entry = (i: number, x: string, target: string): string =>
    `long long v = ${alignExpr(s.operands[i]!, `${s.name}_value${i}`, x)};
${clampTo(s.outBits, 'v', target, entryT(s.out))}`;
  let body: string;
  if (s.out.layout.kind === 'hwc') {
    // Per pixel, C_i / beat beats of each input in turn (the beat divides every C_i).
    const b = s.out.beat;
    const pixels = s.out.layout.h * s.out.layout.w;
    const parts = s.ins.map(
      (x, i) => `for (unsigned j = 0; j < ${(x.layout as { c: number }).c / b}; j++) {
#pragma HLS PIPELINE II=1
  const ${beatT(x)} b = in${i}.read();
  ${beatT(s.out)} o;
  for (unsigned k = 0; k < ${b}; k++) {
${indent(entry(i, 'b.v[k]', 'o.v[k]'), 4)}
  }
  out.write(o);
}`,
    );
    body = `    for (unsigned p = 0; p < ${pixels}; p++) {
${indent(parts.join('\n'), 6)}
    }`;
  } else {
    const g = s.out.beat;
    body = s.ins
      .map(
        (x, i) => `    for (unsigned n = 0; n < ${x.entries / x.beat}; n++) {
      const ${beatT(x)} b = in${i}.read();
      for (unsigned j = 0; j < ${x.beat / g}; j++) {
#pragma HLS PIPELINE II=1
        ${beatT(s.out)} o;
        for (unsigned k = 0; k < ${g}; k++) {
${indent(entry(i, `b.v[j * ${g} + k]`, 'o.v[k]'), 10)}
        }
        out.write(o);
      }
    }`,
      )
      .join('\n');
  }
  return `${header(s, note)}${tables}static void ${s.name}(${streamParams(s.ins, [s.out], (i) => `in${i}`, () => 'out')}) {
  for (unsigned r = 0; r < reps; r++) {
${body}
  }
}
`;
}

function argmaxStage(s: ArgmaxStage): string {
  return `${header(s, `argmax over ${s.classes} logits (ties: lowest index) → output AXI-Stream`)}${sig(s.name, beatT(s.in), OUT_AXIS_T)} {
  for (unsigned r = 0; r < reps; r++) {
    ${entryT(s.in)} best = 0;
    unsigned best_i = 0;
    unsigned i = 0;
    for (unsigned n = 0; n < ${s.in.entries / s.in.beat}; n++) {
#pragma HLS PIPELINE II=1
      const ${beatT(s.in)} b = in.read();
      for (unsigned k = 0; k < ${s.in.beat}; k++, i++) {
        const ${entryT(s.in)} v = b.v[k];
        HBNN_TRACE_LOGIT(i, v);
        if (i == 0 || (long long)v > (long long)best) {
          best = v;
          best_i = i;
        }
      }
    }
    out.write((${OUT_AXIS_T})best_i);
  }
}
`;
}

// ------------------------------------------------------------------------------------------
// Matrix-vector-threshold unit
// ------------------------------------------------------------------------------------------

/** The lane sum of one term for the PE `pe` at `tile` (arith.ts, "accumulator forms"). */
function termCode(u: UnitStage, ti: number, bitPlanes: boolean): string {
  const t = u.terms[ti]!;
  const form = u.arith.forms[ti]!;
  const p = unitPrefix(u);
  const S = u.simd;
  const word = `ap_uint<${S}>`;
  const binaryIn = u.in.entry.kind === 'binary';
  const inBits = u.in.entry.kind === 'fixed' ? u.in.entry.bits : 1;
  const laneBits = Math.ceil(Math.log2(S + 1)) + 1;
  // A vector-vector unit's PEs each read their own input chunk (index pe), a matrix-vector unit's share the chunk of column fold sf.
  const ix = u.groups > 1 ? 'pe' : 'sf';
  const raw = u.groups > 1 ? `in_raw.v[pe * ${S} + s]` : 'in_raw[sf].v[s]';
  const name = `term ${ti}: ${t.w ? `weight plane ${t.w}` : 'fixed-point weights'} × ${t.a ? `activation plane ${t.a}` : 'fixed-point input'}`;
  if (t.w > 0 && binaryIn) {
    const ws = signWord(u, t.w);
    const wm = maskWord(u, t.w);
    const as = `act_s[${ix}][${t.a - 1}]`;
    const am = `act_m[${ix}][${t.a - 1}]`;
    if (form.kind === 'bipolar') {
      return `// ${name}, plane always present: X = popcount(XNOR${wm ? ' & Mw' : ''}); acc = 2·X − popcount(Mw of the row)
acc[pe][${ti}] += hbnn::popcount<${S}>(~(${ws} ^ ${as})${wm ? ` & ${wm}` : ''});`;
    }
    if (form.kind === 'unipolar') {
      return `// ${name}, present activations are +1: X = popcount(~(Ws ^ Ma)${wm ? ' & Mw' : ''}); acc = X + popcount(Ws) − popcount(Mw) of the row
acc[pe][${ti}] += hbnn::popcount<${S}>(~(${ws} ^ ${am})${wm ? ` & ${wm}` : ''});`;
    }
    if (!wm) {
      return `// ${name}: 2·popcount(XNOR & Ma) − popcount(Ma)
acc[pe][${ti}] += 2 * hbnn::popcount<${S}>(~(${ws} ^ ${as}) & ${am}) - act_pm[${ix}][${t.a - 1}];`;
    }
    return `{  // ${name}: M = Mw & Ma; 2·popcount(XNOR & M) − popcount(M)
  const ${word} m = ${wm} & ${am};
  acc[pe][${ti}] += 2 * hbnn::popcount<${S}>(~(${ws} ^ ${as}) & m) - hbnn::popcount<${S}>(m);
}`;
  }
  if (t.w > 0 && !bitPlanes) {
    const wm = maskWord(u, t.w);
    return `{  // ${name}: add or subtract the inputs the plane has
  const ${word} ws = ${signWord(u, t.w)};
${wm ? `  const ${word} wm = ${wm};\n` : ''}  HBNN_LANE_T(${inBits + laneBits}) part = 0;
  for (unsigned s = 0; s < ${S}; s++) {
#pragma HLS UNROLL
    const HBNN_LANE_T(${inBits + 1}) v = ${raw};
    const HBNN_LANE_T(${inBits + 1}) nv = -v;
    ${wm ? 'if (hbnn::bit(wm, s)) ' : ''}part += hbnn::bit(ws, s) ? v : nv;
  }
  acc[pe][${ti}] += part;
}`;
  }
  if (t.w > 0) {
    const ws = signWord(u, t.w);
    const wm = maskWord(u, t.w);
    if (!wm) {
      return `// ${name}: Σ ±x = 2·Σ_{sign +1} x − Σ x, on the input's bit planes
acc[pe][${ti}] += 2 * hbnn::signed_sum<${S}, ${inBits}>(${ws}, in_bits[${ix}]) - in_sum[${ix}];`;
    }
    return `{  // ${name}: Σ over the weights the plane has of ±x, on the input's bit planes
  const ${word} wm = ${wm};
  acc[pe][${ti}] += 2 * hbnn::signed_sum<${S}, ${inBits}>(${ws} & wm, in_bits[${ix}]) - hbnn::signed_sum<${S}, ${inBits}>(wm, in_bits[${ix}]);
}`;
  }
  const wb = (u.weight as { bits: number }).bits;
  if (binaryIn) {
    return `{  // ${name}: w · (−1, 0 or +1)
  HBNN_LANE_T(${wb + laneBits}) part = 0;
  for (unsigned s = 0; s < ${S}; s++) {
#pragma HLS UNROLL
    const HBNN_LANE_T(${wb + 1}) v = ${p}_wv[pe][tile][s];
    const HBNN_LANE_T(${wb + 1}) nv = -v;
    const HBNN_LANE_T(${wb + 1}) zero = 0;
    part += !hbnn::bit(act_m[${ix}][${t.a - 1}], s) ? zero : hbnn::bit(act_s[${ix}][${t.a - 1}], s) ? v : nv;
  }
  acc[pe][${ti}] += part;
}`;
  }
  return `{  // ${name}: integer products
  HBNN_LANE_T(${wb + inBits + laneBits}) part = 0;
  for (unsigned s = 0; s < ${S}; s++) {
#pragma HLS UNROLL
    part += (HBNN_LANE_T(${wb + inBits}))${p}_wv[pe][tile][s] * (HBNN_LANE_T(${inBits}))${raw};
  }
  acc[pe][${ti}] += part;
}`;
}

/**
 * One row's S' and activation: the accumulators `x(t)`, the constants at [c][d], the
 * output entry `o.v[pe]`.
 */
function combineCode(u: UnitStage, x: (t: number) => string, c: string, d: string): string {
  const p = unitPrefix(u);
  const a = u.arith;
  const act = u.activation;
  const sumT = `ap_int<${a.sumBits}>`;
  let sum = `${sumT} S = ${act.kind === 'requantize' ? `${p}_bias[${c}][${d}]` : '0'};\n`;
  if (a.trivial) sum += `S += ${x(0)};\n`;
  else {
    a.k.forEach((kt, t) => {
      if (a.kConst[t] && kt[0] === 0) return;
      if (a.kConst[t] && kt[0] === 1) sum += `S += ${x(t)};\n`;
      else if (a.kConst[t] && isShift(kt[0]!)) sum += `S += (${sumT})${x(t)} * ${kt[0]!};  // a shift\n`;
      else if (a.kConst[t]) sum += `S += (ap_int<${a.kBits[t]! + a.xBits}>)(ap_int<${a.kBits[t]}>)${intLit(kt[0]!)} * ${x(t)};\n`;
      else sum += `S += (ap_int<${a.kBits[t]! + a.xBits}>)${p}_k${t}[${c}][${d}] * ${x(t)};\n`;
    });
  }
  if (act.kind === 'threshold') {
    const { count } = thresholdLayout(u);
    return (
      sum +
      (count === 0
        ? `o.v[pe] = ${p}_code[${c}][${d}][0];`
        : `unsigned band = 0;
for (unsigned t = 0; t < ${count}; t++) {
#pragma HLS UNROLL
  band += S >= ${p}_thr[${c}][${d}][t] ? 1 : 0;
}
o.v[pe] = ${p}_code[${c}][${d}][band];`)
    );
  }
  const hi = 2 ** (act.outBits - 1) - 1;
  const lo = -(2 ** (act.outBits - 1));
  return `${sum}${sumT} q = S >> ${act.shift};
if (q > ${intLit(hi)}) q = ${intLit(hi)};
if (q < ${intLit(lo)}) q = ${intLit(lo)};
o.v[pe] = (${entryT(u.out)})q;`;
}

/**
 * Per weight plane that not every PE uses: which PEs have a row that reaches it (PE p
 * computes rows nf·PE + p; the planes nest, so a row has plane k when its widest weight has
 * k bits or more). Planes every PE uses are left out.
 */
export function planesPerPe(u: Pick<UnitStage, 'weight' | 'pe'>): Map<number, boolean[]> {
  const out = new Map<number, boolean[]>();
  const widths = rowWidths(u.weight);
  if (!widths || u.weight.kind !== 'binary') return out;
  for (let k = 1; k <= u.weight.planes.length; k++) {
    const has = new Array<boolean>(u.pe).fill(false);
    widths.forEach((width, r) => {
      if (width >= k) has[r % u.pe] = true;
    });
    if (has.some((h) => !h)) out.set(k, has);
  }
  return out;
}

function unitStage(u: UnitStage): string {
  const p = unitPrefix(u);
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  const T = u.terms.length;
  const S = u.simd;
  const w = u.weight;
  const binaryIn = u.in.entry.kind === 'binary';
  const ka = u.in.entry.kind === 'binary' ? u.in.entry.planes : 0;
  const inBits = u.in.entry.kind === 'fixed' ? u.in.entry.bits : 1;
  const word = `ap_uint<${S}>`;
  const binaryWeights = u.terms.some((t) => t.w > 0);
  const fixedWeights = u.terms.some((t) => t.w === 0);
  const forms = u.arith.forms;
  // ±1 weights × fixed-point input: on the input's bit planes (popcounts) for wide SIMD, lane
  // by lane (conditional negation) for narrow SIMD. Both are the same integer sum.
  const bitPlanes = !binaryIn && binaryWeights && S >= BIT_PLANE_MIN_SIMD;
  const needBits = bitPlanes;
  const needRaw = !binaryIn && (fixedWeights || (binaryWeights && !bitPlanes));
  // popcount(Ma) shared by every PE: direct-form terms of planes every weight has.
  const sharedPam = new Set(u.terms.filter((t, i) => t.w > 0 && forms[i]!.kind === 'direct' && maskWord(u, t.w) === undefined).map((t) => t.a));
  const { c: C, g: G } = unitCombiners(u);
  const shared = C < u.pe;

  // What the PEs read per SF chunk, unpacked once when the chunk arrives (nf == 0) and
  // replayed for the other row folds: activation planes, or the input's two's complement bit
  // planes and their sum, or the raw entries (fixed-point weights). A vector-vector unit
  // (groups > 1) reads a new beat every cycle, PE p's chunk at entries p·SIMD.., and unpacks
  // it per PE (index pe instead of sf).
  const vv = u.groups > 1;
  const slots = vv ? u.pe : sf;
  const ix = vv ? 'pe' : 'sf';
  const off = vv ? `pe * ${S} + ` : '';
  const part = vv ? 'dim=0' : 'dim=2';
  const perPe = (code: string): string => (vv ? `for (unsigned pe = 0; pe < ${u.pe}; pe++) {\n#pragma HLS UNROLL\n${indent(code, 2)}\n}` : code);
  const buffers: string[] = [];
  const unpack: string[] = [];
  if (binaryIn) {
    buffers.push(`${word} act_s[${slots}][${ka}], act_m[${slots}][${ka}];\n#pragma HLS ARRAY_PARTITION variable=act_s complete ${part}\n#pragma HLS ARRAY_PARTITION variable=act_m complete ${part}`);
    if (sharedPam.size) buffers.push(`int act_pm[${slots}][${ka}];\n#pragma HLS ARRAY_PARTITION variable=act_pm complete ${part}`);
    unpack.push(
      perPe(`${word} ps[${ka}], pm[${ka}];
for (unsigned a = 0; a < ${ka}; a++) {
  ps[a] = 0;
  pm[a] = 0;
}
for (unsigned s = 0; s < ${S}; s++) {
#pragma HLS UNROLL
  const unsigned c = (unsigned)x.v[${off}s];
  for (unsigned a = 0; a < ${ka}; a++) {
    hbnn::set_bit(ps[a], s, (c >> a) & 1);
    hbnn::set_bit(pm[a], s, (c >> (${ka} + a)) & 1);
  }
}
for (unsigned a = 0; a < ${ka}; a++) {
  act_s[${ix}][a] = ps[a];
  act_m[${ix}][a] = pm[a];${sharedPam.size ? `\n  act_pm[${ix}][a] = hbnn::popcount<${S}>(pm[a]);  // ${vv ? 'per PE' : 'shared by every PE'} (direct-form planes without mask)` : ''}
}`),
    );
  }
  if (needBits) {
    buffers.push(`${word} in_bits[${slots}][${inBits}];\n#pragma HLS ARRAY_PARTITION variable=in_bits complete ${part}\nlong long in_sum[${slots}];`);
    unpack.push(
      perPe(`${word} pb[${inBits}];
for (unsigned b = 0; b < ${inBits}; b++) pb[b] = 0;
long long total = 0;
for (unsigned s = 0; s < ${S}; s++) {
#pragma HLS UNROLL
  const long long v = (long long)x.v[${off}s];
  total += v;
  for (unsigned b = 0; b < ${inBits}; b++) hbnn::set_bit(pb[b], s, (v >> b) & 1);
}
for (unsigned b = 0; b < ${inBits}; b++) in_bits[${ix}][b] = pb[b];
in_sum[${ix}] = total;`),
    );
  }
  if (needRaw) {
    buffers.push(vv ? `${beatT(u.in)} in_raw;` : `${beatT(u.in)} in_raw[${sf}];`);
    unpack.push(vv ? 'in_raw = x;' : 'in_raw[sf] = x;');
  }
  // Weight planes that some PE never uses (its rows stop at fewer bits; see grouping.ts):
  // that PE's term is not instantiated (pe is unrolled, so the guard is a constant).
  const live = planesPerPe(u);
  const liveArrays = [...live].map(([k, has]) => `static const bool ${p}_has_w${k}[${u.pe}] = {${has.map((h) => (h ? 1 : 0)).join(', ')}};\n#pragma HLS ARRAY_PARTITION variable=${p}_has_w${k} complete dim=1\n`).join('');
  const terms = u.terms
    .map((t, ti) => {
      const code = termCode(u, ti, bitPlanes);
      return t.w > 0 && live.has(t.w) ? `if (${p}_has_w${t.w}[pe]) {  // only in PEs whose rows have weight plane ${t.w}\n${indent(code, 2)}\n}` : code;
    })
    .join('\n');

  // Trace: the IR's accumulators, acc = α·X + β[row].
  const traceValue = (t: number, x: string): string => {
    const f = forms[t]!;
    if (!f.beta) return x;
    return `${f.alpha === 1 ? '' : `${f.alpha} * `}(long long)${x} + (long long)${p}_beta${t}[pe][nf]`;
  };
  const trace = (x: (t: number) => string): string =>
    u.terms.map((_, t) => `HBNN_TRACE_ACC(${u.index}, ${intLit(t * u.mh * u.reps)} + (long)row * ${u.reps} + px, ${traceValue(t, x(t))});`).join('\n');
  const accX = (t: number): string => `acc[pe][${t}]`;
  const holdX = (t: number): string => `hold[pe][${t}]`;
  const partitions =
    w.kind === 'binary'
      ? weightArrays(u)
          .map((n) => `#pragma HLS ARRAY_PARTITION variable=${n} complete dim=1\n`)
          .join('')
      : `#pragma HLS ARRAY_PARTITION variable=${p}_wv complete dim=1\n#pragma HLS ARRAY_PARTITION variable=${p}_wv complete dim=3\n`;
  const a = u.arith;
  const combPartitions = [
    ...a.k.flatMap((_, t) => (a.trivial || a.kConst[t] ? [] : [`${p}_k${t}`])),
    ...(u.activation.kind === 'threshold' ? [...(thresholdLayout(u).count > 0 ? [`${p}_thr`] : []), `${p}_code`] : [`${p}_bias`]),
  ]
    .map((n) => `#pragma HLS ARRAY_PARTITION variable=${n} complete dim=1\n`)
    .join('');
  const accT = `ap_int<${a.xBits}>`;
  const headerText = `${vv ? `vector-vector unit (${u.groups} groups; PE p reads its own SIMD entries of its row's group)` : 'matrix-vector-threshold unit'} ${u.layer}: MH=${u.mh} MW=${u.mw} PE=${u.pe} SIMD=${S}, ${u.reps} input vector(s) per sample, ${T} accumulator term(s) (${forms.map((f) => f.kind).join(', ')}), ${u.activation.kind}${shared ? `; ${C} shared combiner(s), each combining ${G} rows of a row fold during the next` : ''}`;
  const loopHead = `  for (unsigned r = 0; r < reps; r++) {
    for (unsigned px = 0; px < ${u.reps}; px++) {
      for (unsigned nf = 0; nf < ${nf}; nf++) {
        for (unsigned sf = 0; sf < ${sf}; sf++) {
#pragma HLS PIPELINE II=1
          ${vv ? '{\n            // Every PE\'s own chunk of its group\'s window: a new beat every cycle.' : 'if (nf == 0) {\n            // A new chunk of the input vector: unpack it once; later row folds replay it.'}
            const ${beatT(u.in)} x = in.read();
${indent(unpack.join('\n'), 12)}
          }
          const unsigned tile = nf * ${sf} + sf;`;
  const accumulate = `          for (unsigned pe = 0; pe < ${u.pe}; pe++) {
#pragma HLS UNROLL
            if (sf == 0) {
              for (unsigned t = 0; t < ${T}; t++) acc[pe][t] = 0;
            }
${indent(terms, 12)}
          }`;
  const loopTail = `        }
      }
    }
  }`;
  let body: string;
  if (!shared) {
    body = `${loopHead}
${accumulate}
          if (sf == ${sf - 1}) {
            ${beatT(u.out)} o;
            for (unsigned pe = 0; pe < ${u.pe}; pe++) {
#pragma HLS UNROLL
              const unsigned row = nf * ${u.pe} + pe;
${indent(trace(accX), 14)}
${indent(combineCode(u, accX, 'pe', 'nf'), 14)}
            }
            out.write(o);
          }
${loopTail}`;
  } else {
    // Row fold nf's accumulators are held and combined by C combiners over the first G
    // cycles of the next row fold (G ≤ SF): C rows per cycle, II=1 kept.
    const combineGroup = (g: string): string => `for (unsigned c = 0; c < ${C}; c++) {
#pragma HLS UNROLL
  const unsigned pe = ${g} * ${C} + c;
${indent(combineCode(u, holdX, 'c', `pnf * ${G} + ${g}`), 2)}
}`;
    body = `  ${accT} hold[${u.pe}][${T}];
#pragma HLS ARRAY_PARTITION variable=hold complete dim=0
  ${beatT(u.out)} o;
  bool pending = false;
  unsigned pnf = 0;
${loopHead}
          if (pending && sf < ${G}) {
            // Combine rows sf·C .. sf·C + C − 1 of the held row fold.
${indent(combineGroup('sf'), 12)}
            if (sf == ${G - 1}) {
              out.write(o);
              pending = false;
            }
          }
${accumulate}
          if (sf == ${sf - 1}) {
            for (unsigned pe = 0; pe < ${u.pe}; pe++) {
#pragma HLS UNROLL
              const unsigned row = nf * ${u.pe} + pe;
${indent(trace(accX), 14)}
              for (unsigned t = 0; t < ${T}; t++) hold[pe][t] = acc[pe][t];
            }
            pending = true;
            pnf = nf;
          }
${loopTail}
  if (pending) {
    // The last row fold: combine it after the loop (G cycles once per call).
    for (unsigned g = 0; g < ${G}; g++) {
#pragma HLS PIPELINE II=1
${indent(combineGroup('g'), 6)}
    }
    out.write(o);
  }`;
  }
  return `${header(u, headerText)}${sig(u.name, beatT(u.in), beatT(u.out))} {
${partitions}${combPartitions}${indent(liveArrays, 2)}${indent(buffers.join('\n'), 2)}
  ${accT} acc[${u.pe}][${T}];
#pragma HLS ARRAY_PARTITION variable=acc complete dim=0
${body}
}
`.replace(/\n\s*\n(\s*\n)+/g, '\n\n');
}
