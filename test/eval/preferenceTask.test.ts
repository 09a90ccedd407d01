// Reward-model pair accuracy as an eval task: rewards equal the model's own on each unpadded answer, pair accuracy
// and margin overall and per meta.task, answers past the block left out, resume; records in any preference format
// with file:line errors; the built-in `preferences` task; the CLI (--save for the run report) refusing a policy where a
// reward model is needed and the reverse.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluatePreferenceTask, preferenceMetrics, type PreferenceResultRecord, readResults, type RewardScorer } from "../../src/eval/harness.js";
import { builtinPreferenceTask, loadPreferenceTaskFile, TaskSpecError } from "../../src/eval/tasks.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { RewardModel, saveRewardModel, trunkOf } from "../../src/model/heads.js";
import { saveModel } from "../../src/model/serialize.js";
import { answerSequence } from "../../src/reward/data.js";
import { collectRunReport } from "../../src/report/runReport.js";
import { buildPreferenceMix } from "../../src/reward/preferenceMix.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad } from "../../src/tensor/tensor.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { CLI, ROOT } from "../helpers/tinyShards.js";

const WORDS = ["great", "lovely", "awful", "rotten", "the", "film", "was", "plot", "and", "cast", "review", "user", "assistant", "write"];
const tok = Tokenizer.trainFromTexts(WORDS.map((w) => ` ${w}\n${w}`.repeat(4)), { vocabSize: 300 });
const config = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 48, vocabSize: tok.vocabSize, initStd: 0.2 });
const rm = new RewardModel(trunkOf(new GPT(config, { seed: 4, dtype: "f64", backend: "ref" })), { seed: 9 });
const scorer: RewardScorer = { model: rm, tokenizer: tok, template: CHATML_TEMPLATE };
const user = (content: string) => [{ role: "user", content }];

