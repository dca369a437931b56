/**
 * Conv (any spatial rank, groups incl. depthwise, strides, pads incl. auto_pad, dilations).
 *
 * For Y = Conv(X, W, B) with strides s, dilations d, pads p and group g:
 * 1. dB = ReduceSum(dY) over the batch and spatial axes.
 * 2. dX = ConvTranspose(dY, W) with the same s, d, p and g. A ConvTranspose of the output
 *    size gives s·(OH-1) + (k-1)·d + 1 - p_begin - p_end, which is short of H by
 *    r = (H + p_begin + p_end - (k-1)·d - 1) mod s rows that no window read; they are added
 *    as output_padding (static H) or by a zero Pad to Shape(X) (H known only at run time).
 * 3. dW[m, c, k] = Σ_n Σ_o dY[n, m, o] · Xpad[n, c, o·s + k·d]: a convolution of the
 *    transposed tensors, X as [C, N, H, W] (channels become the batch) with dY as
 *    [M, N, OH, OW] (the gradient becomes the kernel), strides and dilations swapped, the same
 *    pads, then sliced to the kernel size and transposed back to [M, C, kh, kw]. Groups: X is
 *    regrouped to [C/g, g·N, H, W] and dY to [M, N, OH, OW] so that a grouped convolution
 *    pairs each output group with its own input channels.
 * 4. A 1×1 kernel with stride 1, no pads and one group takes one Gemm instead:
 *    dW = dY[M, N·HW] · X[C, N·HW]^T.
 */
import type { GradContext } from '../context.js';
import { attr } from '../context.js';
import type { GradRuleSet } from '../registry.js';
import { windowGeometry, type WindowGeometry } from '../shapes.js';
import type { Value } from '../../../ir/graph.js';
import type { Dim } from '../../../ir/types.js';
import { fail, ErrorCodes } from '../../../errors.js';

export function registerConv(r: GradRuleSet): void {
  r.register('Conv', {
    differentiableInputs: () => [0, 1, 2],
    backward(ctx, a) {
      const [x, w, b] = a.inputs;
      const dy = a.dOutputs[0]!;
      const node = a.node;
      const wd = ctx.dims(w!);
      if (!wd || wd.some((d) => typeof d !== 'number')) {
        fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of ${node.label}: the weight shape is not static`, { node: node.name, op: node.opType });
      }
      const wdims = wd as number[];
      const rank = wdims.length - 2;
      const kernel = node.attrInts('kernel_shape') ?? wdims.slice(2);
      const xd = ctx.dims(x!);
      const spatialIn: Dim[] = xd ? xd.slice(2) : new Array<Dim>(rank).fill(null);
      const geo = windowGeometry(node, spatialIn, kernel);
      if (!geo.pads) {
        fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of ${node.label}: auto_pad needs static spatial input dims`, { node: node.name, op: node.opType });
      }
      const group = node.attrInt('group', 1);
      const spatialAxes = Array.from({ length: rank }, (_, i) => i + 2);
      const dB = a.needs[2] && b ? ctx.reduceSum(dy, [0, ...spatialAxes], false) : null;
      const dX = a.needs[0] ? convInputGrad(ctx, dy, w!, x!, spatialIn, geo, group) : null;
      const dW = a.needs[1] ? convWeightGrad(ctx, dy, x!, wdims, geo, group) : null;
      return [dX, dW, dB];
    },
  });
}

function geometryAttrs(geo: WindowGeometry): Record<string, ReturnType<typeof attr.ints>> {
  return { strides: attr.ints(geo.strides), dilations: attr.ints(geo.dilations), pads: attr.ints(geo.pads!) };
}

/** The rows/cols of the input a window-output transpose does not reach, per spatial axis (null if unknown). */
export function trailingRemainder(spatialIn: readonly Dim[], geo: WindowGeometry): (number | null)[] {
  const r = geo.kernel.length;
  return spatialIn.map((n, i) => {
    if (typeof n !== 'number') return null;
    const span = (geo.kernel[i]! - 1) * geo.dilations[i]! + 1;
    return (n + geo.pads![i]! + geo.pads![i + r]! - span) % geo.strides[i]!;
  });
}

/**
 * ConvTranspose(dy, weight) sized back to `like` (the forward input): output_padding when the
 * remainder is static, else a zero Pad at the end of each spatial axis up to Shape(like).
 */
