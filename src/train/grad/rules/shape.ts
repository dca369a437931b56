/**
 * Operators that move data without arithmetic, and Dropout.
 *
 *   Flatten, Reshape, Squeeze, Unsqueeze: dX = Reshape(dY, Shape(X))
 *   Transpose(perm): dX = Transpose(dY, perm⁻¹)
 *   Concat(axis): dX_i = Split(dY, [size_i...], axis)_i (sizes static or from Shape(X_i))
 *   Split(axis): dX = Concat(dY_i, axis), zeros for an output that does not reach the loss
 *   Slice (starts, ends, axes, steps fixed when the graph is built; steps > 0): dX = Pad(dY) with
 *     the rows the slice left out (begin = start, end = dim - end, clamped as Slice clamps; the
 *     sliced axes' dims static); a step s > 1 first spreads dY's rows s apart (zeros between)
 *   Gather(axis) with a scalar index: dX = Pad(Unsqueeze(dY, axis)) to the row; 1-D indices:
 *     dY (the axis moved last) times OneHot(indices, dim) [k, dim] (repeated indices add up)
 *   Pad (mode constant, constant pads): dX = Pad(dY, -pads), i.e. dY with the padding cut off
 *     (and zeros where the forward cropped); reflect: the padded rows' gradients added back onto
 *     the rows they mirror (reversed Slices, placed by Pads); edge: summed onto the first and
 *     last rows; axis by axis, the padded axes' sizes static
 *   Dropout (training mode): Y = X · mask with a mask the training loop feeds (Bernoulli
 *     keep-probability 1 - ratio, scaled by 1 / (1 - ratio), drawn from the run's seeded
 *     generator so that a resumed run draws the same masks); dX = dY · mask.
 */
import { attr, unsupportedGradient, type GradContext } from '../context.js';
import type { GradRule, GradRuleSet } from '../registry.js';
import { constantOf, norm } from '../shapes.js';
import type { Node, Value } from '../../../ir/graph.js';
import { fail, ErrorCodes } from '../../../errors.js';
import { Tensor } from '../../../ir/tensor.js';

