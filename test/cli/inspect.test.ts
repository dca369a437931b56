import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, REPO_ROOT, TFC_1W1A, tmpDir } from './helpers.js';
import { inspectModel, type InspectReport } from '../../src/inspect.js';
import { encodeModel, loadModel } from '../../src/onnx/io.js';
import { Graph, Model } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { setTensorType } from '../../src/ir/types.js';

// The bundled CNN (fixtures/models/README.md): three 3x3 convs with 32/64/128 channels, each
// followed by BatchNorm (4 vectors), then Gemm 1152->10 and a learned scalar.
const CNN_PARAMS =
  32 * 1 * 9 + 32 + (64 * 32 * 9 + 64) + (128 * 64 * 9 + 128) + 4 * (32 + 64 + 128) + (10 * 1152 + 10) + 1;

describe('inspect fmnist-cnn', () => {
  it('has the parameter count of its architecture, equal to the sum over its initializers', () => {
    const m = loadModel(FMNIST_CNN);
    let sum = 0;
    for (const v of m.graph.initializers.values()) sum += v.constValue!.dims.reduce((a, b) => a * b, 1);
    expect(sum).toBe(CNN_PARAMS);
    expect(CNN_PARAMS).toBe(105_099);
  });

  it('--json reports shapes, ops, layers and totals', async () => {
    const r = await cli(['inspect', FMNIST_CNN, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const rep = JSON.parse(r.stdout) as InspectReport;
    expect(rep.format).toBe('hbnn-onnx.inspect');
    expect(rep.version).toBe(1);
    expect(rep.file).toBe(path.join('fixtures', 'models', 'fmnist-cnn.onnx'));
    expect(rep.irVersion).toBe(7);
    expect(rep.opsets).toEqual([{ domain: 'ai.onnx', version: 13 }]);
    expect(rep.producer).toEqual({ name: 'pytorch', version: '1.13.0' });
    expect(rep.inputs).toEqual([{ name: 'input', dtype: 'float', shape: ['N', 1, 28, 28], type: 'float[N,1,28,28]' }]);
    expect(rep.outputs).toEqual([{ name: 'logits', dtype: 'float', shape: ['N', 10], type: 'float[N,10]' }]);
    const ops = Object.fromEntries(rep.ops.map((o) => [o.op, o.count]));
    expect(ops).toEqual({ Conv: 3, BatchNormalization: 3, Relu: 3, MaxPool: 3, Flatten: 1, Gemm: 1, Mul: 1 });
    expect(rep.graph.nodes).toBe(15);
    expect(rep.graph.totalNodes).toBe(15);
    expect(rep.layers.map((l) => l.op)).toEqual(['Conv', 'BatchNormalization', 'Conv', 'BatchNormalization', 'Conv', 'BatchNormalization', 'Gemm', 'Mul']);
    const c2 = rep.layers.find((l) => l.node === '/c2/Conv')!;
    expect(c2.params).toEqual([
      { name: 'c2.weight', dtype: 'float', shape: [64, 32, 3, 3], count: 18_432, bytes: 73_728 },
      { name: 'c2.bias', dtype: 'float', shape: [64], count: 64, bytes: 256 },
    ]);
    expect(c2.count).toBe(18_496);
    for (const l of rep.layers) expect(l.count).toBe(l.params.reduce((s, p) => s + p.count, 0));
    expect(rep.totals).toEqual({
      layers: 8,
      parameters: CNN_PARAMS,
      bytes: CNN_PARAMS * 4,
      initializers: { count: 21, parameters: CNN_PARAMS, bytes: CNN_PARAMS * 4 },
    });
    expect(rep.warnings).toEqual([]);
    expect(rep).not.toHaveProperty('quantization');
  });

  it('prints aligned text tables', async () => {
    const r = await cli(['inspect', FMNIST_CNN]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^model\n {2}file +fixtures\/models\/fmnist-cnn\.onnx$/m);
    expect(r.stdout).toMatch(/^ {2}opsets +ai\.onnx:13$/m);
    expect(r.stdout).toMatch(/^ {2}input +input +float +\[N,1,28,28\]$/m);
    expect(r.stdout).toMatch(/^ {2}Conv +3$/m);
    expect(r.stdout).toMatch(/^ {2}\/c3\/Conv +Conv +c3\.weight\[128,64,3,3\] c3\.bias\[128\] +73,856 +288\.5 KiB$/m);
    expect(r.stdout).toContain('parameters    105,099 in 8 layers (410.5 KiB)');
    expect(r.stdout).not.toContain('warnings');
    // Aligned: every row of the layer table has its count column ending at the same place.
    const layerRows = r.stdout.split('\n').filter((l) => /^ {2}\/\S+ +\S+ +\S+.* KiB$|^ {2}\/\S+ .* B$/.test(l));
    expect(layerRows).toHaveLength(8);
    expect(new Set(layerRows.map((l) => l.length)).size).toBe(1);
  });
});

describe('inspect warnings', () => {
  it('a Brevitas TFC model warns about the undeclared onnx.brevitas domain but succeeds', async () => {
    const json = await cli(['inspect', TFC_1W1A(), '--json']);
    expect(json.code).toBe(0);
    const rep = JSON.parse(json.stdout) as InspectReport;
    expect(rep.warnings).toEqual([
      {
        kind: 'undeclared-domain',
        subject: 'onnx.brevitas',
        message: 'operator domain "onnx.brevitas" is used (BipolarQuant) but not declared in opset_import',
      },
    ]);
    expect(rep.ops.find((o) => o.op === 'BipolarQuant')).toEqual({ op: 'BipolarQuant', domain: 'onnx.brevitas', count: 8 });
    // Weights listed as graph inputs (old exporter style) are not reported as inputs.
    expect(rep.inputs.map((i) => i.name)).toEqual(['0']);
    expect(rep.graph.initializerInputs).toBe(33);
    const text = await cli(['inspect', TFC_1W1A()]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('warnings (1)\n  - [undeclared-domain] operator domain "onnx.brevitas"');
    expect(text.stdout).toContain('onnx.brevitas:BipolarQuant');
  });

  it('finds undeclared domains inside subgraphs, duplicate node names and verifier errors', () => {
    const m = new Model(new Graph('main'));
    m.opsetImports = [{ domain: '', version: 13 }];
    const g = m.graph;
    const x = g.addInput('x');
    setTensorType(x, DataType.BOOL, []);
    const w = g.addInitializer(Tensor.fromFloat32('w', [2], new Float32Array([1, 2])));
    const then = new Graph('then', g);
    const inner = then.createNode('Custom', [w], ['t'], { domain: 'com.example', name: 'inner' });
    then.append(inner);
    then.outputs.push(inner.outputs[0]!);
    const els = new Graph('else', g);
    const e = els.createNode('Identity', [w], ['e'], { name: 'dup' });
    els.append(e);
    els.append(els.createNode('Identity', [w], ['e2'], { name: 'dup' }));
    els.outputs.push(e.outputs[0]!);
    const iff = g.createNode('If', [x], ['y'], { name: 'if', attributes: { then_branch: { type: 'graph', value: then }, else_branch: { type: 'graph', value: els } } });
    g.append(iff);
    g.outputs.push(iff.outputs[0]!);
    const dangling = new Graph('other').createValue('nowhere');
    g.append(g.createNode('Relu', [dangling], ['r'], { name: 'bad' }));

    const rep = inspectModel(m);
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep);
    expect(rep.graph).toEqual({ name: 'main', nodes: 2, totalNodes: 5, subgraphs: 2, initializerInputs: 0 });
    // Layers include subgraph nodes that use an enclosing graph's initializer; totals count w once.
    expect(rep.layers.map((l) => [l.graph, l.node])).toEqual([['then', 'inner'], ['else', 'dup'], ['else', 'dup']]);
    expect(rep.totals.parameters).toBe(2);
    expect(rep.warnings.map((w) => w.kind)).toEqual(['undeclared-domain', 'duplicate-node-name', 'verify']);
    expect(rep.warnings[0]!.subject).toBe('com.example');
    expect(rep.warnings[1]!.message).toBe('node name "dup" is used by 2 nodes in graph "else"');
    expect(rep.warnings[2]!.message).toMatch(/^IR verifier: node "bad" \(Relu\) input 0 "nowhere" is not defined in scope/);
  });
});

describe('inspect errors', () => {
  it('a missing file exits 3 with file-not-found', async () => {
    const r = await cli(['inspect', 'no/such/model.onnx']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-not-found\]: no such file: .*no\/such\/model\.onnx\n$/);
  });

  it('a corrupt file exits 3 with one error line', async () => {
    const d = tmpDir();
    const f = path.join(d, 'corrupt.onnx');
    fs.writeFileSync(f, fs.readFileSync(FMNIST_CNN).subarray(0, 1000));
    const r = await cli(['inspect', f]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[onnx-[a-z-]+\]: /);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--verbose adds the stack and context', async () => {
    const r = await cli(['--verbose', 'inspect', 'missing.onnx']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error[file-not-found]');
    expect(r.stderr).toContain(`context: ${JSON.stringify({ file: path.join(REPO_ROOT, 'missing.onnx') })}`);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('says whether train can build the gradients: every rule present (a torchvision export), or the operators missing', async () => {
    const shuffle = path.join(REPO_ROOT, 'fixtures/models/torchvision/shufflenet-v2.op13.onnx');
    const text = await cli(['inspect', shuffle]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}training +every operator between the parameters and the output has a gradient rule/m);
    const json = await cli(['inspect', shuffle, '--json']);
    expect((JSON.parse(json.stdout) as InspectReport).training).toEqual({ missingGradientRules: [] });

    const dir = tmpDir();
    const g = new Graph('g');
    const x = g.addInput('x');
    setTensorType(x, DataType.FLOAT, ['N', 4]);
    const w = g.addInitializer(Tensor.fromFloat32('w', [4, 3], new Float32Array(12).fill(0.1)));
    const h = g.createNode('Gemm', [x, w], ['h'], { name: 'fc' });
    g.append(h);
    const s1 = g.createNode('Sin', [h.outputs[0]!], ['y'], { name: 'wave' });
    g.append(s1);
    g.outputs.push(s1.outputs[0]!);
    const m = new Model(g);
    m.opsetImports = [{ domain: '', version: 13 }];
    const file = path.join(dir, 'sin.onnx');
    fs.writeFileSync(file, encodeModel(m));
    const r = await cli(['inspect', file]);
    expect(r.stdout).toMatch(/^ {2}training +no gradient rule for Sin \(1 node, e\.g\. wave\): train refuses it$/m);
  });
});
