// Golden test against PyTorch (llm.c test_gpt2 style): the gpt2-flavour GPT loaded from the
// fixture made by scripts/make_golden.py must reproduce PyTorch's logits, loss and every
// parameter gradient to 1e-4 relative, on the reference backend (f32 and f64) and the default one.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors, floatData, int32Data } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/model/serialize.js";
import { toHuggingFace, fromHuggingFace } from "../../src/model/hfWeights.js";
import { getBackend, type BackendName } from "../../src/tensor/backend/index.js";
import { ids } from "../../src/tensor/ops/index.js";
import type { DType } from "../../src/tensor/dtype.js";
import { tidy } from "../../src/tensor/tensor.js";
import type { GPT } from "../../src/model/gpt.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "gpt2_golden");
const golden = readSafetensors(join(DIR, "golden.safetensors"));
const g = (name: string) => {
  const t = golden.tensors.get(name);
  if (!t) throw new Error(`golden.safetensors lacks ${name}`);
  return t;
};

/** max |a - b| / max |b|: the error relative to the tensor's scale. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

function run(model: GPT) {
  const tok = g("tokens");
  const idx = ids(int32Data(tok, "tokens"), tok.shape);
  const targets = int32Data(g("targets"), "targets");
  model.zeroGrad();
  return tidy(() => {
    const logits = model.forward(idx);
    const loss = model.loss(idx, targets);
    loss.backward();
    return { logits: logits.toTypedArray(), loss: loss.item() };
  });
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

function check(backend: BackendName | undefined, dtype: DType, tol: number) {
  const model = loadModel(join(DIR, "model"), { backend, dtype });
  const { logits, loss } = run(model);
  expect(relErr(logits, floatData(g("logits"), "logits"))).toBeLessThan(tol);
  const want = floatData(g("loss"), "loss")[0];
  expect(Math.abs(loss - want) / Math.abs(want)).toBeLessThan(tol);
  const grads = hfGrads(model);
  const names = [...golden.tensors.keys()].filter((n) => n.startsWith("grad."));
  expect(names.length).toBe(grads.size);
  const worst: [string, number][] = names.map((n) => [n, relErr(grads.get(n.slice(5)) ?? [], floatData(g(n), n))]);
  if (process.env.GOLDEN_VERBOSE) console.log(dtype, Math.max(...worst.map(([, e]) => e)), relErr(logits, floatData(g("logits"), "logits")));
  for (const [n, e] of worst) expect(e, `gradient ${n}`).toBeLessThan(tol);
}

describe("gpt2 golden (PyTorch)", () => {
  it("fixture is the expected version", () => {
    expect(golden.metadata.format).toBe("llmforge-gpt2-golden");
    expect(golden.metadata.version).toBe("1");
  });
  it("ref backend, f64: logits, loss and every gradient", () => check("ref", "f64", 1e-6));
  it("ref backend, f32: logits, loss and every gradient", () => check("ref", "f32", 1e-4));
  it(`default backend (${getBackend().name}), f32`, () => check(undefined, "f32", 1e-4));
  it("a wrong gradient would fail: perturbing one weight moves the loss", () => {
    const model = loadModel(join(DIR, "model"), { backend: "ref", dtype: "f64" });
    const hf = toHuggingFace(model);
    const w = hf.get("h.1.mlp.c_fc.weight");
    if (!w) throw new Error("missing h.1.mlp.c_fc.weight");
    w.data[3] += 1e-3;
    const perturbed = fromHuggingFace(model.config, hf, { backend: "ref", dtype: "f64" });
    const base = run(model).loss;
    const moved = run(perturbed).loss;
    // First-order change predicted by the golden gradient.
    const grad = floatData(g("grad.h.1.mlp.c_fc.weight"), "grad")[3];
    expect(Math.abs(moved - base - 1e-3 * grad)).toBeLessThan(1e-6 + 1e-2 * Math.abs(1e-3 * grad));
  });
});
