/**
 * A switching-activity power estimate of a unit mapped to standard cells (docs/synthesis.md,
 * "Power"), grounded in a gate-level simulation:
 *
 * 1. `mapToGates`: yosys maps the unit to the Liberty library (the asic flow of index.ts),
 *    renames its internal nets to plain identifiers and writes the gate-level netlist as
 *    Verilog (to simulate) and JSON (its structure: which cell pin drives and loads each net).
 * 2. `simulateGates`: Icarus Verilog runs an RTL testbench with the gate-level netlist as a
 *    shadow of one RTL unit instance: same clock, reset and input stream (from the testbench:
 *    real test images for a whole design), its outputs compared with the RTL unit's every
 *    cycle (ready/valid always, data when valid), and a VCD of the netlist's nets from the end
 *    of reset. The library's cell models (qflow's osu018_stdcells.v) give the cells their
 *    functions and nominal path delays (`-gspecify`), so toggles include glitches under those
 *    delays (no wire delay).
 * 3. `countToggles` reads the VCD (rises and falls per net bit); `estimatePower` prices them:
 *    per net, rises × E_rise + falls × E_fall of the driving cell's output pin
 *    (`internal_power` tables at the net's load and a nominal input transition), + (rises +
 *    falls) × ½·C_load·V² (C_load = Σ the fan-out pins' capacitance; no wire load), + each
 *    fan-out pin's own input energy (`internal_power` of input pins: flip-flop clock and data)
 *    per transition; leakage = Σ cell_leakage_power.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fail, ErrorCodes } from '../../errors.js';
import { runTool } from '../../util/exec.js';
import { makeTempDir } from '../../util/temp.js';
import { lookupTable, loadLiberty, resolveLiberty, type Liberty, type LibertyPower } from './liberty.js';
import { asicResources, type AsicResources } from './resources.js';
import { defaultYosys, runYosys } from './yosys.js';
import { synthCommands } from './index.js';
import { mulberry32 } from '../../hbnn/prng.js';
import { DEFAULT_CLOCK_MHZ } from '../vivado-hls/index.js';
import { ICARUS_PACKAGE } from '../verilog/sim.js';
import type { UnitStage } from '../vivado-hls/types.js';

/** qflow's Verilog models of the OSU 0.18 µm cells (functions, UDP flip-flops, specify delays). */
export const DEFAULT_CELL_MODELS = '/usr/share/qflow/tech/osu018/osu018_stdcells.v';
/** The Debian package of Icarus Verilog. */
export const IVERILOG_PACKAGE = ICARUS_PACKAGE;
/** Input transition (ns) at which the internal-power tables are read when none is given. */
export const DEFAULT_TRANSITION_NS = 0.1;
/** Suffix of the gate-level module's name (it is simulated beside the RTL module of the same unit). */
export const GATES_SUFFIX = '__gates';

export interface GateNetlist {
  /** The gate-level module (the unit's module name + GATES_SUFFIX). */
  module: string;
  /** The unit's RTL module. */
  rtlModule: string;
  /** write_verilog -noattr of the mapped unit. */
  verilog: string;
  /** write_json of the same netlist (cells, connections, net names). */
  json: string;
  cellsByType: Record<string, number>;
  asic: AsicResources;
  liberty: string;
}

/** Maps `module` of `files` to the Liberty library and returns its gate-level netlist (Verilog and JSON). */
export async function mapToGates(
  design: { files: ReadonlyMap<string, string | Uint8Array>; module: string; params?: Readonly<Record<string, number | string>> },
  o: { liberty?: string; yosys?: string; timeoutMs?: number; /** The gate-level module's name (default: the module's + GATES_SUFFIX). */ name?: string } = {},
): Promise<GateNetlist> {
  const lib = loadLiberty(resolveLiberty(o.liberty));
  const gates = o.name ?? design.module + GATES_SUFFIX;
  const r = await runYosys({
    files: design.files,
    top: design.module,
    ...(design.params ? { params: design.params } : {}),
    synth: synthCommands('asic', design.module, { liberty: lib.file }),
    // plain names for every internal net (so the simulator's VCD names are the JSON's), ports keep theirs
    after: [`rename -hide w:* i:* %d o:* %d`, 'rename -enumerate -pattern n%', `rename ${design.module} ${gates}`, 'write_verilog -noattr -noexpr netlist.v', 'write_json netlist.json'],
    outputs: ['netlist.v', 'netlist.json'],
    yosys: o.yosys ?? defaultYosys(),
    timeoutMs: o.timeoutMs ?? 600_000,
    what: `unit ${design.module} (gate-level netlist)`,
  });
  return {
    module: gates,
    rtlModule: design.module,
    verilog: r.outputs.get('netlist.v')!,
    json: r.outputs.get('netlist.json')!,
    cellsByType: r.cellsByType,
    asic: asicResources(r.cellsByType, lib),
    liberty: lib.file,
  };
}

