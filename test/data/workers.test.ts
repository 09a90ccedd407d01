// The map steps' worker plumbing: lanes (this thread and worker threads) give results in task order and the same
// output bytes and stats whatever the worker count; a failure in either kind of lane names its cause.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runMapStep, runWorkerTasks, type ShardTask } from "../../src/data/mapSteps.js";
import type { DataStatsJson } from "../../src/data/stats.js";
import { JsonlWriter } from "../../src/io/jsonl.js";

const root = mkdtempSync(join(tmpdir(), "llmforge-workers-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes shards of unequal sizes (so that the largest-first order differs from the shard order). */
function writeShards(dir: string, sizes: number[]): void {
  sizes.forEach((n, s) => {
    const w = new JsonlWriter(join(dir, `part-${s}.jsonl`));
    for (let i = 0; i < n; i++)
      w.write({ id: `${s}-${i}`, text: `Write to user${i}@example.com or call 212-555-01${String(i % 100).padStart(2, "0")}. The committee met on Tuesday and agreed on the budget for the coming year, after a long debate.\n\nToken: ghp_${"aB3dE5".repeat(6)} was rotated.`, source: `src${s % 2}`, meta: {} });
    w.close();
  });
}

const withoutTimes = (s: DataStatsJson) => JSON.stringify({ ...s, seconds: 0 });

describe("map steps on worker lanes", () => {
  const input = join(root, "in");
  writeShards(input, [3, 40, 7, 25, 1]);

  for (const step of ["process", "pii"] as const)
    it(`${step}: byte-identical shards and the same stats with 1, 2 and 3 workers`, async () => {
      const runs = [];
      for (const workers of [1, 2, 3]) runs.push(await runMapStep(step, {}, { inputs: [input], outDir: join(root, `${step}${workers}`), workers, progress: false }));
      const bytes = runs.map((r) => r.outputs.map((p) => readFileSync(p, "utf8")));
      expect(bytes[1]).toEqual(bytes[0]);
      expect(bytes[2]).toEqual(bytes[0]);
      if (step === "pii") expect(bytes[0].join("")).toContain("<API_KEY>");
      const stats = runs.map((r) => withoutTimes(r.stats.toJSON()));
      expect(stats[1]).toBe(stats[0]);
      expect(stats[2]).toBe(stats[0]);
    }, 60_000);

  const task = (i: number, file: string): ShardTask => ({ kind: "map", step: "pii", config: {}, input: file, output: join(root, "tasks", `part-${i}.jsonl`), onError: "fail" });

  it("returns results in task order and calls back once per task", async () => {
    const tasks = [0, 1, 2, 3, 4].map((s) => task(s, join(input, `part-${s}.jsonl`)));
    const seen: number[] = [];
    const results = (await runWorkerTasks(tasks, 2, (i) => seen.push(i))) as DataStatsJson[];
    expect(results.map((r) => r.docsIn)).toEqual([3, 40, 7, 25, 1]);
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  }, 60_000);

  it("a failure on a worker thread or on this thread rejects with its cause", async () => {
    const ok = task(0, join(input, "part-0.jsonl"));
    const missing = task(1, join(root, "no-such-shard.jsonl"));
    // with two lanes the worker thread takes the first task and this thread the second
    await expect(runWorkerTasks([missing, ok], 2)).rejects.toThrow(/no-such-shard/);
    await expect(runWorkerTasks([ok, missing], 2)).rejects.toThrow(/no-such-shard/);
  }, 60_000);
});
