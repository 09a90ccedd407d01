// indexRows / scatterAddRows / groupedLinear (the gather, scatter-add and per-expert linear a
// mixture-of-experts layer runs on): values against plain ops, gradients by finite differences
// (f64, ref), the default (native) backend against the reference, errors.
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { getBackend } from "../../src/tensor/backend/index.js";
import * as ops from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor, TensorError } from "../../src/tensor/tensor.js";

const rng = new Rng(11);
const rnd = (shape: number[], dtype: "f32" | "f64" = "f64", backend: "ref" | undefined = "ref") =>
  Tensor.randn(shape, { dtype, backend, rng, requiresGrad: true });

describe("indexRows / scatterAddRows", () => {
  it("values: gather picks rows (repeats allowed), scatter-add sums rows in place", () => {
    const x = Tensor.from([[1, 2], [3, 4], [5, 6]], undefined, { dtype: "f64", backend: "ref" });
    expect(Array.from(ops.indexRows(x, Int32Array.from([2, 0, 2])).toTypedArray())).toEqual([5, 6, 1, 2, 5, 6]);
    const s = ops.scatterAddRows(x, Int32Array.from([1, 3, 1]), 4);
    expect(s.shape).toEqual([4, 2]);
    expect(Array.from(s.toTypedArray())).toEqual([0, 0, 6, 8, 0, 0, 3, 4]);
    expect(ops.indexRows(x, new Int32Array(0)).shape).toEqual([0, 2]);
  });

  it("gradcheck (f64, ref): both ops, with repeated and unused rows", () => {
    const rows = Int32Array.from([4, 0, 4, 2, 1, 4]);
    const g1 = gradcheck((x) => ops.indexRows(x, rows), [rnd([5, 3])]);
    expect(g1.ok, g1.where).toBe(true);
    const g2 = gradcheck((x) => ops.scatterAddRows(x, rows, 7), [rnd([6, 3])]);
    expect(g2.ok, g2.where).toBe(true);
    // composed: gather, weight, scatter back (what an MoE layer does)
    const g3 = gradcheck((x, w) => ops.scatterAddRows(ops.mul(ops.indexRows(x, rows), w), Int32Array.from([0, 1, 2, 0, 1, 2]), 3), [rnd([5, 4]), rnd([6, 1])]);
    expect(g3.ok, g3.where).toBe(true);
  });

  it(`default backend (${getBackend().name}) f32 equals the reference, forward and backward`, () => {
    const rows = Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 50);
    const run = (backend: "ref" | undefined) => {
      const r = new Rng(3);
      const x = Tensor.randn([50, 33], { backend, rng: r, requiresGrad: true });
      const w = Tensor.randn([300, 33], { backend, rng: r });
      const y = ops.scatterAddRows(ops.mul(ops.indexRows(x, rows), w), rows, 50);
      ops.sum(ops.mul(y, y)).backward();
      return [y.toTypedArray(), x.grad?.toTypedArray() ?? new Float32Array(0)];
    };
    const [yr, gr] = run("ref");
    const [yn, gn] = run(undefined);
    for (const [a, b] of [[yr, yn], [gr, gn]]) {
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(a[i])));
    }
  });

  it("errors name the op, the bad index and the range", () => {
    const x = rnd([3, 2]);
    expect(() => ops.indexRows(x, Int32Array.from([0, 3]))).toThrow(/indexRows: row index 3 at position 1 is outside \[0, 3\)/);
    expect(() => ops.scatterAddRows(x, Int32Array.from([0, 1]), 5)).toThrow(/2 row indices for 3 rows/);
    expect(() => ops.scatterAddRows(x, Int32Array.from([0, 1, -1]), 5)).toThrow(TensorError);
    expect(() => ops.indexRows(rnd([2, 2, 2]), Int32Array.from([0]))).toThrow(/must be \(rows, cols\)/);
  });
});

describe("groupedLinear", () => {
  const offsets = Int32Array.from([0, 3, 3, 7]); // blocks of 3, 0 and 4 rows

  it("equals linear block by block (with and without biases)", () => {
    const x = rnd([7, 5]);
    const ws = [rnd([4, 5]), rnd([4, 5]), rnd([4, 5])];
    const bs = [rnd([4]), rnd([4]), rnd([4])];
    for (const biases of [bs, null]) {
      const y = ops.groupedLinear(x, ws, biases, offsets).toTypedArray();
      const want = ops.concat([
        ops.linear(ops.slice(x, 0, 0, 3), ws[0], biases?.[0]), ops.linear(ops.slice(x, 0, 3, 7), ws[2], biases?.[2]),
      ], 0).toTypedArray();
      for (let i = 0; i < want.length; i++) expect(Math.abs(y[i] - want[i])).toBeLessThan(1e-12);
    }
  });

  it("gradcheck (f64, ref): x, every weight and bias; an empty block gets no gradient", () => {
    const x = rnd([7, 5]);
    const ws = [rnd([4, 5]), rnd([4, 5]), rnd([4, 5])];
    const bs = [rnd([4]), rnd([4]), rnd([4])];
    const r = gradcheck((xx, w0, w1, w2, b0, b1, b2) => ops.groupedLinear(xx, [w0, w1, w2], [b0, b1, b2], offsets), [x, ...ws, ...bs]);
    expect(r.ok, r.where).toBe(true);
    expect(ws[1].grad).toBeNull();
  });

  it(`default backend (${getBackend().name}) f32 equals the reference, forward and backward`, () => {
    const offs = Int32Array.from([0, 100, 117, 117, 300]);
    const run = (backend: "ref" | undefined) => {
      const r = new Rng(4);
      const x = Tensor.randn([300, 48], { backend, rng: r, requiresGrad: true });
      const ws = Array.from({ length: 4 }, () => Tensor.randn([40, 48], { backend, rng: r, requiresGrad: true }));
      const bs = Array.from({ length: 4 }, () => Tensor.randn([40], { backend, rng: r, requiresGrad: true }));
      const y = ops.groupedLinear(x, ws, bs, offs);
      ops.sum(ops.mul(y, y)).backward();
      return [y.toTypedArray(), x.grad?.toTypedArray() ?? [], ws[3].grad?.toTypedArray() ?? [], bs[0].grad?.toTypedArray() ?? []];
    };
    const ref = run("ref");
    const nat = run(undefined);
    ref.forEach((a, j) => {
      const b = nat[j];
      expect(b.length).toBe(a.length);
      let scale = 0;
      for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-5 * scale);
    });
  });

  it("errors say what was expected", () => {
    const x = rnd([7, 5]);
    expect(() => ops.groupedLinear(x, [rnd([4, 5])], null, Int32Array.from([0, 6]))).toThrow(/offsets \(from 0 to 6\) for 7 rows/);
    expect(() => ops.groupedLinear(x, [rnd([4, 5]), rnd([4, 6])], null, Int32Array.from([0, 3, 7]))).toThrow(/weight 1 is \(4,6\), expected \(4, 5\)/);
    expect(() => ops.groupedLinear(x, [rnd([4, 5]), rnd([4, 5]), rnd([4, 5])], null, Int32Array.from([0, 5, 3, 7]))).toThrow(/must not decrease/);
  });
});
