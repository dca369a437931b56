/**
 * loadModel's streamed read (src/onnx/stream-read.ts): large main-graph raw_data read into
 * buffers of their own gives the model the whole-file decode gives; files outside the handled
 * layout, and broken files, go to the whole-file decode (same model, same errors).
 */
import { afterAll, describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeModel, encodeModel, loadModel, LARGE_RAW_BYTES } from '../../src/onnx/io.js';
import { readSkeleton } from '../../src/onnx/stream-read.js';
import { isHbnnError } from '../../src/errors.js';
import { concat, encodeModelPb, floatTensorPb, FLOAT, lenField, modelPb, valueInfo } from './build.js';
import { prng } from './mutate.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-stream-read-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const N = LARGE_RAW_BYTES / 4 + 3; // just over the threshold
const r = prng(11);
const floats = (n: number) => Float32Array.from({ length: n }, () => r() - 0.5);

/** Two large initializers between small ones, a small Constant, a doc string after the graph. */
function bigModelPb(): Record<string, unknown> {
  return modelPb(
    {
      name: 'g',
      node: [
        { op_type: 'Add', input: ['x', 'a'], output: ['t1'] },
        { op_type: 'Mul', input: ['t1', 'b'], output: ['t2'] },
        { op_type: 'Add', input: ['t2', 's'], output: ['y'] },
      ],
      initializer: [floatTensorPb('s', [1], floats(1)), floatTensorPb('a', [N], floats(N)), floatTensorPb('small', [5], floats(5)), floatTensorPb('b', [N], floats(N))],
      input: [valueInfo('x', FLOAT, [N])],
      output: [valueInfo('y', FLOAT, [N])],
    },
    { doc_string: 'after the graph' },
  );
}

function write(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('streamed loadModel', () => {
  test('large raw_data in buffers of their own; the model (re-encoded) is the whole-file decode, byte for byte', () => {
    const bytes = encodeModelPb(bigModelPb());
    const file = write('big.onnx', bytes);
    const sk = readSkeleton(file, LARGE_RAW_BYTES)!;
    expect(sk.large.map((l) => l.initializer)).toEqual([1, 3]);
    expect(sk.bytes.length).toBeLessThan(bytes.length - 2 * 4 * N + 1000);
    const m = loadModel(file);
    for (const name of ['a', 'b']) {
      const raw = (m.graph.initializers.get(name)!.constValue!.storage as { bytes: Uint8Array }).bytes;
      expect(raw.buffer.byteLength).toBe(4 * N);
    }
    expect(same(encodeModel(m), encodeModel(decodeModel(bytes)))).toBe(true);
    expect(same(encodeModel(m), bytes)).toBe(true);
  });

  test('a second graph field (protobuf merge rules) or no large tensor: the whole-file decode', () => {
    const one = encodeModelPb(bigModelPb());
    // ModelProto field 7 again, an empty graph: the scan gives up, the decode is what it always was.
    const twice = write('twice.onnx', concat(one, lenField(7, new Uint8Array(0))));
    expect(readSkeleton(twice, LARGE_RAW_BYTES)).toBeUndefined();
    const whole = (() => {
      try {
        return encodeModel(decodeModel(fs.readFileSync(twice)));
      } catch (e) {
        return String((e as Error).message);
      }
    })();
    const streamed = (() => {
      try {
        return encodeModel(loadModel(twice));
      } catch (e) {
        return String((e as Error).message);
      }
    })();
    expect(typeof whole === 'string' ? streamed : same(streamed as Uint8Array, whole)).toEqual(typeof whole === 'string' ? whole : true);
    expect(readSkeleton(write('small.onnx', encodeModelPb(bigModelPb())), 1 << 30)).toBeUndefined();
  });

  test('truncated and corrupted files fail with the errors of the whole-file decode', () => {
    const bytes = encodeModelPb(bigModelPb());
    const cases: [string, Uint8Array][] = [
      ['cut in the second tensor', bytes.subarray(0, bytes.length - 4 * N + 100)],
      ['cut in the first tensor', bytes.subarray(0, 4 * N)],
      ['a raw_data length off by 4', (() => {
        const b = Buffer.from(bytes);
        // The 'b' tensor's raw_data as 4 bytes shorter: its dims no longer match.
        const head = floatTensorPbRawHeader(4 * N);
        const at = b.lastIndexOf(Buffer.from(head));
        const shorter = floatTensorPbRawHeader(4 * N - 4);
        if (at < 0 || shorter.length !== head.length) throw new Error('header not found');
        Buffer.from(shorter).copy(b, at);
        return b;
      })()],
    ];
    for (const [what, b] of cases) {
      const file = write(`bad-${cases.findIndex((c) => c[0] === what)}.onnx`, b);
      const err = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return isHbnnError(e) ? `${e.code}: ${e.message}` : `untyped: ${(e as Error).message}`;
        }
        return 'no error';
      };
      const want = err(() => decodeModel(fs.readFileSync(file), { file }));
      expect(err(() => loadModel(file)), what).toBe(want);
    }
  });
});

/** The raw_data tag and length varint of `bytes` bytes of raw data (field 9, wire type 2). */
function floatTensorPbRawHeader(bytes: number): number[] {
  const out = [0x4a];
  let v = bytes;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}
