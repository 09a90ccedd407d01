// Gopher repetition rule, as datatrove a649de79 defines it (GopherRepetitionFilter,
// src/datatrove/pipeline/filters/gopher_repetition_filter.py), which implements Rae et al. 2021 (Gopher, appendix A,
// table A1): repeated paragraphs and lines (by count and by characters), the most frequent 2/3/4-gram's characters
// and the characters in repeated 5..10-grams, each over the text's length in code points. Words are datatrove's
// English words (TextView.englishWords); paragraphs split on runs of 2+ "\n" of the stripped text, lines on runs of
// "\n" of the raw text (so outer newlines make empty lines); top n-grams are words joined by spaces, repeated
// n-grams words joined with nothing (so "ab c" repeats "a bc"). A threshold of null or 0 is off; an empty text,
// where datatrove divides by zero, is kept. Reasons are datatrove's own names: dup_para_frac, dup_para_char_frac,
// dup_line_frac, dup_line_char_frac, top_<n>_gram, duplicated_<n>_n_grams.
//
// The figures come from one polynomial hash pass over the text (paragraphs, lines, words and n-grams are then O(1)
// to hash), every hash match verified on the characters, so the figures are exact; the plain definitions below
// (string lists, as datatrove computes them) are what test/data/gopherRules.test.ts holds the fast path to. When
// the native text addon is loaded (not with LLMFORGE_DATA_NATIVE=0) the rule takes its C++ twin of the figures
// (native/text.cc gopherLineRepeats, gopherNGrams: integer counts, divided here; ~2.8x the TypeScript's speed on
// the Gopher corpus), held equal to gopherRepetitionFigures by test/data/gopherNative.test.ts, so the decisions do
// not depend on which ran.
import { z } from "zod";
import { type TextAddon, textAddon } from "../nativeText.js";
import type { TextView } from "../textView.js";
import { isPySpace } from "../words/pyString.js";
import type { TokenSpans } from "../words/spacyEnglish.js";
import { thresholdOn } from "./gopherQuality.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";

/** A fraction that null (or 0, as datatrove's `if frac and ...` reads it) switches off. */
const frac = (d: number) => z.number().nonnegative().nullable().default(d);
const nGramLimits = z.array(z.tuple([z.number().int().min(1), z.number().nonnegative()]));

export const gopherRepetitionOptionsSchema = z.object({
  maxDupLineFrac: frac(0.3),
  maxDupParaFrac: frac(0.3),
  maxDupLineCharFrac: frac(0.2),
  maxDupParaCharFrac: frac(0.2),
  /** [n, most characters of the most frequent n-gram (times its count) per character of text], checked in order. */
  topNGrams: nGramLimits.default([
    [2, 0.2],
    [3, 0.18],
    [4, 0.16],
  ]),
  /** [n, most characters in repeated n-grams per character of text], checked in order after the top n-grams. */
  dupNGrams: nGramLimits.default([
    [5, 0.15],
    [6, 0.14],
    [7, 0.13],
    [8, 0.12],
    [9, 0.11],
    [10, 0.1],
  ]),
});
export type GopherRepetitionOptions = z.infer<typeof gopherRepetitionOptionsSchema>;

// ------------------------------------------------------------------------------------------------------------------
// The plain definitions, on strings.

/** How many items equal an earlier one, and their characters (code points). */
export function repeatedItemsPlain(items: readonly string[]): {
  items: number;
  chars: number;
} {
  const seen = new Set<string>();
  let n = 0;
  let chars = 0;
  for (const x of items) {
    if (seen.has(x)) {
      n++;
      chars += codePointLength(x);
    } else seen.add(x);
  }
  return { items: n, chars };
}

/** datatrove's paragraphs (`re.split(r"\n{2,}", text.strip())`) and lines (`re.split("\n+", text)`). */
export function paragraphsAndLinesPlain(text: string): {
  paragraphs: string[];
  lines: string[];
} {
  let a = 0;
  let b = text.length;
  while (a < b && isPySpace(text.charCodeAt(a))) a++;
  while (b > a && isPySpace(text.charCodeAt(b - 1))) b--;
  return {
    paragraphs: text.slice(a, b).split(/\n{2,}/),
    lines: text.split(/\n+/),
  };
}

/**
 * Characters of the most frequent n-gram (its words joined by spaces) times its count; of n-grams with the same
 * count the first seen wins, so with no repeat it is the first n-gram, once. Null for fewer than n words.
 */
