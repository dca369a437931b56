/**
 * The pass manager: runs a pipeline over a model, verifying the IR between passes
 * (switchable), timing each pass, collecting statistics, tracking graph properties, and
 * naming the failing pass and the passes before it when something goes wrong.
 */
import type { Model } from '../ir/graph.js';
import { assertValid } from '../ir/verifier.js';
import { invalidateAnalyses, preserveAnalysis, type Analysis } from '../ir/analysis.js';
import { printModel } from '../ir/printer.js';
import { HbnnError, fail, ErrorCodes, isHbnnError } from '../errors.js';
import { resolveOptions, resolveSchema, type OptionSpec, type OptionsOf, type OptionValues, type Pass, type PassContext, type Property } from './pass.js';
import { parsePipeline, printPipeline, type PipelineItem } from './pipeline.js';

export interface PassRecord {
  pass: string;
  options: OptionValues;
  /** Milliseconds spent in the pass itself (verification not included). */
  ms: number;
  verifyMs: number;
  changed: boolean;
  stats: Record<string, number>;
  notes: string[];
}

export interface RunReport {
  pipeline: string;
  passes: PassRecord[];
  totalMs: number;
  properties: Property[];
  warnings: string[];
  artifacts: Map<string, unknown>;
}

export interface RunOptions {
  /** Verify the IR before the first pass and after each pass (default true). */
  verify?: boolean;
  /** Print the IR after these passes ('all' for every pass) to `sink`. */
  printIrAfter?: readonly string[] | 'all';
  sink?: (text: string) => void;
  /** Called after each pass (progress display). */
  onPass?: (rec: PassRecord) => void;
  /**
   * Threads a pass may use for independent work (default 1). Results never depend on it:
   * passes that use it split work whose outputs are computed independently.
   */
  threads?: number;
  /**
   * Skip the options' validation before the first pass: for a caller that ran
   * `Pipeline.validate` on this model already (quantize validates before preparing); the
   * map it returned (inputs loaded while validating) is handed to the passes.
   */
  validated?: Map<string, unknown>;
}

/**
 * A pass with typed options, as code builds pipelines (`quantize`): `given` are the options
 * set explicitly (printed in the pipeline text); the others take the pass's defaults.
 */
export interface PassInstance<O = OptionValues> {
  readonly kind: 'pass';
  readonly pass: Pass<O>;
  readonly given: Partial<O>;
}

/** A fixpoint group of pass instances (see pipeline.ts). */
export interface FixpointInstance {
  readonly kind: 'fixpoint';
  readonly max: number;
  readonly items: readonly PipelineStep[];
}

export type PipelineStep = PassInstance<any> | FixpointInstance; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `pass` with the options `given` (undefined entries are left out). */
export function passInstance<O>(pass: Pass<O>, given: Partial<O> = {}): PassInstance<O> {
  const set = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<O>;
  return { kind: 'pass', pass, given: set };
}

/** Option values as pipeline text: lists joined by `|`, numbers and booleans as JavaScript prints them. */
export function optionText(v: unknown): string {
  return Array.isArray(v) ? v.map(String).join('|') : String(v);
}

/** Pass instances as text pipeline items (for printing). */
export function stepsToItems(steps: readonly PipelineStep[]): PipelineItem[] {
  return steps.map((st) =>
    st.kind === 'fixpoint'
      ? { kind: 'fixpoint', max: st.max, items: stepsToItems(st.items) }
      : { kind: 'pass', name: st.pass.name, options: Object.fromEntries(Object.entries(st.given).map(([k, v]) => [k, optionText(v)])) },
  );
}

/**
 * A named pipeline with its own typed options (as MLIR's PassPipelineRegistration<Options>):
 * `build` turns parsed options into typed pass instances; the text form is only printed.
 */
