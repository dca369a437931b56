/**
 * The work of `hbnn-onnx lower`: request in, result out, with its text and JSON forms, shared
 * with `demo`; the command's flags and registration are in src/cli/lower.ts (command files
 * import no other command file).
 *
 * `hbnn-onnx lower MODEL --backend NAME [-o DIR] [backend options] [--json]`: lowers a
 * quantized (HBNN) model with one of the backends and writes the files the backend returns
 * in memory into the output folder, all together (`writeFilesAtomic`): an error leaves the
 * folder as it was. The backends themselves never write.
 *
 * Backends are entries of `BACKENDS`; each names the options it takes, so an option given
 * to a backend that does not use it is an error rather than silently ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../onnx/io.js';
import type { Model } from '../../ir/graph.js';
import { bitProgramFromJson, lowerBitIrFiles, lowerToBitIR, measureStreamRanges, summarizeProgram, type LoweringOptions } from '../../bitir/index.js';
import { LOWERING_CANONICALIZATION } from '../../bitir/lower.js';
import { Pipeline } from '../../pass/manager.js';
import { builtinPasses } from '../../../passes/registry.js';
import { lowerAsic, loadTechFile, PAPER_ANCHOR_NAMES, type AsicOptions, type AsicReport } from '../../backends/asic/index.js';
import { DEFAULT_TARGET_FPS, lowerVivadoHls, parseFolding, resolvePart, runCsim, type VivadoHlsOptions } from '../../backends/vivado-hls/index.js';
import { ICARUS_PACKAGE, lowerToVerilog, runIcarusSim, runVerilatorSim, VERILATOR_PACKAGE, type VerilogOptions } from '../../backends/verilog/index.js';
import { prepareSynth, runPower, runSynth } from '../lower-synth.js';
import { loadDataset, type Normalization } from '../../data/index.js';
import { inputNormalization } from '../normalize.js';
import { readFileChecked, writeFilesAtomic } from '../../util/fs.js';
import { fail, ErrorCodes } from '../../errors.js';
import { formatBytes, formatCount, formatDuration, formatFixed, table } from '../format.js';
import { Logger, type CliIo } from '../io.js';
import { parseIntOption, parseNormalizeOption, parseNumberOption, resolveDataSpec, decodeDataTensor } from '../options.js';
import { cliOutput, preflightCliOutputs, deriveOutputPath, displayPath } from '../paths.js';

/** The lower flags as commander hands them over. */
export interface LowerCliOptions {
  backend: string;
  out?: string;
  json?: boolean;
  // bit-level IR fixed-point formats (bit-ir; asic with --from-bit-ir)
  inputBits?: string;
  inputFrac?: string;
  fixedActBits?: string;
  fixedActFrac?: string;
  logitBits?: string;
  logitFrac?: string;
  multiplierBits?: string;
  fixedWeightBits?: string;
  rangeData?: string;
  rangeSamples?: string;
  // asic
  tech?: string;
  scaling?: 'units' | 'paper';
  clockMhz?: string;
  paperAnchor?: string;
  activationBits?: string;
  sweep?: string;
  fromBitIr?: boolean;
  modelName?: string;
  // vivado-hls
  targetFps?: string;
  folding?: string;
  part?: string;
  testData?: string;
  normalize?: string;
  testSamples?: string;
  accSamples?: string;
  csim?: boolean;
  keepRowOrder?: boolean;
  weights?: string;
  // verilog
  sim?: boolean;
  simulator?: string;
  synth?: string;
  liberty?: string;
  abc?: string;
  power?: boolean;
  powerImages?: string;
  powerStages?: string;
}

export type OptionKey = Exclude<keyof LowerCliOptions, 'backend' | 'out' | 'json'>;

