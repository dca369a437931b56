/**
 * Technology files for the ASIC cost model: what one unit of each kind costs in area and
 * energy, the clock, and how far each layer's hardware is folded.
 *
 * A technology file is JSON (see docs/backend-asic.md):
 *
 *     { "name": "...", "node": "28nm", "clockMhz": 200, "voltage": 0.9, "foldCycles": 58824,
 *       "area":   { "xnorPopcountLane": µm², "adderTreeBit": µm², "accumulatorBit": µm²,
 *                   "comparatorBit": µm², "sramBit": µm² },
 *       "energy": { the same five keys, pJ per operation (sramBit: per bit read) },
 *       "leakageWPerMm2": W per mm² }
 *
 * Every field is required; numbers must be finite and >= 0 (clockMhz, voltage and
 * foldCycles > 0, foldCycles an integer). Unknown fields are refused so that a misspelt
 * field is not silently replaced by nothing; keys starting with `$` (e.g. `$comment`) are
 * allowed anywhere and ignored.
 */
import { fail, ErrorCodes } from '../../errors.js';
import { readFileChecked } from '../../util/fs.js';
import { unreachable } from '../../bitir/types.js';

/** The unit kinds every technology prices, in report order. */
export const UNIT_KINDS = ['xnorPopcountLane', 'adderTreeBit', 'accumulatorBit', 'comparatorBit', 'sramBit'] as const;
export type UnitKind = (typeof UNIT_KINDS)[number];
export type UnitCosts = Record<UnitKind, number>;

export interface AsicTech {
  /** Short identifier shown in reports. */
  name: string;
  /** Process node, free text ("28nm"). */
  node: string;
  /** Clock of every layer unit, MHz. */
  clockMhz: number;
  /** Supply voltage the energies were characterized at, V (reported; energies are not rescaled). */
  voltage: number;
  /**
   * Folding: clock cycles each layer's unit may spend per frame. A layer that needs L
   * lane-operations per frame gets ceil(L / foldCycles) physical xnor-popcount lanes, so
   * the pipeline delivers clockMhz·1e6 / foldCycles frames per second.
   */
  foldCycles: number;
  /** Area per unit, µm². */
  area: UnitCosts;
  /** Dynamic energy per unit operation, pJ (sramBit: per bit read). */
  energy: UnitCosts;
  /** Static power per mm² of the whole design, W/mm². */
  leakageWPerMm2: number;
}

/**
 * The default technology: relative unit costs of a generic 28-nm-class library
 * (BASE_UNIT_COSTS), with a common area factor (7.405), a common energy factor (46.72)
 * and the folding (200 MHz / 3.4 kFPS) fitted
 * so that FINN's CNV at homogeneous W2A2 (weights and activations 2 bits, 8-bit input
 * pixels) gives the paper's ASIC baseline (Table 2 row 3: 6.06 mm², 0.38 W, 3.4 kFPS).
 * `bench/asic-calibrate.mjs` recomputes these numbers; docs/backend-asic.md explains them.
 */
export const DEFAULT_TECH: Readonly<AsicTech> = Object.freeze({
  name: 'hbnn-default',
  node: '28-nm-class relative costs, scale fitted to HBNN Table 2 row 3',
  clockMhz: 200,
  voltage: 0.9,
  foldCycles: 58824,
  area: Object.freeze({ xnorPopcountLane: 4.443, adderTreeBit: 11.11, accumulatorBit: 25.92, comparatorBit: 7.405, sramBit: 1.851 }),
  energy: Object.freeze({ xnorPopcountLane: 0.04672, adderTreeBit: 0.09344, accumulatorBit: 0.1869, comparatorBit: 0.04672, sramBit: 0.2336 }),
  leakageWPerMm2: 0.01,
}) as Readonly<AsicTech>;

/**
 * The uncalibrated per-unit costs the default was scaled from (28-nm-class estimates:
 * XNOR2 + mask AND per lane, a full adder per adder-tree bit, full adder + flip-flop per
 * accumulator bit, one comparator bit, a 6T cell with periphery per SRAM bit). Exported
 * for the calibration script and the documentation.
 */
export const BASE_UNIT_COSTS: Readonly<{ area: UnitCosts; energy: UnitCosts }> = Object.freeze({
  area: Object.freeze({ xnorPopcountLane: 0.6, adderTreeBit: 1.5, accumulatorBit: 3.5, comparatorBit: 1.0, sramBit: 0.25 }),
  energy: Object.freeze({ xnorPopcountLane: 0.001, adderTreeBit: 0.002, accumulatorBit: 0.004, comparatorBit: 0.001, sramBit: 0.005 }),
});

