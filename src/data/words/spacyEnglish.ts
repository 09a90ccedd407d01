// English words and sentences exactly as datatrove a649de79 (the FineWeb / Gopher / C4 reference) splits them:
// its SpaCyTokenizer("en") is spacy.blank("en") (spaCy 3.8's rule-based English tokenizer) plus the
// "sentencizer" pipe. This file is our own TypeScript port of those algorithms; their data tables (tokenizer
// exceptions, affix rules, character classes, the URL pattern) are generated from spaCy into
// spacyEnglishData.ts by scripts/make_spacy_english.py. Tested token for token and sentence for sentence
// against the real spaCy on test/data/fixtures/spacyEnglish.json (scripts/make_spacy_fixture.py).
//
// The tokenizer, as spaCy runs it:
//  1. The text is cut into chunks at every change between whitespace and non-whitespace (Python's
//     str.isspace). A single " " after a chunk is absorbed (token.whitespace_); any other whitespace run is a
//     chunk of its own and so a whitespace token.
//  2. Each chunk: if it is a special case (tokenizer exception), its pieces; else prefixes and suffixes are
//     split off in a loop (stopping early when what is left, or what is left without the prefix/suffix just
//     found, is a special case); the rest is a special case, a URL, or split at infixes.
//  3. Special cases whose text holds an affix are also matched over the token sequence (spaCy's
//     PhraseMatcher pass): where the tokens of such a case occur next to each other, they become its pieces.
// The sentencizer starts a sentence at the first token that is not punctuation after a token that is one of
// its sentence-final characters. datatrove then drops whitespace tokens (word lists) and cuts the text at
// each sentence's end (sentence lists: the whitespace between sentences starts the next one).
//
// Offsets are UTF-16 units; rules look at code points (as Python does) wherever a surrogate pair occurs.
// datatrove cuts only Japanese text into pieces before spaCy; English goes in whole, as here.
//
// Speed: the text's UTF-16 units are copied into a typed array (Buffer's utf16le writer: reading them there is
// about twice as fast as charCodeAt); a first pass without branches finds the chunk boundaries and counts
// the units that are neither whitespace nor ASCII letters; a second pass takes each chunk: ASCII letters, or
// letters with a mark before and/or one or two after, take fast paths decided from character classes and a
// few table look-ups (exact: see "Fast paths" below, and test/data/spacyEnglishFast.test.ts); other chunks
// are tokenized once and cached (keyed by their characters). The special-case pass runs only when a chunk
// holds a match that changes tokens (known per cached chunk; never in a fast-path chunk). Tables come from
// Python (Unicode 14.0), so the character classes are Python 3.11's, not the JavaScript engine's.

import {
  AFFIX_CLASSES,
  type AffixRule,
  INFIX_RULES,
  MATCHED_SPECIALS,
  PREFIX_RULES,
  PUNCT_RANGES,
  SENT_PUNCT_CHARS,
  SPECIAL_CASES,
  SUFFIX_RULES,
  URL_BIT_RANGES,
  URL_PATTERN_JS,
  URL_REP_BASE,
} from "./spacyEnglishData.js";
import { Int32Set } from "./int32Set.js";
import { isPySpace } from "./pyString.js";

/** Token spans: token i is `text.slice(start[i], end[i])` (UTF-16 offsets into the text). */
export interface TokenSpans {
  count: number;
  start: Int32Array;
  end: Int32Array;
}

// ---------------------------------------------------------------------------------------------------------
// Character tests

/** Binary search of inclusive ranges [lo, hi, lo, hi, ...]. */
function inRanges(r: readonly number[], cp: number): boolean {
  let lo = 0;
  let hi = (r.length >> 1) - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (cp < r[2 * m]) hi = m - 1;
    else if (cp > r[2 * m + 1]) lo = m + 1;
    else return true;
  }
  return false;
}

/** Bit k set where BMP code unit c is in affix class k (13 classes); astral code points search the ranges. */
const BMP_CLASS = new Uint16Array(65536);
for (let k = 0; k < AFFIX_CLASSES.length; k++) {
  const r = AFFIX_CLASSES[k];
  for (let j = 0; j < r.length; j += 2) for (let c = r[j]; c <= Math.min(r[j + 1], 0xffff); c++) BMP_CLASS[c] |= 1 << k;
}

function inClass(k: number, cp: number): boolean {
  return cp < 65536 ? (BMP_CLASS[cp] & (1 << k)) !== 0 : inRanges(AFFIX_CLASSES[k], cp);
}

/** Code point at i (a lone surrogate stands for itself, as in a Python str). */
function cpAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}

/** Start of the code point ending at i (i > from). */
function prevStart(s: string, i: number, from: number): number {
  const c = s.charCodeAt(i - 1);
  if (c >= 0xdc00 && c <= 0xdfff && i - 2 >= from) {
    const h = s.charCodeAt(i - 2);
    if (h >= 0xd800 && h <= 0xdbff) return i - 2;
  }
  return i - 1;
}

/** 1 where a BMP code unit is Unicode punctuation (category P*, Python's unicodedata); astral by search. */
const BMP_PUNCT = new Uint8Array(65536);
for (let j = 0; j < PUNCT_RANGES.length; j += 2) for (let c = PUNCT_RANGES[j]; c <= Math.min(PUNCT_RANGES[j + 1], 0xffff); c++) BMP_PUNCT[c] = 1;

/** spaCy's token.is_punct: every character is in a P* category (true for the empty string). */
function isPunctRange(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; ) {
    const cp = cpAt(s, i);
    if (cp < 65536 ? BMP_PUNCT[cp] === 0 : !inRanges(PUNCT_RANGES, cp)) return false;
    i += cp > 0xffff ? 2 : 1;
  }
  return true;
}

const SENT_PUNCT = new Set(SENT_PUNCT_CHARS);

/** Token flags: whitespace token, token.is_punct, token text in the sentencizer's punct_chars. */
const F_SPACE = 1;
const F_PUNCT = 2;
const F_SENT = 4;

function tokenFlags(s: string, from: number, to: number): number {
  let f = 0;
  if (isPySpace(s.charCodeAt(from))) f |= F_SPACE;
  else if (isPunctRange(s, from, to)) f |= F_PUNCT;
  if (to - from <= 2 && SENT_PUNCT.has(s.slice(from, to))) f |= F_SENT;
  return f;
}

// ---------------------------------------------------------------------------------------------------------
// Affix rules (spaCy's prefix_search / suffix_search / infix_finditer over a range from..to of a string)

/** An affix rule in the shape the matchers read (no property tests on the hot path). */
interface Rule {
  /** 0: one of `lits` (tried in order), 1: one code point of class `cls`, 2: `rep` repeated at least `min` times */
  kind: 0 | 1 | 2;
  lits: readonly string[];
  cls: number;
  rep: number;
  min: number;
  /** look-behind classes, one code point each, in text order */
  behind: readonly number[];
  /** look-ahead class (-1: none) and whether it is negative */
  ahead: number;
  aheadNeg: boolean;
}

