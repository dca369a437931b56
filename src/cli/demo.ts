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
import { runOpt, type OptResult } from './run/opt.js';
import { cliOutput, preflightCliOutputs, displayPath } from './paths.js';
import {
  runQuantize,
  type QuantizeRun,
} from './run/quantize.js';
import { evalRunJson, runEval, type EvalRun } from './run/eval.js';
import { BACKENDS, runLower, type LowerRun } from './run/lower.js';

/** The backends the demo lowers with: all but verilog (its RTL simulation needs Verilator and minutes; docs/verilog.md). */
const DEMO_BACKENDS = BACKENDS.filter((b) => b.name !== 'verilog');
import { runTrain, type TrainRun } from './run/train.js';
import { formatDistribution } from './options.js';

/** The cleanup pipeline the demo runs; passes not registered at run time are skipped. */
export const DEMO_PIPELINE: readonly string[] = ['eliminate-identity', 'fold-constants', 'eliminate-dead-code'];

export const DEMO_MODEL = 'fmnist-cnn';

/** What the quantize step asks for: weights at 1.4 average bits, Middle-Out; activations float. */
export const DEMO_AVG_BITS = 1.4;
export const DEMO_HEURISTIC = 'middle-out';
/** The evaluation data: the bundled 2,000-image test slice, with the models' normalization. */
export const DEMO_DATA = 'fmnist-mini:test';
export const DEMO_NORMALIZE = 'fmnist';
/** Brief fine-tuning: one epoch over the first 1,024 images of the bundled training slice, batches of 64. */
export const DEMO_TRAIN_DATA = 'fmnist-mini:train';
export const DEMO_TRAIN_LIMIT = 1024;
export const DEMO_BATCH_SIZE = 64;

