// Tensor: shape + strides + offset over a typed-array storage owned by one backend.
// Views (reshape, transpose, slice, expand) share storage; owners return storage to the
// pool when disposed, and `tidy` disposes every tensor a scope created except what it returns.
import { getBackend, type BackendName } from "./backend/index.js";
import type { Kernels, Storage } from "./backend/kernels.js";
import { dtypeOf, type DType } from "./dtype.js";
import { bufferPool } from "./pool.js";
import { globalRng, type Rng } from "./rng.js";
import { backward as runBackward } from "../autograd/tape.js";

/** A step of the autograd graph: the op that produced a tensor and how to pull gradients back. */
export interface GradFn {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Given d(loss)/d(output), returns d(loss)/d(input) for each input (null where not needed). */
  backward(g: Tensor): (Tensor | null)[];
  /**
   * Optional, for single-input ops whose gradient touches part of the input (slices): adds the
   * contribution of g into `dst`, a full gradient buffer of the input, instead of materialising
   * a mostly-zero gradient. backward() must give the same result.
   */
  backwardInto?(g: Tensor, dst: Tensor): void;
}

/** Wrong shapes, dtypes or backends: the message names the op and the operands. */
export class TensorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TensorError";
  }
}

export interface CreateOptions {
  dtype?: DType;
  backend?: BackendName | Kernels;
  requiresGrad?: boolean;
}

