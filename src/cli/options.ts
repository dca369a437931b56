/**
 * Option kinds and parsers shared by the commands (no command file imports another's
 * parsers: they live here).
 */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { fail, ErrorCodes } from '../errors.js';
import { DEFAULT_DECODE_WORKERS_TEXT, MAX_DECODE_WORKERS, formatDataSpec, parseDataSpec, parseNormalization, type DataSpec, type Normalization } from '../data/index.js';
import { GRANULARITIES, type Granularity } from '../quant/weights.js';
import { parseOptionValue, type OptionSpec } from '../pass/pass.js';
import { decodeTensor } from '../onnx/io.js';
import type { TensorDecoder } from '../data/index.js';

/**
 * A list option: one value per flag, repeatable, each value may hold several items
 * separated by commas (`--exclude a,b --exclude c` gives ['a,b', 'c']; the command splits
 * on commas). Not variadic: a variadic option (`<glob...>`) would also swallow the model
 * path that follows it (`quantize --exclude '/fc*' model.onnx`).
 */
export function listOption(flags: string, description: string): Option {
  return new Option(flags, `${description} (repeat the flag or separate by commas)`).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}

const apiAliases = new WeakMap<Command, Readonly<Record<string, string>>>();

/**
 * Declares the API option keys of `cmd` whose name differs from the attribute of the flag
 * that sets them (train: the API's `limit` is --train-limit, attribute `trainLimit`).
 */
export function apiOptionAliases(cmd: Command, aliases: Readonly<Record<string, string>>): void {
  apiAliases.set(cmd, { ...apiAliases.get(cmd), ...aliases });
}

/**
 * `message` for a CLI user: each backquoted API option key (`optionName` in src/errors.ts)
 * becomes the flag of `cmd` that sets it (`checkpointDir` → --checkpoint-dir); keys the
 * command has no flag for stay as they are.
 */
export function toCliTerms(message: string, cmd: Command | undefined): string {
  if (cmd === undefined) return message;
  return message.replace(/`([A-Za-z][A-Za-z0-9]*)`/g, (whole, key: string) => {
    const attr = apiAliases.get(cmd)?.[key] ?? key;
    const opt = cmd.options.find((o) => o.attributeName() === attr);
    return opt?.long ?? opt?.short ?? whole;
  });
}

// ------------------------------------------------------------------------------------------
// Option parsing shared by the HBNN commands. Values are checked in the action (not by
// commander) so every bad value is an INVALID_OPTION error naming the flag, raised before
// any work.
// ------------------------------------------------------------------------------------------

/** A finite number, or INVALID_OPTION naming `flag`. */
export function parseNumberOption(text: string, flag: string): number {
  const t = text.trim();
  const v = t === '' ? NaN : Number(t);
  if (!Number.isFinite(v)) fail(ErrorCodes.INVALID_OPTION, `${flag} must be a number, got '${text}'`, { option: flag });
  return v;
}

/** An integer >= `min`, or INVALID_OPTION naming `flag`. */
export function parseIntOption(text: string, flag: string, min: number): number {
  const v = parseNumberOption(text, flag);
  if (!Number.isSafeInteger(v) || v < min) fail(ErrorCodes.INVALID_OPTION, `${flag} must be an integer >= ${min}, got '${text}'`, { option: flag });
  return v;
}

/**
 * `--decode-workers <n>`: threads decoding `folder:` images (the data API's `decodeWorkers`,
 * src/data/stream.ts, which holds the default and the range). One definition for every command
 * that takes it; not the data-parallel `train --workers`.
 */
export const DECODE_WORKERS_FLAGS = '--decode-workers <n>';
export const DECODE_WORKERS_HELP = `threads decoding folder: images (default: ${DEFAULT_DECODE_WORKERS_TEXT}; 0: decode on the main thread); the result is the same for any count`;

