/**
 * The one way benches reach the package: its public entry (dist/src/index.js, docs/api.md)
 * and the reference topologies that tests and benches share (zoo/topologies.ts, compiled to
 * dist/zoo/; not part of the public API). Build first: npx tsc -p tsconfig.json.
 *
 * A bench of something the public entry does not export (the HLS C simulation runner, the
 * training-graph builder, ...) names that module with `internal(rel)`, so every reach into
 * dist internals is visible here by its name.
 */
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The compiled package: dist/, or the build HBNN_DIST names (a baseline build to compare against). */
export const DIST = path.resolve(ROOT, process.env.HBNN_DIST ?? 'dist');

async function load(rel) {
  try {
    return await import(pathToFileURL(path.join(DIST, rel)).href);
  } catch (e) {
    console.error(`cannot import dist/${rel}: ${e.message.split('\n')[0]}\nBuild first: npx tsc -p tsconfig.json`);
    process.exit(2);
  }
}

/** The public API (src/index.ts). */
export const lib = await load('src/index.js');

/** The random-weight reference topologies (zoo/topologies.ts): buildAlexNet, buildCnv, buildResNet20, ... */
export const zoo = await load('zoo/topologies.js');

/** A compiled module the public entry does not export, by its path under dist/ (e.g. 'src/util/fs.js'). */
export function internal(rel) {
  return load(rel);
}

/** Parameters of a model: the elements of its main graph's initializers. */
export function paramCount(model) {
  let n = 0;
  for (const v of model.graph.initializers.values()) n += v.constValue.size;
  return n;
}
