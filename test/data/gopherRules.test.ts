// The Gopher rules decide as datatrove a649de79 does: documents just inside and just outside every threshold of
// both rules, and the embedded corpus, against the decisions of our Python port of datatrove's definition with real
// spaCy (test/data/fixtures/gopherRules.json, written by scripts/make_gopher_fixture.py). Also: the fast figures
// equal their plain string definitions on random texts built to repeat themselves.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GopherQualityRule, gopherLines, gopherQualityOptionsSchema, isDatatrovePunct } from "../../src/data/filters/gopherQuality.js";
import {
  GopherRepetitionRule,
  codePointLength,
  duplicatedNGramCharsPlain,
  gopherNativeAddon,
  gopherRepetitionFigures,
  gopherRepetitionOptionsSchema,
  paragraphsAndLinesPlain,
  repeatedItemsPlain,
  topNGramCharsPlain,
} from "../../src/data/filters/gopherRepetition.js";
import type { RuleOutcome } from "../../src/data/filters/rule.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import { TextView } from "../../src/data/textView.js";
import { pyLstrip, pyRstrip, pySplitlines } from "../../src/data/words/pyString.js";
import type { TokenSpans } from "../../src/data/words/spacyEnglish.js";
import { englishWordSpans } from "../../src/data/words/spacyEnglish.js";
import { gopherCorpusDocuments, STRICT_REPETITION, spaceSpans } from "./gopherCorpus.js";

interface Case {
  name: string;
  rule: "quality" | "repetition";
  text?: string;
  parts?: Array<[string | number, number]>;
  opts?: Record<string, unknown>;
  expect: string;
  words: number;
}
interface CorpusDecisions {
  reasons: string[];
  decisions: string;
}
const fixture = JSON.parse(readFileSync(new URL("./fixtures/gopherRules.json", import.meta.url), "utf8")) as {
  format: string;
  version: number;
  punctuation: Array<[number, number]>;
  pieces: string[];
  cases: Case[];
  corpus: {
    documents: number;
    emailsPerGroup: number;
    quality: CorpusDecisions;
    repetition: CorpusDecisions;
  };
};

/** datatrove's quality reasons -> ours (the repetition rule uses datatrove's names as they are). */
const QUALITY_REASONS: Record<string, string> = {
  gopher_short_doc: "min_words",
  gopher_long_doc: "max_words",
  gopher_below_avg_threshold: "mean_word_length",
  gopher_above_avg_threshold: "mean_word_length",
  gopher_too_many_hashes: "symbol_word_ratio",
  gopher_too_many_ellipsis: "ellipsis_word_ratio",
  gopher_too_many_bullets: "bullet_lines",
  gopher_too_many_end_ellipsis: "ellipsis_lines",
  gopher_below_alpha_threshold: "alpha_words",
  gopher_enough_stop_words: "stop_words",
};
/**
 * Where datatrove divides by zero (raises ZeroDivisionError) we let the ratio pass: an empty text with the word
 * count off goes on to the stop words; an empty text is kept by the repetition rule (every figure is 0).
 */
const ON_ZERO_DIVISION: Record<string, string> = {
  quality: "stop_words",
  repetition: "keep",
};

const scope = { enabled: true, skipKinds: [] };
const textOf = (c: Case) => c.text ?? (c.parts ?? []).map(([p, k]) => (typeof p === "number" ? fixture.pieces[p] : p).repeat(k)).join("");
const ours = (c: { rule: string }, expect: string) => (expect.startsWith("error:") ? ON_ZERO_DIVISION[c.rule] : c.rule === "quality" && expect !== "keep" ? QUALITY_REASONS[expect] : expect);
const decision = (o: RuleOutcome | null) => o?.remove ?? "keep";

function ruleOf(rule: string, opts: Record<string, unknown> = {}): GopherQualityRule | GopherRepetitionRule {
  return rule === "quality" ? new GopherQualityRule(gopherQualityOptionsSchema.parse(opts), scope) : new GopherRepetitionRule(gopherRepetitionOptionsSchema.parse(opts), scope);
}

