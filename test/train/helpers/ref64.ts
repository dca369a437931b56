/**
 * A float64 reference evaluator for the operators the trainer differentiates, written
 * straight from the ONNX operator definitions, independent of the gradient rules. Used for
 * finite-difference gradient checks (onnxruntime's float32 arithmetic is too noisy for
 * differences).
 *
 * BatchNormalization is evaluated in training mode (batch statistics; with `frozenBatchNorm` its running statistics), Dropout multiplies by
 * a given mask, and `ai.hbnn::BinarizeActivation` follows docs/format.md; with `linearize` it
 * is replaced by its straight-through surrogate around a recorded point x0:
 *     y = q(x0) + [|x0| <= clip] · (x - x0)
 * whose derivative at x0 is exactly the clipped STE gradient.
 */
import type { Model, Node, Value } from '../../../src/ir/graph.js';

export interface T64 {
  dims: number[];
  data: Float64Array;
}

export interface EvalOptions {
  /** Values for graph inputs and overrides for initializers, by name. */
  feeds: Record<string, T64>;
  /** Dropout masks by node name (already scaled by 1/(1-ratio)). */
  masks?: Record<string, T64>;
  /** Record each BinarizeActivation's input here (by node name). */
  record?: Map<string, Float64Array>;
  /** Evaluate BinarizeActivation as its STE surrogate around these inputs (by node name). */
  linearize?: Map<string, Float64Array>;
  /** BatchNormalization with its running mean and variance (inputs 3 and 4), as in inference, instead of the batch's statistics. */
  frozenBatchNorm?: boolean;
}

export const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
export const t64 = (dims: number[], data?: ArrayLike<number>): T64 => ({ dims, data: data ? Float64Array.from(data) : new Float64Array(size(dims)) });

/** Evaluates `model` and returns every value by name. */
export function evaluate64(model: Model, opts: EvalOptions): Map<string, T64> {
  const g = model.graph;
  const env = new Map<string, T64>();
  for (const [name, v] of g.initializers) {
    const t = v.constValue!;
    if (t.dtype === 7) env.set(name, t64([...t.dims], t.toNumberArray(true)));
    else env.set(name, t64([...t.dims], t.toFloat32()));
  }
  for (const [k, v] of Object.entries(opts.feeds)) env.set(k, v);
  const get = (v: Value | null | undefined): T64 | undefined => (v ? env.get(v.name) : undefined);
  for (const node of g.nodes) {
    // values given in feeds (e.g. a binarized weight Ŵ) replace their producers
    if (node.outputs.every((o) => o.name in opts.feeds)) continue;
    const ins = node.inputs.map(get);
    const outs = evalNode(node, ins, opts);
    node.outputs.forEach((o, i) => {
      if (outs[i]) env.set(o.name, outs[i]!);
    });
  }
  return env;
}

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1]! * dims[i + 1]!;
  return s;
}

export function broadcastBinary(a: T64, b: T64, f: (x: number, y: number) => number): T64 {
  const r = Math.max(a.dims.length, b.dims.length);
  const ad = [...new Array<number>(r - a.dims.length).fill(1), ...a.dims];
  const bd = [...new Array<number>(r - b.dims.length).fill(1), ...b.dims];
  const od = ad.map((d, i) => Math.max(d, bd[i]!));
  const as = strides(ad).map((s, i) => (ad[i] === 1 ? 0 : s));
  const bs = strides(bd).map((s, i) => (bd[i] === 1 ? 0 : s));
  const os = strides(od);
  const out = t64(od);
  const n = out.data.length;
  for (let j = 0; j < n; j++) {
    let ai = 0;
    let bi = 0;
    let rem = j;
    for (let k = 0; k < r; k++) {
      const idx = Math.floor(rem / os[k]!);
      rem -= idx * os[k]!;
      ai += idx * as[k]!;
      bi += idx * bs[k]!;
    }
    out.data[j] = f(a.data[ai]!, b.data[bi]!);
  }
  return out;
}

const map1 = (x: T64, f: (v: number) => number): T64 => ({ dims: [...x.dims], data: x.data.map(f) });

