/**
 * `hbnn-onnx sweep MODEL --data SPEC [--bits LIST] [--heuristics LIST] [-o DIR] [--json]`:
 * post-training accuracy over average weight bits × heuristics (`sweep` in
 * src/drivers/sweep.ts), written as `sweep.json` and a plot `sweep.svg` (`sweepSvg` in
 * src/drivers/svg.ts). Options are checked before any work; the two files are written
 * together at the end, so an error leaves the output folder as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Command } from 'commander';
import { sweep, SWEEP_HEURISTICS, type SweepOptions, type SweepPoint, type SweepResult } from '../drivers/sweep.js';
import { sweepSvg } from '../drivers/svg.js';
import { DATA_SPEC_HELP, openDataSource, type DataSource, type Normalization } from '../data/index.js';
import { loadModel } from '../onnx/io.js';
import { inputNormalization } from './normalize.js';
import { writeFilesAtomic } from '../util/fs.js';
import { fail, ErrorCodes } from '../errors.js';
import { formatCount, table } from './format.js';
import { Logger, toJson, type CliIo } from './io.js';
import { cliOutput, preflightCliOutputs, deriveOutputPath, displayPath } from './paths.js';
import { QUANTIZE_OPTIONS } from '../drivers/quantize.js';
import { checkAvgBits } from '../hbnn/index.js';
import { NORMALIZE_SPEC } from './normalize.js';
import { pickOption, type OptionSpec } from '../pass/pass.js';
import { DECODE_WORKERS_FLAGS, DECODE_WORKERS_HELP, heuristicTitle, parseDecodeWorkersOption, parseGranularityOption, parseIntOption, parseNormalizeOption, parseNumberListOption, parseSchemaFlags, resolveDataSpec, schemaOption, decodeDataTensor } from './options.js';

/** The quantize options that are flags of `sweep` too (from the same schema as quantize's). */
const SWEEP_QUANTIZE_FLAGS: readonly OptionSpec[] = (['max-bits', 'per-channel', 'granularity', 'first-layer', 'last-layer', 'seed', 'act-bits', 'act-heuristic', 'calib-data', 'calib-limit', 'bn-recalibrate'] as const).map(
  (n) => pickOption(QUANTIZE_OPTIONS, n),
);
const SWEEP_METAVARS: Readonly<Record<string, string>> = { 'max-bits': 'n', granularity: 'g', 'first-layer': 'mode', 'last-layer': 'mode', seed: 'n', 'act-bits': 'bits', 'act-heuristic': 'name', 'calib-data': 'spec', 'calib-limit': 'n' };

export const DEFAULT_SWEEP_BITS: readonly number[] = [1, 1.2, 1.4, 1.6, 2, 3];
export const DEFAULT_SWEEP_HEURISTICS: readonly string[] = ['middle-out', 'random', 'layer'];
export const SWEEP_FILES = { json: 'sweep.json', svg: 'sweep.svg' } as const;

interface SweepCliOptions {
  data: string;
  bits?: string;
  heuristics?: string;
  maxBits?: string;
  perChannel?: boolean;
  granularity?: string;
  firstLayer?: 'binarize' | 'keep';
  lastLayer?: 'binarize' | 'keep';
  seed?: string;
  actBits?: string;
  actHeuristic?: string;
  calibData?: string;
  calibLimit?: string;
  bnRecalibrate?: boolean;
  normalize?: string;
  limit?: string;
  batchSize?: string;
  decodeWorkers?: string;
  float: boolean;
  out?: string;
  json?: boolean;
}

export interface SweepRequest {
  model: string;
  data: string;
  /** Output folder; default `<model stem>.sweep` beside the model. */
  out?: string;
  /** Threads decoding folder: images of --data (the data API's `decodeWorkers`; default: its default). */
  decodeWorkers?: number;
  options: Omit<SweepOptions, 'onResult'>;
}

export interface SweepRun {
  model: string;
  outDir: string;
  files: string[];
  result: SweepResult;
}

