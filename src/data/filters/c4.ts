// C4 rule (Raffel et al. 2020, as in datatrove's C4QualityFilter): keeps only lines that end in terminal
// punctuation and have enough words, drops policy/javascript lines and citations, removes documents with
// "lorem ipsum", curly braces, or too few sentences left.
import { z } from "zod";
import type { TextView } from "../textView.js";
import { endsWithTerminalPunct, type QualityRule, type RuleOutcome, type RuleScope } from "./rule.js";

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
const SENTENCE_END_RE = /[.!?]+["'”’)]*(?=\s|$)/g;

/** Reasons: `lorem_ipsum`, `curly_bracket`, `too_few_sentences`; dropped lines are reported as changes. */
export class C4Rule implements QualityRule {
  readonly name = "c4";
  constructor(
    readonly opts: C4Options,
    readonly scope: RuleScope,
  ) {}

  check(v: TextView): RuleOutcome | null {
    const o = this.opts;
    const lower = v.text.toLowerCase();
    if (o.filterLoremIpsum && lower.includes("lorem ipsum")) return { remove: "lorem_ipsum", detail: 'contains "lorem ipsum"' };
    if (o.filterCurlyBracket && v.text.includes("{")) return { remove: "curly_bracket", detail: 'contains "{"' };
    const kept: string[] = [];
    let dropped = 0;
    for (const raw of v.lines) {
      let line = raw.trim();
      if (line.length === 0) continue;
      if (o.removeCitations && line.includes("[")) line = line.replace(CITATION_RE, "");
      const words = line.split(/\s+/);
      const lineLower = line.toLowerCase();
      const bad =
        (o.filterNoTerminalPunct && !endsWithTerminalPunct(line)) ||
        words.length < o.minWordsPerLine ||
        words.some((w) => w.length > o.maxWordLength) ||
        (o.filterJavascript && lineLower.includes("javascript")) ||
        (o.filterPolicy && C4_POLICY_SUBSTRINGS.some((p) => lineLower.includes(p)));
      if (bad) dropped++;
      else kept.push(line);
    }
    const text = kept.join("\n");
    const sentences = text.match(SENTENCE_END_RE)?.length ?? 0;
    if (sentences < o.minSentences) return { remove: "too_few_sentences", detail: `${sentences} sentences < ${o.minSentences} after dropping ${dropped} lines` };
    if (dropped === 0 && text === v.text) return null;
    return { text, changed: dropped };
  }
}
