/**
 * Per-instance synthesis of a whole design (docs/synthesis.md#per-instance-synthesis): the
 * design elaborated once (`hierarchy`, written as RTLIL), then each distinct module of the top's
 * instances synthesized out of context in a yosys run of its own (flattened below it), and the
 * top's own logic in one more run with its instances as black boxes; the totals count each
 * module's cells once per instance. Instances of the same elaborated module (same module, same
 * parameters, same memory images) are one run. A run's result is keyed by the canonical text of
 * what it synthesizes (rtlil.ts), the yosys version, the commands and the Liberty file; with a
 * cache folder, a key synthesized before (in this design or another) is read back, not rerun.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { baseModuleName, canonicalText, glueText, parseRtlil } from './rtlil.js';
import { runYosys, yosysScript, type YosysRunSpec } from './yosys.js';

/** What a run's synthesis is: the commands of a target for a top module, and what shapes its result. */
export interface InstanceRunSetup {
  target: string;
  /** The synthesis commands for a top module. */
  synth: (top: string) => string[];
  /** Black boxes kept (asic memory macros). */
  blackbox?: readonly string[];
  depthCutTypes?: readonly string[];
  beforeDepth?: readonly string[];
  yosys: string;
  version: string;
  /** Text that also keys the results (the Liberty file's contents). */
  keyExtra?: string;
  timeoutMs: number;
  /** Folder of cached run results (none: no cache). */
  cacheDir?: string;
  /** yosys runs at once (default 1). */
  jobs?: number;
  onRun?: (what: string) => void;
}

/** One out-of-context run: a module of the top's instances (or the top's own logic, `glue`). */
export interface InstanceRun {
  /** The module (its name before elaboration). */
  module: string;
  /** The top's instances of it (none for the glue). */
  instances: string[];
  glue?: true;
  /** Cell counts by type of one instance. */
  cellsByType: Record<string, number>;
  depth?: number;
  warnings: number;
  /** yosys wall seconds (of the run that produced it, when cached). */
  seconds: number;
  cached: boolean;
  /** Its cache key (sha256 of the canonical text, the commands, the yosys version). */
  key: string;
}

export interface InstanceSynthesis {
  /** Cell counts of the whole design (each instance's module counted per instance, plus the glue). */
  cellsByType: Record<string, number>;
  depth?: number;
  warnings: number;
  runs: InstanceRun[];
  /** Cell counts of the instance named `name` (`u_…`) of the top. */
  instance(name: string): { run: InstanceRun } | undefined;
  /** The elaboration run's script. */
  script: string[];
}

const AUTOIDX_FILE = 'hbnn-autoidx.rtlil';

/** The elaborated design (`hierarchy -check -top`, black boxes applied) as RTLIL. */
async function elaborate(files: ReadonlyMap<string, string | Uint8Array>, top: string, s: InstanceRunSetup): Promise<{ text: string; script: string[] }> {
  // yosys numbers its automatic names from a design-wide counter and write_rtlil sorts by name:
  // starting the counter at 10⁹ (an RTLIL `autoidx` statement; yosys 0.23 has no command for it)
  // gives every number the same digits, so a module's objects sort in the order they were made,
  // whatever was elaborated before it
  const withIdx = new Map(files);
  withIdx.set(AUTOIDX_FILE, 'autoidx 1000000000\n');
  const spec: YosysRunSpec = { files: withIdx, top, before: [`read_rtlil ${AUTOIDX_FILE}`], ...(s.blackbox ? { blackbox: s.blackbox } : {}), synth: [], after: ['write_rtlil design.il'], outputs: ['design.il'], yosys: s.yosys, timeoutMs: s.timeoutMs, what: `the design (${top}, elaboration)` };
  s.onRun?.(spec.what);
  const r = await runYosys(spec);
  return { text: r.outputs.get('design.il')!, script: yosysScript(spec) };
}

/** How a run reads what it synthesizes (part of the key): the design's Verilog, elaborated in the run, or the canonical RTLIL text. */
type RunSource = 'verilog' | 'rtlil';

