/**
 * Operators that move data without arithmetic, and Dropout.
 *
 *   Flatten, Reshape, Squeeze, Unsqueeze: dX = Reshape(dY, Shape(X))
 *   Transpose(perm): dX = Transpose(dY, perm⁻¹)
 *   Concat(axis): dX_i = Split(dY, [size_i...], axis)_i (sizes static or from Shape(X_i))
 *   Split(axis): dX = Concat(dY_i, axis), zeros for an output that does not reach the loss
 *   Slice (constant starts, ends, axes; steps 1): dX = Pad(dY) with the rows the slice left out
 *     (begin = start, end = dim - end, clamped as Slice clamps; the sliced axes' dims static)
 *   Pad (mode constant, constant pads): dX = Pad(dY, -pads), i.e. dY with the padding cut off
 *     (and zeros where the forward cropped)
 *   Dropout (training mode): Y = X · mask with a mask the training loop feeds (Bernoulli
 *     keep-probability 1 - ratio, scaled by 1 / (1 - ratio), drawn from the run's seeded
 *     generator so that a resumed run draws the same masks); dX = dY · mask.
 */
import { attr, unsupportedGradient } from '../context.js';
import type { GradRule, GradRuleSet } from '../registry.js';
import { constantOf, norm } from '../shapes.js';
import type { Value } from '../../../ir/graph.js';
import { fail, ErrorCodes } from '../../../errors.js';
import { Tensor } from '../../../ir/tensor.js';

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

  r.register('Split', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const x = a.inputs[0]!;
      const rank = ctx.requireRank(x, a.node, 'Split gradient');
      const axis = norm(a.node.attrInt('axis', 0), rank);
      const parts = a.outputs.map((o, i) => {
        const d = a.dOutputs[i];
        if (d) return d;
        // an output that does not reach the loss: its share of dX is 0
        return ctx.op('ConstantOfShape', [ctx.shapeOf(o!)], { value: attr.tensor(Tensor.fromFloat32('', [1], new Float32Array(1))) });
      });
      const out = ctx.op('Concat', parts, { axis: attr.int(axis) });
      ctx.setShape(out, ctx.dims(x));
      return [out];
    },
  });

  r.register('Slice', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const node = a.node;
      const x = a.inputs[0]!;
      const rank = ctx.requireRank(x, node, 'Slice gradient');
      const unsupported = (why: string): never => unsupportedGradient(node, why);
      const read = (i: number, name: string): number[] | undefined => {
        const v = a.inputs[i];
        return node.attrInts(name) ?? (v ? ctx.fixedInts(v, node, name) : undefined);
      };
      const starts = read(1, 'starts')!;
      const ends = read(2, 'ends')!;
      const axes = (read(3, 'axes') ?? starts.map((_, i) => i)).map((ax) => norm(ax, rank));
      const steps = read(4, 'steps') ?? starts.map(() => 1);
      if (steps.some((st) => st !== 1)) unsupported('steps other than 1');
      const xd = ctx.dims(x);
      const pads = new Array<number>(2 * rank).fill(0);
      axes.forEach((ax, k) => {
        const dim = xd?.[ax];
        if (typeof dim !== 'number') unsupported(`the size of sliced axis ${ax} is not known when the graph is built`);
        const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + (dim as number) : v, 0), dim as number);
        const b = clamp(starts[k]!);
        const e = Math.max(clamp(ends[k]!), b);
        pads[ax] = b;
        pads[rank + ax] = (dim as number) - e;
      });
      const out = ctx.op('Pad', [a.dOutputs[0]!, ctx.constI64(pads)], { mode: attr.str('constant') });
      ctx.setShape(out, xd);
      return [out];
    },
  });

  r.register('Pad', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const node = a.node;
      const x = a.inputs[0]!;
      const mode = node.attrString('mode', 'constant');
      if (mode !== 'constant') unsupportedGradient(node, `Pad mode "${mode}" (only constant padding has a gradient rule)`);
      const pads = node.attrInts('pads') ?? ctx.fixedInts(a.inputs[1]!, node, 'pads');
      const inputs: (Value | null)[] = [a.dOutputs[0]!, ctx.constI64(pads.map((p) => -p))];
      const axes = a.inputs[3];
      if (axes) inputs.push(null, ctx.constI64(ctx.fixedInts(axes, node, 'axes')));
      const out = ctx.op('Pad', inputs, { mode: attr.str('constant') });
      ctx.setShape(out, ctx.dims(x));
      return [out];
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
