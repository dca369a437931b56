/**
 * Calibration of the estimators against synthesis (docs/fpga-results.md and
 * docs/asic-results.md, "Calibration against yosys"):
 *
 * - FPGA: the vivado-hls unit estimate is a sum of parts (`breakdown`: base, lanes, per-PE
 *   and shared combine logic, weight memory; the memory only where the Verilog's weight ROMs
 *   are LUTs, `lutFeatures`). The fit re-weights them,
 *   LUT_fit = Σ_k c_k · part_k (c_k ≥ 0), least squares on the relative error over the
 *   synthesized configurations; FINN's c0 = 300 and c1 = 1.1 stay the default estimate.
 * - ASIC: a unit synthesized whole (its memories as gates, as the sweep does) is priced from
 *   what its Verilog builds: its logic under the structural model of the whole-design estimate
 *   (stage-area.ts `unitLogicFeatures` × OSU018_UNIT_LOGIC_FIT) and its ROM and RAM bits
 *   (`unitAreaFeatures`); the fit weighs the three (OSU018_AREA_FIT). The asic backend's own
 *   unit counts (`asicUnitTally`: folded to the unit's throughput, not counted at its PE and
 *   SIMD) stay the paper-anchored estimate beside it, priced with the default technology scaled
 *   to the node (`nodeScaledTech`); refitting their areas per kind left 22.4% held out on the
 *   current emitter (docs/asic-results.md).
 *
 * Fits are non-negative least squares (least-squares.ts), weighted by 1/y² so that they
 * minimize relative error.
 */
import * as crypto from 'node:crypto';
import { fail, ErrorCodes } from '../../errors.js';
import { estimateDesign as estimateAsic } from '../asic/cost.js';
import { DEFAULT_TECH, UNIT_KINDS, type AsicTech, type UnitCosts } from '../asic/tech.js';
import type { AsicLayerWork } from '../asic/work.js';
import type { StageEstimate, UnitStage } from '../vivado-hls/types.js';
import { LINE_BUFFER_LUT_PARTS, lineBufferLutFeatures, lineBufferStageCost, planeStats, stageEstimate, type LineBufferGeometry, type LineBufferLutPart } from '../vivado-hls/estimate.js';
import { unitStageOf, type UnitConfig } from '../verilog/unit-design.js';
import { unitModule } from '../verilog/unit.js';
import { BLOCK_ROM_MIN_DEPTH, memoryBits, type MemoryInstance } from '../verilog/memories.js';
import { fitNonNegative, meanAbsRelError } from './least-squares.js';
import { OSU018_UNIT_LOGIC_FIT, unitLogicArea, unitLogicFeatures } from './stage-area.js';

/** Parts of the vivado-hls unit estimate the LUT fit weighs. */
export const LUT_FIT_PARTS = ['base', 'lanes', 'combine', 'memory'] as const;
export type LutFitPart = (typeof LUT_FIT_PARTS)[number];
export type LutFit = Record<LutFitPart, number>;

/** What the fit reads of a unit estimate: its LUT breakdown and its folding. */
export type LutFitEstimate = Pick<StageEstimate, 'breakdown' | 'pe' | 'simd' | 'mh' | 'mw'>;

/** Words of a unit's weight memory (tiles: rows / PE × columns / SIMD), from its estimate's folding. */
export function weightMemoryDepth(e: LutFitEstimate): number {
  if (e.pe === undefined || e.simd === undefined || e.mh === undefined || e.mw === undefined) return fail(ErrorCodes.INTERNAL, 'a unit estimate without its folding (pe, simd, mh, mw)');
  return (e.mh / e.pe) * (e.mw / e.simd);
}

/**
 * The parts of a unit estimate as fit features (base as its count of units: 1; per-PE and
 * shared combine together). The memory part is the estimate's LUTRAM weight memory where the
 * Verilog backend builds the weight ROMs from LUTs too, and 0 where it makes them block RAM:
 * the estimate follows FINN (LUTRAM up to 128 words), the Verilog marks ROMs of
 * BLOCK_ROM_MIN_DEPTH (65) words and more `rom_style = "block"` (verilog/memories.ts), so
 * for 65..128 words the two differ and yosys spends no LUTs on the weights.
 */
