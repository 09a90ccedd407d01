// Model vs model (`eval compare`): bootstrap intervals on known counts, the rule and reward-model judges on tiny random
// models, a model against itself ties everywhere, resume, the prompt formats it reads, the CLI, and the errors.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerEvalCommand } from "../../src/cli/eval.js";
import { bootstrapRates, CompareError, type CompareOptions, compareModels, outcomeOf, type PromptOutcome, readComparePrompts, ruleGrade } from "../../src/eval/compare.js";
import { InputLineError } from "../../src/io/jsonl.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { loadRewardModel, RewardModel, saveRewardModel, trunkOf } from "../../src/model/heads.js";
import { saveModel } from "../../src/model/serialize.js";
import { answerSequence } from "../../src/reward/data.js";
import { buildInstructionMix } from "../../src/sft/instructionMix.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chatTemplate.js";
import type { Tokenizer } from "../../src/tokenizer/index.js";
import { smallTokenizer } from "../sft/fixtures.js";

let dir: string;
let tok: Tokenizer;
const lines = (rs: unknown[]) => `${rs.map((r) => JSON.stringify(r)).join("\n")}\n`;

/** A run folder (RUN/model + RUN/tokenizer/tokenizer.json) holding a random tiny language model. */
function policy(name: string, seed: number): string {
  const run = join(dir, name);
  mkdirSync(join(run, "tokenizer"), { recursive: true });
  writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  saveModel(join(run, "model"), new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 64, vocabSize: tok.vocabSize, initStd: 0.3 }), { seed }));
  return run;
}

const PROMPTS = [
  { id: "add", prompt: "What is 2 plus 3?", accept: ["5"], kind: "arithmetic.add", task: "arithmetic" },
  { messages: [{ role: "system", content: "Answer briefly." }, { role: "user", content: "What is the capital of France?" }, { role: "assistant", content: "Paris" }], meta: { task: "capital", kind: "capital.capital", accept: ["Paris"] } },
  { prompt: "Say hello.", answer: "hello", task: "arithmetic" },
  { prompt: "What is 1 plus 1?", accept: ["2"], kind: "arithmetic.add", task: "arithmetic" },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-compare-"));
  tok = smallTokenizer();
  policy("a", 1);
  policy("b", 2);
  cpSync(join(dir, "a"), join(dir, "a-copy"), { recursive: true });
  writeFileSync(join(dir, "prompts.jsonl"), lines(PROMPTS));
  // A tiny reward model run: trunk of a random model + a random head, with its tokenizer beside it.
  const trunk = trunkOf(new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 128, vocabSize: tok.vocabSize, initStd: 0.3 }), { seed: 7 }));
  saveRewardModel(join(dir, "rm", "model"), new RewardModel(trunk, { seed: 8 }), { padTokenId: tok.specialId("<|pad|>") });
  mkdirSync(join(dir, "rm", "tokenizer"));
  writeFileSync(join(dir, "rm", "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (extra: Partial<CompareOptions> = {}): CompareOptions => ({
  model: join(dir, "a"), against: join(dir, "b"), prompts: join(dir, "prompts.jsonl"), judge: "rule", maxTokens: 6, temperature: 0.8, seed: 3, resamples: 200, ...extra,
});

