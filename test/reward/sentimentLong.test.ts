// The preference mix's longer review sentences (`sentimentLongWords`): training answers only, within the word limit, labelled as the
// fixtures label them, and the held-out records (and file) unchanged.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildPreferenceMix, PreferenceMixError, writePreferenceMix } from "../../src/reward/index.js";
import { loadSentiment, MAX_SENTENCE_WORDS } from "../../src/sft/instructionSources.js";

const words = (s: string) => s.split(" ").length;
const base = buildPreferenceMix({
  seed: 7,
  perTask: 300,
  tasks: ["sentiment"],
});
const long = buildPreferenceMix({
  seed: 7,
  perTask: 300,
  tasks: ["sentiment"],
  sentimentLongWords: 30,
});
const answers = (recs: typeof base.train) => recs.flatMap((r) => r.responses as string[]);

describe("buildPreferenceMix sentimentLongWords", () => {
  it("is off by default; with it, training answers also come from longer sentences, up to the limit", () => {
    expect(answers(base.train).every((a) => words(a) <= MAX_SENTENCE_WORDS)).toBe(true);
    expect(base.stats.sentimentLongWords).toBeUndefined();
    const longer = answers(long.train).filter((a) => words(a) > MAX_SENTENCE_WORDS);
    // about half the fixtures' sentences of 30 words or fewer are longer than 10 words
    expect(longer.length).toBeGreaterThan(answers(long.train).length / 4);
    expect(Math.max(...longer.map(words))).toBeLessThanOrEqual(30);
    expect(long.stats.sentimentLongWords).toBe(30);
    expect(long.train).toHaveLength(base.train.length);
  });

  it("labels a longer sentence as the fixtures do: the chosen answer has the asked polarity", () => {
    const label = new Map(loadSentiment(40).sentences.map((s) => [s.text, s.label]));
    let checked = 0;
    for (const r of long.train) {
      const [chosen, rejected] = r.responses as string[];
      expect(label.get(chosen)).toBe(r.meta?.polarity);
      expect(label.get(rejected)).not.toBe(r.meta?.polarity);
      if (words(chosen) > MAX_SENTENCE_WORDS) checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("never puts a longer sentence in a held-out record: the held-out file is the same byte for byte", () => {
    expect(long.heldout).toEqual(base.heldout);
    expect(answers(long.heldout).every((a) => words(a) <= MAX_SENTENCE_WORDS)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "longmix-"));
    const a = writePreferenceMix(join(dir, "a"), { seed: 7, perTask: 40 });
    const b = writePreferenceMix(join(dir, "b"), {
      seed: 7,
      perTask: 40,
      sentimentLongWords: 40,
    });
    expect(readFileSync(b.heldout)).toEqual(readFileSync(a.heldout));
    expect(JSON.parse(readFileSync(b.mix, "utf8")).sentimentLongWords).toBe(40);
  });

  it("rejects a limit that is not a whole number", () => {
    expect(() => buildPreferenceMix({ sentimentLongWords: -1 })).toThrow(PreferenceMixError);
    expect(() => buildPreferenceMix({ sentimentLongWords: 2.5 })).toThrow(/sentimentLongWords must be a whole number >= 0/);
  });
});
