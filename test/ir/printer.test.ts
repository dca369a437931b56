import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, type Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { setTensorType } from '../../src/ir/types.js';
import { printModel } from '../../src/ir/printer.js';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { A, REPO_ROOT, addFloatInit, addInput, addNode, newModel } from '../helpers/build.js';

/**
 * Compares `text` with test/golden/<name>. With UPDATE_GOLDEN=1 in the environment the
 * file is rewritten instead (and the test still checks the written text reads back).
 */
function expectGolden(name: string, text: string): void {
  const file = path.join(REPO_ROOT, 'test', 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, text);
  expect(fs.existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to create it`).toBe(true);
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

/** A small CNN head: Conv → Relu → MaxPool → Flatten → Gemm, with a Constant and an If. */
function smallModel(): Model {
  const m = newModel(13, 8n);
  m.producerName = 'hbnn-onnx-test';
  m.producerVersion = '1';
  m.setMetadata('purpose', 'golden');
  const g = m.graph;
  g.name = 'small';
  const x = addInput(g, 'input', ['N', 1, 4, 4]);
  const cond = addInput(g, 'use_relu', [], DataType.BOOL);
  const w = g.addInitializer(Tensor.fromFloat32('conv.w', [2, 1, 3, 3], new Float32Array(18).map((_, i) => i / 8)));
  const b = addFloatInit(g, 'conv.b', [2], [0.5, -0.25]);
  const conv = addNode(g, 'Conv', [x, w, b], ['conv'], { kernel_shape: A.ints([3, 3]), pads: A.ints([1, 1, 1, 1]), auto_pad: A.str('NOTSET') }, { name: 'conv1' });
  setTensorType(conv.outputs[0]!, DataType.FLOAT, ['N', 2, 4, 4]);
  const thenG = new Graph('relu_branch', g);
  thenG.setOutput(0, thenG.append(thenG.createNode('Relu', [conv.outputs[0]!], ['relu'])).outputs[0]!);
  const elseG = new Graph('leaky_branch', g);
  elseG.setOutput(0, elseG.append(elseG.createNode('LeakyRelu', [conv.outputs[0]!], ['leaky'], { attributes: { alpha: A.float(0.1) } })).outputs[0]!);
  const act = addNode(g, 'If', [cond], ['act'], { then_branch: A.graph(thenG), else_branch: A.graph(elseG) }, { name: 'act' });
  const pool = addNode(g, 'MaxPool', [act.outputs[0]!], ['pool', ''], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
  const flat = addNode(g, 'Flatten', [pool.outputs[0]!], ['flat'], { axis: A.int(1) });
  const fcw = addFloatInit(g, 'fc.w', [3, 8]);
  const fcb = addNode(g, 'Constant', [], ['fc.b'], { value: A.tensor(Tensor.fromFloat32('', [3], Float32Array.of(1, 2, 3))) });
  const gemm = addNode(g, 'Gemm', [flat.outputs[0]!, fcw, fcb.outputs[0]!], ['logits'], { transB: A.int(1), alpha: A.float(1), beta: A.float(1) }, { name: 'fc' });
  setTensorType(gemm.outputs[0]!, DataType.FLOAT, ['N', 3]);
  g.setOutput(0, gemm.outputs[0]!);
  return m;
}

describe('printer', () => {
  it('prints a small hand-built model as in test/golden/small-model.txt', () => {
    expectGolden('small-model.txt', printModel(smallModel()));
  });

  it('prints tensor values when asked (golden small-model-values.txt)', () => {
    expectGolden('small-model-values.txt', printModel(smallModel(), { tensorValues: 4, types: false }));
  });

  it('prints the same text after a save/load round trip', () => {
    const m = smallModel();
    expect(printModel(decodeModel(encodeModel(m)))).toBe(printModel(m));
  });
});
