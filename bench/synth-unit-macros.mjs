#!/usr/bin/env node
/**
 * The unit part of the whole-design ASIC estimate (src/backends/synth/stage-area.ts,
 * docs/asic-results.md#whole-design-estimate): the calibration sweep's units (bench/synth-configs.mjs)
 * synthesized the way the whole designs are — memories (`hbnn_rom`, `hbnn_ram`) as macros
 * (black boxes), `abc -fast` — so that each unit's figure is its logic alone; the asic model's
 * unit counts without the weight-bit term (`sramBit`) are fitted to it (held-out units as the
 * calibration's). Writes fixtures/synth/unit-logic.json and prints the fit to commit as
 * OSU018_UNIT_LOGIC_FIT.
 *
 *   npx tsc && node bench/synth-unit-macros.mjs [u03 u07 ...]   # synthesize (cached in bench/out/synth-cache; default every unit, in the order given), write the fixture, print the fit
 *   node bench/synth-unit-macros.mjs --check             # the committed constants are the fixture's fit (exit 1 otherwise)
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, internal, writeJson } from './lib.mjs';
import { SWEEP } from './synth-configs.mjs';

const { synthesize } = await internal('src/backends/synth/index.js');
const { emitUnitDesign } = await internal('src/backends/verilog/index.js');
const sa = await internal('src/backends/synth/stage-area.js');

const CACHE = path.join(ROOT, 'bench/out/synth-cache');

if (process.argv.includes('--check')) {
  const data = JSON.parse(fs.readFileSync(path.join(ROOT, sa.UNIT_LOGIC_DATA), 'utf8'));
  const f = sa.fitUnitLogic(data.entries);
  const same = sa.UNIT_LOGIC_PARTS.every((k) => f.fit[k] === sa.OSU018_UNIT_LOGIC_FIT[k]);
  console.log(JSON.stringify(f.fit), same ? '= OSU018_UNIT_LOGIC_FIT' : `≠ OSU018_UNIT_LOGIC_FIT ${JSON.stringify(sa.OSU018_UNIT_LOGIC_FIT)}`);
  process.exitCode = same ? 0 : 1;
} else {
  const entries = [];
  const ids = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const units = ids.length ? ids.map((id) => SWEEP.find((s) => s.id === id) ?? (() => { throw new Error(`no unit ${id} in bench/synth-configs.mjs`); })()) : SWEEP;
  for (const s of units) {
    const d = emitUnitDesign(s.config);
    const h = crypto.createHash('sha256');
    for (const [k, v] of [...d.files].sort()) h.update(k).update('\0').update(v).update('\0');
    const design = h.digest('hex').slice(0, 16);
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
    entries.push({ id: s.id, config: s.config, holdout: !!s.holdout, design, ...r });
    console.log(`${s.id}: ${r.areaUm2} µm² logic (${r.cells} cells, ${r.ffs} flip-flops; ${r.seconds} s)`);
  }
  writeJson(sa.UNIT_LOGIC_DATA, { format: 'hbnn-unit-logic/1', note: 'logic µm² of the calibration units with memories as macros, OSU 0.18 µm, yosys synth + abc -fast (bench/synth-unit-macros.mjs)', entries });
  const f = sa.fitUnitLogic(entries);
  console.log(`fit (${f.train.length} units; held out ${f.heldOut.length}): ${JSON.stringify(f.fit)}`);
  console.log(`mean abs error: fitted ${(100 * f.mae.train).toFixed(1)}%, held out ${(100 * f.mae.heldOut).toFixed(1)}%`);
}
