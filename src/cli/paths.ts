/**
 * Paths the CLI derives: default output names (never the input), display paths, the
 * package's own files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../errors.js';
import { packageRoot } from '../data/paths.js';
import { preflightOutputs, type PlannedOutput } from '../util/fs.js';

/**
 * The default output for `input`: `<folder>/<stem><suffix>`, where the stem drops a final
 * `.onnx`. `model.onnx` with `.opt.onnx` gives `model.opt.onnx` beside it. Fails with
 * OUTPUT_WOULD_OVERWRITE_INPUT if the result would be the input itself.
 */
export function deriveOutputPath(input: string, suffix: string): string {
  const dir = path.dirname(input);
  const base = path.basename(input);
  const stem = base.toLowerCase().endsWith('.onnx') ? base.slice(0, -'.onnx'.length) : base;
  const out = path.join(dir, `${stem}${suffix}`);
  if (path.resolve(out) === path.resolve(input)) {
    fail(ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT, `the default output name for ${input} is the input itself; give one with -o`, { file: input });
  }
  return out;
}

/** `file` relative to `cwd` when it lies inside it, else absolute. */
export function displayPath(file: string, cwd: string): string {
  const abs = path.resolve(cwd, file);
  const rel = path.relative(cwd, abs);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

/** A planned output of a command, resolved against `cwd`. */
export function cliOutput(file: string, kind: PlannedOutput['kind'], option: string, cwd: string): PlannedOutput {
  return { path: path.resolve(cwd, file), kind, option };
}

/**
 * The output preflight of every writing command (train, quantize, sweep, lower, opt, demo):
 * `preflightOutputs` with paths shown relative to the working folder. Call it before any work.
 */
export function preflightCliOutputs(outputs: readonly PlannedOutput[], inputs: readonly string[], cwd: string): void {
  preflightOutputs(outputs, inputs, (f) => displayPath(f, cwd));
}

let cachedVersion: string | undefined;

/** The version field of hbnn-onnx's package.json. */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  const pj = path.join(packageRoot(), 'package.json');
  try {
    const v = (JSON.parse(fs.readFileSync(pj, 'utf8')) as { version?: unknown }).version;
    return (cachedVersion = typeof v === 'string' ? v : '0.0.0');
  } catch (e) {
    return fail(ErrorCodes.INTERNAL, `cannot read ${pj}: ${(e as Error).message}`, { file: pj });
  }
}
