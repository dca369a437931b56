import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Pipeline } from '../../src/pass/manager.js';
import { builtinPasses } from '../../passes/registry.js';
import { definePass } from '../../src/pass/pass.js';
import { loadModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectHbnnError, FMNIST_CNN, REPO_ROOT } from '../helpers/build.js';
import { cli, tmpDir } from '../cli/helpers.js';

/** A pass that always changes the model (so "untouched" can be seen). */
const stamp = definePass({
  name: 'stamp',
  summary: 'sets a metadata entry (test pass)',
  options: [{ name: 'value', type: 'string', doc: 'the value', default: 'yes' }],
  run(model, _ctx, o) {
    model.setMetadata('stamped', o.value);
    return { changed: true };
  },
});

const registry = () => builtinPasses().register(stamp);

/** Casts of pass options (`o['x'] as number`, `ctx.options.y as string`, `options['z'] as boolean[]`). */
const OPTION_CAST = /\b(?:o|opts|options|ctx\.options)(?:\.[\w$]+|\[['"][\w-]+['"]\])\)?\s+as\s+(?:number|string|boolean)\b/;

describe('typed pass options', () => {
  it('no pass in passes/ casts its options or reads the untyped ctx.options', () => {
    // the pattern finds the casts this replaces
    expect(OPTION_CAST.test("const maxBits = o['max-bits'] as number;")).toBe(true);
    expect(OPTION_CAST.test("seed: (o['seed'] as number) + idx,")).toBe(true);
    expect(OPTION_CAST.test('x = ctx.options.key as string;')).toBe(true);
    const dir = path.join(REPO_ROOT, 'passes');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(files.length).toBeGreaterThanOrEqual(15);
    const offending: string[] = [];
    for (const f of files) {
      fs.readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (OPTION_CAST.test(line) || /\bctx\.options\b/.test(line)) offending.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offending).toEqual([]);
  });

  it('run and validate receive the parsed, defaulted options', async () => {
    const seen: unknown[] = [];
    const p = definePass({
      name: 'typed',
      summary: 'records its options (test pass)',
      options: [
        { name: 'n', type: 'integer', doc: 'a count', default: 2, min: 1, max: 9 },
        { name: 'mode', type: 'string', doc: 'a mode', default: 'a', choices: ['a', 'b'] },
        { name: 'xs', type: 'number-list', doc: 'numbers' },
      ],
      validate(o) {
        seen.push(['validate', o.n, o.mode, o.xs]);
      },
      run(_m, _ctx, o) {
        const n: number = o.n; // typed: no cast
        seen.push(['run', n, o.mode, o.xs]);
        return { changed: false };
      },
    });
    const r = builtinPasses().register(p);
    await Pipeline.parse('typed{n=3,xs=1|2.5}', r).run(loadModel(FMNIST_CNN()));
    expect(seen).toEqual([
      ['validate', 3, 'a', [1, 2.5]],
      ['run', 3, 'a', [1, 2.5]],
    ]);
  });

  it.each([
    ['avg-bits above max-bits', 'insert-weight-binarization{avg-bits=5}', /avg-bits 5 is above max-bits 3/],
    ['row granularity with the layer heuristic', 'insert-weight-binarization{granularity=row,heuristic=layer}', /granularity=row needs a bit map heuristic/],
    ['a distribution that does not sum to 1', 'insert-weight-binarization{dist=0.5|0.2}', /sums to 0.7/],
    ['activation dist over 3 bits', 'insert-weight-binarization,insert-activation-binarization{dist=0.25|0.25|0.25|0.25}', /at most 3 bits/],
  ])('an invalid option of the last pass (%s) is reported before the first pass runs', async (_what, tail, message) => {
    const m = loadModel(FMNIST_CNN());
    const before = printModel(m);
    const pipeline = Pipeline.parse(`stamp,eliminate-dead-code,${tail}`, registry());
    const err = await expectHbnnError(() => pipeline.run(m), ErrorCodes.INVALID_OPTION);
    expect(err.message).toMatch(message);
    expect(m.getMetadata('stamped')).toBeUndefined();
    expect(printModel(m)).toBe(before);
    // the same pipeline without the bad tail runs and stamps
    await Pipeline.parse('stamp,eliminate-dead-code', registry()).run(m);
    expect(m.getMetadata('stamped')).toBe('yes');
  });

  it('calibration data that does not fit the model is reported before the first pass runs', async () => {
    const m = loadModel(FMNIST_CNN());
    const before = printModel(m);
    const dir = tmpDir();
    // 5 samples of 3 values: not a 1x28x28 image
    const npy = path.join(dir, 'x.npy');
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }";
    const pad = 64 - ((10 + header.length + 1) % 64);
    const h = Buffer.from(header + ' '.repeat(pad) + '\n', 'latin1');
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 0xff, h.length >> 8]);
    fs.writeFileSync(npy, Buffer.concat([pre, h, Buffer.from(new Float32Array(15).buffer)]));
    const pipeline = Pipeline.parse(`stamp,insert-weight-binarization,insert-activation-binarization,calibrate{data=${npy},normalize=none}`, registry());
    await expectHbnnError(() => pipeline.run(m), ErrorCodes.DATA_MISMATCH);
    expect(m.getMetadata('stamped')).toBeUndefined();
    expect(printModel(m)).toBe(before);
  });

  it('opt: an invalid option of the last pass exits 2 and writes nothing', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'cnn.onnx');
    fs.copyFileSync(FMNIST_CNN(), file);
    const bytes = fs.readFileSync(file);
    const r = await cli(['opt', 'cnn.onnx', '-p', 'eliminate-identity,fold-constants,insert-weight-binarization{avg-bits=3.5}', '-o', 'out.onnx'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('hbnn-onnx: error[invalid-option]: avg-bits 3.5 is above max-bits 3\n');
    expect(fs.readdirSync(dir)).toEqual(['cnn.onnx']);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
  });
});
