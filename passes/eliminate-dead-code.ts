/**
 * eliminate-dead-code: removes nodes and initializers whose results nobody uses.
 *
 * Rules (for every graph, subgraphs included):
 * 1. A value is used when a node input refers to it (in its own graph or, as an outer
 *    value, inside any subgraph), or when it is an output of its graph or of a subgraph
 *    that refers to it from outside.
 * 2. A node none of whose outputs is used is removed. Nodes are visited in reverse order,
 *    so a chain that only fed removed nodes goes in the same run; removing a node with
 *    subgraphs also drops the uses its bodies made of outer values.
 * 3. Inside the bodies of the nodes that stay, rule 2 applies with the body's outputs as
 *    the roots.
 * 4. Nodes in a domain other than the ONNX ones ('', ai.onnx, ai.onnx.ml,
 *    ai.onnx.preview.training) are kept even when unused, unless `remove-custom` is set:
 *    standard ONNX operators are pure functions of their inputs, but a custom operator
 *    may have effects the graph does not show (logging, I/O, state in its runtime), and
 *    this pass cannot know.
 * 5. An initializer with no use that is not a graph input or output is removed, unless
 *    `keep-initializers` is set. Graph inputs (also those with an initializer, as IR < 4
 *    writes them) are the model's interface and always stay.
 */
import { definePass, type PassContext } from '../src/pass/pass.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';

const PURE_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'ai.onnx.preview.training']);

export const eliminateDeadCode = definePass({
  name: 'eliminate-dead-code',
  summary: 'Remove nodes whose outputs are unused, and unused initializers.',
  description: 'Reverse sweep over every graph and subgraph; custom-domain nodes are kept unless remove-custom is set.',
  options: [
    { name: 'keep-initializers', type: 'boolean', default: false, doc: 'Keep initializers that nothing uses.' },
    { name: 'remove-custom', type: 'boolean', default: false, doc: 'Also remove unused nodes of custom (non-ONNX) domains, which may have side effects.' },
  ],
  establishes: ['no-dead-code'],
  preserves: ['topologically-sorted', 'shapes-inferred', 'no-identity', 'constants-folded', 'batchnorm-folded', 'weights-binarized', 'activations-binarized', 'calibrated', 'bit-ir-lowerable'],
  run(model, ctx, o) {
    const opts = { keepInitializers: o['keep-initializers'], removeCustom: o['remove-custom'] };
    const changed = sweep(model.graph, opts, ctx);
    return { changed };
  },
});

interface Opts {
  keepInitializers: boolean;
  removeCustom: boolean;
}

/** Counts values of enclosing graphs that a node's subgraphs list as their own outputs. */
function countOuterOutputs(node: Node, counts: Map<Value, number>, delta: number): void {
  const walk = (g: Graph): void => {
    for (const v of g.outputs) if (v && v.graph !== g) counts.set(v, (counts.get(v) ?? 0) + delta);
    for (const n of g.nodes) for (const s of n.subgraphs()) walk(s);
  };
  for (const s of node.subgraphs()) walk(s);
}

function sweep(g: Graph, opts: Opts, ctx: PassContext): boolean {
  let changed = false;
  // Outer values that a subgraph returns directly are used, though not in any use list (rule 1).
  const returned = new Map<Value, number>();
  for (const n of g.nodes) countOuterOutputs(n, returned, 1);
  const used = (v: Value): boolean => v.uses.length > 0 || v.isGraphOutput || (returned.get(v) ?? 0) > 0;
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    const dead = !n.outputs.some((o) => o.name !== '' && used(o));
    if (dead && (opts.removeCustom || PURE_DOMAINS.has(n.domain))) {
      countOuterOutputs(n, returned, -1);
      g.removeNode(n);
      ctx.stat('removed-nodes');
      changed = true;
      continue;
    }
    if (dead) ctx.stat('kept-custom');
    for (const s of n.subgraphs()) changed = sweep(s, opts, ctx) || changed;
  }
  if (!opts.keepInitializers) {
    for (const v of [...g.initializers.values()]) {
      if (!used(v) && !v.isGraphInput) {
        g.removeInitializer(v);
        ctx.stat('removed-initializers');
        changed = true;
      }
    }
  }
  return changed;
}
