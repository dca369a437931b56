/**
 * Why may the bit-level IR and onnxruntime disagree on a sample? (docs/bit-ir.md §5)
 *
 * Both approximate the same real-valued network: the quantized model in exact arithmetic,
 * whose every constant the IR records (`real` of threshold/requantize units, weight plane
 * scales, `coef`, the scaling layer's `scale`). `explainSample` runs, for one sample:
 * 1. the real-valued network in float64 (`realForward`): values v per entry, the exact
 *    binarizer codes, the real logits L*;
 * 2. the IR interpreter: fixed-point logits; its deviation d_c = |IR_c − L*_c| is the
 *    fixed-point rounding effect of this sample (input quantization, rounded multipliers,
 *    requantization, and the binarizer codes that rounding flipped near a band edge);
 * 3. an a-priori allowance f_c ≥ |ORT_c − L*_c| for onnxruntime's float32 rounding, propagated
 *    entry by entry: f_out = |A|·(Σ_j |W_j|·f_j) + (J + 8)·2^-24·(|A|·Σ_j |W_j·v_j| + |B| + |x|)
 *    through a unit (x = A·Σ W·v + B), the level spread of every band edge within f of x
 *    through a binarizer (else one ulp), the max over the window through MaxPool, unchanged
 *    through Relu/Reshape, |s|·f + ulp through the scaling layer.
 * When ORT picks class a and the IR class b, ORT_a − ORT_b ≤ d_a + d_b + f_a + f_b: the
 * difference is the fixed-point rounding of this sample (plus float32 noise). None of the
 * right-hand side looks at onnxruntime's outputs.
 */
import { fail, ErrorCodes } from '../errors.js';
import { interpret } from './interpret.js';
import { outputSize } from './lower.js';
import { weightFactor, weightPlanes } from './access.js';
import { avgPoolDivisors, windowTable } from './window.js';
import {
  unreachable,
  type AccType,
  type BinaryType,
  type BitProgram,
  type BitType,
  type ConvOp,
  type FixedType,
  type MatVecOp,
  type RequantizeOp,
  type ThresholdOp,
  type WeightTensor,
} from './types.js';

export interface SampleExplanation {
  /** Logits of the real-valued network (float64). */
  real: number[];
  /** IR logits (fixed point, as reals). */
  ir: number[];
  /** |IR − real| per logit: this sample's fixed-point rounding effect. */
  deviation: number[];
  /** A-priori bound on |ORT − real| per logit (float32 rounding). */
  ortAllowance: number[];
  /** Binarizer entries whose IR code differs from the real network's. */
  irFlips: number;
  /** Binarizer entries within onnxruntime's float32 error of a band edge. */
  ortPossibleFlips: number;
}

interface RealLayer {
  op: ConvOp | MatVecOp;
  inType: FixedType | BinaryType;
  rows: number;
  cols: number;
  pixels: number;
  /** Input entry read by (output channel o, pixel p, fan-in j), or -1 for padding. */
  index: (o: number, p: number, j: number) => number;
  /** Real weights W[o·J + j]. */
  w: Float64Array;
}

export interface RealForward {
  logits: number[];
  ortAllowance: number[];
  /** Level index per entry of every binary tensor of the real network. */
  codes: Map<string, Int32Array>;
  ortPossibleFlips: number;
}

