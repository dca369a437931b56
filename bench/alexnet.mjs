/**
 * An AlexNet-sized float model (torchvision's AlexNet layers: 5 convolutions, 3 max pools,
 * 3 fully connected layers; 61.1 M float32 parameters) with deterministic random weights,
 * built with the library's IR. Shared by bench/io-bench.mjs and bench/decode-bench.mjs.
 *
 * `lib` is the compiled library (Model, Graph, Tensor, setTensorType); `batch` the input's
 * batch dimension (a number, or a name such as 'N' for a symbolic one).
 */
/** mulberry32 → uniform floats in [-a, a): seeded, fast enough for 61 M values. */
function fillRandom(arr, seed, scale) {
  let a = seed >>> 0;
  for (let i = 0; i < arr.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    arr[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return arr;
}

export function buildAlexNet(lib, { batch = 1 } = {}) {
  const { Model, Graph, Tensor, setTensorType } = lib;
  const g = new Graph('alexnet');
  const m = new Model(g);
  m.irVersion = 8n;
  m.opsetImports = [{ domain: '', version: 13 }];
  m.producerName = 'hbnn-onnx io-bench';
  const x = g.addInput('input');
  setTensorType(x, 1, [batch, 3, 224, 224]);
  let seed = 1;
  let params = 0;
  const weight = (name, dims) => {
    const n = dims.reduce((a, b) => a * b, 1);
    params += n;
    const fanIn = dims.length > 1 ? n / dims[0] : dims[0];
    return g.addInitializer(Tensor.fromFloat32(name, dims, fillRandom(new Float32Array(n), seed++, 1 / Math.sqrt(fanIn))));
  };
  const ints = (v) => ({ type: 'ints', value: v.map(BigInt) });
  const int = (v) => ({ type: 'int', value: BigInt(v) });
  let cur = x;
  let k = 0;
  const node = (op, inputs, attributes = {}) => {
    const n = g.createNode(op, inputs, [`${op.toLowerCase()}_${k++}`], { attributes });
    g.append(n);
    cur = n.outputs[0];
    return cur;
  };
  const conv = (name, cout, cin, ksz, stride, pad) => {
    const w = weight(`${name}.weight`, [cout, cin, ksz, ksz]);
    const b = weight(`${name}.bias`, [cout]);
    node('Conv', [cur, w, b], { kernel_shape: ints([ksz, ksz]), strides: ints([stride, stride]), pads: ints([pad, pad, pad, pad]) });
    node('Relu', [cur]);
  };
  const pool = () => node('MaxPool', [cur], { kernel_shape: ints([3, 3]), strides: ints([2, 2]) });
  const fc = (name, out, inp, relu) => {
    const w = weight(`${name}.weight`, [out, inp]);
    const b = weight(`${name}.bias`, [out]);
    node('Gemm', [cur, w, b], { transB: int(1) });
    if (relu) node('Relu', [cur]);
  };
  conv('conv1', 64, 3, 11, 4, 2);
  pool();
  conv('conv2', 192, 64, 5, 1, 2);
  pool();
  conv('conv3', 384, 192, 3, 1, 1);
  conv('conv4', 256, 384, 3, 1, 1);
  conv('conv5', 256, 256, 3, 1, 1);
  pool();
  node('Flatten', [cur], { axis: int(1) });
  fc('fc6', 4096, 9216, true);
  fc('fc7', 4096, 4096, true);
  fc('fc8', 1000, 4096, false);
  setTensorType(cur, 1, [batch, 1000]);
  g.outputs.push(cur);
  return { model: m, params };
}
