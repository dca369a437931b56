/**
 * What a pass is: a named, documented, stateless graph rewrite with declared options and
 * declared properties it requires and establishes.
 */
import type { Model } from '../ir/graph.js';
import { fail, ErrorCodes } from '../errors.js';

/** Graph properties passes can require and establish. */
export type Property =
  | 'topologically-sorted'
  | 'shapes-inferred'
  | 'no-identity'
  | 'no-dead-code'
  | 'constants-folded'
  | 'batchnorm-folded'
  | 'weights-binarized'
  | 'activations-binarized'
  | 'calibrated'
  | 'bit-ir-lowerable';

export type OptionType = 'number' | 'integer' | 'boolean' | 'string' | 'string-list' | 'number-list';

export interface OptionSpec {
  name: string;
  type: OptionType;
  /** One line, shown by `hbnn-onnx passes` and in docs. */
  doc: string;
  default?: unknown;
  /** Allowed values for string options. */
  choices?: readonly string[];
  min?: number;
  max?: number;
}

export type OptionValues = Record<string, unknown>;

export interface PassContext {
  /** Options after parsing and defaults. */
  readonly options: OptionValues;
  /** Adds to a named statistic of this pass (reported by the manager). */
  stat(name: string, increment?: number): void;
  /** A note for the user (printed with --verbose). */
  note(message: string): void;
  /** Properties established so far in this pipeline run. */
  readonly properties: ReadonlySet<Property>;
  /** Free-form artifacts a pass may hand to the caller (e.g. a quantization report). */
  readonly artifacts: Map<string, unknown>;
  /** Threads the pass may use (RunOptions.threads, default 1); never changes its results. */
  readonly threads: number;
}

export interface PassResult {
  /** Whether the pass changed the model (fixpoint groups stop when nothing changes). */
  changed: boolean;
}

export interface Pass {
  /** kebab-case name used in pipelines. */
  readonly name: string;
  /** One-line summary. */
  readonly summary: string;
  /** Longer description (the rewrite rules), used in docs. */
  readonly description?: string;
  readonly options: readonly OptionSpec[];
  readonly requires: readonly Property[];
  readonly establishes: readonly Property[];
  /** Properties this pass keeps intact; all others are cleared after it runs (unless it changed nothing). */
  readonly preserves: readonly Property[] | 'all';
  run(model: Model, ctx: PassContext): PassResult | Promise<PassResult>;
}

/** Validates and converts raw option strings (from a pipeline text) for a pass. */
export function resolveOptions(pass: Pass, raw: Record<string, string | unknown>): OptionValues {
  const out: OptionValues = {};
  for (const key of Object.keys(raw)) {
    if (!pass.options.some((o) => o.name === key)) {
      const known = pass.options.map((o) => o.name).join(', ') || '(none)';
      fail(ErrorCodes.INVALID_OPTION, `pass ${pass.name} has no option "${key}"; its options are: ${known}`, { pass: pass.name, option: key });
    }
  }
  for (const spec of pass.options) {
    const v = raw[spec.name];
    if (v === undefined) {
      if (spec.default !== undefined) out[spec.name] = spec.default;
      continue;
    }
    out[spec.name] = convertOption(pass.name, spec, v);
  }
  return out;
}

function convertOption(passName: string, spec: OptionSpec, v: unknown): unknown {
  const bad = (why: string): never =>
    fail(ErrorCodes.INVALID_OPTION, `pass ${passName}: option ${spec.name}=${String(v)} ${why}`, { pass: passName, option: spec.name });
  const num = (s: unknown): number => {
    const n = typeof s === 'number' ? s : Number(String(s).trim());
    if (String(s).trim() === '' || !Number.isFinite(n)) bad('is not a number');
    if (spec.type === 'integer' && !Number.isInteger(n)) bad('is not an integer');
    if (spec.min !== undefined && n < spec.min) bad(`is below the minimum ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) bad(`is above the maximum ${spec.max}`);
    return n;
  };
  const list = (s: unknown): string[] => (Array.isArray(s) ? s.map(String) : String(s).split(/[|;]/).map((x) => x.trim()).filter((x) => x !== ''));
  switch (spec.type) {
    case 'number':
    case 'integer':
      return num(v);
    case 'boolean': {
      if (typeof v === 'boolean') return v;
      const s = String(v).toLowerCase();
      if (s === 'true' || s === '1' || s === 'yes') return true;
      if (s === 'false' || s === '0' || s === 'no') return false;
      return bad('is not true or false');
    }
    case 'string': {
      const s = String(v);
      if (spec.choices && !spec.choices.includes(s)) bad(`is not one of ${spec.choices.join(', ')}`);
      return s;
    }
    case 'string-list':
      return list(v);
    case 'number-list':
      return list(v).map(num);
  }
}

/** Helper for pass authors: declares a pass with defaults for the optional fields. */
export function definePass(p: Omit<Pass, 'options' | 'requires' | 'establishes' | 'preserves'> & Partial<Pick<Pass, 'options' | 'requires' | 'establishes' | 'preserves'>>): Pass {
  return { options: [], requires: [], establishes: [], preserves: [], ...p };
}
