/**
 * recalibrate-batchnorm: re-estimate the running statistics of every BatchNormalization
 * downstream of binarization from calibration data flowing through the quantized network.
 *
 * Why: binarization changes the distribution of a layer's output (residual binarization
 * with mean-|E| scales shrinks the weights, ‖Ŵ‖/‖W‖ ≈ 0.8–0.9 at 1–3 bits), while each
 * BatchNormalization still normalizes with the float model's running mean and variance, so
 * its output is mis-centred and mis-scaled, layer after layer. Re-estimating the statistics
 * (no gradients, no labels) gives every BatchNorm a standardized input again, as in training.
 *
 * Rules, for the nodes of the main graph in graph order (so each one sees everything
 * before it already updated, as at inference):
 * 1. A BatchNormalization is re-estimated when its input depends, through any path, on a
 *    `BinarizedWeight` or `BinarizeActivation` call. Others keep the float model's
 *    statistics (statistic `skipped-not-downstream`).
 * 2. It must be in inference form (one output, not `training_mode`, per-channel statistics:
 *    `spatial` = 1 before opset 9) and its mean and variance must be float32 initializers
 *    of the same size; otherwise it stays as it is (statistic `skipped-<reason>`).
 * 3. The model runs on the calibration data with onnxruntime and the BatchNorm's input x
 *    ([N, C, ...]) is collected: mean[c] = the average of x over N and every axis after C;
 *    var[c] = the population (biased) variance over the same entries,
 *    (1/n) Σ (x − mean[c])². That is the variance inference divides by; PyTorch's
 *    running_var averages unbiased batch variances (factor n/(n−1)), which differs by less
 *    than 0.1% here (n = samples × spatial positions, at least `limit`). Sums are in float64
 *    (two passes per batch, batches merged with Chan's formula) and rounded once to
 *    float32, so the result is deterministic.
 * 4. The mean and variance initializers are replaced in place when this BatchNorm is their
 *    only user; when they are shared (another node, a graph input or output), the
 *    BatchNorm gets new initializers `<name>_recalibrated`, leaving the originals to their
 *    other users. Scale (gamma), bias (beta) and epsilon are kept.
 * 5. An activation binarizer (`BinarizeActivation`) whose input depends on a re-estimated
 *    BatchNorm was calibrated on that BatchNorm's old output: it is re-calibrated in place
 *    with the `calibrate` pass's rules on the same data, before any node after it is
 *    looked at. The result is then what calibrating and re-estimating layer by layer
 *    would give: running `calibrate` or this pass again with the same data changes nothing.
 *    Binarizers must have been calibrated before (NOT_QUANTIZED otherwise: run
 *    `calibrate` first), since their constants decide what the BatchNorms after them see.
 *
 * In `quantize` it runs after `insert-weight-binarization` (weights only), or after
 * `calibrate` (activations binarized too); see docs/passes.md for the measurements behind
 * that order.
 */
import { definePass } from '../src/pass/pass.js';
import type { Graph, Model, Node, Value } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { DataType } from '../src/ir/dtype.js';
import { isActivationCall, isWeightCall, readQuantRecord, writeQuantRecord } from '../src/quant/format.js';
import { NORMALIZE_FROM_MODEL, type Dataset, type DataSource } from '../src/data/index.js';
import { collectValue, forEachBatch, withOutput } from '../src/runtime/infer.js';
import { fail, ErrorCodes } from '../src/errors.js';
import { calibrateOne, calibrationData, calibrationDataOptions, checkCalibrationData } from './calibrate.js';

