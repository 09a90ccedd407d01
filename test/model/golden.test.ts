// Golden tests against PyTorch (llm.c test_gpt2 style): the gpt2- and llama-flavour GPTs loaded
// from the fixtures made by scripts/make_golden.py must reproduce PyTorch's logits, loss and
// every parameter gradient to 1e-4 relative, on the reference backend (f32, f64) and the default one.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { relErr } from "../helpers/relErr.js";
import { floatData, int32Data, readSafetensors, type SafetensorsFile } from "../../src/io/safetensors.js";
import type { GPT } from "../../src/model/gpt.js";
import { fromHuggingFace, toHuggingFace } from "../../src/model/hfWeights.js";
import { loadModel } from "../../src/model/serialize.js";
import { getBackend, type BackendName } from "../../src/tensor/backend/index.js";
import type { DType } from "../../src/tensor/dtype.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";

const ROOT = join(import.meta.dirname, "..", "fixtures", "gpt2_golden");


class Golden {
  readonly file: SafetensorsFile;
  constructor(readonly dir: string) {
    this.file = readSafetensors(join(dir, "golden.safetensors"));
  }
  get(name: string) {
    const t = this.file.tensors.get(name);
    if (!t) throw new Error(`${this.dir}/golden.safetensors lacks ${name}`);
    return t;
  }
  floats(name: string) {
    return floatData(this.get(name), name);
  }
  load(backend: BackendName | undefined, dtype: DType): GPT {
    return loadModel(join(this.dir, "model"), { backend, dtype });
  }
  run(model: GPT) {
    const tok = this.get("tokens");
    const idx = ids(int32Data(tok, "tokens"), tok.shape);
    const targets = int32Data(this.get("targets"), "targets");
    model.zeroGrad();
    return tidy(() => {
      const logits = model.forward(idx);
      const loss = model.loss(idx, targets);
      loss.backward();
      return { logits: logits.toTypedArray(), loss: loss.item() };
    });
  }
}

/** HF-named gradients of the model (toHuggingFace applied to .grad instead of weights). */
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

function check(golden: Golden, backend: BackendName | undefined, dtype: DType, tol: number) {
  const model = golden.load(backend, dtype);
  const { logits, loss } = golden.run(model);
  expect(relErr(logits, golden.floats("logits"))).toBeLessThan(tol);
  const want = golden.floats("loss")[0];
  expect(Math.abs(loss - want) / Math.abs(want)).toBeLessThan(tol);
  const grads = hfGrads(model);
  const names = [...golden.file.tensors.keys()].filter((n) => n.startsWith("grad."));
  expect(names.length).toBe(grads.size);
  const worst: [string, number][] = names.map((n) => [n, relErr(grads.get(n.slice(5)) ?? [], golden.floats(n))]);
  if (process.env.GOLDEN_VERBOSE) console.log(golden.dir, dtype, Math.max(...worst.map(([, e]) => e)), relErr(logits, golden.floats("logits")));
  for (const [n, e] of worst) expect(e, `gradient ${n}`).toBeLessThan(tol);
}

for (const [flavour, dir, format] of [["gpt2", ROOT, "llmforge-gpt2-golden"], ["llama", join(ROOT, "llama"), "llmforge-llama-golden"]]) {
  describe(`${flavour} golden (PyTorch)`, () => {
    const golden = new Golden(dir);
    it("fixture is the expected version", () => {
      expect(golden.file.metadata.format).toBe(format);
      expect(golden.file.metadata.version).toBe("1");
      expect(golden.load("ref", "f32").config.flavour).toBe(flavour);
    });
    it("ref backend, f64: logits, loss and every gradient", () => check(golden, "ref", "f64", 1e-6));
    it("ref backend, f32: logits, loss and every gradient", () => check(golden, "ref", "f32", 1e-4));
    it(`default backend (${getBackend().name}), f32`, () => check(golden, undefined, "f32", 1e-4));
  });
}

describe("golden comparisons can fail", () => {
  it("perturbing one weight moves the loss by the golden gradient, to first order", () => {
    const golden = new Golden(ROOT);
    const model = golden.load("ref", "f64");
    const hf = toHuggingFace(model);
    const w = hf.get("h.1.mlp.c_fc.weight");
    if (!w) throw new Error("missing h.1.mlp.c_fc.weight");
    w.data[3] += 1e-3;
    const perturbed = fromHuggingFace(model.config, hf, { backend: "ref", dtype: "f64" });
    const base = golden.run(model).loss;
    const moved = golden.run(perturbed).loss;
    const grad = golden.floats("grad.h.1.mlp.c_fc.weight")[3];
    expect(Math.abs(grad)).toBeGreaterThan(1e-4);
    expect(Math.abs(moved - base - 1e-3 * grad)).toBeLessThan(1e-2 * Math.abs(1e-3 * grad));
  });
});
