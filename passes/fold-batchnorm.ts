/**
 * fold-batchnorm: folds inference-mode BatchNormalization into the linear layer before it.
 *
 * HBNN training keeps BatchNormalization (the binarized layers train with it), so this
 * pass is opt-in: use it for deployment pipelines that no longer train.
 *
 * With s = gamma / sqrt(var + epsilon), per output channel c:
 * 1. y = BatchNormalization(Conv(x, W, b?)) becomes Conv(x, W', b') with
 *    W'[c,...] = W[c,...] * s[c] and b'[c] = (b[c] - mean[c]) * s[c] + beta[c] (b = 0 when
 *    absent); any group count works, since output channels are W's first axis.
 * 2. y = BatchNormalization(Gemm(a, B, C?)) becomes Gemm(a, B', C') with alpha kept,
 *    beta = 1, B' scaled per output column (rows of B when transB = 1, columns when 0),
 *    and C'[.., c] = (beta * C[.., c] - mean[c]) * s[c] + beta_bn[c], keeping C's
 *    broadcast form ([N] when C is a scalar, [N] or [1,N]; [M,N] when C is full).
 * 3. y = BatchNormalization(Add(MatMul(a, W), b)) (b on either side of the Add) and
 *    y = BatchNormalization(MatMul(a, W)) with 2-D W [K,N] and a known 2-D result become
 *    MatMul(a, W') with W'[:, c] = W[:, c] * s[c], followed by Add with b' as in rule 1
 *    (an Add is created when there was none).
 * 4. A fold happens only when: the BatchNormalization has one output (inference form),
 *    is not in training mode and uses per-channel parameters (spatial = 1 before opset
 *    9); its scale, bias, mean and variance are float32 initializers that are not graph
 *    inputs; the producer's weights and bias are such initializers too; and every value
 *    between the producer and the BatchNormalization has no other use and is not a graph
 *    output. Otherwise the node stays (a statistic says why).
 * 5. A weight or bias initializer used only by the folded layer is updated in place; one
 *    that is shared gets a new initializer, leaving the original to its other users.
 * 6. The BatchNormalization output's name survives when it is a graph output (the layer's
 *    output is renamed); otherwise the layer keeps its own output name.
 * Weights are computed in float64 and rounded once to float32.
 */
import { definePass, type PassContext } from '../src/pass/pass.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { DataType } from '../src/ir/dtype.js';
import { tensorTypeOf } from '../src/ir/types.js';

export const foldBatchnorm = definePass({
  name: 'fold-batchnorm',
  summary: 'Fold inference BatchNormalization into a preceding Conv, Gemm or MatMul(+Add) (opt-in).',
  description: 'Scales weights by gamma/sqrt(var+eps) per output channel and rewrites the bias; HBNN training keeps BatchNorm, so use this only for deployment.',
  establishes: ['batchnorm-folded'],
  preserves: ['topologically-sorted', 'shapes-inferred', 'no-identity', 'no-dead-code', 'constants-folded'],
  run(model, ctx) {
    let changed = false;
    const g = model.graph;
    for (const bn of [...g.nodes]) {
      if (!bn.isOnnx('BatchNormalization')) continue;
      const plan = planFold(g, bn, model.opsetVersion('') ?? 21, ctx);
      if (!plan) continue;
      plan();
      ctx.stat('folded');
      changed = true;
    }
    return { changed };
  },
});

/** A float32 initializer that is not a graph input (so its value is fixed). */
function constFloat(v: Value | null | undefined): Float32Array | undefined {
  if (!v || !v.constValue || v.isGraphInput || v.constValue.dtype !== DataType.FLOAT) return undefined;
  return v.constValue.toFloat32();
}

function onlyUse(v: Value, user: Node): boolean {
  return !v.isGraphOutput && v.uses.length === 1 && v.uses[0]!.node === user;
}

interface BnParams {
  scale: Float64Array; // s = gamma / sqrt(var + eps)
  shift: Float64Array; // beta - mean * s
  channels: number;
}

function bnParams(bn: Node, opset: number, ctx: PassContext): BnParams | undefined {
  const skip = (why: string): undefined => void ctx.stat(`skipped-${why}`);
  if (bn.outputs.filter((o) => o.name !== '').length !== 1) return skip('training-outputs');
  if (bn.attrInt('training_mode', 0) !== 0) return skip('training-mode');
  if (opset < 9 && bn.attrInt('spatial', 1) !== 1) return skip('not-spatial');
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => constFloat(bn.inputs[i]));
  if (!gamma || !beta || !mean || !variance) return skip('non-constant-params');
  const c = gamma.length;
  if (beta.length !== c || mean.length !== c || variance.length !== c) return skip('param-sizes');
  const eps = bn.attrFloat('epsilon', 1e-5);
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = gamma[i]! / Math.sqrt(variance[i]! + eps);
    shift[i] = beta[i]! - mean[i]! * scale[i]!;
  }
  return { scale, shift, channels: c };
}

