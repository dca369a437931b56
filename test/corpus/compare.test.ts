/**
 * The conformance harness itself can fail: the output comparison catches differences just
 * beyond the tolerance, and a tampered reference output makes a corpus case a mismatch.
 */
import { afterAll, describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/ir/dtype.js';
import { VENDORED, classifyOrtError, compareOutput, runCase, roundTrip } from './conformance.js';
import { decodeTensor } from '../../src/onnx/io.js';

const f32 = (values: number[], dims = [values.length]): Tensor => Tensor.fromFloat32('t', dims, Float32Array.from(values));
const ortF32 = (values: number[], dims = [values.length]): ort.Tensor => new ort.Tensor('float32', Float32Array.from(values), dims);

describe('compareOutput', () => {
  test('floats: |a-b| <= atol + rtol*|b|, NaN equals NaN, infinities by sign', () => {
    expect(compareOutput('y', ortF32([1.0009, 0, NaN, Infinity]), f32([1, 0, NaN, Infinity]))).toBeUndefined();
    expect(compareOutput('y', ortF32([1.0011]), f32([1]))).toMatch(/y\[0\]: 1\.0010999/);
    expect(compareOutput('y', ortF32([2e-7]), f32([0]))).toMatch(/expected 0/);
    expect(compareOutput('y', ortF32([0]), f32([NaN]))).toBeDefined();
    expect(compareOutput('y', ortF32([-Infinity]), f32([Infinity]))).toBeDefined();
  });

  test('shape and type must match', () => {
    expect(compareOutput('y', ortF32([1, 2], [2, 1]), f32([1, 2], [2]))).toMatch(/shape \[2,1\], expected \[2\]/);
    expect(compareOutput('y', new ort.Tensor('int32', Int32Array.from([1]), [1]), f32([1]))).toMatch(/type int32, expected float32/);
  });

  test('integers and bools exactly; strings exactly; float16 by value', () => {
    const i64 = Tensor.fromInt64('t', [2], [5n, -1n]);
    expect(compareOutput('y', new ort.Tensor('int64', BigInt64Array.from([5n, -1n]), [2]), i64)).toBeUndefined();
    expect(compareOutput('y', new ort.Tensor('int64', BigInt64Array.from([5n, 0n]), [2]), i64)).toMatch(/exact/);
    const s = new Tensor('t', DataType.STRING, [1], { kind: 'string', values: [new TextEncoder().encode('é')] });
    expect(compareOutput('y', new ort.Tensor('string', ['é'], [1]), s)).toBeUndefined();
    expect(compareOutput('y', new ort.Tensor('string', ['e'], [1]), s)).toMatch(/expected "é"/);
    const h = new Tensor('t', DataType.FLOAT16, [1], { kind: 'raw', bytes: new Uint8Array(Uint16Array.from([0x3c00]).buffer) }); // 1.0
    expect(compareOutput('y', new ort.Tensor('float16', Uint16Array.from([0x3c00]), [1]), h)).toBeUndefined();
    expect(compareOutput('y', new ort.Tensor('float16', Uint16Array.from([0x3c02]), [1]), h)).toMatch(/expected 1/); // 1.00195
  });
});

describe('classifyOrtError', () => {
  test.each([
    ["Could not find an implementation for BitShift(11) node with name ''", 'ORT: no CPU kernel for BitShift(11)'],
    ['Fatal error: ai.onnx.preview.training:Adam(-1) is not a registered function/op', 'ORT: unregistered op ai.onnx.preview.training:Adam'],
    ['... Opset 28 is under development and support for this is limited ...', 'ORT: opset 28 is under development (refused at load)'],
    ['Tensor.type is not supported: int4', 'ORT-JS: int4 input tensors are not accepted by the binding'],
    ['something new and strange', 'ORT run: something new and strange'],
  ])('%s', (msg, reason) => {
    expect(classifyOrtError('run', msg)).toBe(reason);
  });
});

describe('a tampered reference output is caught', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-tamper-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('test_add with one output value moved by 1% → diff; untouched → ok', async () => {
    const src = path.join(VENDORED, 'test_add');
    fs.cpSync(src, path.join(dir, 'test_add'), { recursive: true });
    const caseDir = path.join(dir, 'test_add');
    const rt = roundTrip(path.join(caseDir, 'model.onnx'));
    expect(await runCase(caseDir, rt.saved, rt.model, 'basic')).toEqual({ kind: 'ok' });

    const outFile = path.join(caseDir, 'test_data_set_0', 'output_0.pb');
    const want = fs.readFileSync(outFile);
    // The output is float raw_data at the end of the TensorProto: nudge the last float by 1%.
    const view = new DataView(want.buffer, want.byteOffset, want.byteLength);
    const at = want.byteLength - 4;
    view.setFloat32(at, view.getFloat32(at, true) * 1.01 + 1e-3, true);
    fs.writeFileSync(outFile, want);
    expect(decodeTensor(want).storage.kind).toBe('raw'); // still a valid TensorProto
    const r = await runCase(caseDir, rt.saved, rt.model, 'basic');
    expect(r.kind).toBe('diff');
    expect(r.detail).toMatch(/^sum\[\d+\]: .* \(rtol 0\.001, atol 1e-7\)$/);
  });
});