export function lutFeatures(e: LutFitEstimate): Record<LutFitPart, number> {
  const b = e.breakdown;
  if (!b) return fail(ErrorCodes.INTERNAL, 'a unit estimate without its LUT breakdown');
  const memory = weightMemoryDepth(e) >= BLOCK_ROM_MIN_DEPTH ? 0 : b.memory;
  return { base: 1, lanes: b.lanes, combine: b.perPe + b.combine, memory };
}

/** A unit's LUTs under fitted weights. */
export function fittedLuts(e: LutFitEstimate, fit: LutFit): number {
  return featureLuts(lutFeatures(e), fit);
}

/** LUTs of fit features under fitted weights (rounded). */
export function featureLuts(f: Record<LutFitPart, number>, fit: LutFit): number {
  return Math.round(LUT_FIT_PARTS.reduce((s, k) => s + fit[k] * f[k], 0));
}

/**
 * The LUT fit to yosys synth_xilinx: `fitCalibration` on the committed synthesis results
 * (CALIBRATION_DATA, the sweep of bench/synth-configs.mjs) without the held-out entries, as
 * `node bench/synth-fit.mjs` prints it; test/backends/synth/calibrate.test.ts checks that these
 * numbers are that fit. Errors and residuals: docs/fpga-results.md.
 */
export const YOSYS_LUT_FIT: Readonly<LutFit> = Object.freeze({ base: 81.3678, lanes: 1.1529, combine: 0.5198, memory: 2.7095 });

/**
 * Parts of the fitted ASIC estimate of a unit synthesized whole, its memories as gates (the
 * calibration sweep's flow: abc's default script, no macros):
 * - `logic`: the unit's logic under the whole-design estimate's structural model
 *   (stage-area.ts `unitLogicFeatures` priced by OSU018_UNIT_LOGIC_FIT: µm² of the design
 *   flow, memories as macros, abc -fast); its weight is how much of that the whole unit keeps
 *   (abc's default script maps smaller, and a constant ROM folded into the lanes spares logic
 *   that a macro's unknown output needs);
 * - `romBit`, `ramBit`: the bits of its ROMs (weights, masks, multipliers, thresholds) and of
 *   its input buffer, built from gates and flip-flops here.
 */
export const AREA_FIT_PARTS = ['logic', 'romBit', 'ramBit'] as const;
export type AreaFitPart = (typeof AREA_FIT_PARTS)[number];
export type AreaFit = Record<AreaFitPart, number>;

/** The memories whose bits a unit's area features count (the Verilog unit's ROM and RAM instances). */
export type UnitMemory = Pick<MemoryInstance, 'kind' | 'width' | 'depth'>;

/** A unit's ASIC fit features; `memories`: the unit's memory instances (default: those its Verilog module builds). */
export function unitAreaFeatures(u: UnitStage, memories?: readonly UnitMemory[]): Record<AreaFitPart, number> {
  memories ??= unitModule(u).memories;
  return { logic: unitLogicArea(unitLogicFeatures(u), OSU018_UNIT_LOGIC_FIT), romBit: memoryBits(memories, 'rom'), ramBit: memoryBits(memories, 'ram') };
}

/** µm² of a unit's ASIC fit features under fitted weights. */
export function featureArea(f: Readonly<Record<AreaFitPart, number>>, fit: Readonly<AreaFit>): number {
  return AREA_FIT_PARTS.reduce((s, k) => s + fit[k] * f[k], 0);
}

/**
 * The ASIC fit to the OSU 0.18 µm library (yosys + abc's default script, a unit's memories as
 * gates): `fitCalibration` on CALIBRATION_DATA without the held-out entries, as
 * `node bench/synth-fit.mjs` prints it (docs/asic-results.md).
 */
export const OSU018_AREA_FIT: Readonly<AreaFit> = Object.freeze({ logic: 0.5094, romBit: 5.4838, ramBit: 190.8632 });

/** The process node (nm) the default technology's area figures are for (tech.ts: 28-nm-class). */
export const DEFAULT_TECH_NODE_NM = 28;

