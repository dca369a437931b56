import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import { readQuantRecord, type QuantRecord } from '../../src/quant/format.js';
import { findWeightCall, readWeightCall } from '../../src/quant/planes.js';
import { writeNpy } from '../../src/data/index.js';
import { Graph, Model } from '../../src/ir/graph.js';
import { setTensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/ir/dtype.js';
import { QUANTIZE_REPORT_FORMAT, quantizeOptionsFromCli } from '../../src/cli/run/quantize.js';

/** A folder holding a copy of the bundled CNN as model.onnx (so default outputs land there). */
function workdir(): { dir: string; model: string; bytes: Buffer } {
  const dir = tmpDir();
  const model = path.join(dir, 'model.onnx');
  fs.copyFileSync(FMNIST_CNN, model);
  return { dir, model, bytes: fs.readFileSync(model) };
}

/** The folder holds exactly `names` and the input model still has its original bytes. */
function expectUntouched(w: { dir: string; model: string; bytes: Buffer }, names = ['model.onnx']): void {
  expect(fs.readdirSync(w.dir).sort()).toEqual([...names].sort());
  expect(fs.readFileSync(w.model).equals(w.bytes)).toBe(true);
}

interface QuantizeJson {
  input: string;
  output: string;
  report?: string;
  pipeline: string;
  avgWeightBits: number;
  avgActivationBits?: number;
  layers: { node: string; op: string; tensor: string; params: number; fractions: number[] | null; histogram: number[] | null; avgBits: number | null }[];
  activations: unknown[];
  timing: { totalMs: number; passes: { pass: string; ms: number }[] };
}

describe('quantize', () => {
  it('writes <stem>.hbnn.onnx beside the input and prints the per-layer table at 1.4 bits', async () => {
    const w = workdir();
    const r = await cli(['quantize', 'model.onnx', '--avg-bits', '1.4'], { cwd: w.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expectUntouched(w, ['model.onnx', 'model.hbnn.onnx']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('model.onnx → model.hbnn.onnx');
    expect(r.stdout).toContain('weights (Middle-Out; target 70.0% 1-bit, 20.0% 2-bit, 10.0% 3-bit)\n');
    expect(r.stdout).toMatch(/^ {2}layer +op +params +1-bit +2-bit +3-bit +avg bits$/m);
    for (const [node, op, params] of [
      ['/c1/Conv', 'Conv', '288'],
      ['/c2/Conv', 'Conv', '18,432'],
      ['/c3/Conv', 'Conv', '73,728'],
      ['/fc/Gemm', 'Gemm', '11,520'],
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}${node} +${op} +${params} +\\d+\\.\\d% +\\d+\\.\\d% +\\d+\\.\\d% +1\\.(39|40)\\d$`, 'm'));
    }
    const total = /^ {2}total \(4 of 4 binarized\) +103,968 +(\d+\.\d)% +(\d+\.\d)% +(\d+\.\d)% +(\d\.\d{3})$/m.exec(r.stdout);
    expect(total).not.toBeNull();
    expect(total!.slice(1, 4).map(Number)).toEqual([70, 20, 10]);
    expect(Number(total![4])).toBeCloseTo(1.4, 3);
    expect(r.stdout).toContain('pipeline: insert-weight-binarization{avg-bits=1.4},insert-scaling-layer\n');
    // The written model carries the record the table came from.
    const rec = readQuantRecord(loadModel(path.join(w.dir, 'model.hbnn.onnx')))!;
    expect(rec.avgWeightBits).toBeCloseTo(1.4, 4);
    expect(rec.weights.map((x) => x.node)).toEqual(['/c1/Conv', '/c2/Conv', '/c3/Conv', '/fc/Gemm']);
    expect(rec.activations).toEqual([]);
  });

  it('--threads 2 writes the same bytes as the default (no --fine-tune needed); --threads 0 is a usage error', async () => {
    const w = workdir();
    const a = await cli(['quantize', 'model.onnx', '-o', 'one.onnx'], { cwd: w.dir });
    const b = await cli(['quantize', 'model.onnx', '-o', 'two.onnx', '--threads', '2'], { cwd: w.dir });
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(fs.readFileSync(path.join(w.dir, 'two.onnx')).equals(fs.readFileSync(path.join(w.dir, 'one.onnx')))).toBe(true);
    const bad = await cli(['quantize', 'model.onnx', '-o', 'bad.onnx', '--threads', '0'], { cwd: w.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--threads/);
    expectUntouched(w, ['model.onnx', 'one.onnx', 'two.onnx']);
  });

  it('prints a pipeline that opt reproduces exactly', async () => {
    const w = workdir();
    const q = await cli(['quantize', 'model.onnx', '--dist', '0.6,0.3,0.1', '--heuristic', 'top-down', '--per-channel', '-o', 'a.onnx', '--json'], { cwd: w.dir });
    expect(q.code, q.stderr).toBe(0);
    const j = JSON.parse(q.stdout) as QuantizeJson;
    expect(j.pipeline).toBe('insert-weight-binarization{dist=0.6|0.3|0.1,heuristic=top-down,per-channel=true},insert-scaling-layer');
    const o = await cli(['opt', 'model.onnx', '-p', j.pipeline, '-o', 'b.onnx'], { cwd: w.dir });
    expect(o.code, o.stderr).toBe(0);
    const a = fs.readFileSync(path.join(w.dir, 'a.onnx'));
    const b = fs.readFileSync(path.join(w.dir, 'b.onnx'));
    expect(a.equals(b)).toBe(true);
    expect(j.avgWeightBits).toBeCloseTo(1.5, 3);
  });

  it('--json prints one document with the per-layer rows; --report writes record, pipeline and timing', async () => {
    const w = workdir();
    const r = await cli(['quantize', 'model.onnx', '--avg-bits', '1.4', '--first-layer', 'keep', '-o', 'out/q.onnx', '--report', 'out/q.json', '--json'], { cwd: w.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as QuantizeJson;
    expect(j.input).toBe('model.onnx');
    expect(j.output).toBe(path.join('out', 'q.onnx'));
    expect(j.report).toBe(path.join('out', 'q.json'));
    expect(j.layers.map((l) => [l.node, l.params, l.avgBits === null])).toEqual([
      ['/c1/Conv', 288, true],
      ['/c2/Conv', 18_432, false],
      ['/c3/Conv', 73_728, false],
      ['/fc/Gemm', 11_520, false],
    ]);
    expect(j.layers[0]!.fractions).toBeNull();
    for (const l of j.layers.slice(1)) {
      expect(l.histogram!.reduce((a, b) => a + b, 0)).toBe(l.params);
      expect(l.fractions!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    }
    expect(j.avgWeightBits).toBeCloseTo(1.4, 3);
    expect(j.timing.passes.map((p) => p.pass)).toEqual(['insert-weight-binarization', 'insert-scaling-layer']);
    const rep = JSON.parse(fs.readFileSync(path.join(w.dir, 'out', 'q.json'), 'utf8')) as {
      format: string;
      version: number;
      pipeline: string;
      options: Record<string, unknown>;
      record: QuantRecord;
      timing: { totalMs: number; quantizeMs: number };
    };
    expect(rep.format).toBe(QUANTIZE_REPORT_FORMAT);
    expect(rep.version).toBe(1);
    expect(rep.pipeline).toBe(j.pipeline);
    expect(rep.options).toEqual({ avgBits: 1.4, firstLayer: 'keep' });
    expect(rep.record).toEqual(readQuantRecord(loadModel(path.join(w.dir, 'out', 'q.onnx'))));
    expect(rep.record.weights).toHaveLength(3);
    expect(rep.timing.totalMs).toBeGreaterThan(0);
    expect(rep.timing.quantizeMs).toBeLessThanOrEqual(rep.timing.totalMs);
  });

  it('text output marks layers kept float', async () => {
    const w = workdir();
    // --exclude before the model: one value per flag, so it does not swallow the model path
    const r = await cli(['quantize', '--exclude', '/fc/*', '--exclude', '/c1/*', 'model.onnx', '--avg-bits', '2'], { cwd: w.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}\/c1\/Conv +Conv +288 +float +32$/m);
    expect(r.stdout).toMatch(/^ {2}\/fc\/Gemm +Gemm +11,520 +float +32$/m);
    expect(r.stdout).toContain('weights (Middle-Out; target 100.0% 2-bit)\n');
    expect(r.stdout).toMatch(/^ {2}\/c2\/Conv +Conv +18,432 +0\.0% +100\.0% +2\.000$/m);
    expect(r.stdout).toMatch(/^ {2}total \(2 of 4 binarized\) +92,160 +0\.0% +100\.0% +2\.000$/m);
    expect(r.stdout).toContain('pipeline: insert-weight-binarization{avg-bits=2,exclude=/fc/*|/c1/*},insert-scaling-layer\n');
  });

  it('binarizes activations with --act-bits, calibrated on the given data', async () => {
    const w = workdir();
    const r = await cli(['quantize', 'model.onnx', '--avg-bits', '1.4', '--act-bits', '1.4', '--calib-data', 'fmnist-mini:train', '--calib-limit', '64', '--normalize', 'fmnist', '--json'], {
      cwd: w.dir,
    });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as QuantizeJson;
    expect(j.pipeline).toBe(
      'insert-weight-binarization{avg-bits=1.4},insert-activation-binarization{avg-bits=1.4},calibrate{data=fmnist-mini:train,limit=64,normalize=fmnist},insert-scaling-layer',
    );
    expect(j.avgActivationBits).toBeCloseTo(1.4, 2);
    const rec = readQuantRecord(loadModel(path.join(w.dir, 'model.hbnn.onnx')))!;
    expect(rec.activations.length).toBeGreaterThan(0);
    for (const a of rec.activations) expect(a.calibrated).toBe(true);
    const text = await cli(['quantize', 'model.onnx', '--act-dist', '0.7,0.2,0.1', '--calib-limit', '64', '--normalize', 'fmnist', '-o', 'b.onnx'], { cwd: w.dir });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^activations \(Middle-Out\)$/m);
    expect(text.stdout).toMatch(/^ {2}binarizer +feeds +1-bit +2-bit +3-bit +avg bits +calibrated$/m);
    expect(text.stdout).toMatch(/^ {2}average 1\.\d{3} bits per activation$/m);
  });

  it('--fine-tune: quantizes, then fine-tunes on --train-data; the report and --json carry the training log', async () => {
    const w = workdir();
    const r = await cli(
      [
        'quantize', 'model.onnx', '--avg-bits', '1.4', '--fine-tune', '--train-data', 'fmnist-mini:train', '--eval-data', 'fmnist-mini:test', '--eval-limit', '200',
        '--normalize', 'fmnist', '--train-limit', '256', '--batch-size', '32', '--max-steps', '3', '--threads', '1', '--report', 'q.json', '--json',
      ],
      { cwd: w.dir },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // --normalize is used (training data): no warning
    const j = JSON.parse(r.stdout) as QuantizeJson & { fineTune: { mode: string; stopped: string; before: { evalTop1: number }; epochs: { steps: number }[]; data: { train: string } } };
    expect(j.fineTune.mode).toBe('fine-tune');
    expect(j.fineTune.stopped).toBe('max-steps');
    expect(j.fineTune.epochs[0]!.steps).toBe(3);
    expect(j.fineTune.data.train).toBe('fmnist-mini:train');
    expect(j.avgWeightBits).toBeCloseTo(1.4, 3);
    const rep = JSON.parse(fs.readFileSync(path.join(w.dir, 'q.json'), 'utf8')) as { fineTune: unknown; timing: { fineTuneMs: number } };
    expect(rep.fineTune).toEqual(j.fineTune);
    expect(rep.timing.fineTuneMs).toBeGreaterThan(0);
    const rec = readQuantRecord(loadModel(path.join(w.dir, 'model.hbnn.onnx')))!;
    expect(rec.weights).toHaveLength(4);
    expectUntouched(w, ['model.onnx', 'model.hbnn.onnx', 'q.json']);
  });

  it('warns that calibration flags do nothing without activation binarization', async () => {
    const w = workdir();
    const r = await cli(['quantize', 'model.onnx', '--normalize', 'fmnist', '--calib-limit', '10'], { cwd: w.dir });
    expect(r.code).toBe(0);
    // --normalize is recorded in the output model (hbnn.input_normalization), so not ignored.
    expect(r.stderr).toBe('hbnn-onnx: warning: --calib-limit only affects activation binarization (--act-bits or --act-dist); ignored\n');
    expect(r.stdout).toContain('pipeline: insert-weight-binarization{avg-bits=1.4},insert-scaling-layer\n');
  });

  it('--help lists every option with examples', async () => {
    const r = await cli(['quantize', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: hbnn-onnx quantize [options] <model>');
    for (const flag of [
      '--avg-bits <bits>',
      '--dist <fractions>',
      '--max-bits <n>',
      '--heuristic <name>',
      '--per-channel',
      '--granularity <g>',
      '--include <globs>',
      '--exclude <globs>',
      '--first-layer <mode>',
      '--last-layer <mode>',
      '--seed <n>',
      '--act-bits <bits>',
      '--act-dist <fractions>',
      '--act-heuristic <name>',
      '--calib-data <spec>',
      '--calib-limit <n>',
      '--normalize <norm>',
      '-o, --output <file>',
      '--report <file>',
      '--json',
      '--fine-tune',
      '--train-data <spec>',
      '--eval-data <spec>',
      '--epochs <n>',
      '--batch-size <n>',
      '--lr <x>',
    ]) {
      expect(r.stdout, flag).toContain(flag);
    }
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('(choices: "middle-out", "middle-out-residual", "top-down", "bottom-up", "random", "layer")');
    expect(r.stdout).toContain('Examples:\n  $ hbnn-onnx quantize fixtures/models/fmnist-cnn.onnx --avg-bits 1.4');
  });
});

describe('quantize --granularity row', () => {
  /** Bitwidth of each output channel of a saved weight; throws when a channel's entries differ. */
  function channelWidths(m: ReturnType<typeof loadModel>, planesName: string, shape: number[], axis: number): number[] {
    const wc = readWeightCall(findWeightCall(m.graph, planesName)!);
    const planes = wc.planes;
    const k = wc.k;
    const n = shape.reduce((a, b) => a * b, 1);
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const channels = shape[axis]!;
    const widths = new Array<number>(channels).fill(-1);
    for (let j = 0; j < n; j++) {
      let bits = 0;
      for (let i = 0; i < k; i++) if (planes[i * n + j] !== 0) bits++;
      const c = Math.floor(j / stride) % channels;
      if (widths[c] === -1) widths[c] = bits;
      else if (widths[c] !== bits) throw new Error(`${planesName}: channel ${c} has entries at ${widths[c]} and ${bits} bits`);
    }
    return widths;
  }

  it('saves planes with one bitwidth per output channel, records granularity row, 1.4 bits on average', async () => {
    const w = workdir();
    const r = await cli(['quantize', 'model.onnx', '--granularity', 'row', '-o', 'rows.onnx'], { cwd: w.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('weights (Middle-Out, one bitwidth per output channel; target 70.0% 1-bit, 20.0% 2-bit, 10.0% 3-bit)\n');
    expect(r.stdout).toContain('pipeline: insert-weight-binarization{avg-bits=1.4,granularity=row},insert-scaling-layer\n');
    const m = loadModel(path.join(w.dir, 'rows.onnx'));
    const rec = readQuantRecord(m)!;
    expect(rec.weights.map((x) => x.node)).toEqual(['/c1/Conv', '/c2/Conv', '/c3/Conv', '/fc/Gemm']);
    expect(rec.avgWeightBits).toBeGreaterThan(1.39);
    expect(rec.avgWeightBits).toBeLessThan(1.41);
    for (const x of rec.weights) {
      expect(x.granularity).toBe('row');
      const layer = m.graph.nodes.find((n) => n.name === x.node)!;
      const axis = x.op === 'Conv' || layer.attrInt('transB', 0) === 1 ? 0 : 1;
      const widths = channelWidths(m, x.planes, x.shape, axis);
      const perChannel = x.shape.reduce((a, b) => a * b, 1) / x.shape[axis]!;
      // The histogram counts entries: whole channels at each width.
      expect(x.histogram).toEqual(x.histogram.map((_, b) => widths.filter((v) => v === b + 1).length * perChannel));
      expect(x.avgBits).toBeCloseTo(1.4, 1);
      expect(new Set(widths).size, x.node).toBeGreaterThan(1);
    }
    // The default (per entry) has channels with mixed widths and no granularity field.
    const d = await cli(['quantize', 'model.onnx', '-o', 'entry.onnx'], { cwd: w.dir });
    expect(d.code, d.stderr).toBe(0);
    const e = loadModel(path.join(w.dir, 'entry.onnx'));
    const er = readQuantRecord(e)!;
    for (const x of er.weights) expect('granularity' in x).toBe(false);
    expect(() => channelWidths(e, er.weights[2]!.planes, er.weights[2]!.shape, 0)).toThrow(/has entries at/);
    // --granularity entry is the default, byte for byte.
    const x = await cli(['quantize', 'model.onnx', '--granularity', 'entry', '-o', 'entry2.onnx'], { cwd: w.dir });
    expect(x.code, x.stderr).toBe(0);
    expect(fs.readFileSync(path.join(w.dir, 'entry2.onnx')).equals(fs.readFileSync(path.join(w.dir, 'entry.onnx')))).toBe(true);
  });

  it('opt reproduces it from the printed pipeline; --threads 2 gives the same bytes; inspect shows the granularity', async () => {
    const w = workdir();
    const q = await cli(['quantize', 'model.onnx', '--granularity', 'row', '--heuristic', 'middle-out-residual', '--per-channel', '-o', 'a.onnx', '--json'], { cwd: w.dir });
    expect(q.code, q.stderr).toBe(0);
    const j = JSON.parse(q.stdout) as QuantizeJson & { layers: { granularity?: string }[] };
    expect(j.pipeline).toBe('insert-weight-binarization{avg-bits=1.4,heuristic=middle-out-residual,per-channel=true,granularity=row},insert-scaling-layer');
    expect(j.layers.map((l) => l.granularity)).toEqual(['row', 'row', 'row', 'row']);
    const o = await cli(['opt', 'model.onnx', '-p', j.pipeline, '-o', 'b.onnx'], { cwd: w.dir });
    expect(o.code, o.stderr).toBe(0);
    const t = await cli(['quantize', 'model.onnx', '--granularity', 'row', '--heuristic', 'middle-out-residual', '--per-channel', '--threads', '2', '-o', 'c.onnx'], { cwd: w.dir });
    expect(t.code, t.stderr).toBe(0);
    const a = fs.readFileSync(path.join(w.dir, 'a.onnx'));
    expect(fs.readFileSync(path.join(w.dir, 'b.onnx')).equals(a)).toBe(true);
    expect(fs.readFileSync(path.join(w.dir, 'c.onnx')).equals(a)).toBe(true);
    const i = await cli(['inspect', 'a.onnx'], { cwd: w.dir });
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toMatch(/\/c2\/Conv .* middle-out-residual, per row /);
    const ij = await cli(['inspect', 'a.onnx', '--json'], { cwd: w.dir });
    const rep = JSON.parse(ij.stdout) as { quantization: { weights: { granularity?: string }[] } };
    expect(rep.quantization.weights.map((x) => x.granularity)).toEqual(['row', 'row', 'row', 'row']);
  });
});

describe('quantize errors: exit code, one error line, nothing written', () => {
  const cases: [string, string[], number, string][] = [
    ['avg-bits below 1', ['--avg-bits', '0.5'], 2, 'invalid-option'],
    ['avg-bits above max-bits', ['--avg-bits', '3.5'], 2, 'invalid-option'],
    ['avg-bits above an explicit max-bits', ['--avg-bits', '2.5', '--max-bits', '2'], 2, 'invalid-option'],
    ['avg-bits not a number', ['--avg-bits', 'lots'], 2, 'invalid-option'],
    ['dist not summing to 1', ['--dist', '0.7,0.2,0.2'], 2, 'invalid-option'],
    ['dist disagreeing with avg-bits', ['--dist', '0.7,0.2,0.1', '--avg-bits', '1.6'], 2, 'invalid-option'],
    ['dist with a negative fraction', ['--dist', '1.2,-0.2'], 2, 'invalid-option'],
    ['act-bits above 3', ['--act-bits', '4'], 2, 'invalid-option'],
    ['act-dist disagreeing with act-bits', ['--act-dist', '0.7,0.2,0.1', '--act-bits', '2'], 2, 'invalid-option'],
    ['a bad normalization', ['--act-bits', '1.4', '--normalize', 'zscore'], 2, 'invalid-option'],
    ['calib-limit 0', ['--act-bits', '1.4', '--calib-limit', '0'], 2, 'invalid-option'],
    ['a negative seed', ['--seed', '-1'], 2, 'invalid-option'],
    ['an unknown granularity', ['--granularity', 'channel'], 2, 'invalid-option'],
    ['granularity row with the layer heuristic', ['--granularity', 'row', '--heuristic', 'layer'], 2, 'invalid-option'],
    ['a bad data spec', ['--act-bits', '1.4', '--calib-data', 'fmnst:train'], 2, 'invalid-option'],
    ['the output is the input', ['-o', 'model.onnx'], 7, 'output-would-overwrite-input'],
    ['the report is the input', ['--report', 'model.onnx'], 7, 'output-would-overwrite-input'],
    ['include matching nothing', ['--include', 'nothing*'], 4, 'nothing-to-quantize'],
    ['every layer excluded', ['--first-layer', 'keep', '--last-layer', 'keep', '--exclude', '/c2/*,/c3/*'], 4, 'nothing-to-quantize'],
    ['a missing calibration folder', ['--act-bits', '1.4', '--calib-data', 'no/such/folder'], 3, 'file-not-found'],
    ['training flags without --fine-tune', ['--epochs', '2', '--lr', '0.1'], 2, 'invalid-option'],
    ['--fine-tune without --train-data', ['--fine-tune', '--epochs', '1'], 2, 'invalid-option'],
    ['--fine-tune with a bad --momentum', ['--fine-tune', '--train-data', 'fmnist-mini:train', '--momentum', '1'], 2, 'invalid-option'],
    ['--fine-tune with a missing training folder', ['--fine-tune', '--train-data', 'no/such/folder'], 3, 'file-not-found'],
  ];
  for (const [what, args, exit, code] of cases) {
    it(`${what}: exit ${exit}, ${code}`, async () => {
      const w = workdir();
      const r = await cli(['quantize', 'model.onnx', ...args], { cwd: w.dir });
      expect(r.code, r.stderr).toBe(exit);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^hbnn-onnx: error\\[${code}\\]: `));
      expectUntouched(w);
    });
  }

  it('an output or report path that is a folder: exit 7, file-write, before any work', async () => {
    const w = workdir();
    fs.mkdirSync(path.join(w.dir, 'folder'));
    for (const args of [['-o', 'folder'], ['--report', 'folder']]) {
      const r = await cli(['quantize', 'model.onnx', ...args], { cwd: w.dir });
      expect(r.code).toBe(7);
      expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-write\]: cannot write (-o|--report) folder: it is a folder; nothing was done\n$/);
      expectUntouched(w, ['model.onnx', 'folder']);
      expect(fs.readdirSync(path.join(w.dir, 'folder'))).toEqual([]);
    }
  });

  it('the input given through a hard link as -o: exit 7', async () => {
    const w = workdir();
    fs.linkSync(w.model, path.join(w.dir, 'alias.onnx'));
    const r = await cli(['quantize', 'model.onnx', '-o', 'alias.onnx'], { cwd: w.dir });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[output-would-overwrite-input\]: /);
    expectUntouched(w, ['model.onnx', 'alias.onnx']);
  });

  it('calibration data that does not fit the model: exit 3, data-mismatch', async () => {
    const w = workdir();
    const x = new Float32Array(4 * 3 * 32 * 32);
    writeNpy(path.join(w.dir, 'cifar.npy'), { dtype: 'float32', shape: [4, 3, 32, 32], data: x });
    const r = await cli(['quantize', 'model.onnx', '--act-bits', '1.4', '--calib-data', 'cifar.npy', '-o', 'q.onnx', '--report', 'q.json'], { cwd: w.dir });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[data-mismatch\]: /);
    expectUntouched(w, ['model.onnx', 'cifar.npy']);
  });

  it('a model with nothing to binarize: exit 4, nothing-to-quantize', async () => {
    const w = workdir();
    const m = new Model(new Graph('relu'));
    m.irVersion = 8n;
    m.opsetImports = [{ domain: '', version: 13 }];
    const x = m.graph.addInput('x');
    setTensorType(x, DataType.FLOAT, ['N', 4]);
    const relu = m.graph.createNode('Relu', [x], ['y'], { name: 'relu' });
    m.graph.append(relu);
    m.graph.outputs.push(relu.outputs[0]!);
    saveModel(m, path.join(w.dir, 'relu.onnx'));
    const bytes = fs.readFileSync(path.join(w.dir, 'relu.onnx'));
    const r = await cli(['quantize', 'relu.onnx'], { cwd: w.dir });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[nothing-to-quantize\]: .*no Conv, Gemm or MatMul/);
    expect(fs.readdirSync(w.dir).sort()).toEqual(['model.onnx', 'relu.onnx']);
    expect(fs.readFileSync(path.join(w.dir, 'relu.onnx')).equals(bytes)).toBe(true);
  });

  it('a missing model: exit 3, file-not-found', async () => {
    const w = workdir();
    const r = await cli(['quantize', 'missing.onnx'], { cwd: w.dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-not-found\]: /);
    expectUntouched(w);
  });

  it('an unknown heuristic is invalid-option (exit 2) naming the flag and the choices of the schema', async () => {
    const w = workdir();
    const r = await cli(['quantize', 'model.onnx', '--heuristic', 'outside-in'], { cwd: w.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('hbnn-onnx: error[invalid-option]: --heuristic outside-in is not one of middle-out, middle-out-residual, top-down, bottom-up, random, layer\n');
    expectUntouched(w);
  });
});

