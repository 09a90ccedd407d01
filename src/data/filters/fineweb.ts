// FineWeb rule (Penedo et al. 2024) exactly as datatrove a649de79's FineWebQualityFilter defines it: over the
// non-blank lines of text.split("\n") (kept raw, not stripped), the fraction ending in a terminal mark of any
// script, the fraction of short lines, the characters in repeated lines, and newlines per spaCy word.
import { z } from "zod";
import type { TextView } from "../textView.js";
import { isPySpace } from "../words/pyString.js";
import { codePointBefore, isTerminalPunct, type QualityRule, type RuleOutcome, type RuleScope } from "./rule.js";

export const finewebOptionsSchema = z.object({
  /** Remove when the fraction of lines ending in a stop character is < this. */
  linePunctThreshold: z.number().default(0.12),
  /** Do not remove for a fraction of exactly 0 (text without any end mark, e.g. in scripts without them). */
  linePunctExcludeZero: z.boolean().default(false),
  /** Line endings that count as punctuated (default: datatrove's TERMINAL_PUNCTUATION, see rule.ts). */
  stopChars: z.array(z.string()).optional(),
  /** Remove when the fraction of lines of at most `shortLineLength` code points is > this. */
  shortLineThreshold: z.number().default(0.67),
  shortLineLength: z.number().int().default(30),
  /** Remove when the code points of lines repeating an earlier line / all code points but "\n" is > this. */
  charDuplicatesRatio: z.number().default(0.01),
  /** Remove when newlines / spaCy words is > this. */
  newLineRatio: z.number().default(0.3),
});
export type FinewebOptions = z.infer<typeof finewebOptionsSchema>;

/** Code points in text[a, b) (a low surrogate after a high one is the same code point). */
function codePoints(t: string, a: number, b: number): number {
  let n = b - a;
  for (let i = a + 1; i < b; i++) {
    const c = t.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff) {
      const h = t.charCodeAt(i - 1);
      if (h >= 0xd800 && h <= 0xdbff) n--;
    }
  }
  return n;
}

const SURROGATE_RE = /[\ud800-\udfff]/;

/** Reasons: `empty`, `line_punct_ratio`, `short_line_ratio`, `char_dup_ratio`, `list_ratio` (datatrove's names). */
export class FinewebRule implements QualityRule {
  readonly name = "fineweb";
  private readonly stop: readonly string[] | null;
  constructor(
    readonly opts: FinewebOptions,
    readonly scope: RuleScope,
  ) {
    this.stop = opts.stopChars ?? null;
  }

  /** Whether the raw line t[a, b) ends in a stop character (Python's `line.endswith(stop_chars)`). */
  private punctuated(t: string, a: number, b: number): boolean {
    if (!this.stop) return b > a && isTerminalPunct(codePointBefore(t, b));
    for (const s of this.stop) if (b - a >= s.length && t.endsWith(s, b)) return true;
    return false;
  }

  check(v: TextView): RuleOutcome | null {
    const o = this.opts;
    const t = v.text;
    const n = t.length;
    // pass 1: non-blank lines (blank by Python's str.strip), punctuated and short ones, and all newlines
    let lines = 0;
    let punct = 0;
    let short = 0;
    let newlines = 0;
    for (let ls = 0; ls <= n; ) {
      let le = t.indexOf("\n", ls);
      if (le < 0) le = n;
      else newlines++;
      const a = ls;
      ls = le + 1;
      let k = a;
      while (k < le && isPySpace(t.charCodeAt(k))) k++;
      if (k === le) continue;
      lines++;
      if (this.punctuated(t, a, le)) punct++;
      // code points <= UTF-16 units: count them only for a line longer in units than the limit
      if (le - a <= o.shortLineLength || codePoints(t, a, le) <= o.shortLineLength) short++;
    }
    if (lines === 0) return { remove: "empty", detail: "no non-blank lines" };
    const pr = punct / lines;
    if (pr < o.linePunctThreshold && !(pr === 0 && o.linePunctExcludeZero))
      return { remove: "line_punct_ratio", detail: `lines ending in punctuation ${pr.toFixed(3)} < ${o.linePunctThreshold}` };
    const sr = short / lines;
    if (sr > o.shortLineThreshold) return { remove: "short_line_ratio", detail: `short lines ${sr.toFixed(3)} > ${o.shortLineThreshold}` };
    // pass 2: characters of non-blank lines that repeat an earlier one (raw lines, compared whole)
    const seen = new Set<string>();
    let dup = 0;
    let denom = -1; // code points of the text without its newlines, counted at the first repeat
    for (let ls = 0; ls <= n; ) {
      let le = t.indexOf("\n", ls);
      if (le < 0) le = n;
      const a = ls;
      ls = le + 1;
      let k = a;
      while (k < le && isPySpace(t.charCodeAt(k))) k++;
      if (k === le) continue;
      const line = t.slice(a, le);
      if (!seen.has(line)) {
        seen.add(line);
        continue;
      }
      if (denom < 0) denom = (SURROGATE_RE.test(t) ? codePoints(t, 0, n) : n) - newlines;
      dup += codePoints(t, a, le);
      // (the ratio only grows: stop at the first repeat that crosses the threshold)
      if (dup / denom > o.charDuplicatesRatio) return { remove: "char_dup_ratio", detail: `duplicated line chars ${(dup / denom).toFixed(4)} > ${o.charDuplicatesRatio}` };
    }
    if (denom < 0 && 0 > o.charDuplicatesRatio) return { remove: "char_dup_ratio", detail: `duplicated line chars 0 > ${o.charDuplicatesRatio}` };
    // newlines / spaCy words. Every run of non-whitespace characters holds at least one spaCy token (spaCy splits
    // at Python whitespace first), so the runs bound the words from below: count them until the ratio with that
    // bound is within the threshold, and run the tokenizer only when the bound does not settle it.
    let runs = 0;
    let inRun = false;
    for (let i = 0; i < n; i++) {
      if (isPySpace(t.charCodeAt(i))) inRun = false;
      else if (!inRun) {
        inRun = true;
        runs++;
        if (newlines / runs <= o.newLineRatio) return null;
      }
    }
    // (a text with a non-blank line has a word: the division by zero datatrove would meet cannot happen)
    const words = v.englishWords.count;
    const nr = newlines / words;
    if (nr > o.newLineRatio) return { remove: "list_ratio", detail: `newlines/words ${nr.toFixed(3)} > ${o.newLineRatio}` };
    return null;
  }
}
