// FineWeb rule (Penedo et al. 2024, as in datatrove's FineWebQualityFilter): fraction of lines ending in
// terminal punctuation, fraction of short lines, characters in duplicated lines, newlines per word.
import { z } from "zod";
import type { TextView } from "../textView.js";
import { endsWithTerminalPunct, type QualityRule, type RuleOutcome, type RuleScope } from "./rule.js";

export const finewebOptionsSchema = z.object({
  /** Remove when the fraction of lines ending in terminal punctuation is <= this. */
  linePunctThreshold: z.number().default(0.12),
  linePunctExcludeZero: z.boolean().default(false),
  /** Remove when the fraction of lines of at most `shortLineLength` chars is >= this. */
  shortLineThreshold: z.number().default(0.67),
  shortLineLength: z.number().int().default(30),
  /** Remove when characters in duplicated lines / all characters is >= this. */
  charDuplicatesRatio: z.number().default(0.01),
  /** Remove when newlines / words is > this. */
  newLineRatio: z.number().default(0.3),
});
export type FinewebOptions = z.infer<typeof finewebOptionsSchema>;

/** Reasons: `empty`, `line_punct_ratio`, `short_line_ratio`, `char_dup_ratio`, `list_ratio`. */
export class FinewebRule implements QualityRule {
  readonly name = "fineweb";
  constructor(
    readonly opts: FinewebOptions,
    readonly scope: RuleScope,
  ) {}

  check(v: TextView): RuleOutcome | null {
    const o = this.opts;
    const lines = v.nonEmptyLines;
    if (lines.length === 0) return { remove: "empty", detail: "no non-blank lines" };
    let punct = 0;
    let short = 0;
    for (const l of lines) {
      if (endsWithTerminalPunct(l)) punct++;
      if (l.length <= o.shortLineLength) short++;
    }
    const pr = punct / lines.length;
    if (pr <= o.linePunctThreshold && !(pr === 0 && o.linePunctExcludeZero))
      return { remove: "line_punct_ratio", detail: `lines ending in punctuation ${pr.toFixed(2)} <= ${o.linePunctThreshold}` };
    const sr = short / lines.length;
    if (sr >= o.shortLineThreshold) return { remove: "short_line_ratio", detail: `short lines ${sr.toFixed(2)} >= ${o.shortLineThreshold}` };
    let nonNl = 0;
    let newlines = 0;
    const t = v.text;
    for (let i = t.indexOf("\n"); i >= 0; i = t.indexOf("\n", i + 1)) newlines++;
    nonNl = t.length - newlines;
    const dr = v.repeats.dupLineChars / Math.max(1, nonNl);
    if (dr >= o.charDuplicatesRatio) return { remove: "char_dup_ratio", detail: `duplicated line chars ${dr.toFixed(3)} >= ${o.charDuplicatesRatio}` };
    const words = v.wordCount;
    if (words === 0 || newlines / words > o.newLineRatio)
      return { remove: "list_ratio", detail: `newlines/words ${(newlines / Math.max(1, words)).toFixed(2)} > ${o.newLineRatio}` };
    return null;
  }
}
