// C4 rule (Raffel et al. 2020, the TFDS c4_utils clean-up they published) exactly as datatrove a649de79's
// C4QualityFilter defines it: each line (Python str.splitlines, stripped) is checked in a fixed order; lines
// that fail are dropped, and "lorem ipsum" or "{" in a line that got that far removes the whole document.
import { z } from "zod";
import { LowerCaseNeedles, TextView } from "../textView.js";
import { isPySpace, pySplitlines, pyStrip } from "../words/pyString.js";
import { countEnglishSentences, englishSentences } from "../words/spacyEnglish.js";
import { SENT_PUNCT_CHARS } from "../words/spacyEnglishData.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";

export const c4OptionsSchema = z.object({
  /** Check lines (true, as C4) or spaCy sentences joined back with " " (false; each kept one counts one sentence). */
  splitParagraph: z.boolean().default(true),
  /** Remove Wikipedia citations `[12]`, `[]`, `[edit]`, `[citation needed]` (case-sensitive) from each line. */
  removeCitations: z.boolean().default(true),
  /** Drop lines not ending in . ? ! " ' or ending in "...". */
  filterNoTerminalPunct: z.boolean().default(true),
  /** Remove documents with fewer spaCy sentences in the kept lines; -1 disables. */
  minSentences: z.number().int().min(-1).default(5),
  /** Drop lines with fewer whitespace-separated words (counted before citations are removed); -1 disables. */
  minWordsPerLine: z.number().int().min(-1).default(3),
  /** Drop lines with a word of more code points; -1 disables. */
  maxWordLength: z.number().int().min(-1).default(1000),
  filterLoremIpsum: z.boolean().default(true),
  filterJavascript: z.boolean().default(true),
  filterCurlyBracket: z.boolean().default(true),
  filterPolicy: z.boolean().default(true),
});
export type C4Options = z.infer<typeof c4OptionsSchema>;

/** Substrings that mark a policy/cookie boilerplate line (C4's list). */
export const C4_POLICY_SUBSTRINGS = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"];
/** C4's citations; `\p{Nd}` is what Python's `\d` matches in a str pattern. */
const CITATION_RE = /\[\p{Nd}*\]|\[edit\]|\[citation needed\]/gu;
/** Line breaks of Python's str.splitlines besides "\n", and the characters where Python and JavaScript whitespace differ. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: \x1c-\x1f are line breaks or whitespace to Python
const NOT_PLAIN_RE = /[\r\v\f\x1c-\x1f\x85\u2028\u2029\ufeff]/;
/** Python's line breaks besides "\n". */
// biome-ignore lint/suspicious/noControlCharactersInRegex: \x1c-\x1e are line breaks to Python
const LINE_BREAK_RE = /[\r\v\f\x1c-\x1e\x85\u2028\u2029]/;
/** Python whitespace that JavaScript's `\s` lacks (\x1c-\x1f, \x85) and the reverse (\ufeff). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: \x1c-\x1f are whitespace to Python
const WS_DIFFER_RE = /[\x1c-\x1f\x85\ufeff]/;

const LOREM = new LowerCaseNeedles(["lorem ipsum"]);
const JAVASCRIPT = new LowerCaseNeedles(["javascript"]);
const POLICY = new LowerCaseNeedles(C4_POLICY_SUBSTRINGS);

/** What the checks after the word checks make of one line. */
const KEEP = 0;
const DROP = 1;
const LOREM_IPSUM = 2;
const CURLY = 3;

/** True when text[a, b) ends in one of . ? ! " ' and not in "...". */
function endsC4(s: string, a: number, b: number): boolean {
  if (b === a) return false;
  const c = s.charCodeAt(b - 1);
  if (c === 63 || c === 33 || c === 34 || c === 39) return true;
  return c === 46 && !(b - a >= 3 && s.charCodeAt(b - 2) === 46 && s.charCodeAt(b - 3) === 46);
}

