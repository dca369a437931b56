import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { evaluate } from '../../src/runtime/infer.js';
import { FMNIST_NORMALIZATION, loadDataset } from '../../src/data/index.js';
import { sweepSvg } from '../../src/drivers/svg.js';
import type { SweepResult } from '../../src/drivers/sweep.js';

describe('sweep', () => {
  it('writes sweep.json and sweep.svg; each point equals quantize + evaluate run directly', async () => {
    const dir = tmpDir();
    fs.copyFileSync(FMNIST_CNN, path.join(dir, 'model.onnx'));
    const r = await cli(['sweep', 'model.onnx', '--data', 'fmnist-mini:test', '--normalize', 'fmnist', '--limit', '200', '--bits', '1.4,1,2', '--heuristics', 'middle-out,layer', '-o', 'sw'], {
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(fs.readdirSync(path.join(dir, 'sw')).sort()).toEqual(['sweep.json', 'sweep.svg']);
    const res = JSON.parse(fs.readFileSync(path.join(dir, 'sw', 'sweep.json'), 'utf8')) as SweepResult;
    expect(res.format).toBe('hbnn-sweep/1');
    expect(res.model).toBe('model.onnx');
    expect(res.dataset).toBe('fmnist-mini:test');
    expect(res.samples).toBe(200);
    expect(res.bits).toEqual([1, 1.4, 2]);
    expect(res.heuristics).toEqual(['middle-out', 'layer']);
    expect(res.points.map((p) => [p.heuristic, p.bits])).toEqual([
      ['middle-out', 1],
      ['middle-out', 1.4],
      ['middle-out', 2],
      ['layer', 1],
      ['layer', 1.4],
      ['layer', 2],
    ]);
    const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION, limit: 200 });
    expect(res.float!.top1).toBe((await evaluate(loadModel(FMNIST_CNN), ds)).top1);
    const m = loadModel(FMNIST_CNN);
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', seed: 0 });
    expect(res.points[1]!.top1).toBe((await evaluate(m, ds)).top1);
    expect(res.points[1]!.avgWeightBits).toBeCloseTo(1.4, 3);
    // The SVG is the plot of exactly this result.
    expect(fs.readFileSync(path.join(dir, 'sw', 'sweep.svg'), 'utf8')).toBe(sweepSvg(res));
    // Text: one row per heuristic, one column per requested bitwidth.
    expect(r.stdout).toContain('model.onnx on fmnist-mini:test (200 samples), activations float\n');
    expect(r.stdout).toMatch(/^float model: top-1 \d+\.\d\d%, top-5 \d+\.\d\d%$/m);
    expect(r.stdout).toMatch(/^ {2}heuristic +1 bits +1\.4 bits +2 bits$/m);
    expect(r.stdout).toMatch(/^ {2}Middle-Out +\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d%$/m);
    expect(r.stdout).toMatch(/^ {2}layer-level +\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d%$/m);
    expect(r.stdout).toContain(`wrote ${path.join('sw', 'sweep.json')} and ${path.join('sw', 'sweep.svg')}\n`);
  });

  it('default folder <stem>.sweep beside the model; --json prints the result; --no-float skips the float model', async () => {
    const dir = tmpDir();
    fs.copyFileSync(FMNIST_CNN, path.join(dir, 'model.onnx'));
    const r = await cli(['sweep', 'model.onnx', '--data', 'fmnist-mini:test', '--normalize', 'fmnist', '--limit', '64', '--bits', '1', '--heuristics', 'random', '--no-float', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as SweepResult;
    expect(res.float).toBeNull();
    expect(res.points).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'model.sweep', 'sweep.json'), 'utf8'))).toEqual(res);
  });

  it('--granularity row: every point quantized with row-granular bit maps, recorded in sweep.json', async () => {
    const dir = tmpDir();
    fs.copyFileSync(FMNIST_CNN, path.join(dir, 'model.onnx'));
    const r = await cli(
      ['sweep', 'model.onnx', '--data', 'fmnist-mini:test', '--normalize', 'fmnist', '--limit', '64', '--bits', '1.4', '--heuristics', 'middle-out,bottom-up', '--granularity', 'row', '--no-float', '--json'],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as SweepResult;
    expect(res.granularity).toBe('row');
    expect(res.points.map((p) => p.pipeline)).toEqual([
      'insert-weight-binarization{avg-bits=1.4,max-bits=3,heuristic=middle-out,seed=0,granularity=row},insert-scaling-layer',
      'insert-weight-binarization{avg-bits=1.4,max-bits=3,heuristic=bottom-up,seed=0,granularity=row},insert-scaling-layer',
    ]);
    const m = loadModel(FMNIST_CNN);
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', seed: 0, granularity: 'row' });
    const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION, limit: 64 });
    expect(res.points[0]!.top1).toBe((await evaluate(m, ds)).top1);
    // Without the flag the result has no granularity field.
    const d = await cli(['sweep', 'model.onnx', '--data', 'fmnist-mini:test', '--limit', '16', '--bits', '1.4', '--heuristics', 'middle-out', '--no-float', '--json', '-o', 'd'], { cwd: dir });
    expect(d.code, d.stderr).toBe(0);
    expect('granularity' in (JSON.parse(d.stdout) as SweepResult)).toBe(false);
  });

  it('--help lists the options', async () => {
    const r = await cli(['sweep', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--data <spec>', '--bits <list>', '--heuristics <list>', '--normalize <norm>', '--limit <n>', '--no-float', '-o, --out <dir>', '--act-bits <bits>', '--granularity <g>']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('Examples:\n  $ hbnn-onnx sweep fixtures/models/fmnist-cnn.onnx');
  });
});

describe('sweep errors: nothing written', () => {
  const cases: [string, string[], number, string][] = [
    ['bits above max-bits', ['--bits', '1,4'], 2, 'invalid-option'],
    ['bits not numbers', ['--bits', '1,x'], 2, 'invalid-option'],
    ['an unknown heuristic', ['--heuristics', 'middle-out,sideways'], 2, 'invalid-option'],
    ['calibration flags without --act-bits', ['--calib-limit', '10'], 2, 'invalid-option'],
    ['granularity row with layer among the (default) heuristics', ['--granularity', 'row'], 2, 'invalid-option'],
    ['an unknown granularity', ['--granularity', 'rows', '--heuristics', 'middle-out'], 2, 'invalid-option'],
    ['the output folder is the model', ['-o', 'model.onnx'], 7, 'output-would-overwrite-input'],
    ['a missing data folder', ['--data', 'nowhere/'], 3, 'file-not-found'],
  ];
  for (const [what, args, exit, code] of cases) {
    it(`${what}: exit ${exit}, ${code}`, async () => {
      const dir = tmpDir();
      fs.copyFileSync(FMNIST_CNN, path.join(dir, 'model.onnx'));
      const r = await cli(['sweep', 'model.onnx', '--data', 'fmnist-mini:test', '--limit', '16', ...args], { cwd: dir });
      expect(r.code, r.stderr).toBe(exit);
      expect(r.stderr).toMatch(new RegExp(`^hbnn-onnx: error\\[${code}\\]: `));
      expect(fs.readdirSync(dir)).toEqual(['model.onnx']);
      expect(fs.readFileSync(path.join(dir, 'model.onnx')).equals(fs.readFileSync(FMNIST_CNN))).toBe(true);
    });
  }
});
