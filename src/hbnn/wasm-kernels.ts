/**
 * WebAssembly (128-bit SIMD) forms of the hottest passes of a training step's re-binarization
 * (docs/training.md, *The re-binarization in WebAssembly*), each bit for bit the JavaScript kernel it
 * replaces: the same float32 keys and values, the same comparisons, the same entries in the
 * same order (test/hbnn/wasm-kernels.test.ts compares them on random tensors). The JavaScript
 * kernels stay the reference and the path for every other case.
 *
 * The module is assembled from the instruction lists below by wasm-assembler.ts when first
 * used, and works in one memory of its own: a call copies its inputs in and its outputs out
 * (TypedArray.set, a memmove), which costs far less than the scalar loop it replaces.
 *
 * Memory layout: bytes [0, 16) the results a kernel stores besides its return value, [16,
 * 2064) one group's partial sums of one depth (at most 256 float64, partial-sums.ts), [2064,
 * 2320) the compaction table (16 byte-shuffles, one per 4-bit keep mask, moving the kept i32
 * lanes to the front in order), [4096, 12288) the bucket counters of `selectPartitionWasm`,
 * and from 12288 the workspace (`bindWorkspace`).
 */
import { setScratchOverride, type ScratchOverride } from './scratch.js';
import { addr, assembleModule, I, locals, loopP, T, type WasmFunction } from './wasm-assembler.js';

const RESULTS = 0;
const SUMS = 16;
const TABLE = 2064;
const COUNTS = 4096;
const BUCKETS = 2048;
const REGIONS = COUNTS + 4 * BUCKETS;

/**
 * middle-out's first round fused with the binarization's round 1 (`middleOutFirstRoundValues`
 * in bitmap.ts), over t[0 .. n) of the region, entry numbers jBase + p:
 *   signs[p] = (t < 0); out[p] = sign ? muNeg : mu; k = f32 | |t| - mean |;
 *   k < lo: taken; else appended to list (entry number); lo <= k <= hi: also (bits of k,
 *   entry) to (bk, bj) while nb < cap (nb counts them all).
 * Returns how many entries were appended to the list; nb at RESULTS.
 */
