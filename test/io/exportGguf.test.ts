// GGUF export of a gpt2-flavour run, read by llama.cpp itself (node-llama-cpp's prebuilt CPU build):
// same tokens for the same text, same 32-token greedy continuation from f32 and f16 weights, log-probabilities
// within a stated tolerance, held-out perplexity within 1% for q8_0 (q4_0 reported); metadata and bad input.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportError, exportGguf, ggufPretokenizerName } from "../../src/model/exportGguf.js";
import { GgmlType, ggufMeta, readGguf } from "../../src/io/gguf.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { generate } from "../../src/infer/generate.js";
import { CHATML_TEMPLATE, writeTokenizerConfig } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { makeTinyRun, type TinyRun } from "./exportFixture.js";
import { loadInLlamaCpp, maxRowDiff, ourLogProbs, perplexity } from "./llamaCpp.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-gguf-export-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let r: TinyRun;
let held: number[];
let ours: ReturnType<typeof ourLogProbs>;
beforeAll(() => {
  r = makeTinyRun(tmp);
  held = [r.tok.specialId("<|endoftext|>"), ...r.tok.encode(` ${r.heldout}`)].slice(0, 128);
  ours = ourLogProbs(r.model, held);
});

const TEXTS = [
  " The cat saw 3 books near the park.",
  "My sister's dog, isn't it?  Yes!\n\nok\tthen",
  "12345678 apples cost $9.99 (each) -- we'll SEE'S it",
  "naïve café: 東京 ☕ emoji 🙂 and spaces   \n  end",
  "<|endoftext|> is plain text here",
];

describe("llama.cpp reads the GGUF export of a gpt2 run", () => {
  it("metadata, tensor names and types as llama.cpp's converter writes them", () => {
    const out = join(tmp, "meta.gguf");
    const res = exportGguf({ model: r.run, out, type: "q8_0" });
    expect(res).toMatchObject({ architecture: "gpt2", type: "q8_0", pretokenizer: "dbrx" });
    const f = readGguf(out);
    const c = r.model.config;
    expect(ggufMeta(f, "general.architecture")).toBe("gpt2");
    expect(ggufMeta(f, "general.file_type")).toBe(7);
    expect([ggufMeta(f, "gpt2.context_length"), ggufMeta(f, "gpt2.embedding_length"), ggufMeta(f, "gpt2.block_count"), ggufMeta(f, "gpt2.feed_forward_length"), ggufMeta(f, "gpt2.attention.head_count")])
      .toEqual([c.blockSize, c.nEmbd, c.nLayer, c.mlpHidden, c.nHead]);
    expect(ggufMeta(f, "tokenizer.ggml.model")).toBe("gpt2");
    const tokens = ggufMeta(f, "tokenizer.ggml.tokens") as string[];
    expect(tokens.length).toBe(c.vocabSize);
    expect(tokens[r.tok.vocabSize]).toBe(`[PAD${r.tok.vocabSize}]`);
    const eot = r.tok.specialId("<|endoftext|>");
    expect(tokens[eot]).toBe("<|endoftext|>");
    expect((ggufMeta(f, "tokenizer.ggml.token_type") as number[])[eot]).toBe(3);
    expect(ggufMeta(f, "tokenizer.ggml.eos_token_id")).toBe(eot);
    expect((ggufMeta(f, "tokenizer.ggml.merges") as string[]).length).toBe(r.tok.spec.merges.length / 3);
    expect(f.tensors.get("token_embd.weight")).toMatchObject({ shape: [c.vocabSize, c.nEmbd], type: GgmlType.Q8_0 });
    expect(f.tensors.get("blk.1.attn_qkv.weight")).toMatchObject({ shape: [3 * c.nEmbd, c.nEmbd], type: GgmlType.Q8_0 });
    expect(f.tensors.get("blk.0.ffn_down.weight")).toMatchObject({ shape: [c.nEmbd, c.mlpHidden], type: GgmlType.Q8_0 });
    expect(f.tensors.get("blk.0.attn_norm.bias")).toMatchObject({ shape: [c.nEmbd], type: GgmlType.F32 });
    expect(f.tensors.has("output.weight")).toBe(false); // tied: llama.cpp uses token_embd
    expect(f.tensors.size).toBe(2 + 12 * c.nLayer + 2);
    expect(ggufMeta(f, "tokenizer.ggml.add_bos_token")).toBe(true);
    expect(f.metadata.has("tokenizer.chat_template")).toBe(false);
  });

  it("a chat run: template embedded, eos <|im_end|>, no bos added (chats are trained without one)", () => {
    const run = join(tmp, "chat");
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    cpSync(join(r.run, "model"), join(run, "model"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), r.tok.toHuggingFaceJson());
    writeTokenizerConfig(join(run, "tokenizer"), r.tok, { chatTemplate: CHATML_TEMPLATE });
    exportGguf({ model: run, out: join(tmp, "chat.gguf") });
    const f = readGguf(join(tmp, "chat.gguf"));
    expect(ggufMeta(f, "tokenizer.chat_template")).toBe(CHATML_TEMPLATE);
    expect(ggufMeta(f, "tokenizer.ggml.eos_token_id")).toBe(r.tok.specialId("<|im_end|>"));
    expect(ggufMeta(f, "tokenizer.ggml.add_bos_token")).toBe(false);
    expect(ggufMeta(f, "general.file_type")).toBe(1); // f16 by default
  });

  it("tokenizes text exactly as llmforge, and detokenizes back", async () => {
    const out = join(tmp, "f32.gguf");
    exportGguf({ model: r.run, out, type: "f32" });
    const ll = await loadInLlamaCpp(out);
    for (const text of TEXTS) {
      expect([text, ll.tokenize(text)]).toEqual([text, r.tok.encode(text)]);
      expect(ll.detokenize(r.tok.encode(text))).toBe(text);
    }
    await ll.dispose();
  });

  it("f32 and f16: the same 32-token greedy continuation and log-probabilities within 1e-2", async () => {
    const eot = r.tok.specialId("<|endoftext|>");
    const figures: string[] = [];
    for (const type of ["f32", "f16"] as const) {
      const out = join(tmp, `${type}.gguf`);
      exportGguf({ model: r.run, out, type });
      const ll = await loadInLlamaCpp(out);
      for (const p of [" The cat", " My sister helped"]) {
        const prompt = [eot, ...r.tok.encode(p)];
        const want = generate(r.model, prompt, { temperature: 0, maxTokens: 32 }).tokens;
        expect(new Set(want).size).toBeGreaterThan(6);
        expect(await ll.greedy(prompt, 32)).toEqual(want);
      }
      const theirs = await ll.logProbs(held, r.model.config.vocabSize);
      // Rows predicting held[1..]: the row after the last token of a full context is not comparable (node-llama-cpp
      // makes room in the context there).
      const diff = maxRowDiff(theirs, ours, held.length - 1, r.model.config.vocabSize);
      const [p0, p1] = [perplexity(ours, held), perplexity(theirs, held)];
      figures.push(`${type}: max |Δ log p| ${diff.toExponential(2)}, ppl ${p1.toFixed(4)} vs ${p0.toFixed(4)}`);
      expect(diff).toBeLessThan(1e-2);
      expect(Math.abs(p1 / p0 - 1)).toBeLessThan(1e-3);
      await ll.dispose();
    }
    console.log(`gguf gpt2 vs llama.cpp: ${figures.join("; ")}`);
  });

  it("q8_0: held-out perplexity within 1% of llmforge's; q4_0 within 5% (reported)", async () => {
    const p0 = perplexity(ours, held);
    const got: Record<string, number> = {};
    for (const type of ["q8_0", "q4_0"] as const) {
      const out = join(tmp, `${type}.gguf`);
      exportGguf({ model: r.run, out, type });
      const ll = await loadInLlamaCpp(out);
      got[type] = perplexity(await ll.logProbs(held, r.model.config.vocabSize), held);
      await ll.dispose();
    }
    console.log(`gguf gpt2 perplexity on ${held.length} held-out tokens: llmforge f32 ${p0.toFixed(4)}, llama.cpp q8_0 ${got.q8_0.toFixed(4)} (${(100 * (got.q8_0 / p0 - 1)).toFixed(2)}%), q4_0 ${got.q4_0.toFixed(4)} (${(100 * (got.q4_0 / p0 - 1)).toFixed(2)}%)`);
    expect(Math.abs(got.q8_0 / p0 - 1)).toBeLessThan(0.01);
    expect(Math.abs(got.q4_0 / p0 - 1)).toBeLessThan(0.05);
  });

  it("a GPT-2 style pre-tokenizer is exported as llama.cpp's \"gpt-2\" and tokenizes the same", async () => {
    const dir = join(tmp, "gpt2tok");
    const g = makeTinyRun(dir, { steps: 0, tokenizer: { style: "gpt2" } });
    const out = join(dir, "g.gguf");
    expect(exportGguf({ model: g.run, out, type: "f32" }).pretokenizer).toBe("gpt-2");
    const ll = await loadInLlamaCpp(out);
    for (const text of TEXTS) expect([text, ll.tokenize(text)]).toEqual([text, g.tok.encode(text)]);
    await ll.dispose();
    expect(() => ggufPretokenizerName(Tokenizer.trainFromTexts(["a b"], { vocabSize: 270, digitGroup: 1 }).spec.pattern, false)).toThrow(/no llama\.cpp equivalent/);
  });
});

