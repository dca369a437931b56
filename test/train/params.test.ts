/**
 * The TypeScript side of a step: latent weights and their quantized form, the optimizer and
 * schedules against their formulas, and checkpoint integrity.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { quantize } from '../../src/drivers/quantize.js';
import { readQuantRecord, writeQuantRecord } from '../../src/quant/format.js';
import { toChannelMajor } from '../../src/quant/targets.js';
import { binarizeWithBitMap } from '../../src/hbnn/index.js';
import { encodeModel, decodeModel } from '../../src/onnx/io.js';
import { createSession, runSession, ort } from '../../src/runtime/ort.js';
import { findWeightCall, readWeightCall } from '../../src/quant/planes.js';
import { HbnnError, ErrorCodes } from '../../src/errors.js';
import { buildTrainingGraph } from '../../src/train/grad/builder.js';
import { collectParams, dequantizeRecorded, writeParams, channelLayout, collectBatchNorms, applyWeightSte } from '../../src/train/params.js';
import { Optimizer, learningRate } from '../../src/train/optimizer.js';
import { optimizerWasm, updatableArray } from '../../src/train/optimizer-wasm.js';
import { wasmKernels } from '../../src/hbnn/wasm-kernels.js';
import { mulberry32 } from '../../src/hbnn/index.js';
import { saveCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { A, Net } from './helpers/gradcheck.js';
import { loadCnn, tmpDir } from './helpers/data.js';
import type { Model } from '../../src/ir/graph.js';

const bytes = (x: ArrayBufferView): Buffer => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

/** Ŵ of every BinarizedWeight call of a quantized fmnist-cnn as onnxruntime computes it (the calls' outputs made graph outputs). */
async function ortWeights(m: Model): Promise<Record<string, Float32Array>> {
  const c = decodeModel(encodeModel(m));
  const rec = readQuantRecord(c)!;
  const names: Record<string, string> = {};
  for (const w of rec.weights) {
    const call = c.graph.get(w.planes)!.uses[0]!.node;
    names[w.tensor] = call.outputs[0]!.name;
    c.graph.outputs.push(call.outputs[0]!);
  }
  const s = await createSession(c, { optimization: 'disabled', weights: 'as-written' });
  const out = await runSession(s, { input: new ort.Tensor('float32', new Float32Array(784), [1, 1, 28, 28]) });
  await s.release();
  return Object.fromEntries(Object.entries(names).map(([k, v]) => [k, out[v]!.data as Float32Array]));
}

/**
 * One training step's view of the binarized weights, then the written model: the latent
 * values moved a little, bit maps frozen first when asked; returns the Ŵ each binarized
 * parameter used, the written model and its quantization record.
 */
/**
 * The optimizer's sum |w| handed to the step's re-binarization gives the same Ŵ as a
 * re-binarization that sums itself; in a transposed layout (channel axis 1) it is not the
 * channel-major order's sum and is ignored; with a frozen bit map (heteroBinarize with sumAbs) too.
 */
function expectSumAbsShortcutExact(bin: ReturnType<typeof collectParams>): void {
  for (const p of bin) {
    const sum = p.value.reduce((a, v) => a + Math.abs(v), 0);
    const plain = p.binarizer!.binarize(p.value);
    expect(Array.from(p.binarizer!.binarize(p.value, true, sum)), p.name).toEqual(Array.from(plain));
    expect(Array.from(p.binarizer!.binarize(p.value, true, p.binarizer!.layout.channelAxis === 1 ? sum * 2 : sum)), p.name).toEqual(Array.from(plain));
    p.binarizer!.freeze(p.value.map((v, i) => v * (1 + (i % 3) * 0.1)));
    const frozenPlain = p.binarizer!.binarize(p.value);
    expect(Array.from(p.binarizer!.binarize(p.value, true, sum)), `${p.name} frozen`).toEqual(Array.from(frozenPlain));
    p.binarizer!.frozen = null;
  }
}

