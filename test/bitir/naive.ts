/**
 * A plain-loop reference for conv/matvec accumulators, independent of the BitIR's packing:
 * it reads the ONNX model's bit planes through the format reader (either encoding) and the unit's input as plain numbers,
 * and loops over output pixels, channels and kernel positions, summing w_sign · a_sign over
 * the entries present in both planes (or w_sign · q for a fixed-point input).
 */
import type { Model } from '../../src/ir/graph.js';
import { readWeightCall } from '../../src/quant/planes.js';
import type { BinaryType, BitProgram, ConvOp, FixedType, MatVecOp } from '../../src/bitir/types.js';

/** int8 planes [K, ...dims] of the BinarizedWeight call feeding ONNX node `nodeName`. */
export function onnxPlanes(model: Model, nodeName: string): { k: number; dims: number[]; data: Int8Array } {
  const node = model.graph.nodes.find((n) => n.name === nodeName);
  if (!node) throw new Error(`no node ${nodeName}`);
  const w = readWeightCall(node.inputs[1]!.producer!);
  return { k: w.k, dims: [...w.dims], data: w.planes };
}

/**
 * Accumulators [T, O, OH, OW] of a conv (or [T, O] of a matvec with `transposed` telling how
 * the ONNX weight is laid out) for one sample. `input` holds q (fixed) or level indices (binary).
 */
export function naiveAccumulators(program: BitProgram, op: ConvOp | MatVecOp, planes: { k: number; dims: number[]; data: Int8Array }, input: ArrayLike<number>, layout: 'OI' | 'IO' = 'OI'): number[] {
  const inType = program.tensors.find((t) => t.id === op.input)!.type as FixedType | BinaryType;
  const accType = program.tensors.find((t) => t.id === op.output)!.type;
  if (accType.kind !== 'acc') throw new Error('not an accumulator');
  const n = planes.dims.reduce((a, b) => a * b, 1);
  const act = (entry: number, plane: number): number => {
    if (inType.kind === 'fixed') return input[entry]!;
    const l = inType.levels[input[entry]!]!;
    const bit = 1 << (plane - 1);
    if (!(l.mask & bit)) return 0;
    return l.signs & bit ? 1 : -1;
  };
  const out: number[] = [];
  for (const term of accType.terms) {
    const wPlane = planes.data.subarray((term.w - 1) * n, term.w * n);
    if (op.op === 'matvec') {
      const j = inType.shape[0]!;
      const o = planes.dims[layout === 'OI' ? 0 : 1]!;
      for (let r = 0; r < o; r++) {
        let s = 0;
        for (let c = 0; c < j; c++) {
          const w = wPlane[layout === 'OI' ? r * j + c : c * o + r]!;
          if (w === 0) continue;
          const a = act(c, term.a);
          if (inType.kind === 'binary' && a === 0) continue;
          s += w * a;
        }
        out.push(s);
      }
      continue;
    }
    const [o, cg, kh, kw] = planes.dims as [number, number, number, number];
    const [, h, wd] = inType.shape as [number, number, number];
    const oh = Math.floor((h + op.pads[0] + op.pads[2] - op.dilations[0] * (kh - 1) - 1) / op.strides[0]) + 1;
    const ow = Math.floor((wd + op.pads[1] + op.pads[3] - op.dilations[1] * (kw - 1) - 1) / op.strides[1]) + 1;
    const og = o / op.group;
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / og);
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          let s = 0;
          for (let c = 0; c < cg; c++) {
            for (let a = 0; a < kh; a++) {
              for (let b = 0; b < kw; b++) {
                const iy = y * op.strides[0] - op.pads[0] + a * op.dilations[0];
                const ix = x * op.strides[1] - op.pads[1] + b * op.dilations[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                const w = wPlane[((oc * cg + c) * kh + a) * kw + b]!;
                if (w === 0) continue;
                s += w * act(((g * cg + c) * h + iy) * wd + ix, term.a);
              }
            }
          }
          out.push(s);
        }
      }
    }
  }
  return out;
}
