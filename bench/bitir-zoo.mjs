#!/usr/bin/env node
/**
 * Bit-level IR vs onnxruntime on the issue-16 fixture topologies (docs/bit-ir.md §6,
 * "Real architectures"), on many more inputs than the test (test/bitir/zoo.test.ts).
 *
 *   npx tsc -p tsconfig.json && node bench/bitir-zoo.mjs [--limit 2000]
 *
 * Models:
 * - the six random-weight fixtures of zoo/fixtures.ts (ResNet-20, MobileNetV2,
 *   MobileNet-V1, SqueezeNet, pooling net with Softmax, PyTorch-style export), quantized and
 *   fed exactly as in the test: calibration on 16 training images, inputs the Fashion-MNIST
 *   test images, padded to the fixture's shape, channels replicated, plus seeded noise ±0.05;
 * - the trained ResNet-8 fixture fixtures/models/fmnist-resnet.onnx (scripts/make-fmnist-resnet.mjs):
 *   post-training quantization (calibration on the first 512 images of fmnist-mini:train), and
 *   its two fine-tuned quantized versions fixtures/models/fmnist-resnet.w1.4.hbnn.onnx and
 *   fmnist-resnet.w1.4a1.4.hbnn.onnx (same script) as they are; inputs fmnist:test as they are
 *   (normalization from the model's record), no noise.
 * Each at W1.4 (weights) and W1.4A1.4 (weights and activations), Middle-Out.
 *
 * Each quantized model is lowered three times: with the default fixed-point precisions and
 * their fixed fractions ("fixed": DEFAULT_LOWERING, input 16, activations 12, binarizer streams
 * 20, logits 16 fraction bits, 24-bit multipliers); with the same widths and each stream's
 * fraction bits from its range on the calibration samples ("calibrated": streamRanges from
 * measureStreamRanges on the quantization's calibration images, docs/bit-ir.md §3); and with
 * wide ones (WIDE_LOWERING, src/bitir/types.ts: 20 fraction bits, 30-bit multipliers). For
 * every input where the interpreter's class differs from onnxruntime's, it prints the
 * explanation (src/bitir/bounds.ts): ORT's margin, the IR's deviation from the real-valued
 * network (and the binarizer codes its rounding flipped), ORT's distance from it and its
 * a-priori float32 allowance, and which side decided (the real-valued network prefers ORT's
 * class: the IR's fixed-point rounding decided; it prefers the IR's class: ORT's float32).
 *
 * Options:
 *   --limit N       inputs per model (default 2000; the test images are fmnist:test's first N)
 *   --models LIST   only these (name prefixes as printed; default all)
 *   --configs LIST  W1.4, W1.4A1.4 (default both)
 *   --json FILE     raw results (default bench/out/bitir-zoo.json)
 *
 * Exit code 1 when a difference is not explained, or below 99.9% agreement with calibrated or
 * wide precisions anywhere except the post-training-quantized ResNet (reported only); the
 * fixed fractions are reported, not required (docs/bit-ir.md §7).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, lib, internal, zooFixtures } from './lib.mjs';

const args = process.argv.slice(2);
const option = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};

const { loadModel, quantize, loadDataset, FMNIST_NORMALIZATION, writeNpy, forEachBatch, lowerToBitIR, measureStreamRanges, interpret } = lib;
const { sampleExplainer } = await internal('src/bitir/bounds.js');
const { WIDE_LOWERING } = await internal('src/bitir/types.js');
const { ZOO_FIXTURES, padImagesTo } = await zooFixtures();

const NOISE = 0.05;
const CALIB = 16;
const RESNET = path.join(ROOT, 'fixtures/models/fmnist-resnet.onnx');
const FINE_TUNED = [
  { name: 'fmnist-resnet W1.4 fine-tuned', file: path.join(ROOT, 'fixtures/models/fmnist-resnet.w1.4.hbnn.onnx'), config: 'W1.4' },
  { name: 'fmnist-resnet W1.4A1.4 fine-tuned', file: path.join(ROOT, 'fixtures/models/fmnist-resnet.w1.4a1.4.hbnn.onnx'), config: 'W1.4A1.4' },
];

const limit = Number(option('--limit', '2000'));
const onlyModels = option('--models', undefined)?.split(',');
const onlyConfigs = option('--configs', undefined)?.split(',');
const jsonOut = option('--json', path.join(ROOT, 'bench', 'out', 'bitir-zoo.json'));

const test = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, limit });
const n = test.count;
/** Calibration samples of the ResNet's lowering: the PTQ's calibration images (the first 512 of fmnist-mini:train). */
const resnetCalib = () => loadDataset('fmnist-mini:train', { normalize: FMNIST_NORMALIZATION, limit: 512 }).images;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-bitir-zoo-'));
const models = [
  ...ZOO_FIXTURES.map((f) => {
    const calib = path.join(tmp, `calib-${f.name}.npy`);
    const train = loadDataset('fmnist-mini:train', { normalize: FMNIST_NORMALIZATION, limit: CALIB });
    const calibImages = padImagesTo(train.images, CALIB, f.shape, NOISE, 61);
    writeNpy(calib, { dtype: 'float32', shape: [CALIB, ...f.shape], data: calibImages });
    return { name: f.name, trained: false, shape: f.shape, build: f.build, calib: { calibData: `npy:${calib}`, calibLimit: CALIB }, calibImages, inputs: () => padImagesTo(test.images, n, f.shape, NOISE, 16) };
  }),
  ...(fs.existsSync(RESNET)
    ? [{ name: 'fmnist-resnet PTQ', trained: false, informative: true, shape: [1, 28, 28], build: () => loadModel(RESNET), calib: { calibData: 'fmnist-mini:train', calibLimit: 512 }, calibImages: resnetCalib(), inputs: () => test.images }]
    : []),
  ...FINE_TUNED.filter((f) => fs.existsSync(f.file)).map((f) => ({ name: f.name, trained: true, quantized: f.config, shape: [1, 28, 28], build: () => loadModel(f.file), calibImages: resnetCalib(), inputs: () => test.images })),
].filter((m) => !onlyModels || onlyModels.some((x) => m.name.startsWith(x)));
const configs = [
  { name: 'W1.4', opts: { avgBits: 1.4, heuristic: 'middle-out' } },
  { name: 'W1.4A1.4', opts: { avgBits: 1.4, heuristic: 'middle-out', actBits: 1.4, actHeuristic: 'middle-out' } },
].filter((c) => !onlyConfigs || onlyConfigs.includes(c.name));

