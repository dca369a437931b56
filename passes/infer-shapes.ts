/**
 * infer-shapes: element type and shape inference for the operators the toolkit handles,
 * following the ONNX operator specifications for opsets 7 to 21.
 *
 * Rules (for every node, in graph order, then inside each of its subgraphs):
 * 1. Input types come from the value's type (graph inputs, value_info, earlier inference)
 *    or, for initializers, from the tensor itself. Small integer tensors whose values are
 *    known (initializers, also those listed as graph inputs; Constant nodes; Shape outputs
 *    and Gather/Unsqueeze/Squeeze/Concat/Cast/Identity/arithmetic over them) are tracked
 *    as values, with symbolic entries, so that Reshape, Squeeze, Unsqueeze, Pad and Split
 *    can use shape inputs computed in the graph (opset 13+ "axes as input").
 * 2. For an operator in the table below, the output types follow its spec; symbolic
 *    dimensions ("N") pass through where the spec keeps a dimension, and become unknown
 *    where arithmetic on them would be needed (e.g. a strided convolution over "H").
 * 3. For any other operator (or any non-default domain), outputs are left as they are
 *    (statistic `unknown-op`); with `strict`, that is a SHAPE_INFERENCE error naming the
 *    node.
 * 4. Inputs that contradict the operator's spec (mismatching channels, broadcasting of
 *    unequal static dims, a Reshape whose sizes do not match) leave the outputs as they
 *    are (statistic `contradiction`); with `strict`, that is a SHAPE_INFERENCE error.
 * 5. The inferred type is merged with the type the output already has (a declared graph
 *    output, a value_info entry): a static dim beats a symbolic one beats an unknown one,
 *    and a declared symbolic name is kept over an inferred one, so nothing already known
 *    is lost. A different element type, rank or static dim between the two is a
 *    SHAPE_INFERENCE error naming the node, whatever `strict` says.
 * 6. Values of non-tensor types (sequences, maps, optionals) are never retyped.
 *
 * Operators: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, Relu, LeakyRelu,
 * Clip, Sigmoid, Tanh, HardSigmoid, MaxPool, AveragePool, GlobalAveragePool, Flatten,
 * Reshape, Transpose, Concat, Add, Sub, Mul, Div, Softmax, LogSoftmax, Dropout, Identity,
 * Constant, Shape, Gather, Unsqueeze, Squeeze, Pad, Split, Cast.
 */
import { definePass, type PassContext } from '../src/pass/pass.js';
import { isSamePad, sameOutputSize, windowAttributes, windowOutputSize, type AutoPad } from '../src/ir/window.js';
import type { Graph, Model, Node, Value } from '../src/ir/graph.js';
import { tensorTypeOf, setTensorType, formatDims, type Dim } from '../src/ir/types.js';
import { DataType, dtypeName } from '../src/ir/dtype.js';
import type { Tensor } from '../src/ir/tensor.js';
import { fail, ErrorCodes } from '../src/errors.js';

/** An inferred type: elem 0 = unknown element type; shape undefined = unknown rank. */
interface Inferred {
  elem: number;
  shape?: Dim[];
}

/** A small integer tensor with known contents (entries may be symbolic or unknown). */
interface Known {
  dims: number[];
  values: Dim[];
}

/** Thrown by operator rules when inputs contradict the spec; turned into a stat or an error. */
class Contradiction extends Error {}

const MAX_KNOWN = 1024;

export const inferShapes = definePass({
  name: 'infer-shapes',
  summary: 'Infer element types and shapes of node outputs (symbolic dims propagate).',
  description:
    'Types every node output of the supported operators from its inputs, following the ONNX specs of opsets 7-21; unknown operators are left untyped (or fail with strict).',
  options: [{ name: 'strict', type: 'boolean', default: false, doc: 'Fail on unknown operators and on inputs that contradict an operator spec.' }],
  establishes: ['shapes-inferred'],
  preserves: 'all',
  run(model, ctx, o) {
    const env: Env = { model, opset: model.opsetVersion('') ?? 21, strict: o.strict, ctx, known: new Map(), changed: false };
    inferGraph(model.graph, env);
    return { changed: env.changed };
  },
});

interface Env {
  model: Model;
  opset: number;
  strict: boolean;
  ctx: PassContext;
  known: Map<Value, Known>;
  changed: boolean;
}

function inferGraph(g: Graph, env: Env): void {
  for (const node of g.nodes) {
    inferNode(node, env);
    for (const sub of node.subgraphs()) inferGraph(sub, env);
  }
}

