/**
 * Per-instance synthesis (`flatten: false, instances: true`; src/backends/synth/instances.ts):
 * identical instances are synthesized once and counted per instance, a run equals the flattened
 * synthesis of the same module and parameters, the top's own logic is counted once, and a cache
 * folder gives the same figures back without running yosys, also for the same module in another
 * design whose elaboration numbered yosys's automatic names differently, or whose file holds it
 * at other lines.
 * Needs the Debian packages yosys and qflow-tech-osu018 (.ci/run installs them).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { synthesize } from '../../../src/backends/synth/index.js';
import { canonicalText, glueText, parseRtlil } from '../../../src/backends/synth/rtlil.js';
import { POPACC } from '../../helpers/popacc.js';

/** Two instances of one parameter set, one of another, and 8 flip-flops of the top's own. */
const MIX = `
module mix(input wire clk, input wire rst, input wire [15:0] x, output reg [7:0] y, output wire [9:0] c);
  wire [7:0] a;
  wire [7:0] b;
  popacc #(.ACC(8)) u0 (.clk(clk), .rst(rst), .x(x), .acc(a));
  popacc #(.ACC(8)) u1 (.clk(clk), .rst(rst), .x(~x), .acc(b));
  popacc #(.N(8), .ACC(10), .W(8'h3C)) u2 (.clk(clk), .rst(rst), .x(x[7:0]), .acc(c));
  always @(posedge clk) y <= a ^ b;
endmodule
`;
/** The same two parameter sets in the other order (yosys numbers its automatic names differently). */
const OTHER = `
module other(input wire clk, input wire rst, input wire [15:0] x, output wire [9:0] c, output wire [7:0] a);
  popacc #(.N(8), .ACC(10), .W(8'h3C)) v2 (.clk(clk), .rst(rst), .x(x[15:8]), .acc(c));
  popacc #(.ACC(8)) v0 (.clk(clk), .rst(rst), .x(x), .acc(a));
endmodule
`;

describe('RTLIL pieces', () => {
  const il = (n: number, src: string, k: string) => `autoidx ${n}
attribute \\src "${src}"
module \\leaf
  wire width 4 input 1 \\a
  wire width 4 output 2 \\y
  wire width 4 $add$${src}$${n}_Y
  cell $add $add$${src}$${n}
    parameter \\A_WIDTH 4
    connect \\A \\a
    connect \\B 4'${k}
    connect \\Y $add$${src}$${n}_Y
  end
  connect \\y $add$${src}$${n}_Y
end
attribute \\blackbox 1
module \\bb
  wire input 1 \\i
end
module \\top
  wire width 4 input 1 \\a
  wire width 4 output 2 \\y
  cell \\leaf \\u0
    connect \\a \\a
    connect \\y \\y
  end
  cell \\bb \\m
    connect \\i \\a [0]
  end
end
`;
  it('the same logic gives the same text whatever yosys numbered and wherever it came from; other logic another', () => {
    const a = parseRtlil(il(12, 'x.v:3', '0011'));
    const b = parseRtlil(il(977, 'y.v:40', '0011'));
    const c = parseRtlil(il(12, 'x.v:3', '0111'));
    expect([...a.keys()]).toEqual(['\\leaf', '\\bb', '\\top']);
    expect(a.get('\\bb')!.blackbox).toBe(true);
    expect(a.get('\\top')!.cells).toEqual([{ type: '\\leaf', name: '\\u0' }, { type: '\\bb', name: '\\m' }]);
    const ta = canonicalText(a, '\\leaf', '\\leaf');
    expect(ta).toBe(canonicalText(b, '\\leaf', '\\leaf'));
    expect(ta).not.toBe(canonicalText(c, '\\leaf', '\\leaf'));
    expect(ta).toContain('cell $add $n2');
    expect(ta).not.toMatch(/src|autoidx/);
    // a module below the root is renamed to a public name; a black box keeps its own
    const top = canonicalText(a, '\\top', '\\top');
    expect(top).toContain('cell \\ooc$m1 \\u0');
    expect(top).toContain('cell \\bb \\m');
    // the glue: the top with its instances' modules as black boxes (ports only)
    const g = glueText(a, '\\top');
    expect([...g.stubs]).toEqual(['\\leaf', '\\bb']);
    expect(g.text).not.toContain('$add');
    expect(g.text).toMatch(/attribute \\blackbox 1\nmodule \\leaf\n {2}wire width 4 input 1 \\a\n {2}wire width 4 output 2 \\y\nend/);
  });
});

