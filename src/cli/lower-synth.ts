/**
 * `lower --backend verilog --synth xilinx|asic [--liberty FILE] [--abc default|fast] [--power [--power-images N]
 * [--power-stages LIST]]`: synthesis of the written
 * design with yosys (docs/synthesis.md), the whole design hierarchically (each unit a module of its netlist), beside the estimators'
 * figures for the same folding. The options are checked, and yosys and the Liberty file looked
 * for, before anything is lowered or written; the report goes to synthesis.md and
 * synthesis.json in the output folder, each written atomically after the design. `--power`
 * (asic only) adds the gate-level switching-activity power of the stages on test images
 * (design-power.ts): power.md and power.json, written atomically after synthesis.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../errors.js';
import { resolveLiberty, SYNTH_ABC_SCRIPTS, SYNTH_TARGETS, YOSYS_PACKAGE, type SynthAbcScript, type SynthTarget } from '../backends/synth/index.js';
import { synthesizeVerilog, type LoweredVerilog } from '../backends/synth/design.js';
import { designPower, powerLibertyIsDefault, renderPowerMarkdown, type PowerProject } from '../backends/synth/design-power.js';
import { DEFAULT_CELL_MODELS, IVERILOG_PACKAGE } from '../backends/synth/power.js';
import { DEFAULT_LIBERTY_PACKAGE } from '../backends/synth/liberty.js';
import { writeFileAtomic } from '../util/fs.js';
import { formatCount } from '../util/numbers.js';
import { parseIntOption } from './options.js';

export interface SynthCliOptions {
  synth?: string;
  liberty?: string;
  abc?: string;
  power?: boolean;
  powerImages?: string;
  powerStages?: string;
}

export interface SynthPlan {
  target: SynthTarget;
  liberty?: string;
  abc?: SynthAbcScript;
  power?: PowerPlan;
}

export interface PowerPlan {
  images: number;
  stages?: string[];
}

/** Images of the power run when --power-images is not given. */
export const DEFAULT_POWER_IMAGES = 1;

/**
 * Checks --synth / --liberty, and that yosys (`requireTool`: TOOLCHAIN naming the Debian
 * package) and the Liberty file exist, before any work.
 */
export function prepareSynth(o: SynthCliOptions, cwd: string, requireTool: (tool: string, pkg: string) => void): SynthPlan | undefined {
  for (const [k, flag] of [['powerImages', '--power-images'], ['powerStages', '--power-stages']] as const) {
    if (o[k] !== undefined && !o.power) fail(ErrorCodes.INVALID_OPTION, `${flag} applies to --power`, { option: flag });
  }
  if (o.synth === undefined) {
    if (o.liberty !== undefined) fail(ErrorCodes.INVALID_OPTION, '--liberty applies to --synth asic', { option: '--liberty' });
    if (o.abc !== undefined) fail(ErrorCodes.INVALID_OPTION, '--abc applies to --synth asic', { option: '--abc' });
    if (o.power) fail(ErrorCodes.INVALID_OPTION, '--power needs --synth asic', { option: '--power' });
    return undefined;
  }
  if (!(SYNTH_TARGETS as readonly string[]).includes(o.synth)) {
    fail(ErrorCodes.INVALID_OPTION, `--synth must be one of ${SYNTH_TARGETS.join(', ')}, got '${o.synth}'`, { option: '--synth' });
  }
  const target = o.synth as SynthTarget;
  if (o.liberty !== undefined && target !== 'asic') fail(ErrorCodes.INVALID_OPTION, '--liberty applies to --synth asic', { option: '--liberty' });
  if (o.abc !== undefined && target !== 'asic') fail(ErrorCodes.INVALID_OPTION, '--abc applies to --synth asic', { option: '--abc' });
  if (o.abc !== undefined && !(SYNTH_ABC_SCRIPTS as readonly string[]).includes(o.abc)) fail(ErrorCodes.INVALID_OPTION, `--abc must be one of ${SYNTH_ABC_SCRIPTS.join(', ')}, got '${o.abc}'`, { option: '--abc' });
  if (o.power && target !== 'asic') fail(ErrorCodes.INVALID_OPTION, '--power needs --synth asic', { option: '--power' });
  const liberty = target === 'asic' ? resolveLiberty(o.liberty === undefined ? undefined : path.resolve(cwd, o.liberty)) : undefined;
  let power: PowerPlan | undefined;
  if (o.power) {
    // the gate-level simulation needs the library's Verilog cell models: known for the default library only
    if (!powerLibertyIsDefault(liberty)) fail(ErrorCodes.INVALID_OPTION, `--power needs the library's Verilog cell models, known only for the default library (${DEFAULT_LIBERTY_PACKAGE}); drop --liberty`, { option: '--power' });
    const images = o.powerImages === undefined ? DEFAULT_POWER_IMAGES : parseIntOption(o.powerImages, '--power-images', 1);
    const stages = o.powerStages === undefined ? undefined : o.powerStages.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (stages && stages.length === 0) fail(ErrorCodes.INVALID_OPTION, '--power-stages names no stage', { option: '--power-stages' });
    power = { images, ...(stages ? { stages } : {}) };
  }
  requireTool(process.env['YOSYS'] || 'yosys', YOSYS_PACKAGE); // before anything is written
  if (power) {
    requireTool(process.env['IVERILOG'] || 'iverilog', IVERILOG_PACKAGE);
    requireTool(process.env['VVP'] || 'vvp', IVERILOG_PACKAGE);
    if (!fs.existsSync(DEFAULT_CELL_MODELS)) fail(ErrorCodes.TOOLCHAIN, `the cell models ${DEFAULT_CELL_MODELS} are not installed: install the Debian package ${DEFAULT_LIBERTY_PACKAGE} (apt-get install ${DEFAULT_LIBERTY_PACKAGE})`, { file: DEFAULT_CELL_MODELS });
  }
  return { target, ...(liberty && o.liberty !== undefined ? { liberty } : {}), ...(o.abc !== undefined ? { abc: o.abc as SynthAbcScript } : {}), ...(power ? { power } : {}) };
}

