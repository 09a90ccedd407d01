// The offline preference mix: counts, determinism, a train / held-out split disjoint by prompt (and by item),
// judgements that agree with their sources (sentence labels, VADER ratings, the rule grader), and the AFINN baseline.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { convertPreferenceRecord, type PreferenceRecord } from "../../src/data/formats/index.js";
import { afinnPairAccuracy, afinnScore, buildPreferenceMix, GENERATION_BUDGET_CHARS, GRADES, gradeResponse, PreferenceMixError, writePreferenceMix } from "../../src/reward/index.js";
import { isHeldoutItem } from "../../src/sft/instructionMix.js";
import { loadSentiment } from "../../src/sft/instructionSources.js";

const mix = buildPreferenceMix({ seed: 7, perTask: 60 });
const of = (split: PreferenceRecord[], task: string) => split.filter((r) => r.meta?.task === task);
const promptKey = (r: PreferenceRecord) => JSON.stringify(r.prompt);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

describe("buildPreferenceMix", () => {
  it("makes perTask train and perTask/4 (at least 10) held-out records per task, the same for the same seed", () => {
    for (const task of ["sentiment", "vader", "instructions"]) {
      expect([of(mix.train, task).length, of(mix.heldout, task).length]).toEqual([60, 15]);
      expect(mix.stats.tasks[task]).toMatchObject({ train: 60, heldout: 15 });
    }
    expect(mix.stats.total).toEqual({ train: 180, heldout: 45 });
    expect(buildPreferenceMix({ seed: 7, perTask: 60 })).toEqual(mix);
    expect(buildPreferenceMix({ seed: 8, perTask: 60 }).train).not.toEqual(mix.train);
    expect(() => buildPreferenceMix({ tasks: ["poetry"] })).toThrow(PreferenceMixError);
    expect(() => buildPreferenceMix({ perTask: 0 })).toThrow(/perTask must be a positive integer/);
  });

  it("writes well-formed PreferenceRecords that the converter reads back unchanged", () => {
    for (const r of [...mix.train, ...mix.heldout]) {
      const c = convertPreferenceRecord(JSON.parse(JSON.stringify(r)));
      expect(c.format).toBe("preference");
      expect(c.record.pairs).toEqual(r.pairs);
      expect(c.identical).toEqual([]);
    }
  });

  it("splits train / held-out by prompt, and the review sentences and VADER words by item", () => {
    const trainPrompts = new Set(mix.train.map(promptKey));
    expect(mix.heldout.filter((r) => trainPrompts.has(promptKey(r)))).toEqual([]);
    for (const task of ["sentiment", "vader"]) {
      const seen = new Set(of(mix.train, task).flatMap((r) => r.responses));
      expect(of(mix.heldout, task).flatMap((r) => r.responses).filter((x) => seen.has(x))).toEqual([]);
      const st = mix.stats.tasks[task];
      expect(st.prompts.heldout).toBe(2); // one held-out phrasing per polarity
      expect(st.prompts.train).toBeGreaterThanOrEqual(6);
    }
    expect(mix.heldout.every((r) => r.meta?.split === "heldout") && mix.train.every((r) => r.meta?.split === "train")).toBe(true);
  });

  it("holds out the review sentences and words that the SFT instruction mix of the same seed holds out", () => {
    for (const task of ["sentiment", "vader"]) {
      for (const split of [mix.train, mix.heldout]) {
        const held = of(split, task).flatMap((r) => r.responses).map((x) => isHeldoutItem("sentiment", x, 7));
        expect(held.every((h) => h === (split === mix.heldout))).toBe(true);
      }
    }
  });

  it("sentiment: chosen carries the asked polarity, rejected the other", () => {
    const label = new Map(loadSentiment().sentences.map((s) => [s.text, s.label]));
    for (const r of of([...mix.train, ...mix.heldout], "sentiment")) {
      const pol = r.meta?.polarity as string;
      expect(r.prompt[0].content).toContain(pol);
      expect([label.get(r.responses[0]), label.get(r.responses[1])]).toEqual([pol, pol === "positive" ? "negative" : "positive"]);
      expect(r.pairs).toEqual([{ better: 0, worse: 1 }]);
    }
  });

  it("sentimentAnswers n: train sentiment records hold n distinct sentences per polarity (n² pairs); held-out and the other tasks unchanged", () => {
    const label = new Map(loadSentiment().sentences.map((s) => [s.text, s.label]));
    const three = buildPreferenceMix({ seed: 7, perTask: 60, sentimentAnswers: 3 });
    expect(three.heldout).toEqual(mix.heldout);
    expect(three.train.filter((r) => r.meta?.task !== "sentiment")).toEqual(mix.train.filter((r) => r.meta?.task !== "sentiment"));
    const train = of(three.train, "sentiment");
    expect(train).toHaveLength(60);
    // The first chosen and rejected sentence of each record are the n = 1 record's: the extra ones come from their own draw.
    expect(train.map((r) => [r.prompt, r.responses[0], r.responses[3]])).toEqual(of(mix.train, "sentiment").map((r) => [r.prompt, ...r.responses]));
    for (const r of train) {
      const pol = r.meta?.polarity as string;
      const other = pol === "positive" ? "negative" : "positive";
      expect(new Set(r.responses).size).toBe(6);
      expect(r.responses.map((s) => label.get(s))).toEqual([pol, pol, pol, other, other, other]);
      expect(r.pairs).toEqual([0, 1, 2].flatMap((b) => [3, 4, 5].map((w) => ({ better: b, worse: w }))));
    }
    expect(three.stats).toMatchObject({ sentimentAnswers: 3, tasks: { sentiment: { pairs: { train: 540, heldout: 15 } } } });
    expect(mix.stats.sentimentAnswers).toBeUndefined();
    expect(() => buildPreferenceMix({ sentimentAnswers: 0 })).toThrow(/sentimentAnswers must be a positive integer/);
  });

  it("VADER: one word per valence band, scored 3 ± mean rating / 2 on 1..5, pairs ordered by score with margin = difference", () => {
    const all = buildPreferenceMix({ seed: 7, perTask: 60, tasks: ["vader"], vaderMinGap: 0 });
    expect(all.stats.tasks.vader.tooClose).toBe(0);
    for (const r of of(all.train, "vader")) {
      const sign = r.meta?.polarity === "positive" ? 1 : -1;
      const ratings = r.meta?.ratings as number[][];
      const fit = r.scores?.sentiment as number[];
      expect(ratings.every((x) => x.length === 10)).toBe(true);
      for (const [i, s] of fit.entries()) expect(Math.abs(s - (3 + (sign * mean(ratings[i])) / 2))).toBeLessThan(0.03); // lexicon means are rounded to 0.1
      expect(fit.every((s) => s >= 1 && s <= 5)).toBe(true);
      expect(r.pairs).toHaveLength(6);
      for (const p of r.pairs) expect(p.margin).toBeCloseTo(fit[p.better] - fit[p.worse], 9);
      expect(r.pairs.every((p) => (p.margin as number) > 0)).toBe(true);
    }
  });

  it("VADER: pairs only between words whose mean ratings are at least vaderMinGap rater SDs apart; the others counted as too close", () => {
    expect(mix.stats.vaderMinGap).toBe(1);
    let missing = 0;
    for (const r of of([...mix.train, ...mix.heldout], "vader")) {
      const ratings = r.meta?.ratings as number[][];
      const gap = (i: number, j: number) => Math.abs(mean(ratings[i]) - mean(ratings[j])) / ((sd(ratings[i]) + sd(ratings[j])) / 2);
      const paired = new Set(r.pairs.map((p) => `${Math.min(p.better, p.worse)},${Math.max(p.better, p.worse)}`));
      for (let i = 0; i < 4; i++) {
        for (let j = i + 1; j < 4; j++) {
          // the lexicon's means are rounded to 0.1: ratios within 0.1 of the rule's boundary may fall either way
          if (paired.has(`${i},${j}`)) expect(gap(i, j)).toBeGreaterThan(0.9);
          else {
            expect(gap(i, j)).toBeLessThan(1.1);
            missing++;
          }
        }
      }
      expect(r.pairs.length).toBeGreaterThanOrEqual(1);
    }
    expect(missing).toBeGreaterThan(0);
    expect(mix.stats.tasks.vader.tooClose).toBe(missing);
    const strict = buildPreferenceMix({ seed: 7, perTask: 60, tasks: ["vader"], vaderMinGap: 2 }).stats.tasks.vader;
    expect(strict.pairs.train).toBeLessThan(mix.stats.tasks.vader.pairs.train);
    expect(() => buildPreferenceMix({ vaderMinGap: -1 })).toThrow(/vaderMinGap must be a number >= 0/);
  });

  it("instructions: correct > right form but wrong > malformed > no end, by the rule grader, kept in one record", () => {
    const recs = of([...mix.train, ...mix.heldout], "instructions");
    expect(mix.stats.tasks.instructions.gradeMismatch).toBe(0);
    expect(new Set(recs.map((r) => r.meta?.sftTask)).size).toBe(8);
    expect(recs.filter((r) => r.responses.length === 4).length).toBeGreaterThanOrEqual(0.9 * recs.length); // 3 when no wrong answer of the right form exists
    for (const r of recs) {
      const grades = r.meta?.grades as number[];
      expect(new Set(grades).size).toBe(grades.length);
      expect(grades).toEqual(expect.arrayContaining([GRADES.correct, GRADES.malformed, GRADES.noEnd]));
      expect(r.pairs).toHaveLength((grades.length * (grades.length - 1)) / 2);
      for (const p of r.pairs) expect(p.margin).toBe(grades[p.better] - grades[p.worse]);
      expect(r.responses[grades.indexOf(GRADES.correct)]).toBe(r.meta?.answer);
      const noEnd = r.responses[grades.indexOf(GRADES.noEnd)];
      expect(noEnd).toHaveLength(GENERATION_BUDGET_CHARS);
      expect(noEnd.startsWith(`${r.meta?.answer}\n${r.prompt.at(-1)?.content}\n`)).toBe(true);
      expect(r.responses.filter((x) => x !== noEnd).every((x) => x.length < GENERATION_BUDGET_CHARS)).toBe(true);
    }
  });
});

