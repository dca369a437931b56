/**
 * Every part of the current schema survives load → save → load: a hand-made model that
 * uses the fields the node-test corpus does not (model-local functions, training info,
 * sparse initializers and attributes, type-proto attributes, quantization annotations,
 * metadata_props on every message that has them, overloads, device configurations,
 * tensor segments, IR 1-style attributes without a type).
 */
import { describe, expect, test } from 'vitest';
import { decodeModel, encodeModel } from '../../src/onnx/io.js';
import { printModel } from '../../src/ir/printer.js';
import { FLOAT, INT64, encodeModelPb, floatTensorPb, modelPb, tensorType, valueInfo } from './build.js';

const meta = (k: string): object[] => [{ key: k, value: `${k}-value` }];

const sparse = {
  values: { name: 'sv', dims: [2], data_type: FLOAT, float_data: [1, 2] },
  indices: { name: 'si', dims: [2], data_type: INT64, int64_data: [0, 3] },
  dims: [4],
};

const fullModel = modelPb(
  {
    name: 'main',
    doc_string: 'graph doc',
    metadata_props: meta('graph'),
    node: [
      {
        op_type: 'Gelu2',
        domain: 'local.fn',
        overload: 'v2',
        name: 'call',
        doc_string: 'node doc',
        input: ['x'],
        output: ['h'],
        metadata_props: meta('node'),
        attribute: [{ name: 'alpha', type: 1, f: 0.5, doc_string: 'attr doc' }],
        device_configurations: [{ configuration_id: 'cfg', sharding_spec: [{ tensor_name: 'x', device: [0, 1], sharded_dim: [{ axis: 0, simple_sharding: [{ dim_value: 4, num_shards: 2 }] }] }], pipeline_stage: 1 }],
      },
      {
        op_type: 'Custom',
        domain: 'x.custom',
        input: ['h', 'w', ''],
        output: ['y', ''],
        attribute: [
          { name: 'sp', type: 11, sparse_tensor: sparse },
          { name: 'sps', type: 12, sparse_tensors: [sparse, sparse] },
          { name: 'tp', type: 13, tp: tensorType(FLOAT, [2]) },
          { name: 'tps', type: 14, type_protos: [tensorType(INT64, [1]), { sequence_type: { elem_type: tensorType(FLOAT, []) } }] },
          { name: 'legacy_i', i: 3 }, // IR 1 style: no type field
          { name: 'strs', type: 8, strings: [new Uint8Array([0xff, 0x00]), new Uint8Array(0)] }, // not UTF-8
          { name: 'ref', type: 2, ref_attr_name: 'outer' },
        ],
      },
    ],
    initializer: [
      { ...floatTensorPb('w', [2], Float32Array.from([3, 4])), doc_string: 'w doc', metadata_props: meta('tensor') },
      { name: 'seg', dims: [2], data_type: FLOAT, segment: { begin: 0, end: 2 }, float_data: [1, 2], data_location: 0 },
    ],
    sparse_initializer: [sparse],
    input: [{ ...valueInfo('x', FLOAT, [2]), doc_string: 'x doc', metadata_props: meta('value') }],
    output: [valueInfo('y', FLOAT, [2])],
    value_info: [valueInfo('h', FLOAT, [2]), valueInfo('not_in_graph', FLOAT, [7])],
    quantization_annotation: [{ tensor_name: 'w', quant_parameter_tensor_names: [{ key: 'SCALE_TENSOR', value: 'w_scale' }] }],
  },
  {
    ir_version: 11,
    opset_import: [
      { domain: '', version: 21 },
      { domain: 'local.fn', version: 1 },
      { domain: 'x.custom', version: 1 },
    ],
    producer_version: '1.0',
    domain: 'org.example',
    model_version: 3,
    doc_string: 'model doc',
    metadata_props: meta('model'),
    functions: [
      {
        name: 'Gelu2',
        domain: 'local.fn',
        overload: 'v2',
        input: ['X'],
        output: ['Y'],
        attribute: ['unused'],
        attribute_proto: [{ name: 'alpha', type: 1, f: 0.5 }],
        node: [{ op_type: 'Mul', input: ['X', 'X'], output: ['Y'] }],
        opset_import: [{ domain: '', version: 21 }],
        value_info: [valueInfo('Y', FLOAT, [2])],
        metadata_props: meta('function'),
        doc_string: 'function doc',
      },
    ],
    training_info: [
      {
        initialization: { name: 'init', node: [], output: [valueInfo('w', FLOAT, [2])] },
        algorithm: { name: 'step', node: [{ op_type: 'Identity', input: ['w'], output: ['w_new'] }], output: [valueInfo('w_new', FLOAT, [2])] },
        initialization_binding: [{ key: 'w', value: 'w' }],
        update_binding: [{ key: 'w', value: 'w_new' }],
      },
    ],
    configuration: [{ name: 'cfg', num_devices: 2, device: ['cpu:0', 'cpu:1'] }],
  },
);

describe('full-schema round trip', () => {
  const bytes = encodeModelPb(fullModel);

  test('re-saves byte-identical, twice, and prints the same', () => {
    const m1 = decodeModel(bytes);
    const b1 = encodeModel(m1);
    expect(Buffer.from(b1)).toEqual(Buffer.from(bytes));
    const m2 = decodeModel(b1);
    expect(printModel(m2, { tensorValues: 1e9 })).toBe(printModel(m1, { tensorValues: 1e9 }));
    expect(Buffer.from(encodeModel(m2))).toEqual(Buffer.from(bytes));
  });

  test('the parts the IR does not model are kept and visible', () => {
    const m = decodeModel(bytes);
    expect(m.irVersion).toBe(11n);
    expect(m.functions).toHaveLength(1);
    expect(m.trainingInfo).toHaveLength(1);
    expect(m.configuration).toHaveLength(1);
    expect(m.graph.sparseInitializers).toHaveLength(1);
    expect(m.graph.quantizationAnnotations).toHaveLength(1);
    expect(m.graph.danglingValueInfo).toHaveLength(1);
    const [call, custom] = m.graph.nodes;
    expect(call!.overload).toBe('v2');
    expect(call!.deviceConfigurations).toHaveLength(1);
    expect([...custom!.attributes.values()].map((a) => a.type)).toEqual([
      'sparse_tensor',
      'sparse_tensors',
      'type_proto',
      'type_protos',
      'int',
      'strings',
      'int',
    ]);
    expect(custom!.attributes.get('ref')!.refAttrName).toBe('outer');
    expect(custom!.inputs[2]).toBeNull();
    const text = printModel(m);
    expect(text).toContain('function {');
    expect(text).toContain('training_info {');
    expect(text).toContain('ref=@outer');
  });

  test('changing a kept part changes the output (the round trip is not a byte cache)', () => {
    const m = decodeModel(bytes);
    (m.functions[0] as { doc_string: string }).doc_string = 'changed';
    const again = decodeModel(encodeModel(m));
    expect((again.functions[0] as { doc_string: string }).doc_string).toBe('changed');
    m.graph.nodes[0]!.setFloat('alpha', 0.25);
    expect(printModel(decodeModel(encodeModel(m)))).toContain('alpha=0.250000');
  });
});
