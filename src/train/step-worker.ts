/**
 * Worker thread of the data-parallel training steps (parallel-step.ts): holds one
 * onnxruntime session of the training graph and runs the forward and backward of its slice
 * of each batch.
 *
 * onnxruntime-node refuses tensors over a SharedArrayBuffer ("Invalid argument", 1.30), so
 * each step copies the worker's inputs out of the shared buffers the main thread wrote into
 * buffers of its own (the parameter feeds whole, the batch and the dropout masks for its
 * slice). The gradients go into this worker's shared gradient buffer (`gradParts`), the
 * batch statistics (fresh ArrayBuffers from onnxruntime) are transferred back without a copy;
 * then each active worker combines a contiguous range of all gradient entries over the
 * workers' buffers (`combine` requests, `weightedMeanInto`: in worker order, float64).
 *
 * Between steps the worker re-binarizes its shard of the binarized weights (`rebinarize`
 * requests, `ShardRebinarizer`): from the latent weights the main thread wrote into the shared
 * buffer, Ŵ into the shared parameter feeds. With the update in the workers (`update`
 * requests) it keeps its shard's latent weights and momentum, and after each step combines the
 * shard's gradients, updates it and re-binarizes it for the next step in one request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { ortSessionOptions } from '../runtime/session-options.js';
import { ErrorCodes, isHbnnError } from '../errors.js';
import { countCorrect, weightedMeanInto, type StepReply, type StepRequest, type StepWorkerData } from './step-protocol.js';
import { ShardRebinarizer } from './shard-rebinarizer.js';
import { Optimizer } from './optimizer.js';
import { momentumFor } from './optimizer-wasm.js';

const data = workerData as StepWorkerData;
const port = parentPort!;
const L = data.layout;
const sampleSize = L.sampleShape.reduce((a, b) => a * b, 1);
const sharedImages = new Float32Array(data.images);
const sharedLabels = new Int32Array(data.labels);
const sharedParams = new Float32Array(data.params);
const sharedMasks = data.dropouts.map((b) => new Float32Array(b));
const maskSizes = L.dropouts.map((d) => d.tail.reduce((a, b) => a * b, 1));
// The parameter feeds: own buffers and tensors, refilled every step.
const paramValues = L.params.map((p) => new Float32Array(p.size));
const paramTensors = L.params.map((p, i) => new ort.Tensor('float32', paramValues[i]!, p.dims));
// This worker's shard of the binarized weights (re-binarized into the shared feeds).
const shard = new ShardRebinarizer(data.shard, L.params, data.latent, data.params);

const gradParts = data.gradParts.map((b) => new Float32Array(b));
const combined = data.combined.map((b) => new Float32Array(b));

// The update in this worker (data.update): the shard's latent weights and momentum live here
// (the re-binarizer's copies, the momentum beside them in the kernels' memory), SGD with
// momentum as the main thread's Optimizer runs it (the same code: the same bytes), and after
// every update both are copied into the shared buffers, where the main thread reads them.
const spec = data.update;
const optimizer = spec ? new Optimizer(spec.optimizer) : null;
const sharedMomentum = new Float32Array(data.momentum);
if (spec) {
  shard.load();
  const started = new Set(spec.started);
  for (const w of shard.weights) {
    if (!started.has(w.param)) continue;
    // a resumed run: the momentum so far (the Optimizer then takes the step after the first)
    const m = momentumFor(w.latent);
    m.set(sharedMomentum.subarray(w.offset, w.offset + w.size));
    optimizer!.state.set(String(w.param), new Map([['momentum', m]]));
  }
}

function update(req: Extract<StepRequest, { kind: 'update' }>): void {
  const t0 = performance.now();
  const into = combined[req.into]!;
  const parts = req.parts.map((k) => gradParts[k]!);
  for (const i of spec!.floats) {
    const at = L.params[i]!;
    weightedMeanInto(into, parts, req.counts, at.offset, at.offset + at.size);
  }
  const sums: [number, number][] = [];
  const sumsAbs: (number | undefined)[] = [];
  let finite = true;
  for (const w of shard.weights) {
    const end = w.offset + w.size;
    weightedMeanInto(into, parts, req.counts, w.offset, end);
    const name = String(w.param);
    optimizer!.update(name, w.latent, into.subarray(w.offset, end), req.lr, spec!.clip);
    const sum = optimizer!.lastSumAbs;
    sums.push([w.param, sum]);
    sumsAbs[w.param] = sum;
    if (!Number.isFinite(sum)) finite = false;
    sharedMomentum.set(optimizer!.state.get(name)!.get('momentum')!, w.offset);
  }
  shard.store();
  const t1 = performance.now();
  // a diverged weight is not re-binarized (the main thread stops the training)
  if (req.rebinarize && finite) shard.runOwn(sumsAbs);
  post({ kind: 'updated', id: req.id, sums, ms: t1 - t0, rebinarizeMs: performance.now() - t1 });
}

function combine(req: Extract<StepRequest, { kind: 'combine' }>): void {
  const t0 = performance.now();
  weightedMeanInto(combined[req.into]!, req.parts.map((k) => gradParts[k]!), req.counts, req.from, req.to);
  post({ kind: 'combined', id: req.id, ms: performance.now() - t0 });
}

function rebinarize(req: Extract<StepRequest, { kind: 'rebinarize' }>): void {
  const t0 = performance.now();
  shard.run(req.sumsAbs);
  post({ kind: 'rebinarized', id: req.id, ms: performance.now() - t0 });
}

function post(reply: StepReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 500);
}

async function start(): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(data.model, ortSessionOptions(data.session));
}

async function step(session: ort.InferenceSession, req: Extract<StepRequest, { kind: 'step' }>): Promise<void> {
  const t0 = performance.now();
  const { offset, count } = req;
  const feeds: Record<string, ort.Tensor> = {};
  const images = new Float32Array(count * sampleSize);
  images.set(sharedImages.subarray(offset * sampleSize, (offset + count) * sampleSize));
  feeds[L.dataInput] = new ort.Tensor('float32', images, [count, ...L.sampleShape]);
  const labels = sharedLabels.slice(offset, offset + count);
  feeds[L.labelsInput] = new ort.Tensor('int64', BigInt64Array.from(labels, (l) => BigInt(l)), [count]);
  L.params.forEach((p, i) => {
    paramValues[i]!.set(sharedParams.subarray(p.offset, p.offset + p.size));
    feeds[p.input] = paramTensors[i]!;
  });
  L.dropouts.forEach((d, i) => {
    const n = maskSizes[i]!;
    feeds[d.input] = new ort.Tensor('float32', sharedMasks[i]!.slice(offset * n, (offset + count) * n), [count, ...d.tail]);
  });
  const t1 = performance.now();
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await session.run(feeds);
  } catch (e) {
    post({ kind: 'error', id: req.id, code: ErrorCodes.RUNTIME, message: `onnxruntime failed while running the model: ${message(e)}` });
    return;
  }
  const t2 = performance.now();
  const f32 = (name: string): Float32Array => out[name]!.data as Float32Array;
  // the gradients into this worker's shared buffer, for the combination (`combine`)
  const mine = gradParts[data.index]!;
  L.params.forEach((p) => mine.set(f32(p.grad), p.offset));
  const batchMean = L.batchNorms.map((b) => f32(b.meanOutput));
  const batchVar = L.batchNorms.map((b) => f32(b.varOutput));
  const transfer = new Set<ArrayBuffer>();
  for (const a of [...batchMean, ...batchVar]) if (a.buffer instanceof ArrayBuffer) transfer.add(a.buffer);
  post(
    {
      kind: 'step',
      id: req.id,
      loss: f32(L.lossOutput)[0]!,
      correct: countCorrect(f32(L.logitsOutput), labels, count, L.classes),
      batchMean,
      batchVar,
      ortMs: t2 - t1,
      copyMs: t1 - t0,
    },
    [...transfer],
  );
}

start().then(
  (session) => {
    // Steps run one at a time, in the order posted.
    let queue = Promise.resolve();
    port.on('message', (req: StepRequest) => {
      queue = queue.then(() => (req.kind === 'step' ? step(session, req) : req.kind === 'rebinarize' ? rebinarize(req) : req.kind === 'update' ? update(req) : combine(req))).catch((e: unknown) => post({ kind: 'error', id: req.id, ...(isHbnnError(e) ? { code: e.code } : {}), message: message(e) }));
    });
    post({ kind: 'ready' });
  },
  (e: unknown) => post({ kind: 'error', code: ErrorCodes.RUNTIME, message: `onnxruntime could not load the training model: ${message(e)}` }),
);
