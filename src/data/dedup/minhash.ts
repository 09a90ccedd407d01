// MinHash signatures over word n-gram shingles and LSH band keys: the pure, per-document half of
// near-duplicate detection. With b bands of r rows, two documents of Jaccard similarity s share at
// least one band with probability 1 - (1 - s^r)^b (the S-curve; threshold ≈ (1/b)^(1/r)). The signature's inner
// loop has a native twin (native/text.cc minhashSignature); the TypeScript here is its definition.
import { textAddon } from "../nativeText.js";

/** MinHash parameters (plain data so they travel to worker threads). */
export interface MinHashParams {
  /** Words per shingle (5 = word 5-grams). */
  ngram: number;
  bands: number;
  rows: number;
  seed: number;
}

/** Number of hash functions = bands × rows. */
export const numPerm = (p: MinHashParams) => p.bands * p.rows;

/** The similarity at which the LSH S-curve is steepest: (1/b)^(1/r). */
export function lshThreshold(bands: number, rows: number): number {
  return (1 / bands) ** (1 / rows);
}

/** Probability that a pair of Jaccard similarity s becomes a candidate: 1 - (1 - s^r)^b. */
export function lshCandidateProbability(s: number, bands: number, rows: number): number {
  return 1 - (1 - s ** rows) ** bands;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashRange(s: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** True for ASCII letters/digits and any non-ASCII letter-like code unit (cheap word-character test). */
function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c > 127 && c !== 0x2019 && c !== 0x201c && c !== 0x201d && c !== 0x2014 && c !== 0x2013);
}

/** Hashes of the lower-cased words of a text (punctuation and case ignored). */
export function wordHashes(text: string): Uint32Array {
  const t = text.toLowerCase();
  const out: number[] = [];
  let start = -1;
  for (let i = 0; i <= t.length; i++) {
    const w = i < t.length && isWordChar(t.charCodeAt(i));
    if (w && start < 0) start = i;
    else if (!w && start >= 0) {
      out.push(hashRange(t, start, i));
      start = -1;
    }
  }
  return Uint32Array.from(out);
}

/** Hashes of the word n-gram shingles (a text shorter than n words is one shingle). */
export function shingleHashes(text: string, ngram: number): Uint32Array {
  return shinglesOfWords(wordHashes(text), ngram);
}

/** Hashes of the n-grams of a word-hash sequence (fewer than n words: one shingle of them all; none: none). */
function shinglesOfWords(w: Uint32Array, ngram: number): Uint32Array {
  if (w.length === 0) return new Uint32Array(0);
  const n = Math.min(ngram, w.length);
  const out = new Uint32Array(w.length - n + 1);
  for (let i = 0; i < out.length; i++) {
    let h = 0x9747b28c;
    for (let k = 0; k < n; k++) h = Math.imul(h ^ w[i + k], 0x5bd1e995) ^ (h >>> 15);
    out[i] = fmix32(h);
  }
  return out;
}

/** Per-permutation seeds derived from the seed. */
function permSeeds(p: MinHashParams): { xa: Uint32Array; ma: Uint32Array } {
  const k = numPerm(p);
  const xa = new Uint32Array(k);
  const ma = new Uint32Array(k);
  let s = p.seed >>> 0;
  for (let i = 0; i < k; i++) {
    s = fmix32(s + 0x9e3779b9 + i);
    xa[i] = s;
    s = fmix32(s ^ 0x5bd1e995);
    ma[i] = s | 1;
  }
  return { xa, ma };
}

const seedCache = new Map<string, { xa: Uint32Array; ma: Uint32Array }>();

/** The per-permutation seeds of `p` (cached; entry i does not depend on the count, so 14×8 is a prefix of 16×8). */
export function minhashSeeds(p: MinHashParams): { xa: Uint32Array; ma: Uint32Array } {
  const key = `${numPerm(p)}:${p.seed}`;
  let seeds = seedCache.get(key);
  if (!seeds) {
    seeds = permSeeds(p);
    seedCache.set(key, seeds);
  }
  return seeds;
}

/** The two 32-bit halves of the exact key of a word-hash sequence (before {@link exactKeyOf} joins them). */
function wordSequenceKey(w: Uint32Array, out: Uint32Array): void {
  let h1 = 0x2545f491 ^ w.length;
  let h2 = 0x27d4eb2f;
  for (let i = 0; i < w.length; i++) {
    h1 = Math.imul(h1 ^ w[i], 0x01000193);
    h2 = Math.imul(h2 ^ fmix32(w[i]), 0x5bd1e995) ^ (h2 >>> 13);
  }
  out[0] = fmix32(h1);
  out[1] = fmix32(h2);
}

