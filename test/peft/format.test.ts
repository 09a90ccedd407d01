// Adapters on disk: PEFT's LoRA layout (names, shapes, config fields; shared A for a fused llama
// layer; block form for gpt2 q/v), llmforge adapter/prefix folders, base-model checks, and
// `llmforge peft merge` writing a plain model folder that llmforge and PyTorch load.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it, vi } from "vitest";
import { registerPeftCommands } from "../../src/cli/peft.js";
import { floatData, readSafetensors } from "../../src/io/safetensors.js";
import { AdapterError, loadAdapter, saveAdapter } from "../../src/model/peftFormat.js";
import { loadRun } from "../../src/model/runFolder.js";
import { loadModel, saveModel } from "../../src/model/serialize.js";
import { AdaptedLinear } from "../../src/nn/adapters.js";
import { applyPeft } from "../../src/nn/peft.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { IDS, logits, maxAbsDiff, randomizeLoraB, tinyModel } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-peft-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(tmp, `d${n++}`);
const config = (dir: string) => JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
const weights = (dir: string) => readSafetensors(join(dir, "adapter_model.safetensors")).tensors;
/** A float tensor of an adapter file (throws when absent). */
function floats(w: ReturnType<typeof weights>, name: string): Float32Array | Float64Array {
  const t = w.get(name);
  if (!t) throw new Error(`no tensor ${name}`);
  return floatData(t, name);
}

describe("LoRA in PEFT's layout", () => {
  it("gpt2 q,v + c_fc: c_attn as one block LoRA (rank 2r, rank/alpha patterns), Conv1D flags, base fingerprint", () => {
    const model = tinyModel("gpt2");
    const h = applyPeft(model, { method: "lora", r: 2, alpha: 5, targets: "q,v,c_fc", dropout: 0.05 });
    randomizeLoraB(model);
    const dir = fresh();
    saveAdapter(dir, model, h, { baseModel: "runs/base" });
    const c = config(dir);
    expect(c).toMatchObject({
      peft_type: "LORA", task_type: "CAUSAL_LM", base_model_name_or_path: "runs/base", r: 2, lora_alpha: 5, lora_dropout: 0.05,
      target_modules: ["c_attn", "c_fc"], fan_in_fan_out: true, use_rslora: false, bias: "none",
      rank_pattern: { "h.0.attn.c_attn": 4, "h.1.attn.c_attn": 4 },
      alpha_pattern: { "h.0.attn.c_attn": 10, "h.1.attn.c_attn": 10 },
    });
    expect(c.llmforge.base).toMatchObject({ flavour: "gpt2", n_layer: 2, n_embd: 16, vocab_size: 50 });
    const w = weights(dir);
    expect(w.get("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight")?.shape).toEqual([4, 16]);
    expect(w.get("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight")?.shape).toEqual([48, 4]);
    expect(w.get("base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight")?.shape).toEqual([64, 2]);
    expect(w.size).toBe(8);
    // k rows of the block B are zero; q rows use only the first r columns.
    const B = floats(w, "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight");
    expect(Array.from(B.subarray(16 * 4, 32 * 4)).every((x) => x === 0)).toBe(true);
    expect(B[2] === 0 && B[3] === 0 && B[0] !== 0).toBe(true);
    const loaded = tinyModel("gpt2");
    const h2 = loadAdapter(loaded, dir);
    expect(h2.config).toMatchObject({ method: "lora", r: 2, alpha: 5, dropout: 0.05, targets: ["c_attn", "c_fc"] });
    expect(maxAbsDiff(logits(loaded), logits(model))).toBeLessThan(1e-5);
  });

  it("llama c_attn (fused q,k,v sharing A) is saved as q_proj/k_proj/v_proj with the same lora_A and their slices of B", () => {
    const model = tinyModel("llama", { dtype: "f64" });
    const h = applyPeft(model, { method: "lora", r: 3, alpha: 6, targets: "c_attn,o,lm_head", rslora: true });
    randomizeLoraB(model);
    const dir = fresh();
    saveAdapter(dir, model, h);
    expect(config(dir)).toMatchObject({ target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "lm_head"], fan_in_fan_out: false, use_rslora: true, rank_pattern: {}, alpha_pattern: {}, base_model_name_or_path: null });
    const w = weights(dir);
    const p = "base_model.model.model.layers.1.self_attn.";
    const A = ["q_proj", "k_proj", "v_proj"].map((m) => floats(w, `${p}${m}.lora_A.weight`));
    expect(A[1]).toEqual(A[0]);
    expect(A[2]).toEqual(A[0]);
    expect(["q_proj", "k_proj", "v_proj", "o_proj"].map((m) => w.get(`${p}${m}.lora_B.weight`)?.shape)).toEqual([[16, 3], [8, 3], [8, 3], [16, 3]]);
    expect(w.get("base_model.model.lm_head.lora_B.weight")?.shape).toEqual([50, 3]);
    const loaded = tinyModel("llama", { dtype: "f64" });
    loadAdapter(loaded, dir);
    expect(loaded.getSubmodule("h.0.attn.c_attn").namedParameters().map(([k]) => k)).toEqual(["base.weight", "q.lora_A", "q.lora_B", "k.lora_A", "k.lora_B", "v.lora_A", "v.lora_B"]);
    expect(maxAbsDiff(logits(loaded), logits(model))).toBeLessThan(1e-6); // F32 on disk
  });

  it("target_modules are full names when a short name would also pick other modules (gpt2 attn.c_proj only)", () => {
    const model = tinyModel("gpt2");
    const h = applyPeft(model, { method: "lora", targets: "c_proj" });
    const dir = fresh();
    saveAdapter(dir, model, h);
    expect(config(dir).target_modules).toEqual(["transformer.h.0.attn.c_proj", "transformer.h.1.attn.c_proj"]);
  });

  it("refuses an adapter for another base model, missing files, and foreign tensors, in one line", () => {
    const model = tinyModel("gpt2");
    const h = applyPeft(model, { method: "lora" });
    const dir = fresh();
    saveAdapter(dir, model, h);
    const other = tinyModel("gpt2", { overrides: { nEmbd: 32 } });
    expect(() => loadAdapter(other, dir)).toThrow(/is an adapter for a gpt2 model with 2 layers, width 16, .* but the model is a gpt2 model with 2 layers, width 32/);
    // Without the llmforge section (as PEFT writes it), shapes still catch a wrong base.
    const c = config(dir);
    delete c.llmforge;
    writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(c));
    expect(() => loadAdapter(tinyModel("gpt2", { overrides: { nEmbd: 32 } }), dir)).toThrow(/has lora_A \[8,16\] and lora_B \[48,8\], expected \[8,32\] and \[96,8\]/);
    expect(() => loadAdapter(tinyModel("llama"), dir)).toThrow(/targets transformer.h.0.attn.c_attn, which this llama model does not have/);
    const empty = fresh();
    mkdirSync(empty);
    expect(() => loadAdapter(tinyModel("gpt2"), empty)).toThrow(/adapter_config.json is missing/);
    expect(() => loadAdapter(tinyModel("gpt2"), join(tmp, "nope"))).toThrow(AdapterError);
    writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ ...c, peft_type: "IA3" }));
    expect(() => loadAdapter(tinyModel("gpt2"), dir)).toThrow(/peft_type "IA3" is not supported/);
  });
});

