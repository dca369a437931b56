/**
 * One matrix-vector-threshold unit on its own, for synthesis sweeps: a unit configuration
 * (conv or matvec geometry, PE/SIMD, weight planes and bit map, activation planes, output
 * kind) with seeded pseudo-random weights, multipliers and thresholds becomes the same
 * `UnitStage` the vivado-hls design builder makes (arith.ts forms, row grouping, plane
 * guards), its Verilog module and memory files, and the vivado-hls estimate of that stage.
 */
import { fail, ErrorCodes } from '../../errors.js';
import type { BinaryType, BinaryWeight, ConvOp, FixedType, Level, MatVecOp, WeightPlane } from '../../bitir/types.js';
import { outputSize } from '../../bitir/lower.js';
import { permuteWeightRows } from '../../bitir/permute.js';
import { mulberry32, type Rng } from '../../hbnn/prng.js';
import { unitArith } from '../vivado-hls/arith.js';
import { entryOf, levelCode } from '../vivado-hls/design.js';
import { groupedRowOrder } from '../vivado-hls/grouping.js';
import { stageEstimate } from '../vivado-hls/estimate.js';
import { signedBits } from '../vivado-hls/emit/cpp.js';
import type { StageEstimate, UnitActivation, UnitStage } from '../vivado-hls/types.js';
import { printFile } from './ast.js';
import { unitModule } from './unit.js';
import { ramModule, romModule } from './memories.js';

export interface UnitConfig {
  kind: 'conv' | 'matvec';
  /** matvec: input features (MW). conv: input channels. */
  inputs: number;
  /** Output rows (MH): features or channels. */
  outputs: number;
  /** conv only: input image [H, W] (default [8, 8]), square kernel (default 3), padding (default 1). */
  image?: [number, number];
  kernel?: number;
  pad?: number;
  pe: number;
  simd: number;
  /** Weight bit planes (the widest weight). */
  weightPlanes: 1 | 2 | 3;
  /** Per-weight bit map (`weight`) or one width per row (`row`). Default `weight`. */
  bitMap?: 'weight' | 'row';
  /** Average weight bits (1 .. weightPlanes; default 1.4, 1 for one plane). */
  avgBits?: number;
  /** 0: fixed-point input (`inputBits` wide); 1..3: bit-plane activations. */
  activationPlanes: 0 | 1 | 2 | 3;
  /** Fixed-point input width (default 8). */
  inputBits?: number;
  /** Binary input: include the zero level (ReLU's 0; makes plane 1 data-dependent). Default true. */
  zeroLevel?: boolean;
  /** 1..3: a threshold unit with that many output planes; 0: a requantize unit (16-bit output). Default 1. */
  outputPlanes?: 0 | 1 | 2 | 3;
  /** Group rows by widest weight as the vivado-hls backend does (default true). */
  groupRows?: boolean;
  seed?: number;
}

export interface UnitDesign {
  /** Verilog source (`<top>.v`) and memory files by name. */
  files: Map<string, string>;
  /** The module to synthesize. */
  top: string;
  /** The unit as the vivado-hls backend describes it (same folding, forms and constants). */
  unit: UnitStage;
  /** The vivado-hls estimate of this unit stage. */
  estimate: StageEstimate;
}

function levelsOf(planes: number, zero: boolean, scales: number[]): Level[] {
  const out: Level[] = [];
  if (zero) out.push({ signs: 0, mask: 0, value: 0 });
  for (let m = 1; m <= planes; m++) {
    const mask = (1 << m) - 1;
    for (let s = 0; s <= mask; s++) {
      let v = 0;
      for (let k = 0; k < m; k++) v += ((s >> k) & 1 ? 1 : -1) * scales[k]!;
      out.push({ signs: s, mask, value: v });
    }
  }
  return out.sort((a, b) => a.value - b.value || a.mask - b.mask || a.signs - b.signs);
}

function binaryType(shape: number[], planes: number, zero: boolean): BinaryType {
  const scales = Array.from({ length: planes }, (_, k) => 2 ** -k);
  return { kind: 'binary', shape, planes, scales, levels: levelsOf(planes, zero, scales) };
}