function inferNode(node: Node, env: Env): void {
  const domain = node.domain === 'ai.onnx' ? '' : node.domain;
  const rule = domain === '' ? RULES[node.opType] : undefined;
  if (!rule) {
    if (env.strict) fail(ErrorCodes.SHAPE_INFERENCE, `node ${node.label}: no shape inference for operator ${node.domain ? node.domain + '::' : ''}${node.opType}`, { node: node.name, op: node.opType });
    env.ctx.stat('unknown-op');
    return;
  }
  const io = new NodeIO(node, env);
  let outs: (Inferred | undefined)[];
  try {
    outs = rule(io);
  } catch (e) {
    if (!(e instanceof Contradiction)) throw e;
    if (env.strict) fail(ErrorCodes.SHAPE_INFERENCE, `node ${node.label}: ${e.message}`, { node: node.name, op: node.opType });
    env.ctx.stat('contradiction');
    env.ctx.note(`node ${node.label}: ${e.message}; outputs left as they were`);
    return;
  }
  let complete = true;
  node.outputs.forEach((out, i) => {
    if (out.name === '') return;
    const inf = outs[i];
    if (!inf || (inf.elem === 0 && !inf.shape)) {
      complete = false;
      return;
    }
    if (!inf.shape || inf.shape.some((d) => d === null)) complete = false;
    assign(node, out, inf, env);
  });
  for (const [i, k] of io.knownOut) if (node.outputs[i]) env.known.set(node.outputs[i]!, k);
  env.ctx.stat(complete ? 'inferred' : 'partially-inferred');
}

/** Merges `inf` into the output's existing type (rule 5) and stores it when it adds anything. */
function assign(node: Node, out: Value, inf: Inferred, env: Env): void {
  if (out.type && !out.type.tensor_type) return; // rule 6
  const had = tensorTypeOf(out);
  const bad = (what: string): never =>
    fail(ErrorCodes.SHAPE_INFERENCE, `node ${node.label}: output "${out.name}" is declared ${what}`, { node: node.name, op: node.opType, value: out.name });
  let elem = inf.elem;
  let shape = inf.shape;
  if (had) {
    if (had.elemType && elem && had.elemType !== elem) bad(`${dtypeName(had.elemType)} but inferred ${dtypeName(elem)}`);
    elem = elem || had.elemType;
    if (had.shape && shape) {
      if (had.shape.length !== shape.length) bad(`with shape ${formatDims(had.shape)} but inferred ${formatDims(shape)} (rank differs)`);
      shape = shape.map((d, k) => {
        const h = had.shape![k]!;
        if (typeof h === 'number' && typeof d === 'number' && h !== d) bad(`with shape ${formatDims(had.shape)} but inferred ${formatDims(inf.shape)}`);
        if (typeof h === 'number') return h;
        if (typeof d === 'number') return d;
        return h ?? d;
      });
    } else shape = shape ?? had.shape;
    if (had.elemType === elem && sameShape(had.shape, shape)) return;
  }
  setTensorType(out, elem, shape);
  env.changed = true;
}

