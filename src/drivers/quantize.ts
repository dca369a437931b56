/**
 * `quantize`: the float → HBNN pipeline as one call. It builds a text pipeline from the
 * options (printed in the report, so the same result can be reproduced with `opt`) and runs
 * it with the pass manager.
 */
import type { Model } from '../ir/graph.js';
import { Pipeline, definePipeline, passInstance, stepsToItems, type PipelineStep, type RunReport } from '../pass/manager.js';
import { pickOption, renameOption, withoutDefault, type OptionSpec } from '../pass/pass.js';
import { insertWeightBinarization } from '../../passes/insert-weight-binarization.js';
import { insertActivationBinarization } from '../../passes/insert-activation-binarization.js';
import { calibrate } from '../../passes/calibrate.js';
import { recalibrateBatchnorm } from '../../passes/recalibrate-batchnorm.js';
import { insertScalingLayer } from '../../passes/insert-scaling-layer.js';
import { builtinPasses } from '../../passes/registry.js';
import { printPipeline, type PipelineItem } from '../pass/pipeline.js';
import { assertNotQuantized, requireQuantRecord, type QuantRecord } from '../quant/format.js';
import { resolveDistribution } from '../hbnn/index.js';
import type { Granularity } from '../quant/weights.js';
import type { PlaneEncoding } from '../quant/planes.js';
import { preparationFor, type Preparation } from './prepare.js';

export interface QuantizeOptions {
  /** Average weight bits (default 1.4). */
  avgBits?: number;
  /** Explicit weight distribution over 1..K bits (overrides avgBits' DistFromAvg). */
  dist?: number[];
  /** Largest weight bitwidth DistFromAvg may use (default 3). */
  maxBits?: number;
  heuristic?: 'middle-out' | 'middle-out-residual' | 'top-down' | 'bottom-up' | 'random' | 'layer';
  perChannel?: boolean;
  /** Bit map granularity: 'entry' (default, a bitwidth per weight) or 'row' (one per output channel; not with heuristic 'layer'). */
  granularity?: Granularity;
  seed?: number;
  /** How the bit planes are stored: 'packed' (default, format hbnn-onnx/3) or 'int8' (hbnn-onnx/1). */
  planes?: PlaneEncoding;
  include?: string[];
  exclude?: string[];
  firstLayer?: 'binarize' | 'keep';
  lastLayer?: 'binarize' | 'keep';
  /** Average activation bits; omitted = activations stay float. */
  actBits?: number;
  actDist?: number[];
  actHeuristic?: 'middle-out' | 'bottom-up' | 'top-down';
  /** Calibration data SPEC (activations, BatchNorm re-estimation), default the bundled Fashion-MNIST slice. */
  calibData?: string;
  /** Calibration samples (default: 512 for `calibrate`, 1024 for `recalibrate-batchnorm`). */
  calibLimit?: number;
  /** Input normalization for calibration data: 'fmnist', 'MEAN:STD', 'none', or omitted / 'model': the model's hbnn.input_normalization record (none without one). */
  normalize?: string;
  /**
   * Re-estimate BatchNorm statistics on the calibration data through the quantized network
   * (`recalibrate-batchnorm`, after the weights are binarized and, with activations, after
   * `calibrate`, which it re-runs layer by layer). Default false.
   */
  recalibrateBatchNorm?: boolean;
  /** Add (or record) the scaling layer after the output layer (default true). */
  scalingLayer?: boolean;
  verify?: boolean;
  /**
   * Initializers that are also graph inputs (IR 3 style) stay graph inputs, overridable by a
   * feed (default false: they become constants, as onnxruntime treats them when not fed).
   */
  keepInitializerInputs?: boolean;
  /**
   * QONNX/Brevitas models: BipolarQuant weights stay 1-bit planes with their scale (the same
   * function); default false: every weight is re-binarized from its dequantized value.
   */
  keepImported?: boolean;
  /**
   * Threads for the weights' bit maps and binarizations (default 1): each layer is done whole
   * by one thread, so the model is byte for byte the same for any count.
   */
  threads?: number;
}

export interface QuantizeResult {
  report: RunReport;
  record: QuantRecord;
  pipeline: string;
  /** What was done to prepare the model (sorting, constants, opset upgrade, QONNX import, folding), one line each. */
  preparation: string[];
}

/** A model prepared for quantization: the passes run and why (from `prepareForQuantize`). */
export interface PreparedModel extends Preparation {
  report?: RunReport;
}

/**
 * Runs the preparation passes the model needs before quantization (src/drivers/prepare.ts):
 * topological sort, initializers-as-inputs to constants, opset upgrade, QONNX import,
 * constant folding. The model changes in place.
 */
