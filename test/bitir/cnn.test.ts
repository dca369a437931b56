/**
 * The bundled Fashion-MNIST CNN, quantized (Middle-Out, normalize 'fmnist', default
 * calibration) as W1.4 (weights only) and W1.4A1.4 (weights and activations), lowered to the
 * bit-level IR and executed by the reference interpreter on the bundled 2,000-image test
 * slice (`fmnist-mini:test`); the full 10,000 images run in bench/bitir-agreement.mjs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/io.js';
import { quantize } from '../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../src/bitir/lower.js';
import { interpret } from '../../src/bitir/interpret.js';
import { sampleExplainer } from '../../src/bitir/bounds.js';
import { bitProgramFromJson, bitProgramToJson } from '../../src/bitir/serialize.js';
import type { BitProgram } from '../../src/bitir/types.js';
import type { Model } from '../../src/ir/graph.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../src/data/index.js';
import { forEachBatch } from '../../src/runtime/infer.js';
import { FMNIST_CNN } from '../helpers/build.js';
import { naiveAccumulators, onnxPlanes } from './naive.js';

const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION });
const PER = 28 * 28;

async function ortLogits(m: Model, n: number): Promise<Float32Array> {
  const out = m.graph.outputs[0]!.name;
  const logits = new Float32Array(n * 10);
  await forEachBatch(m, ds, [out], { limit: n, batchSize: 500 }, (s, k, o) => logits.set(o[out]!.subarray(0, k * 10), s * 10));
  return logits;
}

const argmax = (row: ArrayLike<number>, off: number, k: number): number => {
  let b = 0;
  for (let c = 1; c < k; c++) if (row[off + c]! > row[off + b]!) b = c;
  return b;
};

for (const config of [
  { name: 'W1.4', opts: { avgBits: 1.4, heuristic: 'middle-out' as const, normalize: 'fmnist' } },
  { name: 'W1.4A1.4', opts: { avgBits: 1.4, actBits: 1.4, heuristic: 'middle-out' as const, actHeuristic: 'middle-out' as const, normalize: 'fmnist' } },
]) {
  describe(`fmnist-cnn ${config.name}`, () => {
    let model: Model;
    let program: BitProgram;
    beforeAll(async () => {
      model = loadModel(FMNIST_CNN());
      await quantize(model, config.opts);
      program = lowerToBitIR(model);
    });

    it('the interpreter predicts the same class as onnxruntime on ≥ 99.9% of the 2,000-image slice; every difference is within the rounding bound', async () => {
      const n = ds.count;
      const ort = await ortLogits(model, n);
      const r = interpret(program, ds.images.subarray(0, n * PER));
      const explain = sampleExplainer(program);
      const lines: string[] = [];
      let differ = 0;
      let maxDiff = 0;
      for (let s = 0; s < n; s++) {
        for (let c = 0; c < 10; c++) maxDiff = Math.max(maxDiff, Math.abs(ort[s * 10 + c]! - r.logits[s * 10 + c]!));
        const a = argmax(ort, s * 10, 10);
        const b = r.classes[s]!;
        if (a === b) continue;
        differ++;
        const sorted = Array.from(ort.subarray(s * 10, s * 10 + 10)).sort((x, y) => y - x);
        const e = explain(ds.images.subarray(s * PER, (s + 1) * PER));
        const margin = ort[s * 10 + a]! - ort[s * 10 + b]!;
        const rounding = e.deviation[a]! + e.deviation[b]!;
        const allowance = e.ortAllowance[a]! + e.ortAllowance[b]!;
        const ortDev = Math.abs(ort[s * 10 + a]! - e.real[a]!) + Math.abs(ort[s * 10 + b]! - e.real[b]!);
        const realMargin = e.real[a]! - e.real[b]!;
        lines.push(
          `  image ${s}: ORT class ${a}, IR class ${b}; ORT top-2 margin ${(sorted[0]! - sorted[1]!).toExponential(3)}; ` +
            `ORT margin to the IR's class ${margin.toExponential(3)} <= fixed-point rounding of this image ${rounding.toExponential(3)} ` +
            `(|IR - real| on both logits, ${e.irFlips} binarizer codes flipped by rounding) + float32 allowance for ORT ${allowance.toExponential(3)} ` +
            `(${e.ortPossibleFlips} binarizer inputs within float32 error of a band edge): ${margin <= rounding + allowance ? 'explained' : 'NOT EXPLAINED'}.\n` +
            `    The real-valued network (exact arithmetic) prefers class ${realMargin >= 0 ? a : b} by ${Math.abs(realMargin).toExponential(3)}; ` +
            `the IR is ${rounding.toExponential(3)} from it, onnxruntime ${ortDev.toExponential(3)} (float32) — ` +
            `${realMargin >= 0 ? 'the fixed-point rounding of the IR' : "onnxruntime's float32 rounding"} decided the tie.`,
        );
        expect(margin).toBeLessThanOrEqual(rounding + allowance);
      }
      const agree = (n - differ) / n;
      console.log(
        `${config.name}: IR vs onnxruntime on fmnist-mini:test: ${n - differ}/${n} same class (${(100 * agree).toFixed(2)}%), ` +
          `max |logit difference| ${maxDiff.toExponential(3)}, ${(r.ms / n).toFixed(2)} ms/image, saturated entries: ${JSON.stringify(r.saturated)}` +
          (lines.length ? `\n${lines.join('\n')}` : '\n  no differing image'),
      );
      expect(agree).toBeGreaterThanOrEqual(0.999);
    });

    it('the real-valued network explains both: |ORT − real| within the float32 allowance, |IR − real| small', async () => {
      const n = 5;
      const ort = await ortLogits(model, n);
      const explain = sampleExplainer(program);
      let maxDev = 0;
      let maxAllow = 0;
      for (let s = 0; s < n; s++) {
        const e = explain(ds.images.subarray(s * PER, (s + 1) * PER));
        for (let c = 0; c < 10; c++) {
          expect(Math.abs(ort[s * 10 + c]! - e.real[c]!)).toBeLessThanOrEqual(e.ortAllowance[c]!);
          maxDev = Math.max(maxDev, e.deviation[c]!);
          maxAllow = Math.max(maxAllow, e.ortAllowance[c]!);
        }
      }
      console.log(`${config.name}: over ${n} images, max |IR - real| ${maxDev.toExponential(3)}, max float32 allowance for ORT ${maxAllow.toExponential(3)}`);
      // The IR's fixed-point rounding moves a logit by well under the logit resolution that matters.
      expect(maxDev).toBeLessThan(5e-3);
    });

    it('integer accumulators of every layer equal the plain-loop reference', () => {
      const samples = 1;
      const images = ds.images.subarray(0, samples * PER);
      let units = 0;
      for (const op of program.ops) {
        if (op.op !== 'conv' && op.op !== 'matvec') continue;
        const r = interpret(program, images, { captureAccumulators: op.id, capture: [op.input] });
        const acc = r.captured[op.id]!;
        const input = r.captured[op.input]!;
        const planes = onnxPlanes(model, op.nodes[0]!);
        for (let s = 0; s < samples; s++) {
          const len = acc.length / samples;
          const inLen = input.length / samples;
          const ref = naiveAccumulators(program, op, planes, input.subarray(s * inLen, (s + 1) * inLen));
          const got = acc.subarray(s * len, (s + 1) * len);
          let mismatches = 0;
          for (let i = 0; i < ref.length; i++) if (ref[i] !== got[i]) mismatches++;
          expect(mismatches, `${op.id} sample ${s}`).toBe(0);
          expect(ref.length).toBe(got.length);
        }
        units++;
      }
      expect(units).toBe(4);
    });

    it('ir.json is deterministic (same model, same bytes) and round-trips to the same results', async () => {
      const text = bitProgramToJson(program);
      expect(bitProgramToJson(lowerToBitIR(model))).toBe(text);
      if (config.name === 'W1.4') {
        // A second quantization of the float model from scratch gives the same file.
        const again = loadModel(FMNIST_CNN());
        await quantize(again, config.opts);
        expect(bitProgramToJson(lowerToBitIR(again))).toBe(text);
      }
      const back = bitProgramFromJson(text);
      expect(bitProgramToJson(back)).toBe(text);
      const images = ds.images.subarray(0, 20 * PER);
      expect(Array.from(interpret(back, images).logitsQ)).toEqual(Array.from(interpret(program, images).logitsQ));
    });
  });
}
