#!/usr/bin/env node
/**
 * Post-training quantization (no fine-tuning) of the Fashion-MNIST CNN: a table of
 * configurations and a sweep figure, written to docs/ptq-results.md and docs/ptq-sweep.svg.
 *
 *   npx tsc && node bench/ptq-table.mjs
 *
 * Options:
 *   --model FILE     the float model (default: fixtures/models/fmnist-cnn.onnx)
 *   --limit N        evaluate on the first N test images only (quick runs; default: all 10,000)
 *   --no-sweep       skip the sweep (and the figure)
 *   --out FILE       Markdown output (default docs/ptq-results.md)
 *   --svg FILE       figure output (default docs/ptq-sweep.svg)
 *   --json FILE      raw results as JSON (default bench/out/ptq-results.json)
 *   --only REGEX     run only the table rows whose id matches (ids: config, -heuristic, -row for
 *                    row-granular bit maps, +bn for BatchNorm re-estimation, lower case: w2,
 *                    w1.4-middle-out+bn, w1.4-middle-out-row, w2a2+bn); the other rows and the
 *                    sweep are carried over from the --json file of an earlier full run (same
 *                    model and test set), which is then updated. The granularity comparison
 *                    alone: --only 'row|residual' (about a minute)
 *
 * It imports the compiled package from dist/ (run `npx tsc` first). Test data:
 * `fmnist:test` (the Debian package dataset-fashion-mnist), normalized as the model was
 * trained. Activation configurations are calibrated on the first 1,000 training images; the
 * `+BN` rows re-estimate the BatchNorm statistics (pass recalibrate-batchnorm, through
 * quantize's `recalibrateBatchNorm`) on the same images. The `-row` rows use row-granular bit
 * maps (quantize's `granularity: 'row'`: one bitwidth per output channel); they and their
 * per-entry Middle-Out-residual counterparts are shown in their own table.
 * A hand-written commentary between the COMMENTARY markers of an existing output file is
 * carried over when the file is regenerated.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { internal, lib } from './lib.mjs';

const { loadModel, quantize, sweep, sweepSeries, sweepSvg, evaluate, loadDataset, FMNIST_NORMALIZATION, writeFileAtomic } = lib;

// Ŵ of a weight call, whatever its plane encoding (int8 or packed, hbnn-onnx/3)
const { dequantizeWeightCall, findWeightCall } = await internal('src/quant/planes.js');

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HEURISTICS = ['middle-out', 'top-down', 'bottom-up', 'random', 'layer'];
const SWEEP_BITS = [1, 1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 2];
const CALIB = { calibData: 'fmnist:train', calibLimit: 1000, normalize: 'fmnist' };
const SEED = 0;
const COMMENTARY = ['<!-- COMMENTARY:START -->', '<!-- COMMENTARY:END -->'];

function parseArgs(argv) {
  const a = { sweep: true, out: 'docs/ptq-results.md', svg: 'docs/ptq-sweep.svg', json: 'bench/out/ptq-results.json' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--model') a.model = v();
    else if (k === '--limit') a.limit = Number(v());
    else if (k === '--no-sweep') a.sweep = false;
    else if (k === '--out') a.out = v();
    else if (k === '--svg') a.svg = v();
    else if (k === '--json') a.json = v();
    else if (k === '--only') a.only = new RegExp(v());
    else throw new Error(`unknown argument ${k} (see the comment at the top of bench/ptq-table.mjs)`);
  }
  if (!a.model) {
    // The bundled copy: the commands in the table then work from a checkout.
    a.model = path.join(ROOT, 'fixtures/models/fmnist-cnn.onnx');
  }
  return a;
}

/** The table's rows: config name, weight bits, heuristic (null = homogeneous), activation bits. */
function configs() {
  const rows = [{ config: 'float' }, { config: 'W1', w: 1 }];
  for (const w of [1.2, 1.4]) for (const h of HEURISTICS) rows.push({ config: `W${w}`, w, h });
  rows.push({ config: 'W1.6', w: 1.6, h: 'middle-out' }, { config: 'W2', w: 2 }, { config: 'W3', w: 3 });
  rows.push({ config: 'W1.4A1.4', w: 1.4, h: 'middle-out', a: 1.4 }, { config: 'W2A2', w: 2, a: 2 });
  // The same quantizations with BatchNorm re-estimation.
  rows.push({ config: 'W1', w: 1, bn: true });
  for (const h of ['middle-out', 'bottom-up']) rows.push({ config: 'W1.4', w: 1.4, h, bn: true });
  rows.push({ config: 'W2', w: 2, bn: true }, { config: 'W3', w: 3, bn: true });
  rows.push({ config: 'W1.4A1.4', w: 1.4, h: 'middle-out', a: 1.4, bn: true }, { config: 'W2A2', w: 2, a: 2, bn: true });
  // Bit map granularity (granularity table): per entry vs one bitwidth per output channel.
  // The per-entry Middle-Out rows are those above; Middle-Out residual per entry is added here.
  for (const bn of [false, true]) {
    for (const w of bn ? [1.4] : [1.2, 1.4]) {
      rows.push({ config: `W${w}`, w, h: 'middle-out', g: 'row', ...(bn ? { bn } : {}) });
      rows.push({ config: `W${w}`, w, h: 'middle-out-residual', ...(bn ? { bn } : {}) });
      rows.push({ config: `W${w}`, w, h: 'middle-out-residual', g: 'row', ...(bn ? { bn } : {}) });
    }
    // With one scale per output channel and bit (per-row bit maps then have per-row scales).
    rows.push({ config: 'W1.4', w: 1.4, h: 'middle-out', pc: true, ...(bn ? { bn } : {}) });
    rows.push({ config: 'W1.4', w: 1.4, h: 'middle-out', pc: true, g: 'row', ...(bn ? { bn } : {}) });
  }
  return rows;
}

