/**
 * Resource and throughput estimates of a streaming design (docs/backend-vivado-hls.md,
 * "Estimates", states every formula and its source).
 *
 * Matrix-vector-threshold units follow the FINN-R analytical model (Blott et al., "FINN-R: An
 * End-to-End Deep-Learning Framework for Fast Exploration of Quantized Neural Networks",
 * TRETS 2018) in the extended form FINN's MVAU estimator uses:
 *   LUT = c0 + c1·PE·(mult + adder tree + accumulator + thresholds + comparators) + c2,
 *   c0 = 300, c1 = 1.1; mult = Q·(2·⌈(W+A)/6⌉ − 1)·(W+A); adder tree = (W+A)·(2Q − 1);
 *   accumulator = its width; thresholds (LUTRAM) = n·w·⌈TMEM/64⌉; comparators = n·w;
 *   c2 = P·Q·W·⌈WMEM/64⌉ when the weights sit in LUTRAM (WMEM ≤ 128).
 * Binary × binary lanes cost BINARY_LANE_LUTS = 2 LUTs each (before c1) instead of FINN's
 * generic mult + adder tree (6): the popcount tree counted by its widths.
 * Heterogeneous extension: every accumulator term (weight plane i × activation plane k) is
 * its own xnor-popcount unit with Q·d_i lanes, d_i the fraction of weights that have an
 * i-th plane (so lanes follow the sum of per-parameter bits, not the maximum); terms with a
 * weight mask need a second popcount (of the mask) per PE; several terms are combined by
 * multiplying each accumulator with its constant, one DSP per PE time-shared over the SF
 * cycles of a row fold (multipliers ≤ 25×18 bits are DSP48 slices, as Vivado HLS maps them;
 * beyond the part's DSPs the excess is counted as LUT multipliers). BRAM follows FINN's block-RAM bucketing of the packed weight memory
 * (the words the generated code stores: one sign word per plane, plus a mask word for a
 * plane that not every weight has).
 */
import type { BinaryWeight, FixedWeight } from '../../bitir/types.js';
import { popcount32 } from '../../bitir/lower.js';
import { entryBits } from './design.js';
import type { FpgaEstimate, FpgaPart, HlsDesign, HlsStage, StageEstimate, UnitStage } from './types.js';
import { unreachable } from '../../bitir/types.js';

/** FINN-R constants (FINN's MVAU lut_estimation: "parameters from experiments in paper"). */
export const FINN_C0 = 300;
export const FINN_C1 = 1.1;

/**
 * LUTs (before c1) of one binary popcount lane: an xnor (or AND, for a mask) feeding a
 * popcount tree; replaces FINN's generic multiplier and adder-tree terms for binary × binary
 * lanes only (fixed-point lanes keep them). FINN's formula charges W = A = 1 a 2-LUT multiplier
 * and 2Q − 1 adder nodes of W + A = 2 bits (6 LUTs per lane). Counted by the tree's actual
 * widths instead: Q/2^l adders of l-bit operands at level l, one LUT per operand bit on the
 * carry chain, is Σ_l Q·l/2^l ≈ 2Q LUTs, the xnors absorbed into the first level's LUTs.
 * Derived, not fitted; docs/backend-vivado-hls.md ("Binary lanes") compares the result with
 * FINN's and BNN-PYNQ's published CNV designs (1.1 would match FINN's 46,253 LUTs exactly but
 * puts BNN-PYNQ's 26,072 25% off).
 */
export const BINARY_LANE_LUTS = 2;

// ------------------------------------------------------------------------------------------
// Weight statistics
// ------------------------------------------------------------------------------------------

export interface PlaneStats {
  /** Fraction of the weights present in each plane (plane 1 first). */
  density: number[];
  /** Whether every weight has the plane (its mask word need not be stored). */
  full: boolean[];
  /** Σ per-parameter bits / parameters. */
  avgBits: number;
  /** Bits per weight the fixed-point weights use (fixed weights only). */
  fixedBits?: number;
}

const statsCache = new WeakMap<BinaryWeight | FixedWeight, PlaneStats>();

