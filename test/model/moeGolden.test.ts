// Mixture-of-experts GPTs against PyTorch (fixtures made by scripts/make_moe_fixture.py): a Mixtral
// (llama flavour, Hugging Face names) and llmforge's gpt2-flavour MoE (dense + MoE layer, shared
// expert, no renormalisation), loaded from their folders; logits, cross-entropy, auxiliary loss,
// total loss and every gradient to 1e-5 in f64 (ref backend) and 1e-4 in f32 (default backend).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { relErr } from "../helpers/relErr.js";
import { floatData, int32Data, readSafetensors, type SafetensorsFile } from "../../src/io/safetensors.js";
import type { GPT } from "../../src/model/gpt.js";
import { fromHuggingFace, toHuggingFace } from "../../src/model/hfWeights.js";
import { loadModel } from "../../src/model/serialize.js";
import { getBackend, type BackendName } from "../../src/tensor/backend/index.js";
import type { DType } from "../../src/tensor/dtype.js";
import { crossEntropy, ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";

const ROOT = join(import.meta.dirname, "..", "fixtures", "moe_golden");

class Golden {
  readonly file: SafetensorsFile;
  constructor(readonly dir: string) {
    this.file = readSafetensors(join(dir, "golden.safetensors"));
  }
  floats(name: string) {
    const t = this.file.tensors.get(name);
    if (!t) throw new Error(`${this.dir}/golden.safetensors lacks ${name}`);
    return floatData(t, name);
  }
  ints(name: string) {
    const t = this.file.tensors.get(name);
    if (!t) throw new Error(`${this.dir}/golden.safetensors lacks ${name}`);
    return { data: int32Data(t, name), shape: t.shape };
  }
  load(backend: BackendName | undefined, dtype: DType): GPT {
    return loadModel(join(this.dir, "model"), { backend, dtype });
  }
  run(model: GPT) {
    const tok = this.ints("tokens");
    const idx = ids(tok.data, tok.shape);
    const targets = this.ints("targets").data;
    model.zeroGrad();
    return tidy(() => {
      const logits = model.forward(idx);
      const ce = crossEntropy(logits, targets).item();
      const aux = model.moeAuxLoss()?.item() ?? Number.NaN;
      const loss = model.loss(idx, targets);
      loss.backward();
      return { logits: logits.toTypedArray(), ce, aux, loss: loss.item() };
    });
  }
}

/** HF-named gradients of the model (toHuggingFace applied to .grad). */
function hfGrads(model: GPT): Map<string, Float32Array | Float64Array> {
  const saved = model.namedParameters().map(([, p]) => p.toTypedArray());
  for (const [n, p] of model.namedParameters()) {
    if (!p.grad) throw new Error(`no gradient for ${n}`);
    p.data.set(p.grad.contiguousData());
  }
  const out = new Map([...toHuggingFace(model)].map(([n, t]) => [n, t.data]));
  for (const [i, [, p]] of model.namedParameters().entries()) p.data.set(saved[i]);
  return out;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

function check(golden: Golden, backend: BackendName | undefined, dtype: DType, tol: number): number {
  const model = golden.load(backend, dtype);
  const r = golden.run(model);
  const errs = [relErr(r.logits, golden.floats("logits")), rel(r.ce, golden.floats("ce")[0]), rel(r.aux, golden.floats("aux")[0]), rel(r.loss, golden.floats("loss")[0])];
  expect(errs[0], "logits").toBeLessThan(tol);
  expect(errs[1], "cross-entropy").toBeLessThan(tol);
  expect(errs[2], "auxiliary loss").toBeLessThan(tol);
  expect(errs[3], "loss").toBeLessThan(tol);
  const grads = hfGrads(model);
  const names = [...golden.file.tensors.keys()].filter((n) => n.startsWith("grad."));
  expect(names.length).toBe(grads.size);
  for (const n of names) {
    const e = relErr(grads.get(n.slice(5)) ?? [], golden.floats(n));
    errs.push(e);
    expect(e, `gradient ${n}`).toBeLessThan(tol);
  }
  const worst = Math.max(...errs);
  if (process.env.GOLDEN_VERBOSE) console.log(golden.dir, backend ?? getBackend().name, dtype, "worst relative error", worst.toExponential(2));
  return worst;
}

for (const flavour of ["llama", "gpt2"] as const) {
  describe(`${flavour} MoE golden (PyTorch)`, () => {
    const golden = new Golden(join(ROOT, flavour));
    it("fixture is the expected version and config", () => {
      expect(golden.file.metadata.format).toBe("llmforge-moe-golden");
      expect(golden.file.metadata.version).toBe("1");
      const c = golden.load("ref", "f32").config;
      expect(c.flavour).toBe(flavour);
      expect(c.moeExperts).toBe(flavour === "llama" ? 4 : 3);
      expect(c.moeShared).toBe(flavour === "gpt2");
    });
    it("ref backend, f64: logits, ce, aux, loss and every gradient to 1e-5", () => {
      expect(check(golden, "ref", "f64", 1e-5)).toBeLessThan(1e-5);
    });
    it(`default backend (${getBackend().name}), f32: to 1e-4`, () => {
      expect(check(golden, undefined, "f32", 1e-4)).toBeLessThan(1e-4);
    });
  });
}

describe("MoE golden comparisons can fail", () => {
  it("perturbing a router weight moves the loss by the golden gradient, to first order", () => {
    const golden = new Golden(join(ROOT, "llama"));
    const model = golden.load("ref", "f64");
    const hf = toHuggingFace(model);
    const name = "model.layers.1.block_sparse_moe.gate.weight";
    const w = hf.get(name);
    if (!w) throw new Error(`missing ${name}`);
    const grad = golden.floats(`grad.${name}`);
    let i = 0;
    for (let j = 0; j < grad.length; j++) if (Math.abs(grad[j]) > Math.abs(grad[i])) i = j;
    w.data[i] += 1e-4;
    const perturbed = fromHuggingFace(model.config, hf, { backend: "ref", dtype: "f64" });
    const base = golden.run(model).loss;
    const moved = golden.run(perturbed).loss;
    expect(Math.abs(grad[i])).toBeGreaterThan(1e-3);
    expect(Math.abs(moved - base - 1e-4 * grad[i])).toBeLessThan(1e-2 * Math.abs(1e-4 * grad[i]));
  });
});
