#!/usr/bin/env node
/**
 * The stage modules besides the units (docs/fpga-results.md and docs/asic-results.md,
 * "Calibration against synthesis", other stage modules): add, dup, concat (with their input
 * aligners and FIFOs), global and windowed average pooling, the grouped sliding window,
 * threshold, clip and leaky ReLU, as the Verilog backend instantiates them in zoo topologies
 * (zoo/fixtures.js at W1.4A1.4, Middle-Out, as the RTL benches quantize them), each instance
 * synthesized on its own with yosys (synth_xilinx, and the OSU 0.18 µm cells with its memories
 * as logic, as the unit sweep does), beside the vivado-hls estimate of the same stage. Not part
 * of the unit calibration; three constants of these stages' estimates were set from these runs
 * (docs/fpga-results.md).
 *
 *   node bench/synth-ops.mjs [--no-docs] [--target xilinx|asic] [--cached] [--timeout S]
 *
 * A stage's figure is the sum of its instances in hbnn_top (`u_<stage>` and its helpers
 * `u_<stage>_align<i>` / `u_<stage>_fifo<i>`, and the input FIFO `u_<stage>_fifo` of a unit or
 * line-buffered stage, which the estimate counts beside the stage: added here), as its estimate counts them. Instances with the
 * stream ports are synthesized through `stageWrapper` (hbnn_top's own parameter expressions);
 * add, dup and concat (several streams) as their hbnn_lib.v module with hbnn_top's parameters
 * (unsigned: chparam keeps them). Results are cached in bench/out/synth-cache/op-*.json (keyed
 * by the files, module, parameters, target and yosys version); `--cached` writes the tables
 * from the cache without synthesizing.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, internal, writeJson, zooQuantized, SYNTH_CACHE } from './lib.mjs';

const { synthesize, yosysVersion } = await internal('src/backends/synth/index.js');
const { stageWrapper, printFile, libraryModules, opModules, LIB_FILE, TOP_FILE } = await internal('src/backends/verilog/index.js');
const { fifoCost } = await internal('src/backends/vivado-hls/estimate.js');
const { writeFileAtomic } = lib;

const args = process.argv.slice(2);
const writeDocs = !args.includes('--no-docs');
const cachedOnly = args.includes('--cached');
const targets = args.includes('--target') ? [args[args.indexOf('--target') + 1]] : ['xilinx', 'asic'];
// yosys's limit per run (seconds; default 600): the add's 522 × 28-bit FIFO as logic did not map in 600 s on the OSU cells at load 20
const timeoutMs = args.includes('--timeout') ? Number(args[args.indexOf('--timeout') + 1]) * 1000 : undefined;
const CACHE = SYNTH_CACHE;
const log = (m) => console.error(m);
const t0 = performance.now();

/** Which stages of which fixture: the first of each kind (module) that the fixture has. */
const PICK = [
  { fixture: 'resnet20', stages: ['add', 'dup', 'gap', 'threshold'] },
  { fixture: 'mobilenet-v2', stages: ['swu_grouped', 'clip'] },
  { fixture: 'squeezenet', stages: ['concat', 'threshold'] },
  { fixture: 'poolnet-softmax', stages: ['avgpool', 'leakyrelu'] },
];
/** What a stage is called here: its kind, or for windows and pools its module's name. */
const MODULE_KIND = { hbnn_gap: 'gap', hbnn_avgpool: 'avgpool', hbnn_swu_grouped: 'swu_grouped' };