describe('canonical text: independent of what was elaborated before and of where the source sits', () => {
  // one module as write_rtlil gives it: wires and cells sorted by their whole names (so a cell of
  // line 101 comes before one of line 99), a function call's variables named with the counter,
  // a memory write port's PRIORITY the counter
  const il = (line: number, n: number) => {
    const [a, b] = [`$and$f.v:${line}$${n}`, `$or$f.v:${line + 2}$${n + 1}`];
    const fa = `\\pc$func$f.v:${line}$${n + 2}.$result`;
    const fb = `\\pc$func$f.v:${line + 2}$${n + 3}.$result`;
    const cells = [
      [a, `  cell $and ${a}\n    connect \\A ${fa}\n    connect \\Y \\y\n  end`],
      [b, `  cell $or ${b}\n    connect \\A ${fb}\n    connect \\Y \\z\n  end`],
      [`$memwr$\\m$f.v:${line}$${n + 4}`, `  cell $memwr_v2 $memwr$\\m$f.v:${line}$${n + 4}\n    parameter \\PRIORITY ${n + 4}\n  end`],
    ].sort((p, q) => (p[0]! < q[0]! ? -1 : 1));
    const wires = [fa, fb].sort();
    return `module \\m\n${wires.map((w) => `  wire width 4 ${w}\n`).join('')}${cells.map((c) => `${c[1]}\n`).join('')}end\n`;
  };
  it('the same module at lines 99/101 and 199/201, counted from 12 or 977: one text; other logic: another', () => {
    const a = canonicalText(parseRtlil(il(99, 12)), '\\m', '\\m');
    expect(canonicalText(parseRtlil(il(199, 977)), '\\m', '\\m')).toBe(a);
    expect(a).toMatch(/cell \$and \$n1\n {4}connect \\A \\ooc\$w1\n/);
    expect(a).toContain('parameter \\PRIORITY 1\n');
    expect(a).not.toMatch(/f\.v|977|\b12\b/);
    expect(canonicalText(parseRtlil(il(99, 12).replace('$or ', '$xor ')), '\\m', '\\m')).not.toBe(a);
    // the earlier key format kept both (legacy: the cache keys written before)
    expect(canonicalText(parseRtlil(il(199, 977)), '\\m', '\\m', { legacy: true })).not.toBe(canonicalText(parseRtlil(il(99, 12)), '\\m', '\\m', { legacy: true }));
  });
});

/** A module with a function called on two lines and a memory written by two ports (yosys's counter in names and PRIORITY). */
const FPOP = `module fpop #(parameter N = 6) (input wire clk, input wire [N-1:0] x, input wire [N-1:0] y, input wire [1:0] i, output reg [3:0] a, output reg [3:0] b);
  function [3:0] pc(input [N-1:0] v);
    integer k;
    begin pc = 0; for (k = 0; k < N; k = k + 1) pc = pc + v[k]; end
  endfunction
  reg [3:0] m [0:3];
  always @(posedge clk) begin
    a <= pc(x);
    b <= pc(x ^ y) + m[i];
    m[i] <= a;
    m[~i] <= b;
  end
endmodule
`;
/** Something elaborated before fpop (yosys's counter moves on). */
const FIRST = `module first(input wire clk, input wire [7:0] x, output reg [7:0] q);
  always @(posedge clk) q <= q + x * 3 - (x >> 1);
endmodule
`;

