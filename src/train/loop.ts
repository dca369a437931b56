/**
 * The training loop: `fineTune` (a quantized HBNN model, straight-through gradients through
 * its binarizers) and `trainFloat` (a plain ONNX model).
 *
 * Each epoch: a seeded permutation of the training samples (`shuffledIndices` with
 * `epochSeed(seed, epoch)`), batches in that order (read with the data source's `gather`:
 * from memory, or decoded a few batches ahead on worker threads for a streamed source, the
 * same bytes either way), one optimizer step per batch
 * (forward + backward in onnxruntime, everything else in TypeScript), the running
 * statistics of every BatchNorm folded in with its momentum, then an evaluation of the
 * inference model on `evalData` (the model the caller gets back, in the quantized format).
 * The best epoch by evaluation top-1 is kept (or the last, with keep: 'last').
 *
 * Checkpoints (`checkpointDir`): `last.json` at the start, after every epoch, on SIGINT /
 * abort and at a `maxSteps` stop (both mid-epoch, resumable at the same step, with the
 * partial epoch's sums); `best.json` when a whole epoch is the best so far. A resumed run continues exactly where the saved one stopped: same batches,
 * same dropout masks, same optimizer state, so its result is identical to an uninterrupted
 * run (with 1 onnxruntime thread; see docs/training.md on determinism).
 *
 * A loss or a parameter that becomes NaN/Inf stops training with TRAINING_DIVERGED; nothing
 * is written after the last finite step, so the last checkpoint on disk is a good one.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Model } from '../ir/graph.js';
import { tensorTypeOf } from '../ir/types.js';
import { fail, ErrorCodes, HbnnError, optionName } from '../errors.js';
import { checkFitsModelInput, checkLabelRange, dataSourceOf, isDataSource, shuffledIndices, type Batch, type Dataset, type DataSource } from '../data/index.js';
import { evaluate } from '../runtime/infer.js';
import { readQuantRecord, requireQuantRecord } from '../quant/format.js';
import { matchesAny } from '../quant/targets.js';
import { probeNchwcBlock } from './nchwc-probe.js';
import { buildTrainingGraph, type BuildOptions, type TrainingGraph } from './grad/builder.js';
import { LOSSES } from './grad/loss.js';
import { collectBatchNorms, collectParams, snapshotValues, updateRunningStats, writeParams, WEIGHT_STE_CLIP, type BatchNormState, type LatentParam, type ParamValues } from './params.js';
import { Optimizer, learningRate, type ScheduleOptions } from './optimizer.js';
import { TrainRng, epochSeed } from './rng.js';
import { StepRunner, type TrainingStepRunner } from './step.js';
import { DataParallelStepRunner, canUpdateInWorkers } from './parallel-step.js';
import { loadCheckpoint, saveCheckpoint, tensorKey, type CheckpointState, type CheckpointTensorData, type PartialEpoch } from './checkpoint.js';
import { DEFAULT_BATCH_SIZE, TRAIN_LOG_FORMAT, type EpochRecord, type FineTuneOptions, type TrainEvent, type TrainLog, type TrainOptions, type TrainResult } from './types.js';

/** Fine-tunes a quantized (HBNN) model; returns the trained model in the quantized format. */
export async function fineTune(model: Model, trainData: Dataset | DataSource, opts: FineTuneOptions = {}): Promise<TrainResult> {
  requireQuantRecord(model);
  return run('fine-tune', model, trainData, opts);
}

/** Trains the float parameters of a plain ONNX model. */
export async function trainFloat(model: Model, trainData: Dataset | DataSource, opts: TrainOptions = {}): Promise<TrainResult> {
  if (readQuantRecord(model)) {
    fail(ErrorCodes.INVALID_OPTION, 'this model is HBNN-quantized: fine-tune it with fineTune (hbnn-onnx train --fine-tune), trainFloat trains float models', { option: 'mode' });
  }
  return run('float', model, trainData, opts);
}

interface Resolved {
  epochs: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleOptions;
  loss: 'cross-entropy' | 'mse';
  seed: number;
  threads?: number;
  workers?: number;
  limit?: number;
  maxSteps?: number;
  evalLimit?: number;
  evalBefore: boolean;
  keep: 'best' | 'last';
  freeze: string[];
  freezeBitMapsAfter?: number;
  freezeBatchNormStatsAfter?: number;
  bitMapEvery?: number;
  checkpointDir?: string;
  handleSigint: boolean;
}