/** Rows of the granularity table only (not of the main table). */
const granularityRow = (r) => r.g === 'row' || r.h === 'middle-out-residual' || !!r.pc;

/** A row's id for --only: config, -heuristic, -pc (per-channel scales), -row, +bn, lower case. */
const rowId = (r) => `${r.config}${r.h ? `-${r.h}` : ''}${r.pc ? '-pc' : ''}${r.g === 'row' ? '-row' : ''}${r.bn ? '+bn' : ''}`.toLowerCase();

/** Same quantization but for the granularity (the per-entry partner of a per-row row). */
const partnerOf = (rows, r) => rows.find((q) => q.config === r.config && q.h === r.h && !!q.bn === !!r.bn && !!q.pc === !!r.pc && q.g !== 'row' && q.a === undefined);

/** With --only: the rows and sweep of the earlier run in the --json file. */
function previousRun(args, modelRel, ds) {
  const file = path.resolve(ROOT, args.json);
  if (!fs.existsSync(file)) throw new Error(`--only needs the results of an earlier full run in ${args.json}`);
  const prev = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (prev.model !== modelRel || prev.dataset !== ds.name || prev.samples !== ds.count) {
    throw new Error(`${args.json} is for ${prev.model} on ${prev.samples} images of ${prev.dataset}, not ${modelRel} on ${ds.count} of ${ds.name}`);
  }
  return prev;
}

