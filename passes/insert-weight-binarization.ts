/**
 * insert-weight-binarization: heterogeneous residual binarization of layer weights.
 *
 * Rules:
 * 1. The candidates are Conv (any group, incl. depthwise), Gemm and 2-D MatMul nodes whose
 *    weight (input 1) is a float constant initializer, in graph order.
 * 2. A candidate is kept when it matches `include` (default: all) and not `exclude`
 *    (glob patterns on node or weight names); `first-layer=keep` / `last-layer=keep` drop
 *    the first / last candidate.
 * 3. Each kept weight W gets a bit map M from the heuristic and the distribution (from
 *    `avg-bits` by the documented DistFromAvg rule, or `dist`), then heterogeneous residual
 *    binarization (docs/method.md). With heuristic `layer`, every layer gets one integer
 *    bitwidth, chosen so the parameter-weighted average hits `avg-bits`.
 * 4. W's use by the layer is replaced by a binarized weight call (docs/format.md):
 *    `ai.hbnn::PackedBinarizedWeight<K>` with packed planes (`planes=packed`, the default) or
 *    `ai.hbnn::BinarizedWeight(planes, scales)` with int8 planes (`planes=int8`); W is removed when unused. The model records every binarized tensor in
 *    its `hbnn.quantization` metadata.
 * 5. A model with no candidate left is an error (nothing-to-quantize).
 * 6. With the pipeline's `threads` above 1, the layers' bit maps and binarizations run on
 *    worker threads, each layer whole on one thread: the model is byte for byte the same.
 * 7. With `granularity=row` every output channel of a layer (a row of the weight laid out
 *    channel-major) gets one bitwidth: the heuristic ranks whole rows and the distribution
 *    gives exact row counts (docs/method.md, row-granular bit maps); the record notes
 *    `granularity: "row"`. It needs a bit map heuristic: with `heuristic=layer` it is an
 *    invalid-option error.
 * 8. A model whose layers all carry binarized weights already (a quantization record with
 *    weights and no float candidate, e.g. 1-bit planes imported by import-qonnx) is left
 *    unchanged, with a note.
 */
import { definePass } from '../src/pass/pass.js';
import { fail, ErrorCodes } from '../src/errors.js';
import { DEFAULT_MAX_BITS, HEURISTICS, binarizeWithBitMap, resolveDistribution, layerLevelBits } from '../src/hbnn/index.js';
import { checkAvgBits, MAX_SUPPORTED_BITS, MIN_AVG_BITS } from '../src/hbnn/validate.js';
import { emptyRecord, ensureHbnnFunctions, isWeightCall, readQuantRecord, updateAverageWeightBits, writeQuantRecord } from '../src/quant/format.js';
import { matchesAny, weightLayers, type WeightLayer } from '../src/quant/targets.js';
import {
  GRANULARITIES,
  finishLayerWeight,
  materializeWeight,
  prepareLayerWeight,
  weightRecord,
  type Granularity,
  type LayerQuantResult,
  type LayerQuantSpec,
  type WeightHeuristic,
} from '../src/quant/weights.js';
import { binarizeWithBitMaps } from '../src/hbnn/parallel.js';
import { PLANE_ENCODINGS, type PlaneEncoding } from '../src/quant/planes.js';