// ------------------------------------------------------------------------------------------
// Netlist structure
// ------------------------------------------------------------------------------------------

interface YosysJsonModule {
  ports: Record<string, { direction: string; bits: (number | string)[] }>;
  cells: Record<string, { type: string; connections: Record<string, (number | string)[]> }>;
  netnames: Record<string, { bits: (number | string)[]; hide_name?: number }>;
}

/** One net (bit) of the netlist: its load, its driver, the input pins it feeds that have their own energy. */
export interface NetBit {
  /** Σ fan-out input pin capacitance (library unit). */
  load: number;
  /** The cell output pin that drives it (absent: a module input). */
  driver?: { cell: string; pin: string };
  /** Fan-out pins with `internal_power` of their own (a flip-flop's clock and data), as cell/pin. */
  sinks: { cell: string; pin: string }[];
  fanout: number;
}

export interface NetlistModel {
  module: string;
  /** Net bits by yosys bit id. */
  bits: Map<number, NetBit>;
  /** Net name → its bit ids, LSB first (what the VCD names). */
  names: Map<string, number[]>;
  ports: { name: string; direction: 'input' | 'output'; width: number }[];
  /** Σ cell_leakage_power (library unit) and cells by type. */
  leakage: number;
  cells: number;
  /** Cell types the library does not have (should be none). */
  unknownCells: string[];
}

/** The structure of a gate-level netlist (yosys write_json) priced with `lib`'s pins. */
export function netlistModel(json: string, module: string, lib: Liberty): NetlistModel {
  let j: { modules?: Record<string, YosysJsonModule> };
  try {
    j = JSON.parse(json) as typeof j;
  } catch (e) {
    return fail(ErrorCodes.TOOLCHAIN, `yosys's write_json output is not JSON: ${(e as Error).message}`, { module });
  }
  const m = j.modules?.[module];
  if (!m) return fail(ErrorCodes.TOOLCHAIN, `the gate-level netlist has no module ${module}`, { module });
  const bits = new Map<number, NetBit>();
  const bit = (b: number): NetBit => {
    let x = bits.get(b);
    if (!x) bits.set(b, (x = { load: 0, sinks: [], fanout: 0 }));
    return x;
  };
  let leakage = 0;
  let cells = 0;
  const unknown = new Set<string>();
  for (const c of Object.values(m.cells)) {
    const lc = lib.cells.get(c.type);
    if (!lc) {
      unknown.add(c.type);
      continue;
    }
    cells++;
    leakage += lc.leakage;
    for (const [pin, conn] of Object.entries(c.connections)) {
      const lp = lc.pins.get(pin);
      for (const b of conn) {
        if (typeof b !== 'number') continue;
        const n = bit(b);
        if (lp?.direction === 'output') n.driver = { cell: c.type, pin };
        else {
          n.load += lp?.capacitance ?? 0;
          n.fanout++;
          if (lp && lp.power.some((p) => p.rise || p.fall)) n.sinks.push({ cell: c.type, pin });
        }
      }
    }
  }
  const names = new Map<string, number[]>();
  const portNames = new Set(Object.keys(m.ports));
  for (const [name, n] of Object.entries(m.netnames)) {
    if (n.hide_name && !portNames.has(name)) continue;
    const ids = n.bits.map((b) => (typeof b === 'number' ? b : -1));
    names.set(name, ids);
    for (const b of ids) if (b >= 0) bit(b);
  }
  const ports = Object.entries(m.ports).map(([name, p]) => ({ name, direction: (p.direction === 'output' ? 'output' : 'input') as 'input' | 'output', width: p.bits.length }));
  return { module, bits, names, ports, leakage, cells, unknownCells: [...unknown].sort() };
}

// ------------------------------------------------------------------------------------------
// VCD toggles
// ------------------------------------------------------------------------------------------

/** Rises (0→1) and falls (1→0) per bit (LSB first) of each variable of one VCD scope. */
export type Toggles = Map<string, { rise: number[]; fall: number[] }>;

