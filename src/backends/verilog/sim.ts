/**
 * RTL simulation of a generated Verilog project with Verilator: `verilator --binary` builds
 * the testbench (tb.v + sources.f, HBNN_CHECK defined) into a temporary folder, and the
 * executable runs in the project folder (the $readmemh files are relative to it). The
 * testbench prints the same summary lines as the C simulation (parseCsimSummary).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../../errors.js';
import { parseCsimSummary, type CsimSummary } from '../vivado-hls/csim.js';
import { firstLines, runTool as run } from '../../util/exec.js';
import { makeTempDir } from '../../util/temp.js';
import { SOURCES_FILE, TB_FILE, TB_MODULE } from './design.js';

export interface SimOptions {
  /** Wall-clock limit for building and for running, each (default 10 minutes). */
  timeoutMs?: number;
  /** C++ optimization of the Verilator model (default 'O1': the build dominates short runs). */
  optLevel?: 'O0' | 'O1' | 'O2' | 'O3';
  /** The verilator executable (default $VERILATOR, else `verilator`). */
  verilator?: string;
  /** Parallel C++ compile jobs (default 2). */
  jobs?: number;
}

export interface SimResult {
  /** The testbench printed PASS (every class, logit and accumulator matched). */
  ok: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
  buildMs: number;
  runMs: number;
  summary?: CsimSummary;
  /** The build command, for reports. */
  command: string;
}

/** A built testbench: run it (`runSimBuild`), then `dispose()` its temporary folder. */
export interface SimBuild {
  dir: string;
  exe: string;
  command: string;
  buildMs: number;
  timeoutMs: number;
  dispose(): void;
}

/** The Debian package that installs Verilator, for error messages. */
export const VERILATOR_PACKAGE = 'verilator';

