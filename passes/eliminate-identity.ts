/**
 * eliminate-identity: removes Identity nodes and inference-mode Dropout nodes.
 *
 * Rules (for every graph, subgraphs included):
 * 1. For y = Identity(x) where y is not an output of its graph: every use of y uses x
 *    instead, and the node is removed.
 * 2. For y = Dropout(x, ...) in inference mode, the same as rule 1, provided its mask
 *    output is absent or unused. Inference mode means: no `training_mode` input (opset
 *    12+) or one that is a constant false (an initializer that is not a graph input, or a
 *    Constant node); before opset 12 Dropout is an identity at inference unless it has
 *    an `is_test` attribute equal to 0.
 * 3. When y is an output of its graph, the graph's interface names are kept: if x is a
 *    plain intermediate (not a graph input, not a graph output, not an initializer, and
 *    defined in the same graph), uses of y move to x, the node is removed, and x takes
 *    y's name and declared type. Otherwise the node stays (statistic `kept-interface`).
 */
import { definePass, type PassContext } from '../src/pass/pass.js';
import type { Graph, Model, Node, Value } from '../src/ir/graph.js';
import { DataType } from '../src/ir/dtype.js';

export const eliminateIdentity = definePass({
  name: 'eliminate-identity',
  summary: 'Remove Identity nodes and inference-mode Dropout, keeping graph interface names.',
  description: 'Rewires consumers of y = Identity(x) to x; a graph output keeps its name by renaming x when x is a plain intermediate.',
  establishes: ['no-identity'],
  preserves: ['topologically-sorted', 'shapes-inferred', 'no-dead-code', 'constants-folded', 'batchnorm-folded', 'weights-binarized', 'activations-binarized', 'calibrated', 'bit-ir-lowerable'],
  run(model, ctx) {
    let changed = false;
    const visit = (g: Graph): void => {
      for (const n of [...g.nodes]) {
        for (const s of n.subgraphs()) visit(s);
        if (isRemovable(n, model, ctx)) changed = eliminate(g, n, ctx) || changed;
      }
    };
    visit(model.graph);
    return { changed };
  },
});

function isRemovable(n: Node, model: Model, ctx: PassContext): boolean {
  if (!n.isOnnx() || !n.inputs[0] || !n.outputs[0]) return false;
  if (n.opType === 'Identity') return true;
  if (n.opType !== 'Dropout') return false;
  const mask = n.outputs[1];
  if (mask && mask.name !== '' && (mask.uses.length > 0 || mask.isGraphOutput)) {
    ctx.stat('kept-dropout-mask-used');
    return false;
  }
  const opset = model.opsetVersion('') ?? 21;
  if (opset < 12) {
    const isTest = n.attrInt('is_test');
    return isTest === undefined || isTest !== 0;
  }
  const tm = n.inputs[2];
  if (!tm) return true;
  if (constantFalse(tm)) return true;
  ctx.stat('kept-dropout-training');
  return false;
}

/** True when `v` is a constant scalar boolean false. */
function constantFalse(v: Value): boolean {
  let t = v.constValue && !v.isGraphInput ? v.constValue : undefined;
  if (!t && v.producer?.isOnnx('Constant')) t = v.producer.attrTensor('value');
  if (!t || t.dtype !== DataType.BOOL || t.size !== 1) return false;
  return t.toNumberArray()[0] === 0;
}

function eliminate(g: Graph, n: Node, ctx: PassContext): boolean {
  const x = n.inputs[0]!;
  const y = n.outputs[0]!;
  if (!y.isGraphOutput) {
    if (!x.type && y.type && !x.isInitializer) x.type = y.type;
    y.replaceAllUsesWith(x);
    g.removeNode(n);
    ctx.stat(n.opType === 'Identity' ? 'removed-identity' : 'removed-dropout');
    return true;
  }
  // Rule 3: keep the graph's output name.
  if (x.isGraphInput || x.isGraphOutput || x.isInitializer || x.graph !== g) {
    ctx.stat('kept-interface');
    return false;
  }
  const name = y.name;
  const type = y.type ?? x.type;
  y.replaceAllUsesWith(x);
  g.removeNode(n);
  const k = g.valueInfoOrder.indexOf(x.name);
  if (k >= 0) g.valueInfoOrder.splice(k, 1); // x is a graph output now, not a value_info entry
  g.renameValue(x, name);
  x.type = type;
  ctx.stat(n.opType === 'Identity' ? 'removed-identity' : 'removed-dropout');
  return true;
}
