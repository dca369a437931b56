/**
 * External data: saving with a size threshold, alignment, reloading, location rules
 * (relative, inside the model's folder, symlinks included), bounds, never overwriting an
 * input, atomic writes.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel, saveModel, decodeModel, encodeModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { HbnnError, ErrorCodes, type ErrorCode } from '../../src/errors.js';
import type { Model } from '../../src/ir/graph.js';
import { FLOAT, encodeModelPb, modelPb, valueInfo } from './build.js';
import { prng } from './mutate.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-ext-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (e) {
    if (e instanceof HbnnError) return e.code;
    throw e;
  }
  throw new Error('did not throw');
}

function floats(n: number, seed: number): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** y = ((x + a) + b) + c with initializers of 10, 700 and 3000 floats (40 B, 2.8 KB, 12 KB). */
function threeInitModel(): Uint8Array {
  const sizes = { a: 10, b: 700, c: 3000 };
  const init = Object.entries(sizes).map(([name, n], i) => {
    const v = floats(n, i + 1);
    return { name, dims: [n], data_type: FLOAT, raw_data: new Uint8Array(v.buffer) };
  });
  // Different lengths cannot be added to one x; use three inputs.
  return encodeModelPb(
    modelPb({
      name: 'g',
      node: [
        { op_type: 'Add', input: ['xa', 'a'], output: ['ya'] },
        { op_type: 'Add', input: ['xb', 'b'], output: ['yb'] },
        { op_type: 'Add', input: ['xc', 'c'], output: ['yc'] },
      ],
      initializer: init,
      input: [valueInfo('xa', FLOAT, [10]), valueInfo('xb', FLOAT, [700]), valueInfo('xc', FLOAT, [3000])],
      output: [valueInfo('ya', FLOAT, [10]), valueInfo('yb', FLOAT, [700]), valueInfo('yc', FLOAT, [3000])],
    }),
  );
}

function tmpLeftovers(folder: string): string[] {
  return fs.readdirSync(folder).filter((f) => f.endsWith('.tmp') || f.startsWith('.staging'));
}

const noExternalMark = (s: string): string => s.replace(/ external\([^)]*\)/g, '');

