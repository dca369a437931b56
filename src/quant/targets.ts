/**
 * Which layers can be binarized: Conv (any group), Gemm and MatMul whose weight is a
 * constant initializer (not also a graph input). Helpers to view a weight channel-major.
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { DataType } from '../ir/dtype.js';

export interface WeightLayer {
  node: Node;
  /** Input index of the weight (Conv/Gemm/MatMul: 1). */
  weightIndex: number;
  weight: Value;
  /** Output-channel axis of the weight and the number of output channels. */
  channelAxis: number;
  channels: number;
}

export function isConstant(v: Value | null | undefined): v is Value {
  return !!v && v.isInitializer && !v.isGraphInput;
}

/** The binarizable layers of a graph in node order. */
export function weightLayers(g: Graph): WeightLayer[] {
  const out: WeightLayer[] = [];
  for (const node of g.nodes) {
    const l = weightLayerOf(node);
    if (l) out.push(l);
  }
  return out;
}

export function weightLayerOf(node: Node): WeightLayer | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  const w = node.inputs[1];
  if (!isConstant(w)) return undefined;
  const t = w.constValue!;
  if (t.dtype !== DataType.FLOAT) return undefined;
  switch (node.opType) {
    case 'Conv':
      if (t.dims.length < 3) return undefined;
      return { node, weightIndex: 1, weight: w, channelAxis: 0, channels: t.dims[0]! };
    case 'Gemm': {
      if (t.dims.length !== 2) return undefined;
      const transB = node.attrInt('transB', 0);
      const axis = transB ? 0 : 1;
      return { node, weightIndex: 1, weight: w, channelAxis: axis, channels: t.dims[axis]! };
    }
    case 'MatMul':
      if (t.dims.length !== 2) return undefined;
      return { node, weightIndex: 1, weight: w, channelAxis: 1, channels: t.dims[1]! };
    default:
      return undefined;
  }
}

/** Copies a 2-D or N-D tensor so that `axis` becomes the leading, contiguous axis. */
export function toChannelMajor(data: Float32Array, dims: readonly number[], axis: number): Float32Array {
  if (axis === 0) return data;
  // Only 2-D weights need this (Gemm transB=0, MatMul): [K, N] -> [N, K]
  const [k, n] = [dims[0]!, dims[1]!];
  const out = new Float32Array(data.length);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[j * k + i] = data[i * n + j]!;
  return out;
}

export function fromChannelMajor<T extends { length: number; [i: number]: number }>(data: T, dims: readonly number[], axis: number, make: (n: number) => T): T {
  if (axis === 0) return data;
  const [k, n] = [dims[0]!, dims[1]!];
  const out = make(data.length);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[i * n + j] = data[j * k + i]!;
  return out;
}

/** Name-pattern filter: patterns are globs (`*`, `?`) matched against node and weight names. */
export function matchesAny(patterns: readonly string[], names: readonly string[]): boolean {
  return patterns.some((p) => {
    const re = new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
    return names.some((n) => re.test(n));
  });
}
