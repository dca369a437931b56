/**
 * Bit planes: the form the bit-level IR and hardware back ends consume. Plane i (round i)
 * covers the entries of A_i = { j : M_j >= i }; each plane has one scale per group.
 *
 * Bit order: entry j is bit (j & 7) of byte (j >> 3), least significant bit first. In `sign`
 * a 1 means B_{i,j} = +1 and a 0 means -1 (the usual xnor-popcount encoding); `sign` bits of
 * entries outside A_i are 0. `mask` has a 1 for the entries of A_i.
 */
import { fail, ErrorCodes } from '../errors.js';
import { bitMapMax, type Binarization } from './residual.js';

/** One round of a binarization as packed bits. */
export interface BitPlane {
  /** The round, 1-based. */
  bit: number;
  /** mu_i per scale group (length `channels` of the binarization). */
  scales: Float32Array;
  /** Packed membership of A_i, LSB first. */
  mask: Uint8Array;
  /** Packed signs, 1 = +1, LSB first; 0 outside A_i. */
  sign: Uint8Array;
  /** |A_i|. */
  count: number;
}

/** Splits a binarization into packed bit planes (mask of A_i and signs), one per round. */
export function bitPlanes(bitMap: Uint8Array, b: Pick<Binarization, 'nBits' | 'channels' | 'scales' | 'signs'>): BitPlane[] {
  const n = bitMap.length;
  const max = bitMapMax(bitMap, n);
  if (max > b.nBits || b.signs.length !== n || b.scales.length !== b.nBits * b.channels) {
    fail(ErrorCodes.INVALID_OPTION, 'the bit map does not belong to this binarization (length, bitwidths or scales differ)', {
      option: 'bitMap',
    });
  }
  const bytes = (n + 7) >> 3;
  const planes: BitPlane[] = [];
  for (let i = 1; i <= b.nBits; i++) {
    const mask = new Uint8Array(bytes);
    const sign = new Uint8Array(bytes);
    const negBit = 1 << (i - 1);
    let count = 0;
    for (let j = 0; j < n; j++) {
      if (bitMap[j] >= i) {
        const at = j >> 3;
        const bit = 1 << (j & 7);
        mask[at] |= bit;
        if ((b.signs[j] & negBit) === 0) sign[at] |= bit;
        count++;
      }
    }
    planes.push({ bit: i, scales: b.scales.slice((i - 1) * b.channels, i * b.channels), mask, sign, count });
  }
  return planes;
}
