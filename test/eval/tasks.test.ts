// The task harness of `llmforge eval --task`: log-likelihood scoring against a direct computation from the
// model's logits, acc_norm, batching, task spec errors with file:line, resume, and the built-in tasks' held-out items.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  aggregateMetrics, buildPrompt, type ChoiceRecord, evaluateTask, extractAnswer, promptEncoder, readResults, scoreLoglikelihood,
} from "../../src/eval/harness.js";
import { builtinTask, detectSftMixSeed, isSftHeldout, loadTaskFile, type LoadedTask, TaskSpecError, validateTaskSpec } from "../../src/eval/tasks.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { buildInstructionMix } from "../../src/sft/instructionMix.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad } from "../../src/tensor/tensor.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

const words = "the cat sat on a mat and the dog ran to the park while birds sang in the old tree one two three four five".split(" ");
const texts = Array.from({ length: 200 }, (_, i) => Array.from({ length: 10 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "));
const tok = Tokenizer.trainFromTexts(texts, { vocabSize: 300 });
const config = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 32, vocabSize: tok.vocabSize });
/** f64 weights so scores can be compared to 1e-9. */
const model = new GPT(config, { seed: 3, dtype: "f64", backend: "ref" });

/** Σ log-softmax of the continuation tokens, from one unpadded forward pass of context + continuation. */
function directLogprob(context: number[], continuation: number[]): number {
  const full = [...context, ...continuation];
  const input = full.slice(0, -1);
  const logits = noGrad(() => model.forward(ids(input, [1, input.length])).toTypedArray());
  const V = config.vocabSize;
  let sum = 0;
  for (let j = 0; j < continuation.length; j++) {
    const pos = context.length - 1 + j;
    const row = Array.from(logits.subarray(pos * V, (pos + 1) * V));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    sum += row[continuation[j]] - lse;
  }
  return sum;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "llmforge-evaltask-"));
}

/** Writes SPEC.json and its data file; returns the spec path. */
function writeTask(dir: string, spec: Record<string, unknown> | string, lines: string[], name = "spec.json"): string {
  const path = join(dir, name);
  writeFileSync(path, typeof spec === "string" ? spec : JSON.stringify(spec, null, 2));
  writeFileSync(join(dir, "data.jsonl"), lines.join("\n"));
  return path;
}

const mcLines = [
  { id: "q1", question: "the cat sat on a", options: ["mat", "park", "tree"], answer: "mat" },
  { id: "q2", question: "the dog ran to the", options: ["park", "cat"], answer: 0 },
  { id: "q3", question: "birds sang in the old", options: ["tree", "dog", "one two", "sat"], answer: "tree" },
  { id: "q4", question: "one two three", options: ["four", "five", "birds"], answer: "four" },
  { id: "q5", question: "the old", options: ["tree", "mat"], answer: 1 },
  { id: "q6", question: "a mat and", options: ["the dog", "three"], answer: "the dog" },
].map((x) => JSON.stringify(x));
const mcSpec = { name: "tiny-mc", kind: "multiple_choice", prompt: "Q: {question}\nA:", data: "data.jsonl" };

