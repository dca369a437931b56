/**
 * The gradient rule registry: one rule per operator, keyed by `domain::op_type` (like the
 * gradient builder registry of onnxruntime training). A rule says which inputs a gradient
 * flows into, may replace the operator's forward by a training-mode form (BatchNormalization
 * computes batch statistics, Dropout applies a fed mask, MaxPool also returns indices), and
 * emits the backward nodes from the gradients of the outputs.
 *
 * Rules are registered explicitly in `rules/index.ts`; there is no discovery by file name.
 */
import type { Node, Value } from '../../ir/graph.js';
import type { Dim } from '../../ir/types.js';
import type { GradContext } from './context.js';

/** What a rule's training-mode forward produced. */
export interface ForwardResult {
  /** Training-graph values standing for the forward node's outputs (same order). */
  outputs: (Value | null)[];
  /** Values the backward needs (e.g. BatchNormalization's normalized input). */
  saved?: Record<string, Value>;
}

/** Side outputs and inputs a forward rule asks the training loop to handle. */
export interface TrainingHooks {
  /** A BatchNormalization in training mode: the loop updates the running statistics. */
  batchNorm(info: { node: Node; mean: Value; variance: Value; runningMean: string; runningVar: string; momentum: number }): void;
  /** A Dropout in training mode: the loop feeds a scaled Bernoulli mask of `dims` (batch dim symbolic). */
  dropoutMask(info: { node: Node; dims: Dim[]; ratio: number }): Value;
}

/** The view of one forward node the backward of its rule gets. */
export interface BackwardArgs {
  /** The forward node (attributes, op type, name). */
  node: Node;
  /** Training-graph values of the node's inputs (null for absent optional inputs). */
  inputs: (Value | null)[];
  /** Training-graph values of the node's outputs. */
  outputs: (Value | null)[];
  saved: Record<string, Value>;
  /** Gradient of the loss with respect to each output (null: the output does not reach the loss). */
  dOutputs: (Value | null)[];
  /** For each input, whether its gradient is wanted (it leads back to a trainable parameter). */
  needs: boolean[];
}

export interface GradRule {
  /** Input indices a gradient can flow into; the others (shapes, axes, constants) are treated as constants. */
  differentiableInputs(node: Node): readonly number[];
  /** Emits the training-mode forward; default: the node copied as is. */
  forward?(ctx: GradContext, node: Node, inputs: (Value | null)[], hooks: TrainingHooks): ForwardResult;
  /** Emits the backward; returns the gradient of each input (null where not needed or zero). */
  backward(ctx: GradContext, a: BackwardArgs): (Value | null)[];
}

/** Lookup of rules by `domain::op_type`. */
export interface GradRegistry {
  get(key: string): GradRule | undefined;
  /** The operator names with a rule, for docs and error messages. */
  operators(): string[];
}

export function ruleKey(domain: string, opType: string): string {
  return `${domain === 'ai.onnx' ? '' : domain}::${opType}`;
}

/** A registry built with `register`. */
export class GradRuleSet implements GradRegistry {
  private readonly rules = new Map<string, GradRule>();

  register(opTypes: string | readonly string[], rule: GradRule, domain = ''): this {
    for (const op of typeof opTypes === 'string' ? [opTypes] : opTypes) this.rules.set(ruleKey(domain, op), rule);
    return this;
  }

  get(key: string): GradRule | undefined {
    return this.rules.get(key);
  }

  operators(): string[] {
    return [...this.rules.keys()].map((k) => (k.startsWith('::') ? k.slice(2) : k)).sort();
  }
}

/** Operators whose outputs never carry a gradient (integer, boolean or shape results). */
export const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And',
  'Or', 'Xor', 'ArgMax', 'ArgMin', 'NonZero', 'Range', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike',
  'EyeLike', 'IsNaN', 'IsInf', 'Sign', 'Floor', 'Ceil', 'Round',
]);
