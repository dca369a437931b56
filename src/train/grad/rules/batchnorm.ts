/**
 * BatchNormalization in training mode.
 *
 * Forward (statistics of the batch, over every axis but the channel axis 1; M entries per
 * channel):
 *   mean = Σ X / M,  Xc = X - mean,  var = Σ Xc² / M   (biased, as the normalization uses)
 *   Y = (X - mean) / sqrt(var + eps) · gamma + beta
 * On input with planes (rank >= 3, spatial size > 1), Y and the batch mean and variance come
 * from onnxruntime's training-mode BatchNormalization (training_mode 1, momentum 0: its
 * "running" outputs are then exactly the batch statistics): one kernel, two-pass variance (as
 * accurate as the float64 reference at mean/std = 3,500, docs/training.md), and no Xc tensor
 * kept for the backward, which reads X and the mean instead. It replaced (session 16) the
 * ones-row MatMul sums, Xc as an inference-mode BatchNormalization, Xc², a second sum and Y as
 * a second inference-mode operator: five passes and a stored Xc. The variance must be two-pass
 * (E[X²] - mean² lost 1.5e-4 of Y at mean/std = 30 and 20% at 1000 in float32). On
 * [N, C, 1, 1] (and rank 2, [rows, C]) the rows form: ReduceMean, Sub, Mul and Add along the
 * last axis (onnxruntime's BatchNormalization kernel is slow on 2-D input). The graph also
 * outputs mean and the unbiased variance var·M/(M-1); the training loop folds them into the
 * running statistics with the node's momentum m: running = m·running + (1 - m)·batch (ONNX's
 * convention; PyTorch's momentum is 1 - m). PyTorch also uses the unbiased variance for the
 * running estimate.
 *
 * Backward (invstd = 1/sqrt(var + eps) and Xc, or X and the mean, saved from the forward,
 * X̂ = Xc·invstd):
 *   dbeta = Σ dY,  dgamma = Σ dY·X̂ = invstd·Σ dY·Xc
 *   dX = gamma·invstd · (dY - mean(dY) - X̂·mean(dY·X̂)) = k·dY + b·Xc + c, per channel
 *   k = gamma·invstd,  b = -k·invstd²·Σ(dY·Xc)/M,  c = -k·Σ dY/M
 * From X: Σ dY·Xc = Σ dY·X - mean·Σ dY and b·Xc + c = b·X + (c - b·mean) (the gradcheck holds
 * 1e-4 with inputs at mean/std ~ 40, as the centred form did).
 * The two per-channel affine maps are inference-mode BatchNormalization ops again (mean 0,
 * variance 1, epsilon 0), then one Add: three passes over X where the textbook form takes five
 * plus two more reductions.
 *
 * On 2-D input ([rows, C], e.g. the phase-rows layout) the affine maps are Mul and Add
 * (onnxruntime's BatchNormalization kernel is slow there). When dY is a phase pool's routed
 * gradient, Σ dY and Σ dY·Xc are taken over the routed elements only (phase-layout.ts). dX is
 * recorded as k⊙dY + b⊙Xc + c (GradContext.channelAffine) for a consumer that can use the
 * parts instead (the phase-planes Conv's weight gradient).
 */
import { attr } from '../context.js';
import type { BackwardArgs, ForwardResult, GradRuleSet } from '../registry.js';
import { DataType } from '../../../ir/dtype.js';
import { fail, ErrorCodes } from '../../../errors.js';
import type { Value } from '../../../ir/graph.js';
import { Tensor } from '../../../ir/tensor.js';
import type { GradContext } from '../context.js';
import { planesBatchNormForward, planesDyXcSum, routedChannelDot, routedChannelSum } from '../phase-layout.js';

