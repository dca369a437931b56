/**
 * upgrade-opset: raises the model's ai.onnx opset (from 7 or later) to `to`, rewriting the
 * operators whose signature changed on the way, as the ONNX version converter's adapters do.
 *
 * Rules (every graph, subgraphs included; nodes of other domains are left alone):
 * 1. BatchNormalization (6→7, 8→9): `is_test` (when not 0) and `spatial` (when 1) are
 *    dropped; `spatial=0` has no later form and is an unsupported-op error.
 * 2. Dropout (6→7): `is_test` is dropped. Dropout (11→12): a `ratio` attribute becomes the
 *    ratio input (a float scalar initializer).
 * 3. Upsample: (→9) a `scales` attribute becomes the scales input; (→10/11) the node becomes
 *    Resize with the same mode. Resize 10→11 gets the empty roi input and, so that the
 *    result stays Upsample's / Resize-10's (output index i reads input floor(i / scale)),
 *    `coordinate_transformation_mode=asymmetric` and, for nearest, `nearest_mode=floor`
 *    (ONNX's own adapter leaves the opset-11 default half_pixel, which moves the samples).
 * 4. Slice (9→10): `starts`, `ends`, `axes` attributes become int64 inputs.
 * 5. Clip (10→11): `min`/`max` attributes become float scalar inputs (an absent bound stays
 *    absent).
 * 6. Pad (10→11): `pads` becomes an int64 input and `value` (default 0) a scalar input of
 *    the data's type (float when the type is unknown).
 * 7. TopK (9→10): `k` becomes an int64 [1] input.
 * 8. Squeeze, Unsqueeze, ReduceSum (12→13): an `axes` attribute becomes an int64 input;
 *    Split (12→13): `split` becomes an int64 input.
 * 9. Softmax, LogSoftmax, Hardmax (12→13) keep their meaning only when `axis` is the last
 *    axis (-1, or rank-1 with a known rank); otherwise unsupported-op.
 * 10. MaxPool, AveragePool, Reduce*, Conv and every other operator whose newer versions
 *    only add attributes, types or optional inputs are kept as they are.
 * 11. Operators with a breaking change this pass has no adapter for (Scan 8→9, Scatter
 *    →11) and models below opset 7 are unsupported-op errors naming the node; nothing is
 *    changed then. A model already at `to` or later is left unchanged.
 * Constants the adapters need are new initializers (not graph inputs).
 */
import { definePass } from '../src/pass/pass.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import { walkGraphs } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { DataType } from '../src/ir/dtype.js';
import { tensorTypeOf } from '../src/ir/types.js';
import { fail, ErrorCodes } from '../src/errors.js';

/** The lowest opset this pass upgrades from. */
export const UPGRADE_FROM_MIN = 7;

export const upgradeOpset = definePass({
  name: 'upgrade-opset',
  summary: 'Raise the ai.onnx opset (7 or later) to `to`, rewriting changed operators as the ONNX version converter does.',
  description:
    'Attribute-to-input adapters (Slice, Clip, Pad, TopK, Squeeze/Unsqueeze/ReduceSum/Split at 13, Dropout at 12), Upsample → Resize, BatchNormalization spatial/is_test removal; breaking changes without an adapter are errors.',
  options: [{ name: 'to', type: 'integer', doc: 'target ai.onnx opset', default: 11, min: 8, max: 13 }],
  preserves: ['topologically-sorted', 'no-identity', 'no-dead-code', 'batchnorm-folded', 'weights-binarized', 'activations-binarized', 'calibrated'],
  run(model, ctx, o) {
    const to = o.to;
    const from = model.opsetVersion('');
    if (from === undefined) fail(ErrorCodes.ONNX_INVALID, 'the model has no ai.onnx opset import');
    if (from >= to) return { changed: false };
    if (from < UPGRADE_FROM_MIN) fail(ErrorCodes.UNSUPPORTED_OP, `the model uses ai.onnx opset ${from}; upgrade-opset starts from opset ${UPGRADE_FROM_MIN}`);
    // Check every node first, so an unsupported one leaves the model untouched.
    const graphs = [...walkGraphs(model.graph)];
    for (const g of graphs) for (const n of g.nodes) if (isDefaultDomain(n)) checkSupported(n, from, to);
    for (const g of graphs) {
      for (const n of [...g.nodes]) {
        if (!isDefaultDomain(n)) continue;
        const op = n.opType;
        if (adapt(g, n, from, to)) ctx.stat(`adapted-${op}`);
      }
    }
    const imp = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')!;
    imp.version = to;
    ctx.note(`ai.onnx opset ${from} → ${to}`);
    return { changed: true };
  },
});

