// BLEU equals NLTK 3.8 on every case of test/eval/fixtures/bleu.json (written by scripts/make_bleu_fixture.py): the
// score, the method0 warnings and where NLTK raises. ROUGE-1/2/L are checked on rouge-score's README example and on
// cases computed by hand (the arithmetic is in the comments), since rouge-score itself is not installed here.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  BleuInputError,
  type BleuSmoothing,
  brevityPenalty,
  closestRefLength,
  corpusBleu,
  lcsLength,
  modifiedPrecision,
  type RougeScore,
  rouge,
  rougeLsum,
  rougeTokenize,
  sentenceBleu,
  tokenizeForBleu,
} from "../../src/eval/metrics/textMetrics.js";

interface BleuCase {
  name: string;
  listOfReferences: string[][][];
  hypotheses: string[][];
  weights: number[];
  smoothing: BleuSmoothing;
  autoReweigh: boolean;
  corpus?: number;
  sentence?: number;
  error?: string;
  warnings: string[];
}
const fixture = JSON.parse(readFileSync(new URL("./fixtures/bleu.json", import.meta.url), "utf8")) as { format: string; version: number; cases: BleuCase[] };

/** Within 1e-9 absolute, and within 1e-12 relative so the tiny method0 scores (1e-155) are compared too. */
function expectClose(actual: number, expected: number, what: string): void {
  expect(Math.abs(actual - expected), what).toBeLessThanOrEqual(1e-9);
  expect(Math.abs(actual - expected), what).toBeLessThanOrEqual(1e-12 * Math.abs(expected));
}

describe("BLEU against NLTK 3.8", () => {
  it("reads a fixture it understands", () => {
    expect(fixture.format).toBe("llmforge bleu fixture");
    expect(fixture.version).toBe(1);
    expect(fixture.cases.length).toBeGreaterThanOrEqual(150);
  });

  it("matches corpus_bleu, sentence_bleu, their warnings and their errors on every case", () => {
    for (const c of fixture.cases) {
      const warnings: string[] = [];
      const opts = { weights: c.weights, smoothing: c.smoothing, autoReweigh: c.autoReweigh, onWarning: (m: string) => warnings.push(m) };
      if (c.error !== undefined) {
        expect(() => corpusBleu(c.listOfReferences, c.hypotheses, opts), c.name).toThrow(BleuInputError);
        continue;
      }
      expectClose(corpusBleu(c.listOfReferences, c.hypotheses, opts), c.corpus ?? Number.NaN, c.name);
      expect(warnings, c.name).toEqual(c.warnings);
      if (c.sentence !== undefined) expectClose(sentenceBleu(c.listOfReferences[0], c.hypotheses[0], opts), c.sentence, `${c.name} (sentence)`);
    }
  });

  it("covers every smoothing method, auto_reweigh, custom weights and NLTK's errors", () => {
    const methods = new Set(fixture.cases.map((c) => c.smoothing));
    expect(methods.size).toBe(8);
    expect(fixture.cases.some((c) => c.autoReweigh)).toBe(true);
    expect(new Set(fixture.cases.map((c) => c.weights.length))).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(fixture.cases.filter((c) => c.error !== undefined).length).toBeGreaterThan(0);
  });

  it("follows the NLTK docstring examples of its parts", () => {
    // "the the the ..." against "the cat is on the mat" / "there is a cat on the mat": "the" clipped to 2 of 7.
    expect(modifiedPrecision(["the cat is on the mat".split(" "), "there is a cat on the mat".split(" ")], "the the the the the the the".split(" "), 1)).toEqual({ numerator: 2, denominator: 7 });
    expect(closestRefLength([13, 11], 12)).toBe(11); // equally close: the shorter
    expect(closestRefLength([11, 8], 7)).toBe(8);
    expect(brevityPenalty(closestRefLength([28, 28], 12), 12)).toBe(0.2635971381157267);
    expect(brevityPenalty(12, 12)).toBe(1);
    expect(brevityPenalty(5, 0)).toBe(0);
  });

  it("rejects input NLTK cannot score", () => {
    expect(() => corpusBleu([[["a"]]], [["a"], ["b"]])).toThrow(BleuInputError);
    expect(() => sentenceBleu([], ["a"])).toThrow(BleuInputError);
    expect(() => sentenceBleu([["a"]], ["a"], { weights: [] })).toThrow(BleuInputError);
  });

  it("returns 0 for an empty corpus as NLTK does", () => {
    expect(corpusBleu([], [])).toBe(0);
  });
});

describe("tokenizeForBleu", () => {
  it("splits on whitespace and makes each punctuation or symbol character a token", () => {
    expect(tokenizeForBleu("Don't stop, Bob!")).toEqual(["Don", "'", "t", "stop", ",", "Bob", "!"]);
    expect(tokenizeForBleu("  a+b=c\t\nd...  ")).toEqual(["a", "+", "b", "=", "c", "d", ".", ".", "."]);
    expect(tokenizeForBleu("Hello World", { lowercase: true })).toEqual(["hello", "world"]);
    expect(tokenizeForBleu("   ")).toEqual([]);
  });
});

function expectScore(actual: RougeScore, precision: number, recall: number, fmeasure: number): void {
  expect(actual.precision).toBeCloseTo(precision, 12);
  expect(actual.recall).toBeCloseTo(recall, 12);
  expect(actual.fmeasure).toBeCloseTo(fmeasure, 12);
}

