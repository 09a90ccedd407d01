// The reward model: PyTorch golden rewards, loss and gradients (test/fixtures/reward_golden, made by
// scripts/make_reward_golden.py), padding invariance, f64 gradcheck through trunk and head, and the
// model folder (Hugging Face sequence-classification layout) refused where a policy is expected and back.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { relErr } from "../helpers/relErr.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { floatData, int32Data, readSafetensors } from "../../src/io/safetensors.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { loadRewardModel, RewardModel, RewardModelError, saveRewardModel, trunkOf } from "../../src/model/heads.js";
import { toHuggingFace } from "../../src/model/hfWeights.js";
import { loadModel, ModelLoadError, saveModel } from "../../src/model/serialize.js";
import { makeRewardBatch } from "../../src/reward/data.js";
import { type PromptGroup, rewardLoss } from "../../src/reward/losses.js";
import { batchRewards } from "../../src/reward/train.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";

const FIX = join(import.meta.dirname, "..", "fixtures");
const dir = mkdtempSync(join(tmpdir(), "llmforge-rm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** Golden groups: [better, worse, margin] pairs and null-or-number targets. */
function groupsOf(json: string): PromptGroup[] {
  const raw = JSON.parse(json) as { start: number; count: number; pairs: [number, number, number][]; targets: (number | null)[] }[];
  return raw.map((g) => ({ start: g.start, count: g.count, pairs: g.pairs.map(([better, worse, margin]) => ({ better, worse, margin })), targets: g.targets }));
}

for (const [flavour, modelDir] of [["gpt2", "gpt2_golden/model"], ["llama", "gpt2_golden/llama/model"]] as const) {
  describe(`${flavour} reward model vs PyTorch`, () => {
    const golden = readSafetensors(join(FIX, "reward_golden", `${flavour}.safetensors`));
    const g = (name: string) => {
      const t = golden.tensors.get(name);
      if (!t) throw new Error(`golden lacks ${name}`);
      return t;
    };

    it("fixture is the expected version", () => {
      expect(golden.metadata.format).toBe("llmforge-reward-golden");
      expect(golden.metadata.version).toBe("1");
    });

    for (const mode of ["padded", "packed"] as const) it(`ref backend, f64, ${mode} rows: rewards at the last real token, bt+mse loss, and every gradient to 1e-6`, () => {
      const trunk = trunkOf(loadModel(join(FIX, modelDir), { backend: "ref", dtype: "f64" }));
      const rm = new RewardModel(trunk, { scoreWeight: floatData(g("score.weight"), "score") });
      const tokens = g("tokens");
      const tok = int32Data(tokens, "tokens");
      const lengths = int32Data(g("lengths"), "lengths");
      const groups = groupsOf(golden.metadata.groups);
      const T = tokens.shape[1];
      // Packed: the same answers laid out several to a row by makeRewardBatch, as training does.
      const examples = groups.map((gr) => ({
        seqs: Array.from({ length: gr.count }, (_, i) => tok.slice((gr.start + i) * T, (gr.start + i) * T + lengths[gr.start + i])),
        pairs: [...gr.pairs], targets: gr.targets ? [...gr.targets] : null, responses: [],
      }));
      const packed = makeRewardBatch(examples, 0, T);
      if (mode === "packed") expect(packed.rows).toBeLessThan(lengths.length);
      const { rewards, loss } = tidy(() => {
        const r = mode === "padded" ? rm.rewards(ids(tok, tokens.shape), lengths) : batchRewards(rm, packed);
        const l = rewardLoss(r, mode === "padded" ? groups : packed.groups, { kind: "bt+mse", centerCoef: Number(golden.metadata.center_coef), mseCoef: Number(golden.metadata.mse_coef) });
        l.backward();
        return { rewards: r.toTypedArray().slice(), loss: l.item() };
      });
      expect(relErr(rewards, floatData(g("rewards"), "rewards"))).toBeLessThan(1e-6);
      const want = floatData(g("loss"), "loss")[0];
      expect(Math.abs(loss - want) / want).toBeLessThan(1e-6);
      expect(relErr(rm.score.weight.grad?.toTypedArray() ?? [], floatData(g("grad.score.weight"), "grad"))).toBeLessThan(1e-6);
      // Trunk gradients under their Hugging Face names and layouts.
      const grads = new GPT(trunk.config, { dtype: "f64", backend: "ref", initWeights: false });
      const own = new Map(trunk.namedParameters());
      for (const [n, p] of grads.namedParameters()) p.data.set(own.get(n)?.grad?.contiguousData() ?? [], p.offset);
      const hf = toHuggingFace(grads);
      const names = [...golden.tensors.keys()].filter((n) => n.startsWith("grad.") && n !== "grad.score.weight");
      expect(names.length).toBe(hf.size);
      for (const n of names) expect(relErr(hf.get(n.slice(5))?.data ?? [], floatData(g(n), n)), n).toBeLessThan(1e-6);
    });
  });
}

function tinyRm(flavour: "gpt2" | "llama", backend?: "ref"): RewardModel {
  const cfg = makeConfig({ flavour, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 12, vocabSize: 40, initStd: 0.2, tiedEmbeddings: flavour === "gpt2" });
  return new RewardModel(trunkOf(new GPT(cfg, { seed: 4, backend, dtype: backend ? "f64" : "f32" })), { seed: 5 });
}

describe("reading the reward at the last real token", () => {
  for (const flavour of ["gpt2", "llama"] as const) {
    it(`${flavour}: padded batches (any pad id, any width) and packed rows give each sequence its unpadded reward`, () => {
      const rm = tinyRm(flavour);
      const seqs = [[3, 9, 12, 1, 7], [5, 6], [8, 2, 2, 30, 11, 4, 19, 25, 13]];
      const alone = seqs.map((s) => tidy(() => rm.rewards(ids(s, [1, s.length]), Int32Array.of(s.length)).item()));
      for (const [pad, width] of [[0, 9], [39, 9], [7, 12]]) {
        const flat = new Int32Array(seqs.length * width).fill(pad);
        for (const [b, s] of seqs.entries()) flat.set(s, b * width);
        const batch = tidy(() => rm.rewards(ids(flat, [seqs.length, width]), Int32Array.from(seqs.map((s) => s.length))).toTypedArray().slice());
        for (let b = 0; b < seqs.length; b++) expect(batch[b], `pad ${pad} width ${width} row ${b}`).toBeCloseTo(alone[b], 5);
      }
      // Packed: several answers per row of the block, each attending to itself only.
      const ex = [{ seqs: seqs.slice(0, 2).map((s) => Int32Array.from(s)), pairs: [], targets: null, responses: [0, 1] }, { seqs: [Int32Array.from(seqs[2])], pairs: [], targets: null, responses: [0] }];
      const b = makeRewardBatch(ex, 3, 12);
      expect(b.rows).toBe(2); // 9 tokens alone, 5 + 2 together
      const packed = tidy(() => batchRewards(rm, b).toTypedArray().slice());
      for (let i = 0; i < seqs.length; i++) expect(packed[i], `packed ${i}`).toBeCloseTo(alone[i], 5);
    });
  }

  it("refuses lengths outside 1..T", () => {
    const rm = tinyRm("gpt2");
    expect(() => rm.rewards(ids([1, 2, 3, 4], [2, 2]), Int32Array.of(2, 0))).toThrow(/length 0, expected 1\.\.2/);
    expect(() => rm.rewards(ids([1, 2, 3, 4], [2, 2]), Int32Array.of(2))).toThrow(/1 lengths for 2/);
  });

  it("gradcheck (f64): the loss through the head and the trunk matches finite differences", () => {
    const rm = tinyRm("llama", "ref");
    const idx = ids([3, 9, 12, 1, 5, 6, 0, 0, 8, 2, 2, 30], [3, 4]);
    const lengths = Int32Array.of(4, 2, 4);
    const groups: PromptGroup[] = [{ start: 0, count: 3, pairs: [{ better: 0, worse: 1, margin: 0.2 }, { better: 2, worse: 1, margin: 0 }], targets: [0.5, -1, null] }];
    const params = [rm.score.weight, rm.trunk.h.at(1).attn.c_proj.weight, rm.trunk.ln_f.weight];
    const res = gradcheck(() => rewardLoss(rm.rewards(idx, lengths), groups, { kind: "bt+mse", centerCoef: 0.1 }), params);
    expect(res.ok, res.where).toBe(true);
  });
});

describe("reward model folders", () => {
  it("round-trips as a sequence classifier (config.json names the architecture, num_labels 1, score.weight)", () => {
    for (const flavour of ["gpt2", "llama"] as const) {
      const rm = tinyRm(flavour);
      const out = join(dir, `rm-${flavour}`);
      saveRewardModel(out, rm, { padTokenId: 39, eosTokenId: 38, extra: { llmforge_reward: { loss: "bt" } } });
      const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      expect(cfg.architectures).toEqual([flavour === "gpt2" ? "GPT2ForSequenceClassification" : "LlamaForSequenceClassification"]);
      expect(cfg).toMatchObject({ num_labels: 1, pad_token_id: 39, eos_token_id: 38, llmforge_reward: { loss: "bt" } });
      const names = [...readSafetensors(join(out, "model.safetensors")).tensors.keys()];
      expect(names).toContain("score.weight");
      expect(names.some((n) => n === "lm_head.weight")).toBe(false);
      if (flavour === "gpt2") expect(names.filter((n) => n !== "score.weight").every((n) => n.startsWith("transformer."))).toBe(true);
      const back = loadRewardModel(out).model;
      const x = ids([1, 2, 3, 4, 5, 6], [2, 3]);
      const len = Int32Array.of(3, 2);
      expect(Array.from(back.rewards(x, len).toTypedArray())).toEqual(Array.from(rm.rewards(x, len).toTypedArray()));
    }
  });

  it("a reward model where a policy is expected, and a policy where a reward model is expected, are clear errors", () => {
    const rmDir = join(dir, "rm-gpt2");
    saveRewardModel(rmDir, tinyRm("gpt2"));
    expect(() => loadModel(rmDir)).toThrow(ModelLoadError);
    expect(() => loadModel(rmDir)).toThrow(/holds a reward model \(GPT2ForSequenceClassification\).*cannot generate text/);
    const lmDir = join(dir, "lm");
    saveModel(lmDir, new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 40 })));
    expect(() => loadRewardModel(lmDir)).toThrow(RewardModelError);
    expect(() => loadRewardModel(lmDir)).toThrow(/holds a language model \(\["GPT2LMHeadModel"\]\), not a reward model/);
  });
});
