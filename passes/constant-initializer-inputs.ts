/**
 * constant-initializer-inputs: initializers that are also listed as graph inputs (IR 3
 * style, as older exporters write every weight) become plain constants.
 *
 * Rules (main graph only; subgraph inputs are never initializers):
 * 1. Every graph input that is also an initializer is removed from the graph's inputs; its
 *    initializer (the value onnxruntime uses when no feed is given) stays, so the model
 *    computes the same function for every caller that does not feed it.
 * 2. With `keep` (globs on the value name), matching initializers stay graph inputs
 *    (overridable by a feed) and are left as they are.
 * 3. IR versions below 4 require every initializer to be a graph input, so a model whose
 *    inputs change gets IR version 4 (the oldest that allows constants).
 * 4. Other passes treat such initializers as constants afterwards: fold-constants folds
 *    through them and quantization binarizes the weights among them.
 */
import { definePass } from '../src/pass/pass.js';
import { matchesAny } from '../src/quant/targets.js';
import type { Graph, Value } from '../src/ir/graph.js';

/** The first IR version whose initializers need not be graph inputs. */
export const IR_CONSTANT_INITIALIZERS = 4n;

export const constantInitializerInputs = definePass({
  name: 'constant-initializer-inputs',
  summary: 'Treat initializers also listed as graph inputs (IR 3 style) as constants: drop them from the inputs.',
  description: 'Removes each initializer from the graph inputs (its value is what onnxruntime uses when no feed is given); `keep` lists names that stay overridable.',
  options: [{ name: 'keep', type: 'string-list', doc: 'globs of initializer names that stay graph inputs (overridable by a feed)' }],
  preserves: ['topologically-sorted', 'shapes-inferred', 'no-identity', 'no-dead-code', 'batchnorm-folded', 'weights-binarized', 'activations-binarized', 'calibrated'],
  run(model, ctx, o) {
    const keep = o.keep ?? [];
    const moved = initializerInputs(model.graph).filter((v) => !(keep.length > 0 && matchesAny(keep, [v.name])));
    for (const v of moved) {
      const k = model.graph.inputs.indexOf(v);
      model.graph.inputs.splice(k, 1);
    }
    if (moved.length > 0) {
      if (model.irVersion < IR_CONSTANT_INITIALIZERS) model.irVersion = IR_CONSTANT_INITIALIZERS;
      ctx.stat('initializers-made-constant', moved.length);
      ctx.note(`${moved.length} initializer${moved.length === 1 ? ' was' : 's were'} also graph input${moved.length === 1 ? '' : 's'}; now constant`);
    }
    return { changed: moved.length > 0 };
  },
});

/** The graph inputs of `g` that are also initializers, in input order. */
export function initializerInputs(g: Graph): Value[] {
  return g.inputs.filter((v) => v.isInitializer);
}
