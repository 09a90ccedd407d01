import { describe, expect, it } from "vitest";
import * as ops from "../../src/tensor/ops/index.js";
import { nativeKernels } from "../../src/tensor/backend/index.js";
import { Tensor, tidy } from "../../src/tensor/tensor.js";

describe("tensor basics (reference backend)", () => {
  const o = { backend: "ref" as const };
  it("matmul, views and broadcasting", () => {
    const a = Tensor.from([[1, 2, 3], [4, 5, 6]], undefined, o);
    const b = Tensor.from([[1, 0], [0, 1], [1, 1]], undefined, o);
    expect(ops.matmul(a, b).toArray()).toEqual([[4, 5], [10, 11]]);
    expect(ops.matmul(ops.transpose(b), ops.transpose(a)).toArray()).toEqual([[4, 10], [5, 11]]);
    expect(ops.add(a, Tensor.from([10, 20, 30], undefined, o)).toArray()).toEqual([[11, 22, 33], [14, 25, 36]]);
    expect(ops.sum(a, 0).toArray()).toEqual([5, 7, 9]);
    expect(ops.sum(a, 1, true).toArray()).toEqual([[6], [15]]);
  });
  it("shape errors name the op and both shapes", () => {
    const a = Tensor.zeros([4, 3], o);
    const b = Tensor.zeros([5, 2], o);
    expect(() => ops.matmul(a, b)).toThrow("matmul: (4,3) @ (5,2): inner dims 3 and 5 differ");
    expect(() => ops.add(a, b)).toThrow(/add: shapes \(4,3\) and \(5,2\) cannot broadcast/);
    expect(() => ops.add(a, Tensor.zeros([4, 3], { ...o, dtype: "f64" }))).toThrow(/dtype mismatch: f32 .* vs f64/);
    if (nativeKernels) expect(() => ops.matmul(a, Tensor.zeros([3, 2], { backend: "native" }))).toThrow("matmul: backend mismatch: ref vs native");
  });
  it("autograd accumulates and tidy frees", () => {
    const x = Tensor.from([1, 2, 3], undefined, { ...o, requiresGrad: true });
    for (let i = 0; i < 2; i++) tidy(() => ops.sum(ops.mul(x, x)).backward());
    expect(Array.from(x.grad!.toTypedArray())).toEqual([4, 8, 12]);
    let inner: Tensor | null = null;
    tidy(() => {
      inner = ops.mul(x, 2);
    });
    expect(inner!.isDisposed).toBe(true);
    expect(() => inner!.data).toThrow(/used after dispose/);
  });
  it("reshape of a column slice is a view", () => {
    const qkv = Tensor.arange(2 * 3 * 12, o);
    const r = ops.reshape(qkv, [2, 3, 12]);
    const q = ops.slice(r, 2, 4, 8);
    const v = ops.reshape(q, [2, 3, 2, 2]);
    expect(v.owner()).toBe(qkv.owner());
    expect(v.strides).toEqual([36, 12, 2, 1]);
  });
});
