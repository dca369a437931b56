/**
 * The quantized (HBNN) model format: an ordinary ONNX model that any runtime executes,
 * plus a record of every binarized tensor in the model's metadata.
 *
 * - A binarized weight W of shape S becomes two initializers:
 *     `<W>.hbnn_planes`: int8 [K, ...S], plane i holds B_i (±1) where entry j has more than
 *                        i bits (M_j > i), 0 elsewhere. The bit map is M_j = number of
 *                        non-zero planes at j.
 *     `<W>.hbnn_scales`: float [K, 1, ...] (per tensor) or [K, C, 1, ...] (per output channel).
 *   and a call of the model-local function `ai.hbnn::BinarizedWeight(planes, scales)`, whose
 *   body (Cast → Mul → ReduceSum over axis 0) computes Ŵ = Σ_i mu_i · B_i · [M > i].
 * - A binarized activation x becomes `ai.hbnn::BinarizeActivation(x, scales[3], center,
 *   sign, t1, t2)`: the hardware form with calibrated constants. The bit count of an entry is
 *   M = 1 + [k >= t1] + [k >= t2] with k = sign · | |x| - center | (Middle-Out: center = the
 *   mean magnitude, sign = +1; Bottom-Up: center 0, sign +1; Top-Down: center 0, sign -1),
 *   and y = Σ_i mu_i · B_i · [M >= i] with residual signs B_i (sign(0) = +1).
 * - Model metadata `hbnn.format` = "hbnn-onnx/1" and `hbnn.quantization` = JSON
 *   (`QuantRecord`): per tensor the layer, bit histogram, average bits, heuristic,
 *   distribution, scales and the initializer names above.
 */
import type { FunctionPb, NodePb, AttributePb } from '../ir/messages.js';
import { Model, type Node, type Value } from '../ir/graph.js';
import { fail, ErrorCodes } from '../errors.js';

export const HBNN_DOMAIN = 'ai.hbnn';
export const HBNN_FORMAT = 'hbnn-onnx/1';
export const META_FORMAT = 'hbnn.format';
export const META_RECORD = 'hbnn.quantization';
/** Metadata key of what `import-qonnx` imported (JSON; docs/import.md). */
export const META_IMPORT = 'hbnn.import';
export const FN_WEIGHT = 'BinarizedWeight';
export const FN_ACT = 'BinarizeActivation';
/**
 * Format written when a model holds packed planes (see src/quant/planes.ts): packed planes and
 * the compact record (`compactRecord`); `hbnn-onnx/1` models hold int8 planes only.
 */
export const HBNN_FORMAT_PACKED = 'hbnn-onnx/3';
/** Packed planes with the full record (files written before the compact record); read, no longer written. */
export const HBNN_FORMAT_PACKED_FULL_RECORD = 'hbnn-onnx/2';
/** Formats this tool reads. */
export const HBNN_FORMATS: readonly string[] = [HBNN_FORMAT, HBNN_FORMAT_PACKED_FULL_RECORD, HBNN_FORMAT_PACKED];
/** Prefix of the packed weight functions: `PackedBinarizedWeight<K>` (per tensor) and `PackedBinarizedWeight<K>PerChannel`. */
export const FN_WEIGHT_PACKED = 'PackedBinarizedWeight';

/** Name of the packed weight function for K planes. */
export function packedWeightFunctionName(k: number, perChannel: boolean): string {
  return `${FN_WEIGHT_PACKED}${k}${perChannel ? 'PerChannel' : ''}`;
}

/** K and the scale layout of a packed weight function's name; undefined for any other name. */
export function parsePackedWeightFunctionName(op: string): { k: number; perChannel: boolean } | undefined {
  const m = /^PackedBinarizedWeight([1-9][0-9]?)(PerChannel)?$/.exec(op);
  return m ? { k: Number(m[1]), perChannel: m[2] !== undefined } : undefined;
}

export interface WeightRecord {
  /** Original initializer name of the float weight. */
  tensor: string;
  /** The Conv/Gemm/MatMul node consuming it. */
  node: string;
  op: string;
  shape: number[];
  planes: string;
  scales: string;
  /** Per-bit scales: [K] per tensor, [K][C] per channel. */
  scaleValues: number[] | number[][];
  perChannel: boolean;
  heuristic: string;
  /** Fractions for 1..K bits requested. */
  distribution: number[];
  /** Counts of entries with 1..K bits. */
  histogram: number[];
  avgBits: number;
  seed?: number;
  /**
   * 'row': the bit map gives every output channel (row of the channel-major weight) one
   * bitwidth. Absent: a bitwidth per entry (written only for 'row', so files without it are
   * per entry).
   */
  granularity?: 'row';
}