/**
 * Per line, in datatrove's order: a word (of `line.split()`, before citations go) longer than maxWordLength drops it;
 * citations are removed; no end mark (or "...") drops it; fewer than minWordsPerLine of those words drops it;
 * "lorem ipsum" removes the document; "javascript" drops the line; "{" removes the document; a policy phrase drops
 * the line. The kept lines are joined with "\n" and stripped. Reasons (datatrove's names): `lorem_ipsum`,
 * `curly_bracket`, `too_few_sentences`; dropped non-blank lines are reported as changes.
 */
export class C4Rule implements QualityRule {
  readonly name = "c4";
  /** the lower-case needles the options look for (javascript, policy, "lorem ipsum"): a document without any skips those checks */
  private readonly anyNeedle: LowerCaseNeedles;
  constructor(
    readonly opts: C4Options,
    readonly scope: RuleScope,
  ) {
    this.anyNeedle = new LowerCaseNeedles([
      ...(opts.filterLoremIpsum ? ["lorem ipsum"] : []),
      ...(opts.filterJavascript ? ["javascript"] : []),
      ...(opts.filterPolicy ? C4_POLICY_SUBSTRINGS : []),
    ]);
  }

  /**
   * The word checks on the stripped line s[a, b) before citations go (`line.split()` in Python): false when a word
   * has more than maxWordLength code points or there are fewer than minWordsPerLine words. Words are only measured
   * when the line is longer than the limit, and only counted up to the minimum.
   */
  private wordsOk(s: string, a: number, b: number): boolean {
    const o = this.opts;
    const measure = o.maxWordLength !== -1 && b - a > o.maxWordLength;
    const need = o.minWordsPerLine;
    if (!measure && need <= 0) return true;
    let words = 0;
    let len = 0; // code points of the current word
    for (let i = a; i < b; i++) {
      const c = s.charCodeAt(i);
      if (isPySpace(c)) {
        if (len > 0) {
          if (measure && len > o.maxWordLength) return false;
          words++;
          len = 0;
          if (!measure && words >= need) return true;
        }
      } else if (c < 0xdc00 || c > 0xdfff) len++; // (a low surrogate ends a code point already counted)
    }
    if (len > 0) {
      if (measure && len > o.maxWordLength) return false;
      words++;
    }
    return words >= need;
  }

  /**
   * Checks 5 to 8 on a line that passed the word and punctuation checks: "lorem ipsum" (removes the document),
   * "javascript" (drops the line), "{" (removes the document), policy phrases (drop the line), in that order.
   * `needles` says whether the document holds any lower-case needle; `curly` whether this line holds "{".
   */
  private lateChecks(line: string, needles: boolean, curly: boolean): number {
    const o = this.opts;
    if (needles) {
      if (o.filterLoremIpsum && LOREM.test(line)) return LOREM_IPSUM;
      if (o.filterJavascript && JAVASCRIPT.test(line)) return DROP;
    }
    if (o.filterCurlyBracket && curly) return CURLY;
    if (needles && o.filterPolicy && POLICY.test(line)) return DROP;
    return KEEP;
  }

  check(v: TextView): RuleOutcome | null {
    if (!this.opts.splitParagraph) return this.checkPieces(v.text, englishSentences(v.text), " ");
    const src = v.text;
    // Lines split at "\n" only, and Python's strip equal to JavaScript's trim, in almost every document:
    // then lines are ranges of the text and the kept ones can carry the parent's words over.
    if (!NOT_PLAIN_RE.test(src)) return this.checkRanges(v, true);
    if (LINE_BREAK_RE.test(src)) return this.checkPieces(src, pySplitlines(src), "\n");
    return this.checkRanges(v, !WS_DIFFER_RE.test(src));
  }