describe("log-likelihood scoring", () => {
  const reqs = [
    { context: tok.encode("the cat sat"), continuation: tok.encode(" on a mat") },
    { context: tok.encode("one"), continuation: tok.encode(" two") },
    { context: tok.encode("birds sang in the old tree and the dog"), continuation: tok.encode(" ran") },
    { context: tok.encode("park"), continuation: tok.encode(" while birds sang in the old tree") },
    { context: tok.encode("a"), continuation: tok.encode(" mat") },
  ];

  it("equals the sum of log-softmax of the option tokens computed from the model's logits", () => {
    const got = scoreLoglikelihood(model, reqs, 2);
    for (const [i, r] of reqs.entries()) expect(got[i].logprob).toBeCloseTo(directLogprob(r.context, r.continuation), 9);
    expect(got.every((g) => g.logprob < 0 && g.truncated === 0)).toBe(true);
  });

  it("gives the same scores whatever the batch size (padding changes nothing)", () => {
    const one = scoreLoglikelihood(model, reqs, 1).map((r) => r.logprob);
    for (const b of [2, 3, 8]) {
      const got = scoreLoglikelihood(model, reqs, b).map((r) => r.logprob);
      for (const [i, x] of got.entries()) expect(Math.abs(x - one[i])).toBeLessThan(1e-10);
    }
  });

  it("keeps the last blockSize + 1 tokens of a long context", () => {
    const long = tok.encode(texts.slice(0, 4).join(" "));
    const cont = tok.encode(" cat");
    const [r] = scoreLoglikelihood(model, [{ context: long, continuation: cont }], 4);
    expect(r.truncated).toBe(long.length + cont.length - (config.blockSize + 1));
    const kept = [...long, ...cont].slice(r.truncated);
    expect(r.logprob).toBeCloseTo(directLogprob(kept.slice(0, -cont.length), cont), 9);
  });

  it("rejects an empty continuation or context", () => {
    expect(() => scoreLoglikelihood(model, [{ context: [1], continuation: [] }])).toThrow(/continuation has no tokens/);
    expect(() => scoreLoglikelihood(model, [{ context: [], continuation: [1] }])).toThrow(/context has no tokens/);
  });
});

describe("multiple choice and classification tasks", () => {
  let dir: string;
  let task: LoadedTask;
  beforeAll(() => {
    dir = tmp();
    task = loadTaskFile(writeTask(dir, mcSpec, mcLines));
  });

  it("scores each option after the prompt; acc_norm divides by the continuation's characters", () => {
    const r = evaluateTask(model, tok, task, { batchSize: 3, out: join(dir, "r.jsonl") });
    expect(r.examples).toBe(6);
    const recs = readResults(join(dir, "r.jsonl")) as ChoiceRecord[];
    const enc = promptEncoder(tok);
    for (const rec of recs) {
      const ex = task.examples.find((e) => e.id === rec.id);
      if (!ex) throw new Error(rec.id);
      const ctx = enc.context(buildPrompt(task, ex, 0, 1234));
      ex.choices.forEach((c, i) => {
        expect(rec.logprobs[i]).toBeCloseTo(directLogprob(ctx, tok.encode(` ${c}`)), 9);
        expect(rec.chars[i]).toBe(c.length + 1);
      });
      const norm = rec.logprobs.map((l, i) => l / rec.chars[i]);
      expect(rec.pred_norm).toBe(norm.indexOf(Math.max(...norm)));
      expect(rec.pred).toBe(rec.logprobs.indexOf(Math.max(...rec.logprobs)));
    }
    const acc = recs.filter((x) => x.pred === x.gold).length / recs.length;
    expect(r.metrics.acc).toBeCloseTo(acc, 12);
    expect(r.metrics.acc_norm).toBeCloseTo(recs.filter((x) => x.pred_norm === x.gold).length / recs.length, 12);
    expect(r.metrics.ece).toBeGreaterThanOrEqual(0);
    expect(r.optionsPerSecond).toBeGreaterThan(0);
  });

  it("acc_norm can pick a longer option that the summed log-likelihood does not", () => {
    const rec = (logprobs: number[], chars: number[], gold: number): ChoiceRecord => ({
      task: "t", key: "k", id: `${gold}`, gold, logprobs, chars, pred: logprobs.indexOf(Math.max(...logprobs)),
      pred_norm: logprobs.map((l, i) => l / chars[i]).indexOf(Math.max(...logprobs.map((l, i) => l / chars[i]))),
    });
    const spec = validateTaskSpec(mcSpec, "x.json");
    // -3/2 = -1.5 < -4/8 = -0.5: acc picks option 0, acc_norm option 1
    const m = aggregateMetrics(spec, [rec([-3, -4], [2, 8], 1), rec([-1, -2], [2, 2], 0)]);
    expect(m.acc).toBe(0.5);
    expect(m.acc_norm).toBe(1);
    // softmax confidences: 1/(1+e^-1) for both, correct 1 of 2
    const conf = 1 / (1 + Math.exp(-1));
    expect(m.ece).toBeCloseTo(Math.abs(0.5 - conf), 12);
  });

  it("a classify task predicts the label of highest log-likelihood and reports accuracy and macro F1", () => {
    const d = tmp();
    const lines = ["the cat sat", "the dog ran", "birds sang", "one two three"].map((t, i) => JSON.stringify({ text: t, label: i % 2 ? "park" : "tree" }));
    const t = loadTaskFile(writeTask(d, { name: "tiny-cls", kind: "classify", prompt: "{text} ->", labels: ["tree", "park"], data: "data.jsonl" }, lines));
    const r = evaluateTask(model, tok, t, { batchSize: 4 });
    expect(Object.keys(r.metrics).sort()).toEqual(["acc", "acc_stderr", "ece", "macro_f1"]);
    expect(r.metrics.macro_f1).toBeGreaterThanOrEqual(0);
    expect(r.metrics.macro_f1).toBeLessThanOrEqual(1);
  });
});