function compileRule(r: AffixRule): Rule {
  const b = r.body;
  return {
    kind: "lits" in b ? 0 : "cls" in b ? 1 : 2,
    lits: "lits" in b ? b.lits : [],
    cls: "cls" in b ? b.cls : -1,
    rep: "rep" in b ? b.rep.charCodeAt(0) : -1,
    min: "rep" in b ? b.min : 0,
    behind: r.behind,
    ahead: r.ahead ? r.ahead.cls : -1,
    aheadNeg: r.ahead ? r.ahead.neg : false,
  };
}

/** The look-behind of `rule` holds before position i (looking no further back than `from`). */
function behindOk(rule: Rule, s: string, i: number, from: number): boolean {
  for (let k = rule.behind.length - 1; k >= 0; k--) {
    if (i <= from) return false;
    const p = prevStart(s, i, from);
    if (!inClass(rule.behind[k], cpAt(s, p))) return false;
    i = p;
  }
  return true;
}

function aheadOk(rule: Rule, s: string, i: number, to: number): boolean {
  if (rule.ahead < 0) return true;
  const hit = i < to && inClass(rule.ahead, i + 1 < to ? cpAt(s, i) : s.charCodeAt(i));
  return rule.aheadNeg ? !hit : hit;
}

/** Length (UTF-16 units) of `rule`'s match at i (body then look-ahead, the regex's backtracking order), or -1. */
function matchAt(rule: Rule, s: string, i: number, from: number, to: number): number {
  if (rule.behind.length > 0 && !behindOk(rule, s, i, from)) return -1;
  if (rule.kind === 0) {
    for (const lit of rule.lits) if (i + lit.length <= to && s.startsWith(lit, i) && aheadOk(rule, s, i + lit.length, to)) return lit.length;
    return -1;
  }
  if (rule.kind === 1) {
    if (i >= to) return -1;
    const cp = i + 1 < to ? cpAt(s, i) : s.charCodeAt(i);
    if (!inClass(rule.cls, cp)) return -1;
    const n = cp > 0xffff ? 2 : 1;
    return aheadOk(rule, s, i + n, to) ? n : -1;
  }
  let e = i;
  while (e < to && s.charCodeAt(e) === rule.rep) e++;
  for (; e - i >= rule.min; e--) if (aheadOk(rule, s, e, to)) return e - i;
  return -1;
}

const NO_RULES: readonly Rule[] = [];

/**
 * Per code unit, the rules that can match there (in order), built on first use for each unit: `first`
 * selects by the unit a match starts with (prefixes, infixes), else by the unit it ends with (suffixes).
 */
function rulesByUnit(source: readonly AffixRule[], first: boolean): (c: number) => readonly Rule[] {
  const rules = source.map(compileRule);
  const memo: (readonly Rule[] | undefined)[] = new Array(65536).fill(undefined);
  return (c) => {
    let r = memo[c];
    if (r === undefined) {
      const surrogate = first ? c >= 0xd800 && c <= 0xdbff : c >= 0xdc00 && c <= 0xdfff;
      // (a literal rule keeps only its alternatives that start, or end, with c: their order is kept)
      const at = (l: string) => l.charCodeAt(first ? 0 : l.length - 1) === c;
      r = rules
        .filter((rule) => {
          if (rule.kind === 0) return rule.lits.some(at);
          if (rule.kind === 1) return surrogate || inClass(rule.cls, c);
          return rule.rep === c;
        })
        .map((rule) => (rule.kind === 0 ? { ...rule, lits: rule.lits.filter(at) } : rule));
      if (r.length === 0) r = NO_RULES;
      memo[c] = r;
    }
    return r;
  };
}

const prefixRulesFor = rulesByUnit(PREFIX_RULES, true);
const infixRulesFor = rulesByUnit(INFIX_RULES, true);
const suffixRulesFor = rulesByUnit(SUFFIX_RULES, false);

/** 1 where some infix rule can start at this code unit (every high surrogate included): the scan skips the rest. */
const INFIX_MAY_START = (() => {
  const t = new Uint8Array(65536);
  t.fill(1, 0xd800, 0xdc00);
  for (const r of INFIX_RULES) {
    const b = r.body;
    if ("lits" in b) for (const l of b.lits) t[l.charCodeAt(0)] = 1;
    else if ("rep" in b) t[b.rep.charCodeAt(0)] = 1;
    else for (let c = 0; c < 65536; c++) if (BMP_CLASS[c] & (1 << b.cls)) t[c] = 1;
  }
  return t;
})();

/** spaCy's find_prefix on s[from:to]: length of the first rule (in order) matching at the start, else 0. */
export function findPrefix(s: string, from: number, to: number): number {
  if (from >= to) return 0;
  for (const rule of prefixRulesFor(s.charCodeAt(from))) {
    const n = matchAt(rule, s, from, from, to);
    if (n > 0) return n;
  }
  return 0;
}

/**
 * spaCy's find_suffix on s[from:to]: the regex search finds the earliest position where some rule matches
 * through to the end, so the suffix is the longest of the rules' matches ending at `to`.
 */
export function findSuffix(s: string, from: number, to: number): number {
  if (from >= to) return 0;
  let best = 0;
  for (const rule of suffixRulesFor(s.charCodeAt(to - 1))) {
    if (rule.kind === 0) {
      for (const lit of rule.lits) {
        const i = to - lit.length;
        if (lit.length > best && i >= from && s.startsWith(lit, i) && isCpBoundary(s, i, from) && behindOk(rule, s, i, from) && aheadOk(rule, s, to, to)) best = lit.length;
      }
    } else if (rule.kind === 1) {
      const i = prevStart(s, to, from);
      if (to - i > best && inClass(rule.cls, cpAt(s, i)) && behindOk(rule, s, i, from) && aheadOk(rule, s, to, to)) best = to - i;
    } else {
      let i = to;
      while (i > from && s.charCodeAt(i - 1) === rule.rep) i--;
      // earliest start whose look-behind holds, leaving at least `min` repeats
      for (; to - i >= rule.min; i++) {
        if (behindOk(rule, s, i, from) && aheadOk(rule, s, to, to)) {
          if (to - i > best) best = to - i;
          break;
        }
      }
    }
  }
  return best;
}

/** False when i falls between the halves of a surrogate pair (no match starts there in Python). */
function isCpBoundary(s: string, i: number, from: number): boolean {
  if (i <= from) return true;
  const c = s.charCodeAt(i);
  if (c < 0xdc00 || c > 0xdfff) return true;
  const h = s.charCodeAt(i - 1);
  return h < 0xd800 || h > 0xdbff;
}

