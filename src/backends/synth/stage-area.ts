/**
 * The ASIC area of a whole Verilog design, estimated (docs/asic-results.md#whole-design-estimate):
 * the asic backend's unit-count model prices the matrix-vector units; this adds what it leaves
 * out, the way the Verilog describes it:
 *
 * - **Memories** (the units' weight, mask, multiplier, threshold and bias ROMs, their input
 *   buffers, the line buffers): macros, priced per bit by the same model as the synthesized
 *   designs' memory column (memory.ts), from the design's memory list. The unit-count model's
 *   own weight-bit term (`sramBit`, fitted to units whose memories were synthesized as logic)
 *   is left out for them.
 * - **The other stages** (sliding windows, max pools, width converters, element-wise maps, the
 *   scaling layer, the argmax): a linear model of the registers and datapath each stage
 *   module builds from its parameters (`stageAreaFeatures`), with areas per feature fitted to
 *   per-stage synthesis on the OSU 0.18 µm cells (`OSU018_STAGE_FIT`, the fit of
 *   fixtures/synth/stages.json by `fitStageArea`; bench/synth-stage-fit.mjs).
 * - **The units' logic**: what each unit's Verilog builds, counted from its parameters
 *   (`unitLogicFeatures`: lanes, accumulator, comparator, multiplier and output bits), priced by
 *   areas fitted to the calibration sweep's units synthesized the way the designs are, memories
 *   as macros (`OSU018_UNIT_LOGIC_FIT`, `fitUnitLogic` of fixtures/synth/unit-logic.json;
 *   bench/synth-unit-macros.mjs). The asic model's unit counts (calibrate.ts) fit these units
 *   far worse (28% / 23% fitted / held out against 2.5% / 7.8% on the first 13 units): they are
 *   folded to a unit's throughput, not counted at its PE and SIMD. The calibration's ASIC fit
 *   (calibrate.ts OSU018_AREA_FIT, units synthesized whole, memories as gates) builds on this
 *   model: its logic feature is `unitLogicArea` under OSU018_UNIT_LOGIC_FIT.
 * - **abc's script.** Both fits are on `abc -fast` runs, as the whole designs are mapped
 *   (docs/synthesis.md#fast-abc-mapping); for abc's default script the logic is divided by
 *   ABC_FAST_AREA_FACTOR (-fast measured 1.434× the default script's area on the calibration units).
 *
 * Stage modules this model does not know (the branch and pooling ops of ops.ts: dup, add,
 * concat, average pools, grouped windows, thresholds, Clip, LeakyRelu) are listed as unpriced.
 */
import { fail, ErrorCodes } from '../../errors.js';
import type { MemoryInstance } from '../verilog/memories.js';
import { fitNonNegative, meanAbsRelError } from './least-squares.js';
import type { UnitConfig } from '../verilog/unit-design.js';
import { planesPerPe } from '../vivado-hls/emit/stages.js';
import { thresholdLayout } from '../vivado-hls/emit/weights.js';
import type { UnitStage } from '../vivado-hls/types.js';
import { MEMORY_MODEL_018, priceMemories, type MemoryAreaModel } from './memory.js';

/** Area parts of a non-unit stage (µm² each per unit of the feature). */
export const STAGE_AREA_PARTS = ['windowCtrl', 'poolCtrl', 'regBit', 'poolBit', 'dwcSide', 'reluBit', 'tableBit', 'mulBit', 'argmaxBit'] as const;
export type StageAreaPart = (typeof STAGE_AREA_PARTS)[number];
export type StageAreaFit = Record<StageAreaPart, number>;

