/**
 * Types of the Vivado HLS backend: the streaming design it builds from a BitProgram (a
 * closed union of stage kinds), the folding (PE/SIMD per matrix-vector unit) and the
 * resource estimates.
 *
 * The design is a chain of streaming stages connected by FIFOs (`hls::stream`), run as one
 * DATAFLOW region. Every stream carries `beat` entries per transfer; an entry is one
 * fixed-point integer (`ap_int<bits>`) or one bit-plane activation code (`ap_uint<2K>`:
 * plane signs in bits 0..K-1, plane masks in bits K..2K-1, see docs/bit-ir.md).
 */
import type { BinaryType, BinaryWeight, FixedType, FixedWeight, Level } from '../../bitir/types.js';

/** What one stream entry is. */
export type EntryType = { kind: 'fixed'; bits: number } | { kind: 'binary'; planes: number; levels: Level[] };

/**
 * Entry order on a stream, relative to the IR's row-major order of the tensor:
 * - `hwc`: an image [C,H,W] streamed pixel by pixel (row-major over H,W), channels inside a pixel;
 * - `vector`: a 1-D tensor; `perm[i]` is the IR index of the i-th entry (undefined: the identity).
 */
export type StreamLayout = { kind: 'hwc'; c: number; h: number; w: number } | { kind: 'vector'; size: number; perm?: Int32Array };

export interface StreamInfo {
  /** C++ identifier of the stream (and prefix of its entry typedef). */
  name: string;
  /** IR tensor it carries. */
  tensor: string;
  entry: EntryType;
  /** Entries per transfer. */
  beat: number;
  /** Entries per sample. */
  entries: number;
  layout: StreamLayout;
  /**
   * FIFO depth in beats (default 2): larger on the inputs of an `add`/`concat` stage whose
   * branches reach it at different times (design.ts, "FIFO depths").
   */
  depth?: number;
}

interface StageBase {
  /** Unique C++ identifier of the stage function. */
  name: string;
  /** IR op ids this stage implements. */
  ops: string[];
  /** ONNX nodes behind those ops (for messages and reports). */
  nodes: string[];
}

/** The streams and [C,H,W] window geometry shared by the window, max-pool and average-pool stages. */
interface SlidingWindowGeometry {
  in: StreamInfo;
  out: StreamInfo;
  channels: number;
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  kernel: [number, number];
  strides: [number, number];
  /** [top, left, bottom, right]. */
  pads: [number, number, number, number];
  dilations: [number, number];
}

/** Reads the quantized input from the AXI-Stream, one entry per beat, and packs `out.beat` entries. */
export interface InputStage extends StageBase {
  kind: 'input';
  out: StreamInfo;
  entry: FixedType;
}

/** Repacks a stream from `in.beat` to `out.beat` entries per transfer. */
export interface WidthConverterStage extends StageBase {
  kind: 'dwc';
  in: StreamInfo;
  out: StreamInfo;
}

/**
 * Sliding-window generator for a convolution: a line buffer of input rows; for each output
 * pixel it emits the window vector (kh, kw, c) in chunks of `out.beat` (= the unit's SIMD).
 */
export interface WindowStage extends StageBase, SlidingWindowGeometry {
  kind: 'window';
  /**
   * A grouped (depthwise) convolution's window, for its vector-vector unit: per output pixel,
   * per row fold nf and column fold sf, one beat of PE·SIMD entries, PE p's SIMD entries being
   * columns sf·SIMD.. of the window of the group of output channel nf·PE + p (group-local
   * (kh, kw, c) order). Absent: a dense window (the whole (kh, kw, c) vector in beats of SIMD).
   */
  grouped?: GroupedWindow;
}

/** Geometry of a grouped window (see `WindowStage.grouped`). */
export interface GroupedWindow {
  groups: number;
  /** Output channels per group (C_out / groups). */
  rowsPerGroup: number;
  /** Input channels per group (C_in / groups). */
  channelsPerGroup: number;
  /** PE of the unit it feeds (the beat is PE·SIMD). */
  pe: number;
  /** SIMD of the unit it feeds. */
  simd: number;
  /** Rows (C_out) and columns per row (C_in/groups·kh·kw) of the unit. */
  mh: number;
  mw: number;
}

/** How a unit turns its accumulators into output entries. */
export type UnitActivation =
  | {
      kind: 'threshold';
      /** multipliers[t][row]. */
      multipliers: number[][];
      /** Per row: thresholds (non-decreasing) and output codes (entry codes of the output type). */
      thresholds: number[][];
      codes: number[][];
      sumBits: number;
    }
  | {
      kind: 'requantize';
      multipliers: number[][];
      bias: number[];
      shift: number;
      sumBits: number;
      outBits: number;
    };

