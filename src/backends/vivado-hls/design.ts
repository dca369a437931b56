/**
 * BitProgram → streaming design (`HlsDesign`): the stages the HLS code runs, with their
 * streams, entry types and beats.
 *
 * Rules:
 * 1. `input` becomes an input stage reading the AXI-Stream (one entry per beat, images in
 *    HWC order: pixel by pixel, channels of a pixel together) and packing the beat the next
 *    stage reads.
 * 2. A `conv` and its only consumer (`threshold` or `requantize`) become a sliding-window
 *    stage and a matrix-vector-threshold unit; a `matvec` and its consumer become a unit.
 *    A grouped (or depthwise) `conv` becomes a grouped window and a vector-vector unit: each
 *    PE reads the window of its own row's group (types.ts, `UnitStage.groups`).
 *    The unit's weight columns are permuted into the order entries arrive on its input
 *    stream (window order (kh, kw, c); a flattened image in HWC order), which changes no sum.
 * 3. `relu`, `scale` and a standalone `threshold` (fixed-point input) are element-wise
 *    stages; `maxpool` and `avgpool` are line-buffer stages, except an `avgpool` whose window
 *    is the whole map (global average pooling): a streaming accumulator per channel that reads
 *    its input at the input's beat; `reshape` only changes how later stages read the stream; `argmax` writes the class index to the output AXI-Stream.
 * 4. Where a stage needs another beat than its input stream carries (window and pooling
 *    stages read whole pixels, units read SIMD entries), a width converter is inserted.
 * 5. Branches: a tensor read by several ops gets a duplicate-stream stage (`dup`) with one
 *    output stream per reader; `add` (residual) becomes an add-streams stage and `concat` a
 *    concat stage. Their inputs must stream in the same order (image streams: the same
 *    [H,W]); an add reads whole pixels of an image (vectors: the widest input beat), a concat
 *    whole pixels of each input. The design is a DAG of stages in a DATAFLOW region.
 * 6. FIFO depths: each stream gets a lead, the fraction of a sample its branch must read
 *    before the stream's first beat (line buffers: the rows a window needs; a convolution
 *    unit: one window; a matrix-vector unit: the whole vector). An add/concat input whose
 *    lead is below the latest input's holds the difference: depth = ⌈Δlead · beats per
 *    sample⌉ + 2 (at most a sample + 2); a vector concat's later inputs hold a whole sample.
 *    A unit that replays its input (NF = MH/PE > 1 row folds; it reads its SF = MW/SIMD
 *    input beats during the first) fed by another unit (through element-wise stages and width
 *    converters) that makes one of its vectors in P > SF cycles holds, in a FIFO on its input,
 *    what the producer makes while it replays: depth = min(SF, ⌈(NF − 1)·SF / (P / SF)⌉) + 2.
 *    Without it the producer stalls for the (NF − 1)·SF cycles of every vector, and the pair
 *    takes P + (NF − 1)·SF cycles per vector instead of max(P, NF·SF) (CNV's gemm21 → gemm24:
 *    twice the slower one's cycles).
 *    A line-buffered stage (window, max pool, windowed average pool) reads its input only
 *    between emitting rows, so without a FIFO a sample takes about P + E cycles: P the slowest
 *    stage before it (the pace its rows arrive at), E its emission (paced by the unit it feeds:
 *    that unit's cycles less its last vector's replay; else its own). Where P + E exceeds the
 *    design's slowest stage by more than a tenth (SERIAL_MARGIN), it holds one input row in a FIFO (depth W + 2), so that its
 *    producer goes on making the next row while it emits (CNV's swu_conv3 behind conv0: each
 *    row took conv0's time plus the emission's).
 * 7. Anything the backend cannot map — fixed-point tensors wider than
 *    64 bits, an accumulator read by anything but its threshold/requantize, a reshape that
 *    reorders a stream, branches that stream in different orders — is a LOWERING error
 *    naming the ONNX node.
 */
import { fail, ErrorCodes } from '../../errors.js';
import {
  unreachable,
  opInputs,
  type AddOp,
  type BinaryType,
  type BitOp,
  type BitProgram,
  type BitType,
  type ConcatOp,
  type ConvOp,
  type FixedType,
  type Operand,
  type Window2d,
  type Level,
  type MatVecOp,
  type RequantizeOp,
  type ThresholdOp,
  type WeightTensor,
} from '../../bitir/types.js';
import { outputSize } from '../../bitir/lower.js';
import { avgPoolDivisors, windowLead } from '../../bitir/window.js';
import { isIdentity } from '../../bitir/permute.js';
import { unitArith } from './arith.js';
import type {
  EntryType,
  HlsDesign,
  StageOperand,
  HlsStage,
  InputStage,
  LayerFolding,
  StreamInfo,
  StreamLayout,
  UnitActivation,
  UnitStage,
} from './types.js';

/** Largest fixed-point width a stream entry or sum may have (C++ 64-bit arithmetic in csim). */
export const MAX_FIXED_BITS = 64;

/** The folding of a unit, by layer name; `undefined` = fully folded (PE = SIMD = 1). */
export type FoldingLookup = (layer: string) => LayerFolding | undefined;

/** The code of a level in a binary entry: plane signs in bits 0..K-1, masks in bits K..2K-1. */
export function levelCode(level: Level, planes: number): number {
  return level.signs | (level.mask << planes);
}

