/** `report.md`: the ASIC report as Markdown tables. */
import type { AsicReport, VariantRow } from './report.js';
import type { LayerEstimate } from './cost.js';
import type { OutputQuantizer } from './work.js';
import { UNIT_KINDS, type UnitKind } from './tech.js';
import { bitCount, bits, bitsLabel, VARIANTS_NOTE, fixed, int, kfps, millions, mm2, pctDiff, watts } from './format.js';

export const UNIT_LABELS: Readonly<Record<UnitKind, string>> = {
  xnorPopcountLane: 'xnor-popcount lanes',
  adderTreeBit: 'adder-tree bits',
  accumulatorBit: 'accumulator bits',
  comparatorBit: 'comparator bits',
  sramBit: 'SRAM bits',
};

const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
const table = (head: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string =>
  [row(head), row(head.map((_, i) => ((align?.[i] ?? 'r') === 'l' ? '---' : '---:'))), ...rows.map(row)].join('\n');

export function outputLabel(q: OutputQuantizer): string {
  switch (q.kind) {
    case 'none':
      return 'none (logits)';
    case 'thresholds':
      return `${q.count} thresholds`;
    case 'requantize':
      return `requantize to ${q.bits} b`;
  }
}

const mdEscape = (s: string): string => s.replace(/\|/g, '\\|');

function summarySection(r: AsicReport): string {
  const headline = r.scaling === 'paper' ? "the paper's rule (METHOD §6)" : 'unit counts';
  return `# ASIC estimate: ${mdEscape(r.model)}

Headline figures from **${headline}**; the other estimate is shown beside it below.

${table(
  ['quantity', 'value'],
  [
    ['area', `${mm2(r.summary.areaMm2)} mm²`],
    ['power', `${watts(r.summary.powerW)} W`],
    ['throughput', `${kfps(r.summary.fps)} kFPS`],
    ['energy per frame', `${fixed(r.summary.energyPerFrameUj, 2)} µJ`],
    ['average weight bits (binarized layers)', bits(r.bits.avgWeightBits)],
    ['average activation bits', bits(r.bits.avgActivationBits)],
    ['technology', `${mdEscape(r.tech.name)} (${mdEscape(r.tech.node)}), clock ${fixed(r.clockMhz, 0)} MHz, fold ${int(r.tech.foldCycles)} cycles/frame`],
    ['per-layer work from', r.source === 'bit-ir' ? 'bit-level IR (`lower --from-bit-ir`)' : 'quantization record (`lower` without `--from-bit-ir`)'],
  ],
  ['l', 'r'],
)}`;
}

function comparisonSection(r: AsicReport): string {
  const u = r.units;
  const p = r.paper;
  return `## Unit counts vs the paper's rule

Paper rule: area and power = anchor × (b_act · b_weight) / (${bitCount(p.anchor.activationBits)} · ${bitCount(p.anchor.weightBits)}) = anchor × ${fixed(p.factor, 4)}; anchor: ${mdEscape(p.anchor.label)} (${mm2(p.anchor.areaMm2)} mm², ${watts(p.anchor.powerW)} W, ${kfps(p.anchor.fps)} kFPS).

${table(
  ['estimate', 'area mm²', 'power W', 'kFPS'],
  [
    ['unit counts', mm2(u.areaMm2), watts(u.powerW), kfps(u.fps)],
    ["paper's rule", mm2(p.areaMm2), watts(p.powerW), kfps(p.fps)],
    ['difference (units vs paper)', pctDiff(u.areaMm2, p.areaMm2), pctDiff(u.powerW, p.powerW), pctDiff(u.fps, p.fps)],
  ],
  ['l', 'r', 'r', 'r'],
)}

**Which figure to trust.** ${mdEscape(r.trust)}`;
}

function variantRow(v: VariantRow): string[] {
  return [v.label, bitsLabel(v.weightBits, v.activationBits), mm2(v.units.areaMm2), watts(v.units.powerW), kfps(v.units.fps), mm2(v.paper.areaMm2), watts(v.paper.powerW)];
}

function variantsSection(r: AsicReport): string {
  return `## Homogeneous 1- and 2-bit weights beside this model

${VARIANTS_NOTE}

${table(['design', 'bits', 'units: area mm²', 'units: power W', 'units: kFPS', 'paper: area mm²', 'paper: power W'], r.variants.map(variantRow), ['l', 'l', 'r', 'r', 'r', 'r', 'r'])}`;
}

function histogramSection(r: AsicReport): string {
  const total = r.bits.binarizedParams || 1;
  return `## Weight bitwidth histogram

${table(
  ['bits', 'parameters', 'share'],
  r.bits.weightHistogram.map((n, i) => [String(i + 1), int(n), `${fixed((100 * n) / total, 2)}%`]),
)}`;
}

function layerRow(l: LayerEstimate, paperArea: number): string[] {
  return [
    mdEscape(l.name),
    l.kind,
    int(l.params),
    bits(l.avgWeightBits),
    `${bits(l.activation.avg)} (${l.activation.source}, ${l.activation.encoding})`,
    millions(l.macsPerFrame),
    millions(l.laneOpsPerFrame),
    `${l.pe}×${l.simd}${l.copies > 1 ? `×${l.copies}` : ''}`,
    int(l.cyclesPerFrame),
    fixed(l.units.sramBit / 1024, 1),
    mm2(l.totalAreaMm2),
    fixed(l.powerW * 1000, 2),
    mm2(paperArea),
  ];
}

function layersSection(r: AsicReport): string {
  return `## Layers

${table(
  ['layer', 'kind', 'params', 'w bits', 'act bits', 'MMAC/frame', 'M lane-ops/frame', 'PE×SIMD', 'cycles/frame', 'SRAM kbit', 'area mm²', 'power mW', 'paper area mm²'],
  r.units.layers.map((l, i) => layerRow(l, r.paper.layers[i]?.areaMm2 ?? 0)),
  ['l', 'l'],
)}

Output quantizers: ${r.units.layers.map((l) => `${mdEscape(l.name)}: ${outputLabel(l.output)}`).join('; ')}.`;
}

function breakdownSection(r: AsicReport): string {
  const u = r.units;
  return `## Where area and energy go (unit counts)

${table(
  ['unit', 'instantiated', 'area mm²', 'area share', 'energy µJ/frame'],
  UNIT_KINDS.map((k) => [
    UNIT_LABELS[k],
    int(u.layers.reduce((s, l) => s + l.units[k], 0)),
    mm2(u.areaBreakdownMm2[k]),
    `${fixed((100 * u.areaBreakdownMm2[k]) / (u.areaMm2 || 1), 1)}%`,
    fixed(u.energyBreakdownUj[k], 3),
  ]),
  ['l'],
)}

Dynamic power ${watts(u.dynamicPowerW)} W, leakage ${watts(u.leakagePowerW)} W.`;
}

function techSection(r: AsicReport): string {
  const t = r.tech;
  return `## Technology

${table(
  ['unit', 'area µm²', 'energy pJ'],
  UNIT_KINDS.map((k) => [UNIT_LABELS[k], String(t.area[k]), String(t.energy[k])]),
  ['l'],
)}

Voltage ${t.voltage} V, leakage ${t.leakageWPerMm2} W/mm², fold ${int(t.foldCycles)} cycles per frame, clock ${r.clockMhz} MHz.`;
}

function sweepSection(r: AsicReport): string {
  if (!r.sweep) return '';
  const rows = [...r.sweep.results].sort((a, b) => a.heuristic.localeCompare(b.heuristic) || a.avgBits - b.avgBits);
  return `\n\n## Accuracy vs average bits

${table(['heuristic', 'avg bits', 'top-1'], rows.map((e) => [mdEscape(e.heuristic), bits(e.avgBits), `${fixed(100 * e.top1, 2)}%`]), ['l'])}${
    r.sweep.floatTop1 !== undefined ? `\n\nFloat model top-1: ${fixed(100 * r.sweep.floatTop1, 2)}%.` : ''
  }`;
}

export function renderMarkdown(r: AsicReport): string {
  return `${[summarySection(r), comparisonSection(r), variantsSection(r), histogramSection(r), layersSection(r), breakdownSection(r), techSection(r)].join('\n\n')}${sweepSection(r)}

## Notes

${r.notes.map((n) => `- ${n}`).join('\n')}
`;
}
