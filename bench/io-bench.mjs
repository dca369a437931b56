#!/usr/bin/env node
/**
 * ONNX I/O benchmark: load and save of an AlexNet-sized model (61.1 M float32 parameters,
 * ~244 MB inline), against raw fs.readFileSync / fs.writeFileSync of the same bytes.
 *
 *   npx tsc -p tsconfig.json && node bench/io-bench.mjs [--reps 5] [--dir /tmp/x] [--keep]
 *
 * Each measurement runs in its own child process so that its peak memory (maxRSS from
 * process.resourceUsage()) is its own; a baseline child that only imports the library gives
 * the fixed cost, printed beside. Every repetition is a fresh child doing the operation once
 * (so a peak is that of one operation, and a load includes what a CLI run pays: cold JIT,
 * warm page cache); times are wall-clock, min / median / max over the repetitions.
 * Not a test: it prints figures and checks them against the goals (load and save under 2 s,
 * peak memory above baseline under twice the file size) without failing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The package through bench/lib.mjs (imported in the children, which measure their own time and memory). */
async function importLibrary() {
  const { lib, zoo, paramCount } = await import('./lib.mjs');
  return { lib, zoo, paramCount, entry: 'dist/src/index.js' };
}

// ------------------------------------------------------------------------------------------
// children
// ------------------------------------------------------------------------------------------

function rssMiB() {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

/**
 * The high-water RSS of this process's own address space (Linux /proc VmHWM), in MiB. On
 * Linux, getrusage's maxRSS can carry the parent's footprint across fork + exec, so the
 * parent here stays small (it never loads the library) and both figures are reported.
 */
function hwmMiB() {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function child(mode, file, reps, out) {
  const times = [];
  if (mode === 'generate') {
    const { lib, zoo, paramCount, entry } = await importLibrary();
    const t0 = performance.now();
    const model = zoo.buildAlexNet();
    const params = paramCount(model);
    lib.saveModel(model, file, { externalData: 'none' });
    console.log(JSON.stringify({ params, nodes: model.graph.nodes.length, ms: performance.now() - t0, entry }));
    return;
  } else if (mode === 'baseline') {
    await importLibrary();
  } else if (mode === 'load') {
    const { lib } = await importLibrary();
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const m = lib.loadModel(file);
      times.push(performance.now() - t0);
      if (m.graph.initializers.size === 0) throw new Error('no initializers');
      gc(); // the previous model is garbage before the next repetition starts
    }
  } else if (mode === 'save') {
    const { lib } = await importLibrary();
    const m = lib.loadModel(file);
    const loadedRss = rssMiB();
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      lib.saveModel(m, out, { externalData: 'none' });
      times.push(performance.now() - t0);
      gc();
    }
    const maxRss = rssMiB();
    const hwm = hwmMiB();
    console.log(JSON.stringify({ times, maxRss, hwm, loadedRss, same: sameFiles(out, file) }));
    return;
  } else if (mode === 'raw-read') {
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const b = fs.readFileSync(file);
      times.push(performance.now() - t0);
      if (b.length === 0) throw new Error('empty');
      gc();
    }
  } else if (mode === 'raw-write' || mode === 'raw-write-fsync') {
    const bytes = fs.readFileSync(file);
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      if (mode === 'raw-write') fs.writeFileSync(out, bytes);
      else {
        const fd = fs.openSync(out, 'w');
        fs.writeSync(fd, bytes);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
      }
      times.push(performance.now() - t0);
      gc();
    }
  }
  console.log(JSON.stringify({ times, maxRss: rssMiB(), hwm: hwmMiB() }));
}