describe("ROUGE as rouge-score defines it", () => {
  it("tokenizes as rouge-score's default tokenizer", () => {
    expect(rougeTokenize("The quick brown dog jumps on the log.")).toEqual(["the", "quick", "brown", "dog", "jumps", "on", "the", "log"]);
    // Non [a-z0-9] runs (punctuation, apostrophes, accented letters after lowercasing) become spaces.
    expect(rougeTokenize("Hello, World! It's 2024. Café")).toEqual(["hello", "world", "it", "s", "2024", "caf"]);
    expect(rougeTokenize("?!  ...")).toEqual([]);
  });

  it("gives the README example's scores", () => {
    // target: the quick brown fox jumps over the lazy dog (9 tokens); prediction: the quick brown dog jumps on the log (8).
    const s = rouge("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log.");
    // unigrams in common: the x2, quick, brown, dog, jumps = 6 -> P = 6/8, R = 6/9, F = 2PR/(P+R) = 12/17 = 0.7059
    expectScore(s.rouge1, 6 / 8, 6 / 9, 12 / 17);
    // bigrams in common: "the quick", "quick brown" = 2 of 7 predicted, 8 reference -> F = 2(2/7)(1/4)/(2/7+1/4) = 4/15
    expectScore(s.rouge2, 2 / 7, 2 / 8, 4 / 15);
    // LCS: the quick brown jumps the = 5 -> P = 5/8, R = 5/9, F = 10/17 = 0.5882
    expectScore(s.rougeL, 5 / 8, 5 / 9, 10 / 17);
    expect(s.rouge1.precision).toBe(0.75);
    expect(Number(s.rouge1.recall.toFixed(4))).toBe(0.6667);
    expect(Number(s.rouge1.fmeasure.toFixed(4))).toBe(0.7059);
    expect(Number(s.rougeL.recall.toFixed(4))).toBe(0.5556);
    expect(Number(s.rougeL.fmeasure.toFixed(4))).toBe(0.5882);
  });

  it("clips repeated n-grams by the smaller count", () => {
    // reference "the the cat" {the:2, cat:1}, prediction "the the the the" {the:4}: overlap min(2,4) = 2
    // rouge1: P = 2/4, R = 2/3, F = 2(1/2)(2/3)/(1/2+2/3) = (2/3)/(7/6) = 4/7
    // rouge2: reference {the the:1, the cat:1}, prediction {the the:3}: overlap 1, P = 1/3, R = 1/2, F = (1/3)/(5/6) = 2/5
    // rougeL: LCS "the the" = 2, P = 2/4, R = 2/3, F = 4/7
    const s = rouge("the the cat", "the the the the");
    expectScore(s.rouge1, 1 / 2, 2 / 3, 4 / 7);
    expectScore(s.rouge2, 1 / 3, 1 / 2, 2 / 5);
    expectScore(s.rougeL, 1 / 2, 2 / 3, 4 / 7);
  });

  it("counts word order only in ROUGE-2 and ROUGE-L", () => {
    // reference "a b c d", prediction "d c b a": every unigram matches (P = R = F = 1), no bigram does, LCS = 1 (P = R = F = 1/4)
    const s = rouge("a b c d", "d c b a");
    expectScore(s.rouge1, 1, 1, 1);
    expectScore(s.rouge2, 0, 0, 0);
    expectScore(s.rougeL, 1 / 4, 1 / 4, 1 / 4);
  });

  it("scores identical texts 1 and empty or punctuation-only texts 0", () => {
    const same = rouge("A cat sat.", "a CAT sat");
    for (const k of ["rouge1", "rouge2", "rougeL"] as const) expectScore(same[k], 1, 1, 1);
    for (const s of [rouge("a cat sat", ""), rouge("", "a cat sat"), rouge("a cat", "!!!")]) {
      for (const k of ["rouge1", "rouge2", "rougeL"] as const) expectScore(s[k], 0, 0, 0);
    }
    // one-token texts have no bigrams: overlap 0 over max(0, 1) on both sides
    expectScore(rouge("cat", "cat").rouge2, 0, 0, 0);
  });

  it("scores ROUGE-Lsum by the union LCS over sentences", () => {
    // Lin (2004) section 3.2: reference w1 w2 w3 w4 w5; candidate sentences w1 w2 w6 w7 w8 and w1 w3 w8 w9 w5.
    // LCS with each: w1 w2 and w1 w3 w5; union w1 w2 w3 w5 = 4 hits. R = 4/5, P = 4/10, F = 2(0.8)(0.4)/1.2 = 8/15.
    expectScore(rougeLsum("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5"), 4 / 10, 4 / 5, 8 / 15);
    // Backtracking: reference "a a" against line "a" takes reference index 1; against "a b" it steps i (ties go to i)
    // then j and takes index 0. Union {0, 1} = 2 hits. P = 2/3, R = 2/2, F = 2(2/3)(1)/(5/3) = 4/5.
    expectScore(rougeLsum("a a", "a\na b"), 2 / 3, 1, 4 / 5);
    // A hit uses up one occurrence on each side: reference lines "a" and "a" against prediction "a": the first line
    // hits, the second finds the prediction's "a" used. P = 1/1, R = 1/2, F = 2/3.
    expectScore(rougeLsum("a\na", "a"), 1, 1 / 2, 2 / 3);
    // Empty lines are dropped; on one-line texts it equals ROUGE-L.
    const one = rouge("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log.").rougeL;
    expectScore(rougeLsum("The quick brown fox jumps over the lazy dog\n\n", "The quick brown dog jumps on the log."), one.precision, one.recall, one.fmeasure);
    expectScore(rougeLsum("a b", "\n\n"), 0, 0, 0);
  });

  it("finds the longest common subsequence", () => {
    expect(lcsLength(["a", "b", "c", "b", "d", "a", "b"], ["b", "d", "c", "a", "b", "a"])).toBe(4); // e.g. b c b a
    expect(lcsLength([], ["a"])).toBe(0);
  });
});
