/**
 * The output preflight (`preflightOutputs`): every command that writes checks, before any
 * work, that each output can be created. An output under a regular file, a folder output
 * that is a file, or a file output that is a folder is `file-write` (exit 7), and nothing
 * was read, trained or written. The model here is junk: a command that loaded it before
 * checking its outputs would fail with an input error (exit 3) instead.
 * (Unwritable folders, which need a non-root user, are tested on the built bin in dist.test.ts.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { preflightOutputs } from '../../src/util/fs.js';
import { isHbnnError } from '../../src/errors.js';

const JUNK = 'this is not an ONNX model\n';

/** A folder with junk.onnx and a regular file `blocker`. */
function workdir(): string {
  const d = tmpDir();
  fs.writeFileSync(path.join(d, 'junk.onnx'), JUNK);
  fs.writeFileSync(path.join(d, 'blocker'), 'a file in the way\n');
  return d;
}

const TRAIN = ['--train-data', 'fmnist-mini:train', '--epochs', '3'];

// [what, args, the flag the message names]
const cases: [string, string[], string][] = [
  ['opt -o under a file', ['opt', 'junk.onnx', '-o', 'blocker/x.onnx'], '-o blocker/x.onnx'],
  ['quantize -o under a file', ['quantize', 'junk.onnx', '-o', 'blocker/x.onnx'], '-o blocker/x.onnx'],
  ['quantize --report under a file', ['quantize', 'junk.onnx', '--report', 'blocker/r.json'], '--report blocker/r.json'],
  ['quantize --fine-tune -o under a file', ['quantize', 'junk.onnx', '--fine-tune', ...TRAIN, '-o', 'blocker/q.onnx'], '-o blocker/q.onnx'],
  ['quantize --fine-tune --checkpoint-dir is a file', ['quantize', 'junk.onnx', '--fine-tune', ...TRAIN, '--checkpoint-dir', 'blocker'], '--checkpoint-dir blocker'],
  ['train -o under a file', ['train', 'junk.onnx', '--fine-tune', ...TRAIN, '-o', 'blocker/t.onnx'], '-o blocker/t.onnx'],
  ['train --log under a file', ['train', 'junk.onnx', ...TRAIN, '--log', 'blocker/deeper/log.json'], '--log blocker/deeper/log.json'],
  ['train --checkpoint-dir under a file', ['train', 'junk.onnx', ...TRAIN, '--checkpoint-dir', 'blocker/ck'], '--checkpoint-dir blocker/ck'],
  ['sweep -o is a file', ['sweep', 'junk.onnx', '--data', 'fmnist-mini:test', '-o', 'blocker'], '-o blocker'],
  ['sweep -o under a file', ['sweep', 'junk.onnx', '--data', 'fmnist-mini:test', '-o', 'blocker/sub'], '-o blocker/sub'],
  ['lower -o under a file', ['lower', 'junk.onnx', '--backend', 'bit-ir', '-o', 'blocker/sub'], '-o blocker/sub'],
  ['lower --backend asic -o is a file', ['lower', 'junk.onnx', '--backend', 'asic', '-o', 'blocker'], '-o blocker'],
  ['demo -o under a file', ['demo', '-o', 'blocker/demo'], '-o blocker/demo'],
];

describe('output preflight: exit 7, file-write, before any work', () => {
  for (const [what, args, named] of cases) {
    it(what, async () => {
      const d = workdir();
      const r = await cli(args, { cwd: d });
      expect(r.code, r.stderr).toBe(7);
      expect(r.stdout).toBe('');
      expect(r.stderr.startsWith(`hbnn-onnx: error[file-write]: cannot write ${named}: `), r.stderr).toBe(true);
      expect(r.stderr).toMatch(/; nothing was done\n$/);
      expect(r.stderr.split('\n')).toHaveLength(2); // one line, no stack
      expect(fs.readdirSync(d).sort()).toEqual(['blocker', 'junk.onnx']);
      expect(fs.readFileSync(path.join(d, 'junk.onnx'), 'utf8')).toBe(JUNK);
    });
  }

  it('lower of a real quantized model into a path under a file: file-write, not an internal error', async () => {
    const d = workdir();
    const q = await cli(['quantize', FMNIST_CNN, '-o', path.join(d, 'q.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    const r = await cli(['lower', 'q.onnx', '--backend', 'bit-ir', '-o', 'blocker/sub'], { cwd: d });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-write\]: cannot write -o blocker\/sub: blocker is a file, so the folder blocker\/sub cannot be created; nothing was done\n$/);
  });

  it('the message says what is in the way', async () => {
    const d = workdir();
    const r = await cli(['opt', 'junk.onnx', '-o', 'blocker/x.onnx'], { cwd: d });
    expect(r.stderr).toBe('hbnn-onnx: error[file-write]: cannot write -o blocker/x.onnx: blocker is a file, not a folder; nothing was done\n');
  });

  it('train with a real model and a valid --checkpoint-dir: the blocked -o stops it before the first checkpoint', async () => {
    const d = workdir();
    fs.copyFileSync(FMNIST_CNN, path.join(d, 'float.onnx'));
    const r = await cli(['train', 'float.onnx', '--train-data', 'fmnist-mini:train', '--train-limit', '64', '--checkpoint-dir', 'ck', '-o', 'blocker/t.onnx'], { cwd: d });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-write\]: cannot write -o blocker\/t\.onnx: /);
    expect(fs.existsSync(path.join(d, 'ck'))).toBe(false);
  });
});

describe('preflightOutputs', () => {
  const code = (fn: () => void): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (e) {
      return isHbnnError(e) ? e.code : 'not an HbnnError';
    }
  };

  it('accepts outputs in folders that do not exist yet, and creates nothing', () => {
    const d = tmpDir();
    expect(code(() => preflightOutputs([{ path: path.join(d, 'a', 'b', 'm.onnx'), kind: 'file' }, { path: path.join(d, 'c', 'd'), kind: 'folder' }], []))).toBeUndefined();
    expect(fs.readdirSync(d)).toEqual([]);
  });

  it('refuses a file output that is a folder, a folder output that is a file, a file in the way, an input, two outputs at one path', () => {
    const d = tmpDir();
    fs.mkdirSync(path.join(d, 'dir'));
    fs.writeFileSync(path.join(d, 'file'), '');
    expect(code(() => preflightOutputs([{ path: path.join(d, 'dir'), kind: 'file' }], []))).toBe('file-write');
    expect(code(() => preflightOutputs([{ path: path.join(d, 'file'), kind: 'folder' }], []))).toBe('file-write');
    expect(code(() => preflightOutputs([{ path: path.join(d, 'file', 'x', 'y.onnx'), kind: 'file' }], []))).toBe('file-write');
    expect(code(() => preflightOutputs([{ path: path.join(d, 'file'), kind: 'file' }], [path.join(d, 'file')]))).toBe('output-would-overwrite-input');
    const twice = [
      { path: path.join(d, 'o.json'), kind: 'file' as const, option: '-o' },
      { path: path.join(d, 'o.json'), kind: 'file' as const, option: '--log' },
    ];
    expect(code(() => preflightOutputs(twice, []))).toBe('invalid-option');
  });
});
