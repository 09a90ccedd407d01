// The main job end to end at a tiny budget: every stage runs, every artifact lands in the run
// folder, the loss falls, and the summary table says what each stage consumed, made and gained.
// Then a second call with --stages reward trains only the reward model, reading the SFT model the
// first call left and keeping every other stage's output.
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/model/serialize.js";
import { formatQuickstartSummary, QUICKSTART_STAGES, quickstart } from "../../src/pipeline/quickstart.js";

describe("quickstart", () => {
  it("runs data -> tokenizer -> shards -> pretraining -> sft -> reward -> rl -> samples and chat into one folder; --stages reward reuses the rest", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "llmforge-qs-")), "run");
    const tiny = { out, maxDocs: 40, depth: 1, vocabSize: 600, blockSize: 64, batchSize: 8, progress: false };
    const s = await quickstart({ ...tiny, minutes: 0.6 });
    for (const p of [
      "data/report.md", "tokenizer/tokenizer.json", "shards/train_000000.bin", "model/model.safetensors", "model/config.json", "metrics.jsonl", "summary.json", "report.html",
      "sft_data/train.jsonl", "sft/model/model.safetensors", "sft/model/tokenizer_config.json", "sft/sft.json", "rl/model/model.safetensors", "rl/grpo.json",
    ]) {
      expect(existsSync(join(out, p)), p).toBe(true);
    }
    expect(s.data?.kept).toBeGreaterThan(0);
    expect(s.training?.steps).toBeGreaterThan(5);
    expect(s.training?.val?.loss as number).toBeLessThan(s.training?.initialVal?.loss as number);
    expect(s.samples).toHaveLength(3);
    expect(loadModel(join(out, "model")).config.nEmbd).toBe(64);
    expect(s.sft?.after.loss as number).toBeLessThan(s.sft?.before.loss as number);
    expect(s.sft?.chat).toHaveLength(3);
    expect(s.rl?.tasks.length).toBeGreaterThan(0);
    expect(s.rl?.steps).toBeGreaterThan(0);
    expect(s.rl?.before?.prompts).toBeGreaterThan(0);
    expect(s.chatModel).toBe(join(out, "rl"));

    // The table: one row per stage, in order; a 36 s budget plans the reward model 3.6 s, too few to learn, and it says so.
    expect(s.stages.map((r) => r.stage)).toEqual([...QUICKSTART_STAGES]);
    const byStage = Object.fromEntries(s.stages.map((r) => [r.stage, r]));
    for (const st of ["data", "tokenizer", "shards", "pretrain", "sft", "rl"]) {
      expect(byStage[st].status, st).toBe("ran");
      expect(byStage[st].seconds, st).toBeGreaterThan(0);
      expect(byStage[st].produced, st).toMatch(new RegExp(`^${out}`));
    }
    expect(byStage.data.figures.kept).toBe(s.data?.kept);
    expect(byStage.tokenizer.gain).toMatch(/^\d+\.\d\d bytes\/token/);
    expect(byStage.pretrain.gain).toBe(`val loss ${s.training?.initialVal?.loss.toFixed(3)} -> ${s.training?.val?.loss.toFixed(3)}`);
    expect(byStage.sft.gain).toMatch(/^held-out exact match \d+\.\d% -> \d+\.\d%$/);
    expect(byStage.rl.gain).toMatch(/^held-out solved \d+\.\d% -> \d+\.\d% \(GRPO on /);
    expect(byStage.reward.status).toBe("skipped");
    expect(byStage.reward.note).toBe("the budget gives it 3.6 s, under the 6 s it needs to learn anything measurable; give more --minutes");
    expect(s.reward).toBeNull();
    const text = formatQuickstartSummary(s);
    expect(text).toMatch(/\n {2}stage +status +time +consumed +produced +gain\n {2}data +ran +\d+ s +\d+ documents +data +kept \d+, removed \d+\n/);
    expect(text).toMatch(/\n {2}reward +skipped +- +- +- +\(the budget gives it 3\.6 s/);
    expect(text).toContain(`everything is in ${out}`);
    expect(text).toContain("assistant:");
    expect(s.report).toBe(join(out, "report.html"));
    const json = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(json.stages).toEqual(JSON.parse(JSON.stringify(s.stages)));

    // Only the reward model now: it reads the SFT model; the other stages' outputs stay as they were.
    const modelTime = statSync(join(out, "model", "model.safetensors")).mtimeMs;
    const rlTime = statSync(join(out, "rl", "model", "model.safetensors")).mtimeMs;
    const r = await quickstart({ ...tiny, minutes: 0.75, stages: ["reward"] });
    expect(r.ran).toEqual(["reward"]);
    expect(existsSync(join(out, "reward", "model", "model.safetensors"))).toBe(true);
    expect(existsSync(join(out, "reward_data", "heldout.jsonl"))).toBe(true);
    // the recommended mix, its curriculum records first (90 steps: 2 per planned second)
    expect(existsSync(join(out, "reward_data", "curriculum.jsonl"))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "reward", "run.json"), "utf8")).options).toMatchObject({ curriculumSteps: 90, curriculumData: [join(out, "reward_data", "curriculum.jsonl")] });
    expect(statSync(join(out, "model", "model.safetensors")).mtimeMs).toBe(modelTime);
    expect(statSync(join(out, "rl", "model", "model.safetensors")).mtimeMs).toBe(rlTime);
    const rows = Object.fromEntries(r.stages.map((x) => [x.stage, x]));
    expect(rows.reward.status).toBe("ran");
    for (const st of ["data", "tokenizer", "shards", "pretrain", "sft", "rl"]) expect(rows[st].status, st).toBe("reused");
    expect(rows.sft.gain).toBe(byStage.sft.gain);
    expect(r.reward?.steps).toBeGreaterThan(0);
    expect(r.reward?.after?.pairs).toBeGreaterThan(0);
    expect(r.reward?.after?.byTask?.sentiment?.pairs).toBeGreaterThan(0);
    expect(r.reward?.afinnSentiment).toBeGreaterThan(0.5);
    // the pairs a 93k-parameter model learns in seconds: a complete answer over one that runs on (instructions)
    expect(r.reward?.after?.byTask?.instructions?.pairAccuracy as number).toBeGreaterThan(r.reward?.before?.byTask?.instructions?.pairAccuracy as number);
    expect(rows.reward.gain).toMatch(/^held-out pair accuracy \d+\.\d% -> \d+\.\d%, sentiment \d+\.\d% -> \d+\.\d% \(AFINN lexicon \d+\.\d%\)$/);
    expect(r.chatModel).toBe(join(out, "rl"));
    expect(r.sft?.chat).toHaveLength(3);
    expect(JSON.parse(readFileSync(join(out, "quickstart.json"), "utf8")).options.stages).toEqual(["reward"]);
  }, 300_000);
});
