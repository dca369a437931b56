#!/usr/bin/env node
/**
 * The stage model of the whole-design ASIC estimate (src/backends/synth/stage-area.ts,
 * docs/asic-results.md#whole-design-estimate): the per-stage synthesis of the fmnist-cnn
 * designs (bench/synth-designs.mjs --target asic, abc -fast; its cached results in
 * bench/out/synth-cache) gives each non-unit stage's logic µm²; this writes them with the stage
 * modules' parameters to fixtures/synth/stages.json (W1A1-row's stages fitted, W1.4A1.4's held
 * out: other entry widths for the bit-plane streams, tables instead of the fixed-point ReLU) and
 * prints the fit (`fitStageArea`) to commit as OSU018_STAGE_FIT.
 *
 *   npx tsc && node bench/synth-stage-fit.mjs            # write the fixture, print the fit
 *   node bench/synth-stage-fit.mjs --check               # the committed constants are the fixture's fit (exit 1 otherwise)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, internal, writeJson, FMNIST_CNN, FMNIST_RTL_FOLDING, SYNTH_CACHE } from './lib.mjs';

const sa = await internal('src/backends/synth/stage-area.js');
const { asicResources, loadLiberty, resolveLiberty } = await internal('src/backends/synth/index.js');

const CACHE = SYNTH_CACHE;
const DESIGNS = [
  { name: 'W1A1-row', holdout: false, opts: { avgBits: 1, heuristic: 'middle-out', granularity: 'row', actBits: 1, normalize: 'fmnist' } },
  { name: 'W1.4A1.4', holdout: true, opts: { avgBits: 1.4, heuristic: 'middle-out', actBits: 1.4, actHeuristic: 'middle-out', normalize: 'fmnist' } },
];

function fixture() {
  return JSON.parse(fs.readFileSync(path.join(ROOT, sa.STAGE_DATA), 'utf8'));
}

async function main() {
  if (process.argv.includes('--check')) {
    const f = sa.fitStageArea(fixture().entries);
    const same = sa.STAGE_AREA_PARTS.every((k) => f.fit[k] === sa.OSU018_STAGE_FIT[k]);
    console.log(JSON.stringify(f.fit), same ? '= OSU018_STAGE_FIT' : `≠ OSU018_STAGE_FIT ${JSON.stringify(sa.OSU018_STAGE_FIT)}`);
    process.exitCode = same ? 0 : 1;
    return;
  }
  const liberty = loadLiberty(resolveLiberty(undefined));
  const entries = [];
  for (const d of DESIGNS) {
    const prefix = `design-${d.name}-asic-`;
    const files = fs.readdirSync(CACHE).filter((f) => f.startsWith(prefix)).map((f) => path.join(CACHE, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    if (!files.length) {
      console.log(`${d.name}: no ASIC synthesis in ${path.relative(ROOT, CACHE)} (node bench/synth-designs.mjs --only ${d.name} --target asic): left out`);
      continue;
    }
    const r = JSON.parse(fs.readFileSync(files[0], 'utf8'));
    const m = lib.loadModel(FMNIST_CNN);
    await lib.quantize(m, d.opts);
    const v = lib.lowerToVerilog(m, { folding: FMNIST_RTL_FOLDING, testSamples: 1, accSamples: 0 });
    for (const s of v.stages) {
      if (s.kind === 'unit' || !sa.stageAreaFeatures(s.module, s.params)) continue;
      const run = r.runs.find((x) => Array.isArray(x.instances) && x.instances.includes(s.instance));
      // (the FIFOs on line-buffered stages' and units' inputs came after the designs synthesized so far)
      if (!run?.cellsByType && s.module === 'hbnn_fifo') continue;
      if (!run?.cellsByType) throw new Error(`${d.name}: no run of ${s.instance}`);
      entries.push({ id: `${d.name}/${s.name}`, module: s.module, params: s.params, holdout: d.holdout, areaUm2: Math.round(asicResources(run.cellsByType, liberty).areaUm2 * 10) / 10 });
    }
    console.log(`${d.name}: ${path.basename(files[0])} (commit ${r.commit ?? '?'})`);
  }
  // the same stage in both designs (same module and parameters) is one entry, the fitted one
  const seen = new Set();
  const unique = entries.filter((e) => {
    const k = `${e.module} ${JSON.stringify(e.params)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  writeJson(sa.STAGE_DATA, { format: 'hbnn-stage-area/1', note: 'logic µm² of each non-unit stage of the fmnist-cnn designs, OSU 0.18 µm, yosys synth + abc -fast, memories as macros (bench/synth-stage-fit.mjs)', entries: unique });
  const f = sa.fitStageArea(unique);
  console.log(`fit (${f.train.length} stages; held out ${f.heldOut.length}): ${JSON.stringify(f.fit)}`);
  console.log(`mean abs error: fitted ${(100 * f.mae.train).toFixed(1)}%, held out ${(100 * f.mae.heldOut).toFixed(1)}%`);
  for (const e of unique) {
    const est = sa.stageArea(sa.stageAreaFeatures(e.module, e.params), f.fit);
    console.log(`| ${e.id} | ${e.module} | ${e.holdout ? 'held out' : 'fitted'} | ${Math.round(e.areaUm2).toLocaleString('en-US')} | ${Math.round(est).toLocaleString('en-US')} | ${e.areaUm2 ? `${est >= e.areaUm2 ? '+' : ''}${((100 * (est - e.areaUm2)) / e.areaUm2).toFixed(0)}%` : ''} |`);
  }
}

await main();
