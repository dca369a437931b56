/**
 * Static shapes for the forward graph, as far as the gradient rules need them: ranks
 * everywhere, numbers where the model fixes them, symbols (e.g. the batch dim 'N') carried
 * through. Covers the operators the trainer differentiates plus the usual shape plumbing;
 * anything else keeps the shape the model declares (value_info) or stays unknown, and the
 * rules then fall back to shapes computed at run time.
 */
import { isWeightCall } from '../../quant/format.js';
import { weightCallDims } from '../../quant/planes.js';
import type { Graph, Node, Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { DataType } from '../../ir/dtype.js';
import { tensorTypeOf, type Dim } from '../../ir/types.js';
import { isSamePad, resolvePads, windowAttributes, windowOutputSize } from '../../ir/window.js';

export type ShapeMap = Map<Value, Dim[]>;

/** A constant's dims and values (numbers; int64 beyond 2^53 are not expected in shapes and axes). */
export interface ConstantValue {
  dims: number[];
  values: number[];
}

/** The constant behind `v`: an initializer or a Constant node's value. */
export function constantOf(v: Value | null | undefined): ConstantValue | undefined {
  if (!v) return undefined;
  if (v.constValue && !v.isGraphInput) return fromTensor(v.constValue);
  const p = v.producer;
  if (!p || p.opType !== 'Constant' || (p.domain !== '' && p.domain !== 'ai.onnx')) return undefined;
  const t = p.attrTensor('value');
  if (t) return fromTensor(t);
  const a = p.attributes.get('value_float') ?? p.attributes.get('value_floats') ?? p.attributes.get('value_int') ?? p.attributes.get('value_ints');
  switch (a?.type) {
    case 'float':
      return { dims: [], values: [a.value] };
    case 'floats':
      return { dims: [a.value.length], values: [...a.value] };
    case 'int':
      return { dims: [], values: [Number(a.value)] };
    case 'ints':
      return { dims: [a.value.length], values: a.value.map(Number) };
    default:
      return undefined;
  }
}

function fromTensor(t: Tensor): ConstantValue | undefined {
  try {
    return { dims: [...t.dims], values: t.dtype === DataType.FLOAT || t.dtype === DataType.DOUBLE || t.dtype === DataType.FLOAT16 ? Array.from(t.toFloat32()) : t.toNumberArray() };
  } catch {
    return undefined;
  }
}

/** Integer values of a constant input (shape vectors, axes), when constant. */
export function constInts(v: Value | null | undefined): number[] | undefined {
  return constantOf(v)?.values;
}

/** Infers shapes for every value of `g` reachable from its inputs and initializers. */
export function inferShapes(g: Graph): ShapeMap {
  const shapes: ShapeMap = new Map();
  const declared = (v: Value): Dim[] | undefined => tensorTypeOf(v)?.shape;
  for (const v of g.inputs) {
    const d = declared(v);
    if (d) shapes.set(v, d);
  }
  for (const v of g.initializers.values()) shapes.set(v, [...v.constValue!.dims]);
  for (const node of g.nodes) {
    let out: (Dim[] | undefined)[] = [];
    try {
      out = inferNode(node, (v) => (v ? shapes.get(v) : undefined));
    } catch {
      out = [];
    }
    node.outputs.forEach((o, i) => {
      const d = out[i] ?? declared(o);
      if (d) shapes.set(o, d);
    });
  }
  return shapes;
}

type Get = (v: Value | null | undefined) => Dim[] | undefined;

const UNARY = new Set([
  'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh', 'Softmax', 'LogSoftmax', 'Identity', 'Neg', 'Abs', 'Exp', 'Log', 'Sqrt',
  'Reciprocal', 'Cast', 'Erf', 'Sin', 'Cos', 'Elu', 'Selu', 'Softplus', 'HardSigmoid', 'HardSwish', 'PRelu', 'Floor', 'Ceil',
  'Round', 'Sign', 'Not', 'BatchNormalization', 'InstanceNormalization', 'LRN', 'BinarizeActivation',
]);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Max', 'Min', 'Sum', 'Mean', 'Where']);

function inferNode(node: Node, get: Get): (Dim[] | undefined)[] {
  const x = get(node.inputs[0]);
  const op = node.opType;
  if (node.domain === 'ai.hbnn') {
    if (isWeightCall(node)) return [weightCallDims(node)];
    if (op === 'BinarizeActivation') return [x];
    return [];
  }
  if (node.domain !== '' && node.domain !== 'ai.onnx') return [];
  if (UNARY.has(op)) return [x];
  if (BINARY.has(op)) return [broadcast(node.inputs.map((v) => get(v)))];
  switch (op) {
    case 'Dropout':
      return [x, x];
    case 'Conv':
      return [convShape(node, x, get(node.inputs[1]))];
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      const y = poolShape(node, x);
      return [y, y];
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
      return [x ? [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] : undefined];
    case 'Flatten':
      return [flattenShape(x, node.attrInt('axis', 1))];
    case 'Reshape':
      return [reshapeShape(x, constInts(node.inputs[1]), node.attrInt('allowzero', 0) === 1)];
    case 'Transpose': {
      if (!x) return [];
      const perm = node.attrInts('perm') ?? x.map((_, i) => x.length - 1 - i);
      return [perm.map((p) => x[p]!)];
    }
    case 'Concat': {
      const ins = node.inputs.map((v) => get(v));
      if (ins.some((s) => !s)) return [];
      const r = ins[0]!.length;
      const axis = norm(node.attrInt('axis', 0), r);
      const out = [...ins[0]!];
      let sum: Dim = 0;
      for (const s of ins) sum = typeof sum === 'number' && typeof s![axis] === 'number' ? sum + (s![axis] as number) : null;
      out[axis] = sum;
      return [out];
    }
    case 'Gemm': {
      const a = get(node.inputs[0]);
      const b = get(node.inputs[1]);
      if ((a && a.length !== 2) || (b && b.length !== 2)) return [];
      const m = a ? (node.attrInt('transA', 0) ? a[1]! : a[0]!) : null;
      const n = b ? (node.attrInt('transB', 0) ? b[0]! : b[1]!) : null;
      return [[m, n]];
    }
    case 'MatMul': {
      const a = get(node.inputs[0]);
      const b = get(node.inputs[1]);
      if (!a || !b) return [];
      if (a.length === 1 && b.length === 1) return [[]];
      if (a.length === 1) return [[...b.slice(0, -2), b[b.length - 1]!]];
      if (b.length === 1) return [a.slice(0, -1)];
      const batch = broadcast([a.slice(0, -2), b.slice(0, -2)]);
      return [batch ? [...batch, a[a.length - 2]!, b[b.length - 1]!] : undefined];
    }
    case 'Unsqueeze': {
      const axes = constInts(node.inputs[1]) ?? node.attrInts('axes');
      if (!x || !axes) return [];
      const r = x.length + axes.length;
      const at = new Set(axes.map((a) => norm(a, r)));
      const out: Dim[] = [];
      let k = 0;
      for (let i = 0; i < r; i++) out.push(at.has(i) ? 1 : x[k++]!);
      return [out];
    }
    case 'Squeeze': {
      const axes = constInts(node.inputs[1]) ?? node.attrInts('axes');
      if (!x) return [];
      if (!axes) return x.every((d) => typeof d === 'number') ? [x.filter((d) => d !== 1)] : [];
      const at = new Set(axes.map((a) => norm(a, x.length)));
      return [x.filter((_, i) => !at.has(i))];
    }
    case 'ReduceSum':
    case 'ReduceMean':
    case 'ReduceMax':
    case 'ReduceMin': {
      if (!x) return [];
      const axes = (node.inputs.length > 1 ? constInts(node.inputs[1]) : node.attrInts('axes')) ?? x.map((_, i) => i);
      const keep = node.attrInt('keepdims', 1) === 1;
      const at = new Set(axes.map((a) => norm(a, x.length)));
      return [keep ? x.map((d, i) => (at.has(i) ? 1 : d)) : x.filter((_, i) => !at.has(i))];
    }
    case 'Shape':
      return [x ? [x.length] : undefined];
    case 'Constant':
      return [constantOf(node.outputs[0])?.dims];
    default:
      return [];
  }
}

export function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Numpy broadcasting of several shapes (unknown when any is unknown or two dims conflict). */
export function broadcast(list: (Dim[] | undefined)[]): Dim[] | undefined {
  if (list.some((s) => !s)) return undefined;
  const r = Math.max(...list.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    let d: Dim = 1;
    for (const s of list) {
      const k = i - (r - s!.length);
      if (k < 0) continue;
      const e = s![k]!;
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) d = typeof d === 'number' && typeof e === 'number' ? d : null;
    }
    out.push(d);
  }
  return out;
}

