/**
 * The work of `hbnn-onnx opt`: request in, result out, with its text and JSON forms, shared
 * with `demo`; the command's flags and registration are in src/cli/opt.ts (command files
 * import no other command file).
 *
 * `hbnn-onnx opt MODEL [--pipeline TEXT] [-o OUT]`: load, run a pass pipeline, save atomically.
 * With no pipeline it is a pure re-save. The output never replaces the input.
 */
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { loadModel, saveModel, type SaveOptions } from '../../onnx/io.js';
import { verifyModel } from '../../ir/verifier.js';
import { Pipeline, type RunReport } from '../../pass/manager.js';
import { parsePipeline, type PipelineItem } from '../../pass/pipeline.js';
import { fail, ErrorCodes } from '../../errors.js';
import { walkGraphs, type Model } from '../../ir/graph.js';
import { formatDuration } from '../format.js';
import { Logger, type CliIo } from '../io.js';
import { cliOutput, preflightCliOutputs, deriveOutputPath, displayPath } from '../paths.js';
import type { Pass } from '../../pass/pass.js';

export interface OptRequest {
  input: string;
  /** Default: `<input stem>.opt.onnx` beside the input. */
  output?: string;
  /** Pipeline text; empty or absent = re-save. */
  pipeline?: string;
  verify?: boolean;
  /** 'all' or pass names. */
  printIrAfter?: 'all' | string[];
  /** Tensors of at least this many bytes go to `<output>.data`; absent = keep the input's layout. */
  externalDataThreshold?: number;
  /** Threads passes may use (RunOptions.threads; default 1). */
  threads?: number;
}

export interface OptResult {
  input: string;
  output: string;
  pipeline: string;
  nodesBefore: number;
  nodesAfter: number;
  report: RunReport;
}

/** Counts nodes in every graph of the model. */
export function countNodes(model: Model): number {
  let n = 0;
  for (const g of walkGraphs(model.graph)) n += g.nodes.length;
  return n;
}

/** The core of `opt`, shared with `demo`: paths are resolved against `io.cwd`. */
export async function runOpt(req: OptRequest, io: CliIo, log: Logger): Promise<OptResult> {
  const input = path.resolve(io.cwd, req.input);
  const output = path.resolve(io.cwd, req.output ?? deriveOutputPath(req.input, '.opt.onnx'));
  // Checked before any work, so a refused output costs nothing and writes nothing.
  preflightCliOutputs([cliOutput(output, 'file', '-o', io.cwd)], [input], io.cwd);
  const registry = io.registry();
  const pipeline = Pipeline.parse(req.pipeline ?? '', registry);
  if (req.printIrAfter !== undefined && req.printIrAfter !== 'all') checkPrintIrAfter(req.printIrAfter, req.pipeline ?? '');

  log.progress(`loading ${displayPath(input, io.cwd)}`);
  const model = loadModel(input);
  // Nodes out of order (the loader accepts them): sorted on load, said so, unless the
  // pipeline sorts first itself.
  if ((req.verify ?? true) && !pipeline.text.startsWith('topological-sort') && isOnlyUnsorted(model)) {
    await Pipeline.parse('topological-sort', registry).run(model);
    log.warn(`the nodes of ${displayPath(input, io.cwd)} were not in topological order; sorted them on load (topological-sort)`);
  }
  const nodesBefore = countNodes(model);
  let step = 0;
  const total = countPasses(parsePipeline(pipeline.text));
  const report = await pipeline.run(model, {
    verify: req.verify ?? true,
    ...(req.printIrAfter !== undefined ? { printIrAfter: req.printIrAfter } : {}),
    sink: (text) => log.stderr(text),
    onPass: (rec) => log.progress(`pass ${++step}/${total}: ${rec.pass} (${formatDuration(rec.ms)})`),
    ...(req.threads !== undefined ? { threads: req.threads } : {}),
  });
  const save: SaveOptions = { protect: [input] };
  if (req.externalDataThreshold !== undefined) save.externalData = { threshold: req.externalDataThreshold };
  log.progress(`writing ${displayPath(output, io.cwd)}`);
  saveModel(model, output, save);
  log.done();
  return { input, output, pipeline: pipeline.text, nodesBefore, nodesAfter: countNodes(model), report };
}

/** True when the model's only IR errors are nodes out of topological order. */
function isOnlyUnsorted(model: Model): boolean {
  const errors = (allowUnsorted: boolean): number => verifyModel(model, { allowUnsorted }).filter((i) => i.severity === 'error').length;
  return errors(false) > 0 && errors(true) === 0;
}

function countPasses(items: readonly PipelineItem[]): number {
  return items.reduce((n, it) => n + (it.kind === 'fixpoint' ? countPasses(it.items) : 1), 0);
}

function passNames(items: readonly PipelineItem[]): string[] {
  return items.flatMap((it) => (it.kind === 'fixpoint' ? passNames(it.items) : [it.name]));
}

function checkPrintIrAfter(names: readonly string[], pipelineText: string): void {
  const inPipeline = new Set(passNames(parsePipeline(pipelineText)));
  const stray = names.filter((n) => !inPipeline.has(n));
  if (stray.length > 0) {
    fail(
      ErrorCodes.INVALID_OPTION,
      `--print-ir-after names ${stray.join(', ')}, which ${stray.length > 1 ? 'are' : 'is'} not in the pipeline (${[...inPipeline].join(', ') || 'empty'})`,
      { option: 'print-ir-after' },
    );
  }
}

/** The JSON form of a run: options and statistics per pass, artifacts by name only. */
export function parseBytes(value: string): number {
  const m = /^(\d+)\s*([kmg]i?b?|b)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a byte count, e.g. 1024, 64k or 1M');
  const unit = (m[2] ?? '').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

export interface OptCliOptions {
  pipeline?: string;
  output?: string;
  verify: boolean;
  printIrAfter?: string;
  timing?: boolean;
  externalDataThreshold?: number;
  threads?: string;
  json?: boolean;
}


/** One line per pass: `name{option=default,...}` (options without a default show `option=?`). */
export function passOptionsHelp(passes: readonly Pass[]): string {
  return passes
    .map((p) => {
      const opts = p.options.map((o) => `${o.name}=${o.default === undefined ? '?' : Array.isArray(o.default) ? o.default.join('|') : String(o.default)}`);
      return `  ${p.name}${opts.length ? `{${opts.join(',')}}` : ''}`;
    })
    .join('\n');
}
