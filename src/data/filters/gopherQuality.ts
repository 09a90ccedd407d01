// Gopher quality rule, as datatrove a649de79 defines it (GopherQualityFilter,
// src/datatrove/pipeline/filters/gopher_quality_filter.py), which implements Rae et al. 2021 ("Scaling Language
// Models: Methods, Analysis & Insights from Training Gopher", appendix A). Words are datatrove's English words
// (spaCy tokens, TextView.englishWords); checked decision for decision against our Python port of the definition
// (scripts/make_gopher_fixture.py, test/data/gopherRules.test.ts). A threshold of null or 0 is off, as datatrove's
// `if threshold and ...` reads it; a ratio over no tokens or no lines (where datatrove divides by zero) passes.
// The pass over the tokens' characters (tokenStatsTs, the definition) has a C++ twin taken when the native text
// addon is loaded (native/text.cc gopherTokenStats; not with LLMFORGE_DATA_NATIVE=0), held to the same integers by
// test/data/gopherNative.test.ts.
//
// Reasons, ours <- datatrove's: min_words <- gopher_short_doc, max_words <- gopher_long_doc, mean_word_length <-
// gopher_below_avg_threshold and gopher_above_avg_threshold, symbol_word_ratio <- gopher_too_many_hashes,
// ellipsis_word_ratio <- gopher_too_many_ellipsis, bullet_lines <- gopher_too_many_bullets, ellipsis_lines <-
// gopher_too_many_end_ellipsis, alpha_words <- gopher_below_alpha_threshold, stop_words <- gopher_enough_stop_words.
import { z } from "zod";
import { type TextAddon, textAddon } from "../nativeText.js";
import type { TextView } from "../textView.js";
import { isPySpace } from "../words/pyString.js";
import type { TokenSpans } from "../words/spacyEnglish.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";

/** A threshold that null (or 0, as datatrove's `if threshold and ...` reads it) switches off. */
const limit = (d: number) => z.number().nonnegative().nullable().default(d);

export const gopherQualityOptionsSchema = z.object({
  /** Fewest words, counting only tokens with a character outside datatrove's punctuation table. */
  minWords: limit(50),
  maxWords: limit(100_000),
  /** Bounds on the mean length (code points) of those words. */
  minMeanWordLength: limit(3),
  maxMeanWordLength: limit(10),
  /** Most "#" per token, and (separately) most "..." and "…" per token; tokens here are all tokens. */
  maxSymbolWordRatio: limit(0.1),
  /** Most lines (str.splitlines(), blank lines included) whose text starts with "•" or "-". */
  maxBulletLinesRatio: limit(0.9),
  /** Most lines ending in "..." or "…" (trailing white space ignored). */
  maxEllipsisLinesRatio: limit(0.3),
  /** Fewest tokens with a letter (Python's str.isalpha) among all tokens. */
  minAlphaWordsRatio: limit(0.8),
  /** Fewest distinct stop words among the tokens (compared exactly, case included). */
  minStopWords: limit(2),
  stopWords: z.array(z.string()).default(["the", "be", "to", "of", "and", "that", "have", "with"]),
});
export type GopherQualityOptions = z.infer<typeof gopherQualityOptionsSchema>;

/** True when a threshold is on (datatrove skips a check whose threshold is None or 0). */
export function thresholdOn(t: number | null | undefined): t is number {
  return t !== null && t !== undefined && t !== 0;
}

/**
 * datatrove's PUNCTUATION_SET (utils/text.py) as code point ranges: ASCII punctuation, the C0 controls but tab and
 * line feed, DEL and the C1 controls, some typographic and CJK marks (and U+FF11, fullwidth digit one, which its
 * list holds) and its terminal punctuation of many scripts. scripts/make_gopher_fixture.py holds the same table
 * and can compare it with datatrove's.
 */