/** Writes a new tensor for initializer `v`: in place when only `user` uses it, else as a new one. */
function replaceInit(g: Graph, user: Node, index: number, v: Value, dims: readonly number[], data: Float32Array): void {
  if (onlyUse(v, user)) {
    g.replaceInitializer(v, Tensor.fromFloat32(v.name, dims, data));
    return;
  }
  const nv = g.addInitializer(Tensor.fromFloat32('', dims, data), g.uniqueName(`${v.name}_bnfolded`));
  user.setInput(index, nv);
}

function addBias(g: Graph, user: Node, index: number, base: string, dims: readonly number[], data: Float32Array): void {
  const nv = g.addInitializer(Tensor.fromFloat32('', dims, data), g.uniqueName(`${base}_bnfolded_bias`));
  user.setInput(index, nv);
}

/** Moves the BN output's consumers (and graph-output name, rule 6) onto `out`, then removes the BN. */
function bypass(g: Graph, bn: Node, out: Value): void {
  const y = bn.outputs[0]!;
  const keepName = y.isGraphOutput ? y.name : undefined;
  const type = y.type;
  y.replaceAllUsesWith(out);
  g.removeNode(bn);
  if (keepName !== undefined) {
    const k = g.valueInfoOrder.indexOf(out.name);
    if (k >= 0) g.valueInfoOrder.splice(k, 1);
    g.renameValue(out, keepName);
    out.type = type;
  }
}

function planFold(g: Graph, bn: Node, opset: number, ctx: PassContext): (() => void) | undefined {
  const x = bn.inputs[0];
  const p = x?.producer;
  if (!x || !p || p.graph !== g || !p.isOnnx()) return void ctx.stat('skipped-no-producer');
  if (!onlyUse(x, bn)) return void ctx.stat('skipped-shared-output');
  if (p.opType === 'Conv') return planConv(g, bn, p, opset, ctx);
  if (p.opType === 'Gemm') return planGemm(g, bn, p, opset, ctx);
  if (p.opType === 'MatMul') return planMatMul(g, bn, p, undefined, opset, ctx);
  if (p.opType === 'Add') {
    for (const side of [0, 1]) {
      const mm = p.inputs[side]?.producer;
      if (mm && mm.isOnnx('MatMul') && mm.graph === g && constFloat(p.inputs[1 - side])) {
        return planMatMul(g, bn, mm, { add: p, biasIndex: 1 - side }, opset, ctx);
      }
    }
  }
  return void ctx.stat('skipped-producer-op');
}

function planConv(g: Graph, bn: Node, conv: Node, opset: number, ctx: PassContext): (() => void) | undefined {
  const W = conv.inputs[1];
  const w = constFloat(W);
  if (!W || !w) return void ctx.stat('skipped-non-constant-weights');
  const b = conv.inputs[2] ? constFloat(conv.inputs[2]) : undefined;
  if (conv.inputs[2] && !b) return void ctx.stat('skipped-non-constant-weights');
  const bnp = bnParams(bn, opset, ctx);
  if (!bnp) return undefined;
  const dims = W.constValue!.dims;
  const m = dims[0]!;
  if (m !== bnp.channels || (b && b.length !== m)) return void ctx.stat('skipped-param-sizes');
  return () => {
    const per = w.length / m;
    const w2 = new Float32Array(w.length);
    for (let c = 0; c < m; c++) for (let k = 0; k < per; k++) w2[c * per + k] = w[c * per + k]! * bnp.scale[c]!;
    const b2 = new Float32Array(m);
    for (let c = 0; c < m; c++) b2[c] = (b ? b[c]! : 0) * bnp.scale[c]! + bnp.shift[c]!;
    replaceInit(g, conv, 1, W, dims, w2);
    if (conv.inputs[2]) replaceInit(g, conv, 2, conv.inputs[2]!, [m], b2);
    else addBias(g, conv, 2, conv.name || W.name, [m], b2);
    bypass(g, bn, conv.outputs[0]!);
  };
}

