/**
 * Running an external tool (a compiler, a testbench, yosys) and collecting what it printed,
 * without throwing: callers turn a missing program, a timeout or a non-zero exit into their
 * own typed errors, naming the tool and how to install it.
 */
import { execFile } from 'node:child_process';

export interface ExecResult {
  /** Exit status (-1 when the process did not exit normally). */
  code: number;
  stdout: string;
  stderr: string;
  /** Killed after `timeoutMs`. */
  timedOut: boolean;
  /** The program was not found (ENOENT). */
  missing: boolean;
}

/** Runs `cmd args` in `cwd` with a wall-clock limit; never rejects. */
export function runTool(cmd: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(cmd, args as string[], { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string }) | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : -1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
        timedOut: Boolean(e && e.killed && e.signal === 'SIGTERM'),
        missing: Boolean(e && e.code === 'ENOENT'),
      });
    });
  });
}

/** The first `n` non-blank lines of `text`. */
export function firstLines(text: string, n: number): string {
  return text.split('\n').filter((l) => l.trim() !== '').slice(0, n).join('\n');
}