function firstRoundValues(): WasmFunction {
  const { idx: x, params, locals: extra } = locals(
    { t: T.i32, n: T.i32, jBase: T.i32, mean: T.f32, lo: T.f32, hi: T.f32, mu: T.f32, muNeg: T.f32, signs: T.i32, out: T.i32, list: T.i32, bk: T.i32, bj: T.i32, cap: T.i32 },
    { p: T.i32, w: T.i32, nb: T.i32, v: T.f32, k: T.f32, sel: T.i32, vv: T.v128, neg: T.v128, kv: T.v128, selv: T.v128, bnd: T.v128, keep: T.i32, meanv: T.v128, lov: T.v128, hiv: T.v128, muv: T.v128, muNegv: T.v128, n4: T.i32 },
  );
  /** One boundary entry: (bits of k, jBase + p + lane) while there is room. */
  const boundaryLane = (lane: number): number[][] => [
    I.localGet(x.bnd), I.i32x4ExtractLane(lane), I.if(),
    I.localGet(x.nb), I.localGet(x.cap), I.i32LtU(), I.if(),
    ...addr(x.bk, x.nb, 2), I.localGet(x.kv), I.i32x4ExtractLane(lane), I.i32Store(),
    ...addr(x.bj, x.nb, 2), I.localGet(x.jBase), I.localGet(x.p), I.i32Add(), I.i32Const(lane), I.i32Add(), I.i32Store(),
    I.end(),
    I.localGet(x.nb), I.i32Const(1), I.i32Add(), I.localSet(x.nb),
    I.end(),
  ];
  const body: number[][] = [
    I.localGet(x.mean), I.f32x4Splat(), I.localSet(x.meanv),
    I.localGet(x.lo), I.f32x4Splat(), I.localSet(x.lov),
    I.localGet(x.hi), I.f32x4Splat(), I.localSet(x.hiv),
    I.localGet(x.mu), I.f32x4Splat(), I.localSet(x.muv),
    I.localGet(x.muNeg), I.f32x4Splat(), I.localSet(x.muNegv),
    // n4 = n & ~3: the SIMD loop's end
    I.localGet(x.n), I.i32Const(-4), I.i32And(), I.localSet(x.n4),
    I.block(),
    I.localGet(x.p), I.localGet(x.n4), I.i32GeU(), I.brIf(0),
    I.loop(),
    // vv = t[p .. p+4); neg = vv < 0 (lanes all ones)
    ...addr(x.t, x.p, 2), I.v128Load(), I.localTee(x.vv),
    I.f32Const(0), I.f32x4Splat(), I.f32x4Lt(), I.localSet(x.neg),
    // signs[p .. p+4) = the low byte of each lane of (neg & 1)
    ...addr(x.signs, x.p, 0),
    I.localGet(x.neg), I.i32Const(1), I.i32x4Splat(), I.v128And(),
    I.localGet(x.neg), I.i8x16Shuffle([0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12]), I.i32x4ExtractLane(0), I.i32Store(),
    // out[p .. p+4) = neg ? muNeg : mu
    ...addr(x.out, x.p, 2), I.localGet(x.muNegv), I.localGet(x.muv), I.localGet(x.neg), I.v128Bitselect(), I.v128Store(),
    // kv = | |vv| - mean |; selv = kv < lo; bnd = (kv <= hi) & ~selv
    I.localGet(x.vv), I.f32x4Abs(), I.localGet(x.meanv), I.f32x4Sub(), I.f32x4Abs(), I.localTee(x.kv),
    I.localGet(x.lov), I.f32x4Lt(), I.localSet(x.selv),
    I.localGet(x.kv), I.localGet(x.hiv), I.f32x4Le(), I.localGet(x.selv), I.v128AndNot(), I.localTee(x.bnd),
    I.v128AnyTrue(), I.if(),
    ...boundaryLane(0), ...boundaryLane(1), ...boundaryLane(2), ...boundaryLane(3),
    I.end(),
    // the kept lanes' entry numbers to list[w ..], in order, by the keep mask's byte-shuffle
    I.localGet(x.selv), I.i32x4Bitmask(), I.i32Const(15), I.i32Xor(), I.localSet(x.keep),
    ...addr(x.list, x.w, 2),
    I.localGet(x.jBase), I.localGet(x.p), I.i32Add(), I.i32x4Splat(), I.v128Const(iota4()), I.i32x4Add(),
    I.localGet(x.keep), I.i32Const(4), I.i32Shl(), I.v128Load(TABLE),
    I.i8x16Swizzle(), I.v128Store(),
    I.localGet(x.w), I.localGet(x.keep), I.i32Popcnt(), I.i32Add(), I.localSet(x.w),
    I.localGet(x.p), I.i32Const(4), I.i32Add(), I.localTee(x.p), I.localGet(x.n4), I.i32LtU(), I.brIf(0),
    I.end(),
    I.end(),
    // the scalar tail [n4, n)
    I.block(),
    I.localGet(x.p), I.localGet(x.n), I.i32GeU(), I.brIf(0),
    I.loop(),
    ...addr(x.t, x.p, 2), I.f32Load(), I.localSet(x.v),
    ...addr(x.signs, x.p, 0), I.localGet(x.v), I.f32Const(0), I.f32Lt(), I.i32Store8(),
    ...addr(x.out, x.p, 2), I.localGet(x.muNeg), I.localGet(x.mu), I.localGet(x.v), I.f32Const(0), I.f32Lt(), I.select(), I.f32Store(),
    I.localGet(x.v), I.f32Abs(), I.localGet(x.mean), I.f32Sub(), I.f32Abs(), I.localTee(x.k),
    I.localGet(x.lo), I.f32Lt(), I.localSet(x.sel),
    I.localGet(x.k), I.localGet(x.hi), I.f32Le(), I.localGet(x.sel), I.i32Eqz(), I.i32And(), I.if(),
    I.localGet(x.nb), I.localGet(x.cap), I.i32LtU(), I.if(),
    ...addr(x.bk, x.nb, 2), I.localGet(x.k), I.i32ReinterpretF32(), I.i32Store(),
    ...addr(x.bj, x.nb, 2), I.localGet(x.jBase), I.localGet(x.p), I.i32Add(), I.i32Store(),
    I.end(),
    I.localGet(x.nb), I.i32Const(1), I.i32Add(), I.localSet(x.nb),
    I.end(),
    ...addr(x.list, x.w, 2), I.localGet(x.jBase), I.localGet(x.p), I.i32Add(), I.i32Store(),
    I.localGet(x.w), I.i32Const(1), I.localGet(x.sel), I.i32Sub(), I.i32Add(), I.localSet(x.w),
    I.localGet(x.p), I.i32Const(1), I.i32Add(), I.localTee(x.p), I.localGet(x.n), I.i32LtU(), I.brIf(0),
    I.end(),
    I.end(),
    I.i32Const(RESULTS), I.localGet(x.nb), I.i32Store(),
    I.localGet(x.w),
  ];
  return { name: 'firstRoundValues', params, results: [T.i32], locals: extra, body };
}

/**
 * middle-out's last selection round fused with the binarization's round shift + 1
 * (`middleOutAssignResidual` in bitmap.ts with no list for later rounds), over the candidates
 * list[0 .. n): for entry j, s = signs[j] & low, e = f64(t[j]) - sums[s] (the depth-`shift`
 * partial sums, at SUMS), signs[j] = s | (e < 0) << shift, sum += |e|; k = f32 | |t[j]| -
 * mean |, taken when k < lo, map[j] = taken ? b : last, boundary pairs as `firstRoundValues`.
 * Returns sum |E| (float64, in list order); nb at RESULTS, taken at RESULTS + 4.
 */