/** The flag text of each backend option (for messages). */
const FLAG: Record<OptionKey, string> = {
  inputBits: '--input-bits',
  inputFrac: '--input-frac',
  fixedActBits: '--fixed-act-bits',
  fixedActFrac: '--fixed-act-frac',
  logitBits: '--logit-bits',
  logitFrac: '--logit-frac',
  multiplierBits: '--multiplier-bits',
  fixedWeightBits: '--fixed-weight-bits',
  rangeData: '--range-data',
  rangeSamples: '--range-samples',
  tech: '--tech',
  scaling: '--scaling',
  clockMhz: '--clock-mhz',
  paperAnchor: '--paper-anchor',
  activationBits: '--activation-bits',
  sweep: '--sweep',
  fromBitIr: '--from-bit-ir',
  modelName: '--model-name',
  targetFps: '--target-fps',
  folding: '--folding',
  part: '--part',
  testData: '--test-data',
  normalize: '--normalize',
  testSamples: '--test-samples',
  accSamples: '--acc-samples',
  csim: '--csim',
  keepRowOrder: '--keep-row-order',
  weights: '--weights',
  sim: '--sim',
  simulator: '--simulator',
  synth: '--synth',
  liberty: '--liberty',
  abc: '--abc',
  power: '--power',
  powerImages: '--power-images',
  powerStages: '--power-stages',
};

const BITIR_KEYS: readonly OptionKey[] = ['inputBits', 'inputFrac', 'fixedActBits', 'fixedActFrac', 'logitBits', 'logitFrac', 'multiplierBits', 'fixedWeightBits'];
/** Calibrated stream fractions (the bit-level lowering of bit-ir, vivado-hls and verilog; the asic cost does not depend on fractions). */
const RANGE_KEYS: readonly OptionKey[] = ['rangeData', 'rangeSamples', 'normalize'];

/** Calibration samples --range-data reads by default. */
export const DEFAULT_RANGE_SAMPLES = 64;
const ASIC_KEYS: readonly OptionKey[] = ['tech', 'scaling', 'clockMhz', 'paperAnchor', 'activationBits', 'sweep', 'fromBitIr', 'modelName', 'inputBits', 'fixedWeightBits'];
const HLS_KEYS: readonly OptionKey[] = ['clockMhz', 'targetFps', 'folding', 'part', 'testData', 'normalize', 'testSamples', 'accSamples', 'csim', 'keepRowOrder', 'weights', ...BITIR_KEYS, ...RANGE_KEYS];
const VERILOG_KEYS: readonly OptionKey[] = ['clockMhz', 'targetFps', 'folding', 'part', 'testData', 'normalize', 'testSamples', 'accSamples', 'sim', 'simulator', 'synth', 'liberty', 'abc', 'power', 'powerImages', 'powerStages', 'keepRowOrder', ...BITIR_KEYS, ...RANGE_KEYS];

export interface BackendResult {
  files: Map<string, string | Uint8Array>;
  /** Summary lines for the text output. */
  lines: string[];
  /** Summary for --json. */
  summary: Record<string, unknown>;
  /** Printed to stderr as warnings (e.g. a design that does not fit its part). */
  warnings?: string[];
  /** Work on the written folder (e.g. compiling and running a testbench); adds lines and summary fields. */
  afterWrite?: (outDir: string) => Promise<{ lines: string[]; summary: Record<string, unknown> }>;
}

/** What runLower resolves from the loaded model for the backends. */
export interface LowerData {
  /** The input normalization of --test-data and --range-data. */
  normalize?: Normalization;
  /** Calibrated stream ranges from --range-data (`measureStreamRanges`), for the bit-level lowering. */
  streamRanges?: Record<string, number>;
}

/** The bit-level lowering options of the flags, with the calibrated ranges of --range-data. */
function withRanges(lowering: Partial<LoweringOptions>, data: LowerData): Partial<LoweringOptions> {
  return data.streamRanges ? { ...lowering, streamRanges: data.streamRanges } : lowering;
}

export interface Backend {
  name: string;
  summary: string;
  /** Options this backend accepts (given alone or together with `extra`). */
  options(o: LowerCliOptions): readonly OptionKey[];
  /**
   * Checks the options and reads their files (technology, sweep) before any lowering;
   * returns the function that lowers a loaded model.
   */
  prepare(o: LowerCliOptions, cwd: string): (model: Model, data: LowerData) => BackendResult;
}

