/**
 * Gradient check: the training graph's gradients (onnxruntime, float32) against central
 * finite differences of the float64 reference evaluator.
 *
 * Error measure per parameter tensor (documented in docs/training.md):
 *   rel = ||g_ort - g_fd||_2 / max(||g_fd||_2, 1e-2)
 * Central differences with step h = 1e-6 in float64 are accurate to ~1e-9 relative; the
 * float32 arithmetic of onnxruntime gives errors of ~1e-6..1e-5, so a rule that is right
 * stays orders of magnitude below the threshold (1e-4; observed 1e-8..1e-6) and a wrong rule (a missing term, a
 * transposed kernel, a wrong broadcast sum) lands at 1e-1 or more.
 */
import { Graph, Model, type Attribute, type Node, type Value } from '../../../src/ir/graph.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { DataType } from '../../../src/ir/dtype.js';
import { setTensorType, type Dim } from '../../../src/ir/types.js';
import { buildTrainingGraph, type BuildOptions, type TrainingGraph } from '../../../src/train/grad/builder.js';
import { createSession, runSession, ort } from '../../../src/runtime/ort.js';
import { encodeModel } from '../../../src/onnx/io.js';
import { evaluate64, loss64, t64, type T64 } from './ref64.js';

export const A = {
  int: (v: number): Attribute => ({ type: 'int', value: BigInt(v) }),
  ints: (v: readonly number[]): Attribute => ({ type: 'ints', value: v.map((x) => BigInt(x)) }),
  float: (v: number): Attribute => ({ type: 'float', value: Math.fround(v) }),
  str: (v: string): Attribute => ({ type: 'string', value: new TextEncoder().encode(v) }),
};

/** Deterministic pseudo-random numbers in [-1, 1). */
export function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 0x100000000) * 2 - 1;
  }
  return out;
}

/** A small model under construction. */
export class Net {
  readonly model: Model;
  readonly g: Graph;
  private seed = 1;
  private k = 0;

  constructor(inputDims: Dim[], opset = 13) {
    this.model = new Model(new Graph('net'));
    this.model.irVersion = 8n;
    this.model.opsetImports = [{ domain: '', version: opset }];
    this.g = this.model.graph;
    const x = this.g.addInput('x');
    setTensorType(x, DataType.FLOAT, inputDims);
  }

  get x(): Value {
    return this.g.inputs[0]!;
  }

  /** A float initializer with random values scaled by `scale` (plus `offset`). */
  param(name: string, dims: number[], scale = 0.5, offset = 0): Value {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = rand(n, this.seed++).map((v) => v * scale + offset);
    return this.g.addInitializer(Tensor.fromFloat32(name, dims, data));
  }

  ints(name: string, values: number[]): Value {
    return this.g.addInitializer(Tensor.fromInt64(name, [values.length], values));
  }

  scalarConst(name: string, v: number): Value {
    return this.g.addInitializer(Tensor.fromFloat32(name, [], Float32Array.of(v)));
  }

  node(op: string, inputs: (Value | null)[], attrs: Record<string, Attribute> = {}, outputs = 1, domain = ''): Value {
    const name = `${op}_${this.k++}`;
    const n: Node = this.g.createNode(op, inputs, Array.from({ length: outputs }, (_, i) => `${name}_out${i}`), { attributes: attrs, name, domain });
    this.g.append(n);
    return n.outputs[0]!;
  }

  output(v: Value): Model {
    this.g.outputs.push(v);
    return this.model;
  }
}

export interface CheckResult {
  loss: number;
  lossRef: number;
  /** Relative error per parameter (training-graph input name). */
  errors: Record<string, number>;
  worst: number;
  tg: TrainingGraph;
}

export interface CheckOptions extends BuildOptions {
  batch?: number;
  seed?: number;
  /** Dropout masks by node name (float32, already scaled). */
  masks?: Record<string, Float32Array>;
  h?: number;
  inputScale?: number;
}

