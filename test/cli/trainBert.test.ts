// `llmforge train --flavour bert --objective mlm [--nsp]`: a tiny BERT trains on a tiny corpus and
// leaves a Hugging Face BERT folder; bad combinations are refused with one line before any training.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensors } from "../../src/io/safetensors.js";
import { loadBert } from "../../src/model/bertFolder.js";
import { Tokenizer, writeTokenShard } from "../../src/tokenizer/index.js";
import { CLI } from "../helpers/tinyShards.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-bert-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** DIR/tokenizer.json and DIR/shards with an <|endoftext|> before every document, as `tokenizer shard` writes them. */
function writeDocShards(): { tokPath: string; shards: string } {
  const words = "the cat sat on a mat and the dog ran to the park while birds sang in the old tree".split(" ");
  const texts = Array.from({ length: 300 }, (_, i) => Array.from({ length: 8 + (i % 7) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "));
  const tok = Tokenizer.trainFromTexts(texts, { vocabSize: 300 });
  const tokPath = join(dir, "tokenizer.json");
  writeFileSync(tokPath, tok.toHuggingFaceJson());
  const eot = tok.specialId("<|endoftext|>");
  const ids = texts.flatMap((t) => [eot, ...tok.encode(` ${t}`)]);
  const shards = join(dir, "shards");
  mkdirSync(shards, { recursive: true });
  const cut = Math.floor(ids.length * 0.9);
  writeTokenShard(join(shards, "train_000000.bin"), ids.slice(0, cut), tok.vocabSize);
  writeTokenShard(join(shards, "val_000000.bin"), ids.slice(cut), tok.vocabSize);
  return { tokPath, shards };
}

const { tokPath, shards } = writeDocShards();
const train = (args: string[]) => {
  const r = spawnSync(process.execPath, [...CLI, "train", "--data", shards, "--tokenizer", tokPath, "--preset", "tiny", "--block", "32", "--batch", "8", ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe("llmforge train --flavour bert", () => {
  it("trains MLM + NSP, logs validation accuracies, and writes a Hugging Face BERT folder", () => {
    const out = join(dir, "run");
    const r = train(["--flavour", "bert", "--objective", "mlm", "--nsp", "--out", out, "--steps", "40", "--lr", "3e-3", "--eval-every", "20", "--eval-batches", "4", "--dropout", "0"]);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/trained 40 steps .*val MLM loss [\d.]+, MLM accuracy [\d.]+% -> [\d.]+%, NSP accuracy [\d.]+% -> [\d.]+%; model in /);
    const cfg = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
    expect(cfg).toMatchObject({ model_type: "bert", architectures: ["BertForPreTraining"], hidden_size: 64, num_attention_heads: 2, max_position_embeddings: 32, hidden_act: "gelu_new", vocab_size: 304 });
    const names = [...readSafetensors(join(out, "model", "model.safetensors")).tensors.keys()];
    expect(names).toContain("bert.encoder.layer.0.attention.self.query.weight");
    expect(names).toContain("cls.predictions.transform.dense.weight");
    expect(names).toContain("cls.seq_relationship.weight");
    // The run's tokenizer holds BERT's special tokens at the ids the model was trained with.
    const tok = Tokenizer.fromFile(join(out, "tokenizer", "tokenizer.json"));
    expect(tok.specialId("[MASK]")).toBe(302);
    expect(cfg.pad_token_id).toBe(tok.specialId("[PAD]"));
    expect(loadBert(join(out, "model")).config.vocabSize).toBe(tok.vocabSize);
    const log = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const steps = log.filter((l) => typeof l.loss === "number");
    expect(steps.length).toBe(40);
    const mean = (xs: { loss: number }[]) => xs.reduce((a, x) => a + x.loss, 0) / xs.length;
    expect(mean(steps.slice(-5))).toBeLessThan(mean(steps.slice(0, 5)) - 1);
    const vals = log.filter((l) => typeof l.val_mlm_loss === "number");
    expect(vals.map((v) => v.step)).toEqual([0, 20, 40]);
    expect(vals[2].val_mlm_loss).toBeLessThan(vals[0].val_mlm_loss);
    for (const v of vals) {
      expect(v.val_mlm_acc).toBeGreaterThanOrEqual(0);
      expect(v.val_nsp_acc).toBeGreaterThanOrEqual(0);
    }
    expect(steps[0]).toHaveProperty("mlm_acc");
    expect(steps[0]).toHaveProperty("nsp_acc");

    // The BERT folder given to a GPT command is refused by name.
    const g = spawnSync(process.execPath, [...CLI, "generate", "--model", out, "--prompt", "the cat"], { encoding: "utf8" });
    expect(g.status).toBe(1);
    expect(g.stderr).toMatch(/llmforge: .*this folder holds a bert model/);
    expect(g.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  it("--flavour bert alone trains masked LM (the flavour's objective), and --objective mlm alone a bert", () => {
    for (const args of [["--flavour", "bert"], ["--objective", "mlm"]]) {
      const out = join(dir, `plain-${args[0].slice(2)}`);
      const r = train([...args, "--out", out, "--steps", "3", "--eval-batches", "1"]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/MLM accuracy/);
      expect(r.out).not.toMatch(/NSP/);
      expect(JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8")).model_type).toBe("bert");
    }
  }, 60_000);

  it("refuses mlm on a decoder-only flavour, NSP without mlm, and heads that do not divide the width, before training", () => {
    const bad = [
      { args: ["--flavour", "gpt2", "--objective", "mlm"], msg: /llmforge: --objective mlm .* does not train a gpt2 model: use --flavour bert, or the objective of gpt2: --objective clm/ },
      { args: ["--flavour", "llama", "--objective", "mlm"], msg: /does not train a llama model/ },
      { args: ["--flavour", "bert", "--objective", "clm"], msg: /--objective clm .* does not train a bert model: use --flavour gpt2 or llama, or the objective of bert: --objective mlm/ },
      { args: ["--nsp"], msg: /--nsp and --mask-prob belong to --objective mlm/ },
      { args: ["--flavour", "bert", "--moe-experts", "4"], msg: /mixture-of-experts layers are for the gpt2 and llama flavours, not bert/ },
    ];
    for (const [i, b] of bad.entries()) {
      const out = join(dir, `bad${i}`);
      const r = train([...b.args, "--out", out, "--steps", "2"]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(b.msg);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    }
    const cfg = join(dir, "heads.json");
    writeFileSync(cfg, JSON.stringify({ hiddenSize: 48, numHiddenLayers: 1, numAttentionHeads: 5 }));
    const out = join(dir, "badcfg");
    const r = train(["--flavour", "bert", "--config", cfg, "--out", out, "--steps", "2"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/hiddenSize 48 is not divisible by numAttentionHeads 5/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