export function entryOf(t: FixedType | BinaryType): EntryType {
  return t.kind === 'fixed' ? { kind: 'fixed', bits: t.bits } : { kind: 'binary', planes: t.planes, levels: t.levels };
}

/** Bits one stream entry occupies. */
export function entryBits(e: EntryType): number {
  return e.kind === 'fixed' ? e.bits : 2 * e.planes;
}

/** Layer name of a conv/matvec: the ONNX node it came from (the op id when there is none). */
export function layerName(op: ConvOp | MatVecOp): string {
  return op.nodes[0] ?? op.id;
}

/** A C++ identifier from an arbitrary name. */
export function cppIdent(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/_+/g, '_').replace(/^_+|_+$/g, '');
  if (s === '' || /^[0-9]/.test(s)) s = `n_${s}`;
  return s;
}

/** For each arrival position on a stream, the IR (row-major) index of the entry. */
export function arrivalOrder(layout: StreamLayout): Int32Array {
  if (layout.kind === 'hwc') {
    const { c, h, w } = layout;
    const out = new Int32Array(c * h * w);
    let i = 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[i++] = ch * h * w + y * w + x;
    return out;
  }
  if (layout.perm) return layout.perm;
  return Int32Array.from({ length: layout.size }, (_, i) => i);
}

