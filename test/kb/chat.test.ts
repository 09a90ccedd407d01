// `llmforge chat`: the session keeps plain turns and drops the oldest to keep the conversation in half the context;
// with a knowledge base each turn cites the retrieved passages and "nothing relevant" skips the model; the CLI answers one message per line of piped stdin, with citations.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addToKb } from "../../src/kb/build.js";
import { ChatSession } from "../../src/kb/chatSession.js";
import { NOTHING_FOUND, openKbRetriever } from "../../src/kb/rag.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { loadRun } from "../../src/model/runFolder.js";
import { saveModel } from "../../src/model/serialize.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { TOPICS, writeCorpus } from "./fixture.js";

const ROOT = join(import.meta.dirname, "..", "..");
let dir: string;
let kbPath: string;

/** A tiny chat-capable run (ChatML specials in the tokenizer) with the given context. */
function chatRun(name: string, blockSize: number): string {
  const run = join(dir, name);
  mkdirSync(join(run, "tokenizer"), { recursive: true });
  const tok = Tokenizer.trainFromTexts(Object.values(TOPICS).flat().map((t) => `${t}\n`.repeat(3)), { vocabSize: 400 });
  writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  saveModel(join(run, "model"), new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize, vocabSize: tok.vocabSize, initStd: 0.05 }), { seed: 4 }));
  return run;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-kb-chat-"));
  writeCorpus(dir);
  kbPath = join(dir, "kb.sqlite");
  await addToKb({ kb: kbPath, files: [join(dir, "docs")], chunkTokens: 48 });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ChatSession", () => {
  it("keeps plain turns and drops the oldest pairs to keep the conversation in half the context", async () => {
    const { model, tokenizer } = loadRun(chatRun("small", 128));
    const s = new ChatSession({ model, tokenizer, template: CHATML_TEMPLATE, system: "be brief", maxTokens: 6, temperature: 0 });
    let dropped = 0;
    for (let i = 0; i < 8; i++) {
      const t = await s.send(`the bread dough rises ${i}`);
      expect(t.nothingFound).toBe(false);
      expect(t.citations).toEqual([]);
      dropped += t.dropped;
      expect(s.history.at(-2)).toEqual({ role: "user", content: `the bread dough rises ${i}` });
      expect(s.history.at(-1)?.content).toBe(t.answer);
      // what was sent this turn fit in half the context
      expect(s.conversationTokens([{ role: "system", content: "be brief" }, ...s.history.slice(0, -1)])).toBeLessThanOrEqual(64);
    }
    expect(dropped).toBeGreaterThan(0);
    expect(s.history.length).toBe(16 - dropped);
    s.reset();
    expect(s.history).toEqual([]);
  });

  it("answers each turn from the knowledge base with citations, and skips the model when nothing is relevant", async () => {
    const { model, tokenizer } = loadRun(chatRun("wide", 512));
    const retriever = openKbRetriever(kbPath);
    try {
      const s = new ChatSession({ model, tokenizer, template: CHATML_TEMPLATE, maxTokens: 8, temperature: 0, retriever, k: 2 });
      const t = await s.send("castling moves the king toward a rook");
      expect(t.nothingFound).toBe(false);
      expect(t.citations[0].path).toMatch(/chess\.md$/);
      expect(t.citations.length).toBeLessThanOrEqual(2);
      // the history keeps the plain question, not the passages
      expect(s.history[0]).toEqual({ role: "user", content: "castling moves the king toward a rook" });
      const n = await s.send("zzqqxx");
      expect(n).toMatchObject({ answer: NOTHING_FOUND, nothingFound: true, citations: [] });
      expect(s.history.at(-1)).toEqual({ role: "assistant", content: NOTHING_FOUND });
    } finally {
      retriever.close();
    }
  });
});

describe("llmforge chat", () => {
  const cli = (args: string[], input: string) =>
    spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "chat", ...args], { cwd: ROOT, encoding: "utf8", input, timeout: 60_000 });

  it("answers one message per line of piped stdin, with citations from --kb", () => {
    const run = chatRun("cli", 512);
    const r = cli(["--model", run, "--kb", kbPath, "-k", "2", "--max-tokens", "6", "--temperature", "0", "--json"], "how does yeast make bread dough rise\n\nzzqqxx\n/reset\nlava and magma of a volcano\n");
    expect(r.status, r.stderr).toBe(0);
    const turns = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { answer: string; nothingFound: boolean; citations: { n: number; path: string }[] });
    expect(turns).toHaveLength(3);
    expect(turns[0].citations[0].path).toMatch(/bread\.md$/);
    expect(turns[1]).toMatchObject({ answer: NOTHING_FOUND, nothingFound: true });
    expect(turns[2].citations[0].path).toMatch(/volcano\.md$/);
    // plain text: the answer, then its sources
    const t = cli(["--model", run, "--kb", kbPath, "-k", "1", "--max-tokens", "4", "--temperature", "0"], "castling king rook\n");
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/sources:\n\[1\] \S+chess\.md \(characters \d+-\d+\)/);
  }, 120_000);

  it("reports a message that does not fit and goes on with the next", () => {
    const run = chatRun("tiny", 64);
    const r = cli(["--model", run, "--kb", kbPath, "--max-tokens", "4", "--json"], "yeast dough\nhello there\n");
    expect(r.status).toBe(1);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0].error).toMatch(/context/);
    expect(r.stderr).toMatch(/llmforge chat: /);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);
});
