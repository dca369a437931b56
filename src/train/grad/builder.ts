/**
 * The gradient builder: from a forward model, a training model (standard ONNX operators plus
 * the model's own ai.hbnn functions) that any onnxruntime runs.
 *
 * The training model takes
 *   - the data input of the forward model (same name) and `labels` (int64 [N]),
 *   - every trainable parameter as a graph input: float initializers under their own names,
 *     and for each `ai.hbnn::BinarizedWeight` call its output Ŵ (the binarized weight, which
 *     the training loop computes from the latent float weight every step),
 *   - one mask input per Dropout with a non-zero ratio,
 * and outputs `loss` (scalar), the logits, `<param>.grad` for every parameter, and the batch
 * mean and unbiased variance of every BatchNormalization (for the running statistics).
 *
 * Rules, in order:
 * 1. Only nodes the logits depend on are kept (others, e.g. a probability head, are dropped);
 *    a final Softmax on the scored output is skipped so that the loss sees logits.
 * 2. Forward: nodes are emitted in the forward order; a rule may emit a training-mode form
 *    instead of a copy (BatchNormalization, Dropout, MaxPool). A value requires a gradient
 *    when it is a parameter or an output of a node with a differentiable input that does.
 * 3. Loss: cross-entropy (default) or MSE on one-hot labels, with its closed-form gradient.
 * 4. Backward: nodes in reverse order; a node whose outputs have a gradient and some of whose
 *    differentiable inputs require one calls its rule. Gradients of a value used several
 *    times are summed. A node on that path without a rule is an UNSUPPORTED_OP error naming
 *    the node and the operator.
 * 5. The ai.onnx opset of the training model is max(model opset, 17) (ScatterElements with
 *    reduction needs 16); models below opset 13 are refused (Softmax, Reduce* and Squeeze
 *    changed meaning at 13).
 */
import { NCHWC_DOMAIN } from './nchwc.js';
import { Graph, Model, type Node, type Value } from '../../ir/graph.js';
import { DataType } from '../../ir/dtype.js';
import { setTensorType, tensorTypeOf, type Dim } from '../../ir/types.js';
import type { FunctionPb } from '../../ir/messages.js';
import { fail, ErrorCodes } from '../../errors.js';
import { isWeightCall } from '../../quant/format.js';
import { weightCallDims } from '../../quant/planes.js';
import { GradContext, type ConvRuleChoice } from './context.js';
import { NON_DIFFERENTIABLE, ruleKey, type ForwardResult, type GradRegistry, type TrainingHooks } from './registry.js';
import { builtinGradRules } from './rules/index.js';
import { forwardShapes } from './shapes.js';
import { emitLoss, type LossKind } from './loss.js';
import { prepareForTraining } from './prepare.js';
import { planPhaseBlocks, type Layout } from './phase-layout.js';
import { DEFAULT_BATCH_SIZE } from '../defaults.js';

/** Single-input elementwise ops whose rules work on any layout (the output keeps the input's). */
const ELEMENTWISE_UNARY = new Set(['Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Identity', 'Neg']);

/** Whether input `i` of `node` may be fed a value of layout `lay` as it is. */
function acceptsLayout(node: Node, i: number, lay: Layout): boolean {
  if (i !== 0 || (node.domain !== '' && node.domain !== 'ai.onnx')) return false;
  if (ELEMENTWISE_UNARY.has(node.opType)) return true;
  if (lay.kind === 'nhwc') return node.opType === 'Conv';
  return node.opType === 'BatchNormalization' || node.opType === 'MaxPool';
}

