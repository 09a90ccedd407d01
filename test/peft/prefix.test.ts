// Prefix tuning: the composed attention against the causal kernel (no prefix) and a hand-written
// reference (with one), gradcheck in f64, packed rows, the reparameterisation, generation.
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { generate } from "../../src/infer/generate.js";
import { applyPeft } from "../../src/nn/peft.js";
import { prefixAttention } from "../../src/nn/prefix.js";
import { AdamW } from "../../src/optim/optimizers.js";
import { causalAttention, ids } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad, Tensor, tidy } from "../../src/tensor/tensor.js";
import { IDS, logits, maxAbsDiff, TARGETS, tinyModel } from "./helpers.js";

const rng = new Rng(11);
const rnd = (shape: number[]) => Tensor.randn(shape, { dtype: "f64", backend: "ref", rng, requiresGrad: true });
const DOCS = Int32Array.from([0, 0, 0, 0, 0, 1, 1, 3]); // (B, T) = (2, 4): row 1 holds documents [0,1) [1,3) [3,4)

/** Attention written out element by element: softmax over [prefix keys; keys docStart..t]. */
function reference(q: Tensor, k: Tensor, v: Tensor, pk: Tensor, pv: Tensor, docStart: Int32Array): Float64Array {
  const [B, T, H, D] = q.shape;
  const Hkv = k.shape[2];
  const P = pk.shape[0];
  const [qd, kd, vd, pkd, pvd] = [q, k, v, pk, pv].map((t) => t.contiguousData());
  const out = new Float64Array(B * T * H * D);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
    const j = Math.floor(h / (H / Hkv));
    const keys: [ArrayLike<number>, number, ArrayLike<number>, number][] = [];
    for (let p = 0; p < P; p++) keys.push([pkd, (p * Hkv + j) * D, pvd, (p * Hkv + j) * D]);
    for (let s = docStart[b * T + t]; s <= t; s++) keys.push([kd, ((b * T + s) * Hkv + j) * D, vd, ((b * T + s) * Hkv + j) * D]);
    const qo = ((b * T + t) * H + h) * D;
    const sc = keys.map(([kk, ko]) => {
      let d = 0;
      for (let i = 0; i < D; i++) d += qd[qo + i] * kk[ko + i];
      return d / Math.sqrt(D);
    });
    const m = Math.max(...sc);
    const w = sc.map((x) => Math.exp(x - m));
    const z = w.reduce((a, c) => a + c, 0);
    keys.forEach(([, , vv, vo], n) => {
      for (let i = 0; i < D; i++) out[qo + i] += (w[n] / z) * vv[vo + i];
    });
  }
  return out;
}

describe("prefixAttention", () => {
  it("without a prefix equals the causal kernel (GQA, packed rows)", () => {
    const [q, k, v] = [rnd([2, 4, 4, 3]), rnd([2, 4, 2, 3]), rnd([2, 4, 2, 3])];
    for (const docStart of [undefined, DOCS]) {
      const [a, b] = noGrad(() => [prefixAttention(q, k, v, null, null, docStart).toTypedArray(), causalAttention(q, k, v, { docStart }).toTypedArray()]);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-12);
    }
  });

  it("with a prefix equals the hand-written reference", () => {
    const [q, k, v, pk, pv] = [rnd([2, 4, 4, 3]), rnd([2, 4, 2, 3]), rnd([2, 4, 2, 3]), rnd([3, 6]), rnd([3, 6])];
    const got = noGrad(() => prefixAttention(q, k, v, pk, pv, DOCS).toTypedArray());
    expect(maxAbsDiff(got, reference(q, k, v, pk, pv, DOCS))).toBeLessThan(1e-12);
    expect(maxAbsDiff(got, noGrad(() => causalAttention(q, k, v, { docStart: DOCS }).toTypedArray()))).toBeGreaterThan(1e-2);
  });

  it("gradcheck (f64): q, k, v and both prefixes, GQA and packed rows", () => {
    const inputs = [rnd([2, 4, 4, 2]), rnd([2, 4, 2, 2]), rnd([2, 4, 2, 2]), rnd([2, 4]), rnd([2, 4])];
    const r = gradcheck((q, k, v, pk, pv) => prefixAttention(q, k, v, pk, pv, DOCS), inputs);
    expect(r.ok, r.where).toBe(true);
  });

  it("rejects mismatched prefixes", () => {
    expect(() => prefixAttention(rnd([1, 2, 2, 2]), rnd([1, 2, 2, 2]), rnd([1, 2, 2, 2]), rnd([3, 5]), rnd([3, 5]))).toThrow(/expected \(P, 4\)/);
  });
});

