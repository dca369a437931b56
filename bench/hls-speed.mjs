#!/usr/bin/env node
/**
 * Speed of the generated HLS C++ run as plain software: the Vivado HLS project for the
 * quantized Fashion-MNIST CNN (W1.4 and W1.4A1.4, Middle-Out), compiled with g++ -O3,
 * classifying the Fashion-MNIST test set in its testbench (time inside the top function
 * only) — beside onnxruntime running the float model on the same images and machine
 * (batch 1 and batch 256), and the bit-level IR interpreter (TypeScript).
 *
 *   npx tsc && node bench/hls-speed.mjs [--limit 10000] [--native] [--doc docs/fpga-results.md] [--render-only]
 *
 * --native adds -march=native. HBNN_DIST=path/to/dist selects another build (default ./dist).
 * Results: stdout, bench/out/hls-speed.json, and the table between the SPEED markers of the
 * doc (--render-only rewrites that table from the JSON without running anything).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, lib, parseArgs, FMNIST_CNN, FMNIST_CNN_CONFIGS, fmnistImages, writeJson } from './lib.mjs';

const { loadModel, quantize, loadDataset, FMNIST_NORMALIZATION, lowerVivadoHls, runCsim, interpret, createSession, runSession, float32Tensor, writeFilesAtomic, writeFileAtomic } = lib;

const MODEL = FMNIST_CNN;
const CONFIGS = FMNIST_CNN_CONFIGS.filter((c) => c.name === 'W1.4' || c.name === 'W1.4A1.4');
// Two foldings: FINN-style for 5,000 FPS at 200 MHz, and one tile per row (SIMD = MW),
// which runs fastest as software (fewest loop iterations).
const FOLDINGS = [
  { name: 'for 5,000 FPS', opts: { targetFps: 5_000 } },
  { name: 'SIMD = MW', opts: { folding: { layers: { '/c1/Conv': { pe: 32, simd: 9 }, '/c2/Conv': { pe: 8, simd: 288 }, '/c3/Conv': { pe: 8, simd: 576 }, '/fc/Gemm': { pe: 10, simd: 1152 } } } } },
];

async function ortSpeed(ds, batch) {
  const session = await createSession(loadModel(MODEL));
  const per = 28 * 28;
  const name = session.inputNames[0];
  let ms = 0;
  let correct = 0;
  for (let s = 0; s < ds.count; s += batch) {
    const n = Math.min(batch, ds.count - s);
    const feed = { [name]: float32Tensor(ds.images.subarray(s * per, (s + n) * per), [n, 1, 28, 28]) };
    const t0 = performance.now();
    const out = await runSession(session, feed);
    ms += performance.now() - t0;
    const logits = Object.values(out)[0].data;
    for (let i = 0; i < n; i++) {
      let b = 0;
      for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + b]) b = c;
      if (b === ds.labels[s + i]) correct++;
    }
  }
  await session.release();
  return { imagesPerSecond: (ds.count / ms) * 1000, accuracy: correct / ds.count };
}

const MARKERS = ['<!-- SPEED:START -->', '<!-- SPEED:END -->'];

/** Writes the results table between the SPEED markers of the doc (text around them is kept). */
function render(result, docFile) {
  const table = [
    `${result.images.toLocaleString('en-US')} images, ${result.cpu}.`,
    '',
    '| what | images/s |',
    '|---|---|',
    ...result.rows.map((r) => `| ${r.what}${r.accuracy !== undefined ? ` (accuracy ${(100 * r.accuracy).toFixed(2)}%)` : ''}${r.bitExact === false ? ' — MISMATCH' : ''} | ${r.imagesPerSecond >= 100 ? Math.round(r.imagesPerSecond).toLocaleString('en-US') : r.imagesPerSecond.toFixed(1)} |`),
  ].join('\n');
  const block = `${MARKERS[0]}\n\n${table}\n\n${MARKERS[1]}`;
  if (!fs.existsSync(docFile)) return;
  let doc = fs.readFileSync(docFile, 'utf8');
  const a = doc.indexOf(MARKERS[0]);
  const b = doc.indexOf(MARKERS[1]);
  if (a < 0 || b < a) return;
  doc = doc.slice(0, a) + block + doc.slice(b + MARKERS[1].length);
  writeFileAtomic(docFile, doc);
  console.log(`\n${table}\n\nwrote ${path.relative(ROOT, docFile)}`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { limit: 10_000, native: false, doc: 'docs/fpga-results.md', renderOnly: false });
  const jsonFile = path.join(ROOT, 'bench/out/hls-speed.json');
  if (args.renderOnly) return render(JSON.parse(fs.readFileSync(jsonFile, 'utf8')), path.resolve(ROOT, args.doc));
  const ds = fmnistImages(args.limit);
  const rows = [];
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`${ds.count} Fashion-MNIST test images on ${cpu} (${os.cpus().length} cores visible)\n`);
  for (const batch of [1, 256]) {
    const r = await ortSpeed(ds, batch);
    rows.push({ what: `onnxruntime, float model, batch ${batch}`, ...r });
    console.log(`onnxruntime float, batch ${batch}: ${r.imagesPerSecond.toFixed(0)} images/s (accuracy ${(100 * r.accuracy).toFixed(2)}%)`);
  }
  for (const c of CONFIGS) {
    const m = loadModel(MODEL);
    await quantize(m, c.opts);
    for (const f of FOLDINGS) {
      const r = lowerVivadoHls(m, { ...f.opts, testData: ds.images, testSamples: ds.count, accSamples: 0 });
      const dir = path.join(ROOT, 'bench/out/hls-speed', `${c.name}-${f.name.replace(/[^A-Za-z0-9]+/g, '-')}`);
      fs.rmSync(dir, { recursive: true, force: true });
      writeFilesAtomic(dir, r.files);
      const sim = await runCsim(dir, { optLevel: 'O3', ...(args.native ? { flags: ['-march=native'] } : {}) });
      const row = { what: `generated HLS C++ (g++ -O3${args.native ? ' -march=native' : ''}), ${c.name}, ${f.name}`, imagesPerSecond: sim.summary?.samplesPerSecond ?? 0, bitExact: sim.ok };
      rows.push(row);
      console.log(`HLS C++ ${c.name} (${f.name}): ${row.imagesPerSecond.toFixed(1)} images/s, ${sim.ok ? 'bit-exact with the interpreter' : 'MISMATCH'} (compile ${(sim.compileMs / 1000).toFixed(1)} s)`);
      if (f === FOLDINGS[0]) {
        // The interpreter on (at most) the first 1,000 images: its speed does not depend on the count.
        const n = Math.min(ds.count, 1000);
        const t0 = performance.now();
        interpret(r.program, ds.images, { limit: n });
        const ips = (n / (performance.now() - t0)) * 1000;
        rows.push({ what: `bit-level IR interpreter (TypeScript), ${c.name}`, imagesPerSecond: ips });
        console.log(`bit-level IR interpreter ${c.name}: ${ips.toFixed(0)} images/s`);
      }
    }
  }
  const result = { images: ds.count, cpu, rows };
  writeJson(jsonFile, result);
  render(result, path.resolve(ROOT, args.doc));
}

await main();