/**
 * Counts the rises and falls of every variable declared directly in the scope `scope`
 * (its instance name, e.g. "g") of a VCD file, after the initial $dumpvars values;
 * transitions through x or z are not counted. Streams the file.
 */
export async function countToggles(vcdFile: string, scope: string): Promise<Toggles> {
  return (await countScopeToggles(vcdFile, [scope])).get(scope)!;
}

/** `countToggles` of several scopes (instance names) in one pass over the file; a variable id the VCD shares between scopes counts in each. */
export async function countScopeToggles(vcdFile: string, scopes: readonly string[]): Promise<Map<string, Toggles>> {
  type Var = { name: string; width: number; value: string[]; rise: number[]; fall: number[] };
  const byId = new Map<string, Var[]>();
  const outs = new Map<string, Map<string, Var>>(scopes.map((sc) => [sc, new Map<string, Var>()]));
  const stack: string[] = [];
  let header = true;
  const rl = readline.createInterface({ input: fs.createReadStream(vcdFile), crlfDelay: Infinity });
  const set = (id: string, v: string): void => {
    const vars = byId.get(id);
    if (!vars) return;
    for (const s of vars) {
      // VCD vectors are MSB first and may be shorter than the width (left-extended with 0, or x/z)
      const w = s.width;
      const pad = v.length < w ? (v[0] === 'x' || v[0] === 'z' ? v[0] : '0').repeat(w - v.length) + v : v.slice(-w);
      for (let i = 0; i < w; i++) {
        const nv = pad[w - 1 - i]!;
        const ov = s.value[i]!;
        if (ov === '0' && nv === '1') s.rise[i]!++;
        else if (ov === '1' && nv === '0') s.fall[i]!++;
        s.value[i] = nv;
      }
    }
  };
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === '') continue;
    if (header) {
      const tok = line.split(/\s+/);
      if (tok[0] === '$scope') stack.push(tok[2]!);
      else if (tok[0] === '$upscope') stack.pop();
      else if (tok[0] === '$var' && outs.has(stack[stack.length - 1]!)) {
        const out = outs.get(stack[stack.length - 1]!)!;
        const width = Number(tok[2]);
        const id = tok[3]!;
        let name = tok[4]!;
        if (name.startsWith('\\')) name = name.slice(1);
        const vars = byId.get(id) ?? [];
        if (!vars.some((x) => out.get(x.name) === x) && !out.has(name)) {
          const s = { name, width, value: new Array<string>(width).fill('x'), rise: new Array<number>(width).fill(0), fall: new Array<number>(width).fill(0) };
          vars.push(s);
          byId.set(id, vars);
          out.set(name, s);
        }
      } else if (tok[0] === '$enddefinitions') header = false;
      continue;
    }
    const c = line[0];
    // the initial $dumpvars values start from x and count nothing
    if (c === '#' || c === '$') continue;
    let id: string;
    let v: string;
    if (c === 'b' || c === 'B') {
      const sp = line.indexOf(' ');
      v = line.slice(1, sp).toLowerCase();
      id = line.slice(sp + 1).trim();
    } else if (c === 'r' || c === 'R') continue;
    else {
      v = c!.toLowerCase();
      id = line.slice(1);
    }
    set(id, v);
  }
  const result = new Map<string, Toggles>();
  for (const [sc, out] of outs) result.set(sc, new Map([...out].map(([name, s]) => [name, { rise: s.rise, fall: s.fall }])));
  return result;
}

// ------------------------------------------------------------------------------------------
// Energy
// ------------------------------------------------------------------------------------------

export interface PowerOptions {
  /** The design's clock (MHz): the simulated cycles take cycles / clock seconds. */
  clockMhz: number;
  /** Clock cycles the toggles were counted over. */
  cycles: number;
  /** Frames (inferences) in that window, for the energy per frame. */
  frames?: number;
  /** Input transition (ns) at which the internal-power tables are read (default 0.1 ns). */
  transitionNs?: number;
}

