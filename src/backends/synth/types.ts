/** The synthesis runner's types (src/backends/synth/index.ts). */
import type { AsicResources, XilinxResources } from './resources.js';
import type { MemoryAreaModel, MemoryMacros } from './memory.js';
import type { InstanceRun } from './instances.js';

export const SYNTH_TARGETS = ['xilinx', 'asic'] as const;
export type SynthTarget = (typeof SYNTH_TARGETS)[number];
export const SYNTH_FORMAT = 'hbnn-synth/1';
/**
 * abc's mapping script for asic: 'default' (yosys's `abc -liberty`, what the unit calibration
 * used) or 'fast' (`abc -fast -liberty`: lighter optimization, minutes instead of hours on wide
 * bit-plane adder trees, somewhat more area; measured in docs/synthesis.md).
 */
export const SYNTH_ABC_SCRIPTS = ['default', 'fast'] as const;
export type SynthAbcScript = (typeof SYNTH_ABC_SCRIPTS)[number];

/** One unit to synthesize on its own: a module of the design (with parameter overrides, if it is generic). */
export interface SynthUnit {
  /** The name reports show (e.g. the layer). */
  name: string;
  module: string;
  /** Parameter overrides (chparam): numbers, and strings that are Verilog numbers ("8'h3C", "12"), as constants; any other string as a string constant (a file name). */
  params?: Readonly<Record<string, number | string>>;
  /** Its instance path in the top module (`u_<unit>`): the design's memories under it are the unit's. */
  instance?: string;
}

/** A memory of the design (the Verilog backend's MemoryInstance): priced as a macro when the ASIC flow keeps memories as black boxes. */
export interface SynthMemory {
  /** Instance path inside the top module (`u_<unit>.rom_ws1`). */
  path: string;
  kind: 'rom' | 'ram';
  width: number;
  depth: number;
}

/** A design to synthesize: its files (Verilog and memory images) and its top module. */
export interface SynthDesign {
  files: ReadonlyMap<string, string | Uint8Array> | Readonly<Record<string, string | Uint8Array>>;
  top: string;
  units?: readonly SynthUnit[];
  /** Its memories (for `macros`). */
  memories?: readonly SynthMemory[];
}

export interface SynthOptions {
  target: SynthTarget;
  /** Liberty file for `asic` (default: DEFAULT_LIBERTY, from qflow-tech-osu018). */
  liberty?: string;
  /** asic: abc's mapping script (default 'default'; SYNTH_ABC_SCRIPTS). */
  abc?: SynthAbcScript;
  /** The yosys program (default $YOSYS, else `yosys`). */
  yosys?: string;
  /** Wall-clock limit of each yosys run (default 10 minutes). */
  timeoutMs?: number;
  /** synth_xilinx -family (default xc7). */
  family?: string;
  /** Synthesize the whole design (default true). */
  whole?: boolean;
  /** Synthesize each unit on its own (default true). */
  perUnit?: boolean;
  /**
   * Flatten the whole design before mapping (default true). false: hierarchical synthesis,
   * each module (each parameter set of a generic one) mapped once, not optimized across module
   * boundaries; the totals count a module's cells once per instance, and each unit's figures
   * are its module's in the same netlist (no run of its own). Units always run flattened.
   */
  flatten?: boolean;
  /**
   * With `flatten: false`: synthesize each distinct module of the top's instances out of context
   * in a yosys run of its own (flattened below it), and the top's own logic in one more run with
   * its instances as black boxes, instead of the whole hierarchy in one run (instances.ts).
   * Instances of one elaborated module (same module, parameters and memory images) are one run,
   * counted per instance; each unit's figures are its instance's run.
   */
  instances?: boolean;
  /** With `instances`: a folder where each run's result is kept by the key of what it synthesized, and read back instead of rerunning. */
  cacheDir?: string;
  /** With `instances`: yosys runs at once (default 1). */
  jobs?: number;
  /**
   * asic: modules kept as black boxes (memory macros, e.g. ['hbnn_rom', 'hbnn_ram']): not in
   * the synthesized cell area; the design's `memories` are priced with the per-bit macro model
   * (memory.ts, with the default Liberty library only) and reported beside (`SynthRun.memory`).
   */
  macros?: readonly string[];
  /** Compute the longest topological path (default true). */
  depth?: boolean;
  /** Called before each yosys run (progress). */
  onRun?: (what: string) => void;
}

export interface SynthRun {
  /** The unit's name, or 'total' for the whole design. */
  name: string;
  module: string;
  cellsByType: Record<string, number>;
  xilinx?: XilinxResources;
  asic?: AsicResources;
  /** asic with `macros`: the memories of this run (the unit's, or the design's), priced by the macro model, not in `asic.areaUm2`. */
  memory?: MemoryMacros;
  /** Longest topological path in cells between registers or ports (yosys ltp), if computed; hierarchical: the longest inside any one module. */
  depth?: number;
  warnings: number;
  seconds: number;
}

export interface SynthReport {
  format: typeof SYNTH_FORMAT;
  target: SynthTarget;
  /** `yosys -V`. */
  yosys: string;
  family?: string;
  liberty?: { file: string; name: string };
  /** asic: 'fast' when mapped with `abc -fast` (absent: yosys's default abc script). */
  abc?: 'fast';
  /** The black boxes of `macros` and the model that priced the memories (absent: memories were synthesized as logic). */
  macros?: { modules: string[]; model?: MemoryAreaModel };
  /** Whether the whole design was synthesized hierarchically (`flatten: false`). */
  hierarchical: boolean;
  /** `instances`: the out-of-context runs (one per distinct module of the top's instances, and the top's own logic). */
  instances?: InstanceRun[];
  /** The whole design, flattened or hierarchical (absent when not asked). */
  total?: SynthRun;
  units: SynthRun[];
  /** The yosys script of the whole-design run (or the first unit's). */
  script: string[];
  seconds: number;
}