const pct = (x) => `${(100 * x).toFixed(2)}%`;
const md = (s) => String(s).replace(/\|/g, '\\|');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const modelFile = args.model;
  const modelRel = path.relative(ROOT, modelFile).startsWith('..') ? modelFile : path.relative(ROOT, modelFile);
  const ds = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, ...(args.limit ? { limit: args.limit } : {}) });
  const t0 = performance.now();
  const log = (s) => process.stderr.write(`${s}\n`);
  log(`model ${modelFile}, data ${ds.name} (${ds.count} images)`);

  const prev = args.only ? previousRun(args, modelRel, ds) : null;
  const rows = [];
  const ran = [];
  for (const c of configs()) {
    if (prev && !args.only.test(rowId(c))) {
      const old = prev.rows.find((r) => rowId(r) === rowId(c));
      if (!old) throw new Error(`row ${rowId(c)} is not in ${args.json}; run it too (--only) or run the whole table`);
      rows.push(old);
      continue;
    }
    ran.push(rowId(c));
    const m = loadModel(modelFile);
    const floatWeights = new Map([...m.graph.initializers.values()].map((v) => [v.name, v.constValue.dtype === 1 ? v.constValue.toFloat32() : null]));
    let pipeline = null;
    let fidelity = null;
    let wBits = null;
    let aBits = null;
    if (c.w !== undefined) {
      const res = await quantize(m, {
        avgBits: c.w,
        ...(c.h ? { heuristic: c.h, seed: SEED } : {}),
        ...(c.g ? { granularity: c.g } : {}),
        ...(c.pc ? { perChannel: true } : {}),
        ...(c.a !== undefined ? { actBits: c.a, ...CALIB } : {}),
        ...(c.bn ? { recalibrateBatchNorm: true, ...CALIB } : {}),
      });
      pipeline = res.pipeline;
      wBits = res.record.avgWeightBits;
      aBits = res.record.avgActivationBits ?? null;
      fidelity = weightFidelity(m, res.record, floatWeights);
    }
    const ev = await evaluate(m, ds);
    const row = { ...c, bn: c.bn ?? false, heuristic: c.h ?? null, granularity: c.g ?? 'entry', perChannel: !!c.pc, avgWeightBits: wBits, avgActivationBits: aBits, top1: ev.top1, top5: ev.top5, samples: ev.samples, pipeline, ...fidelity };
    rows.push(row);
    log(`${c.config.padEnd(9)} ${(c.h ?? '-').padEnd(19)} ${c.pc ? 'pc ' : '   '}${c.g === 'row' ? 'row  ' : '     '}${c.bn ? '+BN' : '   '} w=${wBits?.toFixed(4) ?? 'float'} a=${aBits ?? 'float'} top1=${pct(ev.top1)} top5=${pct(ev.top5)}`);
  }

  if (prev) log(`ran ${ran.length} rows (${ran.join(', ')}); the others${args.sweep ? ' and the sweep' : ''} come from ${args.json}`);
  let sw = null;
  if (prev && args.sweep) sw = prev.sweep;
  else if (args.sweep) {
    sw = await sweep(modelFile, ds, {
      bits: SWEEP_BITS,
      heuristics: HEURISTICS,
      seed: SEED,
      onResult: (p, i, n) => log(`sweep ${i + 1}/${n} ${p.heuristic} ${p.bits} -> w=${p.avgWeightBits.toFixed(4)} top1=${pct(p.top1)}`),
    });
    sw.model = modelRel;
    writeFileAtomic(path.resolve(ROOT, args.svg), sweepSvg(sw, { title: `Fashion-MNIST CNN, post-training top-1 vs average weight bits (${sw.samples} test images)` }));
  }

  const totalS = (performance.now() - t0) / 1000;
  const text = render({ rows, sw, modelRel, ds, args, totalS, ran, previous: readCommentary(path.resolve(ROOT, args.out)) });
  writeFileAtomic(path.resolve(ROOT, args.out), text);
  if (args.json) writeFileAtomic(path.resolve(ROOT, args.json), JSON.stringify({ model: modelRel, dataset: ds.name, samples: ds.count, rows, sweep: sw }, null, 2) + '\n');
  log(`wrote ${args.out}${sw && !prev ? ` and ${args.svg}` : ''} in ${totalS.toFixed(0)} s`);
}

/**
 * How well the binarized weights approximate the float ones, over all binarized weights:
 * the norm ratio ‖Ŵ‖/‖W‖ and the relative squared error ‖Ŵ − W‖²/‖W‖², with Ŵ rebuilt from
 * the planes and scales stored in the model (the library's dequantizeWeightCall: int8 or
 * packed planes; reading the bytes as int8 planes gave NaN once planes were packed, 01a27e3).
 */
function weightFidelity(m, record, floatWeights) {
  let ww = 0;
  let hh = 0;
  let ee = 0;
  for (const w of record.weights) {
    const orig = floatWeights.get(w.tensor);
    const call = findWeightCall(m.graph, w.planes);
    if (!call) throw new Error(`no weight call for ${w.tensor} (key ${w.planes})`);
    const hat = dequantizeWeightCall(call);
    if (hat.length !== orig.length) throw new Error(`${w.tensor}: ${hat.length} binarized entries, ${orig.length} float`);
    for (let j = 0; j < orig.length; j++) {
      const h = hat[j];
      ww += orig[j] * orig[j];
      hh += h * h;
      ee += (h - orig[j]) ** 2;
    }
  }
  return { normRatio: Math.sqrt(hh / ww), relError: ee / ww };
}

function readCommentary(file) {
  if (!fs.existsSync(file)) return null;
  const t = fs.readFileSync(file, 'utf8');
  const i = t.indexOf(COMMENTARY[0]);
  const j = t.indexOf(COMMENTARY[1]);
  return i >= 0 && j > i ? t.slice(i + COMMENTARY[0].length, j).trim() : null;
}

