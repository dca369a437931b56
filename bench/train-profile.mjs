#!/usr/bin/env node
/**
 * Where a training step goes, and same-process A/Bs of training graphs (issue 18).
 *
 *   node bench/train-profile.mjs [--model resnet20|mobilenetv2|fmnist-cnn | --model-file M.onnx] [--variant W1.4|W1.4A1.4|float]
 *        [--batch 128] [--threads 2] [--rounds 5] [--base DIST] [--profile] [--profile-steps 6] [--spinning]
 *        [--variants 'rows:weightGrad=rows;patches:weightGrad=patches,products=one'] [--top 20] [--warmup] [--freeze-bn-stats]
 *        [--sessions 'par:executionMode=parallel,interOp=2;t1:intraOp=1']
 *
 * - A/B: onnxruntime inference of the model, the training graph built by this checkout (`new`,
 *   dist/ or HBNN_DIST) and, with `--base DIST`, the graph built by another compiled checkout
 *   (`old`, e.g. main's dist/), one `session.run` each in round-robin, `--rounds` times; CPU ms
 *   of the process per run (2 intra-op threads, spinning off so idle threads do not count, unless
 *   `--spinning`) and wall ms, medians; the CPU ratio inference/training is the figure to compare
 *   on a shared machine.
 * - `--profile`: onnxruntime's profiler on the new graph; every node's fastest run of
 *   `--profile-steps` steps, summed by rule: the forward node it belongs to (its op type) and
 *   the part of the rule (forward; backward; a Conv's dX and dW), the node names being
 *   `<forward node>/...`, `<forward node>/grad/...`, `<conv>/grad/dX/...`, `<conv>/grad/dW/...`
 *   (src/train/grad/context.ts). Nodes onnxruntime added or fused under other names count as
 *   `onnxruntime`. Also the top layers by time.
 *
 * - `--variants`: more graphs of this checkout, each with some Conv gradient forms forced
 *   (BuildOptions.convRules: weightGrad patches|rows, products per-sample|one, inputGrad
 *   flipped|transpose|phase), A/B'd with the rest; with `--profile` each is profiled and a per-layer
 *   table (dW and dX ms of every Conv, with its shape, per variant) is printed: the per-shape
 *   rule sweep of docs/training.md.
 *
 * - `--sessions 'par:executionMode=parallel,interOp=2;ext:optimization=extended'`: more
 *   onnxruntime sessions of the new graph with other session options (fineTune's otherwise:
 *   memory pattern off, the intra-op threads and spinning of this run), A/B'd with the rest:
 *   `executionMode` sequential|parallel, `interOp` (inter-op threads), `intraOp` (intra-op
 *   threads), `optimization` disabled|basic|extended|all, `spinning` 0|1, `memPattern` 0|1,
 *   `arena` 0|1 (the CPU memory arena).
 *
 * The summary counts, for every graph against `new`, the rounds in which `new` took less CPU.
 *
 *   `chunk=N` takes the kernel-row weight gradients' per-sample products in batch chunks of N
 *   samples (planned for --batch; 0: none; default about 6 MiB of operands per chunk); `allowance=F` takes them per sample while the partials are at
 *   most F times the inputs, else one MatMul with the batch in the reduction.
 *
 * - `--freeze-bn-stats`: the new graph (and the `--variants`) with frozen BatchNorm statistics
 *   (BuildOptions.freezeBatchNormStats); `old` stays as its build makes it (training mode).
 *
 * - `--warmup`: instead of the above, the first runs of fresh training sessions with fineTune's
 *   options (no memory pattern) and with onnxruntime's default (memory pattern on), alternated
 *   `--rounds` times: session creation and runs 1-4, each wall ms, CPU ms, system CPU ms and
 *   minor page faults (spinning off).
 *
 * Random weights and data (speed only); the models come from zoo/ and fixtures/, or `--model-file`
 * names any ONNX classifier (e.g. an export of your own; its input's sample shape from the
 * model's declared input, batch dimension excepted, or `--sample-shape 3,224,224`): where its
 * training step goes, by rule, against its inference.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const flag = (name) => argv.includes(`--${name}`);
const args = {
  model: opt('model', 'resnet20'),
  modelFile: opt('model-file', null),
  variant: opt('variant', 'W1.4'),
  batch: Number(opt('batch', 128)),
  threads: Number(opt('threads', 2)),
  rounds: Number(opt('rounds', 5)),
  base: opt('base', null),
  profile: flag('profile'),
  profileSteps: Number(opt('profile-steps', 6)),
  nchwc: !flag('no-nchwc'),
  // --variants 'name:key=value,key=value;name2:...' (BuildOptions.convRules per graph)
  variants: opt('variants', null),
  top: Number(opt('top', 20)),
  warmup: flag('warmup'),
  freezeBn: flag('freeze-bn-stats'),
  // --spinning: idle intra-op threads spin (onnxruntime's default and fineTune's), else off
  spinning: flag('spinning'),
  // --sessions 'name:key=value,...;...': the new graph in sessions with other onnxruntime options
  sessions: opt('sessions', null),
};
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const cpuMs = (c) => (c.user + c.system) / 1000;
const r1 = (v) => Math.round(v * 10) / 10;

async function loadDist(dist) {
  const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
  return {
    ...(await load('src/index.js')),
    ...(await load('zoo/topologies.js')),
    ...(await load('src/train/grad/builder.js')),
    ...(await load('src/train/nchwc-probe.js')),
    ...(await load('src/runtime/ort.js')),
    ...(await load('src/train/step.js')),
  };
}

/** The model's sample shape: --sample-shape, else its declared input without the batch dim. */
function sampleShapeOf(lib, m) {
  const given = opt('sample-shape', null);
  if (given) return given.split(',').map(Number);
  if (!args.modelFile) return args.model === 'fmnist-cnn' ? [1, 28, 28] : [3, 32, 32];
  const dims = lib.tensorTypeOf(m.graph.inputs.find((v) => !v.constValue))?.shape?.slice(1);
  if (!dims || dims.some((d) => typeof d !== 'number')) throw new Error(`${args.modelFile}: the input's sample shape is not static; give --sample-shape`);
  return dims;
}