function assignResidualLast(): WasmFunction {
  const { idx: x, params, locals: extra } = locals(
    { t: T.i32, list: T.i32, n: T.i32, signs: T.i32, map: T.i32, shift: T.i32, mean: T.f32, lo: T.f32, hi: T.f32, b: T.i32, last: T.i32, bk: T.i32, bj: T.i32, cap: T.i32 },
    { p: T.i32, j: T.i32, s: T.i32, v: T.f32, e: T.f64, k: T.f32, sel: T.i32, nb: T.i32, taken: T.i32, sum: T.f64, low: T.i32 },
  );
  const body: number[][] = [
    I.i32Const(1), I.localGet(x.shift), I.i32Shl(), I.i32Const(1), I.i32Sub(), I.localSet(x.low),
    ...loopP(x.p, x.n, [
      ...addr(x.list, x.p, 2), I.i32Load(), I.localSet(x.j),
      ...addr(x.t, x.j, 2), I.f32Load(), I.localSet(x.v),
      ...addr(x.signs, x.j, 0), I.i32Load8U(), I.localGet(x.low), I.i32And(), I.localSet(x.s),
      // e = v - sums[s], in float64
      I.localGet(x.v), I.f64PromoteF32(), I.localGet(x.s), I.i32Const(3), I.i32Shl(), I.f64Load(SUMS), I.f64Sub(), I.localSet(x.e),
      ...addr(x.signs, x.j, 0), I.localGet(x.s), I.localGet(x.e), I.f64Const(0), I.f64Lt(), I.localGet(x.shift), I.i32Shl(), I.i32Or(), I.i32Store8(),
      I.localGet(x.sum), I.localGet(x.e), I.f64Abs(), I.f64Add(), I.localSet(x.sum),
      // the key and the selection
      I.localGet(x.v), I.f32Abs(), I.localGet(x.mean), I.f32Sub(), I.f32Abs(), I.localTee(x.k),
      I.localGet(x.lo), I.f32Lt(), I.localTee(x.sel), I.localGet(x.taken), I.i32Add(), I.localSet(x.taken),
      I.localGet(x.k), I.localGet(x.hi), I.f32Le(), I.localGet(x.sel), I.i32Eqz(), I.i32And(), I.if(),
      I.localGet(x.nb), I.localGet(x.cap), I.i32LtU(), I.if(),
      ...addr(x.bk, x.nb, 2), I.localGet(x.k), I.i32ReinterpretF32(), I.i32Store(),
      ...addr(x.bj, x.nb, 2), I.localGet(x.j), I.i32Store(),
      I.end(),
      I.localGet(x.nb), I.i32Const(1), I.i32Add(), I.localSet(x.nb),
      I.end(),
      ...addr(x.map, x.j, 0), I.localGet(x.b), I.localGet(x.last), I.localGet(x.sel), I.select(), I.i32Store8(),
    ]),
    I.i32Const(RESULTS), I.localGet(x.nb), I.i32Store(),
    I.i32Const(RESULTS), I.localGet(x.taken), I.i32Store(4),
    I.localGet(x.sum),
  ];
  return { name: 'assignResidualLast', params, results: [T.f64], locals: extra, body };
}

/**
 * `advanceList` of residual.ts over list[0 .. n): out[j] = f32(sums[signs[j]]) (the depth i-1
 * partial sums, at SUMS), and the entries with map[j] >= i kept, compacted in place. Returns
 * how many were kept.
 */
function advanceList(): WasmFunction {
  const { idx: x, params, locals: extra } = locals(
    { out: T.i32, signs: T.i32, map: T.i32, i: T.i32, list: T.i32, n: T.i32 },
    { p: T.i32, j: T.i32, w: T.i32 },
  );
  const body: number[][] = [
    ...loopP(x.p, x.n, [
      ...addr(x.list, x.p, 2), I.i32Load(), I.localSet(x.j),
      ...addr(x.out, x.j, 2), ...addr(x.signs, x.j, 0), I.i32Load8U(), I.i32Const(3), I.i32Shl(), I.f64Load(SUMS), I.f32DemoteF64(), I.f32Store(),
      ...addr(x.list, x.w, 2), I.localGet(x.j), I.i32Store(),
      I.localGet(x.w), ...addr(x.map, x.j, 0), I.i32Load8U(), I.localGet(x.i), I.i32GeU(), I.i32Add(), I.localSet(x.w),
    ]),
    I.localGet(x.w),
  ];
  return { name: 'advanceList', params, results: [T.i32], locals: extra, body };
}

/**
 * `residualList` of residual.ts over list[0 .. n): e = f64(t[j]) - sums[signs[j]] (at SUMS),
 * signs[j] |= (e < 0) << shift, sum += |e|. Returns the float64 sum, in list order.
 */
function residualList(): WasmFunction {
  const { idx: x, params, locals: extra } = locals(
    { t: T.i32, signs: T.i32, shift: T.i32, list: T.i32, n: T.i32 },
    { p: T.i32, j: T.i32, s: T.i32, e: T.f64, sum: T.f64 },
  );
  const body: number[][] = [
    ...loopP(x.p, x.n, [
      ...addr(x.list, x.p, 2), I.i32Load(), I.localSet(x.j),
      ...addr(x.signs, x.j, 0), I.i32Load8U(), I.localSet(x.s),
      ...addr(x.t, x.j, 2), I.f32Load(), I.f64PromoteF32(), I.localGet(x.s), I.i32Const(3), I.i32Shl(), I.f64Load(SUMS), I.f64Sub(), I.localSet(x.e),
      ...addr(x.signs, x.j, 0), I.localGet(x.s), I.localGet(x.e), I.f64Const(0), I.f64Lt(), I.localGet(x.shift), I.i32Shl(), I.i32Or(), I.i32Store8(),
      I.localGet(x.sum), I.localGet(x.e), I.f64Abs(), I.f64Add(), I.localSet(x.sum),
    ]),
    I.localGet(x.sum),
  ];
  return { name: 'residualList', params, results: [T.f64], locals: extra, body };
}

