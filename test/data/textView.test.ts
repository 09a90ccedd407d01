// The fast word scan (TextView.wordTable) against its plain definition (splitWords), on random text built
// from spaces, ASCII, Unicode punctuation/symbols, letters, emoji and lone surrogates; and word ids and hashes.
import { describe, expect, it } from "vitest";
import { LowerWordSet, TextView, lowerHash, scanWords, splitWords } from "../../src/data/textView.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";

const PIECES = [" ", "  ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "\ufeff", "a", "Bc", "word", "WORD", "x1", "42", "-", "--", ".", ",", "!", "'", '"', "(", ")", "$", "#", "@", "«", "»", "—", "…", "“", "”", "é", "İ", "ß", "Σ", "漢字", "😀", "👍🏽", "\ud800", "\udc00", "€", "±", "_", "~"];

function randomText(rand: () => number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += PIECES[Math.floor(rand() * PIECES.length)];
  return s;
}

describe("TextView words", () => {
  it("scans the same words as splitWords on random text", () => {
    const rand = mulberry32(7);
    for (let k = 0; k < 3000; k++) {
      const t = randomText(rand, 1 + Math.floor(rand() * 40));
      const v = new TextView(t);
      expect(v.words, JSON.stringify(t)).toEqual(splitWords(t));
    }
  });

  it("numbers distinct words in order of first occurrence, with lower-case hashes", () => {
    const t = scanWords("The cat, the CAT and the İstanbul cat.");
    const v = new TextView("The cat, the CAT and the İstanbul cat.");
    expect(Array.from(t.id)).toEqual([0, 1, 2, 3, 4, 2, 5, 1]);
    expect(Array.from({ length: t.vocabSize }, (_, k) => v.vocabWord(k))).toEqual(["The", "cat", "the", "CAT", "and", "İstanbul"]);
    expect(t.vocabLowerHash[0]).toBe(t.vocabLowerHash[2]);
    expect(t.vocabLowerHash[1]).toBe(t.vocabLowerHash[3]);
    expect(t.vocabLowerHash[5]).toBe(lowerHash("İstanbul".toLowerCase()));
    const set = new LowerWordSet(["the", "i̇stanbul"]);
    expect([0, 1, 2, 3, 4, 5].map((k) => set.hasWord(v, k))).toEqual([true, false, true, false, false, true]);
  });

  it("keeps words apart however many there are (hash table growth)", () => {
    const words = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);
    const v = new TextView(`${words.join(" ")} ${words.join(" ")}`);
    expect(v.wordTable.vocabSize).toBe(5000);
    expect(v.words).toEqual([...words, ...words]);
  });
});
