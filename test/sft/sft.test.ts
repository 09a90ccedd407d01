// `sft()` end to end on a tiny base run: learns (held-out loss falls), writes a model folder with
// tokenizer + template that loads and chats, resumes bit-identically, and refuses bad input clearly.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generate } from "../../src/infer/generate.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { loadRun } from "../../src/model/runFolder.js";
import { saveModel } from "../../src/model/serialize.js";
import { buildInstructionMix } from "../../src/sft/instructionMix.js";
import { sft, type SftOptions } from "../../src/sft/train.js";
import { readTokenizerConfig, renderChat } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { brokenWeightsCopy } from "../helpers/brokenRun.js";

let dir: string;
let tok: Tokenizer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-sft-"));
  const mix = buildInstructionMix({ seed: 3, perTask: 24, tasks: ["arithmetic", "spelling", "capital"] });
  const lines = (cs: unknown[]) => `${cs.map((c) => JSON.stringify(c)).join("\n")}\n`;
  writeFileSync(join(dir, "train.jsonl"), lines(mix.train));
  writeFileSync(join(dir, "heldout.jsonl"), lines(mix.heldout.slice(0, 12)));
  // The same data in Alpaca form: another format goes through the same converter.
  writeFileSync(join(dir, "alpaca.json"), JSON.stringify(mix.train.slice(0, 8).map((c) => ({ instruction: c.messages.at(-2)?.content, input: "", output: c.messages.at(-1)?.content }))));
  tok = Tokenizer.trainFromTexts(mix.train.map((c) => c.messages.map((m) => m.content).join(" ")), { vocabSize: 400 });
  mkdirSync(join(dir, "base", "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "base", "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  const model = new GPT(makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 96, vocabSize: tok.vocabSize, initStd: 0.1 }), { seed: 3 });
  saveModel(join(dir, "base", "model"), model);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (out: string, extra: Partial<SftOptions> = {}): SftOptions => ({
  model: join(dir, "base"), data: [join(dir, "train.jsonl")], valData: [join(dir, "heldout.jsonl")], out,
  batchSize: 4, steps: 8, lr: 3e-3, warmupSteps: 2, evalEvery: 4, checkpointEvery: 4, evalPrompts: 4, seed: 5, progress: false, ...extra,
});

