import { describe, expect, it } from 'vitest';
import { binarizeWithBitMap, heteroBinarize, makeBitMap, WarmBounds, type BitMapOptions } from '../../src/hbnn/index.js';
import { selectionStats } from '../../src/hbnn/bitmap.js';
import { assembleModule, I, sleb, T, uleb } from '../../src/hbnn/wasm-assembler.js';
import { bindWorkspace, createKernelArena, KernelArena, unbindWorkspace, wasmKernels, wasmKernelsAvailable } from '../../src/hbnn/wasm-kernels.js';
import { scratchPairs } from '../../src/hbnn/scratch.js';
import { quickSelectPairs, selectPairs } from '../../src/hbnn/select.js';
import { mulberry32 } from '../../src/hbnn/index.js';
import { gaussian, refBitMap, refHetero } from './reference.js';

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** binarizeWithBitMap with the WebAssembly kernels on (they must run) and off: the same bytes. */
function expectSameOnOff(t: Float32Array, mapOpts: BitMapOptions, binOpts: { channels?: number; sumAbs?: number } = {}, warm?: [WarmBounds, WarmBounds]) {
  const before = wasmKernels.calls;
  const on = binarizeWithBitMap(t, { ...mapOpts, ...(warm ? { warm: warm[0] } : {}) }, binOpts);
  const ran = wasmKernels.calls - before;
  wasmKernels.enabled = false;
  let off;
  try {
    off = binarizeWithBitMap(t, { ...mapOpts, ...(warm ? { warm: warm[1] } : {}) }, binOpts);
  } finally {
    wasmKernels.enabled = true;
  }
  expect(bytes(on.map.bitMap).equals(bytes(off.map.bitMap))).toBe(true);
  expect(on.map.counts).toEqual(off.map.counts);
  expect(bytes(on.bin.signs).equals(bytes(off.bin.signs))).toBe(true);
  expect(bytes(on.bin.dequantized).equals(bytes(off.bin.dequantized))).toBe(true);
  expect(bytes(on.bin.scales).equals(bytes(off.bin.scales))).toBe(true);
  expect(Array.from(on.bin.activeCounts)).toEqual(Array.from(off.bin.activeCounts));
  return { on, ran };
}

/** A seeded tensor with ties, zeros, negative zeros and a few large values. */
function awkward(n: number, seed: number): Float32Array {
  const t = gaussian(n, seed, 0.05);
  let s = seed >>> 0;
  for (let j = 0; j < n; j++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const r = s >>> 24;
    if (r < 8) t[j] = 0;
    else if (r < 12) t[j] = -0;
    else if (r < 40) t[j] = t[j & ~63]!; // runs of equal values: equal keys, ties broken by index
    else if (r < 42) t[j] = t[j]! * 40;
  }
  return t;
}

