#!/usr/bin/env node
/**
 * Calibration of the estimators against yosys (docs/fpga-results.md and docs/asic-results.md,
 * "Calibration against synthesis"), and the paper's Table 2 bit scaling on synthesized units.
 *
 *   npm run bench:synth            # = tsc && node bench/synth.mjs
 *   node bench/synth.mjs [--no-docs] [--json FILE] [--cached-only]
 *
 * 1. Sweep: every unit configuration of bench/synth-configs.mjs (the Verilog backend's
 *    emitUnitDesign, seeded weights) synthesized with synth_xilinx and with the OSU 0.18 µm
 *    Liberty library; results cached in bench/out/synth-cache (bench/synth-sweep-run.mjs).
 * 2. FPGA: the vivado-hls LUT estimate (FINN-R constants) vs synthesized LUTs; the fit
 *    re-weights the estimate's parts (src/backends/synth/calibrate.ts) on the configurations
 *    not held out; MAE on the held-out ones.
 * 3. ASIC: the asic backend's unit counts × the default technology's areas scaled by
 *    (180/28)² (paper-anchored, not fitted) and the structural estimate (the unit's logic under
 *    the whole-design estimate's unit model, its ROM and RAM bits) vs the Liberty area; the fit
 *    weighs the structural estimate's three parts; held-out MAE.
 * 4. Table 2: a row-grouped conv unit at 1, 1.2, 1.4 and 2 average weight bits, synthesized
 *    LUTs and µm² relative to 1 bit, beside the paper's linear (FPGA) and (b/2)²·4 (ASIC) scaling.
 * Writes the synthesis results to fixtures/synth/calibration.json (committed: the fit's input,
 * refitted by bench/synth-fit.mjs and by test/backends/synth/calibrate.test.ts, which checks
 * that the constants in calibrate.ts are what the fit gives), the tables between the SYNTH
 * markers of both docs and the numbers to bench/out/synth.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, internal, writeJson } from './lib.mjs';
import { SWEEP, TABLE2, label } from './synth-configs.mjs';
import { cacheKey, synthCached } from './synth-sweep-run.mjs';

const { emitUnitDesign } = await internal('src/backends/verilog/index.js');
const cal = await internal('src/backends/synth/calibrate.js');
const { writeFileAtomic } = lib;

const args = process.argv.slice(2);
const writeDocs = !args.includes('--no-docs');
// --cached-only: use only the configurations already in the cache (say which are missing)
const cachedOnly = args.includes('--cached-only');
const skipped = [];
const cached = async (id, d) => (await Promise.all(['xilinx', 'asic'].map(async (t) => fs.existsSync(await cacheKey(id, d, t))))).every(Boolean);
const jsonOut = path.resolve(ROOT, args.includes('--json') ? args[args.indexOf('--json') + 1] : 'bench/out/synth.json');
const log = (m) => console.error(m);
const t0 = performance.now();
const NODE_NM = 180;

// ---------------------------------------------------------------- 1. sweep
const entries = [];
let yosysV = '';
for (const s of SWEEP) {
  const d = emitUnitDesign(s.config);
  if (cachedOnly && !(await cached(s.id, d))) {
    skipped.push(s.id);
    continue;
  }
  const xr = await synthCached(s.id, d, 'xilinx', log);
  const ar = await synthCached(s.id, d, 'asic', log);
  yosysV = xr.yosys;
  const x = xr.total;
  const a = ar.total;
  entries.push({
    id: s.id,
    config: s.config,
    holdout: s.holdout,
    design: cal.designHash(d.files),
    xilinx: { luts: x.xilinx.luts, lutMemory: x.xilinx.lutMemory, ffs: x.xilinx.ffs, carry: x.xilinx.carry, dsp: x.xilinx.dsp, bram18: x.xilinx.bram18, ...(x.depth !== undefined ? { depth: x.depth } : {}) },
    asic: { areaUm2: a.asic.areaUm2, cells: a.asic.cells, ffs: a.asic.sequentialCells, ...(a.depth !== undefined ? { depth: a.depth } : {}) },
  });
}
const rows = entries.map((e) => {
  const r = cal.calibrationRow(e);
  const d = emitUnitDesign(e.config);
  return { ...r, label: label(e.config), est: { luts: d.estimate.luts, dsp: d.estimate.dsp, bram18: d.estimate.bram18, breakdown: d.estimate.breakdown } };
});

// ---------------------------------------------------------------- 2./3. the fits (calibrate.ts fitCalibration)
const train = rows.filter((r) => !r.holdout);
const held = rows.filter((r) => r.holdout);
const fit = cal.fitCalibration(rows, NODE_NM);
const lutFit = fit.lut;
const areaFit = fit.area;
for (const r of rows) r.lutsFitted = cal.featureLuts(r.features, lutFit);
const scaled = cal.nodeScaledTech(NODE_NM);
for (const r of rows) r.areaScaled = cal.tallyArea(r.tally, scaled.area);
for (const r of rows) r.areaFitted = cal.featureArea(r.areaFeatures, areaFit);
const summary = {
  configurations: rows.length,
  ...(skipped.length ? { notSynthesized: skipped } : {}),
  heldOut: fit.heldOut,
  lut: { fit: lutFit, maeUnfittedAll: fit.mae.lutFinnAll, maeFittedTrain: fit.mae.lutTrain, maeFittedHeldOut: fit.mae.lutHeldOut },
  area: { fit: areaFit, scaledFrom: scaled.area, maeScaledAll: fit.mae.areaScaledAll, maeFittedTrain: fit.mae.areaTrain, maeFittedHeldOut: fit.mae.areaHeldOut },
};
// the committed synthesis results (the fit's input; test/backends/synth/calibrate.test.ts refits them)
if (!cachedOnly || skipped.length === 0) {
  const data = { format: 'hbnn-calibration/1', yosys: yosysV, liberty: 'osu018_stdcells (qflow-tech-osu018)', entries };
  fs.mkdirSync(path.dirname(path.join(ROOT, cal.CALIBRATION_DATA)), { recursive: true });
  writeFileAtomic(path.join(ROOT, cal.CALIBRATION_DATA), `${JSON.stringify(data, null, 1)}\n`);
}

// ---------------------------------------------------------------- 4. Table 2 on synthesized units
const t2 = [];
for (const { id, bits: b, config } of TABLE2) {
  const d = emitUnitDesign(config);
  if (cachedOnly && !(await cached(id, d))) {
    skipped.push(id);
    continue;
  }
  const x = (await synthCached(id, d, 'xilinx', log)).total;
  const a = (await synthCached(id, d, 'asic', log)).total;
  t2.push({ bits: b, label: label(config), estLuts: d.estimate.luts, luts: x.xilinx.luts, dsp: x.xilinx.dsp, areaUm2: a.asic.areaUm2, areaScaled: cal.tallyArea(cal.asicUnitTally(d.unit), scaled.area) });
}

// ---------------------------------------------------------------- output
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const n = (x) => Math.round(x).toLocaleString('en-US');
const err = (p, a) => `${p >= a ? '+' : ''}${((100 * (p - a)) / a).toFixed(0)}%`;
function round(x, d) {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

const fpgaTable = [
  '| id | unit | held out | LUT synth | LUT est (FINN-R) | err | LUT fitted | err | DSP synth / est | BRAM18 synth / est | FF synth | depth |',
  '| --- | --- | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.id} | ${r.label} | ${r.holdout ? 'yes' : ''} | ${n(r.xilinx.luts)} | ${n(r.est.luts)} | ${err(r.est.luts, r.xilinx.luts)} | ${n(r.lutsFitted)} | ${err(r.lutsFitted, r.xilinx.luts)} | ${r.xilinx.dsp} / ${r.est.dsp} | ${r.xilinx.bram18} / ${r.est.bram18} | ${n(r.xilinx.ffs)} | ${r.xilinx.depth ?? ''} |`),
].join('\n');
const asicTable = [
  '| id | unit | held out | µm² synth (OSU 0.18 µm) | µm² unit counts scaled (28→180 nm) | err | logic model µm² (design flow) | ROM / RAM bits | µm² fitted | err | cells | flip-flops | depth |',
  '| --- | --- | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.id} | ${r.label} | ${r.holdout ? 'yes' : ''} | ${n(r.asic.areaUm2)} | ${n(r.areaScaled)} | ${err(r.areaScaled, r.asic.areaUm2)} | ${n(r.areaFeatures.logic)} | ${n(r.areaFeatures.romBit)} / ${n(r.areaFeatures.ramBit)} | ${n(r.areaFitted)} | ${err(r.areaFitted, r.asic.areaUm2)} | ${n(r.asic.cells)} | ${n(r.asic.ffs)} | ${r.asic.depth ?? ''} |`),
].join('\n');
const base = t2[0] ?? {};
const t2Table = [
  '| avg weight bits | LUT synth | rel. to 1 bit | paper FPGA (linear, b) | LUT est | rel. | µm² synth | rel. to 1 bit | paper ASIC ((b/2)²·4) | µm² scaled est | rel. |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...t2.map((r) => `| ${r.bits} | ${n(r.luts)} | ${(r.luts / base.luts).toFixed(2)} | ${r.bits.toFixed(2)} | ${n(r.estLuts)} | ${(r.estLuts / base.estLuts).toFixed(2)} | ${n(r.areaUm2)} | ${(r.areaUm2 / base.areaUm2).toFixed(2)} | ${(r.bits * r.bits).toFixed(2)} | ${n(r.areaScaled)} | ${(r.areaScaled / base.areaScaled).toFixed(2)} |`),
].join('\n');

const secs = ((performance.now() - t0) / 1000).toFixed(0);
const heldList = held.map((r) => r.id).join(', ');
const fpgaBlock = `<!-- SYNTH:START (bench/synth.mjs) -->

${rows.length} unit configurations (bench/synth-configs.mjs), synthesized with yosys \`synth_xilinx -flatten -noiopad\` (xc7). Held out of the fit: ${heldList}.

${fpgaTable}

FINN-R estimate, all configurations: MAE ${pct(summary.lut.maeUnfittedAll)}. Fit (LUT = ${cal.LUT_FIT_PARTS.map((k) => `${lutFit[k]}·${k}`).join(' + ')}, parts of the estimate's breakdown, base = 1 per unit, memory = 0 where the Verilog's weight ROMs are block RAM: ${rows.filter((r) => r.features.memory === 0 && r.est.breakdown.memory > 0).map((r) => r.id).join(', ') || 'none'}): MAE ${pct(summary.lut.maeFittedTrain)} on the ${train.length} fitted configurations, **${pct(summary.lut.maeFittedHeldOut)} on the ${held.length} held out** (target ≤ 15%).

Table 2 check on synthesized hardware (a row-grouped conv unit, ${t2[0].label.replace(/ W1\/1p.*/, '')}, 1-bit activations):

