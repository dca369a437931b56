import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, parseIdx, readIdx, writeIdx, type NdArray } from '../../src/data/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectError, tempDir } from './helpers.js';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const samples: NdArray[] = [
  { dtype: 'uint8', shape: [3, 2, 2], data: Uint8Array.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255, 7, 8]) },
  { dtype: 'int8', shape: [4], data: Int8Array.from([-128, -1, 0, 127]) },
  { dtype: 'int16', shape: [2, 2], data: Int16Array.from([-32768, -2, 258, 32767]) },
  { dtype: 'int32', shape: [3], data: Int32Array.from([-2147483648, 16909060, 2147483647]) },
  { dtype: 'float32', shape: [2, 1, 2], data: Float32Array.from([0.5, -1.25, 3.4028234663852886e38, 1e-7]) },
  { dtype: 'float64', shape: [2], data: Float64Array.from([Math.PI, -1e300]) },
];

describe('IDX', () => {
  it('writes the MNIST header layout: 00 00 type rank, big-endian dims and elements', () => {
    const bytes = encodeIdx({ dtype: 'int16', shape: [2, 1], data: Int16Array.from([0x0102, -2]) });
    expect(Array.from(bytes)).toEqual([0, 0, 0x0b, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0x01, 0x02, 0xff, 0xfe]);
  });

  for (const a of samples) {
    for (const gzip of [false, true]) {
      it(`round-trips ${a.dtype} ${JSON.stringify(a.shape)} ${gzip ? 'gzipped' : 'raw'} through a file`, () => {
        const file = path.join(dir, `${a.dtype}-${gzip}.idx${gzip ? '.gz' : ''}`);
        writeIdx(file, a);
        const onDisk = fs.readFileSync(file);
        expect(onDisk[0] === 0x1f && onDisk[1] === 0x8b).toBe(gzip);
        const back = readIdx(file);
        expect(back.dtype).toBe(a.dtype);
        expect(back.shape).toEqual(a.shape);
        expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(a.data as ArrayLike<number>));
      });
    }
  }

  it('detects gzip by content, not by file name', () => {
    const a = samples[0]!;
    const file = path.join(dir, 'no-gz-suffix-idx3-ubyte');
    writeIdx(file, a, { gzip: true });
    expect(readIdx(file).shape).toEqual([3, 2, 2]);
  });

  it('writes deterministic gzip: mtime 0, no name, fixed OS byte, same bytes twice', () => {
    const a = encodeIdx(samples[0]!, { gzip: true });
    const b = encodeIdx(samples[0]!, { gzip: true });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Array.from(a.subarray(0, 10))).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff]);
    expect(Buffer.from(gunzipSync(a)).equals(Buffer.from(encodeIdx(samples[0]!)))).toBe(true);
  });

  it('rejects a wrong magic', () => {
    const bytes = encodeIdx(samples[0]!);
    bytes[0] = 1;
    const e = expectError(() => parseIdx(bytes, 'bad-magic.idx'), ErrorCodes.DATA_FORMAT);
    expect(e.message).toContain('bad-magic.idx');
    expect(e.context.file).toBe('bad-magic.idx');
  });

  it('rejects an unknown type byte', () => {
    const bytes = encodeIdx(samples[0]!);
    bytes[2] = 0x0a;
    expect(expectError(() => parseIdx(bytes, 'x'), ErrorCodes.DATA_FORMAT).message).toMatch(/element type 0x0A/);
  });

  it('rejects a truncated header', () => {
    const bytes = encodeIdx(samples[0]!).subarray(0, 9);
    expect(expectError(() => parseIdx(bytes, 'hdr.idx'), ErrorCodes.DATA_FORMAT).message).toMatch(/truncated IDX header/);
    expectError(() => parseIdx(new Uint8Array([0, 0]), 'tiny'), ErrorCodes.DATA_FORMAT);
  });

  it('rejects data shorter than the dims say, by one byte', () => {
    const bytes = encodeIdx(samples[2]!);
    const e = expectError(() => parseIdx(bytes.subarray(0, bytes.length - 1), 'short.idx'), ErrorCodes.DATA_FORMAT);
    expect(e.message).toMatch(/short\.idx: IDX file truncated/);
    expect(e.context.expectedBytes).toBe(bytes.length);
  });

  it('rejects trailing bytes after the data', () => {
    const bytes = encodeIdx(samples[1]!);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(expectError(() => parseIdx(longer, 'long.idx'), ErrorCodes.DATA_FORMAT).message).toMatch(/trailing bytes/);
  });

  it('rejects dims that disagree with the length (dims edited)', () => {
    const bytes = encodeIdx(samples[0]!);
    bytes[7] = 4; // first dim 3 -> 4
    expectError(() => parseIdx(bytes, 'dims.idx'), ErrorCodes.DATA_FORMAT);
  });

  it('rejects a truncated gzip stream, naming the file', () => {
    const gz = gzipSync(encodeIdx(samples[0]!));
    const file = path.join(dir, 'cut.idx.gz');
    fs.writeFileSync(file, gz.subarray(0, gz.length - 6));
    const e = expectError(() => readIdx(file), ErrorCodes.DATA_FORMAT);
    expect(e.message).toContain(file);
  });

  it('reports a missing file as FILE_NOT_FOUND', () => {
    const file = path.join(dir, 'nope.idx');
    expect(expectError(() => readIdx(file), ErrorCodes.FILE_NOT_FOUND).message).toContain(file);
  });

  it('refuses dtypes IDX cannot hold', () => {
    expectError(() => encodeIdx({ dtype: 'uint16', shape: [1], data: Uint16Array.from([1]) }), ErrorCodes.INVALID_OPTION);
  });
});
