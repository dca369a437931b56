/**
 * SGD with momentum after the first step (`sgdMomentum` in optimizer.ts, the default
 * optimizer's loop) as a WebAssembly kernel, bit for bit the JavaScript loop: the same float64
 * operations in the same order per element, each result stored as float32, and the float64
 * sum of the stored |w| in index order. Assembled at first use by src/hbnn/wasm-assembler.ts.
 * Weights made by `trainingArrays` (the trainer's binarized latent weights, in one
 * `KernelArena` with their Ŵ, sign paths and bit maps) or `updatableArray` live in a memory
 * beside their gradient's room and their momentum and are updated in place (only the gradient
 * is copied in); others are copied into a shared memory and back (memmoves).
 */
import { addr, assembleModule, I, locals, loopP, T } from '../hbnn/wasm-assembler.js';
import { createKernelArena, KernelArena } from '../hbnn/wasm-kernels.js';

/** Below this many weights the JavaScript loop runs (the copies and the call cost more). */
const WASM_MIN = 4096;

/**
 * For i in [0, n): wi = w[i]; gi = (|wi| <= clip ? g[i] : 0) + wd·wi; b = f32(mu·buf[i] + gi);
 * buf[i] = b; nw = f32(wi - lr·b); w[i] = nw; sum += |nw|. All in float64 as the JS loop: four
 * weights per step in two float64x2 halves (the same operations per lane; the select as a
 * mask, which gives the same +0 or g), the sum's four adds in index order; the scalar loop for
 * the last n mod 4.
 */
function sgdMomentumKernel() {
  const { idx: x, params, locals: extra } = locals(
    { w: T.i32, g: T.i32, buf: T.i32, n: T.i32, lr: T.f64, wd: T.f64, mu: T.f64, clip: T.f64 },
    {
      p: T.i32, wi: T.f64, b: T.f32, nw: T.f32, sum: T.f64, n4: T.i32,
      lrv: T.v128, wdv: T.v128, muv: T.v128, clipv: T.v128,
      wv: T.v128, gv: T.v128, bv: T.v128, wl: T.v128, wh: T.v128, gl: T.v128, gh: T.v128, bl: T.v128, bh: T.v128,
      bfl: T.v128, bfh: T.v128, nfl: T.v128, nfh: T.v128, al: T.v128, ah: T.v128,
    },
  );
  /** The upper two float32 lanes of a vector moved to the lower two (for promote_low). */
  const HIGH = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
  /** Lanes 0-1 of the first vector, then lanes 0-1 of the second (float32). */
  const JOIN = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
  const promote = (v: number, high: boolean): number[][] => (high ? [I.localGet(v), I.localGet(v), I.i8x16Shuffle(HIGH), I.f64x2PromoteLowF32x4()] : [I.localGet(v), I.f64x2PromoteLowF32x4()]);
  /** One float64x2 half: bf = f32(mu·b + ((|w| <= clip ? g : 0) + wd·w)), nf = f32(w - lr·bf), a = |nf|. */
  const half = (w: number, g: number, b: number, bf: number, nf: number, a: number): number[][] => [
    I.localGet(x.muv), I.localGet(b), I.f64x2Mul(),
    I.localGet(g), I.localGet(w), I.f64x2Abs(), I.localGet(x.clipv), I.f64x2Le(), I.v128And(),
    I.localGet(x.wdv), I.localGet(w), I.f64x2Mul(), I.f64x2Add(),
    I.f64x2Add(), I.f32x4DemoteF64x2Zero(), I.localTee(bf),
    I.f64x2PromoteLowF32x4(), I.localGet(x.lrv), I.f64x2Mul(), I.localSet(a),
    I.localGet(w), I.localGet(a), I.f64x2Sub(), I.f32x4DemoteF64x2Zero(), I.localTee(nf),
    I.f64x2PromoteLowF32x4(), I.f64x2Abs(), I.localSet(a),
  ];
  const scalarBody: number[][] = [
    ...addr(x.w, x.p, 2), I.f32Load(), I.f64PromoteF32(), I.localSet(x.wi),
    // b = f32(mu·buf + ((|wi| <= clip ? g : 0) + wd·wi))
    I.localGet(x.mu), ...addr(x.buf, x.p, 2), I.f32Load(), I.f64PromoteF32(), I.f64Mul(),
    ...addr(x.g, x.p, 2), I.f32Load(), I.f64PromoteF32(), I.f64Const(0), I.localGet(x.wi), I.f64Abs(), I.localGet(x.clip), I.f64Le(), I.select(),
    I.localGet(x.wd), I.localGet(x.wi), I.f64Mul(), I.f64Add(),
    I.f64Add(), I.f32DemoteF64(), I.localSet(x.b),
    ...addr(x.buf, x.p, 2), I.localGet(x.b), I.f32Store(),
    // nw = f32(wi - lr·b)
    I.localGet(x.wi), I.localGet(x.lr), I.localGet(x.b), I.f64PromoteF32(), I.f64Mul(), I.f64Sub(), I.f32DemoteF64(), I.localSet(x.nw),
    ...addr(x.w, x.p, 2), I.localGet(x.nw), I.f32Store(),
    I.localGet(x.sum), I.localGet(x.nw), I.f64PromoteF32(), I.f64Abs(), I.f64Add(), I.localSet(x.sum),
  ];
  const body: number[][] = [
    I.localGet(x.lr), I.f64x2Splat(), I.localSet(x.lrv),
    I.localGet(x.wd), I.f64x2Splat(), I.localSet(x.wdv),
    I.localGet(x.mu), I.f64x2Splat(), I.localSet(x.muv),
    I.localGet(x.clip), I.f64x2Splat(), I.localSet(x.clipv),
    I.localGet(x.n), I.i32Const(-4), I.i32And(), I.localSet(x.n4),
    I.block(),
    I.localGet(x.p), I.localGet(x.n4), I.i32GeU(), I.brIf(0),
    I.loop(),
    ...addr(x.w, x.p, 2), I.v128Load(), I.localSet(x.wv),
    ...addr(x.g, x.p, 2), I.v128Load(), I.localSet(x.gv),
    ...addr(x.buf, x.p, 2), I.v128Load(), I.localSet(x.bv),
    ...promote(x.wv, false), I.localSet(x.wl), ...promote(x.wv, true), I.localSet(x.wh),
    ...promote(x.gv, false), I.localSet(x.gl), ...promote(x.gv, true), I.localSet(x.gh),
    ...promote(x.bv, false), I.localSet(x.bl), ...promote(x.bv, true), I.localSet(x.bh),
    ...half(x.wl, x.gl, x.bl, x.bfl, x.nfl, x.al),
    ...half(x.wh, x.gh, x.bh, x.bfh, x.nfh, x.ah),
    ...addr(x.buf, x.p, 2), I.localGet(x.bfl), I.localGet(x.bfh), I.i8x16Shuffle(JOIN), I.v128Store(),
    ...addr(x.w, x.p, 2), I.localGet(x.nfl), I.localGet(x.nfh), I.i8x16Shuffle(JOIN), I.v128Store(),
    // the sum in index order
    I.localGet(x.sum), I.localGet(x.al), I.f64x2ExtractLane(0), I.f64Add(), I.localGet(x.al), I.f64x2ExtractLane(1), I.f64Add(),
    I.localGet(x.ah), I.f64x2ExtractLane(0), I.f64Add(), I.localGet(x.ah), I.f64x2ExtractLane(1), I.f64Add(), I.localSet(x.sum),
    I.localGet(x.p), I.i32Const(4), I.i32Add(), I.localTee(x.p), I.localGet(x.n4), I.i32LtU(), I.brIf(0),
    I.end(),
    I.end(),
    ...loopP(x.p, x.n, scalarBody),
    I.localGet(x.sum),
  ];
  return { name: 'sgdMomentum', params, results: [T.f64], locals: extra, body };
}

