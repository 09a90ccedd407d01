// English-vs-other language identification: a character-trigram naive Bayes over the Latin-script
// language profiles shipped by `franc-min` (300 ranked trigrams per language), plus a script check.
// One map lookup per trigram scores all languages at once, far faster than franc's distance ranking.
import { data as francData } from "franc-min/data.js";
import { z } from "zod";
import { type TextAddon, textAddon } from "../nativeText.js";
import type { TextView } from "../textView.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";

export const languageOptionsSchema = z.object({
  /** ISO 639-3 code of the language to keep (a Latin-script language in franc-min's set). */
  keep: z.string().default("eng"),
  /** Minimum posterior probability of `keep` (FineWeb keeps English at fastText score >= 0.65). */
  minScore: z.number().default(0.65),
  /** Characters of the document looked at. */
  sampleChars: z.number().int().positive().default(1000),
  /** Documents with fewer letters than this get language "und" and are kept unless `dropUndetermined`. */
  minLetters: z.number().int().nonnegative().default(20),
  dropUndetermined: z.boolean().default(false),
});
export type LanguageOptions = z.infer<typeof languageOptionsSchema>;

interface LangModel {
  langs: string[];
  /** open-addressing table over trigram keys (hi = first char, lo = second << 16 | third); slot -> entry index + 1 */
  keyHi: Int32Array;
  keyLo: Int32Array;
  slot: Int32Array;
  mask: number;
  /** entry e holds the (language index, log weight - floor) pairs idx/w[from[e] .. from[e + 1]) */
  from: Int32Array;
  idx: Int32Array;
  w: Float64Array;
  /** log weight of a trigram absent from a language's profile */
  floor: number;
  /** the same slot values (entry index + 1, 0 when absent) for trigrams of [a-z ] only, at (a << 10 | b << 5 | c) of their {@link SMALL} codes */
  direct: Int32Array;
}

/** Code 0 for a space, 1..26 for a..z, -1 for every other UTF-16 unit: the alphabet of the direct trigram table. */
const SMALL = new Int8Array(65536).fill(-1);
SMALL[32] = 0;
for (let c = 97; c <= 122; c++) SMALL[c] = c - 96;

let model: LangModel | undefined;

const slotOf = (hi: number, lo: number, mask: number) => (Math.imul(hi ^ Math.imul(lo, 0x9e3779b1), 0x85ebca6b) >>> 16) & mask;

function buildModel(): LangModel {
  const latin = (francData as Record<string, Record<string, string>>).Latin;
  const langs = Object.keys(latin);
  const floor = Math.log(0.5);
  // trigram -> language index -> weight, in first-seen order (the order pairs are summed in does not matter:
  // each language gets at most one term per trigram)
  const dense = new Map<string, Map<number, number>>();
  langs.forEach((lang, li) => {
    const tris = latin[lang].split("|");
    tris.forEach((tri, rank) => {
      let v = dense.get(tri);
      if (!v) {
        v = new Map();
        dense.set(tri, v);
      }
      v.set(li, Math.log(tris.length - rank) - floor);
    });
  });
  let cap = 16;
  while (cap < dense.size * 2) cap <<= 1;
  const keyHi = new Int32Array(cap);
  const keyLo = new Int32Array(cap);
  const slot = new Int32Array(cap);
  const from = new Int32Array(dense.size + 1);
  let pairs = 0;
  for (const v of dense.values()) pairs += v.size;
  const idx = new Int32Array(pairs);
  const w = new Float64Array(pairs);
  let e = 0;
  let at = 0;
  for (const [tri, v] of dense) {
    const hi = tri.charCodeAt(0);
    const lo = (tri.charCodeAt(1) << 16) | tri.charCodeAt(2);
    let i = slotOf(hi, lo, cap - 1);
    while (slot[i] !== 0) i = (i + 1) & (cap - 1);
    keyHi[i] = hi;
    keyLo[i] = lo;
    slot[i] = e + 1;
    from[e] = at;
    for (const [li, wt] of v) {
      idx[at] = li;
      w[at] = wt;
      at++;
    }
    e++;
  }
  from[e] = at;
  const direct = new Int32Array(32768);
  for (let i = 0; i < cap; i++) {
    if (slot[i] === 0) continue;
    const a = SMALL[keyHi[i]];
    const b = SMALL[keyLo[i] >>> 16];
    const c = SMALL[keyLo[i] & 0xffff];
    if ((a | b | c) >= 0) direct[(a << 10) | (b << 5) | c] = slot[i];
  }
  return { langs, keyHi, keyLo, slot, mask: cap - 1, from, idx, w, floor, direct };
}

