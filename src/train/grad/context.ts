/**
 * The emission context of the gradient builder: creates nodes in the training graph, keeps
 * shared constants, knows the static shapes it was told about, and hides the operator-set
 * differences of the few ops whose signature changed (Reduce*, Squeeze, Unsqueeze).
 *
 * Rules use it instead of touching the graph directly, so every node they add gets a unique
 * name under the forward node it belongs to (`<fwd node>/grad/<op>`), which makes the
 * training graph readable in `hbnn-onnx inspect` and error messages.
 */
import type { Attribute, Graph, Node, Value } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { DataType } from '../../ir/dtype.js';
import type { Dim } from '../../ir/types.js';
import { fail, ErrorCodes } from '../../errors.js';
import type { Layout, PhaseBlock, PlanesFactor, RoutedGrad } from './layout.js';
import { DEFAULT_BATCH_SIZE } from '../defaults.js';
import { constantOf } from './shapes.js';

/**
 * A gradient [rows, C, ...] formed as k⊙u + b⊙v + c with per-channel vectors k, b, c ([C],
 * broadcast along axis 1), u and v shaped like the gradient.
 */
export interface ChannelAffineSum {
  u: Value;
  k: Value;
  v: Value;
  b: Value;
  c: Value;
}

/** UNSUPPORTED_OP: the gradient of `node` cannot be built, because `why`. */
export function unsupportedGradient(node: Node, why: string): never {
  return fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of ${node.label}: ${why}`, { node: node.name, op: node.opType });
}

/** Attribute constructors (the IR stores ints as bigint). */
export const attr = {
  int: (v: number): Attribute => ({ type: 'int', value: BigInt(v) }),
  ints: (v: readonly number[]): Attribute => ({ type: 'ints', value: v.map((x) => BigInt(x)) }),
  float: (v: number): Attribute => ({ type: 'float', value: Math.fround(v) }),
  floats: (v: readonly number[]): Attribute => ({ type: 'floats', value: v.map((x) => Math.fround(x)) }),
  str: (v: string): Attribute => ({ type: 'string', value: new TextEncoder().encode(v) }),
  tensor: (t: Tensor): Attribute => ({ type: 'tensor', value: t }),
};

/**
 * Conv gradient forms a measurement can force (BuildOptions.convRules): dW from the kh·kw-fold
 * channels-last patches (`patches`: per-sample products or one MatMul, as perSampleProducts
 * says), or split by kernel rows (`rows`); dX as a Conv of dY with the flipped kernel
 * (`flipped`, NCHWc where it applies), or ConvTranspose (`transpose`), or for strided Convs by
 * phase decomposition (`phase`: one Conv of dY with the s² phases' sub-kernels as output
 * channels, then DepthToSpace; conv.ts phaseInputGrad; measured, not a default).
 */
export interface ConvRuleChoice {
  weightGrad?: 'patches' | 'rows';
  inputGrad?: 'flipped' | 'transpose' | 'phase';
  /** dW (both forms): per-sample products summed over the batch, or one MatMul with the batch in the reduction. */
  products?: 'per-sample' | 'one';
  /** Kernel-row dW with per-sample products: samples per batch chunk (default: about 6 MiB of operands per chunk, conv.ts batchChunk; 0: the whole batch at once). */
  chunk?: number;
  /** Kernel-row dW of a Conv on C = B channels: X channels-last from the forward NCHWc kernel's reordered input (default), or a Transpose (`false`). */
  reuseReordered?: boolean;
  /** Kernel-row dW: per-sample products while the partials are at most this many times the inputs (default ROWS_PER_SAMPLE_ALLOWANCE). */
  allowance?: number;
}

export class GradContext {
  readonly graph: Graph;
  /** ai.onnx version of the training graph (>= 17). */
  readonly opset: number;
  /** Static shapes of training-graph values (symbolic dims are strings, unknown dims null). */
  private readonly shapes = new Map<Value, Dim[]>();
  private readonly knownInts = new Map<Value, number[]>();
  private readonly consts = new Map<string, Value>();
  private readonly shapeOps = new Map<Value, Value>();
  private readonly nodeNames = new Set<string>();
  /** Name prefix for the nodes and values being emitted (the forward node's name). */
  scope = 'train';
  /** Channel block of onnxruntime's NCHWc Conv kernel on this CPU (nchwc.ts); 0: not used. */
  nchwcBlock = 0;
  /** Forced Conv gradient forms (measurements only); empty: chosen by shape. */
  convRules: ConvRuleChoice = {};
  /** Samples per step the graph is built for where the batch dim is not static (sizes batch chunks; any batch still runs). */
  batchHint = DEFAULT_BATCH_SIZE;
  /** BatchNormalization with its running statistics, not the batch's (BuildOptions.freezeBatchNormStats). */
  freezeBatchNormStats = false;
  /** Training-graph values whose layout is not the forward model's (see phase-layout.ts). */
  private readonly layouts = new Map<Value, Layout>();
  private readonly canonicalOf = new Map<Value, Value>();
  /** Conv -> BatchNormalization -> MaxPool 2x2 chains trained in the phase layout, by Conv node. */
  phaseBlocks = new Map<Node, PhaseBlock>();
  /**
   * How some gradient values were formed, for a consumer that can use the parts instead of
   * the value (then nothing reads the value and the builder drops its nodes): a phase pool's
   * routed gradient, a BatchNormalization input gradient k⊙u + b⊙v + c.
   */
  readonly routed = new Map<Value, RoutedGrad>();
  readonly channelAffine = new Map<Value, ChannelAffineSum>();
  /** Phase-planes Conv outputs kept as factors W4 · cols (phase-layout.ts). */
  readonly planesFactors = new Map<Value, PlanesFactor>();

  constructor(graph: Graph, opset: number) {
    this.graph = graph;
    this.opset = opset;
  }

  // ---- nodes ---------------------------------------------------------------------------

  /** Appends `op(inputs)` with `outputs` fresh outputs and returns them. */
  ops(op: string, inputs: (Value | null)[], attributes: Record<string, Attribute> = {}, outputs = 1, domain = ''): Value[] {
    const g = this.graph;
    const base = `${this.scope}/${op}`;
    const names = Array.from({ length: outputs }, (_, i) => g.uniqueName(outputs === 1 ? base : `${base}.${i}`));
    const node = g.createNode(op, inputs, names, { attributes, domain, name: this.nodeName(base) });
    g.append(node);
    return node.outputs;
  }

  /** Appends a single-output `op(inputs)`. */
  op(op: string, inputs: (Value | null)[], attributes: Record<string, Attribute> = {}): Value {
    return this.ops(op, inputs, attributes, 1)[0]!;
  }

  /** Appends a copy of forward node `node` reading `inputs`; returns its outputs. */
  copyNode(node: Node, inputs: (Value | null)[]): Value[] {
    const g = this.graph;
    const names = node.outputs.map((o) => (o.name === '' ? '' : g.uniqueName(o.name)));
    const copy = g.createNode(node.opType, inputs, names, { domain: node.domain, name: this.nodeName(node.name || node.opType) });
    for (const [k, a] of node.attributes) copy.attributes.set(k, a);
    g.append(copy);
    return copy.outputs;
  }

  /** A node name not used yet in the training graph (ONNX wants node names unique). */
  nodeName(base: string): string {
    let name = base;
    for (let k = 1; this.nodeNames.has(name); k++) name = `${base}_${k}`;
    this.nodeNames.add(name);
    return name;
  }

  // ---- constants -----------------------------------------------------------------------

  /** A float32 constant initializer, shared between all users of the same values. */
  constF32(values: readonly number[], dims: readonly number[] = [values.length]): Value {
    return this.constant('f', values, dims, () => Tensor.fromFloat32('', dims, Float32Array.from(values)));
  }

  /** A float32 scalar constant (shape []). */
  scalar(v: number): Value {
    return this.constF32([v], []);
  }

  /** An int64 constant initializer. */
  constI64(values: readonly number[], dims: readonly number[] = [values.length]): Value {
    return this.constant('i', values, dims, () => Tensor.fromInt64('', dims, values));
  }

  private constant(kind: string, values: readonly number[], dims: readonly number[], make: () => Tensor): Value {
    const key = `${kind}|${dims.join(',')}|${values.map((v) => (Object.is(v, -0) ? '-0' : String(v))).join(',')}`;
    const have = this.consts.get(key);
    if (have) return have;
    const name = this.graph.uniqueName(kind === 'f' ? 'const_f' : 'const_i');
    const v = this.graph.addInitializer(make(), name);
    this.setShape(v, [...dims]);
    this.consts.set(key, v);
    return v;
  }

  // ---- shapes --------------------------------------------------------------------------

  setShape(v: Value, dims: Dim[] | undefined): void {
    if (dims) this.shapes.set(v, dims);
  }

  /** Static dims of `v`, when known. */
  dims(v: Value): Dim[] | undefined {
    const s = this.shapes.get(v);
    if (s) return s;
    if (v.constValue) return [...v.constValue.dims];
    return undefined;
  }

  /** Records the integer contents the forward's shape analysis computed for `v` (shape arithmetic). */
  setKnownInts(v: Value, values: number[] | undefined): void {
    if (values) this.knownInts.set(v, values);
  }

  /**
   * The integer contents of `v` when they are fixed when the graph is built: a constant
   * (initializer or Constant node) or shape arithmetic the forward's shape analysis computed.
   */
  constInts(v: Value | null | undefined): number[] | undefined {
    if (!v) return undefined;
    return constantOf(v)?.values ?? this.knownInts.get(v);
  }

  /** constInts(v), or UNSUPPORTED_OP naming `node` and its input `what` when they are computed at run time. */
  fixedInts(v: Value, node: Node, what: string): number[] {
    const c = this.constInts(v);
    if (!c) unsupportedGradient(node, `its ${what} are computed at run time (training needs them fixed when the graph is built)`);
    return c;
  }

  rank(v: Value): number | undefined {
    return this.dims(v)?.length;
  }

  /** The rank of `v`, or UNSUPPORTED_OP naming `node` when it cannot be inferred. */
  requireRank(v: Value, node: Node, why: string): number {
    const r = this.rank(v);
    if (r === undefined) {
      fail(ErrorCodes.UNSUPPORTED_OP, `cannot build the gradient of ${node.label}: the rank of "${v.name}" is unknown (${why}); add shape information to the model (value_info)`, {
        node: node.name,
        op: node.opType,
      });
    }
    return r;
  }

  /** A `Shape(v)` node, emitted once per value. */
  shapeOf(v: Value): Value {
    let s = this.shapeOps.get(v);
    if (!s) {
      s = this.op('Shape', [v]);
      this.shapeOps.set(v, s);
    }
    return s;
  }

  /**
   * A 1-D int64 shape vector for `dims`: a constant when every dim is a number, else built at
   * run time from `Shape(like)` for the dims that are not numbers (`like` must have the same rank).
   */
  shapeVector(dims: readonly Dim[], like: Value): Value {
    if (dims.every((d) => typeof d === 'number')) return this.constI64(dims as number[]);
    const sh = this.shapeOf(like);
    const parts = dims.map((d, i) => (typeof d === 'number' ? this.constI64([d]) : this.op('Slice', [sh, this.constI64([i]), this.constI64([i + 1])])));
    return this.op('Concat', parts, { axis: attr.int(0) });
  }

  // ---- layouts ---------------------------------------------------------------------------

  /** The layout of `v` when it is not the forward model's own (undefined: same layout). */
  layoutOf(v: Value | null | undefined): Layout | undefined {
    return v ? this.layouts.get(v) : undefined;
  }

  setLayout(v: Value, layout: Layout | undefined): void {
    if (layout) this.layouts.set(v, layout);
  }

  /**
   * `v` in the forward model's layout: a channels-last value ([N, H, W, C]) transposed back to
   * [N, C, H, W] (once per value); any other value as it is.
   */
  canonical(v: Value): Value {
    const lay = this.layouts.get(v);
    if (lay?.kind !== 'nhwc') return v;
    let c = this.canonicalOf.get(v);
    if (!c) {
      c = this.transpose(v, [0, 3, 1, 2]);
      this.setShape(c, lay.canonical);
      this.canonicalOf.set(v, c);
    }
    return c;
  }

  /** A value of forward layout [N, C, H, W] (dims `canonical`) as channels-last [N, H, W, C]. */
  toChannelsLast(v: Value, canonical: Dim[]): Value {
    const out = this.transpose(v, [0, 2, 3, 1]);
    this.setShape(out, [canonical[0]!, canonical[2]!, canonical[3]!, canonical[1]!]);
    this.layouts.set(out, { kind: 'nhwc', canonical });
    return out;
  }

  /** Static dims of `v` in the forward model's layout. */
  canonicalDims(v: Value): Dim[] | undefined {
    const lay = this.layouts.get(v);
    return lay?.kind === 'nhwc' ? lay.canonical : this.dims(v);
  }

  // ---- operator-set dependent helpers --------------------------------------------------

  /** ReduceSum over `axes` (axes as an input since opset 13). */
  reduceSum(x: Value, axes: readonly number[], keepdims: boolean): Value {
    return this.op('ReduceSum', [x, this.constI64(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }

  /** 1 / sqrt(variance + eps): BatchNormalization's inverse standard deviation. */
  invStd(variance: Value, eps: number): Value {
    return this.op('Reciprocal', [this.op('Sqrt', [this.op('Add', [variance, this.scalar(eps)])])]);
  }

  /** ReduceMean over `axes` (an attribute before opset 18, an input from 18). */
  reduceMean(x: Value, axes: readonly number[], keepdims: boolean): Value {
    if (this.opset >= 18) return this.op('ReduceMean', [x, this.constI64(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
    return this.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  /** ReduceMax over `axes` (an attribute before opset 18, an input from 18). */
  reduceMax(x: Value, axes: readonly number[], keepdims: boolean): Value {
    if (this.opset >= 18) return this.op('ReduceMax', [x, this.constI64(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
    return this.op('ReduceMax', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  unsqueeze(x: Value, axes: readonly number[]): Value {
    return this.op('Unsqueeze', [x, this.constI64(axes)]);
  }

  squeeze(x: Value, axes: readonly number[]): Value {
    return this.op('Squeeze', [x, this.constI64(axes)]);
  }

  reshape(x: Value, shape: Value): Value {
    return this.op('Reshape', [x, shape]);
  }

  transpose(x: Value, perm: readonly number[]): Value {
    return this.op('Transpose', [x], { perm: attr.ints(perm) });
  }

  /** `x` with the layout of `like` (same element count): Reshape(x, Shape(like)). */
  reshapeLike(x: Value, like: Value): Value {
    const d = this.dims(like);
    const out = this.reshape(x, d && d.every((n) => typeof n === 'number') ? this.constI64(d as number[]) : this.shapeOf(like));
    this.setShape(out, d);
    return out;
  }

  /** 1.0 where `cond` holds, else 0.0 (float). */
  mask(cond: Value): Value {
    return this.op('Cast', [cond], { to: attr.int(DataType.FLOAT) });
  }

  /**
   * Sums a gradient `grad` (shaped like the broadcast result) down to the shape of operand
   * `operand` (numpy broadcasting: leading axes the operand lacks, and axes where it has size
   * 1). Uses static shapes when they decide every axis, else computes the axes at run time.
   */
  unbroadcast(grad: Value, operand: Value, gradDims: Dim[] | undefined): Value {
    const od = this.dims(operand);
    if (od && gradDims) {
      const lead = gradDims.length - od.length;
      if (lead >= 0) {
        const axes: number[] = [];
        let decided = true;
        for (let i = 0; i < gradDims.length; i++) {
          if (i < lead) {
            axes.push(i);
            continue;
          }
          const o = od[i - lead]!;
          const gdim = gradDims[i]!;
          if (o === 1) {
            if (gdim !== 1) axes.push(i);
          } else if (o === null || gdim === null || (typeof o === 'string' && o !== gdim)) {
            decided = false;
          }
        }
        if (decided) {
          if (axes.length === 0) return grad;
          const keepLeading = lead === 0;
          let r = this.reduceSum(grad, axes, true);
          if (!keepLeading) r = this.reshapeLike(r, operand);
          this.setShape(r, od);
          return r;
        }
      }
    }
    return this.unbroadcastAtRunTime(grad, operand);
  }

  private unbroadcastAtRunTime(grad: Value, operand: Value): Value {
    // pad Shape(operand) with leading 1s to the rank of grad, then reduce where it is 1 and the
    // gradient's dim is not.
    const gs = this.shapeOf(grad);
    const os = this.shapeOf(operand);
    const gRank = this.op('Shape', [gs]);
    const oRank = this.op('Shape', [os]);
    const lead = this.op('Sub', [gRank, oRank]);
    const ones = this.op('ConstantOfShape', [lead], { value: attr.tensor(Tensor.fromInt64('', [1], [1])) });
    const padded = this.op('Concat', [ones, os], { axis: attr.int(0) });
    const one = this.constI64([1], []);
    const reduce = this.op('And', [this.op('Equal', [padded, one]), this.op('Not', [this.op('Equal', [gs, one])])]);
    const axes = this.reshape(this.op('NonZero', [reduce]), this.constI64([-1]));
    const summed = this.op('ReduceSum', [grad, axes], { keepdims: attr.int(1), noop_with_empty_axes: attr.int(1) });
    return this.reshape(summed, os);
  }
}
