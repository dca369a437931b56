/**
 * Mutation robustness of decodeModel: hundreds of deterministic variants of a dozen real
 * models (truncations, bit flips, byte overwrites, varint corruption, length prefixes
 * inflated/deflated, tags changed). Every decode must end in a Model or in an HbnnError
 * with a code, never an untyped exception (nor one that only decodeModel's last-resort
 * wrapper turned into a typed one), and never hang (a hang fails the test by its timeout;
 * the slowest variant is reported in the log line, not asserted: no timing assertions in
 * tests). A decoded Model must
 * also print and re-encode without an untyped exception.
 */
import { describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { isHbnnError } from '../../src/errors.js';
import { mutate, prng, wireSites, type MutationKind } from './mutate.js';
import { fixtureFile } from '../helpers/build.js';

/** Node-test cases vendored in the repository (fixtures/onnx-node). */
const NODE = fixtureFile('onnx-node');
const MODELS: string[] = [
  path.join(NODE, 'test_if/model.onnx'), // If with two subgraphs
  path.join(NODE, 'test_loop11/model.onnx'), // Loop body with outer-scope references
  path.join(NODE, 'test_scan9_sum/model.onnx'), // Scan
  path.join(NODE, 'test_constant/model.onnx'), // tensor attribute (float_data / raw_data)
  path.join(NODE, 'test_strnormalizer_export_monday_casesensintive_lower/model.onnx'), // string lists
  path.join(NODE, 'test_identity_sequence/model.onnx'), // sequence types
  path.join(NODE, 'test_optional_get_element_optional_sequence/model.onnx'), // optional types
  path.join(NODE, 'test_lstm_defaults/model.onnx'), // float/int attributes, several inputs
  path.join(NODE, 'test_constantofshape_int_zeros/model.onnx'), // int tensor attribute
  fixtureFile('qonnx/mnist-conv/model.onnx'), // CNTK export, initializers as inputs
  fixtureFile('qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC/TFC_2W2A.onnx'), // custom domain
  fixtureFile('models/fmnist-cnn.onnx'), // PyTorch export, 420 KB of weights
];
const KINDS: MutationKind[] = ['truncate', 'bitflip', 'overwrite', 'varint', 'length-inflate', 'length-deflate', 'tag'];
const PER_KIND = 12;
/** A decode that hangs fails the test by this timeout (the whole run takes seconds). */
const HANG_TIMEOUT_MS = 120_000;

interface Tally {
  variants: number;
  valid: number;
  byCode: Map<string, number>;
  untyped: string[];
  slowest: { ms: number; what: string };
}

function attempt(bytes: Uint8Array, what: string, t: Tally): void {
  t.variants++;
  const t0 = performance.now();
  try {
    const m = decodeModel(bytes, { file: what });
    t.valid++;
    try {
      printModel(m, { tensorValues: 16 });
      encodeModel(m);
    } catch (e) {
      if (!isHbnnError(e)) t.untyped.push(`${what}: decoded, then print/encode threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
  } catch (e) {
    if (isHbnnError(e) && e.context.unexpected) t.untyped.push(`${what}: caught only by decodeModel's safety net: ${e.message}`);
    else if (isHbnnError(e)) t.byCode.set(e.code, (t.byCode.get(e.code) ?? 0) + 1);
    else t.untyped.push(`${what}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  const ms = performance.now() - t0;
  if (ms > t.slowest.ms) t.slowest = { ms, what };
}

describe('decodeModel on mutated models', () => {
  test('every variant decodes to a Model or fails with a typed HbnnError, without hanging', () => {
    const t: Tally = { variants: 0, valid: 0, byCode: new Map(), untyped: [], slowest: { ms: 0, what: '' } };
    const rand = prng(20240611);
    for (const file of MODELS) {
      const bytes = new Uint8Array(fs.readFileSync(file));
      // The unmutated model itself decodes.
      expect(() => decodeModel(bytes)).not.toThrow();
      const sites = wireSites(bytes);
      for (const kind of KINDS) {
        for (let i = 0; i < PER_KIND; i++) {
          const v = mutate(bytes, sites, kind, rand);
          attempt(v.bytes, `${path.basename(path.dirname(file))}/${path.basename(file)}: ${v.what}`, t);
        }
      }
    }
    const codes = [...t.byCode].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
    console.log(
      `fuzz: ${t.variants} variants of ${MODELS.length} models: ${t.valid} valid models, ${t.variants - t.valid - t.untyped.length} typed errors (${codes}), ` +
        `${t.untyped.length} untyped; slowest ${t.slowest.ms.toFixed(1)} ms (${t.slowest.what})`,
    );
    expect(t.variants).toBe(MODELS.length * KINDS.length * PER_KIND);
    expect(t.untyped).toEqual([]);
    // The mutations do reach the interesting paths: both outcomes occur, and more than one code.
    expect(t.valid).toBeGreaterThan(0);
    expect(t.byCode.size).toBeGreaterThan(1);
  }, HANG_TIMEOUT_MS);
});
