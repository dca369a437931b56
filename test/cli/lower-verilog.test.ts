/**
 * `lower --backend verilog`: the files lowerToVerilog returns, --sim end to end (Verilator,
 * bit-exact with the bit-level IR), and bad input: a missing verilator (PATH without it) is a
 * toolchain error naming the Debian package before anything is written; options of other
 * backends are refused.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import { lowerToVerilog } from '../../src/backends/verilog/index.js';
import { quantize } from '../../src/drivers/quantize.js';
import { buildPoolNet } from '../../zoo/topologies.js';

const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-cli-verilog-'));
const QMODEL = path.join(shared, 'cnn.hbnn.onnx');
afterAll(() => fs.rmSync(shared, { recursive: true, force: true }));
beforeAll(async () => {
  const r = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '--act-bits', '1.4', '-o', QMODEL]);
  expect(r.code, r.stderr).toBe(0);
});

function workdir(): string {
  const d = tmpDir();
  fs.copyFileSync(QMODEL, path.join(d, 'q.onnx'));
  return d;
}

describe('lower --backend verilog', () => {
  it('writes exactly the files lowerToVerilog returns; --sim builds and runs the testbench with Verilator', async () => {
    const d = workdir();
    const r = await cli(['lower', 'q.onnx', '--backend', 'verilog', '--test-data', 'fmnist-mini:test', '--normalize', 'fmnist', '--test-samples', '3', '--acc-samples', '1', '--sim', '-o', 'rtl', '--json'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { summary: { top: string; sim: { ok: boolean; samples: number; classMismatches: number; logitMismatches: number; accumulatorMismatches: number } } };
    expect(j.summary.top).toBe('hbnn_top');
    expect(j.summary.sim).toMatchObject({ ok: true, samples: 3, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    // The same files as the API with the same options (synthetic test data: compare names, and the design sources byte for byte).
    const api = lowerToVerilog(loadModel(path.join(d, 'q.onnx')), { testSamples: 3, accSamples: 1 });
    expect(fs.readdirSync(path.join(d, 'rtl')).sort()).toEqual([...api.files.keys()].sort());
    for (const f of api.sources) expect(fs.readFileSync(path.join(d, 'rtl', f), 'utf8'), f).toBe(api.files.get(f));
  }, 600_000);

  it('--sim without verilator on PATH: exit 6, toolchain naming the Debian package, nothing written', async () => {
    const d = workdir();
    const saved = { path: process.env['PATH'], verilator: process.env['VERILATOR'] };
    process.env['PATH'] = path.join(d, 'no-tools-here');
    delete process.env['VERILATOR'];
    try {
      const r = await cli(['lower', 'q.onnx', '--backend', 'verilog', '--sim', '-o', 'rtl'], { cwd: d });
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/error\[toolchain\]: verilator not found on PATH: install the Debian package "verilator"/);
      expect(fs.existsSync(path.join(d, 'rtl'))).toBe(false);
    } finally {
      process.env['PATH'] = saved.path;
      if (saved.verilator !== undefined) process.env['VERILATOR'] = saved.verilator;
    }
  });

  it('a stage the verilog backend does not map (fixed-point weights of a kept first layer) is a lowering error (exit 4) naming the node, nothing written', async () => {
    const d = tmpDir();
    const q = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '--first-layer', 'keep', '-o', path.join(d, 'k.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    const r = await cli(['lower', 'k.onnx', '--backend', 'verilog', '-o', 'rtl'], { cwd: d });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/error\[lowering\]: verilog cannot map node "[^"]*c1[^"]*" \(unit\): its weights are fixed point .* \(the verilog backend maps the stages input, dwc, window, unit, /);
    expect(fs.existsSync(path.join(d, 'rtl'))).toBe(false);
  });

  it('--sim --simulator icarus runs the testbench with Icarus Verilog (a tiny pooling net: average pools, LeakyRelu); --simulator without --sim is a usage error', async () => {
    const d = tmpDir();
    const m = buildPoolNet({ inputShape: [1, 8, 8], width: 2, hidden: 8 });
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out' });
    saveModel(m, path.join(d, 'p.onnx'));
    const r = await cli(['lower', 'p.onnx', '--backend', 'verilog', '--sim', '--simulator', 'icarus', '--test-samples', '2', '--acc-samples', '1', '-o', 'rtl', '--json'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { summary: { sim: Record<string, unknown> } };
    expect(j.summary.sim).toMatchObject({ simulator: 'icarus', ok: true, samples: 2, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    expect(fs.readFileSync(path.join(d, 'rtl', 'hbnn_top.v'), 'utf8')).toMatch(/hbnn_avgpool #\(/);
    const bad = await cli(['lower', 'p.onnx', '--backend', 'verilog', '--simulator', 'icarus', '-o', 'rtl2'], { cwd: d });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--simulator chooses the simulator of --sim');
    expect(fs.existsSync(path.join(d, 'rtl2'))).toBe(false);
  }, 300_000);

  it('options of other backends are refused before anything is written', async () => {
    const d = workdir();
    for (const flag of ['--csim', '--weights']) {
      const r = await cli(['lower', 'q.onnx', '--backend', 'verilog', flag, ...(flag === '--weights' ? ['files'] : []), '-o', 'rtl'], { cwd: d });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${flag} does not apply to --backend verilog`);
      expect(fs.existsSync(path.join(d, 'rtl'))).toBe(false);
    }
  });
});
