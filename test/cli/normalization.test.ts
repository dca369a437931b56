/**
 * The input normalization recorded in the model (metadata hbnn.input_normalization,
 * src/data/normalization.ts): the bundled models carry it, every command that feeds data uses
 * it by default, an explicit --normalize that disagrees is a warning, a model without a record
 * gets one note line, quantize/train/opt carry it over, inspect shows it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, REPO_ROOT, tmpDir } from './helpers.js';
import { loadModel, saveModel } from '../../src/onnx/io.js';
import {
  FMNIST_NORMALIZATION,
  NORMALIZATION_KEY,
  formatNormalization,
  parseNormalizationText,
  readNormalizationRecord,
  resolveNormalization,
  sameNormalization,
  writeNormalizationRecord,
} from '../../src/data/index.js';
import { isHbnnError } from '../../src/errors.js';
import { Model } from '../../src/ir/graph.js';

const FMNIST_MLP = path.join(REPO_ROOT, 'fixtures', 'models', 'fmnist-mlp.onnx');

/** A copy of the bundled CNN without the record (as the PyTorch export was). */
function unrecorded(dir: string): string {
  const m = loadModel(FMNIST_CNN);
  m.metadataProps = (m.metadataProps ?? []).filter(([k]) => k !== NORMALIZATION_KEY);
  const f = path.join(dir, 'plain.onnx');
  saveModel(m, f);
  return f;
}

const notes = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('no input normalization is known'));
const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('disagrees with the input normalization recorded'));

