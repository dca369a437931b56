/**
 * The ASIC backend: `lowerAsic(model, options)` prices a quantized (HBNN) model as a
 * folded dataflow ASIC and returns its report files in memory (`report.json`, `report.md`,
 * `report.html`); only the CLI writes them. docs/backend-asic.md describes the model.
 */
import * as path from 'node:path';
import type { Model } from '../../ir/graph.js';
import { fail, isHbnnError, ErrorCodes } from '../../errors.js';
import type { BitProgram } from '../../bitir/types.js';
import { DEFAULT_TECH, parseTech, type AsicTech } from './tech.js';
import { fromQuantRecord } from './from-quant-record.js';
import { bitProgramGeometry, bitProgramStreamWorks, fromBitProgram } from './from-bit-program.js';
import { lowerToBitIR } from '../../bitir/lower.js';
import { buildAsicReport, type AsicReport, type AsicScaling } from './report.js';
import type { PaperAnchor, PaperAnchorName } from './paper.js';
import { parseSweepInput, type SweepInput } from './sweep-input.js';
import { renderMarkdown } from './render-md.js';
import { renderHtml } from './render-html.js';
import type { AsicLayerWork, WorkSource } from './work.js';

export interface AsicOptions {
  /** Technology (see `loadTechFile`); default `DEFAULT_TECH`, calibrated to the paper's VGG-8 ASIC row. */
  tech?: AsicTech;
  /** Headline figures: 'units' (count the units, default) or 'paper' (the paper's b_act·b_weight rule). */
  scaling?: AsicScaling;
  /** Clock in MHz (default: the technology's); throughput and dynamic power follow it, area does not. */
  clockMhz?: number;
  /** Anchor of the paper rule: a published row by name, explicit figures, or (default) this model's own unit counts at W2A2. */
  paperAnchor?: PaperAnchorName | PaperAnchor;
  /** Bits of the network input, fixed point (default 8). */
  inputBits?: number;
  /** Activation bits assumed where the model leaves a layer input in float (default 8; 1..3 = HBNN activations of that average). */
  activationBits?: number;
  /** Width of weights the quantizer kept in float (default 8). */
  fixedWeightBits?: number;
  /** Accuracy-vs-bits results to show (`{results: [{heuristic, avgBits, top1}]}` or an hbnn-sweep/1 result). */
  sweep?: unknown;
  /** The model's bit-level IR; when given, per-layer work is read from it instead of the quantization record. */
  program?: BitProgram;
  /** Name shown in reports (default: the model file's name without .onnx, else the graph name). */
  modelName?: string;
}

export interface AsicLowering {
  files: Map<string, string>;
  report: AsicReport;
}

function checkClock(clockMhz: number | undefined, tech: AsicTech): number {
  const c = clockMhz ?? tech.clockMhz;
  if (typeof c !== 'number' || !Number.isFinite(c) || c <= 0) fail(ErrorCodes.INVALID_OPTION, `clockMhz must be a finite number > 0, got ${String(clockMhz)}`, { option: 'clockMhz' });
  return c;
}

function checkScaling(s: unknown): AsicScaling {
  if (s === undefined) return 'units';
  if (s === 'units' || s === 'paper') return s;
  return fail(ErrorCodes.INVALID_OPTION, `scaling must be 'units' or 'paper', got ${JSON.stringify(s)}`, { option: 'scaling' });
}

/** Files and report for already-computed per-layer work (used by both adapters). */
export function lowerAsicWork(works: readonly AsicLayerWork[], source: WorkSource, model: string, options: AsicOptions = {}, extraNotes: readonly string[] = []): AsicLowering {
  const tech = options.tech ? parseTech(options.tech) : DEFAULT_TECH;
  const sweep: SweepInput | undefined = options.sweep === undefined ? undefined : parseSweepInput(options.sweep);
  const notes: string[] = [...extraNotes];
  // One note per activation width actually priced for layer inputs the model leaves in float
  // (the same numbers as the layer table's act bits column).
  const assumed = new Map<number, string[]>();
  for (const w of works) if (w.activation.source === 'assumed') assumed.set(w.activation.avg, [...(assumed.get(w.activation.avg) ?? []), w.name]);
  for (const [b, names] of assumed) {
    const how =
      source === 'bit-ir'
        ? "the bit-level IR's fixed-point activation width, `lower --from-bit-ir --fixed-act-bits`"
        : '`lower --activation-bits`';
    notes.push(`Layer inputs the model leaves in float were priced at ${b} activation bits (${how}): ${names.join(', ')}.`);
  }
  const report = buildAsicReport(works, {
    model,
    source,
    scaling: checkScaling(options.scaling),
    tech,
    clockMhz: checkClock(options.clockMhz, tech),
    ...(options.paperAnchor !== undefined ? { paperAnchor: options.paperAnchor } : {}),
    ...(sweep ? { sweep } : {}),
    notes,
  });
  const files = new Map<string, string>([
    ['report.json', JSON.stringify(report, null, 2) + '\n'],
    ['report.md', renderMarkdown(report)],
    ['report.html', renderHtml(report)],
  ]);
  return { files, report };
}

