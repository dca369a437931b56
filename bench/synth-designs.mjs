#!/usr/bin/env node
/**
 * Whole-design synthesis (docs/fpga-results.md and docs/asic-results.md, "Whole designs"):
 * the bundled Fashion-MNIST CNN lowered with the Verilog backend at the folding of the RTL
 * simulation (bench/rtl-sim.mjs), and the zoo's CNV (random weights, activations calibrated on
 * random inputs) at FINN's cnv_w1a1 folding (bench/lib.mjs CNV_FINN_FOLDING), each synthesized whole, per instance (each distinct module of
 * the top's instances out of context in a yosys run of its own, totals per instance, runs cached
 * across designs: `synthesizeVerilog(…, { flatten: false, instances: true, cacheDir })`,
 * docs/synthesis.md#per-instance-synthesis), for Xilinx
 * (`synth_xilinx`) and the OSU 0.18 µm cells, beside the estimators' figures for the same
 * design; and the paper's Table 2 claim on that synthesized hardware: W1, W1.2, W1.4, W2 with
 * row grouping (one bitwidth per output row, 1-bit activations), LUTs and µm² relative to 1
 * bit beside the paper's linear (FPGA) and (b/2)²·4 = b² (ASIC) scaling.
 *
 *   npm run bench:synth-designs     # = tsc && node bench/synth-designs.mjs
 *   node bench/synth-designs.mjs [--only W1.4A1-row,CNV-W1.4A1-row] [--target xilinx|asic] [--no-docs] [--timeout 7200] [--jobs 1] [--cached] [--abc fast|default] [--model fmnist|cnv]
 *
 * --abc: abc's script for the asic runs (default fast: `abc -fast -liberty`). With yosys's default
 * script (what the unit calibration of bench:synth used) the fc unit's mapping did not finish in
 * 31 min of CPU; `abc -fast` maps it in about a minute (docs/synthesis.md).
 *
 * Memories: the Verilog's ROMs (weights, masks, multipliers, thresholds, biases), the units' input
 * buffers and the line buffers are synchronous-read `hbnn_rom`/`hbnn_ram` instances: synth_xilinx maps them to block RAM
 * (ROMs deeper than 64 words) or LUTs; the ASIC run keeps them as black boxes (macros) priced by
 * the per-bit model of src/backends/synth/memory.ts, reported beside the synthesized logic.
 *
 * Results are cached per design and target in bench/out/synth-cache/design-<name>-<target>-<hash>.json
 * (keyed by the synthesized files and the yosys version; with the CPU seconds of yosys and abc,
 * and each out-of-context run), each run's in bench/out/synth-cache/ooc-<target>-<key>.json, the summary goes to
 * bench/out/synth-designs.json, the tables between the SYNTH-DESIGNS markers of both docs. The
 * docs are updated from whatever is cached, so designs can be synthesized one at a time
 * (`--only NAME --target T`, e.g. in the background under nice) and the tables written last
 * (`--cached`: no synthesis, only the cached results). Each model has its own block in both
 * docs (SYNTH-DESIGNS for the fmnist-cnn, SYNTH-DESIGNS-CNV), rewritten only when at least one
 * of its designs has a result (cached or new), so a cache without one model's results leaves
 * that model's published tables alone; `--model cnv` (or fmnist) runs and tables one model only.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, internal, writeJson, FMNIST_CNN, FMNIST_RTL_FOLDING, CNV_FINN_FOLDING, CNV_LOWERING, cnvRowA1, designCacheFile, designSynthFiles, SYNTH_CACHE } from './lib.mjs';

const { loadModel, quantize, lowerToVerilog } = lib;
const { synthesizeVerilog, designEstimates } = await internal('src/backends/synth/design.js');
const { yosysVersion, xilinxResources, asicResources, loadLiberty, resolveLiberty } = await internal('src/backends/synth/index.js');
const { writeFileAtomic } = lib;

const CACHE = SYNTH_CACHE;

/**
 * The models: how a design's quantized model is made, the folding and lowering options, the
 * doc block it is tabled in, and the sentence that introduces it there.
 */
