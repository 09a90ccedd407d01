// English-vs-other language identification: a character-trigram naive Bayes over the Latin-script
// language profiles shipped by `franc-min` (300 ranked trigrams per language), plus a script check.
// One map lookup per trigram scores all languages at once, far faster than franc's distance ranking.
import { data as francData } from "franc-min/data.js";
import { z } from "zod";
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
  /** trigram key -> sparse (language index, log weight - floor) pairs of the profiles that hold it */
  table: Map<number, { idx: Int32Array; w: Float64Array }>;
  /** log weight of a trigram absent from a language's profile */
  floor: number;
}

let model: LangModel | undefined;

function trigramKey(a: number, b: number, c: number): number {
  return (a * 65536 + b) * 65536 + c;
}

function buildModel(): LangModel {
  const latin = (francData as Record<string, Record<string, string>>).Latin;
  const langs = Object.keys(latin);
  const floor = Math.log(0.5);
  const dense = new Map<number, Map<number, number>>();
  langs.forEach((lang, li) => {
    const tris = latin[lang].split("|");
    tris.forEach((tri, rank) => {
      const key = trigramKey(tri.charCodeAt(0), tri.charCodeAt(1), tri.charCodeAt(2));
      let v = dense.get(key);
      if (!v) {
        v = new Map();
        dense.set(key, v);
      }
      v.set(li, Math.log(tris.length - rank) - floor);
    });
  });
  const table = new Map<number, { idx: Int32Array; w: Float64Array }>();
  for (const [key, v] of dense) table.set(key, { idx: Int32Array.from(v.keys()), w: Float64Array.from(v.values()) });
  return { langs, table, floor };
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

/** Guesses the language of `text` from its first `sampleChars` characters. */
export function identifyLanguage(text: string, sampleChars = 1000, minLetters = 20): LanguageGuess {
  const m = (model ??= buildModel());
  const sample = text.slice(0, sampleChars);
  // one pass: count letters and Latin letters, lower-case them, and fold everything else to a single space
  const codes: number[] = [32];
  let letters = 0;
  let latin = 0;
  for (let i = 0; i < sample.length; i++) {
    let c = sample.charCodeAt(i);
    let isLetter: boolean;
    if (c < 128) {
      isLetter = (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
      if (isLetter) {
        latin++;
        if (c <= 90) c += 32;
      }
    } else {
      const ch = sample[i];
      isLetter = LETTER_1_RE.test(ch);
      if (isLetter) {
        if (LATIN_1_RE.test(ch)) latin++;
        c = ch.toLowerCase().charCodeAt(0);
      }
    }
    if (isLetter) {
      letters++;
      codes.push(c);
    } else if (codes[codes.length - 1] !== 32) codes.push(32);
  }
  if (codes[codes.length - 1] !== 32) codes.push(32);
  if (letters < minLetters) return { lang: "und", score: 0, probs: {} };
  if (latin / letters < 0.5) return { lang: "other-script", score: 1, probs: {} };
  const totals = new Float64Array(m.langs.length);
  let seen = 0;
  for (let i = 0; i + 2 < codes.length; i++) {
    const v = m.table.get(trigramKey(codes[i], codes[i + 1], codes[i + 2]));
    if (!v) continue;
    seen++;
    for (let k = 0; k < v.idx.length; k++) totals[v.idx[k]] += v.w[k];
  }
  if (seen === 0) return { lang: "und", score: 0, probs: {} };
  let max = -Infinity;
  for (const t of totals) max = Math.max(max, t);
  let z = 0;
  for (const t of totals) z += Math.exp(t - max);
  const probs: Record<string, number> = {};
  let best = 0;
  for (let l = 0; l < totals.length; l++) {
    probs[m.langs[l]] = Math.exp(totals[l] - max) / z;
    if (totals[l] > totals[best]) best = l;
  }
  return { lang: m.langs[best], score: probs[m.langs[best]], probs };
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
    const g = identifyLanguage(v.text, o.sampleChars, o.minLetters);
    if (g.lang === "und") return o.dropUndetermined ? { remove: "undetermined", detail: "too few letters" } : { scores: { lang: "und" } };
    const p = g.probs[o.keep] ?? 0;
    const scores = { lang: g.lang, lang_score: Number(g.score.toFixed(4)) };
    if (p < o.minScore) return { remove: `not_${o.keep}`, detail: `${g.lang} (${o.keep} p=${p.toFixed(2)} < ${o.minScore})`, scores };
    return { scores };
  }
}
