/**
 * Row-granular bit maps (`BitMapOptions.rows`, src/hbnn/row-bitmap.ts): one bitwidth per row,
 * exact row counts, checked against a naive re-implementation of the documented keys.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { binarizeWithBitMap, countsFromDistribution, heteroBinarize, makeBitMap, mulberry32, resolveDistribution, type Heuristic } from '../../src/hbnn/index.js';
import { binarizeWithBitMaps, releaseBinarizeWorkers, type BinarizeJob } from '../../src/hbnn/parallel.js';
import { randomKey, seedWords } from '../../src/hbnn/prng.js';
import { gaussian, thrown } from './reference.js';

afterAll(() => releaseBinarizeWorkers());

const HEURISTICS: Heuristic[] = ['middle-out', 'middle-out-residual', 'top-down', 'bottom-up', 'random'];
const bytes = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/**
 * Algorithm 1 over rows, written out directly: per-entry float64 state, full sorts, keys
 * exactly as docs/method.md states them. `scaleChannels`: 1 (per tensor) or rows (per row).
 */
function refRowBitMap(t: Float32Array, o: { heuristic: string; rowCounts: number[]; rows: number; scaleChannels?: number; seed?: number }): Uint8Array {
  const { heuristic, rowCounts, rows } = o;
  const n = t.length;
  const size = n / rows;
  const perRowScales = (o.scaleChannels ?? 1) === rows && rows > 1;
  const rowBits = new Array<number>(rows).fill(0); // 0 = not yet assigned
  let last = rowCounts.length;
  while (rowCounts[last - 1] === 0) last--;
  const approx = new Float64Array(n); // float32-valued partial sums of the residual binarization
  const [sa, sb] = seedWords(o.seed ?? 0);
  const entries = (r: number): number[] => Array.from({ length: size }, (_, k) => r * size + k);
  for (let b = 1; b < last; b++) {
    const open = rowBits.flatMap((m, r) => (m === 0 ? [r] : []));
    if (heuristic === 'middle-out-residual') {
      // mu_b = mean |E_{b-1}| over the open rows' entries (or over each row), then E_b.
      const groups = perRowScales ? open.map((r) => entries(r)) : [open.flatMap(entries)];
      for (const js of groups) {
        let s = 0;
        for (const j of js) s += Math.abs(t[j]! - approx[j]!);
        const mu = js.length ? Math.fround(s / js.length) : 0;
        for (const j of js) approx[j] = Math.fround(approx[j]! + (t[j]! - approx[j]! < 0 ? -mu : mu));
      }
    }
    const c = rowCounts[b - 1]!;
    if (c === 0) continue;
    let mean = 0;
    if (heuristic === 'middle-out') {
      let s = 0;
      for (const j of open.flatMap(entries)) s += Math.abs(t[j]!);
      mean = Math.fround(s / (open.length * size));
    }
    const key = (r: number): number => {
      let k = 0;
      for (const j of entries(r)) {
        if (heuristic === 'middle-out') k += Math.abs(Math.abs(t[j]!) - mean);
        else if (heuristic === 'middle-out-residual') k += Math.abs(t[j]! - approx[j]!);
        else k += Math.abs(t[j]!);
      }
      if (heuristic === 'top-down') return -k;
      if (heuristic === 'random') return randomKey(r, sa, sb);
      return k;
    };
    const ranked = open.map((r) => [key(r), r] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    for (let q = 0; q < c; q++) rowBits[ranked[q]![1]] = b;
  }
  const map = new Uint8Array(n);
  for (let r = 0; r < rows; r++) map.fill(rowBits[r] || last, r * size, (r + 1) * size);
  return map;
}

/** Bitwidth of each row; throws when a row is not constant. */
function rowWidths(map: Uint8Array, rows: number): number[] {
  const size = map.length / rows;
  return Array.from({ length: rows }, (_, r) => {
    const row = map.subarray(r * size, (r + 1) * size);
    if (row.some((m) => m !== row[0])) throw new Error(`row ${r} is not constant: ${Array.from(row).join(',')}`);
    return row[0]!;
  });
}

/** Test tensors of several distributions. */
function tensor(kind: string, n: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  switch (kind) {
    case 'gaussian':
      return gaussian(n, seed, 0.1);
    case 'uniform':
      return Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
    case 'laplace':
      return Float32Array.from({ length: n }, () => {
        const u = rng.next() - 0.5;
        return -0.05 * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
      });
    case 'coarse': // few distinct values: many equal entries and equal row keys
      return Float32Array.from({ length: n }, () => (Math.floor(rng.next() * 5) - 2) * 0.25);
    case 'scaled-rows': // rows of very different magnitudes, as real filters have
      return gaussian(n, seed, 1).map((v, j) => v * (1 + (Math.floor(j / 7) % 5)));
    default:
      throw new Error(kind);
  }
}

const SHAPES: [number, number][] = [
  [8, 9],
  [16, 25],
  [64, 3],
  [7, 11],
  [100, 1],
  [1, 50],
  [32, 32],
];
const DISTS: { label: string; spec: { avgBits?: number; dist?: number[] } }[] = [
  { label: '1.4 bits (3 widths)', spec: { avgBits: 1.4 } },
  { label: '1.2 bits (3 widths)', spec: { avgBits: 1.2 } },
  { label: '50/50 at 1 and 2 bits (2 widths)', spec: { dist: [0.5, 0.5] } },
  { label: '60/0/40 (no 2-bit rows)', spec: { dist: [0.6, 0, 0.4] } },
  { label: '0/70/30 (no 1-bit rows)', spec: { dist: [0, 0.7, 0.3] } },
  { label: '2.5 bits (2 and 3 bits)', spec: { avgBits: 2.5 } },
];

describe('makeBitMap with rows: one bitwidth per row', () => {
  for (const heuristic of HEURISTICS) {
    it(`${heuristic}: row-constant maps with exact row counts, equal to the naive reference`, () => {
      let cases = 0;
      for (const [rows, size] of SHAPES) {
        for (const [d, { spec }] of DISTS.entries()) {
          for (const kind of ['gaussian', 'uniform', 'laplace', 'coarse', 'scaled-rows']) {
            const t = tensor(kind, rows * size, rows * 131 + size * 7 + d);
            const seed = rows + d;
            const got = makeBitMap(t, { heuristic, ...spec, rows, seed });
            const widths = rowWidths(got.bitMap, rows);
            const dist = resolveDistribution(spec).dist;
            const rowCounts = countsFromDistribution(dist, rows).counts;
            const hist = rowCounts.map((_, b) => widths.filter((w) => w === b + 1).length);
            expect(hist, `${kind} ${rows}x${size}`).toEqual(rowCounts);
            expect(got.counts).toEqual(rowCounts.map((c) => c * size));
            expect(got.avgBits).toBeCloseTo(rowCounts.reduce((s, c, b) => s + c * (b + 1), 0) / rows, 12);
            const want = refRowBitMap(t, { heuristic, rowCounts, rows, seed });
            expect(Array.from(got.bitMap), `${heuristic} ${kind} ${rows}x${size} ${JSON.stringify(spec)}`).toEqual(Array.from(want));
            cases++;
          }
        }
      }
      expect(cases).toBe(SHAPES.length * DISTS.length * 5);
    });
  }

  it('middle-out-residual with per-row scales (scaleChannels = rows) equals the reference', () => {
    for (const [rows, size] of SHAPES) {
      for (const { spec } of DISTS) {
        for (const kind of ['gaussian', 'scaled-rows', 'coarse']) {
          const t = tensor(kind, rows * size, rows + size);
          const got = makeBitMap(t, { heuristic: 'middle-out-residual', ...spec, rows, scaleChannels: rows });
          const rowCounts = countsFromDistribution(resolveDistribution(spec).dist, rows).counts;
          const want = refRowBitMap(t, { heuristic: 'middle-out-residual', rowCounts, rows, scaleChannels: rows });
          expect(Array.from(got.bitMap), `${kind} ${rows}x${size} ${JSON.stringify(spec)}`).toEqual(Array.from(want));
        }
      }
    }
  });

  it('the residual key changes the map: per-row scales differ from per-tensor ones on rows of different magnitudes', () => {
    const rows = 32;
    const t = tensor('scaled-rows', rows * 27, 5);
    const perTensor = makeBitMap(t, { heuristic: 'middle-out-residual', avgBits: 1.4, rows });
    const perRow = makeBitMap(t, { heuristic: 'middle-out-residual', avgBits: 1.4, rows, scaleChannels: rows });
    expect(Array.from(perRow.bitMap)).not.toEqual(Array.from(perTensor.bitMap));
  });

  it('ties go to the lower row: a constant or all-zero tensor, and rows with equal keys', () => {
    for (const v of [0, 0.5, -2]) {
      const rows = 10;
      const t = new Float32Array(rows * 4).fill(v);
      for (const heuristic of ['middle-out', 'middle-out-residual', 'top-down', 'bottom-up'] as const) {
        const got = makeBitMap(t, { heuristic, dist: [0.7, 0.2, 0.1], rows });
        expect(rowWidths(got.bitMap, rows), `${heuristic} ${v}`).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 2, 3]);
      }
    }
    // Rows 0..5 are permutations of the same values (equal keys for every heuristic but
    // random; dyadic values, so every sum is exact in any order).
    const base = [0.125, -0.375, 0.75];
    const t = new Float32Array(6 * 3);
    for (let r = 0; r < 6; r++) for (let k = 0; k < 3; k++) t[r * 3 + k] = base[(k + r) % 3]!;
    for (const heuristic of ['middle-out', 'middle-out-residual', 'top-down', 'bottom-up'] as const) {
      expect(rowWidths(makeBitMap(t, { heuristic, dist: [0.5, 0.5], rows: 6 }).bitMap, 6), heuristic).toEqual([1, 1, 1, 2, 2, 2]);
    }
  });

  it('keys rank whole rows: bottom-up gives the smallest rows the fewest bits, top-down the largest', () => {
    const rows = 5;
    const scale = [3, 1, 4, 0.5, 2];
    const t = new Float32Array(rows * 6);
    for (let r = 0; r < rows; r++) for (let k = 0; k < 6; k++) t[r * 6 + k] = (k % 2 ? -1 : 1) * scale[r]! * (1 + k / 10);
    expect(rowWidths(makeBitMap(t, { heuristic: 'bottom-up', dist: [0.4, 0.4, 0.2], rows }).bitMap, rows)).toEqual([2, 1, 3, 1, 2]);
    expect(rowWidths(makeBitMap(t, { heuristic: 'top-down', dist: [0.4, 0.4, 0.2], rows }).bitMap, rows)).toEqual([1, 2, 1, 3, 2]);
  });

  it('with two widths, per-tensor middle-out-residual ranks as middle-out (round 1: |E_1| = ||T| - mu_1|)', () => {
    for (const kind of ['gaussian', 'uniform', 'laplace']) {
      const t = tensor(kind, 48 * 10, 3);
      const a = makeBitMap(t, { heuristic: 'middle-out', dist: [0.75, 0.25], rows: 48 });
      const b = makeBitMap(t, { heuristic: 'middle-out-residual', dist: [0.75, 0.25], rows: 48 });
      expect(Array.from(b.bitMap)).toEqual(Array.from(a.bitMap));
    }
  });

  it('is deterministic, writes into `out`, and rows = n is per entry with whole-row keys', () => {
    const t = gaussian(40 * 9, 11, 0.2);
    for (const heuristic of HEURISTICS) {
      const a = makeBitMap(t, { heuristic, avgBits: 1.4, rows: 40, seed: 3 });
      const out = new Uint8Array(t.length);
      const b = makeBitMap(t, { heuristic, avgBits: 1.4, rows: 40, seed: 3, out });
      expect(b.bitMap).toBe(out);
      expect(Array.from(out)).toEqual(Array.from(a.bitMap));
    }
    // The random heuristic depends on the seed.
    const r0 = makeBitMap(t, { heuristic: 'random', avgBits: 1.4, rows: 40, seed: 0 });
    const r1 = makeBitMap(t, { heuristic: 'random', avgBits: 1.4, rows: 40, seed: 1 });
    expect(Array.from(r0.bitMap)).not.toEqual(Array.from(r1.bitMap));
  });

  it('homogeneous distributions fill every row; an empty tensor gives an empty map', () => {
    const t = gaussian(12, 1);
    expect(Array.from(makeBitMap(t, { heuristic: 'middle-out', avgBits: 2, rows: 4 }).bitMap)).toEqual(new Array(12).fill(2));
    const e = makeBitMap(new Float32Array(0), { heuristic: 'middle-out', avgBits: 1.4, rows: 3 });
    expect(e.bitMap.length).toBe(0);
    expect(e.counts).toEqual([0, 0, 0]);
    expect(e.avgBits).toBe(0);
  });

  it('errors: rows not dividing n, rows with channels, bad scaleChannels, NaN and Inf weights', () => {
    const t = gaussian(24, 2);
    let e = thrown(() => makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, rows: 5 }));
    expect(e.code).toBe('invalid-option');
    expect(e.message).toBe('rows = 5 does not divide the tensor length 24');
    for (const rows of [0, -2, 1.5]) expect(thrown(() => makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, rows })).code).toBe('invalid-option');
    e = thrown(() => makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, rows: 4, channels: 4 }));
    expect(e.code).toBe('invalid-option');
    expect(e.message).toMatch(/rows .* and channels .* cannot be combined/);
    e = thrown(() => makeBitMap(t, { heuristic: 'middle-out-residual', avgBits: 1.4, rows: 4, scaleChannels: 2 }));
    expect(e.code).toBe('invalid-option');
    expect(e.message).toMatch(/scaleChannels = 2 with rows = 4/);
    for (const sc of [1, 4]) expect(makeBitMap(t, { heuristic: 'middle-out-residual', avgBits: 1.4, rows: 4, scaleChannels: sc }).bitMap.length).toBe(24);
    expect(thrown(() => makeBitMap(t, { heuristic: 'outside-in' as Heuristic, avgBits: 1.4, rows: 4 })).code).toBe('invalid-option');
    expect(thrown(() => makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, rows: 4, out: new Uint8Array(3) })).code).toBe('invalid-option');
    const bad = t.slice();
    bad[13] = NaN;
    bad[20] = Infinity;
    for (const heuristic of HEURISTICS) {
      e = thrown(() => makeBitMap(bad, { heuristic, avgBits: 1.4, rows: 4, name: 'w' }));
      expect(e.code).toBe('numeric');
      expect(e.message).toBe('weight tensor "w" contains NaN at index 13');
    }
    bad[13] = 0;
    e = thrown(() => binarizeWithBitMap(bad, { heuristic: 'middle-out', avgBits: 1.4, rows: 4, name: 'w' }));
    expect(e.code).toBe('numeric');
    expect(e.message).toBe('weight tensor "w" contains Infinity at index 20');
  });
});

