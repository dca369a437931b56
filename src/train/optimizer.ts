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

  private slots(name: string, n: number): OptimizerSlots {
    let s = this.state.get(name);
    if (!s) {
      s = new Map();
      for (const k of this.slotNames()) s.set(k, new Float32Array(n));
      this.state.set(name, s);
    }
    return s;
  }

  /** Starts a step (call once per step before `update`). */
  beginStep(): void {
    this.t++;
  }

  /** Updates parameter `w` (in place) with gradient `g` at learning rate `lr`. */
  update(name: string, w: Float32Array, g: Float32Array, lr: number): void {
    const o = this.opts;
    const wd = o.weightDecay;
    if (o.kind === 'adam') {
      const s = this.slots(name, w.length);
      const m = s.get('m')!;
      const v = s.get('v')!;
      const c1 = 1 - o.beta1 ** this.t;
      const c2 = 1 - o.beta2 ** this.t;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]! + wd * w[i]!;
        const mi = o.beta1 * m[i]! + (1 - o.beta1) * gi;
        const vi = o.beta2 * v[i]! + (1 - o.beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i]! - (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + o.eps);
      }
      return;
    }
    const mu = o.momentum;
    if (mu === 0) {
      for (let i = 0; i < w.length; i++) w[i] = w[i]! - lr * (g[i]! + wd * w[i]!);
      return;
    }
    const first = !this.state.has(name);
    const buf = this.slots(name, w.length).get('momentum')!;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]! + wd * w[i]!;
      buf[i] = first ? gi : mu * buf[i]! + gi;
      w[i] = w[i]! - lr * (o.nesterov ? gi + mu * buf[i]! : buf[i]!);
    }
  }
}
