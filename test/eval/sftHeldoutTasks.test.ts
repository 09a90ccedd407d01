// The SFT mix's verifiable tasks as built-in eval tasks (`sft-heldout`, `sft-<task>`): exactly the mix's held-out
// questions and accepted answers, graded by the mix's exactMatch with a per-task breakdown; and batched greedy
// generation giving the same answers as one-by-one `generate`.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aggregateMetrics, evaluateTask, type GenerateRecord, generateGreedyBatch, readResults } from "../../src/eval/harness.js";
import { BUILTIN_TASKS, builtinTask, isSftHeldout } from "../../src/eval/tasks.js";
import { generate } from "../../src/infer/generate.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { buildInstructionMix, INSTRUCTION_TASKS } from "../../src/sft/instructionMix.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

const words = "the cat sat on a mat and the dog ran to the park while birds sang in the old tree one two three four five".split(" ");
const texts = Array.from({ length: 200 }, (_, i) => Array.from({ length: 10 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "));
const tok = Tokenizer.trainFromTexts(texts, { vocabSize: 300 });
const model = new GPT(makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 64, vocabSize: tok.vocabSize }), { seed: 3, dtype: "f64", backend: "ref" });

describe("sft-heldout built-in tasks", () => {
  it("asks exactly the mix's held-out questions, with every accepted answer, grouped by SFT task", () => {
    const seed = 77;
    const task = builtinTask("sft-heldout", { mixSeed: seed });
    const mix = buildInstructionMix({ seed });
    expect(task.examples).toHaveLength(mix.heldout.length);
    const byQuestion = new Map(task.examples.map((e) => [`${e.group}|${e.fields.question}`, e]));
    for (const c of mix.heldout) {
      const meta = c.meta as { task: string; item: string; accept: string[] };
      const ex = byQuestion.get(`${meta.task}|${c.messages[c.messages.length - 2].content}`);
      expect(ex?.answers).toEqual(meta.accept);
      expect(isSftHeldout(meta.task, meta.item, seed)).toBe(true);
    }
    expect(new Set(task.examples.map((e) => e.group))).toEqual(new Set(INSTRUCTION_TASKS));
    // few-shot examples come from the train split: no held-out item among them
    const heldoutItems = new Set(task.examples.map((e) => e.id.slice(0, e.id.lastIndexOf("|"))));
    expect(task.fewshotPool.some((e) => heldoutItems.has(e.id.slice(0, e.id.lastIndexOf("|"))))).toBe(false);
    expect(task.spec).toMatchObject({ kind: "generate", metrics: ["exact_match"] });
  });

  it("has one task per SFT task beside the combined one; arithmetic stays", () => {
    for (const t of INSTRUCTION_TASKS) expect(BUILTIN_TASKS).toContain(`sft-${t}`);
    expect(BUILTIN_TASKS.slice(0, 3)).toEqual(["wordnet-definition-mc", "sentiment", "arithmetic"]);
    const one = builtinTask("sft-capital");
    expect(one.examples.length).toBeGreaterThan(10);
    expect(one.examples.every((e) => e.group === "capital")).toBe(true);
    expect(builtinTask("arithmetic").spec.kind).toBe("generate");
  });

  it("grades with the mix's exactMatch against any accepted answer, per task", () => {
    const task = builtinTask("sft-heldout");
    const syn = task.examples.find((e) => e.group === "synonym" && e.answers.length > 1);
    const num = task.examples.find((e) => e.group === "arithmetic");
    if (!syn || !num) throw new Error("no synonym with several answers / no arithmetic item");
    const rec = (id: string, answers: string[], prediction: string, group: string): GenerateRecord => ({ task: "sft-heldout", key: "k", id, answers, prediction, raw: prediction, finish: "stop", group });
    const recs = [rec("a", syn.answers, `${syn.answers[1].toUpperCase()}.`, "synonym"), rec("b", num.answers, ` ${num.answers[0]} `, "arithmetic"), rec("c", num.answers, "no", "arithmetic")];
    expect(aggregateMetrics(task.spec, recs).exact_match).toBeCloseTo(2 / 3, 12);
  });

  it("reports exact match per SFT task; the groups add up to the whole", () => {
    const task = builtinTask("sft-heldout");
    const r = evaluateTask(model, tok, task, { limit: 24, batchSize: 8 });
    expect(r.examples).toBe(24);
    const groups = r.groups ?? {};
    expect(Object.values(groups).reduce((n, g) => n + g.examples, 0)).toBe(24);
    const weighted = Object.values(groups).reduce((s, g) => s + g.metrics.exact_match * g.examples, 0) / 24;
    expect(weighted).toBeCloseTo(r.metrics.exact_match, 12);
    for (const g of Object.keys(groups)) expect(INSTRUCTION_TASKS as readonly string[]).toContain(g);
  }, 60_000);
});

describe("batched greedy generation", () => {
  // equal token lengths, so they are decoded together (groups of fewer than 4 go one by one), plus two of other lengths
  const prompts = [" the cat sat", " the dog ran", " birds sang in", " one two three", " a mat and", " the old tree", " on a mat and", " three four five"]
    .map((t) => tok.encode(t).slice(0, 2))
    .concat([tok.encode(" the park"), tok.encode(" while birds sang in the old")]);
  it("has a group of equal-length prompts", () => expect(prompts.filter((p) => p.length === 2)).toHaveLength(8));
  const decode = (t: number[]) => tok.decode(t);

  it("gives each prompt the text and finish reason of one-by-one generate", () => {
    const reasons = new Set<string>();
    // stops the model will meet: a piece of prompt 0's free text, and the third token prompt 1 makes
    const free = prompts.map((p) => generate(model, p, { maxTokens: 6, temperature: 0, decode }));
    const piece = free[0].text.slice(Math.floor(free[0].text.length / 2)).trim().slice(0, 2);
    for (const o of [{ stop: [] as string[], stopTokens: [] as number[] }, { stop: [piece], stopTokens: [] }, { stop: [], stopTokens: [free[1].tokens[2]] }]) {
      const batched = generateGreedyBatch(model, prompts, { maxTokens: 6, decode, batchSize: 4, ...o });
      prompts.forEach((p, i) => {
        const one = generate(model, p, { maxTokens: 6, temperature: 0, decode, ...o });
        expect({ text: batched[i].text, finish: batched[i].finishReason, tokens: batched[i].tokens }).toEqual({ text: one.text, finish: one.finishReason, tokens: one.tokens });
        reasons.add(one.finishReason);
      });
    }
    expect([...reasons].sort()).toEqual(["length", "stop", "stop_token"]);
  });

  it("makes the same records whatever the batch size", () => {
    const task = builtinTask("arithmetic");
    const dir = mkdtempSync(join(tmpdir(), "llmforge-evalgen-"));
    const preds = (batchSize: number) => {
      evaluateTask(model, tok, task, { limit: 12, batchSize, out: join(dir, `b${batchSize}.jsonl`) });
      return (readResults(join(dir, `b${batchSize}.jsonl`)) as GenerateRecord[]).map((r) => [r.id, r.raw, r.finish]);
    };
    const one = preds(1);
    expect(one).toHaveLength(12);
    expect(preds(8)).toEqual(one);
  });
});