export function topNGramCharsPlain(words: readonly string[], n: number): number | null {
  if (words.length < n) return null;
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const g = words.slice(i, i + n).join(" ");
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  let best = 0;
  let top = "";
  for (const [g, c] of counts) {
    if (c > best) {
      best = c;
      top = g;
    }
  }
  return codePointLength(top) * best;
}

/**
 * Characters in repeated n-grams, an n-gram keyed by its words joined with nothing between: left to right, a key
 * seen before adds its characters and jumps n words; otherwise it is remembered and the scan moves one word.
 */
export function duplicatedNGramCharsPlain(words: readonly string[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  let i = 0;
  while (i + n <= words.length) {
    const g = words.slice(i, i + n).join("");
    if (seen.has(g)) {
      total += codePointLength(g);
      i += n;
    } else {
      seen.add(g);
      i++;
    }
  }
  return total;
}

/** Python's len(): code points, a lone surrogate counting one. */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let j = 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c >= 0xdc00 && c <= 0xdfff) {
      const h = s.charCodeAt(j - 1);
      if (h >= 0xd800 && h <= 0xdbff) n--;
    }
  }
  return n;
}

// ------------------------------------------------------------------------------------------------------------------
// The fast path: one hash pass over the text.

const B = 0x01000193;
/** B^k mod 2^32, grown as texts need */
let pow = new Int32Array(0);

function powTo(n: number): Int32Array {
  if (pow.length > n) return pow;
  const next = new Int32Array(Math.max(n + 1, 2 * pow.length, 1024));
  next[0] = 1;
  for (let k = 1; k < next.length; k++) next[k] = Math.imul(next[k - 1], B);
  pow = next;
  return pow;
}

/** Grows a scratch array to hold `n` entries. */
function grow(a: Int32Array, n: number): Int32Array {
  return a.length >= n ? a : new Int32Array(Math.max(n, 2 * a.length));
}

let hashScratch: Int32Array = new Int32Array(1024);
let cpScratch: Int32Array = new Int32Array(1024);

/** Prefix hashes of a text (h[j] = hash of text[0, j)) and, when it has surrogates, code point prefix counts. */
class TextHash {
  readonly h: Int32Array;
  readonly pw: Int32Array;
  /** cp[j] = code points in text[0, j), or null when the text has no surrogates (then cp[j] = j) */
  readonly cp: Int32Array | null;
  constructor(readonly text: string) {
    const n = text.length;
    hashScratch = grow(hashScratch, n + 1);
    const h = hashScratch;
    h[0] = 0;
    let v = 0;
    let surrogates = false;
    for (let j = 0; j < n; j++) {
      const c = text.charCodeAt(j);
      if (c >= 0xd800 && c <= 0xdfff) surrogates = true;
      v = (Math.imul(v, B) + c) | 0;
      h[j + 1] = v;
    }
    this.h = h;
    this.pw = powTo(n);
    this.cp = null;
    if (surrogates) {
      cpScratch = grow(cpScratch, n + 1);
      const cp = cpScratch;
      cp[0] = 0;
      for (let j = 0; j < n; j++) {
        const c = text.charCodeAt(j);
        const pairTail = c >= 0xdc00 && c <= 0xdfff && j > 0 && text.charCodeAt(j - 1) >= 0xd800 && text.charCodeAt(j - 1) <= 0xdbff;
        cp[j + 1] = cp[j] + (pairTail ? 0 : 1);
      }
      this.cp = cp;
    }
  }

  /** Hash of text[a, b). */
  of(a: number, b: number): number {
    return (this.h[b] - Math.imul(this.h[a], this.pw[b - a])) | 0;
  }

  /** Code points in text[a, b). */
  cps(a: number, b: number): number {
    return this.cp ? this.cp[b] - this.cp[a] : b - a;
  }

  /** True when text[a, a + len) equals text[c, c + len). */
  same(a: number, c: number, len: number): boolean {
    const t = this.text;
    for (let k = 0; k < len; k++) if (t.charCodeAt(a + k) !== t.charCodeAt(c + k)) return false;
    return true;
  }
}

/**
 * Open-addressing table of (hash, item) with generation stamps, cleared in O(1) between uses. Callers probe it
 * themselves (`slot`, then `next` past a slot whose item is not the one they look for), so that checking a
 * candidate's characters needs no callback.
 */
class HashTable {
  stamp = new Int32Array(0);
  key = new Int32Array(0);
  item = new Int32Array(0);
  gen = 0;
  private mask = 0;

