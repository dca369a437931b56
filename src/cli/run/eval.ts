/**
 * The work of `hbnn-onnx eval`: request in, result out, with its text and JSON forms, shared
 * with `demo`; the command's flags and registration are in src/cli/eval.ts (command files
 * import no other command file).
 *
 * `hbnn-onnx eval MODEL --data SPEC [--limit N] [--normalize NORM] [--batch-size N] [--decode-workers N] [--json]`:
 * top-1, top-5 and per-class accuracy of a classifier (float or HBNN-quantized) on a
 * labelled dataset. A thin layer over `loadDataset` and `evaluate` (src/runtime/infer.ts).
 */
import * as path from 'node:path';
import { loadModel } from '../../onnx/io.js';
import { readQuantRecord } from '../../quant/format.js';
import { prepareForQuantize } from '../../drivers/quantize.js';
import { qonnxNodes } from '../../drivers/prepare.js';
import { evaluate, type EvalResult } from '../../runtime/infer.js';
import { FMNIST_CLASSES, openDataSource, parseDataSpec, type ResolvedNormalization } from '../../data/index.js';
import { inputNormalization } from '../normalize.js';
import { formatCount, table, type Align } from '../format.js';
import { Logger, type CliIo } from '../io.js';
import { displayPath } from '../paths.js';
import { decodeDataTensor, percent, resolveDataSpec } from '../options.js';

export interface EvalRequest {
  model: string;
  /** Data SPEC (see docs/data.md); relative paths resolve against `io.cwd`. */
  data: string;
  limit?: number;
  /**
   * The --normalize text (fmnist, MEAN:STD, none); undefined: the model's
   * hbnn.input_normalization record (src/data/normalization.ts).
   */
  normalize?: string;
  batchSize?: number;
  /** Image decoding worker threads for folder: data (the data API's `decodeWorkers`; default: defaultDecodeWorkers()); 0 decodes on this thread. */
  decodeWorkers?: number;
}

export interface EvalRun {
  model: string;
  data: string;
  /** The normalization applied: the --normalize text as given, or the record's text, or 'none'. */
  normalize: string;
  /** Where it came from: --normalize, the model's record, or none known. */
  normalizeSource: ResolvedNormalization['source'];
  /** avgWeightBits etc. from the model's HBNN record; null for a float model. */
  quantized: { avgWeightBits: number; avgActivationBits?: number; weights: number; activations: number } | null;
  result: EvalResult;
  /** Class names by label, when the data has them (Fashion-MNIST, image folders, CIFAR with its names file). */
  classNames?: readonly string[];
}

/** The core of `eval`, shared with `demo`. */
export async function runEval(req: EvalRequest, io: CliIo, log: Logger): Promise<EvalRun> {
  const file = path.resolve(io.cwd, req.model);
  log.progress(`loading ${displayPath(file, io.cwd)}`);
  const model = loadModel(file);
  const record = readQuantRecord(model);
  const qonnx = record ? [] : qonnxNodes(model);
  if (qonnx.length > 0) {
    // onnxruntime has no kernels for QONNX quantizers: evaluate the model as quantize imports it
    // (weights folded to their dequantized values, activation quantizers as the same function in
    // standard operators, old opsets upgraded: docs/import.md), which computes the same function
    const ops = [...new Set(qonnx.map((n) => n.opType))].join(', ');
    await prepareForQuantize(model);
    log.stderr(
      `hbnn-onnx: note: ${displayPath(file, io.cwd)} has ${qonnx.length} QONNX quantizers (${ops}) that onnxruntime cannot run; evaluated as imported (import-qonnx: weights folded, activation quantizers as the same function in standard operators)\n`,
    );
  }
  const norm = inputNormalization(model, req.normalize, displayPath(file, io.cwd), log, req.data);
  log.progress(`loading ${req.data}`);
  // Streamed: folder: images are decoded on worker threads while onnxruntime runs, cifar: read batch by batch.
  const ds = await openDataSource(resolveDataSpec(req.data, io.cwd), {
    ...(req.limit !== undefined ? { limit: req.limit } : {}),
    ...(norm.normalize ? { normalize: norm.normalize } : {}),
    ...(req.decodeWorkers !== undefined ? { decodeWorkers: req.decodeWorkers } : {}),
    decodeTensor: decodeDataTensor,
  });
  let result: EvalResult;
  try {
    result = await evaluate(model, ds, {
      ...(req.limit !== undefined ? { limit: req.limit } : {}),
      ...(req.batchSize !== undefined ? { batchSize: req.batchSize } : {}),
      onProgress: (done, total) => log.progress(`evaluating ${formatCount(done)}/${formatCount(total)}`),
    });
  } finally {
    await ds.close();
  }
  log.done();
  const classNames = parseDataSpec(req.data).kind === 'fmnist' ? FMNIST_CLASSES : ds.classNames;
  return {
    model: file,
    data: req.data.trim(),
    normalize: norm.source === 'option' ? req.normalize!.trim() : norm.text,
    normalizeSource: norm.source,
    quantized: record
      ? {
          avgWeightBits: record.avgWeightBits,
          ...(record.avgActivationBits !== undefined ? { avgActivationBits: record.avgActivationBits } : {}),
          weights: record.weights.length,
          activations: record.activations.length,
        }
      : null,
    result,
    ...(classNames ? { classNames } : {}),
  };
}

