/**
 * The layouts a training-graph value may have other than the forward model's, and the
 * planned Conv -> BatchNormalization -> MaxPool chains of the phase layout (data only; the
 * planning and the emitted nodes are in phase-layout.ts, the per-value bookkeeping in
 * context.ts).
 */
import type { Node, Value } from '../../ir/graph.js';
import type { Dim } from '../../ir/types.js';
import type { WindowGeometry } from './shapes.js';

/** A planned Conv -> BatchNormalization -> MaxPool chain (static geometry). */
export interface PhaseBlock {
  conv: Node;
  bn: Node;
  pool: Node;
  /** Batch dim of the Conv input (symbolic or a number). */
  batch: Dim;
  /** Input channels and spatial dims of the Conv. */
  c: number;
  h: number;
  w: number;
  /** Output channels of the Conv. */
  m: number;
  /** Conv output spatial dims and pooled dims (floor of half). */
  hc: number;
  wc: number;
  h2: number;
  w2: number;
  geo: WindowGeometry;
  /** Whether the Conv's data input can carry a gradient (some parameter is upstream). */
  inputNeedsGrad: boolean;
}

/** Layout of a training-graph value that differs from the forward model's. */
export type Layout =
  /** [N, H, W, C] holding the forward value [N, C, H, W] (dims `canonical`). */
  | { kind: 'nhwc'; canonical: Dim[] }
  /** [N·O, M]: per sample the pooled positions phase-major, then the unpooled ones. */
  | { kind: 'phase-rows'; block: PhaseBlock }
  /** [N·P·4, M]: per sample and pooled position, the four phases of its window. */
  | { kind: 'phase-planes'; block: PhaseBlock };

/**
 * The phase pool's input gradient before it is spread over the phases: `dy` (the pool's output
 * gradient viewed [N, P, 1, M] (phase-planes) or [N, 1, P, M] (phase-rows)) goes to phase `indices` of each window.
 */
export interface RoutedGrad {
  lay: PhaseLayoutOf;
  dy: Value;
  indices: Value;
}

/** The two phase layouts. */
export type PhaseLayoutOf = Extract<Layout, { kind: 'phase-rows' | 'phase-planes' }>;

/**
 * A phase-planes Conv output Y = W4 · cols, kept as its factors: the BatchNormalization after
 * it takes its statistics from them and writes its own output as one MatMul, so Y itself is
 * never formed (see planesBatchNormForward).
 */
export interface PlanesFactor {
  block: PhaseBlock;
  /** [4M, CU]: per phase the kernel at the phase's offset, last column the bias (or 0). */
  w4: Value;
  /** [N, CU, P]: im2col of each pooling window's receptive field, last row ones. */
  cols: Value;
  /** cols transposed, [N, P, CU]. */
  colsT: Value;
  /** Set by the BatchNormalization forward: batch mean per channel [M]. */
  mean?: Value;
  /** Set by the BatchNormalization backward: Σ_n dY_n · cols_nᵀ [4M, CU]. */
  dyCols?: Value;
}
