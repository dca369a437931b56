/**
 * Selection of the c smallest (key, index) pairs without a full sort.
 *
 * Keys are uint32 whose integer order is the order wanted (for a non-negative float32 key,
 * its IEEE bit pattern). Ties between equal keys go to the lower index,
 * which makes the order total, so the selected set is exactly the first c entries of the list
 * sorted by (key, index): any correct selection algorithm returns the same set.
 *
 * `quickSelectPairs` is an in-place quickselect (nth_element) on parallel key and index
 * arrays; bitmap.ts puts a one-pass radix bucketing in front of it for large tensors.
 */
import { selectPartitionWasm } from './wasm-kernels.js';

/** Below this many candidates 'auto' selection skips the radix histogram (65536 counters to clear and scan). */
export const RADIX_MIN_CANDIDATES = 1 << 15;

/**
 * How the c smallest keys of a group are found; every choice gives the same bit map.
 * - 'auto' (default): groups of RADIX_MIN_CANDIDATES keys or more take bounds from a sample of
 *   keys, checked by exact counts, falling back to 'radix' when the check fails; smaller
 *   groups use 'quickselect';
 * - 'sample': the sampled bounds for every group (for tests);
 * - 'radix': a histogram of the high 16 key bits finds the bucket holding the c-th key;
 * - 'quickselect': quickselect on all the group's keys.
 * In each case quickselect then decides among the keys inside the bounds.
 */
export type Selector = 'auto' | 'sample' | 'radix' | 'quickselect';

function less(keys: Uint32Array, idx: Uint32Array, a: number, b: number): boolean {
  const ka = keys[a];
  const kb = keys[b];
  return ka < kb || (ka === kb && idx[a] < idx[b]);
}

function swap(keys: Uint32Array, idx: Uint32Array, a: number, b: number): void {
  const k = keys[a];
  keys[a] = keys[b];
  keys[b] = k;
  const i = idx[a];
  idx[a] = idx[b];
  idx[b] = i;
}

function insertionSort(keys: Uint32Array, idx: Uint32Array, lo: number, hi: number): void {
  for (let p = lo + 1; p <= hi; p++) {
    const k = keys[p];
    const i = idx[p];
    let q = p - 1;
    while (q >= lo && (keys[q] > k || (keys[q] === k && idx[q] > i))) {
      keys[q + 1] = keys[q];
      idx[q + 1] = idx[q];
      q--;
    }
    keys[q + 1] = k;
    idx[q + 1] = i;
  }
}

function siftDown(keys: Uint32Array, idx: Uint32Array, lo: number, root: number, size: number): void {
  for (;;) {
    let child = 2 * root + 1;
    if (child >= size) return;
    if (child + 1 < size && less(keys, idx, lo + child, lo + child + 1)) child++;
    if (!less(keys, idx, lo + root, lo + child)) return;
    swap(keys, idx, lo + root, lo + child);
    root = child;
  }
}

function heapSort(keys: Uint32Array, idx: Uint32Array, lo: number, hi: number): void {
  const size = hi - lo + 1;
  for (let r = (size >> 1) - 1; r >= 0; r--) siftDown(keys, idx, lo, r, size);
  for (let end = size - 1; end > 0; end--) {
    swap(keys, idx, lo, lo + end);
    siftDown(keys, idx, lo, 0, end);
  }
}

/**
 * Reorders the first n pairs (keys[p], idx[p]) so that positions [0, c) hold the c smallest
 * pairs in (key, index) order (in no particular order among themselves). Indices must be
 * distinct, which makes the order total.
 */
export function quickSelectPairs(keys: Uint32Array, idx: Uint32Array, n: number, c: number): void {
  if (c <= 0 || c >= n) return;
  const target = c - 1; // the c-th smallest pair ends at position c - 1
  let lo = 0;
  let hi = n - 1;
  let budget = 2 * Math.ceil(Math.log2(n)) + 16;
  while (hi > lo) {
    if (hi - lo < 24) {
      insertionSort(keys, idx, lo, hi);
      return;
    }
    if (budget-- === 0) {
      heapSort(keys, idx, lo, hi);
      return;
    }
    // Median of three, moved to lo; it is then a sentinel for both scans.
    const mid = lo + ((hi - lo) >> 1);
    if (less(keys, idx, mid, lo)) swap(keys, idx, mid, lo);
    if (less(keys, idx, hi, lo)) swap(keys, idx, hi, lo);
    if (less(keys, idx, hi, mid)) swap(keys, idx, hi, mid);
    swap(keys, idx, lo, mid);
    const pk = keys[lo];
    const pi = idx[lo];
    let i = lo;
    let j = hi + 1;
    for (;;) {
      do i++;
      while (i <= hi && (keys[i] < pk || (keys[i] === pk && idx[i] < pi)));
      do j--;
      while (keys[j] > pk || (keys[j] === pk && idx[j] > pi));
      if (i >= j) break;
      swap(keys, idx, i, j);
    }
    swap(keys, idx, lo, j); // the pivot lands at its final rank j
    if (j === target) return;
    if (target < j) hi = j - 1;
    else lo = j + 1;
  }
}

