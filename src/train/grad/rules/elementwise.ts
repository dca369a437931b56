/**
 * Elementwise operators. Binary ones broadcast (numpy rules), so each operand's gradient is
 * summed over the axes it was broadcast along (`GradContext.unbroadcast`).
 *
 *   Add: dA = dY, dB = dY            Sub: dA = dY, dB = -dY
 *   Mul: dA = dY·B, dB = dY·A        Div: dA = dY/B, dB = -dY·Y/B
 *   Relu: dX = dY·[X > 0]            LeakyRelu: dX = dY·(X > 0 ? 1 : alpha)
 *   Clip: dX = dY·[min <= X <= max] = dY·[Clip(X) = X]   Sigmoid: dX = dY·Y·(1 - Y)   Tanh: dX = dY·(1 - Y²)
 *   Identity: dX = dY                Neg: dX = -dY
 *   HardSigmoid (alpha, beta): dX = dY·alpha·[0 < Y < 1] = dY·alpha·ceil(Y·(1 - Y))   (PyTorch's: the strict inside of the ramp)
 *   HardSwish: dX = dY·(X < -3 ? 0 : X > 3 ? 1 : X/3 + 1/2)   (PyTorch's hardswish_backward)
 *   Erf: dX = dY·2/sqrt(pi)·exp(-X²)   Exp: dX = dY·Y   Log: dX = dY/X   Sqrt: dX = dY/(2·Y)
 *   Softplus: dX = dY·sigmoid(X)      Pow: dA = dY·B·A^(B-1), dB = dY·Y·ln(A)
 *   PRelu: dX = dY·(X > 0 ? 1 : slope), dSlope = Σ dY·X·[X <= 0]   Elu: dX = dY·(X > 0 ? 1 : Y + alpha)
 *   Max, Min (n inputs): dX_i = dY·[X_i = Y] / #{j: X_j = Y}   (ties share, as PyTorch's maximum)
 *   Where(c, A, B): dA = dY·[c], dB = dY·[not c]   Expand: dX = dY summed over the expanded axes
 *   Sum (n inputs): dX_i = dY   Mean: dX_i = dY/n   (each summed over its broadcast axes)
 *   Abs: dX = dY·sign(X)   Reciprocal: dX = -dY·Y²
 */
import type { GradContext } from '../context.js';
import { attr } from '../context.js';
import { DataType } from '../../../ir/dtype.js';
import type { BackwardArgs, GradRule, GradRuleSet } from '../registry.js';
import type { Value } from '../../../ir/graph.js';

const both = (): readonly number[] => [0, 1];
const first = (): readonly number[] => [0];

function binary(grads: (ctx: GradContext, a: BackwardArgs, dy: Value) => [Value | null, Value | null]): GradRule {
  return {
    differentiableInputs: both,
    backward(ctx, a) {
      const dy = a.dOutputs[0]!;
      const [ga, gb] = grads(ctx, a, dy);
      const yd = ctx.dims(a.outputs[0]!);
      return [
        a.needs[0] && ga ? ctx.unbroadcast(ga, a.inputs[0]!, yd) : null,
        a.needs[1] && gb ? ctx.unbroadcast(gb, a.inputs[1]!, yd) : null,
      ];
    },
  };
}

/** dX = dY where `cond` holds, 0 elsewhere. */
export function passWhere(ctx: GradContext, cond: Value, dy: Value): Value {
  // dY · float(cond): onnxruntime's Mul runs at about twice the speed of its Where here (ResNet-20
  // stage-1 tensors, 2 threads: 6.8 against 14.6 ms of CPU with the Greater and the Cast included;
  // docs/training.md). Same values (a masked entry is ±0).
  const out = ctx.op('Mul', [dy, ctx.op('Cast', [cond], { to: attr.int(DataType.FLOAT) })]);
  ctx.setShape(out, ctx.dims(dy));
  return out;
}

