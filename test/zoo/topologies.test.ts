/**
 * The issue-16 fixture topologies (zoo/topologies.ts): valid ONNX that onnxruntime runs,
 * the op families each one is there for, the same bytes for the same seed.
 */
import { describe, expect, it } from 'vitest';
import { tensorTypeOf } from '../../src/ir/types.js';
import { assertValid } from '../../src/ir/verifier.js';
import { encodeModel } from '../../src/onnx/io.js';
import { createSession, float32Tensor } from '../../src/runtime/ort.js';
import { buildResNet20, buildMobileNetV2, buildSqueezeNet, buildPoolNet, buildTorchExport } from '../../zoo/topologies.js';
import { ZOO_FIXTURES, fmnistAs } from '../helpers/zoo.js';

const count = (m: ReturnType<typeof buildResNet20>, op: string): number => m.graph.nodes.filter((n) => n.opType === op).length;

describe('issue-16 fixture topologies', () => {
  it('have the structure they are named for', () => {
    const r = buildResNet20();
    // 19 convolutions + 2 projection shortcuts + 1 FC; 9 residual Adds; GlobalAveragePool.
    expect(count(r, 'Conv')).toBe(21);
    expect(count(r, 'Gemm')).toBe(1);
    expect(count(r, 'Add')).toBe(9);
    expect(count(r, 'GlobalAveragePool')).toBe(1);
    expect(tensorTypeOf(r.graph.inputs[0]!)!.shape).toEqual(['N', 3, 32, 32]);
    const v2 = buildMobileNetV2();
    // 17 inverted residual blocks, 10 with an Add; 35 ReLU6 as Clip; 17 depthwise convolutions.
    expect(count(v2, 'Add')).toBe(10);
    expect(count(v2, 'Clip')).toBe(35);
    expect(v2.graph.nodes.filter((n) => n.opType === 'Conv' && n.attrInt('group', 1) > 1).length).toBe(17);
    const sq = buildSqueezeNet();
    expect(count(sq, 'Concat')).toBe(8);
    expect(count(sq, 'Gemm')).toBe(0);
    const pool = buildPoolNet({ softmax: true });
    expect(count(pool, 'AveragePool')).toBe(2);
    expect(count(pool, 'LeakyRelu')).toBe(1);
    expect(pool.graph.outputs[0]!.producer!.opType).toBe('Softmax');
    const t = buildTorchExport();
    const id = t.graph.nodes.find((n) => n.opType === 'Identity')!;
    expect(id.name).toBe('Identity_0');
    expect(id.inputs[0]!.isInitializer).toBe(true);
    expect(id.inputs[0]!.uses.length).toBe(2);
    expect(count(t, 'Reshape')).toBe(1);
  });

  it('the same options give the same bytes; another seed other weights', () => {
    for (const f of ZOO_FIXTURES) expect(Buffer.from(encodeModel(f.build())).equals(Buffer.from(encodeModel(f.build()))), f.name).toBe(true);
    expect(Buffer.from(encodeModel(buildResNet20({ seed: 2, width: 4, blocks: 1 }))).equals(Buffer.from(encodeModel(buildResNet20({ width: 4, blocks: 1 }))))).toBe(false);
  });

  for (const f of ZOO_FIXTURES) {
    it(`${f.name}: valid and runs in onnxruntime (quantized and lowered in test/bitir/zoo.test.ts)`, async () => {
      const m = f.build();
      assertValid(m);
      const fixedBatch = typeof tensorTypeOf(m.graph.inputs[0]!)!.shape![0] === 'number';
      const n = fixedBatch ? 1 : 3;
      const s = await createSession(m);
      const out = m.graph.outputs[0]!.name;
      const r = await s.run({ input: float32Tensor(fmnistAs(f.shape, n), [n, ...f.shape]) });
      expect(r[out]!.dims).toEqual([n, 10]);
      expect(Array.from(r[out]!.data as Float32Array).every(Number.isFinite)).toBe(true);
    });
  }
});