export async function prepareForQuantize(model: Model, o: QuantizeOptions = {}, extra: { minOpset?: number } = {}): Promise<PreparedModel> {
  const prep = preparationFor(model, {
    ...extra,
    ...(o.keepInitializerInputs ? { keepInitializerInputs: true } : {}),
    ...(o.keepImported ? { keepImported: true } : {}),
    ...(o.actBits !== undefined || o.actDist !== undefined ? { dropImportedActivations: true } : {}),
  });
  if (prep.items.length === 0) return prep;
  const report = await Pipeline.fromItems(prep.items, builtinPasses()).run(model, { verify: o.verify ?? true });
  return { ...prep, report };
}

const weightSpecs = insertWeightBinarization.options;
const activationSpecs = insertActivationBinarization.options;
const calibrationSpecs = calibrate.options;

/**
 * The options of the `quantize` pipeline, named as in pipelines and on the command line
 * (`quantize` and `sweep` generate their flags from them). Each option that sets a pass's
 * option is that pass's spec (doc, default, range, choices declared once, in the pass).
 */
export const QUANTIZE_OPTIONS = [
  pickOption(weightSpecs, 'avg-bits'),
  pickOption(weightSpecs, 'dist'),
  pickOption(weightSpecs, 'max-bits'),
  pickOption(weightSpecs, 'heuristic'),
  pickOption(weightSpecs, 'per-channel'),
  pickOption(weightSpecs, 'granularity'),
  pickOption(weightSpecs, 'planes'),
  pickOption(weightSpecs, 'include'),
  pickOption(weightSpecs, 'exclude'),
  pickOption(weightSpecs, 'first-layer'),
  pickOption(weightSpecs, 'last-layer'),
  pickOption(weightSpecs, 'seed'),
  withoutDefault(renameOption(pickOption(activationSpecs, 'avg-bits'), 'act-bits'), 'binarize activations too, with this average bits per activation (default: activations stay float)'),
  renameOption(pickOption(activationSpecs, 'dist'), 'act-dist'),
  renameOption(pickOption(activationSpecs, 'heuristic'), 'act-heuristic'),
  renameOption(pickOption(calibrationSpecs, 'data'), 'calib-data', 'calibration data SPEC for activations and --bn-recalibrate (see docs/data.md)'),
  withoutDefault(
    renameOption(pickOption(calibrationSpecs, 'limit'), 'calib-limit'),
    `number of calibration samples; by default ${pickOption(calibrationSpecs, 'limit').default} for the activations, ${pickOption(recalibrateBatchnorm.options, 'limit').default} for --bn-recalibrate`,
  ),
  withoutDefault(pickOption(calibrationSpecs, 'normalize')),
  { name: 'bn-recalibrate', type: 'boolean', default: false, doc: 're-estimate BatchNorm mean and variance on the calibration data through the quantized network' },
  { name: 'scaling-layer', type: 'boolean', default: true, doc: 'add (or record) the scaling layer after the output layer' },
  {
    name: 'keep-initializer-inputs',
    type: 'boolean',
    default: false,
    doc: 'keep initializers that are also graph inputs (IR 3 style) overridable; default: they are treated as constants, as onnxruntime does when they are not fed',
  },
  {
    name: 'keep-imported',
    type: 'boolean',
    default: false,
    doc: 'QONNX/Brevitas models: keep BipolarQuant weights as 1-bit planes with their scale (the same function); default: re-binarize every weight from its dequantized value (docs/import.md)',
  },
] as const satisfies readonly OptionSpec[];

/** The API name (QuantizeOptions key) of each QUANTIZE_OPTIONS entry. */
export const QUANTIZE_API_KEYS: Readonly<Record<(typeof QUANTIZE_OPTIONS)[number]['name'], keyof QuantizeOptions>> = {
  'avg-bits': 'avgBits',
  dist: 'dist',
  'max-bits': 'maxBits',
  heuristic: 'heuristic',
  'per-channel': 'perChannel',
  granularity: 'granularity',
  planes: 'planes',
  include: 'include',
  exclude: 'exclude',
  'first-layer': 'firstLayer',
  'last-layer': 'lastLayer',
  seed: 'seed',
  'act-bits': 'actBits',
  'act-dist': 'actDist',
  'act-heuristic': 'actHeuristic',
  'calib-data': 'calibData',
  'calib-limit': 'calibLimit',
  normalize: 'normalize',
  'bn-recalibrate': 'recalibrateBatchNorm',
  'scaling-layer': 'scalingLayer',
  'keep-initializer-inputs': 'keepInitializerInputs',
  'keep-imported': 'keepImported',
};

/**
 * An average and a distribution given together (weights: avgBits and dist; activations:
 * actBits and actDist) must agree (INVALID_OPTION otherwise); the distribution is used and
 * the average dropped. Returns a copy. The other checks are the passes' validate hooks.
 */
export function checkQuantizeOptions(opts: QuantizeOptions): QuantizeOptions {
  const o = { ...opts };
  if (o.avgBits !== undefined && o.dist !== undefined) {
    resolveDistribution({ avgBits: o.avgBits, dist: o.dist, maxBits: Math.max(o.maxBits ?? pickOption(weightSpecs, 'max-bits').default, o.dist.length) });
    delete o.avgBits;
  }
  if (o.actBits !== undefined && o.actDist !== undefined) {
    resolveDistribution({ avgBits: o.actBits, dist: o.actDist, maxBits: Math.max(pickOption(activationSpecs, 'avg-bits').max, o.actDist.length) });
    delete o.actBits;
  }
  return o;
}

