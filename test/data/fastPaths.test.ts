// Fast scans checked against the plain definitions they replace, on random text made of the characters
// that matter to each (whitespace of every kind, newlines, punctuation, non-ASCII letters).
import { describe, expect, it } from "vitest";
import { cleanText, collapseWhitespace, collapseWhitespacePlain, parseCleanConfig } from "../../src/data/clean.js";
import { FusedNGramCounter, NGramHasher, duplicateNGramChars, topNGramChars } from "../../src/data/filters/gopherRepetition.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import { LowerCaseNeedles } from "../../src/data/textView.js";

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

describe("Gopher n-gram counting", () => {
  it("the fused counter gives the reference figures at every size, in the rule's order", () => {
    const rand = mulberry32(9);
    for (let k = 0; k < 400; k++) {
      const len = Math.floor(rand() * 120);
      const vocab = 1 + Math.floor(rand() * 12);
      const ids = Int32Array.from({ length: len }, () => Math.floor(rand() * vocab));
      const lens = Int32Array.from({ length: len }, (_, i) => 1 + ((ids[i] * 7) % 9));
      const ref = new NGramHasher(ids, lens);
      const fused = new FusedNGramCounter(ids, lens);
      for (const n of [2, 3, 4]) expect(fused.top(n), `top ${n} of ${ids}`).toBe(topNGramChars(ref, n));
      // the same size twice (a top and a duplicate check of one n) and sizes past the text's length
      expect(fused.duplicated(4)).toBe(duplicateNGramChars(ref, 4));
      for (const n of [5, 6, 7, 8, 9, 10, 200]) expect(fused.duplicated(n), `dup ${n} of ${ids}`).toBe(duplicateNGramChars(ref, n));
    }
  });
});

describe("lower-case needle search", () => {
  it("finds exactly what lower-casing the text and searching finds", () => {
    const PIECES = ["java", "JAVA", "script", "ScRiPt", "coo", "kie", "\u212aie", "\u0130", "i", "\u017f", "s", " ", "policy", "POLICY", "σ", "Σ", "x"];
    const needleSets = [["javascript"], ["cookie policy", "use cookies"], ["σs"], ["i̇"], []];
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
});
