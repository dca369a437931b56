#!/usr/bin/env node
/**
 * The TypeScript side of a fine-tuning step, measured alone (issue 18): per step, what
 * `StepRunner.run` and the loop do besides `session.run` — re-binarize every binarized weight
 * (warm-started, into the binarizer's buffers), the clipped STE on fresh gradients, the
 * optimizer update (SGD, momentum 0.9) and the check for non-finite weights, each build as its
 * own loop does them (separate passes, or folded into the optimizer's; builds with
 * `Optimizer.lastSumAbs` hand the update's sum |w| to the next re-binarization) — on the zoo
 * model quantized W1.4 Middle-Out, with fixed synthetic gradients. With `--base DIST` the same
 * for another compiled checkout (e.g. main's dist/), the two alternated step by step in this
 * process, and the latent weights of both compared byte for byte at the end. In the same
 * rounds: the bare training graph and inference of the model in onnxruntime (2 threads,
 * spinning off), for the ratio (bare + TypeScript) / bare. CPU ms of the process, medians.
 *
 * Ŵ of every step are digested too and compared between the builds (the synthetic gradients do
 * not depend on Ŵ, so the latent weights alone would not see a change in the re-binarization).
 * `--bit-map-every N`: this checkout's side recomputes bit maps every N steps and holds them in
 * between, as `fineTune` with `bitMapEvery: N` (its Ŵ then differ from the base's by design).
 *
 *   node --expose-gc bench/train-ts-side.mjs [--model mobilenetv2|resnet20] [--steps 14] [--base DIST] [--bit-map-every N] [--no-graph]
 *
 * --no-graph: no onnxruntime (no bare graph, no ratio); a 64 MiB array is walked before each
 * side's step instead, evicting the caches as the graph's run does: faster and steadier.
 *
 * With --expose-gc, garbage is collected before each side's timed work (not timed): neither side
 * pays for the other's garbage or onnxruntime's outputs. Per-pair ratios (each step's new / old)
 * are printed beside the medians.
 *
 * Imports the compiled package from dist/ (or HBNN_DIST).
 */
import * as path from 'node:path';
import * as os from 'node:os';
import { createHash } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const model = arg('model', 'mobilenetv2');
const steps = Number(arg('steps', '14'));
const bitMapEvery = Number(arg('bit-map-every', '1'));
// --no-graph: no onnxruntime; a 64 MiB array walked between steps evicts the caches as the graph's run does (faster, steadier)
const noGraph = process.argv.includes('--no-graph');
const dists = [path.resolve(process.env.HBNN_DIST ?? path.join(ROOT, 'dist'))];
if (arg('base', null)) dists.push(path.resolve(arg('base')));
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const median = (x) => {
  const a = x.slice(2).sort((p, q) => p - q);
  const h = a.length >> 1;
  return a.length % 2 ? a[h] : (a[h - 1] + a[h]) / 2;
};

