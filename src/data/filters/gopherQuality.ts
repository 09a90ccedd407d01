// Gopher quality rule (Rae et al. 2021, as in datatrove's GopherQualityFilter): word count, mean word
// length, symbol-to-word ratio, bullet and ellipsis line fractions, alphabetic words, English stop words.
import { z } from "zod";
import { LowerWordSet, type TextView } from "../textView.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";

export const gopherQualityOptionsSchema = z.object({
  minWords: z.number().int().nonnegative().default(50),
  maxWords: z.number().int().positive().default(100_000),
  minMeanWordLength: z.number().default(3),
  maxMeanWordLength: z.number().default(10),
  /** (# and ellipsis count) / words. */
  maxSymbolWordRatio: z.number().default(0.1),
  maxBulletLinesRatio: z.number().default(0.9),
  maxEllipsisLinesRatio: z.number().default(0.3),
  /** Fraction of words that must contain an alphabetic character. */
  minAlphaWordsRatio: z.number().default(0.8),
  minStopWords: z.number().int().nonnegative().default(2),
  stopWords: z.array(z.string()).default(["the", "be", "to", "of", "and", "that", "have", "with"]),
});
export type GopherQualityOptions = z.infer<typeof gopherQualityOptionsSchema>;

const BULLET_RE = /^\s*[•●○◦▪‣\-*–—·]/;
const ALPHA_RE = /\p{L}/u;

/** Gopher quality heuristics; reasons: `min_words`, `max_words`, `mean_word_length`, `symbol_word_ratio`, `bullet_lines`, `ellipsis_lines`, `alpha_words`, `stop_words`. */
export class GopherQualityRule implements QualityRule {
  readonly name = "gopher_quality";
  private readonly stop: LowerWordSet;
  private readonly maxStopLen: number;
  constructor(
    readonly opts: GopherQualityOptions,
    readonly scope: RuleScope,
  ) {
    this.stop = new LowerWordSet(opts.stopWords.map((w) => w.toLowerCase()));
    this.maxStopLen = Math.max(0, ...opts.stopWords.map((w) => w.length));
  }

  check(v: TextView): RuleOutcome | null {
    const o = this.opts;
    const t = v.wordTable;
    const { count: n, start, end, id } = t;
    if (n < o.minWords) return { remove: "min_words", detail: `${n} words < ${o.minWords}` };
    if (n > o.maxWords) return { remove: "max_words", detail: `${n} words > ${o.maxWords}` };
    // per distinct word: bit 1 = has a letter, bit 2 = stop word
    const flags = new Uint8Array(t.vocabSize);
    const text = v.text;
    for (let k = 0; k < t.vocabSize; k++) {
      const s = t.vocabStart[k];
      const e = t.vocabEnd[k];
      let f = 0;
      let ascii = true;
      for (let j = s; j < e; j++) {
        const c = text.charCodeAt(j);
        if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
          f = 1;
          break;
        }
        if (c >= 128) ascii = false;
      }
      if (f === 0 && !ascii && ALPHA_RE.test(text.slice(s, e))) f = 1;
      if (e - s <= this.maxStopLen && this.stop.hasWord(v, k)) f |= 2;
      flags[k] = f;
    }
    let chars = 0;
    let alpha = 0;
    let stops = 0;
    for (let i = 0; i < n; i++) {
      chars += end[i] - start[i];
      const f = flags[id[i]];
      alpha += f & 1;
      stops += f >> 1;
    }
    const mean = chars / n;
    if (mean < o.minMeanWordLength || mean > o.maxMeanWordLength)
      return { remove: "mean_word_length", detail: `mean word length ${mean.toFixed(2)} outside [${o.minMeanWordLength}, ${o.maxMeanWordLength}]` };
    let symbols = 0;
    for (let i = text.indexOf("#"); i >= 0; i = text.indexOf("#", i + 1)) symbols++;
    for (let i = text.indexOf("..."); i >= 0; i = text.indexOf("...", i + 3)) symbols++;
    for (let i = text.indexOf("…"); i >= 0; i = text.indexOf("…", i + 1)) symbols++;
    if (symbols / n > o.maxSymbolWordRatio)
      return { remove: "symbol_word_ratio", detail: `symbol/word ratio ${(symbols / n).toFixed(3)} > ${o.maxSymbolWordRatio}` };
    const lines = v.nonEmptyLines;
    if (lines.length > 0) {
      let bullets = 0;
      let ellipsis = 0;
      for (const l of lines) {
        if (BULLET_RE.test(l)) bullets++;
        if (l.endsWith("...") || l.endsWith("…")) ellipsis++;
      }
      if (bullets / lines.length > o.maxBulletLinesRatio)
        return { remove: "bullet_lines", detail: `bullet lines ${(bullets / lines.length).toFixed(2)} > ${o.maxBulletLinesRatio}` };
      if (ellipsis / lines.length > o.maxEllipsisLinesRatio)
        return { remove: "ellipsis_lines", detail: `ellipsis lines ${(ellipsis / lines.length).toFixed(2)} > ${o.maxEllipsisLinesRatio}` };
    }
    if (alpha / n < o.minAlphaWordsRatio)
      return { remove: "alpha_words", detail: `alphabetic words ${(alpha / n).toFixed(2)} < ${o.minAlphaWordsRatio}` };
    if (stops < o.minStopWords) return { remove: "stop_words", detail: `${stops} stop words < ${o.minStopWords}` };
    return null;
  }
}
