// `reward()` with the PEFT options of `llmforge sft`: freezing keeps the frozen trunk weights bit-identical
// (only the last blocks, the final norm and the head move), LoRA is merged into a plain reward model folder
// (untargeted weights unchanged) and resumes exactly, and bad options are clear errors in the library and the CLI.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { loadRewardModel } from "../../src/model/heads.js";
import { saveModel } from "../../src/model/serialize.js";
import { reward, type RewardOptions } from "../../src/reward/train.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { MetricsLog } from "../../src/train/metricsLog.js";

const root = join(import.meta.dirname, "..", "..");
let dir: string;
let base: Map<string, Float32Array>;
const WORDS = ["great", "awful", "the", "film", "was", "plot", "review", "user", "assistant"];

/** "review the film" -> "the film was great" over "the film was awful" (or the reverse order of answers). */
function record(rng: Rng): Record<string, unknown> {
  const flip = rng.int(2) === 1;
  const good = `the ${WORDS[3 + rng.int(3)]} was great`;
  const bad = `the ${WORDS[3 + rng.int(3)]} was awful`;
  return { prompt: [{ role: "user", content: "review the film" }], responses: flip ? [bad, good] : [good, bad], pairs: [{ better: flip ? 1 : 0, worse: flip ? 0 : 1 }] };
}

