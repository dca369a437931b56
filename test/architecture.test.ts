/**
 * The layering of docs/architecture.md, checked on the code: every import in src/, passes/
 * and zoo/ (import/export-from lines, `import('...')` types and dynamic imports, type-only
 * imports included) is read with a regular expression, each file is mapped to its layer by the
 * one layer table docs/layers.json, and the check fails on
 *   - a file that no layer claims (a new folder must be placed in the table),
 *   - an import of a later (higher) layer,
 *   - an import cycle between files, or between folders (a folder: src/<name>/,
 *     src/backends/<name>/ with its subfolders, passes/, zoo/),
 *   - a CLI command file (one that registers a command) importing another command file.
 * The checks are pure functions over an import list, so the first tests feed them synthetic
 * lists and show that each kind of violation is reported.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/build.js';

interface Layer {
  name: string;
  paths: string[];
}
interface Import {
  from: string;
  to: string;
}

/**
 * Known violations, each removed by the change that fixes it (issue 14): imports from `from`
 * of files whose path starts with `to` are not checked.
 */
interface Exception {
  from: string;
  to: string;
  why: string;
}
const EXCEPTIONS: Exception[] = [];

const LAYERS: Layer[] = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs/layers.json'), 'utf8')) as { layers: Layer[] }).layers;

/** Index of the layer that claims `file` (the longest matching path), or undefined. */
function layerOf(file: string, layers: readonly Layer[]): number | undefined {
  let best: number | undefined;
  let bestLen = -1;
  layers.forEach((l, i) => {
    for (const p of l.paths) {
      const hit = p.endsWith('/') ? file.startsWith(p) : file === p;
      if (hit && p.length > bestLen) {
        best = i;
        bestLen = p.length;
      }
    }
  });
  return best;
}

/** The folder a file belongs to for the folder-cycle check. */
function folderOf(file: string): string {
  const s = file.split('/');
  if (s[0] !== 'src') return s[0]!;
  if (s.length === 2) return file; // src/errors.ts, src/index.ts, src/inspect.ts
  if (s[1] === 'backends' && s.length > 3) return s.slice(0, 3).join('/');
  return s.slice(0, 2).join('/');
}

