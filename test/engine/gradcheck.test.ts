// Every op's backward checked by central finite differences in f64 on the reference backend,
// plus a 2-layer MLP and one attention block composed from them.
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import * as ops from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor } from "../../src/tensor/tensor.js";

const rng = new Rng(7);
function rnd(shape: number[], opts: { positive?: boolean; scale?: number } = {}): Tensor {
  const t = Tensor.randn(shape, { dtype: "f64", backend: "ref", rng, std: opts.scale ?? 1, requiresGrad: true });
  if (opts.positive) for (let i = 0; i < t.size; i++) t.data[i] = Math.abs(t.data[i]) + 0.5;
  return t;
}

function check(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
  const r = gradcheck(fn, inputs);
  expect(r.ok, `${name}: ${r.where} (score ${r.worst})`).toBe(true);
}

describe("gradcheck: elementwise with broadcasting", () => {
  for (const op of ["add", "sub", "mul", "div"] as const) {
    it(op, () => {
      check(op, (a, b) => ops[op](a, b), [rnd([3, 4]), op === "div" ? rnd([4], { positive: true }) : rnd([4])]);
      check(`${op} (1,4)x(3,1)`, (a, b) => ops[op](a, b), [rnd([1, 4]), op === "div" ? rnd([3, 1], { positive: true }) : rnd([3, 1])]);
    });
  }
  it("pow (tensor and scalar exponents)", () => {
    check("pow", (a, b) => ops.pow(a, b), [rnd([2, 3], { positive: true }), rnd([2, 3])]);
    check("pow scalar", (a) => ops.pow(a, 3), [rnd([5])]);
  });
  it("maximum/minimum", () => {
    check("maximum", (a, b) => ops.maximum(a, b), [rnd([4, 3]), rnd([3])]);
    check("minimum", (a, b) => ops.minimum(a, b), [rnd([4, 3]), rnd([4, 1])]);
  });
  for (const op of ["neg", "exp", "tanh", "sigmoid", "relu", "gelu", "silu", "square", "abs"] as const) {
    it(op, () => check(op, (a) => ops[op](a), [rnd([3, 5])]));
  }
  for (const op of ["log", "sqrt", "rsqrt", "recip"] as const) {
    it(op, () => check(op, (a) => ops[op](a), [rnd([7], { positive: true })]));
  }
});

describe("gradcheck: reductions and layout", () => {
  it("sum/mean over axes", () => {
    check("sum all", (a) => ops.sum(a), [rnd([2, 3, 4])]);
    check("sum axes", (a) => ops.sum(a, [0, 2]), [rnd([2, 3, 4])]);
    check("mean keepDims", (a) => ops.mean(a, 1, true), [rnd([2, 3, 4])]);
  });
  it("max over an axis", () => check("max", (a) => ops.max(a, 1), [rnd([3, 5])]));
  it("reshape, transpose, permute, slice, expand, concat, split", () => {
    check("reshape", (a) => ops.reshape(a, [6, 2]), [rnd([3, 4])]);
    check("transpose", (a) => ops.mul(ops.transpose(a, 0, 1), ops.transpose(a, 0, 1)), [rnd([3, 4])]);
    check("permute", (a) => ops.permute(a, [2, 0, 1]), [rnd([2, 3, 4])]);
    check("slice", (a) => ops.slice(a, 1, 1, 3), [rnd([3, 4])]);
    check("expand", (a) => ops.expand(a, [3, 2, 4]), [rnd([2, 1])]);
    check("concat", (a, b) => ops.concat([a, b], 1), [rnd([2, 3]), rnd([2, 2])]);
    check("split", (a) => {
      const [x, y] = ops.split(a, [1, 3], 1);
      return ops.mul(ops.sum(x), y);
    }, [rnd([2, 4])]);
  });
});