  reset(items: number): void {
    let cap = 16;
    while (cap < items * 2) cap <<= 1;
    if (this.stamp.length < cap) {
      this.stamp = new Int32Array(cap);
      this.key = new Int32Array(cap);
      this.item = new Int32Array(cap);
      this.gen = 0;
    }
    this.mask = cap - 1;
    if (++this.gen > 0x3fffffff) {
      this.stamp.fill(0);
      this.gen = 1;
    }
  }

  /** The first slot to probe for `hash`. */
  slot(hash: number): number {
    return (Math.imul(hash, 0x9e3779b1) >>> 12) & this.mask;
  }

  next(at: number): number {
    return (at + 1) & this.mask;
  }

  /** True when the slot is free (then `put` may fill it). */
  free(at: number): boolean {
    return this.stamp[at] !== this.gen;
  }

  put(at: number, hash: number, item: number): void {
    this.stamp[at] = this.gen;
    this.key[at] = hash;
    this.item[at] = item;
  }
}

const table = new HashTable();

/** Repeated items among the spans `from[k]..to[k]` of the text: how many equal an earlier one, and their code points. */
function repeatedSpans(th: TextHash, from: Int32Array, to: Int32Array, count: number): { items: number; chars: number } {
  table.reset(count);
  let items = 0;
  let chars = 0;
  for (let k = 0; k < count; k++) {
    const a = from[k];
    const b = to[k];
    const hash = th.of(a, b);
    for (let at = table.slot(hash); ; at = table.next(at)) {
      if (table.free(at)) {
        table.put(at, hash, k);
        break;
      }
      const o = table.item[at];
      if (table.key[at] === hash && to[o] - from[o] === b - a && th.same(from[o], a, b - a)) {
        items++;
        chars += th.cps(a, b);
        break;
      }
    }
  }
  return { items, chars };
}

let spanFrom = new Int32Array(256);
let spanTo = new Int32Array(256);

/** Paragraph spans (`re.split(r"\n{2,}", text.strip())`) into spanFrom/spanTo; returns their number. */
function paragraphSpans(text: string): number {
  let a = 0;
  let b = text.length;
  while (a < b && isPySpace(text.charCodeAt(a))) a++;
  while (b > a && isPySpace(text.charCodeAt(b - 1))) b--;
  let k = 0;
  let s = a;
  for (let j = text.indexOf("\n\n", a); j >= 0 && j + 1 < b; j = text.indexOf("\n\n", j)) {
    k = pushSpan(k, s, j);
    j += 2;
    while (j < b && text.charCodeAt(j) === 10) j++;
    s = j;
  }
  return pushSpan(k, s, b);
}

/** Line spans (`re.split("\n+", text)`) into spanFrom/spanTo; returns their number. */
function lineSpans(text: string): number {
  const n = text.length;
  let k = 0;
  let s = 0;
  for (let j = text.indexOf("\n"); j >= 0; j = text.indexOf("\n", j)) {
    k = pushSpan(k, s, j);
    while (j < n && text.charCodeAt(j) === 10) j++;
    s = j;
  }
  return pushSpan(k, s, n);
}

function pushSpan(k: number, s: number, e: number): number {
  if (k >= spanFrom.length) {
    const from = new Int32Array(2 * spanFrom.length);
    const to = new Int32Array(2 * spanFrom.length);
    from.set(spanFrom);
    to.set(spanTo);
    spanFrom = from;
    spanTo = to;
  }
  spanFrom[k] = s;
  spanTo[k] = e;
  return k + 1;
}

/** Scratch arrays of the word figures, grown as texts need (the rule runs one text at a time). */
const scratch = {
  u: new Int32Array(1024),
  c: new Int32Array(1024),
  p: new Int32Array(1024),
  ids: new Int32Array(1024),
  counts: new Int32Array(1024),
  act: new Int32Array(1024),
  cls: new Int32Array(1024),
  members: new Int32Array(1024),
  hashes: new Int32Array(1024),
  cand: new Int32Array(1024),
  seen: new Uint32Array(64),
  twice: new Uint32Array(64),
};

/**
 * The words of a text as the n-gram figures need them: prefix sums of their lengths (UTF-16 units and code
 * points) and prefix hashes of the words joined with nothing between, so that any run of words hashes in O(1);
 * on request a dense id per distinct word (first seen first) and each id's count.
 */