function ints(node: Node, name: string, dflt: number[]): number[] {
  return node.attrInts(name) ?? dflt;
}

/** Pads a spatial description to 3 dims (leading dummy dims of size 1). */
function to3(v: number[], fill: number): number[] {
  return [...new Array<number>(3 - v.length).fill(fill), ...v];
}

interface Win {
  k: number[];
  s: number[];
  d: number[];
  pb: number[];
  pe: number[];
  inS: number[];
  outS: number[];
}

function windows(node: Node, inSpatial: number[], kernel: number[], ceil: boolean): Win {
  const r = kernel.length;
  const s = ints(node, 'strides', new Array(r).fill(1));
  const d = ints(node, 'dilations', new Array(r).fill(1));
  let pads = ints(node, 'pads', new Array(2 * r).fill(0));
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  if (autoPad === 'VALID') pads = new Array(2 * r).fill(0);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = new Array(2 * r).fill(0);
    for (let i = 0; i < r; i++) {
      const out = Math.ceil(inSpatial[i]! / s[i]!);
      const total = Math.max(0, (out - 1) * s[i]! + (kernel[i]! - 1) * d[i]! + 1 - inSpatial[i]!);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_LOWER' ? total - small : small;
      pads[i + r] = total - pads[i]!;
    }
  }
  const outS = inSpatial.map((n, i) => {
    const span = (kernel[i]! - 1) * d[i]! + 1;
    const room = n + pads[i]! + pads[i + r]! - span;
    let o = (ceil ? Math.ceil(room / s[i]!) : Math.floor(room / s[i]!)) + 1;
    if (ceil && (o - 1) * s[i]! >= n + pads[i]!) o--;
    return o;
  });
  return { k: to3(kernel, 1), s: to3(s, 1), d: to3(d, 1), pb: to3(pads.slice(0, r), 0), pe: to3(pads.slice(r), 0), inS: to3(inSpatial, 1), outS: to3(outS, 1) };
}

function conv(node: Node, x: T64, w: T64, b: T64 | undefined): T64 {
  const [n, c] = x.dims as [number, number];
  const m = w.dims[0]!;
  const group = node.attrInt('group', 1);
  const cg = c / group;
  const mg = m / group;
  const kernel = ints(node, 'kernel_shape', w.dims.slice(2));
  const W = windows(node, x.dims.slice(2), kernel, false);
  const outSpatial = W.outS.slice(3 - kernel.length);
  const out = t64([n, m, ...outSpatial]);
  const [ID, IH, IW] = W.inS as [number, number, number];
  const [OD, OH, OW] = W.outS as [number, number, number];
  const [KD, KH, KW] = W.k as [number, number, number];
  let oi = 0;
  for (let bn = 0; bn < n; bn++)
    for (let om = 0; om < m; om++) {
      const gi = Math.floor(om / mg);
      for (let od = 0; od < OD; od++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            let acc = b ? b.data[om]! : 0;
            for (let ic = 0; ic < cg; ic++) {
              const chan = gi * cg + ic;
              for (let kd = 0; kd < KD; kd++) {
                const id = od * W.s[0]! + kd * W.d[0]! - W.pb[0]!;
                if (id < 0 || id >= ID) continue;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * W.s[1]! + kh * W.d[1]! - W.pb[1]!;
                  if (ih < 0 || ih >= IH) continue;
                  for (let kw = 0; kw < KW; kw++) {
                    const iw = ow * W.s[2]! + kw * W.d[2]! - W.pb[2]!;
                    if (iw < 0 || iw >= IW) continue;
                    const xv = x.data[(((bn * c + chan) * ID + id) * IH + ih) * IW + iw]!;
                    const wv = w.data[(((om * cg + ic) * KD + kd) * KH + kh) * KW + kw]!;
                    acc += xv * wv;
                  }
                }
              }
            }
            out.data[oi++] = acc;
          }
    }
  return out;
}

