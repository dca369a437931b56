/**
 * The generated project as text: which files, the HLS structure (DATAFLOW, AXI-Stream and
 * AXI-Lite interfaces, pipelined loops, partitioned arrays), the packed weight planes (read
 * back from the header and compared with the bit-level IR bit by bit), folding.json,
 * estimates and run_hls.tcl; and that emission is deterministic.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { lowerVivadoHls, parseFolding, type VivadoHlsResult } from '../../../src/backends/vivado-hls/index.js';
import { fifoCost } from '../../../src/backends/vivado-hls/estimate.js';
import type { BinaryWeight, BitProgram } from '../../../src/bitir/types.js';
import type { UnitStage } from '../../../src/backends/vivado-hls/types.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../../src/data/index.js';
import { quantizedFmnist } from './helpers.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import type { Model } from '../../../src/ir/graph.js';

const data = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION, limit: 4 }).images;

let model: Model;
let program: BitProgram;
let result: VivadoHlsResult;
const FOLD = { layers: { '/c1/Conv': { pe: 8, simd: 9 }, '/c2/Conv': { pe: 4, simd: 32 }, '/c3/Conv': { pe: 8, simd: 64 }, '/fc/Gemm': { pe: 2, simd: 64 } } };

beforeAll(async () => {
  model = await quantizedFmnist('W1.4');
  program = lowerToBitIR(model);
  result = lowerVivadoHls(program, { folding: FOLD, testData: data, testSamples: 4, accSamples: 1 });
});

/** The 64-bit words of `static const ap_uint<S> NAME[..][..] = {...};` in order. */
function words(header: string, name: string): bigint[] {
  const start = header.indexOf(` ${name}[`);
  expect(start, `array ${name}`).toBeGreaterThan(0);
  const end = header.indexOf('};', start);
  return [...header.slice(start, end).matchAll(/0x([0-9a-f]+)ULL/g)].map((m) => BigInt(`0x${m[1]}`));
}

const irBit = (w: Uint32Array, wpr: number, row: number, col: number): number => (w[row * wpr + (col >>> 5)]! >>> (col & 31)) & 1;

