import { describe, expect, it } from 'vitest';
import {
  FMNIST_NORMALIZATION,
  batch,
  batches,
  checkFitsModelInput,
  checkLabelRange,
  gatherBatch,
  normalizeInPlace,
  parseNormalization,
  reshapeDataset,
  shuffledIndices,
  type Dataset,
} from '../../src/data/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectError } from './helpers.js';

function toy(count: number, sampleShape: number[], labels = true): Dataset {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const ds: Dataset = {
    name: 'toy',
    count,
    sampleShape,
    images: Float32Array.from({ length: count * per }, (_, i) => i),
  };
  if (labels) {
    ds.labels = Int32Array.from({ length: count }, (_, i) => i % 3);
    ds.numClasses = 3;
  }
  return ds;
}

describe('batching', () => {
  const ds = toy(5, [2]);

  it('returns views with the feed shape; the last batch is shorter', () => {
    const b = batch(ds, 2, 2);
    expect([b.start, b.count, b.shape]).toEqual([2, 2, [2, 2]]);
    expect(Array.from(b.images)).toEqual([4, 5, 6, 7]);
    expect(Array.from(b.labels!)).toEqual([2, 0]);
    expect(b.images.buffer).toBe(ds.images.buffer);
    const last = batch(ds, 4, 3);
    expect([last.count, last.shape, Array.from(last.images)]).toEqual([1, [1, 2], [8, 9]]);
  });

  it('iterates all samples once', () => {
    const all = [...batches(ds, 2)];
    expect(all.map((b) => b.count)).toEqual([2, 2, 1]);
    expect(all.flatMap((b) => Array.from(b.labels!))).toEqual([0, 1, 2, 0, 1]);
  });

  it('iterates in a given order by gathering', () => {
    const all = [...batches(ds, 2, [4, 0, 3])];
    expect(all.map((b) => Array.from(b.images))).toEqual([[8, 9, 0, 1], [6, 7]]);
    expect(all[0]!.start).toBe(-1);
  });

  it('rejects bad starts, sizes and indices', () => {
    expectError(() => batch(ds, 5, 1), ErrorCodes.INVALID_OPTION);
    expectError(() => batch(ds, -1, 1), ErrorCodes.INVALID_OPTION);
    expectError(() => batch(ds, 0, 0), ErrorCodes.INVALID_OPTION);
    expectError(() => batch(ds, 0, 1.5), ErrorCodes.INVALID_OPTION);
    expectError(() => gatherBatch(ds, [0, 5]), ErrorCodes.INVALID_OPTION);
  });

  it('shuffles deterministically: a permutation that depends on the seed', () => {
    const a = shuffledIndices(100, 42);
    expect(Array.from(a)).toEqual(Array.from(shuffledIndices(100, 42)));
    expect(Array.from(a)).not.toEqual(Array.from(shuffledIndices(100, 43)));
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(100).keys()]);
    expect(Array.from(a)).not.toEqual([...Array(100).keys()]);
  });
});

