// BERT config validation, Hugging Face config/weight names, model folders (round trip, families
// refused by each other's loaders before anything is allocated) and the classification head.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors, type WritableTensor } from "../../src/io/safetensors.js";
import { Bert } from "../../src/model/bert.js";
import { bertParamCount, fromHfBertConfig, makeBertConfig, resolveBertConfig, toHfBertConfig } from "../../src/model/bertConfig.js";
import { loadBert, saveBert } from "../../src/model/bertFolder.js";
import { loadModelFolder } from "../../src/model/runFolder.js";
import { loadModel } from "../../src/model/serialize.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-bert-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const small = makeBertConfig({ vocabSize: 30, hiddenSize: 12, numHiddenLayers: 2, numAttentionHeads: 3, maxPositionEmbeddings: 10, numLabels: 3 });
const input = { inputIds: ids([1, 4, 7, 2, 9, 3, 3, 0], [2, 4]), tokenTypeIds: Int32Array.from([0, 0, 1, 1, 0, 1, 1, 0]), attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0]) };

describe("BERT config", () => {
  it("refuses heads that do not divide the width, with the numbers", () => {
    expect(() => makeBertConfig({ vocabSize: 30, hiddenSize: 10, numHiddenLayers: 1, numAttentionHeads: 3 }))
      .toThrow(/hiddenSize 10 is not divisible by numAttentionHeads 3/);
    expect(() => makeBertConfig({ vocabSize: 30, hiddenSize: 12, numHiddenLayers: 0, numAttentionHeads: 3 })).toThrow(/numHiddenLayers must be at least 1/);
    expect(() => makeBertConfig({ vocabSize: 30, hiddenSize: 12, numHiddenLayers: 1, numAttentionHeads: 3, padTokenId: 30 })).toThrow(/padTokenId 30 is outside the vocabulary/);
    expect(() => makeBertConfig({ vocabSize: 30, hiddenSize: 12, numHiddenLayers: 1, numAttentionHeads: 3, hiddenDropout: 1 })).toThrow(/hiddenDropout must be in \[0, 1\)/);
  });

  it("round-trips through Hugging Face BertConfig keys and refuses what it cannot compute", () => {
    const hf = toHfBertConfig(small);
    expect(hf).toMatchObject({ architectures: ["BertForPreTraining"], model_type: "bert", hidden_size: 12, num_attention_heads: 3, intermediate_size: 48, hidden_act: "gelu_new", type_vocab_size: 2, layer_norm_eps: 1e-12 });
    expect(fromHfBertConfig(hf)).toEqual(small);
    expect(() => fromHfBertConfig({ ...hf, hidden_act: "gelu" })).toThrow(/hidden_act "gelu" is not supported: .*tanh approximation/);
    expect(() => fromHfBertConfig({ ...hf, model_type: "gpt2" })).toThrow(/holds a "gpt2" model, not a bert model/);
  });

  it("presets, depth and --config files (camelCase or HF keys) resolve to valid configs", () => {
    expect(resolveBertConfig({ preset: "tiny", block: 64 }, 300)).toMatchObject({ hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 2, maxPositionEmbeddings: 64, vocabSize: 300 });
    expect(resolveBertConfig({ depth: 2, dropout: 0 }, 300)).toMatchObject({ hiddenSize: 128, numAttentionHeads: 4, hiddenDropout: 0, attentionDropout: 0 });
    const f = join(dir, "cfg.json");
    writeFileSync(f, JSON.stringify({ hiddenSize: 48, numHiddenLayers: 1, numAttentionHeads: 5 }));
    expect(() => resolveBertConfig({ config: f }, 300)).toThrow(/hiddenSize 48 is not divisible by numAttentionHeads 5/);
    writeFileSync(f, JSON.stringify(toHfBertConfig(small)));
    expect(resolveBertConfig({ config: f }, 300)).toEqual({ ...small, vocabSize: 300 });
  });

  it("parameter count formula matches the module", () => {
    expect(bertParamCount(small)).toBe(new Bert(small).numParameters());
    expect(bertParamCount(small, true)).toBe(new Bert(small, { classifier: true }).numParameters());
  });
});

