// Module base class: named parameters and sub-modules (get/set by dotted path, so an adapter can
// wrap a layer without touching the model's code), train/eval mode, state dicts in and out, and
// freezing (requiresGrad = false) for parameter-efficient fine-tuning.
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

function checkName(name: string): void {
  if (name === "" || name.includes(".")) throw new TensorError(`Module: name "${name}" must be non-empty and without dots (use ModuleList for layer lists)`);
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected param(name: string, t: Tensor): Tensor {
    checkName(name);
    this.params.set(name, t);
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    checkName(name);
    this.children.set(name, m);
    return m;
  }

  /** Adds a sub-module after construction (prefix tuning attaches its parameters to a model this way). */
  addModule<M extends Module>(name: string, m: M): M {
    if (this.children.has(name)) throw new TensorError(`addModule: "${name}" already exists (use setSubmodule to replace it)`);
    return this.child(name, m);
  }

  /** Every sub-module with its dotted path, depth first, this module first (path ""). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** The sub-module at a dotted path ("h.0.attn.c_attn"); throws naming the missing part. */
  getSubmodule(path: string): Module {
    if (path === "") return this;
    let m: Module = this;
    for (const part of path.split(".")) {
      const next = m.children.get(part);
      if (!next) throw new TensorError(`getSubmodule: no module "${part}" in "${path}" (children: ${[...m.children.keys()].join(", ") || "none"})`);
      m = next;
    }
    return m;
  }

  /**
   * Replaces the sub-module at a dotted path. The owner's typed field (e.g. `attn.c_attn`) is
   * pointed at the new module too, so forward code that reads the field calls the replacement.
   */
  setSubmodule(path: string, m: Module): void {
    const dot = path.lastIndexOf(".");
    const owner = dot < 0 ? this : this.getSubmodule(path.slice(0, dot));
    const name = path.slice(dot + 1);
    const old = owner.children.get(name);
    if (!old) throw new TensorError(`setSubmodule: no module at "${path}"`);
    owner.children.set(name, m);
    owner.replaceField(old, m);
  }

  /** Points fields (and list entries) holding `old` at `m`; ModuleList overrides this. */
  protected replaceField(old: Module, m: Module): void {
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(self)) if (self[key] === old) self[key] = m;
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

/** An indexed list of modules (children named "0", "1", ...), as PyTorch's nn.ModuleList. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[] = [];

  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): M {
    this.items.push(this.child(String(this.items.length), m));
    return m;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new TensorError(`ModuleList: index ${i} out of range [0, ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  protected override replaceField(old: Module, m: Module): void {
    const i = this.items.indexOf(old as M);
    if (i >= 0) this.items[i] = m as M;
  }
}
