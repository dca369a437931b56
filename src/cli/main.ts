/**
 * The hbnn-onnx command line.
 *
 * `main(argv)` takes `process.argv` as is (node, script, then the arguments), runs one
 * command and resolves to the exit code; it never calls `process.exit`, so tests run it
 * in-process with their own `CliIo`. Exit codes:
 * - 0 success (also --help and --version);
 * - 2 usage errors reported by commander (unknown flag, missing argument);
 * - `exitCodeFor(code)` for an HbnnError (see src/errors.ts and docs/cli.md), printed as one
 *   line `hbnn-onnx: error[<code>]: <message>`;
 * - 70 for anything unexpected ("internal error" and the stack).
 * `--verbose` adds the stack, the error context and the cause chain.
 */
import { Command, CommanderError, Help, type Option } from 'commander';
import { ErrorCodes, exitCodeFor, isHbnnError } from '../errors.js';
import { defaultIo, type CliIo } from './io.js';
import { packageVersion } from './paths.js';
import { toCliTerms } from './options.js';
import { registerInspect } from './inspect.js';
import { registerOpt } from './opt.js';
import { registerPasses } from './passes.js';
import { registerDemo } from './demo.js';
import { registerQuantize } from './quantize.js';
import { registerEval } from './eval.js';
import { registerSweep } from './sweep.js';
import { registerLower } from './lower.js';
import { registerTrain } from './train.js';

export type { CliIo } from './io.js';

export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export function buildProgram(io: CliIo): Command {
  const program = new Command('hbnn-onnx');
  program
    .description('Heterogeneous bitwidth binarization for ONNX models: inspect, optimize, quantize, fine-tune, lower.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--verbose', 'print more detail; on errors, the stack, context and cause')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    // Every command's help marks its mandatory options (inherited by subcommands).
    .configureHelp({
      optionDescription(this: Help, option: Option): string {
        const text = Help.prototype.optionDescription.call(this, option);
        return option.mandatory ? `${text} (required)` : text;
      },
    })
    .helpCommand(false)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx demo                                   # the end-to-end demo on the bundled model
  $ hbnn-onnx inspect fixtures/models/fmnist-cnn.onnx
  $ hbnn-onnx quantize fixtures/models/fmnist-cnn.onnx --avg-bits 1.4 -o cnn.hbnn.onnx
  $ hbnn-onnx eval cnn.hbnn.onnx --data fmnist-mini:test --normalize fmnist
  $ hbnn-onnx opt model.onnx -p "eliminate-identity,fold-constants" -o clean.onnx
  $ hbnn-onnx passes

Exit codes: 0 ok, 2 usage, 3 input, 4 model, 5 pipeline, 6 runtime, 7 output, 70 internal,
130 interrupted (Ctrl-C), 141 stdout closed
(see docs/cli.md). Run \`hbnn-onnx <command> --help\` for a command's options.`,
    );
  // Subcommands created with .command() inherit exitOverride, output and help settings.
  registerDemo(program, io);
  registerInspect(program, io);
  registerOpt(program, io);
  registerPasses(program, io);
  registerQuantize(program, io);
  registerEval(program, io);
  registerSweep(program, io);
  registerLower(program, io);
  registerTrain(program, io);
  registerHelp(program);
  return program;
}

/**
 * `hbnn-onnx help [command]`: the general help, or a command's (as `<command> --help`). An
 * unknown command is a usage error that says so (commander's own help command printed the
 * general help instead).
 */
function registerHelp(program: Command): void {
  program
    .command('help')
    .summary('show help for a command')
    .description('Show the general help, or the help of a command (the same as `hbnn-onnx <command> --help`).')
    .argument('[command]', 'a command')
    .action((name: string | undefined) => {
      if (name === undefined) return void program.outputHelp();
      const cmd = program.commands.find((c) => c.name() === name && c.name() !== 'help');
      if (cmd === undefined) {
        const names = program.commands.map((c) => c.name()).filter((n) => n !== 'help');
        program.error(`error: unknown command '${name}'; commands: ${names.join(', ')}`, { exitCode: EXIT_USAGE, code: 'commander.unknownCommand' });
      }
      cmd.outputHelp();
    });
}

/** Exit code when stdout or stderr was closed by the reader (128 + SIGPIPE, as `git` or `ls` in a shell). */
export const EXIT_CLOSED_OUTPUT = 141;

/**
 * The process entry (bin/hbnn-onnx.js): runs `main` on `process.argv` and sets the exit
 * code. A reader that closes stdout or stderr early (`hbnn-onnx lower --help | head -1`)
 * ends the command at once and quietly, with exit 141; `exit` handlers still run, so
 * temporary folders are removed (see `removeOnExit`).
 */
export function runCli(argv: string[] = process.argv): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(EXIT_CLOSED_OUTPUT);
      throw e;
    });
  }
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = EXIT_INTERNAL;
    },
  );
}

export async function main(argv: string[], ioOverrides: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = { ...defaultIo(), ...ioOverrides };
  // Read from argv directly: an error may come before commander has parsed the options.
  const verbose = argv.slice(2).includes('--verbose');
  // The command being run: its flags replace API option names in error messages.
  let active: Command | undefined;
  try {
    const program = buildProgram(io);
    program.hook('preAction', (_program, actionCommand) => {
      active = actionCommand;
    });
    await program.parseAsync(argv, { from: 'node' });
    return 0;
  } catch (e) {
    return reportError(e, io, verbose, active);
  }
}

function reportError(e: unknown, io: CliIo, verbose: boolean, command: Command | undefined): number {
  if (e instanceof CommanderError) {
    // Commander has already printed its message (or the help/version text).
    return e.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (isHbnnError(e)) {
    io.stderr(`hbnn-onnx: error[${e.code}]: ${toCliTerms(e.message, command)}\n`);
    if (verbose) {
      if (Object.keys(e.context).length > 0) io.stderr(`context: ${safeJson(e.context)}\n`);
      io.stderr(`${e.stack ?? ''}\n`);
      for (let c: unknown = e.cause, depth = 0; c !== undefined && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
        io.stderr(`caused by: ${c instanceof Error ? (c.stack ?? c.message) : String(c)}\n`);
      }
    }
    return exitCodeFor(e.code);
  }
  const err = e instanceof Error ? e : new Error(String(e));
  io.stderr(`hbnn-onnx: error[${ErrorCodes.INTERNAL}]: internal error: ${err.message}\n${err.stack ?? ''}\n`);
  io.stderr('This is a bug in hbnn-onnx; please report it with the command line and the model.\n');
  return EXIT_INTERNAL;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x));
  } catch {
    return String(v);
  }
}
