#!/usr/bin/env node
/**
 * Regenerates the bundled data fixtures:
 *   fixtures/fmnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
 *     the first 4000 training and first 2000 test samples of Fashion-MNIST, cut at the byte
 *     level from the Debian package dataset-fashion-mnist (or $HBNN_FMNIST_DIR);
 *   fixtures/models/fmnist-{cnn,mlp}.onnx
 *     copied from $HBNN_MODELS_DIR (default: the folder shared/models beside the repository)
 *     when that folder exists, with the input normalization record added (metadata_props
 *     hbnn.input_normalization = the Fashion-MNIST normalization, docs/format.md §5.3) by the
 *     project's own ONNX writer (needs a build: npx tsc -p tsconfig.json).
 *
 * Output is deterministic: gzip level 9, mtime 0, no file name, OS byte 255. Rerunning on the
 * same Node/zlib gives byte-identical files. `--check` compares instead of writing and exits 1
 * on any difference.
 *
 * Usage: node scripts/make-fixtures.mjs [--check] [--models-only]
 *   --models-only: the two models only (no Fashion-MNIST dataset needed)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const modelsOnly = process.argv.includes('--models-only');
const srcDir = process.env.HBNN_FMNIST_DIR || '/usr/share/datasets/fashion-mnist';
const modelsDir = process.env.HBNN_MODELS_DIR || path.resolve(root, '..', 'shared', 'models');

const SLICES = [
  { prefix: 'train', count: 4000 },
  { prefix: 't10k', count: 2000 },
];

function readIdxRaw(file) {
  if (!fs.existsSync(file)) {
    console.error(`missing ${file}: apt-get install dataset-fashion-mnist, or set HBNN_FMNIST_DIR`);
    process.exit(2);
  }
  const buf = fs.readFileSync(file);
  return buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf;
}

/** The first `count` records of an IDX file, header rewritten, bytes otherwise untouched. */
function sliceIdx(raw, count, file) {
  const rank = raw[3];
  const dims = [];
  for (let k = 0; k < rank; k++) dims.push(raw.readUInt32BE(4 + 4 * k));
  const elemSize = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[raw[2]];
  if (raw[0] !== 0 || raw[1] !== 0 || elemSize === undefined) throw new Error(`${file}: not an IDX file`);
  if (dims[0] < count) throw new Error(`${file}: has ${dims[0]} records, fewer than ${count}`);
  const header = 4 + 4 * rank;
  const perRecord = dims.slice(1).reduce((a, b) => a * b, 1) * elemSize;
  const out = Buffer.from(raw.subarray(0, header + count * perRecord));
  out.writeUInt32BE(count, 4);
  return out;
}

function deterministicGzip(bytes) {
  const gz = Buffer.from(gzipSync(bytes, { level: 9 }));
  gz.fill(0, 4, 8); // MTIME
  gz[9] = 0xff; // OS: unknown (zlib writes a platform-specific code)
  return gz;
}

const outputs = new Map();
for (const { prefix, count } of modelsOnly ? [] : SLICES) {
  for (const kind of ['images-idx3', 'labels-idx1']) {
    const name = `${prefix}-${kind}-ubyte.gz`;
    const raw = readIdxRaw(path.join(srcDir, name));
    outputs.set(path.join('fixtures', 'fmnist', name), deterministicGzip(sliceIdx(raw, count, name)));
  }
}
const { decodeModel, encodeModel } = await import('../dist/src/onnx/io.js');
const { writeNormalizationRecord } = await import('../dist/src/data/normalization.js');
const { FMNIST_NORMALIZATION } = await import('../dist/src/data/dataset.js');
for (const model of ['fmnist-cnn.onnx', 'fmnist-mlp.onnx']) {
  const src = path.join(modelsDir, model);
  if (fs.existsSync(src)) {
    // The models expect pixel/255, then (x - 0.286) / 0.353 (fixtures/models/README.md).
    const m = decodeModel(fs.readFileSync(src), { file: src });
    writeNormalizationRecord(m, FMNIST_NORMALIZATION);
    outputs.set(path.join('fixtures', 'models', model), Buffer.from(encodeModel(m)));
  } else console.warn(`note: ${src} not found; leaving fixtures/models/${model} as it is`);
}

let differ = 0;
for (const [rel, bytes] of outputs) {
  const dest = path.join(root, rel);
  const same = fs.existsSync(dest) && Buffer.compare(fs.readFileSync(dest), bytes) === 0;
  if (check) {
    console.log(`${same ? 'same  ' : 'DIFFER'} ${rel}`);
    if (!same) differ++;
  } else if (!same) {
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, bytes);
    console.log(`wrote ${rel} (${bytes.length} bytes)`);
  } else {
    console.log(`unchanged ${rel}`);
  }
}
if (differ > 0) process.exit(1);
