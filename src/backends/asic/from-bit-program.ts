/**
 * `fromBitProgram`: the ASIC work list from the bit-level IR (src/bitir/types.ts).
 *
 * Rules, for every `conv` and `matvec` op in program order:
 * 1. Weight histogram: for a binary weight, plane i's mask counts the entries with at
 *    least i bits, so histogram[k-1] = popcount(mask_k) - popcount(mask_k+1) (`planes`);
 *    a fixed-point weight has all rows·cols parameters at its `bits` (`fixed`).
 * 2. Input activation: a `binary` tensor is plane-encoded with `planes` as its largest
 *    width and the program's average activation bits (clamped to [1, planes]) as its
 *    average (the IR keeps which levels exist, not how often); a `fixed` tensor is
 *    fixed point at its width, `network-input` when the `input` op produced it.
 * 3. Accumulators: the output `acc` type's terms (one accumulator each) and width;
 *    output positions = entries of the acc shape per output channel.
 * 4. Output quantizer: the `threshold` op reading the accumulators (the largest number of
 *    thresholds over its channels), a `requantize` op (its output width), or none.
 */
import { fail, ErrorCodes } from '../../errors.js';
import type { AccType, AddOp, AvgPoolOp, BinaryWeight, BitProgram, BitTensor, BitType, ClipOp, ConcatOp, ConvOp, LeakyReluOp, MatVecOp } from '../../bitir/types.js';
import { opInputs, unreachable } from '../../bitir/types.js';
import { windowLead } from '../../bitir/window.js';
import type { ActivationBits, AsicLayerWork, LayerKind, OutputQuantizer, StreamUnit } from './work.js';
import { homogeneousHistogram } from './work.js';
import type { Model } from '../../ir/graph.js';
import type { LayerGeometry } from './geometry.js';

function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function popcount(words: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < words.length; i++) n += popcount32(words[i]!);
  return n;
}

/** Parameters per bitwidth of a binary weight, from its plane masks. */
export function binaryWeightHistogram(w: BinaryWeight): number[] {
  const atLeast = w.planes.map((p) => popcount(p.mask));
  return atLeast.map((n, i) => n - (atLeast[i + 1] ?? 0));
}

/**
 * The geometry of `model`'s layers as the bit-level IR `program` (lowered from it) has them:
 * per conv/matvec op, in program order, the ONNX node, its weight input, rows and columns of
 * the weight and output positions of the accumulators — the shapes the IR computed, instead of
 * inferring them again from the graph (`layerGeometry`).
 */
export function bitProgramGeometry(model: Model, program: BitProgram): LayerGeometry[] {
  const nodes = new Map(model.graph.nodes.map((n) => [n.name, n]));
  const tensors = new Map<string, BitTensor>(program.tensors.map((t) => [t.id, t]));
  const out: LayerGeometry[] = [];
  for (const op of program.ops) {
    if (op.op !== 'conv' && op.op !== 'matvec') continue;
    const node = nodes.get(op.nodes[0] ?? '');
    const weight = program.weights.find((w) => w.id === op.weight);
    const acc = tensors.get(op.output)?.type;
    const input = tensors.get(op.input)?.type;
    if (!node || !node.inputs[1] || !weight || !acc || !input) lowering(`op ${op.id} has no layer of the model behind it`, op.id);
    const positions = acc.shape.slice(1).reduce((a, b) => a * b, 1);
    const depthwise = op.op === 'conv' && op.group > 1 && op.group === (input.shape[0] ?? 0) && weight.cols === op.kernel[0] * op.kernel[1];
    out.push({
      node,
      weight: node.inputs[1],
      kind: op.op === 'matvec' ? 'fully-connected' : depthwise ? 'depthwise-conv' : 'conv',
      rows: weight.rows,
      cols: weight.cols,
      outputPositions: Math.max(1, positions),
    });
  }
  return out;
}

/** The weightless units of `program` (add, concat, avgpool, clip, leakyrelu), each with the index of its op. */
export function bitProgramStreamWorks(program: BitProgram): { index: number; work: AsicLayerWork }[] {
  const tensors = new Map<string, BitTensor>(program.tensors.map((t) => [t.id, t]));
  const typeOf = (id: string, op: string): BitType => tensors.get(id)?.type ?? lowering(`op ${op} refers to tensor ${id}, which the program does not declare`, op);
  const out: { index: number; work: AsicLayerWork }[] = [];
  const leads = tensorLeads(program, typeOf);
  program.ops.forEach((op, index) => {
    if (op.op === 'add' || op.op === 'concat' || op.op === 'avgpool' || op.op === 'clip' || op.op === 'leakyrelu') out.push({ index, work: streamWork(op, typeOf, leads) });
  });
  return out;
}

