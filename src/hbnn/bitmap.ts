/**
 * Bit map generation (METHOD §3-4, paper Algorithm 1): which entries get 1, 2, 3, ... bits.
 *
 * For each bitwidth b from fewest bits up, among the entries not yet assigned, the count_b
 * entries with the smallest heuristic key get b bits; the last width used takes all that
 * remain. Counts come from `countsFromDistribution`. Keys are rounded to float32 and ordered
 * by (key, index): equal keys go to the lower index first. Only the count_b smallest keys
 * are selected each round, never by a full sort (see `makeBitMap` and select.ts).
 *
 * Keys, for an unassigned entry j in round b (R = the entries still unassigned in j's group):
 * - middle-out:          | |T_j| - fround(mean_{k in R} |T_k|) |
 * - middle-out-residual: | |E_{b-1,j}| - mu_b |  =  |E_{b,j}|, the error entry j keeps if it
 *                        stops at b bits; E and mu are those of `heteroBinarize` with the bit
 *                        map chosen so far (every entry of R has at least b bits, so mu_b is
 *                        already fixed by the rounds before).
 * - top-down:            -|T_j| (largest magnitudes first)
 * - bottom-up:           |T_j|
 * - random:              a seeded bijective hash of j (a fixed random permutation).
 */
import { fail, ErrorCodes } from '../errors.js';
import { countsFromDistribution, resolveDistribution, type DistributionSpec } from './distribution.js';
import { depthZero, isNegative, nextDepth, scaleOf } from './partial-sums.js';
import type { ListA2 } from './residual.js';
import { randomKey, seedWords } from './prng.js';
import { scratchHistogram, scratchIndices, scratchIndicesB, scratchPairs } from './scratch.js';
import { RADIX_MIN_CANDIDATES, selectPairs, type Selector } from './select.js';
import { makeRowBitMap } from './row-bitmap.js';
import { assignResidualLastWasm, dropTakenWasm, firstRoundValuesWasm } from './wasm-kernels.js';
import {
  checkHeuristic,
  checkSeed,
  checkSelector,
  lowerBound,
  ResidualTrack,
  selectionRounds,
  type BitMapOptions,
  type BitMapResult,
  type Heuristic,
  type WarmBounds,
} from './bitmap-common.js';
import { checkOut, failBitMapEntry, groupSize, sumAbsChecked } from './validate.js';

/** Candidates per block of key computation: small enough to stay in L1. */
const BLOCK = 2048;

export {
  HEURISTICS,
  checkHeuristic,
  checkSelector,
  checkSeed,
  ResidualTrack,
  selectionRounds,
  WarmBounds,
  type Heuristic,
  type BitMapOptions,
  type BitMapResult,
} from './bitmap-common.js';

const blockKeys = new Uint32Array(BLOCK);
const blockKeysF = new Float32Array(blockKeys.buffer);

/**
 * Computes keys block by block from T (nothing of size N is stored): `fill(p0, len)` writes
 * the keys of candidate positions p0 .. p0 + len - 1 to keys[0 .. len - 1].
 */
class KeySource {
  /** One block of keys, shared by every KeySource (the passes are synchronous and never nested): none allocated per call. */
  readonly keys = blockKeys;
  private readonly keysF = blockKeysF;
  /** Candidate list (entry of each position); null when position p is entry p. */
  idx: Uint32Array | null = null;
  /** middle-out: the float32 mean |T| of the group's candidates. */
  mean = 0;
  /** middle-out-residual: where the block's scale group starts in the depth-b partial sums. */
  tableAt = 0;

  constructor(
    readonly heuristic: Heuristic,
    readonly t: Float32Array,
    readonly residual: ResidualTrack | undefined,
    readonly seedA: number,
    readonly seedB: number,
  ) {}

  /** The key of one candidate position (for sampling); the same value `fill` computes. */
  keyAt(p: number): number {
    const { t, idx } = this;
    const j = idx === null ? p : idx[p];
    switch (this.heuristic) {
      case 'middle-out':
        keyScratch[0] = Math.abs(Math.abs(t[j]) - this.mean);
        return keyScratchBits[0];
      case 'middle-out-residual': {
        const track = this.residual!;
        const at = Math.floor(j / track.size) << track.depth;
        keyScratch[0] = Math.abs(t[j] - track.sums[at + track.signs[j]]);
        return keyScratchBits[0];
      }
      case 'bottom-up':
        keyScratch[0] = Math.abs(t[j]);
        return keyScratchBits[0];
      case 'top-down':
        keyScratch[0] = Math.abs(t[j]);
        return ~keyScratchBits[0] >>> 0;
      case 'random':
        return randomKey(j, this.seedA, this.seedB);
    }
  }

  fill(p0: number, len: number): void {
    const { keys, keysF, t, idx } = this;
    switch (this.heuristic) {
      case 'middle-out': {
        const m = this.mean;
        if (idx === null) for (let q = 0; q < len; q++) keysF[q] = Math.abs(Math.abs(t[p0 + q]) - m);
        else for (let q = 0; q < len; q++) keysF[q] = Math.abs(Math.abs(t[idx[p0 + q]]) - m);
        return;
      }
      case 'middle-out-residual': {
        const { signs, sums } = this.residual!;
        const at = this.tableAt;
        if (idx === null) for (let q = 0; q < len; q++) keysF[q] = Math.abs(t[p0 + q] - sums[at + signs[p0 + q]]);
        else {
          for (let q = 0; q < len; q++) {
            const j = idx[p0 + q];
            keysF[q] = Math.abs(t[j] - sums[at + signs[j]]);
          }
        }
        return;
      }
      case 'bottom-up':
        if (idx === null) for (let q = 0; q < len; q++) keysF[q] = Math.abs(t[p0 + q]);
        else for (let q = 0; q < len; q++) keysF[q] = Math.abs(t[idx[p0 + q]]);
        return;
      case 'top-down':
        if (idx === null) for (let q = 0; q < len; q++) keysF[q] = Math.abs(t[p0 + q]);
        else for (let q = 0; q < len; q++) keysF[q] = Math.abs(t[idx[p0 + q]]);
        for (let q = 0; q < len; q++) keys[q] = ~keys[q]; // reverses the order; equal keys stay equal
        return;
      case 'random': {
        const { seedA, seedB } = this;
        if (idx === null) for (let q = 0; q < len; q++) keys[q] = randomKey(p0 + q, seedA, seedB);
        else for (let q = 0; q < len; q++) keys[q] = randomKey(idx[p0 + q], seedA, seedB);
        return;
      }
    }
  }
}

