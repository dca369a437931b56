/**
 * Resource and throughput estimates of a streaming design (docs/backend-vivado-hls.md,
 * "Estimates", states every formula and its source). Each term counts a piece of the
 * structure emit/stages.ts writes.
 *
 * Matrix-vector-threshold units follow the FINN-R analytical model (Blott et al., "FINN-R: An
 * End-to-End Deep-Learning Framework for Fast Exploration of Quantized Neural Networks",
 * TRETS 2018) in the extended form FINN's MVAU estimator uses:
 *   LUT = c0 + c1·PE·(mult + adder tree + accumulator + thresholds + comparators) + c2,
 *   c0 = 300, c1 = 1.1; mult = Q·(2·⌈(W+A)/6⌉ − 1)·(W+A); adder tree = (W+A)·(2Q − 1);
 *   accumulator = its width; thresholds (LUTRAM) = n·w·⌈TMEM/64⌉; comparators = n·w;
 *   c2 = (weight bits)·⌈WMEM/64⌉ when the weights sit in LUTRAM (WMEM ≤ 128).
 * Binary × binary lanes cost BINARY_LANE_LUTS = 2 LUTs per popcount (before c1) instead of
 * FINN's generic mult + adder tree (6): the popcount tree counted by its widths.
 * Bit planes (ours): every accumulator term (weight plane i × activation plane k) has its own
 * popcount over the lanes synthesis keeps — a lane whose mask bit is 0 in every tile it sees is
 * a constant and removed; in folded designs nearly all lanes of a plane remain (exact count:
 * keptLanesPerPe). One popcount per lane for the unipolar/bipolar forms (arith.ts), two for a
 * masked plane with data-dependent masks. Several terms are combined by C shared combiners
 * (arith.ts combinerCount): S' adder, constants, thresholds or bias, DSP48 multipliers (≤ 25×18
 * bits, as Vivado HLS maps them; beyond the part's DSPs the excess is counted as LUT
 * multipliers) and a G:1 mux of the held accumulators. Weight memory: the stored words (sign per
 * plane, mask per partial plane, 4 words for three nested planes); distributed ROMs keep only
 * their varying bit columns, BRAM follows FINN's block-RAM bucketing of the whole word.
 */
import type { BinaryWeight, FixedWeight, WeightPlane } from '../../bitir/types.js';
import { popcount32 } from '../../bitir/lower.js';
import { entryBits, stageCycles } from './design.js';

export { stageCycles };
import { combinerCount, isShift } from './arith.js';
import { compactPlanes, storedWordsPerLane } from './emit/weights.js';
import { planeStats } from './plane-stats.js';

/** SIMD from which ±1 × fixed-point lanes are summed on the input's bit planes (emit/stages.ts). */
const BIT_PLANE_MIN_SIMD_EST = 32;
import type { FitRatios, FitReport, FpgaEstimate, FpgaPart, HlsDesign, HlsStage, StageEstimate, StageOperand, StreamInfo, UnitStage } from './types.js';
import { unreachable } from '../../bitir/types.js';
import { formatCount } from '../../util/numbers.js';


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

export { planeStats, type PlaneStats } from './plane-stats.js';

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

/**
 * LUTs of an N:1 multiplexer of one bit: a LUT6 is a 4:1 mux (4 data + 2 select inputs), so a
 * tree of them takes ⌈N/4⌉ + ⌈N/16⌉ + … LUTs (the F7/F8 muxes that could halve it are not used).
 */
export function muxLuts(n: number): number {
  let luts = 0;
  let m = n;
  while (m > 1) {
    m = Math.ceil(m / 4);
    luts += m;
  }
  return luts;
}

// ------------------------------------------------------------------------------------------
// Lanes that synthesis keeps
// ------------------------------------------------------------------------------------------

const laneCache = new WeakMap<object, Map<string, number>>();
type FoldShape = Pick<UnitStage, 'weight' | 'columnOrder' | 'pe' | 'simd' | 'mh' | 'mw'>;

/**
 * Bit columns (pe, lane s) of a stored weight bit over all tiles of the PE (rows nf·PE + pe,
 * columns sf·SIMD + s): `kind` 'any' counts the columns with some 1 (a lane whose mask is 0 in
 * every tile is a constant 0 that synthesis removes with its popcount input); 'varying' counts
 * the columns that are not constant (a constant ROM bit is no memory); 'pes' counts the PEs
 * with some 1 in any of their columns (a PE without one has no lane of the plane).
 */
