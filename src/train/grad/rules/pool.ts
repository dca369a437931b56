/**
 * Pooling.
 *
 * MaxPool of a phase-layout input (a planned 2x2/2 pool after Conv -> BatchNormalization,
 *   phase-layout.ts): ReduceMax and ArgMax over the phase axis; dX = [ArgMax = phase] · dY.
 * MaxPool otherwise: the training forward also asks for the Indices output (flat positions in X,
 *   counting batch and channel, padding excluded); the backward scatters dY to those
 *   positions with ScatterElements(reduction=add), so overlapping windows that pick the same
 *   element add up, and reshapes to X. Any kernel, stride, pad, dilation and ceil_mode.
 * AveragePool: dX = ConvTranspose(dY / D, ones[C,1,k...], group=C) with the forward's
 *   strides, pads and dilations, sized back to X like the Conv input gradient. D is the
 *   window size, or with count_include_pad=0 and pads the number of real (non-pad) entries
 *   per window, computed as AveragePool(ones, count_include_pad=1)·|k|. ceil_mode is
 *   supported when it does not change the output size.
 * GlobalAveragePool: dX = Expand(dY · |Y| / |X|, Shape(X)); with static planes of P positions the
 *   factor is the constant 1/P, and on 1×1 planes dX = dY.
 */
import { attr } from '../context.js';
import type { GradRuleSet } from '../registry.js';
import { spatialOut, windowGeometry } from '../shapes.js';
import { transposedWindow } from './conv.js';
import { Tensor } from '../../../ir/tensor.js';
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import type { Attribute, Node, Value } from '../../../ir/graph.js';
import { fail, ErrorCodes } from '../../../errors.js';
import { phasePoolBackward, phasePoolForward } from '../phase-layout.js';

