// The native Gopher repetition figures (native/text.cc gopherLineRepeats, gopherNGrams) against their TypeScript
// definition (gopherRepetition.ts gopherRepetitionFigures, itself held to the plain string definitions by
// gopherRules.test.ts): the same integers on the rule fixture's documents, the Gopher corpus (test/data/gopherCorpus.ts)
// and random texts full of repeats, non-ASCII, surrogate pairs and lone surrogates; and the same decisions from
// the rule with and without the addon. Skipped only where the addon did not build (CI builds it).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GopherQualityRule, gopherQualityOptionsSchema } from "../../src/data/filters/gopherQuality.js";
import { GopherRepetitionRule, gopherNativeAddon, gopherRepetitionFigures, gopherRepetitionFiguresNative, gopherRepetitionOptionsSchema } from "../../src/data/filters/gopherRepetition.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import type { TextAddon } from "../../src/data/nativeText.js";
import type { TokenSpans } from "../../src/data/words/spacyEnglish.js";
import { englishWordSpans } from "../../src/data/words/spacyEnglish.js";
import { gopherCorpusDocuments, STRICT_REPETITION, spaceSpans } from "./gopherCorpus.js";

const native = gopherNativeAddon;
/** the addon, in the tests that run only where it loaded */
const addon = native as TextAddon;
const fixture = JSON.parse(readFileSync(new URL("./fixtures/gopherRules.json", import.meta.url), "utf8")) as {
  pieces: string[];
  cases: Array<{ text?: string; parts?: Array<[string | number, number]> }>;
  corpus: { emailsPerGroup: number };
};
const fixtureTexts = fixture.cases.map((c) => c.text ?? (c.parts ?? []).map(([p, k]) => (typeof p === "number" ? fixture.pieces[p] : p).repeat(k)).join(""));

// the rule's sizes, and sizes around them (1, sizes past most texts' word counts, out of order, repeated)
const TOPS = [2, 3, 4, 1, 5, 4];
const DUPS = [5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 30, 7];


/** Random texts of a few pieces: repeated words, lines and paragraphs, joins that collide ("ab c" / "a bc"), astral and lone surrogates. */
function randomTexts(seed: number, count: number): string[] {
  const WORDS = ["a", "b", "ab", "c", "bc", "abc", "the", "é", "漢字", "\u{1f600}", "\u{1f600}x", "\ud800", "\udc00", "x\ud800", "...", "-", "1"];
  const SEPS = [" ", " ", " ", " ", "\n", "\n\n", "\n\n\n", "\r\n", "\t", "\u2028", "\u00a0", "  ", ""];
  const rand = mulberry32(seed);
  const pick = (xs: readonly string[]) => xs[Math.floor(rand() * xs.length)];
  const texts = ["", " ", "\n", "\n\n", "a", "\u{1f600}", "\ud800", "a\n\na\n\na", "\n\nx\n\nx\n\n"];
  while (texts.length < count) {
    const vocab = WORDS.slice(0, 2 + Math.floor(rand() * (WORDS.length - 2)));
    const n = Math.floor(rand() * (rand() < 0.2 ? 2000 : 80));
    let t = rand() < 0.2 ? pick(SEPS) : "";
    if (rand() < 0.4) {
      const phrases = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Array.from({ length: 1 + Math.floor(rand() * 7) }, () => pick(vocab)).join(" "));
      for (let k = 0; k < n / 4; k++) t += pick(phrases) + pick(["\n", "\n\n", "\n", " ", ""]);
    } else for (let k = 0; k < n; k++) t += pick(vocab) + pick(SEPS);
    texts.push(t);
  }
  return texts;
}