/**
 * Runs of candidate positions [ps, pe) that lie in one scale group (only middle-out-residual
 * keys depend on the scale group): [start, end, tableAt] triples.
 */
function segments(src: KeySource, ps: number, pe: number, b: number): number[][] {
  const track = src.residual;
  if (track === undefined || ps === pe) return [[ps, pe, 0]];
  const idx = src.idx;
  const first = idx === null ? ps : idx[ps];
  const lastEntry = idx === null ? pe - 1 : idx[pe - 1];
  const runs: number[][] = [];
  for (let g = Math.floor(first / track.size); g <= Math.floor(lastEntry / track.size); g++) {
    const s = lowerBound(idx, ps, pe, g * track.size);
    const e = lowerBound(idx, s, pe, (g + 1) * track.size);
    if (e > s) runs.push([s, e, g << b]);
  }
  return runs;
}

// ---- Kernels of the selection passes, each its own small function so V8 optimizes it alone.
// No data-dependent `&&`, `||` or `?:` in their loops: V8 compiles those to branches, and at a
// 70/30 split they mispredict often enough to double a pass. `(a < b) | 0` compiles to a
// flag-setting compare; a range test is one unsigned compare, (k - lo) >>> 0 <= hi - lo.
// The exception: the middle-out kernels' boundary test (true for a few % of the keys) is one
// branch on `((k <= hi) | 0) & (k >= lo)`, which predicts well there (a plain `k >= lo && k <= hi`
// branches first on the 70/30 test: the whole middle-out bit map about 10% slower).

const keyScratch = new Float32Array(1);
const keyScratchBits = new Uint32Array(keyScratch.buffer);

/** State of a second pass over a group: see `assignBlock`. */
interface AssignPass {
  map: Uint8Array;
  /** The bitwidth this round assigns. */
  b: number;
  /** The widest bitwidth: unselected entries get it in the last selection round (next === null). */
  last: number;
  /** The list of entries kept for later rounds, written from w; null in the last round. */
  next: Uint32Array | null;
  w: number;
  /** Keys < lo are taken, keys in [lo, hi] are gathered into (bk, bj)[0 .. nb). */
  lo: number;
  hi: number;
  bk: Uint32Array;
  bj: Uint32Array;
  nb: number;
  /** How many keys were < lo (taken). */
  taken: number;
}

/** Counts the high 16 bits of keys[0 .. len). */
function countHigh(keys: Uint32Array, len: number, hist: Uint32Array): void {
  for (let q = 0; q < len; q++) hist[keys[q] >>> 16]++;
}

/**
 * Second pass over a block of keys (positions p0 .. p0 + len - 1): takes keys < lo, keeps keys
 * > hi, gathers the boundary [lo, hi]. Boundary entries count as kept until quickselect decides.
 */
function assignBlock(keys: Uint32Array, len: number, idx: Uint32Array | null, p0: number, st: AssignPass): void {
  const { map, b, last, next, lo, bk, bj } = st;
  const span = st.hi - lo;
  let { w, nb, taken } = st;
  for (let q = 0; q < len; q++) {
    const k = keys[q];
    const j = idx === null ? p0 + q : idx[p0 + q];
    const sel = ((k < lo) as unknown as number) | 0;
    taken += sel;
    if ((k - lo) >>> 0 <= span) {
      bk[nb] = k;
      bj[nb] = j;
      nb++;
    }
    if (next === null) {
      map[j] = last - sel * (last - b);
    } else {
      map[j] = sel * b; // 0 = unassigned
      next[w] = j;
      w += 1 - sel;
    }
  }
  st.w = w;
  st.nb = nb;
  st.taken = taken;
}

/** middle-out, pass 1 fused with its keys: histogram of the high 16 bits of ||T_j| - mean|. */
function middleOutHistogram(t: Float32Array, idx: Uint32Array | null, ps: number, pe: number, mean: number, hist: Uint32Array): void {
  if (idx === null) {
    for (let j = ps; j < pe; j++) {
      keyScratch[0] = Math.abs(Math.abs(t[j]) - mean);
      hist[keyScratchBits[0] >>> 16]++;
    }
  } else {
    for (let p = ps; p < pe; p++) {
      keyScratch[0] = Math.abs(Math.abs(t[idx[p]]) - mean);
      hist[keyScratchBits[0] >>> 16]++;
    }
  }
}

/**
 * Key bounds [lo, hi] (float32 bit patterns of non-negative keys, hi possibly 0xffffffff) as
 * numbers: for non-negative finite float32 keys, comparing the values orders them exactly as
 * comparing the bit patterns, so the middle-out passes compare Math.fround'ed keys directly.
 */
function floatBounds(lo: number, hi: number): [number, number] {
  keyScratchBits[0] = lo;
  const loF = keyScratch[0];
  keyScratchBits[0] = hi;
  const hiF = hi >= 0x7f800000 ? Infinity : keyScratch[0];
  return [loF, hiF];
}

