/**
 * Switching-activity power of a lowered Verilog design on its testbench's images
 * (`lower --backend verilog --synth asic --power`; docs/synthesis.md, "Power of a design"):
 *
 * 1. each selected stage instance of hbnn_top (a unit's own module, or a stage module of
 *    hbnn_lib.v with the parameters hbnn_top gives it: `stageWrapper`, a module instantiating it
 *    as hbnn_top does) is mapped to the Liberty cells on its own (`mapToGates`, flattened);
 * 2. one Icarus Verilog run of the generated testbench (tb.v: the test images, classes and
 *    logits checked against the bit-level IR) carries every netlist as a shadow of its RTL
 *    instance, fed the instance's own input stream and compared with it on every cycle;
 * 3. each netlist's toggles over the window (end of reset → the last class) are priced with the
 *    Liberty file (`estimatePower`) and summed over the stages.
 *
 * Beside it, for the matrix-vector units, the asic backend's unit-count energy (28-nm default
 * technology) carried to the library's node and supply (`nodeEnergyScale`) at the same image rate.
 */
import { fail, ErrorCodes } from '../../errors.js';
import { formatCount } from '../../util/numbers.js';
import type { UnitStage } from '../vivado-hls/types.js';
import { LIB_FILE, TB_FILE, TB_MODULE, stageWrapper, type VerilogStage } from '../verilog/design.js';
import { printFile } from '../verilog/ast.js';
import { asicUnitEnergyUj, nodeEnergyScale } from './calibrate.js';
import { DEFAULT_LIBERTY, loadLiberty, resolveLiberty } from './liberty.js';
import { DEFAULT_TRANSITION_NS, estimatePower, mapToGates, netlistModel, simulateGates, type GateNetlist, type GateShadow, type PowerEstimate } from './power.js';

/** The format tag of power.json. */
export const POWER_FORMAT = 'hbnn-power/1';
/** The process node (nm) of the default library (OSU 0.18 µm), for carrying the unit-count energies to it. */
export const DEFAULT_LIBERTY_NODE_NM = 180;

/** What the power run needs of a lowered design (the verilog backend's result, its testbench built for the power images). */
export interface PowerProject {
  /** The project's files: design sources, memory images, tb.v and its vectors. */
  files: ReadonlyMap<string, string | Uint8Array>;
  /** The design sources in read order (sources.f), without the testbench. */
  sources: readonly string[];
  /** hbnn_top's stage instances (VerilogResult.stages). */
  stages: readonly VerilogStage[];
  /** The matrix-vector units (VerilogResult.units), for the unit-count model. */
  units: readonly { module: string; layer: string; stage: UnitStage }[];
  /** Images the testbench feeds. */
  images: number;
}

export interface DesignPowerOptions {
  /** Clock the power is reported at, MHz (the cycles simulated are clock cycles). */
  clockMhz: number;
  /** Liberty file (default OSU 0.18 µm); the cell models must be its Verilog models. */
  liberty?: string;
  cellModels?: string;
  transitionNs?: number;
  /** Simulate with the cell models' specify path delays (glitches, unfiltered); default false (zero-delay). */
  delays?: boolean;
  /** Names of the stages to map and simulate (default: every stage). */
  stages?: readonly string[];
  timeoutMs?: number;
  yosys?: string;
  iverilog?: string;
  vvp?: string;
  /** Progress: called before each yosys run and before the simulation. */
  onRun?: (what: string) => void;
}

/** Power in mW at the report's clock: dynamic = internal (cells' internal_power, outputs and input pins) + switching (½·C·V² of the pin loads). */
export interface PowerMw {
  internal: number;
  switching: number;
  dynamic: number;
  leakage: number;
  total: number;
}

export interface StagePower {
  name: string;
  kind: string;
  module: string;
  instance: string;
  cells: number;
  areaUm2: number;
  flipFlops: number;
  mw: PowerMw;
  /** Dynamic energy per image + leakage over the window's time per image, nJ. */
  energyPerImageNj: number;
  /** Toggles per image (all net bits) and the mean toggles per net bit per cycle (clock excluded). */
  togglesPerImage: number;
  activity: number;
  /** The pricing in full (energies in pJ over the window). */
  estimate: PowerEstimate;
  /** Rises and falls of each port bit over the window (LSB first). */
  ports: Record<string, { rise: number[]; fall: number[] }>;
  /** Units: the asic backend's unit-count energy for the same unit (28-nm default technology) and carried to the library's node. */
  model?: ModelPower;
  mapSeconds: number;
}