/**
 * `dropTakenMiddleOut` of bitmap.ts over list[0 .. n): keeps entry j when its key k = f32
 * | |t[j]| - mean | is above the pivot (k > pk, or k = pk and j > pj, unsigned), compacting in
 * place, and sums |t[j]| over those kept (float64, in order). Returns the sum; the count kept
 * at RESULTS.
 */
function dropTaken(): WasmFunction {
  const { idx: x, params, locals: extra } = locals(
    { t: T.i32, mean: T.f32, pk: T.f32, pj: T.i32, list: T.i32, n: T.i32 },
    { p: T.i32, j: T.i32, a: T.f32, k: T.f32, keep: T.i32, w: T.i32, sum: T.f64 },
  );
  const body: number[][] = [
    ...loopP(x.p, x.n, [
      ...addr(x.list, x.p, 2), I.i32Load(), I.localSet(x.j),
      ...addr(x.t, x.j, 2), I.f32Load(), I.f32Abs(), I.localTee(x.a),
      I.localGet(x.mean), I.f32Sub(), I.f32Abs(), I.localTee(x.k), I.localGet(x.pk), I.f32Gt(),
      I.localGet(x.k), I.localGet(x.pk), I.f32Eq(), I.localGet(x.j), I.localGet(x.pj), I.i32GtU(), I.i32And(), I.i32Or(), I.localSet(x.keep),
      ...addr(x.list, x.w, 2), I.localGet(x.j), I.i32Store(),
      I.localGet(x.w), I.localGet(x.keep), I.i32Add(), I.localSet(x.w),
      I.localGet(x.keep), I.if(), I.localGet(x.sum), I.localGet(x.a), I.f64PromoteF32(), I.f64Add(), I.localSet(x.sum), I.end(),
    ]),
    I.i32Const(RESULTS), I.localGet(x.w), I.i32Store(),
    I.localGet(x.sum),
  ];
  return { name: 'dropTaken', params, results: [T.f64], locals: extra, body };
}

/** The smallest and largest of keys[0 .. n) (unsigned), to RESULTS and RESULTS + 4. */
function keyRange(): WasmFunction {
  const { idx: x, params, locals: extra } = locals({ keys: T.i32, n: T.i32 }, { p: T.i32, k: T.i32, min: T.i32, max: T.i32 });
  const body: number[][] = [
    I.i32Const(-1), I.localSet(x.min),
    ...loopP(x.p, x.n, [
      ...addr(x.keys, x.p, 2), I.i32Load(), I.localSet(x.k),
      I.localGet(x.k), I.localGet(x.min), I.localGet(x.k), I.localGet(x.min), I.i32LtU(), I.select(), I.localSet(x.min),
      I.localGet(x.k), I.localGet(x.max), I.localGet(x.k), I.localGet(x.max), I.i32GtU(), I.select(), I.localSet(x.max),
    ]),
    I.i32Const(RESULTS), I.localGet(x.min), I.i32Store(),
    I.i32Const(RESULTS), I.localGet(x.max), I.i32Store(4),
  ];
  return { name: 'keyRange', params, results: [], locals: extra, body };
}

/** counts[(keys[p] - min) >> shift]++ over p in [0, n) (the counters at COUNTS, zeroed first by the caller). */
function bucketCount(): WasmFunction {
  const { idx: x, params, locals: extra } = locals({ keys: T.i32, n: T.i32, min: T.i32, shift: T.i32 }, { p: T.i32, a: T.i32 });
  const body: number[][] = [
    ...loopP(x.p, x.n, [
      ...addr(x.keys, x.p, 2), I.i32Load(), I.localGet(x.min), I.i32Sub(), I.localGet(x.shift), I.i32ShrU(), I.i32Const(2), I.i32Shl(), I.localTee(x.a),
      I.localGet(x.a), I.i32Load(COUNTS), I.i32Const(1), I.i32Add(), I.i32Store(COUNTS),
    ]),
  ];
  return { name: 'bucketCount', params, results: [], locals: extra, body };
}

/**
 * The pairs (keys[p], idx[p]) written to (tk, ti) in three runs by bucket (keys[p] - min) >> shift
 * against b: below from 0, in b from `below`, above from `below + size`, each run in input
 * order (branch-free: three write cursors and selects).
 */
