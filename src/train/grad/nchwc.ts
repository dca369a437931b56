/**
 * 2-D convolutions of the training graph in onnxruntime's blocked-channel (NCHWc) Conv kernel.
 *
 * onnxruntime runs a Conv in its fast NCHWc kernels (MLAS, the channels split into blocks of
 * B = 8 (AVX2) or 16 (AVX-512), each block's B floats adjacent) only when the weight is a
 * constant initializer: its graph optimizer reorders the weight once and rewrites the node to
 * `com.microsoft.nchwc::Conv` between `ReorderInput`/`ReorderOutput` nodes. In a training graph
 * every trained weight is a graph input, so the Conv stays a generic im2col + GEMM per image.
 * That kernel does not need a constant weight, only a weight in its blocked order, so the
 * training graph reorders the fed weight itself (a Reshape, a Transpose and a Reshape of a small
 * tensor) and calls the same operators the optimizer would:
 *
 * 1. `OIHWBiBo` (group 1, C and M multiples of B): W [M, C, kh, kw] viewed as
 *    [M/B, Bo, C/B, Bi, kh, kw] and transposed to [M/B, C/B, kh, kw, Bi, Bo]; the input is
 *    `ReorderInput` (NCHW -> NCHWc).
 * 2. `OIHWBo` (group 1 with C < B, the input stays NCHW; or depthwise, C = M = group, a multiple
 *    of B, the input reordered): W viewed as [M/B, Bo, Cg, kh, kw], transposed to
 *    [M/B, Cg, kh, kw, Bo].
 * 3. The output goes back with `ReorderOutput(channels = M)`. The reordered weight keeps the
 *    logical dims [M, Cg, kh, kw], as the optimizer's does.
 *
 * Same arithmetic as the optimizer's NCHWc Conv of inference (bit-identical outputs to a Conv
 * with a constant weight). B depends on the CPU, so the training graph takes it as an option,
 * found at run time by `probeNchwcBlock` (src/runtime/nchwc.ts); without it (0) nothing here
 * is used. Where the kernel pays off depends on the shape: `nchwcConvWorthIt` (measurements in
 * docs/training.md).
 */
import type { GradContext } from './context.js';
import { attr } from './context.js';
import type { Value } from '../../ir/graph.js';
import type { Dim } from '../../ir/types.js';
import type { WindowGeometry } from './shapes.js';

/** The operator domain of onnxruntime's NCHWc kernels. */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** How a Conv's weight is reordered for the NCHWc kernel, or null when the kernel does not take it. */
export function nchwcForm(block: number, m: number, cg: number, group: number, rank: number): 'OIHWBiBo' | 'OIHWBo' | null {
  if (block <= 1 || rank !== 2 || m % block !== 0) return null;
  if (group === 1) {
    if (cg % block === 0) return 'OIHWBiBo';
    return cg < block ? 'OIHWBo' : null;
  }
  return cg === 1 && m === group ? 'OIHWBo' : null;
}

/**
 * Whether the NCHWc kernel is used for a Conv of this shape (input channels C per group, M
 * outputs, kernel taps K, output positions O per sample). From per-shape measurements
 * (docs/training.md): a 1×1 Conv is a plain GEMM per image in the generic kernel, already as fast,
 * and the two reorders of large planes cost more than they save.
 */
export function nchwcConvWorthIt(kernel: readonly number[]): boolean {
  return kernel.reduce((a, b) => a * b, 1) > 1;
}

/**
 * Y = Conv(X, W, B) with the given geometry through the NCHWc kernel; null when `nchwcForm`
 * does not apply (the caller emits its usual Conv). X is [N, C, H, W] (model layout), as is Y.
 * `seen.input` receives the input as the kernel reads it (ReorderInput's output: for C = B
 * channels that is X channels-last, [N, 1, H, W, B]).
 */
export function nchwcConv(ctx: GradContext, x: Value, w: Value, b: Value | null, geo: WindowGeometry, group: number, outDims?: Dim[], seen?: { input?: Value }): Value | null {
  const block = ctx.nchwcBlock;
  const wd = ctx.dims(w);
  if (!block || !wd || wd.length !== 4 || !wd.every((d) => typeof d === 'number') || !geo.pads) return null;
  const [m, cg, kh, kw] = wd as number[];
  const form = nchwcForm(block, m!, cg!, group, 2);
  if (!form || !nchwcConvWorthIt(geo.kernel)) return null;
  let wr: Value;
  if (form === 'OIHWBiBo') {
    const w6 = ctx.reshape(w, ctx.constI64([m! / block, block, cg! / block, block, kh!, kw!]));
    wr = ctx.reshape(ctx.transpose(w6, [0, 2, 4, 5, 3, 1]), ctx.constI64([m!, cg!, kh!, kw!]));
  } else {
    const w5 = ctx.reshape(w, ctx.constI64([m! / block, block, cg!, kh!, kw!]));
    wr = ctx.reshape(ctx.transpose(w5, [0, 2, 3, 4, 1]), ctx.constI64([m!, cg!, kh!, kw!]));
  }
  const reorderIn = !(group === 1 && form === 'OIHWBo');
  const xin = reorderIn ? ctx.ops('ReorderInput', [x], {}, 1, NCHWC_DOMAIN)[0]! : x;
  if (seen) seen.input = xin;
  const attrs = {
    kernel_shape: attr.ints(geo.kernel),
    strides: attr.ints(geo.strides),
    dilations: attr.ints(geo.dilations),
    pads: attr.ints(geo.pads),
    group: attr.int(group),
  };
  const yc = ctx.ops('Conv', b ? [xin, wr, b] : [xin, wr], attrs, 1, NCHWC_DOMAIN)[0]!;
  const y = ctx.ops('ReorderOutput', [yc], { channels: attr.int(m!) }, 1, NCHWC_DOMAIN)[0]!;
  if (outDims) ctx.setShape(y, outDims);
  return y;
}
