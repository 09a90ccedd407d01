// LoRA: identity at init, merge/unmerge, fused-layer slices, gradcheck in f64, target errors, and
// training that moves only the adapter.
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Linear } from "../../src/nn/layers.js";
import { LoRALinear } from "../../src/nn/lora.js";
import { applyPeft, formatTrainable, PeftError, setLoraMerged } from "../../src/nn/peft.js";
import { AdamW } from "../../src/optim/optimizers.js";
import { getBackend } from "../../src/tensor/backend/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor, tidy } from "../../src/tensor/tensor.js";
import { IDS, logits, maxAbsDiff, randomizeLoraB, TARGETS, tinyModel } from "./helpers.js";

describe("LoRA on the GPT", () => {
  for (const flavour of ["gpt2", "llama"] as const) {
    it(`${flavour}: a fresh LoRA (targets all, rsLoRA) gives bit-identical logits`, () => {
      const model = tinyModel(flavour);
      const before = logits(model);
      const h = applyPeft(model, { method: "lora", r: 4, alpha: 8, targets: "all", rslora: true });
      expect(logits(model)).toEqual(before);
      expect(h.trainable).toBeGreaterThan(0);
      expect(h.trainable).toBe([...h.adapterState().values()].reduce((n, t) => n + t.size, 0));
    });

    it(`${flavour}: merged and unmerged logits agree within 1e-5; mergeInto leaves a plain model`, () => {
      const model = tinyModel(flavour);
      const base = logits(model);
      const names = model.namedParameters().map(([n]) => n);
      const h = applyPeft(model, { method: "lora", r: 2, targets: flavour === "gpt2" ? "q,v,c_fc" : "all" });
      randomizeLoraB(model);
      const unmerged = logits(model);
      expect(maxAbsDiff(unmerged, base)).toBeGreaterThan(1e-3);
      setLoraMerged(model, true);
      expect(maxAbsDiff(logits(model), unmerged)).toBeLessThan(1e-5);
      setLoraMerged(model, false);
      expect(maxAbsDiff(logits(model), unmerged)).toBeLessThan(1e-5); // the LoRA path is active again
      h.mergeInto?.();
      expect(model.namedParameters().map(([n]) => n)).toEqual(names);
      expect(maxAbsDiff(logits(model), unmerged)).toBeLessThan(1e-5);
      expect(h.adapterState().size).toBe(0);
    });
  }

  it("unmerge restores the base weights up to float rounding", () => {
    const model = tinyModel("gpt2");
    const w0 = model.h.at(0).attn.c_attn.weight.toTypedArray();
    applyPeft(model, { method: "lora", r: 4, targets: "c_attn" });
    randomizeLoraB(model);
    const lora = model.getSubmodule("h.0.attn.c_attn") as LoRALinear;
    lora.merge();
    expect(maxAbsDiff(lora.base.weight.contiguousData(), w0)).toBeGreaterThan(1e-3);
    lora.unmerge();
    expect(maxAbsDiff(lora.base.weight.contiguousData(), w0)).toBeLessThan(1e-6);
  });

  it("row slices: q and v change only their rows of the fused output", () => {
    const base = new Linear(6, 12, { dtype: "f64", backend: "ref", rng: new Rng(1) });
    const lora = new LoRALinear(base, [{ label: "q", start: 0, end: 4, r: 2, alpha: 4 }, { label: "v", start: 8, end: 12, r: 3, alpha: 4 }], { rng: new Rng(2) });
    randomizeLoraB(lora);
    const x = Tensor.randn([5, 6], { dtype: "f64", backend: "ref", rng: new Rng(3) });
    const [y, y0] = tidy(() => [lora.forward(x).toTypedArray(), base.forward(x).toTypedArray()]);
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 12; j++) {
        const changed = Math.abs(y[i * 12 + j] - y0[i * 12 + j]) > 1e-9;
        expect(changed, `row ${i} output ${j}`).toBe(j < 4 || j >= 8);
      }
    }
  });

  it("gradcheck (f64): x, A and B of every part, with a frozen base", () => {
    const base = new Linear(5, 9, { dtype: "f64", backend: "ref", rng: new Rng(4) });
    const lora = new LoRALinear(base, [{ label: "k", start: 3, end: 6, r: 2, alpha: 3 }, { label: "all", start: 6, end: 9, r: 1, alpha: 2, rslora: true }], { rng: new Rng(5) });
    randomizeLoraB(lora);
    const x = Tensor.randn([2, 3, 5], { dtype: "f64", backend: "ref", rng: new Rng(6), requiresGrad: true });
    const inputs = [x, ...lora.parts.flatMap((p) => [p.A, p.B])];
    const r = gradcheck((xx) => lora.forward(xx), inputs);
    expect(r.ok, r.where).toBe(true);
    expect(base.weight.requiresGrad).toBe(false);
  });

  it("init as PEFT: A uniform in ±1/sqrt(in), B zero, scale alpha/r or alpha/sqrt(r)", () => {
    const lora = new LoRALinear(new Linear(64, 8, { backend: "ref" }), [{ label: "all", start: 0, end: 8, r: 4, alpha: 8 }]);
    const p = lora.parts[0];
    const a = Array.from(p.A.contiguousData());
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / 8);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.1);
    expect(Array.from(p.B.contiguousData()).every((b) => b === 0)).toBe(true);
    expect(p.scale).toBe(2);
    expect(new LoRALinear(new Linear(4, 4), [{ label: "all", start: 0, end: 4, r: 4, alpha: 8, rslora: true }]).parts[0].scale).toBe(4);
  });

  it("target errors name what exists", () => {
    expect(() => applyPeft(tinyModel("gpt2"), { method: "lora", targets: "q_proj" })).toThrow(/names no layer of this gpt2 model; targets: c_attn, q, k, v, c_proj/);
    expect(() => applyPeft(tinyModel("llama"), { method: "lora", targets: ["c_attn", "q"] })).toThrow(/"c_attn" and "q" overlap in h.0.attn.c_attn/);
    expect(() => applyPeft(tinyModel("gpt2"), { method: "lora", targets: "lm_head" })).toThrow(/ties its head/);
    expect(() => applyPeft(tinyModel("gpt2"), { method: "lora", targets: " , " })).toThrow(PeftError);
    expect(() => applyPeft(tinyModel("gpt2"), { method: "lora", r: 0 })).toThrow(/r: r must be at least 1/);
    expect(() => applyPeft(tinyModel("gpt2"), { method: "lora", rank: 4 } as never)).toThrow(/Unrecognized key/);
    const twice = tinyModel("gpt2");
    applyPeft(twice, { method: "lora" });
    expect(() => applyPeft(twice, { method: "lora" })).toThrow(/is a LoRALinear, not a plain Linear/);
    // llama: lm_head exists (untied), and the defaults are q,v.
    const l = tinyModel("llama");
    applyPeft(l, { method: "lora", targets: "lm_head" });
    expect(l.getSubmodule("lm_head")).toBeInstanceOf(LoRALinear);
    const d = tinyModel("llama");
    const h = applyPeft(d, { method: "lora", r: 2 });
    expect([...h.adapterState().keys()].slice(0, 4)).toEqual(["h.0.attn.c_attn.q.lora_A", "h.0.attn.c_attn.q.lora_B", "h.0.attn.c_attn.v.lora_A", "h.0.attn.c_attn.v.lora_B"]);
  });

  it("training (AdamW on the trainable parameters) changes only the adapter", () => {
    const model = tinyModel("llama", { dtype: "f64" });
    const h = applyPeft(model, { method: "lora", r: 2, targets: "q,v,down", dropout: 0.1 });
    const before = new Map(model.namedParameters().map(([n, p]) => [n, p.toTypedArray()]));
    const opt = new AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-2 });
    model.train();
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) {
      opt.zeroGrad();
      losses.push(tidy(() => {
        const loss = model.loss(IDS, TARGETS);
        loss.backward();
        return loss.item();
      }));
      opt.step();
    }
    expect(losses[3]).toBeLessThan(losses[0]);
    const adapter = new Set(h.adapterState().keys());
    for (const [n, p] of model.namedParameters()) {
      const same = maxAbsDiff(p.contiguousData(), before.get(n) ?? []) === 0;
      expect(same, n).toBe(!adapter.has(n));
    }
  });

  it(`default backend (${getBackend().name}), f32: every method trains and LoRA merges`, () => {
    for (const cfg of [{ method: "lora", targets: "all" }, { method: "adapter" }, { method: "prefix", projectionHidden: 8 }] as const) {
      const model = tinyModel("llama", { backend: "default" });
      const ref = tinyModel("llama");
      const h = applyPeft(model, cfg);
      applyPeft(ref, cfg);
      randomizeLoraB(model);
      randomizeLoraB(ref);
      expect(maxAbsDiff(logits(model), logits(ref)), cfg.method).toBeLessThan(1e-4);
      const opt = new AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-2 });
      const loss = () => tidy(() => model.loss(IDS, TARGETS).item());
      const l0 = loss();
      for (let i = 0; i < 3; i++) {
        opt.zeroGrad();
        tidy(() => model.loss(IDS, TARGETS).backward());
        opt.step();
      }
      expect(loss(), cfg.method).toBeLessThan(l0);
      if (h.mergeInto) {
        const unmerged = logits(model);
        h.mergeInto();
        expect(maxAbsDiff(logits(model), unmerged)).toBeLessThan(1e-5);
      }
    }
  });

  it("formats the trainable count", () => {
    expect(formatTrainable(41_000, 2_200_000)).toBe("trainable 41k of 2.2M (1.9%)");
    expect(formatTrainable(512, 124_000_000)).toBe("trainable 512 of 124.0M (0.00041%)");
  });
});
