/**
 * `fromQuantRecord`: the ASIC work list from a quantized ONNX model — the bit histograms of
 * its `hbnn.quantization` record plus layer geometry from the graph.
 *
 * Rules:
 * 1. Layers are the Conv/Gemm/MatMul nodes with a constant or binarized weight, in graph
 *    order. A binarized weight's histogram comes from the record (`encoding: planes`); a
 *    weight the quantizer kept in float becomes `fixedWeightBits`-bit fixed point.
 * 2. A layer's input activation bits: the record's binarizer feeding it (its distribution
 *    over 1..3 bits, `planes`); else, when the input is the network input (through ReLU,
 *    pooling, Flatten, Reshape, Identity, Dropout), `inputBits`-bit fixed point; else the
 *    caller's `activationBits` (<= 3: HBNN planes with the default distribution for that
 *    average; > 3: fixed point).
 * 3. A layer's output quantizer is set by the layer its output feeds (found by walking
 *    back from each layer's input through single-input ops): a plane-encoded input there
 *    means a multi-threshold unit with (levels - 1) comparisons per output, a fixed-point
 *    input a requantizer, no consumer layer none (logits).
 */
import type { Model, Node, Value } from '../../ir/graph.js';
import { fail, ErrorCodes, optionName } from '../../errors.js';
import { requireQuantRecord, isActivationCall, type ActivationRecord, type QuantRecord } from '../../quant/format.js';
import { layerGeometry, type LayerGeometry } from './geometry.js';
import {
  accumulatorLayout,
  homogeneousHistogram,
  histogramMax,
  levelsOfDistribution,
  planeActivation,
  type ActivationBits,
  type AsicLayerWork,
  type Encoding,
  type OutputQuantizer,
} from './work.js';

export interface QuantRecordAdapterOptions {
  /** Bits of the network input (fixed point), default 8 (image pixels). */
  inputBits?: number;
  /**
   * Activation bits assumed where the model leaves a layer input in float (no binarizer),
   * default 8 (fixed point). Values in [1, 3] are treated as HBNN activations with that
   * average (DistFromAvg), which is how a weights-only quantized model is priced at a
   * stated activation bitwidth.
   */
  activationBits?: number;
  /** Width of weights the quantizer kept in float, default 8. */
  fixedWeightBits?: number;
}