/** A `--decode-workers` value (or a flag standing for it): an integer from 0 to MAX_DECODE_WORKERS, or INVALID_OPTION naming `flag`. */
export function parseDecodeWorkersOption(text: string, flag: string): number {
  const v = parseIntOption(text, flag, 0);
  if (v > MAX_DECODE_WORKERS) fail(ErrorCodes.INVALID_OPTION, `${flag} must be an integer from 0 to ${MAX_DECODE_WORKERS}, got '${text}'`, { option: flag });
  return v;
}

/** A comma-separated list of numbers, e.g. `0.7,0.2,0.1`. */
export function parseNumberListOption(text: string, flag: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) fail(ErrorCodes.INVALID_OPTION, `${flag} must be a comma-separated list of numbers, got '${text}'`, { option: flag });
  return parts.map((p) => parseNumberOption(p, flag));
}

/** `--normalize`: 'none' (undefined), 'fmnist' or MEAN:STD. */
export function parseNormalizeOption(text: string | undefined): Normalization | undefined {
  if (text === undefined || text.trim().toLowerCase() === 'none') return undefined;
  return parseNormalization(text);
}

/**
 * A data SPEC with its relative paths resolved against `cwd` (the CLI's working folder), as
 * SPEC text. Named sources (fmnist:test, fmnist-mini:train) are returned as they are.
 */
export function resolveDataSpec(spec: string, cwd: string): string {
  const p = parseDataSpec(spec);
  const abs = (f: string): string => path.resolve(cwd, f);
  let r: DataSpec;
  switch (p.kind) {
    case 'fmnist':
      return spec.trim();
    case 'idx':
      r = { kind: 'idx', images: abs(p.images), ...(p.labels !== undefined ? { labels: abs(p.labels) } : {}) };
      break;
    case 'npy':
      r = { kind: 'npy', x: abs(p.x), ...(p.y !== undefined ? { y: abs(p.y) } : {}) };
      break;
    case 'pb':
      r = { kind: 'pb', dir: abs(p.dir) };
      break;
    case 'folder':
      r = { kind: 'folder', dir: abs(p.dir), prep: { ...p.prep, ...(p.prep.classesFile !== undefined ? { classesFile: abs(p.prep.classesFile) } : {}) } };
      break;
    case 'cifar':
      r = { ...p, dir: abs(p.dir) };
      break;
    case 'path':
      r = { kind: 'path', path: abs(p.path) };
      break;
  }
  return formatDataSpec(r);
}

/** List options (`--include a,b --include c`): the values, commas split. */
export function globList(values: readonly string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const out = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  return out.length > 0 ? out : undefined;
}

/**
 * `--granularity`: 'entry' or 'row' (INVALID_OPTION otherwise, naming the flag); with
 * `heuristic` 'layer', 'row' is INVALID_OPTION too (layer-level mixing has no bit map).
 */
export function parseGranularityOption(text: string, heuristics: readonly string[], flag = '--granularity'): Granularity {
  const g = text.trim();
  if (!(GRANULARITIES as readonly string[]).includes(g)) {
    fail(ErrorCodes.INVALID_OPTION, `${flag} must be ${GRANULARITIES.join(' or ')}, got '${text}'`, { option: flag });
  }
  if (g === 'row' && heuristics.includes('layer')) {
    fail(ErrorCodes.INVALID_OPTION, `${flag} row needs a bit map heuristic; the layer heuristic gives each whole layer one bitwidth already`, { option: flag });
  }
  return g as Granularity;
}

/** `n` as a percentage with one decimal: 0.7 → "70.0%". */
export function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** A distribution as text: "70.0% 1-bit, 20.0% 2-bit, 10.0% 3-bit" (zero entries left out). */
export function formatDistribution(dist: readonly number[]): string {
  return dist.flatMap((p, i) => (p > 0 ? [`${percent(p)} ${i + 1}-bit`] : [])).join(', ');
}

const HEURISTIC_TITLES: Record<string, string> = {
  'middle-out': 'Middle-Out',
  'middle-out-residual': 'Middle-Out (residual)',
  'top-down': 'Top-Down',
  'bottom-up': 'Bottom-Up',
  random: 'random',
  layer: 'layer-level',
};

export function heuristicTitle(h: string): string {
  return HEURISTIC_TITLES[h] ?? h;
}


