/**
 * The shape analysis: element types and shapes of a model's values, following the ONNX
 * operator specifications for opsets 7 to 21, computed once per model state
 * (src/ir/analysis.ts) and shared by the infer-shapes pass (which writes the result onto the
 * values), the trainer, the bit-level lowering and the ASIC model.
 *
 * Rules (for every node, in graph order, then inside each of its subgraphs):
 * 1. Input types come from earlier inference, else from the value's type (graph inputs,
 *    value_info) or, for initializers, from the tensor itself. Small integer tensors whose
 *    values are known (initializers, also those listed as graph inputs; Constant nodes; Shape
 *    outputs and Gather/Unsqueeze/Squeeze/Concat/Cast/Identity/arithmetic over them) are
 *    tracked as values, with symbolic entries, so that Reshape, Squeeze, Unsqueeze, Pad and
 *    Split can use shape inputs computed in the graph (opset 13+ "axes as input").
 * 2. For an operator in the table below, the output types follow its spec; symbolic
 *    dimensions ("N") pass through where the spec keeps a dimension, and become unknown
 *    where arithmetic on them would be needed (e.g. a strided convolution over "H"). The
 *    ai.hbnn calls of the quantized format are known too: a binarized weight call has the
 *    float weight's shape (src/quant/planes.ts `weightCallDims`), an activation binarizer
 *    its input's.
 * 3. Any other operator (or any other non-default domain) is recorded as `unknown-op`; its
 *    outputs keep their declared types.
 * 4. Inputs that contradict the operator's spec (mismatching channels, broadcasting of
 *    unequal static dims, a Reshape whose sizes do not match) are recorded as
 *    `contradiction` with the reason; the outputs keep their declared types.
 * 5. The inferred type is merged with the type the output already has (a declared graph
 *    output, a value_info entry): a static dim beats a symbolic one beats an unknown one,
 *    and a declared symbolic name is kept over an inferred one, so nothing already known
 *    is lost. A different element type, rank or static dim between the two is recorded as
 *    `conflict` naming the output (which keeps its declared type).
 * 6. Values of non-tensor types (sequences, maps, optionals) are never retyped.
 *
 * Operators: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, InstanceNormalization,
 * LRN, the element-wise unary operators (Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid,
 * HardSwish, PRelu, Elu, Selu, Softplus, Neg, Abs, Sign, Exp, Log, Sqrt, Reciprocal, Erf,
 * Sin, Cos, Floor, Ceil, Round, Not), Softmax, LogSoftmax, MaxPool, AveragePool, LpPool,
 * GlobalAveragePool, GlobalMaxPool, Flatten, Reshape, Transpose, Concat, Add, Sub, Mul, Div,
 * Pow, Max, Min, Sum, Mean, Where, the comparisons and logical operators (Equal, Less,
 * Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor), ReduceSum, ReduceMean, ReduceMax,
 * ReduceMin, Dropout, Identity, Constant, Shape, Gather, Unsqueeze, Squeeze, Pad, Split, Cast;
 * ai.hbnn binarized weight calls and BinarizeActivation.
 */
import { isSamePad, sameOutputSize, windowAttributes, windowOutputSize, type AutoPad } from '../ir/window.js';
import type { Graph, Model, Node, Value } from '../ir/graph.js';
import { tensorTypeOf, formatDims, type Dim } from '../ir/types.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import type { Tensor } from '../ir/tensor.js';
import { defineAnalysis, getAnalysis, type Analysis } from '../ir/analysis.js';
import { HBNN_DOMAIN, isActivationCall, isWeightCall } from '../quant/format.js';
import { weightCallDims } from '../quant/planes.js';

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

/** The outcome of inference for one node. */
export type NodeShapeStatus =
  /** every output got an element type and a shape with no unknown dim */
  | 'inferred'
  /** some output lacks its element type, shape or a dim */
  | 'partially-inferred'
  /** no rule for the operator (or a non-default domain other than the ai.hbnn calls): outputs as declared */
  | 'unknown-op'
  /** the inputs contradict the operator's spec: outputs as declared; `message` says why */
  | 'contradiction'
  /** an inferred type disagrees with the declared one: that output as declared; `message` names it */
  | 'conflict'
  /** a rule failed (e.g. an attribute of the wrong type): outputs as declared; `error` is what it threw */
  | 'error';

export interface NodeShapeRecord {
  node: Node;
  status: NodeShapeStatus;
  message?: string;
  error?: unknown;
}