class WordRuns {
  readonly count: number;
  /** u[i] = UTF-16 units of words 0..i-1; c[i] = their code points */
  readonly u: Int32Array;
  readonly c: Int32Array;
  /** p[i] = hash of words 0..i-1 joined with nothing between */
  readonly p: Int32Array;
  private _ids: Int32Array | null = null;
  constructor(
    readonly th: TextHash,
    readonly words: TokenSpans,
  ) {
    const m = words.count;
    const { start, end } = words;
    this.count = m;
    if (scratch.u.length < m + 1) {
      const cap = 2 * (m + 1);
      scratch.u = new Int32Array(cap);
      scratch.c = new Int32Array(cap);
      scratch.p = new Int32Array(cap);
    }
    const { u, c, p } = scratch;
    this.u = u;
    this.c = c;
    this.p = p;
    const pw = th.pw;
    const cp = th.cp;
    for (let i = 0; i < m; i++) {
      const s = start[i];
      const e = end[i];
      const len = e - s;
      u[i + 1] = u[i] + len;
      c[i + 1] = c[i] + (cp ? cp[e] - cp[s] : len);
      p[i + 1] = (Math.imul(p[i], pw[len]) + th.of(s, e)) | 0;
    }
  }

  /** A dense id per word, equal for equal words (first seen first). */
  get ids(): Int32Array {
    if (this._ids) return this._ids;
    const m = this.count;
    const { start, end } = this.words;
    const th = this.th;
    if (scratch.ids.length < m) scratch.ids = new Int32Array(2 * m);
    const ids = scratch.ids;
    table.reset(m);
    let distinct = 0;
    for (let i = 0; i < m; i++) {
      const s = start[i];
      const len = end[i] - s;
      const h = this.joined(i, i + 1);
      for (let at = table.slot(h); ; at = table.next(at)) {
        if (table.free(at)) {
          table.put(at, h, i);
          ids[i] = distinct++;
          break;
        }
        const o = table.item[at];
        if (table.key[at] === h && end[o] - start[o] === len && th.same(start[o], s, len)) {
          ids[i] = ids[o];
          break;
        }
      }
    }
    this._ids = ids;
    return ids;
  }

  /** Hash of words i..j-1 joined with nothing between. */
  joined(i: number, j: number): number {
    return (this.p[j] - Math.imul(this.p[i], this.th.pw[this.u[j] - this.u[i]])) | 0;
  }

  /**
   * Hash of the first `len` UTF-16 units of the words from i on, joined (they hold at least `len`); `k` is the
   * word where those units end (u[k] <= u[i] + len <= u[k + 1]).
   */
  prefix(i: number, len: number, k: number): number {
    const r = this.u[i] + len - this.u[k];
    const head = this.joined(i, k);
    if (r === 0) return head;
    const s = this.words.start[k];
    return (Math.imul(head, this.th.pw[r]) + this.th.of(s, s + r)) | 0;
  }

  /** True when words i.. and j.., joined with nothing between, agree on their first `len` UTF-16 units. */
  sameJoined(i: number, j: number, len: number): boolean {
    const { start, end } = this.words;
    const t = this.th.text;
    let wi = i;
    let wj = j;
    let pi = start[i];
    let pj = start[j];
    for (let k = 0; k < len; k++) {
      while (pi === end[wi]) pi = start[++wi];
      while (pj === end[wj]) pj = start[++wj];
      if (t.charCodeAt(pi++) !== t.charCodeAt(pj++)) return false;
    }
    return true;
  }

  /**
   * Bounds on the top n-gram figures for sizes 1..maxN (bound[n], 0 where the text has fewer than n words): no
   * n-gram occurs more often than the rarest of its words, so no characters-times-count is above the largest
   * (its characters) * (its rarest word's count). Word counts are taken per hash bucket without checking the
   * characters: words sharing a bucket only raise the counts, and the bound with them.
   */
  topBounds(maxN: number): Float64Array {
    const m = this.count;
    const { u, c, p } = this;
    const pw = this.th.pw;
    let logBits = 6;
    while (1 << logBits < 2 * m) logBits++;
    const size = 1 << logBits;
    if (scratch.counts.length < size) scratch.counts = new Int32Array(2 * size);
    if (scratch.hashes.length < m) scratch.hashes = new Int32Array(2 * m);
    const buckets = scratch.counts;
    const bucketOf = scratch.hashes;
    buckets.fill(0, 0, size);
    const shift = 32 - logBits;
    for (let i = 0; i < m; i++) {
      const h = (p[i + 1] - Math.imul(p[i], pw[u[i + 1] - u[i]])) | 0;
      const b = Math.imul(h, 0x9e3779b1) >>> shift;
      bucketOf[i] = b;
      buckets[b]++;
    }
    const bound = new Float64Array(Math.min(maxN, m) + 1);
    maxN = Math.min(maxN, m);
    for (let i = 0; i < m; i++) {
      let least = buckets[bucketOf[i]];
      for (let n = 1; n <= maxN && i + n <= m; n++) {
        if (n > 1) {
          const k = buckets[bucketOf[i + n - 1]];
          if (k < least) least = k;
        }
        const b = (c[i + n] - c[i] + n - 1) * least;
        if (b > bound[n]) bound[n] = b;
      }
    }
    return bound;
  }
}

