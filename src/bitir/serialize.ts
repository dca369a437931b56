/**
 * BitProgram files: `ir.json` (stable and deterministic: the same model gives the same
 * bytes), `ir.txt` (readable listing) and `summary.md` (per-layer bit operations and
 * memory). `lowerBitIrFiles` returns them in memory; only the CLI writes files.
 *
 * In ir.json every typed array is a base64 string of its little-endian bytes: weight plane
 * words (Uint32), fixed weights (Int32).
 */
import type { Model } from '../ir/graph.js';
import { fail, ErrorCodes } from '../errors.js';
import { lowerToBitIR } from './lower.js';
import { summarizeProgram, type ProgramSummary } from './summary.js';
import { BITIR_FORMAT, unreachable, type BitOp, type BitProgram, type BitType, type LoweringOptions, type Operand, type WeightTensor } from './types.js';
import { formatCount } from '../util/numbers.js';


// ------------------------------------------------------------------------------------------
// JSON
// ------------------------------------------------------------------------------------------

function toBase64(a: Uint32Array | Int32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function fromBase64<T extends Uint32Array | Int32Array>(s: unknown, ctor: { new (b: ArrayBuffer): T }, what: string): T {
  if (typeof s !== 'string') fail(ErrorCodes.DATA_FORMAT, `ir.json: ${what} must be a base64 string`);
  const b = Buffer.from(s, 'base64');
  if (b.byteLength % 4 !== 0) fail(ErrorCodes.DATA_FORMAT, `ir.json: ${what} is not a whole number of 32-bit words`);
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new ctor(copy.buffer);
}

function weightToJson(w: WeightTensor): unknown {
  if (w.kind === 'fixed') {
    return { kind: w.kind, id: w.id, source: w.source, rows: w.rows, cols: w.cols, frac: w.frac, bits: w.bits, values: toBase64(w.values) };
  }
  return {
    kind: w.kind,
    id: w.id,
    source: w.source,
    rows: w.rows,
    cols: w.cols,
    wordsPerRow: w.wordsPerRow,
    planes: w.planes.map((p) => ({ scales: p.scales, signs: toBase64(p.signs), mask: toBase64(p.mask) })),
  };
}

/** The program as JSON text: one top-level key per line, one array element (tensor, weight, op) per line. */
export function bitProgramToJson(p: BitProgram): string {
  const doc = {
    format: p.format,
    source: p.source,
    options: p.options,
    input: p.input,
    outputs: p.outputs,
    tensors: p.tensors,
    weights: p.weights.map(weightToJson),
    ops: p.ops,
  };
  // One top-level key per line and one array element per line: diffs stay readable.
  const lines: string[] = ['{'];
  const keys = Object.keys(doc) as (keyof typeof doc)[];
  keys.forEach((k, i) => {
    const v = doc[k];
    const comma = i + 1 < keys.length ? ',' : '';
    if (Array.isArray(v)) {
      lines.push(`  ${JSON.stringify(k)}: [`);
      v.forEach((e, j) => lines.push(`    ${JSON.stringify(e)}${j + 1 < v.length ? ',' : ''}`));
      lines.push(`  ]${comma}`);
    } else {
      lines.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)}${comma}`);
    }
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Parses ir.json back into a BitProgram. */
export function bitProgramFromJson(text: string): BitProgram {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return fail(ErrorCodes.DATA_FORMAT, `ir.json is not valid JSON: ${(e as Error).message}`);
  }
  if (doc['format'] !== BITIR_FORMAT) fail(ErrorCodes.DATA_FORMAT, `ir.json has format ${JSON.stringify(doc['format'])}; this tool reads ${BITIR_FORMAT}`);
  const weights = (doc['weights'] as Record<string, unknown>[]).map((w): WeightTensor => {
    if (w['kind'] === 'fixed') return { ...(w as object), values: fromBase64(w['values'], Int32Array, `weight ${String(w['id'])}`) } as WeightTensor;
    const planes = (w['planes'] as Record<string, unknown>[]).map((pl, i) => ({
      scales: pl['scales'] as number[],
      signs: fromBase64(pl['signs'], Uint32Array, `weight ${String(w['id'])} plane ${i + 1} signs`),
      mask: fromBase64(pl['mask'], Uint32Array, `weight ${String(w['id'])} plane ${i + 1} mask`),
    }));
    return { ...(w as object), planes } as WeightTensor;
  });
  return {
    format: BITIR_FORMAT,
    source: doc['source'] as BitProgram['source'],
    options: doc['options'] as LoweringOptions,
    input: doc['input'] as BitProgram['input'],
    tensors: doc['tensors'] as BitProgram['tensors'],
    weights,
    ops: doc['ops'] as BitOp[],
    outputs: doc['outputs'] as BitProgram['outputs'],
  };
}

// ------------------------------------------------------------------------------------------
// Text
// ------------------------------------------------------------------------------------------

const fmtNum = (x: number): string => (Number.isInteger(x) ? String(x) : x.toPrecision(6));
const shapeStr = (s: readonly number[]): string => `[${s.join(',')}]`;

export function typeToText(t: BitType): string {
  switch (t.kind) {
    case 'fixed':
      return `fixed<${t.bits}b, frac ${t.frac}>${shapeStr(t.shape)}`;
    case 'binary':
      return `binary<${t.planes} planes, ${t.levels.length} levels>${shapeStr(t.shape)}`;
    case 'acc':
      return `acc<${t.terms.length} terms, ${t.bits}b>${shapeStr(t.shape)}`;
    case 'class':
      return 'class';
    default:
      return unreachable(t, 'tensor type');
  }
}

function opText(op: BitOp, types: Map<string, BitType>): string[] {
  const out = (id: string): string => `%${id}: ${typeToText(types.get(id)!)}`;
  const from = op.nodes.length ? `    # ${op.nodes.join(', ')}` : '';
  switch (op.op) {
    case 'input':
      return [`${out(op.output)} = input(${op.source})${from}`];
    case 'conv':
      return [
        `${out(op.output)} = conv(%${op.input}, @${op.weight}) kernel ${op.kernel.join('x')} strides ${op.strides.join(',')} pads ${op.pads.join(',')} dilations ${op.dilations.join(',')} group ${op.group}${from}`,
        ...termsText(types.get(op.output)!),
      ];
    case 'matvec':
      return [`${out(op.output)} = matvec(%${op.input}, @${op.weight})${from}`, ...termsText(types.get(op.output)!)];
    case 'threshold': {
      const counts = op.bands.map((b) => b.thresholds.length);
      const lines = [
        `${out(op.output)} = threshold(%${op.input}) sum ${op.sumBits}b, ${op.exact ? 'exact (single term)' : 'fixed-point combination'}, thresholds per channel ${Math.min(...counts)}..${Math.max(...counts)}${from}`,
        `      multipliers[t][0] = ${op.multipliers.map((m) => m[0]).join(', ')}; unit[0] = ${fmtNum(op.unit[0] ?? 0)}`,
        `      channel 0: thresholds ${op.bands[0]?.thresholds.join(' ')} -> levels ${op.bands[0]?.codes.join(' ')}`,
      ];
      const t = types.get(op.output);
      if (t?.kind === 'binary') lines.push(`      levels: ${levelsText(t)}`);
      return lines;
    }
    case 'requantize':
      return [
        `${out(op.output)} = requantize(%${op.input}) shift ${op.shift}, sum ${op.sumBits}b${from}`,
        `      multipliers[t][0] = ${op.multipliers.map((m) => m[0]).join(', ')}; bias[0] = ${op.bias[0]}`,
      ];
    case 'relu':
      return [`${out(op.output)} = relu(%${op.input})${op.map ? ` level map ${op.map.join(' ')}` : ''}${from}`];
    case 'maxpool':
      return [`${out(op.output)} = maxpool(%${op.input}) kernel ${op.kernel.join('x')} strides ${op.strides.join(',')} pads ${op.pads.join(',')} dilations ${op.dilations.join(',')}${op.ceilMode ? ' ceil' : ''}${from}`];
    case 'reshape':
      return [`${out(op.output)} = reshape(%${op.input})${from}`];
    case 'scale':
      return [`${out(op.output)} = scale(%${op.input}) multiplier ${op.multiplier} shift ${op.shift} (s = ${fmtNum(op.scale)})${from}`];
    case 'add':
      return [`${out(op.output)} = add(${op.inputs.map((i, k) => `%${i}${operandText(op.operands[k]!)}`).join(', ')})${from}`];
    case 'concat':
      return [`${out(op.output)} = concat(${op.inputs.map((i, k) => `%${i}${operandText(op.operands[k]!)}`).join(', ')}) channels${from}`];
    case 'avgpool':
      return [
        `${out(op.output)} = avgpool(%${op.input}${operandText(op.operand)})${op.global ? ' global' : ''} kernel ${op.kernel.join('x')} strides ${op.strides.join(',')} pads ${op.pads.join(',')}${op.ceilMode ? ' ceil' : ''}${op.countIncludePad ? ' count-pads' : ''} shift ${op.shift}${from}`,
        `      multipliers (divisor: m) ${Object.entries(op.multipliers).map(([n, m]) => `${n}: ${m}`).join(', ')}`,
      ];
    case 'clip':
      return [`${out(op.output)} = clip(%${op.input})${op.map ? ` level map ${op.map.join(' ')}` : ` [${op.lo ?? '-inf'}, ${op.hi ?? '+inf'}]`}${from}`];
    case 'leakyrelu':
      return [`${out(op.output)} = leakyrelu(%${op.input}) negative side × ${op.multiplier} >> ${op.shift} (alpha = ${fmtNum(op.alpha)})${from}`];
    case 'argmax':
      return [`${out(op.output)} = argmax(%${op.input})${from}`];
    default:
      return unreachable(op, 'op');
  }
}

function operandText(o: Operand): string {
  if (o.table) return ` table [${o.table.join(' ')}]`;
  return o.shift ? ` >> ${o.shift}` : '';
}

function termsText(t: BitType): string[] {
  if (t.kind !== 'acc') return [];
  return [`      terms (w,a): ${t.terms.map((x) => `(${x.w},${x.a}) coef[0]=${fmtNum(x.coef[0] ?? 0)}`).join('  ')}`];
}

function levelsText(t: Extract<BitType, { kind: 'binary' }>): string {
  return t.levels.map((l, i) => `${i}:${fmtNum(l.value)}{m${l.mask.toString(2).padStart(t.planes, '0')} s${l.signs.toString(2).padStart(t.planes, '0')}}`).join(' ');
}

function weightText(w: WeightTensor): string {
  if (w.kind === 'fixed') return `@${w.id}: fixed weight [${w.rows} x ${w.cols}] ${w.bits}b frac ${w.frac}    # ${w.source.join(', ')}`;
  const perChannel = w.planes.some((p) => p.scales.some((s) => s !== p.scales[0]));
  const mus = w.planes.map((p, i) => `mu${i + 1}=${perChannel ? 'per-channel' : fmtNum(p.scales[0] ?? 0)}`).join(' ');
  return `@${w.id}: binary weight [${w.rows} x ${w.cols}] ${w.planes.length} planes, ${w.wordsPerRow} words/row, ${mus}    # ${w.source.join(', ')}`;
}

/** A readable listing: header, weights, ops with their types and folded ONNX nodes. */
export function bitProgramToText(p: BitProgram): string {
  const types = new Map(p.tensors.map((t) => [t.id, t.type]));
  const o = p.options;
  const lines = [
    `bit-ir ${p.format}  graph "${p.source.graph}"  weights ${p.source.avgWeightBits.toFixed(3)} bits avg${p.source.avgActivationBits !== undefined ? `, activations ${p.source.avgActivationBits.toFixed(3)} bits avg` : ''}`,
    `fixed point: input ${o.inputBits}b frac ${o.inputFrac}; activations ${o.actBits}b frac ${o.actFrac}; logits ${o.logitBits}b frac ${o.logitFrac}; multipliers ${o.multiplierBits}b; kept weights ${o.weightBits}b${o.streamRanges ? `; fractions of ${Object.keys(o.streamRanges).length} streams from calibrated ranges (headroom ${o.rangeHeadroomBits} bit${o.rangeHeadroomBits === 1 ? '' : 's'}; each tensor's frac below)` : ''}`,
    `input ${p.input.name} ${shapeStr(p.input.shape)} -> outputs logits %${p.outputs.logits}, class %${p.outputs.class}`,
    '',
    'weights:',
    ...p.weights.map((w) => `  ${weightText(w)}`),
    '',
    'ops:',
  ];
  for (const op of p.ops) for (const l of opText(op, types)) lines.push(`  ${l}`);
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------------
// Summary
// ------------------------------------------------------------------------------------------

const thousands = formatCount;

export function summaryMarkdown(p: BitProgram, s: ProgramSummary = summarizeProgram(p)): string {
  const lines = [
    `# Bit-level IR summary (${p.format})`,
    '',
    `Graph "${p.source.graph}": weights ${p.source.avgWeightBits.toFixed(3)} bits on average${p.source.avgActivationBits !== undefined ? `, activations ${p.source.avgActivationBits.toFixed(3)} bits` : ''}.`,
    'Bit operations = Σ over weight parameters of weight bits × activation bits × uses (docs/bit-ir.md §4). Memory in bits.',
    '',
    '| layer | unit | in → out | params | weight bits (1/2/3…) | avg w bits | act bits | uses | MACs | bit ops | terms | sign bits | bit-map bits | constant bits | output buffer bits | consumer |',
    '|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const l of s.layers) {
    lines.push(
      `| ${l.op} | ${l.kind} | ${shapeStr(l.inShape)} → ${shapeStr(l.outShape)} | ${thousands(l.params)} | ${l.bitHistogram.map(thousands).join('/')} | ${l.avgWeightBits.toFixed(3)} | ${l.activationBits} | ${thousands(l.uses)} | ${thousands(l.macs)} | ${thousands(l.bitOps)} | ${l.terms} | ${thousands(l.weightSignBits)} | ${thousands(l.bitMapBits)} | ${thousands(l.constantBits)} | ${thousands(l.outputBufferBits)} | ${l.consumer} |`,
    );
  }
  const t = s.totals;
  lines.push(`| **total** | | | ${thousands(t.params)} | | | | | ${thousands(t.macs)} | ${thousands(t.bitOps)} | | ${thousands(t.weightSignBits)} | ${thousands(t.bitMapBits)} | ${thousands(t.constantBits)} | | |`);
  lines.push('');
  lines.push('Ops: ' + p.ops.map((o) => o.op).join(' → '));
  return lines.join('\n') + '\n';
}

/** The files of `hbnn-onnx lower --backend bit-ir`, in memory: ir.json, ir.txt, summary.md. */
export function lowerBitIrFiles(model: Model, options: Partial<LoweringOptions> = {}): Map<string, string | Uint8Array> {
  const p = lowerToBitIR(model, options);
  return new Map<string, string | Uint8Array>([
    ['ir.json', bitProgramToJson(p)],
    ['ir.txt', bitProgramToText(p)],
    ['summary.md', summaryMarkdown(p)],
  ]);
}
