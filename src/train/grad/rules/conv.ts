/**
 * Conv (any spatial rank, groups incl. depthwise, strides, pads incl. auto_pad, dilations).
 *
 * For Y = Conv(X, W, B) with strides s, dilations d, pads p and group g, K = |kernel| taps,
 * O = output positions per sample:
 * 1. dB = ReduceSum(dY) over the batch and spatial axes; exactly 0 when Y feeds only a
 *    BatchNormalization (training mode subtracts the batch mean, so a per-channel shift of its
 *    input changes nothing downstream).
 * 2. dX: for group 1, stride 1, dilation 1, pads <= k-1, static spatial dims and at least 16
 *    output channels, the full correlation of dY with the flipped kernel as channels-last
 *    patches of dY (the same Gather as in 3a, pads k-1-p) times W flipped and reshaped to
 *    [K·M, C], one MatMul (measured on fmnist-cnn, alternating processes: 0.2-4 ms per step
 *    faster than ConvTranspose on 2 threads, for ~90 MB more memory: dY's patch matrices).
 *    Otherwise dX = ConvTranspose(dY, W) with the same s, d, p and g. (onnxruntime's Conv of dY
 *    with the flipped, channel-swapped kernel was 10% slower on one thread and scaled worse on
 *    two: its im2col is single-threaded.) A ConvTranspose of the output size gives
 *    s·(OH-1) + (k-1)·d + 1 - p_begin - p_end, which is short of H by
 *    r = (H + p_begin + p_end - (k-1)·d - 1) mod s rows that no window read; they are added
 *    as output_padding (static H) or by a zero Pad to Shape(X) (H known only at run time).
 * 3. dW[m, c, j] = Σ_n Σ_o dY[n, m, o] · cols[n, c, j, o], where cols holds the input value
 *    kernel tap j reads for output position o (im2col), in one of three forms:
 *    a. Group 1, at least 16 input channels, static spatial dims: channels-last patches
 *       G[N·O, K·C] (X transposed to [N, S..., C], zero-padded, one Gather of C contiguous
 *       floats per (n, o, j) with a constant index table). Then dW = dY[M, N·O] · G as one
 *       MatMul. The training forward computes Y = G · W'[K·C, M] (+ B) as one Gemm on the
 *       same patches (see `forward`), so the patches are built once per step.
 *    b. Otherwise, cols from one Conv of X viewed as [N·C, 1, H, W] with an identity kernel
 *       [K, 1, kh, kw] and the forward's strides, pads and dilations (the forward's output
 *       size exactly); a 1×1 kernel with stride 1 and no pads uses X itself. With C·K <= 64
 *       (e.g. a first layer on one channel): per-sample products dY_n[M, O] · cols_nᵀ as one
 *       batched MatMul, summed over n. Else one Gemm dW[M, C·K] = dY[M, N·O] · cols[C·K, N·O]ᵀ;
 *       with groups, one batched MatMul over the groups.
 *    (Measured in onnxruntime on fmnist-cnn's layers, docs/training.md: (a) takes a quarter of
 *    the time of (b)'s im2col Conv + Transpose; (b) is about 1.8x faster than the textbook
 *    convolution of the transposed tensors, whose kernel is the whole output plane.)
 * 4. A Conv planned as the head of a Conv -> BatchNormalization -> MaxPool 2x2 chain writes its
 *    output in the phase layout (phase-layout.ts): form (a) with the patch rows listed phase by
 *    phase ([N·O, M], not transposed back), or the phase-planes form for a first layer on few
 *    channels. An input kept channels-last by such a chain is read without a Transpose, and its
 *    gradient is returned channels-last.
 */
import { perChannelSum } from './batchnorm.js';
import type { GradContext } from '../context.js';
import { attr } from '../context.js';
import type { GradRuleSet } from '../registry.js';
import { windowGeometry, type WindowGeometry } from '../shapes.js';
import { windowOutputSize } from '../../../ir/window.js';
import type { Node, Value } from '../../../ir/graph.js';
import type { Dim } from '../../../ir/types.js';
import { fail, ErrorCodes } from '../../../errors.js';
import { nchwcConv } from '../nchwc.js';
import { phaseForm, phaseRowOrder, planesConvBackward, planesConvForward, rowsConvInputGrad, rowsToCanonical } from '../phase-layout.js';

