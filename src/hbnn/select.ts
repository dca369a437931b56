/**
 * Selection of the c smallest keys among the unassigned entries of a bit map, without a full
 * sort. Keys are uint32 whose integer order is the order wanted (for a non-negative float32
 * key, its IEEE bit pattern; see `floatKeyBits`). Ties between equal keys go to the lower
 * index, so the selected set is exactly the first c entries of the list sorted by
 * (key, index): any correct selection algorithm returns the same set.
 *
 * Two algorithms, with identical results:
 * - `quickSelectPairs`: in-place quickselect (Hoare partition, median-of-three pivot) on
 *   packed (key, index) pairs, comparing key then index; it falls back to heapsort after
 *   too many rounds, so the worst case is O(n log n).
 * - `radixAssign`: two counting passes over the 16 high then 16 low bits of the key find the
 *   exact threshold key K and how many entries equal to K to take; a final pass marks every
 *   key < K and the first entries (lowest indices) with key == K. Three sequential passes and
 *   no data movement, which is what makes multi-million-entry tensors fast.
 */

/** Below this many candidates `assignSmallest` uses quickselect (radix histograms cost 2 x 65536 counters). */
export const RADIX_MIN_CANDIDATES = 1 << 16;

/** Which selection algorithm to use; 'auto' picks by size. Results are identical. */
export type Selector = 'auto' | 'radix' | 'quickselect';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The order-preserving uint32 key of a non-negative float (rounded to float32 first). */
export function floatKeyBits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0];
}

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

/**
 * Among the entries j in [start, end) with map[j] === 0 (unassigned), sets map[j] = width for
 * the c smallest (keys[j], j). `candidates` is how many unassigned entries the range holds.
 */
export function assignSmallest(
  map: Uint8Array,
  keys: Uint32Array,
  start: number,
  end: number,
  candidates: number,
  c: number,
  width: number,
  work: SelectionWork,
): void {
  if (c <= 0) return;
  if (c >= candidates) {
    for (let j = start; j < end; j++) if (map[j] === 0) map[j] = width;
    return;
  }
  const useRadix = work.selector === 'radix' || (work.selector === 'auto' && candidates >= RADIX_MIN_CANDIDATES);
  if (useRadix) radixAssign(map, keys, start, end, c, width, work);
  else quickAssign(map, keys, start, end, candidates, c, width, work);
}

/** Reusable buffers for selection (histograms and the quickselect scratch pairs). */
export class SelectionWork {
  readonly selector: Selector;
  private histHigh: Uint32Array | undefined;
  private histLow: Uint32Array | undefined;
  private pairKeys: Uint32Array | undefined;
  private pairIdx: Uint32Array | undefined;

  constructor(selector: Selector = 'auto') {
    this.selector = selector;
  }

  histograms(): [Uint32Array, Uint32Array] {
    this.histHigh ??= new Uint32Array(65536);
    this.histLow ??= new Uint32Array(65536);
    return [this.histHigh, this.histLow];
  }

  pairs(n: number): [Uint32Array, Uint32Array] {
    if (this.pairKeys === undefined || this.pairKeys.length < n) {
      this.pairKeys = new Uint32Array(n);
      this.pairIdx = new Uint32Array(n);
    }
    return [this.pairKeys, this.pairIdx!];
  }
}

function quickAssign(
  map: Uint8Array,
  keys: Uint32Array,
  start: number,
  end: number,
  candidates: number,
  c: number,
  width: number,
  work: SelectionWork,
): void {
  const [pk, pi] = work.pairs(candidates);
  let m = 0;
  for (let j = start; j < end; j++) {
    if (map[j] === 0) {
      pk[m] = keys[j];
      pi[m] = j;
      m++;
    }
  }
  quickSelectPairs(pk, pi, m, c);
  for (let p = 0; p < c; p++) map[pi[p]] = width;
}

function radixAssign(
  map: Uint8Array,
  keys: Uint32Array,
  start: number,
  end: number,
  c: number,
  width: number,
  work: SelectionWork,
): void {
  const [high, low] = work.histograms();
  high.fill(0);
  for (let j = start; j < end; j++) if (map[j] === 0) high[keys[j] >>> 16]++;
  let below = 0; // entries whose key is in a lower bucket
  let hb = 0;
  while (below + high[hb] < c) below += high[hb++];

  low.fill(0);
  for (let j = start; j < end; j++) {
    if (map[j] === 0) {
      const k = keys[j];
      if (k >>> 16 === hb) low[k & 0xffff]++;
    }
  }
  let lb = 0;
  while (below + low[lb] < c) below += low[lb++];

  const threshold = hb * 65536 + lb;
  let takeEqual = c - below; // entries with key == threshold to take, lowest index first
  for (let j = start; j < end; j++) {
    if (map[j] === 0) {
      const k = keys[j];
      if (k < threshold) map[j] = width;
      else if (k === threshold && takeEqual > 0) {
        map[j] = width;
        takeEqual--;
      }
    }
  }
}