export function registerElementwise(r: GradRuleSet): void {
  r.register('Add', binary((_c, _a, dy) => [dy, dy]));
  r.register('Sub', binary((ctx, a, dy) => [dy, a.needs[1] ? ctx.op('Neg', [dy]) : null]));
  r.register(
    'Mul',
    binary((ctx, a, dy) => [a.needs[0] ? ctx.op('Mul', [dy, a.inputs[1]!]) : null, a.needs[1] ? ctx.op('Mul', [dy, a.inputs[0]!]) : null]),
  );
  r.register(
    'Div',
    binary((ctx, a, dy) => {
      const b = a.inputs[1]!;
      const ga = a.needs[0] ? ctx.op('Div', [dy, b]) : null;
      const gb = a.needs[1] ? ctx.op('Neg', [ctx.op('Mul', [dy, ctx.op('Div', [a.outputs[0]!, b])])]) : null;
      return [ga, gb];
    }),
  );
  r.register('Relu', {
    differentiableInputs: first,
    backward: (ctx, a) => [passWhere(ctx, ctx.op('Greater', [a.inputs[0]!, ctx.scalar(0)]), a.dOutputs[0]!)],
  });
  r.register('LeakyRelu', {
    differentiableInputs: first,
    backward(ctx, a) {
      const dy = a.dOutputs[0]!;
      const alpha = a.node.attrFloat('alpha', 0.01);
      const pos = ctx.op('Greater', [a.inputs[0]!, ctx.scalar(0)]);
      return [ctx.op('Where', [pos, dy, ctx.op('Mul', [dy, ctx.scalar(alpha)])])];
    },
  });
  r.register('Clip', {
    differentiableInputs: first,
    backward(ctx, a) {
      const x = a.inputs[0]!;
      const dy = a.dOutputs[0]!;
      // opset >= 11: bounds are inputs 1 and 2 (optional); before: attributes min and max.
      const lo = a.inputs[1] ?? (a.node.attributes.has('min') ? ctx.scalar(a.node.attrFloat('min', 0)) : null);
      const hi = a.inputs[2] ?? (a.node.attributes.has('max') ? ctx.scalar(a.node.attrFloat('max', 0)) : null);
      // lo <= x <= hi exactly where Clip left x unchanged: one Equal against the output instead of
      // two comparisons and an And (both bounds inclusive either way)
      if (!lo && !hi) return [dy];
      return [passWhere(ctx, ctx.op('Equal', [x, a.outputs[0]!]), dy)];
    },
  });
  r.register('Sigmoid', {
    differentiableInputs: first,
    backward(ctx, a) {
      const y = a.outputs[0]!;
      return [ctx.op('Mul', [a.dOutputs[0]!, ctx.op('Mul', [y, ctx.op('Sub', [ctx.scalar(1), y])])])];
    },
  });
  r.register('Tanh', {
    differentiableInputs: first,
    backward(ctx, a) {
      const y = a.outputs[0]!;
      return [ctx.op('Mul', [a.dOutputs[0]!, ctx.op('Sub', [ctx.scalar(1), ctx.op('Mul', [y, y])])])];
    },
  });
  r.register('HardSigmoid', {
    differentiableInputs: first,
    backward(ctx, a) {
      const y = a.outputs[0]!;
      const alpha = a.node.attrFloat('alpha', 0.2);
      // 1 inside the ramp (0 < Y < 1), 0 at and beyond its ends: ceil(Y·(1 - Y)), all float
      const inside = ctx.op('Ceil', [ctx.op('Mul', [y, ctx.op('Sub', [ctx.scalar(1), y])])]);
      return [ctx.op('Mul', [a.dOutputs[0]!, ctx.op('Mul', [inside, ctx.scalar(alpha)])])];
    },
  });
  r.register('HardSwish', {
    differentiableInputs: first,
    backward(ctx, a) {
      const x = a.inputs[0]!;
      // 0 below -3, 1 above 3, the ramp's x/3 + 1/2 between (both ends included, as PyTorch)
      const ramp = ctx.op('Add', [ctx.op('Mul', [x, ctx.scalar(1 / 3)]), ctx.scalar(0.5)]);
      const upper = ctx.op('Where', [ctx.op('Greater', [x, ctx.scalar(3)]), ctx.scalar(1), ramp]);
      const slope = ctx.op('Where', [ctx.op('Less', [x, ctx.scalar(-3)]), ctx.scalar(0), upper]);
      return [ctx.op('Mul', [a.dOutputs[0]!, slope])];
    },
  });
  r.register('Erf', {
    differentiableInputs: first,
    backward(ctx, a) {
      const x = a.inputs[0]!;
      const gauss = ctx.op('Exp', [ctx.op('Neg', [ctx.op('Mul', [x, x])])]);
      return [ctx.op('Mul', [a.dOutputs[0]!, ctx.op('Mul', [gauss, ctx.scalar(2 / Math.sqrt(Math.PI))])])];
    },
  });
  r.register('Exp', { differentiableInputs: first, backward: (ctx, a) => [ctx.op('Mul', [a.dOutputs[0]!, a.outputs[0]!])] });
  r.register('Log', { differentiableInputs: first, backward: (ctx, a) => [ctx.op('Div', [a.dOutputs[0]!, a.inputs[0]!])] });
  r.register('Sqrt', {
    differentiableInputs: first,
    backward: (ctx, a) => [ctx.op('Div', [ctx.op('Mul', [a.dOutputs[0]!, ctx.scalar(0.5)]), a.outputs[0]!])],
  });
  r.register('Softplus', {
    differentiableInputs: first,
    backward: (ctx, a) => [ctx.op('Mul', [a.dOutputs[0]!, ctx.op('Sigmoid', [a.inputs[0]!])])],
  });
  r.register(
    'Pow',
    binary((ctx, a, dy) => {
      const [base, exponent] = [a.inputs[0]!, a.inputs[1]!];
      // the exponent may be another type (int64): the arithmetic in float
      const e = ctx.op('Cast', [exponent], { to: attr.int(DataType.FLOAT) });
      const ga = a.needs[0] ? ctx.op('Mul', [dy, ctx.op('Mul', [e, ctx.op('Pow', [base, ctx.op('Sub', [e, ctx.scalar(1)])])])]) : null;
      const gb = a.needs[1] ? ctx.op('Mul', [dy, ctx.op('Mul', [a.outputs[0]!, ctx.op('Log', [base])])]) : null;
      return [ga, gb];
    }),
  );
  r.register('PRelu', {
    differentiableInputs: both,
    backward(ctx, a) {
      const [x, slope] = [a.inputs[0]!, a.inputs[1]!];
      const dy = a.dOutputs[0]!;
      const yd = ctx.dims(a.outputs[0]!);
      const pos = ctx.op('Greater', [x, ctx.scalar(0)]);
      const dx = a.needs[0] ? ctx.op('Where', [pos, dy, ctx.op('Mul', [dy, slope])]) : null;
      const ds = a.needs[1] ? ctx.unbroadcast(ctx.op('Where', [pos, ctx.scalar(0), ctx.op('Mul', [dy, x])]), slope, yd) : null;
      return [dx, ds];
    },
  });
  r.register('Elu', {
    differentiableInputs: first,
    backward(ctx, a) {
      const alpha = a.node.attrFloat('alpha', 1);
      const dy = a.dOutputs[0]!;
      const pos = ctx.op('Greater', [a.inputs[0]!, ctx.scalar(0)]);
      return [ctx.op('Where', [pos, dy, ctx.op('Mul', [dy, ctx.op('Add', [a.outputs[0]!, ctx.scalar(alpha)])])])];
    },
  });
  const extremum: GradRule = {
    differentiableInputs: (node) => node.inputs.map((_, i) => i),
    backward(ctx, a) {
      const y = a.outputs[0]!;
      const dy = a.dOutputs[0]!;
      const yd = ctx.dims(y);
      const hits = a.inputs.map((x) => ctx.mask(ctx.op('Equal', [x!, y])));
      // the inputs that reach Y share its gradient (1 where one does, 1/2 on a tie of two)
      const count = hits.length === 1 ? null : hits.slice(1).reduce((s, h) => ctx.op('Add', [s, h]), hits[0]!);
      const share = count ? ctx.op('Div', [dy, count]) : dy;
      return a.inputs.map((x, i) => (a.needs[i] ? ctx.unbroadcast(ctx.op('Mul', [share, hits[i]!]), x!, yd) : null));
    },
  };
  r.register(['Max', 'Min'], extremum);
  r.register('Where', {
    differentiableInputs: () => [1, 2],
    backward(ctx, a) {
      const [cond, x, z] = [a.inputs[0]!, a.inputs[1]!, a.inputs[2]!];
      const dy = a.dOutputs[0]!;
      const yd = ctx.dims(a.outputs[0]!);
      return [
        null,
        a.needs[1] ? ctx.unbroadcast(ctx.op('Where', [cond, dy, ctx.scalar(0)]), x, yd) : null,
        a.needs[2] ? ctx.unbroadcast(ctx.op('Where', [cond, ctx.scalar(0), dy]), z, yd) : null,
      ];
    },
  });
  r.register('Expand', {
    differentiableInputs: first,
    backward: (ctx, a) => [ctx.unbroadcast(a.dOutputs[0]!, a.inputs[0]!, ctx.dims(a.outputs[0]!))],
  });
  r.register('Sum', {
    differentiableInputs: (node) => node.inputs.map((_, i) => i),
    backward: (ctx, a) => a.inputs.map((x, i) => (a.needs[i] ? ctx.unbroadcast(a.dOutputs[0]!, x!, ctx.dims(a.outputs[0]!)) : null)),
  });
  r.register('Mean', {
    differentiableInputs: (node) => node.inputs.map((_, i) => i),
    backward(ctx, a) {
      const share = ctx.op('Mul', [a.dOutputs[0]!, ctx.scalar(1 / a.inputs.length)]);
      return a.inputs.map((x, i) => (a.needs[i] ? ctx.unbroadcast(share, x!, ctx.dims(a.outputs[0]!)) : null));
    },
  });
  r.register('Abs', { differentiableInputs: first, backward: (ctx, a) => [ctx.op('Mul', [a.dOutputs[0]!, ctx.op('Sign', [a.inputs[0]!])])] });
  r.register('Reciprocal', {
    differentiableInputs: first,
    backward(ctx, a) {
      const y = a.outputs[0]!;
      return [ctx.op('Neg', [ctx.op('Mul', [a.dOutputs[0]!, ctx.op('Mul', [y, y])])])];
    },
  });
  r.register('Identity', { differentiableInputs: first, backward: (_c, a) => [a.dOutputs[0]!] });
  r.register('Neg', { differentiableInputs: first, backward: (ctx, a) => [ctx.op('Neg', [a.dOutputs[0]!])] });
}
