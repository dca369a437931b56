/**
 * The bundled Fashion-MNIST MLP (Flatten, Gemm 784→256, BN, Relu, Gemm 256→256, BN, Relu,
 * Gemm 256→10): matrix-vector units only, quantized W1.4 and W1.4A1.4 (Middle-Out).
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../src/bitir/lower.js';
import { interpret } from '../../src/bitir/interpret.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../src/data/index.js';
import { forEachBatch } from '../../src/runtime/infer.js';
import { FMNIST_MLP } from '../helpers/build.js';

describe('fmnist-mlp', () => {
  const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION, limit: 1000 });
  for (const [name, opts] of [
    ['W1.4', { avgBits: 1.4, normalize: 'fmnist' }],
    ['W1.4A1.4', { avgBits: 1.4, actBits: 1.4, normalize: 'fmnist' }],
  ] as const) {
    it(`${name}: matvec units, same class as onnxruntime on the first 1,000 slice images`, async () => {
      const m = loadModel(FMNIST_MLP());
      await quantize(m, opts);
      const p = lowerToBitIR(m);
      const kinds = p.ops.map((o) => o.op);
      expect(kinds.filter((k) => k === 'matvec').length).toBe(3);
      expect(kinds.includes('conv')).toBe(false);
      // the first layer reads the network input and the last one is the output layer: one binarizer
      expect(kinds.filter((k) => k === 'threshold').length).toBe(name === 'W1.4' ? 0 : 1);
      const n = ds.count;
      const out = m.graph.outputs[0]!.name;
      const ort = new Float32Array(n * 10);
      await forEachBatch(m, ds, [out], { batchSize: 500 }, (s, k, o) => ort.set(o[out]!.subarray(0, k * 10), s * 10));
      const r = interpret(p, ds.images);
      let agree = 0;
      let maxDiff = 0;
      for (let s = 0; s < n; s++) {
        let a = 0;
        for (let c = 1; c < 10; c++) if (ort[s * 10 + c]! > ort[s * 10 + a]!) a = c;
        if (a === r.classes[s]) agree++;
        for (let c = 0; c < 10; c++) maxDiff = Math.max(maxDiff, Math.abs(ort[s * 10 + c]! - r.logits[s * 10 + c]!));
      }
      console.log(`fmnist-mlp ${name}: ${agree}/${n} same class, max |logit difference| ${maxDiff.toExponential(3)}, ${(r.ms / n).toFixed(2)} ms/image`);
      expect(agree / n).toBeGreaterThanOrEqual(0.999);
      expect(maxDiff).toBeLessThan(name === 'W1.4' ? 5e-3 : 0.5);
    });
  }
});
