#!/usr/bin/env node
/**
 * The calibration fit from the committed synthesis results (fixtures/synth/calibration.json,
 * written by bench/synth.mjs): prints YOSYS_LUT_FIT and OSU018_AREA_FIT as they belong in
 * src/backends/synth/calibrate.ts, the errors, and which entries are stale (the Verilog the
 * emitter makes for their configuration today differs from what was synthesized: rerun
 * `npm run bench:synth`). No synthesis; a second.
 *
 *   node bench/synth-fit.mjs [--check]   # --check: exit 1 if calibrate.ts's constants differ or an entry is stale
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.resolve(ROOT, process.env.HBNN_DIST ?? 'dist');
const load = (rel) => import(pathToFileURL(path.join(DIST, rel)).href);
const cal = await load('src/backends/synth/calibrate.js');
const { emitUnitDesign } = await load('src/backends/verilog/index.js');

const data = JSON.parse(fs.readFileSync(path.join(ROOT, cal.CALIBRATION_DATA), 'utf8'));
const fit = cal.fitCalibration(data.entries.map(cal.calibrationRow));
const stale = data.entries.filter((e) => cal.designHash(emitUnitDesign(e.config).files) !== e.design);
const obj = (o, d) => `{ ${Object.entries(o).map(([k, v]) => `${k}: ${v.toFixed(d).replace(/0+$/, '').replace(/\.$/, '')}`).join(', ')} }`;
const pct = (x) => `${(100 * x).toFixed(1)}%`;
console.log(`// ${data.entries.length} entries of ${cal.CALIBRATION_DATA} (${data.yosys}); fitted on ${fit.train.length}, held out ${fit.heldOut.join(', ')}`);
console.log(`export const YOSYS_LUT_FIT: Readonly<LutFit> = Object.freeze(${obj(fit.lut, 4)});`);
console.log(`export const OSU018_AREA_FIT: Readonly<AreaFit> = Object.freeze(${obj(fit.area, 4)});`);
console.log(`// LUT MAE: FINN-R ${pct(fit.mae.lutFinnAll)} (all), fitted ${pct(fit.mae.lutTrain)} (fit set), ${pct(fit.mae.lutHeldOut)} (held out)`);
console.log(`// area MAE: unit counts scaled 28→180 nm ${pct(fit.mae.areaScaledAll)} (all); structural estimate fitted ${pct(fit.mae.areaTrain)} (fit set), ${pct(fit.mae.areaHeldOut)} (held out)`);
const same = JSON.stringify(fit.lut) === JSON.stringify({ ...cal.YOSYS_LUT_FIT }) && JSON.stringify(fit.area) === JSON.stringify({ ...cal.OSU018_AREA_FIT });
console.log(same ? '// calibrate.ts holds these constants' : '// calibrate.ts holds OTHER constants: paste the two lines above into src/backends/synth/calibrate.ts');
if (stale.length) console.log(`// stale (the emitter's Verilog changed since synthesis; rerun npm run bench:synth): ${stale.map((e) => e.id).join(', ')}`);
if (process.argv.includes('--check') && (!same || stale.length)) process.exit(1);