const lines = (rs: unknown[]) => `${rs.map((r) => JSON.stringify(r)).join("\n")}\n`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-reward-peft-"));
  const rng = new Rng(4);
  writeFileSync(join(dir, "train.jsonl"), lines(Array.from({ length: 48 }, () => record(rng))));
  writeFileSync(join(dir, "heldout.jsonl"), lines(Array.from({ length: 8 }, () => record(rng))));
  const tok = Tokenizer.trainFromTexts(WORDS.map((w) => ` ${w}\n${w}`.repeat(4)), { vocabSize: 300 });
  mkdirSync(join(dir, "sft", "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "sft", "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  const gpt = new GPT(makeConfig({ nLayer: 3, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: tok.vocabSize, initStd: 0.05 }), { seed: 3 });
  saveModel(join(dir, "sft", "model"), gpt);
  base = new Map(gpt.namedParameters().map(([n, p]) => [n, Float32Array.from(p.contiguousData())]));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (out: string, extra: Partial<RewardOptions> = {}): RewardOptions => ({
  model: join(dir, "sft"), data: [join(dir, "train.jsonl")], valData: [join(dir, "heldout.jsonl")], out,
  batchSize: 4, steps: 6, lr: 1e-2, warmupSteps: 1, evalEvery: 3, checkpointEvery: 3, seed: 5, progress: false, ...extra,
});

/** The trunk weights of a saved reward model folder, by the base GPT's parameter names. */
function trunkWeights(out: string): Map<string, Float32Array> {
  const { model } = loadRewardModel(join(out, "model"));
  return new Map(model.trunk.namedParameters().map(([n, p]) => [n, Float32Array.from(p.contiguousData())]));
}

/** Names of the trunk weights that differ from the base model's. */
function moved(out: string): string[] {
  const after = trunkWeights(out);
  expect([...after.keys()].sort()).toEqual([...base.keys()].sort());
  return [...after].filter(([n, w]) => !w.every((x, i) => x === (base.get(n) as Float32Array)[i])).map(([n]) => n).sort();
}

describe("reward with PEFT", () => {
  it("--peft freeze --freeze-layers 1: only the last block and ln_f (and the head) move; the rest is bit-identical", async () => {
    const out = join(dir, "freeze1");
    const s = await reward(opts(out, { peft: { method: "freeze", trainLastLayers: 1 } }));
    const lastAndNorm = [...base.keys()].filter((n) => n.startsWith("h.2.") || n.startsWith("ln_f.")).sort();
    expect(moved(out)).toEqual(lastAndNorm);
    expect(s.params.trainable).toBe(lastAndNorm.reduce((k, n) => k + (base.get(n) as Float32Array).length, 0) + 32); // + the head (1 x C)
    expect(s.params.total).toBe([...base.values()].reduce((k, w) => k + w.length, 0) + 32);
    const cfg = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
    expect(cfg.llmforge_reward.peft).toEqual({ method: "freeze", trainLastLayers: 1, freeze: [] });
    // Glob freezing reaches the trunk's module paths too: with the embeddings frozen, everything else moves.
    const out2 = join(dir, "freezewte");
    await reward(opts(out2, { steps: 2, peft: { method: "freeze", freeze: ["wte", "wpe"] } }));
    expect(moved(out2)).toEqual([...base.keys()].filter((n) => !/^(wte|wpe)\./.test(n)).sort());
  }, 120_000);

  it("--peft lora: merged into a plain reward model folder (untargeted weights unchanged) and resumes exactly", async () => {
    const out = join(dir, "lora");
    const peft = { method: "lora" as const, r: 4, alpha: 8, targets: "c_attn" };
    const s = await reward(opts(out, { peft }));
    expect(moved(out)).toEqual(["h.0.attn.c_attn.weight", "h.1.attn.c_attn.weight", "h.2.attn.c_attn.weight"]);
    expect(s.params.trainable).toBe(3 * 4 * (32 + 96) + 32); // A (r x C) and B (3C x r) per block, + the head
    const losses = () => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number").map((r) => r.loss);
    const whole = losses();
    expect(whole).toHaveLength(6);
    const weights = trunkWeights(out);
    rmSync(join(out, "checkpoints", "step_00000006"), { recursive: true, force: true });
    await reward(opts(out, { peft, resume: true }));
    expect(losses()).toEqual(whole);
    expect(trunkWeights(out)).toEqual(weights);
    await expect(reward(opts(out, { resume: true }))).rejects.toThrow(/--peft .*lora.*\(now .*none/);
  }, 120_000);

  it("refuses PEFT configs that do not fit, with messages that say what would", async () => {
    const bad = (peft: RewardOptions["peft"]) => reward(opts(join(dir, "bad"), { peft }));
    await expect(bad({ method: "adapter" })).rejects.toThrow(/reward models train with --peft none, freeze, lora, not "adapter"/);
    await expect(bad({ method: "prefix" })).rejects.toThrow(/not "prefix"/);
    await expect(bad({ method: "freeze", trainLastLayers: 4 })).rejects.toThrow(/trainLastLayers 4 exceeds the model's 3 layers/);
    await expect(bad({ method: "freeze" })).rejects.toThrow(/needs trainLastLayers or freeze patterns/);
    await expect(bad({ method: "freeze", freeze: ["h.*.nothing"] })).rejects.toThrow(/freeze pattern "h\.\*\.nothing" matches no module/);
    await expect(bad({ method: "lora", r: 0 })).rejects.toThrow(/r must be at least 1/);
    await expect(bad({ method: "lora", targets: "lm_head" })).rejects.toThrow(/ties its head/);
  }, 60_000);

  it("CLI: LoRA/freezing flags without their --peft method, and --peft freeze without what to freeze, are errors", () => {
    const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(root, "src", "cli", "main.ts"), "reward", "--model", join(dir, "sft"), "--data", join(dir, "train.jsonl"), "--out", join(dir, "cli"), ...args], { cwd: root, encoding: "utf8" });
    const cases: Array<[string[], RegExp]> = [
      [["--freeze-layers", "1"], /--freeze-layers needs --peft freeze \(got --peft none\)/],
      [["--peft", "lora", "--freeze-layers", "1"], /--freeze-layers needs --peft freeze \(got --peft lora\)/],
      [["--lora-r", "4"], /--lora-r needs --peft lora/],
      [["--peft", "freeze"], /--peft freeze needs --freeze-layers N/],
      [["--peft", "adapter"], /--peft.*adapter.*(none, freeze, lora|Allowed choices)/],
      [["--peft", "freeze", "--freeze-layers", "0"], /--freeze-layers.*positive whole number/],
    ];
    for (const [args, re] of cases) {
      const r = cli(args);
      expect(r.status, args.join(" ")).not.toBe(0);
      expect(r.stderr, args.join(" ")).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 120_000);
});
