/**
 * Hand-made malformed and unusual files: each must decode to a Model or fail with the
 * intended HbnnError code (and a message that says where).
 */
import { describe, expect, test } from 'vitest';
import { decodeModel, decodeTensor, encodeModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { HbnnError, ErrorCodes, type ErrorCode } from '../../src/errors.js';
import { MAX_DEPTH } from '../../src/onnx/proto.js';
import {
  FLOAT,
  INT64,
  GraphProtoType,
  NodeProtoType,
  addModelPb,
  concat,
  encodeModelPb,
  encodeTensorPb,
  lenField,
  modelPb,
  valueInfo,
  varintField,
} from './build.js';
import { encodeMessage } from '../../src/onnx/proto.js';
import { prng } from './mutate.js';

function codeOf(fn: () => unknown): { code: ErrorCode; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof HbnnError) return { code: e.code, message: e.message };
    throw new Error(`untyped error: ${(e as Error).name}: ${(e as Error).message}`);
  }
  throw new Error('did not throw');
}

const good = encodeModelPb(addModelPb(4, Float32Array.from([1, 2, 3, 4])));

describe('unknown fields', () => {
  test('an unknown varint field 99 on ModelProto → onnx-unknown-field naming ModelProto', () => {
    const bytes = concat(good, varintField(99, 1));
    const e = codeOf(() => decodeModel(bytes));
    expect(e.code).toBe(ErrorCodes.ONNX_UNKNOWN_FIELD);
    expect(e.message).toMatch(/^ModelProto has field number 99 \(varint\)/);
  });

  test('an unknown field on a nested NodeProto → the message names the path to the node', () => {
    const first = encodeMessage(NodeProtoType, { op_type: 'Relu', input: ['x'], output: ['r'] });
    const secondClean = encodeMessage(NodeProtoType, { op_type: 'Relu', input: ['r'], output: ['y'] });
    const second = concat(secondClean, varintField(99, 7));
    const rest = encodeMessage(GraphProtoType, {
      name: 'g',
      input: [valueInfo('x', FLOAT, [2])],
      output: [valueInfo('y', FLOAT, [2])],
    });
    const graph = concat(lenField(1, first), lenField(1, second), rest);
    const bytes = concat(encodeModelPb(modelPb(undefined as unknown as object)), lenField(7, graph));
    // Without the unknown field the same construction loads (so the construction is sound).
    const clean = concat(encodeModelPb(modelPb(undefined as unknown as object)), lenField(7, concat(lenField(1, first), lenField(1, secondClean), rest)));
    expect(decodeModel(clean).graph.nodes.map((n) => n.opType)).toEqual(['Relu', 'Relu']);
    const e = codeOf(() => decodeModel(bytes));
    expect(e.code).toBe(ErrorCodes.ONNX_UNKNOWN_FIELD);
    expect(e.message).toContain('ModelProto.graph.node[1] has field number 99');
  });

  test('an unknown field inside a subgraph of an attribute is found too', () => {
    const body = concat(encodeMessage(GraphProtoType, { name: 'then', output: [valueInfo('x', FLOAT, [1])] }), lenField(42, new Uint8Array([1, 2])));
    const attr = concat(encodeMessage(NodeProtoType.root.lookupType('onnx.AttributeProto'), { name: 'then_branch', type: 5 }), lenField(6, body));
    const node = concat(encodeMessage(NodeProtoType, { op_type: 'If', input: ['c'], output: ['y'] }), lenField(5, attr));
    const graph = concat(lenField(1, node), encodeMessage(GraphProtoType, { input: [valueInfo('c', 9, [])] }));
    const bytes = concat(encodeModelPb(modelPb(undefined as unknown as object)), lenField(7, graph));
    const e = codeOf(() => decodeModel(bytes));
    expect(e.code).toBe(ErrorCodes.ONNX_UNKNOWN_FIELD);
    expect(e.message).toContain('ModelProto.graph.node[0].attribute[0].g has field number 42 (length-delimited)');
  });
});

