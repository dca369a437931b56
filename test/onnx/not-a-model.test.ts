/**
 * Bytes that are not a ModelProto at all → onnx-not-a-model saying what was found; a real
 * model with a genuinely unknown field still gets onnx-unknown-field (src/onnx/sniff.ts).
 */
import { describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel } from '../../src/onnx/io.js';
import { ErrorCodes, HbnnError } from '../../src/errors.js';
import { prng } from './mutate.js';
import { concat, varintField } from './build.js';
import { fixtureFile } from '../helpers/build.js';
import { cli, tmpDir } from '../cli/helpers.js';

function errorOf(bytes: Uint8Array, file?: string): HbnnError {
  try {
    decodeModel(bytes, file ? { file } : {});
  } catch (e) {
    if (e instanceof HbnnError) return e;
    throw e;
  }
  throw new Error('decoded');
}

describe('not an ONNX model', () => {
  test('a text file: onnx-not-a-model, quoting the start of the text', () => {
    const e = errorOf(new TextEncoder().encode('hello, this is a README\nnot a model\n'), 'notes.onnx');
    expect(e.code).toBe(ErrorCodes.ONNX_NOT_A_MODEL);
    expect(e.message).toBe('notes.onnx is not an ONNX model: it is text (36 bytes) starting "hello, this is a README not a model"');
  });

  test('random binary data: onnx-not-a-model naming the first bytes (never onnx-unknown-field)', () => {
    const rand = prng(13);
    const codes = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const n = 64 + Math.floor(rand() * 4000);
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
      const e = errorOf(bytes);
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      if (e.code === ErrorCodes.ONNX_NOT_A_MODEL) expect(e.message).toMatch(/is not an ONNX model: (binary data \(\d[\d,]* bytes\) starting ([0-9a-f]{2} ){7}[0-9a-f]{2}|text|protobuf data)/);
    }
    // Never the misleading "this version's ONNX schema does not know" error. A random start
    // that happens to be a graph field tag with a length past the end (1 seed in 200: byte
    // 0x3a) reads as a truncated model: onnx-decode, as for a real truncated file.
    expect(codes.get(ErrorCodes.ONNX_UNKNOWN_FIELD)).toBeUndefined();
    expect([...codes.keys()].every((c) => c === ErrorCodes.ONNX_NOT_A_MODEL || c === ErrorCodes.ONNX_DECODE)).toBe(true);
    expect(codes.get(ErrorCodes.ONNX_NOT_A_MODEL)).toBeGreaterThanOrEqual(195);
  });

  test.each([
    ['a ZIP archive (PyTorch checkpoint)', [0x50, 0x4b, 0x03, 0x04, 0, 0], /a ZIP archive \(a PyTorch/],
    ['gzip data', [0x1f, 0x8b, 8, 0], /gzip-compressed/],
    ['a NumPy array', [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], /NumPy \.npy/],
    ['an empty file', [], /the file is empty/],
  ])('%s', (_, bytes, msg) => {
    const e = errorOf(Uint8Array.from(bytes));
    expect(e.code).toBe(ErrorCodes.ONNX_NOT_A_MODEL);
    expect(e.message).toMatch(msg);
  });

  test('a TensorProto file given as a model: not a model', () => {
    const pb = fs.readFileSync(fixtureFile('qonnx/mnist-conv/test_data_set_0/input_0.pb'));
    const e = errorOf(pb);
    expect(e.code).toBe(ErrorCodes.ONNX_NOT_A_MODEL);
  });

  test('a real model with a genuinely unknown field still gets onnx-unknown-field', () => {
    const real = fs.readFileSync(fixtureFile('models/fmnist-mlp.onnx'));
    const e = errorOf(concat(real, varintField(99, 1)));
    expect(e.code).toBe(ErrorCodes.ONNX_UNKNOWN_FIELD);
    expect(e.message).toMatch(/^model could not|^ModelProto has field number 99/);
  });

  test('the CLI: exit 3, error[onnx-not-a-model]', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'x.onnx'), 'just some words\n');
    const r = await cli(['inspect', 'x.onnx'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[onnx-not-a-model\]: \S*x\.onnx is not an ONNX model: it is text \(16 bytes\) starting "just some words"\n$/);
  });
});
