/**
 * Test-only, hand-rolled onnx.TensorProto bytes: fields dims = 1 (int64 varint), data_type = 2
 * (varint), name = 8 (string), raw_data = 9 (bytes). Plus the matching minimal decoder that the
 * tests inject into readTestDataSet (the real one lives in the ONNX layer).
 */
import type { DecodedTensor } from '../../src/data/index.js';

export const FLOAT = 1;
export const UINT8 = 2;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Serializes a TensorProto with one varint per dim (unpacked), data_type, name and raw_data. */
export function encodeTensorProto(name: string, dims: number[], dataType: number, raw: Uint8Array): Uint8Array {
  const bytes: number[] = [];
  for (const d of dims) bytes.push(0x08, ...varint(d)); // field 1, wire type 0
  bytes.push(0x10, ...varint(dataType)); // field 2, wire type 0
  const nameBytes = new TextEncoder().encode(name);
  bytes.push(0x42, ...varint(nameBytes.length), ...nameBytes); // field 8, wire type 2
  bytes.push(0x4a, ...varint(raw.length), ...raw); // field 9, wire type 2
  return Uint8Array.from(bytes);
}

export function floatTensor(name: string, dims: number[], values: number[]): Uint8Array {
  const f = Float32Array.from(values);
  return encodeTensorProto(name, dims, FLOAT, new Uint8Array(f.buffer));
}

/** Decodes exactly the subset encodeTensorProto writes; throws on anything else. */
export function decodeTestTensor(bytes: Uint8Array): DecodedTensor {
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (pos >= bytes.length) throw new Error('truncated varint');
      const b = bytes[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
  };
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw = new Uint8Array(0);
  while (pos < bytes.length) {
    const tag = readVarint();
    if (tag === 0x08) dims.push(readVarint());
    else if (tag === 0x10) dataType = readVarint();
    else if (tag === 0x42 || tag === 0x4a) {
      const len = readVarint();
      if (pos + len > bytes.length) throw new Error('truncated field');
      const body = bytes.slice(pos, pos + len);
      pos += len;
      if (tag === 0x42) name = new TextDecoder().decode(body);
      else raw = body;
    } else throw new Error(`unexpected tag ${tag}`);
  }
  if (dataType === FLOAT) return { name, dims, data: new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) };
  if (dataType === UINT8) return { name, dims, data: raw };
  throw new Error(`unsupported data_type ${dataType}`);
}
