/**
 * Layer geometry for the quant-record adapter: for every Conv/Gemm/MatMul, its weight
 * matrix (rows × cols) and how many output values per channel one frame produces.
 *
 * Rules:
 * 1. Shapes are propagated in graph order for one sample (batch 1) from the graph input's
 *    declared shape; a symbolic or unknown batch dimension counts as 1.
 * 2. Operators handled: Conv, Gemm, MatMul, MaxPool/AveragePool (pads, strides, dilations,
 *    ceil_mode, auto_pad), GlobalAveragePool/GlobalMaxPool, Flatten, Reshape with a
 *    constant shape, Concat, Transpose, Pad (constant pads), Squeeze/Unsqueeze,
 *    element-wise and per-channel ops (output = input 0's shape), and the
 *    ai.hbnn binarizers (same shape as their input; a BinarizedWeight call has the shape of
 *    its planes without the leading plane axis).
 * 3. Any other operator's outputs take their declared types when those are fully static;
 *    otherwise they stay unknown, and a layer whose input shape is unknown is a LOWERING
 *    error naming the layer.
 */
import type { Model, Node, Value } from '../../ir/graph.js';
import { isSamePad, resolvePads, sameOutputSize, windowAttributes, windowOutputSize } from '../../ir/window.js';
import { tensorTypeOf } from '../../ir/types.js';
import { fail, ErrorCodes } from '../../errors.js';
import { isWeightCall, isActivationCall } from '../../quant/format.js';
import { weightCallDims } from '../../quant/planes.js';
import type { LayerKind } from './work.js';

export interface LayerGeometry {
  node: Node;
  kind: LayerKind;
  rows: number;
  cols: number;
  outputPositions: number;
  /** The weight value (a BinarizedWeight output or a float initializer). */
  weight: Value;
}

const SAME_SHAPE = new Set([
  'Relu', 'BatchNormalization', 'Identity', 'Dropout', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Clip', 'HardSigmoid', 'HardSwish', 'PRelu',
  'Softmax', 'LogSoftmax', 'Add', 'Sub', 'Mul', 'Div', 'Cast', 'Neg', 'Abs', 'Sign', 'Elu', 'Selu', 'Softplus',
]);

export const LAYER_OPS = new Set(['Conv', 'Gemm', 'MatMul']);

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Static shape of a value: a constant's dims, else its declared type with batch → 1. */
function declaredShape(v: Value): number[] | undefined {
  if (v.constValue) return [...v.constValue.dims];
  const s = tensorTypeOf(v)?.shape;
  if (!s) return undefined;
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const d = s[i];
    if (typeof d === 'number') out.push(d);
    else if (i === 0) out.push(1);
    else return undefined;
  }
  return out;
}

/** Spatial output dims of a windowed op (Conv, pooling) over input [N, C, ...spatial]. */
function windowShape(node: Node, spatial: number[], kernel: number[], ceil: boolean): number[] {
  const r = spatial.length;
  const a = windowAttributes(node, r);
  if (isSamePad(a.autoPad)) return spatial.map((s, i) => sameOutputSize(s, a.strides[i]!));
  const pads = resolvePads(a.autoPad, a.pads, spatial, kernel, a.strides, a.dilations);
  return spatial.map((s, i) => windowOutputSize(s, kernel[i]!, a.strides[i]!, a.dilations[i]!, pads[i]!, pads[i + r]!, ceil));
}

