/**
 * A quantized model (or its bit-level program) → the Verilog project: the vivado-hls plan
 * (`planVivadoHls`: folding, grouped rows, design stages) emitted stage by stage as
 * instances of the shared stage modules (hbnn_lib.v) and one module per matrix-vector unit,
 * a top module `hbnn_top` chaining them with valid/ready streams, and a self-checking
 * testbench with vectors from the bit-level IR interpreter.
 */
import { fail, ErrorCodes } from '../../errors.js';
import type { Model } from '../../ir/graph.js';
import type { BitProgram } from '../../bitir/types.js';
import { unreachable } from '../../bitir/types.js';
import { planVivadoHls, type VivadoHlsOptions, type VivadoHlsPlan } from '../vivado-hls/index.js';
import { entryBits } from '../vivado-hls/design.js';
import { computeVectors, syntheticSamples } from '../vivado-hls/vectors.js';
import { foldingJson } from '../vivado-hls/folding.js';
import { lineBufferRows, stageCycles } from '../vivado-hls/estimate.js';
import type { AvgPoolStage, HlsStage, StageOperand, StreamInfo, UnitStage } from '../vivado-hls/types.js';
import { signedBits } from '../vivado-hls/emit/cpp.js';
import { clocked, clog2, hexWord, packHex, printFile, slit, type Item, type Module, type Port, type Stmt } from './ast.js';
import { libraryModules } from './modules.js';
import { opModules } from './ops.js';
import { accFile, TRACE_BITS, unitModule } from './unit.js';
import type { MemoryInstance } from './memories.js';

export const TOP_MODULE = 'hbnn_top';
export const TB_MODULE = 'tb';
export const LIB_FILE = 'hbnn_lib.v';
export const TOP_FILE = 'hbnn_top.v';
export const TB_FILE = 'tb.v';
/** Design sources in read order (one per line), for simulators and synthesis scripts. */
export const SOURCES_FILE = 'sources.f';

export interface VerilogOptions extends Pick<VivadoHlsOptions, 'targetFps' | 'clockMhz' | 'folding' | 'groupRows' | 'lowering' | 'part'> {
  /** Testbench input: normalized float samples, row-major (default: synthetic samples). */
  testData?: Float32Array;
  /** Samples the testbench runs (default 8, at most what testData holds). */
  testSamples?: number;
  /** Samples whose accumulators every unit checks (default 2). */
  accSamples?: number;
}

export interface VerilogUnit {
  /** Module name (also `<module>.v`). */
  module: string;
  /** Layer (ONNX node of the conv/Gemm/MatMul). */
  layer: string;
  /** Instance name inside hbnn_top. */
  instance: string;
  file: string;
  /** Its memory files ($readmemh, relative to the project folder). */
  memories: string[];
  stage: UnitStage;
}

/** One stage instance of hbnn_top (for per-stage work such as gate-level power). */
export interface VerilogStage {
  /** The instance's name without its `u_` (the design stage's name; a helper instance of a stage adds a suffix). */
  name: string;
  /** The design stage's kind, or the module's name for a helper instance. */
  kind: string;
  instance: string;
  /** Its module (a unit's own, or a stage module of hbnn_lib.v) and the parameters hbnn_top gives it (Verilog constants). */
  module: string;
  params: Record<string, string>;
  /** Its ports as hbnn_top connects them (widths of the connected streams). */
  ports: Port[];
}

/** The stream ports of a stage instance (connect(), link()) and those that are inputs. */
const STREAM_PORTS = new Set(['clk', 'rst', 'in_valid', 'in_ready', 'in_data', 'out_valid', 'out_ready', 'out_data', 'out_class']);
const STAGE_INPUTS = new Set(['clk', 'rst', 'in_valid', 'in_data', 'out_ready']);

/** The width of a port or net of module `m` by name. */
function netWidth(m: Module, name: string): number | string | undefined {
  const port = m.ports.find((p) => p.name === name);
  if (port) return port.width;
  for (const it of m.items) if (it.kind === 'net' && it.name === name) return it.width ?? 1;
  return undefined;
}

/**
 * A module `name` that instantiates `s` exactly as hbnn_top does (same parameter expressions,
 * ports of the same widths): the stage on its own, e.g. to synthesize one instance with its
 * parameters (a signed constant stays signed, which chparam does not keep).
 */
export function stageWrapper(s: VerilogStage, name: string): Module {
  return {
    name,
    comment: [`${s.instance} of hbnn_top on its own: ${s.module} with hbnn_top's parameters`],
    params: [],
    ports: s.ports,
    items: [{ kind: 'instance', module: s.module, name: 'u', params: Object.entries(s.params), ports: s.ports.map((p) => [p.name, p.name]) }],
  };
}

export interface VerilogResult extends VivadoHlsPlan {
  /** Project files by relative path. */
  files: Map<string, string>;
  top: string;
  /** The design's Verilog sources in read order (what sources.f lists; no testbench). */
  sources: string[];
  units: VerilogUnit[];
  /** Every memory of the design (unit ROMs, line buffers), by instance path inside the top module. */
  memories: MemoryInstance[];
  /** Every instance of hbnn_top with the stream ports (clk, rst, in_*, out_*), in stream order. */
  stages: VerilogStage[];
  testSamples: number;
  accSamples: number;
}

const isProgramOrModel = (x: unknown): x is BitProgram | Model => typeof x === 'object' && x !== null;