/** Cycles of a directed graph: each strongly connected component with more than one node (or a self-loop). */
function cycles(edges: readonly [string, string][]): string[][] {
  const g = new Map<string, string[]>();
  for (const [a, b] of edges) {
    if (!g.has(a)) g.set(a, []);
    if (!g.has(b)) g.set(b, []);
    g.get(a)!.push(b);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || g.get(v)!.includes(v)) out.push(comp.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** Every violation of the layering in `files` and their `imports`, as sentences (empty: none). */
function checkLayering(files: readonly string[], imports: readonly Import[], layers: readonly Layer[], exceptions: readonly Exception[] = []): string[] {
  const problems: string[] = [];
  for (const f of files) if (layerOf(f, layers) === undefined) problems.push(`${f}: in no layer of docs/layers.json`);
  const checked = imports.filter((i) => !exceptions.some((e) => i.from === e.from && i.to.startsWith(e.to)));
  for (const { from, to } of checked) {
    const a = layerOf(from, layers);
    const b = layerOf(to, layers);
    if (a === undefined || b === undefined) continue;
    if (b > a) problems.push(`${from} (${layers[a]!.name}) imports ${to} (${layers[b]!.name}), a higher layer`);
  }
  for (const c of cycles(checked.map((i) => [i.from, i.to]))) problems.push(`import cycle between files: ${c.join(', ')}`);
  const folderEdges = checked.map((i): [string, string] => [folderOf(i.from), folderOf(i.to)]).filter(([a, b]) => a !== b);
  for (const c of cycles(folderEdges)) problems.push(`import cycle between folders: ${c.join(', ')}`);
  return problems;
}

/** Imports of one command file by another, as sentences. */
function commandImports(imports: readonly Import[], commands: ReadonlySet<string>): string[] {
  return imports.filter((i) => commands.has(i.from) && commands.has(i.to) && i.from !== i.to).map((i) => `${i.from} imports the command file ${i.to}`);
}

const IMPORT_FROM = /^(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm;
const IMPORT_BARE = /^import\s*['"]([^'"]+)['"]/gm;
const IMPORT_CALL = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative imports of one source file (comment lines dropped), as repository paths of .ts files. */
function importsOf(file: string, text: string): string[] {
  const code = text
    .split('\n')
    .filter((l) => !/^\s*(\*|\/\*|\/\/)/.test(l))
    .join('\n');
  const specs = [...code.matchAll(IMPORT_FROM), ...code.matchAll(IMPORT_BARE), ...code.matchAll(IMPORT_CALL)].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts'));
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(REPO_ROOT, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(r);
    }
  };
  walk(dir);
  return out.sort();
}

describe('the layer check (synthetic import lists)', () => {
  const layers: Layer[] = [
    { name: 'low', paths: ['src/low/', 'src/base.ts'] },
    { name: 'mid', paths: ['src/mid/', 'src/mid/deep/special.ts'] },
    { name: 'high', paths: ['src/high/'] },
  ];
  const files = ['src/base.ts', 'src/low/a.ts', 'src/low/b.ts', 'src/mid/m.ts', 'src/high/h.ts'];

  it('accepts imports down the order and within a layer', () => {
    const ok = [
      { from: 'src/high/h.ts', to: 'src/mid/m.ts' },
      { from: 'src/mid/m.ts', to: 'src/low/a.ts' },
      { from: 'src/low/a.ts', to: 'src/low/b.ts' },
      { from: 'src/low/b.ts', to: 'src/base.ts' },
    ];
    expect(checkLayering(files, ok, layers)).toEqual([]);
  });

  it('reports an import up the order', () => {
    expect(checkLayering(files, [{ from: 'src/low/a.ts', to: 'src/high/h.ts' }], layers)).toEqual([
      'src/low/a.ts (low) imports src/high/h.ts (high), a higher layer',
    ]);
  });

  it('reports a file cycle, and a folder cycle without a file cycle', () => {
    expect(checkLayering(files, [{ from: 'src/low/a.ts', to: 'src/low/b.ts' }, { from: 'src/low/b.ts', to: 'src/low/a.ts' }], layers)).toEqual([
      'import cycle between files: src/low/a.ts, src/low/b.ts',
    ]);
    // Same layer, different folders, no file cycle: a.ts -> base.ts -> b.ts is fine, but
    // src/mid/x -> src/low/a -> src/mid/y is a folder cycle.
    const layers2: Layer[] = [{ name: 'one', paths: ['src/'] }];
    const files2 = ['src/p/x.ts', 'src/p/y.ts', 'src/q/z.ts'];
    expect(checkLayering(files2, [{ from: 'src/p/x.ts', to: 'src/q/z.ts' }, { from: 'src/q/z.ts', to: 'src/p/y.ts' }], layers2)).toEqual([
      'import cycle between folders: src/p, src/q',
    ]);
  });

  it('reports a file in no layer, uses the longest path, and skips named exceptions', () => {
    expect(checkLayering([...files, 'src/new/n.ts'], [], layers)).toEqual(['src/new/n.ts: in no layer of docs/layers.json']);
    expect(layerOf('src/mid/deep/special.ts', layers)).toBe(1);
    const up = [{ from: 'src/low/a.ts', to: 'src/high/h.ts' }];
    expect(checkLayering(files, up, layers, [{ from: 'src/low/a.ts', to: 'src/high/', why: 'known' }])).toEqual([]);
    expect(checkLayering(files, up, layers, [{ from: 'src/low/a.ts', to: 'src/mid/', why: 'other' }])).toHaveLength(1);
  });

  it('reads import/export-from lines, multi-line imports, type imports and import() types, not comments', () => {
    const text = [
      "import { a } from './a.js';",
      'import {',
      '  b,',
      "} from '../x/b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "import type { E } from './e.js';",
      "import * as fs from 'node:fs';",
      "let f: import('../f.js').F;",
      " * import { g } from './g.js';",
      "// import { h } from './h.js';",
    ].join('\n');
    expect(importsOf('src/y/z.ts', text)).toEqual(['src/y/a.ts', 'src/x/b.ts', 'src/y/c.ts', 'src/y/d.ts', 'src/y/e.ts', 'src/f.ts']);
  });
});

describe('the code follows docs/layers.json', () => {
  const files = [...sourceFiles('src'), ...sourceFiles('passes'), ...sourceFiles('zoo')];
  const imports: Import[] = files.flatMap((from) => importsOf(from, fs.readFileSync(path.join(REPO_ROOT, from), 'utf8')).map((to) => ({ from, to })));

  it('reads the imports of every file (each resolves to a source file)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(imports.length).toBeGreaterThan(500);
    expect(imports.filter((i) => !fs.existsSync(path.join(REPO_ROOT, i.to))).map((i) => `${i.from} -> ${i.to}`)).toEqual([]);
  });

  it('every layer path exists, and every exception is still needed', () => {
    for (const l of LAYERS) for (const p of l.paths) expect(fs.existsSync(path.join(REPO_ROOT, p)), p).toBe(true);
    for (const e of EXCEPTIONS) {
      const rest = EXCEPTIONS.filter((x) => x !== e);
      expect(checkLayering(files, imports, LAYERS, rest).length, `exception ${e.from} -> ${e.to} is no longer needed: remove it`).toBeGreaterThan(0);
    }
  });

  it('has no import up the layer order and no file or folder cycle', () => {
    expect(checkLayering(files, imports, LAYERS, EXCEPTIONS)).toEqual([]);
  });

  it('a CLI command file imports no other command file (shared pieces live in helpers and src/cli/run/)', () => {
    // A command file registers a command (`export function registerX`); main.ts registers them all.
    const isCommand = (f: string): boolean => f.startsWith('src/cli/') && f !== 'src/cli/main.ts' && /^export function register\w+\(/m.test(fs.readFileSync(path.join(REPO_ROOT, f), 'utf8'));
    const commands = files.filter(isCommand);
    expect(commands.length).toBeGreaterThanOrEqual(9);
    expect(commandImports(imports, new Set(commands))).toEqual([]);
    // the check reports such an import
    expect(commandImports([{ from: 'src/cli/demo.ts', to: 'src/cli/opt.ts' }], new Set(['src/cli/demo.ts', 'src/cli/opt.ts']))).toEqual(['src/cli/demo.ts imports the command file src/cli/opt.ts']);
  });

  it('docs/architecture.md names every layer of the table', () => {
    const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/architecture.md'), 'utf8');
    expect(doc).toContain('docs/layers.json');
    for (const l of LAYERS) for (const p of l.paths) expect(doc, p).toContain(p.replace(/\/$/, ''));
  });
});
