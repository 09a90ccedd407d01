// The model structure post-training builds on: named modules with get/set by path, hidden states
// apart from the head, clone, packed rows equal to rows of their own, and the small new ops.
import { describe, expect, it } from "vitest";
import { makeConfig, type GPTConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { Linear } from "../../src/nn/layers.js";
import { Module } from "../../src/nn/module.js";
import { crossEntropy, gather, ids, logSigmoid, logSoftmax } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad, Tensor, tidy } from "../../src/tensor/tensor.js";

const gpt2 = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 12, vocabSize: 23, initStd: 0.3 });
const llama = makeConfig({ flavour: "llama", nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, blockSize: 12, vocabSize: 23, mlpHidden: 24, initStd: 0.3 });

class Doubled extends Module {
  constructor(readonly inner: Linear) {
    super();
    this.child("inner", inner);
  }
  forward(x: Tensor): Tensor {
    return this.inner.forward(x);
  }
}

describe("Module paths", () => {
  it("namedModules lists layers without dots inside names; get/setSubmodule by path", () => {
    const m = new GPT(gpt2, { seed: 1 });
    const names = m.namedModules().map(([n]) => n);
    expect(names).toContain("h.1.attn.c_attn");
    expect(names[0]).toBe("");
    expect(m.getSubmodule("h.1.attn.c_attn")).toBe(m.h.at(1).attn.c_attn);
    expect(() => m.getSubmodule("h.7.attn")).toThrow(/no module "7" in "h.7.attn"/);
    const before = m.namedParameters().map(([n]) => n);
    expect(before).toContain("h.0.attn.c_attn.weight");
    const orig = m.h.at(0).attn.c_attn;
    const wrapped = new Doubled(orig);
    m.setSubmodule("h.0.attn.c_attn", wrapped);
    expect(m.h.at(0).attn.c_attn as unknown).toBe(wrapped); // the typed field follows
    expect(m.namedParameters().map(([n]) => n)).toContain("h.0.attn.c_attn.inner.weight");
    const block = m.h.at(1);
    const blockCopy = new GPT(gpt2, { seed: 2 }).h.at(1);
    m.setSubmodule("h.1", blockCopy);
    expect(m.h.at(1)).toBe(blockCopy);
    expect(m.h.at(1)).not.toBe(block);
  });
});

describe("GPT structure", () => {
  for (const [name, cfg] of [["gpt2", gpt2], ["llama", llama]] as [string, GPTConfig][]) {
    it(`${name}: forward = head(hidden); clone gives the same logits and is frozen`, () => {
      const m = new GPT(cfg, { seed: 4 });
      const idx = ids([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
      tidy(() => noGrad(() => {
        const h = m.hidden(idx);
        expect(h.shape).toEqual([2, 4, 16]);
        expect(Array.from(m.head(h).toTypedArray())).toEqual(Array.from(m.forward(idx).toTypedArray()));
        const c = m.clone();
        expect(Array.from(c.forward(idx).toTypedArray())).toEqual(Array.from(m.forward(idx).toTypedArray()));
        expect(c.parameters().every((p) => !p.requiresGrad)).toBe(true);
        expect(c.parameters()[0].data).not.toBe(m.parameters()[0].data);
      }));
    });

    it(`${name}: a packed row gives each document the loss and gradients it has alone`, () => {
      const m = new GPT(cfg, { seed: 5, backend: "ref", dtype: "f64" });
      const docs = [[3, 7, 1, 9, 4], [2, 8, 8], [5, 6, 1, 2]];
      const T = 12;
      // Packed: one row of 12 positions, documents back to back.
      const inputs = new Int32Array(T);
      const targets = new Int32Array(T).fill(-100);
      const docStart = new Int32Array(T);
      let at = 0;
      for (const d of docs) {
        for (let i = 0; i < d.length - 1; i++) {
          inputs[at + i] = d[i];
          targets[at + i] = d[i + 1];
          docStart[at + i] = at;
        }
        at += d.length - 1;
      }
      for (let t = at; t < T; t++) docStart[t] = at; // padding: a document of its own
      const packedLoss = tidy(() => {
        const l = m.loss(ids(inputs, [1, T]), targets, { reduction: "sum", docStart });
        l.backward();
        return l.item();
      });
      const packedGrads = m.parameters().map((p) => Float64Array.from(p.grad?.toTypedArray() ?? []));
      m.zeroGrad();
      let separate = 0;
      for (const d of docs) {
        separate += tidy(() => {
          const l = m.loss(ids(d.slice(0, -1), [1, d.length - 1]), Int32Array.from(d.slice(1)), { reduction: "sum" });
          l.backward();
          return l.item();
        });
      }
      expect(packedLoss).toBeCloseTo(separate, 10);
      m.parameters().forEach((p, i) => {
        const g = p.grad?.toTypedArray() ?? new Float64Array(0);
        for (let j = 0; j < g.length; j++) expect(packedGrads[i][j]).toBeCloseTo(g[j], 10);
      });
    });
  }

  it("native f32: packed and unpacked losses agree", () => {
    const m = new GPT(llama, { seed: 6 });
    const a = [4, 9, 2, 7, 7, 1];
    const b = [3, 3, 8, 5, 1, 2];
    const inputs = Int32Array.from([...a.slice(0, 5), ...b.slice(0, 5), 0, 0]);
    const targets = Int32Array.from([...a.slice(1), ...b.slice(1), -100, -100]);
    const docStart = Int32Array.from([0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 10, 10]);
    const packed = tidy(() => noGrad(() => m.loss(ids(inputs, [1, 12]), targets, { docStart, reduction: "sum" }).item()));
    const alone = tidy(() => noGrad(() =>
      m.loss(ids([...a.slice(0, 5), ...b.slice(0, 5)], [2, 5]), Int32Array.from([...a.slice(1), ...b.slice(1)]), { reduction: "sum" }).item()));
    expect(packed).toBeCloseTo(alone, 4);
  });

  it("docStart is checked", () => {
    const m = new GPT(gpt2, { seed: 1 });
    expect(() => m.forward(ids([1, 2, 3], [1, 3]), { docStart: Int32Array.from([0, 0, 1]) })).toThrow(/docStart\[0, 2\] = 1/);
  });
});

describe("gather and logSigmoid", () => {
  it("gather over log-softmax is minus the per-token cross-entropy", () => {
    const x = Tensor.randn([3, 7], { rng: new Rng(3) });
    const t = Int32Array.from([6, 0, 3]);
    tidy(() => {
      const lp = gather(logSoftmax(x), t).toTypedArray();
      const ce = crossEntropy(x, t, { reduction: "none" }).toTypedArray();
      for (let i = 0; i < 3; i++) expect(lp[i]).toBeCloseTo(-ce[i], 5);
    });
  });
  it("logSigmoid is finite and exact in both tails", () => {
    const x = Tensor.from([-1000, -20, 0, 20, 1000], [5], { dtype: "f64", backend: "ref" });
    const y = logSigmoid(x).toTypedArray();
    expect(y[0]).toBe(-1000);
    expect(y[1]).toBeCloseTo(-20 - Math.log1p(Math.exp(-20)), 12);
    expect(y[2]).toBeCloseTo(-Math.LN2, 12);
    expect(y[4]).toBeCloseTo(0, 12);
  });
});
