// The prompts of an RL run from files (`readTaskPrompts`): prompt-only records (`{"prompt"}`, messages ending with the
// user's turn) and answered conversations side by side, the reference answers each carries, a seeded split by prompt
// text or given held-out files, and errors that name the option the user gave.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTaskPrompts, reportSkippedPrompts } from "../../src/rl/prompts.js";
import { RlDataError } from "../../src/rl/rewards.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-prompts-"));
const write = (name: string, rows: unknown[]) => {
  const f = join(dir, name);
  writeFileSync(f, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  return f;
};
const U = (content: string) => ({ role: "user", content });

describe("readTaskPrompts from files", () => {
  it("counts the records it skips and names the first one's file:line; data_stats.md holds every reason", async () => {
    const f = join(dir, "bad.jsonl");
    writeFileSync(
      f,
      [
        JSON.stringify({ prompt: "Write a positive review." }),
        "{not json",
        JSON.stringify({ prompt: "Say hi." }),
        JSON.stringify({ messages: [{ role: "assistant", content: "An answer to nothing." }] }),
        "",
      ].join("\n"),
    );
    const r = await readTaskPrompts(f, { valData: [write("held2.jsonl", [{ prompt: "Review a film." }])], valFraction: 0.1, seed: 1, perTask: 10 });
    expect(r.train.map((p) => p.messages[0].content)).toEqual(["Write a positive review.", "Say hi."]);
    expect(r.skipped.malformed + r.skipped.noPrompt).toBe(2);
    expect(r.skipped.malformed).toBeGreaterThanOrEqual(1);
    const out = mkdtempSync(join(tmpdir(), "llmforge-prompts-out-"));
    const said: string[] = [];
    const line = reportSkippedPrompts(r, out, "ppo", (s) => said.push(s));
    expect(said).toEqual([line]);
    expect(line).toMatch(/^ppo: skipped /);
    expect(line).toContain(`${f}:2`);
    expect(line).toContain(join(out, "data_stats.md"));
    expect(readFileSync(join(out, "data_stats.md"), "utf8")).toContain(`${f}:2`);
    expect(r.skipped.noPrompt).toBe(1);
    expect(line).toContain(`first: ${f}:4)`);
    expect(readFileSync(join(out, "data_stats.md"), "utf8")).toContain(`- ${f}:4`);
  });

  it("says nothing for clean files and for named tasks (no files to report on)", async () => {
    const out = mkdtempSync(join(tmpdir(), "llmforge-prompts-out-"));
    const clean = await readTaskPrompts(write("clean.jsonl", [{ prompt: "a" }, { prompt: "b" }]), { valFraction: 0.5, seed: 1, perTask: 10 });
    const said: string[] = [];
    expect(reportSkippedPrompts(clean, out, "grpo", (s) => said.push(s))).toBeNull();
    expect(said).toEqual([]);
    expect(existsSync(join(out, "data_stats.md"))).toBe(true);
    const named = await readTaskPrompts("arithmetic", { valFraction: 0.1, seed: 1, perTask: 5 });
    const out2 = mkdtempSync(join(tmpdir(), "llmforge-prompts-out-"));
    expect(reportSkippedPrompts(named, out2, "grpo", (s) => said.push(s))).toBeNull();
    expect(existsSync(join(out2, "data_stats.md"))).toBe(false);
  });

  it("reads prompt-only records and answered conversations with their reference answers", async () => {
    const f = write("mixed.jsonl", [
      { prompt: "Write a positive review.", meta: { task: "positive" } },
      { messages: [{ role: "system", content: "Be brief." }, U("Say hi.")] },
      { question: "2+2?", answer: "4" },
      { prompt: "Capital of France?", meta: { answer: "Paris" } },
    ]);
    const held = write("held.jsonl", [{ prompt: "Review something in a positive tone." }]);
    const r = await readTaskPrompts(f, { valData: [held], valFraction: 0.1, seed: 1, perTask: 10, label: "--prompts" });
    expect(r.train).toEqual([
      { messages: [U("Write a positive review.")], accept: [], task: "positive" },
      { messages: [{ role: "system", content: "Be brief." }, U("Say hi.")], accept: [], task: "file" },
      { messages: [U("2+2?")], accept: ["4"], task: "file" },
      { messages: [U("Capital of France?")], accept: ["Paris"], task: "file" },
    ]);
    expect(r.heldout).toEqual([{ messages: [U("Review something in a positive tone.")], accept: [], task: "file" }]);
  });

  it("splits by prompt text when no held-out file is given: the same prompt never on both sides", async () => {
    const rows = Array.from({ length: 200 }, (_, i) => ({ prompt: `prompt ${i % 50}` }));
    const r = await readTaskPrompts(write("many.jsonl", rows), { valFraction: 0.2, seed: 3, perTask: 10 });
    expect(r.train.length + r.heldout.length).toBe(200);
    expect(r.heldout.length).toBeGreaterThan(0);
    const trainTexts = new Set(r.train.map((p) => p.messages[0].content));
    expect(r.heldout.some((p) => trainTexts.has(p.messages[0].content))).toBe(false);
    const again = await readTaskPrompts(write("many2.jsonl", rows), { valFraction: 0.2, seed: 3, perTask: 10 });
    expect({ train: again.train, heldout: again.heldout }).toEqual({ train: r.train, heldout: r.heldout });
  });

  it("errors name the option: a missing file, a file without any prompt", async () => {
    await expect(readTaskPrompts(join(dir, "nope.jsonl"), { valFraction: 0.1, seed: 1, perTask: 10, label: "--prompts" })).rejects.toThrow(
      /^--prompts .*nope\.jsonl: neither a task name \(.*\) nor an existing prompts file$/,
    );
    await expect(readTaskPrompts(join(dir, "nope.jsonl"), { valFraction: 0.1, seed: 1, perTask: 10 })).rejects.toThrow(/^--task /);
    const bad = write("bad.jsonl", [{ text: "language-modelling text" }, { foo: 1 }]);
    await expect(readTaskPrompts(bad, { valFraction: 0.1, seed: 1, perTask: 10, label: "--prompts" })).rejects.toThrow(/--prompts: no usable conversation/);
    const noPrompt = write("assistant-only.jsonl", [{ messages: [{ role: "assistant", content: "hello" }] }]);
    await expect(readTaskPrompts(noPrompt, { valFraction: 0.1, seed: 1, perTask: 10, label: "--prompts" })).rejects.toBeInstanceOf(RlDataError);
  });
});