describe("gradcheck: matrix and network ops", () => {
  it("matmul 2-D, batched, broadcast batch, transposed operands, vectors", () => {
    check("2d", (a, b) => ops.matmul(a, b), [rnd([3, 4]), rnd([4, 5])]);
    check("batched", (a, b) => ops.matmul(a, b), [rnd([2, 3, 4]), rnd([2, 4, 2])]);
    check("broadcast", (a, b) => ops.matmul(a, b), [rnd([2, 1, 3, 4]), rnd([3, 4, 2])]);
    check("transposed", (a, b) => ops.matmul(ops.transpose(a), ops.transpose(b)), [rnd([4, 3]), rnd([5, 4])]);
    check("vector", (a, b) => ops.matmul(a, b), [rnd([4]), rnd([4, 3])]);
  });
  it("linear with and without bias", () => {
    check("linear", (x, w, b) => ops.linear(x, w, b), [rnd([2, 3, 4]), rnd([5, 4]), rnd([5])]);
    check("linear nobias", (x, w) => ops.linear(x, w), [rnd([3, 4]), rnd([2, 4])]);
  });
  it("softmax, logSoftmax", () => {
    check("softmax", (a) => ops.softmax(a), [rnd([3, 5])]);
    check("logSoftmax", (a) => ops.logSoftmax(a), [rnd([3, 5])]);
  });
  it("layerNorm, rmsNorm", () => {
    check("layerNorm", (x, w, b) => ops.layerNorm(x, w, b), [rnd([3, 6]), rnd([6]), rnd([6])]);
    check("layerNorm plain", (x) => ops.layerNorm(x), [rnd([2, 5])]);
    check("rmsNorm", (x, w) => ops.rmsNorm(x, w), [rnd([3, 6]), rnd([6])]);
  });
  it("embedding with repeated ids", () => {
    const idx = ops.ids([1, 3, 1, 0], [2, 2]);
    check("embedding", (w) => ops.embedding(w, idx), [rnd([5, 3])]);
  });
  it("crossEntropy mean/sum/none with ignore index", () => {
    const t = Int32Array.from([2, -100, 0, 4]);
    check("ce mean", (x) => ops.crossEntropy(x, t), [rnd([4, 5])]);
    check("ce sum", (x) => ops.crossEntropy(x, t, { reduction: "sum" }), [rnd([2, 2, 5])]);
    check("ce none", (x) => ops.crossEntropy(x, t, { reduction: "none" }), [rnd([4, 5])]);
  });
  it("dropout (fixed mask by seed)", () => {
    const x = rnd([4, 4]);
    check("dropout", (a) => ops.dropout(a, 0.3, true, new Rng(5)), [x]);
  });
  it("causalAttention, plain and grouped-query, on strided views", () => {
    check("attention", (q, k, v) => ops.causalAttention(q, k, v), [rnd([2, 4, 2, 3]), rnd([2, 4, 2, 3]), rnd([2, 4, 2, 3])]);
    check("gqa", (q, k, v) => ops.causalAttention(q, k, v), [rnd([1, 5, 4, 2]), rnd([1, 5, 2, 2]), rnd([1, 5, 2, 2])]);
    check("from fused qkv", (qkv) => {
      const [q, k, v] = ops.split(qkv, [4, 4, 4], 2).map((t) => ops.reshape(t, [2, 3, 2, 2]));
      return ops.causalAttention(q, k, v);
    }, [rnd([2, 3, 12])]);
  });
  it("rope", () => check("rope", (x) => ops.rope(x, 100, 3), [rnd([1, 3, 2, 4])]));
  // Row 0 holds documents [0,2) [2,5); row 1 holds [0,1) [1,4) [4,5).
  const docStart = Int32Array.from([0, 0, 2, 2, 2, 0, 1, 1, 1, 4]);
  it("causalAttention and rope over packed rows (docStart)", () => {
    check("attention docStart", (q, k, v) => ops.causalAttention(q, k, v, { docStart }), [rnd([2, 5, 4, 3]), rnd([2, 5, 2, 3]), rnd([2, 5, 2, 3])]);
    check("rope docStart", (x) => ops.rope(x, 100, 0, docStart), [rnd([2, 5, 2, 4])]);
  });
  it("gather and logSigmoid", () => {
    check("gather", (x) => ops.gather(x, Int32Array.from([2, 0, 4, 1])), [rnd([2, 2, 5])]);
    const x = rnd([9]);
    for (const [i, v] of [-40, -3, -0.5, 0.2, 3, 40].entries()) x.data[i] = v; // both tails
    check("logSigmoid", (a) => ops.logSigmoid(a), [x]);
  });
});

describe("gradcheck: composed networks", () => {
  it("2-layer MLP with cross-entropy", () => {
    const targets = Int32Array.from([1, 0, 2]);
    check("mlp", (x, w1, b1, w2, b2) => {
      const h = ops.gelu(ops.linear(x, w1, b1));
      return ops.crossEntropy(ops.linear(h, w2, b2), targets);
    }, [rnd([3, 4]), rnd([6, 4], { scale: 0.5 }), rnd([6]), rnd([3, 6], { scale: 0.5 }), rnd([3])]);
  });
  it("one pre-LN attention block (GPT-2 style)", () => {
    const B = 1, T = 3, C = 4, H = 2;
    check("block", (x, lnw, lnb, wqkv, bqkv, wo, bo) => {
      const h = ops.layerNorm(x, lnw, lnb);
      const qkv = ops.linear(h, wqkv, bqkv);
      const [q, k, v] = ops.split(qkv, [C, C, C], 2).map((t) => ops.reshape(t, [B, T, H, C / H]));
      const y = ops.reshape(ops.causalAttention(q, k, v), [B, T, C]);
      return ops.add(x, ops.linear(y, wo, bo));
    }, [rnd([B, T, C]), rnd([C]), rnd([C]), rnd([3 * C, C], { scale: 0.5 }), rnd([3 * C]), rnd([C, C], { scale: 0.5 }), rnd([C])]);
  });
});

describe("gradcheck itself", () => {
  it("catches a wrong backward", async () => {
    const { record } = await import("../../src/autograd/tape.js");
    const wrongSquare = (x: Tensor): Tensor => {
      const out = ops.mul(x.detach(), x.detach());
      return record(out, "wrongSquare", [x], (g) => [ops.mul(g, x.detach())]); // should be 2x
    };
    const r = gradcheck(wrongSquare, [rnd([4])]);
    expect(r.ok).toBe(false);
  });
});