function columnCount(u: FoldShape, name: string, kind: 'any' | 'varying' | 'pes'): number {
  const w = u.weight as BinaryWeight;
  let byFold = laneCache.get(w);
  if (!byFold) laneCache.set(w, (byFold = new Map()));
  const key = `${kind}/${name}/${u.pe}/${u.simd}`;
  const hit = byFold.get(key);
  if (hit !== undefined) return hit;
  // Stored bit of entry (row r, stream column j): word r·wpr + (c >>> 5), bit c & 31 of the IR
  // plane, c = columnOrder[j]; `c2` is (mask 3 ? sign 3 : mask 2). Read from the packed planes
  // (no unpacked copy: AlexNet-sized layers have tens of millions of weights).
  const plane = (i: number): WeightPlane => w.planes[i - 1]!;
  const compact = name === 'c2';
  const main = compact ? plane(3).mask : name[0] === 's' ? plane(Number(name.slice(1))).signs : plane(Number(name.slice(1))).mask;
  const s3 = compact ? plane(3).signs : main;
  const m2 = compact ? plane(2).mask : main;
  const wpr = w.wordsPerRow;
  const order = u.columnOrder;
  const P = u.pe;
  const Q = u.simd;
  // any: bit 1 seen; varying: 1 = only 0 seen, 2 = only 1 seen, 3 = both. A row whose PE has
  // all its lanes decided is skipped, and the scan ends when every lane is: random planes are
  // decided after a few tiles per lane.
  const seen = new Uint8Array(P * Q);
  const decidedInPe = new Int32Array(P);
  const any = kind !== 'varying';
  const done = any ? 1 : 3;
  let remaining = P * Q;
  for (let r = 0; r < u.mh && remaining > 0; r++) {
    const p = r % P;
    if (decidedInPe[p] === Q) continue;
    const base = p * Q;
    const rowWord = r * wpr;
    let lane = 0;
    for (let j = 0; j < u.mw; j++, lane = lane + 1 === Q ? 0 : lane + 1) {
      const k = base + lane;
      const before = seen[k]!;
      if (before === done) continue;
      const c = order[j]!;
      const wi = rowWord + (c >>> 5);
      const sh = c & 31;
      let bit = (main[wi]! >>> sh) & 1;
      if (compact) bit = bit ? (s3[wi]! >>> sh) & 1 : (m2[wi]! >>> sh) & 1;
      const now = any ? bit : before | (bit ? 2 : 1);
      if (now !== before) {
        seen[k] = now;
        if (now === done) {
          remaining--;
          if (++decidedInPe[p] === Q) break;
        }
      }
    }
  }
  let v = P * Q - remaining;
  if (kind === 'pes') {
    v = 0;
    for (let p = 0; p < P; p++) if (seen.subarray(p * Q, (p + 1) * Q).some((x) => x === 1)) v++;
  }
  byFold.set(key, v);
  return v;
}

/**
 * Lanes of plane `plane` that the synthesized unit keeps, per PE on average: a lane whose
 * mask bit is 0 in every tile of its PE is a constant 0 in the weight ROM, and synthesis
 * removes it with its popcount inputs. Exact for the emitted weights: SIMD × the plane's
 * density when the layer is a single tile (unfolded), nearly SIMD when a lane sees many tiles.
 */
export function keptLanesPerPe(u: FoldShape, plane: number): number {
  const w = u.weight;
  if (w.kind !== 'binary' || planeStats(w).full[plane - 1]) return u.simd;
  return columnCount(u, `m${plane}`, 'any') / u.pe;
}

/**
 * PEs that keep some lane of plane `plane` (all of them for a full plane): a PE whose rows
 * never reach that many bits has no lane, and no accumulator, for it.
 */
export function keptPes(u: FoldShape, plane: number): number {
  const w = u.weight;
  if (w.kind !== 'binary' || planeStats(w).full[plane - 1]) return u.pe;
  return columnCount(u, `m${plane}`, 'pes');
}

/**
 * Bits of the weight memory word (all PEs) that are not constant over the tiles: the width
 * of the LUTRAM a distributed ROM needs (constant columns are logic constants).
 */
export function storedVaryingBits(u: FoldShape): number {
  const w = u.weight;
  if (w.kind !== 'binary') return u.pe * u.simd * w.bits;
  const names = compactPlanes(u) ? ['s1', 's2', 'c2', 'm3'] : w.planes.flatMap((_, i) => (planeStats(w).full[i] ? [`s${i + 1}`] : [`s${i + 1}`, `m${i + 1}`]));
  return names.reduce((a, n) => a + columnCount(u, n, 'varying'), 0);
}

// ------------------------------------------------------------------------------------------
// Units
// ------------------------------------------------------------------------------------------

/** Where a unit's LUTs go (they add up to `luts`). */
export interface UnitLutBreakdown {
  /** c0: control and interface of the unit. */
  base: number;
  /** Lane logic (xnor/negation, popcount / adder trees, shared popcounts) and the per-PE accumulators. */
  lanes: number;
  /** Per-PE activation of trivial sums (thresholds and comparators of each PE). */
  perPe: number;
  /** Combiners of several terms (S' adder, multiplier constants, thresholds or requantization) and their input muxes. */
  combine: number;
  /** Weights in LUTRAM (small weight memories). */
  memory: number;
}

export interface UnitCost {
  luts: number;
  breakdown: UnitLutBreakdown;
  /** LUTs if synthesis kept every lane of every plane (no constant-zero lane removed). */
  lutsDense: number;
  /** LUTs if each plane had SIMD × its density lanes (the sum of per-parameter bits; the paper's idealization). */
  lutsIdeal: number;
  bram18: number;
  dsp: number;
  cycles: number;
  /** Σ over terms of the lanes per PE that synthesis keeps. */
  lanesPerPe: number;
  /** Combiners (rows combined per cycle). */
  combiners: number;
  /** LUTs the `dsp` multipliers would take in fabric (FINN's multiplier formula, × c1). */
  dspFabricLuts: number;
}