/** What steps hand to later steps. New steps add optional fields here. */
export interface DemoState {
  inspect?: InspectReport;
  opt?: OptResult;
  quantize?: QuantizeRun;
  evaluate?: { float: EvalRun; quantized: EvalRun };
  fineTune?: TrainRun;
  lower?: LowerRun[];
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

const quantizeStep: DemoStep = {
  name: 'quantize',
  async run(ctx) {
    // Quantize the optimize step's output when there is one, else the bundled model.
    const input = ctx.state.opt?.output ?? ctx.modelPath;
    const output = path.join(ctx.outDir, `${DEMO_MODEL}.hbnn.onnx`);
    const report = path.join(ctx.outDir, 'quantize.json');
    const r = await runQuantize({ input, output, report, options: { avgBits: DEMO_AVG_BITS, heuristic: DEMO_HEURISTIC } }, ctx.io, ctx.log);
    ctx.written.push(output, report);
    ctx.state.quantize = r;
    const rec = r.record;
    const params = rec.weights.reduce((s, w) => s + w.histogram.reduce((a, b) => a + b, 0), 0);
    const k = Math.max(...rec.weights.map((w) => w.histogram.length));
    const hist = Array.from({ length: k }, (_, i) => rec.weights.reduce((s, w) => s + (w.histogram[i] ?? 0), 0) / Math.max(1, params));
    return [
      `weights at ${DEMO_AVG_BITS} bits (Middle-Out): ${rec.weights.length} layers, ${formatCount(params)} weights, ` +
        `${formatDistribution(hist)}, average ${rec.avgWeightBits.toFixed(3)} bits → ${displayPath(output, ctx.io.cwd)}`,
      `pipeline: ${r.pipeline} (record and timing: ${displayPath(report, ctx.io.cwd)})`,
    ];
  },
};

const evaluateStep: DemoStep = {
  name: 'evaluate',
  async run(ctx) {
    const base = { data: DEMO_DATA, normalize: DEMO_NORMALIZE };
    const float = await runEval({ ...base, model: ctx.modelPath }, ctx.io, ctx.log);
    const lines: string[] = [];
    let quantized: EvalRun | undefined;
    if (ctx.state.quantize) quantized = await runEval({ ...base, model: ctx.state.quantize.output }, ctx.io, ctx.log);
    const file = path.join(ctx.outDir, 'eval.json');
    writeFileAtomic(file, toJson({ float: evalRunJson(float, ctx.io.cwd), ...(quantized ? { quantized: evalRunJson(quantized, ctx.io.cwd) } : {}) }));
    ctx.written.push(file);
    const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
    lines.push(`${DEMO_DATA} (${formatCount(float.result.samples)} images, normalized ${DEMO_NORMALIZE}) → ${displayPath(file, ctx.io.cwd)}`);
    lines.push(`float     top-1 ${pct(float.result.top1)}, top-5 ${pct(float.result.top5)}`);
    if (quantized) {
      ctx.state.evaluate = { float, quantized };
      const drop = (float.result.top1 - quantized.result.top1) * 100;
      lines.push(
        `HBNN ${DEMO_AVG_BITS}  top-1 ${pct(quantized.result.top1)}, top-5 ${pct(quantized.result.top5)} ` +
          `(${drop >= 0 ? '-' : '+'}${Math.abs(drop).toFixed(2)} points top-1, no fine-tuning)`,
      );
    }
    return lines;
  },
};

const fineTuneStep: DemoStep = {
  name: 'fine-tune',
  async run(ctx) {
    const q = ctx.state.quantize;
    if (!q) return ['skipped: no quantized model'];
    const output = path.join(ctx.outDir, `${DEMO_MODEL}.ft.onnx`);
    const logFile = path.join(ctx.outDir, 'fine-tune.json');
    const r = await runTrain(
      q.output,
      {
        fineTune: true,
        latentFrom: ctx.modelPath,
        trainData: DEMO_TRAIN_DATA,
        trainLimit: String(DEMO_TRAIN_LIMIT),
        batchSize: String(DEMO_BATCH_SIZE),
        epochs: '1',
        evalData: DEMO_DATA,
        normalize: DEMO_NORMALIZE,
        output,
        log: logFile,
      },
      ctx.io,
      ctx.log,
    );
    ctx.written.push(output, logFile);
    ctx.state.fineTune = r;
    const e = r.result.log.epochs.at(-1);
    const before = ctx.state.evaluate?.quantized.result.top1;
    const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
    return [
      `${e?.steps ?? 0} steps of ${DEMO_BATCH_SIZE} on the first ${formatCount(DEMO_TRAIN_LIMIT)} images of ${DEMO_TRAIN_DATA} → ${displayPath(output, ctx.io.cwd)}`,
      `top-1 on ${DEMO_DATA}: ${before !== undefined ? `${pct(before)} → ` : ''}${e?.evalTop1 !== undefined ? pct(e.evalTop1) : '?'} (log: ${displayPath(logFile, ctx.io.cwd)})`,
    ];
  },
};

const lowerStep: DemoStep = {
  name: 'lower',
  async run(ctx) {
    // Lower the final model: the fine-tuned one when there is one.
    const source = ctx.state.fineTune?.output ?? ctx.state.quantize?.output;
    if (!source) return ['skipped: no quantized model'];
    const runs: LowerRun[] = [];
    const lines: string[] = [];
    for (const b of DEMO_BACKENDS) {
      const out = path.join(ctx.outDir, b.name);
      // The HLS project is proven here, not only generated: its testbench carries the bit-level
      // IR's outputs for 100 test images and g++ runs it (C simulation), which must agree exactly.
      const extra = b.name === 'vivado-hls' ? { csim: true, testData: 'fmnist-mini:test', normalize: 'fmnist', testSamples: '100' } : {};
      const r = await runLower(source, { backend: b.name, out, ...extra }, ctx.io, ctx.log);
      runs.push(r);
      ctx.written.push(...r.files.map((f) => path.join(out, f.name)));
      const names = r.files.length <= 4 ? r.files.map((f) => f.name).join(', ') : `${r.files.length} files`;
      lines.push(`${b.name} (${path.basename(source)}): ${names} → ${displayPath(out, ctx.io.cwd)}`, ...[...r.result.lines.slice(0, 2), ...r.result.lines.filter((l) => l.startsWith('C simulation'))].map((l) => `  ${l}`));
    }
    ctx.state.lower = runs;
    return lines;
  },
};

const summaryStep: DemoStep = {
  name: 'summary',
  async run(ctx) {
    const q = ctx.state.quantize;
    const ev = ctx.state.evaluate;
    const file = path.join(ctx.outDir, 'summary.json');
    const fineTunedTop1 = ctx.state.fineTune?.result.log.epochs.at(-1)?.evalTop1;
    const floatParams = ctx.state.inspect?.totals.parameters;
    let storage: { floatBytes: number; hbnnBytes: number } | undefined;
    if (q && floatParams !== undefined) {
      // Weight storage: binarized weights at their bits, every other parameter as float32.
      const binarized = q.layers.reduce((s, l) => s + (l.histogram ? l.params : 0), 0);
      const bits = q.layers.reduce((s, l) => s + (l.histogram && l.avgBits !== null ? l.params * l.avgBits : 0), 0);
      storage = { floatBytes: floatParams * 4, hbnnBytes: Math.ceil(bits / 8) + (floatParams - binarized) * 4 };
    }
    const summary = {
      model: path.relative(packageRoot(), ctx.modelPath),
      ...(floatParams !== undefined ? { parameters: floatParams } : {}),
      ...(q ? { avgWeightBits: q.record.avgWeightBits, pipeline: q.pipeline } : {}),
      ...(ev ? { data: DEMO_DATA, samples: ev.float.result.samples, floatTop1: ev.float.result.top1, hbnnTop1: ev.quantized.result.top1 } : {}),
      ...(fineTunedTop1 !== undefined ? { fineTunedTop1 } : {}),
      ...(storage ? { storage } : {}),
      ...(ctx.state.lower ? { lowered: ctx.state.lower.map((r) => ({ backend: r.backend, out: path.relative(ctx.outDir, r.outDir), summary: r.result.summary })) } : {}),
      files: [...ctx.written, file].map((f) => path.relative(ctx.outDir, f)),
    };
    writeFileAtomic(file, toJson(summary));
    ctx.written.push(file);
    const parts: string[] = [];
    if (ev) {
      const ft = fineTunedTop1 !== undefined ? ` → ${(fineTunedTop1 * 100).toFixed(2)}% fine-tuned` : '';
      parts.push(`top-1 ${(ev.float.result.top1 * 100).toFixed(2)}% float → ${(ev.quantized.result.top1 * 100).toFixed(2)}% HBNN${ft}`);
    }
    if (storage) parts.push(`parameter storage ${formatBytes(storage.floatBytes)} → ${formatBytes(storage.hbnnBytes)}`);
    if (q) parts.push(`${q.record.avgWeightBits.toFixed(3)} average weight bits`);
    return [`${parts.join('; ') || 'nothing to summarize'} → ${displayPath(file, ctx.io.cwd)}`];
  },
};

/** The demo, in order. Append new steps here (before the summary). */
export const DEMO_STEPS: readonly DemoStep[] = [inspectStep, optimizeStep, quantizeStep, evaluateStep, fineTuneStep, lowerStep, summaryStep];

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
  preflightCliOutputs([cliOutput(ctx.outDir, 'folder', '-o', io.cwd)], [ctx.modelPath], io.cwd);
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
      `Run the demo on the bundled model fixtures/models/${DEMO_MODEL}.onnx: inspect it (inspect.json); ` +
        `clean it up with the pipeline ${DEMO_PIPELINE.join(',')} (${DEMO_MODEL}.opt.onnx; passes not ` +
        `registered in this build are skipped and named); quantize the weights to ${DEMO_AVG_BITS} average bits ` +
        `with Middle-Out (${DEMO_MODEL}.hbnn.onnx, quantize.json); evaluate the float and the quantized model ` +
        `on ${DEMO_DATA} (eval.json); fine-tune it briefly (one epoch over ${DEMO_TRAIN_LIMIT} images of ${DEMO_TRAIN_DATA}: ` +
        `${DEMO_MODEL}.ft.onnx, fine-tune.json); lower the result with the backends (${DEMO_BACKENDS.map((b) => `${b.name}/`).join(', ')}); ` +
        `and summarize (summary.json).`,
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
