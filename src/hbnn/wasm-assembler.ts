/**
 * A small WebAssembly assembler: the binary format of a module with one imported memory and a
 * few exported functions, written from instruction lists that read like the text format
 * (`I.localGet(0)`, `I.f32Load()`, ...). It exists so that the SIMD kernels of the
 * re-binarization (wasm-kernels.ts) are readable TypeScript, assembled when first used, with
 * no WebAssembly toolchain at build time and no opaque bytes in the repository.
 *
 * Only what the kernels use is here: i32/f32/f64 scalar operations, the 128-bit SIMD ones the
 * kernels need, structured control (block, loop, if, br, br_if), locals and memory access.
 * The encodings are those of the WebAssembly core specification 2.0 (§5 Binary Format) and its
 * fixed-width SIMD proposal (merged in 2.0): each `I.*` helper returns the bytes of one
 * instruction.
 */

/** The part of the WebAssembly JavaScript API used here (tsconfig's lib has no DOM, where its types live). */
declare global {
  namespace WebAssembly {
    class Memory {
      constructor(descriptor: { initial: number });
      readonly buffer: ArrayBuffer;
      grow(pages: number): number;
    }
    class Module {
      constructor(bytes: Uint8Array);
    }
    class Instance {
      constructor(module: Module, imports: Record<string, Record<string, unknown>>);
      readonly exports: Record<string, unknown>;
    }
  }
}

/** Value types (spec §5.3.1). */
export const T = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValType = (typeof T)[keyof typeof T];

/** Unsigned LEB128 (spec §5.2.2). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function f32Bytes(x: number): number[] {
  return [...new Uint8Array(new Float32Array([x]).buffer)];
}

/** A memory argument: log2 of the alignment and a constant offset (spec §5.4.6). */
function memarg(align: number, offset: number): number[] {
  return [...uleb(align), ...uleb(offset)];
}

const simd = (op: number, ...rest: number[]): number[] => [0xfd, ...uleb(op), ...rest];

/** Instructions, each as its bytes. Control blocks have no result type (0x40). */
export const I = {
  // control
  block: (): number[] => [0x02, 0x40],
  loop: (): number[] => [0x03, 0x40],
  if: (): number[] => [0x04, 0x40],
  else: (): number[] => [0x05],
  end: (): number[] => [0x0b],
  br: (depth: number): number[] => [0x0c, ...uleb(depth)],
  brIf: (depth: number): number[] => [0x0d, ...uleb(depth)],
  return: (): number[] => [0x0f],
  drop: (): number[] => [0x1a],
  select: (): number[] => [0x1b],
  // locals
  localGet: (i: number): number[] => [0x20, ...uleb(i)],
  localSet: (i: number): number[] => [0x21, ...uleb(i)],
  localTee: (i: number): number[] => [0x22, ...uleb(i)],
  // memory (natural alignment by default; `offset` in bytes)
  i32Load: (offset = 0): number[] => [0x28, ...memarg(2, offset)],
  f32Load: (offset = 0): number[] => [0x2a, ...memarg(2, offset)],
  f64Load: (offset = 0): number[] => [0x2b, ...memarg(3, offset)],
  i32Load8U: (offset = 0): number[] => [0x2d, ...memarg(0, offset)],
  i32Store: (offset = 0): number[] => [0x36, ...memarg(2, offset)],
  f32Store: (offset = 0): number[] => [0x38, ...memarg(2, offset)],
  f64Store: (offset = 0): number[] => [0x39, ...memarg(3, offset)],
  i32Store8: (offset = 0): number[] => [0x3a, ...memarg(0, offset)],
  // constants
  i32Const: (n: number): number[] => [0x41, ...sleb(n)],
  f32Const: (x: number): number[] => [0x43, ...f32Bytes(x)],
  f64Const: (x: number): number[] => [0x44, ...new Uint8Array(Float64Array.of(x).buffer)],
  // i32
  i32Eqz: (): number[] => [0x45],
  i32Eq: (): number[] => [0x46],
  i32Ne: (): number[] => [0x47],
  i32LtS: (): number[] => [0x48],
  i32LtU: (): number[] => [0x49],
  i32GtU: (): number[] => [0x4b],
  i32GeS: (): number[] => [0x4e],
  i32LeU: (): number[] => [0x4d],
  i32GeU: (): number[] => [0x4f],
  i32Popcnt: (): number[] => [0x69],
  i32Add: (): number[] => [0x6a],
  i32Sub: (): number[] => [0x6b],
  i32Mul: (): number[] => [0x6c],
  i32And: (): number[] => [0x71],
  i32Or: (): number[] => [0x72],
  i32Xor: (): number[] => [0x73],
  i32Shl: (): number[] => [0x74],
  i32ShrU: (): number[] => [0x76],
  // f32
  f32Eq: (): number[] => [0x5b],
  f32Lt: (): number[] => [0x5d],
  f32Gt: (): number[] => [0x5e],
  f32Le: (): number[] => [0x5f],
  f32Abs: (): number[] => [0x8b],
  f32Sub: (): number[] => [0x93],
  // f64
  f64Lt: (): number[] => [0x63],
  f64Le: (): number[] => [0x65],
  f64Abs: (): number[] => [0x99],
  f64Add: (): number[] => [0xa0],
  f64Sub: (): number[] => [0xa1],
  f64Mul: (): number[] => [0xa2],
  f32DemoteF64: (): number[] => [0xb6],
  f64PromoteF32: (): number[] => [0xbb],
  i32ReinterpretF32: (): number[] => [0xbc],
  // 128-bit SIMD (0xfd prefix)
  v128Load: (offset = 0): number[] => simd(0x00, ...memarg(4, offset)),
  v128Store: (offset = 0): number[] => simd(0x0b, ...memarg(4, offset)),
  v128Const: (bytes: number[]): number[] => simd(0x0c, ...bytes),
  i8x16Swizzle: (): number[] => simd(0x0e),
  i32x4Splat: (): number[] => simd(0x11),
  f32x4Splat: (): number[] => simd(0x13),
  v128Not: (): number[] => simd(0x4d),
  v128And: (): number[] => simd(0x4e),
  v128AndNot: (): number[] => simd(0x4f),
  v128Or: (): number[] => simd(0x50),
  v128Bitselect: (): number[] => simd(0x52),
  v128AnyTrue: (): number[] => simd(0x53),
  f32x4Lt: (): number[] => simd(0x43),
  f32x4Le: (): number[] => simd(0x45),
  i32x4Bitmask: (): number[] => simd(0xa4),
  i32x4Add: (): number[] => simd(0xae),
  i32x4ExtractLane: (lane: number): number[] => simd(0x1b, lane),
  f32x4ExtractLane: (lane: number): number[] => simd(0x1f, lane),
  f32x4Abs: (): number[] => simd(0xe0),
  f64x2Splat: (): number[] => simd(0x14),
  f64x2ExtractLane: (lane: number): number[] => simd(0x21, lane),
  f64x2Le: (): number[] => simd(0x4b),
  f64x2Abs: (): number[] => simd(0xec),
  f64x2Add: (): number[] => simd(0xf0),
  f64x2Sub: (): number[] => simd(0xf1),
  f64x2Mul: (): number[] => simd(0xf2),
  f32x4DemoteF64x2Zero: (): number[] => simd(0x5e),
  f64x2PromoteLowF32x4: (): number[] => simd(0x5f),
  f32x4Sub: (): number[] => simd(0xe5),
  i8x16Shuffle: (lanes: number[]): number[] => simd(0x0d, ...lanes),
};

