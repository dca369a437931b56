import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { BACKENDS } from '../../src/cli/run/lower.js';
import { loadModel } from '../../src/onnx/io.js';
import { bitProgramFromJson, lowerBitIrFiles, lowerToBitIR, measureStreamRanges } from '../../src/bitir/index.js';
import { lowerAsic } from '../../src/backends/asic/index.js';
import { lowerVivadoHls } from '../../src/backends/vivado-hls/index.js';
import { FMNIST_NORMALIZATION, loadDataset } from '../../src/data/index.js';

// One quantized model (W1.4, Middle-Out) for the whole file; each test lowers it into its own folder.
const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-cli-lower-'));
const QMODEL = path.join(shared, 'cnn.hbnn.onnx');
afterAll(() => fs.rmSync(shared, { recursive: true, force: true }));
beforeAll(async () => {
  const r = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '-o', QMODEL]);
  expect(r.code, r.stderr).toBe(0);
});

/** A folder with a copy of the quantized model as q.onnx. */
function workdir(): string {
  const d = tmpDir();
  fs.copyFileSync(QMODEL, path.join(d, 'q.onnx'));
  return d;
}

describe('lower --backend bit-ir', () => {
  it('writes exactly the files lowerBitIrFiles returns, into <stem>.bit-ir by default', async () => {
    const d = workdir();
    const r = await cli(['lower', 'q.onnx', '--backend', 'bit-ir'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const expected = lowerBitIrFiles(loadModel(QMODEL));
    expect(fs.readdirSync(path.join(d, 'q.bit-ir')).sort()).toEqual([...expected.keys()].sort());
    for (const [name, data] of expected) expect(fs.readFileSync(path.join(d, 'q.bit-ir', name), 'utf8'), name).toBe(data);
    const program = bitProgramFromJson(expected.get('ir.json') as string);
    expect(r.stdout.split('\n')[0]).toBe('q.onnx → q.bit-ir (bit-ir)');
    expect(r.stdout).toContain(`  ${program.ops.length} ops: ${program.ops.map((o) => o.op).join(' → ')}\n`);
    expect(r.stdout).toMatch(/^ {2}103,968 parameters, [\d,]+ MACs and [\d,]+ bit operations per frame; /m);
    expect(r.stdout).toMatch(/^ {2}q\.bit-ir\/ir\.json +[\d.]+ KiB$/m);
  });

  it('passes the fixed-point options to the lowering; --json', async () => {
    const d = workdir();
    const r = await cli(['lower', 'q.onnx', '--backend', 'bit-ir', '--input-bits', '16', '--input-frac', '12', '--fixed-act-bits', '18', '-o', 'ir', '--json'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { backend: string; out: string; files: { name: string; bytes: number }[]; summary: { options: Record<string, number>; params: number } };
    expect(j.backend).toBe('bit-ir');
    expect(j.out).toBe('ir');
    expect(j.summary.params).toBe(103_968);
    expect(j.summary.options).toMatchObject({ inputBits: 16, inputFrac: 12, actBits: 18 });
    const p = bitProgramFromJson(fs.readFileSync(path.join(d, 'ir', 'ir.json'), 'utf8'));
    expect(p.options).toEqual(lowerToBitIR(loadModel(QMODEL), { inputBits: 16, inputFrac: 12, actBits: 18 }).options);
    for (const f of j.files) expect(fs.statSync(path.join(d, 'ir', f.name)).size).toBe(f.bytes);
  });

  it('--range-data: each stream\'s fraction bits from its range on those samples (measureStreamRanges), widths unchanged', async () => {
    const d = workdir();
    const r = await cli(['lower', 'q.onnx', '--backend', 'bit-ir', '--range-data', 'fmnist-mini:train', '--range-samples', '16', '--normalize', 'fmnist', '-o', 'ir', '--json'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { summary: { streamRanges: { samples: number; streams: number } } };
    const m = loadModel(QMODEL);
    const ranges = measureStreamRanges(m, loadDataset('fmnist-mini:train', { normalize: FMNIST_NORMALIZATION, limit: 16 }).images);
    expect(j.summary.streamRanges).toEqual({ data: 'fmnist-mini:train', samples: 16, streams: Object.keys(ranges).length });
    const p = bitProgramFromJson(fs.readFileSync(path.join(d, 'ir', 'ir.json'), 'utf8'));
    expect(p).toEqual(lowerToBitIR(m, { streamRanges: ranges }));
    const fixed = lowerToBitIR(m);
    const kinds = (q: typeof p): string[] => q.tensors.map((t) => (t.type.kind === 'fixed' ? `${t.type.bits}` : t.type.kind));
    expect(kinds(p)).toEqual(kinds(fixed));
    expect(p.tensors.map((t) => (t.type.kind === 'fixed' ? t.type.frac : -1))).not.toEqual(fixed.tensors.map((t) => (t.type.kind === 'fixed' ? t.type.frac : -1)));
  });
});

describe('lower --backend asic', () => {
  it('writes report.json/md/html equal to lowerAsic and prints the headline figures', async () => {
    const d = workdir();
    const r = await cli(['lower', 'q.onnx', '--backend', 'asic', '--clock-mhz', '200', '-o', 'asic'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    // The report is titled by the model file's name: the CLI lowered q.onnx.
    const { files, report } = lowerAsic(loadModel(QMODEL), { clockMhz: 200, modelName: 'q' });
    expect(report.model).toBe('q');
    expect(fs.readdirSync(path.join(d, 'asic')).sort()).toEqual(['report.html', 'report.json', 'report.md']);
    for (const [name, data] of files) expect(fs.readFileSync(path.join(d, 'asic', name), 'utf8'), name).toBe(data);
    expect(report.clockMhz).toBe(200);
    expect(r.stdout).toContain(
      `  unit counts at 200 MHz (per-layer work from the quantization record): ${report.summary.areaMm2.toFixed(3)} mm², ${(report.summary.powerW * 1000).toFixed(1)} mW, `,
    );
    expect(r.stdout).toContain('  1.400 average weight bits, ');
  });

  it('--from-bit-ir, --scaling paper, --paper-anchor and --sweep from a sweep.json', async () => {
    const d = workdir();
    fs.writeFileSync(path.join(d, 'sweep.json'), JSON.stringify({ results: [{ heuristic: 'middle-out', avgBits: 1.4, top1: 0.83 }] }));
    const r = await cli(['lower', 'q.onnx', '--backend', 'asic', '--from-bit-ir', '--input-bits', '12', '--scaling', 'paper', '--paper-anchor', 'vgg8-cifar10', '--sweep', 'sweep.json', '--json'], {
      cwd: d,
    });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { summary: { source: string; scaling: string } };
    expect(j.summary.source).toBe('bit-ir');
    expect(j.summary.scaling).toBe('paper');
    const rep = JSON.parse(fs.readFileSync(path.join(d, 'q.asic', 'report.json'), 'utf8')) as { sweep?: { results: unknown[] } };
    expect(rep.sweep?.results).toHaveLength(1);
  });
});

describe('lower --backend vivado-hls', () => {
  it('writes the project lowerVivadoHls returns and prints the FPGA estimate', async () => {
    const d = workdir();
    const r = await cli(['lower', 'q.onnx', '--backend', 'vivado-hls', '--target-fps', '2000', '--part', 'xc7z020'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    const expected = lowerVivadoHls(loadModel(QMODEL), { targetFps: 2000, part: 'xc7z020' });
    expect(fs.readdirSync(path.join(d, 'q.vivado-hls')).sort()).toEqual([...expected.files.keys()].sort());
    for (const [name, data] of expected.files) expect(fs.readFileSync(path.join(d, 'q.vivado-hls', name), 'utf8'), name).toBe(data);
    const t = expected.estimates.total;
    expect(r.stdout).toContain(`  xc7z020 at 200 MHz, folding for 2,000 frames/s: ${Math.round(t.fps).toLocaleString('en-US')} frames/s (bottleneck ${t.bottleneck}), `);
    expect(r.stdout).toMatch(/^ {2}q\.vivado-hls\/hbnn_top\.cpp +[\d.]+ KiB$/m);
  });

  it('a design beyond its part: written anyway, a warning on stderr, summary.fit in --json', async () => {
    const d = workdir();
    const r = await cli(['lower', 'q.onnx', '--backend', 'vivado-hls', '--target-fps', '100000', '--part', 'xc7z020', '--test-samples', '1', '--json'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/hbnn-onnx: warning: DOES NOT FIT the xc7z020: this folding needs [\d,]+% of its LUTs/);
    const fit = JSON.parse(r.stdout).summary.fit;
    expect(fit.verdict).toBe('fits-when-folded');
    expect(fit.over).toEqual(['luts']);
    expect(fit.ratio.luts).toBeGreaterThan(1);
    expect(fs.existsSync(path.join(d, 'q.vivado-hls', 'hbnn_top.cpp'))).toBe(true);
    const ok = await cli(['lower', 'q.onnx', '--backend', 'vivado-hls', '--target-fps', '2000', '-o', 'small', '--test-samples', '1'], { cwd: d });
    expect(ok.stderr).not.toContain('warning');
  });

  // g++ is required (CI installs it): without it this test fails with exit 6, it is never skipped.
  it('--test-data and --csim: the generated project compiles and matches the bit-level IR', async () => {
    const d = workdir();
    const r = await cli(
      ['lower', 'q.onnx', '--backend', 'vivado-hls', '--test-data', 'fmnist-mini:test', '--normalize', 'fmnist', '--test-samples', '4', '--acc-samples', '1', '--csim', '-o', 'hls', '--json'],
      { cwd: d },
    );
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { summary: { csim: { ok: boolean; samples: number; classMismatches: number; logitMismatches: number; accumulatorMismatches: number } } };
    expect(j.summary.csim).toMatchObject({ ok: true, samples: 4, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    // The testbench inputs are the first 4 normalized test images.
    const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION, limit: 4 });
    const expected = lowerVivadoHls(loadModel(QMODEL), { testData: ds.images, testSamples: 4, accSamples: 1 });
    expect(fs.readFileSync(path.join(d, 'hls', 'tb_data.txt'), 'utf8')).toBe(expected.files.get('tb_data.txt'));
  });

  it('row-granular bit maps: rows grouped on the PEs by default (csim passes), --keep-row-order keeps FINN\'s order', async () => {
    const d = tmpDir();
    const q = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '--granularity', 'row', '-o', path.join(d, 'row.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    const run = async (extra: string[], out: string): Promise<{ folding: { layers: Record<string, { rowOrder?: number[] }> }; luts: number }> => {
      const r = await cli(['lower', 'row.onnx', '--backend', 'vivado-hls', '--folding', 'fold.json', '--test-data', 'fmnist-mini:test', '--normalize', 'fmnist', '--test-samples', '6', '--csim', '-o', out, '--json', ...extra], { cwd: d });
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as { summary: { luts: number; csim: { ok: boolean; classMismatches: number; accumulatorMismatches: number } } };
      expect(j.summary.csim).toMatchObject({ ok: true, classMismatches: 0, accumulatorMismatches: 0 });
      return { folding: JSON.parse(fs.readFileSync(path.join(d, out, 'folding.json'), 'utf8')), luts: j.summary.luts };
    };
    fs.writeFileSync(path.join(d, 'fold.json'), JSON.stringify({ layers: { '/c1/Conv': { pe: 8, simd: 9 }, '/c2/Conv': { pe: 8, simd: 32 }, '/c3/Conv': { pe: 16, simd: 32 }, '/fc/Gemm': { pe: 2, simd: 64 } } }));
    const grouped = await run([], 'grouped');
    const kept = await run(['--keep-row-order'], 'kept');
    for (const layer of ['/c1/Conv', '/c2/Conv', '/c3/Conv']) {
      const order = grouped.folding.layers[layer]!.rowOrder!;
      expect([...order].sort((a, b) => a - b)).toEqual(order.map((_, i) => i));
      expect(kept.folding.layers[layer]!.rowOrder).toBeUndefined();
    }
    expect(grouped.folding.layers['/fc/Gemm']!.rowOrder).toBeUndefined();
    expect(grouped.luts).toBeLessThan(kept.luts);
    expect(fs.readFileSync(path.join(d, 'grouped', 'README.md'), 'utf8')).toMatch(/\| \/c2\/Conv \|.*\| grouped \|/);
  });

  it('a compiler that does not exist: exit 6, toolchain (the project stays written)', async () => {
    const d = workdir();
    const saved = process.env['CXX'];
    process.env['CXX'] = 'no-such-c++-compiler';
    try {
      const r = await cli(['lower', 'q.onnx', '--backend', 'vivado-hls', '--csim', '-o', 'hls'], { cwd: d });
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/^hbnn-onnx: error\[toolchain\]: C\+\+ compiler "no-such-c\+\+-compiler" not found/);
      expect(fs.existsSync(path.join(d, 'hls', 'hbnn_top.cpp'))).toBe(true);
    } finally {
      if (saved === undefined) delete process.env['CXX'];
      else process.env['CXX'] = saved;
    }
  });
});

describe('lower errors: nothing written', () => {
  const cases: [string, string[], number, string][] = [
    ['an option of another backend', ['--backend', 'bit-ir', '--tech', 'tech.json'], 2, 'invalid-option'],
    ['bit-ir formats for asic without --from-bit-ir', ['--backend', 'asic', '--logit-bits', '24'], 2, 'invalid-option'],
    ['a fraction not below its width', ['--backend', 'bit-ir', '--input-bits', '8', '--input-frac', '8'], 2, 'invalid-option'],
    ['a zero width', ['--backend', 'bit-ir', '--fixed-act-bits', '0'], 2, 'invalid-option'],
    ['an unknown paper anchor', ['--backend', 'asic', '--paper-anchor', 'alexnet'], 2, 'invalid-option'],
    ['a negative clock', ['--backend', 'asic', '--clock-mhz', '-5'], 2, 'invalid-option'],
    ['a missing technology file', ['--backend', 'asic', '--tech', 'none.json'], 3, 'file-not-found'],
    ['an unknown FPGA part', ['--backend', 'vivado-hls', '--part', 'xc9z999'], 2, 'invalid-option'],
    ['--normalize without --test-data', ['--backend', 'vivado-hls', '--normalize', 'fmnist'], 2, 'invalid-option'],
    ['--range-samples without --range-data', ['--backend', 'bit-ir', '--range-samples', '8'], 2, 'invalid-option'],
    ['--range-data for asic', ['--backend', 'asic', '--from-bit-ir', '--range-data', 'fmnist-mini:train'], 2, 'invalid-option'],
    ['range data that is missing', ['--backend', 'bit-ir', '--range-data', 'nowhere/'], 3, 'file-not-found'],
    ['an asic option for vivado-hls', ['--backend', 'vivado-hls', '--tech', 't.json'], 2, 'invalid-option'],
    ['a vivado-hls option for bit-ir', ['--backend', 'bit-ir', '--keep-row-order'], 2, 'invalid-option'],
    ['a missing folding file', ['--backend', 'vivado-hls', '--folding', 'fold.json'], 3, 'file-not-found'],
    ['test data that is missing', ['--backend', 'vivado-hls', '--test-data', 'nowhere/'], 3, 'file-not-found'],
    ['the output folder is the model', ['--backend', 'bit-ir', '-o', 'q.onnx'], 7, 'output-would-overwrite-input'],
  ];
  for (const [what, args, exit, code] of cases) {
    it(`${what}: exit ${exit}, ${code}`, async () => {
      const d = workdir();
      const before = fs.readFileSync(path.join(d, 'q.onnx'));
      const r = await cli(['lower', 'q.onnx', ...args], { cwd: d });
      expect(r.code, r.stderr).toBe(exit);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^hbnn-onnx: error\\[${code}\\]: `));
      expect(fs.readdirSync(d)).toEqual(['q.onnx']);
      expect(fs.readFileSync(path.join(d, 'q.onnx')).equals(before)).toBe(true);
    });
  }

  it('a float model is not-quantized (exit 4), for every backend', async () => {
    const d = tmpDir();
    fs.copyFileSync(FMNIST_CNN, path.join(d, 'float.onnx'));
    for (const backend of ['bit-ir', 'vivado-hls', 'verilog', 'asic']) {
      const r = await cli(['lower', 'float.onnx', '--backend', backend], { cwd: d });
      expect(r.code, backend).toBe(4);
      expect(r.stderr).toMatch(/^hbnn-onnx: error\[not-quantized\]: .*run `hbnn-onnx quantize` first/);
    }
    expect(fs.readdirSync(d)).toEqual(['float.onnx']);
  });

  it('no --backend, or an unknown one, is a usage error', async () => {
    const none = await cli(['lower', QMODEL]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("error: required option '--backend <name>' not specified");
    const bad = await cli(['lower', QMODEL, '--backend', 'fpga']);
    expect(bad.code).toBe(2);
    // the choices are the one backend list (BACKENDS), in its order, and include every backend the docs name
    const names = BACKENDS.map((b) => b.name);
    expect(names).toEqual(expect.arrayContaining(['bit-ir', 'vivado-hls', 'verilog', 'asic']));
    expect(bad.stderr).toContain(`argument 'fpga' is invalid. Allowed choices are ${names.join(', ')}.`);
  });

  it('--help lists the backends and their options', async () => {
    const r = await cli(['lower', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--backend <name>', '-o, --out <dir>', '--input-bits <n>', '--tech <file>', '--scaling <rule>', '--from-bit-ir', '--sweep <file>', '--target-fps <fps>', '--part <name>', '--csim', '--sim', '--synth <target>', '--liberty <file>']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('Examples:\n  $ hbnn-onnx lower model.hbnn.onnx --backend bit-ir -o out/bitir');
  });
});
