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

/**
 * Runs `cmd args` in `cwd` with a wall-clock limit; never rejects. A run past the limit is
 * `timedOut` however the program ends on the SIGTERM it is sent: Icarus Verilog's `vvp`
 * catches it and exits 0 with its output so far, which looked like a finished run.
 */
export function runTool(cmd: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args as string[], { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string }) | null;
      // execFile kills the child on the timeout and when its output passes maxBuffer (that one has its own code)
      const overflow = e?.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : -1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
        timedOut: Boolean(e && e.killed && e.signal === 'SIGTERM') || (child.killed && !overflow),
        missing: Boolean(e && e.code === 'ENOENT'),
      });
    });
  });
}

/** The first `n` non-blank lines of `text`. */
export function firstLines(text: string, n: number): string {
  return text.split('\n').filter((l) => l.trim() !== '').slice(0, n).join('\n');
}
