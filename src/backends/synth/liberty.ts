/**
 * A reader for the parts of a Liberty (.lib) standard-cell library that synthesis reports
 * need: each cell's area, whether it is sequential (a `ff` or `latch` group), its leakage,
 * its mean internal switching energy (the mean of its `rise_power` / `fall_power` table
 * values), and per pin its direction, input capacitance and `internal_power` tables (what the
 * switching-activity power estimate of power.ts prices toggles with). Not a general Liberty
 * parser: it scans `cell (NAME) { ... }` and `pin (NAME) { ... }` groups by brace depth.
 */
import * as fs from 'node:fs';
import { fail, ErrorCodes } from '../../errors.js';

/** Where Debian's qflow-tech-osu018 installs the OSU 0.18 µm library (`dpkg -L qflow-tech-osu018`). */
export const DEFAULT_LIBERTY = '/usr/share/qflow/tech/osu018/osu018_stdcells.lib';
/** The Debian package that installs DEFAULT_LIBERTY. */
export const DEFAULT_LIBERTY_PACKAGE = 'qflow-tech-osu018';

export interface LibertyCell {
  name: string;
  /** Cell area in the library's area unit (µm² for OSU018). */
  area: number;
  /** A flip-flop or latch. */
  sequential: boolean;
  /** cell_leakage_power in the library's leakage unit. */
  leakage: number;
  /** Mean of the cell's internal-power table values (energy per transition, library units), 0 if none. */
  meanInternalEnergy: number;
  /** The cell's pins by name. */
  pins: Map<string, LibertyPin>;
}

/** A lookup table of an `internal_power` group: values[i][j] at (index1[i], index2[j]), `variables` from its template. */
export interface LibertyTable {
  /** The template's variable_1 and variable_2 (e.g. total_output_net_capacitance, input_transition_time); empty if the template is unknown. */
  variables: string[];
  index1: number[];
  index2?: number[];
  values: number[][];
}

/** One `internal_power` group of a pin: energy per transition of the pin (output pins: per output rise/fall, `related` the input that caused it). */
export interface LibertyPower {
  related?: string;
  rise?: LibertyTable;
  fall?: LibertyTable;
}

export interface LibertyPin {
  name: string;
  direction: 'input' | 'output' | 'inout' | 'internal';
  /** Input capacitance (library capacitance unit), 0 for outputs. */
  capacitance: number;
  /** The output's Boolean function, as written. */
  function?: string;
  power: LibertyPower[];
}

export interface Liberty {
  file: string;
  /** The `library (NAME)` name. */
  name: string;
  cells: Map<string, LibertyCell>;
  /** leakage_power_unit as written ("1nW"), if any. */
  leakageUnit?: string;
  /** nom_voltage, if any. */
  voltage?: number;
  /** capacitive_load_unit in farads (1e-12 for `(1,pf)`), if given. */
  capacitanceUnitF?: number;
}

/** Resolves the Liberty file to use: `file` if given (FILE_NOT_FOUND if absent), else DEFAULT_LIBERTY (TOOLCHAIN naming its Debian package if absent). */
export function resolveLiberty(file?: string, defaultFile = DEFAULT_LIBERTY): string {
  if (file !== undefined) {
    if (!fs.existsSync(file)) fail(ErrorCodes.FILE_NOT_FOUND, `Liberty file ${file} not found`, { file, option: 'liberty' });
    return file;
  }
  if (!fs.existsSync(defaultFile)) {
    fail(
      ErrorCodes.TOOLCHAIN,
      `the default standard-cell library ${defaultFile} is not installed: install the Debian package ${DEFAULT_LIBERTY_PACKAGE} (apt-get install ${DEFAULT_LIBERTY_PACKAGE}) or give a Liberty file with --liberty FILE`,
      { file: defaultFile, package: DEFAULT_LIBERTY_PACKAGE },
    );
  }
  return defaultFile;
}

/** Index just past the `}` that closes the `{` at `open`. */
function groupEnd(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return text.length;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\\\r?\n/g, ' ');
}