interface Kernel {
  memory: WebAssembly.Memory;
  sgdMomentum(w: number, g: number, buf: number, n: number, lr: number, wd: number, mu: number, clip: number): number;
}

let compiled: WebAssembly.Module | null | undefined;

/** The kernel in a new instance over `memory`, or null where WebAssembly is not available. */
function instantiate(memory: WebAssembly.Memory): Kernel | null {
  try {
    compiled ??= new WebAssembly.Module(assembleModule([sgdMomentumKernel()]));
    const inst = new WebAssembly.Instance(compiled, { env: { memory } });
    return { memory, sgdMomentum: inst.exports.sgdMomentum as Kernel['sgdMomentum'] };
  } catch {
    compiled = null;
    return null;
  }
}

let shared: Kernel | null | undefined;

/**
 * Weights that live in a WebAssembly memory (`updatableArray`, `trainingArrays`) beside room
 * for their gradient and their momentum, so the update reads and writes them in place.
 */
interface OwnMemory {
  kernel: Kernel;
  w: Float32Array;
  g: Float32Array;
  momentum: Float32Array;
  /** Whether the momentum view has been handed out (to one optimizer). */
  momentumTaken: boolean;
}
const ownMemories = new WeakMap<Float32Array, OwnMemory>();

/** Whether the kernel is used (switchable for A/B benchmarks and tests), and how many calls ran it (inPlace: without copies). */
export const optimizerWasm = { enabled: true, calls: 0, inPlace: 0 };

/**
 * A copy of `values` in a WebAssembly memory of its own with room for its gradient and momentum
 * beside it (12 bytes per weight; the memory never grows, so the view stays valid), where SGD
 * with momentum updates it without copies (`momentumFor` gives the matching momentum slot).
 * Below WASM_MIN weights, or without WebAssembly, a plain copy. Either way an ordinary
 * Float32Array to every other reader (its byteOffset is 0, its buffer larger than itself).
 */
