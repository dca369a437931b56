#!/usr/bin/env node
/**
 * The paper's ASIC rows (HBNN Table 2 rows 3, 7, 8, 12, 13) beside this backend's two
 * estimates, as a Markdown table (the source of the table in docs/asic-results.md).
 *
 *   npx tsc --outDir /tmp/hbnn-dist && HBNN_DIST=/tmp/hbnn-dist node bench/asic-table.mjs [--write-reports DIR]
 *
 * CNV: weights and activations quantized (Middle-Out), activations calibrated on 8 random
 * inputs. MobileNet-V1: weights quantized (Middle-Out); activation bits stated separately
 * (`activationBits`), because calibrating its 26 binarizers takes ~30 s per configuration.
 * `--write-reports DIR` also writes each configuration's report files under DIR/<name>/.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { asic, loadOptional, quantizedCnv, quantizedMobileNet, randomCalibration } from './asic-common.mjs';

// The bit-level IR lowering, when this build has it (CNV rows get a third estimate from it).
const bitir = await loadOptional('src/bitir/lower.js');

const args = process.argv.slice(2);
const outIdx = args.indexOf('--write-reports');
const outDir = outIdx >= 0 ? args[outIdx + 1] : undefined;

const ROWS = [
  { id: 'cnv-w2a2', net: 'cnv', bits: 2, paper: { row: 3, areaMm2: 6.06, powerW: 0.38 } },
  { id: 'cnv-w1.4a1.4', net: 'cnv', bits: 1.4, paper: { row: 8, areaMm2: 2.96, powerW: 0.18 } },
  { id: 'cnv-w1.2a1.2', net: 'cnv', bits: 1.2, paper: { row: 7, areaMm2: 2.18, powerW: 0.14 } },
  { id: 'mobilenet-w2a2', net: 'mobilenet', bits: 2, paper: { row: 12, areaMm2: 297, powerW: 18.62 } },
  { id: 'mobilenet-w1.4a1.4', net: 'mobilenet', bits: 1.4, paper: { row: 13, areaMm2: 145.5, powerW: 9.1 } },
];

const calib = randomCalibration([8, 3, 32, 32]);
const f = (x, d = 3) => (x >= 100 ? x.toFixed(1) : x.toFixed(d));
const pct = (a, b) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`;
console.log('| config | paper row | paper mm² / W | `paper` mode mm² / W (diff) | `units` mode mm² / W / kFPS | units vs paper row | `units` via bit IR mm² / W |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of ROWS) {
  const model = r.net === 'cnv' ? await quantizedCnv(r.bits, calib) : await quantizedMobileNet(r.bits);
  const extra = r.net === 'mobilenet' ? { activationBits: r.bits, paperAnchor: 'mobilenet-v1-imagenet' } : {};
  const paper = asic.lowerAsic(model, { scaling: 'paper', ...extra });
  const units = asic.lowerAsic(model, { scaling: 'units', ...extra });
  const p = paper.report.summary;
  const u = units.report.summary;
  const ir = bitir && r.net === 'cnv' ? asic.lowerAsic(model, { program: bitir.lowerToBitIR(model) }).report.summary : undefined;
  console.log(
    `| ${r.id} | ${r.paper.row} | ${r.paper.areaMm2} / ${r.paper.powerW} | ${f(p.areaMm2)} / ${f(p.powerW)} (${pct(p.areaMm2, r.paper.areaMm2)}, ${pct(p.powerW, r.paper.powerW)}) | ${f(u.areaMm2)} / ${f(u.powerW)} / ${(u.fps / 1000).toFixed(2)} | ${pct(u.areaMm2, r.paper.areaMm2)}, ${pct(u.powerW, r.paper.powerW)} | ${ir ? `${f(ir.areaMm2)} / ${f(ir.powerW)}` : 'n/a'} |`,
  );
  if (process.env.ASIC_DETAIL) {
    const d = units.report.units;
    console.error(r.id, 'bits', d.avgWeightBits.toFixed(4), d.avgActivationBits.toFixed(4), 'area', JSON.stringify(d.areaBreakdownMm2), 'energy', JSON.stringify(d.energyBreakdownUj), 'lanes', d.layers.reduce((s, l) => s + l.units.xnorPopcountLane, 0), 'laneOps', d.laneOpsPerFrame, 'variants', JSON.stringify(units.report.variants.map((v) => [v.label, v.units.areaMm2.toFixed(3), v.units.powerW.toFixed(3)])));
  }
  if (outDir) {
    for (const [name, res] of [[`${r.id}-units`, units], [`${r.id}-paper`, paper]]) {
      const dir = path.join(outDir, name);
      fs.mkdirSync(dir, { recursive: true });
      for (const [file, text] of res.files) fs.writeFileSync(path.join(dir, file), text);
    }
  }
}
