// Basic layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout. Weights use PyTorch layouts
// (Linear weight is (out, in)) so state dicts map one-to-one onto Hugging Face names.
import * as ops from "../tensor/ops/index.js";
import type { IdsLike } from "../tensor/ops/nnops.js";
import { type Rng, globalRng } from "../tensor/rng.js";
import type { Tensor } from "../tensor/tensor.js";
import { createParameter, Module, type Init, type ParamOptions } from "./module.js";

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, opts: ParamOptions & { bias?: boolean; init?: Init } = {}) {
    super();
    this.weight = this.param("weight", createParameter([outFeatures, inFeatures], opts.init ?? { kind: "xavier" }, opts));
    this.bias = opts.bias === false ? null : this.param("bias", createParameter([outFeatures], { kind: "zeros" }, opts));
  }

  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(num: number, dim: number, opts: ParamOptions & { init?: Init } = {}) {
    super();
    this.weight = this.param("weight", createParameter([num, dim], opts.init ?? { kind: "normal", std: 0.02 }, opts));
  }

  forward(idx: IdsLike): Tensor {
    return ops.embedding(this.weight, idx);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(dim: number, readonly eps = 1e-5, opts: ParamOptions & { bias?: boolean } = {}) {
    super();
    this.weight = this.param("weight", createParameter([dim], { kind: "ones" }, opts));
    this.bias = opts.bias === false ? null : this.param("bias", createParameter([dim], { kind: "zeros" }, opts));
  }

  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(dim: number, readonly eps = 1e-6, opts: ParamOptions = {}) {
    super();
    this.weight = this.param("weight", createParameter([dim], { kind: "ones" }, opts));
  }

  forward(x: Tensor): Tensor {
    return ops.rmsNorm(x, this.weight, this.eps);
  }
}

export class Dropout extends Module {
  constructor(readonly p: number, readonly rng: Rng = globalRng) {
    super();
  }

  forward(x: Tensor): Tensor {
    return ops.dropout(x, this.p, this.training, this.rng);
  }
}
