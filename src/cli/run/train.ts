/**
 * The work of `hbnn-onnx train`: request in, result out, with its text and JSON forms, shared
 * with `demo`; the command's flags and registration are in src/cli/train.ts (command files
 * import no other command file).
 *
 * `hbnn-onnx train MODEL --train-data SPEC [--fine-tune] [options] [-o OUT] [--log FILE]`:
 * float training (`trainFloat`) or, with --fine-tune, straight-through fine-tuning of an
 * HBNN-quantized model (`fineTune`), both from src/train. The training flags are also
 * offered by `quantize --fine-tune` (`addTrainingOptions`, `trainingFromCli`).
 *
 * Every flag, both datasets (they exist and fit the model) and the output paths are checked
 * before training starts; the model (and the log) are written only when training returns.
 * Checkpoints (--checkpoint-dir) are written during training, by the trainer.
 */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { loadModel, saveModel } from '../../onnx/io.js';
import type { Model } from '../../ir/graph.js';
import { fineTune, trainFloat, TRAINING_MIN_OPSET, type FineTuneOptions, type TrainEvent, type TrainLog, type TrainResult } from '../../train/index.js';
import { Pipeline } from '../../pass/manager.js';
import { builtinPasses } from '../../../passes/registry.js';
import { appliedNormalization, checkFitsModelInput, openDataSourceSync, writeNormalizationRecord, type DataSource, type Normalization } from '../../data/index.js';
import { inputNormalization } from '../normalize.js';
import { dataInput } from '../../runtime/infer.js';
import { readQuantRecord } from '../../quant/format.js';
import { writeFileAtomic } from '../../util/fs.js';
import { fail, ErrorCodes, HbnnError } from '../../errors.js';
import { formatCount, formatDuration, table } from '../format.js';
import { Logger, toJson, type CliIo } from '../io.js';
import { cliOutput, preflightCliOutputs, deriveOutputPath, displayPath } from '../paths.js';
import { DECODE_WORKERS_FLAGS, DECODE_WORKERS_HELP, listOption, parseDecodeWorkersOption, parseIntOption, parseNormalizeOption, parseNumberOption, quoteArg, resolveDataSpec, decodeDataTensor } from '../options.js';

/**
 * A model below the ai.onnx opset training needs (13: `quantize` of an opset 7-10 export writes
 * opset 11, IR 3 exports are often opset 8 or 9) is upgraded first with `upgrade-opset`, which keeps
 * the function; a note says so, and the output is written at that opset.
 */
export async function upgradeForTraining(m: Model, shown: string, log: Logger): Promise<void> {
  const opset = m.opsetVersion('');
  if (opset === undefined || opset >= TRAINING_MIN_OPSET) return;
  await Pipeline.fromItems([{ kind: 'pass', name: 'upgrade-opset', options: { to: String(TRAINING_MIN_OPSET) } }], builtinPasses()).run(m, { verify: true });
  log.stderr(`hbnn-onnx: note: ${shown} uses ai.onnx opset ${opset}; upgraded to ${TRAINING_MIN_OPSET} for training (upgrade-opset, the same function), and written at opset ${TRAINING_MIN_OPSET}`);
}

/** The training flags as commander hands them over (shared by `train` and `quantize --fine-tune`). */
export interface TrainingCliOptions {
  trainData?: string;
  evalData?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  optimizer?: 'sgd' | 'adam';
  momentum?: string;
  nesterov?: boolean;
  weightDecay?: string;
  schedule?: 'cosine' | 'step' | 'constant';
  stepEpochs?: string;
  gamma?: string;
  loss?: 'cross-entropy' | 'mse';
  threads?: string;
  workers?: string;
  decodeWorkers?: string;
  trainLimit?: string;
  evalLimit?: string;
  maxSteps?: string;
  keep?: 'best' | 'last';
  checkpointDir?: string;
  freeze?: string[];
  freezeBitMapsAfter?: string;
  bitMapEvery?: string;
  freezeBnStats?: boolean;
  freezeBnStatsAfter?: string;
  /** false with --no-phase-layout (commander's negated flag; true when not given). */
  phaseLayout?: boolean;
}

