#!/usr/bin/env node
/**
 * The unit part of the whole-design ASIC estimate (src/backends/synth/stage-area.ts,
 * docs/asic-results.md#whole-design-estimate): the calibration sweep's units (bench/synth-configs.mjs)
 * synthesized the way the whole designs are — memories (`hbnn_rom`, `hbnn_ram`) as macros
 * (black boxes), `abc -fast` — so that each unit's figure is its logic alone — and the units
 * of the designs that bench:synth-designs synthesized for the ASIC on the current emitter output
 * (read from its cache; DESIGNS below: the fmnist-cnn's W1A1-row and W2A1-row fitted, to teach
 * the model wide fixed-point inputs, large SIMD and constant multipliers, which the sweep's
 * small units do not have; its mixed designs and CNV's held out). The structural unit model
 * (stage-area.ts unitLogicFeatures: live lanes and accumulators, comparator, per-row and
 * constant multiplier and output bits) is fitted to the units not held out (the sweep's
 * held-out units as the calibration's).
 * Writes fixtures/synth/unit-logic.json and prints the fit to commit as OSU018_UNIT_LOGIC_FIT.
 * The calibration's ASIC fit (calibrate.ts OSU018_AREA_FIT) weighs this model's unit logic: after
 * a change of OSU018_UNIT_LOGIC_FIT, refit it with `node bench/synth-fit.mjs`.
 *
 *   npx tsc && node bench/synth-unit-macros.mjs [u03 u07 ...]   # synthesize (cached in bench/out/synth-cache; default every unit, in the order given), write the fixture, print the fit
 *   node bench/synth-unit-macros.mjs --check             # the committed constants are the fixture's fit (exit 1 otherwise)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, lib, internal, writeJson, FMNIST_CNN, FMNIST_RTL_FOLDING, CNV_FINN_FOLDING, CNV_LOWERING, cnvRowA1, designCacheFile, designSynthFiles, SYNTH_CACHE } from './lib.mjs';
import { SWEEP } from './synth-configs.mjs';

const { synthesize } = await internal('src/backends/synth/index.js');
const { emitUnitDesign, unitStageOf } = await internal('src/backends/verilog/index.js');
const sa = await internal('src/backends/synth/stage-area.js');
const { designHash } = await internal('src/backends/synth/calibrate.js');
const { asicResources, loadLiberty, resolveLiberty } = await internal('src/backends/synth/index.js');

/**
 * The designs of bench:synth-designs whose units join the data: the fmnist-cnn's W1A1-row (wide
 * fixed-point inputs, large SIMD) and W2A1-row (constant multipliers K_t on two terms) fitted,
 * its mixed designs and every CNV design held out.
 */
const row = (bits) => ({ avgBits: bits, heuristic: 'middle-out', granularity: 'row', actBits: 1 });
const fmnist = (opts) => async () => {
  const m = lib.loadModel(FMNIST_CNN);
  await lib.quantize(m, { ...opts, normalize: 'fmnist' });
  return lib.lowerToVerilog(m, { folding: FMNIST_RTL_FOLDING, testSamples: 1, accSamples: 0 });
};
const cnv = (bits) => async () => lib.lowerToVerilog(await cnvRowA1(bits), { folding: CNV_FINN_FOLDING, lowering: CNV_LOWERING, testSamples: 1, accSamples: 0 });
const DESIGNS = [
  { name: 'W1A1-row', holdout: false, lower: fmnist(row(1)) },
  { name: 'W2A1-row', holdout: false, lower: fmnist(row(2)) },
  { name: 'W1.2A1-row', holdout: true, lower: fmnist(row(1.2)) },
  { name: 'W1.4A1-row', holdout: true, lower: fmnist(row(1.4)) },
  { name: 'W1.4A1.4', holdout: true, lower: fmnist({ avgBits: 1.4, heuristic: 'middle-out', actBits: 1.4, actHeuristic: 'middle-out' }) },
  ...[1, 1.2, 1.4, 2].map((b) => ({ name: `CNV-W${b}A1-row`, holdout: true, lower: cnv(b) })),
];

