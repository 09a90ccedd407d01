// Gopher repetition rule (Rae et al. 2021, as in datatrove's GopherRepetitionFilter): duplicate line and
// paragraph fractions (by count and by characters), top 2/3/4-gram and duplicated 5..10-gram character fractions.
import { z } from "zod";
import { type TextAddon, textAddon } from "../nativeText.js";
import type { TextView } from "../textView.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";

export const gopherRepetitionOptionsSchema = z.object({
  maxDupLineFrac: z.number().default(0.3),
  maxDupParaFrac: z.number().default(0.3),
  maxDupLineCharFrac: z.number().default(0.2),
  maxDupParaCharFrac: z.number().default(0.2),
  /** [n, max fraction of characters in the most frequent n-gram]. */
  topNGrams: z.array(z.tuple([z.number().int().min(1), z.number()])).default([[2, 0.2], [3, 0.18], [4, 0.16]]),
  /** [n, max fraction of characters in duplicated n-grams]. */
  dupNGrams: z.array(z.tuple([z.number().int().min(1), z.number()])).default([[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.1]]),
});
export type GopherRepetitionOptions = z.infer<typeof gopherRepetitionOptionsSchema>;

/** Characters of the n-gram of `n` words at `i` (words joined by single spaces), from word lengths. */
function nGramChars(lens: Int32Array, i: number, n: number): number {
  let len = n - 1;
  for (let k = 0; k < n; k++) len += lens[i + k];
  return len;
}

/**
 * The plain definition of the most-frequent n-gram figure: characters of the n-gram (joined with spaces) that
 * first reaches the highest count, times that count; 0 when no n-gram repeats. N-grams are keyed by their word ids.
 */
export function topNGramCharsPlain(ids: Int32Array, lens: Int32Array, n: number): number {
  const counts = new Map<string, number>();
  let best = 1;
  let bestAt = 0;
  for (let i = 0; i + n <= ids.length; i++) {
    const key = ids.subarray(i, i + n).join(",");
    const c = (counts.get(key) ?? 0) + 1;
    counts.set(key, c);
    if (c > best) {
      best = c;
      bestAt = i;
    }
  }
  return best < 2 ? 0 : nGramChars(lens, bestAt, n) * best;
}

/**
 * The plain definition of the duplicated n-gram figure (datatrove's find_all_duplicate): left to right, an n-gram
 * seen before adds its words' characters and the next n - 1 n-grams are skipped (not recorded).
 */
export function duplicateNGramCharsPlain(ids: Int32Array, lens: Int32Array, n: number): number {
  const seen = new Set<string>();
  let repeated = 0;
  let i = 0;
  while (i + n <= ids.length) {
    const key = ids.subarray(i, i + n).join(",");
    if (seen.has(key)) {
      repeated += nGramChars(lens, i, n) - (n - 1);
      i += n;
    } else {
      seen.add(key);
      i++;
    }
  }
  return repeated;
}

/**
 * Open-addressing map from a pair of int32 (an n-gram's class, the next word's id) to a dense class number,
 * cleared by generation stamps between sizes. Slot k holds stamp, a, b, class at 4k..4k+3 (one cache line a probe).
 */
class PairClasses {
  private slots = new Int32Array(0);
  private gen = 0;
  private mask = 0;
  /** number of classes handed out since the last reset */
  size = 0;

  /** Empties the map, with room for `items` keys. */
  reset(items: number): void {
    let cap = 16;
    while (cap < items * 2) cap <<= 1;
    if (this.slots.length < 4 * cap) {
      this.slots = new Int32Array(4 * cap);
      this.gen = 0;
    }
    this.mask = cap - 1;
    this.size = 0;
    if (++this.gen > 0x3fffffff) {
      this.slots.fill(0);
      this.gen = 1;
    }
  }

  /** The class of (a, b), numbered in order of first request. */
  classOf(a: number, b: number): number {
    const { slots, gen, mask } = this;
    let at = (Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b) >>> 15) & mask;
    for (;;) {
      const k = at << 2;
      if (slots[k] !== gen) {
        slots[k] = gen;
        slots[k + 1] = a;
        slots[k + 2] = b;
        slots[k + 3] = this.size;
        return this.size++;
      }
      if (slots[k + 1] === a && slots[k + 2] === b) return slots[k + 3];
      at = (at + 1) & mask;
    }
  }
}