/** Checks the flags (INVALID_OPTION naming the flag) and turns them into SweepOptions. */
export function sweepOptionsFromCli(o: SweepCliOptions): Omit<SweepOptions, 'onResult'> {
  const q = parseSchemaFlags(SWEEP_QUANTIZE_FLAGS, { ...o, granularity: undefined });
  const maxBits = (q['max-bits'] as number | undefined) ?? pickOption(QUANTIZE_OPTIONS, 'max-bits').default;
  const bits = o.bits !== undefined ? parseNumberListOption(o.bits, '--bits') : [...DEFAULT_SWEEP_BITS];
  for (const b of bits) checkAvgBits(b, maxBits, { avg: '--bits', max: '--max-bits' });
  const heuristics = o.heuristics !== undefined ? o.heuristics.split(',').map((s) => s.trim()).filter((s) => s !== '') : [...DEFAULT_SWEEP_HEURISTICS];
  if (heuristics.length === 0) fail(ErrorCodes.INVALID_OPTION, '--heuristics needs at least one heuristic', { option: '--heuristics' });
  for (const h of heuristics) {
    if (!SWEEP_HEURISTICS.includes(h)) fail(ErrorCodes.INVALID_OPTION, `--heuristics: unknown heuristic '${h}'; known: ${SWEEP_HEURISTICS.join(', ')}`, { option: '--heuristics' });
  }
  const opts: Omit<SweepOptions, 'onResult'> = { bits, heuristics, float: o.float };
  if (o.maxBits !== undefined) opts.maxBits = maxBits;
  if (o.perChannel) opts.perChannel = true;
  if (o.granularity !== undefined) opts.granularity = parseGranularityOption(o.granularity, heuristics);
  if (o.firstLayer) opts.firstLayer = o.firstLayer;
  if (o.lastLayer) opts.lastLayer = o.lastLayer;
  if (q['seed'] !== undefined) opts.seed = q['seed'] as number;
  if (q['act-bits'] !== undefined) {
    opts.actBits = q['act-bits'] as number;
    if (o.actHeuristic) opts.actHeuristic = q['act-heuristic'] as SweepOptions['actHeuristic'];
  } else if (o.actHeuristic !== undefined) {
    fail(ErrorCodes.INVALID_OPTION, '--act-heuristic needs --act-bits', { option: '--act-heuristic' });
  }
  if (o.bnRecalibrate) opts.recalibrateBatchNorm = true;
  if (o.actBits !== undefined || o.bnRecalibrate) {
    if (o.calibData !== undefined) opts.calibData = o.calibData.trim();
    if (q['calib-limit'] !== undefined) opts.calibLimit = q['calib-limit'] as number;
  } else {
    const unused = [o.calibData !== undefined && '--calib-data', o.calibLimit !== undefined && '--calib-limit'].filter((x): x is string => typeof x === 'string');
    if (unused.length > 0) fail(ErrorCodes.INVALID_OPTION, `${unused.join(', ')} need${unused.length === 1 ? 's' : ''} --act-bits or --bn-recalibrate`, { option: unused[0] });
  }
  if (o.normalize !== undefined) {
    parseNormalizeOption(o.normalize);
    opts.normalize = o.normalize.trim().toLowerCase() === 'none' ? 'none' : o.normalize.trim();
  }
  if (o.limit !== undefined) opts.limit = parseIntOption(o.limit, '--limit', 1);
  if (o.batchSize !== undefined) opts.batchSize = parseIntOption(o.batchSize, '--batch-size', 1);
  return opts;
}