describe("BERT model folders", () => {
  it("parameters carry Hugging Face BERT names", () => {
    const names = new Bert(small).namedParameters().map(([n]) => n);
    for (const n of [
      "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight", "bert.embeddings.token_type_embeddings.weight",
      "bert.embeddings.LayerNorm.weight", "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.1.attention.output.dense.bias",
      "bert.encoder.layer.1.attention.output.LayerNorm.weight", "bert.encoder.layer.0.intermediate.dense.weight", "bert.encoder.layer.0.output.dense.weight",
      "bert.encoder.layer.0.output.LayerNorm.bias", "bert.pooler.dense.weight", "cls.predictions.bias", "cls.predictions.transform.dense.weight",
      "cls.predictions.transform.LayerNorm.weight", "cls.seq_relationship.weight",
    ]) expect(names).toContain(n);
    expect(names.some((n) => n.includes("decoder"))).toBe(false); // tied to the word embeddings
  });

  it("save and load give the same outputs; the folder is HF layout", () => {
    const m = new Bert(small, { seed: 5 }).eval();
    const out = join(dir, "pre");
    saveBert(out, m);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(cfg.model_type).toBe("bert");
    expect(cfg.architectures).toEqual(["BertForPreTraining"]);
    expect([...readSafetensors(join(out, "model.safetensors")).tensors.keys()]).toContain("bert.encoder.layer.1.attention.self.value.bias");
    const back = loadBert(out).eval();
    expect(back.classifier).toBeNull();
    const a = tidy(() => m.forward(input).toTypedArray());
    const b = tidy(() => back.forward(input).toTypedArray());
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it("a classifier model saves as BertForSequenceClassification and classifies (B, numLabels)", () => {
    const m = new Bert(small, { seed: 6, classifier: true }).eval();
    const out = join(dir, "cls");
    saveBert(out, m);
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).architectures).toEqual(["BertForSequenceClassification"]);
    const back = loadBert(out).eval();
    expect(back.classifier).not.toBeNull();
    const logits = tidy(() => back.classify(input).toTypedArray());
    expect(logits.length).toBe(2 * 3);
    expect(Array.from(logits)).toEqual(Array.from(tidy(() => m.classify(input).toTypedArray())));
    expect(() => new Bert(small).classify(input)).toThrow(/no classification head/);
  });

  it("loads HF checkpoints that store the tied decoder, or (classification) lack the pretraining heads", () => {
    const m = new Bert(small, { seed: 7, classifier: true }).eval();
    const out = join(dir, "hf-cls");
    saveBert(out, m);
    const tensors = new Map<string, WritableTensor>();
    for (const [n, p] of m.namedParameters()) if (!n.startsWith("cls.")) tensors.set(n, { shape: p.shape, data: p.toTypedArray() });
    const emb = m.bert.embeddings.word_embeddings.weight;
    tensors.set("cls.predictions.decoder.weight", { shape: emb.shape, data: emb.toTypedArray() });
    writeSafetensors(join(out, "model.safetensors"), tensors, { format: "pt" });
    const back = loadBert(out).eval();
    expect(Array.from(tidy(() => back.classify(input).toTypedArray()))).toEqual(Array.from(tidy(() => m.classify(input).toTypedArray())));
    tensors.delete("bert.pooler.dense.bias");
    writeSafetensors(join(out, "model.safetensors"), tensors, { format: "pt" });
    expect(() => loadBert(out)).toThrow(/missing 1 tensor\(s\): bert.pooler.dense.bias/);
  });

  it("a BERT folder loaded as a GPT, and a GPT folder loaded as a BERT, fail by name", () => {
    const out = join(dir, "pre");
    expect(() => loadModel(out)).toThrow(/this folder holds a bert model/);
    expect(() => loadModelFolder(out)).toThrow(/this folder holds a bert model/);
    const gpt = join(import.meta.dirname, "..", "fixtures", "gpt2_golden", "model");
    expect(() => loadBert(gpt)).toThrow(/this folder holds a "gpt2" model, not a bert model/);
  });

  it("refuses bad inputs with the position", () => {
    const m = new Bert(small);
    expect(() => m.forward({ inputIds: ids([1, 30], [1, 2]) })).toThrow(/token id 30 at \(0, 1\) is outside the vocabulary \[0, 30\)/);
    expect(() => m.forward({ inputIds: ids(new Array(11).fill(1), [1, 11]) })).toThrow(/11 positions exceed the model's maxPositionEmbeddings 10/);
    expect(() => m.forward({ inputIds: ids([1, 2], [1, 2]), tokenTypeIds: Int32Array.from([0, 2]) })).toThrow(/token type 2 at position 1/);
    expect(() => m.forward({ inputIds: ids([1, 2], [1, 2]), attentionMask: Int32Array.from([0, 0]) })).toThrow(/row 0 of the input is all padding/);
  });
});
