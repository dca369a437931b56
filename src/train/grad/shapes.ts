/**
 * Static shapes for the gradient rules: the forward model's shapes come from the shape
 * analysis (ranks everywhere, numbers where the model fixes them, symbols such as the batch
 * dim 'N' carried through; values it cannot type keep their declared shape or stay unknown,
 * and the rules then fall back to shapes computed at run time), plus the constants and the
 * window geometry (src/ir/window.ts) the rules read.
 */
import { shapeAnalysis } from '../../analysis/shapes.js';
import type { Model, Node, Value } from '../../ir/graph.js';
import type { Tensor } from '../../ir/tensor.js';
import { DataType } from '../../ir/dtype.js';
import type { Dim } from '../../ir/types.js';
import { isSamePad, resolvePads, windowAttributes, windowOutputSize } from '../../ir/window.js';

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
    return { dims: [...t.dims], values: t.dtype === DataType.FLOAT || t.dtype === DataType.DOUBLE || t.dtype === DataType.FLOAT16 ? Array.from(t.toFloat32()) : t.toNumberArray(true) };
  } catch {
    return undefined;
  }
}

/** Shapes of a model's values as the gradient rules read them. */
export interface ShapeMap {
  get(v: Value): Dim[] | undefined;
  /** The integer contents of a forward value the shape analysis computed (shape arithmetic), when all static. */
  knownInts(v: Value): number[] | undefined;
}

/** Shapes of the forward model's values: the shape analysis (src/analysis/shapes.ts), computed once per model state. */
export function forwardShapes(model: Model): ShapeMap {
  const info = shapeAnalysis(model);
  return { get: (v) => info.shapeOf(v), knownInts: (v) => info.knownInts(v) };
}

export function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
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

/** Output spatial dims of a sliding window (null where the input dim is not a number). */
export function spatialOut(spatialIn: readonly Dim[], geo: WindowGeometry, ceil: boolean): Dim[] {
  const r = geo.kernel.length;
  return spatialIn.map((n, i) => {
    if (typeof n !== 'number' || !geo.pads) return null;
    return windowOutputSize(n, geo.kernel[i]!, geo.strides[i]!, geo.dilations[i]!, geo.pads[i]!, geo.pads[i + r]!, ceil);
  });
}
