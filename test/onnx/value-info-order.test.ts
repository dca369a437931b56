/**
 * value_info (and every repeated field) keeps its file order through load → save and through
 * `opt MODEL -o out.onnx` without a pipeline, also when the order is not the node order and
 * mixes entries for node outputs, initializers, graph inputs/outputs and unknown names (as in
 * onnxruntime's QDQ test models, whose value_info lists scales and zero points among the
 * activations).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { ModelProtoType, decodeMessage } from '../../src/onnx/proto.js';
import { FLOAT, encodeModelPb, floatTensorPb, modelPb, valueInfo } from './build.js';
import { cli, tmpDir } from '../cli/helpers.js';

/** x → Mul(w) → a → Relu → b → Add(a) → c → Sigmoid → y; value_info not in node order. */
function scrambled(): Uint8Array {
  const node = (op: string, inputs: string[], outputs: string[], name: string): object => ({ op_type: op, input: inputs, output: outputs, name });
  const graph = {
    name: 'g',
    node: [node('Mul', ['x', 'w'], ['a'], 'mul'), node('Relu', ['a'], ['b'], 'relu'), node('Add', ['b', 'a'], ['c'], 'add'), node('Sigmoid', ['c'], ['y'], 'sig')],
    initializer: [floatTensorPb('w', [1, 4], Float32Array.from([1, -2, 3, -4]))],
    input: [valueInfo('x', FLOAT, [1, 4])],
    output: [valueInfo('y', FLOAT, [1, 4])],
    // c before a before b; an initializer's entry (w) in the middle; one for the graph input (x),
    // one for a name nothing defines (ghost), one for the graph output (y); a duplicate of b.
    value_info: [
      valueInfo('c', FLOAT, [1, 4]),
      valueInfo('w', FLOAT, [1, 4]),
      valueInfo('a', FLOAT, [1, 4]),
      valueInfo('ghost', FLOAT, [2]),
      valueInfo('x', FLOAT, [1, 4]),
      valueInfo('b', FLOAT, [1, 4]),
      valueInfo('y', FLOAT, [1, 4]),
      valueInfo('b', FLOAT, [1, 4]),
    ],
  };
  return encodeModelPb(modelPb(graph));
}

const names = (bytes: Uint8Array): string[] =>
  (decodeMessage<{ graph: { value_info: { name: string }[] } }>(ModelProtoType, bytes, 'ModelProto').graph.value_info ?? []).map((v) => v.name);

describe('value_info order', () => {
  test('load → save keeps the bytes (and so value_info in file order)', () => {
    const bytes = scrambled();
    expect(names(bytes)).toEqual(['c', 'w', 'a', 'ghost', 'x', 'b', 'y', 'b']);
    const saved = encodeModel(decodeModel(bytes));
    expect(names(saved)).toEqual(names(bytes));
    expect(Buffer.from(saved).equals(Buffer.from(bytes))).toBe(true);
  });

  test('opt MODEL -o out.onnx with no pipeline writes the same ModelProto', async () => {
    const dir = tmpDir();
    const input = path.join(dir, 'in.onnx');
    fs.writeFileSync(input, scrambled());
    const r = await cli(['opt', input, '-o', path.join(dir, 'out.onnx')]);
    expect(r.code, r.stderr).toBe(0);
    const out = fs.readFileSync(path.join(dir, 'out.onnx'));
    expect(names(out)).toEqual(['c', 'w', 'a', 'ghost', 'x', 'b', 'y', 'b']);
    expect(out.equals(fs.readFileSync(input))).toBe(true);
  });
});
