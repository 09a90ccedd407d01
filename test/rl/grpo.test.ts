// The RL engine pieces and `grpo()` end to end on a tiny chat model: batched group sampling equals one-at-a-time
// greedy generation, completion log-probs equal the model's cross-entropy row by row (padding changes nothing), the
// mean reward of a learnable reward rises, the run resumes exactly (sampler RNG and prompt cursor in the checkpoint),
// and bad input gives clear errors.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "../../src/infer/generate.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { RewardModel, saveRewardModel, trunkOf } from "../../src/model/heads.js";
import { saveModel } from "../../src/model/serialize.js";
import { collectGroups, grpo, type GrpoOptions, type SampledGroup, zeroSpread } from "../../src/rl/grpo.js";
import { ppo, type PpoOptions } from "../../src/rl/ppo.js";
import { sampleGroups } from "../../src/infer/sampleGroups.js";
import { completionLogps } from "../../src/rl/rollout.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad } from "../../src/tensor/tensor.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { brokenWeightsCopy } from "../helpers/brokenRun.js";

let dir: string;
let tok: Tokenizer;
const WORDS = ["apple", "seven", "green", "river", "stone", "cloud", "tiger", "lemon", "house", "music", "paper", "dream"];
const lines = (rs: unknown[]) => `${rs.map((r) => JSON.stringify(r)).join("\n")}\n`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-grpo-"));
  const rng = new Rng(4);
  const qa = (i: number) => ({ question: `word ${WORDS[i % WORDS.length]} ${WORDS[rng.int(WORDS.length)]}`, answer: WORDS[(i + 3) % WORDS.length] });
  writeFileSync(join(dir, "task.jsonl"), lines(Array.from({ length: 60 }, (_, i) => qa(i))));
  writeFileSync(join(dir, "empty.jsonl"), "");
  // a reward the tiny model can learn fast: the share of the letter "e" in the answer
  writeFileSync(join(dir, "reward_e.mjs"), "export function reward(prompt, completion) { return completion.length ? (completion.match(/e/g) ?? []).length / completion.length : 0; }\n");
  writeFileSync(join(dir, "reward_throws.mjs"), "export default function () { throw new Error('no reward today'); }\n");
  tok = Tokenizer.trainFromTexts([...WORDS, "word", "user", "assistant", "eee", "the"].map((w) => ` ${w}\n${w}`.repeat(4)), { vocabSize: 360 });
  mkdirSync(join(dir, "sft", "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "sft", "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  const gpt = new GPT(makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: tok.vocabSize, initStd: 0.05 }), { seed: 3 });
  saveModel(join(dir, "sft", "model"), gpt);
  mkdirSync(join(dir, "rm", "model"), { recursive: true });
  writeFileSync(join(dir, "rm", "model", "tokenizer.json"), tok.toHuggingFaceJson());
  saveRewardModel(join(dir, "rm", "model"), new RewardModel(trunkOf(gpt), { seed: 1 }), { padTokenId: null, eosTokenId: tok.specialId("<|im_end|>") });
  // a reward model whose tokenizer splits text differently (same vocabulary size)
  const other = Tokenizer.trainFromTexts(["zebra quartz", "jumping fox", "user assistant"].map((w) => ` ${w}\n${w}`.repeat(6)), { vocabSize: tok.vocabSize });
  mkdirSync(join(dir, "rm-other", "model"), { recursive: true });
  writeFileSync(join(dir, "rm-other", "model", "tokenizer.json"), other.toHuggingFaceJson());
  saveRewardModel(join(dir, "rm-other", "model"), new RewardModel(trunkOf(gpt), { seed: 1 }), { padTokenId: null, eosTokenId: other.specialId("<|im_end|>") });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (out: string, extra: Partial<GrpoOptions> = {}): GrpoOptions => ({
  model: join(dir, "sft"), task: join(dir, "task.jsonl"), reward: join(dir, "reward_e.mjs"), out, group: 4, maxTokens: 6,
  batchSize: 4, steps: 6, lr: 1e-2, warmupSteps: 1, evalEvery: 3, checkpointEvery: 3, seed: 5, progress: false, ...extra,
});
const stepRows = (out: string) => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number");

