/**
 * The unit-count cost model: which units each layer instantiates, how often they fire per
 * frame, and what that costs in a technology.
 *
 * Per layer (docs/backend-asic.md states the same rules with an example):
 * 1. Lane-operations per frame L = outputPositions · Σ_params bits · avgActivationBits: a
 *    parameter with k bits needs k xnor-popcount lanes per activation bit, so cost follows
 *    the sum of per-parameter bits, not the maximum (bit maps are static, so the planes
 *    are stored compacted and no lane idles on a missing bit).
 * 2. Folding: the layer gets the fewest lanes that finish its work within `tech.foldCycles`
 *    cycles per frame, arranged FINN-style as PE output rows × SIMD lanes, where one output
 *    needs D = ceil(Σ bits · avgActivationBits / rows) lane-operations streamed in whole
 *    cycles of SIMD; when even PE = rows is too slow, the unit is replicated over output
 *    positions (`copies`). Ceilings are real: a layer rarely gets exactly L / foldCycles lanes.
 * 3. Per PE: a popcount adder tree over its SIMD lanes (Σ_l ceil(SIMD/2^l)·l adder bits),
 *    one accumulator per (weight plane × activation plane) term, and, when there are
 *    several terms, a constant-coefficient multiply-add per term (2 adders of
 *    accBits + COEF_BITS). The output quantizer is a multi-threshold unit (count
 *    comparators of the sum's width) or a requantizer (an accBits × MULT_BITS multiplier).
 * 4. On-chip memory: the compacted weight bits, the per-plane scales and the threshold or
 *    requantization tables. Weights are re-read for every output position.
 * 5. Area = Σ units · tech.area; energy per frame = Σ operations · tech.energy; power =
 *    energy per frame · FPS + leakage · area; FPS = clock / the slowest layer's cycles.
 */
import type { AsicTech, UnitCosts, UnitKind } from './tech.js';
import { UNIT_KINDS } from './tech.js';
import { histogramMax, paramBitSum, paramCount, type ActivationBits, type AsicLayerWork, type LayerKind, type OutputQuantizer } from './work.js';
import { unreachable } from '../../bitir/types.js';

/** Fixed-point bits of the per-term coefficients (mu_w · s_a) when terms are combined. */
export const COEF_BITS = 8;
/** Multiplier width of a requantizer. */
export const MULT_BITS = 16;
/** Stored bits per plane scale. */
export const SCALE_BITS = 16;

export type UnitTally = Record<UnitKind, number>;

export interface LayerEstimate {
  name: string;
  kind: LayerKind;
  params: number;
  /** Σ over parameters of their bits. */
  weightBitSum: number;
  avgWeightBits: number;
  maxWeightBits: number;
  /** weightBits[k-1] = parameters with k bits (copied from the work list). */
  weightHistogram: number[];
  activation: ActivationBits;
  outputPositions: number;
  rows: number;
  cols: number;
  /** Multiply-accumulates per frame (outputPositions · params). */
  macsPerFrame: number;
  /** xnor-popcount lane operations per frame (L). */
  laneOpsPerFrame: number;
  pe: number;
  simd: number;
  copies: number;
  cyclesPerFrame: number;
  accumulatorBits: number;
  accumulatorsPerOutput: number;
  thresholdsPerOutput: number;
  output: OutputQuantizer;
  /** Units instantiated, per kind (lanes; adder, accumulator, comparator and SRAM bits). */
  units: UnitTally;
  /** Unit operations per frame, per kind. */
  opsPerFrame: UnitTally;
  areaMm2: UnitTally;
  energyPerFrameUj: UnitTally;
  totalAreaMm2: number;
  totalEnergyPerFrameUj: number;
  /** At the design's FPS; leakage is the layer's share by area. */
  dynamicPowerW: number;
  leakagePowerW: number;
  powerW: number;
}

export interface DesignEstimate {
  clockMhz: number;
  fps: number;
  /** The slowest layer's cycles per frame. */
  cyclesPerFrame: number;
  layers: LayerEstimate[];
  areaMm2: number;
  areaBreakdownMm2: UnitTally;
  dynamicPowerW: number;
  leakagePowerW: number;
  powerW: number;
  energyPerFrameUj: number;
  energyBreakdownUj: UnitTally;
  laneOpsPerFrame: number;
  macsPerFrame: number;
  /** Parameter-weighted average bits of plane-encoded weights. */
  avgWeightBits: number;
  /**
   * MAC-weighted average bits of plane-encoded (HBNN) activations; when there are none, of
   * every layer input except the network input.
   */
  avgActivationBits: number;
}

const zeroTally = (): UnitTally => Object.fromEntries(UNIT_KINDS.map((k) => [k, 0])) as UnitTally;

