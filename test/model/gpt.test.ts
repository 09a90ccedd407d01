import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { makeConfig, type GPTConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { AdamW } from "../../src/optim/optimizers.js";
import { crossEntropy, ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";

const V = 11;
const tinyLlama = makeConfig({ flavour: "llama", nLayer: 1, nHead: 4, nKvHead: 2, nEmbd: 8, blockSize: 6, vocabSize: V, mlpHidden: 12, initStd: 0.4, bias: true });
const tinyGpt2 = makeConfig({ flavour: "gpt2", nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 6, vocabSize: V, initStd: 0.4, tiedEmbeddings: false });
const idx = ids([1, 5, 2, 9, 0, 3, 4, 4, 10, 7, 6, 2], [2, 6]);
const targets = Int32Array.from([5, 2, 9, 0, 3, 8, 4, 10, 7, 6, 2, 1]);

describe("GPT", () => {
  for (const [name, cfg] of [["llama (RoPE, GQA, SwiGLU, biases)", tinyLlama], ["gpt2 (untied)", tinyGpt2]] as [string, GPTConfig][]) {
    it(`${name}: every parameter gradient passes a float64 finite-difference check`, () => {
      const m = new GPT(cfg, { seed: 3, backend: "ref", dtype: "f64" });
      const params = m.parameters();
      const r = gradcheck(() => m.loss(idx, targets), params, { atol: 1e-7, rtol: 1e-5 });
      expect(r.ok, r.where).toBe(true);
    });
  }
  it("loss is the mean cross-entropy of the logits and honours ignoreIndex", () => {
    const m = new GPT(tinyGpt2, { seed: 1, backend: "ref", dtype: "f64" });
    const t = Int32Array.from(targets);
    t[0] = -100;
    t[7] = -100;
    const [loss, manual] = tidy(() => noGrad(() => {
      const logits = m.forward(idx).toTypedArray();
      let s = 0;
      for (let r = 0; r < 12; r++) {
        if (t[r] === -100) continue;
        const row = logits.subarray(r * V, (r + 1) * V);
        const mx = Math.max(...row);
        let z = 0;
        for (const x of row) z += Math.exp(x - mx);
        const lse = mx + Math.log(z);
        s += lse - row[t[r]];
      }
      return [m.loss(idx, t).item(), s / 10];
    }));
    expect(loss).toBeCloseTo(manual, 12);
    expect(() => m.loss(idx, targets.subarray(0, 5))).toThrow(/5 targets for 12 input ids/);
  });
  it("init is seeded; residual projections use std / sqrt(2·nLayer)", () => {
    const c = makeConfig({ nLayer: 8, nHead: 4, nEmbd: 128, blockSize: 16, vocabSize: 64 });
    const a = new GPT(c, { seed: 9, backend: "ref" });
    const b = new GPT(c, { seed: 9, backend: "ref" });
    const d = new GPT(c, { seed: 10, backend: "ref" });
    expect(a.h.at(3).mlp.c_fc.weight.toTypedArray()).toEqual(b.h.at(3).mlp.c_fc.weight.toTypedArray());
    expect(a.h.at(3).mlp.c_fc.weight.toTypedArray()).not.toEqual(d.h.at(3).mlp.c_fc.weight.toTypedArray());
    const std = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(a.h.at(0).mlp.c_fc.weight.toTypedArray())).toBeCloseTo(0.02, 3);
    expect(std(a.h.at(0).mlp.c_proj.weight.toTypedArray())).toBeCloseTo(0.02 / 4, 3);
    expect(std(a.h.at(0).attn.c_proj.weight.toTypedArray())).toBeCloseTo(0.02 / 4, 3);
    expect(Array.from(a.h.at(0).attn.c_attn.bias?.toTypedArray() ?? [1])).toEqual(new Array(384).fill(0));
    expect(Array.from(a.h.at(0).ln_1.weight.toTypedArray())).toEqual(new Array(128).fill(1));
  });
  it("paramGroups decays matrices only", () => {
    const m = new GPT(tinyLlama, { backend: "ref" });
    const [decay, none] = m.paramGroups(0.1);
    expect(decay.weightDecay).toBe(0.1);
    expect(none.weightDecay).toBe(0);
    expect(decay.params.every((p) => p.ndim === 2)).toBe(true);
    expect(decay.params.length + none.params.length).toBe(m.parameters().length);
    expect(none.params.length).toBe(4 + 3); // biases of c_attn, c_proj, c_fc, c_proj; ln_1, ln_2, ln_f
  });
  it("dropout acts in training mode only", () => {
    const m = new GPT(makeConfig({ ...tinyGpt2, dropout: 0.3 }), { seed: 2, backend: "ref" });
    const f = () => tidy(() => noGrad(() => m.forward(idx).toTypedArray()));
    m.eval();
    const e1 = f();
    expect(f()).toEqual(e1);
    m.train();
    expect(f()).not.toEqual(e1);
  });
  it("learns: a few AdamW steps drive the loss on a fixed batch down", () => {
    for (const cfg of [tinyGpt2, tinyLlama]) {
      const m = new GPT(cfg, { seed: 4, backend: "ref" });
      const opt = new AdamW(m.parameters(), { lr: 3e-2, weightDecay: 0 });
      const losses: number[] = [];
      for (let s = 0; s < 40; s++) {
        m.zeroGrad();
        losses.push(tidy(() => {
          const l = m.loss(idx, targets);
          l.backward();
          return l.item();
        }));
        opt.step();
      }
      expect(losses[39]).toBeLessThan(0.3 * losses[0]);
    }
  });
  it("lastOnly returns the last position's logits", () => {
    const m = new GPT(tinyLlama, { seed: 1, backend: "ref" });
    const [all, last] = tidy(() => noGrad(() => [m.forward(idx).toTypedArray(), m.forward(idx, { lastOnly: true })]));
    expect(last.shape).toEqual([2, 1, V]);
    const l = last.toTypedArray();
    for (let b = 0; b < 2; b++) {
      for (let v = 0; v < V; v++) expect(l[b * V + v]).toBeCloseTo(all[(b * 6 + 5) * V + v], 6);
    }
    // crossEntropy over lastOnly logits works as a classification head would.
    expect(tidy(() => noGrad(() => crossEntropy(m.forward(idx, { lastOnly: true }), Int32Array.from([1, 2])).item()))).toBeGreaterThan(0);
  });
  it("rejects ids outside the vocabulary and bad shapes with positions", () => {
    const m = new GPT(tinyGpt2, { backend: "ref" });
    expect(() => m.forward(ids([1, 2, 11], [1, 3]))).toThrow(/token id 11 at \(0, 2\) is outside the vocabulary \[0, 11\)/);
    expect(() => m.forward(ids([1, 2, 3], [3]))).toThrow(/ids must be \(B, T\)/);
  });
});
