/**
 * Preparation of real-world models for quantization: the passes `quantize` runs before
 * binarizing, chosen from what the model needs, each with a note for the user.
 *
 * 1. Nodes out of topological order → `topological-sort`.
 * 2. Initializers also listed as graph inputs (IR 3 style) → `constant-initializer-inputs`
 *    (onnxruntime uses the initializer when no feed is given, so the function is the same);
 *    with `keepInitializerInputs` they stay overridable, and layers whose weight is one of
 *    them are not binarized.
 * 3. ai.onnx opset below 11 → `upgrade-opset{to=11}` (below 13 → 13 when fine-tuning follows).
 * 4. QONNX/Brevitas/FINN quantizers → `import-qonnx` (docs/import.md); inside If/Loop/Scan
 *    bodies only weight quantizers (folded there), any other is unsupported-op naming the subgraph.
 * 5. Layer weights computed by nodes from constants (Constant, ConstantOfShape,
 *    DequantizeLinear of int8 initializers, Transpose, folded quantizers...) →
 *    `fold-constants`.
 * 6. Conv/Gemm/MatMul nodes inside If/Loop/Scan subgraphs are not binarized: a note, or,
 *    when the main graph has no layer at all, a nothing-to-quantize error saying so.
 */
import type { Graph, Model, Node, Value } from '../ir/graph.js';
import { verifyModel } from '../ir/verifier.js';
import { fail, ErrorCodes } from '../errors.js';
import type { PipelineItem } from '../pass/pipeline.js';
import { initializerInputs } from '../../passes/constant-initializer-inputs.js';
import { checkQonnxInSubgraphs, isQonnxNode } from '../../passes/import-qonnx.js';

/** The opset `quantize` upgrades older models to (the quantized format needs 11). */
export const QUANTIZE_MIN_OPSET = 11;

export interface PrepareOptions {
  /** Keep initializers that are also graph inputs overridable (default: they become constants). */
  keepInitializerInputs?: boolean;
  /** QONNX import: BipolarQuant weights stay 1-bit planes with their scale (default: re-binarized from ±scale). */
  keepImported?: boolean;
  /** QONNX import: drop activation quantizers (set when quantize binarizes activations itself). */
  dropImportedActivations?: boolean;
  /** Upgrade models below this ai.onnx opset (default 11, what the quantized format needs; fine-tuning needs 13). */
  minOpset?: number;
}

export interface Preparation {
  items: PipelineItem[];
  /** One line per step, for the user. */
  notes: string[];
}

const LAYER_OPS = new Set(['Conv', 'Gemm', 'MatMul']);

/**
 * The QONNX/Brevitas/FINN quantizer nodes of the main graph (onnxruntime cannot run them:
 * their domains have no kernels). `eval` imports them (`prepareForQuantize`) before running.
 */
export const qonnxNodes = (model: Model): Node[] => model.graph.nodes.filter(isQonnxNode);

