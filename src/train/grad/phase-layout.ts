/**
 * The phase layout: Conv -> BatchNormalization -> MaxPool 2x2/2 chains trained without
 * MaxPool's Indices output.
 *
 * onnxruntime's MaxPool with Indices is a generic per-window kernel (about 4 ns per input
 * element on this project's machine, 17% of a fmnist-cnn training step) and its backward is
 * a MaxUnpool. In a chain whose Conv output feeds only a BatchNormalization that feeds only a
 * non-overlapping 2x2 MaxPool, the training graph instead lays the Conv output out by
 * *window phase*: the four elements of each pooling window sit at the same place in four
 * blocks (or in four adjacent rows), phase = 2·(h mod 2) + (w mod 2) in the window's row-major
 * scan order. Then
 *
 *   pooled = ReduceMax over the phase axis, argmax = ArgMax over the phase axis (first maximum
 *   on ties, as MaxPool's indices), dX = [argmax == phase] · dY broadcast over the phases,
 *
 * all plain, multi-threaded reductions and elementwise ops. The Conv produces its output in
 * that order at no cost: its patch Gather's index table (or its im2col) simply lists the
 * output positions phase by phase. Both phase forms are [rows, M] with the channel last (axis
 * 1), so BatchNormalization's rule runs unchanged (the first layer's takes its statistics from
 * the Conv's factors instead, planesBatchNormForward). Gradients are the same as the
 * canonical graph's (same routing of each window's gradient, ties included; float sums in a
 * different order).
 *
 * Two forms, chosen in the Conv's forward rule:
 * - `phase-rows` ([N·O, M], O = conv output positions per sample): Convs with at least 16 input
 *   channels, computed as channels-last patches times the weight (one Gemm, conv.ts). Per
 *   sample, rows 0..4·P-1 hold the pooled positions phase-major (P = pooled positions), then
 *   the positions no window reads (odd sizes: the last row/column), which still count in the
 *   batch statistics. The pooled output is channels-last ([N, H2, W2, M], layout `nhwc`), so
 *   the next Conv reads it without a Transpose; its gradient comes back channels-last from that
 *   Conv's patch-form input gradient, which gathers dY rows through the same phase order.
 * - `phase-planes` ([N·P·4, M]: per sample and pooled position, the window's four phases in
 *   adjacent rows): a Conv on few input channels whose input needs no gradient (a first layer),
 *   stride 1, even output size. im2col by one Conv with a one-hot (k+1)x(k+1) kernel at stride
 *   2 (each 2x2 window's receptive field) plus a row of ones, then per phase a [M, C·(k+1)²+1]
 *   weight W4 (the kernel placed at the phase's offset, zeros elsewhere; the bias last) as one
 *   batched MatMul colsᵀ · W4ᵀ. The output stays factored (PlanesFactor): the BatchNormalization
 *   after it works from W4 and cols. The pooled output is channels-last too.
 *
 * Any other consumer of a channels-last value gets it transposed back (GradContext.canonical);
 * a gradient arriving in the forward layout is transposed to channels-last by the builder.
 */
import { attr, type GradContext } from './context.js';
import type { BackwardArgs, ForwardResult } from './registry.js';
import { spatialOut, windowGeometry, type ShapeMap } from './shapes.js';
import type { Layout, PhaseBlock, PhaseLayoutOf, PlanesFactor, RoutedGrad } from './layout.js';
import type { Node, Value } from '../../ir/graph.js';
import type { Dim } from '../../ir/types.js';
import { DataType } from '../../ir/dtype.js';
import { fail, ErrorCodes } from '../../errors.js';

export type { Layout, PhaseBlock, PlanesFactor, RoutedGrad } from './layout.js';

const usedOnlyAsFirstInputOf = (v: Value | undefined, op: string): Node | undefined => {
  if (!v || v.isGraphOutput || v.uses.length !== 1) return undefined;
  const u = v.uses[0]!;
  return u.index === 0 && u.node.isOnnx(op) ? u.node : undefined;
};

