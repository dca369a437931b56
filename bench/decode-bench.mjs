#!/usr/bin/env node
/**
 * Image decoding benchmark: is `eval` over a folder of JPEGs limited by decoding?
 *
 *   npx tsc -p tsconfig.json && node bench/decode-bench.mjs [--images 160] [--decode-workers 1,N]
 *       [--batch 32] [--size 500x375] [--dir DIR] [--keep] [--json FILE]
 *
 * Generates --images photo-like JPEGs (default 500×375, the typical ImageNet size; smooth
 * gradients, edges and noise, quality 90, jpeg-js) in an image folder of 10 classes, then in
 * one run measures, in images/s:
 *   - decoding alone (decodeImage: mozjpeg compiled to WebAssembly, this thread);
 *   - the streamed folder: source with the imagenet preset (decode, resize 256, crop 224,
 *     normalize) with 0 workers (this thread) and each --decode-workers count (default 1 and the
 *     default count, CPU count − 1 up to 8, at least 2);
 *   - the baseline: onnxruntime's inference rate of an AlexNet-sized model (buildAlexNet of zoo/topologies.ts,
 *     61.1 M parameters, 224×224 input, batch --batch, onnxruntime's default threads) on
 *     in-memory inputs;
 *   - eval end to end: the same model fed from the streamed folder with the default workers.
 * It also checks that every worker count gave the same samples (byte for byte). Figures are
 * wall-clock, best of --reps (default 2) passes after a warm-up. Not a test; prints figures.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { lib, zoo } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const data = lib;
const infer = lib;
const jpeg = createRequire(import.meta.url)('jpeg-js');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const count = Number(opt('--images', '160'));
const batch = Number(opt('--batch', '32'));
const reps = Number(opt('--reps', '2'));
const [W, H] = opt('--size', '500x375').split('x').map(Number);
const dflt = data.defaultDecodeWorkers();
// Default: 1 worker and the default count (at least 2, so that the scaling shows even on 2 cores).
const workerCounts = [...new Set(opt('--decode-workers', `1,${Math.max(2, dflt)}`).split(',').map((s) => (s === 'N' ? dflt : Number(s))))];
const dir = opt('--dir', undefined) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-decode-bench-'));
const keep = args.includes('--keep') || opt('--dir', undefined) !== undefined;
const jsonOut = opt('--json', undefined);

/** A deterministic photo-like RGB image: smooth gradients, a few hard-edged shapes, sensor noise. */
function photo(w, h, seed) {
  let a = seed >>> 0;
  const rnd = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 4294967296;
  };
  const px = new Uint8Array(w * h * 4);
  const f = [rnd() * 0.05, rnd() * 0.05, rnd() * 0.05];
  const boxes = Array.from({ length: 6 }, () => [rnd() * w, rnd() * h, rnd() * w * 0.4, rnd() * h * 0.4, rnd() * 255]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      let base = 0;
      for (const [bx, by, bw, bh, v] of boxes) if (x >= bx && x < bx + bw && y >= by && y < by + bh) base = v;
      for (let c = 0; c < 3; c++) {
        const g = 127 + 100 * Math.sin(f[c] * (x + 2 * y) + c);
        px[i + c] = Math.max(0, Math.min(255, Math.round(0.6 * g + 0.4 * base + (rnd() - 0.5) * 24)));
      }
      px[i + 3] = 255;
    }
  }
  return px;
}

function generate() {
  const files = [];
  for (let i = 0; i < count; i++) {
    const f = path.join(dir, `class${i % 10}`, `img${String(i).padStart(5, '0')}.jpg`);
    files.push(f);
    if (fs.existsSync(f)) continue;
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, jpeg.encode({ data: photo(W, H, i + 1), width: W, height: H }, 90).data);
  }
  return files;
}

const best = (xs) => Math.min(...xs);

/** Wall ms of the best pass after a warm-up, and the process CPU ms (all threads) of that pass. */
async function timeIt(fn) {
  await fn(); // warm-up
  let bestMs = Infinity;
  let cpuMs = 0;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (ms < bestMs) {
      bestMs = ms;
      cpuMs = (c.user + c.system) / 1000;
    }
  }
  return { ms: bestMs, cpuMs };
}

