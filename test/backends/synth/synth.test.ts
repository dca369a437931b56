/**
 * The yosys runner on a small hand-written unit (an xnor-popcount accumulator): standard-cell
 * area from the Liberty file equals yosys's own `stat -liberty` figure, Xilinx primitives are
 * grouped as Vivado does, and every failure is a typed error naming what to install.
 * Needs the Debian packages yosys and qflow-tech-osu018 (.ci/run installs them).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_LIBERTY,
  loadLiberty,
  parseLiberty,
  netlistModule,
  parseLtp,
  parseLtpModules,
  parseStatJson,
  parseStatModules,
  renderSynthMarkdown,
  resolveLiberty,
  synthCommands,
  synthesize,
  xilinxResources,
  asicResources,
} from '../../../src/backends/synth/index.js';
import { HbnnError } from '../../../src/errors.js';
import { MEMORY_MODEL_018 } from '../../../src/backends/synth/index.js';
import { MEMORY_MODULES, romModule, ramModule } from '../../../src/backends/verilog/memories.js';
import { printFile } from '../../../src/backends/verilog/ast.js';
import { runTool } from '../../../src/util/exec.js';
import { yosysScript } from '../../../src/backends/synth/yosys.js';
import { POPACC } from '../../helpers/popacc.js';

const TOP = `
module top(input wire clk, input wire rst, input wire [15:0] x, output wire [7:0] a, output wire [9:0] b);
  popacc #(.N(16), .ACC(8)) u0 (.clk(clk), .rst(rst), .x(x), .acc(a));
  popacc #(.N(8), .ACC(10), .W(8'h3C)) u1 (.clk(clk), .rst(rst), .x(x[7:0]), .acc(b));
endmodule
`;
const FILES = { 'popacc.v': POPACC, 'top.v': TOP };
/** Two instances of one parameter set (hierarchical synthesis maps the module once). */
const TWICE = `
module twice(input wire clk, input wire rst, input wire [15:0] x, output wire [7:0] a, output wire [7:0] b);
  popacc #(.ACC(8)) u0 (.clk(clk), .rst(rst), .x(x), .acc(a));
  popacc #(.ACC(8)) u1 (.clk(clk), .rst(rst), .x(x), .acc(b));
endmodule
`;

async function rejection(p: Promise<unknown>): Promise<HbnnError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HbnnError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('Liberty reader', () => {
  it('reads the OSU 0.18 µm library: areas, flip-flops, energies', () => {
    const lib = loadLiberty(DEFAULT_LIBERTY);
    expect(lib.name).toBe('osu018_stdcells');
    expect(lib.cells.size).toBeGreaterThan(20);
    expect(lib.cells.get('DFFPOSX1')!.sequential).toBe(true);
    expect(lib.cells.get('NAND2X1')!.sequential).toBe(false);
    expect(lib.cells.get('NAND2X1')!.area).toBeGreaterThan(0);
    expect(lib.cells.get('DFFPOSX1')!.area).toBeGreaterThan(lib.cells.get('NAND2X1')!.area);
    expect(lib.cells.get('XOR2X1')!.meanInternalEnergy).toBeGreaterThan(0);
  });

  it('parses a small library text and refuses text without cells', () => {
    const lib = parseLiberty(`library (tiny) { /* c */ cell (INV) { area : 2.5; pin(A) { direction : input; } }
      cell ("DFF") { area : 10; ff (IQ, IQN) { next_state : "D"; clocked_on : "CLK"; } } }`);
    expect(lib.name).toBe('tiny');
    expect(lib.cells.get('INV')).toMatchObject({ area: 2.5, sequential: false });
    expect(lib.cells.get('DFF')).toMatchObject({ area: 10, sequential: true });
    const r = asicResources({ INV: 4, DFF: 2, MYSTERY: 1 }, lib);
    expect(r).toMatchObject({ areaUm2: 30, cells: 6, sequentialCells: 2, sequentialAreaUm2: 20, unmapped: { MYSTERY: 1 } });
    expect(() => parseLiberty('library (x) { }', 'x.lib')).toThrow(/not a Liberty library/);
  });

  it('a missing Liberty file: FILE_NOT_FOUND for --liberty, TOOLCHAIN naming qflow-tech-osu018 for the default', () => {
    expect(() => resolveLiberty('/no/such/cells.lib')).toThrow(expect.objectContaining({ code: 'file-not-found' }));
    expect(() => resolveLiberty(undefined, '/no/such/osu018_stdcells.lib')).toThrow(expect.objectContaining({ code: 'toolchain', message: expect.stringContaining('apt-get install qflow-tech-osu018') }));
  });
});