/**
 * The features of one stage instance, from its module and the parameters hbnn_top gives it:
 * - `windowCtrl`, `poolCtrl`: 1 per sliding-window (hbnn_swu) or max-pool (hbnn_maxpool)
 *   stage: the line-buffer schedule (integer counters, window address arithmetic);
 * - `regBit`: register bits that load or shift by a constant: the window register
 *   (KH·KW·C·EB) and the width converter's split (IN·EB) and gather (OUT·EB) registers;
 * - `poolBit`: the max pool's per-channel maxima (C·EB), each bit a register, a comparator
 *   slice and a mux;
 * - `dwcSide`: 1 per side of a width converter that is a register (its piece counter);
 * - `reluBit`, `tableBit`: element-wise maps, BEAT·IEB input bits: the fixed-point ReLU (a sign
 *   test and a mux per bit) and the bit-plane level tables (a few gates per code);
 * - `mulBit`: the scaling layer's constant multiply: BEAT·IEB·bits(MULT) partial-product bits;
 * - `argmaxBit`: the argmax's BEAT·EB compared bits;
 * - a FIFO (hbnn_fifo, on a unit's input) is priced as DEPTH·W `regBit` and one `dwcSide`: a
 *   structural guess, not fitted (none synthesized yet).
 * `undefined` for a module the model does not price.
 */
export function stageAreaFeatures(module: string, params: Readonly<Record<string, string>>): Record<StageAreaPart, number> | undefined {
  const p = (k: string): number => verilogNumber(params[k] ?? fail(ErrorCodes.INTERNAL, `stage module ${module} without parameter ${k}`));
  const f = Object.fromEntries(STAGE_AREA_PARTS.map((k) => [k, 0])) as Record<StageAreaPart, number>;
  switch (module) {
    case 'hbnn_swu':
      f.windowCtrl = 1;
      f.regBit = p('KH') * p('KW') * p('C') * p('EB');
      return f;
    case 'hbnn_maxpool':
      f.poolCtrl = 1;
      f.poolBit = p('C') * p('EB');
      return f;
    case 'hbnn_dwc': {
      const eb = p('EB');
      const g = p('G');
      for (const side of [p('IN'), p('OUT')]) {
        if (side === g) continue; // a plain wire
        f.dwcSide += 1;
        f.regBit += side * eb;
      }
      return f;
    }
    case 'hbnn_relu':
      f.reluBit = p('BEAT') * p('IEB');
      return f;
    case 'hbnn_table':
      f.tableBit = p('BEAT') * p('IEB');
      return f;
    case 'hbnn_scale': {
      const mult = params['MULT'] ?? fail(ErrorCodes.INTERNAL, 'hbnn_scale without MULT');
      f.mulBit = p('BEAT') * p('IEB') * bitLength(verilogBigInt(mult));
      return f;
    }
    case 'hbnn_argmax':
      f.argmaxBit = p('BEAT') * p('EB');
      return f;
    case 'hbnn_fifo':
      // not in the fit (no synthesized FIFO yet): its slots as register bits, its pointers and count as a width converter's counter side
      f.regBit = p('W') * p('DEPTH');
      f.dwcSide = 1;
      return f;
    default:
      return undefined;
  }
}

/** µm² of a stage's features under a fit. */
export function stageArea(f: Readonly<Record<StageAreaPart, number>>, fit: Readonly<StageAreaFit>): number {
  return STAGE_AREA_PARTS.reduce((s, k) => s + f[k] * fit[k], 0);
}

/** Bits of |v| (0 for 0). */
function bitLength(v: bigint): number {
  let x = v < 0n ? -v : v;
  let n = 0;
  while (x > 0n) {
    x >>= 1n;
    n++;
  }
  return n;
}

/** A Verilog constant as hbnn_top writes them: `20`, `8'hc0`, `64'sd2673910`, `-64'sd5`. */
export function verilogBigInt(text: string): bigint {
  const t = text.trim().replace(/_/g, '');
  const neg = t.startsWith('-');
  const body = neg ? t.slice(1) : t;
  const m = /^(?:\d+)?'s?([bodh])([0-9a-fA-F]+)$/.exec(body);
  let v: bigint;
  if (m) v = BigInt(`${{ b: '0b', o: '0o', d: '', h: '0x' }[m[1] as 'b' | 'o' | 'd' | 'h']}${m[2]}`);
  else if (/^\d+$/.test(body)) v = BigInt(body);
  else return fail(ErrorCodes.INTERNAL, `not a Verilog number: ${text}`);
  return neg ? -v : v;
}

