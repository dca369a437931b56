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
import { Command, CommanderError } from 'commander';
import { ErrorCodes, exitCodeFor, isHbnnError } from '../errors.js';
import { defaultIo, type CliIo } from './io.js';
import { packageVersion } from './paths.js';
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

Exit codes: 0 ok, 2 usage, 3 input, 4 model, 5 pipeline, 6 runtime, 7 output, 70 internal
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
  return program;
}

export async function main(argv: string[], ioOverrides: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = { ...defaultIo(), ...ioOverrides };
  // Read from argv directly: an error may come before commander has parsed the options.
  const verbose = argv.slice(2).includes('--verbose');
  try {
    const program = buildProgram(io);
    await program.parseAsync(argv, { from: 'node' });
    return 0;
  } catch (e) {
    return reportError(e, io, verbose);
  }
}

function reportError(e: unknown, io: CliIo, verbose: boolean): number {
  if (e instanceof CommanderError) {
    // Commander has already printed its message (or the help/version text).
    return e.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (isHbnnError(e)) {
    io.stderr(`hbnn-onnx: error[${e.code}]: ${e.message}\n`);
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