describe("chat prompts", () => {
  it("render the task prompt as a user turn and score options as the assistant's reply (no target prefix)", () => {
    const enc = promptEncoder(tok, { template: CHATML_TEMPLATE });
    expect(enc.context("Q: hi")).toEqual(tok.encode("<|im_start|>user\nQ: hi<|im_end|>\n<|im_start|>assistant\n", { allowedSpecial: "all" }));
    expect(enc.stopTokens).toEqual([tok.specialId("<|im_end|>")]);
    const d = tmp();
    const task = loadTaskFile(writeTask(d, mcSpec, mcLines));
    const out = join(d, "chat.jsonl");
    evaluateTask(model, tok, task, { chat: { template: CHATML_TEMPLATE }, out });
    const rec = (readResults(out) as ChoiceRecord[])[0];
    const ex = task.examples[0];
    expect(rec.chars).toEqual(ex.choices.map((c) => c.length));
    expect(rec.logprobs[0]).toBeCloseTo(directLogprob(enc.context(buildPrompt(task, ex, 0, 1234)), tok.encode(ex.choices[0])), 9);
  });
});

describe("task spec files", () => {
  const expectError = (fn: () => unknown, re: RegExp) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TaskSpecError);
    expect((err as Error).message).toMatch(re);
  };

  it("a missing field names the spec file, line and the field", () => {
    const d = tmp();
    const p = writeTask(d, { name: "x", prompt: "{q}", data: "data.jsonl" }, mcLines);
    expectError(() => loadTaskFile(p), /spec\.json:1: missing field "kind"/);
  });

  it("a bad value names the line it is on", () => {
    const d = tmp();
    const p = writeTask(d, { name: "x", kind: "multiple_choice", prompt: "{question}", shots: -1, data: "data.jsonl" }, mcLines);
    expectError(() => loadTaskFile(p), /spec\.json:5: field "shots"/);
    const p2 = writeTask(d, { ...mcSpec, metrics: ["acc", "bleu"] }, mcLines);
    expectError(() => loadTaskFile(p2), /spec\.json:6: metric "bleu" does not apply to a multiple_choice task/);
  });

  it("an answer not among the options names the data file and line", () => {
    const d = tmp();
    const lines = [...mcLines.slice(0, 2), JSON.stringify({ question: "x", options: ["a", "b"], answer: "c" })];
    expectError(() => loadTaskFile(writeTask(d, mcSpec, lines)), /data\.jsonl:3: answer "c" is not among the options \["a","b"\]/);
    const lines2 = [JSON.stringify({ question: "x", options: ["a", "b"], answer: 2 })];
    expectError(() => loadTaskFile(writeTask(d, mcSpec, lines2)), /data\.jsonl:1: answer 2 is not among the options .*0\.\.1/);
  });

  it("a record without a prompt field, a label outside the labels, bad JSON and an empty task are errors", () => {
    const d = tmp();
    expectError(() => loadTaskFile(writeTask(d, mcSpec, [JSON.stringify({ options: ["a", "b"], answer: 0 })])), /data\.jsonl:1: missing field "question"/);
    const cls = { name: "c", kind: "classify", prompt: "{t}", labels: ["yes", "no"], data: "data.jsonl" };
    expectError(() => loadTaskFile(writeTask(d, cls, ["", JSON.stringify({ t: "a", label: "maybe" })])), /data\.jsonl:2: label "maybe" is not among/);
    expectError(() => loadTaskFile(writeTask(d, mcSpec, [mcLines[0], "{oops"])), /data\.jsonl:2: not valid JSON/);
    expectError(() => loadTaskFile(writeTask(d, mcSpec, ["", "  "])), /data\.jsonl: no examples/);
    expectError(() => loadTaskFile(writeTask(d, '{\n  "name": "x",\n  "kind": 2\n  "prompt": "{q}"}', [])), /spec\.json:4: not valid JSON/);
  });
});