function isPlainPool2x2(pool: Node, spatial: readonly number[]): boolean {
  const ints = (name: string, dflt: number[]): number[] => pool.attrInts(name) ?? dflt;
  const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
  if (!same(ints('kernel_shape', []), [2, 2]) || !same(ints('strides', [1, 1]), [2, 2]) || !same(ints('dilations', [1, 1]), [1, 1])) return false;
  if (ints('pads', [0, 0, 0, 0]).some((p) => p !== 0)) return false;
  const autoPad = pool.attrString('auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return false;
  if (pool.attrInt('ceil_mode', 0) !== 0 || pool.attrInt('storage_order', 0) !== 0) return false;
  if (pool.outputs.slice(1).some((o) => o.name !== '' && (o.uses.length > 0 || o.isGraphOutput))) return false;
  return spatial.every((d) => d >= 2);
}

/**
 * The chains of `order` that can be trained in the phase layout, keyed by their Conv node.
 * `needsGrad(v)` says whether forward value `v` can carry a gradient.
 */
export function planPhaseBlocks(order: readonly Node[], shapes: ShapeMap, needsGrad: (v: Value) => boolean): Map<Node, PhaseBlock> {
  const blocks = new Map<Node, PhaseBlock>();
  for (const conv of order) {
    if (!conv.isOnnx('Conv') || conv.attrInt('group', 1) !== 1) continue;
    const bn = usedOnlyAsFirstInputOf(conv.outputs[0], 'BatchNormalization');
    if (!bn || bn.inputs.length < 5 || bn.inputs.some((v) => !v)) continue;
    const pool = usedOnlyAsFirstInputOf(bn.outputs[0], 'MaxPool');
    if (!pool) continue;
    const [x, w] = conv.inputs;
    const xd = x ? shapes.get(x) : undefined;
    const wd = w ? shapes.get(w) ?? (w.constValue ? [...w.constValue.dims] : undefined) : undefined;
    if (!xd || !wd || xd.length !== 4 || wd.length !== 4) continue;
    const [c, h, wdt] = [xd[1], xd[2], xd[3]];
    if (typeof c !== 'number' || typeof h !== 'number' || typeof wdt !== 'number' || wd.some((d) => typeof d !== 'number')) continue;
    const wdims = wd as number[];
    if (wdims[1] !== c) continue;
    const kernel = conv.attrInts('kernel_shape') ?? wdims.slice(2);
    const geo = windowGeometry(conv, [h, wdt], kernel);
    if (!geo.pads) continue;
    const out = spatialOut([h, wdt], geo, false) as number[];
    if (out.some((d) => typeof d !== 'number') || !isPlainPool2x2(pool, out)) continue;
    blocks.set(conv, {
      conv,
      bn,
      pool,
      batch: xd[0] ?? null,
      c,
      h,
      w: wdt,
      m: wdims[0]!,
      hc: out[0]!,
      wc: out[1]!,
      h2: Math.floor(out[0]! / 2),
      w2: Math.floor(out[1]! / 2),
      geo,
      inputNeedsGrad: !!x && needsGrad(x),
    });
  }
  return blocks;
}

/** Which phase form a planned Conv takes (null: neither applies, train it canonically). */
export function phaseForm(block: PhaseBlock): 'phase-rows' | 'phase-planes' | null {
  if (block.c >= 16) return 'phase-rows';
  const unit = block.geo.strides.every((s) => s === 1) && block.geo.dilations.every((d) => d === 1);
  const cols = block.c * (block.geo.kernel[0]! + 1) * (block.geo.kernel[1]! + 1);
  if (unit && !block.inputNeedsGrad && block.hc % 2 === 0 && block.wc % 2 === 0 && cols <= 256) return 'phase-planes';
  return null;
}

/**
 * Row order of the phase-rows form: for each row, the natural (row-major) index of the Conv
 * output position it holds.
 */
export function phaseRowOrder(b: PhaseBlock): number[] {
  const order: number[] = [];
  for (let phase = 0; phase < 4; phase++) {
    const [a, c] = [phase >> 1, phase & 1];
    for (let i = 0; i < b.h2; i++) for (let j = 0; j < b.w2; j++) order.push((2 * i + a) * b.wc + 2 * j + c);
  }
  for (let y = 0; y < b.hc; y++) for (let x = 0; x < b.wc; x++) if (y >= 2 * b.h2 || x >= 2 * b.w2) order.push(y * b.wc + x);
  return order;
}

/** The inverse of phaseRowOrder: for each natural Conv output position, its row. */
function phaseRowOf(b: PhaseBlock): number[] {
  const rowOf = new Array<number>(b.hc * b.wc);
  phaseRowOrder(b).forEach((pos, row) => (rowOf[pos] = row));
  return rowOf;
}


// ---- phase-planes Conv --------------------------------------------------------------------

/** Columns of the phase-planes im2col: C·(k+1)² window taps, then a row of ones (bias, BatchNorm shift). */
const planesCols = (b: PhaseBlock): number => b.c * (b.geo.kernel[0]! + 1) * (b.geo.kernel[1]! + 1) + 1;

const phaseRep = (ctx: GradContext, m: number): Value => ctx.constI64(Array.from({ length: 4 * m }, (_, k) => k % m));
/** A per-channel vector [M] repeated for the four phases as a column [4M, 1]. */
const perPhaseRows = (ctx: GradContext, v: Value, m: number): Value => ctx.reshape(ctx.op('Gather', [v, phaseRep(ctx, m)], { axis: attr.int(0) }), ctx.constI64([4 * m, 1]));

/** Forward of a phase-planes Conv: Y [N·P·4, M] = cols[N, CU, P]ᵀ · W4[4M, CU]ᵀ (the bias as a column of W4 over a row of ones). */
export function planesConvForward(ctx: GradContext, b: PhaseBlock, inputs: (Value | null)[]): ForwardResult {
  const [xIn, w, bias] = inputs as [Value, Value, Value | null];
  const x = ctx.canonical(xIn);
  const [kh, kw] = b.geo.kernel as [number, number];
  const [uh, uw] = [kh + 1, kw + 1];
  const taps = b.c * uh * uw;
  const cu = planesCols(b);
  const p = b.h2 * b.w2;
  // one-hot kernel: output channel (c, u, v) copies input channel c at window offset (u, v);
  // one more channel of zero weights and bias 1 (a row of ones)
  const eye = new Array<number>(cu * b.c * uh * uw).fill(0);
  for (let c = 0; c < b.c; c++) for (let u = 0; u < uh; u++) for (let v = 0; v < uw; v++) eye[(((c * uh + u) * uw + v) * b.c + c) * uh * uw + u * uw + v] = 1;
  const ones = ctx.constF32(Array.from({ length: cu }, (_, i) => (i === taps ? 1 : 0)));
  const cols = ctx.op('Conv', [x, ctx.constF32(eye, [cu, b.c, uh, uw]), ones], { strides: attr.ints([2, 2]), pads: attr.ints(b.geo.pads!) });
  const cols3 = ctx.reshape(cols, ctx.constI64([0, cu, -1]));
  // per phase (a, e): W placed at offset (a, e) of the (k+1)x(k+1) window, zeros elsewhere
  // (index `zeroAt` of [W, bias, 0] reads 0), then the bias column
  const biasAt = b.m * b.c * kh * kw;
  const zeroAt = biasAt + (bias ? b.m : 0);
  const table = new Array<number>(4 * b.m * cu);
  for (let phase = 0; phase < 4; phase++) {
    const [a, e] = [phase >> 1, phase & 1];
    for (let m = 0; m < b.m; m++) {
      const row = (phase * b.m + m) * cu;
      for (let c = 0; c < b.c; c++) {
        for (let u = 0; u < uh; u++) {
          for (let v = 0; v < uw; v++) {
            const [i, j] = [u - a, v - e];
            table[row + (c * uh + u) * uw + v] = i >= 0 && i < kh && j >= 0 && j < kw ? ((m * b.c + c) * kh + i) * kw + j : zeroAt;
          }
        }
      }
      table[row + taps] = bias ? biasAt + m : zeroAt;
    }
  }
  const parts = [ctx.reshape(w, ctx.constI64([-1])), ...(bias ? [bias] : []), ctx.constF32([0])];
  const w4 = ctx.op('Gather', [ctx.op('Concat', parts, { axis: attr.int(0) }), ctx.constI64(table, [4 * b.m, cu])], { axis: attr.int(0) });
  const colsT = ctx.transpose(cols3, [0, 2, 1]);
  const out = ctx.reshape(ctx.op('MatMul', [colsT, ctx.transpose(w4, [1, 0])]), ctx.constI64([-1, b.m]));
  ctx.setShape(out, [null, b.m]);
  ctx.setLayout(out, { kind: 'phase-planes', block: b });
  ctx.planesFactors.set(out, { block: b, w4, cols: cols3, colsT });
  return { outputs: [out] };
}

/**
 * Training-mode BatchNormalization of a phase-planes Conv output Y = W4 · cols, from the
 * factors (Y is never formed):
 *   per phase row r: mean_r = W4_r · μ, var_r = W4_r · Cov · W4_rᵀ, with μ and Cov the mean and
 *   covariance of the columns of cols (computed from the centred columns: no cancellation);
 *   per channel: mean = mean over the 4 phases of mean_r, var = mean over the phases of
 *   (var_r + (mean_r - mean)²) (the law of total variance, equal group sizes);
 *   Ŷ = k⊙(Y - mean) + beta = W4' · cols with W4' = k⊙W4 and beta - k·mean added to the
 *   column of the row of ones: one MatMul writes the output.
 */
export function planesBatchNormForward(ctx: GradContext, f: PlanesFactor, scale: Value, beta: Value, eps: number): { y: Value; mean: Value; variance: Value; invstd: Value; count: Value } {
  const b = f.block;
  const cu = planesCols(b);
  const p = b.h2 * b.w2;
  const toFloat = { to: attr.int(DataType.FLOAT) };
  // positions per channel: N·4·P = |cols| / CU · 4
  const count = ctx.op('Mul', [ctx.op('Div', [ctx.op('Cast', [ctx.op('Size', [f.cols])], toFloat), ctx.scalar(cu)]), ctx.scalar(4)]);
  const mu = ctx.reduceMean(f.cols, [0, 2], true);
  const centred = ctx.op('Sub', [f.cols, mu]);
  const cov = ctx.op('Div', [ctx.reduceSum(ctx.op('MatMul', [centred, ctx.transpose(centred, [0, 2, 1])]), [0], false), ctx.op('Div', [count, ctx.scalar(4)])]);
  const mean4 = ctx.reshape(ctx.op('MatMul', [f.w4, ctx.reshape(mu, ctx.constI64([cu, 1]))]), ctx.constI64([4, b.m]));
  const var4 = ctx.reshape(ctx.reduceSum(ctx.op('Mul', [ctx.op('MatMul', [f.w4, cov]), f.w4]), [1], false), ctx.constI64([4, b.m]));
  const mean = ctx.reduceMean(mean4, [0], false);
  const dev = ctx.op('Sub', [mean4, mean]);
  const variance = ctx.reduceMean(ctx.op('Add', [var4, ctx.op('Mul', [dev, dev])]), [0], false);
  const invstd = ctx.invStd(variance, eps);
  const k = ctx.op('Mul', [scale, invstd]);
  const shift = ctx.op('Sub', [beta, ctx.op('Mul', [k, mean])]);
  const lastColumn = ctx.constF32(Array.from({ length: cu }, (_, i) => (i === cu - 1 ? 1 : 0)), [1, cu]);
  const w4y = ctx.op('Add', [ctx.op('Mul', [f.w4, perPhaseRows(ctx, k, b.m)]), ctx.op('Mul', [perPhaseRows(ctx, shift, b.m), lastColumn])]);
  const y = ctx.reshape(ctx.op('MatMul', [f.colsT, ctx.transpose(w4y, [1, 0])]), ctx.constI64([-1, b.m]));
  ctx.setShape(y, [null, b.m]);
  f.mean = mean;
  return { y, mean, variance, invstd, count };
}

/**
 * Σ dY·Xc per channel for a phase-planes BatchNormalization from the factors: Xc = W4 · cols -
 * mean, so Σ_(n,p) dY_r · Xc_r = W4_r · D_r - mean · Σ dY_r with D = Σ_n dY_n · cols_nᵀ (which
 * the Conv's weight gradient reuses), summed over the phases.
 */
export function planesDyXcSum(ctx: GradContext, f: PlanesFactor, dy: Value, sumDy: Value): Value {
  const b = f.block;
  const d = sumOverBatchTimesCols(ctx, b, dy, f.cols);
  f.dyCols = d;
  const perRow = ctx.reshape(ctx.reduceSum(ctx.op('Mul', [f.w4, d]), [1], false), ctx.constI64([4, b.m]));
  return ctx.op('Sub', [ctx.reduceSum(perRow, [0], false), ctx.op('Mul', [f.mean!, sumDy])]);
}

/** Σ_n t_n · cols_nᵀ as [4M, CU] for a phase-planes value t ([N·P·4, M]). */
function sumOverBatchTimesCols(ctx: GradContext, b: PhaseBlock, t: Value, cols: Value): Value {
  const t3 = ctx.reshape(t, ctx.constI64([-1, b.h2 * b.w2, 4 * b.m]));
  return ctx.transpose(ctx.reduceSum(ctx.op('MatMul', [cols, t3]), [0], false), [1, 0]);
}

/**
 * Backward of a phase-planes Conv (no input gradient: the form is only chosen when none is
 * needed). dW4[4M, CU] = Σ_n dY_n · cols_nᵀ, then each weight sums its four phase copies.
 * When dY is BatchNormalization's k⊙dY' + b⊙Xc + c over the factors, the sum is taken per
 * part, k⊙(Σ dY'·colsᵀ) + b⊙(Σ Xc·colsᵀ) + c⊗(Σ cols), so dY itself is never formed.
 */
export function planesConvBackward(ctx: GradContext, b: PhaseBlock, a: BackwardArgs): (Value | null)[] {
  if (a.needs[0]) fail(ErrorCodes.INTERNAL, `phase-planes form of ${a.node.label} chosen although its input needs a gradient`, { node: a.node.name });
  const dy = a.dOutputs[0]!;
  const [kh, kw] = b.geo.kernel as [number, number];
  const [uh, uw] = [kh + 1, kw + 1];
  const cu = planesCols(b);
  let dW: Value | null = null;
  if (a.needs[1]) {
    const factor = ctx.planesFactors.get(a.outputs[0]!)!;
    const { cols, colsT } = factor;
    const affine = ctx.channelAffine.get(dy);
    let dw4: Value;
    if (affine && factor.dyCols && factor.mean) {
      // BatchNorm's parts: Σ dY·colsᵀ from its backward; Σ Xc·colsᵀ = W4 · (Σ cols·colsᵀ) - mean ⊗ Σ cols
      const colSums = ctx.reshape(ctx.reduceSum(cols, [0, 2], false), ctx.constI64([1, cu]));
      const xcCols = ctx.op('Sub', [ctx.op('MatMul', [factor.w4, ctx.reduceSum(ctx.op('MatMul', [cols, colsT]), [0], false)]), ctx.op('Mul', [perPhaseRows(ctx, factor.mean, b.m), colSums])]);
      const col = (t: Value): Value => perPhaseRows(ctx, t, b.m);
      dw4 = ctx.op('Add', [ctx.op('Add', [ctx.op('Mul', [col(affine.k), factor.dyCols]), ctx.op('Mul', [col(affine.b), xcCols])]), ctx.op('Mul', [col(affine.c), colSums])]);
    } else {
      dw4 = sumOverBatchTimesCols(ctx, b, dy, cols);
    }
    const table: number[] = [];
    for (let m = 0; m < b.m; m++) {
      for (let c = 0; c < b.c; c++) {
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            for (let phase = 0; phase < 4; phase++) table.push((phase * b.m + m) * cu + (c * uh + i + (phase >> 1)) * uw + j + (phase & 1));
          }
        }
      }
    }
    const picked = ctx.op('Gather', [ctx.reshape(dw4, ctx.constI64([-1])), ctx.constI64(table, [b.m * b.c * kh * kw, 4])], { axis: attr.int(0) });
    dW = ctx.reshape(ctx.reduceSum(picked, [1], false), ctx.constI64([b.m, b.c, kh, kw]));
  }
  // the Conv feeds only a BatchNormalization, which subtracts any per-channel shift: dB = 0
  const dB = a.needs[2] && a.inputs[2] ? ctx.constF32(new Array<number>(b.m).fill(0), [b.m]) : null;
  return [null, dW, dB];
}

