/**
 * Bad inputs: a model that was not quantized, a program the backend cannot map (a LOWERING
 * error naming the layer), and input that is neither a model nor a bit-level program. Impossible
 * foldings are in folding.test.ts; compiler failures in csim.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { lowerVivadoHls, planVivadoHls } from '../../../src/backends/vivado-hls/index.js';
import { ErrorCodes } from '../../../src/errors.js';
import { loadModel } from '../../../src/onnx/io.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { lowerToBitIR } from '../../../src/bitir/lower.js';
import { DataType } from '../../../src/ir/dtype.js';
import { setTensorType } from '../../../src/ir/types.js';
import type { BitProgram } from '../../../src/bitir/types.js';
import { fmnistProgram } from './helpers.js';
import { A, FMNIST_CNN, addFloatInit, addInput, addNode, expectHbnnError, newModel } from '../../helpers/build.js';

/** input [1,2,6,6] → Conv "grouped" (2→4 channels, 3×3, pad 1, group 2) → Relu → Flatten → Gemm "head" (144→3). */
async function groupedConvModel(): Promise<ReturnType<typeof newModel>> {
  const m = newModel();
  const g = m.graph;
  const x = addInput(g, 'input', ['N', 2, 6, 6]);
  const w = addFloatInit(g, 'grouped.weight', [4, 1, 3, 3]);
  const c = addNode(g, 'Conv', [x, w], ['conv_out'], { kernel_shape: A.ints([3, 3]), pads: A.ints([1, 1, 1, 1]), group: A.int(2) }, { name: 'grouped' });
  const r = addNode(g, 'Relu', [c.outputs[0]!], ['relu_out'], {}, { name: 'relu' });
  const f = addNode(g, 'Flatten', [r.outputs[0]!], ['flat'], { axis: A.int(1) }, { name: 'flatten' });
  const hw = addFloatInit(g, 'head.weight', [3, 144]);
  const y = addNode(g, 'Gemm', [f.outputs[0]!, hw], ['logits'], { transB: A.int(1) }, { name: 'head' });
  setTensorType(y.outputs[0]!, DataType.FLOAT, ['N', 3]);
  g.outputs.push(y.outputs[0]!);
  await quantize(m, { avgBits: 1 });
  return m;
}

describe('vivado-hls bad inputs', () => {
  it('a float model is NOT_QUANTIZED', async () => {
    const e = await expectHbnnError(() => lowerVivadoHls(loadModel(FMNIST_CNN())), ErrorCodes.NOT_QUANTIZED);
    expect(e.message).toMatch(/quantize/);
  });

  it('a grouped convolution is a vector-vector unit (no longer an error); a program without argmax is a LOWERING error', async () => {
    const m = await groupedConvModel();
    const program = lowerToBitIR(m);
    expect(program.ops.some((o) => o.op === 'conv' && o.group === 2)).toBe(true);
    const plan = planVivadoHls(program);
    expect(plan.design.units.map((u) => [u.layer, u.groups])).toEqual([
      ['grouped', 2],
      ['head', 1],
    ]);
    const bad: BitProgram = { ...program, ops: program.ops.filter((o) => o.op !== 'argmax') };
    const e = await expectHbnnError(() => planVivadoHls(bad), ErrorCodes.LOWERING);
    expect(e.message).toContain('no argmax');
  });

  it('an accumulator read by something other than its activation is a LOWERING error naming the layer', async () => {
    const p = await fmnistProgram('W1.4');
    // Let the scaling layer read the Gemm's accumulators as well (a malformed program).
    const bad: BitProgram = structuredClone(p);
    const unit = bad.ops.find((o) => o.op === 'matvec')!;
    const scale = bad.ops.find((o) => o.op === 'scale')!;
    (scale as { input: string }).input = unit.output;
    const e = await expectHbnnError(() => planVivadoHls(bad), ErrorCodes.LOWERING);
    expect(e.message).toContain('exactly one threshold or requantize');
    expect(e.message).toContain('node "/fc/Gemm"');
  });

  it('something that is neither a model nor a program is INVALID_OPTION', async () => {
    await expectHbnnError(() => lowerVivadoHls({ format: 'other' } as unknown as BitProgram), ErrorCodes.INVALID_OPTION);
  });

  it('test data that is not whole samples is DATA_MISMATCH; a bad sample count is INVALID_OPTION', async () => {
    const p = await fmnistProgram('W1.4');
    await expectHbnnError(() => lowerVivadoHls(p, { testData: new Float32Array(784 + 5) }), ErrorCodes.DATA_MISMATCH);
    await expectHbnnError(() => lowerVivadoHls(p, { testSamples: 0 }), ErrorCodes.INVALID_OPTION);
  });
});
