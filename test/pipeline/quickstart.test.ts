// The main job end to end at a tiny budget: every stage runs, every artifact lands in the run
// folder, the loss falls, and the summary says where things are.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/model/serialize.js";
import { formatQuickstartSummary, quickstart } from "../../src/pipeline/quickstart.js";

describe("quickstart", () => {
  it("runs data -> tokenizer -> shards -> pretraining -> eval -> sft -> rl -> samples and chat into one folder", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "llmforge-qs-")), "run");
    const s = await quickstart({ out, minutes: 0.6, maxDocs: 40, depth: 1, vocabSize: 600, blockSize: 64, batchSize: 8, progress: false });
    for (const p of [
      "data/report.md", "tokenizer/tokenizer.json", "shards/train_000000.bin", "model/model.safetensors", "model/config.json", "metrics.jsonl", "summary.json", "report.html",
      "sft_data/train.jsonl", "sft/model/model.safetensors", "sft/model/tokenizer_config.json", "sft/sft.json", "rl/model/model.safetensors", "rl/grpo.json",
    ]) {
      expect(existsSync(join(out, p)), p).toBe(true);
    }
    expect(s.data.kept).toBeGreaterThan(0);
    expect(s.training.steps).toBeGreaterThan(5);
    expect(s.training.val!.loss).toBeLessThan(s.training.initialVal!.loss);
    expect(s.samples).toHaveLength(3);
    expect(loadModel(join(out, "model")).config.nEmbd).toBe(64);
    expect(s.sft?.after.loss as number).toBeLessThan(s.sft?.before.loss as number);
    expect(s.sft?.chat).toHaveLength(3);
    expect(s.rl?.tasks.length).toBeGreaterThan(0);
    expect(s.rl?.steps).toBeGreaterThan(0);
    expect(s.rl?.before?.prompts).toBeGreaterThan(0);
    expect(formatQuickstartSummary(s)).toContain("rl (grpo)");
    expect(formatQuickstartSummary(s)).toContain(`everything is in ${out}`);
    expect(formatQuickstartSummary(s)).toContain("assistant:");
    expect(s.report).toBe(join(out, "report.html"));
  }, 120_000);
});
