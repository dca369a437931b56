/**
 * The one way benches reach the package: its public entry (dist/src/index.js, docs/api.md)
 * and the reference topologies that tests and benches share (zoo/topologies.ts, compiled to
 * dist/zoo/; not part of the public API). Build first: npx tsc -p tsconfig.json.
 *
 * A bench of something the public entry does not export (the HLS C simulation runner, the
 * training-graph builder, ...) names that module with `internal(rel)`, so every reach into
 * dist internals is visible here by its name.
 *
 * Also shared here: `parseArgs` (a bench's flags from their defaults), the bundled CNN and
 * the configurations the hardware benches quantize it with (`FMNIST_CNN`,
 * `FMNIST_CNN_CONFIGS`), and `fmnistImages(limit)`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The compiled package: dist/, or the build HBNN_DIST names (a baseline build to compare against). */
export const DIST = path.resolve(ROOT, process.env.HBNN_DIST ?? 'dist');

async function load(rel) {
  try {
    return await import(pathToFileURL(path.join(DIST, rel)).href);
  } catch (e) {
    console.error(`cannot import dist/${rel}: ${e.message.split('\n')[0]}\nBuild first: npx tsc -p tsconfig.json`);
    process.exit(2);
  }
}

/** The public API (src/index.ts). */
export const lib = await load('src/index.js');

/** Writes a bench's results as pretty JSON (one trailing newline), atomically; `file` is absolute or relative to the repository root. */
export function writeJson(file, value) {
  lib.writeFileAtomic(path.resolve(ROOT, file), `${JSON.stringify(value, null, 2)}\n`);
}

/** The random-weight reference topologies (zoo/topologies.ts): buildAlexNet, buildCnv, buildResNet20, ... */
export const zoo = await load('zoo/topologies.js');

/** The zoo's fixture list (zoo/fixtures.ts: ZOO_FIXTURES, padImagesTo), loaded when a bench asks. */
export function zooFixtures() {
  return load('zoo/fixtures.js');
}

/**
 * Every zoo fixture (those in `args.only`, when given) quantized at W1.4 and at W1.4A1.4
 * (Middle-Out) on the first 64 `fmnist-mini:train` images padded to its input shape (written
 * to bench/out/<folder>/<name>-calib.npy), as the hardware benches' --zoo runs take them.
 * Yields { fixture, config, model, test, data, calibImages }: `test` the first `args.limit`
 * `fmnist-mini:test` images, `data` those padded to the input shape.
 */
export async function* zooQuantized(args, folder) {
  const { ZOO_FIXTURES, padImagesTo } = await zooFixtures();
  const test = lib.loadDataset('fmnist-mini:test', { normalize: lib.FMNIST_NORMALIZATION, limit: args.limit });
  const train = lib.loadDataset('fmnist-mini:train', { normalize: lib.FMNIST_NORMALIZATION, limit: 64 });
  for (const fixture of ZOO_FIXTURES.filter((z) => !args.only || args.only.includes(z.name))) {
    const calib = path.join(ROOT, 'bench/out', folder, `${fixture.name}-calib.npy`);
    const calibImages = padImagesTo(train.images, 64, fixture.shape);
    lib.writeNpy(calib, { dtype: 'float32', shape: [64, ...fixture.shape], data: calibImages });
    const data = padImagesTo(test.images, test.count, fixture.shape);
    for (const config of ['W1.4', 'W1.4A1.4']) {
      const model = fixture.build();
      const acts = config === 'W1.4A1.4' ? { actBits: 1.4, actHeuristic: 'middle-out' } : {};
      await lib.quantize(model, { avgBits: 1.4, heuristic: 'middle-out', ...acts, calibData: `npy:${calib}`, calibLimit: 64 });
      yield { fixture, config, model, test, data, calibImages };
    }
  }
}

/** A compiled module the public entry does not export, by its path under dist/ (e.g. 'src/util/fs.js'). */
export function internal(rel) {
  return load(rel);
}

/** Parameters of a model: the elements of its main graph's initializers. */
export function paramCount(model) {
  let n = 0;
  for (const v of model.graph.initializers.values()) n += v.constValue.size;
  return n;
}

/** The bundled Fashion-MNIST CNN the hardware benches quantize. */
export const FMNIST_CNN = path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx');

