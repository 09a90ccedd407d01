// The shape every document-level quality rule has: a name, its validated options, and a check that
// keeps a document, removes it with a named reason, or (for line-level rules) returns a trimmed text.
import type { DataDoc } from "../types.js";
import type { TextView } from "../textView.js";

/** What a rule decided about one document; `null` means keep unchanged. */
export interface RuleOutcome {
  /** Reason for removal (becomes `<rule>.<reason>` in the stats). */
  remove?: string;
  /** Human-readable figure behind the decision, e.g. `mean word length 2.1 < 3`. */
  detail?: string;
  /** Replacement text (line-level rules such as C4 drop lines). */
  text?: string;
  /** Number of changes made to the text (e.g. lines dropped). */
  changed?: number;
  /** Scores to store in `meta` (e.g. `quality_score`, `toxicity_score`). */
  scores?: Record<string, number | string>;
  /** A view of `text` whose splits the rule already knows (so later rules need not split again). */
  view?: TextView;
}

/** Options every rule accepts besides its thresholds. */
export interface RuleScope {
  /** Set false to switch the rule off. */
  enabled: boolean;
  /** Apply only to documents whose `source` is in this list (all when absent). */
  sources?: string[];
  /** Skip documents whose `meta.kind` is in this list (default: code). */
  skipKinds: string[];
}

/** A named, configurable document rule. */
export interface QualityRule {
  readonly name: string;
  readonly scope: RuleScope;
  check(view: TextView, doc: DataDoc): RuleOutcome | null;
}

/** Terminal punctuation as C4 and FineWeb define it. */
export const TERMINAL_PUNCT = [".", "!", "?", '"', "'", "”", "’", "…"] as const;

/** True when a (trimmed) line ends with terminal punctuation. */
export function endsWithTerminalPunct(line: string): boolean {
  return isTerminalPunct(line.charCodeAt(line.length - 1));
}

/** True for the terminal punctuation characters . ! ? " ' ” ’ … (false for NaN, the last char of ""). */
export function isTerminalPunct(c: number): boolean {
  return c === 46 || c === 33 || c === 63 || c === 34 || c === 39 || c === 0x201d || c === 0x2019 || c === 0x2026;
}
