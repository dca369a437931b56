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
import type { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/dtype.js';
import { tensorTypeOf } from '../ir/types.js';
import { fail, ErrorCodes, HbnnError, isHbnnError, optionName } from '../errors.js';
import { META_IMPORT, isActivationCall, isWeightCall, requireQuantRecord, type QuantRecord } from '../quant/format.js';
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
  type LoweringOptions,
  type WeightPlane,
  type WeightTensor,
  type Window2d,
} from './types.js';
import { binarizerPieces, codeValue, levelIndex, levelsOf, planesUsed, type BinCode, type BinarizerConstants } from './binarizer.js';
import { EXACT_LIMIT, chooseShift, popcount32, roundHalfUp, signedBitsFor } from './fixed.js';

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

class Lowering {
  private readonly g: Graph;
  private readonly tensors = new Map<string, BitTensor>();
  private readonly weights: WeightTensor[] = [];
  private readonly ops: BitOp[] = [];
  private readonly mapped = new Map<Value, Mapped>();
  private readonly fused = new Set<Node>();
  private readonly lastLayer: Node | undefined;
  private inputName = '';
  private inputShape: number[] = [];

  constructor(
    private readonly model: Model,
    private readonly record: QuantRecord,
    private readonly opts: LoweringOptions,
  ) {
    this.g = model.graph;
    const layers = this.g.nodes.filter((n) => isLayer(n));
    this.lastLayer = layers[layers.length - 1];
  }

  run(): BitProgram {
    this.lowerInput();
    for (const node of this.g.nodes) {
      if (this.fused.has(node)) continue;
      if (isWeightCall(node) || node.opType === 'Constant') continue;
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
    this.ops.push({ op: 'argmax', id: cls, nodes: [], input: logits.id, output: cls });
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
      fail(ErrorCodes.LOWERING, `node ${node.label}: input ${index} ("${v?.name ?? ''}") is not computed from the model input; the bit-level IR handles one chain from the input to the logits`, {
        node: node.name,
        op: node.opType,
      });
    }
    return m;
  }

  err(node: Node, why: string): never {
    return fail(ErrorCodes.LOWERING, `cannot lower node ${node.label}: ${why}`, { node: node.name, op: node.opType });
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
    const id = this.addTensor(v.name, { kind: 'fixed', shape: [...this.inputShape], frac: this.opts.inputFrac, bits: this.opts.inputBits });
    this.ops.push({ op: 'input', id, nodes: [], source: v.name, output: id });
    this.map(v, id);
  }

  // ---- nodes -------------------------------------------------------------------------------

  private lowerNode(node: Node): void {
    if (node.domain !== '' && node.domain !== 'ai.onnx' && !isActivationCall(node)) this.err(node, `operator ${node.domain}::${node.opType} has no bit-level form`);
    if (isLayer(node)) return this.lowerLayer(node);
    if (isActivationCall(node)) return this.lowerStandaloneBinarizer(node);
    if (AFFINE_OPS.has(node.opType) && this.lowerAffineIntoBinarizer(node)) return;
    switch (node.opType) {
      case 'Relu':
        return this.lowerRelu(node);
      case 'MaxPool':
        return this.lowerMaxPool(node);
      case 'Flatten':
      case 'Reshape':
        return this.lowerReshape(node);
      case 'Mul':
        return this.lowerScale(node);
      default:
        if (PASS_THROUGH.has(node.opType)) {
          const m = this.dataInput(node);
          this.mapped.set(node.outputs[0]!, m);
          return;
        }
        return this.err(node, `operator ${node.opType} has no bit-level form (supported: Conv, Gemm, MatMul, BatchNormalization, Add/Sub/Mul/Div by constants, BinarizeActivation, Relu, MaxPool, Flatten, Reshape, Identity, Dropout)`);
    }
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
    const [oh, ow] = outputSize(t.shape, w, ceilMode);
    if (oh <= 0 || ow <= 0) this.err(node, 'the output would be empty');
    const id = this.addTensor(node.outputs[0]!.name, { ...t, shape: [t.shape[0]!, oh, ow] } as BitType);
    this.ops.push({ op: 'maxpool', id, nodes: [node.name], input: x.id, output: id, ...w, ceilMode });
    this.map(node.outputs[0]!, id);
  }

