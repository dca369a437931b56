/**
 * FPGA parts the estimates can be expressed against. Capacities from AMD/Xilinx product
 * tables: Zynq-7000 (DS190, "Zynq-7000 SoC Data Sheet: Overview"), Zynq UltraScale+ MPSoC
 * (DS891, "Zynq UltraScale+ MPSoC Data Sheet: Overview") and the Alveo U250 (DS962, "Alveo
 * U200 and U250 Data Center Accelerator Cards Data Sheet"). BRAM is counted in 18 Kb halves
 * (one 36 Kb block = two BRAM18).
 */
import { fail, ErrorCodes } from '../../errors.js';
import type { FpgaPart } from './types.js';

export const FPGA_PARTS: Readonly<Record<string, FpgaPart>> = Object.freeze({
  xc7z020: {
    name: 'xc7z020',
    family: 'Zynq-7000',
    board: 'PYNQ-Z1 / ZedBoard',
    luts: 53_200,
    ffs: 106_400,
    bram18: 280,
    dsp: 220,
    source: 'DS190 (Zynq-7000 overview), Z-7020: 53,200 LUTs, 140 × 36 Kb BRAM, 220 DSP48E1',
  },
  xc7z045: {
    name: 'xc7z045',
    family: 'Zynq-7000',
    board: 'ZC706',
    luts: 218_600,
    ffs: 437_200,
    bram18: 1_090,
    dsp: 900,
    source: 'DS190 (Zynq-7000 overview), Z-7045: 218,600 LUTs, 545 × 36 Kb BRAM, 900 DSP48E1',
  },
  xczu3eg: {
    name: 'xczu3eg',
    family: 'Zynq UltraScale+',
    board: 'Ultra96',
    luts: 70_560,
    ffs: 141_120,
    bram18: 432,
    dsp: 360,
    source: 'DS891 (Zynq UltraScale+ MPSoC overview), ZU3EG: 70,560 LUTs, 216 × 36 Kb BRAM, 360 DSP48E2',
  },
  xczu9eg: {
    name: 'xczu9eg',
    family: 'Zynq UltraScale+',
    board: 'ZCU102',
    luts: 274_080,
    ffs: 548_160,
    bram18: 1_824,
    dsp: 2_520,
    source: 'DS891 (Zynq UltraScale+ MPSoC overview), ZU9EG: 274,080 LUTs, 912 × 36 Kb BRAM, 2,520 DSP48E2',
  },
  xcu250: {
    name: 'xcu250',
    family: 'Virtex UltraScale+ (Alveo U250)',
    board: 'Alveo U250',
    luts: 1_728_000,
    ffs: 3_456_000,
    bram18: 5_376,
    dsp: 12_288,
    uram: 1_280,
    source: 'DS962 (Alveo U200/U250 data sheet), U250: 1,728K LUTs, 2,688 × 36 Kb BRAM, 1,280 URAM, 12,288 DSP slices',
  },
});

export const DEFAULT_PART = 'xc7z045';

/**
 * The part named `name`. Accepts the bare device name or a full part number that starts
 * with it (`xc7z045ffg900-2`). INVALID_OPTION for anything else.
 */
export function resolvePart(name: string = DEFAULT_PART): FpgaPart {
  const key = name.toLowerCase();
  const exact = FPGA_PARTS[key];
  if (exact) return exact;
  const prefix = Object.keys(FPGA_PARTS).find((k) => key.startsWith(k));
  if (prefix) return FPGA_PARTS[prefix]!;
  return fail(ErrorCodes.INVALID_OPTION, `unknown FPGA part "${name}"; known parts: ${Object.keys(FPGA_PARTS).join(', ')}`, { option: 'part' });
}