export function registerConv(r: GradRuleSet): void {
  r.register('Conv', {
    differentiableInputs: () => [0, 1, 2],
    forward(ctx, node, inputs) {
      const block = ctx.phaseBlocks.get(node);
      const form = block ? phaseForm(block) : null;
      if (block && form === 'phase-planes') return planesConvForward(ctx, block, inputs);
      const [xIn, w, b] = inputs;
      const wd = w ? ctx.dims(w) : undefined;
      const xd = xIn ? ctx.canonicalDims(xIn) : undefined;
      const plain = (): { outputs: Value[]; saved?: Record<string, Value> } => {
        const x0 = xIn ? ctx.canonical(xIn) : null;
        const group = node.attrInt('group', 1);
        if (x0 && xd && wd && wd.every((d) => typeof d === 'number') && group === 1) {
          const geo = windowGeometry(node, xd.slice(2), node.attrInts('kernel_shape') ?? (wd as number[]).slice(2));
          const o = smallPointwisePositions(xd.slice(2), geo);
          if (o) {
            // Y[N·O, M] = X[N·O, C] · W[M, C]ᵀ (+ B), one Gemm over the batch
            const [m, c] = wd as number[];
            const y2 = ctx.op('Gemm', b ? [toRows(ctx, x0, c!, o), ctx.reshape(w!, ctx.constI64([m!, c!])), b] : [toRows(ctx, x0, c!, o), ctx.reshape(w!, ctx.constI64([m!, c!]))], { transB: attr.int(1) });
            return { outputs: [fromRows(ctx, y2, m!, o, xd.slice(2) as number[])] };
          }
        }
        if (x0 && xd && wd && wd.every((d) => typeof d === 'number') && group === 1) {
          const geo = windowGeometry(node, xd.slice(2), node.attrInts('kernel_shape') ?? (wd as number[]).slice(2));
          const plan = smallPlanePlan(xd.slice(2), geo);
          if (plan) {
            // Y[N·O, M] = patches[N·O, C·K] · W[M, C·K]ᵀ (+ B): the weight read once for the batch
            const [m, c] = wd as number[];
            const wflat = ctx.reshape(w!, ctx.constI64([m!, -1]));
            const rows = ctx.reshape(ctx.op('Gather', [ctx.reshape(padPlane(ctx, x0, plan), ctx.constI64([-1, c! * plan.padded])), ctx.constI64(smallPlaneIndex(plan, c!))], { axis: attr.int(1) }), ctx.constI64([-1, c! * plan.taps]));
            const y2 = ctx.op('Gemm', b ? [rows, wflat, b] : [rows, wflat], { transB: attr.int(1) });
            return { outputs: [fromRows(ctx, y2, m!, plan.positions, plan.outDims)], saved: { smallPlaneW: wflat } };
          }
        }
        if (x0 && xd && ctx.nchwcBlock) {
          const geo = windowGeometry(node, xd.slice(2), node.attrInts('kernel_shape') ?? ((wd ?? []).slice(2) as number[]));
          const seen: { input?: Value } = {};
          const y = nchwcConv(ctx, x0, w!, b ?? null, geo, group, undefined, seen);
          if (y) {
            // C = B channels: the kernel's reordered input is X channels-last ([N, 1, H, W, C]), kept for
            // the kernel-row weight gradient (no Transpose of X there)
            const spatial = xd.slice(2);
            const keep = group === 1 && wd?.[1] === ctx.nchwcBlock && seen.input !== x0 && spatial.length === 2 && spatial.every((v) => typeof v === 'number') && String(ctx.convRules.reuseReordered) !== 'false';
            return keep ? { outputs: [y], saved: { nhwc: ctx.reshape(seen.input!, ctx.constI64([-1, ...(spatial as number[]), wd![1] as number])) } } : { outputs: [y] };
          }
        }
        if (x0 && wd && xd && wd.every((d) => typeof d === 'number') && group > 1 && wd[1] === 1 && wd[0] === group) {
          const geo = windowGeometry(node, xd.slice(2), node.attrInts('kernel_shape') ?? (wd as number[]).slice(2));
          const y = geo.pads ? depthwiseTaps(ctx, x0, w!, xd.slice(2), geo, group) : null;
          if (y) return { outputs: [b ? ctx.op('Add', [y, ctx.reshape(b, ctx.constI64([1, group, 1, 1]))]) : y] };
        }
        return { outputs: ctx.copyNode(node, [x0, ...inputs.slice(1)]) };
      };
      if (!wd || !xd || wd.some((d) => typeof d !== 'number') || node.attrInt('group', 1) !== 1) return plain();
      const wdims = wd as number[];
      const spatialIn = xd.slice(2);
      const kernel = node.attrInts('kernel_shape') ?? wdims.slice(2);
      if (!patchesApply(spatialIn, wdims[1]!, 1)) return plain();
      const geo = windowGeometry(node, spatialIn, kernel);
      if (!geo.pads) return plain();
      const rank = wdims.length - 2;
      const m = wdims[0]!;
      const rowsBlock = block && form === 'phase-rows' ? block : undefined;
      // outside the phase layout onnxruntime's own Conv kernel (NCHWc) is faster than patches x Gemm
      // (2-5x on ResNet-20's shapes, docs/training.md); a channels-last input keeps the patch form
      if (!rowsBlock && ctx.layoutOf(xIn)?.kind !== 'nhwc') return plain();
      const { g, o, outDims } = channelsLastPatches(ctx, xIn!, wdims[1]!, spatialIn, geo, rowsBlock ? phaseRowOrder(rowsBlock) : undefined);
      // Y[N·O, M] = G[N·O, K·C] · W'[K·C, M] (+ B), then channels-first (the phase-rows form stays [N·O, M])
      const wr = ctx.reshape(ctx.transpose(w!, [...Array.from({ length: rank }, (_, i) => i + 2), 1, 0]), ctx.constI64([-1, m]));
      const y2 = ctx.op('Gemm', b ? [g, wr, b] : [g, wr]);
      if (rowsBlock) {
        ctx.setShape(y2, [null, m]);
        ctx.setLayout(y2, { kind: 'phase-rows', block: rowsBlock });
        return { outputs: [y2], saved: { patches: g } };
      }
      const y = ctx.reshape(ctx.transpose(ctx.reshape(y2, ctx.constI64([-1, o, m])), [0, 2, 1]), ctx.constI64([-1, m, ...outDims]));
      ctx.setShape(y, [xd[0] ?? null, m, ...outDims]);
      return { outputs: [y], saved: { patches: g } };
    },
    backward(ctx, a) {
      const [xSeen, w, b] = a.inputs;
      const dy = a.dOutputs[0]!;
      const node = a.node;
      const lay = ctx.layoutOf(a.outputs[0]);
      if (lay?.kind === 'phase-planes') return planesConvBackward(ctx, lay.block, a);
      const x = xSeen ? ctx.canonical(xSeen) : xSeen;
      const channelsLast = !!xSeen && ctx.layoutOf(xSeen)?.kind === 'nhwc';
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
      const m = wdims[0]!;
      if (lay?.kind === 'phase-rows') {
        // dY is [N·O, M] in the phase row order of the saved patches
        const blk = lay.block;
        // a planned Conv feeds only a BatchNormalization: dB = 0
        const dB = a.needs[2] && b ? ctx.constF32(new Array<number>(m).fill(0), [m]) : null;
        let dW: Value | null = null;
        if (a.needs[1]) {
          // dY's rows transposed to [M, N·O] (the Reshape keeps onnxruntime from fusing the Transpose into a transA MatMul, which is slower here)
          const rows = ctx.reshape(ctx.transpose(dy, [1, 0]), ctx.constI64([m, -1]));
          const dw = ctx.reshape(ctx.op('MatMul', [rows, a.saved['patches']!]), ctx.constI64([m, ...geo.kernel, wdims[1]!]));
          dW = ctx.transpose(dw, [0, rank + 1, ...Array.from({ length: rank }, (_, i) => i + 1)]);
        }
        let dX: Value | null = null;
        if (a.needs[0]) {
          if (geo.strides.every((s) => s === 1) && geo.dilations.every((d) => d === 1)) {
            dX = rowsConvInputGrad(ctx, blk, dy, w!, xSeen!);
          } else {
            dX = convInputGrad(ctx, rowsToCanonical(ctx, blk, dy), w!, x!, spatialIn, geo, group, channelsLast);
          }
        }
        return [dX, dW, dB];
      }
      let dB: Value | null = null;
      // the ones-row MatMul sums on planes: onnxruntime's ReduceSum over (N, H, W) walks the tensor per channel
      if (a.needs[2] && b) dB = feedsOnlyBatchNorm(ctx, node) ? ctx.constF32(new Array<number>(m).fill(0), [m]) : perChannelSum(ctx, dy, 2 + spatialAxes.length);
      // sub-scopes name the nodes of each gradient (<conv>/grad/dX/..., <conv>/grad/dW/...), for per-rule profiles
      const scope = ctx.scope;
      ctx.scope = `${scope}/dX`;
      const small = a.saved['smallPlaneW'] ? smallPlanePlan(spatialIn, geo) : null;
      const dX = !a.needs[0] ? null : small ? smallPlaneInputGrad(ctx, dy, a.saved['smallPlaneW']!, small, wdims[1]!, m) : convInputGrad(ctx, dy, w!, x!, spatialIn, geo, group, channelsLast);
      ctx.scope = `${scope}/dW`;
      const dW = a.needs[1] ? convWeightGrad(ctx, dy, x!, wdims, geo, group, spatialIn, a.saved['patches'], a.saved['nhwc']) : null;
      ctx.scope = scope;
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

/** The input gradient in the forward layout, or channels-last ([N, H, W, C], tagged) when `channelsLast`. */
function convInputGrad(ctx: GradContext, dy: Value, w: Value, x: Value, spatialIn: readonly Dim[], geo: WindowGeometry, group: number, channelsLast: boolean): Value {
  const wd = ctx.dims(w) as number[];
  const rank = geo.kernel.length;
  const [m, c] = [wd[0]!, wd[1]!];
  const outDims = spatialIn.every((d) => typeof d === 'number') ? spatialIn.map((n, i) => (n as number) + geo.pads![i]! + geo.pads![i + rank]! - geo.kernel[i]! + 1) : null;
  if (
    channelsLast &&
    outDims &&
    patchesApply(outDims, m, group) &&
    geo.strides.every((s) => s === 1) &&
    geo.dilations.every((d) => d === 1) &&
    geo.pads!.every((p, i) => p <= geo.kernel[i % rank]! - 1)
  ) {
    // full correlation of dY with the flipped kernel: dX[(n, s), c] = Σ_(j, m) dYpad[n, m, s + j] · W[m, c, K-1-j]
    const k = geo.kernel.reduce((a, b) => a * b, 1);
    const flipGeo: WindowGeometry = { kernel: geo.kernel, strides: geo.strides, dilations: geo.dilations, pads: geo.pads!.map((p, i) => geo.kernel[i % rank]! - 1 - p) };
    const { g, o } = channelsLastPatches(ctx, dy, m, outDims, flipGeo);
    const rev = Array.from({ length: k }, (_, j) => k - 1 - j);
    const wf = ctx.reshape(ctx.transpose(ctx.op('Gather', [ctx.reshape(w, ctx.constI64([m, c, k])), ctx.constI64(rev)], { axis: attr.int(2) }), [2, 0, 1]), ctx.constI64([k * m, c]));
    const d2 = ctx.op('MatMul', [g, wf]);
    if (channelsLast && rank === 2) {
      const out = ctx.reshape(d2, ctx.constI64([-1, ...(spatialIn as number[]), c]));
      const xd = ctx.dims(x)!;
      ctx.setShape(out, [xd[0]!, ...(spatialIn as number[]), c]);
      ctx.setLayout(out, { kind: 'nhwc', canonical: xd });
      return out;
    }
    const out = ctx.reshape(ctx.transpose(ctx.reshape(d2, ctx.constI64([-1, o, c])), [0, 2, 1]), ctx.constI64([-1, c, ...(spatialIn as number[])]));
    ctx.setShape(out, ctx.dims(x));
    return channelsLast ? ctx.toChannelsLast(out, ctx.dims(x)!) : out;
  }
  const o = group === 1 ? smallPointwisePositions(spatialIn, geo) : null;
  if (o) {
    // dX[N·O, C] = dY[N·O, M] · W[M, C]
    const d2 = ctx.op('MatMul', [toRows(ctx, dy, m, o), ctx.reshape(w, ctx.constI64([m, c]))]);
    const out = fromRows(ctx, d2, c, o, spatialIn as number[]);
    ctx.setShape(out, ctx.dims(x));
    return channelsLast ? ctx.toChannelsLast(out, ctx.dims(x)!) : out;
  }
  const flipped = flippedConvApplies(geo) && ctx.convRules.inputGrad !== 'transpose';
  if (!flipped && ctx.convRules.inputGrad === 'phase') {
    const phased = phaseInputGrad(ctx, dy, w, spatialIn, geo, group);
    if (phased) return channelsLast ? ctx.toChannelsLast(phased, ctx.dims(x)!) : phased;
  }
  if (!flipped && group > 1 && c === 1 && m === group && ctx.convRules.inputGrad !== 'transpose') {
    const table = depthwiseTableInputGrad(ctx, dy, w, m, spatialIn, geo);
    if (table) return channelsLast ? ctx.toChannelsLast(table, ctx.dims(x)!) : table;
  }
  const out = flipped ? flippedConv(ctx, dy, w, geo, group) : transposedWindow(ctx, dy, w, x, spatialIn, geo, group);
  if (!ctx.dims(out)) ctx.setShape(out, ctx.dims(x));
  return channelsLast ? ctx.toChannelsLast(out, ctx.dims(x)!) : out;
}

/**
 * A depthwise 2-D Conv (one input channel per group, multiplier 1) as shifted multiply-adds:
 * Y = Σ_j Slice_j(Xpad) · W[:, 0, j] per channel, skipping taps that read only padding.
 * onnxruntime's Conv with a weight that is a graph input (as in training) runs a depthwise Conv
 * group by group, a tiny GEMM per (sample, channel): on MobileNetV2's 2×2 and 1×1 stages that
 * took 90-100 ms per layer, against a few elementwise passes here. Null when it does not apply.
 */
function depthwiseTaps(ctx: GradContext, x: Value, w: Value, spatialIn: readonly Dim[], geo: WindowGeometry, c: number): Value | null {
  const taps = depthwiseTapList(spatialIn, geo);
  if (!taps) return null;
  const [kh, kw] = geo.kernel as [number, number];
  const [ho, wo] = taps.out;
  const pads = geo.pads!;
  const xp = pads.some((p) => p !== 0) ? ctx.op('Pad', [x, ctx.constI64([0, 0, pads[0]!, pads[1]!, 0, 0, pads[2]!, pads[3]!])]) : x;
  const wk = ctx.reshape(w, ctx.constI64([c, kh * kw]));
  let y: Value | null = null;
  for (const [i, j] of taps.live) {
    const [a, b] = [i * geo.dilations[0]!, j * geo.dilations[1]!];
    const sl = ctx.op('Slice', [xp, ctx.constI64([a, b]), ctx.constI64([a + geo.strides[0]! * (ho - 1) + 1, b + geo.strides[1]! * (wo - 1) + 1]), ctx.constI64([2, 3]), ctx.constI64([geo.strides[0]!, geo.strides[1]!])]);
    const wj = ctx.reshape(ctx.op('Slice', [wk, ctx.constI64([i * kw + j]), ctx.constI64([i * kw + j + 1]), ctx.constI64([1])]), ctx.constI64([1, c, 1, 1]));
    const t = ctx.op('Mul', [sl, wj]);
    y = y ? ctx.op('Add', [y, t]) : t;
  }
  return y;
}

/** The taps of a 2-D depthwise window that read some real input (static dims, at most 8×8 outputs), and the output size; else null. */
function depthwiseTapList(spatialIn: readonly Dim[], geo: WindowGeometry): { live: [number, number][]; out: [number, number] } | null {
  if (geo.kernel.length !== 2 || !spatialIn.every((d) => typeof d === 'number')) return null;
  const [h, w] = spatialIn as [number, number];
  const pads = geo.pads!;
  const out = [0, 1].map((i) => windowOutputSize(i ? w : h, geo.kernel[i]!, geo.strides[i]!, geo.dilations[i]!, pads[i]!, pads[i + 2]!, false)) as [number, number];
  if (out[0] * out[1] > DEPTHWISE_TAPS_MAX_OUT) return null;
  const reads = (axis: number, t: number): boolean => {
    const n = axis ? w : h;
    for (let o = 0; o < out[axis]!; o++) {
      const pos = o * geo.strides[axis]! + t * geo.dilations[axis]! - pads[axis]!;
      if (pos >= 0 && pos < n) return true;
    }
    return false;
  };
  const live: [number, number][] = [];
  for (let i = 0; i < geo.kernel[0]!; i++) for (let j = 0; j < geo.kernel[1]!; j++) if (reads(0, i) && reads(1, j)) live.push([i, j]);
  return { live, out };
}

/** Largest output plane (positions) for which depthwise Convs are taken as shifted multiply-adds. */
const DEPTHWISE_TAPS_MAX_OUT = 64;

/**
 * Output positions per sample of a 1×1 Conv (stride 1, no pads, static dims) on a plane of at
 * most SMALL_POINTWISE_MAX positions, else null. Such a Conv runs as one Gemm over the batch
 * ([N·O, C] rows): onnxruntime's Conv with a fed weight runs it as a GEMM per image, a
 * matrix-vector product on MobileNetV2's 1×1 planes (30 ms for the 320→960 layer's input
 * gradient in the profile, against a fraction of a ms for the batch as one Gemm).
 */
function smallPointwisePositions(spatialIn: readonly Dim[], geo: WindowGeometry): number | null {
  if (!geo.pads || !geo.kernel.every((k) => k === 1) || !geo.strides.every((s) => s === 1) || !geo.pads.every((p) => p === 0)) return null;
  if (!spatialIn.every((d) => typeof d === 'number')) return null;
  const o = (spatialIn as number[]).reduce((a, b) => a * b, 1);
  return o <= SMALL_POINTWISE_MAX ? o : null;
}

/**
 * Convs with a larger kernel on planes of at most SMALL_PLANE_MAX output positions (group 1,
 * 2-D, static dims): patches gathered from the padded input and one Gemm over the batch,
 * forward (Y = patches·Wᵀ) and input gradient (dY·W, then a constant 0/1 table scatters each
 * tap back to the input position it read). onnxruntime's NCHWc kernel would reorder the whole
 * weight every step (torchvision's ResNet-18 at 32×32: 6.5-8.7 ms per 512-channel layer on 1×1
 * planes, against 0.8 ms of Conv), its plain Conv reads the weight once per sample.
 */
interface SmallPlane {
  spatial: [number, number];
  pads: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  outDims: [number, number];
  positions: number;
  taps: number;
  /** [Hp, Wp], the padded plane, and Hp·Wp. */
  paddedDims: [number, number];
  padded: number;
}

const SMALL_PLANE_MAX = 4;

function smallPlanePlan(spatialIn: readonly Dim[], geo: WindowGeometry): SmallPlane | null {
  if (spatialIn.length !== 2 || !spatialIn.every((d) => typeof d === 'number') || !geo.pads || geo.kernel.every((k) => k === 1)) return null;
  const [h, w] = spatialIn as number[];
  const p = geo.pads;
  const outDims = [0, 1].map((i) => windowOutputSize([h!, w!][i]!, geo.kernel[i]!, geo.strides[i]!, geo.dilations[i]!, p[i]!, p[i + 2]!, false)) as [number, number];
  const positions = outDims[0] * outDims[1];
  if (positions < 1 || positions > SMALL_PLANE_MAX) return null;
  const paddedDims: [number, number] = [h! + p[0]! + p[2]!, w! + p[1]! + p[3]!];
  return { spatial: [h!, w!], pads: [...p], kernel: [...geo.kernel], strides: [...geo.strides], dilations: [...geo.dilations], outDims, positions, taps: geo.kernel[0]! * geo.kernel[1]!, paddedDims, padded: paddedDims[0] * paddedDims[1] };
}

/** X zero-padded to the plan's padded plane (X itself without pads). */
function padPlane(ctx: GradContext, x: Value, plan: SmallPlane): Value {
  const [t, l, b, r] = plan.pads;
  return t || l || b || r ? ctx.op('Pad', [x, ctx.constI64([0, 0, t!, l!, 0, 0, b!, r!])], { mode: attr.str('constant') }) : x;
}

/** The padded-plane offset each tap (o, i, j) reads, in the order of W's (i, j). */
function smallPlaneTaps(plan: SmallPlane): number[][] {
  const wp = plan.paddedDims[1];
  const out: number[][] = [];
  for (let oy = 0; oy < plan.outDims[0]; oy++)
    for (let ox = 0; ox < plan.outDims[1]; ox++) {
      const taps: number[] = [];
      for (let i = 0; i < plan.kernel[0]!; i++)
        for (let j = 0; j < plan.kernel[1]!; j++) taps.push((oy * plan.strides[0]! + i * plan.dilations[0]!) * wp + ox * plan.strides[1]! + j * plan.dilations[1]!);
      out.push(taps);
    }
  return out;
}

/** Gather indices into X padded as [N, C·Hp·Wp]: for each output position o, channel c and tap k. */
function smallPlaneIndex(plan: SmallPlane, c: number): number[] {
  const idx: number[] = [];
  for (const taps of smallPlaneTaps(plan)) for (let ch = 0; ch < c; ch++) for (const q of taps) idx.push(ch * plan.padded + q);
  return idx;
}

/** dX of the small-plane form: dP = dY·W as [N, C, O·K], times the 0/1 table of the taps' input positions, padding cut off. */
function smallPlaneInputGrad(ctx: GradContext, dy: Value, wflat: Value, plan: SmallPlane, c: number, m: number): Value {
  const o = plan.positions;
  const k = plan.taps;
  const dp = ctx.op('MatMul', [toRows(ctx, dy, m, o), wflat]); // [N·O, C·K]
  const byChannel = o === 1 ? ctx.reshape(dp, ctx.constI64([-1, c, k])) : ctx.reshape(ctx.transpose(ctx.reshape(dp, ctx.constI64([-1, o, c, k])), [0, 2, 1, 3]), ctx.constI64([-1, c, o * k]));
  const table = new Array<number>(o * k * plan.padded).fill(0);
  smallPlaneTaps(plan).forEach((taps, oi) => taps.forEach((q, ki) => (table[(oi * k + ki) * plan.padded + q] += 1)));
  const dxp = ctx.reshape(ctx.op('MatMul', [byChannel, ctx.constF32(table, [o * k, plan.padded])]), ctx.constI64([-1, c, ...plan.paddedDims]));
  const [t, l] = plan.pads;
  const dx = t || l || plan.pads[2] || plan.pads[3] ? ctx.op('Slice', [dxp, ctx.constI64([t!, l!]), ctx.constI64([t! + plan.spatial[0], l! + plan.spatial[1]]), ctx.constI64([2, 3])]) : dxp;
  ctx.setShape(dx, [null, c, ...plan.spatial]);
  return dx;
}

/** Largest plane (positions) on which 1×1 Convs run as one Gemm over the batch. */
const SMALL_POINTWISE_MAX = 16;

/** [N, C, S...] with O positions as rows [N·O, C] (a Reshape when O = 1, else a Transpose of [N, C, O]). */
function toRows(ctx: GradContext, v: Value, c: number, o: number): Value {
  return o === 1 ? ctx.reshape(v, ctx.constI64([-1, c])) : ctx.reshape(ctx.transpose(ctx.reshape(v, ctx.constI64([0, c, o])), [0, 2, 1]), ctx.constI64([-1, c]));
}

/** Rows [N·O, C] back to [N, C, S...]. */
function fromRows(ctx: GradContext, v: Value, c: number, o: number, spatial: readonly number[]): Value {
  return o === 1 ? ctx.reshape(v, ctx.constI64([-1, c, ...spatial])) : ctx.reshape(ctx.transpose(ctx.reshape(v, ctx.constI64([-1, o, c])), [0, 2, 1]), ctx.constI64([-1, c, ...spatial]));
}

/** Whether the input gradient is a stride-1 Conv of dY (pads (k-1)·d - p must not be negative). */
function flippedConvApplies(geo: WindowGeometry): boolean {
  const rank = geo.kernel.length;
  return geo.strides.every((s) => s === 1) && geo.pads!.every((p, i) => p <= (geo.kernel[i % rank]! - 1) * geo.dilations[i % rank]!);
}

/**
 * dX of a stride-1 Conv as a Conv of dY: dX[n, c, s] = Σ_(m, j) dY[n, m, s + p - j·d] · W[m, c, j],
 * i.e. the correlation of dY (pads (k-1)·d - p) with the kernel flipped in space and with
 * input and output channels swapped per group: Wf[g·Cg + c, m, K-1-j] = W[g·Mg + m, c, j]
 * ([C, Mg, k...], same group and dilations). Runs in onnxruntime's Conv kernels (NCHWc,
 * depthwise included), which measured faster than ConvTranspose (per-image Gemm + Col2Im)
 * and than patches x MatMul on ResNet-20 and MobileNetV2 shapes (docs/training.md).
 */
function flippedConv(ctx: GradContext, dy: Value, w: Value, geo: WindowGeometry, group: number): Value {
  const wd = ctx.dims(w) as number[];
  const rank = geo.kernel.length;
  const [m, cg] = [wd[0]!, wd[1]!];
  const mg = m / group;
  const k = geo.kernel.reduce((a, b) => a * b, 1);
  let wf: Value;
  const w4 = ctx.reshape(w, ctx.constI64([group, mg, cg, k]));
  // the taps reversed: a Slice with step -1 along the flattened kernel axis
  const flipped = k > 1 ? ctx.op('Slice', [w4, ctx.constI64([k - 1]), ctx.constI64([-k - 1]), ctx.constI64([3]), ctx.constI64([-1])]) : w4;
  wf = mg === 1 && cg === 1 ? flipped : ctx.transpose(flipped, [0, 2, 1, 3]);
  wf = ctx.reshape(wf, ctx.constI64([group * cg, mg, ...geo.kernel]));
  ctx.setShape(wf, [group * cg, mg, ...geo.kernel]);
  const pads = geo.pads!.map((p, i) => (geo.kernel[i % rank]! - 1) * geo.dilations[i % rank]! - p);
  const fast = nchwcConv(ctx, dy, wf, null, { ...geo, pads }, group);
  if (fast) return fast;
  const dyd = ctx.dims(dy);
  if (mg === 1 && cg === 1 && dyd) {
    const taps = depthwiseTaps(ctx, dy, wf, dyd.slice(2), { ...geo, pads }, group);
    if (taps) return taps;
  }
  return ctx.op('Conv', [dy, wf], { kernel_shape: attr.ints(geo.kernel), dilations: attr.ints(geo.dilations), pads: attr.ints(pads), group: attr.int(group) });
}

/**
 * One spatial axis of a strided Conv's input gradient split into its s phases (input positions
 * x = s·q + a, 0 <= a < s). With Y[o] = Σ_j X[s·o + j - p] · W[j] (dilation 1, begin pad p),
 * dX[s·q + a] = Σ_t dY[q + c_a - t] · W[s·t + b_a] with b_a = (a + p) mod s,
 * c_a = floor((a + p) / s), and T_a = ceil((k - b_a) / s) taps t = 0..T_a-1 (dY outside
 * [0, no) is 0). All phases share one correlation window of `kc` positions over dY: output q
 * reads dY[q - begin + u], u = 0..kc-1, where u = c_a + begin - t, so begin = max(0, T_a - 1 - c_a)
 * and kc = max(c_a) + begin + 1. The Conv's output has `q` = ceil(n / s) positions per phase
 * (end pad `end` = q - no - begin + kc - 1); the interleaved result is s·q long, cropped to n.
 * `tap[a][u]` is the kernel tap of phase a at window position u, -1 where there is none. Null
 * when the axis is dilated, a phase has no tap (k < s: the phase is 0, e.g. a strided 1×1
 * Conv), or the end pad would be negative (windows past the input's end).
 */
export interface PhaseAxis {
  kc: number;
  begin: number;
  end: number;
  q: number;
  tap: number[][];
}
export function phaseAxis(n: number, no: number, k: number, s: number, pad: number, dilation: number): PhaseAxis | null {
  if (dilation !== 1 || s < 2 || k < s) return null;
  const ph = Array.from({ length: s }, (_, a) => {
    const b = (a + pad) % s;
    return { b, c: Math.floor((a + pad) / s), t: Math.ceil((k - b) / s) };
  });
  const begin = Math.max(0, ...ph.map((p) => p.t - 1 - p.c));
  const kc = Math.max(...ph.map((p) => p.c)) + begin + 1;
  const q = Math.ceil(n / s);
  const end = q - no - begin + kc - 1;
  if (end < 0) return null;
  const tap = ph.map((p) =>
    Array.from({ length: kc }, (_, u) => {
      const t = p.c + begin - u;
      return t >= 0 && t < p.t ? s * t + p.b : -1;
    }),
  );
  return { kc, begin, end, q, tap };
}

/**
 * dX of a strided 2-D Conv (equal strides s > 1, dilation 1, static dims; group 1 or
 * depthwise) by phase decomposition: each of the s² phases of dX (input positions
 * (s·q + a, s·r + b)) is a stride-1 correlation of dY with a sub-kernel of W (`phaseAxis`),
 * all on one shared kc_h × kc_w window (2×2 for a 3×3 stride-2 kernel with pads 1: the phases'
 * 2×2, 2×1, 1×2 and 1×1 taps, zero elsewhere). Group 1: one Conv of dY with the phases stacked
 * as output channels, Wc[(a·s + b)·C + c, m, u, v] = W[m, c, tap_h(a, u), tap_w(b, v)] (one
 * Gather of W with a zero column appended), in the NCHWc kernel where it applies; depthwise:
 * one depthwise Conv per phase, concatenated. Then DepthToSpace(s, DCR) interleaves the phases
 * and a Slice crops s·ceil(n / s) to n. 16 window taps for the kernel's 9 (3×3, stride 2), but
 * in onnxruntime's multithreaded Conv instead of ConvTranspose (a GEMM, then a single-threaded
 * Col2Im per image); onnxruntime's DepthToSpace is a single-threaded element shuffle. Measured
 * against ConvTranspose in docs/training.md (*Strided input gradients by phase decomposition*):
 * not a default, forced by `convRules.inputGrad = 'phase'`. Null where it does not apply.
 */
function phaseInputGrad(ctx: GradContext, dy: Value, w: Value, spatialIn: readonly Dim[], geo: WindowGeometry, group: number): Value | null {
  const wd = ctx.dims(w) as number[];
  const dyd = ctx.dims(dy);
  const s = geo.strides[0]!;
  if (geo.kernel.length !== 2 || s < 2 || geo.strides[1] !== s || !geo.pads || !dyd || !spatialIn.every((d) => typeof d === 'number')) return null;
  const [m, cg] = [wd[0]!, wd[1]!];
  const depthwise = group > 1 && cg === 1 && m === group;
  if (group !== 1 && !depthwise) return null;
  const c = depthwise ? m : cg;
  const [h, wi] = spatialIn as [number, number];
  const [ho, wo] = dyd.slice(2);
  if (typeof ho !== 'number' || typeof wo !== 'number') return null;
  const ah = phaseAxis(h, ho, geo.kernel[0]!, s, geo.pads[0]!, geo.dilations[0]!);
  const aw = phaseAxis(wi, wo, geo.kernel[1]!, s, geo.pads[1]!, geo.dilations[1]!);
  if (!ah || !aw) return null;
  const [kh, kw] = geo.kernel as [number, number];
  const k = kh * kw;
  const kc = ah.kc * aw.kc;
  // per (phase, window position) the tap of W it takes, k (the appended zero column) where none
  const index: number[] = [];
  for (let a = 0; a < s; a++) {
    for (let b = 0; b < s; b++) {
      for (let u = 0; u < ah.kc; u++) {
        for (let v = 0; v < aw.kc; v++) {
          const [th, tw] = [ah.tap[a]![u]!, aw.tap[b]![v]!];
          index.push(th < 0 || tw < 0 ? k : th * kw + tw);
        }
      }
    }
  }
  const rows = depthwise ? m : m * cg;
  const wz = ctx.op('Concat', [ctx.reshape(w, ctx.constI64([rows, k])), ctx.constF32(new Array<number>(rows).fill(0), [rows, 1])], { axis: attr.int(1) });
  const phaseGeo: WindowGeometry = { kernel: [ah.kc, aw.kc], strides: [1, 1], dilations: [1, 1], pads: [ah.begin, aw.begin, ah.end, aw.end] };
  const conv = (wc: Value, g: number): Value =>
    nchwcConv(ctx, dy, wc, null, phaseGeo, g) ??
    ctx.op('Conv', [dy, wc], { kernel_shape: attr.ints(phaseGeo.kernel), pads: attr.ints(phaseGeo.pads!), group: attr.int(g) });
  let stacked: Value;
  if (!depthwise) {
    // [M·C, s²·kc] -> [M, C, s², kc] -> [s², C, M, kc] -> [s²·C, M, kc_h, kc_w]
    const g = ctx.op('Gather', [wz, ctx.constI64(index, [s * s * kc])], { axis: attr.int(1) });
    const wc = ctx.reshape(ctx.transpose(ctx.reshape(g, ctx.constI64([m, cg, s * s, kc])), [2, 1, 0, 3]), ctx.constI64([s * s * cg, m, ah.kc, aw.kc]));
    ctx.setShape(wc, [s * s * cg, m, ah.kc, aw.kc]);
    stacked = conv(wc, 1);
  } else {
    const parts: Value[] = [];
    for (let p = 0; p < s * s; p++) {
      const wp = ctx.reshape(ctx.op('Gather', [wz, ctx.constI64(index.slice(p * kc, (p + 1) * kc), [kc])], { axis: attr.int(1) }), ctx.constI64([m, 1, ah.kc, aw.kc]));
      ctx.setShape(wp, [m, 1, ah.kc, aw.kc]);
      parts.push(conv(wp, m));
    }
    stacked = ctx.op('Concat', parts, { axis: attr.int(1) });
  }
  let out = ctx.op('DepthToSpace', [stacked], { blocksize: attr.int(s), mode: attr.str('DCR') });
  if (s * ah.q !== h || s * aw.q !== wi) out = ctx.op('Slice', [out, ctx.constI64([0, 0]), ctx.constI64([h, wi]), ctx.constI64([2, 3])]);
  ctx.setShape(out, [dyd[0] ?? null, c, h, wi]);
  return out;
}

/**
 * The patch matrix G[N·O, K·C] of X for a group-1 Conv: G[(n, o), (j, c)] = Xpad[n, c, window
 * position of tap j at output o]. X goes channels-last ([N, S..., C]), is zero-padded by the
 * forward's pads and flattened to [N, P, C]; one Gather along the P axis with a constant
 * index table [O, K] copies C contiguous floats per (n, o, j). Needs static spatial input dims.
 */
export function channelsLastPatches(
  ctx: GradContext,
  x: Value,
  c: number,
  spatialIn: readonly number[],
  geo: WindowGeometry,
  order?: readonly number[],
): { g: Value; o: number; outDims: number[] } {
  const rank = spatialIn.length;
  const pads = geo.pads!;
  const padded = spatialIn.map((n, i) => n + pads[i]! + pads[i + rank]!);
  const outDims = padded.map((n, i) => Math.floor((n - ((geo.kernel[i]! - 1) * geo.dilations[i]! + 1)) / geo.strides[i]!) + 1);
  const rowStride = padded.map((_, i) => padded.slice(i + 1).reduce((a, b) => a * b, 1));
  const o = outDims.reduce((a, b) => a * b, 1);
  const k = geo.kernel.reduce((a, b) => a * b, 1);
  // idx[o, j]: flat padded position read by kernel tap j (row-major) at output o (row-major)
  const idx = new Array<number>(o * k);
  const oc = new Array<number>(rank).fill(0);
  for (let oi = 0; oi < o; oi++) {
    const kc = new Array<number>(rank).fill(0);
    for (let j = 0; j < k; j++) {
      let pos = 0;
      for (let i = 0; i < rank; i++) pos += (oc[i]! * geo.strides[i]! + kc[i]! * geo.dilations[i]!) * rowStride[i]!;
      idx[oi * k + j] = pos;
      for (let i = rank - 1; i >= 0 && ++kc[i]! === geo.kernel[i]!; i--) kc[i] = 0;
    }
    for (let i = rank - 1; i >= 0 && ++oc[i]! === outDims[i]!; i--) oc[i] = 0;
  }
  const table = order ? order.flatMap((pos) => idx.slice(pos * k, pos * k + k)) : idx;
  const spatialAxes = Array.from({ length: rank }, (_, i) => i + 2);
  let xl = ctx.layoutOf(x)?.kind === 'nhwc' ? x : ctx.transpose(x, [0, ...spatialAxes, 1]);
  if (pads.some((p) => p !== 0)) xl = ctx.op('Pad', [xl, ctx.constI64([0, ...pads.slice(0, rank), 0, 0, ...pads.slice(rank), 0])]);
  const flat = ctx.reshape(xl, ctx.constI64([-1, padded.reduce((a, b) => a * b, 1), c]));
  const gathered = ctx.op('Gather', [flat, ctx.constI64(table, [o, k])], { axis: attr.int(1) });
  return { g: ctx.reshape(gathered, ctx.constI64([-1, k * c])), o, outDims };
}

/** Whether the channels-last patch form applies: group 1, static spatial dims, rows of at least 16 channels. */
export function patchesApply(spatialIn: readonly Dim[], c: number, group: number): spatialIn is number[] {
  return group === 1 && c >= 16 && spatialIn.every((d) => typeof d === 'number');
}

function convWeightGrad(ctx: GradContext, dy: Value, x: Value, wdims: number[], geo: WindowGeometry, group: number, spatialIn: readonly Dim[], saved?: Value, xNhwc?: Value): Value {
  const rank = wdims.length - 2;
  const smallRows = !saved && group === 1 ? smallPointwisePositions(spatialIn, geo) : null;
  if (smallRows) {
    // 1×1 on a small plane: dW[M, C] = dY[N·O, M]ᵀ · X[N·O, C], one Gemm
    const [m, c] = [wdims[0]!, wdims[1]!];
    return ctx.reshape(ctx.op('Gemm', [toRows(ctx, dy, m, smallRows), toRows(ctx, x, c, smallRows)], { transA: attr.int(1) }), ctx.constI64(wdims));
  }
  if (!saved && rank === 2 && ctx.convRules.weightGrad !== 'patches' && patchesApply(spatialIn, wdims[1]!, group)) {
    const split = rowSplitWeightGrad(ctx, dy, x, wdims, geo, spatialIn, xNhwc);
    if (split) return split;
  }
  if (saved || patchesApply(spatialIn, wdims[1]!, group)) {
    // dW[M, K·C] = dY[M, N·O] · G[N·O, K·C], then [M, k..., C] -> [M, C, k...]
    const m = wdims[0]!;
    let dwFlat: Value;
    const kc = wdims[1]! * geo.kernel.reduce((a, b) => a * b, 1);
    if (saved || (ctx.convRules.products ? ctx.convRules.products === 'one' : !perSampleProducts(ctx.dims(dy), m, kc))) {
      const g = saved ?? channelsLastPatches(ctx, x, wdims[1]!, spatialIn as number[], geo).g;
      dwFlat = ctx.op('MatMul', [dyRows(ctx, dy, m), g]);
    } else {
      // per sample dY_n[M, O] · G_n[O, K·C], summed over n: no transpose of dY (its rows are per sample already)
      const { g, o } = channelsLastPatches(ctx, x, wdims[1]!, spatialIn as number[], geo);
      const g3 = ctx.reshape(g, ctx.constI64([-1, o, kc]));
      dwFlat = ctx.reduceSum(ctx.op('MatMul', [ctx.reshape(dy, ctx.constI64([0, m, -1])), g3]), [0], false);
    }
    const dw = ctx.reshape(dwFlat, ctx.constI64([m, ...geo.kernel, wdims[1]!]));
    return ctx.transpose(dw, [0, rank + 1, ...Array.from({ length: rank }, (_, i) => i + 1)]);
  }
  const [m, cg] = [wdims[0]!, wdims[1]!];
  const k = geo.kernel.reduce((a, b) => a * b, 1);
  const pointwise = k === 1 && geo.strides.every((s) => s === 1) && geo.pads!.every((p) => p === 0);
  if (pointwise && group === 1 && perSampleProducts(ctx.dims(dy), m, cg)) {
    // 1x1: dW = Σ_n dY_n[M, O] · X_n[C, O]ᵀ (one batched MatMul, the transpose fused into it, then a sum over the batch)
    const xT = ctx.transpose(ctx.reshape(x, ctx.constI64([0, cg, -1])), [0, 2, 1]);
    const p = ctx.op('MatMul', [ctx.reshape(dy, ctx.constI64([0, m, -1])), xT]);
    return ctx.reshape(ctx.reduceSum(p, [0], false), ctx.constI64(wdims));
  }
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
  if (group === 1 && c * k <= 64 && perSampleProducts(ctx.dims(dy), m, c * k)) {
    // few columns (e.g. a first layer on 1 channel): per-sample products dY_n[M, O] · cols_n[O, C·K] summed over n
    const p = ctx.op('MatMul', [ctx.reshape(dy, ctx.constI64([0, m, -1])), ctx.transpose(colsFlat, [0, 2, 1])]);
    return ctx.reshape(ctx.reduceSum(p, [0], false), ctx.constI64(wdims));
  }
  if (group === 1) {
    // dW[M, C·K] = dY[M, N·O] · cols[C·K, N·O]ᵀ
    const d2 = dyRows(ctx, dy, m);
    const c2 = ctx.reshape(ctx.transpose(colsFlat, [1, 0, 2]), ctx.constI64([c * k, -1]));
    return ctx.reshape(ctx.op('Gemm', [d2, c2], { transB: attr.int(1) }), ctx.constI64(wdims));
  }
  const mg = m / group;
  if (cg === 1 && mg === 1) {
    const outer = depthwiseOuterWeightGrad(ctx, dy, x, m, spatialIn, geo);
    if (outer) return outer;
  }
  const tapList = cg === 1 && mg === 1 ? depthwiseTapList(spatialIn, geo) : null;
  if (tapList) {
    // small planes: dW[c, j] = Σ_(n, o) dY · Slice_j(Xpad), one Mul and ReduceSum per tap that reads input, zeros for the others
    const pads = geo.pads!;
    const xp = pads.some((p) => p !== 0) ? ctx.op('Pad', [x, ctx.constI64([0, 0, pads[0]!, pads[1]!, 0, 0, pads[2]!, pads[3]!])]) : x;
    const [ho, wo] = tapList.out;
    const zero = ctx.constF32(new Array<number>(m).fill(0), [m, 1]);
    const cols2: Value[] = [];
    for (let i = 0; i < geo.kernel[0]!; i++) {
      for (let j = 0; j < geo.kernel[1]!; j++) {
        if (!tapList.live.some(([a, b]) => a === i && b === j)) {
          cols2.push(zero);
          continue;
        }
        const [a, b] = [i * geo.dilations[0]!, j * geo.dilations[1]!];
        const sl = ctx.op('Slice', [xp, ctx.constI64([a, b]), ctx.constI64([a + geo.strides[0]! * (ho - 1) + 1, b + geo.strides[1]! * (wo - 1) + 1]), ctx.constI64([2, 3]), ctx.constI64([geo.strides[0]!, geo.strides[1]!])]);
        cols2.push(ctx.reshape(ctx.reduceSum(ctx.op('Mul', [sl, dy]), [0, 2, 3], false), ctx.constI64([m, 1])));
      }
    }
    return ctx.reshape(ctx.op('Concat', cols2, { axis: attr.int(1) }), ctx.constI64(wdims));
  }
  if (cg === 1) {
    // depthwise (multiplier Mg): per (n, c) dW_(n,c)[K, Mg] = cols[n, c][K, O] · dY[n, c][O, Mg], one batched MatMul, summed over n
    // (the grouped MatMul below transposes the K-fold cols tensor: 30x slower on MobileNetV2)
    const cols4 = ctx.reshape(colsFlat, ctx.constI64([0, c, k, -1]));
    const dy4 = mg === 1 ? ctx.unsqueeze(ctx.reshape(dy, ctx.constI64([0, c, -1])), [3]) : ctx.transpose(ctx.reshape(dy, ctx.constI64([0, c, mg, -1])), [0, 1, 3, 2]);
    const sum = ctx.reduceSum(ctx.op('MatMul', [cols4, dy4]), [0], false);
    return ctx.reshape(mg === 1 ? sum : ctx.transpose(sum, [0, 2, 1]), ctx.constI64(wdims));
  }
  // per group g: dW_g[Mg, Cg·K] = dY_g[Mg, N·O] · cols_g[N·O, Cg·K], as one batched MatMul
  const dg = ctx.reshape(ctx.transpose(ctx.reshape(dy, ctx.constI64([0, group, mg, -1])), [1, 2, 0, 3]), ctx.constI64([group, mg, -1]));
  const cgT = ctx.reshape(ctx.transpose(ctx.reshape(colsFlat, ctx.constI64([0, group, cg * k, -1])), [1, 0, 3, 2]), ctx.constI64([group, -1, cg * k]));
  return ctx.reshape(ctx.op('MatMul', [dg, cgT]), ctx.constI64(wdims));
}

/**
 * dW of a group-1, stride-1 2-D Conv (static dims) with the kernel split into its rows and
 * columns: dW[m, c, i, j] = Σ_n Σ_(r, x) dYs[n, (m, i), (r, x)] · P[n, (r, x), (j, c)] over the
 * Hp padded input rows r, where
 * - P holds the horizontal patches of the padded channels-last input:
 *   P[n, r, x, j, c] = Xpad[n, c, r, x + j·dw] (one Gather of C contiguous floats along the
 *   width, kw-fold X instead of the kh·kw-fold patch matrix), and
 * - dYs places dY at each kernel row's offset: dYs[n, m, i, r, x] = dY[n, m, r - i·dh, x]
 *   (0 outside; one Gather of dY's rows after a zero Pad of (kh-1)·dh rows on both sides).
 * Both operands are kh- (kw-) fold instead of one kh·kw-fold patch matrix, so the step writes
 * and reads about a third of the memory of the patch form for a 3×3 kernel, for
 * Hp/Ho (1.06-1.25×) of its multiply-adds. Per-sample products ([kh·M, Hp·Wo] · [Hp·Wo, kw·C],
 * one batched MatMul summed over n) where they are no larger than the inputs (perSampleProducts,
 * ROWS_PER_SAMPLE_ALLOWANCE), else one MatMul with the batch folded into the reduction (rows
 * n, r, x: P as rows, dY moved to [M, N, Ho, Wo] by whole planes and its rows gathered over
 * the flattened (n, row) axis, batchRowTable). Null when it does not apply (strides > 1: the
 * zero rows of dYs would cost s× the multiply-adds).
 */
function rowSplitWeightGrad(ctx: GradContext, dy: Value, x: Value, wdims: number[], geo: WindowGeometry, spatialIn: readonly number[], xNhwc?: Value): Value | null {
  if (!geo.pads || !geo.strides.every((s) => s === 1) || geo.kernel.length !== 2 || geo.kernel[0]! < 2) return null;
  const [m, c] = [wdims[0]!, wdims[1]!];
  const [kh, kw] = geo.kernel as [number, number];
  const [dh, dw] = geo.dilations as [number, number];
  const [pt, pl, pb, pr] = geo.pads as [number, number, number, number];
  const [h, w] = spatialIn as [number, number];
  const hp = h + pt + pb;
  const wp = w + pl + pr;
  const ho = hp - (kh - 1) * dh;
  const wo = wp - (kw - 1) * dw;
  if (ho < 1 || wo < 1) return null;
  const e = (kh - 1) * dh;
  // rowIdx[i, r]: the row of dY padded by e on both sides that dYs[.., i, r] reads (r - i·dh + e)
  const rowIdx = Array.from({ length: kh * hp }, (_, t) => (t % hp) - Math.floor(t / hp) * dh + e);
  // colIdx[x, j]: the padded input column tap j reads at output column x
  const colIdx = Array.from({ length: wo * kw }, (_, t) => Math.floor(t / kw) + (t % kw) * dw);
  const perSample = ctx.convRules.products ? ctx.convRules.products === 'per-sample' : perSampleProducts([null, null, hp, wo], kh * m, kw * c, Number(ctx.convRules.allowance ?? ROWS_PER_SAMPLE_ALLOWANCE));
  let d: Value;
  if (perSample) {
    // dYs [N, M·kh, Hp·Wo] · P [N, Hp·Wo, kw·C], summed over n
    const dyp = ctx.op('Pad', [dy, ctx.constI64([0, 0, e, 0, 0, 0, e, 0])]);
    let xl = xNhwc ?? (ctx.layoutOf(x)?.kind === 'nhwc' ? x : ctx.transpose(x, [0, 2, 3, 1]));
    if (geo.pads.some((p) => p !== 0)) xl = ctx.op('Pad', [xl, ctx.constI64([0, pt, pl, 0, 0, pb, pr, 0])]);
    const products = (dq: Value, xq: Value): Value => {
      const dys = ctx.reshape(ctx.op('Gather', [dq, ctx.constI64(rowIdx, [kh, hp])], { axis: attr.int(2) }), ctx.constI64([0, m * kh, hp * wo]));
      const p = ctx.reshape(ctx.op('Gather', [xq, ctx.constI64(colIdx, [wo, kw])], { axis: attr.int(2) }), ctx.constI64([0, hp * wo, kw * c]));
      return ctx.op('MatMul', [dys, p]);
    };
    const per = batchChunk(ctx, ctx.dims(dy)?.[0], 4 * (kh * m + kw * c) * hp * wo);
    if (per.chunks > 1) {
      // batch chunks of `size` samples (the last one open-ended; chunks past a smaller batch are empty),
      // so that each chunk's dYs and P are still in cache when its MatMul reads them; the partials
      // of all chunks ([size, kh·M, kw·C] each) are joined and summed once. Each chunk's two
      // Gathers read the padded tensors of the whole batch with the chunk's samples in their
      // index tables (chunkTables; a Slice per chunk would copy both tensors once more)
      const rows = ho + 2 * e;
      const dyFlat = ctx.reshape(dyp, ctx.constI64([-1, wo]));
      const xFlat = ctx.reshape(xl, ctx.constI64([-1, c]));
      // dY rows: T[(m, i), r] = m·(Ho + 2e) + rowIdx[i, r]; X: T[(r, x, j)] = r·Wp + x + j·dw
      const dyTable = Array.from({ length: m * kh * hp }, (_, t) => Math.floor(t / (kh * hp)) * rows + rowIdx[t % (kh * hp)]!);
      const xTable = Array.from({ length: hp * wo * kw }, (_, t) => Math.floor(t / (wo * kw)) * wp + colIdx[t % (wo * kw)]!);
      const parts = Array.from({ length: per.chunks }, (_, q) => {
        const samples = chunkSamples(ctx, dy, q, per);
        const dys = ctx.reshape(ctx.op('Gather', [dyFlat, chunkTable(ctx, samples, m * rows, dyTable, [m * kh, hp])], { axis: attr.int(0) }), ctx.constI64([0, m * kh, hp * wo]));
        const p = ctx.reshape(ctx.op('Gather', [xFlat, chunkTable(ctx, samples, hp * wp, xTable, [hp * wo * kw])], { axis: attr.int(0) }), ctx.constI64([0, hp * wo, kw * c]));
        return ctx.op('MatMul', [dys, p]);
      });
      d = ctx.reduceSum(ctx.op('Concat', parts, { axis: attr.int(0) }), [0], false);
    } else {
      d = ctx.reduceSum(products(dyp, xl), [0], false);
    }
  } else {
    // dYs [M·kh, (N, Hp, Wo)] · P [(N, Hp, Wo), kw·C], one MatMul: dY padded by e rows and moved
    // to [M, N, Ho + 2e, Wo] (whole planes move), then one Gather of its rows over the flattened
    // (n, row) axis with the table n·(Ho + 2e) + rowIdx[i, r]; P is the per-sample form's, as rows
    const dyt = ctx.reshape(ctx.transpose(ctx.op('Pad', [dy, ctx.constI64([0, 0, e, 0, 0, 0, e, 0])]), [1, 0, 2, 3]), ctx.constI64([m, -1, wo]));
    const dys = ctx.reshape(ctx.op('Gather', [dyt, batchRowTable(ctx, dy, rowIdx, kh, hp, ho + 2 * e)], { axis: attr.int(1) }), ctx.constI64([m * kh, -1]));
    let xl = xNhwc ?? (ctx.layoutOf(x)?.kind === 'nhwc' ? x : ctx.transpose(x, [0, 2, 3, 1]));
    if (geo.pads.some((p) => p !== 0)) xl = ctx.op('Pad', [xl, ctx.constI64([0, pt, pl, 0, 0, pb, pr, 0])]);
    const p = ctx.reshape(ctx.op('Gather', [xl, ctx.constI64(colIdx, [wo, kw])], { axis: attr.int(2) }), ctx.constI64([-1, kw * c]));
    d = ctx.op('MatMul', [dys, p]);
  }
  // [M·kh, kw·C] = [M, kh, kw, C] -> [M, C, kh, kw]
  return ctx.transpose(ctx.reshape(d, ctx.constI64([m, kh, kw, c])), [0, 3, 1, 2]);
}

/**
 * The row table of the kernel-row weight gradient with the batch in the reduction:
 * idx[i, n, r] = n·rowsPerSample + rowIdx[i, r] ([kh, N, Hp]), the row of dY's flattened
 * (n, padded row) axis that kernel row i reads at padded input row r of sample n. A constant
 * for a static batch, else built at run time from Shape(dY) (once per symbolic batch dim and
 * table: Range over the batch, times the rows per sample, plus the constant per-sample table).
 */
function batchRowTable(ctx: GradContext, dy: Value, rowIdx: readonly number[], kh: number, hp: number, rowsPerSample: number): Value {
  const n = ctx.dims(dy)?.[0];
  if (typeof n === 'number') {
    const idx: number[] = [];
    for (let i = 0; i < kh; i++) for (let s = 0; s < n; s++) for (let r = 0; r < hp; r++) idx.push(s * rowsPerSample + rowIdx[i * hp + r]!);
    return ctx.constI64(idx, [kh, n, hp]);
  }
  const make = (): Value => {
    const batch = ctx.op('Squeeze', [ctx.op('Slice', [ctx.shapeOf(dy), ctx.constI64([0]), ctx.constI64([1])]), ctx.constI64([0])]);
    const starts = ctx.op('Mul', [ctx.op('Range', [ctx.constI64([0], []), batch, ctx.constI64([1], [])]), ctx.constI64([rowsPerSample], [])]);
    return ctx.op('Add', [ctx.reshape(starts, ctx.constI64([1, -1, 1])), ctx.constI64(rowIdx, [kh, 1, hp])]);
  };
  // Shared by the layers of one training graph while the batch is one named symbolic dim.
  return memoValue(ctx, `rows|${n}|${kh}|${hp}|${rowsPerSample}|${rowIdx.join(',')}`, make, typeof n !== 'string');
}

/**
 * Depthwise dW (multiplier 1, 2-D, static planes of at most DEPTHWISE_OUTER_MAX_PLANE input
 * positions P) from the per-channel outer products of the batch: T[c] = Σ_n dY[n, c]ᵀ X[n, c]
 * ([O, P], one batched MatMul over c of dY as [C, O, N] and X as [C, N, P]), then
 * dW[c, j] = Σ_(o, p) T[c, o, p] · S[o, p, j] with the constant 0/1 table S of which input position
 * tap j reads at output o (strides, dilations and pads in S; taps that read only padding get 0).
 * On MobileNetV2's 4×4 to 1×1 planes (192-960 channels) the shifted multiply-adds it replaces
 * (a Pad and a Slice, Mul and ReduceSum per tap, single-threaded on tensors with 1-4 floats
 * per row) took ~45% of the step; here two small Transposes and two MatMuls. Up to 16×16
 * planes the P/K-fold products in one dense MatMul still beat the im2col Conv + batched
 * MatMul (MobileNetV2-style step 757 → 672 ms of CPU, same-process A/B). Null when it does
 * not apply.
 */
function depthwiseOuterWeightGrad(ctx: GradContext, dy: Value, x: Value, c: number, spatialIn: readonly Dim[], geo: WindowGeometry): Value | null {
  if (geo.kernel.length !== 2 || !geo.pads || !spatialIn.every((d) => typeof d === 'number')) return null;
  const [h, w] = spatialIn as [number, number];
  const p = h * w;
  if (p > DEPTHWISE_OUTER_MAX_PLANE) return null;
  const [kh, kw] = geo.kernel as [number, number];
  const k = kh * kw;
  const { o, taps } = windowTapTable(h, w, geo);
  const band = depthwiseBandRows(h, o / windowOutputWidth(w, geo));
  if (band) return depthwiseBandWeightGrad(ctx, dy, x, c, h, w, geo, o, taps, band);
  // table[o, p, j] = 1 where tap j of output o reads input position p
  const table = new Array<number>(o * p * k).fill(0);
  for (let t = 0; t < taps.length; t += 3) table[(taps[t]! * p + taps[t + 1]!) * k + taps[t + 2]!] = 1;
  const dyT = ctx.transpose(ctx.reshape(dy, ctx.constI64([0, c, o])), [1, 2, 0]); // [C, O, N]
  const xT = ctx.transpose(ctx.reshape(x, ctx.constI64([0, c, p])), [1, 0, 2]); // [C, N, P]
  const t = ctx.reshape(ctx.op('MatMul', [dyT, xT]), ctx.constI64([c, o * p]));
  return ctx.reshape(ctx.op('MatMul', [t, ctx.constF32(table, [o * p, k])]), ctx.constI64([c, 1, kh, kw]));
}

/**
 * Output rows per band of a banded depthwise weight gradient: DEPTHWISE_BAND_ROWS on input
 * planes of at least DEPTHWISE_BAND_MIN_ROWS rows whose output rows it divides, else 0 (the
 * whole plane as one product).
 */
function depthwiseBandRows(h: number, ho: number): number {
  return h >= DEPTHWISE_BAND_MIN_ROWS && ho > DEPTHWISE_BAND_ROWS && ho % DEPTHWISE_BAND_ROWS === 0 ? DEPTHWISE_BAND_ROWS : 0;
}

function windowOutputWidth(w: number, geo: WindowGeometry): number {
  return windowOutputSize(w, geo.kernel[1]!, geo.strides[1]!, geo.dilations[1]!, geo.pads![1]!, geo.pads![3]!, false);
}

/**
 * The outer-product depthwise weight gradient by bands of B output rows: output rows
 * [b·B, (b + 1)·B) read only the R = (B - 1)·sh + (kh - 1)·dh + 1 input rows from b·B·sh - pt,
 * so per channel and band T[c, b] = Σ_n dY[n, c, band b]ᵀ · X[n, c, rows of band b]
 * ([B·Wo, R·W] instead of the whole plane's [O, P]: Ho/B · R/H of the multiply-adds), one
 * MatMul batched over (c, b) of dY as [C·nb, B·Wo, N] and the Gathered input rows as
 * [C·nb, N, R·W]; then dW[c, j] = Σ T[c, b, ., .] · S[b, ., ., j] with the constant per-band tap
 * table S. Band rows outside the plane are Gathered from a clamped row and get no table entry.
 * Used for MobileNetV2-style's 16×16 depthwise layers (docs/training.md, *banded depthwise
 * weight gradients*).
 */
function depthwiseBandWeightGrad(ctx: GradContext, dy: Value, x: Value, c: number, h: number, w: number, geo: WindowGeometry, o: number, taps: readonly number[], band: number): Value {
  const [kh, kw] = geo.kernel as [number, number];
  const k = kh * kw;
  const sh = geo.strides[0]!;
  const pt = geo.pads![0]!;
  const wo = windowOutputWidth(w, geo);
  const nb = o / wo / band;
  const r = (band - 1) * sh + (kh - 1) * geo.dilations[0]! + 1;
  const rows: number[] = [];
  for (let b = 0; b < nb; b++) for (let q = 0; q < r; q++) rows.push(Math.min(h - 1, Math.max(0, b * band * sh - pt + q)));
  // table[b, (i, x), (q, w), j] = 1 where tap j of output row b·B + i, column x reads input row b·B·sh - pt + q, column w
  const cols = band * wo;
  const table = new Array<number>(nb * cols * r * w * k).fill(0);
  for (let t = 0; t < taps.length; t += 3) {
    const oy = Math.floor(taps[t]! / wo);
    const b = Math.floor(oy / band);
    const iy = Math.floor(taps[t + 1]! / w);
    const q = iy - (b * band * sh - pt);
    table[(((b * cols + (oy - b * band) * wo + (taps[t]! % wo)) * r + q) * w + (taps[t + 1]! % w)) * k + taps[t + 2]!] = 1;
  }
  const xb = ctx.op('Gather', [x, ctx.constI64(rows, [nb, r])], { axis: attr.int(2) }); // [N, C, nb, R, W]
  const dyT = ctx.transpose(ctx.reshape(dy, ctx.constI64([0, c * nb, cols])), [1, 2, 0]); // [C·nb, B·Wo, N]
  const xT = ctx.transpose(ctx.reshape(xb, ctx.constI64([0, c * nb, r * w])), [1, 0, 2]); // [C·nb, N, R·W]
  const t = ctx.reshape(ctx.op('MatMul', [dyT, xT]), ctx.constI64([c, nb * cols * r * w]));
  return ctx.reshape(ctx.op('MatMul', [t, ctx.constF32(table, [nb * cols * r * w, k])]), ctx.constI64([c, 1, kh, kw]));
}

/**
 * dX of a strided depthwise 2-D Conv (multiplier 1) on a small static plane (at most
 * DEPTHWISE_TABLE_MAX_PLANE input positions P) through the same constant tap table S as the
 * weight gradient: dX[n, c, p] = Σ_o dY[n, c, o] · A[c, o, p] with A[c] = Σ_j W[c, j] · S[o, p, j]
 * (one small MatMul of W [C, K] by S as [K, O·P]), then one MatMul batched over the channels,
 * dY as [C, N, O] times A [C, O, P]. onnxruntime's ConvTranspose runs a depthwise kernel group
 * by group, a tiny GEMM per (sample, channel): MobileNetV2-style's four strided depthwise Convs
 * took ~12% of its step that way (docs/training.md). Null when it does not apply.
 */
function depthwiseTableInputGrad(ctx: GradContext, dy: Value, w: Value, c: number, spatialIn: readonly Dim[], geo: WindowGeometry): Value | null {
  if (geo.kernel.length !== 2 || !geo.pads || !spatialIn.every((d) => typeof d === 'number')) return null;
  const [h, wd] = spatialIn as [number, number];
  const p = h * wd;
  if (p > DEPTHWISE_TABLE_MAX_PLANE) {
    const band = DEPTHWISE_DX_BAND_ROWS;
    if (p > DEPTHWISE_DX_BAND_MAX_PLANE || h % band !== 0 || band % geo.strides[0]! !== 0) return null;
    return depthwiseBandInputGrad(ctx, dy, w, c, h, wd, geo, band);
  }
  const [kh, kw] = geo.kernel as [number, number];
  const k = kh * kw;
  const { o, taps } = windowTapTable(h, wd, geo);
  // table[j, o, p] = 1 where tap j of output o reads input position p
  const table = new Array<number>(k * o * p).fill(0);
  for (let t = 0; t < taps.length; t += 3) table[(taps[t + 2]! * o + taps[t]!) * p + taps[t + 1]!] = 1;
  const a = ctx.reshape(ctx.op('MatMul', [ctx.reshape(w, ctx.constI64([c, k])), ctx.constF32(table, [k, o * p])]), ctx.constI64([c, o, p]));
  const dyT = ctx.transpose(ctx.reshape(dy, ctx.constI64([0, c, o])), [1, 0, 2]); // [C, N, O]
  const dxT = ctx.op('MatMul', [dyT, a]); // [C, N, P]
  const out = ctx.reshape(ctx.transpose(dxT, [1, 0, 2]), ctx.constI64([-1, c, h, wd]));
  ctx.setShape(out, [ctx.dims(dy)?.[0] ?? null, c, h, wd]);
  return out;
}

/**
 * The tap-table input gradient of a strided depthwise Conv by bands of B input rows: input rows
 * [b·B, (b + 1)·B) receive from Ro output rows only (from o0(b), the first output row with a tap
 * in the band), so dX[n, c, band b] = dY[n, c, rows of band b] · A[c, b] with
 * A[c, b] = Σ_j W[c, j] · S[j, b] ([Ro·Wo, B·W] instead of the whole plane's [O, P]): one Gather of
 * dY's rows per band, one MatMul batched over (c, b) of dY as [C·nb, N, Ro·Wo] by A, and a
 * Transpose back. Band rows outside dY are Gathered from a clamped row and get no table entry.
 * Replaces ConvTranspose (group by group, single-threaded) on MobileNetV2-style's 16×16 stride-2
 * layer (docs/training.md, *banded depthwise gradients*).
 */
function depthwiseBandInputGrad(ctx: GradContext, dy: Value, w: Value, c: number, h: number, wd: number, geo: WindowGeometry, band: number): Value {
  const [kh, kw] = geo.kernel as [number, number];
  const k = kh * kw;
  const { o, taps } = windowTapTable(h, wd, geo);
  const wo = windowOutputWidth(wd, geo);
  const ho = o / wo;
  const nb = h / band;
  // first and last output row with a tap in each band
  const lo = new Array<number>(nb).fill(Infinity);
  const hi = new Array<number>(nb).fill(-Infinity);
  for (let t = 0; t < taps.length; t += 3) {
    const b = Math.floor(Math.floor(taps[t + 1]! / wd) / band);
    const oy = Math.floor(taps[t]! / wo);
    lo[b] = Math.min(lo[b]!, oy);
    hi[b] = Math.max(hi[b]!, oy);
  }
  const ro = Math.max(1, ...lo.map((l, b) => (hi[b]! >= l ? hi[b]! - l + 1 : 1)));
  const o0 = lo.map((l) => (Number.isFinite(l) ? l : 0));
  const rows: number[] = [];
  for (let b = 0; b < nb; b++) for (let q = 0; q < ro; q++) rows.push(Math.min(ho - 1, o0[b]! + q));
  // table[j, b, (q, x), (i, w)] = 1 where tap j of output row o0(b) + q, column x reads input row b·B + i, column w
  const cols = ro * wo;
  const span = band * wd;
  const table = new Array<number>(k * nb * cols * span).fill(0);
  for (let t = 0; t < taps.length; t += 3) {
    const iy = Math.floor(taps[t + 1]! / wd);
    const b = Math.floor(iy / band);
    const q = Math.floor(taps[t]! / wo) - o0[b]!;
    table[((taps[t + 2]! * nb + b) * cols + q * wo + (taps[t]! % wo)) * span + (iy - b * band) * wd + (taps[t + 1]! % wd)] = 1;
  }
  const a = ctx.reshape(ctx.op('MatMul', [ctx.reshape(w, ctx.constI64([c, k])), ctx.constF32(table, [k, nb * cols * span])]), ctx.constI64([c * nb, cols, span]));
  const dyb = ctx.op('Gather', [dy, ctx.constI64(rows, [nb, ro])], { axis: attr.int(2) }); // [N, C, nb, Ro, Wo]
  const dyT = ctx.transpose(ctx.reshape(dyb, ctx.constI64([0, c * nb, cols])), [1, 0, 2]); // [C·nb, N, Ro·Wo]
  const dxT = ctx.op('MatMul', [dyT, a]); // [C·nb, N, B·W]
  const out = ctx.reshape(ctx.transpose(dxT, [1, 0, 2]), ctx.constI64([-1, c, h, wd]));
  ctx.setShape(out, [ctx.dims(dy)?.[0] ?? null, c, h, wd]);
  return out;
}

/**
 * The taps of a 2-D window over an h × w plane (static pads): (output position o, input
 * position p, tap j = i·kw + j) for every tap that reads inside the plane, flattened in
 * triples, in output-major order; and the number of output positions. The weight and the
 * input gradients of the small-plane depthwise rules lay it out as their constant tables.
 */
function windowTapTable(h: number, w: number, geo: WindowGeometry): { o: number; taps: number[] } {
  const [kh, kw] = geo.kernel as [number, number];
  const pads = geo.pads!;
  const ho = windowOutputSize(h, kh, geo.strides[0]!, geo.dilations[0]!, pads[0]!, pads[2]!, false);
  const wo = windowOutputSize(w, kw, geo.strides[1]!, geo.dilations[1]!, pads[1]!, pads[3]!, false);
  const taps: number[] = [];
  for (let oy = 0; oy < ho; oy++) {
    for (let ox = 0; ox < wo; ox++) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const iy = oy * geo.strides[0]! + i * geo.dilations[0]! - pads[0]!;
          const ix = ox * geo.strides[1]! + j * geo.dilations[1]! - pads[1]!;
          if (iy >= 0 && iy < h && ix >= 0 && ix < w) taps.push(oy * wo + ox, iy * w + ix, i * kw + j);
        }
      }
    }
  }
  return { o: ho * wo, taps };
}

/**
 * The sample numbers of batch chunk q ([count], int64): Range(q·size, min(N, (q + 1)·size)),
 * the last chunk up to N; empty past the batch. Built at run time from Shape(dY) once per
 * graph, chunk and size (memoized), so the layers of one stage share them.
 */
function chunkSamples(ctx: GradContext, dy: Value, q: number, per: { size: number; chunks: number }): Value {
  return memoValue(ctx, `samples|${ctx.dims(dy)?.[0]}|${q}|${per.size}|${per.chunks}`, () => {
    const batch = ctx.op('Squeeze', [ctx.op('Slice', [ctx.shapeOf(dy), ctx.constI64([0]), ctx.constI64([1])]), ctx.constI64([0])]);
    const hi = q === per.chunks - 1 ? batch : ctx.op('Min', [batch, ctx.constI64([(q + 1) * per.size], [])]);
    return ctx.op('Range', [ctx.constI64([q * per.size], []), hi, ctx.constI64([1], [])]);
  }, typeof ctx.dims(dy)?.[0] !== 'number' && typeof ctx.dims(dy)?.[0] !== 'string');
}

/** samples[s]·stride + table ([count, ...dims], int64): a Gather index table over a chunk's samples (memoized per graph). */
function chunkTable(ctx: GradContext, samples: Value, stride: number, table: readonly number[], dims: readonly number[]): Value {
  return memoValue(ctx, `table|${samples.id}|${stride}|${dims.join(',')}|${table.join(',')}`, () => {
    const starts = ctx.reshape(ctx.op('Mul', [samples, ctx.constI64([stride], [])]), ctx.constI64([-1, ...dims.map(() => 1)]));
    return ctx.op('Add', [starts, ctx.constI64(table, [1, ...dims])]);
  });
}

/** Run-time values shared by the layers of one training graph, by key (`unique`: not shared). */
function memoValue(ctx: GradContext, key: string, make: () => Value, unique = false): Value {
  if (unique) return make();
  let memo = sharedValues.get(ctx);
  if (!memo) sharedValues.set(ctx, (memo = new Map()));
  let v = memo.get(key);
  if (!v) memo.set(key, (v = make()));
  return v;
}

const sharedValues = new WeakMap<GradContext, Map<string, Value>>();

/**
 * Batch chunks of a per-sample weight gradient: the chunk size in samples, and the chunk count
 * for the static batch dim, else for the context's batch hint. By default a chunk holds about
 * ROWS_CHUNK_BYTES of the products' operands (`sampleBytes` per sample), at most
 * ROWS_MAX_CHUNKS chunks; ConvRuleChoice.chunk forces a size (0: no chunks). A chunk's
 * Gathers write its operands just before its MatMul reads them, still in cache (docs/training.md,
 * *third round*: ResNet-20-style step 0.91× the CPU time, 1,593 → 2,242 nodes, session creation
 * 0.2-0.3 → 0.4-0.5 s of CPU).
 */
function batchChunk(ctx: GradContext, batchDim: Dim | undefined, sampleBytes: number): { size: number; chunks: number } {
  const batch = typeof batchDim === 'number' ? batchDim : ctx.batchHint;
  const forced = ctx.convRules.chunk;
  const size = forced !== undefined ? Number(forced) : Math.max(1, Math.floor(ROWS_CHUNK_BYTES / sampleBytes), Math.ceil(batch / ROWS_MAX_CHUNKS));
  return size > 0 && size < batch ? { size, chunks: Math.ceil(batch / size) } : { size: batch, chunks: 1 };
}

/** Bytes of a kernel-row weight gradient's per-sample operands (dYs and P) per batch chunk. */
const ROWS_CHUNK_BYTES = 6 * 2 ** 20;

/** Most batch chunks of one kernel-row weight gradient (each adds 7 nodes). */
const ROWS_MAX_CHUNKS = 16;

/** Largest input plane (positions) whose strided depthwise input gradient is taken from the tap table. */
const DEPTHWISE_TABLE_MAX_PLANE = 64;

/**
 * Larger planes up to this many positions take it by bands of DEPTHWISE_DX_BAND_ROWS input rows
 * (16×16 stride 2, 96 channels, standalone with a sum of squares after it, CPU ms at load 15:
 * ConvTranspose 6.7-6.8, bands of 2 / 4 / 8 rows 5.3-5.7 / 4.5-4.6 / 4.8-5.0, the sum alone 2.2).
 */
const DEPTHWISE_DX_BAND_MAX_PLANE = 256;
const DEPTHWISE_DX_BAND_ROWS = 4;

/** Largest input plane (positions) whose depthwise weight gradient is taken from per-channel outer products. */
const DEPTHWISE_OUTER_MAX_PLANE = 256;

/**
 * Input planes of at least this many rows take the outer-product depthwise weight gradient in
 * bands of DEPTHWISE_BAND_ROWS output rows (standalone dW, CPU ms, load 13: 16×16 planes 5.1-5.8
 * → 3.1-3.4 at stride 1, 4.7-5.0 → 3.9-4.1 at stride 2; 8×8 planes were faster whole, 2.3-2.5
 * against 3.0-3.4 in bands of 4; docs/training.md).
 */
const DEPTHWISE_BAND_MIN_ROWS = 16;
const DEPTHWISE_BAND_ROWS = 2;

/**
 * Whether a weight gradient Σ_n dY_n[M, O] · A_n[O, K] is taken as per-sample products (one
 * batched MatMul, then a sum over n), which writes N·M·K partial products but needs no
 * transpose of dY: only when that is no more than the inputs' N·O·(M + K) (static O). Else
 * one MatMul of dY transposed to [M, N·O] (on MobileNetV2's last 1×1 layers, O = 1-4 and
 * M·K up to 400k, the per-sample products took 0.3 s of CPU each).
 */
function perSampleProducts(dyDims: readonly Dim[] | undefined, m: number, k: number, allowance = 1): boolean {
  const spatial = dyDims?.slice(2);
  if (!spatial || !spatial.every((d) => typeof d === 'number')) return false;
  const o = (spatial as number[]).reduce((a, b) => a * b, 1);
  return m * k <= allowance * o * (m + k);
}

/**
 * The kernel-row weight gradient takes per-sample products while the partials are no larger
 * than its inputs, else one MatMul with the batch in the reduction (dY moved to [M, N, Ho, Wo]
 * by whole planes, its rows gathered over (n, row)). ResNet-20-style's 64-channel 8×8 stage
 * (partials 1.2× the inputs: 128 products [192, 80] · [80, 192] written and summed) runs as
 * one [192, 10,240] · [10,240, 192] MatMul: whole step 0.94× the CPU time in a same-process
 * A/B (docs/training.md). The stages with larger planes (partials 0.04-0.17×) keep the
 * per-sample products (level or faster there).
 */
const ROWS_PER_SAMPLE_ALLOWANCE = 1;

/** dY [N, M, O...] as [M, N·O]: one row per output channel. */
function dyRows(ctx: GradContext, dy: Value, m: number): Value {
  return ctx.reshape(ctx.transpose(ctx.reshape(dy, ctx.constI64([0, m, -1])), [1, 0, 2]), ctx.constI64([m, -1]));
}

/**
 * Whether the Conv's output is used only as the input of a BatchNormalization in training mode,
 * which subtracts any per-channel shift (so the bias gets no gradient); not with frozen statistics.
 */
function feedsOnlyBatchNorm(ctx: GradContext, node: Node): boolean {
  if (ctx.freezeBatchNormStats) return false;
  const y = node.outputs[0];
  if (!y || y.isGraphOutput || y.uses.length !== 1) return false;
  const use = y.uses[0]!;
  return use.index === 0 && use.node.isOnnx('BatchNormalization');
}
