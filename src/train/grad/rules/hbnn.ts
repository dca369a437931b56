/**
 * The activation binarizer `ai.hbnn::BinarizeActivation(x, scales, center, sign, t1, t2)` as a
 * custom-gradient region: the forward is the call itself (exactly what inference computes),
 * the backward is the clipped straight-through estimator
 *
 *   dX = dY · [|X| <= clip],   clip = scales[0] + scales[1] + scales[2]
 *
 * clip is the largest magnitude the binarizer can output (every residual step in the same
 * direction), the analogue of the hard-tanh clip at 1 of 1-bit networks. Scales, center,
 * sign and thresholds are calibrated constants and get no gradient.
 *
 * `ai.hbnn::BinarizedWeight` calls never reach the gradient builder: the training graph takes
 * the binarized weight Ŵ as an input, which the training loop computes from the latent float
 * weights each step (see src/train/params.ts).
 */
import type { GradRuleSet } from '../registry.js';
import { passWhere } from './elementwise.js';
import { HBNN_DOMAIN, FN_ACT } from '../../../quant/format.js';

export function registerHbnn(r: GradRuleSet): void {
  r.register(
    FN_ACT,
    {
      differentiableInputs: () => [0],
      backward(ctx, a) {
        const clip = ctx.reduceSum(a.inputs[1]!, [0], false);
        return [passWhere(ctx, ctx.op('LessOrEqual', [ctx.op('Abs', [a.inputs[0]!]), clip]), a.dOutputs[0]!)];
      },
    },
    HBNN_DOMAIN,
  );
}
