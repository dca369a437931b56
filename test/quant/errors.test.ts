/**
 * Bad input to `quantize`, through the API: every case fails with its stable error code and,
 * where the problem is detectable up front (options, distribution, nothing to binarize,
 * calibration data), leaves the model exactly as it was. The API never writes files; the
 * CLI writes its output only after the whole pipeline succeeded (tested in test/cli).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quantize, type QuantizeOptions } from '../../src/drivers/quantize.js';
import { readQuantRecord, isWeightCall } from '../../src/quant/format.js';
import { loadModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { writeNpy } from '../../src/data/index.js';
import type { Model } from '../../src/ir/graph.js';
import type { ErrorCode } from '../../src/errors.js';
import { FMNIST_CNN, FMNIST_MLP, addInput, addNode, expectHbnnError, newModel } from '../helpers/build.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-quant-errors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** quantize must fail with `code` and leave the model's printed form (graph, initializers, metadata) unchanged. */
async function failsUnchanged(model: Model, opts: QuantizeOptions, code: ErrorCode): Promise<string> {
  const before = printModel(model);
  const ir = model.irVersion;
  const err = await expectHbnnError(() => quantize(model, opts), code);
  expect(printModel(model)).toBe(before);
  expect(model.irVersion).toBe(ir);
  expect(model.functions).toHaveLength(0);
  expect(readQuantRecord(model)).toBeUndefined();
  return err.message;
}

describe('quantize: bad options', () => {
  it('avg-bits outside [1, max bits] is invalid-option', async () => {
    const m = loadModel(FMNIST_MLP());
    expect(await failsUnchanged(m, { avgBits: 0.5 }, 'invalid-option')).toMatch(/avg-bits=0.5 is below the minimum 1/);
    expect(await failsUnchanged(m, { avgBits: 3.5 }, 'invalid-option')).toMatch(/avg-bits 3.5 is above max-bits 3/);
    expect(await failsUnchanged(m, { avgBits: 2.5, maxBits: 2 }, 'invalid-option')).toMatch(/above max-bits 2/);
    await failsUnchanged(m, { avgBits: Number.NaN }, 'invalid-option');
    // the bounds themselves are fine (and this one changes the model: the check can fail)
    await quantize(m, { avgBits: 3 });
    expect(readQuantRecord(m)!.avgWeightBits).toBe(3);
  });

  it('a distribution that does not sum to 1, or does not match the average, is invalid-option', async () => {
    const m = loadModel(FMNIST_MLP());
    expect(await failsUnchanged(m, { dist: [0.5, 0.3] }, 'invalid-option')).toMatch(/sums to 0\.8/);
    expect(await failsUnchanged(m, { dist: [0.7, 0.2, 0.2] }, 'invalid-option')).toMatch(/dist sums to 1\.\d+, expected 1/);
    expect(await failsUnchanged(m, { dist: [1.2, -0.2] }, 'invalid-option')).toMatch(/non-negative/);
    expect(await failsUnchanged(m, { avgBits: 1.5, dist: [0.7, 0.2, 0.1] }, 'invalid-option')).toMatch(/mean of 1\.4.* avgBits is 1\.5/);
    // an average and a distribution that agree are accepted; the distribution is used
    await quantize(m, { avgBits: 1.4, dist: [0.8, 0, 0.2] });
    const r = readQuantRecord(m)!;
    expect(r.weights[0]!.distribution).toEqual([0.8, 0, 0.2]);
    expect(r.weights[0]!.histogram[1]).toBe(0);
  });

  it('unknown heuristic is invalid-option', async () => {
    await failsUnchanged(loadModel(FMNIST_MLP()), { heuristic: 'sideways' as never }, 'invalid-option');
  });

  it('an unknown granularity, or granularity row with the layer heuristic, is invalid-option', async () => {
    const m = loadModel(FMNIST_MLP());
    expect(await failsUnchanged(m, { granularity: 'channel' as never }, 'invalid-option')).toMatch(/granularity=channel is not one of entry, row/);
    expect(await failsUnchanged(m, { granularity: 'row', heuristic: 'layer' }, 'invalid-option')).toMatch(/granularity=row needs a bit map heuristic/);
    // granularity entry with layer, and row with a bit map heuristic, are fine
    await quantize(loadModel(FMNIST_MLP()), { granularity: 'entry', heuristic: 'layer' });
    await quantize(m, { granularity: 'row', heuristic: 'top-down' });
    expect(readQuantRecord(m)!.weights.every((w) => w.granularity === 'row')).toBe(true);
  });
});

describe('quantize: nothing to binarize', () => {
  it('a model with only Relu is nothing-to-quantize', async () => {
    const m = newModel(13);
    const x = addInput(m.graph, 'x', ['N', 4]);
    m.graph.setOutput(0, addNode(m.graph, 'Relu', [x], ['y']).outputs[0]!);
    expect(await failsUnchanged(m, { avgBits: 1.4 }, 'nothing-to-quantize')).toMatch(/no Conv, Gemm or MatMul/);
  });

  it('excluding every layer is nothing-to-quantize', async () => {
    expect(await failsUnchanged(loadModel(FMNIST_CNN()), { exclude: ['*'] }, 'nothing-to-quantize')).toMatch(/all 4 binarizable layers were excluded/);
  });
});

describe('quantize: calibration data', () => {
  it('data whose samples do not fit the model input is data-mismatch, found before any change', async () => {
    const npy = path.join(tmp, 'cifar-like.npy');
    writeNpy(npy, { dtype: 'float32', shape: [10, 3, 32, 32], data: new Float32Array(10 * 3 * 32 * 32) });
    const msg = await failsUnchanged(loadModel(FMNIST_CNN()), { avgBits: 1.4, actBits: 1.4, calibData: `npy:${npy}` }, 'data-mismatch');
    expect(msg).toMatch(/\[3,32,32\].*model input 'input' expects \[N,1,28,28\]/);
  });

  it('a missing data folder is file-not-found, found before any change', async () => {
    const missing = path.join(tmp, 'no-such-folder');
    const msg = await failsUnchanged(loadModel(FMNIST_CNN()), { avgBits: 1.4, actBits: 1.4, calibData: missing }, 'file-not-found');
    expect(msg).toContain(missing);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('a failure inside a pass after the model changed leaves it changed: quantize works in place', async () => {
    // Data that fits and loads, but whose values are not finite: calibrate runs the model on
    // it after weights and activations were already rewritten, and the numerics refuse NaN.
    const npy = path.join(tmp, 'nan.npy');
    writeNpy(npy, { dtype: 'float32', shape: [4, 1, 28, 28], data: new Float32Array(4 * 784).fill(Number.NaN) });
    const m = loadModel(FMNIST_CNN());
    const before = printModel(m);
    const err = await expectHbnnError(() => quantize(m, { avgBits: 1.4, actBits: 1.4, calibData: `npy:${npy}` }), 'numeric');
    expect(err.message).toMatch(/pass calibrate failed/);
    // Documented behaviour (quantize's doc comment): the caller's model is partly rewritten;
    // keep a copy if you need the original. The CLI only writes after success.
    expect(printModel(m)).not.toBe(before);
    expect(m.graph.nodes.some(isWeightCall)).toBe(true);
  });
});
