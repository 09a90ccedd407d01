// Bottleneck adapters (identity at init, placements, training) and freezing by layers or patterns.
import { describe, expect, it } from "vitest";
import { AdaptedLinear } from "../../src/nn/adapters.js";
import { applyPeft, parsePeftConfig } from "../../src/nn/peft.js";
import { AdamW } from "../../src/optim/optimizers.js";
import { tidy } from "../../src/tensor/tensor.js";
import { IDS, logits, maxAbsDiff, TARGETS, tinyModel } from "./helpers.js";

describe("bottleneck adapters", () => {
  for (const flavour of ["gpt2", "llama"] as const) {
    it(`${flavour}: houlsby and pfeiffer are the identity at init (bit-identical logits), with C/factor hidden units`, () => {
      for (const placement of ["houlsby", "pfeiffer"] as const) {
        const model = tinyModel(flavour);
        const before = logits(model);
        const h = applyPeft(model, { method: "adapter", placement, reductionFactor: 4, activation: "gelu" });
        expect(logits(model)).toEqual(before);
        const C = model.config.nEmbd;
        const perAdapter = C * (C / 4) + C / 4 + (C / 4) * C + C;
        const sites = placement === "houlsby" ? 2 : 1;
        expect(h.trainable).toBe(model.config.nLayer * sites * perAdapter);
        expect(model.getSubmodule("h.1.mlp.c_proj")).toBeInstanceOf(AdaptedLinear);
        expect(model.getSubmodule("h.1.attn.c_proj") instanceof AdaptedLinear).toBe(placement === "houlsby");
      }
    });
  }

  it("training changes only the adapters, and the model's output", () => {
    const model = tinyModel("gpt2", { dtype: "f64" });
    const before = logits(model);
    const h = applyPeft(model, { method: "adapter", reductionFactor: 8 });
    const snapshot = new Map(model.namedParameters().map(([n, p]) => [n, p.toTypedArray()]));
    const opt = new AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-2 });
    model.train();
    for (let i = 0; i < 3; i++) {
      opt.zeroGrad();
      tidy(() => model.loss(IDS, TARGETS).backward());
      opt.step();
    }
    const names = new Set(h.adapterState().keys());
    expect([...names].every((n) => n.includes(".adapter."))).toBe(true);
    for (const [n, p] of model.namedParameters()) expect(maxAbsDiff(p.contiguousData(), snapshot.get(n) ?? []) > 0, n).toBe(names.has(n));
    expect(maxAbsDiff(logits(model), before)).toBeGreaterThan(1e-6);
    expect(h.mergeInto).toBeUndefined();
  });
});

describe("freezing", () => {
  it("trainLastLayers N: the last N blocks, ln_f and an untied head train; the rest is frozen", () => {
    const model = tinyModel("llama", { overrides: { nLayer: 3 } });
    const h = applyPeft(model, { method: "freeze", trainLastLayers: 1 });
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable.every((n) => n.startsWith("h.2.") || n.startsWith("ln_f.") || n === "lm_head.weight")).toBe(true);
    expect(trainable).toContain("lm_head.weight");
    expect(trainable).toContain("h.2.attn.c_attn.weight");
    expect(h.trainable).toBe(model.getSubmodule("h.2").numParameters() + model.config.nEmbd * (1 + model.config.vocabSize));
    expect(h.summary()).toMatch(/^trainable [\d.]+k of [\d.]+k \([\d.]+%\)$/);
    // gpt2 ties its head to wte: the embedding stays frozen.
    const g = tinyModel("gpt2");
    applyPeft(g, { method: "freeze", trainLastLayers: 0 });
    expect(g.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n)).toEqual(["ln_f.weight", "ln_f.bias"]);
  });

  it("patterns freeze matching module paths (* = one part, ** = any)", () => {
    const model = tinyModel("gpt2");
    applyPeft(model, { method: "freeze", freeze: ["h.*.attn", "wte", "**.ln_2"] });
    for (const [n, p] of model.namedParameters()) {
      const frozen = /^h\.\d\.attn\./.test(n) || n.startsWith("wte.") || /\.ln_2\./.test(n);
      expect(p.requiresGrad, n).toBe(!frozen);
    }
  });

  it("errors: unmatched pattern, too many layers, nothing to do, unknown method", () => {
    expect(() => applyPeft(tinyModel("gpt2"), { method: "freeze", freeze: ["h.9"] })).toThrow(/freeze pattern "h.9" matches no module; paths look like wte, wpe/);
    expect(() => applyPeft(tinyModel("gpt2"), { method: "freeze", trainLastLayers: 3 })).toThrow(/exceeds the model's 2 layers/);
    expect(() => parsePeftConfig({ method: "freeze" })).toThrow(/needs trainLastLayers or freeze patterns/);
    expect(() => parsePeftConfig({ method: "qlora" }, "sft.json")).toThrow(/^sft.json is invalid: .*method must be one of/);
    const none = applyPeft(tinyModel("gpt2"), { method: "none" });
    expect(none.trainable).toBe(none.total);
    expect(none.adapterState().size).toBe(0);
  });
});