function command(args, row, modelRel) {
  if (!row.pipeline) return '—';
  return `\`hbnn-onnx opt ${modelRel} -p "${md(row.pipeline)}" -o ${rowId(row).replace('+bn', '-bn')}.onnx\``;
}

/** Facts about the orderings, computed from the numbers (no judgement). */
function observations(rows, sw) {
  const out = [];
  for (const w of [1.2, 1.4]) {
    const rs = rows.filter((r) => r.w === w && r.h && r.a === undefined && !r.bn && !granularityRow(r)).sort((a, b) => b.top1 - a.top1);
    out.push(`- W${w}, ordering by top-1: ${rs.map((r) => `${r.h} ${pct(r.top1)}${r.h === 'layer' ? ` (at ${r.avgWeightBits.toFixed(3)} bits)` : ''}`).join(' > ')}.`);
  }
  for (const bn of [false, true]) {
    const tag = bn ? ' (+BN re-estimation)' : '';
    const find = (config, h) => rows.find((r) => r.config === config && (h === undefined || r.h === h) && !!r.bn === bn && r.g !== 'row' && !r.pc);
    const w2 = find('W2');
    const w14 = find('W1.4', 'middle-out');
    if (w2 && w14) out.push(`- W1.4 Middle-Out vs homogeneous W2${tag}: ${pct(w14.top1)} vs ${pct(w2.top1)} (${((w14.top1 - w2.top1) * 100).toFixed(2)} points).`);
    const a14 = find('W1.4A1.4');
    const a2 = find('W2A2');
    if (a14 && a2) out.push(`- W1.4A1.4 vs W2A2${tag}: ${pct(a14.top1)} vs ${pct(a2.top1)}.`);
  }
  const bnRows = rows.filter((r) => r.bn && !granularityRow(r));
  if (bnRows.length) {
    const label = (r) => `${r.config}${r.h ? ` ${r.h}` : ''}`;
    out.push(`- +BN re-estimation, ordering by top-1: ${[...bnRows].sort((a, b) => b.top1 - a.top1).map((r) => `${label(r)} ${pct(r.top1)}`).join(' > ')}.`);
    const gains = bnRows.map((r) => {
      const base = rows.find((q) => !q.bn && q.config === r.config && q.h === r.h && q.g === r.g);
      return base ? `${label(r)} ${((r.top1 - base.top1) * 100 >= 0 ? '+' : '')}${((r.top1 - base.top1) * 100).toFixed(2)}` : null;
    });
    out.push(`- Top-1 change from BN re-estimation (points): ${gains.filter(Boolean).join(', ')}.`);
  }
  const rowRows = rows.filter((r) => r.g === 'row');
  if (rowRows.length) {
    const label = (r) => `${r.config} ${r.h}${r.pc ? ' per-channel' : ''}${r.bn ? ' +BN' : ''}`;
    const deltas = rowRows.map((r) => {
      const base = partnerOf(rows, r);
      return base ? `${label(r)} ${pct(base.top1)} → ${pct(r.top1)} (${r.top1 - base.top1 >= 0 ? '+' : ''}${(100 * (r.top1 - base.top1)).toFixed(2)})` : null;
    });
    out.push(`- Per entry → per row, top-1 (points): ${deltas.filter(Boolean).join('; ')}.`);
  }
  if (sw) {
    const fl = sw.float.top1;
    for (const h of HEURISTICS) {
      const s = sweepSeries(sw, h);
      const at = (x) => s.find((p) => p.bits === x);
      const [p1, p13, p2] = [at(1), at(1.3), at(2)];
      if (!p1 || !p13 || !p2) continue;
      const x = p13.avgWeightBits;
      const linear = p1.top1 + (x - 1) * (p2.top1 - p1.top1);
      const drops = s.slice(1).filter((p, i) => p.top1 < s[i].top1).map((p) => p.bits);
      out.push(
        `- Sweep, ${h}: 1 → ${x.toFixed(3)} bits takes top-1 from ${pct(p1.top1)} to ${pct(p13.top1)} ` +
          `(${((100 * (p13.top1 - p1.top1)) / (fl - p1.top1)).toFixed(0)}% of the gap to float for ${(100 * (x - 1)).toFixed(0)}% of a bit; ` +
          `the straight line from W1 to W2 predicts ${pct(linear)}). ` +
          (drops.length ? `Not monotonic: lower than the previous point at ${drops.join(', ')} bits.` : 'Monotonic.'),
      );
    }
    for (const b of SWEEP_BITS.filter((x) => !Number.isInteger(x))) {
      const pts = HEURISTICS.map((h) => sw.points.find((p) => p.heuristic === h && p.bits === b)).filter(Boolean);
      const best = pts.reduce((a, p) => (p.top1 > a.top1 ? p : a));
      out.push(`- Sweep at ${b} bits: best ${best.heuristic} (${pct(best.top1)}); ${pts.map((p) => `${p.heuristic} ${pct(p.top1)}`).join(', ')}.`);
    }
  }
  return out;
}