describe("infer/sampleGroups and rl/rollout", () => {
  const model = new GPT(makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 32, vocabSize: 40 }), { seed: 8 });
  const prompts = [[1, 2, 3, 4, 5], [7], [9, 10, 11]];

  it("greedy groups equal one-at-a-time greedy generation, prompts of different lengths decoded together", () => {
    const s = sampleGroups(model, prompts, { group: 3, maxTokens: 10, temperature: 0, stopTokens: [], rng: new Rng(1) });
    prompts.forEach((p, i) => {
      const want = generate(model, p, { maxTokens: 10, temperature: 0 }).tokens;
      for (const c of s.completions[i]) {
        expect(c.tokens).toEqual(want);
        expect(c.finish).toBe("length");
      }
    });
    expect(s.tokens).toBe(3 * 3 * 10);
  });

  it("a stop token ends a completion and is kept as its last token; sampling is reproducible for a seed", () => {
    const greedy = generate(model, prompts[0], { maxTokens: 10, temperature: 0 }).tokens;
    const stop = greedy[3];
    const s = sampleGroups(model, [prompts[0]], { maxTokens: 10, temperature: 0, stopTokens: [stop], rng: new Rng(1) });
    const c = s.completions[0][0];
    expect(c.tokens).toEqual(greedy.slice(0, greedy.indexOf(stop) + 1));
    expect(c.finish).toBe("stop_token");
    const a = sampleGroups(model, prompts, { group: 4, maxTokens: 8, temperature: 1, stopTokens: [], rng: new Rng(9) });
    const b = sampleGroups(model, prompts, { group: 4, maxTokens: 8, temperature: 1, stopTokens: [], rng: new Rng(9) });
    expect(a.completions).toEqual(b.completions);
    expect(new Set(a.completions[0].map((x) => x.tokens.join(","))).size).toBeGreaterThan(1);
    const near = sampleGroups(model, [Array.from({ length: 30 }, () => 1)], { maxTokens: 5, temperature: 0, stopTokens: [], rng: new Rng(1) });
    expect(near.completions[0][0].tokens).toHaveLength(2); // the block's last 2 positions
    expect(() => sampleGroups(model, [Array.from({ length: 32 }, () => 1)], { maxTokens: 5, stopTokens: [], rng: new Rng(1) })).toThrow(/no room/);
  });

  it("completion log-probs equal the model's cross-entropy on each row alone; padding changes nothing", () => {
    const f64 = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 32, vocabSize: 40 }), { seed: 2, dtype: "f64", backend: "ref" });
    const rows = [{ prompt: [1, 2, 3], completion: [4, 5] }, { prompt: [6], completion: [7, 8, 9, 10, 11] }];
    noGrad(() => {
      const x = completionLogps(f64, rows, 0);
      expect([x.B, x.T]).toEqual([2, 5]);
      const lp = x.logp.toTypedArray();
      rows.forEach((r, b) => {
        const seq = [...r.prompt, ...r.completion];
        const inp = Int32Array.from(seq.slice(0, -1));
        const tgt = Int32Array.from(seq.slice(1), (t, i) => (i >= r.prompt.length - 1 ? t : -100));
        const want = -f64.loss({ data: inp, shape: [1, inp.length] } as never, tgt, { reduction: "sum" }).item();
        let got = 0;
        for (let t = 0; t < x.T; t++) got += lp[b * x.T + t] * x.mask[b * x.T + t];
        expect(got).toBeCloseTo(want, 10);
        expect(x.mask.subarray(b * x.T, (b + 1) * x.T).reduce((a, m) => a + m, 0)).toBe(r.completion.length);
      });
    });
  });
});