/** Mean of the numbers in the `values ( "..." )` lists of the rise_power/fall_power groups of `body`. */
function meanEnergy(body: string): number {
  let sum = 0;
  let n = 0;
  const group = /(rise_power|fall_power)\s*\([^)]*\)\s*\{/g;
  let m: RegExpExecArray | null;
  while ((m = group.exec(body))) {
    const end = groupEnd(body, m.index + m[0].length - 1);
    const inner = body.slice(m.index, end);
    const vals = /values\s*\(([^)]*)\)/.exec(inner);
    if (!vals) continue;
    for (const t of vals[1]!.replace(/"/g, ' ').split(/[\s,]+/)) {
      if (t === '') continue;
      const v = Number(t);
      if (Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
  }
  return n > 0 ? sum / n : 0;
}

function numbers(list: string): number[] {
  return list
    .replace(/["\\]/g, ' ')
    .split(/[\s,]+/)
    .filter((t) => t !== '')
    .map(Number)
    .filter((v) => Number.isFinite(v));
}

/** The `power_lut_template (NAME) { variable_1 : …; variable_2 : … }` groups: name → variables. */
function templates(src: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const head = /\b(?:power_lut_template|lu_table_template)\s*\(\s*"?([^)"\s]+)"?\s*\)\s*\{/g;
  let m: RegExpExecArray | null;
  while ((m = head.exec(src))) {
    const body = src.slice(m.index, groupEnd(src, m.index + m[0].length - 1));
    const vars = [1, 2, 3].map((k) => new RegExp(`variable_${k}\\s*:\\s*"?([A-Za-z_]+)`).exec(body)?.[1]).filter((v): v is string => v !== undefined);
    out.set(m[1]!, vars);
  }
  return out;
}

function table(group: string, template: string, tpl: Map<string, string[]>): LibertyTable | undefined {
  const vals = /values\s*\(([^)]*)\)/.exec(group);
  if (!vals) return undefined;
  const i1 = /index_1\s*\(([^)]*)\)/.exec(group);
  const i2 = /index_2\s*\(([^)]*)\)/.exec(group);
  const rows = [...vals[1]!.matchAll(/"([^"]*)"/g)].map((r) => numbers(r[1]!));
  const values = rows.length > 0 ? rows : [numbers(vals[1]!)];
  const index1 = i1 ? numbers(i1[1]!) : [];
  const index2 = i2 ? numbers(i2[1]!) : undefined;
  // a 1-D table is written as one row of index_1 values; a scalar as one value
  const t: LibertyTable = { variables: tpl.get(template) ?? [], index1, values: index2 ? values : [values.flat()] };
  if (index2) t.index2 = index2;
  return t;
}

/** The `pin (NAME) { … }` groups of a cell body. */
function pins(body: string, tpl: Map<string, string[]>): Map<string, LibertyPin> {
  const out = new Map<string, LibertyPin>();
  const head = /\bpin\s*\(\s*"?([^)"\s]+)"?\s*\)\s*\{/g;
  let m: RegExpExecArray | null;
  while ((m = head.exec(body))) {
    const end = groupEnd(body, m.index + m[0].length - 1);
    const pb = body.slice(m.index + m[0].length, end - 1);
    const dir = /\bdirection\s*:\s*"?(input|output|inout|internal)/.exec(pb);
    const cap = /\bcapacitance\s*:\s*([-+0-9.eE]+)/.exec(pb);
    const fn = /\bfunction\s*:\s*"([^"]*)"/.exec(pb);
    const power: LibertyPower[] = [];
    const ip = /\binternal_power\s*\([^)]*\)\s*\{/g;
    let g: RegExpExecArray | null;
    while ((g = ip.exec(pb))) {
      const gEnd = groupEnd(pb, g.index + g[0].length - 1);
      const gb = pb.slice(g.index, gEnd);
      const p: LibertyPower = {};
      const rel = /related_pin\s*:\s*"?([^";\s]+)"?/.exec(gb);
      if (rel) p.related = rel[1]!;
      for (const kind of ['rise', 'fall'] as const) {
        const tg = new RegExp(`\\b${kind}_power\\s*\\(\\s*"?([^)"\\s]*)"?\\s*\\)\\s*\\{`).exec(gb);
        if (!tg) continue;
        const t = table(gb.slice(tg.index, groupEnd(gb, tg.index + tg[0].length - 1)), tg[1]!, tpl);
        if (t) p[kind] = t;
      }
      power.push(p);
      ip.lastIndex = gEnd;
    }
    out.set(m[1]!, {
      name: m[1]!,
      direction: (dir?.[1] ?? 'input') as LibertyPin['direction'],
      capacitance: cap ? Number(cap[1]) : 0,
      ...(fn ? { function: fn[1]! } : {}),
      power,
    });
    head.lastIndex = end;
  }
  return out;
}

