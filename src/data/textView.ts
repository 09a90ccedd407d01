// Lazily computed views of a document's text (lines, paragraphs, words) shared by all quality
// rules, so a document is split once however many rules look at it. Words are found by one scan into
// offsets and per-document word ids (distinct words in first-seen order) without a string per token.

import { type TextAddon, textAddon } from "./nativeText.js";
import { Int32Set } from "./words/int32Set.js";
import { englishWordSpans, type TokenSpans } from "./words/spacyEnglish.js";

const WORD_RE = /\S+/g;
/** Leading/trailing punctuation stripped from a whitespace token to get a word. */
const EDGE_PUNCT_RE = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;

/**
 * Splits text into words: whitespace tokens with edge punctuation removed; pure-punctuation tokens dropped.
 * The plain definition; {@link TextView.wordTable} computes the same words by a faster scan (tested equal).
 */
export function splitWords(text: string): string[] {
  const toks = text.match(WORD_RE);
  if (!toks) return [];
  const out: string[] = [];
  for (const t of toks) {
    const w = t.replace(EDGE_PUNCT_RE, "");
    if (w.length > 0) out.push(w);
  }
  return out;
}

/** True for the code units JavaScript's `\s` matches. */
export function isJsSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

const PUNCT_SYMBOL_1_RE = /^[\p{P}\p{S}]$/u;
/** 1 where a BMP code point is punctuation or a symbol (\p{P} or \p{S}); built on first use. */
let punctTable: Uint8Array | undefined;

function buildPunctTable(): Uint8Array {
  const t = new Uint8Array(65536);
  for (let c = 0; c < 65536; c++) if ((c < 0xd800 || c > 0xdfff) && PUNCT_SYMBOL_1_RE.test(String.fromCharCode(c))) t[c] = 1;
  return t;
}

function punctTableOf(): Uint8Array {
  if (!punctTable) punctTable = buildPunctTable();
  return punctTable;
}

/** True when the code point is Unicode punctuation or a symbol. */
function isPunctOrSymbol(cp: number): boolean {
  if (cp < 128) return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  if (cp < 65536) return punctTableOf()[cp] === 1;
  return PUNCT_SYMBOL_1_RE.test(String.fromCodePoint(cp));
}

/** The words of a text as offsets and per-document ids; word i is `text.slice(start[i], end[i])`. */
export interface WordTable {
  count: number;
  start: Int32Array;
  end: Int32Array;
  /** id of word i among the distinct words, numbered in order of first occurrence */
  id: Int32Array;
  /** number of distinct words */
  vocabSize: number;
  /** first occurrence of each distinct word: text.slice(vocabStart[k], vocabEnd[k]) */
  vocabStart: Int32Array;
  vocabEnd: Int32Array;
  /** {@link lowerHash} of each distinct word lower-cased */
  vocabLowerHash: Int32Array;
}

/** 32-bit FNV-1a over the UTF-16 code units of `s` (the hash {@link WordTable.vocabLowerHash} holds). */
export function lowerHash(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let j = 0; j < s.length; j++) h = Math.imul(h ^ s.charCodeAt(j), 0x01000193);
  return h;
}

// scratch hash table of the word scan (slot -> id + 1, and the hash stored there), grown as needed
let slotId = new Int32Array(1 << 12);
let slotHash = new Int32Array(1 << 12);

let scanStart = new Int32Array(1024);
let scanEnd = new Int32Array(1024);
let scanHash = new Int32Array(1024);
// lower-case hash of each word as far as it is ASCII (valid where scanAscii is 1)
let scanLower = new Int32Array(1024);
let scanAscii = new Uint8Array(1024);

/** ASCII character classes of the word scan: 1 = whitespace, 2 = letter or digit, 4 = punctuation or symbol. */
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (isJsSpace(c)) ASCII_CLASS[c] = 1;
  else if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) ASCII_CLASS[c] = 2;
  else if (isPunctOrSymbol(c)) ASCII_CLASS[c] = 4;
}
/** ASCII code -> its lower case (a table look-up: upper-case letters at word starts mispredict a comparison). */
const ASCII_LOWER = new Int32Array(128);
for (let c = 0; c < 128; c++) ASCII_LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

/**
 * Scans `text` into words (same words as {@link splitWords}) and numbers the distinct ones: by the native text
 * kernel when it is loaded (a text with an astral code point, or no addon, takes {@link scanWordsTs}).
 */
export function scanWords(text: string): WordTable {
  return (textAddon && scanWordsNative(textAddon, text)) || scanWordsTs(text);
}

