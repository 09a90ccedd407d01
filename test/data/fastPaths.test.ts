// Fast scans checked against the plain definitions they replace, on random text made of the characters
// that matter to each (whitespace of every kind, newlines, punctuation, non-ASCII letters).
import { describe, expect, it } from "vitest";
import { cleanText, collapseWhitespace, collapseWhitespacePlain, parseCleanConfig, stripMarkup } from "../../src/data/clean.js";
import { decodeHTML } from "entities";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import { LowerCaseNeedles, TextView, splitWords } from "../../src/data/textView.js";
import { ToxicWordList } from "../../src/data/filters/toxicity.js";
import { LanguageRule, foldSample, languageOptionsSchema, languageOutcomeReference, languageTotals, trigramEntries } from "../../src/data/filters/language.js";
import { brownDocuments, nlpCorpusDocuments } from "../../src/data/embedded.js";

function randomFrom(pieces: readonly string[], rand: () => number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += pieces[Math.floor(rand() * pieces.length)];
  return s;
}

describe("whitespace collapsing", () => {
  const PIECES = [" ", "  ", "\t", "\n", "\n\n", "\n\n\n", "\r", "\v", "\f", "\u00a0", "\u1680", "\u2003", "\u200a", "\u200b", "\u2028", "\u202f", "\u205f", "\u3000", "\ufeff", "a", "bc", ".", "é"];
  it("equals the three-regex definition", () => {
    const rand = mulberry32(3);
    for (let k = 0; k < 5000; k++) {
      const t = randomFrom(PIECES, rand, Math.floor(rand() * 30));
      expect(collapseWhitespace(t), JSON.stringify(t)).toBe(collapseWhitespacePlain(t));
    }
  });
  it("returns the text itself when nothing changes", () => {
    const t = "one two\nthree\n\nfour";
    expect(collapseWhitespace(t)).toBe(t);
  });
});

describe("markup stripping", () => {
  // the plain definition: every expression over the whole text, in order
  const plain = (text: string) => {
    let t = text.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, "").replace(/<!--[\s\S]*?-->/g, "");
    t = t.replace(/<\/?(?:b|p|div|br|a|span|script|style)(?:\s[^<>]*)?\/?>/gi, (m) => (/^<\/?(?:br|p|div)\b/i.test(m) ? "\n" : ""));
    return t.replace(/&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});/gi, (m) => decodeHTML(m));
  };
  const PIECES = ["<", ">", "&", ";", "amp", "#39", "<b>", "</b>", "<p class='x'>", "<br/>", "<!--", "-->", "<script>", "</script>", "<style>", "</style>", "<div>", "a", " ", "\n", "&lt;", "<a href='?a=1&b=2'>", "</a>", "&nbsp;", "x & y"];
  it("skips the expressions whose first character is absent, with the same result", () => {
    const rand = mulberry32(11);
    for (let k = 0; k < 5000; k++) {
      const t = randomFrom(PIECES, rand, Math.floor(rand() * 20));
      expect(stripMarkup(t).text, JSON.stringify(t)).toBe(plain(t));
    }
  });
});

describe("boilerplate lines", () => {
  const cfg = parseCleanConfig({ removeRepeatedLines: false, removeRepeatedParagraphs: false, collapseWhitespace: false });
  it("drops the same lines whether or not the document-wide screen is used", () => {
    const lines = ["Please enable JavaScript to view this page.", "We use cookies.", "This site uses cookies for analytics.", "Read our Privacy Policy now", "A normal line of prose.", "Terms of Use", "ΣΑΣ javaſcript", "coo\u212Aie policy"];
    const rand = mulberry32(5);
    for (let k = 0; k < 300; k++) {
      const doc = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => lines[Math.floor(rand() * lines.length)]).join(rand() < 0.5 ? "\n" : "\n\n");
      const perLine = doc
        .split("\n")
        .filter((l) => {
          const low = l.toLowerCase();
          return !(l.length > 0 && cfg.boilerplateSubstrings.some((s) => low.includes(s)) && l.split(" ").length < cfg.boilerplateMaxWords);
        })
        .join("\n");
      const got = cleanText(doc, cfg, undefined);
      // paragraphs emptied entirely disappear with their separator; compare the kept lines
      expect(got.split("\n").filter(Boolean), JSON.stringify(doc)).toEqual(perLine.normalize("NFC").split("\n").filter(Boolean));
    }
  });
});

describe("lower-case needle search", () => {
  it("finds exactly what lower-casing the text and searching finds", () => {
    const PIECES = ["java", "JAVA", "script", "ScRiPt", "coo", "kie", "\u212aie", "\u0130", "i", "\u017f", "s", " ", "policy", "POLICY", "σ", "Σ", "x"];
    const needleSets = [["javascript"], ["cookie policy", "use cookies"], ["σs"], ["i̇"], [], ["JavaScript"], ["Policy", "java"]];
    const rand = mulberry32(13);
    for (const needles of needleSets) {
      const n = new LowerCaseNeedles(needles);
      for (let k = 0; k < 2000; k++) {
        const t = randomFrom(PIECES, rand, Math.floor(rand() * 8));
        const low = t.toLowerCase();
        expect(n.test(t), `${JSON.stringify(t)} ${needles}`).toBe(needles.some((s) => low.includes(s)));
      }
    }
  });

  it("stays exact when matchers with overlapping needles ask about the same text in turn (absent needles remembered)", () => {
    const PIECES = ["JavaScript", "java", "script", "Lorem Ipsum", "lorem", " ipsum", "cookie", " policy", "use", " cookies", "coo\u212aie policy", "x", " ", "\n"];
    const sets = [["javascript", "cookie policy", "use cookies"], ["javascript", "cookie policy", "use cookies", "lorem ipsum"], ["lorem ipsum"], ["cookie policy", "xx"], ["javascript"]];
    const matchers = sets.map((s) => new LowerCaseNeedles(s));
    const rand = mulberry32(29);
    const pool = Array.from({ length: 40 }, () => randomFrom(PIECES, rand, Math.floor(rand() * 6)));
    for (let k = 0; k < 20000; k++) {
      // the same text again (sometimes an equal string built anew), or another one
      const base = pool[Math.floor(rand() * pool.length)];
      const t = rand() < 0.3 ? [...base].join("") : base;
      const i = Math.floor(rand() * sets.length);
      const low = t.toLowerCase();
      expect(matchers[i].test(t), `${JSON.stringify(t)} ${sets[i]}`).toBe(sets[i].some((s) => low.includes(s)));
    }
  });
});

