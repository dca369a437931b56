/**
 * Deterministic mutation of encoded ONNX models for robustness tests: a seeded PRNG, a
 * schema-guided wire walker that finds tags, varints and length prefixes, and mutators.
 */
import protobuf from 'protobufjs';
import { ModelProtoType } from '../../src/onnx/proto.js';
import { mulberry32 } from '../../src/hbnn/prng.js';

/** The project's seeded generator (mulberry32, src/hbnn/prng.ts): uniform floats in [0, 1). */
export function prng(seed: number): () => number {
  return mulberry32(seed).next;
}

export interface Site {
  kind: 'tag' | 'varint' | 'length';
  /** Byte offset of the varint. */
  pos: number;
  /** Its encoded size in bytes. */
  size: number;
  /** Decoded value (lengths and small varints; approximate for int64). */
  value: number;
}

/** Walks an encoded ModelProto (well-formed input) and lists every tag, varint and length prefix. */
export function wireSites(bytes: Uint8Array): Site[] {
  const sites: Site[] = [];
  const r = protobuf.Reader.create(bytes);
  const walk = (end: number, type: protobuf.Type | null): void => {
    while (r.pos < end) {
      const tagPos = r.pos;
      const tag = r.uint32();
      sites.push({ kind: 'tag', pos: tagPos, size: r.pos - tagPos, value: tag });
      const field = type?.fieldsById[tag >>> 3];
      const wt = tag & 7;
      if (wt === 0) {
        const p = r.pos;
        r.skipType(0);
        sites.push({ kind: 'varint', pos: p, size: r.pos - p, value: bytes[p]! & 0x7f });
      } else if (wt === 2) {
        const p = r.pos;
        const len = r.uint32();
        sites.push({ kind: 'length', pos: p, size: r.pos - p, value: len });
        const sub = field?.resolvedType;
        if (sub instanceof protobuf.Type) walk(r.pos + len, sub);
        else r.skip(len);
      } else r.skipType(wt);
    }
  };
  walk(bytes.length, ModelProtoType);
  return sites;
}

export function encodeVarint(v: number): number[] {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
  return out;
}

function splice(bytes: Uint8Array, pos: number, remove: number, insert: number[]): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, pos), 0);
  out.set(insert, pos);
  out.set(bytes.subarray(pos + remove), pos + insert.length);
  return out;
}

export type MutationKind = 'truncate' | 'bitflip' | 'overwrite' | 'varint' | 'length-inflate' | 'length-deflate' | 'tag';

export interface Variant {
  kind: MutationKind;
  what: string;
  bytes: Uint8Array;
}

/** One variant of `bytes` of the given kind, chosen with `rand`. */
export function mutate(bytes: Uint8Array, sites: Site[], kind: MutationKind, rand: () => number): Variant {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const at = (): number => Math.floor(rand() * bytes.length);
  switch (kind) {
    case 'truncate': {
      const n = at();
      return { kind, what: `truncated to ${n} bytes`, bytes: bytes.slice(0, n) };
    }
    case 'bitflip': {
      const p = at();
      const bit = Math.floor(rand() * 8);
      const out = bytes.slice();
      out[p]! ^= 1 << bit;
      return { kind, what: `bit ${bit} of byte ${p} flipped`, bytes: out };
    }
    case 'overwrite': {
      const p = at();
      const n = 1 + Math.floor(rand() * 8);
      const out = bytes.slice();
      for (let i = 0; i < n && p + i < out.length; i++) out[p + i] = Math.floor(rand() * 256);
      return { kind, what: `${n} bytes overwritten at ${p}`, bytes: out };
    }
    case 'varint': {
      const s = pick(sites.filter((x) => x.kind !== 'tag'));
      const forms: [string, number[]][] = [
        ['unterminated (all continuation bits)', new Array(s.size).fill(0xff)],
        ['overlong 11-byte', [...new Array(10).fill(0xff), 0x01]],
        ['2^63-ish', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
        ['2^35', encodeVarint(2 ** 35)],
      ];
      const [name, enc] = pick(forms);
      return { kind, what: `${s.kind} at ${s.pos} replaced by ${name}`, bytes: splice(bytes, s.pos, s.size, enc) };
    }
    case 'length-inflate': {
      const s = pick(sites.filter((x) => x.kind === 'length'));
      const values = [s.value + 1, s.value + 7, s.value * 2 + 1, 0x7fffffff, 0xffffffff, 2 ** 40];
      const v = pick(values);
      return { kind, what: `length ${s.value} at ${s.pos} inflated to ${v}`, bytes: splice(bytes, s.pos, s.size, encodeVarint(v)) };
    }
    case 'length-deflate': {
      const s = pick(sites.filter((x) => x.kind === 'length' && x.value > 0));
      const v = Math.floor(rand() * s.value);
      return { kind, what: `length ${s.value} at ${s.pos} deflated to ${v}`, bytes: splice(bytes, s.pos, s.size, encodeVarint(v)) };
    }
    case 'tag': {
      const s = pick(sites.filter((x) => x.kind === 'tag'));
      const field = s.value >>> 3;
      const forms: [string, number][] = [
        ['wire type changed', (field << 3) | Math.floor(rand() * 8)],
        ['field number 0', s.value & 7],
        ['field number + 1', ((field + 1) << 3) | (s.value & 7)],
        ['group start', (field << 3) | 3],
      ];
      const [name, tag] = pick(forms);
      return { kind, what: `tag ${field}/${s.value & 7} at ${s.pos}: ${name}`, bytes: splice(bytes, s.pos, s.size, encodeVarint(tag)) };
    }
  }
}
