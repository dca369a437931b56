/**
 * The bit-level IR (BitIR): what the hardware computes, with bits and integers, for a
 * quantized (HBNN) network. Backends (Vivado HLS C++, the ASIC cost model) read only this.
 * docs/bit-ir.md states the exact integer semantics of every op; this file is the typed
 * form of that document.
 *
 * A program is a list of ops in execution order over named tensors of four kinds:
 * - `fixed`: signed fixed-point integers q (two's complement, `bits` wide); value q·2^-frac.
 * - `binary`: bit-plane activations. Per entry and plane k a sign bit (1 = +1, 0 = -1) and a
 *   mask bit (1 = the plane is present); value Σ_k s_k·(2·sign_k - 1)·mask_k. An entry with
 *   every mask bit 0 is the value 0 (ReLU's zero, conv padding). The distinct (signs, masks)
 *   pairs that can occur are listed in `levels`, sorted by value: a level's index is its rank.
 * - `acc`: integer accumulators, one per term (weight plane i × activation plane k) per entry.
 * - `class`: the argmax class index.
 * Shapes never include the batch dimension: the program maps one sample to one result.
 *
 * Weights are bit planes packed into Uint32Array words (see `BinaryWeight` for the bit
 * order) or, for layers the quantizer kept in float, fixed-point integers.
 */

export const BITIR_FORMAT = 'hbnn-bitir/1';

// ------------------------------------------------------------------------------------------
// Tensor types
// ------------------------------------------------------------------------------------------

/** Signed fixed point: value = q · 2^-frac, q saturated to [-2^(bits-1), 2^(bits-1) - 1]. */
export interface FixedType {
  kind: 'fixed';
  shape: number[];
  frac: number;
  bits: number;
}

/** One representable activation value: plane bits as small bit sets (bit k-1 = plane k). */
export interface Level {
  /** Bit k-1 set: plane k's sign is +1 (only meaningful where the mask bit is set; 0 elsewhere). */
  signs: number;
  /** Bit k-1 set: plane k is present. 0 = the value zero. */
  mask: number;
  /** The real value Σ_k s_k·sign_k·mask_k as float32 (the order ORT sees), for ranking and documentation. */
  value: number;
}

/**
 * Bit-plane activations. Memory layout (for backends that store them packed): per plane k
 * two bit vectors (signs, masks) over the entries in row-major order of `shape`, entry e at
 * word e >>> 5, bit e & 31 (LSB first).
 */
export interface BinaryType {
  kind: 'binary';
  shape: number[];
  /** Number of planes K (1..3). */
  planes: number;
  /** s_1..s_K: real per-plane scales (per tensor), as the calibrated float32 constants. */
  scales: number[];
  /** Every (signs, mask) pair that can occur, ascending by value (ties: by mask, then signs). */
  levels: Level[];
}

/**
 * One accumulator term: weight plane `w` (1-based; 0 = fixed-point weights) times activation
 * plane `a` (1-based; 0 = fixed-point activations). `coef[c]` is the real value of one unit of
 * this accumulator in output channel c (mu_w,c · s_a, or mu_w,c · 2^-frac_in, ...): the
 * real-valued product Σ_j W[c, j]·v_j equals Σ_t coef_t[c] · acc_t.
 */
export interface AccTerm {
  w: number;
  a: number;
  coef: number[];
}

/** Integer accumulators, laid out [term, ...shape]. */
export interface AccType {
  kind: 'acc';
  shape: number[];
  terms: AccTerm[];
  /** Two's complement width that holds every accumulator (static bound). */
  bits: number;
}

export interface ClassType {
  kind: 'class';
  shape: [];
}

export type BitType = FixedType | BinaryType | AccType | ClassType;

export interface BitTensor {
  id: string;
  type: BitType;
}

// ------------------------------------------------------------------------------------------
// Weights
// ------------------------------------------------------------------------------------------