describe("bootstrap intervals", () => {
  const counts = (w: number, t: number, l: number): PromptOutcome[] => [
    ...Array.from({ length: w }, () => ({ win: 1, tie: 0, loss: 0 })),
    ...Array.from({ length: t }, () => ({ win: 0, tie: 1, loss: 0 })),
    ...Array.from({ length: l }, () => ({ win: 0, tie: 0, loss: 1 })),
  ];

  it("60/10/30: intervals hold the point estimates, are about as wide as the normal approximation, narrower with more prompts, same for a seed", () => {
    const s = bootstrapRates(counts(60, 10, 30), { seed: 1 });
    expect(s.prompts).toBe(100);
    expect(s.pairs).toEqual({ win: 60, tie: 10, loss: 30 });
    for (const [k, p] of [["win", 0.6], ["tie", 0.1], ["loss", 0.3], ["winTieHalf", 0.65]] as const) {
      const r = s[k];
      expect(r.rate).toBeCloseTo(p, 12);
      expect(r.lo).toBeLessThan(p);
      expect(r.hi).toBeGreaterThan(p);
    }
    // Normal approximation of the 95% interval of a proportion: ±1.96·sqrt(p(1-p)/n).
    expect(s.win.hi - s.win.lo).toBeGreaterThan(0.8 * 2 * 1.96 * Math.sqrt(0.24 / 100));
    expect(s.win.hi - s.win.lo).toBeLessThan(1.2 * 2 * 1.96 * Math.sqrt(0.24 / 100));
    const big = bootstrapRates(counts(600, 100, 300), { seed: 1 });
    expect(big.win.rate).toBeCloseTo(0.6, 12);
    for (const k of ["win", "tie", "loss", "winTieHalf"] as const) expect(big[k].hi - big[k].lo).toBeLessThan(0.6 * (s[k].hi - s[k].lo));
    expect(bootstrapRates(counts(60, 10, 30), { seed: 1 })).toEqual(s);
    // Intervals of a discrete statistic move little with the seed, but they do move.
    expect([2, 3, 4, 5, 6].some((seed) => JSON.stringify(bootstrapRates(counts(60, 10, 30), { seed })) !== JSON.stringify(s))).toBe(true);
  });

  it("all ties give [1, 1] for ties and [0.5, 0.5] counting ties as half; bad settings are refused", () => {
    const s = bootstrapRates(counts(0, 5, 0), { seed: 1, resamples: 50 });
    expect(s.tie).toEqual({ rate: 1, lo: 1, hi: 1 });
    expect(s.winTieHalf).toEqual({ rate: 0.5, lo: 0.5, hi: 0.5 });
    expect(() => bootstrapRates([])).toThrow(CompareError);
    expect(() => bootstrapRates(counts(1, 0, 0), { resamples: 0 })).toThrow(/resamples/);
  });

  it("outcomes: higher score wins, identical answers and differences under epsilon tie", () => {
    expect(outcomeOf(1, 0.5)).toBe("win");
    expect(outcomeOf(0.5, 1)).toBe("loss");
    expect(outcomeOf(1, 1)).toBe("tie");
    expect(outcomeOf(1, 0.95, 0.1)).toBe("tie");
    expect(outcomeOf(1, 0.5, 0.1)).toBe("win");
    expect(outcomeOf(1, 0, 0, true)).toBe("tie");
  });
});

describe("prompts", () => {
  it("reads text, chat and the SFT instruction mix's held-out records (final assistant answer dropped, meta.accept/kind/task)", async () => {
    const ps = await readComparePrompts(join(dir, "prompts.jsonl"));
    expect(ps.map((p) => p.id)).toEqual(["add", "line 2", "line 3", "line 4"]);
    expect(ps[1].messages.map((m) => m.role)).toEqual(["system", "user"]);
    expect(ps[1]).toMatchObject({ task: "capital", kind: "capital.capital", accept: ["Paris"], text: false });
    expect(ps[2]).toMatchObject({ accept: ["hello"], text: true });
    const mix = buildInstructionMix({ seed: 5, perTask: 1, heldoutPerTask: 6, tasks: ["arithmetic"] });
    const file = join(dir, "heldout.jsonl");
    writeFileSync(file, lines(mix.heldout));
    const held = await readComparePrompts(file, { needAccept: true });
    expect(held.length).toBe(mix.heldout.length);
    held.forEach((p, i) => {
      const meta = mix.heldout[i].meta as { accept: string[]; kind: string; task: string };
      expect(p.messages).toEqual(mix.heldout[i].messages.slice(0, -1));
      expect(p).toMatchObject({ task: meta.task, kind: meta.kind, accept: meta.accept });
      expect(ruleGrade(meta.accept[0], p)).toBe(3);
    });
  });

  it("grades by rule: an accepted answer beats a wrong one of the right form, which beats a malformed one and one that never ended", async () => {
    const [add, , hello] = await readComparePrompts(join(dir, "prompts.jsonl"));
    expect([ruleGrade("5", add), ruleGrade("7", add), ruleGrade("five, I think", add), ruleGrade("5".repeat(200), add)]).toEqual([3, 2, 1, 0]);
    expect([ruleGrade("Hello.", hello), ruleGrade("goodbye", hello)]).toEqual([3, 2]);
  });
});