describe('malformed wire data → onnx-decode; not a ModelProto at all → onnx-not-a-model', () => {
  test.each([
    // Not a ModelProto at all: empty, not protobuf, or wrong wire types in the first fields (src/onnx/sniff.ts).
    ['empty input', new Uint8Array(0), ErrorCodes.ONNX_NOT_A_MODEL],
    ['a lone continuation byte', Uint8Array.from([0x80]), ErrorCodes.ONNX_NOT_A_MODEL],
    ['field number 0', Uint8Array.from([0x00, 0x01]), ErrorCodes.ONNX_NOT_A_MODEL],
    ['a group start tag (field 7)', Uint8Array.from([(7 << 3) | 3]), ErrorCodes.ONNX_NOT_A_MODEL],
    ['ir_version sent as length-delimited', concat(lenField(1, Uint8Array.from([1, 2, 3])), good), ErrorCodes.ONNX_NOT_A_MODEL],
    ['graph (a message) sent as a varint', concat(varintField(7, 5)), ErrorCodes.ONNX_NOT_A_MODEL],
    // A ModelProto start, damaged later: the decoder says where.
    ['graph length beyond the end', concat(Uint8Array.from([(7 << 3) | 2, 0xff, 0xff, 0xff, 0xff, 0x0f])), ErrorCodes.ONNX_DECODE],
    ['the same singular message (graph) twice', concat(good, lenField(7, new Uint8Array(0))), ErrorCodes.ONNX_DECODE],
    ['truncated by one byte', good.subarray(0, good.length - 1), ErrorCodes.ONNX_DECODE],
  ] as const)('%s', (_, bytes, code) => {
    expect(codeOf(() => decodeModel(bytes)).code).toBe(code);
  });

  test('random bytes never escape as untyped errors', () => {
    const rand = prng(7);
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(rand() * 200);
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
      try {
        decodeModel(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(HbnnError);
        expect((e as HbnnError).context.unexpected).toBeUndefined();
      }
    }
  });

  test(`nesting deeper than ${MAX_DEPTH} levels is refused; moderate nesting loads`, () => {
    const AttributeProtoType = NodeProtoType.root.lookupType('onnx.AttributeProto');
    const nested = (depth: number): Uint8Array => {
      // If → then_branch → If → ... : three message levels per graph level. Built from raw
      // pieces (protobufjs itself refuses to encode or decode past 100 levels).
      let g = encodeMessage(GraphProtoType, { name: 'leaf', output: [valueInfo('c', 9, [])] });
      const elseBranch = lenField(6, encodeMessage(GraphProtoType, { name: 'e', output: [valueInfo('c', 9, [])] }));
      for (let i = 0; i < depth; i++) {
        const then = concat(encodeMessage(AttributeProtoType, { name: 'then_branch', type: 5 }), lenField(6, g));
        const els = concat(encodeMessage(AttributeProtoType, { name: 'else_branch', type: 5 }), elseBranch);
        const node = concat(encodeMessage(NodeProtoType, { op_type: 'If', input: ['c'], output: [`y${i}`] }), lenField(5, then), lenField(5, els));
        g = concat(lenField(1, node), encodeMessage(GraphProtoType, { name: `l${i}`, output: [valueInfo(`y${i}`, 9, [])] }));
      }
      g = concat(g, encodeMessage(GraphProtoType, { input: [valueInfo('c', 9, [])] }));
      return concat(encodeModelPb(modelPb(undefined as unknown as object)), lenField(7, g));
    };
    const ok = decodeModel(nested(10));
    expect(printModel(ok)).toContain('If');
    expect(decodeModel(encodeModel(ok)).graph.nodes[0]!.subgraphs()).toHaveLength(2);
    const e = codeOf(() => decodeModel(nested(500)));
    expect(e.code).toBe(ErrorCodes.ONNX_DECODE);
    expect(e.message).toMatch(/nesting deeper than 64 levels/);
  });
});