export function evalRunJson(r: EvalRun, cwd: string): unknown {
  const e = r.result;
  return {
    model: displayPath(r.model, cwd),
    data: r.data,
    normalize: r.normalize,
    normalizeSource: r.normalizeSource,
    quantized: r.quantized,
    samples: e.samples,
    top1: e.top1,
    top5: e.top5,
    perClass: e.perClass.map((c) => ({ cls: c.cls, ...(r.classNames?.[c.cls] !== undefined ? { name: r.classNames[c.cls] } : {}), samples: c.samples, accuracy: c.accuracy })),
    ms: Math.round(e.ms * 1000) / 1000,
  };
}

/** "HBNN, 1.400 average weight bits, float activations" or "float". */
export function describeModelKind(q: EvalRun['quantized']): string {
  if (!q) return 'float';
  const acts = q.avgActivationBits !== undefined ? `${q.avgActivationBits.toFixed(3)} average activation bits` : 'float activations';
  return `HBNN, ${q.avgWeightBits.toFixed(3)} average weight bits, ${acts}`;
}

export function formatEvalRun(r: EvalRun, cwd: string): string {
  const e = r.result;
  const head = [
    ['model', `${displayPath(r.model, cwd)} (${describeModelKind(r.quantized)})`],
    ['data', `${r.data}, ${formatCount(e.samples)} samples, ${normalizedText(r)}`],
    ['top-1', percent2(e.top1)],
    ['top-5', percent2(e.top5)],
  ];
  const rows = e.perClass.map((c) => [String(c.cls), ...(r.classNames ? [r.classNames[c.cls] ?? ''] : []), formatCount(c.samples), percent(c.accuracy)]);
  const header = ['class', ...(r.classNames ? ['name'] : []), 'samples', 'top-1'];
  const align: Align[] = ['right', ...(r.classNames ? (['left'] as const) : []), 'right', 'right'];
  return (
    head.map(([k, v]) => `${k!.padEnd(5)}  ${v}`).join('\n') +
    `\n\nper class (${e.perClass.length} classes)\n${table(header, rows, align)}\n`
  );
}

/** "normalized 0.286:0.353 (recorded in the model)", "not normalized (--normalize none)", ... */
export function normalizedText(r: Pick<EvalRun, 'normalize' | 'normalizeSource'>): string {
  const from = { option: '--normalize', record: 'recorded in the model', data: 'set by the data SPEC', none: 'none known' }[r.normalizeSource];
  return r.normalize === 'none' ? `not normalized (${from})` : `normalized ${r.normalize} (${from})`;
}

function percent2(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

export interface EvalCliOptions {
  data: string;
  limit?: string;
  normalize?: string;
  batchSize?: string;
  decodeWorkers?: string;
  /** Deprecated name of decodeWorkers. */
  workers?: string;
  json?: boolean;
}