/** Builds the real-valued executor of a program (weights prepared once). */
export function realExecutor(program: BitProgram): (image: Float32Array) => RealForward {
  const types = new Map(program.tensors.map((t) => [t.id, t.type]));
  const weights = new Map(program.weights.map((w) => [w.id, w]));
  const layers = new Map<string, RealLayer>();
  for (const op of program.ops) if (op.op === 'conv' || op.op === 'matvec') layers.set(op.output, realLayer(op, types, weights.get(op.weight)!));
  return (image) => {
    const val = new Map<string, Float64Array>();
    const fe = new Map<string, Float64Array>();
    const codes = new Map<string, Int32Array>();
    let ortPossibleFlips = 0;
    for (const op of program.ops) {
      switch (op.op) {
        case 'input':
          val.set(op.output, Float64Array.from(image));
          fe.set(op.output, new Float64Array(image.length));
          break;
        case 'conv':
        case 'matvec':
          break; // evaluated with its consumer
        case 'threshold':
        case 'requantize': {
          const inT = types.get(op.input)!;
          const res =
            inT.kind === 'fixed'
              ? standaloneUnit(op, val.get(op.input)!, fe.get(op.input)!)
              : unitForward(layers.get(op.input)!, op, val, fe);
          if (op.op === 'threshold') {
            const t = types.get(op.output) as BinaryType;
            const c = new Int32Array(res.x.length);
            const v = new Float64Array(res.x.length);
            const f = new Float64Array(res.x.length);
            for (let i = 0; i < res.x.length; i++) {
              const x = res.x[i]!;
              const code = op.real.codes[bandOf(op.real.breakpoints, x)]!;
              c[i] = code;
              v[i] = t.levels[code]!.value;
              // Band edges within ORT's float32 error of x (with slack for the binarizer's own float32 ops).
              const delta = res.f[i]! + 2 ** -22 * (Math.abs(x) + maxAbs(op.real.breakpoints, x));
              const lo = bandOf(op.real.breakpoints, x - delta);
              const hi = bandOf(op.real.breakpoints, x + delta);
              let spread = 2 ** -23 * Math.abs(v[i]!);
              if (lo !== hi) {
                ortPossibleFlips++;
                for (let b = lo; b <= hi; b++) spread = Math.max(spread, Math.abs(t.levels[op.real.codes[b]!]!.value - v[i]!));
              }
              f[i] = spread;
            }
            codes.set(op.output, c);
            val.set(op.output, v);
            fe.set(op.output, f);
          } else {
            val.set(op.output, res.x);
            fe.set(op.output, res.f);
          }
          break;
        }
        case 'relu': {
          const x = val.get(op.input)!;
          val.set(op.output, x.map((v) => (v > 0 ? v : 0)));
          fe.set(op.output, fe.get(op.input)!);
          const c = codes.get(op.input);
          if (c && op.map) codes.set(op.output, c.map((l) => op.map![l]!));
          break;
        }
        case 'maxpool': {
          const t = types.get(op.input) as FixedType | BinaryType;
          const [oh, ow] = outputSize(t.shape, op, op.ceilMode);
          const win = windowTable(t.shape, op, oh, ow);
          const x = val.get(op.input)!;
          const fin = fe.get(op.input)!;
          const cin = codes.get(op.input);
          const ch = t.shape[0]!;
          const hw = t.shape[1]! * t.shape[2]!;
          const n = ch * oh * ow;
          const v = new Float64Array(n);
          const f = new Float64Array(n);
          const c = new Int32Array(n);
          for (let k = 0; k < ch; k++) {
            for (let p = 0; p < oh * ow; p++) {
              let best = -Infinity;
              let bestCode = 0;
              let fm = 0;
              for (let q = 0; q < win.kk; q++) {
                const sp = win.spatial[p * win.kk + q]!;
                if (sp < 0) continue;
                const i = k * hw + sp;
                const code = cin ? cin[i]! : 0;
                if (x[i]! > best || (cin && x[i] === best && code > bestCode)) {
                  best = x[i]!;
                  bestCode = code;
                }
                fm = Math.max(fm, fin[i]!);
              }
              v[k * oh * ow + p] = best === -Infinity ? 0 : best;
              f[k * oh * ow + p] = fm;
              c[k * oh * ow + p] = bestCode;
            }
          }
          val.set(op.output, v);
          fe.set(op.output, f);
          if (cin) codes.set(op.output, c);
          break;
        }
        case 'reshape': {
          val.set(op.output, val.get(op.input)!);
          fe.set(op.output, fe.get(op.input)!);
          const c = codes.get(op.input);
          if (c) codes.set(op.output, c);
          break;
        }
        case 'scale': {
          const x = val.get(op.input)!;
          const fin = fe.get(op.input)!;
          val.set(op.output, x.map((v) => op.scale * v));
          fe.set(op.output, fin.map((f, i) => Math.abs(op.scale) * f + 2 ** -23 * Math.abs(op.scale * x[i]!)));
          break;
        }
        case 'add': {
          const xs = op.inputs.map((id) => val.get(id)!);
          const fs = op.inputs.map((id) => fe.get(id)!);
          const n = xs[0]!.length;
          const v = new Float64Array(n);
          const f = new Float64Array(n);
          for (let i = 0; i < n; i++) {
            let sum = 0;
            let err = 0;
            for (let k = 0; k < xs.length; k++) {
              sum += xs[k]![i]!;
              err += fs[k]![i]!;
            }
            v[i] = sum;
            f[i] = err + 2 ** -24 * Math.abs(sum);
          }
          val.set(op.output, v);
          fe.set(op.output, f);
          break;
        }
        case 'concat': {
          const n = op.inputs.reduce((a, id) => a + val.get(id)!.length, 0);
          const v = new Float64Array(n);
          const f = new Float64Array(n);
          let off = 0;
          for (const id of op.inputs) {
            v.set(val.get(id)!, off);
            f.set(fe.get(id)!, off);
            off += val.get(id)!.length;
          }
          val.set(op.output, v);
          fe.set(op.output, f);
          break;
        }
        case 'avgpool': {
          const t = types.get(op.input) as FixedType | BinaryType;
          const [oh, ow] = outputSize(t.shape, op, op.ceilMode);
          const win = windowTable(t.shape, op, oh, ow);
          const div = avgPoolDivisors(t.shape, op, oh, ow, op.countIncludePad);
          const x = val.get(op.input)!;
          const fin = fe.get(op.input)!;
          const ch = t.shape[0]!;
          const hw = t.shape[1]! * t.shape[2]!;
          const pix = oh * ow;
          const v = new Float64Array(ch * pix);
          const f = new Float64Array(ch * pix);
          const gamma = (win.kk + 4) * 2 ** -24;
          for (let k = 0; k < ch; k++) {
            for (let p = 0; p < pix; p++) {
              let sum = 0;
              let mag = 0;
              let err = 0;
              for (let q = 0; q < win.kk; q++) {
                const sp = win.spatial[p * win.kk + q]!;
                if (sp < 0) continue;
                sum += x[k * hw + sp]!;
                mag += Math.abs(x[k * hw + sp]!);
                err += fin[k * hw + sp]!;
              }
              const n = div[p]!;
              v[k * pix + p] = sum / n;
              f[k * pix + p] = err / n + gamma * (mag / n);
            }
          }
          val.set(op.output, v);
          fe.set(op.output, f);
          break;
        }
        case 'clip': {
          const x = val.get(op.input)!;
          const t = types.get(op.input)!;
          const c = codes.get(op.input);
          if (t.kind === 'binary' && op.map) {
            const tout = types.get(op.output) as BinaryType;
            const cc = c ? c.map((l) => op.map![l]!) : undefined;
            val.set(op.output, cc ? Float64Array.from(cc, (l) => tout.levels[l]!.value) : x);
            if (cc) codes.set(op.output, cc);
          } else {
            const ft = t as FixedType;
            const lo = op.lo === null ? -Infinity : op.lo * 2 ** -ft.frac;
            const hi = op.hi === null ? Infinity : op.hi * 2 ** -ft.frac;
            val.set(op.output, x.map((v) => (v < lo ? lo : v > hi ? hi : v)));
          }
          fe.set(op.output, fe.get(op.input)!);
          break;
        }
        case 'leakyrelu': {
          const x = val.get(op.input)!;
          const fin = fe.get(op.input)!;
          val.set(op.output, x.map((v) => (v >= 0 ? v : op.alpha * v)));
          fe.set(op.output, fin.map((f, i) => Math.max(1, Math.abs(op.alpha)) * f + 2 ** -24 * Math.abs(x[i]!)));
          break;
        }
        case 'argmax':
          break;
        default:
          unreachable(op, 'op');
      }
    }
    return {
      logits: Array.from(val.get(program.outputs.logits)!),
      ortAllowance: Array.from(fe.get(program.outputs.logits)!),
      codes,
      ortPossibleFlips,
    };
  };
}