describe.skipIf(!native)("native Gopher repetition figures", () => {
  const same = (text: string, spans: TokenSpans) => {
    const { topBound: _, ...want } = gopherRepetitionFigures(text, spans, TOPS, DUPS);
    expect(gopherRepetitionFiguresNative(addon, text, spans, TOPS, DUPS), JSON.stringify(text.slice(0, 120))).toEqual(want);
  };

  it("equal the TypeScript figures on the rule fixture's documents", () => {
    for (const t of fixtureTexts) {
      same(t, englishWordSpans(t));
      same(t, spaceSpans(t));
    }
  });

  it("equal the TypeScript figures on the Gopher corpus (spaCy words)", () => {
    const docs = gopherCorpusDocuments(fixture.corpus.emailsPerGroup);
    expect(docs.length).toBeGreaterThan(8000);
    for (const [, t] of docs) same(t, englishWordSpans(t));
  });

  it("equal the TypeScript figures on random texts with many repeats, non-ASCII and surrogates, and on empty text", () => {
    for (const t of randomTexts(23, 1500)) {
      same(t, spaceSpans(t));
      same(t, englishWordSpans(t));
    }
    same("", { count: 0, start: new Int32Array(0), end: new Int32Array(0) });
  });

  it("past the first table and bitmap sizes: many distinct words, then the same words again", () => {
    const words = Array.from({ length: 30000 }, (_, i) => `w${(i % 12000).toString(36)}${i % 7 === 0 ? "é" : ""}`);
    const t = words.join(" ");
    same(t, spaceSpans(t));
  });

  it("given limits, skips only top n-grams whose exact figure is within them, and counts the rest exactly", () => {
    const tops = [2, 3, 4];
    let skipped = 0;
    let counted = 0;
    for (const t of [...randomTexts(31, 400), ...fixtureTexts]) {
      const spans = englishWordSpans(t);
      const exact = gopherRepetitionFigures(t, spans, tops, []).top;
      const len = Math.max(1, t.length);
      for (const f of [0.02, 0.2, 0.6]) {
        const limits = Float64Array.of(f, f * 0.9, f * 0.8);
        const out = new Float64Array(3);
        addon.gopherNGrams(t, spans.start, spans.end, spans.count, Int32Array.from(tops), new Int32Array(0), out, len, limits);
        for (let k = 0; k < 3; k++) {
          if (out[k] === -2) {
            skipped++;
            expect((exact[k] as number) / len, JSON.stringify(t.slice(0, 120))).toBeLessThanOrEqual(limits[k]);
          } else {
            counted++;
            expect(out[k], JSON.stringify(t.slice(0, 120))).toBe(exact[k] ?? -1);
          }
        }
      }
    }
    expect(skipped).toBeGreaterThan(100);
    expect(counted).toBeGreaterThan(100);
  });

  it("the rule decides the same with and without the addon (every reason met)", () => {
    const opts = STRICT_REPETITION;
    const scope = { enabled: true, skipKinds: [] };
    const seen = new Set<string>();
    for (const o of [opts, gopherRepetitionOptionsSchema.parse({})]) {
      const native = new GopherRepetitionRule(o, scope, addon);
      const ts = new GopherRepetitionRule(o, scope, null);
      for (const t of [...randomTexts(29, 600), ...fixtureTexts]) {
        const spans = spaceSpans(t);
        const got = native.checkWords(t, () => spans);
        expect(got, JSON.stringify(t.slice(0, 120))).toEqual(ts.checkWords(t, () => spans));
        seen.add(got?.remove ?? "keep");
      }
    }
    expect(seen.size, [...seen].join(" ")).toBeGreaterThanOrEqual(10);
  });

  it("rejects wrong arguments with an error naming them", () => {
    const out = new Float64Array(2);
    expect(() => addon.gopherLineRepeats("a", new Float64Array(3))).toThrow(/gopherLineRepeats: out is too short/);
    expect(() => addon.gopherNGrams("ab", Int32Array.of(0), Int32Array.of(3), 1, Int32Array.of(2), Int32Array.of(5), out)).toThrow(/word 0 \[0, 3\) is not a span/);
    expect(() => addon.gopherNGrams("ab", Int32Array.of(0), Int32Array.of(1), 2, Int32Array.of(2), Int32Array.of(5), out)).toThrow(/start is too short/);
    expect(() => addon.gopherNGrams("ab", Int32Array.of(0), Int32Array.of(1), 1, Int32Array.of(0), Int32Array.of(5), out)).toThrow(/sizes must be >= 1/);
  });
});