/** Explicit begin/end pads of a Conv or pool, resolving auto_pad from static input dims. */
export function explicitPads(node: Node, spatialIn: readonly Dim[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[]): number[] | undefined {
  const a = windowAttributes(node, kernel.length);
  if (isSamePad(a.autoPad) && spatialIn.some((n) => typeof n !== 'number')) return undefined;
  return resolvePads(a.autoPad, a.pads, spatialIn as number[], kernel, strides, dilations);
}

export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin..., end...]; undefined when auto_pad needs dims that are not static. */
  pads: number[] | undefined;
}

export function windowGeometry(node: Node, spatialIn: readonly Dim[], kernel: readonly number[]): WindowGeometry {
  const { strides, dilations } = windowAttributes(node, kernel.length);
  return { kernel: [...kernel], strides, dilations, pads: explicitPads(node, spatialIn, kernel, strides, dilations) };
}

function convShape(node: Node, x: Dim[] | undefined, w: Dim[] | undefined): Dim[] | undefined {
  if (!x || !w || w.some((d) => typeof d !== 'number')) return undefined;
  const kernel = node.attrInts('kernel_shape') ?? (w.slice(2) as number[]);
  const geo = windowGeometry(node, x.slice(2), kernel);
  return [x[0]!, w[0]!, ...spatialOut(x.slice(2), geo, false)];
}

