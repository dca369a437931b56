/**
 * BatchNormalization in training mode.
 *
 * Forward (statistics of the batch, over every axis but the channel axis 1; M entries per
 * channel):
 *   mean = ReduceMean(X),  Xc = X - mean,  var = ReduceMean(Xc²)   (biased, as the normalization uses)
 *   Y = (X - mean) / sqrt(var + eps) · gamma + beta
 * Y is the inference-mode BatchNormalization operator fed the batch mean and variance: one
 * pass over X instead of four elementwise ops. (The variance stays ReduceMean of the product:
 * ReduceSumSquare would save that product but sums naively, 1e-5 relative error over 10^5
 * entries against 3e-7.) The graph also outputs mean and the unbiased variance var·M/(M-1);
 * the training loop folds them into the running statistics with the node's momentum m:
 * running = m·running + (1 - m)·batch (ONNX's convention; PyTorch's momentum is 1 - m).
 * PyTorch also uses the unbiased variance for the running estimate.
 *
 * Backward (Xc and invstd = 1/sqrt(var + eps) saved from the forward, X̂ = Xc·invstd):
 *   dbeta = Σ dY,  dgamma = Σ dY·X̂ = invstd·Σ dY·Xc
 *   dX = gamma·invstd · (dY - mean(dY) - X̂·mean(dY·X̂)) = k·dY + b·Xc + c, per channel
 *   k = gamma·invstd,  b = -k·invstd²·Σ(dY·Xc)/M,  c = -k·Σ dY/M
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
import type { GradRuleSet } from '../registry.js';
import { DataType } from '../../../ir/dtype.js';
import { fail, ErrorCodes } from '../../../errors.js';
import type { Value } from '../../../ir/graph.js';
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
      const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
      const eps = node.attrFloat('epsilon', 1e-5)!;
      const momentum = node.attrFloat('momentum', 0.9)!;
      const flat = ctx.constI64([-1]);
      const toFloat = { to: attr.int(DataType.FLOAT) };
      const factor = ctx.planesFactors.get(x);
      if (factor) {
        // a phase-planes Conv output: statistics and output from its factors (phase-layout.ts)
        const r = planesBatchNormForward(ctx, factor, scale, bias, eps);
        const bessel = ctx.op('Div', [r.count, ctx.op('Max', [ctx.op('Sub', [r.count, ctx.scalar(1)]), ctx.scalar(1)])]);
        hooks.batchNorm({ node, mean: r.mean, variance: ctx.op('Mul', [r.variance, bessel]), runningMean: node.inputs[3]!.name, runningVar: node.inputs[4]!.name, momentum });
        // Xc for a consumer of the dense input gradient (normally none: the Conv uses the factors)
        const xcDense = ctx.op('Sub', [x, r.mean]);
        return { outputs: [r.y], saved: { xc: xcDense, invstd: r.invstd, count: r.count, scale, mean: r.mean } };
      }
      const mean = ctx.reduceMean(x, axes, true);
      const xc = ctx.op('Sub', [x, mean]);
      const variance = ctx.reduceMean(ctx.op('Mul', [xc, xc]), axes, true);
      const invstd = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.scalar(eps)])])]);
      const meanC = ctx.reshape(mean, flat);
      const varC = ctx.reshape(variance, flat);
      // [rows, C] (channels last): onnxruntime's BatchNormalization kernel is slow on 2-D input; Xc·k + beta instead
      const y = rank === 2 ? ctx.op('Add', [ctx.op('Mul', [xc, ctx.op('Mul', [scale, ctx.reshape(invstd, flat)])]), bias]) : ctx.op('BatchNormalization', [x, scale, bias, meanC, varC], { epsilon: attr.float(eps) });
      ctx.setShape(y, ctx.dims(x));
      // batch statistics for the running estimates; M = |X| / |C|
      const count = ctx.op('Div', [ctx.op('Cast', [ctx.op('Size', [x])], toFloat), ctx.op('Cast', [ctx.op('Size', [scale])], toFloat)]);
      const bessel = ctx.op('Div', [count, ctx.op('Max', [ctx.op('Sub', [count, ctx.scalar(1)]), ctx.scalar(1)])]);
      hooks.batchNorm({
        node,
        mean: meanC,
        variance: ctx.op('Mul', [varC, bessel]),
        runningMean: node.inputs[3]!.name,
        runningVar: node.inputs[4]!.name,
        momentum,
      });
      const saved: Record<string, Value> = { xc, invstd, count, scale };
      return { outputs: [y], saved };
    },
    backward(ctx, a) {
      const dy = a.dOutputs[0]!;
      const { xc, invstd, count, scale } = a.saved as Record<'xc' | 'invstd' | 'count' | 'scale', Value>;
      const rank = ctx.requireRank(a.inputs[0]!, a.node, 'BatchNormalization gradient');
      const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
      const flat = ctx.constI64([-1]);
      // a phase pool's routed gradient: the sums over its windows' routed elements only
      const routed = ctx.routed.get(dy);
      const factor = ctx.planesFactors.get(a.inputs[0]!);
      const sumDy = routed ? routedChannelSum(ctx, routed) : ctx.reshape(ctx.reduceSum(dy, axes, true), flat);
      // a phase-planes Conv output: Σ dY·Xc from the factors (phase-layout.ts)
      const sumDyXc = factor
        ? planesDyXcSum(ctx, factor, dy, sumDy)
        : routed
          ? routedChannelDot(ctx, routed, xc)
          : ctx.reshape(ctx.reduceSum(ctx.op('Mul', [dy, xc]), axes, true), flat);
      const invstdC = ctx.reshape(invstd, flat);
      const dBeta = a.needs[2] ? sumDy : null;
      const dGamma = a.needs[1] ? ctx.op('Mul', [sumDyXc, invstdC]) : null;
      let dX: Value | null = null;
      if (a.needs[0]) {
        const k = ctx.op('Mul', [scale, invstdC]);
        const kOverM = ctx.op('Div', [k, count]);
        const b = ctx.op('Neg', [ctx.op('Mul', [ctx.op('Mul', [kOverM, ctx.op('Mul', [invstdC, invstdC])]), sumDyXc])]);
        const c = ctx.op('Neg', [ctx.op('Mul', [kOverM, sumDy])]);
        const zeros = ctx.op('Mul', [k, ctx.scalar(0)]);
        const ones = ctx.op('Add', [zeros, ctx.scalar(1)]);
        const affine = (v: Value, s: Value, t: Value): Value => ctx.op('BatchNormalization', [v, s, t, zeros, ones], { epsilon: attr.float(0) });
        // 2-D: elementwise ops (see the forward)
        dX = rank === 2 ? ctx.op('Add', [ctx.op('Add', [ctx.op('Mul', [dy, k]), ctx.op('Mul', [xc, b])]), c]) : ctx.op('Add', [affine(dy, k, c), affine(xc, b, zeros)]);
        ctx.setShape(dX, ctx.dims(a.inputs[0]!));
        ctx.channelAffine.set(dX, { u: dy, k, v: xc, b, c });
      }
      return [dX, dGamma, dBeta];
    },
  });
}
