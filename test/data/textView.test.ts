// The fast word scan (TextView.wordTable) against its plain definition (splitWords), on random text built
// from spaces, ASCII, Unicode punctuation/symbols, letters, emoji and lone surrogates; and word ids and hashes.
import { describe, expect, it } from "vitest";
import { LowerWordSet, TextView, type WordTable, lowerHash, numberWords, scanWords, splitWords } from "../../src/data/textView.js";
import { C4Rule, c4OptionsSchema } from "../../src/data/filters/c4.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";

const PIECES = [" ", "  ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "\ufeff", "a", "Bc", "word", "WORD", "x1", "42", "-", "--", ".", ",", "!", "'", '"', "(", ")", "$", "#", "@", "«", "»", "—", "…", "“", "”", "é", "İ", "ß", "Σ", "漢字", "😀", "👍🏽", "\ud800", "\udc00", "€", "±", "_", "~"];

/** A word table as plain arrays (vocab arrays cut to the vocabulary), for deep comparison. */
function plain(t: WordTable) {
  const cut = (a: Int32Array) => Array.from(a.subarray(0, t.vocabSize));
  return { count: t.count, start: Array.from(t.start), end: Array.from(t.end), id: Array.from(t.id), vocabStart: cut(t.vocabStart), vocabEnd: cut(t.vocabEnd), vocabLowerHash: cut(t.vocabLowerHash) };
}

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

  it("the scan's word ids and lower-case hashes equal numbering its words plainly", () => {
    const rand = mulberry32(31);
    for (let k = 0; k < 3000; k++) {
      const t = randomText(rand, 1 + Math.floor(rand() * 60));
      const fast = scanWords(t);
      expect(plain(fast), JSON.stringify(t)).toEqual(plain(numberWords(t, fast.start, fast.end)));
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

  it("carries words over to the text C4 leaves (same table as scanning that text)", () => {
    const rand = mulberry32(11);
    const c4 = new C4Rule(c4OptionsSchema.parse({ minSentences: 0 }), { enabled: true, skipKinds: [] });
    let carried = 0;
    for (let k = 0; k < 500; k++) {
      const lines = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => `${randomText(rand, Math.floor(rand() * 12))}${rand() < 0.6 ? " ends here." : ""}`);
      const v = new TextView(lines.join(rand() < 0.5 ? "\n" : "\n \n"));
      v.wordTable; // built before C4 runs, as the Gopher rules do in the default order
      const out = c4.check(v);
      if (!out?.view) continue;
      carried++;
      expect(out.view.text).toBe(out.text);
      expect(plain(out.view.wordTable)).toEqual(plain(scanWords(out.text ?? "")));
      const fresh = new TextView(out.view.text);
      expect(out.view.lines).toEqual(fresh.lines);
      expect(out.view.nonEmptyLines).toEqual(fresh.nonEmptyLines);
    }
    expect(carried).toBeGreaterThan(100);
  });
});
