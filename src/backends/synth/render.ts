/**
 * A synthesis report as Markdown (synthesis.md of `lower --synth`): one row per unit and the
 * whole design, beside the estimators' figures for the same hardware when given.
 */
import type { SynthReport, SynthRun } from './types.js';
import { formatCount } from '../../util/numbers.js';

/** An estimator's figure for a unit (matched by name; 'total' for the design). */
export interface SynthEstimate {
  name: string;
  /** The vivado-hls estimate's LUTs (FINN-R constants). */
  luts?: number;
  /** The same estimate's parts re-weighted by the fit to yosys (calibrate.ts YOSYS_LUT_FIT). */
  lutsFitted?: number;
  /** The asic backend's unit-count area with the default technology scaled to the library's node, µm². */
  areaUm2?: number;
  /** The unit's structural estimate (its logic and memory bits, memories as gates) fitted to the library (calibrate.ts OSU018_AREA_FIT), µm². */
  areaFittedUm2?: number;
  /** The whole-design estimate (stage-area.ts) of this stage or the design: logic (units: the structural unit-logic model; other stages: the stage model) + its memory macros, µm². */
  areaDesignUm2?: number;
}

const ratio = (est: number | undefined, syn: number): string => (est === undefined || syn === 0 ? '' : `${(est / syn).toFixed(2)}`);
const cell = (x: number | undefined): string => (x === undefined ? '' : formatCount(Math.round(x)));

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** The synthesis report as Markdown, with `estimates` beside the synthesized figures. */
export function renderSynthMarkdown(report: SynthReport, estimates: readonly SynthEstimate[] = []): string {
  const est = new Map(estimates.map((e) => [e.name, e]));
  const runs: SynthRun[] = [...report.units, ...(report.total ? [report.total] : [])];
  const lines: string[] = [];
  lines.push(`# Synthesis (${report.target === 'xilinx' ? `yosys synth_xilinx, ${report.family}` : `yosys + abc, ${report.liberty?.name ?? ''}`})`);
  lines.push('');
  lines.push(`${report.yosys}; ${report.seconds.toFixed(1)} s.${report.liberty ? ` Liberty: ${report.liberty.file}.` : ''}`);
  if (report.hierarchical) lines.push('', 'Whole design synthesized hierarchically: each module (each parameter set of a generic one) mapped once, not optimized across module boundaries; the total counts every module once per instance, and each unit is its module in that netlist.');
  lines.push('');
  if (report.target === 'xilinx') {
    lines.push(row(['unit', 'module', 'LUT', 'LUT logic', 'LUTRAM', 'FF', 'CARRY4', 'MUXF', 'BRAM18', 'DSP', 'depth', 'estimated LUT', 'est/synth', 'fitted LUT', 'fit/synth']));
    lines.push(row(['---', '---', ...Array(13).fill('---:')]));
    for (const r of runs) {
      const x = r.xilinx!;
      const e = est.get(r.name)?.luts;
      const f = est.get(r.name)?.lutsFitted;
      lines.push(row([r.name, r.module, cell(x.luts), cell(x.lutLogic), cell(x.lutMemory), cell(x.ffs), cell(x.carry), cell(x.muxf), cell(x.bram18), cell(x.dsp), cell(r.depth), cell(e), ratio(e, x.luts), cell(f), ratio(f, x.luts)]));
    }
  } else {
    lines.push(row(['unit', 'module', 'cells', 'flip-flops', 'area µm²', 'of which flip-flops µm²', 'depth', 'estimated µm² (scaled)', 'est/synth', 'fitted µm²', 'fit/synth']));
    lines.push(row(['---', '---', ...Array(9).fill('---:')]));
    for (const r of runs) {
      const a = r.asic!;
      const e = est.get(r.name)?.areaUm2;
      const f = est.get(r.name)?.areaFittedUm2;
      lines.push(row([r.name, r.module, cell(a.cells), cell(a.sequentialCells), cell(a.areaUm2), cell(a.sequentialAreaUm2), cell(r.depth), cell(e), ratio(e, a.areaUm2), cell(f), ratio(f, a.areaUm2)]));
    }
    if (report.macros) {
      const m = report.macros.model;
      lines.push('', `Memories (${report.macros.modules.join(', ')}) are macros, black boxes to yosys: not in the area above. ${m ? `Priced by the ${m.name} (${m.basis}: ROM ${m.romUm2PerBit} µm²/bit, RAM ${m.ramUm2PerBit} µm²/bit), a model, not synthesis:` : 'Their bits (no area model for this library):'}`, '');
      lines.push(row(['unit', 'macros', 'ROM bits', 'RAM bits', 'memory µm² (model)', 'logic + memory µm²']));
      lines.push(row(['---', ...Array(5).fill('---:')]));
      for (const r of runs) if (r.memory) lines.push(row([r.name, cell(r.memory.macros), cell(r.memory.romBits), cell(r.memory.ramBits), cell(r.memory.areaUm2), r.memory.areaUm2 === undefined ? '' : cell(r.asic!.areaUm2 + r.memory.areaUm2)]));
      const whole = est.get('total')?.areaDesignUm2;
      const t = report.total;
      if (whole !== undefined && t?.memory?.areaUm2 !== undefined) {
        const syn = t.asic!.areaUm2 + t.memory.areaUm2;
        lines.push('', `Whole-design estimate (every stage's logic and every memory, docs/asic-results.md#whole-design-estimate): ${cell(whole)} µm² against ${cell(syn)} µm² logic + memory (est/synth ${ratio(whole, syn)}).`);
      }
    }
    const unmapped = runs.flatMap((r) => Object.entries(r.asic!.unmapped).filter(([t]) => !report.macros?.modules.includes(t)).map(([t, n]) => `${r.name}: ${n} × ${t}`));
    if (unmapped.length) lines.push('', `Cells the library does not have (not in the area): ${unmapped.join(', ')}.`);
  }
  lines.push('', 'depth: cells on the longest path between registers or ports (yosys `ltp` after removing the sequential cells).');
  lines.push('', 'Script (whole design):', '', '```', ...report.script, '```', '');
  return lines.join('\n');
}
