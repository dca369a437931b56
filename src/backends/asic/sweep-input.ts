/**
 * Optional accuracy-vs-bits results shown in the ASIC report. Two shapes are accepted:
 * - `{ "results": [{ "heuristic": "middle-out", "avgBits": 1.4, "top1": 0.81 }, ...] }`
 * - the `hbnn-sweep/1` JSON that `sweep` (src/drivers/sweep.ts) produces (`points` with
 *   `heuristic`, `avgWeightBits`, `top1`; the float model's top-1 is kept as a reference).
 * top1 is a fraction in [0, 1]. Anything else is an INVALID_OPTION error naming the entry.
 */
import { fail, ErrorCodes } from '../../errors.js';

export interface SweepEntry {
  heuristic: string;
  avgBits: number;
  top1: number;
}

export interface SweepInput {
  results: SweepEntry[];
  /** Top-1 of the float model, when the input had it. */
  floatTop1?: number;
}

function bad(where: string, message: string): never {
  return fail(ErrorCodes.INVALID_OPTION, `sweep results: ${where} ${message}`, { option: 'sweep' });
}

function entry(raw: unknown, i: number, bitsKey: 'avgBits' | 'avgWeightBits'): SweepEntry {
  const where = `entry ${i}`;
  if (typeof raw !== 'object' || raw === null) bad(where, 'must be an object');
  const r = raw as Record<string, unknown>;
  const heuristic = r['heuristic'];
  const bits = r[bitsKey];
  const top1 = r['top1'];
  if (typeof heuristic !== 'string' || heuristic === '') bad(where, `needs a string "heuristic", got ${JSON.stringify(heuristic)}`);
  if (typeof bits !== 'number' || !Number.isFinite(bits) || bits <= 0) bad(where, `needs a finite "${bitsKey}" > 0, got ${JSON.stringify(bits)}`);
  if (typeof top1 !== 'number' || !Number.isFinite(top1) || top1 < 0 || top1 > 1) bad(where, `needs "top1" as a fraction in [0, 1], got ${JSON.stringify(top1)}`);
  return { heuristic, avgBits: bits, top1 };
}

/** Validates parsed sweep JSON into the report's form. */
export function parseSweepInput(raw: unknown): SweepInput {
  if (typeof raw !== 'object' || raw === null) bad('the input', 'must be a JSON object with "results" (or an hbnn-sweep/1 "points" list)');
  const r = raw as Record<string, unknown>;
  if (Array.isArray(r['results'])) return { results: r['results'].map((e, i) => entry(e, i, 'avgBits')) };
  if (Array.isArray(r['points'])) {
    const f = r['float'] as { top1?: unknown } | null | undefined;
    const floatTop1 = f && typeof f.top1 === 'number' && Number.isFinite(f.top1) ? f.top1 : undefined;
    return { results: r['points'].map((e, i) => entry(e, i, 'avgWeightBits')), ...(floatTop1 !== undefined ? { floatTop1 } : {}) };
  }
  return bad('the input', 'has neither a "results" nor a "points" list');
}
