/** undeclaredDomains: node domains used without an opset_import entry. */
import { describe, expect, test } from 'vitest';
import { decodeModel } from '../../src/onnx/io.js';
import { undeclaredDomains } from '../../src/onnx/checks.js';
import { FLOAT, encodeModelPb, modelPb, valueInfo } from './build.js';

function model(nodes: object[], opsets: { domain: string; version: number }[], extra: Record<string, unknown> = {}) {
  return decodeModel(
    encodeModelPb(
      modelPb(
        { name: 'g', node: nodes, input: [valueInfo('x', FLOAT, [1]), valueInfo('c', 9, [])], output: [valueInfo('y', FLOAT, [1])] },
        { opset_import: opsets, ...extra },
      ),
    ),
  );
}

describe('undeclaredDomains', () => {
  test('nothing to report when every domain is declared; "" and "ai.onnx" are one domain', () => {
    expect(undeclaredDomains(model([{ op_type: 'Relu', input: ['x'], output: ['y'] }], [{ domain: '', version: 13 }]))).toEqual([]);
    expect(undeclaredDomains(model([{ op_type: 'Relu', input: ['x'], output: ['y'] }], [{ domain: 'ai.onnx', version: 13 }]))).toEqual([]);
    expect(undeclaredDomains(model([{ op_type: 'Relu', domain: 'ai.onnx', input: ['x'], output: ['y'] }], [{ domain: '', version: 13 }]))).toEqual([]);
  });

  test('custom domains used without an entry are listed once, sorted; the default domain too', () => {
    const nodes = [
      { op_type: 'Quant', domain: 'onnx.brevitas', input: ['x'], output: ['a'] },
      { op_type: 'Quant', domain: 'onnx.brevitas', input: ['a'], output: ['b'] },
      { op_type: 'Foo', domain: 'com.acme', input: ['b'], output: ['z'] },
      { op_type: 'Relu', input: ['z'], output: ['y'] },
    ];
    expect(undeclaredDomains(model(nodes, [{ domain: '', version: 13 }]))).toEqual(['com.acme', 'onnx.brevitas']);
    expect(undeclaredDomains(model(nodes, [{ domain: 'com.acme', version: 1 }]))).toEqual(['', 'onnx.brevitas']);
  });

  test('nodes inside subgraphs (If branches) are checked', () => {
    const branch = (name: string, domain: string) => ({
      name,
      node: [{ op_type: 'Op', domain, input: ['x'], output: [`${name}_y`] }],
      output: [valueInfo(`${name}_y`, FLOAT, [1])],
    });
    const nodes = [
      {
        op_type: 'If',
        input: ['c'],
        output: ['y'],
        attribute: [
          { name: 'then_branch', type: 5, g: branch('t', 'deep.one') },
          { name: 'else_branch', type: 5, g: branch('e', '') },
        ],
      },
    ];
    expect(undeclaredDomains(model(nodes, [{ domain: '', version: 13 }]))).toEqual(['deep.one']);
  });

  test("model-local function bodies are checked against the function's opset_import", () => {
    const fn = (opsets: object[]) => ({
      name: 'F',
      domain: 'local',
      input: ['X'],
      output: ['Y'],
      node: [{ op_type: 'Inner', domain: 'fn.inner', input: ['X'], output: ['Y'] }],
      opset_import: opsets,
    });
    const call = [{ op_type: 'F', domain: 'local', input: ['x'], output: ['y'] }];
    const declared = [{ domain: '', version: 13 }, { domain: 'local', version: 1 }];
    expect(undeclaredDomains(model(call, declared, { functions: [fn([])] }))).toEqual(['fn.inner']);
    expect(undeclaredDomains(model(call, declared, { functions: [fn([{ domain: 'fn.inner', version: 1 }])] }))).toEqual([]);
    expect(undeclaredDomains(model(call, [{ domain: '', version: 13 }], { functions: [fn([{ domain: 'fn.inner', version: 1 }])] }))).toEqual(['local']);
  });
});
