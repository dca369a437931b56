/**
 * The reference simulator of the bit-level IR: executes a BitProgram on input samples with
 * exact integer arithmetic (docs/bit-ir.md §2 and §5).
 *
 * Two paths compute the same integers:
 * - op by op (`fuse: false`, and always for `captureAccumulators`): a `conv`/`matvec` writes
 *   its per-term accumulators — on packed Uint32 words by masked xnor-popcount for binary
 *   inputs, by masked signed sums for fixed-point inputs — and `threshold`/`requantize`
 *   forms S = Σ_t M_t·acc_t from them;
 * - fused (default): a unit whose only consumer is a `threshold`/`requantize` computes S
 *   directly with combined integer weights: one dense product Σ_j (Σ_w M_w·w_w[o, j])·q_j
 *   with a fixed-point input; for a binary input, per output pixel the sum over non-zero
 *   window entries of a precomputed row G[j, L_j, ·] = Σ_(w,a) M_(w,a)·w_w[·, j]·f_a(L_j).
 *   By distributivity this is the same integer; it is just fewer operations.
 * Every integer stays below 2^53 (the lowering checks the static widths), so JavaScript
 * numbers hold them exactly.
 */
import { fail, ErrorCodes } from '../errors.js';
import {
  unreachable,
  opInputs,
  type AccType,
  type BinaryType,
  type BinaryWeight,
  type BitOp,
  type BitProgram,
  type BitType,
  type ConvOp,
  type FixedType,
  type MatVecOp,
  type Operand,
  type RequantizeOp,
  type ThresholdOp,
  type WeightTensor,
} from './types.js';
import { avgPoolDivisors, windowTable } from './window.js';
import { planeFactor, weightFactor, weightPlanes } from './access.js';
import { outputSize } from './lower.js';
import { popcount32 } from './fixed.js';

export interface InterpretOptions {
  /** Run at most this many samples. */
  limit?: number;
  /** Fuse each unit with its threshold/requantize consumer (default true). */
  fuse?: boolean;
  /** A `conv`/`matvec` op id whose per-term accumulators [T, ...shape] are returned for every sample. */
  captureAccumulators?: string;
  /** Tensor ids whose integers are returned for every sample (fixed: q; binary: level index). */
  capture?: string[];
  onProgress?: (done: number, total: number) => void;
}

export interface InterpretResult {
  samples: number;
  /** Predicted class per sample. */
  classes: Int32Array;
  /** Logit integers q, samples × classes. */
  logitsQ: Float64Array;
  /** Logits as reals q · 2^-logitFrac. */
  logits: Float64Array;
  classesPerSample: number;
  logitFrac: number;
  /** Saturated entries per op id (input, requantize, scale). */
  saturated: Record<string, number>;
  /** Captured tensors, concatenated over samples; accumulators under the op id. */
  captured: Record<string, Float64Array | Uint8Array>;
  ms: number;
}

type Buf = Float64Array | Uint8Array;

interface Ctx {
  image: Float32Array;
  bufs: Map<string, Buf>;
  saturated: Record<string, number>;
}

type Step = (ctx: Ctx) => void;

/** Executes `program` on `count` samples of `images` (row-major, one sample after another). */
export function interpret(program: BitProgram, images: Float32Array, opts: InterpretOptions = {}): InterpretResult {
  const t0 = performance.now();
  const per = program.input.shape.reduce((a, b) => a * b, 1);
  if (images.length % per !== 0) fail(ErrorCodes.DATA_MISMATCH, `${images.length} input values are not a whole number of samples of shape [${program.input.shape.join(',')}]`);
  const total = Math.min(images.length / per, opts.limit ?? Infinity);
  const compiled = compile(program, opts);
  const logitType = typeOf(program, program.outputs.logits) as FixedType;
  const k = logitType.shape.reduce((a, b) => a * b, 1);
  const classes = new Int32Array(total);
  const logitsQ = new Float64Array(total * k);
  const captureIds = [...(opts.capture ?? []), ...(opts.captureAccumulators ? [opts.captureAccumulators] : [])];
  const captured: Record<string, Float64Array | Uint8Array> = {};
  const ctx: Ctx = { image: images.subarray(0, per), bufs: compiled.bufs, saturated: {} };
  for (let s = 0; s < total; s++) {
    ctx.image = images.subarray(s * per, (s + 1) * per);
    for (const step of compiled.steps) step(ctx);
    logitsQ.set(ctx.bufs.get(program.outputs.logits)!, s * k);
    classes[s] = ctx.bufs.get(program.outputs.class)![0]!;
    for (const id of captureIds) {
      const b = ctx.bufs.get(id);
      if (!b) fail(ErrorCodes.INVALID_OPTION, `no tensor or op "${id}" to capture`, { option: 'capture' });
      let arr = captured[id];
      if (!arr) arr = captured[id] = b instanceof Uint8Array ? new Uint8Array(total * b.length) : new Float64Array(total * b.length);
      arr.set(b, s * b.length);
    }
    if (opts.onProgress && (s + 1) % 256 === 0) opts.onProgress(s + 1, total);
  }
  const scale = 2 ** -logitType.frac;
  return {
    samples: total,
    classes,
    logitsQ,
    logits: logitsQ.map((q) => q * scale),
    classesPerSample: k,
    logitFrac: logitType.frac,
    saturated: ctx.saturated,
    captured,
    ms: performance.now() - t0,
  };
}