/**
 * The key format: 'ooc/2' since 2026-12-07 (canonicalText orders objects without their source
 * lines and renumbers function-call variables; the root is named by its module). The key of the
 * earlier format ('ooc/1', LEGACY_KEY) is still looked up, so that results cached before read
 * back; a hit there is copied to the new key.
 */
const KEY = 'ooc/2';
const LEGACY_KEY = 'ooc/1';

function keyOf(text: string, source: RunSource, s: InstanceRunSetup, format = KEY): string {
  const h = crypto.createHash('sha256');
  for (const part of [format, source, s.version, s.target, ...s.synth('<top>'), ...(s.blackbox ?? []), ...(s.depthCutTypes ?? []), ...(s.beforeDepth ?? []), s.keyExtra ?? '', text]) h.update(part).update('\0');
  return h.digest('hex');
}

/** A module name that a yosys script can carry as one word (derived names are `$paramod$<sha1>\name` or `$paramod\name\P=<value>…`). */
const scriptWord = (name: string): string | undefined => {
  const n = name.startsWith('\\') ? name.slice(1) : name;
  return /^[^\s"#;]+$/.test(n) ? n : undefined;
};

interface Cached {
  key: string;
  cellsByType: Record<string, number>;
  depth?: number;
  warnings: number;
  seconds: number;
}

/** Synthesizes `top` of `files` instance by instance (see the file's comment). */
export async function synthesizeInstances(files: ReadonlyMap<string, string | Uint8Array>, top: string, s: InstanceRunSetup): Promise<InstanceSynthesis> {
  const { text, script } = await elaborate(files, top, s);
  const modules = parseRtlil(text);
  const topName = [...modules.keys()].find((n) => n === `\\${top}` || n === top);
  if (!topName) fail(ErrorCodes.TOOLCHAIN, `the elaborated design has no module ${top}`, { module: top });
  const topModule = modules.get(topName)!;

  // the distinct modules of the top's instances, in the order of the top's cells (by instance name)
  const jobs: { name: string; module: string; instances: string[]; glue?: true; text: string; legacyText: string; top: string; source: RunSource; stubs?: Set<string> }[] = [];
  for (const c of topModule.cells) {
    const m = modules.get(c.type);
    if (!m || m.blackbox) continue;
    const inst = c.name.replace(/^\\/, '');
    const j = jobs.find((x) => x.name === c.type);
    if (j) {
      j.instances.push(inst);
      continue;
    }
    const base = baseModuleName(c.type);
    const word = scriptWord(c.type);
    // the root is named by its module, whatever else the design holds (the other modules of the
    // text are renamed `\ooc$m…`, so the name is free)
    const text = canonicalText(modules, c.type, `\\${base}`);
    const legacyRoot = modules.has(`\\${base}`) && `\\${base}` !== c.type ? `${base}_ooc` : base;
    const legacyText = canonicalText(modules, c.type, `\\${legacyRoot}`, { legacy: true });
    // the module elaborated from the design's Verilog in the run itself, as the whole-design and
    // per-unit runs do (a round trip through RTLIL reorders yosys's objects, which moves abc's result);
    // the canonical text is the key
    jobs.push({ name: c.type, module: base, instances: [inst], text, legacyText, ...(word ? { top: word, source: 'verilog' as const } : { top: base, source: 'rtlil' as const }) });
  }
  const glue = glueText(modules, topName);
  const legacyGlue = glueText(modules, topName, { legacy: true });
  jobs.push({ name: topName, module: top, instances: [], glue: true, text: glue.text, legacyText: legacyGlue.text, top, source: 'rtlil', stubs: glue.stubs });

  const runOne = async (j: (typeof jobs)[number]): Promise<InstanceRun> => {
    const key = keyOf(j.text, j.source, s);
    const cacheFile = (k: string) => (s.cacheDir ? path.join(s.cacheDir, `ooc-${s.target}-${k.slice(0, 24)}.json`) : undefined);
    const file = cacheFile(key);
    const head = { module: j.module, instances: j.instances, ...(j.glue ? { glue: true as const } : {}), key };
    const read = (f: string | undefined, k: string): Cached | undefined => {
      if (!f || !fs.existsSync(f)) return undefined;
      try {
        const c = JSON.parse(fs.readFileSync(f, 'utf8')) as Cached;
        return c.key === k ? c : undefined;
      } catch {
        return undefined; // unreadable: synthesize again
      }
    };
    let c = read(file, key);
    if (!c && file) {
      // a result cached under the earlier key format: kept under the new key too
      const legacy = keyOf(j.legacyText, j.source, s, LEGACY_KEY);
      const old = read(cacheFile(legacy), legacy);
      if (old) {
        c = { ...old, key };
        writeFileAtomic(file, `${JSON.stringify(c)}\n`);
      }
    }
    if (c) return { ...head, cellsByType: c.cellsByType, ...(c.depth !== undefined ? { depth: c.depth } : {}), warnings: c.warnings, seconds: c.seconds, cached: true };
    const what = j.glue ? `the top's own logic (${top}, ${s.target}, instances as black boxes)` : `${j.module} (${s.target}, out of context; ${j.instances.length} instance${j.instances.length === 1 ? '' : 's'}: ${j.instances.join(', ')})`;
    s.onRun?.(what);
    const r = await runYosys({
      ...(j.source === 'verilog' ? { files, top, ...(s.blackbox ? { blackbox: s.blackbox } : {}) } : { files: new Map([['design.il', j.text]]), top: j.top }),
      synth: s.synth(j.top),
      ...(s.depthCutTypes ? { depthCutTypes: s.depthCutTypes } : {}),
      ...(s.beforeDepth ? { beforeDepth: s.beforeDepth } : {}),
      yosys: s.yosys,
      timeoutMs: s.timeoutMs,
      what,
    });
    const cellsByType: Record<string, number> = {};
    for (const [t, n] of Object.entries(r.cellsByType)) {
      // the glue's black-boxed instances are counted by their own runs
      if (j.stubs && (j.stubs.has(`\\${t}`) || j.stubs.has(t))) continue;
      cellsByType[t.startsWith('$paramod') ? baseModuleName(t) : t] = (cellsByType[t.startsWith('$paramod') ? baseModuleName(t) : t] ?? 0) + n;
    }
    const out: Cached = { key, cellsByType, ...(r.depth !== undefined ? { depth: r.depth } : {}), warnings: r.warnings.length, seconds: Math.round(r.seconds * 100) / 100 };
    if (file) writeFileAtomic(file, `${JSON.stringify(out)}\n`);
    return { ...head, cellsByType, ...(out.depth !== undefined ? { depth: out.depth } : {}), warnings: out.warnings, seconds: out.seconds, cached: false };
  };

  // the largest texts first, `jobs` runs at once; results in the order of the jobs
  const runs: InstanceRun[] = new Array(jobs.length);
  const order = jobs.map((j, i) => i).sort((a, b) => jobs[b]!.text.length - jobs[a]!.text.length || a - b);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < order.length) {
      const i = order[next++]!;
      runs[i] = await runOne(jobs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(s.jobs ?? 1, order.length)) }, worker));

  const cellsByType: Record<string, number> = {};
  let depth: number | undefined;
  let warnings = 0;
  for (const r of runs) {
    const times = r.glue ? 1 : r.instances.length;
    for (const [t, n] of Object.entries(r.cellsByType)) cellsByType[t] = (cellsByType[t] ?? 0) + n * times;
    if (r.depth !== undefined) depth = Math.max(depth ?? 0, r.depth);
    warnings += r.warnings;
  }
  const sorted: Record<string, number> = {};
  for (const k of Object.keys(cellsByType).sort()) sorted[k] = cellsByType[k]!;
  return {
    cellsByType: sorted,
    ...(depth !== undefined ? { depth } : {}),
    warnings,
    runs,
    instance: (name) => {
      const r = runs.find((x) => x.instances.includes(name));
      return r ? { run: r } : undefined;
    },
    script,
  };
}
