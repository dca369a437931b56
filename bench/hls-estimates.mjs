#!/usr/bin/env node
/**
 * FPGA estimates of FINN's CNV (CIFAR-10 VGG-8) at 1, 1.2 and 1.4 average weight bits
 * (Middle-Out, 1-bit activations, 8-bit input pixels as FINN) beside the HBNN paper's Table 2,
 * and of the Fashion-MNIST CNN designs; writes the tables into docs/fpga-results.md between
 * the TABLES markers (the hand-written text around them is kept) and the numbers to
 * bench/out/hls-estimates.json.
 *
 *   npx tsc && node bench/hls-estimates.mjs [--out docs/fpga-results.md] [--json FILE]
 *
 * HBNN_DIST=path/to/dist selects another build of the package (default ./dist).
 * CNV has random weights (estimates depend on the topology and bit widths only); its
 * activations are calibrated on random CIFAR-shaped samples.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, lib, zoo, internal, writeJson } from './lib.mjs';

const { buildCnv } = zoo;
const { quantize, writeNpy, loadModel } = lib;
const { planVivadoHls, bnnPynqCnvFolding, REFERENCES } = await internal('src/backends/vivado-hls/index.js');
const { writeFileAtomic } = lib;

const MARKERS = ['<!-- TABLES:START (bench/hls-estimates.mjs) -->', '<!-- TABLES:END -->'];
const CNV_LOWERING = { inputBits: 8, inputFrac: 5 };

function parseArgs(argv) {
  const a = { out: 'docs/fpga-results.md', json: 'bench/out/hls-estimates.json' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--out') a.out = argv[++i];
    else if (k === '--json') a.json = argv[++i];
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

function randomCifar(file, count = 16, seed = 7) {
  const data = new Float32Array(count * 3 * 32 * 32);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  writeNpy(file, { dtype: 'float32', shape: [count, 3, 32, 32], data });
  return `npy:${file}`;
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const k = (fps) => (fps / 1000).toFixed(fps >= 10_000 ? 1 : 2);

function row(label, folding, e) {
  const b = { lanes: 0, perPe: 0, combine: 0, memory: 0 };
  for (const s of e.stages) if (s.breakdown) for (const key of Object.keys(b)) b[key] += s.breakdown[key];
  return {
    label,
    folding,
    fps: e.total.fps,
    cycles: e.total.cycles,
    luts: e.total.luts,
    lutPercent: e.total.lutPercent,
    lutsDense: e.total.lutsDense,
    lutsIdeal: e.total.lutsIdeal,
    lanes: b.lanes,
    perPe: b.perPe,
    combine: b.combine,
    memory: b.memory,
    bram18: e.total.bram18,
    dsp: e.total.dsp,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-hls-est-'));
  const calib = randomCifar(path.join(tmp, 'cifar.npy'));
  const rows = [];
  const t0 = performance.now();
  // Per-weight bit maps (the paper's Middle-Out), then one bitwidth per output row
  // (`--granularity row`), whose rows the backend groups on the PEs.
  for (const [bits, granularity] of [[1, 'entry'], [1.2, 'entry'], [1.4, 'entry'], [1.2, 'row'], [1.4, 'row']]) {
    const m = buildCnv();
    await quantize(m, { avgBits: bits, heuristic: 'middle-out', granularity, actBits: 1, calibData: calib, calibLimit: 16 });
    const label = `W${bits}A1${granularity === 'row' ? ' per row' : ''}`;
    const units = planVivadoHls(m, { lowering: CNV_LOWERING }).design.units;
    const bnn = planVivadoHls(m, { lowering: CNV_LOWERING, folding: bnnPynqCnvFolding(units) });
    rows.push(row(label, 'BNN-PYNQ', bnn.estimates));
    const finn = planVivadoHls(m, { lowering: CNV_LOWERING, targetFps: REFERENCES.finnCnvZc706.fps });
    rows.push(row(label, 'for 21,906 FPS', finn.estimates));
    const paper = REFERENCES.paperTable2.find((p) => p.bits === bits);
    if (bits !== 1 && paper) {
      const slow = planVivadoHls(m, { lowering: CNV_LOWERING, targetFps: paper.kfps * 1000 });
      rows.push(row(label, `for ${fmt(paper.kfps * 1000)} FPS (paper's)`, slow.estimates));
    }
    if (bits === 1) rows.push({ ...row('W1A1', 'BNN-PYNQ', bnn.estimates), label: 'W1A1 @ 100 MHz', fps: bnn.estimates.total.fps / 2 });
  }
  // Fashion-MNIST CNN (the csim designs), default target.
  const fm = [];
  for (const [name, acts, granularity] of [
    ['W1.4', {}, 'entry'],
    ['W1.4A1.4', { actBits: 1.4 }, 'entry'],
    ['W1.4 per row', {}, 'row'],
    ['W1.4A1.4 per row', { actBits: 1.4 }, 'row'],
  ]) {
    const m = loadModel(path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx'));
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', granularity, normalize: 'fmnist', ...acts });
    for (const target of [5_000, 50_000]) {
      const p = planVivadoHls(m, { targetFps: target });
      fm.push({ ...row(name, '', p.estimates), target: `${fmt(target)} FPS`, folding: Object.values(p.folding.layers).map((f) => `${f.pe}/${f.simd}`).join(', ') });
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });

  const paperRows = REFERENCES.paperTable2.map((p) => `| paper Table 2 | W${p.bits}A1 | scaled from FINN | ${p.kfps} | | | ${p.lutPercent}% | | | | | |`);
  // LUTs relative to the 1-bit design with the same folding (BNN-PYNQ, for 21,906 FPS), or to the 1-bit design for 21,906 FPS (paper's throughputs).
  const base = (r) => rows.find((x) => x.label === 'W1A1' && (r.folding === 'BNN-PYNQ' ? x.folding === 'BNN-PYNQ' : x.folding === 'for 21,906 FPS'));
  const ratio = (r) => (r.label.startsWith('W1A1') ? '1' : `${(r.luts / base(r).luts).toFixed(2)}× (${(r.lutsIdeal / base(r).lutsIdeal).toFixed(2)}×)`);
  const cnvTable = [
    '| source | config | folding | kFPS @ 200 MHz | cycles / frame | LUTs | LUT % of ZC706 | × 1-bit LUTs (if lanes followed the bits) | LUTs if lanes followed the bits | lanes / per-PE / combiners / memory LUTs | BRAM18 | DSP |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| FINN (published) | W1A1 | CNV-max | ${REFERENCES.finnCnvZc706.fps / 1000} | | ${fmt(REFERENCES.finnCnvZc706.luts)} | ${REFERENCES.finnCnvZc706.lutPercent}% | | | | | |`,
    `| BNN-PYNQ (measured, PYNQ-Z1) | W1A1 | BNN-PYNQ | ≈3 @ 100 MHz | 32,768 | ${fmt(REFERENCES.bnnPynqCnvW1A1.luts)} | (49.0% of Z7020) | | | | ${REFERENCES.bnnPynqCnvW1A1.bram18} | ${REFERENCES.bnnPynqCnvW1A1.dsp} |`,
    ...paperRows,
    ...rows.map((r) => `| ours (estimate) | ${r.label} | ${r.folding} | ${k(r.fps)} | ${fmt(r.cycles)} | ${fmt(r.luts)} | ${r.lutPercent}% | ${ratio(r)} | ${fmt(r.lutsIdeal)} | ${fmt(r.lanes)} / ${fmt(r.perPe)} / ${fmt(r.combine)} / ${fmt(r.memory)} | ${r.bram18} | ${r.dsp} |`),
  ].join('\n');
  const fmTable = [
    '| config | target | PE/SIMD (c1, c2, c3, fc) | kFPS @ 200 MHz | LUTs | LUT % of ZC706 | LUTs if lanes followed the bits | BRAM18 | DSP |',
    '|---|---|---|---|---|---|---|---|---|',
    ...fm.map((r) => `| ${r.label} | ${r.target} | ${r.folding} | ${k(r.fps)} | ${fmt(r.luts)} | ${r.lutPercent}% | ${fmt(r.lutsIdeal)} | ${r.bram18} | ${r.dsp} |`),
  ].join('\n');
  const block = `${MARKERS[0]}\n\n### CNV (CIFAR-10 VGG-8) on the ZC706 (XC7Z045, 218,600 LUTs)\n\n${cnvTable}\n\n### Fashion-MNIST CNN (the C-simulated designs), ZC706\n\n${fmTable}\n\nGenerated by \`node bench/hls-estimates.mjs\` in ${((performance.now() - t0) / 1000).toFixed(0)} s.\n\n${MARKERS[1]}`;
  const out = path.resolve(ROOT, args.out);
  let doc = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : `# FPGA results\n\n${block}\n`;
  const a = doc.indexOf(MARKERS[0]);
  const b = doc.indexOf(MARKERS[1]);
  doc = a >= 0 && b > a ? doc.slice(0, a) + block + doc.slice(b + MARKERS[1].length) : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileAtomic(out, doc);
  writeJson(args.json, { cnv: rows, fmnist: fm });
  console.log(cnvTable);
  console.log();
  console.log(fmTable);
  console.log(`\nwrote ${path.relative(ROOT, out)} and ${path.relative(ROOT, json)}`);
}

await main();