/**
 * One bit plane of a binarized weight matrix [rows = output channels, cols = fan-in].
 * Row r, column j: word r·wordsPerRow + (j >>> 5), bit j & 31 (LSB first); bits past `cols`
 * in a row's last word are 0. Fan-in order: conv (c_in within the group, kh, kw), row-major;
 * matvec: the input feature index.
 */
export interface WeightPlane {
  /** mu_i per output channel (equal entries for per-tensor scales), float32 values. */
  scales: number[];
  /** 1 = +1, 0 = -1 (0 where the mask bit is 0). */
  signs: Uint32Array;
  /** 1 = this entry has more than i-1 bits (M_j >= i): the bit map. */
  mask: Uint32Array;
}

export interface BinaryWeight {
  kind: 'binary';
  id: string;
  /** ONNX initializer names this came from (planes, scales). */
  source: string[];
  rows: number;
  cols: number;
  wordsPerRow: number;
  planes: WeightPlane[];
}

/** Float weights kept by the quantizer, rounded to fixed point: w ≈ value · 2^-frac. */
export interface FixedWeight {
  kind: 'fixed';
  id: string;
  source: string[];
  rows: number;
  cols: number;
  frac: number;
  bits: number;
  /** rows × cols, row-major. */
  values: Int32Array;
}

export type WeightTensor = BinaryWeight | FixedWeight;

// ------------------------------------------------------------------------------------------
// Ops
// ------------------------------------------------------------------------------------------

interface OpBase {
  /** Unique op id (also the default output tensor id). */
  id: string;
  /** The ONNX nodes this op implements (fused chains list several). */
  nodes: string[];
}

/** Quantizes the real input: q = clamp(floor(x · 2^frac + 1/2)). */
export interface InputOp extends OpBase {
  op: 'input';
  /** The ONNX graph input. */
  source: string;
  output: string;
}

export interface Window2d {
  kernel: [number, number];
  strides: [number, number];
  /** [top, left, bottom, right]. */
  pads: [number, number, number, number];
  dilations: [number, number];
}

/**
 * Convolution unit over [C_in, H, W] → accumulators [T, C_out, OH, OW]. For output channel o
 * in group g and output pixel (y, x), the window entry j = (c, kh, kw) reads input channel
 * g·C_in/group + c at (y·sh - pt + kh·dh, x·sw - pl + kw·dw); outside the input it reads 0
 * (fixed: q = 0; binary: all masks 0). Per term t = (w, a):
 *   binary act:  acc_t = Σ_j mask_w[o,j]·mask_a[j]·(sign_w[o,j] XNOR sign_a[j] ? +1 : -1)
 *                      = 2·popcount(XNOR & M) - popcount(M),  M = mask_w & mask_a
 *   fixed act:   acc_t = Σ_j mask_w[o,j]·(sign_w[o,j] ? q_j : -q_j)
 *   fixed weight: w = 0 and acc_t = Σ_j value[o,j]·(act of plane a, or q_j)
 */
export interface ConvOp extends OpBase, Window2d {
  op: 'conv';
  input: string;
  weight: string;
  group: number;
  output: string;
}

/** Matrix-vector unit: [J] → accumulators [T, O]; the same term sums as `conv` with j = feature. */
export interface MatVecOp extends OpBase {
  op: 'matvec';
  input: string;
  weight: string;
  output: string;
}

/** Per output channel: bands over the integer sum S. */
export interface ChannelBands {
  /** Non-decreasing integers; band index b = #{u : S >= thresholds[u]}. */
  thresholds: number[];
  /** Output level index (into the output type's `levels`) per band; length thresholds + 1. */
  codes: number[];
}

/**
 * Threshold unit (folded bias, affine ops, BatchNorm and the activation binarizer):
 *   S = Σ_t multipliers[t][c] · acc_t      (input `fixed`: S = q, one implicit term)
 *   output = level codes[b] of channel c, b = #{u : S >= thresholds_c[u]}.
 * Channel c is axis 0 of the shape. `unit[c]` is the real value of one unit of S (before
 * the folded affine map), documentation for backends and error analysis.
 */
