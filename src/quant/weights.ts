/**
 * Weight binarization of one layer, and its materialization in the quantized format.
 * Shared by the `insert-weight-binarization` pass and the trainer (which re-binarizes
 * from latent float weights and writes the deploy form at the end).
 */
import type { Model, Node, Value } from '../ir/graph.js';
import { binarizeWithBitMap, residualBinarize, bitHistogram, type Heuristic, type Binarization, type BitMapBinarization } from '../hbnn/index.js';
import type { BinarizeJob } from '../hbnn/parallel.js';
import { fail, ErrorCodes } from '../errors.js';
import type { WeightRecord } from './format.js';
import { addWeightCall, type PlaneEncoding } from './planes.js';
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
  /** Dequantized weight in the weight's own layout. */
  dequantized: Float32Array;
  /** int8 planes [K, ...shape] in the weight's own layout. */
  planes: Int8Array;
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
  return finishLayerWeight(p, p.job ? binarizeWithBitMap(p.job.t, p.job.mapOpts, p.job.binOpts) : undefined);
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
    bin = residualBinarize(cm, p.homogeneousBits, { name, ...(channels ? { channels } : {}) });
  } else {
    if (fused === undefined) fail(ErrorCodes.INTERNAL, `layer ${name}: no binarization given for its bit map`);
    bitMapCm = fused.map.bitMap;
    bin = fused.bin;
  }
  const k = bin.nBits;
  const n = cm.length;
  const planesCm = new Int8Array(k * n);
  for (let j = 0; j < n; j++) {
    const m = bitMapCm[j]!;
    const s = bin.signs[j]!;
    for (let i = 0; i < m; i++) planesCm[i * n + j] = (s >> i) & 1 ? -1 : 1;
  }
  // Back to the weight's layout.
  const bitMap = fromChannelMajor(bitMapCm, dims, layer.channelAxis, (len) => new Uint8Array(len));
  const dequantized = fromChannelMajor(bin.dequantized, dims, layer.channelAxis, (len) => new Float32Array(len));
  let planes = planesCm;
  if (layer.channelAxis !== 0) {
    planes = new Int8Array(k * n);
    for (let i = 0; i < k; i++) {
      const p = fromChannelMajor(planesCm.subarray(i * n, (i + 1) * n), dims, layer.channelAxis, (len) => new Int8Array(len));
      planes.set(p, i * n);
    }
  }
  const scaleDims = [k, ...dims.map(() => 1)];
  if (channels) scaleDims[1 + layer.channelAxis] = channels;
  const scaleData = Float32Array.from(bin.scales);
  const h = bitHistogram(bitMap);
  return { bitMap, bin, dequantized, planes, scaleDims, scaleData, histogram: h.counts, avgBits: h.avgBits };
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
  const { call, key, scales } = addWeightCall(model, base, `${layer.node.name || base}/BinarizedWeight`, { dims: t.dims, k: q.bin.nBits, planes: q.planes, scaleDims: q.scaleDims, scaleData: q.scaleData }, encoding);
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