export interface BuildOptions {
  /** Loss on the logits (default cross-entropy). */
  loss?: LossKind;
  /** Forward value holding the logits [N, classes] (default: the first graph output). */
  output?: string;
  /** Whether a float initializer is trained (default: every one on a differentiable path). */
  trainable?: (name: string) => boolean;
  /** Gradient rules (default: the built-in registry). */
  rules?: GradRegistry;
  /**
   * Train Conv -> BatchNormalization -> MaxPool 2x2 chains in the phase layout (default true;
   * see phase-layout.ts). False builds every node in the forward model's layout.
   */
  phaseLayout?: boolean;
  /**
   * Channel block of onnxruntime's NCHWc Conv kernel on the CPU that will run the graph (8 with
   * AVX2, 16 with AVX-512; `probeNchwcBlock` finds it). When set, 2-D Convs whose shape the
   * kernel takes run in it with the weight reordered in the graph (grad/nchwc.ts). Default 0:
   * plain ONNX Convs only (the graph then runs on any onnxruntime build).
   */
  nchwcBlock?: number;
  /**
   * Forces one Conv gradient form where it applies (per-shape measurements:
   * bench/train-rule-sweep.mjs); default: chosen per node by shape (docs/training.md).
   */
  convRules?: ConvRuleChoice;
  /**
   * Samples per step the graph will mostly run, where the model's batch dim is not static
   * (default DEFAULT_BATCH_SIZE). Only sizes the batch chunks of large weight gradients; the
   * graph runs any batch size.
   */
  batchHint?: number;
  /**
   * BatchNormalization normalizes with its running mean and variance (the model's, held
   * constant) instead of the batch's statistics, as in inference; gamma and beta are still
   * trained, and the graph has no batch-statistics outputs (default false: training mode).
   * Conv -> BatchNormalization -> MaxPool chains then take the generic path (no phase layout).
   */
  freezeBatchNormStats?: boolean;
}

export interface TrainingParam {
  /** The training model's input that takes the parameter. */
  input: string;
  /** The training model's output holding dLoss/dParam. */
  grad: string;
  dims: number[];
  /**
   * `float`: a float initializer of the forward model, fed as is (`source` = its name).
   * `binarized`: the output of a BinarizedWeight call, i.e. Ŵ (`source` = the call's node
   * name, `planes` = its planes initializer, the key into the quantization record).
   */
  kind: 'float' | 'binarized';
  source: string;
  planes?: string;
}

export interface TrainingBatchNorm {
  node: string;
  runningMean: string;
  runningVar: string;
  /** ONNX momentum: running = momentum·running + (1 - momentum)·batch. */
  momentum: number;
  meanOutput: string;
  varOutput: string;
  /**
   * Entries per channel per sample of the normalized input (H·W of [N, C, H, W]; 1 for
   * [N, C]), when the forward model's shapes make it static: a batch of n samples computes
   * its statistics over M = n·perSample entries (the data-parallel runner combines slices
   * with it, src/train/parallel-step.ts).
   */
  perSample?: number;
}

export interface TrainingDropout {
  node: string;
  /** The training model's mask input. */
  input: string;
  /** Mask dims; dim 0 is the batch dim. */
  dims: Dim[];
  ratio: number;
}

export interface TrainingGraph {
  model: Model;
  dataInput: string;
  labelsInput: string;
  lossOutput: string;
  logitsOutput: string;
  /** The forward model's value the logits output copies. */
  forwardLogits: string;
  classes: number;
  loss: LossKind;
  params: TrainingParam[];
  batchNorms: TrainingBatchNorm[];
  dropouts: TrainingDropout[];
  /** ai.onnx version of the training model. */
  opset: number;
}

/** The lowest ai.onnx opset a model must have to be trained (its rules use opset-13 forms). */
export const TRAINING_MIN_OPSET = 13;

