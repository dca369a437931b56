/**
 * import-qonnx: turns a QONNX / Brevitas / FINN model (quantizer operators in the domains
 * onnx.brevitas, qonnx.custom_op.general, finn.custom_op.general) into a model of standard
 * ONNX operators and this tool's quantized format, following the QONNX operator semantics
 * (github.com/fastmachinelearning/qonnx, docs/qonnx-custom-ops).
 *
 * Rules:
 * 1. Quant (IntQuant) and BipolarQuant nodes whose inputs are all constant (initializers
 *    that are not graph inputs, Constant nodes' tensors, or outputs of nodes folded by this
 *    rule) are evaluated in
 *    float32 exactly as QONNX defines them and replaced by initializers:
 *      Quant:        y = (round(clip(x / s + z, min, max)) - z) · s, with [min, max] from
 *                    `signed`, `narrow` and the bit width, round by `rounding_mode`;
 *      BipolarQuant: y = (x >= 0 ? +1 : -1) · s;
 *      FloatQuant:   y = clip(2^e · round(x/s / 2^e), -M, M) · s, the minifloat grid of
 *                    e-bit exponents and m-bit mantissas, e = max(floor(log2|x/s|) - m,
 *                    1 - bias - m) (subnormals below), M = min(max_val, the format's largest
 *                    value), round by `rounding_mode` (ROUND, CEIL, FLOOR); with
 *                    saturation=0, values beyond ±M become ±Inf (has_inf) or NaN (has_nan).
 *    FloatQuant (qonnx.custom_op.general, v1) on activations is unsupported-op with
 *    `activations=keep` (it is removed with `drop`).
 *    A Transpose of such a folded constant is folded too.
 * 2. With `bipolar-weights=planes`, a Conv/Gemm/MatMul weight that is a folded BipolarQuant
 *    (possibly transposed) becomes this tool's 1-bit binarized weight: one plane of the signs
 *    and its scale (per tensor, or per output channel when the BipolarQuant scale is), the
 *    same function exactly (checked entry by entry; otherwise the weight stays float). With
 *    `float` (the default) it stays the float constant ±s, for re-binarization.
 * 3. Quantizers on activations (inputs not constant), with `activations=keep`:
 *    - BipolarQuant with a scalar scale s becomes `ai.hbnn::BinarizeActivation` at 1 bit
 *      (scales [s, 0, 0], thresholds at +BIG): y = s · sign(x) with sign(0) = +1, the same
 *      function; other BipolarQuants become Where(x >= 0, s, -s) in standard operators.
 *    - Quant becomes Div, Add (zero point), Clip, the rounding (Round = half to even, Floor,
 *      Ceil; UP, DOWN, HALF_UP, HALF_DOWN from Sign, Abs, Floor, Ceil), Sub, Mul: the same
 *      function in float32.
 *    - Trunc (v1: 5 inputs; v2: 6 inputs with the output scale) becomes the same standard
 *      operators after its definition.
 *    - MultiThreshold becomes Unsqueeze, GreaterOrEqual against the thresholds, Cast,
 *      ReduceSum over the threshold axis, Mul by out_scale and Add of out_bias.
 *    With `activations=drop`, Quant, BipolarQuant and Trunc on activations are removed (their
 *    input passes through) so that quantization may insert its own binarizers; MultiThreshold
 *    is still expanded (it is the activation function itself).
 * 4. PyTorch's flatten `Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), C))` becomes
 *    `Reshape(x, [0, ...C])` (the batch size is copied, not computed), and its shape
 *    computation is removed when unused. Brevitas exports with a batch of 1: when the single
 *    data input and every graph output have a leading dimension of 1, it becomes the symbolic
 *    `batch` (intermediate value_info shapes are dropped), so any batch size runs.
 * 5. Any other operator of those domains is an unsupported-op error, raised before anything
 *    changes. Inside If/Loop/Scan bodies, Quant/BipolarQuant/FloatQuant nodes whose inputs
 *    are all initializers (of the body or of an enclosing graph) are folded by rule 1 in
 *    their body (the body's weights stay float: quantize does not binarize subgraph layers);
 *    any other quantizer inside a body is unsupported-op naming the node, the subgraph
 *    attribute and its owner node. Activation quantizers need ai.onnx opset 11 or later (run
 *    upgrade-opset first). A model without QONNX operators is left unchanged.
 * 6. What was imported is written to the model metadata `hbnn.import` (JSON) and as notes;
 *    the opset imports of those domains are removed (no node uses them any more).
 */
import { definePass, type PassContext } from '../src/pass/pass.js';
import type { Graph, Model, Node, Value } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { DataType } from '../src/ir/dtype.js';
import { setTensorType, tensorTypeOf } from '../src/ir/types.js';
import { fail, ErrorCodes } from '../src/errors.js';
import { FN_ACT, HBNN_DOMAIN, META_IMPORT, emptyRecord, ensureHbnnFunctions, readQuantRecord, updateAverageWeightBits, writeQuantRecord } from '../src/quant/format.js';
import { weightLayerOf } from '../src/quant/targets.js';
import { materializeWeight, quantizeLayerWeight, weightRecord, type LayerQuantSpec } from '../src/quant/weights.js';
import { BIG } from './insert-activation-binarization.js';

