// Hugging Face interoperability: tensor names/layouts, config.json both ways, model folders,
// and (when /usr/bin/python3 has torch) an independent PyTorch forward of the saved folder.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromHfConfig, toHfConfig } from "../../src/model/hfConfig.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { makeConfig, ModelConfigError, type GPTConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { fromHuggingFace, toHuggingFace, WeightMappingError } from "../../src/model/hfWeights.js";
import { loadModel, ModelLoadError, saveModel } from "../../src/model/serialize.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-hf-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const gpt2Cfg = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 12, vocabSize: 40, initStd: 0.3 });
const llamaCfg = makeConfig({ flavour: "llama", nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 32, blockSize: 12, vocabSize: 40, initStd: 0.3, ropeBase: 500 });
const llamaTiedBias = makeConfig({ ...llamaCfg, tiedEmbeddings: true, bias: true, nKvHead: 1 });

const seq = [[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]];
function logits(m: GPT): Float32Array | Float64Array {
  return tidy(() => noGrad(() => m.forward(ids(seq.flat(), [2, 8])).toTypedArray()));
}
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

describe("Hugging Face tensor names and layouts", () => {
  it("gpt2: exact names, Conv1D (in, out) layout, tied head omitted", () => {
    const m = new GPT(gpt2Cfg, { seed: 1, backend: "ref" });
    const hf = toHuggingFace(m);
    expect(hf.get("wte.weight")?.shape).toEqual([40, 16]);
    expect(hf.get("wpe.weight")?.shape).toEqual([12, 16]);
    expect(hf.get("h.1.attn.c_attn.weight")?.shape).toEqual([16, 48]);
    expect(hf.get("h.1.attn.c_attn.bias")?.shape).toEqual([48]);
    expect(hf.get("h.0.mlp.c_fc.weight")?.shape).toEqual([16, 64]);
    expect(hf.get("h.0.mlp.c_proj.weight")?.shape).toEqual([64, 16]);
    expect(hf.has("ln_f.bias")).toBe(true);
    expect(hf.has("lm_head.weight")).toBe(false);
    expect(hf.size).toBe(2 + 2 * 12 + 2);
    // Conv1D is the transpose of the Linear weight: HF[i][o] == ours[o][i].
    const ours = m.h.at(0).attn.c_attn.weight.toTypedArray();
    const theirs = hf.get("h.0.attn.c_attn.weight")?.data ?? [];
    expect(theirs[5 * 48 + 7]).toBe(ours[7 * 16 + 5]);
  });
  it("llama: separate q/k/v and gate/up, GQA shapes, untied head", () => {
    const m = new GPT(llamaCfg, { seed: 1, backend: "ref" });
    const hf = toHuggingFace(m);
    const M = llamaCfg.mlpHidden;
    expect(hf.get("model.embed_tokens.weight")?.shape).toEqual([40, 32]);
    expect(hf.get("model.layers.1.self_attn.q_proj.weight")?.shape).toEqual([32, 32]);
    expect(hf.get("model.layers.1.self_attn.k_proj.weight")?.shape).toEqual([16, 32]);
    expect(hf.get("model.layers.1.self_attn.v_proj.weight")?.shape).toEqual([16, 32]);
    expect(hf.get("model.layers.1.self_attn.o_proj.weight")?.shape).toEqual([32, 32]);
    expect(hf.get("model.layers.0.mlp.gate_proj.weight")?.shape).toEqual([M, 32]);
    expect(hf.get("model.layers.0.mlp.up_proj.weight")?.shape).toEqual([M, 32]);
    expect(hf.get("model.layers.0.mlp.down_proj.weight")?.shape).toEqual([32, M]);
    expect(hf.get("model.layers.0.input_layernorm.weight")?.shape).toEqual([32]);
    expect(hf.get("model.layers.0.post_attention_layernorm.weight")?.shape).toEqual([32]);
    expect(hf.get("model.norm.weight")?.shape).toEqual([32]);
    expect(hf.get("lm_head.weight")?.shape).toEqual([40, 32]);
    expect(hf.size).toBe(1 + 2 * 9 + 2);
    // v_proj is the last block of rows of the fused projection.
    const fused = m.h.at(0).attn.c_attn.weight.toTypedArray();
    expect(hf.get("model.layers.0.self_attn.v_proj.weight")?.data[0]).toBe(fused[48 * 32]);
  });
  for (const [name, cfg] of [["gpt2", gpt2Cfg], ["llama", llamaCfg], ["llama tied+bias", llamaTiedBias]] as [string, GPTConfig][]) {
    it(`${name}: fromHuggingFace(toHuggingFace(m)) reproduces the model exactly`, () => {
      const m = new GPT(cfg, { seed: 2, backend: "ref" });
      const back = fromHuggingFace(cfg, toHuggingFace(m), { backend: "ref" });
      expect(Array.from(logits(back))).toEqual(Array.from(logits(m)));
    });
  }
  it("reports missing, misshapen and unexpected tensors together", () => {
    const hf = toHuggingFace(new GPT(gpt2Cfg, { backend: "ref" }));
    hf.delete("h.1.ln_2.bias");
    const w = hf.get("wpe.weight");
    if (w) w.shape = [16, 12];
    hf.set("h.7.attn.c_attn.weight", { shape: [1], data: new Float32Array(1) });
    let msg = "";
    try {
      fromHuggingFace(gpt2Cfg, hf);
    } catch (err) {
      expect(err).toBeInstanceOf(WeightMappingError);
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/missing 1: h\.1\.ln_2\.bias \[16\]/);
    expect(msg).toMatch(/wrong shape 1: wpe\.weight: shape \[16,12\], expected \[12,16\]/);
    expect(msg).toMatch(/unexpected 1: h\.7\.attn\.c_attn\.weight/);
  });
  it("accepts transformers' own GPT-2 naming: transformer. prefix and attention-mask buffers", () => {
    const m = new GPT(gpt2Cfg, { seed: 4, backend: "ref" });
    const hf = new Map([...toHuggingFace(m)].map(([n, t]) => [`transformer.${n}`, t]));
    hf.set("transformer.h.0.attn.bias", { shape: [1, 1, 12, 12], data: new Float32Array(144) });
    hf.set("lm_head.weight", { shape: [40, 16], data: m.wte.weight.toTypedArray() });
    expect(Array.from(logits(fromHuggingFace(gpt2Cfg, hf, { backend: "ref" })))).toEqual(Array.from(logits(m)));
  });
});

