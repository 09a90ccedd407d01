// The sentiment lexicon records of the preference mix (`sentimentLexicon`): training-only, in the review task's prompt form,
// answers made of VADER training words only (signed as the prompt asks), and every other record and the held-out file unchanged.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageDir } from "../../src/data/embedded.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import { convertPreferenceRecord } from "../../src/data/formats/index.js";
import { buildPreferenceMix, PreferenceMixError, writePreferenceMix } from "../../src/reward/index.js";
import { LEXICON_MIN_VALENCE, lexiconWordDraw, sentimentPromptSplit, vaderTrainingWords } from "../../src/reward/preferenceMix.js";
import { isHeldoutItem } from "../../src/sft/instructionMix.js";
import { loadSentiment } from "../../src/sft/instructionSources.js";

const base = buildPreferenceMix({ seed: 7, perTask: 60 });
const lex = buildPreferenceMix({ seed: 7, perTask: 60, sentimentLexicon: 50 });
const added = lex.train.filter((r) => r.meta?.task === "sentiment-lexicon");
const valence = new Map(
  readFileSync(join(packageDir("vader-sentiment"), "vader_lexicon.txt"), "utf8")
    .split("\n")
    .map((l) => l.split("\t"))
    .filter((f) => f.length >= 4)
    .map((f) => [f[0], Number(f[1])] as const),
);
const wordsOf = (s: string) => s.toLowerCase().match(/[a-z]+/g) ?? [];
/** The VADER words of an answer (the frames' own words are not in the lexicon, except where noted below). */
const frameWords = new Set(["simply", "really", "it", "was", "the", "food", "this", "movie", "is", "phone", "and", "works", "service", "overall", "so"]);
const lexiconWords = (s: string) => wordsOf(s).filter((w) => !frameWords.has(w));