/** Shell-quotes an argument for display when it needs it. */
export function quoteArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// ------------------------------------------------------------------------------------------
// Flags generated from option schemas (a pass's or a named pipeline's OptionSpec): the doc,
// default, range and choices are declared once, in the schema.
// ------------------------------------------------------------------------------------------

/** `--name` of a spec. */
export function flagOf(spec: OptionSpec): string {
  return `--${spec.name}`;
}

/** The commander attribute of a spec's flag (`--avg-bits` → avgBits). */
export function attributeOf(spec: OptionSpec): string {
  return spec.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function defaultText(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : String(v);
}

/**
 * The help of a flag generated from `spec`: its doc, the range (`in [min, max]`) and the
 * default (`(default X)`; a false boolean says nothing) and the choices.
 */
export function schemaHelp(spec: OptionSpec, doc = spec.doc): string {
  const range = spec.min !== undefined && spec.max !== undefined ? `in [${spec.min}, ${spec.max}]` : spec.min !== undefined ? `>= ${spec.min}` : spec.max !== undefined ? `<= ${spec.max}` : '';
  const parts = [doc, ...(range && (spec.type === 'number' || spec.type === 'integer') ? [`(${range})`] : [])];
  if (spec.default !== undefined && spec.default !== false) parts.push(`(default ${defaultText(spec.default)})`);
  if (spec.choices) parts.push(`(choices: ${spec.choices.map((c) => JSON.stringify(c)).join(', ')})`);
  return parts.join(' ');
}

/**
 * A commander option generated from `spec`: `--name <metavar>` (a switch for booleans,
 * repeatable for string lists), help from `schemaHelp`, choices from the spec. Values are
 * parsed by `parseSchemaFlag` in the action, so a bad one is INVALID_OPTION naming the flag.
 */
export function schemaOption(spec: OptionSpec, metavar = 'value', doc?: string): Option {
  const help = schemaHelp(spec, doc);
  if (spec.type === 'boolean') return new Option(flagOf(spec), help);
  if (spec.type === 'string-list') return listOption(`${flagOf(spec)} <${metavar}>`, help);
  // choices are checked by parseSchemaFlag (INVALID_OPTION naming the flag), not by commander
  return new Option(`${flagOf(spec)} <${metavar}>`, help);
}

/**
 * A flag's value parsed and checked against its spec (type, integer, range, choices;
 * INVALID_OPTION naming the flag: `--max-bits 9 is above the maximum 8`). Lists are
 * comma-separated on the command line; a repeated list flag gives several texts.
 */
export function parseSchemaFlag(spec: OptionSpec, value: string | boolean | readonly string[]): unknown {
  if (spec.type === 'boolean') return value === true;
  const text = Array.isArray(value) ? value.join(',') : String(value).trim();
  if (spec.type === 'number-list' && text.split(',').some((p) => p.trim() === '')) {
    fail(ErrorCodes.INVALID_OPTION, `${flagOf(spec)} must be a comma-separated list of numbers, got '${text}'`, { option: flagOf(spec) });
  }
  const v = parseOptionValue(spec, text, `${flagOf(spec)} ${text}`, /,/, {});
  if (spec.type === 'string-list' && (v as string[]).length === 0) return undefined;
  return v;
}

/** The flags of `specs` that `o` (commander's values) has, parsed by `parseSchemaFlag`, by spec name. */
export function parseSchemaFlags(specs: readonly OptionSpec[], o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of specs) {
    const raw = (o as Record<string, unknown>)[attributeOf(spec)];
    if (raw === undefined) continue;
    const v = parseSchemaFlag(spec, raw as string | boolean | string[]);
    if (v !== undefined) out[spec.name] = v;
  }
  return out;
}

/** Decodes a TensorProto of a test_data_set (pb: data) for the data loaders (eval, sweep, lower, train). */
export const decodeDataTensor: TensorDecoder = (bytes) => {
  const t = decodeTensor(bytes);
  return { name: t.name, dims: [...t.dims], data: t.toFloat32() };
};