/** Runs the interpreter and the real-valued network on one sample and compares them. */
export function sampleExplainer(program: BitProgram): (image: Float32Array) => SampleExplanation {
  const real = realExecutor(program);
  const binaries = program.ops.filter((o) => o.op === 'threshold').map((o) => o.output);
  return (image) => {
    const r = real(image);
    const ir = interpret(program, image, { limit: 1, capture: binaries });
    let irFlips = 0;
    for (const id of binaries) {
      const a = ir.captured[id]!;
      const b = r.codes.get(id)!;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) irFlips++;
    }
    const irLogits = Array.from(ir.logits);
    return {
      real: r.logits,
      ir: irLogits,
      deviation: irLogits.map((v, c) => Math.abs(v - r.logits[c]!)),
      ortAllowance: r.ortAllowance,
      irFlips,
      ortPossibleFlips: r.ortPossibleFlips,
    };
  };
}

// ------------------------------------------------------------------------------------------

function bandOf(breakpoints: readonly number[], x: number): number {
  let b = 0;
  while (b < breakpoints.length && x >= breakpoints[b]!) b++;
  return b;
}

function maxAbs(xs: readonly number[], x: number): number {
  // The breakpoint nearest to x is what matters for the float32 slack.
  let best = 0;
  let dist = Infinity;
  for (const p of xs) {
    const d = Math.abs(p - x);
    if (d < dist) {
      dist = d;
      best = Math.abs(p);
    }
  }
  return best;
}