/** LoweringOptions from the fixed-point flags (only the ones given). */
export function bitIrLoweringOptions(o: LowerCliOptions): Partial<LoweringOptions> {
  const r: Partial<LoweringOptions> = {};
  const width = (v: string | undefined, k: OptionKey): number | undefined => (v === undefined ? undefined : parseIntOption(v, FLAG[k], 1));
  const frac = (v: string | undefined, k: OptionKey): number | undefined => (v === undefined ? undefined : parseIntOption(v, FLAG[k], 0));
  const set = <K extends Exclude<keyof LoweringOptions, 'streamRanges'>>(key: K, v: number | undefined): void => {
    if (v !== undefined) r[key] = v;
  };
  set('inputBits', width(o.inputBits, 'inputBits'));
  set('inputFrac', frac(o.inputFrac, 'inputFrac'));
  set('actBits', width(o.fixedActBits, 'fixedActBits'));
  set('actFrac', frac(o.fixedActFrac, 'fixedActFrac'));
  set('logitBits', width(o.logitBits, 'logitBits'));
  set('logitFrac', frac(o.logitFrac, 'logitFrac'));
  set('multiplierBits', width(o.multiplierBits, 'multiplierBits'));
  set('weightBits', width(o.fixedWeightBits, 'fixedWeightBits'));
  for (const [w, f, wf, ff] of [
    ['inputBits', 'inputFrac', '--input-bits', '--input-frac'],
    ['actBits', 'actFrac', '--fixed-act-bits', '--fixed-act-frac'],
    ['logitBits', 'logitFrac', '--logit-bits', '--logit-frac'],
  ] as const) {
    const bits = r[w];
    const fr = r[f];
    if (bits !== undefined && fr !== undefined && fr >= bits) fail(ErrorCodes.INVALID_OPTION, `${ff} (${fr}) must be below ${wf} (${bits})`, { option: ff });
  }
  return r;
}

const bitIrBackend: Backend = {
  name: 'bit-ir',
  summary: 'the bit-level IR: ir.json (the program), ir.txt (readable listing), summary.md (per-layer costs)',
  options: () => [...BITIR_KEYS, ...RANGE_KEYS],
  prepare(o) {
    const lowering = bitIrLoweringOptions(o);
    return (model, data) => {
      const files = lowerBitIrFiles(model, withRanges(lowering, data));
      const program = bitProgramFromJson(files.get('ir.json') as string);
      const t = summarizeProgram(program).totals;
      return {
        files,
        lines: [
          `${program.ops.length} ops: ${program.ops.map((op) => op.op).join(' → ')}`,
          `${formatCount(t.params)} parameters, ${formatCount(t.macs)} MACs and ${formatCount(t.bitOps)} bit operations per frame; ` +
            `weights ${formatBytes(Math.ceil((t.weightSignBits + t.bitMapBits) / 8))} (signs and bit maps), constants ${formatBytes(Math.ceil(t.constantBits / 8))}`,
        ],
        summary: { ops: program.ops.length, ...t, options: program.options },
      };
    };
  },
};

