/** The synthesis runner's types (src/backends/synth/index.ts). */
import type { AsicResources, XilinxResources } from './resources.js';

export const SYNTH_TARGETS = ['xilinx', 'asic'] as const;
export type SynthTarget = (typeof SYNTH_TARGETS)[number];
export const SYNTH_FORMAT = 'hbnn-synth/1';

/** One unit to synthesize on its own: a module of the design (with parameter overrides, if it is generic). */
export interface SynthUnit {
  /** The name reports show (e.g. the layer). */
  name: string;
  module: string;
  params?: Readonly<Record<string, number | string>>;
}

/** A design to synthesize: its files (Verilog and memory images) and its top module. */
export interface SynthDesign {
  files: ReadonlyMap<string, string | Uint8Array> | Readonly<Record<string, string | Uint8Array>>;
  top: string;
  units?: readonly SynthUnit[];
}

export interface SynthOptions {
  target: SynthTarget;
  /** Liberty file for `asic` (default: DEFAULT_LIBERTY, from qflow-tech-osu018). */
  liberty?: string;
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
  /** Whether the whole design was synthesized hierarchically (`flatten: false`). */
  hierarchical: boolean;
  /** The whole design, flattened or hierarchical (absent when not asked). */
  total?: SynthRun;
  units: SynthRun[];
  /** The yosys script of the whole-design run (or the first unit's). */
  script: string[];
  seconds: number;
}

