/**
 * `hbnn-onnx eval MODEL --data SPEC [--limit N] [--normalize NORM] [--batch-size N] [--json]`:
 * top-1, top-5 and per-class accuracy of a classifier (float or HBNN-quantized) on a
 * labelled dataset. A thin layer over `loadDataset` and `evaluate` (src/runtime/infer.ts).
 */
import type { Command } from 'commander';
import { evaluate } from '../runtime/infer.js';
import { DATA_SPEC_HELP } from '../data/index.js';
import { formatCount, formatDuration } from './format.js';
import { Logger, toJson, type CliIo } from './io.js';
import { parseIntOption, parseNormalizeOption } from './options.js';
import { type EvalRequest, runEval, evalRunJson, formatEvalRun, type EvalCliOptions } from './run/eval.js';

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
    .option('--workers <n>', 'threads decoding folder: images (default: CPU count - 1, 1 to 8; 0: none); the result is the same for any count')
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
      if (opts.workers !== undefined) req.workers = parseIntOption(opts.workers, '--workers', 0);
      if (opts.normalize !== undefined) {
        parseNormalizeOption(opts.normalize); // checked before the model is loaded
        req.normalize = opts.normalize;
      }
      const r = await runEval(req, io, log);
      log.debug(`evaluated ${formatCount(r.result.samples)} samples in ${formatDuration(r.result.ms)}`);
      io.stdout(opts.json ? toJson(evalRunJson(r, io.cwd)) : formatEvalRun(r, io.cwd));
    });
}