type UnitShape = Pick<UnitStage, 'mh' | 'mw' | 'reps' | 'pe' | 'simd' | 'weight' | 'terms' | 'accBits' | 'activation' | 'in' | 'arith' | 'columnOrder'> & { groups?: number };

/**
 * Cost of a unit with its folding (`pe`, `simd`): the structure emit/stages.ts writes.
 * `lowerBound`: skip the exact lane, accumulator and LUTRAM counts (which scan the weights) and
 * return a lower bound of `luts` instead (the folding solver ranks candidates with it): the
 * lanes synthesis keeps are at least SIMD × density per plane (`lutsIdeal`'s lanes), the
 * partial planes' accumulators and the distributed ROM are counted as 0.
 */
export function unitCost(u: UnitShape, o: { lowerBound?: boolean } = {}): UnitCost {
  const p = u.pe;
  const q = u.simd;
  const nf = u.mh / p;
  const sf = u.mw / q;
  const stats = planeStats(u.weight);
  const ar = u.arith;
  const fixedIn = u.in.entry.kind === 'fixed';
  const aBits = u.in.entry.kind === 'fixed' ? u.in.entry.bits : 1;
  const wBits = stats.fixedBits ?? 1;
  const bitPlanes = fixedIn && u.weight.kind === 'binary' && q >= BIT_PLANE_MIN_SIMD_EST;
  // Lane logic per PE for `lanesOf(plane)` lanes of each term, and the logic shared by all PEs.
  const laneLogic = (lanesOf: (plane: number) => number): { perPe: number; shared: number; lanes: number } => {
    let perPe = 0;
    let lanes = 0;
    const sharedPlanes = new Set<number>();
    for (let ti = 0; ti < u.terms.length; ti++) {
      const t = u.terms[ti]!;
      const form = ar.forms[ti]!;
      const l = t.w === 0 ? q : lanesOf(t.w);
      const full = t.w === 0 ? true : stats.full[t.w - 1] ?? true;
      lanes += l;
      if (wBits > 1 && fixedIn) {
        // Fixed weights × fixed input: one DSP per lane, the adder tree in LUTs.
        perPe += adderTreeLuts(l, wBits, aBits);
      } else if (wBits > 1) {
        // Fixed weights × binary plane: (−1, 0, +1)·w per lane.
        perPe += multLuts(l, wBits, 1) + adderTreeLuts(l, wBits, 1);
      } else if (bitPlanes) {
        // ±1 weights × fixed input on its B bit planes: B popcounts (two sets with a mask), their shifted sum.
        perPe += (full ? 1 : 2) * (aBits * binaryLanes(l, 1, 1) + (aBits - 1) * (Math.ceil(Math.log2(q + 1)) + aBits));
      } else if (fixedIn) {
        // ±1 weights × A-bit input, lane by lane: a conditional negation (A+1 LUTs) and the adder tree.
        perPe += l * (1 + aBits) + adderTreeLuts(l, 1, aBits);
      } else if (form.kind !== 'direct') {
        // One popcount per lane (arith.ts: bipolar / unipolar forms).
        perPe += binaryLanes(l, 1, 1);
      } else {
        perPe += binaryLanes(l, 1, 1);
        // Data-dependent masks: popcount(Mw & Ma) per PE, or popcount(Ma) shared by all PEs.
        if (!full) perPe += binaryLanes(l, 1, 1);
        else sharedPlanes.add(t.a);
      }
    }
    let shared = sharedPlanes.size * binaryLanes(q, 1, 1);
    // The input sum Σ x of the bit-plane path, once per chunk for all PEs.
    if (bitPlanes) shared += adderTreeLuts(q, aBits, 0);
    // A vector-vector unit's PEs read different chunks: what a dense unit shares, each PE has.
    if ((u.groups ?? 1) > 1) shared *= p;
    return { perPe, shared, lanes };
  };
  const dense = laneLogic(() => q);
  const ideal = laneLogic((plane) => q * (stats.density[plane - 1] ?? 1));
  const kept = o.lowerBound ? ideal : laneLogic((plane) => keptLanesPerPe(u, plane));
  // Accumulators: one per term in every PE that keeps a lane of its weight plane.
  const full = (t: { w: number }): boolean => t.w === 0 || u.weight.kind !== 'binary' || (stats.full[t.w - 1] ?? true);
  const accKept = u.terms.reduce((a, t) => a + ar.xBits * (full(t) ? p : o.lowerBound ? 0 : keptPes(u, t.w)), 0);
  const accAll = u.terms.length * ar.xBits * p;

  let dsp = 0;
  let fabric = 0;
  if (wBits > 1 && fixedIn) {
    dsp += p * q * u.terms.length;
    fabric += p * q * u.terms.length * multLuts(1, wBits, aBits);
  }
  // Combination and activation (arith.ts): C combiners of depth D = rows / C each.
  const combiners = combinerCount(p, sf, ar.trivial);
  const g = p / combiners;
  const depth = nf * g;
  const words = Math.ceil(depth / 64);
  let comb = 0;
  let combDsp = 0;
  let combFabric = 0;
  if (!ar.trivial) {
    comb += ar.sumBits;
    ar.k.forEach((kt, t) => {
      if (!ar.kConst[t]) comb += ar.kBits[t]! * words;
      if (ar.kConst[t] && isShift(kt[0]!)) return;
      combDsp += dspPerMultiplier(ar.xBits, ar.kBits[t]!);
      combFabric += multLuts(1, ar.xBits, ar.kBits[t]!);
    });
  }
  const a = u.activation;
  if (a.kind === 'threshold') {
    const n = Math.max(0, ...ar.thresholds!.map((t) => t.length));
    comb += n * ar.thrBits! * words + n * ar.thrBits!;
  } else {
    comb += constBits(ar.bias!) * words + ar.sumBits + a.outBits;
  }
  dsp += combiners * combDsp;
  fabric += combiners * combFabric;
  // Shared combiners read the held accumulators of their G rows through a G:1 mux, and
  // enable the output registers of one group per cycle.
  const muxes = combiners < p ? combiners * u.terms.length * ar.xBits * muxLuts(g) + g : 0;
  // Weight memory: per PE and tile, the stored words (arith/weights: signs, masks, or 4 words for three nested planes).
  // A distributed ROM (WMEM ≤ 128, FINN) keeps only its varying bit columns; block RAM holds the whole word.
  const wmem = nf * sf;
  let bram = 0;
  let c2 = 0;
  if (wmem <= 128) c2 = o.lowerBound ? 0 : storedVaryingBits(u) * Math.ceil(wmem / 64);
  else bram = bram18For(wmem, p * q * storedWordsPerLane(u));
  const perPeAct = combiners === p ? comb : 0;
  const combine = combiners === p ? 0 : combiners * comb + muxes;
  const lanesLuts = (l: { perPe: number; shared: number }, acc: number): number => Math.round(FINN_C1 * (p * l.perPe + acc + l.shared));
  const breakdown: UnitLutBreakdown = {
    base: FINN_C0,
    lanes: lanesLuts(kept, accKept),
    perPe: Math.round(FINN_C1 * p * perPeAct),
    combine: Math.round(FINN_C1 * combine),
    memory: Math.round(c2),
  };
  const rest = breakdown.base + breakdown.perPe + breakdown.combine + breakdown.memory;
  const luts = rest + breakdown.lanes;
  return {
    luts,
    breakdown,
    lutsDense: rest + lanesLuts(dense, accAll),
    lutsIdeal: rest + lanesLuts(ideal, accAll),
    bram18: bram,
    dsp,
    cycles: u.reps * nf * sf,
    lanesPerPe: kept.lanes,
    combiners,
    dspFabricLuts: Math.round(FINN_C1 * fabric),
  };
}