// biome-ignore format: a table, kept compact
const PUNCT_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x0, 0x8], [0xb, 0x1f], [0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x9f], [0xab, 0xab], [0xb4, 0xb4],
  [0xbb, 0xbb], [0x589, 0x589], [0x61d, 0x61f], [0x6d4, 0x6d4], [0x700, 0x702], [0x7f9, 0x7f9], [0x837, 0x837],
  [0x839, 0x839], [0x83d, 0x83e], [0x964, 0x965], [0x104a, 0x104b], [0x1362, 0x1362], [0x1367, 0x1368],
  [0x166e, 0x166e], [0x1735, 0x1736], [0x17d4, 0x17d6], [0x17d9, 0x17da], [0x1803, 0x1803], [0x1809, 0x1809],
  [0x1944, 0x1945], [0x1aa8, 0x1aab], [0x1b5a, 0x1b5b], [0x1b5e, 0x1b5f], [0x1b7d, 0x1b7e], [0x1c3b, 0x1c3c],
  [0x1c7e, 0x1c7f], [0x2013, 0x2014], [0x2019, 0x2019], [0x201c, 0x201e], [0x2026, 0x2026], [0x203c, 0x203d],
  [0x2047, 0x2049], [0x2236, 0x2236], [0x2501, 0x2501], [0x25ba, 0x25ba], [0x2e2e, 0x2e2e], [0x2e3c, 0x2e3c],
  [0x2e53, 0x2e54], [0x3001, 0x3002], [0x3008, 0x300d], [0x3010, 0x3011], [0xa4ff, 0xa4ff], [0xa60e, 0xa60f],
  [0xa6f3, 0xa6f3], [0xa6f7, 0xa6f7], [0xa876, 0xa877], [0xa8ce, 0xa8cf], [0xa92f, 0xa92f], [0xa9c8, 0xa9c9],
  [0xaa5d, 0xaa5f], [0xaaf0, 0xaaf1], [0xabeb, 0xabeb], [0xfe52, 0xfe52], [0xfe56, 0xfe57], [0xff01, 0xff01],
  [0xff05, 0xff05], [0xff08, 0xff09], [0xff0c, 0xff0c], [0xff0e, 0xff0e], [0xff11, 0xff11], [0xff1a, 0xff1b],
  [0xff1f, 0xff1f], [0xff5e, 0xff5e], [0xff61, 0xff61], [0x10a56, 0x10a57], [0x10f55, 0x10f59],
  [0x10f86, 0x10f89], [0x11047, 0x11048], [0x110be, 0x110c1], [0x11141, 0x11143], [0x111c5, 0x111c6],
  [0x111cd, 0x111cd], [0x111de, 0x111df], [0x11238, 0x11239], [0x1123b, 0x1123c], [0x112a9, 0x112a9],
  [0x1144b, 0x1144c], [0x115c2, 0x115c3], [0x115c9, 0x115d7], [0x11641, 0x11642], [0x1173c, 0x1173e],
  [0x11944, 0x11944], [0x11946, 0x11946], [0x11a42, 0x11a43], [0x11a9b, 0x11a9c], [0x11c41, 0x11c42],
  [0x11ef7, 0x11ef8], [0x11f43, 0x11f44], [0x16a6e, 0x16a6f], [0x16af5, 0x16af5], [0x16b37, 0x16b38],
  [0x16b44, 0x16b44], [0x16e98, 0x16e98], [0x1bc9f, 0x1bc9f], [0x1da88, 0x1da88],
];

/** True when datatrove's punctuation table holds the code point. */
export function isDatatrovePunct(cp: number): boolean {
  for (const [a, b] of PUNCT_RANGES) if (cp >= a && cp <= b) return true;
  return false;
}

const PUNCT = 1;
const ALPHA = 2;
/** a high surrogate: the unit may start an astral code point, whose bits {@link astralBits} gives */
const HIGH = 4;
const LETTER_RE = /^\p{L}$/u;
/** Bits of each BMP code unit: PUNCT (datatrove's table), ALPHA (Python's str.isalpha: categories L*), HIGH; on first use. */
let charBits: Uint8Array | undefined;

