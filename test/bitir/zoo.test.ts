/**
 * Issue 16: every fixture topology (test/helpers/zoo.ts: ResNet-20 with projection
 * shortcuts, MobileNetV2 with inverted residuals and ReLU6, MobileNet-V1, SqueezeNet with
 * Concat, a pooling net with AveragePool, LeakyRelu and a final Softmax, a PyTorch-style
 * export with Identity on a shared weight and a literal batch of 1) quantized at W1.4 and
 * W1.4A1.4, lowered to the bit-level IR, run by the interpreter on 100 Fashion-MNIST-derived
 * inputs and compared with onnxruntime on the quantized ONNX model; and priced by the ASIC
 * backend from the IR.
 *
 * Inputs: test images padded to the fixture's shape, channels replicated, plus seeded uniform
 * noise of ±0.05 (calibration: 16 training images the same way). Why the noise: Fashion-MNIST's
 * constant background gives thousands of entries the very same value in every image, and the
 * calibration puts band edges at data quantiles, so exactly on that value: onnxruntime then sits
 * on the edge and the IR's fixed-point rounding falls on either side for all of them at once.
 *
 * These networks have random (seeded) weights, so their class margins are tiny (a few 1e-3):
 * the agreement is lower than on a trained network and every difference must be explained
 * (ORT's margin ≤ the IR's rounding deviation + ORT's float32 allowance, as in cnn.test.ts).
 * The cause of every difference (docs/bit-ir.md §6): the IR's fixed-point rounding. So each
 * differing input must be one where the real-valued network (the quantized model in exact
 * arithmetic) prefers onnxruntime's class, and the same quantized model lowered with wide
 * precisions (WIDE_LOWERING: 20 fraction bits, 30-bit multipliers) must agree on every input.
 * A trained ResNet: resnet-trained.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { quantize } from '../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../src/bitir/lower.js';
import { interpret } from '../../src/bitir/interpret.js';
import { sampleExplainer } from '../../src/bitir/bounds.js';
import { lowerAsicFromProgram } from '../../src/backends/asic/index.js';
import { forEachBatch } from '../../src/runtime/infer.js';
import { WIDE_LOWERING, type BitProgram } from '../../src/bitir/types.js';
import type { Model } from '../../src/ir/graph.js';
import { measureStreamRanges } from '../../src/bitir/ranges.js';
import { ZOO_FIXTURES, fmnistAs, fmnistSpecAs } from '../helpers/zoo.js';

const N = 100;
const NOISE = 0.05;
/** Calibration images (few: calibrating every binarizer is most of this file's time). */
const CALIB = 16;

/** onnxruntime's pre-softmax logits (the Softmax input when the graph ends in one). */
async function ortLogits(m: Model, x: Float32Array, shape: readonly number[]): Promise<Float32Array> {
  const out = m.graph.outputs[0]!;
  const sm = out.producer && (out.producer.opType === 'Softmax' || out.producer.opType === 'LogSoftmax') ? out.producer.inputs[0]! : undefined;
  const v = sm ?? out;
  if (sm) m.graph.outputs.push(sm);
  const logits = new Float32Array(N * 10);
  try {
    const ds = { name: 'fmnist-derived', count: N, sampleShape: [...shape], images: x };
    await forEachBatch(m, ds, [v.name], { batchSize: 50 }, (s, k, o) => logits.set(o[v.name]!.subarray(0, k * 10), s * 10));
  } finally {
    if (sm) m.graph.outputs.pop();
  }
  return logits;
}

const argmax = (row: ArrayLike<number>, off: number): number => {
  let b = 0;
  for (let c = 1; c < 10; c++) if (row[off + c]! > row[off + b]!) b = c;
  return b;
};

const summary: string[] = [];