export const recalibrateBatchnorm = definePass({
  name: 'recalibrate-batchnorm',
  summary: 'Re-estimate BatchNormalization mean and variance from calibration data through the quantized network',
  description:
    'For each BatchNormalization downstream of binarization, in graph order, replaces its running mean and variance by the per-channel mean and population variance of its input on the calibration data, and re-calibrates the activation binarizers after it.',
  options: calibrationDataOptions(1024),
  requires: ['weights-binarized'],
  preserves: [
    'topologically-sorted',
    'shapes-inferred',
    'no-identity',
    'no-dead-code',
    'constants-folded',
    'batchnorm-folded',
    'weights-binarized',
    'activations-binarized',
    'calibrated',
    'bit-ir-lowerable',
  ],
  validate: (o, model, shared) => checkCalibrationData(model, o, shared),
  async run(model, ctx, o) {
    const g = model.graph;
    const opset = model.opsetVersion('') ?? 21;
    const record = readQuantRecord(model);
    const binarizers = g.nodes.filter(isActivationCall);
    for (const call of binarizers) {
      const rec = record?.activations.find((a) => a.node === call.name);
      if (!rec) fail(ErrorCodes.NOT_QUANTIZED, `binarizer ${call.name} has no record in hbnn.quantization`, { node: call.name });
      if (!rec.calibrated) fail(ErrorCodes.NOT_QUANTIZED, `binarizer ${call.name} is not calibrated: run calibrate before recalibrate-batchnorm`, { node: call.name });
    }
    // Plan: which BatchNorms are re-estimated (rules 1-2) and which binarizers follow one (rule 5).
    const binarized = new Set<Value>();
    const afterBn = new Set<Value>();
    const steps: { node: Node; kind: 'bn' | 'act' }[] = [];
    for (const n of g.nodes) {
      const x = n.inputs[0];
      if (n.isOnnx('BatchNormalization')) {
        const why = !x || !binarized.has(x) ? 'not-downstream' : unsupported(n, opset);
        if (why) {
          ctx.stat(`skipped-${why}`);
          if (why !== 'not-downstream') ctx.note(`${n.label}: left as it is (${why})`);
        } else {
          steps.push({ node: n, kind: 'bn' });
          for (const v of n.outputs) afterBn.add(v);
        }
      } else if (isActivationCall(n) && x && afterBn.has(x)) {
        steps.push({ node: n, kind: 'act' });
      }
      if (isWeightCall(n) || isActivationCall(n) || n.inputs.some((v) => v !== null && binarized.has(v))) for (const v of n.outputs) binarized.add(v);
      if (n.inputs.some((v) => v !== null && afterBn.has(v))) for (const v of n.outputs) afterBn.add(v);
    }
    if (!steps.some((s) => s.kind === 'bn')) return { changed: false };
    const ds = calibrationData(model, o, ctx.shared);
    const batchSize = o['batch-size'];
    for (const { node, kind } of steps) {
      if (kind === 'act') {
        const rec = record!.activations.find((a) => a.node === node.name)!;
        calibrateOne(node, rec, await collectValue(model, node.inputs[0]!, ds, batchSize));
        ctx.stat('recalibrated-binarizers');
        ctx.note(`${node.name}: re-calibrated, scales=[${rec.scales.map((s) => s.toPrecision(4))}] observed=[${rec.observed!.map((f) => f.toFixed(3))}]`);
        continue;
      }
      const bn = node;
      const channels = bn.inputs[3]!.constValue!.size;
      const { mean, variance, count } = await channelStats(model, bn.inputs[0]!, channels, ds, batchSize);
      const oldMean = bn.inputs[3]!.constValue!.toFloat32();
      const oldVar = bn.inputs[4]!.constValue!.toFloat32();
      setParam(g, bn, 3, Float32Array.from(mean));
      setParam(g, bn, 4, Float32Array.from(variance));
      ctx.stat('recalibrated');
      ctx.note(`${bn.label}: ${channels} channels over ${count} entries each; ${summary(oldMean, oldVar, mean, variance)}`);
    }
    if (record && steps.some((s) => s.kind === 'act')) writeQuantRecord(model, record);
    return { changed: true };
  },
});

