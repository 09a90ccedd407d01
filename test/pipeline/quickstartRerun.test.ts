// quickstart run again in the same folder: an interrupted run is continued (finished stages reused,
// pretraining resumed), a finished one is replaced after saying so, a foreign folder is refused;
// it never asks for --resume, which it does not take. A stage list that cannot run is refused
// before anything is written or removed.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { CLI, ROOT } from "../helpers/tinyShards.js";
import { type QuickstartOptions, QuickstartFolderError, QuickstartInterrupted, QuickstartStagesError, parseQuickstartStages, quickstart } from "../../src/pipeline/quickstart.js";

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
    expect(second.stderr).toContain(`[2/8] tokenizer: reusing ${join(out, "tokenizer", "tokenizer.json")}`);
    expect(second.stderr).toContain(`resuming ${out} at step ${at} of`);
    expect(second.value?.training?.steps).toBeGreaterThan(at);
    expect(second.value?.sft?.chat).toHaveLength(3);
    expect(existsSync(join(out, "summary.json"))).toBe(true);

    const third = await captured(() => quickstart({ ...o, sftShare: 0 }));
    expect(third.error).toBeUndefined();
    expect(third.stderr).toContain(`${out}: holds a finished quickstart; removing it to start afresh`);
    expect(existsSync(join(out, "sft"))).toBe(false);
    expect(third.value?.sft).toBeNull();
    expect(third.stderr).toContain("sft: skipped: its share of the budget is 0 (sftShare)");
    expect(third.stderr).toContain("rl: skipped: it needs the fine-tuned model, and sft is skipped");
    expect(third.value?.stages.find((r) => r.stage === "reward")?.status).toBe("skipped");

    // Stage lists that cannot run fail before any work: nothing in the finished folder changes.
    const before = Object.fromEntries(readdirSync(out).map((e) => [e, statSync(join(out, e)).mtimeMs]));
    await expect(quickstart({ ...o, stages: ["reward"] })).rejects.toThrow(
      new QuickstartStagesError(`stage reward needs the fine-tuned model in ${join(out, "sft")}, and there is none: add sft to --stages`),
    );
    await expect(quickstart({ ...o, stages: ["tokenizer", "sft"] })).rejects.toThrow(
      `stage sft would read the pretrained model in ${join(out, "model")}, which was made from the tokenizer that tokenizer would replace: add pretrain to --stages (with the stages between), or leave tokenizer out`,
    );
    await expect(quickstart({ ...o, stages: ["pretrain", "sft", "lora"] })).rejects.toThrow('unknown stage "lora" in --stages; the stages are data,tokenizer,shards,pretrain,sft,reward,rl');
    expect(Object.fromEntries(readdirSync(out).map((e) => [e, statSync(join(out, e)).mtimeMs]))).toEqual(before);
    const empty = join(base, "empty");
    await expect(quickstart({ ...o, out: empty, stages: ["sft", "reward", "rl"], progress: false })).rejects.toThrow(
      `stage sft needs the pretrained model in ${join(empty, "model")}, and there is none: add pretrain to --stages`,
    );
    expect(existsSync(join(empty, "quickstart.json"))).toBe(false);
    for (const r of [first, second, third]) expect(r.stderr).not.toContain("--resume");

    const foreign = join(base, "mine");
    mkdirSync(foreign);
    writeFileSync(join(foreign, "notes.txt"), "keep me");
    await expect(quickstart({ ...o, out: foreign, progress: false })).rejects.toThrow(QuickstartFolderError);
    await expect(quickstart({ ...o, out: foreign, progress: false })).rejects.toThrow(`${foreign} is not empty and holds no quickstart run`);
    expect(readFileSync(join(foreign, "notes.txt"), "utf8")).toBe("keep me");
  }, 240_000);

  it("parses --stages into pipeline order and refuses unknown names on the command line", () => {
    expect(parseQuickstartStages("rl, sft,pretrain")).toEqual(["pretrain", "sft", "rl"]);
    expect(() => parseQuickstartStages(" , ")).toThrow("--stages names no stage");
    let stderr = "";
    try {
      execFileSync(process.execPath, [...CLI, "quickstart", "--stages", "data,pretraining", "--out", join(tmpdir(), "llmforge-qs-never")], { cwd: ROOT, stdio: "pipe" });
    } catch (err) {
      stderr = String((err as { stderr: Buffer }).stderr);
    }
    expect(stderr).toContain(`option '--stages <list>' argument 'data,pretraining' is invalid. unknown stage "pretraining" in --stages; the stages are data,tokenizer,shards,pretrain,sft,reward,rl`);
  }, 60_000);
});