function interp(xs: readonly number[], x: number): [number, number, number] {
  if (xs.length <= 1) return [0, 0, 0];
  if (x <= xs[0]!) return [0, 0, 0];
  const last = xs.length - 1;
  if (x >= xs[last]!) return [last, last, 0];
  let i = 0;
  while (x > xs[i + 1]!) i++;
  return [i, i + 1, (x - xs[i]!) / (xs[i + 1]! - xs[i]!)];
}

/**
 * A table's value at an output load (library capacitance unit) and an input transition (time
 * unit): linear interpolation along each index, clamped to the table's range (no extrapolation).
 * Variables are read from the table's template; without one, a 2-D table is (load, transition)
 * and a 1-D table (transition).
 */
export function lookupTable(t: LibertyTable, load: number, transition: number): number {
  const arg = (v: string | undefined, dflt: number): number => (v === undefined ? dflt : /capacitance/.test(v) ? load : /transition/.test(v) ? transition : dflt);
  const twoD = t.index2 !== undefined;
  const x1 = arg(t.variables[0], twoD ? load : transition);
  const [a, b, f] = interp(t.index1, x1);
  const row = (r: number[]): number => {
    if (!twoD) {
      if (r.length === 1) return r[0]!;
      return r[a]! + f * (r[b]! - r[a]!);
    }
    const [c, d, g] = interp(t.index2!, arg(t.variables[1], transition));
    return r[c]! + g * (r[d]! - r[c]!);
  };
  if (!twoD) return row(t.values[0]!);
  const ra = row(t.values[a] ?? t.values[0]!);
  const rb = row(t.values[b] ?? t.values[0]!);
  return ra + f * (rb - ra);
}

/** Parses Liberty text. DATA_FORMAT if it holds no cell with an area. */
export function parseLiberty(text: string, file = '<text>'): Liberty {
  const src = stripComments(text);
  const tpl = templates(src);
  const lib = /library\s*\(\s*"?([^)"\s]+)"?\s*\)/.exec(src);
  const cells = new Map<string, LibertyCell>();
  const head = /\bcell\s*\(\s*"?([^)"\s]+)"?\s*\)\s*\{/g;
  let m: RegExpExecArray | null;
  while ((m = head.exec(src))) {
    const open = m.index + m[0].length - 1;
    const end = groupEnd(src, open);
    const body = src.slice(open, end);
    const area = /\barea\s*:\s*([-+0-9.eE]+)/.exec(body);
    const leak = /cell_leakage_power\s*:\s*([-+0-9.eE]+)/.exec(body);
    cells.set(m[1]!, {
      name: m[1]!,
      area: area ? Number(area[1]) : 0,
      sequential: /\b(ff|latch|ff_bank|latch_bank|statetable)\s*\(/.test(body),
      leakage: leak ? Number(leak[1]) : 0,
      meanInternalEnergy: meanEnergy(body),
      pins: pins(body, tpl),
    });
    head.lastIndex = end;
  }
  if (![...cells.values()].some((c) => c.area > 0)) {
    fail(ErrorCodes.DATA_FORMAT, `${file} is not a Liberty library: no cell with an area`, { file, option: 'liberty' });
  }
  const unit = /leakage_power_unit\s*:\s*"?([^";\s]+)"?/.exec(src);
  const volt = /nom_voltage\s*:\s*([0-9.eE+-]+)/.exec(src);
  const capUnit = /capacitive_load_unit\s*\(\s*([0-9.eE+-]+)\s*,\s*"?(ff|pf|nf|uf|f)"?\s*\)/i.exec(src);
  const capScale: Record<string, number> = { ff: 1e-15, pf: 1e-12, nf: 1e-9, uf: 1e-6, f: 1 };
  return {
    file,
    name: lib ? lib[1]! : '',
    cells,
    ...(unit ? { leakageUnit: unit[1]! } : {}),
    ...(volt ? { voltage: Number(volt[1]) } : {}),
    ...(capUnit ? { capacitanceUnitF: Number(capUnit[1]) * capScale[capUnit[2]!.toLowerCase()]! } : {}),
  };
}

const cache = new Map<string, Liberty>();

/** Reads and parses a Liberty file (cached by path). */
export function loadLiberty(file: string): Liberty {
  const hit = cache.get(file);
  if (hit) return hit;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return fail(ErrorCodes.FILE_READ, `cannot read Liberty file ${file}: ${(e as Error).message}`, { file, option: 'liberty' }, e);
  }
  const lib = parseLiberty(text, file);
  cache.set(file, lib);
  return lib;
}
