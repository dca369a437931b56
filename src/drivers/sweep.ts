/**
 * `sweep`: post-training accuracy over a grid of heuristics × average weight bits (the
 * experiment of the paper's Figure 1, without fine-tuning).
 *
 * For every heuristic h and every average b (in that order: heuristics outer, bits
 * ascending inner) it loads a fresh copy of the model, quantizes it with `quantize`
 * (weights only unless `actBits` is given), evaluates top-1 / top-5 on the dataset, and
 * records the average bits actually achieved and the time taken. The float model is
 * evaluated once first (unless `float: false`).
 *
 * Integer averages are homogeneous binarization for every heuristic (DistFromAvg gives a
 * one-hot distribution and the layer-level baseline puts every layer at that width), so
 * the b = 1, 2, ... points of all curves are the same model; the sweep still quantizes and
 * evaluates each of them, and marks them `homogeneous: true`.
 *
 * The result is plain JSON (no typed arrays, no Infinity); `sweepSvg` (svg.ts) plots it.
 * Nothing is written to disk.
 */
import type { Model } from '../ir/graph.js';
import { loadModel } from '../onnx/io.js';
import { loadDataset, resolveNormalization, type Dataset, type DataSource } from '../data/index.js';
import { evaluate } from '../runtime/infer.js';
import { checkAvgBits, HEURISTICS } from '../hbnn/index.js';
import { ACT_MAX_BITS } from '../../passes/insert-activation-binarization.js';
import { fail, ErrorCodes } from '../errors.js';
import { prepareForQuantize, quantize, type QuantizeOptions } from './quantize.js';
import type { Granularity } from '../quant/weights.js';

export const SWEEP_FORMAT = 'hbnn-sweep/1';

/** Weight heuristics a sweep accepts: the bit-map heuristics plus layer-level mixing. */
export const SWEEP_HEURISTICS: readonly string[] = [...HEURISTICS, 'layer'];

export type SweepHeuristic = NonNullable<QuantizeOptions['heuristic']>;

export interface SweepOptions {
  /** Average weight bits to visit, each in [1, maxBits]; sorted ascending and de-duplicated. */
  bits: number[];
  /** Weight heuristics (middle-out, middle-out-residual, top-down, bottom-up, random, layer). */
  heuristics: string[];
  /** Largest weight bitwidth DistFromAvg may use (default 3). */
  maxBits?: number;
  /** Average activation bits; omitted = activations stay float (the paper's Figure 1). */
  actBits?: number;
  /** Activation heuristic (default middle-out). */
  actHeuristic?: QuantizeOptions['actHeuristic'];
  /** Calibration data SPEC for activations (default: quantize's default). */
  calibData?: string;
  calibLimit?: number;
  /** Input normalization ('fmnist', 'MEAN:STD', 'none'; omitted: the model's record): applied to a dataset given as a SPEC and to calibration data. */
  normalize?: string;
  /** Seed of the random heuristic (default 0). */
  seed?: number;
  /** One scale per output channel and bit (default: per tensor, as in the paper). */
  perChannel?: boolean;
  /** Bit map granularity: 'entry' (default) or 'row' (one bitwidth per output channel; not with heuristic 'layer'). */
  granularity?: Granularity;
  firstLayer?: QuantizeOptions['firstLayer'];
  lastLayer?: QuantizeOptions['lastLayer'];
  /**
   * Re-estimate BatchNorm statistics on the calibration data through each quantized network
   * (quantize's `recalibrateBatchNorm`, the recalibrate-batchnorm pass). Default false.
   */
  recalibrateBatchNorm?: boolean;
  /** Evaluate the float model too (default true). */
  float?: boolean;
  /** Evaluate on the first N samples only. */
  limit?: number;
  /** Samples per onnxruntime run (default 256). */
  batchSize?: number;
  /** Verify the IR between passes (default true). */
  verify?: boolean;
  /** Called after each point with its index (0-based) and the number of points. */
  onResult?: (point: SweepPoint, index: number, total: number) => void;
}

