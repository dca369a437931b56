/**
 * fold-constants: evaluates nodes whose inputs are all constant, with onnxruntime, and
 * replaces their outputs by initializers.
 *
 * Rules (main graph):
 * 1. Constants are initializers that are not graph inputs (a graph input's initializer
 *    is only a default the caller may override) and outputs of Constant nodes.
 * 2. With `constant-nodes` (default true), every Constant node with a dense value
 *    (value, value_float(s), value_int(s), value_string(s)) becomes an initializer of the
 *    same name; its attribute is copied, not evaluated.
 * 3. A node in the default ONNX domain whose inputs are all constant (rule 1, or outputs
 *    of nodes folded by this rule) is foldable, except: nodes with subgraphs, random
 *    operators (RandomNormal, RandomUniform, RandomNormalLike, RandomUniformLike,
 *    Multinomial, Bernoulli), nodes whose declared output type onnxruntime-node cannot
 *    hand to JavaScript, nodes whose declared output shape has more than `max-elements`
 *    elements, and attributes referring to function parameters.
 * 4. All foldable nodes go into one model with the same opset imports, whose outputs are
 *    their outputs; onnxruntime runs it once. If it cannot, each node is evaluated on its
 *    own and nodes it fails on (and their dependents) stay as they are (statistic
 *    `not-evaluable`).
 * 5. Each output of a folded node becomes an initializer of the same name (keeping a
 *    graph output's declared type), and the node is removed. A node with an output of
 *    more than `max-elements` elements, or of a type with no tensor form, stays.
 * 6. Initializers that are also graph inputs are not constants (rule 1): when there are any,
 *    a note says so and names `constant-initializer-inputs`, which makes them constants.
 * Inputs that folding leaves unused stay for eliminate-dead-code to remove. Subgraphs are
 * not folded; their uses of main-graph values are rewired with everything else.
 */
import { definePass, type PassContext } from '../src/pass/pass.js';
import { Graph, Model, type Node, type Value } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { DataType, ortTypeName } from '../src/ir/dtype.js';
import { tensorTypeOf } from '../src/ir/types.js';
import { createSession, runSession, type OrtTensor } from '../src/runtime/ort.js';

const RANDOM_OPS = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

export const foldConstants = definePass({
  name: 'fold-constants',
  summary: 'Evaluate all-constant nodes with onnxruntime and replace them by initializers.',
  description: 'Builds one model of the foldable nodes (opset imports kept), runs it in onnxruntime, and turns their outputs into initializers.',
  options: [
    { name: 'max-elements', type: 'integer', default: 10_000_000, min: 0, doc: 'Do not fold outputs with more elements than this.' },
    { name: 'constant-nodes', type: 'boolean', default: true, doc: 'Turn Constant nodes into initializers.' },
  ],
  establishes: ['constants-folded'],
  preserves: ['topologically-sorted', 'shapes-inferred', 'no-identity', 'batchnorm-folded', 'weights-binarized', 'activations-binarized', 'calibrated', 'bit-ir-lowerable'],
  async run(model, ctx, o) {
    const maxElements = o['max-elements'];
    let changed = false;
    if (o['constant-nodes']) changed = constantNodesToInitializers(model.graph, ctx) || changed;
    changed = (await foldNodes(model, maxElements, ctx)) || changed;
    const inputs = model.graph.inputs.filter((v) => v.isInitializer).length;
    if (inputs > 0) ctx.note(`${inputs} initializers are also graph inputs (overridable), so not folded through; run constant-initializer-inputs first to treat them as constants`);
    return { changed };
  },
});

/** The dense value of a Constant node as a tensor, or undefined (sparse or malformed). */
function constantValue(n: Node, name: string): Tensor | undefined {
  const t = n.attrTensor('value');
  if (t) return t.withNameAndDims(name);
  const a = (k: string) => n.attributes.get(k);
  const f = a('value_float');
  if (f?.type === 'float') return Tensor.fromFloat32(name, [], Float32Array.of(f.value));
  const fs = a('value_floats');
  if (fs?.type === 'floats') return Tensor.fromFloat32(name, [fs.value.length], Float32Array.from(fs.value));
  const i = a('value_int');
  if (i?.type === 'int') return Tensor.fromInt64(name, [], [i.value]);
  const is = a('value_ints');
  if (is?.type === 'ints') return Tensor.fromInt64(name, [is.value.length], is.value);
  const s = a('value_string');
  if (s?.type === 'string') return new Tensor(name, DataType.STRING, [], { kind: 'string', values: [s.value] });
  const ss = a('value_strings');
  if (ss?.type === 'strings') return new Tensor(name, DataType.STRING, [ss.value.length], { kind: 'string', values: [...ss.value] });
  return undefined;
}

