import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { evaluate } from '../../src/runtime/infer.js';
import { FMNIST_CLASSES, FMNIST_NORMALIZATION, loadDataset, writeNpy } from '../../src/data/index.js';

interface EvalJson {
  model: string;
  data: string;
  normalize: string;
  quantized: { avgWeightBits: number; avgActivationBits?: number; weights: number; activations: number } | null;
  samples: number;
  top1: number;
  top5: number;
  perClass: { cls: number; name?: string; samples: number; accuracy: number }[];
  ms: number;
}

describe('eval', () => {
  const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION });

  it('--json: top-1, top-5 and per-class accuracy equal evaluate() on the same data', async () => {
    const direct = await evaluate(loadModel(FMNIST_CNN), ds);
    const r = await cli(['eval', FMNIST_CNN, '--data', 'fmnist-mini:test', '--normalize', 'fmnist', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as EvalJson;
    expect(j.model).toBe(path.join('fixtures', 'models', 'fmnist-cnn.onnx'));
    expect(j.data).toBe('fmnist-mini:test');
    expect(j.normalize).toBe('fmnist');
    expect(j.quantized).toBeNull();
    expect(j.samples).toBe(2000);
    expect(j.top1).toBe(direct.top1);
    expect(j.top5).toBe(direct.top5);
    expect(j.top1).toBeGreaterThan(0.85);
    expect(j.perClass).toHaveLength(10);
    expect(j.perClass).toEqual(direct.perClass.map((c) => ({ ...c, name: FMNIST_CLASSES[c.cls] })));
    expect(j.perClass.reduce((s, c) => s + c.samples, 0)).toBe(2000);
  });

  it('prints the accuracies and a per-class table with the Fashion-MNIST class names', async () => {
    const direct = await evaluate(loadModel(FMNIST_CNN), ds, { limit: 500 });
    const r = await cli(['eval', FMNIST_CNN, '--data', 'fmnist-mini:test', '--normalize', 'fmnist', '--limit', '500', '--batch-size', '64']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('model  fixtures/models/fmnist-cnn.onnx (float)');
    expect(lines[1]).toBe('data   fmnist-mini:test, 500 samples, normalized fmnist (--normalize)');
    expect(lines[2]).toBe(`top-1  ${(direct.top1 * 100).toFixed(2)}%`);
    expect(lines[3]).toBe(`top-5  ${(direct.top5 * 100).toFixed(2)}%`);
    expect(r.stdout).toContain(`per class (${direct.perClass.length} classes)\n`);
    expect(r.stdout).toMatch(/^ {2}class +name +samples +top-1$/m);
    for (const c of direct.perClass) {
      const name = FMNIST_CLASSES[c.cls]!.replace(/[/]/g, '\\/');
      expect(r.stdout).toMatch(new RegExp(`^ +${c.cls} +${name} +${c.samples} +${(c.accuracy * 100).toFixed(1)}%$`, 'm'));
    }
  });

  it('evaluates a quantized model: the same numbers as evaluate(), and says it is HBNN', async () => {
    const dir = tmpDir();
    const q = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '-o', path.join(dir, 'q.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    const m = loadModel(FMNIST_CNN);
    await quantize(m, { avgBits: 1.4 });
    const direct = await evaluate(m, ds);
    const r = await cli(['eval', 'q.onnx', '--data', 'fmnist-mini:test', '--normalize', 'fmnist', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as EvalJson;
    expect(j.quantized).toEqual({ avgWeightBits: expect.closeTo(1.4, 4), weights: 4, activations: 0 });
    expect(j.top1).toBe(direct.top1);
    expect(j.top5).toBe(direct.top5);
    expect(j.perClass).toHaveLength(10);
    // Binarization costs accuracy, but the model still classifies.
    expect(j.top1).toBeGreaterThan(0.6);
    const text = await cli(['eval', 'q.onnx', '--data', 'fmnist-mini:test', '--normalize', 'fmnist', '--limit', '100'], { cwd: dir });
    expect(text.stdout.split('\n')[0]).toBe('model  q.onnx (HBNN, 1.400 average weight bits, float activations)');
  });

  it('data given as .npy files (relative to the working folder): no class names', async () => {
    const dir = tmpDir();
    const n = 64;
    // Pixels scaled to [0, 1], not normalized: the model's record normalizes them.
    const x = loadDataset('fmnist-mini:test', { limit: n }).images;
    writeNpy(path.join(dir, 'x.npy'), { dtype: 'float32', shape: [n, 1, 28, 28], data: x });
    writeNpy(path.join(dir, 'y.npy'), { dtype: 'int64', shape: [n], data: BigInt64Array.from(ds.labels!.slice(0, n), (v) => BigInt(v)) });
    const direct = await evaluate(loadModel(FMNIST_CNN), ds, { limit: n });
    const r = await cli(['eval', FMNIST_CNN, '--data', 'npy:x.npy,y.npy', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as EvalJson;
    expect(j.samples).toBe(n);
    expect(j.top1).toBe(direct.top1);
    for (const c of j.perClass) expect(c).not.toHaveProperty('name');
    const text = await cli(['eval', FMNIST_CNN, '--data', 'npy:x.npy,y.npy'], { cwd: dir });
    expect(text.stdout).toMatch(/^ {2}class +samples +top-1$/m);
  });

  it('--help documents the options and the data SPEC forms', async () => {
    const r = await cli(['eval', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: hbnn-onnx eval [options] <model>');
    for (const flag of ['--data <spec>', '--limit <n>', '--normalize <norm>', '--batch-size <n>', '--json']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('Examples:\n  $ hbnn-onnx eval fixtures/models/fmnist-cnn.onnx --data fmnist-mini:test\n');
    expect(r.stdout).toContain('Data SPEC forms:');
  });
});

describe('eval errors', () => {
  const cases: [string, string[], number, string][] = [
    ['a bad data spec', ['--data', 'fmnist-mini'], 2, 'invalid-option'],
    ['--limit 0', ['--data', 'fmnist-mini:test', '--limit', '0'], 2, 'invalid-option'],
    ['--batch-size not a number', ['--data', 'fmnist-mini:test', '--batch-size', 'big'], 2, 'invalid-option'],
    ['a bad normalization', ['--data', 'fmnist-mini:test', '--normalize', '0.5'], 2, 'invalid-option'],
    ['a missing data folder', ['--data', 'no/such/folder'], 3, 'file-not-found'],
  ];
  for (const [what, args, exit, code] of cases) {
    it(`${what}: exit ${exit}, ${code}`, async () => {
      const r = await cli(['eval', FMNIST_CNN, ...args]);
      expect(r.code, r.stderr).toBe(exit);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^hbnn-onnx: error\\[${code}\\]: `));
    });
  }

  it('no --data is a usage error', async () => {
    const r = await cli(['eval', FMNIST_CNN]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: required option '--data <spec>' not specified");
  });

  it('data that does not fit the model, or has no labels: exit 3, data-mismatch', async () => {
    const dir = tmpDir();
    writeNpy(path.join(dir, 'rgb.npy'), { dtype: 'float32', shape: [4, 3, 32, 32], data: new Float32Array(4 * 3 * 32 * 32) });
    writeNpy(path.join(dir, 'x.npy'), { dtype: 'float32', shape: [4, 1, 28, 28], data: new Float32Array(4 * 784) });
    writeNpy(path.join(dir, 'y.npy'), { dtype: 'int64', shape: [4], data: new BigInt64Array(4) });
    const bad = await cli(['eval', FMNIST_CNN, '--data', 'npy:rgb.npy,y.npy'], { cwd: dir });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/^hbnn-onnx: error\[data-mismatch\]: /);
    const unlabelled = await cli(['eval', FMNIST_CNN, '--data', 'npy:x.npy'], { cwd: dir });
    expect(unlabelled.code).toBe(3);
    expect(unlabelled.stderr).toMatch(/^hbnn-onnx: error\[data-mismatch\]: .*no labels/);
    expect(fs.readdirSync(dir).sort()).toEqual(['rgb.npy', 'x.npy', 'y.npy']);
  });

  it('a missing model: exit 3, file-not-found', async () => {
    const r = await cli(['eval', 'nope.onnx', '--data', 'fmnist-mini:test']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-not-found\]: /);
  });
});
