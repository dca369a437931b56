/**
 * A reader for the parts of a Liberty (.lib) standard-cell library that synthesis reports
 * need: each cell's area, whether it is sequential (a `ff` or `latch` group), its leakage,
 * and its mean internal switching energy (the mean of its `rise_power` / `fall_power` table
 * values). Not a general Liberty parser: it scans `cell (NAME) { ... }` groups by brace depth.
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

/** Parses Liberty text. DATA_FORMAT if it holds no cell with an area. */
export function parseLiberty(text: string, file = '<text>'): Liberty {
  const src = stripComments(text);
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
    });
    head.lastIndex = end;
  }
  if (![...cells.values()].some((c) => c.area > 0)) {
    fail(ErrorCodes.DATA_FORMAT, `${file} is not a Liberty library: no cell with an area`, { file, option: 'liberty' });
  }
  const unit = /leakage_power_unit\s*:\s*"?([^";\s]+)"?/.exec(src);
  const volt = /nom_voltage\s*:\s*([0-9.eE+-]+)/.exec(src);
  return {
    file,
    name: lib ? lib[1]! : '',
    cells,
    ...(unit ? { leakageUnit: unit[1]! } : {}),
    ...(volt ? { voltage: Number(volt[1]) } : {}),
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
