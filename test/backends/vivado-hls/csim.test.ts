/**
 * C simulation: the generated project for the quantized Fashion-MNIST CNN (Middle-Out,
 * normalize 'fmnist'; W1.4 and W1.4A1.4), compiled with g++ -O1, is bit-exact against the
 * bit-level IR interpreter on 200 test images — every class, every logit, and every unit's
 * accumulators for the first images. bench/hls-csim.mjs runs the same on 1,000 images.
 * Also: the testbench does report a mismatch, and a project that does not compile is a
 * TOOLCHAIN error quoting the compiler.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCsim, lowerVivadoHls, runCsim, runTestbench } from '../../../src/backends/vivado-hls/index.js';
import { ErrorCodes } from '../../../src/errors.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { expectHbnnError } from '../../helpers/build.js';
import { fmnistProgram, tempDir, type FmnistConfig } from './helpers.js';

const IMAGES = 200;
const data = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, limit: IMAGES }).images;
const root = tempDir('hbnn-hls-csim-');
// Covers both ±1 × fixed-point paths (lane by lane at SIMD 9, bit planes at 32/64/72), a
// width converter of no integer ratio (128 → 72) and weight words wider than 64 bits.
const FOLD = { layers: { '/c1/Conv': { pe: 8, simd: 9 }, '/c2/Conv': { pe: 4, simd: 32 }, '/c3/Conv': { pe: 8, simd: 64 }, '/fc/Gemm': { pe: 2, simd: 72 } } };

async function project(config: FmnistConfig, images: number, accImages: number): Promise<string> {
  const program = await fmnistProgram(config);
  const r = lowerVivadoHls(program, { folding: FOLD, testData: data, testSamples: images, accSamples: accImages });
  const dir = path.join(root, `${config}-${images}`);
  writeFilesAtomic(dir, r.files);
  return dir;
}

describe('vivado-hls C simulation (g++)', () => {
  for (const config of ['W1.4', 'W1.4A1.4'] as const) {
    it(`${config}: bit-exact with the bit-level IR interpreter on ${IMAGES} Fashion-MNIST test images`, async () => {
      const dir = await project(config, IMAGES, 3);
      const build = await compileCsim(dir, { optLevel: 'O1' });
      try {
        const r = await runTestbench(build);
        expect(r.stdout).toContain('hbnn-tb: PASS');
        expect(r.ok).toBe(true);
        expect(r.summary).toMatchObject({ samples: IMAGES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });

        // The testbench can fail: change one expected class and one expected accumulator.
        const lines = fs.readFileSync(path.join(dir, 'tb_data.txt'), 'utf8').split('\n');
        const header = 2 + 4; // format, sizes, 4 unit lines
        const classLine = header + 1; // sample 0: inputs, class, logits, accumulators
        lines[classLine] = String((Number(lines[classLine]) + 1) % 10);
        const accLine = header + 3;
        const acc = lines[accLine]!.split(' ');
        acc[5] = String(Number(acc[5]) + 1);
        lines[accLine] = acc.join(' ');
        fs.writeFileSync(path.join(dir, 'tb_bad.txt'), lines.join('\n'));
        const bad = await runTestbench(build, 'tb_bad.txt');
        expect(bad.ok).toBe(false);
        expect(bad.exitCode).toBe(1);
        expect(bad.summary).toMatchObject({ classMismatches: 1, accumulatorMismatches: 1, logitMismatches: 0 });
        expect(bad.stdout).toContain('hbnn-tb: FAIL');
      } finally {
        build.dispose();
      }
    });
  }

  it('a project that does not compile is a TOOLCHAIN error quoting the compiler', async () => {
    const program = await fmnistProgram('W1.4');
    const r = lowerVivadoHls(program, { testSamples: 1, accSamples: 0 });
    const dir = path.join(root, 'broken');
    writeFilesAtomic(dir, r.files);
    const top = path.join(dir, 'hbnn_top.cpp');
    fs.writeFileSync(top, fs.readFileSync(top, 'utf8').replace('#pragma HLS DATAFLOW', '#pragma HLS DATAFLOW\n  this_is_not_cpp;'));
    const e = await expectHbnnError(() => runCsim(dir, { optLevel: 'O0' }), ErrorCodes.TOOLCHAIN);
    expect(e.message).toContain('does not compile');
    expect(e.message).toContain('this_is_not_cpp');
    await expectHbnnError(() => runCsim(path.join(root, 'nothing-here')), ErrorCodes.FILE_NOT_FOUND);
    await expectHbnnError(() => runCsim(dir, { cxx: 'no-such-compiler-hbnn' }), ErrorCodes.TOOLCHAIN);
  });
});