/** The preparation passes `model` needs before quantization, and why. */
export function preparationFor(model: Model, o: PrepareOptions = {}): Preparation {
  const items: PipelineItem[] = [];
  const notes: string[] = [];
  const g = model.graph;
  const pass = (name: string, options: Record<string, string> = {}): void => void items.push({ kind: 'pass', name, options });

  const errors = (unsorted: boolean): number => verifyModel(model, { allowUnsorted: unsorted }).filter((i) => i.severity === 'error').length;
  if (errors(false) > 0 && errors(true) === 0) {
    pass('topological-sort');
    notes.push('the nodes were not in topological order; sorted them first (topological-sort)');
  }

  const initInputs = initializerInputs(g);
  if (initInputs.length > 0) {
    if (o.keepInitializerInputs) {
      notes.push(`${initInputs.length} initializers are also graph inputs; kept overridable (--keep-initializer-inputs), so layers whose weight is one of them stay float`);
    } else {
      pass('constant-initializer-inputs');
      notes.push(
        `${initInputs.length} initializers are also graph inputs (IR 3 style); treated as constants, as onnxruntime does when they are not fed (--keep-initializer-inputs keeps them overridable)`,
      );
    }
  }

  const opset = model.opsetVersion('');
  const minOpset = Math.max(QUANTIZE_MIN_OPSET, o.minOpset ?? QUANTIZE_MIN_OPSET);
  if (opset !== undefined && opset < minOpset) {
    pass('upgrade-opset', { to: String(minOpset) });
    notes.push(`ai.onnx opset ${opset} upgraded to ${minOpset} (upgrade-opset)`);
  }

  // QONNX weight quantizers in If/Loop/Scan bodies are folded there; any other is unsupported-op, before any work.
  // (initializers that are also graph inputs count as constants unless kept overridable: constant-initializer-inputs runs first)
  const qonnx = [...g.nodes.filter(isQonnxNode), ...checkQonnxInSubgraphs(g, (v) => !v || (v.isInitializer && (!v.isGraphInput || !o.keepInitializerInputs)))];
  if (qonnx.length > 0) {
    pass('import-qonnx', {
      ...(o.keepImported ? { 'bipolar-weights': 'planes' } : {}),
      ...(o.dropImportedActivations ? { activations: 'drop' } : {}),
    });
    const ops = [...new Set(qonnx.map((n) => n.opType))].join(', ');
    notes.push(
      `imported ${qonnx.length} QONNX quantizers (${ops}): weights folded and ` +
        (o.keepImported ? 'BipolarQuant weights kept as 1-bit planes with their scale' : 're-binarized from their dequantized values (n-bit Quant is not homogeneous residual binarization: not the same function)') +
        (o.dropImportedActivations ? '; activation quantizers replaced by this tool\'s binarizers' : '; activation quantizers kept (see docs/import.md)'),
    );
  }

  const treatConst = (v: Value): boolean => v.isInitializer && (!v.isGraphInput || !o.keepInitializerInputs);
  const layers = g.nodes.filter((n) => (n.domain === '' || n.domain === 'ai.onnx') && LAYER_OPS.has(n.opType));
  const computed = layers.filter((n) => {
    const w = n.inputs[1];
    return !!w && !!w.producer && isConstantExpr(w, treatConst, new Map());
  });
  if (computed.length > 0 || qonnx.length > 0) {
    pass('fold-constants');
    if (computed.length > 0) {
      const ops = [...new Set(computed.map((n) => n.inputs[1]!.producer!.opType))].join(', ');
      notes.push(`${computed.length} layer weights are computed from constants (${ops}); folded them (fold-constants)`);
    }
  }

  const inSubgraphs = subgraphLayers(g);
  if (inSubgraphs.length > 0) {
    const where = `${inSubgraphs.length} Conv/Gemm/MatMul node${inSubgraphs.length === 1 ? '' : 's'} inside If/Loop/Scan subgraphs (first: ${inSubgraphs[0]!.label})`;
    if (layers.length === 0) {
      fail(ErrorCodes.NOTHING_TO_QUANTIZE, `the main graph has no Conv, Gemm or MatMul; ${where}: weights inside subgraphs are not supported by quantize`, {
        node: inSubgraphs[0]!.name,
      });
    }
    notes.push(`${where} stay float: weights inside subgraphs are not supported`);
  }
  return { items, notes };
}

/** Whether `v` is computed from constants only, by nodes without subgraphs. */
function isConstantExpr(v: Value, treatConst: (v: Value) => boolean, memo: Map<Value, boolean>): boolean {
  const known = memo.get(v);
  if (known !== undefined) return known;
  memo.set(v, false);
  let r: boolean;
  if (v.isInitializer) r = treatConst(v);
  else if (!v.producer) r = false;
  else {
    const p: Node = v.producer;
    r = p.subgraphs().length === 0 && !/^Random/.test(p.opType) && p.inputs.every((x) => !x || isConstantExpr(x, treatConst, memo));
  }
  memo.set(v, r);
  return r;
}

function subgraphLayers(g: Graph): Node[] {
  const out: Node[] = [];
  const walk = (x: Graph, inside: boolean): void => {
    for (const n of x.nodes) {
      if (inside && LAYER_OPS.has(n.opType)) out.push(n);
      for (const s of n.subgraphs()) walk(s, true);
    }
  };
  walk(g, false);
  return out;
}