export function shapeStr(shape: readonly number[]): string {
  return `(${shape.join(",")}${shape.length === 1 ? "," : ""})`;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

function resolveBackend(b: BackendName | Kernels | undefined): Kernels {
  if (b === undefined || typeof b === "string") return getBackend(b);
  return b;
}

// ---- scopes: who frees a buffer is never a guess ----
const scopes: Set<Tensor>[] = [];
let untrackedDepth = 0;

/**
 * Runs fn; every tensor created inside that owns storage is disposed when fn returns,
 * except tensors reachable from the result (a Tensor, or an array/object of them, one level deep).
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  const kept = new Set<Tensor>();
  const visit = (v: unknown): void => {
    if (v instanceof Tensor) kept.add(v.owner());
  };
  if (Array.isArray(result)) result.forEach(visit);
  else if (result instanceof Tensor) visit(result);
  else if (result && typeof result === "object") Object.values(result).forEach(visit);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/**
 * Runs fn with `scope` as the innermost scope: owners created inside are added to it. When fn
 * returns, members still alive move to the enclosing scope (so an outer `tidy` still frees them).
 * Used by backward() to free intermediate gradients early.
 */
export function collectCreated<T>(scope: Set<Tensor>, fn: () => T): T {
  scopes.push(scope);
  try {
    return fn();
  } finally {
    scopes.pop();
    const parent = scopes[scopes.length - 1];
    if (parent) for (const t of scope) if (!t.isDisposed) parent.add(t);
  }
}

/** Runs fn without registering new tensors in any scope (for parameters, grads, optimizer state). */
export function untracked<T>(fn: () => T): T {
  untrackedDepth++;
  try {
    return fn();
  } finally {
    untrackedDepth--;
  }
}

/** Removes a tensor from every enclosing scope so `tidy` will not dispose it. */
export function keep<T extends Tensor>(t: T): T {
  const o = t.owner();
  for (const s of scopes) s.delete(o);
  return t;
}

// ---- autograd switch ----
let gradEnabled = true;

/** Runs fn with gradient recording off (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly backend: Kernels;
  /** Owner of the storage when this tensor is a view; null when it owns it. */
  private readonly base: Tensor | null;
  private storage: Storage;
  private disposed = false;
  /** Whether gradients flow to this tensor. */
  requiresGrad: boolean;
  /** Accumulated gradient (leaves only), same shape as this tensor. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded for autograd. */
  gradFn: GradFn | null = null;
  /** Optional name (parameters carry their state-dict name). */
  name = "";

  constructor(
    storage: Storage, shape: readonly number[], strides: readonly number[], offset: number,
    backend: Kernels, base: Tensor | null = null,
  ) {
    this.storage = storage;
    this.shape = shape;
    this.strides = strides;
    this.offset = offset;
    this.dtype = dtypeOf(storage);
    this.backend = backend;
    this.base = base;
    this.requiresGrad = false;
    if (base === null && untrackedDepth === 0) scopes[scopes.length - 1]?.add(this);
  }

  /** A new uninitialised contiguous tensor (storage from the pool). */
  static empty(shape: readonly number[], opts: CreateOptions = {}): Tensor {
    for (const s of shape) {
      if (!Number.isInteger(s) || s < 0) throw new TensorError(`empty: invalid shape ${shapeStr(shape)}`);
    }
    const storage = bufferPool.acquire(opts.dtype ?? "f32", numelOf(shape));
    const t = new Tensor(storage, [...shape], contiguousStrides(shape), 0, resolveBackend(opts.backend));
    t.requiresGrad = opts.requiresGrad ?? false;
    return t;
  }

  static zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
    return Tensor.full(shape, 0, opts);
  }

  static ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
    return Tensor.full(shape, 1, opts);
  }

  static full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
    const t = Tensor.empty(shape, opts);
    t.storage.fill(value);
    return t;
  }

  /** From nested arrays or a flat array/typed array with an explicit shape. */
  static from(values: ArrayLike<number> | NestedArray, shape?: readonly number[], opts: CreateOptions = {}): Tensor {
    let flat: ArrayLike<number>;
    let inferred: number[];
    if (Array.isArray(values) && values.length > 0 && Array.isArray(values[0])) {
      inferred = [];
      let v: unknown = values;
      while (Array.isArray(v)) {
        inferred.push(v.length);
        v = v[0];
      }
      const acc: number[] = [];
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else acc.push(v as number);
      };
      walk(values);
      flat = acc;
    } else {
      flat = values as ArrayLike<number>;
      inferred = [flat.length];
    }
    const sh = shape ?? inferred;
    if (numelOf(sh) !== flat.length) {
      throw new TensorError(`from: ${flat.length} values cannot fill shape ${shapeStr(sh)}`);
    }
    const dtype = opts.dtype ?? (flat instanceof Float64Array ? "f64" : "f32");
    const t = Tensor.empty(sh, { ...opts, dtype });
    t.storage.set(flat);
    return t;
  }

  static scalar(value: number, opts: CreateOptions = {}): Tensor {
    return Tensor.full([], value, opts);
  }

  /** Normal(mean, std) samples from a seeded generator. */
  static randn(shape: readonly number[], opts: CreateOptions & { std?: number; mean?: number; rng?: Rng } = {}): Tensor {
    const t = Tensor.empty(shape, opts);
    const rng = opts.rng ?? globalRng;
    const std = opts.std ?? 1;
    const mean = opts.mean ?? 0;
    for (let i = 0; i < t.storage.length; i++) t.storage[i] = mean + std * rng.normal();
    return t;
  }

  /** Uniform samples in [low, high). */
  static rand(shape: readonly number[], opts: CreateOptions & { low?: number; high?: number; rng?: Rng } = {}): Tensor {
    const t = Tensor.empty(shape, opts);
    const rng = opts.rng ?? globalRng;
    const low = opts.low ?? 0;
    const high = opts.high ?? 1;
    for (let i = 0; i < t.storage.length; i++) t.storage[i] = low + (high - low) * rng.uniform();
    return t;
  }

  static arange(n: number, opts: CreateOptions = {}): Tensor {
    const t = Tensor.empty([n], opts);
    for (let i = 0; i < n; i++) t.storage[i] = i;
    return t;
  }

  // ---- storage access ----

  /** The whole storage array (of the owner, for views). Throws once disposed. */
  get data(): Storage {
    if (this.disposed || this.base?.disposed === true) {
      throw new TensorError(`tensor ${this.name || shapeStr(this.shape)} was used after dispose()`);
    }
    return this.storage;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get size(): number {
    return numelOf(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed || this.base?.disposed === true;
  }

  /** The tensor owning the storage (itself if not a view). */
  owner(): Tensor {
    return this.base ?? this;
  }

  isContiguous(): boolean {
    let s = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== s) return false;
      s *= this.shape[d];
    }
    return true;
  }

  /**
   * The elements in row-major order as a typed array of exactly `size` elements:
   * a zero-copy subarray when contiguous, otherwise a fresh copy. Read-only by convention.
   */
  contiguousData(): Storage {
    const n = this.size;
    if (this.isContiguous()) {
      const d = this.data;
      return this.offset === 0 && d.length === n ? d : d.subarray(this.offset, this.offset + n);
    }
    const out = this.dtype === "f64" ? new Float64Array(n) : new Float32Array(n);
    this.kernels().copyStrided(this.data, this.offset, this.strides, out, this.shape);
    return out;
  }

  /** The kernels that run this tensor's ops (reference when the backend lacks this dtype). */
  kernels(): Kernels {
    return this.backend.supports(this.dtype) ? this.backend : getBackend("ref");
  }

  /** A view with other shape/strides over the same storage (no autograd: use ops for that). */
  viewAs(shape: readonly number[], strides: readonly number[], offset = this.offset): Tensor {
    return new Tensor(this.data, shape, strides, offset, this.backend, this.owner());
  }

  /** Wraps existing storage as a contiguous tensor that owns it. */
  static fromStorage(storage: Storage, shape: readonly number[], backend?: BackendName | Kernels): Tensor {
    if (storage.length !== numelOf(shape)) {
      throw new TensorError(`fromStorage: ${storage.length} elements for shape ${shapeStr(shape)}`);
    }
    return new Tensor(storage, [...shape], contiguousStrides(shape), 0, resolveBackend(backend));
  }

  item(): number {
    if (this.size !== 1) throw new TensorError(`item: tensor has shape ${shapeStr(this.shape)}, expected one element`);
    return this.contiguousData()[0];
  }

  /** A plain copy of the elements as Float64Array or Float32Array (row-major). */
  toTypedArray(): Storage {
    return this.contiguousData().slice();
  }

  /** Nested arrays, like torch's tolist(). */
  toArray(): NestedArray | number {
    const flat = Array.from(this.contiguousData());
    if (this.ndim === 0) return flat[0];
    const build = (dim: number, off: number): NestedArray => {
      const n = this.shape[dim];
      if (dim === this.ndim - 1) return flat.slice(off, off + n);
      const stride = numelOf(this.shape.slice(dim + 1));
      return Array.from({ length: n }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }

  /** Returns storage to the pool. Views never free; disposing twice is harmless. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.base === null) bufferPool.release(this.storage);
    this.gradFn = null;
  }

  /** Back-propagates from this tensor into every leaf's `.grad` (accumulating). */
  backward(grad?: Tensor): void {
    runBackward(this, grad);
  }

  /** A tensor sharing storage with no autograd history. */
  detach(): Tensor {
    return this.viewAs(this.shape, this.strides);
  }

  toString(): string {
    return `Tensor${shapeStr(this.shape)} ${this.dtype} ${this.backend.name}${this.requiresGrad ? " requiresGrad" : ""}`;
  }
}

export type NestedArray = number[] | NestedArray[];
