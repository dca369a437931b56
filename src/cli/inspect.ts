/**
 * `hbnn-onnx inspect MODEL [--json]`: the model summary from `inspectModel`, as aligned
 * text tables or as JSON. The summary itself lives in src/inspect.ts; this file only formats.
 */
import type { Command } from 'commander';
import { loadModel } from '../onnx/io.js';
import { inspectModel, type InspectReport } from '../inspect.js';
import { formatBytes, formatCount, formatShape, table } from './format.js';
import { toJson, type CliIo } from './io.js';
import { displayPath } from './paths.js';
import * as path from 'node:path';

export interface InspectOptions {
  json?: boolean;
}

export function registerInspect(program: Command, io: CliIo): void {
  program
    .command('inspect')
    .summary('summarize a model: inputs, outputs, ops, parameters per layer, warnings')
    .description(
      'Print a summary of an ONNX model: IR version, opsets, producer, metadata, inputs and\n' +
        'outputs with types and shapes, the op histogram, parameters and bytes per layer (a layer\n' +
        'is a node with initializer inputs), totals, and warnings (undeclared operator domains,\n' +
        'duplicate node names, IR verifier findings). Warnings never make inspect fail.',
    )
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print the report as JSON (format "hbnn-onnx.inspect", version 1)')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx inspect fixtures/models/fmnist-cnn.onnx
  $ hbnn-onnx inspect model.onnx --json > summary.json`,
    )
    .action((model: string, opts: InspectOptions) => {
      const report = inspectModel(loadModel(path.resolve(io.cwd, model)));
      report.file = displayPath(model, io.cwd);
      io.stdout(opts.json ? toJson(report) : formatInspectReport(report));
    });
}

/** One text section per entry; a new report section adds one function here. */
const SECTIONS: readonly ((r: InspectReport) => string | undefined)[] = [modelSection, ioSection, opsSection, layersSection, totalsSection, warningsSection];

export function formatInspectReport(r: InspectReport): string {
  return (
    SECTIONS.map((s) => s(r))
      .filter((s): s is string => s !== undefined)
      .join('\n\n') + '\n'
  );
}

function modelSection(r: InspectReport): string {
  const rows: [string, string][] = [];
  if (r.file !== undefined) rows.push(['file', r.file]);
  rows.push(['ir_version', String(r.irVersion)]);
  rows.push(['opsets', r.opsets.map((o) => `${o.domain}:${o.version}`).join(', ') || '(none)']);
  rows.push(['producer', [r.producer.name, r.producer.version].filter((x) => x).join(' ') || '(none)']);
  if (r.modelDomain !== undefined) rows.push(['domain', r.modelDomain]);
  if (r.modelVersion !== undefined) rows.push(['model_version', String(r.modelVersion)]);
  if (r.docString !== undefined) rows.push(['doc', r.docString.split('\n')[0]!]);
  for (const m of r.metadata) rows.push([`metadata ${m.key}`, m.value]);
  const g = r.graph;
  const sub = g.subgraphs > 0 ? `, ${formatCount(g.totalNodes)} with ${g.subgraphs} subgraph${g.subgraphs > 1 ? 's' : ''}` : '';
  rows.push(['graph', `${g.name || '(unnamed)'}: ${formatCount(g.nodes)} nodes${sub}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return ['model', ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}

function ioSection(r: InspectReport): string {
  const rows = (kind: string, list: InspectReport['inputs']): string[][] => list.map((v) => [kind, v.name, v.dtype ?? '?', v.shape ? formatShape(v.shape) : v.dtype ? '(rank unknown)' : v.type]);
  let text = `inputs and outputs\n${table(['kind', 'name', 'type', 'shape'], [...rows('input', r.inputs), ...rows('output', r.outputs)])}`;
  if (r.graph.initializerInputs > 0) text += `\n  (${r.graph.initializerInputs} initializers are also listed as graph inputs; not shown)`;
  return text;
}

function opsSection(r: InspectReport): string {
  const rows = r.ops.map((o) => [o.domain === 'ai.onnx' ? o.op : `${o.domain}:${o.op}`, String(o.count)]);
  return `ops (${formatCount(r.graph.totalNodes)} nodes)\n${table(['op', 'count'], rows, ['left', 'right'])}`;
}

function layersSection(r: InspectReport): string {
  if (r.layers.length === 0) return 'layers\n  (no node has initializer inputs)';
  const rows = r.layers.map((l) => [
    l.node || '(unnamed)',
    l.domain === 'ai.onnx' ? l.op : `${l.domain}:${l.op}`,
    l.params.map((p) => `${p.name}${formatShape(p.shape)}`).join(' '),
    formatCount(l.count),
    formatBytes(l.bytes),
  ]);
  return `layers (${r.layers.length} nodes with parameters)\n${table(['node', 'op', 'parameters', 'count', 'bytes'], rows, ['left', 'left', 'left', 'right', 'right'])}`;
}

function totalsSection(r: InspectReport): string {
  const t = r.totals;
  const i = t.initializers;
  const lines = [
    'totals',
    `  parameters    ${formatCount(t.parameters)} in ${t.layers} layers (${formatBytes(t.bytes)})`,
    `  initializers  ${formatCount(i.count)} tensors, ${formatCount(i.parameters)} values (${formatBytes(i.bytes)})`,
  ];
  return lines.join('\n');
}

function warningsSection(r: InspectReport): string | undefined {
  if (r.warnings.length === 0) return undefined;
  return [`warnings (${r.warnings.length})`, ...r.warnings.map((w) => `  - [${w.kind}] ${w.message}`)].join('\n');
}
