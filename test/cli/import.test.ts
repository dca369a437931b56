/**
 * The command line on real-model shapes: quantize prints what it prepared, --keep-imported and
 * --keep-initializer-inputs change it, the printed pipeline reproduces the model with opt, opt
 * sorts an unsorted model on load (and says so), fold-constants names initializer inputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, TFC_1W1A, cli, tmpDir } from './helpers.js';
import { loadModel, saveModel, decodeModel, encodeModel } from '../../src/onnx/io.js';
import { readQuantRecord } from '../../src/quant/format.js';

describe('quantize / opt on real-model shapes', () => {
  it('quantize TFC 1W1A: prints the preparation; --keep-imported keeps 1-bit planes; opt reproduces the printed pipeline byte for byte', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'tfc.onnx');
    const r = await cli(['quantize', TFC_1W1A(), '--keep-imported', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('prepared:\n');
    expect(r.stdout).toMatch(/33 initializers are also graph inputs \(IR 3 style\); treated as constants/);
    expect(r.stdout).toContain('ai.onnx opset 9 upgraded to 11 (upgrade-opset)');
    expect(r.stdout).toContain('BipolarQuant weights kept as 1-bit planes with their scale');
    expect(r.stdout).toContain('average weight bits: 1.000');
    const pipeline = /^pipeline: (.*)$/m.exec(r.stdout)![1]!;
    expect(pipeline).toBe('constant-initializer-inputs,upgrade-opset{to=11},import-qonnx{bipolar-weights=planes},fold-constants,insert-weight-binarization{avg-bits=1.4},insert-scaling-layer');
    const again = path.join(dir, 'tfc-opt.onnx');
    const o = await cli(['opt', TFC_1W1A(), '-p', pipeline, '-o', again]);
    expect(o.code, o.stderr).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);

    const j = await cli(['quantize', TFC_1W1A(), '-o', path.join(dir, 'tfc14.onnx'), '--json']);
    expect(j.code, j.stderr).toBe(0);
    const doc = JSON.parse(j.stdout) as { preparation: string[]; avgWeightBits: number };
    expect(doc.preparation.join('\n')).toContain('re-binarized from their dequantized values');
    expect(doc.avgWeightBits).toBeCloseTo(1.4, 3);

    // Initializers kept overridable: the weights stay graph inputs, nothing is binarizable.
    const k = await cli(['quantize', TFC_1W1A(), '--keep-initializer-inputs', '-o', path.join(dir, 'kept.onnx')]);
    expect(k.code).toBe(4);
    expect(k.stderr).toContain('nothing-to-quantize');
    expect(fs.existsSync(path.join(dir, 'kept.onnx'))).toBe(false);
  });

  it('--keep-imported and --keep-initializer-inputs warn when the model gives them nothing to do', async () => {
    const dir = tmpDir();
    const r = await cli(['quantize', path.join(REPO_ROOT, 'fixtures/models/fmnist-mlp.onnx'), '--keep-imported', '--keep-initializer-inputs', '-o', path.join(dir, 'm.onnx')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('--keep-imported has no effect: the model has no QONNX/Brevitas quantizers');
    expect(r.stderr).toContain('--keep-initializer-inputs has no effect: no initializer is also a graph input');
    expect(r.stdout).not.toContain('prepared:');
  });

  it('opt sorts a model whose nodes are out of order on load and says so; fold-constants names initializer inputs', async () => {
    const dir = tmpDir();
    const m = loadModel(TFC_1W1A());
    m.graph.nodes.reverse();
    const unsorted = path.join(dir, 'unsorted.onnx');
    saveModel(decodeModel(encodeModel(m)), unsorted);
    const r = await cli(['opt', unsorted, '-p', 'fold-constants', '-o', path.join(dir, 'o.onnx'), '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('were not in topological order; sorted them on load (topological-sort)');
    expect(r.stderr).toContain('33 initializers are also graph inputs (overridable), so not folded through; run constant-initializer-inputs first');
    const q = await cli(['quantize', unsorted, '-o', path.join(dir, 'q.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toContain('the nodes were not in topological order; sorted them first (topological-sort)');
    expect(readQuantRecord(loadModel(path.join(dir, 'q.onnx')))!.weights.length).toBe(4);
  });

  it('eval of a QONNX export evaluates it as imported (the same function; onnxruntime has no QONNX kernels), with a note', async () => {
    const dir = tmpDir();
    const r = await cli(['eval', TFC_1W1A(), '--data', 'fmnist-mini:test', '--limit', '200', '--normalize', 'none', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('has 8 QONNX quantizers (BipolarQuant) that onnxruntime cannot run; evaluated as imported');
    // the same as the model imported by opt (activation quantizers kept: the same function)
    const imported = path.join(dir, 'imported.onnx');
    const o = await cli(['opt', TFC_1W1A(), '-p', 'constant-initializer-inputs,upgrade-opset{to=11},import-qonnx,fold-constants', '-o', imported]);
    expect(o.code, o.stderr).toBe(0);
    const e = await cli(['eval', imported, '--data', 'fmnist-mini:test', '--limit', '200', '--normalize', 'none', '--json']);
    expect(e.code, e.stderr).toBe(0);
    const top = (t: string): unknown => (({ samples, top1, top5, perClass }) => ({ samples, top1, top5, perClass }))(JSON.parse(t) as Record<string, unknown>);
    expect(top(r.stdout)).toEqual(top(e.stdout));
    // the file itself is not changed
    expect(loadModel(TFC_1W1A()).graph.nodes.filter((n) => n.domain === 'onnx.brevitas')).toHaveLength(8);
  });

  it('train --fine-tune of a model quantized from an opset 9 export (written at opset 11) upgrades it to 13 itself, with a note', async () => {
    const dir = tmpDir();
    const q = path.join(dir, 'q.onnx');
    expect((await cli(['quantize', TFC_1W1A(), '-o', q])).code).toBe(0);
    expect(loadModel(q).opsetVersion('')).toBe(11);
    const out = path.join(dir, 'ft.onnx');
    const t = await cli(['train', q, '--fine-tune', '--train-data', 'fmnist-mini:train', '--train-limit', '64', '--batch-size', '32', '--max-steps', '2', '--normalize', 'none', '-o', out]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toContain('uses ai.onnx opset 11; upgraded to 13 for training (upgrade-opset, the same function)');
    const ft = loadModel(out);
    expect(ft.opsetVersion('')).toBe(13);
    expect(readQuantRecord(ft)!.weights.length).toBe(4);
    expect(loadModel(q).opsetVersion('')).toBe(11);
  });
});
