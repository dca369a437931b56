import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { testRegistry } from './test-passes.js';
import { loadModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import type { Model } from '../../src/ir/graph.js';
import { deriveOutputPath } from '../../src/cli/paths.js';

/** A copy of the bundled CNN in a fresh folder (tests write beside their input). */
function modelCopy(): { dir: string; file: string } {
  const dir = tmpDir();
  const file = path.join(dir, 'cnn.onnx');
  fs.copyFileSync(FMNIST_CNN, file);
  return { dir, file };
}

/** Each initializer's name and raw bytes (hex), in file order. */
function initializerBytes(m: Model): [string, string][] {
  return [...m.graph.initializers.values()].map((v) => [v.name, Buffer.from(v.constValue!.toRawBytes()).toString('hex')]);
}

describe('opt', () => {
  it('with no pipeline re-saves an equivalent model next to the input', async () => {
    const { dir, file } = modelCopy();
    const r = await cli(['opt', file], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('cnn.onnx: 15 → 15 nodes, re-saved (no pipeline), wrote cnn.opt.onnx\n');
    const out = path.join(dir, 'cnn.opt.onnx');
    const saved = loadModel(out);
    const orig = loadModel(file);
    expect(printModel(saved)).toBe(printModel(orig));
    expect(initializerBytes(saved)).toEqual(initializerBytes(orig));
    expect(fs.readdirSync(dir).sort()).toEqual(['cnn.onnx', 'cnn.opt.onnx']);
  });

  it('refuses to write onto its input: exit 7, input unchanged', async () => {
    const { dir, file } = modelCopy();
    const before = fs.readFileSync(file);
    const mtime = fs.statSync(file).mtimeMs;
    for (const out of [file, './cnn.onnx', path.join(dir, 'sub', '..', 'cnn.onnx')]) {
      const r = await cli(['opt', 'cnn.onnx', '-o', out], { cwd: dir });
      expect(r.code).toBe(7);
      expect(r.stderr).toMatch(/^hbnn-onnx: error\[output-would-overwrite-input\]: refusing to overwrite the input file/);
      expect(r.stdout).toBe('');
    }
    // Through a hard link too: same file, different name.
    fs.linkSync(file, path.join(dir, 'alias.onnx'));
    const r = await cli(['opt', 'cnn.onnx', '-o', 'alias.onnx'], { cwd: dir });
    expect(r.code).toBe(7);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(dir).sort()).toEqual(['alias.onnx', 'cnn.onnx']);
  });

  it('runs a pipeline, prints timing and IR to stderr, and reports JSON', async () => {
    const { dir, file } = modelCopy();
    const r = await cli(['opt', file, '-p', 'mark-model{key=stage,times=2}', '-o', 'out/marked.onnx', '--timing', '--print-ir-after', 'mark-model', '--json'], {
      cwd: dir,
      registry: testRegistry,
    });
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { input: string; output: string; nodesBefore: number; nodesAfter: number; report: { pipeline: string; passes: { pass: string; stats: Record<string, number>; changed: boolean }[] } };
    expect(res.output).toBe(path.join('out', 'marked.onnx'));
    expect(res.nodesBefore).toBe(15);
    expect(res.report.pipeline).toBe('mark-model{key=stage,times=2}');
    expect(res.report.passes.map((p) => [p.pass, p.stats, p.changed])).toEqual([['mark-model', { marks: 2 }, true]]);
    expect(r.stderr).toContain('// IR after mark-model\nmodel ir_version=7');
    expect(r.stderr).toContain('  metadata "stage": "yes"');
    expect(r.stderr).toMatch(/pipeline: mark-model\{key=stage,times=2\}\n {2}mark-model +\d+\.\d ms +verify +\d+\.\d ms +changed +marks=2/);
    expect(loadModel(path.join(dir, 'out', 'marked.onnx')).getMetadata('stage')).toBe('yes');
  });

  it('writes external data above --external-data-threshold', async () => {
    const { dir, file } = modelCopy();
    const r = await cli(['opt', file, '-o', 'ext.onnx', '--external-data-threshold', '64k'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'ext.onnx.data'))).toBe(true);
    // Only c2.weight (72 KiB) and c3.weight (288 KiB) reach 64 KiB.
    expect(fs.statSync(path.join(dir, 'ext.onnx')).size).toBeLessThan(100_000);
    const saved = loadModel(path.join(dir, 'ext.onnx'));
    const orig = loadModel(file);
    const external = [...saved.graph.initializers.values()].filter((v) => v.constValue!.external).map((v) => v.name);
    expect(external).toEqual(['c2.weight', 'c3.weight']);
    expect([...saved.graph.initializers.keys()]).toEqual([...orig.graph.initializers.keys()]);
    expect(initializerBytes(saved)).toEqual(initializerBytes(orig));
  });

  it('--threads 2 gives the same bytes as one thread; --threads 0 is a usage error before any work', async () => {
    const { dir, file } = modelCopy();
    const p = 'insert-weight-binarization{avg-bits=1.4},insert-scaling-layer';
    const a = await cli(['opt', file, '-p', p, '-o', 'one.onnx'], { cwd: dir });
    const b = await cli(['opt', file, '-p', p, '-o', 'two.onnx', '--threads', '2'], { cwd: dir });
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'two.onnx')).equals(fs.readFileSync(path.join(dir, 'one.onnx')))).toBe(true);
    const bad = await cli(['opt', file, '-p', p, '-o', 'bad.onnx', '--threads', '0'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--threads/);
    expect(fs.existsSync(path.join(dir, 'bad.onnx'))).toBe(false);
  });

  it('an unknown pass exits 5 with a suggestion', async () => {
    const r = await cli(['opt', FMNIST_CNN, '-p', 'mark-modle', '-o', path.join(tmpDir(), 'o.onnx')], { registry: testRegistry });
    expect(r.code).toBe(5);
    expect(r.stderr).toBe('hbnn-onnx: error[unknown-pass]: unknown pass "mark-modle"; did you mean mark-model? (see `hbnn-onnx passes`)\n');
  });

  it('a pipeline syntax error exits 5 and points at the column', async () => {
    const r = await cli(['opt', FMNIST_CNN, '-p', 'mark-model{key', '-o', path.join(tmpDir(), 'o.onnx')], { registry: testRegistry });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[pipeline-parse\]: cannot parse pipeline at column \d+: expected "="\n {2}mark-model\{key\n {2} +\^\n$/);
  });

  it('a bad pass option exits 2 (invalid-option)', async () => {
    const out = path.join(tmpDir(), 'o.onnx');
    const unknown = await cli(['opt', FMNIST_CNN, '-p', 'mark-model{colour=red}', '-o', out], { registry: testRegistry });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('hbnn-onnx: error[invalid-option]: pass mark-model has no option "colour"; its options are: key, value, times\n');
    const range = await cli(['opt', FMNIST_CNN, '-p', 'mark-model{times=9}', '-o', out], { registry: testRegistry });
    expect(range.code).toBe(2);
    expect(range.stderr).toContain('option times=9 is above the maximum 3');
    const choice = await cli(['opt', FMNIST_CNN, '-p', 'mark-model{value=maybe}', '-o', out], { registry: testRegistry });
    expect(choice.code).toBe(2);
    expect(choice.stderr).toContain('is not one of yes, no');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('bad command-line flags exit 2 with commander\'s message', async () => {
    const out = path.join(tmpDir(), 'o.onnx');
    const flag = await cli(['opt', FMNIST_CNN, '--frobnicate']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("error: unknown option '--frobnicate'");
    const bytes = await cli(['opt', FMNIST_CNN, '-o', out, '--external-data-threshold', 'lots']);
    expect(bytes.code).toBe(2);
    expect(bytes.stderr).toContain("argument 'lots' is invalid");
    const missing = await cli(['opt']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'model'");
    const irAfter = await cli(['opt', FMNIST_CNN, '-o', out, '-p', 'mark-model', '--print-ir-after', 'mark-model,explode'], { registry: testRegistry });
    expect(irAfter.code).toBe(2);
    expect(irAfter.stderr).toContain('error[invalid-option]: --print-ir-after names explode, which is not in the pipeline (mark-model)');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('a failing pass exits 5 naming the pass; --verbose shows the cause', async () => {
    const out = path.join(tmpDir(), 'o.onnx');
    const r = await cli(['opt', FMNIST_CNN, '-p', 'mark-model,explode', '-o', out], { registry: testRegistry });
    expect(r.code).toBe(5);
    expect(r.stderr).toBe('hbnn-onnx: error[pass-failed]: pass explode failed (passes before it: mark-model): boom\n');
    expect(fs.existsSync(out)).toBe(false);
    const v = await cli(['opt', FMNIST_CNN, '-p', 'explode', '-o', out, '--verbose'], { registry: testRegistry });
    expect(v.code).toBe(5);
    expect(v.stderr).toMatch(/caused by: Error: boom\n\s+at /);
  });

  it('an unmet requirement exits 5', async () => {
    const r = await cli(['opt', FMNIST_CNN, '-p', 'needs-sorted', '-o', path.join(tmpDir(), 'o.onnx')], { registry: testRegistry });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('pass needs-sorted requires topologically-sorted');
  });

  it('unexpected errors exit 70 as internal errors', async () => {
    const r = await cli(['opt', FMNIST_CNN, '-o', path.join(tmpDir(), 'o.onnx')], {
      registry: () => {
        throw new TypeError('registry exploded');
      },
    });
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[internal\]: internal error: registry exploded\nTypeError: registry exploded\n\s+at /);
  });
});

describe('progress', () => {
  it('draws progress lines only on a terminal and never with --json', async () => {
    const { dir, file } = modelCopy();
    const tty = await cli(['opt', file, '-p', 'mark-model', '-o', 'a.onnx'], { cwd: dir, registry: testRegistry, stderrIsTTY: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain('\r\x1b[2Kpass 1/1: mark-model');
    expect(tty.stderr.endsWith('\r\x1b[2K')).toBe(true);
    const json = await cli(['opt', file, '-p', 'mark-model', '-o', 'b.onnx', '--json'], { cwd: dir, registry: testRegistry, stderrIsTTY: true });
    expect(json.stderr).toBe('');
    const pipe = await cli(['opt', file, '-p', 'mark-model', '-o', 'c.onnx'], { cwd: dir, registry: testRegistry });
    expect(pipe.stderr).toBe('');
  });
});

describe('deriveOutputPath', () => {
  it('replaces a final .onnx and never returns the input', () => {
    expect(deriveOutputPath('a/model.onnx', '.opt.onnx')).toBe(path.join('a', 'model.opt.onnx'));
    expect(deriveOutputPath('model.ONNX', '.opt.onnx')).toBe('model.opt.onnx');
    expect(deriveOutputPath('model', '.opt.onnx')).toBe('model.opt.onnx');
    expect(deriveOutputPath('m.opt.onnx', '.opt.onnx')).toBe('m.opt.opt.onnx');
    expect(() => deriveOutputPath('x.onnx', '.onnx')).toThrow(/default output name for x\.onnx is the input itself/);
  });
});
