/**
 * Per-instance synthesis (`flatten: false, instances: true`; src/backends/synth/instances.ts):
 * identical instances are synthesized once and counted per instance, a run equals the flattened
 * synthesis of the same module and parameters, the top's own logic is counted once, and a cache
 * folder gives the same figures back without running yosys, also for the same module in another
 * design whose elaboration numbered yosys's automatic names differently.
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

describe('per-instance synthesis', () => {
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
