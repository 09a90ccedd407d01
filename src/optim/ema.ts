// An exponential moving average of trained weights (Polyak averaging, "EMA weights"): after each
// optimizer step every averaged weight moves a share (1 - d) of the way to the trained one. The
// average is what a run evaluates and hands back as its model; the trained weights go on training.
// Early steps use a smaller d, min(decay, (1 + step) / (10 + step)), so the average does not
// hold on to the initial weights for ~1 / (1 - decay) steps.
import type { Storage } from "../tensor/backend/kernels.js";
import type { Tensor } from "../tensor/tensor.js";

function weightsOf(p: Tensor): Storage {
  if (!p.isContiguous()) throw new RangeError("WeightEma: a parameter is not contiguous");
  return p.data.subarray(p.offset, p.offset + p.size);
}

export class WeightEma {
  /** The averaged weights, one array per parameter (same order). */
  readonly averaged: Storage[];
  private readonly views: Storage[];

  constructor(params: readonly Tensor[], readonly decay: number) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`an EMA decay is a number between 0 and 1 (exclusive), e.g. 0.999; got ${decay}`);
    this.views = params.map(weightsOf);
    this.averaged = this.views.map((v) => v.slice());
  }

  /** The decay used after optimizer step `step` (1 = the first). */
  decayAt(step: number): number {
    return Math.min(this.decay, (1 + step) / (10 + step));
  }

  /** Moves the average toward the current weights, after optimizer step `step` (1 = the first). */
  update(step: number): void {
    const a = 1 - this.decayAt(step);
    for (let i = 0; i < this.views.length; i++) {
      const w = this.views[i];
      const s = this.averaged[i];
      for (let j = 0; j < w.length; j++) s[j] += a * (w[j] - s[j]);
    }
  }

  /** Replaces the averaged weights (e.g. from a checkpoint); each array must match its parameter's size. */
  load(averaged: readonly ArrayLike<number>[]): void {
    if (averaged.length !== this.views.length) throw new RangeError(`WeightEma.load: ${averaged.length} arrays for ${this.views.length} parameters`);
    averaged.forEach((a, i) => {
      if (a.length !== this.averaged[i].length) throw new RangeError(`WeightEma.load: array ${i} has ${a.length} values, its parameter ${this.averaged[i].length}`);
      this.averaged[i].set(a);
    });
  }

  /** Runs `fn` with the averaged weights in the parameters, then puts the trained ones back (also when `fn` throws). */
  withAveraged<T>(fn: () => T): T {
    const trained = this.views.map((v) => v.slice());
    this.copyInto();
    try {
      return fn();
    } finally {
      for (let i = 0; i < this.views.length; i++) this.views[i].set(trained[i]);
    }
  }

  /** Puts the averaged weights into the parameters for good (the end of a run). */
  copyInto(): void {
    for (let i = 0; i < this.views.length; i++) this.views[i].set(this.averaged[i]);
  }
}
