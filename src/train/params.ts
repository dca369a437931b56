/**
 * Trainable state in TypeScript: latent float parameters, the per-step re-binarization of
 * binarized weights with the straight-through estimator, BatchNorm running statistics, and
 * writing all of it back into an inference model (the quantized format for binarized
 * weights, plain initializers for the rest).
 *
 * Binarized weights (METHOD §5): the latent float weight W is kept here. Every step,
 * `WeightBinarizer.binarize` re-binarizes W with the layer's recorded heuristic, distribution,
 * scale mode and bit map granularity (the same code path as `quantizeLayerWeight`), the
 * training graph gets Ŵ as an input and returns dL/dŴ, and the clipped STE gives
 * dL/dW = dL/dŴ · [|W| <= 1]. With frozen bit maps the bit map M is kept fixed and only the
 * scales and signs follow W.
 */
import type { Model, Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/dtype.js';
import { fail, ErrorCodes } from '../errors.js';
import { binarizeWithBitMap, heteroBinarize, residualBinarize, WarmBounds, type Binarization } from '../hbnn/index.js';
import { layerBinarization, layerQuantResult, quantizeLayerWeight, type LayerQuantResult, type LayerQuantSpec, type WeightHeuristic } from '../quant/weights.js';
import { fromChannelMajor, toChannelMajor } from '../quant/targets.js';
import { readQuantRecord, updateAverageWeightBits, weightGranularity, writeQuantRecord, type QuantRecord, type WeightRecord } from '../quant/format.js';
import { dequantizeWeightCall, findWeightCall, rewriteWeightCall } from '../quant/planes.js';
import type { TrainingGraph, TrainingParam } from './grad/builder.js';
import { trainingArrays, type ArenaWeight } from './optimizer-wasm.js';

/** Where a weight's output channels lie (Conv and Gemm transB=1: axis 0; Gemm transB=0 and MatMul: axis 1). */
export interface ChannelLayout {
  channelAxis: number;
  channels: number;
}

/** Per-step output buffers of a binarizer (Ŵ channel-major, sign paths, bit map). */
interface StepBuffers {
  out: Float32Array;
  signs: Uint8Array;
  bitMap: Uint8Array;
  /** The bit map selections' bounds of the previous step (a warm start: the same bit map, less work). */
  warm: WarmBounds;
}

/** Re-binarizes one layer's latent weight as its quantization record says. */
export class WeightBinarizer {
  readonly record: WeightRecord;
  readonly dims: number[];
  readonly layout: ChannelLayout;
  readonly spec: LayerQuantSpec;
  /** Bit map kept fixed (channel-major), when bit maps are frozen. */
  frozen: Uint8Array | null = null;
  private buffers: StepBuffers | undefined;
  /**
   * Whether `binarize(w, true)` starts its bit map selections from the previous step's bounds
   * (identical results either way; off for A/B benchmarks).
   */
  warmStart = true;

  constructor(record: WeightRecord, layout: ChannelLayout) {
    this.record = record;
    this.dims = [...record.shape];
    this.layout = layout;
    const granularity = weightGranularity(record);
    this.spec = {
      heuristic: record.heuristic as WeightHeuristic,
      dist: record.distribution,
      perChannel: record.perChannel,
      seed: record.seed ?? 0,
      ...(granularity === 'row' ? { granularity } : {}),
    };
  }

  private get scaleChannels(): number | undefined {
    return this.spec.perChannel ? this.layout.channels : undefined;
  }

  /**
   * The binarization of `w` (weight layout) in channel-major order, and its bit map (`frozen`,
   * or computed). With `buffers`, the results are written into them (no allocation).
   */
  private binarizeChannelMajor(w: Float32Array, frozen: Uint8Array | null, buffers?: StepBuffers, sumAbs?: number): { bin: Binarization; bitMap: Uint8Array } {
    const cm = toChannelMajor(w, this.dims, this.layout.channelAxis);
    const { homogeneousBits, mapOpts, binOpts } = layerBinarization(this.spec, this.record.tensor, this.scaleChannels, this.layout.channels);
    // sum |w| in w's order is the channel-major one's only when no transpose was needed
    const sum = sumAbs !== undefined && cm === w ? { sumAbs } : {};
    const opts = { ...binOpts, ...(buffers ? { out: buffers.out, signsOut: buffers.signs } : {}), ...sum };
    if (frozen) return { bin: heteroBinarize(cm, frozen, opts), bitMap: frozen };
    if (homogeneousBits > 0) return { bin: residualBinarize(cm, homogeneousBits, opts), bitMap: new Uint8Array(cm.length).fill(homogeneousBits) };
    // bit map and binarization in one call (bit-identical to makeBitMap then heteroBinarize)
    const { map, bin } = binarizeWithBitMap(cm, { ...mapOpts, ...(buffers ? { out: buffers.bitMap, ...(this.warmStart ? { warm: buffers.warm } : {}) } : {}) }, opts);
    return { bin, bitMap: map.bitMap };
  }

  /**
   * Ŵ for latent weight `w`, in the weight's layout. With `reuse`, Ŵ lives in a buffer of this
   * binarizer that the next `binarize(..., true)` overwrites (the training step's form: no
   * allocation per step). `sumAbs`: the float64 sum of |w| in index order, when the caller has
   * just computed it (`Optimizer.lastSumAbs` right after updating w): one pass over w less
   * (see `BinarizeOptions.sumAbs`).
   */
  binarize(w: Float32Array, reuse = false, sumAbs?: number): Float32Array {
    let buffers: StepBuffers | undefined;
    if (reuse) {
      const n = w.length;
      buffers = this.buffers ??= { out: new Float32Array(n), signs: new Uint8Array(n), bitMap: new Uint8Array(n), warm: new WarmBounds() };
    }
    const { bin, bitMap } = this.binarizeChannelMajor(w, this.frozen, buffers, sumAbs);
    this.lastBitMap = bitMap;
    return fromChannelMajor(bin.dequantized, this.dims, this.layout.channelAxis, (n) => new Float32Array(n));
  }

  /**
   * Makes `binarize(w, true)` write Ŵ (channel-major), the sign paths and the bit map into the
   * given arrays (n entries each) instead of buffers of its own: the trainer's, in the latent
   * weights' `KernelArena`, where the re-binarization then runs in place.
   */
  placeBuffers(out: Float32Array, signs: Uint8Array, bitMap: Uint8Array): void {
    const n = this.dims.reduce((a, b) => a * b, 1);
    if (out.length !== n || signs.length !== n || bitMap.length !== n) fail(ErrorCodes.INTERNAL, `placeBuffers: ${n} entries expected`);
    this.buffers = { out, signs, bitMap, warm: this.buffers?.warm ?? new WarmBounds() };
  }

  /** The bit map (channel-major) of the last `binarize` call; overwritten by the next one. */
  private lastBitMap: Uint8Array | null = null;

  /**
   * Holds the bit map of the last `binarize` call as `frozen` (a copy), so that the next steps
   * re-binarize with it until `frozen` is cleared (`FineTuneOptions.bitMapEvery`). A layer
   * with one bitwidth for every entry (homogeneous) has no map to hold: its re-binarization
   * reads no map anyway.
   */
  holdLastBitMap(): void {
    const homogeneous = layerBinarization(this.spec, this.record.tensor, this.scaleChannels, this.layout.channels).homogeneousBits > 0;
    if (!homogeneous && this.lastBitMap !== null) this.frozen = this.lastBitMap.slice();
  }

  /** Warm-start bounds that held and that were rejected so far (see `warmStart`). */
  get warmStats(): { hits: number; misses: number } {
    return { hits: this.buffers?.warm.hits ?? 0, misses: this.buffers?.warm.misses ?? 0 };
  }

  /** Fixes the bit map to the one `w` gives now. */
  freeze(w: Float32Array): void {
    this.frozen = this.binarizeChannelMajor(w, null).bitMap.slice();
  }

  /** The deployable form of `w`: planes, scales, histogram (exactly the Ŵ `binarize` gives with the bit map `frozen`). */
  quantize(w: Float32Array, frozen: Uint8Array | null = this.frozen): LayerQuantResult {
    if (!frozen) return quantizeLayerWeight(w, this.dims, this.layout, this.spec, this.record.tensor);
    const { bin, bitMap: bitMapCm } = this.binarizeChannelMajor(w, frozen);
    return layerQuantResult(bitMapCm, bin, this.dims, this.layout.channelAxis, this.scaleChannels);
  }
}

/** One trainable tensor. */
export interface LatentParam {
  /** Stable name (checkpoints, logs): the initializer name, or for a binarized weight the original float weight's name. */
  name: string;
  /** The training graph's input and gradient output. */
  input: string;
  grad: string;
  dims: number[];
  kind: 'float' | 'binarized';
  /** The latent values (updated in place by the optimizer). */
  value: Float32Array;
  binarizer?: WeightBinarizer;
}

export interface BatchNormState {
  node: string;
  runningMean: string;
  runningVar: string;
  momentum: number;
  meanOutput: string;
  varOutput: string;
  /** Entries per channel per sample (TrainingBatchNorm.perSample), when static. */
  perSample?: number;
  mean: Float32Array;
  variance: Float32Array;
}

/** The output-channel layout of the weight of `node` (a Conv, Gemm or MatMul). */
export function channelLayout(op: string, transB: number, dims: readonly number[]): ChannelLayout {
  if (op === 'Conv' || (op === 'Gemm' && transB === 1)) return { channelAxis: 0, channels: dims[0]! };
  return { channelAxis: 1, channels: dims[1]! };
}

/**
 * The latent parameters of a training graph. Binarized weights start from the float
 * initializer of the same name in `latentFrom` (the model before quantization) when given,
 * else from the dequantized weight Ŵ of the quantized model.
 */
export function collectParams(model: Model, tg: TrainingGraph, latentFrom?: Model): LatentParam[] {
  const record = readQuantRecord(model);
  const params = tg.params.map((p) => (p.kind === 'float' ? floatParam(model, p) : binarizedParam(model, p, record, latentFrom)));
  // the binarized latent weights in one WebAssembly memory beside their gradient's room, momentum,
  // Ŵ, sign paths and bit map: the re-binarization and SGD run on them in place
  const bin = params.filter((p) => p.kind === 'binarized');
  const arrays = trainingArrays(bin.map((p) => p.value));
  bin.forEach((p, i) => {
    const a: ArenaWeight | null = arrays[i]!;
    if (a === null) return;
    p.value = a.value;
    p.binarizer!.placeBuffers(a.out, a.signs, a.bitMap);
  });
  return params;
}

function floatParam(model: Model, p: TrainingParam): LatentParam {
  const v = model.graph.get(p.source);
  if (!v?.constValue) fail(ErrorCodes.INTERNAL, `parameter ${p.source} has no initializer`);
  return { name: p.source, input: p.input, grad: p.grad, dims: p.dims, kind: 'float', value: v.constValue.toFloat32().slice() };
}

function binarizedParam(model: Model, p: TrainingParam, record: QuantRecord | undefined, latentFrom?: Model): LatentParam {
  const rec = record?.weights.find((w) => w.planes === p.planes);
  if (!rec) fail(ErrorCodes.NOT_QUANTIZED, `BinarizedWeight ${p.source} has no entry in the hbnn.quantization record`, { node: p.source });
  const layer = model.graph.nodes.find((n) => n.name === rec.node);
  const layout = channelLayout(rec.op, layer?.attrInt('transB', 0) ?? 0, rec.shape);
  const binarizer = new WeightBinarizer(rec, layout);
  let value: Float32Array | undefined;
  const src = latentFrom?.graph.get(rec.tensor)?.constValue;
  if (latentFrom) {
    if (!src || src.dtype !== DataType.FLOAT || src.dims.join(',') !== rec.shape.join(',')) {
      fail(ErrorCodes.DATA_MISMATCH, `the float model has no float weight "${rec.tensor}" of shape [${rec.shape.join(',')}] to start from`, { tensor: rec.tensor });
    }
    value = src.toFloat32().slice();
  } else {
    value = dequantizeRecorded(model, rec);
  }
  return { name: rec.tensor, input: p.input, grad: p.grad, dims: p.dims, kind: 'binarized', value, binarizer };
}

/** Ŵ from the planes and scales initializers (float32 sum in plane order, as onnxruntime computes it); either plane encoding. */
export function dequantizeRecorded(model: Model, rec: WeightRecord, _layout?: ChannelLayout): Float32Array {
  const call = findWeightCall(model.graph, rec.planes);
  if (!call) fail(ErrorCodes.NOT_QUANTIZED, `planes or scales of "${rec.tensor}" are missing`, { tensor: rec.tensor });
  return dequantizeWeightCall(call).slice();
}

export function collectBatchNorms(model: Model, tg: TrainingGraph): BatchNormState[] {
  return tg.batchNorms.map((b) => {
    const mean = model.graph.get(b.runningMean)?.constValue;
    const variance = model.graph.get(b.runningVar)?.constValue;
    if (!mean || !variance) {
      fail(
        ErrorCodes.UNSUPPORTED_OP,
        `BatchNormalization ${b.node}: running statistics are not initializers (they are computed by nodes, e.g. an Identity of an initializer several BatchNorms share, as PyTorch's exporter writes for identical tensors); fold them into initializers first: hbnn-onnx opt MODEL -p fold-constants -o OUT.onnx`,
        { node: b.node },
      );
    }
    return { ...b, mean: mean.toFloat32().slice(), variance: variance.toFloat32().slice() };
  });
}

/** running = m·running + (1 - m)·batch, in float64 then rounded to float32. */
export function updateRunningStats(bn: BatchNormState, batchMean: Float32Array, batchVar: Float32Array): void {
  const m = bn.momentum;
  for (let c = 0; c < bn.mean.length; c++) {
    bn.mean[c] = m * bn.mean[c]! + (1 - m) * batchMean[c]!;
    bn.variance[c] = m * bn.variance[c]! + (1 - m) * batchVar[c]!;
  }
}

/** The clip of the weights' straight-through estimator: no gradient where |W| > 1 (METHOD §5). */
export const WEIGHT_STE_CLIP = 1;

/** The clipped straight-through estimator in place: g ← g · [|w| <= 1]. */
export function applyWeightSte(grad: Float32Array, latent: Float32Array): void {
  for (let i = 0; i < grad.length; i++) if (!(Math.abs(latent[i]!) <= WEIGHT_STE_CLIP)) grad[i] = 0;
}

/** Values of every parameter and running statistic at one point of a run (aligned with the params and bns lists). */
export interface ParamValues {
  values: Float32Array[];
  /** Frozen bit map per parameter (null: recomputed). */
  frozen: (Uint8Array | null)[];
  bnMean: Float32Array[];
  bnVar: Float32Array[];
}

/** The current values (no copies). */
export function currentValues(params: readonly LatentParam[], bns: readonly BatchNormState[]): ParamValues {
  return { values: params.map((p) => p.value), frozen: params.map((p) => p.binarizer?.frozen ?? null), bnMean: bns.map((b) => b.mean), bnVar: bns.map((b) => b.variance) };
}

/** A copy of the current values (e.g. of the best epoch). */
export function snapshotValues(params: readonly LatentParam[], bns: readonly BatchNormState[]): ParamValues {
  const v = currentValues(params, bns);
  return { values: v.values.map((a) => a.slice()), frozen: v.frozen.map((a) => a?.slice() ?? null), bnMean: v.bnMean.map((a) => a.slice()), bnVar: v.bnVar.map((a) => a.slice()) };
}

/**
 * Writes parameters and running statistics (`at`, default the current values) into `model`
 * (an inference model, modified in place): float initializers replaced, binarized weights
 * re-quantized into their planes and scales initializers, and the quantization record
 * updated (scales, histograms, averages).
 */
export function writeParams(model: Model, params: readonly LatentParam[], bns: readonly BatchNormState[], at: ParamValues = currentValues(params, bns)): void {
  const g = model.graph;
  const setInit = (name: string, t: Tensor): void => {
    const v: Value | undefined = g.get(name);
    if (!v?.constValue) fail(ErrorCodes.INTERNAL, `initializer "${name}" is missing from the inference model`);
    g.replaceInitializer(v, t);
  };
  const floats = (name: string, dims: readonly number[], data: Float32Array): Tensor => Tensor.fromFloat32(name, dims, data.slice());
  const record = readQuantRecord(model);
  params.forEach((p, i) => {
    if (p.kind === 'float') {
      setInit(p.name, floats(p.name, p.dims, at.values[i]!));
      return;
    }
    const b = p.binarizer!;
    const q = b.quantize(at.values[i]!, at.frozen[i]!);
    const call = findWeightCall(g, b.record.planes);
    if (!call) fail(ErrorCodes.INTERNAL, `initializer "${b.record.planes}" is missing from the inference model`);
    rewriteWeightCall(model, call, { dims: b.dims, k: q.bin.nBits, planes: q.planes, scaleDims: q.scaleDims, scaleData: q.scaleData });
    const rec = record?.weights.find((w) => w.planes === b.record.planes);
    if (rec) {
      const k = q.bin.nBits;
      const c = q.bin.channels;
      rec.scaleValues = c === 1 ? Array.from(q.scaleData) : Array.from({ length: k }, (_, i) => Array.from(q.scaleData.subarray(i * c, (i + 1) * c)));
      rec.histogram = q.histogram;
      rec.avgBits = q.avgBits;
    }
  });
  bns.forEach((bn, i) => {
    setInit(bn.runningMean, floats(bn.runningMean, [bn.mean.length], at.bnMean[i]!));
    setInit(bn.runningVar, floats(bn.runningVar, [bn.variance.length], at.bnVar[i]!));
  });
  if (record) {
    updateAverageWeightBits(record);
    writeQuantRecord(model, record);
  }
}
