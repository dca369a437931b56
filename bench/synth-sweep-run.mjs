#!/usr/bin/env node
/**
 * Synthesizes each configuration of bench/synth-configs.mjs with yosys (xilinx and asic) and
 * caches the result in bench/out/synth-cache/<id>-<hash>.json (a changed configuration,
 * emitter output or yosys version is a new key), so that bench/synth.mjs can refit without
 * resynthesizing. `node bench/synth-sweep-run.mjs [--reverse] [ids...]` (the sweep, then the Table 2 units) (a second process with --reverse
 * works from the other end).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, lib, internal, SYNTH_CACHE } from './lib.mjs';
import { SWEEP, TABLE2 } from './synth-configs.mjs';

const { synthesize, yosysVersion } = await internal('src/backends/synth/index.js');
const { emitUnitDesign } = await internal('src/backends/verilog/index.js');
const { writeFileAtomic } = lib;

export const CACHE = SYNTH_CACHE;

/** The cache file of a design (config + every emitted file + yosys version + target). */
export async function cacheKey(id, design, target) {
  const h = crypto.createHash('sha256');
  h.update(await yosysVersion());
  h.update(target);
  for (const [k, v] of [...design.files].sort()) h.update(k).update('\0').update(v).update('\0');
  return path.join(CACHE, `${id}-${target}-${h.digest('hex').slice(0, 16)}.json`);
}

/** Synthesizes (or reads from the cache) one design for one target. */
export async function synthCached(id, design, target, log = () => {}) {
  const file = await cacheKey(id, design, target);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  log(`${id} ${target}: synthesizing`);
  const r = await synthesize({ files: design.files, top: design.top }, { target });
  fs.mkdirSync(CACHE, { recursive: true });
  writeFileAtomic(file, JSON.stringify(r) + '\n');
  return r;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const reverse = args[0] === '--reverse';
  const only = new Set(reverse ? args.slice(1) : args);
  const all = [...SWEEP, ...TABLE2];
  for (const s of reverse ? [...all].reverse() : all) {
    if (only.size && !only.has(s.id)) continue;
    const d = emitUnitDesign(s.config);
    for (const target of ['asic', 'xilinx']) {
      const t0 = Date.now();
      const r = await synthCached(s.id, d, target, console.log);
      const t = r.total;
      console.log(s.id, target, `${((Date.now() - t0) / 1000).toFixed(1)} s`, t.xilinx ? `LUT ${t.xilinx.luts} DSP ${t.xilinx.dsp} est ${d.estimate.luts}` : `µm² ${t.asic.areaUm2}`);
    }
  }
}
