/**
 * The ASIC report: one JSON-able record holding the unit-count estimate, the paper-rule
 * estimate, the homogeneous 1- and 2-bit variants of the same network and (optionally)
 * accuracy results. Renderers (render-md.ts, render-html.ts) only format it.
 */
import type { AsicTech } from './tech.js';
import { estimateDesign, type DesignEstimate } from './cost.js';
import { paperEstimate, resolveAnchor, type PaperAnchor, type PaperAnchorName, type PaperEstimate } from './paper.js';
import { withHomogeneousBits, paramCount, type AsicLayerWork, type WorkSource } from './work.js';
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
    'Homogeneous 1- and 2-bit rows are computed from the same unit counts with every HBNN bit histogram replaced (weights and activations); the network was not re-quantized.',
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
    variants: [variant('homogeneous W1A1', 'homogeneous-1', w1), variant('this model', 'model', units), variant('homogeneous W2A2', 'homogeneous-2', w2)],
    ...(o.sweep ? { sweep: o.sweep } : {}),
    notes,
  };
}
