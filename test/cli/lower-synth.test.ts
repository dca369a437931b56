/**
 * `lower --backend verilog --synth`: bad input is refused before anything is lowered or
 * written (the synthesis itself is covered by test/backends/synth on small units).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tmpDir } from './helpers.js';

const MODEL = path.resolve('fixtures/models/fmnist-resnet.w1.4.hbnn.onnx');

describe('lower --synth: bad input', () => {
  it.each([
    [['--synth', 'vivado'], 2, /--synth must be one of xilinx, asic, got 'vivado'/],
    [['--synth', 'xilinx', '--liberty', 'cells.lib'], 2, /--liberty applies to --synth asic/],
    [['--liberty', 'cells.lib'], 2, /--liberty applies to --synth asic/],
    [['--synth', 'asic', '--liberty', 'no-such.lib'], 3, /error\[file-not-found\]: Liberty file .*no-such\.lib not found/],
  ])('%j: exit %i, nothing written', async (extra, code, message) => {
    const d = tmpDir();
    const r = await cli(['lower', MODEL, '--backend', 'verilog', '-o', path.join(d, 'out'), ...(extra as string[])]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message as RegExp);
    expect(fs.existsSync(path.join(d, 'out'))).toBe(false);
  });

  it('a missing yosys: toolchain error naming the Debian package, nothing written', async () => {
    const d = tmpDir();
    const before = process.env['YOSYS'];
    process.env['YOSYS'] = '/no/such/yosys';
    try {
      const r = await cli(['lower', MODEL, '--backend', 'verilog', '-o', path.join(d, 'out'), '--synth', 'xilinx']);
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/error\[toolchain\].*apt-get install yosys/);
      expect(fs.existsSync(path.join(d, 'out'))).toBe(false);
    } finally {
      if (before === undefined) delete process.env['YOSYS'];
      else process.env['YOSYS'] = before;
    }
  });
});