export interface ThresholdOp extends OpBase {
  op: 'threshold';
  input: string;
  output: string;
  multipliers: number[][];
  bands: ChannelBands[];
  unit: number[];
  /** Width of S (two's complement, static bound). */
  sumBits: number;
  /** True when S's decisions equal the real-valued binarizer's exactly (single term, no rounded scale). */
  exact: boolean;
  /** The real function the integers implement (documentation; see `RealThreshold`). */
  real: RealThreshold;
}

/**
 * Real-valued semantics of a threshold unit: x = scale[c]·y + offset[c] with y = Σ_j W[c, j]·v_j
 * the layer's real product (weights Σ_i mu_i·B_i, real input values), every folded bias,
 * affine op and BatchNorm in scale/offset; the binarizer outputs level codes[b] with
 * b = #{u : x >= breakpoints[u]}. The integer thresholds are these breakpoints mapped to S.
 */
export interface RealThreshold {
  scale: number[];
  offset: number[];
  breakpoints: number[];
  codes: number[];
}

/** Real-valued semantics of a requantize unit: output x = scale[c]·y + offset[c] (see `RealThreshold`). */
export interface RealAffine {
  scale: number[];
  offset: number[];
}

/**
 * Requantization unit (folded bias, affine ops, BatchNorm; fixed-point output):
 *   q = clamp(floor((Σ_t multipliers[t][c] · acc_t + bias[c]) / 2^shift))
 * with the rounding constant 2^(shift-1) already inside bias[c] (round half up).
 */
export interface RequantizeOp extends OpBase {
  op: 'requantize';
  input: string;
  output: string;
  multipliers: number[][];
  bias: number[];
  shift: number;
  sumBits: number;
  /** The real affine map the integers implement (documentation). */
  real: RealAffine;
}

/** fixed: q ← max(q, 0). binary: levels of negative value become the zero level (`map`: input level → output level). */
export interface ReluOp extends OpBase {
  op: 'relu';
  input: string;
  output: string;
  /** binary only: output level index per input level index. */
  map?: number[];
}

/**
 * Max pooling over windows (pads never win: padded positions are skipped). fixed: max q.
 * binary: the entry of highest level index (levels are sorted by value, so this is the max).
 */
export interface MaxPoolOp extends OpBase, Window2d {
  op: 'maxpool';
  input: string;
  output: string;
  ceilMode: boolean;
}

/** Reinterprets the row-major entry order with a new shape (Flatten, Reshape): no data moves. */
export interface ReshapeOp extends OpBase {
  op: 'reshape';
  input: string;
  output: string;
}

/** Scaling layer: q' = clamp(floor((q · multiplier + 2^(shift-1)) / 2^shift)). */
export interface ScaleOp extends OpBase {
  op: 'scale';
  input: string;
  output: string;
  multiplier: number;
  shift: number;
  /** The real scale s this approximates (q' · 2^-frac_out ≈ s · q · 2^-frac_in). */
  scale: number;
}

/**
 * How one input of an `add`/`concat`/`avgpool` becomes an integer at the output's frac F:
 * - fixed input (frac f ≥ F): `shift` = f − F, value floor((q + 2^(shift−1)) / 2^shift) (round
 *   half up; shift 0: q itself);
 * - binary input: `table[L]` for level index L: round(value_L · 2^F), the level's real value
 *   in fixed point (a decode table of 2^(2K) entries at most).
 */
export interface Operand {
  shift: number;
  table?: number[];
}

/**
 * Residual addition of two streams of the same shape (the shortcut of ResNet/MobileNetV2):
 *   q = clamp(align_0(x_0) + align_1(x_1))
 * with each input aligned to the output frac F = min of the inputs' fracs (`Operand`).
 * Output fixed, width = the widest aligned input (saturation is counted, as for `requantize`).
 */