function unsupported(s: HlsStage, why: string): never {
  const node = s.nodes[0];
  return fail(ErrorCodes.LOWERING, `verilog cannot map ${node ? `node "${node}"` : `stage ${s.name}`} (${s.kind}): ${why} (the verilog backend maps the stages ${VERILOG_STAGE_KINDS.join(', ')})`, { ...(node ? { node } : {}), op: s.kind });
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

const streamWires = (s: StreamInfo): Item[] => [
  { kind: 'net', net: 'wire', name: `${s.name}_valid`, width: 1 },
  { kind: 'net', net: 'wire', name: `${s.name}_ready`, width: 1 },
  { kind: 'net', net: 'wire', name: `${s.name}_data`, width: s.beat * entryBits(s.entry), comment: `${s.tensor}: ${s.beat} entr${s.beat === 1 ? 'y' : 'ies'} of ${entryBits(s.entry)} bits per beat` },
];

function connect(inS: StreamInfo | 'top', outS: StreamInfo | 'top'): [string, string][] {
  const i = inS === 'top' ? ['in_valid', 'in_ready', 'in_data'] : [`${inS.name}_valid`, `${inS.name}_ready`, `${inS.name}_data`];
  const o = outS === 'top' ? ['out_valid', 'out_ready', 'out_class'] : [`${outS.name}_valid`, `${outS.name}_ready`, `${outS.name}_data`];
  return [
    ['clk', 'clk'],
    ['rst', 'rst'],
    ['in_valid', i[0]!],
    ['in_ready', i[1]!],
    ['in_data', i[2]!],
    ['out_valid', o[0]!],
    ['out_ready', o[1]!],
    [outS === 'top' ? 'out_class' : 'out_data', o[2]!],
  ];
}

const geometry = (s: { channels: number; height: number; width: number; kernel: [number, number]; strides: [number, number]; pads: [number, number, number, number]; dilations: [number, number]; outHeight: number; outWidth: number; in: StreamInfo }): [string, string][] => [
  ['EB', String(entryBits(s.in.entry))],
  ['C', String(s.channels)],
  ['H', String(s.height)],
  ['W', String(s.width)],
  ['KH', String(s.kernel[0])],
  ['KW', String(s.kernel[1])],
  ['SH', String(s.strides[0])],
  ['SW', String(s.strides[1])],
  ['PT', String(s.pads[0])],
  ['PL', String(s.pads[1])],
  ['DH', String(s.dilations[0])],
  ['DW', String(s.dilations[1])],
  ['OH', String(s.outHeight)],
  ['OW', String(s.outWidth)],
];

/** The stage kinds the Verilog backend maps (for messages). */
export const VERILOG_STAGE_KINDS: readonly HlsStage['kind'][] = ['input', 'dwc', 'window', 'unit', 'relu', 'clip', 'leakyrelu', 'threshold', 'maxpool', 'avgpool', 'scale', 'dup', 'add', 'concat', 'argmax'];

/** The valid/ready/data nets of a stream (a `suffix` names a net set derived from it: its FIFO's output, its aligned form, ...). */
const ends = (s: StreamInfo, suffix = ''): [string, string, string] => [`${s.name}${suffix}_valid`, `${s.name}${suffix}_ready`, `${s.name}${suffix}_data`];

/** Nets of a derived stream (`ends(s, suffix)`) of `width` bits per beat. */
const derivedWires = (s: StreamInfo, suffix: string, width: number, comment: string): Item[] => {
  const [v, r, d] = ends(s, suffix);
  return [
    { kind: 'net', net: 'wire', name: v, width: 1 },
    { kind: 'net', net: 'wire', name: r, width: 1 },
    { kind: 'net', net: 'wire', name: d, width, comment },
  ];
};

/** The ports of a one-in one-out stream instance between two net sets. */
const link = (i: [string, string, string], o: [string, string, string]): [string, string][] => [
  ['clk', 'clk'],
  ['rst', 'rst'],
  ['in_valid', i[0]],
  ['in_ready', i[1]],
  ['in_data', i[2]],
  ['out_valid', o[0]],
  ['out_ready', o[1]],
  ['out_data', o[2]],
];

/** `{x_{N-1}, …, x_0}`: input 0 in the low bits. */
const bus = (xs: readonly string[]): string => (xs.length === 1 ? xs[0]! : `{${[...xs].reverse().join(', ')}}`);

/** The valid, ready and data nets of several streams joined into one multi-input stage's buses. */
const joined = (nets: readonly [string, string, string][]): [string, string, string] => [bus(nets.map((n) => n[0])), bus(nets.map((n) => n[1])), bus(nets.map((n) => n[2]))];

/**
 * Hex digits of one literal in a parameter: a longer constant is written as a concatenation of
 * such literals, one per line. Icarus Verilog's lexer cannot hold a token longer than its 16 KiB
 * buffer ("input buffer overflow, can't enlarge buffer because scanner uses REJECT"): a
 * 784-channel threshold stage's THR (TFC's input binarizer) is 38,808 hex digits on one line.
 * The value is the same (the concatenation is elaborated into one constant).
 */
export const PARAM_LITERAL_DIGITS = 1024;

/** A literal parameter of packed fields (field 0 in the low bits); long ones split (PARAM_LITERAL_DIGITS). */
export const packedParam = (fields: readonly (number | bigint)[], width: number): string => {
  if (!fields.length) return "1'b0";
  const bits = fields.length * width;
  const hex = packHex(fields, width);
  if (hex.length <= PARAM_LITERAL_DIGITS) return `${bits}'h${hex}`;
  // chunks of PARAM_LITERAL_DIGITS digits from the low end; the first (high) one takes the rest of the width
  const chunks: string[] = [];
  let end = hex.length;
  while (end > PARAM_LITERAL_DIGITS) {
    chunks.unshift(`${PARAM_LITERAL_DIGITS * 4}'h${hex.slice(end - PARAM_LITERAL_DIGITS, end)}`);
    end -= PARAM_LITERAL_DIGITS;
  }
  chunks.unshift(`${bits - (hex.length - end) * 4}'h${hex.slice(0, end)}`);
  return `{\n      ${chunks.join(',\n      ')}\n    }`;
};

/** Signed bits of an operand's aligned values (docs/bit-ir.md, `Operand`): the input's own width, or the table's. */
function alignedBits(x: StreamInfo, o: StageOperand): number {
  if (o.table) return Math.max(2, signedBits(o.table));
  return entryBits(x.entry) - o.shift + (o.shift > 0 ? 1 : 0);
}

/** The average pool's input as an operand aligned to its output's frac. */
const avgPoolOperand = (s: AvgPoolStage): StageOperand => ({ shift: s.alignShift, ...(s.table ? { table: s.table } : {}) });

/**
 * Where an add/concat/average-pool input is read: through a FIFO of its depth when the stream
 * has one (`StreamInfo.depth` > 2), then `hbnn_align` to the output's frac, `oeb` bits.
 * Returns the aligned stream's nets and the items that make it.
 */
function alignedInput(s: HlsStage, x: StreamInfo, o: StageOperand, oeb: number, i: number): { items: Item[]; nets: [string, string, string] } {
  const items: Item[] = [];
  const eb = entryBits(x.entry);
  let src = ends(x);
  if ((x.depth ?? 2) > 2) {
    items.push(...derivedWires(x, '_fifo', x.beat * eb, `${x.tensor} after a FIFO of ${x.depth} beats`));
    items.push({ kind: 'instance', module: 'hbnn_fifo', name: `u_${s.name}_fifo${i}`, params: [['W', String(x.beat * eb)], ['DEPTH', String(x.depth)]], ports: link(src, ends(x, '_fifo')) });
    src = ends(x, '_fifo');
  }
  const teb = o.table ? Math.max(2, signedBits(o.table)) : 8;
  items.push(...derivedWires(x, '_aligned', x.beat * oeb, `${x.tensor} aligned (${o.table ? 'level table' : o.shift > 0 ? `>> ${o.shift} rounded` : 'as is'}), ${oeb} bits per entry`));
  items.push({
    kind: 'instance',
    module: 'hbnn_align',
    name: `u_${s.name}_align${i}`,
    params: [
      ['IEB', String(eb)],
      ['OEB', String(oeb)],
      ['BEAT', String(x.beat)],
      ['SHIFT', String(o.shift)],
      ['BINARY', o.table ? '1' : '0'],
      ['TEB', String(teb)],
      ['TABLE', o.table ? packedParam(o.table, teb) : "8'd0"],
    ],
    ports: link(src, ends(x, '_aligned')),
  });
  return { items, nets: ends(x, '_aligned') };
}

/**
 * The instances of one stage in hbnn_top, with the nets they add: a unit's or a line-buffered
 * stage's input through a FIFO of its depth first, when it has one (vivado-hls design.ts rule 6:
 * a unit that replays its input while a slower unit goes on; a window or pool that reads only
 * between emitting rows).
 */
function stageInstance(s: HlsStage, unitNames: Map<UnitStage, string>): Item[] {
  if ((s.kind === 'unit' || s.kind === 'window' || s.kind === 'maxpool') && (s.in.depth ?? 2) > 2) {
    const w = s.in.beat * entryBits(s.in.entry);
    const fifo: Item[] = [
      ...derivedWires(s.in, '_fifo', w, `${s.in.tensor} after a FIFO of ${s.in.depth} beats`),
      { kind: 'instance', module: 'hbnn_fifo', name: `u_${s.name}_fifo`, params: [['W', String(w)], ['DEPTH', String(s.in.depth)]], ports: link(ends(s.in), ends(s.in, '_fifo')) },
    ];
    return [...fifo, ...stageItems({ ...s, in: { ...s.in, name: `${s.in.name}_fifo`, depth: 2 } } as HlsStage, unitNames, s)];
  }
  return stageItems(s, unitNames, s);
}

/** The instances of one stage (units: their own module; `orig` the stage as planned, for its unit's name). */
function stageItems(s: HlsStage, unitNames: Map<UnitStage, string>, orig: HlsStage): Item[] {
  const inst = (module: string, params: [string, string][], ports: [string, string][]): Item[] => [{ kind: 'instance', module, name: `u_${s.name}`, params, ports }];
  switch (s.kind) {
    case 'input':
      return inst('hbnn_dwc', [['EB', String(s.entry.bits)], ['IN', '1'], ['OUT', String(s.out.beat)], ['G', '1']], connect('top', s.out));
    case 'dwc':
      return inst('hbnn_dwc', [['EB', String(entryBits(s.in.entry))], ['IN', String(s.in.beat)], ['OUT', String(s.out.beat)], ['G', String(gcd(s.in.beat, s.out.beat))]], connect(s.in, s.out));
    case 'window': {
      const g = s.grouped;
      if (!g) return inst('hbnn_swu', [...geometry(s), ['SIMD', String(s.out.beat)]], connect(s.in, s.out));
      // Constant tables for the group-local addressing (the module builds no divider).
      const ib = clog2(s.kernel[0] * s.kernel[1] * s.channels);
      const groupBase = Array.from({ length: g.mh }, (_, r) => Math.floor(r / g.rowsPerGroup) * g.channelsPerGroup);
      const columnAt = Array.from({ length: g.mw }, (_, j) => Math.floor(j / g.channelsPerGroup) * s.channels + (j % g.channelsPerGroup));
      return inst(
        'hbnn_swu_grouped',
        [
          ...geometry(s),
          ['PE', String(g.pe)],
          ['SIMD', String(g.simd)],
          ['NF', String(g.mh / g.pe)],
          ['SF', String(g.mw / g.simd)],
          ['IB', String(ib)],
          ['GROUP_BASE', packedParam(groupBase, ib)],
          ['COLUMN_AT', packedParam(columnAt, ib)],
        ],
        connect(s.in, s.out),
      );
    }
    case 'unit':
      return [{ kind: 'instance', module: unitNames.get(orig as UnitStage)!, name: `u_${s.name}`, params: [['CHECK_SAMPLES', 'CHECK_SAMPLES']], ports: connect(s.in, s.out) }];
    case 'relu':
    case 'clip': {
      const ieb = entryBits(s.in.entry);
      const oeb = entryBits(s.out.entry);
      if (s.table) {
        return inst('hbnn_table', [['IEB', String(ieb)], ['OEB', String(oeb)], ['BEAT', String(s.in.beat)], ['TABLE', `${s.table.length * oeb}'h${packHex(s.table, oeb)}`]], connect(s.in, s.out));
      }
      if (s.kind === 'clip') {
        return inst(
          'hbnn_clip',
          [['IEB', String(ieb)], ['OEB', String(oeb)], ['BEAT', String(s.in.beat)], ['USE_LO', s.lo === null ? '0' : '1'], ['USE_HI', s.hi === null ? '0' : '1'], ['LO', slit(s.lo ?? 0, 64)], ['HI', slit(s.hi ?? 0, 64)]],
          connect(s.in, s.out),
        );
      }
      return inst('hbnn_relu', [['IEB', String(ieb)], ['OEB', String(oeb)], ['BEAT', String(s.in.beat)]], connect(s.in, s.out));
    }
    case 'leakyrelu':
      return inst('hbnn_leakyrelu', [['IEB', String(entryBits(s.in.entry))], ['OEB', String(entryBits(s.out.entry))], ['BEAT', String(s.in.beat)], ['MULT', slit(s.multiplier, 64)], ['SHIFT', String(s.shift)]], connect(s.in, s.out));
    case 'threshold': {
      if (s.in.beat > s.channels) unsupported(s, `a threshold beat of ${s.in.beat} entries spans more than its ${s.channels} channels`);
      // As the HLS stage: thresholds padded to the longest band list with a sentinel never reached.
      const count = Math.max(0, ...s.thresholds.map((t) => t.length));
      const tb = Math.max(signedBits(s.thresholds.flat()), s.sumBits) + 1;
      const sentinel = 2 ** (tb - 1) - 1;
      const oeb = entryBits(s.out.entry);
      const thr = s.thresholds.flatMap((t) => Array.from({ length: count }, (_, i) => (i < t.length ? t[i]! : sentinel)));
      const codes = s.codes.flatMap((c) => Array.from({ length: count + 1 }, (_, i) => c[Math.min(i, c.length - 1)]!));
      return inst(
        'hbnn_threshold',
        [['IEB', String(entryBits(s.in.entry))], ['OEB', String(oeb)], ['BEAT', String(s.in.beat)], ['C', String(s.channels)], ['NT', String(count)], ['TB', String(tb)], ['THR', packedParam(thr, tb)], ['CODE', packedParam(codes, oeb)]],
        connect(s.in, s.out),
      );
    }
    case 'maxpool': {
      const binary = s.in.entry.kind === 'binary';
      const rank = binary ? `${s.rankOfCode!.length * 8}'h${packHex(s.rankOfCode!, 8)}` : "8'd0";
      return inst('hbnn_maxpool', [...geometry(s), ['BINARY', binary ? '1' : '0'], ['RANK', rank]], connect(s.in, s.out));
    }
    case 'avgpool': {
      const operand = avgPoolOperand(s);
      const aeb = alignedBits(s.in, operand);
      const a = alignedInput(s, s.in, operand, aeb, 0);
      const oeb = entryBits(s.out.entry);
      const out = ends(s.out);
      if (s.global) {
        if (s.out.beat !== s.in.beat) unsupported(s, `a global average pool writes beats of its input's ${s.in.beat} entries, not ${s.out.beat}`);
        const ab = aeb + clog2(s.height * s.width) + 1;
        const mult = s.mult[0]!;
        return [
          ...a.items,
          ...inst(
            'hbnn_gap',
            [['EB', String(aeb)], ['OEB', String(oeb)], ['BEAT', String(s.in.beat)], ['C', String(s.channels)], ['PIX', String(s.height * s.width)], ['AB', String(ab)], ['PB', String(ab + signedBits([mult]) + 1)], ['MULT', slit(mult, 64)], ['SHIFT', String(s.shift)]],
            link(a.nets, out),
          ),
        ];
      }
      const ab = aeb + clog2(s.kernel[0] * s.kernel[1]) + 1;
      const mb = Math.max(1, ...s.mult.map((m) => m.toString(2).length));
      return [
        ...a.items,
        ...inst(
          'hbnn_avgpool',
          [
            ...geometry(s).map(([k, v]): [string, string] => (k === 'EB' ? [k, String(aeb)] : [k, v])),
            ['OEB', String(oeb)],
            ['OBEAT', String(s.out.beat)],
            ['AB', String(ab)],
            ['PB', String(ab + mb + 2)],
            ['MB', String(mb)],
            ['MULTS', packedParam(s.mult, mb)],
            ['SHIFT', String(s.shift)],
          ],
          link(a.nets, out),
        ),
      ];
    }
    case 'scale':
      return inst('hbnn_scale', [['IEB', String(entryBits(s.in.entry))], ['OEB', String(entryBits(s.out.entry))], ['BEAT', String(s.in.beat)], ['MULT', slit(s.multiplier, 64)], ['SHIFT', String(s.shift)]], connect(s.in, s.out));
    case 'argmax':
      return inst('hbnn_argmax', [['EB', String(entryBits(s.in.entry))], ['BEAT', String(s.in.beat)], ['N', String(s.classes)], ['CB', String(s.classBits)]], connect(s.in, 'top'));
    case 'dup': {
      // One data bus for every reader: the readers' data nets are the first one's.
      const [v, r, d] = ends(s.in);
      const items: Item[] = inst('hbnn_dup', [['W', String(s.in.beat * entryBits(s.in.entry))], ['N', String(s.outs.length)]], [
        ['clk', 'clk'],
        ['rst', 'rst'],
        ['in_valid', v],
        ['in_ready', r],
        ['in_data', d],
        ['out_valid', bus(s.outs.map((o) => ends(o)[0]))],
        ['out_ready', bus(s.outs.map((o) => ends(o)[1]))],
        ['out_data', ends(s.outs[0]!)[2]],
      ]);
      for (const o of s.outs.slice(1)) items.push({ kind: 'assign', lhs: ends(o)[2], rhs: ends(s.outs[0]!)[2] });
      return items;
    }
    case 'add': {
      // Every input aligned to AB bits (wide enough that the alignment never clamps), then summed and clamped.
      const ab = Math.max(...s.ins.map((x, i) => alignedBits(x, s.operands[i]!)));
      const aligned = s.ins.map((x, i) => alignedInput(s, x, s.operands[i]!, ab, i));
      return [
        ...aligned.flatMap((a) => a.items),
        ...inst('hbnn_add', [['N', String(s.ins.length)], ['AB', String(ab)], ['OEB', String(entryBits(s.out.entry))], ['BEAT', String(s.out.beat)]], link(joined(aligned.map((a) => a.nets)), ends(s.out))),
      ];
    }
    case 'concat': {
      // Every input aligned and clamped to the output's bits; a vector input of another beat is
      // repacked to the output's beat; then COUNTS[i] beats of input i in turn.
      const oeb = entryBits(s.out.entry);
      const g = s.out.beat;
      const items: Item[] = [];
      const nets = s.ins.map((x, i) => {
        const a = alignedInput(s, x, s.operands[i]!, oeb, i);
        items.push(...a.items);
        if (x.beat === g) return a.nets;
        items.push(...derivedWires(x, '_beat', g * oeb, `${x.tensor} aligned, in beats of ${g}`));
        items.push({ kind: 'instance', module: 'hbnn_dwc', name: `u_${s.name}_dwc${i}`, params: [['EB', String(oeb)], ['IN', String(x.beat)], ['OUT', String(g)], ['G', String(gcd(x.beat, g))]], ports: link(a.nets, ends(x, '_beat')) });
        return ends(x, '_beat');
      });
      const counts = s.ins.map((x) => (s.out.layout.kind === 'hwc' ? (x.layout as { c: number }).c / g : x.entries / g));
      const cb = clog2(Math.max(...counts));
      return [
        ...items,
        ...inst('hbnn_concat', [['N', String(s.ins.length)], ['EB', String(oeb)], ['BEAT', String(g)], ['CB', String(cb)], ['COUNTS', packedParam(counts, cb)]], link(joined(nets), ends(s.out))),
      ];
    }
    default:
      return unreachable(s, 'stage');
  }
}

function topModule(plan: VivadoHlsPlan, unitNames: Map<UnitStage, string>): Module {
  const d = plan.design;
  const items: Item[] = [];
  // Instances first: a stage the backend does not map is a LOWERING error before anything else.
  const instances = d.stages.map((s) => stageInstance(s, unitNames));
  for (const s of d.stages) {
    if ('out' in s) items.push(...streamWires(s.out));
    if (s.kind === 'dup') for (const o of s.outs) items.push(...streamWires(o));
  }
  items.push({ kind: 'blank' });
  d.stages.forEach((s, i) => {
    items.push({ kind: 'comment', text: `${s.kind} ${s.name}${s.nodes.length ? ` (${s.nodes.join(', ')})` : ''}` });
    // Nets a stage adds (FIFO outputs, aligned operands) first, then its instances.
    const own = instances[i]!;
    items.push(...own.filter((it) => it.kind === 'net'), ...own.filter((it) => it.kind !== 'net'));
  });
  return {
    name: TOP_MODULE,
    comment: [
      `${d.graph}: ${d.stages.length} streaming stages, ${d.units.length} units (${d.units.filter((u) => u.groups > 1).length} of them vector-vector); input: one ${d.input.entry.bits}-bit entry per beat`,
      `(q = round(x·2^${d.input.entry.frac}), [${d.input.shape.join(',')}] in ${d.input.layout.kind === 'hwc' ? 'HWC' : 'index'} order); output: the class index per sample`,
    ],
    params: [{ name: 'CHECK_SAMPLES', value: '0', comment: 'simulation (HBNN_CHECK): samples whose accumulators every unit checks' }],
    ports: [
      { dir: 'input', name: 'clk', width: 1 },
      { dir: 'input', name: 'rst', width: 1, comment: 'synchronous, active high' },
      { dir: 'input', name: 'in_valid', width: 1 },
      { dir: 'output', name: 'in_ready', width: 1 },
      { dir: 'input', name: 'in_data', width: d.input.entry.bits, comment: 'one input entry (signed fixed point)' },
      { dir: 'output', name: 'out_valid', width: 1 },
      { dir: 'input', name: 'out_ready', width: 1 },
      { dir: 'output', name: 'out_class', width: d.output.classBits },
    ],
    items,
  };
}

/** The self-checking testbench: feeds every sample, checks classes and logits, sums the units' accumulator checks. */
function testbench(plan: VivadoHlsPlan, units: VerilogUnit[], samples: number, accSamples: number): Module {
  const d = plan.design;
  const argmax = d.stages[d.stages.length - 1]!;
  if (argmax.kind !== 'argmax') fail(ErrorCodes.INTERNAL, 'the design does not end with its argmax stage');
  const logit = argmax.in;
  const lb = entryBits(logit.entry);
  const entries = d.input.entries;
  const classes = d.output.classes;
  const cb = d.output.classBits;
  // Cycle budget: every stage's cycles in series per sample, four times over (the RTL's
  // window and pooling stages take a few more cycles than the HLS schedule), plus slack.
  const serial = d.stages.reduce((a, s) => a + stageCycles(s), 0);
  const limit = (samples + 2) * serial * 4 + 100_000;
  // A unit may still be computing rows of the last sample that no later stage reads (a
  // floor-mode pool drops its last row or column) when the last class is out: the summary
  // waits for every unit's checks, at most one sample's serial cycles four times over.
  const drain = serial * 4 + 1_000;
  const set = (lhs: string, rhs: string, blocking = false): Stmt => ({ kind: 'set', lhs, rhs, blocking });
  const display = (fmt: string, ...args: string[]): Stmt => ({ kind: 'call', name: '$display', args: [`"${fmt}"`, ...args] });
  const accSum = units.length ? units.map((u) => `dut.${u.instance}.acc_mismatches`).join(' + ') : '0';
  const accChecked = units.length ? units.map((u) => `dut.${u.instance}.acc_checked`).join(' + ') : '0';
  // Every unit checks each accumulator of its first accSamples samples once: the counts a PASS needs.
  const expectedChecks = units.map((u) => accSamples * u.stage.terms.length * u.stage.mh * u.stage.reps);
  const checksDone = units.length ? `(${units.map((u, i) => `dut.${u.instance}.acc_checked == ${expectedChecks[i]}`).join(' && ')})` : "1'b1";
  // The reported cycles are those of the last class (the throughput figure), without the drain below.
  const summary = (timeout: boolean): Stmt[] => [
    set('acc_total', accSum, true),
    set('acc_checked_total', accChecked, true),
    display('hbnn-tb: samples %0d, class mismatches %0d, logit mismatches %0d, accumulator mismatches %0d', 'classes_seen', 'class_errors', 'logit_errors', 'acc_total'),
    display('hbnn-tb: checked %0d classes, %0d logits, %0d accumulators in %0d cycles', 'classes_seen', 'logits_seen', 'acc_checked_total', timeout ? 'cycle' : 'last_class_cycle'),
    ...(timeout ? [] : [{ kind: 'if', cond: 'cycle > last_class_cycle', then: [display("hbnn-tb: the units' last accumulator checks ended %0d cycles after the last class", 'cycle - last_class_cycle')] } satisfies Stmt]),
    ...units.map((u, i): Stmt => ({
      kind: 'if',
      cond: `dut.${u.instance}.acc_checked != ${expectedChecks[i]}`,
      then: [display(`hbnn-tb: ${u.instance} checked %0d of ${expectedChecks[i]} accumulators`, `dut.${u.instance}.acc_checked`)],
    })),
    {
      kind: 'if',
      cond: `classes_seen == SAMPLES && logits_seen == SAMPLES * CLASSES && class_errors == 0 && logit_errors == 0 && acc_total == 0 && ${checksDone}`,
      then: [display('hbnn-tb: PASS')],
      else: [display('hbnn-tb: FAIL')],
    },
    { kind: 'call', name: '$finish', args: [] },
  ];
  const items: Item[] = [
    { kind: 'localparam', name: 'SAMPLES', value: String(samples) },
    { kind: 'localparam', name: 'ENTRIES', value: String(entries), comment: 'input entries per sample' },
    { kind: 'localparam', name: 'CLASSES', value: String(classes) },
    { kind: 'localparam', name: 'ACC_SAMPLES', value: String(accSamples) },
    { kind: 'localparam', name: 'LIMIT', value: String(limit), comment: 'cycles before the testbench gives up' },
    { kind: 'localparam', name: 'DRAIN', value: String(drain), comment: "cycles after the last class that the testbench waits for the units' last accumulator checks" },
    { kind: 'net', net: 'reg', name: 'clk', width: 1 },
    { kind: 'net', net: 'reg', name: 'rst', width: 1 },
    { kind: 'net', net: 'wire', name: 'in_valid', width: 1 },
    { kind: 'net', net: 'wire', name: 'in_ready', width: 1 },
    { kind: 'net', net: 'wire', name: 'in_data', width: d.input.entry.bits },
    { kind: 'net', net: 'wire', name: 'out_valid', width: 1 },
    { kind: 'net', net: 'wire', name: 'out_class', width: cb },
    { kind: 'net', net: 'reg', name: 'inputs', width: d.input.entry.bits, depth: samples * entries },
    { kind: 'net', net: 'reg', name: 'expected_logits', width: lb, depth: samples * classes },
    { kind: 'net', net: 'reg', name: 'expected_class', width: cb, depth: samples },
    { kind: 'net', net: 'integer', name: 'fed' },
    { kind: 'net', net: 'integer', name: 'cycle' },
    { kind: 'net', net: 'integer', name: 'last_class_cycle' },
    { kind: 'net', net: 'integer', name: 'classes_seen' },
    { kind: 'net', net: 'integer', name: 'logits_seen' },
    { kind: 'net', net: 'integer', name: 'class_errors' },
    { kind: 'net', net: 'integer', name: 'logit_errors' },
    { kind: 'net', net: 'integer', name: 'acc_total' },
    { kind: 'net', net: 'integer', name: 'acc_checked_total' },
    { kind: 'net', net: 'integer', name: 'e' },
    {
      kind: 'initial',
      body: [
        { kind: 'call', name: '$readmemh', args: ['"tb_input.hex"', 'inputs'] },
        { kind: 'call', name: '$readmemh', args: ['"tb_logits.hex"', 'expected_logits'] },
        { kind: 'call', name: '$readmemh', args: ['"tb_class.hex"', 'expected_class'] },
        set('clk', "1'b0", true),
        set('rst', "1'b1", true),
        set('fed', '0', true),
        set('cycle', '0', true),
        set('last_class_cycle', '0', true),
        set('classes_seen', '0', true),
        set('logits_seen', '0', true),
        set('class_errors', '0', true),
        set('logit_errors', '0', true),
        { kind: 'delay', cycles: '40' },
        set('rst', "1'b0", true),
      ],
    },
    { kind: 'initial', body: [{ kind: 'forever', body: [{ kind: 'delay', cycles: '5' }, set('clk', '~clk', true)] }] },
    {
      kind: 'instance',
      module: TOP_MODULE,
      name: 'dut',
      params: [['CHECK_SAMPLES', 'ACC_SAMPLES']],
      ports: [
        ['clk', 'clk'],
        ['rst', 'rst'],
        ['in_valid', 'in_valid'],
        ['in_ready', 'in_ready'],
        ['in_data', 'in_data'],
        ['out_valid', 'out_valid'],
        ['out_ready', "1'b1"],
        ['out_class', 'out_class'],
      ],
    },
    { kind: 'assign', lhs: 'in_valid', rhs: '!rst && fed < SAMPLES * ENTRIES' },
    { kind: 'assign', lhs: 'in_data', rhs: `inputs[fed < SAMPLES * ENTRIES ? fed : 0]` },
    clocked([
      {
        kind: 'if',
        cond: '!rst',
        then: [
          set('cycle', 'cycle + 1', true),
          { kind: 'if', cond: 'in_valid && in_ready', then: [set('fed', 'fed + 1', true)] },
          {
            kind: 'comment',
            text: `the logits entering the argmax (stream ${logit.name}, ${logit.beat} per beat)`,
          },
          {
            kind: 'if',
            cond: `dut.${logit.name}_valid && dut.${logit.name}_ready`,
            then: [
              {
                kind: 'for',
                index: 'e',
                from: '0',
                to: String(logit.beat),
                body: [
                  {
                    kind: 'if',
                    cond: `logits_seen < SAMPLES * CLASSES && dut.${logit.name}_data[e * ${lb} +: ${lb}] !== expected_logits[logits_seen]`,
                    then: [
                      set('logit_errors', 'logit_errors + 1', true),
                      { kind: 'if', cond: 'logit_errors <= 5', then: [display('hbnn-tb: logit mismatch: sample %0d logit %0d: rtl %0d, expected %0d', 'logits_seen / CLASSES', 'logits_seen % CLASSES', `$signed(dut.${logit.name}_data[e * ${lb} +: ${lb}])`, '$signed(expected_logits[logits_seen])')] },
                    ],
                  },
                  set('logits_seen', 'logits_seen + 1', true),
                ],
              },
            ],
          },
          {
            kind: 'if',
            cond: 'out_valid',
            then: [
              {
                kind: 'if',
                cond: 'classes_seen < SAMPLES && out_class !== expected_class[classes_seen]',
                then: [set('class_errors', 'class_errors + 1', true), { kind: 'if', cond: 'class_errors <= 5', then: [display('hbnn-tb: class mismatch: sample %0d: rtl %0d, expected %0d', 'classes_seen', 'out_class', 'expected_class[classes_seen]')] }],
              },
              set('classes_seen', 'classes_seen + 1', true),
              { kind: 'if', cond: 'classes_seen == SAMPLES', then: [set('last_class_cycle', 'cycle', true)] },
            ],
          },
          {
            kind: 'comment',
            text: "after the last class: the summary once every unit has checked its accumulators (or after DRAIN cycles; a class more than SAMPLES fails)",
          },
          { kind: 'if', cond: `classes_seen >= SAMPLES && (${checksDone} || cycle - last_class_cycle >= DRAIN)`, then: summary(false) },
          { kind: 'if', cond: 'cycle == LIMIT', then: [display('hbnn-tb: TIMEOUT after %0d cycles (%0d of %0d classes)', 'cycle', 'classes_seen', 'SAMPLES'), ...summary(true)] },
        ],
      },
    ]),
  ];
  return { name: TB_MODULE, comment: [`testbench: ${samples} samples; classes and logits of every sample, every unit's accumulators of the first ${accSamples}`], params: [], ports: [], items };
}

/** The Verilog project of a quantized model or bit-level program, as files in memory. */
export function lowerToVerilog(input: BitProgram | Model, o: VerilogOptions = {}): VerilogResult {
  if (!isProgramOrModel(input)) fail(ErrorCodes.INVALID_OPTION, 'lowerToVerilog needs a quantized Model or a bit-level program (hbnn-bitir/1)');
  const plan = planVivadoHls(input, {
    ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}),
    ...(o.clockMhz !== undefined ? { clockMhz: o.clockMhz } : {}),
    ...(o.folding ? { folding: o.folding } : {}),
    ...(o.groupRows !== undefined ? { groupRows: o.groupRows } : {}),
    ...(o.lowering ? { lowering: o.lowering } : {}),
    ...(o.part ? { part: o.part } : {}),
    lineBuffers: 'verilog',
  });
  const { program, design } = plan;
  const files = new Map<string, string>();
  const units: VerilogUnit[] = [];
  const memories: MemoryInstance[] = [];
  const unitNames = new Map<UnitStage, string>();
  const header = (file: string): string => `${file} — generated by hbnn-onnx (verilog backend) from ${design.graph}`;
  for (const u of design.units) {
    if (u.weight.kind !== 'binary') unsupported(u, `its weights are fixed point (${u.weight.bits} bits: a layer kept by --first-layer/--last-layer keep or --exclude); the verilog units take binarized weights`);
    const m = unitModule(u);
    const file = `${u.name}.v`;
    files.set(file, printFile(header(file), [m.module]));
    for (const [k, v] of m.files) files.set(k, v);
    for (const mem of m.memories) memories.push({ ...mem, path: `u_${u.name}.${mem.path}` });
    unitNames.set(u, u.name);
    units.push({ module: u.name, layer: u.layer, instance: `u_${u.name}`, file, memories: [...m.files.keys()].filter((f) => !f.includes('_beta')), stage: u });
  }
  const top = topModule(plan, unitNames);
  memories.push(...lineBuffers(plan));
  // every stream instance of hbnn_top (one per stage; a stage with helpers, e.g. an add's FIFOs, has several)
  const kinds = new Map(design.stages.map((s) => [`u_${s.name}`, s.kind]));
  const stages: VerilogStage[] = [];
  for (const it of top.items) {
    if (it.kind !== 'instance') continue;
    const ports: Port[] = [];
    for (const [port, expr] of it.ports) {
      const width = STREAM_PORTS.has(port) ? netWidth(top, expr) : undefined;
      if (width !== undefined) ports.push({ dir: STAGE_INPUTS.has(port) ? 'input' : 'output', name: port, width });
    }
    if (ports.length !== it.ports.length) continue; // not the stream convention: left out of per-stage work
    stages.push({ name: it.name.replace(/^u_/, ''), kind: kinds.get(it.name) ?? it.module, instance: it.name, module: it.module, params: Object.fromEntries(it.params.filter(([k]) => k !== 'CHECK_SAMPLES')), ports });
  }
  files.set(LIB_FILE, printFile(header(LIB_FILE), [...libraryModules(), ...opModules()]));
  files.set(TOP_FILE, printFile(header(TOP_FILE), [top]));
  const sources = [LIB_FILE, ...units.map((u) => u.file), TOP_FILE];
  files.set(SOURCES_FILE, `${sources.join('\n')}\n`);

  // Testbench vectors from the interpreter (the grouped program: same logits as the model's).
  const per = design.input.entries;
  const wanted = o.testSamples ?? 8;
  if (!Number.isInteger(wanted) || wanted < 1) fail(ErrorCodes.INVALID_OPTION, `testSamples must be a positive integer (got ${wanted})`, { option: 'testSamples' });
  let data = o.testData;
  if (data && data.length % per !== 0) fail(ErrorCodes.DATA_MISMATCH, `test data holds ${data.length} values, not a whole number of samples of ${per} ([${design.input.shape.join(',')}])`, { option: 'testData' });
  if (!data) data = syntheticSamples(per, wanted);
  const count = Math.min(wanted, data.length / per);
  const accCount = Math.min(o.accSamples ?? 2, count);
  if (!Number.isInteger(accCount) || accCount < 0) fail(ErrorCodes.INVALID_OPTION, `accSamples must be a non-negative integer (got ${o.accSamples})`, { option: 'accSamples' });
  const v = computeVectors(program, design, data, count, accCount);
  const ib = design.input.entry.bits;
  const argmax = design.stages[design.stages.length - 1]!;
  const lb = argmax.kind === 'argmax' ? entryBits(argmax.in.entry) : 32;
  files.set('tb_input.hex', `${v.inputs.map((s) => Array.from(s, (q) => hexWord(q, ib)).join('\n')).join('\n')}\n`);
  files.set('tb_logits.hex', `${v.logits.map((s) => s.map((q) => hexWord(q, lb)).join('\n')).join('\n')}\n`);
  files.set('tb_class.hex', `${Array.from(v.classes, (c) => hexWord(c, design.output.classBits)).join('\n')}\n`);
  units.forEach((u, i) => {
    const lines: string[] = [];
    for (let s = 0; s < v.accumulators.length; s++) for (const a of v.accumulators[s]![i]!) lines.push(hexWord(a, TRACE_BITS));
    files.set(accFile(u.stage), lines.length ? `${lines.join('\n')}\n` : '0\n');
  });
  files.set(TB_FILE, printFile(header(TB_FILE), [testbench(plan, units, count, accCount)]).replace('`default_nettype none\n', '`timescale 1ns/1ps\n`default_nettype none\n'));
  files.set('folding.json', foldingJson(design.units, { clockMhz: plan.estimates.clockMhz, ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}) }));
  files.set('README.md', readme(plan, units, count, accCount));
  return { ...plan, files, top: TOP_MODULE, sources, units, memories, stages, testSamples: count, accSamples: accCount };
}