/**
 * Map from a pair of int32 (an n-gram's class, the next word's id) to a dense class number, for the top n-gram
 * figures: n-grams compared as word sequences (datatrove joins them with spaces, and words hold no spaces).
 */
class PairClasses {
  private slots = new Int32Array(0);
  private gen = 0;
  private mask = 0;
  size = 0;

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
 * The top n-gram figures size after size (non-decreasing). n-grams are numbered into classes, the class of an
 * (n+1)-gram from the class of its first n words and its last word; an n-gram that occurs once cannot repeat at a
 * larger size, so it leaves the active positions for good (on prose most are gone by n = 3).
 */
class TopNGrams {
  n = 1;
  private readonly act: Int32Array;
  private readonly cls: Int32Array;
  private count: number;

  constructor(private readonly w: WordRuns) {
    const m = w.count;
    const ids = w.ids;
    if (scratch.act.length < m) scratch.act = new Int32Array(2 * m);
    if (scratch.cls.length < m) scratch.cls = new Int32Array(2 * m);
    this.act = scratch.act;
    this.cls = scratch.cls;
    let classes = 0;
    for (let i = 0; i < m; i++) {
      this.act[i] = i;
      this.cls[i] = ids[i];
      if (ids[i] >= classes) classes = ids[i] + 1;
    }
    this.count = m;
    this.keepRepeated(classes);
  }

  /** Counts the members of each class (into scratch.members) and drops active positions whose class has one. */
  private keepRepeated(classes: number): void {
    if (scratch.members.length < classes) scratch.members = new Int32Array(2 * classes);
    const members = scratch.members;
    const { act, cls } = this;
    members.fill(0, 0, classes);
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

  private advanceTo(n: number): void {
    const { act, cls } = this;
    const ids = this.w.ids;
    while (this.n < n) {
      const size = this.n;
      pairClasses.reset(this.count);
      let k = 0;
      for (let j = 0; j < this.count; j++) {
        const i = act[j];
        if (i + size >= this.w.count) continue;
        act[k] = i;
        cls[k] = pairClasses.classOf(cls[j], ids[i + size]);
        k++;
      }
      this.count = k;
      this.n++;
      this.keepRepeated(pairClasses.size);
    }
  }

  /** {@link topNGramCharsPlain} for size n (>= the last size asked; the text has at least n words). */
  top(n: number): number {
    this.advanceTo(n);
    const { act, cls } = this;
    const members = scratch.members;
    const { c } = this.w;
    // the largest count, then its first position in text order: the first seen of the classes with that count
    let best = 1;
    for (let j = 0; j < this.count; j++) if (members[cls[j]] > best) best = members[cls[j]];
    let at = 0;
    if (best > 1) {
      for (let j = 0; j < this.count; j++) {
        if (members[cls[j]] === best) {
          at = act[j];
          break;
        }
      }
    }
    return (c[at + n] - c[at] + n - 1) * best;
  }
}

/**
 * The repeated n-gram figures size after size (non-decreasing), n-grams keyed by their words joined with nothing
 * between. Two n-grams with the same key start with the same `m` characters for any `m` up to the key's length,
 * so at each size the positions whose first m characters (m = the shortest n-gram still in play) occur at no
 * other active word start can take no part at this size or any larger one, and leave for good.
 */
class DuplicatedNGrams {
  n = 0;
  private readonly act: Int32Array;
  private count: number;

  constructor(private readonly w: WordRuns) {
    const m = w.count;
    if (scratch.hashes.length < m) scratch.hashes = new Int32Array(2 * m);
    if (scratch.act.length < m) scratch.act = new Int32Array(2 * m);
    // shares scratch.act with TopNGrams, which the rule is done with by now
    this.act = scratch.act;
    for (let i = 0; i < m; i++) this.act[i] = i;
    this.count = m;
  }

