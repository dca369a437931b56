/**
 * A shard of the binarized weights re-binarized on a worker thread: from the latent weights a
 * main thread wrote into a shared buffer (at each parameter's offset), Ŵ into another shared
 * buffer (the same offsets). Used by the data-parallel step workers (step-worker.ts).
 *
 * Each weight gets a `WeightBinarizer` of its own, made from the same quantization record as
 * the main thread's, and its latent copy and the re-binarization's outputs live in one
 * `KernelArena` of this thread (in place, as the main thread keeps them): the same code on the
 * same floats, so the same Ŵ as the main thread's re-binarization, byte for byte (its warm
 * starts change the work, never the result).
 */
import { WeightBinarizer } from './params.js';
import { trainingArrays } from './optimizer-wasm.js';
import type { ShardWeight } from './step-protocol.js';

export class ShardRebinarizer {
  private readonly entries: { param: number; offset: number; size: number; binarizer: WeightBinarizer; latent: Float32Array }[];
  private readonly latent: Float32Array;
  private readonly out: Float32Array;

  /** `slots[i]`: where parameter i lies in the shared buffers (floats). */
  constructor(shard: readonly ShardWeight[], slots: readonly { offset: number; size: number }[], latent: SharedArrayBuffer, out: SharedArrayBuffer) {
    this.latent = new Float32Array(latent);
    this.out = new Float32Array(out);
    const arrays = trainingArrays(shard.map((s) => new Float32Array(slots[s.param]!.size)));
    this.entries = shard.map((s, j) => {
      const binarizer = new WeightBinarizer(s.record, s.layout);
      const a = arrays[j];
      if (a) binarizer.placeBuffers(a.out, a.signs, a.bitMap);
      const { offset, size } = slots[s.param]!;
      return { param: s.param, offset, size, binarizer, latent: a ? a.value : new Float32Array(size) };
    });
  }

  /** Ŵ of every weight of the shard from the shared latent weights (`sumsAbs[i]`: parameter i's sum |w| from the update, when known). */
  run(sumsAbs: readonly (number | undefined)[]): void {
    this.load();
    this.runOwn(sumsAbs);
  }

  /** Copies the shard's latent weights from the shared buffer into this thread's copies (`weights`). */
  load(): void {
    for (const e of this.entries) e.latent.set(this.latent.subarray(e.offset, e.offset + e.size));
  }

  /** Copies this thread's copies of the shard's latent weights into the shared buffer (the inverse of `load`). */
  store(): void {
    for (const e of this.entries) this.latent.set(e.latent, e.offset);
  }

  /** Ŵ of every weight of the shard from this thread's copies of the latent weights (as they are: updated here, or loaded). */
  runOwn(sumsAbs: readonly (number | undefined)[]): void {
    for (const e of this.entries) this.out.set(e.binarizer.binarize(e.latent, true, sumsAbs[e.param]), e.offset);
  }

  /** The shard's weights: parameter index, offset and size in the shared buffers, and this thread's copy of the latent values. */
  get weights(): readonly { param: number; offset: number; size: number; latent: Float32Array }[] {
    return this.entries;
  }
}
