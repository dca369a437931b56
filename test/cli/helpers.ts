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

/** A file under the repository's fixtures/ folder. */
export function fixtureFile(rel: string): string {
  const f = path.join(REPO_ROOT, 'fixtures', rel);
  if (!fs.existsSync(f)) throw new Error(`fixture ${rel} not found under ${path.join(REPO_ROOT, 'fixtures')}`);
  return f;
}

export const TFC_1W1A = (): string => fixtureFile('qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC/TFC_1W1A.onnx');

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