function sameOrder(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Builds the streaming design of `program` with the folding `folding`. `maxCycles`: the
 * cycles per sample the target throughput allows; add and concat stages then take the
 * narrowest beat that meets it (default: whole pixels).
 */
export function buildDesign(program: BitProgram, folding: FoldingLookup, o: { maxCycles?: number } = {}): HlsDesign {
  return new DesignBuilder(program, folding, o.maxCycles).build();
}

class DesignBuilder {
  private readonly types: Map<string, BitType>;
  private readonly weights: Map<string, WeightTensor>;
  private readonly consumers = new Map<string, BitOp[]>();
  private readonly stages: HlsStage[] = [];
  private readonly units: UnitStage[] = [];
  private readonly fused = new Set<string>();
  private streams = 0;
  /** Streams produced and not yet read, by the tensor they carry (one per pending reader). */
  private readonly avail = new Map<string, StreamInfo[]>();
  /** The input stage while its output beat can still be chosen by its consumer. */
  private openInput: InputStage | undefined;

  constructor(
    private readonly p: BitProgram,
    private readonly folding: FoldingLookup,
    private readonly maxCycles?: number,
  ) {
    this.types = new Map(p.tensors.map((t) => [t.id, t.type]));
    this.weights = new Map(p.weights.map((w) => [w.id, w]));
    for (const op of p.ops) {
      for (const input of opInputs(op)) this.consumers.set(input, [...(this.consumers.get(input) ?? []), op]);
    }
  }

  build(): HlsDesign {
    let argmaxSeen = false;
    for (const op of this.p.ops) {
      if (this.fused.has(op.id)) continue;
      if (argmaxSeen) this.err(op, 'ops after the argmax cannot be mapped (the class index is the design output)');
      this.lower(op);
      if (op.op === 'argmax') argmaxSeen = true;
    }
    if (!argmaxSeen) fail(ErrorCodes.LOWERING, 'the bit-level program has no argmax op; the Vivado HLS design outputs the class index');
    const inputOp = this.p.ops.find((o) => o.op === 'input');
    const inType = this.type(inputOp!.output) as FixedType;
    const argmax = this.stages[this.stages.length - 1]!;
    if (argmax.kind !== 'argmax') fail(ErrorCodes.INTERNAL, 'the design does not end with its argmax stage');
    for (const [tensor, left] of this.avail) {
      if (left.length) fail(ErrorCodes.INTERNAL, `the stream of "${tensor}" is never read (${left.length} reader(s) missing)`);
    }
    sizeFifos(this.stages);
    return {
      graph: this.p.source.graph,
      stages: this.stages,
      input: { entry: inType, shape: [...inType.shape], entries: size(inType.shape), layout: layoutOf(inType.shape), tensor: inputOp!.output },
      output: { classes: argmax.classes, classBits: argmax.classBits, logits: this.p.outputs.logits },
      units: this.units,
      avgWeightBits: this.p.source.avgWeightBits,
      ...(this.p.source.avgActivationBits !== undefined ? { avgActivationBits: this.p.source.avgActivationBits } : {}),
    };
  }

  // ---- helpers ---------------------------------------------------------------------------

  private err(op: BitOp, why: string): never {
    const node = op.nodes[0];
    return fail(ErrorCodes.LOWERING, `vivado-hls cannot map ${node ? `node "${node}"` : `op "${op.id}"`} (${op.op}): ${why}`, {
      ...(node ? { node } : {}),
      op: op.op,
    });
  }

  private type(id: string): BitType {
    const t = this.types.get(id);
    if (!t) fail(ErrorCodes.INTERNAL, `bit-level IR: no tensor "${id}"`);
    return t;
  }

  private stream(tensor: string, entry: EntryType, beat: number, entries: number, layout: StreamLayout): StreamInfo {
    return { name: `s${this.streams++}`, tensor, entry, beat, entries, layout };
  }

  /** Takes a stream of `tensor` for `op` (each reader of a tensor gets its own stream). */
  private take(op: BitOp, tensor: string): StreamInfo {
    const s = this.avail.get(tensor)?.shift();
    if (!s) this.err(op, `it reads "${tensor}", which no earlier stage streams`);
    return s;
  }

  /** The stream of `op`'s (single) input. */
  private current(op: BitOp & { input: string }): StreamInfo {
    return this.take(op, op.input);
  }

  /**
   * Makes `s` (carrying `s.tensor`) available to the tensor's readers: itself for one reader,
   * else a duplicate-stream stage with one output per reader.
   */
  private provide(s: StreamInfo): void {
    const readers = (this.consumers.get(s.tensor) ?? []).filter((o) => !this.fused.has(o.id)).length;
    if (readers <= 1) {
      this.avail.set(s.tensor, [s]);
      return;
    }
    const outs = Array.from({ length: readers }, () => this.stream(s.tensor, s.entry, s.beat, s.entries, s.layout));
    this.push({ kind: 'dup', name: `dup_${s.name}`, ops: [], nodes: [], in: s, outs });
    this.avail.set(s.tensor, [...outs]);
  }

  /** `s` with `beat` entries per transfer (re-packing the input stage or inserting a converter). */
  private withBeat(op: BitOp, s: StreamInfo, beat: number): StreamInfo {
    if (s.beat === beat) return s;
    if (s.entries % beat !== 0) this.err(op, `a beat of ${beat} entries does not divide the ${s.entries} entries of "${s.tensor}"`);
    if (this.openInput && this.openInput.out === s) {
      s.beat = beat;
      return s;
    }
    const out = this.stream(s.tensor, s.entry, beat, s.entries, s.layout);
    this.push({ kind: 'dwc', name: `dwc_${out.name}`, ops: [], nodes: [], in: s, out });
    return out;
  }

  /** Appends a stage; its output stream (if any) goes to the readers of its tensor. */
  private push(stage: HlsStage): void {
    this.stages.push(stage);
    if (stage.kind !== 'input') this.openInput = undefined;
    if (stage.kind === 'argmax' || stage.kind === 'dup') return;
    // A converter's output replaces its input for the one reader that asked for it; a
    // window's output is the input of the unit built with it.
    if (stage.kind === 'dwc' || stage.kind === 'window') return;
    this.provide(stage.out);
  }

  private checkFixed(op: BitOp, t: BitType): FixedType | BinaryType {
    if (t.kind === 'fixed' && t.bits > MAX_FIXED_BITS) this.err(op, `fixed-point tensors wider than ${MAX_FIXED_BITS} bits are not supported (${t.bits})`);
    if (t.kind !== 'fixed' && t.kind !== 'binary') this.err(op, `its ${t.kind} operand is not a streamable tensor`);
    return t;
  }

  // ---- ops -------------------------------------------------------------------------------

  private lower(op: BitOp): void {
    switch (op.op) {
      case 'input':
        return this.lowerInput(op.output, op);
      case 'conv':
      case 'matvec':
        return this.lowerUnit(op);
      case 'threshold':
        return this.lowerStandaloneThreshold(op);
      case 'requantize':
        return this.err(op, 'a requantize must directly follow its conv/matvec unit');
      case 'relu': {
        const s = this.current(op);
        const tin = this.checkFixed(op, this.type(op.input));
        const tout = this.checkFixed(op, this.type(op.output));
        let table: number[] | undefined;
        if (tin.kind === 'binary' && tout.kind === 'binary') {
          if (!op.map || op.map.length !== tin.levels.length) this.err(op, 'a binary relu needs one output level per input level');
          table = new Array<number>(1 << (2 * tin.planes)).fill(0);
          tin.levels.forEach((l, i) => {
            table![levelCode(l, tin.planes)] = levelCode(tout.levels[op.map![i]!]!, tout.planes);
          });
        } else if (tin.kind !== tout.kind) this.err(op, 'relu changes the tensor kind');
        const out = this.stream(op.output, entryOf(tout), s.beat, s.entries, s.layout);
        return this.push({ kind: 'relu', name: `relu_${out.name}`, ops: [op.id], nodes: op.nodes, in: s, out, ...(table ? { table } : {}) });
      }
      case 'maxpool': {
        const t = this.checkFixed(op, this.type(op.input));
        const tout = this.type(op.output) as FixedType | BinaryType;
        const s0 = this.current(op);
        if (s0.layout.kind !== 'hwc') this.err(op, 'max pooling needs an image stream [C,H,W]');
        const g = poolGeometry(t.shape, op, op.ceilMode);
        const s = this.withBeat(op, s0, g.channels);
        const out = this.stream(op.output, entryOf(tout), g.channels, g.channels * g.outHeight * g.outWidth, { kind: 'hwc', c: g.channels, h: g.outHeight, w: g.outWidth });
        const binary =
          t.kind === 'binary'
            ? {
                rankOfCode: rankTable(t),
                codeOfRank: t.levels.map((l) => levelCode(l, t.planes)),
              }
            : {};
        return this.push({
          kind: 'maxpool',
          name: `pool_${cppIdent(op.nodes[0] ?? op.id)}`,
          ops: [op.id],
          nodes: op.nodes,
          in: s,
          out,
          ...g,
          ...binary,
        });
      }
      case 'reshape': {
        const s = this.current(op);
        const t = this.type(op.output) as FixedType | BinaryType;
        const order = arrivalOrder(s.layout);
        let layout: StreamLayout;
        if (t.shape.length === 3) {
          layout = layoutOf(t.shape);
          if (!sameOrder(order, arrivalOrder(layout))) this.err(op, `reshaping to [${t.shape.join(',')}] would reorder the stream (images stream in HWC order)`);
        } else {
          layout = { kind: 'vector', size: size(t.shape), ...(isIdentity(order) ? {} : { perm: order }) };
        }
        // No stage: the same entries, read under a new shape (the open input stage keeps
        // its stream, so its beat can still be chosen by the next stage).
        if (this.openInput && this.openInput.out === s) {
          s.tensor = op.output;
          s.layout = layout;
          return this.provide(s);
        }
        return this.provide({ ...s, tensor: op.output, layout });
      }
      case 'scale': {
        const s = this.current(op);
        const t = this.type(op.output);
        if (t.kind !== 'fixed') this.err(op, 'the scaling layer needs fixed-point logits');
        this.checkFixed(op, t);
        const out = this.stream(op.output, entryOf(t), s.beat, s.entries, s.layout);
        return this.push({ kind: 'scale', name: `scale_${out.name}`, ops: [op.id], nodes: op.nodes, in: s, out, multiplier: op.multiplier, shift: op.shift });
      }
      case 'argmax': {
        const s = this.current(op);
        if (s.entry.kind !== 'fixed') this.err(op, 'argmax needs fixed-point logits');
        if (!isIdentity(arrivalOrder(s.layout))) this.err(op, 'the logits must stream in index order');
        const classes = s.entries;
        const classBits = Math.max(8, Math.ceil(Math.log2(Math.max(2, classes)) / 8) * 8);
        return this.push({ kind: 'argmax', name: 'argmax_out', ops: [op.id], nodes: op.nodes, in: s, classes, classBits });
      }
      case 'avgpool': {
        const t = this.checkFixed(op, this.type(op.input));
        const tout = this.type(op.output);
        if (tout.kind !== 'fixed') this.err(op, 'average pooling must produce fixed-point entries');
        const s0 = this.current(op);
        if (s0.layout.kind !== 'hwc') this.err(op, 'average pooling needs an image stream [C,H,W]');
        const g = poolGeometry(t.shape, op, op.ceilMode);
        const c = g.channels;
        const pixels = g.height * g.width;
        // The whole map in one window: the streaming accumulator reads the input at its beat.
        const global = g.outHeight === 1 && g.outWidth === 1 && g.kernel[0] === g.height && g.kernel[1] === g.width && g.pads.every((x) => x === 0) && g.dilations.every((x) => x === 1);
        let s: StreamInfo;
        let beat: number;
        if (global) {
          const keep = !(this.openInput && this.openInput.out === s0) && c % s0.beat === 0;
          beat = keep ? s0.beat : this.joinBeat(c, c * pixels);
          s = this.withBeat(op, s0, beat);
        } else {
          // Whole pixels into the line buffer; the averages of an output pixel in C/beat beats.
          s = this.withBeat(op, s0, c);
          beat = this.poolBeat(c, pixels, g.outHeight * g.outWidth);
        }
        const out = this.stream(op.output, entryOf(tout), beat, c * g.outHeight * g.outWidth, { kind: 'hwc', c, h: g.outHeight, w: g.outWidth });
        const div = avgPoolDivisors(t.shape, op, g.outHeight, g.outWidth, op.countIncludePad);
        const { table } = this.stageOperand(op, t, op.operand);
        return this.push({
          kind: 'avgpool',
          name: `avgpool_${cppIdent(op.nodes[0] ?? op.id)}`,
          ops: [op.id],
          nodes: op.nodes,
          in: s,
          out,
          ...g,
          global,
          alignShift: op.operand.shift,
          ...(table ? { table } : {}),
          mult: Array.from(div, (n) => op.multipliers[String(n)]!),
          shift: op.shift,
          outBits: tout.bits,
        });
      }
      case 'clip': {
        const s = this.current(op);
        const tin = this.checkFixed(op, this.type(op.input));
        const tout = this.checkFixed(op, this.type(op.output));
        let table: number[] | undefined;
        if (tin.kind === 'binary' && tout.kind === 'binary') {
          if (!op.map || op.map.length !== tin.levels.length) this.err(op, 'a binary clip needs one output level per input level');
          table = new Array<number>(1 << (2 * tin.planes)).fill(0);
          tin.levels.forEach((l, i) => {
            table![levelCode(l, tin.planes)] = levelCode(tout.levels[op.map![i]!]!, tout.planes);
          });
        } else if (tin.kind !== tout.kind) this.err(op, 'clip changes the tensor kind');
        const out = this.stream(op.output, entryOf(tout), s.beat, s.entries, s.layout);
        return this.push({ kind: 'clip', name: `clip_${out.name}`, ops: [op.id], nodes: op.nodes, in: s, out, lo: op.lo, hi: op.hi, ...(table ? { table } : {}) });
      }
      case 'leakyrelu': {
        const s = this.current(op);
        const tin = this.checkFixed(op, this.type(op.input));
        const tout = this.checkFixed(op, this.type(op.output));
        if (tin.kind !== 'fixed' || tout.kind !== 'fixed') this.err(op, 'LeakyRelu needs fixed-point entries');
        const out = this.stream(op.output, entryOf(tout), s.beat, s.entries, s.layout);
        return this.push({ kind: 'leakyrelu', name: `lrelu_${out.name}`, ops: [op.id], nodes: op.nodes, in: s, out, multiplier: op.multiplier, shift: op.shift });
      }
      case 'add':
        return this.lowerAdd(op);
      case 'concat':
        return this.lowerConcat(op);
      default:
        return unreachable(op, 'bit-level op');
    }
  }

  /** An `Operand` as the stage applies it: fixed inputs shift, binary inputs decode by entry code. */
  private stageOperand(op: BitOp, t: FixedType | BinaryType, o: Operand): StageOperand {
    if (t.kind === 'fixed') return { shift: o.shift };
    if (!o.table || o.table.length !== t.levels.length) this.err(op, 'a binary input needs one aligned value per level');
    const table = new Array<number>(1 << (2 * t.planes)).fill(0);
    t.levels.forEach((l, i) => {
      table[levelCode(l, t.planes)] = o.table![i]!;
    });
    return { shift: 0, table };
  }

  /** The streams of an add/concat's inputs, their types and operands; every output is fixed point. */
  private joinInputs(op: AddOp | ConcatOp): { ins: StreamInfo[]; types: (FixedType | BinaryType)[]; operands: StageOperand[]; tout: FixedType } {
    const tout = this.checkFixed(op, this.type(op.output));
    if (tout.kind !== 'fixed') this.err(op, `${op.op} must produce fixed-point entries`);
    if (op.operands.length !== op.inputs.length) this.err(op, `${op.inputs.length} inputs, ${op.operands.length} operands`);
    const types = op.inputs.map((id) => this.checkFixed(op, this.type(id)));
    const ins = op.inputs.map((id) => this.take(op, id));
    const operands = types.map((t, i) => this.stageOperand(op, t, op.operands[i]!));
    return { ins, types, operands, tout };
  }

  /**
   * The beat of an add/concat stage: the smallest divisor of `width` (a pixel's channels, or
   * their common divisor) whose cycles per sample, entries / beat, meet the budget; `width`
   * itself without a budget or when none does.
   */
  private joinBeat(width: number, entries: number): number {
    if (this.maxCycles === undefined) return width;
    for (let d = 1; d < width; d++) if (width % d === 0 && entries / d <= this.maxCycles) return d;
    return width;
  }

  /**
   * The output beat of a line-buffered average pool: the smallest divisor of its channels whose
   * cycles per sample (a pixel read per cycle, then C/beat cycles per output pixel) meet the
   * budget; all channels without a budget or when none does.
   */
  private poolBeat(channels: number, pixels: number, outPixels: number): number {
    if (this.maxCycles === undefined) return channels;
    for (let d = 1; d < channels; d++) if (channels % d === 0 && pixels + (outPixels * channels) / d <= this.maxCycles) return d;
    return channels;
  }

  /** Residual addition: an add-streams stage over inputs in one order and one beat. */
  private lowerAdd(op: AddOp): void {
    const { ins, operands, tout } = this.joinInputs(op);
    const order = arrivalOrder(ins[0]!.layout);
    for (const s of ins.slice(1)) {
      if (s.entries !== ins[0]!.entries || !sameOrder(order, arrivalOrder(s.layout))) this.err(op, 'its inputs stream their entries in different orders');
    }
    // An image: a divisor of its channels; a vector: a divisor of its entries (joinBeat).
    const l = ins[0]!.layout;
    const beat = this.joinBeat(l.kind === 'hwc' ? l.c : ins[0]!.entries, ins[0]!.entries);
    const aligned = ins.map((s) => this.withBeat(op, s, beat));
    const out = this.stream(op.output, entryOf(tout), beat, ins[0]!.entries, ins[0]!.layout);
    this.push({ kind: 'add', name: `add_${cppIdent(op.nodes[0] ?? op.id)}`, ops: [op.id], nodes: op.nodes, ins: aligned, out, operands, outBits: tout.bits });
  }

  /** Concat along channels: whole pixels of each input (images) or one input after the other (vectors). */
  private lowerConcat(op: ConcatOp): void {
    const { ins, operands, tout } = this.joinInputs(op);
    let out: StreamInfo;
    let aligned: StreamInfo[];
    const images = ins.filter((s) => s.layout.kind === 'hwc').length;
    if (images === ins.length) {
      const l0 = ins[0]!.layout as { kind: 'hwc'; c: number; h: number; w: number };
      for (const s of ins) {
        const l = s.layout as typeof l0;
        if (l.h !== l0.h || l.w !== l0.w) this.err(op, `its inputs are images of different sizes (${l0.h}×${l0.w} and ${l.h}×${l.w})`);
      }
      // Per pixel, C_i/beat beats of each input in turn: the beat divides every C_i.
      const c = ins.reduce((a, s) => a + (s.layout as typeof l0).c, 0);
      const beat = this.joinBeat(ins.reduce((g, s) => gcd(g, (s.layout as typeof l0).c), 0), c * l0.h * l0.w);
      aligned = ins.map((s) => this.withBeat(op, s, beat));
      out = this.stream(op.output, entryOf(tout), beat, c * l0.h * l0.w, { kind: 'hwc', c, h: l0.h, w: l0.w });
    } else if (images === 0) {
      // One input after the other, in beats of the largest common divisor of the input beats.
      const beat = ins.reduce((g, s) => gcd(g, s.beat), 0);
      aligned = ins;
      const perm = new Int32Array(ins.reduce((a, s) => a + s.entries, 0));
      let off = 0;
      for (const s of ins) {
        arrivalOrder(s.layout).forEach((v, i) => {
          perm[off + i] = v + off;
        });
        off += s.entries;
      }
      out = this.stream(op.output, entryOf(tout), beat, perm.length, { kind: 'vector', size: perm.length, ...(isIdentity(perm) ? {} : { perm }) });
    } else {
      return this.err(op, 'it concatenates images with vectors');
    }
    this.push({ kind: 'concat', name: `concat_${cppIdent(op.nodes[0] ?? op.id)}`, ops: [op.id], nodes: op.nodes, ins: aligned, out, operands, outBits: tout.bits });
  }

  private lowerInput(tensor: string, op: BitOp): void {
    const t = this.type(tensor);
    if (t.kind !== 'fixed') this.err(op, 'the program input must be fixed point');
    this.checkFixed(op, t);
    if (t.shape.length !== 1 && t.shape.length !== 3) this.err(op, `inputs of rank 1 ([F]) or 3 ([C,H,W]) are supported; this one is [${t.shape.join(',')}]`);
    const out = this.stream(tensor, entryOf(t), 1, size(t.shape), layoutOf(t.shape));
    const stage: InputStage = { kind: 'input', name: 'read_input', ops: [op.id], nodes: op.nodes, out, entry: t };
    this.push(stage);
    this.openInput = stage;
  }

  private lowerStandaloneThreshold(op: ThresholdOp): void {
    const s = this.current(op);
    const tin = this.type(op.input);
    const tout = this.type(op.output);
    if (tin.kind !== 'fixed') this.err(op, `a threshold must directly follow its conv/matvec unit (its input is ${tin.kind})`);
    if (tout.kind !== 'binary') this.err(op, 'a threshold must produce a binary tensor');
    if (op.multipliers.length > 1 || op.multipliers.some((m) => m.some((v) => v !== 1))) this.err(op, 'a standalone threshold must compare the input itself (multiplier 1)');
    const channels = tin.shape[0]!;
    if (s.layout.kind === 'vector' && s.layout.perm) this.err(op, 'a per-channel threshold on a reordered vector stream is not supported');
    const out = this.stream(op.output, entryOf(tout), s.beat, s.entries, s.layout);
    this.push({
      kind: 'threshold',
      name: `thr_${out.name}`,
      ops: [op.id],
      nodes: op.nodes,
      in: s,
      out,
      channels,
      thresholds: op.bands.map((b) => [...b.thresholds]),
      codes: op.bands.map((b) => b.codes.map((i) => levelCode(tout.levels[i]!, tout.planes))),
      sumBits: op.sumBits,
    });
  }

  private lowerUnit(op: ConvOp | MatVecOp): void {
    const layer = layerName(op);
    const weight = this.weights.get(op.weight);
    if (!weight) fail(ErrorCodes.INTERNAL, `bit-level IR: no weight "${op.weight}"`);
    const tin = this.checkFixed(op, this.type(op.input));
    const acc = this.type(op.output);
    if (acc.kind !== 'acc') this.err(op, 'the unit output must be accumulators');
    const users = this.consumers.get(op.output) ?? [];
    const next = users[0];
    if (users.length !== 1 || !next || (next.op !== 'threshold' && next.op !== 'requantize')) {
      this.err(op, 'its accumulators must feed exactly one threshold or requantize (the activation of the unit)');
    }
    const tout = this.checkFixed(next, this.type(next.output));
    const activation = this.activationOf(next, tout);
    if (Math.max(activation.sumBits, acc.bits) > MAX_FIXED_BITS) this.err(op, `its sums need ${activation.sumBits} bits; at most ${MAX_FIXED_BITS} are supported`);
    const f = this.folding(layer) ?? { pe: 1, simd: 1 };
    const mh = weight.rows;
    const mw = weight.cols;
    let inStream: StreamInfo;
    let columnOrder: Int32Array;
    let reps: number;
    let outLayout: StreamLayout;
    const groups = op.op === 'conv' ? op.group : 1;
    if (op.op === 'conv') {
      const s0 = this.current(op);
      if (s0.layout.kind !== 'hwc') this.err(op, 'a convolution needs an image stream [C,H,W]');
      const [c, h, w] = tin.shape as [number, number, number];
      const [kh, kw] = op.kernel;
      const cg = c / groups;
      if (!Number.isInteger(cg) || mh % groups !== 0) this.err(op, `group ${groups} does not divide its ${c} input and ${mh} output channels`);
      if (cg * kh * kw !== mw) fail(ErrorCodes.INTERNAL, `conv ${layer}: weight columns ${mw} ≠ ${cg}·${kh}·${kw}`);
      const [oh, ow] = [acc.shape[1]!, acc.shape[2]!];
      reps = oh * ow;
      const pixels = this.withBeat(op, s0, c);
      // A grouped window streams, per row fold, each PE's own columns: reps·MH·MW entries.
      const winEntries = groups === 1 ? reps * mw : reps * mh * mw;
      const win = this.stream(`${op.id}.window`, pixels.entry, groups === 1 ? f.simd : f.pe * f.simd, winEntries, { kind: 'vector', size: winEntries });
      this.push({
        kind: 'window',
        name: `swu_${cppIdent(layer)}`,
        ops: [],
        nodes: op.nodes,
        in: pixels,
        out: win,
        channels: c,
        height: h,
        width: w,
        outHeight: oh,
        outWidth: ow,
        kernel: op.kernel,
        strides: op.strides,
        pads: op.pads,
        dilations: op.dilations,
        ...(groups > 1 ? { grouped: { groups, rowsPerGroup: mh / groups, channelsPerGroup: cg, pe: f.pe, simd: f.simd, mh, mw } } : {}),
      });
      inStream = win;
      // Window entry order (kh, kw, c) → IR column (c, kh, kw) (c within the group).
      columnOrder = new Int32Array(mw);
      let j = 0;
      for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let ch = 0; ch < cg; ch++) columnOrder[j++] = ch * kh * kw + a * kw + b;
      outLayout = { kind: 'hwc', c: mh, h: oh, w: ow };
    } else {
      const s0 = this.current(op);
      if (s0.entries !== mw) fail(ErrorCodes.INTERNAL, `matvec ${layer}: ${s0.entries} input entries, ${mw} weight columns`);
      columnOrder = arrivalOrder(s0.layout);
      reps = 1;
      inStream = this.withBeat(op, s0, f.simd);
      outLayout = { kind: 'vector', size: mh };
    }
    const out = this.stream(next.output, entryOf(tout), f.pe, mh * reps, outLayout);
    const terms = acc.terms.map((t) => ({ w: t.w, a: t.a }));
    const arith = unitArith(op, weight, tin, terms, acc.bits, activation);
    if (arith.sumBits > MAX_FIXED_BITS || (arith.thrBits ?? 0) > MAX_FIXED_BITS) this.err(op, `its sums need ${Math.max(arith.sumBits, arith.thrBits ?? 0)} bits; at most ${MAX_FIXED_BITS} are supported`);
    const unit: UnitStage = {
      kind: 'unit',
      name: `${groups > 1 ? 'vvu' : 'mvtu'}_${cppIdent(layer)}`,
      ops: [op.id, next.id],
      nodes: [...op.nodes, ...next.nodes.filter((n) => !op.nodes.includes(n))],
      layer,
      unitOp: op.id,
      source: op.op,
      groups,
      in: inStream,
      out,
      mh,
      mw,
      reps,
      pe: f.pe,
      simd: f.simd,
      weight,
      columnOrder,
      terms,
      accBits: acc.bits,
      activation,
      arith,
      index: this.units.length,
    };
    this.units.push(unit);
    this.fused.add(next.id);
    this.push(unit);
  }

  private activationOf(op: ThresholdOp | RequantizeOp, tout: FixedType | BinaryType): UnitActivation {
    if (op.op === 'threshold') {
      if (tout.kind !== 'binary') this.err(op, 'a threshold must produce a binary tensor');
      return {
        kind: 'threshold',
        multipliers: op.multipliers.map((m) => [...m]),
        thresholds: op.bands.map((b) => [...b.thresholds]),
        codes: op.bands.map((b) => b.codes.map((i) => levelCode(tout.levels[i]!, tout.planes))),
        sumBits: op.sumBits,
      };
    }
    if (tout.kind !== 'fixed') this.err(op, 'a requantize must produce a fixed-point tensor');
    return { kind: 'requantize', multipliers: op.multipliers.map((m) => [...m]), bias: [...op.bias], shift: op.shift, sumBits: op.sumBits, outBits: tout.bits };
  }
}

