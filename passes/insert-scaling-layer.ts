/**
 * insert-scaling-layer: a learned scalar after a binarized output layer (METHOD §5).
 *
 * Rules:
 * 1. The output layer is the last Conv/Gemm/MatMul whose weight is binarized. When it is
 *    followed (through an optional bias Add) by Mul with a scalar constant, that Mul is the
 *    scaling layer already (PyTorch exports of HBNN models have one): it is recorded, not
 *    duplicated.
 * 2. Otherwise `y' = Mul(y, s)` is inserted after the layer's output with s = `init`, and
 *    every former use of y now uses y'. When y was a graph output, y' takes over its name so
 *    the model's interface does not change.
 * 3. The trainer learns s like any other parameter.
 * 4. When the output layer (after its optional bias Add) is followed by a chain of single-use
 *    Add/Sub/Mul/Div nodes whose other operand is a constant (an affine tail, such as a
 *    BatchNormalization that an exporter wrote out as operators), the Mul of rule 2 goes
 *    after that chain, so the chain stays next to the layer (the bit-level IR folds it into
 *    the layer's requantization).
 */
import { definePass } from '../src/pass/pass.js';
import { fail, ErrorCodes } from '../src/errors.js';
import { Tensor } from '../src/ir/tensor.js';
import type { Node, Value } from '../src/ir/graph.js';
import { readQuantRecord, writeQuantRecord } from '../src/quant/format.js';
import { isConstant } from '../src/quant/targets.js';
import { binarizedLayers } from './insert-activation-binarization.js';

export const insertScalingLayer = definePass({
  name: 'insert-scaling-layer',
  summary: 'Add a learned scalar after the binarized output layer (or record the one already there)',
  options: [{ name: 'init', type: 'number', doc: 'initial value of the scale', default: 1 }],
  requires: ['weights-binarized'],
  preserves: ['topologically-sorted', 'weights-binarized', 'activations-binarized', 'calibrated', 'constants-folded', 'no-identity', 'batchnorm-folded'],
  run(model, ctx, o) {
    const g = model.graph;
    const layers = binarizedLayers(g);
    const last = layers[layers.length - 1];
    if (!last) fail(ErrorCodes.NOTHING_TO_QUANTIZE, 'no binarized layer to scale: run insert-weight-binarization first');
    const record = readQuantRecord(model);
    if (!record) fail(ErrorCodes.NOT_QUANTIZED, 'the model has no hbnn.quantization record');
    let y: Value = last.outputs[0]!;
    const afterBias = singleConsumer(y);
    if (afterBias?.opType === 'Add' && afterBias.inputs.some((v) => isConstant(v))) y = afterBias.outputs[0]!;
    const next = singleConsumer(y);
    if (next?.opType === 'Mul') {
      const s = next.inputs.find((v) => v !== y);
      if (isConstant(s) && s.constValue!.size === 1) {
        record.scalingLayer = { node: next.name, scale: s.name, inserted: false };
        writeQuantRecord(model, record);
        ctx.note(`output layer ${last.name} is already followed by scaling layer ${next.name}`);
        return { changed: true };
      }
    }
    // Rule 4: past an affine tail.
    for (let t = singleConsumer(y); t && isAffineWithConstant(t, y); t = singleConsumer(y)) y = t.outputs[0]!;
    const scale = g.addInitializer(Tensor.fromFloat32(g.uniqueName(`${last.name || 'output'}.hbnn_scale`), [], Float32Array.of(o.init)));
    const wasOutput = y.isGraphOutput;
    const outName = y.name;
    const mul = g.createNode('Mul', [y, scale], [g.uniqueName(`${outName}.scaled`)], { name: g.uniqueName(`${last.name || 'output'}/ScalingLayer`) });
    const scaled = mul.outputs[0]!;
    for (const use of [...y.uses]) use.node.setInput(use.index, scaled);
    if (wasOutput) {
      const k = g.outputs.indexOf(y);
      g.setOutput(k, scaled);
      const type = y.type;
      g.renameValue(y, g.uniqueName(`${outName}.unscaled`));
      g.renameValue(scaled, outName);
      if (type) scaled.type = type;
      y.type = undefined;
    }
    mul.setInput(0, y);
    g.insertAfter(y.producer!, mul);
    record.scalingLayer = { node: mul.name, scale: scale.name, inserted: true };
    writeQuantRecord(model, record);
    ctx.stat('inserted');
    return { changed: true };
  },
});

function singleConsumer(v: Value): Node | undefined {
  const c = v.consumers;
  return c.length === 1 && !v.isGraphOutput ? c[0] : undefined;
}

/** Add/Sub/Mul/Div of `v` and a constant. */
function isAffineWithConstant(n: Node, v: Value): boolean {
  if (!['Add', 'Sub', 'Mul', 'Div'].includes(n.opType) || n.domain !== '' || n.inputs.length !== 2) return false;
  const k = n.inputs.indexOf(v);
  if (k < 0 || n.inputs[1 - k] === v) return false;
  if (n.opType === 'Div' && k !== 0) return false;
  return isConstant(n.inputs[1 - k]);
}
