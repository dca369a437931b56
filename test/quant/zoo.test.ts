import { describe, expect, it } from 'vitest';
import { buildCnv, buildMobileNetV1 } from '../../zoo/topologies.js';
import { assertValid } from '../../src/ir/verifier.js';
import { weightLayers } from '../../src/quant/targets.js';
import { createSession, float32Tensor } from '../../src/runtime/ort.js';

describe('hardware reference topologies', () => {
  it('CNV has FINN\'s layer sizes and runs in onnxruntime', async () => {
    const m = buildCnv();
    assertValid(m);
    const layers = weightLayers(m.graph);
    expect(layers.map((l) => l.weight.constValue!.dims.join('x'))).toEqual([
      '64x3x3x3', '64x64x3x3', '128x64x3x3', '128x128x3x3', '256x128x3x3', '256x256x3x3', '512x256', '512x512', '10x512',
    ]);
    const s = await createSession(m);
    const r = await s.run({ input: float32Tensor(new Float32Array(2 * 3 * 32 * 32).fill(0.5), [2, 3, 32, 32]) });
    expect(r.logits!.dims).toEqual([2, 10]);
  });

  it('MobileNet-V1 has 4.2 M parameters in 28 layers with 13 depthwise convolutions', () => {
    const m = buildMobileNetV1();
    assertValid(m);
    const layers = weightLayers(m.graph);
    expect(layers.length).toBe(28);
    expect(layers.filter((l) => l.node.attrInt('group', 1) > 1).length).toBe(13);
    const params = layers.reduce((s, l) => s + l.weight.constValue!.size, 0);
    expect(params).toBeGreaterThan(4.1e6);
    expect(params).toBeLessThan(4.3e6);
  });
});