/** The language model, built on first use. */
function langModel(): LangModel {
  if (!model) model = buildModel();
  return model;
}

/** Slot value (entry index + 1, 0 when absent) of a trigram by the hash table: the definition. */
function entryByHash(m: LangModel, hi: number, lo: number): number {
  const { keyHi, keyLo, slot, mask } = m;
  let s = slotOf(hi, lo, mask);
  for (;;) {
    const e = slot[s];
    if (e === 0 || (keyHi[s] === hi && keyLo[s] === lo)) return e;
    s = (s + 1) & mask;
  }
}

/** Slot values of trigram (a, b, c) of UTF-16 units by the hash table and by the direct table where it applies (-1 where not). */
export function trigramEntries(a: number, b: number, c: number): { byHash: number; direct: number } {
  const m = langModel();
  const x = SMALL[a];
  const y = SMALL[b];
  const z = SMALL[c];
  return { byHash: entryByHash(m, a, (b << 16) | c), direct: (x | y | z) >= 0 ? m.direct[(x << 10) | (y << 5) | z] : -1 };
}

const LATIN_1_RE = /\p{Script=Latin}/u;
const LETTER_1_RE = /\p{L}/u;

export interface LanguageGuess {
  /** Best language code, `und` when too little text, or `other-script` when most letters are not Latin. */
  lang: string;
  /** Posterior probability of the best language among the Latin-script profiles. */
  score: number;
  /** Posterior probability of each language, for `keep` look-ups. */
  probs: Record<string, number>;
}

/** Log scores of every language (or why there are none), before normalisation. */
interface LanguageScores {
  lang: "und" | "other-script" | "";
  totals: Float64Array;
  best: number;
  max: number;
  /** sum of exp(total - max) over languages */
  z: number;
}

let codes = new Int32Array(1024);
const totals = new Float64Array(64);
// counted scoring: occurrences of each slot value (entry index + 1; 0 for misses) in the sample (zero between calls) and
// the slot values seen, in first-seen order
let entryCount = new Int32Array(0);
let entryList = new Int32Array(1024);

/** [codes used, letters, Latin letters] of the last fold into `codes`. */
const folded = new Int32Array(3);

/**
 * One pass over text[0, end): counts letters and Latin letters, lower-cases them into `codes`, and folds every run of
 * other characters to a single space, with a space at both ends (the definition). Returns the codes used.
 */
function foldPlain(text: string, end: number): number {
  let n = 0;
  codes[n++] = 32;
  let letters = 0;
  let latin = 0;
  for (let i = 0; i < end; i++) {
    let c = text.charCodeAt(i);
    let isLetter: boolean;
    if (c < 128) {
      isLetter = (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
      if (isLetter) {
        latin++;
        if (c <= 90) c += 32;
      }
    } else {
      const ch = text[i];
      isLetter = LETTER_1_RE.test(ch);
      if (isLetter) {
        if (LATIN_1_RE.test(ch)) latin++;
        c = ch.toLowerCase().charCodeAt(0);
      }
    }
    if (isLetter) {
      letters++;
      codes[n++] = c;
    } else if (codes[n - 1] !== 32) codes[n++] = 32;
  }
  if (codes[n - 1] !== 32) codes[n++] = 32;
  folded[0] = n;
  folded[1] = letters;
  folded[2] = latin;
  return n;
}

/** ASCII code -> its lower-case letter, or 32 for a non-letter; and 1 for a letter, else 0. */
const ASCII_FOLD = new Int32Array(128).fill(32);
const ASCII_LETTER = new Int32Array(128);
for (let c = 65; c <= 90; c++) {
  ASCII_FOLD[c] = ASCII_FOLD[c + 32] = c + 32;
  ASCII_LETTER[c] = ASCII_LETTER[c + 32] = 1;
}

/**
 * {@link foldPlain} without data-dependent branches on ASCII (word boundaries mispredict on prose): each code is
 * written, and kept (n advances) when it is a letter or follows a non-space.
 */
function foldFast(text: string, end: number): number {
  const out = codes;
  let n = 1;
  out[0] = 32;
  let letters = 0;
  let latin = 0;
  let prev = 32;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      const l = ASCII_LETTER[c];
      const v = ASCII_FOLD[c];
      letters += l;
      latin += l;
      out[n] = v;
      const d = prev ^ 32;
      const keep = l | ((d | -d) >>> 31);
      n += keep;
      // the last kept code: v when kept; when not, v and prev are both a space
      prev = v;
    } else {
      const ch = text[i];
      if (LETTER_1_RE.test(ch)) {
        if (LATIN_1_RE.test(ch)) latin++;
        letters++;
        prev = out[n++] = ch.toLowerCase().charCodeAt(0);
      } else if (prev !== 32) prev = out[n++] = 32;
    }
  }
  if (prev !== 32) out[n++] = 32;
  folded[0] = n;
  folded[1] = letters;
  folded[2] = latin;
  return n;
}