/** middle-out, pass 2 fused with its keys (same rule as `assignBlock`). */
function middleOutAssign(t: Float32Array, idx: Uint32Array | null, ps: number, pe: number, mean: number, st: AssignPass): void {
  const { map, b, last, next, bj } = st;
  const [loF, hiF] = floatBounds(st.lo, st.hi);
  const bkF = new Float32Array(st.bk.buffer, st.bk.byteOffset, st.bk.length);
  let { w, nb, taken } = st;
  for (let p = ps; p < pe; p++) {
    const j = idx === null ? p : idx[p];
    const k = Math.fround(Math.abs(Math.abs(t[j]) - mean));
    const sel = ((k < loF) as unknown as number) | 0;
    taken += sel;
    if ((((k <= hiF) as unknown as number) & (sel ^ 1)) !== 0) {
      // The boundary (a few % of the keys): one well-predicted branch.
      bkF[nb] = k;
      bj[nb] = j;
      nb++;
    }
    if (next === null) {
      map[j] = last - sel * (last - b);
    } else {
      map[j] = sel * b;
      next[w] = j;
      w += 1 - sel;
    }
  }
  st.w = w;
  st.nb = nb;
  st.taken = taken;
}

/**
 * `middleOutAssign` over a candidate list, fused with the binarization's round `shift + 1`
 * residual over the same entries in the same order (`residualList` in residual.ts): signs get
 * bit `shift`, and the float64 sum |E| is returned. Rerunning it (after a failed sampled pass)
 * gives the same signs and sum: the sign path is read without the bit it writes.
 */
function middleOutAssignResidual(t: Float32Array, idx: Uint32Array, ps: number, pe: number, mean: number, st: AssignPass, r: ResidualRound): number {
  const { map, b, last, next, bj } = st;
  const { signs, sums, at, shift } = r;
  const low = (1 << shift) - 1;
  const [loF, hiF] = floatBounds(st.lo, st.hi);
  if (next === null) {
    const wasmSum = assignResidualLastWasm(t, idx, ps, pe, mean, loF, hiF, signs, sums, at, shift, map, b, last, st.bk, st.bj, st);
    if (wasmSum !== undefined) return wasmSum;
  }
  const bkF = new Float32Array(st.bk.buffer, st.bk.byteOffset, st.bk.length);
  let { w, nb, taken } = st;
  let sum = 0;
  for (let p = ps; p < pe; p++) {
    const j = idx[p];
    const v = t[j];
    const s = signs[j] & low;
    const e = v - sums[at + s];
    signs[j] = s | (isNegative(e) << shift);
    sum += Math.abs(e);
    const k = Math.fround(Math.abs(Math.abs(v) - mean));
    const sel = ((k < loF) as unknown as number) | 0;
    taken += sel;
    if ((((k <= hiF) as unknown as number) & (sel ^ 1)) !== 0) {
      // The boundary (a few % of the keys): one well-predicted branch.
      bkF[nb] = k;
      bj[nb] = j;
      nb++;
    }
    if (next === null) {
      map[j] = last - sel * (last - b);
    } else {
      map[j] = sel * b;
      next[w] = j;
      w += 1 - sel;
    }
  }
  st.w = w;
  st.nb = nb;
  st.taken = taken;
  return sum;
}

/**
 * `middleOutAssignResidual` in the last selection round (no list for later rounds) that also
 * compacts the candidate list in place to the entries not taken below the bounds: idx[ps ..
 * returned end) keeps, in index order, every entry that stays at `last` bits plus the
 * boundary entries (quickselect decides those afterwards). A superset of A_{b+1} in index
 * order, so the binarization's next list pass (which keeps the entries with M >= b + 1) reads
 * the survivors only instead of every candidate, with the same result. A failed sampled pass
 * leaves the list changed: the caller rebuilds it from the map (`rebuildLastCandidates`).
 */
function middleOutLastResidual(t: Float32Array, idx: Uint32Array, ps: number, pe: number, mean: number, st: AssignPass, r: ResidualRound): number {
  const { map, b, last, bj } = st;
  const { signs, sums, at, shift } = r;
  const low = (1 << shift) - 1;
  const [loF, hiF] = floatBounds(st.lo, st.hi);
  const bkF = new Float32Array(st.bk.buffer, st.bk.byteOffset, st.bk.length);
  let { nb, taken } = st;
  let kept = ps;
  let sum = 0;
  for (let p = ps; p < pe; p++) {
    const j = idx[p];
    const v = t[j];
    const s = signs[j] & low;
    const e = v - sums[at + s];
    signs[j] = s | (isNegative(e) << shift);
    sum += Math.abs(e);
    const k = Math.fround(Math.abs(Math.abs(v) - mean));
    const sel = ((k < loF) as unknown as number) | 0;
    taken += sel;
    if ((((k <= hiF) as unknown as number) & (sel ^ 1)) !== 0) {
      // The boundary (a few % of the keys): one well-predicted branch.
      bkF[nb] = k;
      bj[nb] = j;
      nb++;
    }
    map[j] = last - sel * (last - b);
    idx[kept] = j; // kept <= p: behind the read
    kept += 1 - sel;
  }
  st.nb = nb;
  st.taken = taken;
  r.kept = kept;
  return sum;
}

/**
 * After a failed sampled pass of `middleOutLastResidual` over group [start, end): the
 * candidates were the entries with at least b bits (the pass gave each b or `last`; the
 * entries of earlier rounds hold less), written back to list[from ..] in index order.
 * Returns the end.
 */
function rebuildLastCandidates(map: Uint8Array, b: number, start: number, end: number, list: Uint32Array, from: number): number {
  let w = from;
  for (let j = start; j < end; j++) {
    list[w] = j;
    w += (b - 1 - map[j]) >>> 31; // 1 when map[j] >= b
  }
  return w;
}

/** The binarization round fused into a middle-out round (see `middleOutAssignResidual`). */
interface ResidualRound {
  signs: Uint8Array;
  /** Partial sums of depth `shift`; the group's start in them. */
  sums: Float64Array;
  at: number;
  shift: number;
  /** Where the group's sum |E| goes. */
  result: Float64Array;
  g: number;
  /**
   * Set to compact the candidate list in the last selection round (`middleOutLastResidual`):
   * the pass writes here where the group's survivors end.
   */
  kept?: number;
}

/**
 * Removes from list[from .. to) the entries whose map is not `keptValue` (0 normally: the
 * entries that got a bitwidth), compacting in place. Returns the new end and sum |T| over the
 * entries kept (middle-out's next mean).
 */
