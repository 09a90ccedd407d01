// PPO / GRPO losses: the goldens in f64, gradients against finite differences, parity of losses and
// gradients with PyTorch (test/rl/fixtures/rlLosses.json from scripts/make_rl_fixture.py), masks and accumulation.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import {
  AdaptiveKlController, clippedValueLoss, entropyFromLogits, explainedVariance, FixedKlController, gae, grpoAdvantages, grpoLoss,
  klEstimate, klTensor, ppoPolicyLoss, RlLossError, shapeRewards, tokenSum, whiten, zeroSpreadFraction,
} from "../../src/rl/losses.js";
import { gather, logSoftmax, sum } from "../../src/tensor/ops/index.js";
import { Tensor } from "../../src/tensor/tensor.js";

const t64 = (xs: ArrayLike<number>, shape: number[], grad = false) => Tensor.from(Float64Array.from(xs), shape, { dtype: "f64", backend: "ref", requiresGrad: grad });
const arr = (t: Tensor) => Array.from(t.contiguousData());

interface Run { loss: number; grad: number[] }
interface Fixture {
  format: string; version: number; B: number; T: number; V: number; epsilon: number; epsilonHigh: number; clippedTokens: number; valueClippedTokens: number; valueClip: number; beta: number;
  logits: number[]; tokens: number[]; mask: number[]; oldLogp: number[]; refLogp: number[]; tokenAdvantages: number[]; seqAdvantages: number[];
  values: number[]; oldValues: number[]; returns: number[]; ppo: Run; value: Run; entropy: Run; grpo: Record<"grpo" | "dapo" | "dr_grpo", Run>;
}
const FX = JSON.parse(readFileSync(new URL("./fixtures/rlLosses.json", import.meta.url), "utf8")) as Fixture;
const logpOf = (logits: Tensor) => gather(logSoftmax(logits), Int32Array.from(FX.tokens));

function expectClose(a: number[], b: number[], tol = 1e-12): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(tol);
}

describe("goldens", () => {
  it("KL at logp -1 vs ref -1.5: k1 0.5, k2 0.125, k3 0.10653065971263342; k3 ≥ 0", () => {
    expect(klEstimate(-1, -1.5, "k1")).toBe(0.5);
    expect(klEstimate(-1, -1.5, "k2")).toBe(0.125);
    expect(klEstimate(-1, -1.5, "k3")).toBeCloseTo(0.10653065971263342, 16);
    expect(klTensor(t64([-1], [1]), t64([-1.5], [1]), [1], "k3").item()).toBeCloseTo(0.10653065971263342, 15);
    for (let i = 0; i < 2000; i++) {
      const d = (Math.random() - 0.5) * 40;
      expect(klEstimate(d, 0, "k3")).toBeGreaterThanOrEqual(0);
    }
  });

  it("GAE r=[0,0,1], V=[.5,.4,.6], γ 1, λ 0.95 → [0.451, 0.58, 0.4] (V = 0 after the last token); returns = A + V", () => {
    const { advantages, returns } = gae([0, 0, 1, 9], [0.5, 0.4, 0.6, 9], [1, 1, 1, 0], 1, 4, 1, 0.95);
    expectClose(Array.from(advantages), [0.451, 0.58, 0.4, 0], 1e-15);
    expectClose(Array.from(returns), [0.951, 0.98, 1.0, 0], 1e-15);
  });

  it("PPO objective at ratio 1.3, advantage 1, ε 0.2 → loss -1.2; clip fraction 1", () => {
    const r = ppoPolicyLoss(t64([Math.log(1.3)], [1, 1]), [0], [1], [1], { epsilon: 0.2 });
    expect(r.loss.item()).toBeCloseTo(-1.2, 15);
    expect(r.clipFraction).toBe(1);
    expect(r.approxKl).toBeCloseTo(0.3 - Math.log(1.3), 15);
    expect(ppoPolicyLoss(t64([Math.log(1.3)], [1, 1]), [0], [1], [1], { epsilon: 0.2, epsilonHigh: 0.28 }).loss.item()).toBeCloseTo(-1.28, 15);
    expect(ppoPolicyLoss(t64([Math.log(1.3)], [1, 1]), [0], [-1], [1]).loss.item()).toBeCloseTo(1.3, 15); // min takes the unclipped side
  });

  it("GRPO rewards [1,0,0,1] → ±0.8658754297607016 (group, Bessel, eps 1e-4); batch and none scaling", () => {
    expectClose(Array.from(grpoAdvantages([1, 0, 0, 1], 4)), [1, -1, -1, 1].map((s) => s * 0.8658754297607016), 1e-15);
    const batch = grpoAdvantages([1, 0, 3, 3], 2, "batch");
    const sd = Math.sqrt(((1 - 1.75) ** 2 + 1.75 ** 2 + 2 * 1.25 ** 2) / 3);
    expectClose(Array.from(batch), [0.5 / (sd + 1e-4), -0.5 / (sd + 1e-4), 0, 0], 1e-15);
    expectClose(Array.from(grpoAdvantages([1, 0, 3, 3], 2, "none")), [0.5, -0.5, 0, 0]);
    expect(zeroSpreadFraction([1, 0, 3, 3], 2)).toBe(0.5);
    expect(() => grpoAdvantages([1, 2, 3], 2)).toThrow(RlLossError);
  });
});

