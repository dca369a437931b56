/**
 * Running yosys (Debian's `yosys`, 0.23 or later) on a set of Verilog files: one run per top
 * module, in a temporary folder that holds the sources and any memory-initialisation files
 * (`$readmemh` paths are relative to it). A run writes `stat -json` and, optionally, the
 * longest topological path (`ltp`) to files yosys itself creates; nothing is written
 * anywhere else, and the folder is removed on every exit path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../../errors.js';
import { runTool } from '../../util/exec.js';
import { makeTempDir } from '../../util/temp.js';

/** The Debian package that installs yosys. */
export const YOSYS_PACKAGE = 'yosys';

/** The yosys program: $YOSYS, else `yosys` on PATH. */
export function defaultYosys(): string {
  return process.env['YOSYS'] || 'yosys';
}

const versions = new Map<string, string>();

/** `yosys -V` ("Yosys 0.23 (git sha1 …)"). TOOLCHAIN naming the Debian package if the program is missing. */
export async function yosysVersion(yosys = defaultYosys(), timeoutMs = 60_000): Promise<string> {
  const hit = versions.get(yosys);
  if (hit) return hit;
  const r = await runTool(yosys, ['-V'], process.cwd(), timeoutMs);
  if (r.missing) missingYosys(yosys);
  if (r.code !== 0) fail(ErrorCodes.TOOLCHAIN, `"${yosys} -V" exited ${r.code}: ${(r.stderr || r.stdout).trim()}`, { tool: yosys });
  const v = r.stdout.trim().split('\n')[0]!;
  versions.set(yosys, v);
  return v;
}

function missingYosys(yosys: string): never {
  return fail(
    ErrorCodes.TOOLCHAIN,
    `yosys ("${yosys}") not found: install the Debian package ${YOSYS_PACKAGE} (apt-get install ${YOSYS_PACKAGE}), or set $YOSYS to a yosys program`,
    { tool: yosys, package: YOSYS_PACKAGE },
  );
}

/** What one yosys run returns: the parsed `stat -json` and the `ltp` length, if asked. */
export interface YosysRunResult {
  /** Cell counts by type of the top module (after flattening, the whole design). */
  cellsByType: Record<string, number>;
  /** Cell counts by type of every module of the netlist, by yosys's module name (e.g. `$paramod$…\\unit`); a hierarchical netlist's modules list their submodule instances as cells. */
  modules: Record<string, Record<string, number>>;
  /** Longest topological path in cells (ltp, after removing the sequential cells), if asked: the longest of any module. */
  depth?: number;
  /** The same per module (a hierarchical netlist's paths end at module ports). */
  moduleDepths?: Record<string, number>;
  /** Warnings yosys printed. */
  warnings: string[];
  seconds: number;
  /** The files of `spec.outputs` yosys wrote (e.g. a gate-level netlist), by name. */
  outputs: Map<string, string>;
}

export interface YosysRunSpec {
  /** Source files by relative name (Verilog: .v, .sv; RTLIL: .il; anything else, e.g. .hex/.mem, is written beside them but not read). */
  files: ReadonlyMap<string, string | Uint8Array>;
  /** The top module of this run. */
  top: string;
  /** Modules to keep as black boxes (their contents dropped before elaboration; instances stay as cells of that type). */
  blackbox?: readonly string[];
  /** Commands before reading the sources. */
  before?: readonly string[];
  /** Parameter overrides of the top module (chparam). */
  params?: Readonly<Record<string, number | string>>;
  /** Synthesis commands after reading and elaborating (e.g. ["synth_xilinx -flatten -noiopad -top X"]). */
  synth: readonly string[];
  /** Cell types to delete before ltp (the sequential cells, so that paths end at registers); undefined = no ltp. */
  depthCutTypes?: readonly string[];
  /** Commands before ltp (e.g. `read_liberty -lib`, which gives ltp the library cells' port directions). */
  beforeDepth?: readonly string[];
  yosys: string;
  timeoutMs: number;
  /** What the run is, for messages ("unit mvau_0 (xilinx)"). */
  what: string;
  /** Commands after the statistics (e.g. `write_verilog -noattr netlist.v`). */
  after?: readonly string[];
  /** Files those commands write inside the run folder, read back into the result (TOOLCHAIN if one is missing). */
  outputs?: readonly string[];
}

/** A file name safe to write inside the run folder (no absolute paths, no ..). */
function safeName(name: string): string {
  const n = path.normalize(name);
  if (path.isAbsolute(n) || n.startsWith('..') || n === '.' || n === '') {
    fail(ErrorCodes.INTERNAL, `synthesis source name ${JSON.stringify(name)} is not a relative path inside the design`, { file: name });
  }
  return n;
}

