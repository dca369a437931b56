import { afterAll, describe, expect, it } from 'vitest';
import { binarizeWithBitMap } from '../../src/hbnn/index.js';
import { binarizeWithBitMaps, parallelStats, releaseBinarizeWorkers, type BinarizeJob } from '../../src/hbnn/parallel.js';
import { HbnnError } from '../../src/errors.js';
import { gaussian } from './reference.js';

// The workers run the compiled module (dist/src/hbnn/binarize-worker.js), built by `npm ci`
// (prepare) or `npx tsc -p .`.
const bytes = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

afterAll(() => releaseBinarizeWorkers());

function jobs(): BinarizeJob[] {
  // Sizes in no order, so the largest-first schedule differs from job order.
  return [
    { t: gaussian(3000, 1, 0.1), mapOpts: { heuristic: 'middle-out', avgBits: 1.4, name: 'a' } },
    { t: gaussian(60000, 2, 0.05), mapOpts: { heuristic: 'middle-out', avgBits: 1.4, name: 'b' } },
    { t: gaussian(500, 3, 0.2), mapOpts: { heuristic: 'random', avgBits: 1.2, seed: 4, name: 'c' } },
    { t: gaussian(40000, 4, 0.05), mapOpts: { heuristic: 'middle-out', dist: [0.6, 0.3, 0.1], channels: 8, scaleChannels: 8, name: 'd' }, binOpts: { channels: 8 } },
    { t: gaussian(20000, 5, 0.05), mapOpts: { heuristic: 'top-down', avgBits: 1.6, name: 'e' } },
  ];
}

describe('binarizeWithBitMaps', () => {
  for (const threads of [1, 2, 3, 8]) {
    it(`equals binarizeWithBitMap on each tensor, byte for byte, with ${threads} thread(s)`, async () => {
      const js = jobs();
      const before = { ...parallelStats };
      const got = await binarizeWithBitMaps(js, { threads });
      expect(got.length).toBe(js.length);
      js.forEach((job, j) => {
        const want = binarizeWithBitMap(job.t, job.mapOpts, job.binOpts ?? {});
        const r = got[j]!;
        expect(Array.from(r.map.bitMap)).toEqual(Array.from(want.map.bitMap));
        expect(r.map.counts).toEqual(want.map.counts);
        expect(r.map.avgBits).toBe(want.map.avgBits);
        expect(r.bin.nBits).toBe(want.bin.nBits);
        expect(bytes(r.bin.scales)).toEqual(bytes(want.bin.scales));
        expect(Array.from(r.bin.activeCounts)).toEqual(Array.from(want.bin.activeCounts));
        expect(Array.from(r.bin.signs)).toEqual(Array.from(want.bin.signs));
        expect(bytes(r.bin.dequantized)).toEqual(bytes(want.bin.dequantized));
      });
      // Work really went to workers when there were any.
      const viaWorkers = parallelStats.workerJobs - before.workerJobs;
      if (threads === 1) expect(viaWorkers).toBe(0);
      else expect(viaWorkers).toBeGreaterThan(0);
      expect(viaWorkers + parallelStats.localJobs - before.localJobs).toBe(js.length);
    });
  }

  it('throws the error of the first failing tensor in job order, with its code', async () => {
    const js = jobs();
    js[0]!.t[7] = NaN; // small: scheduled last, on a worker
    js[1]!.t[9] = Infinity; // largest: this thread, done first
    for (const threads of [1, 2]) {
      const e = await binarizeWithBitMaps(js, { threads }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HbnnError);
      expect((e as HbnnError).code).toBe('numeric');
      expect((e as HbnnError).message).toMatch(/"a" contains NaN at index 7/);
    }
  });

  it('rejects a bad thread count', async () => {
    for (const threads of [0, 1.5, -1, Number.NaN]) {
      await expect(binarizeWithBitMaps(jobs(), { threads })).rejects.toMatchObject({ code: 'invalid-option', context: { option: 'threads' } });
    }
  });

  it('keeps concurrent calls apart (they share the workers)', async () => {
    const a = jobs();
    const b = jobs().reverse();
    const [ra, rb] = await Promise.all([binarizeWithBitMaps(a, { threads: 2 }), binarizeWithBitMaps(b, { threads: 3 })]);
    for (const [js, rs] of [[a, ra], [b, rb]] as const) {
      js.forEach((job, j) => {
        const want = binarizeWithBitMap(job.t, job.mapOpts, job.binOpts ?? {});
        expect(bytes(rs[j]!.bin.dequantized)).toEqual(bytes(want.bin.dequantized));
        expect(Array.from(rs[j]!.map.bitMap)).toEqual(Array.from(want.map.bitMap));
      });
    }
  });

  it('handles no jobs', async () => {
    expect(await binarizeWithBitMaps([], { threads: 2 })).toEqual([]);
  });
});