describe('the record: one module formats, parses and resolves it', () => {
  it('formats in --normalize syntax and parses back', () => {
    expect(formatNormalization(FMNIST_NORMALIZATION)).toBe('0.286:0.353');
    expect(formatNormalization(undefined)).toBe('none');
    expect(formatNormalization({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] })).toBe('0.485,0.456,0.406:0.229,0.224,0.225');
    expect(parseNormalizationText('0.485,0.456,0.406:0.229,0.224,0.225')).toEqual({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(parseNormalizationText(' None ')).toBeUndefined();
    expect(sameNormalization(parseNormalizationText('fmnist'), FMNIST_NORMALIZATION)).toBe(true);
    expect(sameNormalization({ mean: [0.5], std: [0.2] }, { mean: [0.5, 0.5], std: [0.2, 0.2] })).toBe(true);
    expect(sameNormalization({ mean: [0.5], std: [0.2] }, { mean: [0.5, 0.4], std: [0.2, 0.2] })).toBe(false);
    expect(sameNormalization(undefined, FMNIST_NORMALIZATION)).toBe(false);
  });

  it('write → read round trip; an unparsable record is onnx-invalid', () => {
    const m = new Model();
    expect(readNormalizationRecord(m)).toBeUndefined();
    writeNormalizationRecord(m, { mean: [0.1, 0.2], std: [0.3, 0.4] });
    expect(m.getMetadata(NORMALIZATION_KEY)).toBe('0.1,0.2:0.3,0.4');
    expect(readNormalizationRecord(m)).toEqual({ normalize: { mean: [0.1, 0.2], std: [0.3, 0.4] }, text: '0.1,0.2:0.3,0.4' });
    writeNormalizationRecord(m, undefined);
    expect(readNormalizationRecord(m)).toEqual({ normalize: undefined, text: 'none' });
    m.setMetadata(NORMALIZATION_KEY, 'pixels please');
    try {
      readNormalizationRecord(m);
      expect.unreachable();
    } catch (e) {
      expect(isHbnnError(e) && e.code).toBe('onnx-invalid');
    }
  });

  it('resolution: option wins (warning when it disagrees), else the record, else a note', () => {
    const m = new Model();
    const none = resolveNormalization(m, undefined, 'm.onnx');
    expect(none).toMatchObject({ normalize: undefined, source: 'none' });
    expect(none.note).toMatch(/^no input normalization is known for m\.onnx .*--normalize MEAN:STD/);
    writeNormalizationRecord(m, FMNIST_NORMALIZATION);
    expect(resolveNormalization(m, undefined, 'm.onnx')).toMatchObject({ normalize: FMNIST_NORMALIZATION, source: 'record', text: '0.286:0.353' });
    expect(resolveNormalization(m, 'model', 'm.onnx')).toMatchObject({ source: 'record' });
    const agree = resolveNormalization(m, 'fmnist', 'm.onnx');
    expect(agree.source).toBe('option');
    expect(agree.warning).toBeUndefined();
    const other = resolveNormalization(m, 'none', 'm.onnx');
    expect(other).toMatchObject({ normalize: undefined, source: 'option' });
    expect(other.warning).toMatch(/--normalize none .* disagrees .* m\.onnx \(hbnn\.input_normalization = 0\.286:0\.353\)/);
  });
});

describe('the bundled models', () => {
  it.each([FMNIST_CNN, FMNIST_MLP])('%s records the Fashion-MNIST normalization', (f) => {
    const rec = readNormalizationRecord(loadModel(f));
    expect(rec?.text).toBe('0.286:0.353');
    expect(sameNormalization(rec!.normalize, FMNIST_NORMALIZATION)).toBe(true);
  });

  it('eval without --normalize gives the normalized accuracy (91.85% on fmnist-mini:test), no message', async () => {
    const r = await cli(['eval', FMNIST_CNN, '--data', 'fmnist-mini:test', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as { top1: number; normalize: string; normalizeSource: string };
    expect(j.top1).toBeCloseTo(0.9185, 10);
    expect(j.normalize).toBe('0.286:0.353');
    expect(j.normalizeSource).toBe('record');
    const text = await cli(['eval', FMNIST_CNN, '--data', 'fmnist-mini:test', '--limit', '100']);
    expect(text.stdout).toContain('normalized 0.286:0.353 (recorded in the model)');
  });

  it('an explicit --normalize that disagrees is used, with one warning line', async () => {
    const r = await cli(['eval', FMNIST_CNN, '--data', 'fmnist-mini:test', '--limit', '200', '--normalize', 'none', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(warnings(r.stderr)).toHaveLength(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const j = JSON.parse(r.stdout) as { top1: number; normalize: string };
    expect(j.normalize).toBe('none');
    const rec = JSON.parse((await cli(['eval', FMNIST_CNN, '--data', 'fmnist-mini:test', '--limit', '200', '--json'])).stdout) as { top1: number };
    expect(j.top1).toBeLessThan(rec.top1 - 0.2); // unnormalized data: far worse
  });

  it('inspect shows the record', async () => {
    const r = await cli(['inspect', FMNIST_CNN]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/input normalization\s+0\.286:0\.353 \(recorded/);
    const j = JSON.parse((await cli(['inspect', FMNIST_CNN, '--json'])).stdout) as { inputNormalization: string | null };
    expect(j.inputNormalization).toBe('0.286:0.353');
  });
});

describe('a model without a record', () => {
  it('eval says in one line that no normalization is known and how to give one', async () => {
    const dir = tmpDir();
    const plain = unrecorded(dir);
    const r = await cli(['eval', plain, '--data', 'fmnist-mini:test', '--limit', '100']);
    expect(r.code, r.stderr).toBe(0);
    expect(notes(r.stderr)).toHaveLength(1);
    expect(notes(r.stderr)[0]).toMatch(/^hbnn-onnx: note: .*plain\.onnx.*--normalize MEAN:STD/);
    expect(r.stdout).toContain('not normalized (none known)');
    const inspect = await cli(['inspect', plain]);
    expect(inspect.stdout).toMatch(/input normalization\s+unknown/);
    // --normalize none: known, so no note.
    expect(notes((await cli(['eval', plain, '--data', 'fmnist-mini:test', '--limit', '10', '--normalize', 'none'])).stderr)).toEqual([]);
  });

  it('quantize with calibration says so too; quantize --normalize records it', async () => {
    const dir = tmpDir();
    const plain = unrecorded(dir);
    const out = path.join(dir, 'q.onnx');
    const r = await cli(['quantize', plain, '--avg-bits', '1.4', '--act-bits', '1.4', '--calib-limit', '32', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(notes(r.stderr)).toHaveLength(1);
    expect(loadModel(out).getMetadata(NORMALIZATION_KEY)).toBeUndefined();
    const out2 = path.join(dir, 'q2.onnx');
    const r2 = await cli(['quantize', plain, '--avg-bits', '1.4', '--normalize', 'fmnist', '-o', out2]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toBe('');
    expect(loadModel(out2).getMetadata(NORMALIZATION_KEY)).toBe('0.286:0.353');
  });
});

describe('commands carry the record over and use it', () => {
  it('quantize calibrates with the record: same output as with --normalize fmnist, different from --normalize none', async () => {
    const dir = tmpDir();
    const run = async (name: string, extra: string[]): Promise<{ file: string; stderr: string }> => {
      const file = path.join(dir, name);
      const r = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '--act-bits', '1.4', '--calib-limit', '16', '-o', file, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return { file, stderr: r.stderr };
    };
    const byRecord = await run('rec.onnx', []);
    const explicit = await run('fmnist.onnx', ['--normalize', 'fmnist']);
    const unnorm = await run('none.onnx', ['--normalize', 'none']);
    expect(byRecord.stderr).toBe('');
    expect(explicit.stderr).toBe('');
    expect(warnings(unnorm.stderr)).toHaveLength(1);
    expect(fs.readFileSync(byRecord.file).equals(fs.readFileSync(explicit.file))).toBe(true);
    expect(fs.readFileSync(byRecord.file).equals(fs.readFileSync(unnorm.file))).toBe(false);
    expect(loadModel(byRecord.file).getMetadata(NORMALIZATION_KEY)).toBe('0.286:0.353');
    // An explicit --normalize is recorded, none included.
    expect(loadModel(unnorm.file).getMetadata(NORMALIZATION_KEY)).toBe('none');
    // eval of the quantized model uses its record.
    const ev = await cli(['eval', byRecord.file, '--data', 'fmnist-mini:test', '--limit', '50']);
    expect(ev.stderr).toBe('');
    expect(ev.stdout).toContain('normalized 0.286:0.353 (recorded in the model)');
  });

  it('opt without a pipeline keeps the record', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'o.onnx');
    const r = await cli(['opt', FMNIST_CNN, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(loadModel(out).getMetadata(NORMALIZATION_KEY)).toBe('0.286:0.353');
  });

  it('train carries the record over, and records an explicit --normalize', async () => {
    const dir = tmpDir();
    const common = ['--train-data', 'fmnist-mini:train', '--train-limit', '64', '--batch-size', '32', '--epochs', '1'];
    const a = path.join(dir, 'a.onnx');
    const r = await cli(['train', FMNIST_MLP, ...common, '-o', a]);
    expect(r.code, r.stderr).toBe(0);
    expect(notes(r.stderr)).toEqual([]);
    expect(loadModel(a).getMetadata(NORMALIZATION_KEY)).toBe('0.286:0.353');
    const b = path.join(dir, 'b.onnx');
    const r2 = await cli(['train', FMNIST_MLP, ...common, '--normalize', '0.5:0.25', '-o', b]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(warnings(r2.stderr)).toHaveLength(1);
    expect(loadModel(b).getMetadata(NORMALIZATION_KEY)).toBe('0.5:0.25');
  });
});