/** The core of `sweep`: checks the output folder, runs the grid, writes sweep.json and sweep.svg. */
export async function runSweep(req: SweepRequest, io: CliIo, log: Logger): Promise<SweepRun> {
  const model = path.resolve(io.cwd, req.model);
  const outDir = path.resolve(io.cwd, req.out ?? deriveOutputPath(req.model, '.sweep'));
  preflightCliOutputs([cliOutput(outDir, 'folder', '-o', io.cwd)], [model], io.cwd);
  if (!fs.existsSync(model)) fail(ErrorCodes.FILE_NOT_FOUND, `no such file: ${model}`, { file: model });
  const o = req.options;
  // --normalize, else the model's record (src/data/normalization.ts); the calibrate and
  // recalibrate-batchnorm passes resolve the same way on each fresh copy.
  const norm = inputNormalization(loadModel(model), o.normalize, displayPath(model, io.cwd), log, req.data);
  log.progress(`loading ${req.data}`);
  const ds = await openSweepData(req, io.cwd, norm.normalize);
  try {
    return await sweepOn(ds, req, model, outDir, io, log, norm.text);
  } finally {
    await ds.close();
  }
}

/**
 * The evaluation data of a sweep, streamed: folder: and cifar: data are read batch by batch
 * (folder: images decoded on `req.decodeWorkers` threads) for every evaluation of the grid.
 */
export async function openSweepData(req: SweepRequest, cwd: string, normalize: Normalization | undefined): Promise<DataSource> {
  const o = req.options;
  return openDataSource(resolveDataSpec(req.data, cwd), {
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(normalize ? { normalize } : {}),
    ...(req.decodeWorkers !== undefined ? { decodeWorkers: req.decodeWorkers } : {}),
    decodeTensor: decodeDataTensor,
  });
}

async function sweepOn(ds: DataSource, req: SweepRequest, model: string, outDir: string, io: CliIo, log: Logger, normalize: string): Promise<SweepRun> {
  const o = req.options;
  ds.name = req.data.trim();
  if (!ds.labelled) fail(ErrorCodes.DATA_MISMATCH, `dataset ${req.data} has no labels; a sweep evaluates accuracy and needs them`, { option: '--data' });
  const options: SweepOptions = {
    ...o,
    ...(o.calibData !== undefined ? { calibData: resolveDataSpec(o.calibData, io.cwd) } : {}),
    onResult: (p, i, total) => log.progress(`[${i + 1}/${total}] ${p.heuristic} ${p.bits} bits: top-1 ${(p.top1 * 100).toFixed(2)}%`),
  };
  const result = await sweep(model, ds, options);
  result.model = displayPath(model, io.cwd);
  result.normalize = normalize;
  log.done();
  const files = new Map<string, string>([
    [SWEEP_FILES.json, toJson(result)],
    [SWEEP_FILES.svg, sweepSvg(result)],
  ]);
  writeFilesAtomic(outDir, files);
  return { model, outDir, files: [...files.keys()].map((f) => path.join(outDir, f)), result };
}

/** Text output: top-1 per heuristic (rows) and average bits (columns), then the files. */
export function formatSweepRun(r: SweepRun, cwd: string): string {
  const res = r.result;
  const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  const lines = [
    `${res.model} on ${res.dataset} (${formatCount(res.samples)} samples)${res.actBits !== null ? `, activations at ${res.actBits} bits` : ', activations float'}` +
      (res.granularity === 'row' ? ', one bitwidth per output channel' : ''),
  ];
  if (res.normalize !== undefined) lines.push(`input normalization: ${res.normalize}`);
  lines.push(batchNormLine(res));
  if (res.float) lines.push(`float model: top-1 ${pct(res.float.top1)}, top-5 ${pct(res.float.top5)}`);
  lines.push('', 'top-1 by average weight bits (requested; achieved in sweep.json)');
  const byKey = new Map<string, SweepPoint>(res.points.map((p) => [`${p.heuristic}\u0000${p.bits}`, p]));
  const rows = res.heuristics.map((h) => [heuristicTitle(h), ...res.bits.map((b) => { const p = byKey.get(`${h}\u0000${b}`); return p ? pct(p.top1) : ''; })]);
  lines.push(table(['heuristic', ...res.bits.map((b) => `${b} bits`)], rows, ['left', ...res.bits.map(() => 'right' as const)]));
  lines.push('', `wrote ${r.files.map((f) => displayPath(f, cwd)).join(' and ')}`);
  return lines.join('\n') + '\n';
}