function verilogNumber(text: string): number {
  return Number(verilogBigInt(text));
}

/** abc -fast's area over abc's default script, measured on 14 calibration units (bench/synth-abc-fast.mjs: 1.373-1.523×). */
export const ABC_FAST_AREA_FACTOR = 1.434;

/** Areas per stage feature fitted to per-stage synthesis (OSU 0.18 µm, abc -fast): `fitStageArea` of fixtures/synth/stages.json. */
export const OSU018_STAGE_FIT: Readonly<StageAreaFit> = Object.freeze({ windowCtrl: 27666.3, poolCtrl: 20427.1, regBit: 167.5, poolBit: 276.7, dwcSide: 11351.6, reluBit: 69.8, tableBit: 16, mulBit: 185.7, argmaxBit: 617.3 });

/** One synthesized stage of the stage fit (an entry of STAGE_DATA). */
export interface StageEntry {
  /** design / stage instance. */
  id: string;
  module: string;
  params: Record<string, string>;
  /** Not in the fit; its error is the held-out error. */
  holdout: boolean;
  /** Logic µm² (OSU 0.18 µm, abc -fast; memories are macros, not included). */
  areaUm2: number;
}

/** Where the per-stage synthesis results of the stage fit are committed. */
export const STAGE_DATA = 'fixtures/synth/stages.json';

export interface StageFit {
  fit: StageAreaFit;
  train: string[];
  heldOut: string[];
  /** Mean absolute relative errors (fractions), stages of at least 100 µm². */
  mae: { train: number; heldOut: number };
}

/** The stage fit: non-negative least squares on the relative error over the entries not held out (areas rounded to 0.1 µm²). */
export function fitStageArea(entries: readonly StageEntry[]): StageFit {
  const rows = entries.map((e) => ({ e, f: stageAreaFeatures(e.module, e.params) ?? fail(ErrorCodes.INTERNAL, `stage fit: module ${e.module} is not priced`) })).filter((r) => r.e.areaUm2 >= 100); // (the pass-through input stage is 0)
  const train = rows.filter((r) => !r.e.holdout);
  const held = rows.filter((r) => r.e.holdout);
  if (!train.length) fail(ErrorCodes.INTERNAL, 'fitStageArea: no entries to fit');
  const coef = fitNonNegative(train.map((r) => STAGE_AREA_PARTS.map((k) => r.f[k])), train.map((r) => r.e.areaUm2));
  const fit = Object.fromEntries(STAGE_AREA_PARTS.map((k, i) => [k, Math.round(coef[i]! * 10) / 10])) as StageAreaFit;
  const err = (sel: typeof rows): number => meanAbsRelError(sel.map((r) => stageArea(r.f, fit)), sel.map((r) => r.e.areaUm2));
  return { fit, train: train.map((r) => r.e.id), heldOut: held.map((r) => r.e.id), mae: { train: err(train), heldOut: err(held) } };
}

/** Parts of the structural unit-logic model (`unitLogicFeatures`). */
export const UNIT_STRUCT_PARTS = ['base', 'laneBit', 'accBit', 'cmpBit', 'mulBit', 'cmulBit', 'outBit'] as const;
export type UnitStructPart = (typeof UNIT_STRUCT_PARTS)[number];

/**
 * The logic a unit's Verilog builds (unit.ts), counted from its parameters, memories excluded.
 * A term counts at a PE only when the PE has its weight plane (row bit maps: the Verilog's
 * HAS_W guards make the other PEs' terms 0, which synthesis removes); L = Σ_PE live terms.
 * `base` 1 (control, counters); `laneBit` L·SIMD lanes, × the input entry bits for fixed-point
 * inputs (XNOR-popcount lanes for bit-plane inputs; ± adders or bit-plane popcounts of IEB bits
 * for fixed point); `accBit` L·XB accumulator bits (register and adder); `cmpBit` PE·NT·TB
 * threshold comparator bits; `mulBit` Σ_live kb_t·XB partial-product bits of the per-row
 * multipliers (K_t varying by row); `cmulBit` Σ_live popcount(K_t)·(XB + bits(K_t)): the
 * shifted adds of a constant K_t (the same for every row), one per set bit (on the FPGA DSPs,
 * on the ASIC gates); `outBit` PE·OEB output register bits.
 */