async function main() {
  const t0 = performance.now();
  const files = generate();
  const bytes = files.reduce((s, f) => s + fs.statSync(f).size, 0);
  console.log(`${count} JPEGs of ${W}x${H} (quality 90, ${(bytes / count / 1024).toFixed(0)} KiB each) in ${dir}, ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), availableParallelism ${os.availableParallelism()}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; node ${process.version}`);
  const rows = [];
  const rate = (t, n = count) => (n * 1000) / t.ms;
  const cpu = (t, n = count) => t.cpuMs / n;

  // 1. decoding alone, this thread
  const raw = files.map((f) => fs.readFileSync(f));
  const decMs = await timeIt(() => raw.forEach((b, i) => data.decodeImage(b, files[i])));
  rows.push({ what: 'decode only (mozjpeg WebAssembly), this thread', imagesPerS: rate(decMs), cpuMsPerImage: cpu(decMs) });

  // 2. the streamed folder with the imagenet preset
  const spec = `folder:${dir}:imagenet`;
  const hashes = new Map();
  for (const workers of [0, ...workerCounts]) {
    const once = async () => {
      const src = await data.openDataSource(spec, { decodeWorkers: workers });
      const h = crypto.createHash('sha256');
      try {
        for await (const b of src.batches(batch)) h.update(new Uint8Array(b.images.buffer, b.images.byteOffset, b.images.byteLength));
      } finally {
        await src.close();
      }
      hashes.set(workers, h.digest('hex'));
    };
    const ms = await timeIt(once);
    rows.push({ what: `folder:…:imagenet streamed, ${workers === 0 ? 'this thread (0 workers)' : `${workers} worker${workers > 1 ? 's' : ''}`}`, workers, imagesPerS: rate(ms), cpuMsPerImage: cpu(ms) });
  }
  const same = new Set(hashes.values()).size === 1;

  // 3. baseline: onnxruntime AlexNet on in-memory inputs
  const model = zoo.buildAlexNet();
  const per = 3 * 224 * 224;
  const n = Math.max(batch * 2, Math.min(count, batch * 4));
  const images = new Float32Array(n * per);
  for (let i = 0; i < images.length; i++) images[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  const mem = data.dataSourceOf({ name: 'random', count: n, sampleShape: [3, 224, 224], images });
  const ortMs = await timeIt(() => infer.forEachBatch(model, mem, [model.graph.outputs[0].name], { batchSize: batch }, () => {}));
  const ort = rate(ortMs, n);
  rows.push({ what: `onnxruntime AlexNet-sized (61.1 M params), batch ${batch}, in-memory inputs`, imagesPerS: ort, cpuMsPerImage: cpu(ortMs, n) });

  // 4. eval end to end: the model fed from the streamed folder
  const e2eMs = await timeIt(async () => {
    const src = await data.openDataSource(spec, { decodeWorkers: dflt });
    try {
      await infer.forEachBatch(model, src, [model.graph.outputs[0].name], { batchSize: batch }, () => {});
    } finally {
      await src.close();
    }
  });
  const e2e = rate(e2eMs);
  rows.push({ what: `AlexNet fed from the folder (${dflt} decode worker${dflt > 1 ? 's' : ''}), end to end`, imagesPerS: e2e, cpuMsPerImage: cpu(e2eMs) });

  const w = Math.max(...rows.map((r) => r.what.length));
  console.log('');
  console.log(`${'measurement'.padEnd(w)}  ${'images/s'.padStart(8)}  ${'CPU ms/image'.padStart(12)}  vs onnxruntime`);
  for (const r of rows) {
    console.log(`${r.what.padEnd(w)}  ${r.imagesPerS.toFixed(1).padStart(8)}  ${r.cpuMsPerImage.toFixed(1).padStart(12)}  ${r.imagesPerS !== ort ? `${(r.imagesPerS / ort).toFixed(2)}×` : ''}`);
  }
  const dec1 = rows.find((r) => r.workers === 0);
  const ortRow = rows.find((r) => r.imagesPerS === ort);
  console.log(
    `CPU per image: decoding + imagenet preprocessing ${dec1.cpuMsPerImage.toFixed(1)} ms, onnxruntime AlexNet ${ortRow.cpuMsPerImage.toFixed(1)} ms: ` +
      `to keep up, decoding needs ${(dec1.cpuMsPerImage / ortRow.cpuMsPerImage).toFixed(2)} cores per core onnxruntime uses`,
  );
  console.log('');
  console.log(`samples identical for 0, ${workerCounts.join(', ')} workers: ${same ? 'yes' : 'NO'}`);
  const bestDecode = Math.max(...rows.filter((r) => r.workers !== undefined).map((r) => r.imagesPerS));
  console.log(
    bestDecode >= ort
      ? `decoding (best ${bestDecode.toFixed(1)} images/s) keeps up with onnxruntime (${ort.toFixed(1)} images/s) on this machine`
      : `decoding (best ${bestDecode.toFixed(1)} images/s) is slower than onnxruntime (${ort.toFixed(1)} images/s) on this machine: eval is decode-bound here`,
  );
  console.log(`end to end ${e2e.toFixed(1)} images/s = ${((100 * e2e) / ort).toFixed(0)}% of onnxruntime alone`);
  if (jsonOut) {
    fs.writeFileSync(jsonOut, JSON.stringify({ images: count, size: [W, H], batch, cpus: os.cpus().length, node: process.version, rows, ortImagesPerS: ort, endToEnd: e2e, identical: same }, null, 2) + '\n');
  }
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  await lib.releaseBinarizeWorkers?.();
}

await main();