for (const f of ZOO_FIXTURES) {
  describe(`${f.name}`, () => {
    const calib = (): string => fmnistSpecAs(f.shape, CALIB, NOISE);
    let calibData = '';
    beforeAll(() => {
      calibData = calib();
    });
    for (const config of [
      { name: 'W1.4', actBits: undefined },
      { name: 'W1.4A1.4', actBits: 1.4 },
    ]) {
      it(`${config.name}: IR classes vs onnxruntime on all ${N} inputs (calibrated stream fractions), every difference explained; ASIC report from the IR`, async () => {
        const m = f.build();
        await quantize(m, { avgBits: 1.4, actBits: config.actBits, calibData, calibLimit: CALIB });
        // Each stream's fraction bits from its range on the quantization's calibration images (§3).
        const streamRanges = measureStreamRanges(m, fmnistAs(f.shape, CALIB, 'train', NOISE));
        const p: BitProgram = lowerToBitIR(m, { streamRanges });
        // The widths are the fixed-fraction program's; only fractions move.
        const fixedFractions = lowerToBitIR(m);
        expect(p.tensors.map((t) => (t.type.kind === 'fixed' ? t.type.bits : 0))).toEqual(fixedFractions.tensors.map((t) => (t.type.kind === 'fixed' ? t.type.bits : 0)));
        const x = fmnistAs(f.shape, N, 'test', NOISE);
        const per = f.shape[0] * f.shape[1] * f.shape[2];
        const r = interpret(p, x);
        const ort = await ortLogits(m, x, f.shape);
        const explain = sampleExplainer(p);
        let differ = 0;
        const lines: string[] = [];
        for (let s = 0; s < N; s++) {
          const a = argmax(ort, s * 10);
          const b = r.classes[s]!;
          if (a === b) continue;
          differ++;
          const e = explain(x.subarray(s * per, (s + 1) * per));
          const margin = ort[s * 10 + a]! - ort[s * 10 + b]!;
          const rounding = e.deviation[a]! + e.deviation[b]!;
          const allowance = e.ortAllowance[a]! + e.ortAllowance[b]!;
          lines.push(
            `  input ${s}: ORT ${a} / IR ${b}, ORT margin ${margin.toExponential(2)} <= IR rounding ${rounding.toExponential(2)} (${e.irFlips} codes flipped) + ORT float32 allowance ${allowance.toExponential(2)}; real network prefers ${e.real[a]! >= e.real[b]! ? a : b} by ${Math.abs(e.real[a]! - e.real[b]!).toExponential(2)}`,
          );
          expect(margin, `input ${s}`).toBeLessThanOrEqual(rounding + allowance);
          // decided by the IR's rounding: exact arithmetic sides with onnxruntime
          expect(e.real[a]!, `input ${s}: the real-valued network prefers ORT's class`).toBeGreaterThanOrEqual(e.real[b]!);
        }
        expect(r.saturated).toEqual({});
        const agree = (N - differ) / N;
        // the same model with wide fixed-point precisions: no difference left
        const wide = interpret(lowerToBitIR(m, WIDE_LOWERING), x);
        let wideDiffer = 0;
        for (let s = 0; s < N; s++) if (argmax(ort, s * 10) !== wide.classes[s]) wideDiffer++;
        expect(wide.saturated).toEqual({});
        expect(wideDiffer, 'differences with 20 fraction bits').toBe(0);
        // ASIC from the IR: one layer per conv/matvec and one stream unit per add/concat/avgpool/clip/leakyrelu,
        // sized from the IR's shapes (entries of the op's output tensor).
        const asic = lowerAsicFromProgram(p).report;
        const streamOps = p.ops.filter((o) => o.op === 'add' || o.op === 'concat' || o.op === 'avgpool' || o.op === 'clip' || o.op === 'leakyrelu');
        const units = p.ops.filter((o) => o.op === 'conv' || o.op === 'matvec').length;
        const layers = asic.units.layers;
        expect(layers.length).toBe(units + streamOps.length);
        for (const op of streamOps) {
          const l = layers.find((x) => x.name === op.nodes[0])!;
          expect(l.kind, op.id).toBe(op.op);
          const t = p.tensors.find((x) => x.id === op.output)!.type;
          expect(l.rows * l.outputPositions).toBe(t.shape.reduce((a, b) => a * b, 1));
          if (op.op === 'add' || op.op === 'avgpool' || op.op === 'leakyrelu' || op.op === 'clip') expect(l.totalAreaMm2, op.id).toBeGreaterThan(0);
        }
        expect(asic.units.areaMm2).toBeGreaterThan(0);
        const kinds = streamOps.map((o) => o.op).sort().join(',');
        const line = `${f.name} ${config.name}: ${N - differ}/${N} same class (wide precision ${N - wideDiffer}/${N}); ${p.ops.length} ops, stream units [${kinds}]; ASIC ${asic.units.areaMm2.toFixed(3)} mm², ${asic.units.powerW.toFixed(3)} W, ${Math.round(asic.units.fps)} FPS`;
        summary.push(line);
        console.log(line + (lines.length ? `\n${lines.join('\n')}` : ''));
        expect(agree).toBe(1);
      });
    }
  });
}