describe("reward shaping, whitening, explained variance, KL controllers", () => {
  it("r_t = -klCoef·KL_t plus the (clipped) score at the last real token; padding 0", () => {
    const r = shapeRewards([0.1, 0.2, 0.3, 5, 0.4, 5], [2, -7], [1, 1, 1, 0, 1, 0], 2, 3, { klCoef: 0.5, scoreClip: 5 });
    expectClose(Array.from(r), [-0.05, -0.1, -0.15 + 2, 0, -0.2 - 5, 0], 1e-15);
  });

  it("whiten: mean 0, Bessel var 1 over real tokens; keepMean adds it back; padding stays 0", () => {
    const mask = [1, 1, 1, 0];
    const w = whiten([1, 2, 3, 100], mask);
    expectClose(Array.from(w), [-1, 0, 1, 0].map((x) => x / Math.sqrt(1 + 1e-8)), 1e-15);
    expectClose(Array.from(whiten([1, 2, 3, 100], mask, true)).slice(0, 3), Array.from(w).slice(0, 3).map((x) => x + 2), 1e-12);
  });

  it("explained variance is 1 for a perfect critic and 0 for a constant at the mean", () => {
    expect(explainedVariance([1, 2, 3, 0], [1, 2, 3, 50], [1, 1, 1, 0])).toBe(1);
    expect(explainedVariance([2, 2, 2, 0], [1, 2, 3, 50], [1, 1, 1, 0])).toBeCloseTo(0, 15);
  });

  it("adaptive KL (Ziegler): error clipped to ±0.2, scaled by steps/horizon; fixed stays", () => {
    const c = new AdaptiveKlController(0.2, 6, 10000);
    c.update(12, 256);
    expect(c.value).toBeCloseTo(0.2 * (1 + (0.2 * 256) / 10000), 15);
    c.update(5.7, 100);
    expect(c.value).toBeCloseTo(0.2 * (1 + (0.2 * 256) / 10000) * (1 - (0.05 * 100) / 10000), 15);
    const f = new FixedKlController(0.1);
    f.update();
    expect(f.value).toBe(0.1);
  });
});

