/**
 * The input normalization of a command that feeds data (eval, sweep, quantize, train,
 * lower --test-data): resolved by src/data/normalization.ts from `--normalize` and the model's
 * `hbnn.input_normalization` record, with its warning (the flag disagrees with the record) or
 * note (no normalization is known) printed as one line on stderr.
 */
import type { Model } from '../ir/graph.js';
import { resolveNormalization, type ResolvedNormalization } from '../data/index.js';
import type { Logger } from './io.js';
import { QUANTIZE_OPTIONS } from '../drivers/quantize.js';
import { pickOption, type OptionSpec } from '../pass/pass.js';

/**
 * The `normalize` option of the quantize pipeline's schema (QUANTIZE_OPTIONS): the
 * `--normalize` flags of quantize and sweep are generated from it (`schemaOption`), with a
 * command-line doc, and parsed by `parseNormalizeOption`.
 */
export const NORMALIZE_SPEC: OptionSpec = pickOption(QUANTIZE_OPTIONS, 'normalize');

export function inputNormalization(model: Model, option: string | undefined, label: string, log: Logger, dataSpec?: string): ResolvedNormalization {
  const r = resolveNormalization(model, option, label, '--normalize', dataSpec);
  if (r.warning) log.warn(r.warning);
  if (r.note) log.stderr(`hbnn-onnx: note: ${r.note}`);
  return r;
}