/** Builds the training model of `model` (which is not modified). */
export function buildTrainingGraph(model: Model, opts: BuildOptions = {}): TrainingGraph {
  const rules = opts.rules ?? builtinGradRules();
  model = prepareForTraining(model);
  const fwd = model.graph;
  const modelOpset = model.opsetVersion('');
  if (modelOpset === undefined) fail(ErrorCodes.ONNX_INVALID, 'the model has no ai.onnx opset import');
  if (modelOpset < TRAINING_MIN_OPSET) {
    fail(
      ErrorCodes.UNSUPPORTED_OP,
      `training needs ai.onnx opset ${TRAINING_MIN_OPSET} or later (the model uses ${modelOpset}); upgrade it first: hbnn-onnx opt MODEL -p 'upgrade-opset{to=${TRAINING_MIN_OPSET}}' (the train command and quantize --fine-tune do this themselves)`,
    );
  }
  const opset = Math.max(modelOpset, 17);
  const dataInputs = fwd.inputs.filter((v) => !v.isInitializer);
  if (dataInputs.length !== 1) {
    fail(ErrorCodes.DATA_MISMATCH, `training needs a model with exactly one data input; this one has ${dataInputs.length} (${dataInputs.map((v) => v.name).join(', ')})`);
  }
  const dataIn = dataInputs[0]!;
  let logits = opts.output !== undefined ? fwd.get(opts.output) : fwd.outputs[0];
  if (!logits) fail(ErrorCodes.INVALID_OPTION, `the model has no value "${opts.output ?? '(first output)'}" to train on`, { option: 'output' });
  if (logits.producer?.opType === 'Softmax' && logits.producer.inputs[0]) logits = logits.producer.inputs[0];
  const fwdShapes = forwardShapes(model);
  const ld = fwdShapes.get(logits);
  if (!ld || ld.length !== 2 || typeof ld[1] !== 'number') {
    fail(ErrorCodes.DATA_MISMATCH, `the trained output "${logits.name}" must be logits of shape [batch, classes] with a static class count; it is ${ld ? `[${ld.join(',')}]` : 'of unknown shape'}`);
  }
  const classes = ld[1];
  const order = neededNodes(fwd, logits);

  // Parameters: float initializers at differentiable slots of nodes with a rule, and Ŵ.
  const paramInits = parameterInitializers(order, rules, opts.trainable ?? (() => true));

  const tm = new Model(new Graph('training'));
  tm.irVersion = model.irVersion > 8n ? model.irVersion : 8n;
  tm.producerName = 'hbnn-onnx train';
  tm.opsetImports = model.opsetImports.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { domain: o.domain, version: opset } : { ...o }));
  tm.functions = (model.functions as FunctionPb[]).map((f) => withOpset(f, opset));
  const tg = tm.graph;
  const ctx = new GradContext(tg, opset);
  if (opts.convRules) ctx.convRules = opts.convRules;
  ctx.batchHint = opts.batchHint ?? DEFAULT_BATCH_SIZE;
  if (opts.nchwcBlock && opts.nchwcBlock > 1) {
    ctx.nchwcBlock = opts.nchwcBlock;
    tm.opsetImports.push({ domain: NCHWC_DOMAIN, version: 1 });
  }
  ctx.freezeBatchNormStats = opts.freezeBatchNormStats === true;
  if (opts.phaseLayout !== false && !ctx.freezeBatchNormStats) {
    // forward values a gradient can reach (a superset is fine: it only rules out a form)
    const reach = new Set<Value>(paramInits);
    for (const node of order) {
      if (isWeightCall(node) || node.inputs.some((v) => v && reach.has(v))) for (const o of node.outputs) reach.add(o);
    }
    ctx.phaseBlocks = planPhaseBlocks(order, fwdShapes, (v) => reach.has(v));
  }

  const map = new Map<Value, Value | null>();
  const requires = new Set<Value>();
  const params: TrainingParam[] = [];
  const paramValue = new Map<TrainingParam, Value>();
  const batchNorms: { info: Parameters<TrainingHooks['batchNorm']>[0] }[] = [];
  const dropouts: TrainingDropout[] = [];

  const dataDims = tensorTypeOf(dataIn)?.shape;
  const tData = tg.addInput(dataIn.name);
  tData.type = dataIn.type;
  ctx.setShape(tData, dataDims);
  map.set(dataIn, tData);
  const batchDim: Dim = dataDims?.[0] ?? 'N';
  const labels = tg.addInput(tg.uniqueName('labels'));
  setTensorType(labels, DataType.INT64, [batchDim]);

  const input = (name: string, dims: Dim[]): Value => {
    const v = tg.addInput(tg.uniqueName(name));
    setTensorType(v, DataType.FLOAT, dims);
    ctx.setShape(v, dims);
    return v;
  };
  const mapInput = (v: Value | null): Value | null => {
    if (!v) return null;
    const have = map.get(v);
    if (have !== undefined) return have;
    if (!v.isInitializer) fail(ErrorCodes.INTERNAL, `value "${v.name}" is used before it is defined`);
    const t = v.constValue!;
    let out: Value;
    if (paramInits.has(v)) {
      out = input(v.name, [...t.dims]);
      const p: TrainingParam = { input: out.name, grad: '', dims: [...t.dims], kind: 'float', source: v.name };
      params.push(p);
      paramValue.set(p, v);
      requires.add(v);
    } else {
      out = tg.addInitializer(t.withNameAndDims(v.name), v.name);
      ctx.setShape(out, [...t.dims]);
    }
    map.set(v, out);
    return out;
  };
  const hooks: TrainingHooks = {
    batchNorm: (info) => batchNorms.push({ info }),
    dropoutMask: ({ node, dims, ratio }) => {
      const v = input(`${node.name || 'Dropout'}.mask`, dims);
      dropouts.push({ node: node.name, input: v.name, dims, ratio });
      return v;
    },
  };

  // ---- forward --------------------------------------------------------------------------
  const saved = new Map<Node, Record<string, Value>>();
  /** The training-graph values each forward rule was given (layouts converted where needed). */
  const fedInputs = new Map<Node, (Value | null)[]>();
  for (const node of order) {
    if (node.subgraphs().length > 0) {
      fail(ErrorCodes.UNSUPPORTED_OP, `cannot train through ${node.label}: control flow (${node.opType}) is not supported`, { node: node.name, op: node.opType });
    }
    if (isWeightCall(node)) {
      const out = node.outputs[0]!;
      const planes = node.inputs[0];
      const dims = planes?.constValue ? weightCallDims(node) : undefined;
      if (!dims) fail(ErrorCodes.NOT_QUANTIZED, `${node.opType} call ${node.label} has no constant planes`, { node: node.name });
      const v = input(out.name, [...dims]);
      const p: TrainingParam = { input: v.name, grad: '', dims: [...dims], kind: 'binarized', source: node.name, planes: planes!.name };
      params.push(p);
      paramValue.set(p, out);
      requires.add(out);
      map.set(out, v);
      continue;
    }
    const inputs = node.inputs.map(mapInput).map((v, i) => {
      const lay = ctx.layoutOf(v);
      if (!v || !lay || acceptsLayout(node, i, lay)) return v;
      if (lay.kind !== 'nhwc') fail(ErrorCodes.INTERNAL, `${node.label} reads a ${lay.kind} value it cannot take`, { node: node.name });
      return ctx.canonical(v);
    });
    fedInputs.set(node, inputs);
    const rule = rules.get(ruleKey(node.domain, node.opType));
    const diff = rule ? rule.differentiableInputs(node) : node.inputs.map((_, i) => i);
    const needsGrad = !NON_DIFFERENTIABLE.has(node.opType) && diff.some((i) => !!node.inputs[i] && requires.has(node.inputs[i]!));
    ctx.scope = node.name || node.opType;
    const res: ForwardResult = rule?.forward ? rule.forward(ctx, node, inputs, hooks) : { outputs: ctx.copyNode(node, inputs) };
    const inLayout = ctx.layoutOf(inputs[0]);
    if (inLayout && (ELEMENTWISE_UNARY.has(node.opType) || node.opType === 'BatchNormalization') && res.outputs[0] && !ctx.layoutOf(res.outputs[0])) {
      ctx.setLayout(res.outputs[0], inLayout);
      if (!ctx.dims(res.outputs[0])) ctx.setShape(res.outputs[0], ctx.dims(inputs[0]!));
    }
    node.outputs.forEach((o, i) => {
      const t = res.outputs[i] ?? null;
      map.set(o, t);
      if (t && !ctx.dims(t)) ctx.setShape(t, fwdShapes.get(o));
      if (t) ctx.setKnownInts(t, fwdShapes.knownInts(o));
      if (needsGrad) requires.add(o);
    });
    if (res.saved) saved.set(node, res.saved);
  }

  // ---- loss -----------------------------------------------------------------------------
  const tLogits = map.get(logits)!;
  const head = emitLoss(ctx, opts.loss ?? 'cross-entropy', tLogits, labels, classes);

  // ---- backward -------------------------------------------------------------------------
  const grads = new Map<Value, Value>();
  const accumulate = (v: Value, g: Value): void => {
    // a gradient in the forward layout for a value kept channels-last is transposed to it
    const lay = ctx.layoutOf(map.get(v));
    if (lay?.kind === 'nhwc' && !ctx.layoutOf(g)) g = ctx.toChannelsLast(g, lay.canonical);
    const have = grads.get(v);
    if (!have) {
      grads.set(v, g);
      return;
    }
    const sum = ctx.op('Add', [have, g]);
    ctx.setShape(sum, ctx.dims(have) ?? fwdShapes.get(v));
    ctx.setLayout(sum, ctx.layoutOf(have));
    grads.set(v, sum);
  };
  if (requires.has(logits)) accumulate(logits, head.dLogits);
  refuseMissingRules(order, rules, requires, logits);
  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k]!;
    if (isWeightCall(node)) continue;
    const dOutputs = node.outputs.map((o) => grads.get(o) ?? null);
    if (dOutputs.every((g) => g === null)) continue;
    const rule = rules.get(ruleKey(node.domain, node.opType));
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    const diff = rule ? rule.differentiableInputs(node) : node.inputs.map((_, i) => i);
    const needs = node.inputs.map((v, i) => !!v && requires.has(v) && diff.includes(i));
    if (!needs.some(Boolean)) continue;
    if (!rule) fail(ErrorCodes.INTERNAL, `${node.label} has no gradient rule and was not refused before the backward`, { node: node.name });
    if (dOutputs[0] === null) continue; // only secondary outputs (indices, masks) reach the loss: no gradient
    ctx.scope = `${node.name || node.opType}/grad`;
    const fed = fedInputs.get(node)!;
    const dInputs = rule.backward(ctx, {
      node,
      inputs: fed,
      outputs: node.outputs.map((o) => map.get(o) ?? null),
      saved: saved.get(node) ?? {},
      dOutputs,
      needs,
    });
    node.inputs.forEach((v, i) => {
      const g = dInputs[i];
      if (v && needs[i] && g) {
        // a gradient has the layout of the value the rule was fed
        const lay = ctx.layoutOf(fed[i]);
        if (lay && !ctx.layoutOf(g)) ctx.setLayout(g, lay);
        if (!ctx.dims(g)) ctx.setShape(g, lay ? ctx.dims(fed[i]!) : fwdShapes.get(v));
        accumulate(v, g);
      }
    });
  }

  // ---- outputs --------------------------------------------------------------------------
  ctx.scope = 'outputs';
  const output = (v: Value, name: string): string => {
    const out = ctx.op('Identity', [v]);
    tg.renameValue(out, tg.uniqueName(name));
    tg.outputs.push(out);
    return out.name;
  };
  const lossOutput = output(head.loss, 'loss');
  // the logits keep the forward model's name (the training graph's copy is a fresh value)
  let logitsOutput: string;
  if (tLogits.producer && !tg.outputs.includes(tLogits)) {
    tg.outputs.push(tLogits);
    logitsOutput = tLogits.name;
  } else {
    logitsOutput = output(tLogits, 'logits');
  }
  for (const p of params) {
    const fwdValue = paramValue.get(p)!;
    const g = grads.get(fwdValue) ?? ctx.op('Mul', [map.get(fwdValue)!, ctx.scalar(0)]);
    p.grad = output(g, `${p.input}.grad`);
  }
  const bnOut: TrainingBatchNorm[] = batchNorms.map(({ info }) => {
    const xs = info.node.inputs[0] ? fwdShapes.get(info.node.inputs[0]) : undefined;
    const spatial = xs && xs.length >= 2 ? xs.slice(2) : undefined;
    const perSample = spatial?.every((d): d is number => typeof d === 'number') ? spatial.reduce((a, b) => a * b, 1) : undefined;
    return {
      node: info.node.name,
      runningMean: info.runningMean,
      runningVar: info.runningVar,
      momentum: info.momentum,
      meanOutput: output(info.mean, `${info.node.name || 'BatchNormalization'}.batch_mean`),
      varOutput: output(info.variance, `${info.node.name || 'BatchNormalization'}.batch_var`),
      ...(perSample !== undefined ? { perSample } : {}),
    };
  });
  // Nodes whose results nothing reads (layout conversions a rule asked for and did not use).
  for (let k = tg.nodes.length - 1; k >= 0; k--) {
    const n = tg.nodes[k]!;
    if (n.outputs.every((o) => o.uses.length === 0 && !o.isGraphOutput)) tg.removeNode(n);
  }
  // Initializers only the replaced forms read (BatchNormalization's running statistics).
  for (const v of [...tg.initializers.values()]) if (v.uses.length === 0 && !v.isGraphOutput) tg.removeInitializer(v);
  return {
    model: tm,
    dataInput: tData.name,
    labelsInput: labels.name,
    lossOutput,
    logitsOutput,
    forwardLogits: logits.name,
    classes,
    loss: opts.loss ?? 'cross-entropy',
    params,
    batchNorms: bnOut,
    dropouts,
    opset,
  };
}