describe('saving with external data', () => {
  test('threshold 1024: big tensors go to <model>.data at 4096-aligned offsets; reload is identical', () => {
    const inline = threeInitModel();
    const src = path.join(dir, 'src.onnx');
    fs.writeFileSync(src, inline);
    const m = loadModel(src);
    const out = path.join(dir, 'out.onnx');
    saveModel(m, out, { externalData: { threshold: 1024 } });
    expect(fs.readdirSync(dir).sort()).toEqual(['out.onnx', 'out.onnx.data', 'src.onnx']);

    const meta = loadModel(out, { loadExternalData: false });
    const ext = [...meta.graph.initializers.values()].map((v) => [v.name, v.constValue!.external] as const);
    expect(ext[0]![1]).toBeUndefined(); // 40 bytes: inline
    expect(ext[1]![1]).toMatchObject({ location: 'out.onnx.data', offset: 0, length: 2800 });
    expect(ext[2]![1]).toMatchObject({ location: 'out.onnx.data', offset: 4096, length: 12000 });
    for (const [, e] of ext) if (e) expect(e.offset! % 4096).toBe(0);
    expect(fs.statSync(path.join(dir, 'out.onnx.data')).size).toBe(4096 + 12000);

    const back = loadModel(out);
    for (const [name, v] of m.graph.initializers) {
      expect(Buffer.from(back.graph.initializers.get(name)!.constValue!.toRawBytes())).toEqual(Buffer.from(v.constValue!.toRawBytes()));
    }
    expect(noExternalMark(printModel(back, { tensorValues: 1e9 }))).toBe(printModel(m, { tensorValues: 1e9 }));
    // Inlined again, it is the original file byte for byte.
    const again = path.join(dir, 'again.onnx');
    saveModel(back, again, { externalData: 'none' });
    expect(fs.readFileSync(again)).toEqual(Buffer.from(inline));
    expect(tmpLeftovers(dir)).toEqual([]);
  });

  test("'keep' keeps external tensors external (in the new model's own data file)", () => {
    const src = path.join(dir, 'src.onnx');
    fs.writeFileSync(src, threeInitModel());
    saveModel(loadModel(src), path.join(dir, 'ext.onnx'), { externalData: { threshold: 1024 } });
    const m = loadModel(path.join(dir, 'ext.onnx'));
    saveModel(m, path.join(dir, 'kept.onnx'));
    const kept = loadModel(path.join(dir, 'kept.onnx'), { loadExternalData: false });
    expect([...kept.graph.initializers.values()].map((v) => v.constValue!.external?.location)).toEqual([undefined, 'kept.onnx.data', 'kept.onnx.data']);
    expect(fs.readFileSync(path.join(dir, 'kept.onnx.data'))).toEqual(fs.readFileSync(path.join(dir, 'ext.onnx.data')));
  });

  test('a save location outside the folder is refused', () => {
    const src = path.join(dir, 'src.onnx');
    fs.writeFileSync(src, threeInitModel());
    const m = loadModel(src);
    const evil = `${dir}-evil.data`; // beside the test folder, unique to this run
    expect(codeOf(() => saveModel(m, path.join(dir, 'o.onnx'), { externalData: { threshold: 1024, location: `../${path.basename(evil)}` } }))).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(codeOf(() => saveModel(m, path.join(dir, 'o.onnx'), { externalData: { threshold: 1024, location: evil } }))).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(codeOf(() => saveModel(m, path.join(dir, 'o.onnx'), { externalData: { threshold: 1024, location: 'o.onnx' } }))).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(fs.existsSync(path.join(dir, 'o.onnx'))).toBe(false);
    expect(fs.existsSync(evil)).toBe(false);
  });
});

/** A model whose initializer w (4 floats) lives in external data with the given entries. */
function externalModel(entries: Record<string, string>): Uint8Array {
  return encodeModelPb(
    modelPb({
      name: 'g',
      node: [{ op_type: 'Add', input: ['x', 'w'], output: ['y'] }],
      initializer: [{ name: 'w', dims: [4], data_type: FLOAT, data_location: 1, external_data: Object.entries(entries).map(([key, value]) => ({ key, value })) }],
      input: [valueInfo('x', FLOAT, [4])],
      output: [valueInfo('y', FLOAT, [4])],
    }),
  );
}

