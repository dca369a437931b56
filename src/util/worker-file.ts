/**
 * Where a worker thread's script is: the compiled sibling of the calling module
 * (dist/src/<dir>/<name>.js when running from dist/), or, when running from the TypeScript
 * sources (tests), the package's dist/ copy. INTERNAL with a build hint when neither exists.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fail, ErrorCodes } from '../errors.js';

/**
 * `callerUrl`: the calling module's import.meta.url; `dir`: its folder under src/ (e.g.
 * 'data'); `name`: the worker's file name (e.g. 'decode-worker.js'); `what`: for the message.
 */
export function workerScript(callerUrl: string, dir: string, name: string, what: string): string {
  const sibling = fileURLToPath(new URL(`./${name}`, callerUrl));
  if (existsSync(sibling)) return sibling;
  const built = fileURLToPath(new URL(`../../dist/src/${dir}/${name}`, callerUrl));
  if (existsSync(built)) return built;
  return fail(ErrorCodes.INTERNAL, `${what} worker not found (${sibling}); build the package with \`npx tsc -p .\``);
}