/** The nodes `target` depends on, in graph order. */
function neededNodes(g: Graph, target: Value): Node[] {
  const need = new Set<Node>();
  const stack: Value[] = [target];
  while (stack.length) {
    const v = stack.pop()!;
    const p = v.producer;
    if (!p || need.has(p) || p.graph !== g) continue;
    need.add(p);
    for (const i of p.inputs) if (i) stack.push(i);
  }
  return g.nodes.filter((n) => need.has(n));
}

function withOpset(f: FunctionPb, opset: number): FunctionPb {
  return {
    ...f,
    opset_import: f.opset_import.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: opset as never } : o)),
  } as FunctionPb;
}

/**
 * UNSUPPORTED_OP when nodes between trainable parameters and the loss have no gradient rule:
 * the first such node as the error's subject, and every operator missing, with its nodes, in
 * one message (a user learns the whole list at once, not one operator per attempt).
 */
function refuseMissingRules(order: readonly Node[], rules: GradRegistry, requires: ReadonlySet<Value>, logits: Value): void {
  const missing = missingRules(order, rules, requires, logits);
  if (missing.size === 0) return;
  const [[what, nodes]] = [...missing];
  const first = nodes![0]!;
  const others = [...missing].slice(1).map(([op, ns]) => `${op} (${ns.slice(0, 3).map((n) => n.label).join(', ')}${ns.length > 3 ? `, ${ns.length - 3} more` : ''})`);
  const more = nodes!.length > 1 ? ` (and ${nodes!.length - 1} more ${what} node${nodes!.length > 2 ? 's' : ''})` : '';
  fail(
    ErrorCodes.UNSUPPORTED_OP,
    `cannot train through ${first.label}: operator ${what} has no gradient rule (it lies between trainable parameters and the loss)${more}${others.length ? `; also without a rule: ${others.join('; ')}` : ''}; operators with rules: ${rules.operators().join(', ')}`,
    { node: first.name, op: first.opType },
  );
}