function typeOf(p: BitProgram, id: string): BitType {
  const t = p.tensors.find((x) => x.id === id);
  if (!t) fail(ErrorCodes.INTERNAL, `bit-level IR: no tensor "${id}"`);
  return t.type;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** [lo, hi] of a two's complement width. */
const range = (bits: number): [number, number] => [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];

// ------------------------------------------------------------------------------------------
// Compilation to steps over preallocated buffers
// ------------------------------------------------------------------------------------------

function compile(p: BitProgram, opts: InterpretOptions): { steps: Step[]; bufs: Map<string, Buf> } {
  const types = new Map(p.tensors.map((t) => [t.id, t.type]));
  const weights = new Map(p.weights.map((w) => [w.id, w]));
  const bufs = new Map<string, Buf>();
  const steps: Step[] = [];
  const uses = new Map<string, BitOp[]>();
  for (const op of p.ops) for (const input of opInputs(op)) uses.set(input, [...(uses.get(input) ?? []), op]);
  const fuse = opts.fuse ?? true;
  /** Unit op id → the S buffer its fused consumer reads. */
  const fusedSums = new Map<string, Float64Array>();
  const type = (id: string): BitType => {
    const t = types.get(id);
    if (!t) fail(ErrorCodes.INTERNAL, `bit-level IR: no tensor "${id}"`);
    return t;
  };
  const alloc = (id: string): Buf => {
    const t = type(id);
    const b = t.kind === 'binary' ? new Uint8Array(size(t.shape)) : t.kind === 'acc' ? new Float64Array(t.terms.length * size(t.shape)) : t.kind === 'class' ? new Float64Array(1) : new Float64Array(size(t.shape));
    bufs.set(id, b);
    return b;
  };
  for (const op of p.ops) {
    switch (op.op) {
      case 'input': {
        const t = type(op.output) as FixedType;
        const out = alloc(op.output) as Float64Array;
        const scale = 2 ** t.frac;
        const [lo, hi] = range(t.bits);
        const id = op.id;
        steps.push((ctx) => {
          const x = ctx.image;
          let sat = 0;
          for (let i = 0; i < out.length; i++) {
            const q = Math.floor(x[i]! * scale + 0.5);
            if (q > hi || q < lo) sat++;
            out[i] = q > hi ? hi : q < lo ? lo : q;
          }
          if (sat) ctx.saturated[id] = (ctx.saturated[id] ?? 0) + sat;
        });
        break;
      }
      case 'conv':
      case 'matvec': {
        const consumers = uses.get(op.output) ?? [];
        const only = consumers.length === 1 ? consumers[0]! : undefined;
        const captured = opts.captureAccumulators === op.id || (opts.capture ?? []).includes(op.output);
        const fusable = fuse && only && (only.op === 'threshold' || only.op === 'requantize') && !captured;
        const unit = unitGeometry(op, type(op.input) as FixedType | BinaryType, type(op.output) as AccType, weights.get(op.weight)!);
        if (fusable) {
          const s = new Float64Array(unit.rows * unit.pixels);
          fusedSums.set(op.output, s);
          steps.push(fusedUnitStep(unit, (only as ThresholdOp | RequantizeOp).multipliers, s, bufs));
          bufs.set(op.output, s);
        } else {
          const acc = alloc(op.output) as Float64Array;
          steps.push(accumulatorStep(unit, acc, bufs));
        }
        break;
      }
      case 'threshold': {
        const out = alloc(op.output) as Uint8Array;
        const sumOf = sumReader(op, type(op.input), fusedSums.get(op.input), bufs);
        const bands = op.bands.map((b) => ({ th: Float64Array.from(b.thresholds), codes: Uint8Array.from(b.codes) }));
        const channels = bands.length;
        const pixels = out.length / channels;
        steps.push(() => {
          const s = sumOf();
          for (let c = 0; c < channels; c++) {
            const { th, codes } = bands[c]!;
            const n = th.length;
            for (let q = 0; q < pixels; q++) {
              const v = s[c * pixels + q]!;
              let b = 0;
              while (b < n && v >= th[b]!) b++;
              out[c * pixels + q] = codes[b]!;
            }
          }
        });
        break;
      }
      case 'requantize': {
        const t = type(op.output) as FixedType;
        const out = alloc(op.output) as Float64Array;
        const sumOf = sumReader(op, type(op.input), fusedSums.get(op.input), bufs);
        const channels = op.bias.length;
        const pixels = out.length / channels;
        const div = 2 ** op.shift;
        const [lo, hi] = range(t.bits);
        const id = op.id;
        steps.push((ctx) => {
          const s = sumOf();
          let sat = 0;
          for (let c = 0; c < channels; c++) {
            const b = op.bias[c]!;
            for (let q = 0; q < pixels; q++) {
              const v = Math.floor((s[c * pixels + q]! + b) / div);
              if (v > hi || v < lo) sat++;
              out[c * pixels + q] = v > hi ? hi : v < lo ? lo : v;
            }
          }
          if (sat) ctx.saturated[id] = (ctx.saturated[id] ?? 0) + sat;
        });
        break;
      }
      case 'relu': {
        const t = type(op.input);
        const out = alloc(op.output);
        const get = (): Buf => bufs.get(op.input)!;
        if (t.kind === 'binary') {
          const map = Uint8Array.from(op.map ?? []);
          steps.push(() => {
            const x = get();
            for (let i = 0; i < out.length; i++) out[i] = map[x[i]!]!;
          });
        } else {
          steps.push(() => {
            const x = get();
            for (let i = 0; i < out.length; i++) out[i] = x[i]! > 0 ? x[i]! : 0;
          });
        }
        break;
      }
      case 'maxpool': {
        const t = type(op.input) as FixedType | BinaryType;
        const [oh, ow] = outputSize(t.shape, op, op.ceilMode);
        const win = windowTable(t.shape, op, oh, ow);
        const out = alloc(op.output);
        const channels = t.shape[0]!;
        const hw = t.shape[1]! * t.shape[2]!;
        const pix = oh * ow;
        const kk = win.kk;
        steps.push(() => {
          const x = bufs.get(op.input)!;
          for (let c = 0; c < channels; c++) {
            for (let q = 0; q < pix; q++) {
              let best = -Infinity;
              for (let k = 0; k < kk; k++) {
                const sp = win.spatial[q * kk + k]!;
                if (sp < 0) continue;
                const v = x[c * hw + sp]!;
                if (v > best) best = v;
              }
              out[c * pix + q] = best === -Infinity ? 0 : best;
            }
          }
        });
        break;
      }
      case 'reshape': {
        // Same entries, same order: alias the buffer (filled by earlier steps at run time).
        steps.push(() => {
          bufs.set(op.output, bufs.get(op.input)!);
        });
        break;
      }
      case 'scale': {
        const t = type(op.output) as FixedType;
        const out = alloc(op.output) as Float64Array;
        const div = 2 ** op.shift;
        const half = 2 ** (op.shift - 1);
        const [lo, hi] = range(t.bits);
        const id = op.id;
        steps.push((ctx) => {
          const x = bufs.get(op.input)!;
          let sat = 0;
          for (let i = 0; i < out.length; i++) {
            const v = Math.floor((x[i]! * op.multiplier + half) / div);
            if (v > hi || v < lo) sat++;
            out[i] = v > hi ? hi : v < lo ? lo : v;
          }
          if (sat) ctx.saturated[id] = (ctx.saturated[id] ?? 0) + sat;
        });
        break;
      }
      case 'add':
      case 'concat': {
        const t = type(op.output) as FixedType;
        const out = alloc(op.output) as Float64Array;
        const [lo, hi] = range(t.bits);
        const parts = op.inputs.map((id, i) => ({ id, n: size(type(id).shape), align: aligner(op.operands[i]!) }));
        const id = op.id;
        const add = op.op === 'add';
        steps.push((ctx) => {
          let sat = 0;
          if (add) {
            out.fill(0);
            for (const part of parts) {
              const x = bufs.get(part.id)!;
              for (let i = 0; i < out.length; i++) out[i]! += part.align(x[i]!);
            }
            for (let i = 0; i < out.length; i++) {
              const v = out[i]!;
              if (v > hi || v < lo) sat++;
              out[i] = v > hi ? hi : v < lo ? lo : v;
            }
          } else {
            let off = 0;
            for (const part of parts) {
              const x = bufs.get(part.id)!;
              for (let i = 0; i < part.n; i++) {
                const v = part.align(x[i]!);
                if (v > hi || v < lo) sat++;
                out[off + i] = v > hi ? hi : v < lo ? lo : v;
              }
              off += part.n;
            }
          }
          if (sat) ctx.saturated[id] = (ctx.saturated[id] ?? 0) + sat;
        });
        break;
      }
      case 'avgpool': {
        const t = type(op.input) as FixedType | BinaryType;
        const tout = type(op.output) as FixedType;
        const [oh, ow] = outputSize(t.shape, op, op.ceilMode);
        const win = windowTable(t.shape, op, oh, ow);
        const div = avgPoolDivisors(t.shape, op, oh, ow, op.countIncludePad);
        const mult = Float64Array.from(div, (n) => op.multipliers[String(n)]!);
        const out = alloc(op.output) as Float64Array;
        const align = aligner(op.operand);
        const channels = t.shape[0]!;
        const hw = t.shape[1]! * t.shape[2]!;
        const pix = oh * ow;
        const kk = win.kk;
        const d = 2 ** op.shift;
        const half = op.shift > 0 ? 2 ** (op.shift - 1) : 0;
        const [lo, hi] = range(tout.bits);
        const id = op.id;
        steps.push((ctx) => {
          const x = bufs.get(op.input)!;
          let sat = 0;
          for (let c = 0; c < channels; c++) {
            for (let q = 0; q < pix; q++) {
              let sum = 0;
              for (let k = 0; k < kk; k++) {
                const sp = win.spatial[q * kk + k]!;
                if (sp >= 0) sum += align(x[c * hw + sp]!);
              }
              const v = Math.floor((sum * mult[q]! + half) / d);
              if (v > hi || v < lo) sat++;
              out[c * pix + q] = v > hi ? hi : v < lo ? lo : v;
            }
          }
          if (sat) ctx.saturated[id] = (ctx.saturated[id] ?? 0) + sat;
        });
        break;
      }
      case 'clip': {
        const t = type(op.input);
        const out = alloc(op.output);
        if (t.kind === 'binary') {
          const map = Uint8Array.from(op.map ?? []);
          steps.push(() => {
            const x = bufs.get(op.input)!;
            for (let i = 0; i < out.length; i++) out[i] = map[x[i]!]!;
          });
        } else {
          const lo = op.lo ?? -Infinity;
          const hi = op.hi ?? Infinity;
          steps.push(() => {
            const x = bufs.get(op.input)!;
            for (let i = 0; i < out.length; i++) {
              const v = x[i]!;
              out[i] = v < lo ? lo : v > hi ? hi : v;
            }
          });
        }
        break;
      }
      case 'leakyrelu': {
        const out = alloc(op.output) as Float64Array;
        const d = 2 ** op.shift;
        const half = 2 ** (op.shift - 1);
        steps.push(() => {
          const x = bufs.get(op.input)!;
          for (let i = 0; i < out.length; i++) {
            const v = x[i]!;
            out[i] = v >= 0 ? v : Math.floor((v * op.multiplier + half) / d);
          }
        });
        break;
      }
      case 'argmax': {
        const out = alloc(op.output) as Float64Array;
        steps.push(() => {
          const x = bufs.get(op.input)!;
          let best = 0;
          for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
          out[0] = best;
        });
        break;
      }
      default:
        unreachable(op, 'op');
    }
  }
  return { steps, bufs };
}

/** An operand's integer at the output fraction: a level table, or a rounding right shift. */
export function aligner(o: Operand): (v: number) => number {
  if (o.table) {
    const table = Float64Array.from(o.table);
    return (v) => table[v]!;
  }
  if (o.shift === 0) return (v) => v;
  const d = 2 ** o.shift;
  const half = 2 ** (o.shift - 1);
  return (v) => Math.floor((v + half) / d);
}

/** S = Σ_t M[t][c]·acc_t for every entry: the fused buffer, or computed from the accumulators. */
function sumReader(op: ThresholdOp | RequantizeOp, inType: BitType, fused: Float64Array | undefined, bufs: Map<string, Buf>): () => Float64Array {
  if (fused) return () => fused;
  if (inType.kind === 'fixed') {
    // S = M[0][c]·q (one implicit term; a binarizer on a fixed-point tensor has M = 1).
    const m = op.multipliers[0]!;
    if (m.every((x) => x === 1)) return () => bufs.get(op.input) as Float64Array;
    const n = size(inType.shape);
    const channels = inType.shape[0]!;
    const pixels = n / channels;
    const s = new Float64Array(n);
    return () => {
      const q = bufs.get(op.input) as Float64Array;
      for (let c = 0; c < channels; c++) for (let p = 0; p < pixels; p++) s[c * pixels + p] = m[c]! * q[c * pixels + p]!;
      return s;
    };
  }
  if (inType.kind !== 'acc') fail(ErrorCodes.INTERNAL, `${op.op} ${op.id}: input is ${inType.kind}`);
  const n = size(inType.shape);
  const channels = inType.shape[0]!;
  const pixels = n / channels;
  const terms = inType.terms.length;
  const s = new Float64Array(n);
  return () => {
    const acc = bufs.get(op.input) as Float64Array;
    s.fill(0);
    for (let t = 0; t < terms; t++) {
      const m = op.multipliers[t]!;
      for (let c = 0; c < channels; c++) {
        const mc = m[c]!;
        const base = t * n + c * pixels;
        for (let q = 0; q < pixels; q++) s[c * pixels + q]! += mc * acc[base + q]!;
      }
    }
    return s;
  };
}

// ------------------------------------------------------------------------------------------
// Units
// ------------------------------------------------------------------------------------------

interface UnitGeometry {
  op: ConvOp | MatVecOp;
  input: FixedType | BinaryType;
  acc: AccType;
  weight: WeightTensor;
  rows: number;
  /** Fan-in J per output channel. */
  cols: number;
  /** Output pixels per channel (1 for matvec). */
  pixels: number;
  groups: number;
  /** Input channels per group, kernel positions, input pixels per channel. */
  cg: number;
  kk: number;
  hw: number;
  /** [p·kk + k] → input spatial index or -1 (padding); matvec: identity over J. */
  spatial: Int32Array;
}

function unitGeometry(op: ConvOp | MatVecOp, input: FixedType | BinaryType, acc: AccType, weight: WeightTensor): UnitGeometry {
  if (op.op === 'matvec') {
    const j = input.shape[0]!;
    const spatial = new Int32Array(j);
    for (let i = 0; i < j; i++) spatial[i] = i;
    // A matvec is a 1×1 window over a [J, 1, 1]-like input read as one "channel" of J entries.
    return { op, input, acc, weight, rows: weight.rows, cols: j, pixels: 1, groups: 1, cg: 1, kk: j, hw: j, spatial };
  }
  const [oh, ow] = outputSize(input.shape, op, false);
  const win = windowTable(input.shape, op, oh, ow);
  return {
    op,
    input,
    acc,
    weight,
    rows: weight.rows,
    cols: weight.cols,
    pixels: oh * ow,
    groups: op.group,
    cg: input.shape[0]! / op.group,
    kk: win.kk,
    hw: input.shape[1]! * input.shape[2]!,
    spatial: win.spatial,
  };
}

/** Term index of (weight plane w, activation plane a) in the accumulator type. */
function termIndex(acc: AccType, w: number, a: number): number {
  return acc.terms.findIndex((t) => t.w === w && t.a === a);
}

/**
 * Fused unit: S[o, p] = Σ_t M[t][o]·acc_t[o, p] computed as Σ_j Wc[o, j]·x_j (fixed input) or
 * Σ_j G[o, j, L_j] (binary input, L_j the level index, a padding slot contributes 0).
 */
function fusedUnitStep(u: UnitGeometry, multipliers: number[][], out: Float64Array, bufs: Map<string, Buf>): Step {
  const { rows, cols: J, pixels: P, groups, cg, kk, hw, spatial } = u;
  const og = rows / groups;
  const wPlanes = weightPlanes(u.weight);
  if (u.input.kind === 'fixed' && u.weight.kind === 'binary' && rows * J > STREAMED_WEIGHTS_MIN) {
    // A large unit (AlexNet's fully connected layers): the combined rows are built four at a
    // time from the packed planes on each run instead of a rows × J array held for all runs
    // (hundreds of MB, more time to build than one sample's product). Integer sums: the same values.
    const weight = u.weight;
    const planeMult = wPlanes.map((w) => multipliers[termIndex(u.acc, w, 0)]!);
    const buf = new Float64Array(4 * J);
    const col = new Float64Array(P * J);
    return () => {
      const x = bufs.get(u.op.input) as Float64Array;
      for (let g = 0; g < groups; g++) {
        const c0 = g * cg;
        gatherColumns(x, c0, cg, hw, kk, spatial, P, J, col);
        for (let o = g * og; o < (g + 1) * og; o += 4) {
          const live = Math.min(4, (g + 1) * og - o);
          combinedRows(weight, planeMult, o, live, J, buf);
          denseRows(buf, 0, live, J, col, P, out.subarray(o * P));
        }
      }
    };
  }
  if (u.input.kind === 'fixed') {
    const wc = new Float64Array(rows * J);
    for (let o = 0; o < rows; o++) {
      for (const w of wPlanes) {
        const t = termIndex(u.acc, w, 0);
        const m = multipliers[t]![o]!;
        for (let j = 0; j < J; j++) wc[o * J + j]! += m * weightFactor(u.weight, w, o, j);
      }
    }
    const col = new Float64Array(P * J);
    return () => {
      const x = bufs.get(u.op.input) as Float64Array;
      for (let g = 0; g < groups; g++) {
        const c0 = g * cg;
        gatherColumns(x, c0, cg, hw, kk, spatial, P, J, col);
        denseRows(wc, g * og, (g + 1) * og, J, col, P, out);
      }
    };
  }
  // Binary input: S[o, p] = Σ_j G[o, j, L_j] with G[o, j, L] = Σ_(w,a) M_(w,a)[o]·w_w[o, j]·f_a(L),
  // f_a(L) in {-1, 0, +1} the level's plane-a value (slot nl: padding, 0). G is laid out in
  // blocks of 4 output channels, [block][j][slot][4], so one window entry's level selects
  // 4 adjacent values.
  const inType = u.input;
  const nl = inType.levels.length;
  const slots = nl + 1;
  const blocks = Math.ceil(og / 4);
  const G = new Float64Array(groups * blocks * J * slots * 4);
  for (let o = 0; o < rows; o++) {
    const g = Math.floor(o / og);
    const ol = o - g * og;
    const blockBase = (g * blocks + (ol >> 2)) * J * slots * 4 + (ol & 3);
    for (const w of wPlanes) {
      for (let a = 1; a <= inType.planes; a++) {
        const t = termIndex(u.acc, w, a);
        const m = t < 0 ? 0 : multipliers[t]![o]!;
        if (m === 0) continue;
        for (let j = 0; j < J; j++) {
          const wf = weightFactor(u.weight, w, o, j);
          if (wf === 0) continue;
          for (let l = 0; l < nl; l++) {
            const fa = planeFactor(inType, l, a);
            if (fa !== 0) G[blockBase + (j * slots + l) * 4]! += m * wf * fa;
          }
        }
      }
    }
  }
  const idx = new Int32Array(P * J);
  return () => {
    const x = bufs.get(u.op.input) as Uint8Array;
    for (let g = 0; g < groups; g++) {
      const c0 = g * cg;
      for (let p = 0; p < P; p++) {
        for (let c = 0; c < cg; c++) {
          const base = (c0 + c) * hw;
          for (let k = 0; k < kk; k++) {
            const sp = spatial[p * kk + k]!;
            const j = c * kk + k;
            idx[p * J + j] = (j * slots + (sp < 0 ? nl : x[base + sp]!)) * 4;
          }
        }
      }
      for (let b = 0; b < blocks; b++) {
        const gb = (g * blocks + b) * J * slots * 4;
        const o = g * og + b * 4;
        const live = Math.min(4, og - b * 4);
        gatherBlock(G, gb, idx, J, P, out, o, live);
      }
    }
  };
}

/**
 * out[(o + r)·P + p] = Σ_j G[gb + idx[p·J + j] + r] for r < live: one block of 4 output
 * channels, 2 pixels at a time.
 */
function gatherBlock(G: Float64Array, gb: number, idx: Int32Array, J: number, P: number, out: Float64Array, o: number, live: number): void {
  let p = 0;
  for (; p + 2 <= P; p += 2) {
    const c0 = p * J;
    const c1 = c0 + J;
    let a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
    for (let j = 0; j < J; j++) {
      const r0 = gb + idx[c0 + j]!;
      const r1 = gb + idx[c1 + j]!;
      a00 += G[r0]!; a10 += G[r0 + 1]!; a20 += G[r0 + 2]!; a30 += G[r0 + 3]!;
      a01 += G[r1]!; a11 += G[r1 + 1]!; a21 += G[r1 + 2]!; a31 += G[r1 + 3]!;
    }
    const acc = [a00, a01, a10, a11, a20, a21, a30, a31];
    for (let r = 0; r < live; r++) {
      out[(o + r) * P + p] = acc[2 * r]!;
      out[(o + r) * P + p + 1] = acc[2 * r + 1]!;
    }
  }
  for (; p < P; p++) {
    const c0 = p * J;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let j = 0; j < J; j++) {
      const r0 = gb + idx[c0 + j]!;
      a0 += G[r0]!; a1 += G[r0 + 1]!; a2 += G[r0 + 2]!; a3 += G[r0 + 3]!;
    }
    const acc = [a0, a1, a2, a3];
    for (let r = 0; r < live; r++) out[(o + r) * P + p] = acc[r]!;
  }
}