function bucketScatter(): WasmFunction {
  const { idx: x, params, locals: extra } = locals(
    { keys: T.i32, idx: T.i32, n: T.i32, min: T.i32, shift: T.i32, b: T.i32, below: T.i32, size: T.i32, tk: T.i32, ti: T.i32 },
    { p: T.i32, k: T.i32, bi: T.i32, lo: T.i32, hi: T.i32, c0: T.i32, c1: T.i32, c2: T.i32, at: T.i32 },
  );
  const body: number[][] = [
    I.localGet(x.below), I.localSet(x.c1),
    I.localGet(x.below), I.localGet(x.size), I.i32Add(), I.localSet(x.c2),
    ...loopP(x.p, x.n, [
      ...addr(x.keys, x.p, 2), I.i32Load(), I.localTee(x.k),
      I.localGet(x.min), I.i32Sub(), I.localGet(x.shift), I.i32ShrU(), I.localTee(x.bi),
      I.localGet(x.b), I.i32LtU(), I.localSet(x.lo),
      I.localGet(x.bi), I.localGet(x.b), I.i32GtU(), I.localSet(x.hi),
      // at = lo ? c0 : hi ? c2 : c1
      I.localGet(x.c0), I.localGet(x.c2), I.localGet(x.c1), I.localGet(x.hi), I.select(), I.localGet(x.lo), I.select(), I.localTee(x.at),
      I.i32Const(2), I.i32Shl(), I.localGet(x.tk), I.i32Add(), I.localGet(x.k), I.i32Store(),
      I.localGet(x.at), I.i32Const(2), I.i32Shl(), I.localGet(x.ti), I.i32Add(), ...addr(x.idx, x.p, 2), I.i32Load(), I.i32Store(),
      I.localGet(x.c0), I.localGet(x.lo), I.i32Add(), I.localSet(x.c0),
      I.localGet(x.c2), I.localGet(x.hi), I.i32Add(), I.localSet(x.c2),
      I.localGet(x.c1), I.i32Const(1), I.localGet(x.lo), I.i32Sub(), I.localGet(x.hi), I.i32Sub(), I.i32Add(), I.localSet(x.c1),
    ]),
  ];
  return { name: 'bucketScatter', params, results: [], locals: extra, body };
}

/** The bytes of the i32x4 vector (0, 1, 2, 3). */
function iota4(): number[] {
  return [...new Uint8Array(Int32Array.of(0, 1, 2, 3).buffer)];
}

/** The compaction table: for keep mask m (bit l = lane l kept), a byte-shuffle moving the kept lanes to the front. */
function compactionTable(): Uint8Array {
  const table = new Uint8Array(256);
  for (let m = 0; m < 16; m++) {
    let at = 0;
    for (let lane = 0; lane < 4; lane++) {
      if ((m >> lane) & 1) {
        for (let b = 0; b < 4; b++) table[m * 16 + at * 4 + b] = lane * 4 + b;
        at++;
      }
    }
    for (let b = at * 4; b < 16; b++) table[m * 16 + b] = 0x80; // zero (never read: past the kept entries)
  }
  return table;
}

interface Exports {
  firstRoundValues(
    t: number, n: number, jBase: number, mean: number, lo: number, hi: number, mu: number, muNeg: number,
    signs: number, out: number, list: number, bk: number, bj: number, cap: number,
  ): number;
  assignResidualLast(
    t: number, list: number, n: number, signs: number, map: number, shift: number, mean: number, lo: number, hi: number,
    b: number, last: number, bk: number, bj: number, cap: number,
  ): number;
  advanceList(out: number, signs: number, map: number, i: number, list: number, n: number): number;
  residualList(t: number, signs: number, shift: number, list: number, n: number): number;
  dropTaken(t: number, mean: number, pk: number, pj: number, list: number, n: number): number;
  keyRange(keys: number, n: number): void;
  bucketCount(keys: number, n: number, min: number, shift: number): void;
  bucketScatter(keys: number, idx: number, n: number, min: number, shift: number, b: number, below: number, size: number, tk: number, ti: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** The instance and its memory. */
class Kernels {
  readonly memory: WebAssembly.Memory;
  readonly exports: Exports;
  constructor(memory: WebAssembly.Memory = new WebAssembly.Memory({ initial: 1 })) {
    this.memory = memory;
    compiled ??= new WebAssembly.Module(assembleModule([firstRoundValues(), assignResidualLast(), advanceList(), residualList(), dropTaken(), keyRange(), bucketCount(), bucketScatter()]));
    this.exports = new WebAssembly.Instance(compiled, { env: { memory: this.memory } }).exports as unknown as Exports;
    new Uint8Array(this.memory.buffer).set(compactionTable(), TABLE);
  }

  /** Makes the memory at least `bytes` long (views made before are then stale: make them after). */
  reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / 65536));
  }

  /** Whether every array lies in this memory (then the kernels can work on them in place). */
  holds(...arrays: ArrayBufferView[]): boolean {
    const buffer = this.memory.buffer;
    for (const a of arrays) if (a.buffer !== buffer) return false;
    return true;
  }
}

let kernels: Kernels | null | undefined;

/** The kernels, or null where WebAssembly SIMD is not available (the JavaScript kernels then run). */
function getKernels(): Kernels | null {
  if (kernels === undefined) {
    try {
      kernels = new Kernels();
    } catch {
      kernels = null;
    }
  }
  return kernels;
}

