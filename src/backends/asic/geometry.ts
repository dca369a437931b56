/**
 * Layer geometry for the quant-record adapter: for every Conv/Gemm/MatMul, its weight
 * matrix (rows × cols) and how many output values per channel one frame produces.
 *
 * Rules:
 * 1. Shapes come from the shape analysis (src/analysis/shapes.ts: every operator it knows,
 *    the ai.hbnn calls included, and declared types elsewhere), taken for one sample: a
 *    symbolic or unknown leading (batch) dimension counts as 1.
 * 2. A layer whose input, weight or output shape is not static is a LOWERING error naming
 *    the layer.
 */
import type { Model, Node, Value } from '../../ir/graph.js';
import type { Dim } from '../../ir/types.js';
import { fail, ErrorCodes } from '../../errors.js';
import { isWeightCall } from '../../quant/format.js';
import { shapeAnalysis } from '../../analysis/shapes.js';
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

export const LAYER_OPS = new Set(['Conv', 'Gemm', 'MatMul']);

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** A shape for one sample (rule 1): the leading dim → 1 when not a number; undefined when another dim is not. */
function oneSample(s: readonly Dim[] | undefined): number[] | undefined {
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

/** Geometry of every Conv/Gemm/MatMul with a constant or binarized weight, in graph order. */
export function layerGeometry(model: Model): LayerGeometry[] {
  const info = shapeAnalysis(model);
  const shapeOf = (v: Value | null | undefined): number[] | undefined => oneSample(info.shapeOf(v));
  const out: LayerGeometry[] = [];
  for (const node of model.graph.nodes) {
    if (!LAYER_OPS.has(node.opType) || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    const weight = node.inputs[1];
    if (!weight || !(weight.constValue || (weight.producer && isWeightCall(weight.producer)))) continue;
    const x = shapeOf(node.inputs[0]);
    const w = shapeOf(weight);
    const y = shapeOf(node.outputs[0]);
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