describe('binarizeWithBitMap with rows', () => {
  it('equals makeBitMap then heteroBinarize, byte for byte, per tensor and per row scales', () => {
    for (const heuristic of HEURISTICS) {
      for (const [rows, size] of [
        [16, 9],
        [64, 27],
        [10, 1],
      ] as const) {
        const t = tensor('scaled-rows', rows * size, rows * size);
        for (const perRow of [false, true]) {
          const mapOpts = { heuristic, avgBits: 1.4, rows, seed: 2, ...(perRow ? { scaleChannels: rows } : {}) };
          const binOpts = perRow ? { channels: rows } : {};
          const map = makeBitMap(t, mapOpts);
          const bin = heteroBinarize(t, map.bitMap, binOpts);
          const fused = binarizeWithBitMap(t, mapOpts, binOpts);
          const label = `${heuristic} ${rows}x${size} ${perRow ? 'per row' : 'per tensor'}`;
          expect(Array.from(fused.map.bitMap), label).toEqual(Array.from(map.bitMap));
          expect(fused.map.counts).toEqual(map.counts);
          expect(fused.map.avgBits).toBe(map.avgBits);
          expect(fused.bin.nBits).toBe(bin.nBits);
          expect(bytes(fused.bin.scales), label).toEqual(bytes(bin.scales));
          expect(Array.from(fused.bin.activeCounts)).toEqual(Array.from(bin.activeCounts));
          expect(Array.from(fused.bin.signs)).toEqual(Array.from(bin.signs));
          expect(bytes(fused.bin.dequantized), label).toEqual(bytes(bin.dequantized));
          rowWidths(fused.map.bitMap, rows);
        }
      }
    }
  });

  it('with output buffers (the trainer form) gives the same bytes', () => {
    const t = gaussian(32 * 18, 9, 0.1);
    const want = binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, rows: 32 });
    const out = new Float32Array(t.length);
    const signsOut = new Uint8Array(t.length);
    const mapOut = new Uint8Array(t.length);
    const got = binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, rows: 32, out: mapOut }, { out, signsOut });
    expect(got.map.bitMap).toBe(mapOut);
    expect(got.bin.dequantized).toBe(out);
    expect(bytes(out)).toEqual(bytes(want.bin.dequantized));
    expect(Array.from(mapOut)).toEqual(Array.from(want.map.bitMap));
  });

  it('row-granular maps cost approximation error against per-entry maps of the same average (sanity)', () => {
    const t = gaussian(64 * 72, 4, 0.05);
    const mse = (r: ReturnType<typeof binarizeWithBitMap>) => t.reduce((s, v, j) => s + (v - r.bin.dequantized[j]!) ** 2, 0) / t.length;
    const entry = binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.4 });
    const row = binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, rows: 64 });
    expect(row.map.avgBits).toBeCloseTo(entry.map.avgBits, 1);
    expect(mse(row)).toBeGreaterThan(mse(entry));
  });
});