  private lowerReshape(node: Node): void {
    const x = this.dataInput(node);
    const t = x.type;
    if (t.kind !== 'fixed' && t.kind !== 'binary') this.err(node, `input is ${t.kind}`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    let shape: number[];
    if (node.opType === 'Flatten') {
      const axis = node.attrInt('axis', 1);
      if (axis !== 1) this.err(node, `Flatten axis ${axis}: only axis 1 (keep the batch) is supported`);
      shape = [size];
    } else {
      const s = constOf(node.inputs[1]);
      if (!s) this.err(node, 'the target shape must be a constant');
      const dims = s.toNumberArray();
      if (dims[0] !== 0 && dims[0] !== -1) this.err(node, `the target shape [${dims.join(',')}] must keep the batch dimension first (0 or -1)`);
      const rest = dims.slice(1).map((d, i) => (d === 0 ? t.shape[i] ?? -2 : d));
      const known = rest.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const free = rest.filter((d) => d === -1).length;
      if (rest.some((d) => d < -1 || d === -2) || free > (dims[0] === 0 ? 1 : 0) || (free === 0 && known !== size) || (free === 1 && size % known !== 0)) {
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
      next = singleConsumer(v);
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
    const weight = this.lowerWeight(node, layer.rows, layer.cols, layer.entry);
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
      const next = singleConsumer(v);
      if (!next) break;
      if (isActivationCall(next) && next.inputs[0] === v) {
        chain.push(next);
        this.emitThreshold(chain, accId, layer.outShape, terms, accBound, affine, next, false);
        return;
      }
      if (next.opType === 'Mul' && this.record.scalingLayer?.node === next.name && next.name !== '') break;
      if (!this.foldAffine(next, v, affine, layer.outShape)) break;
      chain.push(next);
      v = next.outputs[0]!;
    }
    const logits = node === this.lastLayer;
    const frac = logits ? this.opts.logitFrac : this.opts.actFrac;
    const bits = logits ? this.opts.logitBits : this.opts.actBits;
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

  private emitThreshold(chain: Node[], inputId: string, shape: number[], terms: AccTerm[], accBound: number[], f: Affine, binarizer: Node, fixedInput: boolean): void {
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
    const codeIndex = pieces.codes.map((c) => levelIndex(levels, c));
    const p = pieces.breakpoints;
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

  private emitRequantize(chain: Node[], accId: string, shape: number[], terms: AccTerm[], accBound: number[], f: Affine, frac: number, bits: number, out: Value): void {
    const channels = shape[0]!;
    let maxAbs = 0;
    for (const t of terms) for (let c = 0; c < channels; c++) maxAbs = Math.max(maxAbs, Math.abs(f.a[c]! * t.coef[c]! * 2 ** frac));
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
   * Output shape, window, weight matrix geometry and bias of a Conv/Gemm/MatMul. `entry(e)`
   * maps a flat index of the ONNX weight tensor to [row, col] of the IR weight matrix.
   */
  private layerGeometry(node: Node, xt: FixedType | BinaryType): {
    rows: number;
    cols: number;
    entry: (e: number) => [number, number];
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
      const [oh, ow] = outputSize(xt.shape, window, false);
      if (oh <= 0 || ow <= 0) this.err(node, 'the output would be empty');
      const cols = cg * kh * kw;
      const bias = this.biasOf(node, node.inputs[2], o, 1);
      return { rows: o, cols, entry: (e) => [Math.floor(e / cols), e % cols], outShape: [o, oh, ow], window, group, bias };
    }
    if (xt.shape.length !== 1) this.err(node, `a ${node.opType} needs a vector input per sample; it gets [${xt.shape.join(',')}] (insert a Flatten)`);
    if (wDims.length !== 2) this.err(node, `the weight must be 2-D; it is [${wDims.join(',')}]`);
    const j = xt.shape[0]!;
    let rows: number;
    let entry: (e: number) => [number, number];
    let bias = new Array<number>(0);
    if (node.opType === 'Gemm') {
      if (node.attrInt('transA', 0) !== 0) this.err(node, 'transA=1 is not supported');
      const transB = node.attrInt('transB', 0) === 1;
      const [d0, d1] = wDims as [number, number];
      const inDim = transB ? d1 : d0;
      rows = transB ? d0 : d1;
      if (inDim !== j) this.err(node, `weight [${wDims.join(',')}] (transB=${transB ? 1 : 0}) does not fit ${j} input features`);
      entry = transB ? (e) => [Math.floor(e / d1), e % d1] : (e) => [e % d1, Math.floor(e / d1)];
      bias = this.biasOf(node, node.inputs[2], rows, node.attrFloat('beta', 1));
    } else {
      const [d0, d1] = wDims as [number, number];
      if (d0 !== j) this.err(node, `weight [${wDims.join(',')}] does not fit ${j} input features`);
      rows = d1;
      entry = (e) => [e % d1, Math.floor(e / d1)];
      bias = new Array<number>(rows).fill(0);
    }
    return { rows, cols: j, entry, outShape: [rows], group: 1, bias };
  }

  private biasOf(node: Node, v: Value | null | undefined, channels: number, factor: number): number[] {
    if (!v) return new Array<number>(channels).fill(0);
    const t = constOf(v);
    if (!t) this.err(node, `the bias "${v.name}" must be a constant`);
    const k = perChannel(t, [channels]);
    if (!k) this.err(node, `the bias "${v.name}" of shape [${t.dims.join(',')}] must have one value per output channel (${channels})`);
    return Array.from(k, (x) => x * factor);
  }

  private lowerWeight(node: Node, rows: number, cols: number, entry: (e: number) => [number, number]): WeightTensor {
    const wv = node.inputs[1]!;
    const call = wv.producer && isWeightCall(wv.producer) ? wv.producer : undefined;
    if (call) return this.lowerBinaryWeight(node, call, rows, cols, entry);
    const t = constOf(wv)!;
    const data = t.toFloat32();
    let maxAbs = 0;
    for (let i = 0; i < data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(data[i]!));
    const frac = chooseShift(maxAbs, this.opts.weightBits, -62, 62);
    const values = new Int32Array(rows * cols);
    for (let e = 0; e < data.length; e++) {
      const [r, c] = entry(e);
      values[r * cols + c] = roundHalfUp(data[e]! * 2 ** frac);
    }
    const w: FixedWeight = { kind: 'fixed', id: this.weightId(t.name), source: [t.name], rows, cols, frac, bits: this.opts.weightBits, values };
    this.weights.push(w);
    return w;
  }

  private lowerBinaryWeight(node: Node, call: Node, rows: number, cols: number, entry: (e: number) => [number, number]): BinaryWeight {
    const pt = constOf(call.inputs[0]);
    const st = constOf(call.inputs[1]);
    if (!pt || !st || pt.dtype !== DataType.INT8) this.err(call, 'BinarizedWeight needs constant int8 planes and constant float scales');
    const raw = pt.toRawBytes();
    const planes = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    const k = pt.dims[0]!;
    const n = rows * cols;
    if (pt.size !== k * n) this.err(call, `planes [${pt.dims.join(',')}] do not hold ${k} planes of ${n} weights`);
    const scales = st.toFloat32();
    const scaleIndex = broadcastIndexer(st.dims, pt.dims);
    if (!scaleIndex) this.err(call, `scales [${st.dims.join(',')}] do not broadcast against planes [${pt.dims.join(',')}]`);
    const wpr = Math.ceil(cols / 32);
    const out: WeightPlane[] = [];
    for (let i = 0; i < k; i++) {
      const signs = new Uint32Array(rows * wpr);
      const mask = new Uint32Array(rows * wpr);
      const rowScale = new Array<number>(rows).fill(NaN);
      for (let e = 0; e < n; e++) {
        const p = planes[i * n + e]!;
        const [r, c] = entry(e);
        const s = scales[scaleIndex(i * n + e)]!;
        if (Number.isNaN(rowScale[r]!)) rowScale[r] = s;
        else if (rowScale[r] !== s) this.err(call, `plane ${i + 1} has different scales within output channel ${r}; the bit-level IR needs one scale per plane and output channel`);
        if (p === 0) continue;
        if (p !== 1 && p !== -1) this.err(call, `plane ${i + 1} holds ${p}; planes must be -1, 0 or +1`);
        const word = r * wpr + (c >>> 5);
        const bit = 1 << (c & 31);
        mask[word] = (mask[word]! | bit) >>> 0;
        if (p > 0) signs[word] = (signs[word]! | bit) >>> 0;
      }
      out.push({ scales: rowScale.map((s) => (Number.isNaN(s) ? 0 : s)), signs, mask });
    }
    const base = pt.name.replace(/\.hbnn_planes(_\d+)?$/, '');
    const w: BinaryWeight = { kind: 'binary', id: this.weightId(base), source: [pt.name, st.name], rows, cols, wordsPerRow: wpr, planes: out };
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

function singleConsumer(v: Value): Node | undefined {
  if (v.isGraphOutput || v.uses.length !== 1) return undefined;
  return v.uses[0]!.node;
}

/** The constant tensor behind a value: an initializer or a Constant node's `value`. */
export function constOf(v: Value | null | undefined): Tensor | undefined {
  if (!v) return undefined;
  if (v.constValue && !v.isGraphInput) return v.constValue;
  const p = v.producer;
  if (p && p.isOnnx('Constant')) return p.attrTensor('value');
  return undefined;
}

function weightDims(v: Value | null | undefined): number[] | undefined {
  if (!v) return undefined;
  const p = v.producer;
  if (p && isWeightCall(p)) {
    const planes = constOf(p.inputs[0]);
    return planes ? [...planes.dims.slice(1)] : undefined;
  }
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
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const p: number[] = [0, 0, 0, 0];
    for (let a = 0; a < 2; a++) {
      const size = inShape[1 + a]!;
      const out = Math.ceil(size / strides[a]!);
      const total = Math.max(0, (out - 1) * strides[a]! + (kernel[a]! - 1) * dilations[a]! + 1 - size);
      const small = Math.floor(total / 2);
      p[a] = autoPad === 'SAME_UPPER' ? small : total - small;
      p[a + 2] = total - p[a]!;
    }
    pads = p;
  } else if (autoPad !== 'NOTSET') l.err(node, `auto_pad ${autoPad} is not supported`);
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
  const out: number[] = [];
  for (let a = 0; a < 2; a++) {
    const size = inShape[1 + a]!;
    const span = (w.kernel[a]! - 1) * w.dilations[a]! + 1;
    const padded = size + w.pads[a]! + w.pads[a + 2]!;
    let o = (ceilMode ? Math.ceil((padded - span) / w.strides[a]!) : Math.floor((padded - span) / w.strides[a]!)) + 1;
    // ceil mode: the last window must start inside the input or the left padding.
    if (ceilMode && (o - 1) * w.strides[a]! >= size + w.pads[a]!) o--;
    out.push(o);
  }
  return [out[0]!, out[1]!];
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