/** The shape analysis of a model (see the rules above). Shared by its consumers: do not modify. */
export interface ShapeInfo {
  /** ai.onnx opset the rules followed. */
  readonly opset: number;
  /** Every node of the main graph and its subgraphs, in inference order, with its outcome. */
  readonly nodes: readonly NodeShapeRecord[];
  /** The merged type of every node output inference reached (rule 5); others keep their declared type. */
  readonly types: ReadonlyMap<Value, InferredType>;
  /** Element type and shape of any value: inferred, else an initializer's, else declared. */
  typeOf(v: Value | null | undefined): InferredType | undefined;
  /** The shape of any value (undefined: unknown rank). */
  shapeOf(v: Value | null | undefined): Dim[] | undefined;
  /** The contents of a small integer value the analysis computed (shape arithmetic) or a constant's, when every entry is a number. */
  knownInts(v: Value | null | undefined): number[] | undefined;
}

/** An element type (0 = unknown) and a shape (undefined = unknown rank). */
export interface InferredType {
  elem: number;
  shape?: Dim[];
}

/**
 * Shapes and element types of a model's values (rules above), computed once per model state
 * and shared by infer-shapes, the trainer, the bit-level lowering and the ASIC model
 * (`shapeAnalysis(model)`; src/ir/analysis.ts says when it is recomputed).
 */
export const ShapeAnalysis: Analysis<ShapeInfo> = defineAnalysis('shapes', computeShapes);

/** The shape analysis of `model`, cached (`getAnalysis(model, ShapeAnalysis)`). */
export function shapeAnalysis(model: Model): ShapeInfo {
  return getAnalysis(model, ShapeAnalysis);
}

/** How many times the analysis was computed (for tests that show it is computed once). */
export let shapeAnalysisRuns = 0;

function computeShapes(model: Model): ShapeInfo {
  shapeAnalysisRuns++;
  const env: Env = { opset: model.opsetVersion('') ?? 21, known: new Map(), types: new Map(), records: [] };
  inferGraph(model.graph, env);
  const types = env.types;
  const typeOf = (v: Value | null | undefined): InferredType | undefined => (v ? types.get(v) ?? declaredType(v) : undefined);
  const knownInts = (v: Value | null | undefined): number[] | undefined => {
    if (!v) return undefined;
    const k = env.known.get(v) ?? (v.constValue ? knownFromTensor(v.constValue) : undefined);
    return k && k.values.every(isNum) ? (k.values as number[]) : undefined;
  };
  return { opset: env.opset, nodes: env.records, types, typeOf, shapeOf: (v) => typeOf(v)?.shape, knownInts };
}

/** The type a value has without inference: an initializer's tensor, else its declared tensor type. */
function declaredType(v: Value): InferredType | undefined {
  if (v.constValue) return { elem: v.constValue.dtype, shape: [...v.constValue.dims] };
  const t = tensorTypeOf(v);
  if (!t) return undefined;
  return t.shape ? { elem: t.elemType, shape: t.shape } : { elem: t.elemType };
}

interface Env {
  opset: number;
  known: Map<Value, Known>;
  types: Map<Value, InferredType>;
  records: NodeShapeRecord[];
}

function inferGraph(g: Graph, env: Env): void {
  for (const node of g.nodes) {
    inferNode(node, env);
    for (const sub of node.subgraphs()) inferGraph(sub, env);
  }
}

function ruleOf(node: Node): Rule | undefined {
  if (node.domain === HBNN_DOMAIN) {
    if (isWeightCall(node)) return weightCall;
    if (isActivationCall(node)) return sameAsInput;
    return undefined;
  }
  const domain = node.domain === 'ai.onnx' ? '' : node.domain;
  return domain === '' ? RULES[node.opType] : undefined;
}

function inferNode(node: Node, env: Env): void {
  const rule = ruleOf(node);
  if (!rule) {
    env.records.push({ node, status: 'unknown-op' });
    return;
  }
  const io = new NodeIO(node, env);
  let outs: (Inferred | undefined)[];
  try {
    outs = rule(io);
  } catch (e) {
    if (e instanceof Contradiction) env.records.push({ node, status: 'contradiction', message: e.message });
    else env.records.push({ node, status: 'error', error: e });
    return;
  }
  let complete = true;
  let conflict: string | undefined;
  node.outputs.forEach((out, i) => {
    if (out.name === '' || conflict !== undefined) return;
    const inf = outs[i];
    if (!inf || (inf.elem === 0 && !inf.shape)) {
      complete = false;
      return;
    }
    if (!inf.shape || inf.shape.some((d) => d === null)) complete = false;
    const merged = merge(out, inf);
    if (typeof merged === 'string') conflict = `output "${out.name}" is declared ${merged}`;
    else if (merged) env.types.set(out, merged);
  });
  for (const [i, k] of io.knownOut) if (node.outputs[i]) env.known.set(node.outputs[i]!, k);
  if (conflict !== undefined) env.records.push({ node, status: 'conflict', message: conflict });
  else env.records.push({ node, status: complete ? 'inferred' : 'partially-inferred' });
}