/** Operator domains of QONNX, Brevitas and FINN quantizers. */
export const QONNX_DOMAINS: readonly string[] = ['onnx.brevitas', 'qonnx.custom_op.general', 'finn.custom_op.general'];
const SUPPORTED = new Set(['Quant', 'IntQuant', 'BipolarQuant', 'FloatQuant', 'Trunc', 'MultiThreshold']);
/** Quantizers evaluated on constant inputs (rule 1). */
const FOLDABLE = new Set(['Quant', 'IntQuant', 'BipolarQuant', 'FloatQuant']);

export const isQonnxNode = (n: Node): boolean => QONNX_DOMAINS.includes(n.domain);

/** A value that is a constant for rule 1: an initializer that is not a graph input (in its own graph). */
const isConstantInput = (v: Value | null): boolean => !v || (v.isInitializer && !v.isGraphInput);

/** QONNX nodes inside subgraphs of the main graph's nodes (at any depth), with where they are. */
export function qonnxNodesInSubgraphs(g: Graph): { node: Node; owner: Node; attribute: string }[] {
  const out: { node: Node; owner: Node; attribute: string }[] = [];
  const walk = (x: Graph, owner: Node | undefined, attribute: string): void => {
    for (const n of x.nodes) {
      if (owner && isQonnxNode(n)) out.push({ node: n, owner, attribute });
      for (const [name, a] of n.attributes) {
        const bodies = a.type === 'graph' ? [a.value] : a.type === 'graphs' ? a.value : [];
        for (const b of bodies) walk(b, owner ?? n, owner ? `${attribute}/${n.label}.${name}` : name);
      }
    }
  };
  walk(g, undefined, '');
  return out;
}

/**
 * Rule 5 for subgraphs: the QONNX nodes inside bodies, to fold; UNSUPPORTED_OP naming the first
 * one that cannot be folded (not a weight quantizer on initializers, `constant` deciding
 * which values count as such), its owner node and the subgraph attribute.
 */
export function checkQonnxInSubgraphs(g: Graph, constant: (v: Value | null) => boolean = isConstantInput): Node[] {
  const nested = qonnxNodesInSubgraphs(g);
  const bad = nested.filter((f) => !FOLDABLE.has(f.node.opType) || !f.node.inputs.every(constant));
  if (bad.length > 0) {
    const f = bad[0]!;
    fail(
      ErrorCodes.UNSUPPORTED_OP,
      `import-qonnx: ${f.node.domain}::${f.node.opType} node ${f.node.label} is inside the subgraph '${f.attribute}' of node ${f.owner.label}` +
        `${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}; inside subgraphs only Quant, BipolarQuant and FloatQuant on initializers (weights) are imported`,
      { node: f.node.name, op: f.node.opType, subgraph: f.attribute, owner: f.owner.name },
    );
  }
  return nested.map((f) => f.node);
}

/** What the import did, as written to `hbnn.import`. */
export interface ImportRecord {
  source: string[];
  /** `subgraph`: the quantizer was inside an If/Loop/Scan body. */
  foldedWeights: { node: string; op: string; bits: number; subgraph?: true }[];
  binaryPlanes: string[];
  activations: { node: string; op: string; as: 'binarize-activation' | 'onnx-ops' | 'dropped' }[];
}