export interface PowerEstimate {
  clockMhz: number;
  cycles: number;
  frames?: number;
  transitionNs: number;
  voltage: number;
  /** Net bits with toggles, of the netlist's net bits. */
  netBits: number;
  netBitsSeen: number;
  /** Toggles (rises + falls) in the window, all nets; those of the clock net. */
  toggles: number;
  clockToggles: number;
  /** Energy in the window, pJ: ½·C·V² of the nets, internal energy of the driving cells, input-pin energy of the loads. */
  energyPj: { switching: number; internal: number; inputPins: number; dynamic: number };
  /** The part of the dynamic energy on the clock net (switching + flip-flop clock pins), pJ. */
  clockEnergyPj: number;
  dynamicUw: number;
  leakageUw: number;
  totalUw: number;
  /** Energy per frame (dynamic share + leakage over the frame's time), nJ. */
  energyPerFrameNj?: number;
  /** Mean toggles per net bit per cycle (activity factor, all nets but the clock). */
  activity: number;
}

function unitScale(unit: string | undefined, base: string, dflt: number): number {
  if (!unit) return dflt;
  const m = /^([0-9.eE+-]*)\s*([a-zA-Z]*)$/.exec(unit.trim());
  if (!m) return dflt;
  const k = m[1] === '' ? 1 : Number(m[1]);
  const p: Record<string, number> = { f: 1e-15, p: 1e-12, n: 1e-9, u: 1e-6, m: 1e-3, '': 1 };
  const pre = m[2]!.slice(0, m[2]!.length - base.length);
  return k * (p[pre] ?? 1);
}

function meanEnergy(groups: readonly LibertyPower[], load: number, t: number, kind: 'rise' | 'fall'): number {
  let s = 0;
  let n = 0;
  for (const g of groups) {
    const tb = g[kind];
    if (!tb) continue;
    s += lookupTable(tb, load, t);
    n++;
  }
  return n ? s / n : 0;
}

/** Prices the toggles of a gate-level netlist's nets (docs/synthesis.md, "Power"). */
export function estimatePower(model: NetlistModel, toggles: Toggles, lib: Liberty, o: PowerOptions): PowerEstimate {
  const v = lib.voltage ?? 1;
  const capF = lib.capacitanceUnitF ?? 1e-12;
  // internal-power tables are in capacitance unit × voltage² (pJ for pF and V)
  const toPj = capF / 1e-12;
  const t = o.transitionNs ?? DEFAULT_TRANSITION_NS;
  const rises = new Map<number, [number, number]>();
  for (const [name, ids] of model.names) {
    const tg = toggles.get(name);
    if (!tg) continue;
    ids.forEach((b, i) => {
      if (b >= 0 && !rises.has(b) && i < tg.rise.length) rises.set(b, [tg.rise[i]!, tg.fall[i]!]);
    });
  }
  const clkBits = new Set((model.names.get('clk') ?? []).filter((b) => b >= 0));
  let switching = 0;
  let internal = 0;
  let inputPins = 0;
  let clockEnergy = 0;
  let toggleSum = 0;
  let clockToggles = 0;
  let seen = 0;
  let dataBits = 0;
  let dataToggles = 0;
  for (const [b, n] of model.bits) {
    const rf = rises.get(b);
    if (!rf) continue;
    seen++;
    const [r, f] = rf;
    const sw = 0.5 * (r + f) * n.load * toPj * v * v;
    let inPins = 0;
    for (const s of n.sinks) {
      const pw = lib.cells.get(s.cell)!.pins.get(s.pin)!.power;
      inPins += (r * meanEnergy(pw, 0, t, 'rise') + f * meanEnergy(pw, 0, t, 'fall')) * toPj;
    }
    let int = 0;
    if (n.driver) {
      const pw = lib.cells.get(n.driver.cell)!.pins.get(n.driver.pin)!.power;
      int = (r * meanEnergy(pw, n.load, t, 'rise') + f * meanEnergy(pw, n.load, t, 'fall')) * toPj;
    }
    switching += sw;
    internal += int;
    inputPins += inPins;
    toggleSum += r + f;
    if (clkBits.has(b)) {
      clockEnergy += sw + inPins + int;
      clockToggles += r + f;
    } else {
      dataBits++;
      dataToggles += r + f;
    }
  }
  const dynamic = switching + internal + inputPins;
  const seconds = o.cycles / (o.clockMhz * 1e6);
  const dynamicUw = seconds > 0 ? (dynamic * 1e-12) / seconds / 1e-6 : 0;
  const leakageUw = (model.leakage * unitScale(lib.leakageUnit, 'W', 1e-9)) / 1e-6;
  const r3 = (x: number): number => Number(x.toPrecision(6));
  return {
    clockMhz: o.clockMhz,
    cycles: o.cycles,
    ...(o.frames !== undefined ? { frames: o.frames } : {}),
    transitionNs: t,
    voltage: v,
    netBits: model.bits.size,
    netBitsSeen: seen,
    toggles: toggleSum,
    clockToggles,
    energyPj: { switching: r3(switching), internal: r3(internal), inputPins: r3(inputPins), dynamic: r3(dynamic) },
    clockEnergyPj: r3(clockEnergy),
    dynamicUw: r3(dynamicUw),
    leakageUw: r3(leakageUw),
    totalUw: r3(dynamicUw + leakageUw),
    ...(o.frames ? { energyPerFrameNj: r3((dynamic * 1e-12) / o.frames / 1e-9 + (leakageUw * 1e-6 * seconds) / o.frames / 1e-9) } : {}),
    activity: dataBits > 0 && o.cycles > 0 ? dataToggles / dataBits / o.cycles : 0,
  };
}

