/**
 * The work of `hbnn-onnx quantize`: request in, result out, with its text and JSON forms, shared
 * with `demo`; the command's flags and registration are in src/cli/quantize.ts (command files
 * import no other command file).
 *
 * `hbnn-onnx quantize MODEL [options] [-o OUT] [--report FILE] [--json]`: float → HBNN.
 *
 * A thin layer over `quantize()` (src/drivers/quantize.ts): it checks every option, the
 * output paths and (for activation binarization) the calibration data before any work,
 * runs the quantize pipeline, and saves the model atomically. Every error leaves the file
 * system as it was: the output (and the report) are written only after the whole pipeline
 * succeeded, and never over the input.
 *
 * The option parsers at the top are shared by the other HBNN commands (eval, sweep).
 */
import * as path from 'node:path';
import { loadModel, saveModel } from '../../onnx/io.js';
import { checkQuantizeOptions, prepareForQuantize, quantize, quantizeOptionsFrom, QUANTIZE_OPTIONS, type QuantizeOptions } from '../../drivers/quantize.js';
import { pickOption, type OptionSpec } from '../../pass/pass.js';
import { assertNotQuantized, readQuantRecord, type ActivationRecord, type QuantRecord } from '../../quant/format.js';
import { distributionMean } from '../../hbnn/index.js';
import { appliedNormalization, resolveNormalization, writeNormalizationRecord, type Normalization } from '../../data/index.js';
import { inputNormalization } from '../normalize.js';
import { writeFileAtomic } from '../../util/fs.js';
import { fail, ErrorCodes } from '../../errors.js';
import { formatCount, table } from '../format.js';
import { Logger, reportToJson, toJson, type CliIo } from '../io.js';
import { cliOutput, preflightCliOutputs, deriveOutputPath, displayPath } from '../paths.js';
import { fineTune, TRAINING_MIN_OPSET, type TrainLog } from '../../train/index.js';
import { formatTrainLog, givenTrainingFlags, loadTrainingData, trainingFromCli, trainProgress, type TrainingCliOptions, type TrainingSpec } from './train.js';
import { weightLayers } from '../../quant/targets.js';
import { formatDistribution, heuristicTitle, parseIntOption, parseNormalizeOption, parseSchemaFlags, percent, quoteArg, resolveDataSpec } from '../options.js';

// ------------------------------------------------------------------------------------------
// The command
// ------------------------------------------------------------------------------------------


/** The flags as commander hands them over (strings; checked by `quantizeOptionsFromCli`). */
export interface QuantizeCliOptions extends TrainingCliOptions {
  fineTune?: boolean;
  avgBits?: string;
  actBits?: string;
  heuristic?: string;
  actHeuristic?: string;
  dist?: string;
  actDist?: string;
  maxBits?: string;
  perChannel?: boolean;
  granularity?: string;
  planes?: string;
  include?: string[];
  exclude?: string[];
  firstLayer?: string;
  lastLayer?: string;
  calibData?: string;
  calibLimit?: string;
  normalize?: string;
  bnRecalibrate?: boolean;
  keepInitializerInputs?: boolean;
  keepImported?: boolean;
  seed?: string;
  output?: string;
  report?: string;
  json?: boolean;
}

/** The quantize options that are flags of `quantize` (--normalize is declared with the data flags and parsed by parseNormalizeOption; the scaling layer is always added). */
export const QUANTIZE_FLAG_SPECS: readonly OptionSpec[] = QUANTIZE_OPTIONS.filter((s) => s.name !== 'normalize' && s.name !== 'scaling-layer');

/** The metavariables of the generated flags (`--avg-bits <bits>`). */
export const QUANTIZE_METAVARS: Readonly<Record<string, string>> = {
  'avg-bits': 'bits',
  dist: 'fractions',
  'max-bits': 'n',
  heuristic: 'name',
  granularity: 'g',
  planes: 'encoding',
  include: 'globs',
  exclude: 'globs',
  'first-layer': 'mode',
  'last-layer': 'mode',
  seed: 'n',
  'act-bits': 'bits',
  'act-dist': 'fractions',
  'act-heuristic': 'name',
  'calib-data': 'spec',
  'calib-limit': 'n',
  normalize: 'norm',
};