/** Ops a value passes through unchanged in the sense of "which layer produced it". */
const WALK_BACK = new Set(['Relu', 'BatchNormalization', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Flatten', 'Reshape', 'Identity', 'Dropout', 'Mul', 'Add', 'Div', 'Sub', 'Clip', 'LeakyRelu', 'Sigmoid', 'Tanh']);
const INPUT_PASS_THROUGH = new Set(['Relu', 'MaxPool', 'Flatten', 'Reshape', 'Identity', 'Dropout']);

function checkBits(value: number | undefined, dflt: number, option: string, max: number): number {
  const v = value ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > max) {
    fail(ErrorCodes.INVALID_OPTION, `${optionName(option)} must be a number from 1 to ${max}, got ${String(value)}`, { option });
  }
  return v;
}

/** The layer whose output reaches `v` through single-input ops, if any. */
function producingLayer(v: Value | null | undefined, layers: ReadonlySet<Node>): Node | undefined {
  let cur = v;
  for (let guard = 0; cur?.producer && guard < 10_000; guard++) {
    const p: Node = cur.producer;
    if (layers.has(p)) return p;
    const dataInputs = p.inputs.filter((x) => x && !x.constValue);
    if (!(isActivationCall(p) || WALK_BACK.has(p.opType)) || dataInputs.length !== 1) return undefined;
    cur = dataInputs[0];
  }
  return undefined;
}

function readsNetworkInput(v: Value | null | undefined, model: Model): boolean {
  let cur = v;
  while (cur?.producer && INPUT_PASS_THROUGH.has(cur.producer.opType)) cur = cur.producer.inputs[0];
  return !!cur && model.graph.inputs.includes(cur) && !cur.constValue;
}

function activationOf(
  geo: LayerGeometry,
  binarizer: ActivationRecord | undefined,
  model: Model,
  o: Required<QuantRecordAdapterOptions>,
): { bits: ActivationBits; levels: number } {
  if (binarizer) {
    const dist = binarizer.distribution;
    const avg = dist.reduce((s, p, i) => s + p * (i + 1), 0);
    const max = dist.reduce((m, p, i) => (p > 0 ? i + 1 : m), 0);
    return { bits: { source: 'binarized', encoding: 'planes', avg, max }, levels: levelsOfDistribution(dist) };
  }
  if (readsNetworkInput(geo.node.inputs[0], model)) {
    return { bits: { source: 'network-input', encoding: 'fixed', avg: o.inputBits, max: o.inputBits }, levels: 2 ** o.inputBits };
  }
  if (o.activationBits <= 3) return planeActivation('assumed', o.activationBits);
  const b = Math.ceil(o.activationBits);
  return { bits: { source: 'assumed', encoding: 'fixed', avg: b, max: b }, levels: 2 ** b };
}

/** Work list of a quantized model (NOT_QUANTIZED when it has no `hbnn.quantization` record). */
export function fromQuantRecord(model: Model, options: QuantRecordAdapterOptions = {}, geometry?: LayerGeometry[]): { works: AsicLayerWork[]; record: QuantRecord } {
  const record = requireQuantRecord(model);
  const o: Required<QuantRecordAdapterOptions> = {
    inputBits: checkBits(options.inputBits, 8, 'inputBits', 32),
    activationBits: checkBits(options.activationBits, 8, 'activationBits', 32),
    fixedWeightBits: checkBits(options.fixedWeightBits, 8, 'fixedWeightBits', 32),
  };
  if (!Number.isInteger(o.inputBits)) fail(ErrorCodes.INVALID_OPTION, `inputBits must be an integer, got ${o.inputBits}`, { option: 'inputBits' });
  if (!Number.isInteger(o.fixedWeightBits)) fail(ErrorCodes.INVALID_OPTION, `fixedWeightBits must be an integer, got ${o.fixedWeightBits}`, { option: 'fixedWeightBits' });
  // The bit-level IR's shapes when the caller lowered the model; else inferred from the graph.
  const geos = geometry ?? layerGeometry(model);
  if (geos.length === 0) fail(ErrorCodes.LOWERING, 'ASIC backend: the model has no Conv, Gemm or MatMul layer to lower');
  const layerNodes = new Set(geos.map((g) => g.node));
  const acts = geos.map((geo) => activationOf(geo, record.activations.find((a) => a.feeds.includes(geo.node.name)), model, o));

  // Output quantizer of layer i: decided by the layers whose input it produces.
  const outputs = new Map<Node, OutputQuantizer>();
  geos.forEach((geo, j) => {
    const act = acts[j]!;
    if (act.bits.source === 'network-input') return;
    const producer = producingLayer(geo.node.inputs[0], layerNodes);
    if (!producer) return;
    const q: OutputQuantizer = act.bits.encoding === 'planes' ? { kind: 'thresholds', count: act.levels - 1 } : { kind: 'requantize', bits: act.bits.max };
    const prev = outputs.get(producer);
    if (!prev || quantizerCost(q) > quantizerCost(prev)) outputs.set(producer, q);
  });

  const works = geos.map((geo, j): AsicLayerWork => {
    const rec = record.weights.find((w) => w.node === geo.node.name);
    const params = geo.rows * geo.cols;
    if (rec) {
      const n = rec.histogram.reduce((a, b) => a + b, 0);
      if (n !== params) {
        fail(ErrorCodes.LOWERING, `ASIC backend: layer ${geo.node.name}: the record's bit histogram counts ${n} parameters, the weight has ${params}`, { node: geo.node.name });
      }
    }
    const weightBits = rec ? [...rec.histogram] : homogeneousHistogram(params, o.fixedWeightBits);
    const weightEncoding: Encoding = rec ? 'planes' : 'fixed';
    const activation = acts[j]!.bits;
    const acc = accumulatorLayout(geo.cols, weightEncoding, histogramMax(weightBits), activation);
    return {
      name: geo.node.name || `${geo.node.opType}#${j}`,
      kind: geo.kind,
      weightBits,
      weightEncoding,
      activation,
      outputPositions: geo.outputPositions,
      rows: geo.rows,
      cols: geo.cols,
      accumulatorBits: acc.bits,
      accumulatorsPerOutput: acc.perOutput,
      output: outputs.get(geo.node) ?? { kind: 'none' },
    };
  });
  return { works, record };
}

function quantizerCost(q: OutputQuantizer): number {
  switch (q.kind) {
    case 'none':
      return 0;
    case 'thresholds':
      return q.count;
    case 'requantize':
      return 2 ** q.bits;
  }
}
