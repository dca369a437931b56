/**
 * Wide parameter constants in the top module: a stage's packed constant (a threshold stage's
 * THR and CODE, a requantizer's MULTS, ...) longer than PARAM_LITERAL_DIGITS hex digits is
 * written as a concatenation of literals, one per line, of the same value. Icarus Verilog's
 * lexer refuses a token past its 16 KiB buffer ("input buffer overflow, can't enlarge buffer
 * because scanner uses REJECT"): the Brevitas TFC 1W1A (fixtures/qonnx) quantized W1.4A1.4 has
 * a threshold stage over its 784 inputs (the input normalization folded into the first
 * activation binarizer) whose THR was one 38,808-digit literal, and `lower --backend verilog
 * --sim --simulator icarus` failed to compile.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lowerToVerilog } from '../../../src/backends/verilog/index.js';
import { packedParam, PARAM_LITERAL_DIGITS, SOURCES_FILE, TB_FILE, TB_MODULE } from '../../../src/backends/verilog/design.js';
import { packHex } from '../../../src/backends/verilog/ast.js';
import { loadModel } from '../../../src/onnx/io.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { loadDataset } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { REPO_ROOT } from '../../helpers/build.js';
import { tempDir } from '../vivado-hls/helpers.js';

/** The value of a packed parameter as written: one literal or a concatenation of literals. */
function literalValue(text: string): { bits: number; value: bigint } {
  const parts = [...text.matchAll(/(\d+)'h([0-9a-f]+)/g)];
  expect(text.replace(/(\d+)'h([0-9a-f]+)/g, '').replace(/[\s{},]/g, '')).toBe('');
  let value = 0n;
  let bits = 0;
  for (const [, w, hex] of parts) {
    const width = Number(w);
    const v = BigInt(`0x${hex}`);
    expect(v < 1n << BigInt(width)).toBe(true);
    value = (value << BigInt(width)) | v;
    bits += width;
  }
  return { bits, value };
}

const longestLine = (text: string): number => Math.max(...text.split('\n').map((l) => l.length));

describe('verilog: wide parameter constants', () => {
  it('a constant longer than PARAM_LITERAL_DIGITS hex digits is a concatenation of the same value, short lines', () => {
    // TFC's input threshold stage: 784 channels x 9 thresholds of 22 bits
    const fields = Array.from({ length: 784 * 9 }, (_, i) => (i * 2654435761) % (1 << 22) - (1 << 21));
    const text = packedParam(fields, 22);
    const hex = packHex(fields, 22);
    expect(hex.length).toBeGreaterThan(4 * PARAM_LITERAL_DIGITS);
    expect(literalValue(text)).toEqual({ bits: 784 * 9 * 22, value: BigInt(`0x${hex}`) });
    expect(longestLine(text)).toBeLessThan(PARAM_LITERAL_DIGITS + 32);
    // short constants stay one literal, as before
    expect(packedParam([1, 2, 3], 8)).toBe("24'h030201");
    const edge = Array.from({ length: PARAM_LITERAL_DIGITS / 2 }, (_, i) => i & 0xff);
    expect(packedParam(edge, 8)).toBe(`${PARAM_LITERAL_DIGITS * 4}'h${packHex(edge, 8)}`);
    // one digit more: two literals, the high one a single partial digit (a width not a multiple of 4)
    const odd = [...edge, 5];
    expect(literalValue(packedParam(odd, 8))).toEqual({ bits: odd.length * 8, value: BigInt(`0x${packHex(odd, 8)}`) });
    expect(literalValue(packedParam([...Array(PARAM_LITERAL_DIGITS * 2).fill(1), 1], 2)).bits).toBe(PARAM_LITERAL_DIGITS * 4 + 2);
  });

  it('TFC 1W1A at W1.4A1.4: the 784-channel threshold stage is written in lines Icarus Verilog reads, and the design compiles', async () => {
    const m = loadModel(path.join(REPO_ROOT, 'fixtures/qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC/TFC_1W1A.onnx'));
    await quantize(m, { avgBits: 1.4, actBits: 1.4, calibData: 'fmnist-mini:train', calibLimit: 32 });
    const data = loadDataset('fmnist-mini:test', { limit: 1 }).images;
    const r = lowerToVerilog(m, { testData: data, testSamples: 1, accSamples: 1 });
    const top = r.files.get('hbnn_top.v')!;
    const thr = /hbnn_threshold #\(([\s\S]*?)\) u_/.exec(top);
    expect(thr?.[1]).toMatch(/\.C\(784\)/);
    const value = /\.THR\((\{[\s\S]*?\})\)/.exec(thr![1]!)?.[1];
    expect(value).toBeDefined();
    expect(literalValue(value!).bits).toBeGreaterThan(100_000);
    for (const [name, text] of r.files) if (typeof text === 'string') expect(longestLine(text), name).toBeLessThan(16_384);
    // compile (not run) with Icarus when it is installed (CI installs it): the old literal failed here
    let iverilog = true;
    try {
      execFileSync('iverilog', ['-V'], { stdio: 'ignore' });
    } catch {
      iverilog = false;
    }
    if (!iverilog) return;
    const dir = tempDir('hbnn-long-params-');
    writeFilesAtomic(dir, r.files);
    const sources = fs.readFileSync(path.join(dir, SOURCES_FILE), 'utf8').split('\n').filter((l) => l.trim() !== '');
    execFileSync('iverilog', ['-g2012', '-DHBNN_CHECK', '-s', TB_MODULE, '-o', path.join(dir, 'sim.vvp'), ...sources, TB_FILE], { cwd: dir, stdio: 'pipe' });
    expect(fs.existsSync(path.join(dir, 'sim.vvp'))).toBe(true);
  }, 120_000);
});