/**
 * The configurations the hardware benches (hls-csim, hls-speed, rtl-sim) quantize the CNN
 * with: W1.4 and W1.4A1.4, Middle-Out, per weight and per row (one bitwidth per output
 * channel), input normalization 'fmnist'.
 */
export const FMNIST_CNN_CONFIGS = [
  { name: 'W1.4', opts: { avgBits: 1.4, heuristic: 'middle-out', normalize: 'fmnist' } },
  { name: 'W1.4A1.4', opts: { avgBits: 1.4, heuristic: 'middle-out', actBits: 1.4, actHeuristic: 'middle-out', normalize: 'fmnist' } },
  // One bitwidth per output row: the backends group the rows on the PEs (reordered channels).
  { name: 'W1.4-row', opts: { avgBits: 1.4, heuristic: 'middle-out', granularity: 'row', normalize: 'fmnist' } },
  { name: 'W1.4A1.4-row', opts: { avgBits: 1.4, heuristic: 'middle-out', granularity: 'row', actBits: 1.4, actHeuristic: 'middle-out', normalize: 'fmnist' } },
];

/**
 * The folding of the RTL benches and tests (test/backends/verilog/helpers.ts RTL_FOLDING): about
 * 7,000 cycles per image (c2 and c3 the bottleneck).
 */
export const FMNIST_RTL_FOLDING = { layers: { '/c1/Conv': { pe: 8, simd: 9 }, '/c2/Conv': { pe: 16, simd: 32 }, '/c3/Conv': { pe: 8, simd: 64 }, '/fc/Gemm': { pe: 2, simd: 72 } } };

/**
 * FINN's folding of CNV (cnv_w1a1 in FINN's end-to-end example,
 * notebooks/end2end_example/bnn-pynq/cnv_end2end_example.ipynb: (PE, SIMD) of its nine
 * MatrixVectorActivation layers (16,3), (32,32), (16,32), (16,32), (4,32), (1,32), (1,4), (1,8),
 * (5,1)) on the zoo's CNV (zoo/topologies.ts buildCnv: six 3×3 convolutions and three fully
 * connected layers, named conv0 … gemm27 in the bit-level IR). Every (PE, SIMD) divides its
 * layer's rows and columns as given; about 32,800 cycles per image (gemm21 the bottleneck).
 */
export const CNV_FINN_FOLDING = {
  layers: {
    conv0: { pe: 16, simd: 3 },
    conv3: { pe: 32, simd: 32 },
    conv7: { pe: 16, simd: 32 },
    conv10: { pe: 16, simd: 32 },
    conv14: { pe: 4, simd: 32 },
    conv17: { pe: 1, simd: 32 },
    gemm21: { pe: 1, simd: 4 },
    gemm24: { pe: 1, simd: 8 },
    gemm27: { pe: 5, simd: 1 },
  },
};

/** CNV's fixed-point input as the hardware benches lower it: 8 bits, 5 of them fraction (inputs in [-4, 4)). */
export const CNV_LOWERING = { inputBits: 8, inputFrac: 5 };

/** Deterministic uniform [-1, 1) calibration inputs (the project's PRNG, mulberry32), written as .npy in a temporary folder; returns the data SPEC. */
export function randomCalibration(shape, seed = 1) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const rng = lib.hbnn.mulberry32(seed);
  for (let i = 0; i < n; i++) data[i] = rng.next() * 2 - 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-calib-'));
  const file = path.join(dir, 'calib.npy');
  lib.writeNpy(file, { dtype: 'float32', shape, data });
  return `npy:${file}`;
}

/**
 * The zoo's CNV (random weights, seed 1) with row-grouped weights of `bits` average bits
 * (Middle-Out, one bitwidth per output row) and 1-bit activations calibrated on 8
 * deterministic random inputs: the CNV designs of bench/synth-designs.mjs and bench/rtl-sim.mjs --cnv.
 */
export async function cnvRowA1(bits) {
  const m = zoo.buildCnv();
  await lib.quantize(m, { avgBits: bits, heuristic: 'middle-out', granularity: 'row', actBits: 1, calibData: randomCalibration([8, 3, 32, 32]), calibLimit: 8 });
  return m;
}

/** The first `limit` images of a Fashion-MNIST split (default the full test set), normalized as the bundled models expect. */
export function fmnistImages(limit, spec = 'fmnist:test') {
  return lib.loadDataset(spec, { normalize: lib.FMNIST_NORMALIZATION, limit });
}

