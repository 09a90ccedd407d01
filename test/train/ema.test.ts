// The step loop's moving average of the weights (--ema): the update rule by hand, the model a run hands
// back is the average of its steps' weights, evaluations score the average, and an interrupted run
// resumes to the same average bit for bit.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Linear } from "../../src/nn/layers.js";
import { Module } from "../../src/nn/module.js";
import { WeightEma } from "../../src/optim/ema.js";
import { mean, mul, sub } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { CheckpointError } from "../../src/train/checkpoint.js";
import { type BatchSource, runStepLoop, type StepLoopOptions } from "../../src/train/loop.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-ema-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Net extends Module {
  readonly lin: Linear;
  constructor() {
    super();
    this.lin = this.addModule("lin", new Linear(4, 2, { rng: new Rng(5) }));
  }
}

interface Batch {
  x: Tensor;
  y: Tensor;
}

/** Noisy linear regression batches; the cursor is the batch index. */
class Batches implements BatchSource<Batch> {
  i = 0;
  next(): Batch {
    const rng = new Rng(100 + this.i++);
    const x = Array.from({ length: 32 }, () => rng.normal());
    const y = Array.from({ length: 16 }, (_, k) => {
      const r = Math.floor(k / 2);
      const xs = x.slice(r * 4, r * 4 + 4);
      return (k % 2 === 0 ? xs[0] - 2 * xs[1] : 0.5 * xs[2] + xs[3]) + 0.3 * rng.normal();
    });
    return { x: Tensor.from(x, [8, 4]), y: Tensor.from(y, [8, 2]) };
  }
  getCursor(): unknown {
    return this.i;
  }
  setCursor(c: unknown): void {
    this.i = c as number;
  }
}

const weightsOf = (m: Net): number[] => [...m.lin.weight.contiguousData(), ...(m.lin.bias?.contiguousData() ?? [])];

function options(out: string, model: Net, extra: Partial<StepLoopOptions<Batch>> = {}): StepLoopOptions<Batch> {
  return {
    outDir: out, model, batches: new Batches(), progress: false, maxSteps: 30, maxLr: 0.05, warmupSteps: 3, seed: 1,
    lossOf: (b) => {
      const d = sub(model.lin.forward(b.x), b.y);
      return mean(mul(d, d));
    },
    weightOf: () => 8, evalEvery: 10, checkpointEvery: 7,
    evaluate: () => ({ w0: model.lin.weight.contiguousData()[0] }),
    ...extra,
  };
}

describe("WeightEma", () => {
  it("moves each average a share 1 - min(decay, (1 + step) / (10 + step)) of the way to the weights", () => {
    const p = Tensor.from([1, 2], [2], { requiresGrad: true });
    const ema = new WeightEma([p], 0.9);
    p.data.set([3, 6]);
    ema.update(1); // d = min(0.9, 2/11)
    const d1 = 2 / 11;
    expect(Array.from(ema.averaged[0])).toEqual([1 * d1 + 3 * (1 - d1), 2 * d1 + 6 * (1 - d1)].map(Math.fround));
    expect(ema.decayAt(1000)).toBe(0.9);
    expect(() => ema.withAveraged(() => {
      expect(Array.from(p.data)).toEqual(Array.from(ema.averaged[0]));
      throw new Error("inside");
    })).toThrow("inside");
    expect(Array.from(p.data)).toEqual([3, 6]);
    expect(() => new WeightEma([p], 1)).toThrow(/between 0 and 1/);
    expect(() => new WeightEma([p], 0)).toThrow(/between 0 and 1/);
  });
});

describe("runStepLoop with ema", () => {
  it("hands back the average of the steps' weights, and evaluates the average", async () => {
    // the trained weights after every step, from a run without the average (the same steps: the average never feeds back)
    const plain = new Net();
    const steps: number[][] = [weightsOf(plain)];
    await runStepLoop(options(join(dir, "plain"), plain, { onStep: () => steps.push(weightsOf(plain)) }));
    const decay = 0.8;
    let avg = steps[0].map(Math.fround);
    for (let s = 1; s < steps.length; s++) {
      const d = Math.min(decay, (1 + s) / (10 + s));
      avg = avg.map((a, j) => Math.fround(a + Math.fround(1 - d) * (steps[s][j] - a)));
    }
    const m = new Net();
    const summary = await runStepLoop(options(join(dir, "ema"), m, { ema: decay }));
    const got = weightsOf(m);
    got.forEach((g, j) => {
      expect(g).toBeCloseTo(avg[j], 6);
    });
    expect(got).not.toEqual(steps[steps.length - 1]);
    expect(summary.val?.w0).toBe(got[0]);
  });

  it("resumes an interrupted run to the same average and trained weights, bit for bit", async () => {
    const whole = new Net();
    await runStepLoop(options(join(dir, "whole"), whole, { ema: 0.9 }));

    const stop = new AbortController();
    const first = new Net();
    const part = await runStepLoop(options(join(dir, "part"), first, { ema: 0.9, signal: stop.signal, onStep: (s) => s === 12 && stop.abort() }));
    expect(part.stoppedBy).toBe("interrupted");
    const resumed = new Net();
    await runStepLoop(options(join(dir, "part"), resumed, { ema: 0.9, resume: true }));
    expect(weightsOf(resumed)).toEqual(weightsOf(whole));
  });

  it("refuses to resume with an average from a checkpoint written without one", async () => {
    const stop = new AbortController();
    await runStepLoop(options(join(dir, "noema"), new Net(), { signal: stop.signal, onStep: (s) => s === 8 && stop.abort() }));
    await expect(runStepLoop(options(join(dir, "noema"), new Net(), { ema: 0.9, resume: true }))).rejects.toThrow(CheckpointError);
  });
});
