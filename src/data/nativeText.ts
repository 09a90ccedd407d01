// The data pipeline's native text kernels (native/text.cc, built at `npm install` as llmforge_text): the word
// scan and numbering, the Gopher repetition figures and quality token pass, the language trigram scores, the clean
// step's screen, the case-insensitive needle search and MinHash signatures in C++. Each is the twin of a TypeScript
// function that stays its definition and runs when the addon is missing or LLMFORGE_DATA_NATIVE=0: textView.ts
// scanWordsTs, gopherRepetition.ts gopherRepetitionFigures, gopherQuality.ts GopherQualityRule.tokenStatsTs,
// language.ts scoreLanguages, clean.ts cleanScreenPlain, textView.ts LowerCaseNeedles, dedup/minhash.ts
// minhashSignatureTs. Their outputs are identical (test/data/nativeText.test.ts, test/data/gopherNative.test.ts,
// test/data/minhash.test.ts), so no decision depends on which one ran.
import { loadAddon } from "../io/addon.js";

/** The functions of native/text.cc (see the comment above each there for the exact contract). */
export interface TextAddon {
  /** [count, vocabSize, start, end, id, vocabStart, vocabEnd, vocabLowerHash (each `count` long), ids of non-ASCII words...], or undefined for text with astral code points. */
  scanWords(text: string, punct: Uint8Array): Int32Array | undefined;
  /** An opaque handle on a copy of the language model's tables. */
  languageModel(keyHi: Int32Array, keyLo: Int32Array, slot: Int32Array, from: Int32Array, idx: Int32Array, w: Float64Array, direct: Int32Array, langs: number): unknown;
  /** Counted trigram totals of the sample; out = [letters, Latin letters, seen]. False (nothing done) when the sample is not ASCII and `fold` is null. */
  languageScores(model: unknown, text: string, sampleChars: number, minLetters: number, totals: Float64Array, fold: Int32Array | null, out: Int32Array): boolean;
  /** What the clean step's parts would find in the text: bits of clean.ts CLEAN_SCREEN. */
  cleanScreen(text: string, minLineChars: number): number;
  /** out = [code points of the text, paragraphs, repeated paragraphs, their code points, lines, repeated lines, their code points] (Gopher's splits). */
  gopherLineRepeats(text: string, out: Float64Array): void;
  /**
   * out = top n-gram figures for `tops` (-1: fewer words than n; -2: a bound b with b / len <= topLimits[k], when
   * those are given), then duplicated n-gram figures for `dups`; words are text[start[i], end[i]).
   */
  gopherNGrams(text: string, start: Int32Array, end: Int32Array, count: number, tops: Int32Array, dups: Int32Array, out: Float64Array, len?: number, topLimits?: Float64Array): void;
  /** out = [words, their code points, tokens with a letter, distinct stop words] of the Gopher quality rule's token pass; false (nothing done) for a token with an astral code point or more than 64 stop words. */
  gopherTokenStats(text: string, start: Int32Array, end: Int32Array, count: number, bits: Uint8Array, stops: Uint16Array, stopEnds: Int32Array, out: Float64Array): boolean;
  /** An opaque handle on a copy of up to 64 ASCII needles. */
  needleSet(needles: readonly string[]): unknown;
  /** 1 when text.toLowerCase() contains a needle, 0 when not, -1 when the text holds U+0130 or U+212A and none was found (undecided). */
  needleSearch(set: unknown, text: string): number;
  /** The instruction set the MinHash loop runs with: avx512, avx2 or sse4.1 (the CPU's widest, or LLMFORGE_SIMD's). */
  readonly minhashIsa: string;
  /** MinHash signature into `out` and, given `key`, the exact key's halves (dedup/minhash.ts minhashSignatureTs); false (nothing done) when `lowered` is false and the text is not ASCII. */
  minhashSignature(text: string, lowered: boolean, ngram: number, xa: Uint32Array, ma: Uint32Array, out: Uint32Array, key?: Uint32Array): boolean;
}

function load(): { addon: TextAddon | null; error: string | null } {
  if (process.env.LLMFORGE_DATA_NATIVE === "0") return { addon: null, error: "LLMFORGE_DATA_NATIVE=0 asks for the TypeScript text kernels" };
  return loadAddon<TextAddon>("llmforge_text", (a) => {
    if (typeof a.scanWords !== "function") throw new Error("llmforge_text lacks scanWords (stale build: run `npm run build:native`)");
  });
}

const loaded = load();

/** The native text kernels, or null (then {@link textAddonError} says why). */
export const textAddon: TextAddon | null = loaded.addon;
/** Why the native text kernels are not in use (null when they are). */
export const textAddonError: string | null = loaded.error;
