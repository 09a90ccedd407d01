// The data pipeline's native text kernels (native/text.cc, built at `npm install` as llmforge_text): the word
// scan and numbering, the Gopher n-gram figures, the language trigram scores, the clean step's screen and the
// case-insensitive needle search in C++. Each is the twin of a TypeScript function that stays its definition and
// runs when the addon is missing or LLMFORGE_DATA_NATIVE=0: textView.ts scanWordsTs, gopherRepetition.ts
// NGramClassCounter, language.ts scoreLanguages, clean.ts cleanScreenPlain, textView.ts LowerCaseNeedles. Their outputs
// are identical (test/data/nativeText.test.ts), so no decision depends on which one ran.
import { loadAddon } from "../io/addon.js";

/** The functions of native/text.cc (see the comment above each there for the exact contract). */
export interface TextAddon {
  /** [count, vocabSize, start, end, id, vocabStart, vocabEnd, vocabLowerHash (each `count` long), ids of non-ASCII words...], or undefined for text with astral code points. */
  scanWords(text: string, punct: Uint8Array): Int32Array | undefined;
  /** Fills `out` with the n-gram figures in order; returns the index of the first over its limit, or -1. */
  ngramFigures(ids: Int32Array, lens: Int32Array, sizes: Int32Array, top: Uint8Array, limits: Float64Array, len: number, out: Float64Array): number;
  /** An opaque handle on a copy of the language model's tables. */
  languageModel(keyHi: Int32Array, keyLo: Int32Array, slot: Int32Array, from: Int32Array, idx: Int32Array, w: Float64Array, direct: Int32Array, langs: number): unknown;
  /** Counted trigram totals of the sample; out = [letters, Latin letters, seen]. False (nothing done) when the sample is not ASCII and `fold` is null. */
  languageScores(model: unknown, text: string, sampleChars: number, minLetters: number, totals: Float64Array, fold: Int32Array | null, out: Int32Array): boolean;
  /** What the clean step's parts would find in the text: bits of clean.ts CLEAN_SCREEN. */
  cleanScreen(text: string, minLineChars: number): number;
  /** out = [paragraphs, repeated paragraphs, their characters, non-blank lines, repeated lines, their characters]. */
  repeatStats(text: string, out: Int32Array): void;
  /** An opaque handle on a copy of up to 64 ASCII needles. */
  needleSet(needles: readonly string[]): unknown;
  /** 1 when text.toLowerCase() contains a needle, 0 when not, -1 when the text holds U+0130 or U+212A and none was found (undecided). */
  needleSearch(set: unknown, text: string): number;
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