/** DEFAULT_TECH's areas scaled to another node by (node / 28 nm)² (energies unchanged): the naive transfer the calibration checks. */
export function nodeScaledTech(nodeNm: number, tech: AsicTech = DEFAULT_TECH): AsicTech {
  const s = (nodeNm / DEFAULT_TECH_NODE_NM) ** 2;
  const area = Object.fromEntries(UNIT_KINDS.map((k) => [k, tech.area[k] * s])) as UnitCosts;
  return { ...tech, name: `${tech.name}@${nodeNm}nm`, node: `${tech.node}, areas × (${nodeNm}/${DEFAULT_TECH_NODE_NM})²`, area };
}

/**
 * The factor that carries DEFAULT_TECH's per-operation energies to another node and supply,
 * naively: switched capacitance ∝ node, E ∝ C·V², so (node / 28 nm) · (V / 0.9 V)².
 * At 180 nm and 1.8 V (OSU 0.18 µm): 25.7.
 */
export function nodeEnergyScale(nodeNm: number, voltage: number, tech: AsicTech = DEFAULT_TECH): number {
  return (nodeNm / DEFAULT_TECH_NODE_NM) * (voltage / tech.voltage) ** 2;
}

/** The asic backend's dynamic energy per frame (µJ) of one unit folded to its own cycles per frame, with `tech`'s energies. */
export function asicUnitEnergyUj(u: UnitStage, tech: AsicTech = DEFAULT_TECH): number {
  const cycles = u.reps * (u.mh / u.pe) * (u.mw / u.simd);
  return estimateAsic([asicUnitWork(u)], { ...tech, foldCycles: Math.max(1, Math.round(cycles)) }).energyPerFrameUj;
}

/** The asic backend's work item for a unit configuration (its weights' bit histogram, terms, accumulator and output). */
export function asicUnitWork(u: UnitStage): AsicLayerWork {
  const w = u.weight;
  const params = u.mh * u.mw;
  let weightBits: number[];
  if (w.kind === 'binary') {
    const d = planeStats(w).density;
    // nested planes: params with ≥ k bits = density[k-1]·params
    weightBits = d.map((dk, k) => Math.round((dk - (d[k + 1] ?? 0)) * params));
  } else {
    weightBits = new Array<number>(w.bits).fill(0);
    weightBits[w.bits - 1] = params;
  }
  const entry = u.in.entry;
  const fixedIn = entry.kind === 'fixed';
  const aBits = fixedIn ? entry.bits : entry.planes;
  const act = u.activation;
  const output: AsicLayerWork['output'] =
    act.kind === 'threshold' ? { kind: 'thresholds', count: Math.max(0, ...act.thresholds.map((t) => t.length)) } : { kind: 'requantize', bits: act.outBits };
  return {
    name: u.name,
    kind: u.source === 'conv' ? 'conv' : 'fully-connected',
    weightBits,
    weightEncoding: w.kind === 'binary' ? 'planes' : 'fixed',
    activation: { source: fixedIn ? 'network-input' : 'binarized', encoding: fixedIn ? 'fixed' : 'planes', avg: aBits, max: aBits },
    outputPositions: u.reps,
    rows: u.mh,
    cols: u.mw,
    accumulatorBits: u.accBits,
    accumulatorsPerOutput: u.terms.length,
    output,
  };
}

/** Unit counts per kind of a unit configuration under the asic model, folded to the unit's own cycles per frame. */
export function asicUnitTally(u: UnitStage): UnitCosts {
  const cycles = u.reps * (u.mh / u.pe) * (u.mw / u.simd);
  const e = estimateAsic([asicUnitWork(u)], { ...DEFAULT_TECH, foldCycles: Math.max(1, Math.round(cycles)) });
  return { ...e.layers[0]!.units };
}

/** Σ units · area of a tally in a technology, µm². */
export function tallyArea(t: UnitCosts, area: UnitCosts): number {
  return UNIT_KINDS.reduce((s, k) => s + t[k] * area[k], 0);
}

// ------------------------------------------------------------------------------------------
// The fit from the committed synthesis results
// ------------------------------------------------------------------------------------------