export function planeStats(w: BinaryWeight | FixedWeight): PlaneStats {
  const hit = statsCache.get(w);
  if (hit) return hit;
  let s: PlaneStats;
  if (w.kind === 'fixed') {
    s = { density: [1], full: [true], avgBits: w.bits, fixedBits: w.bits };
  } else {
    const n = w.rows * w.cols;
    const density = w.planes.map((p) => {
      let c = 0;
      for (let i = 0; i < p.mask.length; i++) c += popcount32(p.mask[i]!);
      return n > 0 ? c / n : 0;
    });
    s = { density, full: density.map((d) => d === 1), avgBits: density.reduce((a, b) => a + b, 0) };
  }
  statsCache.set(w, s);
  return s;
}

// ------------------------------------------------------------------------------------------
// Building blocks
// ------------------------------------------------------------------------------------------

/** FINN's multiplier LUTs for Q lanes of W×A bits. */
function multLuts(q: number, w: number, a: number): number {
  return q * (2 * Math.ceil((w + a) / 6) - 1) * (w + a);
}

/** FINN's adder-tree LUTs for Q lanes of W×A-bit products. */
function adderTreeLuts(q: number, w: number, a: number): number {
  return q <= 0 ? 0 : (w + a) * (2 * q - 1);
}

/** Lane logic of Q lanes of W×A-bit products: calibrated popcount lanes when both are 1 bit. */
function binaryLanes(q: number, w: number, a: number): number {
  if (w === 1 && a === 1) return BINARY_LANE_LUTS * q;
  return multLuts(q, w, a) + adderTreeLuts(q, w, a);
}

/** DSP48 slices for one a×b-bit multiplier (25×18 signed inputs). */
export function dspPerMultiplier(a: number, b: number): number {
  const big = Math.max(a, b);
  const small = Math.min(a, b);
  return Math.ceil(big / 25) * Math.ceil(small / 18);
}

/**
 * FINN's BRAM18 count for a memory of `depth` words of `width` bits (SDP RAMB18 aspect ratios,
 * UG473/UG573): width 1 → 16K deep, 2 → 8K, ≤4 → 4K, ≤9 → 2K, ≤18 or depth > 512 → 1K, else 512×36.
 */
export function bram18For(depth: number, width: number): number {
  if (depth <= 0 || width <= 0) return 0;
  if (width === 1) return Math.ceil(depth / 16384);
  if (width === 2) return Math.ceil(depth / 8192);
  if (width <= 4) return Math.ceil(depth / 4096) * Math.ceil(width / 4);
  if (width <= 9) return Math.ceil(depth / 2048) * Math.ceil(width / 9);
  if (width <= 18 || depth > 512) return Math.ceil(depth / 1024) * Math.ceil(width / 18);
  return Math.ceil(depth / 512) * Math.ceil(width / 36);
}

/** Bit widths of the per-row constants of a unit's activation (for LUTRAM and multipliers). */
function constBits(values: number[]): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  let b = 1;
  while (2 ** (b - 1) - 1 < m) b++;
  return b;
}

// ------------------------------------------------------------------------------------------
// Units
// ------------------------------------------------------------------------------------------

/** Where a unit's LUTs go (they add up to `luts`). */
export interface UnitLutBreakdown {
  /** c0: control and interface of the unit. */
  base: number;
  /** Lane logic (xnor/negation, popcount / adder trees, shared mask popcounts). */
  lanes: number;
  /** Per-PE accumulators, term combination and the activation (thresholds, comparators, requantization). */
  perPe: number;
  /** Weights in LUTRAM (small weight memories). */
  memory: number;
}

export interface UnitCost {
  luts: number;
  breakdown: UnitLutBreakdown;
  /** LUTs if every weight plane had SIMD lanes (what synthesis builds from dense masked words). */
  lutsDense: number;
  bram18: number;
  dsp: number;
  cycles: number;
  lanesPerPe: number;
  /** LUTs the `dsp` multipliers would take in fabric (FINN's multiplier formula, × c1). */
  dspFabricLuts: number;
}

type UnitShape = Pick<UnitStage, 'mh' | 'mw' | 'reps' | 'pe' | 'simd' | 'weight' | 'terms' | 'accBits' | 'activation' | 'in'>;