/** spaCy's find_infix on s[from:to]: non-overlapping matches left to right, as [start, end] pairs pushed on out. */
export function findInfixes(s: string, from: number, to: number, out: number[]): void {
  let i = from;
  while (i < to) {
    const c = s.charCodeAt(i);
    if (INFIX_MAY_START[c] === 0) {
      i++;
      continue;
    }
    const rules = infixRulesFor(c);
    let n = 0;
    for (const rule of rules) {
      n = matchAt(rule, s, i, from, to);
      if (n > 0) break;
    }
    if (n > 0) {
      out.push(i, i + n);
      i += n;
    } else i += c >= 0xd800 && c <= 0xdbff && i + 1 < to && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff ? 2 : 1;
  }
}

const URL_RE = new RegExp(URL_PATTERN_JS);

/** Representative bits of each BMP code unit for URL_RE (see URL_BIT_RANGES); built on first use. */
let urlBmpBits: Uint8Array | undefined;

function urlBits(cp: number): number {
  if (cp < 65536) {
    if (!urlBmpBits) {
      const t = new Uint8Array(65536);
      for (let k = 0; k < URL_BIT_RANGES.length; k++) {
        const r = URL_BIT_RANGES[k];
        for (let j = 0; j < r.length; j += 2) for (let c = r[j]; c <= Math.min(r[j + 1], 0xffff); c++) t[c] |= 1 << k;
      }
      urlBmpBits = t;
    }
    return urlBmpBits[cp];
  }
  let b = 0;
  for (let k = 0; k < URL_BIT_RANGES.length; k++) if (inRanges(URL_BIT_RANGES[k], cp)) b |= 1 << k;
  return b;
}

/**
 * spaCy's url_match (anchored at both ends). Every URL it matches holds a "."; most strings fail that first.
 * Non-ASCII code points are replaced by their representatives first (one unit each), as URL_PATTERN_JS expects.
 */
export function urlMatch(s: string): boolean {
  if (!s.includes(".")) return false;
  let ascii = true;
  for (let i = 0; i < s.length && ascii; i++) if (s.charCodeAt(i) >= 128) ascii = false;
  if (ascii) return URL_RE.test(s);
  const units: number[] = [];
  for (let i = 0; i < s.length; ) {
    const cp = cpAt(s, i);
    units.push(cp < 128 ? cp : URL_REP_BASE + urlBits(cp));
    i += cp > 0xffff ? 2 : 1;
  }
  return URL_RE.test(String.fromCharCode(...units));
}

// ---------------------------------------------------------------------------------------------------------
// One chunk (a maximal run of whitespace or of non-whitespace) -> its tokens

const SPECIALS = new Map<string, readonly string[]>(Object.entries(SPECIAL_CASES));

/** The special case s[from:to], if it is one (its FNV hash is looked up first: most ranges build no string). */
function specialAt(s: string, from: number, to: number): readonly string[] | undefined {
  if (to - from > SPECIAL_MAX_LEN || !SPECIAL_HASHES.has(fnv(s, from, to))) return undefined;
  return SPECIALS.get(s.slice(from, to));
}

/**
 * Token lengths (UTF-16 units) of one chunk, in order: spaCy's Tokenizer._tokenize (affix loop + attach).
 * The plain definition; {@link chunkTokens} adds the cache.
 */
export function tokenizeChunk(chunk: string): number[] {
  const special = specialAt(chunk, 0, chunk.length);
  if (special) return special.map((p) => p.length);
  const pre: number[] = [];
  const suf: number[] = [];
  let from = 0;
  let to = chunk.length;
  let lastSize = -1;
  while (to > from && to - from !== lastSize) {
    if (specialAt(chunk, from, to)) break;
    lastSize = to - from;
    const p = findPrefix(chunk, from, to);
    if (p !== 0 && from + p < to && specialAt(chunk, from + p, to)) {
      pre.push(p);
      from += p;
      break;
    }
    const q = findSuffix(chunk, from + p, to);
    if (q !== 0 && to - q > from && specialAt(chunk, from, to - q)) {
      suf.push(q);
      to -= q;
      break;
    }
    if (p !== 0 && q !== 0 && p + q <= to - from) {
      pre.push(p);
      suf.push(q);
      from += p;
      to -= q;
    } else if (p !== 0) {
      pre.push(p);
      from += p;
    } else if (q !== 0) {
      suf.push(q);
      to -= q;
    }
  }
  const out = pre;
  if (to > from) {
    const sp = specialAt(chunk, from, to);
    if (sp) for (const piece of sp) out.push(piece.length);
    else if (urlMatch(chunk.slice(from, to))) out.push(to - from);
    else {
      const inf: number[] = [];
      findInfixes(chunk, from, to, inf);
      let start = from;
      for (let k = 0; k < inf.length; k += 2) {
        const a = inf[k];
        const b = inf[k + 1];
        // spaCy skips an infix at the very start (it stays in the following token)
        if (a === from) continue;
        if (a !== start) out.push(a - start);
        if (a !== b) out.push(b - a);
        start = b;
      }
      if (start < to) out.push(to - start);
    }
  }
  for (let k = suf.length - 1; k >= 0; k--) out.push(suf[k]);
  return out;
}