function pool(node: Node, x: T64, kind: 'max' | 'avg'): T64 {
  const [n, c] = x.dims as [number, number];
  const kernel = ints(node, 'kernel_shape', []);
  const W = windows(node, x.dims.slice(2), kernel, node.attrInt('ceil_mode', 0) === 1);
  const includePad = node.attrInt('count_include_pad', 0) === 1;
  const out = t64([n, c, ...W.outS.slice(3 - kernel.length)]);
  const [ID, IH, IW] = W.inS as [number, number, number];
  const [OD, OH, OW] = W.outS as [number, number, number];
  const [KD, KH, KW] = W.k as [number, number, number];
  let oi = 0;
  for (let p = 0; p < n * c; p++)
    for (let od = 0; od < OD; od++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let best = -Infinity;
          let sum = 0;
          let count = 0;
          let padCount = 0;
          for (let kd = 0; kd < KD; kd++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const id = od * W.s[0]! + kd * W.d[0]! - W.pb[0]!;
                const ih = oh * W.s[1]! + kh * W.d[1]! - W.pb[1]!;
                const iw = ow * W.s[2]! + kw * W.d[2]! - W.pb[2]!;
                const inside = id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW;
                // count_include_pad counts pad positions but not positions past the end pad (ceil mode)
                const inPadded = id < ID + W.pe[0]! && ih < IH + W.pe[1]! && iw < IW + W.pe[2]!;
                if (!inside) {
                  if (inPadded) padCount++;
                  continue;
                }
                const v = x.data[((p * ID + id) * IH + ih) * IW + iw]!;
                best = Math.max(best, v);
                sum += v;
                count++;
              }
          out.data[oi++] = kind === 'max' ? best : sum / (includePad ? count + padCount : count);
        }
  return out;
}

function gemm(node: Node, a: T64, b: T64, c: T64 | undefined): T64 {
  const tA = node.attrInt('transA', 0) === 1;
  const tB = node.attrInt('transB', 0) === 1;
  const alpha = node.attrFloat('alpha', 1);
  const beta = node.attrFloat('beta', 1);
  const [M, K] = tA ? [a.dims[1]!, a.dims[0]!] : [a.dims[0]!, a.dims[1]!];
  const N = tB ? b.dims[0]! : b.dims[1]!;
  const out = t64([M, N]);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (tA ? a.data[k * M + i]! : a.data[i * K + k]!) * (tB ? b.data[j * K + k]! : b.data[k * N + j]!);
      out.data[i * N + j] = alpha * s;
    }
  if (c) {
    const cb = broadcastBinary(out, c, (_x, y) => y);
    for (let i = 0; i < out.data.length; i++) out.data[i]! += beta * cb.data[i]!;
  }
  return out;
}

function matmul(a: T64, b: T64): T64 {
  const a2 = a.dims.length === 1 ? { dims: [1, a.dims[0]!], data: a.data } : a;
  const b2 = b.dims.length === 1 ? { dims: [b.dims[0]!, 1], data: b.data } : b;
  const ra = a2.dims.length;
  const rb = b2.dims.length;
  const [M, K] = [a2.dims[ra - 2]!, a2.dims[ra - 1]!];
  const N = b2.dims[rb - 1]!;
  const ab = a2.dims.slice(0, -2);
  const bb = b2.dims.slice(0, -2);
  const r = Math.max(ab.length, bb.length);
  const abp = [...new Array<number>(r - ab.length).fill(1), ...ab];
  const bbp = [...new Array<number>(r - bb.length).fill(1), ...bb];
  const ob = abp.map((d, i) => Math.max(d, bbp[i]!));
  const out = t64([...ob, M, N]);
  const nb = size(ob);
  const os = strides(ob);
  const as = strides(abp);
  const bs = strides(bbp);
  for (let p = 0; p < nb; p++) {
    let ai = 0;
    let bi = 0;
    let rem = p;
    for (let k = 0; k < r; k++) {
      const idx = Math.floor(rem / os[k]!);
      rem -= idx * os[k]!;
      ai += (abp[k] === 1 ? 0 : idx) * as[k]!;
      bi += (bbp[k] === 1 ? 0 : idx) * bs[k]!;
    }
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a2.data[ai * M * K + i * K + k]! * b2.data[bi * K * N + k * N + j]!;
        out.data[p * M * N + i * N + j] = s;
      }
  }
  let dims = out.dims;
  if (a.dims.length === 1) dims = [...dims.slice(0, -2), dims[dims.length - 1]!];
  if (b.dims.length === 1) dims = dims.slice(0, -1);
  return { dims, data: out.data };
}