/** The folded codes, letters and Latin letters of text[0, min(length, sampleChars)), by the fast or the plain fold (for tests). */
export function foldSample(text: string, sampleChars: number, fast: boolean): { codes: number[]; letters: number; latin: number } {
  const end = Math.min(text.length, sampleChars);
  if (codes.length < end + 2) codes = new Int32Array(end + 2);
  const n = fast ? foldFast(text, end) : foldPlain(text, end);
  return { codes: [...codes.subarray(0, n)], letters: folded[1], latin: folded[2] };
}

/**
 * Scores the first `sampleChars` characters of `text` against every language profile (totals are reused between
 * calls). The definition sums each language's log weights in text order; `counted` instead adds count × weight once
 * per distinct trigram (half the additions on prose), which differs from it only by rounding: see {@link certain}.
 */
function scoreLanguages(text: string, sampleChars: number, minLetters: number, counted = false, addon: TextAddon | null = textAddon): LanguageScores {
  const m = langModel();
  const t = totals.subarray(0, m.langs.length);
  // counted totals by the native kernel when it is loaded (the same sums in the same order), else here
  const seen = counted && addon ? nativeTotals(addon, m, text, sampleChars, minLetters, t) : totalsTs(m, text, sampleChars, minLetters, counted, t);
  const letters = folded[1];
  const latin = folded[2];
  if (letters < minLetters) return { lang: "und", totals: t, best: 0, max: 0, z: 0 };
  if (latin / letters < 0.5) return { lang: "other-script", totals: t, best: 0, max: 0, z: 0 };
  if (seen === 0) return { lang: "und", totals: t, best: 0, max: 0, z: 0 };
  let max = -Infinity;
  for (let l = 0; l < t.length; l++) max = Math.max(max, t[l]);
  let z = 0;
  let best = 0;
  for (let l = 0; l < t.length; l++) {
    z += Math.exp(t[l] - max);
    if (t[l] > t[best]) best = l;
  }
  return { lang: "", totals: t, best, max, z };
}

/** The native model handle (a copy of the tables) and the fold table of BMP units, built on first use. */
let nativeModel: unknown;
let foldTable: Int32Array | undefined;
const nativeOut = new Int32Array(3);

/** Fold of each UTF-16 unit as {@link foldPlain} does it: lower-case letter | letter << 16 | Latin << 17, or 32 for a non-letter. */
function buildFoldTable(): Int32Array {
  const f = new Int32Array(65536).fill(32);
  for (let c = 0; c < 65536; c++) {
    const ch = String.fromCharCode(c);
    if (LETTER_1_RE.test(ch)) f[c] = ch.toLowerCase().charCodeAt(0) | (1 << 16) | (LATIN_1_RE.test(ch) ? 1 << 17 : 0);
  }
  return f;
}

/** Counted totals of the native kernel into `t`; sets the letter counts of `folded` and returns the trigrams found in the profiles. */
function nativeTotals(addon: TextAddon, m: LangModel, text: string, sampleChars: number, minLetters: number, t: Float64Array): number {
  nativeModel ??= addon.languageModel(m.keyHi, m.keyLo, m.slot, m.from, m.idx, m.w, m.direct, m.langs.length);
  // the fold table only once a sample is not ASCII
  if (!addon.languageScores(nativeModel, text, sampleChars, minLetters, t, foldTable ?? null, nativeOut)) {
    foldTable = buildFoldTable();
    addon.languageScores(nativeModel, text, sampleChars, minLetters, t, foldTable, nativeOut);
  }
  folded[1] = nativeOut[0];
  folded[2] = nativeOut[1];
  return nativeOut[2];
}

