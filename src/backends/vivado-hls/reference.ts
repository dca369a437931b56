/**
 * Published FPGA reference points for FINN's CNV (VGG-8, CIFAR-10) and the HBNN paper's
 * Table 2, in one place for the tests, the benchmarks and docs/fpga-results.md.
 */
import type { FoldingSpec, UnitStage } from './types.js';

/**
 * (PE, SIMD) of CNV's nine matrix-vector units in BNN-PYNQ's cnvW1A1 build
 * (Xilinx/BNN-PYNQ, bnn/src/network/cnvW1A1/hw/config.h, "Finnthesizer Config-File
 * Generation"): conv (16,3) (32,32) (16,32) (16,32) (4,32) (1,32), FC (1,4) (1,8) (4,1).
 * FINN pads the last layer to 64 rows (PE 4); CNV here has 10, so PE 2 (the largest divisor
 * of 10 that is at most 4) stands in for it.
 */
export const BNN_PYNQ_CNV_FOLDING: readonly (readonly [number, number])[] = [
  [16, 3],
  [32, 32],
  [16, 32],
  [16, 32],
  [4, 32],
  [1, 32],
  [1, 4],
  [1, 8],
  [2, 1],
];

/** The BNN-PYNQ folding for the units of CNV (in order), keyed by layer name. */
export function bnnPynqCnvFolding(units: readonly Pick<UnitStage, 'layer'>[]): FoldingSpec {
  if (units.length !== BNN_PYNQ_CNV_FOLDING.length) {
    throw new Error(`CNV has ${BNN_PYNQ_CNV_FOLDING.length} matrix-vector units; this design has ${units.length}`);
  }
  return { layers: Object.fromEntries(units.map((u, i) => [u.layer, { pe: BNN_PYNQ_CNV_FOLDING[i]![0], simd: BNN_PYNQ_CNV_FOLDING[i]![1] }])) };
}

export const REFERENCES = {
  /**
   * FINN (Umuroglu et al., FPGA 2017, arXiv:1612.07119), CNV on a ZC706 (XC7Z045), 1-bit
   * weights and activations: 21,906 FPS, 283 µs latency, 46,253 LUTs (21.2% of 218,600),
   * 3.6 W chip power. The HBNN paper's Table 2 scales this row.
   */
  finnCnvZc706: { fps: 21_906, latencyUs: 283, luts: 46_253, lutPercent: 21.2, watts: 3.6, clockMhz: 200 },
  /**
   * BNN-PYNQ cnvW1A1 on a PYNQ-Z1 (XC7Z020), Vivado 2018.2 utilization report in the
   * repository's bnn/src/network/cnvW1A1/README.md: 26,072 LUTs, 76 RAMB36 + 96 RAMB18
   * (= 248 BRAM18), 24 DSP; the folding above; 100 MHz.
   */
  bnnPynqCnvW1A1: { luts: 26_072, bram18: 248, dsp: 24, clockMhz: 100, part: 'xc7z020' },
  /** HBNN paper Table 2 (FPGA rows; METHOD.md §6): average bits → LUT %, kFPS, W. */
  paperTable2: [
    { bits: 1, lutPercent: 21.2, kfps: 21.9, watts: 3.6 },
    { bits: 1.2, lutPercent: 25.4, kfps: 18.25, watts: 4.3 },
    { bits: 1.4, lutPercent: 29.7, kfps: 15.6, watts: 5.0 },
  ],
} as const;
