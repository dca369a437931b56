/**
 * SGD with momentum after the first step (`sgdMomentum` in optimizer.ts, the default
 * optimizer's loop) as a WebAssembly kernel, bit for bit the JavaScript loop: the same float64
 * operations in the same order per element, each result stored as float32, and the float64
 * sum of the stored |w| in index order. Assembled at first use by src/hbnn/wasm-assembler.ts.
 * Weights made by `updatableArray` (the trainer's binarized latent weights) live in a memory of
 * their own beside their momentum and are updated in place (only the gradient is copied in);
 * others are copied into a shared memory and back (memmoves).
 */
import { addr, assembleModule, I, locals, loopP, T } from '../hbnn/wasm-assembler.js';

/** Below this many weights the JavaScript loop runs (the copies and the call cost more). */
const WASM_MIN = 4096;

/**
 * For i in [0, n): wi = w[i]; gi = (|wi| <= clip ? g[i] : 0) + wd·wi; b = f32(mu·buf[i] + gi);
 * buf[i] = b; nw = f32(wi - lr·b); w[i] = nw; sum += |nw|. All in float64 as the JS loop.
 */
function sgdMomentumKernel() {
  const { idx: x, params, locals: extra } = locals(
    { w: T.i32, g: T.i32, buf: T.i32, n: T.i32, lr: T.f64, wd: T.f64, mu: T.f64, clip: T.f64 },
    { p: T.i32, wi: T.f64, b: T.f32, nw: T.f32, sum: T.f64 },
  );
  const body: number[][] = [
    ...loopP(x.p, x.n, [
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
    ]),
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
 * Weights that live in a memory of their own (`updatableArray`): the weights, the momentum and
 * room for the gradient side by side, so the update reads and writes them in place.
 */
interface OwnMemory {
  kernel: Kernel;
  w: Float32Array;
  g: Float32Array;
  momentum: Float32Array;
  /** Whether the momentum view has been handed out (to one optimizer). */
  momentumTaken: boolean;
}
const ownMemories = new WeakMap<ArrayBuffer, OwnMemory>();

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
  ownMemories.set(buf, own);
  return own.w;
}

/** A zeroed momentum buffer for weights `w`: beside them when `updatableArray` made them (the first call for them), else a new array. */
export function momentumFor(w: Float32Array): Float32Array {
  const own = ownMemories.get(w.buffer as ArrayBuffer);
  if (own === undefined || own.w !== w || own.momentumTaken) return new Float32Array(w.length);
  own.momentumTaken = true;
  own.momentum.fill(0);
  return own.momentum;
}

/** `sgdMomentum` of optimizer.ts in WebAssembly: the sum of |w|, or undefined (nothing done) when off, unavailable or small. */
export function sgdMomentumWasm(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, wd: number, mu: number, clip: number): number | undefined {
  const n = w.length;
  if (!optimizerWasm.enabled || n < WASM_MIN || g.length < n || buf.length < n) return undefined;
  const own = ownMemories.get(w.buffer as ArrayBuffer);
  if (own !== undefined && own.w === w && own.momentum === buf) {
    // in place: only the gradient comes in
    own.g.set(g.subarray(0, n));
    optimizerWasm.calls++;
    optimizerWasm.inPlace++;
    return own.kernel.sgdMomentum(0, 4 * n, 8 * n, n, lr, wd, mu, clip);
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