/** Help texts that say more on the command line than the schema's doc (the flags' names). */
export const QUANTIZE_FLAG_DOCS: Readonly<Record<string, string>> = {
  dist: 'explicit fractions of weights at 1,2,3... bits, summing to 1, e.g. 0.7,0.2,0.1 (instead of --avg-bits)',
  granularity: 'bit map granularity: entry (a bitwidth per weight) or row (one bitwidth per output channel, so hardware can group rows by bitwidth; not with the layer heuristic in --heuristic)',
  'act-dist': 'explicit fractions of activations at 1,2,3 bits, e.g. 0.7,0.2,0.1 (instead of --act-bits)',
  normalize: "input normalization of the calibration (and training) data, recorded in the output: fmnist, MEAN:STD or none (default: the model's record, else none)",
};

/**
 * Turns the flags into `QuantizeOptions`: each value is parsed and checked against its spec
 * in QUANTIZE_OPTIONS (type, range, choices; INVALID_OPTION naming the flag). Combinations
 * (--avg-bits within --max-bits, --dist summing to 1 and agreeing with --avg-bits, the same
 * for the activations, --granularity row with --heuristic layer) are checked once, by the
 * passes' validate hooks and `checkQuantizeOptions`, before any work. Returns warnings for
 * flags that have no effect.
 */
export function quantizeOptionsFromCli(o: QuantizeCliOptions): { options: QuantizeOptions; warnings: string[] } {
  // --normalize applies to every data the command feeds and is recorded in the output model
  // (hbnn.input_normalization), so it is never ignored.
  const warnings: string[] = [];
  const options: QuantizeOptions = checkQuantizeOptions(quantizeOptionsFrom(parseSchemaFlags(QUANTIZE_FLAG_SPECS, o)));
  if (options.dist === undefined && options.avgBits === undefined) options.avgBits = pickOption(QUANTIZE_OPTIONS, 'avg-bits').default;
  // --threads: the weights' binarization here; with --fine-tune, onnxruntime's threads too.
  if (o.threads !== undefined) options.threads = parseIntOption(o.threads, '--threads', 1);
  if (o.normalize !== undefined) {
    parseNormalizeOption(o.normalize); // checked now; the calibrate pass parses the text itself
    options.normalize = o.normalize.trim().toLowerCase() === 'none' ? 'none' : o.normalize.trim();
  }
  for (const k of ['perChannel', 'recalibrateBatchNorm', 'keepInitializerInputs', 'keepImported'] as const) if (options[k] === false) delete options[k];
  const activations = options.actBits !== undefined || options.actDist !== undefined;
  // --bn-recalibrate uses the calibration data too.
  const calibUsed = options.recalibrateBatchNorm === true;
  if (!activations) {
    const unused = [
      o.actHeuristic !== undefined && '--act-heuristic',
      o.calibData !== undefined && !calibUsed && '--calib-data',
      o.calibLimit !== undefined && !calibUsed && '--calib-limit',
    ].filter((x): x is string => typeof x === 'string');
    delete options.actHeuristic;
    if (unused.length > 0) {
      warnings.push(`${unused.join(', ')} only affect${unused.length === 1 ? 's' : ''} activation binarization (--act-bits or --act-dist); ignored`);
      if (!calibUsed) {
        delete options.calibData;
        delete options.calibLimit;
      }
    }
  }
  return { options, warnings };
}

/** One row of the per-layer table: a binarizable layer, binarized or kept float. */
export interface QuantizeLayerRow {
  node: string;
  op: string;
  tensor: string;
  params: number;
  /** Fractions of the weights at 1..K bits; null for a layer kept float. */
  fractions: number[] | null;
  histogram: number[] | null;
  avgBits: number | null;
  heuristic: string | null;
  /** 'row' for a row-granular bit map (one bitwidth per output channel); absent per entry. */
  granularity?: 'row';
}

export interface QuantizeRequest {
  input: string;
  /** Default: `<input stem>.hbnn.onnx` beside the input. */
  output?: string;
  /** Where to write the JSON report (record, pipeline, timing); none by default. */
  report?: string;
  options: QuantizeOptions;
  /** Fine-tune after quantizing (`fineTune` from src/train), with this data normalization. */
  fineTune?: { spec: TrainingSpec; normalize?: Normalization };
}