describe('loading external data: location rules', () => {
  const w = Float32Array.from([1, 2, 3, 4]);
  const write = (name: string, entries: Record<string, string>): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, externalModel(entries));
    return f;
  };

  test('a plain relative location inside the folder loads (and with offset/length)', () => {
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.concat([Buffer.alloc(8), Buffer.from(w.buffer)]));
    const m = loadModel(write('m.onnx', { location: 'w.bin', offset: '8', length: '16' }));
    expect(Array.from(m.graph.initializers.get('w')!.constValue!.toFloat32())).toEqual([1, 2, 3, 4]);
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'w.bin'), Buffer.from(w.buffer));
    expect(Array.from(loadModel(write('m2.onnx', { location: 'sub/w.bin' })).graph.initializers.get('w')!.constValue!.toFloat32())).toEqual([1, 2, 3, 4]);
  });

  test.each([
    ['../x.bin', 'escapes'],
    ['sub/../../x.bin', 'escapes'],
    ['/etc/passwd', 'absolute'],
    ['C:\\weights.bin', 'absolute'],
    ['', 'without a location'],
  ])('location %j → external-data (%s)', (location, why) => {
    const outside = path.join(path.dirname(dir), 'x.bin');
    const f = write('m.onnx', { location });
    let err: HbnnError | undefined;
    try {
      loadModel(f);
    } catch (e) {
      err = e as HbnnError;
    }
    expect(err).toBeInstanceOf(HbnnError);
    expect(err!.code).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(err!.message).toContain(why);
    expect(fs.existsSync(outside)).toBe(false);
  });

  test('a symlink inside the folder that points outside it → external-data', () => {
    const outsideDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-outside-'));
    try {
      fs.writeFileSync(path.join(outsideDir, 'x.bin'), Buffer.from(w.buffer));
      fs.symlinkSync(path.join(outsideDir, 'x.bin'), path.join(dir, 'link.bin'));
      expect(codeOf(() => loadModel(write('m.onnx', { location: 'link.bin' })))).toBe(ErrorCodes.EXTERNAL_DATA);
      fs.symlinkSync(outsideDir, path.join(dir, 'linkdir'));
      expect(codeOf(() => loadModel(write('m2.onnx', { location: 'linkdir/x.bin' })))).toBe(ErrorCodes.EXTERNAL_DATA);
      // A symlink that stays inside the folder is fine, and so is a model folder reached through a symlink.
      fs.writeFileSync(path.join(dir, 'real.bin'), Buffer.from(w.buffer));
      fs.symlinkSync('real.bin', path.join(dir, 'inside.bin'));
      expect(loadModel(write('m3.onnx', { location: 'inside.bin' })).graph.initializers.get('w')!.constValue!.toFloat32()[3]).toBe(4);
      const alias = path.join(outsideDir, 'alias');
      fs.symlinkSync(dir, alias);
      expect(loadModel(path.join(alias, 'm3.onnx')).graph.initializers.get('w')!.constValue!.toFloat32()[3]).toBe(4);
    } finally {
      fs.rmSync(outsideDir, { recursive: true, force: true });
    }
  });

  test.each([
    ['offset + length beyond the file', { location: 'w.bin', offset: '8', length: '16' }, /lies beyond the end/],
    ['offset beyond the file', { location: 'w.bin', offset: '4096' }, /lies beyond the end/],
    ['length that does not match dims × type', { location: 'w.bin', offset: '0', length: '12' }, /12 bytes of external data, expected 16/],
    ['a missing file', { location: 'nope.bin' }, /not found/],
    ['a non-numeric offset', { location: 'w.bin', offset: '1e3' }, /not a non-negative integer/],
    ['a negative length', { location: 'w.bin', length: '-4' }, /not a non-negative integer/],
  ])('%s → external-data', (_, entries, msg) => {
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.from(w.buffer));
    let err: HbnnError | undefined;
    try {
      loadModel(write('m.onnx', entries));
    } catch (e) {
      err = e as HbnnError;
    }
    expect(err?.code).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(err?.message).toMatch(msg);
  });

  test('decoding bytes that use external data without a base folder → external-data', () => {
    expect(codeOf(() => decodeModel(externalModel({ location: 'w.bin' })))).toBe(ErrorCodes.EXTERNAL_DATA);
    const m = decodeModel(externalModel({ location: 'w.bin' }), { loadExternalData: false });
    expect(codeOf(() => encodeModel(m))).toBe(ErrorCodes.EXTERNAL_DATA);
  });
});

