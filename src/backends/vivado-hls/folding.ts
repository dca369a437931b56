/**
 * Folding: how many output rows (PE) and input lanes (SIMD) each matrix-vector unit
 * computes per cycle (FINN's folding factors).
 *
 * - An explicit folding names layers (the ONNX node of the conv/Gemm/MatMul) with their PE and
 *   SIMD; PE must divide the unit's rows MH and SIMD its columns MW (docs: "Folding").
 * - Layers it does not name are solved for `targetFps` at `clockMhz` (FINN-style balancing):
 *   cycles per sample = (MH/PE)·(MW/SIMD)·reps must be at most clock/targetFps; among the
 *   divisor pairs that meet it, the one with the fewest estimated LUTs of the unit and of the
 *   sliding-window stage that feeds a convolution (its beat is the SIMD) wins (then the fewest
 *   lanes, then the smaller PE). When no pair meets it, the fastest pair is taken and the
 *   estimate says the target is not reached. A unit whose rows will be grouped (grouping.ts)
 *   is costed with its rows grouped for each PE. A vector-vector unit (grouped or depthwise
 *   convolution) folds the same way: PE over its output channels, SIMD over the columns of
 *   one group (C_in/groups·kh·kw), and its window's beat is PE·SIMD.
 */
import { fail, ErrorCodes } from '../../errors.js';
import { stageEstimate, unitCost } from './estimate.js';
import { groupedWeight } from './grouping.js';
import type { FoldingSpec, HlsStage, LayerFolding, UnitStage, WindowStage } from './types.js';

export const FOLDING_FORMAT = 'hbnn-folding/1';
/** Throughput the folding is solved for when neither a target nor a folding is given. */
export const DEFAULT_TARGET_FPS = 1000;

export function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d * d <= n; d++) {
    if (n % d === 0) {
      out.push(d);
      if (d * d !== n) out.push(n / d);
    }
  }
  return out.sort((a, b) => a - b);
}

/** Reads a folding from parsed JSON: `{ layers: { NAME: { pe, simd } } }` or `{ layers: [{ layer, pe, simd }] }`. */
export function parseFolding(json: unknown): FoldingSpec {
  const bad = (why: string): never => fail(ErrorCodes.INVALID_OPTION, `folding: ${why}`, { option: 'folding' });
  if (typeof json !== 'object' || json === null) return bad('expected an object with a "layers" field');
  const layers = (json as { layers?: unknown }).layers;
  const out: Record<string, LayerFolding> = {};
  const entry = (name: string, v: unknown): void => {
    if (typeof v !== 'object' || v === null) bad(`layer "${name}": expected { "pe": N, "simd": N }`);
    const { pe, simd } = v as { pe?: unknown; simd?: unknown };
    for (const [k, x] of [
      ['pe', pe],
      ['simd', simd],
    ] as const) {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) bad(`layer "${name}": ${k} must be a positive integer (got ${JSON.stringify(x)})`);
    }
    if (name in out) bad(`layer "${name}" is listed twice`);
    out[name] = { pe: pe as number, simd: simd as number };
  };
  if (Array.isArray(layers)) {
    for (const v of layers) {
      const name = (v as { layer?: unknown } | null)?.layer;
      if (typeof name !== 'string') return bad('every entry of "layers" needs a "layer" name');
      entry(name, v);
    }
  } else if (typeof layers === 'object' && layers !== null) {
    for (const [name, v] of Object.entries(layers)) entry(name, v);
  } else {
    bad('expected an object with a "layers" field');
  }
  return { layers: out };
}

/** Checks an explicit folding against the design's units: known names, PE | MH, SIMD | MW. */
export function checkFolding(spec: FoldingSpec, units: readonly Pick<UnitStage, 'layer' | 'mh' | 'mw'>[]): void {
  const byName = new Map(units.map((u) => [u.layer, u]));
  for (const [name, f] of Object.entries(spec.layers)) {
    const u = byName.get(name);
    if (!u) {
      fail(ErrorCodes.INVALID_OPTION, `folding names layer "${name}", which is not a matrix-vector unit of this model (units: ${[...byName.keys()].join(', ')})`, {
        option: 'folding',
        layer: name,
      });
    }
    if (!Number.isInteger(f.pe) || f.pe < 1 || u.mh % f.pe !== 0) {
      fail(ErrorCodes.INVALID_OPTION, `folding of layer "${name}": PE ${f.pe} does not divide its ${u.mh} output rows (MH); divisors: ${divisors(u.mh).join(', ')}`, {
        option: 'folding',
        layer: name,
      });
    }
    if (!Number.isInteger(f.simd) || f.simd < 1 || u.mw % f.simd !== 0) {
      fail(ErrorCodes.INVALID_OPTION, `folding of layer "${name}": SIMD ${f.simd} does not divide its ${u.mw} input columns (MW); divisors: ${divisors(u.mw).join(', ')}`, {
        option: 'folding',
        layer: name,
      });
    }
  }
}

