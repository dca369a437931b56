/**
 * Open-source synthesis of generated Verilog with yosys (docs/synthesis.md): the whole design
 * flattened, and each unit on its own, for a Xilinx 7-series FPGA (`synth_xilinx`: LUT, FF,
 * CARRY, BRAM, LUTRAM and DSP counts) or for a standard-cell library (`synth`, `dfflibmap`,
 * `abc` with a Liberty file: cell counts and area), with the longest topological path as the
 * depth figure.
 *
 *   const r = await synthesize({ files, top: 'hbnn_top', units: [{ name: 'conv0', module: 'conv0_unit' }] }, { target: 'asic' });
 *
 * Synthesis runs in a temporary folder; nothing is written anywhere else.
 */
import * as fs from 'node:fs';
import { fail, ErrorCodes } from '../../errors.js';
import { loadLiberty, resolveLiberty, DEFAULT_LIBERTY, DEFAULT_LIBERTY_PACKAGE } from './liberty.js';
import { defaultYosys, netlistModule, runYosys, yosysScript, yosysVersion, YOSYS_PACKAGE } from './yosys.js';
import { SYNTH_ABC_SCRIPTS, SYNTH_FORMAT, SYNTH_TARGETS, type SynthAbcScript, type SynthDesign, type SynthOptions, type SynthReport, type SynthRun, type SynthTarget } from './types.js';
import { asicResources, sequentialTypes, xilinxResources, XILINX_SEQUENTIAL_TYPES } from './resources.js';
import { MEMORY_MODEL_018, priceMemories } from './memory.js';
import { synthesizeInstances, type InstanceRun } from './instances.js';

export { DEFAULT_LIBERTY, DEFAULT_LIBERTY_PACKAGE, YOSYS_PACKAGE, loadLiberty, resolveLiberty, yosysVersion };
export { parseLiberty } from './liberty.js';
export type { Liberty, LibertyCell } from './liberty.js';
export { netlistModule, parseLtp, parseLtpModules, parseStatJson, parseStatModules } from './yosys.js';
export { asicResources, xilinxResources } from './resources.js';
export { MEMORY_MODEL_018, priceMemories } from './memory.js';
export type { MemoryAreaModel, MemoryMacros } from './memory.js';
export type { AsicResources, AsicCellCount, XilinxResources } from './resources.js';

export { SYNTH_ABC_SCRIPTS, SYNTH_FORMAT, SYNTH_TARGETS } from './types.js';
export type { SynthAbcScript, SynthDesign, SynthOptions, SynthReport, SynthRun, SynthTarget, SynthUnit } from './types.js';

const DEFAULT_TIMEOUT_MS = 600_000;

/** The synthesis commands of a target for top module `top`. */
export function synthCommands(target: SynthTarget, top: string, o: { family?: string; liberty?: string; flatten?: boolean; abc?: SynthAbcScript } = {}): string[] {
  const flatten = o.flatten === false ? '' : '-flatten ';
  switch (target) {
    case 'xilinx':
      // Out of context (no I/O buffers), as the HLS estimate counts the design alone.
      return [`synth_xilinx ${flatten}-noiopad -family ${o.family ?? 'xc7'} -top ${top}`];
    case 'asic': {
      const lib = o.liberty ?? DEFAULT_LIBERTY;
      return [`synth ${flatten}-top ${top}`, `dfflibmap -liberty ${lib}`, `abc ${o.abc === 'fast' ? '-fast ' : ''}-liberty ${lib}`, 'opt_clean -purge'];
    }
  }
}

function toMap(files: SynthDesign['files']): ReadonlyMap<string, string | Uint8Array> {
  return files instanceof Map ? files : new Map(Object.entries(files));
}

/**
 * Synthesizes `design` with yosys: the whole design (flattened) and each unit on its own; with
 * `flatten: false` the whole design hierarchically, each unit's figures read from its netlist.
 * TOOLCHAIN when yosys is missing (naming the Debian package), a default Liberty file is
 * missing (naming qflow-tech-osu018) or synthesis fails (with yosys's message).
 */