/** Unit classes of the native word scan: 1 whitespace, 4 punctuation or symbol, 8 high surrogate, else 0; built on first use. */
let wordClassTable: Uint8Array | undefined;

function buildWordClassTable(): Uint8Array {
  const t = new Uint8Array(65536);
  const punct = punctTableOf();
  for (let c = 0; c < 65536; c++) {
    if (isJsSpace(c)) t[c] = 1;
    else if (c >= 0xd800 && c <= 0xdbff) t[c] = 8;
    else if (c < 128 ? isPunctOrSymbol(c) : punct[c] === 1) t[c] = 4;
  }
  return t;
}

/** The native twin of {@link scanWordsTs} (the same table, tested equal), or null when it does not take the text. */
export function scanWordsNative(addon: TextAddon, text: string): WordTable | null {
  if (!wordClassTable) wordClassTable = buildWordClassTable();
  const buf = addon.scanWords(text, wordClassTable);
  if (!buf) return null;
  const count = buf[0];
  const nv = buf[1];
  const v0 = 2 + 3 * count;
  const t: WordTable = {
    count,
    start: buf.subarray(2, 2 + count),
    end: buf.subarray(2 + count, 2 + 2 * count),
    id: buf.subarray(2 + 2 * count, v0),
    vocabSize: nv,
    vocabStart: buf.subarray(v0, v0 + nv),
    vocabEnd: buf.subarray(v0 + nv, v0 + 2 * nv),
    vocabLowerHash: buf.subarray(v0 + 2 * nv, v0 + 3 * nv),
  };
  // distinct words that are not all ASCII: lower-cased the Unicode way here
  for (let j = v0 + 3 * nv; j < buf.length; j++) {
    const k = buf[j];
    t.vocabLowerHash[k] = lowerHash(text.slice(t.vocabStart[k], t.vocabEnd[k]).toLowerCase());
  }
  return t;
}

/**
 * Scans `text` into words (same words as {@link splitWords}) and numbers the distinct ones, in one pass over
 * the characters: each token's hash is taken as far as its last character that is not punctuation or a symbol.
 */
