/**
 * The FIFO on a unit's input (vivado-hls design.ts rule 6, `unitInputDepth`): a unit that replays
 * its input vector over NF row folds, fed by a slower unit, holds what that unit makes while it
 * replays (CNV's gemm21 → gemm24 ran at twice the slower unit's cycles without it). The depth
 * formula on its cases; a three-layer MLP whose middle layer replays gets the FIFO in hbnn_top
 * (and the HLS top's stream depth), and stays bit-exact with the interpreter in RTL simulation
 * (Icarus).
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lowerToVerilog, runIcarusSim } from '../../../src/backends/verilog/index.js';
import { unitInputDepth } from '../../../src/backends/vivado-hls/design.js';
import { fifoCost } from '../../../src/backends/vivado-hls/estimate.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { writeNpy } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { setTensorType } from '../../../src/ir/types.js';
import { DataType } from '../../../src/ir/dtype.js';
import { A, addFloatInit, addInput, addNode, newModel } from '../../helpers/build.js';
import { uniform } from '../../helpers/grouped.js';
import { fmnistAs } from '../../helpers/zoo.js';
import { tempDir } from '../vivado-hls/helpers.js';

const unit = (mh: number, mw: number, pe: number, simd: number, reps = 1) => ({ mh, mw, pe, simd, reps });

describe('unitInputDepth', () => {
  it('the beats the producer makes while the unit replays, at most one vector, + 2', () => {
    // CNV gemm24 (512×512, PE 1, SIMD 8) after gemm21 (32,768 cycles): a whole vector, 64 beats
    expect(unitInputDepth(unit(512, 512, 1, 8), 32768)).toBe(66);
    // CNV gemm27 (10×512, PE 5, SIMD 1) after gemm24: one replay of 512 cycles, a beat per 64 cycles
    expect(unitInputDepth(unit(10, 512, 5, 1), 32768)).toBe(10);
    // no replay (PE = MH), no producing unit, or a producer as fast as the unit reads: no FIFO
    expect(unitInputDepth(unit(16, 64, 16, 8), 32768)).toBe(2);
    expect(unitInputDepth(unit(512, 512, 1, 8), undefined)).toBe(2);
    expect(unitInputDepth(unit(32, 64, 1, 8), 8)).toBe(2);
    // a convolution's vector is one window: the producer's cycles per vector are its cycles / reps
    expect(unitInputDepth(unit(64, 576, 32, 32, 784), 784 * 100)).toBe(Math.min(18, Math.ceil((18 * 18) / 100)) + 2);
  });
});

describe('a unit fed by a slower unit gets an input FIFO', () => {
  const SHAPE = [1, 4, 4] as const;
  const SAMPLES = 3;
  const root = tempDir('hbnn-unit-fifo-');
  function mlp() {
    const m = newModel();
    const g = m.graph;
    let x = addInput(g, 'input', ['N', ...SHAPE]);
    x = addNode(g, 'Flatten', [x], ['flat'], { axis: A.int(1) }).outputs[0]!;
    const fc = (name: string, n: number, k: number, relu: boolean): void => {
      const w = addFloatInit(g, `${name}.w`, [n, k], uniform(n * k, 7 + n + k));
      x = addNode(g, 'Gemm', [x, w], [`${name}_out`], { transB: A.int(1) }, { name }).outputs[0]!;
      if (relu) x = addNode(g, 'Relu', [x], [`${name}_relu`]).outputs[0]!;
    };
    fc('fc1', 32, 16, true);
    fc('fc2', 32, 32, true);
    fc('fc3', 10, 32, false);
    setTensorType(x, DataType.FLOAT, ['N', 10]);
    g.outputs.push(x);
    return m;
  }
  it('fc2 (NF 32, SF 8) after fc1 (256 cycles): a FIFO of 10 beats; RTL bit-exact', async () => {
    const calib = path.join(root, 'calib.npy');
    writeNpy(calib, { dtype: 'float32', shape: [16, ...SHAPE], data: fmnistAs(SHAPE, 16, 'train') });
    const m = mlp();
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', actBits: 1, calibData: `npy:${calib}`, calibLimit: 16 });
    const folding = { layers: { fc1: { pe: 1, simd: 2 }, fc2: { pe: 1, simd: 4 }, fc3: { pe: 10, simd: 32 } } };
    const r = lowerToVerilog(m, { folding, testData: fmnistAs(SHAPE, SAMPLES), testSamples: SAMPLES, accSamples: SAMPLES });
    const fifos = r.stages.filter((s) => s.module === 'hbnn_fifo');
    expect(fifos.map((s) => [s.instance, s.params['DEPTH']])).toEqual([['u_mvtu_fc2_fifo', '10']]);
    const fc2 = r.design.stages.find((s) => s.kind === 'unit' && s.layer === 'fc2')!;
    expect(fc2.kind === 'unit' && fc2.in.depth).toBe(10);
    // the estimate counts it (an SRL FIFO) beside the stages
    const stageLuts = r.estimates.stages.reduce((a, s) => a + s.luts, 0);
    expect(r.estimates.total.luts).toBe(Math.round(stageLuts + fifoCost(fc2.in).luts));
    expect(fifoCost(fc2.in).luts).toBeGreaterThan(0);
    const dir = path.join(root, 'mlp');
    writeFilesAtomic(dir, r.files);
    const sim = await runIcarusSim(dir, { timeoutMs: 300_000 });
    expect(sim.stdout).toContain('hbnn-tb: PASS');
    expect(sim.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
  }, 300_000);
});
