/**
 * Optimizers and learning-rate schedules on Float32Array parameters. Arithmetic is float64
 * per element, stored back as float32 (like PyTorch's float32 parameters and buffers).
 *
 * SGD (PyTorch's torch.optim.SGD, dampening 0):
 *   g ← g + wd·w;  v ← μ·v + g (v = g on the first step);  w ← w - lr·(nesterov ? g + μ·v : v)
 * Adam (torch.optim.Adam, L2 weight decay added to the gradient):
 *   g ← g + wd·w;  m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
 *   w ← w - lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps)
 * Schedules (t = optimizer steps done, T = total steps of the run, E = steps per epoch):
 *   constant: lr;  cosine: lr · (1 + cos(π·t/T)) / 2;  step: lr · gamma^floor(t / (stepEpochs·E))
 */
import { fail, ErrorCodes } from '../errors.js';
import { momentumFor, sgdMomentumWasm } from './optimizer-wasm.js';

export type OptimizerKind = 'sgd' | 'adam';
export type ScheduleKind = 'cosine' | 'step' | 'constant';

export interface OptimizerOptions {
  kind: OptimizerKind;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface ScheduleOptions {
  kind: ScheduleKind;
  lr: number;
  /** step: epochs between decays. */
  stepEpochs: number;
  /** step: decay factor. */
  gamma: number;
}

/** Learning rate for step `t` (0-based) of a run of `total` steps with `perEpoch` steps per epoch. */
export function learningRate(s: ScheduleOptions, t: number, total: number, perEpoch: number): number {
  switch (s.kind) {
    case 'constant':
      return s.lr;
    case 'cosine':
      return (s.lr * (1 + Math.cos((Math.PI * Math.min(t, total)) / Math.max(total, 1)))) / 2;
    case 'step':
      return s.lr * s.gamma ** Math.floor(t / Math.max(1, s.stepEpochs * perEpoch));
  }
}

/** The optimizer's per-parameter buffers, by slot name ('momentum', 'm', 'v'). */
export type OptimizerSlots = Map<string, Float32Array>;

export class Optimizer {
  readonly opts: OptimizerOptions;
  /** Steps taken (Adam's bias correction uses it). */
  t = 0;
  /** Buffers per parameter name. */
  readonly state = new Map<string, OptimizerSlots>();

  constructor(opts: OptimizerOptions) {
    if (!(opts.momentum >= 0 && opts.momentum < 1)) fail(ErrorCodes.INVALID_OPTION, `momentum must be in [0, 1), got ${opts.momentum}`, { option: 'momentum' });
    if (!(opts.weightDecay >= 0)) fail(ErrorCodes.INVALID_OPTION, `weight decay must be >= 0, got ${opts.weightDecay}`, { option: 'weightDecay' });
    this.opts = opts;
  }

  /** The slot names this optimizer keeps per parameter. */
  slotNames(): string[] {
    return this.opts.kind === 'adam' ? ['m', 'v'] : this.opts.momentum > 0 ? ['momentum'] : [];
  }

  private slots(name: string, w: Float32Array): OptimizerSlots {
    let s = this.state.get(name);
    if (!s) {
      s = new Map();
      // the momentum beside weights that live in a WebAssembly memory of their own (updated in place)
      for (const k of this.slotNames()) s.set(k, k === 'momentum' ? momentumFor(w) : new Float32Array(w.length));
      this.state.set(name, s);
    }
    return s;
  }

  /** Starts a step (call once per step before `update`). */
  beginStep(): void {
    this.t++;
  }

  /**
   * Updates parameter `w` (in place) with gradient `g` at learning rate `lr`. Returns whether
   * every updated value is finite (as stored: a float64 result beyond float32's range is ∞).
   * `clip`: the clipped straight-through estimator in the same pass, g_i taken as 0 where
   * |w_i| > clip before the update (exactly `applyWeightSte` then the update; g is not
   * written); default ∞, no clipping.
   */
  update(name: string, w: Float32Array, g: Float32Array, lr: number, clip = Infinity): boolean {
    this.lastSumAbs = this.step(name, w, g, lr, clip);
    return Number.isFinite(this.lastSumAbs);
  }

  /**
   * The float64 sum of |w| in index order after the last `update` (what `sumAbsChecked` would
   * compute from the updated w; non-finite when `update` returned false): the re-binarization of
   * the next step takes it instead of a pass of its own (`WeightBinarizer.binarize`'s `sumAbs`).
   */
  lastSumAbs = 0;

