// spaCy English words and sentences (src/data/words/spacyEnglish.ts) against the real spaCy 3.8 with
// datatrove a649de79's post-processing: test/data/fixtures/spacyEnglish.json, made by
// scripts/make_spacy_fixture.py from Brown, SpamAssassin, nlp-corpus and WordNet samples, hand-written edge
// cases and seeded random strings. Every text must agree token for token and sentence for sentence.
// Known differences: none. (Also checked once by hand, not in this suite: all 500 Brown texts, all 6,046
// SpamAssassin messages, 4,000 nlp-corpus and 300 WordNet documents and 20 Gutenberg texts, 50 MB in all,
// and 140,000 random strings: no difference.) A case that cannot be matched would go in KNOWN_DIFFERENCES with its reason.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { countEnglishSentences, englishSentences, englishWordSpans, englishWords, findInfixes, findPrefix, findSuffix, tokenizeChunk, urlMatch } from "../../src/data/words/spacyEnglish.js";
import { SPACY_VERSION } from "../../src/data/words/spacyEnglishData.js";
import { TextView } from "../../src/data/textView.js";

interface Case {
  source: string;
  text: string;
  words: string[];
  sents: number[];
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "spacyEnglish.json"), "utf8")) as {
  spacy: string;
  cases: Case[];
  affix: [string, number, number, [number, number][], boolean][];
};

/** Texts (fixture `text`) skipped on purpose, each with the reason; empty: the port matches spaCy on all of them. */
const KNOWN_DIFFERENCES = new Map<string, string>();

/** Sentences of a case as strings (the fixture stores their UTF-16 lengths). */
function sentencesOf(c: Case): string[] {
  const out: string[] = [];
  let a = 0;
  for (const n of c.sents) {
    out.push(c.text.slice(a, a + n));
    a += n;
  }
  return out;
}

describe("spaCy English tokenizer port", () => {
  it("was generated from the same spaCy version as the fixture", () => {
    expect(SPACY_VERSION).toBe(fixture.spacy);
  });

  it("finds spaCy's prefixes, suffixes, infixes and URLs on every sampled chunk", () => {
    const bad: string[] = [];
    for (const [chunk, pre, suf, inf, url] of fixture.affix) {
      const got: number[] = [];
      findInfixes(chunk, 0, chunk.length, got);
      const mine = [findPrefix(chunk, 0, chunk.length), findSuffix(chunk, 0, chunk.length), got.join(","), urlMatch(chunk)];
      const theirs = [pre, suf, inf.flat().join(","), url];
      if (JSON.stringify(mine) !== JSON.stringify(theirs)) bad.push(`${JSON.stringify(chunk)}: ${JSON.stringify(mine)} != ${JSON.stringify(theirs)}`);
    }
    expect(bad.slice(0, 20)).toEqual([]);
  });

  for (const source of [...new Set(fixture.cases.map((c) => c.source))]) {
    const cases = fixture.cases.filter((c) => c.source === source && !KNOWN_DIFFERENCES.has(c.text));
    it(`splits words as spaCy does (${source}, ${cases.length} texts)`, () => {
      const bad: string[] = [];
      for (const c of cases) {
        const words = englishWords(c.text);
        if (JSON.stringify(words) !== JSON.stringify(c.words)) {
          const k = words.findIndex((w, i) => w !== c.words[i]);
          bad.push(`${JSON.stringify(c.text.slice(0, 80))}: at ${k} ${JSON.stringify(words.slice(k, k + 4))} != ${JSON.stringify(c.words.slice(k, k + 4))}`);
        }
        const spans = englishWordSpans(c.text);
        for (let i = 0; i < spans.count; i++) if (c.text.slice(spans.start[i], spans.end[i]) !== words[i]) bad.push(`span ${i} of ${JSON.stringify(c.text.slice(0, 40))}`);
      }
      expect(bad.slice(0, 10)).toEqual([]);
    });
    it(`splits sentences as spaCy does (${source})`, () => {
      const bad: string[] = [];
      for (const c of cases) {
        const want = sentencesOf(c);
        const got = englishSentences(c.text);
        if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${JSON.stringify(c.text.slice(0, 80))}: ${JSON.stringify(got.slice(0, 3))} != ${JSON.stringify(want.slice(0, 3))}`);
        if (countEnglishSentences(c.text) !== want.length) bad.push(`count of ${JSON.stringify(c.text.slice(0, 40))}`);
      }
      expect(bad.slice(0, 10)).toEqual([]);
    });
  }

  it("counts sentences up to a bound", () => {
    const t = "One. Two. Three. Four. Five.";
    expect(countEnglishSentences(t)).toBe(5);
    expect(countEnglishSentences(t, 3)).toBe(3);
    expect(countEnglishSentences(t, 1)).toBe(1);
    expect(countEnglishSentences("", 5)).toBe(1);
  });

  it("gives the same tokens with a warm cache as with a cold one, and TextView caches its spans", () => {
    const text = fixture.cases.map((c) => c.text).join("\n");
    const a = englishWords(text);
    expect(englishWords(text)).toEqual(a);
    const chunk = "(U.S.)--e.g.";
    expect(tokenizeChunk(chunk).reduce((x, y) => x + y, 0)).toBe(chunk.length);
    const v = new TextView("I can't go.");
    expect(v.englishWords).toBe(v.englishWords);
    expect(v.englishWords.count).toBe(5);
  });
});