const asicBackend: Backend = {
  name: 'asic',
  summary: 'an ASIC estimate (area, power, throughput): report.json, report.md, report.html',
  options: (o) => (o.fromBitIr ? [...ASIC_KEYS, ...BITIR_KEYS.filter((k) => !ASIC_KEYS.includes(k))] : ASIC_KEYS),
  prepare(o, cwd) {
    const opts: AsicOptions = {};
    if (o.tech !== undefined) opts.tech = loadTechFile(path.resolve(cwd, o.tech));
    if (o.scaling !== undefined) opts.scaling = o.scaling;
    const clock = clockOption(o.clockMhz);
    if (clock !== undefined) opts.clockMhz = clock;
    if (o.paperAnchor !== undefined) {
      if (!(PAPER_ANCHOR_NAMES as readonly string[]).includes(o.paperAnchor)) {
        fail(ErrorCodes.INVALID_OPTION, `--paper-anchor must be one of ${PAPER_ANCHOR_NAMES.join(', ')}, got '${o.paperAnchor}'`, { option: '--paper-anchor' });
      }
      opts.paperAnchor = o.paperAnchor as (typeof PAPER_ANCHOR_NAMES)[number];
    }
    if (o.activationBits !== undefined) {
      const a = parseNumberOption(o.activationBits, '--activation-bits');
      if (a < 1) fail(ErrorCodes.INVALID_OPTION, `--activation-bits must be >= 1, got ${a}`, { option: '--activation-bits' });
      opts.activationBits = a;
    }
    if (o.sweep !== undefined) opts.sweep = readJsonOption(o.sweep, '--sweep', cwd);
    if (o.modelName !== undefined) opts.modelName = o.modelName;
    let lowering: Partial<LoweringOptions> | undefined;
    if (o.fromBitIr) {
      lowering = bitIrLoweringOptions(o);
    } else {
      if (o.inputBits !== undefined) opts.inputBits = parseIntOption(o.inputBits, '--input-bits', 1);
      if (o.fixedWeightBits !== undefined) opts.fixedWeightBits = parseIntOption(o.fixedWeightBits, '--fixed-weight-bits', 1);
    }
    return (model) => {
      const { files, report } = lowerAsic(model, { ...opts, ...(lowering ? { program: lowerToBitIR(model, lowering) } : {}) });
      return { files, lines: asicLines(report), summary: { source: report.source, scaling: report.scaling, clockMhz: report.clockMhz, ...report.summary, bits: report.bits } };
    };
  },
};

/** --clock-mhz: a number > 0. */
function clockOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const c = parseNumberOption(text, '--clock-mhz');
  if (c <= 0) fail(ErrorCodes.INVALID_OPTION, `--clock-mhz must be > 0, got ${c}`, { option: '--clock-mhz' });
  return c;
}

/** Reads a JSON file named by `flag` (FILE_NOT_FOUND, or INVALID_OPTION when it is not JSON). */
function readJsonOption(file: string, flag: string, cwd: string): unknown {
  const abs = path.resolve(cwd, file);
  const text = readFileChecked(abs).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    return fail(ErrorCodes.INVALID_OPTION, `${flag} ${file}: not valid JSON: ${(e as Error).message}`, { option: flag, file: abs });
  }
}

/** The options the vivado-hls and verilog backends share (folding, part, testbench), checked before any lowering. */
function designOptions(o: LowerCliOptions, cwd: string): VivadoHlsOptions {
  const opts: VivadoHlsOptions = {};
  const clock = clockOption(o.clockMhz);
  if (clock !== undefined) opts.clockMhz = clock;
  if (o.targetFps !== undefined) {
    const f = parseNumberOption(o.targetFps, '--target-fps');
    if (f <= 0) fail(ErrorCodes.INVALID_OPTION, `--target-fps must be > 0, got ${f}`, { option: '--target-fps' });
    opts.targetFps = f;
  }
  if (o.part !== undefined) opts.part = resolvePart(o.part).name;
  if (o.keepRowOrder) opts.groupRows = false;
  if (o.folding !== undefined) opts.folding = parseFolding(readJsonOption(o.folding, '--folding', cwd));
  if (o.testSamples !== undefined) opts.testSamples = parseIntOption(o.testSamples, '--test-samples', 1);
  if (o.accSamples !== undefined) opts.accSamples = parseIntOption(o.accSamples, '--acc-samples', 0);
  const lowering = bitIrLoweringOptions(o);
  if (Object.keys(lowering).length > 0) opts.lowering = lowering;
  return opts;
}

/** --test-data read and normalized as runLower resolved it (--normalize, else the model's record). */
function testDataOption(o: LowerCliOptions, cwd: string, data: LowerData, limit: number): Float32Array | undefined {
  if (o.testData === undefined) return undefined;
  return loadDataset(resolveDataSpec(o.testData, cwd), { limit, ...(data.normalize ? { normalize: data.normalize } : {}), decodeTensor: decodeDataTensor }).images;
}