function charBitsOf(): Uint8Array {
  if (charBits) return charBits;
  const t = new Uint8Array(65536);
  for (const [a, b] of PUNCT_RANGES) for (let c = a; c <= Math.min(b, 0xffff); c++) t[c] |= PUNCT;
  for (let c = 65; c <= 122; c++) if (c <= 90 || c >= 97) t[c] |= ALPHA;
  for (let c = 128; c < 65536; c++) if ((c < 0xd800 || c > 0xdfff) && LETTER_RE.test(String.fromCharCode(c))) t[c] |= ALPHA;
  for (let c = 0xd800; c <= 0xdbff; c++) t[c] |= HIGH;
  charBits = t;
  return t;
}

/** The bits of an astral code point. */
function astralBits(cp: number): number {
  return (isDatatrovePunct(cp) ? PUNCT : 0) | (LETTER_RE.test(String.fromCodePoint(cp)) ? ALPHA : 0);
}

/** What the line checks count: lines (Python's str.splitlines()), bullet lines, lines ending in an ellipsis. */
export interface GopherLines {
  lines: number;
  bullets: number;
  ellipsisEnds: number;
}

/** True for the code units that end a line in Python's str.splitlines() (\r\n is one break). */
function isPyLineBreak(c: number): boolean {
  return c === 10 || c === 13 || c === 11 || c === 12 || c === 0x1c || c === 0x1d || c === 0x1e || c === 0x85 || c === 0x2028 || c === 0x2029;
}

/** The line breaks of str.splitlines() other than "\n". */
const RARE_BREAKS = ["\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"];

/**
 * The line figures in one pass, without a string per line: for each line of `text.splitlines()`, whether
 * `line.lstrip()` starts with "•" or "-" and whether `line.rstrip()` ends with "..." or "…".
 */
export function gopherLines(text: string): GopherLines {
  const n = text.length;
  // most texts break lines with "\n" alone: then indexOf (a fast scan) finds every break
  const lfOnly = RARE_BREAKS.every((b) => !text.includes(b));
  let lines = 0;
  let bullets = 0;
  let ellipsisEnds = 0;
  let ls = 0;
  while (ls < n) {
    let le: number;
    if (lfOnly) {
      le = text.indexOf("\n", ls);
      if (le < 0) le = n;
    } else {
      le = ls;
      while (le < n && !isPyLineBreak(text.charCodeAt(le))) le++;
    }
    lines++;
    let p = ls;
    while (p < le && isPySpace(text.charCodeAt(p))) p++;
    if (p < le) {
      const c = text.charCodeAt(p);
      if (c === 0x2022 || c === 45) bullets++;
      let q = le - 1;
      while (isPySpace(text.charCodeAt(q))) q--;
      const e = text.charCodeAt(q);
      if (e === 0x2026 || (e === 46 && q - 2 >= ls && text.charCodeAt(q - 1) === 46 && text.charCodeAt(q - 2) === 46)) ellipsisEnds++;
    }
    // past the break (\r\n is one)
    ls = le + (le + 1 < n && text.charCodeAt(le) === 13 && text.charCodeAt(le + 1) === 10 ? 2 : 1);
  }
  return { lines, bullets, ellipsisEnds };
}

/** True when `text` holds `word` at `at` (the caller knows the lengths fit). */
function sameAt(text: string, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if (text.charCodeAt(at + k) !== word.charCodeAt(k)) return false;
  return true;
}

/** Non-overlapping occurrences of `needle` in `text` (Python's str.count). */
function countOf(text: string, needle: string): number {
  let k = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) k++;
  return k;
}

/** What the word checks count over a text's tokens ({@link GopherQualityRule.tokenStatsTs}). */
export interface GopherTokenStats {
  /** tokens with a character outside datatrove's punctuation table, and their code points */
  words: number;
  wordChars: number;
  /** tokens with a letter */
  alphaTokens: number;
  /** distinct stop words among the tokens (0 when the stop word check is off) */
  stopWords: number;
}

