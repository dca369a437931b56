/**
 * Loss heads on the logits [N, C] and integer labels [N]. Each emits the scalar loss and its
 * gradient with respect to the logits directly (the closed forms below), which is both
 * cheaper and more accurate in float32 than differentiating the loss graph op by op.
 *
 *   cross-entropy (default): loss = mean_n( -log softmax(z_n)[y_n] )
 *                            dz = (softmax(z) - onehot(y)) / N
 *   mse:                     loss = mean_{n,c}( (z_nc - onehot(y)_nc)² )   (PyTorch MSELoss, mean)
 *                            dz = 2 (z - onehot(y)) / (N·C)
 */
import { attr, type GradContext } from './context.js';
import type { Value } from '../../ir/graph.js';
import { DataType } from '../../ir/dtype.js';

export type LossKind = 'cross-entropy' | 'mse';
export const LOSSES: readonly LossKind[] = ['cross-entropy', 'mse'];

export interface LossHead {
  loss: Value;
  dLogits: Value;
}

export function emitLoss(ctx: GradContext, kind: LossKind, logits: Value, labels: Value, classes: number): LossHead {
  ctx.scope = 'loss';
  const onehot = ctx.op('OneHot', [labels, ctx.constI64([classes], []), ctx.constF32([0, 1])], { axis: attr.int(-1) });
  const toFloat = { to: attr.int(DataType.FLOAT) };
  if (kind === 'mse') {
    const diff = ctx.op('Sub', [logits, onehot]);
    const loss = ctx.reduceMean(ctx.op('Mul', [diff, diff]), [0, 1], false);
    const count = ctx.op('Cast', [ctx.op('Size', [logits])], toFloat);
    const dLogits = ctx.op('Mul', [diff, ctx.op('Div', [ctx.scalar(2), count])]);
    return { loss, dLogits };
  }
  const logp = ctx.op('LogSoftmax', [logits], { axis: attr.int(1) });
  const picked = ctx.reduceSum(ctx.op('Mul', [logp, onehot]), [1], false);
  const loss = ctx.op('Neg', [ctx.reduceMean(picked, [0], false)]);
  const n = ctx.op('Cast', [ctx.op('Gather', [ctx.shapeOf(logits), ctx.constI64([0], [])], { axis: attr.int(0) })], toFloat);
  const dLogits = ctx.op('Div', [ctx.op('Sub', [ctx.op('Exp', [logp]), onehot]), n]);
  return { loss, dLogits };
}