export interface SweepPoint {
  heuristic: string;
  /** Requested average weight bits. */
  bits: number;
  /** Achieved average weight bits (parameter-weighted over the binarized layers). */
  avgWeightBits: number;
  /** Requested average activation bits, null when activations stay float. */
  actBits: number | null;
  /** Integer `bits`: homogeneous binarization, the same model for every heuristic. */
  homogeneous: boolean;
  top1: number;
  top5: number;
  samples: number;
  /** Milliseconds to load + quantize, and to evaluate. */
  quantizeMs: number;
  evalMs: number;
  /** The pipeline quantize ran (reproduce with `hbnn-onnx opt`). */
  pipeline: string;
}

export interface SweepResult {
  format: typeof SWEEP_FORMAT;
  /** The model path, or '<function>' when a factory was given. */
  model: string;
  dataset: string;
  samples: number;
  bits: number[];
  heuristics: string[];
  actBits: number | null;
  seed: number;
  /** 'row' when the bit maps were row-granular (absent: per entry). */
  granularity?: 'row';
  /** BatchNormalization nodes in the float model. */
  batchNorms: number;
  /**
   * Whether the quantized models' BatchNorm statistics were re-estimated on the calibration
   * data (recalibrateBatchNorm). When false and batchNorms > 0, they keep the float model's
   * running mean and variance, which no longer match the binarized layers' outputs.
   */
  bnRecalibrated: boolean;
  /** The input normalization applied to the data (text as in --normalize), when known. */
  normalize?: string;
  /** The float model's accuracy (null with `float: false`). */
  float: { top1: number; top5: number; evalMs: number } | null;
  /** One point per heuristic × bits, heuristics outer, bits ascending inner. */
  points: SweepPoint[];
  totalMs: number;
}

type ModelSource = string | (() => Model | Promise<Model>);