/** A width 1..P per weight or per row with mean ≈ avg: P(w ≥ 2) = (avg − 1)/(P − 1)·… (nested). */
function drawWidth(rng: Rng, planes: number, avg: number): number {
  if (planes === 1) return 1;
  const extra = avg - 1;
  if (planes === 2) return rng.next() < extra ? 2 : 1;
  const r = rng.next();
  const p = extra / 3; // P(2) = P(3) = (avg − 1)/3: mean 1 + p + 2p
  return r < p ? 3 : r < 2 * p ? 2 : 1;
}

function randomWeight(rows: number, cols: number, c: UnitConfig, rng: Rng): BinaryWeight {
  const P = c.weightPlanes;
  const avg = c.avgBits ?? (P === 1 ? 1 : 1.4);
  if (!(avg >= 1 && avg <= P)) fail(ErrorCodes.INVALID_OPTION, `avgBits ${avg} is outside 1..${P}`, { option: 'avgBits' });
  const wpr = Math.ceil(cols / 32);
  const planes: WeightPlane[] = Array.from({ length: P }, (_, k) => ({ scales: new Array<number>(rows).fill(2 ** -k), signs: new Uint32Array(rows * wpr), mask: new Uint32Array(rows * wpr) }));
  for (let r = 0; r < rows; r++) {
    const rowWidth = drawWidth(rng, P, avg);
    for (let j = 0; j < cols; j++) {
      const width = (c.bitMap ?? 'weight') === 'row' ? rowWidth : drawWidth(rng, P, avg);
      for (let k = 0; k < width; k++) {
        const i = r * wpr + (j >>> 5);
        const b = 1 << (j & 31);
        planes[k]!.mask[i] = (planes[k]!.mask[i]! | b) >>> 0;
        if (rng.next() < 0.5) planes[k]!.signs[i] = (planes[k]!.signs[i]! | b) >>> 0;
      }
    }
  }
  return { kind: 'binary', id: 'w', source: [], rows, cols, wordsPerRow: wpr, planes };
}

function positiveInt(v: number | undefined, name: string, min = 1): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) fail(ErrorCodes.INVALID_OPTION, `${name} must be an integer ≥ ${min} (got ${v})`, { option: name });
}

