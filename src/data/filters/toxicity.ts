// Toxicity rule: whole-word (and whole-phrase) matches against a shipped, overridable word list;
// score = matched words / words, documents above the threshold are removed.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { lowerHash, type TextView } from "../textView.js";
import { Int32Set } from "../words/int32Set.js";
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
  /** lowerHash of every single-word entry and phrase start */
  private readonly hashes: Int32Set;

  constructor(entries: Iterable<string>) {
    const firsts: number[] = [];
    for (const raw of entries) {
      const parts = raw.trim().toLowerCase().split(/\s+/).filter(Boolean);
      if (parts.length === 0) continue;
      if (parts.length === 1) this.words.add(parts[0]);
      else {
        const list = this.phrases.get(parts[0]) ?? [];
        list.push(parts);
        this.phrases.set(parts[0], list);
      }
      firsts.push(lowerHash(parts[0]));
    }
    this.hashes = new Int32Set(firsts);
  }

  /** Counts whole-word matches in a word sequence; returns the count and the matched entries. */
  match(words: readonly string[]): { count: number; matched: string[] } {
    const lower = words.map((w) => w.toLowerCase());
    const kind = Uint8Array.from(lower, (w) => (this.words.has(w) ? 1 : 0) | (this.phrases.has(w) ? 2 : 0));
    return this.matchIds(Int32Array.from(lower.keys()), kind, (k) => lower[k]);
  }

  /** Same as {@link match} over a view's words; distinct words are screened by their lower-case hash first. */
  matchView(v: TextView): { count: number; matched: string[] } {
    const t = v.wordTable;
    const kind = new Uint8Array(t.vocabSize);
    let any = false;
    for (let k = 0; k < t.vocabSize; k++) {
      const h = t.vocabLowerHash[k];
      if (!this.hashes.has(h)) continue;
      const w = v.lowerWord(k);
      kind[k] = (this.words.has(w) ? 1 : 0) | (this.phrases.has(w) ? 2 : 0);
      if (kind[k] !== 0) any = true;
    }
    // no listed word in the document: nothing to walk
    if (!any) return { count: 0, matched: [] };
    return this.matchIds(t.id, kind, (k) => v.lowerWord(k));
  }

  /**
   * The matching itself: word i has id `ids[i]`; `kind[id]` says whether that word is an entry (1) and/or
   * starts a phrase (2); `lower(id)` is the word lower-cased.
   */
  private matchIds(ids: Int32Array, kind: Uint8Array, lower: (k: number) => string): { count: number; matched: string[] } {
    let count = 0;
    const matched: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const f = kind[ids[i]];
      if (f === 0) continue;
      const w = lower(ids[i]);
      if (f & 2) {
        const ps = this.phrases.get(w)!;
        const hit = ps.find((p) => p.every((x, k) => i + k < ids.length && lower(ids[i + k]) === x));
        if (hit) {
          count += hit.length;
          if (matched.length < 5) matched.push(hit.join(" "));
          i += hit.length - 1;
          continue;
        }
      }
      if (f & 1) {
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
    const n = v.wordCount;
    if (n === 0) return null;
    const { count, matched } = this.list.matchView(v);
    if (count === 0) return null;
    const score = count / n;
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