describe('WebAssembly assembler', () => {
  it('encodes LEB128 as the specification does', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  it('assembles a module that WebAssembly validates and runs', () => {
    // add(a, b) = a + b, and a loop summing 0 .. n-1
    const bytes = assembleModule([
      { name: 'add', params: [T.i32, T.i32], results: [T.i32], locals: [], body: [I.localGet(0), I.localGet(1), I.i32Add()] },
      {
        name: 'tri',
        params: [T.i32],
        results: [T.i32],
        locals: [T.i32, T.i32],
        body: [I.block(), I.localGet(0), I.i32Eqz(), I.brIf(0), I.loop(), I.localGet(2), I.localGet(1), I.i32Add(), I.localSet(2), I.localGet(1), I.i32Const(1), I.i32Add(), I.localTee(1), I.localGet(0), I.i32LtU(), I.brIf(0), I.end(), I.end(), I.localGet(2)],
      },
    ]);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as { add(a: number, b: number): number; tri(n: number): number };
    expect(inst.add(2, 40)).toBe(42);
    expect(inst.tri(100)).toBe(4950);
    expect(inst.tri(0)).toBe(0);
  });
});

describe('WebAssembly kernels of the re-binarization: the JavaScript passes bit for bit', () => {
  it('are available in this Node (WebAssembly with 128-bit SIMD)', () => {
    expect(wasmKernelsAvailable()).toBe(true);
  });

  it('run for a large middle-out tensor and not for a small one', () => {
    expect(expectSameOnOff(gaussian(50000, 1, 0.05), { heuristic: 'middle-out', avgBits: 1.4 }).ran).toBeGreaterThanOrEqual(4);
    expect(expectSameOnOff(gaussian(1000, 1, 0.05), { heuristic: 'middle-out', avgBits: 1.4 }).ran).toBe(0);
  });

  it('agree with the independent reference (full sorts, float64 state)', () => {
    const t = awkward(20011, 3);
    const { on } = expectSameOnOff(t, { heuristic: 'middle-out', avgBits: 1.4 });
    const map = refBitMap(t, { heuristic: 'middle-out', counts: on.map.counts });
    expect(bytes(on.map.bitMap).equals(bytes(map))).toBe(true);
    const ref = refHetero(t, map);
    expect(bytes(on.bin.dequantized).equals(bytes(ref.dequantized))).toBe(true);
    expect(bytes(on.bin.signs).equals(bytes(ref.signs))).toBe(true);
  });

  // random sizes (odd ones: SIMD bodies and scalar tails), bitwidth mixes, granularity, selectors
  const dists: number[][] = [[0.7, 0.2, 0.1], [0.8, 0.2], [0.5, 0.2, 0.2, 0.1], [0, 0.6, 0.4], [0.7, 0, 0.3], [0, 0, 1], [0.3, 0.3, 0.2, 0.1, 0.05, 0.05]];
  const selectors = ['auto', 'sample', 'radix', 'quickselect'] as const;
  for (let c = 0; c < 28; c++) {
    const n = 4096 + ((c * 7919) % 60000) + (c % 4);
    const dist = dists[c % dists.length]!;
    const selector = selectors[c % selectors.length]!;
    const channels = c % 3 === 2 ? [1, 2, 3, 5][c % 4]! : undefined;
    it(`random tensor ${c}: n = ${n}, dist ${JSON.stringify(dist)}, ${selector}, ${channels ?? 'per-tensor'} groups`, () => {
      const t = awkward(n - (channels === undefined ? 0 : n % channels), 100 + c);
      const ch = channels === undefined ? {} : { channels, scaleChannels: channels };
      expectSameOnOff(t, { heuristic: 'middle-out', dist, selector, ...ch }, channels === undefined ? {} : { channels });
      // avgBits and the other heuristics (which use no kernel of their own) through the same workspace
      expectSameOnOff(t, { heuristic: c % 2 ? 'middle-out-residual' : 'top-down', avgBits: 1.4, selector, ...ch }, channels === undefined ? {} : { channels });
    });
  }

  it('per-row bit maps (no shared passes, no workspace) and per-channel scales with a per-tensor map', () => {
    const t = awkward(64 * 300, 5);
    expectSameOnOff(t, { heuristic: 'middle-out', avgBits: 1.4, rows: 64 });
    expectSameOnOff(t, { heuristic: 'middle-out', avgBits: 1.4 }, { channels: 64 });
  });

  it('with sumAbs and warm bounds over slowly moving weights (the training step), and rejected samples', () => {
    const t = awkward(90001, 7);
    const warm: [WarmBounds, WarmBounds] = [new WarmBounds(), new WarmBounds()];
    let s = 7;
    for (let step = 0; step < 6; step++) {
      for (let j = 0; j < t.length; j++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        t[j] = Math.fround(t[j]! + (s & 0x10000 ? 1e-4 : -1e-4));
      }
      let sum = 0;
      for (let j = 0; j < t.length; j++) sum += Math.abs(t[j]!);
      expectSameOnOff(t, { heuristic: 'middle-out', avgBits: 1.4 }, { sumAbs: sum }, warm);
    }
    expect(warm[0].hits).toBe(warm[1].hits);
    expect(warm[0].hits).toBeGreaterThan(0);
    selectionStats.rejectSamples = true;
    try {
      expectSameOnOff(t, { heuristic: 'middle-out', avgBits: 1.4, selector: 'sample' });
    } finally {
      selectionStats.rejectSamples = false;
    }
  });

  it('selectPairs on pairs in the workspace (the partition kernels): the same set and pivot as quickselect', () => {
    const rng = mulberry32(5);
    const ws = bindWorkspace(new Float32Array(40000));
    expect(ws).not.toBeNull();
    try {
      for (let trial = 0; trial < 24; trial++) {
        const n = 4096 + Math.floor(rng.next() * 30000);
        const [keys, idx] = scratchPairs(n);
        expect(keys.buffer).toBe(ws!.t.buffer); // in the kernels' memory
        const base = Math.floor(rng.next() * 2 ** 31);
        const range = [3, 5000, 2 ** 20, 2 ** 32 - 1 - base][trial % 4]!;
        for (let p = 0; p < n; p++) {
          keys[p] = base + Math.floor(rng.next() * range);
          idx[p] = (p * 7919) % 1000003;
        }
        const c = trial % 5 === 0 ? n - 1 : 1 + Math.floor(rng.next() * (n - 1));
        const refK = keys.slice(0, n);
        const refI = idx.slice(0, n);
        const keyOf = new Map(Array.from(refI, (j, p) => [j, refK[p]!]));
        quickSelectPairs(refK, refI, n, c);
        const calls = wasmKernels.calls;
        selectPairs(keys, idx, n, c);
        expect(wasmKernels.calls).toBeGreaterThan(calls);
        expect([keys[c - 1], idx[c - 1]]).toEqual([refK[c - 1], refI[c - 1]]);
        expect(new Set(idx.subarray(0, c))).toEqual(new Set(refI.subarray(0, c)));
        expect(Array.from(idx.subarray(0, n)).sort((a, b) => a - b)).toEqual(Array.from(refI).sort((a, b) => a - b));
        for (let p = 0; p < n; p++) if (keys[p] !== keyOf.get(idx[p]!)) expect(keys[p]).toBe(keyOf.get(idx[p]!)); // pairs stay pairs
      }
    } finally {
      unbindWorkspace();
    }
  });

  it('leave no workspace behind: the caller gets its own buffers, and a frozen map binarizes the same', () => {
    const t = gaussian(30000, 9, 0.05);
    const out = new Float32Array(t.length);
    const signsOut = new Uint8Array(t.length);
    const mapOut = new Uint8Array(t.length);
    const r = binarizeWithBitMap(t, { heuristic: 'middle-out', avgBits: 1.4, out: mapOut }, { out, signsOut });
    expect(r.bin.dequantized).toBe(out);
    expect(r.bin.signs).toBe(signsOut);
    expect(r.map.bitMap).toBe(mapOut);
    const again = heteroBinarize(t, makeBitMap(t, { heuristic: 'middle-out', avgBits: 1.4 }).bitMap);
    expect(bytes(again.dequantized).equals(bytes(out))).toBe(true);
  });

  it('in a KernelArena: binarizeWithBitMap works on the caller\'s own arrays (nothing copied), bit for bit the copying path and the JavaScript passes, step after step', () => {
    const sizes = [90001, 4099, 20011];
    const arena = createKernelArena(90001, KernelArena.bytesFor(sizes.flatMap((n) => [4 * n, 4 * n, n, n])))!;
    expect(arena).not.toBeNull();
    const dists = [[0.7, 0.2, 0.1], [0.5, 0.2, 0.2, 0.1], [0.8, 0.2]];
    const layers = sizes.map((n, i) => {
      const t = arena.f32(n);
      t.set(awkward(n, 20 + i));
      return { t, out: arena.f32(n), signs: arena.u8(n), map: arena.u8(n), dist: dists[i]!, warm: [new WarmBounds(), new WarmBounds(), new WarmBounds()] as const };
    });
    let s = 11;
    for (let step = 0; step < 4; step++) {
      for (const L of layers) {
        for (let j = 0; j < L.t.length; j++) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          L.t[j] = Math.fround(L.t[j]! + (s & 0x10000 ? 2e-4 : -2e-4));
        }
        let sum = 0;
        for (let j = 0; j < L.t.length; j++) sum += Math.abs(L.t[j]!);
        const binds = wasmKernels.arenaBinds;
        const calls = wasmKernels.calls;
        const r = binarizeWithBitMap(L.t, { heuristic: 'middle-out', dist: L.dist, out: L.map, warm: L.warm[0] }, { out: L.out, signsOut: L.signs, sumAbs: sum });
        expect(wasmKernels.arenaBinds).toBe(binds + 1); // in place
        expect(wasmKernels.calls).toBeGreaterThan(calls);
        expect(r.bin.dequantized).toBe(L.out);
        expect(r.bin.signs).toBe(L.signs);
        expect(r.map.bitMap).toBe(L.map);
        // the same tensor as a plain array: the copying workspace
        const plain = L.t.slice();
        const copied = binarizeWithBitMap(plain, { heuristic: 'middle-out', dist: L.dist, warm: L.warm[1] }, { sumAbs: sum });
        expect(wasmKernels.arenaBinds).toBe(binds + 1);
        wasmKernels.enabled = false;
        let js;
        try {
          js = binarizeWithBitMap(plain, { heuristic: 'middle-out', dist: L.dist, warm: L.warm[2] }, { sumAbs: sum });
        } finally {
          wasmKernels.enabled = true;
        }
        for (const other of [copied, js]) {
          expect(bytes(L.map).equals(bytes(other.map.bitMap))).toBe(true);
          expect(bytes(L.signs).equals(bytes(other.bin.signs))).toBe(true);
          expect(bytes(L.out).equals(bytes(other.bin.dequantized))).toBe(true);
          expect(bytes(r.bin.scales).equals(bytes(other.bin.scales))).toBe(true);
          expect(r.map.counts).toEqual(other.map.counts);
        }
      }
    }
    // outputs outside the arena, or overlapping one another: the copying workspace, same bytes
    const L = layers[2]!;
    const binds = wasmKernels.arenaBinds;
    const outside = binarizeWithBitMap(L.t, { heuristic: 'middle-out', dist: L.dist }, {});
    const overlapping = binarizeWithBitMap(L.t, { heuristic: 'middle-out', dist: L.dist, out: L.map }, { out: L.out, signsOut: new Uint8Array(L.out.buffer, L.out.byteOffset, L.t.length) });
    expect(wasmKernels.arenaBinds).toBe(binds);
    expect(bytes(outside.bin.dequantized).equals(bytes(L.out))).toBe(true);
    expect(bytes(overlapping.map.bitMap).equals(bytes(outside.map.bitMap))).toBe(true);
    // a tensor larger than the arena's workspace: copied
    const small = createKernelArena(5000, KernelArena.bytesFor([4 * 6000, 4 * 6000, 6000, 6000]))!;
    const big = small.f32(6000);
    big.set(awkward(6000, 40));
    const [bo, bs, bm] = [small.f32(6000), small.u8(6000), small.u8(6000)];
    const inSmall = binarizeWithBitMap(big, { heuristic: 'middle-out', avgBits: 1.4, out: bm }, { out: bo, signsOut: bs });
    expect(wasmKernels.arenaBinds).toBe(binds);
    expect(bytes(inSmall.bin.dequantized).equals(bytes(binarizeWithBitMap(big.slice(), { heuristic: 'middle-out', avgBits: 1.4 }).bin.dequantized))).toBe(true);
    expect(arena.holdsApart(L.t, L.out, L.signs, L.map)).toBe(true);
    expect(arena.holdsApart(L.t, L.out, new Uint8Array(L.out.buffer, L.out.byteOffset + 4, 8))).toBe(false);
    expect(() => arena.f32(1 << 20)).toThrow(RangeError); // the memory never grows
  });
});