/** Flag text per option, in the order they are added. */
export const TRAINING_FLAGS: Record<keyof TrainingCliOptions, string> = {
  trainData: '--train-data',
  evalData: '--eval-data',
  epochs: '--epochs',
  batchSize: '--batch-size',
  lr: '--lr',
  optimizer: '--optimizer',
  momentum: '--momentum',
  nesterov: '--nesterov',
  weightDecay: '--weight-decay',
  schedule: '--schedule',
  stepEpochs: '--step-epochs',
  gamma: '--gamma',
  loss: '--loss',
  threads: '--threads',
  workers: '--workers',
  decodeWorkers: '--decode-workers',
  trainLimit: '--train-limit',
  evalLimit: '--eval-limit',
  maxSteps: '--max-steps',
  keep: '--keep',
  checkpointDir: '--checkpoint-dir',
  freeze: '--freeze',
  freezeBitMapsAfter: '--freeze-bit-maps-after',
  bitMapEvery: '--bit-map-every',
  freezeBnStats: '--freeze-bn-stats',
  freezeBnStatsAfter: '--freeze-bn-stats-after',
  phaseLayout: '--no-phase-layout',
};

/** API training options (FineTuneOptions) set by a flag of another name. */
export const TRAINING_API_ALIASES: Readonly<Record<string, string>> = { limit: 'trainLimit', freezeBatchNormStats: 'freezeBnStats', freezeBatchNormStatsAfter: 'freezeBnStatsAfter' };

/**
 * Adds the training flags to a command. `prefix` is prepended to each description (e.g.
 * "with --fine-tune: ").
 */
export function addTrainingOptions(cmd: Command, prefix = ''): Command {
  const d = (s: string): string => prefix + s;
  return cmd
    .option('--train-data <spec>', d('labelled training data, e.g. fmnist-mini:train'))
    .option('--eval-data <spec>', d('labelled data evaluated after every epoch (picks the best epoch)'))
    .option('--epochs <n>', d('epochs (default 1)'))
    .option('--batch-size <n>', d('samples per step (default 128)'))
    .option('--lr <x>', d('peak learning rate (default 0.01 with sgd, 0.001 with adam)'))
    .addOption(new Option('--optimizer <name>', d('optimizer (default sgd)')).choices(['sgd', 'adam']))
    .option('--momentum <x>', d('SGD momentum (default 0.9)'))
    .option('--nesterov', d('Nesterov momentum'))
    .option('--weight-decay <x>', d('L2 weight decay (default 1e-4)'))
    .addOption(new Option('--schedule <name>', d('learning-rate schedule (default cosine)')).choices(['cosine', 'step', 'constant']))
    .option('--step-epochs <n>', d('step schedule: epochs between decays (default 1)'))
    .option('--gamma <x>', d('step schedule: decay factor (default 0.1)'))
    .addOption(new Option('--loss <name>', d('loss on the logits (default cross-entropy)')).choices(['cross-entropy', 'mse']))
    .option('--threads <n>', d("onnxruntime threads (default: onnxruntime's choice; with --workers, split among the workers)"))
    .option('--workers <n>', d('data-parallel training: N worker threads, each with its own onnxruntime session (1 thread, or threads/N) on a slice of every batch (default 1; at most the batch size). BatchNorm uses per-slice statistics ("ghost batch norm"); set it to the core count for large batches'))
    .option(DECODE_WORKERS_FLAGS, d(`${DECODE_WORKERS_HELP} (training and evaluation data)`))
    .option('--train-limit <n>', d('train on the first N samples only'))
    .option('--eval-limit <n>', d('evaluate on the first N samples only'))
    .option('--max-steps <n>', d('stop after N optimizer steps in total'))
    .addOption(new Option('--keep <which>', d('parameters to keep: best epoch by evaluation top-1, or last (default best with --eval-data)')).choices(['best', 'last']))
    .option('--checkpoint-dir <dir>', d('write resumable checkpoints (last.json, best.json) here; Ctrl-C saves one and stops'))
    .addOption(listOption('--freeze <globs>', d('do not train parameters whose name matches one of these globs')))
    .option('--freeze-bit-maps-after <epoch>', d('fine-tuning: fix the bit maps from this epoch on (0 = from the start)'))
    .option('--bit-map-every <steps>', d('fine-tuning: recompute the bit maps every N steps, holding them in between (default 1: every step)'))
    .option('--freeze-bn-stats', d("normalize BatchNorm with the model's running statistics (as inference does) and keep them; gamma and beta still train. Faster steps, the same gradients for any --workers"))
    .option('--freeze-bn-stats-after <epoch>', d('train BatchNorm in training mode until this epoch, then freeze its statistics as --freeze-bn-stats does (QAT practice: late in a run; 0 = from the start)'))
    .option('--no-phase-layout', d("keep every value in the model's layout (no phase layout for Conv-BatchNorm-MaxPool blocks): same gradients up to rounding, slower; for comparisons"));
}