export interface ModelPower {
  energyPerImageNj28: number;
  /** × nodeEnergyScale. */
  energyPerImageNj: number;
  /** That energy at the simulated image rate, mW. */
  dynamicMw: number;
}

export interface DesignPower {
  format: typeof POWER_FORMAT;
  liberty: { file: string; name: string; voltage: number };
  clockMhz: number;
  images: number;
  /** Clock cycles of the window (end of reset → the last class). */
  cycles: number;
  transitionNs: number;
  delays: boolean;
  /** (node / 28 nm)·(V / 0.9 V)² applied to the unit-count energies. */
  nodeNm: number;
  energyScale: number;
  stages: StagePower[];
  /** Stages not simulated (not selected). */
  skipped: string[];
  total: { cells: number; areaUm2: number; mw: PowerMw; energyPerImageNj: number; model: ModelPower; modelUnits: number };
  seconds: { map: number; sim: number };
}

const r6 = (x: number): number => Number(x.toPrecision(6));

/**
 * Maps the selected stages to gates, simulates them beside the RTL on the testbench's images
 * and prices their toggles. TOOLCHAIN when a tool is missing or fails, a netlist disagrees with
 * its RTL instance on any cycle, or the testbench does not pass.
 */
export async function designPower(p: PowerProject, o: DesignPowerOptions): Promise<DesignPower> {
  const libFile = resolveLiberty(o.liberty);
  const lib = loadLiberty(libFile);
  if (o.stages) {
    const known = new Set(p.stages.map((s) => s.name));
    const unknown = o.stages.filter((s) => !known.has(s));
    if (unknown.length) fail(ErrorCodes.INVALID_OPTION, `no stage ${unknown.join(', ')} in the design; its stages: ${p.stages.map((s) => s.name).join(', ')}`, { option: 'stages' });
  }
  const chosen = p.stages.filter((s) => !o.stages || o.stages.includes(s.name));
  if (chosen.length === 0) fail(ErrorCodes.INVALID_OPTION, 'no stage to simulate', { option: 'stages' });
  const sources = new Set(p.sources);
  // each run reads the stage library and the file that defines its module; memory images go along
  const runFiles = (module: string): Map<string, string | Uint8Array> => {
    const out = new Map<string, string | Uint8Array>();
    for (const [k, v] of p.files) {
      if (k === TB_FILE || k.startsWith('tb_')) continue;
      if (!/\.s?v$/.test(k)) out.set(k, v);
      else if (sources.has(k) && (k === LIB_FILE || new RegExp(`^\\s*module\\s+${module}\\b`, 'm').test(typeof v === 'string' ? v : Buffer.from(v).toString('utf8')))) out.set(k, v);
    }
    return out;
  };
  const netlists: { stage: (typeof chosen)[number]; netlist: GateNetlist; seconds: number }[] = [];
  const t0 = performance.now();
  for (const s of chosen) {
    o.onRun?.(`yosys: stage ${s.name} (${s.module}) to ${lib.name} cells`);
    const t = performance.now();
    // the stage as hbnn_top instantiates it (its parameter expressions verbatim), synthesized as its own top
    const wrap = `${s.instance}__stage`;
    const files = runFiles(s.module);
    files.set(`${wrap}.v`, printFile(`${wrap}.v — generated by hbnn-onnx (gate-level power)`, [stageWrapper(s, wrap)]));
    const netlist = await mapToGates(
      { files, module: wrap },
      { ...(o.liberty ? { liberty: libFile } : {}), ...(o.yosys ? { yosys: o.yosys } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), name: `${s.instance}__gates` },
    );
    netlists.push({ stage: s, netlist, seconds: (performance.now() - t) / 1000 });
  }
  const mapSeconds = (performance.now() - t0) / 1000;
  o.onRun?.(`iverilog: ${p.images} image(s) through tb.v with ${netlists.length} gate-level netlist(s) beside the RTL`);
  const shadows: GateShadow[] = netlists.map((n) => ({ name: `g_${n.stage.name}`, instance: `${TB_MODULE}.dut.${n.stage.instance}`, netlist: n.netlist }));
  const sim = await simulateGates(
    {
      files: p.files,
      sources: [...p.sources, TB_FILE],
      tbTop: TB_MODULE,
      shadows,
      defines: ['HBNN_CHECK'],
      delays: o.delays ?? false,
      ...(o.cellModels ? { cellModels: o.cellModels } : {}),
      ...(o.iverilog ? { iverilog: o.iverilog } : {}),
      ...(o.vvp ? { vvp: o.vvp } : {}),
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    },
    lib,
  );
  if (!sim.stdout.includes('hbnn-tb: PASS')) {
    fail(ErrorCodes.TOOLCHAIN, `the testbench did not pass in the gate-level power simulation:\n${sim.stdout.split('\n').filter((l) => l.startsWith('hbnn-tb')).slice(0, 8).join('\n')}`, { tool: 'vvp' });
  }
  if (sim.mismatches > 0) {
    const bad = sim.shadows.filter((s) => s.mismatches > 0).map((s) => `${s.name.slice(2)} (${s.mismatches} cycles)`);
    fail(ErrorCodes.TOOLCHAIN, `gate-level netlists disagree with their RTL: ${bad.join(', ')}\n${sim.stdout.split('\n').filter((l) => l.includes('mismatch at')).slice(0, 5).join('\n')}`, { tool: 'vvp' });
  }
  const windowS = sim.cycles / (o.clockMhz * 1e6);
  const scale = nodeEnergyScale(DEFAULT_LIBERTY_NODE_NM, lib.voltage ?? 1.8);
  const modelOf = (nj28: number): ModelPower => ({ energyPerImageNj28: r6(nj28), energyPerImageNj: r6(nj28 * scale), dynamicMw: r6(windowS > 0 ? (nj28 * scale * 1e-9 * p.images) / windowS / 1e-3 : 0) });
  const stages: StagePower[] = netlists.map((n, i) => {
    const model = netlistModel(n.netlist.json, n.netlist.module, lib);
    const e = estimatePower(model, sim.shadows[i]!.toggles, lib, { clockMhz: o.clockMhz, cycles: sim.cycles, frames: p.images, ...(o.transitionNs ? { transitionNs: o.transitionNs } : {}) });
    const perPj = e.energyPj.dynamic > 0 ? e.dynamicUw / 1000 / e.energyPj.dynamic : 0;
    const mw: PowerMw = {
      internal: r6((e.energyPj.internal + e.energyPj.inputPins) * perPj),
      switching: r6(e.energyPj.switching * perPj),
      dynamic: r6(e.dynamicUw / 1000),
      leakage: r6(e.leakageUw / 1000),
      total: r6(e.totalUw / 1000),
    };
    const unit = p.units.find((u) => u.module === n.stage.module);
    return {
      name: n.stage.name,
      kind: n.stage.kind,
      module: n.stage.module,
      instance: n.stage.instance,
      cells: n.netlist.asic.cells,
      areaUm2: n.netlist.asic.areaUm2,
      flipFlops: n.netlist.asic.sequentialCells,
      mw,
      energyPerImageNj: e.energyPerFrameNj ?? 0,
      togglesPerImage: r6(e.toggles / p.images),
      activity: r6(e.activity),
      estimate: e,
      ports: Object.fromEntries(model.ports.map((pt) => [pt.name, sim.shadows[i]!.toggles.get(pt.name) ?? { rise: [], fall: [] }])),
      ...(unit ? { model: modelOf(asicUnitEnergyUj(unit.stage) * 1e3) } : {}),
      mapSeconds: Math.round(n.seconds * 10) / 10,
    };
  });
  const sum = (f: (s: StagePower) => number): number => r6(stages.reduce((a, s) => a + f(s), 0));
  const modelled = stages.filter((s) => s.model);
  return {
    format: POWER_FORMAT,
    liberty: { file: lib.file, name: lib.name, voltage: lib.voltage ?? 1.8 },
    clockMhz: o.clockMhz,
    images: p.images,
    cycles: sim.cycles,
    transitionNs: o.transitionNs ?? DEFAULT_TRANSITION_NS,
    delays: o.delays ?? false,
    nodeNm: DEFAULT_LIBERTY_NODE_NM,
    energyScale: r6(scale),
    stages,
    skipped: p.stages.filter((s) => !chosen.includes(s)).map((s) => s.name),
    total: {
      cells: sum((s) => s.cells),
      areaUm2: sum((s) => s.areaUm2),
      mw: { internal: sum((s) => s.mw.internal), switching: sum((s) => s.mw.switching), dynamic: sum((s) => s.mw.dynamic), leakage: sum((s) => s.mw.leakage), total: sum((s) => s.mw.total) },
      energyPerImageNj: sum((s) => s.energyPerImageNj),
      model: modelOf(modelled.reduce((a, s) => a + s.model!.energyPerImageNj28, 0)),
      modelUnits: modelled.length,
    },
    seconds: { map: Math.round(mapSeconds * 10) / 10, sim: Math.round(sim.seconds * 10) / 10 },
  };
}

