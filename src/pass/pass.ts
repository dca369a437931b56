/**
 * What a pass is: a named, documented, stateless graph rewrite with declared options and
 * declared properties it requires and establishes.
 */
import type { Model } from '../ir/graph.js';
import type { Analysis } from '../ir/analysis.js';
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

/**
 * One declared option: its name as written in pipelines (and as the CLI flag, where a
 * command exposes it), its type, default, range or choices and a one-line doc. The one place
 * each of these facts lives: `hbnn-onnx passes`, docs/passes.md, the CLI flags and the
 * checks are all derived from it.
 */
export interface OptionSpec {
  readonly name: string;
  readonly type: OptionType;
  /** One line, shown by `hbnn-onnx passes`, in docs and in the CLI help. */
  readonly doc: string;
  readonly default?: unknown;
  /** Allowed values for string options. */
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
}

export type OptionValues = Record<string, unknown>;

/** The value type of one option spec (string options with choices: the union of the choices). */
export type OptionValue<S extends OptionSpec> = S['type'] extends 'number' | 'integer'
  ? number
  : S['type'] extends 'boolean'
    ? boolean
    : S['type'] extends 'string'
      ? S extends { readonly choices: readonly (infer C extends string)[] }
        ? C
        : string
      : S['type'] extends 'string-list'
        ? string[]
        : S['type'] extends 'number-list'
          ? number[]
          : unknown;

/** The parsed options of a schema: an option with a default is always set; one without may be undefined. */
export type OptionsOf<S extends readonly OptionSpec[]> = {
  readonly [K in S[number] as K['name']]: K extends { readonly default: unknown } ? OptionValue<K> : OptionValue<K> | undefined;
};

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
  /**
   * Read-only inputs shared by the validation and the passes of one pipeline run, keyed by
   * what they are (e.g. a calibration data set, loaded once when validated, reused by the run).
   */
  readonly shared?: Map<string, unknown>;
  /**
   * Marks an analysis result as still true of the model after this pass's changes (MLIR's
   * markAnalysesPreserved): it stays cached, where the manager otherwise drops every analysis
   * of a model a pass changed (src/ir/analysis.ts).
   */
  preserveAnalysis?<T>(analysis: Analysis<T>, value: T): void;
}

export interface PassResult {
  /** Whether the pass changed the model (fixpoint groups stop when nothing changes). */
  changed: boolean;
}

export interface Pass<O = OptionValues> {
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
  /**
   * Checks the parsed options against each other and against the model the pipeline starts
   * from; the pipeline calls it for every pass before the first pass changes anything, so a
   * bad option of the last pass leaves the model untouched. Throws an HbnnError.
   */
  validate(options: O, model: Model, shared?: Map<string, unknown>): void;
  /** Runs the pass; `options` are parsed, checked and defaulted (default: `ctx.options`). */
  run(model: Model, ctx: PassContext, options?: O): PassResult | Promise<PassResult>;
  /** The options for a pipeline: the given ones parsed and checked, the rest defaulted (INVALID_OPTION). */
  resolve(given?: Partial<O>): O;
}

/** What a pass file declares: `definePass` fills in the optional fields. */
export interface PassDefinition<S extends readonly OptionSpec[], O> {
  readonly name: string;
  readonly summary: string;
  readonly description?: string;
  readonly options?: S;
  readonly requires?: readonly Property[];
  readonly establishes?: readonly Property[];
  readonly preserves?: readonly Property[] | 'all';
  /** Cross-option and model checks, run before any pass of the pipeline (see `Pass.validate`). */
  validate?(options: O, model: Model, shared?: Map<string, unknown>): void;
  run(model: Model, ctx: PassContext, options: O): PassResult | Promise<PassResult>;
}

/**
 * Parses one option value (text from a pipeline or a CLI flag, or an already typed value)
 * and checks it against its spec: type, integer, range, choices. `where` names the option in
 * the message (`pass calibrate: option limit=0` or `--calib-limit`); `listSeparator` splits
 * list text (`|` or `;` in pipelines, also `,` on the command line).
 */
