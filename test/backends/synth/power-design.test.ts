/**
 * Gate-level power of a lowered design on real test images (designPower): a tiny quantized
 * CNN lowered to Verilog with two Fashion-MNIST test images in its testbench; its input stage
 * and its logit scale (a signed 64-bit multiplier parameter, which must reach the netlist
 * signed) mapped to OSU 0.18 µm cells and simulated beside the RTL through tb.v, every output
 * compared on every cycle. The toggles the VCD
 * gives the netlist's in_data port must equal those computed from the testbench's own input
 * file (tb_input.hex: the entries in the order the testbench feeds them), and the clock's must
 * equal two per window cycle.
 */
import { describe, expect, it } from 'vitest';
import { DataType } from '../../../src/ir/dtype.js';
import { setTensorType } from '../../../src/ir/types.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import { lowerToVerilog } from '../../../src/backends/verilog/index.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../../src/data/index.js';
import { designPower, renderPowerMarkdown } from '../../../src/backends/synth/design-power.js';
import { A, addFloatInit, addInput, addNode, newModel, randomFloats } from '../../helpers/build.js';

/** x[N,1,28,28] → Conv 4×1×4×4 stride 4 → Relu → Flatten → Gemm 196→10. */
function tinyCnn() {
  const m = newModel();
  const g = m.graph;
  const x = addInput(g, 'x', ['N', 1, 28, 28]);
  const c = addNode(g, 'Conv', [x, addFloatInit(g, 'conv.w', [4, 1, 4, 4], randomFloats(64, 3)), addFloatInit(g, 'conv.b', [4])], ['c'], { strides: A.ints([4, 4]) }, { name: 'conv' });
  const r = addNode(g, 'Relu', [c.outputs[0]!], ['r'], {}, { name: 'relu' });
  const f = addNode(g, 'Flatten', [r.outputs[0]!], ['f'], {}, { name: 'flatten' });
  const y = addNode(g, 'Gemm', [f.outputs[0]!, addFloatInit(g, 'fc.w', [10, 196], randomFloats(1960, 5)), addFloatInit(g, 'fc.b', [10])], ['y'], { transB: A.int(1) }, { name: 'fc' });
  g.outputs.push(y.outputs[0]!);
  setTensorType(y.outputs[0]!, DataType.FLOAT, ['N', 10]);
  return m;
}

const IMAGES = 2;

describe('gate-level power of a design on test images', () => {
  it('the input stage beside the RTL through tb.v: in_data toggles as the testbench file says, clock twice per cycle', async () => {
    const m = tinyCnn();
    await quantize(m, { avgBits: 1.4, normalize: 'fmnist' });
    const data = loadDataset('fmnist:test', { normalize: FMNIST_NORMALIZATION, limit: IMAGES }).images;
    const r = lowerToVerilog(lowerToBitIR(m), { testData: data, testSamples: IMAGES, accSamples: 0 });
    expect(r.stages.map((s) => s.kind)).toContain('unit');
    const input = r.stages[0]!;
    expect(input).toMatchObject({ kind: 'input', instance: 'u_read_input', module: 'hbnn_dwc' });
    const scale = r.stages.find((x) => x.kind === 'scale')!;
    expect(scale.params['MULT']).toMatch(/^-?64'sd\d+$/);
    const p = await designPower({ files: r.files, sources: r.sources, stages: r.stages, units: r.units, images: IMAGES }, { clockMhz: 100, stages: [input.name, scale.name] });
    expect(p.stages.map((x) => x.name)).toEqual([input.name, scale.name]);
    expect(p.skipped).toEqual(r.stages.filter((x) => x !== input && x !== scale).map((x) => x.name));
    expect(p.stages[1]!.ports['out_data']!.rise.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const s = p.stages[0]!;
    expect(p.total.cells).toBeGreaterThan(20); // the input stage alone may be wires (a 1-to-1 width converter)
    // the independent count: the entries of tb_input.hex in feeding order, then back to entry 0
    // (the testbench shows inputs[0] once every entry is fed)
    const width = 20;
    const entries = (r.files.get('tb_input.hex') as string).trim().split('\n').map((h) => BigInt(`0x${h}`));
    expect(entries).toHaveLength(IMAGES * 28 * 28);
    const rise = new Array<number>(width).fill(0);
    const fall = new Array<number>(width).fill(0);
    for (let i = 0; i < entries.length; i++) {
      const a = entries[i]!;
      const b = entries[(i + 1) % entries.length]!;
      for (let k = 0; k < width; k++) {
        const x = (a >> BigInt(k)) & 1n;
        const y = (b >> BigInt(k)) & 1n;
        if (x === 0n && y === 1n) rise[k]!++;
        if (x === 1n && y === 0n) fall[k]!++;
      }
    }
    expect(rise.reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
    expect(s.ports['in_data']).toEqual({ rise, fall });
    expect(p.cycles).toBeGreaterThan(entries.length);
    expect(s.ports['clk']!.rise[0]! + s.ports['clk']!.fall[0]!).toBe(2 * p.cycles - 1);
    // the figures: dynamic = internal + switching, power = energy over the window at the clock
    expect(s.mw.dynamic).toBeCloseTo(s.mw.internal + s.mw.switching, 4);
    expect(s.mw.dynamic).toBeCloseTo(s.estimate.energyPj.dynamic * 1e-12 / (p.cycles / 100e6) * 1e3, 4);
    expect(p.total.mw.leakage).toBeGreaterThan(0);
    expect(s.model).toBeUndefined(); // not a matrix-vector unit
    expect(p.total.mw.dynamic).toBeCloseTo(s.mw.dynamic + p.stages[1]!.mw.dynamic, 4);
    const md = renderPowerMarkdown(p);
    expect(md).toContain('| read_input | input |');
    expect(md).toContain('Not simulated (not selected)');
  }, 240_000);
});