/** The typed pass instances `quantize` runs for these options (after the preparation). */
export function quantizeSteps(o: QuantizeOptions): PipelineStep[] {
  const list = <T>(xs: readonly T[] | undefined): T[] | undefined => (xs && xs.length ? [...xs] : undefined);
  const calib = { data: o.calibData, limit: o.calibLimit, normalize: o.normalize };
  const steps: PipelineStep[] = [
    passInstance(insertWeightBinarization, {
      // avg-bits is printed even at its default, so the pipeline text says it
      'avg-bits': o.dist ? undefined : o.avgBits ?? pickOption(weightSpecs, 'avg-bits').default,
      dist: list(o.dist),
      'max-bits': o.maxBits,
      heuristic: o.heuristic,
      seed: o.seed,
      'per-channel': o.perChannel,
      granularity: o.granularity,
      planes: o.planes,
      include: list(o.include),
      exclude: list(o.exclude),
      'first-layer': o.firstLayer,
      'last-layer': o.lastLayer,
    }),
  ];
  if (o.actBits !== undefined || o.actDist !== undefined) {
    steps.push(passInstance(insertActivationBinarization, { 'avg-bits': o.actDist ? undefined : o.actBits, dist: list(o.actDist), heuristic: o.actHeuristic }));
    steps.push(passInstance(calibrate, calib));
  }
  // Last of the data-driven passes: with activations it re-calibrates each binarizer after
  // the BatchNorm before it (see docs/passes.md for why not before insert-activation-binarization).
  if (o.recalibrateBatchNorm) steps.push(passInstance(recalibrateBatchnorm, calib));
  if (o.scalingLayer !== false) steps.push(passInstance(insertScalingLayer));
  return steps;
}

/** The pipeline `quantize` runs for these options, as text items (for printing). */
export function quantizePipeline(o: QuantizeOptions): PipelineItem[] {
  return stepsToItems(quantizeSteps(o));
}

/** QUANTIZE_OPTIONS values (parsed) as QuantizeOptions; `given` says which were set (the rest stay unset). */
export function quantizeOptionsFrom(values: Partial<Record<(typeof QUANTIZE_OPTIONS)[number]['name'], unknown>>): QuantizeOptions {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(values)) if (v !== undefined) out[QUANTIZE_API_KEYS[name as keyof typeof QUANTIZE_API_KEYS]] = v;
  return out as QuantizeOptions;
}

/**
 * `quantize` as a registered named pipeline (`hbnn-onnx passes` lists it with its options):
 * the options schema is QUANTIZE_OPTIONS; `build` gives the pass instances after the
 * model-dependent preparation (which `quantize()` adds in front).
 */
export const quantizeNamedPipeline = definePipeline({
  name: 'quantize',
  summary: 'Binarize weights (and optionally activations) with heterogeneous bitwidths: the passes `hbnn-onnx quantize` runs after preparing the model',
  options: QUANTIZE_OPTIONS,
  build: (o) => quantizeSteps(quantizeOptionsFrom(o)),
});

/**
 * Quantizes `model` in place.
 *
 * Options, the distribution and the calibration data (that it exists and fits the model's
 * input) are checked before anything changes, so those errors leave `model` as it was. An
 * error raised by a pass later on (e.g. onnxruntime failing during calibration) can leave
 * it partly rewritten: callers that need the original keep a copy (the CLI writes its
 * output file only when the whole pipeline succeeded).
 *
 * The model is first prepared (`prepareForQuantize`, unless `prepared` says it was): the
 * printed pipeline starts with the preparation passes, so `opt -p` reproduces the whole.
 */
export async function quantize(model: Model, opts: QuantizeOptions = {}, prepared?: PreparedModel): Promise<QuantizeResult> {
  // A quantized model cannot be quantized again (an imported QONNX model is prepared first, then may carry a record).
  if (!prepared) assertNotQuantized(model);
  const o = checkQuantizeOptions(opts);
  const steps = quantizeSteps(o);
  const items = stepsToItems(steps);
  const pipeline = Pipeline.of(steps);
  // Every pass's options, and the calibration data, are checked before the preparation changes the model.
  const validated = pipeline.validate(model);
  const prep = prepared ?? (await prepareForQuantize(model, o));
  const report = await pipeline.run(model, { verify: opts.verify ?? true, validated, ...(opts.threads !== undefined ? { threads: opts.threads } : {}) });
  if (prep.report) {
    report.passes.unshift(...prep.report.passes);
    report.warnings.unshift(...prep.report.warnings);
    report.totalMs += prep.report.totalMs;
  }
  report.pipeline = printPipeline([...prep.items, ...items]);
  return { report, record: requireQuantRecord(model), pipeline: printPipeline([...prep.items, ...items]), preparation: prep.notes };
}
