/**
 * Gemm and MatMul.
 *
 * Gemm, Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A and B' = transB ? Bᵀ : B:
 *   dA' = alpha·dY·B'ᵀ, dB' = alpha·A'ᵀ·dY, dC = beta·dY summed to C's shape; each written
 *   as one Gemm with the transposes folded into transA/transB:
 *     dA = transA ? alpha·B'·dYᵀ : alpha·dY·B'ᵀ      dB = transB ? alpha·dYᵀ·A' : alpha·A'ᵀ·dY
 * MatMul (numpy semantics): dA = dY·Bᵀ, dB = Aᵀ·dY over the last two axes, summed over
 *   broadcast batch axes; 1-D operands are promoted (as numpy does) and demoted again. A 2-D
 *   B under an N-D A (a Linear layer on a sequence) takes one Gemm over the flattened batch.
 */
import type { GradContext } from '../context.js';
import { attr } from '../context.js';
import type { GradRuleSet } from '../registry.js';
import type { Attribute, Value } from '../../../ir/graph.js';
import type { Dim } from '../../../ir/types.js';

export function registerMatMul(r: GradRuleSet): void {
  r.register('Gemm', {
    differentiableInputs: () => [0, 1, 2],
    backward(ctx, a) {
      const [A, B, C] = a.inputs;
      const dy = a.dOutputs[0]!;
      const n = a.node;
      const alpha = n.attrFloat('alpha', 1);
      const beta = n.attrFloat('beta', 1);
      const tA = n.attrInt('transA', 0) === 1;
      const tB = n.attrInt('transB', 0) === 1;
      const al: Record<string, Attribute> = alpha !== 1 ? { alpha: attr.float(alpha) } : {};
      let dA: Value | null = null;
      let dB: Value | null = null;
      let dC: Value | null = null;
      if (a.needs[0]) {
        // B'ᵀ = tB ? B : Bᵀ
        dA = tA
          ? ctx.op('Gemm', [B!, dy], { ...al, transA: attr.int(tB ? 1 : 0), transB: attr.int(1) })
          : ctx.op('Gemm', [dy, B!], { ...al, transB: attr.int(tB ? 0 : 1) });
      }
      if (a.needs[1]) {
        // A'ᵀ = tA ? A : Aᵀ
        dB = tB
          ? ctx.op('Gemm', [dy, A!], { ...al, transA: attr.int(1), transB: attr.int(tA ? 1 : 0) })
          : ctx.op('Gemm', [A!, dy], { ...al, transA: attr.int(tA ? 0 : 1) });
      }
      if (a.needs[2] && C) {
        const scaled = beta !== 1 ? ctx.op('Mul', [dy, ctx.scalar(beta)]) : dy;
        dC = ctx.unbroadcast(scaled, C, ctx.dims(a.outputs[0]!));
      }
      return [dA, dB, dC];
    },
  });

  r.register('MatMul', {
    differentiableInputs: () => [0, 1],
    backward(ctx, a) {
      const [A, B] = a.inputs as [Value, Value];
      const dy = a.dOutputs[0]!;
      const ra = ctx.requireRank(A, a.node, 'MatMul gradient');
      const rb = ctx.requireRank(B, a.node, 'MatMul gradient');
      if (ra === 1 && rb === 1) {
        return [a.needs[0] ? ctx.op('Mul', [dy, B]) : null, a.needs[1] ? ctx.op('Mul', [dy, A]) : null];
      }
      const ad = ctx.dims(A)!;
      const bd = ctx.dims(B)!;
      let A2 = A;
      let B2 = B;
      let dY2 = dy;
      let ad2: Dim[] = ad;
      let bd2: Dim[] = bd;
      if (ra === 1) {
        A2 = ctx.unsqueeze(A, [0]);
        ad2 = [1, ad[0]!];
        dY2 = ctx.unsqueeze(dY2, [-2]);
      }
      if (rb === 1) {
        B2 = ctx.unsqueeze(B, [1]);
        bd2 = [bd[0]!, 1];
        dY2 = ctx.unsqueeze(dY2, [-1]);
      }
      ctx.setShape(A2, ad2);
      ctx.setShape(B2, bd2);
      const yd = ctx.dims(a.outputs[0]!);
      // Y is [...batch, M, N], with the M (N) axis absent when A (B) is 1-D
      const batch = yd ? yd.slice(0, yd.length - (ra === 1 || rb === 1 ? 1 : 2)) : undefined;
      const swap = (rank: number): number[] => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
      let dA: Value | null = null;
      let dB: Value | null = null;
      if (a.needs[0]) {
        const raw = ctx.op('MatMul', [dY2, ctx.transpose(B2, swap(bd2.length))]);
        dA = finish(ctx, raw, A, A2, batch, ad2, ra === 1);
      }
      if (a.needs[1]) {
        if (bd2.length === 2 && ad2.length > 2 && rb === 2 && bd.every((d) => typeof d === 'number')) {
          const [k, nOut] = bd as number[];
          const a2 = ctx.reshape(A2, ctx.constI64([-1, k!]));
          const g2 = ctx.reshape(dY2, ctx.constI64([-1, nOut!]));
          dB = ctx.op('Gemm', [a2, g2], { transA: attr.int(1) });
        } else {
          const raw = ctx.op('MatMul', [ctx.transpose(A2, swap(ad2.length)), dY2]);
          dB = finish(ctx, raw, B, B2, batch, bd2, rb === 1);
        }
      }
      return [dA, dB];
    },
  });
}

/** Sums a product gradient over broadcast batch axes to the promoted operand's shape, then demotes. */
function finish(ctx: GradContext, raw: Value, operand: Value, promoted: Value, batch: Dim[] | undefined, pd: Dim[], demote: boolean): Value {
  const gradDims = batch ? [...batch, pd[pd.length - 2]!, pd[pd.length - 1]!] : undefined;
  ctx.setShape(raw, gradDims);
  const summed = ctx.unbroadcast(raw, promoted, gradDims);
  return demote ? ctx.reshapeLike(summed, operand) : summed;
}