/** Builds the testbench of the project in `dir` with Verilator. TOOLCHAIN when verilator is missing, the build fails or times out. */
export async function buildVerilatorSim(dir: string, o: SimOptions = {}): Promise<SimBuild> {
  const root = path.resolve(dir);
  for (const f of [TB_FILE, SOURCES_FILE]) {
    if (!fs.existsSync(path.join(root, f))) fail(ErrorCodes.FILE_NOT_FOUND, `${root} is not a generated Verilog project (no ${f})`, { file: path.join(root, f) });
  }
  const timeoutMs = o.timeoutMs ?? 600_000;
  const verilator = o.verilator ?? process.env['VERILATOR'] ?? 'verilator';
  const temp = makeTempDir('hbnn-rtl-');
  const dispose = (): void => temp.dispose();
  const sources = fs
    .readFileSync(path.join(root, SOURCES_FILE), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((f) => path.join(root, f));
  const opt = `-${o.optLevel ?? 'O1'}`;
  const args = [
    '--binary',
    '--timing',
    '-Wno-fatal',
    '-Wno-lint',
    '-Wno-style',
    '-DHBNN_CHECK',
    '--x-assign',
    'fast',
    '--x-initial',
    'fast',
    // Keep loops over PEs, lanes and channels rolled: a C++ model a fraction of the size,
    // built in a fraction of the time, at a small cost in simulation speed.
    '--unroll-count',
    '4',
    '--top-module',
    TB_MODULE,
    '--Mdir',
    temp.path,
    '-o',
    'sim',
    '-j',
    String(o.jobs ?? 2),
    '-CFLAGS',
    opt,
    '-MAKEFLAGS',
    `OPT_FAST=${opt} OPT_SLOW=-O0 OPT_GLOBAL=${opt}`,
    ...sources,
    path.join(root, TB_FILE),
  ];
  const command = `${verilator} ${args.join(' ')}`;
  try {
    const t0 = performance.now();
    const r = await run(verilator, args, root, timeoutMs);
    const buildMs = performance.now() - t0;
    if (r.missing) fail(ErrorCodes.TOOLCHAIN, `verilator not found on PATH: install the Debian package "${VERILATOR_PACKAGE}" (apt-get install ${VERILATOR_PACKAGE}) or set $VERILATOR`, { file: root });
    if (r.timedOut) fail(ErrorCodes.TOOLCHAIN, `building the RTL simulation timed out after ${timeoutMs} ms`, { file: root });
    const exe = path.join(temp.path, 'sim');
    if (r.code !== 0 || !fs.existsSync(exe)) {
      const text = [r.stderr, r.stdout].join('\n');
      const errors = text.split('\n').filter((l) => /%Error|error:/i.test(l));
      fail(ErrorCodes.TOOLCHAIN, `the generated Verilog does not build with Verilator (exit ${r.code}):\n${firstLines(errors.length ? errors.join('\n') : text, 12)}`, { file: root });
    }
    return { dir: root, exe, command, buildMs, timeoutMs, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/** Runs a built testbench in its project folder. */
export async function runSimBuild(build: SimBuild): Promise<SimResult> {
  const t0 = performance.now();
  const r = await run(build.exe, [], build.dir, build.timeoutMs);
  const runMs = performance.now() - t0;
  if (r.timedOut) fail(ErrorCodes.TOOLCHAIN, `the RTL simulation timed out after ${build.timeoutMs} ms`, { file: build.dir });
  const parsed = parseCsimSummary(r.stdout);
  const summary = parsed ? { ...parsed, samplesPerSecond: runMs > 0 ? (parsed.samples * 1000) / runMs : 0 } : undefined;
  return { ok: r.code === 0 && r.stdout.includes('hbnn-tb: PASS'), exitCode: r.code, stdout: r.stdout, stderr: r.stderr, buildMs: build.buildMs, runMs, command: build.command, ...(summary ? { summary } : {}) };
}

/** Builds the project in `dir` with Verilator and runs its testbench. */
export async function runVerilatorSim(dir: string, o: SimOptions = {}): Promise<SimResult> {
  const build = await buildVerilatorSim(dir, o);
  try {
    return await runSimBuild(build);
  } finally {
    build.dispose();
  }
}

/** The Debian package that installs Icarus Verilog, for error messages. */
export const ICARUS_PACKAGE = 'iverilog';

export interface IcarusOptions {
  /** Wall-clock limit for compiling and for running, each (default 10 minutes). */
  timeoutMs?: number;
  /** The iverilog and vvp executables (default $IVERILOG / $VVP, else `iverilog` and `vvp`). */
  iverilog?: string;
  vvp?: string;
}

/**
 * Compiles the project in `dir` with Icarus Verilog (`iverilog -g2012 -DHBNN_CHECK`, into a
 * temporary folder) and runs its testbench with `vvp` in the project folder: no C++ build
 * (a fraction of a second for a small design) but a slower run than Verilator's, so the
 * choice for small designs and few samples. Same result and errors as `runVerilatorSim`.
 */
export async function runIcarusSim(dir: string, o: IcarusOptions = {}): Promise<SimResult> {
  const root = path.resolve(dir);
  for (const f of [TB_FILE, SOURCES_FILE]) {
    if (!fs.existsSync(path.join(root, f))) fail(ErrorCodes.FILE_NOT_FOUND, `${root} is not a generated Verilog project (no ${f})`, { file: path.join(root, f) });
  }
  const timeoutMs = o.timeoutMs ?? 600_000;
  const iverilog = o.iverilog ?? process.env['IVERILOG'] ?? 'iverilog';
  const vvp = o.vvp ?? process.env['VVP'] ?? 'vvp';
  const missing = (tool: string): never => fail(ErrorCodes.TOOLCHAIN, `${tool} not found on PATH: install the Debian package "${ICARUS_PACKAGE}" (apt-get install ${ICARUS_PACKAGE})`, { file: root });
  const temp = makeTempDir('hbnn-rtl-');
  try {
    const sources = fs
      .readFileSync(path.join(root, SOURCES_FILE), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((f) => path.join(root, f));
    const exe = path.join(temp.path, 'sim.vvp');
    const args = ['-g2012', '-DHBNN_CHECK', '-s', TB_MODULE, '-o', exe, ...sources, path.join(root, TB_FILE)];
    const command = `${iverilog} ${args.join(' ')}`;
    const t0 = performance.now();
    const c = await run(iverilog, args, root, timeoutMs);
    const buildMs = performance.now() - t0;
    if (c.missing) missing(iverilog);
    if (c.timedOut) fail(ErrorCodes.TOOLCHAIN, `compiling the RTL simulation with iverilog timed out after ${timeoutMs} ms`, { file: root });
    if (c.code !== 0 || !fs.existsSync(exe)) fail(ErrorCodes.TOOLCHAIN, `the generated Verilog does not compile with iverilog (exit ${c.code}):\n${firstLines(c.stderr || c.stdout, 12)}`, { file: root });
    const t1 = performance.now();
    const r = await run(vvp, ['-n', exe], root, timeoutMs);
    const runMs = performance.now() - t1;
    if (r.missing) missing(vvp);
    if (r.timedOut) fail(ErrorCodes.TOOLCHAIN, `the RTL simulation timed out after ${timeoutMs} ms`, { file: root });
    const parsed = parseCsimSummary(r.stdout);
    const summary = parsed ? { ...parsed, samplesPerSecond: runMs > 0 ? (parsed.samples * 1000) / runMs : 0 } : undefined;
    return { ok: r.code === 0 && r.stdout.includes('hbnn-tb: PASS'), exitCode: r.code, stdout: r.stdout, stderr: r.stderr, buildMs, runMs, command, ...(summary ? { summary } : {}) };
  } finally {
    temp.dispose();
  }
}