/** Compares two files in 1 MiB pieces (so the check adds nothing to the peak). */
function sameFiles(a, b) {
  if (fs.statSync(a).size !== fs.statSync(b).size) return false;
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  const ba = Buffer.alloc(1 << 20);
  const bb = Buffer.alloc(1 << 20);
  try {
    for (;;) {
      const na = fs.readSync(fa, ba);
      const nb = fs.readSync(fb, bb);
      if (na !== nb || ba.compare(bb, 0, nb, 0, na) !== 0) return false;
      if (na === 0) return true;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

// ------------------------------------------------------------------------------------------
// the model
// ------------------------------------------------------------------------------------------


// ------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
}

/** Runs `reps` children of one repetition each; times from all, peaks as the maximum. */
function runReps(mode, file, reps, out) {
  const all = [];
  for (let i = 0; i < reps; i++) all.push(runChild(mode, file, 1, out));
  const r = { ...all[all.length - 1], times: all.flatMap((x) => x.times) };
  r.maxRss = Math.max(...all.map((x) => x.maxRss));
  r.hwm = all.every((x) => x.hwm !== undefined) ? Math.max(...all.map((x) => x.hwm)) : undefined;
  r.same = all.every((x) => x.same !== false);
  return r;
}

function runChild(mode, file, reps, out) {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', mode, file, String(reps), out], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`child ${mode} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2], Number(args[3]), args[4]);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const reps = Number(opt('--reps', '5'));
  const dir = opt('--dir', undefined) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-io-bench-'));
  const keep = args.includes('--keep');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'alexnet.onnx');
  const gen = runChild('generate', file, 0, '');
  const size = fs.statSync(file).size;
  const sizeMiB = size / 2 ** 20;

  const base = runChild('baseline', file, 0, '');
  const load = runReps('load', file, reps, '');
  const save = runReps('save', file, reps, path.join(dir, 'resaved.onnx'));
  const rawRead = runReps('raw-read', file, reps, '');
  const rawWrite = runReps('raw-write', file, reps, path.join(dir, 'raw.onnx'));
  const rawWriteSync = runReps('raw-write-fsync', file, reps, path.join(dir, 'raw-fsync.onnx'));

  const f = (x) => (x === undefined ? '     -' : x.toFixed(0).padStart(6));
  const row = (name, r, note = '') => {
    const s = stats(r.times);
    const over = r.maxRss - base.maxRss;
    return `${name.padEnd(24)} ${f(s.min)} ${f(s.median)} ${f(s.max)}   ${f(r.maxRss)} ${f(over)} ${(over / sizeMiB).toFixed(2).padStart(6)}   ${f(r.hwm)}  ${note}`;
  };
  const lines = [
    `io-bench: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, library from ${gen.entry}`,
    `model: AlexNet-sized, ${gen.params.toLocaleString('en-US')} float32 parameters, ${gen.nodes} nodes; file ${size.toLocaleString('en-US')} bytes (${sizeMiB.toFixed(1)} MiB), generated + saved in ${(gen.ms / 1000).toFixed(1)} s`,
    `repetitions: ${reps}, each in a fresh child; baseline child (imports the library only): maxRSS ${base.maxRss.toFixed(0)} MiB (VmHWM ${f(base.hwm).trim()} MiB)`,
    '',
    `${'operation'.padEnd(24)} ${'min'.padStart(6)} ${'median'.padStart(6)} ${'max'.padStart(6)}   ${'maxRSS'.padStart(6)} ${'-base'.padStart(6)} ${'×file'.padStart(6)}   ${'VmHWM'.padStart(6)}`,
    `${''.padEnd(24)} ${'ms'.padStart(6)} ${'ms'.padStart(6)} ${'ms'.padStart(6)}   ${'MiB'.padStart(6)} ${'MiB'.padStart(6)} ${''.padStart(6)}   ${'MiB'.padStart(6)}`,
    row('loadModel', load),
    row('saveModel (+fsync)', save, `(loads first, untimed: maxRSS ${save.loadedRss.toFixed(0)} MiB after it; re-saved bytes identical: ${save.same})`),
    row('fs.readFileSync', rawRead),
    row('fs.writeFileSync', rawWrite, '(no fsync; reads the bytes first, untimed)'),
    row('writeSync + fsync', rawWriteSync, '(what saveModel does per file)'),
    '',
  ];
  const loadMed = stats(load.times).median;
  const saveMed = stats(save.times).median;
  const goal = (ok) => (ok ? 'met' : 'MISSED');
  lines.push(`goal load < 2 s: ${goal(loadMed < 2000)} (median ${(loadMed / 1000).toFixed(2)} s)`);
  lines.push(`goal save < 2 s: ${goal(saveMed < 2000)} (median ${(saveMed / 1000).toFixed(2)} s)`);
  lines.push(`goal peak < 2 × file above baseline: load ${goal(load.maxRss - base.maxRss < 2 * sizeMiB)} (${((load.maxRss - base.maxRss) / sizeMiB).toFixed(2)} ×), save ${goal(save.maxRss - base.maxRss < 2 * sizeMiB)} (${((save.maxRss - base.maxRss) / sizeMiB).toFixed(2)} ×, load included)`);
  console.log(lines.join('\n'));
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  else console.log(`files kept in ${dir}`);
}

await main();
