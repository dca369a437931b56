/**
 * calibrate: set the constants of every activation binarizer from calibration data.
 *
 * Rules, for each `ai.hbnn::BinarizeActivation` node in graph order (earlier binarizers are
 * calibrated first, so later ones see binarized inputs, as at inference):
 * 1. Run the model on the calibration data and collect the binarizer's input x.
 * 2. center = mean |x| for Middle-Out, 0 for Bottom-Up and Top-Down; sign = -1 for
 *    Top-Down, +1 otherwise; k = sign * | |x| - center |.
 * 3. Bands: t1 = the p1-quantile of k, t2 = the (p1 + p2)-quantile, so that on the
 *    calibration data the fractions of entries at 1, 2, 3 bits are the target p1, p2, p3
 *    (ties at a threshold go to more bits). Homogeneous distributions use +/-3e38.
 *    A band edge keeps clear of mass points: a value of k shared by at least
 *    MASS_POINT_FRACTION of the entries (e.g. the constant background of Fashion-MNIST gives
 *    thousands of entries one value per channel, in every image) that lies within
 *    EDGE_CLEARANCE * mean|x| of t moves t to that distance, on the side that keeps the mass
 *    point in the band the quantile gave it. Without this the quantile lands on the mass
 *    point, the edge equals a value the data takes exactly, and any rounding (float32 in
 *    onnxruntime, fixed point in the bit-level IR) sends every such entry to either band at
 *    once (docs/bit-ir.md §7).
 * 4. Scales: heterogeneous residual binarization of all collected x with that bit map gives
 *    mu_1..mu_3 (per tensor), which become the binarizer's fixed scales.
 * 5. The record in `hbnn.quantization` gets the constants, `calibrated: true` and the
 *    observed fractions.
 */
import { definePass, type OptionSpec } from '../src/pass/pass.js';
import { checkFitsModelInput, openDataSourceSync, type DataSource } from '../src/data/index.js';
import { dataInput } from '../src/runtime/infer.js';
import { fail, ErrorCodes } from '../src/errors.js';
import { heteroBinarize } from '../src/hbnn/index.js';
import { Tensor } from '../src/ir/tensor.js';
import type { Model, Node, Value } from '../src/ir/graph.js';
import { isActivationCall, readQuantRecord, writeQuantRecord, type ActivationRecord } from '../src/quant/format.js';
import { resolveNormalization, NORMALIZE_FROM_MODEL } from '../src/data/index.js';
import { collectValue } from '../src/runtime/infer.js';
import { BIG } from './insert-activation-binarization.js';

/** The calibration-data options of `calibrate` and `recalibrate-batchnorm` (`limit`'s default differs). */
export function calibrationDataOptions(limit: number) {
  return [
    { name: 'data', type: 'string', doc: 'calibration data SPEC (see docs/data.md)', default: 'fmnist-mini:train' },
    { name: 'limit', type: 'integer', doc: 'number of calibration samples', default: limit, min: 1 },
    { name: 'normalize', type: 'string', doc: "input normalization: 'model' (the model's hbnn.input_normalization record; none without one), 'fmnist', MEAN:STD, or none", default: NORMALIZE_FROM_MODEL },
    { name: 'batch-size', type: 'integer', doc: 'samples per onnxruntime run', default: 256, min: 1 },
  ] as const satisfies readonly OptionSpec[];
}

/** The calibration-data options as a pass receives them. */
export interface CalibrationDataOptions {
  readonly data: string;
  readonly limit: number;
  readonly normalize: string;
}

/**
 * The calibration data of `calibrate` / `recalibrate-batchnorm`: opened once per pipeline run
 * (kept in `shared` under its spec, limit and normalization) and reused by every pass that
 * asks for the same. Image folders and CIFAR binaries are streamed (openDataSource: each
 * walk over the samples decodes them batch by batch on worker threads, a few batches ahead,
 * so only the collected activations are held); other SPECs are loaded into memory once.
 */
export function calibrationData(model: Model, o: CalibrationDataOptions, shared?: Map<string, unknown>): DataSource {
  const norm = resolveNormalization(model, o.normalize, 'the model', 'normalize', o.data);
  const key = `calibration-data:${JSON.stringify([o.data.trim(), o.limit, norm.normalize ?? null])}`;
  const hit = shared?.get(key) as DataSource | undefined;
  if (hit) return hit;
  const ds = openDataSourceSync(o.data, { limit: o.limit, ...(norm.normalize ? { normalize: norm.normalize } : {}) });
  shared?.set(key, ds);
  return ds;
}

/**
 * The one check of calibration data (the validate hook of calibrate and recalibrate-batchnorm):
 * it loads (DATA_* / INVALID_OPTION errors) and fits the model's input (DATA_MISMATCH).
 */
export function checkCalibrationData(model: Model, o: CalibrationDataOptions, shared?: Map<string, unknown>): void {
  const ds = calibrationData(model, o, shared);
  const input = dataInput(model);
  checkFitsModelInput(ds, (input.dims ?? []).map((d) => d ?? undefined), { inputName: input.name });
}