export const importQonnx = definePass({
  name: 'import-qonnx',
  summary: 'Import QONNX/Brevitas quantizers (Quant, BipolarQuant, FloatQuant, Trunc, MultiThreshold): fold them on weights, express or execute them on activations.',
  description:
    'Weights: quantizers evaluated exactly and folded (BipolarQuant optionally to 1-bit planes). Activations: BipolarQuant → 1-bit BinarizeActivation, the others → standard ONNX operators with the same float32 function, or dropped.',
  options: [
    { name: 'bipolar-weights', type: 'string', doc: 'BipolarQuant weights: float (±scale, re-binarized later) or planes (1-bit binarized weights, the same function)', default: 'float', choices: ['float', 'planes'] },
    { name: 'activations', type: 'string', doc: 'activation quantizers: keep (as binarizers or standard operators) or drop (for new binarizers)', default: 'keep', choices: ['keep', 'drop'] },
  ],
  preserves: ['topologically-sorted', 'no-identity', 'batchnorm-folded'],
  run(model, ctx, o) {
    const g = model.graph;
    const nested = checkQonnxInSubgraphs(g);
    const qnodes = g.nodes.filter(isQonnxNode);
    if (qnodes.length === 0 && nested.length === 0) return { changed: false };
    const bad = qnodes.filter((n) => !SUPPORTED.has(n.opType));
    if (bad.length > 0) {
      fail(ErrorCodes.UNSUPPORTED_OP, `import-qonnx: ${[...new Set(bad.map((n) => `${n.domain}::${n.opType}`))].join(', ')} (node ${bad[0]!.label}) not supported; supported: ${[...SUPPORTED].join(', ')}`, {
        node: bad[0]!.name,
        op: bad[0]!.opType,
      });
    }
    const opset = model.opsetVersion('') ?? 0;
    // Rule 1: quantizer parameters and weights given by Constant nodes are constants too.
    for (const n of qnodes) {
      n.inputs.forEach((v, i) => {
        const c = v?.producer;
        const t = c && c.isOnnx('Constant') ? c.attrTensor('value') : undefined;
        if (t) n.setInput(i, g.addInitializer(t.withNameAndDims(g.uniqueName(`${v!.name}__const`))));
      });
    }
    const constant = isConstantInput;
    const activationNodes = qnodes.filter((n) => !n.inputs.every(constant) || n.opType === 'Trunc' || n.opType === 'MultiThreshold');
    const floatActs = activationNodes.filter((n) => n.opType === 'FloatQuant');
    if (floatActs.length > 0 && o.activations !== 'drop') {
      fail(
        ErrorCodes.UNSUPPORTED_OP,
        `import-qonnx: FloatQuant on activations (node ${floatActs[0]!.label}) is not supported: only FloatQuant on constant weights is folded; quantize with --act-bits (activations=drop) to replace it by this tool's binarizers`,
        { node: floatActs[0]!.name, op: 'FloatQuant' },
      );
    }
    if (activationNodes.length > 0 && opset < 11) {
      fail(ErrorCodes.UNSUPPORTED_OP, `import-qonnx: activation quantizers need ai.onnx opset 11 or later; the model has ${opset} (run upgrade-opset first)`);
    }
    const rec: ImportRecord = { source: [...new Set([...qnodes, ...nested].map((n) => n.domain))], foldedWeights: [], binaryPlanes: [], activations: [] };
    // Rule 5: weight quantizers inside subgraphs, folded in their own body.
    for (const n of nested) {
      const { tensor, bits } = foldQuantizer(n);
      replaceByConstant(n.graph, n, tensor);
      rec.foldedWeights.push({ node: n.name, op: n.opType, bits, subgraph: true });
      ctx.stat('folded-subgraph-quantizers');
    }
    const bipolar = new Map<Value, { scale: Tensor }>();
    // Rule 1 and 3, in graph order (folded outputs are constants for later nodes).
    for (const n of [...g.nodes]) {
      if (isQonnxNode(n)) {
        if (n.inputs.every(constant) && FOLDABLE.has(n.opType)) {
          const { tensor, bits } = foldQuantizer(n);
          const scale = constOf(n.inputs[1]!);
          const out = replaceByConstant(g, n, tensor);
          if (n.opType === 'BipolarQuant') bipolar.set(out, { scale });
          rec.foldedWeights.push({ node: n.name, op: n.opType, bits });
          ctx.stat('folded-quantizers');
        } else {
          rec.activations.push({ node: n.name, op: n.opType, as: expandActivation(model, n, o.activations) });
          ctx.stat('activation-quantizers');
        }
      } else if (n.isOnnx('Transpose') && n.inputs[0] && bipolar.has(n.inputs[0]) && constant(n.inputs[0])) {
        const src = n.inputs[0];
        const perm = n.attrInts('perm');
        const t = transposeTensor(constOf(src), perm);
        const info = bipolar.get(src)!;
        const st = info.scale.size === 1 ? info.scale : transposeTensor(padScale(info.scale, constOf(src).dims.length), perm);
        if (src.uses.length === 1) bipolar.delete(src);
        const out = replaceByConstant(g, n, t);
        bipolar.set(out, { scale: st });
        ctx.stat('folded-transposes');
      }
    }
    // Rule 4.
    for (const n of [...g.nodes]) if (n.isOnnx('Reshape') && rewriteTorchFlatten(g, n)) ctx.stat('flatten-rewritten');
    if (freeBatch(g)) ctx.note('the batch dimension 1 of the export is now symbolic (batch)');
    // Rule 2.
    if (o['bipolar-weights'] === 'planes') binaryPlanes(model, bipolar, rec, ctx);
    // Opset imports of the quantizer domains are dropped once no node uses them.
    for (let i = model.opsetImports.length - 1; i >= 0; i--) {
      if (QONNX_DOMAINS.includes(model.opsetImports[i]!.domain)) model.opsetImports.splice(i, 1);
    }
    model.setMetadata(META_IMPORT, JSON.stringify(rec));
    const counts = (as: string): number => rec.activations.filter((a) => a.as === as).length;
    const inBodies = rec.foldedWeights.filter((f) => f.subgraph).length;
    ctx.note(
      `imported ${rec.source.join(', ')}: ${rec.foldedWeights.length} weight quantizers folded` +
        (inBodies ? ` (${inBodies} inside subgraphs, left float there)` : '') +
        (rec.binaryPlanes.length ? ` (${rec.binaryPlanes.length} as 1-bit planes)` : '') +
        `; activation quantizers: ${counts('binarize-activation')} as 1-bit binarizers, ${counts('onnx-ops')} as standard operators, ${counts('dropped')} dropped`,
    );
    return { changed: true };
  },
});