/**
 * Lowers a quantized model to an ASIC estimate. NOT_QUANTIZED when the model has no
 * `hbnn.quantization` record (and no bit-level IR was given); INVALID_OPTION for a bad
 * technology, clock, scaling, anchor or sweep.
 */
export function lowerAsic(model: Model, options: AsicOptions = {}): AsicLowering {
  // The model file's name (exporters name graphs generically, e.g. torch_jit), else the graph's.
  const stem = model.sourcePath ? path.basename(model.sourcePath).replace(/\.onnx$/i, '') : '';
  const name = options.modelName ?? (stem || model.graph.name || 'model');
  const adapterOptions = {
    ...(options.inputBits !== undefined ? { inputBits: options.inputBits } : {}),
    ...(options.activationBits !== undefined ? { activationBits: options.activationBits } : {}),
    ...(options.fixedWeightBits !== undefined ? { fixedWeightBits: options.fixedWeightBits } : {}),
  };
  if (options.program) return lowerAsicWork(fromBitProgram(options.program), 'bit-ir', name, options);
  // Shapes from the bit-level IR (and its weightless units: add, concat, average pool, clip,
  // LeakyRelu), bits from the quantization record; a model the IR cannot lower keeps the
  // shapes inferred from the graph, and the report says why.
  let program: BitProgram | undefined;
  let why: string | undefined;
  try {
    program = lowerToBitIR(model);
  } catch (e) {
    if (!isHbnnError(e) || e.code !== ErrorCodes.LOWERING) throw e;
    why = e.message;
  }
  const { works } = fromQuantRecord(model, adapterOptions, program ? bitProgramGeometry(model, program) : undefined);
  let all = works;
  if (program) {
    // Layers and weightless units in program order.
    const layerIndex = new Map(program.ops.map((op, i) => [op.nodes[0] ?? op.id, i] as const));
    const keyed = [
      ...works.map((w) => ({ index: layerIndex.get(w.name) ?? Infinity, work: w })),
      ...bitProgramStreamWorks(program),
    ];
    all = keyed.sort((a, b) => a.index - b.index).map((k) => k.work);
  }
  const notes = program
    ? ['Layer shapes and the weightless units (add, concat, average pool, clip, LeakyRelu) come from the bit-level IR of the model; bit widths from its quantization record.']
    : [`Layer shapes are inferred from the graph: the bit-level IR cannot lower this model (${why}); weightless units are not counted.`];
  return lowerAsicWork(all, 'quant-record', name, options, notes);
}

/** Lowers a bit-level IR program directly (no ONNX model needed). */
export function lowerAsicFromProgram(program: BitProgram, options: Omit<AsicOptions, 'program'> = {}): AsicLowering {
  return lowerAsicWork(fromBitProgram(program), 'bit-ir', options.modelName ?? (program.source.graph || 'model'), options);
}

export { DEFAULT_TECH, BASE_UNIT_COSTS, UNIT_KINDS, loadTechFile, parseTech, techToJson } from './tech.js';
export type { AsicTech, UnitCosts, UnitKind } from './tech.js';
export { fromQuantRecord } from './from-quant-record.js';
export type { QuantRecordAdapterOptions } from './from-quant-record.js';
export { fromBitProgram } from './from-bit-program.js';
export { estimateDesign, chooseFolding, popcountTreeBits } from './cost.js';
export type { DesignEstimate, LayerEstimate } from './cost.js';
export { PAPER_ANCHORS, PAPER_ANCHOR_NAMES, paperEstimate } from './paper.js';
export type { PaperAnchor, PaperAnchorName, PaperEstimate } from './paper.js';
export { ASIC_REPORT_FORMAT, buildAsicReport } from './report.js';
export type { AsicReport, AsicScaling, VariantRow } from './report.js';
export { parseSweepInput } from './sweep-input.js';
export type { SweepInput, SweepEntry } from './sweep-input.js';
export { renderMarkdown } from './render-md.js';
export { renderHtml } from './render-html.js';
export { withHomogeneousBits, paramBitSum, paramCount } from './work.js';
export type { AsicLayerWork, ActivationBits, ActivationSource, Encoding, LayerKind, OutputQuantizer, WorkSource } from './work.js';