export function unitLogicFeatures(u: UnitStage): Record<UnitStructPart, number> {
  const a = u.arith;
  const ieb = u.in.entry.kind === 'binary' ? 1 : u.in.entry.bits;
  const oeb = u.out.entry.kind === 'binary' ? 2 * u.out.entry.planes : u.out.entry.bits;
  let cmp = 0;
  if (u.activation.kind === 'threshold') {
    const l = thresholdLayout(u);
    cmp = l.count * l.bits;
  }
  const guards = planesPerPe(u);
  let live = 0;
  let mul = 0;
  let cmul = 0;
  for (let p = 0; p < u.pe; p++) {
    u.terms.forEach((term, t) => {
      if (term.w > 0 && guards.get(term.w)?.[p] === false) return;
      live++;
      if (a.trivial) return;
      if (!a.kConst[t]) mul += a.kBits[t]! * a.xBits;
      else {
        const k = BigInt(a.k[t]![0]!);
        cmul += popCount(k) * (a.xBits + bitLength(k));
      }
    });
  }
  return { base: 1, laneBit: live * u.simd * ieb, accBit: live * a.xBits, cmpBit: u.pe * cmp, mulBit: mul, cmulBit: cmul, outBit: u.pe * oeb };
}

/** Set bits of |v|. */
function popCount(v: bigint): number {
  let x = v < 0n ? -v : v;
  let n = 0;
  while (x > 0n) {
    n += Number(x & 1n);
    x >>= 1n;
  }
  return n;
}

export type UnitLogicFit = Record<UnitStructPart, number>;

/**
 * µm² per structural part of a unit's logic with its memories as macros, OSU 0.18 µm, abc -fast:
 * `fitUnitLogic` of fixtures/synth/unit-logic.json (the calibration sweep's units synthesized
 * that way by bench/synth-unit-macros.mjs).
 */
export const OSU018_UNIT_LOGIC_FIT: Readonly<UnitLogicFit> = Object.freeze({ base: 27759.079, laneBit: 445.267, accBit: 365.307, cmpBit: 0, mulBit: 410.43, cmulBit: 97.578, outBit: 0 });

/** Where the unit-logic synthesis results are committed. */
export const UNIT_LOGIC_DATA = 'fixtures/synth/unit-logic.json';

/** One unit synthesized with its memories as macros (an entry of UNIT_LOGIC_DATA): a calibration unit (`config`) or a unit of a synthesized design (`design`). */
export interface UnitLogicEntry {
  id: string;
  config?: UnitConfig;
  design?: string;
  /** unitLogicFeatures of the unit (for a calibration unit: of unitStageOf(config)). */
  features: Record<UnitStructPart, number>;
  holdout: boolean;
  /** Logic µm² (OSU 0.18 µm, abc -fast, memories as black boxes). */
  areaUm2: number;
}

/** µm² of a unit's logic under a fit. */
export function unitLogicArea(f: Readonly<Record<UnitStructPart, number>>, fit: Readonly<UnitLogicFit>): number {
  return UNIT_STRUCT_PARTS.reduce((s, k) => s + f[k] * fit[k], 0);
}