describe("grpo", () => {
  it("the mean reward of sampled answers rises; held-out figures before and after; a chat model is written", async () => {
    const out = join(dir, "run");
    const s = await grpo(opts(out, { steps: 24, evalEvery: 12 }));
    const rows = stepRows(out);
    const mean = (xs: typeof rows) => xs.reduce((a, r) => a + (r.reward_mean as number), 0) / xs.length;
    expect(mean(rows.slice(-6))).toBeGreaterThan(mean(rows.slice(0, 6)) + 0.05);
    for (const k of ["zero_spread", "completion_len", "truncated", "clip_fraction", "approx_kl", "rollout_tokens_per_s"]) expect(typeof rows[0][k]).toBe("number");
    expect(rows[0].clip_fraction).toBe(0);
    expect(s.before?.prompts).toBeGreaterThan(0);
    expect(s.after).not.toBeNull();
    expect(s.modelDir).toBe(join(out, "model"));
  }, 120_000);

  it("resumes exactly from the step-3 checkpoint (sampler RNG and prompt cursor restored)", async () => {
    const out = join(dir, "resume");
    await grpo(opts(out, { beta: 0.05 }));
    const whole = stepRows(out).map((r) => [r.loss, r.reward_mean, r.ref_kl]);
    expect(whole).toHaveLength(6);
    rmSync(join(out, "checkpoints", "step_00000006"), { recursive: true, force: true });
    const s = await grpo(opts(out, { beta: 0.05, resume: true }));
    expect(s.training.steps).toBe(6);
    expect(stepRows(out).map((r) => [r.loss, r.reward_mean, r.ref_kl])).toEqual(whole);
    await expect(grpo(opts(out, { resume: true, group: 2 }))).rejects.toThrow(/--group/);
  }, 120_000);

  it("dynamic sampling drops groups without a reward spread, draws more prompts, and tops up only when too few had one", () => {
    const group = (...rewards: number[]): SampledGroup => ({ rows: [], rewards, keep: rewards.map(() => 1), truncated: 0, failed: 0, firstError: "" });
    expect(zeroSpread(group(1, 1, 1))).toBe(true);
    expect(zeroSpread(group(0, 1, 0))).toBe(false);
    // draws come from a script: 4 groups a round, their spread given per round
    const script = (rounds: boolean[][]) => {
      let round = 0;
      let id = 0;
      return (k: number) => {
        expect(k).toBe(4);
        const spread = rounds[round++] ?? [false, false, false, false];
        return spread.map((s) => group(id++, s ? id : id - 1));
      };
    };
    const ids = (gs: SampledGroup[]) => gs.map((g) => g.rewards[0]);
    // off (1 round): every group of the one draw, spread or not
    const off = collectGroups(script([[true, false, false, true]]), 4, 1);
    expect(ids(off.groups)).toEqual([0, 1, 2, 3]);
    expect(off.sampled).toHaveLength(4);
    // on: two draws give 4 groups with a spread; the zero-spread ones are dropped
    const on = collectGroups(script([[true, false, false, true], [false, true, true, false]]), 4, 3);
    expect(ids(on.groups)).toEqual([0, 3, 5, 6]);
    expect(on.sampled).toHaveLength(8);
    expect(on.groups.every((g) => !zeroSpread(g))).toBe(true);
    // rounds spent with too few: the spread groups first, then zero-spread ones in draw order
    const short = collectGroups(script([[false, false, true, false], [false, false, false, false]]), 4, 2);
    expect(ids(short.groups)).toEqual([2, 0, 1, 3]);
    expect(short.sampled).toHaveLength(8);
  });

  it("dynamic sampling in a run: more groups sampled than trained on, and the run resumes exactly", async () => {
    const out = join(dir, "dynamic");
    await grpo(opts(out, { dynamicSampling: 3 }));
    const rows = stepRows(out);
    expect(rows).toHaveLength(6);
    for (const r of rows) {
      expect(r.groups_sampled as number).toBeGreaterThanOrEqual(4);
      expect(r.zero_spread_kept as number).toBeLessThanOrEqual(r.zero_spread as number);
    }
    const whole = rows.map((r) => [r.loss, r.reward_mean, r.groups_sampled]);
    rmSync(join(out, "checkpoints", "step_00000006"), { recursive: true, force: true });
    await grpo(opts(out, { dynamicSampling: 3, resume: true }));
    expect(stepRows(out).map((r) => [r.loss, r.reward_mean, r.groups_sampled])).toEqual(whole);
    await expect(grpo(opts(out, { resume: true }))).rejects.toThrow(/--dynamic-sampling/);
    await expect(grpo(opts(join(dir, "bad6"), { dynamicSampling: 0 }))).rejects.toThrow(/--dynamic-sampling must be/);
  }, 120_000);

  it("bad input: a reward model as policy, no prompts, a reward that always throws, a group of one", async () => {
    await expect(grpo(opts(join(dir, "bad1"), { model: join(dir, "rm") }))).rejects.toThrow(/is a reward model.*SFT policy/);
    await expect(grpo(opts(join(dir, "bad2"), { task: join(dir, "empty.jsonl") }))).rejects.toThrow(/no prompts|no usable|empty/);
    await expect(grpo(opts(join(dir, "bad4"), { task: "arithmetc" }))).rejects.toThrow(/--task arithmetc: neither a task name \(arithmetic, .*\) nor an existing prompts file/);
    await expect(grpo(opts(join(dir, "bad3"), { reward: join(dir, "reward_throws.mjs") }))).rejects.toThrow(/every reward of the batch failed.*no reward today/);
    await expect(grpo(opts(join(dir, "bad4"), { group: 1 }))).rejects.toThrow(/--group must be at least 2/);
    await expect(grpo(opts(join(dir, "bad5"), { reward: "nonsense" }))).rejects.toThrow(/neither a named reward/);
    // the prompts are read before the model is loaded: a mistyped --task is named even when the weights are broken
    const broken = brokenWeightsCopy(join(dir, "sft"), join(dir, "broken-sft"));
    await expect(grpo(opts(join(dir, "bad7"), { model: broken, task: "arithmetc" }))).rejects.toThrow(/--task arithmetc: neither a task name/);
  });
});