describe.skipIf(!native)("native Gopher quality token pass", () => {
  const scope = { enabled: true, skipKinds: [] };
  const rules = [
    gopherQualityOptionsSchema.parse({}),
    // stop words of other lengths, non-ASCII, repeated, empty; and the stop word check off
    gopherQualityOptionsSchema.parse({ stopWords: ["a", "ab", "the", "é", "\u{1f600}", "the", "", "漢字"] }),
    gopherQualityOptionsSchema.parse({ minStopWords: null }),
  ].map((o) => new GopherQualityRule(o, scope, null));
  const astralInToken = (t: string, spans: TokenSpans) => {
    for (let i = 0; i < spans.count; i++) if (/[\ud800-\udbff][\udc00-\udfff]/.test(t.slice(spans.start[i], spans.end[i]))) return true;
    return false;
  };
  const same = (t: string, spans: TokenSpans) => {
    for (const r of rules) {
      const got = r.tokenStatsNative(addon, t, spans);
      // declined only where a token holds an astral code point (the table classifies code units)
      if (astralInToken(t, spans)) expect(got, JSON.stringify(t.slice(0, 120))).toBeNull();
      else expect(got, JSON.stringify(t.slice(0, 120))).toEqual(r.tokenStatsTs(t, spans));
    }
  };

  it("counts what the TypeScript counts on the fixture's documents, the Gopher corpus and random texts", () => {
    for (const t of fixtureTexts) same(t, englishWordSpans(t));
    for (const [, t] of gopherCorpusDocuments(fixture.corpus.emailsPerGroup).filter((_, i) => i % 4 === 0)) same(t, englishWordSpans(t));
    for (const t of randomTexts(37, 800)) {
      same(t, englishWordSpans(t));
      same(t, spaceSpans(t));
    }
    same("", { count: 0, start: new Int32Array(0), end: new Int32Array(0) });
  });

  it("declines more than 64 stop words, and the rule then counts in TypeScript", () => {
    const many = Array.from({ length: 65 }, (_, k) => `s${k}`);
    const r = new GopherQualityRule(gopherQualityOptionsSchema.parse({ stopWords: many, minStopWords: 3 }), scope, addon);
    const t = "s1 s2 s3 s64 and more words here";
    const spans = spaceSpans(t);
    expect(r.tokenStatsNative(addon, t, spans)).toBeNull();
    expect(r.tokenStatsTs(t, spans).stopWords).toBe(4);
    expect(r.checkWords(t, spans)?.remove).toBe("min_words");
  });

  it("the rule decides the same with and without the addon", () => {
    const seen = new Set<string>();
    for (const o of [gopherQualityOptionsSchema.parse({}), gopherQualityOptionsSchema.parse({ minWords: 5, maxWords: 400, maxSymbolWordRatio: 0.3, minStopWords: 1 })]) {
      const withAddon = new GopherQualityRule(o, scope, addon);
      const without = new GopherQualityRule(o, scope, null);
      for (const t of [...randomTexts(41, 600), ...fixtureTexts]) {
        const spans = englishWordSpans(t);
        const got = withAddon.checkWords(t, spans);
        expect(got, JSON.stringify(t.slice(0, 120))).toEqual(without.checkWords(t, spans));
        seen.add(got?.remove ?? "keep");
      }
    }
    expect(seen.size, [...seen].join(" ")).toBeGreaterThanOrEqual(7);
  });

  it("rejects a span outside the text with an error naming it", () => {
    const r = rules[0];
    expect(() => r.tokenStatsNative(addon, "ab", { count: 1, start: Int32Array.of(1), end: Int32Array.of(3) })).toThrow(/token 0 \[1, 3\) is not a span/);
  });
});