function realLayer(op: ConvOp | MatVecOp, types: Map<string, BitType>, w: WeightTensor): RealLayer {
  const inType = types.get(op.input) as FixedType | BinaryType;
  const acc = types.get(op.output) as AccType;
  if (!inType || !acc || !w) fail(ErrorCodes.INTERNAL, `real executor: unit ${op.id} refers to unknown tensors`);
  const rows = w.rows;
  const cols = w.cols;
  const real = new Float64Array(rows * cols);
  for (let o = 0; o < rows; o++) {
    for (const wp of weightPlanes(w)) {
      const mu = w.kind === 'fixed' ? 2 ** -w.frac : w.planes[wp - 1]!.scales[o]!;
      for (let j = 0; j < cols; j++) real[o * cols + j]! += mu * weightFactor(w, wp, o, j);
    }
  }
  let pixels = 1;
  let index: RealLayer['index'] = (_o, _p, j) => j;
  if (op.op === 'conv') {
    const [oh, ow] = outputSize(inType.shape, op, false);
    const win = windowTable(inType.shape, op, oh, ow);
    pixels = oh * ow;
    const cg = inType.shape[0]! / op.group;
    const og = rows / op.group;
    const hw = inType.shape[1]! * inType.shape[2]!;
    index = (o, p, j) => {
      const sp = win.spatial[p * win.kk + (j % win.kk)]!;
      return sp < 0 ? -1 : (Math.floor(o / og) * cg + Math.floor(j / win.kk)) * hw + sp;
    };
  }
  return { op, inType, rows, cols, pixels, index, w: real };
}

/** x = A·Σ_j W·v + B per output entry, and its float32 allowance. */
function unitForward(
  l: RealLayer,
  op: ThresholdOp | RequantizeOp,
  val: Map<string, Float64Array>,
  fe: Map<string, Float64Array>,
): { x: Float64Array; f: Float64Array } {
  const v = val.get(l.op.input)!;
  const fin = fe.get(l.op.input)!;
  const { rows, cols, pixels } = l;
  const x = new Float64Array(rows * pixels);
  const f = new Float64Array(rows * pixels);
  const gamma = (cols + 8) * 2 ** -24;
  for (let o = 0; o < rows; o++) {
    const a = op.real.scale[o]!;
    const b = op.real.offset[o]!;
    for (let p = 0; p < pixels; p++) {
      let y = 0;
      let mag = 0;
      let prop = 0;
      for (let j = 0; j < cols; j++) {
        const w = l.w[o * cols + j]!;
        if (w === 0) continue;
        const i = l.index(o, p, j);
        if (i < 0) continue;
        y += w * v[i]!;
        mag += Math.abs(w * v[i]!);
        prop += Math.abs(w) * fin[i]!;
      }
      const xv = a * y + b;
      x[o * pixels + p] = xv;
      f[o * pixels + p] = Math.abs(a) * prop + gamma * (Math.abs(a) * mag + Math.abs(b) + Math.abs(xv));
    }
  }
  return { x, f };
}

/** A unit directly on a real tensor (a binarizer, or a BatchNorm not after a layer): x = A_c·v + B_c. */
function standaloneUnit(op: ThresholdOp | RequantizeOp, v: Float64Array, fin: Float64Array): { x: Float64Array; f: Float64Array } {
  const channels = op.real.scale.length;
  const pixels = v.length / channels;
  const x = new Float64Array(v.length);
  const f = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const c = Math.floor(i / pixels);
    const a = op.real.scale[c]!;
    const b = op.real.offset[c]!;
    x[i] = a * v[i]! + b;
    f[i] = Math.abs(a) * fin[i]! + 2 ** -23 * (Math.abs(a * v[i]!) + Math.abs(b) + Math.abs(x[i]!));
  }
  return { x, f };
}