/**
 * Language totals into `t` by the TypeScript loops (text order, or counted); sets `folded` and returns the number of
 * trigrams found in the profiles (0, with zero totals, when the letter checks fail).
 */
function totalsTs(m: LangModel, text: string, sampleChars: number, minLetters: number, counted: boolean, t: Float64Array): number {
  const end = Math.min(text.length, sampleChars);
  if (codes.length < end + 2) codes = new Int32Array(end + 2);
  if (entryList.length < end + 2) entryList = new Int32Array(end + 2);
  const n = counted ? foldFast(text, end) : foldPlain(text, end);
  const letters = folded[1];
  const latin = folded[2];
  t.fill(0);
  if (letters < minLetters || latin / letters < 0.5) return 0;
  const { from, idx, w } = m;
  let seen = 0;
  if (counted) {
    // slot values straight from the direct table for [a-z ] trigrams (nearly all of them), and counted without a
    // data-dependent branch: misses count under entry 0, and each value is listed once, when its count leaves 0
    // (on prose the branches of the plain loop, hit or miss and first or repeat, mispredict often)
    if (entryCount.length < from.length) entryCount = new Int32Array(from.length);
    const cnt = entryCount;
    const list = entryList;
    const direct = m.direct;
    let distinct = 0;
    let p = SMALL[codes[0]];
    let q = SMALL[codes[1]];
    for (let i = 0; i + 2 < n; i++) {
      const r = SMALL[codes[i + 2]];
      const e = (p | q | r) >= 0 ? direct[(p << 10) | (q << 5) | r] : entryByHash(m, codes[i], (codes[i + 1] << 16) | codes[i + 2]);
      p = q;
      q = r;
      const old = cnt[e];
      cnt[e] = old + 1;
      list[distinct] = e;
      distinct += (old - 1) >>> 31;
    }
    for (let j = 0; j < distinct; j++) {
      const e = list[j];
      const c = cnt[e];
      cnt[e] = 0;
      if (e === 0) continue;
      seen += c;
      for (let k = from[e - 1], stop = from[e]; k < stop; k++) t[idx[k]] += c * w[k];
    }
  } else {
    for (let i = 0; i + 2 < n; i++) {
      const e = entryByHash(m, codes[i], (codes[i + 1] << 16) | codes[i + 2]);
      if (e === 0) continue;
      seen++;
      for (let k = from[e - 1], stop = from[e]; k < stop; k++) t[idx[k]] += w[k];
    }
  }
  return seen;
}

/**
 * Absolute error allowed between counted and text-order totals. Both sum at most `sampleChars` positive terms
 * (log weights > 0) of a total T below 7 per trigram, so each is within (terms) × 2^-53 × T of the exact sum:
 * for 10^4 trigrams, 10^4 × 1.1e-16 × 7e4 < 1e-7 (one rounding more for count × weight is inside that too).
 */
const TOTAL_EPS = 1e-7;
/** Distance from a rounding or threshold boundary past which a figure computed from either total is the same. */
const FIGURE_EPS = 1e-6;

/** True when x is more than FIGURE_EPS away from every boundary k / 10^digits + 0.5 / 10^digits and from `threshold`. */
function farFromBoundaries(x: number, digits: number, threshold: number): boolean {
  const scaled = x * 10 ** digits - 0.5;
  const frac = scaled - Math.floor(scaled);
  const d = Math.min(frac, 1 - frac) / 10 ** digits;
  return d > FIGURE_EPS && Math.abs(x - threshold) > FIGURE_EPS;
}

/**
 * True when counted totals `r` give the rule exactly what the text-order totals would: the same best language
 * (ahead of every other by more than 2 × TOTAL_EPS), the same score to 4 decimals, the same keep-language
 * probability against `minScore` and to 2 decimals. Probabilities move by under 4 × TOTAL_EPS when each total
 * moves by TOTAL_EPS (both are exp(t - max) / z), far inside FIGURE_EPS.
 */
