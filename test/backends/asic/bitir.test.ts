/**
 * The two adapters agree: `fromBitProgram(lowerToBitIR(model))` and `fromQuantRecord(model)`
 * see the same layers, bit histograms, geometry and accumulator terms on CNV. They differ
 * where the IR knows more: fixed-point widths (the IR's input and inter-layer widths) and
 * the exact number of threshold bands (the record adapter's count is an upper bound).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import { fromBitProgram, fromQuantRecord, lowerAsic, lowerAsicFromProgram, type AsicLayerWork } from '../../../src/backends/asic/index.js';
import type { Model } from '../../../src/ir/graph.js';
import { quantizedCnv, randomCalibration, tempDir } from './fixtures.js';

describe('bit-level IR adapter vs quantization-record adapter (CNV, W1.4A1.4)', () => {
  let model: Model;
  let fromIr: AsicLayerWork[];
  let fromRecord: AsicLayerWork[];
  beforeAll(async () => {
    model = await quantizedCnv(1.4, randomCalibration(tempDir('hbnn-asic-bitir-')));
    fromIr = fromBitProgram(lowerToBitIR(model));
    fromRecord = fromQuantRecord(model).works;
  });

  it('same layers, histograms, geometry and accumulator terms', () => {
    expect(fromIr.map((w) => w.name)).toEqual(fromRecord.map((w) => w.name));
    fromIr.forEach((w, i) => {
      const r = fromRecord[i]!;
      expect([w.kind, w.weightBits, w.weightEncoding, w.outputPositions, w.rows, w.cols, w.accumulatorsPerOutput]).toEqual([
        r.kind,
        r.weightBits,
        r.weightEncoding,
        r.outputPositions,
        r.rows,
        r.cols,
        r.accumulatorsPerOutput,
      ]);
      expect(w.activation.source).toBe(r.activation.source);
      if (w.activation.encoding === 'planes') {
        expect(w.activation).toEqual(r.activation);
        expect(w.accumulatorBits).toBe(r.accumulatorBits);
      }
    });
  });

  it('the IR has the exact threshold counts, at most the record adapter\'s bound', () => {
    fromIr.forEach((w, i) => {
      const r = fromRecord[i]!;
      if (w.output.kind === 'thresholds' && r.output.kind === 'thresholds') {
        expect(w.output.count).toBeGreaterThan(0);
        expect(w.output.count).toBeLessThanOrEqual(r.output.count);
      } else {
        expect(w.output.kind).toBe(r.output.kind === 'none' ? 'requantize' : r.output.kind);
      }
    });
  });

  it('reports say which adapter was used; the estimates stay close', () => {
    const viaIr = lowerAsic(model, { program: lowerToBitIR(model) }).report;
    const viaRecord = lowerAsic(model).report;
    expect(viaIr.source).toBe('bit-ir');
    expect(viaRecord.source).toBe('quant-record');
    expect(lowerAsicFromProgram(lowerToBitIR(model)).report.summary).toEqual(viaIr.summary);
    expect(Math.abs(viaIr.summary.areaMm2 / viaRecord.summary.areaMm2 - 1)).toBeLessThan(0.1);
    expect(Math.abs(viaIr.summary.powerW / viaRecord.summary.powerW - 1)).toBeLessThan(0.15);
  });
});
