// `dpo()` end to end on a tiny chat model: step-0 loss is ln 2 (policy = reference), the loss falls and
// held-out implicit-reward accuracy rises on a separable preference set, the run resumes exactly (the
// stored reference log-probs are read back), LoRA starts at ln 2 too, and bad input gives clear errors.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { RewardModel, saveRewardModel, trunkOf } from "../../src/model/heads.js";
import { saveModel } from "../../src/model/serialize.js";
import { dpo, type DpoOptions, pairLogps, tokenizeDpoPairs } from "../../src/rl/dpo.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad } from "../../src/tensor/tensor.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { brokenWeightsCopy } from "../helpers/brokenRun.js";

let dir: string;
let tok: Tokenizer;
const GOOD = ["great", "lovely", "superb", "fine"];
const BAD = ["awful", "rotten", "poor", "dull"];
const FILL = ["the", "film", "was", "plot", "and", "cast", "music", "really", "quite", "story", "end"];

/** One prompt, two answers: the one with a positive word is chosen. */
function record(rng: Rng): Record<string, unknown> {
  const filler = () => Array.from({ length: 2 + rng.int(3) }, () => FILL[rng.int(FILL.length)]);
  const say = (w: string) => {
    const f = filler();
    f.splice(rng.int(f.length + 1), 0, w);
    return f.join(" ");
  };
  const flip = rng.int(2) === 1;
  const good = say(GOOD[rng.int(GOOD.length)]);
  const bad = say(BAD[rng.int(BAD.length)]);
  return { prompt: [{ role: "user", content: `review ${filler().join(" ")}` }], responses: flip ? [bad, good] : [good, bad], pairs: [{ better: flip ? 1 : 0, worse: flip ? 0 : 1 }] };
}
const lines = (rs: unknown[]) => `${rs.map((r) => JSON.stringify(r)).join("\n")}\n`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-dpo-"));
  const rng = new Rng(11);
  writeFileSync(join(dir, "train.jsonl"), lines(Array.from({ length: 120 }, () => record(rng))));
  // held-out records name a task (every other one): accuracy is reported per task too
  writeFileSync(join(dir, "heldout.jsonl"), lines(Array.from({ length: 40 }, (_, i) => ({ ...record(rng), meta: { task: i % 2 === 0 ? "even" : "odd" } }))));
  writeFileSync(join(dir, "empty.jsonl"), "");
  tok = Tokenizer.trainFromTexts([...GOOD, ...BAD, ...FILL, "review", "user", "assistant"].map((w) => ` ${w}\n${w}`.repeat(4)), { vocabSize: 360 });
  mkdirSync(join(dir, "sft", "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "sft", "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  const gpt = new GPT(makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: tok.vocabSize, initStd: 0.05 }), { seed: 3 });
  saveModel(join(dir, "sft", "model"), gpt);
  mkdirSync(join(dir, "rm", "model"), { recursive: true });
  writeFileSync(join(dir, "rm", "model", "tokenizer.json"), tok.toHuggingFaceJson());
  saveRewardModel(join(dir, "rm", "model"), new RewardModel(trunkOf(gpt), { seed: 1 }), { padTokenId: null, eosTokenId: tok.specialId("<|im_end|>") });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (out: string, extra: Partial<DpoOptions> = {}): DpoOptions => ({
  model: join(dir, "sft"), data: [join(dir, "train.jsonl")], valData: [join(dir, "heldout.jsonl")], out,
  batchSize: 8, steps: 8, lr: 3e-3, warmupSteps: 2, evalEvery: 4, checkpointEvery: 4, seed: 5, progress: false, ...extra,
});
const stepRows = (out: string) => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number");

