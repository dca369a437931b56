/**
 * The ASIC report: one JSON-able record holding the unit-count estimate, the paper-rule
 * estimate, the homogeneous 1- and 2-bit variants of the same network and (optionally)
 * accuracy results. Renderers (render-md.ts, render-html.ts) only format it.
 */
import type { AsicTech } from './tech.js';
import { estimateDesign, type DesignEstimate } from './cost.js';
import { paperEstimate, resolveAnchor, type PaperAnchor, type PaperAnchorName, type PaperEstimate } from './paper.js';
import { withHomogeneousBits, paramCount, type AsicLayerWork, type WorkSource } from './work.js';
import { bitsLabel, VARIANTS_NOTE } from './format.js';
import type { SweepInput } from './sweep-input.js';

export const ASIC_REPORT_FORMAT = 'hbnn-asic-report/1';

export type AsicScaling = 'units' | 'paper';

export interface VariantRow {
  label: string;
  /** 'model' is the network as quantized; the others substitute homogeneous histograms. */
  variant: 'homogeneous-1' | 'model' | 'homogeneous-2';
  weightBits: number;
  activationBits: number;
  units: { areaMm2: number; powerW: number; fps: number; energyPerFrameUj: number };
  paper: { areaMm2: number; powerW: number; fps: number };
}

export interface AsicReport {
  format: typeof ASIC_REPORT_FORMAT;
  model: string;
  /** Which adapter produced the per-layer work (bit-level IR or quantization record). */
  source: WorkSource;
  scaling: AsicScaling;
  tech: AsicTech;
  clockMhz: number;
  /** The figures `scaling` selects. */
  summary: { areaMm2: number; powerW: number; fps: number; energyPerFrameUj: number };
  bits: {
    avgWeightBits: number;
    avgActivationBits: number;
    /** Over plane-encoded (binarized) weights: histogram[k-1] = parameters with k bits. */
    weightHistogram: number[];
    binarizedParams: number;
    totalParams: number;
  };
  units: DesignEstimate;
  paper: PaperEstimate;
  variants: VariantRow[];
  sweep?: SweepInput;
  /** Which of the two estimates to trust for this design, and why they differ (one paragraph). */
  trust: string;
  notes: string[];
}

export interface BuildReportOptions {
  model: string;
  source: WorkSource;
  scaling: AsicScaling;
  tech: AsicTech;
  clockMhz: number;
  paperAnchor?: PaperAnchorName | PaperAnchor;
  sweep?: SweepInput;
  notes?: string[];
}

function globalHistogram(works: readonly AsicLayerWork[]): number[] {
  const h: number[] = [];
  for (const w of works) {
    if (w.weightEncoding !== 'planes') continue;
    w.weightBits.forEach((n, i) => (h[i] = (h[i] ?? 0) + n));
  }
  return Array.from(h, (x) => x ?? 0);
}

/**
 * Which figure to trust, and why the two differ: the unit counts price this design; the
 * paper's rule scales an anchor by the bit product (the paper's Table 2 arithmetic).
 */
export function whichToTrust(units: DesignEstimate, paper: PaperEstimate): string {
  const d = paper.areaMm2 > 0 ? (units.areaMm2 - paper.areaMm2) / paper.areaMm2 : 0;
  const base =
    'Trust the unit counts for this design: they price the units this network instantiates (XNOR-popcount lanes, adder trees, accumulators, comparators, SRAM) at the technology\'s costs. ' +
    "The paper's rule scales one anchor design by b_act · b_weight, as the paper's Table 2 does; it is shown to compare with the paper, not as a second estimate of this design.";
  if (Math.abs(d) <= 0.25) return `${base} Here the two agree within ${Math.abs(d * 100).toFixed(1)}% (area).`;
  const why: string[] = [];
  if (!paper.anchorIsUnitModel) why.push(`the anchor is another design (${paper.anchor.label}), transferred by bit product only, not by network size`);
  if (units.avgActivationBits > 3) why.push(`the activations average ${units.avgActivationBits.toFixed(2)} bits (fixed point), outside the 1-3 bits the rule was made for`);
  const sram = units.areaMm2 > 0 ? units.areaBreakdownMm2.sramBit / units.areaMm2 : 0;
  if (sram > 0.5) why.push(`${(sram * 100).toFixed(0)}% of the area is SRAM, which grows with the weight bits only, not with b_act · b_weight`);
  if (why.length === 0) why.push('units that do not scale with the bit product (accumulators, the fixed-point first layer, SRAM) carry a different share of the cost than the rule assumes');
  return `${base} Here they differ by ${d >= 0 ? '+' : ''}${(d * 100).toFixed(1)}% (area) because ${why.join('; and ')}.`;
}

