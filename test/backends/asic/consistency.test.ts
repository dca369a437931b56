/**
 * The ASIC report agrees with itself: the homogeneous rows are labelled with the bits they
 * have, the paper rule's anchor has the bits it was priced at, the activation-bits note gives
 * the widths the layer table shows (also from the bit-level IR), the report says which figure
 * to trust and why they differ, and its title is the model file's name, not the exporter's
 * graph name.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import { lowerAsic, type AsicLowering } from '../../../src/backends/asic/index.js';
import { bitsLabel } from '../../../src/backends/asic/format.js';
import type { Model } from '../../../src/ir/graph.js';
import { weightsOnlyCnv } from './fixtures.js';

/** Activation bits per layer as the Markdown layer table prints them. */
function tableActBits(md: string): Map<string, string> {
  const layers = md.split('## Layers')[1]!.split('\n## ')[0]!;
  const rows = layers.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| layer') && !l.startsWith('| ---'));
  return new Map(rows.map((r) => {
    const c = r.split('|').map((x) => x.trim());
    return [c[1]!, c[5]!.split(' ')[0]!];
  }));
}

function checkConsistent(out: AsicLowering, defaultAnchor = true): void {
  const r = out.report;
  const md = out.files.get('report.md')!;
  const html = out.files.get('report.html')!;
  // Homogeneous rows: label = the bits they have.
  for (const v of r.variants.filter((x) => x.variant !== 'model')) {
    expect(v.label).toBe(`homogeneous ${bitsLabel(v.weightBits, v.activationBits)}`);
    expect(md).toContain(`| ${v.label} | ${bitsLabel(v.weightBits, v.activationBits)} |`);
  }
  // The default anchor is the homogeneous 2-bit design, with its own bits.
  const w2 = r.variants.find((v) => v.variant === 'homogeneous-2')!;
  if (defaultAnchor) {
    expect([r.paper.anchor.weightBits, r.paper.anchor.activationBits]).toEqual([w2.weightBits, w2.activationBits]);
    expect(r.paper.anchor.label).toContain(bitsLabel(w2.weightBits, w2.activationBits));
  }
  // Notes name the activation widths the table shows for the same layers.
  const acts = tableActBits(md);
  const notes = r.notes.filter((n) => n.startsWith('Layer inputs the model leaves in float'));
  expect(notes.length).toBeGreaterThan(0);
  for (const n of notes) {
    const b = Number(/priced at (\d+(?:\.\d+)?) activation bits/.exec(n)![1]);
    const names = n.split('): ')[1]!.replace(/\.$/, '').split(', ');
    for (const name of names) expect(Number(acts.get(name)), `${name} in "${n}"`).toBe(b);
  }
  // Which figure to trust: said in all three files.
  expect(r.trust).toMatch(/^Trust the unit counts for this design/);
  expect(md).toContain(`**Which figure to trust.** ${r.trust}`);
  expect(html).toContain('<b>Which figure to trust.</b>');
}

describe('ASIC report self-consistency (CNV, weights at 1.4 bits, activations float)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await weightsOnlyCnv(1.4);
  });

  it('from the quantization record: rows, anchor, notes and trust agree', () => {
    const out = lowerAsic(model);
    checkConsistent(out);
    const r = out.report;
    // Float layer inputs priced at 8 bits: the homogeneous rows are W1A8 and W2A8, not W1A1 / W2A2.
    expect(r.variants.map((v) => v.label)).toEqual(['homogeneous W1A8', 'this model', 'homogeneous W2A8']);
    // Anchored at the design's own bits, the rule and the unit counts are close.
    expect(Math.abs(r.units.areaMm2 / r.paper.areaMm2 - 1)).toBeLessThan(0.25);
    expect(r.trust).toMatch(/agree within/);
  });

  it('from the bit-level IR: the note says the IR widths the table shows (not 8)', () => {
    const out = lowerAsic(model, { program: lowerToBitIR(model) });
    checkConsistent(out);
    const notes = out.report.notes.filter((n) => n.startsWith('Layer inputs'));
    expect(notes.join('\n')).not.toMatch(/priced at 8 activation bits/);
  });

  it('with a paper anchor of another design the report says why the figures differ', () => {
    const out = lowerAsic(model, { paperAnchor: 'vgg8-cifar10' });
    checkConsistent(out, false);
    expect(out.report.trust).toMatch(/differ by [+-]\d+\.\d% \(area\) because the anchor is another design/);
  });

  it('the title is the model file name, not the graph name', () => {
    const m = model;
    const saved = { path: m.sourcePath, graph: m.graph.name };
    m.sourcePath = '/models/fmnist-cnn.hbnn.onnx';
    m.graph.name = 'torch_jit';
    try {
      const out = lowerAsic(m);
      expect(out.report.model).toBe('fmnist-cnn.hbnn');
      expect(out.files.get('report.md')!.split('\n')[0]).toBe('# ASIC estimate: fmnist-cnn.hbnn');
      expect(out.files.get('report.html')!).toContain('<title>ASIC estimate: fmnist-cnn.hbnn</title>');
      expect(lowerAsic(m, { modelName: 'mine' }).report.model).toBe('mine');
    } finally {
      if (saved.path === undefined) delete m.sourcePath;
      else m.sourcePath = saved.path;
      m.graph.name = saved.graph;
    }
  });
});
