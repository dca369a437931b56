/**
 * The paper's MobileNet ASIC row (HBNN Table 2 rows 12 and 13) recomputed from a real
 * MobileNet quantized by the tool and lowered through the bit-level IR (issue 16):
 * MobileNet-V1 (224×224, width 1.0, 4.2 M parameters; zoo/topologies.ts) quantized with
 * Middle-Out at W2A2 and W1.4A1.4 — weights and activations, activation bands calibrated on
 * 8 random inputs as bench/asic-table.mjs does for CNV — lowered with `lowerToBitIR`
 * (global average pool as an `avgpool` unit) and priced with `lowerAsicFromProgram`
 * (default technology, 200 MHz), and with `lowerAsic` (bits from the quantization record,
 * shapes and the average pool from the IR). Prints a markdown table beside the paper's
 * figures and the `paper`-mode estimate (the paper's row 12 anchor — the VGG-8 ASIC × 49 —
 * × (b_act · b_weight)/4). Configurations W2A2, W1.4A1.4 (the paper's rows 12, 13) and W1A1.
 *
 *   npm run bench:asic-mobilenet            (or: npx tsc -p tsconfig.json && node bench/asic-mobilenet.mjs)
 *   node bench/asic-mobilenet.mjs --configs 1.4   (one configuration)
 */
import { buildMobileNetV1, quantize, asic, randomCalibration } from './asic-common.mjs';
import { lib } from './lib.mjs';

const { lowerToBitIR } = lib;

const arg = process.argv.indexOf('--configs');
const configs = arg > 0 ? process.argv[arg + 1].split(',').map(Number) : [2, 1.4, 1];
const paperRows = { 2: { row: 12, area: 297, power: 18.62 }, 1.4: { row: 13, area: 145.5, power: 9.1 } };

const calib = randomCalibration([8, 3, 224, 224]);
const rows = [];
for (const bits of configs) {
  const t0 = performance.now();
  const m = buildMobileNetV1();
  await quantize(m, { avgBits: bits, actBits: bits, heuristic: 'middle-out', calibData: calib, calibLimit: 8 });
  const t1 = performance.now();
  const program = lowerToBitIR(m);
  const t2 = performance.now();
  const ir = asic.lowerAsicFromProgram(program, { paperAnchor: 'mobilenet-v1-imagenet' }).report;
  const rec = asic.lowerAsic(m, { paperAnchor: 'mobilenet-v1-imagenet' }).report.units;
  const t3 = performance.now();
  const p = paperRows[bits] ?? { row: '—', area: NaN, power: NaN };
  const u = ir.units;
  const pm = ir.paper;
  const ops = program.ops.map((o) => o.op);
  rows.push(
    `| MobileNet-V1 W${bits}A${bits} | ${p.row} | ${Number.isNaN(p.area) ? '—' : `${p.area} / ${p.power}`} | ${pm.areaMm2.toFixed(1)} / ${pm.powerW.toFixed(2)} | ${u.areaMm2.toFixed(3)} / ${u.powerW.toFixed(3)} / ${(u.fps / 1000).toFixed(2)} | ${rec.areaMm2.toFixed(3)} / ${rec.powerW.toFixed(3)} / ${(rec.fps / 1000).toFixed(2)} | ${(program.source.avgWeightBits).toFixed(3)} / ${(program.source.avgActivationBits ?? 0).toFixed(3)} | ${ops.filter((o) => o === 'conv').length} conv, ${ops.filter((o) => o === 'threshold').length} threshold, ${ops.filter((o) => o === 'avgpool').length} avgpool |`,
  );
  console.error(`W${bits}A${bits}: quantize ${((t1 - t0) / 1000).toFixed(1)} s, lower to bit IR ${((t2 - t1) / 1000).toFixed(1)} s, ASIC ${((t3 - t2) / 1000).toFixed(1)} s`);
}
console.log('| config | paper row | paper mm² / W | `paper` mode (row 12 anchor = VGG-8 × 49) mm² / W | units via bit IR mm² / W / kFPS | units, record bits + IR shapes mm² / W / kFPS | measured weight / activation bits | IR units |');
console.log('|---|---:|---:|---:|---:|---:|---:|---|');
for (const r of rows) console.log(r);
