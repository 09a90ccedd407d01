// The fast paths of the spaCy English port (src/data/words/spacyEnglish.ts: ASCII-letter chunks, and a word,
// or words joined by hyphens, with a mark before and/or one or two marks after) against its general path (tokenizeChunk for every chunk,
// then the special-case pass), which test/data/spacyEnglish.test.ts holds to the real spaCy. Differential:
// seeded random chunks and texts built from the characters and special cases that decide the fast paths,
// and real prose (Brown).
import { describe, expect, it } from "vitest";
import { brownDocuments } from "../../src/data/embedded.js";
import { englishSentences, englishWordSpans, tokenizeChunk, tokensForTest } from "../../src/data/words/spacyEnglish.js";
import { SPECIAL_CASES } from "../../src/data/words/spacyEnglishData.js";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";

/** The cases must be the same on every run: a seeded generator. */
const rng = mulberry32;

const LEAD = "(\"'[“‘";
const TRAIL = ",.;:!?)\"']”’";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** characters that matter to the affix rules beside the marks */
const OTHER = "0123456789.'’-,!?\"()$%&/:;[]“”‘…—–_*+=#@<>éßÄжΩ😀";
/** words near special cases (single letters, abbreviations, contractions without apostrophe) and plain ones */
const WORDS = ["the", "a", "I", "i", "s", "em", "o", "Mr", "Mrs", "U", "US", "e", "g", "cannot", "Cannot", "gonna", "dont", "Im", "ill", "Ill", "were", "his", "had", "vs", "and", "or", "pm", "am", "nt", "ll", "re", "ve", "d", "m", "t", "x", "XD", "xD", "ol", "nuff", "bout", "cause", "Jan", "Dec", "Calif"];
const SPACES = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", " \n ", "\u00a0", "\u2009"];
/** special-case keys made of marks and ASCII letters: the strings the fast paths must leave alone */
const SPECIAL_LIKE = Object.keys(SPECIAL_CASES).filter((k) => /^[A-Za-z("'[“‘,.;:!?)\]”’]+$/.test(k));

function pick<T>(r: () => number, xs: readonly T[] | string): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function randomWord(r: () => number): string {
  const x = r();
  if (x < 0.35) return pick(r, WORDS);
  const n = 1 + Math.floor(r() * (x < 0.7 ? 3 : 9));
  let w = "";
  const upper = r() < 0.3;
  for (let k = 0; k < n; k++) w += upper && (k === 0 || r() < 0.3) ? pick(r, UPPER) : pick(r, LOWER);
  // hyphenated words, now and then with a doubled hyphen
  if (r() < 0.15) w += (r() < 0.1 ? "--" : "-") + randomWord(r);
  return w;
}

/** A chunk: mostly [mark] word [marks] shapes (fast-path candidates), some special-case keys and noise. */
function randomChunk(r: () => number): string {
  const x = r();
  if (x < 0.1) return pick(r, SPECIAL_LIKE);
  if (x < 0.2) {
    // a special-case key with a mark added
    const k = pick<string>(r, SPECIAL_LIKE);
    return r() < 0.5 ? pick<string>(r, LEAD) + k : k + pick<string>(r, TRAIL);
  }
  if (x < 0.3) {
    let c = "";
    const n = 1 + Math.floor(r() * 6);
    for (let k = 0; k < n; k++) c += r() < 0.5 ? pick(r, OTHER) : r() < 0.5 ? pick(r, LOWER) : pick(r, UPPER + LEAD + TRAIL);
    return c;
  }
  let c = randomWord(r);
  if (r() < 0.4) c = pick<string>(r, LEAD) + c;
  if (r() < 0.6) c += pick<string>(r, TRAIL);
  if (r() < 0.25) c += pick<string>(r, TRAIL);
  if (r() < 0.05) c += pick<string>(r, TRAIL);
  if (r() < 0.05) c = pick<string>(r, OTHER) + c;
  return c;
}

function randomText(r: () => number, chunks: number): string {
  let t = r() < 0.2 ? pick(r, SPACES) : "";
  for (let k = 0; k < chunks; k++) t += randomChunk(r) + (k + 1 < chunks || r() < 0.3 ? pick(r, SPACES) : "");
  return t;
}

/** Whether some piece of the chunk is a special case (then the special-case pass may change its tokens). */
function specialInside(chunk: string): boolean {
  for (let x = 0; x < chunk.length; x++) for (let y = x + 1; y <= chunk.length; y++) if (chunk.slice(x, y) in SPECIAL_CASES) return true;
  return false;
}

/** Differences between the fast and the general path on text (empty when they agree). */
function differences(text: string): string[] {
  const bad: string[] = [];
  for (const keepSpace of [true, false]) {
    const fast = tokensForTest(text, keepSpace, false);
    const general = tokensForTest(text, keepSpace, true);
    if (JSON.stringify(fast) !== JSON.stringify(general)) {
      const k = fast.start.findIndex((s, i) => s !== general.start[i] || fast.end[i] !== general.end[i] || fast.flags[i] !== general.flags[i]);
      const at = fast.start[k] ?? general.start[k] ?? 0;
      bad.push(`${keepSpace ? "tokens" : "words"} of ${JSON.stringify(text.slice(Math.max(0, at - 20), at + 20))} (token ${k})`);
    }
  }
  const spans = englishWordSpans(text);
  const general = tokensForTest(text, false, true);
  if (spans.count !== general.start.length || general.start.some((s, i) => s !== spans.start[i] || general.end[i] !== spans.end[i])) bad.push(`englishWordSpans of ${JSON.stringify(text.slice(0, 40))}`);
  return bad;
}

describe("spaCy English fast paths", () => {
  it("tokenize single random chunks as the general path does, and fast-path shapes as tokenizeChunk does", () => {
    const r = rng(1);
    const shape = /^[("'[“‘]?[A-Za-z]+(-[A-Za-z]+)*[,.;:!?)"'\]”’]{0,2}$/;
    const bad: string[] = [];
    for (let k = 0; k < 40_000 && bad.length < 10; k++) {
      const chunk = randomChunk(r);
      const fast = tokensForTest(chunk, false, false);
      const lens = fast.start.map((s, i) => fast.end[i] - s);
      const general = tokensForTest(chunk, false, true);
      if (JSON.stringify(fast) !== JSON.stringify(general)) bad.push(`${JSON.stringify(chunk)}: ${lens} != general ${general.start.map((s, i) => general.end[i] - s)}`);
      // (a chunk of a fast-path shape that holds no special case never holds a match of the special-case
      // pass: tokenizeChunk alone decides it)
      if (shape.test(chunk) && !specialInside(chunk) && lens.join() !== tokenizeChunk(chunk).join()) bad.push(`${JSON.stringify(chunk)}: ${lens} != tokenizeChunk ${tokenizeChunk(chunk)}`);
    }
    expect(bad).toEqual([]);
  });

  it("agree with the general path on random texts (tokens, flags, words)", () => {
    const r = rng(2);
    const bad: string[] = [];
    for (let k = 0; k < 3_000 && bad.length < 10; k++) bad.push(...differences(randomText(r, 1 + Math.floor(r() * 40))));
    expect(bad).toEqual([]);
  });

  it("agree with the general path on Brown, and give the same sentences", () => {
    const docs = brownDocuments().slice(0, 200);
    const bad: string[] = [];
    for (const d of docs) {
      bad.push(...differences(d.text));
      // sentences read the flags: the sentencizer's cuts over the general path's tokens (flags 2: punctuation,
      // 4: sentence-final) must be englishSentences' (which takes the fast paths)
      const t = tokensForTest(d.text, true, true);
      const cuts: number[] = [];
      let seenPeriod = false;
      for (let i = 0; i < t.start.length; i++) {
        if (seenPeriod && (t.flags[i] & 6) === 0) {
          cuts.push(t.end[i - 1]);
          seenPeriod = false;
        } else if ((t.flags[i] & 4) !== 0) seenPeriod = true;
      }
      const lens = englishSentences(d.text).map((s) => s.length);
      let a = 0;
      const got = lens.slice(0, -1).map((n) => (a += n));
      if (got.join() !== cuts.join()) bad.push(`sentences of ${d.name}`);
      if (bad.length >= 10) break;
    }
    expect(bad).toEqual([]);
  });

  it("agree on a text longer than the reused scratch arrays (over 1M UTF-16 units)", () => {
    const docs = brownDocuments();
    let text = "";
    for (let k = 0; text.length <= 1 << 20; k++) text += `${docs[k].text}\n\n`;
    expect(differences(text)).toEqual([]);
  });
});
