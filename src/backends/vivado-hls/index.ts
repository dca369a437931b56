/**
 * Vivado HLS backend: a quantized model (or its bit-level program) → a streaming HLS C++
 * project (files in memory), its folding and its FPGA estimate. docs/backend-vivado-hls.md.
 *
 *   const { files, estimates, folding } = lowerVivadoHls(model, { targetFps: 10_000 });
 *   // the CLI writes `files` to a folder; runCsim(folder) compiles and runs the testbench.
 */
import { Model } from '../../ir/graph.js';
import { lowerToBitIR } from '../../bitir/lower.js';
import { BITIR_FORMAT, type BitProgram, type LoweringOptions } from '../../bitir/types.js';
import { fail, ErrorCodes } from '../../errors.js';
import { buildDesign } from './design.js';
import { completeFit, estimateDesign, storedWeightBits, type LineBufferModel } from './estimate.js';
import { cycleBudget, foldingJson, resolveFolding } from './folding.js';
import { groupable, groupProgramRows } from './grouping.js';
import { FPGA_PARTS, resolvePart } from './parts.js';
import type { FoldingSpec, FpgaEstimate, HlsDesign } from './types.js';
import { LIB_HEADER, SHIM_HEADER, libHeader, shimHeader } from './emit/headers.js';
import { weightArrays, weightsFileName, weightsHeader } from './emit/weights.js';
import { TOP_HEADER, TOP_SOURCE, topHeader, topSource, type WeightFileArray } from './emit/top.js';
import { TB_DATA, TB_SOURCE, testbenchData, testbenchSource } from './emit/testbench.js';
import { TCL_FILE, estimatesMarkdown, projectReadme, tclScript } from './emit/project.js';
import { computeVectors, syntheticSamples } from './vectors.js';

export { runCsim, compileCsim, runTestbench, parseCsimSummary } from './csim.js';
export type { CsimOptions, CsimResult, CsimSummary, CsimBuild } from './csim.js';
export { parseFolding, checkFolding, FOLDING_FORMAT, DEFAULT_TARGET_FPS } from './folding.js';
export { FPGA_PARTS, DEFAULT_PART, resolvePart } from './parts.js';
export { REFERENCES, BNN_PYNQ_CNV_FOLDING, bnnPynqCnvFolding } from './reference.js';
export type * from './types.js';

export const DEFAULT_CLOCK_MHZ = 200;

export interface VivadoHlsOptions {
  /** How the estimate prices windows and max pools (default 'finn'; the Verilog backend asks for 'verilog': what its modules build). */
  lineBuffers?: LineBufferModel;
  /** Throughput (samples/s) the folding is solved for (layers the folding does not name). Default 1000. */
  targetFps?: number;
  /** Clock in MHz (default 200). */
  clockMhz?: number;
  /** Explicit PE/SIMD per layer (ONNX node name of the conv/Gemm/MatMul). */
  folding?: FoldingSpec;
  /** FPGA part for the estimate and run_hls.tcl (default xc7z045, the ZC706). */
  part?: string;
  /** Testbench input: normalized float samples, row-major (default: synthetic samples). */
  testData?: Float32Array;
  /** Samples in the testbench (default 8, 1 when the weights go to files; at most what testData holds). */
  testSamples?: number;
  /** Samples whose accumulators the testbench checks (default 2, 0 when the weights go to files). */
  accSamples?: number;
  /** Lowering precisions when a model is given. */
  lowering?: Partial<LoweringOptions>;
  /**
   * Group each unit's rows on its PEs by their widest weight (grouping.ts), so that PEs whose
   * rows need fewer bit planes drop the others. Default true; the logits do not change.
   */
  groupRows?: boolean;
  /**
   * Where the binary weight planes go: `inline` (constant arrays in weights_<layer>.h) or
   * `files` (one data file per array, #included by synthesis and read at run time by the
   * C-simulation build, which then compiles in seconds and little memory). Default: `files`
   * when the design stores more than WEIGHT_FILES_MIN_BITS weight bits, else `inline`.
   */
  weightStorage?: 'inline' | 'files';
}

/** Stored weight bits from which `lowerVivadoHls` puts the weights in data files by default (4 Mbit). */
export const WEIGHT_FILES_MIN_BITS = 4 * 1024 * 1024;

export interface VivadoHlsPlan {
  /** The program the design implements: the input program with the units' rows grouped (same logits and classes). */
  program: BitProgram;
  design: HlsDesign;
  folding: FoldingSpec;
  estimates: FpgaEstimate;
}

export interface VivadoHlsResult extends VivadoHlsPlan {
  /** Project files by relative path. */
  files: Map<string, string>;
}

function isProgram(x: unknown): x is BitProgram {
  return typeof x === 'object' && x !== null && (x as { format?: unknown }).format === BITIR_FORMAT;
}