/** Why `bn` cannot be re-estimated (a statistic suffix), or undefined when it can. */
function unsupported(bn: Node, opset: number): string | undefined {
  if (bn.outputs.filter((v) => v.name !== '').length !== 1) return 'training-outputs';
  if (bn.attrInt('training_mode', 0) !== 0) return 'training-mode';
  if (opset < 9 && bn.attrInt('spatial', 1) !== 1) return 'not-spatial';
  const [mean, variance] = [bn.inputs[3], bn.inputs[4]];
  const isF32 = (v: Value | null | undefined): boolean => !!v?.constValue && v.constValue.dtype === DataType.FLOAT;
  if (!isF32(mean) || !isF32(variance)) return 'non-constant-params';
  if (mean!.constValue!.size !== variance!.constValue!.size) return 'param-sizes';
  return undefined;
}

/**
 * Per-channel mean and population variance of `v` (layout [N, C, ...]) over the dataset:
 * each batch is reduced in float64 (mean, then squared deviations from it), and batches
 * are merged with Chan et al.'s parallel formula.
 */
async function channelStats(
  model: Model,
  v: Value,
  channels: number,
  ds: Dataset | DataSource,
  batchSize: number,
): Promise<{ mean: Float64Array; variance: Float64Array; count: number }> {
  const mean = new Float64Array(channels);
  const m2 = new Float64Array(channels);
  let count = 0;
  await withOutput(model, v, () =>
    forEachBatch(model, ds, [v.name], { batchSize }, (_start, n, out, dims) => {
      const d = dims[v.name]!;
      if (d.length < 2 || d[1] !== channels) {
        fail(ErrorCodes.DATA_MISMATCH, `BatchNormalization input "${v.name}" has shape [${d.join(',')}], expected [N, ${channels}, ...]`, { value: v.name });
      }
      const inner = d.slice(2).reduce((a, b) => a * b, 1);
      const x = out[v.name]!;
      const nb = n * inner;
      if (nb === 0) return;
      for (let c = 0; c < channels; c++) {
        let s = 0;
        for (let i = 0; i < n; i++) {
          const base = (i * channels + c) * inner;
          for (let j = 0; j < inner; j++) s += x[base + j]!;
        }
        const mb = s / nb;
        let q = 0;
        for (let i = 0; i < n; i++) {
          const base = (i * channels + c) * inner;
          for (let j = 0; j < inner; j++) {
            const e = x[base + j]! - mb;
            q += e * e;
          }
        }
        const total = count + nb;
        const delta = mb - mean[c]!;
        mean[c] = mean[c]! + (delta * nb) / total;
        m2[c] = m2[c]! + q + (delta * delta * count * nb) / total;
      }
      count += nb;
    }),
  );
  if (count === 0) fail(ErrorCodes.DATA_MISMATCH, `no calibration samples reached BatchNormalization input "${v.name}"`, { value: v.name });
  const variance = m2.map((s) => s / count);
  return { mean, variance, count };
}

/** Sets input `index` of `bn` to `data`: in place when `bn` is the only user, else a new initializer. */
function setParam(g: Graph, bn: Node, index: number, data: Float32Array): void {
  const v = bn.inputs[index]!;
  const dims = v.constValue!.dims;
  const only = !v.isGraphInput && !v.isGraphOutput && v.uses.length === 1 && v.uses[0]!.node === bn;
  if (only) {
    g.replaceInitializer(v, Tensor.fromFloat32(v.name, dims, data));
    return;
  }
  bn.setInput(index, g.addInitializer(Tensor.fromFloat32('', dims, data), g.uniqueName(`${v.name}_recalibrated`)));
}

/** How far the statistics moved: mean |Δmean| and the range of new/old std ratios. */
function summary(oldMean: Float32Array, oldVar: Float32Array, mean: Float64Array, variance: Float64Array): string {
  let dm = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let c = 0; c < mean.length; c++) {
    dm += Math.abs(mean[c]! - oldMean[c]!);
    const r = Math.sqrt(variance[c]! / Math.max(oldVar[c]!, 1e-30));
    lo = Math.min(lo, r);
    hi = Math.max(hi, r);
  }
  return `mean |Δmean| ${(dm / mean.length).toPrecision(3)}, new/old std ${lo.toPrecision(3)}..${hi.toPrecision(3)}`;
}
