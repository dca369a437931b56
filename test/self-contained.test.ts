/**
 * The repository is self-contained: no absolute machine paths in any file, and the tests read
 * nothing beside the repository (their models and data are under fixtures/). The full ONNX
 * node-test corpus is the one documented opt-in (HBNN_ONNX_NODE_CORPUS).
 */
import { describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/build.js';

/** Folders that are not the repository's own content (see .gitignore). */
const SKIP_DIRS = new Set(['.git', 'node_modules', 'dist', 'out', 'tmp', '.vitest-cache', '.scratch']);
const BINARY = /\.(onnx|gz|pb|npy|bin|png|jpg|ico|woff2?)$/i;

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(e.name) || (dir === path.join(REPO_ROOT, 'bench') && e.name === 'out')) continue;
    const f = path.join(dir, e.name);
    if (e.isDirectory()) walk(f, out);
    else if (e.isFile() && !BINARY.test(e.name)) out.push(f);
  }
  return out;
}

const FILES = walk(REPO_ROOT);
const rel = (f: string): string => path.relative(REPO_ROOT, f);

describe('the repository needs nothing outside itself', () => {
  test('there are files to check (the walk sees the sources, tests and docs)', () => {
    const names = FILES.map(rel);
    for (const f of ['README.md', 'src/errors.ts', 'test/helpers/build.ts', '.ci/run', 'docs/cli.md']) expect(names).toContain(f);
  });

  test('no file names an absolute machine path (the work, home or root folders)', () => {
    // Built from pieces so that this file does not match itself.
    const machine = new RegExp(['/w', 'ork/'].join('') + '|' + ['/ho', 'me/\\w'].join('') + '|' + ['/ro', 'ot/'].join(''));
    const hits: string[] = [];
    for (const f of FILES) {
      const lines = fs.readFileSync(f, 'utf8').split('\n');
      lines.forEach((l, i) => {
        if (machine.test(l)) hits.push(`${rel(f)}:${i + 1}: ${l.trim().slice(0, 120)}`);
      });
    }
    expect(hits).toEqual([]);
  });

  test('tests, benches and scripts read no shared/ folder beside the repository', () => {
    const beside = new RegExp(["\\.\\./", 'shared', "|'\\.\\.', '", 'shared', "'"].join(''));
    const hits: string[] = [];
    for (const f of FILES) {
      const r = rel(f);
      if (!/^(test|bench)\//.test(r)) continue;
      const lines = fs.readFileSync(f, 'utf8').split('\n');
      lines.forEach((l, i) => {
        // The opt-in corpus is named only in comments and messages, never read by default.
        if (beside.test(l) && !/HBNN_ONNX_NODE_CORPUS|CORPUS_ENV|^\s*(\*|\/\/)/.test(l)) hits.push(`${r}:${i + 1}: ${l.trim().slice(0, 120)}`);
      });
    }
    expect(hits).toEqual([]);
  });

  test('every fixture the tests name exists in the repository', () => {
    const named = new Set<string>();
    for (const f of FILES.filter((x) => rel(x).startsWith('test/'))) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/fixtureFile\('([^']+)'\)/g)) named.add(m[1]!);
    }
    expect(named.size).toBeGreaterThan(5);
    for (const n of named) expect(fs.existsSync(path.join(REPO_ROOT, 'fixtures', n)), n).toBe(true);
  });
});
