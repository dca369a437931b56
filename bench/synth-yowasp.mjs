#!/usr/bin/env node
/**
 * The npm package @yowasp/yosys (yosys compiled to WebAssembly) against the system yosys on
 * the same design: one sweep unit (bench/synth-configs.mjs, default u00), the same scripts
 * (src/backends/synth synthCommands), cell counts, resources and wall time. Not a dependency
 * of the package (docs/synthesis.md says why); install it anywhere and point at it:
 *
 *   (cd /tmp/yw && npm install @yowasp/yosys)
 *   YOWASP_DIR=/tmp/yw/node_modules/@yowasp/yosys node bench/synth-yowasp.mjs [unit-id]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { internal } from './lib.mjs';
import { SWEEP } from './synth-configs.mjs';

const { synthesize, synthCommands, xilinxResources, asicResources, loadLiberty, parseStatJson, DEFAULT_LIBERTY } = await internal('src/backends/synth/index.js');
const { emitUnitDesign } = await internal('src/backends/verilog/index.js');

const dir = process.env.YOWASP_DIR;
if (!dir || !fs.existsSync(path.join(dir, 'package.json'))) {
  console.error('set YOWASP_DIR to an installed @yowasp/yosys (npm install @yowasp/yosys in any folder)');
  process.exit(2);
}
const { runYosys, version } = await import(pathToFileURL(path.join(dir, 'gen/bundle.js')).href);
const id = process.argv[2] ?? 'u00';
const s = SWEEP.find((x) => x.id === id);
const d = emitUnitDesign(s.config);
const lib = loadLiberty(DEFAULT_LIBERTY);
const libText = fs.readFileSync(DEFAULT_LIBERTY, 'utf8');

for (const target of ['asic', 'xilinx']) {
  // system yosys
  const t0 = performance.now();
  const sys = await synthesize({ files: d.files, top: d.top }, { target, depth: false });
  const tSys = (performance.now() - t0) / 1000;
  // WebAssembly yosys on the same files and commands (the Liberty file inside its virtual file system)
  const files = Object.fromEntries(d.files);
  if (target === 'asic') files['cells.lib'] = libText;
  const synth = synthCommands(target, d.top, target === 'asic' ? { liberty: 'cells.lib' } : {});
  const script = [...[...d.files.keys()].filter((f) => f.endsWith('.v')).map((f) => `read_verilog -I . ${f}`), `hierarchy -check -top ${d.top}`, ...synth, 'tee -q -o stat.json stat -json'];
  const t1 = performance.now();
  const out = await runYosys(['-q', '-p', script.join('; ')], files, { stdout: null, stderr: null });
  const tWasm = (performance.now() - t1) / 1000;
  const stat = out['stat.json'];
  const cells = parseStatJson(typeof stat === 'string' ? stat : new TextDecoder().decode(stat), d.top);
  const a = sys.total;
  const fmt = (r) => (target === 'xilinx' ? JSON.stringify({ luts: r.luts, ffs: r.ffs, carry: r.carry, muxf: r.muxf, dsp: r.dsp, bram18: r.bram18 }) : JSON.stringify({ areaUm2: r.areaUm2, cells: r.cells, ffs: r.sequentialCells }));
  console.log(`${id} ${target}`);
  console.log(`  system ${sys.yosys}: ${tSys.toFixed(1)} s  ${fmt(target === 'xilinx' ? a.xilinx : a.asic)}`);
  console.log(`  @yowasp/yosys ${version}: ${tWasm.toFixed(1)} s  ${fmt(target === 'xilinx' ? xilinxResources(cells) : asicResources(cells, lib))}`);
}
