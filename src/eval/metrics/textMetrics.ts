// Text-generation metrics of the evaluation harness: BLEU exactly as NLTK 3.8's nltk.translate.bleu_score computes it
// (corpus and sentence level, SmoothingFunction methods 0-7, auto_reweigh, NLTK's Fraction arithmetic kept exact with
// bigint rationals), and ROUGE-1/2/L and ROUGE-Lsum as Google's rouge-score package defines them (its default tokenizer, no stemming).

/** Bad input to BLEU (mismatched corpus, a hypothesis without references, empty weights), or a smoothing method's precondition that NLTK asserts. */
export class BleuInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BleuInputError";
  }
}

/** NLTK's SmoothingFunction methods (Chen and Cherry 2014); method0 is no smoothing. */
export type BleuSmoothing = "method0" | "method1" | "method2" | "method3" | "method4" | "method5" | "method6" | "method7";

/** Options of {@link corpusBleu} and {@link sentenceBleu}, named after NLTK's parameters. */
export interface BleuOptions {
  /** Weights of the 1..N-gram log precisions; N = weights.length. Default [0.25, 0.25, 0.25, 0.25] (BLEU-4). */
  weights?: readonly number[];
  /** Smoothing method, with NLTK's defaults epsilon = 0.1 (method1), k = 5 (method4, method7), alpha = 5 (method6). Default "method0". */
  smoothing?: BleuSmoothing;
  /** NLTK's auto_reweigh: when the total hypothesis length L is under 4 and the weights are exactly four 0.25s, use L weights of 1/L. */
  autoReweigh?: boolean;
  /** Receives the warnings NLTK's method0 emits (one per n-gram order without matches), with NLTK's message text. Default: ignored. */
  onWarning?: (message: string) => void;
}

/** NLTK's SmoothingFunction() defaults. */
const EPSILON = 0.1;
const ALPHA = 5n;
const K = 5;
/** Python's sys.float_info.min, the smallest normal double, which method0 puts in place of a zero precision. */
const FLOAT_MIN = 2.2250738585072014e-308;
const UNIFORM_4 = [0.25, 0.25, 0.25, 0.25];

/** A fraction num/den (den > 0) like Python's Fraction; precisions keep NLTK's unnormalised counts because its smoothing reads .numerator and .denominator. */
class Frac {
  constructor(
    readonly num: bigint,
    readonly den: bigint,
  ) {}
  static of(num: bigint, den: bigint): Frac {
    const g = gcd(num < 0n ? -num : num, den);
    return g > 1n ? new Frac(num / g, den / g) : new Frac(num, den);
  }
}
/** A precision as NLTK holds it at some stage: a Fraction, or a Python float once a smoothing step produced one. */
type Value = Frac | number;

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function bitLength(b: bigint): number {
  return b === 0n ? 0 : b.toString(2).length;
}

/** num/den rounded once to the nearest double, as Python's int / int (and so float(Fraction)) does. */
function ratioToNumber(num: bigint, den: bigint): number {
  const neg = num < 0n !== den < 0n;
  let n = num < 0n ? -num : num;
  let d = den < 0n ? -den : den;
  if (n === 0n) return 0;
  const exact = 1n << 53n;
  if (n <= exact && d <= exact) return (neg ? -1 : 1) * (Number(n) / Number(d));
  // Scale so the quotient has 55 or 56 bits, fold any remainder into a sticky low bit, and let Number() round once.
  const shift = 55 - (bitLength(n) - bitLength(d));
  if (shift >= 0) n <<= BigInt(shift);
  else d <<= BigInt(-shift);
  let q = n / d;
  if (n % d !== 0n) q |= 1n;
  const v = Number(q) * 2 ** -shift;
  return neg ? -v : v;
}

function toNumber(v: Value): number {
  return typeof v === "number" ? v : ratioToNumber(v.num, v.den);
}

function isZero(v: Value): boolean {
  return typeof v === "number" ? v === 0 : v.num === 0n;
}

/** a + b with Python's coercion: Fraction + Fraction stays exact, anything with a float is a float. */
function add(a: Value, b: Value): Value {
  if (a instanceof Frac && b instanceof Frac) return Frac.of(a.num * b.den + b.num * a.den, a.den * b.den);
  return toNumber(a) + toNumber(b);
}