// ------------------------------------------------------------------------------------------
// Gate-level simulation beside the RTL
// ------------------------------------------------------------------------------------------

export interface GateSimSpec {
  /** The RTL project: sources, memory images, the testbench (all written to a temporary folder). */
  files: ReadonlyMap<string, string | Uint8Array>;
  /** Verilog files to compile, in order (the testbench among them). */
  sources: readonly string[];
  /** The testbench's top module. */
  tbTop: string;
  /** Hierarchical path of the RTL unit instance the netlist shadows (e.g. "tb.dut.u_mvtu_c1_Conv"). */
  instance?: string;
  netlist?: GateNetlist;
  /** Several netlists, each beside its RTL instance, in the same simulation (instead of instance + netlist). */
  shadows?: readonly GateShadow[];
  /** Preprocessor defines (e.g. ["HBNN_CHECK"]). */
  defines?: readonly string[];
  /** Verilog models of the library's cells (default: qflow's OSU 0.18 µm models). */
  cellModels?: string;
  /** Use the cell models' specify path delays (default true); false: zero-delay simulation. */
  delays?: boolean;
  iverilog?: string;
  vvp?: string;
  timeoutMs?: number;
}

/** A gate-level netlist simulated beside one RTL instance. */
export interface GateShadow {
  /** Its instance name in the probe and its VCD scope (a Verilog identifier). */
  name: string;
  /** Hierarchical path of the RTL instance (e.g. "tb.dut.u_swu_c1_Conv"). */
  instance: string;
  netlist: GateNetlist;
}

export interface GateSimResult {
  /** Cycles from the end of reset to the end of the simulation (the toggle window). */
  cycles: number;
  /** Cycles on which the netlist's outputs differed from the RTL unit's (ready/valid, or data while valid); all shadows. */
  mismatches: number;
  /** The toggles of the (first) netlist. */
  toggles: Toggles;
  /** Each shadow's mismatching cycles and toggles. */
  shadows: { name: string; mismatches: number; toggles: Toggles }[];
  /** The testbench's own output (its PASS/FAIL lines). */
  stdout: string;
  seconds: number;
}

const PROBE = 'hbnn_power_probe';

/** The probe module: the netlist instance `g` fed from the RTL instance, compared with it, dumped to power.vcd. */
export function probeModule(model: NetlistModel, gatesModule: string, instance: string): string {
  return probeModules([{ name: 'g', model, gatesModule, instance }]);
}

/**
 * The probe module of several shadows: each netlist instance (named by its shadow) fed from its
 * RTL instance and compared with it every cycle, all dumped to power.vcd from the end of reset
 * (the clock and reset are the first instance's).
 */
