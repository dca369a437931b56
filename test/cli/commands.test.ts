import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, REPO_ROOT, tmpDir } from './helpers.js';
import { fakeEliminateIdentity, markModel, testRegistry } from './test-passes.js';
import { builtinPasses } from '../../passes/registry.js';
import { PassRegistry } from '../../src/pass/manager.js';
import { DEMO_PIPELINE } from '../../src/cli/demo.js';
import { formatBytes, formatCount, formatDuration, table } from '../../src/cli/format.js';
import type { InspectReport } from '../../src/inspect.js';
import { describeOption, type PassDescription, type PipelineDescription } from '../../src/cli/passes.js';
import { QUANTIZE_OPTIONS } from '../../src/drivers/quantize.js';

describe('passes', () => {
  it('lists exactly the built-in registered passes', async () => {
    const names = builtinPasses()
      .list()
      .map((p) => p.name);
    const json = await cli(['passes', '--json']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as { passes: PassDescription[]; pipelines: PipelineDescription[] };
    expect(doc.passes.map((p) => p.name)).toEqual(names);
    // the named pipeline quantize with its schema: the options quantize's flags are made from
    expect(doc.pipelines.map((p) => p.name)).toEqual(['quantize']);
    expect(doc.pipelines[0]!.options).toEqual(QUANTIZE_OPTIONS.map(describeOption));
    expect(doc.pipelines[0]!.options.find((o) => o.name === 'avg-bits')).toEqual({
      name: 'avg-bits',
      type: 'number',
      default: 1.4,
      doc: 'target average bits per weight (1 to max-bits); ignored when dist is given',
      min: 1,
      max: 8,
    });
    expect(doc.pipelines[0]!.options.find((o) => o.name === 'calib-limit')).toEqual({
      name: 'calib-limit',
      type: 'integer',
      doc: 'number of calibration samples; by default 512 for the activations, 1024 for --bn-recalibrate',
      min: 1,
    });
    const text = await cli(['passes']);
    expect(text.code).toBe(0);
    const listed = text.stdout
      .split('\n')
      .filter((l) => /^[a-z]/.test(l) && !/registered|named pipeline/.test(l))
      .map((l) => l.split(/\s+/)[0]);
    expect(listed).toEqual([...names, 'quantize']);
    expect(text.stdout).toContain('\n1 named pipeline (the options of a command that runs it)\n\nquantize  ');
    expect(text.stdout).toContain('    act-bits: number (min 1, max 3)  binarize activations too');
  });

  it('describes options, requirements and properties from the declarations', async () => {
    const text = await cli(['passes'], { registry: testRegistry });
    expect(text.stdout).toContain('3 registered passes (options go in braces: name{key=value,...})\n');
    expect(text.stdout).toMatch(/^mark-model {2,}sets a metadata entry on the model \(test pass\)$/m);
    expect(text.stdout).toContain('    key: string (default touched)  metadata key\n');
    expect(text.stdout).toContain('    value: string (default yes; one of yes|no)  metadata value\n');
    expect(text.stdout).toContain('    times: integer (default 1; min 1, max 3)  how often to set it\n');
    expect(text.stdout).toContain('    establishes: no-identity\n');
    expect(text.stdout).toContain('    requires: topologically-sorted\n');
    const json = (JSON.parse((await cli(['passes', '--json'], { registry: testRegistry })).stdout) as { passes: PassDescription[]; pipelines: unknown[] }).passes;
    expect(json.map((p) => p.name)).toEqual(['explode', 'mark-model', 'needs-sorted']);
    expect(json[1]).toEqual({
      name: 'mark-model',
      summary: markModel.summary,
      options: [
        { name: 'key', type: 'string', default: 'touched', doc: 'metadata key' },
        { name: 'value', type: 'string', default: 'yes', doc: 'metadata value', choices: ['yes', 'no'] },
        { name: 'times', type: 'integer', default: 1, doc: 'how often to set it', min: 1, max: 3 },
      ],
      requires: [],
      establishes: ['no-identity'],
      preserves: 'all',
    });
  });

  it('says so when nothing is registered', async () => {
    const r = await cli(['passes'], { registry: () => new PassRegistry() });
    expect(r.stdout).toBe('no passes are registered\n');
  });
});

describe('help and version', () => {
  it('--help shows the commands, examples and exit codes', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const cmd of ['demo', 'inspect', 'opt', 'passes']) expect(r.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
    expect(r.stdout).toContain('Examples:\n  $ hbnn-onnx demo');
    expect(r.stdout).toContain('Exit codes: 0 ok, 2 usage, 3 input, 4 model, 5 pipeline, 6 runtime, 7 output, 70 internal');
  });

  it('every command has --help with examples', async () => {
    for (const cmd of ['demo', 'inspect', 'opt', 'passes']) {
      const r = await cli([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain(`Usage: hbnn-onnx ${cmd}`);
      expect(r.stdout, cmd).toContain(`Examples:\n  $ hbnn-onnx ${cmd}`);
    }
    const opt = await cli(['help', 'opt']);
    expect(opt.code).toBe(0);
    for (const flag of ['--pipeline <text>', '--output <file>', '--no-verify', '--print-ir-after <passes>', '--timing', '--external-data-threshold <bytes>']) {
      expect(opt.stdout).toContain(flag);
    }
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });

  it('no command or an unknown command is a usage error (exit 2)', async () => {
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: hbnn-onnx');
    const unknown = await cli(['inpsect', FMNIST_CNN]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'inpsect'");
    expect(unknown.stderr).toContain('(Did you mean inspect?)');
  });
});

describe('demo', () => {
  it('inspects, optimizes, quantizes to 1.4 bits, evaluates float and HBNN, fine-tunes, lowers, and summarizes', async () => {
    const cwd = tmpDir();
    const registered = new Set(builtinPasses().list().map((p) => p.name));
    const missing = DEMO_PIPELINE.filter((p) => !registered.has(p));
    const bundledBefore = fs.readFileSync(FMNIST_CNN);
    const r = await cli(['demo'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('hbnn-onnx demo: bundled model fixtures/models/fmnist-cnn.onnx (Fashion-MNIST CNN)');
    expect(lines[1]).toMatch(/^\[1\/7\] inspect {4}15 nodes \(.*\); 105,099 parameters \(410\.5 KiB\) in 8 layers; 0 warnings → out\/demo\/inspect\.json$/);
    expect(lines[2]).toMatch(/^\[2\/7\] optimize {3}.*: 15 → \d+ nodes → out\/demo\/fmnist-cnn\.opt\.onnx$/);
    if (missing.length > 0) expect(r.stdout).toContain(`skipped, not registered in this build: ${missing.join(', ')}\n`);
    else expect(r.stdout).not.toContain('skipped');
    expect(r.stdout).toMatch(
      /^\[3\/7\] quantize {3}weights at 1\.4 bits \(Middle-Out\): 4 layers, 103,968 weights, 70\.0% 1-bit, 20\.0% 2-bit, 10\.0% 3-bit, average 1\.400 bits → out\/demo\/fmnist-cnn\.hbnn\.onnx$/m,
    );
    expect(r.stdout).toMatch(/^ {17}pipeline: insert-weight-binarization\{avg-bits=1\.4,heuristic=middle-out\},insert-scaling-layer \(record and timing: out\/demo\/quantize\.json\)$/m);
    expect(r.stdout).toMatch(/^\[4\/7\] evaluate {3}fmnist-mini:test \(2,000 images, normalized fmnist\) → out\/demo\/eval\.json$/m);
    const float = /^ {17}float {5}top-1 (\d+\.\d\d)%, top-5 \d+\.\d\d%$/m.exec(r.stdout);
    const hbnn = /^ {17}HBNN 1\.4 {2}top-1 (\d+\.\d\d)%, top-5 \d+\.\d\d% \(-\d+\.\d\d points top-1, no fine-tuning\)$/m.exec(r.stdout);
    expect(float).not.toBeNull();
    expect(hbnn).not.toBeNull();
    expect(Number(float![1])).toBeGreaterThan(85);
    expect(Number(hbnn![1])).toBeGreaterThan(60);
    const ft = /^\[5\/7\] fine-tune {2}16 steps of 64 on the first 1,024 images of fmnist-mini:train → out\/demo\/fmnist-cnn\.ft\.onnx\n {17}top-1 on fmnist-mini:test: (\d+\.\d\d)% → (\d+\.\d\d)% \(log: out\/demo\/fine-tune\.json\)$/m.exec(r.stdout);
    expect(ft).not.toBeNull();
    expect(ft![1]).toBe(hbnn![1]);
    // Brief fine-tuning recovers most of the accuracy lost by binarization.
    expect(Number(ft![2])).toBeGreaterThan(Number(hbnn![1]) + 3);
    expect(r.stdout).toMatch(/^\[6\/7\] lower {6}bit-ir \(fmnist-cnn\.ft\.onnx\): ir\.json, ir\.txt, summary\.md → out\/demo\/bit-ir$/m);
    expect(r.stdout).toMatch(/^ {19}103,968 parameters, [\d,]+ MACs and [\d,]+ bit operations per frame; .*$/m);
    expect(r.stdout).toMatch(/^ {17}vivado-hls \(fmnist-cnn\.ft\.onnx\): 15 files → out\/demo\/vivado-hls$/m);
    expect(r.stdout).toMatch(/^ {19}xc7z045 at 200 MHz, folding for 1,000 frames\/s: [\d,]+ frames\/s \(bottleneck \S+\), [\d,]+ LUTs .*$/m);
    // The HLS project is compiled with g++ and its testbench agrees exactly with the bit-level IR.
    expect(r.stdout).toMatch(/^ {19}C simulation passed \(g\+\+\): 100 samples, 0 class \/ 0 logit \/ 0 accumulator mismatches; .*$/m);
    expect(r.stdout).toMatch(/^ {17}asic \(fmnist-cnn\.ft\.onnx\): report\.json, report\.md, report\.html → out\/demo\/asic$/m);
    expect(r.stdout).toMatch(/^ {19}unit counts at [\d.]+ MHz \(per-layer work from the quantization record\): [\d.]+ mm², [\d.]+ mW, [\d,]+ frames\/s, [\d.]+ µJ\/frame$/m);
    expect(r.stdout).toMatch(/^\[7\/7\] summary {4}top-1 \d+\.\d\d% float → \d+\.\d\d% HBNN → \d+\.\d\d% fine-tuned; parameter storage 410\.5 KiB → [\d.]+ KiB; 1\.400 average weight bits → out\/demo\/summary\.json$/m);
    expect(lines.at(-1)).toMatch(/^done in .*; 29 files in out\/demo$/);
    const outDir = path.join(cwd, 'out', 'demo');
    expect(fs.readdirSync(outDir).sort()).toEqual(['asic', 'bit-ir', 'eval.json', 'fine-tune.json', 'fmnist-cnn.ft.onnx', 'fmnist-cnn.hbnn.onnx', 'fmnist-cnn.opt.onnx', 'inspect.json', 'quantize.json', 'summary.json', 'vivado-hls']);
    expect(fs.readdirSync(path.join(outDir, 'bit-ir')).sort()).toEqual(['ir.json', 'ir.txt', 'summary.md']);
    expect(fs.readdirSync(path.join(outDir, 'asic')).sort()).toEqual(['report.html', 'report.json', 'report.md']);
    const report = JSON.parse(fs.readFileSync(path.join(outDir, 'inspect.json'), 'utf8')) as InspectReport;
    expect(report.format).toBe('hbnn-onnx.inspect');
    expect(report.file).toBe(path.join('fixtures', 'models', 'fmnist-cnn.onnx'));
    expect(report.totals.parameters).toBe(105_099);
    expect(fs.statSync(path.join(outDir, 'fmnist-cnn.opt.onnx')).size).toBeGreaterThan(400_000);
    const ev = JSON.parse(fs.readFileSync(path.join(outDir, 'eval.json'), 'utf8')) as { float: { top1: number; samples: number }; quantized: { top1: number; perClass: unknown[] } };
    expect(ev.float.samples).toBe(2000);
    expect((ev.float.top1 * 100).toFixed(2)).toBe(float![1]);
    expect((ev.quantized.top1 * 100).toFixed(2)).toBe(hbnn![1]);
    expect(ev.quantized.perClass).toHaveLength(10);
    const summary = JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8')) as { avgWeightBits: number; files: string[]; lowered: { backend: string }[] };
    expect(summary.avgWeightBits).toBeCloseTo(1.4, 3);
    expect(summary.lowered.map((l) => l.backend)).toEqual(['bit-ir', 'vivado-hls', 'asic']);
    expect(summary.files).toHaveLength(29);
    expect(fs.existsSync(path.join(outDir, 'vivado-hls', 'hbnn_top.cpp'))).toBe(true);
    for (const f of summary.files) expect(fs.existsSync(path.join(outDir, f)), f).toBe(true);
    // The bundled model is never touched.
    expect(fs.readFileSync(FMNIST_CNN).equals(bundledBefore)).toBe(true);
  });

  it('uses the registered demo passes and names the missing ones', async () => {
    const out = tmpDir();
    const r = await cli(['demo', '-o', out], { registry: () => new PassRegistry().register(fakeEliminateIdentity, markModel) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('optimize   eliminate-identity: 15 → 15 nodes → ');
    expect(r.stdout).toContain('skipped, not registered in this build: fold-constants, eliminate-dead-code\n');
    expect(fs.readdirSync(out).sort()).toEqual(['asic', 'bit-ir', 'eval.json', 'fine-tune.json', 'fmnist-cnn.ft.onnx', 'fmnist-cnn.hbnn.onnx', 'fmnist-cnn.opt.onnx', 'inspect.json', 'quantize.json', 'summary.json', 'vivado-hls']);
  });
});

describe('formatting helpers', () => {
  it('formats counts, bytes, durations and tables without locale', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(105099)).toBe('105,099');
    expect(formatCount(-1234567.5)).toBe('-1,234,567.5');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(420396)).toBe('410.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatDuration(12.4)).toBe('12 ms');
    expect(formatDuration(12_400)).toBe('12.4 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(table(['a', 'n'], [['xx', '1'], ['y', '100']], ['left', 'right'])).toBe('  a     n\n  --  ---\n  xx    1\n  y   100');
  });
});
