/**
 * `quantize`: the float → HBNN pipeline as one call. It builds a text pipeline from the
 * options (printed in the report, so the same result can be reproduced with `opt`) and runs
 * it with the pass manager.
 */
import type { Model } from '../ir/graph.js';
import { Pipeline, type RunReport } from '../pass/manager.js';
import { builtinPasses } from '../../passes/registry.js';
import { printPipeline, type PipelineItem } from '../pass/pipeline.js';
import { assertNotQuantized, requireQuantRecord, type QuantRecord } from '../quant/format.js';
import { resolveDistribution } from '../hbnn/index.js';
import { fail, ErrorCodes } from '../errors.js';
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
  /** How the bit planes are stored: 'packed' (default, format hbnn-onnx/2) or 'int8' (hbnn-onnx/1). */
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

/** The pipeline `quantize` runs for these options. */
export function quantizePipeline(o: QuantizeOptions): PipelineItem[] {
  const list = (xs: readonly (string | number)[] | undefined): string | undefined => (xs && xs.length ? xs.join('|') : undefined);
  const clean = (r: Record<string, string | number | boolean | undefined>): Record<string, string> =>
    Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  const calib = clean({ data: o.calibData, limit: o.calibLimit, normalize: o.normalize });
  const items: PipelineItem[] = [
    {
      kind: 'pass',
      name: 'insert-weight-binarization',
      options: clean({
        'avg-bits': o.dist ? undefined : o.avgBits ?? 1.4,
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
    },
  ];
  if (o.actBits !== undefined || o.actDist !== undefined) {
    items.push({
      kind: 'pass',
      name: 'insert-activation-binarization',
      options: clean({ 'avg-bits': o.actDist ? undefined : o.actBits, dist: list(o.actDist), heuristic: o.actHeuristic }),
    });
    items.push({ kind: 'pass', name: 'calibrate', options: calib });
  }
  // Last of the data-driven passes: with activations it re-calibrates each binarizer after
  // the BatchNorm before it (see docs/passes.md for why not before insert-activation-binarization).
  if (o.recalibrateBatchNorm) items.push({ kind: 'pass', name: 'recalibrate-batchnorm', options: calib });
  if (o.scalingLayer !== false) items.push({ kind: 'pass', name: 'insert-scaling-layer', options: {} });
  return items;
}

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
  let o = opts;
  if (opts.avgBits !== undefined && opts.dist !== undefined) {
    // Both given: they must agree (INVALID_OPTION otherwise); the distribution is used.
    resolveDistribution({ avgBits: opts.avgBits, dist: opts.dist, maxBits: Math.max(opts.maxBits ?? 3, opts.dist.length) });
    o = { ...opts, avgBits: undefined };
  }
  if (o.granularity === 'row' && o.heuristic === 'layer') {
    fail(ErrorCodes.INVALID_OPTION, "granularity 'row' needs a bit map heuristic; heuristic 'layer' gives each whole layer one bitwidth already", { option: 'granularity' });
  }
  const items = quantizePipeline(o);
  const pipeline = Pipeline.fromItems(items, builtinPasses());
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
