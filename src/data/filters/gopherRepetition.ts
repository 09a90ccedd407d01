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

/**
 * Rolling n-gram hashes over a word id sequence, advanced one n at a time: `h[i]` is the 32-bit hash of the
 * n-gram starting at word i. 32 bits are plenty within one document (a collision only nudges a fraction).
 */
export class NGramHasher {
  readonly h: Int32Array;
  n = 0;
  constructor(
    readonly ids: Int32Array,
    readonly lens: Int32Array,
  ) {
    this.h = new Int32Array(ids.length).fill(0x811c9dc5 | 0);
  }
  /** Advances the hashes to n-grams of size `n` (must be >= the current size). */
  advanceTo(n: number): void {
    const { h, ids } = this;
    while (this.n < n) {
      this.n++;
      const m = ids.length - this.n + 1;
      for (let i = 0; i < m; i++) {
        let x = Math.imul(h[i] ^ ids[i + this.n - 1], 0x01000193);
        x ^= x >>> 15;
        h[i] = Math.imul(x, 0x2c1b3c6d);
      }
    }
  }
  /** Number of n-grams at the current size. */
  get count(): number {
    return Math.max(0, this.ids.length - this.n + 1);
  }
  /** Characters of the n-gram at i (words joined by single spaces). */
  chars(i: number): number {
    let len = this.n - 1;
    for (let k = 0; k < this.n; k++) len += this.lens[i + k];
    return len;
  }
}

/** Open-addressing hash table from int32 keys to counts, reused across n-gram sizes (far faster than Map). */
class IntCounter {
  private keys: Int32Array;
  private vals: Int32Array;
  private mask: number;
  constructor(maxItems: number) {
    let cap = 16;
    while (cap < maxItems * 2) cap <<= 1;
    this.keys = new Int32Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
  }
  clear(): void {
    this.vals.fill(0);
  }
  /** Adds one to `key`'s count and returns the new count. */
  inc(key: number): number {
    let i = (Math.imul(key, 0x9e3779b1) >>> 0) & this.mask;
    for (;;) {
      const v = this.vals[i];
      if (v === 0) {
        this.keys[i] = key;
        this.vals[i] = 1;
        return 1;
      }
      if (this.keys[i] === key) return ++this.vals[i];
      i = (i + 1) & this.mask;
    }
  }
}

/** Characters held by the most frequent n-gram (joined with spaces) times its count; 0 when no n-gram repeats. */
export function topNGramChars(h: NGramHasher, n: number, table = new IntCounter(h.ids.length)): number {
  h.advanceTo(n);
  table.clear();
  let best = 1;
  let bestAt = 0;
  const m = h.count;
  for (let i = 0; i < m; i++) {
    const c = table.inc(h.h[i]);
    if (c > best) {
      best = c;
      bestAt = i;
    }
  }
  return best < 2 ? 0 : h.chars(bestAt) * best;
}

/** Characters in duplicated n-grams (words only), counting non-overlapping repeats (datatrove's find_all_duplicate). */
export function duplicateNGramChars(h: NGramHasher, n: number, table = new IntCounter(h.ids.length)): number {
  h.advanceTo(n);
  table.clear();
  let repeated = 0;
  let i = 0;
  const m = h.count;
  while (i < m) {
    if (table.inc(h.h[i]) > 1) {
      for (let k = 0; k < n; k++) repeated += h.lens[i + k];
      i += n;
    } else i++;
  }
  return repeated;
}

// scratch open-addressing table of the fused counter: a slot is live when its stamp is the current generation,
// so moving to the next n-gram size costs nothing (no clearing); slot k holds key, stamp, count at 3k, 3k+1, 3k+2
let fSlots = new Int32Array(3 << 12);
let fGen = 0;
// scratch bitmaps, interleaved (one cache line for both): word 2w holds bits of hash values seen once, word 2w + 1
// bits of values seen at least twice (up to bitmap collisions)
let fBits = new Int32Array(1 << 9);

/**
 * The Gopher n-gram figures of {@link topNGramChars} and {@link duplicateNGramChars} (same hashes, same counts).
 * Per n-gram size, one pass advances the hashes and marks in a bitmap the values that may occur twice; only
 * n-grams so marked go through the counting table. A value that occurs once can neither be the most frequent
 * (count 1 never beats the starting best of 1) nor repeat an earlier n-gram, so leaving it out changes nothing.
 */
export class FusedNGramCounter {
  private readonly h: Int32Array;
  private readonly prefix: Int32Array;
  private n = 0;
  private readonly mask: number;
  private readonly bitMask: number;