/**
 * Below this gradient norm the error is measured absolutely: some true gradients are 0 (a
 * conv bias in front of a BatchNorm, a scalar bias on the logits under cross-entropy), where
 * a relative measure would only compare float32 rounding noise with float64 zero.
 */
export const ABS_FLOOR = 1e-2;

export function relError(g: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (g[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), ABS_FLOOR);
}

/** Runs the training graph of `model` once in onnxruntime and returns loss and gradients. */
export async function ortGradients(
  tg: TrainingGraph,
  x: Float32Array,
  xDims: number[],
  labels: number[],
  values: Record<string, Float32Array>,
  masks: Record<string, Float32Array> = {},
): Promise<{ loss: number; grads: Record<string, Float32Array>; outputs: Record<string, ort.Tensor> }> {
  const session = await createSession(tg.model, { threads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {
      [tg.dataInput]: new ort.Tensor('float32', x, xDims),
      [tg.labelsInput]: new ort.Tensor('int64', BigInt64Array.from(labels, (l) => BigInt(l)), [labels.length]),
    };
    for (const p of tg.params) feeds[p.input] = new ort.Tensor('float32', values[p.input]!, p.dims);
    for (const d of tg.dropouts) feeds[d.input] = new ort.Tensor('float32', masks[d.node]!, [xDims[0]!, ...(d.dims.slice(1) as number[])]);
    const out = await runSession(session, feeds);
    const grads: Record<string, Float32Array> = {};
    for (const p of tg.params) grads[p.input] = out[p.grad]!.data as Float32Array;
    return { loss: (out[tg.lossOutput]!.data as Float32Array)[0]!, grads, outputs: out };
  } finally {
    await session.release();
  }
}

/** Checks every parameter gradient of `model` (float parameters only). */
export async function gradCheck(model: Model, xDims: number[], classes: number, opts: CheckOptions = {}): Promise<CheckResult> {
  const tg = buildTrainingGraph(model, opts);
  const seed = opts.seed ?? 7;
  const n = xDims.reduce((a, b) => a * b, 1);
  const x = rand(n, 1000 + seed).map((v) => v * (opts.inputScale ?? 1));
  const labels = Array.from({ length: xDims[0]! }, (_, i) => (i * 7 + seed) % classes);
  const values: Record<string, Float32Array> = {};
  for (const p of tg.params) values[p.input] = model.graph.get(p.source)!.constValue!.toFloat32().slice();
  const masks = opts.masks ?? {};
  const { loss, grads } = await ortGradients(tg, x, xDims, labels, values, masks);
  // float64 reference
  const fwdLogits = tg.forwardLogits;
  const feeds: Record<string, T64> = { [model.graph.inputs[0]!.name]: t64(xDims, x) };
  for (const p of tg.params) feeds[p.source] = t64(p.dims, values[p.input]!);
  const masks64: Record<string, T64> = {};
  for (const d of tg.dropouts) masks64[d.node] = t64([xDims[0]!, ...(d.dims.slice(1) as number[])], masks[d.node]!);
  const lossAt = (): number => loss64(evaluate64(model, { feeds, masks: masks64, frozenBatchNorm: !!opts.freezeBatchNormStats }).get(fwdLogits)!, labels, opts.loss ?? 'cross-entropy');
  const lossRef = lossAt();
  const h = opts.h ?? 1e-6;
  const errors: Record<string, number> = {};
  for (const p of tg.params) {
    const t = feeds[p.source]!;
    const fd = new Float64Array(t.data.length);
    for (let i = 0; i < t.data.length; i++) {
      const keep = t.data[i]!;
      t.data[i] = keep + h;
      const up = lossAt();
      t.data[i] = keep - h;
      const down = lossAt();
      t.data[i] = keep;
      fd[i] = (up - down) / (2 * h);
    }
    errors[p.input] = relError(grads[p.input]!, fd);
  }
  const worst = Math.max(0, ...Object.values(errors));
  return { loss, lossRef, errors, worst, tg };
}
