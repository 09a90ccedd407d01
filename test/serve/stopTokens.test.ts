// Stop tokens of llmforge serve through the openai SDK: a chat model (tokenizer_config with the ChatML template and
// eos <|im_end|>) stops at <|im_end|> on /v1/completions as on /v1/chat/completions, with finish_reason "stop";
// ignore_eos (vLLM's extension) runs on to max_tokens; generation_config.json's eos_token_id list adds stop tokens,
// and a malformed one is refused at start; a .gguf export stops alike. The model is built by hand so that its greedy output is known: blocks that
// add nothing, one-hot position embeddings and a tied head make position p predict the character CHARS[p], and
// <|im_end|> at position STOP.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { exportGguf } from "../../src/model/exportGguf.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { type RunningServer, startServer } from "../../src/serve/server.js";
import { modelStopTokens } from "../../src/serve/stopTokens.js";
import { CHATML_TEMPLATE, renderChat, writeTokenizerConfig } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

/** Position p predicts CHARS[p] (one byte token each), except STOP, which predicts <|im_end|>. */
const CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const STOP = 40;
const C = 64;
let dir: string;
let tokenizer: Tokenizer;
let imEnd: number;
let chat: { server: RunningServer; client: OpenAI };
let genCfg: { server: RunningServer; client: OpenAI };

/** A tiny GPT whose greedy next token depends only on the position (see the file comment). */
function positionModel(tok: Tokenizer): GPT {
  const model = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: C, blockSize: C, vocabSize: tok.vocabSize }), { seed: 1 });
  const state = model.stateDict();
  for (const [name, p] of state) p.data.fill(name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight" ? 1 : 0);
  const wte = state.get("wte.weight")?.data as Float32Array; // (V, C), also the head
  const wpe = state.get("wpe.weight")?.data as Float32Array; // (T, C)
  for (let p = 0; p < C; p++) {
    wpe[p * C + p] = 30; // the position dominates the input token's own (unit) row after the final LayerNorm
    const target = p === STOP ? imEnd : byteToken(CHARS[p % CHARS.length]);
    wte[target * C + p] = 1;
  }
  model.loadStateDict(state);
  return model;
}

function byteToken(ch: string): number {
  const ids = tokenizer.encode(ch);
  if (ids.length !== 1) throw new Error(`expected ${JSON.stringify(ch)} to be one token`);
  return ids[0];
}

/** The text a prompt of `len` tokens continues with, up to (not including) position `end`. */
const expected = (len: number, end = STOP) => CHARS.slice(len - 1, end);

async function serve(run: string) {
  const server = await startServer({ run, maxBatch: 4, logger: false });
  const base = await server.app.listen({ port: 0, host: "127.0.0.1" });
  return { server, client: new OpenAI({ baseURL: `${base}/v1`, apiKey: "none", maxRetries: 0 }) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-serve-stop-"));
  tokenizer = Tokenizer.trainFromTexts(["the cat sat on the mat. a dog ran to the park. ".repeat(20)], { vocabSize: 300 });
  imEnd = tokenizer.specialId("<|im_end|>");
  const model = positionModel(tokenizer);
  const write = (run: string) => {
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
    writeTokenizerConfig(join(run, "tokenizer"), tokenizer, { chatTemplate: CHATML_TEMPLATE }); // eos <|im_end|>, as `llmforge sft` writes
    saveModel(join(run, "model"), model);
  };
  write(join(dir, "chat"));
  // the same model with generation_config.json listing one more end token: the character at position 30
  write(join(dir, "gencfg"));
  writeFileSync(join(dir, "gencfg", "model", "generation_config.json"), JSON.stringify({ eos_token_id: [imEnd, byteToken(CHARS[30])] }));
  chat = await serve(join(dir, "chat"));
  genCfg = await serve(join(dir, "gencfg"));
}, 60_000);

afterAll(async () => {
  await chat?.server.shutdown(1000);
  await genCfg?.server.shutdown(1000);
  rmSync(dir, { recursive: true, force: true });
});