/** Runs the grid; see the file comment. INVALID_OPTION for a bad grid, before any work. */
export async function sweep(model: ModelSource, dataset: Dataset | DataSource | string, opts: SweepOptions): Promise<SweepResult> {
  const t0 = performance.now();
  const maxBits = opts.maxBits ?? 3;
  const bits = checkBits(opts.bits, maxBits);
  const heuristics = checkHeuristics(opts.heuristics);
  if (opts.granularity !== undefined && opts.granularity !== 'entry' && opts.granularity !== 'row') {
    fail(ErrorCodes.INVALID_OPTION, `granularity must be entry or row, got ${String(opts.granularity)}`, { option: 'granularity' });
  }
  if (opts.granularity === 'row' && heuristics.includes('layer')) {
    fail(ErrorCodes.INVALID_OPTION, "granularity 'row' needs bit map heuristics; remove 'layer' from the heuristics (it gives each whole layer one bitwidth already)", {
      option: 'granularity',
    });
  }
  if (opts.actBits !== undefined) checkAvgBits(opts.actBits, ACT_MAX_BITS, { avg: 'actBits', max: 'the activations\' maximum' });
  const seed = opts.seed ?? 0;
  const fresh = async (): Promise<Model> => (typeof model === 'string' ? loadModel(model) : await model());
  const first = await fresh();
  const ds =
    typeof dataset === 'string'
      ? loadDataset(dataset, ((n) => (n ? { normalize: n } : {}))(resolveNormalization(first, opts.normalize, 'the model', 'normalize', dataset).normalize))
      : dataset;
  const evalOpts = { ...(opts.limit !== undefined ? { limit: opts.limit } : {}), ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}) };

  let float: SweepResult['float'] = null;
  let samples = Math.min(ds.count, opts.limit ?? ds.count);
  const batchNorms = first.graph.nodes.filter((n) => n.isOnnx('BatchNormalization')).length;
  if (opts.float ?? true) {
    // The reference is the model as quantize sees it: prepared (IR 3 initializers, old
    // opsets, QONNX quantizers imported; docs/import.md), not yet binarized.
    const base = first;
    await prepareForQuantize(base, opts.verify !== undefined ? { verify: opts.verify } : {});
    const ev = await evaluate(base, ds, evalOpts);
    float = { top1: ev.top1, top5: ev.top5, evalMs: ev.ms };
    samples = ev.samples;
  }

  const points: SweepPoint[] = [];
  const total = heuristics.length * bits.length;
  for (const heuristic of heuristics) {
    for (const b of bits) {
      const q0 = performance.now();
      const m = await fresh();
      const res = await quantize(m, {
        avgBits: b,
        maxBits,
        heuristic: heuristic as SweepHeuristic,
        seed,
        ...(opts.perChannel !== undefined ? { perChannel: opts.perChannel } : {}),
        ...(opts.granularity !== undefined ? { granularity: opts.granularity } : {}),
        ...(opts.firstLayer ? { firstLayer: opts.firstLayer } : {}),
        ...(opts.lastLayer ? { lastLayer: opts.lastLayer } : {}),
        ...(opts.actBits !== undefined ? { actBits: opts.actBits, ...(opts.actHeuristic ? { actHeuristic: opts.actHeuristic } : {}) } : {}),
        ...(opts.recalibrateBatchNorm ? { recalibrateBatchNorm: true } : {}),
        ...(opts.actBits !== undefined || opts.recalibrateBatchNorm
          ? {
              ...(opts.calibData ? { calibData: opts.calibData } : {}),
              ...(opts.calibLimit !== undefined ? { calibLimit: opts.calibLimit } : {}),
              ...(opts.normalize ? { normalize: opts.normalize } : {}),
            }
          : {}),
        ...(opts.verify !== undefined ? { verify: opts.verify } : {}),
      });
      const quantizeMs = performance.now() - q0;
      const ev = await evaluate(m, ds, evalOpts);
      samples = ev.samples;
      const point: SweepPoint = {
        heuristic,
        bits: b,
        avgWeightBits: res.record.avgWeightBits,
        actBits: opts.actBits ?? null,
        homogeneous: Number.isInteger(b),
        top1: ev.top1,
        top5: ev.top5,
        samples: ev.samples,
        quantizeMs: round3(quantizeMs),
        evalMs: round3(ev.ms),
        pipeline: res.pipeline,
      };
      points.push(point);
      opts.onResult?.(point, points.length - 1, total);
    }
  }
  return {
    format: SWEEP_FORMAT,
    model: typeof model === 'string' ? model : '<function>',
    dataset: ds.name,
    samples,
    bits,
    heuristics,
    actBits: opts.actBits ?? null,
    seed,
    ...(opts.granularity === 'row' ? { granularity: 'row' as const } : {}),
    batchNorms,
    bnRecalibrated: opts.recalibrateBatchNorm === true,
    float: float && { ...float, evalMs: round3(float.evalMs) },
    points,
    totalMs: round3(performance.now() - t0),
  };
}

/** The points of one heuristic, bits ascending. */
export function sweepSeries(result: SweepResult, heuristic: string): SweepPoint[] {
  return result.points.filter((p) => p.heuristic === heuristic).sort((a, b) => a.bits - b.bits);
}

function checkBits(bits: unknown, maxBits: number): number[] {
  if (!Array.isArray(bits) || bits.length === 0) fail(ErrorCodes.INVALID_OPTION, 'sweep needs at least one average bitwidth (bits)', { option: 'bits' });
  for (const b of bits) checkAvgBits(b as number, maxBits, { avg: 'bits', max: 'maxBits' });
  return [...new Set(bits as number[])].sort((a, b) => a - b);
}

function checkHeuristics(hs: unknown): string[] {
  if (!Array.isArray(hs) || hs.length === 0) fail(ErrorCodes.INVALID_OPTION, 'sweep needs at least one heuristic', { option: 'heuristics' });
  for (const h of hs) {
    if (typeof h !== 'string' || !SWEEP_HEURISTICS.includes(h)) {
      fail(ErrorCodes.INVALID_OPTION, `unknown heuristic ${String(h)}; known: ${SWEEP_HEURISTICS.join(', ')}`, { option: 'heuristics' });
    }
  }
  return [...new Set(hs as string[])];
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