/** What happened to the BatchNorm statistics of the quantized models (one line). */
export function batchNormLine(res: Pick<SweepResult, 'batchNorms' | 'bnRecalibrated'>): string {
  if (res.batchNorms === 0) return 'BatchNorm: none in the model';
  const n = `${res.batchNorms} BatchNorm${res.batchNorms === 1 ? '' : 's'}`;
  if (res.bnRecalibrated) return `${n}: statistics re-estimated on the calibration data for every point (--bn-recalibrate)`;
  return `${n}: statistics NOT re-estimated (the quantized models keep the float model's running mean and variance, which lowers accuracy, most at 2+ bits); add --bn-recalibrate to re-estimate them`;
}

export function registerSweep(program: Command, io: CliIo): void {
  const cmd = program
    .command('sweep')
    .summary('accuracy over average bits × heuristics, as JSON and an SVG plot')
    .description(
      'Quantize a float model at each average weight bitwidth in --bits with each heuristic in ' +
        '--heuristics (post-training, no fine-tuning), evaluate every result on --data, and write ' +
        'sweep.json (every point: requested and achieved bits, top-1, top-5, timing, pipeline) and ' +
        'sweep.svg (top-1 against achieved average bits, one curve per heuristic, the float model ' +
        'as a dashed line) into the output folder.',
    )
    .argument('<model>', 'float ONNX model')
    .requiredOption('--data <spec>', 'labelled evaluation data, e.g. fmnist-mini:test')
    .option('--bits <list>', `average weight bits, comma-separated (default ${DEFAULT_SWEEP_BITS.join(',')})`)
    .option('--heuristics <list>', `comma-separated, from ${SWEEP_HEURISTICS.join(', ')} (default ${DEFAULT_SWEEP_HEURISTICS.join(',')})`);
  for (const spec of SWEEP_QUANTIZE_FLAGS) {
    cmd.addOption(schemaOption(spec, SWEEP_METAVARS[spec.name], spec.name === 'granularity' ? `${spec.doc}; not with the layer heuristic in --heuristics` : undefined));
  }
  cmd
    .addOption(schemaOption(NORMALIZE_SPEC, 'norm', "normalization of --data and the calibration data: fmnist, MEAN:STD or none (default: the model's record, else none)"))
    .option('--limit <n>', 'evaluate on the first N samples only')
    .option('--batch-size <n>', 'samples per onnxruntime run (default 256)')
    .option(DECODE_WORKERS_FLAGS, `${DECODE_WORKERS_HELP} (--data)`)
    .option('--no-float', 'do not evaluate the float model')
    .option('-o, --out <dir>', 'output folder (default: <model stem>.sweep beside the model)')
    .option('--json', 'print sweep.json to stdout as well')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx sweep fixtures/models/fmnist-cnn.onnx --data fmnist-mini:test --normalize fmnist -o sweep/
  $ hbnn-onnx sweep model.onnx --data fmnist:test --normalize fmnist --bits 1,1.4,2 --heuristics middle-out,top-down,layer
  $ hbnn-onnx sweep model.onnx --data fmnist-mini:test --normalize fmnist --act-bits 1.4 --limit 500
  $ hbnn-onnx sweep model.onnx --data fmnist-mini:test --normalize fmnist --heuristics middle-out,middle-out-residual --granularity row

${DATA_SPEC_HELP}`,
    )
    .action(async (model: string, opts: SweepCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ verbose?: boolean }>();
      const log = new Logger(io, { json: opts.json === true, verbose: globals.verbose === true });
      const req: SweepRequest = { model, data: opts.data, options: sweepOptionsFromCli(opts) };
      if (opts.decodeWorkers !== undefined) req.decodeWorkers = parseDecodeWorkersOption(opts.decodeWorkers, '--decode-workers');
      if (opts.out !== undefined) req.out = opts.out;
      const r = await runSweep(req, io, log);
      io.stdout(opts.json ? toJson(r.result) : formatSweepRun(r, io.cwd));
    });
}