/** A 52-bit number from the two halves of an exact key. */
export const exactKeyOf = (k: Uint32Array): number => (k[0] >>> 6) * 67108864 + (k[1] >>> 6);

/** The signature's shingle pass over words `w` (already hashed). */
function signWords(w: Uint32Array, p: MinHashParams, sig: Uint32Array): void {
  const { xa, ma } = minhashSeeds(p);
  const k = xa.length;
  sig.fill(0xffffffff, 0, k);
  const sh = shinglesOfWords(w, p.ngram);
  for (let j = 0; j < sh.length; j++) {
    const x = sh[j];
    for (let i = 0; i < k; i++) {
      // an independent-enough hash per permutation: xor a seed, multiply by an odd constant, mix the high bits down
      let v = Math.imul(x ^ xa[i], ma[i]);
      v ^= v >>> 15;
      v = Math.imul(v, 0x2c1b3c6d) >>> 0;
      if (v < sig[i]) sig[i] = v;
    }
  }
}

/**
 * The MinHash signature of a text, in TypeScript: the definition that native/text.cc minhashSignature follows.
 * For each of bands×rows hash functions, the minimum over the text's shingles ({@link shingleHashes}). Empty text
 * → all 0xffffffff. With `key` (2 entries), also the halves of the text's exact key ({@link exactKey}).
 */
export function minhashSignatureTs(text: string, p: MinHashParams, out?: Uint32Array, key?: Uint32Array): Uint32Array {
  const sig = out ?? new Uint32Array(numPerm(p));
  const w = wordHashes(text);
  signWords(w, p, sig);
  if (key) wordSequenceKey(w, key);
  return sig;
}

const nativeMinhash = typeof textAddon?.minhashSignature === "function" ? textAddon : null;

/** Whether {@link minhashSignature} runs the native kernel (false: the TypeScript twin). */
export const minhashIsNative = nativeMinhash !== null;

/**
 * The MinHash signature of a text (into `out` when given, its first bands×rows entries; with `key`, the halves of
 * its exact key too): the native kernel when the text addon is built, else {@link minhashSignatureTs}; both give
 * the same bits (test/data/minhash.test.ts).
 */
export function minhashSignature(text: string, p: MinHashParams, out?: Uint32Array, key?: Uint32Array): Uint32Array {
  if (!nativeMinhash) return minhashSignatureTs(text, p, out, key);
  const { xa, ma } = minhashSeeds(p);
  const sig = out ?? new Uint32Array(xa.length);
  // the kernel lower-cases ASCII only; text with other units is lower-cased here, the Unicode way
  if (!nativeMinhash.minhashSignature(text, false, p.ngram, xa, ma, sig, key)) nativeMinhash.minhashSignature(text.toLowerCase(), true, p.ngram, xa, ma, sig, key);
  return sig;
}

/** Fraction of equal signature entries: an unbiased estimate of Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  let eq = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++;
  return eq / a.length;
}

/** Exact Jaccard similarity of two texts' shingle sets (for tests and verification). */
export function exactJaccard(a: string, b: string, ngram: number): number {
  const A = new Set(shingleHashes(a, ngram));
  const B = new Set(shingleHashes(b, ngram));
  let inter = 0;
  for (const x of A) if (B.has(x)) inter++;
  const union = A.size + B.size - inter;
  return union === 0 ? 1 : inter / union;
}

/** A 52-bit key of band `b` of a signature (two independent 32-bit hashes of its rows). */
export function bandKey(sig: Uint32Array, b: number, rows: number): number {
  let h1 = 0x3c6ef372 ^ b;
  let h2 = 0xa54ff53a ^ Math.imul(b, 0x9e3779b9);
  const off = b * rows;
  for (let r = 0; r < rows; r++) {
    const x = sig[off + r];
    h1 = Math.imul(h1 ^ x, 0x01000193);
    h2 = Math.imul(h2 ^ fmix32(x), 0x5bd1e995) ^ (h2 >>> 13);
  }
  return (fmix32(h1) >>> 6) * 67108864 + (fmix32(h2) >>> 6);
}

/**
 * A 52-bit key of the text as exact dedup compares it: its sequence of words ({@link wordHashes}: lower case,
 * punctuation and whitespace dropped). Computed with the signature in one pass by {@link minhashSignature}.
 */
export function exactKey(text: string): number {
  const k = new Uint32Array(2);
  wordSequenceKey(wordHashes(text), k);
  return exactKeyOf(k);
}