describe("llmforge serve: stop tokens", () => {
  it("stops /v1/completions of a chat model at <|im_end|> with finish_reason stop (plain and streamed)", async () => {
    const prompt = "the cat";
    const len = 1 + tokenizer.encode(prompt).length; // <|endoftext|> + the text
    const want = expected(len);
    const r = await chat.client.completions.create({ model: "chat", prompt, max_tokens: 60, temperature: 0 });
    expect(r.choices[0].text).toBe(want);
    expect(r.choices[0].finish_reason).toBe("stop");
    expect(r.usage?.completion_tokens).toBe(want.length);

    const s = await chat.client.completions.create({ model: "chat", prompt, max_tokens: 60, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "";
    const finishes: string[] = [];
    let tokens = 0;
    for await (const c of s) {
      for (const ch of c.choices) {
        text += ch.text;
        if (ch.finish_reason) finishes.push(ch.finish_reason);
      }
      if (c.usage) tokens = c.usage.completion_tokens;
    }
    expect(text).toBe(want);
    expect(finishes).toEqual(["stop"]);
    expect(tokens).toBe(want.length);
  });

  it("stops a token-id prompt and a chat completion at the same token", async () => {
    const ids = [5, 6, 7, 8];
    const r = await chat.client.completions.create({ model: "chat", prompt: ids, max_tokens: 60, temperature: 0 });
    expect(r.choices[0]).toMatchObject({ text: expected(ids.length), finish_reason: "stop" });

    const messages = [{ role: "user" as const, content: "hi" }];
    const len = tokenizer.encode(renderChat(CHATML_TEMPLATE, messages, { addGenerationPrompt: true }), { allowedSpecial: "all" }).length;
    expect(len).toBeLessThan(STOP);
    const c = await chat.client.chat.completions.create({ model: "chat", messages, max_tokens: C - len, temperature: 0 });
    expect(c.choices[0].message.content).toBe(expected(len));
    expect(c.choices[0].finish_reason).toBe("stop");
  });

  it("runs on past <|im_end|> to max_tokens with ignore_eos", async () => {
    const ids = [5, 6, 7, 8];
    const more = expected(ids.length).length + 3;
    const r = await chat.client.completions.create({ model: "chat", prompt: ids, max_tokens: more, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(r.choices[0].text).toBe(`${expected(ids.length)}<|im_end|>${CHARS.slice(STOP + 1, STOP + 3)}`);
    expect(r.choices[0].finish_reason).toBe("length");
    expect(r.usage?.completion_tokens).toBe(more);
    // max_tokens before the end token: "length", as without ignore_eos
    const short = await chat.client.completions.create({ model: "chat", prompt: ids, max_tokens: 5, temperature: 0 });
    expect(short.choices[0]).toMatchObject({ text: CHARS.slice(ids.length - 1, ids.length + 4), finish_reason: "length" });
  });

  it("adds generation_config.json's eos_token_id list to the stop tokens", async () => {
    const ids = [5, 6, 7, 8];
    const r = await genCfg.client.completions.create({ model: "gencfg", prompt: ids, max_tokens: 60, temperature: 0 });
    expect(r.choices[0]).toMatchObject({ text: expected(ids.length, 30), finish_reason: "stop" });
    const c = await genCfg.client.chat.completions.create({ model: "gencfg", messages: [{ role: "user", content: "hi" }], max_tokens: 40, temperature: 0 });
    expect(c.choices[0].message.content?.endsWith(CHARS[29])).toBe(true);
    expect(c.choices[0].finish_reason).toBe("stop");
  });

  it("stops a served .gguf export (template and special tokens from the file) at <|im_end|> too", async () => {
    const file = join(dir, "chat.gguf");
    exportGguf({ model: join(dir, "chat"), out: file, type: "f32" });
    const g = await serve(file);
    try {
      const ids = [5, 6, 7, 8];
      const r = await g.client.completions.create({ model: "chat.gguf", prompt: ids, max_tokens: 50, temperature: 0 });
      expect(r.choices[0]).toMatchObject({ text: expected(ids.length), finish_reason: "stop" });
      const c = await g.client.chat.completions.create({ model: "chat.gguf", messages: [{ role: "user", content: "hi" }], max_tokens: 40, temperature: 0 });
      expect(c.choices[0].finish_reason).toBe("stop");
    } finally {
      await g.server.shutdown(1000);
    }
  });

  it("collects eos + end-of-turn ids, and refuses a malformed eos_token_id naming the file", async () => {
    const folder = join(dir, "bad");
    mkdirSync(folder);
    const stops = modelStopTokens(tokenizer, { modelDir: folder, eosToken: "<|im_end|>", vocabLimit: tokenizer.vocabSize });
    expect(stops).toEqual([tokenizer.specialId("<|endoftext|>"), imEnd].sort((a, b) => a - b));
    writeFileSync(join(folder, "generation_config.json"), JSON.stringify({ eos_token_id: [imEnd, 99999] }));
    expect(() => modelStopTokens(tokenizer, { modelDir: folder, vocabLimit: tokenizer.vocabSize })).toThrow(/generation_config\.json: "eos_token_id" must be a token id in 0\.\.\d+/);
    // the server does not start on it: the worker reports the file
    const run = join(dir, "chat-bad");
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
    saveModel(join(run, "model"), positionModel(tokenizer));
    writeFileSync(join(run, "model", "generation_config.json"), "{ not json");
    await expect(startServer({ run, maxBatch: 1, logger: false })).rejects.toThrow(/generation_config\.json: not valid JSON/);
  });
});
