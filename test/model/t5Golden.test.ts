// T5 against PyTorch (fixtures made by test/model/t5_reference.py, a plain-torch T5 with HF maths):
// a ReLU T5 with a tied head and numHeads·d_kv != d_model, and a gated-GELU T5 with an untied head,
// loaded from their folders; logits, loss and every parameter gradient on a batch with a padded
// encoder row and -100 labels, to 1e-6 in f64 (ref backend) and 1e-4 in f32.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { relErr } from "../helpers/relErr.js";
import { floatData, int32Data, readSafetensors, type SafetensorsFile } from "../../src/io/safetensors.js";
import type { T5, T5Batch } from "../../src/model/t5.js";
import { loadT5 } from "../../src/model/t5Folder.js";
import { getBackend, type BackendName } from "../../src/tensor/backend/index.js";
import type { DType } from "../../src/tensor/dtype.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";

const ROOT = join(import.meta.dirname, "..", "fixtures", "t5_golden");

class Golden {
  readonly file: SafetensorsFile;
  constructor(readonly dir: string) {
    this.file = readSafetensors(join(dir, "golden.safetensors"));
  }
  private get(name: string) {
    const t = this.file.tensors.get(name);
    if (!t) throw new Error(`${this.dir}/golden.safetensors lacks ${name}`);
    return t;
  }
  floats(name: string) {
    return floatData(this.get(name), name);
  }
  ints(name: string) {
    const t = this.get(name);
    return ids(int32Data(t, name), t.shape);
  }
  load(backend: BackendName | undefined, dtype: DType): T5 {
    return loadT5(join(this.dir, "model"), { backend, dtype });
  }
  batch(withDecoderInputs: boolean): T5Batch {
    return {
      inputIds: this.ints("input_ids"), attentionMask: this.ints("attention_mask").data, labels: this.ints("labels").data,
      decoderInputIds: withDecoderInputs ? this.ints("decoder_input_ids") : undefined,
    };
  }
  run(model: T5, withDecoderInputs = true) {
    const batch = this.batch(withDecoderInputs);
    model.zeroGrad();
    return tidy(() => {
      const logits = model.forward(batch);
      const loss = model.loss(batch);
      loss.backward();
      return { logits: logits.toTypedArray(), loss: loss.item() };
    });
  }
}

function check(golden: Golden, backend: BackendName | undefined, dtype: DType, tol: number) {
  const model = golden.load(backend, dtype);
  const { logits, loss } = golden.run(model);
  expect(relErr(logits, golden.floats("logits"))).toBeLessThan(tol);
  const want = golden.floats("loss")[0];
  expect(Math.abs(loss - want) / Math.abs(want)).toBeLessThan(tol);
  const names = [...golden.file.tensors.keys()].filter((n) => n.startsWith("grad."));
  const params = new Map(model.namedParameters());
  expect(names.length).toBe(params.size);
  for (const n of names) {
    const p = params.get(n.slice(5));
    if (!p?.grad) throw new Error(`no gradient for ${n.slice(5)}`);
    expect(relErr(p.grad.contiguousData(), golden.floats(n)), `gradient ${n}`).toBeLessThan(tol);
  }
}

for (const variant of ["relu", "gated"]) {
  describe(`t5 ${variant} golden (PyTorch)`, () => {
    const golden = new Golden(join(ROOT, variant));
    it("fixture is the expected version and config", () => {
      expect(golden.file.metadata.format).toBe("llmforge-t5-golden");
      expect(golden.file.metadata.version).toBe("1");
      const m = golden.load("ref", "f32");
      expect(m.config.feedForwardProj).toBe(variant === "relu" ? "relu" : "gated-gelu");
      expect(m.lm_head === null).toBe(variant === "relu");
    });
    it("ref backend, f64: logits, loss and every gradient", () => check(golden, "ref", "f64", 1e-6));
    it(`default backend (${getBackend().name}), f32`, () => check(golden, undefined, "f32", 1e-4));
    it("decoder inputs shifted from the labels equal the fixture's", () => {
      const m = golden.load("ref", "f64");
      expect(golden.run(m, false).loss).toBeCloseTo(golden.floats("loss")[0], 6);
    });
  });
}

describe("t5 golden comparisons can fail", () => {
  it("perturbing a relative-bias weight moves the loss by the golden gradient, to first order", () => {
    const golden = new Golden(join(ROOT, "relu"));
    const model = golden.load("ref", "f64");
    const base = golden.run(model).loss;
    const name = "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
    const w = new Map(model.namedParameters()).get(name);
    if (!w) throw new Error(`missing ${name}`);
    const grads = golden.floats(`grad.${name}`);
    let i = 0;
    for (let j = 1; j < grads.length; j++) if (Math.abs(grads[j]) > Math.abs(grads[i])) i = j;
    w.data[i] += 1e-4;
    const moved = golden.run(model).loss;
    expect(Math.abs(grads[i])).toBeGreaterThan(1e-4);
    expect(Math.abs(moved - base - 1e-4 * grads[i])).toBeLessThan(1e-2 * Math.abs(1e-4 * grads[i]));
  });
});
