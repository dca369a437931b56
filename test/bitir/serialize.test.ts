import { describe, expect, it } from 'vitest';
import { lowerToBitIR } from '../../src/bitir/lower.js';
import { interpret } from '../../src/bitir/interpret.js';
import { bitProgramFromJson, bitProgramToJson, bitProgramToText, lowerBitIrFiles, summaryMarkdown } from '../../src/bitir/serialize.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectHbnnError, randomFloats } from '../helpers/build.js';
import { modelA, modelB } from './helpers.js';

describe('ir.json', () => {
  it('is deterministic: the same model gives the same bytes, and a fresh build of the model too', () => {
    const a = bitProgramToJson(lowerToBitIR(modelA()));
    expect(bitProgramToJson(lowerToBitIR(modelA()))).toBe(a);
    const m = modelA();
    expect(bitProgramToJson(lowerToBitIR(m))).toBe(bitProgramToJson(lowerToBitIR(m)));
    // a different model gives different bytes (the check can fail)
    expect(bitProgramToJson(lowerToBitIR(modelB()))).not.toBe(a);
  });

  it('round-trips: parse → print gives the same bytes, and the parsed program computes the same integers', () => {
    for (const [make, per] of [
      [modelA, 50],
      [modelB, 196],
    ] as const) {
      const p = lowerToBitIR(make());
      const text = bitProgramToJson(p);
      const back = bitProgramFromJson(text);
      expect(bitProgramToJson(back)).toBe(text);
      const x = randomFloats(10 * per, 4);
      expect(Array.from(interpret(back, x).logitsQ)).toEqual(Array.from(interpret(p, x).logitsQ));
    }
  });

  it('stores weight planes as base64 Uint32 words', () => {
    const p = lowerToBitIR(modelA());
    const doc = JSON.parse(bitProgramToJson(p)) as { weights: { planes?: { signs: string; mask: string }[] }[] };
    const w = p.weights[0]!;
    if (w.kind !== 'binary') throw new Error('binary weight expected');
    const mask = Buffer.from(doc.weights[0]!.planes![0]!.mask, 'base64');
    expect(new Uint32Array(mask.buffer, mask.byteOffset, mask.byteLength / 4)).toEqual(w.planes[0]!.mask);
  });

  it('rejects another format or broken words with DATA_FORMAT', async () => {
    const text = bitProgramToJson(lowerToBitIR(modelA()));
    await expectHbnnError(() => bitProgramFromJson(text.replace('hbnn-bitir/1', 'hbnn-bitir/9')), ErrorCodes.DATA_FORMAT);
    await expectHbnnError(() => bitProgramFromJson('{'), ErrorCodes.DATA_FORMAT);
    const doc = JSON.parse(text) as { weights: { planes: { mask: string }[] }[] };
    doc.weights[0]!.planes[0]!.mask = 'AAA=';
    await expectHbnnError(() => bitProgramFromJson(JSON.stringify(doc)), ErrorCodes.DATA_FORMAT);
  });
});

describe('ir.txt and summary.md', () => {
  it('lists every op with its type and the ONNX nodes it implements', () => {
    const p = lowerToBitIR(modelA());
    const txt = bitProgramToText(p);
    expect(txt).toContain('bit-ir hbnn-bitir/1');
    expect(txt).toMatch(/%c1\.out\.acc: acc<3 terms, \d+b>\[3,5,5\] = conv\(%x, @c1\.weight\) kernel 3x3 strides 1,1 pads 1,1,1,1 dilations 1,1 group 1 {4}# c1/);
    expect(txt).toMatch(/= threshold\(%c1\.out\.acc\) sum \d+b, fixed-point combination, thresholds per channel \d+\.\.\d+ {4}# c1, bn1, act1\/BinarizeActivation/);
    expect(txt).toContain('= scale(%fc.out) multiplier');
    expect(txt).toContain('= argmax(%logits)');
    for (const op of p.ops) expect(txt).toContain(`%${op.output}:`);
  });

  it('summary.md has one row per layer with bit operations and memory, and totals', () => {
    const p = lowerToBitIR(modelA(), { inputBits: 8, inputFrac: 4 });
    const md = summaryMarkdown(p);
    const rows = md.split('\n').filter((l) => l.startsWith('| c1.out.acc') || l.startsWith('| fc.out.acc'));
    expect(rows.length).toBe(2);
    expect(rows[0]).toContain('| 15,200 |');
    expect(rows[1]).toContain('| 112 |');
    expect(md).toContain('| **total** |');
    expect(md).toContain('15,312');
  });

  it('lowerBitIrFiles returns ir.json, ir.txt and summary.md in memory', () => {
    const files = lowerBitIrFiles(modelB());
    expect([...files.keys()]).toEqual(['ir.json', 'ir.txt', 'summary.md']);
    expect(bitProgramFromJson(files.get('ir.json') as string).format).toBe('hbnn-bitir/1');
    expect(files.get('ir.txt')).toContain('matvec');
    expect(files.get('summary.md')).toContain('# Bit-level IR summary');
  });

  it('lowerBitIrFiles passes lowering errors through (typed)', async () => {
    const m = modelA();
    m.graph.nodes.find((n) => n.name === 'relu1')!.opType = 'Sigmoid';
    await expectHbnnError(() => lowerBitIrFiles(m), ErrorCodes.LOWERING);
  });
});
