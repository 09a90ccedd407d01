// quickstart run again in the same folder: an interrupted run is continued (finished stages reused,
// pretraining resumed), a finished one is replaced after saying so, a foreign folder is refused;
// it never asks for --resume, which it does not take.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { type QuickstartOptions, QuickstartFolderError, QuickstartInterrupted, quickstart } from "../../src/pipeline/quickstart.js";

/** Runs fn with stderr captured (and silenced). */
async function captured<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; stderr: string }> {
  let stderr = "";
  const spy = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  });
  try {
    return { value: await fn(), stderr };
  } catch (error) {
    return { error, stderr };
  } finally {
    spy.mockRestore();
  }
}

describe("quickstart run twice", () => {
  it("continues an interrupted run, replaces a finished one after saying so, refuses a foreign folder", async () => {
    const base = mkdtempSync(join(tmpdir(), "llmforge-qs2-"));
    const out = join(base, "run");
    const o: QuickstartOptions = { out, minutes: 0.3, maxDocs: 40, depth: 1, vocabSize: 600, blockSize: 64, batchSize: 8, sftShare: 0.15 };

    // Stopped by its signal once pretraining has logged a step: a checkpoint, no model, no summary.
    const stop = new AbortController();
    const poll = setInterval(() => {
      if (existsSync(join(out, "metrics.jsonl")) && readFileSync(join(out, "metrics.jsonl"), "utf8").includes('"loss"')) stop.abort("SIGINT");
    }, 5);
    const first = await captured(() => quickstart({ ...o, signal: stop.signal }));
    clearInterval(poll);
    expect(first.error).toBeInstanceOf(QuickstartInterrupted);
    expect((first.error as Error).message).toMatch(/^quickstart stopped during pretraining at step (\d+) \(checkpoint .*step_\d+\); run the same command again to continue it$/);
    const at = Number(/at step (\d+)/.exec((first.error as Error).message)?.[1]);
    expect(existsSync(join(out, "model"))).toBe(false);
    expect(existsSync(join(out, "summary.json"))).toBe(false);

    const second = await captured(() => quickstart(o));
    expect(second.error).toBeUndefined();
    expect(second.stderr).toContain(`${out}: continuing the unfinished quickstart there`);
    expect(second.stderr).toContain(`[2/7] tokenizer: reusing ${join(out, "tokenizer", "tokenizer.json")}`);
    expect(second.stderr).toContain(`resuming ${out} at step ${at} of`);
    expect(second.value?.training.steps).toBeGreaterThan(at);
    expect(second.value?.sft?.chat).toHaveLength(3);
    expect(existsSync(join(out, "summary.json"))).toBe(true);

    const third = await captured(() => quickstart({ ...o, sftShare: 0 }));
    expect(third.error).toBeUndefined();
    expect(third.stderr).toContain(`${out}: holds a finished quickstart; removing it to start afresh`);
    expect(existsSync(join(out, "sft"))).toBe(false);
    expect(third.value?.sft).toBeNull();
    for (const r of [first, second, third]) expect(r.stderr).not.toContain("--resume");

    const foreign = join(base, "mine");
    mkdirSync(foreign);
    writeFileSync(join(foreign, "notes.txt"), "keep me");
    await expect(quickstart({ ...o, out: foreign, progress: false })).rejects.toThrow(QuickstartFolderError);
    await expect(quickstart({ ...o, out: foreign, progress: false })).rejects.toThrow(`${foreign} is not empty and holds no quickstart run`);
    expect(readFileSync(join(foreign, "notes.txt"), "utf8")).toBe("keep me");
  }, 240_000);
});
