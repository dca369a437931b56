/**
 * insert-activation-binarization: binarize the activations entering binarized layers.
 *
 * Rules:
 * 1. Targets are the data inputs (input 0) of Conv/Gemm/MatMul layers whose weights are
 *    binarized, except the layer reading the network input (`first-layer=keep`, default) and
 *    the output layer (`last-layer=keep`, default).
 * 2. Placement: from the layer input, walk back through ReLU, MaxPool, Flatten, Reshape,
 *    Identity and Dropout nodes and insert the binarizer before them (e.g. between
 *    BatchNorm and ReLU). Why: after a ReLU every value is >= 0, so a 1-bit sign binarizer
 *    would output one constant and carry no information; binarizing the BatchNorm output
 *    instead keeps the sign, ReLU then maps it to {0, mu} (one informative bit), and
 *    ReLU/MaxPool/Flatten map quantized values to quantized values, so the layer still
 *    sees only binarized levels (the hardware computes exactly this).
 *    A pass-through node whose output has other readers (a residual block's input ReLU
 *    feeds the convolution and the shortcut; a fire module's squeeze ReLU feeds two
 *    expand convolutions) is cloned for this layer when the shared part of the walk
 *    contains a ReLU: the layer reads ReLU'(binarize(x)) while the other readers keep
 *    ReLU(x). Otherwise the walk stops at the shared value as before (no clone).
 * 3. The binarizer is `ai.hbnn::BinarizeActivation(x, scales, center, sign, t1, t2)` with
 *    constants initialized to an uncalibrated guess; the `calibrate` pass sets them from
 *    data (quantize always runs it).
 */
import { definePass } from '../src/pass/pass.js';
import { fail, ErrorCodes } from '../src/errors.js';
import { resolveDistribution } from '../src/hbnn/index.js';
import { MIN_AVG_BITS } from '../src/hbnn/validate.js';
import { Tensor } from '../src/ir/tensor.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import { FN_ACT, HBNN_DOMAIN, emptyRecord, ensureHbnnFunctions, isWeightCall, readQuantRecord, writeQuantRecord } from '../src/quant/format.js';
import { matchesAny } from '../src/quant/targets.js';

const PASS_THROUGH = new Set(['Relu', 'MaxPool', 'Flatten', 'Reshape', 'Identity', 'Dropout']);
export const ACT_HEURISTICS = ['middle-out', 'bottom-up', 'top-down'] as const;
/** The largest activation bitwidth (the binarizer function has three bands). */
export const ACT_MAX_BITS = 3;
/** A finite stand-in for +/- infinity in thresholds (JSON cannot hold Infinity). */
export const BIG = 3.0e38;

