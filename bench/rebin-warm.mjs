#!/usr/bin/env node
/**
 * Re-binarization per training step, warm-started bit map selections vs cold (issue 18).
 *
 *   node bench/rebin-warm.mjs [--model mobilenetv2|resnet20] [--steps 12] [--lr 0.001]
 *
 * The zoo model's float weights, quantized W1.4 Middle-Out; every step each binarized weight
 * moves by an Adam-sized step (±lr, seeded signs, like Adam's normalized update) and is
 * re-binarized by two `WeightBinarizer`s per layer, one with `warmStart` (fineTune's default)
 * and one without, alternating which goes first; CPU ms of the process per step (medians over
 * the steps after the first), and a byte comparison of the two Ŵ every step.
 * Imports the compiled package from dist/ (or HBNN_DIST).
 */
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.resolve(process.env.HBNN_DIST ?? path.join(ROOT, 'dist'));
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const modelName = arg('model', 'mobilenetv2');
const steps = Number(arg('steps', '12'));
const lr = Number(arg('lr', '0.001'));
const { quantize, readQuantRecord } = await load('src/index.js');
const { buildResNet20, buildMobileNetV2 } = await load('zoo/topologies.js');
const { WeightBinarizer, channelLayout } = await load('src/train/params.js');
const build = modelName === 'resnet20' ? buildResNet20 : buildMobileNetV2;
const float = build();
const q = build();
await quantize(q, { avgBits: 1.4, heuristic: 'middle-out' });
const layers = readQuantRecord(q).weights.map((r) => {
  const node = q.graph.nodes.find((n) => n.name === r.node);
  const layout = channelLayout(r.op, node?.attrInt('transB', 0) ?? 0, r.shape);
  const warm = new WeightBinarizer(r, layout);
  const cold = new WeightBinarizer(r, layout);
  cold.warmStart = false;
  return { warm, cold, w: float.graph.get(r.tensor).constValue.toFloat32().slice() };
});
const total = layers.reduce((a, l) => a + l.w.length, 0);
console.log(`${modelName}: ${layers.length} binarized weights, ${total} entries, W1.4 middle-out, ${steps} steps, lr ${lr}`);
let s = 987654321;
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const ms = { warm: [], cold: [] };
let mismatches = 0;
for (let step = 0; step < steps; step++) {
  if (step > 0) {
    for (const l of layers) {
      for (let i = 0; i < l.w.length; i++) {
        s = (s * 1103515245 + 12345) >>> 0;
        l.w[i] = Math.fround(l.w[i] + (s & 0x10000 ? lr : -lr));
      }
    }
  }
  const order = step % 2 === 0 ? ['warm', 'cold'] : ['cold', 'warm'];
  const outs = {};
  for (const which of order) {
    const t = cpu();
    outs[which] = layers.map((l) => l[which].binarize(l.w, true));
    ms[which].push(cpu() - t);
  }
  layers.forEach((_, i) => {
    const a = outs.warm[i];
    const b = outs.cold[i];
    if (Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) !== 0) mismatches++;
  });
}
const median = (a) => {
  const x = [...a].slice(1).sort((p, r) => p - r);
  const h = x.length >> 1;
  return x.length % 2 ? x[h] : (x[h - 1] + x[h]) / 2;
};
const stats = layers.reduce((a, l) => ({ hits: a.hits + l.warm.warmStats.hits, misses: a.misses + l.warm.warmStats.misses }), { hits: 0, misses: 0 });
const [mw, mc] = [median(ms.warm), median(ms.cold)];
console.log(`cold ${mc.toFixed(1)} ms/step, warm ${mw.toFixed(1)} ms/step CPU (medians of steps 2..${steps}); warm/cold ${(mw / mc).toFixed(3)}`);
console.log(`per step cold: ${ms.cold.map((v) => v.toFixed(0)).join(' ')}`);
console.log(`per step warm: ${ms.warm.map((v) => v.toFixed(0)).join(' ')}`);
console.log(`warm bounds held ${stats.hits}, rejected ${stats.misses}; Ŵ byte mismatches warm vs cold: ${mismatches}`);
if (mismatches > 0) process.exitCode = 1;