  /**
   * The sentences of the kept lines as far as the decision needs them (datatrove sums
   * len(split_into_sentences(line)), spaCy's sentencizer, over the kept lines): exact below minSentences, else any
   * number >= it. Every line is at least one sentence, and at most one more than the sentence-final characters
   * before its last one (a sentence starts only after a token that is one), so the sentencizer runs only on
   * lines with such a character inside while those two bounds leave the decision open.
   */
  private sentences(kept: readonly string[]): number {
    const min = this.opts.minSentences;
    if (kept.length >= min) return kept.length;
    const upper = kept.map(maxSentences);
    let most = upper.reduce((s, u) => s + u, 0);
    let least = kept.length;
    for (let k = 0; k < kept.length && least < min && most >= min; k++) {
      if (upper[k] === 1) continue;
      const c = countSentences(kept[k], min - least + 1);
      least += c - 1;
      most -= upper[k] - c;
    }
    // (below min the two bounds met: each line left uncounted has upper bound 1 or the loop stopped at most < min,
    // which a later exact count could only lower; report the figure the bounds give)
    return least >= min ? least : most;
  }

  /** The definition over a list of line strings (other line breaks than "\n", or the sentence mode). */
  private checkPieces(src: string, pieces: readonly string[], joiner: string): RuleOutcome | null {
    const o = this.opts;
    const needles = this.anyNeedle.test(src);
    const curly = o.filterCurlyBracket && src.includes("{");
    const kept: string[] = [];
    let dropped = 0;
    for (const piece of pieces) {
      const stripped = pyStrip(piece);
      const blank = stripped.length === 0 ? 0 : 1; // blank lines are dropped too, but not reported
      if (!this.wordsOk(stripped, 0, stripped.length)) {
        dropped += blank;
        continue;
      }
      const line = o.removeCitations && stripped.includes("[") ? stripped.replace(CITATION_RE, "") : stripped;
      if (o.filterNoTerminalPunct && !endsC4(line, 0, line.length)) {
        dropped += blank;
        continue;
      }
      // (removing a citation can join a needle: "java[1]script")
      const late = this.lateChecks(line, needles || line !== stripped, curly && line.includes("{"));
      if (late === LOREM_IPSUM) return { remove: "lorem_ipsum", detail: 'a kept line contains "lorem ipsum"' };
      if (late === CURLY) return { remove: "curly_bracket", detail: 'a kept line contains "{"' };
      if (late === DROP) {
        dropped++;
        continue;
      }
      kept.push(line);
    }
    // (the sentence mode counts one per kept sentence)
    const sentences = joiner === "\n" ? this.sentences(kept) : kept.length;
    if (sentences < o.minSentences) return tooFew(sentences, o.minSentences, dropped);
    const text = pyStrip(kept.join(joiner));
    return text === src ? null : { text, changed: dropped };
  }