describe("Gopher rules: the fixture", () => {
  it("is the version this test reads", () => {
    expect(fixture.format).toBe("llmforge gopher rules fixture");
    expect(fixture.version).toBe(1);
  });

  it("has the punctuation table the quality rule holds (the script checks it against datatrove's)", () => {
    const inFixture = (cp: number) => fixture.punctuation.some(([a, b]) => cp >= a && cp <= b);
    for (let cp = 0; cp < 0x20000; cp++) if (isDatatrovePunct(cp) !== inFixture(cp)) expect.fail(`U+${cp.toString(16)}`);
  });
});

describe.each(["quality", "repetition"] as const)("Gopher %s at and around every threshold (datatrove a649de79)", (rule) => {
  const cases = fixture.cases.filter((c) => c.rule === rule);
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
    const text = textOf(c);
    const view = new TextView(text);
    // the words first, so that a tokenizer difference reads as one
    expect(view.englishWords.count, "spaCy token count").toBe(c.words);
    expect(decision(ruleOf(rule, c.opts).check(view))).toBe(ours(c, c.expect));
  });
});

describe("Gopher rules on the embedded corpus and raw emails (datatrove a649de79's decisions)", () => {
  const docs = gopherCorpusDocuments(fixture.corpus.emailsPerGroup);
  it("has the fixture's documents", () => expect(docs.length).toBe(fixture.corpus.documents));
  it.each(["quality", "repetition"] as const)("%s: every document decided the same", (rule) => {
    const want = fixture.corpus[rule];
    const r = ruleOf(rule);
    const wrong: string[] = [];
    docs.forEach(([id, text], i) => {
      const ch = want.decisions[i];
      const expected = ours({ rule }, ch === "." ? "keep" : want.reasons[ch.charCodeAt(0) - 97]);
      const got = decision(r.check(new TextView(text)));
      if (got !== expected) wrong.push(`${id}: ${got}, datatrove ${expected}`);
    });
    expect(wrong.slice(0, 20), `${wrong.length} of ${docs.length} differ`).toEqual([]);
  });
});

/**
 * Random texts of a few words and separators: many repeats, words whose joins collide ("ab c" / "a bc"), blank
 * lines, CRLF, astral characters, bullets and ellipses.
 */
function randomTexts(seed: number, count: number): string[] {
  const WORDS = ["a", "b", "ab", "c", "bc", "abc", "the", "...", "\u2026", "-", "\u2022", "#", "\u{1f600}", "x", "a.", "1"];
  const SEPS = [" ", " ", " ", " ", " ", " ", "\n", "\n\n", "\r\n", "\t", "\u2028", "\n\n\n", "  ", ""];
  const rand = mulberry32(seed);
  const pick = (xs: string[]) => xs[Math.floor(rand() * xs.length)];
  return Array.from({ length: count }, () => {
    const vocab = WORDS.slice(0, 2 + Math.floor(rand() * (WORDS.length - 2)));
    const n = Math.floor(rand() * (rand() < 0.2 ? 1500 : 60));
    let t = rand() < 0.2 ? pick(SEPS) : "";
    if (rand() < 0.3) {
      // a few phrases said again and again: repeated lines and paragraphs
      const phrases = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(vocab)).join(" "));
      for (let k = 0; k < n / 4; k++) t += pick(phrases) + pick(["\n", "\n\n", "\n", " "]);
      return t;
    }
    for (let k = 0; k < n; k++) t += pick(vocab) + pick(SEPS);
    return t;
  });
}