/** The text addon when it has the token kernel (a stale build without it falls back to the TypeScript). */
const gopherTokenAddon: TextAddon | null = typeof textAddon?.gopherTokenStats === "function" ? textAddon : null;
const EMPTY_STOPS = { units: new Uint16Array(0), ends: new Int32Array(0) };

/** Gopher quality heuristics; reasons: see the file header. */
export class GopherQualityRule implements QualityRule {
  readonly name = "gopher_quality";
  /** the distinct stop words (exact strings, as datatrove's set intersection compares them) */
  private readonly stopWords: string[];
  /** stopByLength[len]: indices into stopWords of those `len` units long (an array per length: no map per token) */
  private readonly stopByLength: number[][];
  /** stopSeen[k]: 1 once stop word k is seen in the current text */
  private readonly stopSeen: Uint8Array;
  /** the stop words as the native kernel takes them */
  private readonly stopUnits: { units: Uint16Array; ends: Int32Array };
  private readonly statsOut = new Float64Array(4);
  /** @param addon the native kernels, or null for the TypeScript token pass (the definition) */
  constructor(
    readonly opts: GopherQualityOptions,
    readonly scope: RuleScope,
    private readonly addon: TextAddon | null = gopherTokenAddon,
  ) {
    this.stopWords = [...new Set(opts.stopWords)];
    const longest = Math.max(0, ...this.stopWords.map((w) => w.length));
    this.stopByLength = Array.from({ length: longest + 1 }, () => []);
    for (let k = 0; k < this.stopWords.length; k++) this.stopByLength[this.stopWords[k].length].push(k);
    this.stopSeen = new Uint8Array(this.stopWords.length);
    const joined = this.stopWords.join("");
    this.stopUnits = {
      units: Uint16Array.from({ length: joined.length }, (_, k) => joined.charCodeAt(k)),
      ends: Int32Array.from(this.stopWords, (_, k) => this.stopWords.slice(0, k + 1).join("").length),
    };
  }

  check(v: TextView): RuleOutcome | null {
    return this.checkWords(v.text, v.englishWords);
  }

  /**
   * What the word checks count over the tokens, in one pass over their characters: words (a character outside the
   * punctuation table) and their code points, tokens with a letter, distinct stop words. The definition; the
   * native twin ({@link tokenStatsNative}) gives the same integers (test/data/gopherNative.test.ts).
   */
  tokenStatsTs(text: string, words: TokenSpans): GopherTokenStats {
    const bits = charBitsOf();
    const { count: nWords, start, end } = words;
    const countStops = thresholdOn(this.opts.minStopWords) && this.stopWords.length > 0;
    const { stopWords, stopByLength, stopSeen } = this;
    const longestStop = stopByLength.length - 1;
    stopSeen.fill(0);
    let stops = 0;
    let nCounted = 0;
    let countedChars = 0;
    let alphaTokens = 0;
    for (let i = 0; i < nWords; i++) {
      const s = start[i];
      const e = end[i];
      let cps = 0;
      let any = 0;
      let all = PUNCT;
      for (let j = s; j < e; j++) {
        const c = text.charCodeAt(j);
        let f = bits[c];
        if (f & HIGH) {
          const d = j + 1 < e ? text.charCodeAt(j + 1) : 0;
          if (d >= 0xdc00 && d <= 0xdfff) {
            f = astralBits(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000);
            j++;
          }
        }
        cps++;
        any |= f;
        all &= f;
      }
      if (all === 0) {
        nCounted++;
        countedChars += cps;
      }
      if (any & ALPHA) alphaTokens++;
      if (countStops && e - s <= longestStop) {
        for (const k of stopByLength[e - s]) {
          if (stopSeen[k] === 0 && sameAt(text, s, stopWords[k])) {
            stopSeen[k] = 1;
            stops++;
          }
        }
      }
    }
    return { words: nCounted, wordChars: countedChars, alphaTokens, stopWords: stops };
  }