describe('per-instance synthesis', () => {
  it('xilinx cache: the same module from another design hits, though its source moved across line 100, more was elaborated before it, and no unparameterized instance of it exists there', async () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-ooc-test-'));
    try {
      const runs: string[] = [];
      const onRun = (w: string) => runs.push(w);
      const topA = `module ta(input wire clk, input wire [7:0] x, output wire [3:0] a, output wire [3:0] b, output wire [3:0] c);
  fpop #(.N(8)) u8 (.clk(clk), .x(x), .y(~x), .i(x[1:0]), .a(a), .b(b));
  fpop u6 (.clk(clk), .x(x[5:0]), .y(x[7:2]), .i(x[3:2]), .a(c), .b());
endmodule
`;
      const topB = `module tb2(input wire clk, input wire [7:0] x, output wire [3:0] a, output wire [3:0] b, output wire [7:0] q);
  first u0 (.clk(clk), .x(x), .q(q));
  fpop #(.N(8)) v8 (.clk(clk), .x(x), .y(~x), .i(x[1:0]), .a(a), .b(b));
endmodule
`;
      const a = await synthesize({ files: { 'fpop.v': FPOP, 'ta.v': topA }, top: 'ta' }, { target: 'xilinx', flatten: false, instances: true, cacheDir, onRun, depth: false });
      expect(a.instances!.map((x) => [x.instances, x.cached])).toEqual([[['u6'], false], [['u8'], false], [[], false]]);
      runs.length = 0;
      // fpop.v with 90 lines before it: its calls move from lines 8/9 to 98/99 and 10/11 to 100/101
      const b = await synthesize({ files: { 'a.v': FIRST, 'fpop.v': '\n'.repeat(90) + FPOP, 'tb2.v': topB }, top: 'tb2' }, { target: 'xilinx', flatten: false, instances: true, cacheDir, onRun, depth: false });
      expect(b.instances!.map((x) => [x.module, x.instances, x.cached])).toEqual([['first', ['u0'], false], ['fpop', ['v8'], true], ['tb2', [], false]]);
      expect(runs.filter((w) => /fpop/.test(w))).toEqual([]);
      expect(b.instances![1]!.cellsByType).toEqual(a.instances!.find((x) => x.instances.includes('u8'))!.cellsByType);
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 240_000);


  it('asic: identical instances synthesized once and counted twice, the glue once, each run as the flattened module; cached runs give the same figures', async () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-ooc-test-'));
    try {
      const runs: string[] = [];
      const onRun = (w: string) => runs.push(w);
      const files = { 'popacc.v': POPACC, 'mix.v': MIX };
      const units = [
        { name: 'a', module: 'popacc', instance: 'u0' },
        { name: 'c', module: 'popacc', instance: 'u2' },
      ];
      const r = await synthesize({ files, top: 'mix', units }, { target: 'asic', flatten: false, instances: true, cacheDir, onRun });
      expect(r.hierarchical).toBe(true);
      expect(runs.filter((w) => /out of context/.test(w))).toHaveLength(2);
      expect(r.instances!.map((x) => [x.module, x.instances, x.glue ?? false, x.cached])).toEqual([
        ['popacc', ['u0', 'u1'], false, false],
        ['popacc', ['u2'], false, false],
        ['mix', [], true, false],
      ]);
      const [a, c] = r.units;
      const glue = r.instances![2]!;
      expect(a!.asic!.sequentialCells).toBe(8);
      expect(c!.asic!.sequentialCells).toBe(10);
      expect(r.total!.asic!.sequentialCells).toBe(8 + 8 + 10 + 8);
      const glueCells = Object.values(glue.cellsByType).reduce((s, n) => s + n, 0);
      expect(glueCells).toBeGreaterThanOrEqual(8); // its 8 flip-flops (and the xor)
      expect(r.total!.asic!.cells).toBe(2 * a!.asic!.cells + c!.asic!.cells + glueCells);
      // a run is the module synthesized flattened on its own, with the instance's parameters
      const flat = await synthesize({ files, top: 'mix', units: [{ name: 'a', module: 'popacc', params: { ACC: 8 } }] }, { target: 'asic', whole: false, depth: false });
      expect(a!.cellsByType).toEqual(flat.units[0]!.cellsByType);

      // again from the cache: no out-of-context run, the same figures
      runs.length = 0;
      const again = await synthesize({ files, top: 'mix', units }, { target: 'asic', flatten: false, instances: true, cacheDir, onRun });
      expect(runs.filter((w) => /out of context|own logic/.test(w))).toEqual([]);
      expect(again.instances!.every((x) => x.cached)).toBe(true);
      expect(again.total!.cellsByType).toEqual(r.total!.cellsByType);
      expect(again.units.map((u) => u.cellsByType)).toEqual(r.units.map((u) => u.cellsByType));

      // another design with the same two modules, derived in the other order: both runs from the cache, only its glue runs
      runs.length = 0;
      const other = await synthesize({ files: { 'popacc.v': POPACC, 'other.v': OTHER }, top: 'other' }, { target: 'asic', flatten: false, instances: true, cacheDir, onRun });
      expect(runs.filter((w) => /out of context/.test(w))).toEqual([]);
      expect(other.instances!.map((x) => [x.instances, x.cached])).toEqual([
        [['v0'], true],
        [['v2'], true],
        [[], false],
      ]);
      expect(other.total!.asic!.sequentialCells).toBe(18);
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 240_000);
});