function transpose(x: T64, perm: number[]): T64 {
  const od = perm.map((p) => x.dims[p]!);
  const is = strides(x.dims);
  const os = strides(od);
  const out = t64(od);
  for (let j = 0; j < out.data.length; j++) {
    let rem = j;
    let src = 0;
    for (let k = 0; k < od.length; k++) {
      const idx = Math.floor(rem / os[k]!);
      rem -= idx * os[k]!;
      src += idx * is[perm[k]!]!;
    }
    out.data[j] = x.data[src]!;
  }
  return out;
}

const norm = (a: number, r: number): number => (a < 0 ? a + r : a);

/** x at the index lists `pick[axis]` along every axis (a general slice). */
function gatherIndex(x: T64, pick: number[][]): T64 {
  const dims = pick.map((p) => p.length);
  const out = t64(dims);
  const xs = strides(x.dims);
  const os = strides(dims);
  for (let j = 0; j < out.data.length; j++) {
    let rem = j;
    let src = 0;
    for (let a = 0; a < dims.length; a++) {
      const i = Math.floor(rem / os[a]!);
      rem %= os[a]!;
      src += pick[a]![i]! * xs[a]!;
    }
    out.data[j] = x.data[src]!;
  }
  return out;
}

/** erf in float64 by its Taylor series (|x| <= 4: cancellation keeps ~1e-9; beyond, ±1 to 1.5e-8). */
function erf64(x: number): number {
  if (Math.abs(x) > 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 120; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** Applies f to every 1-D slice along `axis`. */
function alongAxis(x: T64, axisIn: number, f: (v: number[]) => number[]): T64 {
  const r = x.dims.length;
  const axis = axisIn < 0 ? axisIn + r : axisIn;
  const outer = size(x.dims.slice(0, axis));
  const len = x.dims[axis]!;
  const inner = size(x.dims.slice(axis + 1));
  const out = t64([...x.dims]);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const v: number[] = [];
      for (let k = 0; k < len; k++) v.push(x.data[(o * len + k) * inner + i]!);
      const y = f(v);
      for (let k = 0; k < len; k++) out.data[(o * len + k) * inner + i] = y[k]!;
    }
  return out;
}

const sgn = (v: number): number => (v >= 0 ? 1 : -1);

/** ai.hbnn::BinarizeActivation per docs/format.md. */
export function binarizeActivation(x: number, s: number[], center: number, sign: number, t1: number, t2: number): number {
  const k = sign * Math.abs(Math.abs(x) - center);
  const g1 = k >= t1 ? 1 : 0;
  const g2 = k >= t2 ? 1 : 0;
  const b1 = sgn(x);
  const y1 = s[0]! * b1;
  const e1 = x - y1;
  const b2 = sgn(e1);
  const y2 = s[1]! * b2 * g1;
  const e2 = e1 - y2;
  const b3 = sgn(e2);
  const y3 = s[2]! * b3 * g2;
  return y1 + y2 + y3;
}

function evalNode(node: Node, ins: (T64 | undefined)[], opts: EvalOptions): (T64 | undefined)[] {
  const x = ins[0]!;
  if (node.domain === 'ai.hbnn' && node.opType === 'BinarizeActivation') {
    const s = Array.from(ins[1]!.data);
    const [center, sign, t1, t2] = [ins[2]!.data[0]!, ins[3]!.data[0]!, ins[4]!.data[0]!, ins[5]!.data[0]!];
    opts.record?.set(node.name, Float64Array.from(x.data));
    const x0 = opts.linearize?.get(node.name);
    const clip = s[0]! + s[1]! + s[2]!;
    if (x0) {
      return [{ dims: [...x.dims], data: x.data.map((v, i) => binarizeActivation(x0[i]!, s, center, sign, t1, t2) + (Math.abs(x0[i]!) <= clip ? v - x0[i]! : 0)) }];
    }
    return [map1(x, (v) => binarizeActivation(v, s, center, sign, t1, t2))];
  }
  switch (node.opType) {
    case 'Constant': {
      const t = node.attrTensor('value')!;
      return [t.dtype === 7 ? t64([...t.dims], t.toNumberArray(true)) : t64([...t.dims], t.toFloat32())];
    }
    case 'Conv':
      return [conv(node, x, ins[1]!, ins[2])];
    case 'Gemm':
      return [gemm(node, x, ins[1]!, ins[2])];
    case 'MatMul':
      return [matmul(x, ins[1]!)];
    case 'Add':
      return [broadcastBinary(x, ins[1]!, (a, b) => a + b)];
    case 'Sub':
      return [broadcastBinary(x, ins[1]!, (a, b) => a - b)];
    case 'Mul':
      return [broadcastBinary(x, ins[1]!, (a, b) => a * b)];
    case 'Div':
      return [broadcastBinary(x, ins[1]!, (a, b) => a / b)];
    case 'Relu':
      return [map1(x, (v) => Math.max(v, 0))];
    case 'LeakyRelu': {
      const alpha = node.attrFloat('alpha', 0.01);
      return [map1(x, (v) => (v > 0 ? v : alpha * v))];
    }
    case 'Clip': {
      const lo = ins[1] ? ins[1].data[0]! : -Infinity;
      const hi = ins[2] ? ins[2].data[0]! : Infinity;
      return [map1(x, (v) => Math.min(Math.max(v, lo), hi))];
    }
    case 'Sigmoid':
      return [map1(x, (v) => 1 / (1 + Math.exp(-v)))];
    case 'Tanh':
      return [map1(x, Math.tanh)];
    case 'Identity':
      return [x];
    case 'PRelu':
      return [broadcastBinary(x, ins[1]!, (v, sl) => (v > 0 ? v : sl * v))];
    case 'Elu': {
      const alpha = node.attrFloat('alpha', 1);
      return [map1(x, (v) => (v > 0 ? v : alpha * (Math.exp(v) - 1)))];
    }
    case 'Max':
    case 'Min': {
      const f = node.opType === 'Max' ? Math.max : Math.min;
      return [(ins as T64[]).slice(1).reduce((acc, t) => broadcastBinary(acc, t, f), x)];
    }
    case 'Greater':
      return [broadcastBinary(x, ins[1]!, (p, q) => (p > q ? 1 : 0))];
    case 'Where': {
      const both = broadcastBinary(ins[1]!, ins[2]!, (p) => p);
      const cond = broadcastBinary(x, both, (c) => c);
      const a = broadcastBinary(ins[1]!, cond, (p) => p);
      const b = broadcastBinary(ins[2]!, cond, (p) => p);
      return [{ dims: cond.dims, data: cond.data.map((c, i) => (c !== 0 ? a.data[i]! : b.data[i]!)) }];
    }
    case 'Expand': {
      const shape = Array.from(ins[1]!.data);
      return [broadcastBinary(x, t64(shape.map((d) => d), new Float64Array(size(shape)).fill(0)), (p) => p)];
    }
    case 'Gather': {
      const r = x.dims.length;
      const axis = norm(node.attrInt('axis', 0), r);
      const idx = ins[1]!;
      const d = x.dims[axis]!;
      const list = Array.from(idx.data).map((i) => (i < 0 ? i + d : i));
      const pick = x.dims.map((dd) => Array.from({ length: dd }, (_, i) => i));
      pick[axis] = list;
      const g = gatherIndex(x, pick);
      return [{ dims: [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)], data: g.data }];
    }
    case 'HardSigmoid': {
      const [alpha, beta] = [node.attrFloat('alpha', 0.2), node.attrFloat('beta', 0.5)];
      return [map1(x, (v) => Math.max(0, Math.min(1, alpha * v + beta)))];
    }
    case 'HardSwish':
      return [map1(x, (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)))];
    case 'Erf':
      return [map1(x, erf64)];
    case 'Exp':
      return [map1(x, Math.exp)];
    case 'Log':
      return [map1(x, Math.log)];
    case 'Sqrt':
      return [map1(x, Math.sqrt)];
    case 'Softplus':
      return [map1(x, (v) => Math.log1p(Math.exp(v)))];
    case 'Pow':
      return [broadcastBinary(x, ins[1]!, (a, b) => Math.pow(a, b))];
    case 'Neg':
      return [map1(x, (v) => -v)];
    case 'MaxPool':
      return [pool(node, x, 'max')];
    case 'AveragePool':
      return [pool(node, x, 'avg')];
    case 'GlobalAveragePool': {
      const [n, c] = x.dims as [number, number];
      const hw = size(x.dims.slice(2));
      const out = t64([n, c, ...x.dims.slice(2).map(() => 1)]);
      for (let p = 0; p < n * c; p++) {
        let s = 0;
        for (let k = 0; k < hw; k++) s += x.data[p * hw + k]!;
        out.data[p] = s / hw;
      }
      return [out];
    }
    case 'Flatten': {
      const a = node.attrInt('axis', 1);
      const ax = a < 0 ? a + x.dims.length : a;
      return [{ dims: [size(x.dims.slice(0, ax)), size(x.dims.slice(ax))], data: x.data }];
    }
    case 'Reshape': {
      const shape = Array.from(ins[1]!.data);
      const dims = shape.map((d, i) => (d === 0 ? x.dims[i]! : d));
      const k = dims.indexOf(-1);
      if (k >= 0) dims[k] = x.data.length / size(dims.filter((_, i) => i !== k));
      return [{ dims, data: x.data }];
    }
    case 'Shape':
      return [t64([x.dims.length], x.dims)];
    case 'Slice': {
      const r = x.dims.length;
      const starts = Array.from(ins[1]!.data);
      const ends = Array.from(ins[2]!.data);
      const axes = ins[3] ? Array.from(ins[3].data).map((a) => (a < 0 ? a + r : a)) : starts.map((_, i) => i);
      const steps = ins[4] ? Array.from(ins[4].data) : starts.map(() => 1);
      const pick: number[][] = x.dims.map((d) => Array.from({ length: d }, (_, i) => i));
      axes.forEach((a, k) => {
        const d = x.dims[a]!;
        const st = steps[k]!;
        let b = starts[k]! < 0 ? starts[k]! + d : starts[k]!;
        let e = ends[k]! < 0 ? ends[k]! + d : ends[k]!;
        const idx: number[] = [];
        if (st > 0) {
          b = Math.min(Math.max(b, 0), d);
          e = Math.min(Math.max(e, 0), d);
          for (let i = b; i < e; i += st) idx.push(i);
        } else {
          b = Math.min(Math.max(b, 0), d - 1);
          e = Math.min(Math.max(e, -1), d - 1);
          for (let i = b; i > e; i += st) idx.push(i);
        }
        pick[a] = idx;
      });
      return [gatherIndex(x, pick)];
    }
    case 'Pad': {
      const r = x.dims.length;
      const pads = Array.from(ins[1]!.data);
      const value = ins[2] ? ins[2].data[0]! : 0;
      const mode = node.attrString('mode', 'constant');
      if (mode !== 'constant') {
        // reflect / edge: every output index mapped to an input index per axis
        const pick = x.dims.map((d, a) =>
          Array.from({ length: d + pads[a]! + pads[r + a]! }, (_, o) => {
            const i = o - pads[a]!;
            if (mode === 'edge') return Math.min(Math.max(i, 0), d - 1);
            return i < 0 ? -i : i >= d ? 2 * (d - 1) - i : i;
          }),
        );
        return [gatherIndex(x, pick)];
      }
      const dims = x.dims.map((d, a) => d + pads[a]! + pads[r + a]!);
      const out = t64(dims);
      const os = strides(dims);
      for (let j = 0; j < out.data.length; j++) {
        let rem = j;
        let src = 0;
        let inside = true;
        const xs = strides(x.dims);
        for (let a = 0; a < r; a++) {
          const i = Math.floor(rem / os[a]!) - pads[a]!;
          rem %= os[a]!;
          if (i < 0 || i >= x.dims[a]!) inside = false;
          src += i * xs[a]!;
        }
        out.data[j] = inside ? x.data[src]! : value;
      }
      return [out];
    }
    case 'Split': {
      const r = x.dims.length;
      const axis = norm(node.attrInt('axis', 0), r);
      const n = node.outputs.length;
      const sizes = ins[1] ? Array.from(ins[1].data) : new Array<number>(n).fill(x.dims[axis]! / n);
      let at = 0;
      return sizes.map((len) => {
        const pick = x.dims.map((d) => Array.from({ length: d }, (_, i) => i));
        pick[axis] = Array.from({ length: len }, (_, i) => at + i);
        at += len;
        return gatherIndex(x, pick);
      });
    }
    case 'GlobalMaxPool': {
      const [n, c] = x.dims as [number, number];
      const hw = size(x.dims.slice(2));
      const out = t64([n, c, ...x.dims.slice(2).map(() => 1)]);
      for (let p = 0; p < n * c; p++) {
        let m = -Infinity;
        for (let k = 0; k < hw; k++) m = Math.max(m, x.data[p * hw + k]!);
        out.data[p] = m;
      }
      return [out];
    }
    case 'Sum':
    case 'Mean': {
      const sum = (ins as T64[]).slice(1).reduce((acc, t) => broadcastBinary(acc, t, (p, q) => p + q), x);
      return [node.opType === 'Mean' ? map1(sum, (v) => v / ins.length) : sum];
    }
    case 'Abs':
      return [map1(x, Math.abs)];
    case 'Reciprocal':
      return [map1(x, (v) => 1 / v)];
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceSum':
    case 'ReduceMean': {
      const r = x.dims.length;
      const given = node.attrInts('axes') ?? (ins[1] ? Array.from(ins[1].data) : []);
      const axes = given.length ? given.map((a) => norm(a, r)) : x.dims.map((_, i) => i);
      const keep = node.attrInt('keepdims', 1) === 1;
      const kept = x.dims.map((d, a) => (axes.includes(a) ? 1 : d));
      const out = t64(kept);
      const extremum = node.opType === 'ReduceMax' ? Math.max : node.opType === 'ReduceMin' ? Math.min : null;
      if (extremum) out.data.fill(node.opType === 'ReduceMax' ? -Infinity : Infinity);
      const xs = strides(x.dims);
      const ks = strides(kept);
      for (let j = 0; j < x.data.length; j++) {
        let rem = j;
        let dst = 0;
        for (let a = 0; a < r; a++) {
          const i = Math.floor(rem / xs[a]!);
          rem %= xs[a]!;
          if (!axes.includes(a)) dst += i * ks[a]!;
        }
        out.data[dst] = extremum ? extremum(out.data[dst]!, x.data[j]!) : out.data[dst]! + x.data[j]!;
      }
      if (node.opType === 'ReduceMean') {
        const count = size(axes.map((a) => x.dims[a]!));
        for (let j = 0; j < out.data.length; j++) out.data[j] /= count;
      }
      return [keep ? out : { dims: x.dims.filter((_, a) => !axes.includes(a)), data: out.data }];
    }
    case 'LayerNormalization': {
      const r = x.dims.length;
      const axis = norm(node.attrInt('axis', -1), r);
      const eps = node.attrFloat('epsilon', 1e-5);
      const outer = size(x.dims.slice(0, axis));
      const inner = size(x.dims.slice(axis));
      const out = t64([...x.dims]);
      const at = (t: T64 | undefined, i: number, dflt: number): number => (t ? t.data[t.data.length === 1 ? 0 : i % t.data.length]! : dflt);
      for (let o = 0; o < outer; o++) {
        let m = 0;
        for (let k = 0; k < inner; k++) m += x.data[o * inner + k]!;
        m /= inner;
        let v = 0;
        for (let k = 0; k < inner; k++) v += (x.data[o * inner + k]! - m) ** 2;
        const inv = 1 / Math.sqrt(v / inner + eps);
        for (let k = 0; k < inner; k++) out.data[o * inner + k] = (x.data[o * inner + k]! - m) * inv * at(ins[1], k, 1) + at(ins[2], k, 0);
      }
      return [out];
    }
    case 'Squeeze': {
      const axes = Array.from(ins[1]!.data).map((a) => (a < 0 ? a + x.dims.length : a));
      return [{ dims: x.dims.filter((_, i) => !axes.includes(i)), data: x.data }];
    }
    case 'Unsqueeze': {
      const r = x.dims.length + ins[1]!.data.length;
      const axes = Array.from(ins[1]!.data).map((a) => (a < 0 ? a + r : a));
      const dims: number[] = [];
      let k = 0;
      for (let i = 0; i < r; i++) dims.push(axes.includes(i) ? 1 : x.dims[k++]!);
      return [{ dims, data: x.data }];
    }
    case 'Transpose':
      return [transpose(x, node.attrInts('perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i))];
    case 'Concat': {
      const r = x.dims.length;
      const a = node.attrInt('axis', 0);
      const axis = a < 0 ? a + r : a;
      const parts = ins as T64[];
      const outer = size(x.dims.slice(0, axis));
      const inner = size(x.dims.slice(axis + 1));
      const total = parts.reduce((s, p) => s + p.dims[axis]!, 0);
      const out = t64([...x.dims.slice(0, axis), total, ...x.dims.slice(axis + 1)]);
      let off = 0;
      for (const p of parts) {
        const len = p.dims[axis]!;
        for (let o = 0; o < outer; o++)
          for (let k = 0; k < len * inner; k++) out.data[(o * total + off) * inner + k] = p.data[o * len * inner + k]!;
        off += len;
      }
      return [out];
    }
    case 'Dropout': {
      const m = opts.masks?.[node.name];
      return [m ? broadcastBinary(x, m, (a, b) => a * b) : x];
    }
    case 'Softmax':
      return [
        alongAxis(x, node.attrInt('axis', -1), (v) => {
          const mx = Math.max(...v);
          const e = v.map((u) => Math.exp(u - mx));
          const s = e.reduce((a, b) => a + b, 0);
          return e.map((u) => u / s);
        }),
      ];
    case 'LogSoftmax':
      return [
        alongAxis(x, node.attrInt('axis', -1), (v) => {
          const mx = Math.max(...v);
          const lse = mx + Math.log(v.reduce((a, u) => a + Math.exp(u - mx), 0));
          return v.map((u) => u - lse);
        }),
      ];
    case 'BatchNormalization': {
      const [n, c] = x.dims as [number, number];
      const hw = size(x.dims.slice(2));
      const eps = node.attrFloat('epsilon', 1e-5);
      const out = t64([...x.dims]);
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) s += x.data[(b * c + ch) * hw + k]!;
        let mean = s / (n * hw);
        let v = 0;
        for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) v += (x.data[(b * c + ch) * hw + k]! - mean) ** 2;
        let inv = 1 / Math.sqrt(v / (n * hw) + eps);
        if (opts.frozenBatchNorm) {
          mean = ins[3]!.data[ch]!;
          inv = 1 / Math.sqrt(ins[4]!.data[ch]! + eps);
        }
        for (let b = 0; b < n; b++)
          for (let k = 0; k < hw; k++) {
            const i = (b * c + ch) * hw + k;
            out.data[i] = ins[1]!.data[ch]! * (x.data[i]! - mean) * inv + ins[2]!.data[ch]!;
          }
      }
      return [out];
    }
    default:
      throw new Error(`ref64: no reference for ${node.opType}`);
  }
}

/** Mean cross-entropy (or MSE on one-hot targets) of logits [N, C]. */
export function loss64(logits: T64, labels: ArrayLike<number>, kind: 'cross-entropy' | 'mse' = 'cross-entropy'): number {
  const [n, c] = logits.dims as [number, number];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from(logits.data.subarray(i * c, (i + 1) * c));
    if (kind === 'mse') {
      for (let j = 0; j < c; j++) total += (row[j]! - (j === labels[i] ? 1 : 0)) ** 2;
    } else {
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, u) => a + Math.exp(u - mx), 0));
      total += lse - row[labels[i]!]!;
    }
  }
  return kind === 'mse' ? total / (n * c) : total / n;
}