describe("prefix tuning on the GPT", () => {
  for (const flavour of ["gpt2", "llama"] as const) {
    it(`${flavour}: trains only the prefixes; counts as the layout says`, () => {
      const model = tinyModel(flavour, { dtype: "f64" });
      const c = model.config;
      const E = c.nKvHead * (c.nEmbd / c.nHead);
      const before = logits(model);
      const h = applyPeft(model, { method: "prefix", numVirtualTokens: 3 });
      expect(h.trainable).toBe(c.nLayer * 2 * 3 * E);
      expect(maxAbsDiff(logits(model), before)).toBeGreaterThan(1e-4);
      const opt = new AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-2 });
      const snapshot = new Map(model.namedParameters().map(([n, p]) => [n, p.toTypedArray()]));
      for (let i = 0; i < 2; i++) {
        opt.zeroGrad();
        tidy(() => model.loss(IDS, TARGETS).backward());
        opt.step();
      }
      for (const [n, p] of model.namedParameters()) expect(maxAbsDiff(p.contiguousData(), snapshot.get(n) ?? []) > 0, n).toBe(n.startsWith("prefix."));
    });
  }

  it("packed rows: each document sees the prefixes and itself, as in a row of its own", () => {
    const model = tinyModel("llama", { dtype: "f64" });
    applyPeft(model, { method: "prefix", numVirtualTokens: 2, projectionHidden: 8 });
    const packed = noGrad(() => tidy(() => model.forward(ids([3, 4, 5, 6, 7], [1, 5]), { docStart: Int32Array.from([0, 0, 2, 2, 2]) }).toTypedArray()));
    const a = noGrad(() => tidy(() => model.forward(ids([3, 4], [1, 2])).toTypedArray()));
    const b = noGrad(() => tidy(() => model.forward(ids([5, 6, 7], [1, 3])).toTypedArray()));
    const V = model.config.vocabSize;
    expect(maxAbsDiff(packed.subarray(0, 2 * V), a)).toBeLessThan(1e-12);
    expect(maxAbsDiff(packed.subarray(2 * V), b)).toBeLessThan(1e-12);
  });

  it("reparameterised: embedding -> MLP parameters train; counts match", () => {
    const model = tinyModel("gpt2");
    const c = model.config;
    const h = applyPeft(model, { method: "prefix", numVirtualTokens: 4, projectionHidden: 8 });
    const E = c.nEmbd;
    expect(h.trainable).toBe(4 * c.nEmbd + (c.nEmbd * 8 + 8) + (8 * 2 * c.nLayer * E + 2 * c.nLayer * E));
    expect([...h.adapterState().keys()]).toEqual(["prefix.embedding.weight", "prefix.mlp_in.weight", "prefix.mlp_in.bias", "prefix.mlp_out.weight", "prefix.mlp_out.bias"]);
    tidy(() => model.loss(IDS, TARGETS).backward());
    for (const [n, t] of h.adapterState()) expect(t.grad, n).not.toBeNull();
  });

  it("generation falls back to decoding without the KV cache", () => {
    const model = tinyModel("gpt2");
    applyPeft(model, { method: "prefix", numVirtualTokens: 2 });
    expect(model.cacheable).toBe(false);
    const r = generate(model, [1, 2, 3], { maxTokens: 4, temperature: 0 });
    expect(r.tokens.length).toBe(4);
    expect(() => model.forward(ids([1], [1, 1]), { cache: model.createCache() })).toThrow(/attention override/);
  });
});
