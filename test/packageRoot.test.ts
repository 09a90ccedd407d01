import { describe, expect, it } from "vitest";
import * as llmforge from "../src/index.js";

// A script imports every stage from the package root: each stage's entry points are there (and are what they say).
describe("package root", () => {
  const stages: Record<string, string[]> = {
    data: ["dataIngest", "readJsonl"],
    tokenizer: ["Tokenizer"],
    pretraining: ["pretrain", "GPT", "runStepLoop"],
    sft: ["sft"],
    reward: ["reward", "loadRewardModel", "readPreferences"],
    alignment: ["ppo", "dpo", "grpo"],
    families: ["Bert", "T5", "pretrainBert", "pretrainT5", "trainClassifier", "predictClassifier", "loadBert", "loadT5", "generateT5Text", "maskTokens", "corruptSpans"],
    scaling: ["runScale", "fitChinchilla", "computeOptimal"],
    serving: ["startServer", "BatchDecoder"],
    export: ["exportGguf", "exportOnnx", "exportHf"],
  };
  for (const [stage, names] of Object.entries(stages)) {
    it(`exports the ${stage} entry points`, () => {
      const api = llmforge as Record<string, unknown>;
      const missing = names.filter((n) => typeof api[n] !== "function");
      expect(missing).toEqual([]);
    });
  }
});