const pairClasses = new PairClasses();

/**
 * The Gopher n-gram figures of {@link topNGramCharsPlain} and {@link duplicateNGramCharsPlain}, with n-grams
 * compared exactly: n-grams are numbered into classes size by size, the class of an (n+1)-gram from the class of
 * its first n words and its last word. An n-gram that occurs once cannot repeat at any larger size, so it leaves
 * the active positions for good: on prose most of them are gone by n = 3, and n-grams that occur once can neither
 * be the most frequent (count 1 never beats the starting best of 1) nor repeat an earlier one.
 */
export class NGramClassCounter {
  /** current size */
  private n = 1;
  /** active positions (n-grams that occur more than once), ascending, and the class of each */
  private act: Int32Array;
  private cls: Int32Array;
  private count: number;
  /** classes numbered at the current size (class numbers are below this) */
  private classes = 0;
  /** members per class (scratch) */
  private members = new Int32Array(0);
  private readonly prefix: Int32Array;

  constructor(
    private readonly ids: Int32Array,
    lens: Int32Array,
  ) {
    const m = ids.length;
    this.prefix = new Int32Array(m + 1);
    for (let i = 0; i < m; i++) this.prefix[i + 1] = this.prefix[i] + lens[i];
    // size 1: the word ids are the classes when they are small (a word table's ids are), else numbered
    this.act = new Int32Array(m);
    this.cls = new Int32Array(m);
    let maxId = -1;
    let small = true;
    for (let i = 0; i < m; i++) {
      if (ids[i] < 0 || ids[i] >= 4 * m + 16) small = false;
      if (ids[i] > maxId) maxId = ids[i];
    }
    if (!small) pairClasses.reset(m);
    for (let i = 0; i < m; i++) {
      this.act[i] = i;
      this.cls[i] = small ? ids[i] : pairClasses.classOf(ids[i], 0);
    }
    this.count = m;
    this.keepRepeated(small ? maxId + 1 : pairClasses.size);
  }

  /** Drops active positions whose class has one member. */
  private keepRepeated(classes: number): void {
    this.classes = classes;
    if (this.members.length < classes) this.members = new Int32Array(Math.max(classes, 2 * this.members.length));
    const members = this.members;
    members.fill(0, 0, classes);
    const { act, cls } = this;
    for (let j = 0; j < this.count; j++) members[cls[j]]++;
    let k = 0;
    for (let j = 0; j < this.count; j++) {
      if (members[cls[j]] > 1) {
        act[k] = act[j];
        cls[k] = cls[j];
        k++;
      }
    }
    this.count = k;
  }

  /** Moves to size `n` (>= the current size). */
  private advanceTo(n: number): void {
    const { ids, act, cls } = this;
    while (this.n < n) {
      const size = this.n;
      // an n-gram at i extends to i + size; those at the end of the text cannot
      pairClasses.reset(this.count);
      let k = 0;
      for (let j = 0; j < this.count; j++) {
        const i = act[j];
        if (i + size >= ids.length) continue;
        act[k] = i;
        cls[k] = pairClasses.classOf(cls[j], ids[i + size]);
        k++;
      }
      this.count = k;
      this.n++;
      this.keepRepeated(pairClasses.size);
    }
  }

  /** Characters held by the most frequent n-gram times its count (0 when none repeats). */
  top(n: number): number {
    this.advanceTo(n);
    const { act, cls, members } = this;
    // running counts, in text order: the first class to reach the highest count wins ties
    members.fill(0, 0, this.classes);
    let best = 1;
    let bestAt = 0;
    for (let j = 0; j < this.count; j++) {
      const c = ++members[cls[j]];
      if (c > best) {
        best = c;
        bestAt = act[j];
      }
    }
    return best < 2 ? 0 : (n - 1 + this.prefix[bestAt + n] - this.prefix[bestAt]) * best;
  }

  /** Characters in duplicated n-grams, counting non-overlapping repeats (skipped n-grams are not recorded). */
  duplicated(n: number): number {
    this.advanceTo(n);
    const { act, cls, members, prefix } = this;
    members.fill(0, 0, this.classes);
    let repeated = 0;
    let next = 0;
    for (let j = 0; j < this.count; j++) {
      const i = act[j];
      if (i < next) continue;
      if (members[cls[j]] === 1) {
        repeated += prefix[i + n] - prefix[i];
        next = i + n;
      } else members[cls[j]] = 1;
    }
    return repeated;
  }
}