/** The unit of a configuration as a `UnitStage` (what the vivado-hls design builder would make). */
export function unitStageOf(c: UnitConfig): UnitStage {
  for (const [k, v] of [['inputs', c.inputs], ['outputs', c.outputs], ['pe', c.pe], ['simd', c.simd]] as const) positiveInt(v, k);
  positiveInt(c.inputBits, 'inputBits', 2);
  const rng = mulberry32(c.seed ?? 1);
  const kernel = c.kind === 'conv' ? (c.kernel ?? 3) : 1;
  const pad = c.kind === 'conv' ? (c.pad ?? 1) : 0;
  const [h, w] = c.kind === 'conv' ? (c.image ?? [8, 8]) : [1, 1];
  const mh = c.outputs;
  const mw = c.inputs * kernel * kernel;
  if (mh % c.pe !== 0) fail(ErrorCodes.INVALID_OPTION, `PE ${c.pe} does not divide the ${mh} output rows`, { option: 'pe' });
  if (mw % c.simd !== 0) fail(ErrorCodes.INVALID_OPTION, `SIMD ${c.simd} does not divide the ${mw} input columns`, { option: 'simd' });
  const inShape = c.kind === 'conv' ? [c.inputs, h, w] : [c.inputs];
  const input: FixedType | BinaryType = c.activationPlanes === 0 ? { kind: 'fixed', shape: inShape, frac: 0, bits: c.inputBits ?? 8 } : binaryType(inShape, c.activationPlanes, c.zeroLevel ?? true);
  const op: ConvOp | MatVecOp =
    c.kind === 'conv'
      ? { op: 'conv', id: 'unit', nodes: ['unit'], input: 'x', weight: 'w', output: 'acc', group: 1, kernel: [kernel, kernel], strides: [1, 1], pads: [pad, pad, pad, pad], dilations: [1, 1] }
      : { op: 'matvec', id: 'unit', nodes: ['unit'], input: 'x', weight: 'w', output: 'acc' };
  const [oh, ow] = c.kind === 'conv' ? outputSize(inShape, op as ConvOp, false) : [1, 1];
  let weight = randomWeight(mh, mw, c, rng);
  if (c.groupRows ?? true) {
    const order = groupedRowOrder(weight, c.pe);
    if (order) weight = permuteWeightRows(weight, order);
  }
  const aPlanes = c.activationPlanes === 0 ? [0] : Array.from({ length: c.activationPlanes }, (_, k) => k + 1);
  const terms = weight.planes.flatMap((_, wi) => aPlanes.map((a) => ({ w: wi + 1, a })));
  const inMax = input.kind === 'fixed' ? 2 ** (input.bits - 1) : 1;
  const accBits = signedBits([mw * inMax, -mw * inMax]);
  // Multipliers of plane (w, a): a scale 2^(8 − w − a) ± a little per row, as the lowering makes them.
  const multipliers = terms.map((t) => Array.from({ length: mh }, () => Math.max(1, Math.round(2 ** (8 - t.w - Math.max(t.a, 1) + 1) * (0.75 + 0.5 * rng.next())))));
  const bound = terms.reduce((s, _, t) => s + Math.max(...multipliers[t]!) * mw * inMax, 0);
  const outPlanes = c.outputPlanes ?? 1;
  let activation: UnitActivation;
  let outType: FixedType | BinaryType;
  if (outPlanes === 0) {
    const shift = 8;
    outType = { kind: 'fixed', shape: [mh], frac: 0, bits: 16 };
    const bias = Array.from({ length: mh }, () => Math.round((rng.next() - 0.5) * bound * 0.1) + 2 ** (shift - 1));
    activation = { kind: 'requantize', multipliers, bias, shift, sumBits: signedBits([bound + Math.max(...bias.map(Math.abs)), -bound]), outBits: 16 };
  } else {
    const ot = binaryType([mh], outPlanes, true);
    outType = ot;
    const n = ot.levels.length - 1;
    const spread = Math.max(4, Math.round(bound / 8));
    const thresholds = Array.from({ length: mh }, () => Array.from({ length: n }, () => Math.round((rng.next() - 0.5) * spread)).sort((x, y) => x - y));
    const codes = Array.from({ length: mh }, () => ot.levels.map((l) => levelCode(l, ot.planes)));
    activation = { kind: 'threshold', multipliers, thresholds, codes, sumBits: signedBits([bound + spread, -(bound + spread)]) };
  }
  const arith = unitArith(op, weight, input, terms, accBits, activation);
  const reps = oh * ow;
  const inStream = { name: 's_in', tensor: 'x', entry: entryOf(input), beat: c.simd, entries: reps * mw, layout: { kind: 'vector' as const, size: reps * mw } };
  const outStream = { name: 's_out', tensor: 'y', entry: entryOf(outType), beat: c.pe, entries: reps * mh, layout: { kind: 'vector' as const, size: reps * mh } };
  const name = `${c.kind === 'conv' ? 'conv' : 'mv'}_unit`;
  return {
    kind: 'unit',
    name: `mvtu_${name}`,
    ops: ['unit'],
    nodes: ['unit'],
    layer: name,
    unitOp: 'unit',
    source: c.kind,
    groups: 1,
    in: inStream,
    out: outStream,
    mh,
    mw,
    reps,
    pe: c.pe,
    simd: c.simd,
    weight,
    columnOrder: Int32Array.from({ length: mw }, (_, i) => i),
    terms,
    accBits,
    activation,
    arith,
    index: 0,
  };
}

/** One unit as a standalone Verilog design (for synthesis): module, memory files, and the vivado-hls estimate of the same unit. */
export function emitUnitDesign(c: UnitConfig): UnitDesign {
  const unit = unitStageOf(c);
  const m = unitModule(unit);
  const files = new Map<string, string>();
  files.set(`${unit.name}.v`, printFile(`${unit.name}.v — generated by hbnn-onnx (verilog backend): one unit, seeded random weights (seed ${c.seed ?? 1})`, [m.module, romModule(), ramModule()]));
  for (const [k, v] of m.files) files.set(k, v);
  return { files, top: unit.name, unit, estimate: stageEstimate(unit) };
}
