/**
 * `lower --backend verilog --synth [--power]`: bad input is refused before anything is lowered or
 * written (the synthesis itself and the power run are covered by test/backends/synth on small
 * units and designs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tmpDir } from './helpers.js';
import { DEFAULT_LIBERTY } from '../../src/backends/synth/liberty.js';

const MODEL = path.resolve('fixtures/models/fmnist-resnet.w1.4.hbnn.onnx');

describe('lower --synth: bad input', () => {
  it.each([
    [['--synth', 'vivado'], 2, /--synth must be one of xilinx, asic, got 'vivado'/],
    [['--synth', 'xilinx', '--liberty', 'cells.lib'], 2, /--liberty applies to --synth asic/],
    [['--liberty', 'cells.lib'], 2, /--liberty applies to --synth asic/],
    [['--synth', 'asic', '--liberty', 'no-such.lib'], 3, /error\[file-not-found\]: Liberty file .*no-such\.lib not found/],
    [['--synth', 'xilinx', '--abc', 'fast'], 2, /--abc applies to --synth asic/],
    [['--abc', 'fast'], 2, /--abc applies to --synth asic/],
    [['--synth', 'asic', '--abc', 'slow'], 2, /--abc/],
    [['--power'], 2, /--power needs --synth asic/],
    [['--synth', 'xilinx', '--power'], 2, /--power needs --synth asic/],
    [['--synth', 'asic', '--power-images', '2'], 2, /--power-images applies to --power/],
    [['--synth', 'asic', '--power', '--power-images', '0'], 2, /--power-images/],
    [['--synth', 'asic', '--power', '--power-stages', ','], 2, /--power-stages names no stage/],
  ])('%j: exit %i, nothing written', async (extra, code, message) => {
    const d = tmpDir();
    const r = await cli(['lower', MODEL, '--backend', 'verilog', '-o', path.join(d, 'out'), ...(extra as string[])]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message as RegExp);
    expect(fs.existsSync(path.join(d, 'out'))).toBe(false);
  });

  it('--power with another Liberty file: invalid-option (only the default library has known cell models), nothing written', async () => {
    const d = tmpDir();
    const lib = path.join(d, 'copy.lib');
    fs.copyFileSync(DEFAULT_LIBERTY, lib);
    const r = await cli(['lower', MODEL, '--backend', 'verilog', '-o', path.join(d, 'out'), '--synth', 'asic', '--liberty', lib, '--power']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[invalid-option\]: --power needs the library's Verilog cell models/);
    expect(fs.existsSync(path.join(d, 'out'))).toBe(false);
  });

  it('--power without Icarus Verilog: toolchain error naming the Debian package iverilog, nothing written', async () => {
    const d = tmpDir();
    const before = process.env['IVERILOG'];
    process.env['IVERILOG'] = '/no/such/iverilog';
    try {
      const r = await cli(['lower', MODEL, '--backend', 'verilog', '-o', path.join(d, 'out'), '--synth', 'asic', '--power']);
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/error\[toolchain\]: \/no\/such\/iverilog not found on PATH: install the Debian package "iverilog" \(apt-get install iverilog\)/);
      expect(fs.existsSync(path.join(d, 'out'))).toBe(false);
    } finally {
      if (before === undefined) delete process.env['IVERILOG'];
      else process.env['IVERILOG'] = before;
    }
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
