/**
 * Straightforward reference implementations for the hbnn tests: direct transcriptions of
 * the formulas with full sorts and per-entry float64 state, written independently of the
 * optimized code (which uses sign-path tables, lists, radix buckets and quickselect).
 */
import { mulberry32 } from '../../src/hbnn/index.js';
import { randomKey, seedWords } from '../../src/hbnn/prng.js';

/** Heterogeneous residual binarization, METHOD §2, with T_hat as the float32 sequential sum. */
export function refHetero(t: Float32Array, bitMap: Uint8Array, channels = 1) {
  const n = t.length;
  const size = n / channels;
  let nBits = 0;
  for (const m of bitMap) nBits = Math.max(nBits, m);
  const approx = new Float64Array(n); // float32-valued partial sums
  const scales = new Float32Array(nBits * channels);
  const signs = new Uint8Array(n);
  for (let i = 1; i <= nBits; i++) {
    for (let g = 0; g < channels; g++) {
      let sum = 0;
      let count = 0;
      for (let j = g * size; j < (g + 1) * size; j++) {
        if (bitMap[j] >= i) {
          sum += Math.abs(t[j] - approx[j]);
          count++;
        }
      }
      const mu = count > 0 ? Math.fround(sum / count) : 0;
      scales[(i - 1) * channels + g] = mu;
      for (let j = g * size; j < (g + 1) * size; j++) {
        if (bitMap[j] >= i) {
          const e = t[j] - approx[j];
          const b = e < 0 ? -1 : 1; // sign(0) = +1
          if (b < 0) signs[j] |= 1 << (i - 1);
          approx[j] = Math.fround(approx[j] + b * mu);
        }
      }
    }
  }
  return { dequantized: Float32Array.from(approx), scales, signs, nBits };
}

/** Algorithm 1 with full sorts; keys exactly as documented in bitmap.ts. */
export function refBitMap(
  t: Float32Array,
  opts: { heuristic: string; counts: number[]; channels?: number; scaleChannels?: number; seed?: number },
): Uint8Array {
  const { heuristic, counts } = opts;
  const channels = opts.channels ?? 1;
  const scaleChannels = opts.scaleChannels ?? 1;
  const n = t.length;
  const size = n / channels;
  const scaleSize = n / scaleChannels;
  const map = new Uint8Array(n);
  let last = counts.length;
  while (counts[last - 1] === 0) last--;
  const approx = new Float64Array(n);
  const [a, b2] = seedWords(opts.seed ?? 0);
  for (let b = 1; b < last; b++) {
    if (heuristic === 'middle-out-residual') {
      for (let g = 0; g < scaleChannels; g++) {
        let sum = 0;
        let count = 0;
        for (let j = g * scaleSize; j < (g + 1) * scaleSize; j++) {
          if (map[j] === 0) {
            sum += Math.abs(t[j] - approx[j]);
            count++;
          }
        }
        const mu = count ? Math.fround(sum / count) : 0;
        for (let j = g * scaleSize; j < (g + 1) * scaleSize; j++) {
          if (map[j] === 0) approx[j] = Math.fround(approx[j] + (t[j] - approx[j] < 0 ? -mu : mu));
        }
      }
    }
    const c = counts[b - 1];
    if (c === 0) continue;
    for (let g = 0; g < channels; g++) {
      const remaining: number[] = [];
      for (let j = g * size; j < (g + 1) * size; j++) if (map[j] === 0) remaining.push(j);
      let mean = 0;
      if (heuristic === 'middle-out') {
        let s = 0;
        for (const j of remaining) s += Math.abs(t[j]);
        mean = Math.fround(s / remaining.length);
      }
      const key = (j: number): number => {
        switch (heuristic) {
          case 'middle-out':
            return Math.fround(Math.abs(Math.abs(t[j]) - mean));
          case 'middle-out-residual':
            return Math.fround(Math.abs(t[j] - approx[j]));
          case 'bottom-up':
            return Math.fround(Math.abs(t[j]));
          case 'top-down':
            return -Math.fround(Math.abs(t[j]));
          case 'random':
            return randomKey(j, a, b2);
          default:
            throw new Error(heuristic);
        }
      };
      const ranked = remaining.map((j) => [key(j), j] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      for (let r = 0; r < c; r++) map[ranked[r][1]] = b;
    }
  }
  for (let j = 0; j < n; j++) if (map[j] === 0) map[j] = last;
  return map;
}

/** Seeded normal(0, sigma) samples (Box-Muller on mulberry32). */
export function gaussian(n: number, seed: number, sigma = 1): Float32Array {
  const rng = mulberry32(seed);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const u1 = 1 - rng.next();
    const u2 = rng.next();
    out[j] = sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

/** Expects fn to throw an HbnnError with this code; returns the error for further checks. */
export function thrown(fn: () => unknown): { code: string; message: string; context: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string; context: Record<string, unknown> };
  }
  throw new Error('expected an error, none was thrown');
}