// ------------------------------------------------------------------------------------------
// Stages
// ------------------------------------------------------------------------------------------

/** Shift-register FIFOs (SRL32 LUTs) up to this depth; deeper ones are block RAM. */
export const SRL_MAX_DEPTH = 64;

/**
 * LUTs of a block-RAM FIFO's control per bit of its depth: head, tail and count with their
 * increments and compares (yosys on the Verilog backend's hbnn_fifo, bench/synth-ops.mjs: 86
 * LUTs at 114 beats, 98 at 522 in two cascaded BRAM18; this gives 56 and 80).
 */
export const BRAM_FIFO_LUTS_PER_DEPTH_BIT = 8;

/**
 * LUTs of the control of a streaming stage without a line buffer (a state bit, a pixel and a
 * fold counter, the handshake), in place of FINN's c0 = 300 of MVAU/SWU control: yosys gives
 * the Verilog backend's global average pool 75 LUTs with its adder and clamp (bench/synth-ops.mjs).
 */
export const STREAM_CONTROL_LUTS = 30;

/**
 * A stream's FIFO beyond the two-beat handshake every stream has (not counted): `depth` beats
 * of beat × entry bits, in SRL32 shift registers (one LUT per bit and 32 beats) up to
 * SRL_MAX_DEPTH, else in block RAM with its pointers (BRAM_FIFO_LUTS_PER_DEPTH_BIT).
 */
export function fifoCost(s: StreamInfo): { luts: number; bram18: number } {
  const depth = s.depth ?? 2;
  if (depth <= 2) return { luts: 0, bram18: 0 };
  const width = entryBits(s.entry) * s.beat;
  return depth <= SRL_MAX_DEPTH ? { luts: width * Math.ceil(depth / 32), bram18: 0 } : { luts: BRAM_FIFO_LUTS_PER_DEPTH_BIT * Math.ceil(Math.log2(depth + 1)), bram18: bram18For(depth, width) };
}

/** LUTs of the aligners of add/concat inputs: a rounding adder per shifted lane, a decode table per binary lane. */
function operandLuts(ins: readonly StreamInfo[], operands: readonly StageOperand[]): number {
  return ins.reduce((a, x, i) => {
    const o = operands[i]!;
    const bits = entryBits(x.entry);
    return a + x.beat * (o.table ? Math.ceil(o.table.length / 64) * constBits(o.table) : o.shift > 0 ? bits : 0);
  }, 0);
}