/** Replaces node `n`'s outputs by initializers holding `tensors` (same names), then removes it. */
function replaceByInitializers(g: Graph, n: Node, tensors: Map<Value, Tensor>): void {
  const renames: [Value, string][] = [];
  for (const o of n.outputs) {
    const t = tensors.get(o);
    if (!t) continue;
    const init = g.addInitializer(t, g.uniqueName(`${o.name}__folded`));
    if (o.isGraphOutput && o.type) init.type = o.type;
    o.replaceAllUsesWith(init);
    renames.push([init, o.name]);
  }
  g.removeNode(n);
  for (const [init, name] of renames) {
    const k = g.valueInfoOrder.indexOf(name);
    if (k >= 0 && !init.isGraphOutput) g.valueInfoOrder.splice(k, 1);
    g.renameValue(init, name);
  }
}

function constantNodesToInitializers(g: Graph, ctx: PassContext): boolean {
  let changed = false;
  for (const n of [...g.nodes]) {
    if (!n.isOnnx('Constant') || n.outputs.length !== 1) continue;
    const out = n.outputs[0]!;
    if (out.name === '') continue;
    const t = constantValue(n, out.name);
    if (!t) {
      ctx.stat('skipped-sparse-constant');
      continue;
    }
    replaceByInitializers(g, n, new Map([[out, t]]));
    ctx.stat('constant-nodes');
    changed = true;
  }
  return changed;
}

function declaredElements(v: Value): number | undefined {
  const s = tensorTypeOf(v)?.shape;
  if (!s || !s.every((d) => typeof d === 'number')) return undefined;
  return (s as number[]).reduce((a, b) => a * b, 1);
}

/** Foldable nodes in graph order (rule 3), with the constant values they read. */
function findFoldable(g: Graph, maxElements: number, ctx: PassContext): { nodes: Node[]; sources: Set<Value> } {
  const constant = new Set<Value>();
  for (const v of g.initializers.values()) if (!v.isGraphInput) constant.add(v);
  const nodes: Node[] = [];
  const sources = new Set<Value>();
  for (const n of g.nodes) {
    const inputs = n.inputs.filter((v): v is Value => v !== null);
    if (!inputs.every((v) => constant.has(v))) continue;
    if (n.isOnnx('Constant')) {
      // Kept as a node (constant-nodes=false or sparse): a source of constants, not folded.
      for (const o of n.outputs) constant.add(o);
      nodes.push(n);
      continue;
    }
    const why = !n.isOnnx()
      ? 'custom-domain'
      : n.subgraphs().length > 0
        ? 'subgraph'
        : RANDOM_OPS.has(n.opType)
          ? 'random'
          : [...n.attributes.values()].some((a) => a.refAttrName !== undefined)
            ? 'attribute-reference'
            : n.outputs.some((o) => o.name !== '' && tensorTypeOf(o)?.elemType !== undefined && tensorTypeOf(o)!.elemType !== 0 && !ortTypeName(tensorTypeOf(o)!.elemType))
              ? 'unsupported-type'
              : n.outputs.some((o) => (declaredElements(o) ?? 0) > maxElements)
                ? 'too-large'
                : undefined;
    if (why) {
      ctx.stat(`skipped-${why}`);
      continue;
    }
    for (const o of n.outputs) if (o.name !== '') constant.add(o);
    for (const v of inputs) if (v.isInitializer) sources.add(v);
    nodes.push(n);
  }
  return { nodes, sources };
}

