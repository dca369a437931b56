/**
 * `hbnn-onnx eval MODEL --data SPEC [--limit N] [--normalize NORM] [--batch-size N] [--decode-workers N] [--json]`:
 * top-1, top-5 and per-class accuracy of a classifier (float or HBNN-quantized) on a
 * labelled dataset. A thin layer over `loadDataset` and `evaluate` (src/runtime/infer.ts).
 */
import type { Command } from 'commander';
import { evaluate } from '../runtime/infer.js';
import { DATA_SPEC_HELP } from '../data/index.js';
import { fail, ErrorCodes } from '../errors.js';
import { formatCount, formatDuration } from './format.js';
import { Logger, toJson, type CliIo } from './io.js';
import { DECODE_WORKERS_FLAGS, DECODE_WORKERS_HELP, parseDecodeWorkersOption, parseIntOption, parseNormalizeOption } from './options.js';
import { type EvalRequest, runEval, evalRunJson, formatEvalRun, type EvalCliOptions } from './run/eval.js';

/** eval's earlier name of --decode-workers, still accepted (train --workers means data-parallel training workers). */
const DEPRECATED_WORKERS_FLAGS = '--workers <n>';

/**
 * --decode-workers, or the deprecated --workers with a one-line notice on stderr; both given
 * must agree (INVALID_OPTION otherwise).
 */
function decodeWorkersFlag(opts: EvalCliOptions, log: Logger): number | undefined {
  const named = opts.decodeWorkers !== undefined ? parseDecodeWorkersOption(opts.decodeWorkers, '--decode-workers') : undefined;
  if (opts.workers === undefined) return named;
  const old = parseDecodeWorkersOption(opts.workers, '--workers');
  if (named !== undefined && named !== old) {
    fail(ErrorCodes.INVALID_OPTION, `--decode-workers ${named} and --workers ${old} (its deprecated name) disagree; give --decode-workers only`, { option: '--decode-workers' });
  }
  log.warn('eval --workers is deprecated; use --decode-workers (the same meaning: threads decoding folder: images)');
  return named ?? old;
}

export function registerEval(program: Command, io: CliIo): void {
  program
    .command('eval')
    .summary('top-1, top-5 and per-class accuracy of a model on a dataset')
    .description(
      'Evaluate a classifier (a float model or an HBNN-quantized one) on a labelled dataset with ' +
        'onnxruntime: top-1 and top-5 accuracy overall and top-1 per class (with the class names ' +
        'for Fashion-MNIST). The input normalization comes from the model (its ' +
        'hbnn.input_normalization record; the bundled models have one) unless --normalize is given.',
    )
    .argument('<model>', 'ONNX model (float or quantized)')
    .requiredOption('--data <spec>', 'labelled dataset, e.g. fmnist-mini:test (see below)')
    .option('--limit <n>', 'evaluate the first N samples only')
    .option('--normalize <norm>', "input normalization: fmnist, MEAN:STD or none (default: the model's record, else none)")
    .option('--batch-size <n>', 'samples per onnxruntime run (default 256)')
    .option(DECODE_WORKERS_FLAGS, DECODE_WORKERS_HELP)
    .option(DEPRECATED_WORKERS_FLAGS, 'deprecated name of --decode-workers (the same meaning; prints a notice)')
    .option('--json', 'print the result (top1, top5, perClass, ...) as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx eval fixtures/models/fmnist-cnn.onnx --data fmnist-mini:test
  $ hbnn-onnx eval model.hbnn.onnx --data fmnist:test --normalize fmnist --json
  $ hbnn-onnx eval model.onnx --data npy:x.npy,y.npy --limit 1000

${DATA_SPEC_HELP}`,
    )
    .action(async (model: string, opts: EvalCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ verbose?: boolean }>();
      const log = new Logger(io, { json: opts.json === true, verbose: globals.verbose === true });
      const req: EvalRequest = { model, data: opts.data };
      if (opts.limit !== undefined) req.limit = parseIntOption(opts.limit, '--limit', 1);
      if (opts.batchSize !== undefined) req.batchSize = parseIntOption(opts.batchSize, '--batch-size', 1);
      const decodeWorkers = decodeWorkersFlag(opts, log);
      if (decodeWorkers !== undefined) req.decodeWorkers = decodeWorkers;
      if (opts.normalize !== undefined) {
        parseNormalizeOption(opts.normalize); // checked before the model is loaded
        req.normalize = opts.normalize;
      }
      const r = await runEval(req, io, log);
      log.debug(`evaluated ${formatCount(r.result.samples)} samples in ${formatDuration(r.result.ms)}`);
      io.stdout(opts.json ? toJson(evalRunJson(r, io.cwd)) : formatEvalRun(r, io.cwd));
    });
}