/**
 * Rows of a window or pool stage's line buffer: the power of two ≥ SPAN + SH (SPAN = (KH − 1)·DH + 1
 * input rows a window covers), so that the ring row is the low bits of the row index (the
 * Verilog backend's hbnn_lib.v; the HLS code's modulo gives the same memory for 3×3 stride 1 and
 * 2×2 stride 2). Each row holds W pixels of C entries.
 */
export function lineBufferRows(kernelH: number, dilationH: number, strideH: number): number {
  const span = (kernelH - 1) * dilationH + 1;
  let rows = 1;
  while (rows < span + strideH) rows *= 2;
  return rows;
}

/**
 * Where synthesis puts a memory of `depth` words of `width` bits with one write and one
 * synchronous read port: yosys's memory_libmap (synth_xilinx, xc7) weighs distributed RAM (8 per
 * cell: RAM32M, 6 bits × 32 words, or RAM64M, 3 bits × 64 words, 4 LUTs each; deeper memories
 * in banks of 64 words and a read mux, counted ½ per bit and bank) against block RAM (129 per
 * RAMB18, bram18For), and takes the cheaper. Checked on the 14 line buffers of the fmnist-cnn and
 * CNV designs synthesized per instance: the choice, the LUTs and the BRAM18 match every one.
 */
export function xilinxMemory(depth: number, width: number): { luts: number; bram18: number } {
  const banks = Math.ceil(depth / 64);
  const cells = depth <= 32 ? Math.ceil(width / 6) : banks * Math.ceil(width / 3);
  const bram = bram18For(depth, width);
  return 8 * cells + (width * (banks - 1)) / 2 < 129 * bram ? { luts: 4 * cells, bram18: 0 } : { luts: 0, bram18: bram };
}

/** Parts of the LUT model of the line-buffered stages (`lineBufferLutFeatures`). */
export const LINE_BUFFER_LUT_PARTS = ['ctrl', 'winBit', 'poolChan', 'poolBit'] as const;
export type LineBufferLutPart = (typeof LINE_BUFFER_LUT_PARTS)[number];

/** What the line-buffered stage modules build depends on (hbnn_swu: `simd`; hbnn_maxpool: none more). */
export interface LineBufferGeometry {
  kind: 'window' | 'maxpool';
  /** Bits per entry, channels, input width, kernel, stride and dilation (rows). */
  eb: number;
  c: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  dh: number;
  /** Entries per output beat (window). */
  simd?: number;
}

/**
 * What a sliding window (hbnn_swu) or max pool (hbnn_maxpool) builds, from the Verilog:
 * - `ctrl` 1: the line-buffer schedule (positions, counters, address arithmetic);
 * - `winBit`: window register bits with a mux: KH·KW·C·EB when the window loads by pixels (C·EB)
 *   and sends by beats (SIMD·EB) of another size, each bit taking one of two shifted neighbours;
 *   else the C·EB bits of the loaded pixel, gated to 0 in the padding (the register is then a
 *   shift register of pixels: SIMD = C, in SRL32 LUTs, counted with the memory; or loaded and
 *   sent whole: SIMD = KH·KW·C, flip-flops only);
 * - `poolChan`, `poolBit`: the max pool's per-channel compare and its maxima's C·EB bits;
 * - `memory`: the line buffer (xilinxMemory of ROWS·W words of C·EB bits) and the window's SRLs.
 */
export function lineBufferLutFeatures(g: LineBufferGeometry): { features: Record<LineBufferLutPart, number>; memory: { luts: number; bram18: number } } {
  const line = xilinxMemory(lineBufferRows(g.kh, g.dh, g.sh) * g.w, g.c * g.eb);
  const f: Record<LineBufferLutPart, number> = { ctrl: 1, winBit: 0, poolChan: 0, poolBit: 0 };
  let srl = 0;
  if (g.kind === 'window') {
    const kk = g.kh * g.kw;
    const simd = g.simd ?? kk * g.c;
    const beats = (kk * g.c) / simd;
    if (beats > 1 && simd !== g.c) f.winBit = kk * g.c * g.eb;
    else {
      f.winBit = g.c * g.eb;
      if (beats > 1) srl = g.c * g.eb * Math.ceil(kk / 32);
    }
  } else {
    f.poolChan = g.c;
    f.poolBit = g.c * g.eb;
  }
  return { features: f, memory: { luts: line.luts + srl, bram18: line.bram18 } };
}

/**
 * LUTs per part of the line-buffered stages (yosys synth_xilinx of hbnn_swu and hbnn_maxpool):
 * the fit of fixtures/synth/line-buffer-luts.json (`fitLineBufferLuts`, bench/synth-line-buffer-fit.mjs;
 * docs/fpga-results.md#window-and-pool-stages).
 */
export const LINE_BUFFER_LUT_FIT: Readonly<Record<LineBufferLutPart, number>> = Object.freeze({ ctrl: 138.359, winBit: 0.991, poolChan: 3.47, poolBit: 0.563 });