describe("Gopher figures: the fast path equals the plain definitions", () => {
  const texts = randomTexts(19, 300);
  it("paragraph and line repeats, and the n-gram figures", () => {
    const tops = [1, 2, 3, 4, 5];
    const dups = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30];
    for (const t of texts) {
      for (const spans of [spaceSpans(t), englishWordSpans(t)]) {
        const words = Array.from({ length: spans.count }, (_, i) => t.slice(spans.start[i], spans.end[i]));
        const { topBound, ...f } = gopherRepetitionFigures(t, spans, tops, dups);
        const { paragraphs, lines } = paragraphsAndLinesPlain(t);
        const p = repeatedItemsPlain(paragraphs);
        const l = repeatedItemsPlain(lines);
        const want = {
          length: codePointLength(t),
          paragraphs: paragraphs.length,
          dupParagraphs: p.items,
          dupParagraphChars: p.chars,
          lines: lines.length,
          dupLines: l.items,
          dupLineChars: l.chars,
          top: tops.map((n) => topNGramCharsPlain(words, n)),
          dup: dups.map((n) => duplicatedNGramCharsPlain(words, n)),
        };
        expect(f, JSON.stringify(t.slice(0, 120))).toEqual(want);
        // the bound that lets the rule skip counting n-grams is one
        for (let k = 0; k < tops.length; k++) expect(topBound[k] ?? 0).toBeGreaterThanOrEqual(want.top[k] ?? 0);
      }
    }
  });

  it("the rule decides as the plain figures do (bounds and shared scratch included), in any order", () => {
    // limits low enough that texts are removed for every reason
    const opts = STRICT_REPETITION;
    // the TypeScript figures, and the native ones where the addon loaded
    const rules = [new GopherRepetitionRule(opts, scope, null), ...(gopherNativeAddon ? [new GopherRepetitionRule(opts, scope, gopherNativeAddon)] : [])];
    const plain = (t: string, spans: TokenSpans): string => {
      const len = codePointLength(t) || Number.POSITIVE_INFINITY;
      const { paragraphs, lines } = paragraphsAndLinesPlain(t);
      const p = repeatedItemsPlain(paragraphs);
      if (p.items / paragraphs.length > 0.45) return "dup_para_frac";
      if (p.chars / len > 0.4) return "dup_para_char_frac";
      const l = repeatedItemsPlain(lines);
      if (l.items / lines.length > 0.6) return "dup_line_frac";
      if (l.chars / len > 0.5) return "dup_line_char_frac";
      const words = Array.from({ length: spans.count }, (_, i) => t.slice(spans.start[i], spans.end[i]));
      for (const [n, f] of opts.topNGrams) if (words.length >= n && (topNGramCharsPlain(words, n) as number) / len > f) return `top_${n}_gram`;
      for (const [n, f] of opts.dupNGrams) if (duplicatedNGramCharsPlain(words, n) / len > f) return `duplicated_${n}_n_grams`;
      return "keep";
    };
    const seen = new Set<string>();
    for (const order of [texts, [...texts].reverse()]) {
      for (const t of order) {
        const spans = spaceSpans(t);
        const want = plain(t, spans);
        seen.add(want);
        for (const rule of rules) expect(decision(rule.checkWords(t, () => spans)), JSON.stringify(t.slice(0, 120))).toBe(want);
      }
    }
    expect(seen.size, [...seen].join(" ")).toBeGreaterThanOrEqual(10);
  });

  it("line figures of the quality rule", () => {
    for (const t of texts) {
      const lines = pySplitlines(t);
      expect(gopherLines(t), JSON.stringify(t.slice(0, 120))).toEqual({
        lines: lines.length,
        bullets: lines.filter((s) => pyLstrip(s).startsWith("\u2022") || pyLstrip(s).startsWith("-")).length,
        ellipsisEnds: lines.filter((s) => pyRstrip(s).endsWith("...") || pyRstrip(s).endsWith("\u2026")).length,
      });
    }
  });
});

describe("Gopher options", () => {
  it("a threshold of 0 or null is off, as datatrove's `if threshold and` reads it", () => {
    const text = Array(30).fill("the cat and # dog").join(" ");
    expect(decision(ruleOf("quality", {}).check(new TextView(text)))).toBe("symbol_word_ratio");
    expect(decision(ruleOf("quality", { maxSymbolWordRatio: 0 }).check(new TextView(text)))).toBe("keep");
    expect(decision(ruleOf("quality", { maxSymbolWordRatio: null }).check(new TextView(text)))).toBe("keep");
  });

  it("rejects a negative threshold with a message naming it", () => {
    expect(() => gopherQualityOptionsSchema.parse({ minWords: -1 })).toThrow(/minWords/);
    expect(() => gopherRepetitionOptionsSchema.parse({ topNGrams: [[0, 0.2]] })).toThrow(/topNGrams/);
  });
});