export function transposedWindow(
  ctx: GradContext,
  dy: Value,
  weight: Value,
  like: Value,
  spatialIn: readonly Dim[],
  geo: WindowGeometry,
  group: number,
): Value {
  const rem = trailingRemainder(spatialIn, geo);
  const attrs = { ...geometryAttrs(geo), kernel_shape: attr.ints(geo.kernel), group: attr.int(group) };
  if (rem.every((v) => v !== null)) {
    const out = ctx.op('ConvTranspose', [dy, weight], rem.some((v) => v! > 0) ? { ...attrs, output_padding: attr.ints(rem as number[]) } : attrs);
    ctx.setShape(out, ctx.dims(like));
    return out;
  }
  const raw = ctx.op('ConvTranspose', [dy, weight], attrs);
  const rank = geo.kernel.length;
  const diff = ctx.op('Sub', [ctx.op('Slice', [ctx.shapeOf(like), ctx.constI64([2])]), ctx.op('Slice', [ctx.shapeOf(raw), ctx.constI64([2])])]);
  const pads = ctx.op('Concat', [ctx.constI64(new Array<number>(rank + 4).fill(0)), diff], { axis: attr.int(0) });
  return ctx.op('Pad', [raw, pads]);
}

function convInputGrad(ctx: GradContext, dy: Value, w: Value, x: Value, spatialIn: readonly Dim[], geo: WindowGeometry, group: number): Value {
  return transposedWindow(ctx, dy, w, x, spatialIn, geo, group);
}

function convWeightGrad(ctx: GradContext, dy: Value, x: Value, wdims: number[], geo: WindowGeometry, group: number): Value {
  const rank = wdims.length - 2;
  const [m, cg] = [wdims[0]!, wdims[1]!];
  const swap01 = [1, 0, ...Array.from({ length: rank }, (_, i) => i + 2)];
  const pointwise = geo.kernel.every((k) => k === 1) && geo.strides.every((s) => s === 1) && geo.pads!.every((p) => p === 0) && group === 1;
  if (pointwise) {
    const dy2 = ctx.reshape(ctx.transpose(dy, swap01), ctx.constI64([m, -1]));
    const x2 = ctx.reshape(ctx.transpose(x, swap01), ctx.constI64([cg, -1]));
    const g2 = ctx.op('Gemm', [dy2, x2], { transB: attr.int(1) });
    return ctx.reshape(g2, ctx.constI64(wdims));
  }
  let xt: Value;
  let dyt: Value;
  if (group === 1) {
    xt = ctx.transpose(x, swap01);
    dyt = ctx.transpose(dy, swap01);
  } else {
    const mg = m / group;
    const xr = ctx.transpose(ctx.reshape(x, ctx.constI64([0, group, cg, -1])), [2, 1, 0, 3]);
    const xdims = ctx.dims(x) ?? new Array<Dim>(rank + 2).fill(null);
    xt = ctx.reshape(xr, ctx.shapeVector([cg, -1, ...xdims.slice(2)], x));
    const dyr = ctx.transpose(ctx.reshape(dy, ctx.constI64([0, group, mg, -1])), [1, 2, 0, 3]);
    const dydims = ctx.dims(dy) ?? new Array<Dim>(rank + 2).fill(null);
    dyt = ctx.reshape(dyr, ctx.shapeVector([m, -1, ...dydims.slice(2)], dy));
  }
  // strides and dilations trade places: the kernel index k steps by d, the output index by s
  let r = ctx.op('Conv', [xt, dyt], {
    strides: attr.ints(geo.dilations),
    dilations: attr.ints(geo.strides),
    pads: attr.ints(geo.pads!),
    group: attr.int(group),
  });
  if (!exactKernel(ctx.dims(x), geo)) {
    const axes = Array.from({ length: rank }, (_, i) => i + 2);
    r = ctx.op('Slice', [r, ctx.constI64(new Array<number>(rank).fill(0)), ctx.constI64(geo.kernel), ctx.constI64(axes)]);
  }
  return ctx.transpose(r, swap01);
}

/** True when the weight-gradient convolution yields exactly the kernel size (no slice needed). */
function exactKernel(xdims: Dim[] | undefined, geo: WindowGeometry): boolean {
  if (!xdims) return false;
  const r = geo.kernel.length;
  for (let i = 0; i < r; i++) {
    const n = xdims[i + 2];
    if (typeof n !== 'number') return false;
    const padded = n + geo.pads![i]! + geo.pads![i + r]!;
    const span = (geo.kernel[i]! - 1) * geo.dilations[i]! + 1;
    const out = Math.floor((padded - span) / geo.strides[i]!) + 1;
    const k = Math.floor((padded - ((out - 1) * geo.strides[i]! + 1)) / geo.dilations[i]!) + 1;
    if (k !== geo.kernel[i]) return false;
  }
  return true;
}