function price(t: UnitTally, costs: UnitCosts, scale: number): UnitTally {
  const out = zeroTally();
  for (const k of UNIT_KINDS) out[k] = t[k] * costs[k] * scale;
  return out;
}

const sum = (t: UnitTally): number => UNIT_KINDS.reduce((s, k) => s + t[k], 0);

/** A layer's units and operations per frame priced in `tech`: area (mm²) and energy per frame (µJ), per kind and in total. */
function priced(units: UnitTally, ops: UnitTally, tech: AsicTech): Pick<LayerEstimate, 'units' | 'opsPerFrame' | 'areaMm2' | 'energyPerFrameUj' | 'totalAreaMm2' | 'totalEnergyPerFrameUj'> {
  const areaMm2 = price(units, tech.area, 1e-6);
  const energyPerFrameUj = price(ops, tech.energy, 1e-6);
  return { units, opsPerFrame: ops, areaMm2, energyPerFrameUj, totalAreaMm2: sum(areaMm2), totalEnergyPerFrameUj: sum(energyPerFrameUj) };
}

/** Adder bits of a popcount tree over `inputs` one-bit inputs. */
export function popcountTreeBits(inputs: number): number {
  let bits = 0;
  let n = inputs;
  for (let level = 1; n > 1; level++) {
    n = Math.ceil(n / 2);
    bits += n * level;
  }
  return bits;
}

interface Folding {
  pe: number;
  simd: number;
  copies: number;
  cycles: number;
}

/**
 * The arrangement (PE × SIMD × copies) of least area, ties broken by fewer lanes, whose
 * cycles per frame, ceil(positions / copies) · ceil(rows / PE) · ceil(D / SIMD), fit the
 * fold budget (rule 2). For a given PE the smallest SIMD that fits is best, so the search
 * is over PE only. `areaOf` prices one arrangement's folding-dependent units.
 */
export function chooseFolding(
  positions: number,
  rows: number,
  dotWidth: number,
  foldCycles: number,
  areaOf: (pe: number, simd: number, copies: number) => number,
): Folding {
  const cyclesOf = (pe: number, simd: number, copies: number): number =>
    Math.ceil(positions / copies) * Math.ceil(rows / pe) * Math.ceil(dotWidth / simd);
  // Fewest copies over output positions that can meet the budget at all (PE = rows, SIMD = D).
  const copies = Math.max(1, Math.ceil(positions / foldCycles));
  let best: (Folding & { area: number }) | undefined;
  for (let pe = 1; pe <= rows; pe++) {
    const chunkBudget = Math.floor(foldCycles / (Math.ceil(positions / copies) * Math.ceil(rows / pe)));
    if (chunkBudget < 1) continue;
    const simd = Math.ceil(dotWidth / Math.min(chunkBudget, dotWidth));
    const area = areaOf(pe, simd, copies);
    const better = !best || area < best.area || (area === best.area && pe * simd < best.pe * best.simd);
    if (better) best = { pe, simd, copies, cycles: cyclesOf(pe, simd, copies), area };
  }
  // The loop always finds one (PE = rows fits once copies covers the positions).
  const f = best ?? { pe: rows, simd: dotWidth, copies, cycles: cyclesOf(rows, dotWidth, copies) };
  return { pe: f.pe, simd: f.simd, copies: f.copies, cycles: f.cycles };
}

/**
 * A stream unit (docs/backend-asic.md, "Stream units"): `lanes` = ceil(values per frame /
 * foldCycles) parallel datapaths, each `bits` wide:
 * - add: one adder per lane (adderTreeBit = bits), plus a FIFO holding the shortcut (sramBit);
 * - avgpool: an accumulator of bits + ceil(log2 window) bits per lane, a constant multiply
 *   (MULT_BITS × that width adder bits) per output, and the window's line buffer (sramBit);
 * - concat: wiring; a rounding adder per lane for each input that is shifted, and its decode tables;
 * - clip: two comparators of `bits` per lane;
 * - leakyrelu: a constant multiply (MULT_BITS × bits adder bits) and a comparator per lane.
 */
