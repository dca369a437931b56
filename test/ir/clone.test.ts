/**
 * Model.clone: a deep copy in the IR (no trip through the wire format). Its encoding is the
 * original's, byte for byte, for every bundled model (subgraphs of If/Loop/Scan with
 * outer-scope references, sequences, optional types, functions); it shares nothing mutable:
 * editing the copy leaves the original's bytes unchanged; and it is what loading the
 * original's encoding gives (same printed IR).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel, encodeModel, loadModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { verifyModel } from '../../src/ir/verifier.js';
import { Tensor } from '../../src/ir/tensor.js';
import { REPO_ROOT } from '../helpers/build.js';
import { quantize } from '../../src/drivers/quantize.js';

const FILES = [
  'fixtures/models/fmnist-cnn.onnx',
  'fixtures/qonnx/mnist-conv/model.onnx',
  'fixtures/qonnx/tfc-mnist/Brevitas_FINN_TFC/TFC/TFC_1W2A.onnx',
  ...fs
    .readdirSync(path.join(REPO_ROOT, 'fixtures/onnx-node'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => `fixtures/onnx-node/${e.name}/model.onnx`),
];

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('Model.clone', () => {
  it.each(FILES)('%s: the copy encodes to the same bytes and prints as the decoded encoding does', (rel) => {
    const m = loadModel(path.join(REPO_ROOT, rel));
    const bytes = encodeModel(m);
    const c = m.clone();
    expect(same(encodeModel(c), bytes)).toBe(true);
    expect(printModel(c)).toBe(printModel(decodeModel(bytes)));
    expect(verifyModel(c)).toEqual(verifyModel(m));
    expect(c.sourcePath).toBeUndefined();
  });

  it('shares nothing mutable: edits of the copy (subgraph too) leave the original unchanged', () => {
    const m = loadModel(path.join(REPO_ROOT, 'fixtures/onnx-node/test_loop11/model.onnx'));
    const before = encodeModel(m);
    const c = m.clone();
    const g = c.graph;
    const body = g.nodes.find((n) => n.subgraphs().length > 0)!.subgraphs()[0]!;
    body.renameValue(body.nodes[0]!.outputs[0]!, 'renamed_in_copy');
    body.nodes[0]!.setInt('new_attr', 1);
    const init = [...g.values()].find((v) => v.isGraphInput) ?? g.inputs[0]!;
    g.renameValue(init, 'x_copy');
    g.addInitializer(Tensor.fromFloat32('extra', [1], new Float32Array([1])));
    c.opsetImports[0]!.version += 1;
    c.setMetadata('k', 'v');
    expect(same(encodeModel(m), before)).toBe(true);
    expect(same(encodeModel(c), before)).toBe(false);
    // The copy's use lists and scopes are its own: outer-scope uses inside the body point at the copy's values.
    for (const n of body.nodes) for (const v of n.inputs) if (v) expect(v.graph === body || v.graph === g).toBe(true);
  });

  it('a quantized model (functions, packed planes) clones to the same bytes; tensor data is copied', async () => {
    const m = loadModel(path.join(REPO_ROOT, 'fixtures/models/fmnist-mlp.onnx'));
    await quantize(m, { avgBits: 1.4 });
    const c = m.clone();
    const bytes = encodeModel(m);
    expect(same(encodeModel(c), bytes)).toBe(true);
    const v = [...c.graph.initializers.values()].find((x) => x.constValue!.storage.kind === 'raw')!;
    const st = v.constValue!.storage as { kind: 'raw'; bytes: Uint8Array };
    st.bytes[0] = st.bytes[0]! ^ 0xff;
    expect(same(encodeModel(m), bytes)).toBe(true);
  });
});