describe("buildPreferenceMix sentimentLexicon", () => {
  it("is off by default; n adds n training records after every other one, and leaves the rest of the mix as it was", () => {
    expect(base.train.some((r) => r.meta?.task === "sentiment-lexicon")).toBe(false);
    expect(base.stats.sentimentLexicon).toBeUndefined();
    expect(added).toHaveLength(50);
    expect(lex.train.slice(0, base.train.length)).toEqual(base.train);
    expect(lex.train.slice(base.train.length)).toEqual(added);
    expect(lex.heldout).toEqual(base.heldout);
    expect(lex.stats.sentimentLexicon).toEqual({ records: 50, pairs: 200, positive: added.filter((r) => r.meta?.polarity === "positive").length });
    expect(lex.stats.total).toEqual({ train: base.stats.total.train + 50, heldout: base.stats.total.heldout });
    expect(lex.stats.tasks).toEqual(base.stats.tasks);
    expect(buildPreferenceMix({ seed: 7, perTask: 60, sentimentLexicon: 50 })).toEqual(lex);
    expect(buildPreferenceMix({ seed: 8, perTask: 60, sentimentLexicon: 50 }).train.slice(-50)).not.toEqual(added);
    expect(() => buildPreferenceMix({ sentimentLexicon: -1 })).toThrow(PreferenceMixError);
    expect(() => buildPreferenceMix({ sentimentLexicon: 1.5 })).toThrow(/sentimentLexicon must be a whole number >= 0/);
  });

  it("writes the same held-out file byte for byte", () => {
    const dir = mkdtempSync(join(tmpdir(), "lexmix-"));
    const a = writePreferenceMix(join(dir, "a"), { seed: 7, perTask: 40 });
    const b = writePreferenceMix(join(dir, "b"), { seed: 7, perTask: 40, sentimentLexicon: 30 });
    expect(readFileSync(b.heldout)).toEqual(readFileSync(a.heldout));
    expect(readFileSync(b.train, "utf8").startsWith(readFileSync(a.train, "utf8"))).toBe(true);
    expect(readFileSync(b.train, "utf8").trim().split("\n")).toHaveLength(3 * 40 + 30);
    expect(JSON.parse(readFileSync(b.mix, "utf8")).sentimentLexicon).toMatchObject({ records: 30, pairs: 120 });
  });

  it("asks with the training phrasings of the sentiment prompt, never a held-out one", () => {
    const held = new Set(base.heldout.filter((r) => r.meta?.task === "sentiment").map((r) => r.prompt[0].content));
    const trained = new Set(base.train.filter((r) => r.meta?.task === "sentiment").map((r) => r.prompt[0].content));
    expect(held.size).toBe(2);
    for (const r of added) {
      expect(r.prompt).toHaveLength(1);
      expect(r.prompt[0].role).toBe("user");
      expect(trained.has(r.prompt[0].content)).toBe(true);
      expect(held.has(r.prompt[0].content)).toBe(false);
      expect(r.prompt[0].content).toContain(r.meta?.polarity as string);
      expect(r.meta?.split).toBe("train");
    }
  });

  it("answers: 2 with VADER training words of the asked polarity, each better than 2 with words of the other, in one frame", () => {
    const sentences = new Set(loadSentiment().sentences.map((s) => s.text));
    for (const r of added) {
      const sign = r.meta?.polarity === "positive" ? 1 : -1;
      expect(r.responses).toHaveLength(4);
      expect(new Set(r.responses).size).toBe(4);
      expect(r.pairs).toEqual([{ better: 0, worse: 2 }, { better: 0, worse: 3 }, { better: 1, worse: 2 }, { better: 1, worse: 3 }]);
      for (const [i, answer] of r.responses.entries()) {
        expect(sentences.has(answer)).toBe(false);
        const ws = lexiconWords(answer);
        expect(ws.length).toBeGreaterThanOrEqual(1);
        for (const w of ws) {
          expect(valence.has(w)).toBe(true);
          expect(isHeldoutItem("sentiment", w, 7)).toBe(false);
          expect(sign * (i < 2 ? 1 : -1) * (valence.get(w) as number)).toBeGreaterThanOrEqual(LEXICON_MIN_VALENCE);
        }
      }
      // the same frame: the answers differ only in their lexicon words
      const frame = (s: string) => wordsOf(s).map((w) => (frameWords.has(w) ? w : "_")).join(" ") + s.slice(-1);
      expect(new Set(r.responses.map(frame)).size).toBe(1);
      const c = convertPreferenceRecord(JSON.parse(JSON.stringify(r)));
      expect(c.record.pairs).toEqual(r.pairs);
      expect(c.identical).toEqual([]);
    }
    // both polarities are asked for, and many distinct words are used
    expect(new Set(added.map((r) => r.meta?.polarity)).size).toBe(2);
    expect(new Set(added.flatMap((r) => r.responses.flatMap(lexiconWords))).size).toBeGreaterThan(150);
  });

  it("sentimentLexiconPositive: the share of records asking for the positive polarity; the rest of the mix unchanged", () => {
    const share = (p: number) => {
      const m = buildPreferenceMix({ seed: 7, perTask: 60, sentimentLexicon: 200, sentimentLexiconPositive: p });
      expect(m.heldout).toEqual(base.heldout);
      expect(m.train.slice(0, base.train.length)).toEqual(base.train);
      const recs = m.train.slice(base.train.length);
      expect(recs).toHaveLength(200);
      expect(m.stats.sentimentLexicon?.positive).toBe(recs.filter((r) => r.meta?.polarity === "positive").length);
      return recs.filter((r) => r.meta?.polarity === "positive").length / recs.length;
    };
    expect(share(1)).toBe(1);
    expect(share(0)).toBe(0);
    expect(share(0.8)).toBeGreaterThan(0.7);
    expect(share(0.8)).toBeLessThan(0.9);
    const half = share(0.5);
    expect(half).toBeGreaterThan(0.4);
    expect(half).toBeLessThan(0.6);
    expect(buildPreferenceMix({ seed: 7, perTask: 60, sentimentLexicon: 50, sentimentLexiconPositive: 0.5 })).toEqual(lex);
    expect(() => buildPreferenceMix({ sentimentLexicon: 5, sentimentLexiconPositive: 1.5 })).toThrow(/sentimentLexiconPositive must be a share in \[0, 1\]/);
  });

  it("sentimentLexiconReviewWeight: words of the training review sentences drawn more often, never a held-out word; 0 is the uniform draw", () => {
    expect(buildPreferenceMix({ seed: 7, perTask: 60, sentimentLexicon: 50, sentimentLexiconReviewWeight: 0 })).toEqual(lex);
    const weighted = buildPreferenceMix({ seed: 7, perTask: 60, sentimentLexicon: 400, sentimentLexiconPositive: 0.5, sentimentLexiconReviewWeight: 20 });
    const uniform = buildPreferenceMix({ seed: 7, perTask: 60, sentimentLexicon: 400, sentimentLexiconPositive: 0.5 });
    expect(weighted.heldout).toEqual(base.heldout);
    expect(weighted.train.slice(0, base.train.length)).toEqual(base.train);
    expect(weighted.stats.sentimentLexicon).toMatchObject({ records: 400, reviewWeight: 20 });
    // the share of lexicon words that occur in a training review sentence
    const trainSentences = loadSentiment().sentences.filter((s) => !isHeldoutItem("sentiment", s.text, 7));
    const reviewWords = new Set(trainSentences.flatMap((s) => wordsOf(s.text)));
    const share = (m: typeof base) => {
      const ws = m.train.slice(base.train.length).flatMap((r) => r.responses.flatMap(lexiconWords));
      for (const w of ws) expect(isHeldoutItem("sentiment", w, 7)).toBe(false);
      return ws.filter((w) => reviewWords.has(w)).length / ws.length;
    };
    expect(share(uniform)).toBeLessThan(0.25);
    expect(share(weighted)).toBeGreaterThan(0.6);
    expect(() => buildPreferenceMix({ sentimentLexicon: 5, sentimentLexiconReviewWeight: -1 })).toThrow(/sentimentLexiconReviewWeight must be a number >= 0/);
  });

  it("lexiconWordDraw draws each word in proportion to 1 + k × its count", () => {
    const words = { positive: ["good", "fine", "rare"], negative: ["bad"] };
    const counts = new Map([["good", 3], ["fine", 1]]);
    const draw = lexiconWordDraw(words, counts, 2, mulberry32(5));
    const n = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const w = draw("positive");
      n.set(w, (n.get(w) ?? 0) + 1);
    }
    // weights 7, 3, 1 of 11
    expect((n.get("good") ?? 0) / 10_000).toBeCloseTo(7 / 11, 1);
    expect((n.get("fine") ?? 0) / 10_000).toBeCloseTo(3 / 11, 1);
    expect((n.get("rare") ?? 0) / 10_000).toBeCloseTo(1 / 11, 1);
    expect(draw("negative")).toBe("bad");
    // k = 0: the uniform draw xs[floor(r * n)]
    const r1 = mulberry32(9);
    const r2 = mulberry32(9);
    const flat = lexiconWordDraw(words, counts, 0, r1);
    for (let i = 0; i < 100; i++) expect(flat("positive")).toBe(words.positive[Math.floor(r2() * 3)]);
  });

  it("vaderTrainingWords and sentimentPromptSplit: the words and review prompts the records draw from, never a held-out one", () => {
    const words = vaderTrainingWords(7, LEXICON_MIN_VALENCE);
    const used = new Set(added.flatMap((r) => r.responses.flatMap(lexiconWords)));
    for (const w of used) expect(words.positive.includes(w) || words.negative.includes(w)).toBe(true);
    for (const [sign, ws] of [[1, words.positive], [-1, words.negative]] as const) {
      expect(ws.length).toBeGreaterThan(100);
      for (const w of ws) {
        expect(sign * (valence.get(w) as number)).toBeGreaterThanOrEqual(LEXICON_MIN_VALENCE);
        expect(isHeldoutItem("sentiment", w, 7)).toBe(false);
      }
    }
    const strong = vaderTrainingWords(7, 2);
    expect(strong.positive.length).toBeLessThan(words.positive.length);
    expect(strong.positive.every((w) => words.positive.includes(w))).toBe(true);
    const split = sentimentPromptSplit(7);
    const held = base.heldout.filter((r) => r.meta?.task === "sentiment");
    for (const r of held) expect(split.heldout[r.meta?.polarity as string]).toContain(r.prompt[0].content);
    for (const r of added) expect(split.train[r.meta?.polarity as string]).toContain(r.prompt[0].content);
    for (const p of ["positive", "negative"]) for (const c of split.heldout[p]) expect(split.train[p]).not.toContain(c);
  });
});
