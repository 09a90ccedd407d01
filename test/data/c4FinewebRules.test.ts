// C4 and FineWeb against their definition (datatrove a649de79): every document of the fixture that
// scripts/make_c4_fineweb_fixture.py wrote with a Python port on real spaCy gets the same decision and, when C4
// keeps it, the same text. The documents sit just inside and just outside each threshold and branch.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { C4_POLICY_SUBSTRINGS, type C4Options, C4Rule, c4OptionsSchema } from "../../src/data/filters/c4.js";
import { type FinewebOptions, FinewebRule, finewebOptionsSchema } from "../../src/data/filters/fineweb.js";
import { buildFilterRules, filterDocument, parseFilterConfig } from "../../src/data/filters/index.js";
import { TERMINAL_PUNCTUATION, TERMINAL_PUNCTUATION_CODES, endsWithTerminalPunct } from "../../src/data/filters/rule.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import { DataStats } from "../../src/data/stats.js";
import { TextView, scanWords } from "../../src/data/textView.js";
import { pySplit, pySplitlines, pyStrip } from "../../src/data/words/pyString.js";
import { englishSentences, englishWords } from "../../src/data/words/spacyEnglish.js";

interface Check {
  rule: "c4" | "fineweb";
  name: string;
  options: Record<string, unknown>;
  expect: { remove: string } | { keep: true; text?: string };
}
interface Fixture {
  format: string;
  definition: string;
  terminalPunctuation: number[];
  docs: Array<{ text: string; checks: Check[] }>;
}

const fixture = JSON.parse(readFileSync(new URL("./fixtures/c4Fineweb.json", import.meta.url), "utf8")) as Fixture;
const scope = { enabled: true, skipKinds: [] };

/** The rule's decision in the fixture's terms: the reason, or the text it keeps. */
function decide(c: Check, text: string): { remove: string } | { keep: true; text: string } {
  const rule = c.rule === "c4" ? new C4Rule(c4OptionsSchema.parse(c.options), scope) : new FinewebRule(finewebOptionsSchema.parse(c.options), scope);
  const out = rule.check(new TextView(text));
  if (out?.remove) return { remove: out.remove };
  return { keep: true, text: out?.text ?? text };
}

