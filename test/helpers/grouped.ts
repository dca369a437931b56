/**
 * A small network of grouped and depthwise convolutions (test/backends/vivado-hls/grouped.test.ts,
 * test/backends/verilog/zoo-rtl.test.ts): a depthwise convolution with channel multiplier 2 on
 * the fixed-point input, a pointwise convolution, a grouped convolution (group 4, 4 output
 * channels per group), a depthwise convolution with padding, a Gemm; and the folding the tests use.
 */
import type { Model } from '../../src/ir/graph.js';
import { A, addFloatInit, addInput, addNode, newModel } from './build.js';
import { setTensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/ir/dtype.js';

/** Sample shape of the grouped-convolution net. */
export const GROUPED_SHAPE = [4, 10, 10] as const;
const SHAPE = GROUPED_SHAPE;

/** Seeded uniform values in [-1, 1) (an LCG: inputs and weights of the grouped net). */
export function uniform(n: number, seed: number): Float32Array {
  const d = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    d[i] = (s / 4294967296) * 2 - 1;
  }
  return d;
}

/**
 * dw0: depthwise 4→8 (multiplier 2), 3×3 pad 1 · pw1: 8→16 1×1 · grp2: 16→16 3×3 group 4
 * stride 2 (10→4) · dw3: depthwise 16, 3×3 pad 1 · Gemm 256→10; BN + ReLU after each conv.
 */
export function buildGroupedNet(): Model {
  const m = newModel();
  const g = m.graph;
  let x = addInput(g, 'input', ['N', ...SHAPE]);
  let n = 0;
  const conv = (name: string, cin: number, cout: number, k: number, o: { group?: number; pad?: number; stride?: number } = {}): void => {
    const group = o.group ?? 1;
    const fan = (cin / group) * k * k;
    const w = addFloatInit(g, `${name}.w`, [cout, cin / group, k, k], uniform(cout * fan, 11 + n));
    const pad = o.pad ?? 0;
    x = addNode(
      g,
      'Conv',
      [x, w],
      [`${name}_out`],
      { kernel_shape: A.ints([k, k]), pads: A.ints([pad, pad, pad, pad]), strides: A.ints([o.stride ?? 1, o.stride ?? 1]), ...(group > 1 ? { group: A.int(group) } : {}) },
      { name },
    ).outputs[0]!;
    const c = (what: string, base: number, spread: number): ReturnType<typeof addFloatInit> =>
      addFloatInit(g, `${name}.${what}`, [cout], Array.from({ length: cout }, (_, i) => base + spread * Math.sin(i * 1.3 + n)));
    x = addNode(g, 'BatchNormalization', [x, c('gamma', 1, 0.2), c('beta', 0.1, 0.3), c('mean', 0, 0.2), c('var', 1.5, 0.3)], [`${name}_bn`], { epsilon: A.float(1e-5) }, { name: `${name}_bn` }).outputs[0]!;
    x = addNode(g, 'Relu', [x], [`${name}_relu`]).outputs[0]!;
    n++;
  };
  conv('dw0', 4, 8, 3, { group: 4, pad: 1 });
  conv('pw1', 8, 16, 1);
  conv('grp2', 16, 16, 3, { group: 4, stride: 2 });
  conv('dw3', 16, 16, 3, { group: 16, pad: 1 });
  x = addNode(g, 'Flatten', [x], ['flat'], { axis: A.int(1) }).outputs[0]!;
  const w = addFloatInit(g, 'fc.w', [10, 256], uniform(2560, 99));
  const y = addNode(g, 'Gemm', [x, w], ['logits'], { transB: A.int(1) }, { name: 'fc' }).outputs[0]!;
  setTensorType(y, DataType.FLOAT, ['N', 10]);
  g.outputs.push(y);
  return m;
}

// dw0: MH 8, MW 9 · pw1: MH 16, MW 8 · grp2: MH 16, MW 36 (PE 8 = two groups of 4 rows) · dw3: MH 16, MW 9 (SF 3, PE 4: shared combiners when several terms).
export const GROUPED_FOLDING = { layers: { dw0: { pe: 4, simd: 9 }, pw1: { pe: 4, simd: 8 }, grp2: { pe: 8, simd: 36 }, dw3: { pe: 4, simd: 3 }, fc: { pe: 2, simd: 64 } } };