const isDefaultDomain = (n: Node): boolean => n.domain === '' || n.domain === 'ai.onnx';
const crosses = (from: number, to: number, v: number): boolean => from < v && to >= v;
const unsupported = (n: Node, why: string): never => fail(ErrorCodes.UNSUPPORTED_OP, `upgrade-opset: node ${n.label}: ${why}`, { node: n.name, op: n.opType });

function checkSupported(n: Node, from: number, to: number): void {
  switch (n.opType) {
    case 'Scan':
      if (crosses(from, to, 9)) unsupported(n, 'Scan changed at opset 9 (batch axis removed); no adapter');
      return;
    case 'Scatter':
      if (crosses(from, to, 11)) unsupported(n, 'Scatter is replaced by ScatterElements at opset 11; no adapter');
      return;
    case 'BatchNormalization':
      if (crosses(from, to, 9) && n.attrInt('spatial', 1) !== 1) unsupported(n, 'spatial=0 has no form after opset 8');
      return;
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax': {
      if (!crosses(from, to, 13)) return;
      const axis = n.attrInt('axis', 1)!;
      const rank = tensorTypeOf(n.inputs[0] ?? undefined)?.shape?.length;
      if (axis !== -1 && !(rank !== undefined && axis === rank - 1)) unsupported(n, `axis=${axis} changes meaning at opset 13 (it coerced to 2-D before); only the last axis is upgraded`);
      return;
    }
    default:
      return;
  }
}

/** Rewrites `n` for the target opset; returns whether it changed. */
function adapt(g: Graph, n: Node, from: number, to: number): boolean {
  let changed = false;
  const drop = (name: string): void => {
    if (n.attributes.delete(name)) changed = true;
  };
  switch (n.opType) {
    case 'BatchNormalization':
      drop('is_test');
      drop('spatial');
      drop('consumed_inputs');
      return changed;
    case 'Dropout':
      drop('is_test');
      if (crosses(from, to, 12) && n.attributes.has('ratio')) {
        const r = n.attrFloat('ratio', 0.5)!;
        n.attributes.delete('ratio');
        setInputAt(n, 1, floatScalar(g, `${n.name || 'Dropout'}_ratio`, r));
        changed = true;
      }
      return changed;
    case 'Upsample':
      return upgradeUpsample(g, n, from, to);
    case 'Resize':
      if (crosses(from, to, 11)) {
        resize10to11(g, n);
        return true;
      }
      return false;
    case 'Slice':
      if (crosses(from, to, 10) && n.attributes.has('starts')) {
        for (const [i, a] of (['starts', 'ends', 'axes'] as const).entries()) {
          const v = n.attrInts(a);
          if (v === undefined) continue;
          setInputAt(n, i + 1, int64Vector(g, `${n.name || 'Slice'}_${a}`, v));
          n.attributes.delete(a);
        }
        return true;
      }
      return false;
    case 'Clip':
      if (crosses(from, to, 11) && (n.attributes.has('min') || n.attributes.has('max'))) {
        for (const [i, a] of (['min', 'max'] as const).entries()) {
          if (!n.attributes.has(a)) continue;
          setInputAt(n, i + 1, floatScalar(g, `${n.name || 'Clip'}_${a}`, n.attrFloat(a)!));
          n.attributes.delete(a);
        }
        return true;
      }
      return false;
    case 'Pad':
      if (crosses(from, to, 11) && n.attributes.has('pads')) {
        const pads = n.attrInts('pads')!;
        const value = n.attrFloat('value', 0)!;
        setInputAt(n, 1, int64Vector(g, `${n.name || 'Pad'}_pads`, pads));
        const elem = tensorTypeOf(n.inputs[0] ?? undefined)?.elemType ?? DataType.FLOAT;
        if (value !== 0 || elem === DataType.FLOAT) setInputAt(n, 2, scalarOf(g, `${n.name || 'Pad'}_value`, value, elem, n));
        n.attributes.delete('pads');
        n.attributes.delete('value');
        return true;
      }
      return false;
    case 'TopK':
      if (crosses(from, to, 10) && n.attributes.has('k')) {
        setInputAt(n, 1, int64Vector(g, `${n.name || 'TopK'}_k`, [n.attrInt('k')!]));
        n.attributes.delete('k');
        return true;
      }
      return false;
    case 'Squeeze':
    case 'Unsqueeze':
    case 'ReduceSum':
      if (crosses(from, to, 13) && n.attributes.has('axes')) {
        setInputAt(n, 1, int64Vector(g, `${n.name || n.opType}_axes`, n.attrInts('axes')!));
        n.attributes.delete('axes');
        return true;
      }
      return false;
    case 'Split':
      if (crosses(from, to, 13) && n.attributes.has('split')) {
        setInputAt(n, 1, int64Vector(g, `${n.name || 'Split'}_split`, n.attrInts('split')!));
        n.attributes.delete('split');
        return true;
      }
      return false;
    default:
      return false;
  }
}