/** The lists and boundary pairs of a workspace for tensors of up to n entries: byte sizes of its six regions. */
function scratchSizes(n: number): number[] {
  const listLength = n + 8; // the SIMD append stores 4 lanes past the last entry kept
  return Array.from({ length: 6 }, () => 4 * listLength);
}

/** Bytes a region of `bytes` takes in a memory laid out by `layout` (16-byte aligned). */
const aligned = (bytes: number): number => (bytes + 15) & ~15;

/**
 * A WebAssembly memory laid out once for tensors that live in it permanently (a trainer's
 * latent weights, their Ŵ, sign paths and bit maps, the optimizer's slots): the kernels'
 * fixed regions, a workspace's lists and boundary pairs for tensors of up to `maxTensor`
 * entries, then the regions handed out by `f32` / `u8` in order. The memory never grows, so
 * every view of it stays valid. `binarizeWithBitMap` on a tensor that lies here, with its
 * outputs here too, works on them in place: nothing is copied in or out (`bindWorkspace`).
 */
export class KernelArena {
  readonly memory: WebAssembly.Memory;
  readonly maxTensor: number;
  /** @internal the re-binarization kernels over this memory */
  readonly kernels: Kernels;
  private readonly scratchAt: number[];
  private at: number;
  private readonly end: number;

  /** Bytes the regions of the given byte sizes take (what `createKernelArena` needs as `regionBytes`). */
  static bytesFor(sizes: readonly number[]): number {
    return sizes.reduce((a, s) => a + aligned(s), 0);
  }

  /** @internal use createKernelArena */
  constructor(maxTensor: number, regionBytes: number) {
    const at = layout(scratchSizes(maxTensor));
    const end = at[at.length - 1]! + regionBytes;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(end / 65536) });
    this.kernels = new Kernels(this.memory);
    this.maxTensor = maxTensor;
    this.scratchAt = at;
    this.at = at[at.length - 1]!;
    this.end = end;
    arenas.set(this.memory.buffer, this);
  }

  /** The next n float32 of the memory (zeros). */
  f32(n: number): Float32Array {
    return new Float32Array(this.memory.buffer, this.take(4 * n), n);
  }

  /** The next n bytes of the memory (zeros). */
  u8(n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.take(n), n);
  }

  private take(bytes: number): number {
    const p = this.at;
    if (p + bytes > this.end) throw new RangeError(`KernelArena: ${bytes} bytes asked past the end (${this.end - p} left)`);
    this.at = p + aligned(bytes);
    return p;
  }

  /**
   * Whether the arrays are regions handed out by this arena (in its memory, past the
   * workspace's lists) that do not overlap one another: a workspace can then be bound on them.
   */
  holdsApart(...arrays: ArrayBufferView[]): boolean {
    const first = this.scratchAt[this.scratchAt.length - 1]!;
    const spans = arrays.map((a) => [a.byteOffset, a.byteOffset + a.byteLength] as const).sort((x, y) => x[0] - y[0]);
    if (!this.kernels.holds(...arrays) || spans[0]![0] < first) return false;
    for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) return false;
    return true;
  }

  /** @internal the workspace's scratch views (lists and pairs) */
  scratch(): { override: ScratchOverride; pairs: [Uint32Array, Uint32Array] } {
    const buf = this.memory.buffer;
    const at = this.scratchAt;
    const len = this.maxTensor + 8;
    const v = (i: number): Uint32Array => new Uint32Array(buf, at[i], len);
    return { override: { indices: v(0), indicesB: v(1), keys: v(2), pairIndices: v(3) }, pairs: [v(4), v(5)] };
  }
}

/** Arenas by their memory's buffer (which never changes: an arena's memory never grows). */
const arenas = new WeakMap<ArrayBuffer, KernelArena>();

/**
 * An arena (see `KernelArena`) with room for tensors of up to `maxTensor` entries to be
 * binarized in place and `regionBytes` (`KernelArena.bytesFor`) of regions to hand out; null
 * where WebAssembly SIMD is not available or the memory cannot be had (the caller then keeps
 * plain arrays).
 */
export function createKernelArena(maxTensor: number, regionBytes: number): KernelArena | null {
  if (getKernels() === null) return null;
  try {
    return new KernelArena(maxTensor, regionBytes);
  } catch {
    return null;
  }
}

/**
 * Whether the WebAssembly kernels are used (switchable for A/B benchmarks and tests), and how
 * many kernel calls ran (for tests: the kernels must really run where they should), and how
 * many workspaces were bound in place in a `KernelArena` (no copies).
 */
export const wasmKernels = { enabled: true, calls: 0, arenaBinds: 0 };

/** Whether the kernels are available here (WebAssembly with 128-bit SIMD), whether enabled or not. */
export function wasmKernelsAvailable(): boolean {
  return getKernels() !== null;
}

/**
 * A tensor's arrays in the kernels' memory for one call of `binarizeWithBitMap`: the tensor,
 * the sign paths, the values, the bit map, and (through scratch.ts) the lists and boundary
 * pairs, so that every kernel works in place and the JavaScript passes between them run on
 * the same arrays (views of that memory). `inPlace`: they are the caller's own arrays (in a
 * `KernelArena`), else working copies in the shared memory (the tensor copied in; the caller
 * copies the results out).
 */
