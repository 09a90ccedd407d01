// C4 rule (Raffel et al. 2020, as in datatrove's C4QualityFilter): keeps only lines that end in terminal
// punctuation and have enough words, drops policy/javascript lines and citations, removes documents with
// "lorem ipsum", curly braces, or too few sentences left.
import { z } from "zod";
import { LowerCaseNeedles, TextView, isJsSpace } from "../textView.js";
import { isTerminalPunct, type QualityRule, type RuleOutcome, type RuleScope } from "./rule.js";

export const c4OptionsSchema = z.object({
  filterNoTerminalPunct: z.boolean().default(true),
  minWordsPerLine: z.number().int().nonnegative().default(3),
  maxWordLength: z.number().int().positive().default(1000),
  minSentences: z.number().int().nonnegative().default(5),
  filterLoremIpsum: z.boolean().default(true),
  filterCurlyBracket: z.boolean().default(true),
  filterJavascript: z.boolean().default(true),
  filterPolicy: z.boolean().default(true),
  removeCitations: z.boolean().default(true),
});
export type C4Options = z.infer<typeof c4OptionsSchema>;

/** Substrings that mark a policy/cookie boilerplate line (C4's list). */
export const C4_POLICY_SUBSTRINGS = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"];
const CITATION_RE = /\[\d+\]|\[edit\]|\[citation needed\]/gi;
/**
 * Matches of SENTENCE_END_RE = /[.!?]+["'”’)]*(?=\s|$)/g in text[from, to), `to` counting as the end: a run of
 * . ! ? then closing quotes/brackets, followed by whitespace or the end. Only counted until the document has
 * `minSentences` (the count is reported only below that).
 */
function countSentenceEnds(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 46 && c !== 33 && c !== 63) continue;
    let j = i + 1;
    while (j < to && isSentencePunct(text.charCodeAt(j))) j++;
    while (j < to && isSentenceCloser(text.charCodeAt(j))) j++;
    if (j === to || isJsSpace(text.charCodeAt(j))) n++;
    i = j - 1;
  }
  return n;
}

const isSentencePunct = (c: number) => c === 46 || c === 33 || c === 63;
const isSentenceCloser = (c: number) => c === 34 || c === 39 || c === 0x201d || c === 0x2019 || c === 41;

const LOREM = new LowerCaseNeedles(["lorem ipsum"]);

/** Reasons: `lorem_ipsum`, `curly_bracket`, `too_few_sentences`; dropped lines are reported as changes. */
export class C4Rule implements QualityRule {
  readonly name = "c4";
  /** substrings that drop a line (javascript, policy) as the options ask, and those plus "lorem ipsum" */
  private readonly lineNeedles: LowerCaseNeedles;
  private readonly anyNeedle: LowerCaseNeedles;
  constructor(
    readonly opts: C4Options,
    readonly scope: RuleScope,
  ) {
    const line = [...(opts.filterJavascript ? ["javascript"] : []), ...(opts.filterPolicy ? C4_POLICY_SUBSTRINGS : [])];
    this.lineNeedles = new LowerCaseNeedles(line);
    this.anyNeedle = new LowerCaseNeedles([...line, ...(opts.filterLoremIpsum ? ["lorem ipsum"] : [])]);
  }

  /**
   * Whether a (trimmed, citation-free) line text[a, b) is dropped; `lineLower` only when one of the needles occurs
   * in the document. Reads only as far as it must: the words (`line.split(/\s+/)`) are counted up to the minimum,
   * and the longest word is looked for only in a line longer than the limit.
   */
  private badLine(text: string, a: number, b: number, lineLower: string | null): boolean {
    const o = this.opts;
    if (o.filterNoTerminalPunct && !(b > a && isTerminalPunct(text.charCodeAt(b - 1)))) return true;
    // pieces of split(/\s+/): one more than the whitespace runs
    const full = b - a > o.maxWordLength;
    let pieces = 1;
    let longest = 0;
    let cur = 0;
    for (let i = a; i < b; i++) {
      if (isJsSpace(text.charCodeAt(i))) {
        if (cur > longest) longest = cur;
        cur = 0;
        pieces++;
        while (i + 1 < b && isJsSpace(text.charCodeAt(i + 1))) i++;
        if (!full && pieces >= o.minWordsPerLine) break;
      } else cur++;
    }
    if (cur > longest) longest = cur;
    if (pieces < o.minWordsPerLine || longest > o.maxWordLength) return true;
    if (lineLower === null) return false;
    return (o.filterJavascript && lineLower.includes("javascript")) || (o.filterPolicy && C4_POLICY_SUBSTRINGS.some((p) => lineLower.includes(p)));
  }

  check(v: TextView): RuleOutcome | null {
    const o = this.opts;
    const src = v.text;
    // one scan for every lower-case needle in the common case that none occurs
    const any = this.anyNeedle.test(src);
    if (o.filterLoremIpsum && any && LOREM.test(src)) return { remove: "lorem_ipsum", detail: 'contains "lorem ipsum"' };
    if (o.filterCurlyBracket && src.includes("{")) return { remove: "curly_bracket", detail: 'contains "{"' };
    // an ASCII needle in a lower-cased line is also in the lower-cased document, so lines need lower-casing
    // only when the document holds one
    const needles = any && this.lineNeedles.test(src);
    // kept lines: either a range of the document (trimmed) or, after citation removal, a new string
    const keptFrom: number[] = [];
    const keptTo: number[] = [];
    const keptText: Array<string | null> = [];
    let dropped = 0;
    let sentences = 0;
    let rewritten = false;
    const n = src.length;
    let bracket = src.indexOf("[");
    for (let ls = 0; ls <= n; ) {
      let le = src.indexOf("\n", ls);
      if (le < 0) le = n;
      const next = le + 1;
      let a = ls;
      let b = le;
      while (a < b && isJsSpace(src.charCodeAt(a))) a++;
      while (b > a && isJsSpace(src.charCodeAt(b - 1))) b--;
      ls = next;
      if (a === b) continue;
      if (bracket >= 0 && bracket < a) bracket = src.indexOf("[", a);
      if (o.removeCitations && bracket >= 0 && bracket < b) {
        // rare: the plain path on a new string
        const line = src.slice(a, b).replace(CITATION_RE, "");
        if (line.length !== b - a) {
          rewritten = true;
          if (this.badLine(line, 0, line.length, line.toLowerCase())) dropped++;
          else {
            keptFrom.push(0);
            keptTo.push(line.length);
            keptText.push(line);
            if (sentences < o.minSentences) sentences += countSentenceEnds(line, 0, line.length);
          }
          continue;
        }
      }
      if (this.badLine(src, a, b, needles ? src.slice(a, b).toLowerCase() : null)) dropped++;
      else {
        keptFrom.push(a);
        keptTo.push(b);
        keptText.push(null);
        if (sentences < o.minSentences) sentences += countSentenceEnds(src, a, b);
      }
    }
    if (sentences < o.minSentences) return { remove: "too_few_sentences", detail: `${sentences} sentences < ${o.minSentences} after dropping ${dropped} lines` };
    const parts = keptText.map((t, k) => t ?? src.slice(keptFrom[k], keptTo[k]));
    const text = parts.join("\n");
    if (dropped === 0 && text === src) return null;
    // the words of the new text are the words of the kept lines: carry them over unless a line was rewritten
    const view = rewritten ? undefined : TextView.ofLines(v, text, Int32Array.from(keptFrom), Int32Array.from(keptTo), parts.length > 0 ? parts : undefined);
    return { text, changed: dropped, view };
  }
}