const vivadoHlsBackend: Backend = {
  name: 'vivado-hls',
  summary:
    'a Vivado HLS C++ project (streaming units, weights headers, testbench with expected outputs, run_hls.tcl), its folding and FPGA estimate; --csim compiles and runs the testbench with g++',
  options: () => HLS_KEYS,
  prepare(o, cwd) {
    const opts: VivadoHlsOptions = designOptions(o, cwd);
    if (o.weights !== undefined) {
      if (o.weights !== 'inline' && o.weights !== 'files') fail(ErrorCodes.INVALID_OPTION, `--weights must be inline or files, got '${o.weights}'`, { option: '--weights' });
      opts.weightStorage = o.weights;
    }
    return (model, data) => {
      const test = testDataOption(o, cwd, data, opts.testSamples ?? 8);
      if (test) opts.testData = test;
      if (data.streamRanges) opts.lowering = withRanges(opts.lowering ?? {}, data);
      const r = lowerVivadoHls(model, opts);
      const t = r.estimates.total;
      const result: BackendResult = {
        files: r.files,
        lines: [
          `${r.estimates.part.name} at ${r.estimates.clockMhz} MHz, folding for ${formatCount(opts.targetFps ?? DEFAULT_TARGET_FPS)} frames/s: ` +
            `${formatCount(Math.round(t.fps))} frames/s (bottleneck ${t.bottleneck}), ${formatCount(t.luts)} LUTs (${t.lutPercent}%), ${formatCount(t.bram18)} BRAM18 (${t.bramPercent}%), ${formatCount(t.dsp)} DSP`,
          `${r.design.units.length} units; testbench: ${r.files.has('tb_data.txt') ? 'tb.cpp with tb_data.txt' : 'tb.cpp'} (expected outputs from the bit-level IR)`,
        ],
        summary: { part: r.estimates.part.name, clockMhz: r.estimates.clockMhz, ...t, fit: r.estimates.fit, folding: r.folding },
        ...(r.estimates.fit.verdict !== 'fits' ? { warnings: [r.estimates.notes[0]!] } : {}),
      };
      if (o.csim) {
        result.afterWrite = async (outDir) => {
          const c = await runCsim(outDir);
          const s = c.summary;
          const what = s ? `${formatCount(s.samples)} samples, ${formatCount(s.classMismatches)} class / ${formatCount(s.logitMismatches)} logit / ${formatCount(s.accumulatorMismatches)} accumulator mismatches` : 'no summary printed';
          if (!c.ok) {
            fail(ErrorCodes.TOOLCHAIN, `C simulation failed: the testbench exited ${c.exitCode} (${what}); the project is in ${outDir}\n${c.stdout.split('\n').slice(-12).join('\n')}`, {
              file: outDir,
            });
          }
          return {
            lines: [`C simulation passed (${c.command.split(' ')[0]}): ${what}; compile ${formatDuration(c.compileMs)}, run ${formatDuration(c.runMs)}`],
            summary: { csim: { ok: c.ok, ...(s ? s : {}), compileMs: c.compileMs, runMs: c.runMs } },
          };
        };
      }
      return result;
    };
  },
};

