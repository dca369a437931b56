import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inferShapes } from '../../passes/infer-shapes.js';
import { eliminateDeadCode } from '../../passes/eliminate-dead-code.js';
import { eliminateIdentity } from '../../passes/eliminate-identity.js';
import { foldConstants } from '../../passes/fold-constants.js';
import { foldBatchnorm } from '../../passes/fold-batchnorm.js';
import { topologicalSort } from '../../passes/topological-sort.js';
import { recalibrateBatchnorm } from '../../passes/recalibrate-batchnorm.js';
import { insertWeightBinarization } from '../../passes/insert-weight-binarization.js';
import { constantInitializerInputs } from '../../passes/constant-initializer-inputs.js';
import { upgradeOpset } from '../../passes/upgrade-opset.js';
import { importQonnx } from '../../passes/import-qonnx.js';
import { REPO_ROOT } from '../helpers/build.js';

/** docs/passes.md is written by hand; this keeps it faithful to the declarations. */
describe('docs/passes.md', () => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'passes.md'), 'utf8');
  const section = (name: string): string => {
    const start = doc.indexOf(`\n## ${name}\n`);
    expect(start, `section ## ${name}`).toBeGreaterThan(0);
    const end = doc.indexOf('\n## ', start + 1);
    return doc.slice(start, end < 0 ? undefined : end);
  };
  for (const p of [topologicalSort, inferShapes, foldConstants, eliminateIdentity, eliminateDeadCode, foldBatchnorm, insertWeightBinarization, recalibrateBatchnorm, constantInitializerInputs, upgradeOpset, importQonnx]) {
    it(`documents ${p.name}: summary, options with defaults, properties, rules`, () => {
      const s = section(p.name);
      expect(s).toContain(p.summary);
      for (const o of p.options) {
        const row = s.split('\n').find((l) => l.startsWith(`| \`${o.name}\``));
        expect(row, `option ${o.name}`).toBeDefined();
        // (a `|` in a doc is escaped in the Markdown table)
        expect(row).toContain(o.doc.replace(/\|/g, '\\|'));
        expect(row).toContain(o.type);
        expect(row).toContain(o.default === undefined ? '| – |' : `\`${String(o.default)}\``);
        for (const c of o.choices ?? []) expect(row).toContain(`\`${c}\``);
      }
      if (p.options.length === 0) expect(s).toContain('Options: none.');
      for (const e of p.establishes) expect(s).toContain(`Establishes: \`${e}\``);
      for (const r of p.requires) expect(s).toContain(`Requires: \`${r}\``);
      if (p.preserves === 'all') expect(s).toContain('Preserves: all properties');
      else for (const q of p.preserves) expect(s).toContain(q);
      expect(s).toMatch(/\n1\. /);
      // the table row at the top names the same summary and property
      const cell = (xs: readonly string[]) => (xs.length ? xs.join(', ') : '–');
      expect(doc).toContain(`| [\`${p.name}\`](#${p.name}) | ${p.summary} | ${cell(p.requires)} | ${cell(p.establishes)} |`);
    });
  }
});