export interface ActivationRecord {
  /** Value name of the binarizer's input and output. */
  input: string;
  output: string;
  node: string;
  /** The Conv/Gemm/MatMul whose input this feeds. */
  feeds: string[];
  heuristic: string;
  distribution: number[];
  scales: number[];
  center: number;
  sign: number;
  thresholds: [number, number];
  /** Filled by calibration: the fractions actually observed on the calibration data. */
  observed?: number[];
  calibrated: boolean;
}

export interface QuantRecord {
  format: string;
  tool: string;
  weights: WeightRecord[];
  activations: ActivationRecord[];
  /** Value name of the output scaling layer's scale, when one was inserted or found. */
  scalingLayer?: { node: string; scale: string; inserted: boolean };
  /** Average weight bits over all binarized weights (parameter-weighted). */
  avgWeightBits: number;
  avgActivationBits?: number;
}

export function readQuantRecord(model: Model): QuantRecord | undefined {
  const fmt = model.getMetadata(META_FORMAT);
  const raw = model.getMetadata(META_RECORD);
  if (fmt === undefined || raw === undefined) return undefined;
  if (!HBNN_FORMATS.includes(fmt)) fail(ErrorCodes.NOT_QUANTIZED, `model metadata says format "${fmt}", this tool reads ${HBNN_FORMATS.map((f) => `"${f}"`).join(' and ')}`);
  let parsed: QuantRecord;
  try {
    parsed = JSON.parse(raw) as QuantRecord;
  } catch (e) {
    return fail(ErrorCodes.ONNX_INVALID, `model metadata ${META_RECORD} is not valid JSON: ${(e as Error).message}`);
  }
  return fmt === HBNN_FORMAT_PACKED ? expandRecord(parsed) : parsed;
}

// ------------------------------------------------------------------------------------------
// The compact record (hbnn-onnx/3)
// ------------------------------------------------------------------------------------------

/** Weight record fields that `weightDefaults` may hold for all weights. */
const SHARED_WEIGHT_FIELDS = ['perChannel', 'heuristic', 'distribution'] as const;
/** The order of a weight record's fields, as `weightRecord` writes them (an expanded record keeps it). */
const WEIGHT_FIELD_ORDER = ['tensor', 'node', 'op', 'shape', 'planes', 'scales', 'scaleValues', 'perChannel', 'heuristic', 'distribution', 'histogram', 'avgBits', 'seed', 'granularity'];

/** The average bits of a bit histogram: Σ b·count_b / Σ count_b, summed in order of b (as the quantizer computes it). */
function histogramAverage(h: readonly number[]): number {
  let total = 0;
  let n = 0;
  for (let b = 1; b <= h.length; b++) {
    total += b * h[b - 1]!;
    n += h[b - 1]!;
  }
  return n === 0 ? 0 : total / n;
}

/** The derivable fields of a weight record: what `expandRecord` fills in when they are left out. */
function derivedWeightFields(w: Partial<WeightRecord>): Partial<WeightRecord> {
  return {
    planes: `${w.tensor}.hbnn_codes`,
    scales: `${w.tensor}.hbnn_scales`,
    ...(Array.isArray(w.histogram) ? { avgBits: histogramAverage(w.histogram) } : {}),
  };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The record as `hbnn-onnx/3` stores it: the same information in fewer bytes (a small model
 * notices: about 1 KB of fmnist-cnn's 62 KB). `weightDefaults` holds `perChannel`,
 * `heuristic` and `distribution` of the first weight, and a weight leaves out each of them
 * that equals its default; a weight also leaves out `planes` when it is `<tensor>.hbnn_codes`,
 * `scales` when `<tensor>.hbnn_scales`, and `avgBits` when it is its histogram's average
 * (Σ b·count_b / Σ count_b). A field is left out only when `expandRecord` gives it back
 * exactly (compared as JSON).
 */
export function compactRecord(record: QuantRecord): Record<string, unknown> {
  const first = record.weights[0];
  const defaults: Record<string, unknown> = {};
  // Only fields every weight has: expanding must not add a field a weight did not have.
  if (first) for (const k of SHARED_WEIGHT_FIELDS) if (record.weights.every((w) => w[k] !== undefined)) defaults[k] = first[k];
  const weights = record.weights.map((w) => {
    const c: Record<string, unknown> = { ...w };
    for (const k of SHARED_WEIGHT_FIELDS) if (k in defaults && same(w[k], defaults[k])) delete c[k];
    const derived = derivedWeightFields(w);
    for (const [k, v] of Object.entries(derived)) if (same(w[k as keyof WeightRecord], v)) delete c[k];
    return c;
  });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (k === 'weights') {
      if (first) out.weightDefaults = defaults;
      out.weights = weights;
    } else out[k] = v;
  }
  return out;
}

/** The full record from its compact form (`compactRecord`); fields it does not know are kept. */
export function expandRecord(compact: QuantRecord & { weightDefaults?: Record<string, unknown> }): QuantRecord {
  if (!Array.isArray(compact.weights)) return compact; // malformed: the consumers report it
  const defaults = compact.weightDefaults ?? {};
  const weights = compact.weights.map((c) => {
    if (c === null || typeof c !== 'object') return c;
    const full: Record<string, unknown> = { ...defaults, ...derivedWeightFields(c), ...c };
    const ordered: Record<string, unknown> = {};
    for (const k of WEIGHT_FIELD_ORDER) if (k in full) ordered[k] = full[k];
    for (const [k, v] of Object.entries(full)) if (!(k in ordered)) ordered[k] = v;
    return ordered as unknown as WeightRecord;
  });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(compact)) {
    if (k === 'weightDefaults') continue;
    out[k] = k === 'weights' ? weights : v;
  }
  return out as unknown as QuantRecord;
}

