import { describe, expect, it } from 'vitest';
import { Pipeline, PassRegistry, formatReport } from '../../src/pass/manager.js';
import { parsePipeline, printPipeline } from '../../src/pass/pipeline.js';
import { definePass, type Pass, type Property } from '../../src/pass/pass.js';
import { builtinPasses } from '../../passes/registry.js';
import { ErrorCodes, HbnnError, fail } from '../../src/errors.js';
import { loadModel } from '../../src/onnx/io.js';
import { inferShapes } from '../../passes/infer-shapes.js';
import { eliminateDeadCode } from '../../passes/eliminate-dead-code.js';
import { eliminateIdentity } from '../../passes/eliminate-identity.js';
import { foldConstants } from '../../passes/fold-constants.js';
import { foldBatchnorm } from '../../passes/fold-batchnorm.js';
import { topologicalSort } from '../../passes/topological-sort.js';
import type { Model } from '../../src/ir/graph.js';
import { FMNIST_CNN, FMNIST_MLP, addInput, addNode, expectHbnnError, newModel } from '../helpers/build.js';

/** A model x -> Relu -> Identity -> y. */
function tiny(): Model {
  const m = newModel(13);
  const x = addInput(m.graph, 'x', ['N', 2]);
  const r = addNode(m.graph, 'Relu', [x], ['r']);
  m.graph.setOutput(0, addNode(m.graph, 'Identity', [r.outputs[0]!], ['y']).outputs[0]!);
  return m;
}

// Test passes. Each is stateless; counting happens through ctx.stat.
const alwaysChanges = definePass({ name: 'always-changes', summary: 'reports a change every time', run: (_m, ctx) => (ctx.stat('runs'), { changed: true }) });
const needsShapes = definePass({ name: 'needs-shapes', summary: 'requires shapes-inferred', requires: ['shapes-inferred'], run: () => ({ changed: false }) });
const breaksGraph = definePass({
  name: 'breaks-graph',
  summary: 'removes a used node without rewiring (a deliberately broken pass)',
  run: (m) => {
    m.graph.removeNode(m.graph.nodes[0]!, { force: true });
    return { changed: true };
  },
});
const throwsPlain = definePass({ name: 'throws-plain', summary: 'throws a plain Error', run: () => { throw new Error('kaboom'); } });
const throwsTyped = definePass({ name: 'throws-typed', summary: 'throws an HbnnError', run: () => fail(ErrorCodes.NUMERIC, 'bad numbers', { node: 'n7' }) });
const withOptions = definePass({
  name: 'with-options',
  summary: 'declares one option of each type',
  options: [
    { name: 'ratio', type: 'number', doc: 'a number', default: 0.5, min: 0, max: 1 },
    { name: 'count', type: 'integer', doc: 'an integer', default: 3 },
    { name: 'flag', type: 'boolean', doc: 'a boolean', default: false },
    { name: 'mode', type: 'string', doc: 'a choice', default: 'a', choices: ['a', 'b'] },
    { name: 'names', type: 'string-list', doc: 'names', default: [] },
  ],
  run: (_m, ctx) => {
    ctx.artifacts.set('options', ctx.options);
    return { changed: false };
  },
});
const changesOnceThenStable = definePass({
  name: 'fold-once',
  summary: 'removes the first Identity it finds; unchanged when none is left',
  run: (m, ctx) => {
    const id = m.graph.nodes.find((n) => n.opType === 'Identity' && !n.outputs[0]!.isGraphOutput);
    if (!id) return { changed: false };
    id.outputs[0]!.replaceAllUsesWith(id.inputs[0]!);
    m.graph.removeNode(id);
    ctx.stat('removed');
    return { changed: true };
  },
});
/** Clears every property except 'no-identity' when it changes the model. */
const clearsProps: Pass = { ...alwaysChanges, name: 'clears-props', preserves: ['no-identity'] as Property[] };

