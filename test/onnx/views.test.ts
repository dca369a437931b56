/**
 * Decoded raw_data is a view of the bytes, not a copy; float views are zero-copy when the
 * bytes are 4-aligned in the buffer, and correct (copied) when they are not. loadModel reads
 * large raw_data into buffers of their own (src/onnx/stream-read.ts).
 */
import { afterAll, describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeModel, loadModel, saveModel } from '../../src/onnx/io.js';
import { addModelPb, encodeModelPb, FLOAT, modelPb, valueInfo } from './build.js';
import { prng } from './mutate.js';

const N = 1 << 18; // 256 K floats, 1 MiB
const r = prng(3);
const W = Float32Array.from({ length: N }, () => r());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-views-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function same(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** A model file whose weight raw_data starts at a file offset ≡ `mod` (mod 4). */
function modelWithWeightAt(mod: number): { file: string; bytes: Buffer } {
  for (let k = 1; k < 8; k++) {
    const bytes = Buffer.from(encodeModelPb({ ...addModelPb(N, W), producer_name: 'p'.repeat(k) }));
    const at = bytes.indexOf(Buffer.from(W.buffer, 0, 64));
    if (at % 4 === mod) {
      const file = path.join(dir, `m${mod}.onnx`);
      fs.writeFileSync(file, bytes);
      return { file, bytes };
    }
  }
  throw new Error('no name length gives that alignment');
}

describe('raw_data views', () => {
  test('aligned: the tensor bytes and toFloat32() share the file buffer (no copy)', () => {
    const { file } = modelWithWeightAt(0);
    const fileBuffer = fs.readFileSync(file);
    expect(fileBuffer.byteOffset % 4).toBe(0); // large reads get their own ArrayBuffer
    const m = decodeModel(fileBuffer);
    const t = [...m.graph.initializers.values()][0]!.constValue!;
    expect(t.storage.kind).toBe('raw');
    const raw = (t.storage as { bytes: Uint8Array }).bytes;
    expect(raw.buffer).toBe(fileBuffer.buffer);
    const f = t.toFloat32();
    expect(f.buffer).toBe(fileBuffer.buffer);
    expect(f.byteOffset).toBe(raw.byteOffset);
    expect(same(f, W)).toBe(true);
  });

  test('misaligned: the bytes are still a view, toFloat32() is a correct aligned copy', () => {
    const { file } = modelWithWeightAt(1);
    const fileBuffer = fs.readFileSync(file);
    const t = [...decodeModel(fileBuffer).graph.initializers.values()][0]!.constValue!;
    const raw = (t.storage as { bytes: Uint8Array }).bytes;
    expect(raw.buffer).toBe(fileBuffer.buffer);
    expect((fileBuffer.byteOffset + raw.byteOffset) % 4).not.toBe(0);
    const f = t.toFloat32();
    expect(f.buffer).not.toBe(fileBuffer.buffer);
    expect(same(f, W)).toBe(true);
  });

  test('loadModel reads a large raw_data into a buffer of its own (aligned: no copy to read floats), and external data at a 4096-aligned offset is zero-copy', () => {
    for (const mod of [0, 1]) {
      const { file } = modelWithWeightAt(mod);
      const t = [...loadModel(file).graph.initializers.values()][0]!.constValue!;
      const raw = (t.storage as { bytes: Uint8Array }).bytes;
      expect(raw.buffer.byteLength).toBe(4 * N); // the tensor's bytes only: the file's are not kept
      expect(raw.byteOffset).toBe(0);
      expect(t.toFloat32().buffer).toBe(raw.buffer);
      expect(same(t.toFloat32(), W)).toBe(true);
    }
    const { file } = modelWithWeightAt(0);

    // Saved inline, the 1 MiB raw_data goes out as its own chunk (no copy): same bytes.
    const inline = path.join(dir, 'inline.onnx');
    saveModel(loadModel(file), inline, { externalData: 'none' });
    expect(Buffer.compare(fs.readFileSync(inline), fs.readFileSync(file))).toBe(0);

    const ext = path.join(dir, 'ext.onnx');
    saveModel(loadModel(file), ext, { externalData: { threshold: 1024 } });
    const te = [...loadModel(ext).graph.initializers.values()][0]!.constValue!;
    const re = (te.storage as { bytes: Uint8Array }).bytes;
    expect(te.external?.offset).toBe(0);
    expect(re.byteOffset % 4).toBe(0);
    expect(te.toFloat32().buffer).toBe(re.buffer);
    expect(same(te.toFloat32(), W)).toBe(true);
  });

  test('float_data storage: toFloat32() returns the decoded array itself', () => {
    const bytes = encodeModelPb(
      modelPb({
        name: 'g',
        node: [{ op_type: 'Identity', input: ['c'], output: ['y'] }],
        initializer: [{ name: 'c', dims: [3], data_type: FLOAT, float_data: [1.5, -2, 3] }],
        output: [valueInfo('y', FLOAT, [3])],
      }),
    );
    const t = [...decodeModel(bytes).graph.initializers.values()][0]!.constValue!;
    expect(t.storage.kind).toBe('float');
    expect(t.toFloat32()).toBe((t.storage as { values: Float32Array }).values);
    expect(Array.from(t.toFloat32())).toEqual([1.5, -2, 3]);
  });
});
