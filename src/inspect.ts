/**
 * A model summary for people and scripts: what `hbnn-onnx inspect` prints.
 *
 * `inspectModel` is pure (it reads the IR and never changes it) and its result is plain,
 * JSON-serializable data: numbers instead of bigints, arrays instead of maps, no IR objects.
 *
 * What counts as what:
 * 1. A "layer" is a node (in the main graph or any subgraph) with at least one input that is
 *    an initializer (of its own graph or an enclosing one). Its parameters are those
 *    initializer inputs, in input order.
 * 2. Totals count each initializer tensor once, however many layers use it; `initializers`
 *    also counts the initializers no layer uses.
 * 3. Graph inputs that are also initializers (old exporters list weights as inputs) are not
 *    listed as inputs; `initializerInputs` says how many there were.
 * 4. Warnings never stop the summary: undeclared operator domains (a node domain missing from
 *    opset_import, subgraphs included), duplicate node names within a graph, and IR verifier
 *    findings.
 *
 * 5. `quantization` is present only for HBNN-quantized models (metadata `hbnn.format`): per
 *    binarized weight its bit histogram, average bits, heuristic (and bit map granularity when
 *    it is recorded) and scales; per activation
 *    binarizer its calibrated constants; the overall averages. It is read from the model's
 *    `hbnn.quantization` record (src/quant/format.ts); a record that cannot be read becomes a
 *    `quantization` warning instead.
 *
 * The report is versioned (`format`, `version`). New sections are added as optional fields;
 * readers must ignore fields they do not know.
 */
import type { Graph, Model, Node, Value } from './ir/graph.js';
import { walkGraphs } from './ir/graph.js';
import { dtypeName } from './ir/dtype.js';
import { formatType, tensorTypeOf, type Dim } from './ir/types.js';
import { verifyModel } from './ir/verifier.js';
import { FN_WEIGHT, isWeightCall, readQuantRecord, type QuantRecord } from './quant/format.js';
import { weightCallDims } from './quant/planes.js';
import { isHbnnError } from './errors.js';
import { NORMALIZATION_KEY } from './data/normalization.js';
import { missingGradientRules } from './train/grad/builder.js';

export const INSPECT_FORMAT = 'hbnn-onnx.inspect';
export const INSPECT_VERSION = 1;

export interface InspectReport {
  format: typeof INSPECT_FORMAT;
  version: typeof INSPECT_VERSION;
  /** The model file, when the model was loaded from one. */
  file?: string;
  irVersion: number;
  /** Operator sets as imported; the default domain is written 'ai.onnx'. */
  opsets: { domain: string; version: number }[];
  producer: { name?: string; version?: string };
  /** ModelProto.domain and model_version, when set. */
  modelDomain?: string;
  modelVersion?: number;
  docString?: string;
  /** metadata_props in file order (keys may repeat). */
  metadata: { key: string; value: string }[];
  /**
   * The input normalization recorded in the model (metadata hbnn.input_normalization, as
   * MEAN:STD or none; docs/format.md §5.3), null when it has no record.
   */
  inputNormalization: string | null;
  graph: {
    name: string;
    /** Nodes of the main graph. */
    nodes: number;
    /** Nodes of the main graph and all subgraphs. */
    totalNodes: number;
    subgraphs: number;
    /** Graph inputs that are also initializers (not listed in `inputs`). */
    initializerInputs: number;
  };
  /**
   * Whether `train` can build this model's gradients: the operators between its parameters and
   * its first output without a gradient rule, each with its node names (empty: none); null
   * when the check could not run (no output, or a graph the trainer cannot read).
   */
  training: { missingGradientRules: { op: string; nodes: string[] }[] } | null;
  inputs: IoSummary[];
  outputs: IoSummary[];
  /** Op histogram over all graphs, most frequent first, then by name. */
  ops: { op: string; domain: string; count: number }[];
  layers: LayerSummary[];
  totals: {
    layers: number;
    /** Parameters used by layers, each initializer counted once. */
    parameters: number;
    bytes: number;
    /** Every initializer in the model, used or not. */
    initializers: { count: number; parameters: number; bytes: number };
  };
  warnings: InspectWarning[];
  /** HBNN quantization, for quantized models only (absent for float models). */
  quantization?: QuantizationSummary;
}

