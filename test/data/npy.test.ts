import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy, parseNpyHeader, readNpy, writeNpy, type NdArray } from '../../src/data/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectError, tempDir } from './helpers.js';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const values = (a: NdArray): unknown[] => Array.from(a.data as ArrayLike<unknown>);

// Files written by numpy 2.4 (np.save / np.lib.format.write_array), base64.
const NUMPY = {
  // np.arange(6, dtype='<f4').reshape(2,3) * 0.5
  f4_2x3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAPwAAgD8AAMA/AAAAQAAAIEA=',
  // np.asfortranarray(np.arange(12, dtype='<i4').reshape(2,3,2))
  fortran_i4: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAABgAAAAIAAAAIAAAABAAAAAoAAAABAAAABwAAAAMAAAAJAAAABQAAAAsAAAA=',
  // np.array([1, -2, 300, -32768], dtype='>i2')
  be_i2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmkyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAf/+ASyAAA==',
  // np.array([1.5, -2.25], dtype='>f8')
  be_f8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/+AAAAAAAAMACAAAAAAAA',
  // np.array([True, False, True])
  bool: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=',
  // np.array([0, 2**64-1], dtype='<u8')
  u8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHU4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAP//////////',
  // np.array(3.25)
  scalar_f8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAKQA==',
  // write_array(np.arange(4, dtype='<i8'), version=(2,0))
  v2_i8: 'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoNCwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAEAAAAAAAAAAgAAAAAAAAADAAAAAAAAAA==',
  // write_array(np.arange(4, dtype='|u1'), version=(3,0))
  v3_u1: 'k05VTVBZAwB0AAAAeydkZXNjcic6ICd8dTEnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoNCwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAQID',
};

const ALL: NdArray[] = [
  { dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 0.5, -1.5, 1e-30, 3.4e38, -0]) },
  { dtype: 'float64', shape: [3], data: Float64Array.from([Math.E, -1e-300, 1e300]) },
  { dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) },
  { dtype: 'int32', shape: [1, 3], data: Int32Array.from([-2147483648, 0, 2147483647]) },
  { dtype: 'uint8', shape: [2, 2], data: Uint8Array.from([0, 1, 128, 255]) },
  { dtype: 'int8', shape: [3], data: Int8Array.from([-128, 5, 127]) },
  { dtype: 'uint16', shape: [2], data: Uint16Array.from([1, 65535]) },
  { dtype: 'int16', shape: [2], data: Int16Array.from([-32768, 32767]) },
  { dtype: 'uint32', shape: [2], data: Uint32Array.from([0, 4294967295]) },
  { dtype: 'uint64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
  { dtype: 'bool', shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) },
];

