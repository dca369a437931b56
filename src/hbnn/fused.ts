/**
 * A bit map and the heterogeneous binarization with it in one call, bit-identical to
 * `makeBitMap` followed by `heteroBinarize`, sharing passes where the bit map's groups and the
 * scale groups coincide (both per tensor, or the same channel count): the validating sum |T|
 * of `makeBitMap` is round 1's sum; with middle-out, its first round also writes round 1's
 * signs and values and hands over A_2, and its second round does the binarization's round-2
 * residual (docs/method.md §9). A row-granular bit map (`rows`) shares nothing: it is
 * `makeBitMap` then the binarization.
 */
import { makeBitMapWith, type BitMapOptions, type BitMapResult, type FusedFirstRound } from './bitmap.js';
import { scaleOf } from './partial-sums.js';
import { binarizeRounds, signsAndSum, type BinarizeOptions, type Binarization } from './residual.js';
import { checkOut, groupSize, sumAbsChecked } from './validate.js';
import { bindWorkspace, unbindWorkspace } from './wasm-kernels.js';

/** Below this many entries a tensor is binarized in place, without the kernels' working copy (the copies and the call cost more than they save). */
const WORKSPACE_MIN = 4096;

/** What `binarizeWithBitMap` returns: the bit map and the binarization with it. */
export interface BitMapBinarization {
  map: BitMapResult;
  bin: Binarization;
}

/**
 * `makeBitMap(t, mapOpts)` then `heteroBinarize(t, map.bitMap, binOpts)`, with the same
 * results, errors aside from their order (the sign buffer `binOpts.signsOut` is checked first).
 */
export function binarizeWithBitMap(t: Float32Array, mapOpts: BitMapOptions, binOpts: BinarizeOptions = {}): BitMapBinarization {
  const n = t.length;
  // A row-granular bit map (mapOpts.rows) shares nothing: bit map, then the binarization.
  const shared = mapOpts.rows === undefined && (mapOpts.channels ?? 1) === (binOpts.channels ?? 1);
  if (!shared) {
    const map = makeBitMapWith(t, mapOpts, undefined);
    return { map, bin: binarizeRounds(t, map.bitMap, 0, binOpts) };
  }
  const signs = checkOut(binOpts.signsOut, n, 'signsOut') ?? new Uint8Array(n);
  const out = binOpts.dequantize === false ? null : (checkOut(binOpts.out, n, 'out') ?? new Float32Array(n));
  if (out !== null && n >= WORKSPACE_MIN) {
    // The same passes in the WebAssembly kernels' memory, where the hottest ones run as SIMD
    // kernels (wasm-kernels.ts): on the caller's own arrays when the tensor and its outputs
    // live in a KernelArena, else on a working copy whose results are copied to the caller's buffers.
    const bitMap = checkOut(mapOpts.out, n, 'out') ?? new Uint8Array(n);
    const ws = bindWorkspace(t, signs, out, bitMap);
    if (ws !== null) {
      let r: BitMapBinarization;
      try {
        r = sharedPasses(ws.t, { ...mapOpts, out: ws.map }, { ...binOpts, signsOut: ws.signs, out: ws.out }, ws.signs, ws.out);
      } finally {
        unbindWorkspace();
      }
      if (!ws.inPlace) {
        bitMap.set(ws.map);
        signs.set(ws.signs);
        out.set(ws.out);
      }
      return { map: { ...r.map, bitMap }, bin: { ...r.bin, signs, dequantized: out } };
    }
  }
  return sharedPasses(t, mapOpts, binOpts, signs, out);
}

/** `binarizeWithBitMap` where the bit map and the scales have the same groups. */
function sharedPasses(t: Float32Array, mapOpts: BitMapOptions, binOpts: BinarizeOptions, signs: Uint8Array, out: Float32Array | null): BitMapBinarization {
  const n = t.length;
  const scaleSize = groupSize(n, binOpts.channels, 'channels');
  const firstSums = new Float64Array(binOpts.channels ?? 1);
  const fusedRound: FusedFirstRound = {
    firstSum: (start, end) => {
      const given = binOpts.sumAbs;
      const sum = start === 0 && end === n && given !== undefined && Number.isFinite(given) ? given : sumAbsChecked(t, mapOpts.name, start, end);
      const g = scaleSize === 0 ? 0 : start / scaleSize;
      firstSums[g] = sum;
      fusedRound.mus[g] = scaleOf(sum, end - start);
      return sum;
    },
    out,
    signs,
    mus: new Float64Array(binOpts.channels ?? 1),
  };
  const map = makeBitMapWith(t, mapOpts, fusedRound);
  // The signs of round 1 come with middle-out's first full pass; without it, here.
  if (fusedRound.a2 === undefined) for (let g = 0; g < firstSums.length; g++) signsAndSum(t, signs, g * scaleSize, (g + 1) * scaleSize);
  // The map's exact counts give max(M): the binarization need not pass over A_max to find A_max+1 empty.
  const widest = map.counts.reduce((w, c, b) => (c > 0 ? b + 1 : w), 0);
  const bin = binarizeRounds(t, map.bitMap, 0, { ...binOpts, signsOut: signs, ...(out !== null ? { out } : {}) }, n === 0 ? undefined : firstSums, fusedRound.a2, widest);
  return { map, bin };
}