export function buildAsicReport(works: readonly AsicLayerWork[], o: BuildReportOptions): AsicReport {
  const units = estimateDesign(works, o.tech, o.clockMhz);
  const w1 = estimateDesign(withHomogeneousBits(works, 1), o.tech, o.clockMhz);
  const w2 = estimateDesign(withHomogeneousBits(works, 2), o.tech, o.clockMhz);
  const { anchor, isUnitModel } = resolveAnchor(o.paperAnchor, w2);
  const paper = paperEstimate(units, w2, anchor, isUnitModel);
  const variant = (label: string, v: VariantRow['variant'], d: DesignEstimate): VariantRow => {
    const p = paperEstimate(d, w2, anchor, isUnitModel);
    return {
      label,
      variant: v,
      weightBits: d.avgWeightBits,
      activationBits: d.avgActivationBits,
      units: { areaMm2: d.areaMm2, powerW: d.powerW, fps: d.fps, energyPerFrameUj: d.energyPerFrameUj },
      paper: { areaMm2: p.areaMm2, powerW: p.powerW, fps: p.fps },
    };
  };
  const histogram = globalHistogram(works);
  const summary =
    o.scaling === 'paper'
      ? { areaMm2: paper.areaMm2, powerW: paper.powerW, fps: paper.fps, energyPerFrameUj: (paper.powerW / paper.fps) * 1e6 }
      : { areaMm2: units.areaMm2, powerW: units.powerW, fps: units.fps, energyPerFrameUj: units.energyPerFrameUj };
  const notes = [
    o.source === 'bit-ir'
      ? 'Per-layer work read from the bit-level IR (lower --from-bit-ir).'
      : "Per-layer work read from the quantized ONNX model's hbnn.quantization record and graph (lower without --from-bit-ir reads it).",
    VARIANTS_NOTE,
    ...(o.notes ?? []),
  ];
  return {
    format: ASIC_REPORT_FORMAT,
    model: o.model,
    source: o.source,
    scaling: o.scaling,
    tech: o.tech,
    clockMhz: o.clockMhz,
    summary,
    bits: {
      avgWeightBits: units.avgWeightBits,
      avgActivationBits: units.avgActivationBits,
      weightHistogram: histogram,
      binarizedParams: histogram.reduce((a, b) => a + b, 0),
      totalParams: works.reduce((s, w) => s + paramCount(w), 0),
    },
    units,
    paper,
    // Labels say the bits each design has: HBNN activations follow the weights' homogeneous
    // width, fixed-point ones (the input, float layers priced at --activation-bits) keep theirs.
    variants: [
      variant(`homogeneous ${bitsLabel(w1.avgWeightBits, w1.avgActivationBits)}`, 'homogeneous-1', w1),
      variant('this model', 'model', units),
      variant(`homogeneous ${bitsLabel(w2.avgWeightBits, w2.avgActivationBits)}`, 'homogeneous-2', w2),
    ],
    ...(o.sweep ? { sweep: o.sweep } : {}),
    trust: whichToTrust(units, paper),
    notes,
  };
}
