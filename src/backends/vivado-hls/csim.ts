/**
 * C simulation of a generated project with plain g++: compile `tb.cpp` and `hbnn_top.cpp`
 * against the project folder (the shim stands in for the Vivado headers), run the testbench
 * on its vectors, and report what it printed. The executable goes to a temporary folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../../errors.js';
import { TB_DATA, TB_SOURCE } from './emit/testbench.js';
import { TOP_SOURCE } from './emit/top.js';
import { makeTempDir } from '../../util/temp.js';
import { firstLines, runTool as run } from '../../util/exec.js';


export interface CsimOptions {
  /** Wall-clock limit for compiling and for running, each (default 10 minutes). */
  timeoutMs?: number;
  /** Optimization level passed to the compiler (default 'O2'). */
  optLevel?: 'O0' | 'O1' | 'O2' | 'O3';
  /** Compiler (default $CXX, else g++). */
  cxx?: string;
  /** Extra compiler flags (e.g. '-march=native'). */
  flags?: string[];
  /** Testbench data file, relative to the project folder (default tb_data.txt). */
  data?: string;
}

export interface CsimSummary {
  samples: number;
  classMismatches: number;
  logitMismatches: number;
  accumulatorMismatches: number;
  samplesPerSecond: number;
}

export interface CsimResult {
  /** The testbench exited 0 (everything matched). */
  ok: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
  compileMs: number;
  runMs: number;
  /** Parsed from the testbench's summary lines (absent if it did not print them). */
  summary?: CsimSummary;
  /** The compile command, for reports. */
  command: string;
}

export function parseCsimSummary(stdout: string): CsimSummary | undefined {
  const m = /samples (\d+), class mismatches (\d+), logit mismatches (\d+), accumulator mismatches (\d+)/.exec(stdout);
  if (!m) return undefined;
  const r = /hbnn-tb: ([\d.]+) samples\/s/.exec(stdout);
  return {
    samples: Number(m[1]),
    classMismatches: Number(m[2]),
    logitMismatches: Number(m[3]),
    accumulatorMismatches: Number(m[4]),
    samplesPerSecond: r ? Number(r[1]) : 0,
  };
}

/** A compiled testbench: run it on data files, then `dispose()` the temporary executable. */
export interface CsimBuild {
  dir: string;
  exe: string;
  command: string;
  compileMs: number;
  timeoutMs: number;
  dispose(): void;
}

/** Compiles the project in `dir` (tb.cpp + hbnn_top.cpp) with g++. TOOLCHAIN on a compile error, a missing compiler or a timeout. */
export async function compileCsim(dir: string, o: CsimOptions = {}): Promise<CsimBuild> {
  const root = path.resolve(dir);
  for (const f of [TB_SOURCE, TOP_SOURCE]) {
    if (!fs.existsSync(path.join(root, f))) fail(ErrorCodes.FILE_NOT_FOUND, `${root} is not a generated Vivado HLS project (no ${f})`, { file: path.join(root, f) });
  }
  const timeoutMs = o.timeoutMs ?? 600_000;
  const cxx = o.cxx ?? process.env['CXX'] ?? 'g++';
  // removed by dispose, and on every other exit path too (Ctrl-C, a closed stdout)
  const temp = makeTempDir('hbnn-csim-');
  const tmp = temp.path;
  const dispose = (): void => temp.dispose();
  const exe = path.join(tmp, 'csim');
  // x86-64: use the popcount instruction (every x86-64 CPU since 2008 has it).
  const arch = process.arch === 'x64' ? ['-mpopcnt'] : [];
  const args = ['-std=c++14', `-${o.optLevel ?? 'O2'}`, ...arch, `-I${root}`, ...(o.flags ?? []), path.join(root, TB_SOURCE), path.join(root, TOP_SOURCE), '-o', exe];
  const command = `${cxx} ${args.join(' ')}`;
  try {
    const t0 = performance.now();
    const c = await run(cxx, args, root, timeoutMs);
    const compileMs = performance.now() - t0;
    if (c.missing) fail(ErrorCodes.TOOLCHAIN, `C++ compiler "${cxx}" not found; install g++ or set $CXX`, { file: root });
    if (c.timedOut) fail(ErrorCodes.TOOLCHAIN, `compiling the project timed out after ${timeoutMs} ms`, { file: root });
    if (c.code !== 0) {
      fail(ErrorCodes.TOOLCHAIN, `the generated project does not compile (${cxx} exited ${c.code}):\n${firstLines(c.stderr || c.stdout, 12)}`, { file: root });
    }
    return { dir: root, exe, command, compileMs, timeoutMs, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/** Runs a compiled testbench on `data` (relative to the project folder; default tb_data.txt). */
export async function runTestbench(build: CsimBuild, data: string = TB_DATA): Promise<CsimResult> {
  const t1 = performance.now();
  const r = await run(build.exe, [data], build.dir, build.timeoutMs);
  const runMs = performance.now() - t1;
  if (r.timedOut) fail(ErrorCodes.TOOLCHAIN, `the testbench timed out after ${build.timeoutMs} ms`, { file: build.dir });
  const summary = parseCsimSummary(r.stdout);
  return { ok: r.code === 0, exitCode: r.code, stdout: r.stdout, stderr: r.stderr, compileMs: build.compileMs, runMs, command: build.command, ...(summary ? { summary } : {}) };
}

/** Compiles the project in `dir` with g++ and runs its testbench. TOOLCHAIN on a compile error, a missing compiler or a timeout. */
export async function runCsim(dir: string, o: CsimOptions = {}): Promise<CsimResult> {
  const build = await compileCsim(dir, o);
  try {
    return await runTestbench(build, o.data ?? TB_DATA);
  } finally {
    build.dispose();
  }
}