export interface QuantizationSummary {
  /** The record's format, e.g. `hbnn-onnx/1`. */
  format: string;
  /** Average bits over all binarized weights (parameter-weighted). */
  avgWeightBits: number;
  /** Average bits over the activation binarizers (absent when activations stay float). */
  avgActivationBits?: number;
  /** Binarized weight tensors and their parameter count. */
  binarizedLayers: number;
  binarizedParameters: number;
  /**
   * Storage: `logicalParameters` counts each binarized weight as its float weight's entries
   * (the model's parameters before quantization, as the layers compute with them), while
   * `totals.parameters` counts the stored tensor elements (packed bytes, int8 plane entries).
   * `binarizedStoredBytes` is what the binarized weights take in the file (planes, masks,
   * scales, shapes); `storedBytes` is every parameter byte (`totals.bytes`).
   */
  storage?: { logicalParameters: number; storedBytes: number; binarizedStoredBytes: number; planes: { packed: number; int8: number } };
  weights: QuantWeightSummary[];
  activations: QuantActivationSummary[];
  /** The output scaling layer, when one was inserted or found. */
  scalingLayer?: { node: string; scale: string; inserted: boolean };
}

export interface QuantWeightSummary {
  /** The Conv/Gemm/MatMul node consuming the weight. */
  node: string;
  op: string;
  /** The original float weight's name. */
  tensor: string;
  shape: number[];
  params: number;
  /** Counts of weights with 1..K bits. */
  histogram: number[];
  /** histogram / params. */
  fractions: number[];
  avgBits: number;
  heuristic: string;
  /** The requested fractions for 1..K bits. */
  distribution: number[];
  perChannel: boolean;
  /** 'row': one bitwidth per output channel (row-granular bit map); absent: a bitwidth per entry. */
  granularity?: string;
  /** Per-bit scales: [K] per tensor, [K][C] per output channel. */
  scales: number[] | number[][];
  seed?: number;
}

export interface QuantActivationSummary {
  /** The BinarizeActivation call and the value it binarizes. */
  node: string;
  input: string;
  /** The layers reading the binarized value. */
  feeds: string[];
  heuristic: string;
  /** Requested fractions for 1..3 bits. */
  distribution: number[];
  /** Fractions observed on the calibration data (calibrated binarizers only). */
  observed?: number[];
  /** Average bits: of `observed` when calibrated, else of `distribution`. */
  avgBits: number;
  /** Calibrated constants of the hardware form (see src/quant/format.ts). */
  scales: number[];
  center: number;
  sign: number;
  thresholds: [number, number];
  calibrated: boolean;
}

export interface IoSummary {
  name: string;
  /** Element type name ('float', 'int64', ...), or undefined for non-tensor or untyped values. */
  dtype?: string;
  /** Dimensions (numbers, symbolic names, null = unknown); undefined when the rank is unknown. */
  shape?: Dim[];
  /** The full type as text, e.g. `float[N,1,28,28]`. */
  type: string;
}

export interface LayerSummary {
  node: string;
  op: string;
  domain: string;
  /** The graph holding the node ('' for the main graph's name when unnamed). */
  graph: string;
  params: ParamSummary[];
  /** Sum over `params`. */
  count: number;
  bytes: number;
}

export interface ParamSummary {
  name: string;
  dtype: string;
  shape: number[];
  count: number;
  bytes: number;
}

export type InspectWarningKind = 'undeclared-domain' | 'duplicate-node-name' | 'verify' | 'quantization';

export interface InspectWarning {
  kind: InspectWarningKind;
  message: string;
  /** The domain, node name or value the warning is about. */
  subject?: string;
}

const DEFAULT_DOMAIN = 'ai.onnx';

function normDomain(d: string): string {
  return d === '' ? DEFAULT_DOMAIN : d;
}