const sides = [];
for (const [k, d] of dists.entries()) {
  const load = (rel) => import(pathToFileURL(path.join(d, rel)).href);
  const lib = { ...(await load('src/index.js')), ...(await load('zoo/topologies.js')), ...(await load('src/train/grad/builder.js')), ...(await load('src/train/params.js')), ...(await load('src/train/optimizer.js')) };
  const build = () => (model === 'resnet20' ? lib.buildResNet20() : lib.buildMobileNetV2());
  const q = build();
  await lib.quantize(q, { avgBits: 1.4, heuristic: 'middle-out' });
  const tg = lib.buildTrainingGraph(q);
  const params = lib.collectParams(q, tg, build());
  const opt = new lib.Optimizer({ kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const grads = params.map((p, j) => Float32Array.from({ length: p.value.length }, (_, i) => Math.cos(i * 0.37 + j) * 1e-2));
  sides.push({ name: k === 0 ? 'new' : 'old', lib, q, params, opt, grads, ms: [], binMs: [], restMs: [], hatDigests: [], sums: [] });
}

// the bare graph and inference (this checkout's build), timed in the same rounds
const A = sides[0];
const graph = noGraph ? null : await loadGraph();
async function loadGraph() {
  const { probeNchwcBlock } = await import(pathToFileURL(path.join(dists[0], 'src/train/nchwc-probe.js')).href);
  const { createSession, ort } = await import(pathToFileURL(path.join(dists[0], 'src/runtime/ort.js')).href);
  const tg = A.lib.buildTrainingGraph(A.q, { nchwcBlock: await probeNchwcBlock() });
  const session = await createSession(tg.model, { threads: 2, memPattern: false, spinning: false });
  const infer = await createSession(A.q, { threads: 2, spinning: false });
  const batch = 128;
  const images = new Float32Array(batch * 3 * 32 * 32).map((_, i) => Math.sin(i));
  const feeds = { [tg.dataInput]: new ort.Tensor('float32', images, [batch, 3, 32, 32]), [tg.labelsInput]: new ort.Tensor('int64', BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 10)), [batch]) };
  const inits = new Map([...A.q.graph.initializers.values()].map((v) => [v.name, v.constValue]));
  for (const p of tg.params) {
    const n = p.dims.reduce((a, b) => a * b, 1);
    feeds[p.input] = new ort.Tensor('float32', p.kind === 'float' ? inits.get(p.source).toFloat32() : Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 13) / 13 - 0.5), p.dims);
  }
  await session.run(feeds);
  await session.run(feeds);
  return { session, infer, feeds, dataInput: tg.dataInput };
}
const evict = noGraph ? new Float64Array(8 << 20) : null;
const bare = [];
const inf = [];
for (let step = 0; step < steps; step++) {
  for (const s of step % 2 ? [...sides].reverse() : sides) {
    const g = s.grads.map((x) => x.slice()); // fresh gradients, as onnxruntime returns them (not timed)
    // with --expose-gc: collect the garbage of the other side and of onnxruntime's outputs first (not
    // timed), so that neither side pays for the other's (the side that ran second was otherwise 2-3x slower under load)
    globalThis.gc?.();
    if (evict !== null) for (let i = 0; i < evict.length; i += 8) evict[i] += 1;
    const c = cpu();
    const recompute = s.name === 'new' && bitMapEvery > 1 && step % bitMapEvery === 0;
    if (recompute) for (const p of s.params) if (p.binarizer) p.binarizer.frozen = null;
    // builds whose optimizer keeps sum |w| (Optimizer.lastSumAbs) hand it to the re-binarization, as their loop does
    const hats = s.params.map((p, i) => p.kind === 'binarized' && p.binarizer.binarize(p.value, true, s.sums[i]));
    if (recompute) for (const p of s.params) p.binarizer?.holdLastBitMap();
    const t1 = cpu();
    // builds with WEIGHT_STE_CLIP take the STE in the optimizer's pass (as their loop does); older ones a pass of its own
    const fused = s.lib.WEIGHT_STE_CLIP !== undefined;
    if (!fused) s.params.forEach((p, i) => p.kind === 'binarized' && s.lib.applyWeightSte(g[i], p.value));
    s.opt.beginStep();
    s.params.forEach((p, i) => {
      const finite = fused ? s.opt.update(p.name, p.value, g[i], 0.01, p.kind === 'binarized' ? s.lib.WEIGHT_STE_CLIP : Infinity) : s.opt.update(p.name, p.value, g[i], 0.01);
      s.sums[i] = s.opt.lastSumAbs;
      // builds before the check moved into the optimizer return nothing: their loop's own pass
      if (finite === undefined) {
        for (let k = 0; k < p.value.length; k++) if (!Number.isFinite(p.value[k])) throw new Error('diverged');
      } else if (!finite) throw new Error('diverged');
    });
    s.ms.push(cpu() - c);
    s.binMs.push(t1 - c);
    s.restMs.push(s.ms[s.ms.length - 1] - (t1 - c));
    const h = createHash('sha256');
    for (const x of hats) if (x) h.update(Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    s.hatDigests.push(h.digest('hex'));
  }
  if (graph === null) continue;
  let c = cpu();
  await graph.session.run(graph.feeds);
  bare.push(cpu() - c);
  c = cpu();
  await graph.infer.run({ [graph.infer.inputNames[0]]: graph.feeds[graph.dataInput] });
  inf.push(cpu() - c);
}
const b = graph === null ? NaN : median(bare);
const weights = A.params.filter((p) => p.kind === 'binarized').reduce((a, p) => a + p.value.length, 0);
console.log(`${model} W1.4, ${weights} binarized weights, ${steps} steps; ${graph === null ? 'no graph (caches evicted before each side)' : `bare training graph ${b.toFixed(0)} ms CPU, inference ${median(inf).toFixed(1)} ms CPU (2 threads, spinning off)`}`);
for (const s of sides) {
  const t = median(s.ms);
  const mean = s.ms.slice(2).reduce((a, v) => a + v, 0) / (s.ms.length - 2);
  console.log(`${s.name}: TypeScript side ${t.toFixed(1)} ms CPU per step (median; mean ${mean.toFixed(1)}), re-binarization ${median(s.binMs).toFixed(1)}, the rest ${median(s.restMs).toFixed(1)} (steps: ${s.ms.map((v) => v.toFixed(0)).join(' ')})${graph === null ? '' : `; (bare + TypeScript) / bare ${((b + t) / b).toFixed(3)}; inference / (bare + TypeScript) ${(median(inf) / (b + t)).toFixed(3)}`}`);
}
if (sides.length > 1) {
  const bytesOf = (x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength); // latent weights may be views of a larger (WebAssembly) memory
  const diff = sides[0].params.filter((p, i) => !bytesOf(p.value).equals(bytesOf(sides[1].params[i].value))).length;
  const hatDiff = sides[0].hatDigests.filter((d, i) => d !== sides[1].hatDigests[i]).length;
  console.log(`latent weights differing between new and old after ${steps} steps: ${diff}; steps whose Ŵ differ: ${hatDiff}${bitMapEvery > 1 ? ' (bit maps held on the new side)' : ''}`);
  if (diff > 0 || (hatDiff > 0 && bitMapEvery === 1)) process.exitCode = 1;
  // per-pair ratios (each step's new / old, the two measured back to back): steadier than a ratio of medians under load
  const pair = (k) => median([0, 0, ...sides[0][k].slice(2).map((v, i) => v / sides[1][k][i + 2])]);
  console.log(`per-pair ratio new / old (median over the steps after the first two): TypeScript side ${pair('ms').toFixed(3)}, re-binarization ${pair('binMs').toFixed(3)}, the rest (STE, update, checks) ${pair('restMs').toFixed(3)}`);
}
console.log(`load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