  /**
   * Drops the active positions that cannot start an n-gram repeated elsewhere: those whose first `shortest`
   * characters hash to a bucket no other active position's do (a shared bucket keeps both, which is safe).
   */
  private narrow(n: number): void {
    const { act, w } = this;
    const { u, p } = w;
    const m = w.count;
    const hashes = scratch.hashes;
    let k = 0;
    let shortest = 0x7fffffff;
    for (let j = 0; j < this.count; j++) {
      const i = act[j];
      if (i + n > m) break;
      act[k++] = i;
      const l = u[i + n] - u[i];
      if (l < shortest) shortest = l;
    }
    if (k < 2) {
      this.count = 0;
      return;
    }
    let logBits = 6;
    while (1 << logBits < 4 * k) logBits++;
    const words32 = 1 << (logBits - 5);
    if (scratch.seen.length < words32) {
      scratch.seen = new Uint32Array(words32);
      scratch.twice = new Uint32Array(words32);
    }
    const { seen, twice } = scratch;
    seen.fill(0, 0, words32);
    twice.fill(0, 0, words32);
    const shift = 32 - logBits;
    const pw = w.th.pw;
    const th = w.th.h;
    const start = w.words.start;
    // the hash of each start's first `shortest` units: whole words up to word `end` (found by a pointer that
    // only moves on), then the first r units of word `end`
    let end = 0;
    for (let j = 0; j < k; j++) {
      const i = act[j];
      const stop = u[i] + shortest;
      if (end < i) end = i;
      while (end + 1 < m && u[end + 1] <= stop) end++;
      const r = stop - u[end];
      let h = (p[end] - Math.imul(p[i], pw[u[end] - u[i]])) | 0;
      if (r > 0) {
        const s = start[end];
        h = (Math.imul(h, pw[r]) + ((th[s + r] - Math.imul(th[s], pw[r])) | 0)) | 0;
      }
      const b = Math.imul(h, 0x9e3779b1) >>> shift;
      hashes[j] = b;
      const bit = 1 << (b & 31);
      if (seen[b >>> 5] & bit) twice[b >>> 5] |= bit;
      else seen[b >>> 5] |= bit;
    }
    let kept = 0;
    for (let j = 0; j < k; j++) {
      const b = hashes[j];
      if (twice[b >>> 5] & (1 << (b & 31))) act[kept++] = act[j];
    }
    this.count = kept;
  }

