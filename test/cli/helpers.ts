/**
 * Running the CLI in-process for tests: `cli(...args)` calls `main` with captured stdout and
 * stderr, a fixed working folder and (optionally) an injected pass registry.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FMNIST_CNN = path.join(REPO_ROOT, 'fixtures', 'models', 'fmnist-cnn.onnx');

/** A file under shared/: the copy beside the repository (as CI lays it out), else /work/shared. */
export function sharedFile(rel: string): string {
  for (const base of [path.resolve(REPO_ROOT, '..', 'shared'), '/work/shared']) {
    const f = path.join(base, rel);
    if (fs.existsSync(f)) return f;
  }
  throw new Error(`shared file ${rel} not found beside the repository nor under /work/shared`);
}

export const TFC_1W1A = (): string => sharedFile('corpus/qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC/TFC_1W1A.onnx');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions extends Partial<Omit<CliIo, 'stdout' | 'stderr'>> {}

export async function cli(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'hbnn-onnx', ...args], {
    cwd: REPO_ROOT,
    stderrIsTTY: false,
    ...opts,
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
  });
  return { code, stdout, stderr };
}

const tmpDirs: string[] = [];

/** A fresh temporary folder, removed after the test. */
export function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-cli-'));
  tmpDirs.push(d);
  return d;
}

afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
