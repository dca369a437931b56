/**
 * Bad inputs give typed errors: labels outside the model's classes and data of the wrong
 * shape (DATA_MISMATCH), a diverging run (TRAINING_DIVERGED, the last good checkpoint kept),
 * an operator without a gradient rule on the training path (UNSUPPORTED_OP naming the node
 * and the operator), and misuse of the API.
 */
import { inspectModel } from '../../src/inspect.js';
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { HbnnError, ErrorCodes, type ErrorCode } from '../../src/errors.js';
import { quantize } from '../../src/drivers/quantize.js';
import { fineTune, trainFloat, loadCheckpoint, buildTrainingGraph } from '../../src/train/index.js';
import { missingGradientRules } from '../../src/train/grad/builder.js';
import { reshapeDataset, type Dataset } from '../../src/data/index.js';
import { A, Net } from './helpers/gradcheck.js';
import { loadCnn, mini, tmpDir } from './helpers/data.js';

async function expectCode(fn: () => unknown, code: ErrorCode): Promise<HbnnError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an HbnnError').toBeInstanceOf(HbnnError);
  expect((caught as HbnnError).code, (caught as HbnnError).message).toBe(code);
  return caught as HbnnError;
}

describe('training errors', () => {
  it('labels out of range: DATA_MISMATCH naming the sample', async () => {
    const ds = mini('train', 64);
    const labels = ds.labels!.slice();
    labels[5] = 12;
    const bad: Dataset = { ...ds, labels };
    const e = await expectCode(() => trainFloat(loadCnn(), bad, { maxSteps: 1 }), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toMatch(/label 12 of sample 5 is outside 0\.\.9/);
  });

  it('data that does not fit the model input: DATA_MISMATCH with both shapes', async () => {
    const flat = reshapeDataset(mini('train', 64), [784]);
    const e = await expectCode(() => trainFloat(loadCnn(), flat, { maxSteps: 1 }), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toMatch(/\[784\].*\[N,1,28,28\]/);
    const unlabelled: Dataset = { ...mini('train', 64) };
    delete unlabelled.labels;
    await expectCode(() => trainFloat(loadCnn(), unlabelled, { maxSteps: 1 }), ErrorCodes.DATA_MISMATCH);
    // evaluation data is checked before training starts
    await expectCode(() => trainFloat(loadCnn(), mini('train', 64), { maxSteps: 1, evalData: flat }), ErrorCodes.DATA_MISMATCH);
  });

  it('a diverging run (lr 1e30): TRAINING_DIVERGED, and the last good checkpoint stays loadable', async () => {
    const q = loadCnn();
    await quantize(q, { avgBits: 1.4 });
    const dir = tmpDir('diverge');
    const e = await expectCode(
      () => fineTune(q, mini('train', 512), { lr: 1e30, batchSize: 64, threads: 2, checkpointDir: dir, epochs: 3 }),
      ErrorCodes.TRAINING_DIVERGED,
    );
    expect(e.message).toMatch(/diverged at epoch 1, step \d+: .*non-finite|diverged at epoch 1, step \d+: the loss is (NaN|Infinity)/);
    expect(e.context['checkpoint']).toBe(`${dir}/last.json`);
    expect(e.message).toContain(`${dir}/last.json`);
    const ck = loadCheckpoint(dir);
    expect([ck.meta.epoch, ck.meta.globalStep]).toEqual([0, 0]);
    for (const t of ck.tensors.values()) if (t instanceof Float32Array) expect(t.every(Number.isFinite)).toBe(true);
    // resuming from it with a sane learning rate works
    const r = await fineTune(q, mini('train', 128), { lr: 0.01, batchSize: 64, threads: 2, checkpointDir: dir, resume: true, epochs: 1 });
    expect(r.log.epochs.length).toBe(1);
    expect(fs.existsSync(`${dir}/last.json`)).toBe(true);
  });

  it('an operator without a gradient rule on the training path: UNSUPPORTED_OP naming node and operator', async () => {
    const net = new Net(['N', 4]);
    const h = net.node('Gemm', [net.x, net.param('w', [4, 3])]);
    const s = net.node('Sin', [h]);
    const model = net.output(net.node('Gemm', [s, net.param('w2', [3, 2])]));
    const e = await expectCode(() => buildTrainingGraph(model), ErrorCodes.UNSUPPORTED_OP);
    expect(e.message).toContain('"Sin_1" (Sin)');
    expect(e.message).toContain('operator Sin has no gradient rule');
    expect(e.context).toMatchObject({ node: 'Sin_1', op: 'Sin' });

    // off the path (only the network input flows into it) it is fine: nothing to differentiate
    const net2 = new Net(['N', 4]);
    const s2 = net2.node('Sin', [net2.x]);
    const ok = net2.output(net2.node('Gemm', [s2, net2.param('w', [4, 2])]));
    expect(buildTrainingGraph(ok).params.map((p) => p.input)).toEqual(['w']);

    // several operators without rules: all named in one error, the first in graph order as its subject
    const net3 = new Net(['N', 4]);
    const a = net3.node('Sin', [net3.node('Gemm', [net3.x, net3.param('w', [4, 4])])]);
    const b = net3.node('Cos', [net3.node('Sin', [a])]);
    const c = net3.node('Atan', [net3.node('Gemm', [b, net3.param('w2', [4, 4])])]);
    const many = net3.output(net3.node('Gemm', [c, net3.param('w3', [4, 2])]));
    const e3 = await expectCode(() => buildTrainingGraph(many), ErrorCodes.UNSUPPORTED_OP);
    expect(e3.context).toMatchObject({ node: 'Sin_1', op: 'Sin' });
    expect(e3.message).toContain('operator Sin has no gradient rule (it lies between trainable parameters and the loss) (and 1 more Sin node)');
    expect(e3.message).toContain('also without a rule: Cos ("Cos_3" (Cos)); Atan ("Atan_5" (Atan))');
    // inspect reports the same list without building anything; a model that trains reports none
    expect(inspectModel(many).training).toEqual({
      missingGradientRules: [
        { op: 'Sin', nodes: ['Sin_1', 'Sin_2'] },
        { op: 'Cos', nodes: ['Cos_3'] },
        { op: 'Atan', nodes: ['Atan_5'] },
      ],
    });
    expect(missingGradientRules(ok)).toEqual([]);
    expect(inspectModel(model).training!.missingGradientRules).toEqual([{ op: 'Sin', nodes: ['Sin_1'] }]);
  });

  it('models below opset 13, quantized models given to trainFloat, and resuming into another model are refused', async () => {
    const net = new Net(['N', 4], 11);
    const old = net.output(net.node('Gemm', [net.x, net.param('w', [4, 2])], { transB: A.int(0) }));
    await expectCode(() => buildTrainingGraph(old), ErrorCodes.UNSUPPORTED_OP);

    const q = loadCnn();
    await quantize(q, { avgBits: 2 });
    await expectCode(() => trainFloat(q, mini('train', 64)), ErrorCodes.INVALID_OPTION);

    const dir = tmpDir('other');
    await trainFloat(loadCnn(), mini('train', 64), { batchSize: 64, checkpointDir: dir, threads: 2 });
    await expectCode(() => fineTune(q, mini('train', 64), { resume: `${dir}/last.json` }), ErrorCodes.DATA_MISMATCH);
    await expectCode(() => fineTune(loadCnn(), mini('train', 64)), ErrorCodes.NOT_QUANTIZED);
    await expectCode(() => trainFloat(loadCnn(), mini('train', 64), { lr: -1 }), ErrorCodes.INVALID_OPTION);
    // freezeBatchNormStatsAfter: an integer >= 0, and not together with freezeBatchNormStats
    for (const after of [-1, 0.5, Number.NaN]) {
      const e = await expectCode(() => trainFloat(loadCnn(), mini('train', 64), { freezeBatchNormStatsAfter: after }), ErrorCodes.INVALID_OPTION);
      expect(e.message).toContain('`freezeBatchNormStatsAfter` must be an integer >= 0');
    }
    const both = await expectCode(() => trainFloat(loadCnn(), mini('train', 64), { freezeBatchNormStatsAfter: 1, freezeBatchNormStats: true }), ErrorCodes.INVALID_OPTION);
    expect(both.message).toContain('give one of them');
  });
});
