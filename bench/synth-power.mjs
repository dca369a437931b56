#!/usr/bin/env node
/**
 * Switching-activity power of synthesized units (docs/asic-results.md, "Switching-activity
 * power (gate-level)"; method in docs/synthesis.md, "Power"): units of the calibration sweep
 * (bench/synth-configs.mjs) mapped to the OSU 0.18 µm cells, simulated at gate level beside their
 * RTL with Icarus Verilog on seeded pseudo-random input entries, zero-delay (functional toggles)
 * and with the cell models' nominal path delays (glitches, unfiltered), toggles priced with the
 * Liberty file; beside the asic backend's unit-count energy for the same unit (the
 * paper-anchored 28-nm default technology, and naively scaled to 180 nm / 1.8 V).
 *
 *   npm run bench:synth-power        # = tsc && node bench/synth-power.mjs [--no-docs] [--frames N] [ids...]
 *   node bench/synth-power.mjs --render   # the docs table from bench/out/synth-power.json, no simulation
 *
 * Writes bench/out/synth-power.json and the table between the POWER markers of docs/asic-results.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SWEEP, label } from './synth-configs.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.resolve(ROOT, process.env.HBNN_DIST ?? 'dist');
const load = (rel) => import(pathToFileURL(path.join(DIST, rel)).href);
const { emitUnitDesign } = await load('src/backends/verilog/index.js');
const { unitPower } = await load('src/backends/synth/power.js');
const { asicUnitWork } = await load('src/backends/synth/calibrate.js');
const { estimateDesign, DEFAULT_TECH } = await load('src/backends/asic/index.js');
const { writeFileAtomic } = await load('src/util/fs.js');

const args = process.argv.slice(2);
const writeDocs = !args.includes('--no-docs');
const frames = args.includes('--frames') ? Number(args[args.indexOf('--frames') + 1]) : 4;
const ids = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--frames');
const DEFAULT_IDS = ['u17', 'u00', 'u01', 'u06', 'u09', 'u18'];
const CLOCK_MHZ = 200;
// naive transfer of the 28-nm energies to 0.18 µm / 1.8 V: C ∝ node, E ∝ C·V²
const NODE_SCALE = (180 / 28) * (1.8 / DEFAULT_TECH.voltage) ** 2;

const render = args.includes('--render');
const saved = render ? JSON.parse(fs.readFileSync(path.join(ROOT, 'bench/out/synth-power.json'), 'utf8')) : undefined;
const rows = saved ? saved.rows : [];
const t0 = performance.now();
for (const s of saved ? [] : SWEEP.filter((x) => (ids.length ? ids : DEFAULT_IDS).includes(x.id))) {
  const d = emitUnitDesign(s.config);
  const u = d.unit;
  const cycles = u.reps * (u.mh / u.pe) * (u.mw / u.simd);
  const asic = estimateDesign([asicUnitWork(u)], { ...DEFAULT_TECH, foldCycles: Math.max(1, Math.round(cycles)) }, CLOCK_MHZ);
  const r0 = performance.now();
  const zero = await unitPower(d, { frames, delays: false, clockMhz: CLOCK_MHZ });
  const timed = await unitPower(d, { frames, delays: true, clockMhz: CLOCK_MHZ, netlist: zero.gates });
  const row = {
    id: s.id,
    label: label(s.config),
    cyclesPerFrame: cycles,
    netlist: zero.netlist,
    sim: zero.sim,
    zeroDelay: zero.power,
    withDelays: timed.power,
    asic: { energyPerFrameNj28: asic.energyPerFrameUj * 1e3, powerUw28: asic.powerW * 1e6, energyPerFrameNjScaled: asic.energyPerFrameUj * 1e3 * NODE_SCALE },
    seconds: (performance.now() - r0) / 1000,
  };
  rows.push(row);
  console.error(`${s.id}: ${row.netlist.cells} cells, ${zero.sim.cycles} cycles, zero-delay ${zero.power.energyPerFrameNj} nJ/frame, with delays ${timed.power.energyPerFrameNj} nJ/frame (${row.seconds.toFixed(0)} s)`);
}

const f = (x, d = 2) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(d));
const table = [
  '| id | unit | cells | cycles / frame | activity (zero-delay) | nJ / frame zero-delay | with delays | µW at 200 MHz zero-delay | with delays | of which clock (zero-delay) | leakage µW | asic model nJ / frame (28 nm) | × (180/28)·(1.8/0.9)² |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.id} | ${r.label} | ${f(r.netlist.cells)} | ${r.cyclesPerFrame} | ${r.zeroDelay.activity.toFixed(3)} | ${f(r.zeroDelay.energyPerFrameNj)} | ${f(r.withDelays.energyPerFrameNj)} | ${f(r.zeroDelay.totalUw)} | ${f(r.withDelays.totalUw)} | ${((100 * r.zeroDelay.clockEnergyPj) / r.zeroDelay.energyPj.dynamic).toFixed(0)}% | ${r.zeroDelay.leakageUw.toFixed(3)} | ${r.asic.energyPerFrameNj28.toFixed(3)} | ${f(r.asic.energyPerFrameNjScaled)} |`),
].join('\n');
const secs = (saved ? rows.reduce((a, r) => a + r.seconds, 0) : (performance.now() - t0) / 1000).toFixed(0);
const block = `<!-- POWER:START (bench/synth-power.mjs) -->

${rows.length} units of the calibration sweep, ${saved ? saved.frames : frames} frames of seeded pseudo-random input entries each, OSU 0.18 µm at 1.8 V, input transition 0.1 ns, pin loads only; every netlist agreed with its RTL on every cycle in both simulations. Power at the vivado-hls default clock of ${CLOCK_MHZ} MHz with the unit busy every cycle (frames back to back).

${table}

Generated by \`node bench/synth-power.mjs\` (${secs} s on the shared 2-core machine).

<!-- POWER:END -->`;
if (writeDocs) {
  const file = path.join(ROOT, 'docs/asic-results.md');
  const [A, B] = ['<!-- POWER:START (bench/synth-power.mjs) -->', '<!-- POWER:END -->'];
  let doc = fs.readFileSync(file, 'utf8');
  const a = doc.indexOf(A);
  const b = doc.indexOf(B);
  doc = a >= 0 && b > a ? doc.slice(0, a) + block + doc.slice(b + B.length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileAtomic(file, doc);
}
if (!saved) {
  fs.mkdirSync(path.join(ROOT, 'bench/out'), { recursive: true });
  writeFileAtomic(path.join(ROOT, 'bench/out/synth-power.json'), `${JSON.stringify({ frames, clockMhz: CLOCK_MHZ, rows }, null, 2)}\n`);
}
console.log(table);