describe('resource grouping', () => {
  it('groups synth_xilinx primitives as Vivado does', () => {
    const r = xilinxResources({ LUT2: 3, LUT6: 5, RAM64M: 2, SRLC32E: 1, FDRE: 7, FDSE: 1, CARRY4: 2, MUXF7: 4, RAMB36E1: 1, RAMB18E1: 1, DSP48E1: 3, BUFG: 1 });
    expect(r).toEqual({ luts: 17, lutLogic: 8, lutMemory: 9, ffs: 8, carry: 2, muxf: 4, bram18: 3, dsp: 3, other: { BUFG: 1 } });
  });

  it('reads the longest path from ltp output', () => {
    expect(parseLtp('Longest topological path in top (length=7):\n  0: x\nLongest topological path in sub (length=12):')).toBe(12);
    expect(parseLtp('nothing')).toBeUndefined();
    expect(parseLtpModules('Longest topological path in top (length=7):\nLongest topological path in $paramod\\unit\\N=4 (length=12):')).toEqual({ top: 7, '$paramod\\unit\\N=4': 12 });
  });

  it("reads stat -json of a two-level hierarchy, where yosys 0.23 also prints the submodule tree as text", () => {
    const stat = [
      '{',
      '   "modules": {',
      '      "\\\\top": { "num_cells_by_type": { "$paramod$1a\\\\pool": 1 } },',
      '      "$paramod$1a\\\\pool": { "num_cells_by_type": { "LUT2": 4, "$paramod$2b\\\\hbnn_ram": 1 } }',
      '   },',
      '       $paramod$2b\\hbnn_ram      1',
      '',
      '   "design": { "num_cells_by_type": { "LUT2": 4, "RAM32M": 2 } }',
      '}',
    ].join('\n');
    expect(() => JSON.parse(stat)).toThrow();
    expect(parseStatJson(stat, 'top')).toEqual({ LUT2: 4, RAM32M: 2 });
    expect(parseStatModules(stat)['top']).toEqual({ '$paramod$1a\\pool': 1 });
    expect(() => parseStatJson('{ "design": ', 'top')).toThrow(/not JSON/);
  });

  it('finds a unit module in a hierarchical netlist: itself or its one derived $paramod module', () => {
    const stat = JSON.stringify({ modules: { '\\top': { num_cells_by_type: { '\\mvtu_a': 1 } }, '\\mvtu_a': { num_cells_by_type: { LUT6: 3 } }, '$paramod\\mvtu_b\\CHECK_SAMPLES=0': { num_cells_by_type: { LUT4: 2 } }, '$paramod$0f3a\\swu': {}, '$paramod$77c1\\swu': {} } });
    const mods = parseStatModules(stat);
    expect(mods['mvtu_a']).toEqual({ LUT6: 3 });
    expect(mods['top']).toEqual({ mvtu_a: 1 });
    const names = Object.keys(mods);
    expect(netlistModule(names, 'mvtu_a')).toBe('mvtu_a');
    expect(netlistModule(names, 'mvtu_b')).toBe('$paramod\\mvtu_b\\CHECK_SAMPLES=0');
    expect(netlistModule(names, 'swu')).toBeUndefined(); // two parameter sets
    expect(netlistModule(names, 'mvtu')).toBeUndefined();
  });
});

