/**
 * `hbnn-onnx quantize` of this build against another build of the project (`--base DIR`, a
 * compiled dist/ of an earlier commit, e.g. `git worktree add /tmp/b REV && cd /tmp/b && npx tsc
 * -p tsconfig.json --outDir /tmp/base`) and against a plain `opt` re-save, on the AlexNet- or
 * VGG11-BN-sized random model (zoo/topologies.ts), run back to back in alternating order so
 * that both builds see the same load; checks that the two builds write the same bytes, and
 * when they do not, whether only the ai.hbnn function bodies differ (same initializers, nodes
 * and metadata: exit 0) or the weights do (exit 1).
 *
 *   npx tsc -p tsconfig.json && node bench/quantize-vs-build.mjs --base /tmp/base [--model alexnet|vgg11-bn] [--reps 4] [--dir /tmp/x]
 *
 * Prints per pair wall time, CPU time (user + system of the child) and peak memory (VmHWM), then
 * the medians over pairs of quantize / opt (wall and CPU) for each build.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, ROOT, lib, zoo, parseArgs } from './lib.mjs';

const opts = parseArgs(process.argv.slice(2), { base: '', model: 'alexnet', reps: 4, dir: os.tmpdir() });
if (!opts.base) throw new Error('--base DIR (a compiled dist/ of the build to compare with) is required');
const BASE = path.resolve(opts.base);
const name = opts.model;
const build = { alexnet: zoo.buildAlexNet, 'vgg11-bn': zoo.buildVgg11Bn }[name];
if (!build) throw new Error(`--model alexnet or vgg11-bn, got ${name}`);
const file = (s) => path.join(opts.dir, `hbnn-qvb-${name}${s}`);
const float = file('.onnx');
lib.saveModel(build(), float);

function run(dist, argv) {
  const code = `const { main } = await import(${JSON.stringify(pathToFileURL(path.join(dist, 'src', 'cli', 'main.js')).href)});
    const rc = await main(['node', 'hbnn-onnx', ...${JSON.stringify(argv)}], { stdout: () => {}, stderr: (s) => process.stderr.write(s) });
    const m = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+) kB/);
    const cpu = process.cpuUsage();
    console.log(JSON.stringify({ rc, cpuMs: (cpu.user + cpu.system) / 1000, hwm: m ? Number(m[1]) / 1024 : NaN }));`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 24 });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`hbnn-onnx ${argv.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  if (out.rc !== 0) throw new Error(`hbnn-onnx ${argv.join(' ')} exited ${out.rc}:\n${r.stderr}`);
  return { wall, cpu: out.cpuMs, hwm: out.hwm };
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
const R = { opt: [], this: [], base: [] };
console.log(`${name}: float file ${(fs.statSync(float).size / 2 ** 20).toFixed(1)} MiB; this build ${DIST}, base ${BASE}; load ${load()}`);
for (let r = 0; r < opts.reps; r++) {
  R.opt.push(run(DIST, ['opt', float, '-o', file('.opt.onnx')]));
  for (const k of r % 2 ? ['base', 'this'] : ['this', 'base']) R[k].push(run(k === 'this' ? DIST : BASE, ['quantize', float, '-o', file(`.${k}.hbnn.onnx`)]));
  const f = (x) => `${(x.wall / 1000).toFixed(1)} s wall, ${(x.cpu / 1000).toFixed(2)} s CPU, ${x.hwm.toFixed(0)} MiB`;
  console.log(`pair ${r + 1}: opt ${f(R.opt[r])}; this ${f(R.this[r])}; base ${f(R.base[r])}`);
}
for (const k of ['this', 'base']) {
  const pairs = R[k].map((x, i) => x.wall / R.opt[i].wall);
  console.log(
    `${k}: quantize / opt ${median(pairs).toFixed(2)}x wall (pairs ${pairs.map((x) => x.toFixed(2)).join(', ')}), ` +
      `${median(R[k].map((x, i) => x.cpu / R.opt[i].cpu)).toFixed(2)}x CPU; quantize ${(median(R[k].map((x) => x.cpu)) / 1000).toFixed(2)} s CPU, ` +
      `peak ${Math.max(...R[k].map((x) => x.hwm)).toFixed(0)} MiB`,
  );
}
console.log(`opt: ${(median(R.opt.map((x) => x.cpu)) / 1000).toFixed(2)} s CPU, ${(median(R.opt.map((x) => x.wall)) / 1000).toFixed(1)} s wall; load ${load()}`);
const same = Buffer.compare(fs.readFileSync(file('.this.hbnn.onnx')), fs.readFileSync(file('.base.hbnn.onnx'))) === 0;
// Files that differ: the same weights (every initializer's bytes), nodes and metadata, with
// only the ai.hbnn function bodies changed (a build with another body), or not?
let sameWeights = same;
if (!same) {
  const [a, b] = ['.this.hbnn.onnx', '.base.hbnn.onnx'].map((s) => lib.loadModel(file(s)));
  const inits = (m) => [...m.graph.initializers.values()].map((v) => [v.name, v.constValue.dtype, v.constValue.dims.join(','), Buffer.from(v.constValue.toRawBytes()).toString('base64')].join(' '));
  const nodes = (m) => m.graph.nodes.map((n) => `${n.domain}:${n.opType}(${n.inputs.map((v) => v?.name ?? '').join(',')})->${n.outputs.map((v) => v.name).join(',')}`);
  const meta = (m) => JSON.stringify(m.metadataProps ?? null);
  sameWeights = [inits, nodes, meta].every((f) => JSON.stringify(f(a)) === JSON.stringify(f(b)));
  const bodies = (m) => m.functions.map((f) => `${f.name} (${f.node.length} nodes)`).join(', ');
  console.log(`the two builds' quantized files differ; ${sameWeights ? 'same' : 'DIFFERENT'} initializers (weights), nodes and metadata; functions: this ${bodies(a)}, base ${bodies(b)}`);
} else console.log("the two builds' quantized files are byte-identical");
for (const s of ['.onnx', '.opt.onnx', '.this.hbnn.onnx', '.base.hbnn.onnx']) fs.rmSync(file(s), { force: true });
if (!sameWeights) process.exitCode = 1;
