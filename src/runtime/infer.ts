/**
 * Batched inference over datasets with onnxruntime-node: evaluation (top-1, top-5,
 * per-class accuracy) and collection of intermediate values (calibration).
 */
import type { Model, Value } from '../ir/graph.js';
import { tensorTypeOf } from '../ir/types.js';
import { createSession, runSession, float32Tensor, type SessionOptions } from './ort.js';
import { checkFitsModelInput, checkLabelRange, dataSourceOf, isDataSource, type Dataset, type DataSource } from '../data/index.js';
import { fail, ErrorCodes } from '../errors.js';

export interface EvalOptions extends SessionOptions {
  batchSize?: number;
  limit?: number;
  /** Output to score (default: the model's first output). */
  output?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalResult {
  samples: number;
  top1: number;
  top5: number;
  perClass: { cls: number; samples: number; accuracy: number }[];
  /** Predicted class per sample (argmax, ties to the lower index). */
  predictions: Int32Array;
  ms: number;
}

/** The model's single data input (graph inputs that are not initializers). */
export function dataInput(model: Model): { name: string; dims: (number | string | null)[] | undefined } {
  const ins = model.graph.inputs.filter((v) => !v.isInitializer);
  if (ins.length !== 1) {
    fail(ErrorCodes.DATA_MISMATCH, `the model has ${ins.length} data inputs (${ins.map((v) => v.name).join(', ')}); evaluation needs exactly one`);
  }
  const v = ins[0]!;
  return { name: v.name, dims: tensorTypeOf(v)?.shape };
}

/**
 * Feeds the dataset through the model in batches, calling `each` with the named outputs (and
 * the batch's labels, when the data has them). A streamed DataSource is read batch by batch
 * (its decoding runs ahead while onnxruntime runs); it is not closed here.
 */
export async function forEachBatch(
  model: Model,
  ds: Dataset | DataSource,
  outputs: string[],
  opts: EvalOptions,
  each: (start: number, n: number, out: Record<string, Float32Array>, dims: Record<string, readonly number[]>, labels?: Int32Array) => void,
): Promise<void> {
  const input = dataInput(model);
  const fit = checkFitsModelInput(ds, (input.dims ?? []).map((d) => d ?? undefined), { inputName: input.name });
  const sampleShape = fit.sampleShape;
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const total = Math.min(ds.count, opts.limit ?? ds.count);
  const bs = fit.fixedBatch ?? opts.batchSize ?? 256;
  const src = isDataSource(ds) ? ds : dataSourceOf(ds);
  const session = await createSession(model, opts);
  try {
    for await (const b of src.batches(bs, total)) {
      const start = b.start;
      const n = b.count;
      let data = b.images;
      if (fit.fixedBatch !== null && n < fit.fixedBatch) {
        const padded = new Float32Array(fit.fixedBatch * per);
        padded.set(data);
        data = padded;
      }
      const feeds = { [input.name]: float32Tensor(data, [fit.fixedBatch ?? n, ...sampleShape]) };
      const res = await runSession(session, feeds, outputs);
      const out: Record<string, Float32Array> = {};
      const dims: Record<string, readonly number[]> = {};
      for (const name of outputs) {
        const t = res[name];
        if (!t) fail(ErrorCodes.RUNTIME, `onnxruntime returned no output "${name}"`);
        if (t.type !== 'float32') fail(ErrorCodes.DATA_MISMATCH, `output "${name}" is ${t.type}, expected float32`);
        out[name] = t.data as Float32Array;
        dims[name] = t.dims;
      }
      each(start, n, out, dims, b.labels);
      opts.onProgress?.(start + n, total);
    }
  } finally {
    await session.release();
  }
}

/** Runs `fn` with `v` temporarily added to the graph outputs (when it is not one already). */
export async function withOutput<T>(model: Model, v: Value, fn: () => Promise<T>): Promise<T> {
  const g = model.graph;
  const added = !g.outputs.includes(v);
  if (added) g.outputs.push(v);
  try {
    return await fn();
  } finally {
    if (added) g.outputs.splice(g.outputs.lastIndexOf(v), 1);
  }
}

/**
 * Runs the model on `ds` and returns every value of `v` (an intermediate value or an
 * output), batch after batch, as one array: the samples' values in order.
 */
export async function collectValue(model: Model, v: Value, ds: Dataset | DataSource, batchSize: number): Promise<Float32Array> {
  const chunks: Float32Array[] = [];
  await withOutput(model, v, () =>
    forEachBatch(model, ds, [v.name], { batchSize }, (_s, n, out, dims) => {
      const per = dims[v.name]!.slice(1).reduce((a, b) => a * b, 1);
      chunks.push(out[v.name]!.slice(0, n * per));
    }),
  );
  const x = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    x.set(c, off);
    off += c.length;
  }
  return x;
}