describe("generation tasks", () => {
  it("extracts the answer by first line, whole text or regex", () => {
    expect(extractAnswer("  42\nmore", "first_line")).toBe("42");
    expect(extractAnswer(" a b \n", "full")).toBe("a b");
    expect(extractAnswer("the answer is 17.", { regex: "answer is (\\d+)" })).toBe("17");
    expect(extractAnswer("no number", { regex: "(\\d+)" })).toBe("");
  });

  it("decodes greedily and scores the extracted answer, deterministically", () => {
    const d = tmp();
    const lines = ["the cat", "the dog", "one two"].map((q, i) => JSON.stringify({ q, answer: i === 0 ? ["sat", "ran"] : "x" }));
    const t = loadTaskFile(writeTask(d, { name: "gen", kind: "generate", prompt: "{q}", max_tokens: 4, metrics: ["exact_match", "squad_f1", "bleu", "rouge_l"], data: "data.jsonl" }, lines));
    const a = evaluateTask(model, tok, t, { out: join(d, "a.jsonl") });
    const b = evaluateTask(model, tok, t, { out: join(d, "b.jsonl") });
    expect(a.metrics).toEqual(b.metrics);
    expect(Object.keys(a.metrics).sort()).toEqual(["bleu", "exact_match", "exact_match_stderr", "rouge_l", "squad_f1"]);
    const recs = readResults(join(d, "a.jsonl"));
    expect(recs.map((r) => r.id)).toEqual(["1", "2", "3"]);
  });
});

describe("resume", () => {
  it("a rerun skips the examples already in --out and ends with the same metrics as one full run", () => {
    const d = tmp();
    const task = loadTaskFile(writeTask(d, { ...mcSpec, shots: 1 }, mcLines));
    const out = join(d, "results.jsonl");
    const full = evaluateTask(model, tok, task, { batchSize: 2 });
    const first = evaluateTask(model, tok, task, { batchSize: 2, out, limit: 3 });
    expect(first.resumed).toBe(0);
    expect(readResults(out)).toHaveLength(3);
    // a run killed mid-write leaves a torn line: it is dropped and that example recomputed
    appendFileSync(out, '{"task":"tiny-mc","key":"');
    const second = evaluateTask(model, tok, task, { batchSize: 2, out });
    expect(second.resumed).toBe(3);
    expect(second.examples).toBe(6);
    expect(readResults(out)).toHaveLength(6);
    expect(second.metrics).toEqual(full.metrics);
    const third = evaluateTask(model, tok, task, { batchSize: 5, out });
    expect(third.resumed).toBe(6);
    expect(third.metrics).toEqual(full.metrics);
    expect(readFileSync(out, "utf8").split("\n")[0]).toMatch(/"format":"llmforge-eval-results"/);
  });

  it("refuses to mix results made with other settings", () => {
    const d = tmp();
    const task = loadTaskFile(writeTask(d, mcSpec, mcLines));
    const out = join(d, "results.jsonl");
    evaluateTask(model, tok, task, { out, limit: 2 });
    expect(() => evaluateTask(model, tok, task, { out, shots: 2 })).toThrow(/other settings/);
  });
});

