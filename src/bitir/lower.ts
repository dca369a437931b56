/**
 * Lowering: quantized ONNX graph → BitProgram (docs/bit-ir.md §3).
 *
 * Rules:
 * 1. A model without an `hbnn.quantization` record or without any
 *    `ai.hbnn::BinarizedWeight` call is NOT_QUANTIZED.
 * 2. Conv / Gemm / MatMul become `conv` / `matvec` units whose weights are bit planes (from
 *    the BinarizedWeight call) or fixed-point integers (float weights the quantizer kept).
 * 3. The single-use chain after a layer — bias Add, per-channel Add/Sub/Mul/Div by constants,
 *    BatchNormalization — is folded into the unit that follows: `threshold` when a
 *    BinarizeActivation ends the chain, `requantize` otherwise. The recorded scaling layer
 *    (a Mul by a scalar) ends a chain and becomes `scale`.
 * 4. Relu, MaxPool, Flatten/Reshape, Identity/Dropout map one to one; a BinarizeActivation
 *    on a fixed-point tensor becomes a `threshold` with S = q; a single-use chain of
 *    Add/Sub/Mul/Div by constants from a fixed-point tensor to a BinarizeActivation (an input
 *    normalization such as 2x - 1) is folded into that threshold.
 * 5. The graph's single output must be fixed point (the logits); `argmax` is appended.
 * 6. Anything else is a LOWERING error naming the node.
 */
