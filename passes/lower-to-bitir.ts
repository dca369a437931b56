/**
 * lower-to-bitir: check that the quantized model lowers to the bit-level IR
 * (docs/bit-ir.md) and establish `bit-ir-lowerable`.
 *
 * Rules:
 * 1. The model must be HBNN-quantized (an `hbnn.quantization` record and at least one
 *    `ai.hbnn::BinarizedWeight` call); otherwise the pass fails with NOT_QUANTIZED.
 * 2. `lowerToBitIR` runs on the model with the pass's fixed-point options; any pattern it
 *    cannot lower fails the pass with LOWERING, naming the node.
 * 3. The model is not changed. The program is handed to the caller as the artifact
 *    `bit-ir` (a BitProgram); statistics count its ops by kind.
 */
import { definePass } from '../src/pass/pass.js';
import { lowerToBitIR } from '../src/bitir/lower.js';
import { DEFAULT_LOWERING, type LoweringOptions } from '../src/bitir/types.js';

export const lowerToBitir = definePass({
  name: 'lower-to-bitir',
  summary: 'Check that the quantized model lowers to the bit-level IR (the model is not changed)',
  options: [
    { name: 'input-frac', type: 'integer', doc: 'fractional bits of the quantized input', default: DEFAULT_LOWERING.inputFrac, min: 0, max: 30 },
    { name: 'input-bits', type: 'integer', doc: 'width of the quantized input', default: DEFAULT_LOWERING.inputBits, min: 2, max: 32 },
    { name: 'act-frac', type: 'integer', doc: 'fractional bits of fixed-point activations', default: DEFAULT_LOWERING.actFrac, min: 0, max: 30 },
    { name: 'act-bits', type: 'integer', doc: 'width of fixed-point activations', default: DEFAULT_LOWERING.actBits, min: 2, max: 32 },
    { name: 'bin-stream-frac', type: 'integer', doc: 'fractional bits of fixed-point streams an activation binarizer reads', default: DEFAULT_LOWERING.binStreamFrac, min: 0, max: 30 },
    { name: 'bin-stream-bits', type: 'integer', doc: 'width of fixed-point streams an activation binarizer reads', default: DEFAULT_LOWERING.binStreamBits, min: 2, max: 40 },
    { name: 'logit-frac', type: 'integer', doc: 'fractional bits of the logits', default: DEFAULT_LOWERING.logitFrac, min: 0, max: 30 },
    { name: 'logit-bits', type: 'integer', doc: 'width of the logits', default: DEFAULT_LOWERING.logitBits, min: 2, max: 40 },
    { name: 'multiplier-bits', type: 'integer', doc: 'width of fixed-point scale multipliers', default: DEFAULT_LOWERING.multiplierBits, min: 2, max: 32 },
    { name: 'weight-bits', type: 'integer', doc: 'width of fixed-point weights of layers kept in float', default: DEFAULT_LOWERING.weightBits, min: 2, max: 24 },
    { name: 'range-headroom-bits', type: 'integer', doc: 'integer bits kept above a calibrated stream range (used with calibrated ranges only)', default: DEFAULT_LOWERING.rangeHeadroomBits, min: 0, max: 16 },
  ],
  establishes: ['bit-ir-lowerable'],
  preserves: 'all',
  run(model, ctx, o) {
    const opts: LoweringOptions = {
      inputFrac: o['input-frac'],
      inputBits: o['input-bits'],
      actFrac: o['act-frac'],
      actBits: o['act-bits'],
      binStreamFrac: o['bin-stream-frac'],
      binStreamBits: o['bin-stream-bits'],
      logitFrac: o['logit-frac'],
      logitBits: o['logit-bits'],
      multiplierBits: o['multiplier-bits'],
      weightBits: o['weight-bits'],
      rangeHeadroomBits: o['range-headroom-bits'],
    };
    const program = lowerToBitIR(model, opts);
    for (const op of program.ops) ctx.stat(`op-${op.op}`);
    ctx.artifacts.set('bit-ir', program);
    ctx.note(`lowered to ${program.ops.length} bit-level ops (${program.weights.length} weight tensors)`);
    return { changed: false };
  },
});
