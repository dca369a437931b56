/**
 * Calibrated ranges of the fixed-point streams (docs/bit-ir.md §3, "Fraction bits from
 * calibrated ranges"): the program is lowered with the fixed fractions, run by the
 * interpreter on calibration samples, and the largest |x| of every stream whose format the
 * lowering chooses (the input, each `requantize` output, each `add`/`concat`/`avgpool`
 * output) is kept under the ONNX value's name, for `LoweringOptions.streamRanges`.
 */
import type { Model } from '../ir/graph.js';
import { fail, ErrorCodes } from '../errors.js';
import { interpret } from './interpret.js';
import { lowerToBitIR } from './lower.js';
import type { FixedType, LoweringOptions } from './types.js';

/** Ops whose output format the lowering chooses (their output tensor is named after the ONNX value). */
const RANGED_OPS = new Set(['input', 'requantize', 'add', 'concat', 'avgpool']);

/** Samples per interpreter run (captured tensors are held for one chunk at a time). */
const CHUNK = 32;

/**
 * The largest |x| of each stream over the calibration samples `images` ([count, ...input
 * shape], row-major, as `interpret` reads them), in the program lowered with `options`
 * (their `streamRanges` ignored): ONNX value name → range, in program order.
 */
export function measureStreamRanges(model: Model, images: Float32Array, options: Partial<LoweringOptions> = {}): Record<string, number> {
  const { streamRanges: _ignored, ...fixed } = options;
  void _ignored;
  const p = lowerToBitIR(model, fixed);
  const per = p.input.shape.reduce((a, b) => a * b, 1);
  const count = Math.floor(images.length / per);
  if (count < 1 || count * per !== images.length) {
    fail(ErrorCodes.INVALID_OPTION, `calibration samples: ${images.length} values are not a whole number (≥ 1) of samples of [${p.input.shape.join(',')}]`, { option: 'calibration' });
  }
  const types = new Map(p.tensors.map((t) => [t.id, t.type]));
  const ids = p.ops.filter((o) => RANGED_OPS.has(o.op) && types.get(o.output)?.kind === 'fixed').map((o) => o.output);
  const maxQ = new Map(ids.map((id) => [id, 0]));
  for (let s = 0; s < count; s += CHUNK) {
    const r = interpret(p, images.subarray(s * per, Math.min(count, s + CHUNK) * per), { capture: ids });
    for (const id of ids) {
      const q = r.captured[id]!;
      let m = maxQ.get(id)!;
      for (let i = 0; i < q.length; i++) m = Math.max(m, Math.abs(q[i]!));
      maxQ.set(id, m);
    }
  }
  const out: Record<string, number> = {};
  for (const id of ids) out[id] = maxQ.get(id)! * 2 ** -(types.get(id) as FixedType).frac;
  return out;
}
