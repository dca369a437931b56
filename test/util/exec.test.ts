/**
 * runTool: a program that runs past the limit is reported as timed out even when it handles
 * the SIGTERM and exits 0 (Icarus Verilog's vvp does: a timed-out RTL simulation was reported
 * as "RTL simulation failed (no summary printed)" instead of "timed out").
 */
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { runTool } from '../../src/util/exec.js';

describe('runTool', () => {
  it('a program that exits 0 on the timeout SIGTERM is timedOut; one that finishes in time is not', async () => {
    const slow = "process.on('SIGTERM', () => { process.stdout.write('partial'); process.exit(0); }); setTimeout(() => {}, 20000); process.stdout.write('started\\n');";
    const r = await runTool(process.execPath, ['-e', slow], os.tmpdir(), 1500);
    expect(r.timedOut).toBe(true);
    expect(r.missing).toBe(false);
    const ok = await runTool(process.execPath, ['-e', "process.stdout.write('done')"], os.tmpdir(), 20_000);
    expect(ok).toMatchObject({ code: 0, stdout: 'done', timedOut: false, missing: false });
    const fails = await runTool(process.execPath, ['-e', 'process.exit(3)'], os.tmpdir(), 20_000);
    expect(fails).toMatchObject({ code: 3, timedOut: false });
    const missing = await runTool('hbnn-no-such-program', [], os.tmpdir(), 20_000);
    expect(missing).toMatchObject({ missing: true, timedOut: false });
  }, 60_000);
});