/**
 * A weight record's bit map granularity: 'row' or, when the field is absent, 'entry'. Any
 * other value is ONNX_INVALID (a record this tool did not write, or a newer one).
 */
export function weightGranularity(rec: Pick<WeightRecord, 'tensor' | 'granularity'>): 'entry' | 'row' {
  const g: unknown = rec.granularity;
  if (g === undefined || g === 'entry') return 'entry';
  if (g === 'row') return 'row';
  return fail(ErrorCodes.ONNX_INVALID, `the ${META_RECORD} record of "${rec.tensor}" has granularity ${JSON.stringify(g)}; this tool knows "row" (absent: per entry)`, {
    tensor: rec.tensor,
  });
}

/** The record, or a NOT_QUANTIZED error saying how to make one. */
export function requireQuantRecord(model: Model, file?: string): QuantRecord {
  const r = readQuantRecord(model);
  if (!r) {
    fail(ErrorCodes.NOT_QUANTIZED, `${file ?? 'the model'} is not an HBNN-quantized model (no ${META_FORMAT} metadata); run \`hbnn-onnx quantize\` first`, {
      ...(file ? { file } : {}),
    });
  }
  return r;
}

/**
 * ALREADY_QUANTIZED when the model carries an HBNN record: quantizing it again would find no
 * float weight to binarize. Says what it is and what to do instead.
 */
export function assertNotQuantized(model: Model, file?: string): void {
  const r = readQuantRecord(model);
  if (!r) return;
  const what = file ?? 'the model';
  const acts = r.activations.length > 0 ? `, ${r.activations.length} binarized activation${r.activations.length === 1 ? '' : 's'}` : '';
  fail(
    ErrorCodes.ALREADY_QUANTIZED,
    `${what} is already HBNN-quantized (${META_FORMAT} metadata: ${r.weights.length} binarized weight${r.weights.length === 1 ? '' : 's'}, ` +
      `${r.avgWeightBits.toFixed(3)} average bits${acts}). Fine-tune it (\`hbnn-onnx train ${file ?? 'MODEL'} --fine-tune --train-data SPEC\`), ` +
      `lower it (\`hbnn-onnx lower ${file ?? 'MODEL'} --backend bit-ir|vivado-hls|asic\`), or quantize the float original instead`,
    { ...(file ? { file } : {}) },
  );
}

/**
 * Sets `record.avgWeightBits` to the parameter-weighted mean of its weights' average bits and
 * returns the number of binarized weights (the one place this sum is computed).
 */
export function updateAverageWeightBits(record: QuantRecord): number {
  let bits = 0;
  let params = 0;
  for (const w of record.weights) {
    const n = w.histogram.reduce((a, b) => a + b, 0);
    bits += w.avgBits * n;
    params += n;
  }
  record.avgWeightBits = params ? bits / params : 0;
  return params;
}

/**
 * Writes the record. The format is `hbnn-onnx/3` when any weight call of the model is packed
 * (readers of `hbnn-onnx/1` would misread it), with the compact record (`compactRecord`; readers
 * of `hbnn-onnx/2` would miss its left-out fields), else `hbnn-onnx/1` with the full record;
 * `record.format` is set to match (the record itself stays full).
 */
