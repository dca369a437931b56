/**
 * infer-shapes: element type and shape inference for the operators the toolkit handles,
 * following the ONNX operator specifications for opsets 7 to 21. The inference is the shape
 * analysis (src/analysis/shapes.ts, which states its rules and operators); this pass writes
 * its result onto the values and keeps it cached for the passes and lowerings after it.
 *
 * Rules (for every node, in graph order, then inside each of its subgraphs):
 * 1. Every output the analysis typed gets its merged type (the analysis merges the inferred
 *    type with the declared one: nothing already known is lost); the pass reports a change
 *    when any type differs from what the value had.
 * 2. An operator without a rule (or a non-default domain other than the ai.hbnn calls) keeps
 *    its outputs (statistic `unknown-op`); with `strict`, that is a SHAPE_INFERENCE error
 *    naming the node.
 * 3. Inputs that contradict the operator's spec leave the outputs as they are (statistic
 *    `contradiction`, and a note saying why); with `strict`, that is a SHAPE_INFERENCE error.
 * 4. An inferred type that disagrees with a declared one (element type, rank or a static
 *    dim) is a SHAPE_INFERENCE error naming the node, whatever `strict` says. Errors come
 *    before any type is written.
 * 5. Values of non-tensor types (sequences, maps, optionals) are never retyped.
 */
import { definePass } from '../src/pass/pass.js';
import { ShapeAnalysis, shapeAnalysis } from '../src/analysis/shapes.js';
import { tensorTypeOf, setTensorType, type Dim } from '../src/ir/types.js';
import { fail, ErrorCodes } from '../src/errors.js';

export { INFER_SHAPES_OPS } from '../src/analysis/shapes.js';

export const inferShapes = definePass({
  name: 'infer-shapes',
  summary: 'Infer element types and shapes of node outputs (symbolic dims propagate).',
  description:
    'Types every node output of the supported operators from its inputs, following the ONNX specs of opsets 7-21; unknown operators are left untyped (or fail with strict).',
  options: [{ name: 'strict', type: 'boolean', default: false, doc: 'Fail on unknown operators and on inputs that contradict an operator spec.' }],
  establishes: ['shapes-inferred'],
  preserves: 'all',
  run(model, ctx, o) {
    const info = shapeAnalysis(model);
    for (const r of info.nodes) {
      const node = r.node;
      const where = { node: node.name, op: node.opType };
      switch (r.status) {
        case 'unknown-op':
          if (o.strict) fail(ErrorCodes.SHAPE_INFERENCE, `node ${node.label}: no shape inference for operator ${node.domain ? node.domain + '::' : ''}${node.opType}`, where);
          ctx.stat('unknown-op');
          break;
        case 'contradiction':
          if (o.strict) fail(ErrorCodes.SHAPE_INFERENCE, `node ${node.label}: ${r.message}`, where);
          ctx.stat('contradiction');
          ctx.note(`node ${node.label}: ${r.message}; outputs left as they were`);
          break;
        case 'conflict':
          fail(ErrorCodes.SHAPE_INFERENCE, `node ${node.label}: ${r.message}`, where);
          break;
        case 'error':
          throw r.error;
        default:
          ctx.stat(r.status);
      }
    }
    let changed = false;
    for (const [v, t] of info.types) {
      const had = tensorTypeOf(v);
      if (had && had.elemType === t.elem && sameShape(had.shape, t.shape)) continue;
      setTensorType(v, t.elem, t.shape);
      changed = true;
    }
    // The written types are the analysis's own result: it stays valid for the passes after this one.
    ctx.preserveAnalysis?.(ShapeAnalysis, info);
    return { changed };
  },
});

function sameShape(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