// ---- phase-rows Conv ----------------------------------------------------------------------

/**
 * Input gradient of a stride-1 phase-rows Conv: the full correlation of dY with the flipped
 * kernel, dY's rows gathered through the phase order (a zero row past the end stands for
 * positions outside dY), times W flipped as [K·M, C]. Returned channels-last when `x` (the
 * value the forward read) is, else in the forward layout.
 */
export function rowsConvInputGrad(ctx: GradContext, b: PhaseBlock, dy: Value, w: Value, x: Value): Value {
  const [kh, kw] = b.geo.kernel as [number, number];
  const k = kh * kw;
  const o = b.hc * b.wc;
  const rowOf = phaseRowOf(b);
  const [pt, pl] = [b.geo.pads![0]!, b.geo.pads![1]!];
  // table[s, j]: the dY row flipped tap j reads for input position s (o: the zero row)
  const table = new Array<number>(b.h * b.w * k);
  for (let sh = 0; sh < b.h; sh++) {
    for (let sw = 0; sw < b.w; sw++) {
      for (let jh = 0; jh < kh; jh++) {
        for (let jw = 0; jw < kw; jw++) {
          const [oh, ow] = [sh + jh - (kh - 1 - pt), sw + jw - (kw - 1 - pl)];
          table[(sh * b.w + sw) * k + jh * kw + jw] = oh >= 0 && oh < b.hc && ow >= 0 && ow < b.wc ? rowOf[oh * b.wc + ow]! : o;
        }
      }
    }
  }
  const padded = ctx.op('Pad', [ctx.reshape(dy, ctx.constI64([-1, o, b.m])), ctx.constI64([0, 0, 0, 0, 1, 0])]);
  const g = ctx.reshape(ctx.op('Gather', [padded, ctx.constI64(table, [b.h * b.w, k])], { axis: attr.int(1) }), ctx.constI64([-1, k * b.m]));
  const rev = Array.from({ length: k }, (_, j) => k - 1 - j);
  const wf = ctx.reshape(ctx.transpose(ctx.op('Gather', [ctx.reshape(w, ctx.constI64([b.m, b.c, k])), ctx.constI64(rev)], { axis: attr.int(2) }), [2, 0, 1]), ctx.constI64([k * b.m, b.c]));
  const d2 = ctx.op('MatMul', [g, wf]);
  const batch = b.batch;
  const canonical: Dim[] = [batch, b.c, b.h, b.w];
  if (ctx.layoutOf(x)?.kind === 'nhwc') {
    const out = ctx.reshape(d2, ctx.constI64([-1, b.h, b.w, b.c]));
    ctx.setShape(out, [batch, b.h, b.w, b.c]);
    ctx.setLayout(out, { kind: 'nhwc', canonical });
    return out;
  }
  const out = ctx.reshape(ctx.transpose(ctx.reshape(d2, ctx.constI64([-1, b.h * b.w, b.c])), [0, 2, 1]), ctx.constI64([-1, b.c, b.h, b.w]));
  ctx.setShape(out, canonical);
  return out;
}

