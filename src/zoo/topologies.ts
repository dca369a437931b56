/**
 * Reference topologies for hardware estimates, built as ONNX IR models with seeded random
 * weights (the estimates depend on the topology and bit widths, not on trained values):
 *
 * - CNV / VGG-8: FINN's CIFAR-10 BNN — 3×3 convolutions 64-64-pool-128-128-pool-256-256
 *   (unpadded, as in FINN's CNV), fully connected 512-512-10, input 32×32×3. BatchNorm and
 *   ReLU after every layer but the last.
 * - MobileNet-V1 (224×224×3, width 1.0): 3×3 conv 32 /2, then 13 depthwise-separable
 *   blocks (3×3 depthwise + 1×1 pointwise), global average pool, FC 1000.
 */
import { Graph, Model, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/dtype.js';
import { setTensorType } from '../ir/types.js';

/** Deterministic PRNG (mulberry32) for fixture weights. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Builder {
  readonly model: Model;
  readonly g: Graph;
  private readonly rand: () => number;
  private n = 0;

  constructor(name: string, inputShape: number[], seed: number) {
    this.g = new Graph(name);
    this.model = new Model(this.g);
    this.model.irVersion = 8n;
    this.model.opsetImports = [{ domain: '', version: 13 }];
    this.model.producerName = 'hbnn-onnx zoo';
    this.rand = rng(seed);
    const x = this.g.addInput('input');
    setTensorType(x, DataType.FLOAT, ['N', ...inputShape]);
  }

  get input(): Value {
    return this.g.inputs[0]!;
  }

  private param(name: string, dims: number[], scale: number, offset = 0): Value {
    const n = dims.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = offset + (this.rand() * 2 - 1) * scale;
    return this.g.addInitializer(Tensor.fromFloat32(name, dims, d));
  }

  private node(op: string, inputs: Value[], attrs: (n: ReturnType<Graph['createNode']>) => void = () => {}): Value {
    const id = `${op.toLowerCase()}${this.n++}`;
    const node = this.g.createNode(op, inputs, [`${id}_out`], { name: id });
    attrs(node);
    this.g.append(node);
    return node.outputs[0]!;
  }

  conv(x: Value, cin: number, cout: number, k: number, opts: { stride?: number; pad?: number; group?: number } = {}): Value {
    const group = opts.group ?? 1;
    const w = this.param(`conv${this.n}.weight`, [cout, cin / group, k, k], Math.sqrt(2 / ((cin / group) * k * k)));
    return this.node('Conv', [x, w], (n) => {
      n.setInts('kernel_shape', [k, k]);
      n.setInts('strides', [opts.stride ?? 1, opts.stride ?? 1]);
      n.setInts('pads', Array(4).fill(opts.pad ?? 0));
      if (group !== 1) n.setInt('group', group);
    });
  }

  bn(x: Value, c: number): Value {
    const id = this.n;
    const gamma = this.param(`bn${id}.gamma`, [c], 0.1, 1);
    const beta = this.param(`bn${id}.beta`, [c], 0.1);
    const mean = this.param(`bn${id}.mean`, [c], 0.1);
    const v = this.param(`bn${id}.var`, [c], 0.1, 1);
    return this.node('BatchNormalization', [x, gamma, beta, mean, v], (n) => n.setFloat('epsilon', 1e-5));
  }

  relu(x: Value): Value {
    return this.node('Relu', [x]);
  }

  maxpool(x: Value, k = 2): Value {
    return this.node('MaxPool', [x], (n) => {
      n.setInts('kernel_shape', [k, k]);
      n.setInts('strides', [k, k]);
    });
  }

  gap(x: Value): Value {
    return this.node('GlobalAveragePool', [x]);
  }

  flatten(x: Value): Value {
    return this.node('Flatten', [x], (n) => n.setInt('axis', 1));
  }

  fc(x: Value, cin: number, cout: number, bias = true): Value {
    const w = this.param(`fc${this.n}.weight`, [cout, cin], Math.sqrt(2 / cin));
    const inputs = [x, w];
    if (bias) inputs.push(this.param(`fc${this.n}.bias`, [cout], 0.01));
    return this.node('Gemm', inputs, (n) => n.setInt('transB', 1));
  }

  output(y: Value, classes: number): Model {
    const name = 'logits';
    this.g.renameValue(y, name);
    setTensorType(y, DataType.FLOAT, ['N', classes]);
    this.g.outputs.push(y);
    return this.model;
  }
}

/** FINN's CNV (VGG-8 style) topology for CIFAR-10. */
export function buildCnv(seed = 1): Model {
  const b = new Builder('cnv', [3, 32, 32], seed);
  let x = b.input;
  const convs: [number, number, boolean][] = [
    [3, 64, false],
    [64, 64, true],
    [64, 128, false],
    [128, 128, true],
    [128, 256, false],
    [256, 256, false],
  ];
  for (const [cin, cout, pool] of convs) {
    x = b.relu(b.bn(b.conv(x, cin, cout, 3), cout));
    if (pool) x = b.maxpool(x);
  }
  // 32 → 30 → 28 → pool 14 → 12 → 10 → pool 5 → 3 → 1: 256 × 1 × 1
  x = b.flatten(x);
  x = b.relu(b.bn(b.fc(x, 256, 512, false), 512));
  x = b.relu(b.bn(b.fc(x, 512, 512, false), 512));
  return b.output(b.fc(x, 512, 10, false), 10);
}

/** MobileNet-V1 (width 1.0, 224×224) topology. */
export function buildMobileNetV1(seed = 1): Model {
  const b = new Builder('mobilenet_v1', [3, 224, 224], seed);
  let x = b.relu(b.bn(b.conv(b.input, 3, 32, 3, { stride: 2, pad: 1 }), 32));
  const blocks: [number, number, number][] = [
    [32, 64, 1], [64, 128, 2], [128, 128, 1], [128, 256, 2], [256, 256, 1], [256, 512, 2],
    [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 1024, 2], [1024, 1024, 1],
  ];
  for (const [cin, cout, stride] of blocks) {
    x = b.relu(b.bn(b.conv(x, cin, cin, 3, { stride, pad: 1, group: cin }), cin));
    x = b.relu(b.bn(b.conv(x, cin, cout, 1), cout));
  }
  x = b.flatten(b.gap(x));
  return b.output(b.fc(x, 1024, 1000), 1000);
}
