/**
 * `hbnn-onnx inspect MODEL [--json]`: the model summary from `inspectModel`, as aligned
 * text tables or as JSON. The summary itself lives in src/inspect.ts; this file only formats.
 */
import type { Command } from 'commander';
import { loadModel } from '../onnx/io.js';
import { inspectModel, type InspectReport, type QuantizationSummary } from '../inspect.js';
import { META_IMPORT, META_RECORD } from '../quant/format.js';
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
      'Print a summary of an ONNX model: IR version, opsets, producer, metadata, inputs and ' +
        'outputs with types and shapes, the op histogram, parameters and bytes per layer (a layer ' +
        'is a node with initializer inputs), totals, and warnings (undeclared operator domains, ' +
        'duplicate node names, IR verifier findings). Warnings never make inspect fail. ' +
        'For an HBNN-quantized model also: per binarized layer the bit histogram, average bits, ' +
        'heuristic and scales; the activation binarizers with their calibrated constants; and ' +
        'the overall average bits.',
    )
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print the report as JSON (format "hbnn-onnx.inspect", version 1)')
    .addHelpText(
      'after',
      `
Examples:
  $ hbnn-onnx inspect fixtures/models/fmnist-cnn.onnx
  $ hbnn-onnx inspect model.onnx --json > summary.json
  $ hbnn-onnx inspect model.hbnn.onnx            # with the quantization section`,
    )
    .action((model: string, opts: InspectOptions) => {
      const report = inspectModel(loadModel(path.resolve(io.cwd, model)));
      report.file = displayPath(model, io.cwd);
      io.stdout(opts.json ? toJson(report) : formatInspectReport(report));
    });
}

/** One text section per entry; a new report section adds one function here. */
const SECTIONS: readonly ((r: InspectReport) => string | undefined)[] = [modelSection, ioSection, opsSection, layersSection, totalsSection, quantizationSection, warningsSection];

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
  for (const m of r.metadata) {
    // The quantization record is a long JSON document; its content is the quantization section.
    const value =
      m.key === META_RECORD && m.value.length > 80
        ? `(JSON, ${formatBytes(m.value.length)}; shown under "quantization")`
        : m.key === META_IMPORT && m.value.length > 80
          ? `(JSON, ${formatBytes(m.value.length)}; what import-qonnx folded and kept, docs/import.md)`
          : m.value;
    rows.push([`metadata ${m.key}`, value]);
  }
  rows.push([
    'input normalization',
    r.inputNormalization !== null
      ? `${r.inputNormalization} (recorded; commands that feed data use it unless --normalize is given)`
      : 'unknown (no hbnn.input_normalization record: give --normalize to the commands that feed data)',
  ]);
  const t = r.training;
  rows.push([
    'training',
    t === null
      ? 'not checked (the trainer cannot read this graph)'
      : t.missingGradientRules.length === 0
        ? 'every operator between the parameters and the output has a gradient rule (train can build its gradients)'
        : `no gradient rule for ${t.missingGradientRules.map((m) => `${m.op} (${m.nodes.length} node${m.nodes.length > 1 ? 's' : ''}, e.g. ${m.nodes[0]})`).join(', ')}: train refuses it`,
  ]);
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

/** Up to 4 significant digits, no exponent for ordinary magnitudes. */
function num(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? String(+x.toPrecision(4)) : x.toExponential(3);
}

/** Per-bit scales: "0.1234 / 0.0567 / 0.0123", or per channel "32 ch, mean 0.08 / 0.03 / 0.01". */
function formatScales(s: number[] | number[][]): string {
  if (s.length === 0) return '';
  if (Array.isArray(s[0])) {
    const rows = s as number[][];
    const means = rows.map((r) => r.reduce((a, b) => a + b, 0) / Math.max(1, r.length));
    return `${rows[0]!.length} ch, mean ${means.map(num).join(' / ')}`;
  }
  return (s as number[]).map(num).join(' / ');
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function quantizationSection(r: InspectReport): string | undefined {
  const q: QuantizationSummary | undefined = r.quantization;
  if (!q) return undefined;
  const k = Math.max(1, ...q.weights.map((w) => w.histogram.length));
  const bitCols = Array.from({ length: k }, (_, i) => `${i + 1}-bit`);
  const wRows = q.weights.map((w) => [
    w.node || '(unnamed)',
    w.op,
    w.tensor,
    formatCount(w.params),
    ...bitCols.map((_, i) => pct(w.fractions[i] ?? 0)),
    w.avgBits.toFixed(3),
    w.heuristic + (w.seed !== undefined && w.heuristic === 'random' ? ` (seed ${w.seed})` : '') + (w.granularity !== undefined ? `, per ${w.granularity}` : ''),
    formatScales(w.scales),
  ]);
  const parts = [
    `quantization (${q.format}): ${q.binarizedLayers} binarized layer${q.binarizedLayers === 1 ? '' : 's'}, ${formatCount(q.binarizedParameters)} weights`,
    table(['layer', 'op', 'weight', 'params', ...bitCols, 'avg bits', 'heuristic', 'scales'], wRows, ['left', 'left', 'left', 'right', ...bitCols.map(() => 'right' as const), 'right']),
  ];
  const st = q.storage;
  if (st) {
    const kinds = [st.planes.packed ? `${st.planes.packed} packed` : '', st.planes.int8 ? `${st.planes.int8} int8` : ''].filter((x) => x).join(', ');
    parts.push(
      `  storage: ${formatCount(st.logicalParameters)} logical parameters in ${formatBytes(st.storedBytes)} stored (binarized weights ${formatBytes(st.binarizedStoredBytes)}${kinds ? `; planes: ${kinds}` : ''})`,
    );
  }
  if (q.activations.length > 0) {
    const aRows = q.activations.map((a) => {
      const shown = a.observed ?? a.distribution;
      return [
        a.node || '(unnamed)',
        a.feeds.join(' '),
        a.heuristic,
        [0, 1, 2].map((i) => pct(shown[i] ?? 0)).join(' / '),
        a.avgBits.toFixed(3),
        a.scales.map(num).join(' / '),
        num(a.center),
        a.sign > 0 ? '+1' : '-1',
        a.thresholds.map(num).join(' / '),
        a.calibrated ? 'yes' : 'no',
      ];
    });
    parts.push(
      `  activation binarizers (${q.activations.length}; bits 1/2/3 as observed on the calibration data when calibrated)`,
      table(['binarizer', 'feeds', 'heuristic', 'bits 1/2/3', 'avg bits', 'scales', 'center', 'sign', 't1 / t2', 'calibrated'], aRows, [
        'left',
        'left',
        'left',
        'right',
        'right',
      ]),
    );
  }
  if (q.scalingLayer) parts.push(`  scaling layer: ${q.scalingLayer.node || '(unnamed)'} (scale ${q.scalingLayer.scale}${q.scalingLayer.inserted ? ', inserted' : ''})`);
  const acts = q.avgActivationBits !== undefined ? `${q.avgActivationBits.toFixed(3)} average activation bits` : 'activations float';
  parts.push(`  overall: ${q.avgWeightBits.toFixed(3)} average weight bits, ${acts}`);
  return parts.join('\n');
}

function warningsSection(r: InspectReport): string | undefined {
  if (r.warnings.length === 0) return undefined;
  return [`warnings (${r.warnings.length})`, ...r.warnings.map((w) => `  - [${w.kind}] ${w.message}`)].join('\n');
}