export function inspectModel(model: Model): InspectReport {
  const graphs = [...walkGraphs(model.graph)];
  const allNodes = graphs.flatMap((g) => g.nodes);

  const report: InspectReport = {
    format: INSPECT_FORMAT,
    version: INSPECT_VERSION,
    ...(model.sourcePath !== undefined ? { file: model.sourcePath } : {}),
    irVersion: Number(model.irVersion),
    opsets: model.opsetImports.map((o) => ({ domain: normDomain(o.domain), version: o.version })),
    producer: {
      ...(model.producerName !== undefined ? { name: model.producerName } : {}),
      ...(model.producerVersion !== undefined ? { version: model.producerVersion } : {}),
    },
    ...(model.domain ? { modelDomain: model.domain } : {}),
    ...(model.modelVersion !== undefined ? { modelVersion: Number(model.modelVersion) } : {}),
    ...(model.docString ? { docString: model.docString } : {}),
    metadata: (model.metadataProps ?? []).map(([key, value]) => ({ key, value })),
    inputNormalization: model.getMetadata(NORMALIZATION_KEY) ?? null,
    graph: {
      name: model.graph.name,
      nodes: model.graph.nodes.length,
      totalNodes: allNodes.length,
      subgraphs: graphs.length - 1,
      initializerInputs: model.graph.inputs.filter((v) => v.isInitializer).length,
    },
    training: trainingCheck(model),
    inputs: model.graph.inputs.filter((v) => !v.isInitializer).map(ioSummary),
    outputs: model.graph.outputs.map(ioSummary),
    ops: opHistogram(allNodes),
    layers: [],
    totals: { layers: 0, parameters: 0, bytes: 0, initializers: { count: 0, parameters: 0, bytes: 0 } },
    warnings: [],
  };

  const counted = new Set<Value>();
  for (const g of graphs) {
    for (const n of g.nodes) {
      const layer = layerSummary(n, g);
      if (!layer) continue;
      report.layers.push(layer);
      for (const v of n.inputs) {
        if (!v?.constValue || counted.has(v)) continue;
        counted.add(v);
        report.totals.parameters += v.constValue.size;
        report.totals.bytes += v.constValue.byteLength;
      }
    }
    for (const v of g.initializers.values()) {
      const t = v.constValue;
      if (!t) continue;
      report.totals.initializers.count++;
      report.totals.initializers.parameters += t.size;
      report.totals.initializers.bytes += t.byteLength;
    }
  }
  report.totals.layers = report.layers.length;
  report.warnings = collectWarnings(model, graphs);
  try {
    const record = readQuantRecord(model);
    if (record) {
      report.quantization = quantizationSummary(record);
      report.quantization.storage = storageSummary(model, report.totals.parameters, report.totals.bytes);
    }
  } catch (e) {
    // The record is JSON from the file: a malformed one (unreadable, or fields missing or of
    // the wrong type) is reported, never fatal.
    const why = isHbnnError(e) ? e.message : `malformed record (${(e as Error)?.message ?? String(e)})`;
    report.warnings.push({ kind: 'quantization', subject: 'hbnn.quantization', message: `the HBNN quantization record cannot be read: ${why}` });
  }
  return report;
}

const mean = (dist: readonly number[]): number => dist.reduce((s, p, i) => s + (i + 1) * p, 0);

/** Logical parameters against stored bytes (the binarized weights' calls read through src/quant/planes.ts). */
function storageSummary(model: Model, storedParams: number, storedBytes: number): NonNullable<QuantizationSummary['storage']> {
  let logical = storedParams;
  let binBytes = 0;
  const planes = { packed: 0, int8: 0 };
  const seen = new Set<Value>();
  for (const n of model.graph.nodes) {
    if (!isWeightCall(n)) continue;
    const dims = weightCallDims(n);
    if (!dims) continue;
    planes[n.opType === FN_WEIGHT ? 'int8' : 'packed']++;
    logical += dims.reduce((a, b) => a * b, 1);
    for (const v of n.inputs) {
      if (!v?.constValue || seen.has(v)) continue;
      seen.add(v);
      logical -= v.constValue.size;
      binBytes += v.constValue.byteLength;
    }
  }
  return { logicalParameters: logical, storedBytes, binarizedStoredBytes: binBytes, planes };
}

function quantizationSummary(r: QuantRecord): QuantizationSummary {
  const weights = (r.weights ?? []).map((w): QuantWeightSummary => {
    const params = w.histogram.reduce((a, b) => a + b, 0);
    return {
      node: w.node,
      op: w.op,
      tensor: w.tensor,
      shape: [...w.shape],
      params,
      histogram: [...w.histogram],
      fractions: w.histogram.map((h) => (params > 0 ? h / params : 0)),
      avgBits: w.avgBits,
      heuristic: w.heuristic,
      distribution: [...w.distribution],
      perChannel: w.perChannel,
      // As recorded (inspect reports what a file says, it does not reject it).
      ...(w.granularity !== undefined ? { granularity: String(w.granularity) } : {}),
      scales: w.scaleValues,
      ...(w.seed !== undefined ? { seed: w.seed } : {}),
    };
  });
  const activations = (r.activations ?? []).map(
    (a): QuantActivationSummary => ({
      node: a.node,
      input: a.input,
      feeds: [...a.feeds],
      heuristic: a.heuristic,
      distribution: [...a.distribution],
      ...(a.observed !== undefined ? { observed: [...a.observed] } : {}),
      avgBits: mean(a.calibrated && a.observed ? a.observed : a.distribution),
      scales: [...a.scales],
      center: a.center,
      sign: a.sign,
      thresholds: [a.thresholds[0], a.thresholds[1]],
      calibrated: a.calibrated,
    }),
  );
  return {
    format: r.format,
    avgWeightBits: r.avgWeightBits,
    ...(r.avgActivationBits !== undefined ? { avgActivationBits: r.avgActivationBits } : {}),
    binarizedLayers: weights.length,
    binarizedParameters: weights.reduce((s, w) => s + w.params, 0),
    weights,
    activations,
    ...(r.scalingLayer ? { scalingLayer: { ...r.scalingLayer } } : {}),
  };
}

