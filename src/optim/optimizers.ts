// Optimizers over parameter groups: AdamW (decoupled weight decay, one fused kernel call per
// parameter) and SGD with momentum; state can be saved and restored exactly for resume.
import type { Storage } from "../tensor/backend/kernels.js";
import { bufferPool } from "../tensor/pool.js";
import { shapeStr, Tensor, TensorError } from "../tensor/tensor.js";

export interface ParamGroup {
  params: Tensor[];
  /** Per-group overrides. */
  lr?: number;
  weightDecay?: number;
}

export interface OptimizerState {
  kind: string;
  step: number;
  /** Per-parameter state buffers in group order: name -> list of arrays. */
  buffers: Record<string, Storage[]>;
}

function toGroups(params: Tensor[] | ParamGroup[]): ParamGroup[] {
  if (params.length === 0) return [];
  return params[0] instanceof Tensor ? [{ params: params as Tensor[] }] : (params as ParamGroup[]);
}

abstract class Optimizer {
  readonly groups: ParamGroup[];
  lr: number;
  stepCount = 0;

  constructor(params: Tensor[] | ParamGroup[], lr: number) {
    this.groups = toGroups(params);
    this.lr = lr;
  }

  /** All parameters across groups. */
  params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  zeroGrad(): void {
    for (const p of this.params()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  abstract step(): void;
  abstract stateDict(): OptimizerState;
  abstract loadStateDict(s: OptimizerState): void;

  protected loadBuffers(s: OptimizerState, kind: string, names: string[], into: Storage[][]): void {
    if (s.kind !== kind) throw new TensorError(`optimizer state is for ${s.kind}, not ${kind}`);
    const ps = this.params();
    names.forEach((name, bi) => {
      const list = s.buffers[name];
      if (!list || list.length !== ps.length) {
        throw new TensorError(`optimizer state: "${name}" has ${list?.length ?? 0} buffers for ${ps.length} parameters`);
      }
      ps.forEach((p, i) => {
        if (list[i].length !== p.size) throw new TensorError(`optimizer state: "${name}"[${i}] has ${list[i].length} values for ${shapeStr(p.shape)}`);
        into[bi][i].set(list[i]);
      });
    });
    this.stepCount = s.step;
  }
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** AdamW (Loshchilov & Hutter): decoupled weight decay, bias-corrected moments. */
export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private m: Storage[];
  private v: Storage[];

  constructor(params: Tensor[] | ParamGroup[], opts: AdamWOptions = {}) {
    super(params, opts.lr ?? 1e-3);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    const ps = this.params();
    this.m = ps.map((p) => (p.dtype === "f64" ? new Float64Array(p.size) : new Float32Array(p.size)));
    this.v = ps.map((p) => (p.dtype === "f64" ? new Float64Array(p.size) : new Float32Array(p.size)));
  }

  step(): void {
    this.stepCount++;
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** this.stepCount;
    const bc2 = 1 - b2 ** this.stepCount;
    let i = 0;
    for (const g of this.groups) {
      const lr = g.lr ?? this.lr;
      const wd = g.weightDecay ?? this.weightDecay;
      for (const p of g.params) {
        const idx = i++;
        if (!p.requiresGrad || !p.grad) continue;
        if (!p.isContiguous()) throw new TensorError(`AdamW: parameter ${p.name || shapeStr(p.shape)} must be contiguous`);
        const param = p.data.subarray(p.offset, p.offset + p.size);
        p.kernels().adamw({
          param, grad: p.grad.contiguousData(), m: this.m[idx], v: this.v[idx], n: p.size,
          lr, beta1: b1, beta2: b2, eps: this.eps, weightDecay: wd, bc1, bc2,
        });
      }
    }
  }

  stateDict(): OptimizerState {
    return { kind: "adamw", step: this.stepCount, buffers: { m: this.m.map((a) => a.slice()), v: this.v.map((a) => a.slice()) } };
  }

  loadStateDict(s: OptimizerState): void {
    this.loadBuffers(s, "adamw", ["m", "v"], [this.m, this.v]);
  }
}

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** SGD with (optionally Nesterov) momentum and L2 weight decay, as torch.optim.SGD. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private buf: Storage[];

  constructor(params: Tensor[] | ParamGroup[], opts: SGDOptions = {}) {
    super(params, opts.lr ?? 1e-2);
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.buf = this.params().map((p) => (p.dtype === "f64" ? new Float64Array(p.size) : new Float32Array(p.size)));
  }

  step(): void {
    this.stepCount++;
    let i = 0;
    for (const g of this.groups) {
      const lr = g.lr ?? this.lr;
      const wd = g.weightDecay ?? this.weightDecay;
      for (const p of g.params) {
        const b = this.buf[i++];
        if (!p.requiresGrad || !p.grad) continue;
        const grad = p.grad.contiguousData();
        const w = p.data;
        for (let j = 0; j < p.size; j++) {
          let d = grad[j] + wd * w[p.offset + j];
          if (this.momentum !== 0) {
            b[j] = this.stepCount === 1 ? d : this.momentum * b[j] + d;
            d = this.nesterov ? d + this.momentum * b[j] : b[j];
          }
          w[p.offset + j] -= lr * d;
        }
      }
    }
  }

  stateDict(): OptimizerState {
    return { kind: "sgd", step: this.stepCount, buffers: { momentum: this.buf.map((a) => a.slice()) } };
  }

  loadStateDict(s: OptimizerState): void {
    this.loadBuffers(s, "sgd", ["momentum"], [this.buf]);
  }
}

/**
 * Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before
 * clipping (NaN or Infinity when a gradient is not finite, so callers can skip the step).
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) if (p.grad) sq += sumOfSquares(p.grad);
  const norm = Math.sqrt(sq);
  if (!Number.isFinite(norm)) return norm;
  if (norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const p of params) {
      if (!p.grad) continue;
      const g = p.grad;
      const s = g.dtype === "f64" ? Float64Array.of(scale) : Float32Array.of(scale);
      const zeros = g.shape.map(() => 0);
      g.kernels().binary("mul", g.data, g.offset, g.strides, s, 0, zeros, g.data, g.shape);
    }
  }
  return norm;
}

/** Sum of squared elements of a contiguous gradient, on the tensor's backend. */
function sumOfSquares(g: Tensor): number {
  const x = g.contiguousData();
  const k = g.kernels();
  const sq = bufferPool.acquire(g.dtype, x.length);
  const out = g.dtype === "f64" ? new Float64Array(1) : new Float32Array(1);
  k.unary("square", x, sq, x.length);
  // Row sums in f32 lose little here: the norm only scales the step.
  k.sumAxis(sq, out, 1, x.length, 1);
  bufferPool.release(sq);
  return out[0];
}
