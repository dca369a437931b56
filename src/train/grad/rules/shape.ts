/**
 * Operators that move data without arithmetic, and Dropout.
 *
 *   Flatten, Reshape, Squeeze, Unsqueeze: dX = Reshape(dY, Shape(X))
 *   Transpose(perm): dX = Transpose(dY, perm⁻¹)
 *   Concat(axis): dX_i = Split(dY, [size_i...], axis)_i (sizes static or from Shape(X_i))
 *   Dropout (training mode): Y = X · mask with a mask the training loop feeds (Bernoulli
 *     keep-probability 1 - ratio, scaled by 1 / (1 - ratio), drawn from the run's seeded
 *     generator so that a resumed run draws the same masks); dX = dY · mask.
 */
import { attr } from '../context.js';
import type { GradRule, GradRuleSet } from '../registry.js';
import { constantOf, norm } from '../shapes.js';
import type { Value } from '../../../ir/graph.js';
import { fail, ErrorCodes } from '../../../errors.js';

export function registerShapeOps(r: GradRuleSet): void {
  const reshapeBack: GradRule = {
    differentiableInputs: () => [0],
    backward: (ctx, a) => [ctx.reshapeLike(a.dOutputs[0]!, a.inputs[0]!)],
  };
  r.register(['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze'], reshapeBack);

  r.register('Transpose', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const rank = ctx.requireRank(a.inputs[0]!, a.node, 'Transpose without perm');
      const perm = a.node.attrInts('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      return [ctx.transpose(a.dOutputs[0]!, inv)];
    },
  });

  r.register('Concat', {
    differentiableInputs: (node) => node.inputs.map((_, i) => i),
    backward(ctx, a) {
      const ins = a.inputs as Value[];
      const rank = ctx.requireRank(ins[0]!, a.node, 'Concat gradient');
      const axis = norm(a.node.attrInt('axis', 0), rank);
      const sizes = ins.map((x) => ctx.dims(x)?.[axis]);
      const split = sizes.every((s) => typeof s === 'number')
        ? ctx.constI64(sizes as number[])
        : ctx.op(
            'Concat',
            ins.map((x) => ctx.op('Slice', [ctx.shapeOf(x), ctx.constI64([axis]), ctx.constI64([axis + 1])])),
            { axis: attr.int(0) },
          );
      const parts = ctx.ops('Split', [a.dOutputs[0]!, split], { axis: attr.int(axis) }, ins.length);
      return parts.map((p, i) => (a.needs[i] ? p : null));
    },
  });

  r.register('Dropout', {
    differentiableInputs: () => [0],
    forward(ctx, node, inputs, hooks) {
      if (node.outputs[1] && node.outputs[1].name !== '' && (node.outputs[1].uses.length > 0 || node.outputs[1].isGraphOutput)) {
        fail(ErrorCodes.UNSUPPORTED_OP, `cannot train through ${node.label}: its mask output is used`, { node: node.name, op: node.opType });
      }
      let ratio = node.attrFloat('ratio', 0.5);
      if (node.inputs[1]) {
        const t = constantOf(node.inputs[1]);
        if (!t) fail(ErrorCodes.UNSUPPORTED_OP, `cannot train through ${node.label}: its ratio is not a constant`, { node: node.name, op: node.opType });
        ratio = t.values[0]!;
      }
      const x = inputs[0]!;
      if (!(ratio > 0)) return { outputs: [x] };
      const dims = ctx.dims(x);
      if (!dims) fail(ErrorCodes.UNSUPPORTED_OP, `cannot train through ${node.label}: the shape of its input is unknown`, { node: node.name, op: node.opType });
      const mask = hooks.dropoutMask({ node, dims, ratio });
      const y = ctx.op('Mul', [x, mask]);
      ctx.setShape(y, dims);
      return { outputs: [y], saved: { mask } };
    },
    backward(ctx, a) {
      const mask = a.saved['mask'];
      return [mask ? ctx.op('Mul', [a.dOutputs[0]!, mask]) : a.dOutputs[0]!];
    },
  });
}
