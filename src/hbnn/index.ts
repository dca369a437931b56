/**
 * Numerics of heterogeneous bitwidth binarization (HBNN): pure functions on typed arrays,
 * no I/O. See docs/method.md for the method as implemented.
 *
 * The usual sequence: makeBitMap -> heteroBinarize -> scales, signs and dequantized weights.
 */

// Residual binarization (METHOD §1-2).
export {
  /** Homogeneous n-bit residual binarization, scales per tensor or per output channel. */
  residualBinarize,
  /** Heterogeneous residual binarization with a per-entry bit map. */
  heteroBinarize,
  /** Rebuilds the dequantized tensor from a bit map, sign paths and scales (bit-identical). */
  reconstruct,
  /** Validates a bit map and returns its largest bitwidth. */
  bitMapMax,
  /** Mean squared error between a tensor and its approximation (float64). */
  meanSquaredError,
  type BinarizeOptions,
  type Binarization,
} from './residual.js';

// Bitwidth distributions and exact counts (METHOD §3).
export {
  /** The default distribution for an average bitwidth (1.4 -> 70/20/10; integers homogeneous). */
  distFromAvg,
  /** Validates { avgBits } / { dist } / both into a distribution. */
  resolveDistribution,
  /** Validates an explicit distribution and normalizes it to sum 1. */
  validateDistribution,
  /** Integer counts per bitwidth for N entries that sum to N and hit the average. */
  countsFromDistribution,
  /** Mean bitwidth of a distribution. */
  distributionMean,
  DEFAULT_MAX_BITS,
  DIST_TOLERANCE,
  type DistributionSpec,
  type ResolvedDistribution,
  type BitCounts,
} from './distribution.js';

// Bit maps (METHOD §3-4, Algorithm 1).
export {
  /** Builds a bit map with a sort heuristic and exact counts. */
  makeBitMap,
  /** Counts a bit map's entries per bitwidth and its average. */
  bitHistogram,
  /** bitHistogram from a binarization's active counts (no pass over the map). */
  binarizationHistogram,
  HEURISTICS,
  /** Selection bounds kept between calls on a slowly changing tensor (warm start; same bit map). */
  WarmBounds,
  type Heuristic,
  type BitMapOptions,
  type BitMapResult,
  type BitHistogram,
} from './bitmap.js';

// Bit map and binarization in one call (one pass over the weights less).
export {
  /** makeBitMap then heteroBinarize, bit-identical, sharing the first pass over the weights. */
  binarizeWithBitMap,
  type BitMapBinarization,
} from './fused.js';
export {
  /** binarizeWithBitMap over many tensors on worker threads, each tensor whole on one thread (same bytes). */
  binarizeWithBitMaps,
  /** Ends the worker threads binarizeWithBitMaps keeps. */
  releaseBinarizeWorkers,
  type BinarizeJob,
  type ParallelOptions,
} from './parallel.js';

// Layer-level baseline (paper section 4.2).
export {
  /** Integer bits per layer whose parameter-weighted average best hits a target. */
  layerLevelBits,
  LAYER_SEARCH_BUDGET,
  type LayerBits,
} from './layer-level.js';

// Packed planes for the bit-level IR.
export {
  /** Splits a binarization into packed per-round mask and sign planes. */
  bitPlanes,
  type BitPlane,
} from './planes.js';

// Utilities.
export {
  /** Seeded 32-bit generator (mulberry32) for tests and benchmarks. */
  mulberry32,
  type Rng,
} from './prng.js';
export {
  /** Quickselect of the c smallest (key, index) pairs; exposed for tests and benchmarks. */
  quickSelectPairs,
  type Selector,
} from './select.js';
export {
  /** Frees the internal scratch buffer kept between calls. */
  releaseScratch,
} from './scratch.js';
export {
  /** Throws NUMERIC when a tensor holds NaN or Inf. */
  assertFinite,
  /** The one range check of an average bitwidth (MIN_AVG_BITS to maxBits). */
  checkAvgBits,
  MAX_SUPPORTED_BITS,
  MIN_AVG_BITS,
} from './validate.js';
