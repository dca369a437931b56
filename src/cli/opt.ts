/**
 * `hbnn-onnx opt MODEL [--pipeline TEXT] [-o OUT]`: load, run a pass pipeline, save atomically.
 * With no pipeline it is a pure re-save. The output never replaces the input.
 */
import { type Command } from 'commander';
import { Pipeline, formatReport } from '../pass/manager.js';
import { formatCount } from './format.js';
import { Logger, toJson, type CliIo } from './io.js';
import { displayPath } from './paths.js';
import { parseIntOption } from './options.js';
import { reportToJson } from './io.js';
import { type OptRequest, runOpt, parseBytes, type OptCliOptions, passOptionsHelp } from './run/opt.js';

export function registerOpt(program: Command, io: CliIo): void {
  program
    .command('opt')
    .summary('run a pass pipeline over a model and save the result')
    .description(
      'Load a model, run a text pass pipeline over it (verifying the IR after every pass), and\n' +
        'save the result atomically. Without --pipeline the model is re-saved unchanged. The\n' +
        'output never replaces the input (error output-would-overwrite-input, exit 7).',
    )
    .argument('<model>', 'ONNX model file')
    .option('-p, --pipeline <text>', 'pass pipeline, e.g. "eliminate-identity,fold-constants" (see `hbnn-onnx passes`)')
    .option('-o, --output <file>', 'output model (default: <model stem>.opt.onnx beside the input)')
    .option('--no-verify', 'skip the IR verifier before the first pass and after each pass')
    .option('--print-ir-after <passes>', 'print the IR to stderr after these passes: "all" or a comma list of pass names')
    .option('--timing', 'print time and statistics per pass to stderr')
    .option('--external-data-threshold <bytes>', 'store tensors of at least this size in <output>.data (suffixes k, M, G)', parseBytes)
    .option('--threads <n>', "threads passes may use (insert-weight-binarization: layers on worker threads); the output is the same for any count (default 1)")
    .option('--json', 'print the result (paths, node counts, per-pass report) as JSON')
    .addHelpText(
      'after',
      () => `
Pipeline syntax:
  pass[{key=value,...}] separated by commas; fixpoint{max=N}(a,b) repeats a group
  until nothing changes (at most N rounds). List values use |, e.g. exclude=conv1|fc.

Passes and their options with defaults (from the declarations; details: hbnn-onnx passes):
${passOptionsHelp(io.registry().list())}

Examples:
  $ hbnn-onnx opt model.onnx                       # re-save as model.opt.onnx
  $ hbnn-onnx opt model.onnx -p "eliminate-identity,fold-constants,eliminate-dead-code" -o clean.onnx
  $ hbnn-onnx opt model.onnx -p "fixpoint{max=4}(fold-constants,eliminate-dead-code)" --timing
  $ hbnn-onnx opt big.onnx --external-data-threshold 1M -o out/big.onnx`,
    )
    .action(async (model: string, opts: OptCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ verbose?: boolean }>();
      const log = new Logger(io, { json: opts.json === true, verbose: globals.verbose === true });
      const req: OptRequest = { input: model, verify: opts.verify };
      if (opts.output !== undefined) req.output = opts.output;
      if (opts.pipeline !== undefined) req.pipeline = opts.pipeline;
      if (opts.printIrAfter !== undefined) {
        const list = opts.printIrAfter.split(',').map((s) => s.trim()).filter((s) => s !== '');
        req.printIrAfter = list.length === 1 && list[0] === 'all' ? 'all' : list;
      }
      if (opts.externalDataThreshold !== undefined) req.externalDataThreshold = opts.externalDataThreshold;
      if (opts.threads !== undefined) req.threads = parseIntOption(opts.threads, '--threads', 1);
      const res = await runOpt(req, io, log);
      if (opts.timing || log.verbose) log.stderr(formatReport(res.report));
      else for (const w of res.report.warnings) log.warn(w);
      if (opts.json) {
        io.stdout(toJson({ input: displayPath(res.input, io.cwd), output: displayPath(res.output, io.cwd), nodesBefore: res.nodesBefore, nodesAfter: res.nodesAfter, report: reportToJson(res.report) }));
        return;
      }
      const what = res.pipeline === '' ? 're-saved (no pipeline)' : `${res.report.passes.length} pass run${res.report.passes.length === 1 ? '' : 's'}`;
      io.stdout(`${displayPath(res.input, io.cwd)}: ${formatCount(res.nodesBefore)} → ${formatCount(res.nodesAfter)} nodes, ${what}, wrote ${displayPath(res.output, io.cwd)}\n`);
    });
}
