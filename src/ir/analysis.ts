/**
 * Analyses: facts derived from a model (shapes, ...), computed on demand, cached per model and
 * recomputed after the model changes, as in MLIR's analysis manager.
 *
 * 1. `getAnalysis(model, analysis)` returns the cached result when the model's main graph is
 *    the same object at the same `Graph.revision` as when it was computed (and no
 *    `invalidateAnalyses` came since); otherwise it computes, caches and returns a new one.
 * 2. The IR's mutation methods advance the revision, so an edit through them invalidates every
 *    analysis of the model. The pass manager also calls `invalidateAnalyses` after each pass
 *    that reports a change (a pass may edit fields directly), so every pass sees fresh results.
 * 3. A consumer that changes the model in a way that keeps an analysis true (infer-shapes
 *    writing the types the shape analysis computed) calls `preserveAnalysis` afterwards (a
 *    pass: `ctx.preserveAnalysis`, which also keeps it through the manager's invalidation).
 * Results are shared: callers must not modify them.
 */
import type { Graph, Model } from './graph.js';

export interface Analysis<T> {
  /** For messages and statistics. */
  readonly name: string;
  compute(model: Model): T;
}

interface Entry {
  graph: Graph;
  revision: number;
  value: unknown;
}

const caches = new WeakMap<Model, Map<Analysis<unknown>, Entry>>();

/** Declares an analysis (an object compared by identity: one declaration, one cache slot per model). */
export function defineAnalysis<T>(name: string, compute: (model: Model) => T): Analysis<T> {
  return { name, compute };
}

/** The result of `analysis` for `model`, computed once per model state (rule 1). */
export function getAnalysis<T>(model: Model, analysis: Analysis<T>): T {
  let cache = caches.get(model);
  if (!cache) caches.set(model, (cache = new Map()));
  const hit = cache.get(analysis as Analysis<unknown>);
  if (hit && hit.graph === model.graph && hit.revision === model.graph.revision) return hit.value as T;
  const value = analysis.compute(model);
  cache.set(analysis as Analysis<unknown>, { graph: model.graph, revision: model.graph.revision, value });
  return value;
}

/** The cached result, if it is still valid; never computes. */
export function cachedAnalysis<T>(model: Model, analysis: Analysis<T>): T | undefined {
  const hit = caches.get(model)?.get(analysis as Analysis<unknown>);
  return hit && hit.graph === model.graph && hit.revision === model.graph.revision ? (hit.value as T) : undefined;
}

/** Drops every cached analysis of `model` (rule 2) but those in `keep`. */
export function invalidateAnalyses(model: Model, keep: Iterable<Analysis<unknown>> = []): void {
  const cache = caches.get(model);
  if (!cache) return;
  const kept = new Set(keep);
  for (const a of [...cache.keys()]) if (!kept.has(a)) cache.delete(a);
}

/**
 * Keeps `analysis` valid across a change its caller knows does not affect it (rule 3): a
 * result computed before the change stays the cached one.
 */
export function preserveAnalysis<T>(model: Model, analysis: Analysis<T>, value: T): void {
  let cache = caches.get(model);
  if (!cache) caches.set(model, (cache = new Map()));
  cache.set(analysis as Analysis<unknown>, { graph: model.graph, revision: model.graph.revision, value });
}
