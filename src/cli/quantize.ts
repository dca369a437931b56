/**
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
import { type Command } from 'commander';
import { quantize } from '../drivers/quantize.js';
import { formatDuration, table } from './format.js';
import { Logger, toJson, type CliIo } from './io.js';
import { displayPath } from './paths.js';
import { addTrainingOptions, givenFlags, interruptedError, TRAINING_API_ALIASES, TRAINING_FLAGS } from './run/train.js';
import { apiOptionAliases, schemaOption } from './options.js';
import { NORMALIZE_SPEC } from './normalize.js';
import { type QuantizeCliOptions, QUANTIZE_FLAG_SPECS, QUANTIZE_METAVARS, QUANTIZE_FLAG_DOCS, quantizeOptionsFromCli, type QuantizeRequest, runQuantize, formatQuantizeRun, quantizeRunJson, fineTuneFromCli } from './run/quantize.js';

export function registerQuantize(program: Command, io: CliIo): void {
  const cmd = program
    .command('quantize')
    .summary('binarize a float model with heterogeneous bitwidths (HBNN)')
    .description(
      'Binarize the Conv, Gemm and MatMul weights of a float model with a mix of 1, 2, 3... bits ' +
        'per weight (average --avg-bits or distribution --dist, assigned by --heuristic), and ' +
        'optionally the activations (--act-bits / --act-dist, calibrated on --calib-data). ' +
        'Prints a per-layer table (bit histogram, average bits) and the pass pipeline used, which ' +
        '`hbnn-onnx opt -p` reproduces. With --fine-tune the quantized model is then fine-tuned on --train-data ' +
        '(as `hbnn-onnx train --fine-tune` would, latent weights starting from the float model). ' +
        'The output never replaces the input; on any error nothing is written.',
    )
    .argument('<model>', 'float ONNX model');
  for (const spec of QUANTIZE_FLAG_SPECS) cmd.addOption(schemaOption(spec, QUANTIZE_METAVARS[spec.name], QUANTIZE_FLAG_DOCS[spec.name]));
  cmd
    .addOption(schemaOption(NORMALIZE_SPEC, QUANTIZE_METAVARS.normalize, QUANTIZE_FLAG_DOCS.normalize))
    .option('--fine-tune', 'fine-tune the quantized model before saving it (needs --train-data)');
  addTrainingOptions(cmd, 'with --fine-tune: ');
  apiOptionAliases(cmd, { ...TRAINING_API_ALIASES, recalibrateBatchNorm: 'bnRecalibrate' });
  const threads = cmd.options.find((opt) => opt.long === '--threads');
  if (threads) threads.description = "threads for the weights' bit maps and binarization (default 1; the output is the same for any count) and, with --fine-tune, onnxruntime's threads";
  cmd
    .option('-o, --output <file>', 'output model (default: <model stem>.hbnn.onnx beside the input)')
    .option('--report <file>', 'write the quantization record, pipeline and timing as JSON')
    .option('--json', 'print the result (paths, per-layer rows, pipeline, timing) as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx quantize fixtures/models/fmnist-cnn.onnx --avg-bits 1.4
  $ hbnn-onnx quantize model.onnx --dist 0.7,0.2,0.1 --heuristic top-down -o model.w14.onnx
  $ hbnn-onnx quantize model.onnx --avg-bits 1.4 --act-bits 1.4 --calib-data fmnist-mini:train --normalize fmnist
  $ hbnn-onnx quantize model.onnx --avg-bits 1.4 --granularity row -o model.rows.onnx
  $ hbnn-onnx quantize model.onnx --avg-bits 2 --first-layer keep --exclude '/fc*' --report q.json
  $ hbnn-onnx quantize model.onnx --avg-bits 1.4 --fine-tune --train-data fmnist-mini:train --eval-data fmnist-mini:test --normalize fmnist --epochs 1 --batch-size 64`,
    )
    .action(async (model: string, opts: QuantizeCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ verbose?: boolean }>();
      const log = new Logger(io, { json: opts.json === true, verbose: globals.verbose === true });
      const { options, warnings } = quantizeOptionsFromCli(opts);
      for (const w of warnings) log.warn(w);
      const req: QuantizeRequest = { input: model, options };
      const ft = fineTuneFromCli(opts, io.cwd);
      if (ft) req.fineTune = ft;
      if (opts.output !== undefined) req.output = opts.output;
      if (opts.report !== undefined) req.report = opts.report;
      const r = await runQuantize(req, io, log);
      for (const w of r.run.warnings) log.warn(w);
      log.debug(`quantized in ${formatDuration(r.timing.totalMs)} (load ${formatDuration(r.timing.loadMs)}, quantize ${formatDuration(r.timing.quantizeMs)}, save ${formatDuration(r.timing.saveMs)})`);
      io.stdout(opts.json ? toJson(quantizeRunJson(r, io.cwd)) : formatQuantizeRun(r, io.cwd));
      if (r.fineTune?.stopped === 'interrupted') {
        // quantize has no --resume: the written model is fine-tuned further with train --resume
        const out = displayPath(r.output, io.cwd);
        const saved = [`the quantized model as of the last step in ${out}`, ...(r.report !== undefined ? [`the report in ${displayPath(r.report, io.cwd)}`] : [])];
        const carried = new Set<string>([...Object.values(TRAINING_FLAGS), '--normalize', '--seed']);
        throw interruptedError(r.fineTune, saved, ['train', out, '--fine-tune', ...givenFlags(cmd, (f) => carried.has(f)), '--resume'], io.cwd);
      }
    });
}
