// BERT against PyTorch (the fixture of test/model/bert_reference.py): MLM and NSP logits, the
// pretraining loss (MLM + NSP) and every parameter gradient on a padded batch, on the reference
// backend (f64, f32) and the default one; plus a finite-difference check of masked attention.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { relErr } from "../helpers/relErr.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { floatData, int32Data, readSafetensors } from "../../src/io/safetensors.js";
import { Bert, type BertPretrainingBatch } from "../../src/model/bert.js";
import { makeBertConfig } from "../../src/model/bertConfig.js";
import { loadBert } from "../../src/model/bertFolder.js";
import { getBackend, type BackendName } from "../../src/tensor/backend/index.js";
import type { DType } from "../../src/tensor/dtype.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "bert_golden");
const golden = readSafetensors(join(DIR, "golden.safetensors"));

function get(name: string) {
  const t = golden.tensors.get(name);
  if (!t) throw new Error(`golden.safetensors lacks ${name}`);
  return t;
}
const floats = (name: string) => floatData(get(name), name);
const ints = (name: string) => int32Data(get(name), name);

function batch(): BertPretrainingBatch {
  const tok = get("input_ids");
  return {
    inputIds: ids(ints("input_ids"), tok.shape), tokenTypeIds: ints("token_type_ids"), attentionMask: ints("attention_mask"),
    mlmLabels: ints("mlm_labels"), nspLabels: ints("nsp_labels"),
  };
}

function check(backend: BackendName | undefined, dtype: DType, tol: number) {
  const model = loadBert(join(DIR, "model"), { backend, dtype }).eval();
  const b = batch();
  model.zeroGrad();
  const out = tidy(() => {
    const seq = model.hidden(b);
    const mlm = model.mlmLogits(seq).toTypedArray();
    const nsp = model.nspLogits(model.pooled(seq)).toTypedArray();
    const r = model.pretrainingLoss(b);
    r.loss.backward();
    return { mlm, nsp, loss: r.loss.item(), mlmLoss: r.mlmLoss, nspLoss: r.nspLoss ?? Number.NaN };
  });
  expect(relErr(out.mlm, floats("mlm_logits"))).toBeLessThan(tol);
  expect(relErr(out.nsp, floats("nsp_logits"))).toBeLessThan(tol);
  for (const [got, name] of [[out.loss, "loss"], [out.mlmLoss, "mlm_loss"], [out.nspLoss, "nsp_loss"]] as const) {
    const want = floats(name)[0];
    expect(Math.abs(got - want) / Math.abs(want), name).toBeLessThan(tol);
  }
  const names = [...golden.tensors.keys()].filter((n) => n.startsWith("grad."));
  const params = new Map(model.namedParameters());
  expect(names.length).toBe(params.size);
  // The key bias gets no gradient in exact maths (softmax ignores a shift shared by all keys): PyTorch's
  // is rounding noise, so each error is measured against at least 1e-3 of the largest gradient.
  const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const floor = 1e-3 * Math.max(...names.map((n) => maxAbs(floats(n))));
  for (const n of names) {
    const p = params.get(n.slice(5));
    if (!p?.grad) throw new Error(`no gradient for ${n.slice(5)}`);
    const got = p.grad.contiguousData();
    const want = floats(n);
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
    expect(err / Math.max(maxAbs(want), floor), n).toBeLessThan(tol);
  }
}

describe("bert golden (PyTorch)", () => {
  it("fixture is the expected version, and the model loads with its HF names", () => {
    expect(golden.metadata.format).toBe("llmforge-bert-golden");
    expect(golden.metadata.version).toBe("1");
    const m = loadBert(join(DIR, "model"), { backend: "ref" });
    expect(m.config.family).toBe("bert");
    expect(m.namedParameters().map(([n]) => n)).toContain("bert.encoder.layer.1.attention.self.query.weight");
  });
  it("ref backend, f64: logits, loss and every gradient", () => check("ref", "f64", 1e-6));
  it("ref backend, f32: logits, loss and every gradient", () => check("ref", "f32", 1e-4));
  it(`default backend (${getBackend().name}), f32`, () => check(undefined, "f32", 1e-4));

  it("the comparison can fail: a perturbed weight moves the loss by the golden gradient, to first order", () => {
    const model = loadBert(join(DIR, "model"), { backend: "ref", dtype: "f64" }).eval();
    const b = batch();
    const lossOf = () => tidy(() => model.pretrainingLoss(b).loss.item());
    const base = lossOf();
    const name = "bert.encoder.layer.0.attention.self.key.weight";
    const w = new Map(model.namedParameters()).get(name);
    if (!w) throw new Error(name);
    const grad = floats(`grad.${name}`)[5];
    expect(Math.abs(grad)).toBeGreaterThan(1e-4);
    w.data[w.offset + 5] += 1e-4;
    expect(Math.abs(lossOf() - base - 1e-4 * grad)).toBeLessThan(1e-2 * Math.abs(1e-4 * grad));
  });
});

describe("bert masked attention", () => {
  const config = makeBertConfig({ vocabSize: 11, hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 12, maxPositionEmbeddings: 8 });

  it("gradients through attention with a padding mask match finite differences (f64)", () => {
    const model = new Bert(config, { dtype: "f64", backend: "ref", seed: 3 }).eval();
    const input = { inputIds: ids([2, 5, 7, 3, 9, 4, 6, 0, 0, 0], [2, 5]), attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0, 0, 0]), tokenTypeIds: Int32Array.from([0, 0, 1, 1, 1, 0, 1, 1, 0, 0]) };
    const p = new Map(model.namedParameters());
    const names = [
      "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.attention.self.key.weight",
      "bert.encoder.layer.0.attention.self.value.bias", "bert.embeddings.position_embeddings.weight",
    ];
    const inputs = names.map((n) => {
      const t = p.get(n);
      if (!t) throw new Error(n);
      return t;
    });
    const r = gradcheck(() => model.hidden(input), inputs);
    expect(r.ok, r.where).toBe(true);
  });

  it("padding changes nothing for the real tokens", () => {
    const model = new Bert(config, { dtype: "f64", backend: "ref", seed: 4 }).eval();
    const real = [1, 4, 9, 2, 6];
    const alone = tidy(() => model.forward({ inputIds: ids(real, [1, 5]), tokenTypeIds: Int32Array.from([0, 0, 1, 1, 1]) }).toTypedArray());
    const padded = tidy(() => model.forward({
      inputIds: ids([...real, 0, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3], [2, 8]),
      tokenTypeIds: Int32Array.from([0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      attentionMask: Int32Array.from([1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]),
    }).toTypedArray());
    const V = config.vocabSize;
    expect(relErr(padded.subarray(0, 5 * V), alone)).toBeLessThan(1e-12);
    // Without the mask the padding is attended to, and the outputs move: the check above can fail.
    const unmasked = tidy(() => model.forward({ inputIds: ids([...real, 0, 0, 0], [1, 8]), tokenTypeIds: Int32Array.from([0, 0, 1, 1, 1, 0, 0, 0]) }).toTypedArray());
    expect(relErr(unmasked.subarray(0, 5 * V), alone)).toBeGreaterThan(1e-3);
  });
});