function sameShape(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ------------------------------------------------------------------------------------------
// Access to a node's inputs and attributes for the rules
// ------------------------------------------------------------------------------------------

class NodeIO {
  readonly knownOut = new Map<number, Known>();
  constructor(
    readonly node: Node,
    readonly env: Env,
  ) {}

  get opset(): number {
    return this.env.opset;
  }

  has(i: number): boolean {
    return !!this.node.inputs[i];
  }

  type(i: number): Inferred | undefined {
    const v = this.node.inputs[i];
    if (!v) return undefined;
    if (v.constValue) return { elem: v.constValue.dtype, shape: [...v.constValue.dims] };
    const t = tensorTypeOf(v);
    if (!t) return undefined;
    return t.shape ? { elem: t.elemType, shape: t.shape } : { elem: t.elemType };
  }

  elem(i: number): number {
    return this.type(i)?.elem ?? 0;
  }

  shape(i: number): Dim[] | undefined {
    return this.type(i)?.shape;
  }

  /** Known integer contents of input i, if any. */
  known(i: number): Known | undefined {
    const v = this.node.inputs[i];
    if (!v) return undefined;
    const k = this.env.known.get(v);
    if (k) return k;
    if (v.constValue) return knownFromTensor(v.constValue);
    return undefined;
  }

  /** Known 1-D (or scalar) integer contents as plain numbers; undefined when any entry is not static. */
  knownInts(i: number): number[] | undefined {
    const k = this.known(i);
    if (!k || k.values.some((x) => typeof x !== 'number')) return undefined;
    return k.values as number[];
  }

  setKnown(outIndex: number, k: Known): void {
    if (k.values.length <= MAX_KNOWN) this.knownOut.set(outIndex, k);
  }

  int(name: string, dflt: number): number {
    return this.node.attrInt(name, dflt);
  }

  ints(name: string): number[] | undefined {
    return this.node.attrInts(name);
  }

  str(name: string, dflt: string): string {
    return this.node.attrString(name, dflt);
  }

  contradiction(msg: string): never {
    throw new Contradiction(msg);
  }
}

function isIntType(t: number): boolean {
  return t === DataType.INT64 || t === DataType.INT32 || t === DataType.INT16 || t === DataType.INT8 || t === DataType.UINT8 || t === DataType.UINT16 || t === DataType.UINT32 || t === DataType.UINT64;
}

function knownFromTensor(t: Tensor): Known | undefined {
  if (!isIntType(t.dtype) || t.size > MAX_KNOWN || t.dims.length > 1) return undefined;
  try {
    return { dims: [...t.dims], values: t.toNumberArray() };
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------------------------
// Dimension arithmetic
// ------------------------------------------------------------------------------------------

const isNum = (d: Dim | undefined): d is number => typeof d === 'number';

/** A product of dims as a constant times a multiset of symbols (unknown if any dim is). */
interface SymProduct {
  c: number;
  syms: string[];
  unknown: boolean;
}

function symProduct(dims: readonly Dim[]): SymProduct {
  const p: SymProduct = { c: 1, syms: [], unknown: false };
  for (const d of dims) {
    if (d === null) p.unknown = true;
    else if (typeof d === 'number') p.c *= d;
    else p.syms.push(d);
  }
  return p;
}

function productDim(dims: readonly Dim[]): Dim {
  const p = symProduct(dims);
  if (p.unknown) return null;
  if (p.syms.length === 0) return p.c;
  if (p.syms.length === 1 && p.c === 1) return p.syms[0]!;
  return null;
}

/** Two dims that must be equal: the more specific one, or a contradiction. */
function unify(io: NodeIO, a: Dim | undefined, b: Dim | undefined, what: string): Dim {
  if (a === undefined || a === null) return b ?? null;
  if (b === undefined || b === null) return a;
  if (isNum(a) && isNum(b)) {
    if (a !== b) io.contradiction(`${what}: ${a} and ${b} differ`);
    return a;
  }
  if (isNum(a)) return a;
  if (isNum(b)) return b;
  return a; // two symbols: keep the first name
}

/** Multidirectional (numpy) broadcasting of shapes. */
function broadcast(io: NodeIO, shapes: (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => !s)) return undefined;
  const ss = shapes as Dim[][];
  const rank = Math.max(...ss.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let d: Dim = 1;
    let first = true;
    for (const s of ss) {
      const x = s[s.length - rank + k];
      if (x === undefined) continue; // implicit leading 1
      if (first) {
        d = x;
        first = false;
        continue;
      }
      d = broadcastDim(io, d, x);
    }
    out.push(d);
  }
  return out;
}

function broadcastDim(io: NodeIO, a: Dim, b: Dim): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (isNum(a) && isNum(b)) {
    if (a !== b) io.contradiction(`cannot broadcast dims ${a} and ${b}`);
    return a;
  }
  if (isNum(a)) return a; // the symbolic side must be a or 1; it is a when broadcasting works
  if (isNum(b)) return b;
  if (a === null || b === null) return null;
  return a === b ? a : null;
}

function normAxis(io: NodeIO, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) io.contradiction(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}


function autoPad(io: NodeIO): AutoPad {
  const s = io.str('auto_pad', 'NOTSET');
  if (s === 'NOTSET' || s === 'SAME_UPPER' || s === 'SAME_LOWER' || s === 'VALID') return s;
  return io.contradiction(`auto_pad "${s}" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
}

/** Output size of a convolution or pooling window along one axis. */
function windowOut(io: NodeIO, inDim: Dim, k: Dim, s: number, d: number, pb: number, pe: number, mode: AutoPad, ceil: boolean): Dim {
  if (isSamePad(mode)) {
    if (s === 1) return inDim;
    return isNum(inDim) ? sameOutputSize(inDim, s) : null;
  }
  if (!isNum(k)) return null;
  const ek = (k - 1) * d + 1;
  if (mode === 'VALID') {
    if (ek === 1 && s === 1) return inDim;
    if (!isNum(inDim)) return null;
    if (inDim < ek) io.contradiction(`input size ${inDim} is smaller than the window ${ek}`);
    return windowOutputSize(inDim, k, s, d, 0, 0, false);
  }
  if (ek === 1 && s === 1 && pb === 0 && pe === 0) return inDim;
  if (!isNum(inDim)) return null;
  const span = inDim + pb + pe - ek;
  if (span < 0) io.contradiction(`padded input size ${inDim + pb + pe} is smaller than the window ${ek}`);
  return windowOutputSize(inDim, k, s, d, pb, pe, ceil);
}

interface WindowAttrs {
  kernel: Dim[];
  strides: number[];
  dilations: number[];
  pads: number[];
  mode: AutoPad;
}

function windowAttrs(io: NodeIO, spatial: number, kernelFromWeights?: Dim[]): WindowAttrs {
  const a = windowAttributes(io.node, spatial);
  const kernel: Dim[] | undefined = a.kernel ?? kernelFromWeights;
  if (!kernel) io.contradiction('kernel_shape is missing and cannot be taken from the weights');
  if (kernel.length !== spatial) io.contradiction(`kernel_shape has ${kernel.length} entries for ${spatial} spatial axes`);
  const { strides, dilations, pads } = a;
  if (strides.length !== spatial) io.contradiction(`strides has ${strides.length} entries for ${spatial} spatial axes`);
  if (dilations.length !== spatial) io.contradiction(`dilations has ${dilations.length} entries for ${spatial} spatial axes`);
  if (pads.length !== 2 * spatial) io.contradiction(`pads has ${pads.length} entries for ${spatial} spatial axes`);
  if (strides.some((x) => x < 1) || dilations.some((x) => x < 1)) io.contradiction('strides and dilations must be positive');
  return { kernel, strides, dilations, pads, mode: autoPad(io) };
}

function spatialOut(io: NodeIO, x: Dim[], w: WindowAttrs, ceil: boolean): Dim[] {
  const spatial = x.length - 2;
  const out: Dim[] = [];
  for (let i = 0; i < spatial; i++) {
    const pb = w.mode === 'NOTSET' ? w.pads[i]! : 0;
    const pe = w.mode === 'NOTSET' ? w.pads[i + spatial]! : 0;
    out.push(windowOut(io, x[i + 2]!, w.kernel[i]!, w.strides[i]!, w.dilations[i]!, pb, pe, w.mode, ceil));
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Operator rules: each returns one Inferred (or undefined) per output
// ------------------------------------------------------------------------------------------

type Rule = (io: NodeIO) => (Inferred | undefined)[];

const sameAsInput: Rule = (io) => [io.type(0)];

const passThroughKnown: Rule = (io) => {
  const k = io.known(0);
  if (k) io.setKnown(0, k);
  return [io.type(0)];
};

function conv(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const w = io.shape(1);
  const elem = io.elem(0) || io.elem(1);
  const rank = x?.length ?? w?.length;
  if (rank === undefined) return [{ elem }];
  if (rank < 3) io.contradiction(`input rank ${rank} is below 3`);
  if (x && w && x.length !== w.length) io.contradiction(`input rank ${x.length} and weight rank ${w.length} differ`);
  const group = io.int('group', 1);
  if (x && w && isNum(x[1]) && isNum(w[1]) && x[1] !== w[1] * group) {
    io.contradiction(`input has ${x[1]} channels, weights expect ${w[1]} × group ${group}`);
  }
  if (w && isNum(w[0]) && w[0] % group !== 0) io.contradiction(`${w[0]} output channels are not divisible by group ${group}`);
  const m = w ? w[0]! : null;
  if (!x) return [{ elem, shape: [null, m, ...new Array<Dim>(rank - 2).fill(null)] }];
  const attrs = windowAttrs(io, rank - 2, w?.slice(2));
  if (w) attrs.kernel.forEach((k, i) => unify(io, k, w[i + 2], `kernel_shape[${i}] against the weights`));
  return [{ elem, shape: [x[0]!, m, ...spatialOut(io, x, attrs, false)] }];
}

function convTranspose(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const w = io.shape(1);
  const elem = io.elem(0) || io.elem(1);
  const rank = x?.length ?? w?.length;
  if (rank === undefined) return [{ elem }];
  if (rank < 3) io.contradiction(`input rank ${rank} is below 3`);
  const group = io.int('group', 1);
  if (x && w && isNum(x[1]) && isNum(w[0]) && x[1] !== w[0]) io.contradiction(`input has ${x[1]} channels, weights have ${w[0]}`);
  const m = w && isNum(w[1]) ? w[1] * group : null;
  const spatial = rank - 2;
  if (!x) return [{ elem, shape: [null, m, ...new Array<Dim>(spatial).fill(null)] }];
  const a = windowAttrs(io, spatial, w?.slice(2));
  const outputShape = io.ints('output_shape');
  const outPad = io.ints('output_padding') ?? new Array<number>(spatial).fill(0);
  const dims: Dim[] = [];
  for (let i = 0; i < spatial; i++) {
    if (outputShape) {
      dims.push(outputShape[outputShape.length - spatial + i]!);
      continue;
    }
    const inD = x[i + 2]!;
    const k = a.kernel[i]!;
    if (!isNum(inD) || !isNum(k)) {
      dims.push(null);
      continue;
    }
    const s = a.strides[i]!;
    if (a.mode === 'SAME_UPPER' || a.mode === 'SAME_LOWER') dims.push(inD * s);
    else {
      const pb = a.mode === 'NOTSET' ? a.pads[i]! : 0;
      const pe = a.mode === 'NOTSET' ? a.pads[i + spatial]! : 0;
      dims.push(s * (inD - 1) + outPad[i]! + (k - 1) * a.dilations[i]! + 1 - pb - pe);
    }
  }
  return [{ elem, shape: [x[0]!, m, ...dims] }];
}

function pool(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  if (!x) return [{ elem }, { elem: DataType.INT64 }];
  if (x.length < 3) io.contradiction(`input rank ${x.length} is below 3`);
  const a = windowAttrs(io, x.length - 2);
  const shape = [x[0]!, x[1]!, ...spatialOut(io, x, a, io.int('ceil_mode', 0) !== 0)];
  return [{ elem, shape }, { elem: DataType.INT64, shape }];
}

function globalPool(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  if (!x) return [{ elem: io.elem(0) }];
  if (x.length < 2) io.contradiction(`input rank ${x.length} is below 2`);
  return [{ elem: io.elem(0), shape: [x[0]!, x[1]!, ...new Array<Dim>(x.length - 2).fill(1)] }];
}

function gemm(io: NodeIO): (Inferred | undefined)[] {
  const a = io.shape(0);
  const b = io.shape(1);
  const elem = io.elem(0) || io.elem(1);
  if (a && a.length !== 2) io.contradiction(`A has rank ${a.length}, Gemm needs 2`);
  if (b && b.length !== 2) io.contradiction(`B has rank ${b.length}, Gemm needs 2`);
  const tA = io.int('transA', 0) !== 0;
  const tB = io.int('transB', 0) !== 0;
  const m = a ? a[tA ? 1 : 0]! : null;
  const n = b ? b[tB ? 0 : 1]! : null;
  if (a && b) unify(io, a[tA ? 0 : 1], b[tB ? 1 : 0], 'inner dimension K of A and B');
  const c = io.shape(2);
  const out: Dim[] = [m, n];
  if (c) broadcast(io, [out.map((d) => d ?? 1), c]); // C must broadcast to [M, N]
  return [{ elem, shape: out }];
}

function matmul(io: NodeIO): (Inferred | undefined)[] {
  const a = io.shape(0);
  const b = io.shape(1);
  const elem = io.elem(0) || io.elem(1);
  if (!a || !b) return [{ elem }];
  if (a.length === 0 || b.length === 0) io.contradiction('MatMul inputs must not be scalars');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  unify(io, a2[a2.length - 1], b2[b2.length - 2], 'inner dimension K');
  const batch = broadcast(io, [a2.slice(0, -2), b2.slice(0, -2)])!;
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return [{ elem, shape: out }];
}

function batchNorm(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  const c: Dim = x && x.length >= 2 ? x[1]! : (io.shape(1)?.[0] ?? null);
  for (let i = 1; i <= 4; i++) {
    const s = io.shape(i);
    if (s && s.length === 1) unify(io, c, s[0], `channel count of input ${i}`);
  }
  const statElem = io.elem(3) || elem;
  const stat: Inferred = { elem: statElem, shape: [c] };
  return [x ? { elem, shape: x } : { elem }, stat, stat, stat, stat];
}

function flatten(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  if (!x) return [{ elem: io.elem(0), shape: [null, null] }];
  const axis = io.int('axis', 1);
  const a = axis < 0 ? axis + x.length : axis;
  if (a < 0 || a > x.length) io.contradiction(`axis ${axis} is out of range for rank ${x.length}`);
  return [{ elem: io.elem(0), shape: [productDim(x.slice(0, a)), productDim(x.slice(a))] }];
}

function reshape(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  const k = io.opset >= 5 ? io.known(1) : undefined;
  let target: Dim[] | undefined = io.opset >= 5 ? k?.values : io.ints('shape');
  if (io.opset >= 5 && k && k.dims.length !== 1) io.contradiction(`the shape input has rank ${k.dims.length}, not 1`);
  if (!target) {
    const s = io.shape(1);
    if (s && s.length === 1 && isNum(s[0])) return [{ elem, shape: new Array<Dim>(s[0]).fill(null) }];
    return [{ elem }];
  }
  const allowZero = io.int('allowzero', 0) !== 0;
  let minus = -1;
  target = target.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (!x) return null;
      if (i >= x.length) io.contradiction(`shape entry ${i} is 0 (copy) but the input has rank ${x.length}`);
      return x[i]!;
    }
    if (d === -1) {
      if (minus >= 0) io.contradiction('the shape has more than one -1');
      minus = i;
      return null;
    }
    if (isNum(d) && d < 0) io.contradiction(`shape entry ${d} is negative`);
    return d;
  });
  if (minus >= 0) {
    if (x) {
      const inP = symProduct(x);
      const rest = symProduct(target.filter((_, i) => i !== minus));
      target[minus] = inferMinusOne(io, inP, rest);
    }
  } else if (x) {
    const inP = symProduct(x);
    const outP = symProduct(target);
    if (!inP.unknown && !outP.unknown && inP.syms.length === 0 && outP.syms.length === 0 && inP.c !== outP.c) {
      io.contradiction(`cannot reshape ${formatDims(x)} (${inP.c} elements) to ${formatDims(target)} (${outP.c} elements)`);
    }
  }
  const kin = io.known(0);
  if (kin && target.every(isNum) && (target as number[]).reduce((p, d) => p * d, 1) === kin.values.length) io.setKnown(0, { dims: target as number[], values: kin.values });
  return [{ elem, shape: target }];
}

function inferMinusOne(io: NodeIO, inP: SymProduct, rest: SymProduct): Dim {
  if (inP.unknown || rest.unknown) return null;
  const syms = [...inP.syms];
  for (const s of rest.syms) {
    const k = syms.indexOf(s);
    if (k < 0) return null;
    syms.splice(k, 1);
  }
  if (rest.c === 0) return null;
  const c = inP.c / rest.c;
  if (syms.length === 0) {
    if (!Number.isInteger(c)) io.contradiction(`${inP.c} elements cannot be split into rows of ${rest.c}`);
    return c;
  }
  if (syms.length === 1 && c === 1) return syms[0]!;
  return null;
}

function transpose(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  if (!x) return [{ elem: io.elem(0) }];
  const perm = io.ints('perm') ?? x.map((_, i) => x.length - 1 - i);
  if (perm.length !== x.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) io.contradiction(`perm [${perm.join(',')}] is not a permutation of rank ${x.length}`);
  return [{ elem: io.elem(0), shape: perm.map((p) => x[p]!) }];
}

function concat(io: NodeIO): (Inferred | undefined)[] {
  const n = io.node.inputs.length;
  let elem = 0;
  const shapes: (Dim[] | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    elem ||= io.elem(i);
    shapes.push(io.shape(i));
  }
  const known = shapes.filter((s): s is Dim[] => !!s);
  if (known.length === 0) return [{ elem }];
  const rank = known[0]!.length;
  if (known.some((s) => s.length !== rank)) io.contradiction('inputs have different ranks');
  const axisAttr = io.node.attrInt('axis');
  if (axisAttr === undefined) io.contradiction('attribute axis is missing');
  const axis = normAxis(io, axisAttr, rank);
  const out: Dim[] = [];
  for (let d = 0; d < rank; d++) {
    if (d === axis) {
      out.push(shapes.every((s) => s && isNum(s[d])) ? shapes.reduce((t, s) => t + (s![d] as number), 0) : null);
      continue;
    }
    let x: Dim = null;
    for (const s of known) x = unify(io, x, s[d], `dim ${d} of the inputs`);
    out.push(x);
  }
  if (rank === 1) {
    const ks = Array.from({ length: n }, (_, i) => io.known(i));
    if (ks.every((k) => k)) {
      const values = ks.flatMap((k) => k!.values);
      io.setKnown(0, { dims: [values.length], values });
    }
  }
  return [{ elem, shape: out }];
}

function binaryArith(op: (a: number, b: number) => number): Rule {
  return (io) => {
    const elem = io.elem(0) || io.elem(1);
    const shape = broadcast(io, [io.shape(0), io.shape(1)]);
    const ka = io.known(0);
    const kb = io.known(1);
    if (ka && kb && isIntType(elem) && shape && shape.every(isNum)) {
      const n = Math.max(ka.values.length, kb.values.length);
      if ((ka.values.length === n || ka.values.length === 1) && (kb.values.length === n || kb.values.length === 1)) {
        const values: Dim[] = [];
        for (let i = 0; i < n; i++) {
          const a = ka.values[ka.values.length === 1 ? 0 : i]!;
          const b = kb.values[kb.values.length === 1 ? 0 : i]!;
          const r = isNum(a) && isNum(b) ? op(a, b) : symbolicArith(op, a, b);
          values.push(isNum(r) && !Number.isSafeInteger(r) ? null : r);
        }
        io.setKnown(0, { dims: shape as number[], values });
      }
    }
    return [shape ? { elem, shape } : { elem }];
  };
}

/** x*1, 1*x, x+0, x-0, x/1 keep a symbol; anything else on symbols is unknown. */
function symbolicArith(op: (a: number, b: number) => number, a: Dim, b: Dim): Dim {
  if (isNum(b) && !isNum(a) && op(7, b) === 7) return a;
  if (isNum(a) && !isNum(b) && op(a, 7) === 7) return b;
  return null;
}

function dropout(io: NodeIO): (Inferred | undefined)[] {
  const t = io.type(0);
  const maskElem = io.opset >= 10 ? DataType.BOOL : (t?.elem ?? 0);
  return [t, t ? (t.shape ? { elem: maskElem, shape: t.shape } : { elem: maskElem }) : { elem: maskElem }];
}

function constant(io: NodeIO): (Inferred | undefined)[] {
  const n = io.node;
  const t = n.attrTensor('value');
  if (t) {
    const k = knownFromTensor(t);
    if (k) io.setKnown(0, k);
    return [{ elem: t.dtype, shape: [...t.dims] }];
  }
  const ints = n.attributes.get('value_ints');
  if (ints?.type === 'ints') {
    const values = ints.value.map(Number);
    io.setKnown(0, { dims: [values.length], values });
    return [{ elem: DataType.INT64, shape: [values.length] }];
  }
  const int = n.attributes.get('value_int');
  if (int?.type === 'int') {
    io.setKnown(0, { dims: [], values: [Number(int.value)] });
    return [{ elem: DataType.INT64, shape: [] }];
  }
  const floats = n.attributes.get('value_floats');
  if (floats?.type === 'floats') return [{ elem: DataType.FLOAT, shape: [floats.value.length] }];
  if (n.attributes.get('value_float')?.type === 'float') return [{ elem: DataType.FLOAT, shape: [] }];
  const strs = n.attributes.get('value_strings');
  if (strs?.type === 'strings') return [{ elem: DataType.STRING, shape: [strs.value.length] }];
  if (n.attributes.get('value_string')?.type === 'string') return [{ elem: DataType.STRING, shape: [] }];
  if (n.attributes.has('sparse_value')) return [undefined]; // dense shape lives in the sparse proto; left untyped
  return io.contradiction('Constant has none of value, value_float(s), value_int(s), value_string(s), sparse_value');
}

function shapeOp(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  if (!x) return [{ elem: DataType.INT64, shape: [null] }];
  const r = x.length;
  const clamp = (v: number): number => Math.min(r, Math.max(0, v < 0 ? v + r : v));
  const start = io.opset >= 15 ? clamp(io.int('start', 0)) : 0;
  const end = io.opset >= 15 ? clamp(io.int('end', r)) : r;
  const values = x.slice(start, Math.max(start, end));
  io.setKnown(0, { dims: [values.length], values });
  return [{ elem: DataType.INT64, shape: [values.length] }];
}

function gather(io: NodeIO): (Inferred | undefined)[] {
  const d = io.shape(0);
  const ind = io.shape(1);
  const elem = io.elem(0);
  if (!d || !ind) return [{ elem }];
  if (d.length === 0) io.contradiction('data must have rank >= 1');
  const axis = normAxis(io, io.int('axis', 0), d.length);
  const kd = io.known(0);
  const ki = io.knownInts(1);
  if (kd && ki && axis === 0 && kd.dims.length === 1) {
    const n = kd.values.length;
    const values = ki.map((i) => {
      const j = i < 0 ? i + n : i;
      if (j < 0 || j >= n) io.contradiction(`index ${i} is out of range for ${n} entries`);
      return kd.values[j]!;
    });
    io.setKnown(0, { dims: ind.map((x) => (isNum(x) ? x : 0)), values });
  }
  return [{ elem, shape: [...d.slice(0, axis), ...ind, ...d.slice(axis + 1)] }];
}

/** Axes from the attribute (before opset 13) or the second input (13 and later). */
function axesOf(io: NodeIO, opsetMovedToInput: number, inputIndex = 1): { axes?: number[]; given: boolean; count?: number } {
  if (io.opset < opsetMovedToInput) {
    const a = io.ints('axes');
    return a ? { axes: a, given: true } : { given: false };
  }
  if (!io.has(inputIndex)) return { given: false };
  const a = io.knownInts(inputIndex);
  if (a) return { axes: a, given: true };
  const s = io.shape(inputIndex);
  return { given: true, count: s && s.length === 1 && isNum(s[0]) ? s[0] : undefined };
}

function unsqueeze(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  const ax = axesOf(io, 13);
  if (!ax.given) io.contradiction('axes are required');
  if (!x) return [{ elem }];
  if (!ax.axes) return ax.count !== undefined ? [{ elem, shape: new Array<Dim>(x.length + ax.count).fill(null) }] : [{ elem }];
  const r = x.length + ax.axes.length;
  const axes = new Set(ax.axes.map((a) => normAxis(io, a, r, 'unsqueeze axis')));
  if (axes.size !== ax.axes.length) io.contradiction('axes repeat');
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < r; i++) out.push(axes.has(i) ? 1 : x[j++]!);
  const k = io.known(0);
  if (k) io.setKnown(0, { dims: out.map((d) => (isNum(d) ? d : 0)), values: k.values });
  return [{ elem, shape: out }];
}

function squeeze(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  const ax = axesOf(io, 13);
  if (!x) return [{ elem }];
  let out: Dim[];
  if (ax.given) {
    if (!ax.axes) return ax.count !== undefined ? [{ elem, shape: new Array<Dim>(x.length - ax.count).fill(null) }] : [{ elem }];
    const axes = new Set(ax.axes.map((a) => normAxis(io, a, x.length, 'squeeze axis')));
    for (const a of axes) if (isNum(x[a]) && x[a] !== 1) io.contradiction(`axis ${a} has size ${x[a]}, not 1`);
    out = x.filter((_, i) => !axes.has(i));
  } else {
    if (x.some((d) => !isNum(d))) return [{ elem }]; // which dims are 1 is not known
    out = x.filter((d) => d !== 1);
  }
  const k = io.known(0);
  if (k) io.setKnown(0, { dims: out.map((d) => (isNum(d) ? d : 0)), values: k.values });
  return [{ elem, shape: out }];
}

function pad(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  if (!x) return [{ elem }];
  const r = x.length;
  const pads = io.opset >= 11 ? io.knownInts(1) : io.ints('pads') ?? io.ints('paddings');
  let axes: number[] = x.map((_, i) => i);
  if (io.opset >= 18 && io.has(3)) {
    const a = io.knownInts(3);
    if (!a) return [{ elem, shape: new Array<Dim>(r).fill(null) }];
    axes = a.map((v) => normAxis(io, v, r, 'pad axis'));
  }
  if (!pads) return [{ elem, shape: x.map((d, i) => (axes.includes(i) ? null : d)) }];
  if (pads.length !== 2 * axes.length) io.contradiction(`pads has ${pads.length} entries for ${axes.length} axes`);
  const out = [...x];
  axes.forEach((a, i) => {
    const pb = pads[i]!;
    const pe = pads[i + axes.length]!;
    const d = x[a]!;
    if (pb + pe === 0) return;
    if (isNum(d)) {
      if (d + pb + pe < 0) io.contradiction(`padding makes axis ${a} negative`);
      out[a] = d + pb + pe;
    } else out[a] = null;
  });
  return [{ elem, shape: out }];
}

function split(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  const n = io.node.outputs.length;
  if (!x) return new Array<Inferred>(n).fill({ elem });
  const axis = normAxis(io, io.int('axis', 0), x.length);
  let sizes: number[] | undefined;
  let unknownSizes = false;
  if (io.opset >= 13) {
    if (io.has(1)) {
      sizes = io.knownInts(1);
      unknownSizes = !sizes;
    }
  } else sizes = io.ints('split');
  const d = x[axis]!;
  if (sizes) {
    if (sizes.length !== n) io.contradiction(`split has ${sizes.length} entries for ${n} outputs`);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (isNum(d) && total !== d) io.contradiction(`split sizes add up to ${total}, the axis has ${d}`);
  } else if (!unknownSizes && isNum(d)) {
    const parts = io.opset >= 18 ? io.int('num_outputs', n) : n;
    if (parts !== n) io.contradiction(`num_outputs is ${parts} but the node has ${n} outputs`);
    if (d % n === 0) sizes = new Array<number>(n).fill(d / n);
    else if (io.opset >= 18) {
      const chunk = Math.ceil(d / n);
      if (chunk * (n - 1) >= d) io.contradiction(`axis of size ${d} cannot be split into ${n} parts`);
      sizes = [...new Array<number>(n - 1).fill(chunk), d - chunk * (n - 1)];
    } else io.contradiction(`axis of size ${d} does not split evenly into ${n} parts`);
  }
  return Array.from({ length: n }, (_, i) => ({ elem, shape: x.map((dd, j) => (j === axis ? (sizes ? sizes[i]! : null) : dd)) }));
}

function cast(io: NodeIO): (Inferred | undefined)[] {
  const to = io.node.attrInt('to');
  if (to === undefined) io.contradiction('attribute to is missing');
  const k = io.known(0);
  if (k && isIntType(to) && isIntType(io.elem(0))) io.setKnown(0, k);
  const s = io.shape(0);
  return [s ? { elem: to, shape: s } : { elem: to }];
}

const RULES: Record<string, Rule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matmul,
  BatchNormalization: batchNorm,
  Relu: sameAsInput,
  LeakyRelu: sameAsInput,
  Clip: sameAsInput,
  Sigmoid: sameAsInput,
  Tanh: sameAsInput,
  HardSigmoid: sameAsInput,
  Softmax: sameAsInput,
  LogSoftmax: sameAsInput,
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalPool,
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Add: binaryArith((a, b) => a + b),
  Sub: binaryArith((a, b) => a - b),
  Mul: binaryArith((a, b) => a * b),
  Div: binaryArith((a, b) => (b === 0 ? NaN : Math.trunc(a / b))),
  Dropout: dropout,
  Identity: passThroughKnown,
  Constant: constant,
  Shape: shapeOp,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Pad: pad,
  Split: split,
  Cast: cast,
};

/** The operators infer-shapes knows (for docs and tests). */
export const INFER_SHAPES_OPS: readonly string[] = Object.keys(RULES);
