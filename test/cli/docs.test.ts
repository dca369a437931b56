/** The docs are checked against the code they describe, so they cannot drift. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, tmpDir } from './helpers.js';
import { ErrorCodes, exitCodeFor } from '../../src/errors.js';
import { buildProgram } from '../../src/cli/main.js';
import { defaultIo } from '../../src/cli/io.js';

const read = (rel: string): string => fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8');

describe('docs/cli.md', () => {
  const doc = read('docs/cli.md');

  it('lists every error code with its exit code, and no others', () => {
    const rows = [...doc.matchAll(/^\| `([a-z-]+)` \| (\d+) \|/gm)].map((m) => [m[1], Number(m[2])]);
    const codes = Object.values(ErrorCodes);
    expect(rows).toEqual(codes.map((c) => [c, exitCodeFor(c)]));
  });

  it('documents every command and every option', () => {
    const program = buildProgram(defaultIo());
    for (const cmd of program.commands) {
      expect(doc, cmd.name()).toContain(`\n## ${cmd.name()}\n`);
      for (const opt of cmd.options) expect(doc, `${cmd.name()} ${opt.flags}`).toContain(`\`${opt.flags}\``);
    }
    for (const opt of program.options) expect(doc, opt.flags).toContain(opt.long!);
  });
});

describe('README', () => {
  const readme = read('README.md');

  it('has a quick start of exactly two commands, backed by package.json scripts', () => {
    const block = /## Quick start\n\n```sh\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    expect(block![1]!.trimEnd().split('\n')).toEqual(['npm ci && npm run demo', 'npm test']);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.demo).toBe('node bin/hbnn-onnx.js demo');
    expect(pkg.scripts.test).toBe('vitest run');
    expect(pkg.scripts.prepare).toMatch(/^tsc /);
  });

  it('links only to files that exist', () => {
    for (const file of ['README.md', 'docs/api.md', 'docs/cli.md', 'docs/architecture.md']) {
      const dir = path.dirname(path.join(REPO_ROOT, file));
      for (const m of read(file).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        if (/^https?:/.test(m[1]!)) continue;
        expect(fs.existsSync(path.resolve(dir, m[1]!)), `${file} → ${m[1]}`).toBe(true);
      }
    }
  });
});

describe('.ci/run', () => {
  it('installs the system packages, then runs npm ci and the README test command', () => {
    const script = read('.ci/run');
    expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(script).toContain('set -euo pipefail');
    expect(fs.statSync(path.join(REPO_ROOT, '.ci/run')).mode & 0o111).not.toBe(0);
    const commands = script.split('\n').filter((l) => !/^\s*#/.test(l));
    const steps = ['apt-get update', 'apt-get install -y -qq --no-install-recommends dataset-fashion-mnist g++', 'npm ci', 'npm test'];
    const at = steps.map((s) => commands.findIndex((l) => l.includes(s)));
    for (const [i, p] of at.entries()) expect(p, steps[i]).toBeGreaterThanOrEqual(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('no dependency install script runs, and npm prints no warning about the project config', () => {
    // onnxruntime-node's postinstall would download CUDA binaries; protobufjs's checks versions.
    const pkg = JSON.parse(read('package.json')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts).toEqual({ 'onnxruntime-node': false, protobufjs: false });
    // every dependency with an install script is covered by allowScripts
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([, p]) => p.hasInstallScript === true)
      .map(([k]) => k.replace(/^.*node_modules\//, ''));
    expect(withScripts.sort()).toEqual(Object.keys(pkg.allowScripts!).sort());
    // a project .npmrc key npm does not know makes every npm command warn: there is none
    expect(fs.existsSync(path.join(REPO_ROOT, '.npmrc'))).toBe(false);
    const npmrcFree = tmpDir();
    const r = spawnSync('npm', ['pkg', 'get', 'name'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, npm_config_userconfig: path.join(npmrcFree, 'none'), npm_config_update_notifier: 'false' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('"hbnn-onnx"');
    expect(r.stderr).toBe('');
    expect(read('.ci/run')).toContain('export ONNXRUNTIME_NODE_INSTALL=skip');
  });
});