/** A model holding copies of `nodes`, the constant tensors they read, and their outputs as outputs. */
function buildFoldModel(model: Model, nodes: readonly Node[], constants: ReadonlyMap<string, Tensor>): Model {
  const fg = new Graph('fold');
  const fm = new Model(fg);
  fm.irVersion = model.irVersion < 4n ? 4n : model.irVersion; // initializers that are not inputs need IR 4+
  fm.opsetImports = model.opsetImports.map((o) => ({ ...o }));
  const byName = new Map<string, Value>();
  const input = (v: Value | null): Value | null => {
    if (!v) return null;
    let fv = byName.get(v.name);
    if (!fv) {
      fv = fg.addInitializer(constants.get(v.name)!.withNameAndDims(v.name));
      byName.set(v.name, fv);
    }
    return fv;
  };
  for (const n of nodes) {
    const copy = fg.createNode(n.opType, n.inputs.map(input), n.outputs.map((o) => o.name), {
      domain: n.domain,
      name: n.name,
      attributes: Object.fromEntries(n.attributes),
    });
    fg.append(copy);
    for (const o of copy.outputs) {
      if (o.name === '') continue;
      byName.set(o.name, o);
      fg.setOutput(fg.outputs.length, o);
    }
  }
  return fm;
}

async function evaluate(model: Model, nodes: readonly Node[], constants: ReadonlyMap<string, Tensor>): Promise<Map<string, OrtTensor>> {
  const fm = buildFoldModel(model, nodes, constants);
  const session = await createSession(fm, { optimization: 'disabled' });
  try {
    return new Map(Object.entries(await runSession(session, {})));
  } finally {
    await session.release();
  }
}

const ORT_TO_DTYPE: Record<string, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int16: DataType.INT16,
  uint16: DataType.UINT16,
  int32: DataType.INT32,
  uint32: DataType.UINT32,
  int64: DataType.INT64,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
};

/** An IR tensor (copied bytes) from an ORT result, or undefined for types with no mapping. */
function fromOrt(name: string, t: OrtTensor): Tensor | undefined {
  const dims = [...t.dims];
  if (t.type === 'string') {
    const enc = new TextEncoder();
    return new Tensor(name, DataType.STRING, dims, { kind: 'string', values: (t.data as string[]).map((s) => enc.encode(s)) });
  }
  const dtype = ORT_TO_DTYPE[t.type];
  if (dtype === undefined) return undefined;
  const data = t.data as ArrayBufferView;
  const bytes = new Uint8Array(data.byteLength);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return new Tensor(name, dtype, dims, { kind: 'raw', bytes });
}

async function foldNodes(model: Model, maxElements: number, ctx: PassContext): Promise<boolean> {
  const g = model.graph;
  const { nodes, sources } = findFoldable(g, maxElements, ctx);
  const toFold = nodes.filter((n) => !n.isOnnx('Constant'));
  if (toFold.length === 0) return false;
  const constants = new Map<string, Tensor>([...sources].map((v) => [v.name, v.constValue!]));
  let results: Map<string, OrtTensor>;
  try {
    results = await evaluate(model, nodes, constants);
  } catch {
    results = await evaluateOneByOne(model, nodes, constants, ctx);
  }
  let changed = false;
  for (const n of toFold) {
    const tensors = new Map<Value, Tensor>();
    let ok = true;
    for (const o of n.outputs) {
      if (o.name === '') continue;
      const r = results.get(o.name);
      if (!r) {
        ok = false;
        continue;
      }
      if (r.size > maxElements) {
        ctx.stat('skipped-too-large');
        ok = false;
        continue;
      }
      const t = fromOrt(o.name, r);
      if (!t) {
        ctx.stat('skipped-unsupported-type');
        ok = false;
        continue;
      }
      tensors.set(o, t);
    }
    if (!ok) continue;
    replaceByInitializers(g, n, tensors);
    ctx.stat('folded');
    changed = true;
  }
  return changed;
}

/** Rule 4's fallback: one model per node; a node that fails is skipped with its dependents. */
async function evaluateOneByOne(model: Model, nodes: readonly Node[], sources: ReadonlyMap<string, Tensor>, ctx: PassContext): Promise<Map<string, OrtTensor>> {
  const results = new Map<string, OrtTensor>();
  const constants = new Map(sources);
  for (const n of nodes) {
    if (n.inputs.some((v) => v && !constants.has(v.name))) continue; // an input failed to evaluate
    try {
      const r = await evaluate(model, [n], constants);
      for (const [name, t] of r) {
        results.set(name, t);
        const it = fromOrt(name, t);
        if (it) constants.set(name, it);
      }
    } catch {
      ctx.stat('not-evaluable');
    }
  }
  return results;
}