describe("PyTorch parity (fixture)", () => {
  const { B, T, V } = FX;
  it("has its header", () => {
    expect(FX.format).toBe("llmforge-rl-losses");
    expect(FX.version).toBe(1);
  });

  it("PPO clipped policy loss and its logits gradient", () => {
    const x = t64(FX.logits, [B, T, V], true);
    const r = ppoPolicyLoss(logpOf(x), FX.oldLogp, FX.tokenAdvantages, FX.mask, { epsilon: FX.epsilon, epsilonHigh: FX.epsilonHigh });
    expect(r.loss.item()).toBeCloseTo(FX.ppo.loss, 13);
    r.loss.backward();
    expectClose(arr(x.grad as Tensor), FX.ppo.grad);
    expect(FX.clippedTokens).toBeGreaterThan(0);
    expect(r.clipFraction).toBe(FX.clippedTokens / FX.mask.reduce((a, b) => a + b, 0));
  });

  it("clipped value loss and entropy, with their gradients", () => {
    const v = t64(FX.values, [B, T], true);
    expect(FX.valueClippedTokens).toBeGreaterThan(0); // the clipped branch is exercised
    const l = clippedValueLoss(v, FX.oldValues, FX.returns, FX.mask, FX.valueClip);
    expect(l.item()).toBeCloseTo(FX.value.loss, 13);
    l.backward();
    expectClose(arr(v.grad as Tensor), FX.value.grad);
    const x = t64(FX.logits, [B, T, V], true);
    const n = FX.mask.reduce((a, b) => a + b, 0);
    const e = tokenSum(entropyFromLogits(x), FX.mask, n);
    expect(e.item()).toBeCloseTo(FX.entropy.loss, 13);
    e.backward();
    expectClose(arr(x.grad as Tensor), FX.entropy.grad);
  });

  for (const kind of ["grpo", "dapo", "dr_grpo"] as const) {
    it(`GRPO loss "${kind}" with β ${FX.beta} (k3) and its logits gradient`, () => {
      const x = t64(FX.logits, [B, T, V], true);
      const r = grpoLoss(logpOf(x), FX.oldLogp, FX.refLogp, FX.seqAdvantages, FX.mask, { loss: kind, beta: FX.beta, epsilon: FX.epsilon, epsilonHigh: FX.epsilonHigh });
      expect(r.loss.item()).toBeCloseTo(FX.grpo[kind].loss, 13);
      r.loss.backward();
      expectClose(arr(x.grad as Tensor), FX.grpo[kind].grad);
    });
  }
});

describe("gradchecks (f64 finite differences)", () => {
  const logp0 = [-1.2, -0.3, -2.0, -0.7, -1.1, -0.9];
  const old = [-1.0, -0.5, -2.1, -0.2, -1.5, -0.9];
  const mask = [1, 1, 1, 1, 1, 0];
  const opt = { atol: 1e-6, rtol: 1e-5 };
  it("PPO policy loss, KL estimators, value loss, entropy, GRPO (3 aggregations, β > 0)", () => {
    expect(gradcheck((l) => ppoPolicyLoss(l, old, [1, -1, 0.5, -2, 1, 3], mask).loss, [t64(logp0, [2, 3], true)], opt).ok).toBe(true);
    for (const k of ["k1", "k2", "k3"] as const) expect(gradcheck((l) => sum(klTensor(l, t64(old, [2, 3]), mask, k)), [t64(logp0, [2, 3], true)], opt).ok).toBe(true);
    expect(gradcheck((v) => clippedValueLoss(v, [0.1, 0.2, -0.3, 0.5, 1, 0], [0.5, -0.5, 0.2, 0.2, 0.9, 0], mask, 0.2), [t64([0.2, 0.6, -0.2, 0.05, 1.5, 3], [2, 3], true)], opt).ok).toBe(true);
    expect(gradcheck((x) => entropyFromLogits(x), [t64([0.1, -1, 2, 0.5, 0.3, -0.7], [2, 3], true)], opt).ok).toBe(true);
    for (const loss of ["grpo", "dapo", "dr_grpo"] as const) {
      const res = gradcheck((l) => grpoLoss(l, old, [-1.1, -0.4, -2.5, -0.6, -1.0, 9], [0.7, -0.7], mask, { loss, beta: 0.1 }).loss, [t64(logp0, [2, 3], true)], opt);
      expect(res.ok, `${loss}: ${res.where}`).toBe(true);
    }
  });
});