export function registerPool(r: GradRuleSet): void {
  r.register('MaxPool', {
    differentiableInputs: () => [0],
    forward(ctx, node, inputs) {
      if (node.attrInt('storage_order', 0) !== 0) {
        fail(ErrorCodes.UNSUPPORTED_OP, `cannot train through ${node.label}: storage_order=1 (column-major indices)`, { node: node.name, op: node.opType });
      }
      const lay = ctx.layoutOf(inputs[0]);
      if (lay && lay.kind !== 'nhwc') return phasePoolForward(ctx, inputs[0]!, lay);
      if (node.outputs.length >= 2 && node.outputs[1]!.name !== '') {
        const outs = ctx.copyNode(node, inputs);
        return { outputs: outs, saved: { indices: outs[1]! } };
      }
      // Ask for the indices too.
      const [y, indices] = ctx.ops('MaxPool', inputs, Object.fromEntries(node.attributes), 2);
      return { outputs: [y!], saved: { indices: indices! } };
    },
    backward(ctx, a) {
      const x = a.inputs[0]!;
      const dy = a.dOutputs[0]!;
      const lay = ctx.layoutOf(x);
      if (lay && lay.kind !== 'nhwc') return [phasePoolBackward(ctx, dy, lay, a.saved['phase']!)];
      const unpool = maxUnpoolAttrs(a.node, ctx.dims(x));
      if (unpool) {
        const out = ctx.op('MaxUnpool', [dy, a.saved['indices']!, ctx.shapeOf(x)], unpool);
        ctx.setShape(out, ctx.dims(x));
        return [out];
      }
      const flat = ctx.constI64([-1]);
      const zeros = ctx.op('ConstantOfShape', [ctx.reshape(ctx.op('Size', [x]), ctx.constI64([1]))], {
        value: attr.tensor(Tensor.fromFloat32('', [1], Float32Array.of(0))),
      });
      const scattered = ctx.op('ScatterElements', [zeros, ctx.reshape(a.saved['indices']!, flat), ctx.reshape(dy, flat)], {
        axis: attr.int(0),
        reduction: attr.str('add'),
      });
      return [ctx.reshapeLike(scattered, x)];
    },
  });

  r.register('AveragePool', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const node = a.node;
      const x = a.inputs[0]!;
      const dy = a.dOutputs[0]!;
      const kernel = node.attrInts('kernel_shape');
      const xd = ctx.dims(x);
      const channels = xd?.[1];
      if (!kernel || !xd || typeof channels !== 'number') {
        fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of ${node.label}: needs kernel_shape and a static channel count`, { node: node.name, op: node.opType });
      }
      const spatialIn: Dim[] = xd.slice(2);
      const geo = windowGeometry(node, spatialIn, kernel);
      if (!geo.pads) fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of ${node.label}: auto_pad needs static spatial dims`, { node: node.name, op: node.opType });
      if (node.attrInt('ceil_mode', 0) === 1) {
        const floorOut = spatialOut(spatialIn, geo, false);
        const ceilOut = spatialOut(spatialIn, geo, true);
        if (floorOut.some((d, i) => d === null || d !== ceilOut[i])) {
          fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of ${node.label}: ceil_mode=1 with partial windows`, { node: node.name, op: node.opType });
        }
      }
      const size = kernel.reduce((p, k) => p * k, 1);
      const padded = geo.pads.some((p) => p !== 0);
      let scaled: Value;
      if (padded && node.attrInt('count_include_pad', 0) === 0) {
        const ones = ctx.op('ConstantOfShape', [ctx.shapeOf(x)], { value: attr.tensor(Tensor.fromFloat32('', [1], Float32Array.of(1))) });
        const frac = ctx.op('AveragePool', [ones], { ...Object.fromEntries(node.attributes), count_include_pad: attr.int(1) });
        scaled = ctx.op('Div', [dy, ctx.op('Mul', [frac, ctx.scalar(size)])]);
      } else {
        scaled = ctx.op('Mul', [dy, ctx.scalar(1 / size)]);
      }
      const ones = ctx.constF32(new Array<number>(channels * size).fill(1), [channels, 1, ...kernel]);
      return [transposedWindow(ctx, scaled, ones, x, spatialIn, geo, channels)];
    },
  });

  r.register('GlobalAveragePool', {
    differentiableInputs: () => [0],
    backward(ctx, a) {
      const x = a.inputs[0]!;
      const y = a.outputs[0]!;
      const spatial = ctx.dims(x)?.slice(2);
      if (spatial && spatial.every((d) => typeof d === 'number')) {
        // static planes: the constant 1/P (the same float as |Y|/|X|, a correctly rounded
        // quotient of NC and NC·P); on 1×1 planes X is shaped like Y and dX = dY
        const positions = (spatial as number[]).reduce((p, d) => p * d, 1);
        if (positions === 1) return [a.dOutputs[0]!];
        return [ctx.op('Expand', [ctx.op('Mul', [a.dOutputs[0]!, ctx.scalar(1 / positions)]), ctx.shapeOf(x)])];
      }
      const toFloat = { to: attr.int(DataType.FLOAT) };
      const ratio = ctx.op('Div', [ctx.op('Cast', [ctx.op('Size', [y])], toFloat), ctx.op('Cast', [ctx.op('Size', [x])], toFloat)]);
      // scale the small dY, then one Expand over X's shape
      return [ctx.op('Expand', [ctx.op('Mul', [a.dOutputs[0]!, ratio]), ctx.shapeOf(x)])];
    },
  });
}

/**
 * MaxUnpool's attributes when `node`'s windows do not overlap (dilated extent <= stride on
 * every axis), else null. MaxUnpool(dY, indices, Shape(X)) then places each dY at its index:
 * no element is picked twice, so nothing needs summing. The attributes only have to keep
 * MaxUnpool's own size, (out - 1)·stride + kernel - pads, within X; a ceil_mode window that
 * runs past the end adds to the end pad (static dims), or the rule falls back to the scatter.
 */
function maxUnpoolAttrs(node: Node, xd: Dim[] | undefined): Record<string, Attribute> | null {
  const kernel = node.attrInts('kernel_shape');
  if (!kernel) return null;
  const rank = kernel.length;
  const spatialIn: Dim[] = xd && xd.length === rank + 2 ? xd.slice(2) : new Array<Dim>(rank).fill(null);
  const geo = windowGeometry(node, spatialIn, kernel);
  if (!geo.pads || kernel.some((k, i) => (k - 1) * geo.dilations[i]! + 1 > geo.strides[i]!)) return null;
  const pads = [...geo.pads];
  if (node.attrInt('ceil_mode', 0) === 1) {
    const out = spatialOut(spatialIn, geo, true);
    for (let i = 0; i < rank; i++) {
      const n = spatialIn[i];
      if (typeof n !== 'number' || typeof out[i] !== 'number') return null;
      const size = ((out[i] as number) - 1) * geo.strides[i]! + kernel[i]! - pads[i]! - pads[i + rank]!;
      if (size > n) pads[i + rank]! += size - n;
    }
  }
  return { kernel_shape: attr.ints(kernel), strides: attr.ints(geo.strides), pads: attr.ints(pads) };
}