// ------------------------------------------------------------------------------------------

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function layoutOf(shape: readonly number[]): StreamLayout {
  if (shape.length === 3) return { kind: 'hwc', c: shape[0]!, h: shape[1]!, w: shape[2]! };
  return { kind: 'vector', size: size(shape) };
}

/** Level index per entry code (2^(2K) slots; codes that never occur rank 0). */
function rankTable(t: BinaryType): number[] {
  const table = new Array<number>(1 << (2 * t.planes)).fill(0);
  t.levels.forEach((l, i) => {
    table[levelCode(l, t.planes)] = i;
  });
  return table;
}


function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The geometry fields of a pooling stage over input shape [C,H,W]. */
function poolGeometry(shape: readonly number[], w: Window2d, ceilMode: boolean) {
  const [channels, height, width] = shape as [number, number, number];
  const [outHeight, outWidth] = outputSize(shape, w, ceilMode);
  return { channels, height, width, outHeight, outWidth, kernel: w.kernel, strides: w.strides, pads: w.pads, dilations: w.dilations };
}

/** The streams a stage reads. */
export function stageInputs(s: HlsStage): StreamInfo[] {
  if (s.kind === 'input') return [];
  if (s.kind === 'add' || s.kind === 'concat') return s.ins;
  return [s.in];
}

