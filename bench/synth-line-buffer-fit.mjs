#!/usr/bin/env node
/**
 * The LUT model of the line-buffered stages (sliding windows hbnn_swu, max pools hbnn_maxpool;
 * src/backends/vivado-hls/estimate.ts lineBufferLutFeatures, LINE_BUFFER_LUT_FIT;
 * docs/fpga-results.md#window-and-pool-stages): the per-instance xilinx synthesis of the
 * fmnist-cnn's W1A1-row and CNV's W1.4A1-row (bench/synth-designs.mjs; the newest cached result
 * of each in bench/out/synth-cache) gives each window and pool stage's LUTs; this writes them
 * with the stage modules' parameters to fixtures/synth/line-buffer-luts.json (CNV's conv0,
 * conv7 and conv14 windows and maxpool13 held out, the others fitted), prints the fit
 * (`fitLineBufferLuts`) to commit as LINE_BUFFER_LUT_FIT, and the table of estimate against
 * synthesis under the fit.
 *
 *   npx tsc && node bench/synth-line-buffer-fit.mjs      # write the fixture, print the fit and the table
 *   node bench/synth-line-buffer-fit.mjs --check         # the committed constants are the fixture's fit (exit 1 otherwise)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, internal, writeJson, FMNIST_CNN, FMNIST_RTL_FOLDING, CNV_FINN_FOLDING, CNV_LOWERING, cnvRowA1, SYNTH_CACHE } from './lib.mjs';

const cal = await internal('src/backends/synth/calibrate.js');
const est = await internal('src/backends/vivado-hls/estimate.js');
const { xilinxResources } = await internal('src/backends/synth/index.js');

const CACHE = SYNTH_CACHE;
const HELD_OUT = new Set(['CNV-W1.4A1-row/u_swu_conv0', 'CNV-W1.4A1-row/u_swu_conv7', 'CNV-W1.4A1-row/u_swu_conv14', 'CNV-W1.4A1-row/u_pool_maxpool13']);
const DESIGNS = [
  {
    name: 'W1A1-row',
    async lower() {
      const m = lib.loadModel(FMNIST_CNN);
      await lib.quantize(m, { avgBits: 1, heuristic: 'middle-out', granularity: 'row', actBits: 1, normalize: 'fmnist' });
      return lib.lowerToVerilog(m, { folding: FMNIST_RTL_FOLDING, testSamples: 1, accSamples: 0 });
    },
  },
  { name: 'CNV-W1.4A1-row', lower: async () => lib.lowerToVerilog(await cnvRowA1(1.4), { folding: CNV_FINN_FOLDING, lowering: CNV_LOWERING, testSamples: 1, accSamples: 0 }) },
];
const MODULES = new Set(['hbnn_swu', 'hbnn_maxpool']);

async function main() {
  const data = path.join(ROOT, cal.LINE_BUFFER_DATA);
  if (process.argv.includes('--check')) {
    const f = cal.fitLineBufferLuts(JSON.parse(fs.readFileSync(data, 'utf8')).entries);
    const same = est.LINE_BUFFER_LUT_PARTS.every((k) => f.fit[k] === est.LINE_BUFFER_LUT_FIT[k]);
    console.log(JSON.stringify(f.fit), same ? '= LINE_BUFFER_LUT_FIT' : `≠ LINE_BUFFER_LUT_FIT ${JSON.stringify(est.LINE_BUFFER_LUT_FIT)}`);
    process.exitCode = same ? 0 : 1;
    return;
  }
  const entries = [];
  const sources = [];
  for (const d of DESIGNS) {
    const prefix = `design-${d.name}-xilinx-`;
    const files = fs.readdirSync(CACHE).filter((f) => f.startsWith(prefix)).map((f) => path.join(CACHE, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    if (!files.length) throw new Error(`${d.name}: no xilinx synthesis in ${path.relative(ROOT, CACHE)} (node bench/synth-designs.mjs --only ${d.name} --target xilinx)`);
    const r = JSON.parse(fs.readFileSync(files[0], 'utf8'));
    sources.push({ design: d.name, result: path.basename(files[0]), commit: r.commit });
    const v = await d.lower();
    for (const s of v.stages) {
      if (!MODULES.has(s.module)) continue;
      const run = r.runs.find((x) => Array.isArray(x.instances) && x.instances.includes(s.instance));
      if (!run?.cellsByType) throw new Error(`${d.name}: no run of ${s.instance}`);
      const x = xilinxResources(run.cellsByType);
      const id = `${d.name}/${s.instance}`;
      entries.push({ id, module: s.module, params: s.params, holdout: HELD_OUT.has(id), luts: x.luts, lutMemory: x.lutMemory, bram18: x.bram18 });
    }
    console.log(`${d.name}: ${path.basename(files[0])} (commit ${r.commit ?? '?'})`);
  }
  writeJson(cal.LINE_BUFFER_DATA, { format: 'hbnn-line-buffer-luts/1', note: 'yosys synth_xilinx (per instance, out of context) of the window and max-pool stages of the fmnist-cnn W1A1-row and CNV W1.4A1-row designs (bench/synth-line-buffer-fit.mjs)', sources, entries });
  const f = cal.fitLineBufferLuts(entries);
  console.log(`fit (${f.train.length} stages; held out ${f.heldOut.length}): ${JSON.stringify(f.fit)}`);
  console.log(`mean abs error: fitted ${(100 * f.mae.train).toFixed(1)}%, held out ${(100 * f.mae.heldOut).toFixed(1)}%`);
  const n = (x) => Math.round(x).toLocaleString('en-US');
  const pct = (e, a) => `${e >= a ? '+' : ''}${((100 * (e - a)) / a).toFixed(1)}%`;
  console.log('| stage | module (C, W, EB, SIMD) | fitted / held out | LUT synth (of them memory) | BRAM18 synth | LUT est | err | BRAM18 est |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const e of entries) {
    const g = cal.lineBufferGeometry(e.module, e.params);
    const c = est.lineBufferStageCost(g, f.fit);
    console.log(`| ${e.id} | ${e.module} (${g.c}, ${g.w}, ${g.eb}${g.simd ? `, ${g.simd}` : ''}) | ${e.holdout ? 'held out' : 'fitted'} | ${n(e.luts)} (${n(e.lutMemory)}) | ${e.bram18} | ${n(c.luts)} | ${pct(c.luts, e.luts)} | ${c.bram18} |`);
  }
}

await main();