describe("gradeResponse", () => {
  it("grades known answers per task form", () => {
    const g = gradeResponse;
    expect([g("7", "arithmetic.add", ["7"]), g(" 7. ", "arithmetic.add", ["7"]), g("8", "arithmetic.add", ["7"]), g("Answer: 7", "arithmetic.add", ["7"]), g("seven", "arithmetic.add", ["7"])]).toEqual([3, 3, 2, 1, 1]);
    expect(g(`7\n${"What is 3 plus 4?\n7\n".repeat(10)}`.slice(0, GENERATION_BUDGET_CHARS), "arithmetic.add", ["7"])).toBe(GRADES.noEnd);
    expect([g("c-a-t", "spelling.spell", ["c-a-t"]), g("c-a-r", "spelling.spell", ["c-a-t"]), g("cat", "spelling.spell", ["c-a-t"])]).toEqual([3, 2, 1]);
    expect([g("t", "spelling.first", ["c"]), g("ca", "spelling.first", ["c"])]).toEqual([2, 1]);
    expect([g("Paris", "capital.capital", ["Paris"]), g("Washington, D.C.", "capital.capital", ["Paris"]), g("Rome!", "capital.capital", ["Paris"]), g("**Rome**", "capital.capital", ["Paris"])]).toEqual([3, 1, 2, 1]);
    expect([g("glad", "synonym.synonym", ["happy", "glad"]), g("sad", "synonym.synonym", ["happy"]), g("very sad", "synonym.synonym", ["happy"])]).toEqual([3, 2, 1]);
    expect([g("a domestic animal", "definition.define", ["a feline"]), g("I think the answer might be a feline, but I am not sure.", "definition.define", ["a feline"])]).toEqual([2, 1]);
    expect([g("Positive.", "sentiment.sentence", ["positive"]), g("negative", "sentiment.word", ["positive"]), g("pos", "sentiment.word", ["positive"])]).toEqual([3, 2, 1]);
    expect(() => g("x", "poetry.haiku", ["y"])).toThrow(/no answer form for task kind "poetry.haiku"/);
  });
});

