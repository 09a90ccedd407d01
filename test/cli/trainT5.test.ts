// `llmforge train --flavour t5 --objective span`: a tiny T5 trains span corruption on a tiny corpus and
// leaves a Hugging Face T5 folder; bad combinations are refused with one line before any training.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensors } from "../../src/io/safetensors.js";
import { loadT5 } from "../../src/model/t5Folder.js";
import { ids } from "../../src/tensor/ops/index.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { CLI, writeTinyShards } from "../helpers/tinyShards.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-t5-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { tok, tokPath, shards } = writeTinyShards(dir);
const train = (args: string[]) => {
  const r = spawnSync(process.execPath, [...CLI, "train", "--data", shards, "--tokenizer", tokPath, "--preset", "tiny", "--block", "32", "--batch", "8", ...args], { encoding: "utf8" });
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe("llmforge train --flavour t5 --objective span", () => {
  const out = join(dir, "run");

  it("trains span corruption, logs validation loss and accuracy, and writes a Hugging Face T5 folder", () => {
    const r = train(["--flavour", "t5", "--objective", "span", "--out", out, "--steps", "40", "--lr", "3e-3", "--eval-every", "20", "--eval-batches", "4"]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/model: t5 2\+2 blocks, 2 heads, width 64, .* parameters; objective: span corruption, 32 tokens per row -> encoder 30, decoder 8/);
    expect(r.out).toMatch(/trained 40 steps .*val loss [\d.]+ -> [\d.]+, target accuracy [\d.]+% -> [\d.]+%; model in /);
    const cfg = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
    const runTok = Tokenizer.fromFile(join(out, "tokenizer", "tokenizer.json"));
    expect(runTok.vocabSize).toBe(tok.vocabSize + 102);
    expect(cfg).toMatchObject({
      architectures: ["T5ForConditionalGeneration"], model_type: "t5", d_model: 64, d_kv: 32, num_heads: 2, num_layers: 2, num_decoder_layers: 2,
      vocab_size: tok.vocabSize + 102, pad_token_id: runTok.specialId("<pad>"), decoder_start_token_id: runTok.specialId("<pad>"), eos_token_id: runTok.specialId("</s>"),
    });
    expect(runTok.specialId("<extra_id_0>")).toBe(tok.vocabSize + 2);
    const names = [...readSafetensors(join(out, "model", "model.safetensors")).tensors.keys()];
    expect(names).toContain("shared.weight");
    expect(names).toContain("decoder.block.1.layer.1.EncDecAttention.o.weight");
    expect(names).toContain("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    expect(names).not.toContain("lm_head.weight");
    expect(existsSync(join(out, "checkpoints", "step_00000040", "state.json"))).toBe(true);

    const log = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const steps = log.filter((l) => typeof l.loss === "number");
    expect(steps.length).toBe(40);
    const mean = (xs: { loss: number }[]) => xs.reduce((a, x) => a + x.loss, 0) / xs.length;
    expect(mean(steps.slice(-5))).toBeLessThan(mean(steps.slice(0, 5)) - 1);
    const vals = log.filter((l) => typeof l.val_loss === "number");
    expect(vals.map((v) => v.step)).toEqual([0, 20, 40]);
    expect(vals[2].val_loss).toBeLessThan(vals[0].val_loss - 1);
    expect(vals[2].val_acc).toBeGreaterThan(vals[0].val_acc);

    // The trained model predicts the first sentinel first: decoding starts the way its targets do.
    const model = loadT5(join(out, "model"));
    const prompt = [...tok.encode(" the cat sat on a mat and"), runTok.specialId("<extra_id_0>"), runTok.specialId("</s>")];
    const [gen] = model.generate(ids(prompt, [1, prompt.length]), { maxNewTokens: 4 });
    expect(gen[0]).toBe(runTok.specialId("<extra_id_0>"));
  }, 120_000);

  it("--objective span alone picks the t5 flavour: its finished run is found, and resuming it needs --extend", () => {
    const r = train(["--objective", "span", "--out", out, "--steps", "40", "--resume"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/llmforge: .*--extend/);
  }, 60_000);

  it("refuses span corruption for a decoder-only flavour, and clm for t5", () => {
    const a = train(["--flavour", "gpt2", "--objective", "span", "--out", join(dir, "bad1")]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/llmforge: --objective span .* does not train a gpt2 model: use --flavour t5/);
    const b = train(["--flavour", "t5", "--objective", "clm", "--out", join(dir, "bad1")]);
    expect(b.err).toMatch(/llmforge: --objective clm .* does not train a t5 model: .*--objective span/);
    const c = train(["--flavour", "t5", "--moe-experts", "4", "--out", join(dir, "bad1")]);
    expect(c.err).toMatch(/mixture-of-experts layers are for the gpt2 and llama flavours, not t5/);
    const d = train(["--flavour", "gpt2", "--noise-density", "0.2", "--out", join(dir, "bad1")]);
    expect(d.err).toMatch(/--noise-density and --mean-span belong to --objective span/);
    expect(existsSync(join(dir, "bad1"))).toBe(false);
  }, 60_000);

  it("refuses a width that does not split into heads, and a window too short to corrupt", () => {
    const cfg = join(dir, "t5.json");
    writeFileSync(cfg, JSON.stringify({ dModel: 100, numHeads: 3, numLayers: 1 }));
    const a = train(["--flavour", "t5", "--config", cfg, "--out", join(dir, "bad2")]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/llmforge: .*t5\.json is invalid:\n\s+dModel 100 is not divisible by numHeads 3: give dKv/);
    const b = train(["--flavour", "t5", "--block", "1", "--out", join(dir, "bad2")]);
    expect(b.err).toMatch(/llmforge: a window of 1 tokens is too short to corrupt/);
    expect(existsSync(join(dir, "bad2"))).toBe(false);
  }, 60_000);

  it("llmforge generate answers with the T5: the prompt is the encoder input, greedy or sampled", () => {
    const gen = (args: string[]) => spawnSync(process.execPath, [...CLI, "generate", "--model", out, "--max-tokens", "6", ...args], { encoding: "utf8" });
    const runTok = Tokenizer.fromFile(join(out, "tokenizer", "tokenizer.json"));
    const g = gen(["--prompt", " the cat sat on a mat and<extra_id_0>", "--temperature", "0", "--json"]);
    expect(g.stderr).not.toMatch(/\n\s+at /);
    expect(g.status).toBe(0);
    const r = JSON.parse(g.stdout);
    expect(r.tokens[0]).toBe(runTok.specialId("<extra_id_0>"));
    expect(r.tokens.length).toBeLessThanOrEqual(6);
    expect(r.finishReason === "eos").toBe(r.tokens[r.tokens.length - 1] === runTok.specialId("</s>"));
    expect(r.text.startsWith("<extra_id_0>")).toBe(true);
    const again = JSON.parse(gen(["--prompt", " the cat sat on a mat and<extra_id_0>", "--temperature", "0", "--json"]).stdout);
    expect(again.tokens).toEqual(r.tokens);
    const sampled = gen(["--prompt", " the dog", "--temperature", "1.5", "--seed", "3"]);
    expect(sampled.status).toBe(0);
    expect(sampled.stderr).toMatch(/\[\d+ tokens in [\d.]+s; encoder input \d+ tokens; stopped: (eos|length)\]/);
    const chat = gen(["--prompt", "hi", "--chat"]);
    expect(chat.status).toBe(1);
    expect(chat.stderr).toMatch(/llmforge: --chat, --kb and --stop are for decoder-only models/);
  }, 60_000);

  it("a T5 run given to a GPT command is refused by name", () => {
    const r = spawnSync(process.execPath, [...CLI, "eval", "--model", out, "--data", join(shards, "val_000000.bin")], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/llmforge: .*this folder holds a t5 model; it is an encoder-decoder/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