function resolveOptions(o: FineTuneOptions): Resolved {
  const posInt = (v: number | undefined, name: string, dflt?: number): number | undefined => {
    if (v === undefined) return dflt;
    if (!Number.isSafeInteger(v) || v <= 0) fail(ErrorCodes.INVALID_OPTION, `${optionName(name)} must be a positive integer, got ${v}`, { option: name });
    return v;
  };
  const num = (v: number | undefined, name: string, dflt: number, ok: (x: number) => boolean, what: string): number => {
    if (v === undefined) return dflt;
    if (!Number.isFinite(v) || !ok(v)) fail(ErrorCodes.INVALID_OPTION, `${optionName(name)} must be ${what}, got ${v}`, { option: name });
    return v;
  };
  const optimizer = o.optimizer ?? 'sgd';
  if (optimizer !== 'sgd' && optimizer !== 'adam') fail(ErrorCodes.INVALID_OPTION, `${optionName('optimizer')} must be sgd or adam, got ${String(optimizer)}`, { option: 'optimizer' });
  const schedule = o.schedule ?? 'cosine';
  if (!['cosine', 'step', 'constant'].includes(schedule)) fail(ErrorCodes.INVALID_OPTION, `${optionName('schedule')} must be cosine, step or constant, got ${String(schedule)}`, { option: 'schedule' });
  const loss = o.loss ?? 'cross-entropy';
  if (!LOSSES.includes(loss)) fail(ErrorCodes.INVALID_OPTION, `${optionName('loss')} must be ${LOSSES.join(' or ')}, got ${String(loss)}`, { option: 'loss' });
  const lr = num(o.lr, 'lr', optimizer === 'adam' ? 0.001 : 0.01, (x) => x > 0, 'a number > 0');
  if (o.freezeBitMapsAfter !== undefined && (!Number.isSafeInteger(o.freezeBitMapsAfter) || o.freezeBitMapsAfter < 0)) {
    fail(ErrorCodes.INVALID_OPTION, `${optionName('freezeBitMapsAfter')} must be an integer >= 0, got ${o.freezeBitMapsAfter}`, { option: 'freezeBitMapsAfter' });
  }
  if (o.freezeBatchNormStatsAfter !== undefined && (!Number.isSafeInteger(o.freezeBatchNormStatsAfter) || o.freezeBatchNormStatsAfter < 0)) {
    fail(ErrorCodes.INVALID_OPTION, `${optionName('freezeBatchNormStatsAfter')} must be an integer >= 0, got ${o.freezeBatchNormStatsAfter}`, { option: 'freezeBatchNormStatsAfter' });
  }
  if (o.freezeBatchNormStatsAfter !== undefined && o.freezeBatchNormStats) {
    fail(ErrorCodes.INVALID_OPTION, `${optionName('freezeBatchNormStats')} freezes BatchNorm statistics from the start; ${optionName('freezeBatchNormStatsAfter')} from an epoch: give one of them`, { option: 'freezeBatchNormStatsAfter' });
  }
  if (o.keep !== undefined && o.keep !== 'best' && o.keep !== 'last') fail(ErrorCodes.INVALID_OPTION, `${optionName('keep')} must be best or last, got ${String(o.keep)}`, { option: 'keep' });
  const seed = num(o.seed, 'seed', 0, (x) => Number.isSafeInteger(x), 'an integer');
  const r: Resolved = {
    epochs: posInt(o.epochs, 'epochs', 1)!,
    batchSize: posInt(o.batchSize, 'batchSize', DEFAULT_BATCH_SIZE)!,
    optimizer,
    lr,
    momentum: num(o.momentum, 'momentum', 0.9, (x) => x >= 0 && x < 1, 'in [0, 1)'),
    nesterov: o.nesterov ?? false,
    weightDecay: num(o.weightDecay, 'weightDecay', 1e-4, (x) => x >= 0, '>= 0'),
    schedule: {
      kind: schedule,
      lr,
      stepEpochs: posInt(o.stepEpochs, 'stepEpochs', 1)!,
      gamma: num(o.gamma, 'gamma', 0.1, (x) => x > 0, '> 0'),
    },
    loss,
    seed,
    evalBefore: o.evalBefore ?? true,
    keep: o.keep ?? (o.evalData ? 'best' : 'last'),
    freeze: o.freeze ?? [],
    handleSigint: o.handleSigint ?? o.checkpointDir !== undefined,
  };
  const threads = posInt(o.threads, 'threads');
  if (threads !== undefined) r.threads = threads;
  const workers = posInt(o.workers, 'workers');
  if (workers !== undefined) r.workers = workers;
  const limit = posInt(o.limit, 'limit');
  if (limit !== undefined) r.limit = limit;
  const maxSteps = posInt(o.maxSteps, 'maxSteps');
  if (maxSteps !== undefined) r.maxSteps = maxSteps;
  const evalLimit = posInt(o.evalLimit, 'evalLimit');
  if (evalLimit !== undefined) r.evalLimit = evalLimit;
  if (o.freezeBitMapsAfter !== undefined) r.freezeBitMapsAfter = o.freezeBitMapsAfter;
  if (o.freezeBatchNormStatsAfter !== undefined) r.freezeBatchNormStatsAfter = o.freezeBatchNormStatsAfter;
  const bitMapEvery = posInt(o.bitMapEvery, 'bitMapEvery');
  if (bitMapEvery !== undefined && bitMapEvery > 1) r.bitMapEvery = bitMapEvery;
  if (o.checkpointDir !== undefined) r.checkpointDir = o.checkpointDir;
  if (r.keep === 'best' && !o.evalData) fail(ErrorCodes.INVALID_OPTION, `${optionName('keep')} best needs evaluation data (${optionName('evalData')})`, { option: 'keep' });
  return r;
}