describe("sft", () => {
  it("lowers the held-out loss and writes a chat model folder that loads and stops at <|im_end|>", async () => {
    const out = join(dir, "run1");
    const s = await sft(opts(out, { steps: 30, lr: 1e-2 }));
    expect(s.after.loss).not.toBeNull();
    expect(s.after.loss as number).toBeLessThan((s.before.loss as number) - 0.5);
    expect(s.params.trainable).toBe(s.params.total);
    for (const f of ["model/model.safetensors", "model/config.json", "model/tokenizer.json", "model/tokenizer_config.json", "tokenizer/tokenizer.json", "sft.json", "metrics.jsonl"]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const cfg = readTokenizerConfig(join(out, "model"));
    expect(cfg?.chatTemplate).toContain("<|im_start|>");
    expect(cfg?.eosToken).toBe("<|im_end|>");
    const { model, tokenizer } = loadRun(out);
    const prompt = renderChat(cfg?.chatTemplate as string, [{ role: "user", content: "Hi" }], { addGenerationPrompt: true });
    const r = generate(model, tokenizer.encode(prompt, { allowedSpecial: "all" }), { maxTokens: 20, temperature: 0, stopTokens: [tokenizer.specialId("<|im_end|>")] });
    expect(["stop_token", "length"]).toContain(r.finishReason);
    const log = new MetricsLog(join(out, "metrics.jsonl")).read();
    expect(log.some((r) => typeof r.val_loss === "number")).toBe(true);
  }, 60_000);

  it("resumes exactly: resuming from the step-4 checkpoint logs the same losses as the uninterrupted run", async () => {
    const out = join(dir, "resume");
    await sft(opts(out));
    const losses = () => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number").map((r) => r.loss);
    const whole = losses();
    expect(whole).toHaveLength(8);
    rmSync(join(out, "checkpoints", "step_00000008"), { recursive: true, force: true });
    const s = await sft(opts(out, { resume: true }));
    expect(s.training.steps).toBe(8);
    expect(losses()).toEqual(whole);
  }, 60_000);

  it("resume refuses a finished run and changed options, keeps the schedule, extends only with extend; a stopped run writes no model", async () => {
    const out = join(dir, "resume"); // finished at step 8 by the test above
    await expect(sft(opts(out, { resume: true }))).rejects.toThrow(/already finished at step 8/);
    await expect(sft(opts(out, { resume: true, extend: true, steps: 10, seed: 6, packing: "none" }))).rejects.toThrow(/--packing bfd \(now none\); --seed 5 \(now 6\)\. These cannot change/);
    const s = await sft(opts(out, { resume: true, extend: true, steps: 10, lr: 1 }));
    expect(s.training.steps).toBe(10);
    expect(JSON.parse(readFileSync(join(out, "run.json"), "utf8")).options).toMatchObject({ steps: 10, lr: 3e-3 });

    const stop = new AbortController();
    stop.abort("SIGINT");
    const cut = await sft(opts(join(dir, "stopped"), { signal: stop.signal }));
    expect(cut.training.stoppedBy).toBe("interrupted");
    expect(cut.modelDir).toBeNull();
    expect(existsSync(join(dir, "stopped", "model"))).toBe(false);
    expect(existsSync(join(dir, "stopped", "checkpoints", "step_00000000", "state.json"))).toBe(true);
  }, 60_000);

  it("a tokenizer without the chat tokens is refused, or grown with addChatTokens (old logits unchanged)", async () => {
    const plain = Tokenizer.trainFromTexts(["plain text only, no chat markers here"], { vocabSize: 300, specialTokens: ["<|endoftext|>"] });
    const base = join(dir, "plain");
    mkdirSync(join(base, "tokenizer"), { recursive: true });
    writeFileSync(join(base, "tokenizer", "tokenizer.json"), plain.toHuggingFaceJson());
    const m = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 96, vocabSize: plain.vocabSize, initStd: 0.1 }), { seed: 1 });
    saveModel(join(base, "model"), m);
    await expect(sft(opts(join(dir, "plain-run"), { model: base, steps: 2 }))).rejects.toThrow(/<\|im_start\|>/);
    const s = await sft(opts(join(dir, "plain-run2"), { model: base, steps: 2, evalPrompts: 0, addChatTokens: true }));
    const { model, tokenizer } = loadRun(s.out);
    expect(tokenizer.specialId("<|im_end|>")).toBeGreaterThanOrEqual(plain.vocabSize);
    expect(model.config.vocabSize).toBe(tokenizer.vocabSize);
    const grown = m.withVocabSize(plain.vocabSize + 3);
    const x = { data: Int32Array.from([1, 2, 3]), shape: [1, 3] };
    const a = m.forward(x).toTypedArray();
    const b = grown.forward(x).toTypedArray();
    for (let t = 0; t < 3; t++) for (let v = 0; v < plain.vocabSize; v++) expect(b[t * (plain.vocabSize + 3) + v]).toBeCloseTo(a[t * plain.vocabSize + v], 5);
  }, 60_000);

  it("llmforge generate --chat renders the template and stops at <|im_end|>", async () => {
    const { Command } = await import("commander");
    const { registerGenerateCommand } = await import("../../src/cli/generate.js");
    let out = "";
    let err = "";
    const o = vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
      out += String(c);
      return true;
    });
    const e = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
      err += String(c);
      return true;
    });
    try {
      const program = new Command().exitOverride();
      registerGenerateCommand(program);
      await program.parseAsync(["node", "llmforge", "generate", "--model", join(dir, "run1"), "--chat", "--prompt", "What is 2 plus 2?", "--temperature", "0", "--max-tokens", "40", "--json"]);
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
    const r = JSON.parse(out.trim()) as { finishReason: string; text: string };
    expect(err).toContain("stopped: stop_token");
    expect(r.finishReason).toBe("stop_token");
    expect(r.text).not.toContain("<|im_end|>");
  }, 60_000);

  it("LoRA: trains adapters only, saves them in PEFT layout, merges into the model folder, resumes exactly", async () => {
    const out = join(dir, "lora");
    const s = await sft(opts(out, { peft: { method: "lora", r: 4, alpha: 8 } }));
    expect(s.params.trainable).toBeLessThan(s.params.total / 5);
    for (const f of ["adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/tokenizer_config.json", "model/model.safetensors"]) expect(existsSync(join(out, f)), f).toBe(true);
    expect(existsSync(join(out, "model", "adapter_config.json"))).toBe(false); // merged: a plain model
    const cfg = JSON.parse(readFileSync(join(out, "adapter", "adapter_config.json"), "utf8"));
    expect(cfg.peft_type).toBe("LORA");
    const losses = () => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number").map((r) => r.loss);
    const whole = losses();
    rmSync(join(out, "checkpoints", "step_00000008"), { recursive: true, force: true });
    await expect(sft(opts(out, { resume: true }))).rejects.toThrow(/started with --peft \{"method":"lora".*\(now \{"method":"none"\}\).*cannot change when a run resumes/);
    await sft(opts(out, { peft: { method: "lora", r: 4, alpha: 8 }, resume: true }));
    expect(losses()).toEqual(whole);
  }, 60_000);

  for (const peft of [{ method: "adapter" as const, reductionFactor: 4 }, { method: "prefix" as const, numVirtualTokens: 4 }]) {
    it(`${peft.method}: the model folder holds the base weights and the adapter, applied on load`, async () => {
      const out = join(dir, peft.method);
      const s = await sft(opts(out, { peft, steps: 4, evalPrompts: 2 }));
      expect(s.params.trainable).toBeLessThan(s.params.total);
      expect(existsSync(join(out, "model", "adapter_config.json"))).toBe(true);
      const { model, tokenizer } = loadRun(out);
      expect(model.numParameters()).toBe(s.params.total);
      const prompt = tokenizer.encode(renderChat(readTokenizerConfig(join(out, "model"))?.chatTemplate as string, [{ role: "user", content: "Hi" }], { addGenerationPrompt: true }), { allowedSpecial: "all" });
      expect(generate(model, prompt, { maxTokens: 4, temperature: 0 }).tokens.length).toBeGreaterThan(0);
    }, 60_000);
  }

  it("reads other formats through the converter; bad input is a clear error", async () => {
    const s = await sft(opts(join(dir, "alpaca"), { data: [join(dir, "alpaca.json")], steps: 2, evalPrompts: 0 }));
    expect(s.train.kept).toBe(8);
    writeFileSync(join(dir, "bad.jsonl"), '{"foo": 1}\n{"text": "just text"}\n');
    await expect(sft(opts(join(dir, "bad"), { data: [join(dir, "bad.jsonl")] }))).rejects.toThrow(/no usable conversation/);
    await expect(sft(opts(join(dir, "x"), { data: [join(dir, "missing.jsonl")] }))).rejects.toThrow(/missing\.jsonl not found/);
    // the records are read before the model is loaded: a missing --data file is named even when the weights are broken
    const broken = brokenWeightsCopy(join(dir, "base"), join(dir, "broken-base"));
    await expect(sft(opts(join(dir, "x2"), { model: broken, data: [join(dir, "missing.jsonl")] }))).rejects.toThrow(/missing\.jsonl not found/);
    await expect(sft(opts(join(dir, "run1")))).rejects.toThrow(/already holds checkpoints/);
    expect(readFileSync(join(dir, "run1", "sft.json"), "utf8")).toContain("llmforge-sft-summary");
  }, 60_000);
});