const verilogBackend: Backend = {
  name: 'verilog',
  summary:
    'synthesizable Verilog of the vivado-hls design (same folding): one module per unit, $readmemh memories, hbnn_top, a self-checking testbench; --sim builds and runs it with Verilator',
  options: () => VERILOG_KEYS,
  prepare(o, cwd) {
    const opts: VerilogOptions = designOptions(o, cwd);
    // --sim needs Verilator: a missing tool is an error before anything is lowered or written.
    // --simulator picks the simulator of --sim (Verilator by default; Icarus: no C++ build, for small designs).
    if (o.simulator !== undefined && !o.sim) fail(ErrorCodes.INVALID_OPTION, '--simulator chooses the simulator of --sim: give --sim too', { option: '--simulator' });
    const icarus = o.simulator === 'icarus';
    if (o.sim && icarus) requireTool(process.env['IVERILOG'] ?? 'iverilog', ICARUS_PACKAGE);
    else if (o.sim) requireTool(process.env['VERILATOR'] ?? 'verilator', VERILATOR_PACKAGE);
    const synth = prepareSynth(o, cwd, requireTool);
    return (model, data) => {
      const test = testDataOption(o, cwd, data, opts.testSamples ?? 8);
      if (test) opts.testData = test;
      if (data.streamRanges) opts.lowering = withRanges(opts.lowering ?? {}, data);
      const r = lowerToVerilog(model, opts);
      const t = r.estimates.total;
      const result: BackendResult = {
        files: r.files,
        lines: [
          `${r.design.stages.length} stages, ${r.units.length} units (${r.units.map((u) => `${u.layer}${u.stage.groups > 1 ? ' vector-vector' : ''} PE ${u.stage.pe} SIMD ${u.stage.simd}`).join(', ')}); folding for ${formatCount(opts.targetFps ?? DEFAULT_TARGET_FPS)} frames/s at ${r.estimates.clockMhz} MHz: ${formatCount(t.cycles)} cycles per frame (vivado-hls schedule)`,
          `top ${r.top} (${r.sources.length} source files in sources.f); testbench tb.v: ${r.testSamples} samples, accumulators of ${r.accSamples} (expected values from the bit-level IR)`,
        ],
        summary: { top: r.top, units: r.units.map((u) => ({ layer: u.layer, module: u.module, pe: u.stage.pe, simd: u.stage.simd })), sources: r.sources, testSamples: r.testSamples, accSamples: r.accSamples, folding: r.folding },
      };
      if (o.sim) {
        result.afterWrite = async (outDir) => {
          const c = icarus ? await runIcarusSim(outDir) : await runVerilatorSim(outDir);
          const s = c.summary;
          const what = s ? `${formatCount(s.samples)} samples, ${formatCount(s.classMismatches)} class / ${formatCount(s.logitMismatches)} logit / ${formatCount(s.accumulatorMismatches)} accumulator mismatches` : 'no summary printed';
          if (!c.ok) {
            fail(ErrorCodes.TOOLCHAIN, `RTL simulation failed (${what}); the project is in ${outDir}\n${c.stdout.split('\n').slice(-12).join('\n')}`, { file: outDir });
          }
          return {
            lines: [`RTL simulation passed (${icarus ? 'icarus' : 'verilator'}): ${what}; build ${formatDuration(c.buildMs)}, run ${formatDuration(c.runMs)}`],
            summary: { sim: { simulator: icarus ? 'icarus' : 'verilator', ok: c.ok, ...(s ? s : {}), buildMs: c.buildMs, runMs: c.runMs } },
          };
        };
      }
      if (synth) {
        // after the simulation (if asked): yosys on the written design, whole and per unit
        const sim = result.afterWrite;
        result.afterWrite = async (outDir) => {
          const a = sim ? await sim(outDir) : { lines: [], summary: {} };
          const b = await runSynth(r, synth, outDir);
          if (!synth.power) return { lines: [...a.lines, ...b.lines], summary: { ...a.summary, ...b.summary } };
          // the same design with its testbench built for the power images (the first N of --test-data)
          const n = synth.power.images;
          const pt = testDataOption(o, cwd, data, n);
          const pr = lowerToVerilog(model, { ...opts, ...(pt ? { testData: pt } : {}), testSamples: n, accSamples: 0 });
          const c = await runPower({ files: pr.files, sources: pr.sources, stages: pr.stages, units: pr.units, images: pr.testSamples }, synth.power, pr.estimates.clockMhz, outDir);
          return { lines: [...a.lines, ...b.lines, ...c.lines], summary: { ...a.summary, ...b.summary, ...c.summary } };
        };
      }
      return result;
    };
  },
};

