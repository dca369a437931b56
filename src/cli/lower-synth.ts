/**
 * `lower --backend verilog --synth xilinx|asic [--liberty FILE]`: synthesis of the written
 * design with yosys (docs/synthesis.md), the whole design hierarchically (each unit a module of its netlist), beside the estimators'
 * figures for the same folding. The options are checked, and yosys and the Liberty file looked
 * for, before anything is lowered or written; the report goes to synthesis.md and
 * synthesis.json in the output folder, each written atomically after the design.
 */
import * as path from 'node:path';
import { fail, ErrorCodes } from '../errors.js';
import { resolveLiberty, SYNTH_TARGETS, YOSYS_PACKAGE, type SynthTarget } from '../backends/synth/index.js';
import { synthesizeVerilog, type LoweredVerilog } from '../backends/synth/design.js';
import { writeFileAtomic } from '../util/fs.js';
import { formatCount } from '../util/numbers.js';

export interface SynthCliOptions {
  synth?: string;
  liberty?: string;
}

export interface SynthPlan {
  target: SynthTarget;
  liberty?: string;
}

/**
 * Checks --synth / --liberty, and that yosys (`requireTool`: TOOLCHAIN naming the Debian
 * package) and the Liberty file exist, before any work.
 */
export function prepareSynth(o: SynthCliOptions, cwd: string, requireTool: (tool: string, pkg: string) => void): SynthPlan | undefined {
  if (o.synth === undefined) {
    if (o.liberty !== undefined) fail(ErrorCodes.INVALID_OPTION, '--liberty applies to --synth asic', { option: '--liberty' });
    return undefined;
  }
  if (!(SYNTH_TARGETS as readonly string[]).includes(o.synth)) {
    fail(ErrorCodes.INVALID_OPTION, `--synth must be one of ${SYNTH_TARGETS.join(', ')}, got '${o.synth}'`, { option: '--synth' });
  }
  const target = o.synth as SynthTarget;
  if (o.liberty !== undefined && target !== 'asic') fail(ErrorCodes.INVALID_OPTION, '--liberty applies to --synth asic', { option: '--liberty' });
  const liberty = target === 'asic' ? resolveLiberty(o.liberty === undefined ? undefined : path.resolve(cwd, o.liberty)) : undefined;
  requireTool(process.env['YOSYS'] || 'yosys', YOSYS_PACKAGE); // before anything is written
  return { target, ...(liberty && o.liberty !== undefined ? { liberty } : {}) };
}

/** Synthesizes the lowered design, writes synthesis.md / synthesis.json into `outDir`, and returns the lines to print and the JSON summary. */
export async function runSynth(v: LoweredVerilog, plan: SynthPlan, outDir: string, progress: (m: string) => void = () => {}): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const r = await synthesizeVerilog(v, { target: plan.target, ...(plan.liberty ? { liberty: plan.liberty } : {}), flatten: false, onRun: (what) => progress(`yosys: ${what}`) });
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
          `yosys + abc, ${r.report.liberty!.name}: ${formatCount(Math.round(t.asic!.areaUm2))} µm², ${formatCount(t.asic!.cells)} cells (${formatCount(t.asic!.sequentialCells)} flip-flops), depth ${t.depth ?? '?'}` +
            (e?.areaUm2 !== undefined ? `; asic unit counts (units only): ${formatCount(Math.round(e.areaUm2))} µm² scaled from 28 nm, ${formatCount(Math.round(e.areaFittedUm2 ?? 0))} µm² fitted` : '') +
            '; per unit in synthesis.md',
        ];
  return { lines, summary: { synth: { ...r.report, estimates: r.estimates } } };
}
