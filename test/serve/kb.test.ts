// The chat endpoint's `kb` option against a scripted engine (its reply set by the test) and a real knowledge base:
// the last user message reaches the model as kb/rag.ts's prompt (numbered sources, then the question), the choice's
// message carries `citations` (streamed with the first delta), "nothing relevant" is answered without the model,
// and a server without a knowledge base, or a conversation that does not end with the user, is refused with a 400.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addToKb } from "../../src/kb/build.js";
import { NOTHING_FOUND, RAG_INSTRUCTIONS } from "../../src/kb/rag.js";
import { type RunningServer, startServer } from "../../src/serve/server.js";
import { ScriptedEngine } from "./scriptedEngine.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { TOPICS, writeCorpus } from "../kb/fixture.js";

let dir: string;
const engine = new ScriptedEngine({ contextLength: 512, vocabSize: 400 });
let server: RunningServer;
let plain: RunningServer;
let base: string;
let plainBase: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-serve-kb-"));
  writeCorpus(dir);
  // the run's tokenizer measures the prompt in the main thread (default specials include ChatML's)
  const run = join(dir, "run");
  mkdirSync(join(run, "tokenizer"), { recursive: true });
  const tok = Tokenizer.trainFromTexts(Object.values(TOPICS).flat().map((t) => `${t}\n`.repeat(3)), { vocabSize: 400 });
  writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  saveModel(join(run, "model"), new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 512, vocabSize: tok.vocabSize }), { seed: 1 }));
  const kb = join(dir, "kb.sqlite");
  await addToKb({ kb, files: [join(dir, "docs")], chunkTokens: 48 });
  server = await startServer({ run, modelName: "scripted", engine, logger: false, kb });
  base = await server.app.listen({ port: 0, host: "127.0.0.1" });
  plain = await startServer({ run, modelName: "scripted", engine: new ScriptedEngine({ contextLength: 512, vocabSize: 400 }), logger: false });
  plainBase = await plain.app.listen({ port: 0, host: "127.0.0.1" });
}, 60_000);
afterAll(async () => {
  await server?.shutdown(500);
  await plain?.shutdown(500);
  rmSync(dir, { recursive: true, force: true });
});

const chat = (url: string, body: Record<string, unknown>) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "scripted", ...body }) });

interface CitationJson {
  n: number;
  path: string;
  start: number;
  end: number;
  cited: boolean;
}

describe("chat completions with kb", () => {
  it("puts the passages in the last user message and returns the citations on the message", async () => {
    engine.reply = "Yeast ferments the sugar [1].";
    engine.prompts = [];
    const question = "why does bread dough rise with yeast";
    const r = await chat(base, { messages: [{ role: "system", content: "be brief" }, { role: "user", content: question }], kb: { k: 2 }, max_tokens: 32 });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { choices: { message: { content: string; citations: CitationJson[] } }[] };
    const msg = body.choices[0].message;
    expect(msg.content).toBe(engine.reply);
    expect(msg.citations.length).toBeGreaterThanOrEqual(1);
    expect(msg.citations.length).toBeLessThanOrEqual(2);
    expect(msg.citations[0]).toMatchObject({ n: 1, cited: true });
    expect(msg.citations[0].path).toMatch(/bread\.md$/);
    expect(msg.citations[0].end).toBeGreaterThan(msg.citations[0].start);
    if (msg.citations[1]) expect(msg.citations[1].cited).toBe(false);
    // the model saw rag.ts's prompt in place of the question; the system message is unchanged
    const p = engine.prompts[0];
    if (p.kind !== "chat") throw new Error("expected a chat prompt");
    expect(p.messages[0]).toEqual({ role: "system", content: "be brief" });
    const user = p.messages[1].content;
    expect(user.startsWith(RAG_INSTRUCTIONS)).toBe(true);
    expect(user).toContain(`[1] ${msg.citations[0].path} (characters ${msg.citations[0].start}-${msg.citations[0].end})`);
    expect(user.trimEnd().endsWith(`Question: ${question}`)).toBe(true);
  });

  it("streams the citations with the first delta", async () => {
    engine.reply = "It rises [1].";
    const r = await chat(base, { messages: [{ role: "user", content: "yeast dough" }], kb: true, stream: true });
    const events = (await r.text()).split("\n\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    expect(events[0].choices[0].delta.role).toBe("assistant");
    expect(events[0].choices[0].delta.citations[0].path).toMatch(/bread\.md$/);
    expect(events.map((e) => e.choices[0]?.delta?.content ?? "").join("")).toBe("It rises [1].");
  });

  it("says nothing relevant was found without asking the model, plain and streamed", async () => {
    engine.prompts = [];
    const r = await chat(base, { messages: [{ role: "user", content: "zzqqxx" }], kb: true });
    const body = (await r.json()) as { choices: { message: { content: string; citations: unknown[] }; finish_reason: string }[] };
    expect(body.choices[0].message).toMatchObject({ content: NOTHING_FOUND, citations: [] });
    expect(body.choices[0].finish_reason).toBe("stop");
    const s = await chat(base, { messages: [{ role: "user", content: "zzqqxx" }], kb: true, stream: true });
    const text = await s.text();
    expect(text).toContain(JSON.stringify(NOTHING_FOUND));
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(engine.prompts).toHaveLength(0);
  });

  it("leaves requests without kb alone, and refuses kb without a knowledge base or a question last", async () => {
    engine.prompts = [];
    engine.reply = "hello";
    const r = await chat(base, { messages: [{ role: "user", content: "yeast dough" }] });
    expect(((await r.json()) as { choices: { message: Record<string, unknown> }[] }).choices[0].message.citations).toBeUndefined();
    expect(engine.prompts[0]).toEqual({ kind: "chat", messages: [{ role: "user", content: "yeast dough" }] });
    const none = await chat(plainBase, { messages: [{ role: "user", content: "yeast" }], kb: true });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { error: { message: string; param: string } }).error).toMatchObject({ param: "kb", message: expect.stringMatching(/--kb/) });
    const last = await chat(base, { messages: [{ role: "user", content: "yeast" }, { role: "assistant", content: "yes" }], kb: true });
    expect(last.status).toBe(400);
    const bad = await chat(base, { messages: [{ role: "user", content: "yeast" }], kb: { k: 0 } });
    expect(bad.status).toBe(400);
  });
});
