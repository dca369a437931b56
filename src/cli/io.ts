/**
 * Where the CLI's text goes, and the conventions for it:
 * - results (tables, summaries, JSON) go to stdout;
 * - warnings, progress, timing and IR dumps go to stderr;
 * - `--json` makes stdout one JSON document and silences progress;
 * - progress lines are drawn only when stderr is a terminal.
 * Commands get a `CliIo` instead of touching `process` so tests can run them in-process.
 */
import type { PassRegistry } from '../pass/manager.js';
import { builtinRegistry } from '../drivers/registry.js';
import type { RunReport } from '../pass/manager.js';

export type Writer = (text: string) => void;

export interface CliIo {
  stdout: Writer;
  stderr: Writer;
  /** Whether stderr is an interactive terminal (enables progress lines). */
  stderrIsTTY: boolean;
  /** Folder that relative paths are resolved against and displayed relative to. */
  cwd: string;
  /** The pass registry commands use (tests may inject their own). */
  registry: () => PassRegistry;
}

export function defaultIo(): CliIo {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    stderrIsTTY: process.stderr.isTTY === true,
    cwd: process.cwd(),
    registry: builtinRegistry,
  };
}

/** JSON text for CLI output: two-space indent, bigints as numbers, Maps as objects, final newline. */
export function toJson(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (_key, v: unknown) => {
        if (typeof v === 'bigint') return Number(v);
        if (v instanceof Map) return Object.fromEntries(v);
        if (v instanceof Set) return [...v];
        return v;
      },
      2,
    ) + '\n'
  );
}

export interface LoggerOptions {
  json?: boolean;
  verbose?: boolean;
}

/**
 * Human-facing messages on stderr. `progress` overwrites one terminal line and is silent
 * when stderr is not a TTY or with --json; `done` clears it.
 */
export class Logger {
  private progressShown = false;
  readonly verbose: boolean;
  private readonly live: boolean;

  constructor(
    private readonly io: CliIo,
    opts: LoggerOptions = {},
  ) {
    this.verbose = opts.verbose === true;
    this.live = io.stderrIsTTY && opts.json !== true;
  }

  progress(message: string): void {
    if (!this.live) return;
    this.io.stderr(`\r\x1b[2K${message}`);
    this.progressShown = true;
  }

  done(): void {
    if (!this.progressShown) return;
    this.io.stderr('\r\x1b[2K');
    this.progressShown = false;
  }

  warn(message: string): void {
    this.done();
    this.io.stderr(`hbnn-onnx: warning: ${message}\n`);
  }

  /** Printed with --verbose only. */
  debug(message: string): void {
    if (!this.verbose) return;
    this.done();
    this.io.stderr(`${message}\n`);
  }

  /** Free-form stderr text (timing tables, IR dumps). */
  stderr(text: string): void {
    this.done();
    this.io.stderr(text.endsWith('\n') ? text : `${text}\n`);
  }
}

/** A pass manager run report as JSON (opt --json, quantize --report). */
export function reportToJson(r: RunReport): unknown {
  return {
    pipeline: r.pipeline,
    totalMs: r.totalMs,
    properties: r.properties,
    warnings: r.warnings,
    passes: r.passes,
    artifacts: [...r.artifacts.keys()],
  };
}