describe("compareModels", () => {
  it("rule judge on a tiny random pair: every outcome follows the grades of the stored answers, per task too, deterministic for a seed", async () => {
    const s = await compareModels(opts({ samples: 2 }));
    const prompts = await readComparePrompts(join(dir, "prompts.jsonl"));
    expect(s.overall.prompts).toBe(4);
    const { win, tie, loss } = s.overall.pairs;
    expect(win + tie + loss).toBe(8);
    expect(Object.keys(s.byTask)).toEqual(["arithmetic", "capital"]);
    expect(s.byTask.arithmetic.prompts).toBe(3);
    expect(s.examples.length).toBe(3);
    expect(s.overall.winTieHalf.rate).toBeCloseTo(s.overall.win.rate + s.overall.tie.rate / 2, 12);
    // Recompute from the examples' answers.
    for (const e of s.examples) {
      const p = prompts.find((x) => x.id === e.id);
      if (!p) throw new Error(e.id);
      for (const x of e.samples) {
        expect([x.scoreA, x.scoreB]).toEqual([ruleGrade(x.a.text, p), ruleGrade(x.b.text, p)]);
        expect(x.outcome).toBe(outcomeOf(x.scoreA, x.scoreB, 0, x.a.text === x.b.text));
        expect(x.a.tokens).toBeLessThanOrEqual(6);
      }
    }
    const again = await compareModels(opts({ samples: 2 }));
    expect({ ...again, seconds: 0 }).toEqual({ ...s, seconds: 0 });
  });

  it("rule judge: the model whose greedy answer is the accepted one wins, the other loses", async () => {
    const first = await compareModels(opts({ temperature: 0, examples: 4 }));
    const [x] = first.examples[0].samples;
    expect(x.a.text).not.toBe(x.b.text);
    const file = join(dir, "accept-a.jsonl");
    writeFileSync(file, lines([{ id: "q", prompt: PROMPTS[0].prompt, accept: [x.a.text] }]));
    const s = await compareModels(opts({ temperature: 0, prompts: file }));
    expect(s.overall.pairs).toEqual({ win: 1, tie: 0, loss: 0 });
    expect(s.examples[0].samples[0]).toMatchObject({ scoreA: 3, scoreB: 2, outcome: "win" });
    const swapped = await compareModels(opts({ temperature: 0, prompts: file, model: join(dir, "b"), against: join(dir, "a") }));
    expect(swapped.overall.pairs).toEqual({ win: 0, tie: 0, loss: 1 });
    expect(swapped.overall.winTieHalf).toEqual({ rate: 0, lo: 0, hi: 0 });
  });

  it("reward-model judge: each answer's score is the reward the model gives it after the prompt, higher wins, epsilon makes ties", async () => {
    const s = await compareModels(opts({ judge: join(dir, "rm"), chat: true, examples: 4 }));
    const { model: rm } = loadRewardModel(join(dir, "rm", "model"));
    const prompts = await readComparePrompts(join(dir, "prompts.jsonl"));
    let decided = 0;
    for (const e of s.examples) {
      const p = prompts.find((x) => x.id === e.id);
      if (!p) throw new Error(e.id);
      for (const x of e.samples) {
        for (const [text, score] of [[x.a.text, x.scoreA], [x.b.text, x.scoreB]] as const) {
          const seq = answerSequence(tok, p.messages, text, { template: CHATML_TEMPLATE });
          const want = tidy(() => rm.rewards(ids(seq, [1, seq.length]), Int32Array.of(seq.length)).item());
          expect(score).toBeCloseTo(want, 5);
        }
        expect(x.outcome).toBe(outcomeOf(x.scoreA, x.scoreB, 0, x.a.text === x.b.text));
        if (x.outcome !== "tie") decided++;
      }
    }
    expect(decided).toBeGreaterThan(0);
    const wide = await compareModels(opts({ judge: join(dir, "rm"), chat: true, tieEpsilon: 1e9 }));
    expect(wide.overall.tie.rate).toBe(1);
  });

  it("a model against itself (another folder with the same weights) at temperature 0 ties on every prompt, with either judge", async () => {
    for (const judge of ["rule", join(dir, "rm")]) {
      const s = await compareModels(opts({ against: join(dir, "a-copy"), temperature: 0, judge }));
      expect(s.overall.pairs).toEqual({ win: 0, tie: 4, loss: 0 });
      expect(s.overall.tie).toEqual({ rate: 1, lo: 1, hi: 1 });
    }
  });

  it("resumes: a rerun skips the prompts already in --out and reports what a fresh run does; other settings are refused", async () => {
    const out = join(dir, "resume.jsonl");
    const part = await compareModels(opts({ out, limit: 2 }));
    expect(part.overall.prompts).toBe(2);
    const head = readFileSync(out, "utf8").trim().split("\n");
    expect(head.length).toBe(3);
    expect(JSON.parse(head[0])).toMatchObject({ format: "llmforge-compare-results", version: 1 });
    writeFileSync(out, `${readFileSync(out, "utf8")}{"id": "torn`); // a run killed mid-line
    const full = await compareModels(opts({ out }));
    expect(full.resumed).toBe(2);
    expect(readFileSync(out, "utf8").trim().split("\n").length).toBe(5);
    const fresh = await compareModels(opts());
    expect({ ...full, seconds: 0, resumed: 0 }).toEqual({ ...fresh, seconds: 0 });
    const again = await compareModels(opts({ out }));
    expect(again.resumed).toBe(4);
    await expect(compareModels(opts({ out, temperature: 0.5 }))).rejects.toThrow(/other settings/);
    writeFileSync(join(dir, "changed.jsonl"), lines([{ ...PROMPTS[0], accept: ["6"] }, ...PROMPTS.slice(1)]));
    await expect(compareModels(opts({ out, prompts: join(dir, "changed.jsonl") }))).rejects.toThrow(/prompt "add" .* changed/);
  });
});