function planGemm(g: Graph, bn: Node, gemm: Node, opset: number, ctx: PassContext): (() => void) | undefined {
  const B = gemm.inputs[1];
  const bw = constFloat(B);
  if (!B || !bw || B.constValue!.dims.length !== 2) return void ctx.stat('skipped-non-constant-weights');
  const C = gemm.inputs[2];
  const cw = C ? constFloat(C) : undefined;
  if (C && !cw) return void ctx.stat('skipped-non-constant-weights');
  const bnp = bnParams(bn, opset, ctx);
  if (!bnp) return undefined;
  const transB = gemm.attrInt('transB', 0) !== 0;
  const [r, k] = B.constValue!.dims as [number, number];
  const n = transB ? r : k;
  if (n !== bnp.channels) return void ctx.stat('skipped-param-sizes');
  const cdims = C ? C.constValue!.dims : [];
  // C broadcasts to [M, N]: scalar, [1], [N], [1, N] give a per-column bias; [M, N] a full one.
  const cSize = cw ? cw.length : 1;
  const perColumn = !cw || cSize === 1 || (cSize === n && (cdims.length === 1 || cdims[0] === 1));
  const full = cw && cdims.length === 2 && cdims[1] === n && !perColumn;
  if (!perColumn && !full) return void ctx.stat('skipped-bias-shape');
  const beta = gemm.attrFloat('beta', 1);
  return () => {
    const b2 = new Float32Array(bw.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) b2[i * k + j] = bw[i * k + j]! * bnp.scale[transB ? i : j]!;
    const rows = full ? cdims[0]! : 1;
    const c2 = new Float32Array(rows * n);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < n; j++) {
        const cv = !cw ? 0 : cSize === 1 ? cw[0]! : full ? cw[i * n + j]! : cw[j]!;
        c2[i * n + j] = beta * cv * bnp.scale[j]! + bnp.shift[j]!;
      }
    }
    replaceInit(g, gemm, 1, B, [r, k], b2);
    const cShape = full ? [rows, n] : [n];
    if (C) replaceInit(g, gemm, 2, C, cShape, c2);
    else addBias(g, gemm, 2, gemm.name || B.name, cShape, c2);
    gemm.setFloat('beta', 1);
    bypass(g, bn, gemm.outputs[0]!);
  };
}

function planMatMul(
  g: Graph,
  bn: Node,
  mm: Node,
  add: { add: Node; biasIndex: number } | undefined,
  opset: number,
  ctx: PassContext,
): (() => void) | undefined {
  const W = mm.inputs[1];
  const w = constFloat(W);
  if (!W || !w || W.constValue!.dims.length !== 2) return void ctx.stat('skipped-non-constant-weights');
  // BatchNormalization normalizes axis 1; that is the MatMul's column axis only for 2-D results.
  const aRank = tensorTypeOf(mm.inputs[0] ?? undefined)?.shape?.length;
  if (aRank !== 2) return void ctx.stat('skipped-matmul-rank');
  if (add && !onlyUse(mm.outputs[0]!, add.add)) return void ctx.stat('skipped-shared-output');
  const bnp = bnParams(bn, opset, ctx);
  if (!bnp) return undefined;
  const [k, n] = W.constValue!.dims as [number, number];
  if (n !== bnp.channels) return void ctx.stat('skipped-param-sizes');
  const bias = add ? add.add.inputs[add.biasIndex]! : undefined;
  const bw = bias ? constFloat(bias)! : undefined;
  // The bias must broadcast along the columns only: [], [1], [N], [1,1] or [1,N].
  const bdims = bias?.constValue?.dims ?? [];
  const last = bdims.length ? bdims[bdims.length - 1]! : 1;
  if (bias && (bdims.length > 2 || (bdims.length === 2 && bdims[0] !== 1) || (last !== 1 && last !== n))) return void ctx.stat('skipped-bias-shape');
  return () => {
    const w2 = new Float32Array(w.length);
    for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) w2[i * n + j] = w[i * n + j]! * bnp.scale[j]!;
    const b2 = new Float32Array(n);
    for (let j = 0; j < n; j++) b2[j] = (bw ? bw[bw.length === 1 ? 0 : j]! : 0) * bnp.scale[j]! + bnp.shift[j]!;
    replaceInit(g, mm, 1, W, [k, n], w2);
    if (add && bias) {
      replaceInit(g, add.add, add.biasIndex, bias, [n], b2);
      bypass(g, bn, add.add.outputs[0]!);
    } else {
      const bv = g.addInitializer(Tensor.fromFloat32('', [n], b2), g.uniqueName(`${mm.name || W.name}_bnfolded_bias`));
      const out = mm.outputs[0]!;
      const addNode = g.createNode('Add', [out, bv], [g.uniqueName(`${out.name}_bnfolded`)], { name: mm.name ? `${mm.name}_bnfolded_bias` : '' });
      g.insertAfter(mm, addNode);
      bypass(g, bn, addNode.outputs[0]!);
    }
  };
}