/** TOOLCHAIN unless `tool` is an executable on PATH (or a path to one), naming the Debian package that installs it. */
function requireTool(tool: string, pkg: string): void {
  const candidates = tool.includes(path.sep) ? [tool] : (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, tool));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return;
    } catch {
      // not here
    }
  }
  fail(ErrorCodes.TOOLCHAIN, `${tool} not found on PATH: install the Debian package "${pkg}" (apt-get install ${pkg})`, { option: '--sim' });
}

function asicLines(r: AsicReport): string[] {
  const s = r.summary;
  return [
    `${r.scaling === 'units' ? 'unit counts' : "the paper's b_act·b_weight rule"} at ${r.clockMhz} MHz (per-layer work from the ${r.source === 'bit-ir' ? 'bit-level IR' : 'quantization record'}): ` +
      `${formatFixed(s.areaMm2, 3)} mm², ${formatFixed(s.powerW * 1000, 1)} mW, ${formatCount(Math.round(s.fps))} frames/s, ${formatFixed(s.energyPerFrameUj, 2)} µJ/frame`,
    `${r.bits.avgWeightBits.toFixed(3)} average weight bits, ${r.bits.avgActivationBits.toFixed(3)} average activation bits`,
    ...r.notes.map((n) => `note: ${n}`),
  ];
}

/**
 * The canonicalization `lower` runs on the loaded model before any backend (docs/bit-ir.md §3):
 * identity elimination, constant folding, dead code, shape inference. Returns the pipeline and
 * the passes that changed something.
 */
export async function canonicalizeForLowering(m: Model): Promise<{ pipeline: string; changed: string[] }> {
  const report = await Pipeline.parse(LOWERING_CANONICALIZATION, builtinPasses()).run(m, { verify: false });
  return { pipeline: report.pipeline, changed: report.passes.filter((p) => p.changed).map((p) => p.pass) };
}

/** The backends this build has, by name. */
export const BACKENDS: readonly Backend[] = [bitIrBackend, vivadoHlsBackend, verilogBackend, asicBackend];

export interface LowerRun {
  model: string;
  backend: string;
  outDir: string;
  files: { name: string; bytes: number }[];
  result: BackendResult;
}