type Where = { source: string };

function invalid(where: Where, field: string, message: string): never {
  return fail(ErrorCodes.INVALID_OPTION, `technology ${where.source}: field ${field} ${message}`, {
    option: 'tech',
    field,
    ...(where.source !== '<object>' ? { file: where.source } : {}),
  });
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], prefix: string, where: Where): void {
  for (const k of Object.keys(obj)) {
    if (k.startsWith('$')) continue;
    if (!allowed.includes(k)) invalid(where, `${prefix}${k}`, `is not a technology field (expected one of: ${allowed.join(', ')})`);
  }
}

function numberField(obj: Record<string, unknown>, key: string, prefix: string, where: Where, rule: 'nonneg' | 'positive' | 'positive-integer'): number {
  const field = `${prefix}${key}`;
  if (!(key in obj)) invalid(where, field, 'is missing');
  const v = obj[key];
  if (typeof v !== 'number') invalid(where, field, `must be a number, got ${JSON.stringify(v)}`);
  if (!Number.isFinite(v)) invalid(where, field, `must be finite, got ${String(v)}`);
  switch (rule) {
    case 'nonneg':
      if (v < 0) invalid(where, field, `must be >= 0, got ${v}`);
      break;
    case 'positive':
      if (v <= 0) invalid(where, field, `must be > 0, got ${v}`);
      break;
    case 'positive-integer':
      if (v <= 0 || !Number.isInteger(v)) invalid(where, field, `must be a positive integer, got ${v}`);
      break;
    default:
      return unreachable(rule, 'number rule');
  }
  return v;
}

function stringField(obj: Record<string, unknown>, key: string, where: Where): string {
  if (!(key in obj)) invalid(where, key, 'is missing');
  const v = obj[key];
  if (typeof v !== 'string' || v.length === 0) invalid(where, key, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function unitCosts(obj: Record<string, unknown>, key: 'area' | 'energy', where: Where): UnitCosts {
  if (!(key in obj)) invalid(where, key, 'is missing');
  const sub = obj[key];
  if (!isPlainObject(sub)) invalid(where, key, `must be an object with fields ${UNIT_KINDS.join(', ')}`);
  checkKeys(sub, UNIT_KINDS, `${key}.`, where);
  const out = {} as UnitCosts;
  for (const u of UNIT_KINDS) out[u] = numberField(sub, u, `${key}.`, where, 'nonneg');
  return out;
}

const TOP_FIELDS = ['name', 'node', 'clockMhz', 'voltage', 'foldCycles', 'area', 'energy', 'leakageWPerMm2'] as const;

/**
 * Validates a parsed technology object. Every problem is an INVALID_OPTION error whose
 * message and `context.field` name the field (`area.sramBit`, `clockMhz`, ...).
 */
export function parseTech(raw: unknown, source = '<object>'): AsicTech {
  const where = { source };
  if (!isPlainObject(raw)) {
    fail(ErrorCodes.INVALID_OPTION, `technology ${source}: must be a JSON object with fields ${TOP_FIELDS.join(', ')}`, {
      option: 'tech',
      ...(source !== '<object>' ? { file: source } : {}),
    });
  }
  checkKeys(raw, TOP_FIELDS, '', where);
  return {
    name: stringField(raw, 'name', where),
    node: stringField(raw, 'node', where),
    clockMhz: numberField(raw, 'clockMhz', '', where, 'positive'),
    voltage: numberField(raw, 'voltage', '', where, 'positive'),
    foldCycles: numberField(raw, 'foldCycles', '', where, 'positive-integer'),
    area: unitCosts(raw, 'area', where),
    energy: unitCosts(raw, 'energy', where),
    leakageWPerMm2: numberField(raw, 'leakageWPerMm2', '', where, 'nonneg'),
  };
}

/** Reads and validates a technology JSON file (`--tech tech.json`). */
export function loadTechFile(file: string): AsicTech {
  const text = readFileChecked(file).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail(ErrorCodes.INVALID_OPTION, `technology ${file}: not valid JSON: ${(e as Error).message}`, { option: 'tech', file });
  }
  return parseTech(raw, file);
}

/** The default technology as the JSON a user would start a tech file from. */
export function techToJson(tech: AsicTech): string {
  return JSON.stringify(tech, null, 2) + '\n';
}