function stepAndWrite(q: Model, tg: ReturnType<typeof buildTrainingGraph>, params: ReturnType<typeof collectParams>, frozen: boolean) {
  const bin = params.filter((p) => p.kind === 'binarized');
  for (const p of bin) {
    for (let i = 0; i < p.value.length; i++) p.value[i] = p.value[i]! * 0.9 + 0.05 * Math.sin(i);
    if (frozen) p.binarizer!.freeze(p.value);
  }
  const used = bin.map((p) => p.binarizer!.binarize(p.value).slice());
  const out = decodeModel(encodeModel(q));
  writeParams(out, params, collectBatchNorms(q, tg));
  return { used, out, rec: readQuantRecord(out)! };
}

describe('latent weights and the quantized format', () => {
  it('latent weights from a quantized model are its Ŵ, bit for bit what onnxruntime computes (per-channel scales)', async () => {
    const q = loadCnn();
    await quantize(q, { avgBits: 1.4, perChannel: true });
    const tg = buildTrainingGraph(q);
    const params = collectParams(q, tg);
    const ref = await ortWeights(q);
    for (const p of params.filter((x) => x.kind === 'binarized')) expect(Array.from(p.value), p.name).toEqual(Array.from(ref[p.name]!));
  });

  it('the written model holds exactly the Ŵ the training step used (recomputed and frozen bit maps, Gemm and MatMul layouts)', async () => {
    const net = new Net(['N', 6]);
    const h = net.node('Gemm', [net.x, net.param('g0', [6, 8])], { transB: A.int(0) }); // channel axis 1
    const m = net.node('MatMul', [net.node('Relu', [h]), net.param('m1', [8, 5])]); // channel axis 1
    const float = net.output(net.node('Gemm', [m, net.param('g2', [3, 5])], { transB: A.int(1) }));
    for (const perChannel of [false, true]) {
      const q = decodeModel(encodeModel(float));
      await quantize(q, { avgBits: 1.4, heuristic: 'middle-out', perChannel, scalingLayer: false });
      const tg = buildTrainingGraph(q);
      const params = collectParams(q, tg, float);
      const bin = params.filter((p) => p.kind === 'binarized');
      expect(bin.map((p) => p.binarizer!.layout.channelAxis)).toEqual([1, 1, 0]);
      expectSumAbsShortcutExact(bin);
      for (const frozen of [false, true]) {
        const { used, out, rec } = stepAndWrite(q, tg, params, frozen);
        bin.forEach((p, k) => {
          const w = rec.weights.find((r) => r.tensor === p.name)!;
          const layout = channelLayout(w.op, out.graph.nodes.find((n) => n.name === w.node)!.attrInt('transB', 0), w.shape);
          expect(Array.from(dequantizeRecorded(out, w, layout)), `${p.name} perChannel=${perChannel} frozen=${frozen}`).toEqual(Array.from(used[k]!));
          expect(w.histogram.reduce((a, b) => a + b, 0)).toBe(p.value.length);
        });
      }
    }
  });
  it('binarized weights of 4,096+ entries live in one KernelArena: re-binarization and SGD run there in place (Ŵ a view of it), bit for bit plain arrays and the JavaScript passes', async () => {
    const q = loadCnn();
    await quantize(q, { avgBits: 1.4 });
    const tg = buildTrainingGraph(q);
    const a = collectParams(q, tg);
    const b = collectParams(q, tg);
    for (const p of b) {
      if (p.kind !== 'binarized') continue;
      const n = p.value.length;
      p.value = p.value.slice();
      p.binarizer!.placeBuffers(new Float32Array(n), new Uint8Array(n), new Uint8Array(n));
    }
    const bin = a.filter((p) => p.kind === 'binarized');
    const big = bin.filter((p) => p.value.length >= 4096);
    expect(big.map((p) => p.name)).toEqual(['c2.weight', 'c3.weight', 'fc.weight']);
    const arena = big[0]!.value.buffer;
    for (const p of big) expect(p.value.buffer).toBe(arena);
    for (const p of bin) if (p.value.length < 4096) expect(p.value.buffer.byteLength).toBe(4 * p.value.length);
    const opts = { kind: 'sgd' as const, momentum: 0.9, weightDecay: 1e-4, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    const [oa, ob] = [new Optimizer(opts), new Optimizer(opts)];
    const sums: (number | undefined)[][] = [[], []];
    const binds = wasmKernels.arenaBinds;
    const inPlace = optimizerWasm.inPlace;
    const steps = 4;
    for (let t = 1; t <= steps; t++) {
      const hatA = a.map((p, i) => (p.kind === 'binarized' ? p.binarizer!.binarize(p.value, true, sums[0]![i]) : null));
      wasmKernels.enabled = false;
      optimizerWasm.enabled = false;
      try {
        const hatB = b.map((p, i) => (p.kind === 'binarized' ? p.binarizer!.binarize(p.value, true, sums[1]![i]) : null));
        a.forEach((p, i) => {
          if (p.kind !== 'binarized') return;
          if (p.value.length >= 4096) expect(hatA[i]!.buffer, p.name).toBe(arena); // handed to onnxruntime as a view
          expect(bytes(hatA[i]!).equals(bytes(hatB[i]!)), `${p.name} step ${t}`).toBe(true);
        });
        ob.beginStep();
        b.forEach((p, i) => {
          expect(ob.update(p.name, p.value, Float32Array.from(p.value, (_, k) => Math.cos(k * 0.37 + i + t) * 0.3), 1.5, p.kind === 'binarized' ? 1 : Infinity)).toBe(true);
          sums[1]![i] = ob.lastSumAbs;
        });
      } finally {
        wasmKernels.enabled = true;
        optimizerWasm.enabled = true;
      }
      oa.beginStep();
      a.forEach((p, i) => {
        expect(oa.update(p.name, p.value, Float32Array.from(p.value, (_, k) => Math.cos(k * 0.37 + i + t) * 0.3), 1.5, p.kind === 'binarized' ? 1 : Infinity)).toBe(true);
        sums[0]![i] = oa.lastSumAbs;
        expect(sums[0]![i]).toBe(sums[1]![i]);
        expect(bytes(p.value).equals(bytes(b[i]!.value)), `${p.name} step ${t}`).toBe(true);
        expect(bytes(oa.state.get(p.name)!.get('momentum')!).equals(bytes(ob.state.get(p.name)!.get('momentum')!))).toBe(true);
      });
    }
    expect(wasmKernels.arenaBinds - binds).toBe(3 * steps);
    expect(optimizerWasm.inPlace - inPlace).toBe(3 * (steps - 1)); // step 1 is the first-step loop
    expect(bin.some((p) => p.value.some((v) => Math.abs(v) > 1))).toBe(true); // the clipped STE took part
  });
});

describe('row-granular bit maps in training', () => {
  /** Bitwidth per output channel of a written weight (planes of the model); throws on a mixed channel. */
  function channelWidths(m: Model, planes: string, shape: number[], axis: number): number[] {
    const wc = readWeightCall(findWeightCall(m.graph, planes)!);
    const t = { dims: [wc.k] };
    const p = wc.planes;
    const n = shape.reduce((a, b) => a * b, 1);
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const widths = new Array<number>(shape[axis]!).fill(-1);
    for (let j = 0; j < n; j++) {
      let bits = 0;
      for (let i = 0; i < t.dims[0]!; i++) if (p[i * n + j] !== 0) bits++;
      const c = Math.floor(j / stride) % shape[axis]!;
      if (widths[c] !== -1 && widths[c] !== bits) throw new Error(`${planes}: channel ${c} mixes ${widths[c]} and ${bits} bits`);
      widths[c] = bits;
    }
    return widths;
  }

  it('the binarizer follows the record: one bitwidth per output channel, recomputed and frozen, Gemm and MatMul layouts', async () => {
    const net = new Net(['N', 6]);
    const h = net.node('Gemm', [net.x, net.param('g0', [6, 20])], { transB: A.int(0) }); // channel axis 1
    const m = net.node('MatMul', [net.node('Relu', [h]), net.param('m1', [20, 10])]); // channel axis 1
    const float = net.output(net.node('Gemm', [m, net.param('g2', [10, 10])], { transB: A.int(1) })); // channel axis 0
    for (const perChannel of [false, true]) {
      const q = decodeModel(encodeModel(float));
      await quantize(q, { avgBits: 1.4, heuristic: perChannel ? 'middle-out-residual' : 'middle-out', perChannel, granularity: 'row', scalingLayer: false });
      const tg = buildTrainingGraph(q);
      const params = collectParams(q, tg, float);
      const bin = params.filter((p) => p.kind === 'binarized');
      expect(bin.map((p) => p.binarizer!.spec.granularity)).toEqual(['row', 'row', 'row']);
      expectSumAbsShortcutExact(bin);
      for (const frozen of [false, true]) {
        const { used, out, rec } = stepAndWrite(q, tg, params, frozen);
        bin.forEach((p, k) => {
          const w = rec.weights.find((r) => r.tensor === p.name)!;
          expect(w.granularity).toBe('row');
          const layout = p.binarizer!.layout;
          const label = `${p.name} perChannel=${perChannel} frozen=${frozen}`;
          expect(Array.from(dequantizeRecorded(out, w, layout)), label).toEqual(Array.from(used[k]!));
          const widths = channelWidths(out, w.planes, w.shape, layout.channelAxis);
          expect(new Set(widths).size, label).toBeGreaterThan(1);
          // what binarizeWithBitMap gives with rows = the output channels, on the channel-major weight
          const cm = toChannelMajor(p.value, w.shape, layout.channelAxis);
          const want = binarizeWithBitMap(
            cm,
            { heuristic: w.heuristic as 'middle-out', dist: w.distribution, maxBits: w.distribution.length, seed: 0, rows: layout.channels, ...(perChannel ? { scaleChannels: layout.channels } : {}) },
            perChannel ? { channels: layout.channels } : {},
          );
          const size = cm.length / layout.channels;
          const wantWidths = Array.from({ length: layout.channels }, (_, c) => want.map.bitMap[c * size]!);
          if (!frozen) expect(widths, label).toEqual(wantWidths);
        });
      }
    }
  });

  it('a record with an unknown granularity is onnx-invalid', async () => {
    const q = loadCnn();
    await quantize(q, { avgBits: 1.4 });
    const rec = readQuantRecord(q)!;
    (rec.weights[1] as { granularity?: string }).granularity = 'column';
    writeQuantRecord(q, rec);
    let err: unknown;
    try {
      collectParams(q, buildTrainingGraph(q));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HbnnError);
    expect((err as HbnnError).code).toBe(ErrorCodes.ONNX_INVALID);
    expect((err as HbnnError).message).toMatch(/granularity "column"/);
  });
});

describe('optimizer and schedules', () => {
  it('SGD with momentum and weight decay follows torch.optim.SGD', () => {
    const o = new Optimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 0.1, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const w = Float32Array.of(1, -2);
    // step 1: g' = g + wd w = [0.6, -0.7]; v = g'; w -= 0.5 v
    o.beginStep();
    o.update('w', w, Float32Array.of(0.5, -0.5), 0.5);
    expect(Array.from(w)).toEqual([Math.fround(0.7), Math.fround(-1.65)]);
    // step 2: g' = [0 + 0.07, 0 - 0.165]; v = 0.9 v + g'
    o.beginStep();
    o.update('w', w, Float32Array.of(0, 0), 0.5);
    const v = [0.9 * 0.6 + 0.07, 0.9 * -0.7 - 0.165];
    expect(w[0]).toBeCloseTo(0.7 - 0.5 * v[0]!, 6);
    expect(w[1]).toBeCloseTo(-1.65 - 0.5 * v[1]!, 6);
  });

  it('Adam follows torch.optim.Adam (bias-corrected first step moves by lr·sign(g))', () => {
    const o = new Optimizer({ kind: 'adam', momentum: 0.9, weightDecay: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const w = Float32Array.of(1, 1);
    o.beginStep();
    o.update('w', w, Float32Array.of(0.3, -4), 0.01);
    expect(w[0]).toBeCloseTo(0.99, 6);
    expect(w[1]).toBeCloseTo(1.01, 6);
    expect(o.slotNames()).toEqual(['m', 'v']);
  });

  it('every optimizer form gives, bit for bit, the plain per-element loop (float64 per element, stored as float32)', () => {
    // The reference: the formulas of docs/training.md written as one loop with every option a branch.
    type Opts = ConstructorParameters<typeof Optimizer>[0];
    const reference = (o: Opts, w: Float32Array, g: Float32Array, slots: Float32Array[], lr: number, t: number, first: boolean): void => {
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]! + o.weightDecay * w[i]!;
        if (o.kind === 'adam') {
          slots[0]![i] = o.beta1 * slots[0]![i]! + (1 - o.beta1) * gi;
          slots[1]![i] = o.beta2 * slots[1]![i]! + (1 - o.beta2) * gi * gi;
          w[i] = w[i]! - (lr * (slots[0]![i]! / (1 - o.beta1 ** t))) / (Math.sqrt(slots[1]![i]! / (1 - o.beta2 ** t)) + o.eps);
        } else if (o.momentum === 0) {
          w[i] = w[i]! - lr * gi;
        } else {
          slots[0]![i] = first ? gi : o.momentum * slots[0]![i]! + gi;
          w[i] = w[i]! - lr * (o.nesterov ? gi + o.momentum * slots[0]![i]! : slots[0]![i]!);
        }
      }
    };
    const forms: Opts[] = [
      { kind: 'sgd', momentum: 0.9, weightDecay: 1e-4, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      { kind: 'sgd', momentum: 0.9, weightDecay: 1e-4, nesterov: true, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      { kind: 'sgd', momentum: 0, weightDecay: 1e-3, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      { kind: 'adam', momentum: 0.9, weightDecay: 1e-4, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    ];
    const wasmCalls = optimizerWasm.calls;
    // n = 5003: SGD with momentum runs its WebAssembly kernel (optimizer-wasm.ts) from step 2
    for (const [form, clip, n] of forms.flatMap((f) => [undefined, 1].flatMap((c) => [257, 5003].map((m) => [f, c, m] as const)))) {
      {
        // |w| up to 1.3: with clip 1, the clipped STE zeroes part of the gradient
        const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * 1.3);
        const ref = w.slice();
        const slots = [new Float32Array(n), new Float32Array(n)];
        const o = new Optimizer(form);
        for (let t = 1; t <= 5; t++) {
          const g = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.3 + t) * 0.05);
          const g0 = g.slice();
          o.beginStep();
          expect(o.update('w', w, g, 0.01 * t, clip)).toBe(true);
          // the sum |w| the re-binarization takes: float64, index order, of the stored weights
          expect(o.lastSumAbs).toBe(w.reduce((a, v) => a + Math.abs(v), 0));
          expect(Buffer.from(g.buffer).equals(Buffer.from(g0.buffer))).toBe(true); // g is not written
          // the reference: the STE as its own pass (applyWeightSte), then the update
          if (clip !== undefined) applyWeightSte(g0, ref);
          reference(form, ref, g0, slots, 0.01 * t, t, t === 1);
          expect(Buffer.from(w.buffer).equals(Buffer.from(ref.buffer)), `${form.kind} momentum ${form.momentum} nesterov ${form.nesterov} clip ${clip} step ${t}`).toBe(true);
        }
        if (clip !== undefined) expect(w.some((v) => Math.abs(v) > 1)).toBe(true);
      }
    }
    expect(optimizerWasm.calls - wasmCalls).toBe(2 * 4); // two clips, steps 2..5
  });

  it('weights in a memory of their own (updatableArray) are updated in place, bit for bit as plain arrays; a replaced momentum falls back to copies', () => {
    const opts = { kind: 'sgd' as const, momentum: 0.9, weightDecay: 1e-4, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    const n = 7001;
    const init = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * 1.3);
    const own = updatableArray(init);
    expect(own.buffer.byteLength).toBeGreaterThanOrEqual(12 * n); // beside its gradient and momentum
    expect(Buffer.from(own.buffer, own.byteOffset, own.byteLength).equals(Buffer.from(init.buffer))).toBe(true);
    const plain = init.slice();
    const a = new Optimizer(opts);
    const b = new Optimizer(opts);
    optimizerWasm.enabled = false; // b: the JavaScript loop
    const inPlace = optimizerWasm.inPlace;
    try {
      for (let t = 1; t <= 6; t++) {
        const g = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.3 + t) * 0.05);
        if (t === 4) {
          // a checkpoint restore replaces the slot with a plain array: the copying path, same bytes
          a.state.get('w')!.set('momentum', a.state.get('w')!.get('momentum')!.slice());
        }
        optimizerWasm.enabled = true;
        a.beginStep();
        expect(a.update('w', own, g, 0.01, 1)).toBe(true);
        const sumA = a.lastSumAbs;
        optimizerWasm.enabled = false;
        b.beginStep();
        expect(b.update('w', plain, g, 0.01, 1)).toBe(true);
        expect(Buffer.from(own.buffer, own.byteOffset, own.byteLength).equals(Buffer.from(plain.buffer))).toBe(true);
        expect(sumA).toBe(b.lastSumAbs);
      }
    } finally {
      optimizerWasm.enabled = true;
    }
    expect(optimizerWasm.inPlace - inPlace).toBe(2); // steps 2 and 3; step 1 is the first-step loop, 4-6 copy
    // small arrays stay plain
    expect(updatableArray(new Float32Array(100)).buffer.byteLength).toBe(400);
  });

  it('the WebAssembly SGD-momentum kernel sums |w| in index order (weights over 30 binades, where the float64 sum rounds)', () => {
    const o = new Optimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 1e-4, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const n = 4097 * 3 + 2;
    const rng = mulberry32(9);
    const w = updatableArray(Float32Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * 2 ** (-30 * rng.next())));
    const plain = w.slice();
    const b = new Optimizer(o.opts);
    const calls = optimizerWasm.calls;
    for (let t = 1; t <= 3; t++) {
      // gradient on every fifth weight only: the others keep their range (a dense step would lift the small ones)
      const g = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? Math.cos(i * 0.3 + t) * 0.01 : 0));
      o.beginStep();
      o.update('w', w, g, 0.01, 1);
      const forward = w.reduce((a, v) => a + Math.abs(v), 0);
      expect(o.lastSumAbs).toBe(forward);
      // the order matters for these weights: summed backwards, the float64 sum differs
      expect(w.reduceRight((a, v) => a + Math.abs(v), 0)).not.toBe(forward);
      optimizerWasm.enabled = false;
      try {
        b.beginStep();
        b.update('w', plain, g, 0.01, 1);
      } finally {
        optimizerWasm.enabled = true;
      }
      expect(bytes(w).equals(bytes(plain))).toBe(true);
    }
    expect(optimizerWasm.calls - calls).toBe(2);
  });

  it('the WebAssembly SGD-momentum kernel reports a non-finite weight as the loop does', () => {
    const o = new Optimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const n = 6000;
    const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    o.beginStep();
    expect(o.update('w', w, new Float32Array(n), 1)).toBe(true);
    w[4321] = 3.4e38;
    const g = new Float32Array(n);
    g[4321] = -1e38;
    const calls = optimizerWasm.calls;
    o.beginStep();
    expect(o.update('w', w, g, 1)).toBe(false);
    expect(optimizerWasm.calls).toBe(calls + 1);
    expect(w[4321]).toBe(Infinity);
    expect(o.lastSumAbs).toBe(Infinity);
  });

  it('update reports a weight that is not finite as stored (float32 overflow, NaN)', () => {
    for (const kind of ['sgd', 'adam'] as const) {
      for (const momentum of [0, 0.9]) {
        const o = new Optimizer({ kind, momentum, weightDecay: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
        o.beginStep();
        // 3.4e38 + 1e38 is finite in float64, ∞ in float32 (SGD); Adam moves by lr·sign(g) at step 1
        const w = Float32Array.of(0.5, 3.4e38, 0.25);
        const lr = kind === 'adam' ? 1e38 : 1;
        expect(o.update('w', w, Float32Array.of(0, kind === 'adam' ? -1 : -1e38, 0), lr), `${kind} ${momentum}`).toBe(false);
        expect(w[1]).toBe(Infinity);
        expect(o.lastSumAbs).toBe(Infinity);
        expect(o.update('v', Float32Array.of(1, 2), Float32Array.of(NaN, 0), 0.1)).toBe(false);
        expect(o.update('u', Float32Array.of(1, 2), Float32Array.of(0.5, 0), 0.1)).toBe(true);
      }
    }
  });

  it('cosine, step and constant schedules', () => {
    const s = { lr: 0.1, stepEpochs: 2, gamma: 0.5 };
    expect(learningRate({ ...s, kind: 'cosine' }, 0, 100, 10)).toBeCloseTo(0.1, 12);
    expect(learningRate({ ...s, kind: 'cosine' }, 50, 100, 10)).toBeCloseTo(0.05, 12);
    expect(learningRate({ ...s, kind: 'cosine' }, 100, 100, 10)).toBeCloseTo(0, 12);
    expect([0, 19, 20, 40].map((t) => learningRate({ ...s, kind: 'step' }, t, 100, 10))).toEqual([0.1, 0.1, 0.05, 0.025]);
    expect(learningRate({ ...s, kind: 'constant' }, 77, 100, 10)).toBe(0.1);
  });
});