${t2Table}

Generated by \`node bench/synth.mjs\` (${secs} s with the synthesis cache of bench/out/synth-cache).

<!-- SYNTH:END -->`;
const asicBlock = `<!-- SYNTH:START (bench/synth.mjs) -->

${rows.length} unit configurations (bench/synth-configs.mjs), synthesized whole (memories as gates) with yosys + abc (default script) to the OSU 0.18 µm standard cells (qflow-tech-osu018). Estimates: the asic backend's unit counts for the same unit at its own throughput × the default technology's areas × (180/28)² (paper-anchored, not fitted); and the structural estimate, fitted: the unit's logic under the whole-design estimate's unit model (stage-area.ts \`unitLogicFeatures\` × \`OSU018_UNIT_LOGIC_FIT\`, µm² of the design flow: memories as macros, abc -fast) and its ROM and RAM bits, weighted by the fit. Held out of the fit: ${heldList}.

${asicTable}

Unit counts at the scaled default technology, all configurations: MAE ${pct(summary.area.maeScaledAll)}. Fit (µm² = ${cal.AREA_FIT_PARTS.map((k) => `${areaFit[k]}·${k}`).join(' + ')}): MAE ${pct(summary.area.maeFittedTrain)} on the ${train.length} fitted configurations, **${pct(summary.area.maeFittedHeldOut)} on the ${held.length} held out** (target ≤ 20%).

Generated by \`node bench/synth.mjs\` (${secs} s with the synthesis cache).

<!-- SYNTH:END -->`;

function replaceBlock(file, block) {
  const [A, B] = ['<!-- SYNTH:START (bench/synth.mjs) -->', '<!-- SYNTH:END -->'];
  let doc = fs.readFileSync(file, 'utf8');
  const a = doc.indexOf(A);
  const b = doc.indexOf(B);
  doc = a >= 0 && b > a ? doc.slice(0, a) + block + doc.slice(b + B.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileAtomic(file, doc);
}
if (writeDocs) {
  replaceBlock(path.join(ROOT, 'docs/fpga-results.md'), fpgaBlock);
  replaceBlock(path.join(ROOT, 'docs/asic-results.md'), asicBlock);
}
writeJson(jsonOut, { summary, rows, table2: t2 });
console.log(fpgaTable, '\n');
console.log(asicTable, '\n');
console.log(t2Table, '\n');
console.log(JSON.stringify(summary, null, 2));
