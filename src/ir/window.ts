/**
 * The sliding-window geometry of Conv and the pooling operators (MaxPool, AveragePool, ...),
 * written once for shape inference, the trainer, the bit-level lowering and the ASIC model:
 *
 * 1. Attributes: `kernel_shape` (Conv: else the weight's spatial dims), `strides` and
 *    `dilations` (default 1 per axis), `pads` ([begin..., end...], default 0), `auto_pad`
 *    (NOTSET, SAME_UPPER, SAME_LOWER, VALID; default NOTSET), `ceil_mode` (pools; default 0).
 * 2. auto_pad SAME_*: output = ceil(in / stride); total padding
 *    max(0, (out - 1)·stride + (k - 1)·dilation + 1 - in), the odd one at the end (SAME_UPPER)
 *    or at the beginning (SAME_LOWER). VALID: no padding.
 * 3. Output size: floor((in + pb + pe - ((k - 1)·d + 1)) / s) + 1, or with ceil instead of
 *    floor in ceil mode, where a last window that would start inside the end padding is
 *    dropped (as the ONNX reference and onnxruntime do).
 * Callers validate (lengths, positivity) with their own error kinds.
 */
import type { Node } from './graph.js';

export type AutoPad = 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';

/** The window attributes of a node, defaults filled in for `rank` spatial axes (not validated). */
export interface WindowAttributes {
  /** kernel_shape, or undefined when absent. */
  kernel: number[] | undefined;
  strides: number[];
  dilations: number[];
  /** The pads attribute ([begin..., end...]); auto_pad other than NOTSET overrides it. */
  pads: number[];
  /** auto_pad as written (callers reject values outside AutoPad). */
  autoPad: string;
  ceilMode: boolean;
}

export function windowAttributes(node: Node, rank: number): WindowAttributes {
  return {
    kernel: node.attrInts('kernel_shape'),
    strides: node.attrInts('strides') ?? new Array<number>(rank).fill(1),
    dilations: node.attrInts('dilations') ?? new Array<number>(rank).fill(1),
    pads: node.attrInts('pads') ?? new Array<number>(2 * rank).fill(0),
    autoPad: node.attrString('auto_pad', 'NOTSET'),
    ceilMode: node.attrInt('ceil_mode', 0) !== 0,
  };
}

export function isSamePad(autoPad: string): autoPad is 'SAME_UPPER' | 'SAME_LOWER' {
  return autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
}

/** Output size along one axis under auto_pad SAME_*. */
export function sameOutputSize(inDim: number, stride: number): number {
  return Math.ceil(inDim / stride);
}

/**
 * Explicit [begin..., end...] pads for input spatial dims `spatialIn` (rule 2): `pads` for
 * NOTSET, zeros for VALID, the computed padding for SAME_*.
 */
export function resolvePads(
  autoPad: string,
  pads: readonly number[],
  spatialIn: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
): number[] {
  const r = kernel.length;
  if (autoPad === 'VALID') return new Array<number>(2 * r).fill(0);
  if (!isSamePad(autoPad)) return [...pads];
  const out = new Array<number>(2 * r).fill(0);
  for (let i = 0; i < r; i++) {
    const n = spatialIn[i]!;
    const total = Math.max(0, (sameOutputSize(n, strides[i]!) - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - n);
    const small = Math.floor(total / 2);
    out[i] = autoPad === 'SAME_UPPER' ? small : total - small;
    out[i + r] = total - out[i]!;
  }
  return out;
}

/** Output size along one axis with explicit pads (rule 3); may be < 1 when the window does not fit. */
export function windowOutputSize(inDim: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number, ceil: boolean): number {
  const room = inDim + padBegin + padEnd - ((kernel - 1) * dilation + 1);
  let out = (ceil ? Math.ceil(room / stride) : Math.floor(room / stride)) + 1;
  // ceil mode: the last window must start inside the input or the begin padding.
  if (ceil && (out - 1) * stride >= inDim + padBegin) out--;
  return out;
}