export interface TrainingSpec {
  trainData: string;
  evalData?: string;
  /** Threads decoding folder: images of both (the data API's `decodeWorkers`). */
  decodeWorkers?: number;
  options: Omit<FineTuneOptions, 'evalData' | 'latentFrom' | 'onProgress' | 'signal'>;
}

/** The training flags given (as `--flag` text). */
export function givenTrainingFlags(o: TrainingCliOptions): string[] {
  // --no-phase-layout: commander sets phaseLayout to true when the flag is absent
  return (Object.keys(TRAINING_FLAGS) as (keyof TrainingCliOptions)[]).filter((k) => (k === 'phaseLayout' ? o[k] === false : o[k] !== undefined)).map((k) => TRAINING_FLAGS[k]);
}

/**
 * Checks the training flags and turns them into trainer options (INVALID_OPTION naming the
 * flag). `fineTuning` allows --freeze-bit-maps-after and --bit-map-every. `seed` comes from the caller.
 */
export function trainingFromCli(o: TrainingCliOptions, cwd: string, fineTuning: boolean): TrainingSpec {
  if (o.trainData === undefined) fail(ErrorCodes.INVALID_OPTION, 'training needs --train-data', { option: '--train-data' });
  const num = (v: string | undefined, flag: string, ok: (x: number) => boolean, what: string): number | undefined => {
    if (v === undefined) return undefined;
    const x = parseNumberOption(v, flag);
    if (!ok(x)) fail(ErrorCodes.INVALID_OPTION, `${flag} must be ${what}, got ${v}`, { option: flag });
    return x;
  };
  const int = (v: string | undefined, flag: string, min = 1): number | undefined => (v === undefined ? undefined : parseIntOption(v, flag, min));
  const r: TrainingSpec['options'] = {};
  const set = <K extends keyof TrainingSpec['options']>(k: K, v: TrainingSpec['options'][K] | undefined): void => {
    if (v !== undefined) r[k] = v;
  };
  set('epochs', int(o.epochs, '--epochs'));
  set('batchSize', int(o.batchSize, '--batch-size'));
  set('lr', num(o.lr, '--lr', (x) => x > 0, 'a number > 0'));
  set('optimizer', o.optimizer);
  set('momentum', num(o.momentum, '--momentum', (x) => x >= 0 && x < 1, 'in [0, 1)'));
  if (o.nesterov) r.nesterov = true;
  set('weightDecay', num(o.weightDecay, '--weight-decay', (x) => x >= 0, '>= 0'));
  set('schedule', o.schedule);
  set('stepEpochs', int(o.stepEpochs, '--step-epochs'));
  set('gamma', num(o.gamma, '--gamma', (x) => x > 0, '> 0'));
  if ((o.stepEpochs !== undefined || o.gamma !== undefined) && o.schedule !== 'step') {
    fail(ErrorCodes.INVALID_OPTION, '--step-epochs and --gamma need --schedule step', { option: o.stepEpochs !== undefined ? '--step-epochs' : '--gamma' });
  }
  set('loss', o.loss);
  set('threads', int(o.threads, '--threads'));
  set('workers', int(o.workers, '--workers'));
  set('limit', int(o.trainLimit, '--train-limit'));
  set('evalLimit', int(o.evalLimit, '--eval-limit'));
  set('maxSteps', int(o.maxSteps, '--max-steps'));
  if (o.keep === 'best' && o.evalData === undefined) fail(ErrorCodes.INVALID_OPTION, '--keep best needs --eval-data', { option: '--keep' });
  if (o.evalLimit !== undefined && o.evalData === undefined) fail(ErrorCodes.INVALID_OPTION, '--eval-limit needs --eval-data', { option: '--eval-limit' });
  set('keep', o.keep);
  if (o.checkpointDir !== undefined) r.checkpointDir = path.resolve(cwd, o.checkpointDir);
  const freeze = o.freeze?.flatMap((g) => g.split(',')).map((g) => g.trim()).filter((g) => g !== '');
  if (freeze && freeze.length > 0) r.freeze = freeze;
  if (o.freezeBitMapsAfter !== undefined) {
    if (!fineTuning) fail(ErrorCodes.INVALID_OPTION, '--freeze-bit-maps-after applies to fine-tuning (--fine-tune) only', { option: '--freeze-bit-maps-after' });
    r.freezeBitMapsAfter = parseIntOption(o.freezeBitMapsAfter, '--freeze-bit-maps-after', 0);
  }
  if (o.bitMapEvery !== undefined) {
    if (!fineTuning) fail(ErrorCodes.INVALID_OPTION, '--bit-map-every applies to fine-tuning (--fine-tune) only', { option: '--bit-map-every' });
    r.bitMapEvery = parseIntOption(o.bitMapEvery, '--bit-map-every', 1);
  }
  if (o.freezeBnStats) r.freezeBatchNormStats = true;
  if (o.freezeBnStatsAfter !== undefined) {
    if (o.freezeBnStats) fail(ErrorCodes.INVALID_OPTION, '--freeze-bn-stats freezes BatchNorm statistics from the start, --freeze-bn-stats-after from an epoch: give one of them', { option: '--freeze-bn-stats-after' });
    r.freezeBatchNormStatsAfter = parseIntOption(o.freezeBnStatsAfter, '--freeze-bn-stats-after', 0);
  }
  if (o.phaseLayout === false) r.phaseLayout = false;
  return {
    trainData: o.trainData.trim(),
    ...(o.evalData !== undefined ? { evalData: o.evalData.trim() } : {}),
    ...(o.decodeWorkers !== undefined ? { decodeWorkers: parseDecodeWorkersOption(o.decodeWorkers, '--decode-workers') } : {}),
    options: r,
  };
}