  /**
   * {@link duplicatedNGramCharsPlain} for size n (>= the last size asked), or null when a bound shows that
   * figure / len <= frac (pass frac -1 for the figure always).
   */
  duplicated(n: number, len: number, frac: number): number | null {
    this.narrow(n);
    this.n = n;
    const { act, w } = this;
    const { u, c } = w;
    const count = this.count;
    if (count < 2) return 0;
    // candidates at this size: active positions whose whole n-gram hashes to a bucket another one's does (the
    // others cannot repeat or be repeated at this size; they stay active for the larger sizes)
    let logBits = 6;
    while (1 << logBits < 4 * count) logBits++;
    const words32 = 1 << (logBits - 5);
    const { seen, twice } = scratch;
    seen.fill(0, 0, words32);
    twice.fill(0, 0, words32);
    const shift = 32 - logBits;
    if (scratch.cand.length < count) scratch.cand = new Int32Array(2 * count);
    const cand = scratch.cand;
    const keys = scratch.hashes;
    for (let j = 0; j < count; j++) {
      const i = act[j];
      const h = w.joined(i, i + n);
      keys[j] = h;
      const b = Math.imul(h, 0x9e3779b1) >>> shift;
      const bit = 1 << (b & 31);
      if (seen[b >>> 5] & bit) twice[b >>> 5] |= bit;
      else seen[b >>> 5] |= bit;
    }
    let k = 0;
    for (let j = 0; j < count; j++) {
      const b = Math.imul(keys[j], 0x9e3779b1) >>> shift;
      if (twice[b >>> 5] & (1 << (b & 31))) {
        cand[k] = act[j];
        keys[k] = keys[j];
        k++;
      }
    }
    // the figure is at most the characters of the candidates' words together
    let covered = 0;
    let reach = 0;
    for (let j = 0; j < k; j++) {
      const i = cand[j];
      const from = Math.max(i, reach);
      if (i + n > from) covered += c[i + n] - c[from];
      reach = i + n;
    }
    if (covered / len <= frac) return null;
    table.reset(k);
    let total = 0;
    let next = 0;
    for (let j = 0; j < k; j++) {
      const i = cand[j];
      if (i < next) continue;
      const units = u[i + n] - u[i];
      const hash = keys[j];
      for (let at = table.slot(hash); ; at = table.next(at)) {
        if (table.free(at)) {
          table.put(at, hash, i);
          break;
        }
        const o = table.item[at];
        if (table.key[at] === hash && u[o + n] - u[o] === units && w.sameJoined(o, i, units)) {
          total += c[i + n] - c[i];
          next = i + n;
          break;
        }
      }
    }
    return total;
  }
}

/** Every figure of the rule by the fast path, no bound taken (for tests against the plain definitions). */
export function gopherRepetitionFigures(text: string, words: TokenSpans, tops: readonly number[], dups: readonly number[]) {
  const th = new TextHash(text);
  const np = paragraphSpans(text);
  const p = repeatedSpans(th, spanFrom, spanTo, np);
  const nl = lineSpans(text);
  const l = repeatedSpans(th, spanFrom, spanTo, nl);
  const w = new WordRuns(th, words);
  let top: TopNGrams | null = null;
  const topFigures = tops.map((n) => {
    if (w.count < n) return null;
    if (!top || top.n > n) top = new TopNGrams(w);
    return top.top(n);
  });
  let dup: DuplicatedNGrams | null = null;
  const dupFigures = dups.map((n) => {
    if (!dup || dup.n > n) dup = new DuplicatedNGrams(w);
    return dup.duplicated(n, 1, -1);
  });
  return {
    length: th.cps(0, text.length),
    paragraphs: np,
    dupParagraphs: p.items,
    dupParagraphChars: p.chars,
    lines: nl,
    dupLines: l.items,
    dupLineChars: l.chars,
    top: topFigures,
    topBound: ((b) => tops.map((n) => (w.count < n ? null : b[n])))(w.topBounds(Math.max(0, ...tops))),
    dup: dupFigures,
  };
}

/** The text addon when it has the Gopher kernels (a stale build without them falls back to the TypeScript). */
export const gopherNativeAddon: TextAddon | null = typeof textAddon?.gopherNGrams === "function" ? textAddon : null;

/** {@link gopherRepetitionFigures} (less its bounds) by the native kernels of `addon`. */
export function gopherRepetitionFiguresNative(addon: TextAddon, text: string, words: TokenSpans, tops: readonly number[], dups: readonly number[]) {
  const l = new Float64Array(7);
  addon.gopherLineRepeats(text, l);
  const out = new Float64Array(tops.length + dups.length);
  addon.gopherNGrams(text, words.start, words.end, words.count, Int32Array.from(tops), Int32Array.from(dups), out);
  return {
    length: l[0],
    paragraphs: l[1],
    dupParagraphs: l[2],
    dupParagraphChars: l[3],
    lines: l[4],
    dupLines: l[5],
    dupLineChars: l[6],
    top: tops.map((_, k) => (out[k] < 0 ? null : out[k])),
    dup: dups.map((_, k) => out[tops.length + k]),
  };
}

/** Gopher repetition heuristics; reasons: see the file header. */
export class GopherRepetitionRule implements QualityRule {
  readonly name = "gopher_repetition";
  private readonly maxTopN: number;
  private readonly tops: Int32Array;
  private readonly dups: Int32Array;
  private readonly topLimits: Float64Array;
  /** the native kernels' outputs: the line figures, then the n-gram figures (one text at a time) */
  private readonly lineOut = new Float64Array(7);
  private readonly ngramOut: Float64Array;
  /** @param addon the native kernels, or null for the TypeScript figures (the definition) */
  constructor(
    readonly opts: GopherRepetitionOptions,
    readonly scope: RuleScope,
    private readonly addon: TextAddon | null = gopherNativeAddon,
  ) {
    this.maxTopN = Math.max(0, ...opts.topNGrams.map(([n]) => n));
    this.tops = Int32Array.from(opts.topNGrams, ([n]) => n);
    this.dups = Int32Array.from(opts.dupNGrams, ([n]) => n);
    this.topLimits = Float64Array.from(opts.topNGrams, ([, f]) => f);
    this.ngramOut = new Float64Array(this.tops.length + this.dups.length);
  }

  check(v: TextView): RuleOutcome | null {
    return this.checkWords(v.text, () => v.englishWords);
  }

  /** The decision on `text`; `words` gives its datatrove English words (asked only when the n-gram checks run). */
  checkWords(text: string, words: () => TokenSpans): RuleOutcome | null {
    return this.addon ? this.checkNative(this.addon, text, words) : this.checkTs(text, words);
  }

