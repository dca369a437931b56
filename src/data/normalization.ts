/**
 * The input normalization recorded in a model: ONNX `metadata_props` entry
 * `hbnn.input_normalization` (docs/format.md §5.3). Its value uses the `--normalize` syntax of
 * the CLI: `MEAN:STD` with comma-separated per-channel values (e.g. `0.286:0.353`, applied
 * after the loaders' default scaling of uint8 pixels by 1/255), or `none` (the model takes the
 * data unnormalized). This file is the one place that reads, writes, formats and resolves it.
 *
 * Resolution, shared by every command that feeds data (eval, sweep, quantize calibration and
 * fine-tuning, train, lower --test-data) and by the calibrate/recalibrate-batchnorm passes:
 * - an explicit `--normalize` wins; when it disagrees with the record, a warning says so;
 * - without one, the record is used;
 * - a data SPEC with its own normalization (`folder:DIR:imagenet`) is normalized by the loader
 *   as it says, in place of the record (a warning when they differ);
 * - with neither, the data is fed unnormalized and a note says that no normalization is known
 *   and how to give one.
 */
import { fail, ErrorCodes } from '../errors.js';
import { parseNormalization, type Normalization } from './dataset.js';
import { parseDataSpec } from './load.js';

/** The metadata_props key of the record. */
export const NORMALIZATION_KEY = 'hbnn.input_normalization';

/** The pass option value (and API text) that means "the model's record, none without one". */
export const NORMALIZE_FROM_MODEL = 'model';

/** What the record functions need of a model (src/ir/graph.ts Model has both). */
export interface MetadataHolder {
  getMetadata(key: string): string | undefined;
  setMetadata(key: string, value: string): void;
}

/** The normalization a data SPEC sets itself (a `folder:` SPEC's mean/std), if any. */
export function specNormalization(spec: string): Normalization | undefined {
  try {
    const p = parseDataSpec(spec);
    return p.kind === 'folder' ? p.prep.normalize : undefined;
  } catch {
    return undefined; // a bad SPEC is reported by the loader
  }
}

/** `none`, or `MEAN:STD` with comma-separated values (shortest round-trip decimal form). */
export function formatNormalization(n: Normalization | undefined): string {
  if (!n) return 'none';
  return `${n.mean.map(String).join(',')}:${n.std.map(String).join(',')}`;
}

/**
 * Parses `--normalize` text: `none` (undefined), a preset name (`fmnist`) or MEAN:STD.
 * INVALID_OPTION for anything else.
 */
export function parseNormalizationText(text: string): Normalization | undefined {
  if (text.trim().toLowerCase() === 'none') return undefined;
  return parseNormalization(text);
}

/** Same values (a one-value form equals the same value repeated per channel). */
export function sameNormalization(a: Normalization | undefined, b: Normalization | undefined): boolean {
  if (!a || !b) return !a && !b;
  const eq = (x: number[], y: number[]): boolean => {
    const n = Math.max(x.length, y.length);
    if (x.length !== y.length && x.length !== 1 && y.length !== 1) return false;
    for (let i = 0; i < n; i++) if (x[x.length === 1 ? 0 : i] !== y[y.length === 1 ? 0 : i]) return false;
    return true;
  };
  return eq(a.mean, b.mean) && eq(a.std, b.std);
}

export interface NormalizationRecord {
  /** undefined: the record says `none`. */
  normalize: Normalization | undefined;
  /** The canonical text (formatNormalization). */
  text: string;
}

/** The model's record, or undefined when it has none. ONNX_INVALID for an unreadable one. */
export function readNormalizationRecord(model: MetadataHolder): NormalizationRecord | undefined {
  const raw = model.getMetadata(NORMALIZATION_KEY);
  if (raw === undefined) return undefined;
  let normalize: Normalization | undefined;
  try {
    normalize = parseNormalizationText(raw);
  } catch (e) {
    return fail(ErrorCodes.ONNX_INVALID, `model metadata ${NORMALIZATION_KEY} = ${JSON.stringify(raw)} is not a normalization (MEAN:STD or none): ${(e as Error).message}`);
  }
  return { normalize, text: formatNormalization(normalize) };
}

/** Records `n` (undefined: `none`) in the model, replacing any earlier record. */
export function writeNormalizationRecord(model: MetadataHolder, n: Normalization | undefined): void {
  model.setMetadata(NORMALIZATION_KEY, formatNormalization(n));
}

export interface ResolvedNormalization {
  /** What to apply to the data (undefined: nothing). */
  normalize: Normalization | undefined;
  /** Canonical text of what is applied: `none` or MEAN:STD. */
  text: string;
  /**
   * Where it came from: --normalize, the model's record, the data SPEC itself (a `folder:`
   * SPEC with its own mean/std, which the loader applies), or none known.
   */
  source: 'option' | 'record' | 'data' | 'none';
  /** The record, when the model has one. */
  record?: NormalizationRecord;
  /** A warning to print: the option disagrees with the record. */
  warning?: string;
  /** A note to print: no normalization is known. */
  note?: string;
}

/**
 * The normalization the data ends up with: what the loader is given, or, when the data SPEC
 * normalizes itself (`source: 'data'`), the SPEC's. This is what a model trained or calibrated
 * on that data expects, so it is what its record must say.
 */
export function appliedNormalization(r: ResolvedNormalization): Normalization | undefined {
  return r.source === 'data' ? parseNormalizationText(r.text) : r.normalize;
}

/**
 * The normalization to feed `model` with: `option` is the `--normalize` text as given
 * (undefined when the flag was not given; `model` is the same as not giving it). `label` names
 * the model in the messages and `flag` the option (default `--normalize`).
 */
export function resolveNormalization(model: MetadataHolder, option: string | undefined, label: string, flag = '--normalize', dataSpec?: string): ResolvedNormalization {
  const record = readNormalizationRecord(model);
  const fromModel = option === undefined || option.trim().toLowerCase() === NORMALIZE_FROM_MODEL;
  // A data SPEC that sets its own normalization (folder:DIR:imagenet): the loader applies it,
  // and refuses a different --normalize itself; it wins over the model's record.
  const own = dataSpec !== undefined ? specNormalization(dataSpec) : undefined;
  if (own && fromModel) {
    const text = formatNormalization(own);
    const r: ResolvedNormalization = { normalize: undefined, text, source: 'data', ...(record ? { record } : {}) };
    if (record && !sameNormalization(record.normalize, own)) {
      r.warning = `${dataSpec!.trim()} sets its own normalization (${text}), which differs from the one recorded in ${label} (${NORMALIZATION_KEY} = ${record.text}); using the data's`;
    }
    return r;
  }
  if (!fromModel) {
    const normalize = parseNormalizationText(option!);
    const text = formatNormalization(normalize);
    const r: ResolvedNormalization = { normalize, text, source: 'option', ...(record ? { record } : {}) };
    if (record && !sameNormalization(record.normalize, normalize)) {
      r.warning = `${flag} ${option!.trim()} (${text}) disagrees with the input normalization recorded in ${label} (${NORMALIZATION_KEY} = ${record.text}); using ${flag} ${option!.trim()}`;
    }
    return r;
  }
  if (record) return { normalize: record.normalize, text: record.text, source: 'record', record };
  return {
    normalize: undefined,
    text: 'none',
    source: 'none',
    note: `no input normalization is known for ${label} (no ${NORMALIZATION_KEY} record): the data is fed unnormalized; give one with ${flag} MEAN:STD (or fmnist, or none to silence this)`,
  };
}