/** Only the default library has known Verilog cell models (qflow's) and a known node. */
export function powerLibertyIsDefault(liberty: string | undefined): boolean {
  return liberty === undefined || liberty === DEFAULT_LIBERTY;
}

const mwText = (x: number): string => (x >= 100 ? formatCount(Math.round(x)) : x >= 1 ? x.toFixed(2) : x.toPrecision(3));

/** power.md: the stages' measured power beside the unit-count model, and what is measured and what is modelled. */
export function renderPowerMarkdown(p: DesignPower): string {
  const lines = [
    `# Switching-activity power (${p.liberty.name}, ${p.liberty.voltage} V, ${p.clockMhz} MHz)`,
    '',
    `${p.images} image${p.images === 1 ? '' : 's'} of the testbench's inputs through tb.v, ${formatCount(p.cycles)} clock cycles from the end of reset to the last class (images back to back, pipeline fill and drain included); ` +
      `every gate-level netlist agreed with its RTL instance on every cycle and the testbench passed. ${p.delays ? "Simulated with the cell models' path delays (glitches, unfiltered: an upper bound)." : 'Zero-delay simulation (functional toggles, no glitches: a lower bound).'}`,
    '',
    '| stage | kind | cells | µm² | activity | internal mW | switching mW | dynamic mW | leakage mW | nJ / image | unit-count model nJ / image (28 nm) | × ' + p.energyScale.toFixed(1) + ' | model mW |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...p.stages.map(
      (s) =>
        `| ${s.name} | ${s.kind} | ${formatCount(s.cells)} | ${formatCount(Math.round(s.areaUm2))} | ${s.activity.toFixed(3)} | ${mwText(s.mw.internal)} | ${mwText(s.mw.switching)} | ${mwText(s.mw.dynamic)} | ${s.mw.leakage.toPrecision(3)} | ${mwText(s.energyPerImageNj)} | ` +
        (s.model ? `${mwText(s.model.energyPerImageNj28)} | ${mwText(s.model.energyPerImageNj)} | ${mwText(s.model.dynamicMw)} |` : ' |  |  |'),
    ),
    `| **total** | ${p.stages.length} stages | ${formatCount(p.total.cells)} | ${formatCount(Math.round(p.total.areaUm2))} |  | ${mwText(p.total.mw.internal)} | ${mwText(p.total.mw.switching)} | ${mwText(p.total.mw.dynamic)} | ${p.total.mw.leakage.toPrecision(3)} | ${mwText(p.total.energyPerImageNj)} | ${mwText(p.total.model.energyPerImageNj28)} | ${mwText(p.total.model.energyPerImageNj)} | ${mwText(p.total.model.dynamicMw)} |`,
    '',
    ...(p.skipped.length ? [`Not simulated (not selected): ${p.skipped.join(', ')}; the total is the simulated stages only.`, ''] : []),
    'Measured: the toggles of every net of each stage\'s netlist (its cells mapped by yosys + abc, simulated by Icarus Verilog on these images). ' +
      `Modelled: each toggle's energy from the Liberty tables (the driving cell's internal_power at the net's pin load and a ${p.transitionNs} ns input transition, ½·C·V² of the fan-out pin capacitance, the flip-flops' clock and data pin energy), leakage from cell_leakage_power. ` +
      'Not included: wire capacitance and output loads (no placement), a clock tree, real slews, the stage boundaries\' wires. ' +
      `The unit-count model prices only the matrix-vector units (${p.total.modelUnits} here; windows, pooling, width converters and the argmax are not in it), with the asic backend's 28-nm default energies × (${p.nodeNm} / 28)·(${p.liberty.voltage} / 0.9)² = ${p.energyScale.toFixed(1)}, at the simulated image rate. ` +
      `Stages mapped in ${p.seconds.map.toFixed(0)} s, simulated in ${p.seconds.sim.toFixed(0)} s.`,
    '',
  ];
  return lines.join('\n');
}