/** Where the sweep's synthesis results are committed (bench/synth.mjs writes it; the fit and its test read it). */
export const CALIBRATION_DATA = 'fixtures/synth/calibration.json';

/** The key of an emitted unit design's files (sha256 of name and text of each, by name; 16 hex digits): CalibrationEntry.design, and the unit-macros cache's key. */
export function designHash(files: ReadonlyMap<string, string>): string {
  const h = crypto.createHash('sha256');
  // the default sort (of the entries as strings): the order the committed keys were made with
  for (const [k, v] of [...files].sort()) h.update(k).update('\0').update(v).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** One synthesized unit configuration of the calibration sweep (an entry of CALIBRATION_DATA). */
export interface CalibrationEntry {
  id: string;
  config: UnitConfig;
  /** Not used by the fit; its error is the held-out error. */
  holdout: boolean;
  /** sha256 (16 hex digits) of the emitted design's files: a different emitter output makes the entry stale. */
  design: string;
  xilinx: { luts: number; lutMemory: number; ffs: number; carry: number; dsp: number; bram18: number; depth?: number };
  asic: { areaUm2: number; cells: number; ffs: number; depth?: number };
}

export interface CalibrationData {
  format: 'hbnn-calibration/1';
  yosys: string;
  liberty: string;
  entries: CalibrationEntry[];
}

/** An entry with the estimators' view of its configuration (the LUT estimate's parts, the ASIC fit features, the asic unit counts). */
export interface CalibrationRow extends CalibrationEntry {
  estLuts: number;
  features: Record<LutFitPart, number>;
  areaFeatures: Record<AreaFitPart, number>;
  tally: UnitCosts;
}

/** The estimators' view of an entry's configuration (cheap: the unit's Verilog module is built for its memory list, no design is emitted). */
export function calibrationRow(e: CalibrationEntry): CalibrationRow {
  const unit = unitStageOf(e.config);
  const est = stageEstimate(unit);
  return { ...e, estLuts: est.luts, features: lutFeatures(est), areaFeatures: unitAreaFeatures(unit), tally: asicUnitTally(unit) };
}

export interface CalibrationFit {
  /** LUT = Σ c_k · part_k (YOSYS_LUT_FIT), 4 decimals. */
  lut: LutFit;
  /** Weights of the ASIC fit features (OSU018_AREA_FIT), 4 decimals. */
  area: AreaFit;
  train: string[];
  heldOut: string[];
  /** Mean absolute relative errors (fractions). */
  mae: { lutFinnAll: number; lutTrain: number; lutHeldOut: number; areaScaledAll: number; areaTrain: number; areaHeldOut: number };
}

const roundTo = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;

/**
 * The fit of both estimators to synthesized units: non-negative least squares on the relative
 * error over the entries not held out (LUTs: the estimate's parts; µm²: the unit's structural logic and memory bits),
 * rounded as committed in calibrate.ts, with the errors on the fitted and held-out entries.
 */
export function fitCalibration(rows: readonly CalibrationRow[], nodeNm = 180): CalibrationFit {
  const train = rows.filter((r) => !r.holdout);
  const held = rows.filter((r) => r.holdout);
  if (train.length === 0) fail(ErrorCodes.INTERNAL, 'fitCalibration: no entries to fit');
  const lutCoef = fitNonNegative(train.map((r) => LUT_FIT_PARTS.map((k) => r.features[k])), train.map((r) => r.xilinx.luts));
  const lut = Object.fromEntries(LUT_FIT_PARTS.map((k, i) => [k, roundTo(lutCoef[i]!, 4)])) as LutFit;
  const areaCoef = fitNonNegative(train.map((r) => AREA_FIT_PARTS.map((k) => r.areaFeatures[k])), train.map((r) => r.asic.areaUm2));
  const area = Object.fromEntries(AREA_FIT_PARTS.map((k, i) => [k, roundTo(areaCoef[i]!, 4)])) as AreaFit;
  const scaled = nodeScaledTech(nodeNm).area;
  const lutErr = (sel: readonly CalibrationRow[]): number => meanAbsRelError(sel.map((r) => featureLuts(r.features, lut)), sel.map((r) => r.xilinx.luts));
  const areaErr = (sel: readonly CalibrationRow[]): number => meanAbsRelError(sel.map((r) => featureArea(r.areaFeatures, area)), sel.map((r) => r.asic.areaUm2));
  return {
    lut,
    area,
    train: train.map((r) => r.id),
    heldOut: held.map((r) => r.id),
    mae: {
      lutFinnAll: meanAbsRelError(rows.map((r) => r.estLuts), rows.map((r) => r.xilinx.luts)),
      lutTrain: lutErr(train),
      lutHeldOut: lutErr(held),
      areaScaledAll: meanAbsRelError(rows.map((r) => tallyArea(r.tally, scaled)), rows.map((r) => r.asic.areaUm2)),
      areaTrain: areaErr(train),
      areaHeldOut: areaErr(held),
    },
  };
}

/** Where the per-instance xilinx results of the line-buffered stages are committed (bench/synth-line-buffer-fit.mjs). */
export const LINE_BUFFER_DATA = 'fixtures/synth/line-buffer-luts.json';

/** One synthesized window or max-pool stage (an entry of LINE_BUFFER_DATA). */
export interface LineBufferEntry {
  /** design / stage instance. */
  id: string;
  /** hbnn_swu or hbnn_maxpool, and the parameters hbnn_top gives it. */
  module: string;
  params: Record<string, string>;
  /** Not in the fit; its error is the held-out error. */
  holdout: boolean;
  /** yosys synth_xilinx: LUTs (logic + memory), of them as memory, BRAM18. */
  luts: number;
  lutMemory: number;
  bram18: number;
}

/** The geometry of a hbnn_swu / hbnn_maxpool instance from its Verilog parameters. */
export function lineBufferGeometry(module: string, params: Readonly<Record<string, string>>): LineBufferGeometry {
  const p = (k: string): number => {
    const v = Number(params[k]);
    if (!Number.isInteger(v)) fail(ErrorCodes.INTERNAL, `${module} without integer parameter ${k}`);
    return v;
  };
  const kind = module === 'hbnn_swu' ? 'window' : module === 'hbnn_maxpool' ? 'maxpool' : fail(ErrorCodes.INTERNAL, `not a line-buffered stage module: ${module}`);
  return { kind, eb: p('EB'), c: p('C'), w: p('W'), kh: p('KH'), kw: p('KW'), sh: p('SH'), dh: p('DH'), ...(kind === 'window' ? { simd: p('SIMD') } : {}) };
}

/**
 * The line-buffer LUT fit: the memory part (xilinxMemory, the window's SRLs) as counted, the
 * other parts' LUTs per feature by non-negative least squares on the relative error over the
 * entries not held out (to 0.001).
 */
export function fitLineBufferLuts(entries: readonly LineBufferEntry[]): { fit: Record<LineBufferLutPart, number>; train: string[]; heldOut: string[]; mae: { train: number; heldOut: number } } {
  const rows = entries.map((e) => ({ e, ...lineBufferLutFeatures(lineBufferGeometry(e.module, e.params)) }));
  const train = rows.filter((r) => !r.e.holdout);
  const held = rows.filter((r) => r.e.holdout);
  if (!train.length) fail(ErrorCodes.INTERNAL, 'fitLineBufferLuts: no entries to fit');
  const coef = fitNonNegative(
    train.map((r) => LINE_BUFFER_LUT_PARTS.map((k) => r.features[k])),
    train.map((r) => r.e.luts - r.memory.luts),
  );
  const fit = Object.fromEntries(LINE_BUFFER_LUT_PARTS.map((k, i) => [k, Math.round(coef[i]! * 1000) / 1000])) as Record<LineBufferLutPart, number>;
  const err = (sel: typeof rows): number => meanAbsRelError(sel.map((r) => lineBufferStageCost(lineBufferGeometry(r.e.module, r.e.params), fit).luts), sel.map((r) => r.e.luts));
  return { fit, train: train.map((r) => r.e.id), heldOut: held.map((r) => r.e.id), mae: { train: err(train), heldOut: err(held) } };
}
