/**
 * The shape of the training model: valid IR, standard operators only (plus the model's own
 * ai.hbnn activation binarizer), the documented inputs and outputs, and no work for
 * gradients nobody needs.
 */
import { describe, expect, it } from 'vitest';
import { quantize } from '../../src/drivers/quantize.js';
import { verifyModel } from '../../src/ir/verifier.js';
import { buildTrainingGraph } from '../../src/train/grad/builder.js';
import { builtinGradRules } from '../../src/train/grad/rules/index.js';
import { loadCnn } from './helpers/data.js';

describe('buildTrainingGraph', () => {
  it('quantized fmnist-cnn (W1.4A1.4): inputs, outputs, operators', async () => {
    const q = loadCnn();
    await quantize(q, { avgBits: 1.4, actBits: 1.4, normalize: 'fmnist', calibLimit: 128 });
    const tg = buildTrainingGraph(q);
    const g = tg.model.graph;
    expect(verifyModel(tg.model)).toEqual([]);
    expect(tg.opset).toBe(17);
    expect(tg.model.opsetImports).toEqual([
      { domain: '', version: 17 },
      { domain: 'ai.hbnn', version: 1 },
    ]);
    expect(g.inputs.map((v) => v.name)).toEqual(['input', 'labels', ...tg.params.map((p) => p.input)]);
    expect(tg.params.filter((p) => p.kind === 'binarized').map((p) => p.source)).toEqual([
      '/c1/Conv/BinarizedWeight',
      '/c2/Conv/BinarizedWeight',
      '/c3/Conv/BinarizedWeight',
      '/fc/Gemm/BinarizedWeight',
    ]);
    expect(tg.params.filter((p) => p.kind === 'float').map((p) => p.source)).toEqual([
      'c1.bias', 'b1.weight', 'b1.bias', 'c2.bias', 'b2.weight', 'b2.bias', 'c3.bias', 'b3.weight', 'b3.bias', 'fc.bias', 'fc.scale',
    ]);
    expect(g.outputs.map((v) => v.name)).toEqual([
      'loss',
      'logits',
      ...tg.params.map((p) => `${p.input}.grad`),
      ...['b1', 'b2', 'b3'].flatMap((b) => [`/${b}/BatchNormalization.batch_mean`, `/${b}/BatchNormalization.batch_var`]),
    ]);
    const ops = new Set(g.nodes.map((n) => `${n.domain}::${n.opType}`));
    expect([...ops].filter((o) => !o.startsWith('::'))).toEqual(['ai.hbnn::BinarizeActivation']);
    expect(ops.has('ai.hbnn::BinarizedWeight')).toBe(false);
    // running statistics are not read in training mode, and nothing computes the input's gradient
    expect(g.get('b1.running_mean')).toBeUndefined();
    // input gradients of c3 and c2 (stride 1): c3 reads a channels-last pooled value, so patches of dY times the
    // flipped kernel (MatMul); c2 (channels-first) a Conv of dY with the flipped kernel; no ConvTranspose
    expect(g.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
    expect(g.nodes.filter((n) => n.opType === 'MatMul' && /^\/c3\/Conv\/grad\//.test(n.name)).length).toBe(2);
    expect(g.nodes.filter((n) => n.opType === 'Conv' && /^\/c2\/Conv\/grad\//.test(n.name)).length).toBe(1);
    // the forward model is untouched
    expect(q.graph.nodes.some((n) => n.name.includes('/grad/'))).toBe(false);
  });

  it('every rule the docs list is registered', () => {
    expect(builtinGradRules().operators()).toEqual(
      [
        'Abs', 'Add', 'AveragePool', 'BatchNormalization', 'Clip', 'Concat', 'Conv', 'Div', 'Dropout', 'Elu', 'Erf', 'Exp', 'Expand', 'Flatten', 'Gather',
        'Gemm', 'GlobalAveragePool', 'GlobalMaxPool', 'HardSigmoid', 'HardSwish', 'Identity', 'LayerNormalization', 'LeakyRelu', 'Log', 'LogSoftmax',
        'MatMul', 'Max', 'MaxPool', 'Mean', 'Min', 'Mul', 'Neg', 'PRelu', 'Pad', 'Pow', 'Reciprocal', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceSum',
        'Relu', 'Reshape', 'Sigmoid', 'Slice', 'Softmax', 'Softplus', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Tanh', 'Transpose', 'Unsqueeze', 'Where',
        'ai.hbnn::BinarizeActivation',
      ].sort(),
    );
  });
});