/** The streams a stage writes. */
export function stageOutputs(s: HlsStage): StreamInfo[] {
  if (s.kind === 'argmax') return [];
  if (s.kind === 'dup') return s.outs;
  return [s.out];
}

/**
 * Fraction of a sample a stage reads before it writes its first beat (rule 6): line-buffered
 * stages the rows their first window needs, a convolution unit one window, a matrix-vector unit
 * the whole vector; element-wise stages none.
 */
export function stageLead(s: HlsStage): number {
  switch (s.kind) {
    case 'window':
    case 'maxpool':
      return windowLead(s, s.height);
    case 'avgpool':
      return s.global ? 1 : windowLead(s, s.height);
    case 'unit':
      return 1 / s.reps;
    case 'argmax':
      return 1;
    default:
      return 0;
  }
}

/** Cycles per sample of a stage in steady state. */
export function stageCycles(s: HlsStage): number {
  switch (s.kind) {
    case 'input':
      return s.out.entries;
    case 'dwc':
      return Math.max(s.in.entries / s.in.beat, s.out.entries / s.out.beat);
    case 'window':
      return Math.max(s.height * s.width, s.out.entries / s.out.beat);
    case 'unit':
      return unitCycles(s);
    case 'relu':
    case 'threshold':
    case 'scale':
      return s.in.entries / s.in.beat;
    case 'maxpool':
      return s.height * s.width;
    case 'avgpool':
      // Global: every pixel in C/beat beats, then C/beat output beats; line-buffered: a pixel
      // per cycle, then C/beat cycles per output pixel.
      return s.global ? (s.height * s.width + 1) * (s.channels / s.in.beat) : s.height * s.width + (s.outHeight * s.outWidth * s.channels) / s.out.beat;
    case 'clip':
    case 'leakyrelu':
      return s.in.entries / s.in.beat;
    case 'argmax':
      return s.in.entries / s.in.beat;
    case 'dup':
      return s.in.entries / s.in.beat;
    case 'add':
    case 'concat':
      return s.out.entries / s.out.beat;
    default:
      return unreachable(s, 'stage');
  }
}

