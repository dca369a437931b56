/**
 * Conv (any spatial rank, groups incl. depthwise, strides, pads incl. auto_pad, dilations).
 *
 * For Y = Conv(X, W, B) with strides s, dilations d, pads p and group g:
 * 1. dB = ReduceSum(dY) over the batch and spatial axes.
 * 2. dX = ConvTranspose(dY, W) with the same s, d, p and g. A ConvTranspose of the output
 *    size gives s·(OH-1) + (k-1)·d + 1 - p_begin - p_end, which is short of H by
 *    r = (H + p_begin + p_end - (k-1)·d - 1) mod s rows that no window read; they are added
 *    as output_padding (static H) or by a zero Pad to Shape(X) (H known only at run time).
 * 3. dW[m, c, j] = Σ_n Σ_o dY[n, m, o] · cols[n, c, j, o], where cols[n, c, j, o] is the input
 *    value that kernel tap j reads for output position o (im2col). cols comes from one Conv
 *    of X viewed as [N·C, 1, H, W] with an identity kernel [K, 1, kh, kw] (K = kh·kw) and the
 *    forward's strides, pads and dilations, so it has exactly the forward's output size. Then
 *    one Gemm: dW[M, C·K] = dY[M, N·O] · cols[C·K, N·O]ᵀ; with groups, one batched MatMul
 *    over the groups. A 1×1 kernel with stride 1 and no pads uses X itself as cols.
 *    (This is about 1.8× faster in onnxruntime than the textbook convolution of the transposed
 *    tensors, whose kernel is the whole output plane.)
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
  const spatial = (v: Value): Value => ctx.op('Slice', [ctx.shapeOf(v), ctx.constI64([2]), ctx.constI64([Number.MAX_SAFE_INTEGER])]);
  const diff = ctx.op('Sub', [spatial(like), spatial(raw)]);
  const pads = ctx.op('Concat', [ctx.constI64(new Array<number>(rank + 4).fill(0)), diff], { axis: attr.int(0) });
  return ctx.op('Pad', [raw, pads]);
}

function convInputGrad(ctx: GradContext, dy: Value, w: Value, x: Value, spatialIn: readonly Dim[], geo: WindowGeometry, group: number): Value {
  return transposedWindow(ctx, dy, w, x, spatialIn, geo, group);
}

function convWeightGrad(ctx: GradContext, dy: Value, x: Value, wdims: number[], geo: WindowGeometry, group: number): Value {
  const rank = wdims.length - 2;
  const [m, cg] = [wdims[0]!, wdims[1]!];
  const k = geo.kernel.reduce((a, b) => a * b, 1);
  const pointwise = k === 1 && geo.strides.every((s) => s === 1) && geo.pads!.every((p) => p === 0);
  // cols[n, c, j, o]: the input value kernel tap j of output position o reads (0 in the pads)
  let cols: Value;
  if (pointwise) {
    cols = x;
  } else {
    const xdims = ctx.dims(x) ?? new Array<Dim>(rank + 2).fill(null);
    const eye = new Array<number>(k * k).fill(0);
    for (let j = 0; j < k; j++) eye[j * k + j] = 1;
    const single = ctx.reshape(x, ctx.shapeVector([-1, 1, ...xdims.slice(2)], x));
    cols = ctx.op('Conv', [single, ctx.constF32(eye, [k, 1, ...geo.kernel])], {
      strides: attr.ints(geo.strides),
      dilations: attr.ints(geo.dilations),
      pads: attr.ints(geo.pads!),
    });
  }
  const c = cg * group;
  // [N, C·K, O]: spatial dims flattened, then the batch split back out of N·C
  const colsFlat = ctx.reshape(ctx.reshape(cols, ctx.constI64([0, 0, -1])), ctx.constI64([-1, c * k, 0]));
  if (group === 1) {
    // dW[M, C·K] = dY[M, N·O] · cols[C·K, N·O]ᵀ
    const d2 = ctx.reshape(ctx.transpose(ctx.reshape(dy, ctx.constI64([0, m, -1])), [1, 0, 2]), ctx.constI64([m, -1]));
    const c2 = ctx.reshape(ctx.transpose(colsFlat, [1, 0, 2]), ctx.constI64([c * k, -1]));
    return ctx.reshape(ctx.op('Gemm', [d2, c2], { transB: attr.int(1) }), ctx.constI64(wdims));
  }
  // per group g: dW_g[Mg, Cg·K] = dY_g[Mg, N·O] · cols_g[N·O, Cg·K], as one batched MatMul
  const mg = m / group;
  const dg = ctx.reshape(ctx.transpose(ctx.reshape(dy, ctx.constI64([0, group, mg, -1])), [1, 2, 0, 3]), ctx.constI64([group, mg, -1]));
  const cgT = ctx.reshape(ctx.transpose(ctx.reshape(colsFlat, ctx.constI64([0, group, cg * k, -1])), [1, 0, 3, 2]), ctx.constI64([group, -1, cg * k]));
  return ctx.reshape(ctx.op('MatMul', [dg, cgT]), ctx.constI64(wdims));
}