/**
 * The cheapest (PE, SIMD) for `unit` whose cycles per sample are at most `maxCycles`
 * (the fastest pair when none is).
 */
export function solveUnit(unit: UnitStage, maxCycles: number, window?: WindowStage, grouped = false): LayerFolding {
  // The window's beat: SIMD entries, or PE·SIMD for the grouped window of a vector-vector unit.
  const windowLuts = new Map<number, number>();
  const windowCost = (pe: number, simd: number): number => {
    if (!window) return 0;
    const g = window.grouped;
    const beat = g ? pe * simd : simd;
    let v = windowLuts.get(beat);
    if (v === undefined) windowLuts.set(beat, (v = stageEstimate({ ...window, out: { ...window.out, beat }, ...(g ? { grouped: { ...g, pe, simd } } : {}) }).luts));
    return v;
  };
  // Candidates that meet the target, ranked by a lower bound of their LUTs (no weight scan);
  // exact costs are computed in that order until the bound exceeds the best exact cost, so the
  // choice is the exhaustive search's at a fraction of its cost on large layers.
  let fastest: { f: LayerFolding; cycles: number; lanes: number } | undefined;
  const candidates: { f: LayerFolding; bound: number; lanes: number }[] = [];
  for (const pe of divisors(unit.mh)) {
    for (const simd of divisors(unit.mw)) {
      const cycles = unit.reps * (unit.mh / pe) * (unit.mw / simd);
      const lanes = pe * simd;
      if (!fastest || cycles < fastest.cycles || (cycles === fastest.cycles && lanes < fastest.lanes)) fastest = { f: { pe, simd }, cycles, lanes };
      if (cycles > maxCycles) continue;
      candidates.push({ f: { pe, simd }, bound: unitCost({ ...unit, pe, simd }, { lowerBound: true }).luts + windowCost(pe, simd), lanes });
    }
  }
  candidates.sort((a, b) => a.bound - b.bound);
  let best: { f: LayerFolding; luts: number; lanes: number } | undefined;
  for (const c of candidates) {
    if (best && c.bound > best.luts) break;
    const { pe, simd } = c.f;
    const luts = unitCost({ ...unit, pe, simd, ...(grouped ? { weight: groupedWeight(unit.weight, pe) } : {}) }).luts + windowCost(pe, simd);
    if (!best || luts < best.luts || (luts === best.luts && (c.lanes < best.lanes || (c.lanes === best.lanes && pe < best.f.pe)))) best = { f: c.f, luts, lanes: c.lanes };
  }
  return (best ?? fastest)!.f;
}

/** Cycles per sample a stage may take at `clockMhz` for `targetFps` (default DEFAULT_TARGET_FPS). */
export function cycleBudget(clockMhz: number, targetFps = DEFAULT_TARGET_FPS): number {
  return Math.floor((clockMhz * 1e6) / targetFps);
}

/** The folding of every unit: explicit entries as given, the others solved for the target. */
export function resolveFolding(
  units: readonly UnitStage[],
  o: { folding?: FoldingSpec; targetFps?: number; clockMhz: number; stages?: readonly HlsStage[]; grouped?: (u: UnitStage) => boolean },
): FoldingSpec {
  if (o.targetFps !== undefined && !(o.targetFps > 0 && Number.isFinite(o.targetFps))) {
    fail(ErrorCodes.INVALID_OPTION, `target FPS must be a positive number (got ${o.targetFps})`, { option: 'targetFps' });
  }
  if (o.folding) checkFolding(o.folding, units);
  const maxCycles = cycleBudget(o.clockMhz, o.targetFps);
  const layers: Record<string, LayerFolding> = {};
  const windowOf = (u: UnitStage): WindowStage | undefined => o.stages?.find((s): s is WindowStage => s.kind === 'window' && s.out === u.in);
  for (const u of units) layers[u.layer] = o.folding?.layers[u.layer] ?? solveUnit(u, maxCycles, windowOf(u), o.grouped?.(u) ?? false);
  return { layers };
}

/** folding.json: the folding with each unit's geometry and cycles, readable by `parseFolding`. */
export function foldingJson(units: readonly UnitStage[], o: { clockMhz: number; targetFps?: number }): string {
  const layers: Record<string, unknown> = {};
  for (const u of units) {
    layers[u.layer] = {
      pe: u.pe,
      simd: u.simd,
      mh: u.mh,
      mw: u.mw,
      reps: u.reps,
      cycles: u.reps * (u.mh / u.pe) * (u.mw / u.simd),
      ...(u.rowOrder ? { rowOrder: Array.from(u.rowOrder) } : {}),
    };
  }
  return `${JSON.stringify({ format: FOLDING_FORMAT, clockMhz: o.clockMhz, ...(o.targetFps !== undefined ? { targetFps: o.targetFps } : {}), layers }, null, 2)}\n`;
}