console.log(`bit-level IR vs onnxruntime on the fixture topologies: ${n} inputs each (fmnist:test), ${process.platform} node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const results = [];
for (const m of models) {
  const x = m.inputs();
  const per = m.shape[0] * m.shape[1] * m.shape[2];
  for (const config of configs) {
    if (m.quantized && m.quantized !== config.name) continue;
    const model = m.build();
    const t0 = performance.now();
    if (!m.quantized) await quantize(model, { ...config.opts, ...m.calib });
    const ort = await ortLogits(model, x, m.shape, n);
    const margins = [];
    for (let s = 0; s < n; s++) {
      const row = Array.from(ort.subarray(s * 10, s * 10 + 10)).sort((a, b) => b - a);
      margins.push(row[0] - row[1]);
    }
    margins.sort((a, b) => a - b);
    const streamRanges = measureStreamRanges(model, m.calibImages);
    for (const [precision, lopts] of [
      ['fixed', {}],
      ['calibrated', { streamRanges }],
      ['wide', WIDE_LOWERING],
    ]) {
      const program = lowerToBitIR(model, lopts);
      const r = interpret(program, x);
      const explain = sampleExplainer(program);
      const differing = [];
      for (let s = 0; s < n; s++) {
        let a = 0;
        for (let c = 1; c < 10; c++) if (ort[s * 10 + c] > ort[s * 10 + a]) a = c;
        const b = r.classes[s];
        if (a === b) continue;
        const e = explain(x.subarray(s * per, (s + 1) * per));
        const margin = ort[s * 10 + a] - ort[s * 10 + b];
        const rounding = e.deviation[a] + e.deviation[b];
        const allowance = e.ortAllowance[a] + e.ortAllowance[b];
        differing.push({
          input: s,
          ortClass: a,
          irClass: b,
          ortMargin: margin,
          realMargin: e.real[a] - e.real[b],
          irFromReal: rounding,
          irFlips: e.irFlips,
          ortFromReal: Math.abs(ort[s * 10 + a] - e.real[a]) + Math.abs(ort[s * 10 + b] - e.real[b]),
          float32Allowance: allowance,
          explained: margin <= rounding + allowance,
          decidedBy: e.real[a] >= e.real[b] ? 'IR fixed point' : 'ORT float32',
        });
      }
      const res = {
        model: m.name,
        trained: m.trained,
        informative: Boolean(m.informative),
        config: config.name,
        precision,
        lowering: program.options,
        inputs: n,
        agree: n - differing.length,
        agreement: (n - differing.length) / n,
        decidedByIr: differing.filter((d) => d.decidedBy === 'IR fixed point').length,
        decidedByOrt: differing.filter((d) => d.decidedBy === 'ORT float32').length,
        unexplained: differing.filter((d) => !d.explained).length,
        ortTop2Margin: { p1: margins[Math.floor(n / 100)], median: margins[n >> 1] },
        saturated: r.saturated,
        seconds: Math.round((performance.now() - t0) / 100) / 10,
        differing,
      };
      results.push(res);
      console.log(
        `${m.name} ${config.name} ${precision}: ${res.agree}/${n} same class (${(100 * res.agreement).toFixed(2)}%); differences decided by the IR's fixed point ${res.decidedByIr}, by ORT's float32 ${res.decidedByOrt}, unexplained ${res.unexplained}; ` +
          `ORT top-2 margin 1st percentile ${res.ortTop2Margin.p1.toExponential(2)}, median ${res.ortTop2Margin.median.toExponential(2)}; saturated ${JSON.stringify(r.saturated)}; ${res.seconds} s`,
      );
      for (const d of differing.slice(0, 8)) {
        console.log(
          `  input ${d.input}: ORT ${d.ortClass} / IR ${d.irClass}, ORT margin ${d.ortMargin.toExponential(2)}, real margin ${d.realMargin.toExponential(2)}; IR from real ${d.irFromReal.toExponential(2)} (${d.irFlips} codes flipped), ORT from real ${d.ortFromReal.toExponential(2)} (allowance ${d.float32Allowance.toExponential(2)}): ${d.decidedBy}${d.explained ? '' : ', NOT EXPLAINED'}`,
        );
      }
      if (differing.length > 8) console.log(`  ... ${differing.length - 8} more in the JSON`);
    }
  }
}
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
fs.writeFileSync(jsonOut, JSON.stringify(results, null, 1) + '\n');
console.log(`\nraw results: ${path.relative(process.cwd(), jsonOut)}`);
// Required: every difference explained; ≥ 99.9% with calibrated and with wide precisions for
// every model but the post-training-quantized ResNet (reported only). The fixed fractions
// (no calibrated ranges) are reported for comparison.
const required = (r) => !r.informative && r.precision !== 'fixed';
const bad = results.filter((r) => r.unexplained > 0 || (required(r) && r.agreement < 0.999));
if (bad.length) {
  console.log(`FAILED: ${bad.map((r) => `${r.model} ${r.config} ${r.precision}`).join(', ')} (unexplained difference, or below 99.9% where it is required)`);
  process.exitCode = 1;
}

/** onnxruntime's pre-softmax logits (the Softmax input when the graph ends in one). */
async function ortLogits(model, x, shape, count) {
  const out = model.graph.outputs[0];
  const sm = out.producer && (out.producer.opType === 'Softmax' || out.producer.opType === 'LogSoftmax') ? out.producer.inputs[0] : undefined;
  const v = sm ?? out;
  if (sm) model.graph.outputs.push(sm);
  const logits = new Float32Array(count * 10);
  try {
    await forEachBatch(model, { name: 'fmnist-derived', count, sampleShape: [...shape], images: x }, [v.name], { batchSize: 250 }, (s, k, o) => logits.set(o[v.name].subarray(0, k * 10), s * 10));
  } finally {
    if (sm) model.graph.outputs.pop();
  }
  return logits;
}