/** LUTs and BRAM18 of a line-buffered stage under a fit. */
export function lineBufferStageCost(g: LineBufferGeometry, fit: Readonly<Record<LineBufferLutPart, number>> = LINE_BUFFER_LUT_FIT): { luts: number; bram18: number } {
  const { features, memory } = lineBufferLutFeatures(g);
  const logic = LINE_BUFFER_LUT_PARTS.reduce((a, k) => a + features[k] * fit[k], 0);
  return { luts: Math.round(logic + memory.luts), bram18: memory.bram18 };
}

/**
 * How the line-buffered stages (windows, max pools) are priced: 'finn' — FINN's
 * ConvolutionInputGenerator and a K-row buffer (the vivado-hls backend's estimate, which its
 * comparisons with FINN's and BNN-PYNQ's published designs are anchored to); 'verilog' — what the
 * Verilog backend's hbnn_swu / hbnn_maxpool build, fitted to yosys (`lineBufferStageCost`).
 */
export type LineBufferModel = 'finn' | 'verilog';

export function stageEstimate(s: HlsStage, o: { lineBuffers?: LineBufferModel } = {}): StageEstimate {
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
      if (!s.grouped && o.lineBuffers === 'verilog') {
        // What hbnn_swu builds (lineBufferLutFeatures)
        const c = lineBufferStageCost({ kind: 'window', eb: entryBits(s.in.entry), c: s.channels, w: s.width, kh: s.kernel[0], kw: s.kernel[1], sh: s.strides[0], dh: s.dilations[0], simd: s.out.beat });
        return { ...base, luts: c.luts, lutsDense: c.luts, bram18: c.bram18, dsp: 0 };
      }
      // A grouped window: FINN ConvolutionInputGenerator: 300 LUTs and a (K + stride)-row buffer of words of
      // SIMD entries, in block RAM, or in LUTRAM (FINN's distributed formula) when a row is at
      // most 64 words deep (what Vivado does with such shallow memories).
      // A grouped window's words are its beat: PE·SIMD entries (types.ts, GroupedWindow).
      const bits = entryBits(s.in.entry);
      const simd = s.out.beat;
      const depth = Math.ceil((s.width * s.channels) / simd);
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
        lutsIdeal: c.lutsIdeal,
        breakdown: c.breakdown,
        combiners: c.combiners,
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
      // Per-channel thresholds: FINN's n·w comparators and n·w LUTRAM bits per 64 channels per
      // lane. Thresholds shared by every channel (per-tensor activation quantization, the usual
      // case) are constants: per lane n comparators with a constant, one LUT per two bits on the
      // carry chain, and the band's code (yosys on hbnn_threshold, bench/synth-ops.mjs: 146 and
      // 94 LUTs for 9 and 7 thresholds of 30 bits; this gives 147 and 117).
      const n = Math.max(0, ...s.thresholds.map((t) => t.length));
      const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
      const shared = s.thresholds.every((t, c) => same(t, s.thresholds[0]!) && same(s.codes[c]!, s.codes[0]!));
      const luts = shared
        ? Math.round(s.in.beat * (n * Math.ceil((s.sumBits + 1) / 2) + 2 * entryBits(s.out.entry)))
        : Math.round(FINN_C1 * s.in.beat * n * s.sumBits * (1 + Math.ceil(s.channels / s.in.beat / 64)));
      return { ...base, luts, lutsDense: luts, bram18: 0, dsp: 0 };
    }
    case 'maxpool': {
      if (o.lineBuffers === 'verilog') {
        // What hbnn_maxpool builds (lineBufferLutFeatures): the schedule, a compare per channel, the maxima, the line buffer.
        const c = lineBufferStageCost({ kind: 'maxpool', eb: entryBits(s.in.entry), c: s.channels, w: s.width, kh: s.kernel[0], kw: s.kernel[1], sh: s.strides[0], dh: s.dilations[0] });
        return { ...base, luts: c.luts, lutsDense: c.luts, bram18: c.bram18, dsp: 0 };
      }
      // A comparator per channel lane (a pixel per cycle) and a K-row line buffer of pixels
      // (LUTRAM when at most 64 pixels wide, as for the window stage).
      const bits = entryBits(s.in.entry);
      const lutram = s.width <= 64 ? s.kernel[0] * s.channels * bits : 0;
      const luts = Math.round(FINN_C0 + s.channels * bits + lutram);
      const bram = s.width <= 64 ? 0 : s.kernel[0] * bram18For(s.width, s.channels * bits);
      return { ...base, luts, lutsDense: luts, bram18: bram, dsp: 0 };
    }
    case 'avgpool': {
      // Ours: an accumulator adder and a clamp per lane, the aligners, and one multiplier by
      // 1/n per lane (DSP48), the lanes being the beat of the averages (C/beat channels share
      // each). Global: the accumulators, C/beat words of beat × sum bits (registers for one
      // word, LUTRAM up to 64 words, FINN's distributed formula, else block RAM); no line
      // buffer, the control of a streaming stage (STREAM_CONTROL_LUTS). Line-buffered: FINN's
      // c0 of window control and the K-row pixel buffer of the max pool.
      const bits = entryBits(s.in.entry);
      const lanes = s.global ? s.in.beat : s.out.beat;
      const sumBits = entryBits(s.out.entry) + Math.ceil(Math.log2(s.kernel[0] * s.kernel[1] + 1)) + 1;
      const operand = operandLuts([s.in], [{ shift: s.alignShift, ...(s.table ? { table: s.table } : {}) }]);
      const dsp = lanes * dspPerMultiplier(sumBits, constBits(s.mult));
      if (s.global) {
        const words = s.channels / lanes;
        const accLutram = words > 1 && words <= 64 ? lanes * sumBits * Math.ceil(words / 64) : 0;
        const bram = words > 64 ? bram18For(words, lanes * sumBits) : 0;
        const luts = Math.round(STREAM_CONTROL_LUTS + lanes * (sumBits + entryBits(s.out.entry)) + operand + accLutram);
        return { ...base, luts, lutsDense: luts, bram18: bram, dsp };
      }
      const lutram = s.width <= 64 ? s.kernel[0] * s.channels * bits : 0;
      // Summing a window of a pixel's lanes: an adder tree of K·K aligned entries per lane.
      const luts = Math.round(FINN_C0 + lanes * (s.kernel[0] * s.kernel[1] * sumBits + entryBits(s.out.entry)) + (lanes * s.kernel[0] * s.kernel[1] * operand) / s.in.beat + lutram);
      const bram = s.width <= 64 ? 0 : s.kernel[0] * bram18For(s.width, s.channels * bits);
      return { ...base, luts, lutsDense: luts, bram18: bram, dsp };
    }
    case 'clip': {
      const luts = Math.round(10 + s.in.beat * entryBits(s.in.entry));
      return { ...base, luts, lutsDense: luts, bram18: 0, dsp: 0 };
    }
    case 'leakyrelu': {
      const bits = entryBits(s.in.entry);
      return { ...base, luts: 100 + bits, lutsDense: 100 + bits, bram18: 0, dsp: s.in.beat * dspPerMultiplier(bits, constBits([s.multiplier])) };
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
    case 'dup': {
      // Wiring and one handshake per reader.
      const luts = 10 * s.outs.length;
      return { ...base, luts, lutsDense: luts, bram18: 0, dsp: 0 };
    }
    case 'add':
    case 'concat': {
      // add: an adder chain and a clamp per lane; concat: a clamp per output lane (the channel
      // order is wiring); both: the aligners and the input FIFOs sized for the branches.
      const fifos = s.ins.map(fifoCost);
      const lanes = s.kind === 'add' ? s.out.beat * (s.ins.length * s.outBits + s.outBits) : s.out.beat * s.outBits;
      const luts = Math.round(20 + lanes + operandLuts(s.ins, s.operands) + fifos.reduce((a, f) => a + f.luts, 0));
      return { ...base, luts, lutsDense: luts, bram18: fifos.reduce((a, f) => a + f.bram18, 0), dsp: 0 };
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
  /** How windows and max pools are priced (default 'finn'). */
  lineBuffers?: LineBufferModel;
}

const pct = (x: number, of: number): number => Math.round((10000 * x) / of) / 100;

/** Per-stage and total estimates of `design` on `part` at `clockMhz`. */
export function estimateDesign(design: HlsDesign, o: EstimateOptions): FpgaEstimate {
  const stages = design.stages.map((s) => stageEstimate(s, o.lineBuffers ? { lineBuffers: o.lineBuffers } : {}));
  let luts = 0;
  let lutsDense = 0;
  let lutsIdeal = 0;
  let bram = 0;
  let dsp = 0;
  let worst = stages[0]!;
  let sumCycles = 0;
  // the FIFOs on the inputs of units and line-buffered stages (design.ts rule 6), outside their own estimates
  for (const s of design.stages) {
    if (s.kind !== 'unit' && s.kind !== 'window' && s.kind !== 'maxpool' && s.kind !== 'avgpool') continue;
    const f = fifoCost(s.in);
    luts += f.luts;
    lutsDense += f.luts;
    lutsIdeal += f.luts;
    bram += f.bram18;
  }
  for (const s of stages) {
    luts += s.luts;
    lutsDense += s.lutsDense;
    lutsIdeal += s.lutsIdeal ?? s.luts;
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
    dspFallback = `${dsp} DSP48 slices needed, ${o.part.dsp} on the ${o.part.name}: the multipliers of the other ${excess} are counted as LUT multipliers (+${formatCount(extra)} LUTs, FINN's multiplier formula).`;
    luts += extra;
    lutsDense += extra;
    lutsIdeal += extra;
    dsp = o.part.dsp;
  }
  const hz = o.clockMhz * 1e6;
  const fps = hz / worst.cycles;
  const notes = [
    'FINN-R analytical model (LUT = 300 + 1.1·PE·(lanes + adder tree + accumulator + thresholds); a binary xnor-popcount lane costs 2.2 LUTs, its adder tree counted by width), extended to bit planes: every accumulator term has its own popcount lanes, and only the lanes whose mask bit is 0 in every tile (constant-zero ROM bits) are removed by synthesis.',
    'Several terms are combined by shared combiners (one per PE/SF rows) during the next row fold; their multipliers of at most 25×18 bits are DSP48 slices, as Vivado HLS maps them by default.',
    `If every plane had only SIMD × its density lanes (the sum of per-parameter bits, as the HBNN paper scales): ${formatCount(Math.round(lutsIdeal))} LUTs (lutsIdeal); folded weights reach nearly every lane of a plane, so the design keeps ${formatCount(Math.round(luts))}; with no lane removed ${formatCount(Math.round(lutsDense))} (lutsDense).`,
    'Not included: AXI DMA / interconnect, the two-beat FIFOs between stages (the deeper FIFOs of add/concat inputs sized for their branches, and of the inputs of units and line-buffered stages sized for their producers, are included), the processing system, and place-and-route effects.',
    'Latency is Σ stage cycles / clock (each stage finishes a sample before the next starts): an upper bound.',
  ];
  const unmet = o.targetFps !== undefined && fps < o.targetFps * (1 - 1e-9);
  if (dspFallback) notes.unshift(dspFallback);
  if (unmet) notes.unshift(`target ${o.targetFps} FPS not reached: the slowest stage (${worst.stage}) needs ${formatCount(worst.cycles)} cycles per sample even at full parallelism or fixed-rate input.`);
  const ratio: FitRatios = { luts: luts / o.part.luts, bram18: bram / o.part.bram18, dsp: dsp / o.part.dsp };
  const over = (['luts', 'bram18', 'dsp'] as const).filter((k) => ratio[k] > 1);
  return {
    format: 'hbnn-fpga-estimate/1',
    part: o.part,
    clockMhz: o.clockMhz,
    stages,
    total: {
      luts: Math.round(luts),
      lutsDense: Math.round(lutsDense),
      lutsIdeal: Math.round(lutsIdeal),
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
    fit: { verdict: over.length === 0 ? 'fits' : 'cannot-fit', ratio, over },
    ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}),
    avgWeightBits: design.avgWeightBits,
    ...(design.avgActivationBits !== undefined ? { avgActivationBits: design.avgActivationBits } : {}),
  };
}

