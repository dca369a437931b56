/**
 * The memories of the generated designs (hbnn_lib.v): a read-only memory with one synchronous
 * read port (`hbnn_rom`: the units' weights, masks, row multipliers, thresholds, codes and
 * biases, initialised by `$readmemh`) and a simple dual-port RAM (`hbnn_ram`: the units' input
 * buffers and the line buffers of the window and pooling stages). Both register the read data
 * (`q <= mem[addr]` at each clock), which is what FPGA block and distributed RAM and
 * standard-cell SRAM/ROM macros have: yosys's `synth_xilinx` maps them to RAMB18/RAMB36 or
 * LUT memory, and the ASIC flow keeps them as black boxes (macros) whose area a per-bit model
 * prices (src/backends/synth/memory.ts).
 *
 * Every memory of a design is listed as a `MemoryInstance` (kind, width, depth) beside the
 * Verilog, so that reports can count memory bits without reading the netlist.
 */
import { clocked, type Module } from './ast.js';

export const ROM_MODULE = 'hbnn_rom';
export const RAM_MODULE = 'hbnn_ram';
/** The memory modules (black boxes of the ASIC flow). */
export const MEMORY_MODULES = [ROM_MODULE, RAM_MODULE] as const;

/**
 * ROMs deeper than this many words are marked `rom_style = "block"` (block RAM): up to 64 words
 * a ROM costs one 6-input LUT per output bit, which is what yosys builds unasked; deeper, LUT
 * ROMs need several LUTs and wide muxes per bit and yosys's cost model still prefers them.
 */
export const BLOCK_ROM_MIN_DEPTH = 65;

/** One memory of a design (for reports: bits, macros). */
export interface MemoryInstance {
  /** Hierarchical instance path inside the top module (e.g. `u_mvtu_c2_Conv.rom_ws1`). */
  path: string;
  kind: 'rom' | 'ram';
  /** Word width in bits. */
  width: number;
  /** Words. */
  depth: number;
  /** The `$readmemh` file of a ROM. */
  init?: string;
}

/** Bits of a list of memories. */
export function memoryBits(ms: readonly Pick<MemoryInstance, 'kind' | 'width' | 'depth'>[], kind?: MemoryInstance['kind']): number {
  return ms.filter((m) => kind === undefined || m.kind === kind).reduce((s, m) => s + m.width * m.depth, 0);
}

/** The word parameters of both memories: W bits per word, D words, AB address bits. */
const WORD_PARAMS = [
  { name: 'W', value: '1', comment: 'word width' },
  { name: 'D', value: '1', comment: 'words' },
  { name: 'AB', value: '1', comment: 'address bits' },
] as const;

/** `hbnn_rom`: D words of W bits from the `$readmemh` file INIT; q = mem[addr of the previous clock]. */
export function romModule(): Module {
  const body = (attr?: string): Module['items'] => [
    { kind: 'net', net: 'reg', name: 'mem', width: 'W', depth: 'D', ...(attr ? { attr } : {}) },
    { kind: 'generate-if', cond: 'INIT != ""', label: 'g_init', then: [{ kind: 'initial', body: [{ kind: 'call', name: '$readmemh', args: ['INIT', 'mem'] }] }] },
    clocked([{ kind: 'set', lhs: 'q', rhs: 'mem[addr]' }]),
  ];
  return {
    name: ROM_MODULE,
    comment: ['read-only memory: D words of W bits from the $readmemh file INIT, one synchronous read port (q <= mem[addr])'],
    params: [
      ...WORD_PARAMS,
      { name: 'INIT', value: '""', comment: '$readmemh file' },
      { name: 'BLOCK', value: '0', comment: '1: rom_style "block" (block RAM)' },
    ],
    ports: [
      { dir: 'input', name: 'clk', width: 1 },
      { dir: 'input', name: 'addr', width: 'AB' },
      { dir: 'output', name: 'q', width: 'W', reg: true },
    ],
    items: [{ kind: 'generate-if', cond: 'BLOCK', label: 'g_block', then: body('rom_style = "block"'), else: body() }],
  };
}

/** `hbnn_ram`: D words of W bits, one write port and one synchronous read port (a read of the word being written returns the old word). */
export function ramModule(): Module {
  return {
    name: RAM_MODULE,
    comment: ['simple dual-port RAM: D words of W bits, write port (we, waddr, wdata), synchronous read port (q <= mem[raddr])'],
    params: [
      ...WORD_PARAMS,
    ],
    ports: [
      { dir: 'input', name: 'clk', width: 1 },
      { dir: 'input', name: 'we', width: 1 },
      { dir: 'input', name: 'waddr', width: 'AB' },
      { dir: 'input', name: 'wdata', width: 'W' },
      { dir: 'input', name: 'raddr', width: 'AB' },
      { dir: 'output', name: 'q', width: 'W', reg: true },
    ],
    items: [
      { kind: 'net', net: 'reg', name: 'mem', width: 'W', depth: 'D' },
      clocked([
        { kind: 'if', cond: 'we', then: [{ kind: 'set', lhs: 'mem[waddr]', rhs: 'wdata' }] },
        { kind: 'set', lhs: 'q', rhs: 'mem[raddr]' },
      ]),
    ],
  };
}