const MODELS = {
  fmnist: {
    label: 'fmnist-cnn',
    // the folding of the RTL simulation (test/backends/verilog/helpers.ts RTL_FOLDING, bench/rtl-sim.mjs)
    folding: FMNIST_RTL_FOLDING,
    markers: ['<!-- SYNTH-DESIGNS:START (bench/synth-designs.mjs) -->', '<!-- SYNTH-DESIGNS:END -->'],
    intro: 'The bundled Fashion-MNIST CNN, Verilog backend at the folding of the RTL simulation',
    async model(opts) {
      const m = loadModel(FMNIST_CNN);
      await quantize(m, { ...opts, normalize: 'fmnist' });
      return m;
    },
  },
  cnv: {
    label: 'CNV',
    folding: CNV_FINN_FOLDING,
    lowering: CNV_LOWERING,
    markers: ['<!-- SYNTH-DESIGNS-CNV:START (bench/synth-designs.mjs) -->', '<!-- SYNTH-DESIGNS-CNV:END -->'],
    intro:
      "The zoo's CNV (zoo/topologies.ts buildCnv: six 3×3 convolutions, 2 max pools, three fully connected layers; 1.54 M random weights, seed 1; 1-bit activations calibrated on 8 deterministic random inputs; 8-bit fixed-point input, 5 fraction bits), Verilog backend at FINN's folding of cnv_w1a1 (its end-to-end example, notebooks/end2end_example/bnn-pynq/cnv_end2end_example.ipynb; bench/lib.mjs CNV_FINN_FOLDING)",
    model: (opts) => cnvRowA1(opts.avgBits),
  },
};

const row = (model, bits) => ({ model, name: `${model === 'cnv' ? 'CNV-' : ''}W${bits}A1-row`, bits, opts: { avgBits: bits, heuristic: 'middle-out', granularity: 'row', actBits: 1 } });
/**
 * Per model, the Table 2 designs (W1 … W2, row grouping, 1-bit activations), and the fmnist-cnn's
 * simulated W1.4A1.4 design. CNV's W1.4 comes first: the first one synthesized.
 */
const DESIGNS = [
  row('fmnist', 1),
  row('fmnist', 1.2),
  row('fmnist', 1.4),
  row('fmnist', 2),
  { model: 'fmnist', name: 'W1.4A1.4', opts: { avgBits: 1.4, heuristic: 'middle-out', actBits: 1.4, actHeuristic: 'middle-out' } },
  row('cnv', 1.4),
  row('cnv', 1),
  row('cnv', 1.2),
  row('cnv', 2),
];

