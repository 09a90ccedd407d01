// OpenAI tools on /v1/chat/completions through the openai SDK, against a scripted engine whose replies the test sets:
// tool definitions reach the template, tool_calls come back (finish_reason "tool_calls"), streamed as one delta at the
// end with the text before them streamed as it comes, tool_choice none / required / a named function, malformed calls
// returned as plain content, and assistant tool_calls + tool messages passed back into the prompt; then the real worker
// renders the tools block and the forced call prefix (prompt token counts of a tiny model).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/serve/server.js";
import type { PromptInput } from "../../src/serve/protocol.js";
import { ScriptedEngine } from "./scriptedEngine.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { CHATML_TEMPLATE, renderChat } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

const engine = new ScriptedEngine({ contextLength: 4096, vocabSize: 300, pieceChars: 3 });
let server: RunningServer;
let client: OpenAI;

const calculator = {
  type: "function" as const,
  function: { name: "calculator", description: "exact arithmetic", parameters: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"] } },
};
const date = { type: "function" as const, function: { name: "date", description: "today", parameters: { type: "object", properties: {} } } };
const ask = [{ role: "user" as const, content: "What is 6 times 7?" }];
const CALL = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "6 * 7"}}\n</tool_call>';

beforeAll(async () => {
  server = await startServer({ run: "scripted", modelName: "scripted", engine, logger: false });
  const base = await server.app.listen({ port: 0, host: "127.0.0.1" });
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "none", maxRetries: 0 });
});
afterAll(async () => {
  await server?.shutdown(500);
});

describe("chat completions with tools", () => {
  it("offers the tools to the template and returns the model's call as tool_calls", async () => {
    engine.reply = CALL;
    const r = await client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator, date] });
    const prompt = engine.prompts.at(-1) as Extract<PromptInput, { kind: "chat" }>;
    expect(prompt.tools).toEqual([calculator, date]);
    expect(prompt.prefix).toBeUndefined();
    expect(renderChat(CHATML_TEMPLATE, prompt.messages, { variables: { tools: prompt.tools } })).toContain('"name": "calculator"');
    const c = r.choices[0];
    expect(c.finish_reason).toBe("tool_calls");
    expect(c.message.content).toBeNull();
    expect(c.message.tool_calls).toHaveLength(1);
    const call = c.message.tool_calls?.[0];
    expect(call?.type === "function" && call.function).toEqual({ name: "calculator", arguments: '{"expression":"6 * 7"}' });
    expect(call?.id).toMatch(/^call_[0-9a-f]{24}$/);
  });

  it("streams the text before a call as it comes and the call as one delta at the end", async () => {
    engine.reply = `Let me compute that.\n${CALL}`;
    const stream = await client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator], stream: true });
    let content = "";
    const calls: unknown[] = [];
    let finish: string | null = null;
    let contentChunksBeforeCall = 0;
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      if (!ch) continue;
      if (ch.delta.content) {
        content += ch.delta.content;
        if (calls.length === 0) contentChunksBeforeCall++;
      }
      if (ch.delta.tool_calls) calls.push(...ch.delta.tool_calls);
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    expect(content).toBe("Let me compute that.\n");
    expect(contentChunksBeforeCall).toBeGreaterThan(3); // streamed token by token, not at the end
    expect(calls).toEqual([{ index: 0, id: expect.stringMatching(/^call_/), type: "function", function: { name: "calculator", arguments: '{"expression":"6 * 7"}' } }]);
    expect(finish).toBe("tool_calls");
    // the SDK's stream helper assembles the same message
    const helper = client.chat.completions.stream({ model: "scripted", messages: ask, tools: [calculator] });
    const final = await helper.finalChatCompletion();
    expect(final.choices[0].message.tool_calls?.[0]).toMatchObject({ function: { name: "calculator", arguments: '{"expression":"6 * 7"}' } });
  });

  it("tool_choice none renders no tools and leaves the text alone", async () => {
    engine.reply = CALL;
    const r = await client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator], tool_choice: "none" });
    expect((engine.prompts.at(-1) as { tools?: unknown }).tools).toBeUndefined();
    expect(r.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: CALL } });
    expect(r.choices[0].message.tool_calls ?? []).toEqual([]);
  });

  it("a named tool_choice offers only that tool and starts the reply with its call", async () => {
    engine.reply = '{"timezone": "UTC"}}\n</tool_call>';
    const r = await client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator, date], tool_choice: { type: "function", function: { name: "date" } } });
    const prompt = engine.prompts.at(-1) as Extract<PromptInput, { kind: "chat" }>;
    expect(prompt.tools).toEqual([date]);
    expect(prompt.prefix).toBe('<tool_call>\n{"name": "date", "arguments": ');
    expect(r.choices[0].finish_reason).toBe("tool_calls");
    const call = r.choices[0].message.tool_calls?.[0];
    expect(call?.type === "function" && call.function).toEqual({ name: "date", arguments: '{"timezone":"UTC"}' });
    engine.reply = '{"name": "calculator", "arguments": {"expression": "1"}}\n</tool_call>';
    await client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator], tool_choice: "required" });
    expect((engine.prompts.at(-1) as { prefix?: string }).prefix).toBe("<tool_call>\n");
  });

  it("returns a malformed or unknown call as plain content with finish_reason stop", async () => {
    for (const reply of ['<tool_call>\n{"name": "calculator", "arguments": {"expr": 1}}\n</tool_call>', '<tool_call>{"name": "rm", "arguments": {}}</tool_call>', "<tool_call>{oops"]) {
      engine.reply = reply;
      const r = await client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator] });
      expect(r.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: reply } });
      const s = await client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator], stream: true });
      let content = "";
      let finish = "";
      for await (const chunk of s) {
        content += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(content).toBe(reply);
      expect(finish).toBe("stop");
    }
  });

  it("passes assistant tool_calls and tool results back into the prompt", async () => {
    engine.reply = "42";
    const r = await client.chat.completions.create({
      model: "scripted",
      tools: [calculator],
      messages: [
        ...ask,
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "calculator", arguments: '{"expression": "6 * 7"}' } }] },
        { role: "tool", tool_call_id: "call_1", content: "42" },
      ],
    });
    expect(r.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "42" } });
    const prompt = engine.prompts.at(-1) as Extract<PromptInput, { kind: "chat" }>;
    expect(prompt.messages.slice(1)).toEqual([
      { role: "assistant", content: "", tool_calls: [{ id: "call_1", type: "function", function: { name: "calculator", arguments: '{"expression": "6 * 7"}' } }] },
      { role: "tool", content: "42", tool_call_id: "call_1" },
    ]);
    expect(renderChat(CHATML_TEMPLATE, prompt.messages, { addGenerationPrompt: true })).toContain(`<|im_start|>assistant\n${CALL}<|im_end|>\n<|im_start|>tool\n42<|im_end|>\n<|im_start|>assistant\n`);
  });

  it("refuses tool_choice without tools or naming a tool it does not have", async () => {
    await expect(client.chat.completions.create({ model: "scripted", messages: ask, tool_choice: "required" })).rejects.toMatchObject({ status: 400, param: "tool_choice" });
    await expect(
      client.chat.completions.create({ model: "scripted", messages: ask, tools: [calculator], tool_choice: { type: "function", function: { name: "date" } } }),
    ).rejects.toMatchObject({ status: 400, param: "tool_choice" });
    await expect(client.chat.completions.create({ model: "scripted", messages: ask, tools: [{ type: "function", function: { name: "bad name" } }] })).rejects.toMatchObject({ status: 400 });
  });
});