export interface AddOp extends OpBase {
  op: 'add';
  inputs: string[];
  operands: Operand[];
  output: string;
}

/**
 * Concatenation along the channel axis (axis 0 of the sample): the inputs' entries one
 * after another, each input requantized to the output frac F by its `Operand` and clamped
 * to the output width (the widest aligned input).
 */
export interface ConcatOp extends OpBase {
  op: 'concat';
  inputs: string[];
  operands: Operand[];
  output: string;
}

/**
 * Average pooling (AveragePool, GlobalAveragePool as the whole-map window) over [C, H, W]:
 * per window, the integer sum Σ of the aligned entries (`operand`; padded positions add 0),
 * the divisor n (window positions inside the input, or inside the padded input with
 * `countIncludePad`), and q = clamp(floor((Σ · multipliers[n] + 2^(shift−1)) / 2^shift)) with
 * multipliers[n] = round(2^shift / n): a fixed-point multiply by 1/n.
 */
export interface AvgPoolOp extends OpBase, Window2d {
  op: 'avgpool';
  input: string;
  output: string;
  ceilMode: boolean;
  countIncludePad: boolean;
  global: boolean;
  operand: Operand;
  /** Divisor n → multiplier (keys: every divisor that occurs). */
  multipliers: Record<string, number>;
  shift: number;
}

/**
 * Clip (ReLU6, hardtanh) on a fixed stream: q = min(max(q, lo), hi) with lo = round(min·2^frac),
 * hi = round(max·2^frac) (null: no bound). Exact: rounding is monotone, so the clamp of the
 * rounded value is the rounding of the clamped value. On a binary stream, `map` sends each
 * level to the level of its clipped value (levels whose clipped value is no level are a
 * lowering error). A Clip between a layer and its binarizer is folded into the thresholds
 * instead (no `clip` op).
 */
export interface ClipOp extends OpBase {
  op: 'clip';
  input: string;
  output: string;
  lo: number | null;
  hi: number | null;
  map?: number[];
}

/**
 * LeakyRelu on a fixed stream: q ≥ 0 → q; q < 0 → floor((q · multiplier + 2^(shift−1)) / 2^shift),
 * multiplier = round(alpha · 2^shift) (a fixed-point scale of the negative side).
 */
export interface LeakyReluOp extends OpBase {
  op: 'leakyrelu';
  input: string;
  output: string;
  alpha: number;
  multiplier: number;
  shift: number;
}

/** Index of the largest q; ties go to the lowest index. */
export interface ArgmaxOp extends OpBase {
  op: 'argmax';
  input: string;
  output: string;
}

export type BitOp =
  | InputOp
  | ConvOp
  | MatVecOp
  | ThresholdOp
  | RequantizeOp
  | ReluOp
  | MaxPoolOp
  | ReshapeOp
  | ScaleOp
  | AddOp
  | ConcatOp
  | AvgPoolOp
  | ClipOp
  | LeakyReluOp
  | ArgmaxOp;
export type BitOpKind = BitOp['op'];

/** Every op kind, in documentation order. */
export const BIT_OP_KINDS: readonly BitOpKind[] = [
  'input',
  'conv',
  'matvec',
  'threshold',
  'requantize',
  'relu',
  'maxpool',
  'reshape',
  'scale',
  'add',
  'concat',
  'avgpool',
  'clip',
  'leakyrelu',
  'argmax',
];

// ------------------------------------------------------------------------------------------
// Program
// ------------------------------------------------------------------------------------------