export function updatableArray(values: Float32Array): Float32Array {
  const n = values.length;
  if (n < WASM_MIN) return values.slice();
  const memory = new WebAssembly.Memory({ initial: Math.ceil((12 * n) / 65536) });
  const kernel = instantiate(memory);
  if (kernel === null) return values.slice();
  const buf = memory.buffer;
  const own: OwnMemory = { kernel, w: new Float32Array(buf, 0, n), g: new Float32Array(buf, 4 * n, n), momentum: new Float32Array(buf, 8 * n, n), momentumTaken: false };
  own.w.set(values);
  ownMemories.set(own.w, own);
  return own.w;
}

/** A binarized latent weight's arrays in a trainer's `KernelArena` (see `trainingArrays`). */
export interface ArenaWeight {
  /** The latent weight (a copy of the values given), updated in place by SGD with momentum. */
  value: Float32Array;
  /** The re-binarization's outputs, Ŵ (channel-major), the sign paths and the bit map (`WeightBinarizer.placeBuffers`). */
  out: Float32Array;
  signs: Uint8Array;
  bitMap: Uint8Array;
}

/**
 * The trainer's binarized latent weights in one `KernelArena`, each beside room for its
 * gradient, its momentum, its Ŵ, sign paths and bit map (18 bytes per weight, plus the
 * workspace's lists for the largest, 24 bytes per weight of it): the re-binarization then runs
 * in place (nothing copied in or out, Ŵ handed to onnxruntime as a view of the memory) and so
 * does SGD with momentum (only the gradient copied in). null for weights below WASM_MIN
 * entries, and for all where WebAssembly or the memory is not available (plain arrays then).
 */
export function trainingArrays(values: readonly Float32Array[]): (ArenaWeight | null)[] {
  const big = values.filter((v) => v.length >= WASM_MIN);
  if (big.length === 0) return values.map(() => null);
  const maxTensor = Math.max(...big.map((v) => v.length));
  const arena = createKernelArena(maxTensor, KernelArena.bytesFor(big.flatMap((v) => [4 * v.length, 4 * v.length, 4 * v.length, 4 * v.length, v.length, v.length])));
  const kernel = arena === null ? null : instantiate(arena.memory);
  if (arena === null || kernel === null) return values.map(() => null);
  return values.map((v) => {
    if (v.length < WASM_MIN) return null;
    const n = v.length;
    const own: OwnMemory = { kernel, w: arena.f32(n), g: arena.f32(n), momentum: arena.f32(n), momentumTaken: false };
    own.w.set(v);
    ownMemories.set(own.w, own);
    return { value: own.w, out: arena.f32(n), signs: arena.u8(n), bitMap: arena.u8(n) };
  });
}

/** A zeroed momentum buffer for weights `w`: beside them when `updatableArray` or `trainingArrays` made them (the first call for them), else a new array. */
export function momentumFor(w: Float32Array): Float32Array {
  const own = ownMemories.get(w);
  if (own === undefined || own.momentumTaken) return new Float32Array(w.length);
  own.momentumTaken = true;
  own.momentum.fill(0);
  return own.momentum;
}

/** `sgdMomentum` of optimizer.ts in WebAssembly: the sum of |w|, or undefined (nothing done) when off, unavailable or small. */
export function sgdMomentumWasm(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, wd: number, mu: number, clip: number): number | undefined {
  const n = w.length;
  if (!optimizerWasm.enabled || n < WASM_MIN || g.length < n || buf.length < n) return undefined;
  const own = ownMemories.get(w);
  if (own !== undefined && own.momentum === buf) {
    // in place: only the gradient comes in
    own.g.set(g.subarray(0, n));
    optimizerWasm.calls++;
    optimizerWasm.inPlace++;
    return own.kernel.sgdMomentum(w.byteOffset, own.g.byteOffset, buf.byteOffset, n, lr, wd, mu, clip);
  }
  if (shared === undefined) shared = instantiate(new WebAssembly.Memory({ initial: 1 }));
  const k = shared;
  if (k === null) return undefined;
  const bytes = 12 * n + 64;
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536));
  const mem = k.memory.buffer;
  const wAt = 0;
  const gAt = 4 * n;
  const bAt = 8 * n;
  const wv = new Float32Array(mem, wAt, n);
  const bv = new Float32Array(mem, bAt, n);
  wv.set(w);
  new Float32Array(mem, gAt, n).set(g.subarray(0, n));
  bv.set(buf.subarray(0, n));
  const sum = k.sgdMomentum(wAt, gAt, bAt, n, lr, wd, mu, clip);
  w.set(wv);
  buf.set(bv);
  optimizerWasm.calls++;
  return sum;
}
