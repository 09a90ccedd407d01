// T5 pretraining through the library call: a run stopped after 3 steps and resumed ends with exactly
// the weights of an uninterrupted run (span-corruption batches follow the cursor, dropout its RNG).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { floatData, readSafetensors } from "../../src/io/safetensors.js";
import { makeT5Config } from "../../src/model/t5Config.js";
import { t5Tokenizer } from "../../src/train/spanCorruption.js";
import { pretrainT5, type T5PretrainOptions } from "../../src/train/t5Pretrain.js";
import { writeTinyShards } from "../helpers/tinyShards.js";

describe("pretrainT5", () => {
  const dir = mkdtempSync(join(tmpdir(), "llmforge-t5-pretrain-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const { tok, tokPath, shards } = writeTinyShards(dir);
  const config = makeT5Config({ vocabSize: t5Tokenizer(tok).tokenizer.vocabSize, dModel: 32, numHeads: 2, numLayers: 1, dropout: 0.1 });
  const base = (out: string): T5PretrainOptions => ({
    data: shards, tokenizer: tokPath, out, config, windowLength: 24, batchSize: 4, steps: 6, lr: 3e-3, evalEvery: 1000, evalBatches: 1,
    checkpointEvery: 1000, seed: 5, progress: false,
  });

  it("resumes exactly: stopped after 3 steps and resumed equals 6 steps in one go", async () => {
    const whole = await pretrainT5(base(join(dir, "whole")));
    expect(whole.summary.steps).toBe(6);
    let polls = 0;
    // The loop polls the signal once before each step: aborted from the 4th poll on, it stops after step 3.
    const signal = { get aborted() { return ++polls > 3; } } as AbortSignal;
    const part = await pretrainT5({ ...base(join(dir, "split")), signal });
    expect(part.summary).toMatchObject({ steps: 3, stoppedBy: "interrupted" });
    expect(part.modelDir).toBeNull();
    const rest = await pretrainT5({ ...base(join(dir, "split")), resume: true });
    expect(rest.summary.steps).toBe(6);
    const a = readSafetensors(join(whole.modelDir as string, "model.safetensors")).tensors;
    const b = readSafetensors(join(rest.modelDir as string, "model.safetensors")).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [n, t] of a) expect(Array.from(floatData(b.get(n) ?? t, n)), n).toEqual(Array.from(floatData(t, n)));
  }, 60_000);

  it("refuses a model vocabulary without room for T5's special tokens before writing anything", async () => {
    await expect(pretrainT5({ ...base(join(dir, "small")), config: { ...config, vocabSize: tok.vocabSize } }))
      .rejects.toThrow(/model vocabulary \d+ is smaller than the tokenizer's \d+ \(\d+ \+ T5's <pad> <\/s> and sentinels/);
  });
});
