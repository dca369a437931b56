/**
 * Weight binarization of one layer, and its materialization in the quantized format.
 * Shared by the `insert-weight-binarization` pass and the trainer (which re-binarizes
 * from latent float weights and writes the deploy form at the end).
 */
import type { Model, Node, Value } from '../ir/graph.js';
import { binarizeWithBitMap, residualBinarize, binarizationHistogram, type Heuristic, type Binarization, type BitMapBinarization } from '../hbnn/index.js';
import type { BinarizeJob } from '../hbnn/parallel.js';
import { fail, ErrorCodes } from '../errors.js';
import type { WeightRecord } from './format.js';
import { addWeightCall, planesFromSigns, type PlaneData, type PlaneEncoding } from './planes.js';
import { fromChannelMajor, toChannelMajor, type WeightLayer } from './targets.js';

export type WeightHeuristic = Heuristic | 'layer';

/** How finely a bit map assigns bitwidths: per weight entry (the default) or per output row (channel). */
export type Granularity = 'entry' | 'row';

/** All granularities, for option parsing and help text. */
export const GRANULARITIES: readonly Granularity[] = ['entry', 'row'];

export interface LayerQuantSpec {
  heuristic: WeightHeuristic;
  /** Fractions for 1..K bits. For 'layer', a one-hot distribution at the layer's bits. */
  dist: number[];
  perChannel: boolean;
  seed: number;
  /** 'row': every output channel of the layer gets one bitwidth (`BitMapOptions.rows`); omitted or 'entry': a bitwidth per weight. */
  granularity?: Granularity;
}

export interface LayerQuantResult {
  /** Bit map in the weight's own layout. */
  bitMap: Uint8Array;
  bin: Binarization;
  /** Dequantized weight in the weight's own layout (built on first read). */
  readonly dequantized: Float32Array;
  /** int8 planes [K, ...shape] in the weight's own layout (built on first read). */
  readonly planes: Int8Array;
  /** Sign paths in the weight's own layout (bit i - 1 set when B_i = −1; bits above M_j are 0). */
  signs: Uint8Array;
  /** Scales shaped to broadcast against the planes: [K, 1...] or per channel. */
  scaleDims: number[];
  scaleData: Float32Array;
  histogram: number[];
  avgBits: number;
}

/** A layer's weight, ready to binarize: channel-major, with the job for the numerics. */
export interface PreparedLayerWeight {
  dims: readonly number[];
  layer: Pick<WeightLayer, 'channelAxis' | 'channels'>;
  name: string;
  /** The weight, channel-major. */
  cm: Float32Array;
  channels: number | undefined;
  /** Bits of a homogeneous binarization (heuristic 'layer' or a one-hot distribution), else 0. */
  homogeneousBits: number;
  /** `binarizeWithBitMap`'s arguments when the layer gets a bit map; undefined otherwise. */
  job: BinarizeJob | undefined;
}

/**
 * How `spec` binarizes a layer: `homogeneousBits` > 0 for a homogeneous binarization
 * (heuristic 'layer' or a one-hot distribution), else 0 and the options of its bit map and of
 * the binarization with it. Shared by quantization and the trainer's re-binarization.
 * `channels` is the scale channel count (set only with per-channel scales); `rows`, the
 * layer's output-channel count, is what a row-granular bit map (`spec.granularity` 'row')
 * gives one bitwidth each (the weight is channel-major).
 */
export function layerBinarization(
  spec: LayerQuantSpec,
  name: string,
  channels: number | undefined,
  rows?: number,
): { homogeneousBits: number; mapOpts: BinarizeJob['mapOpts']; binOpts: NonNullable<BinarizeJob['binOpts']> } {
  const oneHot = spec.dist.filter((p) => p > 0).length === 1 ? spec.dist.findIndex((p) => p > 0) + 1 : 0;
  const byRow = spec.granularity === 'row';
  if (byRow && rows === undefined) fail(ErrorCodes.INTERNAL, `layer ${name}: a row-granular bit map needs the layer's output-channel count`);
  return {
    homogeneousBits: spec.heuristic === 'layer' || oneHot > 0 ? oneHot || spec.dist.length : 0,
    mapOpts: {
      heuristic: spec.heuristic as Heuristic,
      dist: spec.dist,
      maxBits: spec.dist.length,
      seed: spec.seed,
      name,
      ...(channels ? { scaleChannels: channels } : {}),
      ...(byRow ? { rows } : {}),
    },
    binOpts: { name, ...(channels ? { channels } : {}) },
  };
}

/** Lays out a float weight (its own layout) for binarization as the spec says. */
export function prepareLayerWeight(w: Float32Array, dims: readonly number[], layer: Pick<WeightLayer, 'channelAxis' | 'channels'>, spec: LayerQuantSpec, name: string): PreparedLayerWeight {
  const cm = toChannelMajor(w, dims, layer.channelAxis);
  const channels = spec.perChannel ? layer.channels : undefined;
  const { homogeneousBits, mapOpts, binOpts } = layerBinarization(spec, name, channels, layer.channels);
  const job: BinarizeJob | undefined = homogeneousBits > 0 ? undefined : { t: cm, mapOpts, binOpts };
  return { dims, layer, name, cm, channels, homogeneousBits, job };
}