describe("config.json", () => {
  it("round-trips both flavours", () => {
    for (const c of [gpt2Cfg, llamaCfg, llamaTiedBias, makeConfig({ ...gpt2Cfg, tiedEmbeddings: false, mlpHidden: 40, dropout: 0.1 })]) {
      expect(fromHfConfig(JSON.parse(JSON.stringify(toHfConfig(c))))).toEqual(c);
    }
  });
  it("writes the fields transformers reads", () => {
    const g = toHfConfig(gpt2Cfg);
    expect(g).toMatchObject({ model_type: "gpt2", architectures: ["GPT2LMHeadModel"], activation_function: "gelu_new", n_layer: 2, n_head: 2, n_embd: 16, n_positions: 12, vocab_size: 40, layer_norm_epsilon: 1e-5 });
    const l = toHfConfig(llamaCfg);
    expect(l).toMatchObject({ model_type: "llama", architectures: ["LlamaForCausalLM"], hidden_size: 32, intermediate_size: llamaCfg.mlpHidden, num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 500, tie_word_embeddings: false });
  });
  it("reads a real GPT-2 small config.json", () => {
    const c = fromHfConfig({ activation_function: "gelu_new", architectures: ["GPT2LMHeadModel"], model_type: "gpt2", n_ctx: 1024, n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5, resid_pdrop: 0.1 });
    expect(c).toMatchObject({ flavour: "gpt2", nLayer: 12, nEmbd: 768, blockSize: 1024, vocabSize: 50257, mlpHidden: 3072, tiedEmbeddings: true, bias: true, dropout: 0.1 });
  });
  it("refuses what it cannot represent", () => {
    expect(() => fromHfConfig({ model_type: "mistral" })).toThrow(/model_type "mistral" is not supported/);
    expect(() => fromHfConfig({ model_type: "gpt2", n_layer: 2, n_head: 2, n_embd: 16, n_positions: 8, vocab_size: 9, activation_function: "relu" })).toThrow(/activation_function "relu"/);
    expect(() => fromHfConfig({ model_type: "gpt2", n_layer: 2, n_head: 3, n_embd: 16, n_positions: 8, vocab_size: 9 })).toThrow(/not divisible by nHead 3/);
    expect(() => fromHfConfig({ model_type: "llama", hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 1, max_position_embeddings: 8, vocab_size: 9, intermediate_size: 64, rope_scaling: { type: "linear", factor: 2 } })).toThrow(/rope_scaling/);
    expect(() => toHfConfig(makeConfig({ ...gpt2Cfg, bias: false }))).toThrow(ModelConfigError);
    expect(() => fromHfConfig({ ...toHfConfig(gpt2Cfg), scale_attn_by_inverse_layer_idx: true })).toThrow(/not supported/);
  });
});