// ------------------------------------------------------------------------------------------
// Does it fit?
// ------------------------------------------------------------------------------------------

const percent = (r: number): string => `${formatCount(Math.round(r * 100))}%`;
const RESOURCE_NAMES = { luts: 'LUTs', bram18: 'BRAM18', dsp: 'DSP48' } as const;

/** Stored weight bits of a design (what its weight memories hold). */
export function storedWeightBits(design: HlsDesign): number {
  return design.units.reduce((a, u) => a + u.mh * u.mw * storedWordsPerLane(u), 0);
}

/**
 * The fit report of `estimate` (the design as folded), completed with the smallest folding's
 * estimate on the same part (`smallest`: PE = SIMD = 1 in every unit) and on every part of
 * `parts`, when the design does not fit. A design that does not fit gets a first note saying
 * by how much, and whether any folding would.
 */
export function completeFit(estimate: FpgaEstimate, smallestDesign: HlsDesign, weightsOf: HlsDesign, parts: readonly FpgaPart[]): void {
  const fit = estimate.fit;
  if (fit.verdict === 'fits') return;
  const part = estimate.part;
  const small = estimateDesign(smallestDesign, { part, clockMhz: estimate.clockMhz });
  const st = small.total;
  const sr = small.fit.ratio;
  fit.smallest = { luts: st.luts, bram18: st.bram18, dsp: st.dsp, fps: st.fps, ratio: sr };
  fit.verdict = small.fit.verdict === 'fits' ? 'fits-when-folded' : 'cannot-fit';
  fit.weightBits = storedWeightBits(weightsOf);
  fit.bramBits = part.bram18 * 18 * 1024;
  fit.partsThatFit = parts.filter((p) => p.name === part.name ? small.fit.verdict === 'fits' : estimateDesign(smallestDesign, { part: p, clockMhz: estimate.clockMhz }).fit.verdict === 'fits').map((p) => p.name);
  const t = estimate.total;
  const used = fit.over.map((k) => `${percent(fit.ratio[k])} of its ${RESOURCE_NAMES[k]}`).join(' and ');
  let note = `DOES NOT FIT the ${part.name}: this folding needs ${used} (${formatCount(t.luts)} LUTs, ${formatCount(t.bram18)} BRAM18).`;
  if (fit.verdict === 'fits-when-folded') {
    note += ` The smallest folding (PE = SIMD = 1 in every unit) fits (${percent(sr.luts)} of the LUTs, ${percent(sr.bram18)} of the BRAM18) at ${formatCount(st.fps)} FPS: ask for a lower target FPS.`;
  } else {
    const smallOver = small.fit.over.map((k) => `${RESOURCE_NAMES[k]} ${(sr[k]).toFixed(2)}× the part's (${formatCount((k === 'luts' ? st.luts : k === 'bram18' ? st.bram18 : st.dsp))})`).join(', ');
    note += ` It cannot fit at any folding: even the smallest (PE = SIMD = 1 in every unit) needs ${smallOver}; its weights alone are ${(fit.weightBits / 1e6).toFixed(1)} Mbit against ${(fit.bramBits / 1e6).toFixed(1)} Mbit of block RAM.`;
    note += fit.partsThatFit.length ? ` Parts it would fit (smallest folding): ${fit.partsThatFit.join(', ')}.` : ' None of the built-in parts holds it (weights would have to stream from off-chip memory, which this backend does not generate).';
  }
  estimate.notes.unshift(note);
}