function programOf(input: BitProgram | Model, lowering?: Partial<LoweringOptions>): BitProgram {
  if (isProgram(input)) return input;
  if (input instanceof Model) return lowerToBitIR(input, lowering);
  return fail(ErrorCodes.INVALID_OPTION, 'lowerVivadoHls needs a quantized Model or a bit-level program (hbnn-bitir/1)');
}

/** Design, folding and estimate without emitting files (cheap: no testbench vectors). */
export function planVivadoHls(input: BitProgram | Model, o: VivadoHlsOptions = {}): VivadoHlsPlan {
  const clockMhz = o.clockMhz ?? DEFAULT_CLOCK_MHZ;
  if (!(clockMhz > 0 && Number.isFinite(clockMhz))) fail(ErrorCodes.INVALID_OPTION, `clock must be a positive number of MHz (got ${clockMhz})`, { option: 'clockMhz' });
  const part = resolvePart(o.part);
  const source = programOf(input, o.lowering);
  const groupRows = o.groupRows ?? true;
  // First pass (fully folded) to learn the units; then the folding, the rows grouped for it,
  // and the design.
  // The beat of add/concat stages: the narrowest that meets the target (cycleBudget).
  const budget = { maxCycles: cycleBudget(clockMhz, o.targetFps) };
  const provisional = buildDesign(source, () => undefined, budget);
  const folding = resolveFolding(provisional.units, {
    clockMhz,
    stages: provisional.stages,
    ...(o.folding ? { folding: o.folding } : {}),
    ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}),
    grouped: (u) => groupRows && groupable(source, u),
  });
  const { program, orders } = groupRows ? groupProgramRows(source, provisional.units, folding) : { program: source, orders: new Map<string, Int32Array>() };
  const design = buildDesign(program, (layer) => folding.layers[layer], budget);
  for (const u of design.units) {
    const order = orders.get(u.layer);
    if (order) u.rowOrder = order;
  }
  const estimates = estimateDesign(design, { part, clockMhz, ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}), ...(o.lineBuffers ? { lineBuffers: o.lineBuffers } : {}) });
  // A design that does not fit: by how much, and whether the smallest folding (the provisional
  // design: PE = SIMD = 1, rows in model order) would, here or on another part.
  completeFit(estimates, provisional, design, Object.values(FPGA_PARTS));
  return { program, design, folding, estimates };
}

/** The Vivado HLS project of a quantized model or bit-level program, as files in memory. */
export function lowerVivadoHls(input: BitProgram | Model, o: VivadoHlsOptions = {}): VivadoHlsResult {
  const plan = planVivadoHls(input, o);
  const { program, design, estimates } = plan;
  const clockMhz = estimates.clockMhz;
  const per = design.input.entries;
  // Large designs (weights in files): the interpreter's expected values cost seconds per
  // sample, and accumulators (an unfused run) minutes; one sample and no accumulators unless asked.
  const storage = o.weightStorage ?? (storedWeightBits(design) > WEIGHT_FILES_MIN_BITS ? 'files' : 'inline');
  const large = storage === 'files';
  const wanted = o.testSamples ?? (large ? 1 : 8);
  if (!Number.isInteger(wanted) || wanted < 1) fail(ErrorCodes.INVALID_OPTION, `testSamples must be a positive integer (got ${wanted})`, { option: 'testSamples' });
  let data = o.testData;
  if (data && data.length % per !== 0) {
    fail(ErrorCodes.DATA_MISMATCH, `test data holds ${data.length} values, not a whole number of samples of ${per} ([${design.input.shape.join(',')}])`, { option: 'testData' });
  }
  if (!data) data = syntheticSamples(per, wanted);
  const count = Math.min(wanted, data.length / per);
  const accCount = Math.min(o.accSamples ?? (large ? 0 : 2), count);
  const vectors = computeVectors(program, design, data, count, accCount);

  const files = new Map<string, string>();
  files.set(SHIM_HEADER, shimHeader());
  files.set(LIB_HEADER, libHeader());
  const weightFiles: WeightFileArray[] = [];
  for (const u of design.units) {
    const inFiles = storage === 'files' && u.weight.kind === 'binary';
    files.set(weightsFileName(u), weightsHeader(u, inFiles ? files : undefined));
    if (inFiles) for (const name of weightArrays(u)) weightFiles.push({ name, count: u.pe * (u.mh / u.pe) * (u.mw / u.simd) });
  }
  files.set(TOP_HEADER, topHeader(design));
  files.set(TOP_SOURCE, topSource(design, { weightFiles }));
  files.set(TB_SOURCE, testbenchSource(design));
  files.set(TB_DATA, testbenchData(design, vectors));
  files.set(TCL_FILE, tclScript(design, { part: estimates.part.name, clockMhz }));
  files.set('folding.json', foldingJson(design.units, { clockMhz, ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}) }));
  files.set('estimates.json', `${JSON.stringify(estimates, null, 2)}\n`);
  files.set('estimates.md', estimatesMarkdown(estimates));
  files.set('README.md', projectReadme(design, estimates, { part: estimates.part.name, clockMhz, testSamples: count, accSamples: accCount }));
  return { ...plan, files };
}