/** From this many pairs on, `selectPairs` buckets the keys before its quickselect. */
const BUCKET_MIN = 4096;
/** Buckets of `selectPairs` (their counters stay in L1). */
const BUCKETS = 2048;
const bucketCounts = new Uint32Array(BUCKETS);
const classNext = new Float64Array(3);
let tmpKeys = new Uint32Array(0);
let tmpIdx = new Uint32Array(0);

/**
 * `quickSelectPairs` with the same result and more speed on many pairs: positions [0, c) hold
 * the c smallest pairs in (key, index) order and, for 0 < c < n, position c - 1 the c-th
 * smallest (the one order that callers read, the same as quickselect's, as any correct
 * selection gives it: the order is total). For n >= BUCKET_MIN the keys are first counted in
 * BUCKETS equal ranges of [min, max] and the pairs partitioned into those below, in and above
 * the bucket holding the c-th smallest key (three branch-free passes and a copy back);
 * quickselect then runs in that bucket only, where a band of keys around the selection's
 * boundary (bitmap.ts) puts about n / BUCKETS of them, against about 3n compare-and-swap steps
 * over all pairs.
 */
export function selectPairs(keys: Uint32Array, idx: Uint32Array, n: number, c: number): void {
  if (c <= 0 || c >= n) return;
  if (n < BUCKET_MIN) {
    quickSelectPairs(keys, idx, n, c);
    return;
  }
  const inWasm = selectPartitionWasm(keys, idx, n, c);
  if (inWasm !== undefined) {
    selectInBucket(keys, idx, c, inWasm[0], inWasm[1]);
    return;
  }
  let min = 0xffffffff;
  let max = 0;
  for (let p = 0; p < n; p++) {
    const k = keys[p]!;
    min = k < min ? k : min;
    max = k > max ? k : max;
  }
  let shift = 0;
  while ((max - min) / 2 ** shift >= BUCKETS) shift++;
  const counts = bucketCounts;
  counts.fill(0);
  for (let p = 0; p < n; p++) counts[(keys[p]! - min) >>> shift]++;
  let below = 0;
  let b = 0;
  while (below + counts[b]! < c) below += counts[b++]!;
  const size = counts[b]!;
  // Stable three-way partition by bucket, branch-free: each pair goes to the next free slot
  // of its class (0: below b, 1: in b, 2: above) in a copy, then back.
  if (tmpKeys.length < n) {
    tmpKeys = new Uint32Array(n);
    tmpIdx = new Uint32Array(n);
  }
  const tk = tmpKeys;
  const ti = tmpIdx;
  const next = classNext;
  next[0] = 0;
  next[1] = below;
  next[2] = below + size;
  for (let p = 0; p < n; p++) {
    const k = keys[p]!;
    const bi = (k - min) >>> shift;
    const cls = ((bi > b) as unknown as number) + ((bi >= b) as unknown as number);
    const at = next[cls]!;
    next[cls] = at + 1;
    tk[at] = k;
    ti[at] = idx[p]!;
  }
  keys.set(tk.subarray(0, n));
  idx.set(ti.subarray(0, n));
  selectInBucket(keys, idx, c, below, size);
}

/** After the partition: the (c - below)-th smallest pair of the bucket [below, below + size) to position c - 1, the smaller before it. */
function selectInBucket(keys: Uint32Array, idx: Uint32Array, c: number, below: number, size: number): void {
  const target = c - below; // 1 <= target <= size
  if (target < size) {
    quickSelectPairs(keys.subarray(below, below + size), idx.subarray(below, below + size), size, target);
  } else {
    // the c-th smallest is the bucket's largest pair: move it to the bucket's end
    let m = below;
    for (let p = below + 1; p < below + size; p++) if (less(keys, idx, m, p)) m = p;
    swap(keys, idx, m, below + size - 1);
  }
}