export const insertWeightBinarization = definePass({
  name: 'insert-weight-binarization',
  summary: 'Binarize Conv/Gemm/MatMul weights with heterogeneous bitwidths, per entry or per output channel (residual binarization)',
  options: [
    { name: 'avg-bits', type: 'number', doc: 'target average bits per weight (1 to max-bits); ignored when dist is given', default: 1.4, min: MIN_AVG_BITS, max: MAX_SUPPORTED_BITS },
    { name: 'dist', type: 'number-list', doc: 'explicit fractions of weights at 1, 2, 3... bits (sum 1), e.g. 0.7|0.2|0.1' },
    { name: 'max-bits', type: 'integer', doc: 'largest bitwidth DistFromAvg may use', default: DEFAULT_MAX_BITS, min: 1, max: MAX_SUPPORTED_BITS },
    { name: 'heuristic', type: 'string', doc: 'bit map heuristic, or layer for layer-level mixing', default: 'middle-out', choices: [...HEURISTICS, 'layer'] },
    { name: 'seed', type: 'integer', doc: 'seed of the random heuristic', default: 0, min: 0 },
    { name: 'per-channel', type: 'boolean', doc: 'one scale per output channel and bit (default: per tensor, as in the paper)', default: false },
    { name: 'granularity', type: 'string', doc: 'bit map granularity: entry (a bitwidth per weight) or row (one bitwidth per output channel)', default: 'entry', choices: GRANULARITIES },
    { name: 'include', type: 'string-list', doc: 'only layers whose node or weight name matches one of these globs' },
    { name: 'exclude', type: 'string-list', doc: 'skip layers whose node or weight name matches one of these globs' },
    { name: 'planes', type: 'string', doc: 'how the bit planes are stored: packed (a 4-bit code per weight, 1 bit with one plane; format hbnn-onnx/3) or int8 (one int8 per plane and weight; hbnn-onnx/1)', default: 'packed', choices: PLANE_ENCODINGS },
    { name: 'first-layer', type: 'string', doc: 'binarize or keep (float) the first binarizable layer', default: 'binarize', choices: ['binarize', 'keep'] },
    { name: 'last-layer', type: 'string', doc: 'binarize or keep (float) the last binarizable layer', default: 'binarize', choices: ['binarize', 'keep'] },
  ],
  establishes: ['weights-binarized'],
  preserves: ['topologically-sorted', 'constants-folded', 'no-identity', 'batchnorm-folded'],
  validate(o) {
    if (o.granularity === 'row' && o.heuristic === 'layer') {
      fail(
        ErrorCodes.INVALID_OPTION,
        'granularity=row needs a bit map heuristic; heuristic=layer gives each whole layer one bitwidth already (use the default granularity=entry with it)',
        { option: 'granularity' },
      );
    }
    if (!o.dist) checkAvgBits(o['avg-bits'], o['max-bits'], { avg: 'avg-bits', max: 'max-bits' });
    weightDistribution(o);
  },
  async run(model, ctx, o) {
    const heuristic: WeightHeuristic = o.heuristic;
    const granularity: Granularity = o.granularity;
    const resolved = weightDistribution(o);
    const g = model.graph;
    const all = weightLayers(g);
    let layers = all.filter((l) => !l.node.inputs.some((v) => v?.producer && isWeightCall(v.producer)));
    const include = o.include;
    const exclude = o.exclude;
    if (include?.length) layers = layers.filter((l) => matchesAny(include, [l.node.name, l.weight.name]));
    if (exclude?.length) layers = layers.filter((l) => !matchesAny(exclude, [l.node.name, l.weight.name]));
    if (o['first-layer'] === 'keep' && all[0]) layers = layers.filter((l) => l !== all[0]);
    if (o['last-layer'] === 'keep' && all.length) layers = layers.filter((l) => l !== all[all.length - 1]);
    if (layers.length === 0 && all.length === 0 && (readQuantRecord(model)?.weights.length ?? 0) > 0) {
      // Rule 8: every layer is binarized already (e.g. imported 1-bit planes).
      ctx.note('every binarizable layer is binarized already; nothing left to binarize');
      return { changed: false };
    }
    if (layers.length === 0) {
      fail(
        ErrorCodes.NOTHING_TO_QUANTIZE,
        all.length === 0
          ? `the model has no Conv, Gemm or MatMul with a constant float weight to binarize${fedWeights(g)}${readQuantRecord(model) ? ' (it is already HBNN-quantized: its weights are binarized)' : ''}`
          : `all ${all.length} binarizable layers were excluded by include/exclude/first-layer/last-layer`,
      );
    }
    // Layer-level baseline: integer bits per layer, weighted by parameter count.
    let layerBits: number[] | undefined;
    if (heuristic === 'layer') {
      const sizes = layers.map((l) => l.weight.constValue!.size);
      layerBits = layerLevelBits(sizes, resolved.avgBits, resolved.maxBits).bits;
    }
    ensureHbnnFunctions(model, []);
    const record = readQuantRecord(model) ?? emptyRecord();
    const specOf = (idx: number): LayerQuantSpec => ({
      heuristic,
      dist: layerBits ? oneHot(layerBits[idx]!, resolved.maxBits) : resolved.dist,
      perChannel: o['per-channel'],
      seed: o.seed + idx,
      ...(granularity === 'row' ? { granularity } : {}),
    });
    const prepare = (layer: WeightLayer, idx: number) => {
      const t = layer.weight.constValue!;
      return prepareLayerWeight(t.toFloat32(), t.dims, layer, specOf(idx), layer.weight.name);
    };
    const finish = (layer: WeightLayer, idx: number, q: LayerQuantResult) => {
      const t = layer.weight.constValue!;
      const { planes, scales } = materializeWeight(model, layer, q, o.planes);
      record.weights.push(weightRecord(layer, t.dims, q, specOf(idx), planes, scales));
      ctx.stat('binarized-layers');
      ctx.stat('binarized-parameters', t.size);
    };
    if (ctx.threads <= 1) {
      // One layer at a time: at most one layer's working copies in memory.
      layers.forEach((layer, idx) => {
        const p = prepare(layer, idx);
        // Ŵ is not kept (dequantize: false): the format stores the signs and scales only.
        finish(layer, idx, finishLayerWeight(p, p.job ? binarizeWithBitMap(p.job.t, p.job.mapOpts, { ...p.job.binOpts, dequantize: false }) : undefined));
      });
    } else {
      // Every layer's bit map and binarization on the threads, each layer whole on one thread.
      const prepared = layers.map(prepare);
      const jobs = prepared.flatMap((p) => (p.job ? [p.job] : []));
      const fused = await binarizeWithBitMaps(jobs, { threads: ctx.threads });
      let next = 0;
      layers.forEach((layer, idx) => {
        const p = prepared[idx]!;
        finish(layer, idx, finishLayerWeight(p, p.job ? fused[next++] : undefined));
      });
    }
    const params = updateAverageWeightBits(record);
    writeQuantRecord(model, record);
    ctx.note(`binarized ${layers.length} layers, ${params} weights, average ${record.avgWeightBits.toFixed(4)} bits`);
    return { changed: true };
  },
});