describe("invariants", () => {
  // Group of 2 with rewards [1, 0]: advantages ±a; completion lengths 3 and 1 (padded to 3).
  const mask = [1, 1, 1, 1, 0, 0];
  const lp = [-1, -2, -0.5, -1.5, 7, 7];
  const adv = grpoAdvantages([1, 0], 2);
  const step0 = (loss: "grpo" | "dapo" | "dr_grpo") => {
    const x = t64(lp, [2, 3], true);
    const r = grpoLoss(x, lp, lp, adv, mask, { loss, beta: 0.04 });
    r.loss.backward();
    return { r, grad: arr(x.grad as Tensor) };
  };

  it("step 0 (ratio 1, logp = ref): KL 0, clip 0; 'grpo' loss is exactly -mean_i A_i = 0; token-level losses are -Σ A_i L_i / norm ≠ 0 for unequal lengths", () => {
    const a = adv[0];
    const g = step0("grpo");
    expect(g.r.loss.item()).toBe(0);
    expect(g.r.refKl).toBe(0);
    expect(g.r.approxKl).toBe(0);
    expect(g.r.clipFraction).toBe(0);
    expect(step0("dapo").r.loss.item()).toBeCloseTo(-(a * 3 - a * 1) / 4, 15);
    expect(step0("dr_grpo").r.loss.item()).toBeCloseTo(-(a * 3 - a * 1) / 6, 15);
    // Equal lengths make every aggregation 0.
    const x = t64(lp, [2, 3], true);
    expect(grpoLoss(x, lp, null, adv, [1, 1, 0, 1, 1, 0], { loss: "dapo" }).loss.item()).toBe(0);
  });

  it("step 0 gradient is non-zero: d/dlogp = -A_i / weight (β·k3 contributes 0)", () => {
    const a = adv[0];
    expectClose(step0("grpo").grad, [-a / 6, -a / 6, -a / 6, a / 2, 0, 0], 1e-15);
    expectClose(step0("dapo").grad, [-a / 4, -a / 4, -a / 4, a / 4, 0, 0], 1e-15);
    expectClose(step0("dr_grpo").grad, [-a / 6, -a / 6, -a / 6, a / 6, 0, 0], 1e-15);
  });

  it("padding changes nothing: garbage in padded logp / old / ref gives the same loss and gradient", () => {
    const run = (pad: number) => {
      const x = t64([-1, -2, pad, -1.5, pad, pad], [2, 3], true);
      const r = grpoLoss(x, [-0.8, -2.2, pad * 3, -1.4, -pad, 1e3], [-1.1, -1.9, -pad, -1.3, pad, 0], [0.5, -0.5], [1, 1, 0, 1, 0, 0], { loss: "grpo", beta: 0.1 });
      const p = ppoPolicyLoss(x, [-0.8, -2.2, pad * 3, -1.4, -pad, 1e3], [1, 2, pad, -1, pad, pad], [1, 1, 0, 1, 0, 0]);
      const total = r.loss.item() + p.loss.item();
      sum(r.loss).backward();
      return { total, grad: arr(x.grad as Tensor), clip: p.clipFraction, kl: p.approxKl };
    };
    const a = run(0);
    const b = run(500);
    expect(b.total).toBe(a.total);
    expect(b.grad).toEqual(a.grad);
    expect(b.clip).toBe(a.clip);
    expect(b.kl).toBe(a.kl);
  });

  it("accumulation: micro-batch losses normalised by the total tokens sum to the big batch's loss and gradient", () => {
    const { B, T, V } = FX;
    const n = FX.mask.reduce((a, b) => a + b, 0);
    const big = t64(FX.logits, [B, T, V], true);
    const bigLoss = grpoLoss(logpOf(big), FX.oldLogp, FX.refLogp, FX.seqAdvantages, FX.mask, { loss: "dapo", beta: 0.04 }).loss;
    bigLoss.backward();
    let acc = 0;
    const grads: number[] = [];
    for (const [s, e] of [[0, 1], [1, 4]]) {
      const rows = (xs: number[], w: number) => xs.slice(s * w, e * w);
      const x = t64(rows(FX.logits, T * V), [e - s, T, V], true);
      const lp = gather(logSoftmax(x), Int32Array.from(rows(FX.tokens, T)));
      const ppo = ppoPolicyLoss(lp, rows(FX.oldLogp, T), rows(FX.tokenAdvantages, T), rows(FX.mask, T), { normaliser: n });
      const l = grpoLoss(lp, rows(FX.oldLogp, T), rows(FX.refLogp, T), FX.seqAdvantages.slice(s, e), rows(FX.mask, T), { loss: "dapo", beta: 0.04, normaliser: n });
      acc += l.loss.item();
      l.loss.backward();
      grads.push(...arr(x.grad as Tensor));
      expect(Number.isFinite(ppo.loss.item())).toBe(true);
    }
    expect(acc).toBeCloseTo(bigLoss.item(), 14);
    expectClose(grads, arr(big.grad as Tensor), 1e-15);
  });
});