describe('synthesize', () => {
  it('asic: per-unit and whole-design area equal yosys\'s own stat -liberty figure', async () => {
    const r = await synthesize({ files: FILES, top: 'top', units: [{ name: 'u0', module: 'popacc', params: { N: 16, ACC: 8 } }] }, { target: 'asic' });
    expect(r.liberty!.name).toBe('osu018_stdcells');
    expect(r.yosys).toMatch(/^Yosys \d+\.\d+/);
    const unit = r.units[0]!;
    expect(unit.name).toBe('u0');
    expect(unit.asic!.sequentialCells).toBe(8); // the 8-bit accumulator register
    expect(r.total!.asic!.sequentialCells).toBe(18);
    expect(unit.asic!.unmapped).toEqual({});
    expect(unit.depth).toBeGreaterThan(3);
    expect(r.total!.asic!.areaUm2).toBeGreaterThan(unit.asic!.areaUm2);
    // yosys's own area for the same script
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-test-'));
    try {
      for (const [n, t] of Object.entries(FILES)) fs.writeFileSync(path.join(dir, n), t);
      const script = ['read_verilog popacc.v top.v', ...r.script.slice(r.script.findIndex((l) => l.startsWith('hierarchy')), r.script.findIndex((l) => l.startsWith('tee'))), `stat -liberty ${DEFAULT_LIBERTY}`];
      const y = await runTool('yosys', ['-p', script.join('; ')], dir, 120_000);
      expect(y.code).toBe(0);
      const area = Number(/Chip area for module '\\top': ([\d.]+)/.exec(y.stdout)![1]);
      expect(r.total!.asic!.areaUm2).toBeCloseTo(area, 3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const md = renderSynthMarkdown(r, [{ name: 'total', areaUm2: r.total!.asic!.areaUm2 * 2 }]);
    expect(md).toMatch(/\| total \| top \| .* \| 2\.00 \|/);
  });

  it('hierarchical (flatten: false): each module mapped once, the total counts it per instance, the unit read from the same netlist', async () => {
    const r = await synthesize({ files: { 'popacc.v': POPACC, 'twice.v': TWICE }, top: 'twice', units: [{ name: 'acc', module: 'popacc' }] }, { target: 'asic', flatten: false });
    expect(r.hierarchical).toBe(true);
    expect(r.script).toContain(`synth -top twice`);
    const unit = r.units[0]!;
    expect(unit.module).toBe('popacc');
    expect(unit.asic!.sequentialCells).toBe(8);
    expect(r.total!.asic!.sequentialCells).toBe(16);
    expect(r.total!.asic!.cells).toBe(2 * unit.asic!.cells);
    expect(r.total!.asic!.areaUm2).toBeCloseTo(2 * unit.asic!.areaUm2, 3);
    expect(unit.depth).toBe(r.total!.depth);
    // a generic module with two parameter sets is not one unit
    const two = await rejection(synthesize({ files: FILES, top: 'top', units: [{ name: 'u', module: 'popacc' }] }, { target: 'asic', flatten: false, depth: false }));
    expect(two.code).toBe('toolchain');
    expect(two.message).toMatch(/module popacc is not \(or not once\) in the hierarchical netlist of top/);
  }, 120_000);

  it('xilinx: a unit on its own: LUTs, flip-flops, carry chains, depth', async () => {
    const r = await synthesize({ files: FILES, top: 'top', units: [{ name: 'u1', module: 'popacc', params: { N: 8, ACC: 10, W: "8'h3C" } }] }, { target: 'xilinx', whole: false });
    expect(r.total).toBeUndefined();
    const x = r.units[0]!.xilinx!;
    expect(x.ffs).toBe(10);
    expect(x.lutLogic).toBeGreaterThan(4);
    expect(x.luts).toBe(x.lutLogic + x.lutMemory);
    expect(x.carry).toBeGreaterThan(0); // the 10-bit accumulator adder
    expect(x.bram18 + x.dsp).toBe(0);
    expect(r.units[0]!.depth).toBeGreaterThan(1);
    expect(r.script.join('\n')).toContain('synth_xilinx -flatten -noiopad -family xc7 -top popacc');
  }, 120_000);

  it('parameter overrides: a string that is a Verilog number is that number (chparam), other strings stay strings', async () => {
    const adder = { 'm.v': "module m #(parameter [7:0] W = 8'h00) (input wire [7:0] x, output wire [7:0] o);\n  assign o = x + W;\nendmodule\n" };
    const cells = async (W: number | string): Promise<Record<string, number>> =>
      (await synthesize({ files: adder, top: 'm', units: [{ name: 'u', module: 'm', params: { W } }] }, { target: 'asic', whole: false, depth: false })).units[0]!.cellsByType;
    const five = await cells(5);
    // "8'h05" and "5" are the number 5, not the characters (the byte of '5' is 0x35: another adder)
    expect(await cells("8'h05")).toEqual(five);
    expect(await cells('5')).toEqual(five);
    expect(await cells(0x35)).not.toEqual(five);
    const script = yosysScript({ files: new Map([['m.v', '']]), top: 'm', params: { W: "8'h05", INIT: 'w.hex' }, synth: [] });
    expect(script).toContain("chparam -set W 8'h05 m");
    expect(script).toContain('chparam -set INIT "w.hex" m');
  }, 120_000);

  it('memories: asic keeps hbnn_rom/hbnn_ram as macros priced per bit; xilinx maps a deep ROM to block RAM', async () => {
    // a unit whose 80 × 24-bit ROM feeds an accumulator, and a 16 × 8-bit line buffer
    const words = Array.from({ length: 80 }, (_, i) => ((i * 2654435761) >>> 8).toString(16).padStart(6, '0').slice(-6));
    const unit = `
module memunit(input wire clk, input wire [6:0] a, input wire [3:0] wa, input wire we, input wire [7:0] wd, output reg [23:0] acc, output wire [7:0] lq);
  wire [23:0] q;
  hbnn_rom #(.W(24), .D(80), .AB(7), .INIT("w.hex"), .BLOCK(1)) rom_w (.clk(clk), .addr(a), .q(q));
  hbnn_ram #(.W(8), .D(16), .AB(4)) line (.clk(clk), .we(we), .waddr(wa), .wdata(wd), .raddr(a[3:0]), .q(lq));
  always @(posedge clk) acc <= acc + q;
endmodule
module memtop(input wire clk, input wire [6:0] a, input wire [3:0] wa, input wire we, input wire [7:0] wd, output wire [23:0] acc, output wire [7:0] lq);
  memunit u_memunit (.clk(clk), .a(a), .wa(wa), .we(we), .wd(wd), .acc(acc), .lq(lq));
endmodule
`;
    const files = { 'lib.v': printFile('memories', [romModule(), ramModule()]), 'unit.v': unit, 'w.hex': `${words.join('\n')}\n` };
    const memories = [
      { path: 'u_memunit.rom_w', kind: 'rom' as const, width: 24, depth: 80 },
      { path: 'u_memunit.line', kind: 'ram' as const, width: 8, depth: 16 },
    ];
    const design = { files, top: 'memtop', units: [{ name: 'mu', module: 'memunit', instance: 'u_memunit' }], memories };
    const macro = await synthesize(design, { target: 'asic', macros: MEMORY_MODULES, depth: false });
    expect(macro.macros!.model).toEqual(MEMORY_MODEL_018);
    expect(macro.script).toContain('blackbox hbnn_rom hbnn_ram');
    expect(macro.total!.asic!.unmapped).toEqual({ hbnn_rom: 1, hbnn_ram: 1 });
    expect(macro.total!.asic!.sequentialCells).toBe(24); // the accumulator only
    const mem = macro.total!.memory!;
    expect(mem).toMatchObject({ macros: 2, romBits: 80 * 24, ramBits: 16 * 8 });
    expect(mem.areaUm2).toBeCloseTo(80 * 24 * MEMORY_MODEL_018.romUm2PerBit + 16 * 8 * MEMORY_MODEL_018.ramUm2PerBit, 3);
    expect(macro.units[0]!.memory).toEqual(mem);
    // as logic: the ROM's output register and the RAM's words are flip-flops, more area
    const logic = await synthesize(design, { target: 'asic', depth: false, whole: true, perUnit: false });
    expect(logic.total!.memory).toBeUndefined();
    expect(logic.total!.asic!.sequentialCells).toBeGreaterThanOrEqual(24 + 24 + 16 * 8 + 8);
    expect(logic.total!.asic!.areaUm2).toBeGreaterThan(macro.total!.asic!.areaUm2);
    const x = await synthesize(design, { target: 'xilinx', depth: false, perUnit: false });
    expect(x.total!.xilinx!.bram18).toBeGreaterThanOrEqual(1);
    await expect(synthesize(design, { target: 'xilinx', macros: MEMORY_MODULES })).rejects.toMatchObject({ code: 'invalid-option' });
  }, 240_000);

  it("asic with abc: 'fast': the lighter mapping script, reported; 'default' is yosys's; xilinx and unknown scripts refused", async () => {
    expect(synthCommands('asic', 'top', { liberty: 'x.lib' })).toContain('abc -liberty x.lib');
    expect(synthCommands('asic', 'top', { liberty: 'x.lib', abc: 'fast' })).toContain('abc -fast -liberty x.lib');
    const fast = await synthesize({ files: FILES, top: 'top' }, { target: 'asic', abc: 'fast', perUnit: false });
    const dflt = await synthesize({ files: FILES, top: 'top' }, { target: 'asic', perUnit: false });
    expect(fast.abc).toBe('fast');
    expect(dflt.abc).toBeUndefined();
    expect(fast.script).toContain(`abc -fast -liberty ${DEFAULT_LIBERTY}`);
    expect(dflt.script).not.toContain(`abc -fast -liberty ${DEFAULT_LIBERTY}`);
    // the same flip-flops either way; the combinational mapping may differ
    expect(fast.total!.asic!.sequentialCells).toBe(dflt.total!.asic!.sequentialCells);
    expect(fast.total!.asic!.areaUm2).toBeGreaterThan(0);
    await expect(synthesize({ files: FILES, top: 'top' }, { target: 'xilinx', abc: 'fast' })).rejects.toMatchObject({ code: 'invalid-option' });
    await expect(synthesize({ files: FILES, top: 'top' }, { target: 'asic', abc: 'slow' as never })).rejects.toMatchObject({ code: 'invalid-option' });
  });

  it('bad input: a missing yosys names the Debian package; a synthesis failure shows yosys\'s message', async () => {
    const missing = await rejection(synthesize({ files: FILES, top: 'top' }, { target: 'asic', yosys: '/no/such/yosys' }));
    expect(missing.code).toBe('toolchain');
    expect(missing.message).toContain('apt-get install yosys');
    const broken = await rejection(synthesize({ files: { 'bad.v': 'module bad(input a, output b);\n assign b = a +;\nendmodule\n' }, top: 'bad' }, { target: 'asic' }));
    expect(broken.code).toBe('toolchain');
    expect(broken.message).toMatch(/yosys failed on the design \(bad, asic\)/);
    expect(broken.message).toMatch(/bad\.v:2: ERROR: syntax error/);
    const noTop = await rejection(synthesize({ files: FILES, top: 'nosuchtop' }, { target: 'asic' }));
    expect(noTop.message).toMatch(/ERROR: .*nosuchtop/);
    await expect(synthesize({ files: FILES, top: 'top' }, { target: 'xilinx', liberty: DEFAULT_LIBERTY })).rejects.toMatchObject({ code: 'invalid-option' });
  });
});
