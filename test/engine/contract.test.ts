// The backend contract: every op, forward and backward, on edge shapes (size 0, 1, odd sizes,
// non-contiguous views, broadcasting), run on each available backend in f32 and compared with
// the reference backend in f64 (the oracle). A backend ships only if it passes this suite.
import { describe, expect, it } from "vitest";
import { getBackend, nativeKernels, type BackendName } from "../../src/tensor/backend/index.js";
import * as ops from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor, tidy } from "../../src/tensor/tensor.js";

/** An input: its (view) shape; `transposed` makes it a transposed view of a contiguous tensor. */
type Spec = { shape: number[]; positive?: boolean; transposed?: boolean; scale?: number };
interface Case {
  name: string;
  inputs: Spec[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Relative tolerance for f32 vs the f64 oracle (default 1e-4). */
  tol?: number;
}

const ce = Int32Array.from([3, -100, 0, 6, 2]);
const cases: Case[] = [];
for (const op of ["add", "sub", "mul", "div", "maximum", "minimum"] as const) {
  const pos = op === "div";
  cases.push({ name: `${op} same shape odd`, inputs: [{ shape: [7, 13] }, { shape: [7, 13], positive: pos }], fn: (a, b) => ops[op](a, b) });
  cases.push({ name: `${op} row broadcast`, inputs: [{ shape: [5, 3, 17] }, { shape: [17], positive: pos }], fn: (a, b) => ops[op](a, b) });
  cases.push({ name: `${op} outer broadcast`, inputs: [{ shape: [4, 1] }, { shape: [1, 9], positive: pos }], fn: (a, b) => ops[op](a, b) });
  cases.push({ name: `${op} transposed view`, inputs: [{ shape: [6, 5], transposed: true }, { shape: [6, 5], positive: pos }], fn: (a, b) => ops[op](a, b) });
  cases.push({ name: `${op} empty`, inputs: [{ shape: [0, 3] }, { shape: [3], positive: pos }], fn: (a, b) => ops[op](a, b) });
  cases.push({ name: `${op} scalar`, inputs: [{ shape: [1] }, { shape: [], positive: pos }], fn: (a, b) => ops[op](a, b) });
}
cases.push({ name: "pow", inputs: [{ shape: [9, 3], positive: true }, { shape: [3] }], fn: (a, b) => ops.pow(a, b) });
for (const op of ["neg", "exp", "tanh", "sigmoid", "relu", "gelu", "silu", "square", "abs"] as const) {
  cases.push({ name: `${op} odd`, inputs: [{ shape: [3, 37] }], fn: (a) => ops[op](a) });
  cases.push({ name: `${op} strided`, inputs: [{ shape: [8, 5], transposed: true }], fn: (a) => ops[op](a) });
  cases.push({ name: `${op} empty`, inputs: [{ shape: [0] }], fn: (a) => ops[op](a) });
}
for (const op of ["log", "sqrt", "rsqrt", "recip"] as const) {
  cases.push({ name: `${op}`, inputs: [{ shape: [2, 33], positive: true }], fn: (a) => ops[op](a) });
}
cases.push(
  { name: "sum all", inputs: [{ shape: [3, 4, 5] }], fn: (a) => ops.sum(a) },
  { name: "sum axis 1 keep", inputs: [{ shape: [3, 4, 5] }], fn: (a) => ops.sum(a, 1, true) },
  { name: "sum transposed", inputs: [{ shape: [7, 3], transposed: true }], fn: (a) => ops.sum(a, 0) },
  { name: "sum over empty axis", inputs: [{ shape: [3, 0] }], fn: (a) => ops.sum(a, 1) },
  { name: "mean", inputs: [{ shape: [2, 9] }], fn: (a) => ops.mean(a, -1) },
  { name: "max", inputs: [{ shape: [4, 11] }], fn: (a) => ops.max(a, 1) },
  { name: "max axis 0", inputs: [{ shape: [5, 3] }], fn: (a) => ops.max(a, 0) },
  { name: "concat/split", inputs: [{ shape: [2, 3] }, { shape: [2, 5] }], fn: (a, b) => ops.split(ops.concat([a, b], 1), [4, 4], 1)[1] },
);
const mm: [number, number, number][] = [[1, 1, 1], [1, 7, 1], [5, 1, 3], [17, 9, 33], [64, 48, 40], [3, 0, 4], [0, 4, 2], [4, 5, 0]];
for (const [M, K, N] of mm) {
  cases.push({ name: `matmul ${M}x${K}x${N}`, inputs: [{ shape: [M, K] }, { shape: [K, N] }], fn: (a, b) => ops.matmul(a, b) });
}
cases.push(
  { name: "matmul A^T B^T", inputs: [{ shape: [19, 33], transposed: true }, { shape: [33, 23], transposed: true }], fn: (a, b) => ops.matmul(a, b) },
  { name: "matmul batched", inputs: [{ shape: [3, 7, 9] }, { shape: [3, 9, 5] }], fn: (a, b) => ops.matmul(a, b) },
  { name: "matmul broadcast batch", inputs: [{ shape: [2, 1, 4, 6] }, { shape: [3, 6, 5] }], fn: (a, b) => ops.matmul(a, b) },
  { name: "matmul vector", inputs: [{ shape: [6] }, { shape: [6, 4] }], fn: (a, b) => ops.matmul(a, b) },
  { name: "linear", inputs: [{ shape: [2, 5, 24] }, { shape: [40, 24] }, { shape: [40] }], fn: (x, w, b) => ops.linear(x, w, b) },
  { name: "linear big", inputs: [{ shape: [130, 70] }, { shape: [150, 70] }, { shape: [150] }], fn: (x, w, b) => ops.linear(x, w, b), tol: 3e-4 },
  { name: "softmax", inputs: [{ shape: [7, 31], scale: 3 }], fn: (a) => ops.softmax(a) },
  { name: "logSoftmax", inputs: [{ shape: [3, 1000], scale: 3 }], fn: (a) => ops.logSoftmax(a) },
  { name: "softmax one col", inputs: [{ shape: [4, 1] }], fn: (a) => ops.softmax(a) },
  { name: "layerNorm", inputs: [{ shape: [6, 33] }, { shape: [33] }, { shape: [33] }], fn: (x, w, b) => ops.layerNorm(x, w, b) },
  { name: "layerNorm strided", inputs: [{ shape: [9, 4], transposed: true }, { shape: [4] }, { shape: [4] }], fn: (x, w, b) => ops.layerNorm(x, w, b) },
  { name: "rmsNorm", inputs: [{ shape: [5, 65] }, { shape: [65] }], fn: (x, w) => ops.rmsNorm(x, w) },
  { name: "embedding", inputs: [{ shape: [10, 7] }], fn: (w) => ops.embedding(w, ops.ids([1, 9, 1, 0, 3, 3], [2, 3])) },
  { name: "crossEntropy", inputs: [{ shape: [5, 7], scale: 2 }], fn: (x) => ops.crossEntropy(x, ce) },
  { name: "crossEntropy none", inputs: [{ shape: [5, 7], scale: 2 }], fn: (x) => ops.crossEntropy(x, ce, { reduction: "none" }) },
  { name: "crossEntropy wide", inputs: [{ shape: [3, 4099], scale: 2 }], fn: (x) => ops.crossEntropy(x, Int32Array.from([0, 4098, 17])) },
  { name: "attention", inputs: [{ shape: [2, 9, 3, 8] }, { shape: [2, 9, 3, 8] }, { shape: [2, 9, 3, 8] }], fn: (q, k, v) => ops.causalAttention(q, k, v) },
  { name: "attention T=1", inputs: [{ shape: [1, 1, 2, 4] }, { shape: [1, 1, 2, 4] }, { shape: [1, 1, 2, 4] }], fn: (q, k, v) => ops.causalAttention(q, k, v) },
  { name: "attention gqa", inputs: [{ shape: [1, 17, 4, 16] }, { shape: [1, 17, 2, 16] }, { shape: [1, 17, 2, 16] }], fn: (q, k, v) => ops.causalAttention(q, k, v) },
  { name: "attention long", inputs: [{ shape: [1, 130, 2, 32] }, { shape: [1, 130, 2, 32] }, { shape: [1, 130, 2, 32] }], fn: (q, k, v) => ops.causalAttention(q, k, v), tol: 3e-4 },
  {
    name: "attention from fused qkv",
    inputs: [{ shape: [2, 11, 3 * 24] }],
    fn: (qkv) => {
      const [q, k, v] = ops.split(qkv, [24, 24, 24], 2).map((t) => ops.reshape(t, [2, 11, 3, 8]));
      return ops.causalAttention(q, k, v);
    },
  },
  { name: "rope", inputs: [{ shape: [2, 5, 3, 8] }], fn: (x) => ops.rope(x, 10000, 2) },
);

function make(spec: Spec, dtype: "f32" | "f64", backend: BackendName, seed: number): Tensor {
  const rng = new Rng(seed);
  const shape = spec.transposed ? [...spec.shape].reverse() : spec.shape;
  const base = Tensor.randn(shape, { dtype: "f64", backend: "ref", rng, std: spec.scale ?? 1 });
  if (spec.positive) for (let i = 0; i < base.size; i++) base.data[i] = Math.abs(base.data[i]) + 0.3;
  const t = Tensor.from(base.data, shape, { dtype, backend, requiresGrad: true });
  if (!spec.transposed) return t;
  const v = ops.transpose(t.detach(), 0, -1);
  v.requiresGrad = true;
  return v;
}

interface Run {
  out: Float64Array;
  grads: Float64Array[];
}

function run(c: Case, dtype: "f32" | "f64", backend: BackendName): Run {
  return tidy(() => {
    const xs = c.inputs.map((s, i) => make(s, dtype, backend, 100 + i));
    const y = c.fn(...xs);
    const w = Tensor.randn(y.shape, { dtype, backend, rng: new Rng(9) });
    ops.sum(ops.mul(y, w)).backward();
    return {
      out: Float64Array.from(y.contiguousData()),
      grads: xs.map((x) => Float64Array.from(x.grad ? x.grad.contiguousData() : new Float64Array(x.size))),
    };
  });
}

function maxRelErr(a: Float64Array, b: Float64Array): number {
  let scale = 1e-3;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / scale);
  return a.length === b.length ? e : Number.POSITIVE_INFINITY;
}

const backends: BackendName[] = ["ref", ...(nativeKernels ? (["native"] as const) : [])];

for (const backend of backends) {
  describe(`backend contract: ${backend} f32 vs reference f64`, () => {
    it("is the backend asked for", () => expect(getBackend(backend).name).toBe(backend));
    for (const c of cases) {
      it(c.name, () => {
        const oracle = run(c, "f64", "ref");
        const got = run(c, "f32", backend);
        const tol = c.tol ?? 1e-4;
        expect(maxRelErr(got.out, oracle.out), "forward").toBeLessThan(tol);
        got.grads.forEach((g, i) => {
          expect(maxRelErr(g, oracle.grads[i]), `grad of input ${i}`).toBeLessThan(tol * 3);
        });
      });
    }
  });
}
