/** `inspect` on HBNN-quantized models: the `quantization` section. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN } from './helpers.js';
import { inspectModel, type InspectReport } from '../../src/inspect.js';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { META_RECORD, readQuantRecord } from '../../src/quant/format.js';

describe('inspect a quantized model', () => {
  let file = '';
  // One quantized model for the whole block (tmpDir() folders go after each test).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-cli-inspect-q-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeAll(async () => {
    file = path.join(dir, 'q.onnx');
    const r = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '--per-channel', '--act-bits', '1.4', '--calib-limit', '64', '--normalize', 'fmnist', '--first-layer', 'keep', '-o', file]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('--json has the quantization section: histograms, averages, heuristic, scales, binarizer constants', async () => {
    const r = await cli(['inspect', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as InspectReport;
    const q = rep.quantization!;
    const rec = readQuantRecord(loadModel(file))!;
    expect(q.format).toBe('hbnn-onnx/3');
    expect(q.storage!.planes).toEqual({ packed: 3, int8: 0 });
    // Logical parameters are the float model's (plus 7 constants per activation binarizer); the stored bytes are what the file holds.
    expect(q.storage!.logicalParameters).toBe(105_099 + 7 * rep.quantization!.activations.length);
    expect(q.storage!.storedBytes).toBe(rep.totals.bytes);
    // 4 bits per weight, plus per-channel scales (3 per channel) and shapes
    expect(q.storage!.binarizedStoredBytes).toBeLessThan(103_680 / 2 + 3 * 4 * (64 + 128 + 10) + 200);
    expect(q.avgWeightBits).toBe(rec.avgWeightBits);
    expect(q.avgWeightBits).toBeCloseTo(1.4, 3);
    expect(q.avgActivationBits).toBeCloseTo(1.4, 2);
    expect(q.binarizedLayers).toBe(3);
    expect(q.binarizedParameters).toBe(18_432 + 73_728 + 11_520);
    expect(q.weights.map((w) => [w.node, w.op, w.tensor, w.params])).toEqual([
      ['/c2/Conv', 'Conv', 'c2.weight', 18_432],
      ['/c3/Conv', 'Conv', 'c3.weight', 73_728],
      ['/fc/Gemm', 'Gemm', 'fc.weight', 11_520],
    ]);
    for (const [i, w] of q.weights.entries()) {
      expect(w.histogram).toEqual(rec.weights[i]!.histogram);
      expect(w.histogram.reduce((a, b) => a + b, 0)).toBe(w.params);
      expect(w.fractions.map((f) => Math.round(f * 100))).toEqual([70, 20, 10]);
      expect(w.avgBits).toBeCloseTo(1.4, 2);
      expect(w.heuristic).toBe('middle-out');
      expect(w.perChannel).toBe(true);
      // Per channel: [K bits][C output channels].
      const scales = w.scales as number[][];
      expect(scales).toHaveLength(3);
      expect(scales[0]).toHaveLength(w.op === 'Gemm' ? 10 : w.shape[0]!);
    }
    expect(q.activations.length).toBe(rec.activations.length);
    expect(q.activations.length).toBeGreaterThan(0);
    for (const a of q.activations) {
      expect(a.calibrated).toBe(true);
      expect(a.heuristic).toBe('middle-out');
      expect(a.scales).toHaveLength(3);
      expect(a.thresholds[0]).toBeLessThanOrEqual(a.thresholds[1]);
      expect(a.observed!.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 6);
      expect(a.avgBits).toBeCloseTo(1.4, 1);
      expect(Number.isFinite(a.center)).toBe(true);
    }
    expect(q.scalingLayer).toBeDefined();
    expect(rep.warnings).toEqual([]);
  });

  it('prints the quantization section and shortens the record in the metadata', async () => {
    const r = await cli(['inspect', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}metadata hbnn\.quantization +\(JSON, [\d.]+ KiB; shown under "quantization"\)$/m);
    expect(r.stdout).toContain('quantization (hbnn-onnx/3): 3 binarized layers, 103,680 weights\n');
    expect(r.stdout).toMatch(/^ {2}storage: 105,1\d\d logical parameters in [\d.]+ KiB stored \(binarized weights [\d.]+ KiB; planes: 3 packed\)$/m);
    expect(r.stdout).toMatch(/^ {2}layer +op +weight +params +1-bit +2-bit +3-bit +avg bits +heuristic +scales$/m);
    expect(r.stdout).toMatch(/^ {2}\/c2\/Conv +Conv +c2\.weight +18,432 +70\.0% +20\.0% +10\.0% +1\.400 +middle-out +64 ch, mean [\d.]+ \/ [\d.]+ \/ [\d.]+$/m);
    expect(r.stdout).toMatch(/^ {2}binarizer +feeds +heuristic +bits 1\/2\/3 +avg bits +scales +center +sign +t1 \/ t2 +calibrated$/m);
    expect(r.stdout).toMatch(/^ {2}\/c2\/Conv\/BinarizeActivation +\/c2\/Conv +middle-out +\d+\.\d% \/ \d+\.\d% \/ \d+\.\d% +1\.\d{3} .* yes$/m);
    expect(r.stdout).toMatch(/^ {2}overall: 1\.400 average weight bits, 1\.4\d\d average activation bits$/m);
  });

  it('per-tensor scales are listed per bit; float models have no quantization section', async () => {
    const m = loadModel(FMNIST_CNN);
    expect(inspectModel(m)).not.toHaveProperty('quantization');
    await quantize(m, { avgBits: 2, heuristic: 'layer' });
    const rep = inspectModel(m);
    const q = rep.quantization!;
    expect(q.avgActivationBits).toBeUndefined();
    expect(q.activations).toEqual([]);
    for (const w of q.weights) {
      expect(w.heuristic).toBe('layer');
      expect(w.avgBits).toBe(2);
      expect(w.scales).toHaveLength(w.histogram.length);
      expect(typeof (w.scales as number[])[0]).toBe('number');
    }
  });

  it('a record that cannot be read is a warning, not a failure', () => {
    const m = loadModel(FMNIST_CNN);
    m.setMetadata('hbnn.format', 'hbnn-onnx/1');
    m.setMetadata(META_RECORD, '{"weights": [{"node": "x"}]}');
    const rep = inspectModel(m);
    expect(rep).not.toHaveProperty('quantization');
    expect(rep.warnings.map((w) => w.kind)).toEqual(['quantization']);
    m.setMetadata(META_RECORD, 'not json');
    expect(inspectModel(m).warnings[0]!.message).toMatch(/^the HBNN quantization record cannot be read: .*not valid JSON/);
  });
});