  /** {@link checkWords} on the native figures: the same checks, in the same order, on the same integers. */
  private checkNative(addon: TextAddon, text: string, words: () => TokenSpans): RuleOutcome | null {
    const o = this.opts;
    const l = this.lineOut;
    addon.gopherLineRepeats(text, l);
    const len = l[0] || Number.POSITIVE_INFINITY;
    const lineOutcome = this.lineOutcome(len, l[1], l[2], l[3], l[4], l[5], l[6]);
    if (lineOutcome || (o.topNGrams.length === 0 && o.dupNGrams.length === 0)) return lineOutcome;
    const w = words();
    const out = this.ngramOut;
    // most texts are far from the top n-gram limits: a bound settles them without counting n-grams
    addon.gopherNGrams(text, w.start, w.end, w.count, this.tops, this.dups, out, len, this.topLimits);
    for (let k = 0; k < o.topNGrams.length; k++) {
      const [n, f] = o.topNGrams[k];
      // -1: fewer words than n; -2: the bound is within the limit
      if (out[k] >= 0 && out[k] / len > f) return topOutcome(n, out[k] / len, f);
    }
    for (let k = 0; k < o.dupNGrams.length; k++) {
      const [n, f] = o.dupNGrams[k];
      const figure = out[o.topNGrams.length + k];
      if (figure / len > f) return dupOutcome(n, figure / len, f);
    }
    return null;
  }

  /** The paragraph and line checks, in datatrove's order. */
  private lineOutcome(len: number, np: number, paraItems: number, paraChars: number, nl: number, lineItems: number, lineChars: number): RuleOutcome | null {
    const o = this.opts;
    if (thresholdOn(o.maxDupParaFrac) && paraItems / np > o.maxDupParaFrac)
      return {
        remove: "dup_para_frac",
        detail: `repeated paragraphs ${paraItems}/${np} > ${o.maxDupParaFrac}`,
      };
    if (thresholdOn(o.maxDupParaCharFrac) && paraChars / len > o.maxDupParaCharFrac)
      return {
        remove: "dup_para_char_frac",
        detail: `repeated paragraph chars ${(paraChars / len).toFixed(3)} > ${o.maxDupParaCharFrac}`,
      };
    if (thresholdOn(o.maxDupLineFrac) && lineItems / nl > o.maxDupLineFrac)
      return {
        remove: "dup_line_frac",
        detail: `repeated lines ${lineItems}/${nl} > ${o.maxDupLineFrac}`,
      };
    if (thresholdOn(o.maxDupLineCharFrac) && lineChars / len > o.maxDupLineCharFrac)
      return {
        remove: "dup_line_char_frac",
        detail: `repeated line chars ${(lineChars / len).toFixed(3)} > ${o.maxDupLineCharFrac}`,
      };
    return null;
  }

  /** {@link checkWords} on the TypeScript figures (the definition). */
  private checkTs(text: string, words: () => TokenSpans): RuleOutcome | null {
    const o = this.opts;
    const th = new TextHash(text);
    // a text of no characters: datatrove divides by zero; every figure is 0 here and the text is kept
    const len = th.cps(0, text.length) || Number.POSITIVE_INFINITY;
    const np = paragraphSpans(text);
    const para = repeatedSpans(th, spanFrom, spanTo, np);
    const nl = lineSpans(text);
    const line = repeatedSpans(th, spanFrom, spanTo, nl);
    const lineOutcome = this.lineOutcome(len, np, para.items, para.chars, nl, line.items, line.chars);
    if (lineOutcome) return lineOutcome;
    if (o.topNGrams.length === 0 && o.dupNGrams.length === 0) return null;
    const w = new WordRuns(th, words());
    let top: TopNGrams | null = null;
    // most texts are far from the limits: a bound from word counts settles them without counting n-grams
    const bounds = o.topNGrams.length > 0 ? w.topBounds(this.maxTopN) : null;
    for (const [n, f] of o.topNGrams) {
      if (w.count < n) continue;
      if ((bounds as Float64Array)[n] / len <= f) continue;
      if (!top || top.n > n) top = new TopNGrams(w);
      const figure = top.top(n);
      if (figure / len > f) return topOutcome(n, figure / len, f);
    }
    let dup: DuplicatedNGrams | null = null;
    for (const [n, f] of o.dupNGrams) {
      if (!dup || dup.n > n) dup = new DuplicatedNGrams(w);
      // null: the active n-grams' characters already fit under the limit
      const figure = dup.duplicated(n, len, f);
      if (figure !== null && figure / len > f) return dupOutcome(n, figure / len, f);
    }
    return null;
  }
}

function topOutcome(n: number, frac: number, limit: number): RuleOutcome {
  return {
    remove: `top_${n}_gram`,
    detail: `top ${n}-gram chars ${frac.toFixed(3)} > ${limit}`,
  };
}

function dupOutcome(n: number, frac: number, limit: number): RuleOutcome {
  return {
    remove: `duplicated_${n}_n_grams`,
    detail: `repeated ${n}-gram chars ${frac.toFixed(3)} > ${limit}`,
  };
}