/** One accumulator term: weight plane `w` (0 = fixed-point weights) × activation plane `a` (0 = fixed-point input). */
export interface UnitTerm {
  w: number;
  a: number;
}

/**
 * Matrix-vector-threshold unit (conv or matvec + its threshold/requantize), FINN-style:
 * MH output rows folded over PE, MW input columns folded over SIMD, `reps` input vectors per
 * sample (output pixels of a convolution, 1 for a matrix-vector product).
 */
export interface UnitStage extends StageBase {
  kind: 'unit';
  /** The layer name folding.json uses (the ONNX node of the conv/Gemm/MatMul). */
  layer: string;
  /** IR op id of the conv/matvec (its accumulators are traced). */
  unitOp: string;
  /** 'conv' or 'matvec'. */
  source: 'conv' | 'matvec';
  /**
   * Convolution groups. 1: a matrix-vector-threshold unit (every PE reads the same SIMD input
   * entries). More: a vector-vector unit (grouped or depthwise convolution, FINN's VVAU): each
   * PE reads its own SIMD entries, from the window of its row's group; the input beat is PE·SIMD.
   */
  groups: number;
  in: StreamInfo;
  out: StreamInfo;
  mh: number;
  mw: number;
  reps: number;
  pe: number;
  simd: number;
  /** Weight matrix with columns permuted into stream order (`columnOrder[j]` = IR column). */
  weight: BinaryWeight | FixedWeight;
  columnOrder: Int32Array;
  terms: UnitTerm[];
  accBits: number;
  activation: UnitActivation;
  /** What the hardware computes: accumulator forms, multipliers and thresholds/bias on S' (arith.ts). */
  arith: UnitArith;
  /** Index of this unit among the units (trace id). */
  index: number;
  /**
   * When the rows were grouped (grouping.ts): unit row i computes row rowOrder[i] of the
   * quantized model's weight (output channel); absent = the model's order.
   */
  rowOrder?: Int32Array;
}

/** Element-wise ReLU: fixed q ← max(q, 0); binary codes through a table. */
export interface ReluStage extends StageBase {
  kind: 'relu';
  in: StreamInfo;
  out: StreamInfo;
  /** binary: output code per input code (2^(2K_in) entries). */
  table?: number[];
}

/** Standalone threshold on a fixed-point stream (a binarized network input): per channel bands. */
export interface ThresholdStage extends StageBase {
  kind: 'threshold';
  in: StreamInfo;
  out: StreamInfo;
  channels: number;
  thresholds: number[][];
  codes: number[][];
  sumBits: number;
}

/** Max pooling over [C,H,W] pixels with a line buffer. */
export interface MaxPoolStage extends StageBase, SlidingWindowGeometry {
  kind: 'maxpool';
  /** binary: rank (level index) per code, and code per rank. */
  rankOfCode?: number[];
  codeOfRank?: number[];
}

/**
 * Average pooling (AveragePool, GlobalAveragePool): per window Σ of the entries aligned to the
 * output's frac (fixed: a rounding shift; binary: the level's value, `table` by entry code), then
 * q = clamp((Σ·mult[pixel] + 2^(shift−1)) >> shift), mult[pixel] the multiplier of the pixel's
 * divisor (docs/bit-ir.md, avgpool).
 * - `global`: the window is the whole map (GlobalAveragePool, or an AveragePool whose kernel is
 *   the map): a streaming accumulator, no line buffer. It reads the input at its own beat
 *   (`in.beat` entries of a pixel per cycle), adds them to one accumulator per channel (C/beat
 *   words of `beat` accumulators), and after the last pixel writes the C averages in C/beat beats,
 *   `beat` multipliers shared by the channels.
 * - otherwise: a line buffer of whole pixels; per output pixel the C averages in C/`out.beat`
 *   beats (`out.beat` multipliers shared by the channels).
 */
export interface AvgPoolStage extends StageBase, SlidingWindowGeometry {
  kind: 'avgpool';
  /** The window is the whole [H, W] map (one output pixel): the streaming accumulator. */
  global: boolean;
  /** Fixed input: rounding right shift aligning an entry (0: the entry itself). */
  alignShift: number;
  /** Binary input: aligned integer per entry code. */
  table?: number[];
  /** Per output pixel (row-major): the multiplier of its divisor. */
  mult: number[];
  shift: number;
  outBits: number;
}