/**
 * Per tensor, the fraction of a frame the design reads before the tensor's first value when
 * it streams (the Vivado HLS backend's rule for FIFO depths): along the program, a convolution
 * or pooling window adds the rows its first window needs (`windowLead`), a matrix-vector
 * product the whole vector, every other op nothing; a join takes its latest input.
 */
function tensorLeads(program: BitProgram, typeOf: (id: string, op: string) => BitType): Map<string, number> {
  const leads = new Map<string, number>();
  for (const op of program.ops) {
    const base = Math.max(0, ...opInputs(op).map((id) => leads.get(id) ?? 0));
    let lead = 0;
    if (op.op === 'conv' || op.op === 'maxpool' || op.op === 'avgpool') lead = windowLead(op, typeOf(op.input, op.id).shape[1] ?? 1);
    else if (op.op === 'matvec') lead = 1;
    leads.set(op.output, base + lead);
  }
  return leads;
}

function lowering(message: string, node?: string): never {
  return fail(ErrorCodes.LOWERING, `ASIC backend (bit-level IR): ${message}`, node ? { node } : {});
}

export function fromBitProgram(program: BitProgram): AsicLayerWork[] {
  const tensors = new Map<string, BitTensor>(program.tensors.map((t) => [t.id, t]));
  const typeOf = (id: string, op: string): BitType => tensors.get(id)?.type ?? lowering(`op ${op} refers to tensor ${id}, which the program does not declare`, op);
  const inputProduced = new Set(program.ops.filter((o) => o.op === 'input').map((o) => o.output));
  const readers = new Map<string, OutputQuantizer>();
  for (const op of program.ops) {
    switch (op.op) {
      case 'threshold':
        readers.set(op.input, { kind: 'thresholds', count: Math.max(0, ...op.bands.map((b) => b.thresholds.length)) });
        break;
      case 'requantize': {
        const t = typeOf(op.output, op.id);
        readers.set(op.input, { kind: 'requantize', bits: t.kind === 'fixed' ? t.bits : 0 });
        break;
      }
      case 'input':
      case 'conv':
      case 'matvec':
      case 'relu':
      case 'maxpool':
      case 'reshape':
      case 'scale':
      case 'argmax':
      case 'add':
      case 'concat':
      case 'avgpool':
      case 'clip':
      case 'leakyrelu':
        break;
      default:
        unreachable(op, 'bit-IR op');
    }
  }
  const avgAct = program.source.avgActivationBits;
  const leads = tensorLeads(program, typeOf);
  const works: AsicLayerWork[] = [];
  for (const op of program.ops) {
    switch (op.op) {
      case 'conv':
      case 'matvec':
        works.push(layerWork(op, program, typeOf, inputProduced, readers, avgAct));
        break;
      case 'input':
      case 'threshold':
      case 'requantize':
      case 'relu':
      case 'maxpool':
      case 'reshape':
      case 'scale':
      case 'argmax':
        break;
      case 'add':
      case 'concat':
      case 'avgpool':
      case 'clip':
      case 'leakyrelu':
        works.push(streamWork(op, typeOf, leads));
        break;
      default:
        unreachable(op, 'bit-IR op');
    }
  }
  if (!works.some((w) => !w.stream)) lowering('the program has no conv or matvec unit');
  return works;
}