describe("C4 and FineWeb match the reference port of datatrove a649de79", () => {
  it("reads the fixture it expects", () => {
    expect(fixture.format).toBe("llmforge c4/fineweb decisions v1");
    expect(fixture.docs.length).toBeGreaterThan(500);
  });

  for (const rule of ["c4", "fineweb"] as const) {
    it(`${rule}: same decision and text on every document`, () => {
      const wrong: string[] = [];
      let n = 0;
      for (const d of fixture.docs) {
        for (const c of d.checks) {
          if (c.rule !== rule) continue;
          n++;
          const want = "remove" in c.expect ? { remove: c.expect.remove } : { keep: true, text: c.expect.text ?? d.text };
          const got = decide(c, d.text);
          if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${c.name} ${JSON.stringify(c.options)}: got ${JSON.stringify(got).slice(0, 300)}, want ${JSON.stringify(want).slice(0, 300)}`);
        }
      }
      expect(n).toBeGreaterThan(300);
      expect(wrong, wrong.slice(0, 20).join("\n")).toEqual([]);
    });
  }

  it("TERMINAL_PUNCTUATION is datatrove's set", () => {
    expect([...TERMINAL_PUNCTUATION_CODES]).toEqual(fixture.terminalPunctuation);
    expect(endsWithTerminalPunct("中文。")).toBe(true);
    expect(endsWithTerminalPunct("Brahmi \u{11047}")).toBe(true);
    for (const s of ['"', "'", "\u201d", "\u2019", "\u2026", ""]) expect(endsWithTerminalPunct(`a${s}`.slice(s ? 0 : 1)), s).toBe(false);
  });
});

describe("C4 in the filter step", () => {
  const only = (opts: Record<string, unknown> = {}) =>
    buildFilterRules(parseFilterConfig({ language: { enabled: false }, gopher_quality: { enabled: false }, gopher_repetition: { enabled: false }, fineweb: { enabled: false }, toxicity: { enabled: false }, c4: opts }));
  const five = ["The river keeper walked along the bank.", "He saw a heron on the far side.", "It flew off when he came near.", "The water was high after the rain.", "He went home before dark."];

  it('"{" removes a document only from a line that survives the line checks', () => {
    const stats = new DataStats("t");
    const kept = filterDocument({ id: "a", text: [...five, "function f() { return 1; }"].join("\n"), source: "s", meta: {} }, only(), stats, 1);
    expect(kept?.text).toBe(five.join("\n"));
    expect(filterDocument({ id: "b", text: [...five, "The set {a, b} is small."].join("\n"), source: "s", meta: {} }, only(), stats, 1)).toBeNull();
    expect(Object.keys(stats.removed)).toEqual(["c4.curly_bracket"]);
  });

  it("carries the parent's words over to the kept lines", () => {
    const v = new TextView([...five, "Menu", "Read our privacy policy now."].join("\n"));
    v.wordTable;
    const out = new C4Rule(c4OptionsSchema.parse({}), scope).check(v);
    expect(out?.text).toBe(five.join("\n"));
    expect(out?.changed).toBe(2);
    expect(out?.view?.text).toBe(out?.text);
    const plain = (t: ReturnType<typeof scanWords>) => ({ count: t.count, start: [...t.start], end: [...t.end], id: [...t.id] });
    expect(plain(out?.view?.wordTable ?? scanWords(""))).toEqual(plain(scanWords(out?.text ?? "")));
  });

  it("accepts -1 for the disabled thresholds and rejects less", () => {
    expect(c4OptionsSchema.parse({ minSentences: -1, minWordsPerLine: -1, maxWordLength: -1 }).minSentences).toBe(-1);
    expect(() => parseFilterConfig({ c4: { minSentences: -2 } })).toThrow(/c4\.minSentences/);
  });
});

/** C4 written line for line from the definition (strings, no shortcuts): what the fast rule must equal. */
function c4Plain(text: string, o: C4Options): { remove: string } | { keep: true; text: string } {
  const lines = o.splitParagraph ? pySplitlines(text) : englishSentences(text);
  let sentences = 0;
  const kept: string[] = [];
  for (const raw of lines) {
    let line = pyStrip(raw);
    const words = pySplit(line);
    if (o.maxWordLength !== -1 && words.some((w) => [...w].length > o.maxWordLength)) continue;
    if (o.removeCitations) line = line.replace(/\[\p{Nd}*\]|\[edit\]|\[citation needed\]/gu, "");
    if (o.filterNoTerminalPunct && (![".", "?", "!", '"', "'"].some((e) => line.endsWith(e)) || line.endsWith("..."))) continue;
    if (words.length < o.minWordsPerLine) continue;
    const low = line.toLowerCase();
    if (o.filterLoremIpsum && low.includes("lorem ipsum")) return { remove: "lorem_ipsum" };
    if (o.filterJavascript && low.includes("javascript")) continue;
    if (o.filterCurlyBracket && line.includes("{")) return { remove: "curly_bracket" };
    if (o.filterPolicy && C4_POLICY_SUBSTRINGS.some((p) => low.includes(p))) continue;
    if (o.minSentences !== -1) sentences += o.splitParagraph ? englishSentences(line).length : 1;
    kept.push(line);
  }
  if (sentences < o.minSentences) return { remove: "too_few_sentences" };
  return { keep: true, text: pyStrip(kept.join(o.splitParagraph ? "\n" : " ")) };
}

/** FineWeb written line for line from the definition. */
function finewebPlain(text: string, o: FinewebOptions): { remove: string } | { keep: true } {
  const lines = text.split("\n").filter((l) => pyStrip(l) !== "");
  if (lines.length === 0) return { remove: "empty" };
  const stop = o.stopChars ?? TERMINAL_PUNCTUATION;
  let r = lines.filter((l) => stop.some((s) => l.endsWith(s))).length / lines.length;
  if (r < o.linePunctThreshold && !(r === 0 && o.linePunctExcludeZero)) return { remove: "line_punct_ratio" };
  r = lines.filter((l) => [...l].length <= o.shortLineLength).length / lines.length;
  if (r > o.shortLineThreshold) return { remove: "short_line_ratio" };
  const seen = new Set<string>();
  let dup = 0;
  for (const l of lines) {
    if (seen.has(l)) dup += [...l].length;
    else seen.add(l);
  }
  if (dup / [...text.replaceAll("\n", "")].length > o.charDuplicatesRatio) return { remove: "char_dup_ratio" };
  if ((text.split("\n").length - 1) / englishWords(text).length > o.newLineRatio) return { remove: "list_ratio" };
  return { keep: true };
}

describe("the fast rules equal the plain definitions on random documents and options", () => {
  const PIECES = [" ", "  ", "\t", "\n", "\n", "\n\n", "\r\n", "\r", "\v", "\x1c", "\x1f", "\x85", "\u2028", "\u00a0", "\u3000", "\ufeff", "word", "Word", "x", "the", "cat sat",
    "longwordlongword", ".", ".", "!", "?", "...", "\u2026", '"', "'", "\u201d", "[1]", "[]", "[edit]", "[Edit]", "[citation needed]", "[\u0663]", "[", "{", "lorem ipsum", "Lorem Ipsum",
    "JavaScript", "java[2]script", "lorem[]ipsum", "Privacy Policy", "coo\u212aie policy", "\u0130", "\u3002", "\uff01", "\u{1F600}", "\u{11047}", "Mr.", "e.g.", "can't", "3.14"];
  const pick = (rand: () => number, len: number) => Array.from({ length: len }, () => PIECES[Math.floor(rand() * PIECES.length)]).join("");

  it("C4", () => {
    const rand = mulberry32(41);
    for (let k = 0; k < 2500; k++) {
      const o = c4OptionsSchema.parse({
        splitParagraph: rand() < 0.9,
        removeCitations: rand() < 0.8,
        filterNoTerminalPunct: rand() < 0.8,
        minSentences: Math.floor(rand() * 5) - 1,
        minWordsPerLine: Math.floor(rand() * 5) - 1,
        maxWordLength: rand() < 0.2 ? -1 : Math.floor(rand() * 20),
        filterLoremIpsum: rand() < 0.8,
        filterJavascript: rand() < 0.8,
        filterCurlyBracket: rand() < 0.8,
        filterPolicy: rand() < 0.8,
      });
      const text = pick(rand, Math.floor(rand() * 50));
      const v = new TextView(text);
      if (rand() < 0.5) v.wordTable; // the carried-over words are checked below
      const out = new C4Rule(o, scope).check(v);
      const got = out?.remove ? { remove: out.remove } : { keep: true, text: out?.text ?? text };
      expect(got, JSON.stringify({ text, o })).toEqual(c4Plain(text, o));
      if (out?.view) expect(out.view.text).toBe(out.text);
    }
  });

  it("FineWeb", () => {
    const rand = mulberry32(43);
    for (let k = 0; k < 2500; k++) {
      const o = finewebOptionsSchema.parse({
        linePunctThreshold: [0, 0.12, 0.5][Math.floor(rand() * 3)],
        linePunctExcludeZero: rand() < 0.3,
        stopChars: rand() < 0.1 ? ['"', "..", "\u{1F600}"] : undefined,
        shortLineThreshold: [0.67, 1, 0.2][Math.floor(rand() * 3)],
        shortLineLength: Math.floor(rand() * 40),
        charDuplicatesRatio: [0.01, 0.2, 1][Math.floor(rand() * 3)],
        newLineRatio: [0.3, 1, 0, -0.5][Math.floor(rand() * 4)],
      });
      const text = pick(rand, Math.floor(rand() * 50));
      const out = new FinewebRule(o, scope).check(new TextView(text));
      expect(out?.remove ? { remove: out.remove } : { keep: true }, JSON.stringify({ text, o })).toEqual(finewebPlain(text, o));
    }
  });
});