/** The unit-logic fit: non-negative least squares on the relative error over the entries not held out (areas to 0.001 µm²). */
export function fitUnitLogic(entries: readonly UnitLogicEntry[]): { fit: UnitLogicFit; train: string[]; heldOut: string[]; mae: { train: number; heldOut: number } } {
  const rows = entries.map((e) => ({ e, t: e.features }));
  const train = rows.filter((r) => !r.e.holdout);
  const held = rows.filter((r) => r.e.holdout);
  if (!train.length) fail(ErrorCodes.INTERNAL, 'fitUnitLogic: no entries to fit');
  const coef = fitNonNegative(train.map((r) => UNIT_STRUCT_PARTS.map((k) => r.t[k])), train.map((r) => r.e.areaUm2));
  const fit = Object.fromEntries(UNIT_STRUCT_PARTS.map((k, i) => [k, Math.round(coef[i]! * 1000) / 1000])) as UnitLogicFit;
  const err = (sel: typeof rows): number => meanAbsRelError(sel.map((r) => unitLogicArea(r.t, fit)), sel.map((r) => r.e.areaUm2));
  return { fit, train: train.map((r) => r.e.id), heldOut: held.map((r) => r.e.id), mae: { train: err(train), heldOut: err(held) } };
}

/** What the whole-design estimate reads of a lowered design. */
export interface DesignAreaInput {
  /** Per matrix-vector unit: its instance and its stage (unitLogicFeatures). */
  units: readonly { instance: string; stage: UnitStage }[];
  /** Every stage instance of the top (units included: they are skipped here). */
  stages: readonly { instance: string; module: string; params: Readonly<Record<string, string>> }[];
  memories: readonly Pick<MemoryInstance, 'path' | 'kind' | 'width' | 'depth'>[];
}

export interface DesignAreaEstimate {
  /** µm² per stage instance: logic (units: the unit-count model without its weight-bit term; other stages: the stage model) and memory macros under the instance. */
  stages: { instance: string; logicUm2?: number; memoryUm2: number }[];
  unitLogicUm2: number;
  stageLogicUm2: number;
  memoryUm2: number;
  totalUm2: number;
  /** Stage instances whose module the model does not price (not in the total). */
  unpriced: string[];
}

/**
 * The whole design's area: the units' logic (their unit counts under `unitLogic`, the memories
 * left to the macros), the other stages under `stageFit`, the memories under `memory`. Both
 * fits are abc -fast figures; `abc: 'default'` divides the logic by ABC_FAST_AREA_FACTOR.
 */
export function estimateDesignArea(d: DesignAreaInput, o: { unitLogic?: Readonly<UnitLogicFit>; stageFit?: Readonly<StageAreaFit>; memory?: MemoryAreaModel; abc?: 'fast' | 'default' } = {}): DesignAreaEstimate {
  const scale = (o.abc ?? 'fast') === 'fast' ? 1 : 1 / ABC_FAST_AREA_FACTOR;
  const unitLogic = o.unitLogic ?? OSU018_UNIT_LOGIC_FIT;
  const stageFit = o.stageFit ?? OSU018_STAGE_FIT;
  const model = o.memory ?? MEMORY_MODEL_018;
  const memUnder = (instance: string): number => priceMemories(d.memories.filter((m) => m.path.startsWith(`${instance}.`)), model).areaUm2 ?? 0;
  const units = new Map(d.units.map((u) => [u.instance, u]));
  const out: DesignAreaEstimate = { stages: [], unitLogicUm2: 0, stageLogicUm2: 0, memoryUm2: priceMemories(d.memories, model).areaUm2 ?? 0, totalUm2: 0, unpriced: [] };
  for (const s of d.stages) {
    const u = units.get(s.instance);
    let logic: number | undefined;
    if (u) {
      logic = scale * unitLogicArea(unitLogicFeatures(u.stage), unitLogic);
      out.unitLogicUm2 += logic;
    } else {
      const f = stageAreaFeatures(s.module, s.params);
      if (f) {
        logic = scale * stageArea(f, stageFit);
        out.stageLogicUm2 += logic;
      } else out.unpriced.push(s.instance);
    }
    out.stages.push({ instance: s.instance, ...(logic !== undefined ? { logicUm2: logic } : {}), memoryUm2: memUnder(s.instance) });
  }
  out.totalUm2 = out.unitLogicUm2 + out.stageLogicUm2 + out.memoryUm2;
  return out;
}