const quote = (s: string): string => (/^[A-Za-z0-9_./+-]+$/.test(s) ? s : `"${s.replace(/(["\\])/g, '\\$1')}"`);

/** A Verilog number: decimal, or sized/based (8'h3C, 64'sd5, 'b101). */
const VERILOG_NUMBER = /^(?:-?\d+|\d*'[sS]?[bodhBODH][0-9a-fA-FxXzZ_?]+)$/;

/**
 * A chparam value: numbers and strings that are Verilog numbers as they are (yosys parses
 * them as constants), any other string in double quotes (a string constant, e.g. a file name).
 * A quoted "8'h3C" would be the 5-character string, and "2" the byte 50.
 */
function paramValue(v: number | string): string {
  if (typeof v === 'number') return String(v);
  return VERILOG_NUMBER.test(v) ? v : JSON.stringify(v);
}

/** The yosys script of a run (also shown in reports). */
export function yosysScript(spec: Pick<YosysRunSpec, 'files' | 'top' | 'before' | 'blackbox' | 'params' | 'synth' | 'depthCutTypes' | 'beforeDepth' | 'after'>): string[] {
  const lines: string[] = [...(spec.before ?? [])];
  const sources = [...spec.files.keys()].filter((f) => /\.(s?v|il)$/.test(f)).sort();
  for (const f of sources) lines.push(f.endsWith('.il') ? `read_rtlil ${quote(safeName(f))}` : `read_verilog ${f.endsWith('.sv') ? '-sv ' : ''}-I . ${quote(safeName(f))}`);
  if (spec.blackbox?.length) lines.push(`blackbox ${spec.blackbox.map(quote).join(' ')}`);
  for (const [k, v] of Object.entries(spec.params ?? {})) lines.push(`chparam -set ${k} ${paramValue(v)} ${quote(spec.top)}`);
  lines.push(`hierarchy -check -top ${quote(spec.top)}`);
  lines.push(...spec.synth);
  lines.push('tee -q -o stat.json stat -json');
  lines.push(...(spec.after ?? []));
  if (spec.depthCutTypes) {
    lines.push(...(spec.beforeDepth ?? []));
    const cut = spec.depthCutTypes.map((t) => `t:${t}`).join(' ');
    if (cut) lines.push(`delete ${cut}`);
    lines.push('tee -q -o ltp.txt ltp -noff');
  }
  return lines;
}

/** yosys's own error lines (ERROR: and what follows), or its last lines when it printed none. */
function yosysMessage(stdout: string, stderr: string): string {
  const all = `${stderr}\n${stdout}`;
  const i = all.indexOf('ERROR:');
  if (i >= 0) return all.slice(all.lastIndexOf('\n', i) + 1).split('\n').filter((l) => l.trim() !== '').slice(0, 12).join('\n');
  return all.split('\n').filter((l) => l.trim() !== '').slice(-12).join('\n');
}

/** Runs yosys once. TOOLCHAIN on a missing yosys (naming the Debian package), a timeout, or a failed synthesis (with yosys's message). */
export async function runYosys(spec: YosysRunSpec): Promise<YosysRunResult> {
  const temp = makeTempDir('hbnn-synth-');
  try {
    const dir = temp.path;
    for (const [name, data] of spec.files) {
      const file = path.join(dir, safeName(name));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
    }
    const script = yosysScript(spec);
    fs.writeFileSync(path.join(dir, 'run.ys'), script.join('\n') + '\n');
    const t0 = performance.now();
    const r = await runTool(spec.yosys, ['-q', '-s', 'run.ys'], dir, spec.timeoutMs);
    const seconds = (performance.now() - t0) / 1000;
    if (r.missing) missingYosys(spec.yosys);
    if (r.timedOut) fail(ErrorCodes.TOOLCHAIN, `yosys timed out after ${Math.round(spec.timeoutMs / 1000)} s on ${spec.what}`, { tool: spec.yosys, module: spec.top });
    if (r.code !== 0) {
      fail(ErrorCodes.TOOLCHAIN, `yosys failed on ${spec.what} (exit ${r.code}):\n${yosysMessage(r.stdout, r.stderr)}`, { tool: spec.yosys, module: spec.top });
    }
    const statFile = path.join(dir, 'stat.json');
    if (!fs.existsSync(statFile)) fail(ErrorCodes.TOOLCHAIN, `yosys wrote no statistics for ${spec.what}:\n${yosysMessage(r.stdout, r.stderr)}`, { tool: spec.yosys, module: spec.top });
    const stat = fs.readFileSync(statFile, 'utf8');
    const cellsByType = parseStatJson(stat, spec.top);
    const modules = parseStatModules(stat);
    let depth: number | undefined;
    let moduleDepths: Record<string, number> | undefined;
    if (spec.depthCutTypes) {
      const ltp = path.join(dir, 'ltp.txt');
      if (fs.existsSync(ltp)) {
        const text = fs.readFileSync(ltp, 'utf8');
        depth = parseLtp(text);
        moduleDepths = parseLtpModules(text);
      }
    }
    const warnings = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => l.startsWith('Warning:'));
    const outputs = new Map<string, string>();
    for (const name of spec.outputs ?? []) {
      const f = path.join(dir, safeName(name));
      if (!fs.existsSync(f)) fail(ErrorCodes.TOOLCHAIN, `yosys wrote no ${name} for ${spec.what}:\n${yosysMessage(r.stdout, r.stderr)}`, { tool: spec.yosys, module: spec.top });
      outputs.set(name, fs.readFileSync(f, 'utf8'));
    }
    return { cellsByType, modules, ...(depth !== undefined ? { depth } : {}), ...(moduleDepths ? { moduleDepths } : {}), warnings, seconds, outputs };
  } finally {
    temp.dispose();
  }
}