describe('binarizeWithBitMaps with rows', () => {
  it('2 threads give the bytes of 1 thread (the option reaches the workers)', async () => {
    const jobs: BinarizeJob[] = [
      { t: tensor('scaled-rows', 64 * 288, 1), mapOpts: { heuristic: 'middle-out', avgBits: 1.4, rows: 64, name: 'a' } },
      { t: gaussian(32 * 800, 2, 0.05), mapOpts: { heuristic: 'middle-out-residual', avgBits: 1.2, rows: 32, scaleChannels: 32, name: 'b' }, binOpts: { channels: 32 } },
      { t: gaussian(10 * 30, 3, 0.2), mapOpts: { heuristic: 'random', avgBits: 1.4, rows: 10, seed: 5, name: 'c' } },
      { t: gaussian(128 * 90, 4, 0.05), mapOpts: { heuristic: 'bottom-up', dist: [0.6, 0, 0.4], rows: 128, name: 'd' } },
    ];
    const one = await binarizeWithBitMaps(jobs, { threads: 1 });
    const two = await binarizeWithBitMaps(jobs, { threads: 2 });
    jobs.forEach((job, j) => {
      const [a, b] = [one[j]!, two[j]!];
      rowWidths(b.map.bitMap, job.mapOpts.rows!);
      expect(Array.from(b.map.bitMap)).toEqual(Array.from(a.map.bitMap));
      expect(b.map.counts).toEqual(a.map.counts);
      expect(bytes(b.bin.scales)).toEqual(bytes(a.bin.scales));
      expect(Array.from(b.bin.signs)).toEqual(Array.from(a.bin.signs));
      expect(bytes(b.bin.dequantized)).toEqual(bytes(a.bin.dequantized));
    });
    // A worker reports errors of row-granular jobs too.
    const bad: BinarizeJob[] = [jobs[0]!, { t: gaussian(30, 1), mapOpts: { heuristic: 'middle-out', avgBits: 1.4, rows: 7, name: 'bad' } }];
    await expect(binarizeWithBitMaps(bad, { threads: 2 })).rejects.toMatchObject({ code: 'invalid-option' });
  });
});
