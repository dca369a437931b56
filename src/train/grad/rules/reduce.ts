/**
 * Reductions and LayerNormalization.
 *
 *   ReduceSum(axes): dX = Expand(dY with the reduced axes kept, Shape(X))
 *   ReduceMean(axes): the same · |Y|/|X| (1/count of the reduced entries)
 *   ReduceMax, ReduceMin(axes), GlobalMaxPool: dY (expanded back) where X equals the extremum,
 *     shared among ties (as the maximum's subgradient PyTorch's amax takes)
 *     Axes: the attribute (before opset 13 for ReduceSum, 18 for ReduceMean) or the constant
 *     input; none means every axis, unless noop_with_empty_axes (then dX = dY).
 *   LayerNormalization(axis, epsilon), normalized axes A = [axis, rank): the forward also
 *     outputs the mean and the inverse standard deviation s; with X̂ = (X - mean)·s and g = dY·Scale,
 *     dX = s·(g - mean_A(g) - X̂·mean_A(g·X̂)), dScale = Σ dY·X̂ and dB = Σ dY over the other axes
 *     (summed to the parameters' broadcast shapes).
 */
import { attr, unsupportedGradient, type GradContext } from '../context.js';
import type { GradRule, GradRuleSet } from '../registry.js';
import { DataType } from '../../../ir/dtype.js';
import { norm } from '../shapes.js';
import type { Node, Value } from '../../../ir/graph.js';

/** The reduced axes of a Reduce* node (normalized, sorted), or null: every axis. */
function reducedAxes(ctx: GradContext, node: Node, input: Value | null | undefined, rank: number): number[] | null {
  const axes = node.attrInts('axes') ?? (input ? ctx.fixedInts(input, node, 'axes') : undefined);
  if (!axes || axes.length === 0) return null;
  return [...new Set(axes.map((a) => norm(a, rank)))].sort((p, q) => p - q);
}

function reduceRule(mean: boolean): GradRule {
  return {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const x = a.inputs[0]!;
      const dy = a.dOutputs[0]!;
      const node = a.node;
      const rank = ctx.requireRank(x, node, `${node.opType} gradient`);
      const axesOrAll = reducedAxes(ctx, node, a.inputs[1], rank);
      if (axesOrAll === null && node.attrInt('noop_with_empty_axes', 0) === 1) return [dy];
      const axes = axesOrAll ?? Array.from({ length: rank }, (_, i) => i);
      const keep = node.attrInt('keepdims', 1) === 1;
      const kept = keep ? dy : ctx.unsqueeze(dy, axes);
      const xd = ctx.dims(x);
      const shape = xd && xd.every((d) => typeof d === 'number') ? ctx.constI64(xd as number[]) : ctx.shapeOf(x);
      let g = ctx.op('Expand', [kept, shape]);
      if (mean) {
        const counted = xd ? axes.map((i) => xd[i]) : undefined;
        const scale = counted && counted.every((d) => typeof d === 'number')
          ? ctx.scalar(1 / (counted as number[]).reduce((p, q) => p * q, 1))
          : ctx.op('Div', [ctx.op('Cast', [ctx.op('Size', [dy])], { to: attr.int(DataType.FLOAT) }), ctx.op('Cast', [ctx.op('Size', [x])], { to: attr.int(DataType.FLOAT) })]);
        g = ctx.op('Mul', [g, scale]);
      }
      ctx.setShape(g, xd);
      return [g];
    },
  };
}

/** ReduceMax/ReduceMin/GlobalMaxPool: dY to the entries that reach the extremum, shared among ties. */
function extremumRule(global: boolean): GradRule {
  return {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const x = a.inputs[0]!;
      const y = a.outputs[0]!;
      const dy = a.dOutputs[0]!;
      const node = a.node;
      const rank = ctx.requireRank(x, node, `${node.opType} gradient`);
      let axes: number[];
      let keep = true;
      if (global) axes = Array.from({ length: rank - 2 }, (_, i) => i + 2);
      else {
        const given = reducedAxes(ctx, node, a.inputs[1], rank);
        if (given === null && node.attrInt('noop_with_empty_axes', 0) === 1) return [dy];
        axes = given ?? Array.from({ length: rank }, (_, i) => i);
        keep = node.attrInt('keepdims', 1) === 1;
      }
      const [yk, dyk] = keep ? [y, dy] : [ctx.unsqueeze(y, axes), ctx.unsqueeze(dy, axes)];
      const hit = ctx.mask(ctx.op('Equal', [x, yk]));
      const ties = ctx.op('ReduceSum', [hit, ctx.constI64(axes)], { keepdims: attr.int(1) });
      const out = ctx.op('Mul', [hit, ctx.op('Div', [dyk, ties])]);
      ctx.setShape(out, ctx.dims(x));
      return [out];
    },
  };
}

export function registerReduce(r: GradRuleSet): void {
  r.register('ReduceSum', reduceRule(false));
  r.register('ReduceMean', reduceRule(true));
  r.register(['ReduceMax', 'ReduceMin'], extremumRule(false));
  r.register('GlobalMaxPool', extremumRule(true));

  r.register('LayerNormalization', {
    differentiableInputs: (node) => node.inputs.map((_, i) => i).filter((i) => i < 3),
    forward(ctx, node, inputs) {
      // the same operator with its optional Mean and InvStdDev outputs, for the backward
      const outs = ctx.ops('LayerNormalization', inputs, Object.fromEntries(node.attributes), 3);
      ctx.setShape(outs[0]!, ctx.dims(inputs[0]!));
      return { outputs: [outs[0]!, outs[1]!, outs[2]!], saved: { mean: outs[1]!, invstd: outs[2]! } };
    },
    backward(ctx, a) {
      const node = a.node;
      const [x, scale, bias] = [a.inputs[0]!, a.inputs[1]!, a.inputs[2] ?? null];
      if (a.dOutputs[1] || a.dOutputs[2]) unsupportedGradient(node, 'its Mean or InvStdDev output is used');
      const dy = a.dOutputs[0]!;
      const rank = ctx.requireRank(x, node, 'LayerNormalization gradient');
      const axis = norm(node.attrInt('axis', -1), rank);
      const normalized = Array.from({ length: rank - axis }, (_, i) => axis + i);
      const { mean, invstd } = a.saved as { mean: Value; invstd: Value };
      const xhat = ctx.op('Mul', [ctx.op('Sub', [x, mean]), invstd]);
      const xd = ctx.dims(x);
      const out: (Value | null)[] = [null, null, null];
      if (a.needs[0]) {
        const g = ctx.op('Mul', [dy, scale]);
        const m1 = ctx.reduceMean(g, normalized, true);
        const m2 = ctx.reduceMean(ctx.op('Mul', [g, xhat]), normalized, true);
        out[0] = ctx.op('Mul', [invstd, ctx.op('Sub', [ctx.op('Sub', [g, m1]), ctx.op('Mul', [xhat, m2])])]);
        ctx.setShape(out[0], xd);
      }
      if (a.needs[1]) out[1] = ctx.unbroadcast(ctx.op('Mul', [dy, xhat]), scale, xd);
      if (a.needs[2] && bias) out[2] = ctx.unbroadcast(dy, bias, xd);
      return out;
    },
  });
}