export const calibrate = definePass({
  name: 'calibrate',
  summary: 'Set activation binarizer scales and bit bands from calibration data',
  options: calibrationDataOptions(512),
  requires: ['activations-binarized'],
  establishes: ['calibrated'],
  preserves: 'all',
  validate: (o, model, shared) => checkCalibrationData(model, o, shared),
  async run(model, ctx, o) {
    const ds = calibrationData(model, o, ctx.shared);
    const record = readQuantRecord(model);
    if (!record) fail(ErrorCodes.NOT_QUANTIZED, 'the model has no hbnn.quantization record; run insert-activation-binarization first');
    const calls = model.graph.nodes.filter(isActivationCall);
    if (calls.length === 0) return { changed: false };
    for (const call of calls) {
      const rec = record.activations.find((a) => a.node === call.name);
      if (!rec) fail(ErrorCodes.NOT_QUANTIZED, `binarizer ${call.name} has no record in hbnn.quantization`);
      const x = await collectValue(model, call.inputs[0]!, ds, o['batch-size']);
      calibrateOne(call, rec, x);
      ctx.stat('calibrated-binarizers');
      ctx.note(`${call.name}: center=${rec.center.toPrecision(4)} t=[${rec.thresholds.map((t) => t.toPrecision(4))}] scales=[${rec.scales.map((s) => s.toPrecision(4))}] observed=[${rec.observed!.map((f) => f.toFixed(3))}]`);
    }
    const d = record.activations[0]?.distribution;
    if (d) record.avgActivationBits = d[0]! + 2 * d[1]! + 3 * d[2]!;
    writeQuantRecord(model, record);
    return { changed: true };
  },
});

/** Computes and installs the constants of one binarizer from samples `x` of its input. */
export function calibrateOne(call: Node, rec: ActivationRecord, x: Float32Array): void {
  const [p1, p2] = rec.distribution as [number, number, number];
  const center = rec.heuristic === 'middle-out' ? meanAbs(x) : 0;
  const sign = rec.heuristic === 'top-down' ? -1 : 1;
  const n = x.length;
  const k = new Float32Array(n);
  for (let i = 0; i < n; i++) k[i] = sign * Math.abs(Math.abs(x[i]!) - center);
  const sorted = k.slice().sort();
  const quantile = (p: number): number => {
    if (p <= 0) return -BIG;
    if (p >= 1) return BIG;
    return sorted[Math.min(n - 1, Math.round(p * n))]!;
  };
  const clearance = EDGE_CLEARANCE * meanAbs(x);
  const t1 = clearOfMassPoints(quantile(p1), sorted, clearance);
  const t2 = Math.max(t1, clearOfMassPoints(quantile(p1 + p2), sorted, clearance));
  const bitMap = new Uint8Array(n);
  const seen = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const m = 1 + (k[i]! >= t1 ? 1 : 0) + (k[i]! >= t2 ? 1 : 0);
    bitMap[i] = m;
    seen[m - 1]++;
  }
  const bin = heteroBinarize(x, bitMap, { name: rec.input });
  const scales = [0, 1, 2].map((i) => (i < bin.nBits ? bin.scales[i]! : 0));
  const g = call.graph;
  const set = (idx: number, dims: number[], data: number[]): void => {
    const v = call.inputs[idx]!;
    g.replaceInitializer(v, Tensor.fromFloat32(v.name, dims, Float32Array.from(data)));
  };
  set(1, [3], scales);
  set(2, [], [center]);
  set(3, [], [sign]);
  set(4, [], [t1]);
  set(5, [], [t2]);
  rec.scales = scales.map((s) => Math.fround(s));
  rec.center = Math.fround(center);
  rec.sign = sign;
  rec.thresholds = [Math.fround(t1), Math.fround(t2)];
  rec.observed = seen.map((c) => c / n);
  rec.calibrated = true;
}

/** A value of k held by at least this fraction of the calibration entries is a mass point. */
export const MASS_POINT_FRACTION = 1e-3;
/** The least distance of a band edge from a mass point, relative to mean |x|. */
export const EDGE_CLEARANCE = 2 ** -11;

/**
 * Moves threshold t (on sorted samples k) at least `clearance` away from every mass point:
 * down when the nearest mass point within reach is at or above t (it keeps more bits), up
 * otherwise, repeating while the move reaches another one. t is returned unchanged when no
 * mass point is within reach (and for the +/-BIG of homogeneous distributions).
 */
export function clearOfMassPoints(t: number, sorted: Float32Array, clearance: number): number {
  if (Math.abs(t) >= BIG || !(clearance > 0)) return t;
  const n = sorted.length;
  const minRun = Math.max(2, Math.ceil(MASS_POINT_FRACTION * n));
  const lowerBound = (v: number): number => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  /** Mass points in [a, b], ascending. */
  const massIn = (a: number, b: number): number[] => {
    const out: number[] = [];
    for (let i = lowerBound(a); i < n && sorted[i]! <= b; ) {
      const v = sorted[i]!;
      let j = i;
      while (j < n && sorted[j] === v) j++;
      if (j - i >= minRun) out.push(v);
      i = j;
    }
    return out;
  };
  const near = massIn(t - clearance, t + clearance);
  if (near.length === 0) return t;
  const first = near.reduce((m, v) => (Math.abs(v - t) < Math.abs(m - t) ? v : m));
  const down = first >= t;
  const inner = clearance * (1 - 2 ** -16); // float32 rounding of t may land a hair inside
  for (let guard = 0; guard < 64; guard++) {
    const reach = massIn(t - inner, t + inner);
    if (reach.length === 0) break;
    t = down ? Math.min(t, reach[0]! - clearance) : Math.max(t, reach[reach.length - 1]! + clearance);
    t = Math.fround(t);
  }
  return t;
}

function meanAbs(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]!);
  return x.length ? s / x.length : 0;
}