/** Clip (ReLU6, hardtanh): fixed q ← min(max(q, lo), hi); binary codes through a table. */
export interface ClipStage extends StageBase {
  kind: 'clip';
  in: StreamInfo;
  out: StreamInfo;
  lo: number | null;
  hi: number | null;
  table?: number[];
}

/** LeakyRelu: q ≥ 0 → q, else (q·multiplier + 2^(shift−1)) >> shift. */
export interface LeakyReluStage extends StageBase {
  kind: 'leakyrelu';
  in: StreamInfo;
  out: StreamInfo;
  multiplier: number;
  shift: number;
}

/**
 * Duplicate-stream unit: a tensor read by several ops (the fork of a residual block, of a
 * fire module, of two binarizers) is copied beat by beat to one stream per reader.
 */
export interface DupStage extends StageBase {
  kind: 'dup';
  in: StreamInfo;
  outs: StreamInfo[];
}

/**
 * How one input of an add/concat stage becomes an integer at the output's frac
 * (docs/bit-ir.md, `Operand`): fixed input: (q + 2^(shift−1)) >> shift (shift 0: q);
 * binary input: `table` by entry code.
 */
export interface StageOperand {
  shift: number;
  table?: number[];
}

/**
 * Add-streams unit (residual addition): per entry, the sum of the aligned inputs, clamped to
 * `outBits`. Every input streams in the output's order and beat. The inputs' FIFO depths
 * hold the earlier branch while the later one fills (StreamInfo.depth).
 */
export interface AddStage extends StageBase {
  kind: 'add';
  ins: StreamInfo[];
  out: StreamInfo;
  operands: StageOperand[];
  outBits: number;
}

/**
 * Concat unit along channels: per pixel, an image stream takes the C_i channels of each
 * input in turn (C_i / beat beats; the beat divides every C_i); a vector stream writes every
 * entry of input 0, then of input 1, … Each entry aligned and clamped to `outBits`.
 */
export interface ConcatStage extends StageBase {
  kind: 'concat';
  ins: StreamInfo[];
  out: StreamInfo;
  operands: StageOperand[];
  outBits: number;
}

/** Scaling layer: q' = clamp((q·multiplier + 2^(shift-1)) >> shift). */
export interface ScaleStage extends StageBase {
  kind: 'scale';
  in: StreamInfo;
  out: StreamInfo;
  multiplier: number;
  shift: number;
}

/** Argmax over the logits; writes the class index to the output AXI-Stream. */
export interface ArgmaxStage extends StageBase {
  kind: 'argmax';
  in: StreamInfo;
  classes: number;
  classBits: number;
}

export type HlsStage =
  | InputStage
  | WidthConverterStage
  | WindowStage
  | UnitStage
  | ReluStage
  | ThresholdStage
  | MaxPoolStage
  | AvgPoolStage
  | ClipStage
  | LeakyReluStage
  | ScaleStage
  | DupStage
  | AddStage
  | ConcatStage
  | ArgmaxStage;
export type HlsStageKind = HlsStage['kind'];

/** The streaming design: stages in order, the AXI input entry type and the output class width. */
export interface HlsDesign {
  graph: string;
  stages: HlsStage[];
  input: { entry: FixedType; shape: number[]; entries: number; layout: StreamLayout; tensor: string };
  output: { classes: number; classBits: number; logits: string };
  units: UnitStage[];
  avgWeightBits: number;
  avgActivationBits?: number;
}

// ------------------------------------------------------------------------------------------
// Folding
// ------------------------------------------------------------------------------------------

/** Parallelism of one matrix-vector unit: PE output rows and SIMD input lanes per cycle. */
export interface LayerFolding {
  pe: number;
  simd: number;
}

/** Per layer (ONNX node name of the conv/Gemm/MatMul) PE and SIMD. */
export interface FoldingSpec {
  layers: Record<string, LayerFolding>;
}

// ------------------------------------------------------------------------------------------
// Estimates
// ------------------------------------------------------------------------------------------

export interface StageEstimate {
  stage: string;
  kind: HlsStageKind;
  /** Layer name for units. */
  layer?: string;
  luts: number;
  /** LUTs if synthesis kept every lane of every plane (units; equals `luts` elsewhere). */
  lutsDense: number;
  /** Units: LUTs if each plane had SIMD × its density lanes (the sum of per-parameter bits). */
  lutsIdeal?: number;
  bram18: number;
  dsp: number;
  /** Cycles per sample in steady state (initiation interval of the stage). */
  cycles: number;
  /** Units only: where the LUTs go (base + lanes + perPe + combine + memory = luts). */
  breakdown?: { base: number; lanes: number; perPe: number; combine: number; memory: number };
  /** Units only: rows combined per cycle (PE when every PE combines its own row). */
  combiners?: number;
  /** Units only: folding, geometry and the heterogeneous lane count. */
  pe?: number;
  simd?: number;
  mh?: number;
  mw?: number;
  reps?: number;
  /** Σ over accumulator terms of the lanes per PE (SIMD × plane density, summed). */
  lanesPerPe?: number;
  /** Average bits of this layer's weights (Σ per-parameter bits / parameters). */
  weightBits?: number;
  /** Activation planes (binary input) or bits (fixed-point input). */
  activationBits?: number;
}