export interface Workspace {
  t: Float32Array;
  signs: Uint8Array;
  out: Float32Array;
  map: Uint8Array;
  inPlace: boolean;
}

/** The kernels of the bound workspace (null: none bound). */
let bound: Kernels | null = null;
/** The partition buffers of `selectPartitionWasm` while a workspace is bound. */
let pairCopies: [Uint32Array, Uint32Array] | null = null;

/**
 * Binds a workspace for a tensor `t` and the arrays the results go to; null when the kernels
 * are off or not available, or one is bound already. When `t` and every output lie in one
 * `KernelArena` that has room for `t`, the workspace is those arrays (nothing copied);
 * otherwise `t` is copied into the shared memory. `unbindWorkspace` must follow (in a finally).
 */
export function bindWorkspace(t: Float32Array, signs?: Uint8Array, out?: Float32Array, map?: Uint8Array): Workspace | null {
  if (!wasmKernels.enabled || bound !== null) return null;
  const n = t.length;
  const arena = arenas.get(t.buffer as ArrayBuffer);
  if (arena !== undefined && n <= arena.maxTensor && signs !== undefined && out !== undefined && map !== undefined && signs.length === n && out.length === n && map.length === n && arena.holdsApart(t, signs, out, map)) {
    const { override, pairs } = arena.scratch();
    setScratchOverride(override);
    pairCopies = pairs;
    bound = arena.kernels;
    wasmKernels.arenaBinds++;
    return { t, signs, out, map, inPlace: true };
  }
  const k = getKernels();
  if (k === null) return null;
  const at = layout([4 * n, n, 4 * n, n, ...scratchSizes(n)]);
  k.reserve(at[at.length - 1]!);
  const buf = k.memory.buffer;
  const listLength = n + 8;
  const ws: Workspace = { t: new Float32Array(buf, at[0], n), signs: new Uint8Array(buf, at[1], n), out: new Float32Array(buf, at[2], n), map: new Uint8Array(buf, at[3], n), inPlace: false };
  ws.t.set(t);
  setScratchOverride({
    indices: new Uint32Array(buf, at[4], listLength),
    indicesB: new Uint32Array(buf, at[5], listLength),
    keys: new Uint32Array(buf, at[6], listLength),
    pairIndices: new Uint32Array(buf, at[7], listLength),
  });
  pairCopies = [new Uint32Array(buf, at[8], listLength), new Uint32Array(buf, at[9], listLength)];
  bound = k;
  return ws;
}

/** Ends the workspace's call: the scratch buffers are JavaScript ones again. */
export function unbindWorkspace(): void {
  setScratchOverride(null);
  pairCopies = null;
  bound = null;
}

/** Where regions of the given byte sizes start from REGIONS, each 16-byte aligned; the last entry is the end. */
function layout(sizes: number[]): number[] {
  const at: number[] = [];
  let p = REGIONS;
  for (const s of sizes) {
    at.push(p);
    p += (s + 15) & ~15;
  }
  at.push(p);
  return at;
}

/** The boundary pairs and list state of a selection pass (bitmap.ts's `AssignPass`). */
export interface PassState {
  w: number;
  nb: number;
  taken: number;
}

/**
 * `middleOutFirstRoundValues` (bitmap.ts) over t[ps .. pe) with values, in WebAssembly: the
 * same signs[ps .. pe), out[ps .. pe), list entries from st.w, boundary pairs (bk, bj) from
 * st.nb (those past the arrays' end dropped, as typed arrays drop them) and counts. Returns
 * false (nothing done) unless every array lies in a bound workspace.
 */
export function firstRoundValuesWasm(
  t: Float32Array, ps: number, pe: number, mean: number, loF: number, hiF: number, mu: number, muNeg: number,
  signs: Uint8Array, out: Float32Array, list: Uint32Array, bk: Uint32Array, bj: Uint32Array, st: PassState,
): boolean {
  if (list.length < st.w + (pe - ps) + 4) return false;
  const k = inPlace(t, signs, out, list, bk, bj);
  if (k === null) return false;
  const n = pe - ps;
  const cap = Math.max(0, Math.min(bk.length, bj.length) - st.nb);
  const kept = k.exports.firstRoundValues(
    t.byteOffset + 4 * ps, n, ps, mean, loF, hiF, mu, muNeg,
    signs.byteOffset + ps, out.byteOffset + 4 * ps, list.byteOffset + 4 * st.w, bk.byteOffset + 4 * st.nb, bj.byteOffset + 4 * st.nb, cap,
  );
  const nb = new Int32Array(k.memory.buffer, RESULTS, 1)[0]!;
  st.w += kept;
  st.nb += nb;
  st.taken += n - kept;
  return true;
}

/** Copies a group's partial sums of depth `depth` (sums[at .. at + 2^depth)) to SUMS. */
function loadSums(k: Kernels, sums: Float64Array, at: number, depth: number): void {
  new Float64Array(k.memory.buffer, SUMS, 1 << depth).set(sums.subarray(at, at + (1 << depth)));
}