  /**
   * The definition over ranges of the text split at "\n" (no other line break in it). `carry`: the text has no
   * character that is whitespace to only one of Python and JavaScript, so the kept ranges' words are the parent's.
   */
  private checkRanges(v: TextView, carry: boolean): RuleOutcome | null {
    const o = this.opts;
    const src = v.text;
    // one scan for every lower-case needle in the common case that none occurs
    const needles = this.anyNeedle.test(src);
    // kept lines: a range of the document (stripped) or, after citation removal, a new string
    const keptFrom: number[] = [];
    const keptTo: number[] = [];
    const keptText: Array<string | null> = [];
    let dropped = 0;
    let ranges = true; // every kept line is an unchanged, non-blank range
    const n = src.length;
    let bracket = o.removeCitations ? src.indexOf("[") : -1;
    let curly = o.filterCurlyBracket ? src.indexOf("{") : -1;
    // (str.splitlines: a final "\n" ends the last line rather than starting an empty one)
    for (let ls = 0; ls < n; ) {
      let le = src.indexOf("\n", ls);
      if (le < 0) le = n;
      let a = ls;
      let b = le;
      ls = le + 1;
      while (a < b && isPySpace(src.charCodeAt(a))) a++;
      while (b > a && isPySpace(src.charCodeAt(b - 1))) b--;
      if (bracket >= 0 && bracket < a) bracket = src.indexOf("[", a);
      if (curly >= 0 && curly < a) curly = src.indexOf("{", a);
      const line = bracket >= 0 && bracket < b ? src.slice(a, b).replace(CITATION_RE, "") : null;
      if (line !== null && line.length !== b - a) {
        // rare: a citation went; the checks after the word checks read the new string
        if (!this.wordsOk(src, a, b) || (o.filterNoTerminalPunct && !endsC4(line, 0, line.length))) {
          dropped++;
          continue;
        }
        // (removing a citation can join a needle: "java[1]script")
        const late = this.lateChecks(line, true, line.includes("{"));
        if (late === LOREM_IPSUM) return { remove: "lorem_ipsum", detail: 'a kept line contains "lorem ipsum"' };
        if (late === CURLY) return { remove: "curly_bracket", detail: 'a kept line contains "{"' };
        if (late === DROP) {
          dropped++;
          continue;
        }
        ranges = false;
        keptFrom.push(0);
        keptTo.push(line.length);
        keptText.push(line);
        continue;
      }
      // the cheap check first (the drops commute: only the document removals below depend on the order)
      if ((o.filterNoTerminalPunct && !endsC4(src, a, b)) || !this.wordsOk(src, a, b)) {
        if (b > a) dropped++;
        continue;
      }
      const hasCurly = curly >= 0 && curly < b;
      if (needles || hasCurly) {
        const late = this.lateChecks(src.slice(a, b), needles, hasCurly);
        if (late === LOREM_IPSUM) return { remove: "lorem_ipsum", detail: 'a kept line contains "lorem ipsum"' };
        if (late === CURLY) return { remove: "curly_bracket", detail: 'a kept line contains "{"' };
        if (late === DROP) {
          dropped++;
          continue;
        }
      }
      if (a === b) ranges = false;
      keptFrom.push(a);
      keptTo.push(b);
      keptText.push(null);
    }
    const parts = keptText.map((t, k) => t ?? src.slice(keptFrom[k], keptTo[k]));
    const sentences = this.sentences(parts);
    if (sentences < o.minSentences) return tooFew(sentences, o.minSentences, dropped);
    const joined = parts.join("\n");
    // (kept ranges are stripped already; a line that lost a citation at its start or end may not be)
    const text = pyStrip(joined);
    if (text === src) return null;
    // the words of the new text are the words of the kept lines: carry them over when the lines are plain ranges
    const view = carry && ranges && text === joined ? TextView.ofLines(v, text, Int32Array.from(keptFrom), Int32Array.from(keptTo), parts.length > 0 ? parts : undefined) : undefined;
    return { text, changed: dropped, view };
  }
}

const SENT_PUNCT = new Set(SENT_PUNCT_CHARS.map((c) => c.codePointAt(0) as number));

/** An upper bound of countSentences(line): 1 + the sentencizer's sentence-final characters before the last code unit. */
function maxSentences(line: string): number {
  let n = 1;
  for (let i = 0; i < line.length - 1; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x80) {
      if (c === 46 || c === 33 || c === 63) n++;
    } else if (SENT_PUNCT.has(c)) n++;
    else if (c >= 0xd800 && c <= 0xdbff && SENT_PUNCT.has(line.codePointAt(i) as number)) n++;
  }
  return n;
}

/** len(split_into_sentences(line)) in datatrove: spaCy's sentences, and 1 for an empty line; may stop at `atLeast`. */
function countSentences(line: string, atLeast: number): number {
  return line.length === 0 ? 1 : countEnglishSentences(line, atLeast);
}

function tooFew(sentences: number, min: number, dropped: number): RuleOutcome {
  // (an upper bound when the sentencizer was not needed to settle it)
  return { remove: "too_few_sentences", detail: `at most ${sentences} sentences < ${min} after dropping ${dropped} lines` };
}
