/** Quantizing an already-quantized model says so and what to do (error already-quantized). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { ErrorCodes, exitCodeFor, isHbnnError } from '../../src/errors.js';

describe('quantize of an HBNN-quantized model', () => {
  it('the CLI: exit 4, already-quantized, naming what to do; nothing written', async () => {
    const dir = tmpDir();
    const q = path.join(dir, 'q.onnx');
    expect((await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '-o', q])).code).toBe(0);
    const out = path.join(dir, 'qq.onnx');
    const r = await cli(['quantize', 'q.onnx', '--avg-bits', '1.4', '-o', 'qq.onnx'], { cwd: dir });
    expect(r.code).toBe(exitCodeFor(ErrorCodes.ALREADY_QUANTIZED));
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[already-quantized\]: q\.onnx is already HBNN-quantized \(hbnn\.format metadata: 4 binarized weights, 1\.400 average bits\)/);
    expect(r.stderr).toContain('hbnn-onnx train q.onnx --fine-tune');
    expect(r.stderr).toContain('hbnn-onnx lower q.onnx --backend');
    expect(r.stderr).toContain('quantize the float original');
    expect(r.stderr).not.toContain('insert-weight-binarization');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('the API: quantize() refuses before changing the model', async () => {
    const m = loadModel(FMNIST_CNN);
    await quantize(m, { avgBits: 1.4 });
    const before = m.graph.nodes.length;
    try {
      await quantize(m, { avgBits: 2 });
      expect.unreachable();
    } catch (e) {
      expect(isHbnnError(e) && e.code).toBe('already-quantized');
    }
    expect(m.graph.nodes.length).toBe(before);
  });
});