/**
 * Opens the training (and evaluation) data and checks they fit `model`'s input, before any
 * training. Image folders and CIFAR binaries are streamed (openDataSource: decoded batch by
 * batch on worker threads, a few batches ahead); other SPECs are loaded into memory.
 */
export function loadTrainingData(spec: TrainingSpec, model: Model, normalize: Normalization | undefined, cwd: string): { train: DataSource; eval?: DataSource } {
  const input = dataInput(model);
  const load = (s: string, limit: number | undefined, what: string): DataSource => {
    const ds = openDataSourceSync(resolveDataSpec(s, cwd), {
      ...(limit !== undefined ? { limit } : {}),
      ...(normalize ? { normalize } : {}),
      ...(spec.decodeWorkers !== undefined ? { decodeWorkers: spec.decodeWorkers } : {}),
      decodeTensor: decodeDataTensor,
    });
    ds.name = s;
    if (!ds.labelled) fail(ErrorCodes.DATA_MISMATCH, `${what} data ${s} has no labels; training needs them`, { option: what === 'training' ? '--train-data' : '--eval-data' });
    checkFitsModelInput(ds, (input.dims ?? []).map((d) => d ?? undefined), { inputName: input.name });
    return ds;
  };
  const train = load(spec.trainData, spec.options.limit, 'training');
  return { train, ...(spec.evalData !== undefined ? { eval: load(spec.evalData, spec.options.evalLimit, 'evaluation') } : {}) };
}

/**
 * The progress line for a trainer event, or undefined for events without one. `epochs` is
 * the run's epoch count (from its `start` event). Step events count from 1 (see TrainEvent).
 */
export function formatTrainProgress(e: TrainEvent, epochs: number): string | undefined {
  switch (e.type) {
    case 'start':
      return `training: ${formatCount(e.params)} parameters, ${formatCount(e.samples)} samples, ${formatCount(e.stepsPerEpoch)} steps per epoch`;
    case 'step':
      return `epoch ${e.epoch}/${epochs}, step ${formatCount(e.step)}/${formatCount(e.stepsPerEpoch)}: loss ${e.loss.toFixed(4)}, lr ${e.lr.toPrecision(3)}`;
    case 'eval':
      return `epoch ${e.epoch}: evaluation top-1 ${(e.top1 * 100).toFixed(2)}%`;
    default:
      return undefined;
  }
}

