/**
 * Memories as macros in the ASIC flow (docs/synthesis.md#memories): the designs' ROMs and RAMs
 * (`hbnn_rom`, `hbnn_ram` of the Verilog backend) are kept as black boxes by yosys, so the
 * synthesized standard-cell area is the logic alone, and the memories are priced here from
 * their bits with a per-bit macro model. A standard-cell-only flow has no SRAM or ROM
 * compiler; the model stands in for one and is labelled as a model wherever it is shown.
 *
 * The 0.18 µm model (MEMORY_MODEL_018) is an assumption, not a measurement:
 * - RAM: a six-transistor SRAM bit cell of 5.6 µm² (the 180 nm logic processes of 1999–2000
 *   reported 4.6–5.6 µm² cells; the larger one is taken) at an array efficiency of 50% (bit
 *   cells over macro area, decoders, sense amplifiers and I/O included; small macros such as
 *   line buffers reach 30–60%): 11.2 µm² per bit.
 * - ROM: a one-transistor NOR ROM cell programmed by contact or via, about a third of the SRAM
 *   cell (1.9 µm²), at the same 50% efficiency: 3.8 µm² per bit.
 * Scale the constants for another node with (node / 180 nm)²; for a real flow, replace them by
 * the macros a memory compiler generates.
 */
import type { MemoryInstance } from '../verilog/memories.js';

export interface MemoryAreaModel {
  name: string;
  /** Area per bit of a RAM macro, µm² (bit cell ÷ array efficiency). */
  ramUm2PerBit: number;
  /** Area per bit of a ROM macro, µm². */
  romUm2PerBit: number;
  /** Where the constants come from (shown in reports). */
  basis: string;
}

export const MEMORY_MODEL_018: MemoryAreaModel = {
  name: 'memory macro model, 0.18 µm (assumed)',
  ramUm2PerBit: 11.2,
  romUm2PerBit: 3.8,
  basis: 'SRAM 6T cell 5.6 µm², NOR ROM cell 1.9 µm², 50% array efficiency',
};

/** Memories priced as macros (not in the synthesized cell area). */
export interface MemoryMacros {
  macros: number;
  romBits: number;
  ramBits: number;
  /** romBits × romUm2PerBit + ramBits × ramUm2PerBit (absent without a model). */
  areaUm2?: number;
}

/** Bits and modelled area of `ms` (area only with a model). */
export function priceMemories(ms: readonly Pick<MemoryInstance, 'kind' | 'width' | 'depth'>[], model?: MemoryAreaModel): MemoryMacros {
  let romBits = 0;
  let ramBits = 0;
  for (const m of ms) {
    if (m.kind === 'rom') romBits += m.width * m.depth;
    else ramBits += m.width * m.depth;
  }
  return {
    macros: ms.length,
    romBits,
    ramBits,
    ...(model ? { areaUm2: Math.round((romBits * model.romUm2PerBit + ramBits * model.ramUm2PerBit) * 1000) / 1000 } : {}),
  };
}
