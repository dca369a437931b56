/**
 * Argument checks shared by the numerics module. Every deliberate error goes through
 * `fail` with a stable code: NUMERIC for bad tensor values, INVALID_OPTION for bad options.
 */
import { fail, ErrorCodes } from '../errors.js';

/** Bitwidths are stored in a Uint8Array bit map and a Uint8Array of sign paths: at most 8. */
export const MAX_SUPPORTED_BITS = 8;

function tensorLabel(name: string | undefined): string {
  return name === undefined ? 'weight tensor' : `weight tensor "${name}"`;
}

/**
 * Throws NUMERIC naming the first NaN or infinite entry. Called once a cheap fused sum
 * has shown that such an entry exists, so the slow scan only runs on the error path.
 */
export function failNonFinite(t: Float32Array, name: string | undefined, start = 0, end = t.length): never {
  for (let j = start; j < end; j++) {
    const v = t[j];
    if (v !== v || v === Infinity || v === -Infinity) {
      const what = v !== v ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
      fail(ErrorCodes.NUMERIC, `${tensorLabel(name)} contains ${what} at index ${j}`, { tensor: name, index: j });
    }
  }
  fail(ErrorCodes.INTERNAL, `${tensorLabel(name)}: a non-finite sum without a non-finite entry`, { tensor: name });
}

/**
 * Sum of |t[j]| over [start, end) in float64, rejecting NaN/Inf. A float32 tensor cannot
 * overflow a float64 sum (2^128 * 2^32 << 2^1024), so a non-finite sum proves a bad entry.
 */
export function sumAbsChecked(t: Float32Array, name: string | undefined, start = 0, end = t.length): number {
  let s = 0;
  for (let j = start; j < end; j++) s += Math.abs(t[j]);
  if (!Number.isFinite(s)) failNonFinite(t, name, start, end);
  return s;
}

/** Throws NUMERIC when `t` holds a NaN or an infinity. */
export function assertFinite(t: Float32Array, name?: string): void {
  sumAbsChecked(t, name);
}

/**
 * Validates a channel count for a tensor laid out [C, ...rest] (channel c is the contiguous
 * block [c*S, (c+1)*S)) and returns S. `undefined` means one group: the whole tensor.
 */
export function groupSize(length: number, channels: number | undefined, option: string): number {
  if (channels === undefined) return length;
  if (!Number.isInteger(channels) || channels < 1) {
    fail(ErrorCodes.INVALID_OPTION, `${option} must be a positive integer, got ${String(channels)}`, { option });
  }
  if (length % channels !== 0) {
    fail(ErrorCodes.INVALID_OPTION, `${option} = ${channels} does not divide the tensor length ${length}`, { option });
  }
  return length / channels;
}

/** Throws INVALID_OPTION naming the first bit map entry outside 1..8 (the caller knows there is one). */
export function failBitMapEntry(bitMap: Uint8Array, option = 'bitMap'): never {
  const j = bitMap.findIndex((m) => m < 1 || m > MAX_SUPPORTED_BITS);
  fail(ErrorCodes.INVALID_OPTION, `${option}[${j}] = ${bitMap[j]}; bitwidths must be 1 to ${MAX_SUPPORTED_BITS}`, { option, index: j });
}

/** The smallest average bitwidth: every entry has at least one bit. */
export const MIN_AVG_BITS = 1;

/** Slack for float noise when an average sits on an integer or on maxBits. */
const AVG_SNAP = 1e-9;

/**
 * The one range check of an average bitwidth: a finite number from MIN_AVG_BITS to `maxBits`
 * (float noise at either end is snapped in); INVALID_OPTION otherwise. `names` are the
 * caller's option names: the API's (avgBits, maxBits) by default, the passes' (avg-bits,
 * max-bits), whose message for an average above the bound reads `avg-bits 3.5 is above
 * max-bits 3`. Returns the average clamped to the range.
 */
export function checkAvgBits(avgBits: number, maxBits: number, names: { avg: string; max: string } = { avg: 'avgBits', max: 'maxBits' }): number {
  if (typeof avgBits !== 'number' || !Number.isFinite(avgBits) || avgBits < MIN_AVG_BITS - AVG_SNAP || avgBits > maxBits + AVG_SNAP) {
    const above = typeof avgBits === 'number' && avgBits > maxBits && names.avg !== 'avgBits';
    fail(
      ErrorCodes.INVALID_OPTION,
      above ? `${names.avg} ${avgBits} is above ${names.max} ${maxBits}` : `${names.avg} must be a number from ${MIN_AVG_BITS} to ${names.max} = ${maxBits}, got ${String(avgBits)}`,
      { option: names.avg },
    );
  }
  return Math.min(maxBits, Math.max(MIN_AVG_BITS, avgBits));
}

/** Validates a bitwidth bound (1..8). */
export function checkMaxBits(maxBits: number, option = 'maxBits'): number {
  if (!Number.isInteger(maxBits) || maxBits < 1 || maxBits > MAX_SUPPORTED_BITS) {
    fail(ErrorCodes.INVALID_OPTION, `${option} must be an integer from 1 to ${MAX_SUPPORTED_BITS}, got ${String(maxBits)}`, {
      option,
    });
  }
  return maxBits;
}

/** Checks that an output buffer supplied by the caller has the tensor's length. */
export function checkOut<T extends { length: number }>(out: T | undefined, length: number, option: string): T | undefined {
  if (out !== undefined && out.length !== length) {
    fail(ErrorCodes.INVALID_OPTION, `${option} has length ${out.length}, expected ${length}`, { option });
  }
  return out;
}
