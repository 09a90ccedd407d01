// LoRA against PyTorch: the adapters of test/fixtures/peft_lora (made by scripts/make_lora_golden.py in
// PEFT's layout, including rank_pattern / alpha_pattern and rsLoRA) loaded onto the tiny golden models
// must reproduce PyTorch's logits, loss and the gradient of every lora_A / lora_B (ref backend, f64).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { relErr } from "../helpers/relErr.js";
import { floatData, int32Data, readSafetensors } from "../../src/io/safetensors.js";
import { loadAdapter, loraPeftTensors } from "../../src/model/peftFormat.js";
import { loadModel } from "../../src/model/serialize.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";

const FIX = join(import.meta.dirname, "..", "fixtures");


for (const [flavour, modelDir] of [["gpt2", "gpt2_golden/model"], ["llama", "gpt2_golden/llama/model"]] as const) {
  describe(`${flavour} LoRA golden (PyTorch)`, () => {
    const dir = join(FIX, "peft_lora", flavour);
    const golden = readSafetensors(join(dir, "golden.safetensors"));
    const g = (name: string) => {
      const t = golden.tensors.get(name);
      if (!t) throw new Error(`golden lacks ${name}`);
      return t;
    };

    it("fixture is the expected version", () => {
      expect(golden.metadata.format).toBe("llmforge-lora-golden");
      expect(golden.metadata.version).toBe("1");
    });

    it("ref backend, f64: logits, loss and the gradient of every lora_A and lora_B to 1e-6", () => {
      const model = loadModel(join(FIX, modelDir), { backend: "ref", dtype: "f64" });
      const handle = loadAdapter(model, dir);
      expect(handle.config.method).toBe("lora");
      const idx = ids(int32Data(g("tokens"), "tokens"), g("tokens").shape);
      const { logits, loss } = tidy(() => {
        const out = model.forward(idx);
        const l = model.loss(idx, int32Data(g("targets"), "targets"));
        l.backward();
        return { logits: out.toTypedArray(), loss: l.item() };
      });
      expect(relErr(logits, floatData(g("logits"), "logits"))).toBeLessThan(1e-6);
      const want = floatData(g("loss"), "loss")[0];
      expect(Math.abs(loss - want) / want).toBeLessThan(1e-6);
      for (const [n, p] of model.namedParameters()) expect(p.grad === null, n).toBe(!p.requiresGrad);
      const grads = loraPeftTensors(model, "grad").tensors;
      const names = [...golden.tensors.keys()].filter((n) => n.startsWith("grad."));
      expect(names.length).toBe(grads.size);
      for (const n of names) expect(relErr(grads.get(n.slice(5))?.data ?? [], floatData(g(n), n)), n).toBeLessThan(1e-6);
    });

    it("the adapter exported back has PEFT's names, shapes and values", () => {
      const model = loadModel(join(FIX, modelDir), { backend: "ref", dtype: "f64" });
      loadAdapter(model, dir);
      const original = readSafetensors(join(dir, "adapter_model.safetensors")).tensors;
      const { tensors, modules } = loraPeftTensors(model);
      expect([...tensors.keys()].sort()).toEqual([...original.keys()].sort());
      for (const [n, t] of tensors) {
        const o = original.get(n);
        expect(t.shape, n).toEqual(o?.shape);
        expect(relErr(t.data, o ? floatData(o, n) : []), n).toBeLessThan(1e-7);
      }
      const cfg = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
      for (const m of modules) {
        expect(m.r, m.hf).toBe(cfg.rank_pattern[m.hf] ?? cfg.r);
        expect(m.alpha, m.hf).toBeCloseTo(cfg.alpha_pattern[m.hf] ?? cfg.lora_alpha, 9);
      }
    });
  });
}