/** Cost of a unit with its folding (`pe`, `simd`). */
export function unitCost(u: UnitShape): UnitCost {
  const p = u.pe;
  const q = u.simd;
  const nf = u.mh / p;
  const sf = u.mw / q;
  const stats = planeStats(u.weight);
  const fixedIn = u.in.entry.kind === 'fixed';
  const aBits = u.in.entry.kind === 'fixed' ? u.in.entry.bits : 1;
  const wBits = stats.fixedBits ?? 1;
  let perPe = 0;
  let perPeDense = 0;
  let accLuts = 0;
  let shared = 0;
  let lanes = 0;
  let dsp = 0;
  let fabric = 0;
  for (const t of u.terms) {
    const d = t.w === 0 ? 1 : stats.density[t.w - 1] ?? 1;
    const full = t.w === 0 ? true : stats.full[t.w - 1] ?? true;
    const l = q * d;
    lanes += l;
    const term = (laneCount: number): number => {
      let c = 0;
      if (wBits > 1 && fixedIn) {
        // Fixed weights × fixed input: one DSP per lane, the adder tree in LUTs.
        c += adderTreeLuts(laneCount, wBits, aBits);
      } else if (fixedIn) {
        // ±1 weights × A-bit input: a conditional negation (A+1 LUTs) per lane, no multiplier.
        c += laneCount * (1 + aBits) + adderTreeLuts(laneCount, 1, aBits);
      } else {
        c += binaryLanes(laneCount, wBits, aBits);
        // Binary × binary with a weight mask: the popcount of M = Mw & Ma per PE.
        if (!fixedIn && t.w > 0 && !full) c += binaryLanes(laneCount, 1, 1);
      }
      return c;
    };
    perPe += term(l);
    perPeDense += term(q);
    accLuts += u.accBits;
    if (wBits > 1 && fixedIn) {
      dsp += p * q;
      fabric += p * q * multLuts(1, wBits, aBits);
    }
    // Binary × binary without a weight mask: popcount(Ma) is shared by all PEs.
    if (!fixedIn && t.w > 0 && full) shared += binaryLanes(q, 1, 1);
  }
  // Activation: combine terms, then compare (threshold) or scale, round and clamp (requantize).
  const a = u.activation;
  const tmemWords = Math.ceil(nf / 64);
  const multipliers = a.multipliers;
  const trivial = multipliers.length === 1 && multipliers[0]!.every((m) => m === 1);
  let act = 0;
  if (!trivial) {
    const mBits = constBits(multipliers.flat());
    const mults = p * Math.ceil(multipliers.length / sf);
    dsp += mults * dspPerMultiplier(u.accBits, mBits);
    fabric += mults * multLuts(1, u.accBits, mBits);
    act += a.sumBits + multipliers.length * mBits * tmemWords;
  }
  if (a.kind === 'threshold') {
    const n = Math.max(0, ...a.thresholds.map((t) => t.length));
    act += n * a.sumBits * tmemWords + n * a.sumBits;
  } else {
    act += a.sumBits * tmemWords + a.sumBits + a.outBits;
  }
  // Weight memory: per PE and tile, a sign word per plane and a mask word for partial planes.
  const wmem = nf * sf;
  const laneBits = u.weight.kind === 'fixed' ? u.weight.bits : stats.full.reduce((s, f) => s + (f ? 1 : 2), 0);
  const memWidth = p * q * laneBits;
  let bram = 0;
  let c2 = 0;
  if (wmem <= 128) c2 = memWidth * Math.ceil(wmem / 64);
  else bram = bram18For(wmem, memWidth);
  const breakdown: UnitLutBreakdown = {
    base: FINN_C0,
    lanes: Math.round(FINN_C1 * (p * perPe + shared)),
    perPe: Math.round(FINN_C1 * p * (accLuts + act)),
    memory: Math.round(c2),
  };
  const luts = breakdown.base + breakdown.lanes + breakdown.perPe + breakdown.memory;
  const lutsDense = breakdown.base + Math.round(FINN_C1 * (p * perPeDense + shared)) + breakdown.perPe + breakdown.memory;
  return { luts, breakdown, lutsDense, bram18: bram, dsp, cycles: u.reps * nf * sf, lanesPerPe: lanes, dspFabricLuts: Math.round(FINN_C1 * fabric) };
}

// ------------------------------------------------------------------------------------------
// Stages
// ------------------------------------------------------------------------------------------

