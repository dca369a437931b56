/**
 * sweep --bn-recalibrate (the quantize option, the recalibrate-batchnorm pass) and the sweep
 * output saying whether BatchNorm statistics were re-estimated.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { evaluate } from '../../src/runtime/infer.js';
import { FMNIST_NORMALIZATION, loadDataset } from '../../src/data/index.js';
import type { SweepResult } from '../../src/drivers/sweep.js';
import { schemaHelp } from '../../src/cli/options.js';
import { pickOption } from '../../src/pass/pass.js';
import { QUANTIZE_OPTIONS } from '../../src/drivers/quantize.js';

const BN_RECALIBRATE_HELP = schemaHelp(pickOption(QUANTIZE_OPTIONS, 'bn-recalibrate'));

const LIMIT = 300;
const CALIB = 256;

describe('sweep and BatchNorm statistics', () => {
  it('without --bn-recalibrate the output says the statistics were not re-estimated; with it, each point is quantize --bn-recalibrate', async () => {
    const dir = tmpDir();
    const common = ['sweep', FMNIST_CNN, '--data', 'fmnist-mini:test', '--limit', String(LIMIT), '--bits', '2', '--heuristics', 'middle-out', '--no-float'];
    const plain = await cli([...common, '-o', path.join(dir, 'plain')]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^3 BatchNorms: statistics NOT re-estimated .*add --bn-recalibrate/m);
    const p = JSON.parse(fs.readFileSync(path.join(dir, 'plain', 'sweep.json'), 'utf8')) as SweepResult;
    expect(p.bnRecalibrated).toBe(false);
    expect(p.batchNorms).toBe(3);
    expect(fs.readFileSync(path.join(dir, 'plain', 'sweep.svg'), 'utf8')).toContain('BatchNorm not re-estimated');

    const recal = await cli([...common, '--bn-recalibrate', '--calib-limit', String(CALIB), '-o', path.join(dir, 'recal')]);
    expect(recal.code, recal.stderr).toBe(0);
    expect(recal.stdout).toMatch(/^3 BatchNorms: statistics re-estimated on the calibration data for every point \(--bn-recalibrate\)$/m);
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'recal', 'sweep.json'), 'utf8')) as SweepResult;
    expect(r.bnRecalibrated).toBe(true);
    expect(r.points[0]!.pipeline).toContain('recalibrate-batchnorm');
    expect(p.points[0]!.pipeline).not.toContain('recalibrate-batchnorm');

    // The point is exactly quantize(recalibrateBatchNorm) + evaluate, run directly.
    const m = loadModel(FMNIST_CNN);
    await quantize(m, { avgBits: 2, heuristic: 'middle-out', seed: 0, recalibrateBatchNorm: true, calibLimit: CALIB });
    const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION, limit: LIMIT });
    expect(r.points[0]!.top1).toBe((await evaluate(m, ds)).top1);
    // Re-estimation is what lifts W2 (docs/ptq-results.md).
    expect(r.points[0]!.top1).toBeGreaterThan(p.points[0]!.top1 + 0.1);
  });

  it('--calib-data / --calib-limit need --act-bits or --bn-recalibrate', async () => {
    const r = await cli(['sweep', FMNIST_CNN, '--data', 'fmnist-mini:test', '--calib-limit', '10', '-o', path.join(tmpDir(), 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--calib-limit needs --act-bits or --bn-recalibrate');
  });

  it('--help lists --bn-recalibrate with the quantize wording', async () => {
    const flat = (t: string): string => t.replace(/\s+/g, ' ');
    for (const cmd of ['sweep', 'quantize']) {
      const h = flat((await cli([cmd, '--help'])).stdout);
      expect(h, cmd).toContain(`--bn-recalibrate ${BN_RECALIBRATE_HELP}`);
    }
  });
});