/** out[o·P + p] = Σ_j W[o·J + j]·col[p·J + j] for o in [o0, o1): 4 rows × 2 pixels per block. */
/** Units with more weights than this evaluate a fixed-point input from the packed planes (fusedUnitStep). */
const STREAMED_WEIGHTS_MIN = 1 << 22;

/**
 * Rows o .. o + count − 1 of the combined weights Σ_w M_w[o]·w_w[o, j] into buf[(r − o)·J + j],
 * read word by word from the packed planes (set mask bits only).
 */
function combinedRows(w: BinaryWeight, planeMult: readonly number[][], o: number, count: number, J: number, buf: Float64Array): void {
  buf.fill(0, 0, count * J);
  const wpr = w.wordsPerRow;
  for (let r = 0; r < count; r++) {
    const row = o + r;
    const off = r * J;
    for (let i = 0; i < w.planes.length; i++) {
      const m = planeMult[i]![row]!;
      if (m === 0) continue;
      const { mask, signs } = w.planes[i]!;
      for (let k = 0; k < wpr; k++) {
        let bits = mask[row * wpr + k]!;
        if (bits === 0) continue;
        const sg = signs[row * wpr + k]!;
        const j0 = off + k * 32;
        while (bits !== 0) {
          const low = bits & -bits;
          const b = 31 - Math.clz32(low);
          buf[j0 + b]! += sg & low ? m : -m;
          bits ^= low;
        }
      }
    }
  }
}