async function makeModel(lib) {
  const m = args.modelFile ? lib.loadModel(path.resolve(args.modelFile)) : args.model === 'fmnist-cnn' ? lib.loadModel(path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx')) : args.model === 'resnet20' ? lib.buildResNet20() : lib.buildMobileNetV2();
  if (args.variant === 'W1.4A1.4') await lib.quantize(m, { avgBits: 1.4, actBits: 1.4, ...(args.model === 'fmnist-cnn' ? { normalize: 'fmnist' } : {}) });
  else if (args.variant !== 'float') await lib.quantize(m, { avgBits: 1.4, heuristic: 'middle-out' });
  return m;
}

function feedsFor(lib, model, tg, sampleShape) {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const images = new Float32Array(args.batch * per);
  let s = 12345;
  for (let i = 0; i < images.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    images[i] = (s / 2 ** 32) * 2 - 1;
  }
  const feeds = {
    [tg.dataInput]: new lib.ort.Tensor('float32', images, [args.batch, ...sampleShape]),
    [tg.labelsInput]: new lib.ort.Tensor('int64', BigInt64Array.from({ length: args.batch }, (_, i) => BigInt(i % 10)), [args.batch]),
  };
  const inits = new Map([...model.graph.initializers.values()].map((v) => [v.name, v.constValue]));
  for (const p of tg.params) {
    const n = p.dims.reduce((a, b) => a * b, 1);
    const v = p.kind === 'float' ? inits.get(p.source).toFloat32() : Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 13) / 13 - 0.5);
    feeds[p.input] = new lib.ort.Tensor('float32', v, p.dims);
  }
  return { feeds, x: feeds[tg.dataInput] };
}

