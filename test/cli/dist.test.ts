/**
 * The built package as users run it: compile with tsc, then spawn the real bin entry and the
 * API example (which imports the package by name, through package.json "exports"). These
 * run in one file, in order, so nothing else reads dist/ while tsc rewrites it.
 */
import { execFileSync, spawn, spawnSync, type SpawnOptions } from 'node:child_process';
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

const BIN = path.join(REPO_ROOT, 'bin', 'hbnn-onnx.js');

/** Spawns `node args`; resolves with the exit code, signal and output. `onStart` gets the child (to close its stdout, send it a signal). */
function spawnNode(
  args: string[],
  opts: SpawnOptions & { onStderr?: (text: string, child: ReturnType<typeof spawn>) => void; onStart?: (child: ReturnType<typeof spawn>) => void } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => void (stdout += b.toString()));
    child.stdout?.on('error', () => {});
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
      opts.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    opts.onStart?.(child);
  });
}

describe('the process: closed output, Ctrl-C, permissions, temporary folders', () => {
  it('a reader that closes stdout early ends the command quietly: exit 141, no stack trace', async () => {
    for (const args of [['lower', '--help'], ['inspect', FMNIST_CNN, '--json'], ['passes']]) {
      const r = await spawnNode([BIN, ...args], { onStart: (child) => child.stdout!.destroy() });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(141);
      expect(r.stderr).toBe('');
    }
  });

  it('an unwritable output folder (as a non-root user) is file-write, exit 7, before any work', () => {
    const d = tmpDir();
    fs.chmodSync(d, 0o777); // writable for anyone: only ro/ is not
    fs.copyFileSync(FMNIST_CNN, path.join(d, 'model.onnx'));
    fs.chmodSync(path.join(d, 'model.onnx'), 0o644);
    fs.mkdirSync(path.join(d, 'ro'));
    fs.chmodSync(path.join(d, 'ro'), 0o555);
    // Permission bits do not bind root: run the bin as "nobody" then.
    const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    for (const [args, named] of [
      [['opt', 'model.onnx', '-o', 'ro/x.onnx'], '-o ro/x.onnx'],
      [['sweep', 'model.onnx', '--data', 'fmnist-mini:test', '-o', 'ro/sweep'], '-o ro/sweep'],
      [['train', 'model.onnx', '--train-data', 'fmnist-mini:train', '--epochs', '5', '--log', 'ro/log.json'], '--log ro/log.json'],
      [['train', 'model.onnx', '--train-data', 'fmnist-mini:train', '--checkpoint-dir', 'ro'], '--checkpoint-dir ro'],
    ] as const) {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: d, encoding: 'utf8', timeout: 60_000, ...user });
      expect(r.status, r.stderr).toBe(7);
      expect(r.stderr).toBe(`hbnn-onnx: error[file-write]: cannot write ${named}: the folder ro is not writable (EACCES); nothing was done\n`);
      expect(r.stdout).toBe('');
    }
    expect(fs.readdirSync(path.join(d, 'ro'))).toEqual([]);
  });

  it('Ctrl-C with --checkpoint-dir: exit 130, what was saved, and a resume command that works', async () => {
    const d = tmpDir();
    fs.copyFileSync(FMNIST_CNN, path.join(d, 'float.onnx'));
    const args = ['train', 'float.onnx', '--train-data', 'fmnist-mini:train', '--train-limit', '512', '--batch-size', '32', '--threads', '1', '--epochs', '2', '--checkpoint-dir', 'ck', '-o', 'out.onnx'];
    let sent = false;
    // --verbose prints the first checkpoint (written before the first step): interrupt then
    const r = await spawnNode([BIN, '--verbose', ...args], {
      cwd: d,
      onStderr: (text, child) => {
        if (!sent && text.includes('checkpoint (start)')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).toMatch(/^interrupted \(epoch 1, step \d+ of 16\); kept the last parameters; /m);
    const m = /hbnn-onnx: error\[interrupted\]: training interrupted \(Ctrl-C\) at epoch 1, step (\d+) of 16\. Saved a checkpoint in ck\/last\.json, the model as of the last step in out\.onnx \(not a finished training\)\. Resume with:\n {2}hbnn-onnx (.*)\n/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    // the same command (flags in the command's option order) with --resume
    expect(m![2]).toBe('train float.onnx --train-data fmnist-mini:train --epochs 2 --batch-size 32 --threads 1 --train-limit 512 --checkpoint-dir ck --output out.onnx --resume');
    const meta = JSON.parse(fs.readFileSync(path.join(d, 'ck', 'last.json'), 'utf8')) as { epoch: number; stepInEpoch: number };
    expect([meta.epoch, meta.stepInEpoch]).toEqual([0, Number(m![1])]);
    // the printed command resumes and completes
    const resumed = spawnSync(process.execPath, [BIN, ...m![2]!.split(' '), '--json'], { cwd: d, encoding: 'utf8', timeout: 120_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    const log = (JSON.parse(resumed.stdout) as { train: { stopped: string; resumedFrom: string; epochs: { steps: number }[] } }).train;
    expect(log.stopped).toBe('completed');
    expect(log.resumedFrom).toBe(path.join(d, 'ck', 'last.json'));
    expect(log.epochs.map((e) => e.steps)).toEqual([16, 16]);
  });

  it('an interrupted C simulation leaves no hbnn-csim-* folder behind', async () => {
    const d = tmpDir();
    const tmp = path.join(d, 'tmp');
    fs.mkdirSync(tmp);
    const project = path.join(d, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'tb.cpp'), 'int main() { return 0; }\n');
    fs.writeFileSync(path.join(project, 'hbnn_top.cpp'), '\n');
    // a "compiler" that takes long enough to be interrupted
    const cxx = path.join(d, 'slow-cxx.sh');
    fs.writeFileSync(cxx, '#!/bin/sh\nexec sleep 3\n', { mode: 0o755 });
    const script = `import { compileCsim } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'backends', 'vivado-hls', 'csim.js'))};
console.error('compiling');
await compileCsim(${JSON.stringify(project)}, { cxx: ${JSON.stringify(cxx)} });`;
    let sent = false;
    const r = await spawnNode(['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: tmp },
      onStderr: (text, child) => {
        if (!sent && text.includes('compiling')) {
          // wait for the temporary folder, then interrupt
          const poll = (): void => {
            if (fs.readdirSync(tmp).some((f) => f.startsWith('hbnn-csim-'))) {
              sent = true;
              child.kill('SIGINT');
            } else setTimeout(poll, 20);
          };
          poll();
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.signal).toBe('SIGINT');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