let lensScratch = new Int32Array(1024);

/** One n-gram check of the rule: the most frequent n-gram (`top`) or duplicated n-grams, and its limit. */
interface NGramCheck {
  n: number;
  frac: number;
  top: boolean;
}

/** Gopher repetition heuristics; reasons: `dup_para_frac`, `dup_para_char_frac`, `dup_line_frac`, `dup_line_char_frac`, `top_<n>_gram`, `duplicated_<n>_n_grams`. */
export class GopherRepetitionRule implements QualityRule {
  readonly name = "gopher_repetition";
  /** the n-gram checks by n (top before duplicated at the same n), and the same as arrays for the native kernel */
  private readonly checks: NGramCheck[];
  private readonly sizes: Int32Array;
  private readonly tops: Uint8Array;
  private readonly limits: Float64Array;
  private readonly figures: Float64Array;
  constructor(
    readonly opts: GopherRepetitionOptions,
    readonly scope: RuleScope,
    /** the native text kernels, when loaded (tests pass null for the TypeScript path) */
    private readonly addon: TextAddon | null = textAddon,
  ) {
    this.checks = [...opts.topNGrams.map(([n, frac]) => ({ n, frac, top: true })), ...opts.dupNGrams.map(([n, frac]) => ({ n, frac, top: false }))].sort((a, b) => a.n - b.n);
    this.sizes = Int32Array.from(this.checks, (c) => c.n);
    this.tops = Uint8Array.from(this.checks, (c) => (c.top ? 1 : 0));
    this.limits = Float64Array.from(this.checks, (c) => c.frac);
    this.figures = new Float64Array(this.checks.length);
  }

  check(v: TextView): RuleOutcome | null {
    const o = this.opts;
    const len = Math.max(1, v.text.length);
    const r = v.repeats;
    if (r.dupParagraphs / r.paragraphs > o.maxDupParaFrac)
      return { remove: "dup_para_frac", detail: `duplicate paragraphs ${(r.dupParagraphs / r.paragraphs).toFixed(2)} > ${o.maxDupParaFrac}` };
    if (r.dupParagraphChars / len > o.maxDupParaCharFrac)
      return { remove: "dup_para_char_frac", detail: `duplicate paragraph chars ${(r.dupParagraphChars / len).toFixed(2)} > ${o.maxDupParaCharFrac}` };
    if (r.lines > 0) {
      if (r.dupLines / r.lines > o.maxDupLineFrac)
        return { remove: "dup_line_frac", detail: `duplicate lines ${(r.dupLines / r.lines).toFixed(2)} > ${o.maxDupLineFrac}` };
      if (r.dupLineChars / len > o.maxDupLineCharFrac)
        return { remove: "dup_line_char_frac", detail: `duplicate line chars ${(r.dupLineChars / len).toFixed(2)} > ${o.maxDupLineCharFrac}` };
    }
    const { count, start, end, id: ids } = v.wordTable;
    if (lensScratch.length < count) lensScratch = new Int32Array(count * 2);
    const lens = lensScratch.subarray(0, count);
    for (let i = 0; i < count; i++) lens[i] = end[i] - start[i];
    if (this.addon) {
      const k = this.addon.ngramFigures(ids, lens, this.sizes, this.tops, this.limits, len, this.figures);
      return k < 0 ? null : nGramOutcome(this.checks[k], this.figures[k], len);
    }
    const h = new NGramClassCounter(ids, lens);
    for (const c of this.checks) {
      const figure = c.top ? h.top(c.n) : h.duplicated(c.n);
      if (figure / len > c.frac) return nGramOutcome(c, figure, len);
    }
    return null;
  }
}

/** The removal for an n-gram check whose figure (characters) is over its limit. */
function nGramOutcome(c: NGramCheck, figure: number, len: number): RuleOutcome {
  return c.top
    ? { remove: `top_${c.n}_gram`, detail: `top ${c.n}-gram chars ${(figure / len).toFixed(3)} > ${c.frac}` }
    : { remove: `duplicated_${c.n}_n_grams`, detail: `duplicated ${c.n}-gram chars ${(figure / len).toFixed(3)} > ${c.frac}` };
}