describe('never overwriting inputs; atomic writes', () => {
  function savedWithExternal(): { model: string; data: string; m: Model } {
    const src = path.join(dir, 'src.onnx');
    fs.writeFileSync(src, threeInitModel());
    saveModel(loadModel(src), path.join(dir, 'in.onnx'), { externalData: { threshold: 1024, location: 'weights.bin' } });
    return { model: path.join(dir, 'in.onnx'), data: path.join(dir, 'weights.bin'), m: loadModel(path.join(dir, 'in.onnx')) };
  }

  test('saving over the input model → output-would-overwrite-input, file untouched', () => {
    const { model, m } = savedWithExternal();
    const before = fs.readFileSync(model);
    expect(codeOf(() => saveModel(m, model))).toBe(ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT);
    expect(codeOf(() => saveModel(m, path.join(dir, '.', 'in.onnx'), { externalData: 'none' }))).toBe(ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT);
    // The same file through a hard link.
    fs.linkSync(model, path.join(dir, 'hard.onnx'));
    expect(codeOf(() => saveModel(m, path.join(dir, 'hard.onnx'), { externalData: 'none' }))).toBe(ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT);
    expect(fs.readFileSync(model)).toEqual(before);
    expect(tmpLeftovers(dir)).toEqual([]);
  });

  test("saving so that the new data file would replace the input's external data file → refused", () => {
    const { data, m } = savedWithExternal();
    const before = fs.readFileSync(data);
    expect(codeOf(() => saveModel(m, path.join(dir, 'other.onnx'), { externalData: { threshold: 1024, location: 'weights.bin' } }))).toBe(
      ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT,
    );
    // 'keep' names the data file after the output: an output called "weights.bin"'s stem is refused too.
    expect(codeOf(() => saveModel(m, data))).toBe(ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT);
    expect(fs.readFileSync(data)).toEqual(before);
    expect(fs.existsSync(path.join(dir, 'other.onnx'))).toBe(false);
    expect(tmpLeftovers(dir)).toEqual([]);
  });

  test('protect lists more files the output must not replace', () => {
    const src = path.join(dir, 'src.onnx');
    fs.writeFileSync(src, threeInitModel());
    const m = decodeModel(fs.readFileSync(src)); // no sourcePath
    fs.writeFileSync(path.join(dir, 'calib.npy'), 'x');
    expect(codeOf(() => saveModel(m, path.join(dir, 'calib.npy'), { protect: [path.join(dir, 'calib.npy')] }))).toBe(ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT);
  });

  test('a failed write leaves no temp files and no partial output', () => {
    const src = path.join(dir, 'src.onnx');
    fs.writeFileSync(src, threeInitModel());
    const m = loadModel(src);
    // The output path is a folder: the rename fails.
    fs.mkdirSync(path.join(dir, 'taken.onnx'));
    fs.writeFileSync(path.join(dir, 'taken.onnx', 'keep'), 'x');
    expect(codeOf(() => saveModel(m, path.join(dir, 'taken.onnx'), { externalData: 'none' }))).toBe(ErrorCodes.FILE_WRITE);
    expect(tmpLeftovers(dir)).toEqual([]);
    // The data file's path is a folder: nothing of the model is written.
    fs.mkdirSync(path.join(dir, 'x.onnx.data'));
    fs.writeFileSync(path.join(dir, 'x.onnx.data', 'keep'), 'x');
    expect(codeOf(() => saveModel(m, path.join(dir, 'x.onnx'), { externalData: { threshold: 1024 } }))).toBe(ErrorCodes.FILE_WRITE);
    expect(fs.existsSync(path.join(dir, 'x.onnx'))).toBe(false);
    expect(tmpLeftovers(dir)).toEqual([]);
    // And a successful save leaves exactly its files.
    saveModel(m, path.join(dir, 'ok.onnx'), { externalData: { threshold: 1024 } });
    expect(fs.readdirSync(dir).sort()).toEqual(['ok.onnx', 'ok.onnx.data', 'src.onnx', 'taken.onnx', 'x.onnx.data']);
  });

  test('a save that fails before writing (unloaded external data) writes nothing', () => {
    const { model } = savedWithExternal();
    const m = loadModel(model, { loadExternalData: false });
    expect(codeOf(() => saveModel(m, path.join(dir, 'out.onnx'), { externalData: 'none' }))).toBe(ErrorCodes.EXTERNAL_DATA);
    expect(fs.existsSync(path.join(dir, 'out.onnx'))).toBe(false);
    expect(tmpLeftovers(dir)).toEqual([]);
  });
});