function dropAssigned(t: Float32Array, map: Uint8Array, keptValue: number, list: Uint32Array, from: number, to: number): [number, number] {
  let kept = from;
  let sum = 0;
  for (let r = from; r < to; r++) {
    const j = list[r];
    const keep = ((map[j] === keptValue) as unknown as number) | 0;
    list[kept] = j;
    kept += keep;
    sum += Math.abs(t[j]) * keep;
  }
  return [kept, sum];
}

/**
 * `dropAssigned` for middle-out's first round, where the map holds b for every entry (see
 * `fillsMap`): the boundary entries quickselect took are those whose (key, index) pair is at
 * most the pivot (pk, pj) (pk = -1: none), told apart by their key recomputed from T, so
 * neither the map nor the selected entries' positions are read or written. Every other entry
 * of the list has a key above the boundary, hence above the pivot.
 */
function dropTakenMiddleOut(t: Float32Array, mean: number, pk: number, pj: number, list: Uint32Array, from: number, to: number): [number, number] {
  const inWasm = dropTakenWasm(t, mean, pk, pj, list, from, to);
  if (inWasm !== undefined) return inWasm;
  let kept = from;
  let sum = 0;
  for (let r = from; r < to; r++) {
    const j = list[r];
    const a = Math.abs(t[j]);
    const k = Math.fround(Math.abs(a - mean));
    const keep = ((k > pk) as unknown as number) | (((k === pk) as unknown as number) & ((j > pj) as unknown as number));
    list[kept] = j;
    kept += keep;
    sum += a * keep;
  }
  return [kept, sum];
}

/**
 * middle-out, first round (every entry a candidate, more rounds to come): the caller has set
 * map[ps .. pe) to b, so only the list of kept entries is written; entries taken keep b, the
 * kept ones are assigned in later rounds.
 */
function middleOutFirstRound(t: Float32Array, ps: number, pe: number, mean: number, st: AssignPass): void {
  const { next, bj } = st;
  const list = next!;
  const [loF, hiF] = floatBounds(st.lo, st.hi);
  const bkF = new Float32Array(st.bk.buffer, st.bk.byteOffset, st.bk.length);
  let { w, nb, taken } = st;
  for (let j = ps; j < pe; j++) {
    const k = Math.fround(Math.abs(Math.abs(t[j]) - mean));
    const sel = ((k < loF) as unknown as number) | 0;
    taken += sel;
    if ((((k <= hiF) as unknown as number) & (sel ^ 1)) !== 0) {
      // The boundary (a few % of the keys): one well-predicted branch.
      bkF[nb] = k;
      bj[nb] = j;
      nb++;
    }
    list[w] = j;
    w += 1 - sel;
  }
  st.w = w;
  st.nb = nb;
  st.taken = taken;
}

/**
 * `middleOutFirstRound` that also writes the binarization's round-1 value of every entry,
 * out[j] = mu - 2·mu·signs[j] (what `heteroBinarize` writes in its round 2 pass), so that
 * `binarizeWithBitMap` skips that full pass.
 */
function middleOutFirstRoundValues(
  t: Float32Array,
  ps: number,
  pe: number,
  mean: number,
  st: AssignPass,
  values: { out: Float32Array | null; signs: Uint8Array; mu: number },
): void {
  if (values.out === null) return middleOutFirstRoundSigns(t, ps, pe, mean, st, values.signs);
  const { next, bj } = st;
  const list = next!;
  const { signs, mu } = values;
  const out = values.out;
  const value = new Float32Array([mu, mu - 2 * mu]); // by sign bit, as heteroBinarize computes it
  const [loF, hiF] = floatBounds(st.lo, st.hi);
  if (firstRoundValuesWasm(t, ps, pe, mean, loF, hiF, value[0]!, value[1]!, signs, out, list, st.bk, st.bj, st)) return;
  const bkF = new Float32Array(st.bk.buffer, st.bk.byteOffset, st.bk.length);
  let { w, nb, taken } = st;
  for (let j = ps; j < pe; j++) {
    const v = t[j];
    const neg = isNegative(v);
    signs[j] = neg;
    out[j] = value[neg];
    const k = Math.fround(Math.abs(Math.abs(v) - mean));
    const sel = ((k < loF) as unknown as number) | 0;
    taken += sel;
    if ((((k <= hiF) as unknown as number) & (sel ^ 1)) !== 0) {
      // The boundary (a few % of the keys): one well-predicted branch.
      bkF[nb] = k;
      bj[nb] = j;
      nb++;
    }
    list[w] = j;
    w += 1 - sel;
  }
  st.w = w;
  st.nb = nb;
  st.taken = taken;
}

/** `middleOutFirstRoundValues` writing the round-1 signs only (the binarization keeps no values). */
function middleOutFirstRoundSigns(t: Float32Array, ps: number, pe: number, mean: number, st: AssignPass, signs: Uint8Array): void {
  const { next, bj } = st;
  const list = next!;
  const [loF, hiF] = floatBounds(st.lo, st.hi);
  const bkF = new Float32Array(st.bk.buffer, st.bk.byteOffset, st.bk.length);
  let { w, nb, taken } = st;
  for (let j = ps; j < pe; j++) {
    const v = t[j];
    signs[j] = isNegative(v);
    const k = Math.fround(Math.abs(Math.abs(v) - mean));
    const sel = ((k < loF) as unknown as number) | 0;
    taken += sel;
    if ((((k <= hiF) as unknown as number) & (sel ^ 1)) !== 0) {
      // The boundary (a few % of the keys): one well-predicted branch.
      bkF[nb] = k;
      bj[nb] = j;
      nb++;
    }
    list[w] = j;
    w += 1 - sel;
  }
  st.w = w;
  st.nb = nb;
  st.taken = taken;
}

/** What one selection round of one group works with. */
interface Round {
  heuristic: Heuristic;
  t: Float32Array;
  map: Uint8Array;
  src: KeySource;
  /** The bitwidth this round assigns, to c entries; `last` is the widest bitwidth. */
  b: number;
  c: number;
  last: number;
  /** The list of entries kept for later rounds; null in the last selection round. */
  next: Uint32Array | null;
  idx: Uint32Array | null;
  /** middle-out's first round, fused with the binarization: write its round-1 values too. */
  values?: { out: Float32Array | null; signs: Uint8Array; mu: number };
  /** middle-out's second round, fused with the binarization's round 2. */
  residual?: ResidualRound;
}

