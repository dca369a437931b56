#!/usr/bin/env node
/**
 * The programmatic API in one file (docs/api.md walks through it).
 *
 *   node examples/api-example.mjs [OUTPUT_FOLDER]
 *
 * Loads the bundled Fashion-MNIST CNN, summarizes it, runs a cleanup pipeline, saves the
 * result, checks with onnxruntime that the outputs did not change, and shows the
 * non-throwing `tryResult` form. Needs `npm run build` (or `npm ci`) first: the package
 * imports itself by name, which resolves to dist/ through package.json "exports".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadModel,
  saveModel,
  inspectModel,
  Pipeline,
  builtinPasses,
  tryResult,
  exitCodeFor,
  isHbnnError,
  createSession,
  runSession,
  float32Tensor,
} from 'hbnn-onnx';

const here = path.dirname(fileURLToPath(import.meta.url));
const input = path.join(here, '..', 'fixtures', 'models', 'fmnist-cnn.onnx');
const outDir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-api-'));
const output = path.join(outDir, 'fmnist-cnn.clean.onnx');

// 1. Load a model into the IR. Errors are HbnnError with a stable `code`.
const model = loadModel(input);
const summary = inspectModel(model);
console.log(`loaded ${path.basename(input)}: ${summary.graph.nodes} nodes, ${summary.totals.parameters} parameters`);

// 2. Build a pipeline from text against a registry of passes. Only passes registered in
//    this build are used, so the example runs while the pass library grows.
const registry = builtinPasses();
const registered = new Set(registry.list().map((p) => p.name));
const wanted = ['eliminate-identity', 'fold-constants', 'eliminate-dead-code'];
const pipeline = Pipeline.parse(wanted.filter((n) => registered.has(n)).join(','), registry);

// 3. Run it: the verifier checks the IR before the first pass and after each one.
const report = await pipeline.run(model, { verify: true });
console.log(`pipeline "${report.pipeline}": ${report.passes.length} passes, ${model.graph.nodes.length} nodes left`);

// 4. Save atomically. saveModel refuses to overwrite the file the model came from.
saveModel(model, output);
console.log(`saved ${path.basename(output)}`);

// 5. Same outputs before and after, checked with onnxruntime on one all-zero image.
const feeds = { input: float32Tensor(new Float32Array(28 * 28), [1, 1, 28, 28]) };
const before = await runSession(await createSession(loadModel(input)), feeds);
const after = await runSession(await createSession(loadModel(output)), feeds);
const maxDiff = Math.max(...before.logits.data.map((v, i) => Math.abs(v - after.logits.data[i])));
console.log(`max |logit difference| = ${maxDiff}`);

// 6. The non-throwing form: { ok: true, value } or { ok: false, errors }.
const typo = tryResult(() => Pipeline.parse('fold-constant', registry));
if (!typo.ok) {
  const [err] = typo.errors;
  console.log(`tryResult: ok=false code=${err.code} exit=${exitCodeFor(err.code)}`);
}

// 7. Or catch: every deliberate failure is an HbnnError.
try {
  saveModel(loadModel(input), input);
} catch (e) {
  if (!isHbnnError(e)) throw e;
  console.log(`caught: ${e.code}`);
}
