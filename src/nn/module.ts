// Module base class: named parameters and sub-modules, train/eval mode, state dicts in and out,
// and freezing (requiresGrad = false) for parameter-efficient fine-tuning.
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import { type Rng, globalRng } from "../tensor/rng.js";
import { shapeStr, Tensor, TensorError, untracked } from "../tensor/tensor.js";

export type Init =
  | { kind: "normal"; std: number }
  | { kind: "zeros" }
  | { kind: "ones" }
  | { kind: "xavier" }
  | { kind: "he" };

export interface ParamOptions {
  dtype?: DType;
  backend?: BackendName;
  rng?: Rng;
}

/** A new leaf parameter (outside any tidy scope) initialised as asked. */
export function createParameter(shape: readonly number[], init: Init, opts: ParamOptions = {}): Tensor {
  return untracked(() => {
    const base = { dtype: opts.dtype, backend: opts.backend, requiresGrad: true };
    const rng = opts.rng ?? globalRng;
    const fanOut = shape[0] ?? 1;
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : (shape[0] ?? 1);
    switch (init.kind) {
      case "zeros": return Tensor.zeros(shape, base);
      case "ones": return Tensor.ones(shape, base);
      case "normal": return Tensor.randn(shape, { ...base, std: init.std, rng });
      case "xavier": {
        const a = Math.sqrt(6 / (fanIn + fanOut));
        return Tensor.rand(shape, { ...base, low: -a, high: a, rng });
      }
      case "he": return Tensor.randn(shape, { ...base, std: Math.sqrt(2 / fanIn), rng });
    }
  });
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected param(name: string, t: Tensor): Tensor {
    this.params.set(name, t);
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** All parameters with dotted names, in registration order (children after own). */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameter count (trainable only when asked). */
  numParameters(trainableOnly = false): number {
    return this.parameters().filter((p) => !trainableOnly || p.requiresGrad).reduce((n, p) => n + p.size, 0);
  }

  train(on = true): this {
    this.training = on;
    for (const c of this.children.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets requiresGrad on every parameter (false freezes the module). */
  requiresGrad(on: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = on;
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Copies of the parameter values by name (row-major typed arrays with shapes). */
  stateDict(): Map<string, { shape: number[]; data: Float32Array | Float64Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array | Float64Array }>();
    for (const [n, p] of this.namedParameters()) out.set(n, { shape: [...p.shape], data: p.toTypedArray() });
    return out;
  }

  /** Loads values by name; every parameter must be present with the same shape unless strict is false. */
  loadStateDict(state: Map<string, { shape: readonly number[]; data: ArrayLike<number> }>, strict = true): void {
    const own = new Map(this.namedParameters());
    for (const [n, p] of own) {
      const s = state.get(n);
      if (!s) {
        if (strict) throw new TensorError(`loadStateDict: missing parameter "${n}" ${shapeStr(p.shape)}`);
        continue;
      }
      if (s.shape.join(",") !== p.shape.join(",")) {
        throw new TensorError(`loadStateDict: "${n}" has shape ${shapeStr(s.shape)} in the state, ${shapeStr(p.shape)} in the model`);
      }
      p.data.set(s.data, p.offset);
    }
    if (strict) {
      for (const n of state.keys()) if (!own.has(n)) throw new TensorError(`loadStateDict: unexpected parameter "${n}"`);
    }
  }
}