export function probeModules(shadows: readonly { name: string; model: NetlistModel; gatesModule: string; instance: string }[]): string {
  const w = (n: number): string => (n > 1 ? `[${n - 1}:0] ` : '');
  const first = shadows[0]!;
  const hasRst = first.model.ports.some((p) => p.name === 'rst');
  const lines = ['`timescale 1ns/1ps', `module ${PROBE};`];
  for (const sh of shadows) {
    const ins = sh.model.ports.filter((p) => p.direction === 'input');
    const outs = sh.model.ports.filter((p) => p.direction === 'output');
    lines.push(
      `  // the gate-level netlist ${sh.gatesModule} beside the RTL instance ${sh.instance}: same inputs, outputs compared every cycle`,
      ...outs.map((p) => `  wire ${w(p.width)}${sh.name}_${p.name};`),
      `  ${sh.gatesModule} ${sh.name} (`,
      [...ins.map((p) => `    .${p.name}(${sh.instance}.${p.name})`), ...outs.map((p) => `    .${p.name}(${sh.name}_${p.name})`)].join(',\n'),
      '  );',
      `  integer ${sh.name}_mismatches;`,
    );
  }
  lines.push(
    '  integer cycles;',
    '  reg started;',
    '  initial begin',
    '    cycles = 0;',
    '    started = 0;',
    ...shadows.map((sh) => `    ${sh.name}_mismatches = 0;`),
    '  end',
    `  always @(negedge ${first.instance}.clk) begin`,
    `    if (${hasRst ? `!${first.instance}.rst` : '1'}) begin`,
    '      if (!started) begin',
    '        started = 1;',
    '        $dumpfile("power.vcd");',
    ...shadows.map((sh) => `        $dumpvars(1, ${sh.name});`),
    '      end',
    '      cycles = cycles + 1;',
  );
  for (const sh of shadows) {
    const has = (n: string): boolean => sh.model.ports.some((p) => p.name === n);
    for (const p of sh.model.ports.filter((x) => x.direction === 'output')) {
      const valid = p.name.endsWith('_data') ? p.name.replace(/_data$/, '_valid') : p.name === 'out_class' ? 'out_valid' : undefined;
      const guard = valid && has(valid) ? `${sh.instance}.${valid} && ` : '';
      const m = `${sh.name}_mismatches`;
      lines.push(`      if (${guard}${sh.name}_${p.name} !== ${sh.instance}.${p.name}) begin\n        ${m} = ${m} + 1;\n        if (${m} <= 5) $display("hbnn-power: ${sh.name}: ${p.name} mismatch at cycle %0d: gates %h, rtl %h", cycles, ${sh.name}_${p.name}, ${sh.instance}.${p.name});\n      end`);
    }
  }
  lines.push(
    '    end',
    '  end',
    '  final begin',
    ...shadows.map((sh) => `    $display("hbnn-power: shadow ${sh.name} mismatches %0d", ${sh.name}_mismatches);`),
    `    $display("hbnn-power: cycles %0d mismatches %0d", cycles, ${shadows.map((sh) => `${sh.name}_mismatches`).join(' + ')});`,
    '  end',
    'endmodule',
    '',
  );
  return lines.join('\n');
}

function missingTool(tool: string): never {
  return fail(ErrorCodes.TOOLCHAIN, `${tool} not found: install the Debian package ${IVERILOG_PACKAGE} (apt-get install ${IVERILOG_PACKAGE})`, { tool, package: IVERILOG_PACKAGE });
}