/** 32-bit FNV-1a over UTF-16 units s[from:to]. */
function fnv(s: string, from: number, to: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

const SPECIAL_HASHES = new Int32Set([...SPECIALS.keys()].map((k) => fnv(k, 0, k.length)));
const SPECIAL_MAX_LEN = Math.max(...[...SPECIALS.keys()].map((k) => k.length));

// ---------------------------------------------------------------------------------------------------------
// spaCy's second special-case pass (Tokenizer._apply_special_cases): special cases holding affixes are
// matched as token sequences anywhere in the doc; the longest matches win (earliest first among equal
// lengths; a match is dropped when its first or last token is inside one already seen, and every match,
// kept or not, marks its tokens seen); a kept match whose text is the special case (no space inside)
// becomes the special case's pieces.

interface Pattern {
  key: string;
  toks: readonly string[];
  /** the special case's pieces are these very tokens: applying it changes nothing */
  noop: boolean;
}

const PATTERNS_BY_FIRST = new Map<string, Pattern[]>();
for (const [key, toks] of Object.entries(MATCHED_SPECIALS)) {
  const pieces = SPECIAL_CASES[key];
  const p: Pattern = { key, toks, noop: pieces.length === toks.length && pieces.every((x, k) => x === toks[k]) };
  const list = PATTERNS_BY_FIRST.get(toks[0]);
  if (list) list.push(p);
  else PATTERNS_BY_FIRST.set(toks[0], [p]);
}
// (a one-token pattern matches a token equal to its key, which the first pass already split as the special
// case: it can only be a no-op; the pass below relies on that)
for (const ps of PATTERNS_BY_FIRST.values()) for (const p of ps) if (p.toks.length === 1 && !p.noop) throw new Error(`spaCy data: one-token pattern ${p.key} changes tokens`);

const FIRST_HASHES = new Int32Set([...PATTERNS_BY_FIRST.keys()].map((k) => fnv(k, 0, k.length)));
const NO_PATTERNS: readonly Pattern[] = [];

/** Patterns whose first token is text[s:e] (the hash is checked first: most tokens start none). */
function patternsStartingWith(text: string, s: number, e: number): readonly Pattern[] {
  if (e - s > FIRST_MAX_LEN || !FIRST_HASHES.has(fnv(text, s, e))) return NO_PATTERNS;
  return PATTERNS_BY_FIRST.get(text.slice(s, e)) ?? NO_PATTERNS;
}
const FIRST_MAX_LEN = Math.max(...[...PATTERNS_BY_FIRST.keys()].map((k) => k.length));

// A match changes tokens only when its text is the special case, i.e. its tokens follow each other with
// nothing between them; no token of a pattern of two tokens or more holds whitespace (checked here), so such
// a match lies inside one chunk. When no chunk has one (chunkHasChange), the pass changes nothing and is
// skipped: fast-path chunks never have one (see below), cached chunks carry the answer.
for (const ps of PATTERNS_BY_FIRST.values()) {
  for (const p of ps) if (p.toks.length > 1 && p.toks.some((t) => [...t].some((ch) => isPySpace(ch.charCodeAt(0))))) throw new Error(`spaCy data: pattern ${JSON.stringify(p.key)} holds whitespace`);
}

/** Whether a pattern that changes tokens matches consecutive tokens of `chunk` (token lengths `lens`). */
function chunkHasChange(chunk: string, lens: readonly number[]): boolean {
  const at = [0];
  for (const x of lens) at.push(at[at.length - 1] + x);
  for (let k = 0; k < lens.length; k++) {
    for (const p of patternsStartingWith(chunk, at[k], at[k + 1])) {
      if (p.noop || k + p.toks.length > lens.length) continue;
      let all = true;
      for (let j = 1; j < p.toks.length && all; j++) all = lens[k + j] === p.toks[j].length && chunk.startsWith(p.toks[j], at[k + j]);
      if (all) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Cache of chunk -> tokens (spaCy keeps one too), keyed by FNV hash and confirmed on the characters. Keys
// and values live in flat pools (no object per entry, no slice of a document kept alive); everything is
// dropped at once when the table is half full or a pool is full. A slot is 4 int32s [key offset + 1 (0:
// empty), hash, key length, value offset]; a value is [token count, chunkHasChange, (length, flags) per token].

const CACHE_CAP = 1 << 18;
const POOL_UNITS = 1 << 21;
const CACHE_MAX_CHUNK = 256;
// (allocated on first use: about 6 MB, more as values need)
let slots = new Int32Array(0);
let keyPool = new Uint16Array(0);
let valPool = new Int32Array(0);
let keyUsed = 0;
let valUsed = 0;
let slotsUsed = 0;

function clearCache(): void {
  if (slots.length === 0) {
    slots = new Int32Array(4 * CACHE_CAP);
    keyPool = new Uint16Array(POOL_UNITS);
    valPool = new Int32Array(1 << 18);
  }
  slots.fill(0);
  keyUsed = 0;
  valUsed = 0;
  slotsUsed = 0;
}

/** Writes the tokens of `chunk` at valPool[at...] (growing the pool); returns the value's length in int32s. */
function describeChunk(chunk: string, at: number): number {
  const lens = tokenizeChunk(chunk);
  const size = 2 + 2 * lens.length;
  if (at + size > valPool.length) {
    const bigger = new Int32Array(Math.max(2 * valPool.length, at + size));
    bigger.set(valPool.subarray(0, at));
    valPool = bigger;
  }
  valPool[at] = lens.length;
  valPool[at + 1] = chunkHasChange(chunk, lens) ? 1 : 0;
  let from = 0;
  for (let k = 0; k < lens.length; k++) {
    const to = from + lens[k];
    valPool[at + 2 + 2 * k] = lens[k];
    valPool[at + 3 + 2 * k] = tokenFlags(chunk, from, to);
    from = to;
  }
  return size;
}

/** Tokens of the chunk text[s:e] (u: the text's code units): the offset of its value in valPool (read it before the next call). */
function chunkTokens(text: string, u: Uint16Array, s: number, e: number): number {
  if (slots.length === 0) clearCache();
  const len = e - s;
  let h = 0x811c9dc5 | 0;
  for (let i = s; i < e; i++) h = Math.imul(h ^ u[i], 0x01000193);
  const x = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  let at = (x ^ (x >>> 16)) & (CACHE_CAP - 1);
  for (;;) {
    const o = at << 2;
    const k = slots[o];
    if (k === 0) break;
    if (slots[o + 1] === h && slots[o + 2] === len) {
      let j = 0;
      while (j < len && keyPool[k - 1 + j] === u[s + j]) j++;
      if (j === len) return slots[o + 3];
    }
    at = (at + 1) & (CACHE_CAP - 1);
  }
  if (len > CACHE_MAX_CHUNK) {
    // not kept: written past the pool's used part
    describeChunk(text.slice(s, e), valUsed);
    return valUsed;
  }
  if (slotsUsed >= CACHE_CAP >> 1 || keyUsed + len > POOL_UNITS || valUsed > 1 << 23) {
    clearCache();
    return chunkTokens(text, u, s, e);
  }
  const v = valUsed;
  valUsed += describeChunk(text.slice(s, e), v);
  for (let j = 0; j < len; j++) keyPool[keyUsed + j] = u[s + j];
  const o = at << 2;
  slots[o] = keyUsed + 1;
  slots[o + 1] = h;
  slots[o + 2] = len;
  slots[o + 3] = v;
  keyUsed += len;
  slotsUsed++;
  return v;
}

// What the whitespace path of tokenize relies on, checked once against the generated data.
for (let c = 0; c < 65536; c++) {
  if (!isPySpace(c)) continue;
  if (prefixRulesFor(c).length > 0 || suffixRulesFor(c).length > 0 || INFIX_MAY_START[c] !== 0) throw new Error(`spaCy data: an affix rule matches whitespace U+${c.toString(16)}`);
}
for (const [k, pieces] of SPECIALS) if ([...k].every((ch) => isPySpace(ch.charCodeAt(0))) && pieces.length !== 1) throw new Error("spaCy data: a whitespace special case splits");

// ---------------------------------------------------------------------------------------------------------
// Fast paths, decided from character classes (no string is built):
//  - a chunk of ASCII letters W is one token unless W is a special case that splits (spaCy's special case
//    is checked first; no prefix, suffix or infix rule matches inside ASCII letters alone, and a URL holds a
//    "."); a special case of one piece is W itself;
//  - a word W of ASCII letters with one LEAD mark before it and/or a tail of one or two TRAIL marks after it
//    ("(word", "word,", "word.", "\"word\"", "word\".", "word;;"): when no special case is W with or
//    without marks around it (checked as: W is not in MARK_WORDS), spaCy's loop splits off the lead mark
//    (prefix rules) and the tail's marks one by one (suffix rules), and nothing else applies to W. What the
//    affix rules do there depends only on the lead, the tail and, through the suffixes' look-behinds (at
//    most 2 code points), on whether W's last two letters are upper or lower case: the rules that can match
//    hold no letters and their classes hold all lower-case ASCII letters or none, and the same for upper
//    case (checked at load). So each (tail, case context) is run through tokenizeChunk and the special-case
//    check, with every lead mark and none, on a representative word the first time it occurs (tailOk), and
//    takes the path only where the result is exactly [lead] W and the tail's marks;
//  - words of ASCII letters joined by single hyphens, with the same marks ("long-term", "(anti-trust,"):
//    see hyphenated below.
// No path can hold a match of a changing pattern (the special-case pass): its text would be a special case
// made of a word and marks (excluded above), of a hyphen between letters (there is none), or of 2+ tail
// marks (tailOk sees it on the representative word). test/data/spacyEnglishFast.test.ts checks every path
// against the general one (tokenizeChunk for every chunk).

const LEAD_MARKS = "(\"'[“‘";
const LOWER_ASCII = "abcdefghijklmnopqrstuvwxyz";
const TRAIL_MARKS = ",.;:!?)\"']”’";

/** Character class bits of each BMP code unit (astral code points are none of these). */
const C_LETTER = 1;
const C_SPACE = 2;
const C_LEAD = 4;
const C_TRAIL = 8;
const CLASS = new Uint8Array(65536);
/** Per code unit: 1 for whitespace, 2 for anything else that is not an ASCII letter (the first pass's view). */
const KIND = new Uint8Array(65536);
/** Token flags of each one-unit mark token. */
const MARK_FLAGS = new Uint8Array(65536);
for (let c = 0; c < 65536; c++) if (isPySpace(c)) CLASS[c] |= C_SPACE;
for (let c = 65; c <= 122; c++) if (c <= 90 || c >= 97) CLASS[c] |= C_LETTER;
for (const m of LEAD_MARKS) CLASS[m.charCodeAt(0)] |= C_LEAD;
for (const m of TRAIL_MARKS) CLASS[m.charCodeAt(0)] |= C_TRAIL;
for (const m of LEAD_MARKS + TRAIL_MARKS) MARK_FLAGS[m.charCodeAt(0)] = tokenFlags(m, 0, 1);
for (let c = 0; c < 65536; c++) KIND[c] = (CLASS[c] & C_SPACE) !== 0 ? 1 : (CLASS[c] & C_LETTER) !== 0 ? 0 : 2;

/**
 * A set of ASCII-letter words, looked up in a text without building a string: two filters (bit min(length,
 * 31) of the entry of the first and last letters, and of the second and last but one's; an ASCII letter's
 * low 6 bits tell it apart) settle almost every look-up, then the words with those ends are compared.
 */
class LetterWords {
  private readonly ends = new Uint32Array(4096);
  private readonly inner = new Uint32Array(4096);
  private readonly byEnds: (string[] | undefined)[] = new Array(4096).fill(undefined);
  constructor(words: Iterable<string>) {
    for (const w of new Set(words)) {
      const bit = 1 << Math.min(w.length, 31);
      const two = w.length > 1 ? 1 : 0;
      const key = ((w.charCodeAt(0) & 63) << 6) | (w.charCodeAt(w.length - 1) & 63);
      this.ends[key] |= bit;
      this.inner[((w.charCodeAt(two) & 63) << 6) | (w.charCodeAt(w.length - 1 - two) & 63)] |= bit;
      const list = this.byEnds[key];
      if (list) list.push(w);
      else this.byEnds[key] = [w];
    }
  }
  /** Whether u[a:b] (ASCII letters, b > a) is in the set. */
  has(u: Uint16Array, a: number, b: number): boolean {
    const bit = 1 << Math.min(b - a, 31);
    const key = ((u[a] & 63) << 6) | (u[b - 1] & 63);
    if ((this.ends[key] & bit) === 0) return false;
    const two = b - a > 1 ? 1 : 0;
    if ((this.inner[((u[a + two] & 63) << 6) | (u[b - 1 - two] & 63)] & bit) === 0) return false;
    return this.compare(u, a, b, this.byEnds[key] as string[]);
  }
  private compare(u: Uint16Array, a: number, b: number, words: string[]): boolean {
    for (const w of words) {
      if (w.length !== b - a) continue;
      let j = 1;
      while (j < w.length - 1 && w.charCodeAt(j) === u[a + j]) j++;
      if (j >= w.length - 1) return true;
    }
    return false;
  }
}

const isLetters = (w: string) => /^[A-Za-z]+$/.test(w);
/** ASCII-letter special cases of more than one piece. */
const SPLIT_WORDS = new LetterWords([...SPECIALS].filter(([k, pieces]) => isLetters(k) && pieces.length > 1).map(([k]) => k));
/** Words W such that W, or W with a LEAD mark before and/or TRAIL marks after, is a special case. */
const MARK_WORDS = new LetterWords(
  [...SPECIALS.keys()].flatMap((k) => {
    const out: string[] = [];
    for (let a = 0; a <= 1; a++) {
      if (a === 1 && !LEAD_MARKS.includes(k[0])) continue;
      for (let b = k.length; b > a; b--) {
        const w = k.slice(a, b);
        if (isLetters(w)) out.push(w);
        if (!TRAIL_MARKS.includes(k[b - 1])) break;
      }
    }
    return out;
  }),
);

/** 1 + the index of each TRAIL mark (0: not one); a tail of marks t1 t2 is tail id TRAIL_INDEX[t1] * 16 + TRAIL_INDEX[t2]. */
const TRAIL_INDEX = new Uint8Array(65536);
for (let k = 0; k < TRAIL_MARKS.length; k++) TRAIL_INDEX[TRAIL_MARKS.charCodeAt(k)] = k + 1;

/**
 * Case context of a word ending at u[we-1] that starts at w: bit 0 the last letter is upper case; bits 1-2:
 * 0 one letter, 1 the one before is lower case, 2 upper case.
 */
function caseContext(u: Uint16Array, w: number, we: number): number {
  return (u[we - 1] < 97 ? 1 : 0) | (we - w < 2 ? 0 : u[we - 2] < 97 ? 4 : 2);
}

// What tailOk relies on: the affix rules that can match in these chunks (suffixes ending with a TRAIL mark
// whose look-behind can see only letters and marks; prefixes starting with a LEAD mark) hold no ASCII letter
// themselves, look at most 2 code points back, and their look-around classes hold all ASCII letters of one
// case or none. ("°[FfCcKk]" before "." is one that cannot match here: no "°".)
{
  const inCls = (k: number, chars: string) => [...chars].some((ch) => (BMP_CLASS[ch.charCodeAt(0)] & (1 << k)) !== 0);
  const letters = LOWER_ASCII + LOWER_ASCII.toUpperCase();
  const uniform = (k: number) => [LOWER_ASCII, LOWER_ASCII.toUpperCase()].every((cs) => new Set([...cs].map((ch) => BMP_CLASS[ch.charCodeAt(0)] & (1 << k))).size === 1);
  const bodyOk = (r: AffixRule, marks: string, last: boolean) => {
    const b = r.body;
    if ("lits" in b) return b.lits.some((l) => marks.includes(l[last ? l.length - 1 : 0]));
    if ("rep" in b) return marks.includes(b.rep);
    return inCls(b.cls, marks);
  };
  const noLetters = (r: AffixRule) => ("lits" in r.body ? r.body.lits.every((l) => !/[A-Za-z]/.test(l)) : "rep" in r.body ? !/[A-Za-z]/.test(r.body.rep) : !inCls(r.body.cls, letters));
  for (const r of SUFFIX_RULES) {
    if (!bodyOk(r, TRAIL_MARKS, true) || !r.behind.every((k) => inCls(k, letters + TRAIL_MARKS))) continue;
    if (r.behind.length > 2 || !noLetters(r) || !r.behind.every(uniform) || (r.ahead && !uniform(r.ahead.cls))) throw new Error("spaCy data: a suffix rule breaks the tail table's assumptions");
  }
  for (const r of PREFIX_RULES) {
    // (one that starts with a letter needs a unit that is neither letter nor TRAIL mark: "US$", "C$", "A$")
    if ("lits" in r.body && r.body.lits.some((l) => /^[A-Za-z]/.test(l) && [...l].every((ch) => letters.includes(ch) || TRAIL_MARKS.includes(ch)))) throw new Error("spaCy data: a prefix rule starts with letters");
    if (!bodyOk(r, LEAD_MARKS, false)) continue;
    if (!noLetters(r) || (r.ahead && !uniform(r.ahead.cls))) throw new Error("spaCy data: a prefix rule breaks the tail table's assumptions");
  }
}

/** A representative word per case context (none where every word of that shape is in MARK_WORDS). */
const CONTEXT_WORDS = (() => {
  const letters = LOWER_ASCII + LOWER_ASCII.toUpperCase();
  const reps: (string | undefined)[] = new Array(6).fill(undefined);
  for (const x of letters) for (const y of ["", ...letters]) {
    const w = y + x;
    const units = Uint16Array.from(w, (ch) => ch.charCodeAt(0));
    const c = caseContext(units, 0, w.length);
    if (reps[c] === undefined && !MARK_WORDS.has(units, 0, w.length)) reps[c] = w;
  }
  return reps;
})();

/** Per tail id (0: no tail) * 8 + case context: 0 not known yet, 1 the fast path holds, 2 it does not. */
const TAIL_STATE = new Uint8Array(256 * 8);

/**
 * Whether [lead] W tail (tail id `id`, W of case context `c`) tokenizes as [lead] W and the tail's marks,
 * with every LEAD mark or none, checked on the representative word by the general path (once per entry).
 */
function tailOk(id: number, c: number): boolean {
  let st = TAIL_STATE[id * 8 + c];
  if (st === 0) {
    const w = CONTEXT_WORDS[c];
    const tail = (id >= 16 ? TRAIL_MARKS[(id >> 4) - 1] : "") + (id > 0 ? TRAIL_MARKS[(id & 15) - 1] : "");
    st = w === undefined ? 2 : 1;
    for (const lead of id === 0 ? [...LEAD_MARKS] : ["", ...LEAD_MARKS]) {
      if (st !== 1) break;
      const chunk = lead + w + tail;
      const lens = tokenizeChunk(chunk);
      const want = [...(lead ? [1] : []), (w as string).length, ...[...tail].map(() => 1)];
      if (lens.join() !== want.join() || chunkHasChange(chunk, lens)) st = 2;
    }
    TAIL_STATE[id * 8 + c] = st;
  }
  return st === 1;
}

// Hyphenated words ("long-term", "anti-Kennedy,", "(free-for-all)"): spaCy's infix rule splits a hyphen
// between two letters, and nothing else applies inside ASCII letters and such hyphens (no special case holds
// a hyphen between letters, no prefix or suffix rule ends at one: checked here on the data, and the split
// on every case combination below); the marks around the words go as on a plain word.
const HYPHEN_FLAGS = tokenFlags("-", 0, 1);
for (const k of SPECIALS.keys()) if (/[A-Za-z]-[A-Za-z]/.test(k)) throw new Error(`spaCy data: special case ${k} holds a hyphen between letters`);
for (const r of SUFFIX_RULES) if ("lits" in r.body && r.body.lits.some((l) => /^[A-Za-z-]*-[A-Za-z-]*$/.test(l))) throw new Error("spaCy data: a suffix rule of letters and hyphens");
for (const r of PREFIX_RULES) if ("lits" in r.body && r.body.lits.some((l) => /^[A-Za-z-]*-[A-Za-z-]*$/.test(l))) throw new Error("spaCy data: a prefix rule of letters and hyphens");
for (const w of ["ab-cd", "aB-Cd", "Ab-cD", "AB-CD", "a-b", "A-B", "a-B", "A-b", "ab-c-de", "xy-Zq-rs"]) {
  const want = w.split(/(-)/).map((x) => x.length);
  if (tokenizeChunk(w).join() !== want.join() || chunkHasChange(w, want)) throw new Error(`spaCy data: ${w} is not split at its hyphens`);
}

/** The number of hyphens in u[a:b] when it is ASCII letters joined by single hyphens (b > a), else -1. */
function hyphenated(u: Uint16Array, a: number, b: number): number {
  if ((CLASS[u[a]] & C_LETTER) === 0 || (CLASS[u[b - 1]] & C_LETTER) === 0) return -1;
  let h = 0;
  for (let k = a + 1; k < b - 1; k++) {
    const c = u[k];
    if ((CLASS[c] & C_LETTER) !== 0) continue;
    if (c !== 45 || (CLASS[u[k + 1]] & C_LETTER) === 0) return -1;
    h++;
    k++;
  }
  return h;
}

/** The first hyphen at or after a. */
function hyphenAfter(u: Uint16Array, a: number): number {
  while (u[a] !== 45) a++;
  return a;
}

/** The last hyphen before b. */
function hyphenBefore(u: Uint16Array, b: number): number {
  do b--;
  while (u[b] !== 45);
  return b;
}

// ---------------------------------------------------------------------------------------------------------
// Whole text -> tokens

interface Tokens {
  count: number;
  start: Int32Array;
  end: Int32Array;
  flags: Uint8Array;
}

// scratch arrays, grown as needed (results are copied out; reused up to 1M units, a longer text gets its
// own, so one huge document does not pin memory): tokens, the text's code units, the first pass's cuts
const SCRATCH_MAX = 1 << 20;
let tStart = new Int32Array(1024);
let tEnd = new Int32Array(1024);
let tFlags = new Uint8Array(1024);
let tUnits = new Uint16Array(1024);
let tCut = new Int32Array(1024);
let tOther = new Int32Array(1024);
/** Node's ucs2 writer copies a string's UTF-16 units as they are (lone surrogates too), little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A Buffer over tUnits (made again when tUnits grows). */
let tUnitsBytes = Buffer.from(tUnits.buffer, tUnits.byteOffset, tUnits.byteLength);

/**
 * The UTF-16 code units of text, in a typed array (much faster to read than charCodeAt). A short text is
 * copied by hand (a native call costs more than that).
 */
function unitsOf(text: string, u: Uint16Array): void {
  const n = text.length;
  if (n < 64 || !LITTLE_ENDIAN) for (let i = 0; i < n; i++) u[i] = text.charCodeAt(i);
  else {
    if (tUnitsBytes.buffer !== tUnits.buffer) tUnitsBytes = Buffer.from(tUnits.buffer, tUnits.byteOffset, tUnits.byteLength);
    (u === tUnits ? tUnitsBytes : Buffer.from(u.buffer, u.byteOffset, 2 * n)).write(text, 0, "utf16le");
  }
}

/**
 * The first pass over the text's units u[0:n], without branches: the chunk boundaries (cut[k]: where
 * whitespace starts or stops, then n) and the number of units before each that are neither whitespace nor
 * ASCII letters (other[k]). Returns the number of cuts.
 */
function findChunks(u: Uint16Array, n: number, cut: Int32Array, other: Int32Array): number {
  let cuts = 0;
  let others = 0;
  let prev = 1; // (as if whitespace came before the text)
  for (let i = 0; i < n; i++) {
    const k = KIND[u[i]];
    const sp = k & 1;
    cut[cuts] = i;
    other[cuts] = others;
    cuts += sp ^ prev;
    prev = sp;
    others += k >> 1;
  }
  cut[cuts] = n;
  other[cuts] = others;
  return cuts + 1;
}

/**
 * spaCy's Tokenizer.__call__ on text (special-case matching included), in the scratch arrays: all tokens
 * when `keepSpace`, else the tokens that are not whitespace (what word lists need). `general` turns the
 * fast paths off (every chunk goes through tokenizeChunk): the reference the tests hold them to.
 */
function tokenize(text: string, keepSpace: boolean, general = false): Tokens {
  const n = text.length;
  // at most one token (and one cut) per UTF-16 unit: room for all of them up front
  let start = tStart;
  let end = tEnd;
  let flags = tFlags;
  let u = tUnits;
  let cut = tCut;
  let other = tOther;
  if (start.length < n + 2) {
    const cap = Math.max(n + 2, 2 * start.length);
    start = new Int32Array(cap);
    end = new Int32Array(cap);
    flags = new Uint8Array(cap);
    u = new Uint16Array(cap);
    cut = new Int32Array(cap);
    other = new Int32Array(cap);
    if (cap <= SCRATCH_MAX) {
      tStart = start;
      tEnd = end;
      tFlags = flags;
      tUnits = u;
      tCut = cut;
      tOther = other;
    }
  }
  unitsOf(text, u);

  const cuts = findChunks(u, n, cut, other);
  // now chunk j = 0, 2, 4...: non-whitespace u[cut[j]:cut[j+1]], followed by whitespace up to cut[j+2] (or n)

  let count = 0;
  let change = false;
  if (keepSpace && cut[0] > 0) {
    // leading whitespace: one token (no affix rule holds whitespace, whitespace special cases are one piece;
    // both checked at load)
    start[count] = 0;
    end[count] = cut[0];
    flags[count] = F_SPACE;
    count++;
  }
  for (let j = 0; j + 1 < cuts; j += 2) {
    const s = cut[j];
    const e = cut[j + 1];
    if (s === e) break;
    const marks = other[j + 1] - other[j];
    let lead = 0;
    let trail = 0;
    let hyphens = 0;
    let fast = false;
    if (general) fast = false;
    else if (marks === 0) fast = !SPLIT_WORDS.has(u, s, e);
    else if (e - s > marks) {
      // [lead mark] ASCII letters, maybe joined by single hyphens, [one or two trail marks]?
      lead = (CLASS[u[s]] & C_LEAD) !== 0 ? 1 : 0;
      const t1 = TRAIL_INDEX[u[e - 1]];
      const t2 = t1 !== 0 && e - 2 > s + lead ? TRAIL_INDEX[u[e - 2]] : 0;
      trail = t1 === 0 ? 0 : t2 === 0 ? 1 : 2;
      const w = s + lead;
      const we = e - trail;
      const tail = trail === 2 ? t2 * 16 + t1 : t1;
      if (lead + trail === marks) fast = tailOk(tail, caseContext(u, w, we)) && !MARK_WORDS.has(u, w, we);
      else hyphens = hyphenated(u, w, we);
      if (hyphens > 0 && hyphens === marks - lead - trail) {
        // (the words next to the marks are checked as above; the last one has 2 letters or more when a tail
        // follows, so the tail's look-behinds see letters as on the representative word)
        const first = hyphenAfter(u, w);
        const last = hyphenBefore(u, we);
        fast = (lead === 0 || (tailOk(0, caseContext(u, w, first)) && !MARK_WORDS.has(u, w, first))) && (trail === 0 || (we - last > 2 && tailOk(tail, caseContext(u, last + 1, we)) && !MARK_WORDS.has(u, last + 1, we)));
      }
    }
    if (fast) {
      if (lead === 1) {
        start[count] = s;
        end[count] = s + 1;
        flags[count] = MARK_FLAGS[u[s]];
        count++;
      }
      if (hyphens === 0) {
        start[count] = s + lead;
        end[count] = e - trail;
        flags[count] = 0;
        count++;
      } else {
        // words and hyphens
        let a = s + lead;
        for (let k = a; k < e - trail; k++) {
          if (u[k] !== 45) continue;
          start[count] = a;
          end[count] = k;
          flags[count] = 0;
          start[count + 1] = k;
          end[count + 1] = k + 1;
          flags[count + 1] = HYPHEN_FLAGS;
          count += 2;
          a = k + 1;
        }
        start[count] = a;
        end[count] = e - trail;
        flags[count] = 0;
        count++;
      }
      for (let k = e - trail; k < e; k++) {
        start[count] = k;
        end[count] = k + 1;
        flags[count] = MARK_FLAGS[u[k]];
        count++;
      }
    } else {
      const o = chunkTokens(text, u, s, e);
      const t = valPool;
      if (t[o + 1] !== 0) change = true;
      const stop = o + 2 + 2 * t[o];
      let at = s;
      for (let k = o + 2; k < stop; k += 2) {
        start[count] = at;
        at += t[k];
        end[count] = at;
        flags[count] = t[k + 1];
        count++;
      }
    }
    // a single " " after a non-whitespace chunk is that token's trailing space, not a token; the rest of the
    // whitespace run (if any) is a token
    if (keepSpace && e < n) {
      const a = u[e] === 32 ? e + 1 : e;
      const b = j + 2 < cuts ? cut[j + 2] : n;
      if (a < b) {
        start[count] = a;
        end[count] = b;
        flags[count] = F_SPACE;
        count++;
      }
    }
  }
  const toks = { count, start, end, flags };
  if (!change) return toks;
  // the second pass needs every token (whitespace tokens end pattern matches)
  return keepSpace ? applyMatchedSpecials(text, toks) : dropSpace(tokenize(text, true, general));
}

/** The tokens that are not whitespace (in place). */
function dropSpace(t: Tokens): Tokens {
  let w = 0;
  for (let i = 0; i < t.count; i++) {
    if ((t.flags[i] & F_SPACE) !== 0) continue;
    t.start[w] = t.start[i];
    t.end[w] = t.end[i];
    t.flags[w] = t.flags[i];
    w++;
  }
  t.count = w;
  return t;
}

/** Whether pattern `p` occurs at token i (its first token is known to match). */
function matchesAt(text: string, t: Tokens, p: Pattern, i: number): boolean {
  const m = p.toks.length;
  if (i + m > t.count) return false;
  for (let k = 1; k < m; k++) {
    const tok = p.toks[k];
    const s = t.start[i + k];
    if (t.end[i + k] - s !== tok.length || !text.startsWith(tok, s)) return false;
  }
  return true;
}

function applyMatchedSpecials(text: string, t: Tokens): Tokens {
  const { count, start, end, flags } = t;
  const matches: { a: number; b: number; key: string }[] = [];
  for (let i = 0; i < count; i++) {
    for (const p of patternsStartingWith(text, start[i], end[i])) if (matchesAt(text, t, p, i)) matches.push({ a: i, b: i + p.toks.length, key: p.key });
  }
  // longest first, then earliest
  matches.sort((x, y) => y.b - y.a - (x.b - x.a) || x.a - y.a);
  const seen = new Uint8Array(count);
  const kept: { a: number; b: number; key: string }[] = [];
  for (const m of matches) {
    if (!seen[m.a] && !seen[m.b - 1]) kept.push(m);
    seen.fill(1, m.a, m.b);
  }
  kept.sort((x, y) => x.a - y.a);
  // rebuild the token list with the kept matches replaced (only those with no whitespace inside)
  let cap = count;
  for (const m of kept) cap += (SPECIALS.get(m.key) as readonly string[]).length;
  const out: Tokens = { count: 0, start: new Int32Array(cap), end: new Int32Array(cap), flags: new Uint8Array(cap) };
  const push = (s: number, e: number, f: number) => {
    const k = out.count++;
    out.start[k] = s;
    out.end[k] = e;
    out.flags[k] = f;
  };
  let i = 0;
  for (const m of kept) {
    for (; i < m.a; i++) push(start[i], end[i], flags[i]);
    let joined = true;
    for (let k = m.a; k + 1 < m.b; k++) if (end[k] !== start[k + 1]) joined = false;
    if (joined) {
      let at = start[m.a];
      for (const piece of SPECIALS.get(m.key) as readonly string[]) {
        push(at, at + piece.length, tokenFlags(text, at, at + piece.length));
        at += piece.length;
      }
    } else for (let k = m.a; k < m.b; k++) push(start[k], end[k], flags[k]);
    i = m.b;
  }
  for (; i < count; i++) push(start[i], end[i], flags[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Public API

/** datatrove's split_into_words(text, "en") at a649de79: spaCy 3.8 English tokens, whitespace tokens dropped. */
export function englishWordSpans(text: string): TokenSpans {
  const t = tokenize(text, false);
  const words = t.count;
  const buf = new Int32Array(2 * words);
  buf.set(t.start.subarray(0, words));
  buf.set(t.end.subarray(0, words), words);
  return { count: words, start: buf.subarray(0, words), end: buf.subarray(words, 2 * words) };
}

/**
 * For tests: the tokens of text, whitespace tokens included when `keepSpace`, with their flags (1:
 * whitespace, 2: punctuation, 4: sentence-final), by the fast paths or, with `general`, by tokenizeChunk for
 * every chunk.
 */
export function tokensForTest(text: string, keepSpace: boolean, general: boolean): { start: number[]; end: number[]; flags: number[] } {
  const t = tokenize(text, keepSpace, general);
  return { start: Array.from(t.start.subarray(0, t.count)), end: Array.from(t.end.subarray(0, t.count)), flags: Array.from(t.flags.subarray(0, t.count)) };
}

/** datatrove's split_into_words(text, "en") as strings. */
export function englishWords(text: string): string[] {
  const s = englishWordSpans(text);
  const out = new Array<string>(s.count);
  for (let i = 0; i < s.count; i++) out[i] = text.slice(s.start[i], s.end[i]);
  return out;
}

/**
 * spaCy's sentencizer over the tokens of text: the number of cut points (the ends of the sentences but the
 * last; at most `limit`), pushed on `cuts` when given. A sentence starts at the first token after a sentence-final character that is neither punctuation nor
 * another sentence-final character; it ends where its last token ends.
 */
function sentencizer(text: string, limit: number, cuts?: number[]): number {
  const t = tokenize(text, true);
  const { count, end, flags } = t;
  let n = 0;
  let seenPeriod = false;
  for (let i = 0; i < count && n < limit; i++) {
    const f = flags[i];
    if (seenPeriod && (f & (F_PUNCT | F_SENT)) === 0) {
      cuts?.push(end[i - 1]);
      n++;
      seenPeriod = false;
    } else if ((f & F_SENT) !== 0) seenPeriod = true;
  }
  return n;
}

/**
 * datatrove's split_into_sentences(text, "en"): the text cut at the end of each spaCy sentencizer sentence
 * (the whitespace after a sentence begins the next one; the last runs to the end of the text). An empty text
 * gives [""].
 */
export function englishSentences(text: string): string[] {
  const cuts: number[] = [];
  sentencizer(text, Number.POSITIVE_INFINITY, cuts);
  const out: string[] = [];
  let a = 0;
  for (const b of cuts) {
    out.push(text.slice(a, b));
    a = b;
  }
  out.push(text.slice(a));
  return out;
}

/** Number of sentences {@link englishSentences} gives (counting stops once it reaches `atLeast`). */
export function countEnglishSentences(text: string, atLeast = Number.POSITIVE_INFINITY): number {
  return sentencizer(text, Math.max(0, atLeast - 1)) + 1;
}