export function writeQuantRecord(model: Model, record: QuantRecord): void {
  const packed = model.graph.nodes.some((n) => n.domain === HBNN_DOMAIN && parsePackedWeightFunctionName(n.opType) !== undefined);
  record.format = packed ? HBNN_FORMAT_PACKED : HBNN_FORMAT;
  model.setMetadata(META_FORMAT, record.format);
  model.setMetadata(META_RECORD, JSON.stringify(packed ? compactRecord(record) : record));
}

export function emptyRecord(): QuantRecord {
  return { format: HBNN_FORMAT, tool: 'hbnn-onnx', weights: [], activations: [], avgWeightBits: 0 };
}

// ------------------------------------------------------------------------------------------
// Model-local functions
// ------------------------------------------------------------------------------------------

export const attr = (name: string, a: Partial<AttributePb>): AttributePb =>
  ({ name, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [], ...a }) as AttributePb;

export const node = (op: string, input: string[], output: string[], attribute: AttributePb[] = []): NodePb =>
  ({ op_type: op, input, output, attribute, metadata_props: [], device_configurations: [] }) as NodePb;

/** Nodes for `out = ReduceSum(x, axes=[0], keepdims=0)` valid at `opset`. */
function reduceSum0(x: string, out: string, opset: number): NodePb[] {
  if (opset >= 13) {
    return [
      node('Constant', [], [`${out}__axes`], [attr('value_ints', { type: 7, ints: [0] as never })]),
      node('ReduceSum', [x, `${out}__axes`], [out], [attr('keepdims', { type: 2, i: 0 as never })]),
    ];
  }
  return [node('ReduceSum', [x], [out], [attr('axes', { type: 7, ints: [0] as never }), attr('keepdims', { type: 2, i: 0 as never })])];
}

/** Nodes for a >= b as float 0/1, valid at `opset`. */
function geFloat(a: string, b: string, out: string, opset: number): NodePb[] {
  if (opset >= 12) return [node('GreaterOrEqual', [a, b], [`${out}__b`]), node('Cast', [`${out}__b`], [out], [attr('to', { type: 2, i: 1 as never })])];
  return [
    node('Less', [a, b], [`${out}__lt`]),
    node('Not', [`${out}__lt`], [`${out}__b`]),
    node('Cast', [`${out}__b`], [out], [attr('to', { type: 2, i: 1 as never })]),
  ];
}

/** An ai.hbnn function (no attributes) whose body imports the default opset `opset`. */
export function hbnnFunction(f: { name: string; docString?: string; input: string[]; output: string[]; node: NodePb[] }, opset: number): FunctionPb {
  return {
    name: f.name,
    domain: HBNN_DOMAIN,
    ...(f.docString !== undefined ? { doc_string: f.docString } : {}),
    input: f.input,
    output: f.output,
    attribute: [],
    attribute_proto: [],
    node: f.node,
    opset_import: [{ domain: '', version: opset as never }],
    value_info: [],
    metadata_props: [],
  } as FunctionPb;
}

export function weightFunction(opset: number): FunctionPb {
  return hbnnFunction(
    {
      name: FN_WEIGHT,
      docString: 'HBNN binarized weight: sum over bit planes of scale_i * plane_i (planes are int8 in {-1,0,+1}).',
      input: ['planes', 'scales'],
      output: ['w'],
      node: [node('Cast', ['planes'], ['pf'], [attr('to', { type: 2, i: 1 as never })]), node('Mul', ['pf', 'scales'], ['ps']), ...reduceSum0('ps', 'w', opset)],
    },
    opset,
  );
}