describe("llmforge adapter and prefix folders", () => {
  it("bottleneck adapters round-trip bit for bit", () => {
    const model = tinyModel("llama");
    const h = applyPeft(model, { method: "adapter", placement: "pfeiffer", reductionFactor: 4, activation: "silu" });
    const rng = new Rng(3);
    for (const [, t] of h.adapterState()) for (let i = 0; i < t.size; i++) t.data[t.offset + i] = 0.2 * rng.normal();
    const dir = fresh();
    saveAdapter(dir, model, h);
    expect(config(dir)).toMatchObject({ peft_type: "BOTTLENECK_ADAPTER", llmforge: { format: "llmforge-adapter", version: 1, peft: { method: "adapter", placement: "pfeiffer" } } });
    expect([...weights(dir).keys()]).toEqual([...h.adapterState().keys()]);
    const loaded = tinyModel("llama");
    loadAdapter(loaded, dir);
    expect(loaded.getSubmodule("h.0.mlp.c_proj")).toBeInstanceOf(AdaptedLinear);
    expect(logits(loaded)).toEqual(logits(model));
  });

  it("a reparameterised prefix is saved as the plain prefixes it computes", () => {
    const model = tinyModel("gpt2");
    const h = applyPeft(model, { method: "prefix", numVirtualTokens: 3, projectionHidden: 8 });
    const dir = fresh();
    saveAdapter(dir, model, h);
    const c = config(dir);
    expect(c).toMatchObject({ peft_type: "PREFIX_TUNING", num_virtual_tokens: 3, llmforge: { peft: { method: "prefix", projectionHidden: 0 } } });
    expect(weights(dir).get("prefix.h.1.value")?.shape).toEqual([3, 16]);
    const loaded = tinyModel("gpt2");
    const h2 = loadAdapter(loaded, dir);
    expect(h2.trainable).toBe(2 * 2 * 3 * 16);
    expect(maxAbsDiff(logits(loaded), logits(model))).toBeLessThan(1e-6);
  });
});