function estimateStream(w: AsicLayerWork, st: NonNullable<AsicLayerWork['stream']>, tech: AsicTech): Omit<LayerEstimate, 'dynamicPowerW' | 'leakagePowerW' | 'powerW'> {
  const values = Math.max(st.entriesIn, st.entriesOut);
  const lanes = Math.max(1, Math.ceil(values / tech.foldCycles));
  const cycles = Math.ceil(values / lanes);
  const perLane = zeroTally();
  const ops = zeroTally();
  const b = st.bits;
  const rounding = (st.alignedInputs ?? 0) * b;
  switch (st.kind) {
    case 'add':
      perLane.adderTreeBit = (st.inputs - 1) * b + rounding;
      ops.adderTreeBit = st.entriesOut * ((st.inputs - 1) * b + rounding);
      break;
    case 'avgpool': {
      const sumBits = b + Math.ceil(Math.log2(Math.max(2, st.window ?? 1)));
      perLane.accumulatorBit = sumBits;
      perLane.adderTreeBit = sumBits * MULT_BITS + rounding;
      ops.accumulatorBit = st.entriesOut * (st.window ?? 1) * sumBits;
      ops.adderTreeBit = st.entriesOut * (sumBits * MULT_BITS + rounding);
      break;
    }
    case 'concat':
      perLane.adderTreeBit = rounding;
      ops.adderTreeBit = st.inputs > 0 ? (st.entriesOut / st.inputs) * rounding : 0;
      break;
    case 'clip':
      perLane.comparatorBit = 2 * b;
      ops.comparatorBit = st.entriesOut * 2 * b;
      break;
    case 'leakyrelu':
      perLane.adderTreeBit = b * MULT_BITS;
      perLane.comparatorBit = b;
      ops.adderTreeBit = st.entriesOut * b * MULT_BITS;
      ops.comparatorBit = st.entriesOut * b;
      break;
    default:
      unreachable(st.kind, 'stream unit');
  }
  const unitCount = zeroTally();
  for (const k of UNIT_KINDS) unitCount[k] = perLane[k] * lanes;
  unitCount.sramBit = (st.bufferBits ?? 0) + (st.tableBits ?? 0);
  ops.sramBit = st.bufferBits ? st.entriesIn * b : 0;
  return {
    name: w.name,
    kind: w.kind,
    params: 0,
    weightBitSum: 0,
    avgWeightBits: 0,
    maxWeightBits: 0,
    weightHistogram: [],
    activation: { ...w.activation },
    outputPositions: w.outputPositions,
    rows: w.rows,
    cols: 0,
    macsPerFrame: 0,
    laneOpsPerFrame: 0,
    pe: lanes,
    simd: 1,
    copies: 1,
    cyclesPerFrame: cycles,
    accumulatorBits: 0,
    accumulatorsPerOutput: 0,
    thresholdsPerOutput: 0,
    output: { ...w.output },
    ...priced(unitCount, ops, tech),
  };
}

function estimateLayer(w: AsicLayerWork, tech: AsicTech): Omit<LayerEstimate, 'dynamicPowerW' | 'leakagePowerW' | 'powerW'> {
  if (w.stream) return estimateStream(w, w.stream, tech);
  const params = paramCount(w);
  const bitSum = paramBitSum(w);
  const wMax = histogramMax(w.weightBits);
  const a = w.activation.avg;
  const laneOps = w.outputPositions * bitSum * a;
  const dotWidth = Math.max(1, Math.ceil((bitSum * a) / w.rows));
  const terms = w.accumulatorsPerOutput;
  const sumWidth = w.accumulatorBits + (terms > 1 ? COEF_BITS : 0);
  const combineBits = terms > 1 ? terms * 2 * sumWidth : 0;
  let quantUnitBits = 0; // adder bits of the output quantizer, per PE
  let comparatorsPerOutput = 0;
  let tableBitsPerRow = 0;
  switch (w.output.kind) {
    case 'none':
      break;
    case 'thresholds':
      comparatorsPerOutput = w.output.count;
      tableBitsPerRow = w.output.count * sumWidth;
      break;
    case 'requantize':
      quantUnitBits = sumWidth * MULT_BITS;
      tableBitsPerRow = MULT_BITS + sumWidth;
      break;
    default:
      unreachable(w.output, 'output quantizer');
  }
  const peUnits = (simd: number): Omit<UnitTally, 'sramBit'> => ({
    xnorPopcountLane: simd,
    adderTreeBit: popcountTreeBits(simd) + combineBits + quantUnitBits,
    accumulatorBit: terms * w.accumulatorBits,
    comparatorBit: comparatorsPerOutput * sumWidth,
  });
  const peArea = (simd: number): number => {
    const u = peUnits(simd);
    return u.xnorPopcountLane * tech.area.xnorPopcountLane + u.adderTreeBit * tech.area.adderTreeBit + u.accumulatorBit * tech.area.accumulatorBit + u.comparatorBit * tech.area.comparatorBit;
  };
  const f = chooseFolding(w.outputPositions, w.rows, dotWidth, tech.foldCycles, (pe, simd, copies) => pe * copies * peArea(simd));
  const units = f.pe * f.copies;
  const outputsPerFrame = w.outputPositions * w.rows;
  const chunksPerFrame = outputsPerFrame * Math.ceil(dotWidth / f.simd);
  const tree = popcountTreeBits(f.simd);
  const perPe = peUnits(f.simd);
  const scaleBits = w.weightEncoding === 'planes' ? wMax * SCALE_BITS : 0;
  const unitCount: UnitTally = {
    xnorPopcountLane: units * perPe.xnorPopcountLane,
    adderTreeBit: units * perPe.adderTreeBit,
    accumulatorBit: units * perPe.accumulatorBit,
    comparatorBit: units * perPe.comparatorBit,
    sramBit: bitSum + scaleBits + w.rows * tableBitsPerRow,
  };
  const ops: UnitTally = {
    xnorPopcountLane: laneOps,
    adderTreeBit: chunksPerFrame * tree + outputsPerFrame * (combineBits + quantUnitBits),
    accumulatorBit: chunksPerFrame * w.accumulatorBits,
    comparatorBit: outputsPerFrame * comparatorsPerOutput * sumWidth,
    sramBit: w.outputPositions * (bitSum + w.rows * tableBitsPerRow),
  };
  return {
    name: w.name,
    kind: w.kind,
    params,
    weightBitSum: bitSum,
    avgWeightBits: params ? bitSum / params : 0,
    maxWeightBits: wMax,
    weightHistogram: [...w.weightBits],
    activation: { ...w.activation },
    outputPositions: w.outputPositions,
    rows: w.rows,
    cols: w.cols,
    macsPerFrame: w.outputPositions * params,
    laneOpsPerFrame: laneOps,
    pe: f.pe,
    simd: f.simd,
    copies: f.copies,
    cyclesPerFrame: f.cycles,
    accumulatorBits: w.accumulatorBits,
    accumulatorsPerOutput: terms,
    thresholdsPerOutput: comparatorsPerOutput,
    output: { ...w.output },
    ...priced(unitCount, ops, tech),
  };
}

