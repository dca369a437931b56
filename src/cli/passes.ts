/**
 * `hbnn-onnx passes [--json]`: every registered pass, described from its own declaration
 * (summary, options, required and established properties), so the text cannot drift.
 */
import type { Command } from 'commander';
import type { Pass } from '../pass/pass.js';
import { toJson, type CliIo } from './io.js';

export function registerPasses(program: Command, io: CliIo): void {
  program
    .command('passes')
    .summary('list the registered passes with their options')
    .description('List every registered pass: its summary, options (type, default, choices, doc) and the\ngraph properties it requires and establishes. Generated from the pass declarations.')
    .option('--json', 'print the pass declarations as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx passes
  $ hbnn-onnx passes --json | jq '.[].name'`,
    )
    .action((opts: { json?: boolean }) => {
      const passes = io.registry().list();
      io.stdout(opts.json ? toJson(passes.map(describePass)) : formatPasses(passes));
    });
}

export interface PassDescription {
  name: string;
  summary: string;
  description?: string;
  options: { name: string; type: string; default?: unknown; doc: string; choices?: string[]; min?: number; max?: number }[];
  requires: string[];
  establishes: string[];
  preserves: string[] | 'all';
}

export function describePass(p: Pass): PassDescription {
  return {
    name: p.name,
    summary: p.summary,
    ...(p.description !== undefined ? { description: p.description } : {}),
    options: p.options.map((o) => ({
      name: o.name,
      type: o.type,
      ...(o.default !== undefined ? { default: o.default } : {}),
      doc: o.doc,
      ...(o.choices ? { choices: [...o.choices] } : {}),
      ...(o.min !== undefined ? { min: o.min } : {}),
      ...(o.max !== undefined ? { max: o.max } : {}),
    })),
    requires: [...p.requires],
    establishes: [...p.establishes],
    preserves: p.preserves === 'all' ? 'all' : [...p.preserves],
  };
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
    const lines = [`${p.name.padEnd(width)}  ${p.summary}`];
    for (const o of p.options) {
      const range = [o.min !== undefined ? `min ${o.min}` : '', o.max !== undefined ? `max ${o.max}` : ''].filter((x) => x).join(', ');
      const extra = [
        o.default !== undefined ? `default ${formatDefault(o.default)}` : '',
        o.choices ? `one of ${o.choices.join('|')}` : '',
        range,
      ].filter((x) => x);
      lines.push(`    ${o.name}: ${o.type}${extra.length ? ` (${extra.join('; ')})` : ''}  ${o.doc}`);
    }
    if (p.requires.length > 0) lines.push(`    requires: ${p.requires.join(', ')}`);
    if (p.establishes.length > 0) lines.push(`    establishes: ${p.establishes.join(', ')}`);
    return lines.join('\n');
  });
  return `${passes.length} registered pass${passes.length === 1 ? '' : 'es'} (options go in braces: name{key=value,...})\n\n${blocks.join('\n\n')}\n`;
}