/**
 * `inf` merged into the output's declared type (rule 5): the merged type, undefined when the
 * value is not a tensor (rule 6), or the text of a conflict.
 */
function merge(out: Value, inf: Inferred): InferredType | string | undefined {
  if (out.type && !out.type.tensor_type) return undefined; // rule 6
  const had = tensorTypeOf(out);
  let elem = inf.elem;
  let shape = inf.shape;
  if (had) {
    if (had.elemType && elem && had.elemType !== elem) return `${dtypeName(had.elemType)} but inferred ${dtypeName(elem)}`;
    elem = elem || had.elemType;
    if (had.shape && shape) {
      if (had.shape.length !== shape.length) return `with shape ${formatDims(had.shape)} but inferred ${formatDims(shape)} (rank differs)`;
      let bad = false;
      shape = shape.map((d, k) => {
        const h = had.shape![k]!;
        if (typeof h === 'number' && typeof d === 'number' && h !== d) bad = true;
        if (typeof h === 'number') return h;
        if (typeof d === 'number') return d;
        return h ?? d;
      });
      if (bad) return `with shape ${formatDims(had.shape)} but inferred ${formatDims(inf.shape)}`;
    } else shape = shape ?? had.shape;
  }
  return shape ? { elem, shape } : { elem };
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
    return this.env.types.get(v) ?? declaredType(v);
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
    // saturated: INT64_MAX / INT64_MIN are Slice's "to the end" bounds (a shape never holds them)
    return { dims: [...t.dims], values: t.toNumberArray(true) };
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
  // ceil mode: a window hanging over the end by less than a stride still gives one output
  // (onnxruntime: ceil((in + pads − ek)/s + 1) = 1; SqueezeNet's last MaxPool on a 2×2 map).
  if (span < 0 && !(ceil && span > -s)) io.contradiction(`padded input size ${inDim + pb + pe} is smaller than the window ${ek}`);
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
  // known contents (e.g. the [pairs, 2] pads table PyTorch's exporter transposes): moved along
  const k = io.known(0);
  if (k && k.dims.length === x.length) {
    const dims = perm.map((p) => k.dims[p]!);
    const inStride = k.dims.map((_, a) => k.dims.slice(a + 1).reduce((m, d) => m * d, 1));
    let flat = [0];
    perm.forEach((p, a) => {
      flat = flat.flatMap((base) => Array.from({ length: dims[a]! }, (_, i) => base + i * inStride[p]!));
    });
    io.setKnown(0, { dims, values: flat.map((i) => k.values[i]!) });
  }
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

/**
 * Slice (starts/ends/axes/steps as attributes before opset 10, inputs from 10): the sliced
 * axes' sizes where the bounds are known and the dim is static (clamped as the spec says);
 * the contents of a known 1-D input sliced along (shape arithmetic, e.g. a channel split).
 */
function slice(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  if (!x) return [{ elem }];
  const r = x.length;
  const asInputs = io.opset >= 10;
  const starts = asInputs ? io.knownInts(1) : io.ints('starts');
  const ends = asInputs ? io.knownInts(2) : io.ints('ends');
  const axesGiven = asInputs ? io.has(3) : io.ints('axes') !== undefined;
  const axesRaw = asInputs ? (io.has(3) ? io.knownInts(3) : undefined) : io.ints('axes');
  const steps = asInputs && io.has(4) ? io.knownInts(4) : undefined;
  const axes = axesRaw?.map((a) => normAxis(io, a, r, 'slice axis'));
  if (!starts || !ends || (axesGiven && !axes) || (asInputs && io.has(4) && !steps)) {
    return [{ elem, shape: x.map((d, i) => (axes && !axes.includes(i) ? d : null)) }];
  }
  if (starts.length !== ends.length) io.contradiction(`starts has ${starts.length} entries and ends ${ends.length}`);
  const along = axes ?? starts.map((_, i) => i);
  const out = [...x];
  const picked: (number[] | undefined)[] = new Array(r).fill(undefined);
  along.forEach((a, k) => {
    const d = x[a];
    const step = steps?.[k] ?? 1;
    if (step === 0) io.contradiction('a slice step is 0');
    if (!isNum(d)) {
      out[a] = null;
      return;
    }
    let b = starts[k]!;
    let e = ends[k]!;
    if (b < 0) b += d;
    if (e < 0) e += d;
    const idx: number[] = [];
    if (step > 0) {
      b = Math.min(Math.max(b, 0), d);
      e = Math.min(Math.max(e, 0), d);
      for (let i = b; i < e && idx.length <= MAX_KNOWN; i += step) idx.push(i);
      out[a] = Math.max(0, Math.ceil((e - b) / step));
    } else {
      b = Math.min(Math.max(b, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
      for (let i = b; i > e && idx.length <= MAX_KNOWN; i += step) idx.push(i);
      out[a] = Math.max(0, Math.ceil((b - e) / -step));
    }
    picked[a] = idx;
  });
  // known contents (small shape-arithmetic tensors, any rank): the picked entries in row-major order
  const k = io.known(0);
  if (k && k.dims.length === r && out.every(isNum)) {
    const lists = k.dims.map((d, a) => picked[a] ?? Array.from({ length: d }, (_, i) => i));
    let flat = [0];
    k.dims.forEach((d, a) => {
      flat = flat.flatMap((base) => lists[a]!.map((i) => base * d + i));
    });
    io.setKnown(0, { dims: out as number[], values: flat.map((i) => k.values[i]!) });
  }
  return [{ elem, shape: out }];
}

/** ConstantOfShape: dims from input 0's contents; a small integer fill is known (shape arithmetic). */
function constantOfShape(io: NodeIO): (Inferred | undefined)[] {
  const t = io.node.attrTensor('value');
  const elem = t?.dtype ?? DataType.FLOAT;
  const k = io.known(0);
  if (!k) {
    const s = io.shape(0);
    return [s && isNum(s[0]) ? { elem, shape: new Array<Dim>(s[0]).fill(null) } : { elem }];
  }
  const dims = [...k.values];
  const fill = t ? knownFromTensor(t)?.values[0] : undefined;
  if (fill !== undefined && dims.length <= 1 && dims.every(isNum)) {
    const n = dims.length ? (dims[0] as number) : 1;
    if (n <= MAX_KNOWN) io.setKnown(0, { dims: dims as number[], values: new Array<Dim>(n).fill(fill) });
  }
  return [{ elem, shape: dims }];
}

/**
 * Expand: X broadcast with the shape in input 1 (numpy rules, ranks aligned right). Where the
 * shape's entries are not known, an axis of X other than 1 keeps its size (the entry must be 1
 * or equal) and an axis of size 1 becomes unknown; the rank needs only the shape's length.
 */
function expand(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  const k = io.known(1);
  const sv = io.shape(1);
  const len = k ? k.values.length : sv && isNum(sv[0]) ? sv[0] : undefined;
  if (!x || len === undefined) return [{ elem }];
  const r = Math.max(x.length, len);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const xi: Dim = i >= r - x.length ? x[i - (r - x.length)]! : 1;
    const si: Dim = i >= r - len ? (k ? k.values[i - (r - len)]! : null) : 1;
    if (si === 1) out.push(xi);
    else if (xi === 1) out.push(si);
    else if (si === null || !isNum(xi) || !isNum(si)) out.push(xi);
    else if (si !== xi) io.contradiction(`cannot expand size ${xi} to ${si}`);
    else out.push(xi);
  }
  return [{ elem, shape: out }];
}

/** Range(start, limit, delta): 1-D of max(ceil((limit - start) / delta), 0) entries; integer ones known. */
function range(io: NodeIO): (Inferred | undefined)[] {
  const elem = io.elem(0);
  const [a, b, d] = [io.knownInts(0), io.knownInts(1), io.knownInts(2)];
  if (!a || !b || !d || d[0] === 0) return [{ elem, shape: [null] }];
  const n = Math.max(Math.ceil((b[0]! - a[0]!) / d[0]!), 0);
  if (isIntType(elem) && n <= MAX_KNOWN) io.setKnown(0, { dims: [n], values: Array.from({ length: n }, (_, i) => a[0]! + i * d[0]!) });
  return [{ elem, shape: [n] }];
}

/** LayerNormalization: Y as X; Mean and InvStdDev with the normalized axes [axis, rank) as 1s. */
function layerNorm(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  if (!x) return [{ elem }, { elem: DataType.FLOAT }, { elem: DataType.FLOAT }];
  const axis = normAxis(io, io.int('axis', -1), x.length);
  const stats = x.map((d, i) => (i < axis ? d : 1));
  return [{ elem, shape: [...x] }, { elem: DataType.FLOAT, shape: stats }, { elem: DataType.FLOAT, shape: [...stats] }];
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

/** An ai.hbnn binarized weight call: the float weight's dims (from its planes or shape input). */
function weightCall(io: NodeIO): (Inferred | undefined)[] {
  const dims = weightCallDims(io.node);
  return [dims ? { elem: DataType.FLOAT, shape: dims } : { elem: DataType.FLOAT }];
}

/** Element-wise over inputs broadcast together (variadic Max, Min, Sum, Mean; Pow; Where's branches), the element type of input `elemFrom`. */
function broadcastAll(elemFrom: number, firstInput = 0): Rule {
  return (io) => {
    const shapes: (Dim[] | undefined)[] = [];
    for (let i = firstInput; i < io.node.inputs.length; i++) shapes.push(io.shape(i));
    const elem = io.elem(elemFrom);
    const shape = broadcast(io, shapes);
    return [shape ? { elem, shape } : { elem }];
  };
}

/** Comparisons and logical operators: broadcast, bool. */
const compare: Rule = (io) => {
  const shape = broadcast(io, [io.shape(0), io.shape(1)]);
  return [shape ? { elem: DataType.BOOL, shape } : { elem: DataType.BOOL }];
};

/** ReduceSum/Mean/Max/Min: axes from input 1 (ReduceSum from opset 13, the others from 18) or the attribute. */
function reduce(io: NodeIO): (Inferred | undefined)[] {
  const x = io.shape(0);
  const elem = io.elem(0);
  if (!x) return [{ elem }];
  const keep = io.int('keepdims', 1) !== 0;
  const axesAsInput = io.node.opType === 'ReduceSum' ? io.opset >= 13 : io.opset >= 18;
  let axes: number[] | undefined;
  if (axesAsInput && io.has(1)) {
    axes = io.knownInts(1);
    if (!axes) return [keep ? { elem, shape: x.map(() => null) } : { elem }];
  } else if (!axesAsInput) axes = io.ints('axes');
  if (!axes || axes.length === 0) {
    if (axesAsInput && io.int('noop_with_empty_axes', 0) !== 0) return [{ elem, shape: x }];
    axes = x.map((_, i) => i);
  }
  const at = new Set(axes.map((a) => normAxis(io, a, x.length)));
  return [{ elem, shape: keep ? x.map((d, i) => (at.has(i) ? 1 : d)) : x.filter((_, i) => !at.has(i)) }];
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
  // integer Mod (fmod 0): the sign of the divisor, as Python's % (Swin's pad-to-window arithmetic)
  Mod: binaryArith((a, b) => (b === 0 ? NaN : ((a % b) + b) % b)),
  Dropout: dropout,
  Identity: passThroughKnown,
  Constant: constant,
  Shape: shapeOp,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Pad: pad,
  Slice: slice,
  LayerNormalization: layerNorm,
  ConstantOfShape: constantOfShape,
  Expand: expand,
  Range: range,
  Split: split,
  Cast: cast,
  GlobalMaxPool: globalPool,
  LpPool: (io) => pool(io).slice(0, 1),
  InstanceNormalization: sameAsInput,
  LRN: sameAsInput,
  ...Object.fromEntries(
    ['HardSwish', 'HardSigmoid', 'PRelu', 'Elu', 'Selu', 'Softplus', 'Neg', 'Abs', 'Sign', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Erf', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Not'].map((op) => [op, sameAsInput]),
  ),
  Pow: broadcastAll(0),
  Max: broadcastAll(0),
  Min: broadcastAll(0),
  Sum: broadcastAll(0),
  Mean: broadcastAll(0),
  Where: broadcastAll(1),
  ...Object.fromEntries(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'].map((op) => [op, compare])),
  ReduceSum: reduce,
  ReduceMean: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
};

/** The ai.onnx operators the analysis knows (for docs and tests). */
export const INFER_SHAPES_OPS: readonly string[] = Object.keys(RULES);