const registry = () =>
  new PassRegistry().register(
    inferShapes,
    eliminateDeadCode,
    eliminateIdentity,
    foldConstants,
    foldBatchnorm,
    topologicalSort,
    alwaysChanges,
    needsShapes,
    breaksGraph,
    throwsPlain,
    throwsTyped,
    withOptions,
    changesOnceThenStable,
    clearsProps,
  );

describe('pipeline text', () => {
  it('parses and prints back (round trip), fixpoint groups included', () => {
    for (const text of [
      'fold-constants,fixpoint{max=4}(eliminate-identity,eliminate-dead-code{keep-initializers=true})',
      'infer-shapes{strict=true},fold-batchnorm,topological-sort',
      'with-options{mode=b,names=conv1|fc3,ratio=0.25}',
      'fixpoint{max=8}(fold-constants,fixpoint{max=2}(eliminate-identity))',
      '',
    ]) {
      const p = Pipeline.parse(text, registry());
      expect(p.toString()).toBe(text);
      expect(printPipeline(parsePipeline(p.toString()))).toBe(text);
    }
    // whitespace and defaults are normalised
    expect(Pipeline.parse(' fixpoint ( eliminate-identity , eliminate-dead-code ) ', registry()).toString()).toBe('fixpoint{max=8}(eliminate-identity,eliminate-dead-code)');
    // quoted values survive
    expect(printPipeline(parsePipeline('with-options{names="a b|c,d"}'))).toBe('with-options{names="a b|c,d"}');
  });

  it('syntax errors are PIPELINE_PARSE with the column', async () => {
    const err = await expectHbnnError(() => Pipeline.parse('infer-shapes,,fold-constants', registry()), ErrorCodes.PIPELINE_PARSE);
    expect(err.message).toMatch(/column 14/);
    await expectHbnnError(() => Pipeline.parse('fixpoint{max=0}(infer-shapes)', registry()), ErrorCodes.PIPELINE_PARSE);
    await expectHbnnError(() => Pipeline.parse('infer-shapes{strict=true', registry()), ErrorCodes.PIPELINE_PARSE);
    await expectHbnnError(() => Pipeline.parse('with-options{mode=a,mode=b}', registry()), ErrorCodes.PIPELINE_PARSE);
  });

  it('an unknown pass is UNKNOWN_PASS with a suggestion', async () => {
    const err = await expectHbnnError(() => Pipeline.parse('infer-shapes,eliminate-dead-cod', registry()), ErrorCodes.UNKNOWN_PASS);
    expect(err.message).toContain('unknown pass "eliminate-dead-cod"');
    expect(err.message).toContain('did you mean eliminate-dead-code');
    const far = await expectHbnnError(() => Pipeline.parse('quantum-annealing', registry()), ErrorCodes.UNKNOWN_PASS);
    expect(far.message).not.toContain('did you mean');
  });

  it('bad options are INVALID_OPTION naming the pass and the option', async () => {
    const cases: [string, RegExp][] = [
      ['with-options{colour=red}', /no option "colour"; its options are: ratio, count, flag, mode, names/],
      ['with-options{ratio=abc}', /ratio=abc is not a number/],
      ['with-options{ratio=2}', /above the maximum 1/],
      ['with-options{count=1.5}', /not an integer/],
      ['with-options{flag=maybe}', /not true or false/],
      ['with-options{mode=c}', /not one of a, b/],
      ['fold-constants{max-elements=-1}', /below the minimum 0/],
    ];
    for (const [text, re] of cases) {
      const err = await expectHbnnError(() => Pipeline.parse(text, registry()), ErrorCodes.INVALID_OPTION);
      expect(err.message, text).toMatch(re);
      expect(err.context.pass).toBe(text.split('{')[0]);
    }
  });

  it('options are converted and defaulted', async () => {
    const rep = await Pipeline.parse('with-options{ratio=0.25,flag=yes,names=conv1|fc3}', registry()).run(tiny());
    expect(rep.artifacts.get('options')).toEqual({ ratio: 0.25, count: 3, flag: true, mode: 'a', names: ['conv1', 'fc3'] });
  });
});

