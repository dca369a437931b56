/**
 * The switching-activity power estimate: Liberty pins and internal-power tables, VCD toggle
 * counts, the energy sum on a hand-built netlist, and a small generated unit through the whole
 * flow (yosys to OSU 0.18 µm cells, Icarus Verilog gate-level simulation beside the RTL,
 * toggles priced), including a corrupted netlist that the comparison with the RTL catches.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIBERTY, loadLiberty, lookupTable, parseLiberty } from '../../../src/backends/synth/liberty.js';
import { countToggles, estimatePower, mapToGates, netlistModel, simulateGates, unitPower, unitTestbench } from '../../../src/backends/synth/power.js';
import { emitUnitDesign } from '../../../src/backends/verilog/index.js';

const TINY = `library (tiny) {
  capacitive_load_unit (1, pf); nom_voltage : 2.0; leakage_power_unit : "1nW";
  power_lut_template (e2) { variable_1 : total_output_net_capacitance; variable_2 : input_transition_time; index_1 ("1, 2"); index_2 ("1, 2"); }
  power_lut_template (p1) { variable_1 : input_transition_time; index_1 ("1, 2"); }
  cell (NAND2) { area : 4; cell_leakage_power : 3;
    pin (A) { direction : input; capacitance : 0.01; }
    pin (B) { direction : input; capacitance : 0.02; }
    pin (Y) { direction : output; function : "(!(A B))";
      internal_power () { related_pin : "A";
        rise_power (e2) { index_1 ("0.0, 0.1"); index_2 ("0.1, 0.3"); values ("1.0, 2.0", "3.0, 4.0"); }
        fall_power (e2) { index_1 ("0.0, 0.1"); index_2 ("0.1, 0.3"); values ("0.5, 0.5", "0.5, 0.5"); } }
      internal_power () { related_pin : "B";
        rise_power (e2) { index_1 ("0.0, 0.1"); index_2 ("0.1, 0.3"); values ("3.0, 4.0", "5.0, 6.0"); }
        fall_power (e2) { index_1 ("0.0, 0.1"); index_2 ("0.1, 0.3"); values ("0.5, 0.5", "0.5, 0.5"); } } } }
  cell (DFF) { area : 10; cell_leakage_power : 7; ff (IQ, IQN) { next_state : "D"; clocked_on : "CLK"; }
    pin (CLK) { direction : input; capacitance : 0.03;
      internal_power () { rise_power (p1) { index_1 ("0.1, 0.3"); values ("0.2, 0.4"); } fall_power (p1) { index_1 ("0.1, 0.3"); values ("0.6, 0.8"); } } }
    pin (D) { direction : input; capacitance : 0.04; }
    pin (Q) { direction : output; function : "IQ"; } }
}`;

describe('Liberty pins and power tables', () => {
  it('reads pins, capacitances and internal_power tables; interpolates within and clamps outside', () => {
    const lib = parseLiberty(TINY);
    expect(lib.capacitanceUnitF).toBe(1e-12);
    expect(lib.voltage).toBe(2);
    const y = lib.cells.get('NAND2')!.pins.get('Y')!;
    expect(y.direction).toBe('output');
    expect(y.function).toBe('(!(A B))');
    expect(y.power.map((p) => p.related)).toEqual(['A', 'B']);
    const t = y.power[0]!.rise!;
    expect(t.variables).toEqual(['total_output_net_capacitance', 'input_transition_time']);
    expect(lookupTable(t, 0, 0.1)).toBeCloseTo(1, 12);
    expect(lookupTable(t, 0.1, 0.3)).toBeCloseTo(4, 12);
    expect(lookupTable(t, 0.05, 0.2)).toBeCloseTo(2.5, 12); // bilinear: mean of the four corners
    expect(lookupTable(t, 1, 1)).toBeCloseTo(4, 12); // clamped, no extrapolation
    const clk = lib.cells.get('DFF')!.pins.get('CLK')!;
    expect(clk.capacitance).toBe(0.03);
    expect(lookupTable(clk.power[0]!.rise!, 0, 0.2)).toBeCloseTo(0.3, 12); // 1-D, by input transition
    // the OSU 0.18 µm library: a flip-flop's clock pin has its own energy, NAND2's output one group per input
    const osu = loadLiberty(DEFAULT_LIBERTY);
    expect(osu.capacitanceUnitF).toBe(1e-12);
    expect(osu.cells.get('DFFPOSX1')!.pins.get('CLK')!.power[0]!.fall).toBeDefined();
    expect(osu.cells.get('NAND2X1')!.pins.get('Y')!.power.map((p) => p.related)).toEqual(['A', 'B']);
    expect(osu.cells.get('NAND2X1')!.pins.get('A')!.capacitance).toBeCloseTo(0.0125, 6);
  });
});

describe('toggles and energy', () => {
  it('counts rises and falls per bit of one VCD scope, not from x and not the initial values', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-vcd-'));
    try {
      const vcd = path.join(dir, 't.vcd');
      fs.writeFileSync(vcd, [
        '$timescale 1ps $end', '$scope module top $end', '$var wire 1 ! other $end', '$scope module g $end',
        '$var wire 1 # a $end', '$var wire 3 $ v [2:0] $end', '$upscope $end', '$upscope $end', '$enddefinitions $end',
        '#0', '$dumpvars', '0#', 'bx $', '1!', '$end', '#10', '1#', 'b101 $', '0!', '#20', '0#', 'b10 $', '#30', 'x#', '#40', '1#', 'b111 $', '',
      ].join('\n'));
      const t = await countToggles(vcd, 'g');
      expect([...t.keys()].sort()).toEqual(['a', 'v']);
      expect(t.get('a')).toEqual({ rise: [1], fall: [1] }); // 0→1, 1→0, 0→x, x→1 (not counted)
      // v: xxx → 101 (nothing) → 010 (bit0 fall, bit1 rise, bit2 fall) → 111 (bit0 rise, bit2 rise)
      expect(t.get('v')).toEqual({ rise: [1, 1, 1], fall: [1, 0, 1] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prices each net: ½·C·V² + the driver\'s internal energy at its load + the loads\' own pin energy; leakage', () => {
    const lib = parseLiberty(TINY);
    // clk → DFF.CLK; a, b → NAND2 → n → DFF.D; DFF.Q → q (an output port)
    const json = JSON.stringify({
      modules: {
        m: {
          ports: { clk: { direction: 'input', bits: [2] }, a: { direction: 'input', bits: [3] }, b: { direction: 'input', bits: [4] }, q: { direction: 'output', bits: [6] } },
          cells: { u1: { type: 'NAND2', connections: { A: [3], B: [4], Y: [5] } }, u2: { type: 'DFF', connections: { CLK: [2], D: [5], Q: [6] } } },
          netnames: { clk: { bits: [2] }, a: { bits: [3] }, b: { bits: [4] }, n: { bits: [5] }, q: { bits: [6] } },
        },
      },
    });
    const model = netlistModel(json, 'm', lib);
    expect(model.leakage).toBe(10);
    expect(model.bits.get(5)).toMatchObject({ load: 0.04, driver: { cell: 'NAND2', pin: 'Y' }, fanout: 1 });
    const toggles = new Map([['clk', { rise: [10], fall: [10] }], ['a', { rise: [2], fall: [1] }], ['n', { rise: [3], fall: [2] }], ['q', { rise: [1], fall: [1] }]]);
    const e = estimatePower(model, toggles, lib, { clockMhz: 100, cycles: 10, frames: 2, transitionNs: 0.2 });
    const v2 = 4;
    const sw = 0.5 * (20 * 0.03 + 3 * 0.01 + 5 * 0.04 + 0) * v2; // pF·V² = pJ
    // n: driver NAND2.Y at load 0.04 pF, transition 0.2 ns: rise = mean of the A and B tables, fall 0.5
    const rise = (lookupTable(lib.cells.get('NAND2')!.pins.get('Y')!.power[0]!.rise!, 0.04, 0.2) + lookupTable(lib.cells.get('NAND2')!.pins.get('Y')!.power[1]!.rise!, 0.04, 0.2)) / 2;
    expect(rise).toBeCloseTo((2.3 + 4.3) / 2, 12); // load 0.04 = 0.4 of the way, transition 0.2 = halfway
    const internal = 3 * rise + 2 * 0.5;
    const clkPins = 10 * 0.3 + 10 * 0.7;
    expect(e.energyPj.switching).toBeCloseTo(sw, 3);
    expect(e.energyPj.internal).toBeCloseTo(internal, 3);
    expect(e.energyPj.inputPins).toBeCloseTo(clkPins, 3);
    expect(e.clockEnergyPj).toBeCloseTo(0.5 * 20 * 0.03 * v2 + clkPins, 3);
    // 10 cycles at 100 MHz = 100 ns
    expect(e.dynamicUw).toBeCloseTo(((sw + internal + clkPins) * 1e-12) / 100e-9 / 1e-6, 2);
    expect(e.leakageUw).toBeCloseTo(0.01, 6);
    expect(e.energyPerFrameNj).toBeCloseTo(((sw + internal + clkPins) / 2) * 1e-3 + (10e-9 * 100e-9 / 2) * 1e9, 5);
    expect(e.netBitsSeen).toBe(4); // b never toggled in this VCD
  });
});

describe('a generated unit: gate-level simulation beside the RTL, toggles priced', () => {
  const d = emitUnitDesign({ kind: 'matvec', inputs: 16, outputs: 4, pe: 2, simd: 8, weightPlanes: 2, avgBits: 1.5, activationPlanes: 1, seed: 5 });

  it('maps to OSU 0.18 µm cells, agrees with the RTL on every cycle, and every net is counted', async () => {
    const r = await unitPower(d, { frames: 6, delays: false });
    expect(r.sim.mismatches).toBe(0);
    expect(r.sim.frames).toBe(6);
    expect(r.sim.inputBeats).toBe(6 * 2);
    expect(r.sim.cycles).toBeGreaterThan(6 * 2 * 2);
    const p = r.power;
    expect(p.netBitsSeen).toBe(p.netBits);
    expect(p.clockToggles).toBe(2 * r.sim.cycles - 1); // from the first falling edge after reset to the last rising edge
    expect(p.toggles).toBeGreaterThan(p.clockToggles);
    expect(p.energyPj.dynamic).toBeCloseTo(p.energyPj.switching + p.energyPj.internal + p.energyPj.inputPins, 1); // each part rounded on its own
    expect(p.clockEnergyPj).toBeGreaterThan(0);
    expect(p.clockEnergyPj).toBeLessThan(p.energyPj.dynamic);
    expect(p.activity).toBeGreaterThan(0);
    expect(p.activity).toBeLessThan(1);
    expect(p.leakageUw).toBeGreaterThan(0);
    expect(p.energyPerFrameNj! * 6).toBeCloseTo(p.energyPj.dynamic / 1000 + ((p.leakageUw * 1e-6 * r.sim.cycles) / 200e6) * 1e9, 2);
    expect(r.netlist.cells).toBeGreaterThan(100);
  });

  it('a wrong gate in the netlist is caught by the comparison with the RTL', async () => {
    const lib = loadLiberty(DEFAULT_LIBERTY);
    const netlist = await mapToGates({ files: d.files, module: d.top });
    const xor = netlist.verilog.match(/^\s*XOR2X1\s/m) ?? netlist.verilog.match(/^\s*XNOR2X1\s/m);
    expect(xor).not.toBeNull();
    const bad = { ...netlist, verilog: netlist.verilog.replace(/^(\s*)XNOR2X1(\s)/gm, '$1XOR2X1$2') === netlist.verilog ? netlist.verilog.replace(/^(\s*)XOR2X1(\s)/gm, '$1XNOR2X1$2') : netlist.verilog.replace(/^(\s*)XNOR2X1(\s)/gm, '$1XOR2X1$2') };
    const files = new Map<string, string>(d.files);
    const ports = netlistModel(netlist.json, netlist.module, lib).ports;
    const w = (n: string): number => ports.find((p) => p.name === n)!.width;
    files.set('hbnn_unit_tb.v', unitTestbench(d.top, w('in_data'), w('out_data'), 8, 8));
    files.set('stim.hex', Array.from({ length: 8 }, (_, i) => ((i * 0x9e3779b1 + 11) >>> 0).toString(16).padStart(8, '0').repeat(4).slice(-Math.ceil(w('in_data') / 4))).join('\n') + '\n');
    const sources = [`${d.top}.v`, 'hbnn_unit_tb.v'];
    const r = await simulateGates({ files, sources, tbTop: 'hbnn_unit_tb', instance: 'hbnn_unit_tb.dut', netlist: bad, delays: false }, lib);
    expect(r.mismatches).toBeGreaterThan(0);
    expect(r.stdout).toContain('mismatch');
    // no Icarus Verilog: a typed error naming the Debian package
    await expect(simulateGates({ files, sources, tbTop: 'hbnn_unit_tb', instance: 'hbnn_unit_tb.dut', netlist, iverilog: '/no/such/iverilog' }, lib)).rejects.toMatchObject({ code: 'toolchain', message: expect.stringContaining('apt-get install iverilog') });
  });
});
