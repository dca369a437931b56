#!/usr/bin/env node
/**
 * abc's lighter script (`abc -fast -liberty`, SynthOptions.abc 'fast') against yosys's default
 * `abc -liberty` on the calibration sweep's units (bench/synth-configs.mjs): the OSU 0.18 µm cell
 * area of each unit mapped with -fast beside the committed default-script figure of
 * fixtures/synth/calibration.json (its entries must be current: `npm run bench:synth-fit`), and
 * the mean ratio. How much the whole-design ASIC figures of bench:synth-designs (mapped with
 * -fast) overstate the default script's area (docs/synthesis.md#fast-abc-mapping).
 *
 *   npx tsc && node bench/synth-abc-fast.mjs [u00 u02 ...]   (default: every second unit)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, internal } from './lib.mjs';
import { SWEEP } from './synth-configs.mjs';

const { synthesize } = await internal('src/backends/synth/index.js');
const { emitUnitDesign } = await internal('src/backends/verilog/index.js');

const calibration = JSON.parse(fs.readFileSync(path.join(ROOT, 'fixtures/synth/calibration.json'), 'utf8'));
const ids = process.argv.slice(2);
const units = SWEEP.filter((s, i) => (ids.length ? ids.includes(s.id) : i % 2 === 0));
const rows = [];
for (const s of units) {
  const entry = calibration.entries.find((e) => e.id === s.id);
  if (!entry?.asic) continue;
  const d = emitUnitDesign(s.config);
  const t0 = performance.now();
  const r = await synthesize({ files: d.files, top: d.top }, { target: 'asic', abc: 'fast', perUnit: false });
  const fast = r.total.asic.areaUm2;
  const ratio = fast / entry.asic.areaUm2;
  rows.push({ id: s.id, defaultUm2: entry.asic.areaUm2, fastUm2: Math.round(fast), ratio, seconds: (performance.now() - t0) / 1000 });
  console.log(`${s.id}: default ${entry.asic.areaUm2} µm², fast ${Math.round(fast)} µm², ratio ${ratio.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
const mean = rows.reduce((a, r) => a + r.ratio, 0) / rows.length;
const [lo, hi] = [Math.min(...rows.map((r) => r.ratio)), Math.max(...rows.map((r) => r.ratio))];
console.log(`${rows.length} units: area with abc -fast / default script: mean ${mean.toFixed(3)}, range ${lo.toFixed(3)}-${hi.toFixed(3)}`);