describe('running pipelines', () => {
  it('records statistics, timing, changes and properties per pass', async () => {
    const m = loadModel(FMNIST_CNN());
    const rep = await Pipeline.parse('infer-shapes,eliminate-identity,eliminate-dead-code', registry()).run(m);
    expect(rep.passes.map((p) => p.pass)).toEqual(['infer-shapes', 'eliminate-identity', 'eliminate-dead-code']);
    for (const p of rep.passes) {
      expect(p.ms).toBeGreaterThanOrEqual(0);
      expect(p.verifyMs).toBeGreaterThan(0);
    }
    expect(rep.totalMs).toBeGreaterThanOrEqual(rep.passes.reduce((s, p) => s + p.ms, 0));
    expect(rep.passes[0]!.stats.inferred).toBe(15);
    expect(rep.passes[0]!.changed).toBe(true);
    expect(rep.passes[1]!.changed).toBe(false);
    expect(rep.properties.sort()).toEqual(['no-dead-code', 'no-identity', 'shapes-inferred']);
    const text = formatReport(rep);
    expect(text).toContain('infer-shapes');
    expect(text).toContain('inferred=15');
    expect(text).toMatch(/total \d+\.\d ms/);
  });

  it('a pass whose requirement no earlier pass established fails before running', async () => {
    const err = await expectHbnnError(() => Pipeline.parse('eliminate-dead-code,needs-shapes', registry()).run(tiny()), ErrorCodes.PASS_FAILED);
    expect(err.message).toContain('pass needs-shapes requires shapes-inferred');
    expect(err.message).toContain('passes before it: eliminate-dead-code');
    const ok = await Pipeline.parse('infer-shapes,needs-shapes', registry()).run(tiny());
    expect(ok.passes.map((p) => p.pass)).toEqual(['infer-shapes', 'needs-shapes']);
  });

  it('a changing pass clears the properties it does not preserve', async () => {
    const err = await expectHbnnError(() => Pipeline.parse('infer-shapes,eliminate-identity,clears-props,needs-shapes', registry()).run(tiny()), ErrorCodes.PASS_FAILED);
    expect(err.message).toContain('requires shapes-inferred');
    const rep = await Pipeline.parse('infer-shapes,eliminate-identity,clears-props', registry()).run(tiny());
    expect(rep.properties).toEqual(['no-identity']);
  });

  it('the verifier between passes names the pass that broke the graph and those before it', async () => {
    const err = await expectHbnnError(() => Pipeline.parse('infer-shapes,eliminate-identity,breaks-graph,eliminate-dead-code', registry()).run(tiny()), ErrorCodes.VERIFY);
    expect(err.message).toContain('pass breaks-graph left an invalid graph (passes before it: infer-shapes, eliminate-identity)');
    expect(err.message).toMatch(/output "y" is not produced/);
    expect(err.context.pass).toBe('breaks-graph');
    // with verification off, the broken graph goes through unnoticed
    const rep = await Pipeline.parse('breaks-graph', registry()).run(tiny(), { verify: false });
    expect(rep.passes).toHaveLength(1);
  });

  it('an invalid input is reported before any pass runs', async () => {
    const m = tiny();
    m.graph.removeNode(m.graph.nodes[0]!, { force: true });
    const err = await expectHbnnError(() => Pipeline.parse('infer-shapes', registry()).run(m), ErrorCodes.VERIFY);
    expect(err.message).toContain('before any pass ran');
  });

  it('failures name the pass and the passes before it; typed errors keep their code', async () => {
    const plain = await expectHbnnError(() => Pipeline.parse('infer-shapes,eliminate-dead-code,throws-plain,infer-shapes', registry()).run(tiny()), ErrorCodes.PASS_FAILED);
    expect(plain.message).toBe('pass throws-plain failed (passes before it: infer-shapes, eliminate-dead-code): kaboom');
    expect(plain.context).toMatchObject({ pass: 'throws-plain', before: ['infer-shapes', 'eliminate-dead-code'] });
    const typed = await expectHbnnError(() => Pipeline.parse('throws-typed', registry()).run(tiny()), ErrorCodes.NUMERIC);
    expect(typed.message).toBe('pass throws-typed failed (passes before it: none): bad numbers');
    expect(typed.context).toMatchObject({ pass: 'throws-typed', node: 'n7' });
    expect((typed as HbnnError & { cause?: unknown }).cause).toBeInstanceOf(HbnnError);
  });

  it('a fixpoint group stops at its bound when a pass always reports a change', async () => {
    const rep = await Pipeline.parse('fixpoint{max=3}(always-changes,eliminate-dead-code)', registry()).run(tiny());
    expect(rep.passes.map((p) => p.pass)).toEqual(['always-changes', 'eliminate-dead-code', 'always-changes', 'eliminate-dead-code', 'always-changes', 'eliminate-dead-code']);
    expect(rep.warnings).toEqual([expect.stringContaining('still changed the model after max=3 rounds')]);
  });

  it('a fixpoint group stops as soon as a round changes nothing', async () => {
    const m = tiny();
    const y = m.graph.outputs[0]!;
    // three more Identity nodes in a chain before the output's Identity
    let v = m.graph.nodes[0]!.outputs[0]!;
    for (let i = 0; i < 3; i++) {
      const id = m.graph.createNode('Identity', [v], [`id${i}`]);
      m.graph.insertBefore(y.producer!, id);
      v = id.outputs[0]!;
    }
    y.producer!.setInput(0, v);
    const rep = await Pipeline.parse('fixpoint{max=10}(fold-once)', registry()).run(m);
    expect(rep.passes.map((p) => p.changed)).toEqual([true, true, true, false]);
    expect(rep.warnings).toEqual([]);
  });

  it('a pipeline that starts with topological-sort accepts an unsorted input', async () => {
    const m = tiny();
    m.graph.nodes.reverse();
    await expectHbnnError(() => Pipeline.parse('infer-shapes', registry()).run(m), ErrorCodes.VERIFY);
    const rep = await Pipeline.parse('topological-sort,infer-shapes', registry()).run(m);
    expect(rep.passes[0]!.changed).toBe(true);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Relu', 'Identity']);
  });

  it('prints the IR after the chosen passes', async () => {
    const out: string[] = [];
    await Pipeline.parse('infer-shapes,eliminate-dead-code', registry()).run(tiny(), { printIrAfter: ['infer-shapes'], sink: (s) => out.push(s) });
    expect(out).toHaveLength(1);
    expect(out[0]).toContain('// IR after infer-shapes');
    expect(out[0]).toContain('%r: float[N,2] = Relu(%x)');
  });

  it('the standard cleanup pipeline runs on the fmnist models', async () => {
    for (const file of [FMNIST_CNN(), FMNIST_MLP()]) {
      const m = loadModel(file);
      const rep = await Pipeline.parse('topological-sort,infer-shapes,fold-constants,fixpoint(eliminate-identity,eliminate-dead-code),fold-batchnorm,eliminate-dead-code', registry()).run(m);
      expect(m.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(false);
      expect(rep.properties).toContain('batchnorm-folded');
    }
  });
});

describe('built-in registry', () => {
  it('registers the graph passes by name', () => {
    const r = builtinPasses();
    for (const name of ['infer-shapes', 'fold-constants', 'eliminate-dead-code', 'eliminate-identity', 'fold-batchnorm', 'topological-sort']) {
      const p = r.get(name);
      expect(p.name).toBe(name);
      expect(p.summary.length).toBeGreaterThan(10);
      for (const o of p.options) expect(o.doc.length, `${name}.${o.name}`).toBeGreaterThan(5);
    }
  });
});
