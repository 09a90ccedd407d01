// Word dropout on the preference mix's training review sentences (`sentimentWordDropout`): words left out at about the asked rate,
// negations and closing punctuation kept, every training answer still a form of a sentence with the right label, the held-out
// records (and file) unchanged; and the recommended mix that uses it.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import { buildPreferenceMix, dropWords, PreferenceMixError, recommendedMix, writePreferenceMix } from "../../src/reward/index.js";
import { loadSentiment, MAX_SENTENCE_WORDS } from "../../src/sft/instructionSources.js";

const opts = { seed: 7, perTask: 300, tasks: ["sentiment"], sentimentAnswers: 2 };
const base = buildPreferenceMix(opts);
const dropped = buildPreferenceMix({ ...opts, sentimentWordDropout: 0.2 });
const answers = (recs: typeof base.train) => recs.flatMap((r) => r.responses as string[]);

/** Whether `short` is `long` with some words left out (its closing punctuation may move to the new last word). */
function isSubsequence(short: string, long: string): boolean {
  const strip = (w: string) => w.replace(/[.!?]+$/, "");
  const ws = long.split(" ").map(strip);
  let i = 0;
  for (const w of short.split(" ").map(strip)) {
    while (i < ws.length && ws[i] !== w) i++;
    if (i++ >= ws.length) return false;
  }
  return true;
}

describe("dropWords", () => {
  it("leaves out each word with about the given probability and keeps negations and the closing punctuation", () => {
    const rand = mulberry32(1);
    const text = "the food here was really not good and the staff never smiled at us at all today!";
    let kept = 0;
    let total = 0;
    for (let i = 0; i < 2000; i++) {
      const out = dropWords(text, 0.25, rand);
      expect(out.endsWith("!")).toBe(true);
      expect(out.split(" ")).toContain("not");
      expect(out.split(" ")).toContain("never");
      expect(isSubsequence(out, text)).toBe(true);
      kept += out.split(" ").length - 2;
      total += text.split(" ").length - 2;
    }
    expect(kept / total).toBeGreaterThan(0.72);
    expect(kept / total).toBeLessThan(0.78);
    expect(dropWords("I didn't like it.", 0.5, () => 0)).toBe("I didn't like it.");
  });

  it("returns the sentence unchanged when too few words would stay", () => {
    expect(dropWords("Truly awful service.", 0.5, () => 0)).toBe("Truly awful service.");
    expect(dropWords("Horrible!", 0.5, () => 0)).toBe("Horrible!");
  });
});

describe("buildPreferenceMix sentimentWordDropout", () => {
  it("is off by default; with it, training answers are labelled sentences with some words left out", () => {
    expect(base.stats.sentimentWordDropout).toBeUndefined();
    expect(dropped.stats.sentimentWordDropout).toBe(0.2);
    expect(dropped.train).toHaveLength(base.train.length);
    const label = new Map(loadSentiment(MAX_SENTENCE_WORDS).sentences.map((s) => [s.text, s.label]));
    let changed = 0;
    for (const [i, r] of dropped.train.entries()) {
      const orig = base.train[i].responses as string[];
      expect(r.pairs).toEqual(base.train[i].pairs);
      for (const [j, a] of (r.responses as string[]).entries()) {
        expect(isSubsequence(a, orig[j])).toBe(true);
        expect(label.get(orig[j])).toBe(r.pairs.some((p) => p.better === j) ? r.meta?.polarity : r.meta?.polarity === "positive" ? "negative" : "positive");
        if (a !== orig[j]) changed++;
      }
    }
    expect(changed).toBeGreaterThan(answers(dropped.train).length / 4);
  });

  it("leaves the held-out records alone: the held-out file is the same byte for byte", () => {
    expect(dropped.heldout).toEqual(base.heldout);
    const dir = mkdtempSync(join(tmpdir(), "dropmix-"));
    const a = writePreferenceMix(join(dir, "a"), { seed: 7, perTask: 40 });
    const b = writePreferenceMix(join(dir, "b"), { seed: 7, perTask: 40, sentimentWordDropout: 0.3 });
    expect(readFileSync(b.heldout)).toEqual(readFileSync(a.heldout));
    expect(JSON.parse(readFileSync(b.mix, "utf8")).sentimentWordDropout).toBe(0.3);
  });

  it("rejects a rate outside [0, 0.5]", () => {
    expect(() => buildPreferenceMix({ sentimentWordDropout: -0.1 })).toThrow(PreferenceMixError);
    expect(() => buildPreferenceMix({ sentimentWordDropout: 0.6 })).toThrow(/sentimentWordDropout must be a probability in \[0, 0.5\]/);
  });
});

describe("recommendedMix", () => {
  it("writes the recipe's mix: word dropout, mirrors, positive-asked lexicon records and the curriculum file, held-out file unchanged", () => {
    const dir = mkdtempSync(join(tmpdir(), "recmix-"));
    const plain = writePreferenceMix(join(dir, "plain"), { seed: 7, perTask: 40 });
    const rec = writePreferenceMix(join(dir, "rec"), { seed: 7, ...recommendedMix(40) });
    expect(readFileSync(rec.heldout)).toEqual(readFileSync(plain.heldout));
    expect(rec.curriculum).toBeDefined();
    expect(rec.stats).toMatchObject({ sentimentAnswers: 3, sentimentWordDropout: 0.3, sentimentLexicon: { records: 120, positive: 120, reviewWeight: 10 }, mirrored: { sentiment: 40, vader: 40 } });
    const curriculum = readFileSync(String(rec.curriculum), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { meta: { polarity: string } });
    expect(curriculum.every((r) => r.meta.polarity === "positive")).toBe(true);
  });
});
