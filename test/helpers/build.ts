/**
 * Small helpers for building models by hand in tests, running them in onnxruntime and
 * locating shared test files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { Graph, Model, type Attribute, type Node, type Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { setTensorType, type Dim } from '../../src/ir/types.js';
import { createSession, runSession, ort } from '../../src/runtime/ort.js';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { HbnnError, type ErrorCode } from '../../src/errors.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A file under the repository's fixtures/ folder (the suite needs nothing outside the repository). */
export function fixtureFile(rel: string): string {
  const f = path.join(REPO_ROOT, 'fixtures', rel);
  if (!fs.existsSync(f)) throw new Error(`fixture ${rel} not found under ${path.join(REPO_ROOT, 'fixtures')}`);
  return f;
}

export const FMNIST_CNN = (): string => fixtureFile('models/fmnist-cnn.onnx');
export const FMNIST_MLP = (): string => fixtureFile('models/fmnist-mlp.onnx');
export const MNIST_CONV = (): string => fixtureFile('qonnx/mnist-conv/model.onnx');

/** A new model with one opset import for the default domain. */
export function newModel(opset = 13, irVersion = 8n): Model {
  const m = new Model(new Graph('main'));
  m.irVersion = irVersion;
  m.opsetImports = [{ domain: '', version: opset }];
  return m;
}

export function addInput(g: Graph, name: string, shape: readonly Dim[], elem: number = DataType.FLOAT): Value {
  const v = g.addInput(name);
  setTensorType(v, elem, shape);
  return v;
}

export function addFloatInit(g: Graph, name: string, dims: readonly number[], values?: ArrayLike<number>): Value {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = values ? values[i]! : Math.sin(i * 0.7 + name.length);
  return g.addInitializer(Tensor.fromFloat32(name, dims, data));
}

export function addInt64Init(g: Graph, name: string, dims: readonly number[], values: readonly number[]): Value {
  return g.addInitializer(Tensor.fromInt64(name, dims, values));
}

export const A = {
  int: (v: number): Attribute => ({ type: 'int', value: BigInt(v) }),
  ints: (v: readonly number[]): Attribute => ({ type: 'ints', value: v.map((x) => BigInt(x)) }),
  float: (v: number): Attribute => ({ type: 'float', value: Math.fround(v) }),
  floats: (v: readonly number[]): Attribute => ({ type: 'floats', value: v.map((x) => Math.fround(x)) }),
  str: (v: string): Attribute => ({ type: 'string', value: new TextEncoder().encode(v) }),
  tensor: (t: Tensor): Attribute => ({ type: 'tensor', value: t }),
  graph: (g: Graph): Attribute => ({ type: 'graph', value: g }),
};

/** Creates and appends a node; returns it (outputs are `node.outputs`). */
export function addNode(
  g: Graph,
  op: string,
  inputs: (Value | null)[],
  outputs: string[],
  attributes: Record<string, Attribute> = {},
  opts: { domain?: string; name?: string } = {},
): Node {
  return g.append(g.createNode(op, inputs, outputs, { attributes, ...opts }));
}

/** A deep copy (`Model.clone`). */
export function cloneModel(m: Model): Model {
  return m.clone();
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomFloats(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
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

/** Runs a model as written in onnxruntime (no graph optimizations; binarized weights rebuilt by their calls) and returns every output. */
export async function runModel(m: Model, feeds: Record<string, ort.Tensor>, outputs?: string[]): Promise<Record<string, ort.Tensor>> {
  const s = await createSession(m, { optimization: 'disabled', weights: 'as-written' });
  try {
    return await runSession(s, feeds, outputs);
  } finally {
    await s.release();
  }
}

export function floatFeed(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, [...dims]);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs `fn` (sync or async), expects an HbnnError with `code`, returns it. */
export async function expectHbnnError(fn: () => unknown, code: ErrorCode): Promise<HbnnError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an HbnnError').toBeInstanceOf(HbnnError);
  const err = caught as HbnnError;
  expect(err.code, `wrong code; message: ${err.message}`).toBe(code);
  return err;
}
