// Toxicity rule: whole-word (and whole-phrase) matches against a shipped, overridable word list;
// score = matched words / words, documents above the threshold are removed.
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { TextView } from "../textView.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";
import { DEFAULT_TOXIC_WORDS } from "./toxicityWords.js";

export const toxicityOptionsSchema = z.object({
  /** Remove when matched words / words is above this. */
  maxScore: z.number().default(0.01),
  /** ...and at least this many matches were found. */
  minMatches: z.number().int().positive().default(1),
  /** A file with one word or phrase per line replacing the shipped list (`#` starts a comment). */
  wordsFile: z.string().optional(),
  /** Words or phrases added to the list. */
  extraWords: z.array(z.string()).default([]),
});
export type ToxicityOptions = z.infer<typeof toxicityOptionsSchema>;

/** A compiled word/phrase list for whole-word matching. */
export class ToxicWordList {
  private readonly words = new Set<string>();
  /** phrases keyed by their first word */
  private readonly phrases = new Map<string, string[][]>();

  constructor(entries: Iterable<string>) {
    for (const raw of entries) {
      const parts = raw.trim().toLowerCase().split(/\s+/).filter(Boolean);
      if (parts.length === 0) continue;
      if (parts.length === 1) this.words.add(parts[0]);
      else {
        const list = this.phrases.get(parts[0]) ?? [];
        list.push(parts);
        this.phrases.set(parts[0], list);
      }
    }
  }

  /** Counts whole-word matches in a word sequence; returns the count and the matched entries. */
  match(words: readonly string[]): { count: number; matched: string[] } {
    let count = 0;
    const matched: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i].toLowerCase();
      const ps = this.phrases.get(w);
      if (ps) {
        const hit = ps.find((p) => p.every((x, k) => i + k < words.length && words[i + k].toLowerCase() === x));
        if (hit) {
          count += hit.length;
          if (matched.length < 5) matched.push(hit.join(" "));
          i += hit.length - 1;
          continue;
        }
      }
      if (this.words.has(w)) {
        count++;
        if (matched.length < 5) matched.push(w);
      }
    }
    return { count, matched };
  }
}

/** Reason: `score`. Stores `meta.toxicity_score` on documents with at least one match. */
export class ToxicityRule implements QualityRule {
  readonly name = "toxicity";
  private readonly list: ToxicWordList;
  constructor(
    readonly opts: ToxicityOptions,
    readonly scope: RuleScope,
  ) {
    this.list = new ToxicWordList([...(opts.wordsFile ? readWordListFile(opts.wordsFile) : DEFAULT_TOXIC_WORDS), ...opts.extraWords]);
  }

  check(v: TextView): RuleOutcome | null {
    const words = v.words;
    if (words.length === 0) return null;
    const { count, matched } = this.list.match(words);
    if (count === 0) return null;
    const score = count / words.length;
    const scores = { toxicity_score: Number(score.toFixed(4)) };
    if (score > this.opts.maxScore && count >= this.opts.minMatches)
      return { remove: "score", detail: `score ${score.toFixed(3)} > ${this.opts.maxScore}; matched ${matched.join(", ")}`, scores };
    return { scores };
  }
}

/** Reads a word list file: one entry per line, blank lines and `#` comments ignored. */
export function readWordListFile(file: string): string[] {
  return readFileSync(file, "utf8")
    .split(/\r?\n/)
    .filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
}