/** The granularity section: per-entry vs row-granular bit maps, same heuristic, bits and BatchNorm. */
function granularityTable(rows, args, modelRel) {
  const L = ['', '## Bit map granularity: per entry vs one bitwidth per output channel', ''];
  L.push('Row-granular bit maps (`quantize --granularity row`, docs/method.md "Row-granular bit maps")');
  L.push('give every output channel of a layer one bitwidth, ranked by the heuristic\'s row key, with');
  L.push('exact channel counts per bitwidth; otherwise the same quantization as the rows above.');
  L.push('"Δ top-1" is against the per-entry row with the same heuristic, bits, scales and BatchNorm.');
  L.push('Scales "per channel": one scale per output channel and bit (`--per-channel`), so a per-row');
  L.push('bit map comes with per-row scales.');
  L.push('');
  L.push('| config | heuristic | scales | granularity | avg weight bits | BatchNorm | top-1 | Δ top-1 | top-5 | ‖Ŵ‖/‖W‖ | ‖Ŵ−W‖²/‖W‖² | command |');
  L.push('| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  const pairs = [];
  for (const r of rows.filter((x) => x.g === 'row')) {
    const entry = partnerOf(rows, r);
    if (entry) pairs.push(entry);
    pairs.push(r);
  }
  for (const r of pairs) {
    const base = r.g === 'row' ? partnerOf(rows, r) : null;
    const d = base ? `${r.top1 - base.top1 >= 0 ? '+' : ''}${(100 * (r.top1 - base.top1)).toFixed(2)}` : '';
    L.push(
      `| ${r.config} | ${r.heuristic} | ${r.pc ? 'per channel' : 'per tensor'} | ${r.g === 'row' ? 'per row' : 'per entry'} | ${r.avgWeightBits.toFixed(4)} | ${r.bn ? 're-estimated' : 'float'} | ${pct(r.top1)} | ${d} | ${pct(r.top5)} | ` +
        `${r.normRatio.toFixed(3)} | ${r.relError.toFixed(3)} | ${command(args, r, modelRel)} |`,
    );
  }
  return L;
}

function render({ rows, sw, modelRel, ds, args, totalS, ran, previous }) {
  const cmd = `npx tsc && node bench/ptq-table.mjs${args.limit ? ` --limit ${args.limit}` : ''}${args.only ? ` --only '${args.only.source}'` : ''}`;
  const L = [];
  L.push('# Post-training HBNN accuracy on Fashion-MNIST');
  L.push('');
  L.push(`Generated by \`${cmd}\` (${totalS.toFixed(0)} s on this machine${args.only ? ' for the rows run' : ''}). Do not edit the tables by hand; the`);
  L.push('commentary section is carried over when the file is regenerated.');
  if (args.only) {
    L.push(`With \`--only\`, only the rows ${ran.map((r) => `\`${r}\``).join(', ')} were run; the other rows${sw ? ' and the sweep' : ''} are`);
    L.push(`carried over from the earlier full run saved in \`${args.json}\` (same code for those rows, same model and test set).`);
  }
  L.push('');
  L.push(`- Model: \`${modelRel}\` (3 × Conv-BN-ReLU-MaxPool, Gemm, learned output scale; see`);
  L.push('  `fixtures/models/README.md`). Quantized **after training, without any fine-tuning**.');
  L.push(`- Test data: \`${ds.name}\`, ${ds.count.toLocaleString('en-US')} images, normalized with mean 0.2860, std 0.3530.`);
  L.push('- Weights: every Conv and Gemm weight is binarized (first and last layer included, as in the');
  L.push('  paper\'s Figure 1(b)), one scale per bit per tensor, DistFromAvg distribution (1.2 bits =');
  L.push(`  85/10/5 %, 1.4 bits = 70/20/10 %), random heuristic with seed ${SEED}. \`layer\` is the`);
  L.push('  layer-level baseline (paper §4.2): whole layers at 1, 2 or 3 bits, mixed so the');
  L.push('  parameter-weighted average is as close to the target as whole layers allow; its achieved');
  L.push('  average is in the bits column.');
  L.push('- Activations (the A configurations): binarized at the inputs of the 2nd and 3rd convolutions');
  L.push('  (before their ReLU, see `passes/insert-activation-binarization.ts`); first and last layers');
  L.push('  keep float inputs. Bands and scales calibrated on the first 1,000 training images');
  L.push('  (`fmnist:train`), Middle-Out bands.');
  L.push('- BatchNorm "re-estimated" (the `+BN` rows): after binarization the mean and variance of');
  L.push('  every BatchNorm are re-estimated on the same 1,000 training images through the quantized');
  L.push('  network (pass `recalibrate-batchnorm`, `quantize({recalibrateBatchNorm: true})`; with');
  L.push('  activations it runs after `calibrate` and re-calibrates each binarizer after a re-estimated');
  L.push('  BatchNorm). "float": the float model\'s running statistics, as trained.');
  L.push('- ‖Ŵ‖/‖W‖ and ‖Ŵ−W‖²/‖W‖²: over all binarized weights, Ŵ rebuilt from the stored planes');
  L.push('  and scales — how much the binarization shrinks the weights, and its relative squared error.');
  L.push('- "command" builds exactly the evaluated model with the CLI; the accuracy is');
  L.push('  `evaluate(model, loadDataset(\'fmnist:test\', {normalize: FMNIST_NORMALIZATION}))`.');
  L.push('');
  L.push('## Table');
  L.push('');
  L.push('| config | heuristic | avg weight bits | act bits | BatchNorm | top-1 | top-5 | ‖Ŵ‖/‖W‖ | ‖Ŵ−W‖²/‖W‖² | command |');
  L.push('| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows.filter((x) => !granularityRow(x))) {
    const h = r.heuristic ?? (r.w !== undefined ? 'homogeneous' : '—');
    const wb = r.avgWeightBits === null ? '32 (float)' : r.avgWeightBits.toFixed(4);
    const ab = r.avgActivationBits === null ? 'float' : r.avgActivationBits.toFixed(2);
    const fid = r.normRatio === undefined ? '— | —' : `${r.normRatio.toFixed(3)} | ${r.relError.toFixed(3)}`;
    L.push(`| ${r.config} | ${h} | ${wb} | ${ab} | ${r.bn ? 're-estimated' : 'float'} | ${pct(r.top1)} | ${pct(r.top5)} | ${fid} | ${command(args, r, modelRel)} |`);
  }
  L.push(...granularityTable(rows, args, modelRel));
  if (sw) {
    L.push('');
    L.push('## Sweep (paper Figure 1 without fine-tuning)');
    L.push('');
    L.push(`![top-1 vs average weight bits](${path.basename(args.svg)})`);
    L.push('');
    L.push(`\`sweep()\` over bits ${SWEEP_BITS.join(', ')} × heuristics ${HEURISTICS.join(', ')}, weights only, same`);
    L.push(`test set. Top-1 per point (for \`layer\`, the achieved average bits in parentheses):`);
    L.push('');
    L.push(`| heuristic | ${SWEEP_BITS.join(' | ')} |`);
    L.push(`| --- |${SWEEP_BITS.map(() => ' ---: |').join('')}`);
    for (const h of HEURISTICS) {
      const cells = SWEEP_BITS.map((b) => {
        const p = sw.points.find((q) => q.heuristic === h && q.bits === b);
        if (!p) return '—';
        return h === 'layer' && !Number.isInteger(b) ? `${pct(p.top1)} (${p.avgWeightBits.toFixed(3)})` : pct(p.top1);
      });
      L.push(`| ${h} | ${cells.join(' | ')} |`);
    }
    L.push('');
    L.push(`Float model: ${pct(sw.float.top1)} top-1 (dashed line in the figure).`);
  }
  L.push('');
  L.push('## Orderings (computed from the numbers above)');
  L.push('');
  L.push(...observations(rows, sw));
  L.push('');
  L.push('## Commentary');
  L.push('');
  L.push(COMMENTARY[0]);
  L.push(previous ?? '_(to be written after looking at the numbers)_');
  L.push(COMMENTARY[1]);
  L.push('');
  return L.join('\n');
}

main().catch((e) => {
  process.stderr.write(`${e.code ? `[${e.code}] ` : ''}${e.stack ?? e}\n`);
  process.exit(1);
});