/**
 * The power run on the written design: `project` is the same design with its testbench built
 * for the power images; writes power.md and power.json into `outDir`.
 */
export async function runPower(project: PowerProject, plan: PowerPlan, clockMhz: number, outDir: string, progress: (m: string) => void = () => {}): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const p = await designPower(project, {
    clockMhz,
    ...(plan.stages ? { stages: plan.stages } : {}),
    ...(process.env['YOSYS'] ? { yosys: process.env['YOSYS'] } : {}),
    onRun: progress,
  });
  writeFileAtomic(path.join(outDir, 'power.md'), renderPowerMarkdown(p));
  writeFileAtomic(path.join(outDir, 'power.json'), `${JSON.stringify(p, null, 2)}\n`);
  const t = p.total;
  const mw = (x: number): string => (x >= 1 ? x.toFixed(2) : x.toPrecision(3));
  const lines = [
    `gate-level power (${p.liberty.name}, ${p.liberty.voltage} V, ${p.clockMhz} MHz, ${p.images} image${p.images === 1 ? '' : 's'}, ${formatCount(p.cycles)} cycles, zero-delay; ${p.stages.length} of ${p.stages.length + p.skipped.length} stages): ` +
      `dynamic ${mw(t.mw.dynamic)} mW (internal ${mw(t.mw.internal)}, switching ${mw(t.mw.switching)}), leakage ${mw(t.mw.leakage)} mW, ${mw(t.energyPerImageNj)} nJ/image; ` +
      `asic unit counts (${t.modelUnits} unit${t.modelUnits === 1 ? '' : 's'}, 28-nm energies × ${p.energyScale.toFixed(1)} for ${p.nodeNm} nm): ${mw(t.model.dynamicMw)} mW, ${mw(t.model.energyPerImageNj)} nJ/image; per stage in power.md`,
  ];
  return { lines, summary: { power: p } };
}

/** Synthesizes the lowered design, writes synthesis.md / synthesis.json into `outDir`, and returns the lines to print and the JSON summary. */
export async function runSynth(v: LoweredVerilog, plan: SynthPlan, outDir: string, progress: (m: string) => void = () => {}): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const r = await synthesizeVerilog(v, { target: plan.target, ...(plan.liberty ? { liberty: plan.liberty } : {}), ...(plan.abc ? { abc: plan.abc } : {}), flatten: false, onRun: (what) => progress(`yosys: ${what}`) });
  writeFileAtomic(path.join(outDir, 'synthesis.md'), r.markdown);
  writeFileAtomic(path.join(outDir, 'synthesis.json'), `${JSON.stringify({ ...r.report, estimates: r.estimates }, null, 2)}\n`);
  const t = r.report.total!;
  const e = r.estimates.find((x) => x.name === 'total');
  const lines =
    plan.target === 'xilinx'
      ? [
          `yosys synth_xilinx (${r.report.yosys.split(' (')[0]}): ${formatCount(t.xilinx!.luts)} LUTs (${formatCount(t.xilinx!.lutMemory)} as memory), ${formatCount(t.xilinx!.ffs)} FFs, ${formatCount(t.xilinx!.carry)} CARRY4, ${formatCount(t.xilinx!.bram18)} BRAM18, ${formatCount(t.xilinx!.dsp)} DSP48, depth ${t.depth ?? '?'}; ` +
            `vivado-hls estimate ${formatCount(e?.luts ?? 0)} LUTs (fitted to yosys: ${formatCount(e?.lutsFitted ?? 0)}); per unit in synthesis.md`,
        ]
      : [
          `yosys + abc, ${r.report.liberty!.name}: ${formatCount(Math.round(t.asic!.areaUm2))} µm²${t.memory ? ' of logic' : ''}, ${formatCount(t.asic!.cells)} cells (${formatCount(t.asic!.sequentialCells)} flip-flops), depth ${t.depth ?? '?'}` +
            (t.memory ? `; memories as macros (not synthesized): ${t.memory.macros} (${formatCount(t.memory.romBits)} ROM + ${formatCount(t.memory.ramBits)} RAM bits)${t.memory.areaUm2 !== undefined ? `, ${formatCount(Math.round(t.memory.areaUm2))} µm² by the per-bit model` : ''}` : '') +
            (e?.areaUm2 !== undefined ? `; units only, memories as gates: ${formatCount(Math.round(e.areaUm2))} µm² (asic unit counts scaled from 28 nm), ${formatCount(Math.round(e.areaFittedUm2 ?? 0))} µm² (structural estimate fitted to the library)` : '') +
            '; per unit in synthesis.md',
        ];
  return { lines, summary: { synth: { ...r.report, estimates: r.estimates } } };
}