/** A phase-rows gradient [N·O, M] back in the forward layout [N, M, Hc, Wc] (for the general input-gradient forms). */
export function rowsToCanonical(ctx: GradContext, b: PhaseBlock, dy: Value): Value {
  const o = b.hc * b.wc;
  const rowOf = phaseRowOf(b);
  const natural = ctx.op('Gather', [ctx.reshape(dy, ctx.constI64([-1, o, b.m])), ctx.constI64(rowOf)], { axis: attr.int(1) });
  const out = ctx.reshape(ctx.transpose(natural, [0, 2, 1]), ctx.constI64([-1, b.m, b.hc, b.wc]));
  ctx.setShape(out, [b.batch, b.m, b.hc, b.wc]);
  return out;
}

// ---- the pool --------------------------------------------------------------------------------

/**
 * A phase-layout value viewed by pooling window, with the phase axis: phase-planes [N, P, 4, M]
 * (axis 2), phase-rows [N, 4, P, M] (axis 1; the positions no window reads sliced off).
 */
function windowView(ctx: GradContext, lay: PhaseLayoutOf, v: Value): { view: Value; axis: number } {
  const b = lay.block;
  const p = b.h2 * b.w2;
  if (lay.kind === 'phase-planes') return { view: ctx.reshape(v, ctx.constI64([-1, p, 4, b.m])), axis: 2 };
  const o = b.hc * b.wc;
  let v3 = ctx.reshape(v, ctx.constI64([-1, o, b.m]));
  if (o > 4 * p) v3 = ctx.op('Slice', [v3, ctx.constI64([0]), ctx.constI64([4 * p]), ctx.constI64([1])]);
  return { view: ctx.reshape(v3, ctx.constI64([-1, 4, p, b.m])), axis: 1 };
}