function denseRows(W: Float64Array, o0: number, o1: number, J: number, col: Float64Array, P: number, out: Float64Array): void {
  let o = o0;
  for (; o + 4 <= o1; o += 4) {
    const w0 = o * J;
    const w1 = w0 + J;
    const w2 = w1 + J;
    const w3 = w2 + J;
    let p = 0;
    for (; p + 2 <= P; p += 2) {
      const c0 = p * J;
      const c1 = c0 + J;
      let a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
      for (let j = 0; j < J; j++) {
        const x0 = col[c0 + j]!;
        const x1 = col[c1 + j]!;
        const y0 = W[w0 + j]!;
        const y1 = W[w1 + j]!;
        const y2 = W[w2 + j]!;
        const y3 = W[w3 + j]!;
        a00 += y0 * x0; a01 += y0 * x1;
        a10 += y1 * x0; a11 += y1 * x1;
        a20 += y2 * x0; a21 += y2 * x1;
        a30 += y3 * x0; a31 += y3 * x1;
      }
      out[o * P + p] = a00; out[o * P + p + 1] = a01;
      out[(o + 1) * P + p] = a10; out[(o + 1) * P + p + 1] = a11;
      out[(o + 2) * P + p] = a20; out[(o + 2) * P + p + 1] = a21;
      out[(o + 3) * P + p] = a30; out[(o + 3) * P + p + 1] = a31;
    }
    for (; p < P; p++) {
      const c0 = p * J;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let j = 0; j < J; j++) {
        const x0 = col[c0 + j]!;
        a0 += W[w0 + j]! * x0; a1 += W[w1 + j]! * x0; a2 += W[w2 + j]! * x0; a3 += W[w3 + j]! * x0;
      }
      out[o * P + p] = a0; out[(o + 1) * P + p] = a1; out[(o + 2) * P + p] = a2; out[(o + 3) * P + p] = a3;
    }
  }
  for (; o < o1; o++) {
    for (let p = 0; p < P; p++) {
      let a = 0;
      for (let j = 0; j < J; j++) a += W[o * J + j]! * col[p * J + j]!;
      out[o * P + p] = a;
    }
  }
}