describe('tensor payloads', () => {
  const tensorModel = (t: Record<string, unknown>): Uint8Array =>
    encodeModelPb(
      modelPb({
        name: 'g',
        node: [{ op_type: 'Identity', input: ['t'], output: ['y'] }],
        initializer: [{ name: 't', ...t }],
        output: [valueInfo('y', Number(t.data_type ?? 1), [])],
      }),
    );

  test.each([
    ['raw_data shorter than dims × type', { dims: [4], data_type: FLOAT, raw_data: new Uint8Array(12) }, /has 12 bytes of raw_data, expected 16/],
    ['raw_data longer than dims × type', { dims: [2, 2], data_type: INT64, raw_data: new Uint8Array(40) }, /has 40 bytes of raw_data, expected 32/],
    ['float_data with the wrong count', { dims: [3], data_type: FLOAT, float_data: [1, 2] }, /has 2 values in float_data, expected 3/],
    ['float_data for an int64 tensor', { dims: [2], data_type: INT64, float_data: [1, 2] }, /int64 stores its values in float_data/],
    ['raw_data and float_data both', { dims: [1], data_type: FLOAT, float_data: [1], raw_data: new Uint8Array(4) }, /more than one field \(float_data, raw_data\)/],
    ['strings in raw_data', { dims: [1], data_type: 8, raw_data: new Uint8Array(1) }, /strings in raw_data/],
    ['a negative dimension', { dims: [-1], data_type: FLOAT, raw_data: new Uint8Array(0) }, /negative dimension -1/],
    ['a dimension beyond 2^53', { dims: [2 ** 60], data_type: FLOAT }, /does not fit a safe integer/],
  ])('%s → onnx-invalid', (_, t, msg) => {
    const e = codeOf(() => decodeModel(tensorModel(t)));
    expect(e.code).toBe(ErrorCodes.ONNX_INVALID);
    expect(e.message).toMatch(msg);
  });

  test('matching payloads of every storage kind load and re-save identically', () => {
    const cases: Record<string, unknown>[] = [
      { dims: [2, 3], data_type: FLOAT, raw_data: new Uint8Array(24) },
      { dims: [2], data_type: 14, float_data: [1, 2, 3, 4] }, // complex64: two floats per element
      { dims: [3], data_type: 22, int32_data: [0x21, 0x03] }, // int4: two per int32_data entry
      { dims: [3], data_type: 22, raw_data: new Uint8Array(2) },
      { dims: [5], data_type: 26, int32_data: [0, 1] }, // int2: four per entry
      { dims: [2], data_type: 10, int32_data: [0x3c00, 0xc000] }, // float16 bits
      { dims: [2], data_type: 12, uint64_data: [1, 4294967295] }, // uint32 in uint64_data
      { dims: [1], data_type: 8, string_data: [new Uint8Array([104, 105])] },
      { dims: [0, 4], data_type: FLOAT }, // zero-size, no data
      { dims: [2, 2], data_type: FLOAT }, // no data field at all: accepted, kept data-less
    ];
    for (const t of cases) {
      const bytes = tensorModel(t);
      const m = decodeModel(bytes);
      expect(encodeModel(m)).toEqual(bytes);
    }
  });

  test('a data-less tensor with elements loads and re-saves as written, but its values cannot be read', () => {
    const bytes = tensorModel({ dims: [2, 2], data_type: FLOAT });
    const m = decodeModel(bytes);
    const t = m.graph.initializers.get('t')!.constValue!;
    expect(t.storage.kind).toBe('empty');
    for (const read of [() => t.toFloat32(), () => t.toRawBytes(), () => t.toNumberArray(), () => t.toNumberArrayLoose()]) {
      const e = codeOf(read);
      expect(e.code).toBe(ErrorCodes.ONNX_INVALID);
      expect(e.message).toMatch(/has no data/);
    }
    expect(printModel(m, { tensorValues: 4 })).toContain('float[2,2]');
    expect(encodeModel(m)).toEqual(bytes);
    // Zero-size tensors have nothing to read and read fine.
    const z = decodeModel(tensorModel({ dims: [0, 3], data_type: FLOAT })).graph.initializers.get('t')!.constValue!;
    expect(z.toFloat32()).toHaveLength(0);
  });

  test('decodeTensor applies the same checks to .pb files', () => {
    expect(codeOf(() => decodeTensor(encodeTensorPb({ dims: [3], data_type: FLOAT, raw_data: new Uint8Array(4) }))).code).toBe(ErrorCodes.ONNX_INVALID);
    expect(decodeTensor(encodeTensorPb({ dims: [1], data_type: FLOAT, raw_data: new Uint8Array(4) })).dims).toEqual([1]);
  });
});

describe('graph structure', () => {
  test('a value defined twice → onnx-invalid (not a verifier error)', () => {
    const bytes = encodeModelPb(
      modelPb({
        node: [
          { op_type: 'Relu', input: ['x'], output: ['y'] },
          { op_type: 'Relu', input: ['x'], output: ['y'] },
        ],
        input: [valueInfo('x', FLOAT, [1])],
        output: [valueInfo('y', FLOAT, [1])],
      }),
    );
    const e = codeOf(() => decodeModel(bytes));
    expect(e.code).toBe(ErrorCodes.ONNX_INVALID);
    expect(e.message).toMatch(/defines "y", which graph "main" already defines/);
  });

  test('a STRING attribute without its s field decodes as the empty string and re-encodes', () => {
    const bytes = encodeModelPb(
      modelPb({
        node: [{ op_type: 'Custom', domain: 'x.y', input: ['x'], output: ['y'], attribute: [{ name: 'mode', type: 3 }] }],
        input: [valueInfo('x', FLOAT, [1])],
        output: [valueInfo('y', FLOAT, [1])],
      }),
    );
    const m = decodeModel(bytes);
    expect(m.graph.nodes[0]!.attrString('mode')).toBe('');
    expect(printModel(m)).toContain('mode=""');
    expect(() => encodeModel(m)).not.toThrow();
  });
});