/**
 * Counters of the sampled selection, for tests and benchmarks; `rejectSamples` makes every
 * sampled attempt count as failed, so tests can reach the fallback path.
 */
export const selectionStats = { sampled: 0, fallbacks: 0, rejectSamples: false };

/** At most this many keys are sampled per group and round for the sampled bounds. */
const SAMPLE_SIZE = 32768;

/**
 * Bounds [lo, hi] that hold the c-th smallest key with high probability, from the keys of
 * min(SAMPLE_SIZE, max(1024, m / 32)) pseudo-random positions (a deterministic hash of the
 * round): the sample's quantile c/m, widened by 4 standard deviations of a sample rank, plus
 * 2. Also returns how many keys are expected inside the bounds.
 */
function sampleBounds(src: KeySource, ps: number, pe: number, c: number, salt: number): [number, number, number] {
  selectionStats.sampled++;
  const m = pe - ps;
  const size = Math.min(SAMPLE_SIZE, Math.max(1024, m >>> 5));
  const sample = new Uint32Array(size);
  const [a, b] = seedWords(salt);
  // The keys at the sampled positions, read in ascending position order (the same keys as in
  // drawing order, and far fewer cache and TLB misses on a large tensor).
  for (let r = 0; r < size; r++) sample[r] = randomKey(r, a, b) % m;
  sample.sort();
  for (let r = 0; r < size; r++) sample[r] = src.keyAt(ps + sample[r]);
  sample.sort();
  const q = c / m;
  const margin = Math.ceil(4 * Math.sqrt(size * q * (1 - q))) + 2;
  const loRank = Math.floor(q * size) - margin;
  const hiRank = Math.ceil(q * size) + margin;
  const expected = Math.ceil((m * (Math.min(hiRank, size) - Math.max(loRank, 0) + 1)) / size);
  return [loRank < 0 ? 0 : sample[loRank], hiRank >= size ? 0xffffffff : sample[hiRank], expected];
}

/**
 * Bounds from a histogram of the high 16 key bits: the bucket holding the c-th smallest key;
 * also returns that bucket's size (exactly the boundary of the pass that follows).
 */
function histogramBounds(round: Round, ps: number, pe: number): [number, number, number] {
  const { src } = round;
  const high = scratchHistogram();
  high.fill(0);
  if (round.heuristic === 'middle-out') {
    middleOutHistogram(round.t, round.idx, ps, pe, src.mean, high);
  } else {
    for (const [s, e, at] of segments(src, ps, pe, round.b)) {
      src.tableAt = at;
      for (let p0 = s; p0 < e; p0 += BLOCK) {
        const len = Math.min(BLOCK, e - p0);
        src.fill(p0, len);
        countHigh(src.keys, len, high);
      }
    }
  }
  let below = 0;
  let hb = 0;
  while (below + high[hb] < round.c) below += high[hb++];
  return [hb * 65536, hb * 65536 + 0xffff, high[hb]];
}

/**
 * Whether the second pass fills the map with b up front instead of writing it per entry
 * (middle-out's first, non-final round: one store stream less in the largest pass). The
 * boundary entries taken are then told apart from the kept ones by a 0 (see makeBitMap).
 */
function fillsMap(round: Round): boolean {
  return round.heuristic === 'middle-out' && round.idx === null && round.next !== null;
}

/**
 * The second pass over positions [ps, pe) with bounds [lo, hi] (see `assignBlock`), with room
 * for `capacity` boundary entries. Writes past the end of a typed array are dropped, so a pass
 * whose boundary outgrows the room reports nb > capacity and must not be used.
 */
function secondPass(round: Round, ps: number, pe: number, lo: number, hi: number, w: number, capacity: number): AssignPass {
  const { src, map, b, last, next } = round;
  const [bk, bj] = scratchPairs(capacity);
  const pass: AssignPass = { map, b, last, next, w, lo, hi, bk, bj, nb: 0, taken: 0 };
  if (fillsMap(round)) {
    map.fill(b, ps, pe);
    if (round.values !== undefined) middleOutFirstRoundValues(round.t, ps, pe, src.mean, pass, round.values);
    else middleOutFirstRound(round.t, ps, pe, src.mean, pass);
  } else if (round.heuristic === 'middle-out' && round.residual?.kept !== undefined && round.idx !== null && round.next === null) {
    round.residual.result[round.residual.g] = middleOutLastResidual(round.t, round.idx, ps, pe, src.mean, pass, round.residual);
  } else if (round.heuristic === 'middle-out' && round.residual !== undefined && round.idx !== null) {
    round.residual.result[round.residual.g] = middleOutAssignResidual(round.t, round.idx, ps, pe, src.mean, pass, round.residual);
  } else if (round.heuristic === 'middle-out') {
    middleOutAssign(round.t, round.idx, ps, pe, src.mean, pass);
  } else {
    for (const [s, e, at] of segments(src, ps, pe, b)) {
      src.tableAt = at;
      for (let p0 = s; p0 < e; p0 += BLOCK) {
        const len = Math.min(BLOCK, e - p0);
        src.fill(p0, len);
        assignBlock(src.keys, len, round.idx, p0, pass);
      }
    }
  }
  return pass;
}

/**
 * Writes the entries of [start, end) whose map is 0 or b (this round's candidates, after a
 * failed sampled pass) to list[from ..], in index order; returns the end.
 */
function rebuildCandidates(map: Uint8Array, b: number, start: number, end: number, list: Uint32Array, from: number): number {
  let w = from;
  for (let j = start; j < end; j++) {
    const m = map[j];
    if (m === 0 || m === b) {
      map[j] = 0;
      list[w++] = j;
    }
  }
  return w;
}

