/**
 * `hbnn-onnx train MODEL --train-data SPEC [--fine-tune] [options] [-o OUT] [--log FILE]`:
 * float training (`trainFloat`) or, with --fine-tune, straight-through fine-tuning of an
 * HBNN-quantized model (`fineTune`), both from src/train. The training flags are also
 * offered by `quantize --fine-tune` (`addTrainingOptions`, `trainingFromCli`).
 *
 * Every flag, both datasets (they exist and fit the model) and the output paths are checked
 * before training starts; the model (and the log) are written only when training returns.
 * Checkpoints (--checkpoint-dir) are written during training, by the trainer.
 */
import { type Command } from 'commander';
import { DATA_SPEC_HELP } from '../data/index.js';
import { table } from './format.js';
import { Logger, toJson, type CliIo } from './io.js';
import { displayPath } from './paths.js';
import { apiOptionAliases } from './options.js';
import { TRAINING_API_ALIASES, addTrainingOptions, formatTrainLog, givenFlags, interruptedError, type TrainCliOptions, runTrain } from './run/train.js';

export function registerTrain(program: Command, io: CliIo): void {
  const cmd = program
    .command('train')
    .summary('train a float model, or fine-tune a quantized one (--fine-tune)')
    .description(
      'Train the parameters of a float ONNX classifier (cross-entropy on its logits), or with --fine-tune ' +
        'fine-tune an HBNN-quantized model (the output of `hbnn-onnx quantize`): latent float weights are ' +
        're-binarized every step and get straight-through gradients; the result is again a quantized model. ' +
        'Forward and backward run in onnxruntime. Prints a table per epoch; the model is written when training ' +
        'ends (Ctrl-C with --checkpoint-dir saves a checkpoint, --resume continues from it).',
    )
    .argument('<model>', 'float model, or a quantized one with --fine-tune')
    .option('--fine-tune', 'fine-tune an HBNN-quantized model (straight-through estimator)')
    .option('--latent-from <model>', 'fine-tuning: the float model the quantized one came from (latent weights start from it; default: the dequantized weights)')
    .option('--normalize <norm>', "normalization of the training and evaluation data, recorded in the output: fmnist, MEAN:STD or none (default: the model's record, else none)")
    .option('--seed <n>', 'seed of the batch order and dropout masks (default 0)')
    .option('--resume [checkpoint]', 'continue from a checkpoint file, or from <checkpoint-dir>/last.json');
  addTrainingOptions(cmd);
  // train needs --train-data (quantize takes it only with --fine-tune): marked required in --help
  cmd.options.find((opt) => opt.long === '--train-data')!.makeOptionMandatory();
  apiOptionAliases(cmd, TRAINING_API_ALIASES);
  cmd
    .option('-o, --output <file>', 'output model (default: <model stem>.trained.onnx, or .ft.onnx with --fine-tune)')
    .option('--log <file>', 'write the training log (options, per-epoch records) as JSON')
    .option('--json', 'print the training log as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx train model.hbnn.onnx --fine-tune --latent-from model.onnx --train-data fmnist-mini:train --eval-data fmnist-mini:test --normalize fmnist --epochs 2
  $ hbnn-onnx train model.onnx --train-data fmnist:train --eval-data fmnist:test --normalize fmnist --epochs 10 --optimizer adam
  $ hbnn-onnx train model.hbnn.onnx --fine-tune --train-data fmnist:train --normalize fmnist --checkpoint-dir ck/ --resume

${DATA_SPEC_HELP}`,
    )
    .action(async (model: string, opts: TrainCliOptions, c: Command) => {
      const globals = c.optsWithGlobals<{ verbose?: boolean }>();
      const log = new Logger(io, { json: opts.json === true, verbose: globals.verbose === true });
      const r = await runTrain(model, opts, io, log);
      if (opts.json) {
        io.stdout(toJson({ input: displayPath(r.input, io.cwd), output: displayPath(r.output, io.cwd), ...(r.log ? { log: displayPath(r.log, io.cwd) } : {}), train: r.result.log }));
      } else {
        const lines = [`${displayPath(r.input, io.cwd)} → ${displayPath(r.output, io.cwd)}`, ...formatTrainLog(r.result.log)];
        if (r.log) lines.push(`log: ${displayPath(r.log, io.cwd)}`);
        io.stdout(lines.join('\n') + '\n');
      }
      if (r.result.interrupted) {
        const saved = [`the model as of the last step in ${displayPath(r.output, io.cwd)}`, ...(r.log ? [`the log in ${displayPath(r.log, io.cwd)}`] : [])];
        throw interruptedError(r.result.log, saved, ['train', model, ...givenFlags(c, (f) => f !== '--resume'), '--resume'], io.cwd);
      }
    });
}
