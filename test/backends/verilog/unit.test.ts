/**
 * emitUnitDesign: standalone units for synthesis sweeps. Every configuration kind lints
 * cleanly with Verilator (errors, not style warnings), the same configuration and seed give
 * the same files, and the unit is the vivado-hls backend's (same forms and plane guards).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitUnitDesign, unitModule, type UnitConfig } from '../../../src/backends/verilog/index.js';
import { ErrorCodes } from '../../../src/errors.js';
import { expectHbnnError } from '../../helpers/build.js';
import { tempDir } from '../vivado-hls/helpers.js';

const root = tempDir('hbnn-verilog-unit-');

const CONFIGS: UnitConfig[] = [
  { kind: 'matvec', inputs: 64, outputs: 16, pe: 4, simd: 8, weightPlanes: 3, activationPlanes: 2, outputPlanes: 1 },
  { kind: 'matvec', inputs: 32, outputs: 8, pe: 2, simd: 16, weightPlanes: 1, activationPlanes: 1, zeroLevel: false, outputPlanes: 2 },
  { kind: 'conv', inputs: 4, outputs: 8, pe: 2, simd: 6, weightPlanes: 2, bitMap: 'row', activationPlanes: 0, outputPlanes: 0 },
  { kind: 'conv', inputs: 8, outputs: 16, pe: 8, simd: 24, weightPlanes: 3, bitMap: 'row', activationPlanes: 3, outputPlanes: 3 },
];

describe('verilog emitUnitDesign', () => {
  CONFIGS.forEach((c, i) => {
    it(`config ${i} (${c.kind}, PE ${c.pe}, SIMD ${c.simd}, ${c.weightPlanes} weight planes, ${c.activationPlanes} activation planes) lints with Verilator`, () => {
      const d = emitUnitDesign(c);
      const again = emitUnitDesign(c);
      expect([...again.files]).toEqual([...d.files]);
      const dir = path.join(root, `c${i}`);
      fs.mkdirSync(dir, { recursive: true });
      for (const [k, v] of d.files) fs.writeFileSync(path.join(dir, k), v);
      expect(d.files.has(`${d.top}.v`)).toBe(true);
      // lint-only: syntax, elaboration and types; width warnings are style here
      execFileSync('verilator', ['--lint-only', '-Wno-fatal', '-Wno-WIDTH', '-DHBNN_CHECK', `${d.top}.v`, '--top-module', d.top], { cwd: dir, stdio: 'pipe' });
      expect(d.unit.pe).toBe(c.pe);
      expect(d.estimate.luts).toBeGreaterThan(0);
      const v = d.files.get(`${d.top}.v`)!;
      expect(v).toContain(`module ${d.top}`);
      // plane guards: a row bit map with PE > 1 leaves some PEs without the upper planes
      if (c.bitMap === 'row' && c.weightPlanes > 1) {
        expect(v).toMatch(/localparam HAS_W\d = /);
        // a guarded PE's term is 0 outright (n<t> = 0), so synthesis drops its accumulator and K_t multiplier
        expect(v).toMatch(/end else begin\s*x(\d+) = 0;\s*n\1 = 0;\s*end/);
      }
    });
  });

  it('the input buffer is an hbnn_ram of SF words read one column fold ahead (a register when SF = 1)', () => {
    for (const c of CONFIGS) {
      const d = emitUnitDesign(c);
      const sf = d.unit.mw / d.unit.simd;
      const ieb = d.unit.in.entry.kind === 'binary' ? 2 * d.unit.in.entry.planes : d.unit.in.entry.bits;
      expect(sf).toBeGreaterThan(1);
      const m = unitModule(d.unit);
      expect(m.memories.filter((x) => x.kind === 'ram')).toEqual([{ path: 'ibuf', kind: 'ram', width: d.unit.simd * ieb, depth: sf }]);
      const v = d.files.get(`${d.top}.v`)!;
      expect(v).toMatch(/hbnn_ram #\([\s\S]*?\) ibuf \(/);
      expect(v).toContain('.raddr(sf_rd)');
      expect(v).not.toMatch(/ibuf\[sf\]/);
    }
    const one = emitUnitDesign({ kind: 'matvec', inputs: 16, outputs: 8, pe: 2, simd: 16, weightPlanes: 1, activationPlanes: 1, outputPlanes: 1 });
    expect(unitModule(one.unit).memories.filter((x) => x.kind === 'ram')).toEqual([]);
    expect(one.files.get(`${one.top}.v`)!).toMatch(/reg \[[^\]]*\] ibuf;/);
  });

  it('a seed changes the weights; bad geometry is an invalid-option error', async () => {
    const a = emitUnitDesign({ ...CONFIGS[0]!, seed: 1 });
    const b = emitUnitDesign({ ...CONFIGS[0]!, seed: 2 });
    expect(a.files.get(`${a.top}_ws1.hex`)).not.toEqual(b.files.get(`${b.top}_ws1.hex`));
    await expectHbnnError(async () => emitUnitDesign({ ...CONFIGS[0]!, pe: 3 }), ErrorCodes.INVALID_OPTION);
    await expectHbnnError(async () => emitUnitDesign({ ...CONFIGS[0]!, simd: 7 }), ErrorCodes.INVALID_OPTION);
  });
});