/**
 * The operators (domain::op for other domains) of the nodes between values in `requires` and
 * `logits` that have no gradient rule, each with its nodes in graph order.
 */
function missingRules(order: readonly Node[], rules: GradRegistry, requires: ReadonlySet<Value>, logits: Value): Map<string, Node[]> {
  // values a gradient from the loss would reach: through the inputs each rule differentiates
  // (every input of an operator without a rule, none of a non-differentiable one)
  const toLoss = new Set<Value>([logits]);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (NON_DIFFERENTIABLE.has(n.opType) || !n.outputs.some((o) => toLoss.has(o))) continue;
    const rule = rules.get(ruleKey(n.domain, n.opType));
    const diff = rule ? rule.differentiableInputs(n) : n.inputs.map((_, i) => i);
    for (const i of diff) if (n.inputs[i]) toLoss.add(n.inputs[i]!);
  }
  const missing = new Map<string, Node[]>();
  for (const node of order) {
    if (isWeightCall(node) || NON_DIFFERENTIABLE.has(node.opType) || rules.get(ruleKey(node.domain, node.opType))) continue;
    if (!node.outputs.some((o) => toLoss.has(o)) || !node.inputs.some((v) => !!v && requires.has(v))) continue;
    const what = node.domain ? `${node.domain}::${node.opType}` : node.opType;
    missing.set(what, [...(missing.get(what) ?? []), node]);
  }
  return missing;
}