/** A weightless unit between layers, sized from the IR's tensor shapes (docs/backend-asic.md, "Stream units"). */
function streamWork(op: AddOp | ConcatOp | AvgPoolOp | ClipOp | LeakyReluOp, typeOf: (id: string, op: string) => BitType, leads?: ReadonlyMap<string, number>): AsicLayerWork {
  const size = (t: BitType): number => t.shape.reduce((a: number, b: number) => a * b, 1);
  const widthOf = (t: BitType): number => (t.kind === 'fixed' ? t.bits : t.kind === 'binary' ? 2 * t.planes : 0);
  const out = typeOf(op.output, op.id);
  const inputs = op.op === 'add' || op.op === 'concat' ? op.inputs : [op.input];
  const ins = inputs.map((id) => typeOf(id, op.id));
  const bits = widthOf(out);
  const entriesIn = ins.reduce((a, t) => a + size(t), 0);
  const entriesOut = size(out);
  const operands = op.op === 'add' || op.op === 'concat' ? op.operands : op.op === 'avgpool' ? [op.operand] : [];
  const stream: StreamUnit = {
    kind: op.op,
    inputs: inputs.length,
    entriesIn,
    entriesOut,
    bits,
    alignedInputs: operands.filter((o) => o.shift > 0 || o.table).length,
    tableBits: operands.reduce((a, o) => a + (o.table ? o.table.length * bits : 0), 0),
  };
  if (op.op === 'add' && leads) {
    // Each input holds what it delivers before the latest branch starts to (its lead behind).
    const l = inputs.map((id) => leads.get(id) ?? 0);
    const latest = Math.max(...l);
    stream.bufferBits = ins.reduce((a, t, i) => a + Math.min(size(t), Math.ceil((latest - l[i]!) * size(t) - 1e-9)) * bits, 0);
  } else if (op.op === 'add') {
    // No program order known: at most one frame of the smaller input.
    stream.bufferBits = Math.min(...ins.map(size)) * bits;
  }
  if (op.op === 'avgpool') {
    const t = ins[0]!;
    stream.window = op.kernel[0] * op.kernel[1];
    stream.bufferBits = op.global ? 0 : (op.kernel[0] - 1) * (t.shape[2] ?? 1) * (t.shape[0] ?? 1) * widthOf(t);
  }
  const channels = out.shape[0] ?? 1;
  return {
    name: op.nodes[0] ?? op.id,
    kind: op.op,
    weightBits: [],
    weightEncoding: 'fixed',
    activation: { source: 'stream', encoding: 'fixed', avg: bits, max: bits },
    outputPositions: channels ? entriesOut / channels : entriesOut,
    rows: channels,
    cols: 0,
    accumulatorBits: 0,
    accumulatorsPerOutput: 0,
    output: { kind: 'none' },
    stream,
  };
}

function layerWork(
  op: ConvOp | MatVecOp,
  program: BitProgram,
  typeOf: (id: string, op: string) => BitType,
  inputProduced: ReadonlySet<string>,
  readers: ReadonlyMap<string, OutputQuantizer>,
  avgAct: number | undefined,
): AsicLayerWork {
  const weight = program.weights.find((w) => w.id === op.weight) ?? lowering(`op ${op.id} uses weight ${op.weight}, which the program does not declare`, op.id);
  const acc = typeOf(op.output, op.id);
  if (acc.kind !== 'acc') lowering(`op ${op.id} writes ${op.output}, which is not an accumulator tensor`, op.id);
  const accType: AccType = acc;
  const input = typeOf(op.input, op.id);
  let activation: ActivationBits;
  switch (input.kind) {
    case 'binary': {
      const avg = Math.min(input.planes, Math.max(1, avgAct ?? input.planes));
      activation = { source: 'binarized', encoding: 'planes', avg, max: input.planes };
      break;
    }
    case 'fixed':
      activation = { source: inputProduced.has(op.input) ? 'network-input' : 'assumed', encoding: 'fixed', avg: input.bits, max: input.bits };
      break;
    case 'acc':
    case 'class':
      return lowering(`op ${op.id} reads ${op.input}, a${input.kind === 'acc' ? 'n accumulator' : ' class'} tensor`, op.id);
    default:
      return unreachable(input, 'bit-IR tensor type');
  }
  const rows = weight.rows;
  const positions = accType.shape.slice(1).reduce((a, b) => a * b, 1);
  let kind: LayerKind = 'fully-connected';
  if (op.op === 'conv') {
    const cin = input.shape[0] ?? 0;
    kind = op.group > 1 && op.group === cin && weight.cols === op.kernel[0] * op.kernel[1] ? 'depthwise-conv' : 'conv';
  }
  const weightBits = weight.kind === 'binary' ? binaryWeightHistogram(weight) : homogeneousHistogram(rows * weight.cols, weight.bits);
  return {
    name: op.nodes[0] ?? op.id,
    kind,
    weightBits,
    weightEncoding: weight.kind === 'binary' ? 'planes' : 'fixed',
    activation,
    outputPositions: op.op === 'conv' ? positions : Math.max(1, positions),
    rows,
    cols: weight.cols,
    accumulatorBits: accType.bits,
    accumulatorsPerOutput: Math.max(1, accType.terms.length),
    output: readers.get(op.output) ?? { kind: 'none' },
  };
}