/** Progress lines from trainer events (only drawn on a terminal). */
export function trainProgress(log: Logger): (e: TrainEvent) => void {
  let epochs = 1;
  return (e) => {
    if (e.type === 'start') epochs = e.epochs;
    const line = formatTrainProgress(e, epochs);
    if (line !== undefined) log.progress(line);
    switch (e.type) {
      case 'epoch': {
        const r = e.record;
        log.debug(
          `epoch ${r.epoch}: loss ${r.trainLoss.toFixed(4)}, train top-1 ${(r.trainTop1 * 100).toFixed(2)}%` +
            (r.evalTop1 !== undefined ? `, eval top-1 ${(r.evalTop1 * 100).toFixed(2)}%` : '') +
            ` (${formatDuration(r.ms)})`,
        );
        break;
      }
      case 'checkpoint':
        log.debug(`checkpoint (${e.reason}): ${e.path}`);
        break;
    }
  };
}

/** Text lines describing a finished training run: the per-epoch table and the outcome. */
export function formatTrainLog(log: TrainLog): string[] {
  const pct = (x: number | undefined): string => (x === undefined ? '' : `${(x * 100).toFixed(2)}%`);
  const lines: string[] = [];
  const data = `${log.data.train} (${formatCount(log.data.samples)} samples)${log.data.eval ? `, evaluated on ${log.data.eval} (${formatCount(log.data.evalSamples ?? 0)} samples)` : ''}`;
  lines.push(`${log.mode === 'fine-tune' ? 'fine-tuned' : 'trained'} on ${data}`);
  if (log.before) lines.push(`before: eval top-1 ${pct(log.before.evalTop1)}, top-5 ${pct(log.before.evalTop5)}`);
  const rows = log.epochs.map((e) => [
    String(e.epoch),
    formatCount(e.steps),
    e.trainLoss.toFixed(4),
    pct(e.trainTop1),
    pct(e.evalTop1),
    pct(e.evalTop5),
    e.lr >= 1e-3 || e.lr === 0 ? String(+e.lr.toPrecision(3)) : e.lr.toExponential(2),
    formatDuration(e.ms),
  ]);
  lines.push(table(['epoch', 'steps', 'loss', 'train top-1', 'eval top-1', 'eval top-5', 'lr', 'time'], rows, ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right']));
  const at = log.stoppedAt ? ` (epoch ${log.stoppedAt.epoch}, step ${formatCount(log.stoppedAt.step)} of ${formatCount(log.stoppedAt.stepsPerEpoch)})` : '';
  const stopped = log.stopped === 'completed' ? 'completed' : `${log.stopped === 'max-steps' ? 'stopped at --max-steps' : 'interrupted'}${at}`;
  const kept = log.kept === 'best' && log.best ? `kept the best epoch (${log.best.epoch}, eval top-1 ${pct(log.best.evalTop1)})` : 'kept the last parameters';
  lines.push(`${stopped}; ${kept}; ${formatDuration(log.totalMs)}${log.resumedFrom ? `; resumed from ${log.resumedFrom}` : ''}`);
  return lines;
}

/**
 * The flags of `cmd` given on its command line, as argv words in the command's option
 * order, for reprinting a command (the resume command after Ctrl-C). `keep` filters by long
 * flag. List options give one flag per value; negated flags (--no-...) appear when given.
 */
export function givenFlags(cmd: Command, keep: (flag: string) => boolean = () => true): string[] {
  const values = cmd.opts<Record<string, unknown>>();
  const words: string[] = [];
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    const flag = opt.long ?? opt.short;
    if (flag === undefined || cmd.getOptionValueSource(key) !== 'cli' || !keep(flag)) continue;
    const v = values[key];
    if (typeof v === 'boolean') {
      if (v !== opt.negate) words.push(flag);
    } else if (Array.isArray(v)) {
      for (const item of v) words.push(flag, String(item));
    } else if (v !== undefined) {
      words.push(flag, String(v));
    }
  }
  return words;
}

/**
 * The error a training run stopped by Ctrl-C (with --checkpoint-dir) ends with, after its
 * results are printed: exit 130, where it stopped, what was saved and the command that
 * resumes it (`resume`: argv words after `hbnn-onnx`).
 */
export function interruptedError(tl: TrainLog, saved: readonly string[], resume: readonly string[], cwd: string): HbnnError {
  const at = tl.stoppedAt ? ` at epoch ${tl.stoppedAt.epoch}, step ${formatCount(tl.stoppedAt.step)} of ${formatCount(tl.stoppedAt.stepsPerEpoch)}` : '';
  const checkpoint = tl.checkpoint !== undefined ? [`a checkpoint in ${displayPath(tl.checkpoint, cwd)}`] : [];
  return new HbnnError(
    ErrorCodes.INTERRUPTED,
    `training interrupted (Ctrl-C)${at}. Saved ${[...checkpoint, ...saved].join(', ')} (not a finished training). Resume with:\n  hbnn-onnx ${resume.map(quoteArg).join(' ')}`,
    { ...(tl.checkpoint !== undefined ? { checkpoint: tl.checkpoint } : {}) },
  );
}

// ------------------------------------------------------------------------------------------
// The train command
// ------------------------------------------------------------------------------------------

export interface TrainCliOptions extends TrainingCliOptions {
  fineTune?: boolean;
  latentFrom?: string;
  normalize?: string;
  seed?: string;
  resume?: string | boolean;
  output?: string;
  log?: string;
  json?: boolean;
}

export interface TrainRun {
  input: string;
  output: string;
  log?: string;
  result: TrainResult;
}

export async function runTrain(model: string, o: TrainCliOptions, io: CliIo, log: Logger): Promise<TrainRun> {
  const fineTuning = o.fineTune === true;
  const spec = trainingFromCli(o, io.cwd, fineTuning);
  if (o.seed !== undefined) spec.options.seed = parseIntOption(o.seed, '--seed', 0);
  if (o.resume !== undefined) spec.options.resume = typeof o.resume === 'string' ? path.resolve(io.cwd, o.resume) : true;
  if (o.latentFrom !== undefined && !fineTuning) fail(ErrorCodes.INVALID_OPTION, '--latent-from applies to fine-tuning (--fine-tune) only', { option: '--latent-from' });
  if (o.normalize !== undefined) parseNormalizeOption(o.normalize); // checked before any work
  const input = path.resolve(io.cwd, model);
  const output = path.resolve(io.cwd, o.output ?? deriveOutputPath(model, fineTuning ? '.ft.onnx' : '.trained.onnx'));
  const logFile = o.log !== undefined ? path.resolve(io.cwd, o.log) : undefined;
  const latent = o.latentFrom !== undefined ? path.resolve(io.cwd, o.latentFrom) : undefined;
  const inputs = [input, ...(latent ? [latent] : [])];
  preflightCliOutputs(
    [
      cliOutput(output, 'file', '-o', io.cwd),
      ...(logFile ? [cliOutput(logFile, 'file', '--log', io.cwd)] : []),
      ...(spec.options.checkpointDir !== undefined ? [cliOutput(spec.options.checkpointDir, 'folder', '--checkpoint-dir', io.cwd)] : []),
    ],
    inputs,
    io.cwd,
  );

  log.progress(`loading ${displayPath(input, io.cwd)}`);
  const m = loadModel(input);
  const quantized = readQuantRecord(m) !== undefined;
  if (fineTuning && !quantized) {
    fail(ErrorCodes.NOT_QUANTIZED, `${displayPath(input, io.cwd)} is not an HBNN-quantized model; fine-tune the output of \`hbnn-onnx quantize\` (or train it as a float model without --fine-tune)`, { file: input });
  }
  if (!fineTuning && quantized) {
    fail(ErrorCodes.INVALID_OPTION, `${displayPath(input, io.cwd)} is HBNN-quantized: fine-tune it with --fine-tune (train without it trains float models)`, { option: '--fine-tune' });
  }
  await upgradeForTraining(m, displayPath(input, io.cwd), log);
  const latentModel = latent ? loadModel(latent) : undefined;
  // --normalize, else the model's record; recorded in the output (src/data/normalization.ts).
  const norm = inputNormalization(m, o.normalize, displayPath(input, io.cwd), log);
  const data = loadTrainingData(spec, m, norm.normalize, io.cwd);
  const opts: FineTuneOptions = {
    ...spec.options,
    ...(data.eval ? { evalData: data.eval } : {}),
    ...(latentModel ? { latentFrom: latentModel } : {}),
    onProgress: trainProgress(log),
  };
  const result = fineTuning ? await fineTune(m, data.train, opts) : await trainFloat(m, data.train, opts);
  log.done();
  if (norm.source !== 'none') writeNormalizationRecord(result.model, appliedNormalization(norm));
  saveModel(result.model, output, { protect: inputs });
  if (logFile) writeFileAtomic(logFile, toJson(result.log));
  return { input, output, ...(logFile ? { log: logFile } : {}), result };
}