/** MaxPool 2x2/2 of a phase-layout value: ReduceMax and ArgMax over the phase axis; the pooled output channels-last. */
export function phasePoolForward(ctx: GradContext, x: Value, lay: PhaseLayoutOf): ForwardResult {
  const b = lay.block;
  const { view, axis } = windowView(ctx, lay, x);
  const y = ctx.reshape(ctx.reduceMax(view, [axis], false), ctx.constI64([-1, b.h2, b.w2, b.m]));
  ctx.setShape(y, [b.batch, b.h2, b.w2, b.m]);
  ctx.setLayout(y, { kind: 'nhwc', canonical: [b.batch, b.m, b.h2, b.w2] });
  const indices = ctx.op('ArgMax', [view], { axis: attr.int(axis), keepdims: attr.int(1) });
  return { outputs: [y], saved: { phase: indices } };
}

/** dX of the phase pool: dY routed to the phase that held each window's (first) maximum. */
export function phasePoolBackward(ctx: GradContext, dy: Value, lay: PhaseLayoutOf, indices: Value): Value {
  const b = lay.block;
  const p = b.h2 * b.w2;
  // dY and the phase ids shaped to broadcast along the phase axis of windowView
  const planes = lay.kind === 'phase-planes';
  const dy4 = ctx.reshape(dy, ctx.constI64(planes ? [-1, p, 1, b.m] : [-1, 1, p, b.m]));
  const ids = ctx.constI64([0, 1, 2, 3], planes ? [1, 1, 4, 1] : [1, 4, 1, 1]);
  const routed = ctx.op('Mul', [ctx.mask(ctx.op('Equal', [indices, ids])), dy4]);
  // back to [N·O, M] rows, zero rows for the positions no window reads
  const o = b.hc * b.wc;
  let rows = ctx.reshape(routed, ctx.constI64([-1, 4 * p, b.m]));
  if (o > 4 * p) rows = ctx.op('Pad', [rows, ctx.constI64([0, 0, 0, 0, o - 4 * p, 0])]);
  const out = ctx.reshape(rows, ctx.constI64([-1, b.m]));
  ctx.setShape(out, [null, b.m]);
  ctx.routed.set(out, { lay, dy: dy4, indices });
  return out;
}

/** Σ dY per channel of a routed gradient (the pooled dY: one element per window). */
export function routedChannelSum(ctx: GradContext, r: RoutedGrad): Value {
  return ctx.reduceSum(ctx.reshape(r.dy, ctx.constI64([-1, r.lay.block.m])), [0], false);
}

/**
 * Σ dY·v per channel of a routed gradient, for a value `v` of the pool input's phase layout:
 * each window contributes dy · v at its routed phase (one GatherElements of v instead of a
 * product over all four phases).
 */
export function routedChannelDot(ctx: GradContext, r: RoutedGrad, v: Value): Value {
  const { view, axis } = windowView(ctx, r.lay, v);
  const picked = ctx.op('GatherElements', [view, r.indices], { axis: attr.int(axis) });
  return ctx.reduceSum(ctx.reshape(ctx.op('Mul', [r.dy, picked]), ctx.constI64([-1, r.lay.block.m])), [0], false);
}