  constructor(
    private readonly ids: Int32Array,
    lens: Int32Array,
  ) {
    // one allocation: hashes (n) then prefix sums of word lengths (n + 1)
    const buf = new Int32Array(2 * ids.length + 1);
    this.h = buf.subarray(0, ids.length).fill(0x811c9dc5 | 0);
    this.prefix = buf.subarray(ids.length);
    for (let i = 0; i < lens.length; i++) this.prefix[i + 1] = this.prefix[i] + lens[i];
    let cap = 16;
    while (cap < ids.length * 2) cap <<= 1;
    if (fSlots.length < 3 * cap) {
      fSlots = new Int32Array(3 * cap);
      fGen = 0;
    }
    this.mask = cap - 1;
    // about 16 bits per n-gram, so few single values are marked by a collision
    let bits = 256;
    while (bits < ids.length * 16) bits <<= 1;
    if (fBits.length < bits >> 4) fBits = new Int32Array(bits >> 4);
    this.bitMask = bits - 1;
  }

  /** Advances the hashes by one word (n-1 -> n) without counting. */
  private advance(): void {
    const { h, ids } = this;
    this.n++;
    const n = this.n;
    const m = ids.length - n + 1;
    for (let i = 0; i < m; i++) {
      let x = Math.imul(h[i] ^ ids[i + n - 1], 0x01000193);
      x ^= x >>> 15;
      h[i] = Math.imul(x, 0x2c1b3c6d);
    }
  }

  /** Moves the hashes to size `n` (advancing when needed) and marks the values that may occur twice; returns the n-gram count. */
  private prepare(n: number): number {
    while (this.n < n - 1) this.advance();
    const advancing = this.n < n;
    if (advancing) this.n++;
    const { h, ids, bitMask } = this;
    const m = ids.length - n + 1;
    const bits = fBits;
    bits.fill(0, 0, (bitMask + 1) >> 4);
    for (let i = 0; i < m; i++) {
      let x = h[i];
      if (advancing) {
        x = Math.imul(x ^ ids[i + n - 1], 0x01000193);
        x ^= x >>> 15;
        x = Math.imul(x, 0x2c1b3c6d);
        h[i] = x;
      }
      const bit = (x ^ (x >>> 13)) & bitMask;
      const w = (bit >>> 5) << 1;
      const b = 1 << (bit & 31);
      const sw = bits[w];
      bits[w + 1] |= sw & b;
      bits[w] = sw | b;
    }
    return m;
  }

  /** New generation of the table; wraps by clearing the stamps. */
  private nextGen(): number {
    if (++fGen > 0x3fffffff) {
      fSlots.fill(0);
      fGen = 1;
    }
    return fGen;
  }

  /** Characters held by the most frequent n-gram times its count (0 when none repeats). */
  top(n: number): number {
    const m = this.prepare(n);
    const { h, mask, bitMask } = this;
    const gen = this.nextGen();
    const slots = fSlots;
    const bits = fBits;
    let best = 1;
    let bestAt = 0;
    for (let i = 0; i < m; i++) {
      const x = h[i];
      const bit = (x ^ (x >>> 13)) & bitMask;
      if ((bits[((bit >>> 5) << 1) | 1] & (1 << (bit & 31))) === 0) continue;
      let at = (Math.imul(x, 0x9e3779b1) >>> 0) & mask;
      let c: number;
      for (;;) {
        const k = 3 * at;
        if (slots[k + 1] !== gen) {
          slots[k] = x;
          slots[k + 1] = gen;
          slots[k + 2] = 1;
          c = 1;
          break;
        }
        if (slots[k] === x) {
          c = ++slots[k + 2];
          break;
        }
        at = (at + 1) & mask;
      }
      if (c > best) {
        best = c;
        bestAt = i;
      }
    }
    return best < 2 ? 0 : (n - 1 + this.prefix[bestAt + n] - this.prefix[bestAt]) * best;
  }

  /** Characters in duplicated n-grams, counting non-overlapping repeats (skipped n-grams are not recorded). */
  duplicated(n: number): number {
    const m = this.prepare(n);
    const { h, mask, prefix, bitMask } = this;
    const gen = this.nextGen();
    const slots = fSlots;
    const bits = fBits;
    let repeated = 0;
    for (let i = 0; i < m; i++) {
      const x = h[i];
      const bit = (x ^ (x >>> 13)) & bitMask;
      if ((bits[((bit >>> 5) << 1) | 1] & (1 << (bit & 31))) === 0) continue;
      let at = (Math.imul(x, 0x9e3779b1) >>> 0) & mask;
      for (;;) {
        const k = 3 * at;
        if (slots[k + 1] !== gen) {
          slots[k] = x;
          slots[k + 1] = gen;
          break;
        }
        if (slots[k] === x) {
          repeated += prefix[i + n] - prefix[i];
          // the next n - 1 n-grams are skipped, not recorded
          i += n - 1;
          break;
        }
        at = (at + 1) & mask;
      }
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
    const h = new FusedNGramCounter(ids, lens);
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