/** The core of `lower`, shared with `demo`: checks everything, lowers, writes the files together. */
export async function runLower(model: string, o: LowerCliOptions, io: CliIo, log: Logger): Promise<LowerRun> {
  const backend = BACKENDS.find((b) => b.name === o.backend);
  if (!backend) fail(ErrorCodes.INVALID_OPTION, `unknown backend '${o.backend}'; this build has ${BACKENDS.map((b) => b.name).join(', ')}`, { option: '--backend' });
  const allowed = new Set(backend.options(o));
  const stray = (Object.keys(FLAG) as OptionKey[]).filter((k) => o[k] !== undefined && !allowed.has(k));
  if (stray.length > 0) {
    const hint = backend.name === 'asic' && stray.every((k) => BITIR_KEYS.includes(k)) ? ' (with --backend asic they need --from-bit-ir)' : '';
    fail(ErrorCodes.INVALID_OPTION, `${stray.map((k) => FLAG[k]).join(', ')} ${stray.length === 1 ? 'does' : 'do'} not apply to --backend ${backend.name}${hint}`, {
      option: FLAG[stray[0]!],
    });
  }
  const input = path.resolve(io.cwd, model);
  const outDir = path.resolve(io.cwd, o.out ?? deriveOutputPath(model, `.${backend.name}`));
  preflightCliOutputs([cliOutput(outDir, 'folder', '-o', io.cwd)], [input], io.cwd);
  if (o.normalize !== undefined && o.testData === undefined && o.rangeData === undefined) fail(ErrorCodes.INVALID_OPTION, '--normalize applies to --test-data and --range-data', { option: '--normalize' });
  if (o.normalize !== undefined) parseNormalizeOption(o.normalize); // checked before the model is loaded
  if (o.rangeSamples !== undefined && o.rangeData === undefined) fail(ErrorCodes.INVALID_OPTION, '--range-samples applies to --range-data', { option: '--range-samples' });
  const rangeSamples = o.rangeSamples === undefined ? DEFAULT_RANGE_SAMPLES : parseIntOption(o.rangeSamples, '--range-samples', 1);
  const lower = backend.prepare(o, io.cwd);
  log.progress(`loading ${displayPath(input, io.cwd)}`);
  const m = loadModel(input);
  log.progress(`canonicalizing (${LOWERING_CANONICALIZATION})`);
  const canon = await canonicalizeForLowering(m);
  const data: LowerData = {};
  const dataSpec = o.testData ?? o.rangeData;
  if (dataSpec !== undefined) {
    const norm = inputNormalization(m, o.normalize, displayPath(input, io.cwd), log, dataSpec);
    if (norm.normalize) data.normalize = norm.normalize;
  }
  let rangeLine: string | undefined;
  if (o.rangeData !== undefined) {
    log.progress(`measuring stream ranges on ${o.rangeData}`);
    const ds = loadDataset(resolveDataSpec(o.rangeData, io.cwd), { limit: rangeSamples, ...(data.normalize ? { normalize: data.normalize } : {}), decodeTensor: decodeDataTensor });
    data.streamRanges = measureStreamRanges(m, ds.images, bitIrLoweringOptions(o));
    rangeLine = `stream fractions from calibrated ranges: ${Object.keys(data.streamRanges).length} streams on ${ds.count} samples of ${o.rangeData}`;
  }
  log.progress(`lowering to ${backend.name}`);
  const result = lower(m, data);
  if (rangeLine) {
    result.lines.push(rangeLine);
    result.summary['streamRanges'] = { data: o.rangeData, samples: rangeSamples, streams: Object.keys(data.streamRanges!).length };
  }
  result.lines.push(`canonicalization: ${canon.pipeline} (${canon.changed.length ? `changed by ${canon.changed.join(', ')}` : 'nothing to change'})`);
  result.summary['canonicalization'] = { pipeline: canon.pipeline, changed: canon.changed };
  log.progress(`writing ${displayPath(outDir, io.cwd)}`);
  writeFilesAtomic(outDir, result.files);
  if (result.afterWrite) {
    log.progress(`checking ${displayPath(outDir, io.cwd)}`);
    const extra = await result.afterWrite(outDir);
    result.lines.push(...extra.lines);
    Object.assign(result.summary, extra.summary);
  }
  log.done();
  for (const w of result.warnings ?? []) log.warn(w);
  const files = [...result.files].map(([name, data]) => ({ name, bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength }));
  return { model: input, backend: backend.name, outDir, files, result };
}

export function formatLowerRun(r: LowerRun, cwd: string): string {
  const rows = r.files.map((f) => [path.join(displayPath(r.outDir, cwd), f.name), formatBytes(f.bytes)]);
  return (
    `${displayPath(r.model, cwd)} → ${displayPath(r.outDir, cwd)} (${r.backend})\n` +
    r.result.lines.map((l) => `  ${l}\n`).join('') +
    `\n${table(['file', 'size'], rows, ['left', 'right'])}\n`
  );
}

export function lowerRunJson(r: LowerRun, cwd: string): unknown {
  return { model: displayPath(r.model, cwd), backend: r.backend, out: displayPath(r.outDir, cwd), files: r.files, summary: r.result.summary };
}

/**
 * The backends that take option `k`, e.g. "bit-ir, vivado-hls, asic with --from-bit-ir",
 * read from each backend's `options` (the list `runLower` enforces), so help cannot drift.
 */
export function backendsTaking(k: OptionKey): string {
  const names: string[] = [];
  for (const b of BACKENDS) {
    if (b.options({ backend: b.name }).includes(k)) names.push(b.name);
    else if (b.options({ backend: b.name, fromBitIr: true }).includes(k)) names.push(`${b.name} with --from-bit-ir`);
  }
  return names.join(', ');
}

/** Help text of a backend option: the backends that take it, then `text`. */
export function on(k: OptionKey, text: string): string {
  return `${backendsTaking(k)}: ${text}`;
}