async function main() {
  const lib = await loadDist(path.resolve(process.env.HBNN_DIST ?? path.join(ROOT, 'dist')));
  const block = args.nchwc ? await lib.probeNchwcBlock() : 0;
  const model = await makeModel(lib);
  const sampleShape = sampleShapeOf(lib, model);
  const sess = (m, extra = {}) => lib.createSession(m, { threads: args.threads, spinning: args.spinning, ...extra });
  // training graphs with fineTune's session options (lib: this checkout's, also for the --base graph)
  const trainSess = (m) => sess(m, lib.trainingSessionOptions?.(args.threads) ?? {});
  const tgNew = lib.buildTrainingGraph(model, { nchwcBlock: block, batchHint: args.batch, ...(args.freezeBn ? { freezeBatchNormStats: true } : {}) });
  const { feeds, x } = feedsFor(lib, model, tgNew, sampleShape);
  if (args.warmup) return warmup(lib, tgNew, feeds);
  const runs = [];
  const infer = await sess(model);
  runs.push({ name: 'inference', run: () => infer.run({ [infer.inputNames[0]]: x }), nodes: model.graph.nodes.length });
  const news = await trainSess(tgNew.model);
  runs.push({ name: 'new', run: () => news.run(feeds), nodes: tgNew.model.graph.nodes.length });
  const graphs = [{ name: 'new', tg: tgNew }];
  if (args.sessions) {
    const bytes = lib.encodeModel(tgNew.model);
    for (const spec of args.sessions.split(';').filter(Boolean)) {
      const [name, rest] = spec.split(':');
      const kv = Object.fromEntries((rest ?? '').split(',').filter(Boolean).map((p) => p.split('=')));
      const se = await lib.ort.InferenceSession.create(bytes, rawSessionOptions(kv));
      runs.push({ name, run: () => se.run(feeds), nodes: tgNew.model.graph.nodes.length });
    }
  }
  for (const spec of (args.variants ?? '').split(';').filter(Boolean)) {
    const [name, rest] = spec.split(':');
    const convRules = Object.fromEntries((rest ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')));
    const tg = lib.buildTrainingGraph(model, { nchwcBlock: block, convRules, batchHint: args.batch, ...(args.freezeBn ? { freezeBatchNormStats: true } : {}) });
    const se = await trainSess(tg.model);
    runs.push({ name, run: () => se.run(feeds), nodes: tg.model.graph.nodes.length });
    graphs.push({ name, tg });
  }
  if (args.base) {
    const base = await loadDist(path.resolve(args.base));
    const bm = await makeModel(base);
    const tgOld = base.buildTrainingGraph(bm, { nchwcBlock: block });
    // this checkout's createSession (the session options, spinning off), on the other checkout's graph
    const olds = await trainSess(tgOld.model);
    const oldFeeds = {};
    for (const [k, v] of Object.entries(feeds)) oldFeeds[k] = v;
    runs.push({ name: 'old', run: () => olds.run(oldFeeds), nodes: tgOld.model.graph.nodes.length });
  }
  console.log(`${args.modelFile ?? args.model} ${args.variant}, batch ${args.batch}, ${args.threads} threads, NCHWc block ${block || 'none'}, load ${os.loadavg().map(r1).join(' ')}`);
  const first = {};
  for (const r of runs) {
    const t = performance.now();
    await r.run();
    first[r.name] = [r1(performance.now() - t)];
    const t2 = performance.now();
    await r.run();
    first[r.name].push(r1(performance.now() - t2));
  }
  console.log(`first two runs (wall ms, warm-up): ${runs.map((r) => `${r.name} ${first[r.name].join(' / ')}`).join(', ')}`);
  const cpu = Object.fromEntries(runs.map((r) => [r.name, []]));
  const wall = Object.fromEntries(runs.map((r) => [r.name, []]));
  for (let i = 0; i < args.rounds; i++) {
    for (const r of runs) {
      const reps = r.name === 'inference' ? 3 : 1;
      const c = [];
      const w = [];
      for (let k = 0; k < reps; k++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await r.run();
        w.push(performance.now() - t0);
        c.push(cpuMs(process.cpuUsage(c0)));
      }
      cpu[r.name].push(median(c));
      wall[r.name].push(median(w));
    }
  }
  const inf = median(cpu.inference);
  const infWall = median(wall.inference);
  for (const r of runs) {
    const m = median(cpu[r.name]);
    const w = median(wall[r.name]);
    const ratios = r.name === 'inference' ? '' : `, ratio ${(inf / m).toFixed(3)} (wall ${(infWall / w).toFixed(3)})`;
    // rounds in which the new graph took less CPU than this one
    const wins = r.name === 'inference' || r.name === 'new' ? '' : `, new faster in ${cpu.new.filter((c, i) => c < cpu[r.name][i]).length} of ${args.rounds} rounds`;
    console.log(`${r.name.padEnd(9)} ${String(r1(m)).padStart(8)} ms CPU, ${r1(w)} ms wall (CPU runs ${cpu[r.name].map(r1).join(' ')})${ratios}${wins}, ${r.nodes} nodes`);
  }
  console.log(`load after: ${os.loadavg().map(r1).join(' ')}`);
  if (args.profile) {
    const perLayer = [];
    for (const g of graphs) {
      console.log(`\n== ${g.name}`);
      perLayer.push(await profile(lib, model, g.tg, feeds));
    }
    if (graphs.length > 1) {
      const saved = args.variant;
      args.variant = 'float';
      layerTable(await makeModel(lib), graphs.map((g) => g.name), perLayer);
      args.variant = saved;
    }
  }
}

/** onnxruntime session options from `--sessions` keys, on top of fineTune's (memory pattern off) and this run's threads and spinning. */
function rawSessionOptions(kv) {
  const known = ['executionMode', 'interOp', 'intraOp', 'optimization', 'spinning', 'memPattern', 'arena'];
  for (const k of Object.keys(kv)) if (!known.includes(k)) throw new Error(`--sessions: unknown key ${k} (known: ${known.join(', ')})`);
  const spin = kv.spinning ?? (args.spinning ? '1' : '0');
  return {
    graphOptimizationLevel: kv.optimization ?? 'all',
    logSeverityLevel: 3,
    executionMode: kv.executionMode ?? 'sequential',
    intraOpNumThreads: Number(kv.intraOp ?? args.threads),
    interOpNumThreads: Number(kv.interOp ?? 1),
    enableMemPattern: kv.memPattern === '1',
    enableCpuMemArena: kv.arena !== '0',
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin }, force_spinning_stop: '1' } },
  };
}