/** The permutation that undoes `perm`. */
function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** The gradient of a reflect or edge Pad: each padded axis folded back onto X's rows, axis by axis. */
function foldPadded(ctx: GradContext, node: Node, dy: Value, x: Value, pads: readonly number[], axesGiven: readonly number[] | undefined, mode: string): Value {
  const rank = ctx.requireRank(x, node, 'Pad gradient');
  const xd = ctx.dims(x);
  const axes = (axesGiven ?? Array.from({ length: rank }, (_, i) => i)).map((ax) => norm(ax, rank));
  const slice = (v: Value, axis: number, from: number, to: number, step = 1): Value => ctx.op('Slice', [v, ctx.constI64([from]), ctx.constI64([to]), ctx.constI64([axis]), ctx.constI64([step])]);
  const place = (v: Value, axis: number, before: number, after: number): Value => {
    const p = new Array<number>(2 * rank).fill(0);
    p[axis] = before;
    p[rank + axis] = after;
    return ctx.op('Pad', [v, ctx.constI64(p)], { mode: attr.str('constant') });
  };
  let g = dy;
  axes.forEach((axis, k) => {
    const [b, e] = [pads[k]!, pads[k + axes.length]!];
    if (b === 0 && e === 0) return;
    const d = xd?.[axis];
    if (typeof d !== 'number') unsupportedGradient(node, `the size of padded axis ${axis} is not known when the graph is built`);
    if (b < 0 || e < 0) unsupportedGradient(node, `negative pads in mode ${mode}`);
    if (mode === 'reflect' && (b > d - 1 || e > d - 1)) unsupportedGradient(node, `reflect pads larger than the axis (${d}) allows`);
    const parts = [slice(g, axis, b, b + d)];
    if (mode === 'reflect') {
      // Y[i] = X[b - i] before X, Y[b + d + t] = X[d - 2 - t] after it
      if (b > 0) parts.push(place(slice(g, axis, b - 1, -Number.MAX_SAFE_INTEGER, -1), axis, 1, d - 1 - b));
      if (e > 0) parts.push(place(slice(g, axis, b + d + e - 1, b + d - 1, -1), axis, d - 1 - e, 1));
    } else {
      if (b > 0) parts.push(place(ctx.reduceSum(slice(g, axis, 0, b), [axis], true), axis, 0, d - 1));
      if (e > 0) parts.push(place(ctx.reduceSum(slice(g, axis, b + d, b + d + e), [axis], true), axis, d - 1, 0));
    }
    g = parts.slice(1).reduce((sum, p) => ctx.op('Add', [sum, p]), parts[0]!);
  });
  ctx.setShape(g, xd);
  return g;
}

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
      return [ctx.transpose(a.dOutputs[0]!, inversePerm(perm))];
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
      if (steps.some((st) => st < 1)) unsupported('negative steps');
      const xd = ctx.dims(x);
      const pads = new Array<number>(2 * rank).fill(0);
      let g = a.dOutputs[0]!;
      let gd = ctx.dims(a.outputs[0]!);
      axes.forEach((ax, k) => {
        const dim = xd?.[ax];
        const step = steps[k]!;
        if (typeof dim !== 'number' && step === 1 && starts[k]! >= 0 && ends[k]! >= Number.MAX_SAFE_INTEGER) {
          // from a row to the end of an axis whose size is known only at run time (e.g. the batch)
          pads[ax] = starts[k]!;
          return;
        }
        if (typeof dim !== 'number') unsupported(`the size of sliced axis ${ax} is not known when the graph is built`);
        const d = dim as number;
        const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
        const b = clamp(starts[k]!);
        const e = Math.max(clamp(ends[k]!), b);
        const count = Math.ceil((e - b) / step);
        pads[ax] = b;
        pads[rank + ax] = d - b - count * step;
        if (step > 1 && count > 0) {
          // rows s apart: [.., count, ..] -> [.., count, s, ..] with zeros after each row -> [.., count·s, ..]
          if (!gd || gd.some((v, i) => i > ax && typeof v !== 'number')) unsupported('a strided slice with axes after it whose sizes are not static');
          const spread = ctx.op('Pad', [ctx.unsqueeze(g, [ax + 1]), ctx.constI64(Array.from({ length: 2 * (rank + 1) }, (_, i) => (i === rank + 1 + ax + 1 ? step - 1 : 0)))], { mode: attr.str('constant') });
          const shape = gd!.map((v, i) => (i < ax ? 0 : i === ax ? count * step : (v as number)));
          g = ctx.reshape(spread, ctx.constI64(shape));
          gd = gd!.map((v, i) => (i === ax ? count * step : v));
          ctx.setShape(g, gd);
        }
      });
      const out = ctx.op('Pad', [g, ctx.constI64(pads)], { mode: attr.str('constant') });
      ctx.setShape(out, xd);
      return [out];
    },
  });

  r.register('Gather', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const node = a.node;
      const [x, indices] = [a.inputs[0]!, a.inputs[1]!];
      const dy = a.dOutputs[0]!;
      const rank = ctx.requireRank(x, node, 'Gather gradient');
      const axis = norm(node.attrInt('axis', 0), rank);
      const dim = ctx.dims(x)?.[axis];
      const xd = ctx.dims(x);
      const idx = ctx.constInts(indices);
      const irank = ctx.rank(indices) ?? (idx && constantOf(indices)?.dims.length);
      if (irank === 0 && idx && typeof dim === 'number') {
        // one row: dY back in place, zeros around it
        const at = idx[0]! < 0 ? idx[0]! + dim : idx[0]!;
        const pads = new Array<number>(2 * rank).fill(0);
        pads[axis] = at;
        pads[rank + axis] = dim - at - 1;
        const out = ctx.op('Pad', [ctx.unsqueeze(dy, [axis]), ctx.constI64(pads)], { mode: attr.str('constant') });
        ctx.setShape(out, xd);
        return [out];
      }
      if (irank !== 0 && irank !== 1) unsupportedGradient(node, 'indices of rank other than 0 and 1 (or of unknown rank)');
      // a scalar index known only at run time: as one index of a 1-D list
      const [rows, list] = irank === 0 ? [ctx.unsqueeze(dy, [axis]), ctx.unsqueeze(indices, [0])] : [dy, indices];
      // dY with the gathered axis last, times the one-hot rows of the indices: repeated indices add up
      const depth = typeof dim === 'number' ? ctx.constI64([dim]) : ctx.op('Slice', [ctx.shapeOf(x), ctx.constI64([axis]), ctx.constI64([axis + 1])]);
      const onehot = ctx.op('OneHot', [list, depth, ctx.constF32([0, 1])], { axis: attr.int(-1) });
      const perm = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis).concat([axis]);
      const out = ctx.transpose(ctx.op('MatMul', [ctx.transpose(rows, perm), onehot]), inversePerm(perm));
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
      if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') unsupportedGradient(node, `Pad mode "${mode}" (constant, reflect and edge have gradient rules)`);
      const pads = node.attrInts('pads') ?? ctx.fixedInts(a.inputs[1]!, node, 'pads');
      if (mode !== 'constant') return [foldPadded(ctx, a.node, a.dOutputs[0]!, x, pads, a.inputs[3] ? ctx.fixedInts(a.inputs[3], node, 'axes') : undefined, mode)];
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