describe("dpo", () => {
  it("answer log-probs: the sum over answer tokens equals the model's cross-entropy on those tokens alone", () => {
    const rng = new Rng(2);
    const { pairs } = tokenizeDpoPairs(tok, [record(rng) as never], { template: CHATML_TEMPLATE, maxLen: 64 });
    const gpt = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 64, vocabSize: tok.vocabSize }), { seed: 1, dtype: "f64" });
    const p = pairs[0];
    expect(p.chosenLen).toBeGreaterThan(1);
    expect(p.chosen[p.chosen.length - 1]).toBe(tok.specialId("<|im_end|>"));
    noGrad(() => {
      const lp = pairLogps(gpt, pairs, 0);
      for (const [seq, len, got] of [[p.chosen, p.chosenLen, lp.chosen.item()], [p.rejected, p.rejectedLen, lp.rejected.item()]] as const) {
        const inp = seq.subarray(0, seq.length - 1);
        const tgt = Int32Array.from(seq.subarray(1), (t, i) => (i >= seq.length - 1 - len ? t : -100));
        const want = -gpt.loss({ data: inp, shape: [1, inp.length] } as never, tgt, { reduction: "sum" }).item();
        expect(got).toBeCloseTo(want, 10);
      }
    });
  });

  it("starts at ln 2, the loss falls and held-out implicit-reward accuracy rises", async () => {
    const out = join(dir, "run");
    const s = await dpo(opts(out, { steps: 40, beta: 0.5 }));
    const rows = stepRows(out);
    expect(rows[0].loss as number).toBeCloseTo(Math.LN2, 5);
    expect(s.before?.loss as number).toBeCloseTo(Math.LN2, 5);
    expect(s.before?.reward_margin as number).toBeCloseTo(0, 6);
    expect(s.after?.loss as number).toBeLessThan(0.5);
    expect(s.after?.reward_accuracy as number).toBeGreaterThanOrEqual(0.9);
    // per task (20 held-out pairs each): their mean is the overall accuracy
    for (const v of [s.before, s.after]) {
      expect(typeof v?.reward_accuracy_even).toBe("number");
      expect(((v?.reward_accuracy_even as number) + (v?.reward_accuracy_odd as number)) / 2).toBeCloseTo(v?.reward_accuracy as number, 12);
    }
    expect(s.before?.reward_accuracy_even).toBe(0.5); // policy = reference: every pair a tie, counted half
    expect(rows.some((r) => typeof r.reward_accuracy === "number" && typeof r.reward_margin === "number")).toBe(true);
    expect(s.modelDir).toBe(join(out, "model"));
  }, 120_000);

  it("resumes exactly from the step-4 checkpoint", async () => {
    const out = join(dir, "resume");
    await dpo(opts(out));
    const whole = stepRows(out).map((r) => r.loss);
    expect(whole).toHaveLength(8);
    rmSync(join(out, "checkpoints", "step_00000008"), { recursive: true, force: true });
    const s = await dpo(opts(out, { resume: true }));
    expect(s.training.steps).toBe(8);
    expect(stepRows(out).map((r) => r.loss)).toEqual(whole);
    await expect(dpo(opts(out, { resume: true, beta: 0.3 }))).rejects.toThrow(/--beta/);
  }, 120_000);

  it("a LoRA policy starts at ln 2 (its reference is the base)", async () => {
    const out = join(dir, "lora");
    await dpo(opts(out, { steps: 2, peft: { method: "lora", r: 4 } }));
    expect(stepRows(out)[0].loss as number).toBeCloseTo(Math.LN2, 5);
  }, 120_000);

  it("bad input: a reward model as policy, empty data, bad options", async () => {
    await expect(dpo(opts(join(dir, "bad1"), { model: join(dir, "rm") }))).rejects.toThrow(/is a reward model.*SFT policy/);
    await expect(dpo(opts(join(dir, "bad2"), { data: [join(dir, "empty.jsonl")] }))).rejects.toThrow(/--data: no usable preference record/);
    await expect(dpo(opts(join(dir, "bad3"), { loss: "ipo", labelSmoothing: 0.1 }))).rejects.toThrow(/sigmoid only/);
    // the records are read before the model is loaded: a missing --data file is named even when the weights are broken
    const broken = brokenWeightsCopy(join(dir, "sft"), join(dir, "broken-sft"));
    await expect(dpo(opts(join(dir, "bad4"), { model: broken, data: [join(dir, "missing.jsonl")] }))).rejects.toThrow(/missing\.jsonl does not exist/);
  });
});