export function registerBatchNorm(r: GradRuleSet): void {
  r.register('BatchNormalization', {
    differentiableInputs: () => [0, 1, 2],
    forward(ctx, node, inputs, hooks) {
      for (const o of node.outputs.slice(1)) {
        if (o.name !== '' && (o.uses.length > 0 || o.isGraphOutput)) {
          fail(ErrorCodes.UNSUPPORTED_OP, `cannot train through ${node.label}: its statistics output "${o.name}" is used by the model`, { node: node.name, op: node.opType });
        }
      }
      const [x, scale, bias] = inputs as [Value, Value, Value];
      const rank = ctx.requireRank(x, node, 'BatchNormalization in training mode');
      const eps = node.attrFloat('epsilon', 1e-5)!;
      const momentum = node.attrFloat('momentum', 0.9)!;
      // the batch mean and unbiased variance var·M/(M-1) for the running statistics
      const recordStats = (mean: Value, variance: Value, count: Value): void =>
        hooks.batchNorm({ node, mean, variance: ctx.op('Mul', [variance, bessel(ctx, count)]), runningMean: node.inputs[3]!.name, runningVar: node.inputs[4]!.name, momentum });
      if (ctx.freezeBatchNormStats) return frozenForward(ctx, x, scale, bias, inputs[3] ?? null, inputs[4] ?? null, rank, eps, node.label);
      const factor = ctx.planesFactors.get(x);
      if (factor) {
        // a phase-planes Conv output: statistics and output from its factors (phase-layout.ts)
        const r = planesBatchNormForward(ctx, factor, scale, bias, eps);
        recordStats(r.mean, r.variance, r.count);
        // Xc for a consumer of the dense input gradient (normally none: the Conv uses the factors)
        const xcDense = ctx.op('Sub', [x, r.mean]);
        return { outputs: [r.y], saved: { xc: xcDense, invstd: r.invstd, count: r.count, scale, mean: r.mean } };
      }
      const plan = momentsPlan(ctx, x, rank);
      if (plan.kind === 'columns') {
        // [N, C, 1, ...]: the rows form [N, C] (Mul/Add along the last axis); y reshaped back
        const x2 = ctx.reshape(x, plan.shape2d);
        ctx.setShape(x2, [ctx.dims(x)![0]!, plan.channels]);
        const s = rowsForward(ctx, x2, scale, bias, eps);
        const y = ctx.reshapeLike(s.y, x);
        recordStats(s.mean, s.variance, s.count);
        plans.set(s.xc, plan);
        return { outputs: [y], saved: { xc: s.xc, invstd: s.invstd, count: s.count, scale } };
      }
      if (rank === 2) {
        const s = rowsForward(ctx, x, scale, bias, eps);
        ctx.setShape(s.y, ctx.dims(x));
        recordStats(s.mean, s.variance, s.count);
        return { outputs: [s.y], saved: { xc: s.xc, invstd: s.invstd, count: s.count, scale } };
      }
      // M = |X| / |C| entries per channel (planes: N·P, shared by the BatchNorms of one plane size)
      const count = plan.kind === 'planes' ? plan.count : entriesPerChannel(ctx, x, scale);
      // onnxruntime's training-mode operator: Y and the batch mean and (biased, two-pass) variance
      // in one kernel; momentum 0 makes its "running" outputs the batch statistics exactly
      const [runningIn, runningVarIn] = zeroedRunningInputs(ctx, x, scale);
      const [y, meanC, varC] = ctx.ops('BatchNormalization', [x, scale, bias, runningIn, runningVarIn], { epsilon: attr.float(eps), momentum: attr.float(0), training_mode: attr.int(1) }, 3) as [Value, Value, Value];
      ctx.setShape(y, ctx.dims(x));
      const invstd = ctx.invStd(varC, eps);
      recordStats(meanC, varC, count);
      plans.set(x, plan);
      return { outputs: [y], saved: { x, mean: meanC, invstd, count, scale } };
    },
    backward(ctx, a) {
      if (a.saved.x && frozenSaved.has(a.saved.x)) return frozenBackward(ctx, a);
      const dyIn = a.dOutputs[0]!;
      const { invstd, count, scale } = a.saved as Record<'invstd' | 'count' | 'scale', Value>;
      // the centred input Xc (rows, columns and phase-planes forms) or X and the batch mean
      // (the training-mode operator's forms): Σ dY·Xc = Σ dY·X - mean·Σ dY, b·Xc + c = b·X + (c - b·mean)
      const centred = a.saved.xc !== undefined;
      const v = centred ? a.saved.xc! : a.saved.x!;
      const rank = ctx.requireRank(a.inputs[0]!, a.node, 'BatchNormalization gradient');
      const plan = plans.get(v) ?? { kind: 'generic' };
      // [N, C, 1, ...]: dY as the rows [N, C] of the forward's rows form
      const dy = plan.kind === 'columns' ? ctx.reshape(dyIn, plan.shape2d) : dyIn;
      const rows = rank === 2 || plan.kind === 'columns';
      const axes = rows ? [0] : [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
      const flat = ctx.constI64([-1]);
      // a phase pool's routed gradient: the sums over its windows' routed elements only
      const routed = ctx.routed.get(dyIn);
      const factor = ctx.planesFactors.get(a.inputs[0]!);
      const sum = (t: Value): Value => sumPerChannel(ctx, t, plan, axes);
      const sumDy = routed ? routedChannelSum(ctx, routed) : sum(dy);
      // a phase-planes Conv output: Σ dY·Xc from the factors (phase-layout.ts)
      const sumDyV = factor && centred ? planesDyXcSum(ctx, factor, dy, sumDy) : routed ? routedChannelDot(ctx, routed, v) : sum(ctx.op('Mul', [dy, v]));
      const sumDyXc = centred ? sumDyV : ctx.op('Sub', [sumDyV, ctx.op('Mul', [a.saved.mean!, sumDy])]);
      const invstdC = ctx.reshape(invstd, flat);
      const dBeta = a.needs[2] ? sumDy : null;
      const dGamma = a.needs[1] ? ctx.op('Mul', [sumDyXc, invstdC]) : null;
      let dX: Value | null = null;
      if (a.needs[0]) {
        const k = ctx.op('Mul', [scale, invstdC]);
        const kOverM = ctx.op('Div', [k, count]);
        const b = ctx.op('Neg', [ctx.op('Mul', [ctx.op('Mul', [kOverM, ctx.op('Mul', [invstdC, invstdC])]), sumDyXc])]);
        const c0 = ctx.op('Neg', [ctx.op('Mul', [kOverM, sumDy])]);
        const c = centred ? c0 : ctx.op('Sub', [c0, ctx.op('Mul', [b, a.saved.mean!])]);
        const consts = channelConstants(ctx, scale);
        const zeros = consts?.zeros ?? ctx.op('Mul', [k, ctx.scalar(0)]);
        const ones = consts?.ones ?? ctx.op('Add', [zeros, ctx.scalar(1)]);
        const affine = (t: Value, s: Value, o: Value): Value => affineMap(ctx, t, s, o, zeros, ones);
        // rows: elementwise ops (see the forward)
        dX = rows ? ctx.op('Add', [ctx.op('Add', [ctx.op('Mul', [dy, k]), ctx.op('Mul', [v, b])]), c]) : ctx.op('Add', [affine(dy, k, c), affine(v, b, zeros)]);
        if (plan.kind === 'columns') dX = ctx.reshapeLike(dX, a.inputs[0]!);
        else {
          ctx.setShape(dX, ctx.dims(a.inputs[0]!));
          ctx.channelAffine.set(dX, { u: dy, k, v, b, c });
        }
      }
      return [dX, dGamma, dBeta];
    },
  });
}

/** The saved X of each BatchNormalization with frozen statistics, and how its channel sums are taken. */
const frozenSaved = new WeakMap<Value, MomentsPlan>();

/**
 * BatchNormalization with frozen statistics (BuildOptions.freezeBatchNormStats): the running
 * mean mu and variance var of the model are constants, so per channel
 *   Y = k·(X - mu) + beta,  k = gamma·invstd,  invstd = 1/sqrt(var + eps)
 * in one pass over X (onnxruntime's inference-mode BatchNormalization: the operator the
 * exported model runs), and the backward is
 *   dX = k·dY,  dgamma = invstd·Σ dY·(X - mu) = invstd·(Σ dY·X - mu·Σ dY),  dbeta = Σ dY
 * (dX one pass, the sums one product pass and two MatMul rows on planes): against training
 * mode's statistics and two-pass variance, five passes fewer per layer. No batch-statistics
 * outputs: the running statistics stay as they are.
 */
function frozenForward(ctx: GradContext, x: Value, scale: Value, bias: Value, mean: Value | null, variance: Value | null, rank: number, eps: number, label: string): ForwardResult {
  if (!mean || !variance) fail(ErrorCodes.ONNX_INVALID, `${label} has no running mean or variance to freeze (BatchNormalization takes five inputs)`);
  const invstd = ctx.invStd(variance, eps);
  const y = ctx.op('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: attr.float(eps) });
  ctx.setShape(y, ctx.dims(x));
  const plan = rank >= 3 ? momentsPlan(ctx, x, rank) : ({ kind: 'generic' } as const);
  frozenSaved.set(x, plan);
  return { outputs: [y], saved: { x, invstd, scale, mean } };
}

function frozenBackward(ctx: GradContext, a: BackwardArgs): (Value | null)[] {
  const dy = a.dOutputs[0]!;
  const { x, invstd, scale, mean } = a.saved as Record<'x' | 'invstd' | 'scale' | 'mean', Value>;
  const rank = ctx.requireRank(a.inputs[0]!, a.node, 'BatchNormalization gradient');
  const plan = frozenSaved.get(x)!;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const sum = (v: Value): Value => sumPerChannel(ctx, v, plan, axes);
  const sumDy = a.needs[1] || a.needs[2] ? sum(dy) : null;
  const dGamma = a.needs[1] ? ctx.op('Mul', [invstd, ctx.op('Sub', [sum(ctx.op('Mul', [dy, x])), ctx.op('Mul', [mean, sumDy!])])]) : null;
  let dX: Value | null = null;
  if (a.needs[0]) {
    const k = ctx.op('Mul', [scale, invstd]);
    const consts = channelConstants(ctx, scale);
    // k·dY: the inference-mode operator (mean 0, variance 1, epsilon 0) where C is static and the
    // input has planes, else a Mul with k along axis 1
    dX =
      consts && rank >= 3
        ? affineMap(ctx, dy, k, consts.zeros, consts.zeros, consts.ones)
        : ctx.op('Mul', [dy, rank === 2 ? k : ctx.reshape(k, ctx.constI64([-1, ...new Array<number>(rank - 2).fill(1)]))]);
    ctx.setShape(dX, ctx.dims(a.inputs[0]!));
  }
  return [dX, dGamma, a.needs[2] ? sumDy : null];
}

/**
 * How the statistics of an input of rank >= 3 in the model's layout are taken (by its static
 * shape; measured per shape in docs/training.md, *BatchNorm*):
 * - `columns`: every spatial dim 1 ([N, C, 1, 1], MobileNetV2's last stages): the rows form
 *   [N, C] (Mul/Add along the last axis), reshaped back;
 * - `planes`: static C and spatial size P > 1: per-channel sums as one MatMul of a ones row
 *   [1, N] by X as [N, C·P], then a ReduceSum over P (channelSums);
 * - `generic`: ReduceMean/ReduceSum over the batch and spatial axes.
 */
type MomentsPlan =
  | { kind: 'generic' }
  | { kind: 'columns'; channels: number; shape2d: Value }
  | { kind: 'planes'; channels: number; positions: number; ones: Value; count: Value };

/** The plan of each BatchNormalization's saved Xc (the columns form) or X (the training-mode operator's forms), for its backward. */
const plans = new WeakMap<Value, MomentsPlan>();

function momentsPlan(ctx: GradContext, x: Value, rank: number): MomentsPlan {
  const d = ctx.dims(x);
  if (rank < 3 || !d || ctx.layoutOf(x)) return { kind: 'generic' };
  const c = d[1];
  const spatial = d.slice(2);
  if (typeof c !== 'number' || !spatial.every((v) => typeof v === 'number')) return { kind: 'generic' };
  const positions = (spatial as number[]).reduce((p, v) => p * v, 1);
  if (positions === 1) return { kind: 'columns', channels: c, shape2d: ctx.constI64([-1, c]) };
  // the ones row [1, N] and the count N·P: constants for a static batch, else from Shape(x) at
  // run time, built once per symbolic batch dim (and plane size) and shared
  const n = d[0];
  if (typeof n === 'number') return { kind: 'planes', channels: c, positions, ones: ctx.constF32(new Array<number>(n).fill(1), [1, n]), count: ctx.scalar(n * positions) };
  const batch = memo(ctx, typeof n === 'string' ? `batch|${n}` : null, () => ctx.op('Slice', [ctx.shapeOf(x), ctx.constI64([0]), ctx.constI64([1])]));
  const ones = memo(ctx, typeof n === 'string' ? `ones|${n}` : null, () =>
    ctx.op('ConstantOfShape', [ctx.op('Concat', [ctx.constI64([1]), batch], { axis: attr.int(0) })], { value: attr.tensor(Tensor.fromFloat32('', [1], Float32Array.of(1))) }),
  );
  const count = memo(ctx, typeof n === 'string' ? `count|${n}|${positions}` : null, () => ctx.op('Mul', [ctx.op('Cast', [batch], { to: attr.int(DataType.FLOAT) }), ctx.scalar(positions)]));
  return { kind: 'planes', channels: c, positions, ones, count };
}

/** Values shared by the BatchNorms of one training graph (keyed by what they depend on; null: not shared). */
const sharedValues = new WeakMap<GradContext, Map<string, Value>>();

function memo(ctx: GradContext, key: string | null, make: () => Value): Value {
  if (key === null) return make();
  let m = sharedValues.get(ctx);
  if (!m) sharedValues.set(ctx, (m = new Map()));
  let v = m.get(key);
  if (!v) m.set(key, (v = make()));
  return v;
}

/**
 * The running-statistics inputs of a training-mode BatchNormalization with momentum 0: their
 * values are multiplied by 0, but onnxruntime may write the node's outputs over them in place,
 * and its optimizer merges equal initializers (a private constant [C] of zeros became the zeros
 * the affine maps read, which then read the batch mean: wrong input gradients). So they are
 * values computed at run time for this node alone: X's first entry times constant zeros and ones
 * [C] (finite: 0·x0 and x0; a non-finite x0 makes the loss non-finite anyway).
 */
function zeroedRunningInputs(ctx: GradContext, x: Value, scale: Value): [Value, Value] {
  const x0 = ctx.op('Slice', [ctx.reshape(x, ctx.constI64([-1])), ctx.constI64([0]), ctx.constI64([1])]);
  const consts = channelConstants(ctx, scale);
  if (consts) return [ctx.op('Mul', [x0, consts.zeros]), ctx.op('Mul', [x0, consts.ones])];
  // C not static: zeros [C] from gamma (finite), times x0
  const zeros = ctx.op('Mul', [ctx.op('Mul', [scale, ctx.scalar(0)]), x0]);
  return [zeros, ctx.op('Add', [zeros, ctx.scalar(1)])];
}

/** Constant per-channel zeros and ones [C] (the affine maps' mean and variance), when C is static. */
function channelConstants(ctx: GradContext, scale: Value): { zeros: Value; ones: Value } | null {
  const d = ctx.dims(scale);
  if (!d || d.length !== 1 || typeof d[0] !== 'number') return null;
  return { zeros: ctx.constF32(new Array<number>(d[0]).fill(0), [d[0]]), ones: ctx.constF32(new Array<number>(d[0]).fill(1), [d[0]]) };
}

/** Per-channel sums [C] of `v` by its plan: the ones-row MatMul on planes, else ReduceSum over `axes` (every axis but the channels'). */
function sumPerChannel(ctx: GradContext, v: Value, plan: MomentsPlan, axes: readonly number[]): Value {
  return plan.kind === 'planes' ? channelSums(ctx, v, plan) : ctx.reshape(ctx.reduceSum(v, axes, true), ctx.constI64([-1]));
}

/** scale·v + bias per channel (axis 1) as an inference-mode BatchNormalization with mean 0, variance 1 and epsilon 0 (exactly fl(scale·v + bias) per entry). */
function affineMap(ctx: GradContext, v: Value, scale: Value, bias: Value, zeros: Value, ones: Value): Value {
  return ctx.op('BatchNormalization', [v, scale, bias, zeros, ones], { epsilon: attr.float(0) });
}

/**
 * Per-channel sums [C] of `v` ([N, C, ...spatial], P positions): ones[1, N] · v as [N, C·P]
 * (one GEMM row: onnxruntime's ReduceSum over axes 0, 2, 3 walks the tensor per channel and
 * took 1.5-2.5× as long on MobileNetV2's shapes), then a ReduceSum over the P positions.
 */
/**
 * Σ over the batch and spatial axes of `v` ([N, C, ...] in the model's layout), one value per
 * channel ([C]), in the form the BatchNorm sums take for its shape (a ones-row MatMul on planes,
 * a column sum on [N, C, 1, ...], else ReduceSum): what a Conv's bias gradient sums too.
 */
export function perChannelSum(ctx: GradContext, v: Value, rank: number): Value {
  const plan = momentsPlan(ctx, v, rank);
  if (plan.kind === 'planes') return channelSums(ctx, v, plan);
  if (plan.kind === 'columns') return ctx.reduceSum(ctx.reshape(v, plan.shape2d), [0], false);
  return ctx.reduceSum(v, Array.from({ length: rank }, (_, i) => i).filter((i) => i !== 1), false);
}

function channelSums(ctx: GradContext, v: Value, plan: Extract<MomentsPlan, { kind: 'planes' }>): Value {
  const cp = plan.channels * plan.positions;
  const rowSums = ctx.op('MatMul', [plan.ones, ctx.reshape(v, ctx.constI64([-1, cp]))]);
  return ctx.reduceSum(ctx.reshape(rowSums, ctx.constI64([plan.channels, plan.positions])), [1], false);
}

/**
 * The forward on rows [rows, C] (channels last): mean and variance over axis 0, Y = Xc·k + beta
 * as Mul and Add (onnxruntime's BatchNormalization kernel is slow on 2-D input).
 */
function rowsForward(ctx: GradContext, x: Value, scale: Value, bias: Value, eps: number): { y: Value; xc: Value; mean: Value; variance: Value; invstd: Value; count: Value } {
  const flat = ctx.constI64([-1]);
  const toFloat = { to: attr.int(DataType.FLOAT) };
  const mean = ctx.reduceMean(x, [0], true);
  const xc = ctx.op('Sub', [x, mean]);
  const variance = ctx.reduceMean(ctx.op('Mul', [xc, xc]), [0], true);
  const invstd = ctx.invStd(variance, eps);
  const y = ctx.op('Add', [ctx.op('Mul', [xc, ctx.op('Mul', [scale, ctx.reshape(invstd, flat)])]), bias]);
  const count = entriesPerChannel(ctx, x, scale);
  return { y, xc, mean: ctx.reshape(mean, flat), variance: ctx.reshape(variance, flat), invstd, count };
}

/** M = |X| / |C|, the entries per channel, computed at run time. */
function entriesPerChannel(ctx: GradContext, x: Value, scale: Value): Value {
  const toFloat = { to: attr.int(DataType.FLOAT) };
  return ctx.op('Div', [ctx.op('Cast', [ctx.op('Size', [x])], toFloat), ctx.op('Cast', [ctx.op('Size', [scale])], toFloat)]);
}

/** M/(M-1) (1 for M = 1): the unbiased variance of the running estimate (once per count value). */
function bessel(ctx: GradContext, count: Value): Value {
  return memo(ctx, `bessel|${count.id}`, () => ctx.op('Div', [count, ctx.op('Max', [ctx.op('Sub', [count, ctx.scalar(1)]), ctx.scalar(1)])]));
}