function outputShapes(node: Node, shapeOf: (v: Value | null | undefined) => number[] | undefined): (number[] | undefined)[] {
  const x = shapeOf(node.inputs[0]);
  if (node.domain === 'ai.hbnn') {
    if (isActivationCall(node)) return [x];
    if (isWeightCall(node)) return [weightCallDims(node)];
    return [];
  }
  if (SAME_SHAPE.has(node.opType)) return [x];
  switch (node.opType) {
    case 'Conv': {
      const w = shapeOf(node.inputs[1]);
      if (!x || !w) return [undefined];
      const kernel = node.attrInts('kernel_shape') ?? w.slice(2);
      return [[x[0]!, w[0]!, ...windowShape(node, x.slice(2), kernel, false)]];
    }
    case 'MaxPool':
    case 'AveragePool': {
      if (!x) return [undefined];
      const kernel = node.attrInts('kernel_shape') ?? [];
      return [[x[0]!, x[1]!, ...windowShape(node, x.slice(2), kernel, node.attrInt('ceil_mode', 0) === 1)]];
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
      return [x ? [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] : undefined];
    case 'Flatten': {
      if (!x) return [undefined];
      let axis = node.attrInt('axis', 1)!;
      if (axis < 0) axis += x.length;
      return [[prod(x.slice(0, axis)), prod(x.slice(axis))]];
    }
    case 'Reshape': {
      const target = node.inputs[1]?.constValue?.toNumberArray();
      if (!x || !target) return [undefined];
      const out = target.map((d, i) => (d === 0 ? x[i]! : d));
      const known = prod(out.filter((d) => d !== -1));
      return [out.map((d) => (d === -1 ? prod(x) / known : d))];
    }
    case 'Gemm': {
      const b = shapeOf(node.inputs[1]);
      if (!x || !b) return [undefined];
      const m = node.attrInt('transA', 0) ? x[1]! : x[0]!;
      const n = node.attrInt('transB', 0) ? b[0]! : b[1]!;
      return [[m, n]];
    }
    case 'MatMul': {
      const b = shapeOf(node.inputs[1]);
      if (!x || !b || b.length !== 2) return [undefined];
      return [[...x.slice(0, -1), b[1]!]];
    }
    case 'Concat': {
      const xs = node.inputs.map((v) => shapeOf(v));
      if (xs.some((v) => !v)) return [undefined];
      const first = xs[0]!;
      let axis = node.attrInt('axis', 1);
      if (axis < 0) axis += first.length;
      const out = [...first];
      out[axis] = xs.reduce((a, v) => a + v![axis]!, 0);
      return [out];
    }
    case 'Transpose': {
      if (!x) return [undefined];
      const perm = node.attrInts('perm') ?? x.map((_, i) => x.length - 1 - i);
      return [perm.map((p) => x[p]!)];
    }
    case 'Pad': {
      // pads from the constant input (opset 11+) or the attribute; axes default to all.
      const pads = node.inputs[1]?.constValue?.toNumberArray() ?? node.attrInts('pads');
      if (!x || !pads) return [undefined];
      const r = x.length;
      const axes = node.inputs[3]?.constValue?.toNumberArray().map((a) => (a < 0 ? a + r : a)) ?? x.map((_, i) => i);
      const out = [...x];
      axes.forEach((a, i) => (out[a] = x[a]! + pads[i]! + pads[i + axes.length]!));
      return [out];
    }
    case 'Squeeze':
    case 'Unsqueeze': {
      const axes = node.inputs[1]?.constValue?.toNumberArray() ?? node.attrInts('axes');
      if (!x) return [undefined];
      if (node.opType === 'Squeeze') {
        const r = x.length;
        const norm = (axes ?? x.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => (a < 0 ? a + r : a));
        return [x.filter((_, i) => !norm.includes(i))];
      }
      if (!axes) return [undefined];
      const r = x.length + axes.length;
      const out = [...x];
      for (const a of axes.map((v) => (v < 0 ? v + r : v)).sort((p, q) => p - q)) out.splice(a, 0, 1);
      return [out];
    }
    default:
      return node.outputs.map(() => undefined);
  }
}

/** Geometry of every Conv/Gemm/MatMul with a constant or binarized weight, in graph order. */
export function layerGeometry(model: Model): LayerGeometry[] {
  const g = model.graph;
  const shapes = new Map<Value, number[]>();
  const shapeOf = (v: Value | null | undefined): number[] | undefined => (v ? shapes.get(v) ?? declaredShape(v) : undefined);
  for (const input of g.inputs) {
    const s = declaredShape(input);
    if (s) shapes.set(input, s);
  }
  const out: LayerGeometry[] = [];
  for (const node of g.nodes) {
    const outs = outputShapes(node, shapeOf);
    node.outputs.forEach((v, i) => {
      const s = outs[i] ?? declaredShape(v);
      if (s) shapes.set(v, s);
    });
    if (!LAYER_OPS.has(node.opType) || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    const weight = node.inputs[1];
    if (!weight || !(weight.constValue || (weight.producer && isWeightCall(weight.producer)))) continue;
    const x = shapeOf(node.inputs[0]);
    const w = shapeOf(weight);
    const y = shapes.get(node.outputs[0]!);
    if (!x || !w || !y) {
      fail(ErrorCodes.LOWERING, `ASIC backend: cannot determine the shapes of layer ${node.name || node.opType} (input ${x ? `[${x}]` : 'unknown'}); give the model static input shapes`, {
        node: node.name,
        op: node.opType,
      });
    }
    out.push({ node, weight, ...matrixOf(node, x, w, y) });
  }
  return out;
}

function matrixOf(node: Node, x: number[], w: number[], y: number[]): { kind: LayerKind; rows: number; cols: number; outputPositions: number } {
  switch (node.opType) {
    case 'Conv': {
      const group = node.attrInt('group', 1)!;
      const cin = x[1]!;
      const kind: LayerKind = group > 1 && group === cin && w[1] === 1 ? 'depthwise-conv' : 'conv';
      return { kind, rows: w[0]!, cols: prod(w.slice(1)), outputPositions: prod(y.slice(2)) };
    }
    case 'Gemm': {
      const transB = node.attrInt('transB', 0) === 1;
      return { kind: 'fully-connected', rows: transB ? w[0]! : w[1]!, cols: transB ? w[1]! : w[0]!, outputPositions: 1 };
    }
    default:
      // MatMul [.., K] x [K, N]: every leading position of the input is one matrix-vector product.
      return { kind: 'fully-connected', rows: w[1]!, cols: w[0]!, outputPositions: prod(x.slice(1, -1)) };
  }
}
