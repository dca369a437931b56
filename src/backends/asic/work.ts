/**
 * `AsicLayerWork`: the small per-layer interface the ASIC cost model reads. Two adapters
 * fill it: `fromQuantRecord` (the quantized ONNX model and its `hbnn.quantization`
 * record) and `fromBitProgram` (the bit-level IR). Everything the model prices follows
 * from these fields; nothing else about the network is looked at.
 */
import { distFromAvg } from '../../hbnn/index.js';

/** Which adapter produced the work list (reports say which one was used). */
export type WorkSource = 'quant-record' | 'bit-ir';

export type LayerKind = 'conv' | 'depthwise-conv' | 'fully-connected' | StreamUnitKind;

/** Units without weights between the layers (bit-level IR ops `add`, `avgpool`, `concat`, `clip`, `leakyrelu`). */
export type StreamUnitKind = 'add' | 'avgpool' | 'concat' | 'clip' | 'leakyrelu';

/**
 * What a stream unit does per frame (docs/backend-asic.md, "Stream units"): it reads
 * `entriesIn` values and writes `entriesOut` values of `bits` bits.
 */
export interface StreamUnit {
  kind: StreamUnitKind;
  /** Streams it reads (add: 2; concat: its inputs). */
  inputs: number;
  entriesIn: number;
  entriesOut: number;
  /** Width of one output value (fixed point). */
  bits: number;
  /** avgpool: window entries summed per output (largest divisor). */
  window?: number;
  /** avgpool: buffered input rows (kernel height − 1) × width × channels × bits; add: the shortcut FIFO. */
  bufferBits?: number;
  /** Operands that need a rounding right shift (concat/add/avgpool requantization) or a level decode table. */
  alignedInputs?: number;
  /** Bits of level decode tables (binary operands). */
  tableBits?: number;
}

/**
 * How a layer's operands are encoded in hardware:
 * - `planes`: residual bit planes (HBNN), each plane with its own real scale, so each
 *   (weight plane × activation plane) pair is accumulated separately and combined by a
 *   constant-coefficient multiply-add at the end;
 * - `fixed`: two's-complement fixed point streamed bit-serially and shift-accumulated into
 *   one accumulator (first-layer pixels, layers the quantizer kept in float).
 */
export type Encoding = 'planes' | 'fixed';

/** Where a layer's input activation bits come from. */
export type ActivationSource = 'binarized' | 'network-input' | 'assumed' | 'stream';

export interface ActivationBits {
  source: ActivationSource;
  encoding: Encoding;
  /** Average bits per activation entry (lane-operations per weight bit). */
  avg: number;
  /** Largest bits an entry can have (accumulator terms are provisioned for it). */
  max: number;
}

/** What turns a layer's accumulators into the next layer's activations. */
export type OutputQuantizer =
  /** Multi-threshold unit (BatchNorm and the binarizer folded): `count` comparisons per output. */
  | { kind: 'thresholds'; count: number }
  /** Fixed-point requantization (scale, round, clamp) to `bits`. */
  | { kind: 'requantize'; bits: number }
  /** Raw accumulators leave the chip (logits). */
  | { kind: 'none' };

export interface AsicLayerWork {
  /** The ONNX node name (or bit-IR op id). */
  name: string;
  kind: LayerKind;
  /** Parameters per bitwidth: weightBits[k-1] = number of parameters with k bits. */
  weightBits: number[];
  weightEncoding: Encoding;
  activation: ActivationBits;
  /** Output values per frame of one output channel (output pixels; 1 for a fully connected layer). */
  outputPositions: number;
  /** Output channels (rows of the weight matrix). */
  rows: number;
  /** Fan-in of one output (cin/group · kh · kw, or input features). */
  cols: number;
  /** Two's-complement width of one accumulator. */
  accumulatorBits: number;
  /** Accumulators per output value: one per (weight plane × activation plane) term. */
  accumulatorsPerOutput: number;
  output: OutputQuantizer;
  /** Set for a stream unit (no weights): what it computes per frame. */
  stream?: StreamUnit;
}