/** Binarizes a float weight (its own layout) as the spec says. */
export function quantizeLayerWeight(w: Float32Array, dims: readonly number[], layer: Pick<WeightLayer, 'channelAxis' | 'channels'>, spec: LayerQuantSpec, name: string): LayerQuantResult {
  const p = prepareLayerWeight(w, dims, layer, spec, name);
  return finishLayerWeight(p, p.job ? binarizeWithBitMap(p.job.t, p.job.mapOpts, { ...p.job.binOpts, dequantize: false }) : undefined);
}

/**
 * The layer's result from its bit map and binarization (`fused`, the result of `p.job`; for a
 * homogeneous layer, undefined: binarized here).
 */
export function finishLayerWeight(p: PreparedLayerWeight, fused: BitMapBinarization | undefined): LayerQuantResult {
  const { cm, dims, layer, name, channels } = p;
  let bitMapCm: Uint8Array;
  let bin: Binarization;
  if (p.job === undefined) {
    bitMapCm = new Uint8Array(cm.length).fill(p.homogeneousBits);
    bin = residualBinarize(cm, p.homogeneousBits, { name, dequantize: false, ...(channels ? { channels } : {}) });
  } else {
    if (fused === undefined) fail(ErrorCodes.INTERNAL, `layer ${name}: no binarization given for its bit map`);
    bitMapCm = fused.map.bitMap;
    bin = fused.bin;
  }
  return layerQuantResult(bitMapCm, bin, dims, layer.channelAxis, channels);
}

/**
 * A layer's result from its channel-major bit map and binarization: the bit map and sign paths
 * back in the weight's layout (`axis` its output-channel axis; `channels` the scale channel
 * count, per-channel scales only). Shared by quantization and the trainer's deploy form.
 */
export function layerQuantResult(bitMapCm: Uint8Array, bin: Binarization, dims: readonly number[], axis: number, channels: number | undefined): LayerQuantResult {
  const k = bin.nBits;
  // Back to the weight's layout (a no-op for axis 0).
  const bitMap = fromChannelMajor(bitMapCm, dims, axis, (len) => new Uint8Array(len));
  const signs = fromChannelMajor(bin.signs, dims, axis, (len) => new Uint8Array(len));
  const scaleDims = [k, ...dims.map(() => 1)];
  if (channels) scaleDims[1 + axis] = channels;
  const scaleData = Float32Array.from(bin.scales);
  // The histogram from the rounds' active counts (no pass over the map; bitHistogram's result).
  const h = binarizationHistogram(bin, bitMap.length);
  // The int8 planes and Ŵ in the weight's layout are built on first use only: quantization
  // writes packed codes straight from the bit map and the signs, and the trainer reads Ŵ;
  // neither pays for what it does not use.
  let planes: Int8Array | undefined;
  let dequantized: Float32Array | undefined;
  return {
    bitMap,
    bin,
    signs,
    get dequantized(): Float32Array {
      return (dequantized ??= fromChannelMajor(bin.dequantized, dims, axis, (len) => new Float32Array(len)));
    },
    get planes(): Int8Array {
      return (planes ??= planesFromSigns(bitMap, signs, k));
    },
    scaleDims,
    scaleData,
    histogram: h.counts,
    avgBits: h.avgBits,
  };
}

/** A layer result as `PlaneData`: its int8 planes read only when the encoding needs them (codes come from the bit map and signs). */
function planeData(dims: readonly number[], q: LayerQuantResult): PlaneData {
  return {
    dims,
    k: q.bin.nBits,
    get planes(): Int8Array {
      return q.planes;
    },
    scaleDims: q.scaleDims,
    scaleData: q.scaleData,
    paths: { bitMap: q.bitMap, signs: q.signs },
  };
}

/**
 * Replaces layer's float weight input by a binarized weight call (src/quant/planes.ts: packed
 * planes by default, or `BinarizedWeight` with int8 planes). The float initializer is removed
 * when nothing else uses it.
 */
export function materializeWeight(model: Model, layer: WeightLayer, q: LayerQuantResult, encoding: PlaneEncoding = 'packed'): { call: Node; planes: Value; scales: Value } {
  const g = model.graph;
  const w = layer.weight;
  const base = w.name;
  const t = w.constValue!;
  const { call, key, scales } = addWeightCall(model, base, `${layer.node.name || base}/BinarizedWeight`, planeData(t.dims, q), encoding);
  g.insertBefore(layer.node, call);
  layer.node.setInput(layer.weightIndex, call.outputs[0]!);
  if (w.uses.length === 0 && !w.isGraphOutput) g.removeInitializer(w);
  return { call, planes: key, scales };
}

export function weightRecord(layer: WeightLayer, shape: readonly number[], q: LayerQuantResult, spec: LayerQuantSpec, planes: Value, scales: Value): WeightRecord {
  const k = q.bin.nBits;
  const c = q.bin.channels;
  const scaleValues: number[] | number[][] =
    c === 1 ? Array.from(q.scaleData) : Array.from({ length: k }, (_, i) => Array.from(q.scaleData.subarray(i * c, (i + 1) * c)));
  return {
    tensor: layer.weight.name,
    node: layer.node.name,
    op: layer.node.opType,
    shape: [...shape],
    planes: planes.name,
    scales: scales.name,
    scaleValues,
    perChannel: spec.perChannel,
    heuristic: spec.heuristic,
    distribution: spec.dist,
    histogram: q.histogram,
    avgBits: q.avgBits,
    ...(spec.heuristic === 'random' ? { seed: spec.seed } : {}),
    // Written only for row-granular maps: absent means per entry (files from before the field).
    ...(spec.granularity === 'row' ? { granularity: 'row' as const } : {}),
  };
}