  /** {@link tokenStatsTs} by the native kernel, or null where it declines (an astral code point in a token). */
  tokenStatsNative(addon: TextAddon, text: string, words: TokenSpans): GopherTokenStats | null {
    const out = this.statsOut;
    const stops = thresholdOn(this.opts.minStopWords) ? this.stopUnits : EMPTY_STOPS;
    if (!addon.gopherTokenStats(text, words.start, words.end, words.count, charBitsOf(), stops.units, stops.ends, out)) return null;
    return { words: out[0], wordChars: out[1], alphaTokens: out[2], stopWords: out[3] };
  }

  /** The decision on `text` whose datatrove English words are `words` (spans into `text`). */
  checkWords(text: string, words: TokenSpans): RuleOutcome | null {
    const o = this.opts;
    const nWords = words.count;
    const stats = (this.addon && this.tokenStatsNative(this.addon, text, words)) || this.tokenStatsTs(text, words);
    const { words: nCounted, wordChars: countedChars, alphaTokens, stopWords: stops } = stats;
    if (thresholdOn(o.minWords) && nCounted < o.minWords)
      return {
        remove: "min_words",
        detail: `${nCounted} words < ${o.minWords}`,
      };
    if (thresholdOn(o.maxWords) && nCounted > o.maxWords)
      return {
        remove: "max_words",
        detail: `${nCounted} words > ${o.maxWords}`,
      };
    // no words: the mean is NaN and passes both bounds, as numpy's mean of nothing does
    const mean = countedChars / nCounted;
    if (thresholdOn(o.minMeanWordLength) && mean < o.minMeanWordLength)
      return {
        remove: "mean_word_length",
        detail: `mean word length ${mean.toFixed(2)} < ${o.minMeanWordLength}`,
      };
    if (thresholdOn(o.maxMeanWordLength) && mean > o.maxMeanWordLength)
      return {
        remove: "mean_word_length",
        detail: `mean word length ${mean.toFixed(2)} > ${o.maxMeanWordLength}`,
      };
    // ratios over no tokens or no lines (where datatrove divides by zero) pass
    if (thresholdOn(o.maxSymbolWordRatio) && nWords > 0) {
      const hashes = countOf(text, "#") / nWords;
      if (hashes > o.maxSymbolWordRatio)
        return {
          remove: "symbol_word_ratio",
          detail: `"#" per token ${hashes.toFixed(3)} > ${o.maxSymbolWordRatio}`,
        };
      const ellipses = (countOf(text, "...") + countOf(text, "\u2026")) / nWords;
      if (ellipses > o.maxSymbolWordRatio)
        return {
          remove: "ellipsis_word_ratio",
          detail: `ellipses per token ${ellipses.toFixed(3)} > ${o.maxSymbolWordRatio}`,
        };
    }
    if (thresholdOn(o.maxBulletLinesRatio) || thresholdOn(o.maxEllipsisLinesRatio)) {
      const l = gopherLines(text);
      if (l.lines > 0) {
        if (thresholdOn(o.maxBulletLinesRatio) && l.bullets / l.lines > o.maxBulletLinesRatio)
          return {
            remove: "bullet_lines",
            detail: `bullet lines ${l.bullets}/${l.lines} > ${o.maxBulletLinesRatio}`,
          };
        if (thresholdOn(o.maxEllipsisLinesRatio) && l.ellipsisEnds / l.lines > o.maxEllipsisLinesRatio)
          return {
            remove: "ellipsis_lines",
            detail: `lines ending in an ellipsis ${l.ellipsisEnds}/${l.lines} > ${o.maxEllipsisLinesRatio}`,
          };
      }
    }
    if (thresholdOn(o.minAlphaWordsRatio) && nWords > 0 && alphaTokens / nWords < o.minAlphaWordsRatio)
      return {
        remove: "alpha_words",
        detail: `tokens with a letter ${alphaTokens}/${nWords} < ${o.minAlphaWordsRatio}`,
      };
    if (thresholdOn(o.minStopWords) && stops < o.minStopWords)
      return {
        remove: "stop_words",
        detail: `${stops} distinct stop words < ${o.minStopWords}`,
      };
    return null;
  }
}