/** Cycles per sample of a unit in steady state: reps · NF · SF. */
export function unitCycles(u: Pick<UnitStage, 'reps' | 'mh' | 'pe' | 'mw' | 'simd'>): number {
  return u.reps * (u.mh / u.pe) * (u.mw / u.simd);
}

/** A line-buffered stage whose serial read-then-emit schedule would exceed the slowest stage's cycles by more than this factor gets an input row FIFO (rule 6). */
export const SERIAL_MARGIN = 1.1;

/** Stages a unit's input may pass through from the unit that makes it (one input, one output, a beat per beat). */
const PASS_THROUGH = new Set<HlsStage['kind']>(['relu', 'threshold', 'clip', 'leakyrelu', 'scale', 'dwc']);

/**
 * The FIFO depth of a unit's input (rule 6): the beats its producing unit makes while it
 * replays its input vector, at most one vector, + 2; 2 (no FIFO) when it does not replay or
 * the producer is not a unit (or makes a vector at least as fast as the unit reads one).
 */
export function unitInputDepth(u: UnitStage, producerCycles: number | undefined): number {
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  if (producerCycles === undefined || nf <= 1) return 2;
  const p = producerCycles / u.reps; // the producer's cycles per vector of u
  if (p <= sf) return 2;
  return Math.min(sf, Math.ceil(((nf - 1) * sf * sf) / p - 1e-9)) + 2;
}