/** Cycles per sample of a stage in steady state. */
export function stageCycles(s: HlsStage): number {
  switch (s.kind) {
    case 'input':
      return s.out.entries;
    case 'dwc':
      return Math.max(s.in.entries / s.in.beat, s.out.entries / s.out.beat);
    case 'window':
      return Math.max(s.height * s.width, s.out.entries / s.out.beat);
    case 'unit':
      return s.reps * (s.mh / s.pe) * (s.mw / s.simd);
    case 'relu':
    case 'threshold':
    case 'scale':
      return s.in.entries / s.in.beat;
    case 'maxpool':
      return s.height * s.width;
    case 'argmax':
      return s.in.entries / s.in.beat;
    default:
      return unreachable(s, 'stage');
  }
}

export function stageEstimate(s: HlsStage): StageEstimate {
  const base = { stage: s.name, kind: s.kind, cycles: stageCycles(s) };
  switch (s.kind) {
    case 'input': {
      const w = entryBits(s.out.entry) * s.out.beat;
      return { ...base, luts: Math.round(50 + w), lutsDense: Math.round(50 + w), bram18: 0, dsp: 0 };
    }
    case 'dwc': {
      const bits = entryBits(s.in.entry);
      const luts = Math.round(20 + bits * Math.max(s.in.beat, s.out.beat));
      return { ...base, luts, lutsDense: luts, bram18: 0, dsp: 0 };
    }
    case 'window': {
      // FINN ConvolutionInputGenerator: 300 LUTs and a (K + stride)-row buffer of words of
      // SIMD entries, in block RAM, or in LUTRAM (FINN's distributed formula) when a row is at
      // most 64 words deep (what Vivado does with such shallow memories).
      const bits = entryBits(s.in.entry);
      const simd = s.out.beat;
      const depth = (s.width * s.channels) / simd;
      const rows = s.kernel[0] + s.strides[0];
      const lutram = depth <= 64 ? rows * simd * bits * Math.ceil(depth / 64) : 0;
      const bram = depth <= 64 ? 0 : rows * bram18For(depth, simd * bits);
      return { ...base, luts: FINN_C0 + lutram, lutsDense: FINN_C0 + lutram, bram18: bram, dsp: 0 };
    }
    case 'unit': {
      const c = unitCost(s);
      const stats = planeStats(s.weight);
      return {
        ...base,
        layer: s.layer,
        luts: c.luts,
        lutsDense: c.lutsDense,
        breakdown: c.breakdown,
        bram18: c.bram18,
        dsp: c.dsp,
        pe: s.pe,
        simd: s.simd,
        mh: s.mh,
        mw: s.mw,
        reps: s.reps,
        lanesPerPe: Math.round(c.lanesPerPe * 100) / 100,
        weightBits: Math.round(stats.avgBits * 1000) / 1000,
        activationBits: s.in.entry.kind === 'fixed' ? s.in.entry.bits : s.in.entry.planes,
      };
    }
    case 'relu': {
      const bits = entryBits(s.in.entry);
      const luts = Math.round(10 + (s.in.beat * bits) / 2);
      return { ...base, luts, lutsDense: luts, bram18: 0, dsp: 0 };
    }
    case 'threshold': {
      const n = Math.max(0, ...s.thresholds.map((t) => t.length));
      const luts = Math.round(FINN_C1 * s.in.beat * n * s.sumBits * (1 + Math.ceil(s.channels / s.in.beat / 64)));
      return { ...base, luts, lutsDense: luts, bram18: 0, dsp: 0 };
    }
    case 'maxpool': {
      // A comparator per channel lane (a pixel per cycle) and a K-row line buffer of pixels
      // (LUTRAM when at most 64 pixels wide, as for the window stage).
      const bits = entryBits(s.in.entry);
      const lutram = s.width <= 64 ? s.kernel[0] * s.channels * bits : 0;
      const luts = Math.round(FINN_C0 + s.channels * bits + lutram);
      const bram = s.width <= 64 ? 0 : s.kernel[0] * bram18For(s.width, s.channels * bits);
      return { ...base, luts, lutsDense: luts, bram18: bram, dsp: 0 };
    }
    case 'scale': {
      const bits = entryBits(s.in.entry);
      const mBits = constBits([s.multiplier]);
      return { ...base, luts: 100 + bits, lutsDense: 100 + bits, bram18: 0, dsp: s.in.beat * dspPerMultiplier(bits, mBits) };
    }
    case 'argmax': {
      const bits = entryBits(s.in.entry);
      return { ...base, luts: 100 + bits * s.in.beat, lutsDense: 100 + bits * s.in.beat, bram18: 0, dsp: 0 };
    }
    default:
      return unreachable(s, 'stage');
  }
}