// ------------------------------------------------------------------------------------------
// Folding (rule 1)
// ------------------------------------------------------------------------------------------

const f32 = Math.fround;

function constOf(v: Value): Tensor {
  return v.constValue!;
}

function attrStr(n: Node, name: string, dflt: string): string {
  return n.attrString(name, dflt)!;
}

/** QONNX's integer range for a bit width. */
export function intRange(signed: boolean, narrow: boolean, bits: number): [number, number] {
  if (signed) return [narrow ? -(2 ** (bits - 1)) + 1 : -(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
  return [0, narrow ? 2 ** bits - 2 : 2 ** bits - 1];
}

/** QONNX rounding modes on a float32 value. */
export function roundBy(mode: string, x: number): number {
  switch (mode.toUpperCase()) {
    case 'ROUND':
    case 'HALF_EVEN': {
      const r = Math.round(x);
      return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r; // Math.round rounds half up; ties go to even
    }
    case 'CEIL':
      return Math.ceil(x);
    case 'FLOOR':
      return Math.floor(x);
    case 'UP':
      return Math.sign(x) * Math.ceil(Math.abs(x));
    case 'DOWN':
      return Math.trunc(x);
    case 'HALF_UP':
      return Math.sign(x) * Math.floor(f32(Math.abs(x) + 0.5));
    case 'HALF_DOWN':
      return Math.sign(x) * Math.ceil(f32(Math.abs(x) - 0.5));
    default:
      return fail(ErrorCodes.UNSUPPORTED_OP, `rounding_mode "${mode}" is not a QONNX rounding mode (ROUND, CEIL, FLOOR, UP, DOWN, HALF_UP, HALF_DOWN)`);
  }
}

/** `t` broadcast (numpy rules) to `dims`, as float32. */
function broadcastTo(t: Tensor, dims: readonly number[]): Float32Array {
  const src = t.toFloat32();
  const n = dims.reduce((a, b) => a * b, 1);
  if (src.length === 1) return new Float32Array(n).fill(src[0]!);
  const r = dims.length;
  const td = [...new Array<number>(Math.max(0, r - t.dims.length)).fill(1), ...t.dims];
  if (td.length !== r || td.some((d, i) => d !== 1 && d !== dims[i])) {
    fail(ErrorCodes.UNSUPPORTED_OP, `tensor "${t.name}" of shape [${t.dims.join(',')}] does not broadcast to [${dims.join(',')}]`);
  }
  const out = new Float32Array(n);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let a = 0; a < r; a++) k = k * td[a]! + (td[a] === 1 ? 0 : idx[a]!);
    out[i] = src[k]!;
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a]! < dims[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

function scalarOf(v: Value | null, what: string, n: Node): number {
  const t = v?.constValue;
  if (!t || t.size !== 1) fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: ${what} must be a constant scalar`, { node: n.name, op: n.opType });
  return t.toNumberArray()[0]!;
}

/** Evaluates a Quant/BipolarQuant/FloatQuant on constant inputs in float32. `bits` is the total width (FloatQuant: 1 + exponent + mantissa). */
export function foldQuantizer(n: Node): { tensor: Tensor; bits: number } {
  const x = constOf(n.inputs[0]!);
  const xs = x.toFloat32();
  const dims = x.dims;
  const out = new Float32Array(xs.length);
  if (n.opType === 'FloatQuant') return foldFloatQuant(n, xs, dims);
  if (n.opType === 'BipolarQuant') {
    const s = broadcastTo(constOf(n.inputs[1]!), dims);
    for (let i = 0; i < xs.length; i++) out[i] = xs[i]! >= 0 ? s[i]! : -s[i]!;
    return { tensor: Tensor.fromFloat32(n.outputs[0]!.name, dims, out), bits: 1 };
  }
  const s = broadcastTo(constOf(n.inputs[1]!), dims);
  const z = broadcastTo(constOf(n.inputs[2]!), dims);
  const bits = scalarOf(n.inputs[3] ?? null, 'the bit width', n);
  const [lo, hi] = intRange(n.attrInt('signed', 1) === 1, n.attrInt('narrow', 0) === 1, bits);
  const mode = attrStr(n, 'rounding_mode', 'ROUND');
  for (let i = 0; i < xs.length; i++) {
    let y = f32(f32(xs[i]! / s[i]!) + z[i]!);
    y = y > hi ? hi : y < lo ? lo : y;
    y = roundBy(mode, y);
    out[i] = f32(f32(y - z[i]!) * s[i]!);
  }
  return { tensor: Tensor.fromFloat32(n.outputs[0]!.name, dims, out), bits };
}

/** The float32 value nearest above 0 (numpy's finfo(float32).tiny), QONNX's eps in FloatQuant. */
const F32_TINY = 2 ** -126;

/** The largest value of a minifloat format (QONNX compute_max_val): (2 - 2^-m) · 2^(2^e - 1 - bias). */
export function minifloatMax(expBits: number, mantBits: number, bias: number): number {
  let mant = 0;
  for (let k = 0; k <= mantBits; k++) mant += 2 ** -k;
  return mant * 2 ** (2 ** expBits - 1 - bias);
}

/**
 * FloatQuant (QONNX v1) on constants, following the qonnx reference float_quant in float32:
 * x' = x / s; e = max(floor(log2(|x'| + tiny)) - m, 1 - bias - m); q = 2^e · round(x' / 2^e);
 * clip to ±min(max_val, minifloatMax); with saturation=0 the values beyond become ±Inf
 * (has_inf) or NaN (has_nan); y = q · s. Signed always (the reference's execute_node).
 */
function foldFloatQuant(n: Node, xs: Float32Array, dims: readonly number[]): { tensor: Tensor; bits: number } {
  const inputs = n.inputs.slice(1, 6);
  const what = ['the scale', 'the exponent bit width', 'the mantissa bit width', 'the exponent bias', 'max_val'];
  inputs.forEach((v, i) => {
    if (!v?.constValue) fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: FloatQuant needs ${what[i]} as a constant input ${i + 1}`, { node: n.name, op: n.opType });
  });
  const [s, eb, mb, bias, maxv] = inputs.map((v) => broadcastTo(v!.constValue!, dims));
  const mode = attrStr(n, 'rounding_mode', 'ROUND').toUpperCase();
  if (!['ROUND', 'CEIL', 'FLOOR'].includes(mode)) {
    fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: FloatQuant rounding_mode "${mode}" is not ROUND, CEIL or FLOOR`, { node: n.name, op: n.opType });
  }
  const saturate = n.attrInt('saturation', 1) !== 0;
  const hasInf = n.attrInt('has_inf', 0) !== 0;
  const hasNan = n.attrInt('has_nan', 0) !== 0;
  if (!saturate && !hasInf && !hasNan) {
    fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: FloatQuant with saturation=0 needs has_inf or has_nan (QONNX refuses it too)`, { node: n.name, op: n.opType });
  }
  const out = new Float32Array(xs.length);
  let bits = 0;
  for (let i = 0; i < xs.length; i++) {
    const [e, m, b] = [eb![i]!, mb![i]!, bias![i]!];
    if (!Number.isInteger(e) || e < 1 || !Number.isInteger(m) || m < 0 || !Number.isFinite(b)) {
      fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: FloatQuant exponent/mantissa bit widths must be integers (exponent >= 1), got ${e} and ${m}`, { node: n.name, op: n.opType });
    }
    bits = Math.max(bits, 1 + e + m);
    const x = f32(xs[i]! / s![i]!);
    const lg = Math.floor(f32(Math.log2(f32(Math.abs(x) + F32_TINY))));
    const step = 2 ** Math.max(lg - m, 1 - b - m);
    let q = roundBy(mode, x / step) * step;
    const max = Math.min(minifloatMax(e, m, b), maxv![i]!);
    if (q > max || q < -max) {
      if (saturate) q = q > 0 ? max : -max;
      else q = hasInf ? (q > 0 ? Infinity : -Infinity) : NaN;
    }
    out[i] = f32(q * s![i]!);
  }
  return { tensor: Tensor.fromFloat32(n.outputs[0]!.name, dims, out), bits };
}

/** Replaces node `n` (one output) by an initializer with its output's name; returns it. */
function replaceByConstant(g: Graph, n: Node, t: Tensor): Value {
  const o = n.outputs[0]!;
  const init = g.addInitializer(t, g.uniqueName(`${o.name}__folded`));
  if (o.isGraphOutput && o.type) init.type = o.type;
  o.replaceAllUsesWith(init);
  const name = o.name;
  g.removeNode(n);
  const k = g.valueInfoOrder.indexOf(name);
  if (k >= 0 && !init.isGraphOutput) g.valueInfoOrder.splice(k, 1);
  g.renameValue(init, name);
  return init;
}

/** A scale tensor with as many dims as the weight (leading 1s). */
function padScale(s: Tensor, rank: number): Tensor {
  const dims = [...new Array<number>(Math.max(0, rank - s.dims.length)).fill(1), ...s.dims];
  return Tensor.fromFloat32(s.name, dims, s.toFloat32());
}

function transposeTensor(t: Tensor, permIn: number[] | undefined): Tensor {
  const r = t.dims.length;
  const perm = permIn ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  const src = t.toFloat32();
  const outDims = perm.map((p) => t.dims[p]!);
  const strides = new Array<number>(r).fill(1);
  for (let a = r - 2; a >= 0; a--) strides[a] = strides[a + 1]! * t.dims[a + 1]!;
  const out = new Float32Array(src.length);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < out.length; i++) {
    let k = 0;
    for (let a = 0; a < r; a++) k += idx[a]! * strides[perm[a]!]!;
    out[i] = src[k]!;
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a]! < outDims[a]!) break;
      idx[a] = 0;
    }
  }
  return Tensor.fromFloat32(t.name, outDims, out);
}

// ------------------------------------------------------------------------------------------
// BipolarQuant weights as 1-bit planes (rule 2)
// ------------------------------------------------------------------------------------------

function binaryPlanes(model: Model, bipolar: Map<Value, { scale: Tensor }>, rec: ImportRecord, ctx: PassContext): void {
  const g = model.graph;
  const record = readQuantRecord(model) ?? emptyRecord();
  let added = 0;
  for (const node of [...g.nodes]) {
    const layer = weightLayerOf(node);
    if (!layer) continue;
    const info = bipolar.get(layer.weight);
    if (!info) continue;
    const t = layer.weight.constValue!;
    // Per tensor when the scale is one value, per output channel when it varies only along the channel axis.
    const perChannel = info.scale.size !== 1;
    if (perChannel && !(info.scale.dims.length === t.dims.length && info.scale.dims.every((d, i) => (i === layer.channelAxis ? d === layer.channels : d === 1)))) {
      ctx.note(`${layer.weight.name}: BipolarQuant scale of shape [${info.scale.dims.join(',')}] is not per output channel; kept float`);
      continue;
    }
    const spec: LayerQuantSpec = { heuristic: 'layer', dist: [1], perChannel, seed: 0 };
    const w = t.toFloat32();
    const q = quantizeLayerWeight(w, t.dims, layer, spec, layer.weight.name);
    // The planes must give back the folded weight exactly.
    if (!q.dequantized.every((v, i) => v === w[i])) {
      ctx.note(`${layer.weight.name}: 1-bit planes do not reproduce the BipolarQuant weight exactly; kept float`);
      continue;
    }
    ensureHbnnFunctions(model);
    const { planes, scales } = materializeWeight(model, layer, q);
    record.weights.push(weightRecord(layer, t.dims, q, spec, planes, scales));
    rec.binaryPlanes.push(layer.weight.name);
    added++;
    ctx.stat('binary-plane-weights');
  }
  if (added === 0) return;
  updateAverageWeightBits(record);
  writeQuantRecord(model, record);
}

// ------------------------------------------------------------------------------------------
// Activation quantizers (rule 3)
// ------------------------------------------------------------------------------------------

class Emitter {
  readonly nodes: Node[] = [];
  constructor(
    readonly g: Graph,
    readonly opset: number,
    readonly base: string,
  ) {}

  op(type: string, inputs: (Value | null)[], attributes: Record<string, import('../src/ir/graph.js').Attribute> = {}, opts: { domain?: string } = {}): Value {
    const n = this.g.createNode(type, inputs, [this.g.uniqueName(`${this.base}/${type}`)], { attributes, name: this.g.uniqueName(`${this.base}/${type}`), ...opts });
    this.nodes.push(n);
    return n.outputs[0]!;
  }

  floatConst(suffix: string, dims: number[], data: ArrayLike<number>): Value {
    return this.g.addInitializer(Tensor.fromFloat32(this.g.uniqueName(`${this.base}.${suffix}`), dims, Float32Array.from(data)));
  }

  int64Const(suffix: string, data: number[]): Value {
    return this.g.addInitializer(Tensor.fromInt64(this.g.uniqueName(`${this.base}.${suffix}`), [data.length], data));
  }

  ge(a: Value, b: Value): Value {
    if (this.opset >= 12) return this.op('GreaterOrEqual', [a, b]);
    return this.op('Not', [this.op('Less', [a, b])]);
  }

  round(mode: string, x: Value): Value {
    const half = (): Value => this.floatConst('half', [], [0.5]);
    switch (mode.toUpperCase()) {
      case 'ROUND':
      case 'HALF_EVEN':
        return this.op('Round', [x]);
      case 'CEIL':
        return this.op('Ceil', [x]);
      case 'FLOOR':
        return this.op('Floor', [x]);
      case 'UP':
        return this.op('Mul', [this.op('Sign', [x]), this.op('Ceil', [this.op('Abs', [x])])]);
      case 'DOWN':
        return this.op('Mul', [this.op('Sign', [x]), this.op('Floor', [this.op('Abs', [x])])]);
      case 'HALF_UP':
        return this.op('Mul', [this.op('Sign', [x]), this.op('Floor', [this.op('Add', [this.op('Abs', [x]), half()])])]);
      case 'HALF_DOWN':
        return this.op('Mul', [this.op('Sign', [x]), this.op('Ceil', [this.op('Sub', [this.op('Abs', [x]), half()])])]);
      default:
        return fail(ErrorCodes.UNSUPPORTED_OP, `rounding_mode "${mode}" is not a QONNX rounding mode`);
    }
  }

  unsqueezeLast(x: Value, rank: number): Value {
    const A = (v: number[]) => ({ type: 'ints' as const, value: v.map(BigInt) });
    if (this.opset >= 13) return this.op('Unsqueeze', [x, this.int64Const('axes', [rank])]);
    return this.op('Unsqueeze', [x], { axes: A([rank]) });
  }

  reduceSumLast(x: Value): Value {
    const keep = { type: 'int' as const, value: 0n };
    if (this.opset >= 13) return this.op('ReduceSum', [x, this.int64Const('axes', [-1])], { keepdims: keep });
    return this.op('ReduceSum', [x], { axes: { type: 'ints', value: [-1n] }, keepdims: keep });
  }
}

/** Rule 3 for one activation quantizer; returns how it was imported. */
function expandActivation(model: Model, n: Node, mode: string): ImportRecord['activations'][number]['as'] {
  const g = model.graph;
  const x = n.inputs[0]!;
  const out = n.outputs[0]!;
  const e = new Emitter(g, model.opsetVersion('') ?? 11, n.name || out.name);
  let y: Value;
  let as: ImportRecord['activations'][number]['as'] = 'onnx-ops';
  if (mode === 'drop' && n.opType !== 'MultiThreshold') {
    y = x;
    as = 'dropped';
  } else {
    switch (n.opType) {
      case 'BipolarQuant': {
        const st = n.inputs[1]?.constValue;
        if (!st) fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: the scale must be a constant`, { node: n.name });
        if (st.size === 1 && st.toFloat32()[0]! > 0) {
          ensureHbnnFunctions(model);
          const s = st.toFloat32()[0]!;
          const call = g.createNode(
            FN_ACT,
            [x, e.floatConst('hbnn_act_scales', [3], [s, 0, 0]), e.floatConst('hbnn_act_center', [], [0]), e.floatConst('hbnn_act_sign', [], [1]), e.floatConst('hbnn_act_t1', [], [BIG]), e.floatConst('hbnn_act_t2', [], [BIG])],
            [g.uniqueName(`${out.name}.hbnn_act`)],
            { domain: HBNN_DOMAIN, name: g.uniqueName(`${n.name || out.name}/BinarizeActivation`) },
          );
          e.nodes.push(call);
          y = call.outputs[0]!;
          as = 'binarize-activation';
          const record = readQuantRecord(model) ?? emptyRecord();
          record.activations.push({
            input: x.name,
            output: y.name,
            node: call.name,
            feeds: out.consumers.map((c) => c.name),
            heuristic: 'bottom-up',
            distribution: [1, 0, 0],
            scales: [s, 0, 0],
            center: 0,
            sign: 1,
            thresholds: [BIG, BIG],
            calibrated: true,
          });
          record.avgActivationBits = 1;
          writeQuantRecord(model, record);
        } else {
          const s = n.inputs[1]!;
          y = e.op('Where', [e.ge(x, e.floatConst('zero', [], [0])), s, e.op('Neg', [s])]);
        }
        break;
      }
      case 'Quant':
      case 'IntQuant': {
        const [s, z] = [n.inputs[1]!, n.inputs[2]!];
        const bits = scalarOf(n.inputs[3] ?? null, 'the bit width', n);
        if (!s.constValue || !z.constValue) fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: scale and zero point must be constants`, { node: n.name });
        const [lo, hi] = intRange(n.attrInt('signed', 1) === 1, n.attrInt('narrow', 0) === 1, bits);
        const zeroZ = z.constValue.toFloat32().every((v) => v === 0);
        let v = e.op('Div', [x, s]);
        if (!zeroZ) v = e.op('Add', [v, z]);
        v = e.op('Clip', [v, e.floatConst('min', [], [lo]), e.floatConst('max', [], [hi])]);
        v = e.round(attrStr(n, 'rounding_mode', 'ROUND'), v);
        if (!zeroZ) v = e.op('Sub', [v, z]);
        y = e.op('Mul', [v, s]);
        break;
      }
      case 'Trunc':
        y = expandTrunc(e, n);
        break;
      case 'MultiThreshold':
        y = expandMultiThreshold(e, n);
        break;
      default:
        return fail(ErrorCodes.UNSUPPORTED_OP, `import-qonnx: ${n.domain}::${n.opType} is not supported`, { node: n.name });
    }
  }
  g.insertBefore(n, ...e.nodes);
  const name = out.name;
  out.replaceAllUsesWith(y);
  const graphOut = g.outputs.indexOf(out);
  g.removeNode(n, { force: graphOut >= 0 });
  if (graphOut >= 0) {
    g.setOutput(graphOut, y);
    if (y.producer) g.renameValue(y, name);
  }
  return as;
}

function expandTrunc(e: Emitter, n: Node): Value {
  const x = n.inputs[0]!;
  const v2 = n.inputs.length >= 6;
  const s = scalarOf(n.inputs[1] ?? null, 'the scale', n);
  const z = scalarOf(n.inputs[2] ?? null, 'the zero point', n);
  const inBits = scalarOf(n.inputs[3] ?? null, 'the input bit width', n);
  const mode = attrStr(n, 'rounding_mode', 'FLOOR');
  let y = e.op('Round', [e.op('Add', [e.op('Div', [x, e.floatConst('scale', [], [s])]), e.floatConst('zeropt', [], [z])])]);
  if (!v2) {
    const outBits = scalarOf(n.inputs[4] ?? null, 'the output bit width', n);
    y = e.round(mode, e.op('Div', [y, e.floatConst('trunc_scale', [], [2 ** (inBits - outBits)])]));
    return e.op('Mul', [e.op('Sub', [y, e.floatConst('zeropt_out', [], [z])]), e.floatConst('scale_out', [], [s])]);
  }
  const outScale = scalarOf(n.inputs[4] ?? null, 'the output scale', n);
  const outBits = scalarOf(n.inputs[5] ?? null, 'the output bit width', n);
  const truncScale = 2 ** Math.round(Math.log2(outScale / s));
  const [lo, hi] = intRange(n.attrInt('signed', 1) === 1, n.attrInt('narrow', 0) === 1, outBits);
  y = e.op('Div', [y, e.floatConst('trunc_scale', [], [truncScale])]);
  y = e.round(mode, e.op('Clip', [y, e.floatConst('min', [], [lo]), e.floatConst('max', [], [hi])]));
  return e.op('Mul', [e.op('Sub', [y, e.floatConst('zeropt_out', [], [z / truncScale])]), e.floatConst('scale_out', [], [outScale])]);
}

function expandMultiThreshold(e: Emitter, n: Node): Value {
  const x = n.inputs[0]!;
  const t = n.inputs[1]?.constValue;
  if (!t || t.dims.length !== 2) fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: the thresholds must be a constant [C, K] tensor`, { node: n.name });
  const rank = tensorTypeOf(x)?.shape?.length;
  if (rank === undefined) fail(ErrorCodes.UNSUPPORTED_OP, `node ${n.label}: the input's rank must be known (run infer-shapes first)`, { node: n.name });
  const layout = attrStr(n, 'data_layout', 'NCHW');
  const channelsLast = layout.endsWith('C');
  const [c, k] = [t.dims[0]!, t.dims[1]!];
  // Thresholds shaped to broadcast against x with a trailing threshold axis.
  const tdims = c === 1 ? [k] : channelsLast ? [c, k] : [c, ...new Array<number>(rank - 2).fill(1), k];
  const th = e.floatConst('thresholds', tdims, t.toFloat32());
  const cmp = e.ge(e.unsqueezeLast(x, rank), th);
  let y = e.reduceSumLast(e.op('Cast', [cmp], { to: { type: 'int', value: BigInt(DataType.FLOAT) } }));
  const scale = n.attrFloat('out_scale', 1)!;
  const bias = n.attrFloat('out_bias', 0)!;
  if (scale !== 1) y = e.op('Mul', [y, e.floatConst('out_scale', [], [scale])]);
  if (bias !== 0) y = e.op('Add', [y, e.floatConst('out_bias', [], [bias])]);
  return y;
}