/** Session creation and the first runs of fresh sessions, memory pattern off (fineTune's options) and on. */
async function warmup(lib, tg, feeds) {
  console.log(`${args.modelFile ?? args.model} ${args.variant}, batch ${args.batch}, ${args.threads} threads, ${tg.model.graph.nodes.length} nodes, load ${os.loadavg().map(r1).join(' ')}`);
  console.log('per run: wall ms / CPU ms / system CPU ms / minor page faults');
  const usage = () => {
    const r = process.resourceUsage();
    return { t: performance.now(), cpu: (r.userCPUTime + r.systemCPUTime) / 1000, sys: r.systemCPUTime / 1000, pf: r.minorPageFault };
  };
  const fmt = (a, b) => `${Math.round(b.t - a.t)} / ${Math.round(b.cpu - a.cpu)} / ${Math.round(b.sys - a.sys)} / ${b.pf - a.pf}`;
  const forms = { 'no pattern (fineTune)': lib.trainingSessionOptions(args.threads), 'memory pattern': { threads: args.threads, memPattern: true } };
  const sums = Object.fromEntries(Object.keys(forms).map((k) => [k, []]));
  for (let i = 0; i < args.rounds; i++) {
    for (const [name, o] of Object.entries(forms)) {
      const u0 = usage();
      const s = await lib.createSession(tg.model, { ...o, spinning: false });
      const cells = [`create ${fmt(u0, usage())}`];
      let total = 0;
      for (let k = 1; k <= 4; k++) {
        const a = usage();
        await s.run(feeds);
        const b = usage();
        total += b.cpu - a.cpu;
        cells.push(`run ${k}: ${fmt(a, b)}`);
      }
      sums[name].push(total);
      console.log(`${name.padEnd(22)} ${cells.join(', ')}; rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
      await s.release();
    }
  }
  for (const [name, t] of Object.entries(sums)) console.log(`${name}: CPU ms of runs 1-4, median ${r1(median(t))} (${t.map(r1).join(' ')})`);
}

/** Per Conv: shape, then dW and dX ms (sum of each node's fastest run) per variant. */
function layerTable(model, names, perLayer) {
  const inits = new Map([...model.graph.initializers.values()].map((v) => [v.name, v.constValue?.dims]));
  console.log(`\nper layer, ms (dW | dX), variants ${names.join(' / ')}:`);
  for (const n of model.graph.nodes) {
    if (n.opType !== 'Conv') continue;
    const w = n.inputs[1];
    const dims = inits.get(w?.name) ?? [];
    const strides = n.attrInts('strides') ?? [1, 1];
    const cell = (part) => perLayer.map((m) => r1((m.get(`${n.name} (Conv) ${part}`)?.dur ?? 0) / 1000)).join(' / ');
    console.log(`  ${n.name.padEnd(8)} W ${[...dims].join('x').padEnd(12)} s${strides[0]}  dW ${cell('dW').padEnd(22)} dX ${cell('dX')}`);
  }
}

async function profile(lib, model, tg, feeds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-profile-'));
  const s = await lib.createSession(tg.model, { ...(lib.trainingSessionOptions?.(args.threads) ?? {}), threads: args.threads, spinning: false, profilePrefix: path.join(dir, 'train') });
  for (let i = 0; i < args.profileSteps; i++) await s.run(feeds);
  s.endProfiling();
  await s.release();
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
  const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  fs.rmSync(dir, { recursive: true, force: true });
  const fwdOp = new Map(model.graph.nodes.map((n) => [n.name, n.opType]));
  const best = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    const prev = best.get(name);
    if (!prev || e.dur < prev.dur) best.set(name, { dur: e.dur, op: e.args?.op_name ?? '?' });
  }
  const groups = new Map();
  const layers = new Map();
  let total = 0;
  const add = (m, k, dur, op) => {
    const g = m.get(k) ?? { dur: 0, ops: new Map() };
    g.dur += dur;
    g.ops.set(op, (g.ops.get(op) ?? 0) + dur);
    m.set(k, g);
  };
  for (const [name, { dur, op }] of best) {
    total += dur;
    // the forward node a training node belongs to: the longest prefix of its name that names one
    // (exporters put slashes in node names: "/features/features.0/Conv/grad/dW/MatMul")
    let owner = name.split('/')[0];
    for (let cut = name.length; cut > 0; cut = name.lastIndexOf('/', cut - 1)) {
      if (fwdOp.has(name.slice(0, cut))) {
        owner = name.slice(0, cut);
        break;
      }
    }
    const parts = [owner, ...name.slice(owner.length + 1).split('/')];
    const ownerOp = fwdOp.get(owner);
    let part = 'forward';
    if (parts[1] === 'grad') part = parts[2] === 'dX' || parts[2] === 'dW' ? parts[2] : 'backward';
    const key = ownerOp ? `${ownerOp} ${part}` : owner === 'loss' || owner === 'outputs' ? 'loss/outputs' : 'onnxruntime';
    add(groups, key, dur, op);
    if (ownerOp) add(layers, `${owner} (${ownerOp}) ${part}`, dur, op);
  }
  const pct = (d) => `${((100 * d) / total).toFixed(1)}%`;
  console.log(`\nprofile: sum of each node's fastest of ${args.profileSteps} runs = ${r1(total / 1000)} ms (${best.size} nodes)`);
  for (const [k, g] of [...groups].sort((a, b) => b[1].dur - a[1].dur)) {
    const ops = [...g.ops].sort((a, b) => b[1] - a[1]).map(([o, d]) => `${o} ${r1(d / 1000)}`).join(', ');
    console.log(`  ${k.padEnd(32)} ${String(r1(g.dur / 1000)).padStart(8)} ms ${pct(g.dur).padStart(6)}  (${ops})`);
  }
  if (args.top === 0) return layers;
  console.log('top layers:');
  for (const [k, g] of [...layers].sort((a, b) => b[1].dur - a[1].dur).slice(0, args.top)) {
    const ops = [...g.ops].sort((a, b) => b[1] - a[1]).map(([o, d]) => `${o} ${r1(d / 1000)}`).join(', ');
    console.log(`  ${k.padEnd(40)} ${String(r1(g.dur / 1000)).padStart(8)} ms  (${ops})`);
  }
  return layers;
}

await main();
