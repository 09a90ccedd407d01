// Reward-model losses against hand-computed values (-log sigmoid written out with log1p/exp), their
// gradients against finite differences in f64, and the per-prompt averaging (InstructGPT).
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import {
  bradleyTerryLoss, centeringLoss, pairStats, type PromptGroup, RewardLossError, rewardLoss, scoreMseLoss,
} from "../../src/reward/losses.js";
import { Tensor } from "../../src/tensor/tensor.js";

const r64 = (xs: number[], grad = false) => Tensor.from(Float64Array.from(xs), [xs.length], { dtype: "f64", backend: "ref", requiresGrad: grad });

// Prompt A: 3 answers, its C(3,2) pairs (the first with margin 0.5); prompt B: 2 answers, one pair.
const REWARDS = [1.7, 0, -0.5, 0.2, 0.5];
const GROUPS: PromptGroup[] = [
  { start: 0, count: 3, pairs: [{ better: 0, worse: 1, margin: 0.5 }, { better: 0, worse: 2, margin: 0 }, { better: 1, worse: 2, margin: 0 }], targets: [1, null, -1] },
  { start: 3, count: 2, pairs: [{ better: 0, worse: 1, margin: 0 }], targets: [0, 0.5] },
];

describe("Bradley-Terry", () => {
  it("-log sigmoid(1.7) = 0.16778602938626594 for one pair", () => {
    const g: PromptGroup[] = [{ start: 0, count: 2, pairs: [{ better: 0, worse: 1, margin: 0 }] }];
    expect(bradleyTerryLoss(r64([1.7, 0]), g).item()).toBeCloseTo(0.16778602938626594, 15);
    expect(bradleyTerryLoss(r64([0, 1.7]), [{ ...g[0], pairs: [{ better: 1, worse: 0, margin: 0 }] }]).item()).toBeCloseTo(0.16778602938626594, 15);
  });

  it("margins, ties, saturation: -log sigmoid(1.2), ln 2, 30 and ~4.2e-18", () => {
    const one = (a: number, b: number, margin = 0) => bradleyTerryLoss(r64([a, b]), [{ start: 0, count: 2, pairs: [{ better: 0, worse: 1, margin }] }]).item();
    expect(one(1.7, 0, 0.5)).toBeCloseTo(0.26328246733803123, 15);
    expect(one(0.3, 0.3)).toBeCloseTo(Math.LN2, 15);
    expect(one(-15, 15)).toBeCloseTo(30.000000000000092, 12);
    expect(one(20, -20)).toBeCloseTo(4.248354255291589e-18, 30);
    expect(bradleyTerryLoss(r64([1.7, 0]), [{ start: 0, count: 2, pairs: [{ better: 0, worse: 1, margin: 0.5 }] }], 0).item()).toBeCloseTo(0.16778602938626594, 15);
  });

  it("is a mean over prompts of each prompt's mean over its pairs (not a mean over all pairs)", () => {
    expect(bradleyTerryLoss(r64(REWARDS), GROUPS).item()).toBeCloseTo(0.5675847507820693, 14);
    expect(bradleyTerryLoss(r64(REWARDS), GROUPS, 0).item()).toBeCloseTo(0.5516686777901083, 14);
  });

  it("refuses a pair that names a missing answer or an answer with itself", () => {
    expect(() => bradleyTerryLoss(r64([1, 2]), [{ start: 0, count: 2, pairs: [{ better: 0, worse: 2, margin: 0 }] }])).toThrow(RewardLossError);
    expect(() => bradleyTerryLoss(r64([1, 2]), [{ start: 0, count: 2, pairs: [{ better: 1, worse: 1, margin: 0 }] }])).toThrow(/two different/);
    expect(() => bradleyTerryLoss(r64([1, 2]), [{ start: 1, count: 2, pairs: [] }])).toThrow(/outside/);
  });
});

describe("centering, MSE and the combined loss", () => {
  it("centering: mean over prompts of mean (r_b + r_w)² = 1.0083333333333333", () => {
    expect(centeringLoss(r64(REWARDS), GROUPS).item()).toBeCloseTo(1.0083333333333333, 14);
  });

  it("MSE over scored answers only, per prompt then over prompts = 0.195", () => {
    expect(scoreMseLoss(r64(REWARDS), GROUPS).item()).toBeCloseTo(0.195, 14);
  });

  it("bt, bt + centering, mse and bt+mse add up the terms", () => {
    const bt = 0.5675847507820693;
    expect(rewardLoss(r64(REWARDS), GROUPS).item()).toBeCloseTo(bt, 14);
    expect(rewardLoss(r64(REWARDS), GROUPS, { centerCoef: 0.01 }).item()).toBeCloseTo(bt + 0.01 * 1.0083333333333333, 14);
    expect(rewardLoss(r64(REWARDS), GROUPS, { kind: "mse" }).item()).toBeCloseTo(0.195, 14);
    expect(rewardLoss(r64(REWARDS), GROUPS, { kind: "bt+mse", mseCoef: 2 }).item()).toBeCloseTo(bt + 2 * 0.195, 14);
    expect(() => rewardLoss(r64(REWARDS), GROUPS, { kind: "dpo" as "bt" })).toThrow(/"bt", "mse" or "bt\+mse"/);
  });

  it("gradients match finite differences (f64) for every term", () => {
    for (const o of [{}, { centerCoef: 0.3 }, { kind: "mse" as const }, { kind: "bt+mse" as const, mseCoef: 0.7, centerCoef: 0.1 }]) {
      const x = r64(REWARDS, true);
      const res = gradcheck((r) => rewardLoss(r, GROUPS, o), [x]);
      expect(res.ok, `${JSON.stringify(o)}: ${res.where}`).toBe(true);
    }
  });

  it("the gradient of a prompt with more pairs is not larger: each prompt weighs the same", () => {
    const x = r64(REWARDS, true);
    bradleyTerryLoss(x, GROUPS, 0).backward();
    const g = x.grad?.toTypedArray() as Float64Array;
    // Prompt B's one pair: d/d r_better = -sigmoid(-(0.2 - 0.5)) / 2 prompts.
    expect(g[3]).toBeCloseTo(-1 / (1 + Math.exp(-0.3)) / 2, 14);
    expect(g[3] + g[4]).toBeCloseTo(0, 14);
    expect(g[0] + g[1] + g[2]).toBeCloseTo(0, 14);
  });

  it("pairStats: accuracy (ties half), margins, squared error", () => {
    const s = pairStats([1.7, 0, -0.5, 0.5, 0.5], GROUPS);
    expect(s).toEqual({ pairs: 4, correct: 3.5, marginSum: 1.7 + 2.2 + 0.5 + 0, scored: 4, squaredError: expect.any(Number) });
    expect(s.squaredError).toBeCloseTo(0.49 + 0.25 + 0.25 + 0, 12);
  });
});