export const insertActivationBinarization = definePass({
  name: 'insert-activation-binarization',
  summary: 'Binarize the activations entering binarized layers (heterogeneous residual binarization with calibrated bands)',
  options: [
    { name: 'avg-bits', type: 'number', doc: 'target average bits per activation', default: 1.4, min: MIN_AVG_BITS, max: ACT_MAX_BITS },
    { name: 'dist', type: 'number-list', doc: 'explicit fractions at 1, 2, 3 bits (sum 1)' },
    { name: 'heuristic', type: 'string', doc: 'how bits are assigned per entry (bands on |x|)', default: 'middle-out', choices: ACT_HEURISTICS },
    { name: 'first-layer', type: 'string', doc: 'binarize or keep the input of the layer reading the network input', default: 'keep', choices: ['binarize', 'keep'] },
    { name: 'last-layer', type: 'string', doc: 'binarize or keep the input of the output layer', default: 'keep', choices: ['binarize', 'keep'] },
    { name: 'exclude', type: 'string-list', doc: 'skip layers whose node name matches one of these globs' },
  ],
  requires: ['weights-binarized'],
  establishes: ['activations-binarized'],
  preserves: ['topologically-sorted', 'weights-binarized', 'constants-folded', 'no-identity', 'batchnorm-folded'],
  validate(o) {
    activationDistribution(o);
  },
  run(model, ctx, o) {
    const resolved = activationDistribution(o);
    const d3 = [0, 1, 2].map((i) => resolved.dist[i] ?? 0);
    const g = model.graph;
    const layers = binarizedLayers(g);
    if (layers.length === 0) fail(ErrorCodes.NOTHING_TO_QUANTIZE, 'no binarized layers: run insert-weight-binarization first');
    const record = readQuantRecord(model) ?? emptyRecord();
    ensureHbnnFunctions(model, ['activation']);
    const heuristic = o.heuristic;
    const exclude = o.exclude ?? [];
    const last = layers[layers.length - 1]!;
    let inserted = 0;
    const placed = new Map<Value, { call: Node; record: (typeof record.activations)[number] }>();
    for (const layer of layers) {
      const x = layer.inputs[0];
      if (!x) continue;
      if (o['last-layer'] === 'keep' && layer === last) continue;
      if (o['first-layer'] === 'keep' && dependsOnlyOnInputThroughPassThrough(x, g)) continue;
      if (exclude.length && matchesAny(exclude, [layer.name])) continue;
      const { value, consumer, index, clones } = placement(x, layer);
      // One binarizer per value: a second layer reading the same value (a fire module's two
      // expand convolutions, a residual block's convolution and projection shortcut) shares it.
      const shared = placed.get(value);
      let call: Node;
      if (shared) {
        call = shared.call;
        shared.record.feeds.push(layer.name);
      } else {
        const base = value.name;
        const init = (suffix: string, dims: number[], data: number[]): Value =>
          g.addInitializer(Tensor.fromFloat32(g.uniqueName(`${base}.hbnn_act_${suffix}`), dims, Float32Array.from(data)));
        // Uncalibrated guess: unit-scale bands; calibrate replaces all of these.
        const scales = init('scales', [3], [1, d3[1]! + d3[2]! > 0 ? 0.5 : 0, d3[2]! > 0 ? 0.25 : 0]);
        const center = init('center', [], [heuristic === 'middle-out' ? 1 : 0]);
        const sign = init('sign', [], [heuristic === 'top-down' ? -1 : 1]);
        const t1 = init('t1', [], [d3[0]! >= 1 ? BIG : d3[0]! <= 0 ? -BIG : 0.5]);
        const t2 = init('t2', [], [d3[0]! + d3[1]! >= 1 ? BIG : d3[0]! + d3[1]! <= 0 ? -BIG : 1]);
        call = g.createNode(FN_ACT, [value, scales, center, sign, t1, t2], [g.uniqueName(`${base}.hbnn_act`)], {
          domain: HBNN_DOMAIN,
          name: g.uniqueName(`${layer.name || base}/BinarizeActivation`),
        });
        record.activations.push({
          input: value.name,
          output: call.outputs[0]!.name,
          node: call.name,
          feeds: [layer.name],
          heuristic,
          distribution: d3,
          scales: [1, 0.5, 0.25],
          center: heuristic === 'middle-out' ? 1 : 0,
          sign: heuristic === 'top-down' ? -1 : 1,
          thresholds: [0.5, 1],
          calibrated: false,
        });
        placed.set(value, { call, record: record.activations[record.activations.length - 1]! });
      }
      const producer = value.producer;
      // Cloned pass-through nodes (the shared part of the walk), nearest the binarizer first.
      let out = call.outputs[0]!;
      const copies: Node[] = [];
      for (const p of clones) {
        const copy = g.createNode(p.opType, [out, ...p.inputs.slice(1)], [g.uniqueName(`${p.outputs[0]!.name}.hbnn_branch`)], {
          domain: p.domain,
          name: g.uniqueName(`${p.name || p.opType}/hbnn_branch`),
          attributes: Object.fromEntries(p.attributes),
        });
        if (p.outputs[0]!.type) copy.outputs[0]!.type = p.outputs[0]!.type;
        copies.push(copy);
        out = copy.outputs[0]!;
      }
      if (shared) g.insertAfter(call, ...copies);
      else if (producer) g.insertAfter(producer, call, ...copies);
      else g.insertBefore(g.nodes[0]!, call, ...copies);
      consumer.setInput(index, out);
      const how = clones.length
        ? `before a copy of ${clones.map((p) => `${p.opType} ${p.name}`).join(', ')} (the original also feeds other nodes)`
        : consumer !== layer
          ? `before ${consumer.opType} ${consumer.name}`
          : '';
      if (shared) ctx.note(`activation of ${layer.name} shares the binarizer ${call.name}${how ? `, ${how}` : ''}`);
      else if (how) ctx.note(`activation of ${layer.name} binarized ${how}`);
      if (shared) continue;
      inserted++;
      ctx.stat('binarized-activations');
    }
    if (inserted === 0) ctx.note('no activation qualified (first and last layers are kept by default)');
    record.avgActivationBits = d3[0]! + 2 * d3[1]! + 3 * d3[2]!;
    writeQuantRecord(model, record);
    return { changed: inserted > 0 };
  },
});