export function activationFunction(opset: number): FunctionPb {
  const n: NodePb[] = [];
  const sgn = (x: string, out: string): void => {
    // sign with sign(0) = +1: 2 * [x >= 0] - 1
    n.push(...geFloat(x, 'zero', `${out}__ge`, opset));
    n.push(node('Mul', [`${out}__ge`, 'two'], [`${out}__2`]), node('Sub', [`${out}__2`, 'one'], [out]));
  };
  n.push(
    node('Constant', [], ['zero'], [attr('value_float', { type: 1, f: 0 })]),
    node('Constant', [], ['one'], [attr('value_float', { type: 1, f: 1 })]),
    node('Constant', [], ['two'], [attr('value_float', { type: 1, f: 2 })]),
  );
  if (opset < 12) {
    // value_float needs opset 12; older models get tensors.
    n.length = 0;
    for (const [name, v] of [['zero', 0], ['one', 1], ['two', 2]] as const) {
      n.push(
        node('Constant', [], [name], [
          attr('value', { type: 4, t: { dims: [], data_type: 1, float_data: [v], int32_data: [], string_data: [], int64_data: [], external_data: [], double_data: [], uint64_data: [], metadata_props: [] } }),
        ]),
      );
    }
  }
  // Bit count bands: k = sign * | |x| - center |; g1 = [k >= t1], g2 = [k >= t2]
  n.push(node('Abs', ['x'], ['ax']), node('Sub', ['ax', 'center'], ['dc']), node('Abs', ['dc'], ['d']), node('Mul', ['d', 'sign'], ['k']));
  n.push(...geFloat('k', 't1', 'g1', opset), ...geFloat('k', 't2', 'g2', opset));
  // Scales: s1, s2, s3 from scales[3] via Split would need opset-dependent attributes; use Gather.
  for (let i = 0; i < 3; i++) {
    n.push(
      node('Constant', [], [`i${i}`], [
        attr('value', { type: 4, t: { dims: [], data_type: 7, int64_data: [i as never], float_data: [], int32_data: [], string_data: [], external_data: [], double_data: [], uint64_data: [], metadata_props: [] } }),
      ]),
      node('Gather', ['scales', `i${i}`], [`s${i + 1}`], [attr('axis', { type: 2, i: 0 as never })]),
    );
  }
  // Round 1 (every entry), round 2 (g1), round 3 (g2)
  sgn('x', 'b1');
  n.push(node('Mul', ['b1', 's1'], ['y1']), node('Sub', ['x', 'y1'], ['e1']));
  sgn('e1', 'b2');
  n.push(node('Mul', ['b2', 's2'], ['b2s']), node('Mul', ['b2s', 'g1'], ['y2']), node('Sub', ['e1', 'y2'], ['e2']));
  sgn('e2', 'b3');
  n.push(node('Mul', ['b3', 's3'], ['b3s']), node('Mul', ['b3s', 'g2'], ['y3']));
  n.push(node('Add', ['y1', 'y2'], ['y12']), node('Add', ['y12', 'y3'], ['y']));
  return hbnnFunction(
    {
      name: FN_ACT,
      docString:
        'HBNN activation binarizer with calibrated constants: bits per entry from bands on k = sign*||x|-center| ' +
        '(1 + [k>=t1] + [k>=t2]), then residual binarization with fixed per-bit scales.',
      input: ['x', 'scales', 'center', 'sign', 't1', 't2'],
      output: ['y'],
      node: n,
    },
    opset,
  );
}

/**
 * Adds the ai.hbnn opset import and the functions named in `which` (default both
 * `BinarizedWeight` and `BinarizeActivation`) to a model (idempotent); raises IR to >= 8.
 * Packed weight functions are added by the planes builder (src/quant/planes.ts) as it uses them.
 */
export function ensureHbnnFunctions(model: Model, which: readonly ('weight' | 'activation')[] = ['weight', 'activation']): void {
  const opset = model.opsetVersion('');
  if (opset === undefined) fail(ErrorCodes.ONNX_INVALID, 'model has no ai.onnx opset import');
  if (opset < 11) fail(ErrorCodes.UNSUPPORTED_OP, `model uses ai.onnx opset ${opset}; quantization needs opset 11 or later`);
  if (model.irVersion < 8n) model.irVersion = 8n;
  if (model.opsetVersion(HBNN_DOMAIN) === undefined) model.opsetImports.push({ domain: HBNN_DOMAIN, version: 1 });
  const have = new Set((model.functions as FunctionPb[]).map((f) => `${f.domain}::${f.name}`));
  if (which.includes('weight') && !have.has(`${HBNN_DOMAIN}::${FN_WEIGHT}`)) model.functions.push(weightFunction(opset));
  if (which.includes('activation') && !have.has(`${HBNN_DOMAIN}::${FN_ACT}`)) model.functions.push(activationFunction(opset));
}

/** A binarized weight call: `BinarizedWeight` (int8 planes) or a `PackedBinarizedWeight<K>…` (packed planes). */
export function isWeightCall(n: Node): boolean {
  return n.domain === HBNN_DOMAIN && (n.opType === FN_WEIGHT || parsePackedWeightFunctionName(n.opType) !== undefined);
}

export function isActivationCall(n: Node): boolean {
  return n.domain === HBNN_DOMAIN && n.opType === FN_ACT;
}

/** For a Conv/Gemm/MatMul weight input, the BinarizedWeight call feeding it (if any). */
export function weightCallOf(v: Value | null): Node | undefined {
  const p = v?.producer;
  return p && isWeightCall(p) ? p : undefined;
}