describe("ppo", () => {
  const popts = (out: string, extra: Partial<PpoOptions> = {}): PpoOptions => ({
    policy: join(dir, "sft"), prompts: join(dir, "task.jsonl"), reward: join(dir, "reward_e.mjs"), out, maxTokens: 6,
    batchSize: 8, minibatches: 2, ppoEpochs: 2, steps: 8, lr: 1e-2, warmupSteps: 1, evalEvery: 4, checkpointEvery: 3, seed: 5, progress: false, ...extra,
  });

  it("the mean reward rises with the KL penalty on; KL, value and clipping figures are logged", async () => {
    const out = join(dir, "ppo");
    const s = await ppo(popts(out, { steps: 96, evalEvery: 48, batchSize: 16, minibatches: 1, klCoef: 0.01, lr: 3e-3 }));
    const rows = stepRows(out);
    const mean = (xs: typeof rows) => xs.reduce((a, r) => a + (r.reward_mean as number), 0) / xs.length;
    expect(mean(rows.slice(-8))).toBeGreaterThan(mean(rows.slice(0, 8)) + 0.05);
    for (const k of ["kl_per_token", "kl_coef", "value_loss", "policy_loss", "clip_fraction", "approx_kl", "entropy", "explained_variance"]) expect(typeof rows[5][k]).toBe("number");
    expect(rows[0].kl_per_token).toBeCloseTo(0, 6);
    expect(s.after).not.toBeNull();
  }, 120_000);

  it("resumes exactly mid-rollout (the pending rollout, RNGs and KL coefficient are in the checkpoint)", async () => {
    const out = join(dir, "ppo-resume");
    await ppo(popts(out, { klTarget: 0.01 }));
    const whole = stepRows(out).map((r) => [r.loss, r.reward_mean, r.kl_coef]);
    rmSync(join(out, "checkpoints", "step_00000008"), { recursive: true, force: true });
    rmSync(join(out, "checkpoints", "step_00000006"), { recursive: true, force: true });
    await ppo(popts(out, { klTarget: 0.01, resume: true }));
    expect(stepRows(out).map((r) => [r.loss, r.reward_mean, r.kl_coef])).toEqual(whole);
  }, 120_000);

  it("a reward model folder as the reward (and value model start); a reward model as policy is refused", async () => {
    const s = await ppo(popts(join(dir, "ppo-rm"), { reward: join(dir, "rm"), steps: 2 }));
    expect(s.training.steps).toBe(2);
    await expect(ppo(popts(join(dir, "ppo-bad"), { policy: join(dir, "rm") }))).rejects.toThrow(/is a reward model.*SFT policy/);
    await expect(ppo(popts(join(dir, "ppo-bad2"), { reward: join(dir, "rm-other") }))).rejects.toThrow(/tokenizer .* differs from the policy's/);
    const broken = brokenWeightsCopy(join(dir, "sft"), join(dir, "broken-policy"));
    await expect(ppo(popts(join(dir, "ppo-bad3"), { policy: broken, prompts: join(dir, "missing.jsonl") }))).rejects.toThrow(/--prompts .*missing\.jsonl/);
  }, 120_000);
});