/** The line buffers of the window and pooling stages (hbnn_lib.v pixelLineBufferItems: ROWS = the power of two ≥ SPAN + SH rows of W pixels of C entries). */
function lineBuffers(plan: VivadoHlsPlan): MemoryInstance[] {
  const out: MemoryInstance[] = [];
  for (const s of plan.design.stages) {
    // hbnn_swu, hbnn_swu_grouped, hbnn_maxpool and hbnn_avgpool (a global average pool has none)
    if (s.kind !== 'window' && s.kind !== 'maxpool' && (s.kind !== 'avgpool' || s.global)) continue;
    const rows = lineBufferRows(s.kernel[0], s.dilations[0], s.strides[0]);
    // The average pool buffers its aligned entries (hbnn_align before it).
    const eb = s.kind === 'avgpool' ? alignedBits(s.in, avgPoolOperand(s)) : entryBits(s.in.entry);
    out.push({ path: `u_${s.name}.line`, kind: 'ram', width: s.channels * eb, depth: rows * s.width });
  }
  return out;
}

function readme(plan: VivadoHlsPlan, units: VerilogUnit[], samples: number, accSamples: number): string {
  const d = plan.design;
  return `# ${d.graph}: Verilog (hbnn-onnx verilog backend)

Top module \`${TOP_MODULE}\` (${TOP_FILE}): input one ${d.input.entry.bits}-bit fixed-point entry per beat
(valid/ready), [${d.input.shape.join(',')}] in ${d.input.layout.kind === 'hwc' ? 'HWC' : 'index'} order; output the class index
(${d.output.classBits} bits) per sample. Sources in read order: ${SOURCES_FILE}. Memories are
\`$readmemh\` files read relative to the working directory: run simulators and synthesis here.

| unit | module | MH | MW | PE | SIMD | reps |
|---|---|---|---|---|---|---|
${units.map((u) => `| ${u.layer} | ${u.module} | ${u.stage.mh} | ${u.stage.mw} | ${u.stage.pe} | ${u.stage.simd} | ${u.stage.reps} |`).join('\n')}

Testbench (${TB_FILE}, with \`+define+HBNN_CHECK\`): ${samples} samples, classes and logits of each,
every unit's accumulators of the first ${accSamples}, against the bit-level IR interpreter.

    verilator --binary --timing -Wno-fatal -Wno-lint -Wno-style +define+HBNN_CHECK --top-module tb -f ${SOURCES_FILE} ${TB_FILE}
    (cd . && obj_dir/Vtb)      # or: hbnn-onnx lower MODEL --backend verilog --sim

Synthesis (yosys): \`read_verilog $(cat ${SOURCES_FILE}); synth_xilinx -top ${TOP_MODULE}\`, or per unit \`-top <module>\`.
`;
}