export function scanWordsTs(text: string): WordTable {
  const n = text.length;
  // at most one word per two characters (a word and the space after it)
  const maxWords = (n >> 1) + 1;
  // prose runs about six characters a word: start with room for one word per four characters
  // scratch arrays (copied into the table by numberWords), grown as needed
  if (scanStart.length < Math.min(maxWords, 16 + (n >> 2))) {
    const cap = Math.min(maxWords, 16 + (n >> 2));
    scanStart = new Int32Array(cap);
    scanEnd = new Int32Array(cap);
    scanHash = new Int32Array(cap);
    scanLower = new Int32Array(cap);
    scanAscii = new Uint8Array(cap);
  }
  let start = scanStart;
  let end = scanEnd;
  let hash = scanHash;
  let lower = scanLower;
  let asciiOnly = scanAscii;
  let count = 0;
  let i = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    // skip whitespace
    while (c < 128 ? ASCII_CLASS[c] === 1 : isJsSpace(c)) {
      if (++i >= n) break;
      c = text.charCodeAt(i);
    }
    if (i >= n) break;
    // strip leading punctuation/symbols (by code point), stopping at whitespace
    let s = i;
    for (;;) {
      if (c < 128) {
        if (ASCII_CLASS[c] !== 4) break;
        s++;
      } else {
        if (isJsSpace(c)) break;
        const cp = c >= 0xd800 && c <= 0xdbff && s + 1 < n ? text.codePointAt(s)! : c;
        if (!isPunctOrSymbol(cp)) break;
        s += cp > 0xffff ? 2 : 1;
      }
      if (s >= n) break;
      c = text.charCodeAt(s);
    }
    // the rest of the token: hash up to the end of its last character that is not punctuation/symbol
    // (and the lower-case hash numberWords would take of the word, while it is ASCII)
    let h = 0x811c9dc5 | 0;
    let lh = h;
    let ascii = true;
    let e = s;
    let wordEnd = s;
    let wordHash = h;
    let wordLower = h;
    let wordAscii = true;
    while (e < n) {
      c = text.charCodeAt(e);
      if (c < 128) {
        const k = ASCII_CLASS[c];
        if (k === 1) break;
        h = Math.imul(h ^ c, 0x01000193);
        lh = Math.imul(lh ^ ASCII_LOWER[c], 0x01000193);
        e++;
        if (k !== 4) {
          wordEnd = e;
          wordHash = h;
          wordLower = lh;
          wordAscii = ascii;
        }
      } else {
        if (isJsSpace(c)) break;
        ascii = false;
        let cp = c;
        if (c >= 0xd800 && c <= 0xdbff && e + 1 < n) {
          const lo = text.charCodeAt(e + 1);
          if (lo >= 0xdc00 && lo <= 0xdfff) cp = ((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
        }
        h = Math.imul(h ^ c, 0x01000193);
        e++;
        if (cp > 0xffff) {
          h = Math.imul(h ^ text.charCodeAt(e), 0x01000193);
          e++;
        }
        if (!isPunctOrSymbol(cp)) {
          wordEnd = e;
          wordHash = h;
          wordAscii = false;
        }
      }
    }
    if (wordEnd > s) {
      if (count === start.length) {
        const cap = Math.min(maxWords, start.length * 2);
        const grow = (a: Int32Array) => {
          const b = new Int32Array(cap);
          b.set(a);
          return b;
        };
        start = scanStart = grow(start);
        end = scanEnd = grow(end);
        hash = scanHash = grow(hash);
        lower = scanLower = grow(lower);
        const a = new Uint8Array(cap);
        a.set(asciiOnly);
        asciiOnly = scanAscii = a;
      }
      start[count] = s;
      end[count] = wordEnd;
      hash[count] = wordHash;
      lower[count] = wordLower;
      asciiOnly[count] = wordAscii ? 1 : 0;
      count++;
    }
    i = e;
  }
  return numberWords(text, start.subarray(0, count), end.subarray(0, count), hash, lower, asciiOnly);
}

/**
 * Numbers the distinct words among the ranges `start[i]..end[i]` of `text` in order of first occurrence:
 * open addressing on a hash of the characters (FNV-1a, given or computed), each candidate compared with the
 * first occurrence (exact). `lowers`/`asciiOnly` give the lower-case hash of words that are ASCII (the scan
 * takes it in its pass); without them it is computed here (the plain definition the scan is tested against).
 */
export function numberWords(text: string, start: Int32Array, end: Int32Array, hashes?: Int32Array, lowers?: Int32Array, asciiOnly?: Uint8Array): WordTable {
  const count = start.length;
  let cap = 16;
  while (cap < count * 2) cap <<= 1;
  if (slotId.length < cap) {
    slotId = new Int32Array(cap);
    slotHash = new Int32Array(cap);
  } else slotId.fill(0, 0, cap);
  const mask = cap - 1;
  // one allocation for the whole table (the caller's start/end may be scratch: they are copied)
  const buf = new Int32Array(6 * count);
  const ownStart = buf.subarray(0, count);
  ownStart.set(start);
  const ownEnd = buf.subarray(count, 2 * count);
  ownEnd.set(end);
  const id = buf.subarray(2 * count, 3 * count);
  const vocabStart = buf.subarray(3 * count, 4 * count);
  const vocabEnd = buf.subarray(4 * count, 5 * count);
  const vocabLowerHash = buf.subarray(5 * count, 6 * count);
  let nv = 0;
  for (let k = 0; k < count; k++) {
    const s = start[k];
    const e = end[k];
    let h: number;
    if (hashes) h = hashes[k];
    else {
      h = 0x811c9dc5 | 0;
      for (let j = s; j < e; j++) h = Math.imul(h ^ text.charCodeAt(j), 0x01000193);
    }
    const x = Math.imul(h ^ (h >>> 16), 0x2c1b3c6d);
    let at = (x ^ (x >>> 15)) & mask;
    for (;;) {
      const v = slotId[at];
      if (v === 0) {
        slotId[at] = nv + 1;
        slotHash[at] = h;
        id[k] = nv;
        vocabStart[nv] = s;
        vocabEnd[nv] = e;
        // hash of the lower-cased word: ASCII folds in place, anything else through toLowerCase
        if (lowers && asciiOnly && asciiOnly[k] === 1) {
          vocabLowerHash[nv++] = lowers[k];
          break;
        }
        let lh = 0x811c9dc5 | 0;
        let ascii = true;
        for (let j = s; j < e; j++) {
          let c = text.charCodeAt(j);
          if (c >= 128) {
            ascii = false;
            break;
          }
          if (c >= 65 && c <= 90) c += 32;
          lh = Math.imul(lh ^ c, 0x01000193);
        }
        vocabLowerHash[nv] = ascii ? lh : lowerHash(text.slice(s, e).toLowerCase());
        nv++;
        break;
      }
      if (slotHash[at] === h) {
        const fs = vocabStart[v - 1];
        const len = e - s;
        if (vocabEnd[v - 1] - fs === len) {
          let j = 0;
          while (j < len && text.charCodeAt(fs + j) === text.charCodeAt(s + j)) j++;
          if (j === len) {
            id[k] = v - 1;
            break;
          }
        }
      }
      at = (at + 1) & mask;
    }
  }
  return { count, start: ownStart, end: ownEnd, id, vocabSize: nv, vocabStart, vocabEnd, vocabLowerHash };
}

/**
 * A set of lower-case words tested against a document's distinct words by their lower-case hash first,
 * so most words are rejected without building a string; hits are confirmed on the real string.
 */
export class LowerWordSet {
  private readonly words: Set<string>;
  private readonly hashes: Int32Set;
  constructor(words: Iterable<string>) {
    this.words = new Set(words);
    this.hashes = new Int32Set([...this.words].map(lowerHash));
  }
  /** True when distinct word `k` of the view, lower-cased, is in the set. */
  hasWord(v: TextView, k: number): boolean {
    if (!this.hashes.has(v.wordTable.vocabLowerHash[k])) return false;
    return this.words.has(v.lowerWord(k));
  }
}

// What the last searches found absent: none of `absentNeedles` occurs in `absentText.toLowerCase()` (a pure fact
// about that string, so any matcher asked about an equal string may skip those needles). Clean screens a document
// for its boilerplate substrings and C4 then screens the same text for the same substrings and "lorem ipsum":
// the second scan looks for "lorem ipsum" alone.
let absentText: string | null = null;
let absentNeedles = new Set<string>();

/**
 * Tests whether `text.toLowerCase()` contains any of some lower-case needles, without lower-casing the text
 * when the needles are ASCII: only U+0130 and U+212A lower-case to something holding ASCII, so without them a
 * case-insensitive (non-Unicode) regular expression finds exactly the same occurrences. Needles the last search
 * of an equal text found absent are not looked for again.
 */
export class LowerCaseNeedles {
  private readonly re: RegExp | null;
  /** matcher of the needles not in `restFor` (the absent set it was built for) */
  private restFor: Set<string> | null = null;
  private rest: LowerCaseNeedles | null = null;
  /** matchers of needle subsets, by the subset (built once each: a regular expression compiles on first use) */
  private readonly restCache = new Map<string, LowerCaseNeedles | null>();
  /** the native kernel's copy of the needles (2 to 64 ASCII needles), when it is loaded */
  private readonly native: unknown;
  constructor(readonly needles: readonly string[]) {
    const ascii = needles.every((n) => /^[\p{ASCII}]*$/u.test(n));
    // a needle with an upper-case letter is never in a lower-cased text: the case-insensitive expression leaves it out
    const live = needles.filter((n) => !/[A-Z]/.test(n));
    this.re = ascii && needles.length > 0 ? (live.length > 0 ? new RegExp(live.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "i") : /(?!)/) : null;
    // (one needle: V8's own literal search skips ahead faster than a scan of every character)
    this.native = textAddon && ascii && needles.length > 1 && needles.length <= 64 ? textAddon.needleSet(needles) : null;
  }
  /** Same as `needles.some((n) => text.toLowerCase().includes(n))`. */
  test(text: string): boolean {
    if (this.needles.length === 0) return false;
    if (text === absentText) {
      if (this.restFor !== absentNeedles) {
        // (the absent set only grows while the text stays: a matcher built for it earlier looks for a superset)
        const known = absentNeedles;
        const rest = this.needles.filter((n) => !known.has(n));
        const key = rest.join("\u0000");
        let m = this.restCache.get(key);
        if (m === undefined) {
          m = rest.length === this.needles.length ? null : new LowerCaseNeedles(rest);
          this.restCache.set(key, m);
        }
        this.rest = m;
        this.restFor = known;
      }
      // only the needles not already known absent
      if (this.rest) {
        const found = this.rest.search(text);
        if (!found) for (const n of this.needles) absentNeedles.add(n);
        return found;
      }
    }
    const found = this.search(text);
    if (!found) {
      if (text !== absentText) {
        absentText = text;
        absentNeedles = new Set();
      }
      for (const n of this.needles) absentNeedles.add(n);
    }
    return found;
  }
  /** The search itself (no memo): by the native kernel when it decides, else here. */
  private search(text: string): boolean {
    if (this.needles.length === 0) return false;
    if (this.native) {
      const r = (textAddon as TextAddon).needleSearch(this.native, text);
      if (r >= 0) return r === 1;
    }
    if (this.re && !text.includes("\u0130") && !text.includes("\u212a")) return this.re.test(text);
    const lower = text.toLowerCase();
    return this.needles.some((n) => lower.includes(n));
  }
}

/** Text of one document with cached splits. */
export class TextView {
  private _lines?: string[];
  private _nonEmptyLines?: string[];
  private _tokens?: string[];
  private _words?: string[];
  private _table?: WordTable;
  private _englishWords?: TokenSpans;

  constructor(readonly text: string) {}

  /**
   * The view of `text` = the ranges `from[k]..to[k]` of `parent.text` (whitespace-trimmed, non-blank lines,
   * given as `lines` when the caller has them) joined by "\n".
   * Its words are the parent's words inside those ranges, moved and renumbered, when the parent has them already.
   */
  static ofLines(parent: TextView, text: string, from: Int32Array, to: Int32Array, lines?: string[]): TextView {
    const v = new TextView(text);
    if (lines) {
      // the lines are trimmed and not blank already
      v._lines = lines;
      v._nonEmptyLines = lines;
    }
    const pt = parent._table;
    if (!pt) return v;
    const c = pt.count;
    const nv0 = pt.vocabSize;
    const buf = new Int32Array(3 * c + 4 * nv0);
    const start = buf.subarray(0, c);
    const end = buf.subarray(c, 2 * c);
    const id = buf.subarray(2 * c, 3 * c);
    const newId = buf.subarray(3 * c, 3 * c + nv0).fill(-1);
    const vocabStart = buf.subarray(3 * c + nv0, 3 * c + 2 * nv0);
    const vocabEnd = buf.subarray(3 * c + 2 * nv0, 3 * c + 3 * nv0);
    const vocabLowerHash = buf.subarray(3 * c + 3 * nv0, 3 * c + 4 * nv0);
    let count = 0;
    let nv = 0;
    let p = 0;
    let off = 0;
    for (let k = 0; k < from.length; k++) {
      const a = from[k];
      const b = to[k];
      while (p < pt.count && pt.start[p] < a) p++;
      for (; p < pt.count && pt.start[p] < b; p++) {
        const s = pt.start[p] - a + off;
        const e = pt.end[p] - a + off;
        start[count] = s;
        end[count] = e;
        const old = pt.id[p];
        let w = newId[old];
        if (w < 0) {
          w = nv++;
          newId[old] = w;
          vocabStart[w] = s;
          vocabEnd[w] = e;
          vocabLowerHash[w] = pt.vocabLowerHash[old];
        }
        id[count++] = w;
      }
      off += b - a + 1;
    }
    v._table = { count, start: start.subarray(0, count), end: end.subarray(0, count), id: id.subarray(0, count), vocabSize: nv, vocabStart, vocabEnd, vocabLowerHash };
    return v;
  }

  /** Lines split on `\n` (may include empty lines). */
  get lines(): string[] {
    this._lines ??= this.text.split("\n");
    return this._lines;
  }

  /** Lines that are not blank, trimmed. */
  get nonEmptyLines(): string[] {
    if (!this._nonEmptyLines) {
      const out: string[] = [];
      for (const l of this.lines) {
        const t = l.trim();
        if (t.length > 0) out.push(t);
      }
      this._nonEmptyLines = out;
    }
    return this._nonEmptyLines;
  }

  /** Whitespace-separated tokens, punctuation kept. */
  get tokens(): string[] {
    this._tokens ??= this.text.match(WORD_RE) ?? [];
    return this._tokens;
  }

  /** Words as offsets and ids (edge punctuation removed, pure-punctuation tokens dropped); what rules read. */
  get wordTable(): WordTable {
    this._table ??= scanWords(this.text);
    return this._table;
  }

  /**
   * datatrove's English words (spaCy 3.8 tokens, whitespace tokens dropped) as spans into {@link text};
   * computed on first use and cached.
   */
  get englishWords(): TokenSpans {
    this._englishWords ??= englishWordSpans(this.text);
    return this._englishWords;
  }

  /** Number of words. */
  get wordCount(): number {
    return this.wordTable.count;
  }

  /** Distinct word `k` (by id). */
  vocabWord(k: number): string {
    const t = this.wordTable;
    return this.text.slice(t.vocabStart[k], t.vocabEnd[k]);
  }

  /** Distinct word `k` lower-cased. */
  lowerWord(k: number): string {
    return this.vocabWord(k).toLowerCase();
  }

  /** Words as strings (edge punctuation removed, pure-punctuation tokens dropped). */
  get words(): string[] {
    if (!this._words) {
      const { count, id, vocabSize } = this.wordTable;
      const vocab = Array.from({ length: vocabSize }, (_, k) => this.vocabWord(k));
      const out = new Array<string>(count);
      for (let i = 0; i < count; i++) out[i] = vocab[id[i]];
      this._words = out;
    }
    return this._words;
  }
}