describe("the generation worker renders tools", () => {
  it("counts the tools block and a forced call's prefix in the prompt", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-serve-tools-"));
    const run = join(dir, "tiny");
    const tok = Tokenizer.trainFromTexts(["the calculator tool gives exact answers. what is six times seven? ".repeat(20)], { vocabSize: 300 });
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
    saveModel(join(run, "model"), new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 2048, vocabSize: tok.vocabSize }), { seed: 1 }));
    const real = await startServer({ run, maxBatch: 2, logger: false });
    try {
      const c = new OpenAI({ baseURL: `${await real.app.listen({ port: 0, host: "127.0.0.1" })}/v1`, apiKey: "none", maxRetries: 0 });
      const count = (text: string) => tok.encode(text, { allowedSpecial: "all" }).length;
      const plain = await c.chat.completions.create({ model: "tiny", messages: ask, max_tokens: 2, temperature: 0 });
      expect(plain.usage?.prompt_tokens).toBe(count(renderChat(CHATML_TEMPLATE, ask, { addGenerationPrompt: true })));
      const withTools = await c.chat.completions.create({ model: "tiny", messages: ask, max_tokens: 2, temperature: 0, tools: [calculator] });
      expect(withTools.usage?.prompt_tokens).toBe(count(renderChat(CHATML_TEMPLATE, ask, { addGenerationPrompt: true, variables: { tools: [calculator] } })));
      const forced = await c.chat.completions.create({ model: "tiny", messages: ask, max_tokens: 2, temperature: 0, tools: [calculator], tool_choice: { type: "function", function: { name: "calculator" } } });
      const prefix = '<tool_call>\n{"name": "calculator", "arguments": ';
      expect(forced.usage?.prompt_tokens).toBe(count(renderChat(CHATML_TEMPLATE, ask, { addGenerationPrompt: true, variables: { tools: [calculator] } }) + prefix));
      // an untrained model's text after the forced prefix is no valid call: it comes back as content, prefix included
      expect(forced.choices[0].message.content?.startsWith(prefix)).toBe(true);
    } finally {
      await real.shutdown(500);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("streamed text when the server falls behind", () => {
  it("tokens that arrive in one event-loop turn leave as one chunk per choice, with the same text, in order", async () => {
    const reply = "The answer is forty-two, and here is why.";
    engine.reply = reply;
    const count = async (): Promise<{ text: string; chunks: number }> => {
      const stream = await client.chat.completions.create({ model: "scripted", messages: ask, stream: true });
      let text = "";
      let chunks = 0;
      for await (const chunk of stream) {
        const c = chunk.choices[0]?.delta.content;
        if (c) {
          text += c;
          chunks++;
        }
      }
      return { text, chunks };
    };
    const paced = await count();
    engine.sameTurn = true;
    try {
      const backlog = await count();
      expect(paced).toEqual({ text: reply, chunks: Math.ceil(reply.length / 3) });
      expect(backlog).toEqual({ text: reply, chunks: 1 });
    } finally {
      engine.sameTurn = false;
    }
  });
});
