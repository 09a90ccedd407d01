// `reward()` end to end on a tiny chat model: held-out pair accuracy rises on an easy synthetic
// preference set (and score MSE falls with bt+mse), the run resumes bit-identically, bad input is
// counted, and `llmforge reward score` writes one reward per answer; policy/RM folders are not confused.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { loadRewardModel } from "../../src/model/heads.js";
import { loadRun } from "../../src/model/runFolder.js";
import { saveModel } from "../../src/model/serialize.js";
import { pairLabelledRecords, RewardBatches, tokenizePreferences } from "../../src/reward/data.js";
import { scoreRecords } from "../../src/reward/score.js";
import { reward, type RewardOptions, splitByPrompt } from "../../src/reward/train.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { brokenWeightsCopy } from "../helpers/brokenRun.js";

const root = join(import.meta.dirname, "..", "..");
let dir: string;
let tok: Tokenizer;
const GOOD = ["great", "lovely", "superb", "fine"];
const BAD = ["awful", "rotten", "poor", "dull"];
const FILL = ["the", "film", "was", "plot", "and", "cast", "music", "really", "quite", "story", "end"];

/** One prompt, two answers: the one with a positive word is better; with scores, 1-5 by the word. */
function record(rng: Rng, scored: boolean): Record<string, unknown> {
  const filler = () => Array.from({ length: 3 + rng.int(3) }, () => FILL[rng.int(FILL.length)]);
  const say = (w: string) => {
    const f = filler();
    f.splice(rng.int(f.length + 1), 0, w);
    return f.join(" ");
  };
  const good = say(GOOD[rng.int(GOOD.length)]);
  const bad = say(BAD[rng.int(BAD.length)]);
  const flip = rng.int(2) === 1;
  const prompt = [{ role: "user", content: `review ${filler().join(" ")}` }];
  const responses = flip ? [bad, good] : [good, bad];
  const rec: Record<string, unknown> = { prompt, responses, pairs: [{ better: flip ? 1 : 0, worse: flip ? 0 : 1 }] };
  if (scored) rec.scores = { quality: flip ? [1 + rng.int(2), 4 + rng.int(2)] : [4 + rng.int(2), 1 + rng.int(2)] };
  return rec;
}