export interface QuantizeRun {
  input: string;
  output: string;
  report?: string;
  pipeline: string;
  /** What was done to the model before binarizing (src/drivers/prepare.ts), one line each. */
  preparation: string[];
  record: QuantRecord;
  layers: QuantizeLayerRow[];
  timing: { totalMs: number; loadMs: number; quantizeMs: number; fineTuneMs?: number; saveMs: number; passes: { pass: string; ms: number; verifyMs: number }[] };
  run: Awaited<ReturnType<typeof quantize>>['report'];
  /** The training log, when the model was fine-tuned after quantizing. */
  fineTune?: TrainLog;
}

export const QUANTIZE_REPORT_FORMAT = 'hbnn-onnx.quantize-report';

/**
 * The core of `quantize`, shared with `demo`: paths resolve against `io.cwd`. Checks the
 * output paths and the calibration data before any work; writes the model (and report) only
 * when everything succeeded.
 */
export async function runQuantize(req: QuantizeRequest, io: CliIo, log: Logger): Promise<QuantizeRun> {
  const t0 = performance.now();
  const input = path.resolve(io.cwd, req.input);
  const output = path.resolve(io.cwd, req.output ?? deriveOutputPath(req.input, '.hbnn.onnx'));
  const report = req.report !== undefined ? path.resolve(io.cwd, req.report) : undefined;
  const checkpointDir = req.fineTune?.spec.options.checkpointDir;
  preflightCliOutputs(
    [
      cliOutput(output, 'file', '-o', io.cwd),
      ...(report !== undefined ? [cliOutput(report, 'file', '--report', io.cwd)] : []),
      ...(checkpointDir !== undefined ? [cliOutput(checkpointDir, 'folder', '--checkpoint-dir', io.cwd)] : []),
    ],
    [input],
    io.cwd,
  );
  const o: QuantizeOptions = { ...req.options };
  if (o.calibData !== undefined) o.calibData = resolveDataSpec(o.calibData, io.cwd);

  log.progress(`loading ${displayPath(input, io.cwd)}`);
  let model = loadModel(input);
  assertNotQuantized(model, displayPath(input, io.cwd));
  const activations = o.actBits !== undefined || o.actDist !== undefined;
  const ft = req.fineTune;
  // The input normalization: --normalize, else the model's record (said in one line when
  // neither gives one and data is fed); recorded in the output (src/data/normalization.ts).
  const feedsData = activations || o.recalibrateBatchNorm === true || ft !== undefined;
  const norm = feedsData || o.normalize !== undefined ? inputNormalization(model, o.normalize, displayPath(input, io.cwd), log, o.calibData) : resolveNormalization(model, undefined, '');
  const trainData = ft ? loadTrainingData(ft.spec, model, ft.normalize ?? norm.normalize, io.cwd) : undefined;
  const loadMs = performance.now() - t0;

  log.progress('quantizing');
  const t1 = performance.now();
  // Preparation first (sorting, constants, opset upgrade, QONNX import, folding): the layer
  // table lists the prepared model's layers, and fine-tuning starts from its float weights.
  const prepared = await prepareForQuantize(model, o, ft ? { minOpset: TRAINING_MIN_OPSET } : {});
  const ran = (name: string): boolean => prepared.items.some((i) => i.kind === 'pass' && i.name === name);
  if (o.keepImported && !ran('import-qonnx')) log.warn('--keep-imported has no effect: the model has no QONNX/Brevitas quantizers');
  if (o.keepInitializerInputs && !prepared.notes.some((n) => n.includes('--keep-initializer-inputs'))) {
    log.warn('--keep-initializer-inputs has no effect: no initializer is also a graph input');
  }
  const candidates = [
    ...(readQuantRecord(model)?.weights ?? []).map((w) => ({ node: w.node, op: w.op, tensor: w.tensor, params: w.shape.reduce((a, b) => a * b, 1) })),
    ...weightLayers(model.graph).map((l) => ({ node: l.node.name, op: l.node.opType, tensor: l.weight.name, params: l.weight.constValue!.size })),
  ];
  const floatModel = ft && prepared.items.length > 0 ? model.clone() : undefined;
  const res = await quantize(model, o, prepared);
  const quantizeMs = performance.now() - t1;
  let record = res.record;
  let trainLog: TrainLog | undefined;
  let fineTuneMs: number | undefined;
  if (ft && trainData) {
    const t = performance.now();
    // Latent weights start from the float model's weights (a fresh copy of the input).
    const r = await fineTune(model, trainData.train, {
      ...ft.spec.options,
      ...(trainData.eval ? { evalData: trainData.eval } : {}),
      latentFrom: floatModel ?? loadModel(input),
      onProgress: trainProgress(log),
    });
    model = r.model;
    record = readQuantRecord(model) ?? record;
    trainLog = r.log;
    fineTuneMs = performance.now() - t;
  }

  if (norm.source !== 'none') writeNormalizationRecord(model, appliedNormalization(norm));
  log.progress(`writing ${displayPath(output, io.cwd)}`);
  const t2 = performance.now();
  saveModel(model, output, { protect: [input] });
  const saveMs = performance.now() - t2;
  log.done();

  const byTensor = new Map(record.weights.map((w) => [w.tensor, w]));
  const layers: QuantizeLayerRow[] = candidates.map((c) => {
    const w = byTensor.get(c.tensor);
    const n = w ? w.histogram.reduce((a, b) => a + b, 0) : 0;
    return {
      ...c,
      fractions: w ? w.histogram.map((h) => (n > 0 ? h / n : 0)) : null,
      histogram: w ? [...w.histogram] : null,
      avgBits: w ? w.avgBits : null,
      heuristic: w ? w.heuristic : null,
      ...(w?.granularity === 'row' ? { granularity: 'row' as const } : {}),
    };
  });
  const run: QuantizeRun = {
    input,
    output,
    ...(report !== undefined ? { report } : {}),
    pipeline: res.pipeline,
    preparation: res.preparation,
    record,
    layers,
    timing: {
      totalMs: 0,
      loadMs: round3(loadMs),
      quantizeMs: round3(quantizeMs),
      ...(fineTuneMs !== undefined ? { fineTuneMs: round3(fineTuneMs) } : {}),
      saveMs: round3(saveMs),
      passes: res.report.passes.map((p) => ({ pass: p.pass, ms: round3(p.ms), verifyMs: round3(p.verifyMs) })),
    },
    run: res.report,
    ...(trainLog ? { fineTune: trainLog } : {}),
  };
  run.timing.totalMs = round3(performance.now() - t0);
  if (report !== undefined) writeFileAtomic(report, toJson(quantizeReportJson(run, req.options, io.cwd)));
  return run;
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The --report document: options, pipeline, the QuantRecord, per-layer rows and timing. */
export function quantizeReportJson(r: QuantizeRun, options: QuantizeOptions, cwd: string): unknown {
  return {
    format: QUANTIZE_REPORT_FORMAT,
    version: 1,
    input: displayPath(r.input, cwd),
    output: displayPath(r.output, cwd),
    options,
    pipeline: r.pipeline,
    avgWeightBits: r.record.avgWeightBits,
    ...(r.record.avgActivationBits !== undefined ? { avgActivationBits: r.record.avgActivationBits } : {}),
    layers: r.layers,
    record: r.record,
    ...(r.fineTune ? { fineTune: r.fineTune } : {}),
    timing: r.timing,
    passes: reportToJson(r.run),
  };
}

/** The text printed by `quantize`: per-layer table, activations, pipeline. */
export function formatQuantizeRun(r: QuantizeRun, cwd: string): string {
  const rec = r.record;
  const k = Math.max(1, ...rec.weights.map((w) => w.histogram.length));
  const lines: string[] = [`${displayPath(r.input, cwd)} → ${displayPath(r.output, cwd)}`, ''];
  if (r.preparation.length > 0) lines.push('prepared:', ...r.preparation.map((p) => `  - ${p}`), '');
  const heuristics = [...new Set(rec.weights.map((w) => w.heuristic))];
  const dists = [...new Set(rec.weights.map((w) => JSON.stringify(w.distribution)))];
  const target = heuristics.includes('layer') || dists.length !== 1 ? '' : `; target ${formatDistribution(JSON.parse(dists[0]!) as number[])}`;
  const byRow = rec.weights.some((w) => w.granularity === 'row') ? ', one bitwidth per output channel' : '';
  lines.push(`weights (${heuristics.map(heuristicTitle).join(', ')}${byRow}${target})`);
  const bitCols = Array.from({ length: k }, (_, i) => `${i + 1}-bit`);
  const rows = r.layers.map((l) => [
    l.node || '(unnamed)',
    l.op,
    formatCount(l.params),
    ...bitCols.map((_, i) => (l.fractions ? percent(l.fractions[i] ?? 0) : i === 0 ? 'float' : '')),
    l.avgBits !== null ? l.avgBits.toFixed(3) : '32',
  ]);
  const binarized = r.layers.filter((l) => l.histogram);
  const totalParams = binarized.reduce((s, l) => s + l.params, 0);
  const totalHist = bitCols.map((_, i) => binarized.reduce((s, l) => s + (l.histogram![i] ?? 0), 0));
  rows.push([
    `total (${binarized.length} of ${r.layers.length} binarized)`,
    '',
    formatCount(totalParams),
    ...totalHist.map((h) => percent(totalParams > 0 ? h / totalParams : 0)),
    rec.avgWeightBits.toFixed(3),
  ]);
  lines.push(table(['layer', 'op', 'params', ...bitCols, 'avg bits'], rows, ['left', 'left', 'right', ...bitCols.map(() => 'right' as const), 'right']));
  if (rec.activations.length > 0) {
    lines.push('', `activations (${[...new Set(rec.activations.map((a) => heuristicTitle(a.heuristic)))].join(', ')})`);
    lines.push(formatActivationTable(rec.activations));
    if (rec.avgActivationBits !== undefined) lines.push(`  average ${rec.avgActivationBits.toFixed(3)} bits per activation`);
  }
  lines.push('', `average weight bits: ${rec.avgWeightBits.toFixed(3)} over ${formatCount(totalParams)} binarized weights`);
  lines.push(`pipeline: ${r.pipeline}`);
  lines.push(
    `  (${r.fineTune ? 'before fine-tuning, ' : ''}the same with opt: hbnn-onnx opt ${quoteArg(displayPath(r.input, cwd))} -p ${quoteArg(r.pipeline)} -o OUT.onnx)`,
  );
  if (r.fineTune) lines.push('', ...formatTrainLog(r.fineTune));
  if (r.report !== undefined) lines.push(`report: ${displayPath(r.report, cwd)}`);
  return lines.join('\n') + '\n';
}

function formatActivationTable(acts: readonly ActivationRecord[]): string {
  const k = Math.max(1, ...acts.map((a) => a.distribution.length));
  const bitCols = Array.from({ length: k }, (_, i) => `${i + 1}-bit`);
  const rows = acts.map((a) => {
    const shown = a.observed ?? a.distribution;
    return [
      a.node || '(unnamed)',
      a.feeds.join(' '),
      ...bitCols.map((_, i) => percent(shown[i] ?? 0)),
      distributionMean(shown).toFixed(3),
      a.calibrated ? 'yes' : 'no',
    ];
  });
  return table(['binarizer', 'feeds', ...bitCols, 'avg bits', 'calibrated'], rows, ['left', 'left', ...bitCols.map(() => 'right' as const), 'right', 'left']);
}


/** The JSON printed with --json. */
export function quantizeRunJson(r: QuantizeRun, cwd: string): unknown {
  return {
    input: displayPath(r.input, cwd),
    output: displayPath(r.output, cwd),
    ...(r.report !== undefined ? { report: displayPath(r.report, cwd) } : {}),
    pipeline: r.pipeline,
    preparation: r.preparation,
    avgWeightBits: r.record.avgWeightBits,
    ...(r.record.avgActivationBits !== undefined ? { avgActivationBits: r.record.avgActivationBits } : {}),
    layers: r.layers,
    activations: r.record.activations,
    ...(r.fineTune ? { fineTune: r.fineTune } : {}),
    timing: r.timing,
  };
}

/**
 * The fine-tuning part of a quantize request from the flags: undefined without --fine-tune
 * (INVALID_OPTION when training flags are given without it).
 */
export function fineTuneFromCli(o: QuantizeCliOptions, cwd: string): QuantizeRequest['fineTune'] {
  if (!o.fineTune) {
    const given = givenTrainingFlags(o).filter((f) => f !== '--threads'); // --threads also sets the binarization's threads
    if (given.length > 0) fail(ErrorCodes.INVALID_OPTION, `${given.join(', ')} ${given.length === 1 ? 'needs' : 'need'} --fine-tune`, { option: given[0] });
    return undefined;
  }
  const spec = trainingFromCli(o, cwd, true);
  if (o.seed !== undefined) spec.options.seed = parseIntOption(o.seed, '--seed', 0);
  const normalize = parseNormalizeOption(o.normalize);
  return { spec, ...(normalize ? { normalize } : {}) };
}