export function parseOptionValue(spec: OptionSpec, v: unknown, where: string, listSeparator: RegExp = /[|;]/, context: Record<string, unknown> = {}): unknown {
  const bad = (why: string): never => fail(ErrorCodes.INVALID_OPTION, `${where} ${why}`, { ...context, option: spec.name });
  const num = (s: unknown): number => {
    const n = typeof s === 'number' ? s : Number(String(s).trim());
    if (String(s).trim() === '' || !Number.isFinite(n)) bad('is not a number');
    if (spec.type === 'integer' && !Number.isInteger(n)) bad('is not an integer');
    checkRange(spec, n, where, context);
    return n;
  };
  const list = (s: unknown): string[] => (Array.isArray(s) ? s.map(String) : String(s).split(listSeparator).map((x) => x.trim()).filter((x) => x !== ''));
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

/**
 * The one range check of a numeric option: INVALID_OPTION when `n` lies outside the spec's
 * [min, max]. Pure numeric functions that take the same quantity call it for their preconditions.
 */
export function checkRange(spec: OptionSpec, n: number, where = `option ${spec.name}=${n}`, context: Record<string, unknown> = {}): void {
  const bad = (why: string): never => fail(ErrorCodes.INVALID_OPTION, `${where} ${why}`, { ...context, option: spec.name });
  if (spec.min !== undefined && n < spec.min) bad(`is below the minimum ${spec.min}`);
  if (spec.max !== undefined && n > spec.max) bad(`is above the maximum ${spec.max}`);
}

/** The spec named `name` of a schema (INTERNAL when there is none: a programming error). */
export function optionSpec(specs: readonly OptionSpec[], name: string): OptionSpec {
  const s = specs.find((x) => x.name === name);
  if (!s) fail(ErrorCodes.INTERNAL, `no option "${name}" is declared`);
  return s;
}

/** Validates and converts raw option values (text from a pipeline, or typed values) for a pass. */
export function resolveOptions(pass: Pick<Pass, 'name' | 'options'>, raw: Record<string, unknown>): OptionValues {
  return resolveSchema(pass.options, raw, `pass ${pass.name}`, (spec, v) => `pass ${pass.name}: option ${spec.name}=${String(v)}`, undefined, { pass: pass.name });
}

/** `resolveOptions` for any schema (a pass's or a named pipeline's); `owner` names it in errors. */
export function resolveSchema(
  specs: readonly OptionSpec[],
  raw: Record<string, unknown>,
  owner: string,
  where: (spec: OptionSpec, v: unknown) => string,
  listSeparator?: RegExp,
  context: Record<string, unknown> = {},
): OptionValues {
  const out: OptionValues = {};
  for (const key of Object.keys(raw)) {
    if (raw[key] === undefined) continue;
    if (!specs.some((o) => o.name === key)) {
      const known = specs.map((o) => o.name).join(', ') || '(none)';
      fail(ErrorCodes.INVALID_OPTION, `${owner} has no option "${key}"; its options are: ${known}`, { ...context, option: key });
    }
  }
  for (const spec of specs) {
    const v = raw[spec.name];
    if (v === undefined) {
      if (spec.default !== undefined) out[spec.name] = spec.default;
      continue;
    }
    out[spec.name] = parseOptionValue(spec, v, where(spec, v), listSeparator, context);
  }
  return out;
}

/**
 * Declares a pass. The options schema is declared once (`as const` is not needed: the
 * literal types are kept), and `run` / `validate` receive the parsed options typed from it.
 */
export function definePass<const S extends readonly OptionSpec[] = readonly []>(p: PassDefinition<S, OptionsOf<S>>): Pass<OptionsOf<S>> & { readonly options: S } {
  type O = OptionsOf<S>;
  const { validate, run, ...rest } = p;
  const pass: Pass<O> & { readonly options: S } = {
    requires: [],
    establishes: [],
    preserves: [],
    ...rest,
    options: p.options ?? ([] as unknown as S),
    validate(options, model, shared) {
      validate?.(options, model, shared);
    },
    run(model, ctx, options) {
      if (options !== undefined) return run(model, ctx, options);
      // Called directly, outside a pipeline: validate as the pipeline would have.
      const o = ctx.options as O;
      validate?.(o, model, ctx.shared);
      return run(model, ctx, o);
    },
    resolve(given = {}) {
      return resolveOptions(pass, given as Record<string, unknown>) as O;
    },
  };
  return pass;
}

/**
 * The spec named `name` of a typed schema (a pass's `options`), with its literal type, so a
 * named pipeline can reuse a pass's option (doc, default, range) instead of copying it.
 */
export function pickOption<const S extends readonly OptionSpec[], N extends S[number]['name']>(specs: S, name: N): Extract<S[number], { readonly name: N }> {
  return optionSpec(specs, name) as Extract<S[number], { readonly name: N }>;
}

/** `spec` under another name (a named pipeline's option that sets a pass's option), optionally with another doc. */
export function renameOption<T extends OptionSpec, const N extends string>(spec: T, name: N, doc?: string): Omit<T, 'name'> & { readonly name: N } {
  return { ...spec, name, ...(doc !== undefined ? { doc } : {}) };
}

/** `spec` without its default (the option is off unless given). */
export function withoutDefault<T extends OptionSpec>(spec: T, doc?: string): Omit<T, 'default'> {
  const { default: _d, ...rest } = spec;
  return { ...rest, ...(doc !== undefined ? { doc } : {}) };
}