export interface NamedPipeline<O = OptionValues> {
  readonly name: string;
  readonly summary: string;
  readonly options: readonly OptionSpec[];
  /** The options parsed and checked (text or typed values; INVALID_OPTION), the rest defaulted. */
  resolve(given?: Partial<Record<keyof O & string, unknown>>): O;
  build(options: O): PipelineStep[];
}

/** Declares a named pipeline; its options schema is typed as a pass's is (`definePass`). */
export function definePipeline<const S extends readonly OptionSpec[]>(p: {
  name: string;
  summary: string;
  options: S;
  build(options: OptionsOf<S>): PipelineStep[];
}): NamedPipeline<OptionsOf<S>> {
  return {
    name: p.name,
    summary: p.summary,
    options: p.options,
    resolve: (given = {}) =>
      resolveSchema(p.options, given as Record<string, unknown>, `pipeline ${p.name}`, (spec, v) => `pipeline ${p.name}: option ${spec.name}=${String(v)}`, undefined, {
        pipeline: p.name,
      }) as OptionsOf<S>,
    build: p.build,
  };
}

/** A pass registry: explicit registration, lookup by name; also holds named pipelines. */
export class PassRegistry {
  private readonly passes = new Map<string, Pass>();
  private readonly named = new Map<string, NamedPipeline<any>>(); // eslint-disable-line @typescript-eslint/no-explicit-any

