#!/usr/bin/env node
/**
 * Training speed and memory of STE fine-tuning on onnxruntime-node: fmnist-cnn quantized to
 * W1.4 (Middle-Out), batches of 128, 2 onnxruntime threads (defaults), a few epochs on a
 * slice of Fashion-MNIST. Reports samples/s (training steps only, no evaluation), the split
 * between onnxruntime (forward + backward) and TypeScript (batching, re-binarization, STE,
 * optimizer), the resident and heap memory after every epoch (no growth = no leak) and the
 * peak resident memory. A benchmark, not a test.
 *
 *   npx tsc && node bench/train-speed.mjs [--epochs 3] [--limit 12800] [--batch 128] [--threads 2] [--float] [--torch]
 *
 * --float   also time float training (trainFloat) of the same model
 * --torch   also time the same network and optimizer in PyTorch on CPU, when /usr/bin/python3
 *           can import torch (Debian: apt install python3-torch; not a dependency)
 * --json F  write the results as JSON (default bench/out/train-speed.json)
 *
 * Imports the compiled package from dist/ (or from the folder named by HBNN_DIST).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.resolve(process.env.HBNN_DIST ?? path.join(ROOT, 'dist'));
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
const { loadModel } = await load('src/onnx/io.js');
const { quantize } = await load('src/quant/quantize.js');
const { loadDataset, FMNIST_NORMALIZATION } = await load('src/data/index.js');
const { fineTune, trainFloat } = await load('src/train/index.js');

function parseArgs(argv) {
  const a = { epochs: 3, limit: 12800, batch: 128, threads: 2, float: false, torch: false, json: 'bench/out/train-speed.json' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--epochs') a.epochs = Number(v());
    else if (k === '--limit') a.limit = Number(v());
    else if (k === '--batch') a.batch = Number(v());
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '--float') a.float = true;
    else if (k === '--torch') a.torch = true;
    else if (k === '--json') a.json = v();
    else throw new Error(`unknown argument ${k} (see the comment at the top of bench/train-speed.mjs)`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const modelPath = [path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx'), '/work/shared/models/fmnist-cnn.onnx'].find((f) => fs.existsSync(f));
const train = loadDataset('fmnist:train', { normalize: FMNIST_NORMALIZATION, limit: args.limit });
const mb = (b) => Math.round((b / 2 ** 20) * 10) / 10;

async function timed(label, fn) {
  const memory = [];
  const onProgress = (e) => {
    if (e.type !== 'epoch') return;
    global.gc?.();
    const m = process.memoryUsage();
    const r = e.record;
    const sps = r.samples / ((r.ortMs + r.jsMs) / 1000);
    memory.push({ epoch: r.epoch, rssMiB: mb(m.rss), heapUsedMiB: mb(m.heapUsed), externalMiB: mb(m.external + m.arrayBuffers) });
    console.log(
      `${label} epoch ${r.epoch}: ${r.steps} steps, ${sps.toFixed(0)} samples/s (onnxruntime ${(r.ortMs / r.steps).toFixed(1)} ms/step, TypeScript ${(r.jsMs / r.steps).toFixed(1)} ms/step = ${((100 * r.jsMs) / (r.ortMs + r.jsMs)).toFixed(1)}%), loss ${r.trainLoss.toFixed(4)}, rss ${mb(m.rss)} MiB, heap ${mb(m.heapUsed)} MiB`,
    );
  };
  const t0 = performance.now();
  const res = await fn(onProgress);
  const wall = performance.now() - t0;
  const eps = res.log.epochs;
  const samples = eps.reduce((s, r) => s + r.samples, 0);
  const ort = eps.reduce((s, r) => s + r.ortMs, 0);
  const js = eps.reduce((s, r) => s + r.jsMs, 0);
  // first epoch includes session warm-up; report the steady state from the later epochs too
  const later = eps.slice(1);
  const laterSps = later.length ? later.reduce((s, r) => s + r.samples, 0) / (later.reduce((s, r) => s + r.ortMs + r.jsMs, 0) / 1000) : undefined;
  return {
    label,
    epochs: eps.length,
    samples,
    samplesPerSec: Math.round(samples / ((ort + js) / 1000)),
    steadySamplesPerSec: laterSps ? Math.round(laterSps) : undefined,
    ortMsPerStep: Math.round((ort / eps.reduce((s, r) => s + r.steps, 0)) * 10) / 10,
    jsMsPerStep: Math.round((js / eps.reduce((s, r) => s + r.steps, 0)) * 10) / 10,
    jsShare: Math.round((1000 * js) / (ort + js)) / 10,
    wallMs: Math.round(wall),
    memory,
  };
}

const results = { date: new Date().toISOString(), node: process.version, args, runs: [] };
const common = { batchSize: args.batch, threads: args.threads, epochs: args.epochs, seed: 0, evalBefore: false };
const q = loadModel(modelPath);
await quantize(q, { avgBits: 1.4, heuristic: 'middle-out' });
results.runs.push(await timed('W1.4 middle-out fine-tune', (onProgress) => fineTune(q, train, { ...common, latentFrom: loadModel(modelPath), onProgress })));
if (args.float) results.runs.push(await timed('float train', (onProgress) => trainFloat(loadModel(modelPath), train, { ...common, onProgress })));
results.peakRssMiB = mb(process.resourceUsage().maxRSS * 1024);

if (args.torch) {
  const py = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT(), String(args.batch), String(args.threads), String(Math.min(args.limit, 50 * args.batch))], { encoding: 'utf8' });
  if (py.status === 0) {
    const r = JSON.parse(py.stdout.trim().split('\n').pop());
    results.runs.push({ label: 'PyTorch CPU (float, same network)', ...r });
    console.log(`PyTorch ${r.torch}: ${r.samplesPerSec} samples/s float training, ${args.threads} threads`);
  } else {
    console.log(`PyTorch comparison skipped: /usr/bin/python3 cannot run it (${(py.stderr || '').trim().split('\n').pop()})`);
  }
}

console.log(`peak resident memory ${results.peakRssMiB} MiB`);
for (const r of results.runs) console.log(JSON.stringify(r));
fs.mkdirSync(path.dirname(path.resolve(ROOT, args.json)), { recursive: true });
fs.writeFileSync(path.resolve(ROOT, args.json), JSON.stringify(results, null, 1) + '\n');

/** The same CNN as fmnist-cnn, float training with SGD(0.01, 0.9, wd 1e-4) on random data (speed only). */
function TORCH_SCRIPT() {
  return `
import sys, time, json, torch, torch.nn as nn
batch, threads, samples = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads); torch.manual_seed(0)
def block(i, o): return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
net = nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 128), nn.Flatten(), nn.Linear(1152, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(samples, 1, 28, 28); y = torch.randint(0, 10, (samples,))
loss_fn = nn.CrossEntropyLoss()
def epoch():
    for s in range(0, samples, batch):
        opt.zero_grad(); loss = loss_fn(net(x[s:s+batch]), y[s:s+batch]); loss.backward(); opt.step()
epoch()  # warm-up
t = time.perf_counter(); epoch(); dt = time.perf_counter() - t
print(json.dumps({"torch": torch.__version__, "samplesPerSec": round(samples / dt), "threads": threads, "batch": batch}))
`;
}