/** Sets the FIFO depth of every add/concat input from the leads of the branches, and of units' inputs from their producers' rate (rule 6). */
export function sizeFifos(stages: readonly HlsStage[]): void {
  const producer = new Map<string, HlsStage>();
  for (const s of stages) for (const o of stageOutputs(s)) producer.set(o.name, s);
  const source = (x: StreamInfo): HlsStage | undefined => {
    let p = producer.get(x.name);
    while (p && PASS_THROUGH.has(p.kind)) p = producer.get(stageInputs(p)[0]!.name);
    return p;
  };
  const consumer = new Map<string, HlsStage>();
  for (const s of stages) for (const x of stageInputs(s)) consumer.set(x.name, s);
  const cycles = new Map(stages.map((s) => [s, stageCycles(s)]));
  const bottleneck = Math.max(...cycles.values());
  // the slowest stage up to each stream
  const upTo = new Map<string, number>();
  for (const s of stages) {
    const before = Math.max(0, ...stageInputs(s).map((x) => upTo.get(x.name) ?? 0));
    for (const o of stageOutputs(s)) upTo.set(o.name, Math.max(before, cycles.get(s)!));
  }
  const emission = (s: HlsStage & { out: StreamInfo }): number => {
    let c = consumer.get(s.out.name);
    while (c && PASS_THROUGH.has(c.kind)) c = consumer.get(stageOutputs(c)[0]!.name);
    return c?.kind === 'unit' ? cycles.get(c)! - (c.mh / c.pe - 1) * (c.mw / c.simd) : cycles.get(s)!;
  };
  for (const s of stages) {
    let depth: number;
    if (s.kind === 'unit') {
      const p = source(s.in);
      depth = unitInputDepth(s, p?.kind === 'unit' ? unitCycles(p) : undefined);
    } else if (s.kind === 'window' || s.kind === 'maxpool' || (s.kind === 'avgpool' && !s.global)) {
      depth = source(s.in)?.kind !== 'input' && (upTo.get(s.in.name) ?? 0) + emission(s) > SERIAL_MARGIN * bottleneck ? s.width + 2 : 2;
    } else continue;
    if (depth > 2) s.in.depth = depth;
    else delete s.in.depth;
  }
  const lead = new Map<string, number>();
  for (const s of stages) {
    const ins = stageInputs(s);
    const t = Math.max(0, ...ins.map((x) => lead.get(x.name) ?? 0)) + stageLead(s);
    for (const o of stageOutputs(s)) lead.set(o.name, t);
    if (s.kind !== 'add' && s.kind !== 'concat') continue;
    const latest = Math.max(...ins.map((x) => lead.get(x.name) ?? 0));
    ins.forEach((x, i) => {
      const beats = x.entries / x.beat;
      const wait = s.kind === 'concat' && s.out.layout.kind === 'vector' && i > 0 ? beats : Math.ceil((latest - (lead.get(x.name) ?? 0)) * beats - 1e-9);
      const depth = Math.min(beats, Math.max(0, wait)) + 2;
      if (depth > 2) x.depth = depth;
      else delete x.depth;
    });
  }
}