/**
 * Builds a bit map for `t` with Algorithm 1 and the chosen heuristic, with exact counts per
 * bitwidth (per tensor, or per channel with `channels`; with `rows`, one bitwidth per row:
 * row-bitmap.ts). NUMERIC on NaN/Inf weights.
 *
 * Each round that assigns b bits to c entries of a group makes two passes over its
 * candidates: the first counts the high 16 bits of the keys (radix) to find the bucket that
 * holds the c-th smallest key; the second assigns every key in a lower bucket, keeps every key
 * in a higher bucket for the next round (compacted into a list of entry indices), and gathers
 * the keys of the boundary bucket, from which quickselect picks the rest. Small groups skip the
 * histogram: all their keys are "boundary".
 */
export function makeBitMap(t: Float32Array, opts: BitMapOptions): BitMapResult {
  return makeBitMapWith(t, opts, undefined);
}

/**
 * What `binarizeWithBitMap` shares with the bit map (see fused.ts): the first round's sums
 * and, for middle-out, the binarization's round-1 values and its list A_2.
 */
export interface FusedFirstRound {
  /**
   * Replaces the validating sum |T| of each group [start, end): it must return the same
   * float64 sum, in index order, and reject NaN/Inf the same way.
   */
  firstSum(start: number, end: number): number;
  /**
   * middle-out: the binarization's round 1, written during the bit map's first full pass:
   * signs[j] = 1 when T_j < 0, else 0, and out[j] = mus[g] or -mus[g] by that sign (g: j's
   * group, groups of the bit map). Without that pass the caller writes the signs itself.
   * null: the binarization keeps no values (`dequantize: false`); only the signs are written.
   */
  out: Float32Array | null;
  signs: Uint8Array;
  mus: Float64Array;
  /**
   * Set by makeBitMapWith when the first round wrote `out` for every entry and left the
   * entries with M >= 2 in `list[starts[g] .. ends[g])` per group, in index order (middle-out
   * with at least two selection rounds); unset otherwise.
   */
  a2?: ListA2 & {
    /** The depth-1 partial sums (see partial-sums.ts) the round-2 residual uses. */
    depth1: Float64Array;
  };
}

/**
 * `makeBitMap`, sharing its first round with the binarization when `fused` is given
 * (`binarizeWithBitMap`).
 */
