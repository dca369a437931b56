import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTestDataSets, readTestDataSet, type DecodedTensor } from '../../src/data/index.js';
import { ErrorCodes, HbnnError } from '../../src/errors.js';
import { expectError, tempDir } from './helpers.js';
import { decodeTestTensor, encodeTensorProto, floatTensor, UINT8 } from './tensor-proto.js';

const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function makeSet(name: string, files: Record<string, Uint8Array>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), b);
  return dir;
}

describe('hand-encoded TensorProto', () => {
  it('has the expected wire bytes', () => {
    const b = encodeTensorProto('x', [2, 300], UINT8, Uint8Array.from([5, 6]));
    // dims 2, dims 300 (0xAC 0x02), data_type 2, name "x", raw_data [5,6]
    expect(Array.from(b)).toEqual([0x08, 2, 0x08, 0xac, 0x02, 0x10, 2, 0x42, 1, 0x78, 0x4a, 2, 5, 6]);
    const t = decodeTestTensor(b);
    expect([t.name, t.dims, Array.from(t.data as Uint8Array)]).toEqual(['x', [2, 300], [5, 6]]);
  });
});

describe('readTestDataSet', () => {
  it('orders input_K / output_K numerically (input_10 after input_9 and input_2)', () => {
    const files: Record<string, Uint8Array> = {};
    for (let k = 0; k <= 11; k++) files[`input_${k}.pb`] = floatTensor(`in${k}`, [1], [k]);
    files['output_0.pb'] = floatTensor('out0', [1, 2], [0.5, 1.5]);
    files['output_1.pb'] = floatTensor('out1', [1], [7]);
    files['README.txt'] = new Uint8Array(0);
    const dir = makeSet('order', files);
    const set = readTestDataSet(dir, decodeTestTensor);
    expect(set.inputs.map((t) => t.name)).toEqual([...Array(12).keys()].map((k) => `in${k}`));
    expect(set.inputs.map((t) => t.index)).toEqual([...Array(12).keys()]);
    expect(set.inputs.map((t) => path.basename(t.file)).slice(1, 4)).toEqual(['input_1.pb', 'input_2.pb', 'input_3.pb']);
    expect(set.inputs[10]!.data[0]).toBe(10);
    expect(set.outputs.map((t) => t.name)).toEqual(['out0', 'out1']);
    expect(Array.from(set.outputs[0]!.data as Float32Array)).toEqual([0.5, 1.5]);
  });

  it('allows a folder without outputs', () => {
    const dir = makeSet('no-outputs', { 'input_0.pb': floatTensor('a', [2], [1, 2]) });
    expect(readTestDataSet(dir, decodeTestTensor).outputs).toEqual([]);
  });

  it('rejects a gap in the indices', () => {
    const dir = makeSet('gap', { 'input_0.pb': floatTensor('a', [1], [1]), 'input_2.pb': floatTensor('b', [1], [1]) });
    expect(expectError(() => readTestDataSet(dir, decodeTestTensor), ErrorCodes.DATA_FORMAT).message).toMatch(/input_1\.pb is missing/);
  });

  it('rejects two files with the same index (input_1 and input_01)', () => {
    const t = floatTensor('a', [1], [1]);
    const dir = makeSet('dup', { 'input_0.pb': t, 'input_1.pb': t, 'input_01.pb': t });
    expectError(() => readTestDataSet(dir, decodeTestTensor), ErrorCodes.DATA_FORMAT);
  });

  it('rejects a folder with no inputs', () => {
    const dir = makeSet('empty', { 'output_0.pb': floatTensor('a', [1], [1]) });
    expect(expectError(() => readTestDataSet(dir, decodeTestTensor), ErrorCodes.DATA_FORMAT).message).toMatch(/no input_K\.pb/);
  });

  it('reports a missing folder as FILE_NOT_FOUND naming it', () => {
    const dir = path.join(root, 'does-not-exist');
    const e = expectError(() => readTestDataSet(dir, decodeTestTensor), ErrorCodes.FILE_NOT_FOUND);
    expect(e.message).toContain(dir);
  });

  it('wraps decoder failures as DATA_FORMAT naming the file', () => {
    const dir = makeSet('corrupt', { 'input_0.pb': Uint8Array.from([0x08, 0x80]) });
    const e = expectError(() => readTestDataSet(dir, decodeTestTensor), ErrorCodes.DATA_FORMAT);
    expect(e.message).toContain(path.join(dir, 'input_0.pb'));
    expect(e.message).toMatch(/truncated varint/);
  });

  it("keeps the decoder's own typed error code and adds the file", () => {
    const dir = makeSet('typed', { 'input_0.pb': floatTensor('a', [1], [1]) });
    const decode = (): DecodedTensor => {
      throw new HbnnError(ErrorCodes.ONNX_DECODE, 'bad wire type');
    };
    const e = expectError(() => readTestDataSet(dir, decode), ErrorCodes.ONNX_DECODE);
    expect(e.context.file).toBe(path.join(dir, 'input_0.pb'));
  });

  it('rejects a tensor whose dims disagree with its data', () => {
    const dir = makeSet('dims', { 'input_0.pb': floatTensor('a', [3], [1, 2]) });
    expect(expectError(() => readTestDataSet(dir, decodeTestTensor), ErrorCodes.DATA_FORMAT).message).toMatch(/dims \[3\]/);
  });

  it('lists test_data_set_N folders numerically', () => {
    const model = path.join(root, 'model');
    for (const n of [0, 1, 2, 10, 11]) fs.mkdirSync(path.join(model, `test_data_set_${n}`), { recursive: true });
    fs.writeFileSync(path.join(model, 'model.onnx'), '');
    expect(listTestDataSets(model).map((d) => path.basename(d))).toEqual([
      'test_data_set_0',
      'test_data_set_1',
      'test_data_set_2',
      'test_data_set_10',
      'test_data_set_11',
    ]);
  });
});