function ioSummary(v: Value): IoSummary {
  const tt = tensorTypeOf(v);
  return {
    name: v.name,
    ...(tt ? { dtype: dtypeName(tt.elemType) } : {}),
    ...(tt?.shape ? { shape: tt.shape } : {}),
    type: formatType(v.type),
  };
}

function opHistogram(nodes: readonly Node[]): InspectReport['ops'] {
  const counts = new Map<string, { op: string; domain: string; count: number }>();
  for (const n of nodes) {
    const domain = normDomain(n.domain);
    const key = `${domain}\u0000${n.opType}`;
    const e = counts.get(key);
    if (e) e.count++;
    else counts.set(key, { op: n.opType, domain, count: 1 });
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op) || a.domain.localeCompare(b.domain));
}

function layerSummary(n: Node, g: Graph): LayerSummary | undefined {
  const params: ParamSummary[] = [];
  for (const v of n.inputs) {
    const t = v?.constValue;
    if (!v || !t) continue;
    params.push({ name: v.name, dtype: dtypeName(t.dtype), shape: [...t.dims], count: t.size, bytes: t.byteLength });
  }
  if (params.length === 0) return undefined;
  return {
    node: n.name,
    op: n.opType,
    domain: normDomain(n.domain),
    graph: g.name,
    params,
    count: params.reduce((s, p) => s + p.count, 0),
    bytes: params.reduce((s, p) => s + p.bytes, 0),
  };
}

function collectWarnings(model: Model, graphs: readonly Graph[]): InspectWarning[] {
  const warnings: InspectWarning[] = [];

  const declared = new Set(model.opsetImports.map((o) => normDomain(o.domain)));
  const undeclared = new Map<string, Set<string>>();
  for (const g of graphs) {
    for (const n of g.nodes) {
      const d = normDomain(n.domain);
      if (declared.has(d)) continue;
      let ops = undeclared.get(d);
      if (!ops) undeclared.set(d, (ops = new Set()));
      ops.add(n.opType);
    }
  }
  for (const [domain, ops] of undeclared) {
    warnings.push({
      kind: 'undeclared-domain',
      subject: domain,
      message: `operator domain "${domain}" is used (${[...ops].sort().join(', ')}) but not declared in opset_import`,
    });
  }

  const duplicates = new Set<string>();
  for (const g of graphs) {
    const seen = new Map<string, number>();
    for (const n of g.nodes) if (n.name) seen.set(n.name, (seen.get(n.name) ?? 0) + 1);
    for (const [name, count] of seen) {
      if (count < 2) continue;
      duplicates.add(name);
      warnings.push({
        kind: 'duplicate-node-name',
        subject: name,
        message: `node name "${name}" is used by ${count} nodes in graph "${g.name || 'main'}"`,
      });
    }
  }

  for (const issue of verifyModel(model)) {
    // The verifier's own duplicate-name warnings are already reported above.
    if (issue.severity === 'warning' && issue.node !== undefined && duplicates.has(issue.node)) continue;
    warnings.push({
      kind: 'verify',
      ...(issue.node ? { subject: issue.node } : {}),
      message: issue.severity === 'error' ? `IR verifier: ${issue.message}` : `IR verifier (warning): ${issue.message}`,
    });
  }
  return warnings;
}

/** `InspectReport.training`: the gradient-rule scan of the trainer (null if it cannot run on this graph). */
function trainingCheck(model: Model): InspectReport['training'] {
  try {
    return { missingGradientRules: missingGradientRules(model) };
  } catch {
    return null;
  }
}