export async function synthesize(design: SynthDesign, o: SynthOptions): Promise<SynthReport> {
  if (!(SYNTH_TARGETS as readonly string[]).includes(o.target)) {
    fail(ErrorCodes.INVALID_OPTION, `unknown synthesis target '${String(o.target)}'; expected one of ${SYNTH_TARGETS.join(', ')}`, { option: 'synth' });
  }
  if (o.abc !== undefined && !(SYNTH_ABC_SCRIPTS as readonly string[]).includes(o.abc)) {
    fail(ErrorCodes.INVALID_OPTION, `unknown abc script '${String(o.abc)}'; expected one of ${SYNTH_ABC_SCRIPTS.join(', ')}`, { option: 'abc' });
  }
  if (o.target !== 'asic' && o.abc !== undefined && o.abc !== 'default') fail(ErrorCodes.INVALID_OPTION, `an abc script only applies to asic synthesis, not ${o.target}`, { option: 'abc' });
  if (o.target !== 'asic' && o.liberty !== undefined) fail(ErrorCodes.INVALID_OPTION, `a Liberty file only applies to asic synthesis, not ${o.target}`, { option: 'liberty' });
  const yosys = o.yosys ?? defaultYosys();
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const files = toMap(design.files);
  const liberty = o.target === 'asic' ? loadLiberty(resolveLiberty(o.liberty)) : undefined;
  const version = await yosysVersion(yosys);
  if (o.macros?.length && o.target !== 'asic') fail(ErrorCodes.INVALID_OPTION, `memory macros (black boxes) only apply to asic synthesis, not ${o.target}`, { option: 'macros' });
  const macros = o.target === 'asic' && o.macros?.length ? [...o.macros] : undefined;
  // the memory model is for the default library's node (0.18 µm); another library gets bits only
  const model = macros && liberty?.file === resolveLiberty(undefined) ? MEMORY_MODEL_018 : undefined;
  const memoriesUnder = (prefix: string | undefined) => (design.memories ?? []).filter((m) => prefix === undefined || m.path.startsWith(`${prefix}.`));
  const cut = o.depth === false ? undefined : liberty ? [...sequentialTypes(liberty), ...(macros ?? [])] : [...XILINX_SEQUENTIAL_TYPES];
  const t0 = performance.now();
  const hierarchical = o.flatten === false && o.whole !== false;
  const runs: { name: string; module: string; params?: Readonly<Record<string, number | string>> }[] = [];
  if (o.whole !== false) runs.push({ name: 'total', module: design.top });
  // hierarchical: the units are modules of the design's own netlist (no runs of their own)
  if (o.perUnit !== false && !hierarchical) for (const u of design.units ?? []) runs.push({ name: u.name, module: u.module, ...(u.params ? { params: u.params } : {}) });
  const results: SynthRun[] = [];
  const resources = (cellsByType: Record<string, number>): Pick<SynthRun, 'xilinx' | 'asic'> => ({
    ...(o.target === 'xilinx' ? { xilinx: xilinxResources(cellsByType) } : {}),
    ...(liberty ? { asic: asicResources(cellsByType, liberty) } : {}),
  });
  let script: string[] = [];
  let instanceRuns: InstanceRun[] | undefined;
  if (hierarchical && o.instances) {
    // per instance: each distinct module of the top's instances in a run of its own (instances.ts)
    runs.splice(runs.findIndex((r) => r.name === 'total'), 1);
    const synth = (top: string): string[] => synthCommands(o.target, top, { ...(o.family ? { family: o.family } : {}), ...(liberty ? { liberty: liberty.file } : {}), ...(o.abc ? { abc: o.abc } : {}), flatten: true });
    const r = await synthesizeInstances(files, design.top, {
      target: o.target,
      synth,
      ...(macros ? { blackbox: macros } : {}),
      ...(cut ? { depthCutTypes: cut } : {}),
      ...(liberty ? { beforeDepth: [`read_liberty -lib ${liberty.file}`], keyExtra: fs.readFileSync(liberty.file, 'utf8') } : {}),
      yosys,
      version,
      timeoutMs,
      ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      ...(o.jobs ? { jobs: o.jobs } : {}),
      ...(o.onRun ? { onRun: o.onRun } : {}),
    });
    script = r.script;
    instanceRuns = r.runs;
    const wall = r.runs.reduce((a, x) => a + (x.cached ? 0 : x.seconds), 0);
    results.push({ name: 'total', module: design.top, cellsByType: r.cellsByType, ...resources(r.cellsByType), ...(macros ? { memory: priceMemories(memoriesUnder(undefined), model) } : {}), ...(r.depth !== undefined ? { depth: r.depth } : {}), warnings: r.warnings, seconds: Math.round(wall * 100) / 100 });
    if (o.perUnit !== false) {
      for (const u of design.units ?? []) {
        const hit = u.instance ? r.instance(u.instance) : undefined;
        const byModule = r.runs.filter((x) => !x.glue && x.module === u.module);
        const run = hit?.run ?? (byModule.length === 1 ? byModule[0] : undefined);
        if (!run) fail(ErrorCodes.TOOLCHAIN, `unit ${u.name}: no instance ${u.instance ?? `of module ${u.module}`} (or more than one module ${u.module}) among the instances of ${design.top}`, { module: u.module });
        results.push({ name: u.name, module: u.module, cellsByType: run.cellsByType, ...resources(run.cellsByType), ...(macros && u.instance ? { memory: priceMemories(memoriesUnder(u.instance), model) } : {}), ...(run.depth !== undefined ? { depth: run.depth } : {}), warnings: run.warnings, seconds: run.cached ? 0 : run.seconds });
      }
    }
  }
  for (const run of runs) {
    const what = run.name === 'total' ? `the design (${run.module}, ${o.target}${hierarchical ? ', hierarchical' : ''})` : `unit ${run.name} (${run.module}, ${o.target})`;
    o.onRun?.(what);
    const flatten = !(hierarchical && run.name === 'total');
    const synth = synthCommands(o.target, run.module, { ...(o.family ? { family: o.family } : {}), ...(liberty ? { liberty: liberty.file } : {}), ...(o.abc ? { abc: o.abc } : {}), flatten });
    const spec = { files, top: run.module, ...(macros ? { blackbox: macros } : {}), ...(run.params ? { params: run.params } : {}), synth, ...(cut ? { depthCutTypes: cut } : {}), ...(liberty ? { beforeDepth: [`read_liberty -lib ${liberty.file}`] } : {}), yosys, timeoutMs, what };
    if (script.length === 0) script = yosysScript(spec);
    const r = await runYosys(spec);
    const unitInstance = (design.units ?? []).find((u) => u.name === run.name)?.instance;
    results.push({
      name: run.name,
      module: run.module,
      cellsByType: r.cellsByType,
      ...resources(r.cellsByType),
      ...(macros && (run.name === 'total' || unitInstance) ? { memory: priceMemories(memoriesUnder(run.name === 'total' ? undefined : unitInstance), model) } : {}),
      ...(r.depth !== undefined ? { depth: r.depth } : {}),
      warnings: r.warnings.length,
      seconds: Math.round(r.seconds * 100) / 100,
    });
    if (hierarchical && run.name === 'total' && o.perUnit !== false) {
      for (const u of design.units ?? []) {
        const m = netlistModule(Object.keys(r.modules), u.module);
        if (m === undefined) {
          fail(ErrorCodes.TOOLCHAIN, `unit ${u.name}: module ${u.module} is not (or not once) in the hierarchical netlist of ${design.top}; modules: ${Object.keys(r.modules).join(', ')}`, { module: u.module });
        }
        const cells = r.modules[m]!;
        const depth = r.moduleDepths?.[m];
        results.push({ name: u.name, module: u.module, cellsByType: cells, ...resources(cells), ...(macros && u.instance ? { memory: priceMemories(memoriesUnder(u.instance), model) } : {}), ...(depth !== undefined ? { depth } : {}), warnings: 0, seconds: 0 });
      }
    }
  }
  const total = results.find((r) => r.name === 'total' && o.whole !== false);
  return {
    format: SYNTH_FORMAT,
    target: o.target,
    yosys: version,
    ...(o.target === 'xilinx' ? { family: o.family ?? 'xc7' } : {}),
    ...(liberty ? { liberty: { file: liberty.file, name: liberty.name } } : {}),
    ...(liberty && o.abc === 'fast' ? { abc: o.abc } : {}),
    ...(macros ? { macros: { modules: macros, ...(model ? { model } : {}) } } : {}),
    hierarchical,
    ...(instanceRuns ? { instances: instanceRuns } : {}),
    ...(total ? { total } : {}),
    units: results.filter((r) => r !== total),
    script,
    seconds: Math.round((performance.now() - t0) / 10) / 100,
  };
}

export { renderSynthMarkdown, type SynthEstimate } from './render.js';