describe('vivado-hls project files', () => {
  it('has the design, shim, weights per unit, testbench, script, folding, estimates and README', () => {
    const names = [...result.files.keys()].sort();
    expect(names).toEqual(
      [
        'README.md',
        'estimates.json',
        'estimates.md',
        'folding.json',
        'hbnn_hls_lib.h',
        'hbnn_hls_shim.h',
        'hbnn_top.cpp',
        'hbnn_top.h',
        'run_hls.tcl',
        'tb.cpp',
        'tb_data.txt',
        'weights_c1_Conv.h',
        'weights_c2_Conv.h',
        'weights_c3_Conv.h',
        'weights_fc_Gemm.h',
      ].sort(),
    );
    for (const v of result.files.values()) expect(typeof v).toBe('string');
  });

  it('runs the stages as one DATAFLOW region with AXI-Stream data and AXI-Lite control', () => {
    const top = result.files.get('hbnn_top.cpp')!;
    expect(top).toMatch(/void hbnn_top\(hls::stream<hbnn_in_t>& in, hls::stream<hbnn_out_t>& out, unsigned reps\)/);
    expect(top).toContain('#pragma HLS DATAFLOW');
    expect(top).toContain('#pragma HLS INTERFACE axis port=in');
    expect(top).toContain('#pragma HLS INTERFACE axis port=out');
    expect(top).toContain('#pragma HLS INTERFACE s_axilite port=reps bundle=control');
    expect(top).toContain('#pragma HLS INTERFACE s_axilite port=return bundle=control');
    // One call per stage, in order, each stream declared with a FIFO depth.
    for (const s of result.design.stages) expect(top).toContain(s.kind === 'dwc' ? `hbnn::convert_width<` : `${s.name}(`);
    expect(top.match(/#pragma HLS STREAM variable=s\d+ depth=\d+/g)!.length).toBeGreaterThanOrEqual(result.design.stages.length - 1);
    // deeper FIFOs only where the design sized one (design.ts rule 6: here the inputs of windows behind slower units)
    const deep = result.design.stages.flatMap((s) => ('in' in s && (s.in.depth ?? 2) > 2 ? [s.in] : []));
    for (const x of deep) expect(top).toContain(`#pragma HLS STREAM variable=${x.name} depth=${x.depth}`);
    expect(top.match(/#pragma HLS STREAM variable=s\d+ depth=(?!2\b)\d+/g)?.length ?? 0).toBe(deep.length);
    // Units: pipelined row/column folds, PEs unrolled, weight banks partitioned by PE.
    expect(top.match(/#pragma HLS PIPELINE II=1/g)!.length).toBeGreaterThanOrEqual(4);
    expect(top).toContain('#pragma HLS ARRAY_PARTITION variable=u1_ws1 complete dim=1');
    expect(top).toContain('#pragma HLS ARRAY_PARTITION variable=u1_wc2 complete dim=1');
    expect(top).toContain('#pragma HLS ARRAY_PARTITION variable=u1_wm3 complete dim=1');
    expect(top).toContain('static void swu_c2_Conv(');
    expect(top).toContain('static void mvtu_c2_Conv(');
    expect(result.files.get('hbnn_hls_shim.h')).toContain('__has_include(<ap_int.h>)');
  });

  it('packs each weight plane per PE and tile in stream order; 1-bit weights appear only in plane 1; three nested planes take 4 words', () => {
    for (const u of result.design.units) {
      const w = u.weight as BinaryWeight;
      expect(w.kind).toBe('binary');
      expect(w.planes.length).toBe(3);
      const header = result.files.get(`weights_${u.name.replace('mvtu_', '')}.h`)!;
      const p = `u${u.index}`;
      const nf = u.mh / u.pe;
      const sf = u.mw / u.simd;
      // Plane 1 holds every weight (no mask); planes 2 and 3 are nested: ws1, ws2, wc2 = (m3 ? s3 : m2), wm3.
      expect(header).not.toContain(` ${p}_wm1[`);
      expect(header).not.toContain(` ${p}_wm2[`);
      expect(header).not.toContain(` ${p}_ws3[`);
      const ws1 = words(header, `${p}_ws1`);
      const ws2 = words(header, `${p}_ws2`);
      const wc2 = words(header, `${p}_wc2`);
      const wm3 = words(header, `${p}_wm3`);
      let oneBit = 0;
      let wrong = 0;
      let multiInLaterPlanes = 0;
      const bit = (ws: bigint[], idx: number, s: number): number => Number((ws[idx]! >> BigInt(s)) & 1n);
      for (let pe = 0; pe < u.pe; pe++) {
        for (let t = 0; t < nf * sf; t++) {
          const row = Math.floor(t / sf) * u.pe + pe;
          const idx = pe * nf * sf + t;
          for (let s = 0; s < u.simd; s++) {
            const col = u.columnOrder[(t % sf) * u.simd + s]!;
            const m3 = bit(wm3, idx, s);
            const c2 = bit(wc2, idx, s);
            const m2 = c2 | m3;
            const decoded = [
              { sign: bit(ws1, idx, s), mask: 1 },
              { sign: bit(ws2, idx, s), mask: m2 },
              { sign: m3 ? c2 : 0, mask: m3 },
            ];
            let bits = 0;
            decoded.forEach((d, i) => {
              if (d.sign !== irBit(w.planes[i]!.signs, w.wordsPerRow, row, col)) wrong++;
              if (d.mask !== irBit(w.planes[i]!.mask, w.wordsPerRow, row, col)) wrong++;
              bits += d.mask;
            });
            if (bits === 1) {
              oneBit++;
              multiInLaterPlanes += bit(ws2, idx, s) + c2 + m3;
            }
          }
        }
      }
      expect(wrong).toBe(0);
      expect(multiInLaterPlanes).toBe(0);
      // Middle-Out at 1.4 bits: most weights have one bit.
      expect(oneBit / (u.mh * u.mw)).toBeGreaterThan(0.6);
    }
  });

  it('orders conv weight columns as the window (kh, kw, c) and Gemm columns as the flattened HWC stream', () => {
    const c2 = result.design.units[1]!;
    // Window entry j = (kh·3 + kw)·32 + c reads IR column c·9 + kh·3 + kw.
    expect(c2.columnOrder[0]).toBe(0);
    expect(c2.columnOrder[1]).toBe(9);
    expect(c2.columnOrder[32]).toBe(1);
    const fc = result.design.units[3] as UnitStage;
    // The pooled [128,3,3] image streams pixel by pixel: entry 1 is channel 1 of pixel 0 = IR index 9.
    expect(fc.columnOrder[0]).toBe(0);
    expect(fc.columnOrder[1]).toBe(9);
    expect(fc.columnOrder[128]).toBe(1);
    expect([...fc.columnOrder].sort((a, b) => a - b)).toEqual(Array.from({ length: 1152 }, (_, i) => i));
  });

  it('writes the folding it used, readable back with parseFolding', () => {
    const json = JSON.parse(result.files.get('folding.json')!);
    expect(json.format).toBe('hbnn-folding/1');
    expect(parseFolding(json)).toEqual(FOLD);
    expect(result.folding).toEqual(FOLD);
    expect(json.layers['/c2/Conv']).toMatchObject({ pe: 4, simd: 32, mh: 64, mw: 288, reps: 196, cycles: 196 * 16 * 9 });
  });

  it('reports estimates as JSON and Markdown for the part, and a Vivado HLS script with every step', () => {
    const e = JSON.parse(result.files.get('estimates.json')!);
    expect(e.part.name).toBe('xc7z045');
    expect(e.clockMhz).toBe(200);
    expect(e.total.cycles).toBe(Math.max(...e.stages.map((s: { cycles: number }) => s.cycles)));
    expect(e.total.fps).toBeCloseTo(200e6 / e.total.cycles, 0);
    // the stages, and the FIFOs sized on the inputs of units and line-buffered stages (rule 6)
    const fifos = result.design.stages.reduce((a, s) => a + (s.kind === 'unit' || s.kind === 'window' || s.kind === 'maxpool' || s.kind === 'avgpool' ? fifoCost(s.in).luts : 0), 0);
    expect(e.total.luts).toBe(Math.round(e.stages.reduce((a: number, s: { luts: number }) => a + s.luts, 0) + fifos));
    const md = result.files.get('estimates.md')!;
    expect(md).toContain('| /c2/Conv | unit | 64×288 ×196 | 4 / 32 |');
    const tcl = result.files.get('run_hls.tcl')!;
    for (const step of ['csim_design', 'csynth_design', 'cosim_design', 'export_design', 'set_top hbnn_top', 'set_part {xc7z045ffg900-2}', 'create_clock -period 5.000']) {
      expect(tcl).toContain(step);
    }
    expect(result.files.get('README.md')).toContain('## Interface');
  });

  it('is deterministic and the same from the model or from its bit-level program', async () => {
    const again = lowerVivadoHls(program, { folding: FOLD, testData: data, testSamples: 4, accSamples: 1 });
    expect([...again.files.entries()]).toEqual([...result.files.entries()]);
    const fromModel = lowerVivadoHls(model, { folding: FOLD, testData: data, testSamples: 4, accSamples: 1 });
    expect([...fromModel.files.entries()]).toEqual([...result.files.entries()]);
  });

  it('fills the testbench with every sample, and accumulators of every unit for the first ones', () => {
    const lines = result.files.get('tb_data.txt')!.trimEnd().split('\n');
    expect(lines[0]).toBe('hbnn-tb 1');
    expect(lines[1]).toBe('images 4 entries 784 classes 10 units 4 acc_images 1');
    const unitSizes = lines.slice(2, 6).map((l) => Number(l.split(' ')[2]));
    expect(unitSizes).toEqual([3 * 32 * 784, 3 * 64 * 196, 3 * 128 * 49, 3 * 10]);
    // header (6) + per sample 3 lines + 4 accumulator lines for the first sample
    expect(lines.length).toBe(6 + 4 * 3 + 4);
    expect(lines[6]!.split(' ').length).toBe(784);
  });
});