/**
 * Cell counts by type from `stat -json` output: the design totals (`design.num_cells_by_type`,
 * which counts submodule cells once per instance), else the top module's.
 */
export function parseStatJson(text: string, top: string): Record<string, number> {
  let j: { modules?: Record<string, { num_cells_by_type?: Record<string, number> }>; design?: { num_cells_by_type?: Record<string, number> } };
  try {
    j = statJson(text) as typeof j;
  } catch (e) {
    return fail(ErrorCodes.TOOLCHAIN, `yosys's stat -json output is not JSON: ${(e as Error).message}`, { module: top });
  }
  const design = j.design?.num_cells_by_type;
  const mod = j.modules?.[`\\${top}`]?.num_cells_by_type ?? j.modules?.[top]?.num_cells_by_type;
  const byType = design ?? mod;
  if (!byType) return {};
  const out: Record<string, number> = {};
  for (const k of Object.keys(byType).sort()) out[k.replace(/^\\/, '')] = byType[k]!;
  return out;
}

/**
 * `stat -json` output parsed. yosys 0.23 also prints the text form of the submodule tree
 * (`   $paramod$…\\hbnn_ram      1`) into it when a design's modules have submodules of their
 * own (a hierarchy two levels deep); those lines, which are not JSON, are dropped.
 */
function statJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const kept = text.split('\n').filter((l) => /^\s*(["{}[\]]|$)/.test(l));
    if (kept.length === text.split('\n').length) throw e;
    return JSON.parse(kept.join('\n'));
  }
}

/** Cell counts by type of every module in `stat -json` output, by module name (without yosys's leading backslash). */
export function parseStatModules(text: string): Record<string, Record<string, number>> {
  let j: { modules?: Record<string, { num_cells_by_type?: Record<string, number> }> };
  try {
    j = statJson(text) as typeof j;
  } catch {
    return {};
  }
  const out: Record<string, Record<string, number>> = {};
  for (const [name, m] of Object.entries(j.modules ?? {})) {
    const cells: Record<string, number> = {};
    for (const k of Object.keys(m.num_cells_by_type ?? {}).sort()) cells[k.replace(/^\\/, '')] = m.num_cells_by_type![k]!;
    out[name.replace(/^\\/, '')] = cells;
  }
  return out;
}

/** The longest path of each module from `ltp` output, by module name. */
export function parseLtpModules(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/Longest topological path in (\S+) \(length=(\d+)\)/g)) out[m[1]!.replace(/^\\/, '')] = Number(m[2]);
  return out;
}

/**
 * The netlist module that is `module` in a hierarchical run: `module` itself, or the one
 * derived from it with parameters (`$paramod\module\P=…` or `$paramod$<hash>\module`); undefined
 * if none or several (a generic module instantiated with different parameters).
 */
export function netlistModule(names: Iterable<string>, module: string): string | undefined {
  const hits = [...names].filter((n) => n === module || (n.startsWith('$paramod') && (n.endsWith(`\\${module}`) || n.includes(`\\${module}\\`))));
  return hits.length === 1 ? hits[0] : undefined;
}

/** The length of the longest path from `ltp` output ("Longest topological path in M (length=N):"), the largest if several modules. */
export function parseLtp(text: string): number | undefined {
  let best: number | undefined;
  for (const m of text.matchAll(/Longest topological path in \S+ \(length=(\d+)\)/g)) best = Math.max(best ?? 0, Number(m[1]));
  return best;
}