describe("saveModel / loadModel", () => {
  it("round-trips both flavours exactly in F32, and closely in BF16", () => {
    for (const cfg of [gpt2Cfg, llamaCfg]) {
      const m = new GPT(cfg, { seed: 5, backend: "ref" });
      const dir = join(tmp, `save-${cfg.flavour}`);
      saveModel(dir, m);
      expect(Array.from(logits(loadModel(dir, { backend: "ref" })))).toEqual(Array.from(logits(m)));
      const st = readSafetensors(join(dir, "model.safetensors"));
      expect(st.metadata.format).toBe("pt");
      saveModel(join(dir, "bf16"), m, { dtype: "BF16" });
      expect(readSafetensors(join(dir, "bf16", "model.safetensors")).tensors.get(cfg.flavour === "gpt2" ? "wte.weight" : "model.embed_tokens.weight")?.dtype).toBe("BF16");
      expect(maxRel(logits(loadModel(join(dir, "bf16"), { backend: "ref" })), logits(m))).toBeLessThan(0.05);
      expect(JSON.parse(readFileSync(join(dir, "bf16", "config.json"), "utf8")).torch_dtype).toBe("bfloat16");
    }
  });
  it("clear errors for a missing folder, a missing weights file and mismatched weights", () => {
    expect(() => loadModel(join(tmp, "nope"))).toThrow(ModelLoadError);
    const dir = join(tmp, "mismatch");
    saveModel(dir, new GPT(gpt2Cfg, { backend: "ref" }));
    writeFileSync(join(dir, "config.json"), JSON.stringify(toHfConfig({ ...gpt2Cfg, vocabSize: 41 })));
    expect(() => loadModel(dir)).toThrow(/wrong shape 1: wte\.weight: shape \[40,16\], expected \[41,16\].*Does config\.json belong/);
    rmSync(join(dir, "model.safetensors"));
    expect(() => loadModel(dir)).toThrow(/has a config\.json but no weights/);
  });
  it("a truncated weights file is reported by name", () => {
    const dir = join(tmp, "trunc");
    saveModel(dir, new GPT(gpt2Cfg, { backend: "ref" }));
    const p = join(dir, "model.safetensors");
    const bytes = readFileSync(p);
    writeFileSync(p, bytes.subarray(0, bytes.length - 100));
    expect(() => loadModel(dir)).toThrow(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: .*truncated`));
  });
});

const hasTorch = existsSync("/usr/bin/python3") && spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;

describe.skipIf(!hasTorch)("PyTorch reads the saved folder (Hugging Face semantics)", () => {
  for (const [name, cfg] of [["gpt2", gpt2Cfg], ["gpt2 untied", makeConfig({ ...gpt2Cfg, tiedEmbeddings: false })], ["llama GQA", llamaCfg], ["llama tied+bias MQA", llamaTiedBias]] as [string, GPTConfig][]) {
    it(`${name}: logits match an independent torch forward (float64) to 1e-8`, () => {
      const m = new GPT(cfg, { seed: 6, backend: "ref", dtype: "f64" });
      const dir = join(tmp, `torch-${name.replace(/\W+/g, "-")}`);
      saveModel(dir, m);
      const saved = loadModel(dir, { backend: "ref", dtype: "f64" });
      const out = execFileSync("/usr/bin/python3", [join(import.meta.dirname, "hf_reference.py"), dir, JSON.stringify(seq)], { encoding: "utf8" });
      const torchLogits = (JSON.parse(out) as number[][][]).flat(2);
      expect(maxRel(logits(saved), torchLogits)).toBeLessThan(1e-8);
      expect(saved.config).toEqual(cfg);
    });
  }
});

describe("safetensors writer", () => {
  it("writes F32 that reads back bit-exactly", () => {
    const p = join(tmp, "x.safetensors");
    writeSafetensors(p, new Map([["a", { shape: [2], data: Float32Array.from([1.5, -2]) }]]));
    expect(Array.from(readSafetensors(p).tensors.get("a")?.data as Float32Array)).toEqual([1.5, -2]);
  });
});