describe('normalization', () => {
  it('applies one mean/std to every value', () => {
    const x = Float32Array.from([0, 0.286, 1]);
    normalizeInPlace(x, [3], FMNIST_NORMALIZATION);
    expect(x[0]).toBeCloseTo(-0.286 / 0.353, 6);
    expect(x[1]).toBeCloseTo(0, 6);
    expect(x[2]).toBeCloseTo((1 - 0.286) / 0.353, 6);
  });

  it('applies per-channel values along axis 0 (CHW)', () => {
    // two samples of [2 channels, 2 values]
    const x = Float32Array.from([1, 1, 1, 1, 3, 3, 3, 3]);
    normalizeInPlace(x, [2, 2], { mean: [1, 2], std: [1, 0.5] });
    expect(Array.from(x)).toEqual([0, 0, -2, -2, 2, 2, 2, 2]);
  });

  it('applies per-channel values along the last axis (HWC)', () => {
    // one sample [2 pixels, 3 channels]
    const x = Float32Array.from([10, 20, 30, 10, 20, 30]);
    normalizeInPlace(x, [2, 3], { mean: [10, 10, 10], std: [1, 2, 4] }, 1);
    expect(Array.from(x)).toEqual([0, 5, 5, 0, 5, 5]);
  });

  it('rejects a channel-count mismatch and bad values', () => {
    expectError(() => normalizeInPlace(new Float32Array(4), [1, 2, 2], { mean: [0, 0, 0], std: [1, 1, 1] }), ErrorCodes.DATA_MISMATCH);
    expectError(() => normalizeInPlace(new Float32Array(4), [4], { mean: [0], std: [0] }), ErrorCodes.INVALID_OPTION);
    expectError(() => normalizeInPlace(new Float32Array(4), [4], { mean: [0, 1], std: [1] }), ErrorCodes.INVALID_OPTION);
  });

  it('parses CLI normalization strings', () => {
    expect(parseNormalization('fmnist')).toEqual({ mean: [0.286], std: [0.353] });
    expect(FMNIST_NORMALIZATION).toEqual({ mean: [0.2860], std: [0.3530] });
    expect(parseNormalization('0.485,0.456,0.406:0.229,0.224,0.225')).toEqual({
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    expectError(() => parseNormalization('0.5'), ErrorCodes.INVALID_OPTION);
    expectError(() => parseNormalization('0.5:x'), ErrorCodes.INVALID_OPTION);
    expectError(() => parseNormalization('0.5,0.5:1'), ErrorCodes.INVALID_OPTION);
    expectError(() => parseNormalization('0.5:-1'), ErrorCodes.INVALID_OPTION);
  });
});

describe('checkFitsModelInput', () => {
  const img = toy(2, [1, 28, 28]);

  it('accepts a symbolic, unknown or fixed batch dim', () => {
    expect(checkFitsModelInput(img, ['N', 1, 28, 28])).toEqual({ sampleShape: [1, 28, 28], flattened: false, fixedBatch: null });
    expect(checkFitsModelInput(img, [undefined, 1, 28, 28]).fixedBatch).toBeNull();
    expect(checkFitsModelInput(img, [-1, 1, 28, 28]).fixedBatch).toBeNull();
    expect(checkFitsModelInput(img, [1, 1, 28, 28]).fixedBatch).toBe(1);
    expect(checkFitsModelInput(img, ['N', 1, 'H', 'W']).sampleShape).toEqual([1, 28, 28]);
  });

  it('names both shapes in the mismatch message', () => {
    const e = expectError(() => checkFitsModelInput(img, ['N', 3, 32, 32]), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toBe("data samples are [1,28,28] but model input 'input' expects [N,3,32,32]");
    const e2 = expectError(() => checkFitsModelInput(img, ['batch', 3, 28, 28], { inputName: 'x' }), ErrorCodes.DATA_MISMATCH);
    expect(e2.message).toMatch(/^data samples are \[1,28,28\] but model input 'x' expects \[batch,3,28,28\]/);
  });

  it('does not flatten silently; flattens when asked', () => {
    const e = expectError(() => checkFitsModelInput(img, ['N', 784]), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toMatch(/expects \[N,784\]; the model wants a flat vector of 784 values per sample/);
    expect(checkFitsModelInput(img, ['N', 784], { flatten: true })).toEqual({ sampleShape: [784], flattened: true, fixedBatch: null });
    expectError(() => checkFitsModelInput(img, ['N', 785], { flatten: true }), ErrorCodes.DATA_MISMATCH);
  });

  it('hints at a reshape or a layout change when the element counts agree', () => {
    const flat = toy(2, [784]);
    expect(expectError(() => checkFitsModelInput(flat, ['N', 1, 28, 28]), ErrorCodes.DATA_MISMATCH).message).toMatch(
      /reshape the data to \[1,28,28\]/,
    );
    const hwc = toy(2, [28, 28, 1]);
    expect(expectError(() => checkFitsModelInput(hwc, ['N', 1, 28, 28]), ErrorCodes.DATA_MISMATCH).message).toMatch(/layout/);
  });

  it('rejects scalar inputs and a zero batch', () => {
    expectError(() => checkFitsModelInput(img, []), ErrorCodes.DATA_MISMATCH);
    expectError(() => checkFitsModelInput(img, [0, 1, 28, 28]), ErrorCodes.DATA_MISMATCH);
  });
});

describe('labels and reshape', () => {
  it('rejects labels outside 0..numClasses-1', () => {
    const ds = toy(4, [2]);
    checkLabelRange(ds, 3);
    const e = expectError(() => checkLabelRange(ds, 2), ErrorCodes.DATA_MISMATCH);
    expect(e.message).toMatch(/label 2 of sample 2 is outside 0\.\.1/);
    ds.labels![0] = -1;
    expectError(() => checkLabelRange(ds, 3), ErrorCodes.DATA_MISMATCH);
    expectError(() => checkLabelRange(ds, 0), ErrorCodes.INVALID_OPTION);
  });

  it('reshapes only to the same element count', () => {
    const ds = toy(2, [1, 2, 2]);
    expect(reshapeDataset(ds, [4]).sampleShape).toEqual([4]);
    expectError(() => reshapeDataset(ds, [5]), ErrorCodes.DATA_MISMATCH);
    expectError(() => reshapeDataset(ds, [0, 4]), ErrorCodes.INVALID_OPTION);
  });
});
