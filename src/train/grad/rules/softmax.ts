/**
 * Softmax and LogSoftmax along `axis` (opset 13 semantics: one axis, default -1).
 *
 *   Softmax:    dX = Y · (dY - Σ_axis dY·Y)
 *   LogSoftmax: dX = dY - exp(Y) · Σ_axis dY
 */
import type { GradRuleSet } from '../registry.js';

export function registerSoftmax(r: GradRuleSet): void {
  r.register('Softmax', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const y = a.outputs[0]!;
      const dy = a.dOutputs[0]!;
      const axis = a.node.attrInt('axis', -1);
      const dot = ctx.reduceSum(ctx.op('Mul', [dy, y]), [axis], true);
      return [ctx.op('Mul', [y, ctx.op('Sub', [dy, dot])])];
    },
  });
  r.register('LogSoftmax', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const y = a.outputs[0]!;
      const dy = a.dOutputs[0]!;
      const axis = a.node.attrInt('axis', -1);
      const total = ctx.reduceSum(dy, [axis], true);
      return [ctx.op('Sub', [dy, ctx.op('Mul', [ctx.op('Exp', [y]), total])])];
    },
  });
}