function parseArgs(argv) {
  const a = { only: undefined, model: undefined, targets: ['xilinx', 'asic'], docs: true, timeout: 7200, cached: false, jobs: 1, abc: 'fast' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--only') a.only = argv[++i].split(',');
    else if (k === '--model') a.model = argv[++i];
    else if (k === '--target') a.targets = argv[++i].split(',');
    else if (k === '--no-docs') a.docs = false;
    else if (k === '--timeout') a.timeout = Number(argv[++i]);
    else if (k === '--cached') a.cached = true;
    else if (k === '--jobs') a.jobs = Number(argv[++i]);
    else if (k === '--abc') a.abc = argv[++i];
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

/** A design quantized and lowered (once per process: both targets synthesize the same Verilog). */
const loweredDesigns = new Map();
function lowered(d) {
  if (!loweredDesigns.has(d.name)) {
    const model = MODELS[d.model];
    loweredDesigns.set(
      d.name,
      model.model(d.opts).then((m) => lowerToVerilog(m, { folding: model.folding, ...(model.lowering ? { lowering: model.lowering } : {}), testSamples: 1, accSamples: 0 })),
    );
  }
  return loweredDesigns.get(d.name);
}

async function synthDesign(d, target, args) {
  const prefix = `design-${d.name}-${target}-`;
  const older = () => (fs.existsSync(CACHE) ? fs.readdirSync(CACHE).filter((f) => f.startsWith(prefix)).map((f) => path.join(CACHE, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs) : []);
  // --cached and nothing cached for this design and target: no need to quantize and lower it
  if (args.cached && !older().length) throw new Error('not synthesized yet (no cached result)');
  const v = await lowered(d);
  const files = designSynthFiles(v);
  const file = await designCacheFile(d.name, files, target, args.abc);
  const memoryBits = { rom: memoryBitsOf(v.memories, 'rom'), ram: memoryBitsOf(v.memories, 'ram') };
  // the estimate of every stage (u_<stage> is its instance) and the memories under each instance
  const stages = v.estimates.stages.map((s) => ({ stage: s.stage, kind: s.kind, luts: s.luts, layer: v.units.find((u) => u.module === s.stage)?.layer, rom: memoryBitsOf(v.memories.filter((m) => m.path.startsWith(`u_${s.stage}.`)), 'rom'), ram: memoryBitsOf(v.memories.filter((m) => m.path.startsWith(`u_${s.stage}.`)), 'ram') }));
  // the estimators' figures from this build (a cached result keeps the figures of the build that synthesized it)
  const estimates = designEstimates(v, { target, ...(target === 'asic' ? { abc: args.abc } : {}) });
  if (fs.existsSync(file)) return { ...JSON.parse(fs.readFileSync(file, 'utf8')), memoryBits, stages, estimates, cached: true };
  if (args.cached) {
    // --cached: the newest result of this design and target for an earlier emitter output, labelled as such
    const [last] = older();
    return { ...JSON.parse(fs.readFileSync(last, 'utf8')), memoryBits, stages, estimates, cached: true, earlier: path.basename(last) };
  }
  console.error(`${d.name} ${target}: synthesizing (per instance, runs cached in ${path.relative(ROOT, CACHE)})`);
  const t0 = performance.now();
  const cpu0 = childCpuSeconds();
  const r = await synthesizeVerilog({ ...v, files }, { target, ...(target === 'asic' ? { abc: args.abc } : {}), flatten: false, instances: true, cacheDir: CACHE, jobs: args.jobs, timeoutMs: args.timeout * 1000, onRun: (w) => console.error(`  yosys: ${w}`) });
  const cpu = childCpuSeconds();
  const out = {
    name: d.name,
    target,
    folding: Object.fromEntries(Object.entries(v.folding.layers).map(([k, f]) => [k, { pe: f.pe, simd: f.simd }])),
    memoryBits,
    report: r.report,
    estimates: r.estimates,
    seconds: Math.round((performance.now() - t0) / 1000),
    // CPU seconds of yosys and abc in this call (the runs it synthesized; cached runs cost nothing)
    ...(cpu0 !== undefined && cpu !== undefined ? { cpuSeconds: Math.round(cpu - cpu0) } : {}),
    // the out-of-context runs: module, instances, yosys wall seconds, whether read from the cache
    runs: r.report.instances?.map((x) => ({ module: x.module, instances: x.instances, seconds: x.seconds, cached: x.cached, ...(x.glue ? { glue: true } : {}), cellsByType: x.cellsByType })),
    load: fs.existsSync('/proc/loadavg') ? fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : undefined,
    commit: gitCommit(),
  };
  fs.mkdirSync(CACHE, { recursive: true });
  writeFileAtomic(file, `${JSON.stringify(out)}\n`);
  return { ...out, stages, estimates };
}

/** CPU seconds (user + system) of the child processes this process has waited for, yosys and its abc included (Linux: /proc/self/stat cutime + cstime), or undefined. */
function childCpuSeconds() {
  try {
    const f = fs.readFileSync('/proc/self/stat', 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // fields 16 and 17 (cutime, cstime) are rest[13], rest[14], in clock ticks (100 per second on Linux)
    return (Number(rest[13]) + Number(rest[14])) / 100;
  } catch {
    return undefined;
  }
}

/** The commit the synthesized Verilog was emitted by (with "+" when the work tree had changes). */
function gitCommit() {
  try {
    const c = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return `${c}${dirty ? '+' : ''}`;
  } catch {
    return undefined;
  }
}

/** Bits of the design's memories of one kind (ROMs: weights, masks, multipliers, thresholds, biases; RAMs: input buffers, line buffers). */
function memoryBitsOf(memories, kind) {
  return memories.filter((m) => m.kind === kind).reduce((s, m) => s + m.width * m.depth, 0);
}

const n = (x) => (x === undefined ? '' : Math.round(x).toLocaleString('en-US'));
const err = (p, a) => (p === undefined || !a ? '' : `${p >= a ? '+' : ''}${((100 * (p - a)) / a).toFixed(0)}%`);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const res = [];
  const unknown = (args.only ?? []).filter((x) => !DESIGNS.some((d) => d.name === x));
  if (unknown.length) throw new Error(`--only: no design ${unknown.join(', ')} (designs: ${DESIGNS.map((d) => d.name).join(', ')})`);
  if (args.model && !MODELS[args.model]) throw new Error(`--model: no model ${args.model} (models: ${Object.keys(MODELS).join(', ')})`);
  for (const d of DESIGNS.filter((x) => (!args.only || args.only.includes(x.name)) && (!args.model || x.model === args.model))) {
    for (const target of args.targets) {
      try {
        const r = await synthDesign(d, target, args);
        res.push({ design: d, r });
        const t = r.report.total;
        const mem = t.memory ? ` logic + ${t.memory.areaUm2 ?? '?'} µm² memory macros (model; ${t.memory.romBits} ROM + ${t.memory.ramBits} RAM bits)` : '';
        console.log(`${d.name} ${target}: ${t.xilinx ? `${t.xilinx.luts} LUT (${t.xilinx.lutMemory} as memory), ${t.xilinx.ffs} FF, ${t.xilinx.carry} CARRY4, ${t.xilinx.dsp} DSP, ${t.xilinx.bram18} BRAM18` : `${t.asic.areaUm2} µm²${mem}, ${t.asic.cells} cells`}; ${r.seconds ?? 0} s${r.cpuSeconds !== undefined ? ` (${r.cpuSeconds} s CPU)` : ''}${r.cached ? ' (cached)' : ''}`);
      } catch (e) {
        console.log(`${d.name} ${target}: ${args.cached ? 'not synthesized' : 'FAILED'} ${e.message.split('\n')[0]}`);
        res.push({ design: d, error: e.message.split('\n')[0], target });
      }
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(0);
  for (const [id, model] of Object.entries(MODELS)) {
    const mine = res.filter((x) => x.design.model === id);
    if (!mine.length) continue;
    const { block, text } = modelBlock(id, model, mine, args, secs);
    if (args.docs && !args.only && mine.some((x) => x.r)) {
      for (const f of ['docs/fpga-results.md', 'docs/asic-results.md']) replaceBlock(path.join(ROOT, f), model.markers, block);
    }
    console.log(text);
  }
  writeJson('bench/out/synth-designs.json', res.map((x) => ({ design: x.design.name, model: MODELS[x.design.model].label, ...(x.r ? { target: x.r.target, total: x.r.report.total, units: x.r.report.units, estimates: x.r.estimates, memoryBits: x.r.memoryBits, seconds: x.r.seconds, cpuSeconds: x.r.cpuSeconds } : { error: x.error }) })));
  if (res.some((x) => x.error) && !args.cached) process.exitCode = 1;
}

/** One model's doc block (between its markers) and the tables printed for it, from its designs' results `res`. */
function modelBlock(id, model, res, args, secs) {
  const designs = DESIGNS.filter((d) => d.model === id);
  const get = (name, target) => res.find((x) => x.design.name === name && x.r?.target === target)?.r;
  const est = (r, k) => r?.estimates.find((e) => e.name === 'total')?.[k];
  const logic = (a) => a?.report.total.asic.areaUm2;
  const memory = (a) => a?.report.total.memory?.areaUm2;
  const total = (a) => (logic(a) === undefined ? undefined : logic(a) + (memory(a) ?? 0));

  // Whole designs: estimate vs synthesis (Table 2 designs in order of bits).
  const ordered = [...designs].sort((p, q) => (p.bits ?? Infinity) - (q.bits ?? Infinity));
  const fpga = [
    '| design | ROM / RAM bits | LUT synth | of which LUT as memory | FF | CARRY4 | BRAM18 | DSP | LUT est (FINN-R) | err | LUT fitted | err | wall s / CPU s (load) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const asic = [
    '| design | µm² logic (synth, OSU 0.18 µm) | µm² memory macros (model) | µm² total | µm² est, whole design | err vs total | of which logic | err vs logic | µm² scaled est, units only (28→180 nm) | err vs total | µm² fitted est, units only | err vs total | wall s / CPU s (load) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const d of ordered) {
    const x = get(d.name, 'xilinx');
    const a = get(d.name, 'asic');
    const xt = x?.report.total.xilinx;
    const bits = (x ?? a)?.memoryBits;
    const label = `${model.label} ${d.name.replace(/^CNV-/, '')}`;
    if (x) fpga.push(`| ${label} | ${n(bits?.rom)} / ${n(bits?.ram)} | ${n(xt.luts)} | ${n(xt.lutMemory)} | ${n(xt.ffs)} | ${n(xt.carry)} | ${n(xt.bram18)} | ${xt.dsp} | ${n(est(x, 'luts'))} | ${err(est(x, 'luts'), xt.luts)} | ${n(est(x, 'lutsFitted'))} | ${err(est(x, 'lutsFitted'), xt.luts)} | ${times(x)} |`);
    const estLogic = est(a, 'areaDesignUm2') === undefined ? undefined : est(a, 'areaDesignUm2') - (memory(a) ?? 0);
    if (a) asic.push(`| ${label} | ${n(logic(a))} | ${n(memory(a))} | ${n(total(a))} | ${n(est(a, 'areaDesignUm2'))} | ${err(est(a, 'areaDesignUm2'), total(a))} | ${n(estLogic)} | ${err(estLogic, logic(a))} | ${n(est(a, 'areaUm2'))} | ${err(est(a, 'areaUm2'), total(a))} | ${n(est(a, 'areaFittedUm2'))} | ${err(est(a, 'areaFittedUm2'), total(a))} | ${times(a)} |`);
  }
  // per stage: the 1- and 2-bit designs (or, while neither is synthesized, the first one that is)
  const have = (d) => get(d.name, 'xilinx') || get(d.name, 'asic');
  let perDesigns = designs.filter((d) => (d.bits === 1 || d.bits === 2) && have(d));
  if (!perDesigns.length) perDesigns = designs.filter(have).slice(0, 1);
  perDesigns.sort((p, q) => p.bits - q.bits);
  const perStage = stageTables(perDesigns.map((d) => ({ name: d.name, x: get(d.name, 'xilinx'), a: get(d.name, 'asic') })));
  const failed = res.filter((x) => x.error).map((x) => `${x.design.name} ${x.target}: ${x.error}`);
  const earlier = res.filter((x) => x.r?.earlier).map((x) => `${x.design.name} ${x.r.target} (${x.r.earlier}${x.r.commit ? `, commit ${x.r.commit}` : ''})`);

  // Table 2 on the whole design.
  const t2 = ordered.filter((d) => d.bits !== undefined).map((d) => ({ bits: d.bits, x: get(d.name, 'xilinx'), a: get(d.name, 'asic') }));
  const b0 = t2.find((r) => r.bits === 1);
  const rel = (v, base) => (v === undefined || !base ? '' : (v / base).toFixed(2));
  const lut = (x) => x?.report.total.xilinx.luts;
  const bram = (x) => x?.report.total.xilinx.bram18;
  const t2Table = [
    '| avg weight bits | LUT synth | rel. to 1 bit | BRAM18 | rel. | paper FPGA (linear, b) | LUT est | rel. | µm² logic | rel. | µm² logic + memory | rel. to 1 bit | paper ASIC ((b/2)²·4 = b²) | µm² est (whole design) | rel. |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...t2
      .filter((r) => r.x || r.a)
      .map(
        (r) =>
          `| ${r.bits} | ${n(lut(r.x))} | ${rel(lut(r.x), lut(b0?.x))} | ${n(bram(r.x))} | ${rel(bram(r.x), bram(b0?.x))} | ${r.bits.toFixed(2)} | ${n(est(r.x, 'luts'))} | ${rel(est(r.x, 'luts'), est(b0?.x, 'luts'))} | ${n(logic(r.a))} | ${rel(logic(r.a), logic(b0?.a))} | ${n(total(r.a))} | ${rel(total(r.a), total(b0?.a))} | ${(r.bits * r.bits).toFixed(2)} | ${n(est(r.a, 'areaDesignUm2'))} | ${rel(est(r.a, 'areaDesignUm2'), est(b0?.a, 'areaDesignUm2'))} |`,
      ),
  ];
  // the same for the matrix-vector units alone (the stages whose hardware the weight bits change)
  const sumU = (r, f) => (r ? r.report.units.reduce((s, u) => s + (f(u) ?? 0), 0) : undefined);
  const uLut = (x) => sumU(x, (u) => u.xilinx?.luts);
  const uEst = (x) => (x ? x.estimates.filter((e) => e.name !== 'total').reduce((s, e) => s + (e.luts ?? 0), 0) : undefined);
  const uLogic = (a) => sumU(a, (u) => u.asic?.areaUm2);
  const uTotal = (a) => sumU(a, (u) => (u.asic?.areaUm2 ?? 0) + (u.memory?.areaUm2 ?? 0));
  const t2Units = [
    '| avg weight bits | unit LUT synth | rel. to 1 bit | paper FPGA (b) | unit LUT est | rel. | unit µm² logic | rel. | unit µm² logic + their memories | rel. | paper ASIC (b²) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...t2
      .filter((r) => r.x || r.a)
      .map((r) => `| ${r.bits} | ${n(uLut(r.x))} | ${rel(uLut(r.x), uLut(b0?.x))} | ${r.bits.toFixed(2)} | ${n(uEst(r.x))} | ${rel(uEst(r.x), uEst(b0?.x))} | ${n(uLogic(r.a))} | ${rel(uLogic(r.a), uLogic(b0?.a))} | ${n(uTotal(r.a))} | ${rel(uTotal(r.a), uTotal(b0?.a))} | ${(r.bits * r.bits).toFixed(2)} |`),
  ];
  const folding = Object.entries(model.folding.layers).map(([k, f]) => `${k} PE ${f.pe} SIMD ${f.simd}`).join(', ');
  const units = Object.keys(model.folding.layers);
  const macroModel = res.find((x) => x.r?.report.macros?.model)?.r.report.macros.model;
  const abcText =
    args.abc === 'fast'
      ? "`abc -fast` (abc's lighter script: the default one did not map the fmnist-cnn's fc unit in 31 min of CPU; on the calibration units -fast gives 1.43× the area of the default script, 1.37-1.52×, docs/synthesis.md#fast-abc-mapping; the unit calibration and its fitted estimate use the default)"
      : 'abc (its default script)';
  const block = `${model.markers[0]}

${model.intro} (${folding}), synthesized per instance (yosys \`synth_xilinx -flatten -noiopad\` / \`synth -flatten\` + ${abcText} to OSU 0.18 µm on each distinct module of the top's instances, out of context, counted per instance: docs/synthesis.md#per-instance-synthesis). Memories are synchronous-read ROMs (weights, masks, multipliers, thresholds, biases) and RAMs (the units' input buffers, the line buffers): on the FPGA yosys maps them to block RAM (ROMs deeper than 64 words) or LUTs; on the ASIC they are black boxes (macros), priced by a per-bit model${macroModel ? ` (${macroModel.name}: ${macroModel.basis}; ROM ${macroModel.romUm2PerBit} µm²/bit, RAM ${macroModel.ramUm2PerBit} µm²/bit)` : ''}, **not synthesized**: the logic column is yosys's, the memory column is the model's.

FPGA (xc7):

${fpga.length > 2 ? fpga.join('\n') : 'none synthesized'}

ASIC (OSU 0.18 µm):

${asic.length > 2 ? asic.join('\n') : 'none synthesized'}

${perStage}Table 2 on the synthesized whole design (W b A1, one bitwidth per output row, rows grouped on the PEs; same folding at every b${b0 && (b0.x || b0.a) ? '' : '; the 1-bit design is not synthesized yet, so nothing is relative to it'}):

${t2Table.length > 2 ? t2Table.join('\n') : 'none synthesized'}

The ${units.length} matrix-vector units alone (${units.join(', ')}; their weight, mask and threshold memories in the last µm² column):

${t2Units.length > 2 ? t2Units.join('\n') : 'none synthesized'}
${failed.length ? `\nNot synthesized: ${failed.join('; ')}.\n` : ''}${earlier.length ? `\nSynthesized from an earlier emitter output than the current one (the cache key is the text of every synthesized file): ${earlier.join('; ')}.\n` : ''}
Generated by \`node bench/synth-designs.mjs${args.cached ? ' --cached' : ''}\` (${secs} s with the cache of bench/out/synth-cache). Times per design and target: wall seconds of its synthesis call, CPU seconds of yosys and abc in it (runs read from the cache of an earlier design cost nothing there), and the load average when it finished, on the shared 2-core machine.

${model.markers[1]}`;
  const text = [fpga.join('\n'), '', asic.join('\n'), '', t2Table.join('\n'), t2Units.join('\n'), perStage].join('\n');
  return { block, text };
}

/** "wall / CPU (load)" of a design's synthesis call. */
function times(r) {
  if (r?.seconds === undefined) return '';
  return `${r.seconds}${r.cpuSeconds !== undefined ? ` / ${r.cpuSeconds}` : ''}${r.load ? ` (${r.load.split(' ')[0]})` : ''}`;
}

/**
 * Per stage (instance u_<stage>), estimate beside synthesis, for the given designs: FPGA LUTs
 * (every stage has a vivado-hls estimate) and ASIC µm² (the asic estimate prices the units only;
 * memories under each instance at the macro model's rates).
 */
function stageTables(designs) {
  const have = designs.filter((d) => d.x?.runs?.[0]?.cellsByType || d.a?.runs?.[0]?.cellsByType);
  if (!have.length) return '';
  const lib = loadLiberty(resolveLiberty(undefined));
  const cellsOf = (r, stage) => r?.runs?.find((x) => Array.isArray(x.instances) && x.instances.includes(`u_${stage}`))?.cellsByType;
  const stages = (have[0].x ?? have[0].a).stages;
  const fx = have.filter((d) => d.x?.runs?.[0]?.cellsByType);
  const fa = have.filter((d) => d.a?.runs?.[0]?.cellsByType);
  let out = '';
  if (fx.length) {
    const rows = [
      `| stage | kind | ${fx.map((d) => `${d.name} LUT est | LUT synth | err | FF synth | BRAM18 synth`).join(' | ')} |`,
      `| --- | --- | ${fx.map(() => '---: | ---: | ---: | ---: | ---:').join(' | ')} |`,
    ];
    const sum = fx.map(() => ({ units: [0, 0], other: [0, 0] }));
    for (const s of stages) {
      const cells = fx.map((d) => cellsOf(d.x, s.stage));
      rows.push(
        `| ${s.stage} | ${s.kind} | ${fx
          .map((d, i) => {
            const e = d.x.stages.find((t) => t.stage === s.stage)?.luts;
            const x = cells[i] ? xilinxResources(cells[i]) : undefined;
            const k = s.kind === 'unit' ? 'units' : 'other';
            sum[i][k][0] += e ?? 0;
            sum[i][k][1] += x?.luts ?? 0;
            return `${n(e)} | ${n(x?.luts)} | ${err(e, x?.luts)} | ${n(x?.ffs)} | ${n(x?.bram18)}`;
          })
          .join(' | ')} |`,
      );
    }
    for (const k of ['units', 'other']) rows.push(`| **${k === 'units' ? 'units (matrix-vector)' : 'other stages'}** | | ${sum.map((v) => `${n(v[k][0])} | ${n(v[k][1])} | ${err(v[k][0], v[k][1])} | |`).join(' | ')} |`);
    out += `FPGA per stage (instance \`u_<stage>\`, one out-of-context run each; vivado-hls estimate of the same stage):\n\n${rows.join('\n')}\n\n`;
  }
  if (fa.length) {
    const rows = [
      `| stage | kind | ${fa.map((d) => `${d.name} µm² logic synth | µm² memory (model) | µm² est, whole-design model (logic + memory) | err | µm² est units only (scaled) | (fitted)`).join(' | ')} |`,
      `| --- | --- | ${fa.map(() => '---: | ---: | ---: | ---: | ---: | ---:').join(' | ')} |`,
    ];
    const sums = fa.map(() => ({ units: [0, 0], other: [0, 0] }));
    for (const s of stages) {
      rows.push(
        `| ${s.stage} | ${s.kind} | ${fa
          .map((d, i) => {
            const cells = cellsOf(d.a, s.stage);
            const area = cells ? asicResources(cells, lib).areaUm2 : undefined;
            const st = d.a.stages.find((t) => t.stage === s.stage);
            const m = d.a.report.macros?.model;
            const mem = m && st && st.rom + st.ram ? st.rom * m.romUm2PerBit + st.ram * m.ramUm2PerBit : undefined;
            const e = st?.layer ? d.a.estimates.find((x) => x.name === st.layer) : undefined;
            const de = d.a.estimates.find((x) => x.name === (st?.layer ?? s.stage))?.areaDesignUm2;
            const syn = area === undefined ? undefined : area + (mem ?? 0);
            const k = s.kind === 'unit' ? 'units' : 'other';
            sums[i][k][0] += de ?? 0;
            sums[i][k][1] += syn ?? 0;
            return `${n(area)} | ${n(mem)} | ${n(de)} | ${err(de, syn)} | ${e ? n(e.areaUm2) : '—'} | ${e ? n(e.areaFittedUm2) : '—'}`;
          })
          .join(' | ')} |`,
      );
    }
    for (const k of ['units', 'other']) rows.push(`| **${k === 'units' ? 'units (matrix-vector)' : 'other stages'}** | | ${sums.map((v) => ` | | ${n(v[k][0])} | ${err(v[k][0], v[k][1])} | | `).join(' | ')} |`);
    out += `ASIC per stage (whole-design model: docs/asic-results.md#whole-design-estimate; err against the stage's synthesized logic + its memories at the macro model; the units-only estimates, scaled and fitted, price the matrix-vector units alone, memory bits included, — elsewhere):\n\n${rows.join('\n')}\n\n`;
  }
  return out;
}

function replaceBlock(file, [A, B], block) {
  let doc = fs.readFileSync(file, 'utf8');
  const a = doc.indexOf(A);
  const b = doc.indexOf(B);
  doc = a >= 0 && b > a ? doc.slice(0, a) + block + doc.slice(b + B.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileAtomic(file, doc);
}

await main();