/** Instances of hbnn_top with their parameters, from the printed top (`MODULE #( .P(v), … ) u_NAME (`). */
function topInstances(top) {
  const out = [];
  for (const m of top.matchAll(/^\s*(hbnn_\w+) #\(\s*([\s\S]*?)\n\s*\) (u_\w+) \(/gm)) {
    const params = Object.fromEntries([...m[2].matchAll(/\.(\w+)\(([^()]*)\)/g)].map((p) => [p[1], p[2]]));
    out.push({ module: m[1], instance: m[3], params });
  }
  return out;
}

/**
 * A module `name` instantiating library module `i.module` with hbnn_top's parameters, its ports
 * at the widths those parameters give (the library module's width expressions evaluated). For
 * the modules with several streams (add, dup, concat), which stageWrapper leaves out; chparam
 * would do (their parameters are unsigned), but synthesize() quotes a string value, which
 * yosys takes as a string constant, not a number.
 */
const LIB_MODULES = new Map([...libraryModules(), ...opModules()].map((m) => [m.name, m]));
function moduleWrapper(i, name) {
  const m = LIB_MODULES.get(i.module);
  if (!m) throw new Error(`no library module ${i.module}`);
  const values = Object.fromEntries(m.params.map((p) => [p.name, i.params[p.name] ?? p.value]));
  const width = (w) => {
    if (typeof w === 'number') return w;
    const expr = w.replace(/[A-Za-z_]\w*/g, (id) => {
      if (!(id in values) || !/^\d+$/.test(values[id])) throw new Error(`${i.module}: width ${w} needs ${id} as a number`);
      return values[id];
    });
    if (!/^[\d\s+\-*/()]+$/.test(expr)) throw new Error(`${i.module}: width ${w}`);
    return Function(`return (${expr});`)();
  };
  const ports = m.ports.map((p) => ({ ...p, width: width(p.width ?? 1), reg: false }));
  return {
    name,
    comment: [`${i.instance} of hbnn_top on its own: ${i.module} with hbnn_top's parameters`],
    params: [],
    ports,
    items: [{ kind: 'instance', module: i.module, name: 'u', params: Object.entries(i.params), ports: ports.map((p) => [p.name, p.name]) }],
  };
}

const version = await yosysVersion();
async function synthCached(key, design, target) {
  const h = crypto.createHash('sha256').update(version).update(target).update(JSON.stringify(design.units ?? [])).update(design.top);
  for (const [k, v] of [...design.files].sort()) h.update(k).update('\0').update(v).update('\0');
  const file = path.join(CACHE, `op-${key}-${target}-${h.digest('hex').slice(0, 16)}.json`);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  if (cachedOnly) return undefined;
  log(`${key} ${target}: synthesizing`);
  const r = await synthesize({ files: design.files, top: design.top, ...(design.units ? { units: design.units } : {}) }, { target, ...(design.units ? { whole: false } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
  fs.mkdirSync(CACHE, { recursive: true });
  writeFileAtomic(file, JSON.stringify(r) + '\n');
  log(`${key} ${target}: ${r.seconds} s`);
  return r;
}

const rows = [];
const only = new Set(PICK.map((p) => p.fixture));
for await (const { fixture, config, model } of zooQuantized({ limit: 1, only: [...only] }, 'synth-ops')) {
  if (config !== 'W1.4A1.4') continue;
  const pick = PICK.find((p) => p.fixture === fixture.name);
  const v = lib.lowerToVerilog(model, {});
  const lib_ = v.files.get(LIB_FILE);
  const insts = topInstances(v.files.get(TOP_FILE));
  const streamStages = new Map(v.stages.map((s) => [s.instance, s]));
  const seen = new Set();
  for (const st of v.design.stages) {
    const main = insts.find((i) => i.instance === `u_${st.name}`);
    if (!main) continue;
    const kind = MODULE_KIND[main.module] ?? st.kind;
    if (!pick.stages.includes(kind) || seen.has(kind)) continue;
    seen.add(kind);
    const stageEst = v.estimates.stages.find((e) => e.stage === st.name);
    // the input FIFO of a unit or line-buffered stage (design.ts rule 6) is in the group; the estimate counts it beside the stage
    const fifo = st.kind === 'unit' || st.kind === 'window' || st.kind === 'maxpool' || st.kind === 'avgpool' ? fifoCost(st.in) : { luts: 0, bram18: 0 };
    const est = { luts: stageEst.luts + fifo.luts, bram18: stageEst.bram18 + fifo.bram18, dsp: stageEst.dsp };
    const group = insts.filter((i) => i.instance === `u_${st.name}` || i.instance.startsWith(`u_${st.name}_`));
    const row = { fixture: fixture.name, stage: st.name, kind, instances: group.map((i) => `${i.module}${i.module === 'hbnn_fifo' ? `(${i.params.W}×${i.params.DEPTH})` : ''}`), est: { luts: est.luts, bram18: est.bram18, dsp: est.dsp } };
    for (const target of targets) {
      const sum = { luts: 0, lutMemory: 0, ffs: 0, bram18: 0, dsp: 0, areaUm2: 0, cells: 0, seconds: 0 };
      let complete = true;
      for (const i of group) {
        const s = streamStages.get(i.instance);
        let design;
        if (s) {
          const wrap = `w_${i.instance}`;
          design = { files: new Map([[LIB_FILE, lib_], [`${wrap}.v`, printFile(`${wrap}.v — generated by hbnn-onnx (bench/synth-ops.mjs)`, [stageWrapper(s, wrap)])]]), top: wrap };
        } else {
          const wrap = `w_${i.instance}`;
          design = { files: new Map([[LIB_FILE, lib_], [`${wrap}.v`, printFile(`${wrap}.v — generated by hbnn-onnx (bench/synth-ops.mjs)`, [moduleWrapper(i, wrap)])]]), top: wrap };
        }
        let r;
        try {
          r = await synthCached(`${fixture.name}-${i.instance}`, design, target);
        } catch (e) {
          log(`${i.instance} ${target}: ${e.message}`);
          (row.failed ??= []).push(`${i.instance} ${target}: ${e.message.split('\n')[0]}`);
        }
        if (!r) {
          complete = false;
          continue;
        }
        const t = r.total ?? r.units[0];
        sum.seconds += t.seconds ?? r.seconds;
        if (t.xilinx) for (const k of ['luts', 'lutMemory', 'ffs', 'bram18', 'dsp']) sum[k] += t.xilinx[k];
        if (t.asic) {
          sum.areaUm2 += t.asic.areaUm2;
          sum.cells += t.asic.cells;
          sum.ffs += t.asic.sequentialCells;
        }
      }
      if (complete) row[target] = sum;
    }
    rows.push(row);
  }
}

const n = (x) => Math.round(x).toLocaleString('en-US');
const err = (p, a) => `${p >= a ? '+' : ''}${((100 * (p - a)) / a).toFixed(0)}%`;
const label = (r) => `${r.kind} (${r.fixture} ${r.stage})`;
const fpgaRows = rows.filter((r) => r.xilinx);
const asicRows = rows.filter((r) => r.asic);
const fpgaTable = [
  '| stage (fixture, instance) | instances | LUT synth | LUT est (vivado-hls) | err | LUT as memory | FF | BRAM18 synth / est | DSP synth / est |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...fpgaRows.map((r) => `| ${label(r)} | ${r.instances.join(', ')} | ${n(r.xilinx.luts)} | ${n(r.est.luts)} | ${err(r.est.luts, r.xilinx.luts)} | ${n(r.xilinx.lutMemory)} | ${n(r.xilinx.ffs)} | ${r.xilinx.bram18} / ${r.est.bram18} | ${r.xilinx.dsp} / ${r.est.dsp} |`),
].join('\n');
const asicTable = [
  '| stage (fixture, instance) | instances | µm² synth (OSU 0.18 µm, memories as logic) | cells | flip-flops |',
  '| --- | --- | ---: | ---: | ---: |',
  ...asicRows.map((r) => `| ${label(r)} | ${r.instances.join(', ')} | ${n(r.asic.areaUm2)} | ${n(r.asic.cells)} | ${n(r.asic.ffs)} |`),
].join('\n');
const mae = fpgaRows.length ? fpgaRows.reduce((s, r) => s + Math.abs(r.est.luts - r.xilinx.luts) / r.xilinx.luts, 0) / fpgaRows.length : NaN;
const secs = ((performance.now() - t0) / 1000).toFixed(0);
const ysecs = (t) => n(rows.reduce((s, r) => s + (r[t]?.seconds ?? 0), 0));
const fpgaBlock = `<!-- SYNTH-OPS:START (bench/synth-ops.mjs) -->

${fpgaRows.length} stage instances of zoo topologies at W1.4A1.4 (bench/synth-ops.mjs), each with its aligners and FIFOs, synthesized on its own with yosys \`synth_xilinx -flatten -noiopad\` (xc7); the estimate is the vivado-hls backend's for the same stage.

${fpgaTable}

vivado-hls estimate of these stages: MAE ${(100 * mae).toFixed(0)}% (not part of the unit calibration; three of its op constants are set from these runs, below). yosys: ${ysecs('xilinx')} s of synthesis; generated by \`node bench/synth-ops.mjs\` (${secs} s with the cache).

<!-- SYNTH-OPS:END -->`;
const asicBlock = `<!-- SYNTH-OPS:START (bench/synth-ops.mjs) -->

The same ${asicRows.length} stage instances mapped to the OSU 0.18 µm cells (memories as logic, as the unit sweep). The asic backend's unit-count model prices only the matrix-vector units, so there is no estimate to set beside these.

${asicTable}

yosys: ${ysecs('asic')} s of synthesis; generated by \`node bench/synth-ops.mjs\`.

<!-- SYNTH-OPS:END -->`;

function replaceBlock(file, block, before) {
  const [A, B] = ['<!-- SYNTH-OPS:START (bench/synth-ops.mjs) -->', '<!-- SYNTH-OPS:END -->'];
  let doc = fs.readFileSync(file, 'utf8');
  const a = doc.indexOf(A);
  const b = doc.indexOf(B);
  if (a >= 0 && b > a) doc = doc.slice(0, a) + block + doc.slice(b + B.length);
  else {
    const at = doc.indexOf(before);
    doc = at >= 0 ? `${doc.slice(0, at)}${block}\n\n${doc.slice(at)}` : `${doc.trimEnd()}\n\n${block}\n`;
  }
  writeFileAtomic(file, doc);
}
if (writeDocs) {
  if (fpgaRows.length) replaceBlock(path.join(ROOT, 'docs/fpga-results.md'), fpgaBlock, '## Whole designs (yosys)');
  if (asicRows.length) replaceBlock(path.join(ROOT, 'docs/asic-results.md'), asicBlock, '## Whole designs (yosys)');
}
writeJson(path.join(ROOT, 'bench/out/synth-ops.json'), { yosys: version, rows });
console.log(fpgaTable, '\n');
console.log(asicTable);
