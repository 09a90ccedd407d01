// Bottleneck adapters (Houlsby et al. 2019, Pfeiffer et al. 2020): y -> y + up(act(down(y))) on the
// output of a block's projection, inside the residual branch. `up` starts at zero, so a fresh
// adapter is exactly the identity and the adapted model gives the base model's logits bit for bit.
import { add, gelu, relu, silu } from "../tensor/ops/index.js";
import type { Rng } from "../tensor/rng.js";
import type { Tensor } from "../tensor/tensor.js";
import { Linear } from "./layers.js";
import { Module, type ParamOptions } from "./module.js";

export type AdapterActivation = "relu" | "gelu" | "silu";

const ACTIVATIONS: Record<AdapterActivation, (x: Tensor) => Tensor> = { relu, gelu, silu };

/** down (C -> hidden) -> activation -> up (hidden -> C, zero-initialised). */
export class BottleneckAdapter extends Module {
  readonly down: Linear;
  readonly up: Linear;

  constructor(dim: number, hidden: number, readonly activation: AdapterActivation, po: ParamOptions) {
    super();
    this.down = this.child("down", new Linear(dim, hidden, po));
    this.up = this.child("up", new Linear(hidden, dim, { ...po, init: { kind: "zeros" } }));
  }

  /** y (..., C) -> the adapter's residual update (..., C). */
  forward(y: Tensor): Tensor {
    return this.up.forward(ACTIVATIONS[this.activation](this.down.forward(y)));
  }
}

/** A frozen Linear followed by an adapter: base(x) + adapter(base(x)). */
export class AdaptedLinear extends Module {
  readonly base: Linear;
  readonly adapter: BottleneckAdapter;

  constructor(base: Linear, opts: { reductionFactor: number; activation: AdapterActivation; rng: Rng }) {
    super();
    const outF = base.weight.shape[0];
    const hidden = Math.max(1, Math.floor(outF / opts.reductionFactor));
    const w = base.weight;
    const po: ParamOptions = { dtype: w.dtype, backend: w.backend.name, rng: opts.rng };
    this.base = this.child("base", base);
    base.requiresGrad(false);
    this.adapter = this.child("adapter", new BottleneckAdapter(outF, hidden, opts.activation, po));
  }

  forward(x: Tensor): Tensor {
    const y = this.base.forward(x);
    return add(y, this.adapter.forward(y));
  }
}