describe("llmforge peft merge", () => {
  const run = join(tmp, "run");
  const tokenizer = Tokenizer.trainFromTexts(["the cat sat on the mat. a dog sat on a log. ".repeat(30)], { vocabSize: 280 });
  const base = tinyModel("gpt2", { overrides: { vocabSize: 300 } });
  saveModel(join(run, "model"), base);
  mkdirSync(join(run, "tokenizer"), { recursive: true });
  writeFileSync(join(run, "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
  const adapted = loadModel(join(run, "model"), { backend: "ref" });
  const h = applyPeft(adapted, { method: "lora", r: 4, targets: "all" });
  randomizeLoraB(adapted);
  const adapter = join(tmp, "adapter");
  saveAdapter(adapter, adapted, h, { baseModel: run });

  async function cli(args: string[]): Promise<string> {
    let stderr = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
      stderr += String(c);
      return true;
    });
    try {
      const program = new Command().exitOverride();
      registerPeftCommands(program);
      await program.parseAsync(["node", "llmforge", "peft", "merge", ...args]);
    } finally {
      spy.mockRestore();
    }
    return stderr;
  }

  it("writes a plain model folder with the tokenizer: same tensor names as the base, the adapted logits", async () => {
    const out = join(tmp, "merged");
    const msg = await cli(["--model", run, "--adapter", adapter, "--out", out]);
    expect(msg).toMatch(/^merged .*adapter \(trainable [\d.]+k of [\d.]+k \([\d.]+%\)\) into .*model -> .*merged, with tokenizer.json\n$/);
    const names = (d: string) => [...readSafetensors(join(d, "model.safetensors")).tensors.keys()];
    expect(names(out)).toEqual(names(join(run, "model")));
    const { model } = loadRun(out, { backend: "ref" });
    expect(maxAbsDiff(logits(model), logits(adapted))).toBeLessThan(1e-5);
    expect(maxAbsDiff(logits(model), logits(base))).toBeGreaterThan(1e-3);
    expect(existsSync(join(out, "adapter_config.json"))).toBe(false);
  });

  it.skipIf(!(existsSync("/usr/bin/python3") && spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0))(
    "PyTorch (Hugging Face GPT-2 semantics) reads the merged folder and gives the adapted logits",
    () => {
      const out = join(tmp, "merged");
      const seq = [[1, 5, 9, 2, 7, 3, 3, 8], [40, 11, 0, 6, 12, 4, 9, 30]];
      const torch = JSON.parse(execFileSync("/usr/bin/python3", [join(import.meta.dirname, "..", "model", "hf_reference.py"), out, JSON.stringify(seq)], { encoding: "utf8" })) as number[][][];
      expect(maxAbsDiff(torch.flat(2), logits(adapted))).toBeLessThan(1e-4);
      expect(IDS.data).toEqual(Int32Array.from(seq.flat()));
    },
  );

  it("errors are one line: missing adapter, non-mergeable adapter, out = base", async () => {
    await expect(cli(["--model", run, "--adapter", join(tmp, "none"), "--out", join(tmp, "m2")])).rejects.toThrow(/^adapter folder .*none does not exist$/);
    const pre = tinyModel("gpt2", { overrides: { vocabSize: 300 } });
    const dir = fresh();
    saveAdapter(dir, pre, applyPeft(pre, { method: "prefix", numVirtualTokens: 2 }));
    await expect(cli(["--model", run, "--adapter", dir, "--out", join(tmp, "m3")])).rejects.toThrow(/a prefix adapter is not a weight update and cannot be merged/);
    await expect(cli(["--model", run, "--adapter", adapter, "--out", join(run, "model")])).rejects.toThrow(/must be a new folder/);
    await expect(cli(["--model", join(tmp, "void"), "--adapter", adapter, "--out", join(tmp, "m4")])).rejects.toThrow(/^no model in /);
  });
});
