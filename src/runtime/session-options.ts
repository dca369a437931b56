/**
 * This toolkit's session options and their translation into onnxruntime-node's. A leaf
 * module (only a type import of onnxruntime-node), so a worker thread that creates its own
 * session from model bytes (the data-parallel training steps, src/train/step-worker.ts)
 * loads nothing else of the package.
 */
import type { InferenceSession } from 'onnxruntime-node';

export interface SessionOptions {
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** Graph optimization level (default 'all'; 'disabled' keeps the graph as written). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Binarized weights of a quantized model: 'dequantized' (default) replaces each weight call
   * by its Ŵ, computed once in this process (src/quant/planes.ts, bit-identical to the
   * call's body) and cached, so a session never rebuilds them; 'as-written' runs the model
   * as saved (onnxruntime folds the calls at session creation).
   */
  weights?: 'dequantized' | 'as-written';
  /** Whether idle intra-op threads spin (default: onnxruntime's, which spins). */
  spinning?: boolean;
  /**
   * Stop the intra-op threads' spinning as soon as a run returns (onnxruntime's
   * `session.force_spinning_stop`; default off): they still spin between the nodes of a run,
   * but not through the caller's work between runs.
   */
  stopSpinningAfterRun?: boolean;
  /** onnxruntime's per-node profiler, writing `<prefix>_<date>.json` when the session ends profiling. */
  profilePrefix?: string;
  /**
   * onnxruntime's memory pattern (default on): the first run records every tensor's
   * allocation, the second allocates one block of the planned peak size (fresh pages, faulted
   * in during that run) and later runs reuse it. Off: every run allocates from the arena the
   * first run grew.
   */
  memPattern?: boolean;
}

/** onnxruntime-node's session options for ours (`weights` is applied to the model bytes instead). */
export function ortSessionOptions(opts: SessionOptions): InferenceSession.SessionOptions {
  const so: InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.optimization ?? 'all',
    logSeverityLevel: 3,
  };
  if (opts.threads !== undefined) {
    so.intraOpNumThreads = opts.threads;
    so.interOpNumThreads = 1;
  }
  if (opts.memPattern !== undefined) so.enableMemPattern = opts.memPattern;
  const session: Record<string, unknown> = {};
  if (opts.spinning !== undefined) session.intra_op = { allow_spinning: opts.spinning ? '1' : '0' };
  if (opts.stopSpinningAfterRun) session.force_spinning_stop = '1';
  if (Object.keys(session).length > 0) so.extra = { session };
  if (opts.profilePrefix !== undefined) {
    so.enableProfiling = true;
    so.profileFilePrefix = opts.profilePrefix;
  }
  return so;
}