describe('quantizeOptionsFromCli', () => {
  it('maps the flags to QuantizeOptions', () => {
    expect(quantizeOptionsFromCli({}).options).toEqual({ avgBits: 1.4 });
    expect(quantizeOptionsFromCli({ dist: '0.7, 0.2, 0.1', avgBits: '1.4' }).options).toEqual({ dist: [0.7, 0.2, 0.1].map((x) => expect.closeTo(x, 12)) });
    expect(quantizeOptionsFromCli({ avgBits: '2.5', maxBits: '4', include: ['a,b', 'c'], seed: '7', perChannel: true }).options).toEqual({
      avgBits: 2.5,
      maxBits: 4,
      include: ['a', 'b', 'c'],
      seed: 7,
      perChannel: true,
    });
    expect(quantizeOptionsFromCli({ threads: '2' }).options).toEqual({ avgBits: 1.4, threads: 2 });
    expect(quantizeOptionsFromCli({ granularity: ' row ', heuristic: 'bottom-up' }).options).toEqual({ avgBits: 1.4, heuristic: 'bottom-up', granularity: 'row' });
    expect(quantizeOptionsFromCli({ granularity: 'entry', heuristic: 'layer' }).options).toEqual({ avgBits: 1.4, heuristic: 'layer', granularity: 'entry' });
    expect(quantizeOptionsFromCli({ actBits: '1.2', actHeuristic: 'bottom-up', calibData: ' fmnist-mini:train ', normalize: 'None' }).options).toEqual({
      avgBits: 1.4,
      actBits: 1.2,
      actHeuristic: 'bottom-up',
      calibData: 'fmnist-mini:train',
      normalize: 'none',
    });
  });
});