const emptyPartial = (): PartialEpoch => ({ steps: 0, samples: 0, lossSum: 0, correct: 0, ortMs: 0, jsMs: 0, ms: 0, lr: 0 });

async function run(mode: 'fine-tune' | 'float', model: Model, trainData: Dataset | DataSource, opts: FineTuneOptions): Promise<TrainResult> {
  const started = performance.now();
  const o = resolveOptions(opts);
  const buildOptions: BuildOptions = {
    loss: o.loss,
    ...(opts.output !== undefined ? { output: opts.output } : {}),
    trainable: (name) => !matchesAny(o.freeze, [name]),
    ...(opts.phaseLayout === false ? { phaseLayout: false } : {}),
    nchwcBlock: opts.nchwc === false ? 0 : await probeNchwcBlock(),
  };
  // freezeBatchNormStatsAfter: 0 is freezeBatchNormStats; a later epoch rebuilds the graph then
  const bnFrozenFromStart = !!opts.freezeBatchNormStats || o.freezeBatchNormStatsAfter === 0;
  const tg = buildTrainingGraph(model, { ...buildOptions, ...(bnFrozenFromStart ? { freezeBatchNormStats: true } : {}) });
  if (mode === 'float' && tg.params.some((p) => p.kind === 'binarized')) fail(ErrorCodes.INTERNAL, 'binarized weights in a float model');
  if (tg.params.length === 0) fail(ErrorCodes.INVALID_OPTION, `nothing to train: no float parameter reaches the loss (all frozen by ${optionName('freeze')}?)`, { option: 'freeze' });

  // ---- data ---------------------------------------------------------------------------
  const inputDims = tensorTypeOf(tg.model.graph.get(tg.dataInput))?.shape ?? [];
  const checkData = (ds: Dataset | DataSource, what: string): { sampleShape: number[]; fixedBatch: number | null } => {
    if (isDataSource(ds) ? !ds.labelled : !ds.labels) fail(ErrorCodes.DATA_MISMATCH, `${what} data ${ds.name} has no labels; training needs them`);
    const fit = checkFitsModelInput(ds, inputDims.map((d) => d ?? undefined), { inputName: tg.dataInput });
    if (ds.labels) {
      const { name, count, sampleShape, labels, classNames, sampleFiles } = ds;
      checkLabelRange({ name, count, sampleShape, images: new Float32Array(0), labels, ...(classNames ? { classNames } : {}), ...(sampleFiles ? { sampleFiles } : {}) }, tg.classes);
    } else if (ds.numClasses !== undefined && ds.numClasses > tg.classes) {
      // Labels read batch by batch (CIFAR): the source's class count must fit before any step.
      fail(ErrorCodes.DATA_MISMATCH, `${what} data ${ds.name} has ${ds.numClasses} classes but the model outputs ${tg.classes}`, { numClasses: ds.numClasses });
    }
    return fit;
  };
  const source = isDataSource(trainData) ? trainData : dataSourceOf(trainData);
  const train = { name: source.name, count: o.limit ? Math.min(o.limit, source.count) : source.count };
  const fit = checkData(trainData, 'training');
  if (opts.evalData) checkData(opts.evalData, 'evaluation');
  const batchSize = fit.fixedBatch ?? o.batchSize;
  const stepsPerEpoch = fit.fixedBatch ? Math.floor(train.count / batchSize) : Math.ceil(train.count / batchSize);
  if (stepsPerEpoch === 0) fail(ErrorCodes.DATA_MISMATCH, `the model takes batches of exactly ${batchSize} samples; the training data has ${train.count}`);
  const workers = o.workers ?? 1;
  if (workers > batchSize) fail(ErrorCodes.INVALID_OPTION, `${optionName('workers')} must be at most the batch size (${batchSize}), got ${workers}`, { option: 'workers' });
  if (workers > 1 && fit.fixedBatch) fail(ErrorCodes.INVALID_OPTION, `${optionName('workers')} > 1 splits each batch, but the model takes batches of exactly ${batchSize} samples (its batch dimension is fixed)`, { option: 'workers' });
  const totalSteps = Math.min(o.epochs * stepsPerEpoch, o.maxSteps ?? Infinity);

  // ---- state ----------------------------------------------------------------------------
  const params = collectParams(model, tg, opts.latentFrom);
  const bns = collectBatchNorms(model, tg);
  const optimizer = new Optimizer({ kind: o.optimizer, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const fingerprint = fingerprintOf(mode, params, bns);
  const logOptions = describeOptions(o, opts);
  let epoch = 0;
  let stepInEpoch = 0;
  let globalStep = 0;
  let partial = emptyPartial();
  const rng = new TrainRng(epochSeed(o.seed, -1));
  let bitMapsFrozen = false;
  let bnStatsFrozen = bnFrozenFromStart;
  /** The BatchNorms whose running statistics the steps update (none once their statistics are frozen). */
  let activeBns = bns;
  let best: { epoch: number; top1: number } | null = null;
  let bestSnapshot: ParamValues | null = null;
  const records: EpochRecord[] = [];
  let before: { evalTop1: number; evalTop5: number } | undefined;
  let resumedFrom: string | undefined;
  if (opts.resume) {
    const file = opts.resume === true ? (o.checkpointDir ?? fail(ErrorCodes.INVALID_OPTION, `${optionName('resume')} without a checkpoint file needs ${optionName('checkpointDir')}`, { option: 'resume' })) : opts.resume;
    const ck = loadCheckpoint(file);
    const m = ck.meta;
    if (m.fingerprint !== fingerprint || m.mode !== mode) {
      fail(ErrorCodes.DATA_MISMATCH, `checkpoint ${ck.file} belongs to another model or mode (its parameters differ from this model's)`, { file: ck.file });
    }
    restoreTensors(ck.tensors, params, bns, optimizer);
    epoch = m.epoch;
    stepInEpoch = m.stepInEpoch;
    globalStep = m.globalStep;
    rng.state = m.rng >>> 0;
    optimizer.t = m.optimizer.t;
    bitMapsFrozen = m.bitMapsFrozen;
    best = m.best;
    records.push(...m.epochs);
    partial = m.partial ?? emptyPartial();
    if (m.before) before = m.before;
    const bestFile = path.join(path.dirname(ck.file), 'best.json');
    if (best && fs.existsSync(bestFile)) bestSnapshot = snapshotFromTensors(loadCheckpoint(bestFile).tensors, params, bns);
    resumedFrom = ck.file;
  }

  const template = cloneModel(model);
  const exportModel = (at?: ParamValues): Model => {
    const m = cloneModel(template);
    writeParams(m, params, bns, at);
    return m;
  };
  const evaluateNow = async (): Promise<{ top1: number; top5: number; ms: number }> => {
    const ev = await evaluate(exportModel(), opts.evalData!, {
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(o.evalLimit !== undefined ? { limit: o.evalLimit } : {}),
    });
    return { top1: ev.top1, top5: ev.top5, ms: ev.ms };
  };
  const emit = (e: TrainEvent): void => opts.onProgress?.(e);
  /** The state to resume from: epoch `next` at step `step` (with the partial epoch's sums). */
  const checkpointState = (next: number, step: number): CheckpointState => ({
    mode,
    fingerprint,
    epoch: next,
    stepInEpoch: step,
    globalStep,
    seed: o.seed,
    rng: rng.state,
    optimizer: { kind: o.optimizer, t: optimizer.t },
    bitMapsFrozen,
    best,
    ...(before ? { before } : {}),
    epochs: records,
    options: logOptions,
    partial,
  });
  let lastCheckpoint: string | undefined;
  const saveLast = (reason: 'start' | 'epoch' | 'interrupt' | 'max-steps', next: number, step: number): void => {
    if (!o.checkpointDir) return;
    lastCheckpoint = saveCheckpoint(o.checkpointDir, 'last', checkpointState(next, step), stateTensors(params, bns, optimizer, true));
    emit({ type: 'checkpoint', path: lastCheckpoint, reason });
  };

  // ---- interruption ---------------------------------------------------------------------
  let stopRequested = false;
  const onSigint = (): void => {
    stopRequested = true;
  };
  const onAbort = (): void => {
    stopRequested = true;
  };
  // once: a second Ctrl-C gets Node's default handling (exit) while the checkpoint is written
  if (o.handleSigint) process.once('SIGINT', onSigint);
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) stopRequested = true;

  const log: TrainLog = {
    format: TRAIN_LOG_FORMAT,
    mode,
    options: logOptions,
    data: { train: train.name, samples: train.count, ...(opts.evalData ? { eval: opts.evalData.name, evalSamples: Math.min(opts.evalData.count, o.evalLimit ?? Infinity) } : {}) },
    params: {
      tensors: params.length,
      values: params.reduce((s, p) => s + p.value.length, 0),
      binarized: params.filter((p) => p.kind === 'binarized').length,
      names: params.map((p) => p.name),
    },
    epochs: records,
    kept: o.keep,
    stopped: 'completed',
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    totalMs: 0,
  };
  if (resumedFrom) log.resumedFrom = resumedFrom;

  // workers > 1: data-parallel steps, each worker's session with threads/workers intra-op threads (default 1)
  const updateInWorkers = workers > 1 && o.bitMapEvery === undefined && canUpdateInWorkers(optimizer.opts) && params.some((p) => p.kind === 'binarized');
  const makeRunner = async (graph: TrainingGraph, graphBns: readonly BatchNormState[]): Promise<TrainingStepRunner> =>
    workers > 1
      ? await DataParallelStepRunner.create(graph, params, graphBns, fit.sampleShape, {
            workers,
            maxBatch: batchSize,
            threadsPerWorker: o.threads !== undefined ? Math.max(1, Math.floor(o.threads / workers)) : 1,
            // bitMapEvery holds the bit map of the main thread's last re-binarization
            rebinarizeInWorkers: o.bitMapEvery === undefined,
            // SGD with momentum: the workers update the binarized weights too (their shards)
            ...(updateInWorkers ? { update: { optimizer, clip: WEIGHT_STE_CLIP } } : {}),
          })
        : await StepRunner.create(graph, params, graphBns, fit.sampleShape, o.threads);
  // null while it is being replaced (freezeBatchNormStatsAfter)
  let runner: TrainingStepRunner | null;
  try {
    runner = await makeRunner(tg, bns);
  } catch (e) {
    if (o.handleSigint) process.removeListener('SIGINT', onSigint);
    opts.signal?.removeEventListener('abort', onAbort);
    throw e;
  }
  let interrupted = false;
  try {
    if (opts.evalData && o.evalBefore && !resumedFrom) {
      const ev = await evaluateNow();
      before = { evalTop1: ev.top1, evalTop5: ev.top5 };
      emit({ type: 'eval', epoch: 0, top1: ev.top1 });
    }
    if (before) log.before = before;
    if (!resumedFrom) saveLast('start', 0, 0);
    emit({ type: 'start', epochs: o.epochs, stepsPerEpoch, epoch, step: stepInEpoch, params: log.params.values, samples: train.count });
    /** sum |w| per parameter from the optimizer's last update (only the weights it just wrote). */
    const sumsAbs: (number | undefined)[] = [];
    outer: for (; epoch < o.epochs; epoch++) {
      sumsAbs.length = 0; // set by this epoch's updates: nothing else writes the weights between an update and the next step
      if (o.freezeBitMapsAfter !== undefined && epoch >= o.freezeBitMapsAfter && !bitMapsFrozen) {
        for (const p of params) p.binarizer?.freeze(p.value);
        bitMapsFrozen = true;
      }
      if (o.freezeBatchNormStatsAfter !== undefined && epoch >= o.freezeBatchNormStatsAfter && !bnStatsFrozen) {
        // the training graph again, now with the running statistics reached so far as constants
        // (the parameters, their optimizer state and the bit maps carry over: the runner reads them)
        const old = runner!;
        runner = null;
        await old.release();
        const frozenTg = buildTrainingGraph(exportModel(), { ...buildOptions, freezeBatchNormStats: true });
        if (frozenTg.params.length !== tg.params.length || frozenTg.params.some((p, i) => p.input !== tg.params[i]!.input || p.kind !== tg.params[i]!.kind)) {
          fail(ErrorCodes.INTERNAL, 'the training graph with frozen BatchNorm statistics has other parameters than the one before it');
        }
        runner = await makeRunner(frozenTg, []);
        activeBns = [];
        bnStatsFrozen = true;
      }
      const order = shuffledIndices(train.count, epochSeed(o.seed, epoch));
      // This epoch's remaining batches, read ahead by the source (ended with the epoch).
      const epochBatches = source.gather(order.subarray(stepInEpoch * batchSize, Math.min(stepsPerEpoch * batchSize, train.count)), batchSize);
      const epochStart = performance.now() - partial.ms;
      let stoppedEarly = false;
      try {
        for (; stepInEpoch < stepsPerEpoch; stepInEpoch++) {
          if (stopRequested) {
            partial.ms = performance.now() - epochStart;
            interrupted = true;
            log.stopped = 'interrupted';
            log.stoppedAt = { epoch: epoch + 1, step: stepInEpoch, stepsPerEpoch };
            saveLast('interrupt', epoch, stepInEpoch);
            break outer;
          }
          if (globalStep >= totalSteps) {
            stoppedEarly = true;
            log.stopped = 'max-steps';
            break;
          }
          const next = await epochBatches.next();
          if (next.done) fail(ErrorCodes.INTERNAL, `the training data ended before step ${stepInEpoch + 1} of ${stepsPerEpoch}`);
          const b: Batch = next.value;
          const lr = learningRate(o.schedule, globalStep, totalSteps, stepsPerEpoch);
          // bitMapEvery: at steps 0, N, 2N, ... the bit maps are recomputed, then held until the next
          const recomputeMaps = o.bitMapEvery !== undefined && !bitMapsFrozen && globalStep % o.bitMapEvery === 0;
          if (recomputeMaps) for (const p of params) if (p.binarizer) p.binarizer.frozen = null;
          // the weights' clipped STE is applied in the optimizer's pass (one pass less), and the
          // re-binarization takes sum |w| from it (another pass less)
          const out = await runner!.run(b.images, b.labels!, b.count, rng, false, sumsAbs, updateInWorkers ? { lr } : undefined);
          if (recomputeMaps) for (const p of params) p.binarizer?.holdLastBitMap();
          if (!Number.isFinite(out.loss)) diverged(`the loss is ${out.loss}`, epoch, stepInEpoch, lastCheckpoint);
          const tJs = performance.now();
          optimizer.beginStep();
          params.forEach((p, i) => {
            // updated by the workers (the update in the workers): their sum |w|
            const inWorker = out.updated?.[i];
            const finite = inWorker !== undefined ? Number.isFinite(inWorker) : optimizer.update(p.name, p.value, out.grads[i]!, lr, p.kind === 'binarized' ? WEIGHT_STE_CLIP : Infinity);
            if (!finite) diverged(`parameter "${p.name}" became non-finite after the update (loss before it: ${out.loss})`, epoch, stepInEpoch, lastCheckpoint);
            sumsAbs[i] = inWorker ?? optimizer.lastSumAbs;
          });
          activeBns.forEach((bn, i) => updateRunningStats(bn, out.batchMean[i]!, out.batchVar[i]!));
          globalStep++;
          partial.steps++;
          partial.samples += b.count;
          partial.lossSum += out.loss;
          partial.correct += out.correct;
          partial.ortMs += out.ortMs;
          partial.jsMs += out.jsMs + (performance.now() - tJs);
          partial.lr = lr;
          emit({ type: 'step', epoch: epoch + 1, step: stepInEpoch + 1, stepsPerEpoch, globalStep, loss: out.loss, lr });
        }
      } finally {
        await epochBatches.return(undefined);
      }
      if (partial.steps === 0) break; // maxSteps reached exactly at an epoch boundary
      // Stopped by maxSteps inside the epoch: the checkpoint resumes this epoch at this step
      // (with its partial sums), before the partial record below joins the log.
      const midEpoch = stoppedEarly && stepInEpoch < stepsPerEpoch;
      if (midEpoch) {
        partial.ms = performance.now() - epochStart;
        log.stoppedAt = { epoch: epoch + 1, step: stepInEpoch, stepsPerEpoch };
        saveLast('max-steps', epoch, stepInEpoch);
      }
      const record: EpochRecord = {
        epoch: epoch + 1,
        steps: partial.steps,
        samples: partial.samples,
        trainLoss: partial.lossSum / partial.steps,
        trainTop1: partial.correct / partial.samples,
        lr: partial.lr,
        ms: 0,
        ortMs: round1(partial.ortMs),
        jsMs: round1(partial.jsMs),
      };
      if (mode === 'fine-tune') record.bitMapsFrozen = bitMapsFrozen;
      if (o.freezeBatchNormStatsAfter !== undefined) record.bnStatsFrozen = bnStatsFrozen;
      if (opts.evalData) {
        const ev = await evaluateNow();
        record.evalTop1 = ev.top1;
        record.evalTop5 = ev.top5;
        record.evalMs = round1(ev.ms);
        emit({ type: 'eval', epoch: epoch + 1, top1: ev.top1 });
        if (!best || ev.top1 > best.top1) {
          best = { epoch: epoch + 1, top1: ev.top1 };
          bestSnapshot = snapshotValues(params, bns);
          // best.json holds whole epochs only (a resume finishes a partial one and compares then)
          if (o.checkpointDir && !midEpoch) {
            const p = saveCheckpoint(o.checkpointDir, 'best', { ...checkpointState(epoch + 1, 0), partial: emptyPartial() }, stateTensors(params, bns, optimizer, false));
            emit({ type: 'checkpoint', path: p, reason: 'best' });
          }
        }
      }
      record.ms = round1(performance.now() - epochStart);
      records.push(record);
      emit({ type: 'epoch', record });
      if (midEpoch) break;
      partial = emptyPartial();
      stepInEpoch = 0;
      saveLast('epoch', epoch + 1, 0);
      if (stoppedEarly) break;
    }
  } finally {
    if (o.handleSigint) process.removeListener('SIGINT', onSigint);
    opts.signal?.removeEventListener('abort', onAbort);
    await runner?.release();
  }
  if (best) log.best = { epoch: best.epoch, evalTop1: best.top1 };
  if (lastCheckpoint) log.checkpoint = lastCheckpoint;
  const useBest = o.keep === 'best' && bestSnapshot !== null && !interrupted;
  if (o.keep === 'best' && !useBest) log.kept = 'last';
  const result = exportModel(useBest && bestSnapshot ? bestSnapshot : undefined);
  log.totalMs = round1(performance.now() - started);
  return { model: result, log, interrupted };
}

function diverged(why: string, epoch: number, step: number, checkpoint: string | undefined): never {
  throw new HbnnError(
    ErrorCodes.TRAINING_DIVERGED,
    `training diverged at epoch ${epoch + 1}, step ${step + 1}: ${why}. Lower the learning rate. ${
      checkpoint ? `The last good checkpoint is ${checkpoint}` : `No checkpoint was written (set ${optionName('checkpointDir')} to keep one)`
    }`,
    { epoch: epoch + 1, step: step + 1, ...(checkpoint ? { checkpoint } : {}) },
  );
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** A deep copy of a model (`Model.clone`). */
export function cloneModel(m: Model): Model {
  return m.clone();
}

function fingerprintOf(mode: string, params: readonly LatentParam[], bns: readonly BatchNormState[]): string {
  const desc = JSON.stringify({ mode, params: params.map((p) => [p.name, p.dims, p.kind]), bns: bns.map((b) => b.node) });
  return createHash('sha256').update(desc).digest('hex').slice(0, 16);
}

function describeOptions(o: Resolved, raw: FineTuneOptions): Record<string, unknown> {
  const { schedule, ...rest } = o;
  return {
    ...rest,
    schedule: schedule.kind,
    ...(schedule.kind === 'step' ? { stepEpochs: schedule.stepEpochs, gamma: schedule.gamma } : {}),
    latentFrom: raw.latentFrom ? 'float model' : 'dequantized weights',
    ...(raw.phaseLayout === false ? { phaseLayout: false } : {}),
    ...(raw.freezeBatchNormStats ? { freezeBatchNormStats: true } : {}),
    ...(raw.nchwc === false ? { nchwc: false } : {}),
  };
}

function stateTensors(params: readonly LatentParam[], bns: readonly BatchNormState[], optimizer: Optimizer, withOptimizer: boolean): CheckpointTensorData[] {
  const out: CheckpointTensorData[] = [];
  for (const p of params) {
    out.push({ role: 'param', name: p.name, dims: p.dims, data: p.value });
    if (p.binarizer?.frozen) out.push({ role: 'bitmap', name: p.name, dims: [p.binarizer.frozen.length], data: p.binarizer.frozen });
    const slots = withOptimizer ? optimizer.state.get(p.name) : undefined;
    if (slots) for (const [slot, data] of slots) out.push({ role: 'slot', name: p.name, slot, dims: p.dims, data });
  }
  for (const b of bns) {
    out.push({ role: 'bn-mean', name: b.node, dims: [b.mean.length], data: b.mean });
    out.push({ role: 'bn-var', name: b.node, dims: [b.variance.length], data: b.variance });
  }
  return out;
}

function restoreTensors(t: Map<string, Float32Array | Uint8Array>, params: LatentParam[], bns: BatchNormState[], optimizer: Optimizer): void {
  const f32 = (key: string, n: number): Float32Array => {
    const v = t.get(key);
    if (!(v instanceof Float32Array) || v.length !== n) fail(ErrorCodes.DATA_FORMAT, `checkpoint tensor ${key} is missing or has the wrong size`);
    return v;
  };
  for (const p of params) {
    p.value = f32(tensorKey('param', p.name), p.value.length);
    const bm = t.get(tensorKey('bitmap', p.name));
    if (p.binarizer) p.binarizer.frozen = bm instanceof Uint8Array ? bm : null;
    const slots = new Map<string, Float32Array>();
    for (const slot of optimizer.slotNames()) {
      const v = t.get(tensorKey('slot', p.name, slot));
      if (v) slots.set(slot, f32(tensorKey('slot', p.name, slot), p.value.length));
    }
    if (slots.size) optimizer.state.set(p.name, slots);
  }
  for (const b of bns) {
    b.mean = f32(tensorKey('bn-mean', b.node), b.mean.length);
    b.variance = f32(tensorKey('bn-var', b.node), b.variance.length);
  }
}

function snapshotFromTensors(t: Map<string, Float32Array | Uint8Array>, params: readonly LatentParam[], bns: readonly BatchNormState[]): ParamValues {
  return {
    values: params.map((p) => t.get(tensorKey('param', p.name)) as Float32Array),
    bnMean: bns.map((b) => t.get(tensorKey('bn-mean', b.node)) as Float32Array),
    bnVar: bns.map((b) => t.get(tensorKey('bn-var', b.node)) as Float32Array),
    frozen: params.map((p) => (t.get(tensorKey('bitmap', p.name)) as Uint8Array | undefined) ?? null),
  };
}

export type { TrainingGraph };