describe("AFINN baseline", () => {
  const rec = (polarity: string | undefined, chosen: string, rejected: string): PreferenceRecord => ({
    prompt: [{ role: "user", content: "Write a review." }],
    responses: [chosen, rejected],
    pairs: [{ better: 0, worse: 1 }],
    meta: polarity ? { polarity } : {},
  });

  it("scores texts by the sum of AFINN-165 word valences", () => {
    expect(afinnScore("Good movie, BAD ending.")).toBe(0);
    expect(afinnScore("I love it, great and excellent!")).toBe(9);
    expect(afinnScore("terrible, boring, the worst")).toBe(-9);
    expect(afinnScore("okay then")).toBe(0);
  });

  it("counts a pair right when the polarity-signed score of the better answer is higher, a tie as half", () => {
    const r = afinnPairAccuracy([
      rec("positive", "I love it", "awful"), // 3 > -3: right
      rec("negative", "terrible food", "great food"), // -(-3) > -(3): right
      rec("positive", "a phone", "a box"), // 0 = 0: tie
      rec("positive", "fine", "excellent"), // 2 < 3: wrong
      rec(undefined, "good", "bad"), // no polarity: not counted
    ]);
    expect(r).toEqual({ accuracy: 2.5 / 4, pairs: 4, correct: 2, ties: 1 });
    expect(afinnPairAccuracy([]).accuracy).toBe(0);
    const real = afinnPairAccuracy(of(mix.train, "sentiment"));
    expect(real.pairs).toBe(60);
    expect(real.accuracy).toBeGreaterThan(0.6);
    expect(real.accuracy).toBeLessThan(1);
  });
});

describe("writePreferenceMix", () => {
  it("writes train.jsonl, heldout.jsonl and a versioned mix.json with the sources and the AFINN baseline", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-prefmix-"));
    const w = writePreferenceMix(dir, { seed: 3, perTask: 12, tasks: ["sentiment", "vader"] });
    const lines = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l) as PreferenceRecord);
    expect(lines(w.train)).toHaveLength(24);
    expect(lines(w.heldout)).toHaveLength(20);
    const info = JSON.parse(readFileSync(w.mix, "utf8"));
    expect(info).toMatchObject({ format: "llmforge-preference-mix", version: 1, seed: 3, perTask: 12, total: { train: 24, heldout: 20 } });
    expect(Object.keys(info.sources)).toEqual(expect.arrayContaining(["sentiment", "vader-sentiment", "afinn-165"]));
    expect(info.afinnHeldoutSentiment).toEqual(afinnPairAccuracy(lines(w.heldout).filter((r) => r.meta?.task === "sentiment")));
    expect(readdirSync(dir).sort()).toEqual(["heldout.jsonl", "mix.json", "train.jsonl"]); // no temp files left
  });
});
