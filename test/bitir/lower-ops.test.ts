/**
 * Issue 16 lowering rules on small cases: the Clip/LeakyRelu fold into binarizer breakpoints,
 * average-pool divisors, a binarizer code that holds at one point only, the typed error for
 * unsupported operators (in code and through `hbnn-onnx lower`, which then writes nothing),
 * a Softmax that is not last, and the canonicalization `lower` runs first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeMonotone, lowerToBitIR, SUPPORTED_OPS } from '../../src/bitir/lower.js';
import { avgPoolDivisors } from '../../src/bitir/window.js';
import { binarizeActivation, binarizerPieces } from '../../src/bitir/binarizer.js';
import { interpret } from '../../src/bitir/interpret.js';
import { quantize } from '../../src/drivers/quantize.js';
import { encodeModel } from '../../src/onnx/io.js';
import { ErrorCodes, HbnnError } from '../../src/errors.js';
import { buildPoolNet, buildTorchExport } from '../../zoo/topologies.js';
import { cli, tmpDir } from '../cli/helpers.js';

const thrown = (f: () => unknown): HbnnError => {
  try {
    f();
  } catch (e) {
    if (e instanceof HbnnError) return e;
    throw e;
  }
  throw new Error('expected an HbnnError');
};

describe('issue-16 lowering rules', () => {
  it('a clamp or LeakyRelu before a binarizer becomes breakpoints in its input', () => {
    // Binarizer: codes 0 | 1 | 2 | 3 split at -1, 0, 2.
    const p = [-1, 0, 2];
    const codes = [0, 1, 2, 3];
    // ReLU6: x <= 0 reads b(0) = 2 (the code from 0 on), breakpoint 2 stays, 6 is above it.
    expect(composeMonotone(p, codes, { lo: 0, hi: 6, alpha: 0 })).toEqual({ breakpoints: [2], codes: [2, 3] });
    // Clip(-0.5, 1): b(-0.5) = 1 below, 0 kept, 2 beyond the clamp (b(1) = 2 above 0).
    expect(composeMonotone(p, codes, { lo: -0.5, hi: 1, alpha: 0 })).toEqual({ breakpoints: [0], codes: [1, 2] });
    // LeakyRelu 0.1: a negative breakpoint -1 is reached at x = -10.
    expect(composeMonotone(p, codes, { lo: -Infinity, hi: Infinity, alpha: 0.1 })).toEqual({ breakpoints: [-10, 0, 2], codes: [0, 1, 2, 3] });
  });

  it('average-pool divisors follow onnxruntime (count_include_pad 0 and 1, cut at the padded end)', () => {
    const w = { kernel: [3, 3] as [number, number], strides: [2, 2] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number], dilations: [1, 1] as [number, number] };
    // 5×5 input, 3×3 /2 pad 1: 3×3 outputs; windows start at -1, 1, 3.
    expect(Array.from(avgPoolDivisors([1, 5, 5], w, 3, 3, false))).toEqual([4, 6, 4, 6, 9, 6, 4, 6, 4]);
    expect(Array.from(avgPoolDivisors([1, 5, 5], w, 3, 3, true))).toEqual([9, 9, 9, 9, 9, 9, 9, 9, 9]);
  });

  it('a code that holds only at a breakpoint (k = center at x = 0 when t1 = center) is a one-point interval', () => {
    const c = { scales: [0.25, 0.35, 0] as [number, number, number], center: 0.5, sign: 1, t1: 0.5, t2: 3e38 };
    const atZero = binarizeActivation(0, c).code;
    const justAbove = binarizeActivation(1e-3, c).code;
    expect(atZero).not.toEqual(justAbove);
    const pieces = binarizerPieces(c);
    const i = pieces.breakpoints.indexOf(0);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(pieces.codes[i + 1]).toEqual(atZero);
    expect(pieces.breakpoints[i + 1]).toBe(Number.MIN_VALUE);
    expect(pieces.codes[i + 2]).toEqual(justAbove);
  });

  it('an unsupported operator is a typed lowering error naming the node, the op and the supported ops', async () => {
    const m = buildPoolNet({ width: 2, hidden: 4 });
    await quantize(m, { avgBits: 1.4 });
    const leaky = m.graph.nodes.find((n) => n.opType === 'LeakyRelu')!;
    leaky.opType = 'LRN';
    const e = thrown(() => lowerToBitIR(m));
    expect(e.code).toBe(ErrorCodes.LOWERING);
    expect(e.message).toBe(`cannot lower node "${leaky.name}" (LRN): operator LRN has no bit-level form; supported: ${SUPPORTED_OPS.join(', ')}`);
    expect(e.context).toMatchObject({ node: leaky.name, op: 'LRN', supported: [...SUPPORTED_OPS] });
    // BatchNormalization is listed as supported, and the message no longer says otherwise for it.
    expect(SUPPORTED_OPS).toContain('BatchNormalization');
  });

  it('every operator without a bit-level form (the issue-16 list) is the same typed error, and every backend that lowers writes nothing', async () => {
    // Issue 16's blockers that stay unsupported, put where the pooling net's LeakyRelu is.
    const ops = ['LRN', 'Resize', 'DepthToSpace', 'ConvTranspose', 'QuantizeLinear', 'DequantizeLinear', 'InstanceNormalization', 'Sigmoid', 'Tanh', 'PRelu'];
    const m = buildPoolNet({ width: 2, hidden: 4 });
    await quantize(m, { avgBits: 1.4 });
    const node = m.graph.nodes.find((n) => n.opType === 'LeakyRelu')!;
    for (const op of ops) {
      expect(SUPPORTED_OPS.join(' '), op).not.toContain(op);
      node.opType = op;
      const e = thrown(() => lowerToBitIR(m));
      expect(e.code, op).toBe(ErrorCodes.LOWERING);
      expect(e.message, op).toBe(`cannot lower node "${node.name}" (${op}): operator ${op} has no bit-level form; supported: ${SUPPORTED_OPS.join(', ')}`);
      expect(e.context, op).toMatchObject({ node: node.name, op, supported: [...SUPPORTED_OPS] });
    }
    // Through the CLI, for each backend that needs the bit-level IR: exit 4, one error line, no output folder.
    node.opType = 'Resize';
    const d = tmpDir();
    fs.writeFileSync(path.join(d, 'bad.onnx'), encodeModel(m));
    const before = fs.readFileSync(path.join(d, 'bad.onnx'));
    for (const args of [['--backend', 'vivado-hls'], ['--backend', 'asic', '--from-bit-ir']]) {
      const r = await cli(['lower', 'bad.onnx', ...args, '-o', 'out'], { cwd: d });
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^hbnn-onnx: error\\[lowering\\]: cannot lower node "${node.name}" \\(Resize\\): operator Resize has no bit-level form; supported: Conv, `));
      expect(fs.readdirSync(d)).toEqual(['bad.onnx']);
    }
    expect(fs.readFileSync(path.join(d, 'bad.onnx')).equals(before)).toBe(true);
  });

  it('a Softmax that is not the last op is a lowering error; a final one is dropped for argmax', async () => {
    const m = buildPoolNet({ width: 2, hidden: 4, softmax: true });
    await quantize(m, { avgBits: 1.4 });
    const p = lowerToBitIR(m);
    const argmax = p.ops[p.ops.length - 1]!;
    expect(argmax.op).toBe('argmax');
    expect(argmax.nodes).toEqual([m.graph.outputs[0]!.producer!.name]);
    const bad = buildPoolNet({ width: 2, hidden: 4 });
    await quantize(bad, { avgBits: 1.4 });
    const relu = bad.graph.nodes.find((n) => n.opType === 'Relu')!;
    relu.opType = 'Softmax';
    const e = thrown(() => lowerToBitIR(bad));
    expect(e.code).toBe(ErrorCodes.LOWERING);
    expect(e.message).toMatch(/supported only as the final op/);
  });

  it('the PyTorch-style export (Identity on a shared weight, Reshape [1, -1]) lowers; the shared weight is read twice', async () => {
    const m = buildTorchExport({ width: 2 });
    await quantize(m, { avgBits: 1.4 });
    const p = lowerToBitIR(m);
    const convs = p.ops.filter((o) => o.op === 'conv');
    expect(convs.length).toBe(3);
    const r = interpret(p, new Float32Array(28 * 28).map((_, i) => Math.sin(i)));
    expect(r.classes.length).toBe(1);
  });

  it('hbnn-onnx lower canonicalizes first (--print-pipeline) and writes nothing on a lowering error', async () => {
    const pp = await cli(['lower', 'x.onnx', '--backend', 'bit-ir', '--print-pipeline']);
    expect(pp.code, pp.stderr).toBe(0);
    expect(pp.stdout).toBe('eliminate-identity,fold-constants,eliminate-dead-code,infer-shapes\n');
    const d = tmpDir();
    const ok = buildTorchExport({ width: 2 });
    await quantize(ok, { avgBits: 1.4 });
    fs.writeFileSync(path.join(d, 'ok.onnx'), encodeModel(ok));
    const r = await cli(['lower', 'ok.onnx', '--backend', 'bit-ir', '-o', 'ok.ir'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}canonicalization: eliminate-identity,fold-constants,eliminate-dead-code,infer-shapes \((changed by [a-z-]+(, [a-z-]+)*|nothing to change)\)$/m);
    const bad = buildPoolNet({ width: 2, hidden: 4 });
    await quantize(bad, { avgBits: 1.4 });
    bad.graph.nodes.find((n) => n.opType === 'LeakyRelu')!.opType = 'LRN';
    fs.writeFileSync(path.join(d, 'bad.onnx'), encodeModel(bad));
    const b = await cli(['lower', 'bad.onnx', '--backend', 'bit-ir', '-o', 'bad.ir'], { cwd: d });
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/operator LRN has no bit-level form; supported: Conv/);
    expect(fs.existsSync(path.join(d, 'bad.ir'))).toBe(false);
  });
});