import type { Graph, Model, Node, Value } from '../ir/graph.js';
import { isSamePad, resolvePads, windowOutputSize } from '../ir/window.js';
import type { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/dtype.js';
import { tensorTypeOf } from '../ir/types.js';
import { fail, ErrorCodes, HbnnError, isHbnnError, optionName } from '../errors.js';
import { META_IMPORT, isActivationCall, isWeightCall, requireQuantRecord, type QuantRecord } from '../quant/format.js';
import { readWeightCall, weightBaseName, weightCallDims, type WeightCall } from '../quant/planes.js';
import {
  BITIR_FORMAT,
  DEFAULT_LOWERING,
  type AccTerm,
  type AccType,
  type BinaryType,
  type BinaryWeight,
  type BitOp,
  type BitProgram,
  type BitTensor,
  type BitType,
  type ChannelBands,
  type FixedType,
  type FixedWeight,
  type Level,
  type Operand,
  type LoweringOptions,
  type WeightPlane,
  type WeightTensor,
  type Window2d,
} from './types.js';
import { binarizerPieces, codeValue, levelIndex, levelsOf, planesUsed, type BinCode, type BinarizerConstants } from './binarizer.js';
import { EXACT_LIMIT, chooseShift, popcount32, roundHalfUp, signedBitsFor } from './fixed.js';
import { avgPoolDivisors } from './window.js';
import { shapeAnalysis, type ShapeInfo } from '../analysis/shapes.js';

/** Lowers a quantized model to the bit-level IR. The model is not changed. */
export function lowerToBitIR(model: Model, options: Partial<LoweringOptions> = {}): BitProgram {
  const opts: LoweringOptions = { ...DEFAULT_LOWERING, ...options };
  const record = requireQuantRecord(model);
  const g = model.graph;
  if (!g.nodes.some(isWeightCall)) {
    fail(ErrorCodes.NOT_QUANTIZED, 'the model has an hbnn.quantization record but no ai.hbnn::BinarizedWeight call; quantize it first');
  }
  try {
    return new Lowering(model, record, opts).run();
  } catch (e) {
    throw withImportHint(model, e);
  }
}

/**
 * A LOWERING error on a model whose imported QONNX activation quantizers run as standard
 * operators (`hbnn.import`, docs/import.md) says so: those have no bit-level form.
 */
function withImportHint(model: Model, e: unknown): unknown {
  if (!isHbnnError(e) || e.code !== ErrorCodes.LOWERING) return e;
  const raw = model.getMetadata(META_IMPORT);
  if (raw === undefined) return e;
  let kept = 0;
  try {
    kept = (JSON.parse(raw) as { activations?: { as?: string }[] }).activations?.filter((a) => a.as === 'onnx-ops').length ?? 0;
  } catch {
    return e;
  }
  if (kept === 0) return e;
  return new HbnnError(
    e.code,
    `${e.message}\n(the model keeps ${kept} imported QONNX activation quantizer${kept === 1 ? '' : 's'} as standard operators, which have no bit-level form; quantize the QONNX model with --act-bits to replace them by this tool's binarizers, see docs/import.md)`,
    e.context,
  );
}

// ------------------------------------------------------------------------------------------

/** What the lowering knows about an ONNX value: the IR tensor holding it. */
interface Mapped {
  id: string;
  type: BitType;
}

/** Per-channel affine map x = A_c · y + B_c applied after a layer (y = Σ coef·acc = Σ_j W·v). */
interface Affine {
  a: Float64Array;
  b: Float64Array;
}

const PASS_THROUGH = new Set(['Identity', 'Dropout']);
const AFFINE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div']);

/**
 * Every ONNX operator the lowering accepts (the `lowering` error lists them): one place for
 * the message, docs/bit-ir.md §3 and the tests.
 */
export const SUPPORTED_OPS: readonly string[] = [
  'Conv',
  'Gemm',
  'MatMul',
  'BatchNormalization',
  'Add/Sub/Mul/Div by per-channel constants',
  'Add/Sum of two activations',
  'ai.hbnn::BinarizeActivation',
  'Relu',
  'Clip',
  'LeakyRelu',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Concat (channels)',
  'Flatten',
  'Reshape',
  'Squeeze/Unsqueeze (not the batch)',
  'Transpose (layout only)',
  'Identity',
  'Dropout',
  'Softmax/LogSoftmax (final, dropped for argmax)',
];

/** The canonicalization the lowering applies to its view of the graph (docs/bit-ir.md §3). */
export const LOWERING_CANONICALIZATION = 'eliminate-identity,fold-constants,eliminate-dead-code,infer-shapes';

class Lowering {
  private readonly g: Graph;
  private readonly tensors = new Map<string, BitTensor>();
  private readonly weights: WeightTensor[] = [];
  private readonly ops: BitOp[] = [];
  private readonly mapped = new Map<Value, Mapped>();
  private readonly fused = new Set<Node>();
  private readonly lastLayer: Node | undefined;
  /** Values an activation binarizer reads through stream ops (they get binStreamFrac/binStreamBits). */
  private readonly binStreams: Set<Value>;
  /** Nodes the graph output depends on (dead-code elimination as a view). */
  private readonly live: Set<Node>;
  /** The model input's literal batch (undefined when symbolic). */
  private batch: number | undefined;
  /** Softmax/LogSoftmax nodes dropped before the argmax. */
  private readonly dropped: string[] = [];
  private inputName = '';
  private inputShape: number[] = [];
  /** Shapes of the model's values (computed once per model state, shared with the other consumers). */
  private readonly shapes: ShapeInfo;

  constructor(
    private readonly model: Model,
    private readonly record: QuantRecord,
    private readonly opts: LoweringOptions,
  ) {
    this.g = model.graph;
    this.shapes = shapeAnalysis(model);
    this.live = liveNodes(this.g);
    this.binStreams = binarizerStreams(this.g);
    const layers = this.g.nodes.filter((n) => isLayer(n) && this.live.has(n));
    this.lastLayer = layers[layers.length - 1];
  }

  run(): BitProgram {
    this.lowerInput();
    for (const node of this.g.nodes) {
      if (this.fused.has(node) || !this.live.has(node)) continue;
      if (isWeightCall(node) || node.opType === 'Constant') continue;
      // Identity/Dropout on constants (PyTorch's shared weights): the constant itself.
      if (PASS_THROUGH.has(node.opType) && node.isOnnx() && constOf(node.outputs[0])) continue;
      this.lowerNode(node);
    }
    const outs = this.g.outputs;
    if (outs.length !== 1) fail(ErrorCodes.LOWERING, `the model has ${outs.length} outputs; the bit-level IR needs exactly one (the logits)`);
    const logits = this.mapped.get(outs[0]!);
    if (!logits) fail(ErrorCodes.LOWERING, `graph output "${outs[0]!.name}" is not computed from the data input`);
    if (logits.type.kind !== 'fixed') {
      fail(ErrorCodes.LOWERING, `graph output "${outs[0]!.name}" is ${logits.type.kind} in the bit-level IR; it must be fixed-point logits`);
    }
    const cls = this.addTensor(`${logits.id}.class`, { kind: 'class', shape: [] });
    this.ops.push({ op: 'argmax', id: cls, nodes: [...this.dropped], input: logits.id, output: cls });
    return {
      format: BITIR_FORMAT,
      source: {
        graph: this.g.name,
        avgWeightBits: this.record.avgWeightBits,
        ...(this.record.avgActivationBits !== undefined ? { avgActivationBits: this.record.avgActivationBits } : {}),
      },
      options: { ...this.opts },
      input: { name: this.inputName, shape: this.inputShape },
      tensors: [...this.tensors.values()],
      weights: this.weights,
      ops: this.ops,
      outputs: { logits: logits.id, class: cls },
    };
  }

  // ---- bookkeeping -------------------------------------------------------------------------

  private addTensor(id: string, type: BitType): string {
    let name = id;
    for (let i = 1; this.tensors.has(name); i++) name = `${id}_${i}`;
    this.tensors.set(name, { id: name, type });
    return name;
  }

  private map(v: Value, id: string): void {
    this.mapped.set(v, { id, type: this.tensors.get(id)!.type });
  }

  private dataInput(node: Node, index = 0): Mapped {
    const v = node.inputs[index];
    const m = v ? this.mapped.get(v) : undefined;
    if (!m) {
      fail(ErrorCodes.LOWERING, `node ${node.label}: input ${index} ("${v?.name ?? ''}") is not computed from the model input (a ${node.opType} of constants is folded only when it has no data input)`, {
        node: node.name,
        op: node.opType,
      });
    }
    return m;
  }

  /**
   * Output [OH, OW] of a Conv or pooling node for one sample: the shape analysis's
   * (src/analysis/shapes.ts, the same window arithmetic as src/ir/window.ts), not recomputed here.
   */
  private windowOutput(node: Node): [number, number] {
    const s = this.shapes.shapeOf(node.outputs[0]);
    const [oh, ow] = s && s.length === 4 ? [s[2], s[3]] : [undefined, undefined];
    if (typeof oh !== 'number' || typeof ow !== 'number') {
      const why = this.shapes.nodes.find((r) => r.node === node)?.message;
      return this.err(node, `its output shape is unknown${why ? ` (${why})` : ''}`);
    }
    if (oh <= 0 || ow <= 0) this.err(node, 'the output would be empty');
    return [oh, ow];
  }

  err(node: Node, why: string): never {
    return fail(ErrorCodes.LOWERING, `cannot lower node ${node.label}: ${why}`, { node: node.name, op: node.opType });
  }

  /** An operator with no bit-level form: names the node, the op and every supported op. */
  private unsupported(node: Node, why = ''): never {
    const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::${node.opType}` : node.opType;
    return fail(ErrorCodes.LOWERING, `cannot lower node ${node.label}: operator ${op} has no bit-level form${why ? ` (${why})` : ''}; supported: ${SUPPORTED_OPS.join(', ')}`, {
      node: node.name,
      op: node.opType,
      supported: [...SUPPORTED_OPS],
    });
  }

  /** Consumers of v among the live nodes; undefined when v is a graph output or not used exactly once. */
  private singleConsumer(v: Value): Node | undefined {
    if (v.isGraphOutput) return undefined;
    const uses = v.uses.filter((u) => this.live.has(u.node));
    return uses.length === 1 ? uses[0]!.node : undefined;
  }

  // ---- input -------------------------------------------------------------------------------

  private lowerInput(): void {
    const ins = this.g.inputs.filter((v) => !v.isInitializer);
    if (ins.length !== 1) fail(ErrorCodes.LOWERING, `the model has ${ins.length} data inputs (${ins.map((v) => v.name).join(', ')}); the bit-level IR needs exactly one`);
    const v = ins[0]!;
    const t = tensorTypeOf(v);
    const dims = t?.shape?.slice(1);
    if (!t || t.elemType !== DataType.FLOAT || !dims || dims.length === 0 || !dims.every((d) => typeof d === 'number' && d > 0)) {
      fail(ErrorCodes.LOWERING, `input "${v.name}" must be float [N, ...] with static sample dims; it is ${t?.shape ? `[${t.shape.join(',')}]` : 'untyped'}`);
    }
    this.inputName = v.name;
    this.inputShape = dims as number[];
    const b = t.shape![0];
    this.batch = typeof b === 'number' ? b : undefined;
    const frac = this.fracOf(v.name, this.opts.inputFrac, this.opts.inputBits);
    const id = this.addTensor(v.name, { kind: 'fixed', shape: [...this.inputShape], frac, bits: this.opts.inputBits });
    this.ops.push({ op: 'input', id, nodes: [], source: v.name, output: id });
    this.map(v, id);
  }

  // ---- nodes -------------------------------------------------------------------------------

  private lowerNode(node: Node): void {
    if (node.domain !== '' && node.domain !== 'ai.onnx' && !isActivationCall(node)) this.unsupported(node);
    if (isLayer(node)) return this.lowerLayer(node);
    if (isActivationCall(node)) return this.lowerStandaloneBinarizer(node);
    if (AFFINE_OPS.has(node.opType) && this.lowerAffineIntoBinarizer(node)) return;
    switch (node.opType) {
      case 'Relu':
        return this.lowerRelu(node);
      case 'MaxPool':
        return this.lowerMaxPool(node);
      case 'AveragePool':
      case 'GlobalAveragePool':
        return this.lowerAvgPool(node);
      case 'Flatten':
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze':
        return this.lowerReshape(node);
      case 'Transpose':
        return this.lowerTranspose(node);
      case 'Concat':
        return this.lowerConcat(node);
      case 'Clip':
        return this.lowerClip(node);
      case 'LeakyRelu':
        return this.lowerLeakyRelu(node);
      case 'Softmax':
      case 'LogSoftmax':
        return this.lowerSoftmax(node);
      case 'Add':
      case 'Sum':
        if (node.inputs.filter((v) => v && this.mapped.has(v)).length >= 2) return this.lowerAdd(node);
        return this.lowerStandaloneAffine(node);
      case 'Sub':
      case 'Div':
      case 'BatchNormalization':
        return this.lowerStandaloneAffine(node);
      case 'Mul':
        if (this.record.scalingLayer?.node === node.name && node.name !== '') return this.lowerScale(node);
        {
          const k = node.inputs.findIndex((v) => v && this.mapped.has(v));
          const c = constOf(node.inputs[1 - (k < 0 ? 0 : k)]);
          const x = k >= 0 ? this.mapped.get(node.inputs[k]!) : undefined;
          // A scalar Mul right at the logits is a scaling layer (records from older quantizers name none).
          if (c && c.size === 1 && x?.type.kind === 'fixed' && !this.record.scalingLayer && this.isLogits(node.outputs[0]!)) return this.lowerScale(node);
        }
        return this.lowerStandaloneAffine(node);
      default:
        if (PASS_THROUGH.has(node.opType)) {
          const m = this.dataInput(node);
          this.mapped.set(node.outputs[0]!, m);
          return;
        }
        return this.unsupported(node);
    }
  }

  /** [frac, bits] of a fixed-point activation v between layers: binStream* when a binarizer reads it (§3). */
  private streamFormat(v: Value): [number, number] {
    return this.binStreams.has(v) ? [this.opts.binStreamFrac, this.opts.binStreamBits] : [this.opts.actFrac, this.opts.actBits];
  }

  /**
   * Fraction bits of the stream `name` of width `bits`: from its calibrated range when
   * `streamRanges` has it (`rangeFrac`, §3), else `frac` (the class's fixed fraction).
   */
  private fracOf(name: string, frac: number, bits: number): number {
    const r = this.opts.streamRanges?.[name];
    const f = r === undefined ? undefined : rangeFrac(r, bits, this.opts.rangeHeadroomBits);
    return f === undefined ? frac : Math.max(0, f);
  }

  /**
   * The output fraction of an add/concat/avgpool: the inputs' common fraction `frac`, lowered
   * when the output's calibrated range needs more integer bits than the output width `bits`
   * has there (a residual sum can exceed both inputs).
   */
  private outputFrac(name: string, frac: number, bits: number): number {
    return Math.min(frac, this.fracOf(name, frac, bits));
  }

  /** Whether v reaches the graph output through layout-only nodes and a final Softmax. */
  private isLogits(v: Value): boolean {
    for (let i = 0; i < 8; i++) {
      if (v.isGraphOutput) return true;
      const next = this.singleConsumer(v);
      if (!next || !['Softmax', 'LogSoftmax', 'Identity', 'Flatten', 'Reshape'].includes(next.opType)) return false;
      v = next.outputs[0]!;
    }
    return false;
  }

  /** A final Softmax/LogSoftmax: monotone per sample, so the argmax of its input is the class. */
  private lowerSoftmax(node: Node): void {
    const x = this.dataInput(node);
    const out = node.outputs[0]!;
    if (!out.isGraphOutput || out.uses.some((u) => this.live.has(u.node))) {
      this.err(node, `${node.opType} is supported only as the final op of the graph (it is dropped: the class is the argmax of its input); here its output is used further`);
    }
    if (x.type.kind !== 'fixed' || x.type.shape.length !== 1) this.err(node, `a final ${node.opType} needs fixed-point logits [classes] per sample; its input is ${x.type.kind} [${x.type.shape.join(',')}]`);
    const axis = node.attrInt('axis', -1);
    if (axis !== -1 && axis !== 1) this.err(node, `axis ${axis}: only the class axis (1 or -1) of [N, classes] keeps the argmax`);
    this.dropped.push(node.name);
    this.mapped.set(out, x);
  }

  /** Operand aligning a fixed or binary input to fraction bits F, and the width it then needs. */
  private operand(node: Node, t: BitType, frac: number): { operand: Operand; bits: number } {
    if (t.kind === 'fixed') {
      const shift = t.frac - frac;
      if (shift < 0) this.err(node, 'internal: an input is aligned to more fraction bits than it has');
      return { operand: { shift }, bits: Math.max(1, t.bits - shift) };
    }
    if (t.kind === 'binary') {
      const table = t.levels.map((l) => roundHalfUp(l.value * 2 ** frac));
      return { operand: { shift: 0, table }, bits: signedBitsFor(Math.max(1, ...table.map(Math.abs))) };
    }
    return this.err(node, `an input is ${t.kind}; fixed-point or binary activations are needed`);
  }

  /** The common fraction bits of several inputs: the coarsest fixed input's (else actFrac). */
  private commonFrac(types: BitType[]): number {
    const fr = types.filter((t): t is FixedType => t.kind === 'fixed').map((t) => t.frac);
    return fr.length ? Math.min(...fr) : this.opts.actFrac;
  }

  /** Residual Add/Sum of activations: aligned to a common fraction, summed, saturated. */
  private lowerAdd(node: Node): void {
    const xs = node.inputs.map((_, i) => this.dataInput(node, i));
    const shape = xs[0]!.type.shape;
    for (const x of xs) {
      if (x.type.shape.length !== shape.length || x.type.shape.some((d, i) => d !== shape[i])) {
        this.err(node, `the inputs have shapes ${xs.map((y) => `[${y.type.shape.join(',')}]`).join(' and ')}; a residual ${node.opType} needs equal shapes (no broadcasting)`);
      }
    }
    const common = this.commonFrac(xs.map((x) => x.type));
    const bits = Math.max(...xs.map((x) => this.operand(node, x.type, common).bits));
    const frac = this.outputFrac(node.outputs[0]!.name, common, bits);
    const ops = xs.map((x) => this.operand(node, x.type, frac));
    const id = this.addTensor(node.outputs[0]!.name, { kind: 'fixed', shape: [...shape], frac, bits });
    this.ops.push({ op: 'add', id, nodes: [node.name], inputs: xs.map((x) => x.id), operands: ops.map((o) => o.operand), output: id });
    this.map(node.outputs[0]!, id);
  }

  /** Concat along the channel axis, each input requantized to the coarsest fraction. */
  private lowerConcat(node: Node): void {
    const xs = node.inputs.map((v, i) => {
      if (v && !this.mapped.has(v) && constOf(v)) this.err(node, `input ${i} ("${v.name}") is a constant; only activations can be concatenated`);
      return this.dataInput(node, i);
    });
    const rank = xs[0]!.type.shape.length;
    let axis = node.attrInt('axis', 1);
    if (axis < 0) axis += rank + 1;
    if (axis !== 1) this.err(node, `axis ${node.attrInt('axis', 1)}: only the channel axis (1) is supported`);
    const rest = xs[0]!.type.shape.slice(1);
    for (const x of xs) {
      if (x.type.shape.length !== rank || x.type.shape.slice(1).some((d, i) => d !== rest[i])) {
        this.err(node, `inputs of shapes ${xs.map((y) => `[${y.type.shape.join(',')}]`).join(', ')} differ outside the channel axis`);
      }
    }
    const common = this.commonFrac(xs.map((x) => x.type));
    const bits = Math.max(...xs.map((x) => this.operand(node, x.type, common).bits));
    const frac = this.outputFrac(node.outputs[0]!.name, common, bits);
    const ops = xs.map((x) => this.operand(node, x.type, frac));
    const channels = xs.reduce((a, x) => a + x.type.shape[0]!, 0);
    const id = this.addTensor(node.outputs[0]!.name, { kind: 'fixed', shape: [channels, ...rest], frac, bits });
    this.ops.push({ op: 'concat', id, nodes: [node.name], inputs: xs.map((x) => x.id), operands: ops.map((o) => o.operand), output: id });
    this.map(node.outputs[0]!, id);
  }

  /** AveragePool / GlobalAveragePool: integer window sum, fixed-point multiply by 1/n. */
  private lowerAvgPool(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    if (t.kind !== 'fixed' && t.kind !== 'binary') this.err(node, `input is ${t.kind}`);
    if (t.shape.length !== 3) this.err(node, `2-D pooling over [C,H,W] is supported; the input is [${t.shape.join(',')}]`);
    const global = node.opType === 'GlobalAveragePool';
    let w: Window2d;
    let ceilMode = false;
    let countIncludePad = false;
    if (global) {
      w = { kernel: [t.shape[1]!, t.shape[2]!], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] };
    } else {
      const kernel = node.attrInts('kernel_shape');
      if (!kernel || kernel.length !== 2) this.err(node, 'kernel_shape must have 2 entries');
      w = windowOf(node, t.shape, kernel as [number, number], this);
      if (w.dilations.some((d) => d !== 1)) this.err(node, 'dilated average pooling is not supported');
      ceilMode = node.attrInt('ceil_mode', 0) === 1;
      countIncludePad = node.attrInt('count_include_pad', 0) === 1;
    }
    const [oh, ow] = this.windowOutput(node);
    const common = this.commonFrac([t]);
    const bits = this.operand(node, t, common).bits;
    const frac = this.outputFrac(node.outputs[0]!.name, common, bits);
    const { operand } = this.operand(node, t, frac);
    const divisors = avgPoolDivisors(t.shape, w, oh, ow, countIncludePad);
    const counts = [...new Set(divisors)].sort((a, b) => a - b);
    if (counts[0]! <= 0) this.err(node, 'a window covers no input position');
    const maxN = counts[counts.length - 1]!;
    const sumBound = maxN * 2 ** (bits - 1);
    let shift = 40;
    const mult = (n: number): number => roundHalfUp(2 ** shift / n);
    while (shift > 0 && sumBound * mult(counts[0]!) + 2 ** (shift - 1) >= EXACT_LIMIT) shift--;
    const multipliers: Record<string, number> = {};
    for (const n of counts) multipliers[String(n)] = mult(n);
    const id = this.addTensor(node.outputs[0]!.name, { kind: 'fixed', shape: [t.shape[0]!, oh, ow], frac, bits });
    this.ops.push({ op: 'avgpool', id, nodes: [node.name], input: x.id, output: id, ...w, ceilMode, countIncludePad, global, operand, multipliers, shift });
    this.map(node.outputs[0]!, id);
  }

  /** Clip's bounds (opset 11+: optional constant inputs; before: attributes). */
  private clipBounds(node: Node): [number, number] {
    let lo = -Infinity;
    let hi = Infinity;
    if (node.inputs.length > 1 || (this.model.opsetVersion('') ?? 13) >= 11) {
      for (const [i, set] of [
        [1, (v: number) => (lo = v)],
        [2, (v: number) => (hi = v)],
      ] as const) {
        const v = node.inputs[i];
        if (!v || v.name === '') continue;
        const c = constOf(v);
        if (!c || c.size !== 1) this.err(node, `the ${i === 1 ? 'min' : 'max'} bound must be a scalar constant`);
        set(c.toFloat32()[0]!);
      }
    } else {
      lo = node.attrFloat('min', -3.4028234663852886e38);
      hi = node.attrFloat('max', 3.4028234663852886e38);
    }
    if (lo > hi) this.err(node, `min ${lo} is above max ${hi}`);
    return [lo, hi];
  }

  private lowerClip(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    const [lo, hi] = this.clipBounds(node);
    const base = node.outputs[0]!.name;
    if (t.kind === 'fixed') {
      const limit = 2 ** (t.bits - 1);
      const q = (v: number): number | null => (Number.isFinite(v) && Math.abs(v * 2 ** t.frac) < limit ? roundHalfUp(v * 2 ** t.frac) : null);
      const qlo = lo <= -limit * 2 ** -t.frac ? null : q(lo);
      const qhi = hi >= limit * 2 ** -t.frac ? null : q(hi);
      const id = this.addTensor(base, { ...t, shape: [...t.shape] });
      this.ops.push({ op: 'clip', id, nodes: [node.name], input: x.id, output: id, lo: qlo, hi: qhi });
      this.map(node.outputs[0]!, id);
      return;
    }
    if (t.kind !== 'binary') this.err(node, `input is ${t.kind}`);
    const zero: BinCode = { signs: 0, mask: 0 };
    const outCodes = t.levels.map((l) => {
      const c = Math.min(Math.max(l.value, lo), hi);
      if (c === l.value) return { signs: l.signs, mask: l.mask };
      if (c === 0) return zero;
      const same = t.levels.find((m) => m.value === c);
      if (!same) this.err(node, `clipping the binary level ${l.value} to ${c} gives a value that is no level of the tensor`);
      return { signs: same.signs, mask: same.mask };
    });
    const levels = levelsOf(outCodes, t.scales);
    const map = outCodes.map((c) => levelIndex(levels, c));
    const id = this.addTensor(base, binaryType(t.shape, t.scales, levels));
    this.ops.push({ op: 'clip', id, nodes: [node.name], input: x.id, output: id, lo: null, hi: null, map });
    this.map(node.outputs[0]!, id);
  }

  private lowerLeakyRelu(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    if (t.kind !== 'fixed') this.err(node, `LeakyRelu needs a fixed-point input here; it is ${t.kind} (a LeakyRelu before a binarizer is folded into its thresholds)`);
    const alpha = Math.fround(node.attrFloat('alpha', 0.01));
    let shift = chooseShift(Math.abs(alpha), this.opts.multiplierBits);
    while (shift > 1 && 2 ** (t.bits - 1) * Math.abs(roundHalfUp(alpha * 2 ** shift)) + 2 ** (shift - 1) >= EXACT_LIMIT) shift--;
    const multiplier = roundHalfUp(alpha * 2 ** shift);
    const id = this.addTensor(node.outputs[0]!.name, { ...t, shape: [...t.shape] });
    this.ops.push({ op: 'leakyrelu', id, nodes: [node.name], input: x.id, output: id, alpha, multiplier, shift });
    this.map(node.outputs[0]!, id);
  }

  /** A Transpose that moves only axes of size 1 keeps the row-major order: a reshape. */
  private lowerTranspose(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    if (t.kind !== 'fixed' && t.kind !== 'binary') this.err(node, `input is ${t.kind}`);
    const full = [this.batch ?? 1, ...t.shape];
    const perm = node.attrInts('perm', full.map((_, i) => full.length - 1 - i));
    if (perm.length !== full.length) this.err(node, `perm [${perm.join(',')}] does not fit rank ${full.length}`);
    const out = perm.map((p) => full[p]!);
    const order = (dims: number[], axes: number[]): number[] => axes.filter((a) => dims[a]! !== 1);
    const moved = order(full, perm);
    const kept = moved.every((a, i) => i === 0 || a > moved[i - 1]!);
    if (!kept || perm[0] !== 0) {
      this.err(node, `Transpose with perm [${perm.join(',')}] of [${full.join(',')}] moves data; only layout-only Transposes (moving axes of size 1, keeping the batch first) are absorbed`);
    }
    const id = this.addTensor(node.outputs[0]!.name, { ...t, shape: out.slice(1) } as BitType);
    this.ops.push({ op: 'reshape', id, nodes: [node.name], input: x.id, output: id });
    this.map(node.outputs[0]!, id);
  }

  /**
   * BatchNormalization or Add/Sub/Mul/Div by per-channel constants that do not follow a layer
   * (e.g. DenseNet's BatchNorm after a pool): the chain of such nodes on a fixed-point
   * stream becomes one `requantize` with S = q (or a `threshold`, when a binarizer ends it).
   */
  private lowerStandaloneAffine(node: Node): void {
    const k = node.inputs.findIndex((v) => v && this.mapped.has(v));
    if (k < 0) this.dataInput(node, 0);
    const x = this.mapped.get(node.inputs[k]!)!;
    if (x.type.kind !== 'fixed') {
      this.err(node, `a ${node.opType} on a ${x.type.kind} stream that does not follow a Conv/Gemm/MatMul has no bit-level form (it is folded into the unit when it directly follows one)`);
    }
    const t = x.type;
    const c = t.shape[0]!;
    const affine: Affine = { a: new Float64Array(c).fill(1), b: new Float64Array(c) };
    const chain: Node[] = [];
    let v: Value = node.inputs[k]!;
    let next: Node | undefined = node;
    while (next) {
      if (isActivationCall(next) && next.inputs[0] === v) {
        chain.push(next);
        const terms: AccTerm[] = [{ w: 0, a: 0, coef: new Array<number>(c).fill(2 ** -t.frac) }];
        this.emitThreshold(chain, x.id, t.shape, terms, [2 ** (t.bits - 1)], affine, next, true);
        return;
      }
      if (next.opType === 'Mul' && this.record.scalingLayer?.node === next.name) break;
      if (!this.foldAffine(next, v, affine, t.shape)) break;
      chain.push(next);
      v = next.outputs[0]!;
      next = this.singleConsumer(v);
    }
    if (chain.length === 0) {
      this.err(node, `${node.opType} with these inputs is not a per-channel affine map of one activation`);
    }
    const terms: AccTerm[] = [{ w: 0, a: 0, coef: new Array<number>(c).fill(2 ** -t.frac) }];
    const logits = this.isLogits(v);
    const [frac, bits] = logits ? [this.opts.logitFrac, this.opts.logitBits] : this.streamFormat(v);
    this.emitRequantize(chain, x.id, t.shape, terms, [2 ** (t.bits - 1)], affine, frac, bits, v);
  }

  private lowerRelu(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    const base = node.outputs[0]!.name;
    if (t.kind === 'fixed') {
      const id = this.addTensor(base, { ...t, shape: [...t.shape] });
      this.ops.push({ op: 'relu', id, nodes: [node.name], input: x.id, output: id });
      this.map(node.outputs[0]!, id);
      return;
    }
    if (t.kind !== 'binary') this.err(node, `input is ${t.kind}`);
    const zero: BinCode = { signs: 0, mask: 0 };
    const outCodes = t.levels.map((l) => (l.value < 0 ? zero : { signs: l.signs, mask: l.mask }));
    const levels = levelsOf(outCodes, t.scales);
    const map = outCodes.map((c) => levelIndex(levels, c));
    const id = this.addTensor(base, binaryType(t.shape, t.scales, levels));
    this.ops.push({ op: 'relu', id, nodes: [node.name], input: x.id, output: id, map });
    this.map(node.outputs[0]!, id);
  }

  private lowerMaxPool(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    if (t.kind !== 'fixed' && t.kind !== 'binary') this.err(node, `input is ${t.kind}`);
    if (node.outputs.length > 1 && node.outputs[1]!.name !== '' && node.outputs[1]!.uses.length > 0) this.err(node, 'the Indices output is not supported');
    if (t.shape.length !== 3) this.err(node, `2-D pooling over [C,H,W] is supported; the input is [${t.shape.join(',')}]`);
    const kernel = node.attrInts('kernel_shape');
    if (!kernel || kernel.length !== 2) this.err(node, 'kernel_shape must have 2 entries');
    const w = windowOf(node, t.shape, kernel as [number, number], this);
    const ceilMode = node.attrInt('ceil_mode', 0) === 1;
    const [oh, ow] = this.windowOutput(node);
    const id = this.addTensor(node.outputs[0]!.name, { ...t, shape: [t.shape[0]!, oh, ow] } as BitType);
    this.ops.push({ op: 'maxpool', id, nodes: [node.name], input: x.id, output: id, ...w, ceilMode });
    this.map(node.outputs[0]!, id);
  }

  /**
   * Flatten / Reshape / Squeeze / Unsqueeze: the same entries in the same row-major order. The
   * batch dimension must stay first: the target's first dim is 0, -1, or a literal equal to
   * the model's literal batch (PyTorch's [1, -1] with an input batch of 1).
   */
  private lowerReshape(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    if (t.kind !== 'fixed' && t.kind !== 'binary') this.err(node, `input is ${t.kind}`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    const rank = t.shape.length + 1;
    let shape: number[];
    if (node.opType === 'Flatten') {
      let axis = node.attrInt('axis', 1);
      if (axis < 0) axis += rank;
      if (axis === 0 && this.batch === 1) shape = [size];
      else if (axis === 1) shape = [size];
      else this.err(node, `Flatten axis ${node.attrInt('axis', 1)} of [${this.batch ?? 'N'},${t.shape.join(',')}] does not give [batch, features]${axis === 0 ? ' (axis 0 keeps the batch only when it is a literal 1)' : ''}`);
    } else if (node.opType === 'Squeeze' || node.opType === 'Unsqueeze') {
      const c = constOf(node.inputs[1]);
      const axes = c ? c.toNumberArray() : node.attrInts('axes', []);
      if (!c && node.inputs[1] && node.inputs[1].name !== '') this.err(node, 'the axes must be a constant');
      const full = [this.batch ?? -1, ...t.shape];
      if (node.opType === 'Squeeze') {
        const norm = (axes.length ? axes : full.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => (a < 0 ? a + full.length : a));
        if (norm.includes(0)) this.err(node, 'squeezing the batch axis is not supported');
        if (norm.some((a) => full[a] !== 1)) this.err(node, `axes [${axes.join(',')}] of [${full.join(',')}] are not all of size 1`);
        shape = full.filter((_, i) => !norm.includes(i)).slice(1);
      } else {
        const outRank = full.length + axes.length;
        const norm = axes.map((a) => (a < 0 ? a + outRank : a)).sort((p, q) => p - q);
        if (norm.includes(0)) this.err(node, 'unsqueezing before the batch axis is not supported');
        const out = [...full];
        for (const a of norm) out.splice(a, 0, 1);
        shape = out.slice(1);
      }
    } else {
      const s = constOf(node.inputs[1]);
      if (!s) this.err(node, 'the target shape must be a constant');
      const dims = s.toNumberArray();
      const literalBatch = this.batch !== undefined && dims[0] === this.batch;
      if (dims[0] !== 0 && dims[0] !== -1 && !literalBatch) {
        this.err(node, `the target shape [${dims.join(',')}] must keep the batch dimension first (0, -1, or the model's literal batch${this.batch !== undefined ? ` ${this.batch}` : ''})`);
      }
      const rest = dims.slice(1).map((d, i) => (d === 0 ? t.shape[i] ?? -2 : d));
      const known = rest.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const free = rest.filter((d) => d === -1).length;
      if (rest.some((d) => d < -1 || d === -2) || free > (dims[0] === -1 ? 0 : 1) || (free === 0 && known !== size) || (free === 1 && size % known !== 0)) {
        this.err(node, `cannot reshape a sample of shape [${t.shape.join(',')}] to [${dims.join(',')}] keeping the batch`);
      }
      shape = rest.map((d) => (d === -1 ? size / known : d));
    }
    const id = this.addTensor(node.outputs[0]!.name, { ...t, shape } as BitType);
    this.ops.push({ op: 'reshape', id, nodes: [node.name], input: x.id, output: id });
    this.map(node.outputs[0]!, id);
  }

  /** A Mul by a scalar on a fixed-point tensor: the scaling layer. */
  private lowerScale(node: Node): void {
    const k = node.inputs.findIndex((v) => v && this.mapped.has(v));
    const x = this.dataInput(node, k < 0 ? 0 : k);
    const c = constOf(node.inputs[1 - (k < 0 ? 0 : k)]);
    if (!c || c.size !== 1) this.err(node, 'only a Mul by a scalar constant (the scaling layer) is supported here');
    if (x.type.kind !== 'fixed') this.err(node, `the scaling layer needs a fixed-point input; it is ${x.type.kind}`);
    const s = c.toFloat32()[0]!;
    const t = x.type;
    let shift = chooseShift(Math.abs(s), this.opts.multiplierBits);
    // q · multiplier must stay exact (below 2^53) for every q of the input width.
    while (shift > 1 && 2 ** (t.bits - 1) * Math.abs(roundHalfUp(s * 2 ** shift)) + 2 ** (shift - 1) >= EXACT_LIMIT) shift--;
    const multiplier = roundHalfUp(s * 2 ** shift);
    this.checkExact(node, 2 ** (t.bits - 1) * Math.abs(multiplier) + 2 ** (shift - 1));
    const id = this.addTensor(node.outputs[0]!.name, { ...t, shape: [...t.shape] });
    this.ops.push({ op: 'scale', id, nodes: [node.name], input: x.id, output: id, multiplier, shift, scale: s });
    this.map(node.outputs[0]!, id);
  }

  /**
   * Rule 4b: Add/Sub/Mul/Div by constants on a fixed-point tensor whose single-use chain ends
   * in a BinarizeActivation (e.g. an input normalization 2x - 1 before the first binarizer):
   * one `threshold` unit with the chain folded in. False (nothing emitted) otherwise.
   */
  private lowerAffineIntoBinarizer(node: Node): boolean {
    const k = node.inputs.findIndex((v) => v && this.mapped.has(v));
    if (k < 0) return false;
    const xv = node.inputs[k]!;
    const x = this.mapped.get(xv)!;
    if (x.type.kind !== 'fixed' || (this.record.scalingLayer?.node === node.name && node.name !== '')) return false;
    const shape = x.type.shape;
    const c = shape[0]!;
    const affine: Affine = { a: new Float64Array(c).fill(1), b: new Float64Array(c) };
    const chain: Node[] = [];
    let v: Value = xv;
    let next: Node | undefined = node;
    while (next && !(isActivationCall(next) && next.inputs[0] === v)) {
      if (!AFFINE_OPS.has(next.opType) || !this.foldAffine(next, v, affine, shape)) return false;
      chain.push(next);
      v = next.outputs[0]!;
      next = this.singleConsumer(v);
    }
    if (!next) return false;
    chain.push(next);
    const unit = 2 ** -x.type.frac;
    this.emitThreshold(chain, x.id, shape, [{ w: 0, a: 0, coef: new Array<number>(c).fill(unit) }], [2 ** (x.type.bits - 1)], affine, next, true);
    return true;
  }

  private lowerStandaloneBinarizer(node: Node): void {
    const x = this.dataInput(node);
    if (x.type.kind !== 'fixed') this.err(node, `an activation binarizer needs a real-valued (fixed-point) input here; it is ${x.type.kind}`);
    const c = x.type.shape[0]!;
    const unit = 2 ** -x.type.frac;
    const affine: Affine = { a: new Float64Array(c).fill(1), b: new Float64Array(c) };
    const bound = 2 ** (x.type.bits - 1);
    this.emitThreshold([node], x.id, x.type.shape, [{ w: 0, a: 0, coef: new Array<number>(c).fill(unit) }], [bound], affine, node, true);
  }

  // ---- layers ------------------------------------------------------------------------------

  private lowerLayer(node: Node): void {
    const x = this.dataInput(node);
    const xt = x.type;
    if (xt.kind !== 'fixed' && xt.kind !== 'binary') this.err(node, `the layer input is ${xt.kind}`);
    const layer = this.layerGeometry(node, xt);
    const weight = this.lowerWeight(node, layer.rows, layer.cols, layer.transposed);
    const isBinary = weight.kind === 'binary';
    const kw = isBinary ? weight.planes.length : 1;
    const ka = xt.kind === 'binary' ? xt.planes : 1;
    const alpha = node.opType === 'Gemm' ? node.attrFloat('alpha', 1) : 1;
    const terms: AccTerm[] = [];
    const accBound: number[] = [];
    const actMax = xt.kind === 'binary' ? 1 : 2 ** (xt.bits - 1);
    for (let w = 1; w <= kw; w++) {
      const rowMax = isBinary ? maxRowCount(weight.planes[w - 1]!.mask, weight.rows, weight.wordsPerRow) : maxRowAbs(weight.values, weight.rows, weight.cols);
      for (let a = 1; a <= ka; a++) {
        const coef: number[] = [];
        for (let o = 0; o < layer.rows; o++) {
          const wScale = isBinary ? weight.planes[w - 1]!.scales[o]! : 2 ** -weight.frac;
          const aScale = xt.kind === 'binary' ? xt.scales[a - 1]! : 2 ** -xt.frac;
          coef.push(wScale * aScale);
        }
        terms.push({ w: isBinary ? w : 0, a: xt.kind === 'binary' ? a : 0, coef });
        accBound.push(rowMax * actMax);
      }
    }
    const accType: AccType = { kind: 'acc', shape: layer.outShape, terms, bits: signedBitsFor(Math.max(...accBound)) };
    const out = node.outputs[0]!;
    const accId = this.addTensor(`${out.name}.acc`, accType);
    if (layer.window) {
      this.ops.push({ op: 'conv', id: accId, nodes: [node.name], input: x.id, weight: weight.id, ...layer.window, group: layer.group, output: accId });
    } else {
      this.ops.push({ op: 'matvec', id: accId, nodes: [node.name], input: x.id, weight: weight.id, output: accId });
    }
    // The fused chain after the layer.
    const channels = layer.rows;
    // Gemm's alpha scales the product: x = alpha·Σ W·v + bias to begin with.
    const affine: Affine = { a: new Float64Array(channels).fill(alpha), b: Float64Array.from(layer.bias) };
    const chain: Node[] = [node];
    let v: Value = out;
    for (;;) {
      const next = this.singleConsumer(v);
      if (!next) break;
      if (isActivationCall(next) && next.inputs[0] === v) {
        chain.push(next);
        this.emitThreshold(chain, accId, layer.outShape, terms, accBound, affine, next, false);
        return;
      }
      // Clip / Relu / LeakyRelu right before a binarizer: folded into its breakpoints (exact).
      const bin = ['Clip', 'Relu', 'LeakyRelu'].includes(next.opType) && next.inputs[0] === v ? this.singleConsumer(next.outputs[0]!) : undefined;
      if (bin && isActivationCall(bin) && bin.inputs[0] === next.outputs[0]) {
        chain.push(next, bin);
        this.emitThreshold(chain, accId, layer.outShape, terms, accBound, affine, bin, false, this.monotoneBefore(next));
        return;
      }
      if (next.opType === 'Mul' && this.record.scalingLayer?.node === next.name && next.name !== '') break;
      if (!this.foldAffine(next, v, affine, layer.outShape)) break;
      chain.push(next);
      v = next.outputs[0]!;
    }
    const logits = node === this.lastLayer;
    const [frac, bits] = logits ? [this.opts.logitFrac, this.opts.logitBits] : this.streamFormat(v);
    this.emitRequantize(chain, accId, layer.outShape, terms, accBound, affine, frac, bits, v);
  }

  /** Folds node (one input = v, the rest constants broadcasting per channel) into `affine`. */
  private foldAffine(node: Node, v: Value, f: Affine, shape: number[]): boolean {
    const c = shape[0]!;
    const per = (t: Tensor): Float64Array | undefined => perChannel(t, shape);
    const otherConst = (): { t: Tensor; vFirst: boolean } | undefined => {
      if (node.inputs.length !== 2) return undefined;
      const vFirst = node.inputs[0] === v;
      const other = node.inputs[vFirst ? 1 : 0];
      if (node.inputs[vFirst ? 0 : 1] !== v || other === v) return undefined;
      const t = constOf(other);
      return t ? { t, vFirst } : undefined;
    };
    switch (node.opType) {
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const o = otherConst();
        if (!o) return false;
        const k = per(o.t);
        if (!k) this.err(node, `the constant "${o.t.name}" of shape [${o.t.dims.join(',')}] does not broadcast along the channel axis only`);
        for (let i = 0; i < c; i++) {
          const ki = k[i]!;
          if (node.opType === 'Add') f.b[i]! += ki;
          else if (node.opType === 'Sub') {
            if (o.vFirst) f.b[i]! -= ki;
            else {
              f.a[i] = -f.a[i]!;
              f.b[i] = ki - f.b[i]!;
            }
          } else if (node.opType === 'Mul') {
            f.a[i]! *= ki;
            f.b[i]! *= ki;
          } else {
            if (!o.vFirst) this.err(node, 'a constant divided by an activation is not affine');
            f.a[i]! /= ki;
            f.b[i]! /= ki;
          }
        }
        return true;
      }
      case 'BatchNormalization': {
        if (node.inputs[0] !== v) return false;
        if (node.attrInt('training_mode', 0) !== 0) this.err(node, 'training_mode=1 has no inference form');
        if (node.outputs.slice(1).some((o) => o.name !== '' && (o.uses.length > 0 || o.isGraphOutput))) this.err(node, 'the running-statistics outputs are used');
        const [gamma, beta, mean, vr] = [1, 2, 3, 4].map((i) => {
          const t = constOf(node.inputs[i]);
          if (!t) this.err(node, `input ${i} must be a constant`);
          if (t.size !== c) this.err(node, `input ${i} must have one value per channel (${c}); it has ${t.size}`);
          return Float64Array.from(t.toFloat32());
        }) as [Float64Array, Float64Array, Float64Array, Float64Array];
        const eps = Math.fround(node.attrFloat('epsilon', 1e-5));
        for (let i = 0; i < c; i++) {
          const s = gamma[i]! / Math.sqrt(vr[i]! + eps);
          f.a[i]! *= s;
          f.b[i] = (f.b[i]! - mean[i]!) * s + beta[i]!;
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** The non-decreasing map a Clip/Relu/LeakyRelu applies before a binarizer, or an error when it is not one. */
  private monotoneBefore(node: Node): Monotone {
    if (node.opType === 'Relu') return { lo: 0, hi: Infinity, alpha: 0 };
    if (node.opType === 'Clip') {
      const [lo, hi] = this.clipBounds(node);
      return { lo, hi, alpha: 0 };
    }
    const alpha = Math.fround(node.attrFloat('alpha', 0.01));
    if (!(alpha > 0)) this.err(node, `LeakyRelu with alpha ${alpha} before a binarizer is not increasing; it cannot be folded into thresholds`);
    return { lo: -Infinity, hi: Infinity, alpha };
  }

  private emitThreshold(chain: Node[], inputId: string, shape: number[], terms: AccTerm[], accBound: number[], f: Affine, binarizer: Node, fixedInput: boolean, before?: Monotone): void {
    const consts = binarizerConstants(binarizer, this);
    const pieces = binarizerPieces(consts);
    const scales = [...consts.scales];
    const levels = levelsOf(pieces.codes, scales);
    const k = planesUsed(levels);
    const outType = binaryType(shape, scales.slice(0, k), levels);
    const channels = shape[0]!;
    // Multipliers and the unit of S.
    const single = terms.length === 1;
    let multipliers: number[][];
    let unit: number[];
    if (single) {
      multipliers = [new Array<number>(channels).fill(1)];
      unit = [...terms[0]!.coef];
    } else {
      const maxAbs = Math.max(...terms.flatMap((t) => t.coef.map(Math.abs)));
      let r = chooseShift(maxAbs, this.opts.multiplierBits, -62, 62);
      const build = (): number[][] => terms.map((t) => t.coef.map((x) => roundHalfUp(x * 2 ** r)));
      multipliers = build();
      // Wide fan-ins: give up multiplier precision before the sum leaves the exact range.
      while (r > -62 && sumBound(multipliers, accBound, undefined) >= EXACT_LIMIT / 2) {
        r--;
        multipliers = build();
      }
      unit = new Array<number>(channels).fill(2 ** -r);
    }
    const sBound = sumBound(multipliers, accBound, undefined);
    this.checkExact(binarizer, sBound);
    // |S| <= sBound: a threshold at or below -sBound always holds, one above sBound never does.
    const lim = sBound + 1;
    const clampT = (t: number): number => (t > lim ? lim : t < -lim ? -lim : t);
    const bands: ChannelBands[] = [];
    let codeIndex = pieces.codes.map((c) => levelIndex(levels, c));
    let p = pieces.breakpoints;
    if (before) ({ breakpoints: p, codes: codeIndex } = composeMonotone(p, codeIndex, before));
    for (let c = 0; c < channels; c++) {
      const a = f.a[c]! * unit[c]!;
      const b = f.b[c]!;
      if (!(a !== 0 && Number.isFinite(a))) {
        // x = B_c for every input: one code.
        const x = b;
        let band = 0;
        while (band < p.length && x >= p[band]!) band++;
        bands.push({ thresholds: [], codes: [codeIndex[band]!] });
        continue;
      }
      let th: number[];
      let codes: number[];
      if (a > 0) {
        th = p.map((pu) => clampT(Math.ceil((pu - b) / a)));
        codes = [...codeIndex];
      } else {
        th = p.map((pu) => clampT(Math.floor((pu - b) / a) + 1)).reverse();
        codes = [...codeIndex].reverse();
      }
      while (th.length > 0 && th[0]! <= -sBound) {
        th.shift();
        codes.shift();
      }
      while (th.length > 0 && th[th.length - 1]! > sBound) {
        th.pop();
        codes.pop();
      }
      bands.push(normalizeBands(th, codes));
    }
    const id = this.addTensor(binarizer.outputs[0]!.name, outType);
    this.ops.push({
      op: 'threshold',
      id,
      nodes: chain.map((n) => n.name),
      input: inputId,
      output: id,
      multipliers,
      bands,
      unit,
      sumBits: signedBitsFor(sBound),
      exact: single || fixedInput,
      real: { scale: Array.from(f.a), offset: Array.from(f.b), breakpoints: [...p], codes: codeIndex },
    });
    for (const n of chain) this.fused.add(n);
    this.map(binarizer.outputs[0]!, id);
  }

  /** `frac`: the class's fixed fraction of the output stream (its calibrated range may raise it, `fracOf`). */
  private emitRequantize(chain: Node[], accId: string, shape: number[], terms: AccTerm[], accBound: number[], f: Affine, classFrac: number, bits: number, out: Value): void {
    const channels = shape[0]!;
    let unitMax = 0;
    for (const t of terms) for (let c = 0; c < channels; c++) unitMax = Math.max(unitMax, Math.abs(f.a[c]! * t.coef[c]!));
    let frac = this.fracOf(out.name, classFrac, bits);
    // A fraction from a range stops where one accumulator unit needs the whole multiplier width at shift 1.
    while (frac > classFrac && roundHalfUp(unitMax * 2 ** (frac + 1)) >= 2 ** (this.opts.multiplierBits - 1)) frac--;
    const maxAbs = unitMax * 2 ** frac;
    let shift = chooseShift(maxAbs, this.opts.multiplierBits);
    const build = (): { multipliers: number[][]; bias: number[] } => ({
      multipliers: terms.map((t) => t.coef.map((x, c) => roundHalfUp(f.a[c]! * x * 2 ** (frac + shift)))),
      bias: Array.from(f.b, (b) => roundHalfUp(b * 2 ** (frac + shift)) + 2 ** (shift - 1)),
    });
    let k = build();
    while (shift > 1 && sumBound(k.multipliers, accBound, k.bias) >= EXACT_LIMIT / 2) {
      shift--;
      k = build();
    }
    const sBound = sumBound(k.multipliers, accBound, k.bias);
    this.checkExact(chain[0]!, sBound);
    const id = this.addTensor(out.name, { kind: 'fixed', shape: [...shape], frac, bits } satisfies FixedType);
    this.ops.push({
      op: 'requantize',
      id,
      nodes: chain.map((n) => n.name),
      input: accId,
      output: id,
      multipliers: k.multipliers,
      bias: k.bias,
      shift,
      sumBits: signedBitsFor(sBound),
      real: { scale: Array.from(f.a), offset: Array.from(f.b) },
    });
    for (const n of chain) this.fused.add(n);
    this.map(out, id);
  }

  private checkExact(node: Node, bound: number): void {
    if (!(bound < EXACT_LIMIT)) {
      this.err(node, `the integer sum needs ${signedBitsFor(bound)} bits, more than the 53 the reference simulator holds exactly; lower ${optionName('multiplierBits')} or the activation width (${optionName('actBits')})`);
    }
  }

  // ---- layer geometry and weights --------------------------------------------------------------

  /**
   * Output shape, window, weight matrix geometry and bias of a Conv/Gemm/MatMul. Entry
   * [row, col] of the IR weight matrix is element row·cols + col of the ONNX weight tensor, or
   * col·rows + row when `transposed` (Gemm with transB=0, MatMul).
   */
  private layerGeometry(node: Node, xt: FixedType | BinaryType): {
    rows: number;
    cols: number;
    transposed: boolean;
    outShape: number[];
    window?: Window2d;
    group: number;
    bias: number[];
  } {
    const wv = node.inputs[1];
    const wDims = weightDims(wv);
    if (!wDims) this.err(node, 'the weight must be a BinarizedWeight call or a constant float initializer');
    if (node.opType === 'Conv') {
      if (xt.shape.length !== 3 || wDims.length !== 4) this.err(node, `2-D convolution over [C,H,W] is supported; input [${xt.shape.join(',')}], weight [${wDims.join(',')}]`);
      const [o, cg, kh, kw] = wDims as [number, number, number, number];
      const group = node.attrInt('group', 1);
      if (cg * group !== xt.shape[0] || o % group !== 0) this.err(node, `weight [${wDims.join(',')}] with group ${group} does not fit ${xt.shape[0]} input channels`);
      const ks = node.attrInts('kernel_shape');
      if (ks && (ks[0] !== kh || ks[1] !== kw)) this.err(node, `kernel_shape [${ks.join(',')}] differs from the weight's [${kh},${kw}]`);
      const window = windowOf(node, xt.shape, [kh, kw], this);
      const [oh, ow] = this.windowOutput(node);
      const cols = cg * kh * kw;
      const bias = this.biasOf(node, node.inputs[2], o, 1);
      return { rows: o, cols, transposed: false, outShape: [o, oh, ow], window, group, bias };
    }
    if (xt.shape.length !== 1) this.err(node, `a ${node.opType} needs a vector input per sample; it gets [${xt.shape.join(',')}] (insert a Flatten)`);
    if (wDims.length !== 2) this.err(node, `the weight must be 2-D; it is [${wDims.join(',')}]`);
    const j = xt.shape[0]!;
    let rows: number;
    let transposed: boolean;
    let bias = new Array<number>(0);
    if (node.opType === 'Gemm') {
      if (node.attrInt('transA', 0) !== 0) this.err(node, 'transA=1 is not supported');
      const transB = node.attrInt('transB', 0) === 1;
      const [d0, d1] = wDims as [number, number];
      const inDim = transB ? d1 : d0;
      rows = transB ? d0 : d1;
      if (inDim !== j) this.err(node, `weight [${wDims.join(',')}] (transB=${transB ? 1 : 0}) does not fit ${j} input features`);
      transposed = !transB;
      bias = this.biasOf(node, node.inputs[2], rows, node.attrFloat('beta', 1));
    } else {
      const [d0, d1] = wDims as [number, number];
      if (d0 !== j) this.err(node, `weight [${wDims.join(',')}] does not fit ${j} input features`);
      rows = d1;
      transposed = true;
      bias = new Array<number>(rows).fill(0);
    }
    return { rows, cols: j, transposed, outShape: [rows], group: 1, bias };
  }

  private biasOf(node: Node, v: Value | null | undefined, channels: number, factor: number): number[] {
    if (!v) return new Array<number>(channels).fill(0);
    const t = constOf(v);
    if (!t) this.err(node, `the bias "${v.name}" must be a constant`);
    const k = perChannel(t, [channels]);
    if (!k) this.err(node, `the bias "${v.name}" of shape [${t.dims.join(',')}] must have one value per output channel (${channels})`);
    return Array.from(k, (x) => x * factor);
  }

  private lowerWeight(node: Node, rows: number, cols: number, transposed: boolean): WeightTensor {
    const wv = throughIdentity(node.inputs[1]!);
    const call = wv.producer && isWeightCall(wv.producer) ? wv.producer : undefined;
    if (call) return this.lowerBinaryWeight(node, call, rows, cols, transposed);
    const t = constOf(wv)!;
    const data = t.toFloat32();
    let maxAbs = 0;
    for (let i = 0; i < data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(data[i]!));
    const frac = chooseShift(maxAbs, this.opts.weightBits, -62, 62);
    const values = new Int32Array(rows * cols);
    const unit = 2 ** frac;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[r * cols + c] = roundHalfUp(data[transposed ? c * rows + r : r * cols + c]! * unit);
    const w: FixedWeight = { kind: 'fixed', id: this.weightId(t.name), source: [t.name], rows, cols, frac, bits: this.opts.weightBits, values };
    this.weights.push(w);
    return w;
  }

  private lowerBinaryWeight(node: Node, call: Node, rows: number, cols: number, transposed: boolean): BinaryWeight {
    let wc: WeightCall;
    try {
      wc = readWeightCall(call);
    } catch (e) {
      return this.err(call, isHbnnError(e) ? e.message : String(e));
    }
    const { planes, k } = wc;
    const planeDims = [k, ...wc.dims];
    const n = rows * cols;
    if (planes.length !== k * n) this.err(call, `planes [${planeDims.join(',')}] do not hold ${k} planes of ${n} weights`);
    const scales = wc.scaleData;
    const scaleIndex = broadcastIndexer(wc.scaleDims, planeDims);
    if (!scaleIndex) this.err(call, `scales [${wc.scaleDims.join(',')}] do not broadcast against planes [${planeDims.join(',')}]`);
    const wpr = Math.ceil(cols / 32);
    const out: WeightPlane[] = [];
    // Entry (r, c) of the IR matrix is element e = r·cols + c of the ONNX weight, or c·rows + r
    // when it is stored transposed (Gemm transB=0, MatMul). Rows outer, columns inner: one pass
    // over each row's words, no per-entry allocation (AlexNet's 61 M weights in about a second).
    const perEntryScales = scales.length > k;
    for (let i = 0; i < k; i++) {
      const signs = new Uint32Array(rows * wpr);
      const mask = new Uint32Array(rows * wpr);
      const rowScale = new Array<number>(rows).fill(NaN);
      const base = i * n;
      for (let r = 0; r < rows; r++) {
        let s = perEntryScales ? NaN : scales[scaleIndex(base + (transposed ? r : r * cols))]!;
        const rowWord = r * wpr;
        for (let c = 0; c < cols; c++) {
          const e = base + (transposed ? c * rows + r : r * cols + c);
          if (perEntryScales) {
            const se = scales[scaleIndex(e)]!;
            if (Number.isNaN(s)) s = se;
            else if (s !== se) this.err(call, `plane ${i + 1} has different scales within output channel ${r}; the bit-level IR needs one scale per plane and output channel`);
          }
          const p = planes[e]!;
          if (p === 0) continue;
          if (p !== 1 && p !== -1) this.err(call, `plane ${i + 1} holds ${p}; planes must be -1, 0 or +1`);
          const word = rowWord + (c >>> 5);
          const bit = 1 << (c & 31);
          mask[word] = (mask[word]! | bit) >>> 0;
          if (p > 0) signs[word] = (signs[word]! | bit) >>> 0;
        }
        rowScale[r] = s;
      }
      out.push({ scales: rowScale.map((s) => (Number.isNaN(s) ? 0 : s)), signs, mask });
    }
    const base = weightBaseName(wc.key.name);
    const w: BinaryWeight = { kind: 'binary', id: this.weightId(base), source: [wc.key.name, wc.scales.name], rows, cols, wordsPerRow: wpr, planes: out };
    this.weights.push(w);
    void node;
    return w;
  }

  private weightId(base: string): string {
    let id = base;
    for (let i = 1; this.weights.some((w) => w.id === id); i++) id = `${base}_${i}`;
    return id;
  }
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

function isLayer(n: Node): boolean {
  return n.isOnnx() && (n.opType === 'Conv' || n.opType === 'Gemm' || n.opType === 'MatMul');
}

/** x ↦ clamp(x, lo, hi) (Clip, Relu) or x ↦ x ≥ 0 ? x : alpha·x (LeakyRelu, alpha > 0). */
interface Monotone {
  lo: number;
  hi: number;
  /** 0: a clamp; > 0: LeakyRelu's negative slope. */
  alpha: number;
}

/**
 * The binarizer b (breakpoints p, a code per interval) after the map g: b(g(x)) as
 * breakpoints in x. Clamp: the breakpoints in (lo, hi], the code below them b(lo). LeakyRelu:
 * a negative breakpoint p becomes p/alpha.
 */
export function composeMonotone(p: readonly number[], codes: readonly number[], g: Monotone): { breakpoints: number[]; codes: number[] } {
  const codeAt = (y: number): number => {
    let b = 0;
    while (b < p.length && y >= p[b]!) b++;
    return codes[b]!;
  };
  if (g.alpha > 0) return { breakpoints: p.map((x) => (x >= 0 ? x : x / g.alpha)), codes: [...codes] };
  const kept = p.filter((x) => x > g.lo && x <= g.hi);
  return { breakpoints: kept, codes: [codeAt(g.lo), ...kept.map(codeAt)] };
}

/** The nodes the graph outputs depend on (dead-code elimination as a view of the graph). */
/**
 * The most fraction bits F a stream of width `bits` can have when its entries reach |x| ≤ range
 * and `headroom` integer bits stay free above it: range · 2^F < 2^(bits − 1 − headroom) (at
 * most 62). Undefined for a range that is 0 or not finite (no information).
 */
export function rangeFrac(range: number, bits: number, headroom: number): number | undefined {
  if (!(range > 0) || !Number.isFinite(range)) return undefined;
  const limit = 2 ** (bits - 1 - headroom);
  let f = Math.min(62, Math.floor(Math.log2(limit / range)));
  while (range * 2 ** f >= limit) f--;
  while (f < 62 && range * 2 ** (f + 1) < limit) f++;
  return f;
}

/** Ops through which a binarizer's input is still the same real-valued stream (docs/bit-ir.md §3). */
const STREAM_OPS = new Set(['Relu', 'Clip', 'LeakyRelu', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Add', 'Sum', 'Sub', 'Mul', 'Div', 'BatchNormalization', 'Concat', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity', 'Dropout']);

/**
 * The values an activation binarizer reads through stream ops: walking back from each
 * binarizer's input through STREAM_OPS (every non-constant input; residual Adds and Concats
 * have several) up to the layers, binarizers and the graph input that produce them.
 */
function binarizerStreams(g: Graph): Set<Value> {
  const out = new Set<Value>();
  const stack: Value[] = g.nodes.filter(isActivationCall).map((n) => n.inputs[0]!).filter((v) => !!v);
  while (stack.length) {
    const v = stack.pop()!;
    if (out.has(v) || v.isInitializer) continue;
    out.add(v);
    const p = v.producer;
    if (!p || !p.isOnnx() || !STREAM_OPS.has(p.opType)) continue;
    for (const x of p.inputs) if (x && x.name !== '' && !x.isInitializer && !constOf(x)) stack.push(x);
  }
  return out;
}

function liveNodes(g: Graph): Set<Node> {
  const live = new Set<Node>();
  const stack: Value[] = [...g.outputs];
  const seen = new Set<Value>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const p = v.producer;
    if (!p || live.has(p)) continue;
    live.add(p);
    for (const i of p.inputs) if (i) stack.push(i);
  }
  return live;
}

/** v with Identity/Dropout producers skipped (identity elimination as a view). */
function throughIdentity(v: Value): Value {
  let cur = v;
  for (let i = 0; i < 64; i++) {
    const p = cur.producer;
    if (!p || !p.isOnnx() || !PASS_THROUGH.has(p.opType) || !p.inputs[0]) return cur;
    cur = p.inputs[0];
  }
  return cur;
}

/** The constant tensor behind a value: an initializer or a Constant node's `value` (through Identity nodes). */
export function constOf(v: Value | null | undefined): Tensor | undefined {
  if (!v) return undefined;
  v = throughIdentity(v);
  if (v.constValue && !v.isGraphInput) return v.constValue;
  const p = v.producer;
  if (p && p.isOnnx('Constant')) return p.attrTensor('value');
  return undefined;
}

function weightDims(v: Value | null | undefined): number[] | undefined {
  if (!v) return undefined;
  v = throughIdentity(v);
  const p = v.producer;
  if (p && isWeightCall(p)) return weightCallDims(p);
  const t = constOf(v);
  return t && t.dtype === DataType.FLOAT ? [...t.dims] : undefined;
}

/**
 * A constant broadcast against a sample of shape `shape` (ONNX shape [N, ...shape]) as one
 * value per channel (axis 0 of `shape`), or undefined when it varies along another axis.
 */
function perChannel(t: Tensor, shape: readonly number[]): Float64Array | undefined {
  const full = [1, ...shape];
  const d = t.dims;
  if (d.length > full.length) return undefined;
  const c = shape[0]!;
  const off = full.length - d.length;
  let channelDim = 1;
  for (let i = 0; i < d.length; i++) {
    const axis = i + off;
    if (d[i] === 1) continue;
    if (axis !== 1 || d[i] !== c) return undefined;
    channelDim = c;
  }
  const v = t.toFloat32();
  const out = new Float64Array(c);
  for (let i = 0; i < c; i++) out[i] = v[channelDim === 1 ? 0 : i]!;
  return out;
}

/** Maps a flat index of a tensor of dims `to` to the index of a tensor of dims `from` broadcast to it. */
function broadcastIndexer(from: readonly number[], to: readonly number[]): ((e: number) => number) | undefined {
  if (from.length > to.length) return undefined;
  const off = to.length - from.length;
  const fromStrides = new Array<number>(to.length).fill(0);
  let s = 1;
  for (let i = from.length - 1; i >= 0; i--) {
    const f = from[i]!;
    if (f !== 1 && f !== to[i + off]) return undefined;
    fromStrides[i + off] = f === 1 ? 0 : s;
    s *= f;
  }
  const toStrides = new Array<number>(to.length).fill(1);
  for (let i = to.length - 2; i >= 0; i--) toStrides[i] = toStrides[i + 1]! * to[i + 1]!;
  return (e) => {
    let r = 0;
    let rem = e;
    for (let i = 0; i < to.length; i++) {
      const q = Math.floor(rem / toStrides[i]!);
      rem -= q * toStrides[i]!;
      r += q * fromStrides[i]!;
    }
    return r;
  };
}

function windowOf(node: Node, inShape: readonly number[], kernel: [number, number], l: { err(n: Node, w: string): never }): Window2d {
  const strides = node.attrInts('strides', [1, 1]);
  const dilations = node.attrInts('dilations', [1, 1]);
  if (strides.length !== 2 || dilations.length !== 2) l.err(node, 'strides and dilations must have 2 entries');
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  let pads = node.attrInts('pads', [0, 0, 0, 0]);
  if (pads.length !== 4) l.err(node, 'pads must have 4 entries');
  if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (isSamePad(autoPad)) pads = resolvePads(autoPad, pads, inShape.slice(1, 3), kernel, strides, dilations);
  else if (autoPad !== 'NOTSET') l.err(node, `auto_pad ${autoPad} is not supported`);
  if (strides.some((s) => s < 1) || dilations.some((d) => d < 1) || pads.some((p) => p < 0)) l.err(node, 'strides and dilations must be positive and pads non-negative');
  return {
    kernel,
    strides: [strides[0]!, strides[1]!],
    pads: [pads[0]!, pads[1]!, pads[2]!, pads[3]!],
    dilations: [dilations[0]!, dilations[1]!],
  };
}

/** Output [OH, OW] of a window op over [C, H, W] (ONNX rules, ceil mode included). */
export function outputSize(inShape: readonly number[], w: Window2d, ceilMode: boolean): [number, number] {
  const out = (a: number): number => windowOutputSize(inShape[1 + a]!, w.kernel[a]!, w.strides[a]!, w.dilations[a]!, w.pads[a]!, w.pads[a + 2]!, ceilMode);
  return [out(0), out(1)];
}

function binaryType(shape: readonly number[], scales: readonly number[], levels: Level[]): BinaryType {
  const k = Math.max(1, planesUsed(levels));
  const s = [...scales.slice(0, k)];
  while (s.length < k) s.push(0);
  return { kind: 'binary', shape: [...shape], planes: k, scales: s, levels };
}

function binarizerConstants(node: Node, l: { err(n: Node, w: string): never }): BinarizerConstants {
  const vals = [1, 2, 3, 4, 5].map((i) => {
    const t = constOf(node.inputs[i]);
    if (!t) l.err(node, `input ${i} of the activation binarizer must be a constant (calibrate the model)`);
    return Array.from(t.toFloat32());
  });
  const s = vals[0]!;
  if (s.length !== 3) l.err(node, `the binarizer scales must have 3 entries; they have ${s.length}`);
  for (let i = 1; i < 5; i++) if (vals[i]!.length !== 1) l.err(node, `binarizer input ${i + 1} must be a scalar`);
  return { scales: [s[0]!, s[1]!, s[2]!], center: vals[1]![0]!, sign: vals[2]![0]!, t1: vals[3]![0]!, t2: vals[4]![0]! };
}

function maxRowCount(mask: Uint32Array, rows: number, wpr: number): number {
  let best = 0;
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let w = 0; w < wpr; w++) n += popcount32(mask[r * wpr + w]!);
    best = Math.max(best, n);
  }
  return best;
}

function maxRowAbs(values: Int32Array, rows: number, cols: number): number {
  let best = 0;
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let c = 0; c < cols; c++) n += Math.abs(values[r * cols + c]!);
    best = Math.max(best, n);
  }
  return best;
}

