// `llmforge eval --task ...` end to end in a child process: built-in and file tasks on a tiny saved run,
// JSON output, resume from --out, and `--data` still measuring loss on a shard.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeRun } from "../../src/infer/quantModel.js";
import { makeConfig } from "../../src/model/config.js";
import { exportGguf } from "../../src/model/exportGguf.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { CLI, ROOT, writeTinyShards } from "../helpers/tinyShards.js";

interface CliTaskResult {
  task: string;
  examples: number;
  resumed: number;
  metrics: Record<string, number>;
}

describe("llmforge eval --task", () => {
  it("runs built-in and file tasks, prints JSON, resumes from --out; --data still works", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-evalcli-"));
    const { tok, shards } = writeTinyShards(dir);
    const model = new GPT(makeConfig({ flavour: "gpt2", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 64, vocabSize: tok.vocabSize }), { seed: 1 });
    mkdirSync(join(dir, "model"));
    saveModel(join(dir, "model"), model);
    const spec = join(dir, "mc.json");
    writeFileSync(spec, JSON.stringify({ name: "mc", kind: "multiple_choice", prompt: "{q}", shots: 1, data: "mc.jsonl" }));
    writeFileSync(join(dir, "mc.jsonl"), ["the cat", "the dog", "birds"].map((q) => JSON.stringify({ q, options: ["sat", "ran", "sang"], answer: "sat" })).join("\n"));
    const out = join(dir, "results.jsonl");
    const run = (...args: string[]) => spawnSync(process.execPath, [...CLI, "eval", "--model", dir, ...args], { cwd: ROOT, encoding: "utf8" });

    const first = run("--task", "sentiment", spec, "--limit", "2", "--json", "--out", out);
    expect(first.status, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout) as { results: CliTaskResult[] };
    expect(a.results.map((r) => [r.task, r.examples, r.resumed])).toEqual([["sentiment", 2, 0], ["mc", 2, 0]]);
    expect(readFileSync(out, "utf8").trim().split("\n")).toHaveLength(5);

    const second = run("--task", "sentiment", spec, "--json", "--limit", "3", "--out", out);
    expect(second.status, second.stderr).toBe(0);
    const b = JSON.parse(second.stdout) as { results: CliTaskResult[] };
    expect(b.results.map((r) => [r.task, r.examples, r.resumed])).toEqual([["sentiment", 3, 2], ["mc", 3, 2]]);

    const table = run("--task", spec);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^mc \(multiple_choice, 1-shot, 3 examples\): acc \d\.\d{4} ±\d\.\d{4}\s+acc_norm .*options\/s/);

    const bad = run("--task", "no-such-task");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown task "no-such-task"; built-in tasks: wordnet-definition-mc, sentiment, arithmetic/);
    const neither = run();
    expect(neither.stderr).toMatch(/give exactly one of --data SHARD .* or --task/);

    const loss = run("--data", join(shards, "val_000000.bin"), "--json");
    expect(loss.status, loss.stderr).toBe(0);
    const ppl = JSON.parse(loss.stdout).perplexity;
    expect(ppl).toBeGreaterThan(1);

    // a quantised run and a GGUF file measure on a shard as the run they came from (the GGUF brings its tokenizer)
    quantizeRun({ model: dir, to: "int8", out: join(dir, "q8") });
    exportGguf({ model: dir, out: join(dir, "m.gguf"), type: "f32" });
    for (const m of [join(dir, "q8"), join(dir, "m.gguf")]) {
      const r = spawnSync(process.execPath, [...CLI, "eval", "--model", m, "--data", join(shards, "val_000000.bin"), "--json"], { cwd: ROOT, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout);
      expect(Math.abs(got.perplexity / ppl - 1)).toBeLessThan(0.01);
      expect(got.bits_per_byte).toBeGreaterThan(0);
    }
  }, 120_000);
});