  private step(name: string, w: Float32Array, g: Float32Array, lr: number, clip: number): number {
    const o = this.opts;
    const wd = o.weightDecay;
    if (o.kind === 'adam') {
      const s = this.slots(name, w);
      return adamUpdate(w, g, s.get('m')!, s.get('v')!, lr, wd, o.beta1, o.beta2, 1 - o.beta1 ** this.t, 1 - o.beta2 ** this.t, o.eps, clip);
    }
    const mu = o.momentum;
    if (mu === 0) return sgdPlain(w, g, lr, wd, clip);
    const first = !this.state.has(name);
    const buf = this.slots(name, w).get('momentum')!;
    if (o.nesterov) return sgdNesterov(w, g, buf, lr, wd, mu, first, clip);
    if (first) return sgdFirst(w, g, buf, lr, wd, clip);
    return sgdMomentum(w, g, buf, lr, wd, mu, clip);
  }
}

// The per-element loops, each its own function without branches on options (V8 optimizes each
// for its one shape). Arithmetic in float64 per element, stored as float32: a value read back
// after its float32 store is Math.fround of what was stored, so the results are those of the
// plain loop `gi = g + wd·w; buf = μ·buf + gi; w = w - lr·buf`. Each also returns the float64
// sum of the stored |w| in index order: non-finite exactly when a stored weight is NaN/∞ (a
// float32 tensor cannot overflow a float64 sum), which saves the loop its check pass, and the
// re-binarization of the next step its first pass (Middle-Out's mean, round 1's scale). Each takes
// the clipped STE's mask from w before its update (a zeroed g_i then reads 0 + wd·w_i, as the
// separate pass left it), which saves the step another.

/** SGD without momentum. */
function sgdPlain(w: Float32Array, g: Float32Array, lr: number, wd: number, clip: number): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i]!;
    const nw = Math.fround(wi - lr * ((Math.abs(wi) <= clip ? g[i]! : 0) + wd * wi));
    w[i] = nw;
    sum += Math.abs(nw);
  }
  return sum;
}

/** SGD with momentum, the first step (v = g). */
function sgdFirst(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, wd: number, clip: number): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i]!;
    const b = Math.fround((Math.abs(wi) <= clip ? g[i]! : 0) + wd * wi);
    buf[i] = b;
    const nw = Math.fround(wi - lr * b);
    w[i] = nw;
    sum += Math.abs(nw);
  }
  return sum;
}

/** SGD with momentum after the first step. */
function sgdMomentum(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, wd: number, mu: number, clip: number): number {
  const inWasm = sgdMomentumWasm(w, g, buf, lr, wd, mu, clip);
  if (inWasm !== undefined) return inWasm;
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i]!;
    const b = Math.fround(mu * buf[i]! + ((Math.abs(wi) <= clip ? g[i]! : 0) + wd * wi));
    buf[i] = b;
    const nw = Math.fround(wi - lr * b);
    w[i] = nw;
    sum += Math.abs(nw);
  }
  return sum;
}

/** Nesterov: w ← w - lr·(g + μ·v). */
function sgdNesterov(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, wd: number, mu: number, first: boolean, clip: number): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i]!;
    const gi = (Math.abs(wi) <= clip ? g[i]! : 0) + wd * wi;
    const b = Math.fround(first ? gi : mu * buf[i]! + gi);
    buf[i] = b;
    const nw = Math.fround(wi - lr * (gi + mu * b));
    w[i] = nw;
    sum += Math.abs(nw);
  }
  return sum;
}

/** Adam with L2 weight decay in the gradient; c1, c2 the bias corrections. */
function adamUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, wd: number, beta1: number, beta2: number, c1: number, c2: number, eps: number, clip: number): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i]!;
    const gi = (Math.abs(wi) <= clip ? g[i]! : 0) + wd * wi;
    const mi = Math.fround(beta1 * m[i]! + (1 - beta1) * gi);
    const vi = Math.fround(beta2 * v[i]! + (1 - beta2) * gi * gi);
    m[i] = mi;
    v[i] = vi;
    const nw = Math.fround(wi - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps));
    w[i] = nw;
    sum += Math.abs(nw);
  }
  return sum;
}
