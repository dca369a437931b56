/**
 * RTL simulation: the Verilog design of the quantized Fashion-MNIST CNN, built once per
 * configuration with Verilator, is bit-exact against the bit-level IR interpreter on 100
 * Fashion-MNIST test images — every class, every logit, and every unit's accumulators of the
 * first 2 images: W1.4 with per-weight bit maps and W1.4A1.4 with per-row bit maps (row
 * grouping gives PEs without the upper planes). bench/rtl-sim.mjs runs all four
 * combinations on 1,000 images. The testbench can fail: the same build, rerun with one
 * expected class and one expected accumulator changed, reports exactly those.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildVerilatorSim, lowerToVerilog, runSimBuild, runVerilatorSim } from '../../../src/backends/verilog/index.js';
import { ErrorCodes } from '../../../src/errors.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { expectHbnnError } from '../../helpers/build.js';
import { tempDir } from '../vivado-hls/helpers.js';
import { fmnistRtlProgram, RTL_FOLDING, type RtlConfig } from './helpers.js';

const IMAGES = 100;
const data = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, limit: IMAGES }).images;
const root = tempDir('hbnn-rtl-sim-');

const CONFIGS: [string, RtlConfig][] = [
  ['W1.4, per-weight bit maps', { acts: false, granularity: 'entry' }],
  ['W1.4A1.4, per-row bit maps', { acts: true, granularity: 'row' }],
];

describe('verilog RTL simulation (Verilator)', () => {
  CONFIGS.forEach(([name, config], i) => {
    it(`${name}: bit-exact with the bit-level IR interpreter on ${IMAGES} Fashion-MNIST test images`, async () => {
      const program = await fmnistRtlProgram(config);
      const r = lowerToVerilog(program, { folding: RTL_FOLDING, testData: data, testSamples: IMAGES, accSamples: 2 });
      expect(r.units.map((u) => [u.stage.pe, u.stage.simd])).toEqual([[8, 9], [16, 32], [8, 64], [2, 72]]);
      if (config.granularity === 'row') expect(r.files.get(`${r.units[1]!.file}`)).toMatch(/localparam HAS_W[23] = /);
      const dir = path.join(root, `c${i}`);
      writeFilesAtomic(dir, r.files);
      const build = await buildVerilatorSim(dir);
      try {
        const s = await runSimBuild(build);
        expect(s.stdout).toContain('hbnn-tb: PASS');
        expect(s.ok).toBe(true);
        expect(s.summary).toMatchObject({ samples: IMAGES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
        if (i > 0) return;
        // The same build on changed expectations (the testbench reads them at run time).
        const classes = fs.readFileSync(path.join(dir, 'tb_class.hex'), 'utf8').split('\n');
        classes[3] = ((parseInt(classes[3]!, 16) + 1) % 10).toString(16).padStart(2, '0');
        fs.writeFileSync(path.join(dir, 'tb_class.hex'), classes.join('\n'));
        const accFile = path.join(dir, `${r.units[2]!.module}_acc.hex`);
        const acc = fs.readFileSync(accFile, 'utf8').split('\n');
        acc[7] = (BigInt(`0x${acc[7]}`) ^ 1n).toString(16).padStart(16, '0');
        fs.writeFileSync(accFile, acc.join('\n'));
        const bad = await runSimBuild(build);
        expect(bad.ok).toBe(false);
        expect(bad.summary).toMatchObject({ samples: IMAGES, classMismatches: 1, logitMismatches: 0, accumulatorMismatches: 1 });
        expect(bad.stdout).toContain('hbnn-tb: FAIL');
        expect(bad.stdout).toContain('class mismatch: sample 3');
      } finally {
        build.dispose();
      }
    }, 900_000);
  });

  it('a design that does not build is a TOOLCHAIN error quoting Verilator; a missing verilator names its Debian package', async () => {
    const dir = path.join(root, 'c0');
    const top = path.join(dir, 'hbnn_top.v');
    fs.writeFileSync(top, fs.readFileSync(top, 'utf8').replace('endmodule', 'this_is_not_verilog;\nendmodule'));
    const e = await expectHbnnError(() => runVerilatorSim(dir, { optLevel: 'O0' }), ErrorCodes.TOOLCHAIN);
    expect(e.message).toContain('does not build with Verilator');
    expect(e.message).toContain('%Error');
    const missing = await expectHbnnError(() => runVerilatorSim(dir, { verilator: 'no-such-verilator-hbnn' }), ErrorCodes.TOOLCHAIN);
    expect(missing.message).toContain('Debian package "verilator"');
    await expectHbnnError(() => runVerilatorSim(path.join(root, 'nothing-here')), ErrorCodes.FILE_NOT_FOUND);
  }, 300_000);
});