describe("built-in tasks", () => {
  it("use only items the SFT mix holds out, and its train items only as few-shot examples", () => {
    const mix = buildInstructionMix({ tasks: ["arithmetic", "definition", "sentiment"], perTask: 3000 });
    const trainItems = new Set(mix.train.map((c) => `${c.meta?.kind}|${c.meta?.item}`));
    const heldItems = new Set(mix.heldout.map((c) => `${c.meta?.kind}|${c.meta?.item}`));
    const cases: Array<[string, string]> = [["wordnet-definition-mc", "definition.define"], ["sentiment", "sentiment.sentence"], ["arithmetic", "arithmetic"]];
    for (const [name, kind] of cases) {
      const t = builtinTask(name);
      expect(t.examples.length).toBeGreaterThan(50);
      const mine = (k: string) => (kind === "arithmetic" ? k.startsWith("arithmetic.") : k === kind);
      const evalIds = new Set(t.examples.map((e) => e.id));
      // no eval item is ever trained on; every held-out record of the mix is an eval item; few-shot items are train items
      for (const key of trainItems) if (mine(key.split("|")[0])) expect(evalIds.has(key.split("|")[1])).toBe(false);
      let seen = 0;
      for (const key of heldItems) {
        if (!mine(key.split("|")[0])) continue;
        expect(evalIds.has(key.split("|")[1])).toBe(true);
        seen++;
      }
      expect(seen).toBeGreaterThan(0);
      const sftTask = name === "wordnet-definition-mc" ? "definition" : name;
      expect(t.fewshotPool.every((e) => !isSftHeldout(sftTask, e.id))).toBe(true);
    }
  }, 60_000);

  it("follow the seed of the mix a run was tuned on, read from its mix.json", () => {
    const d = tmp();
    mkdirSync(join(d, "sft_data"));
    mkdirSync(join(d, "sft"));
    writeFileSync(join(d, "sft_data", "mix.json"), JSON.stringify({ format: "llmforge-instruction-mix", version: 1, seed: 1337 }));
    writeFileSync(join(d, "sft", "run.json"), JSON.stringify({ format: "llmforge-sft-run", options: { data: [join(d, "sft_data", "train.jsonl")] } }));
    expect(detectSftMixSeed(d)).toEqual({ seed: 1337, file: join(d, "sft_data", "mix.json") });
    expect(detectSftMixSeed(join(d, "sft"))?.seed).toBe(1337);
    expect(detectSftMixSeed(tmp())).toBeNull();
    const t = builtinTask("arithmetic", { mixSeed: 1337 });
    const mix = buildInstructionMix({ tasks: ["arithmetic"], perTask: 3000, seed: 1337 });
    const evalIds = new Set(t.examples.map((e) => e.id));
    expect(mix.train.some((c) => evalIds.has(String(c.meta?.item)))).toBe(false);
    expect(mix.heldout.every((c) => evalIds.has(String(c.meta?.item)))).toBe(true);
    expect(builtinTask("arithmetic").examples.map((e) => e.id)).not.toEqual(t.examples.map((e) => e.id));
  });

  it("are deterministic, with the answer among 4 options for the definition task", () => {
    const a = builtinTask("wordnet-definition-mc");
    const b = builtinTask("wordnet-definition-mc");
    expect(a.examples.slice(0, 50)).toEqual(b.examples.slice(0, 50));
    for (const e of a.examples) {
      expect(e.choices).toHaveLength(4);
      expect(new Set(e.choices).size).toBe(4);
      expect(e.choices[e.gold]).toBe(e.answers[0]);
    }
    const other = builtinTask("wordnet-definition-mc", { seed: 7 });
    expect(other.examples.map((e) => e.id)).not.toEqual(a.examples.map((e) => e.id));
    expect(new Set(other.examples.map((e) => e.id))).toEqual(new Set(a.examples.map((e) => e.id)));
  });

  it("run on a model with --limit taking the first N", () => {
    const s = builtinTask("sentiment");
    const r = evaluateTask(model, tok, s, { limit: 5, batchSize: 4 });
    expect(r.examples).toBe(5);
    const ar = evaluateTask(model, tok, builtinTask("arithmetic"), { limit: 2, shots: 1 });
    expect(ar.examples).toBe(2);
    expect(ar.metrics.exact_match).toBe(0); // an untrained model does not do sums
  });
});