/** The units of the synthesized designs (the cached ASIC result of each for the current emitter output, else left out), as fit entries. */
async function designUnits() {
  const liberty = loadLiberty(resolveLiberty(undefined));
  const out = [];
  for (const d of DESIGNS) {
    const v = await d.lower();
    // the design's cached result for exactly this emitter output (bench:synth-designs' key)
    const file = await designCacheFile(d.name, designSynthFiles(v), 'asic', 'fast');
    if (!fs.existsSync(file)) {
      console.log(`${d.name}: not synthesized for the ASIC on this emitter output yet (no ${path.basename(file)}): left out`);
      continue;
    }
    const r = JSON.parse(fs.readFileSync(file, 'utf8'));
    const entries = v.units.map((u) => {
      const run = r.runs.find((x) => Array.isArray(x.instances) && x.instances.includes(u.instance));
      if (!run?.cellsByType) throw new Error(`${d.name}: no run of ${u.instance} in ${path.basename(file)}`);
      return { id: `${d.name}/${u.layer}`, design: d.name, features: sa.unitLogicFeatures(u.stage), holdout: d.holdout, areaUm2: Math.round(asicResources(run.cellsByType, liberty).areaUm2 * 10) / 10 };
    });
    out.push(...entries);
    console.log(`${d.name}: ${entries.length} units`);
  }
  return out;
}

const CACHE = SYNTH_CACHE;

if (process.argv.includes('--check')) {
  const data = JSON.parse(fs.readFileSync(path.join(ROOT, sa.UNIT_LOGIC_DATA), 'utf8'));
  const f = sa.fitUnitLogic(data.entries);
  const same = sa.UNIT_STRUCT_PARTS.every((k) => f.fit[k] === sa.OSU018_UNIT_LOGIC_FIT[k]);
  console.log(JSON.stringify(f.fit), same ? '= OSU018_UNIT_LOGIC_FIT' : `≠ OSU018_UNIT_LOGIC_FIT ${JSON.stringify(sa.OSU018_UNIT_LOGIC_FIT)}`);
  process.exitCode = same ? 0 : 1;
} else {
  const entries = [];
  const ids = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const units = ids.length ? ids.map((id) => SWEEP.find((s) => s.id === id) ?? (() => { throw new Error(`no unit ${id} in bench/synth-configs.mjs`); })()) : SWEEP;
  for (const s of units) {
    const d = emitUnitDesign(s.config);
    const design = designHash(d.files);
    const file = path.join(CACHE, `unit-macros-${s.id}-${design}.json`);
    let r;
    if (fs.existsSync(file)) r = JSON.parse(fs.readFileSync(file, 'utf8'));
    else {
      const t0 = performance.now();
      const rep = await synthesize({ files: d.files, top: d.top }, { target: 'asic', abc: 'fast', macros: ['hbnn_rom', 'hbnn_ram'], perUnit: false, depth: false });
      r = { areaUm2: Math.round(rep.total.asic.areaUm2 * 10) / 10, cells: rep.total.asic.cells, ffs: rep.total.asic.sequentialCells, seconds: Math.round((performance.now() - t0) / 100) / 10 };
      fs.mkdirSync(CACHE, { recursive: true });
      fs.writeFileSync(file, `${JSON.stringify(r)}\n`);
    }
    entries.push({ id: s.id, config: s.config, features: sa.unitLogicFeatures(unitStageOf(s.config)), holdout: !!s.holdout, areaUm2: r.areaUm2, cells: r.cells, ffs: r.ffs, seconds: r.seconds });
    console.log(`${s.id}: ${r.areaUm2} µm² logic (${r.cells} cells, ${r.ffs} flip-flops; ${r.seconds} s)`);
  }
  entries.push(...(await designUnits()));
  writeJson(sa.UNIT_LOGIC_DATA, { format: 'hbnn-unit-logic/1', note: 'logic µm² of the calibration units with memories as macros, OSU 0.18 µm, yosys synth + abc -fast (bench/synth-unit-macros.mjs)', entries });
  const f = sa.fitUnitLogic(entries);
  console.log(`fit (${f.train.length} units; held out ${f.heldOut.length}): ${JSON.stringify(f.fit)}`);
  console.log(`mean abs error: fitted ${(100 * f.mae.train).toFixed(1)}%, held out ${(100 * f.mae.heldOut).toFixed(1)}%`);
  for (const e of entries) {
    const est = sa.unitLogicArea(e.features, f.fit);
    console.log(`| ${e.id} | ${e.holdout ? 'held out' : 'fitted'} | ${Math.round(e.areaUm2).toLocaleString('en-US')} | ${Math.round(est).toLocaleString('en-US')} | ${est >= e.areaUm2 ? '+' : ''}${((100 * (est - e.areaUm2)) / e.areaUm2).toFixed(0)}% |`);
  }
}
