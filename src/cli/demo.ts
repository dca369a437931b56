/**
 * `hbnn-onnx demo [-o out/demo]`: the README's main job, run on the bundled Fashion-MNIST CNN.
 *
 * The demo is a list of steps (`DEMO_STEPS`), run in order over a shared context. Each step
 * reads what earlier steps left in `ctx.state`, writes its files under `ctx.outDir`, and
 * returns the lines of its summary. Later features append steps (quantize, fine-tune,
 * evaluate, lower) without touching the ones before.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { loadModel } from '../onnx/io.js';
import { inspectModel, type InspectReport } from '../inspect.js';
import { bundledModelPath, packageRoot } from '../data/paths.js';
import { writeFileAtomic } from '../util/fs.js';
import { formatBytes, formatCount, formatDuration } from './format.js';
import { Logger, toJson, type CliIo } from './io.js';
import { runOpt, type OptResult } from './opt.js';
import { displayPath } from './paths.js';

/** The cleanup pipeline the demo runs; passes not registered at run time are skipped. */
export const DEMO_PIPELINE: readonly string[] = ['eliminate-identity', 'fold-constants', 'eliminate-dead-code'];

export const DEMO_MODEL = 'fmnist-cnn';

/** What steps hand to later steps. New steps add optional fields here. */
export interface DemoState {
  inspect?: InspectReport;
  opt?: OptResult;
}

export interface DemoContext {
  io: CliIo;
  log: Logger;
  /** Absolute output folder. */
  outDir: string;
  /** Absolute path of the bundled model. */
  modelPath: string;
  state: DemoState;
  /** Files written so far (absolute paths). */
  written: string[];
}

export interface DemoStep {
  /** Short name shown in the summary. */
  name: string;
  /** Runs the step; returns its summary lines (the first is shown after the step name). */
  run(ctx: DemoContext): Promise<string[]>;
}

const inspectStep: DemoStep = {
  name: 'inspect',
  async run(ctx) {
    const report = inspectModel(loadModel(ctx.modelPath));
    report.file = path.relative(packageRoot(), ctx.modelPath);
    const file = path.join(ctx.outDir, 'inspect.json');
    writeFileAtomic(file, toJson(report));
    ctx.written.push(file);
    ctx.state.inspect = report;
    const ops = report.ops
      .slice(0, 4)
      .map((o) => `${o.count} ${o.op}`)
      .join(', ');
    const t = report.totals;
    return [
      `${formatCount(report.graph.totalNodes)} nodes (${ops}${report.ops.length > 4 ? ', ...' : ''}); ` +
        `${formatCount(t.parameters)} parameters (${formatBytes(t.bytes)}) in ${t.layers} layers; ` +
        `${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'} → ${displayPath(file, ctx.io.cwd)}`,
    ];
  },
};

const optimizeStep: DemoStep = {
  name: 'optimize',
  async run(ctx) {
    const registered = new Set(ctx.io.registry().list().map((p) => p.name));
    const used = DEMO_PIPELINE.filter((p) => registered.has(p));
    const missing = DEMO_PIPELINE.filter((p) => !registered.has(p));
    const output = path.join(ctx.outDir, `${DEMO_MODEL}.opt.onnx`);
    const res = await runOpt({ input: ctx.modelPath, output, pipeline: used.join(',') }, ctx.io, ctx.log);
    ctx.written.push(output);
    ctx.state.opt = res;
    const lines = [`${used.join(',') || '(no passes)'}: ${formatCount(res.nodesBefore)} → ${formatCount(res.nodesAfter)} nodes → ${displayPath(output, ctx.io.cwd)}`];
    if (missing.length > 0) lines.push(`skipped, not registered in this build: ${missing.join(', ')}`);
    for (const w of res.report.warnings) lines.push(`warning: ${w}`);
    return lines;
  },
};

/** The demo, in order. Append new steps here. */
export const DEMO_STEPS: readonly DemoStep[] = [inspectStep, optimizeStep];

export interface DemoOptions {
  /** Output folder (default out/demo, relative to the working folder). */
  out?: string;
}

export async function runDemo(opts: DemoOptions, io: CliIo, log: Logger, steps: readonly DemoStep[] = DEMO_STEPS): Promise<DemoContext> {
  const t0 = performance.now();
  const ctx: DemoContext = {
    io,
    log,
    outDir: path.resolve(io.cwd, opts.out ?? path.join('out', 'demo')),
    modelPath: bundledModelPath(DEMO_MODEL),
    state: {},
    written: [],
  };
  io.stdout(`hbnn-onnx demo: bundled model ${path.relative(packageRoot(), ctx.modelPath)} (Fashion-MNIST CNN)\n`);
  const width = Math.max(...steps.map((s) => s.name.length));
  for (const [i, step] of steps.entries()) {
    const tag = `[${i + 1}/${steps.length}] ${step.name.padEnd(width)}`;
    log.progress(`${tag} ...`);
    const lines = await step.run(ctx);
    log.done();
    const [first = 'done', ...rest] = lines;
    io.stdout(`${tag}  ${first}\n${rest.map((l) => `${' '.repeat(tag.length)}  ${l}\n`).join('')}`);
  }
  io.stdout(`done in ${formatDuration(performance.now() - t0)}; ${ctx.written.length} files in ${displayPath(ctx.outDir, io.cwd)}\n`);
  return ctx;
}

export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .summary('run the end-to-end demo on the bundled Fashion-MNIST model')
    .description(
      `Run the demo on the bundled model fixtures/models/${DEMO_MODEL}.onnx: inspect it (writes\n` +
        `inspect.json) and clean it up with the pipeline ${DEMO_PIPELINE.join(',')}\n` +
        `(writes ${DEMO_MODEL}.opt.onnx). Passes not registered in this build are skipped and named.`,
    )
    .option('-o, --out <dir>', 'output folder', path.join('out', 'demo'))
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx demo
  $ hbnn-onnx demo -o /tmp/hbnn-demo`,
    )
    .action(async (opts: { out: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ verbose?: boolean }>();
      await runDemo({ out: opts.out }, io, new Logger(io, { verbose: globals.verbose === true }));
    });
}
