/**
 * The built package as users run it: compile with tsc, then spawn the real bin entry and the
 * API example (which imports the package by name, through package.json "exports"). These
 * run in one file, in order, so nothing else reads dist/ while tsc rewrites it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FMNIST_CNN, REPO_ROOT, tmpDir } from './helpers.js';

function node(args: string[], cwd = REPO_ROOT): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    const out = (e as { stdout?: string }).stdout ?? '';
    throw new Error(`tsc failed:\n${out}`);
  }
}, 180_000);

describe('built package', () => {
  it('bin/hbnn-onnx.js --help and --version work', () => {
    const help = node(['bin/hbnn-onnx.js', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: hbnn-onnx [options] [command]');
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
    expect(pkg.bin['hbnn-onnx']).toBe('./bin/hbnn-onnx.js');
    const version = node(['bin/hbnn-onnx.js', '--version']);
    expect(version.stdout).toBe(`${pkg.version}\n`);
  });

  it('the bin entry sets the process exit code from main()', () => {
    const r = node([path.join(REPO_ROOT, 'bin', 'hbnn-onnx.js'), 'inspect', 'does-not-exist.onnx'], tmpDir());
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-not-found\]: no such file: .*does-not-exist\.onnx\n$/);
    const ok = node(['bin/hbnn-onnx.js', 'inspect', FMNIST_CNN, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ format: 'hbnn-onnx.inspect', totals: { parameters: 105_099 } });
  });

  it('examples/api-example.mjs (docs/api.md) runs against the built package', () => {
    const out = tmpDir();
    const r = node(['examples/api-example.mjs', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('loaded fmnist-cnn.onnx: 15 nodes, 105099 parameters');
    expect(lines[1]).toMatch(/^pipeline ".*": \d+ passes, \d+ nodes left$/);
    expect(lines.slice(2)).toEqual([
      'saved fmnist-cnn.clean.onnx',
      'max |logit difference| = 0',
      'tryResult: ok=false code=unknown-pass exit=5',
      'caught: output-would-overwrite-input',
    ]);
    expect(fs.readdirSync(out)).toEqual(['fmnist-cnn.clean.onnx']);
  });
  it('examples/hbnn-path.mjs (docs/api.md, the whole HBNN path) runs against the built package', () => {
    const out = tmpDir();
    const r = node(['examples/hbnn-path.mjs', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^quantized: 1\.400 average weight bits; pipeline insert-weight-binarization\{avg-bits=1\.4,heuristic=middle-out\},insert-scaling-layer$/);
    const acc = /^top-1 on 500 images: (\d+\.\d)% -> (\d+\.\d)% after fine-tuning$/.exec(lines[1]!);
    expect(acc).not.toBeNull();
    expect(Number(acc![2])).toBeGreaterThan(Number(acc![1]));
    const agree = /^bit-level IR agrees with onnxruntime on (\d+)\/100 images$/.exec(lines[2]!);
    expect(Number(agree![1])).toBeGreaterThanOrEqual(99);
    expect(lines[3]).toMatch(/^vivado-hls: 15 files, \d+ frames\/s; asic: \d+\.\d{3} mm²$/);
    expect(fs.readdirSync(out)).toEqual(['fmnist-cnn.hbnn.onnx']);
  });
});
