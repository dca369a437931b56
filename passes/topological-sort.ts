/**
 * topological-sort: puts the nodes of every graph in a stable topological order.
 *
 * Rules:
 * 1. A node depends on the producers (in the same graph) of its inputs.
 * 2. A node also depends on the producers, in its own graph, of every outer value that a
 *    node or an output inside one of its subgraphs (at any depth) uses.
 * 3. Among the nodes whose dependencies are placed, the one that came first in the
 *    original order goes next (Kahn's algorithm with ties broken by position), so an
 *    already sorted graph keeps its order exactly and the pass reports no change.
 * 4. Every subgraph is sorted the same way, with values of enclosing graphs available.
 * 5. A dependency cycle is a VERIFY error naming a node on the cycle.
 *
 * The loader accepts files whose nodes are out of order (wiring is deferred to the end),
 * so this pass can run first on any model.
 */
import { definePass } from '../src/pass/pass.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import { fail, ErrorCodes } from '../src/errors.js';

export const topologicalSort = definePass({
  name: 'topological-sort',
  summary: 'Order nodes topologically (stable, subgraph-aware); cycles are errors.',
  description: 'Kahn ordering with ties broken by original position; nodes using outer values inside their subgraphs depend on those values\' producers.',
  establishes: ['topologically-sorted'],
  preserves: 'all',
  run(model, ctx) {
    let changed = false;
    const visit = (g: Graph): void => {
      if (sortGraph(g)) {
        changed = true;
        ctx.stat('graphs-reordered');
      }
      for (const n of g.nodes) for (const s of n.subgraphs()) visit(s);
    };
    visit(model.graph);
    return { changed };
  },
});

/** Values defined outside `sub` (at any depth) that nodes or outputs inside it use. */
function outerValuesUsedIn(sub: Graph, out: Set<Value>): void {
  const inside = (v: Value): boolean => {
    for (let g: Graph | null = v.graph; g; g = g.parent) if (g === sub) return true;
    return false;
  };
  const walk = (g: Graph): void => {
    for (const n of g.nodes) {
      for (const v of n.inputs) if (v && !inside(v)) out.add(v);
      for (const s of n.subgraphs()) walk(s);
    }
    for (const v of g.outputs) if (v && !inside(v)) out.add(v);
  };
  walk(sub);
}

/** Reorders g.nodes in place; returns whether the order changed. */
function sortGraph(g: Graph): boolean {
  const nodes = [...g.nodes];
  const pos = new Map<Node, number>(nodes.map((n, i) => [n, i]));
  const deps = new Map<Node, Set<Node>>();
  const users = new Map<Node, Node[]>(nodes.map((n) => [n, []]));
  for (const n of nodes) {
    const used = new Set<Value>();
    for (const v of n.inputs) if (v) used.add(v);
    for (const s of n.subgraphs()) outerValuesUsedIn(s, used);
    const d = new Set<Node>();
    for (const v of used) {
      const p = v.producer;
      if (p && p !== n && pos.has(p)) d.add(p);
      else if (p === n) d.add(n); // a node reading its own output: a cycle of length one
    }
    deps.set(n, d);
    for (const p of d) users.get(p)!.push(n);
  }
  const indegree = new Map<Node, number>(nodes.map((n) => [n, deps.get(n)!.size]));
  const ready = new MinHeap();
  for (const n of nodes) if (indegree.get(n) === 0) ready.push(pos.get(n)!);
  const order: Node[] = [];
  while (ready.size > 0) {
    const n = nodes[ready.pop()]!;
    order.push(n);
    for (const u of users.get(n)!) {
      const k = indegree.get(u)! - 1;
      indegree.set(u, k);
      if (k === 0) ready.push(pos.get(u)!);
    }
  }
  if (order.length < nodes.length) {
    const left = new Set(nodes.filter((n) => indegree.get(n)! > 0));
    const onCycle = findCycle(left, deps);
    const names = onCycle.map((n) => n.label).join(' -> ');
    fail(ErrorCodes.VERIFY, `graph ${g.name || 'main'} has a dependency cycle: ${names} -> ${onCycle[0]!.label}`, {
      node: onCycle[0]!.name,
      cycle: onCycle.map((n) => n.name || n.label),
    });
  }
  const changed = order.some((n, i) => n !== nodes[i]);
  if (changed) {
    g.nodes.length = 0;
    g.nodes.push(...order);
  }
  return changed;
}

/** Follows unplaced dependencies from an unplaced node until one repeats: that loop is a cycle. */
function findCycle(left: Set<Node>, deps: Map<Node, Set<Node>>): Node[] {
  let n = [...left][0]!;
  const seen = new Map<Node, number>();
  const path: Node[] = [];
  while (!seen.has(n)) {
    seen.set(n, path.length);
    path.push(n);
    const next = [...deps.get(n)!].find((d) => left.has(d));
    if (!next) break; // cannot happen: an unplaced node has an unplaced dependency
    n = next;
  }
  // path runs from consumer to producer; report it in data-flow order.
  return path.slice(seen.get(n) ?? 0).reverse();
}

/** A binary min-heap of node positions. */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(x: number): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= x) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
