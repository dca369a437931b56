/**
 * The IR verifier: checks the invariants every pass must keep.
 *
 * 1. Use-def consistency: every node input's value lists that (node, index) among its uses,
 *    and every listed use is real; every node output names its producer.
 * 2. Topological order: a node's inputs are defined before it (graph inputs, initializers,
 *    earlier nodes, or enclosing scopes for subgraphs).
 * 3. Unique names: no value name is defined twice in a graph (or shadows an outer one).
 * 4. Every input is defined; every graph output is produced (by a node, an input, an
 *    initializer, or an enclosing scope).
 * Nodes with duplicate non-empty names are reported as warnings (real exporters emit them).
 */
import type { Graph, Model, Value } from './graph.js';
import { fail, ErrorCodes } from '../errors.js';

export interface VerifyIssue {
  severity: 'error' | 'warning';
  message: string;
  node?: string;
}

export interface VerifyOptions {
  /** Skip the topological-order check (rule 2), e.g. before a topological sort runs. */
  allowUnsorted?: boolean;
}

export function verifyModel(model: Model, opts: VerifyOptions = {}): VerifyIssue[] {
  const issues: VerifyIssue[] = [];
  verifyGraph(model.graph, new Set(), issues, opts);
  return issues;
}

/** Throws VERIFY with every error listed when the model breaks an invariant. */
export function assertValid(model: Model, context: { pass?: string } = {}, opts: VerifyOptions = {}): VerifyIssue[] {
  const issues = verifyModel(model, opts);
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length > 0) {
    const head = errors.slice(0, 10).map((e) => `  - ${e.message}`).join('\n');
    const more = errors.length > 10 ? `\n  ... and ${errors.length - 10} more` : '';
    fail(ErrorCodes.VERIFY, `IR verification failed (${errors.length} error${errors.length > 1 ? 's' : ''}):\n${head}${more}`, {
      ...context,
      errors: errors.map((e) => e.message),
    });
  }
  return issues.filter((i) => i.severity === 'warning');
}

function verifyGraph(g: Graph, outer: Set<Value>, issues: VerifyIssue[], opts: VerifyOptions): void {
  const err = (message: string, node?: string): void => void issues.push({ severity: 'error', message, ...(node ? { node } : {}) });
  const gname = g.name || 'main';
  const defined = new Set<Value>(outer);
  const names = new Map<string, Value>();
  for (const v of outer) if (v.name) names.set(v.name, v);
  const define = (v: Value, where: string): void => {
    if (v.name === '') return;
    const prev = names.get(v.name);
    if (prev && prev !== v) err(`graph ${gname}: value name "${v.name}" (${where}) is defined twice`);
    names.set(v.name, v);
    defined.add(v);
    if (g.get(v.name) !== v && !outer.has(v)) err(`graph ${gname}: value "${v.name}" is not registered in its graph`);
  };
  for (const v of g.inputs) define(v, 'input');
  for (const [name, v] of g.initializers) {
    if (v.name !== name) err(`graph ${gname}: initializer key "${name}" names value "${v.name}"`);
    if (!v.constValue) err(`graph ${gname}: initializer "${name}" has no tensor`);
    if (!g.inputs.includes(v)) define(v, 'initializer');
  }
  const nodeNames = new Set<string>();
  for (const n of g.nodes) {
    if (n.graph !== g) err(`node ${n.label} belongs to another graph`, n.name);
    if (n.name) {
      if (nodeNames.has(n.name)) issues.push({ severity: 'warning', message: `graph ${gname}: node name "${n.name}" is used more than once`, node: n.name });
      nodeNames.add(n.name);
    }
    n.inputs.forEach((v, i) => {
      if (!v) return;
      if (!defined.has(v)) {
        const known = g.lookup(v.name) === v;
        if (!(known && opts.allowUnsorted)) err(known ? `node ${n.label} uses "${v.name}" before it is defined (not topologically sorted)` : `node ${n.label} input ${i} "${v.name}" is not defined in scope`, n.name);
      }
      if (!v.uses.some((u) => u.node === n && u.index === i)) err(`node ${n.label} input ${i} "${v.name}" is missing from the value's use list`, n.name);
    });
    for (const sub of n.subgraphs()) verifyGraph(sub, new Set(defined), issues, opts);
    n.outputs.forEach((o, i) => {
      if (o.producer !== n || o.producerIndex !== i) err(`node ${n.label} output ${i} "${o.name}" does not name it as producer`, n.name);
      define(o, `output of ${n.label}`);
    });
  }
  // Every use must be a real input slot.
  for (const v of defined) {
    if (outer.has(v)) continue;
    for (const u of v.uses) {
      if (u.node.inputs[u.index] !== v) err(`value "${v.name}" lists a stale use by ${u.node.label} input ${u.index}`, u.node.name);
      else if (!nodeInScope(u.node.graph, g)) err(`value "${v.name}" is used by ${u.node.label}, which is not in this graph or a subgraph`, u.node.name);
    }
  }
  for (const n of g.nodes) for (const o of n.outputs) for (const u of o.uses) if (!u.node.graph.nodes.includes(u.node)) err(`value "${o.name}" is used by removed node ${u.node.label}`);
  g.outputs.forEach((o, i) => {
    if (!o) err(`graph ${gname}: output ${i} is missing`);
    else if (!defined.has(o)) err(`graph ${gname}: output "${o.name}" is not produced`);
  });
}

function nodeInScope(nodeGraph: Graph, g: Graph): boolean {
  for (let x: Graph | null = nodeGraph; x; x = x.parent) if (x === g) return true;
  return false;
}