  /** Registers named pipelines (listed by `hbnn-onnx passes`). */
  registerPipeline(...pipelines: NamedPipeline<any>[]): this { // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const p of pipelines) {
      if (this.named.has(p.name) || this.passes.has(p.name)) fail(ErrorCodes.INTERNAL, `${p.name} registered twice`);
      this.named.set(p.name, p);
    }
    return this;
  }

  /** The named pipeline `name`, if one is registered. */
  pipeline(name: string): NamedPipeline<any> | undefined { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.named.get(name);
  }

  /** The named pipelines, by name. */
  pipelines(): NamedPipeline<any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
    return [...this.named.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  register(...passes: Pass[]): this {
    for (const p of passes) {
      if (this.passes.has(p.name)) fail(ErrorCodes.INTERNAL, `pass ${p.name} registered twice`);
      if (!/^[a-z][a-z0-9-]*$/.test(p.name)) fail(ErrorCodes.INTERNAL, `pass name "${p.name}" is not kebab-case`);
      this.passes.set(p.name, p);
    }
    return this;
  }

  get(name: string): Pass {
    const p = this.passes.get(name);
    if (!p) {
      const near = [...this.passes.keys()].filter((k) => k.includes(name) || name.includes(k) || editDistance(k, name) <= 3);
      fail(ErrorCodes.UNKNOWN_PASS, `unknown pass "${name}"${near.length ? `; did you mean ${near.join(' or ')}?` : ''} (see \`hbnn-onnx passes\`)`, {
        pass: name,
      });
    }
    return p;
  }

  list(): Pass[] {
    return [...this.passes.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** A pipeline bound to passes and options, ready to run. */
/** Typed pass instances bound to their checked options. */
function bindSteps(steps: readonly PipelineStep[]): BoundItem[] {
  return steps.map((it) =>
    it.kind === 'fixpoint' ? { kind: 'fixpoint', max: it.max, items: bindSteps(it.items) } : { kind: 'pass', pass: it.pass as Pass, options: it.pass.resolve(it.given) as OptionValues },
  );
}

export class Pipeline {
  private constructor(
    readonly items: readonly BoundItem[],
    readonly text: string,
  ) {}

  /** Parses a text pipeline and checks every pass name and option against the registry. */
  static parse(text: string, registry: PassRegistry): Pipeline {
    return Pipeline.fromItems(parsePipeline(text), registry);
  }

  /**
   * Binds parsed items to the registry's passes. An item that names a registered named
   * pipeline (`quantize{avg-bits=1.4}`) expands to the pass instances it builds from its
   * options (checked by its schema); the pipeline's text stays as written.
   */
  static fromItems(items: readonly PipelineItem[], registry: PassRegistry): Pipeline {
    const bind = (its: readonly PipelineItem[]): BoundItem[] =>
      its.flatMap((it): BoundItem[] => {
        if (it.kind === 'fixpoint') return [{ kind: 'fixpoint', max: it.max, items: bind(it.items) }];
        const named = registry.pipeline(it.name);
        if (named) return bindSteps(named.build(named.resolve(it.options)));
        return [{ kind: 'pass', pass: registry.get(it.name), options: resolveOptions(registry.get(it.name), it.options) }];
      });
    return new Pipeline(bind(items), printPipeline(items));
  }

  /**
   * A pipeline of typed pass instances (built by code, not parsed): each instance's options
   * are checked now (INVALID_OPTION); the text form is only printed.
   */
  static of(steps: readonly PipelineStep[]): Pipeline {
    return new Pipeline(bindSteps(steps), printPipeline(stepsToItems(steps)));
  }

  /**
   * Runs every pass's `validate` hook on `model` as it is now, before anything changes: an
   * invalid option (or option combination, or calibration data that does not fit the model)
   * of any pass, the last included, is reported before the first pass runs.
   */
  validate(model: Model, shared: Map<string, unknown> = new Map()): Map<string, unknown> {
    const visit = (items: readonly BoundItem[]): void => {
      for (const it of items) {
        if (it.kind === 'fixpoint') visit(it.items);
        else {
          try {
            it.pass.validate(it.options, model, shared);
          } catch (e) {
            if (isHbnnError(e)) throw new HbnnError(e.code, e.message, { ...e.context, pass: it.pass.name }, { cause: e });
            throw e;
          }
        }
      }
    };
    visit(this.items);
    return shared;
  }

  toString(): string {
    return this.text;
  }

  async run(model: Model, opts: RunOptions = {}): Promise<RunReport> {
    const verify = opts.verify ?? true;
    const report: RunReport = { pipeline: this.text, passes: [], totalMs: 0, properties: [], warnings: [], artifacts: new Map() };
    const props = new Set<Property>();
    const t0 = performance.now();
    const shared = opts.validated ?? this.validate(model);
    if (verify) {
      // A pipeline that starts by sorting accepts inputs whose nodes are out of order.
      const first = firstPass(this.items);
      const allowUnsorted = first?.pass.establishes.includes('topologically-sorted') ?? false;
      try {
        report.warnings.push(...assertValid(model, {}, { allowUnsorted }).map((w) => w.message));
      } catch (e) {
        if (isHbnnError(e)) throw new HbnnError(e.code, `the input model is not valid IR, before any pass ran:\n${e.message}`, e.context);
        throw e;
      }
    }
    const runItems = async (items: readonly BoundItem[]): Promise<boolean> => {
      let any = false;
      for (const it of items) {
        if (it.kind === 'fixpoint') {
          let round = 0;
          for (;;) {
            round++;
            const changed = await runItems(it.items);
            any ||= changed;
            if (!changed) break;
            if (round >= it.max) {
              report.warnings.push(`fixpoint group (${it.items.map(itemName).join(',')}) still changed the model after max=${it.max} rounds; stopped there`);
              break;
            }
          }
          continue;
        }
        any = (await this.runOne(it, model, props, report, verify, opts, shared)) || any;
      }
      return any;
    };
    await runItems(this.items);
    report.totalMs = performance.now() - t0;
    report.properties = [...props];
    return report;
  }

  private async runOne(it: BoundPass, model: Model, props: Set<Property>, report: RunReport, verify: boolean, opts: RunOptions, shared: Map<string, unknown>): Promise<boolean> {
    const { pass } = it;
    const before = report.passes.map((p) => p.pass);
    const missing = pass.requires.filter((r) => !props.has(r));
    if (missing.length > 0) {
      fail(
        ErrorCodes.PASS_FAILED,
        `pass ${pass.name} requires ${missing.join(', ')}, which no earlier pass in the pipeline established` +
          ` (passes before it: ${before.join(', ') || 'none'}); add the pass that establishes it (see \`hbnn-onnx passes\`)`,
        { pass: pass.name, before },
      );
    }
    const rec: PassRecord = { pass: pass.name, options: it.options, ms: 0, verifyMs: 0, changed: false, stats: {}, notes: [] };
    const ctx: PassContext = {
      options: it.options,
      stat: (name, inc = 1) => {
        rec.stats[name] = (rec.stats[name] ?? 0) + inc;
      },
      note: (m) => void rec.notes.push(m),
      properties: props,
      artifacts: report.artifacts,
      threads: opts.threads ?? 1,
      shared,
      preserveAnalysis: (analysis, value) => {
        preserveAnalysis(model, analysis, value);
        preserved.add(analysis as Analysis<unknown>);
      },
    };
    const preserved = new Set<Analysis<unknown>>();
    const t0 = performance.now();
    let result;
    try {
      result = await pass.run(model, ctx, it.options);
    } catch (e) {
      invalidateAnalyses(model);
      const where = `pass ${pass.name} failed (passes before it: ${before.join(', ') || 'none'})`;
      if (isHbnnError(e)) throw new HbnnError(e.code, `${where}: ${e.message}`, { ...e.context, pass: pass.name, before }, { cause: e });
      throw new HbnnError(ErrorCodes.PASS_FAILED, `${where}: ${(e as Error).message ?? String(e)}`, { pass: pass.name, before }, { cause: e });
    }
    rec.ms = performance.now() - t0;
    rec.changed = result.changed;
    if (result.changed) {
      // The pass may have edited fields the IR does not track (rule 2 of src/ir/analysis.ts).
      invalidateAnalyses(model, preserved);
      if (pass.preserves !== 'all') for (const p of [...props]) if (!pass.preserves.includes(p)) props.delete(p);
    }
    for (const p of pass.establishes) props.add(p);
    if (verify) {
      const v0 = performance.now();
      try {
        report.warnings.push(...assertValid(model, { pass: pass.name }).map((w) => w.message));
      } catch (e) {
        if (isHbnnError(e)) {
          throw new HbnnError(ErrorCodes.VERIFY, `pass ${pass.name} left an invalid graph (passes before it: ${before.join(', ') || 'none'}):\n${e.message}`, {
            ...e.context,
            pass: pass.name,
          });
        }
        throw e;
      }
      rec.verifyMs = performance.now() - v0;
    }
    report.passes.push(rec);
    opts.onPass?.(rec);
    const pr = opts.printIrAfter;
    if (pr && (pr === 'all' || pr.includes(pass.name))) (opts.sink ?? ((s) => process.stderr.write(s)))(`// IR after ${pass.name}\n${printModel(model)}`);
    return result.changed;
  }
}

type BoundPass = { kind: 'pass'; pass: Pass; options: OptionValues };
type BoundItem = BoundPass | { kind: 'fixpoint'; max: number; items: BoundItem[] };

function firstPass(items: readonly BoundItem[]): BoundPass | undefined {
  const it = items[0];
  if (!it) return undefined;
  return it.kind === 'pass' ? it : firstPass(it.items);
}

function itemName(it: BoundItem): string {
  return it.kind === 'fixpoint' ? 'fixpoint(...)' : it.pass.name;
}

/** Formats a run report as a table (for --timing / --verbose). */
export function formatReport(r: RunReport): string {
  const lines = [`pipeline: ${r.pipeline || '(empty)'}`];
  for (const p of r.passes) {
    const stats = Object.entries(p.stats).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`  ${p.pass.padEnd(32)} ${p.ms.toFixed(1).padStart(9)} ms  verify ${p.verifyMs.toFixed(1).padStart(7)} ms  ${p.changed ? 'changed' : 'unchanged'}  ${stats}`);
    for (const n of p.notes) lines.push(`      note: ${n}`);
  }
  lines.push(`  total ${r.totalMs.toFixed(1)} ms`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