describe('.npy', () => {
  for (const a of ALL) {
    for (const version of [1, 2, 3] as const) {
      it(`round-trips ${a.dtype} as version ${version}.0`, () => {
        const bytes = encodeNpy(a, { version });
        expect(bytes[6]).toBe(version);
        const h = parseNpyHeader(bytes);
        expect(h.dataOffset % 64).toBe(0);
        expect(bytes[h.dataOffset - 1]).toBe(0x0a);
        const back = parseNpy(bytes);
        expect(back.dtype).toBe(a.dtype);
        expect(back.shape).toEqual(a.shape);
        expect(values(back)).toEqual(values(a));
      });
    }
  }

  it('round-trips through a file', () => {
    const file = path.join(dir, 'x.npy');
    writeNpy(file, ALL[0]!);
    expect(values(readNpy(file))).toEqual(values(ALL[0]!));
  });

  it('writes exactly what numpy writes for a float32 [2,3] array', () => {
    const mine = encodeNpy({ dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 0.5, 1, 1.5, 2, 2.5]) });
    expect(Buffer.from(mine).equals(Buffer.from(b64(NUMPY.f4_2x3)))).toBe(true);
  });

  it('reads numpy files: float32, scalar, v2 int64, v3 uint8, bool, uint64', () => {
    const f4 = parseNpy(b64(NUMPY.f4_2x3));
    expect([f4.dtype, f4.shape, values(f4)]).toEqual(['float32', [2, 3], [0, 0.5, 1, 1.5, 2, 2.5]]);
    const s = parseNpy(b64(NUMPY.scalar_f8));
    expect([s.shape, values(s)]).toEqual([[], [3.25]]);
    const v2 = parseNpy(b64(NUMPY.v2_i8));
    expect([parseNpyHeader(b64(NUMPY.v2_i8)).version, v2.dtype, values(v2)]).toEqual([2, 'int64', [0n, 1n, 2n, 3n]]);
    const v3 = parseNpy(b64(NUMPY.v3_u1));
    expect([parseNpyHeader(b64(NUMPY.v3_u1)).version, v3.dtype, values(v3)]).toEqual([3, 'uint8', [0, 1, 2, 3]]);
    const b = parseNpy(b64(NUMPY.bool));
    expect([b.dtype, values(b)]).toEqual(['bool', [1, 0, 1]]);
    expect(values(parseNpy(b64(NUMPY.u8)))).toEqual([0n, 2n ** 64n - 1n]);
  });

  it('converts big-endian data to native order', () => {
    expect(values(parseNpy(b64(NUMPY.be_i2)))).toEqual([1, -2, 300, -32768]);
    expect(values(parseNpy(b64(NUMPY.be_f8)))).toEqual([1.5, -2.25]);
  });

  it('transposes fortran_order data into C order', () => {
    const a = parseNpy(b64(NUMPY.fortran_i4));
    expect(a.shape).toEqual([2, 3, 2]);
    expect(values(a)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  const withHeader = (dict: string, body = new Uint8Array(0), version = 1): Uint8Array => {
    const d = new TextEncoder().encode(dict + '\n');
    const pre = version === 1 ? 10 : 12;
    const out = new Uint8Array(pre + d.length + body.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    const v = new DataView(out.buffer);
    if (version === 1) v.setUint16(8, d.length, true);
    else v.setUint32(8, d.length, true);
    out.set(d, pre);
    out.set(body, pre + d.length);
    return out;
  };

  it('accepts Python 2 long literals and double quotes in the header', () => {
    const a = parseNpy(withHeader(`{"descr": "|u1", "fortran_order": False, "shape": (2L, 1L)}`, Uint8Array.from([7, 9])));
    expect([a.shape, values(a)]).toEqual([[2, 1], [7, 9]]);
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['no magic', new TextEncoder().encode('NUMPY not really a file'), /missing the \\x93NUMPY magic/],
    ['version 4.0', withHeader(`{'descr': '|u1', 'fortran_order': False, 'shape': (0,), }`, undefined, 4), /version 4\.0/],
    ['garbage header', withHeader(`{'descr': '|u1', oops}`), /malformed \.npy header/],
    ['missing key', withHeader(`{'descr': '|u1', 'shape': (0,), }`), /exactly the keys/],
    ['extra key', withHeader(`{'descr': '|u1', 'fortran_order': False, 'shape': (0,), 'x': 1}`), /exactly the keys/],
    ['float16', withHeader(`{'descr': '<f2', 'fortran_order': False, 'shape': (0,), }`), /unsupported dtype '<f2'/],
    ['object dtype', withHeader(`{'descr': '|O', 'fortran_order': False, 'shape': (0,), }`), /unsupported dtype/],
    ['structured dtype', withHeader(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (0,), }`), /structured/],
    ['negative dim', withHeader(`{'descr': '|u1', 'fortran_order': False, 'shape': (-1,), }`), /non-negative integers/],
    ['fortran_order not bool', withHeader(`{'descr': '|u1', 'fortran_order': 0, 'shape': (0,), }`), /True or False/],
    ['truncated data', withHeader(`{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }`, new Uint8Array(7)), /truncated/],
    ['trailing data', withHeader(`{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }`, new Uint8Array(9)), /trailing bytes/],
    ['header past the end', b64(NUMPY.f4_2x3).subarray(0, 40), /truncated \.npy header/],
  ];
  for (const [what, bytes, re] of bad) {
    it(`rejects ${what} with DATA_FORMAT naming the source`, () => {
      const e = expectError(() => parseNpy(bytes, 'bad.npy'), ErrorCodes.DATA_FORMAT);
      expect(e.message).toMatch(re);
      expect(e.message.startsWith('bad.npy: ')).toBe(true);
    });
  }

  it('reports a missing file as FILE_NOT_FOUND', () => {
    expectError(() => readNpy(path.join(dir, 'missing.npy')), ErrorCodes.FILE_NOT_FOUND);
  });
});
