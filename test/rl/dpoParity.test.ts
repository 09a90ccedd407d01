// DPO on a tiny exported model against PyTorch (test/rl/fixtures/dpoGolden.json, made by
// scripts/make_dpo_fixture.py): answer log-prob sums, the loss (cDPO + SFT term) and two gradients, in f64.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/model/serialize.js";
import { type DpoPair, pairLogps } from "../../src/rl/dpo.js";
import { dpoLoss } from "../../src/rl/dpoLoss.js";
import { Tensor } from "../../src/tensor/tensor.js";

const root = join(import.meta.dirname, "..", "..");
const G = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "dpoGolden.json"), "utf8")) as {
  format: string; version: number; model: string; beta: number; labelSmoothing: number; sftCoef: number; loss: number;
  pairs: { chosen: number[]; rejected: number[]; chosenLen: number; rejectedLen: number }[];
  refChosen: number[]; refRejected: number[]; policyChosen: number[]; policyRejected: number[]; grad: Record<string, number[]>;
};
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
};

describe("DPO matches PyTorch on the tiny gpt2 golden model", () => {
  it("fixture header", () => {
    expect(G.format).toBe("llmforge-dpo-golden");
    expect(G.version).toBe(1);
  });

  it("log-prob sums, loss and the gradients of wte.weight and ln_f.weight (f64, 1e-9)", () => {
    const model = loadModel(join(root, G.model), { backend: "ref", dtype: "f64" });
    const pairs: DpoPair[] = G.pairs.map((p) => ({ chosen: Int32Array.from(p.chosen), rejected: Int32Array.from(p.rejected), chosenLen: p.chosenLen, rejectedLen: p.rejectedLen }));
    const lp = pairLogps(model, pairs, 0);
    expect(relErr(lp.chosen.toTypedArray(), G.policyChosen)).toBeLessThan(1e-9);
    expect(relErr(lp.rejected.toTypedArray(), G.policyRejected)).toBeLessThan(1e-9);
    const t = (xs: number[]) => Tensor.from(Float64Array.from(xs), [xs.length], { dtype: "f64", backend: lp.chosen.backend });
    const loss = dpoLoss(
      { policyChosen: lp.chosen, policyRejected: lp.rejected, refChosen: t(G.refChosen), refRejected: t(G.refRejected), chosenTokens: pairs.map((p) => p.chosenLen) },
      { beta: G.beta, labelSmoothing: G.labelSmoothing, sftCoef: G.sftCoef },
    );
    expect(Math.abs(loss.item() - G.loss) / G.loss).toBeLessThan(1e-9);
    loss.backward();
    const params = new Map(model.namedParameters());
    for (const [name, want] of Object.entries(G.grad)) {
      const got = params.get(name)?.grad?.toTypedArray();
      expect(got, name).toBeDefined();
      expect(relErr(got ?? [], want), name).toBeLessThan(1e-9);
    }
  });
});
