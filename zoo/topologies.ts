/**
 * Reference topologies for hardware estimates, built as ONNX IR models with seeded random
 * weights (the estimates depend on the topology and bit widths, not on trained values):
 *
 * - CNV / VGG-8: FINN's CIFAR-10 BNN — 3×3 convolutions 64-64-pool-128-128-pool-256-256
 *   (unpadded, as in FINN's CNV), fully connected 512-512-10, input 32×32×3. BatchNorm and
 *   ReLU after every layer but the last.
 * - MobileNet-V1 (224×224×3, width 1.0): 3×3 conv 32 /2, then 13 depthwise-separable
 *   blocks (3×3 depthwise + 1×1 pointwise), global average pool, FC 1000.
 *
 * And, for the hardware path of real architectures (issue 16), small-by-parameter versions of
 * the op families real models use: ResNet-20 (residual Add, 1×1 projection shortcuts,
 * GlobalAveragePool), MobileNetV2 (depthwise-separable, inverted residuals, ReLU6 as Clip),
 * SqueezeNet (fire modules with Concat), a pooling net (AveragePool, LeakyRelu) and a
 * PyTorch-style export (Identity on a shared weight, literal batch 1 in a Reshape). Any of
 * them can end in a Softmax. test/helpers/zoo.ts lists the test-size fixtures.
 */
import { Graph, Model, type Value } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { DataType } from '../src/ir/dtype.js';
import { setTensorType } from '../src/ir/types.js';
import { mulberry32 } from '../src/hbnn/prng.js';

/** Deterministic fixture weights: the project's PRNG (src/hbnn/prng.ts). */
function rng(seed: number): () => number {
  return mulberry32(seed).next;
}

class Builder {
  readonly model: Model;
  readonly g: Graph;
  private readonly rand: () => number;
  private n = 0;

  constructor(name: string, inputShape: number[], seed: number, batch: number | 'N' = 'N') {
    this.g = new Graph(name);
    this.model = new Model(this.g);
    this.model.irVersion = 8n;
    this.model.opsetImports = [{ domain: '', version: 13 }];
    this.model.producerName = 'hbnn-onnx zoo';
    this.rand = rng(seed);
    const x = this.g.addInput('input');
    setTensorType(x, DataType.FLOAT, [batch, ...inputShape]);
    this.batch = batch;
  }

  readonly batch: number | 'N';

  get input(): Value {
    return this.g.inputs[0]!;
  }

  param(name: string, dims: number[], scale: number, offset = 0): Value {
    const n = dims.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = offset + (this.rand() * 2 - 1) * scale;
    return this.g.addInitializer(Tensor.fromFloat32(name, dims, d));
  }

  node(op: string, inputs: Value[], attrs: (n: ReturnType<Graph['createNode']>) => void = () => {}): Value {
    const id = `${op.toLowerCase()}${this.n++}`;
    const node = this.g.createNode(op, inputs, [`${id}_out`], { name: id });
    attrs(node);
    this.g.append(node);
    return node.outputs[0]!;
  }