export function makeBitMapWith(t: Float32Array, opts: BitMapOptions, fused: FusedFirstRound | undefined): BitMapResult {
  if (opts.rows !== undefined) {
    // One bitwidth per row: its own algorithm, which shares nothing with the binarization.
    if (fused !== undefined) fail(ErrorCodes.INTERNAL, 'a row-granular bit map does not share passes with the binarization');
    return makeRowBitMap(t, opts);
  }
  const heuristic = checkHeuristic(opts.heuristic);
  const seed = checkSeed(opts.seed);
  const resolved = resolveDistribution(opts);
  const n = t.length;
  const groups = opts.channels ?? 1;
  const size = groupSize(n, opts.channels, 'channels');
  const scaleGroups = opts.scaleChannels ?? 1;
  const scaleSize = groupSize(n, opts.scaleChannels, 'scaleChannels');
  const selector = checkSelector(opts.selector);
  const map = checkOut(opts.out, n, 'out') ?? new Uint8Array(n);

  const perGroup = countsFromDistribution(resolved.dist, size);
  const result: BitMapResult = {
    bitMap: map,
    counts: perGroup.counts.map((c) => c * groups),
    avgBits: perGroup.avgBits,
    targetAvgBits: resolved.avgBits,
    dist: resolved.dist,
  };

  // Validation; for middle-out these are also the first round's sums.
  const sums = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    sums[g] = fused === undefined ? sumAbsChecked(t, opts.name, g * size, (g + 1) * size) : fused.firstSum(g * size, (g + 1) * size);
  }
  if (n === 0) return result;

  const counts = perGroup.counts;
  const { last, lastSelection } = selectionRounds(counts);
  if (lastSelection === 0) {
    map.fill(last);
    return result;
  }

  const residual = heuristic === 'middle-out-residual' ? new ResidualTrack(t, scaleGroups, scaleSize) : undefined;
  const [seedA, seedB] = seedWords(seed);
  const src = new KeySource(heuristic, t, residual, seedA, seedB);
  let idx: Uint32Array | null = null; // the candidates: all entries, then the list of those left
  let count = n;
  const a2Ends = new Float64Array(groups); // fused: where each group's entries with M >= 2 end after round 1
  const round2Sums = new Float64Array(groups); // fused: the binarization's round-2 sum |E| per group

  for (let b = 1; b <= lastSelection; b++) {
    src.idx = idx;
    if (residual !== undefined) residual.step(idx, count, b);
    const c = counts[b - 1];
    if (c === 0) continue;
    const finalRound = b === lastSelection;
    // The list of entries left after this round; compacted in place after the first one. It
    // briefly holds the boundary entries too, so it gets room for every candidate, + 1 for the
    // branch-free append's write past the last entry kept.
    const next: Uint32Array | null = finalRound ? null : (idx ?? scratchIndices(n + 1));
    // Group g's candidates are at positions [bounds[g], bounds[g + 1]) (found before the list is compacted).
    const bounds = new Float64Array(groups + 1);
    for (let g = 1; g <= groups; g++) bounds[g] = lowerBound(idx, bounds[g - 1], count, g * size);
    let w = 0;
    for (let g = 0; g < groups; g++) {
      let ps = bounds[g];
      const pe = bounds[g + 1];
      const m = pe - ps;
      if (heuristic === 'middle-out') src.mean = Math.fround(sums[g] / m);
      const round: Round = { heuristic, t, map, src, b, c, last, next, idx };
      if (fused !== undefined && heuristic === 'middle-out' && b === 1 && next !== null) {
        round.values = { out: fused.out, signs: fused.signs, mu: fused.mus[g] };
      }
      if (fused?.a2 !== undefined && b === 2) {
        round.residual = { signs: fused.signs, sums: fused.a2.depth1, at: g << 1, shift: 1, result: round2Sums, g };
        // The last selection round over the binarization's own list A_2 (not a copy), without
        // values to write for the entries stopping at 2 bits: the pass also shortens the list
        // to a superset of A_3 (see `middleOutLastResidual`).
        if (next === null && idx !== null && fused.a2.list === idx && fused.out === null) round.residual.kept = ps;
      }
      const wStart = w;
      let pass: AssignPass | undefined;
      const sampled = selector === 'sample' || (selector === 'auto' && m >= RADIX_MIN_CANDIDATES);
      const slot = g + b * groups;
      /** A second pass over bounds [lo, hi] that are only a guess: undefined (the candidates restored) when the exact counts reject them. */
      const tryBounds = (lo: number, hi: number, capacity: number): AssignPass | undefined => {
        const p = secondPass(round, ps, ps + m, lo, hi, wStart, capacity);
        const need = c - p.taken;
        if (!(need < 0 || need > p.nb || p.nb > capacity || selectionStats.rejectSamples)) return p;
        if (round.residual?.kept !== undefined) {
          // The failed pass compacted the list: its candidates are the entries it gave b or last.
          const end = rebuildLastCandidates(map, b, g * size, (g + 1) * size, idx!, ps);
          if (end !== ps + m) fail(ErrorCodes.INTERNAL, 'bit map: candidate rebuild lost entries', { round: b });
        } else if (idx !== null && next !== null) {
          // The in-place list lost this round's selected entries: rebuild the group's
          // candidates (unassigned or assigned b just now) from the map, in index order.
          ps = wStart;
          const end = rebuildCandidates(map, b, g * size, (g + 1) * size, idx, ps);
          if (end !== ps + m) fail(ErrorCodes.INTERNAL, 'bit map: candidate rebuild lost entries', { round: b });
        }
        return undefined;
      };
      // Small groups (quickselect over every key in 'auto') try remembered bounds too: the
      // band a full selection leaves (`rememberRankBand`) makes the next step's quickselect
      // run on a few % of the keys instead of all of them.
      const warmable = sampled || selector === 'auto';
      const remembered = warmable ? opts.warm?.slots.get(slot) : undefined;
      if (remembered !== undefined) {
        // Bounds from the previous call (warm start): the same checks as sampled bounds.
        pass = tryBounds(remembered[0], remembered[1], Math.min(m, 2 * remembered[2] + 1024));
        if (pass === undefined) opts.warm!.misses++;
        else opts.warm!.hits++;
      }
      if (sampled && pass === undefined) {
        // Bounds from a sample; exact counts decide whether they hold.
        const [lo, hi, expected] = sampleBounds(src, ps, ps + m, c, g + b * groups);
        pass = tryBounds(lo, hi, Math.min(m, 2 * expected + 1024));
        if (pass === undefined) selectionStats.fallbacks++;
      }
      let whole = false; // every key was boundary
      if (pass === undefined) {
        if (selector === 'quickselect' || (selector === 'auto' && m < RADIX_MIN_CANDIDATES)) {
          pass = secondPass(round, ps, ps + m, 0, 0xffffffff, wStart, m); // every key is boundary
          whole = true;
        } else {
          const [lo, hi, boundary] = histogramBounds(round, ps, ps + m);
          pass = secondPass(round, ps, ps + m, lo, hi, wStart, boundary);
        }
      }
      w = pass.w;
      // The boundary: the smallest (key, index) pairs complete the count.
      const need = c - pass.taken;
      selectPairs(pass.bk, pass.bj, pass.nb, need);
      if (opts.warm !== undefined && warmable) {
        if (whole) rememberRankBand(opts.warm, slot, pass, need);
        else rememberBounds(opts.warm, slot, pass, need);
      }
      if (fillsMap(round)) {
        // The map already holds b for them: drop them from the list by their pair (at most
        // the need-th smallest, at position need - 1 after the selection; all of the
        // boundary when it is taken whole), with sum |T| over those left (the next mean).
        let pk = -1;
        let pj = -1;
        if (need >= pass.nb) [pk, pj] = [floatBounds(0, pass.hi)[1], Infinity];
        else if (need > 0) [pk, pj] = [floatBounds(pass.bk[need - 1]!, 0)[0], pass.bj[need - 1]!];
        [w, sums[g]] = dropTakenMiddleOut(t, src.mean, pk, pj, next!, wStart, w);
      } else {
        for (let r = 0; r < need; r++) map[pass.bj[r]] = b;
        if (next !== null && (need > 0 || heuristic === 'middle-out')) {
          // Drop the boundary entries just taken; sum |T| over those left (middle-out's next mean).
          [w, sums[g]] = dropAssigned(t, map, 0, next, wStart, w);
        }
      }
      if (round.values !== undefined) a2Ends[g] = w;
      if (round.residual?.kept !== undefined) (fused!.a2!.keptEnds ??= Float64Array.from(a2Ends))[g] = round.residual.kept;
    }
    if (fused !== undefined && heuristic === 'middle-out' && b === 1 && next !== null) {
      // Every entry got its round-1 value; list[0 .. w) holds the entries with M >= 2. A next
      // round that is not the last selection round compacts the list in place, so then the
      // binarization gets a copy; the last one only reads it (no copy: 4 bytes per entry of
      // A_2 less to write).
      let list = next;
      if (lastSelection > 2) {
        list = scratchIndicesB(w + 1);
        list.set(next.subarray(0, w));
      }
      const starts = new Float64Array(groups);
      for (let g = 1; g < groups; g++) starts[g] = a2Ends[g - 1];
      fused.a2 = { list, starts, ends: a2Ends, depth1: nextDepth(depthZero(groups), 0, fused.mus) };
    }
    if (fused?.a2 !== undefined && b === 2) fused.a2.sums2 = round2Sums;
    idx = next;
    count = w;
  }
  return result;
}

