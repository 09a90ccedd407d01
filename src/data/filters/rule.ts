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

/**
 * datatrove a649de79's TERMINAL_PUNCTUATION (src/datatrove/utils/text.py) as code points, sorted: the sentence-final
 * marks of many scripts (. ! ? and CJK 。！？｡, Devanagari ।, Arabic ؟ ۔, Ethiopic ።, ...; not " ' … ” ’). FineWeb's
 * default stop characters. Transcribed from the set; test/data/c4FinewebRules.test.ts compares it with the set
 * scripts/make_c4_fineweb_fixture.py reads from datatrove itself.
 */
export const TERMINAL_PUNCTUATION_CODES: readonly number[] = [
  0x21, 0x2e, 0x3f, 0x589, 0x61d, 0x61e, 0x61f, 0x6d4, 0x700, 0x701, 0x702, 0x7f9, 0x837, 0x839, 0x83d, 0x83e, 0x964,
  0x965, 0x104a, 0x104b, 0x1362, 0x1367, 0x1368, 0x166e, 0x1735, 0x1736, 0x17d4, 0x17d5, 0x17d6, 0x17d9, 0x17da,
  0x1803, 0x1809, 0x1944, 0x1945, 0x1aa8, 0x1aa9, 0x1aaa, 0x1aab, 0x1b5a, 0x1b5b, 0x1b5e, 0x1b5f, 0x1b7d, 0x1b7e,
  0x1c3b, 0x1c3c, 0x1c7e, 0x1c7f, 0x203c, 0x203d, 0x2047, 0x2048, 0x2049, 0x2e2e, 0x2e3c, 0x2e53, 0x2e54, 0x3002,
  0xa4ff, 0xa60e, 0xa60f, 0xa6f3, 0xa6f7, 0xa876, 0xa877, 0xa8ce, 0xa8cf, 0xa92f, 0xa9c8, 0xa9c9, 0xaa5d, 0xaa5e,
  0xaa5f, 0xaaf0, 0xaaf1, 0xabeb, 0xfe52, 0xfe56, 0xfe57, 0xff01, 0xff0e, 0xff1f, 0xff61, 0x10a56, 0x10a57, 0x10f55,
  0x10f56, 0x10f57, 0x10f58, 0x10f59, 0x10f86, 0x10f87, 0x10f88, 0x10f89, 0x11047, 0x11048, 0x110be, 0x110bf,
  0x110c0, 0x110c1, 0x11141, 0x11142, 0x11143, 0x111c5, 0x111c6, 0x111cd, 0x111de, 0x111df, 0x11238, 0x11239,
  0x1123b, 0x1123c, 0x112a9, 0x1144b, 0x1144c, 0x115c2, 0x115c3, 0x115c9, 0x115ca, 0x115cb, 0x115cc, 0x115cd,
  0x115ce, 0x115cf, 0x115d0, 0x115d1, 0x115d2, 0x115d3, 0x115d4, 0x115d5, 0x115d6, 0x115d7, 0x11641, 0x11642,
  0x1173c, 0x1173d, 0x1173e, 0x11944, 0x11946, 0x11a42, 0x11a43, 0x11a9b, 0x11a9c, 0x11c41, 0x11c42, 0x11ef7,
  0x11ef8, 0x11f43, 0x11f44, 0x16a6e, 0x16a6f, 0x16af5, 0x16b37, 0x16b38, 0x16b44, 0x16e98, 0x1bc9f, 0x1da88,
];

/** {@link TERMINAL_PUNCTUATION_CODES} as one-code-point strings. */
export const TERMINAL_PUNCTUATION: readonly string[] = TERMINAL_PUNCTUATION_CODES.map((c) => String.fromCodePoint(c));
/** @deprecated the old name of {@link TERMINAL_PUNCTUATION} (the set is now datatrove's, without " ' ” ’ …). */
export const TERMINAL_PUNCT = TERMINAL_PUNCTUATION;

const TERMINAL_SET = new Set(TERMINAL_PUNCTUATION_CODES);

/** True when the code point is in {@link TERMINAL_PUNCTUATION} (false for NaN, the last char of ""). */
export function isTerminalPunct(cp: number): boolean {
  if (cp < 0x80) return cp === 46 || cp === 33 || cp === 63;
  return TERMINAL_SET.has(cp);
}

/** The code point that ends text[.., end) (a surrogate pair read as one), or NaN when end is 0. */
export function codePointBefore(text: string, end: number): number {
  const c = text.charCodeAt(end - 1);
  if (c >= 0xdc00 && c <= 0xdfff && end >= 2) {
    const h = text.charCodeAt(end - 2);
    if (h >= 0xd800 && h <= 0xdbff) return (h - 0xd800) * 0x400 + (c - 0xdc00) + 0x10000;
  }
  return c;
}

/** True when the line's last code point is in {@link TERMINAL_PUNCTUATION} (as Python's `line.endswith(tuple(set))`). */
export function endsWithTerminalPunct(line: string): boolean {
  return isTerminalPunct(codePointBefore(line, line.length));
}
