/**
 * Resources from yosys's cell counts: Xilinx 7-series primitives (what synth_xilinx maps to)
 * grouped as Vivado's utilization report groups them, and standard cells priced with a
 * Liberty library's areas.
 */
import type { Liberty } from './liberty.js';

export interface XilinxResources {
  /** LUTs in all: logic LUTs + LUTs used as memory (Vivado's "Slice LUTs"). */
  luts: number;
  /** LUT1…LUT6 cells. */
  lutLogic: number;
  /** LUTs used as distributed RAM/ROM or shift registers (RAM32X1D = 2, RAM64M = 4, SRL16E = 1, …). */
  lutMemory: number;
  /** Flip-flops and latches (FD*, LD*). */
  ffs: number;
  /** Carry chains (CARRY4 / CARRY8). */
  carry: number;
  /** Wide-function muxes (MUXF7, MUXF8, MUXF9). */
  muxf: number;
  /** Block RAM in RAMB18 units (a RAMB36 counts 2). */
  bram18: number;
  /** DSP48 slices. */
  dsp: number;
  /** Cells of any other type (buffers, …), by type. */
  other: Record<string, number>;
}

/** LUTs one distributed-memory primitive occupies (UG474, UG953). */
const LUT_MEMORY: Record<string, number> = {
  RAM16X1S: 1, RAM32X1S: 1, RAM64X1S: 1, RAM128X1S: 2, RAM256X1S: 4,
  RAM16X1D: 2, RAM32X1D: 2, RAM64X1D: 2, RAM128X1D: 4, RAM256X1D: 8,
  RAM32M: 4, RAM64M: 4, RAM32M16: 8, RAM64M8: 8, RAM64X8SW: 8,
  SRL16: 1, SRL16E: 1, SRLC16E: 1, SRLC32E: 1,
};

/** Vivado-style resource groups of synth_xilinx's cell counts. */
export function xilinxResources(cells: Readonly<Record<string, number>>): XilinxResources {
  const r: XilinxResources = { luts: 0, lutLogic: 0, lutMemory: 0, ffs: 0, carry: 0, muxf: 0, bram18: 0, dsp: 0, other: {} };
  for (const [type, n] of Object.entries(cells)) {
    if (/^LUT[1-6](_2)?$/.test(type)) r.lutLogic += n;
    else if (type in LUT_MEMORY) r.lutMemory += n * LUT_MEMORY[type]!;
    else if (/^(FD[CPRS]E?(_1)?|LD[CP]E?(_1)?)$/.test(type)) r.ffs += n;
    else if (/^CARRY[48]$/.test(type)) r.carry += n;
    else if (/^MUXF[789]$/.test(type)) r.muxf += n;
    else if (/^RAMB18/.test(type)) r.bram18 += n;
    else if (/^RAMB36/.test(type)) r.bram18 += 2 * n;
    else if (/^DSP48/.test(type)) r.dsp += n;
    else r.other[type] = n;
  }
  r.luts = r.lutLogic + r.lutMemory;
  return r;
}

/** Cell types whose removal cuts every register-to-register path (for the ltp depth). */
export const XILINX_SEQUENTIAL_TYPES = ['FD*', 'LD*', 'RAMB*', 'DSP48*', 'SRL*', 'RAM*'] as const;

export interface AsicCellCount {
  count: number;
  /** count × the cell's Liberty area, µm². */
  areaUm2: number;
}

export interface AsicResources {
  /** Σ count × Liberty area of every mapped cell, µm² (the area unit of the library). */
  areaUm2: number;
  cells: number;
  /** Flip-flops and latches. */
  sequentialCells: number;
  sequentialAreaUm2: number;
  byType: Record<string, AsicCellCount>;
  /** Cells yosys left that the library does not have (should be empty), by type. */
  unmapped: Record<string, number>;
}

/** Area and counts of a netlist mapped to `lib`. */
export function asicResources(cells: Readonly<Record<string, number>>, lib: Liberty): AsicResources {
  const r: AsicResources = { areaUm2: 0, cells: 0, sequentialCells: 0, sequentialAreaUm2: 0, byType: {}, unmapped: {} };
  for (const [type, n] of Object.entries(cells)) {
    const c = lib.cells.get(type);
    if (!c) {
      r.unmapped[type] = n;
      continue;
    }
    const area = n * c.area;
    r.byType[type] = { count: n, areaUm2: round3(area) };
    r.cells += n;
    r.areaUm2 += area;
    if (c.sequential) {
      r.sequentialCells += n;
      r.sequentialAreaUm2 += area;
    }
  }
  r.areaUm2 = round3(r.areaUm2);
  r.sequentialAreaUm2 = round3(r.sequentialAreaUm2);
  return r;
}

/** The library's sequential cell types (for the ltp depth). */
export function sequentialTypes(lib: Liberty): string[] {
  return [...lib.cells.values()].filter((c) => c.sequential).map((c) => c.name).concat(['$_DFF*', '$_DLATCH*', '$_SR*', '$_ALDFF*', '$_DFFSR*']);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