const lines = (rs: unknown[]) => `${rs.map((r) => JSON.stringify(r)).join("\n")}\n`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-reward-"));
  const rng = new Rng(11);
  writeFileSync(join(dir, "train.jsonl"), lines(Array.from({ length: 160 }, (_, i) => record(rng, i % 2 === 0))));
  writeFileSync(join(dir, "heldout.jsonl"), lines(Array.from({ length: 40 }, (_, i) => record(rng, i % 2 === 0))));
  tok = Tokenizer.trainFromTexts([...GOOD, ...BAD, ...FILL, "review", "user", "assistant"].map((w) => ` ${w}\n${w}`.repeat(4)), { vocabSize: 360 });
  mkdirSync(join(dir, "sft", "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "sft", "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  saveModel(join(dir, "sft", "model"), new GPT(makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: tok.vocabSize, initStd: 0.05 }), { seed: 3 }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (out: string, extra: Partial<RewardOptions> = {}): RewardOptions => ({
  model: join(dir, "sft"), data: [join(dir, "train.jsonl")], valData: [join(dir, "heldout.jsonl")], out,
  batchSize: 8, steps: 8, lr: 3e-3, warmupSteps: 2, evalEvery: 4, checkpointEvery: 4, seed: 5, progress: false, ...extra,
});

describe("reward", () => {
  it("raises held-out pair accuracy (bt+mse lowers score MSE) and writes a reward model folder", async () => {
    const out = join(dir, "rm");
    const s = await reward(opts(out, { loss: "bt+mse", steps: 60 }));
    expect(s.before?.pairAccuracy).toBeDefined();
    expect(s.after?.pairAccuracy as number).toBeGreaterThanOrEqual(0.9);
    expect(s.after?.pairAccuracy as number).toBeGreaterThan((s.before?.pairAccuracy as number) + 0.2);
    expect(s.after?.meanMargin as number).toBeGreaterThan(0.5);
    expect(s.after?.scoreMse as number).toBeLessThan((s.before?.scoreMse as number) * 0.75);
    expect(s.trainEval?.pairAccuracy as number).toBeGreaterThanOrEqual(0.9);
    for (const f of ["model/model.safetensors", "model/config.json", "model/tokenizer.json", "model/tokenizer_config.json", "reward.json", "metrics.jsonl"]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const cfg = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
    expect(cfg).toMatchObject({ architectures: ["GPT2ForSequenceClassification"], num_labels: 1, pad_token_id: tok.specialId("<|pad|>") });
    expect(cfg.llmforge_reward).toMatchObject({ loss: "bt+mse", score_range: [1, 5] });
    const log = new MetricsLog(join(out, "metrics.jsonl")).read();
    expect(log.some((r) => typeof r.val_pair_accuracy === "number" && typeof r.val_score_mse === "number")).toBe(true);
    expect(log.some((r) => typeof r.pair_accuracy === "number" && typeof r.margin === "number")).toBe(true);
    expect(loadRewardModel(join(out, "model")).model.config.vocabSize).toBe(tok.vocabSize);
  }, 120_000);

  it("resumes exactly: resuming from the step-4 checkpoint logs the same losses as the uninterrupted run", async () => {
    const out = join(dir, "resume");
    await reward(opts(out));
    const losses = () => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number").map((r) => r.loss);
    const whole = losses();
    expect(whole).toHaveLength(8);
    rmSync(join(out, "checkpoints", "step_00000008"), { recursive: true, force: true });
    const s = await reward(opts(out, { resume: true }));
    expect(s.training.steps).toBe(8);
    expect(losses()).toEqual(whole);
    await expect(reward(opts(out, { resume: true, loss: "mse" }))).rejects.toThrow(/--loss "?bt"?/);
  }, 120_000);

  it("dropout acts while training only (held-out scores unchanged) and resumes exactly", async () => {
    const trainLosses = (out: string) => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number").map((r) => r.loss);
    const plain = await reward(opts(join(dir, "nodrop"), { steps: 4 }));
    const out = join(dir, "drop");
    const dropped = await reward(opts(out, { dropout: 0.3 }));
    expect(dropped.before).toEqual(plain.before);
    const whole = trainLosses(out);
    expect(whole.slice(0, 4)).not.toEqual(trainLosses(join(dir, "nodrop")));
    rmSync(join(out, "checkpoints", "step_00000008"), { recursive: true, force: true });
    await reward(opts(out, { dropout: 0.3, resume: true }));
    expect(trainLosses(out)).toEqual(whole);
    await expect(reward(opts(join(dir, "drop1"), { dropout: 1 }))).rejects.toThrow(/dropout must be in \[0, 1\)/);
  }, 120_000);

  it("a curriculum trains its first steps on --curriculum-data, then on --data, and resumes exactly across the switch", async () => {
    const trainLosses = (out: string) => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number").map((r) => r.loss);
    const rng = new Rng(23);
    writeFileSync(join(dir, "first.jsonl"), lines(Array.from({ length: 48 }, () => record(rng, false))));
    const first = join(dir, "first.jsonl");
    // the first phase alone: the same batches and learning rates as a run on the curriculum records only
    await reward(opts(join(dir, "firstOnly"), { data: [first] }));
    const out = join(dir, "curriculum");
    await reward(opts(out, { curriculumData: [first], curriculumSteps: 5 }));
    const whole = trainLosses(out);
    expect(whole).toHaveLength(8);
    expect(whole.slice(0, 5)).toEqual(trainLosses(join(dir, "firstOnly")).slice(0, 5));
    expect(whole.slice(5)).not.toEqual(trainLosses(join(dir, "firstOnly")).slice(5));
    // the step-4 checkpoint is inside the first phase: resuming crosses the switch as the uninterrupted run did
    rmSync(join(out, "checkpoints", "step_00000008"), { recursive: true, force: true });
    await reward(opts(out, { curriculumData: [first], curriculumSteps: 5, resume: true }));
    expect(trainLosses(out)).toEqual(whole);
    await expect(reward(opts(out, { curriculumData: [first], curriculumSteps: 3, resume: true }))).rejects.toThrow(/--curriculum-steps/);
    await expect(reward(opts(join(dir, "cur1"), { curriculumSteps: 3 }))).rejects.toThrow(/--curriculum-data and --curriculum-steps go together/);
    await expect(reward(opts(join(dir, "cur2"), { curriculumData: [first], curriculumSteps: 8 }))).rejects.toThrow(/leaves no step for --data/);
  }, 120_000);

  it("counts bad input: too-long answers, identical answers, out-of-range scores, malformed lines; never trains on them", async () => {
    const rng = new Rng(2);
    const bad = [
      ...Array.from({ length: 16 }, () => record(rng, false)),
      { prompt: "p", responses: ["same answer", "same answer"], pairs: [{ better: 0, worse: 1 }] },
      { prompt: "p", responses: ["a", "b"], pairs: [{ better: 0, worse: 1 }], scores: { q: [9, 1] } },
      { prompt: "p", responses: ["a", "b"], pairs: [{ better: 0, worse: 5 }] },
      { prompt: "long", responses: [`${"great ".repeat(60)}`, "awful"], pairs: [{ better: 0, worse: 1 }] },
    ];
    writeFileSync(join(dir, "bad.jsonl"), `${lines(bad)}{not json\n`);
    const s = await reward(opts(join(dir, "bad"), { data: [join(dir, "bad.jsonl")], steps: 2 }));
    expect(s.rejected).toBe(3); // identical answers (no pair left), a pair naming answer 6, the broken line
    expect(s.train.scoresOutOfRange).toBe(1); // the 9 on a 1-5 scale: its pair is kept, the score is not a target
    expect(s.train.tooLong).toBe(1);
    expect(s.train.pairsDropped).toBe(1);
    expect(s.train.skipped).toEqual({ "too-long": 1 });
    expect(s.train.kept).toBe(17);
    const stats = readFileSync(join(dir, "bad", "data_stats.md"), "utf8");
    expect(stats).toMatch(/bad\.jsonl:\d+/);
    // the records are read before the model is loaded: a missing --data file is named even when the weights are broken
    const broken = brokenWeightsCopy(join(dir, "sft"), join(dir, "broken-sft"));
    await expect(reward(opts(join(dir, "bad2"), { model: broken, data: [join(dir, "missing.jsonl")] }))).rejects.toThrow(/missing\.jsonl does not exist/);
  }, 60_000);

  it("left truncation cuts the oldest prompt tokens, never the answer, and keeps every batch a whole prompt", () => {
    const recs = [{ prompt: [{ role: "user" as const, content: "the film ".repeat(30) }], responses: ["great", "awful"], pairs: [{ better: 0, worse: 1 }] }];
    const skip = tokenizePreferences(tok, recs, { maxLen: 24 });
    expect(skip.report).toMatchObject({ kept: 0, tooLong: 2, skipped: { "too-long": 1 } });
    const left = tokenizePreferences(tok, recs, { maxLen: 24, truncation: "left" });
    expect(left.report).toMatchObject({ kept: 1, truncated: 2 });
    for (const s of left.examples[0].seqs) {
      expect(s.length).toBe(24);
      expect(tok.decode(Array.from(s))).toMatch(/<\|im_start\|>assistant\n(great|awful)<\|im_end\|>$/);
    }
    const b = new RewardBatches(left.examples, { batchSize: 3, padId: 0, seed: 1 }).next();
    expect(b.groups.map((g) => g.count)).toEqual([2, 2, 2]);
  });

  it("unpaired labels (KTO) pair up per prompt; the held-out split keeps each prompt on one side", () => {
    const u = (content: string) => [{ role: "user" as const, content }];
    const kto = [
      { prompt: u("a"), responses: ["great"], pairs: [], labels: [true] },
      { prompt: u("b"), responses: ["fine"], pairs: [], labels: [true] },
      { prompt: u("a"), responses: ["awful"], pairs: [], labels: [false] },
      { prompt: u("a"), responses: ["poor"], pairs: [], labels: [false] },
    ];
    const merged = pairLabelledRecords(kto);
    expect(merged).toHaveLength(2);
    expect(merged[0]).toMatchObject({ responses: ["great", "awful", "poor"], pairs: [{ better: 0, worse: 1 }, { better: 0, worse: 2 }] });
    const { report } = tokenizePreferences(tok, kto, { maxLen: 64 });
    expect(report).toMatchObject({ records: 2, kept: 1, pairs: 2, skipped: { "no-pairs": 1 } });
    const many = Array.from({ length: 200 }, (_, i) => ({ prompt: u(`p${i % 50}`), responses: ["x", "y"], pairs: [{ better: 0, worse: 1 }] }));
    const { train, heldout } = splitByPrompt(many, 0.2, 7);
    expect(heldout.length).toBeGreaterThan(10);
    expect(train.length + heldout.length).toBe(200);
    const side = new Set(heldout.map((r) => r.prompt[0].content));
    expect(train.some((r) => side.has(r.prompt[0].content))).toBe(false);
  });

  it("`llmforge reward score` writes a reward per answer; policy and reward model folders are not confused", async () => {
    const rmRun = join(dir, "rm");
    const outFile = join(dir, "scored.jsonl");
    writeFileSync(join(dir, "new.jsonl"), lines([{ prompt: "review the film", responses: ["the film was great", "the film was awful", "fine"] }, { chosen: "superb", rejected: "dull", prompt: "review" }]));
    const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(root, "src", "cli", "main.ts"), ...args], { cwd: root, encoding: "utf8" });
    const r = cli(["reward", "score", "--model", rmRun, "--data", join(dir, "new.jsonl"), "--out", outFile]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/scored 5 answers of 2 records.*pair accuracy 100\.0% over 1 pairs/);
    const scored = readFileSync(outFile, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(scored[0].rewards).toHaveLength(3);
    expect(scored[0].rewards[0]).toBeGreaterThan(scored[0].rewards[1]);
    const lib = await scoreRecords({ model: join(rmRun, "model"), data: [join(dir, "new.jsonl")], out: join(dir, "scored2.jsonl") });
    expect(lib.pairAccuracy).toBe(1);
    expect(readFileSync(join(dir, "scored2.jsonl"), "utf8")).toBe(readFileSync(outFile, "utf8"));
    // A reward model is not a policy, and a policy is not a reward model.
    expect(() => loadRun(rmRun)).toThrow(/holds a reward model.*cannot generate text/);
    const asPolicy = cli(["reward", "--model", rmRun, "--data", join(dir, "train.jsonl"), "--out", join(dir, "x")]);
    expect(asPolicy.status).toBe(1);
    expect(asPolicy.stderr).toMatch(/llmforge: .*holds a reward model/);
    const asRm = cli(["reward", "score", "--model", join(dir, "sft"), "--data", join(dir, "new.jsonl"), "--out", join(dir, "y.jsonl")]);
    expect(asRm.status).toBe(1);
    expect(asRm.stderr).toMatch(/llmforge: .*holds a language model .*not a reward model/);
    expect(asRm.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});
