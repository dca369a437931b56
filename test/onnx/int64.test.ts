/**
 * int64 and uint64 extremes survive load → save exactly (as bigints in the IR, bit for bit
 * on the wire), and ORT reads them as written.
 */
import { describe, expect, test } from 'vitest';
import * as ort from 'onnxruntime-node';
import Long from 'long';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { FLOAT, INT64, UINT64, encodeModelPb, modelPb, valueInfo } from './build.js';

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const U64_MAX = 18446744073709551615n;
const BEYOND_DOUBLE = 9007199254740993n; // 2^53 + 1: not representable as a double

const i64 = (v: bigint): Long => Long.fromString(v.toString(), false);
const u64 = (v: bigint): Long => Long.fromString(v.toString(), true);

function rawI64(values: bigint[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(values).buffer);
}
function rawU64(values: bigint[]): Uint8Array {
  return new Uint8Array(BigUint64Array.from(values).buffer);
}

describe('int64 extremes', () => {
  const i64Values = [I64_MAX, I64_MIN, -1n, BEYOND_DOUBLE, -BEYOND_DOUBLE];
  const u64Values = [U64_MAX, 1n << 63n, (1n << 63n) + 1n, 0n, BEYOND_DOUBLE];
  const bytes = encodeModelPb(
    modelPb(
      {
        name: 'g',
        node: [
          {
            op_type: 'Custom',
            domain: 'test.int64',
            input: ['x', 'a', 'b', 'c', 'd'],
            output: ['y'],
            attribute: [
              { name: 'ends', type: 7, ints: [i64(I64_MAX), i64(I64_MIN), i64(BEYOND_DOUBLE)] },
              { name: 'i', type: 2, i: i64(I64_MIN) },
            ],
          },
        ],
        initializer: [
          { name: 'a', dims: [5], data_type: INT64, int64_data: i64Values.map(i64) },
          { name: 'b', dims: [5], data_type: INT64, raw_data: rawI64(i64Values) },
          { name: 'c', dims: [5], data_type: UINT64, uint64_data: u64Values.map(u64) },
          { name: 'd', dims: [5], data_type: UINT64, raw_data: rawU64(u64Values) },
        ],
        input: [{ name: 'x', type: { tensor_type: { elem_type: FLOAT, shape: { dim: [{ dim_value: i64(I64_MAX) }] } } } }],
        output: [valueInfo('y', FLOAT, [])],
      },
      { model_version: i64(I64_MAX), opset_import: [{ domain: '', version: 13 }, { domain: 'test.int64', version: 1 }] },
    ),
  );

  test('the IR holds them exactly as bigints', () => {
    const m = decodeModel(bytes);
    const n = m.graph.nodes[0]!;
    const ends = n.attributes.get('ends')!;
    expect(ends.type === 'ints' && ends.value).toEqual([I64_MAX, I64_MIN, BEYOND_DOUBLE]);
    const i = n.attributes.get('i')!;
    expect(i.type === 'int' && i.value).toBe(I64_MIN);
    const init = (name: string): (number | bigint)[] => m.graph.initializers.get(name)!.constValue!.toNumberArrayLoose();
    expect(init('a')).toEqual(i64Values);
    expect(init('b')).toEqual(i64Values);
    expect(init('c')).toEqual(u64Values);
    expect(init('d')).toEqual(u64Values);
    expect(m.modelVersion).toBe(I64_MAX);
    const text = printModel(m, { tensorValues: 10 });
    expect(text).toContain('ends=[9223372036854775807,-9223372036854775808,9007199254740993]');
    expect(text).toContain('uint64[5] {18446744073709551615, 9223372036854775808, 9223372036854775809, 0, 9007199254740993}');
    expect(text).toContain('float[9223372036854775807]');
    // The typed accessor saturates unsafe values to a safe sentinel (documented in graph.ts).
    expect(n.attrInts('ends')).toEqual([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]);
  });

  test('they re-save byte-identical', () => {
    const once = encodeModel(decodeModel(bytes));
    expect(Buffer.from(once)).toEqual(Buffer.from(bytes));
    expect(Buffer.from(encodeModel(decodeModel(once)))).toEqual(Buffer.from(bytes));
  });

  test('ORT reads INT64_MAX / INT64_MIN after a round trip: Slice-1 attributes and Slice-13 inputs', async () => {
    const data = Float32Array.from([10, 11, 12, 13, 14]);
    const slice1 = encodeModelPb(
      modelPb(
        {
          name: 'g',
          node: [{ op_type: 'Slice', input: ['x'], output: ['y'], attribute: [
            { name: 'starts', type: 7, ints: [i64(1n)] },
            { name: 'ends', type: 7, ints: [i64(I64_MAX)] },
          ] }],
          input: [valueInfo('x', FLOAT, [5])],
          output: [valueInfo('y', FLOAT, [4])],
        },
        { opset_import: [{ domain: '', version: 9 }] },
      ),
    );
    const slice13 = encodeModelPb(
      modelPb({
        name: 'g',
        node: [{ op_type: 'Slice', input: ['x', 's', 'e', 'a', 'st'], output: ['y'] }],
        initializer: [
          { name: 's', dims: [1], data_type: INT64, raw_data: rawI64([I64_MAX]) },
          { name: 'e', dims: [1], data_type: INT64, int64_data: [i64(I64_MIN)] },
          { name: 'a', dims: [1], data_type: INT64, int64_data: [i64(0n)] },
          { name: 'st', dims: [1], data_type: INT64, int64_data: [i64(-1n)] },
        ],
        input: [valueInfo('x', FLOAT, [5])],
        output: [valueInfo('y', FLOAT, [5])],
      }),
    );
    const run = async (model: Uint8Array): Promise<number[]> => {
      const resaved = encodeModel(decodeModel(model));
      expect(Buffer.from(resaved)).toEqual(Buffer.from(model));
      const s = await ort.InferenceSession.create(resaved);
      const out = await s.run({ x: new ort.Tensor('float32', data, [5]) });
      await s.release();
      return Array.from(out.y!.data as Float32Array);
    };
    expect(await run(slice1)).toEqual([11, 12, 13, 14]);
    expect(await run(slice13)).toEqual([14, 13, 12, 11, 10]); // from the end, backwards, to before the start
  });
});