/** One function of a module: its signature, extra locals and body (without the final `end`). */
export interface WasmFunction {
  name: string;
  params: ValType[];
  results: ValType[];
  locals: ValType[];
  body: number[][];
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/**
 * The bytes of a module that imports its memory as `env.memory` (at least `minPages` pages of
 * 64 KiB) and exports `functions` under their names.
 */
export function assembleModule(functions: WasmFunction[], minPages = 1): Uint8Array {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const imports = [[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)]];
  const funcs = functions.map((_, i) => uleb(i));
  const exports = functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  const codes = functions.map((f) => {
    // locals as (count, type) runs
    const runs: number[][] = [];
    for (const t of f.locals) {
      const lastRun = runs[runs.length - 1];
      if (lastRun !== undefined && lastRun[1] === t) lastRun[0]++;
      else runs.push([1, t]);
    }
    const body = [...vec(runs.map(([c, t]) => [...uleb(c!), t!])), ...f.body.flat(), 0x0b];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(funcs)),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ]);
}

// ---- Helpers for kernel bodies

/** Named locals: parameters first, then the extra locals, each with its index. */
export function locals<P extends Record<string, ValType>, L extends Record<string, ValType>>(params: P, extra: L): { idx: Record<keyof P | keyof L, number>; params: ValType[]; locals: ValType[] } {
  const idx = {} as Record<keyof P | keyof L, number>;
  let i = 0;
  for (const k of Object.keys(params)) idx[k as keyof P] = i++;
  for (const k of Object.keys(extra)) idx[k as keyof L] = i++;
  return { idx, params: Object.values(params), locals: Object.values(extra) };
}

/** ptr + (index << shift) */
export const addr = (ptr: number, index: number, shift: number): number[][] =>
  shift === 0 ? [I.localGet(ptr), I.localGet(index), I.i32Add()] : [I.localGet(ptr), I.localGet(index), I.i32Const(shift), I.i32Shl(), I.i32Add()];

/** p++ and loop while p < end (the end of a `loop` over p). */
export const nextP = (p: number, end: number): number[][] => [I.localGet(p), I.i32Const(1), I.i32Add(), I.localTee(p), I.localGet(end), I.i32LtU(), I.brIf(0)];

/** A loop over p in [p, end): `block; br_if (p >= end); loop; ...body; p++; br_if (p < end); end; end`. */
export const loopP = (p: number, end: number, body: number[][]): number[][] => [
  I.block(), I.localGet(p), I.localGet(end), I.i32GeU(), I.brIf(0),
  I.loop(), ...body, ...nextP(p, end), I.end(),
  I.end(),
];