/**
 * What `buildTrainingGraph` would refuse for lack of gradient rules, without building anything:
 * the operators between the model's float parameters (and binarized weights) and its first
 * output (a final Softmax skipped) that have no rule, each with its node names. Empty: every
 * operator on that path has one (`hbnn-onnx inspect` shows it before a long quantize).
 */
export function missingGradientRules(model: Model, rules: GradRegistry = builtinGradRules()): { op: string; nodes: string[] }[] {
  const fwd = model.graph;
  let logits = fwd.outputs[0];
  if (!logits) return [];
  if (logits.producer?.opType === 'Softmax' && logits.producer.inputs[0]) logits = logits.producer.inputs[0];
  const order = neededNodes(fwd, logits);
  // the parameters and what depends on them, as the builder's forward pass marks them
  const requires = new Set<Value>(parameterInitializers(order, rules, () => true));
  for (const node of order) {
    if (isWeightCall(node)) {
      for (const o of node.outputs) requires.add(o);
      continue;
    }
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    const rule = rules.get(ruleKey(node.domain, node.opType));
    const diff = rule ? rule.differentiableInputs(node) : node.inputs.map((_, i) => i);
    if (diff.some((i) => !!node.inputs[i] && requires.has(node.inputs[i]!))) for (const o of node.outputs) requires.add(o);
  }
  return [...missingRules(order, rules, requires, logits)].map(([op, nodes]) => ({ op, nodes: nodes.map((n) => n.name) }));
}

/** The float initializers at differentiable slots of nodes with a gradient rule (the trained float parameters). */
function parameterInitializers(order: readonly Node[], rules: GradRegistry, trainable: (name: string) => boolean): Set<Value> {
  const params = new Set<Value>();
  for (const node of order) {
    if (isWeightCall(node)) continue;
    const rule = rules.get(ruleKey(node.domain, node.opType));
    if (!rule || NON_DIFFERENTIABLE.has(node.opType)) continue;
    for (const i of rule.differentiableInputs(node)) {
      const v = node.inputs[i];
      if (v && v.isInitializer && v.constValue!.dtype === DataType.FLOAT && trainable(v.name)) params.add(v);
    }
  }
  return params;
}