/** Prices a work list in a technology at `clockMhz` (default: the technology's clock). */
export function estimateDesign(works: readonly AsicLayerWork[], tech: AsicTech, clockMhz = tech.clockMhz): DesignEstimate {
  const partial = works.map((w) => estimateLayer(w, tech));
  const cycles = Math.max(...partial.map((l) => l.cyclesPerFrame));
  const fps = (clockMhz * 1e6) / cycles;
  const layers: LayerEstimate[] = partial.map((l) => {
    const dynamicPowerW = l.totalEnergyPerFrameUj * 1e-6 * fps;
    const leakagePowerW = l.totalAreaMm2 * tech.leakageWPerMm2;
    return { ...l, dynamicPowerW, leakagePowerW, powerW: dynamicPowerW + leakagePowerW };
  });
  const areaBreakdownMm2 = zeroTally();
  const energyBreakdownUj = zeroTally();
  for (const l of layers) {
    for (const k of UNIT_KINDS) {
      areaBreakdownMm2[k] += l.areaMm2[k];
      energyBreakdownUj[k] += l.energyPerFrameUj[k];
    }
  }
  const areaMm2 = sum(areaBreakdownMm2);
  const energyPerFrameUj = sum(energyBreakdownUj);
  const dynamicPowerW = energyPerFrameUj * 1e-6 * fps;
  const leakagePowerW = areaMm2 * tech.leakageWPerMm2;
  const planeLayers = layers.filter((_, i) => works[i]!.weightEncoding === 'planes');
  const planeParams = planeLayers.reduce((s, l) => s + l.params, 0);
  const planeActs = layers.filter((l) => l.activation.encoding === 'planes');
  const actLayers = planeActs.length ? planeActs : layers.filter((l) => l.activation.source !== 'network-input');
  const actMacs = actLayers.reduce((s, l) => s + l.macsPerFrame, 0);
  return {
    clockMhz,
    fps,
    cyclesPerFrame: cycles,
    layers,
    areaMm2,
    areaBreakdownMm2,
    dynamicPowerW,
    leakagePowerW,
    powerW: dynamicPowerW + leakagePowerW,
    energyPerFrameUj,
    energyBreakdownUj,
    laneOpsPerFrame: layers.reduce((s, l) => s + l.laneOpsPerFrame, 0),
    macsPerFrame: layers.reduce((s, l) => s + l.macsPerFrame, 0),
    avgWeightBits: planeParams ? planeLayers.reduce((s, l) => s + l.weightBitSum, 0) / planeParams : 0,
    avgActivationBits: actMacs ? actLayers.reduce((s, l) => s + l.activation.avg * l.macsPerFrame, 0) / actMacs : 0,
  };
}
