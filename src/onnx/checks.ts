/**
 * Light checks over loaded models that are warnings rather than load errors.
 */
import type { Model } from '../ir/graph.js';
import { walkGraphs } from '../ir/graph.js';
import type { AttributePb, FunctionPb, GraphPb, NodePb } from './proto.js';

function norm(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

/**
 * Operator domains that nodes use without an opset_import entry for them, sorted. Covers
 * the main graph and every subgraph (If/Loop/Scan bodies), and the nodes of model-local
 * functions (checked against the function's own opset_import, then the model's).
 * '' and 'ai.onnx' are the same domain. QONNX exports commonly use a custom domain such as
 * `onnx.brevitas` this way: ONNX's checker rejects them, the loader accepts them and
 * callers can warn with this list.
 */
export function undeclaredDomains(model: Model): string[] {
  const declared = new Set(model.opsetImports.map((o) => norm(o.domain)));
  const missing = new Set<string>();
  for (const g of walkGraphs(model.graph)) {
    for (const n of g.nodes) if (!declared.has(norm(n.domain))) missing.add(n.domain);
  }
  for (const f of model.functions as FunctionPb[]) {
    const local = new Set(declared);
    for (const o of f.opset_import ?? []) local.add(norm(o.domain ?? ''));
    for (const n of f.node ?? []) visitPbNode(n, local, missing);
  }
  return [...missing].sort();
}

function visitPbNode(n: NodePb, declared: Set<string>, missing: Set<string>): void {
  const d = n.domain ?? '';
  if (!declared.has(norm(d))) missing.add(d);
  for (const a of (n.attribute ?? []) as AttributePb[]) {
    const graphs: GraphPb[] = [...(a.g ? [a.g] : []), ...(a.graphs ?? [])];
    for (const g of graphs) for (const sub of g.node ?? []) visitPbNode(sub, declared, missing);
  }
}