/**
 * Command-line flags of a bench, from their defaults: each key `fooBar` is the flag
 * `--foo-bar`; a boolean default makes a flag without value (true when given), a number
 * default a number, a string (or undefined) default a string; a function is a parser of the
 * value (the default then undefined). An unknown flag is an error naming it.
 */
export function parseArgs(argv, defaults) {
  const out = {};
  const flags = new Map();
  for (const [key, d] of Object.entries(defaults)) {
    out[key] = typeof d === 'function' ? undefined : d;
    flags.set(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, [key, d]);
  }
  for (let i = 0; i < argv.length; i++) {
    const hit = flags.get(argv[i]);
    if (!hit) throw new Error(`unknown argument ${argv[i]} (flags: ${[...flags.keys()].join(' ')})`);
    const [key, d] = hit;
    if (typeof d === 'boolean') out[key] = true;
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      out[key] = typeof d === 'function' ? d(v) : typeof d === 'number' ? Number(v) : v;
    }
  }
  return out;
}

/**
 * The fmnist-cnn fine-tuning runs of bench/train-granularity.mjs and bench/train-bitmap-every.mjs:
 * the full Fashion-MNIST train and test sets (`limit`, `evalLimit` cut them), the recipe of
 * bench/train-table.mjs, and the runs stored in the file `json` (relative to ROOT) — comparable only with the
 * same recipe and data, so a run with other settings starts a new store.
 */
export function fmnistFineTuneRuns({ epochs, threads, limit, evalLimit, json }) {
  const { loadDataset, FMNIST_NORMALIZATION } = lib;
  const train = loadDataset('fmnist:train', { normalize: FMNIST_NORMALIZATION, ...(limit ? { limit } : {}) });
  const test = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, ...(evalLimit ? { limit: evalLimit } : {}) });
  const recipe = { epochs, batchSize: 128, lr: 0.01, momentum: 0.9, weightDecay: 1e-4, schedule: 'cosine', seed: 0, threads };
  const setting = JSON.stringify({ ...recipe, train: train.name, trainSamples: train.count, evalData: test.name, evalSamples: test.count });
  const jsonPath = path.resolve(ROOT, json);
  const old = fs.existsSync(jsonPath) ? JSON.parse(fs.readFileSync(jsonPath, 'utf8')) : null;
  const store = old && old.setting === setting ? old : { setting, runs: {} };
  /** Starts a run's clock; the function it returns stores the run's record under its name with its seconds, the load average at its start and the date, and writes the store (atomically). */
  const startRun = () => {
    const t0 = performance.now();
    const load0 = os.loadavg()[0];
    return (name, record) => {
      store.runs[name] = { ...record, seconds: Math.round((performance.now() - t0) / 1000), loadAverage: Math.round(load0 * 10) / 10, date: new Date().toISOString() };
      fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
      lib.writeFileAtomic(jsonPath, JSON.stringify(store, null, 1) + '\n');
    };
  };
  return { train, test, recipe, jsonPath, store, startRun };
}

/** bench:synth-designs' cache of synthesis results (per design and per out-of-context run). */
export const SYNTH_CACHE = path.join(ROOT, 'bench/out/synth-cache');

/** The files synthesis reads of a lowered Verilog design: the sources and memory images (what synthesizeVerilog keeps). */
export function designSynthFiles(v) {
  const sources = new Set(v.sources);
  return new Map([...v.files].filter(([k]) => sources.has(k) || (/\.hex$/.test(k) && !/^tb_|_acc\.hex$|_beta\d*\.hex$/.test(k))));
}

/**
 * Where bench:synth-designs caches design `name`'s result for `target`: keyed by yosys's version,
 * the target, abc's script and every synthesized file (so a result is this emitter output's only).
 */
export async function designCacheFile(name, files, target, abc) {
  const { yosysVersion } = await internal('src/backends/synth/index.js');
  const h = crypto.createHash('sha256');
  h.update(await yosysVersion());
  h.update(`${target}\0instances\0`);
  if (target === 'asic' && abc === 'fast') h.update('abc -fast\0');
  for (const [k, v] of [...files].sort()) h.update(k).update('\0').update(v).update('\0');
  return path.join(SYNTH_CACHE, `design-${name}-${target}-${h.digest('hex').slice(0, 16)}.json`);
}
