/**
 * The LUT model of the line-buffered stages (estimate.ts lineBufferLutFeatures, xilinxMemory,
 * LINE_BUFFER_LUT_FIT) against the per-instance xilinx synthesis of the fmnist-cnn's and CNV's
 * windows and max pools committed in fixtures/synth/line-buffer-luts.json
 * (bench/synth-line-buffer-fit.mjs): the memory mapping rule gives each stage's LUTs as memory
 * and BRAM18, the committed constants are the fixture's fit, the fitted and held-out errors stay
 * small, and a design's window and pool estimates are the formula (the Verilog backend's
 * estimate, `lineBuffers: 'verilog'`; the vivado-hls backend's keeps FINN's SWU).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planVivadoHls } from '../../../src/backends/vivado-hls/index.js';
import { LINE_BUFFER_LUT_FIT, lineBufferLutFeatures, lineBufferRows, xilinxMemory } from '../../../src/backends/vivado-hls/estimate.js';
import { entryBits } from '../../../src/backends/vivado-hls/design.js';
import { fitLineBufferLuts, lineBufferGeometry, LINE_BUFFER_DATA, type LineBufferEntry } from '../../../src/backends/synth/calibrate.js';
import { stageAreaFeatures } from '../../../src/backends/synth/stage-area.js';
import { quantizedFmnist } from './helpers.js';
import { RTL_FOLDING } from '../verilog/helpers.js';

const entries = (JSON.parse(fs.readFileSync(path.join(__dirname, '../../..', LINE_BUFFER_DATA), 'utf8')) as { entries: LineBufferEntry[] }).entries;

describe('line-buffered stages: estimate against synthesis', () => {
  it('the fixture holds windows and pools of both designs, some held out', () => {
    expect(entries.filter((e) => e.module === 'hbnn_swu').length).toBeGreaterThanOrEqual(9);
    expect(entries.filter((e) => e.module === 'hbnn_maxpool').length).toBeGreaterThanOrEqual(5);
    expect(entries.some((e) => e.holdout && e.module === 'hbnn_swu') && entries.some((e) => e.holdout && e.module === 'hbnn_maxpool')).toBe(true);
  });

  it("the memory rule gives every stage's LUTs as memory and its BRAM18 (distributed or block, as yosys chose)", () => {
    for (const e of entries) {
      const m = lineBufferLutFeatures(lineBufferGeometry(e.module, e.params)).memory;
      expect([e.id, m.luts, m.bram18]).toEqual([e.id, e.lutMemory, e.bram18]);
    }
    // the rule at its edges: 32 words in RAM32M (6 bits each), 64 in RAM64M (3 bits), deeper in banks or block RAM
    expect(xilinxMemory(32, 12)).toEqual({ luts: 8, bram18: 0 });
    expect(xilinxMemory(64, 12)).toEqual({ luts: 16, bram18: 0 });
    expect(xilinxMemory(4096, 64).bram18).toBeGreaterThan(0);
  });

  it('the committed constants are the fixture\'s fit; mean abs error ≤ 5% fitted and held out', () => {
    const f = fitLineBufferLuts(entries);
    expect(f.fit).toEqual(LINE_BUFFER_LUT_FIT);
    expect(f.heldOut.length).toBeGreaterThanOrEqual(4);
    expect(f.mae.train).toBeLessThan(0.05);
    expect(f.mae.heldOut).toBeLessThan(0.05);
  });

  it("a design's window and max-pool estimates are the model's formula", async () => {
    const m = await quantizedFmnist('W1.4');
    const plan = planVivadoHls(m, { folding: RTL_FOLDING, lineBuffers: 'verilog' });
    // the vivado-hls backend's own estimate keeps FINN's: another figure for the same stages
    const finn = planVivadoHls(m, { folding: RTL_FOLDING });
    let checked = 0;
    for (const s of plan.design.stages) {
      if (s.kind !== 'window' && s.kind !== 'maxpool') continue;
      const e = plan.estimates.stages.find((x) => x.stage === s.name)!;
      const eb = entryBits(s.in.entry);
      const kk = s.kernel[0] * s.kernel[1];
      const rows = lineBufferRows(s.kernel[0], s.dilations[0], s.strides[0]);
      const line = xilinxMemory(rows * s.width, s.channels * eb);
      const fit = LINE_BUFFER_LUT_FIT;
      let luts: number;
      if (s.kind === 'window') {
        const simd = s.out.beat;
        const beats = (kk * s.channels) / simd;
        const mux = beats > 1 && simd !== s.channels;
        luts = fit.ctrl + fit.winBit * (mux ? kk : 1) * s.channels * eb + line.luts + (beats > 1 && !mux ? s.channels * eb * Math.ceil(kk / 32) : 0);
      } else {
        luts = fit.ctrl + fit.poolChan * s.channels + fit.poolBit * s.channels * eb + line.luts;
      }
      expect([s.name, e.luts, e.bram18]).toEqual([s.name, Math.round(luts), line.bram18]);
      expect(finn.estimates.stages.find((x) => x.stage === s.name)!.luts).not.toBe(e.luts);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  }, 120_000);

  it('asic: a FIFO is priced (its slots as register bits, one counter side), not left out of the whole-design estimate', () => {
    expect(stageAreaFeatures('hbnn_fifo', { W: '16', DEPTH: '66' })).toMatchObject({ regBit: 16 * 66, dwcSide: 1 });
  });
});
