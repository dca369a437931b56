/**
 * BatchNormalization in training mode.
 *
 * Forward (statistics of the batch, over every axis but the channel axis 1):
 *   mean = ReduceMean(X), var = ReduceMean((X - mean)²)   (biased, as the normalization uses)
 *   X̂ = (X - mean) / sqrt(var + eps),  Y = gamma·X̂ + beta
 * The graph also outputs mean and the unbiased variance var·M/(M-1) (M = entries per
 * channel); the training loop folds them into the running statistics with the node's
 * momentum m: running = m·running + (1 - m)·batch (ONNX's convention; PyTorch's momentum
 * is 1 - m). PyTorch also uses the unbiased variance for the running estimate.
 *
 * Backward (X̂ and 1/sqrt(var + eps) saved from the forward):
 *   dbeta = Σ dY,  dgamma = Σ dY·X̂
 *   dX = gamma / sqrt(var + eps) · (dY - mean(dY) - X̂ · mean(dY·X̂))
 */
import { attr } from '../context.js';
import type { GradRuleSet } from '../registry.js';
import { DataType } from '../../../ir/dtype.js';
import { fail, ErrorCodes } from '../../../errors.js';

export function registerBatchNorm(r: GradRuleSet): void {
  r.register('BatchNormalization', {
    differentiableInputs: () => [0, 1, 2],
    forward(ctx, node, inputs, hooks) {
      for (const o of node.outputs.slice(1)) {
        if (o.name !== '' && (o.uses.length > 0 || o.isGraphOutput)) {
          fail(ErrorCodes.UNSUPPORTED_OP, `cannot train through ${node.label}: its statistics output "${o.name}" is used by the model`, { node: node.name, op: node.opType });
        }
      }
      const [x, scale, bias] = inputs as [NonNullable<(typeof inputs)[0]>, NonNullable<(typeof inputs)[0]>, NonNullable<(typeof inputs)[0]>];
      const rank = ctx.requireRank(x, node, 'BatchNormalization in training mode');
      const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
      const eps = node.attrFloat('epsilon', 1e-5);
      const momentum = node.attrFloat('momentum', 0.9);
      const mean = ctx.reduceMean(x, axes, true);
      const xc = ctx.op('Sub', [x, mean]);
      const variance = ctx.reduceMean(ctx.op('Mul', [xc, xc]), axes, true);
      const invstd = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.scalar(eps)])])]);
      const xhat = ctx.op('Mul', [xc, invstd]);
      const perChannel = Array.from({ length: rank - 2 }, (_, i) => i + 1);
      const gamma = perChannel.length ? ctx.unsqueeze(scale, perChannel) : scale;
      const beta = perChannel.length ? ctx.unsqueeze(bias, perChannel) : bias;
      const y = ctx.op('Add', [ctx.op('Mul', [xhat, gamma]), beta]);
      ctx.setShape(y, ctx.dims(x));
      // batch statistics for the running estimates
      const toFloat = { to: attr.int(DataType.FLOAT) };
      const count = ctx.op('Div', [ctx.op('Cast', [ctx.op('Size', [x])], toFloat), ctx.op('Cast', [ctx.op('Size', [scale])], toFloat)]);
      const bessel = ctx.op('Div', [count, ctx.op('Max', [ctx.op('Sub', [count, ctx.scalar(1)]), ctx.scalar(1)])]);
      const flat = ctx.constI64([-1]);
      hooks.batchNorm({
        node,
        mean: ctx.reshape(mean, flat),
        variance: ctx.op('Mul', [ctx.reshape(variance, flat), bessel]),
        runningMean: node.inputs[3]!.name,
        runningVar: node.inputs[4]!.name,
        momentum,
      });
      return { outputs: [y], saved: { xhat, invstd, gamma } };
    },
    backward(ctx, a) {
      const dy = a.dOutputs[0]!;
      const { xhat, invstd, gamma } = a.saved as Record<'xhat' | 'invstd' | 'gamma', NonNullable<(typeof a.inputs)[0]>>;
      const rank = ctx.requireRank(a.inputs[0]!, a.node, 'BatchNormalization gradient');
      const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
      const dyXhat = ctx.op('Mul', [dy, xhat]);
      const dBeta = a.needs[2] ? ctx.reduceSum(dy, axes, false) : null;
      const dGamma = a.needs[1] ? ctx.reduceSum(dyXhat, axes, false) : null;
      let dX = null;
      if (a.needs[0]) {
        const centered = ctx.op('Sub', [ctx.op('Sub', [dy, ctx.reduceMean(dy, axes, true)]), ctx.op('Mul', [xhat, ctx.reduceMean(dyXhat, axes, true)])]);
        dX = ctx.op('Mul', [ctx.op('Mul', [gamma!, invstd!]), centered]);
      }
      return [dX, dGamma, dBeta];
    },
  });
}