function upgradeUpsample(g: Graph, n: Node, from: number, to: number): boolean {
  let changed = false;
  if (n.attributes.has('scales')) {
    // Upsample-7: scales attribute → input (Upsample-9).
    setInputAt(n, 1, floatVector(g, `${n.name || 'Upsample'}_scales`, n.attrFloats('scales')!));
    n.attributes.delete('scales');
    changed = true;
  }
  if (to < 10) return changed;
  // Upsample → Resize (10), then → 11: same inputs, same mode.
  const mode = n.attrString('mode', 'nearest')!;
  n.opType = 'Resize';
  n.attributes.clear();
  n.setAttr('mode', { type: 'string', value: new TextEncoder().encode(mode) });
  if (to >= 11) resize10to11(g, n);
  return true;
}

/** Resize-10 (X, scales) → Resize-11 (X, roi, scales) with Resize-10's sampling. */
function resize10to11(g: Graph, n: Node): void {
  const scales = n.inputs[1] ?? null;
  n.truncateInputs(1);
  n.addInput(floatVector(g, `${n.name || 'Resize'}_roi`, []));
  n.addInput(scales);
  const mode = n.attrString('mode', 'nearest')!;
  n.setAttr('coordinate_transformation_mode', { type: 'string', value: new TextEncoder().encode('asymmetric') });
  if (mode === 'nearest') n.setAttr('nearest_mode', { type: 'string', value: new TextEncoder().encode('floor') });
}

function setInputAt(n: Node, index: number, v: Value): void {
  while (n.inputs.length < index) n.addInput(null);
  if (n.inputs.length === index) n.addInput(v);
  else n.setInput(index, v);
}

function int64Vector(g: Graph, name: string, values: readonly number[]): Value {
  return g.addInitializer(Tensor.fromInt64(rootUnique(g, name), [values.length], values));
}

function floatVector(g: Graph, name: string, values: readonly number[]): Value {
  return g.addInitializer(Tensor.fromFloat32(rootUnique(g, name), [values.length], Float32Array.from(values)));
}

function floatScalar(g: Graph, name: string, v: number): Value {
  return g.addInitializer(Tensor.fromFloat32(rootUnique(g, name), [], Float32Array.of(v)));
}

function scalarOf(g: Graph, name: string, v: number, elem: number, n: Node): Value {
  const nm = rootUnique(g, name);
  switch (elem) {
    case DataType.FLOAT:
      return floatScalar(g, nm, v);
    case DataType.INT64:
      return g.addInitializer(Tensor.fromInt64(nm, [], [v]));
    case DataType.INT32:
      return g.addInitializer(Tensor.fromInt32(nm, [], Int32Array.of(v)));
    default:
      return unsupported(n, `a non-zero pad value for a tensor of element type ${elem} has no adapter`);
  }
}

/** A name unused in `g`, its enclosing graphs and their subgraphs. */
function rootUnique(g: Graph, name: string): string {
  let root: Graph = g;
  while (root.parent) root = root.parent;
  const taken = (s: string): boolean => {
    for (const x of walkGraphs(root)) if (x.get(s)) return true;
    return false;
  };
  if (!taken(name)) return name;
  for (let i = 1; ; i++) if (!taken(`${name}_${i}`)) return `${name}_${i}`;
}