/** Static bound of |Σ_t M[t][c]·acc_t + bias[c]| over channels. */
function sumBound(multipliers: number[][], accBound: number[], bias: number[] | undefined): number {
  const channels = multipliers[0]?.length ?? 0;
  let best = 0;
  for (let c = 0; c < channels; c++) {
    let s = bias ? Math.abs(bias[c]!) : 0;
    for (let t = 0; t < multipliers.length; t++) s += Math.abs(multipliers[t]![c]!) * accBound[t]!;
    best = Math.max(best, s);
  }
  return best;
}

/** Removes empty bands (equal neighbouring thresholds) and merges neighbours with the same code. */
export function normalizeBands(thresholds: number[], codes: number[]): ChannelBands {
  const th: number[] = [];
  const cs: number[] = [codes[0]!];
  for (let u = 0; u < thresholds.length; u++) {
    const t = thresholds[u]!;
    const code = codes[u + 1]!;
    if (th.length > 0 && th[th.length - 1] === t) {
      // The band [previous threshold, t) is empty: the code of band u+1 replaces it.
      cs[cs.length - 1] = code;
    } else {
      th.push(t);
      cs.push(code);
    }
    // Merge with the previous band when equal.
    if (cs.length >= 2 && cs[cs.length - 1] === cs[cs.length - 2]) {
      cs.pop();
      th.pop();
    }
  }
  return { thresholds: th, codes: cs };
}

export { codeValue };

/** Re-exported for modules that imported it from here; its home is fixed.ts. */
export { popcount32 } from './fixed.js';