/** Top-1 / top-5 / per-class accuracy of a classifier on a labelled dataset. */
export async function evaluate(model: Model, ds: Dataset | DataSource, opts: EvalOptions = {}): Promise<EvalResult> {
  if (isDataSource(ds) ? !ds.labelled : !ds.labels) fail(ErrorCodes.DATA_MISMATCH, `dataset ${ds.name} has no labels; evaluation needs them`);
  const output = opts.output ?? model.graph.outputs[0]?.name;
  if (!output) fail(ErrorCodes.ONNX_INVALID, 'the model has no output');
  // Labels known up front are checked against a static class count before any work.
  const outShape = tensorTypeOf(model.graph.outputs.find((v) => v.name === output) ?? model.graph.outputs[0]!)?.shape;
  const staticK = outShape?.[outShape.length - 1];
  if (ds.labels && typeof staticK === 'number' && staticK > 0) {
    checkLabelRange({ name: ds.name, count: ds.count, sampleShape: ds.sampleShape, images: new Float32Array(0), labels: ds.labels.subarray(0, Math.min(ds.count, opts.limit ?? ds.count)), ...(ds.classNames ? { classNames: ds.classNames } : {}), ...(ds.sampleFiles ? { sampleFiles: ds.sampleFiles } : {}) }, staticK);
  }
  const total = Math.min(ds.count, opts.limit ?? ds.count);
  const predictions = new Int32Array(total);
  let top1 = 0;
  let top5 = 0;
  let classes = ds.numClasses ?? 0;
  const hits = new Map<number, [number, number]>();
  const t0 = performance.now();
  await forEachBatch(model, ds, [output], opts, (start, n, out, dims, labels) => {
    const logits = out[output]!;
    const d = dims[output]!;
    const k = d[d.length - 1]!;
    if (d.length !== 2) fail(ErrorCodes.DATA_MISMATCH, `output "${output}" has shape [${d.join(',')}], expected [batch, classes]`);
    classes = Math.max(classes, k);
    for (let s = 0; s < n; s++) {
      const row = logits.subarray(s * k, (s + 1) * k);
      const label = labels![s]!;
      if (label < 0 || label >= k) {
        const file = ds.sampleFiles?.[start + s];
        fail(
          ErrorCodes.DATA_MISMATCH,
          file !== undefined
            ? `${file}: its label ${label}${ds.classNames?.[label] !== undefined ? ` (class '${ds.classNames[label]}')` : ''} is outside the model's ${k} classes`
            : `label ${label} of sample ${start + s} is outside the model's ${k} classes`,
          { sample: start + s, label, ...(file !== undefined ? { file } : {}) },
        );
      }
      let best = 0;
      for (let c = 1; c < k; c++) if (row[c]! > row[best]!) best = c;
      predictions[start + s] = best;
      const mine = row[label]!;
      let above = 0;
      for (let c = 0; c < k; c++) if (row[c]! > mine || (row[c] === mine && c < label)) above++;
      const h = hits.get(label) ?? [0, 0];
      h[1]++;
      if (best === label) {
        top1++;
        h[0]++;
      }
      if (above < 5) top5++;
      hits.set(label, h);
    }
  });
  const perClass = [...hits.entries()].sort((a, b) => a[0] - b[0]).map(([cls, [ok, n]]) => ({ cls, samples: n, accuracy: ok / n }));
  return { samples: total, top1: top1 / total, top5: top5 / total, perClass, predictions, ms: performance.now() - t0 };
}
