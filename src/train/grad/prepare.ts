/**
 * Forward-graph rewrites applied before differentiation. Each one keeps every value the
 * model computes (same logits, bit for bit) and the gradient of every parameter, and only
 * makes the training graph cheaper.
 *
 * Pool before ReLU: `MaxPool(Relu(a))` becomes `Relu(MaxPool(a))` when the Relu output feeds
 * only that MaxPool (and the pool's indices are not used). Relu is monotone, so the values
 * are equal (max of the real elements of each window; padding never wins). The gradient
 * is the same too: when a window's max is positive, both forms route dY to the first
 * position holding it (ties among positive values are ties in `a` as well); when it is
 * <= 0, both give 0 (Relu's mask is 0 at the max). The ReLU and its backward mask then work
 * on the pooled tensor (a quarter of the elements for 2x2 pools) instead of the full one.
 */
import type { Graph, Model, Node } from '../../ir/graph.js';

function reluPoolPairs(g: Graph): [Node, Node][] {
  const pairs: [Node, Node][] = [];
  for (const relu of g.nodes) {
    if (!relu.isOnnx('Relu') || relu.outputs.length !== 1 || !relu.inputs[0]) continue;
    const r = relu.outputs[0]!;
    if (r.isGraphOutput || r.uses.length !== 1) continue;
    const { node: pool, index } = r.uses[0]!;
    if (!pool.isOnnx('MaxPool') || index !== 0) continue;
    const extra = pool.outputs.slice(1);
    if (extra.some((o) => o.name !== '' && (o.uses.length > 0 || o.isGraphOutput))) continue;
    pairs.push([relu, pool]);
  }
  return pairs;
}

/** `model` itself when no rewrite applies, else a rewritten copy (the input is not modified). */
export function prepareForTraining(model: Model): Model {
  if (reluPoolPairs(model.graph).length === 0) return model;
  const copy = model.clone();
  const g = copy.graph;
  for (const [relu, pool] of reluPoolPairs(g)) {
    const a = relu.inputs[0]!;
    const p = pool.outputs[0]!;
    const attributes = Object.fromEntries(pool.attributes);
    const newPool = g.createNode('MaxPool', [a], [g.uniqueName(`${p.name}_before_relu`)], { name: pool.name, attributes });
    const newRelu = g.createNode('Relu', [newPool.outputs[0]!], [g.uniqueName(`${p.name}_relu`)], { name: relu.name });
    g.insertBefore(relu, newPool, newRelu);
    const out = newRelu.outputs[0]!;
    out.type = p.type;
    p.replaceAllUsesWith(out);
    g.removeNode(pool, { force: true });
    g.removeNode(relu);
    g.renameValue(out, p.name);
  }
  return copy;
}