  conv(x: Value, cin: number, cout: number, k: number, opts: { stride?: number; pad?: number; group?: number; weight?: Value; bias?: boolean; biasOffset?: number } = {}): Value {
    const group = opts.group ?? 1;
    const w = opts.weight ?? this.param(`conv${this.n}.weight`, [cout, cin / group, k, k], Math.sqrt(2 / ((cin / group) * k * k)));
    const inputs = [x, w];
    if (opts.bias) inputs.push(this.param(`conv${this.n}.bias`, [cout], 0.05, opts.biasOffset ?? 0));
    return this.node('Conv', inputs, (n) => {
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

  maxpool(x: Value, k = 2, stride = k, ceil = false): Value {
    return this.node('MaxPool', [x], (n) => {
      n.setInts('kernel_shape', [k, k]);
      n.setInts('strides', [stride, stride]);
      if (ceil) n.setInt('ceil_mode', 1);
    });
  }

  /** ReLU6 / hardtanh as Clip (opset 13: bounds as constant inputs). */
  clip(x: Value, lo: number, hi: number): Value {
    const id = this.n;
    const min = this.g.addInitializer(Tensor.fromFloat32(`clip${id}.min`, [], Float32Array.of(lo)));
    const max = this.g.addInitializer(Tensor.fromFloat32(`clip${id}.max`, [], Float32Array.of(hi)));
    return this.node('Clip', [x, min, max]);
  }

  leakyRelu(x: Value, alpha: number): Value {
    return this.node('LeakyRelu', [x], (n) => n.setFloat('alpha', alpha));
  }

  add(a: Value, b: Value): Value {
    return this.node('Add', [a, b]);
  }

  concat(xs: Value[]): Value {
    return this.node('Concat', xs, (n) => n.setInt('axis', 1));
  }

  avgpool(x: Value, k: number, stride: number, pad = 0, countIncludePad = false): Value {
    return this.node('AveragePool', [x], (n) => {
      n.setInts('kernel_shape', [k, k]);
      n.setInts('strides', [stride, stride]);
      n.setInts('pads', Array(4).fill(pad));
      if (countIncludePad) n.setInt('count_include_pad', 1);
    });
  }

  identity(x: Value): Value {
    return this.node('Identity', [x]);
  }

  softmax(x: Value): Value {
    return this.node('Softmax', [x], (n) => n.setInt('axis', -1));
  }

  /** Reshape to a constant target shape (e.g. PyTorch's literal [1, -1]). */
  reshape(x: Value, dims: number[]): Value {
    const shape = this.g.addInitializer(Tensor.fromInt64(`shape${this.n}`, [dims.length], dims));
    return this.node('Reshape', [x, shape]);
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

  output(y: Value, classes: number, softmax = false): Model {
    if (softmax) y = this.softmax(y);
    const name = softmax ? 'probabilities' : 'logits';
    this.g.renameValue(y, name);
    setTensorType(y, DataType.FLOAT, [this.batch, classes]);
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

export interface MobileNetV1Options {
  seed?: number;
  /** Sample shape (default 3×224×224). */
  inputShape?: [number, number, number];
  /** Width multiplier (default 1.0). */
  alpha?: number;
  /** Depthwise-separable blocks kept from the 13 (default 13; fewer for tests). */
  blocks?: number;
  classes?: number;
  softmax?: boolean;
}

/** MobileNet-V1 (width 1.0, 224×224) topology; options shrink it (a seed alone is the old signature). */
export function buildMobileNetV1(options: number | MobileNetV1Options = {}): Model {
  const o: MobileNetV1Options = typeof options === 'number' ? { seed: options } : options;
  const shape = o.inputShape ?? [3, 224, 224];
  const alpha = o.alpha ?? 1;
  const classes = o.classes ?? 1000;
  const ch = (c: number): number => Math.max(4, Math.round(c * alpha));
  const b = new Builder('mobilenet_v1', shape, o.seed ?? 1);
  let x = b.relu(b.bn(b.conv(b.input, shape[0], ch(32), 3, { stride: 2, pad: 1 }), ch(32)));
  const blocks: [number, number, number][] = [
    [32, 64, 1], [64, 128, 2], [128, 128, 1], [128, 256, 2], [256, 256, 1], [256, 512, 2],
    [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 1024, 2], [1024, 1024, 1],
  ];
  let last = ch(32);
  for (const [c0, c1, stride] of blocks.slice(0, o.blocks ?? blocks.length)) {
    const cin = ch(c0);
    const cout = ch(c1);
    x = b.relu(b.bn(b.conv(x, cin, cin, 3, { stride, pad: 1, group: cin }), cin));
    x = b.relu(b.bn(b.conv(x, cin, cout, 1), cout));
    last = cout;
  }
  x = b.flatten(b.gap(x));
  return b.output(b.fc(x, last, classes), classes, o.softmax);
}

// ------------------------------------------------------------------------------------------
// Small architectures for the hardware path (issue 16): every op family real models use.
// Widths and depths are parameters so tests can build them small; defaults are the usual
// sizes. Weights and BatchNorm statistics are seeded (the same options give the same bytes).
// ------------------------------------------------------------------------------------------

/** Options every generator below takes. */
export interface ZooOptions {
  /** PRNG seed of the weights (default 1). */
  seed?: number;
  /** Sample shape [C, H, W] (batch dimension excluded). */
  inputShape?: [number, number, number];
  classes?: number;
  /** Append a Softmax after the logits (the graph output is then the probabilities). */
  softmax?: boolean;
}

export interface ResNetOptions extends ZooOptions {
  /** Channels of the first stage (16 in ResNet-20); stages double it. */
  width?: number;
  /** Residual blocks per stage (3 in ResNet-20: 6·3 + 2 = 20 layers). */
  blocks?: number;
}

/**
 * ResNet-20-style CIFAR network (He et al. 2016, §4.2): 3×3 conv, three stages of basic
 * blocks (conv-BN-ReLU-conv-BN + shortcut, ReLU) at width w, 2w, 4w, the first block of
 * stages 2 and 3 with stride 2 and a 1×1 projection shortcut (conv + BN; option B),
 * GlobalAveragePool, Flatten, fully connected. Default input 3×32×32, dynamic batch.
 */
export function buildResNet20(o: ResNetOptions = {}): Model {
  const shape = o.inputShape ?? [3, 32, 32];
  const classes = o.classes ?? 10;
  const width = o.width ?? 16;
  const blocks = o.blocks ?? 3;
  const b = new Builder('resnet20', shape, o.seed ?? 1);
  let x = b.relu(b.bn(b.conv(b.input, shape[0], width, 3, { pad: 1 }), width));
  x = basicBlockStages(b, x, width, [width, width << 1, width << 2], blocks);
  x = b.flatten(b.gap(x));
  return b.output(b.fc(x, width << 2, classes), classes, o.softmax);
}

/**
 * Stages of basic residual blocks (conv 3×3-BN-ReLU-conv 3×3-BN + shortcut, ReLU), `blocks`
 * per stage at the widths `widths`, from `cin` input channels: the first block of every stage
 * after the first has stride 2, and the shortcut is a 1×1 projection (conv + BN) where the
 * shape changes (option B of He et al. 2016).
 */
function basicBlockStages(b: Builder, input: Value, cin: number, widths: readonly number[], blocks: number): Value {
  let x = input;
  for (const [stage, cout] of widths.entries()) {
    for (let i = 0; i < blocks; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      let y = b.relu(b.bn(b.conv(x, cin, cout, 3, { stride, pad: 1 }), cout));
      y = b.bn(b.conv(y, cout, cout, 3, { pad: 1 }), cout);
      const shortcut = stride !== 1 || cin !== cout ? b.bn(b.conv(x, cin, cout, 1, { stride }), cout) : x;
      x = b.relu(b.add(y, shortcut));
      cin = cout;
    }
  }
  return x;
}

export interface MobileNetV2Options extends ZooOptions {
  /** Width multiplier applied to every channel count (default 1). */
  alpha?: number;
  /** Inverted-residual settings [expansion t, channels c, repeats n, first stride s] (default: the paper's seven rows). */
  settings?: [number, number, number, number][];
  /** Channels of the last 1×1 convolution (default 1280·max(1, alpha)). */
  lastChannels?: number;
}

/** MobileNetV2's inverted-residual settings (Sandler et al. 2018, Table 2). */
export const MOBILENET_V2_SETTINGS: readonly [number, number, number, number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/**
 * MobileNetV2-style network: 3×3 conv /2 (32·alpha) with BN and ReLU6 (Clip 0..6), inverted
 * residual blocks (1×1 expansion + BN + ReLU6 unless t = 1, 3×3 depthwise + BN + ReLU6,
 * linear 1×1 projection + BN; an Add of the block input when the stride is 1 and the widths
 * agree), 1×1 conv + BN + ReLU6, GlobalAveragePool, Flatten, fully connected. Default input
 * 3×32×32 (a small input size), dynamic batch.
 */
export function buildMobileNetV2(o: MobileNetV2Options = {}): Model {
  const shape = o.inputShape ?? [3, 32, 32];
  const classes = o.classes ?? 10;
  const alpha = o.alpha ?? 1;
  const ch = (c: number): number => Math.max(4, Math.round(c * alpha));
  const b = new Builder('mobilenet_v2', shape, o.seed ?? 1);
  const relu6 = (x: Value): Value => b.clip(x, 0, 6);
  let cin = ch(32);
  let x = relu6(b.bn(b.conv(b.input, shape[0], cin, 3, { stride: 2, pad: 1 }), cin));
  for (const [t, c, n, s] of o.settings ?? MOBILENET_V2_SETTINGS) {
    const cout = ch(c);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = cin * t;
      let y = x;
      if (t !== 1) y = relu6(b.bn(b.conv(y, cin, hidden, 1), hidden));
      y = relu6(b.bn(b.conv(y, hidden, hidden, 3, { stride, pad: 1, group: hidden }), hidden));
      y = b.bn(b.conv(y, hidden, cout, 1), cout);
      x = stride === 1 && cin === cout ? b.add(x, y) : y;
      cin = cout;
    }
  }
  const last = o.lastChannels ?? Math.round(1280 * Math.max(1, alpha));
  x = relu6(b.bn(b.conv(x, cin, last, 1), last));
  x = b.flatten(b.gap(x));
  return b.output(b.fc(x, last, classes), classes, o.softmax);
}

export interface SqueezeNetOptions extends ZooOptions {
  /** Squeeze channels of the first fire module (16 in SqueezeNet 1.1); expands are 4× that. */
  width?: number;
  /** Fire modules per stage, three stages (SqueezeNet 1.1: [2, 2, 4]). */
  fires?: [number, number, number];
}

/**
 * SqueezeNet-1.1-style network: 3×3 conv /2 + ReLU, MaxPool 3 /2 (ceil mode), fire modules
 * (1×1 squeeze + ReLU, then 1×1 and 3×3 expands + ReLU joined by Concat on channels) in
 * three stages separated by MaxPool 3 /2 (ceil), a 1×1 conv to the classes + ReLU and
 * GlobalAveragePool (no fully connected layer), Flatten. Default input 3×32×32.
 */
export function buildSqueezeNet(o: SqueezeNetOptions = {}): Model {
  const shape = o.inputShape ?? [3, 32, 32];
  const classes = o.classes ?? 10;
  const w = o.width ?? 16;
  const fires = o.fires ?? [2, 2, 4];
  const b = new Builder('squeezenet', shape, o.seed ?? 1);
  let cin = 4 * w;
  let x = b.maxpool(b.relu(b.conv(b.input, shape[0], cin, 3, { stride: 2, bias: true })), 3, 2, true);
  const fire = (x: Value, squeeze: number): Value => {
    const s = b.relu(b.conv(x, cin, squeeze, 1, { bias: true }));
    const e1 = b.relu(b.conv(s, squeeze, 4 * squeeze, 1, { bias: true }));
    const e3 = b.relu(b.conv(s, squeeze, 4 * squeeze, 3, { pad: 1, bias: true }));
    cin = 8 * squeeze;
    return b.concat([e1, e3]);
  };
  for (let stage = 0; stage < 3; stage++) {
    if (stage > 0) x = b.maxpool(x, 3, 2, true);
    for (let i = 0; i < fires[stage]!; i++) x = fire(x, w * (stage + 1 + (stage === 2 && i >= fires[2]! / 2 ? 1 : 0)));
  }
  // Class scores start positive (bias about +1), as a trained SqueezeNet's are before its ReLU:
  // a random one's would be mostly zero, every class tied.
  x = b.relu(b.conv(x, cin, classes, 1, { bias: true, biasOffset: 1 }));
  x = b.flatten(b.gap(x));
  return b.output(x, classes, o.softmax);
}

export interface PoolNetOptions extends ZooOptions {
  /** Channels of the two convolutions (default 16, 32). */
  width?: number;
  /** Hidden units of the first fully connected layer (default 64). */
  hidden?: number;
}

/**
 * A small CNN with average pooling and LeakyRelu: conv 3×3 + BN + ReLU, AveragePool 2 /2,
 * conv 3×3 + BN + LeakyRelu(0.1), AveragePool 3 /2 with padding 1 (count_include_pad 0, so
 * border windows divide by fewer entries), Flatten, FC + BN + ReLU, FC. Default input
 * 1×28×28 (Fashion-MNIST), dynamic batch.
 */
export function buildPoolNet(o: PoolNetOptions = {}): Model {
  const shape = o.inputShape ?? [1, 28, 28];
  const classes = o.classes ?? 10;
  const w = o.width ?? 16;
  const hidden = o.hidden ?? 64;
  const b = new Builder('poolnet', shape, o.seed ?? 1);
  let x = b.avgpool(b.relu(b.bn(b.conv(b.input, shape[0], w, 3, { pad: 1 }), w)), 2, 2);
  x = b.avgpool(b.leakyRelu(b.bn(b.conv(x, w, 2 * w, 3, { pad: 1 }), 2 * w), 0.1), 3, 2, 1);
  const h = Math.floor((Math.floor(shape[1] / 2) - 1) / 2) + 1;
  const wd = Math.floor((Math.floor(shape[2] / 2) - 1) / 2) + 1;
  x = b.flatten(x);
  x = b.relu(b.bn(b.fc(x, 2 * w * h * wd, hidden, false), hidden));
  return b.output(b.fc(x, hidden, classes), classes, o.softmax);
}

export interface TorchExportOptions extends ZooOptions {
  /** Channels of the convolutions (default 16). */
  width?: number;
  /** The literal batch of the export (default 1, as torch.onnx.export with one example input). */
  batch?: number;
}

/**
 * What torch.onnx.export writes for a small CNN whose two last convolutions share one weight
 * tensor: the second use reads it through an `Identity` node (named `Identity_0`, as PyTorch
 * does), the input has a literal batch of 1, and the classifier input is
 * `Reshape(x, [1, -1])` with that literal batch. Conv biases, a hardtanh as Clip(0, 6) and a
 * MaxPool. Default input 1×28×28.
 */
export function buildTorchExport(o: TorchExportOptions = {}): Model {
  const shape = o.inputShape ?? [1, 28, 28];
  const classes = o.classes ?? 10;
  const w = o.width ?? 16;
  const batch = o.batch ?? 1;
  const b = new Builder('torch_jit', shape, o.seed ?? 1, batch);
  let x = b.relu(b.conv(b.input, shape[0], w, 3, { pad: 1, bias: true }));
  x = b.maxpool(x, 2);
  const shared = b.param('22.weight', [w, w, 3, 3], Math.sqrt(2 / (w * 9)));
  x = b.relu(b.conv(x, w, w, 3, { pad: 1, weight: shared }));
  const again = b.g.createNode('Identity', [shared], ['onnx::Conv_23'], { name: 'Identity_0' });
  b.g.insertBefore(b.g.nodes[0]!, again);
  x = b.clip(b.conv(x, w, w, 3, { pad: 1, weight: again.outputs[0]! }), 0, 6);
  x = b.maxpool(x, 2);
  const features = w * Math.floor(shape[1] / 4) * Math.floor(shape[2] / 4);
  x = b.reshape(x, [batch, -1]);
  x = b.relu(b.fc(x, features, 32));
  return b.output(b.fc(x, 32, classes), classes, o.softmax);
}

// ------------------------------------------------------------------------------------------
// ImageNet-sized networks (torchvision's layer shapes, seeded random weights): for the
// quantized-format benchmark (bench/format-bench.mjs), where size and speed depend on the
// shapes, not the trained values. Input 3×224×224, 1000 classes, dynamic batch.
// ------------------------------------------------------------------------------------------

/** AlexNet as in torchvision (61.1 M parameters): five convolutions with bias and ReLU, three max pools, three fully connected layers. */
export function buildAlexNet(o: ZooOptions = {}): Model {
  const b = new Builder('alexnet', o.inputShape ?? [3, 224, 224], o.seed ?? 1);
  const classes = o.classes ?? 1000;
  let x = b.relu(b.conv(b.input, 3, 64, 11, { stride: 4, pad: 2, bias: true }));
  x = b.maxpool(x, 3, 2);
  x = b.maxpool(b.relu(b.conv(x, 64, 192, 5, { pad: 2, bias: true })), 3, 2);
  x = b.relu(b.conv(x, 192, 384, 3, { pad: 1, bias: true }));
  x = b.relu(b.conv(x, 384, 256, 3, { pad: 1, bias: true }));
  x = b.maxpool(b.relu(b.conv(x, 256, 256, 3, { pad: 1, bias: true })), 3, 2);
  x = b.flatten(x);
  x = b.relu(b.fc(x, 256 * 6 * 6, 4096));
  x = b.relu(b.fc(x, 4096, 4096));
  return b.output(b.fc(x, 4096, classes), classes, o.softmax);
}

/** VGG11 with BatchNorm as in torchvision (132.9 M parameters): eight 3×3 convolutions with BatchNorm and ReLU, five max pools, three fully connected layers. */
export function buildVgg11Bn(o: ZooOptions = {}): Model {
  const b = new Builder('vgg11_bn', o.inputShape ?? [3, 224, 224], o.seed ?? 1);
  const classes = o.classes ?? 1000;
  let x = b.input;
  let cin = 3;
  for (const v of [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'] as const) {
    if (v === 'M') {
      x = b.maxpool(x);
      continue;
    }
    x = b.relu(b.bn(b.conv(x, cin, v, 3, { pad: 1, bias: true }), v));
    cin = v;
  }
  x = b.flatten(x);
  x = b.relu(b.fc(x, 512 * 7 * 7, 4096));
  x = b.relu(b.fc(x, 4096, 4096));
  return b.output(b.fc(x, 4096, classes), classes, o.softmax);
}

/** ResNet-18 as in torchvision (11.7 M parameters): 7×7 stem, 3×3 max pool, four stages of two basic blocks (1×1 projection shortcuts where the shape changes), global average pool, fully connected. */
export function buildResNet18(o: ZooOptions = {}): Model {
  const b = new Builder('resnet18', o.inputShape ?? [3, 224, 224], o.seed ?? 1);
  const classes = o.classes ?? 1000;
  let x = b.relu(b.bn(b.conv(b.input, 3, 64, 7, { stride: 2, pad: 3 }), 64));
  x = b.node('MaxPool', [x], (n) => {
    n.setInts('kernel_shape', [3, 3]);
    n.setInts('strides', [2, 2]);
    n.setInts('pads', [1, 1, 1, 1]);
  });
  x = basicBlockStages(b, x, 64, [64, 128, 256, 512], 2);
  x = b.flatten(b.gap(x));
  return b.output(b.fc(x, 512, classes), classes, o.softmax);
}
