/**
 * The ASIC backend's default path (`lowerAsic(model)`, bits from the quantization record)
 * takes its shapes and weightless units from the bit-level IR: the same rows, columns and
 * output positions as the IR adapter, one record per add/avgpool in program order, the add's
 * FIFOs sized from the branch leads (not a whole frame); a model the IR cannot lower keeps the
 * graph-inferred shapes and says why.
 */
import { describe, expect, it } from 'vitest';
import { lowerAsic, lowerAsicFromProgram } from '../../../src/backends/asic/index.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { buildPoolNet, buildResNet20 } from '../../../zoo/topologies.js';

describe('ASIC shapes from the bit-level IR', () => {
  it('ResNet-20-style: layers as the IR has them, its adds and average pool counted, shortcut FIFOs from the branch leads', async () => {
    const m = buildResNet20({ inputShape: [3, 16, 16], width: 4, blocks: 1 });
    await quantize(m, { avgBits: 1.4, heuristic: 'middle-out' });
    const rec = lowerAsic(m).report;
    const program = lowerToBitIR(m);
    const ir = lowerAsicFromProgram(program).report;
    expect(rec.source).toBe('quant-record');
    expect(rec.notes.some((n) => n.startsWith('Layer shapes and the weightless units (add, concat, average pool, clip, LeakyRelu) come from the bit-level IR'))).toBe(true);
    const shape = (l: { name: string; kind: string; rows: number; cols: number; outputPositions: number }) => [l.name, l.kind, l.rows, l.cols, l.outputPositions];
    expect(rec.units.layers.map(shape)).toEqual(ir.units.layers.map(shape));
    const kinds = rec.units.layers.map((l) => l.kind);
    expect(kinds.filter((k) => k === 'add').length).toBe(3);
    expect(kinds.filter((k) => k === 'avgpool').length).toBe(1);
    // The first block's identity shortcut waits for two 3×3 convolutions: rows of a 16×16 map,
    // more than nothing and less than a frame (4·16·16 entries of 20 bits).
    const add = rec.units.layers.find((l) => l.kind === 'add')!;
    expect(add.units.sramBit).toBeGreaterThan(0);
    expect(add.units.sramBit).toBeLessThan(4 * 16 * 16 * 20);
    expect(add.units.sramBit % 20).toBe(0);
  });

  it('a model the IR cannot lower is priced with the graph-inferred shapes, and the report says why', async () => {
    const m = buildPoolNet({ width: 2, hidden: 4 });
    await quantize(m, { avgBits: 1.4 });
    m.graph.nodes.find((n) => n.opType === 'LeakyRelu')!.opType = 'Tanh';
    const r = lowerAsic(m).report;
    expect(r.notes.some((n) => /^Layer shapes are inferred from the graph: the bit-level IR cannot lower this model \(cannot lower node "[^"]+" \(Tanh\): operator Tanh has no bit-level form/.test(n))).toBe(true);
    expect(r.units.layers.every((l) => ['conv', 'fully-connected'].includes(l.kind))).toBe(true);
    expect(r.units.layers.length).toBe(4);
  });
});