/**
 * Keeps bounds for the next call's warm start: the successful pass's band, recentred on the
 * c-th smallest key (at position need - 1 after the selection), in key-bit order. Its
 * half-width is the one of the band the slot's bounds last came from by sampling (kept across
 * warm calls). When the pivot moved by d since the last call (clamped to ±half-width), the band
 * is shifted by d/2 and widened by |d|/2: it holds the pivot ± half-width as before, and the
 * pivot moved by d again ± half-width, so a steady drift (weight decay, a persistent gradient
 * direction) keeps hitting instead of missing once every step or two (MobileNetV2-style's
 * 307,200-weight layer missed 21 of 78 warm tries under the training bench's constant
 * gradients). Only where the selection's work starts changes: the results do not.
 */
function rememberBounds(warm: WarmBounds, slot: number, pass: AssignPass, need: number): void {
  let { lo, hi } = pass;
  if (need > 0 && hi < 0xffffffff) {
    const pivot = pass.bk[need - 1]!;
    const prev = warm.slots.get(slot);
    // the remembered half-width while the warm bounds carry on, else this pass's (sampled) band's
    const warmPass = prev !== undefined && prev[0] === lo && prev[1] === hi && prev[4] !== undefined;
    const half = warmPass ? prev[4]! : Math.ceil((hi - lo) / 2);
    const d = prev?.[3] === undefined ? 0 : Math.max(-half, Math.min(half, pivot - prev[3]));
    const centre = pivot + Math.trunc(d / 2);
    const h = half + Math.ceil(Math.abs(d) / 2);
    warm.slots.set(slot, [Math.max(0, centre - h), Math.min(0xfffffffe, centre + h), pass.nb, pivot, half]);
    return;
  }
  warm.slots.set(slot, [lo, hi, pass.nb]);
}

/**
 * Keeps bounds for the next call's warm start after a selection over every key (a small
 * group): the keys of rank c - 1 ± δ, δ = max(32, m/64), found by quickselect within the two
 * sides the selection left (positions [0, need - 1) and [need, nb), so the selected set and
 * the pivot at need - 1 stay where the caller reads them). Nothing is kept when the selection
 * took none or all of the keys.
 */
function rememberRankBand(warm: WarmBounds, slot: number, pass: AssignPass, need: number): void {
  const { bk, bj, nb } = pass;
  if (need <= 0 || need >= nb) {
    warm.slots.delete(slot);
    return;
  }
  const delta = Math.max(32, Math.ceil(nb / 64));
  let lo = 0;
  const below = need - 1; // keys [0, below) are smaller than the pivot
  if (below > delta) {
    // the (below - delta)-th smallest of the lower side, at position below - delta - 1
    selectPairs(bk, bj, below, below - delta);
    lo = bk[below - delta - 1]!;
  }
  let hi = 0xfffffffe;
  const above = nb - need; // keys [need, nb) are larger
  if (above > delta) {
    const keys = bk.subarray(need, nb);
    selectPairs(keys, bj.subarray(need, nb), above, delta);
    hi = keys[delta - 1]!;
  }
  warm.slots.set(slot, [lo, hi, Math.min(nb, 2 * delta + 1)]);
}

/** Counts of a bit map per bitwidth and its average. */
export interface BitHistogram {
  /** counts[b - 1] = entries at b bits, b = 1..max. */
  counts: number[];
  /** Number of entries. */
  n: number;
  /** Average bitwidth (0 for an empty map). */
  avgBits: number;
}

/**
 * `bitHistogram(bitMap)` from a binarization made with that bit map, without reading the map:
 * the entries at exactly b bits are |A_b| − |A_{b+1}| (its `activeCounts`, summed over the
 * scale groups), and the total of the bitwidths is the sum of the |A_i|. The same counts and
 * average as `bitHistogram` (the same float64 sums in the same order) for any binarization of
 * `n` entries whose rounds are those of the bit map: `heteroBinarize`, `binarizeWithBitMap`,
 * or `residualBinarize` with a map filled with its bit count.
 */
export function binarizationHistogram(bin: { nBits: number; channels: number; activeCounts: ArrayLike<number> }, n: number): BitHistogram {
  if (n === 0) return { counts: [], n: 0, avgBits: 0 };
  const k = bin.nBits;
  const c = bin.channels;
  const active = new Float64Array(k + 1);
  for (let i = 0; i < k; i++) for (let g = 0; g < c; g++) active[i] += bin.activeCounts[i * c + g]!;
  const counts: number[] = [];
  let total = 0;
  for (let b = 1; b <= k; b++) {
    counts.push(active[b - 1]! - active[b]!);
    total += b * counts[b - 1]!;
  }
  if (active[0] !== n || counts.some((x) => x < 0)) fail(ErrorCodes.INTERNAL, `binarization of ${active[0]} entries does not hold ${n} entries at one bit count each`);
  return { counts, n, avgBits: total / n };
}

/** Counts the entries of a bit map per bitwidth; INVALID_OPTION on an entry outside 1..8. */
export function bitHistogram(bitMap: Uint8Array): BitHistogram {
  // Four tables, so that runs of one bitwidth do not wait on one counter's increments.
  const a0 = new Uint32Array(256);
  const a1 = new Uint32Array(256);
  const a2 = new Uint32Array(256);
  const a3 = new Uint32Array(256);
  const n4 = bitMap.length - (bitMap.length & 3);
  for (let j = 0; j < n4; j += 4) {
    a0[bitMap[j]]++;
    a1[bitMap[j + 1]]++;
    a2[bitMap[j + 2]]++;
    a3[bitMap[j + 3]]++;
  }
  for (let j = n4; j < bitMap.length; j++) a0[bitMap[j]]++;
  const all = new Float64Array(256);
  for (let b = 0; b < 256; b++) all[b] = a0[b] + a1[b] + a2[b] + a3[b];
  if (all[0] > 0 || all.subarray(9).some((c) => c > 0)) failBitMapEntry(bitMap);
  let max = 0;
  let total = 0;
  for (let b = 1; b <= 8; b++) {
    if (all[b] > 0) max = b;
    total += b * all[b];
  }
  return { counts: Array.from(all.subarray(1, max + 1)), n: bitMap.length, avgBits: bitMap.length === 0 ? 0 : total / bitMap.length };
}