/** Conv/Gemm/MatMul nodes whose weight comes from a BinarizedWeight call, in graph order. */
export function binarizedLayers(g: Graph): Node[] {
  return g.nodes.filter((n) => {
    const p = n.inputs[1]?.producer;
    return ['Conv', 'Gemm', 'MatMul'].includes(n.opType) && !!p && isWeightCall(p);
  });
}

/**
 * Where to insert: walk back from `x` through pass-through ops. The binarizer goes on `value`
 * and feeds input `index` of `consumer`, through copies of `clones` (listed from the
 * binarizer towards the layer; the consumer then reads the last copy's output).
 */
function placement(x: Value, layer: Node): { value: Value; consumer: Node; index: number; clones: Node[] } {
  // chain[i] produces the value read by chain[i - 1] (chain[0]: by the layer).
  const chain: Node[] = [];
  let value = x;
  for (;;) {
    const p = value.producer;
    if (!p || !PASS_THROUGH.has(p.opType)) break;
    const src = p.inputs[0];
    if (!src || src.isGraphOutput) break;
    chain.push(p);
    value = src;
  }
  const shared = chain.findIndex((p) => p.outputs[0]!.uses.length !== 1 || p.outputs[0]!.isGraphOutput);
  if (shared < 0) return { value, consumer: chain[chain.length - 1] ?? layer, index: 0, clones: [] };
  const tail = chain.slice(shared);
  if (tail.some((p) => p.opType === 'Relu')) {
    // Copy the shared part: the layer's branch gets ReLU'(binarize(x)), the other readers keep ReLU(x).
    const consumer = shared === 0 ? layer : chain[shared - 1]!;
    const index = consumer.inputs.indexOf(chain[shared]!.outputs[0]!);
    return { value, consumer, index, clones: tail.reverse() };
  }
  // No ReLU in the shared part: stop at the shared value (the others read it unchanged).
  const consumer = shared === 0 ? layer : chain[shared - 1]!;
  return { value: chain[shared]!.outputs[0]!, consumer, index: consumer.inputs.indexOf(chain[shared]!.outputs[0]!), clones: [] };
}

/** True when `x` is the network input, possibly through pass-through ops. */
function dependsOnlyOnInputThroughPassThrough(x: Value, g: Graph): boolean {
  let v: Value | null | undefined = x;
  while (v?.producer && PASS_THROUGH.has(v.producer.opType)) v = v.producer.inputs[0];
  return !!v && g.inputs.includes(v) && !v.isInitializer;
}

/** The activations' distribution from `avg-bits` or `dist` (INVALID_OPTION when `dist` is bad or lists more than ACT_MAX_BITS bitwidths). */
function activationDistribution(o: { readonly 'avg-bits': number; readonly dist: readonly number[] | undefined }): ReturnType<typeof resolveDistribution> {
  if (o.dist && o.dist.length > ACT_MAX_BITS) fail(ErrorCodes.INVALID_OPTION, `activations support at most ${ACT_MAX_BITS} bits`, { option: 'dist' });
  return resolveDistribution(o.dist ? { dist: [...o.dist], maxBits: ACT_MAX_BITS } : { avgBits: o['avg-bits'], maxBits: ACT_MAX_BITS });
}