/** Runs the testbench with the netlist beside the RTL unit (Icarus Verilog) and counts the netlist's toggles. */
export async function simulateGates(spec: GateSimSpec, lib: Liberty): Promise<GateSimResult> {
  const cellModels = spec.cellModels ?? DEFAULT_CELL_MODELS;
  if (!fs.existsSync(cellModels)) fail(ErrorCodes.TOOLCHAIN, `the cell models ${cellModels} are not installed: install the Debian package qflow-tech-osu018`, { file: cellModels, package: 'qflow-tech-osu018' });
  const shadows: GateShadow[] = spec.shadows ? [...spec.shadows] : spec.netlist && spec.instance ? [{ name: 'g', instance: spec.instance, netlist: spec.netlist }] : [];
  if (shadows.length === 0) fail(ErrorCodes.INTERNAL, 'simulateGates needs a netlist and its instance, or shadows');
  const what = shadows.length === 1 ? shadows[0]!.netlist.rtlModule : `${shadows.length} netlists`;
  const models = shadows.map((sh) => netlistModel(sh.netlist.json, sh.netlist.module, lib));
  const iverilog = spec.iverilog ?? process.env['IVERILOG'] ?? 'iverilog';
  const vvp = spec.vvp ?? process.env['VVP'] ?? 'vvp';
  const timeoutMs = spec.timeoutMs ?? 600_000;
  const temp = makeTempDir('hbnn-power-');
  try {
    const dir = temp.path;
    for (const [name, data] of spec.files) {
      const f = path.join(dir, name);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, data);
    }
    fs.writeFileSync(path.join(dir, 'gates_netlist.v'), shadows.map((sh) => sh.netlist.verilog).join('\n'));
    fs.writeFileSync(path.join(dir, 'power_probe.v'), probeModules(shadows.map((sh, i) => ({ name: sh.name, model: models[i]!, gatesModule: sh.netlist.module, instance: sh.instance }))));
    const args = ['-g2012', ...(spec.delays === false ? [] : ['-gspecify']), ...(spec.defines ?? []).map((d) => `-D${d}`), '-o', 'power.vvp', '-s', spec.tbTop, '-s', PROBE, ...spec.sources, 'gates_netlist.v', 'power_probe.v', cellModels];
    const t0 = performance.now();
    const c = await runTool(iverilog, args, dir, timeoutMs);
    if (c.missing) missingTool(iverilog);
    if (c.code !== 0) fail(ErrorCodes.TOOLCHAIN, `iverilog failed on the gate-level simulation of ${what} (exit ${c.code}):\n${(c.stderr || c.stdout).split('\n').slice(0, 12).join('\n')}`, { tool: iverilog });
    const r = await runTool(vvp, ['-n', 'power.vvp'], dir, timeoutMs);
    if (r.missing) missingTool(vvp);
    if (r.timedOut) fail(ErrorCodes.TOOLCHAIN, `the gate-level simulation of ${what} timed out after ${Math.round(timeoutMs / 1000)} s`, { tool: vvp });
    const m = /hbnn-power: cycles (\d+) mismatches (\d+)/.exec(r.stdout);
    if (r.code !== 0 || !m) fail(ErrorCodes.TOOLCHAIN, `the gate-level simulation of ${what} did not finish (exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(-12).join('\n')}`, { tool: vvp });
    const vcd = path.join(dir, 'power.vcd');
    const toggles = fs.existsSync(vcd) ? await countScopeToggles(vcd, shadows.map((sh) => sh.name)) : new Map<string, Toggles>();
    const per = shadows.map((sh) => ({ name: sh.name, mismatches: Number(new RegExp(`hbnn-power: shadow ${sh.name} mismatches (\\d+)`).exec(r.stdout)?.[1] ?? NaN), toggles: toggles.get(sh.name) ?? new Map() }));
    return { cycles: Number(m[1]), mismatches: Number(m[2]), toggles: per[0]!.toggles, shadows: per, stdout: r.stdout, seconds: (performance.now() - t0) / 1000 };
  } finally {
    temp.dispose();
  }
}

// ------------------------------------------------------------------------------------------
// A standalone unit: seeded stimulus, the whole flow
// ------------------------------------------------------------------------------------------

/** What the unit flow needs of a generated unit (the verilog backend's emitUnitDesign). */
export interface PowerUnit {
  files: ReadonlyMap<string, string>;
  top: string;
  unit: Pick<UnitStage, 'mh' | 'mw' | 'pe' | 'simd' | 'reps'>;
}

export interface UnitPowerOptions {
  /** Frames (input vectors × reps) of stimulus (default 4). */
  frames?: number;
  /** Seed of the stimulus (default 1). */
  seed?: number;
  /** Clock the power is reported at (MHz; default the vivado-hls default, 200). */
  clockMhz?: number;
  liberty?: string;
  cellModels?: string;
  transitionNs?: number;
  delays?: boolean;
  timeoutMs?: number;
  /** A netlist of this unit already mapped (mapToGates), to simulate again without resynthesis. */
  netlist?: GateNetlist;
}

export interface UnitPower {
  module: string;
  gates: GateNetlist;
  netlist: { cells: number; areaUm2: number; flipFlops: number };
  sim: { cycles: number; mismatches: number; frames: number; inputBeats: number; seconds: number };
  power: PowerEstimate;
}