/** The kernels when a workspace is bound and holds every array, else null. */
function inPlace(...arrays: ArrayBufferView[]): Kernels | null {
  const k = bound;
  if (k === null || !k.holds(...arrays)) return null;
  wasmKernels.calls++;
  return k;
}

/**
 * `middleOutAssignResidual` (bitmap.ts) in the last selection round (no list for later rounds),
 * over idx[ps .. pe), in WebAssembly; the sum |E|, or undefined (nothing done) unless every
 * array lies in a bound workspace.
 */
export function assignResidualLastWasm(
  t: Float32Array, idx: Uint32Array, ps: number, pe: number, mean: number, loF: number, hiF: number,
  signs: Uint8Array, sums: Float64Array, at: number, shift: number, map: Uint8Array, b: number, last: number,
  bk: Uint32Array, bj: Uint32Array, st: PassState,
): number | undefined {
  const k = inPlace(t, idx, signs, map, bk, bj);
  if (k === null || shift > 8) return undefined;
  loadSums(k, sums, at, shift);
  const cap = Math.max(0, Math.min(bk.length, bj.length) - st.nb);
  const sum = k.exports.assignResidualLast(
    t.byteOffset, idx.byteOffset + 4 * ps, pe - ps, signs.byteOffset, map.byteOffset, shift, mean, loF, hiF, b, last,
    bk.byteOffset + 4 * st.nb, bj.byteOffset + 4 * st.nb, cap,
  );
  const res = new Int32Array(k.memory.buffer, RESULTS, 2);
  st.nb += res[0]!;
  st.taken += res[1]!;
  return sum;
}

/** `advanceList` (residual.ts) in WebAssembly: the new end, or -1 (nothing done) unless every array lies in a bound workspace. */
export function advanceListWasm(out: Float32Array, signs: Uint8Array, sums: Float64Array, at: number, bitMap: Uint8Array, i: number, list: Uint32Array, from: number, to: number): number {
  const k = inPlace(out, signs, bitMap, list);
  if (k === null || i - 1 > 8) return -1;
  loadSums(k, sums, at, i - 1);
  return from + k.exports.advanceList(out.byteOffset, signs.byteOffset, bitMap.byteOffset, i, list.byteOffset + 4 * from, to - from);
}

/** `residualList` (residual.ts) in WebAssembly: sum |E|, or undefined unless every array lies in a bound workspace. */
export function residualListWasm(t: Float32Array, signs: Uint8Array, sums: Float64Array, at: number, shift: number, list: Uint32Array, from: number, to: number): number | undefined {
  const k = inPlace(t, signs, list);
  if (k === null || shift > 8) return undefined;
  loadSums(k, sums, at, shift);
  return k.exports.residualList(t.byteOffset, signs.byteOffset, shift, list.byteOffset + 4 * from, to - from);
}

/** `dropTakenMiddleOut` (bitmap.ts) in WebAssembly: [new end, sum], or undefined unless every array lies in a bound workspace. */
export function dropTakenWasm(t: Float32Array, mean: number, pk: number, pj: number, list: Uint32Array, from: number, to: number): [number, number] | undefined {
  const k = inPlace(t, list);
  if (k === null) return undefined;
  // pj: an entry number, or Infinity (no entry is above it)
  const sum = k.exports.dropTaken(t.byteOffset, mean, pk, pj === Infinity ? 0xffffffff : pj, list.byteOffset + 4 * from, to - from);
  return [from + new Int32Array(k.memory.buffer, RESULTS, 1)[0]!, sum];
}

/**
 * The bucketing of `selectPairs` (select.ts) in WebAssembly: counts the keys of the n pairs in
 * BUCKETS equal ranges of [min, max], finds the bucket b holding the c-th smallest key
 * (1 <= c <= n) and partitions the pairs, each class in input order, into those in buckets
 * below b, in b, and above. Returns [below, size] (b's pairs at [below, below + size)), or
 * undefined (nothing done) unless the pairs lie in a bound workspace.
 */
export function selectPartitionWasm(keys: Uint32Array, idx: Uint32Array, n: number, c: number): [number, number] | undefined {
  const copies = pairCopies;
  if (copies === null || copies[0].length < n) return undefined;
  const k = inPlace(keys, idx);
  if (k === null) return undefined;
  const mem = k.memory.buffer;
  const res = new Uint32Array(mem, RESULTS, 2);
  k.exports.keyRange(keys.byteOffset, n);
  const min = res[0]!;
  const max = res[1]!;
  let shift = 0;
  while ((max - min) / 2 ** shift >= BUCKETS) shift++;
  const counts = new Uint32Array(mem, COUNTS, BUCKETS);
  counts.fill(0);
  k.exports.bucketCount(keys.byteOffset, n, min, shift);
  let below = 0;
  let b = 0;
  while (below + counts[b]! < c) below += counts[b++]!;
  const size = counts[b]!;
  const [tk, ti] = copies;
  k.exports.bucketScatter(keys.byteOffset, idx.byteOffset, n, min, shift, b, below, size, tk.byteOffset, ti.byteOffset);
  keys.set(tk.subarray(0, n));
  idx.set(ti.subarray(0, n));
  return [below, size];
}
