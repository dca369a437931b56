/**
 * The architecture suite of bench/train-speed.mjs (`--suite`): fmnist-cnn, a ResNet-20-style
 * CIFAR network and a MobileNetV2-style network (zoo/, 3×32×32 input, random weights and
 * random data: speed only), each trained float and fine-tuned at W1.4 Middle-Out (fmnist-cnn
 * also W1.4A1.4), batch 128. For every run, in the same process and the same minutes:
 *
 * - onnxruntime inference of the model being trained (same session options, same batch),
 *   timed before and after the training run;
 * - the training run (`trainFloat` / `fineTune`) with per-step wall-clock and process CPU time
 *   (from the `step` progress events), the first steps (warm-up) apart from the steady state;
 * - the bare training graph (`buildTrainingGraph`, one `session.run` per step on fixed feeds),
 *   timed after every round (the median of the rounds' medians): what `fineTune`'s step costs
 *   above the graph itself.
 *
 * With `--workers 1,2 --rounds R` each training run is repeated R times, the worker counts
 * alternating within each round (data-parallel steps, `workers`), inference timed between
 * the rounds; the step medians pool the steady steps of all rounds. The bare graph is the
 * one-session graph with `threads` threads for every worker count (so step/bare below 1 is
 * what the workers gain over it). Process CPU time includes the worker threads'.
 *
 * With more than one worker count, also the per-core ceiling: the bare graph on one thread and
 * one worker's slice against inference on one thread and the same samples (CPU time), what
 * the workers would reach with no TypeScript part and no contention between them.
 *
 * Ratios are training samples/s over inference samples/s, by wall clock and by CPU time. CPU
 * time is what to compare on a shared machine: other jobs stretch wall-clock times (3-5× at
 * load 15 on 2 cores) but hardly the CPU time a step needs.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const r1 = (v) => Math.round(v * 10) / 10;
const r3 = (v) => Math.round(v * 1000) / 1000;
const cpuMs = (c) => (c.user + c.system) / 1000;

export async function runSuite({ dist, root, args, loadModel, quantize, fineTune, trainFloat, loadDataset, FMNIST_NORMALIZATION }) {
  const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
  const { buildResNet20, buildMobileNetV2 } = await load('zoo/topologies.js');
  const { buildTrainingGraph } = await load('src/train/grad/builder.js');
  const { probeNchwcBlock } = await load('src/train/nchwc-probe.js');
  // the bare graph is built as fineTune builds it: with this machine's NCHWc block unless --no-nchwc
  const nchwcBlock = args.nchwc === false ? 0 : await probeNchwcBlock();
  console.log(`onnxruntime NCHWc Conv block on this machine: ${nchwcBlock || 'none'}${args.nchwc === false ? ' (not used: --no-nchwc)' : ''}`);
  if (args.freezeBn) console.log('BatchNorm statistics frozen (--freeze-bn-stats) in every run and in the bare graph');
  const { createSession, ort } = await load('src/runtime/ort.js');
  const { trainingSessionOptions } = await load('src/train/step.js');
  const batch = args.batch;
  const steps = args.steps;
  const epochs = args.epochs;
  const threads = args.threads;
  const workersList = args.workers ?? [1];
  const rounds = args.rounds ?? 1;
  const mb = (b) => Math.round((b / 2 ** 20) * 10) / 10;

  /** Random CIFAR-shaped data (speed only). */
  const randomData = (sampleShape, count) => {
    const per = sampleShape.reduce((a, b) => a * b, 1);
    const images = new Float32Array(count * per);
    let s = 12345;
    for (let i = 0; i < images.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      images[i] = (s / 2 ** 32) * 2 - 1;
    }
    return { name: 'random', count, sampleShape, images, labels: Int32Array.from({ length: count }, (_, i) => i % 10), numClasses: 10 };
  };
  const fmnistPath = path.join(root, 'fixtures/models/fmnist-cnn.onnx');
  const models = {
    'fmnist-cnn': { make: () => loadModel(fmnistPath), data: () => loadDataset('fmnist:train', { normalize: FMNIST_NORMALIZATION, limit: steps * batch }), act: true },
    resnet20: { make: () => buildResNet20(), data: () => randomData([3, 32, 32], steps * batch) },
    mobilenetv2: { make: () => buildMobileNetV2(), data: () => randomData([3, 32, 32], steps * batch) },
  };

  /** Median wall and CPU ms of `reps` inference runs of `model` on one batch (`on`: another thread count and batch). */
  async function inference(model, data, on = { threads, batch }) {
    const session = await createSession(model, { threads: on.threads });
    const inName = session.inputNames[0];
    const x = new ort.Tensor('float32', data.images.subarray(0, on.batch * data.images.length / data.count), [on.batch, ...data.sampleShape]);
    const wall = [];
    const cpu = [];
    for (let i = 0; i < args.inferReps + 3; i++) {
      const t = performance.now();
      const c = process.cpuUsage();
      await session.run({ [inName]: x });
      if (i >= 3) {
        cpu.push(cpuMs(process.cpuUsage(c)));
        wall.push(performance.now() - t);
      }
    }
    await session.release();
    return { wallMs: median(wall), cpuMs: median(cpu) };
  }

  /** The bare training graph: one session.run per step on fixed feeds (`on`: another thread count and batch). */
  async function bare(model, data, on = { threads, batch }) {
    const tg = buildTrainingGraph(model, { nchwcBlock, ...(args.freezeBn ? { freezeBatchNormStats: true } : {}) });
    // fineTune's session options, so that step/bare compares the step with its own graph
    const session = await createSession(tg.model, trainingSessionOptions(on.threads));
    const per = data.images.length / data.count;
    const feeds = {
      [tg.dataInput]: new ort.Tensor('float32', data.images.subarray(0, on.batch * per), [on.batch, ...data.sampleShape]),
      [tg.labelsInput]: new ort.Tensor('int64', BigInt64Array.from(data.labels.subarray(0, on.batch), (l) => BigInt(l)), [on.batch]),
    };
    const inits = new Map([...model.graph.initializers.values()].map((v) => [v.name, v.constValue]));
    for (const p of tg.params) {
      const n = p.dims.reduce((a, b) => a * b, 1);
      const v = p.kind === 'float' ? inits.get(p.source).toFloat32() : Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 13) / 13 - 0.5);
      feeds[p.input] = new ort.Tensor('float32', v, p.dims);
    }
    const wall = [];
    const cpu = [];
    for (let i = 0; i < args.bareSteps + 2; i++) {
      const t = performance.now();
      const c = process.cpuUsage();
      await session.run(feeds);
      if (i >= 2) {
        cpu.push(cpuMs(process.cpuUsage(c)));
        wall.push(performance.now() - t);
      }
    }
    await session.release();
    return { wallMs: median(wall), cpuMs: median(cpu) };
  }

  const results = [];
  for (const name of args.models) {
    const spec = models[name];
    if (!spec) throw new Error(`unknown model ${name} (fmnist-cnn, resnet20, mobilenetv2)`);
    const data = spec.data();
    const variants = [
      ['float', async () => spec.make()],
      ['W1.4', async () => { const q = spec.make(); await quantize(q, { avgBits: 1.4, heuristic: 'middle-out' }); return q; }],
    ];
    if (spec.act) variants.push(['W1.4A1.4', async () => { const q = spec.make(); await quantize(q, { avgBits: 1.4, actBits: 1.4, normalize: 'fmnist' }); return q; }]);
    if (args.variants) {
      for (const v of args.variants) if (!variants.some(([n]) => n === v)) throw new Error(`unknown variant ${v} for ${name} (${variants.map(([n]) => n).join(', ')})`);
      variants.splice(0, variants.length, ...variants.filter(([n]) => args.variants.includes(n)));
    }
    for (const [variant, make] of variants) {
      const model = await make();
      // --workers 1,2 --rounds R: the worker counts alternate within each round (A/B in one process)
      const runs = new Map(workersList.map((w) => [w, { stepWall: [], stepCpu: [], memory: [], growth: [], lateGrowth: [], ortMs: [], jsMs: [], firstSteps: [], steps: 0 }]));
      const infers = [await inference(model, data)];
      const bares = [];
      for (let round = 0; round < rounds; round++) {
        for (const w of workersList) {
          const acc = runs.get(w);
          const stepWall = [];
          const stepCpu = [];
          const memory = [];
          let tPrev = performance.now();
          let cPrev = process.cpuUsage();
          const onProgress = (e) => {
            if (e.type === 'step') {
              const t = performance.now();
              stepWall.push(t - tPrev);
              stepCpu.push(cpuMs(process.cpuUsage(cPrev)));
              tPrev = t;
              cPrev = process.cpuUsage();
            } else if (e.type === 'epoch') {
              global.gc?.();
              const m = process.memoryUsage();
              memory.push({ epoch: e.record.epoch, rssMiB: mb(m.rss), heapUsedMiB: mb(m.heapUsed) });
            } else if (e.type === 'start') {
              tPrev = performance.now();
              cPrev = process.cpuUsage();
            }
          };
          const common = { epochs, batchSize: batch, threads, seed: 0, evalBefore: false, onProgress, ...(args.nchwc === false ? { nchwc: false } : {}), ...(args.freezeBn ? { freezeBatchNormStats: true } : {}), ...(w > 1 ? { workers: w } : {}) };
          const res = variant === 'float' ? await trainFloat(model, data, common) : await fineTune(model, data, { ...common, latentFrom: spec.make(), ...(args.bitMapEvery > 1 ? { bitMapEvery: args.bitMapEvery } : {}) });
          const eps = res.log.epochs;
          acc.steps += eps.reduce((sum, r) => sum + r.steps, 0);
          // steady state: the steps after the first epoch (warm-up and the allocator settling)
          const skip = Math.min(eps[0].steps, stepWall.length - 1);
          acc.stepWall.push(...stepWall.slice(skip));
          acc.stepCpu.push(...stepCpu.slice(skip));
          if (round === 0) acc.firstSteps = stepWall.slice(0, 3).map(r1);
          const later = eps.slice(1);
          const laterSteps = later.reduce((sum, r) => sum + r.steps, 0) || 1;
          acc.ortMs.push(later.length ? later.reduce((sum, e) => sum + e.ortMs, 0) / laterSteps : eps[0].ortMs / eps[0].steps);
          acc.jsMs.push(later.length ? later.reduce((sum, e) => sum + e.jsMs, 0) / laterSteps : eps[0].jsMs / eps[0].steps);
          acc.memory.push(memory);
          // resident memory after the last epoch against after the first, and with 6+ epochs over
          // the second half: the allocators settle over the first epochs (MobileNetV2-style, 2
          // workers, 8 steps per epoch: +36 MiB over epochs 1-30, +7 over 30-100, docs/training.md),
          // where a leak keeps growing at its rate per step
          const lastRss = memory.length ? memory[memory.length - 1].rssMiB : 0;
          acc.growth.push(memory.length > 1 ? r1(lastRss - memory[0].rssMiB) : 0);
          if (memory.length >= 6) acc.lateGrowth.push(r1(lastRss - memory[Math.ceil(memory.length / 2) - 1].rssMiB));
        }
        infers.push(await inference(model, data));
        // the bare graph in every round too: the machine's phases move it as much as the step
        bares.push(await bare(model, data));
      }
      const bareRun = { wallMs: median(bares.map((x) => x.wallMs)), cpuMs: median(bares.map((x) => x.cpuMs)) };
      // With workers: what one core can give, the training graph on one thread and one worker's
      // slice against inference on one thread and the same samples (CPU time): the ratio two
      // workers on two cores would reach with no TypeScript part and no contention between them
      const most = Math.max(...workersList);
      if (most > 1) {
        const on = { threads: 1, batch: Math.ceil(batch / most) };
        const [inf1, bare1] = [await inference(model, data, on), await bare(model, data, on)];
        const ceiling = { model: name, variant, kind: 'per-core ceiling', samples: on.batch, trainingGraphCpuMs: r1(bare1.cpuMs), inferenceCpuMs: r1(inf1.cpuMs), ratioCpu: r3(inf1.cpuMs / bare1.cpuMs) };
        results.push(ceiling);
        console.log(`${name} ${variant} per-core ceiling (one thread, ${on.batch} samples): training graph ${ceiling.trainingGraphCpuMs} ms CPU, inference ${ceiling.inferenceCpuMs} ms CPU, ratio ${ceiling.ratioCpu}`);
      }
      const inferWall = median(infers.map((x) => x.wallMs));
      const inferCpu = median(infers.map((x) => x.cpuMs));
      for (const [w, acc] of runs) {
        const stepW = median(acc.stepWall);
        const stepC = median(acc.stepCpu);
        const growth = Math.max(...acc.growth);
        const lateGrowth = acc.lateGrowth.length ? Math.max(...acc.lateGrowth) : null;
        const half = Math.ceil(epochs / 2);
        // the verdict: over the second half where there is one, else after epoch 1
        const verdict = (lateGrowth ?? growth) <= 16 ? 'no growth' : 'GROWTH';
        const r = {
          model: name,
          variant,
          workers: w,
          ...(args.freezeBn ? { freezeBatchNormStats: true } : {}),
          rounds,
          steps: acc.steps,
          samplesPerSec: Math.round((batch / stepW) * 1000),
          inferSamplesPerSec: Math.round((batch / inferWall) * 1000),
          ratioWall: r3(inferWall / stepW),
          ratioCpu: r3(inferCpu / stepC),
          stepWallMs: r1(stepW),
          stepCpuMs: r1(stepC),
          inferWallMs: infers.map((x) => r1(x.wallMs)),
          inferCpuMs: infers.map((x) => r1(x.cpuMs)),
          firstStepsWallMs: acc.firstSteps,
          ortMsPerStep: r1(median(acc.ortMs)),
          jsMsPerStep: r1(median(acc.jsMs)),
          bareStepWallMs: r1(bareRun.wallMs),
          bareStepCpuMs: r1(bareRun.cpuMs),
          stepOverBareCpu: r3(stepC / bareRun.cpuMs),
          stepOverBareWall: r3(stepW / bareRun.wallMs),
          rssGrowthMiB: growth,
          rssGrowthSecondHalfMiB: lateGrowth,
          memory: acc.memory.length === 1 ? acc.memory[0] : acc.memory,
          peakRssMiB: mb(process.resourceUsage().maxRSS * 1024),
        };
        results.push(r);
        const rss = acc.memory.map((m) => m.map((x) => x.rssMiB).join('/')).join(', ');
        console.log(
          `${name} ${variant}${workersList.length > 1 || w > 1 ? ` workers ${w}` : ''}: ${r.samplesPerSec} samples/s (inference ${r.inferSamplesPerSec}), ratio ${r.ratioWall} wall / ${r.ratioCpu} CPU; step ${r.stepWallMs} ms wall, ${r.stepCpuMs} ms CPU (onnxruntime ${r.ortMsPerStep}, TypeScript ${r.jsMsPerStep} ms); first steps ${r.firstStepsWallMs.join('/')} ms; bare graph ${r.bareStepWallMs} ms wall, ${r.bareStepCpuMs} ms CPU (step/bare CPU ${r.stepOverBareCpu}, wall ${r.stepOverBareWall}); rss ${rss} MiB (${verdict}: ${growth >= 0 ? '+' : ''}${growth} MiB after epoch 1${lateGrowth === null ? '' : `, ${lateGrowth >= 0 ? '+' : ''}${lateGrowth} MiB after epoch ${half}`}), peak ${r.peakRssMiB} MiB`,
        );
      }
    }
  }
  return results;
}