function oneHot(bits: number, maxBits: number): number[] {
  const d = new Array<number>(Math.max(bits, maxBits)).fill(0);
  d[bits - 1] = 1;
  return d;
}

/** ' (…)' naming layers whose weight is fed at run time (a graph input), or ''. */
function fedWeights(g: import('../src/ir/graph.js').Graph): string {
  const fed = g.nodes.filter((n) => ['Conv', 'Gemm', 'MatMul'].includes(n.opType) && (n.domain === '' || n.domain === 'ai.onnx') && !!n.inputs[1]?.isGraphInput);
  if (fed.length === 0) return '';
  const init = fed.filter((n) => n.inputs[1]!.isInitializer).length;
  return ` (${fed.length} layer weight${fed.length === 1 ? ' is a graph input' : 's are graph inputs'}, e.g. "${fed[0]!.inputs[1]!.name}" of ${fed[0]!.label}` +
    (init > 0 ? `; ${init} with an initializer: run constant-initializer-inputs first, as quantize does by default)` : ', fed at run time: there is no weight to binarize)');
}

/** The weights' distribution from `avg-bits` (DistFromAvg up to `max-bits`) or `dist` (INVALID_OPTION when bad). */
function weightDistribution(o: { readonly 'avg-bits': number; readonly 'max-bits': number; readonly dist: readonly number[] | undefined }): ReturnType<typeof resolveDistribution> {
  const maxBits = o['max-bits'];
  return resolveDistribution(o.dist ? { dist: [...o.dist], maxBits: Math.max(maxBits, o.dist.length) } : { avgBits: o['avg-bits'], maxBits });
}