describe("word lists over word ids", () => {
  it("toxicity matching over a view equals matching the word strings", () => {
    const list = new ToxicWordList(["darn", "heck", "what the heck", "oh darn it", "\u212aill", "straße"]);
    const PIECES = [" ", "\n", "darn", "DARN", "Darn,", "heck", "Heck!", "what", "What", "the", "oh", "it", "kill", "\u212aill", "STRASSE", "straße", "Straße.", "x", "—"];
    const rand = mulberry32(19);
    for (let k = 0; k < 2000; k++) {
      const t = randomFrom(PIECES, rand, Math.floor(rand() * 30));
      expect(list.matchView(new TextView(t)), JSON.stringify(t)).toEqual(list.match(splitWords(t)));
    }
  });
});

describe("language ID by counted trigrams", () => {
  // words of several Latin-script languages, so that the keep-language probability spreads over (0, 1)
  const PIECES = [" ", " ", ". ", ", ", "\n", "the", "and", "of", "house", "which", "through", "le", "la", "et", "maison", "avec", "pour", "el", "los", "casa", "con", "para", "der", "die", "und", "Haus", "mit", "het", "een", "huis", "met", "il", "della", "casa", "per", "não", "uma", "é", "ß", "ça", "12", "—"];
  const base = languageOptionsSchema.parse({});

  it("counted totals stay within the bound of the text-order ones, and the rule decides exactly as the definition", () => {
    const rand = mulberry32(23);
    let certified = 0;
    let atThreshold = 0;
    for (let k = 0; k < 1500; k++) {
      const text = randomFrom(PIECES, rand, Math.floor(rand() * 400));
      const ref = languageTotals(text, base, false);
      const fast = languageTotals(text, base, true);
      expect(fast.totals.length, text).toBe(ref.totals.length);
      for (let l = 0; l < ref.totals.length; l++) expect(Math.abs(fast.totals[l] - ref.totals[l]), text).toBeLessThanOrEqual(1e-7);
      // a threshold exactly at the document's probability (or one ulp-ish beside it) must fall back to the definition
      const o = k % 3 === 0 && ref.totals.length > 0 ? { ...base, minScore: ref.keepProb + [0, 1e-15, -1e-15][k % 9 === 0 ? 0 : (k % 2) + 1] } : { ...base, minScore: rand() };
      if (o.minScore === ref.keepProb) {
        atThreshold++;
        expect(languageTotals(text, o, true).certain, text).toBe(false);
      }
      if (languageTotals(text, o, true).certain) certified++;
      const rule = new LanguageRule(o, { enabled: true, skipKinds: [] });
      expect(rule.check(new TextView(text)), JSON.stringify({ text, minScore: o.minScore })).toEqual(languageOutcomeReference(text, o));
    }
    // most documents take the counted path; the boundary cases above take the fallback
    expect(certified).toBeGreaterThan(500);
    expect(atThreshold).toBeGreaterThan(50);
  });

  it("the branch-free fold equals the plain fold (letters, Latin letters, lower-case codes, one space per run)", () => {
    const rand = mulberry32(29);
    const pieces = [...PIECES, "A", "Z", "a", "z", "@", "[", "`", "{", "\t", "  ", "İ", "K", "Ω", "ж", "中", "😀", "·", "'"];
    for (let k = 0; k < 1500; k++) {
      const text = randomFrom(pieces, rand, Math.floor(rand() * 300));
      const sampleChars = 1 + Math.floor(rand() * 600);
      expect(foldSample(text, sampleChars, true), JSON.stringify(text)).toEqual(foldSample(text, sampleChars, false));
    }
    expect(foldSample("", 10, true)).toEqual(foldSample("", 10, false));
    expect(foldSample(" Ab, c! ", 100, true).codes).toEqual([32, 97, 98, 32, 99, 32]);
  });

  it("the direct trigram table gives the hash table's entry for every trigram of [a-z ]", () => {
    const alphabet = [32];
    for (let c = 97; c <= 122; c++) alphabet.push(c);
    let found = 0;
    for (const a of alphabet)
      for (const b of alphabet)
        for (const c of alphabet) {
          const r = trigramEntries(a, b, c);
          expect(r.direct, String.fromCharCode(a, b, c)).toBe(r.byHash);
          if (r.byHash !== 0) found++;
        }
    // the profiles hold thousands of such trigrams; outside the alphabet the direct table does not apply
    expect(found).toBeGreaterThan(2000);
    expect(trigramEntries(32, 0xe9, 32).direct).toBe(-1);
  });

  it("decides as the definition on the embedded corpus sample", () => {
    const texts = [...brownDocuments().slice(0, 60), ...nlpCorpusDocuments().slice(0, 300)].map((d) => d.text);
    for (const text of texts) {
      const rule = new LanguageRule(base, { enabled: true, skipKinds: [] });
      expect(rule.check(new TextView(text))).toEqual(languageOutcomeReference(text, base));
    }
  });
});
