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
import type { AccType, BinaryWeight, BitProgram, BitTensor, BitType, ConvOp, MatVecOp } from '../../bitir/types.js';
import { unreachable } from '../../bitir/types.js';
import type { ActivationBits, AsicLayerWork, LayerKind, OutputQuantizer } from './work.js';
import { homogeneousHistogram } from './work.js';

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
        break;
      default:
        unreachable(op, 'bit-IR op');
    }
  }
  const avgAct = program.source.avgActivationBits;
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
      default:
        unreachable(op, 'bit-IR op');
    }
  }
  if (works.length === 0) lowering('the program has no conv or matvec unit');
  return works;
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
