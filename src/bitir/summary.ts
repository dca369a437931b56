/**
 * Per-layer cost figures of a BitProgram (docs/bit-ir.md §4): bit operations, weight and
 * constant memory, activation buffers. Backends and the ASIC cost model read these.
 */
import { ErrorCodes, fail } from '../errors.js';
import { popcount32, signedBitsFor } from './fixed.js';
import { outputSize } from './lower.js';
import { unreachable, type BitOp, type BitProgram, type BitType, type ConvOp, type MatVecOp, type WeightTensor } from './types.js';

export interface LayerSummary {
  /** The conv/matvec op id. */
  op: string;
  kind: 'conv' | 'matvec';
  /** ONNX nodes the layer and its folded consumer implement. */
  nodes: string[];
  inShape: number[];
  outShape: number[];
  /** rows × cols of the weight matrix. */
  params: number;
  /** Parameters with 1, 2, 3... bits (fixed weights: all at their width). */
  bitHistogram: number[];
  avgWeightBits: number;
  /** Bits per activation the unit reads: K planes (binary) or the fixed-point width. */
  activationBits: number;
  /** Output positions per sample a weight is used at (OH·OW; 1 for matvec). */
  uses: number;
  /** Multiply-accumulates per sample (params × uses). */
  macs: number;
  /** Σ over parameters of weight bits × activation bits × uses. */
  bitOps: number;
  /** Accumulator terms (weight plane × activation plane pairs). */
  terms: number;
  weightSignBits: number;
  bitMapBits: number;
  /** Multipliers, thresholds and biases of the folded consumer at their widths. */
  constantBits: number;
  /** Output buffer of the layer's consumer (entries × bits per entry). */
  outputBufferBits: number;
  /** What consumes the accumulators: threshold (binary output) or requantize (fixed point). */
  consumer: string;
}

export interface ProgramSummary {
  layers: LayerSummary[];
  totals: { params: number; macs: number; bitOps: number; weightSignBits: number; bitMapBits: number; constantBits: number };
}

/** Bits one entry of a tensor type occupies in a buffer. */
export function entryBits(t: BitType): number {
  switch (t.kind) {
    case 'fixed':
      return t.bits;
    case 'binary':
      return 2 * t.planes;
    case 'acc':
      return t.bits * t.terms.length;
    case 'class':
      return 32;
    default:
      return unreachable(t, 'tensor type');
  }
}

/** Number of planes present per weight entry: histogram over 1..K (index 0 = 1 bit). */
export function weightBitHistogram(w: WeightTensor): number[] {
  if (w.kind === 'fixed') {
    const h = new Array<number>(w.bits).fill(0);
    h[w.bits - 1] = w.rows * w.cols;
    return h;
  }
  const k = w.planes.length;
  const hist = new Array<number>(k).fill(0);
  for (let r = 0; r < w.rows; r++) {
    for (let c = 0; c < w.cols; c++) {
      const word = r * w.wordsPerRow + (c >>> 5);
      const bit = 1 << (c & 31);
      let m = 0;
      for (const p of w.planes) if (p.mask[word]! & bit) m++;
      if (m > 0) hist[m - 1]!++;
    }
  }
  return hist;
}

export function summarizeProgram(p: BitProgram): ProgramSummary {
  const types = new Map(p.tensors.map((t) => [t.id, t.type]));
  const weights = new Map(p.weights.map((w) => [w.id, w]));
  const consumers = new Map<string, BitOp>();
  for (const op of p.ops) if ('input' in op) consumers.set(op.input, op);
  const layers: LayerSummary[] = [];
  for (const op of p.ops) {
    if (op.op !== 'conv' && op.op !== 'matvec') continue;
    layers.push(layerSummary(op, types, weights, consumers));
  }
  const sum = (f: (l: LayerSummary) => number): number => layers.reduce((a, l) => a + f(l), 0);
  return {
    layers,
    totals: {
      params: sum((l) => l.params),
      macs: sum((l) => l.macs),
      bitOps: sum((l) => l.bitOps),
      weightSignBits: sum((l) => l.weightSignBits),
      bitMapBits: sum((l) => l.bitMapBits),
      constantBits: sum((l) => l.constantBits),
    },
  };
}

function layerSummary(op: ConvOp | MatVecOp, types: Map<string, BitType>, weights: Map<string, WeightTensor>, consumers: Map<string, BitOp>): LayerSummary {
  const inType = types.get(op.input);
  const accType = types.get(op.output);
  const w = weights.get(op.weight);
  if (!inType || !accType || accType.kind !== 'acc' || !w) fail(ErrorCodes.INTERNAL, `bit-level IR: layer ${op.id} refers to unknown tensors or weights`);
  if (inType.kind !== 'fixed' && inType.kind !== 'binary') fail(ErrorCodes.INTERNAL, `bit-level IR: layer ${op.id} reads a ${inType.kind} tensor`);
  const uses = op.op === 'conv' ? outputSize(inType.shape, op, false).reduce((a, b) => a * b, 1) : 1;
  const activationBits = inType.kind === 'binary' ? inType.planes : inType.bits;
  const hist = weightBitHistogram(w);
  const params = w.rows * w.cols;
  const weightBitSum = hist.reduce((a, n, i) => a + n * (i + 1), 0);
  let bitMapBits = 0;
  if (w.kind === 'binary' && w.planes.length > 1) bitMapBits = params * Math.ceil(Math.log2(w.planes.length));
  const consumer = consumers.get(op.output);
  let constantBits = 0;
  let outputBufferBits = 0;
  const nodes = [...op.nodes];
  if (consumer && (consumer.op === 'threshold' || consumer.op === 'requantize')) {
    const mBits = signedBitsFor(Math.max(0, ...consumer.multipliers.flat().map(Math.abs)));
    constantBits += consumer.multipliers.flat().length * mBits;
    if (consumer.op === 'threshold') {
      constantBits += consumer.bands.reduce((a, b) => a + b.thresholds.length, 0) * consumer.sumBits;
    } else {
      constantBits += consumer.bias.length * consumer.sumBits;
    }
    const outType = types.get(consumer.output)!;
    outputBufferBits = outType.shape.reduce((a, b) => a * b, 1) * entryBits(outType);
    for (const n of consumer.nodes) if (!nodes.includes(n)) nodes.push(n);
  }
  return {
    op: op.id,
    kind: op.op,
    nodes,
    inShape: [...inType.shape],
    outShape: [...accType.shape],
    params,
    bitHistogram: hist,
    avgWeightBits: params ? weightBitSum / params : 0,
    activationBits,
    uses,
    macs: params * uses,
    bitOps: weightBitSum * activationBits * uses,
    terms: accType.terms.length,
    weightSignBits: w.kind === 'binary' ? weightBitSum : params * w.bits,
    bitMapBits,
    constantBits,
    outputBufferBits,
    consumer: consumer?.op ?? 'none',
  };
}

/** Σ_j M_j of a binary weight, counted on the packed masks (a cross-check of the histogram). */
export function presentBits(w: WeightTensor): number {
  if (w.kind === 'fixed') return w.rows * w.cols * w.bits;
  let n = 0;
  for (const p of w.planes) for (let i = 0; i < p.mask.length; i++) n += popcount32(p.mask[i]!);
  return n;
}