/** A testbench for a unit alone: `beats` input beats of `stim.hex` with valid/ready, output always ready, until `outBeats` outputs (or a cycle limit). */
export function unitTestbench(top: string, inWidth: number, outWidth: number, beats: number, outBeats: number): string {
  const limit = 8 * beats + 64 * outBeats + 1000;
  return [
    '`timescale 1ns/1ps',
    `// ${top} alone: ${beats} input beats from stim.hex (seeded pseudo-random entries), output always ready`,
    'module hbnn_unit_tb;',
    '  reg clk;',
    '  reg rst;',
    `  reg [${inWidth - 1}:0] stim [0:${beats - 1}];`,
    '  integer fed;',
    '  integer outs;',
    '  integer cycle;',
    '  wire in_ready;',
    '  wire out_valid;',
    `  wire [${outWidth - 1}:0] out_data;`,
    `  wire in_valid = !rst && fed < ${beats};`,
    `  wire [${inWidth - 1}:0] in_data = stim[fed < ${beats} ? fed : 0];`,
    `  ${top} dut (.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data), .out_valid(out_valid), .out_ready(1'b1), .out_data(out_data));`,
    '  initial begin',
    '    $readmemh("stim.hex", stim);',
    '    clk = 1\'b0;',
    '    rst = 1\'b1;',
    '    fed = 0;',
    '    outs = 0;',
    '    cycle = 0;',
    '    #(40);',
    '    rst = 1\'b0;',
    '  end',
    '  always #(5) clk = ~clk;',
    '  // stimulus moves after the clock edge (nonblocking): no race with the flip-flops sampling it',
    '  always @(posedge clk) begin',
    '    if (!rst) begin',
    '      cycle <= cycle + 1;',
    '      if (in_valid && in_ready) fed <= fed + 1;',
    '      if (out_valid) outs <= outs + 1;',
    `      if (outs == ${outBeats} || cycle == ${limit}) begin`,
    '        $display("hbnn-unit-tb: %0d input beats, %0d output beats, %0d cycles", fed, outs, cycle);',
    '        $finish;',
    '      end',
    '    end',
    '  end',
    'endmodule',
    '',
  ].join('\n');
}

/** `n` words of `width` random bits (mulberry32), as $readmemh lines. */
function stimulusHex(n: number, width: number, seed: number): string {
  const rng = mulberry32(seed);
  const digits = Math.ceil(width / 4);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    for (let d = 0; d < digits; d++) {
      const bits = d === 0 && width % 4 !== 0 ? width % 4 : 4;
      s += Math.floor(rng.next() * (1 << bits)).toString(16);
    }
    lines.push(s);
  }
  return lines.join('\n') + '\n';
}

/**
 * The switching-activity power of a generated unit: mapped to the Liberty library, simulated
 * at gate level beside its RTL on `frames` frames of seeded pseudo-random input entries, its
 * toggles priced. TOOLCHAIN when the netlist disagrees with the RTL on any cycle.
 */
export async function unitPower(u: PowerUnit, o: UnitPowerOptions = {}): Promise<UnitPower> {
  const lib = loadLiberty(resolveLiberty(o.liberty));
  const netlist = o.netlist ?? (await mapToGates({ files: u.files, module: u.top }, { ...(o.liberty ? { liberty: o.liberty } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }));
  const model = netlistModel(netlist.json, netlist.module, lib);
  const width = (n: string): number => model.ports.find((p) => p.name === n)?.width ?? fail(ErrorCodes.INTERNAL, `unit ${u.top} has no port ${n}`);
  const frames = o.frames ?? 4;
  const { mh, mw, pe, simd, reps } = u.unit;
  const beats = frames * reps * (mw / simd);
  const outBeats = frames * reps * (mh / pe);
  const files = new Map<string, string | Uint8Array>(u.files);
  files.set('hbnn_unit_tb.v', unitTestbench(u.top, width('in_data'), width('out_data'), beats, outBeats));
  files.set('stim.hex', stimulusHex(beats, width('in_data'), o.seed ?? 1));
  const sources = [...u.files.keys()].filter((k) => /\.s?v$/.test(k)).concat(['hbnn_unit_tb.v']);
  const sim = await simulateGates(
    { files, sources, tbTop: 'hbnn_unit_tb', instance: 'hbnn_unit_tb.dut', netlist, ...(o.cellModels ? { cellModels: o.cellModels } : {}), ...(o.delays !== undefined ? { delays: o.delays } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) },
    lib,
  );
  if (sim.mismatches > 0) fail(ErrorCodes.TOOLCHAIN, `the gate-level netlist of ${u.top} disagrees with its RTL on ${sim.mismatches} cycle(s):\n${sim.stdout.split('\n').filter((l) => l.includes('mismatch')).slice(0, 5).join('\n')}`, { module: u.top });
  const power = estimatePower(model, sim.toggles, lib, { clockMhz: o.clockMhz ?? DEFAULT_CLOCK_MHZ, cycles: sim.cycles, frames, ...(o.transitionNs ? { transitionNs: o.transitionNs } : {}) });
  return {
    module: u.top,
    gates: netlist,
    netlist: { cells: netlist.asic.cells, areaUm2: netlist.asic.areaUm2, flipFlops: netlist.asic.sequentialCells },
    sim: { cycles: sim.cycles, mismatches: sim.mismatches, frames, inputBeats: beats, seconds: Math.round(sim.seconds * 100) / 100 },
    power,
  };
}