function certain(r: LanguageScores, keep: number, minScore: number): boolean {
  const t = r.totals;
  for (let l = 0; l < t.length; l++) if (l !== r.best && !(t[r.best] - t[l] > 2 * TOTAL_EPS)) return false;
  // the score is at most 1: no threshold of its own
  if (!farFromBoundaries(Math.exp(t[r.best] - r.max) / r.z, 4, Infinity)) return false;
  const p = keep >= 0 ? Math.exp(t[keep] - r.max) / r.z : 0;
  return keep < 0 || farFromBoundaries(p, 2, minScore);
}

/**
 * Totals of every language for `text` (a copy; empty when und/other-script), text order (the definition) or counted
 * (by the native kernel when `addon` is given), the probability of `o.keep` from them, and whether they pass the certification the rule applies to counted totals.
 */
export function languageTotals(text: string, o: LanguageOptions, counted: boolean, addon: TextAddon | null = textAddon): { totals: number[]; keepProb: number; certain: boolean } {
  const r = scoreLanguages(text, o.sampleChars, o.minLetters, counted, addon);
  if (r.lang !== "") return { totals: [], keepProb: 0, certain: false };
  const k = model!.langs.indexOf(o.keep);
  return { totals: [...r.totals], keepProb: k >= 0 ? Math.exp(r.totals[k] - r.max) / r.z : 0, certain: certain(r, k, o.minScore) };
}

/** Guesses the language of `text` from its first `sampleChars` characters. */
export function identifyLanguage(text: string, sampleChars = 1000, minLetters = 20): LanguageGuess {
  const r = scoreLanguages(text, sampleChars, minLetters);
  if (r.lang === "und") return { lang: "und", score: 0, probs: {} };
  if (r.lang === "other-script") return { lang: "other-script", score: 1, probs: {} };
  const langs = model!.langs;
  const probs: Record<string, number> = {};
  for (let l = 0; l < r.totals.length; l++) probs[langs[l]] = Math.exp(r.totals[l] - r.max) / r.z;
  return { lang: langs[r.best], score: probs[langs[r.best]], probs };
}

/** Removes documents not in the kept language; reasons: `not_<keep>`, `undetermined`. Stores `meta.lang`, `meta.lang_score`. */
export class LanguageRule implements QualityRule {
  readonly name = "language";
  constructor(
    readonly opts: LanguageOptions,
    readonly scope: RuleScope,
  ) {}

  check(v: TextView): RuleOutcome | null {
    const o = this.opts;
    // counted totals when they provably decide as the text-order ones would, else the text-order ones
    const r = scoreLanguages(v.text, o.sampleChars, o.minLetters, true);
    if (r.lang === "" && !certain(r, model!.langs.indexOf(o.keep), o.minScore)) return languageOutcome(scoreLanguages(v.text, o.sampleChars, o.minLetters), o);
    return languageOutcome(r, o);
  }
}

/** The rule's outcome from the language totals of a document. */
function languageOutcome(r: LanguageScores, o: LanguageOptions): RuleOutcome | null {
  if (r.lang === "und") return o.dropUndetermined ? { remove: "undetermined", detail: "too few letters" } : { scores: { lang: "und" } };
  // the same figures identifyLanguage reports, without building the per-language record
  let lang = "other-script";
  let score = 1;
  let p = 0;
  if (r.lang === "") {
    const langs = model!.langs;
    lang = langs[r.best];
    score = Math.exp(r.totals[r.best] - r.max) / r.z;
    const k = langs.indexOf(o.keep);
    if (k >= 0) p = Math.exp(r.totals[k] - r.max) / r.z;
  }
  const scores = { lang, lang_score: Number(score.toFixed(4)) };
  if (p < o.minScore) return { remove: `not_${o.keep}`, detail: `${lang} (${o.keep} p=${p.toFixed(2)} < ${o.minScore})`, scores };
  return { scores };
}

/** The rule's outcome from the text-order totals alone (the definition the rule's counted path is tested against). */
export function languageOutcomeReference(text: string, o: LanguageOptions): RuleOutcome | null {
  return languageOutcome(scoreLanguages(text, o.sampleChars, o.minLetters), o);
}