function mul(a: Value, b: Value): Value {
  if (a instanceof Frac && b instanceof Frac) return Frac.of(a.num * b.num, a.den * b.den);
  return toNumber(a) * toNumber(b);
}

function div(a: Value, b: Value): Value {
  if (a instanceof Frac && b instanceof Frac) {
    const num = a.num * b.den;
    const den = a.den * b.num;
    return den < 0n ? Frac.of(-num, -den) : Frac.of(num, den);
  }
  return toNumber(a) / toNumber(b);
}

function int(n: number | bigint): Frac {
  return new Frac(BigInt(n), 1n);
}

/** Python's math.fsum: the correctly rounded sum of finite doubles (Shewchuk's partials, CPython's final rounding). */
function fsum(xs: readonly number[]): number {
  const p: number[] = [];
  for (let x of xs) {
    if (!Number.isFinite(x)) return xs.reduce((s, v) => s + v, 0);
    let i = 0;
    for (let j = 0; j < p.length; j++) {
      let y = p[j];
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) p[i++] = lo;
      x = hi;
    }
    p.length = i;
    if (x !== 0) p.push(x);
  }
  let n = p.length;
  if (n === 0) return 0;
  let hi = p[--n];
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = p[--n];
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && p[n - 1] < 0) || (lo > 0 && p[n - 1] > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/** Gives each distinct token a small integer so n-grams become collision-free string keys ("3,1,4"). */
class TokenIds {
  private readonly ids = new Map<string, number>();
  of(tokens: readonly string[]): number[] {
    return tokens.map((t) => {
      let id = this.ids.get(t);
      if (id === undefined) {
        id = this.ids.size;
        this.ids.set(t, id);
      }
      return id;
    });
  }
}

function ngramCounts(ids: readonly number[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= ids.length; i++) {
    const key = ids.slice(i, i + n).join(",");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** NLTK's modified_precision as an unnormalised fraction: clipped n-gram matches over max(1, hypothesis n-grams). */
function modifiedPrecisionIds(references: readonly number[][], hypothesis: readonly number[], n: number): Frac {
  const counts = ngramCounts(hypothesis, n);
  const maxCounts = new Map<string, number>();
  for (const reference of references) {
    const refCounts = ngramCounts(reference, n);
    for (const key of counts.keys()) maxCounts.set(key, Math.max(maxCounts.get(key) ?? 0, refCounts.get(key) ?? 0));
  }
  let numerator = 0;
  let total = 0;
  for (const [key, count] of counts) {
    numerator += Math.min(count, maxCounts.get(key) ?? 0);
    total += count;
  }
  return new Frac(BigInt(numerator), BigInt(Math.max(1, total)));
}

/**
 * NLTK's modified_precision: hypothesis n-gram counts clipped by their largest count in any one reference.
 * Returns the unnormalised numerator (clipped matches) and denominator (max(1, hypothesis n-grams)).
 */
export function modifiedPrecision(references: readonly (readonly string[])[], hypothesis: readonly string[], n: number): { numerator: number; denominator: number } {
  const ids = new TokenIds();
  const p = modifiedPrecisionIds(
    references.map((r) => ids.of(r)),
    ids.of(hypothesis),
    n,
  );
  return { numerator: Number(p.num), denominator: Number(p.den) };
}

/** NLTK's closest_ref_length: the reference length closest to hypLen; of two equally close, the shorter. */
export function closestRefLength(referenceLengths: readonly number[], hypLen: number): number {
  if (referenceLengths.length === 0) throw new BleuInputError("BLEU: a hypothesis has no references (each hypothesis needs at least one reference token list)");
  let best = referenceLengths[0];
  for (const len of referenceLengths) {
    const d = Math.abs(len - hypLen);
    const bd = Math.abs(best - hypLen);
    if (d < bd || (d === bd && len < best)) best = len;
  }
  return best;
}

/** NLTK's brevity_penalty: 1 when the hypothesis is longer than the reference, 0 when it is empty, else exp(1 - r/c). */
export function brevityPenalty(closestRefLen: number, hypLen: number): number {
  if (hypLen > closestRefLen) return 1;
  if (hypLen === 0) return 0;
  return Math.exp(1 - closestRefLen / hypLen);
}

function method0Warning(order: number): string {
  return (
    `\nThe hypothesis contains 0 counts of ${order}-gram overlaps.\n` +
    "Therefore the BLEU score evaluates to 0, independently of\n" +
    "how many N-gram overlaps of lower order it contains.\n" +
    "Consider using lower n-gram order or use SmoothingFunction()"
  );
}

/** method4's replacement for the zero precisions; p_n is still NLTK's raw Fractions here. */
function smoothMethod4(pn: Value[], hypLen: number): Value[] {
  let incvnt = 1;
  return pn.map((p) => {
    if (p instanceof Frac && p.num === 0n && hypLen > 1) {
      const numerator = 1 / ((2 ** incvnt * K) / Math.log(hypLen));
      incvnt++;
      return numerator / Number(p.den);
    }
    return p;
  });
}

/** method5: each precision becomes the mean of the previous smoothed one, itself and the next raw one; the last "next" is always the 5-gram precision. */
function smoothMethod5(pn: Value[], lastRefs: readonly number[][], lastHyp: readonly number[]): Value[] {
  const plus1: Value[] = [...pn, modifiedPrecisionIds(lastRefs, lastHyp, 5)];
  const out: Value[] = [];
  let prev = add(pn[0], int(1));
  for (let i = 0; i < pn.length; i++) {
    prev = div(add(add(prev, pn[i]), plus1[i + 1]), int(3));
    out.push(prev);
  }
  return out;
}

/** method6 (Gao and He 2013): orders 3+ interpolate their match count with the prior p_{n-1}^2 / p_{n-2}, over the last hypothesis' n-gram count. */
function smoothMethod6(pn: readonly Frac[], lastHyp: readonly number[]): Value[] {
  if (pn.length < 3) throw new BleuInputError(`BLEU smoothing method6 needs weights for at least 3 n-gram orders (got ${pn.length}); NLTK raises IndexError here`);
  if (isZero(pn[2])) throw new BleuInputError("BLEU smoothing method6 needs at least one trigram match; NLTK asserts this (its message says bigrams) — use another smoothing method");
  const out: Value[] = [...pn];
  for (let i = 2; i < out.length; i++) {
    const m = pn[i].num; // the raw match count, as NLTK reads p_i.numerator
    const l = BigInt(Math.max(0, lastHyp.length - i));
    if (isZero(out[i - 2])) {
      out[i] = Number(m) / Number(l + ALPHA); // Python: (int + 5 * 0) / int is a float
    } else {
      const prior = div(mul(out[i - 1], out[i - 1]), out[i - 2]);
      out[i] = div(add(int(m), mul(int(ALPHA), prior)), int(l + ALPHA));
    }
  }
  return out;
}

function smooth(method: BleuSmoothing, pn: Frac[], lastRefs: readonly number[][], lastHyp: readonly number[], hypLen: number, onWarning: (m: string) => void): Value[] {
  switch (method) {
    case "method0":
      return pn.map((p, i) => {
        if (p.num !== 0n) return p;
        onWarning(method0Warning(i + 1));
        return FLOAT_MIN;
      });
    case "method1":
      return pn.map((p) => (p.num === 0n ? (0 + EPSILON) / Number(p.den) : p));
    case "method2":
      return pn.map((p, i) => (i === 0 ? p : new Frac(p.num + 1n, p.den + 1n)));
    case "method3": {
      let incvnt = 1;
      return pn.map((p) => (p.num === 0n ? 1 / Number(2n ** BigInt(incvnt++) * p.den) : p));
    }
    case "method4":
      return smoothMethod4(pn, hypLen || lastHyp.length);
    case "method5":
      return smoothMethod5(pn, lastRefs, lastHyp);
    case "method6":
      return smoothMethod6(pn, lastHyp);
    case "method7":
      return smoothMethod5(smoothMethod4(pn, hypLen || lastHyp.length), lastRefs, lastHyp);
  }
}

/**
 * Corpus-level BLEU exactly as NLTK 3.8's corpus_bleu: clipped n-gram matches and hypothesis n-grams summed over the
 * corpus before dividing, one brevity penalty from the summed hypothesis and closest-reference lengths.
 *
 * NLTK's quirks are kept: the score is 0 when no unigram matches; method0 replaces a zero precision by the smallest
 * normal double (so the score is tiny, e.g. 1e-155, not exactly 0) and warns; smoothing methods 5 and 6 look at the
 * last hypothesis and its references only (NLTK passes its loop variables), and method5 always averages in the 5-gram
 * precision as the last "next" order; method6 throws without trigram matches or with fewer than 3 weights.
 *
 * @param listOfReferences for each hypothesis, its reference token lists (at least one each)
 * @param hypotheses tokenised hypotheses, see {@link tokenizeForBleu}
 * @returns BLEU in [0, 1]
 */
export function corpusBleu(listOfReferences: readonly (readonly (readonly string[])[])[], hypotheses: readonly (readonly string[])[], opts: BleuOptions = {}): number {
  if (listOfReferences.length !== hypotheses.length) {
    throw new BleuInputError(`BLEU: ${hypotheses.length} hypotheses but ${listOfReferences.length} reference lists; they must pair up one to one`);
  }
  const weights = opts.weights ?? UNIFORM_4;
  if (weights.length === 0) throw new BleuInputError("BLEU: weights must name at least one n-gram order");
  const maxN = weights.length;
  const ids = new TokenIds();
  const numerators = new Array<bigint>(maxN).fill(0n);
  const denominators = new Array<bigint>(maxN).fill(0n);
  let hypLengths = 0;
  let refLengths = 0;
  let lastRefs: number[][] = [];
  let lastHyp: number[] = [];
  for (let s = 0; s < hypotheses.length; s++) {
    lastRefs = listOfReferences[s].map((r) => ids.of(r));
    lastHyp = ids.of(hypotheses[s]);
    for (let n = 1; n <= maxN; n++) {
      const p = modifiedPrecisionIds(lastRefs, lastHyp, n);
      numerators[n - 1] += p.num;
      denominators[n - 1] += p.den;
    }
    hypLengths += lastHyp.length;
    refLengths += closestRefLength(
      lastRefs.map((r) => r.length),
      lastHyp.length,
    );
  }
  const bp = brevityPenalty(refLengths, hypLengths);
  if (numerators[0] === 0n) return 0;
  const pn = numerators.map((num, i) => new Frac(num, denominators[i]));
  const smoothed = smooth(opts.smoothing ?? "method0", pn, lastRefs, lastHyp, hypLengths, opts.onWarning ?? (() => {}));

  let w: readonly number[] = weights;
  if (opts.autoReweigh && hypLengths < 4 && weights.length === 4 && weights.every((x) => x === 0.25)) w = new Array<number>(hypLengths).fill(1 / hypLengths);
  const terms: number[] = [];
  for (let i = 0; i < Math.min(w.length, smoothed.length); i++) {
    const p = toNumber(smoothed[i]);
    if (p > 0) terms.push(w[i] * Math.log(p));
  }
  return bp * Math.exp(fsum(terms));
}

/** Sentence-level BLEU, NLTK's sentence_bleu: {@link corpusBleu} of a corpus of one hypothesis. */
export function sentenceBleu(references: readonly (readonly string[])[], hypothesis: readonly string[], opts: BleuOptions = {}): number {
  return corpusBleu([references], [hypothesis], opts);
}

/**
 * A plain tokenizer for BLEU input (not sacrebleu's 13a): splits on whitespace and makes every Unicode punctuation or
 * symbol character (\p{P}, \p{S}) a token of its own, so "Don't stop, Bob!" gives Don ' t stop , Bob !.
 * Optionally lowercases first. BLEU scores are only comparable between runs that tokenise the same way.
 */
export function tokenizeForBleu(text: string, opts: { lowercase?: boolean } = {}): string[] {
  const t = opts.lowercase ? text.toLowerCase() : text;
  return t.match(/[\p{P}\p{S}]|[^\s\p{P}\p{S}]+/gu) ?? [];
}

/** Precision, recall and their harmonic mean, as rouge-score's Score tuple. */
export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

/** ROUGE-1, ROUGE-2 and ROUGE-L of one prediction against one reference. */
export interface RougeScores {
  rouge1: RougeScore;
  rouge2: RougeScore;
  rougeL: RougeScore;
}

/** rouge-score's default tokenizer (no stemmer): lowercase, every run of characters outside [a-z0-9] becomes a space, split, drop empties. */
export function rougeTokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .split(/\s+/)
    .filter((t) => /^[a-z0-9]+$/.test(t));
}

/** rouge-score's scoring.fmeasure: 2PR/(P+R), 0 when both are 0. */
function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** ROUGE-N as rouge-score's _score_ngrams: overlap = sum over reference n-grams of min(counts); P = overlap / max(1, prediction n-grams), R = overlap / max(1, reference n-grams). */
export function rougeN(referenceTokens: readonly string[], predictionTokens: readonly string[], n: number): RougeScore {
  const ids = new TokenIds();
  const ref = ngramCounts(ids.of(referenceTokens), n);
  const pred = ngramCounts(ids.of(predictionTokens), n);
  let overlap = 0;
  for (const [key, count] of ref) overlap += Math.min(count, pred.get(key) ?? 0);
  const refTotal = Math.max(0, referenceTokens.length - n + 1);
  const predTotal = Math.max(0, predictionTokens.length - n + 1);
  const precision = overlap / Math.max(predTotal, 1);
  const recall = overlap / Math.max(refTotal, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** Length of the longest common subsequence of two token lists (two-row dynamic programme). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** ROUGE-L as rouge-score's _score_lcs: P = LCS / prediction tokens, R = LCS / reference tokens; all 0 when either side is empty. */
export function rougeL(referenceTokens: readonly string[], predictionTokens: readonly string[]): RougeScore {
  if (referenceTokens.length === 0 || predictionTokens.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsLength(referenceTokens, predictionTokens);
  const precision = lcs / predictionTokens.length;
  const recall = lcs / referenceTokens.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/**
 * ROUGE-1, ROUGE-2 and ROUGE-L as rouge-score's RougeScorer(["rouge1", "rouge2", "rougeL"]).score(reference, prediction)
 * with its default tokenizer and no stemming. The reference is rouge-score's "target".
 */
export function rouge(reference: string, prediction: string): RougeScores {
  const ref = rougeTokenize(reference);
  const pred = rougeTokenize(prediction);
  return { rouge1: rougeN(ref, pred, 1), rouge2: rougeN(ref, pred, 2), rougeL: rougeL(ref, pred) };
}

/** Reference indices of one longest common subsequence, backtracked as rouge-score's _backtrack_norec picks it. */
function lcsReferenceIndices(ref: readonly string[], can: readonly string[]): number[] {
  const t: number[][] = [new Array<number>(can.length + 1).fill(0)];
  for (let i = 1; i <= ref.length; i++) {
    const row = new Array<number>(can.length + 1).fill(0);
    for (let j = 1; j <= can.length; j++) row[j] = ref[i - 1] === can[j - 1] ? t[i - 1][j - 1] + 1 : Math.max(t[i - 1][j], row[j - 1]);
    t.push(row);
  }
  const out: number[] = [];
  for (let i = ref.length, j = can.length; i > 0 && j > 0; ) {
    if (ref[i - 1] === can[j - 1]) {
      out.push(i - 1);
      i--;
      j--;
    } else if (t[i][j - 1] > t[i - 1][j]) j--;
    else i--;
  }
  return out.reverse();
}

/**
 * ROUGE-Lsum as rouge-score's summary-level LCS: both texts split into sentences on "\n" (empty lines dropped), each
 * reference sentence scores the union of its LCS with every predicted sentence, and a hit consumes one occurrence of
 * its token on both sides. P = hits / prediction tokens, R = hits / reference tokens.
 */
export function rougeLsum(reference: string, prediction: string): RougeScore {
  const sentences = (text: string) => text.split("\n").filter((s) => s.length > 0).map(rougeTokenize);
  const refSents = sentences(reference);
  const canSents = sentences(prediction);
  const m = refSents.reduce((s, x) => s + x.length, 0);
  const n = canSents.reduce((s, x) => s + x.length, 0);
  if (m === 0 || n === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const counts = (sents: string[][]) => {
    const c = new Map<string, number>();
    for (const s of sents) for (const tok of s) c.set(tok, (c.get(tok) ?? 0) + 1);
    return c;
  };
  const refCounts = counts(refSents);
  const canCounts = counts(canSents);
  let hits = 0;
  for (const r of refSents) {
    const union = new Set<number>();
    for (const c of canSents) for (const i of lcsReferenceIndices(r, c)) union.add(i);
    for (const i of [...union].sort((a, b) => a - b)) {
      const tok = r[i];
      if ((canCounts.get(tok) ?? 0) > 0 && (refCounts.get(tok) ?? 0) > 0) {
        hits++;
        canCounts.set(tok, (canCounts.get(tok) ?? 0) - 1);
        refCounts.set(tok, (refCounts.get(tok) ?? 0) - 1);
      }
    }
  }
  const precision = hits / n;
  const recall = hits / m;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}
