/**
 * Real exported models: the CNTK MNIST CNN (runs after a round trip and matches its
 * reference output), the Brevitas QONNX TFC MLPs (custom `onnx.brevitas` domain without an
 * opset_import entry: load and re-save losslessly), and the PyTorch Fashion-MNIST models.
 */
import { describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { roundTrip, runCase } from './conformance.js';
import { undeclaredDomains } from '../../src/onnx/checks.js';
import { fixtureFile } from '../helpers/build.js';

const QONNX = fixtureFile('qonnx');
const TFC_DIR = path.join(QONNX, 'tfc-mnist/Brevitas_FINN_TFC/TFC');
const TFC = fs.readdirSync(TFC_DIR).filter((f) => f.endsWith('.onnx')).sort();
const FMNIST = [fixtureFile('models/fmnist-cnn.onnx'), fixtureFile('models/fmnist-mlp.onnx')];

describe('qonnx/mnist-conv', () => {
  const dir = path.join(QONNX, 'mnist-conv');
  test('re-saves byte-identical and runs in ORT matching test_data_set_0', async () => {
    const rt = roundTrip(path.join(dir, 'model.onnx'));
    expect(rt.problems).toEqual([]);
    expect(undeclaredDomains(rt.model)).toEqual([]);
    const r = await runCase(dir, rt.saved, rt.model, 'basic');
    expect(r).toEqual({ kind: 'ok' });
  });
});

describe('qonnx/tfc-mnist (Brevitas)', () => {
  test('there are three exports', () => {
    expect(TFC).toEqual(['TFC_1W1A.onnx', 'TFC_1W2A.onnx', 'TFC_2W2A.onnx']);
  });
  test.each(TFC)('%s loads and re-saves byte-identical; undeclared domain onnx.brevitas is reported', (f) => {
    const rt = roundTrip(path.join(TFC_DIR, f));
    expect(rt.problems).toEqual([]);
    expect(rt.model.opsetImports).toEqual([{ domain: '', version: 9 }]);
    expect(rt.model.graph.nodes.some((n) => n.domain === 'onnx.brevitas')).toBe(true);
    expect(undeclaredDomains(rt.model)).toEqual(['onnx.brevitas']);
    // Every initializer is also a graph input in these exports; the IR keeps both roles.
    const inits = [...rt.model.graph.initializers.values()];
    expect(inits.length).toBeGreaterThan(0);
    expect(inits.every((v) => v.isGraphInput)).toBe(true);
  });
});

describe('fixtures/models (PyTorch exports)', () => {
  test.each(FMNIST)('%s re-saves byte-identical (opset_import without a domain field)', (f) => {
    const rt = roundTrip(f);
    expect(rt.problems).toEqual([]);
    expect(undeclaredDomains(rt.model)).toEqual([]);
  });
});
