// DPO losses against hand-computed f64 values (the golden, ln 2 at policy = reference, cDPO,
// IPO, hinge, the SFT term), their gradients against finite differences, and the implicit-reward stats.
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { DpoLossError, dpoLoss, dpoMetrics, dpoStats } from "../../src/rl/dpoLoss.js";
import { Tensor } from "../../src/tensor/tensor.js";

const t64 = (xs: number[], grad = false) => Tensor.from(Float64Array.from(xs), [xs.length], { dtype: "f64", backend: "ref", requiresGrad: grad });
const one = (pc: number, pr: number, rc: number, rr: number) => ({ policyChosen: t64([pc]), policyRejected: t64([pr]), refChosen: t64([rc]), refRejected: t64([rr]) });
const nls = (x: number) => Math.log1p(Math.exp(-x)); // -log sigmoid(x)

describe("dpoLoss", () => {
  it("golden: policy -10/-12, reference -11/-11, beta 0.1 -> 0.5981388693815918", () => {
    expect(dpoLoss(one(-10, -12, -11, -11), { beta: 0.1 }).item()).toBeCloseTo(0.5981388693815918, 15);
  });

  it("is ln 2 when the policy equals the reference (step 0), whatever the log-probs", () => {
    const x = { policyChosen: t64([-3, -40, -7.5]), policyRejected: t64([-9, -2, -7.5]), refChosen: t64([-3, -40, -7.5]), refRejected: t64([-9, -2, -7.5]) };
    expect(dpoLoss(x).item()).toBeCloseTo(Math.LN2, 15);
    expect(dpoLoss(x, { labelSmoothing: 0.2 }).item()).toBeCloseTo(Math.LN2, 15);
  });

  it("cDPO label smoothing, IPO, hinge and the SFT term on h = 2, beta 0.1", () => {
    const x = one(-10, -12, -11, -11);
    expect(dpoLoss(x, { labelSmoothing: 0.1 }).item()).toBeCloseTo(0.9 * nls(0.2) + 0.1 * nls(-0.2), 15);
    expect(dpoLoss(x, { labelSmoothing: 0.1 }).item()).toBeCloseTo(0.6181388693815918, 15);
    expect(dpoLoss(x, { kind: "ipo" }).item()).toBeCloseTo((2 - 5) ** 2, 13);
    expect(dpoLoss(x, { kind: "hinge" }).item()).toBeCloseTo(0.8, 15);
    expect(dpoLoss(one(-10, -12, -31, -11), { kind: "hinge" }).item()).toBe(0);
    expect(dpoLoss({ ...x, chosenTokens: [5] }, { sftCoef: 0.5 }).item()).toBeCloseTo(0.5981388693815918 + 0.5 * (10 / 5), 14);
  });

  it("averages over pairs", () => {
    const x = { policyChosen: t64([-10, -1]), policyRejected: t64([-12, -1]), refChosen: t64([-11, -2]), refRejected: t64([-11, -1]) };
    expect(dpoLoss(x, { beta: 0.5 }).item()).toBeCloseTo((nls(1) + nls(0.5)) / 2, 15);
  });

  it("gradients match finite differences (f64) for every kind", () => {
    for (const o of [{}, { labelSmoothing: 0.15, beta: 0.7 }, { kind: "ipo" as const, beta: 0.3 }, { kind: "hinge" as const, beta: 0.2 }, { sftCoef: 0.4 }]) {
      const xs = [t64([-10, -3.2, -5], true), t64([-12, -2.9, -6], true), t64([-11, -3, -5.5], true), t64([-11, -3.1, -5.1], true)];
      const res = gradcheck((pc, pr, rc, rr) => dpoLoss({ policyChosen: pc, policyRejected: pr, refChosen: rc, refRejected: rr, chosenTokens: [4, 2, 7] }, o), xs);
      expect(res.ok, `${JSON.stringify(o)}: ${res.where}`).toBe(true);
    }
  });

  it("refuses bad options and inputs with a message naming the option", () => {
    const x = one(-10, -12, -11, -11);
    expect(() => dpoLoss(x, { beta: 0 })).toThrow(/--beta/);
    expect(() => dpoLoss(x, { labelSmoothing: 0.5 })).toThrow(/--label-smoothing/);
    expect(() => dpoLoss(x, { kind: "ipo", labelSmoothing: 0.1 })).toThrow(/sigmoid only/);
    expect(() => dpoLoss(x, { kind: "kto" as "ipo" })).toThrow(DpoLossError);
    expect(() => dpoLoss(x, { sftCoef: 1 })).toThrow(/chosen token count/);
    expect(() => dpoLoss({ ...x, refRejected: t64([1, 2]) })).toThrow(/refRejected must be \(1,\)/);
  });
});

describe("dpoStats", () => {
  it("implicit rewards, margins and accuracy (ties half)", () => {
    const s = dpoStats([-10, -5, -1], [-12, -5, -1], [-11, -5, -2], [-11, -4, -2], 0.1);
    const m = dpoMetrics(s);
    expect(m.reward_chosen).toBeCloseTo((0.1 + 0 + 0.1) / 3, 15);
    expect(m.reward_rejected).toBeCloseTo((-0.1 - 0.1 + 0.1) / 3, 15);
    expect(m.reward_margin).toBeCloseTo((0.2 + 0.1 + 0) / 3, 15);
    expect(m.reward_accuracy).toBeCloseTo(2.5 / 3, 15);
    expect(m.logp_chosen).toBeCloseTo(-16 / 3, 15);
    expect(dpoMetrics(dpoStats([], [], [], [], 0.1))).toEqual({});
  });
});
