/**
 * Synthesis of a lowered Verilog design (`lower --backend verilog --synth xilinx|asic`): the
 * design's sources (not its testbench) synthesized whole and per unit, each unit beside the
 * estimators' figures for the same hardware: the vivado-hls estimate (FINN-R constants, and
 * re-weighted by the fit to yosys), the asic backend's unit counts priced with the default
 * technology scaled to 180 nm, and the unit's structural estimate fitted to the OSU 0.18 µm
 * library (calibrate.ts OSU018_AREA_FIT) and the whole-design estimate (stage-area.ts).
 */
import type { FpgaEstimate, UnitStage } from '../vivado-hls/types.js';
import { asicUnitTally, featureArea, fittedLuts, nodeScaledTech, tallyArea, unitAreaFeatures, OSU018_AREA_FIT, YOSYS_LUT_FIT } from './calibrate.js';
import { DEFAULT_LIBERTY } from './liberty.js';
import { renderSynthMarkdown, type SynthEstimate } from './render.js';
import { synthesize } from './index.js';
import type { SynthMemory, SynthOptions, SynthReport } from './types.js';
import { estimateDesignArea } from './stage-area.js';
import { MEMORY_MODULES } from '../verilog/memories.js';

/** What synthesis needs of a lowered Verilog design (the verilog backend's result). */
export interface LoweredVerilog {
  files: ReadonlyMap<string, string>;
  top: string;
  /** The synthesizable sources (no testbench), in reading order. */
  sources: readonly string[];
  units: readonly { module: string; layer: string; instance?: string; stage: UnitStage }[];
  /** Its memories (ROMs, input buffers, line buffers): asic synthesis keeps them as macros and prices them (memory.ts). */
  memories?: readonly SynthMemory[];
  /** The top's stage instances (units included) with their modules and parameters: the whole-design area estimate prices the other stages from them (stage-area.ts). */
  stages?: readonly { instance: string; module: string; params: Readonly<Record<string, string>> }[];
  /** The vivado-hls estimate of the same folding. */
  estimates: FpgaEstimate;
}

export interface DesignSynthesis {
  report: SynthReport;
  /** The estimators' figures beside it, per unit name and 'total'. */
  estimates: SynthEstimate[];
  markdown: string;
}

/**
 * Synthesizes a lowered design whole and per unit (the units are named by their layer).
 * The testbench and other non-source files stay out; memory images go along. asic: the
 * memories (hbnn_rom, hbnn_ram) are macros by default (black boxes priced by memory.ts;
 * `macros: []` synthesizes them as logic).
 */
export async function synthesizeVerilog(v: LoweredVerilog, o: SynthOptions): Promise<DesignSynthesis> {
  const files = new Map<string, string>();
  const sources = new Set(v.sources);
  for (const [k, text] of v.files) if (sources.has(k) || !/\.(s?v|vh|f|json|md|txt)$/.test(k)) files.set(k, text);
  const macros = o.macros ?? (o.target === 'asic' ? [...MEMORY_MODULES] : undefined);
  const report = await synthesize(
    { files, top: v.top, units: v.units.map((u) => ({ name: u.layer, module: u.module, ...(u.instance ? { instance: u.instance } : {}) })), ...(v.memories ? { memories: v.memories } : {}) },
    { ...o, ...(macros ? { macros } : {}) },
  );
  const estimates = designEstimates(v, o);
  return { report, estimates, markdown: renderSynthMarkdown(report, estimates) };
}

/**
 * The estimators' figures for a lowered design, per unit (by layer) and 'total': the vivado-hls
 * LUTs (FINN-R and fitted); with the default library (asic), the units alone as the calibration
 * synthesizes them (memories as gates): the asic unit counts scaled from 28 nm, and the
 * structural estimate fitted to the library (their memories: the design's under the unit's
 * instance, else those the unit's module builds), and the whole-design estimate
 * (stage-area.ts: the units' and the other stages' logic by their structural models, the
 * memories as macros; `areaDesignUm2`, for the units and for the other stages by their
 * stage name, and in 'total'), for the abc script of `o`.
 */
export function designEstimates(v: Pick<LoweredVerilog, 'units' | 'estimates' | 'memories' | 'stages'>, o: Pick<SynthOptions, 'target' | 'liberty' | 'abc' | 'macros'>): SynthEstimate[] {
  const estimates: SynthEstimate[] = [];
  const defaultLib = o.target === 'asic' && (o.liberty === undefined || o.liberty === DEFAULT_LIBERTY);
  const scaled = nodeScaledTech(180).area;
  let areaScaled = 0;
  let areaFitted = 0;
  const instanceOf = (u: LoweredVerilog['units'][number]): string => u.instance ?? `u_${u.module}`;
  for (const u of v.units) {
    const st = v.estimates.stages.find((s) => s.stage === u.module);
    const e: SynthEstimate = { name: u.layer };
    if (st) {
      e.luts = st.luts;
      if (st.breakdown) e.lutsFitted = fittedLuts(st, YOSYS_LUT_FIT);
    }
    if (defaultLib) {
      const memories = v.memories?.filter((m) => m.path.startsWith(`${instanceOf(u)}.`));
      e.areaUm2 = tallyArea(asicUnitTally(u.stage), scaled);
      e.areaFittedUm2 = featureArea(unitAreaFeatures(u.stage, memories), OSU018_AREA_FIT);
      areaScaled += e.areaUm2;
      areaFitted += e.areaFittedUm2;
    }
    estimates.push(e);
  }
  let areaDesign: number | undefined;
  // with the memories as macros (the asic default; `macros: []` synthesizes them as logic, which this estimate does not model)
  if (defaultLib && v.stages && (o.macros === undefined || o.macros.length > 0)) {
    const d = estimateDesignArea(
      { units: v.units.map((u) => ({ instance: instanceOf(u), stage: u.stage })), stages: v.stages, memories: v.memories ?? [] },
      { abc: o.abc === 'fast' ? 'fast' : 'default' },
    );
    for (const s of d.stages) {
      if (s.logicUm2 === undefined) continue;
      const area = s.logicUm2 + s.memoryUm2;
      const unit = v.units.find((u) => instanceOf(u) === s.instance);
      const e = unit ? estimates.find((x) => x.name === unit.layer) : undefined;
      if (e) e.areaDesignUm2 = area;
      else estimates.push({ name: s.instance.replace(/^u_/, ''), areaDesignUm2: area });
    }
    if (!d.unpriced.length) areaDesign = d.totalUm2;
  }
  const unitLutsFitted = estimates.reduce((s, e) => s + (e.lutsFitted ?? 0), 0);
  const unitLuts = estimates.reduce((s, e) => s + (e.luts ?? 0), 0);
  estimates.push({
    name: 'total',
    luts: v.estimates.total.luts,
    // the fit re-weights the units; the other stages keep their estimate
    lutsFitted: Math.round(v.estimates.total.luts - unitLuts + unitLutsFitted),
    ...(defaultLib ? { areaUm2: areaScaled, areaFittedUm2: areaFitted } : {}),
    ...(areaDesign !== undefined ? { areaDesignUm2: areaDesign } : {}),
  });
  return estimates;
}