// ------------------------------------------------------------------------------------------
// PyTorch flatten (rule 4)
// ------------------------------------------------------------------------------------------

function rewriteTorchFlatten(g: Graph, reshape: Node): boolean {
  const x = reshape.inputs[0];
  const concat = reshape.inputs[1]?.producer;
  if (!x || !concat || !concat.isOnnx('Concat') || concat.inputs.length !== 2) return false;
  const unsq = concat.inputs[0]?.producer;
  const rest = concat.inputs[1]?.constValue;
  if (!unsq || !unsq.isOnnx('Unsqueeze') || !rest || rest.dtype !== DataType.INT64 || concat.inputs[1]!.isGraphInput) return false;
  const gather = unsq.inputs[0]?.producer;
  if (!gather || !gather.isOnnx('Gather') || gather.attrInt('axis', 0) !== 0) return false;
  const idx = gather.inputs[1]?.constValue;
  if (!idx || idx.size !== 1 || idx.toNumberArray()[0] !== 0) return false;
  const shape = gather.inputs[0]?.producer;
  if (!shape || !shape.isOnnx('Shape') || shape.inputs[0] !== x || shape.attributes.size > 0) return false;
  const target = g.addInitializer(Tensor.fromInt64(g.uniqueName(`${reshape.name || 'Reshape'}_shape`), [1 + rest.size], [0, ...rest.toNumberArray()]));
  reshape.setInput(1, target);
  for (const dead of [concat, unsq, gather, shape]) {
    if (dead.outputs.every((o) => o.uses.length === 0 && !o.isGraphOutput)) g.removeNode(dead);
  }
  return true;
}

/** Rule 4, second part: a leading 1 on the data input and every output becomes `batch`. */
function freeBatch(g: Graph): boolean {
  const data = g.inputs.filter((v) => !v.isInitializer);
  const ends = [...data, ...g.outputs];
  if (data.length !== 1 || ends.some((v) => tensorTypeOf(v)?.shape?.[0] !== 1)) return false;
  // Nothing may still compute with the batch size as a number.
  if (g.nodes.some((n) => n.isOnnx('Shape') || n.isOnnx('Size'))) return false;
  for (const v of ends) {
    const t = tensorTypeOf(v)!;
    setTensorType(v, t.elemType, ['batch', ...t.shape!.slice(1)]);
  }
  for (const name of [...g.valueInfoOrder]) {
    const v = g.get(name);
    if (v && !ends.includes(v) && tensorTypeOf(v)?.shape?.[0] === 1) v.type = undefined;
  }
  g.valueInfoOrder = g.valueInfoOrder.filter((name) => g.get(name)?.type !== undefined);
  return true;
}
