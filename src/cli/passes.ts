/**
 * `hbnn-onnx passes [--json]`: every registered pass, described from its own declaration
 * (summary, options, required and established properties), so the text cannot drift.
 */
import type { Command } from 'commander';
import type { OptionSpec, Pass } from '../pass/pass.js';
import type { NamedPipeline } from '../pass/manager.js';
import { toJson, type CliIo } from './io.js';

export function registerPasses(program: Command, io: CliIo): void {
  program
    .command('passes')
    .summary('list the registered passes with their options')
    .description(
      'List every registered pass: its summary, options (type, default, choices, range, doc) and the\ngraph properties it requires and establishes; then the named pipelines (quantize) with their\noptions. Generated from the declarations.',
    )
    .option('--json', 'print the declarations as JSON: { passes: [...], pipelines: [...] }')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx passes
  $ hbnn-onnx passes --json | jq '.passes[].name'
  $ hbnn-onnx passes --json | jq '.pipelines[] | select(.name == "quantize") | .options'`,
    )
    .action((opts: { json?: boolean }) => {
      const reg = io.registry();
      const passes = reg.list();
      const pipelines = reg.pipelines();
      io.stdout(opts.json ? toJson({ passes: passes.map(describePass), pipelines: pipelines.map(describePipeline) }) : formatPasses(passes) + formatPipelines(pipelines));
    });
}

export interface OptionDescription {
  name: string;
  type: string;
  default?: unknown;
  doc: string;
  choices?: string[];
  min?: number;
  max?: number;
}

export interface PassDescription {
  name: string;
  summary: string;
  description?: string;
  options: OptionDescription[];
  requires: string[];
  establishes: string[];
  preserves: string[] | 'all';
}

export function describePass(p: Pass): PassDescription {
  return {
    name: p.name,
    summary: p.summary,
    ...(p.description !== undefined ? { description: p.description } : {}),
    options: p.options.map(describeOption),
    requires: [...p.requires],
    establishes: [...p.establishes],
    preserves: p.preserves === 'all' ? 'all' : [...p.preserves],
  };
}

/** `passes --json`: one option spec. */
export function describeOption(o: OptionSpec): OptionDescription {
  return {
    name: o.name,
    type: o.type,
    ...(o.default !== undefined ? { default: o.default } : {}),
    doc: o.doc,
    ...(o.choices ? { choices: [...o.choices] } : {}),
    ...(o.min !== undefined ? { min: o.min } : {}),
    ...(o.max !== undefined ? { max: o.max } : {}),
  };
}

export interface PipelineDescription {
  name: string;
  summary: string;
  options: OptionDescription[];
}

export function describePipeline(p: NamedPipeline<unknown>): PipelineDescription {
  return { name: p.name, summary: p.summary, options: p.options.map(describeOption) };
}

function formatDefault(v: unknown): string {
  if (v === undefined) return '';
  if (Array.isArray(v)) return v.join('|');
  return String(v);
}

export function formatPasses(passes: readonly Pass[]): string {
  if (passes.length === 0) return 'no passes are registered\n';
  const width = Math.max(...passes.map((p) => p.name.length));
  const blocks = passes.map((p) => {
    const lines = [`${p.name.padEnd(width)}  ${p.summary}`, ...p.options.map(formatOption)];
    if (p.requires.length > 0) lines.push(`    requires: ${p.requires.join(', ')}`);
    if (p.establishes.length > 0) lines.push(`    establishes: ${p.establishes.join(', ')}`);
    return lines.join('\n');
  });
  return `${passes.length} registered pass${passes.length === 1 ? '' : 'es'} (options go in braces: name{key=value,...})\n\n${blocks.join('\n\n')}\n`;
}

function formatOption(o: OptionSpec): string {
  const range = [o.min !== undefined ? `min ${o.min}` : '', o.max !== undefined ? `max ${o.max}` : ''].filter((x) => x).join(', ');
  const extra = [o.default !== undefined ? `default ${formatDefault(o.default)}` : '', o.choices ? `one of ${o.choices.join('|')}` : '', range].filter((x) => x);
  return `    ${o.name}: ${o.type}${extra.length ? ` (${extra.join('; ')})` : ''}  ${o.doc}`;
}

/** The named pipelines after the passes (nothing when none is registered). */
export function formatPipelines(pipelines: readonly NamedPipeline<unknown>[]): string {
  if (pipelines.length === 0) return '';
  const blocks = pipelines.map((p) => [`${p.name}  ${p.summary}`, ...p.options.map(formatOption)].join('\n'));
  return `\n${pipelines.length} named pipeline${pipelines.length === 1 ? '' : 's'} (the options of a command that runs it)\n\n${blocks.join('\n\n')}\n`;
}