/** LUTs the DSP multipliers of a stage would take in fabric (FINN's multiplier formula, × c1). */
function stageDspFabricLuts(s: HlsStage): number {
  if (s.kind === 'unit') return unitCost(s).dspFabricLuts;
  if (s.kind === 'scale') return Math.round(FINN_C1 * s.in.beat * multLuts(1, entryBits(s.in.entry), constBits([s.multiplier])));
  return 0;
}

export interface EstimateOptions {
  part: FpgaPart;
  clockMhz: number;
  targetFps?: number;
}

const pct = (x: number, of: number): number => Math.round((10000 * x) / of) / 100;

/** Per-stage and total estimates of `design` on `part` at `clockMhz`. */
export function estimateDesign(design: HlsDesign, o: EstimateOptions): FpgaEstimate {
  const stages = design.stages.map(stageEstimate);
  let luts = 0;
  let lutsDense = 0;
  let bram = 0;
  let dsp = 0;
  let worst = stages[0]!;
  let sumCycles = 0;
  for (const s of stages) {
    luts += s.luts;
    lutsDense += s.lutsDense;
    bram += s.bram18;
    dsp += s.dsp;
    sumCycles += s.cycles;
    if (s.cycles > worst.cycles) worst = s;
  }
  // Multiplications of at most 25×18 bits map to DSP48 slices (Vivado HLS's default for `*`).
  // Where the design needs more DSPs than the part has, the rest are built in LUTs.
  let dspFallback: string | undefined;
  if (dsp > o.part.dsp) {
    const fabric = design.stages.reduce((a, s) => a + stageDspFabricLuts(s), 0);
    const excess = dsp - o.part.dsp;
    const extra = Math.round((fabric * excess) / dsp);
    dspFallback = `${dsp} DSP48 slices needed, ${o.part.dsp} on the ${o.part.name}: the multipliers of the other ${excess} are counted as LUT multipliers (+${extra.toLocaleString('en-US')} LUTs, FINN's multiplier formula).`;
    luts += extra;
    lutsDense += extra;
    dsp = o.part.dsp;
  }
  const hz = o.clockMhz * 1e6;
  const fps = hz / worst.cycles;
  const notes = [
    'FINN-R analytical model (LUT = 300 + 1.1·PE·(lanes + adder tree + accumulator + thresholds); a binary xnor-popcount lane costs 2.2 LUTs, its adder tree counted by width), extended to heterogeneous planes: lanes per term = SIMD × fraction of weights with that plane.',
    'Multipliers of at most 25×18 bits (combining plane accumulators, fixed-point lanes, scales) are DSP48 slices, as Vivado HLS maps them by default.',
    `The heterogeneous lane count assumes only the lanes whose weights have a plane are built (true when weights are constants in logic); synthesizing the emitted dense masked words instead builds SIMD lanes per plane: ${Math.round(lutsDense).toLocaleString('en-US')} LUTs (lutsDense).`,
    'Not included: AXI DMA / interconnect, the FIFOs between stages, the processing system, and place-and-route effects.',
    'Latency is Σ stage cycles / clock (each stage finishes a sample before the next starts): an upper bound.',
  ];
  const unmet = o.targetFps !== undefined && fps < o.targetFps * (1 - 1e-9);
  if (dspFallback) notes.unshift(dspFallback);
  if (unmet) notes.unshift(`target ${o.targetFps} FPS not reached: the slowest stage (${worst.stage}) needs ${worst.cycles} cycles per sample even at full parallelism or fixed-rate input.`);
  return {
    format: 'hbnn-fpga-estimate/1',
    part: o.part,
    clockMhz: o.clockMhz,
    stages,
    total: {
      luts: Math.round(luts),
      lutsDense: Math.round(lutsDense),
      bram18: bram,
      dsp,
      cycles: worst.cycles,
      bottleneck: worst.stage,
      fps: Math.round(fps * 10) / 10,
      latencyUs: Math.round((sumCycles / hz) * 1e6 * 10) / 10,
      lutPercent: pct(luts, o.part.luts),
      bramPercent: pct(bram, o.part.bram18),
      dspPercent: pct(dsp, o.part.dsp),
    },
    notes,
    ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}),
    avgWeightBits: design.avgWeightBits,
    ...(design.avgActivationBits !== undefined ? { avgActivationBits: design.avgActivationBits } : {}),
  };
}