let dir: string;
let prefs: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-evalprefs-"));
  prefs = join(dir, "prefs.jsonl");
  const lines = [
    { prompt: "write a review", chosen: "the film was great", rejected: "the plot was awful", meta: { task: "sentiment" } }, // pairwise (TRL)
    { prompt: user("review the cast"), responses: ["lovely cast", "rotten cast", "the cast"], ranking: [1, 3, 2], meta: { task: "ranked" } }, // ranking
    { prompt: user("review the plot"), responses: ["great plot", "awful plot"], pairs: [{ better: 0, worse: 1 }], meta: { task: "sentiment" } }, // native
    { prompt: user("write"), responses: [`${"the film was great and ".repeat(12)}`, "awful"], pairs: [{ better: 0, worse: 1 }] }, // answer past the block
    { prompt: "review it", completion: "great film", label: true }, // KTO: merged per prompt
    { prompt: "review it", completion: "awful film", label: false },
  ];
  writeFileSync(prefs, `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
});

/** The reward of one answer from one unpadded forward pass. */
function directReward(prompt: { role: string; content: string }[], answer: string): number {
  const seq = answerSequence(tok, prompt as never, answer, { template: CHATML_TEMPLATE });
  return noGrad(() => rm.rewards(ids(seq, [1, seq.length]), Int32Array.of(seq.length)).toTypedArray()[0]);
}

describe("preference task", () => {
  it("reads every preference format; pair accuracy and margin from the model's own rewards, per meta.task", () => {
    const task = loadPreferenceTaskFile(prefs);
    return task.then((t) => {
      expect(t.name).toBe("prefs");
      expect(t.records.map((r) => r.record.pairs.length)).toEqual([1, 3, 1, 1, 1]);
      const out = join(dir, "r.jsonl");
      const res = evaluatePreferenceTask(scorer, t, { batchSize: 2, out });
      const recs = readResults(out) as PreferenceResultRecord[];
      expect(recs).toHaveLength(5);
      let correct = 0;
      let margin = 0;
      let n = 0;
      for (const [i, { record }] of t.records.entries()) {
        const rec = recs[i];
        record.responses.forEach((a, k) => {
          if (rec.rewards[k] === null) return;
          expect(rec.rewards[k] as number).toBeCloseTo(directReward(record.prompt, a), 9);
        });
        for (const [b, w] of rec.pairs) {
          const d = (rec.rewards[b] as number) - (rec.rewards[w] as number);
          correct += d > 0 ? 1 : 0;
          margin += d;
          n++;
        }
      }
      expect(recs[3].rewards[0]).toBeNull(); // longer than the block: left out with its pair
      expect(res).toMatchObject({ kind: "preference", examples: 5, pairs: 6, pairsTooLong: 1 });
      expect(n).toBe(6);
      expect(res.metrics.pair_acc).toBeCloseTo(correct / n, 12);
      expect(res.metrics.margin).toBeCloseTo(margin / n, 12);
      expect(Object.keys(res.groups ?? {})).toEqual(["ranked", "sentiment"]);
      expect(res.groups?.sentiment.metrics).toEqual(preferenceMetrics(recs.filter((r) => r.group === "sentiment")));
      // a rerun resumes from the file and gives the same figures
      const again = evaluatePreferenceTask(scorer, t, { batchSize: 4, out });
      expect(again.resumed).toBe(5);
      expect(again.metrics).toEqual(res.metrics);
    });
  });

  it("names file:line of a record it cannot read; an empty task is an error", async () => {
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, `${JSON.stringify({ prompt: "p", chosen: "a", rejected: "b" })}\n${JSON.stringify({ prompt: "p", responses: ["a", "b"], pairs: [{ better: 0, worse: 7 }] })}\n`);
    await expect(loadPreferenceTaskFile(bad)).rejects.toThrow(TaskSpecError);
    await expect(loadPreferenceTaskFile(bad)).rejects.toThrow(/bad\.jsonl:2: /);
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, "\n");
    await expect(loadPreferenceTaskFile(empty)).rejects.toThrow(/no preference pair \(an empty task\)/);
  });

  it("the built-in `preferences` task is the preference mix's held-out split", () => {
    const t = builtinPreferenceTask(1234);
    const held = buildPreferenceMix({ seed: 1234 }).heldout.filter((r) => r.pairs.length > 0);
    expect(t.records.map((r) => r.record)).toEqual(held);
    expect(new Set(t.records.map((r) => r.record.meta?.task))).toEqual(new Set(["sentiment", "vader", "instructions"]));
  });
});

describe("llmforge eval --task on a reward model", () => {
  it("prints pair accuracy for a reward model, and refuses a policy for preferences and a reward model for policy tasks", () => {
    const rmRun = join(dir, "rm");
    mkdirSync(join(rmRun, "model"), { recursive: true });
    saveRewardModel(join(rmRun, "model"), rm);
    writeFileSync(join(rmRun, "model", "tokenizer.json"), tok.toHuggingFaceJson());
    const policy = join(dir, "policy");
    mkdirSync(join(policy, "model"), { recursive: true });
    saveModel(join(policy, "model"), new GPT(config, { seed: 1 }));
    writeFileSync(join(policy, "tokenizer.json"), tok.toHuggingFaceJson());
    const run = (model: string, ...args: string[]) => spawnSync(process.execPath, [...CLI, "eval", "--model", model, ...args], { cwd: ROOT, encoding: "utf8" });

    const ok = run(rmRun, "--task", prefs, "--json", "--save");
    expect(ok.status, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout).results[0];
    expect(r).toMatchObject({ task: "prefs", kind: "preference", examples: 5, pairs: 6, pairsTooLong: 1 });
    expect(r.metrics.pair_acc).toBeGreaterThanOrEqual(0);
    expect(Object.keys(r.groups)).toEqual(["ranked", "sentiment"]);
    // --save keeps the document where `llmforge report` finds it
    const saved = JSON.parse(readFileSync(join(rmRun, "eval", "prefs.json"), "utf8"));
    expect(saved.results[0].metrics).toEqual(r.metrics);
    const report = collectRunReport(rmRun);
    expect(report.evaluations.map((e) => [e.file, e.rows.map((x) => x.group ?? x.task)])).toEqual([[join("eval", "prefs.json"), ["prefs", "ranked", "sentiment"]]]);
    const table = run(rmRun, "--task", prefs);
    expect(table.stdout).toMatch(/^prefs \(preference, 5 records, 6 pairs, 1 left out .*\): pair_acc \d\.\d{4} ±\d\.\d{4}\s+margin -?\d\.\d{4}/);
    expect(table.stdout).toMatch(/\n {2}sentiment \(2\): pair_acc/);

    const policyForPrefs = run(policy, "--task", "preferences");
    expect(policyForPrefs.status).toBe(1);
    expect(policyForPrefs.stderr).toMatch(/holds a language model \(a policy\), but preferences measures a reward model's pair accuracy/);
    const rmForPolicy = run(rmRun, "--task", "sentiment");
    expect(rmForPolicy.status).toBe(1);
    expect(rmForPolicy.stderr).toMatch(/holds a reward model, but sentiment needs a language model/);
  }, 120_000);
});