/** Precisions the lowering chose (docs/bit-ir.md, "Fixed point"). */
export interface LoweringOptions {
  /** Fractional bits of the quantized input. */
  inputFrac: number;
  /** Width of the quantized input. */
  inputBits: number;
  /** Fractional bits of real-valued (fixed-point) activations between layers. */
  actFrac: number;
  actBits: number;
  /** Fractional bits and width of the logits (output of the last layer and the scaling layer). */
  logitFrac: number;
  logitBits: number;
  /**
   * Fractional bits and width of the fixed-point streams an activation binarizer reads through
   * ReLU, Clip, pooling, residual Add, Concat or layout ops (docs/bit-ir.md §3, "Streams a
   * binarizer reads"): wider than actFrac so that rounding rarely moves an entry across a band edge.
   */
  binStreamFrac: number;
  binStreamBits: number;
  /** Largest multiplier magnitude is below 2^(multiplierBits-1) (when the shift allows it). */
  multiplierBits: number;
  /** Width of fixed-point weights of layers the quantizer kept in float. */
  weightBits: number;
  /**
   * Integer bits kept above a stream's calibrated range (`streamRanges`): a stream whose
   * entries reached |x| ≤ r on the calibration data gets the most fraction bits F its width B
   * allows with |x| < 2^(B−1−F−rangeHeadroomBits) for every |x| ≤ r (docs/bit-ir.md §3,
   * "Fraction bits from calibrated ranges").
   */
  rangeHeadroomBits: number;
  /**
   * Calibrated ranges of the fixed-point streams: ONNX value name → the largest |x| it took on
   * calibration data (`measureStreamRanges`, src/bitir/ranges.ts). A stream named here gets its
   * fraction bits from its range and its class's width (input, activations, binarizer streams,
   * logits) instead of the class's fixed fraction; the widths do not change. Absent: the fixed
   * fractions of the class.
   */
  streamRanges?: Readonly<Record<string, number>>;
}

export const DEFAULT_LOWERING: Readonly<LoweringOptions> = Object.freeze({
  inputFrac: 16,
  inputBits: 20,
  actFrac: 12,
  actBits: 20,
  binStreamFrac: 20,
  binStreamBits: 28,
  logitFrac: 16,
  logitBits: 32,
  multiplierBits: 24,
  weightBits: 12,
  rangeHeadroomBits: 1,
});

/**
 * Wide precisions for checking the lowering against onnxruntime (docs/bit-ir.md §6): 20
 * fraction bits for the input, the fixed-point activations and the logits, 30-bit multipliers.
 * Differences between the IR and onnxruntime that are the IR's fixed-point rounding shrink
 * with them; a lowering error would not.
 */
export const WIDE_LOWERING: Readonly<LoweringOptions> = Object.freeze({
  ...DEFAULT_LOWERING,
  inputFrac: 20,
  inputBits: 24,
  actFrac: 20,
  actBits: 28,
  binStreamFrac: 24,
  binStreamBits: 32,
  logitFrac: 20,
  logitBits: 36,
  multiplierBits: 30,
});

export interface BitProgram {
  format: typeof BITIR_FORMAT;
  /** Where it came from: graph name and the quantization summary. */
  source: { graph: string; avgWeightBits: number; avgActivationBits?: number };
  options: LoweringOptions;
  /** The real-valued model input (one sample, no batch dim). */
  input: { name: string; shape: number[] };
  tensors: BitTensor[];
  weights: WeightTensor[];
  ops: BitOp[];
  /** Output tensors: fixed-point logits and the class index. */
  outputs: { logits: string; class: string };
}

/** Exhaustiveness helper for switches over closed unions. */
export function unreachable(x: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(x)}`);
}

/** The tensor ids an op reads (`input` none, `add`/`concat` several, every other op one). */
export function opInputs(op: BitOp): string[] {
  switch (op.op) {
    case 'input':
      return [];
    case 'conv':
    case 'matvec':
    case 'threshold':
    case 'requantize':
    case 'relu':
    case 'maxpool':
    case 'reshape':
    case 'scale':
    case 'avgpool':
    case 'clip':
    case 'leakyrelu':
    case 'argmax':
      return [op.input];
    case 'add':
    case 'concat':
      return [...op.inputs];
    default:
      return unreachable(op, 'bit-level op');
  }
}
