import { describe, expect, it } from "vitest";
import { Linear, LayerNorm } from "../../src/nn/layers.js";
import { AdamW, SGD, clipGradNorm } from "../../src/optim/optimizers.js";
import { learningRate } from "../../src/optim/schedule.js";
import * as ops from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor, tidy } from "../../src/tensor/tensor.js";

describe("optimizers", () => {
  it("AdamW matches the closed form of one step (decoupled decay)", () => {
    const p = Tensor.from([1, -2], undefined, { backend: "ref", dtype: "f64", requiresGrad: true });
    p.grad = Tensor.from([0.5, 0.1], undefined, { backend: "ref", dtype: "f64" });
    const opt = new AdamW([p], { lr: 0.1, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    opt.step();
    // step 1: mhat = g, vhat = g^2 -> update = g/|g| = sign(g)
    const expected = [1 - 0.1 * (1 + 0.1 * 1), -2 - 0.1 * (1 + 0.1 * -2)];
    const got = Array.from(p.toTypedArray());
    got.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i], 7);
    });
  });
  it("param groups: no decay on the second group; frozen params stay", () => {
    const a = Tensor.from([1], undefined, { backend: "ref", requiresGrad: true });
    const b = Tensor.from([1], undefined, { backend: "ref", requiresGrad: true });
    const frozen = Tensor.from([3], undefined, { backend: "ref", requiresGrad: false });
    for (const t of [a, b, frozen]) t.grad = Tensor.from([0], undefined, { backend: "ref" });
    const opt = new AdamW([{ params: [a, frozen] }, { params: [b], weightDecay: 0 }], { lr: 0.5, weightDecay: 0.5 });
    opt.step();
    expect(a.item()).toBeCloseTo(0.75, 6);
    expect(b.item()).toBe(1);
    expect(frozen.item()).toBe(3);
  });
  it("SGD momentum follows torch.optim.SGD", () => {
    const p = Tensor.from([1], undefined, { backend: "ref", dtype: "f64", requiresGrad: true });
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad = Tensor.from([1], undefined, { backend: "ref", dtype: "f64" });
    opt.step(); // buf = 1, p = 0.9
    opt.step(); // buf = 1.9, p = 0.71
    expect(p.item()).toBeCloseTo(0.71, 10);
  });
  it("global-norm clipping", () => {
    const a = Tensor.from([0], undefined, { backend: "ref", requiresGrad: true });
    const b = Tensor.from([0, 0], undefined, { backend: "ref", requiresGrad: true });
    a.grad = Tensor.from([3], undefined, { backend: "ref" });
    b.grad = Tensor.from([0, 4], undefined, { backend: "ref" });
    expect(clipGradNorm([a, b], 1)).toBeCloseTo(5, 5);
    expect(a.grad.item()).toBeCloseTo(0.6, 5);
    b.grad.data[0] = Number.NaN;
    expect(Number.isNaN(clipGradNorm([a, b], 1))).toBe(true);
  });
  it("warmup + cosine and linear decay to a floor", () => {
    const c = { maxLr: 1, minLr: 0.1, warmupSteps: 10, totalSteps: 110, decay: "cosine" as const };
    expect(learningRate(0, c)).toBeCloseTo(0.1);
    expect(learningRate(9, c)).toBeCloseTo(1);
    expect(learningRate(60, c)).toBeCloseTo(0.55);
    expect(learningRate(110, c)).toBeCloseTo(0.1);
    expect(learningRate(500, c)).toBeCloseTo(0.1);
    expect(learningRate(60, { ...c, decay: "linear" })).toBeCloseTo(0.55);
  });
  it("optimizer state round-trips", () => {
    const p = Tensor.from([1, 2], undefined, { backend: "ref", requiresGrad: true });
    p.grad = Tensor.from([1, 1], undefined, { backend: "ref" });
    const o1 = new AdamW([p]);
    o1.step();
    const o2 = new AdamW([p]);
    o2.loadStateDict(o1.stateDict());
    expect(o2.stepCount).toBe(1);
    expect(o2.stateDict().buffers.m[0]).toEqual(o1.stateDict().buffers.m[0]);
  });
});

describe("modules", () => {
  it("a small MLP learns a nonlinear function", () => {
    const rng = new Rng(1);
    const l1 = new Linear(2, 16, { backend: "ref", rng });
    const l2 = new Linear(16, 2, { backend: "ref", rng });
    const params = [...l1.parameters(), ...l2.parameters()];
    const opt = new AdamW(params, { lr: 0.05, weightDecay: 0 });
    const x = Tensor.from([[0, 0], [0, 1], [1, 0], [1, 1]], undefined, { backend: "ref" });
    const y = Int32Array.from([0, 1, 1, 0]);
    let first = 0;
    let last = 0;
    for (let i = 0; i < 150; i++) {
      last = tidy(() => {
        const loss = ops.crossEntropy(l2.forward(ops.gelu(l1.forward(x))), y);
        loss.backward();
        return loss.item();
      });
      if (i === 0) first = last;
      opt.step();
      opt.zeroGrad();
    }
    expect(first).toBeGreaterThan(0.5);
    expect(last).toBeLessThan(0.05);
  });
  it("state dict in and out, with clear errors", () => {
    const a = new LayerNorm(4, 1e-5, { backend: "ref" });
    const b = new LayerNorm(4, 1e-5, { backend: "ref" });
    a.weight.data.fill(2);
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.weight.toTypedArray())).toEqual([2, 2, 2, 2]);
    const c = new LayerNorm(5, 1e-5, { backend: "ref" });
    expect(() => c.loadStateDict(a.stateDict())).toThrow(/"weight" has shape \(4,\) in the state, \(5,\) in the model/);
    expect(a.numParameters()).toBe(8);
    a.requiresGrad(false);
    expect(a.numParameters(true)).toBe(0);
  });
});
