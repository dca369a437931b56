/**
 * The paper's own ASIC estimate (METHOD §6, HBNN Table 2 rows 3, 7, 8, 12, 13): a 2-bit
 * baseline design (the anchor) whose area and power scale with
 * (b_activations · b_weights) / (2 · 2), throughput unchanged.
 *
 * The anchor is, by default, this cost model's own estimate of the same network at
 * homogeneous W2A2 (for FINN's CNV with the default technology that is the paper's VGG-8
 * row by calibration). The paper's published anchors can be named instead: its MobileNet
 * row is not derived from any unit count (it is the VGG-8 design multiplied by 49, the
 * same factor as its FPGA throughput ratio 21.9 / 0.45 kFPS), so reproducing it needs the
 * anchor `mobilenet-v1-imagenet`.
 */
import type { DesignEstimate } from './cost.js';
import { bitsLabel } from './format.js';
import { fail, ErrorCodes } from '../../errors.js';

export interface PaperAnchor {
  /** Where the figures come from. */
  label: string;
  areaMm2: number;
  powerW: number;
  fps: number;
  /** Bits of the anchor design (the paper's are 2 and 2). */
  weightBits: number;
  activationBits: number;
}

export const PAPER_ANCHORS = {
  'vgg8-cifar10': {
    label: 'HBNN Table 2 row 3: ASIC VGG-8 (CIFAR-10), 2-bit (Alemdar et al. 2017)',
    areaMm2: 6.06,
    powerW: 0.38,
    fps: 3400,
    weightBits: 2,
    activationBits: 2,
  },
  'mobilenet-v1-imagenet': {
    label: "HBNN Table 2 row 12: ASIC MobileNet (ImageNet), 2-bit (the paper's extrapolation)",
    areaMm2: 297,
    powerW: 18.62,
    fps: 3400,
    weightBits: 2,
    activationBits: 2,
  },
} as const satisfies Record<string, PaperAnchor>;

export type PaperAnchorName = keyof typeof PAPER_ANCHORS;
export const PAPER_ANCHOR_NAMES = Object.keys(PAPER_ANCHORS) as PaperAnchorName[];

export interface PaperEstimate {
  anchor: PaperAnchor;
  /** True when the anchor is this model's own unit-count estimate at W2A2. */
  anchorIsUnitModel: boolean;
  weightBits: number;
  activationBits: number;
  /** (activationBits · weightBits) / (anchor activation bits · anchor weight bits). */
  factor: number;
  areaMm2: number;
  powerW: number;
  fps: number;
  /** Per layer: the anchor's per-layer shares (from the unit model at W2A2) times the layer's own bit product, renormalized to the total. */
  layers: { name: string; areaMm2: number; powerW: number }[];
}

/** Resolves the `paperAnchor` option (a name, an explicit anchor, or undefined for the unit model at W2A2). */
export function resolveAnchor(anchor: PaperAnchorName | PaperAnchor | undefined, unitW2A2: DesignEstimate): { anchor: PaperAnchor; isUnitModel: boolean } {
  if (anchor === undefined) {
    return {
      // The anchor is the homogeneous 2-bit design as priced: its bits are what it has (HBNN
      // activations at 2 bits, fixed-point ones at their width), so that the rule scales from
      // the design it was measured on.
      anchor: {
        label: `this cost model at homogeneous ${bitsLabel(unitW2A2.avgWeightBits, unitW2A2.avgActivationBits)} (same network, technology and clock)`,
        areaMm2: unitW2A2.areaMm2,
        powerW: unitW2A2.powerW,
        fps: unitW2A2.fps,
        weightBits: unitW2A2.avgWeightBits,
        activationBits: unitW2A2.avgActivationBits,
      },
      isUnitModel: true,
    };
  }
  if (typeof anchor === 'string') {
    const known = (PAPER_ANCHORS as Record<string, PaperAnchor>)[anchor];
    if (!known) fail(ErrorCodes.INVALID_OPTION, `unknown paper anchor "${anchor}" (known: ${PAPER_ANCHOR_NAMES.join(', ')})`, { option: 'paperAnchor' });
    return { anchor: known, isUnitModel: false };
  }
  for (const key of ['areaMm2', 'powerW', 'fps', 'weightBits', 'activationBits'] as const) {
    const v = anchor[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      fail(ErrorCodes.INVALID_OPTION, `paperAnchor.${key} must be a finite number > 0, got ${String(v)}`, { option: 'paperAnchor', field: key });
    }
  }
  return { anchor: { ...anchor, label: anchor.label || 'custom anchor' }, isUnitModel: false };
}

/**
 * The paper's rule applied to `design` (whose average bits it reads) with `anchor`;
 * per-layer figures distribute the total by `unitW2A2`'s per-layer shares weighted by each
 * layer's own (activation bits · weight bits).
 */
export function paperEstimate(design: DesignEstimate, unitW2A2: DesignEstimate, anchor: PaperAnchor, anchorIsUnitModel: boolean): PaperEstimate {
  const wb = design.avgWeightBits;
  const ab = design.avgActivationBits;
  const factor = (ab * wb) / (anchor.activationBits * anchor.weightBits);
  const areaMm2 = anchor.areaMm2 * factor;
  const powerW = anchor.powerW * factor;
  const weightsOf = (pick: (i: number) => number): number[] =>
    design.layers.map((l, i) => pick(i) * (l.activation.source === 'network-input' ? 1 : l.activation.avg / 2) * (l.avgWeightBits / 2));
  const areaW = weightsOf((i) => unitW2A2.layers[i]!.totalAreaMm2);
  const powerWts = weightsOf((i) => unitW2A2.layers[i]!.powerW);
  const aSum = areaW.reduce((a, b) => a + b, 0) || 1;
  const pSum = powerWts.reduce((a, b) => a + b, 0) || 1;
  return {
    anchor,
    anchorIsUnitModel,
    weightBits: wb,
    activationBits: ab,
    factor,
    areaMm2,
    powerW,
    fps: anchor.fps,
    layers: design.layers.map((l, i) => ({ name: l.name, areaMm2: (areaMm2 * areaW[i]!) / aSum, powerW: (powerW * powerWts[i]!) / pSum })),
  };
}