describe('checkpoints', () => {
  const state = {
    mode: 'float' as const,
    fingerprint: 'f',
    epoch: 1,
    stepInEpoch: 2,
    globalStep: 7,
    seed: 0,
    rng: 123,
    optimizer: { kind: 'sgd', t: 7 },
    bitMapsFrozen: false,
    best: null,
    epochs: [],
    options: {},
  };

  it('round-trips tensors and refuses a binary that does not match its checksum', () => {
    const dir = tmpDir('ckpt');
    const file = saveCheckpoint(dir, 'last', state, [
      { role: 'param', name: 'w', dims: [3], data: Float32Array.of(1, 2, 3) },
      { role: 'bitmap', name: 'w', dims: [3], data: Uint8Array.of(1, 2, 3) },
    ]);
    const ck = loadCheckpoint(dir);
    expect(ck.file).toBe(file);
    expect(Array.from(ck.tensors.get('param:w')!)).toEqual([1, 2, 3]);
    expect(ck.tensors.get('bitmap:w')).toBeInstanceOf(Uint8Array);
    // a newer save replaces the old binary
    saveCheckpoint(dir, 'last', { ...state, globalStep: 8 }, [{ role: 'param', name: 'w', dims: [3], data: Float32Array.of(4, 5, 6) }]);
    expect(fs.readdirSync(dir).sort()).toEqual(['last.8.bin', 'last.json']);
    const bin = path.join(dir, 'last.8.bin');
    const bytes = fs.readFileSync(bin);
    bytes[0] ^= 1;
    fs.writeFileSync(bin, bytes);
    let err: unknown;
    try {
      loadCheckpoint(path.join(dir, 'last.json'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HbnnError);
    expect((err as HbnnError).code).toBe(ErrorCodes.DATA_FORMAT);
    expect(() => loadCheckpoint(path.join(dir, 'missing.json'))).toThrow(/no such file/);
  });
});