function poolShape(node: Node, x: Dim[] | undefined): Dim[] | undefined {
  if (!x) return undefined;
  const kernel = node.attrInts('kernel_shape');
  if (!kernel) return undefined;
  const geo = windowGeometry(node, x.slice(2), kernel);
  return [x[0]!, x[1]!, ...spatialOut(x.slice(2), geo, node.attrInt('ceil_mode', 0) === 1)];
}

/** Output spatial dims of a sliding window (null where the input dim is not a number). */
export function spatialOut(spatialIn: readonly Dim[], geo: WindowGeometry, ceil: boolean): Dim[] {
  const r = geo.kernel.length;
  return spatialIn.map((n, i) => {
    if (typeof n !== 'number' || !geo.pads) return null;
    return windowOutputSize(n, geo.kernel[i]!, geo.strides[i]!, geo.dilations[i]!, geo.pads[i]!, geo.pads[i + r]!, ceil);
  });
}

function flattenShape(x: Dim[] | undefined, axisIn: number): Dim[] | undefined {
  if (!x) return undefined;
  const axis = norm(axisIn, x.length);
  return [product(x.slice(0, axis)), product(x.slice(axis))];
}

/** Product of dims: a number, the one symbol when every other dim is 1, else null. */
function product(dims: readonly Dim[]): Dim {
  let n = 1;
  let sym: Dim | undefined;
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else if (sym === undefined && d !== null) sym = d;
    else return null;
  }
  if (sym === undefined) return n;
  return n === 1 ? sym : null;
}

function reshapeShape(x: Dim[] | undefined, target: number[] | undefined, allowZero: boolean): Dim[] | undefined {
  if (!target) return undefined;
  const out: Dim[] = target.map((t, i) => (t === 0 && !allowZero ? (x ? x[i] ?? null : null) : t));
  const inferAt = out.indexOf(-1);
  if (inferAt < 0) return out;
  if (!x) {
    out[inferAt] = null;
    return out;
  }
  // What the input holds beyond the dims copied through by 0: numbers multiply, at most one
  // symbol may remain for -1 to take.
  const copied = new Set<number>();
  target.forEach((t, i) => {
    if (t === 0 && !allowZero) copied.add(i);
  });
  let inNum = 1;
  const inSyms: Dim[] = [];
  x.forEach((d, i) => {
    if (copied.has(i) && i < target.length) return;
    if (typeof d === 'number') inNum *= d;
    else inSyms.push(d);
  });
  let outNum = 1;
  out.forEach((d, i) => {
    if (i !== inferAt && !copied.has(i) && typeof d === 'number') outNum *= d;
  });
  if (inSyms.length === 0) out[inferAt] = outNum ? inNum / outNum : null;
  else if (inSyms.length === 1 && inNum === outNum) out[inferAt] = inSyms[0]!;
  else out[inferAt] = null;
  return out;
}