/**
 * Op-by-op unit: per-term accumulators [T, O, P]. Binary input × binary weights: packed
 * window words per activation plane, acc = 2·popcount(~(Sw ^ Sa) & Mw & Ma) - popcount(Mw & Ma).
 * Fixed-point input: masked signed sums. Fixed weights: integer products.
 */
function accumulatorStep(u: UnitGeometry, acc: Float64Array, bufs: Map<string, Buf>): Step {
  const { rows, cols: J, pixels: P, groups, cg, kk, hw, spatial } = u;
  const og = rows / groups;
  const T = u.acc.terms.length;
  const plane = rows * P;
  const terms = u.acc.terms;
  if (u.input.kind === 'binary' && u.weight.kind === 'binary') {
    const inType = u.input;
    const w = u.weight as BinaryWeight;
    const wpr = w.wordsPerRow;
    const ka = inType.planes;
    // Per level: sign and mask bit of each activation plane.
    const lvSign = inType.levels.map((l) => l.signs);
    const lvMask = inType.levels.map((l) => l.mask);
    const winS = new Uint32Array(ka * wpr);
    const winM = new Uint32Array(ka * wpr);
    return () => {
      const x = bufs.get(u.op.input) as Uint8Array;
      for (let g = 0; g < groups; g++) {
        const c0 = g * cg;
        for (let p = 0; p < P; p++) {
          winS.fill(0);
          winM.fill(0);
          for (let c = 0; c < cg; c++) {
            for (let k = 0; k < kk; k++) {
              const sp = spatial[p * kk + k]!;
              if (sp < 0) continue; // padding: every mask bit 0
              const l = x[(c0 + c) * hw + sp]!;
              const j = c * kk + k;
              const word = j >>> 5;
              const bit = 1 << (j & 31);
              for (let a = 0; a < ka; a++) {
                if (lvMask[l]! & (1 << a)) {
                  winM[a * wpr + word] = (winM[a * wpr + word]! | bit) >>> 0;
                  if (lvSign[l]! & (1 << a)) winS[a * wpr + word] = (winS[a * wpr + word]! | bit) >>> 0;
                }
              }
            }
          }
          for (let o = g * og; o < (g + 1) * og; o++) {
            for (let t = 0; t < T; t++) {
              const { w: wi, a } = terms[t]!;
              const wp = w.planes[wi - 1]!;
              let agree = 0;
              let present = 0;
              for (let q = 0; q < wpr; q++) {
                const m = wp.mask[o * wpr + q]! & winM[(a - 1) * wpr + q]!;
                present += popcount32(m);
                agree += popcount32(~(wp.signs[o * wpr + q]! ^ winS[(a - 1) * wpr + q]!) & m);
              }
              acc[t * plane + o * P + p] = 2 * agree - present;
            }
          }
        }
      }
    };
  }
  // Fixed-point input, or fixed weights: plain signed sums over the window.
  const input = u.input;
  return () => {
    const x = bufs.get(u.op.input)!;
    for (let g = 0; g < groups; g++) {
      const c0 = g * cg;
      for (let o = g * og; o < (g + 1) * og; o++) {
        for (let t = 0; t < T; t++) {
          const { w: wi, a } = terms[t]!;
          for (let p = 0; p < P; p++) {
            let s = 0;
            for (let c = 0; c < cg; c++) {
              for (let k = 0; k < kk; k++) {
                const sp = spatial[p * kk + k]!;
                if (sp < 0) continue;
                const wf = weightFactor(u.weight, wi, o, c * kk + k);
                if (wf === 0) continue;
                const v = x[(c0 + c) * hw + sp]!;
                s += wf * (input.kind === 'binary' ? planeFactor(input, v, a) : v);
              }
            }
            acc[t * plane + o * P + p] = s;
          }
        }
      }
    }
  };
}

export const _internal = { denseRows };

/**
 * im2col of one group of a fixed-point conv input: col[p, c·kk + k] = x[c0 + c, spatial[p·kk + k]]
 * (0 where the tap reads padding, spatial < 0), for the P output positions and J = cg·kk columns.
 */
function gatherColumns(x: Float64Array, c0: number, cg: number, hw: number, kk: number, spatial: ArrayLike<number>, P: number, J: number, col: Float64Array): void {
  for (let p = 0; p < P; p++) {
    for (let c = 0; c < cg; c++) {
      const base = (c0 + c) * hw;
      for (let k = 0; k < kk; k++) {
        const sp = spatial[p * kk + k]!;
        col[p * J + c * kk + k] = sp < 0 ? 0 : x[base + sp]!;
      }
    }
  }
}