describe("bad input: clear errors and no file left behind", () => {
  const noGguf = (dir: string) => readdirSync(dir).filter((n) => n.includes(".gguf"));
  it("unknown type, output inside the model folder", () => {
    expect(() => exportGguf({ model: r.run, out: join(tmp, "x.gguf"), type: "q5_k" })).toThrow(/unknown GGUF weight type "q5_k": choose one of f32, f16, q8_0, q4_0/);
    expect(() => exportGguf({ model: r.run, out: join(r.run, "model", "m.gguf") })).toThrow(ExportError);
    expect(() => exportGguf({ model: r.run, out: join(r.run, "model", "m.gguf") })).toThrow(/inside the model folder/);
    expect(existsSync(join(tmp, "x.gguf"))).toBe(false);
  });
  it("a missing tensor and a config that disagrees with the weights", () => {
    const dir = join(tmp, "broken");
    const b = makeTinyRun(dir, { steps: 0 });
    const wPath = join(b.run, "model", "model.safetensors");
    const good = readFileSync(wPath);
    const { tensors } = readSafetensors(wPath);
    tensors.delete("h.1.mlp.c_fc.bias");
    writeSafetensors(wPath, new Map([...tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data as Float32Array }])));
    expect(() => exportGguf({ model: b.run, out: join(dir, "m.gguf") })).toThrow(/missing 1: h\.1\.mlp\.c_fc\.bias/);
    writeFileSync(wPath, good);
    const cfgPath = join(b.run, "model", "config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, n_embd: 96, n_head: 3 }));
    expect(() => exportGguf({ model: b.run, out: join(dir, "m.gguf") })).toThrow(/wrong shape.*Does config\.json belong to these weights/);
    expect(noGguf(dir)).toEqual([]);
  });
});