export interface FpgaPart {
  name: string;
  family: string;
  board?: string;
  luts: number;
  ffs: number;
  bram18: number;
  dsp: number;
  uram?: number;
  source: string;
}

/** Resources of a design, as used / available on the part (1 = all of it). */
export interface FitRatios {
  luts: number;
  bram18: number;
  dsp: number;
}

/**
 * Fit of a design on its part (docs/backend-vivado-hls.md, "Does it fit?").
 * - `fits`: every resource of this design is within the part;
 * - `fits-when-folded`: this folding does not fit, the smallest one (PE = SIMD = 1 in every
 *   unit) does: a lower target FPS would;
 * - `cannot-fit`: not even the smallest folding fits, by the factors in `smallest.ratio`.
 */
export interface FitReport {
  verdict: 'fits' | 'fits-when-folded' | 'cannot-fit';
  /** This design: used / available per resource (DSPs beyond the part are counted as LUTs, so dsp ≤ 1). */
  ratio: FitRatios;
  /** The resources this design exceeds. */
  over: ('luts' | 'bram18' | 'dsp')[];
  /** The smallest folding, when this design does not fit: its resources and ratios, and its throughput. */
  smallest?: { luts: number; bram18: number; dsp: number; fps: number; ratio: FitRatios };
  /** Stored weight bits of the design and the part's block RAM bits (18 Kbit per BRAM18), when this design does not fit. */
  weightBits?: number;
  bramBits?: number;
  /** Parts of the built-in list on which the smallest folding fits (when this design does not fit). */
  partsThatFit?: string[];
}

export interface FpgaEstimate {
  format: 'hbnn-fpga-estimate/1';
  part: FpgaPart;
  clockMhz: number;
  stages: StageEstimate[];
  total: {
    luts: number;
    /** LUTs if synthesis kept every lane of every plane (no constant-zero lane removed). */
    lutsDense: number;
    /** LUTs if each plane had only SIMD × its density lanes (the paper's sum-of-bits scaling). */
    lutsIdeal: number;
    bram18: number;
    dsp: number;
    /** Slowest stage (cycles per sample): the pipeline's initiation interval. */
    cycles: number;
    bottleneck: string;
    fps: number;
    /** Σ stage cycles / clock: a FINN-style upper bound (each stage finishes a sample before the next starts). */
    latencyUs: number;
    lutPercent: number;
    bramPercent: number;
    dspPercent: number;
  };
  /** What the numbers do not cover, and model caveats (a design that does not fit the part: first). */
  notes: string[];
  /** Whether the design fits the part, by how much it does not, and whether any folding would. */
  fit: FitReport;
  /** Requested throughput, when folding was solved for one. */
  targetFps?: number;
  avgWeightBits: number;
  avgActivationBits?: number;
}

// ---- a unit's arithmetic (computed by arith.ts) ---------------------------------------------

export type TermFormKind = 'direct' | 'bipolar' | 'unipolar';

export interface TermForm {
  kind: TermFormKind;
  /** acc = alpha·X + beta[row]. */
  alpha: number;
  /** Per row (IR row order); undefined for `direct` (0). */
  beta?: number[];
}

/** The unit's hardware sum and activation (after the offsets are folded in). */
export interface UnitArith {
  forms: TermForm[];
  /** Signed width of the per-term accumulators X (every term's value fits). */
  xBits: number;
  /** K[t][row]: the multiplier of X_t in S'. */
  k: number[][];
  /** Per term: the multiplier is the same for every row (a constant in the code, no memory). */
  kConst: boolean[];
  /** Signed width of K per term. */
  kBits: number[];
  /** One term with K = 1 for every row: S' = X. */
  trivial: boolean;
  /** Signed width of S' (threshold) or of S' + bias (requantize). */
  sumBits: number;
  /** Threshold units: per row the thresholds on S' (non-decreasing), and their width with a sentinel. */
  thresholds?: number[][];
  thrBits?: number;
  /** Requantize units: per row the bias added to S' before the shift. */
  bias?: number[];
}