describe("errors", () => {
  it("a reward model given as a policy, a policy given as the judge", async () => {
    await expect(compareModels(opts({ model: join(dir, "rm") }))).rejects.toThrow(/--model .*holds a reward model.*give it as --judge/);
    await expect(compareModels(opts({ against: join(dir, "rm") }))).rejects.toThrow(/--against .*holds a reward model/);
    await expect(compareModels(opts({ judge: join(dir, "b") }))).rejects.toThrow(/--judge .*holds a language model \(a policy\), not a reward model/);
  });

  it("empty prompt file, bad lines with file:line, missing accepted answers for the rule judge, unknown kinds, samples at temperature 0", async () => {
    const f = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    await expect(compareModels(opts({ prompts: f("empty.jsonl", "\n\n") }))).rejects.toThrow(/no prompts in the file/);
    await expect(compareModels(opts({ prompts: join(dir, "missing.jsonl") }))).rejects.toThrow(/file not found/);
    const badJson = f("bad.jsonl", `${JSON.stringify(PROMPTS[0])}\n{"prompt": \n`);
    await expect(readComparePrompts(badJson)).rejects.toThrow(InputLineError);
    await expect(readComparePrompts(badJson)).rejects.toThrow(`${badJson}:2: invalid JSON`);
    await expect(readComparePrompts(f("shape.jsonl", '{"text": "x"}\n'))).rejects.toThrow(/shape\.jsonl:1: expected "prompt"/);
    await expect(readComparePrompts(f("turn.jsonl", '{"messages": [{"role": "assistant", "content": "hi"}]}\n'))).rejects.toThrow(/turn\.jsonl:1: the conversation must end with a user turn/);
    await expect(readComparePrompts(f("dup.jsonl", lines([PROMPTS[0], PROMPTS[0]])))).rejects.toThrow(/dup\.jsonl:2: id "add" occurs twice/);
    await expect(readComparePrompts(f("kind.jsonl", lines([{ prompt: "x", accept: ["y"], kind: "nonsense" }])))).rejects.toThrow(/kind\.jsonl:1: no answer form for task kind "nonsense"/);
    const noAccept = f("noaccept.jsonl", lines([PROMPTS[0], { prompt: "Tell me a story." }]));
    await expect(compareModels(opts({ prompts: noAccept }))).rejects.toThrow(/noaccept\.jsonl:2: the rule judge needs accepted answers/);
    await expect(readComparePrompts(noAccept)).resolves.toHaveLength(2); // a reward model judges without them
    await expect(compareModels(opts({ samples: 3, temperature: 0 }))).rejects.toThrow(/3 samples at temperature 0/);
  });
});

describe("llmforge eval compare", () => {
  it("`eval compare` options of the same names as `eval`'s stay its own; `eval` still requires --model", async () => {
    const program = new Command().exitOverride();
    registerEvalCommand(program);
    const evalCmd = program.commands.find((c) => c.name() === "eval") as Command;
    evalCmd.exitOverride();
    for (const c of evalCmd.commands) c.exitOverride();
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await program.parseAsync(["eval", "compare", "--model", join(dir, "a"), "--against", join(dir, "b"), "--prompts", join(dir, "prompts.jsonl"), "--judge", "rule", "--max-tokens", "6", "--temperature", "0.8", "--seed", "3", "--bootstrap", "200", "--json"], { from: "user" });
      const s = JSON.parse(String(log.mock.calls[0][0]));
      const lib = await compareModels(opts());
      expect({ ...s, seconds: 0 }).toEqual({ ...JSON.parse(JSON.stringify(lib)), seconds: 0 });
    } finally {
      log.mockRestore();
    }
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      await expect(program.parseAsync(["eval", "--out", "x"], { from: "user" })).rejects.toThrow(/required option '--model <run>' not specified/);
    } finally {
      stderr.mockRestore();
    }
  });
});