/** Number of parameters (Σ histogram). */
export function paramCount(w: AsicLayerWork): number {
  return w.weightBits.reduce((a, b) => a + b, 0);
}

/** Σ over parameters of their bits: the number of weight bit-lanes (cost follows this, not the maximum). */
export function paramBitSum(w: AsicLayerWork): number {
  return w.weightBits.reduce((s, n, i) => s + n * (i + 1), 0);
}

/** Largest bitwidth with a non-zero count in a histogram (0 for an empty one). */
export function histogramMax(hist: readonly number[]): number {
  for (let i = hist.length - 1; i >= 0; i--) if (hist[i]! > 0) return i + 1;
  return 0;
}

/** Largest bitwidth any parameter has. */
export function maxWeightBits(w: AsicLayerWork): number {
  return histogramMax(w.weightBits);
}

/** Parameter-weighted average weight bits. */
export function avgWeightBits(w: AsicLayerWork): number {
  const n = paramCount(w);
  return n === 0 ? 0 : paramBitSum(w) / n;
}

/** A histogram with every one of `params` parameters at `bits` bits. */
export function homogeneousHistogram(params: number, bits: number): number[] {
  const h = new Array<number>(bits).fill(0);
  h[bits - 1] = params;
  return h;
}

/** Accumulator width for sums of `terms` values in [-2^(extra), 2^(extra)] over `cols` inputs. */
export function accumulatorWidth(cols: number, extraBits = 0): number {
  return Math.ceil(Math.log2(cols + 1)) + 1 + extraBits;
}

/**
 * Representable levels of an HBNN activation binarizer whose entries have 1..K bits with
 * fractions `dist`: an entry with b bits takes one of 2^b values, so Σ_{b used} 2^b levels.
 */
export function levelsOfDistribution(dist: readonly number[]): number {
  return dist.reduce((s, p, i) => s + (p > 0 ? 2 ** (i + 1) : 0), 0);
}

/** Activation bits for an average (fractional: the default DistFromAvg distribution). */
export function planeActivation(source: ActivationSource, avg: number): { bits: ActivationBits; levels: number } {
  const dist = distFromAvg(avg, 3);
  const max = dist.reduce((m, p, i) => (p > 0 ? i + 1 : m), 0);
  return { bits: { source, encoding: 'planes', avg, max }, levels: levelsOfDistribution(dist) };
}

/** Accumulator layout for a layer: terms per output and their width. */
export function accumulatorLayout(cols: number, weightEncoding: Encoding, weightMax: number, act: ActivationBits): { perOutput: number; bits: number } {
  const wTerms = weightEncoding === 'planes' ? weightMax : 1;
  const aTerms = act.encoding === 'planes' ? act.max : 1;
  const extra = (weightEncoding === 'fixed' ? weightMax : 0) + (act.encoding === 'fixed' ? act.max : 0);
  return { perOutput: wTerms * aTerms, bits: accumulatorWidth(cols, extra) };
}

/**
 * The same layers with every HBNN quantity replaced by homogeneous `bits` (weights kept in
 * fixed point and the network input keep their widths). This is how reports show the
 * homogeneous 1- and 2-bit designs without re-quantizing: the unit counts only depend on
 * the bit histograms, which are substituted.
 */
export function withHomogeneousBits(works: readonly AsicLayerWork[], bits: number): AsicLayerWork[] {
  return works.map((w) => {
    const weightBits = w.weightEncoding === 'planes' ? homogeneousHistogram(paramCount(w), bits) : w.weightBits;
    const activation: ActivationBits =
      w.activation.source === 'network-input' || w.activation.encoding === 'fixed' ? w.activation : { ...w.activation, avg: bits, max: bits };
    const output: OutputQuantizer = w.output.kind === 'thresholds' ? { kind: 'thresholds', count: 2 ** bits - 1 } : w.output;
    const next: AsicLayerWork = { ...w, weightBits, activation, output };
    const acc = accumulatorLayout(w.cols, next.weightEncoding, histogramMax(weightBits), activation);
    return { ...next, accumulatorBits: acc.bits, accumulatorsPerOutput: acc.perOutput };
  });
}
